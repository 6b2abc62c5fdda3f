/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the connection core (api/core.c) over an in-memory backend.
 *
 * The backend here is a test double that honours backends/backend.h: it attaches one connection,
 * records flushes and read start/stop, and does its I/O only when the input says so. The
 * connection under test (the victim, client or server) talks TLS to a peer: a bare tls/ adapter
 * the target drives itself, with a resumed session (fuzz-session.h). The input is a program
 * (fuzz-ops.h, FC_*): the application sends (copied, by reference, with completions, up to
 * 320 KiB), closes, shuts down, aborts, pauses reading, moves the watermarks; the "kernel" takes
 * any number of ciphertext bytes; the peer reads, writes records, closes, updates keys; its
 * bytes arrive in pieces of any size, or raw, forged, flipped, cut or replayed; EOF and socket
 * errors come at any point; the next callback may re-enter the library (send, close, abort,
 * read_stop, refuse the ClientHello...); closes may be answered by the backend at once or later.
 * At the end everything is drained, then EOF, then the loop is freed.
 *
 * Checked, besides no crash, leak or undefined behaviour (by-reference buffers are freed in
 * their completion and copied ones right after the send, so a core that kept touching them is a
 * use-after-free):
 *  C1  the peer reads exactly what the application sent, in order; on_data gives exactly what
 *      the peer wrote, in order; no on_data after the application closed or aborted;
 *  C2  every completion fires once, in send order, before on_close; status 0 only for bytes
 *      that reached the peer;
 *  C4  a send is refused (TLSIO_E_QUEUE_FULL) only at or above high water, and then queues
 *      nothing; an accepted one adds exactly its length; on_drain only at or below low water;
 *  C5  a fatal TLS error of the victim's own that sent an alert reaches the peer as that
 *      alert; one without any alert (wolfSSL's gaps) is listed as "C5 gap" (fuzz-common.h);
 *  C6  status 0 only after the peer's close_notify; TLSIO_E_TRUNCATED only after EOF; a graceful
 *      close that got as far as shutting down the write side delivered all data, then
 *      close_notify;
 *  and on_close exactly once, nothing after it, an alert reported as received only if the peer
 *  sent one.
 * Alongside the connection, the application's timers and tasks (api/events.c) on the loop's
 * clock, which is the harness's: started, stopped, restarted and freed from the input, from each
 * other's callbacks and from the connection's, tasks posted from all of these and from tasks,
 * runs of TLSIO_RUN_DEFAULT whose waits move the clock; checked as listed under "timers and
 * tasks" below (firing times, once per start, order, post order, TLSIO_E_ABORTED at the end).
 *
 * The first input byte is the mode: bit 0 the victim is the server; bit 1 the backend answers
 * conn_close later (at its next run); bit 2 the application sets on_client_hello; bit 3 it sets
 * on_peer_close; bits 4-7 the variant (modulo FZ_NVARIANTS). */
#include <fcntl.h>
#include <unistd.h>

/* The loop's clock is the harness's (fz_now_ms below): core.c and events.c, compiled into this
 * file, read it under this name. It moves only where the input says so (FC_CLOCK, a callback
 * that takes time) and where a TLSIO_RUN_DEFAULT run waits (fb_run_once), so which timers fire
 * in which pass is a function of the input: a crash replays. The library's own tlsio__now_ms
 * (api/util.c, linked) is left to the rest. core.c's calls into events.c for expiries and for
 * tasks go through the harness (fz_app_timer_expire, fz_tasks_run): the first tells it that a
 * pass over the deadlines runs and at which time, the second that it ended (core.c runs the
 * tasks after every pass). */
#define tlsio__now_ms fz_now_ms
#define tlsio__app_timer_expire fz_app_timer_expire
#define tlsio__tasks_run fz_tasks_run
#include "tls.c"    /* the adapter and the core themselves: the target reaches the WOLFSSL under */
#include "core.c"   /* a connection (session resumption) and the connection's state (checks) */
#undef tlsio__app_timer_expire
#undef tlsio__tasks_run
#include "events.c" /* timers and tasks, on that clock (so fuzz.sh links no api/events.c here) */
#include "fuzz-common.h"
#include "fuzz-session.h"
#include "fuzz-ops.h"

#define MODEL_MAX (1u << 20) /* plaintext each side may send per input */
#define MAX_REQS 256

/* ------------------------------------------------------------------------------------------ */
/* the in-memory backend */

static struct {
	tlsio_conn *c;   /* attached, until it answered conn_close */
	int closing;     /* conn_close came: no more calls into the core but tlsio__conn_closed */
	int close_owed;  /* deferred mode: tlsio__conn_closed at the next run */
	int defer_close;
	int reading;
	unsigned long flushes;
} fb;

static uint64_t fz_clock;
static int fz_freeing; /* inside tlsio_loop_free */

/* Passes over the deadlines: each ends with a run of the tasks (fz_tasks_run), which starts
 * the next epoch. */
static struct {
	unsigned long epoch; /* passes ended so far (more exactly: task runs) */
	int seen;            /* a pass ran in this epoch (after run_once, or an expiry showed it) */
	uint64_t now;        /* its time */
	int depth;           /* inside a timer's callback: inside a pass */
} pass;

uint64_t fz_now_ms(void)
{
	return fz_clock;
}

static void pass_ran(uint64_t now);
static void pass_end(void);
static void check_default_turn(void);

void fz_app_timer_expire(tlsio_loop *loop, tlsio__timer *t, uint64_t now)
{
	pass_ran(now);
	tlsio__app_timer_expire(loop, t, now);
}

void fz_tasks_run(tlsio_loop *loop, int status)
{
	pass_end();
	tlsio__tasks_run(loop, status);
}

static const struct fz_variant *var;

static int fb_probe(const char **why)
{
	(void)why;
	return 0;
}
static int fb_loop_init(tlsio_loop *loop)
{
	(void)loop;
	return 0;
}
static void fb_loop_free(tlsio_loop *loop) { (void)loop; }
static void fb_wake(tlsio_loop *loop) { (void)loop; }
static int fb_listener_attach(tlsio_listener *l)
{
	(void)l;
	return -EOPNOTSUPP;
}
static void fb_listener_detach(tlsio_listener *l) { (void)l; }

static int fb_run_once(tlsio_loop *loop, int timeout_ms)
{
	(void)loop;
	if (!fz_freeing) {
		check_default_turn();
		/* the wait: nothing else happens in it (a TLSIO_RUN_DEFAULT run asks for the time
		 * to its next deadline; TLSIO_RUN_NOWAIT for 0) */
		if (timeout_ms > 0)
			fz_clock += (uint64_t)timeout_ms;
		pass_ran(fz_clock); /* loop_run passes over the deadlines next */
	}
	if (fb.close_owed) {
		fb.close_owed = 0;
		tlsio__conn_closed(fb.c);
	}
	return 0;
}

static int fb_conn_attach(tlsio_conn *c, int connecting)
{
	(void)connecting;
	fb.c = c;
	fb.reading = 1;
	if (!c->is_server)
		fz_client_prepare(c->tls, var); /* before its first word: the ClientHello */
	return 0;
}

static void fb_conn_close(tlsio_conn *c)
{
	FZ_CHECK(c == fb.c && !fb.closing, "conn_close twice or for another connection");
	fb.closing = 1;
	if (fb.defer_close)
		fb.close_owed = 1;
	else
		tlsio__conn_closed(c);
}

static void fb_flush(tlsio_conn *c)
{
	FZ_CHECK(c == fb.c && !fb.closing, "flush after conn_close");
	fb.flushes++;
}

static void fb_read_start(tlsio_conn *c)
{
	(void)c;
	fb.reading = 1;
}

static void fb_read_stop(tlsio_conn *c)
{
	(void)c;
	fb.reading = 0;
}

static const struct tlsio_backend fake_backend = {
	.name = "fuzz",
	.probe = fb_probe,
	.loop_init = fb_loop_init,
	.loop_free = fb_loop_free,
	.run_once = fb_run_once,
	.wake = fb_wake,
	.listener_attach = fb_listener_attach,
	.listener_detach = fb_listener_detach,
	.conn_attach = fb_conn_attach,
	.conn_close = fb_conn_close,
	.flush = fb_flush,
	.read_start = fb_read_start,
	.read_stop = fb_read_stop,
};

/* ------------------------------------------------------------------------------------------ */
/* the application, the peer and what they expect */

#define NTIMERS 8
#define NTASKS 4
#define CB_BUDGET 256

/* A timer of the application, as the model sees it: every tlsio_timer_start/_again is a new
 * start (also to the time the timer already has), which orders ties and keeps it out of the
 * pass it was started in (tlsio.h). */
struct ftimer {
	tlsio_timer *t;        /* NULL: none in this slot */
	int slot;
	int armed, ref;
	uint64_t due;          /* never fires before tlsio_loop_now() reaches it */
	uint64_t repeat;
	uint64_t order;      /* start order (every start, also to the time it had, is a new one) */
	unsigned long epoch; /* pass.epoch at the start */
	int in_pass;         /* started from a timer's callback: inside that pass */
	unsigned action;       /* what its callback does (cb_action) */
};

/* A tlsio_loop_post() task: its record is freed by its callback (never run: a leak). */
struct fpost {
	uint64_t seq;
	unsigned action;
};

/* An embedded tlsio_task. */
struct ftask {
	tlsio_task task; /* first */
	int slot;
	int pending;
	uint64_t seq;
	unsigned action;
};

struct req {
	tlsio_send_req r;
	int id;
	uint64_t end;  /* stream position after its last byte */
	uint8_t *buf;  /* by reference: the caller's until the completion */
	int status;
	int fired;
};

static struct {
	tlsio_loop *loop;
	tlsio_conn *c;         /* the victim until its on_close */
	int victim_server;
	/* application side */
	uint8_t *sent;         /* what the application sent, in order */
	size_t sent_len;
	size_t got;            /* on_data bytes so far: the peer's plaintext [0, got) */
	int app_closed;        /* tlsio_close or tlsio_abort called: no on_data any more */
	int handshake_done;
	size_t high, low;      /* watermarks as set */
	struct req *reqs[MAX_REQS];
	int nreqs, next_done;  /* completions fire in id order */
	uint64_t ok_end;       /* end of the last send completed with status 0 */
	int closes, close_status, close_alert;
	int close_wr_shut;     /* at on_close: close_notify sent and the write side shut */
	int close_failing_flushed; /* at on_close: it had failed and sent everything (the alert) */
	int close_tls_err;     /* wolfSSL's error then */
	int eof_given, reset_given, aborted;
	int hs_tampered;       /* the peer's bytes were tampered with before the handshake ended:
	                          the peer may rightly fail too (Finished does not verify) */
	int action;            /* what the next callback does (FC_REENTER) */
	int batch;             /* no loop run after each operation */
	/* the peer */
	tlsio__tls *p;
	struct fz_buf p_out;   /* what the peer wrote, not yet delivered to the victim */
	struct fz_buf last_rec;
	struct fz_buf wire;    /* what the kernel took from the victim, not yet read by the peer */
	uint8_t *p_sent;
	size_t p_sent_len;
	size_t p_got;          /* plaintext the peer read: the application's [0, p_got) */
	int p_hs, p_closed, p_err, p_notify_sent;
	/* timers and tasks (the model: see "timers and tasks" below) */
	struct ftimer tm[NTIMERS];
	struct ftask tk[NTASKS];
	uint64_t post_seq, run_seq; /* tasks posted and run: they run in post order, once each */
	uint64_t order;             /* the last start order given */
	int budget;                 /* actions callbacks may still take (they may start each other) */
	unsigned conn_action;       /* what the next connection callback does (FC_CONN_ACTION) */
	unsigned posts_at_free;     /* FC_POST_AT_FREE */
	int in_run, in_default, in_close;
	unsigned long default_turns;
	tlsio_timer *stopper;       /* ends a FC_RUN_UNTIL run */
	int stopper_fired;
	int fired_any;              /* the last timer that fired: the order of expiries */
	uint64_t last_fire_due, last_fire_order;
} S;

static void on_close_cb(tlsio_conn *c, int status, int alert, void *user);
static void conn_cb_action(void);

/* A re-entering action, from inside a callback. */
static void reenter(tlsio_conn *c)
{
	int a = S.action;
	S.action = 0;
	switch (a) {
	case 1: { /* a small copied send */
		static const uint8_t hi[] = "hello from a callback";
		if (S.sent_len + sizeof(hi) <= MODEL_MAX && tlsio_send(c, hi, sizeof(hi)) == 0) {
			memcpy(S.sent + S.sent_len, hi, sizeof(hi));
			S.sent_len += sizeof(hi);
		}
		break;
	}
	case 2:
		S.app_closed = 1;
		tlsio_close(c);
		break;
	case 3:
		S.app_closed = 1;
		S.aborted = 1;
		tlsio_abort(c);
		break;
	case 4:
		(void)tlsio_shutdown(c); /* half-close: reading goes on */
		break;
	case 5:
		tlsio_read_stop(c);
		break;
	case 6:
		tlsio_read_start(c);
		break;
	case 7:
		S.low = 0;
		S.high = 1;
		tlsio_conn_set_watermarks(c, S.low, S.high);
		break;
	}
}

static void check_alive(tlsio_conn *c, const char *what)
{
	FZ_CHECK(S.c != NULL && c == S.c, "%s after on_close or for another connection", what);
}

static void on_handshake_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_handshake");
	FZ_CHECK(!S.handshake_done, "on_handshake twice");
	S.handshake_done = 1;
	reenter(c);
	conn_cb_action();
}

