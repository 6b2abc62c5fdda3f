/* SPDX-License-Identifier: MIT */
/* tlsio-compare: one echo workload on every available backend, side by side. For each backend
 * an echo server and a client run in this process (one thread and one loop each, over
 * 127.0.0.1); the client sends a deterministic stream and checks what comes back. The table
 * shows what the contract makes equal (bytes, digests) next to what legitimately differs
 * (short writes absorbed, syscalls or submissions, time). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define PROG "tlsio-compare"
#define MAX_BACKENDS 16

enum {
	OPT_BYTES = TLSX_OPT_TOOL,
	OPT_CHUNK,
	OPT_WINDOW,
	OPT_SEED,
	OPT_TIMEOUT,
	OPT_INSECURE,
};

struct opts {
	struct tlsx_common co;
	char *backends[MAX_BACKENDS]; /* --backend names, allocated */
	int nbackends;
	uint64_t bytes, chunk, window, seed, timeout_s;
};

/* One backend's run. The server and the client each have their own loop and thread. */
struct result {
	const tlsio_backend *b;
	char info[256];
	/* client */
	uint64_t sent, echoed;
	uint8_t md_sent[TLSX_SHA256_LEN], md_echoed[TLSX_SHA256_LEN];
	int mismatch, client_status, client_alert;
	tlsio_stats cst;
	/* server */
	int server_status, server_alert, server_closed;
	tlsio_stats sst;
	/* run */
	double secs;
	int failed, timed_out;
	char error[160];
};

struct run {
	const struct opts *o;
	struct result *res;
	tlsio_tls_config *scfg, *ccfg;
	char addr[64];
	pthread_mutex_t mu;    /* guards addr_state and server_loop */
	pthread_cond_t cv;     /* addr_state left 0 */
	int addr_state;        /* 0 pending, 1 ready, -1 failed */
	tlsio_loop *server_loop; /* while it may be posted to (until it is freed) */
	tlsio_task client_done; /* posted to server_loop once the client's connection ended */
	/* client state (client thread only) */
	tlsio_conn *c;
	tlsx_prng gen, check;
	tlsx_sha256 sha_sent, sha_echoed;
	uint8_t *buf, *checkbuf;
	size_t checkbuf_cap;
	int closed, done;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --cert FILE --key FILE [--ca FILE] [options]\n"
		"\n"
		"Runs one echo workload on every available backend and prints a table. For each\n"
		"backend, an echo server and a client run in this process, over 127.0.0.1, each\n"
		"on its own loop of that backend: the client sends --bytes of a deterministic\n"
		"stream (--seed) in --chunk sends with at most --window bytes not yet echoed, and\n"
		"checks that the echo is the same stream.\n"
		"\n"
		"Columns: bytes echoed; digest: 'ok' if the echo's SHA-256 equals the sent one and\n"
		"is the same on every backend; short writes the backends absorbed, write and read\n"
		"calls (syscalls, or io_uring submissions/completions), client + server; wall time\n"
		"from connect to both ends closed; MB/s of echoed bytes.\n"
		"\n"
		"Options:\n"
		"  --backend LIST       backends to run, comma-separated (auto allowed);\n"
		"                       repeatable (default: $TLSIO_BACKEND if set, else every\n"
		"                       usable backend)\n"
		"  --cert FILE          server certificate chain (PEM, required)\n"
		"  --key FILE           its private key (required)\n"
		"  --ca FILE            CA to verify the server with; without it the client\n"
		"                       does not verify (the server is this process)\n"
		"  --bytes BYTES        bytes to echo per backend (default 64M)\n"
		"  --chunk BYTES        size of each send (default 16K)\n"
		"  --window BYTES       most bytes sent and not yet echoed (default 16K). The\n"
		"                       blocking backend cannot read while it blocks in a send:\n"
		"                       keep the window within the socket buffers on it\n"
		"  --seed N             seed of the stream (default 1)\n"
		"  --timeout SEC        per-connection idle and handshake timeout (default 30)\n"
		"%s"
		"\n"
		"Exit status: 0 if every backend echoed every byte with the same digest and\n"
		"closed cleanly, 1 otherwise, 2 on bad usage.\n",
		tlsx_common_help);
}

