/* SPDX-License-Identifier: MIT */
/* TLS for deployments, part of the contract suite on every backend (TLS over TCP): a client
 * configuration's session cache resumes reconnects (TLS 1.3 and 1.2) and a session exported as
 * bytes resumes from another configuration; a listener's configuration replaced while a
 * connection runs gives new handshakes the new certificate and leaves the running one its own,
 * its stream intact; a ticket key set by the application carries sessions across that reload;
 * and loops in two threads sharing one client and one server configuration (SO_REUSEPORT, the
 * shape of tlsio-https --threads) resume each other's sessions without harm to any stream.
 *
 * Every stream is a seeded pattern echoed back whole and checked by SHA-256; each connection's
 * resumption is checked on both ends (tlsio_conn_resumed), so a cache that silently never
 * resumes, or a server that claims to, fails. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tlsio.h"

void contract_deploy_cases(Suite *s, const char *backend, int transport);

static const char *g_be;

#define LOG_CASE(v) tu_log("[%s/tls] --- %s (%s)", g_be, __func__, v)
#define PAYLOAD (48 * 1024) /* within the kernel's buffers: the blocking backend writes with no one reading yet */
#define MAX_SRV 24

struct dconn {
	tlsio_conn *c;
	int is_server, handshakes, closed, status, alert, resumed;
	int rounds;         /* clients: payloads to send, one after the other's echo */
	int hold;           /* clients: stay open after the last round until told */
	uint64_t rx;
	tu_sha256 sha;
	uint8_t digest[32];
	char subject[256];
	struct dworld *w;
};

struct dworld {
	tlsio_loop *loop;
	tlsio_listener *l;
	char addr[128];
	struct dconn srv[MAX_SRV];
	int nsrv;
	const uint8_t *payload;
};

static uint8_t g_payload[PAYLOAD];
static uint8_t g_want[32]; /* SHA-256 of one payload */

static void d_send(struct dconn *d)
{
	int rc = tlsio_send(d->c, d->w->payload, PAYLOAD);
	TU_CHECK(rc == 0, "[%s] client send: %s", g_be, tlsio_strerror(rc));
}

static void d_handshake(tlsio_conn *c, void *user)
{
	struct dconn *d = user;
	tlsio_cert_info *ci = NULL;
	d->handshakes++;
	d->resumed = tlsio_conn_resumed(c);
	if (!d->is_server) {
		TU_CHECK(tlsio_conn_peer_cert_info(c, &ci) == 0, "[%s] client: no server certificate", g_be);
		snprintf(d->subject, sizeof(d->subject), "%s", ci != NULL ? ci->subject : "");
		tlsio_cert_info_free(ci);
		d_send(d);
	}
}

static void d_data(tlsio_conn *c, const uint8_t *data, size_t n, void *user)
{
	struct dconn *d = user;
	TU_CHECK(d->handshakes == 1, "[%s] data before the handshake", g_be);
	d->rx += n;
	if (d->is_server) {
		int rc = tlsio_send(c, data, n);
		TU_CHECK(rc == 0, "[%s] server echo: %s", g_be, tlsio_strerror(rc));
		return;
	}
	tu_sha256_update(&d->sha, data, n);
	if (d->rx % PAYLOAD != 0)
		return;
	tu_sha256_final(&d->sha, d->digest);
	TU_CHECK(memcmp(d->digest, g_want, 32) == 0, "[%s] round %d: the echo differs (SHA-256)",
	         g_be, (int)(d->rx / PAYLOAD));
	tu_sha256_init(&d->sha);
	if (d->rx / PAYLOAD < (uint64_t)d->rounds)
		d_send(d);
	else if (!d->hold)
		tlsio_close(c);
}

static void d_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct dconn *d = user;
	(void)c;
	d->closed = 1;
	d->status = status;
	d->alert = alert;
	d->c = NULL;
}