static void on_data_cb(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	(void)user;
	check_alive(c, "on_data");
	FZ_CHECK(!S.app_closed, "on_data after the application closed");
	FZ_CHECK(len > 0 && S.got + len <= S.p_sent_len && memcmp(data, S.p_sent + S.got, len) == 0,
	         "on_data: %zu bytes at %zu that the peer did not write there (%zu written)", len,
	         S.got, S.p_sent_len);
	S.got += len;
	reenter(c);
	conn_cb_action();
}

static void on_drain_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_drain");
	FZ_CHECK(tlsio_conn_queued(c) <= S.low, "on_drain with %zu queued, low water %zu",
	         tlsio_conn_queued(c), S.low);
	reenter(c);
	conn_cb_action();
}

static void on_peer_close_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_peer_close");
	FZ_CHECK(S.p_notify_sent, "on_peer_close, but the peer sent no close_notify");
	if (S.action != 0) {
		reenter(c);
	} else {
		S.app_closed = 1;
		tlsio_close(c);
	}
}

static int on_client_hello_cb(tlsio_conn *c, const tlsio_client_hello *h, tlsio_tls_config **cfg,
                              void *user)
{
	(void)user;
	(void)cfg;
	check_alive(c, "on_client_hello");
	FZ_CHECK(S.victim_server, "on_client_hello on a client");
	FZ_CHECK(S.hs_tampered || (h->server_name != NULL && strcmp(h->server_name, "localhost") == 0),
	         "SNI lost");
	if (S.action == 8) {
		S.action = 0;
		return TLSIO_ALERT_UNRECOGNIZED_NAME;
	}
	reenter(c);
	return 0;
}

