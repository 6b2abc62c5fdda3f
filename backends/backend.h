/* SPDX-License-Identifier: MIT */
/* The core <-> backend interface. Both directions are listed here and nowhere else.
 *
 * Core -> backend: one `const struct tlsio_backend` per backend file.
 *   probe            can this backend run here? (io_uring may be disabled by sysctl/seccomp)
 *   loop_init/free   per-loop state (epoll fd, ring, ev_loop, poll set)
 *   run_once         wait at most timeout_ms (-1: no limit) and dispatch what happened
 *   wake             make a wait in run_once return (any thread, signal-safe)
 *   listener_attach  start accepting on a listening socket; listener_detach stops it
 *   conn_attach      take a connected (or, with connecting=1, connecting) socket
 *   conn_close       stop all I/O on the connection; call tlsio__conn_closed() once nothing in
 *                    flight refers to the connection or its buffers any more (now or later)
 *   flush            ciphertext is queued: write it, in order, from the first unsent byte
 *   read_start/stop  the core does or does not want input for now
 *   info             optional: one line on the paths chosen at runtime (tlsio_loop_info)
 *   watch_attach     wait on an application fd (tlsio_watch) for tlsio__watch_events(w)
 *                    (0: paused); level-triggered: report it in every run_once while it is
 *                    ready for a watched event. Errors are the application's (-EPERM, -EEXIST)
 *   watch_update     the events changed (0: stop waiting, without a spin on POLLHUP/POLLERR)
 *   watch_detach     stop waiting; never report w again (the core frees it on return; the
 *                    fd stays open, and a backend with a poll in flight keeps its own node
 *                    until the poll's completion, without a pointer to w)
 *   alive_changed    optional: what keeps a run going (tlsio__loop_alive) may have changed,
 *                    also outside any run: a connection or listener was made, a referenced
 *                    timer or watch started or stopped, a drain began, a tlsio_loop_post()
 *                    (libuv mirrors it as the reference of one handle on an application's uv
 *                    loop, which uv_run checks first). Always on the loop's thread (a post
 *                    from another thread does not make this call)
 * Timers, posted tasks and the drain need nothing from a backend beyond run_once's timeout
 * and wake: they are the core's (api/events.c, api/core.c).
 *
 * Backend -> core (all from inside run_once or flush, or, on a loop the application runs, from
 * the backend's callbacks inside that loop):
 *   tlsio__conn_on_connected(c, status)  connect finished (0 or -errno)
 *   tlsio__conn_on_sent(c, n)            the kernel took the next n ciphertext bytes
 *   tlsio__conn_on_recv(c, p, n)         n bytes read from the socket
 *   tlsio__conn_on_eof(c)                the peer shut down its write side
 *   tlsio__conn_on_error(c, -errno)      the socket failed (ECONNRESET, EPIPE, ...)
 *   tlsio__conn_closed(c)                answer to conn_close
 *   tlsio__listener_on_accept(l, fd)     a new connection (the core owns fd from here on)
 *   tlsio__watch_on_ready(w, revents)    a watched fd is ready (TLSIO_READABLE/WRITABLE/
 *                                        HANGUP); may free w and any other watch
 *   tlsio__loop_process(loop)            only for a loop the application runs (libev on the
 *                                        application's ev_loop), from the backend's own hooks:
 *                                        expired deadlines, pending pumps, finalization; returns
 *                                        ms to the next deadline (-1: none)
 * plus tlsio__loop_refs(loop): the referenced timers and watches, which keep a run going (the
 * libev backend mirrors them as references on an application's ev loop), and
 * tlsio__loop_alive(loop): whether tlsio_loop_run(TLSIO_RUN_DEFAULT) would go on (connections
 * up to their finalization, listeners, those references, a drain, pending tasks),
 * plus read-only helpers: tlsio__conn_out_iov/out_len (the unsent ciphertext, stable until
 * on_sent reports it), tlsio__conn_fd, tlsio__conn_alive, tlsio__conn_wants_read, per-connection
 * counters (tlsio__conn_counters), a write deadline (tlsio__conn_write_deadline), and slots for
 * the backend's own per-loop/per-connection/per-listener data.
 *
 * Re-entrancy: any callback into the core may run application code, which may close or abort
 * any connection. The core never frees a connection inside such a call: it calls conn_close and
 * frees later. After a callback, a backend checks tlsio__conn_alive(c) before touching c again. */
