/* SPDX-License-Identifier: MIT */
/* The loop as the application's event loop (DESIGN.md, "Growing it": the loop's own services),
 * in the contract suite of every backend: timers, tasks posted from other threads and from a
 * signal handler, watches on the application's fds, the graceful drain. Each case runs on the backend under test, and once
 * more on the libev backend inside an ev_loop the test owns and runs with ev_run()
 * ("contract/libev-app") and on the libuv backend inside a uv_loop_t the test owns and runs with
 * uv_run() ("contract/libuv-app"): there, "the run" is ev_run(evl, 0) / uv_run(uvl,
 * UV_RUN_DEFAULT), which must keep going exactly while the library says a run would
 * (referenced timers and watches, connections), and the uv loop must close cleanly after. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "tlsio.h"
#ifdef TLSIO_HAVE_LIBEV
#include "tlsio-ev.h"
#endif
#ifdef TLSIO_HAVE_LIBUV
#include "tlsio-uv.h"
#endif

void contract_loop_cases(Suite *s, const char *backend, int app_ev);

static const char *g_lbackend;
static int g_app_ev;

#define ASSERT_NO_FAILURE() ck_assert_msg(tu_failed() == 0, "%s", tu_failure())
#define BEGIN() tu_log("[%s%s] --- %s", g_lbackend, g_app_ev ? " on an application loop" : "", __func__)

/* ---------------------------------------------------------------------------------------- */
/* a loop, run the way the mode says */

struct lx {
	tlsio_loop *loop;
	void *evl; /* struct ev_loop *, application mode on libev */
	void *uvl; /* uv_loop_t *, application mode on libuv */
	void *hold; /* uv_timer_t *: the application's own business on its uv loop (lx_hold) */
};

static void lx_open(struct lx *x)
{
	int rc;
	memset(x, 0, sizeof(*x));
#ifdef TLSIO_HAVE_LIBUV
	if (g_app_ev && strcmp(g_lbackend, "libuv") == 0) {
		x->uvl = malloc(sizeof(uv_loop_t));
		ck_assert_ptr_nonnull(x->uvl);
		ck_assert_int_eq(uv_loop_init(x->uvl), 0);
		rc = tlsio_loop_new_uv(&x->loop, x->uvl);
	} else
#endif
#ifdef TLSIO_HAVE_LIBEV
	if (g_app_ev) {
		x->evl = ev_loop_new(EVFLAG_AUTO);
		ck_assert_msg(x->evl != NULL, "ev_loop_new failed");
		rc = tlsio_loop_new_ev(&x->loop, x->evl);
	} else
#endif
		rc = tlsio_loop_new(&x->loop, tlsio_backend_by_name(g_lbackend));
	ck_assert_msg(rc == 0, "loop on %s: %s", g_lbackend, tlsio_strerror(rc));
	tu_loop_register(x->loop);
}

static void lx_close(struct lx *x)
{
	tu_loop_unregister(x->loop);
	tlsio_loop_free(x->loop);
	x->loop = NULL;
#ifdef TLSIO_HAVE_LIBEV
	if (x->evl != NULL)
		ev_loop_destroy(x->evl);
#endif
	x->evl = NULL;
#ifdef TLSIO_HAVE_LIBUV
	if (x->hold != NULL)
		uv_close(x->hold, (uv_close_cb)free);
	x->hold = NULL;
	if (x->uvl != NULL) {
		/* the library's close callbacks run in this one; nothing else keeps it going */
		ck_assert_int_eq(uv_run(x->uvl, UV_RUN_DEFAULT), 0);
		ck_assert_int_eq(uv_loop_close(x->uvl), 0);
		free(x->uvl);
	}
#endif
	x->uvl = NULL;
}

/* One turn that may wait (bounded by the loop's timers), one that may not, a whole run. */
static void lx_turn(struct lx *x, int nowait)
{
#ifdef TLSIO_HAVE_LIBUV
	if (x->uvl != NULL) {
		(void)uv_run(x->uvl, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE);
		return;
	}
#endif
#ifdef TLSIO_HAVE_LIBEV
	if (x->evl != NULL) {
		ev_run(x->evl, nowait ? EVRUN_NOWAIT : EVRUN_ONCE);
		return;
	}
#endif
	ck_assert_int_eq(tlsio_loop_run(x->loop, nowait ? TLSIO_RUN_NOWAIT : TLSIO_RUN_ONCE), 0);
}

static void lx_run(struct lx *x)
{
#ifdef TLSIO_HAVE_LIBUV
	if (x->uvl != NULL) {
		(void)uv_run(x->uvl, UV_RUN_DEFAULT);
		return;
	}
#endif
#ifdef TLSIO_HAVE_LIBEV
	if (x->evl != NULL) {
		ev_run(x->evl, 0);
		return;
	}
#endif
	ck_assert_int_eq(tlsio_loop_run(x->loop, TLSIO_RUN_DEFAULT), 0);
}

#ifdef TLSIO_HAVE_LIBUV
static void hold_cb(uv_timer_t *t)
{
	(void)t;
}
#endif

/* On an application's uv loop, uv_run() does not go round at all while no handle is referenced
 * (libev's ev_run does one iteration): what a task posted from another thread or a signal
 * handler, or an unreferenced watch, needs then is the application's own business on the loop
 * (tlsio-uv.h). @p on: the test's application starts (stops) a referenced timer of its own. */
static void lx_hold(struct lx *x, int on)
{
#ifdef TLSIO_HAVE_LIBUV
	if (x->uvl == NULL)
		return;
	if (x->hold == NULL) {
		x->hold = malloc(sizeof(uv_timer_t));
		ck_assert_ptr_nonnull(x->hold);
		ck_assert_int_eq(uv_timer_init(x->uvl, x->hold), 0);
	}
	if (on)
		ck_assert_int_eq(uv_timer_start(x->hold, hold_cb, 600000, 0), 0);
	else
		ck_assert_int_eq(uv_timer_stop(x->hold), 0);
#else
	(void)x;
	(void)on;
#endif
}

