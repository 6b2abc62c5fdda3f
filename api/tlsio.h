/* SPDX-License-Identifier: MIT */
/**
 * @file tlsio.h
 * @brief libtlsio: TLS connections and an ordered send queue over interchangeable I/O backends.
 *
 * The contract (holds on every backend, checked by the contract suite):
 *  - Order: the bytes of successive tlsio_send() calls on one connection reach the peer
 *    application in call order, exactly once, whatever short writes, EAGAIN or EINTR the kernel
 *    produces.
 *  - Ownership: tlsio_send() copies; tlsio_send_ref() keeps the caller's buffer until its
 *    completion. Every completion fires exactly once, in send order, also when the connection
 *    fails (then with a negative status).
 *  - Never block: no call blocks on an event backend (epoll, uring, libev). Only the "blocking"
 *    backend blocks, and only inside tlsio_loop_run().
 *  - Backpressure: tlsio_conn_queued() tells the bytes not yet written to the kernel; a send into
 *    a queue already at or above high water is refused with TLSIO_E_QUEUE_FULL; on_drain fires
 *    when the queue falls to low water or below.
 *  - Alerts: a fatal TLS error sends the matching alert before the socket closes, bounded by the
 *    linger deadline; on_close receives the status and the alert code.
 *  - Close: tlsio_close() sends queued data, then close_notify, then shuts down the write side.
 *    A received close_notify ends the connection with status 0; EOF without it ends it with
 *    TLSIO_E_TRUNCATED.
 *
 * Threads: a loop and everything attached to it belong to the thread that runs the loop. The only
 * calls that may come from another thread or a signal handler are tlsio_loop_wake() and
 * tlsio_loop_stop() (stop, then wake). Different loops may run in different threads at once, and
 * share a tlsio_tls_config (its reference count is atomic; wolfSSL is initialised once). Backend
 * lookup and probing, tlsio_crypto_info(), tlsio_strerror() and tlsio_alert_name() may be called
 * from any thread. A multi-core server runs one loop per thread, each with its own listener on
 * the same address (TLSIO_LISTEN_REUSEPORT, see tlsio_listen_ex()): the kernel spreads incoming
 * connections over the listeners, and no lock is taken on the data path.
 *
 * Errors: functions return 0 (or a count) on success and a negative value on failure: either a
 * negated errno value (-ENOMEM, -ECONNREFUSED, ...) or one of the TLSIO_E_* codes below, which lie
 * outside errno's range. tlsio_strerror() names both.
 */
#ifndef TLSIO_H
#define TLSIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define TLSIO_EXPORT __attribute__((visibility("default")))
#else
#define TLSIO_EXPORT
#endif

#define TLSIO_VERSION_STRING "0.1.0"

/** @name Error codes (negative, outside errno's range) */
/**@{*/
#define TLSIO_E_BASE              (-20000)
#define TLSIO_E_TLS               (-20001) /**< fatal TLS error detected locally; alert sent */
#define TLSIO_E_ALERT_RECEIVED    (-20002) /**< the peer sent a fatal alert */
#define TLSIO_E_TRUNCATED         (-20003) /**< EOF without close_notify */
#define TLSIO_E_CERT_VERIFY       (-20004) /**< peer certificate failed verification */
#define TLSIO_E_QUEUE_FULL        (-20005) /**< send refused: queue at or above high water */
#define TLSIO_E_CLOSED            (-20006) /**< connection is closing or closed */
#define TLSIO_E_ABORTED           (-20007) /**< ended by tlsio_abort() or loop free */
#define TLSIO_E_NO_BACKEND        (-20008) /**< unknown backend name, or none compiled in */
#define TLSIO_E_BACKEND_UNAVAILABLE (-20009) /**< compiled in but unusable on this system */
#define TLSIO_E_TLS_CONFIG        (-20010) /**< bad TLS configuration (files, versions, ALPN) */
#define TLSIO_E_HANDSHAKE_TIMEOUT (-20011) /**< handshake did not finish in time */
#define TLSIO_E_IDLE_TIMEOUT      (-20012) /**< no traffic for the idle timeout */
#define TLSIO_E_LINGER_TIMEOUT    (-20013) /**< graceful close did not finish before linger */
#define TLSIO_E_VERSION           (-20014) /**< no TLS version in common (protocol_version) */
#define TLSIO_E_BAD_ADDRESS       (-20015) /**< address not of the form IP:PORT or [IPv6]:PORT */
#define TLSIO_E_EOF_IN_HANDSHAKE  (-20016) /**< peer closed the socket during the handshake */
#define TLSIO_E_REFUSED           (-20017) /**< on_client_hello refused the client; alert sent */
/**@}*/

