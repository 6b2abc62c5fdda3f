/* SPDX-License-Identifier: MIT */
/* libuv backend: connections driven by uv_poll_t handles, on a uv_loop_t of our own or on one
 * the application owns and runs with uv_run() (api/tlsio-uv.h).
 *
 * Why uv_poll_t and not uv_tcp_t (measured: bench/uv-write.c, README "libuv"):
 * - With uv_poll_t the socket stays ours: the same sendmsg/recv loops as epoll and libev
 *   (backends/sockio.c), so the order and short-write contract is the one already proven there,
 *   the fault shim (api/sys.c) reaches every syscall, and a ciphertext byte is copied once (from
 *   the core's queue into the kernel).
 * - uv_tcp_t owns the fd and its write queue. uv_try_write + uv_write keeps the order too (libuv
 *   queues write requests in call order and resumes a short write itself), but each uv_write
 *   needs its buffers stable until its callback: the core's queue would have to pin every range
 *   it hands over until libuv reports it, a second in-flight bookkeeping next to ours, and the
 *   shim could not inject a short write or EAGAIN into libuv's own writev. Reads would come
 *   through libuv's alloc/read callbacks, which read until EAGAIN (no budget per connection).
 *
 * Kernel notes (and libuv's):
 * - libuv's epoll is level-triggered, uv_poll_t included (libuv never sets EPOLLET on a watcher):
 *   as with libev, a read or write cut short by its budget is reported again on the next
 *   iteration, and an EAGAIN injected by the fault shim needs no owed edge.
 * - uv_poll_start() on an active handle changes its events; libuv applies the change with one
 *   epoll_ctl before its next wait. The mask follows what the core wants (UV_READABLE while
 *   tlsio__conn_wants_read, UV_WRITABLE only while connecting or after a write hit EAGAIN or
 *   its budget) and is re-synced after every callback into the core.
 * - EPOLLERR makes libuv stop the poll handle and call back with status UV_EBADF (uv__poll_io).
 *   For a connection that is the socket's pending error (a reset, a refused connect): we read
 *   and write as if ready, which surfaces it through recv/sendmsg (or SO_ERROR while
 *   connecting), and restart the handle if the connection lives on.
 * - uv_poll_stop() removes the fd from libuv's epoll set at once (uv__platform_invalidate_fd,
 *   which also drops its events still pending in this iteration), so the core may close the fd
 *   right after conn_close. The handle's memory lives until its uv_close callback.
 * - uv_close() completes in a later loop iteration. Every handle we open is counted; the loop's
 *   state is freed by the last close callback. On our own loop tlsio_loop_free() runs it until
 *   they are done and uv_loop_close() succeeds; on the application's loop its next uv_run()
 *   iteration finishes them, after which uv_loop_close() returns 0 (tests/test-libuv.c).
 * - What keeps the application's uv_run() going: the wake handle (uv_async_t) is referenced
 *   exactly while the core has connections or listeners (up to their on_close), referenced
 *   timers and watches, a drain or pending tasks (tlsio__loop_alive, kept current by the core's
 *   alive_changed; a task posted from another thread or a signal handler cannot take the
 *   reference: uv_ref is not thread- or signal-safe, so it runs when the loop goes round); every
 *   other handle of ours is unreferenced. uv_run() checks whether the loop is alive before its
 *   first iteration, so unlike libev's one iteration this must be right before uv_run() starts.
 * - Deadlines: one uv_timer_t, re-armed after each pass of the core, in libuv's ms clock
 *   (uv_update_time() first: a long callback makes the cached loop time stale).
 * - Passes on the application's loop: uv_prepare_t before the wait, uv_check_t after the I/O
 *   callbacks, and the deadline timer. libuv runs every prepare and check handle once per
 *   iteration, after (check) and before (prepare) all I/O callbacks, so no priorities needed.
 * - uv_async_send() is safe from other threads and signal handlers (libuv's documentation).
 * - uv_poll_init() sets O_NONBLOCK on the fd; an application's watched fd gets its flags back.
 * - libuv aborts on a failing epoll_ctl/epoll_wait (its policy; a library cannot change it).
 * - libuv's loop is not reentrant: uv_run() must not be called from a callback (its rule, so
 *   reads need no nested-loop buffer as libev's do).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uv.h>

#include "backend.h"
#include "sockio.h"
#include "sys.h"
#include "tlsio-uv.h"

#define READ_BUDGET (1u << 20)
#define WRITE_BUDGET (1u << 20)

struct uloop;

struct unode {
	uv_poll_t poll;
	struct uloop *e;
	tlsio_conn *c;
	tlsio_listener *l;
	tlsio_watch *w;
	struct unode *prev, *next; /* open nodes, for loop_free */
	int events;                /* what the poll handle waits for (0: stopped) */
	unsigned connecting : 1, want_write : 1, dead : 1;
};

