/* SPDX-License-Identifier: MIT */
/* Helpers shared by the example tools (tlsio-echo, tlsio-client). Not part of the library:
 * the tools use only the public API in tlsio.h, like any application would. */
#ifndef TLSX_COMMON_H
#define TLSX_COMMON_H

#include <getopt.h>
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
	/* the network tools' flags (TLSX_SERVER_LONGOPTS, TLSX_CLIENT_LONGOPTS) */
	int plain;                   /* --plain: TLSIO_CONN_PLAIN, no TLS configuration */
	const char *unix_path;       /* --unix PATH ("@NAME": abstract) */
	unsigned unix_mode;          /* --unix-mode OCTAL (servers); 0: as the umask leaves it */
	uint32_t connect_timeout_ms; /* --connect-timeout MS (clients); 0: the library's 30 s */
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
	TLSX_OPT_PLAIN,
	TLSX_OPT_UNIX,
	TLSX_OPT_UNIX_MODE,
	TLSX_OPT_CONNECT_TIMEOUT,
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

/* Where a server listens and what it speaks, the same in every server tool. */
#define TLSX_SERVER_LONGOPTS                                                   \
	{"plain", no_argument, NULL, TLSX_OPT_PLAIN},                              \
	{"unix", required_argument, NULL, TLSX_OPT_UNIX},                          \
	{"unix-mode", required_argument, NULL, TLSX_OPT_UNIX_MODE}
/* Where a client connects and what it speaks, the same in every client tool. */
#define TLSX_CLIENT_LONGOPTS                                                   \
	{"plain", no_argument, NULL, TLSX_OPT_PLAIN},                              \
	{"unix", required_argument, NULL, TLSX_OPT_UNIX},                          \
	{"connect-timeout", required_argument, NULL, TLSX_OPT_CONNECT_TIMEOUT}
/* Their --help lines (each tool's own --listen or --connect line names the address forms). */
extern const char tlsx_server_help[];
extern const char tlsx_client_help[];

/**
 * Handle one common flag from getopt_long.
 * @return 1 if handled, 0 if @p opt is not a common flag, -1 on a bad value (message printed).
 */
int tlsx_common_opt(struct tlsx_common *o, int opt, const char *arg);

/** Options for tlsio_tls_config_new() from the common flags (verify is left at DEFAULT). */
void tlsx_tls_opts(const struct tlsx_common *o, tlsio_tls_opts *t);
/** Connection options from the common flags (callbacks and user are the caller's):
 * TLSIO_CONN_PLAIN with --plain, the connect timeout. */
void tlsx_conn_opts(const struct tlsx_common *o, tlsio_conn_opts *c);

/**
 * A client's address: "unix:PATH" with --unix, else @p connect_addr (--connect, passed to
 * tlsio_connect() as it is: host names are resolved by the library). One of the two is
 * needed, not both. A verifying TLS client (@p tls, not @p insecure) over a Unix socket has no
 * host to check the certificate against: it needs @p server_name. Prints its errors.
 * @return 0 or TLSX_EXIT_USAGE.
 */
int tlsx_client_addr(const struct tlsx_common *o, const char *connect_addr, int tls, int insecure,
                     const char *server_name, char *buf, size_t len);

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
/**
 * tlsx_tls_config() without the error message, for a caller that words it (a server's reload):
 * on failure *@p why gets the library's sentence (the file and the cause; valid until the next
 * configuration is made on this thread). Where this wolfSSL cannot log keys, SSLKEYLOGFILE is
 * dropped with a warning (printed once per process). @return 0 or the library's status.
 */
int tlsx_tls_config_try(const struct tlsx_common *o, int is_server, const tlsio_tls_opts *t,
                        tlsio_tls_config **out, const char **why);

/**
 * Read the regular file @p path whole, at most @p max bytes, into a malloc()ed buffer (one
 * byte more than *@p len, a NUL). On failure @p why (@p why_len bytes) gets the cause ("No
 * such file or directory", "not a regular file", "larger than 4096 bytes", "empty").
 * @return 0 or a negative errno.
 */
