/* SPDX-License-Identifier: MIT */
/* Connections as applications make them, part of the contract suite on every backend: host
 * names (resolved through /etc/hosts) with Happy Eyeballs, the connect timeout, a cancelled
 * resolution, IPv6 zones, Unix sockets (files and the abstract namespace, permissions, stale
 * files), STARTTLS both ways with the stream's order kept across the switch, and listeners on
 * inherited sockets (fd:N, systemd's LISTEN_FDS).
 *
 * Each case runs one loop that holds the listener and the client (the blocking backend too:
 * the transfers are small enough for the kernel's buffers). The names come from a hosts file
 * of the test's own, bind-mounted over /etc/hosts in a private mount namespace set up before
 * the suites run (contract_connect_init): "localhost" there has ::1 and 127.0.0.1, as on most
 * machines, while the machine's own /etc/hosts may have 127.0.0.1 only. Without the
 * privilege for that, the name cases print why they are skipped and the others run. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testutil.h"
#include "tlsio.h"

void contract_connect_cases(Suite *s, const char *backend, int transport);
int contract_connect_init(void);

static const char *g_be;
static int g_transport;
static int g_hosts_ok;
static char g_hosts_why[256] = "not set up";

#define LOG_CASE() tu_log("[%s/%s] --- %s", g_be, tu_transport_name(g_transport), __func__)

/* ---------------------------------------------------------------------------------------- */
/* /etc/hosts of the test's own */

/* "localhost" must give ::1 first, then 127.0.0.1 (getaddrinfo's RFC 6724 order), as in the
 * hosts file; anything else and the Happy Eyeballs cases could not say what they test. */
static int hosts_check(void)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo("localhost", "1", &hints, &res), ok;
	if (rc != 0) {
		snprintf(g_hosts_why, sizeof(g_hosts_why), "getaddrinfo(localhost): %s", gai_strerror(rc));
		return 0;
	}
	ok = res->ai_family == AF_INET6 && res->ai_next != NULL && res->ai_next->ai_family == AF_INET;
	if (!ok)
		snprintf(g_hosts_why, sizeof(g_hosts_why),
		         "\"localhost\" does not resolve to ::1 and then 127.0.0.1 here");
	freeaddrinfo(res);
	return ok;
}

int contract_connect_init(void)
{
	char path[] = "/tmp/tlsio-hosts.XXXXXX";
	static const char hosts[] =
		"# libtlsio's contract suite (tests/contract-connect.c)\n"
		"::1 localhost ip6-localhost\n"
		"127.0.0.1 localhost\n"
		"127.0.0.1 v4only.tlsio.test\n"
		"::1 v6only.tlsio.test\n";
	int fd;
	if (!tu_ipv6_loopback()) {
		snprintf(g_hosts_why, sizeof(g_hosts_why), "no IPv6 loopback (::1) on this machine");
		return 0;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		snprintf(g_hosts_why, sizeof(g_hosts_why),
		         "cannot make a private mount namespace for a test /etc/hosts: unshare: %s "
		         "(run as root, or in a user namespace)", strerror(errno));
		return 0;
	}
	/* our mounts must not reach the machine's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(g_hosts_why, sizeof(g_hosts_why), "mount --make-rprivate /: %s", strerror(errno));
		return 0;
	}
	fd = mkstemp(path);
	if (fd < 0 || write(fd, hosts, sizeof(hosts) - 1) != (ssize_t)(sizeof(hosts) - 1)) {
		snprintf(g_hosts_why, sizeof(g_hosts_why), "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	if (mount(path, "/etc/hosts", NULL, MS_BIND, NULL) < 0) {
		snprintf(g_hosts_why, sizeof(g_hosts_why), "mount --bind %s /etc/hosts: %s", path,
		         strerror(errno));
		unlink(path);
		return 0;
	}
	unlink(path); /* the mount keeps it */
	g_hosts_ok = hosts_check();
	if (g_hosts_ok)
		tu_log("names: /etc/hosts of the test (private mount namespace): localhost = ::1, 127.0.0.1");
	return g_hosts_ok;
}

#define NEED_HOSTS()                                                                           \
	do {                                                                                     \
		if (!g_hosts_ok) {                                                                   \
			printf("SKIP %s on %s: %s\n", __func__, g_be, g_hosts_why);                      \
			return;                                                                          \
		}                                                                                    \
	} while (0)

/* ---------------------------------------------------------------------------------------- */
/* one loop, a listener and its clients */

#define PAYLOAD (64 * 1024) /* within the kernel's buffers: the blocking backend writes with no one reading yet */

struct end {
	tlsio_conn *c;
	int handshakes, closed, status, alert, is_server, tls_at_close;
	uint64_t t_handshake, t_close, rx;
	tu_sha256 sha;
	uint8_t digest[32];
	char peer[128], detail[512], version[32], sni[128];
	void (*on_data)(struct end *e, const uint8_t *d, size_t n);
	void (*on_handshake)(struct end *e);
	void *ctx;
};

struct world {
	tlsio_loop *loop;
	tlsio_tls_config *scfg, *ccfg;
	tlsio_listener *l;
	struct end srv[4];
	int nsrv;
	struct end cli;
	char addr[128];
	uint8_t *payload;
	int echo; /* servers send back what arrives */
	uint64_t t0;
};