/* Turns until @p done or @p ms passed. */
static __attribute__((unused)) void lx_until(struct lx *x, const int *done, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;
	while (!*done && tu_now_ms() < end && !tu_aborted())
		lx_turn(x, 0);
	ck_assert_msg(*done, "[%s] not done after %u ms", g_lbackend, ms);
}

/* ---------------------------------------------------------------------------------------- */
/* timers */

struct tlog {
	char order[64];
	size_t n;
	uint64_t started, at[64];
	unsigned due[64];
};

struct tt {
	struct tlog *log;
	char label;
	unsigned timeout;
	int count, stop_after, free_after, restart0;
	tlsio_timer *t;
};

static void tt_cb(tlsio_timer *t, void *user)
{
	struct tt *x = user;
	struct tlog *g = x->log;
	ck_assert_ptr_eq(t, x->t);
	if (g->n < sizeof(g->order) - 1) {
		g->at[g->n] = tu_now_ms();
		g->due[g->n] = x->timeout;
		g->order[g->n++] = x->label;
	}
	x->count++;
	if (x->stop_after && x->count == x->stop_after)
		tlsio_timer_stop(t);
	if (x->free_after && x->count == x->free_after) {
		tlsio_timer_free(t); /* from its own callback */
		x->t = NULL;
	}
	if (x->restart0 && x->count < x->restart0)
		ck_assert_int_eq(tlsio_timer_start(t, 0, 0), 0);
}

START_TEST(test_timers_in_order)
{
	struct lx x;
	struct tlog g = {0};
	/* started in this order; expected to fire as a, b, c, d, e, then the guard */
	struct tt ts[] = {{.log = &g, .label = 'e', .timeout = 30}, {.log = &g, .label = 'b', .timeout = 10},
	                  {.log = &g, .label = 'd', .timeout = 20}, {.log = &g, .label = 'c', .timeout = 10},
	                  {.log = &g, .label = 'a', .timeout = 0}, {.log = &g, .label = 'z', .timeout = 60}};
	size_t n = sizeof(ts) / sizeof(ts[0]);
	BEGIN();
	lx_open(&x);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(tlsio_timer_new(x.loop, tt_cb, &ts[i], &ts[i].t), 0);
	/* an unreferenced timer alone does not keep a run going: it returns without firing it */
	ck_assert_int_eq(tlsio_timer_start(ts[0].t, 10, 0), 0);
	ck_assert_int_eq(tlsio_timer_active(ts[0].t), 1);
	lx_run(&x);
	ck_assert_msg(g.n == 0, "an unreferenced timer kept the run going (fired: %s)", g.order);
	tlsio_timer_stop(ts[0].t);
	ck_assert_int_eq(tlsio_timer_active(ts[0].t), 0);
	ck_assert_int_eq((int)tlsio_timer_due_in(ts[0].t), -1);
	ck_assert_int_eq(tlsio_timer_start(ts[0].t, 31536000001ull, 0), -EINVAL);

	g.started = tu_now_ms();
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(tlsio_timer_start(ts[i].t, ts[i].timeout, 0), 0);
	ck_assert_ptr_eq(tlsio_timer_user(ts[5].t), &ts[5]);
	ck_assert_ptr_eq(tlsio_timer_loop(ts[5].t), x.loop);
	ck_assert_msg(tlsio_timer_due_in(ts[5].t) > 30, "due_in %" PRId64, tlsio_timer_due_in(ts[5].t));
	tlsio_timer_ref(ts[5].t, 1); /* the guard keeps the run going until it fired */
	lx_run(&x);
	g.order[g.n] = '\0';
	tu_log("[%s] fired: %s in %" PRIu64 " ms", g_lbackend, g.order, tu_now_ms() - g.started);
	ck_assert_str_eq(g.order, "abcdez");
	for (size_t i = 0; i < g.n; i++)
		ck_assert_msg(g.at[i] >= g.started + g.due[i], "timer %c fired %" PRIu64 " ms after the "
		              "start, before its %u ms", g.order[i], g.at[i] - g.started, g.due[i]);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(tlsio_timer_active(ts[i].t), 0);
	tlsio_timer_free(ts[0].t);
	ts[0].t = NULL;
	lx_close(&x); /* frees the other five */
	ASSERT_NO_FAILURE();
}
END_TEST

struct again {
	tlsio_timer *keep, *poke;
	int pokes, fired;
	uint64_t last_poke, fired_at;
};

static void keep_cb(tlsio_timer *t, void *user)
{
	struct again *a = user;
	a->fired_at = tu_now_ms();
	a->fired++;
	tlsio_timer_stop(t);
}

static void poke_cb(tlsio_timer *t, void *user)
{
	struct again *a = user;
	a->last_poke = tu_now_ms();
	ck_assert_int_eq(tlsio_timer_again(a->keep), 0);
	if (++a->pokes == 5)
		tlsio_timer_stop(t);
}

