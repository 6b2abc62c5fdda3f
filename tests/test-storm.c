/* SPDX-License-Identifier: MIT */
/* Fault storm (C1 order, C2 completions): many short randomized client/server runs per backend,
 * in one process, each under the seeded fault shim (short writes, EAGAIN, EINTR, sometimes
 * ECONNRESET; io_uring through its test-only hook in backends/uring.c) with tiny or default
 * socket buffers, slow and pausing readers, and every send mode.
 *
 * Each run is derived from the master seed and its index alone, so one run can be replayed:
 *   TLSIO_STORM_SEED=0x... TLSIO_STORM_RUN=1234 TLSIO_BACKENDS=epoll tests/test-storm
 * A replay repeats the run's parameters and each loop's fault decisions in call order; how the
 * kernel splits the bytes, and so the calls the faults land on, may still differ.
 *
 * Checks per run. Without an injected reset: each receiver got exactly the sent stream (length,
 * SHA-256 and the pattern byte by byte), both ends closed cleanly, every completion fired once,
 * in order, with status 0. With a reset injected: what each receiver got is an exact prefix of
 * the stream (no gap, reorder or duplicate), a receiver that saw close_notify got all of it, at
 * least one end failed, and every completion still fired exactly once, in order, the successful
 * ones before the failed ones. A watchdog turns a hang into a failure; ASan builds find leaks.
 * Every fourth run is plain (TLSIO_CONN_PLAIN), without injected resets.
 * Across a backend's storm the injectors must have fired (a backend that bypassed them would
 * otherwise pass untested).
 *
 * Environment: TLSIO_STORM_RUNS (runs per backend, default 200), TLSIO_STORM_SEED (master seed,
 * default fixed), TLSIO_STORM_RUN (only this run, verbose), TLSIO_STORM_MAXFAIL (failures before
 * a backend's storm stops, default 10), TLSIO_STORM_VERBOSE=1 (a line per run),
 * TLSIO_STORM_FAULTS=0 (the same runs without fault injection: does a failure need the faults?),
 * TLSIO_STORM_RCVBUF=N (every SO_RCVBUF N bytes: experiments with tiny receive buffers),
 * TLSIO_BACKENDS / TLSIO_BACKEND (default: every compiled-in backend). A compiled-in backend
 * that cannot run here is reported as SKIP with its reason; exit 77 if none ran. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sys.h"
#include "testutil.h"
#include "tlsio.h"

#define WATCHDOG_MS 60000u
#define SLOW_RUN_MS 5000u /* counted: far above a normal run, a sign of stalls */
#define LINGER_MS 30000u
#define MAX_BACKENDS 8
#define DEFAULT_SEED 0x5701A11C0FFEEull
#define MAX_SENDS 20000 /* per stream: keeps a run short whatever its chunk size */

enum dir { D_C2S, D_S2C, D_ECHO, D_DUPLEX };
static const char *const dir_name[] = {"client->server", "server->client", "echo", "duplex"};
static const char *const mode_name[] = {"copy", "ref", "mixed"};

/* One run's parameters; [0] is the server, [1] the client. */
typedef struct run_cfg {
	uint64_t master, index, seed;
	int dir;
	uint64_t total[2];       /* bytes each side sends (echo: the client's stream) */
	uint64_t stream_seed[2]; /* the pattern each side sends */
	size_t min[2], max[2];
	int mode[2];
	int sndbuf[2], rcvbuf[2];
	size_t sleep_every[2], pause_every[2];
	unsigned long_pause[2];
	size_t high_water[2], low_water[2];
	size_t window;           /* echo: bytes in flight */
	int then;                /* TU_THEN_CLOSE / TU_THEN_SHUTDOWN */
	int shim;
	tlsio_fault_cfg fc;
	const tlsio_backend *side_be[2]; /* NULL: the backend under test */
	int plain;               /* TLSIO_CONN_PLAIN on both sides */
} run_cfg;

/* Totals over one backend's storm. */
typedef struct storm_totals {
	uint64_t runs, failed, by_dir[4], mixed, shim_runs, reset_runs, reset_hit, tiny, plain;
	uint64_t bytes_sent, bytes_delivered;
	uint64_t calls, shortened, eagain, eintr, reset;         /* the shim (or uring hook) */
	uint64_t st_short, st_eagain, st_eintr, st_writes;      /* tlsio_stats, both ends */
	uint64_t compl, compl_fail, max_run_ms, slow_runs;
} storm_totals;

