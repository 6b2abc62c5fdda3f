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
 * calls that may come from another thread or a signal handler are tlsio_loop_wake(),
 * tlsio_loop_stop() (stop, then wake) and tlsio_loop_post_task(); tlsio_loop_post() may come
 * from another thread (not a signal handler). To hand work to a loop, post a task: it runs on
 * the loop's thread. Different loops may run in different threads at once, and
 * share a tlsio_tls_config (its reference count is atomic; wolfSSL is initialised once).
 * tlsio_connect() to a host name hands the lookup to one of the library's resolver threads (at
 * most 4 per process, started on demand with every signal blocked, ending after 5 s idle);
 * nothing else in the library runs on a thread of its own.
 * tlsio_tls_config_new() and tlsio_tls_config_free(), backend lookup and probing,
 * tlsio_version(), tlsio_crypto_info(), tlsio_strerror(), tlsio_alert_name(),
 * tlsio_cert_error_name() and the tlsio_cert_info functions may be called from any thread. A
 * multi-core server runs one loop per thread, each with its own listener on the same address
 * (TLSIO_LISTEN_REUSEPORT, see tlsio_listen_ex()): the kernel spreads incoming connections over
 * the listeners, and no lock is taken on the data path.
 *
 * Callbacks: every callback runs on the loop's thread, inside tlsio_loop_run() (or inside the
 * application's ev_run() for a loop made with tlsio_loop_new_ev(), its uv_run() for one made
 * with tlsio_loop_new_uv()). Inside any callback of a
 * loop (connection callbacks, send completions, the accept callback, timers, tasks, watches,
 * the drain's) every function of this
 * header may be called for any connection or listener of that loop, with three exceptions:
 *  - tlsio_loop_run() on the same loop returns -EBUSY (it is not reentrant);
 *  - tlsio_loop_free() of the same loop must not be called (the loop is in use further up the
 *    stack); stop the loop, and free it after tlsio_loop_run() returned;
 *  - inside on_close the connection is ending: sends return TLSIO_E_CLOSED, tlsio_close(),
 *    tlsio_shutdown() and tlsio_abort() do nothing, and every accessor (stats, peer certificate,
 *    verification result, user data) still answers. The handle is freed when on_close returns.
 * A connection is never freed inside a callback of another connection: handles stay valid
 * until their own on_close returned.
 *
 * Security defaults: a client verifies the server's certificate chain and its identity, always,
 * unless the configuration says TLSIO_VERIFY_NONE. The identity is tlsio_conn_opts.server_name,
 * or else the host part of the address given to tlsio_connect(): a host name is matched against
 * the certificate's DNS names (RFC 6125: a wildcard only as the whole left-most label, never on
 * fewer than two labels), an IP address against its IP addresses (any textual form of the same
 * address matches; the subject's CN is never used). tlsio_conn_cert_error() says why a
 * verification failed.
 *
 * ABI: the options, callbacks and statistics structures begin with a @c struct_size field.
 * Initialise each with its TLSIO_*_INIT macro (or set struct_size = sizeof the structure), then
 * set the fields you need; fields left zero mean the defaults. The library reads only the first
 * struct_size bytes, so a program built against an older header (a smaller structure) keeps
 * working with a newer library; a program built against a newer header gets -E2BIG from an
 * older library only if it set a field that library does not know (a non-zero byte past the end
 * of the library's structure). struct_size 0 (a structure not initialised with its macro) is
 * refused with -EINVAL. Structures the library hands out (tlsio_client_hello, tlsio_cert_info)
 * carry the library's struct_size: check it before reading a field newer than your header.
 * tlsio_version() says which library is loaded at run time.
 *
 * Errors: functions return 0 (or a count) on success and a negative value on failure: either a
 * negated errno value (-ENOMEM, -ECONNREFUSED, ...) or one of the TLSIO_E_* codes below, which lie
 * outside errno's range. tlsio_strerror() names both. The library never prints and never aborts.
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

/** @name Version */
/**@{*/
#define TLSIO_VERSION_MAJOR 0
#define TLSIO_VERSION_MINOR 6
#define TLSIO_VERSION_PATCH 0
/** The header's version as one number: (major << 16) | (minor << 8) | patch. */
#define TLSIO_VERSION_NUMBER ((TLSIO_VERSION_MAJOR << 16) | (TLSIO_VERSION_MINOR << 8) | TLSIO_VERSION_PATCH)
#define TLSIO_VERSION_STRING "0.6.0"
/**
 * The version of the library loaded at run time, as TLSIO_VERSION_NUMBER encodes it (compare
 * with the header's to detect a mismatch). Any thread.
 * @param str optional: gets the version string, e.g. "0.2.0" (static storage).
 */
TLSIO_EXPORT unsigned tlsio_version(const char **str);
/**@}*/

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
#define TLSIO_E_BAD_ADDRESS       (-20015) /**< not an address of the forms listed under
                                                "Addresses" (e.g. no port) */
#define TLSIO_E_EOF_IN_HANDSHAKE  (-20016) /**< peer closed the socket during the handshake */
#define TLSIO_E_REFUSED           (-20017) /**< on_client_hello refused the client; alert sent */
#define TLSIO_E_NO_IDENTITY       (-20018) /**< a verifying client has no name to check the server
                                                certificate against (tlsio_conn_adopt() without
                                                server_name) */
#define TLSIO_E_RESOLVE           (-20019) /**< the host name could not be resolved (see
                                                tlsio_conn_error_detail() for the resolver's
                                                message) */
#define TLSIO_E_CONNECT_TIMEOUT   (-20020) /**< no address answered before the connect timeout */
/**@}*/

/** Human-readable text for a status (negated errno or TLSIO_E_*). Never NULL; static storage; any thread. */
TLSIO_EXPORT const char *tlsio_strerror(int status);
/** Name of a TLS alert description ("protocol_version", ...), "none" for TLSIO_ALERT_NONE, or
 * "unknown". Never NULL; static storage; any thread. */
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
#define TLSIO_ALERT_UNSUPPORTED_CERTIFICATE 43
#define TLSIO_ALERT_CERTIFICATE_REVOKED 44
#define TLSIO_ALERT_CERTIFICATE_EXPIRED 45
#define TLSIO_ALERT_CERTIFICATE_UNKNOWN 46
#define TLSIO_ALERT_ILLEGAL_PARAMETER  47
#define TLSIO_ALERT_UNKNOWN_CA         48
#define TLSIO_ALERT_ACCESS_DENIED      49
#define TLSIO_ALERT_DECODE_ERROR       50
#define TLSIO_ALERT_DECRYPT_ERROR      51
#define TLSIO_ALERT_PROTOCOL_VERSION   70
#define TLSIO_ALERT_INSUFFICIENT_SECURITY 71
#define TLSIO_ALERT_INTERNAL_ERROR     80
#define TLSIO_ALERT_INAPPROPRIATE_FALLBACK 86
#define TLSIO_ALERT_USER_CANCELED      90
#define TLSIO_ALERT_NO_RENEGOTIATION  100 /**< TLS 1.2 only (RFC 5246) */
#define TLSIO_ALERT_MISSING_EXTENSION 109
#define TLSIO_ALERT_UNSUPPORTED_EXTENSION 110
#define TLSIO_ALERT_UNRECOGNIZED_NAME 112
#define TLSIO_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE 113
#define TLSIO_ALERT_UNKNOWN_PSK_IDENTITY 115
#define TLSIO_ALERT_CERTIFICATE_REQUIRED 116
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
 * Backend by name: "blocking", "epoll", "uring", "libev", "libuv", or "auto" (the best available
 * one).
 * NULL or "" means the default: $TLSIO_BACKEND if set, else "auto". Any thread.
 * @return the backend (static), or NULL if the name is unknown or not compiled in.
 */
TLSIO_EXPORT const tlsio_backend *tlsio_backend_by_name(const char *name);
/** The backend's name (static storage). */
TLSIO_EXPORT const char *tlsio_backend_name(const tlsio_backend *b);
/**
 * Fill @p out with up to @p max compiled-in backends, best first.
 * @return the number of compiled-in backends (may exceed @p max).
 */
TLSIO_EXPORT size_t tlsio_backends(const tlsio_backend **out, size_t max);
/**
 * Whether the backend works on this system (e.g. io_uring may be disabled by sysctl or seccomp).
 * @return 0 if usable; TLSIO_E_BACKEND_UNAVAILABLE (it cannot run here); -EMFILE, -ENFILE or
 *         -ENOMEM (the probe ran out of fds or memory: the process's state, not the backend's);
 *         @p why (optional) gets a static sentence.
 */
TLSIO_EXPORT int tlsio_backend_probe(const tlsio_backend *b, const char **why);
/** Comma-separated names of the compiled-in backends, for error messages. Static storage. */
TLSIO_EXPORT const char *tlsio_backend_names(void);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/** @name Loop */
/**@{*/

/**
 * Create a loop on backend @p b (NULL: tlsio_backend_by_name(NULL)). The loop belongs to the
 * thread that runs it; *@p out is the caller's until tlsio_loop_free().
 * @return 0; TLSIO_E_NO_BACKEND (no such backend compiled in); TLSIO_E_BACKEND_UNAVAILABLE (it
 *         cannot run here: tlsio_backend_probe() says why); -ENOMEM; or the -errno of the
 *         backend's set-up (e.g. -EMFILE).
 */
TLSIO_EXPORT int tlsio_loop_new(tlsio_loop **out, const tlsio_backend *b);
/**
 * Abort every connection (completions and on_close fire with TLSIO_E_ABORTED), close listeners,
 * run pending tasks with TLSIO_E_ABORTED, free the timers and watches left (their handles are
 * gone; the watched fds stay open), free. Callbacks it runs may not make new connections or
 * listeners (-ESHUTDOWN). Call it on the thread that ran the loop: it also releases that
 * thread's TLS caches (wolfSSL's ECC point cache, which wolfSSL would otherwise keep until
 * process exit).
 */
TLSIO_EXPORT void tlsio_loop_free(tlsio_loop *loop);
/** The backend the loop runs on. Never fails. */
TLSIO_EXPORT const tlsio_backend *tlsio_loop_backend(const tlsio_loop *loop);
/**
 * How the loop's backend runs here, in one line: the I/O paths it chose after probing the
 * kernel (e.g. for io_uring the setup flags and the receive path), or just the backend name.
 * The string stays valid until the loop is freed.
 */
TLSIO_EXPORT const char *tlsio_loop_info(const tlsio_loop *loop);

/** Run modes for tlsio_loop_run(). */
enum tlsio_run_mode {
	TLSIO_RUN_DEFAULT = 0, /**< until tlsio_loop_stop(), a drain's end, or nothing is left (no
	                            connection, listener, pending task, referenced timer or watch) */
	TLSIO_RUN_ONCE = 1,    /**< wait for events once (bounded by timers), process them, return */
	TLSIO_RUN_NOWAIT = 2   /**< process what is ready without waiting */
};
/**
 * Run the loop. Callbacks run inside this call. Not reentrant: called from inside one of the
 * loop's own callbacks it returns -EBUSY at once (buffers the loop reads into are still in use
 * further up the stack).
 * @return 0 when stopped or idle; -EBUSY (called from inside the same loop's run); -EINVAL (bad
 *         @p mode); or the negative status of a failed backend wait (e.g. -ENOMEM).
 */
TLSIO_EXPORT int tlsio_loop_run(tlsio_loop *loop, int mode);
/**
 * Make tlsio_loop_run() return after the current iteration. Safe from another thread or a
 * signal handler; follow it with tlsio_loop_wake() so that a waiting loop notices. Each stop
 * ends one run: one made while no run is going ends the next run after its first pass, so a
 * stop from another thread is never lost to a run that was just starting.
 */
TLSIO_EXPORT void tlsio_loop_stop(tlsio_loop *loop);
/** Interrupt a wait in tlsio_loop_run(). Safe from another thread or a signal handler. */
TLSIO_EXPORT void tlsio_loop_wake(tlsio_loop *loop);
/** Monotonic milliseconds as the loop sees them (CLOCK_MONOTONIC). Never fails. */
TLSIO_EXPORT uint64_t tlsio_loop_now(tlsio_loop *loop);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/**
 * @name Timers, tasks, the application's fds, graceful drain
 *
 * What an application needs from its event loop besides connections, the same on every
 * backend (on a libev or libuv loop the application runs too: everything below then happens
 * inside its ev_run() or uv_run()). Handles are the library's (opaque) and belong to the loop's thread, except
 * tlsio_loop_post() and tlsio_loop_post_task(), which any thread may call.
 *
 * Keeping a run alive: tlsio_loop_run(TLSIO_RUN_DEFAULT) returns once no connection, listener,
 * pending task, *referenced* timer or *referenced* watch is left. Timers and watches are not
 * referenced unless the application says so (tlsio_timer_ref(), tlsio_watch_ref(), like
 * uv_ref()/uv_unref()): a periodic statistics timer does not keep a server's run going after
 * its last connection, but a client's retry timer can. On an application-owned libev loop a
 * referenced timer or watch holds one reference on the ev loop (ev_ref) while it is active; on
 * an application-owned libuv loop the library's one referenced handle stands for all of them
 * (api/tlsio-uv.h).
 */
/**@{*/

typedef struct tlsio_timer tlsio_timer;
/** A timer expired. Runs on the loop's thread; may call anything a loop callback may (see
 * "Callbacks"), including tlsio_timer_start(), tlsio_timer_stop() and tlsio_timer_free() of
 * this very timer. A repeating timer is already re-armed when its callback runs. */
typedef void (*tlsio_timer_cb)(tlsio_timer *t, void *user);

/**
 * Make a stopped timer on @p loop. Timers share the loop's deadline heap with the connections'
 * deadlines: start, stop and expiry cost O(log n) in the number of queued deadlines.
 * Loop thread, and from any of the loop's callbacks. *@p out is the caller's until
 * tlsio_timer_free() or tlsio_loop_free().
 * @return 0; -EINVAL (@p loop, @p cb or @p out NULL); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_timer_new(tlsio_loop *loop, tlsio_timer_cb cb, void *user, tlsio_timer **out);
/**
 * (Re)start: expire @p timeout_ms after now (tlsio_loop_now()), then every @p repeat_ms if it is
 * not 0. A running timer is moved; every start, also to the time it has, is a new one.
 * Millisecond resolution on the monotonic clock: a timer never fires before tlsio_loop_now()
 * reached its time (the clock counts whole milliseconds, so the real interval may be up to
 * 1 ms shorter than @p timeout_ms, as with libuv), and fires in the first pass over the
 * deadlines after that (a loop busy in callbacks makes it late, never skipped). Timers due in
 * the same millisecond fire in the order they were started. A repeating timer that falls
 * behind (a stalled loop) fires once and keeps its period from then, rather than firing in a
 * burst. A timer started from a timer callback with timeout 0 fires in a later pass, never in
 * the current one: so no callback can hold the loop (passes come at each loop turn, and
 * between batches of pending work in one).
 * Loop thread, and from the loop's callbacks.
 * @return 0; -EINVAL (@p timeout_ms or @p repeat_ms above one year, 31,536,000,000);
 *         -ENOMEM (the deadline heap could not grow; the timer stays as it was).
 */
TLSIO_EXPORT int tlsio_timer_start(tlsio_timer *t, uint64_t timeout_ms, uint64_t repeat_ms);
/** Restart a repeating timer @p repeat ms from now (like uv_timer_again(): a keep-alive that
 * moves on activity). @return 0; -EINVAL (repeat is 0); -ENOMEM. */
TLSIO_EXPORT int tlsio_timer_again(tlsio_timer *t);
/** Stop; idempotent; the callback will not run until the next start. Never fails. */
TLSIO_EXPORT void tlsio_timer_stop(tlsio_timer *t);
/** Whether the timer is started (a repeating one stays started after it fired). */
TLSIO_EXPORT int tlsio_timer_active(const tlsio_timer *t);
/** Milliseconds until it expires (0: due now), or -1 if stopped. */
TLSIO_EXPORT int64_t tlsio_timer_due_in(const tlsio_timer *t);
/** Whether the started timer keeps a TLSIO_RUN_DEFAULT run going (@p on 1) or not (0, the
 * default). Never fails. */
TLSIO_EXPORT void tlsio_timer_ref(tlsio_timer *t, int on);
/** The user pointer given to tlsio_timer_new(). */
TLSIO_EXPORT void *tlsio_timer_user(const tlsio_timer *t);
/** The loop the timer belongs to. */
TLSIO_EXPORT tlsio_loop *tlsio_timer_loop(const tlsio_timer *t);
/** Stop and free (also from its own callback). NULL is ignored. tlsio_loop_free() frees the
 * timers still left. */
TLSIO_EXPORT void tlsio_timer_free(tlsio_timer *t);

/** A task posted with tlsio_loop_post() runs: @p status 0, or TLSIO_E_ABORTED from
 * tlsio_loop_free(). */
typedef void (*tlsio_post_cb)(tlsio_loop *loop, void *arg, int status);
/**
 * Run @p fn(@p loop, @p arg, 0) on the loop's thread, soon. Any thread (not a signal handler:
 * it allocates; see tlsio_loop_post_task()). Tasks run in the order they were posted (the
 * order in which their posts took effect, across threads), each batch after one wake-up of the
 * loop; when nothing was posted the loop pays one atomic load per turn, no lock. Tasks still
 * pending at tlsio_loop_free() run there, on the freeing thread, with status TLSIO_E_ABORTED,
 * so that @p arg can be released (nothing leaks), before the loop's timers and watches are
 * freed; so do tasks posted during the free by the loop's callbacks (on_close, an aborted task;
 * up to 64 rounds of them: a task that re-posts itself whatever its status is dropped then).
 * Other threads must not post to a loop once tlsio_loop_free() has begun. A pending task keeps
 * a TLSIO_RUN_DEFAULT run going until it ran.
 * @return 0; -EINVAL (@p fn NULL); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_loop_post(tlsio_loop *loop, tlsio_post_cb fn, void *arg);

typedef struct tlsio_task tlsio_task;
/** A posted tlsio_task runs on @p loop's thread: @p status 0, or TLSIO_E_ABORTED from
 * tlsio_loop_free(). The task may be posted again from here on (also from this callback). */
typedef void (*tlsio_task_cb)(tlsio_loop *loop, tlsio_task *task, int status);
/** A task the caller embeds (like a libuv uv_async_t): posting it needs no allocation, so a
 * signal handler may post it. Only @c data is the caller's; zero the rest before the first post
 * (e.g. `tlsio_task t = {0}`); reserved_ lets it change without changing the size. The memory
 * is the library's while the task is pending: keep it valid until its callback ran (at the
 * latest in tlsio_loop_free()). */
struct tlsio_task {
	void *data;            /**< free for the caller */
	/* private below */
	tlsio_task *next_;
	tlsio_task_cb cb_;
	int state_;
	void *reserved_[4];
};
/**
 * Post @p task: @p cb runs on the loop's thread as for tlsio_loop_post(), in the same order
 * with the other posts. Any thread, and async-signal-safe (a lock-free push and a write(2)):
 * the way for a SIGTERM handler to reach a loop. Posting a task that is still pending does
 * nothing (the posts coalesce, as with uv_async_send()): it runs once.
 * On a libev loop the application runs, a pending task holds no reference on the ev loop: it
 * runs in the library's next hook if ev_run is going (tlsio_loop_wake() makes a waiting one go
 * round), and the same holds for tlsio_loop_post(). On a libuv loop the application runs, a
 * tlsio_loop_post() from the loop's own thread holds the uv loop until it ran; a post from
 * another thread or a signal handler holds nothing (api/tlsio-uv.h).
 * @return 0 (queued); -EALREADY (still pending from an earlier post: it will run once);
 *         -EINVAL (@p loop, @p task or @p cb NULL).
 */
TLSIO_EXPORT int tlsio_loop_post_task(tlsio_loop *loop, tlsio_task *task, tlsio_task_cb cb);

typedef struct tlsio_watch tlsio_watch;
/** Events of a tlsio_watch. */
#define TLSIO_READABLE 0x1u /**< data (or EOF) to read, a connection to accept */
#define TLSIO_WRITABLE 0x2u /**< room to write */
#define TLSIO_HANGUP   0x4u /**< revents only: the peer hung up or the fd has an error (POLLHUP,
                                 POLLERR); reported whenever anything is watched */