static const tlsio_callbacks d_cb = {.struct_size = sizeof(tlsio_callbacks),
                                     .on_handshake = d_handshake, .on_data = d_data,
                                     .on_close = d_close};

static void d_init(struct dconn *d, struct dworld *w, int is_server)
{
	memset(d, 0, sizeof(*d));
	d->is_server = is_server;
	d->w = w;
	d->rounds = 1;
	tu_sha256_init(&d->sha);
}

static void d_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct dworld *w = user;
	struct dconn *d;
	(void)l;
	if (w->nsrv >= MAX_SRV) {
		TU_FAIL("[%s] more than %d server connections", g_be, MAX_SRV);
		tlsio_abort(c);
		return;
	}
	d = &w->srv[w->nsrv++];
	d_init(d, w, 1);
	d->c = c;
	tlsio_conn_set_user(c, d);
	TU_CHECK(tlsio_conn_set_callbacks(c, &d_cb) == 0, "[%s] set_callbacks", g_be);
}

static tlsio_tls_config *server_config(const char *cert, int max_version)
{
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	const char *why = NULL;
	o.cert_file = tu_cert(cert);
	o.key_file = tu_cert("server.key");
	o.max_version = max_version;
	ck_assert_msg(tlsio_tls_config_new(&cfg, 1, &o, &why) == 0, "%s", why);
	return cfg;
}

static tlsio_tls_config *client_config(int max_version)
{
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	const char *why = NULL;
	o.ca_file = tu_cert("ca.pem");
	o.max_version = max_version;
	ck_assert_msg(tlsio_tls_config_new(&cfg, 0, &o, &why) == 0, "%s", why);
	return cfg;
}

static void world_new(struct dworld *w, tlsio_tls_config *scfg, const tlsio_listen_opts *lo,
                      const char *addr)
{
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	int rc;
	memset(w, 0, sizeof(*w));
	w->payload = g_payload;
	ck_assert_int_eq(tlsio_loop_new(&w->loop, tlsio_backend_by_name(g_be)), 0);
	rc = tlsio_listen_ex(w->loop, addr, lo, scfg, &o, d_accept, w, &w->l);
	ck_assert_msg(rc == 0, "tlsio_listen(%s): %s", addr, tlsio_strerror(rc));
	ck_assert_int_eq(tlsio_listener_addr(w->l, w->addr, sizeof(w->addr)), 0);
}

static void payload_init(void)
{
	tu_pattern(0xDE9107, 0, g_payload, PAYLOAD);
	tu_sha256_digest(g_payload, PAYLOAD, g_want);
}

/* Connect @p d (initialised) to the world's listener with @p ccfg. */
static void d_connect(struct dworld *w, struct dconn *d, tlsio_tls_config *ccfg)
{
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	int rc;
	o.cb = &d_cb;
	o.user = d;
	rc = tlsio_connect(w->loop, w->addr, ccfg, &o, &d->c);
	ck_assert_msg(rc == 0, "tlsio_connect(%s): %s", w->addr, tlsio_strerror(rc));
}

static int d_closed(void *arg) { return ((struct dconn *)arg)->closed; }
static int d_rounds_done(void *arg)
{
	struct dconn *d = arg;
	return d->closed || d->rx >= (uint64_t)d->rounds * PAYLOAD;
}

/* Run until @p d closed; it must have ended cleanly with every round echoed. */
static void d_run(struct dworld *w, struct dconn *d, const char *what)
{
	ck_assert_msg(tu_loop_run_until(w->loop, d_closed, d, 20000), "%s: the client did not end in 20 s", what);
	ck_assert_msg(tu_failed() == 0, "%s: %s", what, tu_failure());
	ck_assert_msg(d->status == 0, "%s: the client ended with %s (alert %d)", what,
	              tlsio_strerror(d->status), d->alert);
	ck_assert_msg(d->rx == (uint64_t)d->rounds * PAYLOAD, "%s: %llu bytes came back, not %llu", what,
	              (unsigned long long)d->rx, (unsigned long long)d->rounds * PAYLOAD);
}