static const char *g_argv0;
static int g_verbose;
static int g_faults = 1;
static int g_rcvbuf; /* TLSIO_STORM_RCVBUF: every receive buffer this size (experiments) */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t env_u64(const char *name, uint64_t dflt, int *set)
{
	const char *s = getenv(name);
	if (set != NULL)
		*set = s != NULL && *s != '\0';
	if (s == NULL || *s == '\0')
		return dflt;
	return strtoull(s, NULL, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* run parameters */

/* Tiny buffers force short writes and EAGAIN. A receive buffer under 4 KiB is left out: the
 * kernel can then settle on advertising a window smaller than one segment, and the sender
 * crawls on zero-window probes (seen with ss in a 4 MiB echo under the fault shim, 1 KiB
 * SO_RCVBUF: the reader's Recv-Q empty, the writer in persist with snd_wnd 362 < mss 576,
 * about 2 KB/s, past the watchdog). That is TCP flow control, not the library. */
static int sock_buf(tu_rng *g, size_t min)
{
	return tu_rng_below(g, 100) < 20 ? (int)tu_rng_size(g, min, 16 * TU_KIB) : 0;
}

static uint64_t stream_total(tu_rng *g)
{
	uint64_t v = tu_rng_below(g, 100);
	if (v < 4)
		return 0;
	if (v < 95)
		return tu_rng_size(g, 1, 384 * TU_KIB);
	return tu_rng_size(g, 512 * TU_KIB, 4 * TU_MIB);
}

static void gen_sender(run_cfg *r, tu_rng *g, int i)
{
	static const size_t chunk_max[] = {16, 256, 1500, 4096, 16384, 65536, 262144, 1048576};
	size_t need;
	r->max[i] = chunk_max[tu_rng_below(g, sizeof(chunk_max) / sizeof(chunk_max[0]))];
	r->min[i] = tu_rng_below(g, 2) ? 1 : r->max[i] / 4 + 1;
	need = (size_t)(r->total[i] / MAX_SENDS) + 1;
	if (r->min[i] < need) {
		r->min[i] = need;
		if (r->max[i] < 2 * need)
			r->max[i] = 2 * need;
	}
	r->mode[i] = (int)tu_rng_below(g, 3);
	r->stream_seed[i] = tu_rng_next(g) | 1;
	if (tu_rng_below(g, 100) < 25) {
		r->high_water[i] = tu_rng_size(g, 16 * TU_KIB, TU_MIB);
		r->low_water[i] = tu_rng_below(g, 2) ? r->high_water[i] / 2 : 0;
	}
}

static void gen_reader(run_cfg *r, tu_rng *g, int i, uint64_t incoming)
{
	if (tu_rng_below(g, 100) < 25) {
		r->sleep_every[i] = (size_t)(incoming / 32);
		if (r->sleep_every[i] < 4 * TU_KIB)
			r->sleep_every[i] = 4 * TU_KIB;
	}
	if (tu_rng_below(g, 100) < 25) {
		r->pause_every[i] = tu_rng_size(g, 4 * TU_KIB, 128 * TU_KIB);
		r->long_pause[i] = (unsigned)tu_rng_below(g, 30);
	}
}

static void gen(run_cfg *r, uint64_t master, uint64_t index, const tlsio_backend *be,
                const tlsio_backend *epoll)
{
	static const unsigned reset_rates[] = {5, 10, 20, 50, 100};
	int blocking = strcmp(tlsio_backend_name(be), "blocking") == 0;
	uint64_t v;
	tu_rng g;
	memset(r, 0, sizeof(*r));
	r->master = master;
	r->index = index;
	r->seed = mix64(master ^ mix64(index + 0x57041));
	tu_rng_seed(&g, r->seed);
	v = tu_rng_below(&g, 100);
	r->dir = v < 35 ? D_C2S : v < 65 ? D_S2C : v < 85 ? D_ECHO : D_DUPLEX;
	/* blocking sockets cannot read while a send blocks: two bulk senders deadlock by design
	 * (backends/blocking.c), so that backend gets the windowed echo instead */
	if (blocking && r->dir == D_DUPLEX)
		r->dir = D_ECHO;
	for (int i = 0; i < 2; i++) {
		r->sndbuf[i] = sock_buf(&g, TU_KIB);
		r->rcvbuf[i] = sock_buf(&g, 4 * TU_KIB);
		if (g_rcvbuf > 0)
			r->rcvbuf[i] = g_rcvbuf;
	}
	switch (r->dir) {
	case D_C2S:
		r->total[1] = stream_total(&g);
		gen_sender(r, &g, 1);
		gen_reader(r, &g, 0, r->total[1]);
		break;
	case D_S2C:
		r->total[0] = stream_total(&g);
		gen_sender(r, &g, 0);
		gen_reader(r, &g, 1, r->total[0]);
		break;
	case D_ECHO:
		r->total[1] = stream_total(&g);
		gen_sender(r, &g, 1);
		r->high_water[1] = r->low_water[1] = 0; /* the window bounds the queue */
		gen_reader(r, &g, 0, r->total[1]);
		gen_reader(r, &g, 1, r->total[1]);
		/* blocking: what is in flight must fit the smallest socket buffers both ways */
		r->window = blocking ? tu_rng_size(&g, 256, 4 * TU_KIB) : tu_rng_size(&g, TU_KIB, 256 * TU_KIB);
		break;
	case D_DUPLEX:
		for (int i = 0; i < 2; i++) {
			r->total[i] = stream_total(&g);
			gen_sender(r, &g, i);
		}
		gen_reader(r, &g, 0, r->total[1]);
		gen_reader(r, &g, 1, r->total[0]);
		break;
	}
	/* a side that still reads after sending must half-close: tlsio_close() drops later input */
	r->then = r->dir == D_C2S || r->dir == D_S2C ? (tu_rng_below(&g, 2) ? TU_THEN_CLOSE : TU_THEN_SHUTDOWN)
	                                             : TU_THEN_SHUTDOWN;
	r->shim = tu_rng_below(&g, 100) < 80;
	if (r->shim && !g_faults) {
		r->shim = 0; /* TLSIO_STORM_FAULTS=0: the same run without fault injection */
	} else if (r->shim) {
		r->fc.seed = tu_rng_next(&g);
		r->fc.short_permille = (unsigned)tu_rng_below(&g, 401);
		r->fc.eagain_permille = (unsigned)tu_rng_below(&g, 151);
		r->fc.eintr_permille = (unsigned)tu_rng_below(&g, 151);
		if (tu_rng_below(&g, 100) < 25)
			r->fc.reset_permille = reset_rates[tu_rng_below(&g, 5)];
	}
	/* io_uring against an epoll peer: both sides then inject, through the hook and the shim */
	if (strcmp(tlsio_backend_name(be), "uring") == 0 && epoll != NULL && tu_rng_below(&g, 3) == 0)
		r->side_be[tu_rng_below(&g, 2)] = epoll;
	/* Every fourth run is plain (by the index, so that the other runs keep their parameters).
	 * Without resets: a plain receiver cannot tell a peer that failed from one that closed
	 * (TCP's FIN is all it gets), so a reset's prefix would pass as a clean end. */
	r->plain = index % 4 == 3;
	if (r->plain)
		r->fc.reset_permille = 0;
}

static int is_sender(const run_cfg *r, int i)
{
	return r->dir == D_DUPLEX || (i == 1 ? r->dir != D_S2C : r->dir == D_S2C);
}

static void describe_run(const run_cfg *r, const char *backend, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "[%s] run %" PRIu64 ": %s", backend, r->index,
	                            dir_name[r->dir]);
	for (int i = 0; i < 2 && o < len; i++) {
		const char *who = i == 0 ? "server" : "client";
		if (is_sender(r, i))
			o += (size_t)snprintf(buf + o, len - o,
			                      "; %s sends %" PRIu64 " B in [%zu,%zu] (%s) hw=%zu lw=%zu", who,
			                      r->total[i], r->min[i], r->max[i], mode_name[r->mode[i]],
			                      r->high_water[i], r->low_water[i]);
	}
	for (int i = 0; i < 2 && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "; %s%s%s snd=%d rcv=%d sleep/%zu pause/%zu+%ums",
		                      i == 0 ? "server" : "client", r->side_be[i] != NULL ? " on " : "",
		                      r->side_be[i] != NULL ? tlsio_backend_name(r->side_be[i]) : "",
		                      r->sndbuf[i], r->rcvbuf[i], r->sleep_every[i], r->pause_every[i],
		                      r->long_pause[i]);
	if (o < len && r->plain)
		o += (size_t)snprintf(buf + o, len - o, "; plain");
	if (o < len && r->window)
		o += (size_t)snprintf(buf + o, len - o, "; window %zu", r->window);
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "; then %s",
		                      r->then == TU_THEN_CLOSE ? "close" : "shutdown");
	if (o < len) {
		if (r->shim)
			snprintf(buf + o, len - o,
			         "; faults short %u eagain %u eintr %u reset %u permille, seed %#" PRIx64,
			         r->fc.short_permille, r->fc.eagain_permille, r->fc.eintr_permille,
			         r->fc.reset_permille, r->fc.seed);
		else
			snprintf(buf + o, len - o, "; no fault injection");
	}
}

