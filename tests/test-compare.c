/* SPDX-License-Identifier: MIT */
/* C7 of DESIGN.md: the same scripted scenario gives the same callback transcript on every
 * backend. Check suite "compare": one test per scenario; each runs the scenario on every
 * compiled-in backend (those tlsio_backends() lists, plus "libev-app": the libev backend on an
 * ev_loop the test owns and runs with ev_run, and "libuv-app": the libuv backend on a uv_loop_t
 * the test owns and runs with uv_run), then compares the transcripts with the first
 * backend's and prints both on a mismatch.
 *
 * A transcript is what the application sees, normalized where the contract leaves freedom:
 *  - on_data chunking differs legitimately between backends: consecutive on_data calls are one
 *    "data" line with the running total and a digest of the stream so far, written when the next
 *    other event comes;
 *  - each scenario is written so that its events are determined by byte counts, not timing:
 *    actions hang on byte counts and callbacks, never on clocks; where an event's position
 *    still depends on timing (how far a sender got when its peer closed, how often an echo
 *    queue emptied) the side records a count or a summary instead of the position, and the
 *    scenario says why.
 * Besides the comparison, each run checks its own stream contents and statuses, so that a
 * behaviour that is the same everywhere but wrong fails too.
 *
 * Backends: $TLSIO_BACKENDS (comma list, "libev-app" and "libuv-app" allowed), else all. A backend whose probe
 * fails is skipped with its reason; fewer than two runnable ones is a skip (exit 77). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "tlsio.h"
#ifdef TLSIO_HAVE_LIBEV
#include "tlsio-ev.h"
#endif
#ifdef TLSIO_HAVE_LIBUV
#include "tlsio-uv.h"
#endif

#define RUN_WATCHDOG_MS 90000u
#define MAX_MODES 8
#define SHA_SHOWN 16 /* hex digits of a digest shown in a transcript line */

/* ---------------------------------------------------------------------------------------- */
/* backends under comparison */

struct mode {
	char label[32];
	const tlsio_backend *b;
	int app; /* APP_EV: libev on the test's own ev_loop, driven by ev_run; APP_UV: libuv on
	          * the test's own uv_loop_t, driven by uv_run */
};

enum { APP_NONE, APP_EV, APP_UV };

static struct mode g_modes[MAX_MODES];
static size_t g_nmodes;

/* ---------------------------------------------------------------------------------------- */
/* one side of a connection: its script and its transcript */

enum drain_rec {
	DR_NONE,   /* not recorded (the count depends on timing; says the scenario) */
	DR_COUNT,  /* the number of on_drain calls, at the end */
	DR_INLINE  /* each on_drain in the transcript */
};

enum send_kind { SK_COPY, SK_COPY_COMPL, SK_REF };

struct run;
struct actor;

struct req {
	tlsio_send_req req;
	struct actor *a;
	uint64_t seq;
	uint8_t *ref; /* SK_REF: our buffer until the completion */
	uint64_t off;
	size_t len;
};

struct actor {
	struct run *run;
	const char *role;
	int is_server;
	/* script, set by the scenario */
	tlsio_tls_opts tls;
	tlsio_conn_opts opts;
	int no_peer_close_cb;   /* on_peer_close = NULL: the library closes by itself */
	int inline_tx;          /* sends and completions are transcript lines */
	int drains;             /* enum drain_rec */
	uint64_t rx_cap;        /* the transcript shows the received stream up to here (0: all) */
	uint64_t rx_seed;       /* the received stream must be this pattern (0: not checked) */
	uint64_t tx_seed;
	size_t pause_every;     /* tlsio_read_stop after this many bytes; restarted next turn */
	void (*on_handshake)(struct actor *a);
	void (*on_data)(struct actor *a, const uint8_t *data, size_t len);
	void (*on_peer_close)(struct actor *a);
	void (*on_complete)(struct actor *a, uint64_t seq, int status);
	int plain;              /* TLSIO_CONN_PLAIN, no configuration */
	int starttls;           /* plain with a TLS configuration ready for tlsio_starttls() */
	/* runtime */
	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_listener *listener;
	tlsio_conn *conn;
	int accepted, handshakes, closed, status, alert, close_called, paused;
	tlsio_stats stats;
	tu_rng rng;
	uint64_t mark;
	/* sending */
	uint64_t tx_len, sends, reqs, completions;
	int *compl_status;
	size_t compl_cap;
	tu_sha256 tx_sha;
	uint8_t *scratch;
	size_t scratch_cap;
	/* receiving */
	uint64_t rx_len, rx_shown, rx_bad_at;
	tu_sha256 rx_sha;       /* the capped stream */
	size_t pause_acc;
	unsigned drain_count;
	/* transcript */
	char **lines;
	size_t nlines, lines_cap;
};

struct run {
	const struct mode *mode;
	struct actor server, client;
	char addr[64];
	char listen_addr[64];  /* the scenario's (default 127.0.0.1:0) */
	int by_name;           /* the client connects to localhost:PORT (resolved, Happy Eyeballs) */
	atomic_int addr_state; /* 0 pending, 1 ready, -1 failed */
};