int tlsx_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, char *why,
                   size_t why_len);
/** Overwrite a secret so that the compiler cannot drop the stores. */
void tlsx_wipe(void *p, size_t len);

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
 * Stopping. A signal handler cannot call into a loop, and a loop belongs to its thread: so the
 * handler posts a tlsio_task (async-signal-safe) to every watched loop, and the tool's stop
 * callback runs there, on the loop's thread, like any other callback. No loop looks at a flag.
 */
/** What a stop callback is asked to do. */
enum {
	TLSX_STOP_GRACEFUL = 1, /**< first SIGINT/SIGTERM, or tlsx_stop_all(): finish and close */
	TLSX_STOP_ABORT = 2     /**< second signal: abort what is left */
};
/**
 * Runs on @p loop's thread, inside tlsio_loop_run(), as a task. @p how is TLSX_STOP_GRACEFUL or
 * TLSX_STOP_ABORT; an ABORT always follows a GRACEFUL on the same loop, but a GRACEFUL may come
 * again (a signal during a --max-conns shutdown): make it idempotent.
 */
typedef void (*tlsx_stop_cb)(tlsio_loop *loop, int how, void *user);
/**
 * Catch SIGINT and SIGTERM: the first asks every watched loop for a graceful stop, the second
 * for an abort; the @p exit_after'th (0: never) ends the process at once with status 128+signo,
 * for a loop that is stuck and never runs its tasks. Ignores SIGPIPE (a peer reset must be a
 * status, not the death of the process). Watch loops with tlsx_signals_watch().
 */
int tlsx_signals_install(int exit_after);
/** Most loops the signal handler can watch (and so most --threads). */
#define TLSX_MAX_LOOPS 1024
/**
 * Have signals and tlsx_stop_all() call @p cb(@p loop, how, @p user) on @p loop's thread. A stop
 * asked before (a signal while the threads were starting) is posted at once. Any thread.
 * @return 0 or -ENOSPC.
 */
int tlsx_signals_watch(tlsio_loop *loop, tlsx_stop_cb cb, void *user);
/**
 * Stop watching @p loop; once this returns nothing posts to it any more and it may be freed
 * (tlsio_loop_free() runs a stop still pending with TLSIO_E_ABORTED, which calls no callback).
 * Any thread (not from a signal handler).
 */
void tlsx_signals_unwatch(tlsio_loop *loop);
/** A graceful stop of every watched loop, and of every loop watched from now on (--max-conns
 * reached, a server thread that failed). Any thread, also from a loop's callback. */
void tlsx_stop_all(void);
/**
 * How long a server's graceful stop (tlsio_loop_drain()) waits before it aborts what is left. Each
 * close is bounded by its linger already (5 s, the library's default), so this only ends a
 * connection that would not end; it stays under the 10 s that `docker stop`, the test scripts
 * and scripts/demo.sh wait before they kill.
 */
#define TLSX_DRAIN_MS 7000
/** The servers' drain callback (@p co: their struct tlsx_common): says how many connections
 * the deadline aborted, unless --quiet. */
void tlsx_drained(tlsio_loop *loop, size_t aborted, void *co);

/* ------------------------------------------------------------------------------------------ */
/* Servers on several threads: one loop and one SO_REUSEPORT listener per thread */

/** --threads N: 1 or more, or 0 for one per online CPU. @return 0, or -1 on a bad value. */
int tlsx_parse_threads(const char *s, int *out);

/** Most addresses one server listens on (systemd may pass several sockets). */
#define TLSX_MAX_LISTEN 16
/** The longest address: "unix:" and a 107-byte path, "[IPv6%zone]:port". */
#define TLSX_ADDR_LEN 128