struct uloop {
	uv_loop_t *uvl;
	tlsio_loop *loop;
	int app;           /* the application owns uvl and runs it */
	int freeing;       /* tlsio_loop_free() was called: the last close callback frees us */
	size_t open;       /* handles of ours not yet through their close callback */
	struct unode *nodes;
	uv_async_t wake;   /* also what keeps the application's uv_run() going (keep_sync) */
	uv_prepare_t prepare;
	uv_check_t check;
	uv_timer_t deadline; /* the core's next deadline (application's loop) */
	uv_timer_t tmo;      /* run_once's timeout (our own loop) */
	uv_loop_t own;
	char info[96];
	uint8_t buf[64 * 1024];
};

/* tlsio_loop_new_uv hands the application's loop to loop_init through the core's
 * tlsio_loop_new, whose backend interface has no argument for it. */
static _Thread_local uv_loop_t *adopt_uvl;

static int luv_probe(const char **why)
{
	uv_loop_t probe;
	if ((uv_version() >> 16) != UV_VERSION_MAJOR) {
		*why = "libuv's run-time major version differs from the one compiled against";
		return TLSIO_E_BACKEND_UNAVAILABLE;
	}
	if (uv_loop_init(&probe) != 0) {
		*why = "uv_loop_init failed (no epoll or eventfd here)";
		return TLSIO_E_BACKEND_UNAVAILABLE;
	}
	(void)uv_loop_close(&probe);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct uloop *e = h->data;
	if (--e->open == 0 && e->freeing)
		free(e);
}

static void node_closed(uv_handle_t *h)
{
	struct unode *n = (struct unode *)h;
	struct uloop *e = n->e;
	free(n);
	if (--e->open == 0 && e->freeing)
		free(e);
}

/* The application's uv_run() goes on while the core would keep tlsio_loop_run() going. */
static void keep_sync(struct uloop *e)
{
	if (!e->app || e->freeing)
		return;
	if (tlsio__loop_alive(e->loop))
		uv_ref((uv_handle_t *)&e->wake);
	else
		uv_unref((uv_handle_t *)&e->wake);
}

static void deadline_cb(uv_timer_t *t);

static void arm_deadline(struct uloop *e, int ms)
{
	if (ms < 0) {
		uv_timer_stop(&e->deadline);
		return;
	}
	uv_update_time(e->uvl);
	uv_timer_start(&e->deadline, deadline_cb, (uint64_t)ms, 0);
}

/* The core's deferred work: deadlines, pending connections, finalization, then re-arm. */
static void core_work(struct uloop *e)
{
	int ms = tlsio__loop_process(e->loop);
	keep_sync(e);
	arm_deadline(e, ms);
	/* tlsio_loop_stop() or a drain's end: on the application's loop, that ends its uv_run */
	if (tlsio__loop_take_stop(e->loop))
		uv_stop(e->uvl);
}

/* prepare and check run on the application's loop only: on our own, tlsio_loop_run does the
 * core's work around run_once */
static void prepare_cb(uv_prepare_t *p)
{
	tlsio__fault_drop_owed(); /* level-triggered: see the notes */
	core_work(p->data);
}

static void check_cb(uv_check_t *c)
{
	core_work(c->data);
}

static void deadline_cb(uv_timer_t *t)
{
	core_work(t->data);
}

static void wake_cb(uv_async_t *a)
{
	/* Nothing to do: the wakeup itself ends a blocking uv_run iteration. */
	(void)a;
}

static void tmo_cb(uv_timer_t *t)
{
	(void)t;
}

static const char *uv_backend_kind(void)
{
#ifdef __linux__
	return "epoll";
#else
	return "native";
#endif
}