/* ------------------------------------------------------------------------------------------ */
/* server: echo one connection (the client's window bounds what is queued) */

static void srv_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	int rc = tlsio_send(c, data, len);
	(void)user;
	if (rc < 0 && rc != TLSIO_E_CLOSED)
		tlsio_abort(c);
}

static void srv_peer_close(tlsio_conn *c, void *user)
{
	(void)user;
	tlsio_close(c);
}

static void srv_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct run *r = user;
	r->res->server_status = status;
	r->res->server_alert = alert;
	r->res->server_closed = 1;
	r->res->sst.struct_size = sizeof(r->res->sst);
	tlsio_conn_stats(c, &r->res->sst);
}

static const tlsio_callbacks srv_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_data = srv_data,
	.on_peer_close = srv_peer_close,
	.on_close = srv_close,
};

static void srv_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	(void)c;
	(void)user;
	tlsio_listener_close(l); /* one connection per run */
}

/* After a clean close the server's on_close follows at once; if the client failed, the server
 * may wait for a peer that will not come: it is stopped then (the loop's free aborts what is
 * left), and after a clean one it gets this long. */
#define SERVER_GRACE_MS 5000

static void server_give_up(tlsio_timer *t, void *user)
{
	struct run *r = user;
	(void)t;
	tlsio_loop_stop(r->server_loop); /* from its own callback: the run returns */
}

/* On the server's loop, posted by the client's thread once its connection ended. The timer is
 * not referenced: a server connection that ends in time ends the run without it. */
static void client_done(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct run *r = task->data;
	tlsio_timer *t = NULL;
	(void)loop; /* r->server_loop */
	if (status != 0)
		return; /* the loop is being freed */
	if (r->res->failed || tlsio_timer_new(r->server_loop, server_give_up, r, &t) < 0 ||
	    tlsio_timer_start(t, SERVER_GRACE_MS, 0) < 0)
		tlsio_loop_stop(r->server_loop);
}

static void *server_main(void *arg)
{
	struct run *r = arg;
	tlsio_loop *loop = NULL;
	tlsio_listener *l = NULL;
	tlsio_conn_opts copts;
	int rc = tlsio_loop_new(&loop, r->res->b);
	if (rc == 0) {
		tlsx_conn_opts(&r->o->co, &copts);
		copts.cb = &srv_cb;
		copts.user = r;
		copts.high_water = 64u * 1024 * 1024; /* the client's window keeps the queue small */
		copts.idle_timeout_ms = (uint32_t)(r->o->timeout_s * 1000);
		copts.handshake_timeout_ms = copts.idle_timeout_ms;
		rc = tlsio_listen(loop, "127.0.0.1:0", r->scfg, &copts, srv_accept, r, &l);
	}
	if (rc == 0)
		rc = tlsio_listener_addr(l, r->addr, sizeof(r->addr));
	if (rc < 0)
		snprintf(r->res->error, sizeof(r->res->error), "server: %s", tlsio_strerror(rc));
	pthread_mutex_lock(&r->mu);
	r->server_loop = rc == 0 ? loop : NULL;
	r->addr_state = rc == 0 ? 1 : -1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	/* One connection, then the listener is closed (srv_accept): the run ends with it, or
	 * when client_done gives up on it. */
	if (rc == 0) {
		rc = tlsio_loop_run(loop, TLSIO_RUN_DEFAULT);
		if (rc < 0)
			snprintf(r->res->error, sizeof(r->res->error), "server loop: %s", tlsio_strerror(rc));
	}
	pthread_mutex_lock(&r->mu);
	r->server_loop = NULL; /* no post from here on */
	pthread_mutex_unlock(&r->mu);
	tlsio_loop_free(loop); /* aborts what is left */
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* client */

static void pump(struct run *r)
{
	const struct opts *o = r->o;
	while (r->c != NULL && !r->done && r->res->sent < o->bytes) {
		uint64_t inflight = r->res->sent - r->res->echoed;
		uint64_t n = o->bytes - r->res->sent;
		int rc;
		if (inflight >= o->window)
			return;
		if (n > o->chunk)
			n = o->chunk;
		if (n > o->window - inflight)
			n = o->window - inflight;
		tlsx_prng_fill(&r->gen, r->buf, (size_t)n);
		rc = tlsio_send(r->c, r->buf, (size_t)n);
		if (rc < 0) {
			/* the window keeps us far below high water: any refusal is an error here */
			snprintf(r->res->error, sizeof(r->res->error), "send: %s", tlsio_strerror(rc));
			r->res->failed = 1;
			tlsio_abort(r->c);
			return;
		}
		tlsx_sha256_update(&r->sha_sent, r->buf, (size_t)n);
		r->res->sent += n;
	}
}

static void cli_handshake(tlsio_conn *c, void *user)
{
	(void)c;
	pump(user);
}

static void cli_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct run *r = user;
	if (len > r->res->sent - r->res->echoed) {
		r->res->mismatch = 1;
		tlsio_close(c);
		return;
	}
	if (len > r->checkbuf_cap) {
		uint8_t *p = realloc(r->checkbuf, len);
		if (p == NULL) {
			r->res->failed = 1;
			tlsio_abort(c);
			return;
		}
		r->checkbuf = p;
		r->checkbuf_cap = len;
	}
	tlsx_prng_fill(&r->check, r->checkbuf, len);
	if (memcmp(r->checkbuf, data, len) != 0)
		r->res->mismatch = 1;
	tlsx_sha256_update(&r->sha_echoed, data, len);
	r->res->echoed += len;
	if (r->res->echoed == r->o->bytes) {
		r->done = 1;
		tlsio_close(c);
		return;
	}
	pump(r);
}

