/* SPDX-License-Identifier: MIT */
/* The libev backend's two ways of running (api/tlsio-ev.h), as Check suite "libev":
 * - on an ev_loop the application owns: the test itself calls ev_run(), never tlsio_loop_run(),
 *   and a real TLS echo (both ends on that one loop, one thread) must come back with the same
 *   SHA-256 while the application's own watcher keeps firing; deadlines must fire from the
 *   library's ev_timer; ev_run(evl, 0) must return by itself once the last on_close ran, and
 *   tlsio_loop_free() must leave the loop as it found it (no watcher, no reference);
 * - on the library's own loop: tlsio_loop_run() like any backend (the contract suite covers it
 *   in depth: contract/libev), with tlsio_loop_ev() and tlsio_loop_info() telling which loop;
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
#include "tlsio-ev.h"
#include "tlsio.h"


#define ASSERT_NO_FAILURE() ck_assert_msg(tu_failed() == 0, "%s", tu_failure())

static void fx_setup(void)
{
	tu_reset_failures();
}

/* A watchdog on the application's loop: a hang becomes a failure, not a Check timeout. It is
 * ev_unref'd so that it does not keep ev_run going by itself. */
struct watchdog {
	ev_timer t;
	int fired;
};

static void watchdog_cb(struct ev_loop *evl, ev_timer *w, int revents)
{
	struct watchdog *wd = (struct watchdog *)w;
	(void)revents;
	ev_ref(evl); /* a one-shot timer is stopped (and unreferenced) before its callback */
	wd->fired = 1;
	TU_FAIL("watchdog: ev_run still running");
	ev_break(evl, EVBREAK_ALL);
}

static void watchdog_start(struct ev_loop *evl, struct watchdog *wd, double secs)
{
	memset(wd, 0, sizeof(*wd));
	ev_timer_init(&wd->t, watchdog_cb, secs, 0.);
	ev_timer_start(evl, &wd->t);
	ev_unref(evl);
}

static void watchdog_stop(struct ev_loop *evl, struct watchdog *wd)
{
	if (!wd->fired) {
		ev_ref(evl);
		ev_timer_stop(evl, &wd->t);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* echo on the application's loop (tests/app-echo.c), beside the application's own ev timer */

struct app {
	struct ev_loop *evl;
	ev_timer timer;
	/* nest: the data callbacks run the application's loop themselves now and then */
	int nest;
	unsigned data_calls, nested_runs;
};

/* An application may run its loop from inside a callback (ev_run(EVRUN_NOWAIT) to let other
 * watchers progress). Input read there must not land in a buffer that the callback's own
 * connection is still reading from further up the stack. */
static void maybe_nest(struct tu_echo *ec)
{
	struct app *a = ec->app;
	if (a->nest && ++a->data_calls % 3 == 0) {
		a->nested_runs++;
		ev_run(a->evl, EVRUN_NOWAIT);
	}
}

static void stop_app_timer(struct tu_echo *ec)
{
	/* the application's own watcher is the application's business: it ends it here */
	struct app *a = ec->app;
	ev_timer_stop(a->evl, &a->timer);
}

static void app_tick(struct ev_loop *evl, ev_timer *w, int revents)
{
	struct tu_echo *ec = w->data;
	(void)evl;
	(void)revents;
	ec->app_ticks++;
}

static void app_loop_echo(int nest)
{
	struct ev_loop *evl = ev_loop_new(EVFLAG_AUTO);
	struct app a = {.evl = evl, .nest = nest};
	struct tu_echo ec = {.on_data = maybe_nest, .on_client_close = stop_app_timer, .app = &a};
	tlsio_loop *loop = NULL;
	struct watchdog wd;
	uint64_t t0;
	int rc;

	ck_assert_ptr_nonnull(evl);
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0); /* nothing active yet */
	rc = tlsio_loop_new_ev(&loop, evl);
	ck_assert_msg(rc == 0, "tlsio_loop_new_ev: %s", tlsio_strerror(rc));
	tu_log("info: %s", tlsio_loop_info(loop));
	ck_assert_msg(strstr(tlsio_loop_info(loop), "application loop") != NULL, "info: %s",
	              tlsio_loop_info(loop));
	ck_assert_ptr_eq(tlsio_loop_ev(loop), evl);
	ck_assert_str_eq(tlsio_backend_name(tlsio_loop_backend(loop)), "libev");
	/* the library's own watchers do not keep the application's loop running */
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);

	tu_echo_start(&ec, loop);
	ev_timer_init(&a.timer, app_tick, 0.002, 0.002);
	a.timer.data = &ec;
	ev_timer_start(evl, &a.timer);
	watchdog_start(evl, &wd, 60.);

	t0 = tu_now_ms();
	ev_run(evl, 0); /* the application's loop: returns once nothing is left to wait for */
	ec.run_returned_ms = tu_now_ms();
	watchdog_stop(evl, &wd);
	tu_echo_check(&ec, "ev_run", t0);
	if (nest) {
		tu_log("nested ev_run calls from data callbacks: %u", a.nested_runs);
		ck_assert_msg(a.nested_runs > 100, "only %u nested runs", a.nested_runs);
	}

	/* everything is closed: the loop holds nothing of ours but the internal watchers */
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);
	tlsio_loop_free(loop);
	/* after tlsio_loop_free the application's loop is as it was: no watcher, no reference */
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);
	ev_timer_start(evl, &a.timer);
	ck_assert_int_ne(ev_run(evl, EVRUN_NOWAIT), 0);
	ev_timer_stop(evl, &a.timer);
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);
	ev_loop_destroy(evl);
	tu_echo_free(&ec);
}