/* ---------------------------------------------------------------------------------------- */
/* one run */

/* Each loop draws from its own fault stream, whatever thread reaches the shim first. */
static void fault_stream_server(tu_side *s)
{
	(void)s;
	tlsio__fault_thread(0);
}

static void fault_stream_client(tu_side *s)
{
	(void)s;
	tlsio__fault_thread(1);
}

/* A sender with nothing to send ends its side at once (the harness would wait for data). */
static void end_empty_close(tu_peer *p)
{
	p->close_called = 1;
	tlsio_close(p->conn);
}

static void end_empty_shutdown(tu_peer *p)
{
	int rc = tlsio_shutdown(p->conn);
	TU_CHECK(rc == 0, "%s: tlsio_shutdown: %s", p->side->name, tlsio_strerror(rc));
}

static void plan_sender(tu_plan *pl, tu_side *s, const run_cfg *r, int i)
{
	if (r->total[i] == 0)
		pl->on_handshake = r->then == TU_THEN_CLOSE ? end_empty_close : end_empty_shutdown;
	pl->tx_total = r->total[i];
	pl->tx_seed = r->stream_seed[i];
	pl->tx_min = r->min[i];
	pl->tx_max = r->max[i];
	pl->tx_mode = r->mode[i];
	pl->tx_then = r->then;
	s->opts.high_water = r->high_water[i];
	s->opts.low_water = r->low_water[i];
}