static void cli_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct run *r = user;
	r->res->client_status = status;
	r->res->client_alert = alert;
	r->res->cst.struct_size = sizeof(r->res->cst);
	tlsio_conn_stats(c, &r->res->cst);
	r->closed = 1;
	r->c = NULL;
}

static const tlsio_callbacks cli_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cli_handshake,
	.on_data = cli_data,
	.on_close = cli_close,
};

/* Set by compare_stop on the main thread, which runs the clients: the backends left are skipped. */
static int interrupted;

/* SIGINT/SIGTERM, on the client's loop: abort its connection; the server follows (client_done). */
static void compare_stop(tlsio_loop *loop, int how, void *user)
{
	struct run *r = user;
	(void)loop;
	(void)how;
	interrupted = 1;
	if (r->c != NULL)
		tlsio_abort(r->c);
}

static void run_client(struct run *r, tlsio_loop *loop)
{
	tlsio_conn_opts copts;
	int rc;
	tlsx_conn_opts(&r->o->co, &copts);
	copts.cb = &cli_cb;
	copts.user = r;
	copts.server_name = "localhost";
	copts.idle_timeout_ms = (uint32_t)(r->o->timeout_s * 1000);
	copts.handshake_timeout_ms = copts.idle_timeout_ms;
	rc = tlsio_connect(loop, r->addr, r->ccfg, &copts, &r->c);
	if (rc < 0) {
		snprintf(r->res->error, sizeof(r->res->error), "connect: %s", tlsio_strerror(rc));
		r->res->failed = 1;
		return;
	}
	/* Until the connection has ended (compare_stop aborts it on a signal). */
	rc = tlsio_loop_run(loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		snprintf(r->res->error, sizeof(r->res->error), "client loop: %s", tlsio_strerror(rc));
		r->res->failed = 1;
		return;
	}
	if (interrupted) {
		snprintf(r->res->error, sizeof(r->res->error), "interrupted");
		r->res->failed = 1;
	}
}

