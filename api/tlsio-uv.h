/* SPDX-License-Identifier: MIT */
/**
 * @file tlsio-uv.h
 * @brief libtlsio on a libuv loop the application owns and runs.
 *
 * Only with the libuv backend (compiled in when `tlsio_backend_by_name("libuv")` is not NULL;
 * `configure --disable-libuv` leaves it out). Kept apart from tlsio.h so that tlsio.h does not
 * pull in <uv.h>. Link with `pkg-config --libs libtlsio` as usual; the application links libuv
 * itself (`pkg-config --libs libuv`) and must use the libuv the library was built against
 * (same major version: the backend's probe refuses another one).
 *
 * Two ways to use the libuv backend:
 *  - Library-owned loop: `tlsio_loop_new(&loop, tlsio_backend_by_name("libuv"))` creates a
 *    uv_loop_t of its own; drive it with tlsio_loop_run() like any other backend.
 *    tlsio_loop_uv() returns that uv loop if you want to add your own handles to it (close
 *    them before tlsio_loop_free(), which closes the loop with uv_loop_close()).
 *  - Application-owned loop: tlsio_loop_new_uv() attaches to your `uv_loop_t` and you keep
 *    running it with uv_run(). The library opens a uv_async_t, a uv_prepare_t, a uv_check_t and
 *    two uv_timer_t on it, plus one uv_poll_t per connection, listener and watch; everything the
 *    library does (I/O, encryption, callbacks, completions, deadlines) then happens inside your
 *    uv_run(). Do not call tlsio_loop_run() as well, nor uv_run() from inside a libtlsio
 *    callback (libuv's loop is not reentrant).
 *
 * With an application-owned loop, uv_run(uvl, UV_RUN_DEFAULT) keeps running while a connection
 * or listener exists (until its on_close has been delivered) or a referenced timer or watch is
 * active (tlsio_timer_ref(), tlsio_watch_ref()), exactly as long as tlsio_loop_run() would:
 * the library's async handle is referenced then and unreferenced otherwise; every other handle
 * of the library is unreferenced (uv_unref()), so none of them keeps your loop alive by itself.
 * This holds from the call that makes the first connection, listener or timer, also before the
 * first uv_run(); a drain in progress and a tlsio_loop_post() made on the loop's thread hold the
 * loop too, until they are done. A task posted from another thread or from a signal handler
 * cannot take a reference (uv_ref() is neither thread- nor signal-safe): it wakes the loop and
 * runs in the library's next pass if uv_run() is going, that is while something (of the
 * library's or yours) is referenced. Unlike ev_run(), uv_run() does not go round at all on a
 * loop with nothing referenced, so an unreferenced tlsio timer or watch is served only while
 * something else keeps the loop going, as for an unreferenced handle of yours.
 * tlsio_loop_wake() may be called from
 * any thread or a signal handler (uv_async_send()) and makes a blocked uv_run() iteration
 * return. tlsio_loop_stop() and the end of a drain (tlsio_loop_drain()) call uv_stop() on it,
 * from the library's next pass (uv_run() returns after that iteration, as tlsio_loop_run()
 * would).
 *
 * Passes: the library does its work (deadlines and timers, posted tasks, pending sends,
 * finalization) from its uv_prepare_t before the loop blocks, its uv_check_t after the I/O
 * callbacks, and its deadline uv_timer_t: up to three passes per uv_run() iteration. "The next
 * loop turn" of tlsio.h (a timer restarted with timeout 0 from its callback) is the next pass
 * here.
 *
 * Watches (tlsio_watch_new()) on a libuv loop: libuv waits on the fd with epoll, so a regular
 * file cannot be watched (-EPERM, as on the epoll backend), and one fd can have one watch per
 * loop (-EEXIST). uv_poll_init() makes the fd non-blocking; the library restores its flags.
 *
 * Order of teardown: tlsio_loop_free() (on the loop's thread, not from inside a callback, and
 * not from inside uv_run()) closes every handle it opened with uv_close(). libuv finishes a close
 * in the loop's next iteration, so run the loop once more before uv_loop_close(), as libuv
 * requires for any handle:
 * @code
 * tlsio_loop_free(loop);
 * uv_run(uvl, UV_RUN_DEFAULT);    // the library's close callbacks; returns at once if
 *                                 // nothing of yours is left
 * int rc = uv_loop_close(uvl);    // 0: nothing of the library is left on the loop
 * @endcode
 * The library's memory for the loop is freed by the last of those close callbacks (valgrind
 * and ASan see no leak once uv_run() has run them).
 *
 * The loop and everything attached to it belong to the thread that runs the uv loop.
 */
#ifndef TLSIO_UV_H
#define TLSIO_UV_H

#include <uv.h>

#include "tlsio.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create a loop on the libuv backend that runs inside the application's uv loop @p uvl
 * (not closed by tlsio_loop_free(); see "Order of teardown"). On the thread that runs @p uvl;
 * may be called from one of its callbacks (also from a libtlsio callback of another loop).
 * @return 0, -EINVAL (@p out or @p uvl NULL), TLSIO_E_BACKEND_UNAVAILABLE (the backend's probe
 *         refused: another libuv major version at run time) or -ENOMEM.
 */
TLSIO_EXPORT int tlsio_loop_new_uv(tlsio_loop **out, uv_loop_t *uvl);

/**
 * The uv loop a libuv-backed loop runs on: the application's one, or the library's own
 * (owned by @p loop: valid until tlsio_loop_free()). Any thread.
 * @return NULL if @p loop runs on another backend (or is NULL).
 */
TLSIO_EXPORT uv_loop_t *tlsio_loop_uv(const tlsio_loop *loop);

#ifdef __cplusplus
}
#endif
#endif /* TLSIO_UV_H */