static void plan_reader(tu_plan *pl, const run_cfg *r, int i, uint64_t rx_seed)
{
	pl->rx_seed = rx_seed;
	pl->rx_sleep_every = r->sleep_every[i];
	pl->rx_pause_every = r->pause_every[i];
	pl->rx_long_pause_ms = r->long_pause[i];
}

static tu_pair *build_pair(const run_cfg *r, const char *backend)
{
	tu_pair *p;
	tu_side *side[2];
	tu_transport = r->plain ? TU_TCP_PLAIN : TU_TCP_TLS;
	p = tu_pair_new(backend);
	tu_transport = TU_TCP_TLS;
	if (p == NULL)
		return NULL;
	side[0] = &p->server;
	side[1] = &p->client;
	p->quiet = 1;
	p->timeout_ms = WATCHDOG_MS;
	p->server.setup = fault_stream_server;
	p->client.setup = fault_stream_client;
	for (int i = 0; i < 2; i++) {
		side[i]->be = r->side_be[i];
		side[i]->opts.sndbuf = r->sndbuf[i];
		side[i]->opts.rcvbuf = r->rcvbuf[i];
		side[i]->opts.linger_ms = LINGER_MS;
	}
	switch (r->dir) {
	case D_C2S:
		plan_sender(&p->client.plan, &p->client, r, 1);
		plan_reader(&p->server.plan, r, 0, r->stream_seed[1]);
		break;
	case D_S2C:
		plan_sender(&p->server.plan, &p->server, r, 0);
		plan_reader(&p->client.plan, r, 1, r->stream_seed[0]);
		break;
	case D_ECHO:
		plan_sender(&p->client.plan, &p->client, r, 1);
		p->client.plan.tx_window = r->window;
		plan_reader(&p->client.plan, r, 1, r->stream_seed[1]);
		plan_reader(&p->server.plan, r, 0, r->stream_seed[1]);
		p->server.plan.echo = 1;
		break;
	case D_DUPLEX:
		plan_sender(&p->server.plan, &p->server, r, 0);
		plan_sender(&p->client.plan, &p->client, r, 1);
		plan_reader(&p->server.plan, r, 0, r->stream_seed[1]);
		plan_reader(&p->client.plan, r, 1, r->stream_seed[0]);
		break;
	}
	return p;
}

/* SHA-256 of the first @p len bytes of the pattern @p seed. */
static void pattern_digest(uint64_t seed, uint64_t len, uint8_t out[32])
{
	static _Thread_local uint8_t buf[64 * 1024];
	tu_sha256 s;
	tu_sha256_init(&s);
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		tu_pattern(seed, off, buf, n);
		tu_sha256_update(&s, buf, n);
		off += n;
	}
	tu_sha256_final(&s, out);
}

/* The stream @p seed of @p sent bytes (the sender's tx_len), as @p rx received it. */
static void check_stream(const char *what, uint64_t seed, uint64_t planned, uint64_t sent,
                         const tu_peer *rx, int clean)
{
	uint8_t md[32];
	char a[65], b[65];
	TU_CHECK(rx->rx_bad_at == UINT64_MAX, "%s: the received bytes leave the stream at byte %" PRIu64
	         " (gap, reorder or duplicate)", what, rx->rx_bad_at);
	TU_CHECK(rx->rx_len <= sent, "%s: %" PRIu64 " bytes received, only %" PRIu64 " sent (duplicates)",
	         what, rx->rx_len, sent);
	TU_CHECK(rx->stats.app_bytes_received == rx->rx_len,
	         "%s: stats.app_bytes_received %" PRIu64 " != %" PRIu64 " delivered", what,
	         rx->stats.app_bytes_received, rx->rx_len);
	pattern_digest(seed, rx->rx_len, md);
	tu_hex(md, 32, a);
	tu_hex(rx->rx_digest, 32, b);
	TU_CHECK(memcmp(md, rx->rx_digest, 32) == 0, "%s: SHA-256 of the %" PRIu64
	         " bytes received is %s, the stream's prefix has %s", what, rx->rx_len, b, a);
	/* close_notify follows every byte sent: a receiver that ended cleanly has them all */
	TU_CHECK(rx->status != 0 || rx->rx_len == sent, "%s: the receiver ended cleanly with %" PRIu64
	         " of %" PRIu64 " bytes", what, rx->rx_len, sent);
	if (clean)
		TU_CHECK(sent == planned && rx->rx_len == planned, "%s: %" PRIu64 " of %" PRIu64
		         " bytes sent, %" PRIu64 " received, without a fault that ends the connection",
		         what, sent, planned, rx->rx_len);
}