static void tr_add(struct actor *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tr_raw(struct actor *a, const char *line)
{
	if (a->nlines == a->lines_cap) {
		size_t cap = a->lines_cap ? a->lines_cap * 2 : 32;
		char **p = realloc(a->lines, cap * sizeof(*p));
		if (p == NULL) {
			TU_FAIL("out of memory for the transcript");
			return;
		}
		a->lines = p;
		a->lines_cap = cap;
	}
	a->lines[a->nlines] = strdup(line);
	if (a->lines[a->nlines] != NULL)
		a->nlines++;
}

static void sha_prefix(const tu_sha256 *s, char *hex, size_t n)
{
	tu_sha256 copy = *s;
	uint8_t md[32];
	char full[65];
	tu_sha256_final(&copy, md);
	tu_hex(md, 32, full);
	snprintf(hex, n, "%.*s", SHA_SHOWN, full);
}

/* The data received since the last line, as one line: chunking is not part of the contract. */
static void tr_flush_data(struct actor *a)
{
	uint64_t shown = a->rx_cap && a->rx_len > a->rx_cap ? a->rx_cap : a->rx_len;
	char hex[SHA_SHOWN + 1], line[128];
	if (shown == a->rx_shown)
		return;
	a->rx_shown = shown;
	sha_prefix(&a->rx_sha, hex, sizeof(hex));
	snprintf(line, sizeof(line), "data total=%" PRIu64 " sha256=%s%s", shown, hex,
	         a->rx_cap && shown == a->rx_cap ? " (shown up to the scenario's cap)" : "");
	tr_raw(a, line);
}

static void tr_add(struct actor *a, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	tr_flush_data(a);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tr_raw(a, line);
}

static const char *status_name(int status)
{
	static _Thread_local char buf[32];
	switch (status) {
	case 0: return "0";
	case TLSIO_E_TLS: return "TLSIO_E_TLS";
	case TLSIO_E_ALERT_RECEIVED: return "TLSIO_E_ALERT_RECEIVED";
	case TLSIO_E_TRUNCATED: return "TLSIO_E_TRUNCATED";
	case TLSIO_E_CERT_VERIFY: return "TLSIO_E_CERT_VERIFY";
	case TLSIO_E_CLOSED: return "TLSIO_E_CLOSED";
	case TLSIO_E_ABORTED: return "TLSIO_E_ABORTED";
	case TLSIO_E_VERSION: return "TLSIO_E_VERSION";
	case TLSIO_E_EOF_IN_HANDSHAKE: return "TLSIO_E_EOF_IN_HANDSHAKE";
	case TLSIO_E_LINGER_TIMEOUT: return "TLSIO_E_LINGER_TIMEOUT";
	case -ECONNRESET: return "-ECONNRESET";
	case -EPIPE: return "-EPIPE";
	default:
		snprintf(buf, sizeof(buf), "%d", status);
		return buf;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* actions */

static void act_close(struct actor *a)
{
	if (a->conn != NULL && !a->close_called) {
		a->close_called = 1;
		tlsio_close(a->conn);
	}
}

static void req_done(tlsio_send_req *r, int status)
{
	struct req *q = r->data;
	struct actor *a = q->a;
	TU_CHECK(!a->closed, "%s: completion #%" PRIu64 " after on_close", a->role, q->seq);
	TU_CHECK(q->seq == a->completions, "%s: completion #%" PRIu64 " fired, #%" PRIu64
	         " expected (out of order)", a->role, q->seq, a->completions);
	a->completions = q->seq + 1;
	if (q->seq < a->compl_cap)
		a->compl_status[q->seq] = status;
	if (q->ref != NULL) {
		size_t bad = tu_pattern_check(a->tx_seed, q->off, q->ref, q->len);
		TU_CHECK(bad == q->len, "%s: by-reference buffer of send #%" PRIu64 " changed at byte %zu",
		         a->role, q->seq, bad);
		memset(q->ref, 0xEE, q->len); /* the library must not read it any more */
		free(q->ref);
	}
	if (a->inline_tx)
		tr_add(a, "complete #%" PRIu64 " status=%s", q->seq, status_name(status));
	if (a->on_complete != NULL)
		a->on_complete(a, q->seq, status);
	free(q);
}

static uint8_t *scratch(struct actor *a, size_t n)
{
	if (a->scratch_cap < n) {
		free(a->scratch);
		a->scratch = malloc(n);
		a->scratch_cap = a->scratch != NULL ? n : 0;
	}
	return a->scratch;
}

/* Send the next @p n bytes of the actor's stream. Every send in these scenarios must be
 * accepted: a refusal is a failure (the scripts stay below high water). */
static int act_send(struct actor *a, size_t n, enum send_kind kind)
{
	static const char *const kinds[] = {"copy", "copy+completion", "ref"};
	struct req *q = NULL;
	uint8_t *buf;
	int rc;
	if (a->conn == NULL)
		return -1;
	if (kind != SK_COPY) {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return -1;
		q->a = a;
		q->seq = a->reqs;
		q->off = a->tx_len;
		q->len = n;
		q->req.data = q;
		if (a->reqs >= a->compl_cap) {
			size_t cap = a->compl_cap ? a->compl_cap * 2 : 64;
			int *p = realloc(a->compl_status, cap * sizeof(*p));
			if (p == NULL) {
				free(q);
				return -1;
			}
			a->compl_status = p;
			a->compl_cap = cap;
		}
		a->compl_status[a->reqs] = 1; /* not fired */
	}
	buf = kind == SK_REF ? malloc(n) : scratch(a, n);
	if (buf == NULL) {
		TU_FAIL("%s: out of memory for a %zu-byte send", a->role, n);
		free(q);
		return -1;
	}
	tu_pattern(a->tx_seed, a->tx_len, buf, n);
	if (kind == SK_REF)
		q->ref = buf;
	if (kind == SK_COPY)
		rc = tlsio_send(a->conn, buf, n);
	else
		rc = tlsio_send_ex(a->conn, &q->req, buf, n, kind == SK_REF ? TLSIO_SEND_REF : 0, req_done);
	if (rc != 0) {
		TU_FAIL("%s: send #%" PRIu64 " (%zu bytes, %s): %s", a->role, a->sends, n, kinds[kind],
		        tlsio_strerror(rc));
		if (kind == SK_REF)
			free(buf);
		free(q);
		return -1;
	}
	tu_sha256_update(&a->tx_sha, buf, n);
	if (kind != SK_REF)
		memset(buf, 0xEE, n); /* copied: ours again at once */
	if (a->inline_tx)
		tr_add(a, "send #%" PRIu64 " len=%zu %s", a->sends, n, kinds[kind]);
	a->tx_len += n;
	a->sends++;
	if (q != NULL)
		a->reqs++;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* callbacks: record, then run the scenario's hook */

static void cb_handshake(tlsio_conn *c, void *user)
{
	struct actor *a = user;
	tlsio_cert_info *ci = NULL;
	a->handshakes++;
	/* whom the handshake showed: the server's certificate, a client's if one was asked for */
	if (tlsio_conn_peer_cert_info(c, &ci) == 0)
		tr_add(a, "handshake peer=%s", ci->subject);
	else
		tr_add(a, "handshake");
	tlsio_cert_info_free(ci);
	if (a->on_handshake != NULL)
		a->on_handshake(a);
}

static void cb_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct actor *a = user;
	TU_CHECK(!a->paused, "%s: on_data while reading is stopped", a->role);
	if (a->rx_seed != 0 && a->rx_bad_at == UINT64_MAX) {
		size_t bad = tu_pattern_check(a->rx_seed, a->rx_len, data, len);
		if (bad != len) {
			a->rx_bad_at = a->rx_len + bad;
			TU_FAIL("%s: received stream differs from the expected one at byte %" PRIu64,
			        a->role, a->rx_bad_at);
		}
	}
	if (a->rx_cap == 0 || a->rx_len < a->rx_cap) {
		size_t n = a->rx_cap && len > a->rx_cap - a->rx_len ? (size_t)(a->rx_cap - a->rx_len) : len;
		tu_sha256_update(&a->rx_sha, data, n);
	}
	a->rx_len += len;
	if (a->pause_every) {
		a->pause_acc += len;
		if (a->pause_acc >= a->pause_every) {
			a->pause_acc = 0;
			a->paused = 1;
			tlsio_read_stop(c);
		}
	}
	if (a->on_data != NULL)
		a->on_data(a, data, len);
}

static void cb_drain(tlsio_conn *c, void *user)
{
	struct actor *a = user;
	(void)c;
	a->drain_count++;
	if (a->drains == DR_INLINE)
		tr_add(a, "drain");
}

static void cb_peer_close(tlsio_conn *c, void *user)
{
	struct actor *a = user;
	(void)c;
	tr_add(a, "peer_close");
	if (a->on_peer_close != NULL)
		a->on_peer_close(a);
	else
		act_close(a);
}

static void cb_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct actor *a = user;
	char hex[SHA_SHOWN + 1];
	a->closed++;
	TU_CHECK(a->closed == 1, "%s: on_close fired %d times", a->role, a->closed);
	TU_CHECK(a->completions == a->reqs, "%s: on_close with %" PRIu64 " of %" PRIu64
	         " completions fired", a->role, a->completions, a->reqs);
	a->status = status;
	a->alert = alert;
	a->stats.struct_size = sizeof(a->stats);
	tlsio_conn_stats(c, &a->stats);
	a->conn = NULL;
	tr_add(a, "close status=%s alert=%s", status_name(status),
	       alert == TLSIO_ALERT_NONE ? "none" : tlsio_alert_name(alert));
	{
		const char *why = NULL;
		int ce = tlsio_conn_cert_error(c, &why);
		if (ce != TLSIO_CERT_OK)
			tr_add(a, "certificate refused: %s", why);
	}
	/* summaries: what is deterministic about the events whose position is not */
	if (a->drains == DR_COUNT)
		tr_add(a, "drains: %u", a->drain_count);
	if (!a->inline_tx && a->reqs > 0) {
		char line[200];
		size_t off = (size_t)snprintf(line, sizeof(line), "completions: %" PRIu64 " in order:", a->reqs);
		for (uint64_t i = 0; i < a->reqs && off < sizeof(line);) {
			uint64_t j = i;
			while (j < a->reqs && a->compl_status[j] == a->compl_status[i])
				j++;
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s x%" PRIu64,
			                        status_name(a->compl_status[i]), j - i);
			i = j;
		}
		tr_add(a, "%s", line);
	}
	if (a->tx_len > 0) {
		sha_prefix(&a->tx_sha, hex, sizeof(hex));
		tr_add(a, "sent total=%" PRIu64 " sha256=%s", a->tx_len, hex);
	}
}

static const tlsio_callbacks actor_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cb_handshake,
	.on_data = cb_data,
	.on_drain = cb_drain,
	.on_peer_close = cb_peer_close,
	.on_close = cb_close,
};