/** Human-readable text for a status (negated errno or TLSIO_E_*). Never NULL. */
TLSIO_EXPORT const char *tlsio_strerror(int status);
/** Name of a TLS alert description ("protocol_version", ...), or "unknown". */
TLSIO_EXPORT const char *tlsio_alert_name(int alert);

/** @name TLS alert codes (RFC 8446 section 6) passed to on_close */
/**@{*/
#define TLSIO_ALERT_NONE               (-1)
#define TLSIO_ALERT_CLOSE_NOTIFY        0
#define TLSIO_ALERT_UNEXPECTED_MESSAGE 10
#define TLSIO_ALERT_BAD_RECORD_MAC     20
#define TLSIO_ALERT_RECORD_OVERFLOW    22
#define TLSIO_ALERT_HANDSHAKE_FAILURE  40
#define TLSIO_ALERT_BAD_CERTIFICATE    42
#define TLSIO_ALERT_CERTIFICATE_EXPIRED 45
#define TLSIO_ALERT_ILLEGAL_PARAMETER  47
#define TLSIO_ALERT_UNKNOWN_CA         48
#define TLSIO_ALERT_DECODE_ERROR       50
#define TLSIO_ALERT_DECRYPT_ERROR      51
#define TLSIO_ALERT_PROTOCOL_VERSION   70
#define TLSIO_ALERT_INTERNAL_ERROR     80
#define TLSIO_ALERT_UNRECOGNIZED_NAME 112
#define TLSIO_ALERT_NO_APPLICATION_PROTOCOL 120
/**@}*/

typedef struct tlsio_loop tlsio_loop;
typedef struct tlsio_conn tlsio_conn;
typedef struct tlsio_listener tlsio_listener;
typedef struct tlsio_tls_config tlsio_tls_config;
typedef struct tlsio_backend tlsio_backend;

/* ------------------------------------------------------------------------------------------ */
/** @name Backends */
/**@{*/

/**
 * Backend by name: "blocking", "epoll", "uring", "libev", or "auto" (the best available one).
 * NULL or "" means the default: $TLSIO_BACKEND if set, else "auto".
 * @return the backend, or NULL if the name is unknown or not compiled in.
 */
TLSIO_EXPORT const tlsio_backend *tlsio_backend_by_name(const char *name);
/** The backend's name. */
TLSIO_EXPORT const char *tlsio_backend_name(const tlsio_backend *b);
/**
 * Fill @p out with up to @p max compiled-in backends, best first.
 * @return the number of compiled-in backends (may exceed @p max).
 */
TLSIO_EXPORT size_t tlsio_backends(const tlsio_backend **out, size_t max);
/**
 * Whether the backend works on this system (e.g. io_uring may be disabled by sysctl or seccomp).
 * @return 0 if usable, else a negative status; @p why (optional) gets a static sentence.
 */
TLSIO_EXPORT int tlsio_backend_probe(const tlsio_backend *b, const char **why);
/** Comma-separated names of the compiled-in backends, for error messages. Static storage. */
TLSIO_EXPORT const char *tlsio_backend_names(void);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/** @name Loop */
/**@{*/

/**
 * Create a loop on backend @p b (NULL: tlsio_backend_by_name(NULL)).
 * @return 0, TLSIO_E_NO_BACKEND, TLSIO_E_BACKEND_UNAVAILABLE or -errno.
 */
TLSIO_EXPORT int tlsio_loop_new(tlsio_loop **out, const tlsio_backend *b);
/**
 * Abort every connection (completions and on_close fire with TLSIO_E_ABORTED), close listeners,
 * free. Call it on the thread that ran the loop: it also releases that thread's TLS caches
 * (wolfSSL's ECC point cache, which wolfSSL would otherwise keep until process exit).
 */
TLSIO_EXPORT void tlsio_loop_free(tlsio_loop *loop);
/** The backend the loop runs on. */
TLSIO_EXPORT const tlsio_backend *tlsio_loop_backend(const tlsio_loop *loop);
/**
 * How the loop's backend runs here, in one line: the I/O paths it chose after probing the
 * kernel (e.g. for io_uring the setup flags and the receive path), or just the backend name.
 * The string stays valid until the loop is freed.
 */