static void e_handshake(tlsio_conn *c, void *user)
{
	struct end *e = user;
	const char *v = tlsio_conn_tls_version(c), *sni = tlsio_conn_server_name(c);
	e->handshakes++;
	e->t_handshake = tu_now_ms();
	(void)tlsio_conn_peer_addr(c, e->peer, sizeof(e->peer));
	snprintf(e->version, sizeof(e->version), "%s", v != NULL ? v : "");
	snprintf(e->sni, sizeof(e->sni), "%s", sni != NULL ? sni : "");
	if (e->on_handshake != NULL)
		e->on_handshake(e);
}

static void e_data(tlsio_conn *c, const uint8_t *d, size_t n, void *user)
{
	struct end *e = user;
	struct world *w = e->ctx;
	ck_assert_msg(e->handshakes > 0, "%s: on_data before on_handshake", e->is_server ? "server" : "client");
	if (e->on_data != NULL) {
		e->on_data(e, d, n);
		return;
	}
	tu_sha256_update(&e->sha, d, n);
	e->rx += n;
	if (e->is_server && w->echo)
		(void)tlsio_send(c, d, n);
	if (!e->is_server && e->rx == PAYLOAD)
		tlsio_close(c);
}

static void e_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct end *e = user;
	const char *d = tlsio_conn_error_detail(c);
	e->closed = 1;
	e->status = status;
	e->alert = alert;
	e->t_close = tu_now_ms();
	e->tls_at_close = tlsio_conn_is_tls(c);
	snprintf(e->detail, sizeof(e->detail), "%s", d != NULL ? d : "");
	tu_sha256_final(&e->sha, e->digest);
	e->c = NULL;
}

static const tlsio_callbacks e_cb = {.struct_size = sizeof(tlsio_callbacks),
                                     .on_handshake = e_handshake, .on_data = e_data,
                                     .on_close = e_close};

static void end_init(struct end *e, struct world *w, int is_server)
{
	memset(e, 0, sizeof(*e));
	e->is_server = is_server;
	e->ctx = w;
	tu_sha256_init(&e->sha);
}

static void w_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct world *w = user;
	struct end *e;
	(void)l;
	ck_assert_int_lt(w->nsrv, 4);
	e = &w->srv[w->nsrv++];
	end_init(e, w, 1);
	e->c = c;
	tlsio_conn_set_user(c, e);
	ck_assert_int_eq(tlsio_conn_set_callbacks(c, &e_cb), 0);
}

static void client_sends(struct end *e)
{
	struct world *w = e->ctx;
	ck_assert_int_eq(tlsio_send(e->c, w->payload, PAYLOAD), 0);
}

static int plain_mode(void) { return g_transport == TU_TCP_PLAIN; }

static void world_new(struct world *w)
{
	const char *why = NULL;
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(tlsio_loop_new(&w->loop, tlsio_backend_by_name(g_be)), 0);
	so.cert_file = tu_cert("server.pem");
	so.key_file = tu_cert("server.key");
	co.ca_file = tu_cert("ca.pem");
	ck_assert_msg(tlsio_tls_config_new(&w->scfg, 1, &so, &why) == 0, "%s", why);
	ck_assert_msg(tlsio_tls_config_new(&w->ccfg, 0, &co, &why) == 0, "%s", why);
	w->payload = malloc(PAYLOAD);
	ck_assert_ptr_nonnull(w->payload);
	tu_pattern(0x5EED, 0, w->payload, PAYLOAD);
	w->echo = 1;
	end_init(&w->cli, w, 0);
	w->t0 = tu_now_ms();
}

static void world_free(struct world *w)
{
	tlsio_loop_free(w->loop);
	tlsio_tls_config_free(w->scfg);
	tlsio_tls_config_free(w->ccfg);
	free(w->payload);
}

static void world_listen(struct world *w, const char *addr)
{
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	int rc;
	o.flags = plain_mode() ? TLSIO_CONN_PLAIN : 0;
	rc = tlsio_listen(w->loop, addr, plain_mode() ? NULL : w->scfg, &o, w_accept, w, &w->l);
	ck_assert_msg(rc == 0, "tlsio_listen(%s): %s", addr, tlsio_strerror(rc));
	ck_assert_int_eq(tlsio_listener_addr(w->l, w->addr, sizeof(w->addr)), 0);
}

static int world_connect(struct world *w, const char *addr, tlsio_conn_opts *o)
{
	tlsio_conn_opts def = TLSIO_CONN_OPTS_INIT;
	if (o == NULL)
		o = &def;
	o->cb = &e_cb;
	o->user = &w->cli;
	if (plain_mode())
		o->flags |= TLSIO_CONN_PLAIN;
	w->cli.on_handshake = client_sends;
	return tlsio_connect(w->loop, addr, plain_mode() ? NULL : w->ccfg, o, &w->cli.c);
}

/* Run the loop for about @p ms, whatever happens. */
static void tlsio_run_a_little(tlsio_loop *loop, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	while (tu_now_ms() < end) {
		ck_assert_int_ge(tlsio_loop_run(loop, TLSIO_RUN_NOWAIT), 0);
		tu_sleep_ms(1);
	}
}

static int cli_closed(void *arg) { return ((struct world *)arg)->cli.closed; }

static void world_run(struct world *w, unsigned ms)
{
	ck_assert_msg(tu_loop_run_until(w->loop, cli_closed, w, ms), "the client did not end in %u ms", ms);
	ck_assert_msg(tu_failed() == 0, "%s", tu_failure());
}

