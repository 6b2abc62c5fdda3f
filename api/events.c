/* SPDX-License-Identifier: MIT */
/* The loop as the application's event loop: timers (in the connections' deadline heap), tasks
 * posted from other threads (a lock-free stack), and watches on the application's fds (waited
 * on by the backend). The drain lives in core.c, next to the connections it closes. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "loop.h"
#include "backend.h"

/* One year: a bound that keeps `now + timeout` far from overflow and catches a negative value
 * passed through an unsigned parameter. */
#define TIMER_MAX_MS 31536000000ull

struct tlsio_timer {
	tlsio__timer t; /* first: the heap hands it back */
	tlsio_loop *loop;
	tlsio_timer *prev, *next; /* loop->app_timers */
	tlsio_timer_cb cb;
	void *user;
	uint64_t repeat;
	unsigned ref : 1;
};

struct tlsio_watch {
	tlsio_loop *loop;
	tlsio_watch *prev, *next; /* loop->watches */
	int fd;
	unsigned events;
	unsigned ref : 1;
	tlsio_watch_cb cb;
	void *user;
	void *bdata;
};

/* ---------------------------------------------------------------------------------------- */
/* timers */

int tlsio__loop_reserve_app(tlsio_loop *loop)
{
	/* room for every connection, every queued timer and this one: a connection arming its
	 * deadline later must still find its slot (core.c relies on it) */
	return tlsio__timers_reserve(&loop->timers, loop->nconns + loop->napp + 2);
}

static int timer_counts(const tlsio_timer *t)
{
	return t->ref && t->t.pos != 0;
}

int tlsio_timer_new(tlsio_loop *loop, tlsio_timer_cb cb, void *user, tlsio_timer **out)
{
	tlsio_timer *t;
	if (out != NULL)
		*out = NULL;
	if (loop == NULL || cb == NULL || out == NULL)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->t.kind = TLSIO__TK_APP;
	t->loop = loop;
	t->cb = cb;
	t->user = user;
	t->next = loop->app_timers;
	if (loop->app_timers != NULL)
		loop->app_timers->prev = t;
	loop->app_timers = t;
	*out = t;
	return 0;
}

static int timer_arm(tlsio_timer *t, uint64_t at)
{
	tlsio_loop *loop = t->loop;
	if (t->t.pos == 0) {
		int rc = tlsio__loop_reserve_app(loop);
		if (rc < 0)
			return rc;
		loop->napp++;
		if (t->ref)
			tlsio__loop_refs_add(loop, 1);
	}
	return tlsio__timers_set(&loop->timers, &t->t, at);
}

int tlsio_timer_start(tlsio_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
	int rc;
	if (timeout_ms > TIMER_MAX_MS || repeat_ms > TIMER_MAX_MS)
		return -EINVAL;
	rc = timer_arm(t, tlsio__now_ms() + timeout_ms);
	if (rc == 0)
		t->repeat = repeat_ms;
	return rc;
}

int tlsio_timer_again(tlsio_timer *t)
{
	if (t->repeat == 0)
		return -EINVAL;
	return timer_arm(t, tlsio__now_ms() + t->repeat);
}

void tlsio_timer_stop(tlsio_timer *t)
{
	tlsio_loop *loop = t->loop;
	if (t->t.pos == 0)
		return;
	if (t->ref)
		tlsio__loop_refs_add(loop, -1);
	loop->napp--;
	tlsio__timers_del(&loop->timers, &t->t);
}

int tlsio_timer_active(const tlsio_timer *t) { return t->t.pos != 0; }

int64_t tlsio_timer_due_in(const tlsio_timer *t)
{
	uint64_t now = tlsio__now_ms();
	if (t->t.pos == 0)
		return -1;
	return t->t.at <= now ? 0 : (int64_t)(t->t.at - now);
}

void tlsio_timer_ref(tlsio_timer *t, int on)
{
	int before = timer_counts(t);
	t->ref = on != 0;
	tlsio__loop_refs_add(t->loop, timer_counts(t) - before);
}

void *tlsio_timer_user(const tlsio_timer *t) { return t->user; }
tlsio_loop *tlsio_timer_loop(const tlsio_timer *t) { return t->loop; }