/** The watched fd is ready: @p revents has the TLSIO_READABLE / TLSIO_WRITABLE bits asked for
 * that hold, and TLSIO_HANGUP. May call anything a loop callback may, including
 * tlsio_watch_set() and tlsio_watch_free() of this watch. */
typedef void (*tlsio_watch_cb)(tlsio_watch *w, int fd, unsigned revents, void *user);
/**
 * Watch an fd of the application (a pipe, an eventfd, a signalfd, a UDP or Unix socket,
 * inotify...) for @p events (0: made paused), with the loop's backend doing the waiting (epoll,
 * io_uring's poll, libev's ev_io, libuv's uv_poll_t, the blocking backend's poll set).
 * Level-triggered, like poll():
 * the callback runs in every loop turn in which the fd is ready for something watched, until the
 * application consumes the condition, stops watching it (tlsio_watch_set()) or frees the watch.
 * The fd stays the application's: the library never reads, writes or closes it; free the watch
 * before closing the fd. One watch per fd per loop, and not on an fd of the library's own
 * (connections, listeners). Loop thread, and from the loop's callbacks. A watch made paused
 * meets the backend's refusal (-EPERM...) at the first tlsio_watch_set() that gives it events
 * (libuv, which checks the fd when its handle is made: at tlsio_watch_new() already);
 * on io_uring a poll the kernel refuses later comes as one TLSIO_HANGUP, and the watch waits
 * for the next tlsio_watch_set().
 * @return 0; -EINVAL (@p fd < 0, @p cb or @p out NULL, an unknown event bit); -EPERM (the
 *         backend cannot wait on this kind of fd: epoll and libuv refuse regular files and
 *         directories); -EEXIST (epoll, libuv: the fd is watched already); -ENOMEM; -ENOTSUP (a backend without fd
 *         watches: none of the library's); or the -errno the backend got.
 */