static void on_close_cb(tlsio_conn *c, int status, int alert, void *user)
{
	(void)user;
	check_alive(c, "on_close");
	S.closes++;
	S.close_status = status;
	S.close_alert = alert;
	S.close_wr_shut = c->wr_shut && c->notify_sent;
	S.close_failing_flushed = c->state == ST_DEAD && c->ctq.bytes == 0 && c->wr_shut && !c->notify_sent;
	S.close_tls_err = tlsio__tls_last_error(c->tls);
	FZ_CHECK(S.next_done == S.nreqs, "on_close before %d of %d completions", S.nreqs - S.next_done,
	         S.nreqs);
	S.in_close = 1;
	conn_cb_action();
	S.in_close = 0;
	S.c = NULL;
}

static void on_sent_cb(tlsio_send_req *r, int status)
{
	struct req *q = (struct req *)r;
	FZ_CHECK(S.closes == 0, "completion after on_close");
	FZ_CHECK(!q->fired, "completion %d twice", q->id);
	FZ_CHECK(q->id == S.next_done, "completion %d, expected %d", q->id, S.next_done);
	q->fired = 1;
	q->status = status;
	S.next_done++;
	if (status == 0)
		S.ok_end = q->end;
	else
		FZ_CHECK(status < 0, "completion status %d", status);
	free(q->buf); /* the caller's again: the core must not touch it any more */
	q->buf = NULL;
	if (S.c != NULL && status == 0)
		reenter(S.c);
	S.in_close = status != 0; /* a failed completion: the connection is being finalized */
	conn_cb_action();
	S.in_close = 0;
}

static const tlsio_callbacks cbs_all = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake_cb,
	.on_data = on_data_cb,
	.on_drain = on_drain_cb,
	.on_peer_close = on_peer_close_cb,
	.on_close = on_close_cb,
	.on_client_hello = on_client_hello_cb,
};

/* ------------------------------------------------------------------------------------------ */
/* timers and tasks
 *
 * Up to NTIMERS application timers (slots) and NTASKS embedded tasks, driven by the input, by
 * each other's callbacks and by the connection's callbacks (cb_action). Checked:
 *  - a timer fires only while started, a one-shot once per start (stopped before its callback,
 *    a repeating one already re-armed), never before its time per tlsio_loop_now(), and in the
 *    first pass over the deadlines whose time reached it (pass_end), never in the pass it was
 *    started in (from a timer's callback); expiries come in time order, ties in start order
 *    (over all passes: a timer started later cannot be due earlier than one that fired);
 *    tlsio_timer_active() and tlsio_timer_due_in() agree with the model; no timer fires inside
 *    tlsio_loop_free;
 *  - tasks (tlsio_loop_post and embedded ones) run exactly once each, in post order, with status
 *    0 in a run and TLSIO_E_ABORTED in tlsio_loop_free (those pending then, and every one is run
 *    by then); re-posting a pending embedded task is -EALREADY, from its own callback it is
 *    allowed; a run of TLSIO_RUN_NOWAIT runs every task posted before it;
 *  - a TLSIO_RUN_DEFAULT run ends by its stop, or because nothing is left (no connection, no
 *    referenced started timer, no pending task); nested runs are -EBUSY;
 *  - nothing leaks (the loop frees the timers left; a task record never run would leak). */

static void timer_cb(tlsio_timer *t, void *user);
static void cb_action(unsigned a, int self);

static void check_timer(const struct ftimer *ft)
{
	int64_t due_in;
	if (ft->t == NULL)
		return;
	due_in = !ft->armed ? -1 : ft->due <= fz_clock ? 0 : (int64_t)(ft->due - fz_clock);
	FZ_CHECK(tlsio_timer_active(ft->t) == ft->armed, "timer %d: active %d, expected %d", ft->slot,
	         tlsio_timer_active(ft->t), ft->armed);
	FZ_CHECK(tlsio_timer_due_in(ft->t) == due_in, "timer %d: due in %lld, expected %lld",
	         ft->slot, (long long)tlsio_timer_due_in(ft->t), (long long)due_in);
	FZ_CHECK(tlsio_timer_user(ft->t) == ft, "timer %d: user pointer lost", ft->slot);
}

static void check_timers(void)
{
	for (int i = 0; i < NTIMERS; i++)
		check_timer(&S.tm[i]);
	FZ_CHECK(tlsio_loop_now(S.loop) == fz_clock, "tlsio_loop_now() is not the loop's clock");
}

static int started_in_this_pass(const struct ftimer *ft)
{
	return ft->in_pass && ft->epoch == pass.epoch;
}

static void pass_ran(uint64_t now)
{
	FZ_CHECK(!pass.seen || pass.now == now, "one pass at two times, %llu and %llu",
	         (unsigned long long)pass.now, (unsigned long long)now);
	pass.seen = 1;
	pass.now = now;
}

/* A pass (if one ran) is over: whatever was started before it and due by its time has fired. */
static void pass_end(void)
{
	if (fz_freeing)
		return;
	for (int i = 0; pass.seen && i < NTIMERS; i++) {
		const struct ftimer *ft = &S.tm[i];
		FZ_CHECK(ft->t == NULL || !ft->armed || started_in_this_pass(ft) || ft->due > pass.now,
		         "timer %d, due at %llu, did not fire in the pass at %llu", i,
		         (unsigned long long)ft->due, (unsigned long long)pass.now);
	}
	pass.epoch++;
	pass.seen = 0;
}

static int referenced_timer_started(void);

/* A TLSIO_RUN_DEFAULT run waits again only while something is left that keeps it going. */
static void check_default_turn(void)
{
	if (!S.in_default)
		return;
	FZ_CHECK(++S.default_turns < 100000, "a TLSIO_RUN_DEFAULT run did not end");
	FZ_CHECK(tlsio_loop_conn_count(S.loop) > 0 || referenced_timer_started() ||
	             S.run_seq != S.post_seq,
	         "a TLSIO_RUN_DEFAULT run goes on with no connection, referenced timer or task left");
}