/* The sender's own books: queued bytes, completions. */
static void check_sender(const char *who, const tu_peer *tx, int clean)
{
	TU_CHECK(tx->stats.app_bytes_queued == tx->tx_len, "%s: stats.app_bytes_queued %" PRIu64
	         " != %" PRIu64 " accepted", who, tx->stats.app_bytes_queued, tx->tx_len);
	TU_CHECK(tx->stats.app_bytes_sent <= tx->tx_len, "%s: stats.app_bytes_sent %" PRIu64
	         " > %" PRIu64 " accepted", who, tx->stats.app_bytes_sent, tx->tx_len);
	/* the harness checked each completion as it fired: once, in order, never ok after a failure */
	TU_CHECK(tx->completions == tx->reqs && tx->compl_ok + tx->compl_fail == tx->reqs,
	         "%s: %" PRIu64 " of %" PRIu64 " completions fired (%" PRIu64 " ok, %" PRIu64 " failed)",
	         who, tx->completions, tx->reqs, tx->compl_ok, tx->compl_fail);
	if (clean) {
		TU_CHECK(tx->compl_ok == tx->reqs, "%s: %" PRIu64 " of %" PRIu64
		         " completions failed (first %d) without a fault that ends the connection", who,
		         tx->compl_fail, tx->reqs, tx->compl_first_err);
		TU_CHECK(tx->stats.app_bytes_sent == tx->tx_len, "%s: stats.app_bytes_sent %" PRIu64
		         " != %" PRIu64, who, tx->stats.app_bytes_sent, tx->tx_len);
	}
	/* a clean end means everything was written; a failed send carries the connection's error */
	TU_CHECK(tx->status != 0 || (tx->compl_ok == tx->reqs && tx->stats.app_bytes_sent == tx->tx_len),
	         "%s: ended cleanly with %" PRIu64 " of %" PRIu64 " completions ok, %" PRIu64 " of %" PRIu64
	         " bytes written", who, tx->compl_ok, tx->reqs, tx->stats.app_bytes_sent, tx->tx_len);
	TU_CHECK(tx->compl_fail == 0 || tx->compl_first_err == tx->status, "%s: a completion failed "
	         "with %d (%s), the connection with %d (%s)", who, tx->compl_first_err,
	         tlsio_strerror(tx->compl_first_err), tx->status, tlsio_strerror(tx->status));
}

static void check_run(const run_cfg *r, tu_pair *p, const tlsio_fault_stats *fs, int uring_only)
{
	const tu_peer *s = &p->server.peers[0], *c = &p->client.peers[0];
	int clean = fs->reset == 0;
	TU_CHECK(p->server.npeers == 1 && p->client.npeers == 1, "%d server and %d client connections",
	         p->server.npeers, p->client.npeers);
	if (p->server.npeers != 1 || p->client.npeers != 1)
		return;
	TU_CHECK(s->closes == 1 && c->closes == 1, "on_close fired %d times on the server, %d on the client",
	         s->closes, c->closes);
	if (clean) {
		TU_CHECK(s->status == 0, "server ended with %d (%s) without an injected reset", s->status,
		         tlsio_strerror(s->status));
		TU_CHECK(c->status == 0, "client ended with %d (%s) without an injected reset", c->status,
		         tlsio_strerror(c->status));
	} else {
		TU_CHECK(s->status < 0 || c->status < 0, "%" PRIu64 " reset(s) injected, yet both ends "
		         "closed cleanly", fs->reset);
	}
	switch (r->dir) {
	case D_C2S:
		check_sender("client", c, clean);
		check_stream("client->server", r->stream_seed[1], r->total[1], c->tx_len, s, clean);
		break;
	case D_S2C:
		check_sender("server", s, clean);
		check_stream("server->client", r->stream_seed[0], r->total[0], s->tx_len, c, clean);
		break;
	case D_ECHO:
		check_sender("client", c, clean);
		check_stream("client->server", r->stream_seed[1], r->total[1], c->tx_len, s, clean);
		/* the echo is the server's input sent back */
		check_stream("echo server->client", r->stream_seed[1], r->total[1], s->rx_len, c, clean);
		break;
	case D_DUPLEX:
		check_sender("client", c, clean);
		check_sender("server", s, clean);
		check_stream("client->server", r->stream_seed[1], r->total[1], c->tx_len, s, clean);
		check_stream("server->client", r->stream_seed[0], r->total[0], s->tx_len, c, clean);
		break;
	}
	/* io_uring alone: every send the hook shortened came back as a short write the backend
	 * absorbed (the shim of an epoll peer also shortens reads, so mixed runs cannot compare) */
	if (clean && uring_only) {
		uint64_t absorbed = s->stats.short_writes + c->stats.short_writes;
		TU_CHECK(absorbed >= fs->shortened, "%" PRIu64 " sends shortened by the fault hook, only %"
		         PRIu64 " short writes absorbed", fs->shortened, absorbed);
	}
	if (clean && (r->dir == D_C2S || r->dir == D_S2C)) {
		const tu_peer *tx = r->dir == D_C2S ? c : s, *rx = r->dir == D_C2S ? s : c;
		tu_expect_stream(tx, rx); /* the sender's running digest against the receiver's */
	}
}