START_TEST(test_timer_repeat_restart_again)
{
	struct lx x;
	struct tlog g = {0};
	struct tt rep = {.log = &g, .label = 'r', .timeout = 5, .stop_after = 4},
	          self = {.log = &g, .label = 's', .timeout = 0, .free_after = 3, .restart0 = 3};
	struct again a = {0};
	BEGIN();
	lx_open(&x);
	/* a repeating timer stopped from its 4th callback; one restarted with timeout 0 from its
	 * own callback twice, then freed from its 3rd */
	ck_assert_int_eq(tlsio_timer_new(x.loop, tt_cb, &rep, &rep.t), 0);
	ck_assert_int_eq(tlsio_timer_new(x.loop, tt_cb, &self, &self.t), 0);
	ck_assert_int_eq(tlsio_timer_start(rep.t, 5, 5), 0);
	tlsio_timer_ref(rep.t, 1);
	ck_assert_int_eq(tlsio_timer_start(self.t, 0, 0), 0);
	tlsio_timer_ref(self.t, 1);
	/* a timer restarted with timeout 0 from its callback fires once per turn, not in a loop
	 * (an ev_run/uv_run iteration of an application's loop is up to three passes: tlsio-ev.h,
	 * tlsio-uv.h) */
	for (int turn = 1; turn <= 3; turn++) {
		int before = self.count, most = g_app_ev ? 3 : 1;
		lx_turn(&x, 0);
		ck_assert_msg(self.count - before <= most, "turn %d ran the restarted timer %d times",
		              turn, self.count - before);
	}
	lx_run(&x);
	ck_assert_int_eq(self.count, 3);
	ck_assert_ptr_null(self.t);
	ck_assert_int_eq(rep.count, 4);
	ck_assert_int_eq(tlsio_timer_active(rep.t), 0);

	/* again(): a keep-alive that moves on activity fires only repeat ms after the last poke */
	ck_assert_int_eq(tlsio_timer_new(x.loop, keep_cb, &a, &a.keep), 0);
	ck_assert_int_eq(tlsio_timer_new(x.loop, poke_cb, &a, &a.poke), 0);
	ck_assert_int_eq(tlsio_timer_again(a.keep), -EINVAL); /* no repeat yet */
	ck_assert_int_eq(tlsio_timer_start(a.keep, 40, 40), 0);
	ck_assert_int_eq(tlsio_timer_start(a.poke, 10, 10), 0);
	tlsio_timer_ref(a.keep, 1);
	lx_run(&x);
	tu_log("[%s] keep-alive fired %" PRIu64 " ms after the 5th poke", g_lbackend,
	       a.fired_at - a.last_poke);
	ck_assert_int_eq(a.pokes, 5);
	ck_assert_int_eq(a.fired, 1);
	ck_assert_msg(a.fired_at >= a.last_poke + 40, "fired %" PRIu64 " ms after the last again()",
	              a.fired_at - a.last_poke);
	lx_close(&x);
	ASSERT_NO_FAILURE();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* tasks */

#define POSTERS 4
#define POSTS 5000

struct tasks {
	tlsio_loop *loop;
	pthread_t loop_thread;
	uint32_t next[POSTERS];
	int got, bad_order, off_thread, aborted, embedded_runs;
	tlsio_task emb[POSTERS];
	char seq[16];
	size_t nseq;
};

static struct tasks *g_tasks;

static void counted_fn(tlsio_loop *loop, void *arg, int status)
{
	struct tasks *t = g_tasks;
	uintptr_t v = (uintptr_t)arg;
	unsigned who = (unsigned)(v >> 24), seq = (unsigned)(v & 0xFFFFFF);
	ck_assert_ptr_eq(loop, t->loop);
	if (status != 0)
		t->aborted++;
	if (!pthread_equal(pthread_self(), t->loop_thread))
		t->off_thread++;
	if (t->next[who] != seq)
		t->bad_order++;
	t->next[who] = seq + 1;
	t->got++;
}

static void emb_fn(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct tasks *t = task->data;
	ck_assert_ptr_eq(loop, t->loop);
	ck_assert_int_eq(status, 0);
	if (!pthread_equal(pthread_self(), t->loop_thread))
		t->off_thread++;
	t->embedded_runs++;
}

static void *poster_main(void *arg)
{
	struct tasks *t = g_tasks;
	unsigned who = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < POSTS; i++) {
		while (tlsio_loop_post(t->loop, counted_fn, (void *)(uintptr_t)((who << 24) | i)) != 0)
			tu_sleep_ms(1);
		if (i == POSTS / 2)
			(void)tlsio_loop_post_task(t->loop, &t->emb[who], emb_fn);
	}
	return NULL;
}

static void seq_fn(tlsio_loop *loop, void *arg, int status)
{
	struct tasks *t = g_tasks;
	(void)loop;
	if (t->nseq < sizeof(t->seq) - 1)
		t->seq[t->nseq++] = status == 0 ? (char)(uintptr_t)arg : (char)((uintptr_t)arg - 32);
}

static void seq_task(tlsio_loop *loop, tlsio_task *task, int status)
{
	seq_fn(loop, task->data, status);
}

static tlsio_task g_sig_task;
static tlsio_loop *_Atomic g_sig_loop;
static int g_sig_post_rc = 1;

static void on_usr1(int signo)
{
	(void)signo;
	g_sig_post_rc = tlsio_loop_post_task(atomic_load(&g_sig_loop), &g_sig_task, seq_task);
}