/** The addresses a server listens on (or, from a start, the ones it bound). */
struct tlsx_addrs {
	int n;
	char addr[TLSX_MAX_LISTEN][TLSX_ADDR_LEN];
};

/**
 * Where a server listens, from its flags: --unix PATH ("unix:PATH"), --listen systemd (every
 * socket systemd passed, "fd:3" ...: tlsio_listen_fds()), else --listen @p listen_addr (any
 * address tlsio_listen() takes, "fd:N" too), or the tool's default @p def when neither was
 * given. With @p threads > 1 every thread listens on each of them: TCP addresses through
 * SO_REUSEPORT, inherited sockets ("fd:N") by sharing their accept queue; a Unix socket
 * cannot be bound twice and the library hands out no listener's fd to share, so --unix (and
 * a unix: address) is refused with --threads > 1. Prints its errors.
 * @return 0, TLSX_EXIT_USAGE or TLSX_EXIT_FAIL.
 */
int tlsx_server_addrs(const struct tlsx_common *o, const char *listen_addr, const char *def,
                      int threads, struct tlsx_addrs *out);
/** Whether the addresses are sockets the process was given ("fd:N"): no SO_REUSEPORT group,
 * the threads share one accept queue. For the startup line. */
int tlsx_addrs_inherited(const struct tlsx_addrs *a);

/** What a server tool does on each of its threads; @p worker is that thread's own state. */
struct tlsx_server_ops {
	/**
	 * Create the thread's loop (tlsx_signals_watch() it, with the tool's stop callback) and
	 * listen on every address of @p addrs, with TLSIO_LISTEN_REUSEPORT on TCP when @p shared;
	 * write the bound addresses, in the same order, into @p bound.
	 * Prints its own errors. @return 0 or an exit status.
	 */
	int (*start)(void *worker, const struct tlsx_addrs *addrs, int shared,
	             struct tlsx_addrs *bound);
	/** Serve until the stop callback's drain ends the run. @return 0 or an exit status. */
	int (*run)(void *worker);
	/** After run, or after a failed start: tlsx_signals_unwatch() and free what start made. */
	void (*finish)(void *worker);
};

/**
 * The usual start: a loop on --backend (@p o), tlsx_signals_watch()ed with @p on_stop,
 * listening on every address of @p addrs (TLSIO_LISTEN_REUSEPORT on TCP when @p shared,
 * --unix-mode on a socket file), the listeners in @p listeners (TLSX_MAX_LISTEN slots), their
 * bound addresses in @p bound. @p arg goes to @p cb and to @p on_stop. Prints its errors
 * prefixed by the tool's name. @return 0 or an exit status (what start returns).
 */
int tlsx_server_listen(const struct tlsx_common *o, const struct tlsx_addrs *addrs, int shared,
                       tlsio_tls_config *cfg, const tlsio_conn_opts *copts, tlsio_accept_cb cb,
                       tlsx_stop_cb on_stop, void *arg, tlsio_loop **loop,
                       tlsio_listener **listeners, struct tlsx_addrs *bound);
/** Close the listeners tlsx_server_listen() made (a stop without a drain); NULLs the slots. */
void tlsx_listeners_close(tlsio_listener **listeners);

/**
 * Run @p n servers, worker i at (char *)workers + i * size, each on its own thread with its own
 * loop; with @p n == 1 everything runs on the calling thread (and without SO_REUSEPORT). The
 * first listens on @p addrs, the others on the TCP addresses it bound (so port 0 works) and on
 * the same inherited sockets. Once all listen, @p on_listening (optional) gets the bound
 * addresses on the calling thread. If one fails to start, or its loop fails, the others are
 * stopped (tlsx_stop_all()).
 * @return the first nonzero exit status of a worker, else 0.
 */
int tlsx_run_servers(int n, void *workers, size_t size, const struct tlsx_server_ops *ops,
                     const struct tlsx_addrs *addrs,
                     void (*on_listening)(const struct tlsx_addrs *bound, void *arg), void *arg);

#endif