TLSIO_EXPORT const char *tlsio_loop_info(const tlsio_loop *loop);

/** Run modes for tlsio_loop_run(). */
enum tlsio_run_mode {
	TLSIO_RUN_DEFAULT = 0, /**< until tlsio_loop_stop() or nothing is left (no connection, no listener) */
	TLSIO_RUN_ONCE = 1,    /**< wait for events once (bounded by timers), process them, return */
	TLSIO_RUN_NOWAIT = 2   /**< process what is ready without waiting */
};
/**
 * Run the loop. Callbacks run inside this call. Not reentrant: do not call it from inside one of
 * the loop's callbacks (buffers the loop reads into are still in use further up the stack).
 * @return 0 when stopped or idle, or a negative status if the backend failed.
 */
TLSIO_EXPORT int tlsio_loop_run(tlsio_loop *loop, int mode);
/**
 * Make tlsio_loop_run() return after the current iteration. Safe from another thread or a
 * signal handler; follow it with tlsio_loop_wake() so that a waiting loop notices. Each stop
 * ends one run: one made while no run is going ends the next run after its first pass, so a
 * stop from another thread is never lost to a run that was just starting.
 */
TLSIO_EXPORT void tlsio_loop_stop(tlsio_loop *loop);
/** Interrupt a wait in tlsio_loop_run(). The one call that is safe from another thread or a signal handler. */
TLSIO_EXPORT void tlsio_loop_wake(tlsio_loop *loop);
/** Monotonic milliseconds as the loop sees them. */
TLSIO_EXPORT uint64_t tlsio_loop_now(tlsio_loop *loop);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/** @name TLS configuration (shared by many connections; reference counted) */
/**@{*/

#define TLSIO_TLS_1_2 0x0303
#define TLSIO_TLS_1_3 0x0304

/** Peer verification modes. */
enum tlsio_verify {
	TLSIO_VERIFY_DEFAULT = 0, /**< clients verify the server; servers do not ask for a client cert */
	TLSIO_VERIFY_NONE = 1,    /**< do not verify (clients: insecure, for tests only) */
	TLSIO_VERIFY_REQUIRED = 2 /**< verify; servers require a client certificate */
};

/** Options for tlsio_tls_config_new(). Zero-initialise, then set what you need. */
typedef struct tlsio_tls_opts {
	const char *cert_file;  /**< PEM certificate chain (servers: required) */
	const char *key_file;   /**< PEM private key (servers: required) */
	const char *ca_file;    /**< PEM CA bundle; clients without one use the system store */
	int min_version;        /**< TLSIO_TLS_1_2 (default) or TLSIO_TLS_1_3 */
	int max_version;        /**< TLSIO_TLS_1_3 (default) or TLSIO_TLS_1_2 */
	int verify;             /**< enum tlsio_verify */
	const char *alpn;       /**< comma-separated protocols in preference order, e.g. "h2,http/1.1" */
	const char *ciphers;    /**< wolfSSL cipher list, NULL for the library's default */
} tlsio_tls_opts;

/** Server or client configuration. @return 0, TLSIO_E_TLS_CONFIG or -ENOMEM. @p err_msg (optional) gets a static reason. */
TLSIO_EXPORT int tlsio_tls_config_new(tlsio_tls_config **out, int is_server,
                                      const tlsio_tls_opts *opts, const char **err_msg);
/** Drop the caller's reference; connections using it keep theirs. */
TLSIO_EXPORT void tlsio_tls_config_free(tlsio_tls_config *cfg);
/**
 * The crypto path in use, in one line for a startup message: the wolfSSL version, whether its
 * AES-GCM is accelerated (AES-NI compiled in and present on this CPU), and which bulk cipher
 * server configurations prefer. Without AES acceleration, a server configuration with no
 * explicit @c ciphers lists ChaCha20-Poly1305 first (AES-GCM suites stay available) and the
 * server's order decides, because portable AES-GCM is several times slower than ChaCha20.
 * Static storage.
 */
TLSIO_EXPORT const char *tlsio_crypto_info(void);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/** @name Connections */
/**@{*/

/** What a client offered, read from its ClientHello before the handshake goes on. */
typedef struct tlsio_client_hello {
	const char *server_name;  /**< SNI host name, or NULL if the client sent none */
	const uint8_t *alpn;      /**< offered ALPN protocols as on the wire, (len8, name)*, or NULL */
	size_t alpn_len;
	int max_version;          /**< highest offered: TLSIO_TLS_1_3, TLSIO_TLS_1_2, 0 (older) */
} tlsio_client_hello;