TLSIO_EXPORT int tlsio_watch_new(tlsio_loop *loop, int fd, unsigned events, tlsio_watch_cb cb,
                                 void *user, tlsio_watch **out);
/** Change what is watched (0: pause). @return 0, -EINVAL (unknown bit) or the backend's -errno
 * (the watch then keeps its old events). */
TLSIO_EXPORT int tlsio_watch_set(tlsio_watch *w, unsigned events);
/** The events being watched. */
TLSIO_EXPORT unsigned tlsio_watch_events(const tlsio_watch *w);
/** Whether the watch (with events other than 0) keeps a TLSIO_RUN_DEFAULT run going (@p on 1)
 * or not (0, the default). Never fails. */
TLSIO_EXPORT void tlsio_watch_ref(tlsio_watch *w, int on);
/** The watched fd (the application's). */
TLSIO_EXPORT int tlsio_watch_fd(const tlsio_watch *w);
/** The user pointer given to tlsio_watch_new(). */
TLSIO_EXPORT void *tlsio_watch_user(const tlsio_watch *w);
/** The loop the watch belongs to. */
TLSIO_EXPORT tlsio_loop *tlsio_watch_loop(const tlsio_watch *w);
/** Stop watching and free (also from its own callback); the fd stays open. NULL is ignored.
 * tlsio_loop_free() frees the watches still left. */
TLSIO_EXPORT void tlsio_watch_free(tlsio_watch *w);

/** A drain ended: every connection is gone. @p aborted of them were aborted at the deadline
 * (0: all closed gracefully, or failed on their own). */
typedef void (*tlsio_drain_cb)(tlsio_loop *loop, size_t aborted, void *user);
/**
 * Graceful shutdown, what a SIGTERM handler wants (post a tlsio_task from the handler, call
 * this from the task): close every listener of the loop now, close every connection
 * gracefully (tlsio_close(): queued data, close_notify), abort those still open after
 * @p timeout_ms (0: at once), then call @p cb (optional) and end the current run of
 * tlsio_loop_run() (or the next one, if none is going), whatever timers or watches are left.
 * Each graceful close is bounded by its connection's linger_ms (5 s by default) as well: a
 * deadline longer than that only matters for connections with a longer linger, a shorter one
 * cuts lingering closes short. Connections in their handshake end at once (TLSIO_E_CLOSED).
 * Data the application holds outside the send queue is its own to send first (a send refused
 * at high water, say): the drain closes right away.
 * Called again while a drain is under way, it escalates: the earlier of the two deadlines
 * holds (a second call with timeout 0, the second SIGTERM, aborts what is left now, counted in
 * @p aborted), and the first call's @p cb and @p user stay.
 * While the drain runs, tlsio_connect(), tlsio_conn_adopt() and tlsio_listen() are refused with
 * -ESHUTDOWN; once @p cb ran the loop is usable again. Loop thread, and from the loop's
 * callbacks.
 * @return 0; -ENOMEM (no room for the deadline: nothing was closed).
 */
TLSIO_EXPORT int tlsio_loop_drain(tlsio_loop *loop, uint32_t timeout_ms, tlsio_drain_cb cb,
                                  void *user);