static void run_backend(const struct opts *o, struct result *res, tlsio_tls_config *scfg,
                        tlsio_tls_config *ccfg)
{
	struct run r;
	pthread_t tid;
	tlsio_loop *loop = NULL;
	double t0;
	int rc, state;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	r.o = o;
	r.res = res;
	r.scfg = scfg;
	r.ccfg = ccfg;
	r.client_done.data = &r;
	res->server_status = res->client_status = 1;
	res->server_alert = res->client_alert = TLSIO_ALERT_NONE;
	tlsx_prng_init(&r.gen, o->seed);
	tlsx_prng_init(&r.check, o->seed);
	tlsx_sha256_init(&r.sha_sent);
	tlsx_sha256_init(&r.sha_echoed);
	r.buf = malloc((size_t)o->chunk);
	r.checkbuf_cap = 64 * 1024;
	r.checkbuf = malloc(r.checkbuf_cap);
	rc = tlsio_loop_new(&loop, res->b);
	if (r.buf == NULL || r.checkbuf == NULL || rc < 0) {
		snprintf(res->error, sizeof(res->error), "client loop: %s",
		         rc < 0 ? tlsio_strerror(rc) : "out of memory");
		res->failed = 1;
		goto out;
	}
	snprintf(res->info, sizeof(res->info), "%s", tlsio_loop_info(loop));
	/* A signal stops the client; the server follows. A signal between two backends reaches
	 * this loop as it is watched. */
	(void)tlsx_signals_watch(loop, compare_stop, &r);
	t0 = tlsx_now();
	if (pthread_create(&tid, NULL, server_main, &r) != 0) {
		snprintf(res->error, sizeof(res->error), "pthread_create failed");
		res->failed = 1;
		goto out;
	}
	pthread_mutex_lock(&r.mu);
	while (r.addr_state == 0)
		pthread_cond_wait(&r.cv, &r.mu);
	state = r.addr_state;
	pthread_mutex_unlock(&r.mu);
	if (state == 1)
		run_client(&r, loop);
	else
		res->failed = 1;
	/* The client is done: tell the server's loop, which ends at once or after its grace. */
	pthread_mutex_lock(&r.mu);
	if (r.server_loop != NULL)
		(void)tlsio_loop_post_task(r.server_loop, &r.client_done, client_done);
	pthread_mutex_unlock(&r.mu);
	pthread_join(tid, NULL);
	res->secs = tlsx_now() - t0;
out:
	tlsx_sha256_final(&r.sha_sent, res->md_sent);
	tlsx_sha256_final(&r.sha_echoed, res->md_echoed);
	tlsx_signals_unwatch(loop);
	tlsio_loop_free(loop);
	free(r.buf);
	free(r.checkbuf);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
}

/* ------------------------------------------------------------------------------------------ */

static int add_backend_list(struct opts *o, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;
	if (copy == NULL)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->nbackends == MAX_BACKENDS) {
			fprintf(stderr, PROG ": at most %d backends\n", MAX_BACKENDS);
			rc = -1;
		} else if ((o->backends[o->nbackends] = strdup(tok)) == NULL) {
			rc = -1;
		} else {
			o->nbackends++;
		}
	}
	free(copy);
	return rc;
}