static void replay_line(const run_cfg *r, const char *backend, char *buf, size_t len)
{
	const char *certs = getenv("TLSIO_TEST_CERTS");
	char knobs[96] = "";
	if (g_rcvbuf > 0)
		snprintf(knobs, sizeof(knobs), "%sTLSIO_STORM_RCVBUF=%d ",
		         g_faults ? "" : "TLSIO_STORM_FAULTS=0 ", g_rcvbuf);
	else if (!g_faults)
		snprintf(knobs, sizeof(knobs), "TLSIO_STORM_FAULTS=0 ");
	snprintf(buf, len, "%s%s%s%sTLSIO_STORM_SEED=%#" PRIx64 " TLSIO_STORM_RUN=%" PRIu64
	         " TLSIO_BACKENDS=%s %s",
	         certs != NULL ? "TLSIO_TEST_CERTS=" : "", certs != NULL ? certs : "",
	         certs != NULL ? " " : "", knobs, r->master, r->index, backend, g_argv0);
}

static void log_peer(const tu_peer *p, const char *backend)
{
	char line[1024];
	tu_peer_describe(p, backend, line, sizeof(line));
	tu_log("  %s", line);
	tu_log("    at close: TLS bytes sent %" PRIu64 " received %" PRIu64 "; app bytes queued %" PRIu64
	       " sent %" PRIu64 " received %" PRIu64 "; still queued %" PRIu64 "; reads %" PRIu64
	       "; paused %d restarts %d",
	       p->stats.tls_bytes_sent, p->stats.tls_bytes_received, p->stats.app_bytes_queued,
	       p->stats.app_bytes_sent, p->stats.app_bytes_received, p->stats.queued_now,
	       p->stats.read_calls, p->paused, p->restarts);
}

static void log_peers(tu_pair *p, const char *backend)
{
	for (int i = 0; i < p->server.npeers; i++)
		log_peer(&p->server.peers[i], backend);
	for (int i = 0; i < p->client.npeers; i++)
		log_peer(&p->client.peers[i], backend);
}