START_TEST(test_tasks_from_threads)
{
	struct lx x;
	struct tasks t;
	pthread_t th[POSTERS];
	tlsio_task one = {.data = (void *)(uintptr_t)'b'}, two = {.data = (void *)(uintptr_t)'e'};
	struct sigaction sa;
	uint64_t t0;
	BEGIN();
	memset(&t, 0, sizeof(t));
	g_tasks = &t;
	lx_open(&x);
	t.loop = x.loop;
	t.loop_thread = pthread_self();
	for (int i = 0; i < POSTERS; i++)
		t.emb[i].data = &t;
	t0 = tu_now_ms();
	lx_hold(&x, 1); /* posts from other threads take no reference on a uv loop */
	for (uintptr_t i = 0; i < POSTERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, poster_main, (void *)i), 0);
	while (t.got < POSTERS * POSTS && tu_now_ms() < t0 + 60000 && !tu_aborted())
		lx_turn(&x, 0);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	lx_turn(&x, 1); /* the embedded ones posted last */
	lx_hold(&x, 0);
	tu_log("[%s] %d tasks from %d threads in %" PRIu64 " ms", g_lbackend, t.got, POSTERS,
	       tu_now_ms() - t0);
	ck_assert_int_eq(t.got, POSTERS * POSTS);
	ck_assert_int_eq(t.bad_order, 0);
	ck_assert_int_eq(t.off_thread, 0);
	ck_assert_int_eq(t.aborted, 0);
	ck_assert_int_eq(t.embedded_runs, POSTERS);

	/* one thread's posts of both kinds run in posting order; a pending embedded task coalesces */
	ck_assert_int_eq(tlsio_loop_post(x.loop, seq_fn, (void *)(uintptr_t)'a'), 0);
	ck_assert_int_eq(tlsio_loop_post_task(x.loop, &one, seq_task), 0);
	ck_assert_int_eq(tlsio_loop_post_task(x.loop, &one, seq_task), -EALREADY);
	ck_assert_int_eq(tlsio_loop_post(x.loop, seq_fn, (void *)(uintptr_t)'c'), 0);
	ck_assert_int_eq(tlsio_loop_post(x.loop, seq_fn, (void *)(uintptr_t)'d'), 0);
	ck_assert_int_eq(tlsio_loop_post_task(x.loop, &two, seq_task), 0);
	ck_assert_int_eq(tlsio_loop_post(x.loop, NULL, NULL), -EINVAL);
	lx_run(&x); /* pending tasks keep a run going until they ran */
	t.seq[t.nseq] = '\0';
	ck_assert_str_eq(t.seq, "abcde");

	/* from a signal handler (async-signal-safe) */
	atomic_store(&g_sig_loop, x.loop);
	g_sig_task.data = (void *)(uintptr_t)'f';
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	raise(SIGUSR1);
	ck_assert_int_eq(g_sig_post_rc, 0);
	if (x.uvl != NULL) {
		/* a signal handler's post takes no reference on a uv loop: it runs in the next pass
		 * of a loop the application keeps going */
		lx_hold(&x, 1);
		for (int i = 0; i < 100 && t.nseq < 6; i++)
			lx_turn(&x, 1);
		lx_hold(&x, 0);
	}
	lx_run(&x);
	t.seq[t.nseq] = '\0';
	ck_assert_str_eq(t.seq, "abcdef");
	signal(SIGUSR1, SIG_DFL);

	/* pending at free: they run there, in order, with TLSIO_E_ABORTED (upper case), no leak */
	ck_assert_int_eq(tlsio_loop_post(x.loop, seq_fn, (void *)(uintptr_t)'g'), 0);
	ck_assert_int_eq(tlsio_loop_post_task(x.loop, &one, seq_task), 0);
	one.data = (void *)(uintptr_t)'h';
	ck_assert_int_eq(tlsio_loop_post(x.loop, seq_fn, (void *)(uintptr_t)'i'), 0);
	lx_close(&x);
	t.seq[t.nseq] = '\0';
	ck_assert_str_eq(t.seq, "abcdefGHI");
	g_tasks = NULL;
	ASSERT_NO_FAILURE();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* watches */

struct wl {
	int calls;
	unsigned last, all;
	int free_self;
	tlsio_watch *w;
};

static void wl_cb(tlsio_watch *w, int fd, unsigned revents, void *user)
{
	struct wl *l = user;
	ck_assert_ptr_eq(w, l->w);
	ck_assert_int_eq(fd, tlsio_watch_fd(w));
	l->calls++;
	l->last = revents;
	l->all |= revents;
	if (l->free_self) {
		tlsio_watch_free(w);
		l->w = NULL;
	}
}

static void nowait_turns(struct lx *x, int n)
{
	for (int i = 0; i < n; i++)
		lx_turn(x, 1);
}

struct late_writer {
	int fd;
	unsigned ms;
};

static void *late_write_main(void *arg)
{
	struct late_writer *lw = arg;
	tu_sleep_ms(lw->ms);
	ck_assert_int_eq(write(lw->fd, "L", 1), 1);
	return NULL;
}

