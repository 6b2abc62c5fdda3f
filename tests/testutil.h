/* SPDX-License-Identifier: MIT */
/* Helpers shared by the test programs: SHA-256, a seeded PRNG and pattern streams, certificate
 * paths, failures recorded from any thread, a thread runner with a watchdog, and a client/server
 * "pair" harness that runs one loop per thread over TCP on 127.0.0.1.
 *
 * Failures found in worker threads are recorded (the first one is kept, all are logged) instead of
 * calling Check from a thread; the test body asserts tu_failed() == 0 after the threads joined. */
#ifndef TLSIO_TESTUTIL_H
#define TLSIO_TESTUTIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "sha256.h"
#include "tlsio.h"

#define TU_KIB ((size_t)1024)
#define TU_MIB ((size_t)1024 * 1024)

/* ---- time and logging ------------------------------------------------------------------- */
uint64_t tu_now_ms(void);
uint64_t tu_now_us(void);
void tu_sleep_ms(unsigned ms);
/** printf to stdout, one line, flushed at once (Check's forked children may _exit). */
void tu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- failures (any thread) -------------------------------------------------------------- */
void tu_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define TU_FAIL(...) tu_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define TU_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			tu_fail_at(__FILE__, __LINE__, __VA_ARGS__);                               \
	} while (0)
/** Number of failures recorded since tu_reset_failures(). */
int tu_failed(void);
/** The first failure ("file:line: message"), or "" if none. */
const char *tu_failure(void);
void tu_reset_failures(void);

/* ---- SHA-256 (FIPS 180-4) --------------------------------------------------------------- */
typedef tlsx_sha256 tu_sha256;
#define tu_sha256_init tlsx_sha256_init
#define tu_sha256_update tlsx_sha256_update
#define tu_sha256_final tlsx_sha256_final
#define tu_hex tlsx_hex
void tu_sha256_digest(const void *data, size_t len, uint8_t out[32]);

/* ---- PRNG and pattern streams ----------------------------------------------------------- */
typedef struct tu_rng {
	uint64_t s;
} tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/** Uniform in [0, n) (n > 0). */
uint64_t tu_rng_below(tu_rng *r, uint64_t n);
/** A size in [min, max], log-uniform, so that small and large sizes both occur often. */
size_t tu_rng_size(tu_rng *r, size_t min, size_t max);
void tu_rng_fill(tu_rng *r, void *buf, size_t len);
/** $TLSIO_TEST_SEED if set (decimal or 0x hex), else @p dflt. */
uint64_t tu_seed(uint64_t dflt);

/** Bytes [off, off+len) of the deterministic stream named by @p seed. */
void tu_pattern(uint64_t seed, uint64_t off, void *buf, size_t len);
/** Index of the first byte of @p buf that differs from the stream at @p off, or @p len. */
size_t tu_pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t len);

/* ---- backends ----------------------------------------------------------------------------- */
/**
 * The backends a suite runs: the names in $TLSIO_BACKENDS (comma list), else $TLSIO_BACKEND,
 * else every compiled-in one. A name that is not compiled in, or a list naming none, ends the
 * program with a message (prefixed with @p prog) and exit status 1: asking for a backend that
 * is not there is a mistake, not a skip. @return the count (at most @p max).
 */
size_t tu_pick_backends(const char *prog, const tlsio_backend **out, size_t max);

/* ---- certificates ----------------------------------------------------------------------- */
/** "$TLSIO_TEST_CERTS/<file>" (fallback: tests/certs, ../tests/certs). Stable storage. */
const char *tu_cert(const char *file);

/* ---- threads, watchdog, loops ------------------------------------------------------------ */
/** Set once a watchdog expired: worker loops must wind down. */
int tu_aborted(void);
/** Loops of running threads, woken every few ms by tu_run_threads() so that RUN_ONCE returns. */
void tu_loop_register(tlsio_loop *loop);
void tu_loop_unregister(tlsio_loop *loop);

typedef void (*tu_thread_fn)(void *arg);
/**
 * Run fns[i](args[i]) in @p n threads until all return. After @p timeout_ms: record a failure,
 * call @p describe (diagnostics), set tu_aborted(), wake the loops and give the threads a grace
 * period. @return 0 if all finished in time, -1 after a watchdog expiry in which all threads
 * still ended, -2 if some thread is stuck (its arguments must then be leaked, not freed).
 */
int tu_run_threads(size_t n, const tu_thread_fn *fns, void *const *args, unsigned timeout_ms,
                   void (*describe)(void *), void *describe_arg);

/** The byte counters of a run, for the progress watchdog: their sum, and in @p buf which side
 * has how many and what it is waiting for. */
typedef uint64_t (*tu_progress_fn)(void *arg, char *buf, size_t len);
/** Milliseconds without progress after which a run fails (default 10000;
 * $TLSIO_TEST_PROGRESS_MS overrides). */
unsigned tu_progress_ms(void);
/**
 * tu_run_threads() with a progress watchdog as well: when @p progress's sum has not moved for
 * tu_progress_ms(), the run fails at once with a message naming the counters (a hang costs
 * seconds, not the whole watchdog) and ends as after a watchdog expiry.
 */