static const tlsio_callbacks actor_cb_no_peer_close = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cb_handshake,
	.on_data = cb_data,
	.on_drain = cb_drain,
	.on_close = cb_close,
};

/* ---------------------------------------------------------------------------------------- */
/* the two threads */

/* The application's loop of an "-app" mode: an ev_loop or a uv_loop_t the test runs itself. */
struct app_loop {
	int kind; /* APP_NONE, APP_EV, APP_UV */
	void *evl;
	void *uvl;
};

static int loop_open(struct actor *a, const struct mode *m, struct app_loop *app)
{
	const char *why = NULL;
	int rc;
	memset(app, 0, sizeof(*app));
	app->kind = m->app;
#ifdef TLSIO_HAVE_LIBEV
	if (m->app == APP_EV) {
		app->evl = ev_loop_new(EVFLAG_AUTO);
		if (app->evl == NULL) {
			TU_FAIL("%s: ev_loop_new failed", a->role);
			return -1;
		}
		rc = tlsio_loop_new_ev(&a->loop, app->evl);
	} else
#endif
#ifdef TLSIO_HAVE_LIBUV
	if (m->app == APP_UV) {
		app->uvl = malloc(sizeof(uv_loop_t));
		if (app->uvl == NULL || uv_loop_init(app->uvl) != 0) {
			free(app->uvl);
			app->uvl = NULL;
			TU_FAIL("%s: uv_loop_init failed", a->role);
			return -1;
		}
		rc = tlsio_loop_new_uv(&a->loop, app->uvl);
	} else
#endif
		rc = tlsio_loop_new(&a->loop, m->b);
	if (rc < 0) {
		TU_FAIL("%s: loop on %s: %s", a->role, m->label, tlsio_strerror(rc));
		return rc;
	}
	tu_loop_register(a->loop);
	if (a->plain) {
		a->opts.flags |= TLSIO_CONN_PLAIN;
		if (!a->starttls)
			return 0;
	}
	rc = tlsio_tls_config_new(&a->cfg, a->is_server, &a->tls, &why);
	if (rc < 0)
		TU_FAIL("%s: TLS config: %s (%s)", a->role, tlsio_strerror(rc), why ? why : "");
	return rc;
}

static void loop_close(struct actor *a, struct app_loop *app)
{
	if (a->listener != NULL)
		tlsio_listener_close(a->listener);
	a->listener = NULL;
	if (a->loop != NULL) {
		tu_loop_unregister(a->loop);
		tlsio_loop_free(a->loop);
	}
	a->loop = NULL;
#ifdef TLSIO_HAVE_LIBEV
	if (app->evl != NULL)
		ev_loop_destroy(app->evl);
#endif
#ifdef TLSIO_HAVE_LIBUV
	if (app->uvl != NULL) {
		/* the library's close callbacks; then nothing of it may be left on the loop */
		int alive = uv_run(app->uvl, UV_RUN_DEFAULT), rc = uv_loop_close(app->uvl);
		TU_CHECK(alive == 0 && rc == 0, "%s: after tlsio_loop_free: uv_run %d, uv_loop_close %s",
		         a->role, alive, rc == 0 ? "0" : uv_strerror(rc));
		if (rc == 0)
			free(app->uvl);
	}
#endif
	memset(app, 0, sizeof(*app));
	tlsio_tls_config_free(a->cfg);
	a->cfg = NULL;
}

/* Turns until the actor's connection ended. */
static void drive(struct actor *a, const struct app_loop *app)
{
	while (!tu_aborted() && !(a->closed && (!a->is_server || a->accepted))) {
#ifdef TLSIO_HAVE_LIBEV
		if (app->evl != NULL) {
			ev_run(app->evl, EVRUN_ONCE);
		} else
#endif
#ifdef TLSIO_HAVE_LIBUV
		if (app->uvl != NULL) {
			(void)uv_run(app->uvl, UV_RUN_ONCE);
		} else
#endif
		{
			int rc = tlsio_loop_run(a->loop, TLSIO_RUN_ONCE);
			if (rc < 0) {
				TU_FAIL("%s: tlsio_loop_run: %s", a->role, tlsio_strerror(rc));
				return;
			}
		}
		if (a->paused && a->conn != NULL) {
			a->paused = 0;
			tlsio_read_start(a->conn);
		}
	}
}

static void on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct actor *a = user;
	(void)l;
	if (a->accepted++) {
		TU_FAIL("server: a second connection");
		tlsio_abort(c);
		return;
	}
	a->conn = c;
	tlsio_conn_set_user(c, a);
	/* one connection per run: the listener has done its job */
	tlsio_listener_close(a->listener);
	a->listener = NULL;
}

static void server_main(void *arg)
{
	struct run *r = arg;
	struct actor *a = &r->server;
	struct app_loop app;
	tlsio_conn_opts o = a->opts;
	int rc = loop_open(a, r->mode, &app);
	o.cb = a->no_peer_close_cb ? &actor_cb_no_peer_close : &actor_cb;
	o.user = a;
	if (rc == 0) {
		o.flags = a->opts.flags;
		rc = tlsio_listen(a->loop, r->listen_addr[0] ? r->listen_addr : "127.0.0.1:0",
		                  a->plain ? NULL : a->cfg, &o, on_accept, a, &a->listener);
		TU_CHECK(rc == 0, "server: tlsio_listen: %s", tlsio_strerror(rc));
	}
	if (rc == 0)
		rc = tlsio_listener_addr(a->listener, r->addr, sizeof(r->addr));
	if (rc == 0 && r->by_name)
		snprintf(r->addr, sizeof(r->addr), "localhost:%d", tlsio_listener_port(a->listener));
	atomic_store(&r->addr_state, rc == 0 ? 1 : -1);
	if (rc == 0)
		drive(a, &app);
	loop_close(a, &app);
}