START_TEST(test_watch_level_triggered)
{
	struct lx x;
	struct wl r = {0}, wr = {0}, f = {0};
	int p[2], calls, big = 0;
	char buf[4096];
	pthread_t th;
	struct late_writer lw;
	char path[] = "/tmp/tlsio-watch-XXXXXX";
	int file, rc;
	BEGIN();
	lx_open(&x);
	lx_hold(&x, 1); /* unreferenced watches: the application's loop goes round for its own sake */
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(tlsio_watch_new(x.loop, p[0], 0x8, wl_cb, &r, &r.w), -EINVAL);
	ck_assert_int_eq(tlsio_watch_new(x.loop, p[0], TLSIO_READABLE, wl_cb, &r, &r.w), 0);
	ck_assert_uint_eq(tlsio_watch_events(r.w), TLSIO_READABLE);
	ck_assert_ptr_eq(tlsio_watch_user(r.w), &r);
	ck_assert_ptr_eq(tlsio_watch_loop(r.w), x.loop);
	nowait_turns(&x, 2);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	nowait_turns(&x, 1);
	if (r.calls == 0)
		lx_turn(&x, 0); /* a backend may see it one turn later; never more */
	ck_assert_int_eq(r.calls, 1);
	ck_assert_uint_eq(r.last, TLSIO_READABLE);
	/* level-triggered: not consumed, so reported again in the next turns */
	nowait_turns(&x, 1);
	if (r.calls == 1)
		lx_turn(&x, 0);
	ck_assert_msg(r.calls >= 2, "the unread byte was reported once only (edge-triggered)");
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 1);
	nowait_turns(&x, 3);
	calls = r.calls;
	nowait_turns(&x, 3);
	ck_assert_int_eq(r.calls, calls);
	/* paused: nothing, even with data; resumed: reported */
	ck_assert_int_eq(tlsio_watch_set(r.w, 0), 0);
	ck_assert_int_eq(write(p[1], "y", 1), 1);
	nowait_turns(&x, 3);
	ck_assert_int_eq(r.calls, calls);
	ck_assert_int_eq(tlsio_watch_set(r.w, TLSIO_READABLE), 0);
	lx_turn(&x, 0);
	ck_assert_int_eq(r.calls, calls + 1);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 1);

	/* writable: reported while there is room, not once the pipe is full, again once drained */
	ck_assert_int_eq(tlsio_watch_new(x.loop, p[1], TLSIO_WRITABLE, wl_cb, &wr, &wr.w), 0);
	lx_turn(&x, 0);
	ck_assert_int_ge(wr.calls, 1);
	ck_assert_uint_eq(wr.last, TLSIO_WRITABLE);
	memset(buf, 'z', sizeof(buf));
	while (write(p[1], buf, sizeof(buf)) > 0)
		big++;
	while (write(p[1], buf, 1) > 0)
		;
	nowait_turns(&x, 2); /* a report from before the pipe filled may still be on its way */
	calls = wr.calls;
	nowait_turns(&x, 3);
	ck_assert_msg(wr.calls == calls, "writable reported on a full pipe");
	r.calls = 0;
	while (read(p[0], buf, sizeof(buf)) > 0)
		;
	lx_turn(&x, 0);
	ck_assert_int_gt(wr.calls, calls);
	tlsio_watch_free(wr.w);
	wr.w = NULL;

	/* a referenced watch keeps the run going until its callback freed it */
	r.free_self = 1;
	r.calls = 0;
	tlsio_watch_ref(r.w, 1);
	lw.fd = p[1];
	lw.ms = 30;
	ck_assert_int_eq(pthread_create(&th, NULL, late_write_main, &lw), 0);
	lx_hold(&x, 0); /* the watch's reference alone holds the run */
	lx_run(&x);
	lx_hold(&x, 1);
	pthread_join(th, NULL);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_ptr_null(r.w);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 1);

	/* the writer hangs up: TLSIO_HANGUP (a read gives EOF) */
	r.free_self = 0;
	r.calls = 0;
	r.all = 0;
	ck_assert_int_eq(tlsio_watch_new(x.loop, p[0], TLSIO_READABLE, wl_cb, &r, &r.w), 0);
	close(p[1]);
	lx_turn(&x, 0);
	ck_assert_int_ge(r.calls, 1);
	ck_assert_msg((r.all & TLSIO_HANGUP) && !(r.all & TLSIO_WRITABLE), "after the hang-up: revents 0x%x",
	              r.all);
	tlsio_watch_free(r.w);
	close(p[0]);

	/* a regular file: epoll cannot wait on it (-EPERM), nor libuv, which waits with epoll and
	 * says so in uv_poll_init; the others report it ready */
	file = mkstemp(path);
	ck_assert_int_ge(file, 0);
	unlink(path);
	rc = tlsio_watch_new(x.loop, file, TLSIO_READABLE, wl_cb, &f, &f.w);
	if (strcmp(tlsio_backend_name(tlsio_loop_backend(x.loop)), "epoll") == 0 ||
	    strcmp(tlsio_backend_name(tlsio_loop_backend(x.loop)), "libuv") == 0) {
		ck_assert_int_eq(rc, -EPERM);
	} else {
		ck_assert_int_eq(rc, 0);
		lx_turn(&x, 0);
		ck_assert_int_ge(f.calls, 1);
	}
	lx_close(&x); /* frees f's watch, if any; the file stays ours */
	ck_assert_int_eq(close(file), 0);
	tu_log("[%s] watches: pipe filled with %d x 4 KiB", g_lbackend, big);
	ASSERT_NO_FAILURE();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the graceful drain */

#define DRAIN_CONNS 6
#define DRAIN_BYTES (256 * 1024)
#define DRAIN_STUCK_BYTES (8 * 1024 * 1024)

struct dcli {
	struct drain *d;
	tlsio_conn *c;
	uint64_t rx;
	size_t bad;
	int closed, status, stuck;
};

struct drain {
	struct lx srv;
	tlsio_listener *l;
	tlsio_tls_config *scfg, *ccfg;
	char addr[64];
	atomic_int ready, handshakes, clients_done;
	int stuck_variant;
	/* server side */
	int srv_closed, srv_aborted_status, srv_clean;
	size_t drain_aborted;
	int drain_done, drain_calls, connect_rc, listen_rc, again_rc, escalated;
	tlsio_timer *guard, *second;
	tlsio_loop *_Atomic cli_loop;
	tlsio_task sigterm;
	size_t count_at_drain;
	struct dcli cli[DRAIN_CONNS];
};

static void srv_hs(tlsio_conn *c, void *user)
{
	struct drain *d = user;
	size_t n = d->stuck_variant && atomic_load(&d->handshakes) == 0 ? DRAIN_STUCK_BYTES : DRAIN_BYTES;
	uint8_t *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	tu_pattern(0xD4A1, 0, buf, n);
	ck_assert_int_eq(tlsio_send(c, buf, n), 0);
	free(buf);
	atomic_fetch_add(&d->handshakes, 1);
}

static void srv_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct drain *d = user;
	(void)c;
	(void)alert;
	d->srv_closed++;
	if (status == TLSIO_E_ABORTED)
		d->srv_aborted_status++;
	else if (status == 0)
		d->srv_clean++;
}

static const tlsio_callbacks srv_cbs = {.struct_size = sizeof(tlsio_callbacks),
                                        .on_handshake = srv_hs, .on_close = srv_close};

static void guard_fired(tlsio_timer *t, void *user)
{
	(void)t;
	(void)user;
	TU_FAIL("the 10-minute guard timer fired");
}

/* On the clients' loop, once the server drained: the client that stopped reading reads again,
 * to see its end. */
static void resume_stuck(tlsio_loop *loop, void *arg, int status)
{
	struct dcli *k = arg;
	(void)loop;
	if (status == 0 && !k->closed)
		tlsio_read_start(k->c);
}