int tu_run_threads_ex(size_t n, const tu_thread_fn *fns, void *const *args, unsigned timeout_ms,
                      void (*describe)(void *), void *describe_arg, tu_progress_fn progress);

/** Run @p loop (NOWAIT, napping 1 ms between turns) until pred(arg) or @p timeout_ms. @return pred. */
int tu_loop_run_until(tlsio_loop *loop, int (*pred)(void *), void *arg, unsigned timeout_ms);

/* ---- client/server pair ------------------------------------------------------------------ */
typedef struct tu_peer tu_peer;
typedef struct tu_side tu_side;
typedef struct tu_pair tu_pair;

enum tu_tx_mode {
	TU_TX_COPY = 0,  /**< tlsio_send */
	TU_TX_REF = 1,   /**< tlsio_send_ref with a completion; buffer kept until it fires */
	TU_TX_MIXED = 2  /**< random: tlsio_send, tlsio_send_ref, tlsio_send_ex copy + completion */
};
enum tu_tx_start {
	TU_START_HANDSHAKE = 0,  /**< start sending in on_handshake */
	TU_START_PEER_CLOSE = 1, /**< start sending in on_peer_close (half-close test) */
	TU_START_MANUAL = 2      /**< the test calls tu_peer_pump() */
};
enum tu_tx_then {
	TU_THEN_CLOSE = 0,    /**< tlsio_close() right after the last send was accepted */
	TU_THEN_SHUTDOWN = 1, /**< tlsio_shutdown() */
	TU_THEN_NOTHING = 2
};

/** What one connection does. Zero: send nothing, read and hash everything, close when the peer does. */
typedef struct tu_plan {
	/* sending: the stream tx_seed, in chunks of [tx_min, tx_max] bytes */
	uint64_t tx_total;      /**< bytes to send */
	uint64_t tx_count;      /**< if set: number of sends instead (tx_total ignored) */
	uint64_t tx_seed;
	size_t tx_min, tx_max;  /**< 0: 64 KiB */
	int tx_mode, tx_start, tx_then;
	size_t tx_window;       /**< echo lockstep: at most this many bytes sent and not yet echoed */
	/* receiving */
	uint64_t rx_seed;       /**< the incoming stream must be this pattern (0: hash only) */
	size_t rx_sleep_every;  /**< slow reader: sleep 1 ms per this many bytes */
	size_t rx_pause_every;  /**< tlsio_read_stop after this many bytes; restarted next turn */
	unsigned rx_long_pause_ms; /**< the second pause lasts this long */
	int rx_stop_on_handshake;  /**< tlsio_read_stop in on_handshake (the test restarts it) */
	uint64_t rx_close_at;   /**< tlsio_close once this many bytes arrived */
	int echo;               /**< send back what arrives */
	int no_peer_close_cb;   /**< on_peer_close = NULL: the library closes on its own */
	/* test hooks (called after the harness's own handling) */
	void (*on_handshake)(tu_peer *p);
	void (*on_data)(tu_peer *p, const uint8_t *data, size_t len);
	void (*on_queue_full)(tu_peer *p);
	void (*on_tx_done)(tu_peer *p);
	void (*on_close)(tu_peer *p);
} tu_plan;

struct tu_req;

/** One connection's state. Owned by its side's thread while the pair runs. */
struct tu_peer {
	tu_plan plan;
	tu_side *side;      /**< NULL for a stand-alone peer */
	int index;
	tlsio_conn *conn;   /**< NULL once closed */
	size_t high_water, low_water;
	/* events */
	int handshakes, closes, peer_closes, drains, closed;
	size_t drain_queued_max; /**< the largest tlsio_conn_queued() seen inside on_drain */
	int status, alert;
	tlsio_stats stats;  /**< at on_close */
	char version[32], sni[128];
	/* the peer's certificate: who it is (after the handshake), why it was refused (at close) */
	char peer_subject[128], peer_san0[128];
	int cert_err;
	char cert_why[512];
	/* receiving */
	tu_sha256 rx_sha;
	uint64_t rx_len, rx_bad_at; /**< rx_bad_at: first byte off the pattern (UINT64_MAX: none) */
	uint8_t rx_digest[32];
	size_t sleep_acc, pause_acc;
	int paused, pauses, restarts;
	uint64_t resume_at;
	/* sending */
	tu_rng rng;
	tu_sha256 tx_sha;
	uint64_t tx_len, sends, qfull;
	uint64_t send_us_max;  /**< the longest single tlsio_send*() call */
	uint8_t tx_digest[32];
	int tx_done, tx_failed, waiting_drain, pumping, close_called;
	uint8_t *scratch;
	size_t scratch_cap;
	/* completions */
	struct tu_req *reqs_head;
	uint64_t reqs, completions, compl_ok, compl_fail;
	int compl_first_err, compl_seen_fail;
	/* free for the test */
	int mark;
	uint64_t t0, value, aux, aux2;
};