/* The client's payload came back whole, and the connection ended cleanly. */
static void assert_echoed(const struct world *w)
{
	uint8_t want[32];
	tu_sha256_digest(w->payload, PAYLOAD, want);
	ck_assert_msg(w->cli.status == 0, "client ended with %d (%s) %s", w->cli.status,
	              tlsio_strerror(w->cli.status), w->cli.detail);
	ck_assert_msg(w->cli.handshakes == 1, "client handshakes: %d", w->cli.handshakes);
	ck_assert_msg(w->cli.rx == PAYLOAD && memcmp(w->cli.digest, want, 32) == 0,
	              "echo: %" PRIu64 " of %d bytes, digest %s", w->cli.rx, PAYLOAD,
	              memcmp(w->cli.digest, want, 32) == 0 ? "ok" : "wrong");
}

/* ---------------------------------------------------------------------------------------- */
/* names and Happy Eyeballs */

/* A listener whose accept queue is full (backlog 0, two connections never accepted): SYNs to
 * it are dropped, so a connect to it hangs, as to an address behind a black hole. */
static int hang_listener(int family, int port, int fds[3])
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((uint16_t)port);
		sl = sizeof(*a);
	}
	fds[0] = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0)
		return -errno;
	if (family == AF_INET6)
		(void)setsockopt(fds[0], IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fds[0], (struct sockaddr *)&ss, sl) < 0 || listen(fds[0], 0) < 0 ||
	    getsockname(fds[0], (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	for (int i = 1; i < 3; i++) {
		fds[i] = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			return -errno;
		(void)connect(fds[i], (struct sockaddr *)&ss, sl);
	}
	tu_sleep_ms(50);
	return ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                : ((struct sockaddr_in *)&ss)->sin_port);
}

