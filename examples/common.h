/* SPDX-License-Identifier: MIT */
/* Helpers shared by the example tools (tlsio-echo, tlsio-client). Not part of the library:
 * the tools use only the public API in tlsio.h, like any application would. */
#ifndef TLSX_COMMON_H
#define TLSX_COMMON_H

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sha256.h"
#include "tlsio.h"

/* Exit codes shared by the tools: scripts tell "the run failed" from "you called me wrong". */
#define TLSX_EXIT_OK 0
#define TLSX_EXIT_FAIL 1
#define TLSX_EXIT_USAGE 2

/* ------------------------------------------------------------------------------------------ */
/* Flags every tool understands. */

struct tlsx_common {
	const char *prog;     /* for messages */
	const char *backend;  /* NULL: library default ($TLSIO_BACKEND, else auto) */
	const char *cert, *key, *ca;
	const char *alpn;
	int tls_min, tls_max; /* 0: library default */
	int sndbuf, rcvbuf;   /* 0: kernel default */
	int quiet;
	int list_backends;
};

/* getopt_long values of the common flags; tools number their own from TLSX_OPT_TOOL. */
enum {
	TLSX_OPT_BACKEND = 0x100,
	TLSX_OPT_CERT,
	TLSX_OPT_KEY,
	TLSX_OPT_CA,
	TLSX_OPT_TLS_MIN,
	TLSX_OPT_TLS_MAX,
	TLSX_OPT_ALPN,
	TLSX_OPT_SNDBUF,
	TLSX_OPT_RCVBUF,
	TLSX_OPT_LIST_BACKENDS,
	TLSX_OPT_TOOL = 0x200
};

#define TLSX_COMMON_LONGOPTS                                                   \
	{"backend", required_argument, NULL, TLSX_OPT_BACKEND},                    \
	{"cert", required_argument, NULL, TLSX_OPT_CERT},                          \
	{"key", required_argument, NULL, TLSX_OPT_KEY},                            \
	{"ca", required_argument, NULL, TLSX_OPT_CA},                              \
	{"tls-min", required_argument, NULL, TLSX_OPT_TLS_MIN},                    \
	{"tls-max", required_argument, NULL, TLSX_OPT_TLS_MAX},                    \
	{"alpn", required_argument, NULL, TLSX_OPT_ALPN},                          \
	{"sndbuf", required_argument, NULL, TLSX_OPT_SNDBUF},                      \
	{"rcvbuf", required_argument, NULL, TLSX_OPT_RCVBUF},                      \
	{"list-backends", no_argument, NULL, TLSX_OPT_LIST_BACKENDS},              \
	{"quiet", no_argument, NULL, 'q'},                                         \
	{"help", no_argument, NULL, 'h'}

/* The --help lines of the flags above (except --cert/--key/--ca, whose meaning differs). */
extern const char tlsx_common_help[];

/**
 * Handle one common flag from getopt_long.
 * @return 1 if handled, 0 if @p opt is not a common flag, -1 on a bad value (message printed).
 */
int tlsx_common_opt(struct tlsx_common *o, int opt, const char *arg);

/** Options for tlsio_tls_config_new() from the common flags (verify is left at DEFAULT). */
void tlsx_tls_opts(const struct tlsx_common *o, tlsio_tls_opts *t);
/** Connection options from the common flags (callbacks and user are the caller's). */
void tlsx_conn_opts(const struct tlsx_common *o, tlsio_conn_opts *c);

/**
 * The backend named by --backend. An unknown name prints the compiled-in ones and returns
 * TLSX_EXIT_USAGE; an unusable one prints the probe's reason and returns TLSX_EXIT_FAIL.
 */
int tlsx_backend(const struct tlsx_common *o, const tlsio_backend **out);
/** --list-backends: one name per line, unusable ones marked with the probe's reason. */
void tlsx_list_backends(FILE *f);
/** Build the TLS configuration; prints the reason on failure. @return 0 or TLSX_EXIT_FAIL. */
int tlsx_tls_config(const struct tlsx_common *o, int is_server, const tlsio_tls_opts *t,
                    tlsio_tls_config **out);

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

/** "65536", "64K", "16M", "1G", "2T" (binary multiples; an optional "iB" or "B" is accepted). */
int tlsx_parse_size(const char *s, uint64_t *out);
/** A size that must fit in an int (socket buffer sizes). */
int tlsx_parse_int_size(const char *s, int *out);
/** "1.2" or "1.3" (also "tls1.2", "TLSv1.3"). */
int tlsx_parse_version(const char *s, int *out);
/** Plain unsigned decimal. */
int tlsx_parse_u64(const char *s, uint64_t *out);


/* ------------------------------------------------------------------------------------------ */
/* Deterministic byte stream: the same seed gives the same bytes whatever the chunking. */

