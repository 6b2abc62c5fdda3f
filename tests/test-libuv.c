/* SPDX-License-Identifier: MIT */
/* The libuv backend's two ways of running (api/tlsio-uv.h), as Check suite "libuv":
 * - on a uv_loop_t the application owns: the test itself calls uv_run(), never
 *   tlsio_loop_run(), and a real TLS echo (both ends on that one loop, one thread) must come
 *   back with the same SHA-256 while the application's own uv timer keeps firing; deadlines must
 *   fire from the library's uv timer; uv_run(uvl, UV_RUN_DEFAULT) must return by itself once the
 *   last on_close ran, also when the only thing alive is a referenced tlsio timer started
 *   before the first uv_run(); after tlsio_loop_free() and one uv_run(), not one handle of the
 *   library is left (uv_walk) and uv_loop_close() returns 0;
 * - on the library's own loop: tlsio_loop_run() like any backend (the contract suite covers it
 *   in depth: contract/libuv), with tlsio_loop_uv() and tlsio_loop_info() telling which loop;
 * and in both modes tlsio_loop_wake() from another thread ends a blocked wait. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app-echo.h"
#include "testutil.h"
#include "tlsio-uv.h"
#include "tlsio.h"


#define ASSERT_NO_FAILURE() ck_assert_msg(tu_failed() == 0, "%s", tu_failure())

static void fx_setup(void)
{
	tu_reset_failures();
}

/* A watchdog on the application's loop: a hang becomes a failure, not a Check timeout. It is
 * uv_unref'd so that it does not keep uv_run going by itself. */
struct watchdog {
	uv_timer_t t;
	int fired;
};

static void watchdog_cb(uv_timer_t *t)
{
	struct watchdog *wd = (struct watchdog *)t;
	wd->fired = 1;
	TU_FAIL("watchdog: uv_run still running");
	uv_stop(t->loop);
}

static void watchdog_start(uv_loop_t *uvl, struct watchdog *wd, uint64_t ms)
{
	memset(wd, 0, sizeof(*wd));
	ck_assert_int_eq(uv_timer_init(uvl, &wd->t), 0);
	ck_assert_int_eq(uv_timer_start(&wd->t, watchdog_cb, ms, 0), 0);
	uv_unref((uv_handle_t *)&wd->t);
}

static void watchdog_stop(struct watchdog *wd)
{
	uv_close((uv_handle_t *)&wd->t, NULL);
}

/* The handles on @p uvl that are not closing; each one's type into @p what. */
struct walk {
	int n;
	char what[256];
};

static void walk_cb(uv_handle_t *h, void *arg)
{
	struct walk *w = arg;
	size_t o = strlen(w->what);
	if (uv_is_closing(h))
		return;
	w->n++;
	snprintf(w->what + o, sizeof(w->what) - o, "%s%s%s", o ? ", " : "", uv_handle_type_name(h->type),
	         uv_has_ref(h) ? " (referenced)" : "");
}

static int open_handles(uv_loop_t *uvl, char *what, size_t len)
{
	struct walk w = {0};
	uv_walk(uvl, walk_cb, &w);
	snprintf(what, len, "%s", w.what);
	return w.n;
}

/* After tlsio_loop_free(): one uv_run finishes the library's closes, then nothing of it is
 * left and the loop closes. */