static void srv_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	(void)l;
	(void)c;
	(void)user;
}

static void on_drained(tlsio_loop *loop, size_t aborted, void *user)
{
	struct drain *d = user;
	ck_assert_ptr_eq(loop, d->srv.loop);
	d->drain_aborted = aborted;
	d->drain_calls++;
	d->drain_done = 1;
	ck_assert_uint_eq(tlsio_loop_conn_count(loop), 0);
}

/* A second SIGTERM, 200 ms after the first: abort what is left now. */
static void second_sigterm(tlsio_timer *t, void *user)
{
	struct drain *d = user;
	ck_assert_int_eq(tlsio_loop_drain(tlsio_timer_loop(t), 0, NULL, NULL), 0);
	d->escalated = 1;
}

/* What a SIGTERM handler's task does. */
static void sigterm_task(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct drain *d = task->data;
	tlsio_conn *c = NULL;
	tlsio_listener *l = NULL;
	ck_assert_ptr_eq(loop, d->srv.loop);
	ck_assert_int_eq(status, 0);
	d->count_at_drain = tlsio_loop_conn_count(d->srv.loop);
	ck_assert_int_eq(tlsio_loop_drain(d->srv.loop, d->stuck_variant == 1 ? 300 : 20000, on_drained, d), 0);
	if (d->stuck_variant == 2) {
		ck_assert_int_eq(tlsio_timer_new(d->srv.loop, second_sigterm, d, &d->second), 0);
		ck_assert_int_eq(tlsio_timer_start(d->second, 200, 0), 0);
	}
	/* a second call with a later deadline changes nothing (the earlier one holds) */
	d->again_rc = tlsio_loop_drain(d->srv.loop, 60000, NULL, NULL);
	d->connect_rc = tlsio_connect(d->srv.loop, d->addr, d->ccfg, NULL, &c);
	d->listen_rc = tlsio_listen(d->srv.loop, "127.0.0.1:0", d->scfg, NULL, srv_accept, d, &l);
}

static void cli_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct dcli *k = user;
	(void)c;
	k->bad += tu_pattern_check(0xD4A1, k->rx, data, len) != len;
	k->rx += len;
}

static void cli_hs(tlsio_conn *c, void *user)
{
	struct dcli *k = user;
	if (k->stuck)
		tlsio_read_stop(c); /* the one that never reads what it is sent */
}

static void cli_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct dcli *k = user;
	(void)c;
	(void)alert;
	k->closed = 1;
	k->status = status;
	atomic_fetch_add(&k->d->clients_done, 1);
}

static const tlsio_callbacks cli_cbs = {.struct_size = sizeof(tlsio_callbacks),
                                        .on_handshake = cli_hs, .on_data = cli_data,
                                        .on_close = cli_close};

/* The clients: a loop of their own on another thread (epoll where there is one). */
static void *clients_main(void *arg)
{
	struct drain *d = arg;
	const tlsio_backend *b = tlsio_backend_by_name("epoll");
	tlsio_loop *loop;
	uint64_t end = tu_now_ms() + 60000;
	if (b == NULL || tlsio_backend_probe(b, NULL) < 0)
		b = tlsio_backend_by_name("blocking");
	while (!atomic_load(&d->ready))
		tu_sleep_ms(1);
	ck_assert_int_eq(tlsio_loop_new(&loop, b), 0);
	atomic_store(&d->cli_loop, loop);
	for (int i = 0; i < DRAIN_CONNS; i++) {
		tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
		d->cli[i].d = d;
		d->cli[i].stuck = d->stuck_variant != 0 && i == 0;
		o.cb = &cli_cbs;
		o.user = &d->cli[i];
		o.server_name = "localhost";
		if (d->cli[i].stuck)
			o.rcvbuf = 4096;
		ck_assert_int_eq(tlsio_connect(loop, d->addr, d->ccfg, &o, &d->cli[i].c), 0);
		/* one at a time: the server sends the big response to the first one it accepts */
		while (atomic_load(&d->handshakes) <= i && tu_now_ms() < end)
			(void)tlsio_loop_run(loop, TLSIO_RUN_ONCE);
	}
	while (atomic_load(&d->clients_done) < DRAIN_CONNS && tu_now_ms() < end && !tu_aborted())
		(void)tlsio_loop_run(loop, TLSIO_RUN_ONCE);
	atomic_store(&d->cli_loop, NULL);
	atomic_store(&d->ready, 2);
	tlsio_loop_free(loop);
	return NULL;
}