void tlsio_timer_free(tlsio_timer *t)
{
	tlsio_loop *loop;
	if (t == NULL)
		return;
	loop = t->loop;
	tlsio_timer_stop(t);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		loop->app_timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	free(t);
}

void tlsio__app_timer_expire(tlsio_loop *loop, tlsio__timer *ht, uint64_t now)
{
	tlsio_timer *t = (tlsio_timer *)ht;
	if (t->repeat != 0) {
		/* keep the period; after a stall, go on from now instead of firing a burst */
		uint64_t next = t->t.at + t->repeat;
		if (next <= now)
			next = now + t->repeat;
		(void)tlsio__timers_set(&loop->timers, &t->t, next); /* queued: cannot fail */
	} else {
		tlsio_timer_stop(t);
	}
	t->cb(t, t->user); /* may free t: nothing touches it after this */
}

/* ---------------------------------------------------------------------------------------- */
/* tasks */

enum { TASK_IDLE, TASK_QUEUED };

/* A push onto the loop's stack. Only the push that finds it empty wakes the loop: the ones
 * after it land in the batch that wake-up will take (one wake per batch). */
static void task_push(tlsio_loop *loop, tlsio_task *task)
{
	tlsio_task *head = __atomic_load_n(&loop->posted, __ATOMIC_RELAXED);
	do
		task->next_ = head;
	while (!__atomic_compare_exchange_n(&loop->posted, &head, task, 1, __ATOMIC_RELEASE,
	                                    __ATOMIC_RELAXED));
	if (head == NULL)
		loop->be->wake(loop);
}

int tlsio_loop_post_task(tlsio_loop *loop, tlsio_task *task, tlsio_task_cb cb)
{
	int idle = TASK_IDLE;
	if (loop == NULL || task == NULL || cb == NULL)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&task->state_, &idle, TASK_QUEUED, 0, __ATOMIC_ACQUIRE,
	                                 __ATOMIC_RELAXED))
		return -EALREADY;
	task->cb_ = cb;
	task_push(loop, task);
	return 0;
}

struct posted {
	tlsio_task task; /* first */
	tlsio_post_cb fn;
	void *arg;
};

static void posted_run(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct posted *p = (struct posted *)task;
	tlsio_post_cb fn = p->fn;
	void *arg = p->arg;
	free(p); /* before the call: the function may end the thread's interest in anything */
	fn(loop, arg, status);
}

int tlsio_loop_post(tlsio_loop *loop, tlsio_post_cb fn, void *arg)
{
	struct posted *p;
	int own;
	if (loop == NULL || fn == NULL)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->task.state_ = TASK_QUEUED;
	p->task.cb_ = posted_run;
	/* A post from the loop's own thread holds an application's uv loop until it ran. From
	 * another thread the loop may be gone as soon as the task is pushed (it may be the last
	 * thing the loop waited for): nothing of it is touched after task_push there.
	 * tlsio_loop_post_task (async-signal-safe) never makes this call. */
	own = pthread_equal(pthread_self(), loop->owner);
	task_push(loop, &p->task);
	if (own)
		tlsio__loop_alive_changed(loop);
	return 0;
}