static int luv_loop_init(tlsio_loop *loop)
{
	struct uloop *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->loop = loop;
	if (adopt_uvl != NULL) {
		e->uvl = adopt_uvl;
		e->app = 1;
	} else {
		int rc = uv_loop_init(&e->own);
		if (rc != 0) {
			free(e);
			return rc == UV_ENOMEM ? -ENOMEM : TLSIO_E_BACKEND_UNAVAILABLE;
		}
		e->uvl = &e->own;
	}
	snprintf(e->info, sizeof(e->info), "libuv %s (%s, backend %s)", uv_version_string(),
	         e->app ? "application loop" : "own loop", uv_backend_kind());

	/* uv_async_init, uv_prepare_init, uv_check_init and uv_timer_init cannot fail on a live
	 * loop (libuv: they only link the handle; the async's eventfd exists since uv_loop_init) */
	(void)uv_async_init(e->uvl, &e->wake, wake_cb);
	(void)uv_prepare_init(e->uvl, &e->prepare);
	(void)uv_check_init(e->uvl, &e->check);
	(void)uv_timer_init(e->uvl, &e->deadline);
	(void)uv_timer_init(e->uvl, &e->tmo);
	e->wake.data = e->prepare.data = e->check.data = e->deadline.data = e->tmo.data = e;
	e->open = 5;
	uv_unref((uv_handle_t *)&e->prepare);
	uv_unref((uv_handle_t *)&e->check);
	uv_unref((uv_handle_t *)&e->deadline);
	uv_unref((uv_handle_t *)&e->tmo);
	if (e->app) {
		(void)uv_prepare_start(&e->prepare, prepare_cb);
		(void)uv_check_start(&e->check, check_cb);
	}
	/* our own loop: the wake handle keeps run_once waiting like the other backends' waits;
	 * the application's: only while the core has something (keep_sync) */
	tlsio__loop_set_bdata(loop, e);
	keep_sync(e);
	return 0;
}

static void node_close(struct unode *n)
{
	struct uloop *e = n->e;
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		e->nodes = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	n->dead = 1;
	n->c = NULL;
	n->l = NULL;
	n->w = NULL;
	uv_close((uv_handle_t *)&n->poll, node_closed); /* stops it: the fd may be closed now */
}

static void luv_loop_free(tlsio_loop *loop)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	while (e->nodes != NULL)
		node_close(e->nodes);
	uv_close((uv_handle_t *)&e->wake, handle_closed);
	uv_close((uv_handle_t *)&e->prepare, handle_closed);
	uv_close((uv_handle_t *)&e->check, handle_closed);
	uv_close((uv_handle_t *)&e->deadline, handle_closed);
	uv_close((uv_handle_t *)&e->tmo, handle_closed);
	if (e->app) {
		/* the application's next uv_run() iteration runs the close callbacks; the last one
		 * frees e */
		e->freeing = 1;
		return;
	}
	/* our own loop: nothing but closing handles is left, so this is one iteration */
	while (e->open > 0)
		(void)uv_run(&e->own, UV_RUN_NOWAIT);
	if (uv_loop_close(&e->own) != 0) {
		/* a handle of ours we lost track of (a bug): it still points into e, keep e */
		fprintf(stderr, "libtlsio: libuv backend: uv_loop_close: a handle is still open\n");
		return;
	}
	free(e);
}

/* uv_poll reports POLLHUP/POLLERR as readiness of what is watched (or as an error status); the
 * API reports a hang-up as such, as the other backends do, so ask poll(2) for the fd's state:
 * one call per watch event. */
static unsigned watch_revents(const struct unode *n, int status, int events)
{
	int fd = tlsio__watch_fd(n->w);
	unsigned want = tlsio__watch_events(n->w);
	struct pollfd p = {fd, (short)((want & TLSIO_READABLE ? POLLIN : 0) | (want & TLSIO_WRITABLE ? POLLOUT : 0)), 0};
	unsigned rev = (events & UV_READABLE ? TLSIO_READABLE : 0) | (events & UV_WRITABLE ? TLSIO_WRITABLE : 0);
	if (poll(&p, 1, 0) == 1)
		rev = (p.revents & POLLIN ? TLSIO_READABLE : 0) | (p.revents & POLLOUT ? TLSIO_WRITABLE : 0) |
		      (p.revents & (POLLHUP | POLLERR | POLLNVAL) ? TLSIO_HANGUP : 0);
	else if (status < 0)
		rev |= TLSIO_HANGUP;
	return rev;
}

static void poll_cb(uv_poll_t *h, int status, int events);

/* Make the handle wait for exactly @p want (0: stopped). */
static void poll_set(struct unode *n, int want)
{
	if (n->dead || (want == n->events && (want == 0 || uv_is_active((uv_handle_t *)&n->poll))))
		return;
	if (want == 0)
		(void)uv_poll_stop(&n->poll);
	else
		(void)uv_poll_start(&n->poll, want, poll_cb);
	n->events = want;
}

/* What the connection can use now. */
static void sync_events(struct unode *n)
{
	int want = 0;
	if (n->dead || n->c == NULL)
		return;
	if (n->connecting || n->want_write)
		want |= UV_WRITABLE;
	if (!n->connecting && tlsio__conn_wants_read(n->c))
		want |= UV_READABLE;
	poll_set(n, want);
}