static void client_main(void *arg)
{
	struct run *r = arg;
	struct actor *a = &r->client;
	struct app_loop app;
	tlsio_conn_opts o = a->opts;
	int rc;
	while (atomic_load(&r->addr_state) == 0 && !tu_aborted())
		tu_sleep_ms(1);
	if (atomic_load(&r->addr_state) != 1)
		return;
	rc = loop_open(a, r->mode, &app);
	o.cb = a->no_peer_close_cb ? &actor_cb_no_peer_close : &actor_cb;
	o.user = a;
	if (rc == 0) {
		o.flags = a->opts.flags;
		rc = tlsio_connect(a->loop, r->addr, a->plain ? NULL : a->cfg, &o, &a->conn);
		TU_CHECK(rc == 0, "client: tlsio_connect(%s): %s", r->addr, tlsio_strerror(rc));
	}
	if (rc == 0)
		drive(a, &app);
	loop_close(a, &app);
}

static void actor_init(struct actor *a, struct run *r, const char *role, int is_server)
{
	memset(a, 0, sizeof(*a));
	a->run = r;
	a->role = role;
	a->is_server = is_server;
	a->status = 1;
	a->alert = TLSIO_ALERT_NONE;
	a->rx_bad_at = UINT64_MAX;
	a->drains = DR_NONE;
	tu_sha256_init(&a->rx_sha);
	tu_sha256_init(&a->tx_sha);
	a->tls = (tlsio_tls_opts)TLSIO_TLS_OPTS_INIT;
	a->opts = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	if (is_server) {
		a->tls.cert_file = tu_cert("server.pem");
		a->tls.key_file = tu_cert("server.key");
	} else {
		a->tls.ca_file = tu_cert("ca.pem");
		a->opts.server_name = "localhost";
	}
}

static void actor_release(struct actor *a)
{
	for (size_t i = 0; i < a->nlines; i++)
		free(a->lines[i]);
	free(a->lines);
	free(a->compl_status);
	free(a->scratch);
	a->lines = NULL;
	a->nlines = 0;
}

static void run_describe(void *arg)
{
	struct run *r = arg;
	const struct actor *as[2] = {&r->server, &r->client};
	for (int i = 0; i < 2; i++) {
		const struct actor *a = as[i];
		tu_log("[%s] %s: handshakes=%d closed=%d rx=%" PRIu64 " tx=%" PRIu64 " sends=%" PRIu64
		       " completions=%" PRIu64 "/%" PRIu64 " paused=%d conn=%s", r->mode->label, a->role,
		       a->handshakes, a->closed, a->rx_len, a->tx_len, a->sends, a->completions, a->reqs,
		       a->paused, a->conn != NULL ? "open" : "none");
	}
}

/* ---------------------------------------------------------------------------------------- */
/* scenarios */

struct scenario {
	const char *name;
	const char *what;
	void (*setup)(struct run *r);
	void (*check)(const struct run *r); /* the run's own expectations (statuses, streams) */
};

#define SEED_C 0xC7C11E47ull
#define SEED_S 0xC75E7E40ull

static void expect_status(const struct actor *a, const char *label, int want)
{
	TU_CHECK(a->status == want, "[%s] %s ended with %s (%s), expected %s", label, a->role,
	         status_name(a->status), tlsio_strerror(a->status), status_name(want));
}

/* @p rx received exactly the whole stream @p tx sent. */
static void expect_stream(const struct actor *tx, const struct actor *rx, const char *label)
{
	TU_CHECK(rx->rx_len == tx->tx_len, "[%s] %s received %" PRIu64 " bytes, %s sent %" PRIu64,
	         label, rx->role, rx->rx_len, tx->role, tx->tx_len);
	TU_CHECK(rx->rx_bad_at == UINT64_MAX, "[%s] %s: stream corrupt from byte %" PRIu64, label,
	         rx->role, rx->rx_bad_at);
}

static void expect_clean(const struct run *r)
{
	expect_status(&r->client, r->mode->label, 0);
	expect_status(&r->server, r->mode->label, 0);
	expect_stream(&r->client, &r->server, r->mode->label);
}

/* 1. many small sends, all in one turn, then close */
static void small_handshake(struct actor *a)
{
	tu_rng_seed(&a->rng, a->tx_seed);
	for (int i = 0; i < 20000; i++)
		if (act_send(a, tu_rng_size(&a->rng, 1, 100), i % 500 == 499 ? SK_COPY_COMPL : SK_COPY) < 0)
			return;
	act_close(a);
}

static void setup_many_small(struct run *r)
{
	r->client.on_handshake = small_handshake;
	/* one drain: the queue empties once, when close_notify (queued behind the data) is out */
	r->client.drains = DR_INLINE;
	r->server.rx_seed = SEED_C;
}

/* 2. one 64 MiB send (by reference), tiny socket buffers, a reader that pauses */
static void big_handshake(struct actor *a)
{
	if (act_send(a, 64 * TU_MIB, SK_REF) == 0)
		act_close(a);
}

/* Bulk scenarios close right after queuing tens of MiB: on a loaded machine that can take
 * longer than the 5 s default linger, which would end the close early. A stall still fails:
 * the run's watchdog is the limit. */
static void long_linger(struct run *r)
{
	r->client.opts.linger_ms = RUN_WATCHDOG_MS;
	r->server.opts.linger_ms = RUN_WATCHDOG_MS;
}

static void setup_one_64m(struct run *r)
{
	long_linger(r);
	r->client.on_handshake = big_handshake;
	r->client.opts.sndbuf = 64 * 1024;
	r->client.drains = DR_INLINE;
	r->server.opts.rcvbuf = 64 * 1024;
	r->server.rx_seed = SEED_C;
	r->server.pause_every = 8 * TU_MIB;
}

/* 3. interleaved sends and reads: lockstep echo, the next send when the last echo is back.
 * Sends fit one record, so a send's completion (the record is in the kernel) precedes its
 * echo on every backend. The server's echo queue empties an undetermined number of times:
 * its drains are not recorded. */
#define LOCKSTEP_TOTAL (2 * TU_MIB)

static void lockstep_next(struct actor *a)
{
	if (a->tx_len >= LOCKSTEP_TOTAL) {
		act_close(a);
		return;
	}
	(void)act_send(a, tu_rng_size(&a->rng, 1, 16384), SK_COPY_COMPL);
}

static void lockstep_handshake(struct actor *a)
{
	tu_rng_seed(&a->rng, a->tx_seed);
	lockstep_next(a);
}

static void lockstep_data(struct actor *a, const uint8_t *data, size_t len)
{
	(void)data;
	TU_CHECK(a->rx_len <= a->tx_len, "client: %" PRIu64 " bytes echoed, only %" PRIu64 " sent",
	         a->rx_len, a->tx_len);
	if (len > 0 && a->rx_len == a->tx_len)
		lockstep_next(a);
}

