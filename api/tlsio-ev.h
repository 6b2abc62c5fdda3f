/* SPDX-License-Identifier: MIT */
/**
 * @file tlsio-ev.h
 * @brief libtlsio on a libev loop the application owns and runs.
 *
 * Only with the libev backend (compiled in when `tlsio_backend_by_name("libev")` is not NULL).
 * Kept apart from tlsio.h so that tlsio.h does not pull in <ev.h>.
 *
 * Two ways to use the libev backend:
 *  - Library-owned loop: `tlsio_loop_new(&loop, tlsio_backend_by_name("libev"))` creates an ev
 *    loop of its own; drive it with tlsio_loop_run() like any other backend. tlsio_loop_ev()
 *    returns that ev loop if you want to add your own watchers to it.
 *  - Application-owned loop: tlsio_loop_new_ev() attaches to your `struct ev_loop` and you keep
 *    running it with ev_run(). The library installs an ev_prepare, an ev_check (at EV_MINPRI),
 *    an ev_timer and an ev_async on it, plus one ev_io per connection and listener; everything
 *    the library does (I/O, encryption, callbacks, completions, deadlines) then happens inside
 *    your ev_run(). Do not call tlsio_loop_run() as well, nor ev_run() from inside a libtlsio
 *    callback.
 *
 * With an application-owned loop, ev_run(evl, 0) keeps running while a connection or listener
 * exists (each holds one reference on the loop until its on_close has been delivered); the
 * library's internal watchers do not keep it running by themselves. tlsio_loop_wake() may be
 * called from any thread or a signal handler and makes a blocked ev_run() iteration return.
 * Referenced timers and watches (tlsio_timer_ref(), tlsio_watch_ref()) hold one reference each
 * while active; unreferenced ones, pending deadlines and the library's own watchers hold none.
 * tlsio_loop_stop() and the end of a drain (tlsio_loop_drain()) call ev_break(EVBREAK_ONE) on
 * it, from the library's next hook (the application's loop ends its iteration, as
 * tlsio_loop_run() would return).
 *
 * Passes: the library does its work (deadlines and timers, posted tasks, pending sends,
 * finalization) from an ev_prepare before the loop blocks, from an ev_check after the I/O
 * callbacks, and from its ev_timer: up to three passes per ev_run iteration. "The next loop
 * turn" of tlsio.h (a timer restarted with timeout 0 from its callback) is the next pass here.
 *
 * Order of teardown: tlsio_loop_free() (on the loop's thread, not from inside a callback) before
 * ev_loop_destroy(). tlsio_loop_free() stops and removes every watcher it added and leaves the
 * ev loop's reference count as it found it.
 *
 * The loop and everything attached to it belong to the thread that runs the ev loop.
 */
#ifndef TLSIO_EV_H
#define TLSIO_EV_H

#include <ev.h>

#include "tlsio.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create a loop on the libev backend that runs inside the application's ev loop @p evl
 * (not freed by tlsio_loop_free()).
 * @return 0, -EINVAL (@p evl NULL), TLSIO_E_BACKEND_UNAVAILABLE or -ENOMEM.
 */
TLSIO_EXPORT int tlsio_loop_new_ev(tlsio_loop **out, struct ev_loop *evl);

/**
 * The ev loop a libev-backed loop runs on: the application's one, or the library's own.
 * @return NULL if @p loop runs on another backend.
 */
TLSIO_EXPORT struct ev_loop *tlsio_loop_ev(const tlsio_loop *loop);

#ifdef __cplusplus
}
#endif
#endif /* TLSIO_EV_H */