static void timer_started(struct ftimer *ft, uint64_t due)
{
	ft->order = ++S.order;
	ft->epoch = pass.epoch;
	ft->in_pass = pass.depth > 0;
	ft->due = due;
	ft->armed = 1;
}

static void timer_make(int i)
{
	struct ftimer *ft = &S.tm[i];
	int rc;
	if (ft->t != NULL)
		return;
	rc = tlsio_timer_new(S.loop, timer_cb, ft, &ft->t);
	FZ_CHECK(rc == 0 && ft->t != NULL, "tlsio_timer_new: %d", rc);
	ft->slot = i;
	ft->armed = ft->ref = 0;
	ft->repeat = 0;
	check_timer(ft);
}

static void timer_start(int i, uint64_t timeout, uint64_t repeat)
{
	struct ftimer *ft = &S.tm[i];
	uint64_t now = fz_clock;
	int rc;
	timer_make(i);
	rc = tlsio_timer_start(ft->t, timeout, repeat);
	if (timeout > TIMER_MAX_MS || repeat > TIMER_MAX_MS) {
		FZ_CHECK(rc == -EINVAL, "tlsio_timer_start(%llu, %llu): %d, expected -EINVAL",
		         (unsigned long long)timeout, (unsigned long long)repeat, rc);
	} else {
		FZ_CHECK(rc == 0, "tlsio_timer_start: %d", rc);
		timer_started(ft, now + timeout);
		ft->repeat = repeat;
	}
	check_timer(ft);
}

static void timer_again(int i)
{
	struct ftimer *ft = &S.tm[i];
	int rc;
	if (ft->t == NULL)
		return;
	rc = tlsio_timer_again(ft->t);
	if (ft->repeat == 0) {
		FZ_CHECK(rc == -EINVAL, "tlsio_timer_again without a repeat: %d", rc);
	} else {
		FZ_CHECK(rc == 0, "tlsio_timer_again: %d", rc);
		timer_started(ft, fz_clock + ft->repeat);
	}
	check_timer(ft);
}

static void timer_stop(int i)
{
	struct ftimer *ft = &S.tm[i];
	if (ft->t == NULL)
		return;
	tlsio_timer_stop(ft->t);
	ft->armed = 0;
	check_timer(ft);
}

static void timer_free(int i)
{
	struct ftimer *ft = &S.tm[i];
	tlsio_timer_free(ft->t); /* NULL is ignored */
	ft->t = NULL;
	ft->armed = ft->ref = 0;
}

static void timer_ref(int i, int on)
{
	struct ftimer *ft = &S.tm[i];
	if (ft->t == NULL)
		return;
	tlsio_timer_ref(ft->t, on);
	ft->ref = on;
}

static void task_ran(uint64_t seq, int status, const char *what)
{
	FZ_CHECK(seq == S.run_seq, "%s posted as #%llu ran as #%llu (post order, once each)", what,
	         (unsigned long long)seq, (unsigned long long)S.run_seq);
	FZ_CHECK(status == (fz_freeing ? TLSIO_E_ABORTED : 0), "%s #%llu ran with status %d%s", what,
	         (unsigned long long)seq, status, fz_freeing ? " in tlsio_loop_free" : "");
	S.run_seq++;
}

static void post_cb(tlsio_loop *loop, void *arg, int status)
{
	struct fpost *p = arg;
	unsigned action = p->action;
	FZ_CHECK(loop == S.loop, "a task ran for another loop");
	task_ran(p->seq, status, "tlsio_loop_post task");
	free(p);
	if (status == 0)
		cb_action(action, -1);
}

static void task_cb(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct ftask *ft = (struct ftask *)task;
	FZ_CHECK(loop == S.loop, "an embedded task ran with another loop");
	FZ_CHECK(task->data == ft, "the library wrote the task's data");
	FZ_CHECK(ft->pending, "embedded task %d ran, not posted", ft->slot);
	ft->pending = 0;
	task_ran(ft->seq, status, "embedded task");
	if (status == 0)
		cb_action(ft->action, -1);
}

static void post(unsigned action)
{
	struct fpost *p;
	int rc;
	if (fz_freeing)
		return; /* no posts once tlsio_loop_free has begun (tlsio.h) */
	p = malloc(sizeof(*p));
	if (p == NULL)
		abort();
	p->seq = S.post_seq;
	p->action = action;
	rc = tlsio_loop_post(S.loop, post_cb, p);
	FZ_CHECK(rc == 0, "tlsio_loop_post: %d", rc);
	S.post_seq++;
}

static void post_task(int i)
{
	struct ftask *ft = &S.tk[i];
	int rc;
	if (fz_freeing)
		return;
	ft->slot = i;
	ft->task.data = ft;
	rc = tlsio_loop_post_task(S.loop, &ft->task, task_cb);
	if (ft->pending) {
		FZ_CHECK(rc == -EALREADY, "posting pending task %d: %d, expected -EALREADY", i, rc);
	} else {
		FZ_CHECK(rc == 0, "posting task %d: %d", i, rc);
		ft->pending = 1;
		ft->seq = S.post_seq++;
	}
}

/* What a callback (of timer @p self, or of a task or a connection: -1) does: the low four
 * bits say what, the high four are an argument (@p self's "other" timer: self + 1 + arg; with
 * no self, slot arg is both). */
static void do_action(unsigned a, int self)
{
	unsigned op = a & 15, arg = (a >> 4) & 15;
	int other = self >= 0 ? (self + 1 + (int)arg) % NTIMERS : (int)(arg % NTIMERS);
	int me = self >= 0 ? self : other;
	switch (op) {
	case 1: /* free itself */
		timer_free(me);
		break;
	case 2: /* stop another */
		timer_stop(other);
		break;
	case 3: /* start another, due now: it fires in the next pass */
		timer_start(other, 0, 0);
		break;
	case 4: /* restart itself, due now */
		timer_start(me, 0, 0);
		break;
	case 5:
		timer_free(other);
		break;
	case 6: /* a task posted from here, which does arg when it runs */
		post(arg);
		break;
	case 7: /* an embedded task: -EALREADY if pending, also its own from its callback */
		post_task((int)(arg % NTASKS));
		break;
	case 8:
		timer_again(me);
		break;
	case 9: /* another, due in 0 to 3 ms, repeating every 0 to 3 */
		timer_start(other, arg & 3, arg >> 2);
		break;
	case 10: /* a callback that takes time */
		fz_clock += 1 + (arg & 3);
		break;
	case 11:
		timer_stop(me);
		break;
	case 12: /* the connection, from a timer or a task (as FC_REENTER's actions 0-7) */
		if (S.c != NULL && !S.in_close && !fz_freeing) {
			S.action = (int)(arg % 8);
			reenter(S.c);
		}
		break;
	case 13: /* the loop from inside its own run */
		if (S.in_run && !fz_freeing) {
			int rc = tlsio_loop_run(S.loop, TLSIO_RUN_NOWAIT);
			FZ_CHECK(rc == -EBUSY, "a nested tlsio_loop_run: %d, expected -EBUSY", rc);
		}
		break;
	case 14:
		timer_ref(other, arg & 1);
		break;
	case 15: /* another freed and made again, due in 0 to 3 ms */
		timer_free(other);
		timer_start(other, arg & 3, 0);
		break;
	}
}