static void echo_data(struct actor *a, const uint8_t *data, size_t len)
{
	int rc = tlsio_send(a->conn, data, len);
	TU_CHECK(rc == 0, "server: echo of %zu bytes: %s", len, tlsio_strerror(rc));
	a->tx_len += len;
}

static void setup_interleaved(struct run *r)
{
	r->client.on_handshake = lockstep_handshake;
	r->client.on_data = lockstep_data;
	r->client.inline_tx = 1;
	r->client.drains = DR_INLINE;
	r->client.rx_seed = SEED_C;
	r->server.on_data = echo_data;
	r->server.rx_seed = SEED_C;
}

static void check_interleaved(const struct run *r)
{
	expect_clean(r);
	TU_CHECK(r->client.rx_len == r->client.tx_len, "[%s] client: %" PRIu64 " of %" PRIu64
	         " bytes echoed", r->mode->label, r->client.rx_len, r->client.tx_len);
}

/* 4. the peer closes (close_notify) in the middle of the stream: the server has read 1 MiB of
 * 8 MiB and calls tlsio_close; the client sees on_peer_close, closes too and its remaining data
 * still goes out (the server drops it). With 64 KiB socket buffers the client cannot have sent
 * everything by then on an event backend; the blocking backend, which cannot read while it
 * blocks in a send, empties its queue before it reads the close_notify. So the client's one
 * drain comes after on_peer_close on event backends and before it on the blocking one, and is
 * recorded as a count. Its completions likewise straddle on_peer_close: a summary. */
#define MIDSTREAM_TOTAL (8 * TU_MIB)
#define MIDSTREAM_CUT TU_MIB

static void midstream_handshake(struct actor *a)
{
	for (uint64_t off = 0; off < MIDSTREAM_TOTAL; off += 64 * TU_KIB)
		if (act_send(a, 64 * TU_KIB, SK_COPY_COMPL) < 0)
			return;
}

static void midstream_server_data(struct actor *a, const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
	if (a->rx_len >= MIDSTREAM_CUT && !a->mark) {
		a->mark = 1;
		act_close(a);
	}
}

static void setup_peer_close_midstream(struct run *r)
{
	r->client.on_handshake = midstream_handshake;
	r->client.opts.sndbuf = 64 * 1024;
	r->client.drains = DR_COUNT;
	r->server.opts.rcvbuf = 64 * 1024;
	r->server.on_data = midstream_server_data;
	r->server.rx_cap = MIDSTREAM_CUT;
	r->server.rx_seed = SEED_C;
}

static void check_peer_close_midstream(const struct run *r)
{
	expect_status(&r->client, r->mode->label, 0);
	expect_status(&r->server, r->mode->label, 0);
	TU_CHECK(r->server.rx_len >= MIDSTREAM_CUT, "[%s] server got %" PRIu64 " bytes",
	         r->mode->label, r->server.rx_len);
	TU_CHECK(r->client.tx_len == MIDSTREAM_TOTAL, "[%s] client sent %" PRIu64, r->mode->label,
	         r->client.tx_len);
}

/* 5. the peer vanishes in the middle of the stream: the server sends 1 MiB and, once its
 * completion says it is all in the kernel, shuts the socket's write side under the library
 * (FIN, no close_notify), as a crashing peer would. The client, still reading, must report
 * truncation after exactly that 1 MiB; its close then ends the server with truncation too. */
static void vanish_handshake(struct actor *a)
{
	(void)act_send(a, TU_MIB, SK_COPY_COMPL);
}

static void vanish_complete(struct actor *a, uint64_t seq, int status)
{
	if (seq == 0 && status == 0 && a->conn != NULL)
		TU_CHECK(shutdown(tlsio_conn_fd(a->conn), SHUT_WR) == 0, "shutdown: %s", strerror(errno));
}

static void setup_peer_vanishes(struct run *r)
{
	r->server.on_handshake = vanish_handshake;
	r->server.on_complete = vanish_complete;
	r->server.tx_seed = SEED_S;
	r->server.inline_tx = 1;
	r->client.rx_seed = SEED_S;
}

static void check_peer_vanishes(const struct run *r)
{
	expect_status(&r->client, r->mode->label, TLSIO_E_TRUNCATED);
	expect_status(&r->server, r->mode->label, TLSIO_E_TRUNCATED);
	expect_stream(&r->server, &r->client, r->mode->label);
}

/* 6. graceful close with queued data: 16 MiB of mixed sends, then tlsio_close in the same turn;
 * the server has no on_peer_close (the library answers close_notify by itself) and pauses
 * reading every 2 MiB. */
static void queued_handshake(struct actor *a)
{
	tu_rng_seed(&a->rng, a->tx_seed);
	for (int i = 0; a->tx_len < 16 * TU_MIB; i++) {
		size_t n = tu_rng_size(&a->rng, TU_KIB, TU_MIB);
		if (n > 16 * TU_MIB - a->tx_len)
			n = (size_t)(16 * TU_MIB - a->tx_len);
		if (act_send(a, n, (enum send_kind)(i % 3)) < 0)
			return;
	}
	act_close(a);
}

static void setup_graceful_close_queued(struct run *r)
{
	long_linger(r);
	r->client.on_handshake = queued_handshake;
	r->client.drains = DR_INLINE;
	r->server.no_peer_close_cb = 1;
	r->server.pause_every = 2 * TU_MIB;
	r->server.rx_seed = SEED_C;
}

/* 7. handshake failures: the client does not trust the server's CA; no version in common */
static void setup_hs_fail_verify(struct run *r)
{
	r->client.tls.ca_file = tu_cert("other-ca.pem");
	r->client.on_handshake = small_handshake; /* never runs */
}

static void setup_hs_fail_version(struct run *r)
{
	r->client.tls.min_version = r->client.tls.max_version = TLSIO_TLS_1_2;
	r->server.tls.min_version = r->server.tls.max_version = TLSIO_TLS_1_3;
}

static void check_hs_fail(const struct run *r)
{
	TU_CHECK(r->client.handshakes == 0 && r->server.handshakes <= 1, "[%s] handshakes %d/%d",
	         r->mode->label, r->client.handshakes, r->server.handshakes);
	TU_CHECK(r->client.status < 0 && r->server.status < 0, "[%s] statuses %d/%d", r->mode->label,
	         r->client.status, r->server.status);
	TU_CHECK(r->client.alert != TLSIO_ALERT_NONE, "[%s] client: no alert", r->mode->label);
}

/* 8. the client checks whom it talks to: a same-CA certificate for another name, at the
 * address 127.0.0.1 (no server_name: the address is the identity); and mutual TLS */
static void setup_hs_fail_name(struct run *r)
{
	r->server.tls.cert_file = tu_cert("evil.pem");
	r->client.opts.server_name = NULL;
	r->client.on_handshake = small_handshake; /* never runs */
}