static void do_write(struct unode *n)
{
	int r = tlsio__sock_write(n->c, WRITE_BUDGET);
	if (r == TLSIO__SOCK_GONE)
		return;
	/* AGAIN: wait for writability; MORE: writable, but let the others have their turn first */
	n->want_write = r == TLSIO__SOCK_AGAIN || r == TLSIO__SOCK_MORE;
}

static void conn_io(struct unode *n, int events)
{
	tlsio_conn *c = n->c;
	if (n->connecting) {
		if (!(events & UV_WRITABLE))
			return;
		n->connecting = 0;
		tlsio__conn_on_connected(c, -tlsio__sock_error(tlsio__conn_fd(c)));
		if (n->dead)
			return;
		events &= ~UV_WRITABLE; /* the core queues the ClientHello; its pump writes it */
	}
	if ((events & UV_WRITABLE) && tlsio__conn_out_len(c) > 0)
		do_write(n);
	else if (events & UV_WRITABLE)
		n->want_write = 0;
	if (n->dead)
		return;
	if (events & UV_READABLE)
		(void)tlsio__sock_read(c, n->e->buf, sizeof(n->e->buf), READ_BUDGET, 0, 0);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct unode *n = (struct unode *)h;
	if (n->dead)
		return;
	if (status < 0) {
		/* EPOLLERR: libuv stopped the handle (see the notes) */
		n->events = 0;
		events = n->w != NULL ? 0 : UV_READABLE | UV_WRITABLE;
	}
	if (n->w != NULL) {
		tlsio_watch *w = n->w;
		tlsio__watch_on_ready(w, watch_revents(n, status, events));
		/* level-triggered: a watch still asking is waited on again (and reported again) */
		if (!n->dead && status < 0) {
			unsigned ev = tlsio__watch_events(w);
			poll_set(n, (ev & TLSIO_READABLE ? UV_READABLE : 0) | (ev & TLSIO_WRITABLE ? UV_WRITABLE : 0));
		}
	} else if (n->l != NULL) {
		tlsio__sock_accept(n->l, 64); /* level-triggered: the rest comes again */
		if (!n->dead && status < 0)
			poll_set(n, UV_READABLE);
	} else if (n->c != NULL) {
		if (status < 0 && !n->connecting) {
			/* the pending error comes out of recv/sendmsg; if it does not, SO_ERROR has it */
			int err;
			if (tlsio__conn_out_len(n->c) > 0)
				n->want_write = 1;
			conn_io(n, events);
			if (n->dead)
				return;
			err = tlsio__sock_error(tlsio__conn_fd(n->c));
			if (err != 0) {
				tlsio__conn_on_error(n->c, -err);
				if (n->dead)
					return;
			}
		} else {
			conn_io(n, events);
		}
		sync_events(n);
	}
}

static struct unode *node_new(struct uloop *e, int fd, int *rc)
{
	struct unode *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = uv_poll_init(e->uvl, &n->poll, fd);
	if (*rc != 0) {
		free(n);
		return NULL;
	}
	n->e = e;
	n->poll.data = n;
	uv_unref((uv_handle_t *)&n->poll); /* what keeps a run going is keep_sync's */
	e->open++;
	n->next = e->nodes;
	if (e->nodes != NULL)
		e->nodes->prev = n;
	e->nodes = n;
	return n;
}

static int luv_listener_attach(tlsio_listener *l)
{
	struct uloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	int rc;
	struct unode *n = node_new(e, tlsio__listener_fd(l), &rc);
	if (n == NULL)
		return rc;
	n->l = l;
	poll_set(n, UV_READABLE);
	tlsio__listener_set_bdata(l, n);
	return 0; /* the core links it, then says so (alive_changed) */
}

static void luv_listener_detach(tlsio_listener *l)
{
	struct unode *n = tlsio__listener_bdata(l);
	if (n != NULL)
		node_close(n); /* the next pass gives the reference back (keep_sync) */
	tlsio__listener_set_bdata(l, NULL);
}

static int luv_conn_attach(tlsio_conn *c, int connecting)
{
	struct uloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	int rc;
	struct unode *n = node_new(e, tlsio__conn_fd(c), &rc);
	if (n == NULL)
		return rc;
	n->c = c;
	n->connecting = connecting;
	tlsio__conn_set_bdata(c, n);
	sync_events(n); /* the core holds the run from its creation to its finalization */
	return 0;
}