static void cb_action(unsigned a, int self)
{
	if ((a & 15) == 0 || S.budget == 0)
		return;
	S.budget--;
	do_action(a, self);
}

static void conn_cb_action(void)
{
	unsigned a = S.conn_action;
	S.conn_action = 0;
	cb_action(a, -1);
}

static void timer_cb(tlsio_timer *t, void *user)
{
	struct ftimer *ft = user;
	uint64_t now = tlsio_loop_now(S.loop);
	FZ_CHECK(ft >= S.tm && ft < S.tm + NTIMERS && ft->t == t, "a callback for a timer not made");
	FZ_CHECK(!fz_freeing, "timer %d fired in tlsio_loop_free", ft->slot);
	FZ_CHECK(S.in_run, "timer %d fired outside a run", ft->slot);
	FZ_CHECK(ft->armed, "timer %d fired while stopped (or a second time for one start)", ft->slot);
	FZ_CHECK(pass.seen && now >= ft->due && pass.now >= ft->due,
	         "timer %d fired at %llu, due at %llu", ft->slot, (unsigned long long)now,
	         (unsigned long long)ft->due);
	/* also one started again to the time it had: every start is a new one (tlsio.h) */
	FZ_CHECK(!started_in_this_pass(ft), "timer %d fired in the pass it was started in", ft->slot);
	if (S.fired_any) {
		FZ_CHECK(ft->due > S.last_fire_due ||
		             (ft->due == S.last_fire_due && ft->order > S.last_fire_order),
		         "timer %d (due %llu, start %llu) fired after one due %llu (start %llu)",
		         ft->slot, (unsigned long long)ft->due, (unsigned long long)ft->order,
		         (unsigned long long)S.last_fire_due, (unsigned long long)S.last_fire_order);
	}
	S.fired_any = 1;
	S.last_fire_due = ft->due;
	S.last_fire_order = ft->order;
	if (ft->repeat != 0) {
		/* the library's rule: keep the period; after a stall, go on from the pass's time */
		uint64_t next = ft->due + ft->repeat;
		if (next <= pass.now)
			next = pass.now + ft->repeat;
		ft->due = next;
		ft->order = ++S.order;
		ft->epoch = pass.epoch;
		ft->in_pass = 1;
	} else {
		ft->armed = 0;
	}
	check_timer(ft);
	pass.depth++;
	cb_action(ft->action, ft->slot);
	pass.depth--;
}

static void stopper_cb(tlsio_timer *t, void *user)
{
	(void)t;
	(void)user;
	FZ_CHECK(!fz_freeing, "the stop timer fired in tlsio_loop_free");
	S.stopper_fired = 1;
	tlsio_loop_stop(S.loop);
}

static int referenced_timer_started(void)
{
	for (int i = 0; i < NTIMERS; i++)
		if (S.tm[i].t != NULL && S.tm[i].armed && S.tm[i].ref)
			return 1;
	return 0;
}

/* tlsio_loop_run(TLSIO_RUN_DEFAULT) with a stop @p ms from now (an unreferenced timer): the
 * backend's waits move the clock (fb_run_once). */
static void run_until(unsigned ms)
{
	uint64_t posted = S.post_seq, stop_at = fz_clock + ms;
	int rc;
	if (S.stopper == NULL)
		FZ_CHECK(tlsio_timer_new(S.loop, stopper_cb, NULL, &S.stopper) == 0, "stop timer");
	FZ_CHECK(tlsio_timer_start(S.stopper, ms, 0) == 0, "stop timer start");
	S.stopper_fired = 0;
	S.default_turns = 0;
	S.in_run = S.in_default = 1;
	rc = tlsio_loop_run(S.loop, TLSIO_RUN_DEFAULT);
	S.in_run = S.in_default = 0;
	FZ_CHECK(rc == 0, "tlsio_loop_run(TLSIO_RUN_DEFAULT): %d", rc);
	FZ_CHECK(S.run_seq >= posted, "tasks posted before a run did not run in it");
	if (S.stopper_fired) {
		FZ_CHECK(fz_clock >= stop_at, "stopped at %llu, before %llu",
		         (unsigned long long)fz_clock, (unsigned long long)stop_at);
	} else {
		tlsio_timer_stop(S.stopper);
		FZ_CHECK(tlsio_loop_conn_count(S.loop) == 0 && !referenced_timer_started() &&
		             S.run_seq == S.post_seq,
		         "a TLSIO_RUN_DEFAULT run ended with %zu connections, %s referenced timer, %llu "
		         "tasks left", tlsio_loop_conn_count(S.loop),
		         referenced_timer_started() ? "a" : "no",
		         (unsigned long long)(S.post_seq - S.run_seq));
	}
}

/* ------------------------------------------------------------------------------------------ */
/* operations */

/* Backend -> core calls are allowed while attached and until conn_close. */
static int io_ok(void)
{
	return S.c != NULL && !fb.closing;
}

static void run_loop(void)
{
	uint64_t posted = S.post_seq;
	S.in_run = 1;
	(void)tlsio_loop_run(S.loop, TLSIO_RUN_NOWAIT);
	S.in_run = 0;
	FZ_CHECK(S.run_seq >= posted, "tasks posted before a run did not run in it");
}

static size_t send_size(unsigned v)
{
	/* mostly up to 1 KiB, one in eight up to 28 KiB (past a record), one in 64 up to 320 KiB
	 * (past the 256 KiB encrypted ahead): real crypto makes every byte count, and a big send
	 * costs as much as a hundred small inputs */
	if ((v & 0xfc00) == 0xfc00)
		return (size_t)(v & 0x3ff) * 320;
	if ((v & 0xe000) == 0xe000)
		return (size_t)(v & 0x1fff) * 4;
	return v & 0x3ff;
}

static void app_send(unsigned kind, size_t len)
{
	size_t before, off = S.sent_len;
	uint8_t *buf;
	struct req *q = NULL;
	int rc;
	if (S.c == NULL || S.sent_len + len > MODEL_MAX || S.nreqs == MAX_REQS)
		return;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		abort();
	memcpy(buf, fz_pattern_at(off, len), len);
	before = tlsio_conn_queued(S.c);
	if (kind == 0) {
		rc = tlsio_send(S.c, buf, len);
	} else {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			abort();
		q->id = S.nreqs;
		q->end = off + len;
		if (kind == 1)
			q->buf = buf; /* by reference */
		rc = tlsio_send_ex(S.c, &q->r, buf, len, kind == 1 ? TLSIO_SEND_REF : 0, on_sent_cb);
	}
	FZ_CHECK(rc == 0 || rc == TLSIO_E_QUEUE_FULL || rc == TLSIO_E_CLOSED, "send: %d", rc);
	if (rc == 0) {
		FZ_CHECK(tlsio_conn_queued(S.c) == before + len, "send of %zu: queued %zu -> %zu", len,
		         before, tlsio_conn_queued(S.c));
		memcpy(S.sent + off, buf, len);
		S.sent_len += len;
		if (q != NULL)
			S.reqs[S.nreqs++] = q;
	} else {
		if (rc == TLSIO_E_QUEUE_FULL)
			FZ_CHECK(before >= S.high, "refused with %zu queued, high water %zu", before, S.high);
		FZ_CHECK(tlsio_conn_queued(S.c) == before, "a refused send queued something");
		free(q);
		q = NULL;
	}
	if (q == NULL || kind != 1) {
		memset(buf, 0xa5, len); /* copied: the caller may reuse it at once */
		free(buf);
	}
}