#ifndef TLSIO_BACKEND_H
#define TLSIO_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tlsio.h"

struct tlsio_backend {
	const char *name;
	int (*probe)(const char **why);
	int (*loop_init)(tlsio_loop *loop);
	void (*loop_free)(tlsio_loop *loop);
	int (*run_once)(tlsio_loop *loop, int timeout_ms);
	void (*wake)(tlsio_loop *loop);
	int (*listener_attach)(tlsio_listener *l);
	void (*listener_detach)(tlsio_listener *l);
	int (*conn_attach)(tlsio_conn *c, int connecting);
	void (*conn_close)(tlsio_conn *c);
	void (*flush)(tlsio_conn *c);
	void (*read_start)(tlsio_conn *c);
	void (*read_stop)(tlsio_conn *c);
	const char *(*info)(const tlsio_loop *loop);
	int (*watch_attach)(tlsio_watch *w);
	int (*watch_update)(tlsio_watch *w);
	void (*watch_detach)(tlsio_watch *w);
	void (*alive_changed)(tlsio_loop *loop);
};

/* Backend -> core. */
void tlsio__conn_on_connected(tlsio_conn *c, int status);
void tlsio__conn_on_sent(tlsio_conn *c, size_t n);
void tlsio__conn_on_recv(tlsio_conn *c, const uint8_t *data, size_t n);
void tlsio__conn_on_eof(tlsio_conn *c);
void tlsio__conn_on_error(tlsio_conn *c, int err);
void tlsio__conn_closed(tlsio_conn *c);
void tlsio__listener_on_accept(tlsio_listener *l, int fd);
int tlsio__loop_process(tlsio_loop *loop);
/** For a loop the application runs: whether tlsio_loop_stop() or a drain's end asked the run
 * to end (consumes the request). */
int tlsio__loop_take_stop(tlsio_loop *loop);
void tlsio__watch_on_ready(tlsio_watch *w, unsigned revents);

/* Read-only views and backend slots. */
size_t tlsio__conn_out_len(const tlsio_conn *c);
size_t tlsio__conn_out_iov(const tlsio_conn *c, size_t skip, struct iovec *iov, size_t max);
int tlsio__conn_fd(const tlsio_conn *c);
int tlsio__conn_alive(const tlsio_conn *c);
int tlsio__conn_wants_read(const tlsio_conn *c);
/** Monotonic ms after which a blocked write should give up: the earliest of the handshake,
 * idle and linger deadlines and a drain's (0: none). */
uint64_t tlsio__conn_write_deadline(const tlsio_conn *c);
tlsio_stats *tlsio__conn_counters(tlsio_conn *c);
void *tlsio__conn_bdata(const tlsio_conn *c);
void tlsio__conn_set_bdata(tlsio_conn *c, void *p);
tlsio_loop *tlsio__listener_loop(const tlsio_listener *l);
int tlsio__listener_fd(const tlsio_listener *l);
void *tlsio__listener_bdata(const tlsio_listener *l);
void tlsio__listener_set_bdata(tlsio_listener *l, void *p);
void *tlsio__loop_bdata(const tlsio_loop *loop);
void tlsio__loop_set_bdata(tlsio_loop *loop, void *p);
uint64_t tlsio__now_ms(void);
int tlsio__watch_fd(const tlsio_watch *w);
unsigned tlsio__watch_events(const tlsio_watch *w);
tlsio_loop *tlsio__watch_loop(const tlsio_watch *w);
void *tlsio__watch_bdata(const tlsio_watch *w);
void tlsio__watch_set_bdata(tlsio_watch *w, void *p);
size_t tlsio__loop_refs(const tlsio_loop *loop);
int tlsio__loop_alive(const tlsio_loop *loop);

extern const struct tlsio_backend tlsio__backend_blocking;
#ifdef TLSIO_HAVE_EPOLL
extern const struct tlsio_backend tlsio__backend_epoll;
#endif
#ifdef TLSIO_HAVE_URING
extern const struct tlsio_backend tlsio__backend_uring;
#endif
#ifdef TLSIO_HAVE_LIBEV
extern const struct tlsio_backend tlsio__backend_libev;
#endif
#ifdef TLSIO_HAVE_LIBUV
extern const struct tlsio_backend tlsio__backend_libuv;
#endif

#endif