static void luv_conn_close(tlsio_conn *c)
{
	struct unode *n = tlsio__conn_bdata(c);
	if (n != NULL) {
		node_close(n);
		tlsio__conn_set_bdata(c, NULL);
	}
	tlsio__conn_closed(c);
}

static void luv_flush(tlsio_conn *c)
{
	struct unode *n = tlsio__conn_bdata(c);
	/* Waiting for writability already: the handle will say when writing can go on. */
	if (n == NULL || n->connecting || n->want_write)
		return;
	do_write(n);
	if (tlsio__conn_alive(c))
		sync_events(n);
}

static void luv_read_sync(tlsio_conn *c)
{
	struct unode *n = tlsio__conn_bdata(c);
	if (n != NULL)
		sync_events(n);
}

static void watch_sync(struct unode *n)
{
	unsigned ev = tlsio__watch_events(n->w);
	poll_set(n, (ev & TLSIO_READABLE ? UV_READABLE : 0) | (ev & TLSIO_WRITABLE ? UV_WRITABLE : 0));
}

static int luv_watch_attach(tlsio_watch *w)
{
	struct uloop *e = tlsio__loop_bdata(tlsio__watch_loop(w));
	int fd = tlsio__watch_fd(w), rc;
	int fl = fcntl(fd, F_GETFL);
	struct unode *n;
	if (fl < 0)
		return -errno;
	/* one handle per fd on a libuv loop: a second would silently take the first one's place */
	for (n = e->nodes; n != NULL; n = n->next)
		if (n->w != NULL && tlsio__watch_fd(n->w) == fd)
			return -EEXIST;
	n = node_new(e, fd, &rc);
	if (!(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl); /* uv_poll_init made it non-blocking: not ours to change */
	if (n == NULL)
		return rc;
	n->w = w;
	tlsio__watch_set_bdata(w, n);
	watch_sync(n);
	return 0;
}

static int luv_watch_update(tlsio_watch *w)
{
	watch_sync(tlsio__watch_bdata(w));
	return 0;
}

static void luv_watch_detach(tlsio_watch *w)
{
	struct unode *n = tlsio__watch_bdata(w);
	if (n != NULL)
		node_close(n);
	tlsio__watch_set_bdata(w, NULL);
}

static int luv_run_once(tlsio_loop *loop, int timeout_ms)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	tlsio__fault_drop_owed(); /* level-triggered: see the notes */
	if (timeout_ms > 0) {
		uv_update_time(e->uvl);
		uv_timer_start(&e->tmo, tmo_cb, (uint64_t)timeout_ms, 0);
	}
	(void)uv_run(e->uvl, timeout_ms == 0 ? UV_RUN_NOWAIT : UV_RUN_ONCE);
	uv_timer_stop(&e->tmo);
	return 0;
}

static void luv_wake(tlsio_loop *loop)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	(void)uv_async_send(&e->wake);
}

static const char *luv_info(const tlsio_loop *loop)
{
	const struct uloop *e = tlsio__loop_bdata(loop);
	return e->info;
}

static void luv_alive_changed(tlsio_loop *loop)
{
	keep_sync(tlsio__loop_bdata(loop));
}

const struct tlsio_backend tlsio__backend_libuv = {
	.name = "libuv",
	.probe = luv_probe,
	.loop_init = luv_loop_init,
	.loop_free = luv_loop_free,
	.run_once = luv_run_once,
	.wake = luv_wake,
	.listener_attach = luv_listener_attach,
	.listener_detach = luv_listener_detach,
	.conn_attach = luv_conn_attach,
	.conn_close = luv_conn_close,
	.flush = luv_flush,
	.read_start = luv_read_sync,
	.read_stop = luv_read_sync,
	.info = luv_info,
	.watch_attach = luv_watch_attach,
	.watch_update = luv_watch_update,
	.watch_detach = luv_watch_detach,
	.alive_changed = luv_alive_changed,
};

/* ---------------------------------------------------------------------------------------- */
/* public: api/tlsio-uv.h */

int tlsio_loop_new_uv(tlsio_loop **out, uv_loop_t *uvl)
{
	int rc;
	if (out == NULL || uvl == NULL) {
		if (out != NULL)
			*out = NULL;
		return -EINVAL;
	}
	adopt_uvl = uvl;
	rc = tlsio_loop_new(out, &tlsio__backend_libuv);
	adopt_uvl = NULL;
	return rc;
}

uv_loop_t *tlsio_loop_uv(const tlsio_loop *loop)
{
	if (loop == NULL || tlsio_loop_backend(loop) != &tlsio__backend_libuv)
		return NULL;
	return ((const struct uloop *)tlsio__loop_bdata(loop))->uvl;
}