/** Connections of the loop not yet ended (on_close not yet returned), of both sides. Loop
 * thread, and from the loop's callbacks. */
TLSIO_EXPORT size_t tlsio_loop_conn_count(const tlsio_loop *loop);
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

/**
 * Options for tlsio_tls_config_new(): start from TLSIO_TLS_OPTS_INIT, set what you need. The
 * strings are read during the call only. Files must be PEM; each is read whole (at most 16 MiB).
 */
typedef struct tlsio_tls_opts {
	size_t struct_size;     /**< sizeof(tlsio_tls_opts): set by TLSIO_TLS_OPTS_INIT */
	const char *cert_file;  /**< PEM certificate chain (servers: required) */
	const char *key_file;   /**< PEM private key (servers: required) */
	const char *ca_file;    /**< PEM CA bundle; clients without one use the system store */
	int min_version;        /**< TLSIO_TLS_1_2 (default) or TLSIO_TLS_1_3 */
	int max_version;        /**< TLSIO_TLS_1_3 (default) or TLSIO_TLS_1_2 */
	int verify;             /**< enum tlsio_verify; clients always check the server's name too,
	                             unless TLSIO_VERIFY_NONE */
	const char *alpn;       /**< comma-separated protocols in preference order, e.g. "h2,http/1.1" */
	const char *ciphers;    /**< wolfSSL cipher list, NULL for the library's default */
	/* since 0.6 */
	/** The certificate chain in memory instead of cert_file: PEM (leaf first), or one DER
	 * certificate. Read during the call only, like every buffer here. */
	const void *cert;
	size_t cert_len;
	/** The private key in memory instead of key_file: PEM or DER (PKCS#8 or traditional). */
	const void *key;
	size_t key_len;
	/** CA certificates in memory (PEM, or one DER certificate), trusted beside ca_file/ca_dir. */
	const void *ca;
	size_t ca_len;
	/** A directory whose regular files holding PEM certificates are all trusted, beside
	 * ca_file/ca (e.g. "/etc/ssl/certs"; readable files of other content are skipped, one
	 * that cannot be read is a TLSIO_E_TLS_CONFIG naming it). */
	const char *ca_dir;
	/**
	 * A passphrase-protected private key (PEM "ENCRYPTED PRIVATE KEY", PKCS#8 with PBES2, as
	 * `openssl pkey -aes256` writes it): called during tlsio_tls_config_new() only, it writes
	 * the passphrase into @p buf (at most @p size bytes, no NUL needed) and returns its length,
	 * or < 0 to give up (TLS_CONFIG error "no passphrase"). Without it an encrypted key is a
	 * TLSIO_E_TLS_CONFIG that says so. The library wipes @p buf after use.
	 */
	int (*passphrase)(char *buf, size_t size, void *user);
	void *passphrase_user;
	/**
	 * Servers: further certificate chains beside the one above, a NULL-terminated array of
	 * options of which only cert_file/key_file (or cert/key, passphrase) are set: e.g. an RSA
	 * chain beside an ECDSA one; at most 3 (TLSIO_E_TLS_CONFIG beyond). Each handshake gets the first chain, this one first, whose key
	 * the client can use: what its signature_algorithms offer (ECDSA or RSA), and for a client
	 * that offers at most TLS 1.2, one of its cipher suites for that key. A client that can use
	 * none gets the first chain (and most likely a handshake_failure alert).
	 */
	const struct tlsio_tls_opts *const *more_certs;
	/**
	 * Clients: the session cache's size, in servers (a server is the identity and port, e.g.
	 * "example.com:443"): 0 for 256, < 0 for none. Connections made with this configuration
	 * offer the last session of their server (a TLS 1.3 ticket is used once; up to 4 are kept
	 * per server; a TLS 1.2 session is used until replaced) and so resume without a full
	 * handshake; tlsio_conn_resumed() tells. A configuration that allows TLS 1.3 offers a TLS
	 * 1.2 session for an hour after its full handshake only (wolfSSL offers a session's own
	 * version: a server that gained TLS 1.3 meanwhile is seen within the hour). The cache is shared by every thread using the
	 * configuration (a mutex guards it). The least recently used server goes first.
	 */
	int session_cache;
	/**
	 * Servers: how long a session ticket may be used, in seconds: 0 for 7200 (2 hours), at most
	 * 604800 (RFC 8446 4.6.1). The ticket key is random per configuration and replaced every
	 * lifetime, the previous one still accepted for one more (tlsio_tls_ticket_key() sets your
	 * own). 0-RTT (early data) is never accepted.
	 */
	uint32_t ticket_lifetime;
	/**
	 * Key logging, for debugging with Wireshark: each secret of each connection made with this
	 * configuration as one line of the NSS key log format (what SSLKEYLOGFILE files hold:
	 * "CLIENT_RANDOM ..." for TLS 1.2, "CLIENT_TRAFFIC_SECRET_0 ..." and friends for TLS 1.3),
	 * without a newline. Anyone who has these lines can decrypt the traffic: never set it in
	 * production. Called on the loop thread of the connection, from inside the handshake (do
	 * not call into the connection). If this wolfSSL cannot give the TLS 1.3 secrets (built
	 * without HAVE_SECRET_CALLBACK), a configuration allowing TLS 1.3 with a keylog callback is
	 * refused with a TLSIO_E_TLS_CONFIG that says so.
	 */
	void (*keylog)(const char *line, void *user);
	void *keylog_user;
	/**
	 * Servers: choose the ALPN protocol instead of the alpn list. Called during the handshake
	 * of each client that offers ALPN, with the offered list as on the wire ((len8, name)*;
	 * valid during the call). Return one of the offered names (NUL-terminated, valid until the
	 * call returns), "" to go on without ALPN, or NULL to refuse: the client gets a
	 * no_application_protocol alert and on_close TLSIO_E_REFUSED. A name the client did not
	 * offer is refused the same way. Loop thread of the connection.
	 */
	const char *(*alpn_select)(const uint8_t *offered, size_t len, void *user);
	void *alpn_select_user;
} tlsio_tls_opts;
#define TLSIO_TLS_OPTS_INIT {.struct_size = sizeof(tlsio_tls_opts)}

/**
 * A server or client configuration, shared by the connections (and loops, and threads) that use
 * it. Every file is checked here, not at the first handshake: a server's key must match its
 * certificate. Any thread.
 * @param opts NULL for the defaults (a client that trusts the system CA store).
 * @param err_msg optional: on failure, a sentence naming the cause and the file, e.g. "cannot
 *        read the certificate file 'server.pem': No such file or directory" or "the private key
 *        in 'other.key' does not match the certificate in 'server.pem'". It stays valid until the
 *        next tlsio_tls_config_new() on the same thread (thread-local storage).
 * @return 0; TLSIO_E_TLS_CONFIG (a file cannot be read or used, versions, ciphers, ALPN, or a
 *         feature this wolfSSL lacks: see @p err_msg); -EINVAL (@p opts->struct_size not set);
 *         -E2BIG (@p opts sets a field this library does not know); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_tls_config_new(tlsio_tls_config **out, int is_server,
                                      const tlsio_tls_opts *opts, const char **err_msg);
/** Drop the caller's reference; connections using it keep theirs. NULL is ignored. Any thread. */
TLSIO_EXPORT void tlsio_tls_config_free(tlsio_tls_config *cfg);

/** Length of a session ticket key: a 16-byte name, then a 32-byte secret (48 bytes from
 * `openssl rand 48`, say). */
#define TLSIO_TICKET_KEY_LEN 48
/**
 * Servers: encrypt session tickets with @p key from now on (ChaCha20-Poly1305), so that
 * configurations, threads and processes given the same key resume each other's sessions (SNI
 * map entries too: give configurations whose clients must not cross different keys; one that
 * requires client certificates resumes nothing, whatever its key). The key in use until now is still accepted for @p grace_s
 * seconds (its tickets are answered with a fresh ticket under the new key); 0 forgets it at
 * once. Call it again to rotate; keys set here are never replaced on their own (the random key
 * of a configuration is: see tlsio_tls_opts.ticket_lifetime). The library keeps a copy and
 * wipes it when done; wipe yours. Any thread, also while connections use the configuration.
 * @return 0; -EINVAL (@p len is not TLSIO_TICKET_KEY_LEN, or a client configuration);
 *         -EEXIST (the key's name is the current key's with another secret: a new key needs
 *         a new name); -ENOTSUP (this wolfSSL has no session tickets or no ChaCha20-Poly1305).
 */