static void drain_case(int stuck)
{
	struct drain *d = calloc(1, sizeof(*d));
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	pthread_t th;
	uint64_t t0;
	ck_assert_ptr_nonnull(d);
	d->stuck_variant = stuck;
	so.cert_file = tu_cert("server.pem");
	so.key_file = tu_cert("server.key");
	co.ca_file = tu_cert("ca.pem");
	ck_assert_int_eq(tlsio_tls_config_new(&d->scfg, 1, &so, NULL), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&d->ccfg, 0, &co, NULL), 0);
	lx_open(&d->srv);
	o.cb = &srv_cbs;
	o.user = d;
	if (stuck)
		o.sndbuf = 4096;
	ck_assert_int_eq(tlsio_listen(d->srv.loop, "127.0.0.1:0", d->scfg, &o, srv_accept, d, &d->l), 0);
	ck_assert_int_eq(tlsio_listener_addr(d->l, d->addr, sizeof(d->addr)), 0);
	/* a referenced timer far away: the drain ends the run whatever is left */
	ck_assert_int_eq(tlsio_timer_new(d->srv.loop, guard_fired, NULL, &d->guard), 0);
	ck_assert_int_eq(tlsio_timer_start(d->guard, 600000, 0), 0);
	tlsio_timer_ref(d->guard, 1);
	atomic_store(&d->ready, 1);
	ck_assert_int_eq(pthread_create(&th, NULL, clients_main, d), 0);
	t0 = tu_now_ms();
	while (atomic_load(&d->handshakes) < DRAIN_CONNS && tu_now_ms() < t0 + 30000)
		lx_turn(&d->srv, 0);
	ck_assert_int_eq(atomic_load(&d->handshakes), DRAIN_CONNS);
	/* as a signal handler would: post the task, and let the run end by itself */
	d->sigterm.data = d;
	ck_assert_int_eq(tlsio_loop_post_task(d->srv.loop, &d->sigterm, sigterm_task), 0);
	t0 = tu_now_ms();
	lx_run(&d->srv);
	tu_log("[%s] drain of %zu connections%s: %" PRIu64 " ms, %zu aborted", g_lbackend,
	       d->count_at_drain, stuck == 1 ? " (one not reading)" : stuck == 2 ? " (one not reading, second SIGTERM at 200 ms)" : "", tu_now_ms() - t0, d->drain_aborted);
	if (stuck) {
		/* the clients' loop is still running: the task reaches it from this thread */
		while (atomic_load(&d->ready) != 2) {
			tlsio_loop *cl = atomic_load(&d->cli_loop);
			if (cl != NULL && tlsio_loop_post(cl, resume_stuck, &d->cli[0]) == 0)
				break;
			tu_sleep_ms(1);
		}
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(d->drain_done, 1);
	ck_assert_int_eq(d->drain_calls, 1);
	ck_assert_uint_eq(d->count_at_drain, DRAIN_CONNS);
	ck_assert_int_eq(d->again_rc, 0);
	ck_assert_int_eq(d->connect_rc, -ESHUTDOWN);
	ck_assert_int_eq(d->listen_rc, -ESHUTDOWN);
	ck_assert_int_eq(d->srv_closed, DRAIN_CONNS);
	ck_assert_uint_eq(tlsio_loop_conn_count(d->srv.loop), 0);
	ck_assert_int_eq(tlsio_timer_active(d->guard), 1);
	ck_assert_int_eq(tu_tcp_connect(d->addr) >= 0 ? 1 : 0, 0); /* the listener is closed */
	for (int i = 0; i < DRAIN_CONNS; i++) {
		struct dcli *k = &d->cli[i];
		ck_assert_msg(k->closed, "client %d never closed", i);
		if (k->stuck) {
			ck_assert_msg(k->rx < DRAIN_STUCK_BYTES, "the stuck client got everything");
			continue;
		}
		ck_assert_msg(k->status == 0 && k->rx == DRAIN_BYTES && k->bad == 0,
		              "client %d: status %d (%s), %" PRIu64 " of %d bytes, %zu bad chunks", i,
		              k->status, tlsio_strerror(k->status), k->rx, DRAIN_BYTES, k->bad);
	}
	ck_assert_int_eq(d->escalated, stuck == 2);
	ck_assert_uint_eq(d->drain_aborted, stuck ? 1 : 0);
	ck_assert_int_eq(d->srv_aborted_status, stuck ? 1 : 0);
	ck_assert_int_eq(d->srv_clean, stuck ? DRAIN_CONNS - 1 : DRAIN_CONNS);
	/* usable again after the drain */
	ck_assert_int_eq(tlsio_listen(d->srv.loop, "127.0.0.1:0", d->scfg, NULL, srv_accept, d, &d->l), 0);
	lx_close(&d->srv);
	tlsio_tls_config_free(d->scfg);
	tlsio_tls_config_free(d->ccfg);
	free(d);
	ASSERT_NO_FAILURE();
}

START_TEST(test_drain_graceful)
{
	BEGIN();
	drain_case(0);
}
END_TEST

START_TEST(test_drain_deadline_aborts_the_rest)
{
	BEGIN();
	drain_case(1);
}
END_TEST

START_TEST(test_drain_escalates)
{
	BEGIN();
	drain_case(2);
}
END_TEST

START_TEST(test_drain_idle_loop)
{
	struct lx x;
	struct drain d;
	BEGIN();
	memset(&d, 0, sizeof(d));
	lx_open(&x);
	d.srv = x;
	/* nothing to close: the drain ends at once (the next pass), and the loop goes on after */
	ck_assert_int_eq(tlsio_loop_drain(x.loop, 100, on_drained, &d), 0);
	lx_turn(&x, 1);
	ck_assert_int_eq(d.drain_done, 1);
	ck_assert_uint_eq(d.drain_aborted, 0);
	ck_assert_int_eq(tlsio_loop_drain(x.loop, 0, NULL, NULL), 0);
	lx_turn(&x, 1);
	lx_close(&x);
	ASSERT_NO_FAILURE();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* a close callback that schedules another connection and then ends it */

struct pairs {
	tlsio_conn *srv[2], *cli[2];
	int handshakes, closed, srv_status[2];
};

static void pr_handshake(tlsio_conn *c, void *user)
{
	struct pairs *p = user;
	(void)c;
	p->handshakes++;
}

static void pr_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct pairs *p = user;
	(void)alert;
	p->closed++;
	for (int i = 0; i < 2; i++)
		if (c == p->srv[i])
			p->srv_status[i] = status;
	/* on A's end: queue on B (B is scheduled for a pump), then end B in the same callback: B is
	 * finalized while it is still on the pending list */
	if (c == p->srv[0] && p->srv[1] != NULL) {
		ck_assert_int_eq(tlsio_send(p->srv[1], "late", 4), 0);
		tlsio_abort(p->srv[1]);
	}
}

static const tlsio_callbacks pr_cbs = {.struct_size = sizeof(tlsio_callbacks),
                                       .on_handshake = pr_handshake, .on_close = pr_close};