typedef struct tlsx_prng {
	uint64_t state;
	uint8_t spare[8];
	unsigned nspare;
	int text;       /* lower-case letters in 64-byte lines, for line-based peers */
	uint64_t off;   /* bytes produced so far */
} tlsx_prng;

void tlsx_prng_init(tlsx_prng *g, uint64_t seed);
void tlsx_prng_fill(tlsx_prng *g, void *buf, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Output, time, signals */

/** Monotonic seconds. */
double tlsx_now(void);
/** The counters of tlsio_conn_stats(), one per line, each prefixed by @p indent. */
void tlsx_print_stats(FILE *f, const char *indent, const tlsio_stats *st);
/** "<prog>: <what>: <strerror> (alert <name>)" on stderr. */
void tlsx_print_status(const char *prog, const char *what, int status, int alert);
/** @p s as a JSON string literal (with the quotes); NULL prints null. */
void tlsx_json_str(FILE *f, const char *s);

/*
 * Atomics rather than volatile sig_atomic_t: with one loop per thread the handler runs on
 * whichever thread the kernel picks, and every thread reads the flags.
 */
/** Set by the SIGINT/SIGTERM handler: the number of the last signal received. */
extern atomic_int tlsx_signal;
/** Count of such signals so far, so that a second ^C can escalate. */
extern atomic_int tlsx_signal_count;
/** Set by tlsx_stop_all(): every worker should shut down as after a first signal. */
extern atomic_int tlsx_stop_requested;
/**
 * Catch SIGINT and SIGTERM: set tlsx_signal, then tlsio_loop_stop() + tlsio_loop_wake() on
 * every watched loop so that tlsio_loop_run() returns. The watched set becomes {@p loop} (empty
 * if NULL); tlsx_signals_watch() adds more. Ignores SIGPIPE (a peer reset must be a status,
 * not the death of the process). The @p exit_after'th signal (0: never) ends the process at
 * once with status 128+signo, for when the loop is stuck and never looks at the flag.
 */
int tlsx_signals_install(tlsio_loop *loop, int exit_after);
/** Most loops the signal handler can watch (and so most --threads). */
#define TLSX_MAX_LOOPS 1024
/** Add @p loop to the loops a signal stops and wakes. Any thread. @return 0 or -ENOSPC. */
int tlsx_signals_watch(tlsio_loop *loop);
/**
 * Remove @p loop; once this returns no handler touches it and it may be freed. Any thread
 * (not from a signal handler).
 */
void tlsx_signals_unwatch(tlsio_loop *loop);
/** Set tlsx_stop_requested and stop + wake every watched loop (e.g. --max-conns reached). */
void tlsx_stop_all(void);

/* ------------------------------------------------------------------------------------------ */
/* Servers on several threads: one loop and one SO_REUSEPORT listener per thread */

/** --threads N: 1 or more, or 0 for one per online CPU. @return 0, or -1 on a bad value. */
int tlsx_parse_threads(const char *s, int *out);

/** What a server tool does on each of its threads; @p worker is that thread's own state. */
struct tlsx_server_ops {
	/**
	 * Create the thread's loop (tlsx_signals_watch() it) and listen on @p addr, with
	 * TLSIO_LISTEN_REUSEPORT when @p shared; write the bound address into @p bound.
	 * Prints its own errors. @return 0 or an exit status.
	 */
	int (*start)(void *worker, const char *addr, int shared, char *bound, size_t len);
	/** Serve until shut down. @return 0 or an exit status. */
	int (*run)(void *worker);
	/** After run, or after a failed start: tlsx_signals_unwatch() and free what start made. */
	void (*finish)(void *worker);
};

/**
 * The usual start: a loop on @p backend (NULL: auto), tlsx_signals_watch()ed, listening on
 * @p addr (TLSIO_LISTEN_REUSEPORT when @p shared), its bound address in @p bound. Prints its
 * errors prefixed by @p prog. @return 0 or an exit status (what start returns).
 */
int tlsx_server_listen(const char *prog, const char *backend, const char *addr, int shared,
                       tlsio_tls_config *cfg, const tlsio_conn_opts *copts, tlsio_accept_cb cb,
                       void *arg, tlsio_loop **loop, tlsio_listener **listener, char *bound,
                       size_t len);

/**
 * Run @p n servers, worker i at (char *)workers + i * size, each on its own thread with its own
 * loop; with @p n == 1 everything runs on the calling thread (and without SO_REUSEPORT). The
 * first listens on @p addr, the others on the address it bound, so port 0 works. Once all
 * listen, @p on_listening (optional) gets that address on the calling thread. If one fails to
 * start, the others are stopped (tlsx_stop_all()).
 * @return the first nonzero exit status of a worker, else 0.
 */
int tlsx_run_servers(int n, void *workers, size_t size, const struct tlsx_server_ops *ops,
                     const char *addr, void (*on_listening)(const char *bound, void *arg),
                     void *arg);

#endif