static const char *version_name(int v) { return v == TLSIO_TLS_1_2 ? "TLS 1.2" : "TLS 1.3"; }

/* ---------------------------------------------------------------------------------------- */

/* Reconnects with one client configuration resume, on both ends; a session exported as bytes
 * resumes in a configuration that never saw it. _i: 0 TLS 1.3, 1 TLS 1.2. */
START_TEST(test_session_resumes_reconnect)
{
	int v = _i == 0 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
	tlsio_tls_config *scfg = server_config("server.pem", v), *ccfg = client_config(v), *ccfg2;
	struct dworld w;
	struct dconn cli[4];
	char key[160];
	uint8_t *sess = NULL;
	size_t sess_len = 0;
	int rc, i;
	LOG_CASE(version_name(v));
	payload_init();
	world_new(&w, scfg, NULL, "127.0.0.1:0");
	for (i = 0; i < 3; i++) {
		char what[64];
		snprintf(what, sizeof(what), "%s connection %d", version_name(v), i + 1);
		d_init(&cli[i], &w, 0);
		d_connect(&w, &cli[i], ccfg);
		d_run(&w, &cli[i], what);
		ck_assert_int_eq(w.nsrv, i + 1);
		ck_assert_msg(cli[i].resumed == (i > 0), "%s: client resumed %d", what, cli[i].resumed);
		ck_assert_msg(w.srv[i].resumed == cli[i].resumed, "%s: the server says resumed %d, the client %d",
		              what, w.srv[i].resumed, cli[i].resumed);
		/* a resumed client still knows whose session it is */
		ck_assert_msg(strstr(cli[i].subject, "CN=localhost") != NULL, "%s: server certificate '%s'",
		              what, cli[i].subject);
	}
	/* the session as bytes, into a configuration of its own */
	snprintf(key, sizeof(key), "%s", w.addr);
	rc = tlsio_tls_session_export(ccfg, key, &sess, &sess_len);
	ck_assert_msg(rc == 0, "session_export(%s): %s", key, tlsio_strerror(rc));
	ck_assert_uint_gt(sess_len, 0);
	ccfg2 = client_config(v);
	rc = tlsio_tls_session_import(ccfg2, key, sess, sess_len);
	ck_assert_msg(rc == 0, "session_import(%s): %s", key, tlsio_strerror(rc));
	/* bytes that are no session are refused, bounded by their length */
	sess[sess_len / 2] ^= 0x5A;
	ck_assert_int_eq(tlsio_tls_session_import(ccfg2, "other:1", sess, sess_len / 2), -EINVAL);
	free(sess);
	d_init(&cli[3], &w, 0);
	d_connect(&w, &cli[3], ccfg2);
	d_run(&w, &cli[3], "imported session");
	ck_assert_msg(cli[3].resumed && w.srv[3].resumed, "imported session: resumed client %d server %d",
	              cli[3].resumed, w.srv[3].resumed);
	tu_log("[%s] %s: full, resumed, resumed; imported session resumed", g_be, version_name(v));
	tlsio_loop_free(w.loop);
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
	tlsio_tls_config_free(ccfg2);
}
END_TEST

/* tlsio_listener_set_config while a connection runs: new handshakes get the renewed
 * certificate, the running connection goes on with its own; with the application's ticket key
 * on both configurations, a session from before the reload resumes after it. _i: 0 TLS 1.3, 1
 * TLS 1.2. */