START_TEST(test_close_callback_schedules_then_aborts)
{
	struct lx x;
	struct pairs p = {0};
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	tlsio_tls_config *scfg, *ccfg;
	uint64_t end;
	BEGIN();
	so.cert_file = tu_cert("server.pem");
	so.key_file = tu_cert("server.key");
	co.ca_file = tu_cert("ca.pem");
	ck_assert_int_eq(tlsio_tls_config_new(&scfg, 1, &so, NULL), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&ccfg, 0, &co, NULL), 0);
	lx_open(&x);
	o.cb = &pr_cbs;
	o.user = &p;
	o.server_name = "localhost";
	for (int i = 0; i < 2; i++) {
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ck_assert_int_eq(tlsio_conn_adopt(x.loop, sv[0], 1, scfg, &o, &p.srv[i]), 0);
		ck_assert_int_eq(tlsio_conn_adopt(x.loop, sv[1], 0, ccfg, &o, &p.cli[i]), 0);
	}
	end = tu_now_ms() + 20000;
	while (p.handshakes < 4 && tu_now_ms() < end)
		lx_turn(&x, 0);
	ck_assert_int_eq(p.handshakes, 4);
	tlsio_abort(p.srv[0]);
	while (p.closed < 4 && tu_now_ms() < end)
		lx_turn(&x, 0);
	ck_assert_int_eq(p.closed, 4);
	ck_assert_int_eq(p.srv_status[0], TLSIO_E_ABORTED);
	ck_assert_int_eq(p.srv_status[1], TLSIO_E_ABORTED);
	ck_assert_uint_eq(tlsio_loop_conn_count(x.loop), 0);
	lx_close(&x);
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
	ASSERT_NO_FAILURE();
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static void fx_setup(void)
{
	tu_reset_failures();
}

static void add(Suite *s, const char *name, const TTest *t, int timeout, const char *tags)
{
	TCase *tc = tcase_create(name);
	if (tags != NULL)
		tcase_set_tags(tc, tags);
	tcase_set_timeout(tc, timeout);
	tcase_add_checked_fixture(tc, fx_setup, NULL);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

/* ---------------------------------------------------------------------------------------- */
/* a connection being resolved and dialled */

/* A plain server in a thread of its own that greets at once and waits for the client's end. */
static void *greet_once(void *arg)
{
	int fd = accept(*(int *)arg, NULL, NULL);
	char buf[64];
	if (fd < 0)
		return NULL;
	if (write(fd, "220 hello\r\n", 11) == 11)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	close(fd);
	return NULL;
}

struct dialled {
	int handshakes, closed, status;
	size_t rx;
};

static void dl_data(tlsio_conn *c, const uint8_t *d, size_t n, void *user)
{
	struct dialled *x = user;
	(void)d;
	x->rx += n;
	if (x->rx >= 11)
		tlsio_close(c);
}

static void dl_handshake(tlsio_conn *c, void *user)
{
	(void)c;
	((struct dialled *)user)->handshakes++;
}

static void dl_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct dialled *x = user;
	(void)c;
	(void)alert;
	x->closed = 1;
	x->status = status;
}

/* A plain client connecting by name to a server that speaks first: the whole run (on an
 * application's ev loop: ev_run) lasts until it ended, through the lookup on its thread, the
 * dialling (no backend has the connection yet) and the reading of the greeting (the client
 * has nothing to send that would start it). */
START_TEST(test_dial_by_name_keeps_the_run)
{
	static const tlsio_callbacks cb = {.struct_size = sizeof(tlsio_callbacks),
	                                   .on_handshake = dl_handshake, .on_data = dl_data,
	                                   .on_close = dl_close};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	struct dialled x = {0};
	struct lx lx;
	tlsio_conn *c = NULL;
	pthread_t th;
	char a[64];
	int lfd;
	BEGIN();
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, greet_once, &lfd), 0);
	lx_open(&lx);
	snprintf(a, sizeof(a), "localhost:%d", ntohs(sa.sin_port));
	o.flags = TLSIO_CONN_PLAIN;
	o.cb = &cb;
	o.user = &x;
	ck_assert_int_eq(tlsio_connect(lx.loop, a, NULL, &o, &c), 0);
	lx_run(&lx);
	tu_log("[%s] %s by name: the run ended with the connection: closed %d (%s), greeting %zu bytes",
	       g_lbackend, a, x.closed, tlsio_strerror(x.status), x.rx);
	ck_assert_msg(x.closed, "the run returned while the connection was being dialled or read");
	ck_assert_int_eq(x.status, 0);
	ck_assert_int_eq(x.handshakes, 1);
	ck_assert_int_eq(x.rx, 11);
	lx_close(&lx);
	pthread_join(th, NULL);
	close(lfd);
}
END_TEST

void contract_loop_cases(Suite *s, const char *backend, int app_ev)
{
	g_lbackend = backend;
	g_app_ev = app_ev;
	add(s, "test_timers_in_order", test_timers_in_order, 30, NULL);
	add(s, "test_timer_repeat_restart_again", test_timer_repeat_restart_again, 30, NULL);
	add(s, "test_tasks_from_threads", test_tasks_from_threads, 90, NULL);
	add(s, "test_watch_level_triggered", test_watch_level_triggered, 30, NULL);
	add(s, "test_drain_graceful", test_drain_graceful, 90, NULL);
	/* a server on the blocking backend blocks in the flush to a peer that does not read (its
	 * kernel notes): the drain's deadline is an event-loop matter, like test_never_block */
	add(s, "test_drain_deadline_aborts_the_rest", test_drain_deadline_aborts_the_rest, 90, "event");
	add(s, "test_drain_escalates", test_drain_escalates, 90, "event");
	add(s, "test_drain_idle_loop", test_drain_idle_loop, 30, NULL);
	add(s, "test_close_callback_schedules_then_aborts", test_close_callback_schedules_then_aborts,
	    30, NULL);
	add(s, "test_dial_by_name_keeps_the_run", test_dial_by_name_keeps_the_run, 30, NULL);
}