struct tu_side {
	tu_pair *pair;
	const char *name;       /**< "server" / "client" */
	int is_server;
	tlsio_tls_opts tls;     /**< filled with the test certificates by tu_pair_new() */
	tlsio_conn_opts opts;   /**< cb and user are set per connection by the harness */
	tu_plan plan;           /**< copied into each connection's peer */
	const tlsio_backend *be; /**< if set, this side's loop runs on it (mixed-backend pairs) */
	int expect;             /**< connections to accept / open (default 1) */
	int hold;               /**< > 0: keep running after all connections closed (tick lowers it) */
	void (*setup)(tu_side *s); /**< once the loop exists, before connecting */
	void (*tick)(tu_side *s);  /**< every loop turn, outside callbacks */
	void *ctx;
	/* runtime */
	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_listener *listener;
#define TU_MAX_PEERS 8
	tu_peer peers[TU_MAX_PEERS];
	int npeers, nclosed;
	uint64_t t_start, t_end;
	uint64_t last_run_us;   /**< duration of the last tlsio_loop_run(ONCE) in the driver */
	void *app_loop;         /**< tu_app_loop: the uv_loop_t this side's loop runs on */
};

struct tu_pair {
	const char *backend;
	const tlsio_backend *be; /**< if set, used instead of looking @c backend up (test-only backends) */
	tu_side server, client;
	unsigned timeout_ms;    /**< watchdog (default 60 s) */
	char addr[64];          /**< the server's "127.0.0.1:PORT" */
	const char *listen_host; /**< the server listens on this host, port 0 (default 127.0.0.1;
	                              IPv6 without brackets) */
	const char *connect_host; /**< the client connects to this host and the server's port
	                               (default: the server's address as tlsio_listener_addr says) */
	uint64_t tamper_s2c_at;  /**< > 0: the client connects through a proxy thread that flips
	                              one bit of the server->client TCP stream at this offset
	                              (0-based); a tampered TLS record for the client */
	int tampered;            /**< the proxy flipped it */
	pthread_t proxy;
	int proxy_started, proxy_lfd;
	char real_addr[64];
	atomic_int addr_state;  /**< 0 pending, 1 ready, -1 the server could not start */
	atomic_int flag[8];     /**< cross-thread signals for the tests */
	int stuck;              /**< a thread never ended: the pair is leaked */
	int quiet;              /**< no summary log after the run (many short runs); watchdog still logs */
	int plain;              /**< both sides plain (TLSIO_CONN_PLAIN): from tu_transport */
	int unix_sock;          /**< the server listens on a Unix socket file: from tu_transport */
	char unix_path[108];
};

/** A blocking connection to @p addr as the pair's server gives it: "127.0.0.1:PORT" (the
 * loopback, the port of @p addr) or "unix:PATH" / "unix:@NAME". @return the fd or -1. */
int tu_tcp_connect(const char *addr);

/** Whether this machine has an IPv6 loopback (::1 can be bound). */
int tu_ipv6_loopback(void);

/** How tu_pair_new()'s pairs connect: TLS over TCP (the default), plain TCP (TLSIO_CONN_PLAIN,
 * no TLS configuration), TLS over a Unix socket (a file in $TMPDIR). */
enum tu_transport { TU_TCP_TLS = 0, TU_TCP_PLAIN = 1, TU_UNIX_TLS = 2 };
extern int tu_transport;
/** Nonzero: a side whose backend is libuv makes its loop with tlsio_loop_new_uv() on a uv_loop_t
 * of the test's own and drives it with uv_run(), never tlsio_loop_run(); at the end that uv loop
 * must be left clean (uv_run() 0, uv_loop_close() 0). The "contract/libuv-app" suites. */
extern int tu_app_loop;
/** The transport's name: "tls", "plain", "unix". */
const char *tu_transport_name(int t);

/** A pair on @p backend with defaults: server cert/key, client CA + server_name "localhost". */
tu_pair *tu_pair_new(const char *backend);
/** Run server and client threads until both sides are done or the watchdog fires. @return as tu_run_threads. */
int tu_pair_run(tu_pair *p);
void tu_pair_free(tu_pair *p);
void tu_signal(tu_pair *p, int i);
int tu_signaled(tu_pair *p, int i);

/** Callbacks of the harness (user = tu_peer *). */
extern const tlsio_callbacks tu_callbacks;
/** Prepare a stand-alone peer (no side) for a connection made by the test itself. */
void tu_peer_init(tu_peer *p, tu_side *side, int index, const tu_plan *plan);
/** Free what the peer allocated (requests, scratch). */
void tu_peer_release(tu_peer *p);
/** Send what the plan allows now (called from the callbacks; tests may call it too). */
void tu_peer_pump(tu_peer *p);
/** One-line summary (for logs). */
void tu_peer_describe(const tu_peer *p, const char *backend, char *buf, size_t len);
/** Record a failure unless @p rx received exactly what @p tx sent (length, digest, pattern). */
void tu_expect_stream(const tu_peer *tx, const tu_peer *rx);

#endif
