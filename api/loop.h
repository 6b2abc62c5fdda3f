/* SPDX-License-Identifier: MIT */
/* The loop's state, shared by the connection core (core.c) and the loop's own extras
 * (events.c: the application's timers, posted tasks, fd watches). */
#ifndef TLSIO_LOOP_H
#define TLSIO_LOOP_H

#include <stdatomic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tlsio.h"
#include "queue.h"
#include "timers.h"
#include "tls.h"

struct tlsio_loop {
	const tlsio_backend *be;
	pthread_t owner; /* the thread that made it (the loop's thread: tlsio.h), set once */
	void *bdata;
	tlsio_conn *conns;
	tlsio_listener *listeners;
	tlsio_listener *dead_listeners;
	tlsio_conn *pend_head, *pend_tail;
	tlsio_conn *fin_head;
	atomic_int stop; /* set from other threads and signal handlers (tlsio_loop_stop) */
	int running;     /* inside tlsio_loop_run: a nested call is refused */
	int freeing;     /* inside tlsio_loop_free */
	tlsio__pool pt_pool, ct_pool; /* queue chunks shared by the loop's connections */
	tlsio__timers timers;      /* every deadline: connections', timers', the drain's */
	size_t nconns;
	size_t napp;               /* queued timers of the application and the drain's */
	size_t refs;               /* started referenced timers, referenced watches with events */
	tlsio_task *posted;        /* __atomic: posted tasks, a lock-free stack, newest first */
	tlsio_timer *app_timers;   /* every tlsio_timer of the loop (for tlsio_loop_free) */
	tlsio_watch *watches;      /* every tlsio_watch of the loop */
	struct {
		int on;
		tlsio__timer timer; /* TLSIO__TK_DRAIN: the deadline, if any */
		tlsio_drain_cb cb;
		void *user;
		size_t aborted;
	} drain;
	uint8_t stage[TLSIO__TLS_MAX_PLAIN];
	uint8_t rbuf[TLSIO__TLS_MAX_PLAIN];
};

/* events.c, for core.c */
/** An application timer came due (already out of the heap top position): re-arm a repeating
 * one, then run its callback. */
void tlsio__app_timer_expire(tlsio_loop *loop, tlsio__timer *t, uint64_t now);
/** Whether tasks were posted (one relaxed atomic load). */
static inline int tlsio__tasks_pending(tlsio_loop *loop)
{
	return __atomic_load_n(&loop->posted, __ATOMIC_RELAXED) != NULL;
}
/** Run the tasks posted so far, in posting order, with @p status. */
void tlsio__tasks_run(tlsio_loop *loop, int status);
/** At tlsio_loop_free: detach and free the timers and watches left. */
void tlsio__events_free(tlsio_loop *loop);
/** loop->refs += @p delta (referenced timers and watches, a connection being dialled), then
 * tlsio__loop_alive_changed. */
void tlsio__loop_refs_add(tlsio_loop *loop, int delta);
/** Tell the backend that what keeps a run going may have changed (backend.h, alive_changed). */
void tlsio__loop_alive_changed(tlsio_loop *loop);
/** A slot in the deadline heap for one more timer that is not a connection's. 0 or -ENOMEM. */
int tlsio__loop_reserve_app(tlsio_loop *loop);

#endif