START_TEST(test_listener_reload)
{
	int v = _i == 0 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
	static const uint8_t tk[TLSIO_TICKET_KEY_LEN] = "contract-deploy-ticket-key-0123456789abcdefghijk";
	tlsio_tls_config *old = server_config("server.pem", v), *renewed = server_config("renewed.pem", v);
	tlsio_tls_config *ccfg = client_config(v), *fresh = client_config(v);
	struct dworld w;
	struct dconn run, after, back;
	LOG_CASE(version_name(v));
	payload_init();
	ck_assert_int_eq(tlsio_tls_ticket_key(old, tk, sizeof(tk), 0), 0);
	ck_assert_int_eq(tlsio_tls_ticket_key(renewed, tk, sizeof(tk), 0), 0);
	world_new(&w, old, NULL, "127.0.0.1:0");
	tlsio_tls_config_free(old); /* the listener holds it */

	/* a connection that runs across the reload: one round before, one after */
	d_init(&run, &w, 0);
	run.rounds = 1;
	run.hold = 1;
	d_connect(&w, &run, ccfg);
	ck_assert_msg(tu_loop_run_until(w.loop, d_rounds_done, &run, 20000), "the first round did not come back");
	ck_assert_msg(!run.closed && tu_failed() == 0, "before the reload: %s (status %s)", tu_failure(),
	              tlsio_strerror(run.status));
	ck_assert_msg(strcmp(run.subject, "CN=localhost") == 0, "before the reload: '%s'", run.subject);

	ck_assert_int_eq(tlsio_listener_set_config(w.l, renewed), 0);
	tlsio_tls_config_free(renewed);
	ck_assert_int_eq(tlsio_listener_set_config(w.l, ccfg), TLSIO_E_TLS_CONFIG);
	ck_assert_int_eq(tlsio_listener_set_config(w.l, NULL), TLSIO_E_TLS_CONFIG);

	/* a new client (no session) sees the renewed certificate */
	d_init(&after, &w, 0);
	d_connect(&w, &after, fresh);
	d_run(&w, &after, "new connection after the reload");
	ck_assert_msg(strcmp(after.subject, "CN=localhost renewed") == 0, "after the reload: '%s'",
	              after.subject);
	ck_assert_msg(!after.resumed, "a client without a session resumed");

	/* the running connection still works, on the old configuration */
	run.rounds = 2;
	run.hold = 0;
	d_send(&run);
	d_run(&w, &run, "the connection running across the reload");
	ck_assert_msg(!w.srv[0].closed || w.srv[0].status == 0, "its server end: %s",
	              tlsio_strerror(w.srv[0].status));

	/* the session from before the reload resumes on the new configuration (same ticket key) */
	d_init(&back, &w, 0);
	d_connect(&w, &back, ccfg);
	d_run(&w, &back, "resumption across the reload");
	ck_assert_msg(back.resumed && w.srv[2].resumed, "across the reload: resumed client %d server %d",
	              back.resumed, w.srv[2].resumed);
	tu_log("[%s] %s: running connection kept CN=localhost, new ones got '%s', the old session resumed",
	       g_be, version_name(v), after.subject);
	tlsio_loop_free(w.loop);
	tlsio_tls_config_free(ccfg);
	tlsio_tls_config_free(fresh);
}
END_TEST

/* Two threads, each a loop with its own SO_REUSEPORT listener on one port and its own client,
 * all sharing one client and one server configuration: the kernel spreads the connections
 * over the two listeners, the cache is used from both threads at once, and sessions one
 * thread's server issued resume on the other's (one configuration: one ticket key). */
#define T_CONNS 10
struct tworld {
	struct dworld w;
	tlsio_tls_config *ccfg;
	struct dconn cli[T_CONNS];
	int resumed, full;
	atomic_int *done;
};

static int t_all_done(void *arg) { return atomic_load(((struct tworld *)arg)->done) == 2 || tu_aborted(); }