/** Application callbacks. Any may be NULL. */
typedef struct tlsio_callbacks {
	/** The handshake finished; sends queued before it go out now. */
	void (*on_handshake)(tlsio_conn *c, void *user);
	/** Decrypted application data. @p data is valid during the call only. */
	void (*on_data)(tlsio_conn *c, const uint8_t *data, size_t len, void *user);
	/** The send queue fell to low water or below (after having been above it). */
	void (*on_drain)(tlsio_conn *c, void *user);
	/**
	 * The peer shut down its sending side with close_notify while ours is still open
	 * (half-close). Sending is still allowed; call tlsio_close() when done. If NULL, the library
	 * closes gracefully on its own.
	 */
	void (*on_peer_close)(tlsio_conn *c, void *user);
	/**
	 * The connection ended; the handle is freed when this returns.
	 * @param status 0 for a clean end, else a negative status.
	 * @param alert  the TLS alert sent (TLSIO_E_TLS and friends) or received
	 *               (TLSIO_E_ALERT_RECEIVED), or TLSIO_ALERT_NONE.
	 */
	void (*on_close)(tlsio_conn *c, int status, int alert, void *user);
	/**
	 * Server connections: the whole ClientHello arrived; the handshake waits for the answer.
	 * Return 0 to go on, optionally after pointing @p *cfg at another server configuration
	 * (chosen by SNI/ALPN; the connection takes its own reference). Return a TLS alert code
	 * (> 0, e.g. TLSIO_ALERT_UNRECOGNIZED_NAME) to refuse: the alert is sent, then on_close
	 * follows with TLSIO_E_REFUSED. @p hello is valid during the call only. Without this
	 * callback the listener's configuration is used; either way input that is no TLS is
	 * answered with a decode_error alert.
	 */
	int (*on_client_hello)(tlsio_conn *c, const tlsio_client_hello *hello, tlsio_tls_config **cfg,
	                       void *user);
} tlsio_callbacks;

/** Per-connection options. Zero-initialise; zeros mean defaults. */
typedef struct tlsio_conn_opts {
	const tlsio_callbacks *cb;  /**< callbacks (copied) */
	void *user;                 /**< passed to every callback */
	int sndbuf;                 /**< SO_SNDBUF in bytes, 0 = kernel default */
	int rcvbuf;                 /**< SO_RCVBUF in bytes, 0 = kernel default */
	size_t high_water;          /**< refuse sends when this many bytes are queued; default 16 MiB */
	size_t low_water;           /**< on_drain threshold; default 0 (queue empty) */
	uint32_t linger_ms;         /**< deadline for flushing data/alerts on close; default 5000 */
	uint32_t handshake_timeout_ms; /**< 0 = none */
	uint32_t idle_timeout_ms;   /**< no input, output progress or new send this long; 0 = none */
	/* A connection ended by one of these three deadlines is reset (RST), not closed with a FIN,
	 * if its peer has not acknowledged all bytes sent to it: a peer that stopped reading must
	 * not leave the kernel holding its send buffer in an orphan socket. */
	const char *server_name;    /**< client: SNI and the name verified in the certificate */
} tlsio_conn_opts;

/** Called for each accepted connection, before its handshake starts. */
typedef void (*tlsio_accept_cb)(tlsio_listener *l, tlsio_conn *c, void *user);

/**
 * Listen on "IP:PORT" (IPv4) or "[IPv6]:PORT"; port 0 picks one (see tlsio_listener_addr()).
 * Accepted connections use @p cfg and @p opts (user data: opts->user). The socket gets
 * SO_REUSEADDR and a backlog of SOMAXCONN; tlsio_listen_ex() sets other options.
 */
TLSIO_EXPORT int tlsio_listen(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                              const tlsio_conn_opts *opts, tlsio_accept_cb on_accept,
                              void *accept_user, tlsio_listener **out);