TLSIO_EXPORT int tlsio_tls_ticket_key(tlsio_tls_config *cfg, const uint8_t *key, size_t len,
                                      uint32_t grace_s);
/**
 * Clients: the newest session cached for @p server as bytes, for a process that keeps sessions
 * across restarts (they are secrets: store them as such). @p server is what the cache is keyed
 * by: the identity and port, "example.com:443" (tlsio_conn_opts.server_name or the host given
 * to tlsio_connect(), and the port; an IPv6 literal without brackets: "::1:443"). The bytes
 * hold the session in wolfSSL's own encoding (only the same wolfSSL build reads it back), its
 * TLS version and the server's certificate as verified (tlsio_conn_peer_cert() after a
 * resumption); at most 64 KiB. A TLS 1.3 ticket is used once: the exported one leaves the
 * cache (a TLS 1.2 session stays). @p *out is malloc()ed: free() it. Any thread.
 * @return 0; -ENOENT (nothing cached for @p server); -EINVAL (a server configuration, or one
 *         without a cache); -ENOTSUP (this wolfSSL cannot encode sessions: built without
 *         HAVE_EXT_CACHE or OPENSSL_EXTRA); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_tls_session_export(tlsio_tls_config *cfg, const char *server,
                                          uint8_t **out, size_t *len);
/**
 * Clients: put a session from tlsio_tls_session_export() into the cache for @p server; the
 * next connection to it offers the session. The bytes are checked (bounded by @p len). Any
 * thread.
 * @return 0; -EINVAL (not a session of this wolfSSL build, a server configuration, or no
 *         cache); -ESTALE (the session has expired); -EPROTO (a TLS version the configuration
 *         does not allow: a TLS 1.2 session for a TLS 1.3-only client, say); -ENOTSUP (as for
 *         export); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_tls_session_import(tlsio_tls_config *cfg, const char *server,
                                          const uint8_t *data, size_t len);
/**
 * Servers: an SNI map without an on_client_hello of your own. Clients that ask for a name
 * matching @p pattern get @p cfg instead of @p server_cfg: "www.example.org" (exact, case
 * ignored) or "*.example.org" (one label in place of the star: not "example.org" itself, nor
 * "a.b.example.org"). Exact names are tried first, then wildcards in the order added; a client
 * with another name or none gets @p server_cfg itself. An on_client_hello that picks a
 * configuration picks it before the map (the map of the configuration it picked applies).
 * @p server_cfg holds a reference to @p cfg until freed. Any thread; for a listener, before it
 * accepts (or give the listener a new map with tlsio_listener_set_config()).
 * @return 0; -EINVAL (a pattern that is no host name or "*." + one, @p cfg is @p server_cfg,
 *         has a map itself, or either is a client configuration); -EEXIST (the pattern is
 *         there already); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_tls_config_add_name(tlsio_tls_config *server_cfg, const char *pattern,
                                           tlsio_tls_config *cfg);
/**
 * The crypto path in use, in one line for a startup message: the wolfSSL version and which
 * build of it ("tuned build, linked into libtlsio": scripts/build-wolfssl.sh's profile, the
 * default; "system build, shared library": the system's libwolfssl), whether its AES-GCM is
 * accelerated (AES-NI compiled in and present on this CPU), and which bulk cipher
 * server configurations prefer. Without AES acceleration, a server configuration with no
 * explicit @c ciphers lists ChaCha20-Poly1305 first (AES-GCM suites stay available) and the
 * server's order decides, because portable AES-GCM is several times slower than ChaCha20.
 * Static storage.
 */
TLSIO_EXPORT const char *tlsio_crypto_info(void);
/**
 * Count the heap the TLS library (wolfSSL) holds, apart from the rest of the process: for memory
 * profiles (tlsio-https --count-tls-heap, bench/memory.sh). Installs counting allocators in the
 * wolfSSL that libtlsio links; the cost is an atomic add per wolfSSL allocation, so it is off
 * unless asked for. Call it once at startup, before any other libtlsio call that creates a TLS
 * configuration or connection: the counting must see every block wolfSSL allocates.
 * Any thread; not from a callback (a configuration exists by then).
 * @return 0 (counting is on; a second call is a no-op); -EBUSY if wolfSSL was initialised
 *         already (a TLS configuration was created), counting stays off; -ENOTSUP if the linked
 *         wolfSSL takes no allocators (built with static memory pools).
 */
TLSIO_EXPORT int tlsio_crypto_heap_count(void);
/**
 * Bytes of heap wolfSSL holds now (the usable size of each live block), since
 * tlsio_crypto_heap_count(). Any thread, any time, lock-free; the value is a snapshot that other
 * threads' handshakes change as it is read.
 * @return bytes (>= 0), or -ENOENT if counting is not on.
 */
TLSIO_EXPORT int64_t tlsio_crypto_heap_in_use(void);
/**@}*/

/* ------------------------------------------------------------------------------------------ */
/** @name Connections */
/**@{*/

/** What a client offered, read from its ClientHello before the handshake goes on. Filled by the
 * library: struct_size is the library's sizeof(tlsio_client_hello). */
typedef struct tlsio_client_hello {
	size_t struct_size;
	const char *server_name;  /**< SNI host name, or NULL if the client sent none */
	const uint8_t *alpn;      /**< offered ALPN protocols as on the wire, (len8, name)*, or NULL */
	size_t alpn_len;
	int max_version;          /**< highest offered: TLSIO_TLS_1_3, TLSIO_TLS_1_2, 0 (older) */
} tlsio_client_hello;

/** Application callbacks: start from TLSIO_CALLBACKS_INIT; any may be NULL. See "Callbacks" at
 * the top of this file for what they may call. */