/* @return 0 passed, 1 failed, -1 a thread is stuck (the storm cannot go on in this process). */
static int run_one(const tlsio_backend *be, const tlsio_backend *epoll, uint64_t master,
                   uint64_t index, storm_totals *t, int verbose)
{
	const char *name = tlsio_backend_name(be);
	char desc[1024], replay[1024];
	tlsio_fault_stats fs;
	run_cfg r;
	tu_pair *p;
	uint64_t t0 = tu_now_ms(), ms;
	int rc, bad;

	gen(&r, master, index, be, epoll);
	describe_run(&r, name, desc, sizeof(desc));
	if (verbose)
		tu_log("%s", desc);
	p = build_pair(&r, name);
	if (p == NULL) {
		tu_log("STORM FAIL [%s] run %" PRIu64 ": out of memory", name, index);
		return 1;
	}
	tu_reset_failures();
	memset(&fs, 0, sizeof(fs));
	if (r.shim)
		tlsio__fault_set(&r.fc);
	rc = tu_pair_run(p);
	if (r.shim)
		tlsio__fault_stats(&fs);
	tlsio__fault_set(NULL);
	ms = tu_now_ms() - t0;
	if (rc != -2)
		check_run(&r, p, &fs,
		          strcmp(name, "uring") == 0 && r.side_be[0] == NULL && r.side_be[1] == NULL);
	bad = rc != 0 || tu_failed() != 0;

	t->runs++;
	t->plain += r.plain;
	t->by_dir[r.dir]++;
	t->mixed += r.side_be[0] != NULL || r.side_be[1] != NULL;
	t->shim_runs += r.shim;
	t->reset_runs += r.fc.reset_permille > 0;
	t->reset_hit += fs.reset > 0;
	t->tiny += r.sndbuf[0] || r.sndbuf[1] || r.rcvbuf[0] || r.rcvbuf[1];
	t->calls += fs.calls;
	t->shortened += fs.shortened;
	t->eagain += fs.eagain;
	t->eintr += fs.eintr;
	t->reset += fs.reset;
	if (ms > t->max_run_ms)
		t->max_run_ms = ms;
	t->slow_runs += ms >= SLOW_RUN_MS;
	if (rc != -2) {
		const tu_peer *pe[2] = {&p->server.peers[0], &p->client.peers[0]};
		for (int i = 0; i < 2; i++) {
			t->bytes_sent += pe[i]->tx_len + (r.dir == D_ECHO && i == 0 ? pe[i]->rx_len : 0);
			t->bytes_delivered += pe[i]->rx_len;
			t->st_short += pe[i]->stats.short_writes;
			t->st_eagain += pe[i]->stats.eagain;
			t->st_eintr += pe[i]->stats.eintr;
			t->st_writes += pe[i]->stats.write_calls;
			t->compl += pe[i]->completions;
			t->compl_fail += pe[i]->compl_fail;
		}
	}
	if (verbose || bad) {
		tu_log("[%s] run %" PRIu64 ": %s in %" PRIu64 " ms; faults injected: %" PRIu64 " of %" PRIu64
		       " calls shortened, %" PRIu64 " EAGAIN, %" PRIu64 " EINTR, %" PRIu64 " ECONNRESET",
		       name, index, bad ? "FAILED" : "ok", ms, fs.shortened, fs.calls, fs.eagain, fs.eintr,
		       fs.reset);
		if (rc != -2)
			log_peers(p, name);
	}
	if (bad) {
		replay_line(&r, name, replay, sizeof(replay));
		if (!verbose)
			tu_log("%s", desc);
		tu_log("  first failure: %s", rc != 0 && tu_failed() == 0 ? "watchdog" : tu_failure());
		tu_log("STORM FAIL [%s] seed %#" PRIx64 " run %" PRIu64 "; replay: %s", name, master,
		       index, replay);
		t->failed++;
	}
	if (rc == -2)
		return -1; /* leaked on purpose: its threads still use it */
	tu_pair_free(p);
	return bad;
}

/* ---------------------------------------------------------------------------------------- */
/* per backend */

static double gib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0 * 1024.0);
}

/* The injectors must have fired across the storm: a backend that bypassed them would pass
 * without having been tested. */
static int check_coverage(const char *name, const storm_totals *t)
{
	int bad = 0;
#define NEED(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			tu_log("STORM FAIL [%s] " __VA_ARGS__);                                    \
			bad = 1;                                                                   \
		}                                                                                  \
	} while (0)
	if (t->runs < 100)
		return 0; /* too few runs to expect every kind */
	NEED(t->shortened > 0 && t->eagain > 0 && t->eintr > 0,
	     "%s: the fault injection never fired (shortened %" PRIu64 ", EAGAIN %" PRIu64 ", EINTR %" PRIu64
	     "): the backend bypasses it", name, name, t->shortened, t->eagain, t->eintr);
	NEED(t->reset_runs == 0 || t->reset > 0, "%s: no reset injected in %" PRIu64
	     " runs that allowed one", name, name, t->reset_runs);
	NEED(t->st_short > 0, "%s: no short write absorbed in %" PRIu64 " runs", name, name, t->runs);
	NEED(t->st_eintr > 0, "%s: no EINTR absorbed in %" PRIu64 " runs", name, name, t->runs);
#undef NEED
	return bad;
}