/* Listener flags for tlsio_listen_opts.flags. */
/**
 * Listener flag, SO_REUSEPORT: several sockets listen on the same address and port, and the
 * kernel spreads new connections over them (by a hash of the 4-tuple). For a multi-core server:
 * one loop per thread, each with its own listener, no shared accept queue, no lock (nginx's
 * `reuseport`, libuv's UV_TCP_REUSEPORT). Every socket of the group needs the flag and the same
 * effective user; a listener without it on the address makes the others fail with -EADDRINUSE.
 * With port 0 the first listener picks the port: give tlsio_listener_addr() of that one to the
 * others. Connections still waiting in the accept queue of a listener that closes are reset,
 * unless the kernel moves them to another listener of the group (sysctl
 * net.ipv4.tcp_migrate_req=1, Linux 5.14+). Where the kernel lacks SO_REUSEPORT, listening
 * fails with -ENOPROTOOPT rather than silently sharing nothing.
 */
#define TLSIO_LISTEN_REUSEPORT 0x1u
/**
 * Listener flag, IPV6_V6ONLY on an IPv6 address: accept no IPv4-mapped connections, so that
 * "[::]:443" and "0.0.0.0:443" can be two listeners. Ignored for IPv4 addresses.
 */
#define TLSIO_LISTEN_IPV6ONLY 0x2u

/** Socket options for tlsio_listen_ex(). Zero-initialise; zeros mean tlsio_listen()'s defaults. */
typedef struct tlsio_listen_opts {
	unsigned flags; /**< TLSIO_LISTEN_* */
	int backlog;    /**< listen() backlog; 0 = SOMAXCONN (the kernel caps any value at
	                     net.core.somaxconn) */
} tlsio_listen_opts;

/**
 * tlsio_listen() with socket options: @p lopts (NULL: defaults) sets the listen flags and the
 * backlog; the other arguments are tlsio_listen()'s. SO_REUSEADDR is always set.
 * @return 0, -EINVAL (unknown flag, negative backlog), TLSIO_E_BAD_ADDRESS, TLSIO_E_TLS_CONFIG,
 *         -ENOPROTOOPT (a flag the kernel does not support) or another -errno (e.g. -EADDRINUSE
 *         when a listener without TLSIO_LISTEN_REUSEPORT holds the address).
 */
TLSIO_EXPORT int tlsio_listen_ex(tlsio_loop *loop, const char *addr, const tlsio_listen_opts *lopts,
                                 tlsio_tls_config *cfg, const tlsio_conn_opts *opts,
                                 tlsio_accept_cb on_accept, void *accept_user,
                                 tlsio_listener **out);
/** The bound address as "IP:PORT" into @p buf. @return 0 or -errno. */
TLSIO_EXPORT int tlsio_listener_addr(const tlsio_listener *l, char *buf, size_t len);
/** The bound port. */
TLSIO_EXPORT int tlsio_listener_port(const tlsio_listener *l);
/** Stop accepting and free the listener; established connections go on. */
TLSIO_EXPORT void tlsio_listener_close(tlsio_listener *l);

/**
 * Connect to numeric "IP:PORT" / "[IPv6]:PORT" (resolve names yourself; the loop never blocks on
 * DNS). The handshake starts once connected. Errors after this returns arrive in on_close.
 */
TLSIO_EXPORT int tlsio_connect(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                               const tlsio_conn_opts *opts, tlsio_conn **out);
/**
 * Adopt a connected stream socket (ownership passes to the library, also on failure).
 * @param is_server 1 to run the server side of the handshake.
 */
TLSIO_EXPORT int tlsio_conn_adopt(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                                  const tlsio_conn_opts *opts, tlsio_conn **out);

/**
 * Queue a copy of @p buf. @return 0, TLSIO_E_QUEUE_FULL (nothing queued), TLSIO_E_CLOSED or -ENOMEM.
 * Sends made before the handshake finishes are held until it does.
 */
TLSIO_EXPORT int tlsio_send(tlsio_conn *c, const void *buf, size_t len);

typedef struct tlsio_send_req tlsio_send_req;
/** Completion of a send: status 0 once all its bytes were written to the kernel, else an error. */
typedef void (*tlsio_send_cb)(tlsio_send_req *req, int status);
/** A send request the caller embeds (like a libuv write request). Only @c data is the caller's. */
struct tlsio_send_req {
	void *data;                     /**< free for the caller */
	/* private below */
	tlsio_send_req *next_;
	tlsio_send_cb cb_;
	tlsio_conn *conn_;
	uint64_t end_;
	int copied_;
};

/** Flags for tlsio_send_ex(). */
#define TLSIO_SEND_REF 1 /**< do not copy: @p buf stays the caller's until the completion */