static void check_name_fail(const struct run *r)
{
	check_hs_fail(r);
	TU_CHECK(r->client.status == TLSIO_E_CERT_VERIFY && r->client.alert == TLSIO_ALERT_BAD_CERTIFICATE,
	         "[%s] client %s alert %d", r->mode->label, status_name(r->client.status), r->client.alert);
	TU_CHECK(r->server.status == TLSIO_E_ALERT_RECEIVED &&
	             r->server.alert == TLSIO_ALERT_BAD_CERTIFICATE,
	         "[%s] server %s alert %d", r->mode->label, status_name(r->server.status), r->server.alert);
}

static void setup_mutual_tls(struct run *r)
{
	r->server.tls.verify = TLSIO_VERIFY_REQUIRED;
	r->server.tls.ca_file = tu_cert("ca.pem");
	r->client.tls.cert_file = tu_cert("client.pem");
	r->client.tls.key_file = tu_cert("server.key");
	r->client.opts.server_name = NULL;
	setup_many_small(r);
}

static void check_verify_fail(const struct run *r)
{
	check_hs_fail(r);
	TU_CHECK(r->client.status == TLSIO_E_CERT_VERIFY || r->client.status == TLSIO_E_TLS,
	         "[%s] client status %s", r->mode->label, status_name(r->client.status));
	TU_CHECK(r->server.handshakes == 0, "[%s] server: on_handshake with a client that rejected it",
	         r->mode->label);
}

/* 9. the loop's own events, in causal order (each one starts the next, so the order is the
 * same on every backend whatever the timing): on the server's handshake a 10 ms timer; it
 * starts a thread that posts a task; the task writes to a pipe the loop watches; the watch
 * reads it and starts a 2 ms repeating timer; its third expiry sends 1000 bytes and posts an
 * embedded task from the loop's thread, which drains the loop: the connection closes
 * gracefully and the drain reports. */
struct loop_events {
	struct actor *a;
	tlsio_timer *once, *rep;
	tlsio_watch *watch;
	tlsio_task task;
	int pipe[2];
	int reps;
	pthread_t poster;
	int poster_started;
	uint64_t once_started;
};
static struct loop_events g_le; /* one run at a time */

static void le_drained(tlsio_loop *loop, size_t aborted, void *user)
{
	struct loop_events *le = user;
	(void)loop;
	tr_add(le->a, "drain done: aborted=%zu connections=%zu", aborted, tlsio_loop_conn_count(loop));
	tlsio_watch_free(le->watch);
	le->watch = NULL;
	close(le->pipe[0]);
	close(le->pipe[1]);
	if (le->poster_started)
		pthread_join(le->poster, NULL);
	tlsio_timer_free(le->once);
	tlsio_timer_free(le->rep);
	le->once = le->rep = NULL;
}

static void le_embedded(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct loop_events *le = task->data;
	TU_CHECK(loop == le->a->loop, "the task ran with another loop");
	tr_add(le->a, "task (embedded, posted on the loop) status=%s", status_name(status));
	TU_CHECK(tlsio_loop_drain(le->a->loop, 5000, le_drained, le) == 0, "tlsio_loop_drain failed");
}

static void le_rep(tlsio_timer *t, void *user)
{
	struct loop_events *le = user;
	tr_add(le->a, "timer 2 ms repeating: expiry %d", ++le->reps);
	if (le->reps < 3)
		return;
	tlsio_timer_stop(t);
	(void)act_send(le->a, 1000, SK_COPY);
	le->task.data = le;
	TU_CHECK(tlsio_loop_post_task(le->a->loop, &le->task, le_embedded) == 0, "post_task failed");
}

static void le_watch(tlsio_watch *w, int fd, unsigned revents, void *user)
{
	struct loop_events *le = user;
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));
	tr_add(le->a, "watch: revents=%s%s, read %zd bytes", revents & TLSIO_READABLE ? "readable" : "",
	       revents & TLSIO_HANGUP ? "+hangup" : "", n);
	/* level-triggered: nothing left to read, so no second report; stop watching anyway */
	TU_CHECK(tlsio_watch_set(w, 0) == 0, "tlsio_watch_set failed");
	TU_CHECK(tlsio_timer_start(le->rep, 2, 2) == 0, "timer start failed");
}

static void le_task(tlsio_loop *loop, void *arg, int status)
{
	struct loop_events *le = arg;
	(void)loop;
	tr_add(le->a, "task (posted from another thread) status=%s", status_name(status));
	TU_CHECK(write(le->pipe[1], "abc", 3) == 3, "write to the pipe failed");
}

static void *le_poster(void *arg)
{
	struct loop_events *le = arg;
	TU_CHECK(tlsio_loop_post(le->a->loop, le_task, le) == 0, "tlsio_loop_post failed");
	return NULL;
}

static void le_once(tlsio_timer *t, void *user)
{
	struct loop_events *le = user;
	(void)t;
	TU_CHECK(tu_now_ms() >= le->once_started + 10, "the 10 ms timer fired after %" PRIu64 " ms",
	         tu_now_ms() - le->once_started);
	tr_add(le->a, "timer 10 ms: expired");
	le->poster_started = pthread_create(&le->poster, NULL, le_poster, le) == 0;
	TU_CHECK(le->poster_started, "pthread_create failed");
}