/* The kernel takes up to @p n of the victim's ciphertext bytes. */
static void kernel_takes(size_t n)
{
	struct iovec iov[16];
	size_t k, moved = 0;
	if (!io_ok())
		return;
	if (n > tlsio__conn_out_len(S.c))
		n = tlsio__conn_out_len(S.c);
	if (n == 0)
		return;
	k = tlsio__conn_out_iov(S.c, 0, iov, 16);
	for (size_t i = 0; i < k && moved < n; i++) {
		size_t m = iov[i].iov_len < n - moved ? iov[i].iov_len : n - moved;
		fz_buf_put(&S.wire, iov[i].iov_base, m);
		moved += m;
	}
	tlsio__conn_on_sent(S.c, moved);
}

/* The peer reads what reached it, and answers the handshake. */
static void peer_step(void)
{
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	if (fz_buf_avail(&S.wire) > 0) {
		if (tlsio__tls_feed(S.p, fz_buf_data(&S.wire), fz_buf_avail(&S.wire)) != 0)
			abort();
		fz_buf_clear(&S.wire);
	}
	if (S.p_hs == 0) {
		S.p_hs = tlsio__tls_handshake(S.p);
		if (S.p_hs == TLSIO__TLS_HELLO)
			abort(); /* the peer never inspects */
		if (S.p_hs < 0)
			S.p_err = S.p_hs;
		if (S.p_hs == 1)
			fz_check_resumed(S.p, var);
	}
	while (S.p_hs == 1 && !S.p_closed && S.p_err == 0) {
		int n = tlsio__tls_read(S.p, buf, sizeof(buf));
		if (n > 0) {
			FZ_CHECK(S.p_got + (size_t)n <= S.sent_len &&
			             memcmp(buf, S.sent + S.p_got, (size_t)n) == 0,
			         "the peer read %d bytes at %zu that the application did not send there "
			         "(%zu sent)", n, S.p_got, S.sent_len);
			S.p_got += (size_t)n;
		} else if (n == TLSIO__TLS_CLOSED) {
			S.p_closed = 1;
		} else {
			if (n < 0)
				S.p_err = n;
			break;
		}
	}
}

/* The peer writes @p len bytes: u8 n, then n bytes of the input, the rest from a pattern. */
static void peer_write(struct fz_in *in, size_t len)
{
	size_t have = fz_u8(in), before = fz_buf_avail(&S.p_out);
	const uint8_t *src;
	if (have > len)
		have = len;
	src = fz_bytes(in, &have);
	uint8_t *dst;
	if (S.p_hs != 1 || S.p_err != 0 || S.p_notify_sent || S.p_sent_len + len > MODEL_MAX)
		return;
	dst = S.p_sent + S.p_sent_len;
	memcpy(dst + have, fz_pattern_at(S.p_sent_len + have, len - have), len - have);
	memcpy(dst, src, have);
	if (tlsio__tls_write(S.p, dst, len) == 0) {
		S.p_sent_len += len;
		fz_buf_clear(&S.last_rec);
		fz_buf_put(&S.last_rec, fz_buf_data(&S.p_out) + before, fz_buf_avail(&S.p_out) - before);
	}
}

/* The victim's socket gets up to @p n of the peer's bytes. */
static void deliver(size_t n, int even_if_paused)
{
	if (!io_ok() || (!fb.reading && !even_if_paused))
		return;
	if (n > fz_buf_avail(&S.p_out))
		n = fz_buf_avail(&S.p_out);
	if (n == 0)
		return;
	/* a copy: the core must not keep pointers into the backend's read buffer */
	{
		uint8_t *tmp = malloc(n);
		if (tmp == NULL)
			abort();
		memcpy(tmp, fz_buf_data(&S.p_out), n);
		fz_buf_take(&S.p_out, n);
		tlsio__conn_on_recv(S.c, tmp, n);
		free(tmp);
	}
}

static void tamper(struct fz_in *in)
{
	switch (fz_u8(in) % 5) {
	case 0: { /* raw bytes */
		size_t n = fz_u8(in);
		const uint8_t *p = fz_bytes(in, &n);
		fz_buf_put(&S.p_out, p, n);
		break;
	}
	case 1: { /* a record with any header: type, version, length, n bytes of payload */
		uint8_t h[5];
		size_t len, n;
		const uint8_t *p;
		h[0] = (uint8_t)fz_u8(in);
		h[1] = (uint8_t)fz_u8(in);
		h[2] = (uint8_t)fz_u8(in);
		len = fz_u16(in);
		h[3] = (uint8_t)(len >> 8);
		h[4] = (uint8_t)len;
		n = fz_u8(in);
		if (n > len)
			n = len;
		p = fz_bytes(in, &n);
		fz_buf_put(&S.p_out, h, 5);
		fz_buf_put(&S.p_out, p, n);
		fz_buf_put(&S.p_out, fz_pattern_at(n, len - n), len - n);
		break;
	}
	case 2: { /* flip bits of an undelivered byte */
		size_t off = fz_u16(in);
		uint8_t mask = (uint8_t)(fz_u8(in) | 1);
		if (fz_buf_avail(&S.p_out) > 0)
			fz_buf_data(&S.p_out)[off % fz_buf_avail(&S.p_out)] ^= mask;
		break;
	}
	case 3: { /* drop undelivered bytes */
		size_t off = fz_u16(in), n = fz_u8(in) + 1;
		if (fz_buf_avail(&S.p_out) > 0)
			fz_buf_drop(&S.p_out, off % fz_buf_avail(&S.p_out), n);
		break;
	}
	case 4: /* the peer's last record again */
		fz_buf_put(&S.p_out, fz_buf_data(&S.last_rec), fz_buf_avail(&S.last_rec));
		break;
	}
}

/* Bytes on their way: the victim's unsent ciphertext, the wire to the peer, the peer's output. */
static size_t in_flight(void)
{
	return fz_buf_avail(&S.wire) + fz_buf_avail(&S.p_out) + (S.c ? tlsio__conn_out_len(S.c) : 0);
}

/* Everything moves until nothing does: kernel, peer, delivery, loop. */
static void pump(void)
{
	for (int i = 0; i < 16; i++) {
		size_t before = in_flight();
		unsigned long fl = fb.flushes;
		run_loop();
		kernel_takes(SIZE_MAX);
		peer_step();
		deliver(SIZE_MAX, 0);
		run_loop();
		if (in_flight() == 0 && before == 0 && fl == fb.flushes)
			break;
	}
}