static void assert_loop_clean(uv_loop_t *uvl)
{
	char what[256];
	int n;
	ck_assert_int_eq(uv_run(uvl, UV_RUN_DEFAULT), 0);
	n = open_handles(uvl, what, sizeof(what));
	ck_assert_msg(n == 0, "after tlsio_loop_free and uv_run: %d handles still open: %s", n, what);
	ck_assert_int_eq(uv_loop_close(uvl), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* echo on the application's loop (tests/app-echo.c), beside the application's own uv timer */

static void app_tick(uv_timer_t *t)
{
	struct tu_echo *ec = t->data;
	ec->app_ticks++;
}

static void stop_app_timer(struct tu_echo *ec)
{
	/* the application's own timer is the application's business: it ends it here */
	uv_timer_stop(ec->app);
}

START_TEST(test_app_loop_echo)
{
	uv_loop_t uvl;
	uv_timer_t app_timer;
	struct tu_echo ec = {.on_client_close = stop_app_timer, .app = &app_timer};
	tlsio_loop *loop = NULL;
	struct watchdog wd;
	uint64_t t0;
	int rc;

	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_NOWAIT), 0); /* nothing active yet */
	rc = tlsio_loop_new_uv(&loop, &uvl);
	ck_assert_msg(rc == 0, "tlsio_loop_new_uv: %s", tlsio_strerror(rc));
	tu_log("info: %s", tlsio_loop_info(loop));
	ck_assert_msg(strstr(tlsio_loop_info(loop), "application loop") != NULL, "info: %s",
	              tlsio_loop_info(loop));
	ck_assert_ptr_eq(tlsio_loop_uv(loop), &uvl);
	ck_assert_str_eq(tlsio_backend_name(tlsio_loop_backend(loop)), "libuv");
	/* the library's own handles do not keep the application's loop running */
	ck_assert_int_eq(uv_loop_alive(&uvl), 0);
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_NOWAIT), 0);

	tu_echo_start(&ec, loop);
	/* a connection and a listener exist: the loop is alive before its first uv_run */
	ck_assert_int_ne(uv_loop_alive(&uvl), 0);
	ck_assert_int_eq(uv_timer_init(&uvl, &app_timer), 0);
	app_timer.data = &ec;
	ck_assert_int_eq(uv_timer_start(&app_timer, app_tick, 2, 2), 0);
	watchdog_start(&uvl, &wd, 60000);

	t0 = tu_now_ms();
	(void)uv_run(&uvl, UV_RUN_DEFAULT); /* returns once nothing is left to wait for */
	ec.run_returned_ms = tu_now_ms();
	watchdog_stop(&wd);
	tu_echo_check(&ec, "uv_run", t0);

	/* everything is closed: the loop holds nothing of ours that keeps it running */
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_NOWAIT), 0);
	tlsio_loop_free(loop);
	/* the application's own timer still works on the loop after tlsio_loop_free */
	ck_assert_int_eq(uv_timer_start(&app_timer, app_tick, 0, 0), 0);
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_DEFAULT), 0);
	uv_close((uv_handle_t *)&app_timer, NULL);
	assert_loop_clean(&uvl);
	tu_echo_free(&ec);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* what keeps the application's uv_run going, from before its first iteration */

struct rt {
	int fired;
	uint64_t at;
	tlsio_timer *t;
};

static void rt_cb(tlsio_timer *t, void *user)
{
	struct rt *r = user;
	(void)t;
	r->fired++;
	r->at = tu_now_ms();
}

START_TEST(test_app_loop_refs)
{
	uv_loop_t uvl;
	tlsio_loop *loop = NULL;
	struct rt r = {0}, u = {0};
	struct watchdog wd;
	uint64_t t0;

	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	ck_assert_int_eq(tlsio_loop_new_uv(&loop, &uvl), 0);
	/* an unreferenced timer alone: uv_run returns at once, without waiting for it */
	ck_assert_int_eq(tlsio_timer_new(loop, rt_cb, &u, &u.t), 0);
	ck_assert_int_eq(tlsio_timer_start(u.t, 50, 0), 0);
	ck_assert_int_eq(uv_loop_alive(&uvl), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_DEFAULT), 0);
	ck_assert_msg(tu_now_ms() - t0 < 40, "uv_run waited %" PRIu64 " ms for an unreferenced timer",
	              tu_now_ms() - t0);
	ck_assert_int_eq(u.fired, 0);
	/* a referenced one started before uv_run: uv_run goes on until it fired, then returns */
	ck_assert_int_eq(tlsio_timer_new(loop, rt_cb, &r, &r.t), 0);
	tlsio_timer_ref(r.t, 1);
	ck_assert_int_eq(tlsio_timer_start(r.t, 120, 0), 0);
	ck_assert_int_ne(uv_loop_alive(&uvl), 0);
	watchdog_start(&uvl, &wd, 20000);
	t0 = tu_now_ms();
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_DEFAULT), 0);
	tu_log("referenced 120 ms timer: fired %d time(s), uv_run returned after %" PRIu64 " ms "
	       "(the unreferenced 50 ms one fired %d)", r.fired, tu_now_ms() - t0, u.fired);
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(r.fired, 1);
	ck_assert_int_eq(u.fired, 1); /* due first, while the referenced one held the run */
	ck_assert_msg(r.at - t0 >= 110, "fired after %" PRIu64 " ms", r.at - t0);
	ck_assert_int_eq(uv_loop_alive(&uvl), 0);
	/* unreferencing a started one lets the run end at once */
	ck_assert_int_eq(tlsio_timer_start(r.t, 10000, 0), 0);
	ck_assert_int_ne(uv_loop_alive(&uvl), 0);
	tlsio_timer_ref(r.t, 0);
	ck_assert_int_eq(uv_loop_alive(&uvl), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_DEFAULT), 0);
	ck_assert_msg(tu_now_ms() - t0 < 1000, "uv_run took %" PRIu64 " ms", tu_now_ms() - t0);
	watchdog_stop(&wd);
	/* timers left to tlsio_loop_free, which frees them */
	tlsio_loop_free(loop);
	assert_loop_clean(&uvl);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* deadlines on the application's loop: no tlsio_loop_run() to check them */