static void close_fds(int fds[3])
{
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* localhost = ::1, 127.0.0.1; the server listens on 127.0.0.1 only: ::1 is refused at once,
 * and RFC 8305 says to go on with the next address then, not after the attempt delay. The name
 * is the SNI and the identity checked (no server_name is set). */
START_TEST(test_name_v6_refused_then_v4)
{
	struct world w;
	char a[64];
	int rc;
	NEED_HOSTS();
	LOG_CASE();
	world_new(&w);
	world_listen(&w, "127.0.0.1:0");
	snprintf(a, sizeof(a), "localhost:%d", tlsio_listener_port(w.l));
	rc = world_connect(&w, a, NULL);
	ck_assert_msg(rc == 0, "tlsio_connect(%s): %s", a, tlsio_strerror(rc));
	world_run(&w, 20000);
	tu_log("[%s] %s: connected to %s in %" PRIu64 " ms, %s, SNI at the server '%s'", g_be, a,
	       w.cli.peer, w.cli.t_handshake - w.t0, w.cli.version[0] ? w.cli.version : "plain",
	       w.srv[0].sni);
	assert_echoed(&w);
	ck_assert_msg(strncmp(w.cli.peer, "127.0.0.1:", 10) == 0, "connected to %s", w.cli.peer);
	ck_assert_msg(w.cli.t_handshake - w.t0 < 240, "%" PRIu64 " ms: the refused ::1 waited for "
	              "the attempt delay", w.cli.t_handshake - w.t0);
	if (!plain_mode())
		ck_assert_str_eq(w.srv[0].sni, "localhost");
	world_free(&w);
}
END_TEST

/* The server on ::1 only: the first address wins. */
START_TEST(test_name_v6_first)
{
	struct world w;
	char a[64];
	NEED_HOSTS();
	LOG_CASE();
	world_new(&w);
	world_listen(&w, "[::1]:0");
	snprintf(a, sizeof(a), "localhost:%d", tlsio_listener_port(w.l));
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	world_run(&w, 20000);
	tu_log("[%s] %s: connected to %s", g_be, a, w.cli.peer);
	assert_echoed(&w);
	ck_assert_msg(strncmp(w.cli.peer, "[::1]:", 6) == 0, "connected to %s", w.cli.peer);
	world_free(&w);
}
END_TEST

/* ::1 hangs (a full accept queue drops the SYN), 127.0.0.1 listens on the same port: after the
 * attempt delay the IPv4 attempt starts and wins; the IPv6 one is closed. */
START_TEST(test_name_stagger)
{
	struct world w;
	char a[64], la[64];
	int fds[3] = {-1, -1, -1}, port;
	uint64_t took;
	NEED_HOSTS();
	LOG_CASE();
	port = hang_listener(AF_INET6, 0, fds);
	ck_assert_msg(port > 0, "hanging listener on ::1: %s", strerror(-port));
	world_new(&w);
	snprintf(la, sizeof(la), "127.0.0.1:%d", port);
	world_listen(&w, la);
	snprintf(a, sizeof(a), "localhost:%d", port);
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	world_run(&w, 20000);
	took = w.cli.t_handshake - w.t0;
	tu_log("[%s] %s (::1 hangs): connected to %s after %" PRIu64 " ms (attempt delay 250 ms)",
	       g_be, a, w.cli.peer, took);
	assert_echoed(&w);
	ck_assert_msg(strncmp(w.cli.peer, "127.0.0.1:", 10) == 0, "connected to %s", w.cli.peer);
	ck_assert_msg(took >= 240 && took < 3000, "IPv4 won after %" PRIu64 " ms, expected the 250 ms "
	              "attempt delay", took);
	close_fds(fds);
	world_free(&w);
}
END_TEST

/* Every address hangs: the connect timeout ends it, with its own status and the name. */
START_TEST(test_connect_timeout)
{
	struct world w;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	int fds[3] = {-1, -1, -1}, port;
	char a[64];
	LOG_CASE();
	port = hang_listener(AF_INET, 0, fds);
	ck_assert_msg(port > 0, "hanging listener: %s", strerror(-port));
	world_new(&w);
	o.connect_timeout_ms = 300;
	snprintf(a, sizeof(a), "127.0.0.1:%d", port);
	ck_assert_int_eq(world_connect(&w, a, &o), 0);
	world_run(&w, 10000);
	tu_log("[%s] %s: %d (%s) after %" PRIu64 " ms", g_be, a, w.cli.status,
	       tlsio_strerror(w.cli.status), w.cli.t_close - w.t0);
	ck_assert_int_eq(w.cli.status, TLSIO_E_CONNECT_TIMEOUT);
	ck_assert_msg(w.cli.t_close - w.t0 >= 290 && w.cli.t_close - w.t0 < 2000, "ended after %" PRIu64 " ms",
	              w.cli.t_close - w.t0);
	ck_assert_int_eq(w.cli.handshakes, 0);
	world_free(&w);
	if (g_hosts_ok) {
		/* by name: ::1 refused at once, 127.0.0.1 hangs */
		world_new(&w);
		snprintf(a, sizeof(a), "localhost:%d", port);
		ck_assert_int_eq(world_connect(&w, a, &o), 0);
		world_run(&w, 10000);
		tu_log("[%s] %s: %d (%s): %s", g_be, a, w.cli.status, tlsio_strerror(w.cli.status),
		       w.cli.detail);
		ck_assert_int_eq(w.cli.status, TLSIO_E_CONNECT_TIMEOUT);
		ck_assert_msg(strstr(w.cli.detail, a) != NULL && strstr(w.cli.detail, "[::1]") != NULL &&
		              strstr(w.cli.detail, "no answer") != NULL, "detail: '%s'", w.cli.detail);
		world_free(&w);
	}
	close_fds(fds);
}
END_TEST

/* Every address refused: the last errno, and each address with its answer in the detail. */
START_TEST(test_name_all_refused)
{
	struct world w;
	char a[64];
	int fd, port;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	NEED_HOSTS();
	LOG_CASE();
	/* a port nothing listens on: bound (so no one else takes it meanwhile), never listening */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	world_new(&w);
	snprintf(a, sizeof(a), "localhost:%d", port);
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	world_run(&w, 10000);
	tu_log("[%s] %s: %d (%s): %s", g_be, a, w.cli.status, tlsio_strerror(w.cli.status), w.cli.detail);
	ck_assert_int_eq(w.cli.status, -ECONNREFUSED);
	ck_assert_msg(strstr(w.cli.detail, "[::1]") != NULL && strstr(w.cli.detail, "127.0.0.1") != NULL &&
	              strstr(w.cli.detail, "refused") != NULL, "detail: '%s'", w.cli.detail);
	close(fd);
	world_free(&w);
}
END_TEST

/* A name that does not resolve: TLSIO_E_RESOLVE and the resolver's message. */
START_TEST(test_name_unknown)
{
	struct world w;
	const char *a = "no-such-host.invalid:443";
	LOG_CASE();
	world_new(&w);
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	world_run(&w, 30000);
	tu_log("[%s] %s: %d (%s): %s", g_be, a, w.cli.status, tlsio_strerror(w.cli.status), w.cli.detail);
	ck_assert_int_eq(w.cli.status, TLSIO_E_RESOLVE);
	ck_assert_msg(strstr(w.cli.detail, "no-such-host.invalid") != NULL, "detail: '%s'", w.cli.detail);
	ck_assert_int_eq(w.cli.handshakes, 0);
	world_free(&w);
}
END_TEST

/* An abort during the resolution cancels it: on_close once with TLSIO_E_ABORTED, and nothing
 * afterwards, whether the lookup is still on its thread (0), already posted back (1), or the
 * loop is freed under it (2). ASan checks that nothing leaks and nothing touches freed memory
 * when the lookup returns. */
START_TEST(test_name_cancel)
{
	struct world w;
	char a[64];
	NEED_HOSTS();
	LOG_CASE();
	/* every lookup now takes 300 ms more on its thread (a test hook of api/resolve.c) */
	setenv("TLSIO_TEST_RESOLVE_DELAY_MS", _i == 1 ? "0" : "300", 1);
	world_new(&w);
	world_listen(&w, "127.0.0.1:0");
	snprintf(a, sizeof(a), "localhost:%d", tlsio_listener_port(w.l));
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	if (_i == 0) {
		tlsio_run_a_little(w.loop, 50);
		tlsio_abort(w.cli.c);
	} else if (_i == 1) {
		tu_sleep_ms(100); /* the lookup is done and posted; the loop has not run it */
		tlsio_abort(w.cli.c);
	} else {
		tlsio_run_a_little(w.loop, 50);
		world_free(&w);
		tu_log("[%s] loop freed during the lookup: client %d (%s)", g_be, w.cli.status,
		       tlsio_strerror(w.cli.status));
		ck_assert_int_eq(w.cli.closed, 1);
		ck_assert_int_eq(w.cli.status, TLSIO_E_ABORTED);
		tu_sleep_ms(400); /* the lookup returns, finds itself cancelled, frees itself */
		unsetenv("TLSIO_TEST_RESOLVE_DELAY_MS");
		return;
	}
	tlsio_run_a_little(w.loop, 500); /* past the lookup's end */
	tu_log("[%s] aborted %s: client %d (%s), handshakes %d, server connections %d", g_be,
	       _i == 0 ? "during the lookup" : "with the result posted", w.cli.status,
	       tlsio_strerror(w.cli.status), w.cli.handshakes, w.nsrv);
	ck_assert_int_eq(w.cli.closed, 1);
	ck_assert_int_eq(w.cli.status, TLSIO_E_ABORTED);
	ck_assert_int_eq(w.cli.handshakes, 0);
	ck_assert_int_eq(w.nsrv, 0);
	world_free(&w);
	unsetenv("TLSIO_TEST_RESOLVE_DELAY_MS");
}
END_TEST

/* "[::1%lo]:PORT": the zone is accepted (and ignored by the kernel for a non-link-local
 * address); the identity is the address without it. An unknown interface is -EINVAL. */
START_TEST(test_zone_literal)
{
	struct world w;
	char a[64];
	tlsio_conn *c = NULL;
	LOG_CASE();
	if (!tu_ipv6_loopback()) {
		printf("SKIP %s on %s: no IPv6 loopback\n", __func__, g_be);
		return;
	}
	world_new(&w);
	world_listen(&w, "[::1]:0");
	snprintf(a, sizeof(a), "[::1%%lo]:%d", tlsio_listener_port(w.l));
	ck_assert_int_eq(world_connect(&w, a, NULL), 0);
	world_run(&w, 20000);
	tu_log("[%s] %s: connected to %s", g_be, a, w.cli.peer);
	assert_echoed(&w);
	ck_assert_int_eq(tlsio_connect(w.loop, "[fe80::1%no-such-if0]:443", w.ccfg, NULL, &c), -EINVAL);
	ck_assert_int_eq(tlsio_connect(w.loop, "[fe80::1%]:443", w.ccfg, NULL, &c), TLSIO_E_BAD_ADDRESS);
	ck_assert_int_eq(tlsio_connect(w.loop, "1.2.3:443", w.ccfg, NULL, &c), TLSIO_E_BAD_ADDRESS);
	ck_assert_int_eq(tlsio_connect(w.loop, "host", w.ccfg, NULL, &c), TLSIO_E_BAD_ADDRESS);
	ck_assert_int_eq(tlsio_connect(w.loop, "host:99999", w.ccfg, NULL, &c), TLSIO_E_BAD_ADDRESS);
	world_free(&w);
}
END_TEST

/* A server that speaks first (SMTP's greeting): its bytes may come with the connect's
 * completion in one event (epoll did), and on_handshake must still come before them: the
 * connection is announced first. 30 connections in a row. */
static void greeted(struct end *e, const uint8_t *d, size_t n)
{
	(void)d;
	e->rx += n;
	if (e->rx >= 11)
		tlsio_close(e->c);
}

static int tcp_listener(char *addr, size_t len);

/* A server of plain sockets in a thread of its own, greeting each client at once. */
static void *greeter(void *arg)
{
	int lfd = *(int *)arg;
	for (int i = 0; i < 30; i++) {
		char buf[256];
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			break;
		if (write(fd, "220 hello\r\n", 11) != 11) {
			close(fd);
			break;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	return NULL;
}

START_TEST(test_server_speaks_first)
{
	struct world w;
	pthread_t th;
	char a[64];
	int lfd;
	LOG_CASE();
	if (!plain_mode()) {
		printf("SKIP %s on %s/%s: a TLS client speaks first\n", __func__, g_be,
		       tu_transport_name(g_transport));
		return;
	}
	world_new(&w);
	lfd = tcp_listener(a, sizeof(a));
	ck_assert_int_eq(pthread_create(&th, NULL, greeter, &lfd), 0);
	for (int i = 0; i < 30; i++) {
		end_init(&w.cli, &w, 0);
		ck_assert_int_eq(world_connect(&w, a, NULL), 0);
		w.cli.on_handshake = NULL;
		w.cli.on_data = greeted;
		world_run(&w, 10000);
		ck_assert_msg(w.cli.status == 0 && w.cli.rx == 11, "connection %d: %d (%s), %" PRIu64 " bytes",
		              i, w.cli.status, tlsio_strerror(w.cli.status), w.cli.rx);
	}
	pthread_join(th, NULL);
	close(lfd);
	tu_log("[%s] 30 connections to a server that speaks first: on_handshake before on_data on each", g_be);
	world_free(&w);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Unix sockets */

START_TEST(test_unix_sockets)
{
	struct world w;
	char dir[] = "/tmp/tlsio-unix.XXXXXX", path[64], a[160], abs_name[64];
	tlsio_listen_opts lo = TLSIO_LISTEN_OPTS_INIT;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	tlsio_listener *l2 = NULL;
	struct stat st;
	int fd;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	LOG_CASE();
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	/* a stale file: a socket bound by a process that is gone */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	close(fd);
	for (int plain = 0; plain < 2; plain++) {
		g_transport = plain ? TU_TCP_PLAIN : TU_TCP_TLS;
		world_new(&w);
		lo.mode = 0600;
		o.flags = plain ? TLSIO_CONN_PLAIN : 0;
		snprintf(a, sizeof(a), "unix:%s", path);
		ck_assert_int_eq(tlsio_listen_ex(w.loop, a, &lo, plain ? NULL : w.scfg, &o, w_accept, &w, &w.l), 0);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_msg(S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode);
		/* a second listener on a live socket file is refused, the file stays */
		ck_assert_int_eq(tlsio_listen_ex(w.loop, a, &lo, plain ? NULL : w.scfg, &o, w_accept, &w, &l2),
		                 -EADDRINUSE);
		ck_assert_int_eq(tlsio_listener_addr(w.l, w.addr, sizeof(w.addr)), 0);
		ck_assert_str_eq(w.addr, a);
		ck_assert_int_eq(tlsio_listener_port(w.l), 0);
		ck_assert_int_eq(tlsio_connect(w.loop, "unix:", w.ccfg, NULL, &w.cli.c), TLSIO_E_BAD_ADDRESS);
		/* a mode where there is no file to give it */
		ck_assert_int_eq(tlsio_listen_ex(w.loop, "unix:@tlsio-mode", &lo, plain ? NULL : w.scfg, &o,
		                                 w_accept, &w, &l2), -EINVAL);
		ck_assert_int_eq(tlsio_listen_ex(w.loop, "127.0.0.1:0", &lo, plain ? NULL : w.scfg, &o,
		                                 w_accept, &w, &l2), -EINVAL);
		/* a verifying client has no host to check here */
		ck_assert_int_eq(tlsio_connect(w.loop, a, w.ccfg, NULL, &w.cli.c), TLSIO_E_NO_IDENTITY);
		{
			tlsio_conn_opts co = TLSIO_CONN_OPTS_INIT;
			co.server_name = "localhost";
			ck_assert_int_eq(world_connect(&w, a, &co), 0);
		}
		world_run(&w, 20000);
		tu_log("[%s] %s (%s, mode 0600): echoed, peer %s", g_be, a, plain ? "plain" : "TLS",
		       w.cli.peer);
		assert_echoed(&w);
		ck_assert_int_eq(w.cli.tls_at_close, !plain);
		tlsio_listener_close(w.l);
		ck_assert_msg(stat(path, &st) < 0 && errno == ENOENT, "the socket file outlived its listener");
		world_free(&w);
	}
	/* the abstract namespace: no file */
	for (int plain = 0; plain < 2; plain++) {
		tlsio_conn_opts co = TLSIO_CONN_OPTS_INIT;
		g_transport = plain ? TU_TCP_PLAIN : TU_TCP_TLS;
		world_new(&w);
		snprintf(abs_name, sizeof(abs_name), "unix:@tlsio-test-%d-%d", (int)getpid(), plain);
		world_listen(&w, abs_name);
		ck_assert_str_eq(w.addr, abs_name);
		co.server_name = "localhost";
		ck_assert_int_eq(world_connect(&w, abs_name, &co), 0);
		world_run(&w, 20000);
		tu_log("[%s] %s (%s): echoed", g_be, abs_name, plain ? "plain" : "TLS");
		assert_echoed(&w);
		world_free(&w);
	}
	g_transport = TU_TCP_TLS;
	rmdir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* STARTTLS */

/* The server, on "STARTTLS\r\n": PAYLOAD bytes of stream A in plaintext, then the switch, then
 * PAYLOAD bytes of stream B (held until the handshake, then encrypted). The client reads A in
 * plaintext, switches when it has all of A, reads B over TLS and sends C back over TLS. */
struct stls {
	struct world *w;
	char line[64];
	size_t linelen;
	uint64_t a_rx, b_rx, c_rx;
	uint64_t a_bad, b_bad, c_bad; /* first byte off the pattern + 1 (0: none) */
	int srv_switched, cli_switched, srv_rc, cli_rc;
	uint8_t *a, *b, *c;
};

static void check_stream(const uint8_t *want, uint64_t *off, uint64_t *bad, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (*off + i >= PAYLOAD || d[i] != want[*off + i]) {
			if (*bad == 0)
				*bad = *off + i + 1;
			break;
		}
	*off += n;
}

static struct stls *g_stls;

static void stls_server_data(struct end *e, const uint8_t *d, size_t n)
{
	struct stls *t = g_stls;
	if (t->srv_switched) {
		check_stream(t->c, &t->c_rx, &t->c_bad, d, n);
		return;
	}
	for (size_t i = 0; i < n && t->linelen < sizeof(t->line) - 1; i++)
		t->line[t->linelen++] = (char)d[i];
	t->line[t->linelen] = '\0';
	if (strcmp(t->line, "STARTTLS\r\n") != 0)
		return;
	ck_assert_int_eq(tlsio_send(e->c, t->a, PAYLOAD), 0);
	t->srv_rc = tlsio_starttls(e->c, t->w->scfg);
	t->srv_switched = 1;
	ck_assert_int_eq(tlsio_send(e->c, t->b, PAYLOAD), 0); /* held until the handshake */
}

static void stls_client_data(struct end *e, const uint8_t *d, size_t n)
{
	struct stls *t = g_stls;
	if (!t->cli_switched) {
		check_stream(t->a, &t->a_rx, &t->a_bad, d, n);
		if (t->a_rx >= PAYLOAD) {
			t->cli_rc = tlsio_starttls(e->c, t->w->ccfg);
			t->cli_switched = 1;
		}
		return;
	}
	check_stream(t->b, &t->b_rx, &t->b_bad, d, n);
	if (t->b_rx >= PAYLOAD)
		tlsio_close(e->c);
}

static void stls_client_handshake(struct end *e)
{
	struct stls *t = g_stls;
	if (e->handshakes == 1) {
		ck_assert_int_eq(tlsio_conn_is_tls(e->c), 0);
		ck_assert_int_eq(tlsio_send(e->c, "STARTTLS\r\n", 10), 0);
		return;
	}
	ck_assert_int_eq(tlsio_conn_is_tls(e->c), 1);
	ck_assert_int_eq(tlsio_send(e->c, t->c, PAYLOAD), 0);
}

static void stls_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	w_accept(l, c, user);
	((struct world *)user)->srv[0].on_data = stls_server_data;
}

START_TEST(test_starttls)
{
	struct world w;
	struct stls t;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	char a[64];
	LOG_CASE();
	memset(&t, 0, sizeof(t));
	g_transport = TU_TCP_PLAIN;
	world_new(&w);
	t.w = &w;
	t.a = malloc(PAYLOAD);
	t.b = malloc(PAYLOAD);
	t.c = malloc(PAYLOAD);
	tu_pattern(0xA, 0, t.a, PAYLOAD);
	tu_pattern(0xB, 0, t.b, PAYLOAD);
	tu_pattern(0xC, 0, t.c, PAYLOAD);
	g_stls = &t;
	o.flags = TLSIO_CONN_PLAIN;
	ck_assert_int_eq(tlsio_listen(w.loop, "127.0.0.1:0", NULL, &o, stls_accept, &w, &w.l), 0);
	/* a configuration together with "plain" is refused: which one was meant? */
	{
		tlsio_listener *l2;
		ck_assert_int_eq(tlsio_listen(w.loop, "127.0.0.1:0", w.scfg, &o, stls_accept, &w, &l2), -EINVAL);
	}
	snprintf(a, sizeof(a), "localhost:%d", tlsio_listener_port(w.l));
	if (!g_hosts_ok)
		snprintf(a, sizeof(a), "127.0.0.1:%d", tlsio_listener_port(w.l));
	o.cb = &e_cb;
	o.user = &w.cli;
	o.server_name = "localhost";
	w.cli.on_handshake = stls_client_handshake;
	w.cli.on_data = stls_client_data;
	ck_assert_int_eq(tlsio_connect(w.loop, a, NULL, &o, &w.cli.c), 0);
	ck_assert_int_eq(tlsio_starttls(w.cli.c, w.ccfg), -ENOTCONN);
	world_run(&w, 20000);
	tu_log("[%s] STARTTLS: server switch %d, client switch %d; plaintext %" PRIu64 " B, then %s: "
	       "%" PRIu64 " B down, %" PRIu64 " B up; client %d (%s), handshakes %d/%d", g_be, t.srv_rc,
	       t.cli_rc, t.a_rx, w.cli.version, t.b_rx, t.c_rx, w.cli.status,
	       tlsio_strerror(w.cli.status), w.cli.handshakes, w.srv[0].handshakes);
	ck_assert_int_eq(t.srv_rc, 0);
	ck_assert_int_eq(t.cli_rc, 0);
	ck_assert_msg(t.a_bad == 0 && t.a_rx == PAYLOAD, "plaintext before the switch: %" PRIu64
	              " bytes, off at %" PRIu64, t.a_rx, t.a_bad);
	ck_assert_msg(t.b_bad == 0 && t.b_rx == PAYLOAD, "TLS after the switch (down): %" PRIu64
	              " bytes, off at %" PRIu64, t.b_rx, t.b_bad);
	ck_assert_msg(t.c_bad == 0 && t.c_rx == PAYLOAD, "TLS after the switch (up): %" PRIu64
	              " bytes, off at %" PRIu64, t.c_rx, t.c_bad);
	ck_assert_int_eq(w.cli.status, 0);
	ck_assert_int_eq(w.cli.handshakes, 2);
	ck_assert_int_eq(w.srv[0].handshakes, 2);
	ck_assert_int_eq(w.cli.tls_at_close, 1);
	ck_assert_msg(strncmp(w.cli.version, "TLSv1.", 6) == 0, "version '%s'", w.cli.version);
	ck_assert_str_eq(w.srv[0].sni, "localhost");
	world_free(&w);
	free(t.a);
	free(t.b);
	free(t.c);
	g_transport = TU_TCP_TLS;
}
END_TEST

/* tlsio_starttls() where it does not apply. */
START_TEST(test_starttls_refused)
{
	struct world w;
	LOG_CASE();
	world_new(&w);
	world_listen(&w, "127.0.0.1:0");
	ck_assert_int_eq(world_connect(&w, w.addr, NULL), 0);
	world_run(&w, 20000);
	assert_echoed(&w);
	world_free(&w);
	/* a TLS connection cannot switch again */
	world_new(&w);
	world_listen(&w, "127.0.0.1:0");
	{
		tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
		o.cb = &e_cb;
		o.user = &w.cli;
		o.server_name = "localhost";
		ck_assert_int_eq(tlsio_connect(w.loop, w.addr, w.ccfg, &o, &w.cli.c), 0);
		ck_assert_int_eq(tlsio_starttls(w.cli.c, w.ccfg), -EINVAL);
		o.flags = TLSIO_CONN_PLAIN;
		ck_assert_int_eq(tlsio_connect(w.loop, w.addr, w.ccfg, &o, &w.cli.c), -EINVAL);
		o.flags = 0x80;
		ck_assert_int_eq(tlsio_connect(w.loop, w.addr, w.ccfg, &o, &w.cli.c), -EINVAL);
	}
	world_free(&w);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* inherited listeners */

static int tcp_listener(char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

START_TEST(test_inherited_listener)
{
	struct world w;
	char a[32], connect_to[64], names[64];
	tlsio_listener *l2 = NULL;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	int lfd, saved3, fd, rc;
	LOG_CASE();
	world_new(&w);
	lfd = tcp_listener(connect_to, sizeof(connect_to));
	snprintf(a, sizeof(a), "fd:%d", lfd);
	/* two listeners on one inherited socket (as two loops would): they share its queue */
	world_listen(&w, a);
	ck_assert_int_eq(tlsio_listen(w.loop, a, w.scfg, &o, w_accept, &w, &l2), 0);
	ck_assert_str_eq(w.addr, connect_to);
	ck_assert_int_eq(world_connect(&w, connect_to, NULL), 0);
	world_run(&w, 20000);
	tu_log("[%s] %s (%s): echoed", g_be, a, connect_to);
	assert_echoed(&w);
	tlsio_listener_close(w.l);
	tlsio_listener_close(l2);
	ck_assert_msg(fcntl(lfd, F_GETFD) >= 0, "fd %d was closed with the listener: it is the caller's", lfd);
	/* what is no listening stream socket */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a, sizeof(a), "fd:%d", fd);
	ck_assert_int_eq(tlsio_listen(w.loop, a, w.scfg, &o, w_accept, &w, &l2), -EINVAL);
	close(fd);
	ck_assert_int_eq(tlsio_listen(w.loop, a, w.scfg, &o, w_accept, &w, &l2), -EBADF);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	snprintf(a, sizeof(a), "fd:%d", fd);
	ck_assert_int_eq(tlsio_listen(w.loop, a, w.scfg, &o, w_accept, &w, &l2), -ENOTSOCK);
	close(fd);
	ck_assert_int_eq(tlsio_listen(w.loop, "fd:x", w.scfg, &o, w_accept, &w, &l2), TLSIO_E_BAD_ADDRESS);
	{
		/* set up already: options asked for here could not hold */
		tlsio_listen_opts lo = TLSIO_LISTEN_OPTS_INIT;
		lo.flags = TLSIO_LISTEN_REUSEPORT;
		snprintf(a, sizeof(a), "fd:%d", lfd);
		ck_assert_int_eq(tlsio_listen_ex(w.loop, a, &lo, w.scfg, &o, w_accept, &w, &l2), -EINVAL);
		lo.flags = 0;
		lo.mode = 0600;
		ck_assert_int_eq(tlsio_listen_ex(w.loop, a, &lo, w.scfg, &o, w_accept, &w, &l2), -EINVAL);
	}
	ck_assert_int_eq(tlsio_connect(w.loop, "fd:3", w.ccfg, NULL, &w.cli.c), TLSIO_E_BAD_ADDRESS);
	world_free(&w);

	/* systemd's protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; the sockets start at 3. Check
	 * may use fd 3 itself (its pipe to the parent), so nothing here asserts until it is back. */
	{
		char pid[16], names2[3]; /* "web" needs 4 */
		int r_ok, r_space, r_other, r_bad, r_unset, env_left, cloexec;
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		world_new(&w);
		saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10);
		(void)dup2(lfd, 3);
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", "web", 1);
		r_ok = tlsio_listen_fds(0, names, sizeof(names));
		r_space = tlsio_listen_fds(0, names2, sizeof(names2));
		setenv("LISTEN_PID", "1", 1);
		r_other = tlsio_listen_fds(0, NULL, 0); /* for another process */
		setenv("LISTEN_PID", "x", 1);
		r_bad = tlsio_listen_fds(0, NULL, 0);
		setenv("LISTEN_PID", pid, 1);
		r_unset = tlsio_listen_fds(1, NULL, 0);
		env_left = getenv("LISTEN_FDS") != NULL || getenv("LISTEN_PID") != NULL;
		cloexec = (fcntl(3, F_GETFD) & FD_CLOEXEC) != 0;
		/* the listener works on a duplicate of 3: 3 itself goes back to Check now */
		rc = tlsio_listen(w.loop, "fd:3", w.scfg, &o, w_accept, &w, &w.l);
		fd = saved3 >= 0 ? dup2(saved3, 3) : close(3);
		if (saved3 >= 0)
			close(saved3);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(r_ok, 1);
		ck_assert_str_eq(names, "web");
		ck_assert_int_eq(r_space, -ENOSPC);
		ck_assert_int_eq(r_other, 0);
		ck_assert_int_eq(r_bad, -EINVAL);
		ck_assert_int_eq(r_unset, 1);
		ck_assert_int_eq(env_left, 0);
		ck_assert_int_eq(cloexec, 1);
		ck_assert_msg(rc == 0, "tlsio_listen(fd:3): %s", tlsio_strerror(rc));
	}
	ck_assert_int_eq(world_connect(&w, connect_to, NULL), 0);
	world_run(&w, 20000);
	tu_log("[%s] LISTEN_FDS=1 (fd:3, \"%s\"): echoed", g_be, names);
	assert_echoed(&w);
	world_free(&w);
	close(lfd);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static void add(Suite *s, const char *name, const TTest *t, int loops)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t, 0, loops > 0 ? loops : 1);
	suite_add_tcase(s, tc);
}

#define ADD(fn) add(s, #fn, fn, 0)

void contract_connect_cases(Suite *s, const char *backend, int transport)
{
	g_be = backend;
	g_transport = transport;
	if (transport == TU_UNIX_TLS)
		return; /* the Unix socket cases are in the TLS suite (both modes), below */
	ADD(test_name_v6_refused_then_v4);
	ADD(test_name_v6_first);
	ADD(test_name_stagger);
	ADD(test_name_all_refused);
	ADD(test_connect_timeout);
	ADD(test_name_unknown);
	add(s, "test_name_cancel", test_name_cancel, 3);
	ADD(test_zone_literal);
	if (transport == TU_TCP_PLAIN)
		ADD(test_server_speaks_first); /* with TLS the client speaks first */
	if (transport != TU_TCP_TLS)
		return;
	ADD(test_unix_sockets);
	ADD(test_starttls);
	ADD(test_starttls_refused);
	ADD(test_inherited_listener);
}