static int storm_backend(const tlsio_backend *be, const tlsio_backend *epoll, uint64_t master,
                         uint64_t runs, int only_set, uint64_t only, unsigned maxfail)
{
	const char *name = tlsio_backend_name(be);
	storm_totals t;
	uint64_t t0 = tu_now_ms(), step = runs >= 10 ? runs / 10 : 1;
	int stuck = 0;
	double secs;
	memset(&t, 0, sizeof(t));
	tu_log("storm/%s: %" PRIu64 " run(s), master seed %#" PRIx64 "%s", name, only_set ? 1 : runs,
	       master, epoll != NULL && strcmp(name, "uring") == 0 ? " (a third with an epoll peer)" : "");
	for (uint64_t i = only_set ? only : 0; i < (only_set ? only + 1 : runs); i++) {
		int rc = run_one(be, epoll, master, i, &t, g_verbose || only_set);
		if (rc < 0) {
			tu_log("STORM FAIL [%s] a thread is stuck: the storm cannot go on in this process", name);
			stuck = 1;
			break;
		}
		if (maxfail != 0 && t.failed >= maxfail) {
			tu_log("storm/%s: stopping after %" PRIu64 " failed runs", name, t.failed);
			break;
		}
		if (!only_set && (i + 1) % step == 0 && i + 1 < runs)
			tu_log("storm/%s: %" PRIu64 "/%" PRIu64 " runs, %" PRIu64 " failed, %.1f s", name,
			       i + 1, runs, t.failed, (double)(tu_now_ms() - t0) / 1000.0);
	}
	if (!only_set && !stuck && check_coverage(name, &t))
		t.failed++;
	secs = (double)(tu_now_ms() - t0) / 1000.0;
	tu_log("storm/%s: %" PRIu64 " runs (%" PRIu64 " client->server, %" PRIu64 " server->client, %" PRIu64
	       " echo, %" PRIu64 " duplex; %" PRIu64 " with tiny socket buffers, %" PRIu64
	       " with an epoll peer, %" PRIu64 " plain), %.3f GiB sent, %.3f GiB delivered, %" PRIu64
	       " completions (%" PRIu64 " failed), longest run %" PRIu64 " ms, %" PRIu64 " over %u s",
	       name, t.runs, t.by_dir[D_C2S], t.by_dir[D_S2C], t.by_dir[D_ECHO], t.by_dir[D_DUPLEX],
	       t.tiny, t.mixed, t.plain, gib(t.bytes_sent), gib(t.bytes_delivered), t.compl, t.compl_fail,
	       t.max_run_ms, t.slow_runs, SLOW_RUN_MS / 1000);
	tu_log("storm/%s: faults injected in %" PRIu64 " runs (%" PRIu64 " allowed resets, %" PRIu64
	       " got one): %" PRIu64 " decisions, %" PRIu64 " shortened, %" PRIu64 " EAGAIN, %" PRIu64
	       " EINTR, %" PRIu64 " ECONNRESET; absorbed (tlsio_stats): %" PRIu64 " short writes, %" PRIu64
	       " EAGAIN, %" PRIu64 " EINTR in %" PRIu64 " writes",
	       name, t.shim_runs, t.reset_runs, t.reset_hit, t.calls, t.shortened, t.eagain, t.eintr,
	       t.reset, t.st_short, t.st_eagain, t.st_eintr, t.st_writes);
	/* one line for scripts/storm.sh */
	tu_log("STORM-SUMMARY backend=%s runs=%" PRIu64 " failed=%" PRIu64 " secs=%.1f bytes=%" PRIu64
	       " delivered=%" PRIu64 " shortened=%" PRIu64 " eagain=%" PRIu64 " eintr=%" PRIu64
	       " reset=%" PRIu64 " reset_runs=%" PRIu64 " short_writes=%" PRIu64 " st_eagain=%" PRIu64
	       " st_eintr=%" PRIu64 " mixed=%" PRIu64 " longest_ms=%" PRIu64 " slow=%" PRIu64
	       " seed=%#" PRIx64,
	       name, t.runs, t.failed, secs, t.bytes_sent, t.bytes_delivered, t.shortened, t.eagain,
	       t.eintr, t.reset, t.reset_hit, t.st_short, t.st_eagain, t.st_eintr, t.mixed,
	       t.max_run_ms, t.slow_runs, master);
	if (stuck)
		return -1;
	return t.failed == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const tlsio_backend *bs[MAX_BACKENDS], *epoll = tlsio_backend_by_name("epoll");
	const char *why = NULL;
	size_t n = tu_pick_backends("test-storm", bs, MAX_BACKENDS), ran = 0;
	int only_set, failed = 0;
	uint64_t master = env_u64("TLSIO_STORM_SEED", DEFAULT_SEED, NULL);
	uint64_t runs = env_u64("TLSIO_STORM_RUNS", 200, NULL);
	uint64_t only = env_u64("TLSIO_STORM_RUN", 0, &only_set);
	unsigned maxfail = (unsigned)env_u64("TLSIO_STORM_MAXFAIL", 10, NULL);
	(void)argc;
	g_argv0 = argv[0];
	g_verbose = getenv("TLSIO_STORM_VERBOSE") != NULL && strcmp(getenv("TLSIO_STORM_VERBOSE"), "0") != 0;
	g_rcvbuf = (int)env_u64("TLSIO_STORM_RCVBUF", 0, NULL);
	g_faults = getenv("TLSIO_STORM_FAULTS") == NULL || strcmp(getenv("TLSIO_STORM_FAULTS"), "0") != 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (epoll != NULL && tlsio_backend_probe(epoll, &why) < 0)
		epoll = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *name = tlsio_backend_name(bs[i]);
		int rc;
		why = NULL;
		rc = tlsio_backend_probe(bs[i], &why);
		if (rc < 0) {
			printf("SKIP storm/%s: %s\n", name, why != NULL ? why : tlsio_strerror(rc));
			continue;
		}
		ran++;
		rc = storm_backend(bs[i], epoll, master, runs, only_set, only, maxfail);
		if (rc != 0)
			failed = 1;
		if (rc < 0)
			break;
	}
	if (ran == 0)
		return 77;
	if (failed)
		tu_log("storm: FAILED (replay lines above)");
	return failed;
}