struct hs_peer {
	int closes, status;
	uint64_t closed_ms;
};

static void hs_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct hs_peer *p = user;
	(void)c;
	(void)alert;
	p->closes++;
	p->status = status;
	p->closed_ms = tu_now_ms();
}

static const tlsio_callbacks hs_cb = {.struct_size = sizeof(tlsio_callbacks), .on_close = hs_close};

START_TEST(test_app_loop_deadline)
{
	uv_loop_t uvl;
	tlsio_loop *loop = NULL;
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts to = {.struct_size = sizeof(tlsio_tls_opts), .ca_file = tu_cert("ca.pem")};
	struct hs_peer peer = {.status = 1};
	tlsio_conn_opts o = {.struct_size = sizeof(tlsio_conn_opts), .cb = &hs_cb, .user = &peer, .server_name = "localhost",
	                     .handshake_timeout_ms = 300};
	tlsio_conn *c = NULL;
	struct watchdog wd;
	char addr[64];
	int lfd = tu_silent_listener(addr, sizeof(addr));
	uint64_t t0, dt;

	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	ck_assert_int_eq(tlsio_loop_new_uv(&loop, &uvl), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 0, &to, NULL), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(tlsio_connect(loop, addr, cfg, &o, &c), 0);
	watchdog_start(&uvl, &wd, 20000);
	(void)uv_run(&uvl, UV_RUN_DEFAULT);
	dt = peer.closed_ms - t0;
	watchdog_stop(&wd);
	tu_log("handshake timeout of 300 ms on the application's loop: on_close after %" PRIu64
	       " ms with %s", peer.closes ? dt : 0, tlsio_strerror(peer.status));
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(peer.closes, 1);
	ck_assert_msg(peer.status == TLSIO_E_HANDSHAKE_TIMEOUT, "status %d (%s), expected "
	              "TLSIO_E_HANDSHAKE_TIMEOUT", peer.status, tlsio_strerror(peer.status));
	ck_assert_msg(dt >= 290 && dt < 5000, "the 300 ms deadline fired after %" PRIu64 " ms", dt);
	tlsio_loop_free(loop);
	assert_loop_clean(&uvl);
	tlsio_tls_config_free(cfg);
	close(lfd);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* tlsio_loop_wake from another thread, on both kinds of loop */

struct waker {
	tlsio_loop *loop;
	unsigned delay_ms;
	uint64_t woke_ms;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;
	tu_sleep_ms(w->delay_ms);
	w->woke_ms = tu_now_ms();
	tlsio_loop_wake(w->loop);
	return NULL;
}

/* A listener keeps the loop waiting: only the wake can end the wait. */
static void check_wake(tlsio_loop *loop, uv_loop_t *app_uvl, const char *what)
{
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts so = {.struct_size = sizeof(tlsio_tls_opts), .cert_file = tu_cert("server.pem"), .key_file = tu_cert("server.key")};
	tlsio_listener *l = NULL;
	struct waker w = {.loop = loop, .delay_ms = 200};
	pthread_t tid;
	uint64_t t0, dt;

	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 1, &so, NULL), 0);
	ck_assert_int_eq(tlsio_listen(loop, "127.0.0.1:0", cfg, NULL, NULL, NULL, &l), 0);
	/* settle: the first iteration may have work of its own */
	if (app_uvl != NULL)
		(void)uv_run(app_uvl, UV_RUN_NOWAIT);
	else
		ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(pthread_create(&tid, NULL, waker_main, &w), 0);
	t0 = tu_now_ms();
	if (app_uvl != NULL)
		(void)uv_run(app_uvl, UV_RUN_ONCE);
	else
		ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_ONCE), 0);
	dt = tu_now_ms() - t0;
	pthread_join(tid, NULL);
	tu_log("%s: blocked wait ended %" PRIu64 " ms after it began (wake sent after %" PRIu64 " ms)",
	       what, dt, w.woke_ms - t0);
	ck_assert_msg(dt >= 150, "%s: the wait ended after %" PRIu64 " ms, before the wake", what, dt);
	ck_assert_msg(dt < 10000, "%s: the wait did not end on tlsio_loop_wake (%" PRIu64 " ms)", what, dt);
	tlsio_listener_close(l);
	tlsio_tls_config_free(cfg);
}