static int parse_size_opt(const char *flag, const char *arg, uint64_t *out)
{
	if (tlsx_parse_size(arg, out) < 0 || *out == 0) {
		fprintf(stderr, PROG ": bad value for %s: '%s' (expected a size such as 65536, 64K, 16M)\n",
		        flag, arg);
		return -1;
	}
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		{"bytes", required_argument, NULL, OPT_BYTES},
		{"chunk", required_argument, NULL, OPT_CHUNK},
		{"window", required_argument, NULL, OPT_WINDOW},
		{"seed", required_argument, NULL, OPT_SEED},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int rc;
		if (opt == TLSX_OPT_BACKEND) {
			/* a list here, one name elsewhere: each name is checked like everywhere */
			if (add_backend_list(o, optarg) < 0)
				return TLSX_EXIT_USAGE;
			continue;
		}
		rc = tlsx_common_opt(&o->co, opt, optarg);
		if (rc < 0)
			return TLSX_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(TLSX_EXIT_OK);
		case OPT_BYTES:
			if (parse_size_opt("--bytes", optarg, &o->bytes) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_CHUNK:
			if (parse_size_opt("--chunk", optarg, &o->chunk) < 0)
				return TLSX_EXIT_USAGE;
			if (o->chunk > (uint64_t)1 << 30) {
				fprintf(stderr, PROG ": --chunk is limited to 1G\n");
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_WINDOW:
			if (parse_size_opt("--window", optarg, &o->window) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_SEED:
			if (tlsx_parse_u64(optarg, &o->seed) < 0) {
				fprintf(stderr, PROG ": bad value for --seed: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_TIMEOUT:
			if (tlsx_parse_u64(optarg, &o->timeout_s) < 0 || o->timeout_s > 86400) {
				fprintf(stderr, PROG ": bad value for --timeout: '%s' (seconds)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return TLSX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n", argv[optind]);
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

/* The backends to run, each named one resolved and checked as in every tool (tlsx_backend). */
static int pick_backends(struct opts *o, const tlsio_backend **out, size_t *n)
{
	*n = 0;
	if (o->nbackends == 0) {
		const char *env = getenv("TLSIO_BACKEND");
		const tlsio_backend *all[MAX_BACKENDS];
		size_t total;
		if (env != NULL && env[0] != '\0') {
			struct tlsx_common c = o->co;
			int rc;
			c.backend = NULL; /* tlsx_backend reads $TLSIO_BACKEND and says so */
			rc = tlsx_backend(&c, &out[0]);
			if (rc != 0)
				return rc;
			*n = 1;
			return 0;
		}
		total = tlsio_backends(all, MAX_BACKENDS);
		for (size_t i = 0; i < total && i < MAX_BACKENDS; i++) {
			const char *why = NULL;
			int rc = tlsio_backend_probe(all[i], &why);
			if (rc == 0)
				out[(*n)++] = all[i];
			else if (!o->co.quiet)
				printf("not run: %s (%s)\n", tlsio_backend_name(all[i]),
				       why != NULL ? why : tlsio_strerror(rc));
		}
		if (*n == 0) {
			fprintf(stderr, PROG ": no usable backend (compiled in: %s)\n", tlsio_backend_names());
			return TLSX_EXIT_FAIL;
		}
		return 0;
	}
	for (int i = 0; i < o->nbackends; i++) {
		struct tlsx_common c = o->co;
		const tlsio_backend *b;
		int rc, dup = 0;
		c.backend = o->backends[i];
		rc = tlsx_backend(&c, &b);
		if (rc != 0)
			return rc;
		for (size_t j = 0; j < *n; j++)
			dup |= out[j] == b;
		if (!dup)
			out[(*n)++] = b;
	}
	return 0;
}

static int compare(struct opts *o);

int main(int argc, char **argv)
{
	struct opts o;
	int rc;
	memset(&o, 0, sizeof(o));
	o.co.prog = PROG;
	o.bytes = 64u * 1024 * 1024;
	o.chunk = 16 * 1024;
	o.window = 16 * 1024;
	o.seed = 1;
	o.timeout_s = 30;
	rc = parse_args(&o, argc, argv);
	if (rc == 0)
		rc = compare(&o);
	for (int i = 0; i < o.nbackends; i++)
		free(o.backends[i]);
	return rc;
}

static int compare(struct opts *op)
{
	struct opts o = *op;
	const tlsio_backend *bs[MAX_BACKENDS];
	struct result res[MAX_BACKENDS];
	tlsio_tls_opts st, ct;
	tlsio_tls_config *scfg = NULL, *ccfg = NULL;
	size_t n = 0;
	char ref[TLSX_SHA256_HEX] = "";
	int rc, ret = TLSX_EXIT_FAIL, all_ok = 1;

	if (o.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	if (o.co.cert == NULL || o.co.key == NULL) {
		fprintf(stderr, PROG ": the echo server needs a certificate and its key: --cert FILE --key FILE\n"
		                "(for a test run: --cert tests/certs/server.pem --key tests/certs/server.key"
		                " --ca tests/certs/ca.pem)\n");
		return TLSX_EXIT_USAGE;
	}
	rc = pick_backends(&o, bs, &n);
	if (rc != 0)
		return rc;

	tlsx_tls_opts(&o.co, &st);
	tlsx_tls_opts(&o.co, &ct);
	ct.cert_file = ct.key_file = NULL;
	ct.verify = o.co.ca != NULL ? TLSIO_VERIFY_DEFAULT : TLSIO_VERIFY_NONE;
	st.ca_file = NULL;
	if (tlsx_tls_config(&o.co, 1, &st, &scfg) != 0 || tlsx_tls_config(&o.co, 0, &ct, &ccfg) != 0)
		goto out;

	memset(res, 0, sizeof(res));
	/* A signal reaches the client loop of the backend being run (compare_stop), and sets
	 * interrupted for the rest; a second one exits at once. */
	(void)tlsx_signals_install(2);
	for (size_t i = 0; i < n && !interrupted; i++) {
		res[i].b = bs[i];
		if (!o.co.quiet)
			fprintf(stderr, PROG ": %s ...\n", tlsio_backend_name(bs[i]));
		run_backend(&o, &res[i], scfg, ccfg);
	}

	printf("\n%-9s %12s  %-8s %12s %12s %12s %9s %9s\n", "backend", "bytes", "digest",
	       "short writes", "write calls", "read calls", "wall time", "MB/s");
	for (size_t i = 0; i < n; i++) {
		struct result *r = &res[i];
		char hex[TLSX_SHA256_HEX];
		const char *digest;
		int ok;
		tlsx_hex(r->md_echoed, TLSX_SHA256_LEN, hex);
		if (ref[0] == '\0' && !r->failed && r->echoed == o.bytes)
			memcpy(ref, hex, sizeof(ref));
		if (r->echoed != o.bytes || r->failed)
			digest = "INCOMPL";
		else if (r->mismatch || memcmp(r->md_sent, r->md_echoed, TLSX_SHA256_LEN) != 0)
			digest = "MISMATCH";
		else if (strcmp(hex, ref) != 0)
			digest = "DIFFERS";
		else
			digest = "ok";
		ok = strcmp(digest, "ok") == 0 && r->client_status == 0 && r->server_status == 0 &&
		     !r->failed;
		all_ok &= ok;
		printf("%-9s %12" PRIu64 "  %-8s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %8.2fs %9.1f%s\n",
		       tlsio_backend_name(r->b), r->echoed, digest,
		       r->cst.short_writes + r->sst.short_writes, r->cst.write_calls + r->sst.write_calls,
		       r->cst.read_calls + r->sst.read_calls, r->secs,
		       r->secs > 0 ? (double)r->echoed / r->secs / 1e6 : 0.0, ok ? "" : "  FAILED");
	}
	if (!o.co.quiet) {
		printf("\n");
		for (size_t i = 0; i < n; i++) {
			struct result *r = &res[i];
			printf("%-9s %s", tlsio_backend_name(r->b), r->info[0] ? r->info : "(no loop)");
			if (r->client_status != 0 && r->client_status != 1)
				printf("; client: %s", tlsio_strerror(r->client_status));
			if (r->server_status != 0 && r->server_status != 1)
				printf("; server: %s", tlsio_strerror(r->server_status));
			if (r->error[0])
				printf("; %s", r->error);
			printf("\n");
		}
		printf("\nworkload: %" PRIu64 " bytes, chunk %" PRIu64 ", window %" PRIu64 ", seed %" PRIu64
		       "%s%s; sha256 %s\n", o.bytes, o.chunk, o.window, o.seed,
		       o.co.sndbuf ? ", custom SO_SNDBUF" : "", o.co.rcvbuf ? ", custom SO_RCVBUF" : "",
		       ref[0] ? ref : "(none)");
	}
	ret = all_ok && !interrupted ? TLSX_EXIT_OK : TLSX_EXIT_FAIL;
out:
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
	return ret;
}