START_TEST(test_app_loop_echo)
{
	app_loop_echo(0);
}
END_TEST

START_TEST(test_app_loop_nested_ev_run)
{
	app_loop_echo(1);
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
	struct ev_loop *evl = ev_loop_new(EVFLAG_AUTO);
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
	ck_assert_ptr_nonnull(evl);
	ck_assert_int_eq(tlsio_loop_new_ev(&loop, evl), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 0, &to, NULL), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(tlsio_connect(loop, addr, cfg, &o, &c), 0);
	watchdog_start(evl, &wd, 20.);
	ev_run(evl, 0);
	dt = peer.closed_ms - t0;
	watchdog_stop(evl, &wd);
	tu_log("handshake timeout of 300 ms on the application's loop: on_close after %" PRIu64
	       " ms with %s", peer.closes ? dt : 0, tlsio_strerror(peer.status));
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(peer.closes, 1);
	ck_assert_msg(peer.status == TLSIO_E_HANDSHAKE_TIMEOUT, "status %d (%s), expected "
	              "TLSIO_E_HANDSHAKE_TIMEOUT", peer.status, tlsio_strerror(peer.status));
	ck_assert_msg(dt >= 290 && dt < 5000, "the 300 ms deadline fired after %" PRIu64 " ms", dt);
	tlsio_loop_free(loop);
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);
	ev_loop_destroy(evl);
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

/* A listener keeps the loop waiting: only the wake can end the wait before libev's own
 * maximum block time (about a minute). */
static void check_wake(tlsio_loop *loop, struct ev_loop *app_evl, const char *what)
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
	if (app_evl != NULL)
		ev_run(app_evl, EVRUN_NOWAIT);
	else
		ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_NOWAIT), 0);
	ck_assert_int_eq(pthread_create(&tid, NULL, waker_main, &w), 0);
	t0 = tu_now_ms();
	if (app_evl != NULL)
		ev_run(app_evl, EVRUN_ONCE);
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
	struct ev_loop *evl = ev_loop_new(EVFLAG_AUTO);
	tlsio_loop *loop = NULL;
	ck_assert_ptr_nonnull(evl);
	ck_assert_int_eq(tlsio_loop_new_ev(&loop, evl), 0);
	check_wake(loop, evl, "application loop, ev_run(EVRUN_ONCE)");
	tlsio_loop_free(loop);
	ck_assert_int_eq(ev_run(evl, EVRUN_NOWAIT), 0);
	ev_loop_destroy(evl);

	ck_assert_int_eq(tlsio_loop_new(&loop, tlsio_backend_by_name("libev")), 0);
	check_wake(loop, NULL, "own loop, tlsio_loop_run(ONCE)");
	tlsio_loop_free(loop);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the library's own loop */

START_TEST(test_own_loop)
{
	tlsio_loop *loop = NULL, *other = NULL;
	const tlsio_backend *b = tlsio_backend_by_name("libev");
	const char *info;
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(tlsio_loop_new(&loop, b), 0);
	info = tlsio_loop_info(loop);
	tu_log("info: %s", info);
	ck_assert_msg(strncmp(info, "libev (own loop, backend ", 25) == 0, "info: %s", info);
	ck_assert_ptr_nonnull(tlsio_loop_ev(loop));
	/* with nothing attached, a DEFAULT run returns at once */
	ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_DEFAULT), 0);
	tlsio_loop_free(loop);

	ck_assert_int_eq(tlsio_loop_new_ev(&loop, NULL), -EINVAL);
	ck_assert_ptr_null(loop);
	ck_assert_int_eq(tlsio_loop_new(&other, tlsio_backend_by_name("blocking")), 0);
	ck_assert_ptr_null(tlsio_loop_ev(other)); /* not a libev loop */
	tlsio_loop_free(other);
}
END_TEST

static Suite *libev_suite(void)
{
	Suite *s = suite_create("libev");
	const struct {
		const char *name;
		const TTest *t;
		int timeout;
	} cases[] = {
		{"test_app_loop_echo", test_app_loop_echo, 120},
		{"test_app_loop_nested_ev_run", test_app_loop_nested_ev_run, 120},
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
	const tlsio_backend *b = tlsio_backend_by_name("libev");
	const char *why = NULL;
	SRunner *sr;
	int failed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (b == NULL) {
		printf("SKIP libev: the libev backend is not compiled in (have: %s)\n", tlsio_backend_names());
		return 77;
	}
	if (tlsio_backend_probe(b, &why) < 0) {
		printf("SKIP libev: %s\n", why != NULL ? why : "probe failed");
		return 77;
	}
	sr = srunner_create(libev_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