START_TEST(test_wake_from_thread)
{
	uv_loop_t uvl;
	tlsio_loop *loop = NULL;
	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	ck_assert_int_eq(tlsio_loop_new_uv(&loop, &uvl), 0);
	check_wake(loop, &uvl, "application loop, uv_run(UV_RUN_ONCE)");
	tlsio_loop_free(loop);
	assert_loop_clean(&uvl);

	ck_assert_int_eq(tlsio_loop_new(&loop, tlsio_backend_by_name("libuv")), 0);
	check_wake(loop, NULL, "own loop, tlsio_loop_run(ONCE)");
	tlsio_loop_free(loop);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the library's own loop */

START_TEST(test_own_loop)
{
	tlsio_loop *loop = NULL, *other = NULL;
	const tlsio_backend *b = tlsio_backend_by_name("libuv");
	const char *info;
	uv_loop_t uvl;
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(tlsio_loop_new(&loop, b), 0);
	info = tlsio_loop_info(loop);
	tu_log("info: %s", info);
	ck_assert_msg(strncmp(info, "libuv ", 6) == 0 && strstr(info, "(own loop, backend ") != NULL,
	              "info: %s", info);
	ck_assert_ptr_nonnull(tlsio_loop_uv(loop));
	ck_assert_ptr_ne(tlsio_loop_uv(loop), uv_default_loop());
	/* with nothing attached, a DEFAULT run returns at once */
	ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_DEFAULT), 0);
	tlsio_loop_free(loop);

	ck_assert_int_eq(tlsio_loop_new_uv(&loop, NULL), -EINVAL);
	ck_assert_ptr_null(loop);
	ck_assert_int_eq(tlsio_loop_new(&other, tlsio_backend_by_name("blocking")), 0);
	ck_assert_ptr_null(tlsio_loop_uv(other)); /* not a libuv loop */
	tlsio_loop_free(other);
	ck_assert_ptr_null(tlsio_loop_uv(NULL));
	/* two library loops on one application loop, freed in either order */
	ck_assert_int_eq(uv_loop_init(&uvl), 0);
	ck_assert_int_eq(tlsio_loop_new_uv(&loop, &uvl), 0);
	ck_assert_int_eq(tlsio_loop_new_uv(&other, &uvl), 0);
	tlsio_loop_free(loop);
	ck_assert_int_eq(uv_run(&uvl, UV_RUN_NOWAIT), 0);
	tlsio_loop_free(other);
	assert_loop_clean(&uvl);
}
END_TEST

static Suite *libuv_suite(void)
{
	Suite *s = suite_create("libuv");
	const struct {
		const char *name;
		const TTest *t;
		int timeout;
	} cases[] = {
		{"test_app_loop_echo", test_app_loop_echo, 120},
		{"test_app_loop_refs", test_app_loop_refs, 60},
		{"test_app_loop_deadline", test_app_loop_deadline, 60},
		{"test_wake_from_thread", test_wake_from_thread, 60},
		{"test_own_loop", test_own_loop, 30},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, fx_setup, NULL);
		tcase_set_timeout(tc, cases[i].timeout);
		tcase_add_test(tc, cases[i].t);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	const tlsio_backend *b = tlsio_backend_by_name("libuv");
	const char *why = NULL;
	SRunner *sr;
	int failed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (b == NULL) {
		printf("SKIP libuv: the libuv backend is not compiled in (have: %s)\n", tlsio_backend_names());
		return 77;
	}
	if (tlsio_backend_probe(b, &why) < 0) {
		printf("SKIP libuv: %s\n", why != NULL ? why : "probe failed");
		return 77;
	}
	sr = srunner_create(libuv_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