static void t_thread(void *arg)
{
	struct tworld *t = arg;
	int i;
	tu_loop_register(t->w.loop);
	for (i = 0; i < T_CONNS && !tu_aborted(); i++) {
		tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
		struct dconn *d = &t->cli[i];
		int rc;
		d_init(d, &t->w, 0);
		o.cb = &d_cb;
		o.user = d;
		rc = tlsio_connect(t->w.loop, t->w.addr, t->ccfg, &o, &d->c);
		if (rc != 0) {
			TU_FAIL("[%s] tlsio_connect: %s", g_be, tlsio_strerror(rc));
			break;
		}
		if (!tu_loop_run_until(t->w.loop, d_closed, d, 20000)) {
			TU_FAIL("[%s] thread connection %d did not end", g_be, i);
			break;
		}
		TU_CHECK(d->status == 0 && d->rx == PAYLOAD, "[%s] thread connection %d: %s, %llu bytes",
		         g_be, i, tlsio_strerror(d->status), (unsigned long long)d->rx);
		if (d->resumed)
			t->resumed++;
		else
			t->full++;
	}
	atomic_fetch_add(t->done, 1);
	/* serve the other thread's connections until it is done too */
	(void)tu_loop_run_until(t->w.loop, t_all_done, t, 30000);
	tu_loop_unregister(t->w.loop);
}

START_TEST(test_session_cache_threads)
{
	tlsio_tls_config *scfg = server_config("server.pem", 0), *ccfg = client_config(0);
	tlsio_listen_opts lo = TLSIO_LISTEN_OPTS_INIT;
	struct tworld *t = calloc(2, sizeof(*t));
	atomic_int done = 0;
	tu_thread_fn fns[2] = {t_thread, t_thread};
	void *args[2] = {&t[0], &t[1]};
	int i, srv_resumed = 0, nsrv = 0;
	LOG_CASE("TLS 1.3");
	ck_assert_ptr_nonnull(t);
	payload_init();
	lo.flags = TLSIO_LISTEN_REUSEPORT;
	world_new(&t[0].w, scfg, &lo, "127.0.0.1:0");
	world_new(&t[1].w, scfg, &lo, t[0].w.addr);
	for (i = 0; i < 2; i++) {
		t[i].ccfg = ccfg;
		t[i].done = &done;
	}
	ck_assert_int_eq(tu_run_threads(2, fns, args, 60000, NULL, NULL), 0);
	ck_assert_msg(tu_failed() == 0, "%s", tu_failure());
	for (i = 0; i < 2; i++) {
		int j;
		nsrv += t[i].w.nsrv;
		for (j = 0; j < t[i].w.nsrv; j++)
			srv_resumed += t[i].w.srv[j].resumed;
	}
	tu_log("[%s] two threads, %d connections: %d + %d resumed, %d + %d full; the servers accepted %d + %d",
	       g_be, 2 * T_CONNS, t[0].resumed, t[1].resumed, t[0].full, t[1].full, t[0].w.nsrv,
	       t[1].w.nsrv);
	ck_assert_int_eq(nsrv, 2 * T_CONNS);
	ck_assert_int_eq(srv_resumed, t[0].resumed + t[1].resumed);
	/* each thread's first connection may find the cache empty; a used-once TLS 1.3 ticket may
	 * be taken by the other thread first, but each handshake brings new ones */
	ck_assert_msg(t[0].resumed + t[1].resumed >= 2 * T_CONNS - 4,
	              "only %d of %d connections resumed", t[0].resumed + t[1].resumed, 2 * T_CONNS);
	for (i = 0; i < 2; i++)
		tlsio_loop_free(t[i].w.loop);
	free(t);
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static void add(Suite *s, const char *name, const TTest *t, int loops)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 90);
	tcase_add_loop_test(tc, t, 0, loops > 0 ? loops : 1);
	suite_add_tcase(s, tc);
}

void contract_deploy_cases(Suite *s, const char *backend, int transport)
{
	g_be = backend;
	if (transport != TU_TCP_TLS)
		return; /* sessions and certificates: TLS; the transport itself is the other suites' */
	add(s, "test_session_resumes_reconnect", test_session_resumes_reconnect, 2);
	add(s, "test_listener_reload", test_listener_reload, 2);
	add(s, "test_session_cache_threads", test_session_cache_threads, 1);
}