static void op(struct fz_in *in)
{
	unsigned code = fz_u8(in) % FC_COUNT;
	switch (code) {
	case FC_SEND:
		app_send(0, send_size(fz_u16(in)));
		break;
	case FC_SEND_REF:
		app_send(1, send_size(fz_u16(in)));
		break;
	case FC_SEND_COPY_CB:
		app_send(2, send_size(fz_u16(in)));
		break;
	case FC_KERNEL: {
		unsigned v = fz_u16(in);
		kernel_takes(v == 0xffff ? SIZE_MAX : v);
		break;
	}
	case FC_PEER_STEP:
		peer_step();
		break;
	case FC_PEER_WRITE:
		peer_write(in, fz_record_size(fz_u16(in)));
		break;
	case FC_DELIVER: {
		unsigned v = fz_u16(in);
		deliver((v & 0x7fff) == 0x7fff ? SIZE_MAX : (v & 0x7fff), v >> 15);
		break;
	}
	case FC_TAMPER:
		if (!S.handshake_done || S.p_hs != 1)
			S.hs_tampered = 1;
		tamper(in);
		break;
	case FC_PEER_CLOSE:
		if (S.p_hs == 1 && S.p_err == 0 && !S.p_notify_sent && tlsio__tls_close_notify(S.p) == 0)
			S.p_notify_sent = 1;
		break;
	case FC_PEER_POST_HS: {
		unsigned what = fz_u8(in);
		if (S.p_hs != 1 || S.p_err != 0 || S.p_notify_sent)
			break;
		if (what & 1)
			(void)wolfSSL_update_keys(S.p->ssl);
		else
			(void)wolfSSL_send_SessionTicket(S.p->ssl);
		break;
	}
	case FC_EOF:
		if (io_ok()) {
			S.eof_given = 1;
			tlsio__conn_on_eof(S.c);
		}
		break;
	case FC_ERROR:
		if (io_ok()) {
			S.reset_given = 1;
			tlsio__conn_on_error(S.c, (fz_u8(in) & 1) ? -ECONNRESET : -EPIPE);
		}
		break;
	case FC_CLOSE:
		if (S.c != NULL) {
			S.app_closed = 1;
			tlsio_close(S.c);
		}
		break;
	case FC_SHUTDOWN:
		if (S.c != NULL) {
			int rc = tlsio_shutdown(S.c);
			FZ_CHECK(rc == 0 || rc == TLSIO_E_CLOSED || rc == -ENOTCONN, "shutdown: %d", rc);
		}
		break;
	case FC_ABORT:
		if (S.c != NULL) {
			S.app_closed = 1;
			S.aborted = 1;
			tlsio_abort(S.c);
		}
		break;
	case FC_READ_STOP:
		if (S.c != NULL)
			tlsio_read_stop(S.c);
		break;
	case FC_READ_START:
		if (S.c != NULL)
			tlsio_read_start(S.c);
		break;
	case FC_WATERMARKS: {
		size_t low = (size_t)fz_u16(in) * 16, high = (size_t)fz_u16(in) * 64;
		if (S.c != NULL) {
			tlsio_conn_set_watermarks(S.c, low, high);
			S.low = low;
			S.high = high ? high : DEFAULT_HIGH_WATER;
		}
		break;
	}
	case FC_REENTER:
		S.action = (int)(fz_u8(in) % 9);
		break;
	case FC_BATCH:
		S.batch = !S.batch;
		break;
	case FC_LOOP:
		run_loop();
		break;
	case FC_PUMP:
		pump();
		break;
	case FC_TIMER_NEW:
		timer_make((int)(fz_u8(in) % NTIMERS));
		break;
	case FC_TIMER_START: {
		int i = (int)(fz_u8(in) % NTIMERS);
		unsigned tv = fz_u8(in), rv = fz_u8(in);
		/* 0 to 15 ms; repeating every 1 to 8 ms if bit 3 is set; 0xff: past the limit */
		uint64_t timeout = tv == 0xff ? TIMER_MAX_MS + 1 : tv & 0x0f;
		uint64_t repeat = rv == 0xff ? TIMER_MAX_MS + 1 : (rv & 8) ? 1 + (rv & 7) : 0;
		timer_start(i, timeout, repeat);
		break;
	}
	case FC_TIMER_STOP:
		timer_stop((int)(fz_u8(in) % NTIMERS));
		break;
	case FC_TIMER_AGAIN:
		timer_again((int)(fz_u8(in) % NTIMERS));
		break;
	case FC_TIMER_FREE:
		timer_free((int)(fz_u8(in) % NTIMERS));
		break;
	case FC_TIMER_REF: {
		unsigned v = fz_u8(in);
		timer_ref((int)(v % NTIMERS), (int)(v >> 7));
		break;
	}
	case FC_TIMER_ACTION: {
		int i = (int)(fz_u8(in) % NTIMERS);
		S.tm[i].action = fz_u8(in);
		break;
	}
	case FC_CONN_ACTION:
		S.conn_action = fz_u8(in);
		break;
	case FC_POST:
		post(fz_u8(in) & 15);
		break;
	case FC_POST_TASK:
		post_task((int)(fz_u8(in) % NTASKS));
		break;
	case FC_TASK_ACTION: {
		int i = (int)(fz_u8(in) % NTASKS);
		S.tk[i].action = fz_u8(in);
		break;
	}
	case FC_CLOCK:
		fz_clock += fz_u8(in) & 0x1f;
		break;
	case FC_RUN_UNTIL:
		run_until(fz_u8(in) & 0x1f);
		break;
	case FC_POST_AT_FREE:
		S.posts_at_free = fz_u8(in);
		break;
	}
	check_timers();
	if (!S.batch)
		run_loop();
}