void tlsio__tasks_run(tlsio_loop *loop, int status)
{
	tlsio_task *list, *fifo = NULL;
	if (!tlsio__tasks_pending(loop))
		return;
	list = __atomic_exchange_n(&loop->posted, NULL, __ATOMIC_ACQUIRE);
	while (list != NULL) { /* newest first: reverse into posting order */
		tlsio_task *next = list->next_;
		list->next_ = fifo;
		fifo = list;
		list = next;
	}
	while (fifo != NULL) {
		tlsio_task *t = fifo;
		tlsio_task_cb cb = t->cb_;
		fifo = t->next_;
		/* idle before the call: the callback (or another thread) may post it again, which
		 * rewrites next_, read above */
		__atomic_store_n(&t->state_, TASK_IDLE, __ATOMIC_RELEASE);
		cb(loop, t, status);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* watches on the application's fds */

#define WATCH_EVENTS (TLSIO_READABLE | TLSIO_WRITABLE)

static int watch_counts(const tlsio_watch *w)
{
	return w->ref && w->events != 0;
}

int tlsio_watch_new(tlsio_loop *loop, int fd, unsigned events, tlsio_watch_cb cb, void *user,
                    tlsio_watch **out)
{
	tlsio_watch *w;
	int rc;
	if (out != NULL)
		*out = NULL;
	if (loop == NULL || fd < 0 || cb == NULL || out == NULL || (events & ~WATCH_EVENTS) != 0)
		return -EINVAL;
	if (loop->be->watch_attach == NULL)
		return -ENOTSUP; /* a backend of the tests' own that waits on nothing */
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->loop = loop;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->user = user;
	rc = loop->be->watch_attach(w);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->next = loop->watches;
	if (loop->watches != NULL)
		loop->watches->prev = w;
	loop->watches = w;
	*out = w;
	return 0;
}

int tlsio_watch_set(tlsio_watch *w, unsigned events)
{
	unsigned old = w->events;
	int before = watch_counts(w), rc;
	if ((events & ~WATCH_EVENTS) != 0)
		return -EINVAL;
	if (events == old)
		return 0;
	w->events = events;
	rc = w->loop->be->watch_update(w);
	if (rc < 0) {
		w->events = old;
		return rc;
	}
	tlsio__loop_refs_add(w->loop, watch_counts(w) - before);
	return 0;
}

unsigned tlsio_watch_events(const tlsio_watch *w) { return w->events; }

void tlsio_watch_ref(tlsio_watch *w, int on)
{
	int before = watch_counts(w);
	w->ref = on != 0;
	tlsio__loop_refs_add(w->loop, watch_counts(w) - before);
}

int tlsio_watch_fd(const tlsio_watch *w) { return w->fd; }
void *tlsio_watch_user(const tlsio_watch *w) { return w->user; }
tlsio_loop *tlsio_watch_loop(const tlsio_watch *w) { return w->loop; }

void tlsio_watch_free(tlsio_watch *w)
{
	tlsio_loop *loop;
	if (w == NULL)
		return;
	loop = w->loop;
	tlsio__loop_refs_add(loop, -watch_counts(w));
	loop->be->watch_detach(w);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		loop->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/* backend-facing */
int tlsio__watch_fd(const tlsio_watch *w) { return w->fd; }
unsigned tlsio__watch_events(const tlsio_watch *w) { return w->events; }
tlsio_loop *tlsio__watch_loop(const tlsio_watch *w) { return w->loop; }
void *tlsio__watch_bdata(const tlsio_watch *w) { return w->bdata; }
void tlsio__watch_set_bdata(tlsio_watch *w, void *p) { w->bdata = p; }
size_t tlsio__loop_refs(const tlsio_loop *loop) { return loop->refs; }

void tlsio__loop_refs_add(tlsio_loop *loop, int delta)
{
	if (delta == 0)
		return;
	loop->refs += (size_t)(ptrdiff_t)delta;
	tlsio__loop_alive_changed(loop);
}

void tlsio__loop_alive_changed(tlsio_loop *loop)
{
	if (loop->be->alive_changed != NULL)
		loop->be->alive_changed(loop);
}

int tlsio__loop_alive(const tlsio_loop *loop)
{
	return loop->conns != NULL || loop->listeners != NULL || loop->refs > 0 || loop->drain.on ||
	       __atomic_load_n(&loop->posted, __ATOMIC_RELAXED) != NULL;
}

void tlsio__watch_on_ready(tlsio_watch *w, unsigned revents)
{
	/* what the backend saw may be stale by one change of the mask: deliver only what is asked */
	if (w->events == 0 || w->loop->freeing)
		return;
	revents &= w->events | TLSIO_HANGUP;
	if (revents != 0)
		w->cb(w, w->fd, revents, w->user);
}

void tlsio__events_free(tlsio_loop *loop)
{
	while (loop->watches != NULL)
		tlsio_watch_free(loop->watches);
	while (loop->app_timers != NULL)
		tlsio_timer_free(loop->app_timers);
}