static void le_handshake(struct actor *a)
{
	struct loop_events *le = &g_le;
	memset(le, 0, sizeof(*le));
	le->a = a;
	le->pipe[0] = le->pipe[1] = -1;
	TU_CHECK(pipe2(le->pipe, O_NONBLOCK | O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
	TU_CHECK(tlsio_timer_new(a->loop, le_once, le, &le->once) == 0, "timer_new failed");
	TU_CHECK(tlsio_timer_new(a->loop, le_rep, le, &le->rep) == 0, "timer_new failed");
	TU_CHECK(tlsio_watch_new(a->loop, le->pipe[0], TLSIO_READABLE, le_watch, le, &le->watch) == 0,
	         "watch_new failed");
	le->once_started = tu_now_ms();
	TU_CHECK(tlsio_timer_start(le->once, 10, 0) == 0, "timer start failed");
	tr_add(a, "started: a 10 ms timer, a watch on a pipe");
}

static void setup_loop_events(struct run *r)
{
	r->server.on_handshake = le_handshake;
	r->client.rx_seed = SEED_S;
}

static void check_loop_events(const struct run *r)
{
	expect_clean(r);
	expect_stream(&r->server, &r->client, r->mode->label);
	TU_CHECK(g_le.reps == 3 && g_le.watch == NULL, "[%s] repeating timer %d expiries, watch %s",
	         r->mode->label, g_le.reps, g_le.watch ? "left" : "freed");
}

/* 12. the lockstep echo of 3., plain, over a Unix socket in the abstract namespace */
static void setup_plain_unix(struct run *r)
{
	static atomic_uint n;
	setup_interleaved(r);
	r->client.plain = r->server.plain = 1;
	snprintf(r->listen_addr, sizeof(r->listen_addr), "unix:@tlsio-compare-%d-%u", (int)getpid(),
	         atomic_fetch_add(&n, 1));
}

/* 13. STARTTLS, the client connecting by name: plain until "STARTTLS\r\n" / "220 go\r\n",
 * then TLS; the many small sends of 1. over it. The server's first bytes are the command. */
static void stls_server_data(struct actor *a, const uint8_t *data, size_t len)
{
	int rc;
	(void)data;
	if (a->mark)
		return;
	TU_CHECK(len == 10 && memcmp(data, "STARTTLS\r\n", 10) == 0, "server: expected STARTTLS");
	a->mark = 1;
	tr_add(a, "got STARTTLS: 220, then the switch");
	TU_CHECK(tlsio_send(a->conn, "220 go\r\n", 8) == 0, "server: send 220");
	rc = tlsio_starttls(a->conn, a->cfg);
	TU_CHECK(rc == 0, "server: tlsio_starttls: %s", tlsio_strerror(rc));
}

static void stls_client_data(struct actor *a, const uint8_t *data, size_t len)
{
	int rc;
	if (a->mark != 1)
		return;
	TU_CHECK(len == 8 && memcmp(data, "220 go\r\n", 8) == 0, "client: expected 220");
	a->mark = 2;
	tr_add(a, "got 220: the switch");
	rc = tlsio_starttls(a->conn, a->cfg);
	TU_CHECK(rc == 0, "client: tlsio_starttls: %s", tlsio_strerror(rc));
}

static void stls_client_handshake(struct actor *a)
{
	if (a->handshakes == 1) {
		tr_add(a, "connected: %s, sending STARTTLS", tlsio_conn_is_tls(a->conn) ? "TLS" : "plain");
		TU_CHECK(tlsio_send(a->conn, "STARTTLS\r\n", 10) == 0, "client: send STARTTLS");
		a->mark = 1;
		return;
	}
	small_handshake(a);
}

static void setup_starttls(struct run *r)
{
	r->by_name = 1;
	r->client.plain = r->client.starttls = 1;
	r->server.plain = r->server.starttls = 1;
	r->client.on_handshake = stls_client_handshake;
	r->client.on_data = stls_client_data;
	r->server.on_data = stls_server_data;
	r->client.drains = DR_COUNT;
}

static void check_starttls(const struct run *r)
{
	expect_status(&r->client, r->mode->label, 0);
	expect_status(&r->server, r->mode->label, 0);
	TU_CHECK(r->client.handshakes == 2 && r->server.handshakes == 2, "[%s] handshakes %d/%d",
	         r->mode->label, r->client.handshakes, r->server.handshakes);
	TU_CHECK(r->server.rx_len == 10 + r->client.tx_len, "[%s] server received %" PRIu64
	         ", client sent 10 + %" PRIu64, r->mode->label, r->server.rx_len, r->client.tx_len);
}

static const struct scenario scenarios[] = {
	{"many_small_sends", "20000 sends of 1-100 bytes in one turn (40 with completions), then close",
	 setup_many_small, expect_clean},
	{"one_64mib_send", "one 64 MiB by-reference send, 64 KiB socket buffers, reader pausing every "
	 "8 MiB", setup_one_64m, expect_clean},
	{"interleaved", "lockstep echo of 2 MiB in sends of 1-16384 bytes", setup_interleaved,
	 check_interleaved},
	{"peer_close_midstream", "server tlsio_close after 1 MiB of 8 MiB", setup_peer_close_midstream,
	 check_peer_close_midstream},
	{"peer_vanishes_midstream", "server FIN without close_notify after 1 MiB",
	 setup_peer_vanishes, check_peer_vanishes},
	{"graceful_close_queued", "16 MiB of mixed sends then close; library answers close_notify",
	 setup_graceful_close_queued, expect_clean},
	{"handshake_fail_verify", "client does not trust the server's CA", setup_hs_fail_verify,
	 check_verify_fail},
	{"handshake_fail_version", "client TLS 1.2 only, server TLS 1.3 only", setup_hs_fail_version,
	 check_hs_fail},
	{"handshake_fail_name", "same-CA certificate for evil.example at 127.0.0.1", setup_hs_fail_name,
	 check_name_fail},
	{"mutual_tls", "the server requires a client certificate; many small sends, close",
	 setup_mutual_tls, expect_clean},
	{"loop_events", "timer, task from a thread, fd watch, repeating timer, embedded task, drain",
	 setup_loop_events, check_loop_events},
	{"plain_unix_interleaved", "the lockstep echo, plain, over a Unix socket (abstract name)",
	 setup_plain_unix, check_interleaved},
	{"starttls_by_name", "plain to localhost:PORT by name, STARTTLS both ways, 20000 small "
	 "sends over TLS", setup_starttls, check_starttls},
};
#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---------------------------------------------------------------------------------------- */
/* running and comparing */

static uint64_t run_progress(void *arg, char *buf, size_t len)
{
	const struct run *r = arg;
	snprintf(buf, len, "server received %" PRIu64 ", sent %" PRIu64 "%s; client received %" PRIu64
	         ", sent %" PRIu64 "%s", r->server.rx_len, r->server.tx_len,
	         r->server.closed ? " (closed)" : "", r->client.rx_len, r->client.tx_len,
	         r->client.closed ? " (closed)" : "");
	return r->server.rx_len + r->server.tx_len + r->client.rx_len + r->client.tx_len +
	       (uint64_t)(r->server.closed + r->client.closed + r->server.accepted);
}

static struct run *run_scenario(const struct scenario *sc, const struct mode *m)
{
	struct run *r = calloc(1, sizeof(*r));
	const tu_thread_fn fns[2] = {server_main, client_main};
	void *const args[2] = {r, r};
	uint64_t t0 = tu_now_ms();
	int rc;
	if (r == NULL)
		return NULL;
	r->mode = m;
	actor_init(&r->server, r, "server", 1);
	actor_init(&r->client, r, "client", 0);
	r->client.tx_seed = SEED_C;
	r->server.tx_seed = SEED_S;
	sc->setup(r);
	rc = tu_run_threads_ex(2, fns, args, RUN_WATCHDOG_MS, run_describe, r, run_progress);
	if (rc == -2)
		return NULL; /* threads still use r: leak it */
	tu_log("[%s] %s: %" PRIu64 " ms; client writes=%" PRIu64 " short=%" PRIu64 " eagain=%" PRIu64
	       " reads=%" PRIu64 "; server writes=%" PRIu64 " reads=%" PRIu64, m->label, sc->name,
	       tu_now_ms() - t0, r->client.stats.write_calls, r->client.stats.short_writes,
	       r->client.stats.eagain, r->client.stats.read_calls, r->server.stats.write_calls,
	       r->server.stats.read_calls);
	if (rc == 0)
		sc->check(r);
	return r;
}

static void run_free(struct run *r)
{
	if (r == NULL)
		return;
	actor_release(&r->server);
	actor_release(&r->client);
	free(r);
}

/* Long transcripts (the lockstep echo has thousands of lines) are shown by head and tail. */
#define SHOW_HEAD 24
#define SHOW_TAIL 8
#define DIFF_CONTEXT 3
#define DIFF_MAX_SHOWN 60

static void print_transcript(const char *label, const struct actor *a)
{
	tu_log("  %s/%s (%zu events):", label, a->role, a->nlines);
	for (size_t i = 0; i < a->nlines; i++) {
		if (i == SHOW_HEAD && a->nlines > SHOW_HEAD + SHOW_TAIL) {
			tu_log("    ... (%zu more)", a->nlines - SHOW_HEAD - SHOW_TAIL);
			i = a->nlines - SHOW_TAIL;
		}
		tu_log("    %s", a->lines[i]);
	}
}

static const char *line_at(const struct actor *a, size_t i)
{
	return i < a->nlines ? a->lines[i] : "(nothing)";
}

/* The two transcripts side by side around each difference, '!' on differing lines.
 * @return the number of differing lines. */
static int diff_actor(const char *la, const struct actor *a, const char *lb, const struct actor *b)
{
	size_t n = a->nlines > b->nlines ? a->nlines : b->nlines, last = SIZE_MAX;
	int diffs = 0, shown = 0;
	for (size_t i = 0; i < n; i++)
		diffs += strcmp(line_at(a, i), line_at(b, i)) != 0;
	if (diffs == 0)
		return 0;
	tu_log("  %s transcript differs in %d line(s): %s (%zu events, left) vs %s (%zu events, right):",
	       a->role, diffs, la, a->nlines, lb, b->nlines);
	for (size_t i = 0; i < n && shown < DIFF_MAX_SHOWN; i++) {
		size_t lo = i > DIFF_CONTEXT ? i - DIFF_CONTEXT : 0;
		if (strcmp(line_at(a, i), line_at(b, i)) == 0)
			continue;
		if (last != SIZE_MAX && lo > last + 1)
			tu_log("    ...");
		for (size_t j = last == SIZE_MAX || lo > last ? lo : last + 1;
		     j <= i + DIFF_CONTEXT && j < n && shown < DIFF_MAX_SHOWN; j++, shown++) {
			int same = strcmp(line_at(a, j), line_at(b, j)) == 0;
			tu_log("  %c %-4zu %-60s | %s", same ? ' ' : '!', j, line_at(a, j),
			       same ? "" : line_at(b, j));
			last = j;
		}
	}
	return diffs;
}

START_TEST(test_scenario)
{
	const struct scenario *sc = &scenarios[_i];
	struct run *runs[MAX_MODES] = {NULL};
	char mismatched[256] = "";
	int failures_before;
	tu_reset_failures();
	tu_log("=== scenario %s: %s", sc->name, sc->what);
	for (size_t m = 0; m < g_nmodes; m++) {
		failures_before = tu_failed();
		runs[m] = run_scenario(sc, &g_modes[m]);
		ck_assert_msg(runs[m] != NULL, "[%s] %s: a thread is stuck: %s", g_modes[m].label, sc->name,
		              tu_failure());
		ck_assert_msg(tu_failed() == failures_before, "[%s] %s: %s", g_modes[m].label, sc->name,
		              tu_failure());
	}
	tu_log("reference transcript (%s):", g_modes[0].label);
	print_transcript(g_modes[0].label, &runs[0]->client);
	print_transcript(g_modes[0].label, &runs[0]->server);
	for (size_t m = 1; m < g_nmodes; m++) {
		int d = diff_actor(g_modes[0].label, &runs[0]->client, g_modes[m].label, &runs[m]->client) +
		        diff_actor(g_modes[0].label, &runs[0]->server, g_modes[m].label, &runs[m]->server);
		if (d > 0) {
			size_t off = strlen(mismatched);
			snprintf(mismatched + off, sizeof(mismatched) - off, "%s%s", off ? ", " : "",
			         g_modes[m].label);
		} else {
			tu_log("%s: same transcript as %s", g_modes[m].label, g_modes[0].label);
		}
	}
	for (size_t m = 0; m < g_nmodes; m++)
		run_free(runs[m]);
	ck_assert_msg(mismatched[0] == '\0', "%s: transcript of %s differs from %s's (diff above)",
	              sc->name, mismatched, g_modes[0].label);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static void add_mode(const char *label, const tlsio_backend *b, int app)
{
	const char *why = NULL;
	int rc = tlsio_backend_probe(b, &why);
	if (rc < 0) {
		printf("SKIP compare/%s: %s\n", label, why != NULL ? why : tlsio_strerror(rc));
		return;
	}
	if (g_nmodes == MAX_MODES)
		return;
	snprintf(g_modes[g_nmodes].label, sizeof(g_modes[0].label), "%s", label);
	g_modes[g_nmodes].b = b;
	g_modes[g_nmodes].app = app;
	g_nmodes++;
}

static int add_named(const char *name)
{
	const tlsio_backend *b;
	int app = strcmp(name, "libev-app") == 0 ? APP_EV : strcmp(name, "libuv-app") == 0 ? APP_UV : APP_NONE;
	b = tlsio_backend_by_name(app == APP_EV ? "libev" : app == APP_UV ? "libuv" : name);
	if (b == NULL || strcmp(name, "auto") == 0) {
		fprintf(stderr, "test-compare: backend \"%s\" is not compiled in (have: %s%s%s)\n", name,
		        tlsio_backend_names(), tlsio_backend_by_name("libev") ? ", libev-app" : "",
		        tlsio_backend_by_name("libuv") ? ", libuv-app" : "");
		return -1;
	}
	add_mode(name, b, app);
	return 0;
}

static int pick_modes(void)
{
	const char *env = getenv("TLSIO_BACKENDS");
	if (env != NULL && *env != '\0') {
		char *list = strdup(env), *save = NULL;
		int rc = 0;
		for (char *tok = strtok_r(list, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save))
			if (add_named(tok) < 0)
				rc = -1;
		free(list);
		return rc;
	}
	const tlsio_backend *all[MAX_MODES];
	size_t n = tlsio_backends(all, MAX_MODES);
	for (size_t i = 0; i < n && i < MAX_MODES; i++) {
		add_mode(tlsio_backend_name(all[i]), all[i], APP_NONE);
		if (strcmp(tlsio_backend_name(all[i]), "libev") == 0)
			add_mode("libev-app", all[i], APP_EV);
		if (strcmp(tlsio_backend_name(all[i]), "libuv") == 0)
			add_mode("libuv-app", all[i], APP_UV);
	}
	return 0;
}

int main(void)
{
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;
	char names[MAX_MODES * 40] = "";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pick_modes() < 0)
		return 1;
	for (size_t i = 0; i < g_nmodes; i++) {
		if (i > 0)
			strncat(names, ", ", sizeof(names) - strlen(names) - 1);
		strncat(names, g_modes[i].label, sizeof(names) - strlen(names) - 1);
	}
	if (g_nmodes < 2) {
		printf("SKIP compare: %zu runnable backend(s) (%s): nothing to compare\n", g_nmodes,
		       g_nmodes ? names : "none");
		return 77;
	}
	printf("compare: %zu scenarios on %s\n", N_SCENARIOS, names);
	s = suite_create("compare");
	for (size_t i = 0; i < N_SCENARIOS; i++) {
		/* one TCase per scenario, named after it: CK_RUN_CASE=<name> runs one */
		tc = tcase_create(scenarios[i].name);
		tcase_set_timeout(tc, 600);
		tcase_add_loop_test(tc, test_scenario, (int)i, (int)i + 1);
		suite_add_tcase(s, tc);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