/**
 * Queue @p buf with a completion. With TLSIO_SEND_REF the buffer must stay valid and unchanged
 * until @p cb runs. The completion fires exactly once, in send order: status 0 when the bytes were
 * written to the kernel, or the connection's error. Never called from inside tlsio_send_ex();
 * a refused send (return value < 0) gets no completion.
 */
TLSIO_EXPORT int tlsio_send_ex(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len,
                               int flags, tlsio_send_cb cb);
/** Shorthand for tlsio_send_ex(c, req, buf, len, TLSIO_SEND_REF, cb). */
TLSIO_EXPORT int tlsio_send_ref(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len,
                                tlsio_send_cb cb);

/** Bytes queued and not yet written to the kernel (plaintext not encrypted + ciphertext not sent). */
TLSIO_EXPORT size_t tlsio_conn_queued(const tlsio_conn *c);
/** Change the watermarks (0 for high: default). */
TLSIO_EXPORT void tlsio_conn_set_watermarks(tlsio_conn *c, size_t low, size_t high);

/** Stop delivering on_data (and stop reading the socket), e.g. while the application is busy. */
TLSIO_EXPORT void tlsio_read_stop(tlsio_conn *c);
/** Resume delivering on_data. */
TLSIO_EXPORT void tlsio_read_start(tlsio_conn *c);

/**
 * Graceful close: send what is queued, then close_notify, then shut down the write side; wait
 * (up to linger_ms) for the peer's close_notify or EOF; on_close follows. Idempotent.
 */
TLSIO_EXPORT void tlsio_close(tlsio_conn *c);
/**
 * Half-close: send what is queued, then close_notify and shut down the write side; keep reading
 * until the peer closes. Further sends fail with TLSIO_E_CLOSED.
 */
TLSIO_EXPORT int tlsio_shutdown(tlsio_conn *c);
/** Close now (no close_notify); pending completions fail with TLSIO_E_ABORTED; on_close follows. */
TLSIO_EXPORT void tlsio_abort(tlsio_conn *c);

TLSIO_EXPORT void *tlsio_conn_user(const tlsio_conn *c);
TLSIO_EXPORT void tlsio_conn_set_user(tlsio_conn *c, void *user);
/** Replace the callbacks (e.g. from the accept callback). */
TLSIO_EXPORT void tlsio_conn_set_callbacks(tlsio_conn *c, const tlsio_callbacks *cb);
TLSIO_EXPORT tlsio_loop *tlsio_conn_loop(const tlsio_conn *c);
TLSIO_EXPORT int tlsio_conn_fd(const tlsio_conn *c);
/** Negotiated protocol ("TLSv1.3"), cipher suite and ALPN (NULL if none) after the handshake. */
TLSIO_EXPORT const char *tlsio_conn_tls_version(const tlsio_conn *c);
TLSIO_EXPORT const char *tlsio_conn_cipher(const tlsio_conn *c);
TLSIO_EXPORT const char *tlsio_conn_alpn(const tlsio_conn *c);
/** SNI sent by the client (server side), or NULL. */
TLSIO_EXPORT const char *tlsio_conn_server_name(const tlsio_conn *c);

/** Per-connection counters. */
typedef struct tlsio_stats {
	uint64_t app_bytes_queued;   /**< plaintext accepted by sends */
	uint64_t app_bytes_sent;     /**< plaintext whose ciphertext reached the kernel (completed sends) */
	uint64_t app_bytes_received; /**< plaintext delivered to on_data */
	uint64_t tls_bytes_sent;     /**< ciphertext written to the kernel */
	uint64_t tls_bytes_received; /**< ciphertext read from the kernel */
	uint64_t records_sent;       /**< TLS records of application data produced */
	uint64_t write_calls;        /**< write syscalls or submitted send operations */
	uint64_t read_calls;         /**< read syscalls or completed receive operations */
	uint64_t short_writes;       /**< writes the kernel took only part of (absorbed) */
	uint64_t eagain;             /**< EAGAIN/EWOULDBLOCK absorbed */
	uint64_t eintr;              /**< EINTR absorbed */
	uint64_t queued_now;         /**< tlsio_conn_queued() at the time of the call */
	uint64_t queued_peak;        /**< the largest queue seen */
} tlsio_stats;
/** Copy the counters (valid also inside on_close). */
TLSIO_EXPORT void tlsio_conn_stats(const tlsio_conn *c, tlsio_stats *out);
/**@}*/

#ifdef __cplusplus
}
#endif
#endif /* TLSIO_H */