typedef struct tlsio_callbacks {
	size_t struct_size; /**< sizeof(tlsio_callbacks): set by TLSIO_CALLBACKS_INIT */
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
	 * The connection ended; the handle is freed when this returns. Exactly once per connection
	 * that was handed out (by tlsio_connect(), tlsio_conn_adopt() or the accept callback).
	 * tlsio_conn_cert_error() tells why a TLSIO_E_CERT_VERIFY happened.
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
#define TLSIO_CALLBACKS_INIT {.struct_size = sizeof(tlsio_callbacks)}

/**
 * @name Addresses
 * tlsio_connect() and tlsio_listen() take an address as a string:
 *  - "IP:PORT" (IPv4), "[IPv6]:PORT", "[IPv6%ZONE]:PORT" (a link-local address with its
 *    interface, by name or index: "[fe80::1%eth0]:443"); for listeners also "*:PORT" or ":PORT"
 *    (every IPv4 address) and "localhost:PORT" (127.0.0.1);
 *  - "HOST:PORT" (tlsio_connect() only): a host name, resolved by getaddrinfo() on one of the
 *    library's resolver threads (up to 4 per process, shared by every loop; they end after 5 s
 *    without work), so /etc/hosts, nsswitch.conf and the system's DNS settings apply and the loop
 *    never blocks. Every address is tried, IPv6 and IPv4 interleaved in the order getaddrinfo
 *    sorted them (RFC 6724), with Happy Eyeballs (RFC 8305): the next address is tried when the
 *    previous attempt failed or has not connected within tlsio_conn_opts.attempt_delay_ms
 *    (250 ms); the first connected wins and the others are closed;
 *  - "unix:PATH" (a Unix domain socket file) and "unix:@NAME" (Linux's abstract namespace: no
 *    file; NAME is the socket's name without the leading NUL); at most 107 bytes;
 *  - "fd:N" (tlsio_listen() only): a listening stream socket the process already has, e.g.
 *    from systemd (tlsio_listen_fds()) or a parent process. The library works on a duplicate:
 *    descriptor N stays the caller's (open after the listener closes), so several loops may
 *    each listen on "fd:N" and share its accept queue. A duplicate shares the socket itself:
 *    N becomes non-blocking, as the library needs it, and a receive buffer size set through
 *    the connection options applies to N too.
 * The identity a verifying client checks (and sends as SNI) is tlsio_conn_opts.server_name or
 * else the HOST (a name, or an IP address without its zone); a Unix socket has no host, so a
 * verifying client needs server_name.
 */
/**@{*/
/**@}*/

/* Connection flags for tlsio_conn_opts.flags. */
/**
 * Connection flag: no TLS. The connection has the same send queue, completions,
 * backpressure, deadlines and close semantics, with the identity as record layer: bytes go
 * out as sent, a graceful close sends what is queued and shuts down the write side, the
 * peer's EOF is a clean end (status 0: TCP has no close_notify, so truncation cannot be told
 * from an end) or a half-close (on_peer_close). on_handshake fires once the connection is
 * established (connected, or accepted). The TLS configuration must be NULL.
 * tlsio_starttls() switches such a connection to TLS in place.
 */
#define TLSIO_CONN_PLAIN 0x1u

/** Per-connection options: start from TLSIO_CONN_OPTS_INIT; zeros mean defaults. Read during the
 * call that takes them (strings and callbacks are copied). */
typedef struct tlsio_conn_opts {
	size_t struct_size;         /**< sizeof(tlsio_conn_opts): set by TLSIO_CONN_OPTS_INIT */
	const tlsio_callbacks *cb;  /**< callbacks (copied; NULL: none) */
	void *user;                 /**< passed to every callback */
	int sndbuf;                 /**< SO_SNDBUF in bytes, 0 = kernel default */
	int rcvbuf;                 /**< SO_RCVBUF in bytes, 0 = kernel default */
	size_t high_water;          /**< refuse sends when this many bytes are queued; default 16 MiB */
	size_t low_water;           /**< on_drain threshold; default 0 (queue empty) */
	uint32_t linger_ms;         /**< deadline for flushing data/alerts on close; default 5000 */
	uint32_t handshake_timeout_ms; /**< 0 = none; a client's counts from connected (the
	                                    connect has connect_timeout_ms), a server's from accept */
	uint32_t idle_timeout_ms;   /**< no input, output progress or new send this long, from
	                                 connected; 0 = none */
	/* A connection ended by one of these three deadlines is reset (RST), not closed with a FIN,
	 * if its peer has not acknowledged all bytes sent to it: a peer that stopped reading must
	 * not leave the kernel holding its send buffer in an orphan socket. */
	/** Client: the name the server's certificate must carry, and the SNI sent (names only:
	 * never an IP literal, RFC 6066). NULL: the host part of tlsio_connect()'s address. */
	const char *server_name;
	/* since 0.5 */
	unsigned flags;             /**< TLSIO_CONN_* */
	/** Client: from tlsio_connect() until connected, resolution included; then
	 * TLSIO_E_CONNECT_TIMEOUT. 0 = 30000 (30 s). */
	uint32_t connect_timeout_ms;
	/** Client with a host name: Happy Eyeballs' connection attempt delay (RFC 8305 section 5):
	 * the next address is tried when an attempt has not connected within this long. 0 = 250;
	 * values below 10 are taken as 10 (the RFC's floor). */
	uint32_t attempt_delay_ms;
} tlsio_conn_opts;
#define TLSIO_CONN_OPTS_INIT {.struct_size = sizeof(tlsio_conn_opts)}

/** Called for each accepted connection, before its handshake starts. The connection is the
 * application's from here on: it gets on_close exactly once. */
typedef void (*tlsio_accept_cb)(tlsio_listener *l, tlsio_conn *c, void *user);

/**
 * Listen on @p addr (see "Addresses": IP:PORT, [IPv6]:PORT, unix:PATH, unix:@NAME, fd:N); port 0
 * picks one (see tlsio_listener_addr()). Accepted connections use @p cfg (a server
 * configuration; the listener takes a reference; NULL with TLSIO_CONN_PLAIN in @p opts->flags)
 * and @p opts (copied; user data: opts->user). The socket gets SO_REUSEADDR and a backlog of
 * SOMAXCONN; tlsio_listen_ex() sets other options. *@p out stays valid until
 * tlsio_listener_close() or tlsio_loop_free().
 * @return as tlsio_listen_ex().
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

/** Socket options for tlsio_listen_ex(): start from TLSIO_LISTEN_OPTS_INIT; zeros mean
 * tlsio_listen()'s defaults. */
typedef struct tlsio_listen_opts {
	size_t struct_size; /**< sizeof(tlsio_listen_opts): set by TLSIO_LISTEN_OPTS_INIT */
	unsigned flags; /**< TLSIO_LISTEN_* */
	int backlog;    /**< listen() backlog; 0 = SOMAXCONN (the kernel caps any value at
	                     net.core.somaxconn) */
	/* since 0.5 */
	/** "unix:PATH": the socket file's permission bits (e.g. 0660), set before listen(), so no
	 * one connects under the umask's. 0 = as the umask leaves them. */
	unsigned mode;
} tlsio_listen_opts;
#define TLSIO_LISTEN_OPTS_INIT {.struct_size = sizeof(tlsio_listen_opts)}

/**
 * tlsio_listen() with socket options: @p lopts (NULL: defaults) sets the listen flags and the
 * backlog; the other arguments are tlsio_listen()'s. SO_REUSEADDR is always set (TCP).
 * "unix:PATH": a socket file left by a process that is gone (connecting to it is refused) is
 * replaced; one with a listener behind it gives -EADDRINUSE. The listener removes the file it
 * made when it closes (if it is still the same file); a mode for any other address (TCP, an
 * abstract name) is refused with -EINVAL. "fd:N": the socket must be a listening
 * stream socket (else -ENOTSOCK, -EINVAL); it is set up already, so listen flags, a backlog or a
 * mode asked for there are refused (-EINVAL) rather than silently not applied.
 * @return 0; -EINVAL (unknown flag, negative backlog, a struct_size not set, a TLS configuration
 *         together with TLSIO_CONN_PLAIN); -E2BIG (a field this library does not know);
 *         TLSIO_E_BAD_ADDRESS (also a host name: resolve it first, a listener must not wait on
 *         DNS); TLSIO_E_TLS_CONFIG (@p cfg NULL without TLSIO_CONN_PLAIN, or a client
 *         configuration); -ENOPROTOOPT (a flag the kernel does not support); -ESHUTDOWN (the loop
 *         is draining or being freed); or the -errno of socket(), bind(), chmod(), listen(),
 *         dup() (e.g. -EADDRINUSE, also when a listener without TLSIO_LISTEN_REUSEPORT holds the
 *         address; -EACCES for a privileged port or a directory we may not write).
 */
TLSIO_EXPORT int tlsio_listen_ex(tlsio_loop *loop, const char *addr, const tlsio_listen_opts *lopts,
                                 tlsio_tls_config *cfg, const tlsio_conn_opts *opts,
                                 tlsio_accept_cb on_accept, void *accept_user,
                                 tlsio_listener **out);
/** The bound address as "IP:PORT", "[IPv6]:PORT", "unix:PATH" or "unix:@NAME" into @p buf.
 * @return 0, -ENOSPC (@p len too small) or the -errno of getsockname(). */
TLSIO_EXPORT int tlsio_listener_addr(const tlsio_listener *l, char *buf, size_t len);
/** The bound port (0 for a Unix socket), or the -errno of getsockname(). */
TLSIO_EXPORT int tlsio_listener_port(const tlsio_listener *l);
/**
 * Replace the listener's TLS configuration, e.g. with certificates read again after SIGHUP:
 * connections accepted from now on use @p cfg (its SNI map, tickets, chains), those running
 * keep theirs. The listener takes a reference to @p cfg and drops its reference to the old
 * one (connections hold their own). Loop thread, and from the loop's callbacks; from another
 * thread, post a tlsio_task that calls it. Listeners sharing a port (TLSIO_LISTEN_REUSEPORT,
 * tlsio-https --threads) are replaced one by one.
 * @return 0; TLSIO_E_TLS_CONFIG (@p cfg NULL or a client configuration); -EINVAL (a plain
 *         listener: TLSIO_CONN_PLAIN).
 */
TLSIO_EXPORT int tlsio_listener_set_config(tlsio_listener *l, tlsio_tls_config *cfg);
/** Stop accepting and free the listener (after the current callback returns); established
 * connections go on. Idempotent until the loop frees it. */
TLSIO_EXPORT void tlsio_listener_close(tlsio_listener *l);

/**
 * Connect to @p addr (see "Addresses": IP:PORT, [IPv6]:PORT, HOST:PORT, unix:PATH, unix:@NAME).
 * A host name is resolved on a resolver thread and its addresses are tried with Happy
 * Eyeballs; nothing here waits. The handshake starts once connected (plain connections:
 * on_handshake fires then). Unless @p cfg says TLSIO_VERIFY_NONE, the server's certificate must
 * name opts->server_name or, without one, the host of @p addr (an IP address then: matched
 * against the certificate's IP addresses, and no SNI is sent). The whole connect (resolution
 * and every attempt) is bounded by opts->connect_timeout_ms (TLSIO_E_CONNECT_TIMEOUT). Errors
 * after this returns arrive in on_close: TLSIO_E_RESOLVE for a name that does not resolve,
 * the last attempt's -errno when every address failed (-ECONNREFUSED, ...), with
 * tlsio_conn_error_detail() saying what the resolver said or what each address answered.
 * tlsio_abort() (or tlsio_close(), or a drain) during the resolution cancels it: on_close
 * follows, and nothing of the connection is touched afterwards. *@p out is valid until
 * on_close returned.
 * @param cfg a client configuration; NULL with TLSIO_CONN_PLAIN in opts->flags.
 * @return 0; TLSIO_E_BAD_ADDRESS; TLSIO_E_NO_IDENTITY (a verifying client whose identity is
 *         empty, a wildcard or longer than a host name, or a Unix socket without server_name:
 *         nothing to check a certificate against); TLSIO_E_TLS_CONFIG (@p cfg NULL without
 *         TLSIO_CONN_PLAIN or a server configuration, or a server name wolfSSL refuses as SNI);
 *         -EINVAL (a configuration together with TLSIO_CONN_PLAIN, an unknown flag, an unknown
 *         interface in a zone) / -E2BIG (@p opts or its callbacks: struct_size); -ESHUTDOWN (the
 *         loop is draining or being freed); -ENOMEM; -EAGAIN (no resolver thread could be
 *         started); or, for a numeric address, the -errno of socket() or connect() (e.g.
 *         -ENETUNREACH; for a Unix socket: -ENOENT (no such file), -ECONNREFUSED (no one
 *         listens) and -EAGAIN (its backlog is full) come at once, as the kernel answers them;
 *         a refused TCP connection arrives in on_close).
 */
TLSIO_EXPORT int tlsio_connect(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                               const tlsio_conn_opts *opts, tlsio_conn **out);
/**
 * Adopt a connected stream socket (ownership passes to the library, also on failure: the fd is
 * closed then), TCP or Unix. A verifying client needs opts->server_name: there is no address to
 * take the identity from. With TLSIO_CONN_PLAIN (and @p cfg NULL) it is a plain connection.
 * @param is_server 1 to run the server side of the handshake.
 * @return 0; TLSIO_E_NO_IDENTITY (a verifying client without server_name); TLSIO_E_TLS_CONFIG
 *         (@p cfg NULL without TLSIO_CONN_PLAIN, or of the other side); -EINVAL (see
 *         tlsio_connect()) / -E2BIG (struct_size); -ESHUTDOWN (the loop is draining or being
 *         freed); -ENOMEM; or the -errno of fcntl() (e.g. -EBADF).
 */
TLSIO_EXPORT int tlsio_conn_adopt(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                                  const tlsio_conn_opts *opts, tlsio_conn **out);

/**
 * STARTTLS: switch an established plain connection (TLSIO_CONN_PLAIN) to TLS in place, as the
 * client (@p cfg a client configuration: the server is verified against opts->server_name or
 * the host tlsio_connect() was given) or the server (a server configuration; on_client_hello
 * applies). The order of the stream holds across the switch: what was sent before this call
 * goes out in plaintext first, then the handshake; sends made after it are held until the
 * handshake finished and are then encrypted. on_handshake fires again when it finished; the
 * handshake timeout starts now. Input from here on is TLS: plaintext the library had received
 * and not yet delivered (held while reading was paused) is discarded, never handed out or read
 * as TLS, and counted in the return value; what the peer sent after its command and is still
 * in the kernel is read as TLS (an injected command then fails the handshake with an alert,
 * CVE-2011-0411). A protocol that forbids pipelining past its STARTTLS command should also
 * treat bytes after it in the same on_data as an error. May be called from any callback of the connection (typically on_data, after the
 * peer's "STARTTLS" or the server's go-ahead); the connection takes a reference to @p cfg.
 * @return >= 0: switched; the number of plaintext bytes discarded (0 normally; more means the
 *         peer sent data after its command without waiting: a server should tlsio_abort()
 *         it); -EINVAL (not a plain connection, or switched already); -ENOTCONN (not established
 *         yet); TLSIO_E_CLOSED (closing or failed); TLSIO_E_TLS_CONFIG (@p cfg NULL, or of the
 *         other side); TLSIO_E_NO_IDENTITY (a verifying client with no name to check); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_starttls(tlsio_conn *c, tlsio_tls_config *cfg);
/** 1 if the connection speaks TLS (from its start, or since tlsio_starttls()), 0 if plain. */
TLSIO_EXPORT int tlsio_conn_is_tls(const tlsio_conn *c);
/**
 * Why the connection could not be made, in one sentence naming the host and the cause: the
 * resolver's message ("cannot resolve 'nosuch.test:443': Name or service not known"), or what each
 * address answered ("localhost:8443: [::1]:8443: Connection refused; 127.0.0.1:8443: Connection
 * refused"), or the timeout. NULL if there is nothing to add to the status. Valid until on_close
 * returned.
 */
TLSIO_EXPORT const char *tlsio_conn_error_detail(const tlsio_conn *c);
/**
 * The peer's address ("IP:PORT", "[IPv6]:PORT", "unix:PATH", or "unix:" for an unnamed peer)
 * into @p buf: for a client resolved by name, the address that won.
 * @return 0; -ENOTCONN (not connected yet, or closed); -ENOSPC; the -errno of getpeername().
 */
TLSIO_EXPORT int tlsio_conn_peer_addr(const tlsio_conn *c, char *buf, size_t len);

/**
 * Listening sockets passed by systemd socket activation (sd_listen_fds(3)): if $LISTEN_PID is
 * this process, the number of descriptors in $LISTEN_FDS, which start at 3 (listen on "fd:3",
 * "fd:4", ...). They get FD_CLOEXEC. With @p unset_env the variables are removed (do it when
 * the process will start others that must not take them). Not thread-safe against other
 * threads reading or changing the environment; call it at startup.
 * @param names optional: gets $LISTEN_FDNAMES (the sockets' names, colon-separated, in fd
 *        order), or "" without it; @p names_len its size.
 * @return the count (0: none passed, or passed to another process); -EINVAL (a malformed
 *         variable); -EBADF (a passed descriptor is not open); -ENOSPC (@p names too small:
 *         the count is lost with it, so give room for the names if you ask for them).
 */
TLSIO_EXPORT int tlsio_listen_fds(int unset_env, char *names, size_t names_len);

/**
 * Queue a copy of @p buf. Sends made before the handshake finishes are held until it does.
 * @return 0; TLSIO_E_QUEUE_FULL (the queue is at or above high water: nothing was queued; wait
 *         for on_drain); TLSIO_E_CLOSED (closing, closed, shut down or failed); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_send(tlsio_conn *c, const void *buf, size_t len);

typedef struct tlsio_send_req tlsio_send_req;
/** Completion of a send: status 0 once all its bytes were written to the kernel, else the
 * connection's error (TLSIO_E_ABORTED, TLSIO_E_CLOSED, ...). May send again or close. */
typedef void (*tlsio_send_cb)(tlsio_send_req *req, int status);
/** A send request the caller embeds (like a libuv write request). Only @c data is the caller's;
 * the rest is private, and reserved_ lets it change without changing the structure's size. */
struct tlsio_send_req {
	void *data;                     /**< free for the caller */
	/* private below */
	tlsio_send_req *next_;
	tlsio_send_cb cb_;
	tlsio_conn *conn_;
	uint64_t end_;
	int copied_;
	void *reserved_[4];
};

/** Flags for tlsio_send_ex(). */
#define TLSIO_SEND_REF 1 /**< do not copy: @p buf stays the caller's until the completion */

/**
 * Queue @p buf with a completion. With TLSIO_SEND_REF the buffer must stay valid and unchanged
 * until @p cb runs. The completion fires exactly once, in send order: status 0 when the bytes were
 * written to the kernel, or the connection's error. Never called from inside tlsio_send_ex();
 * a refused send (return value < 0) gets no completion. @p req is the library's until then.
 * @return as tlsio_send(), and -EINVAL (@p req or @p cb NULL, an unknown flag).
 */
TLSIO_EXPORT int tlsio_send_ex(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len,
                               int flags, tlsio_send_cb cb);
/** Shorthand for tlsio_send_ex(c, req, buf, len, TLSIO_SEND_REF, cb). */
TLSIO_EXPORT int tlsio_send_ref(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len,
                                tlsio_send_cb cb);

/** Bytes queued and not yet written to the kernel (plaintext not encrypted + ciphertext not sent). */
TLSIO_EXPORT size_t tlsio_conn_queued(const tlsio_conn *c);
/** Change the watermarks (0 for high: the default, 16 MiB). Never fails. */
TLSIO_EXPORT void tlsio_conn_set_watermarks(tlsio_conn *c, size_t low, size_t high);

/** Stop delivering on_data (and stop reading the socket), e.g. while the application is busy.
 * Idempotent. The handshake and a closing connection read on regardless. */
TLSIO_EXPORT void tlsio_read_stop(tlsio_conn *c);
/** Resume delivering on_data (what arrived meanwhile comes first). Idempotent. */
TLSIO_EXPORT void tlsio_read_start(tlsio_conn *c);

/**
 * Graceful close: send what is queued, then close_notify, then shut down the write side; wait
 * (up to linger_ms) for the peer's close_notify or EOF; on_close follows. Before the handshake
 * finished there is nothing to say: on_close follows with TLSIO_E_CLOSED. Idempotent.
 */
TLSIO_EXPORT void tlsio_close(tlsio_conn *c);
/**
 * Half-close: send what is queued, then close_notify and shut down the write side; keep reading
 * until the peer closes. Further sends fail with TLSIO_E_CLOSED.
 * @return 0; TLSIO_E_CLOSED (already failing or closed); -ENOTCONN (handshake not finished).
 */
TLSIO_EXPORT int tlsio_shutdown(tlsio_conn *c);
/** Close now (no close_notify); pending completions fail with TLSIO_E_ABORTED; on_close follows
 * (after the current callback returns). Idempotent. */
TLSIO_EXPORT void tlsio_abort(tlsio_conn *c);

/** The user pointer (opts->user, or the last tlsio_conn_set_user()). */
TLSIO_EXPORT void *tlsio_conn_user(const tlsio_conn *c);
TLSIO_EXPORT void tlsio_conn_set_user(tlsio_conn *c, void *user);
/** Replace the callbacks (copied; e.g. from the accept callback). NULL: none.
 * @return 0, -EINVAL (struct_size not set) or -E2BIG (a callback this library does not know);
 *         on failure the callbacks stay as they were. */
TLSIO_EXPORT int tlsio_conn_set_callbacks(tlsio_conn *c, const tlsio_callbacks *cb);
TLSIO_EXPORT tlsio_loop *tlsio_conn_loop(const tlsio_conn *c);
/** The socket (the library's: do not read, write or close it); -1 while a host name is
 * resolved and its addresses are tried. */
TLSIO_EXPORT int tlsio_conn_fd(const tlsio_conn *c);
/** Negotiated protocol ("TLSv1.3"), cipher suite and ALPN after the handshake, else NULL. The
 * strings stay valid until on_close returned. */
TLSIO_EXPORT const char *tlsio_conn_tls_version(const tlsio_conn *c);
TLSIO_EXPORT const char *tlsio_conn_cipher(const tlsio_conn *c);
TLSIO_EXPORT const char *tlsio_conn_alpn(const tlsio_conn *c);
/** SNI sent by the client (server side), or NULL. */
TLSIO_EXPORT const char *tlsio_conn_server_name(const tlsio_conn *c);
/** 1 if the handshake resumed a session (a ticket or a cached session: no certificate was
 * sent, the keys come from the earlier handshake), 0 if it was a full one or is not done. A
 * resumed client connection still gives the server's certificate (tlsio_conn_peer_cert()) when
 * the session was made by this process. */
TLSIO_EXPORT int tlsio_conn_resumed(const tlsio_conn *c);

/* ------------------------------------------------------------------------------------------ */
/** @name The peer's certificate */
/**@{*/

/** Why the peer's certificate was refused (tlsio_conn_cert_error()). */
enum tlsio_cert_error {
	TLSIO_CERT_OK = 0,            /**< verified, or not verified (TLSIO_VERIFY_NONE, no cert asked) */
	TLSIO_CERT_NAME_MISMATCH = 1, /**< the certificate does not name the expected host */
	TLSIO_CERT_EXPIRED = 2,       /**< a certificate of the chain is past its notAfter */
	TLSIO_CERT_NOT_YET_VALID = 3, /**< a certificate of the chain is before its notBefore */
	TLSIO_CERT_UNKNOWN_CA = 4,    /**< the chain does not lead to a trusted CA */
	TLSIO_CERT_BAD_SIGNATURE = 5, /**< a signature of the chain does not verify */
	TLSIO_CERT_SELF_SIGNED = 6,   /**< a self-signed certificate that is not trusted */
	TLSIO_CERT_CHAIN_TOO_LONG = 7,/**< path length or depth exceeded */
	TLSIO_CERT_MISSING = 8,       /**< the peer sent no certificate but one was required */
	TLSIO_CERT_MALFORMED = 9,     /**< the certificate could not be parsed */
	TLSIO_CERT_OTHER = 10         /**< another failure (the text says which) */
};

/**
 * Why the peer's certificate was refused, e.g. from on_close after TLSIO_E_CERT_VERIFY.
 * @param why optional: a sentence, e.g. "name mismatch: connected to 127.0.0.1, the certificate
 *        is for DNS:evil.example", or "" for TLSIO_CERT_OK; valid until on_close returned.
 * @return an enum tlsio_cert_error.
 */
TLSIO_EXPORT int tlsio_conn_cert_error(const tlsio_conn *c, const char **why);
/** Short name of an enum tlsio_cert_error ("name mismatch", "expired", ...). Static; any thread. */
TLSIO_EXPORT const char *tlsio_cert_error_name(int err);

/**
 * The peer's own (leaf) certificate as DER, once the handshake got it: a server's always (on
 * the client), a client's when the server asked for one (TLSIO_VERIFY_REQUIRED). Valid until
 * on_close returned. @return the DER and its length in *@p len, or NULL (none).
 */
TLSIO_EXPORT const uint8_t *tlsio_conn_peer_cert(const tlsio_conn *c, size_t *len);

/** A certificate's identity, as tlsio_cert_info_new() reads it. Filled by the library:
 * struct_size is the library's sizeof(tlsio_cert_info). */
typedef struct tlsio_cert_info {
	size_t struct_size;
	const char *subject;      /**< distinguished name, RFC 4514 ("CN=client-one,O=Example") */
	const char *issuer;       /**< the issuer's, likewise */
	const char *serial;       /**< serial number in upper-case hex, as openssl x509 -serial */
	/** subjectAltName entries in certificate order: "DNS:name", "IP:addr" (IPv6 in its
	 * canonical text), "email:addr", "URI:uri" (other kinds are left out) */
	const char *const *san;
	size_t san_count;
	int64_t not_before, not_after; /**< validity, seconds since the Unix epoch (UTC) */
	uint8_t sha256[32];       /**< SHA-256 of the DER */
	char fingerprint[96];     /**< the same as "AB:CD:...", as openssl x509 -fingerprint -sha256 */
} tlsio_cert_info;

/**
 * Read the identity of a DER certificate (any thread; the input is bounded by @p len and may be
 * hostile). The result is one allocation: free it with tlsio_cert_info_free().
 * @return 0; -EINVAL (not a well-formed X.509 certificate); -ENOMEM.
 */
TLSIO_EXPORT int tlsio_cert_info_new(const uint8_t *der, size_t len, tlsio_cert_info **out);
/** Free what tlsio_cert_info_new() or tlsio_conn_peer_cert_info() made. NULL is ignored. */
TLSIO_EXPORT void tlsio_cert_info_free(tlsio_cert_info *info);
/** tlsio_cert_info_new() on the peer's certificate. @return 0, -ENOENT (no peer certificate),
 * -EINVAL, -ENOMEM. */
TLSIO_EXPORT int tlsio_conn_peer_cert_info(const tlsio_conn *c, tlsio_cert_info **out);
/**@}*/

/** Per-connection counters: start from TLSIO_STATS_INIT (struct_size), then tlsio_conn_stats(). */
typedef struct tlsio_stats {
	size_t struct_size;          /**< sizeof(tlsio_stats): set by TLSIO_STATS_INIT */
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
#define TLSIO_STATS_INIT {.struct_size = sizeof(tlsio_stats)}
/** Copy the counters (valid also inside on_close): the first out->struct_size bytes are filled,
 * struct_size itself is kept. @return 0 or -EINVAL (struct_size not set). */
TLSIO_EXPORT int tlsio_conn_stats(const tlsio_conn *c, tlsio_stats *out);
/**@}*/

#ifdef __cplusplus
}
#endif
#endif /* TLSIO_H */