/* ------------------------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_sessions_init();
	S.sent = malloc(MODEL_MAX);
	S.p_sent = malloc(MODEL_MAX);
	if (S.sent == NULL || S.p_sent == NULL)
		abort();
	return 0;
}

static int local_tls_failure(int status)
{
	return status == TLSIO_E_TLS || status == TLSIO_E_VERSION || status == TLSIO_E_CERT_VERIFY ||
	       status == TLSIO_E_REFUSED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	unsigned mode = fz_u8(&in);
	tlsio_callbacks cb = cbs_all;
	tlsio_conn_opts opts = TLSIO_CONN_OPTS_INIT;
	tlsio_tls_config *vcfg;
	uint8_t *keep_sent = S.sent, *keep_psent = S.p_sent;
	struct fz_buf keep_out = S.p_out, keep_last = S.last_rec, keep_wire = S.wire;
	int fd, rc, p_stopped;

	memset(&S, 0, sizeof(S));
	memset(&fb, 0, sizeof(fb));
	fz_clock = 1000000; /* any time but 0, which the core's deadlines read as "none" */
	fz_freeing = 0;
	memset(&pass, 0, sizeof(pass));
	S.budget = CB_BUDGET;
	S.sent = keep_sent;
	S.p_sent = keep_psent;
	S.p_out = keep_out;
	fz_buf_clear(&S.p_out);
	S.last_rec = keep_last;
	fz_buf_clear(&S.last_rec);
	S.wire = keep_wire;
	fz_buf_clear(&S.wire);
	S.victim_server = mode & 1;
	fb.defer_close = (mode >> 1) & 1;
	var = &fz_vars[(mode >> 4) % FZ_NVARS];
	S.high = DEFAULT_HIGH_WATER;
	if (!(mode & 4))
		cb.on_client_hello = NULL;
	if (!(mode & 8))
		cb.on_peer_close = NULL;
	opts.cb = &cb;
	opts.linger_ms = UINT32_MAX; /* deadlines never fire within an input: runs stay deterministic */
	opts.server_name = "localhost";

	fz_rng_reset(7);
	if (tlsio_loop_new(&S.loop, &fake_backend) != 0)
		abort();
	vcfg = S.victim_server ? var->srv : fz_cli_cfg;
	if (tlsio__tls_new(&S.p, S.victim_server ? fz_cli_cfg : var->srv, "localhost", fz_out, &S.p_out) != 0)
		abort();
	if (S.victim_server)
		fz_client_prepare(S.p, var);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC); /* the core closes it; no socket calls succeed */
	if (fd < 0)
		abort();
	rc = tlsio_conn_adopt(S.loop, fd, S.victim_server, vcfg, &opts, &S.c);
	FZ_CHECK(rc == 0, "adopt: %d", rc);
	if (S.victim_server)
		peer_step(); /* the ClientHello */
	run_loop();

	while (in.n > 0)
		op(&in);

	/* The end: everything drains, then the victim's socket sees EOF, then the loop goes. */
	S.batch = 0;
	S.action = 0;
	pump();
	if (io_ok()) {
		S.eof_given = 1;
		tlsio__conn_on_eof(S.c);
		run_loop();
		pump();
	}
	peer_step();
	p_stopped = S.p_closed || S.p_err != 0;

	if (S.closes > 0) {
		int st = S.close_status;
		FZ_CHECK(st != 0 || S.p_notify_sent, "status 0 without the peer's close_notify");
		FZ_CHECK(st != TLSIO_E_TRUNCATED || S.eof_given, "truncation reported before EOF");
		FZ_CHECK(st != TLSIO_E_ALERT_RECEIVED || S.p_err != 0,
		         "alert %d reported as received, but the peer sent none", S.close_alert);
		FZ_CHECK(st != TLSIO_E_ABORTED || S.aborted, "aborted, but nobody aborted");
		FZ_CHECK(st == 0 || st == TLSIO_E_TLS || st == TLSIO_E_ALERT_RECEIVED ||
		             st == TLSIO_E_TRUNCATED || st == TLSIO_E_CLOSED || st == TLSIO_E_ABORTED ||
		             st == TLSIO_E_EOF_IN_HANDSHAKE || st == TLSIO_E_REFUSED || st == -ECONNRESET ||
		             st == -EPIPE || st == TLSIO_E_VERSION || st == TLSIO_E_CERT_VERIFY,
		         "on_close status %d (%s)", st, tlsio_strerror(st));
		FZ_CHECK((st != TLSIO_E_VERSION && st != TLSIO_E_EOF_IN_HANDSHAKE) || !S.handshake_done,
		         "status %d (%s) after the handshake", st, tlsio_strerror(st));
		/* C5: its own fatal error went out as an alert, and the peer read that alert (where
		 * wolfSSL sent none, the gap is listed: fz_c5_gap) */
		if (local_tls_failure(st) && S.close_alert == TLSIO_ALERT_NONE)
			fz_c5_gap(S.victim_server ? "server" : "client",
			          S.handshake_done ? "after the handshake" : "handshake", S.close_tls_err, st);
		if (local_tls_failure(st) && S.close_alert != TLSIO_ALERT_NONE && S.close_failing_flushed) {
			if (S.p_err == TLSIO_E_ALERT_RECEIVED)
				FZ_CHECK(tlsio__tls_alert(S.p) == S.close_alert, "sent alert %d, the peer got %d",
				         S.close_alert, tlsio__tls_alert(S.p));
			else if (S.handshake_done)
				FZ_CHECK(S.p_closed, "failed with alert %d (wolfSSL error %d), all sent, but the "
				         "peer got none (its status %d, wolfSSL error %d)", S.close_alert,
				         S.close_tls_err, S.p_err, tlsio__tls_last_error(S.p));
			else /* mid-handshake the two may protect records differently (a TLS 1.3 client
			      * that failed before the ServerHello alerts in plaintext, the server that
			      * sent it expects them encrypted): the peer must at least have stopped */
				FZ_CHECK(S.p_err != 0, "failed in the handshake with alert %d (wolfSSL error "
				         "%d), all sent, but the peer goes on", S.close_alert, S.close_tls_err);
		}
		/* C6: a graceful close that shut the write side delivered everything, then close_notify */
		if (S.close_wr_shut && S.p_err == 0)
			FZ_CHECK(S.p_closed && S.p_got == S.sent_len,
			         "closed gracefully, but the peer got %zu of %zu bytes%s", S.p_got, S.sent_len,
			         S.p_closed ? "" : " and no close_notify");
	}
	/* C2: a completion with status 0 means its bytes reached the peer */
	FZ_CHECK(S.p_err != 0 || S.p_got >= S.ok_end, "completed %llu bytes, the peer read %zu",
	         (unsigned long long)S.ok_end, S.p_got);
	FZ_CHECK(S.p_err == 0 || S.p_err == TLSIO_E_ALERT_RECEIVED || S.hs_tampered ||
	             (S.closes > 0 && !S.handshake_done && local_tls_failure(S.close_status)),
	         "the peer failed (%d, wolfSSL error %d) on what the victim sent", S.p_err,
	         tlsio__tls_last_error(S.p));

	/* tasks still pending when the loop goes: they run there, with TLSIO_E_ABORTED */
	for (unsigned i = 0; i < (S.posts_at_free & 3); i++)
		post(6 | i << 4); /* would post again, if it ran with status 0 */
	for (int i = 0; i < NTASKS; i++)
		if ((S.posts_at_free >> (2 + i)) & 1)
			post_task(i);
	fz_freeing = 1;
	tlsio_loop_free(S.loop); /* frees the timers left */
	FZ_CHECK(S.run_seq == S.post_seq, "%llu tasks never ran",
	         (unsigned long long)(S.post_seq - S.run_seq));
	for (int i = 0; i < NTASKS; i++)
		FZ_CHECK(!S.tk[i].pending, "embedded task %d still pending after tlsio_loop_free", i);
	FZ_CHECK(S.closes == 1, "on_close %d times", S.closes);
	FZ_CHECK(S.next_done == S.nreqs, "%d completions never fired", S.nreqs - S.next_done);
	for (int i = 0; i < S.nreqs; i++)
		free(S.reqs[i]);
	tlsio__tls_free(S.p);
	return 0;
}
