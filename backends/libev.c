/* SPDX-License-Identifier: MIT */
/* libev backend: connections driven by ev_io watchers, on an ev_loop of our own or on one the
 * application owns and runs (api/tlsio-ev.h).
 *
 * Kernel notes (and libev's):
 * - ev_io is level-triggered (libev's epoll backend does not use EPOLLET), so unlike the epoll
 *   backend nothing has to be drained to EAGAIN: a read or write cut short by its budget is
 *   simply reported again on the next iteration. The same holds for an EAGAIN injected by the
 *   test fault shim (api/sys.c): the socket is still ready, so the watcher fires again and no
 *   "owed edge" has to be delivered by hand (we just drop the shim's owed list).
 * - Level-triggered also means a watcher must not ask for a condition we will not consume, or
 *   the loop spins: one ev_io per connection, whose mask follows what the core wants (EV_READ
 *   while tlsio__conn_wants_read, EV_WRITE only while connecting or after a write hit EAGAIN
 *   or its budget). The mask is re-synced after every callback into the core; a missed change
 *   costs one wasted wakeup at most, since sock_read asks the core before each recv.
 * - libev applies watcher changes in fd_reify, once per iteration, so toggling EV_WRITE as the
 *   queue fills and empties costs at most one epoll_ctl per iteration.
 * - A watcher must be stopped before its fd is closed (libev cannot see a close, and a reused
 *   fd number would inherit stale interest): conn_close stops it; the core closes the fd later.
 * - Pending watchers of one priority run in reverse queueing order, so the ev_check that does
 *   the core's deferred work after I/O (pumping, finalization, deadlines) runs at EV_MINPRI:
 *   after the I/O callbacks of the same iteration. An ev_prepare does the same work before the
 *   loop blocks, for what the application queued from its own watchers or outside ev_run. Both
 *   only on the application's loop: on our own, tlsio_loop_run does that work around run_once,
 *   and doing it in the hooks as well would make one turn several passes over the deadlines.
 * - With the application's loop, the internal watchers are ev_unref'd: they must not keep
 *   ev_run going. Each connection and listener holds one reference instead, dropped only after
 *   the core has finalized the closed ones, so ev_run cannot return before an on_close.
 * - The application's fds (tlsio_watch) get an ev_io each, level-triggered as the API promises.
 *   Like the internal watchers, they and the core's deadline timer are ev_unref'd (and ev_ref'd
 *   again just before they stop, libev's rule): what keeps an application's ev_run going is
 *   the core's count of referenced timers and watches (tlsio__loop_refs), mirrored as that
 *   many references in core_work, which runs before ev_run decides to block or return.
 * - ev_async_send is safe from other threads and signal handlers (tlsio_loop_wake, and the
 *   wake-up of a posted task).
 * - libev treats a failing epoll_wait/epoll_ctl as fatal (ev_set_syserr_cb, process-wide); a
 *   library cannot take that over from the application, so we leave libev's policy alone.
 * - sendmsg(MSG_NOSIGNAL) (backends/sockio.c) stands in for writev: EPIPE, not SIGPIPE.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>

#include "backend.h"
#include "sockio.h"
#include "sys.h"
#include "tlsio-ev.h"

#define READ_BUDGET (1u << 20)
#define WRITE_BUDGET (1u << 20)
#define NESTED_READ_BUF (16u * 1024) /* see conn_io */

struct lloop;

struct lnode {
	ev_io io; /* first: the callback gets it back as the node */
	struct lloop *e;
	tlsio_conn *c;
	tlsio_listener *l;
	tlsio_watch *w;
	struct lnode *grave_next;
	unsigned connecting : 1, want_write : 1, dead : 1;
	unsigned unref_held : 1; /* a watch's ev_io gave its reference back (io_start_unref) */
};

struct lloop {
	struct ev_loop *evl;
	tlsio_loop *loop;
	int app;                 /* the application owns evl and runs it */
	int depth;               /* our callbacks on the stack (an app may nest ev_run) */
	unsigned refs_owed;      /* references of closed nodes, dropped after finalization */
	size_t refs_held;        /* references mirroring tlsio__loop_refs (application loop) */
	ev_async wake;
	ev_prepare prepare;
	ev_check check;
	ev_timer deadline;       /* the core's next deadline */
	ev_timer tmo;            /* run_once's timeout */
	struct lnode *graveyard; /* closed nodes, freed when no callback of ours is running */
	char info[96];
	uint8_t buf[64 * 1024];
};

/* tlsio_loop_new_ev hands the application's loop to loop_init through the core's
 * tlsio_loop_new, whose backend interface has no argument for it. */
static _Thread_local struct ev_loop *adopt_evl;

static int lev_probe(const char **why)
{
	struct ev_loop *evl;
	if (ev_version_major() != EV_VERSION_MAJOR) {
		*why = "libev's run-time major version differs from the one compiled against";
		return TLSIO_E_BACKEND_UNAVAILABLE;
	}
	evl = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (evl == NULL) {
		*why = "ev_loop_new failed (no usable libev backend)";
		return TLSIO_E_BACKEND_UNAVAILABLE;
	}
	ev_loop_destroy(evl);
	return 0;
}

static const char *ev_backend_name(unsigned b)
{
	switch (b) {
	case EVBACKEND_SELECT: return "select";
	case EVBACKEND_POLL: return "poll";
	case EVBACKEND_EPOLL: return "epoll";
	case EVBACKEND_KQUEUE: return "kqueue";
	case EVBACKEND_DEVPOLL: return "devpoll";
	case EVBACKEND_PORT: return "port";
	case EVBACKEND_LINUXAIO: return "linuxaio";
	case EVBACKEND_IOURING: return "io_uring";
	default: return "unknown";
	}
}

static void free_graveyard(struct lloop *e)
{
	if (e->depth > 0)
		return;
	while (e->graveyard != NULL) {
		struct lnode *n = e->graveyard;
		e->graveyard = n->grave_next;
		free(n);
	}
}

static void drop_refs(struct lloop *e)
{
	for (; e->refs_owed > 0; e->refs_owed--)
		ev_unref(e->evl);
}

/* A watch's ev_io must not keep ev_run going: started, it gives its reference back; it takes
 * it again before it stops, whether we stop it or libev did (fd_kill on a bad fd: EV_ERROR,
 * whose ev_stop dropped a reference already). ev_io_stop also clears a pending event. */
static void io_start_unref(struct ev_loop *evl, struct lnode *n)
{
	ev_io_start(evl, &n->io);
	ev_unref(evl);
	n->unref_held = 1;
}

static void io_stop_unref(struct ev_loop *evl, struct lnode *n)
{
	if (n->unref_held) {
		ev_ref(evl);
		n->unref_held = 0;
	}
	ev_io_stop(evl, &n->io);
}

/* Likewise the deadline timer; an expired one that libev stopped itself and whose callback is
 * still pending gets its callback's ev_ref here (and the callback is cleared). */
static void deadline_stop(struct lloop *e)
{
	if (ev_is_active(&e->deadline)) {
		ev_ref(e->evl);
		ev_timer_stop(e->evl, &e->deadline);
	} else if (ev_is_pending(&e->deadline)) {
		ev_clear_pending(e->evl, &e->deadline);
		ev_ref(e->evl);
	}
}

static void arm_deadline(struct lloop *e, int ms)
{
	deadline_stop(e);
	if (ms < 0)
		return;
	/* ev_now is the time of the last poll; a long callback may have made it stale. */
	ev_now_update(e->evl);
	ev_timer_set(&e->deadline, ms / 1000.0, 0.);
	ev_timer_start(e->evl, &e->deadline);
	ev_unref(e->evl); /* a deadline alone keeps nothing running: see refs_sync */
}

/* The referenced timers and watches keep the application's ev_run going. */
static void refs_sync(struct lloop *e)
{
	size_t want = e->app ? tlsio__loop_refs(e->loop) : 0;
	for (; e->refs_held < want; e->refs_held++)
		ev_ref(e->evl);
	for (; e->refs_held > want; e->refs_held--)
		ev_unref(e->evl);
}

/* The core's deferred work: deadlines, pending connections, finalization, then re-arm. */
static void core_work(struct lloop *e)
{
	int ms;
	e->depth++;
	ms = tlsio__loop_process(e->loop);
	e->depth--;
	drop_refs(e);
	refs_sync(e);
	arm_deadline(e, ms);
	/* tlsio_loop_stop() or a drain's end: on the application's loop, that ends its ev_run */
	if (tlsio__loop_take_stop(e->loop))
		ev_break(e->evl, EVBREAK_ONE);
}

static void prepare_cb(struct ev_loop *evl, ev_prepare *w, int revents)
{
	struct lloop *e = w->data;
	(void)evl;
	(void)revents;
	free_graveyard(e);
	tlsio__fault_drop_owed(); /* level-triggered: see the notes */
	/* On our own loop, tlsio_loop_run does the core's work around run_once: doing it here too
	 * would make one turn several passes over the deadlines. */
	if (e->app)
		core_work(e);
	else
		drop_refs(e);
}

static void check_cb(struct ev_loop *evl, ev_check *w, int revents)
{
	struct lloop *e = w->data;
	(void)evl;
	(void)revents;
	if (e->app)
		core_work(e);
}

static void deadline_cb(struct ev_loop *evl, ev_timer *w, int revents)
{
	(void)revents;
	/* libev stopped the expired one-shot timer itself (ev_stop drops a reference): give back
	 * the one arm_deadline took with its ev_unref */
	ev_ref(evl);
	core_work(w->data);
}

static void wake_cb(struct ev_loop *evl, ev_async *w, int revents)
{
	/* Nothing to do: the wakeup itself ends a blocking ev_run iteration. */
	(void)evl;
	(void)w;
	(void)revents;
}

static void tmo_cb(struct ev_loop *evl, ev_timer *w, int revents)
{
	(void)evl;
	(void)w;
	(void)revents;
}

static int lev_loop_init(tlsio_loop *loop)
{
	struct lloop *e = calloc(1, sizeof(*e));
	const char *how;
	if (e == NULL)
		return -ENOMEM;
	e->loop = loop;
	if (adopt_evl != NULL) {
		e->evl = adopt_evl;
		e->app = 1;
		how = "application loop";
	} else {
		e->evl = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
		how = "own loop";
		if (e->evl == NULL) {
			free(e);
			return TLSIO_E_BACKEND_UNAVAILABLE;
		}
	}
	snprintf(e->info, sizeof(e->info), "libev (%s, backend %s)", how,
	         ev_backend_name(ev_backend(e->evl)));

	ev_async_init(&e->wake, wake_cb);
	ev_prepare_init(&e->prepare, prepare_cb);
	ev_check_init(&e->check, check_cb);
	ev_set_priority(&e->check, EV_MINPRI);
	ev_init(&e->deadline, deadline_cb);
	ev_init(&e->tmo, tmo_cb);
	e->wake.data = e->prepare.data = e->check.data = e->deadline.data = e->tmo.data = e;

	ev_async_start(e->evl, &e->wake);
	ev_prepare_start(e->evl, &e->prepare);
	ev_check_start(e->evl, &e->check);
	/* prepare/check must not keep any ev_run going; the wake watcher keeps our own loop
	 * blocking in run_once like the other backends, but not the application's. */
	ev_unref(e->evl);
	ev_unref(e->evl);
	if (e->app)
		ev_unref(e->evl);
	tlsio__loop_set_bdata(loop, e);
	return 0;
}

static void lev_loop_free(tlsio_loop *loop)
{
	struct lloop *e = tlsio__loop_bdata(loop);
	drop_refs(e);
	for (; e->refs_held > 0; e->refs_held--)
		ev_unref(e->evl);
	/* unref'd watchers get their reference back before being stopped (libev's rule) */
	ev_ref(e->evl);
	ev_ref(e->evl);
	if (e->app)
		ev_ref(e->evl);
	ev_async_stop(e->evl, &e->wake);
	ev_prepare_stop(e->evl, &e->prepare);
	ev_check_stop(e->evl, &e->check);
	deadline_stop(e);
	ev_timer_stop(e->evl, &e->tmo);
	e->depth = 0;
	free_graveyard(e);
	if (!e->app)
		ev_loop_destroy(e->evl);
	free(e);
}

/* libev folds POLLHUP/POLLERR into EV_READ/EV_WRITE; the API reports a hang-up as such (as the
 * other backends do), so ask poll(2) what the fd's state is: one call per watch event. */
static unsigned watch_revents(const struct lnode *n, int revents)
{
	struct pollfd p = {n->io.fd, (short)((revents & EV_READ ? POLLIN : 0) | (revents & EV_WRITE ? POLLOUT : 0)), 0};
	unsigned rev = (revents & EV_READ ? TLSIO_READABLE : 0) | (revents & EV_WRITE ? TLSIO_WRITABLE : 0);
	if (revents & EV_ERROR)
		return rev | TLSIO_HANGUP;
	if (poll(&p, 1, 0) == 1)
		rev = (p.revents & POLLIN ? TLSIO_READABLE : 0) | (p.revents & POLLOUT ? TLSIO_WRITABLE : 0) |
		      (p.revents & (POLLHUP | POLLERR | POLLNVAL) ? TLSIO_HANGUP : 0);
	return rev;
}

/* Make the watcher ask for exactly what the connection can use now. */
static void sync_events(struct lnode *n)
{
	struct ev_loop *evl = n->e->evl;
	int want = 0;
	if (n->dead)
		return;
	if (n->connecting || n->want_write)
		want |= EV_WRITE;
	if (!n->connecting && tlsio__conn_wants_read(n->c))
		want |= EV_READ;
	if (ev_is_active(&n->io) && (n->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(evl, &n->io);
	if (want != 0) {
		ev_io_modify(&n->io, want);
		ev_io_start(evl, &n->io);
	}
}

static void node_bury(struct lloop *e, struct lnode *n)
{
	ev_io_stop(e->evl, &n->io);
	n->dead = 1;
	n->grave_next = e->graveyard;
	e->graveyard = n;
	e->refs_owed++;
}

static void do_write(struct lnode *n)
{
	int r = tlsio__sock_write(n->c, WRITE_BUDGET);
	if (r == TLSIO__SOCK_GONE)
		return;
	/* AGAIN: wait for writability; MORE: writable, but let the others have their turn first */
	n->want_write = r == TLSIO__SOCK_AGAIN || r == TLSIO__SOCK_MORE;
}

static void conn_io(struct lnode *n, int revents)
{
	tlsio_conn *c = n->c;
	if (n->connecting) {
		if (!(revents & EV_WRITE))
			return;
		n->connecting = 0;
		tlsio__conn_on_connected(c, -tlsio__sock_error(tlsio__conn_fd(c)));
		if (n->dead)
			return;
		revents &= ~EV_WRITE; /* the core queues the ClientHello; its pump writes it */
	}
	if ((revents & EV_WRITE) && tlsio__conn_out_len(c) > 0)
		do_write(n);
	else if (revents & EV_WRITE)
		n->want_write = 0;
	if (n->dead)
		return;
	if (revents & EV_READ) {
		/* The core lends what it reads to the TLS layer until the callbacks it runs return.
		 * An application that nests ev_run() inside one of them comes back here while the loop
		 * buffer is still on loan further up the stack: a nested read gets a buffer of its own. */
		if (n->e->depth > 1) {
			uint8_t *buf = malloc(NESTED_READ_BUF);
			if (buf == NULL) {
				tlsio__conn_on_error(c, -ENOMEM);
				return;
			}
			(void)tlsio__sock_read(c, buf, NESTED_READ_BUF, READ_BUDGET, 0, 0);
			free(buf);
		} else {
			(void)tlsio__sock_read(c, n->e->buf, sizeof(n->e->buf), READ_BUDGET, 0, 0);
		}
	}
}

static void io_cb(struct ev_loop *evl, ev_io *w, int revents)
{
	struct lnode *n = (struct lnode *)w;
	struct lloop *e = n->e;
	if (n->dead)
		return; /* buried in this iteration: its pending event was for the old owner */
	e->depth++;
	if (n->w != NULL) {
		/* EV_ERROR (a bad fd): libev stopped the watcher itself (see io_stop_unref) */
		if ((revents & EV_ERROR) && !ev_is_active(&n->io) && n->unref_held) {
			ev_ref(evl);
			n->unref_held = 0;
		}
		tlsio__watch_on_ready(n->w, watch_revents(n, revents));
	} else if (n->l != NULL) {
		tlsio__sock_accept(n->l, 64); /* level-triggered: the rest comes again */
	} else {
		conn_io(n, revents);
		sync_events(n);
	}
	e->depth--;
}

static struct lnode *node_new(struct lloop *e, int fd, int events)
{
	struct lnode *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->e = e;
	ev_io_init(&n->io, io_cb, fd, events);
	return n;
}

static int lev_listener_attach(tlsio_listener *l)
{
	struct lloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	struct lnode *n = node_new(e, tlsio__listener_fd(l), EV_READ);
	if (n == NULL)
		return -ENOMEM;
	n->l = l;
	ev_io_start(e->evl, &n->io);
	ev_ref(e->evl);
	tlsio__listener_set_bdata(l, n);
	return 0;
}

static void lev_listener_detach(tlsio_listener *l)
{
	struct lloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	node_bury(e, tlsio__listener_bdata(l));
	tlsio__listener_set_bdata(l, NULL);
}

static int lev_conn_attach(tlsio_conn *c, int connecting)
{
	struct lloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct lnode *n = node_new(e, tlsio__conn_fd(c), 0);
	if (n == NULL)
		return -ENOMEM;
	n->c = c;
	n->connecting = connecting;
	tlsio__conn_set_bdata(c, n);
	ev_ref(e->evl);
	sync_events(n);
	return 0;
}

static void lev_conn_close(tlsio_conn *c)
{
	struct lnode *n = tlsio__conn_bdata(c);
	if (n != NULL) {
		node_bury(n->e, n);
		tlsio__conn_set_bdata(c, NULL);
	}
	tlsio__conn_closed(c);
}

static void lev_flush(tlsio_conn *c)
{
	struct lnode *n = tlsio__conn_bdata(c);
	/* Waiting for writability already: the watcher will say when writing can go on. */
	if (n == NULL || n->connecting || n->want_write)
		return;
	n->e->depth++;
	do_write(n);
	sync_events(n);
	n->e->depth--;
}

static void lev_read_sync(tlsio_conn *c)
{
	struct lnode *n = tlsio__conn_bdata(c);
	if (n != NULL)
		sync_events(n);
}

/* The application's fds: libev reports POLLHUP/POLLERR as readiness of what is watched (its
 * epoll backend maps them to EV_READ|EV_WRITE), so a hang-up shows as the events asked for. */
static void watch_sync(struct lnode *n)
{
	struct ev_loop *evl = n->e->evl;
	unsigned events = tlsio__watch_events(n->w);
	int want = (events & TLSIO_READABLE ? EV_READ : 0) | (events & TLSIO_WRITABLE ? EV_WRITE : 0);
	if (ev_is_active(&n->io) && (n->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	io_stop_unref(evl, n);
	if (want != 0) {
		ev_io_modify(&n->io, want);
		io_start_unref(evl, n);
	}
}

static int lev_watch_attach(tlsio_watch *w)
{
	struct lloop *e = tlsio__loop_bdata(tlsio__watch_loop(w));
	struct lnode *n = node_new(e, tlsio__watch_fd(w), 0);
	if (n == NULL)
		return -ENOMEM;
	n->w = w;
	tlsio__watch_set_bdata(w, n);
	watch_sync(n);
	return 0;
}

static int lev_watch_update(tlsio_watch *w)
{
	watch_sync(tlsio__watch_bdata(w));
	return 0;
}

static void lev_watch_detach(tlsio_watch *w)
{
	struct lnode *n = tlsio__watch_bdata(w);
	struct lloop *e = n->e;
	io_stop_unref(e->evl, n);
	n->w = NULL;
	n->dead = 1;
	/* the graveyard, not free(): libev may hold it in the pending list of this iteration */
	n->grave_next = e->graveyard;
	e->graveyard = n;
}

static int lev_run_once(tlsio_loop *loop, int timeout_ms)
{
	struct lloop *e = tlsio__loop_bdata(loop);
	free_graveyard(e);
	if (timeout_ms > 0) {
		ev_now_update(e->evl);
		ev_timer_set(&e->tmo, timeout_ms / 1000.0, 0.);
		ev_timer_start(e->evl, &e->tmo);
	}
	ev_run(e->evl, timeout_ms == 0 ? EVRUN_NOWAIT : EVRUN_ONCE);
	ev_timer_stop(e->evl, &e->tmo);
	return 0;
}

static void lev_wake(tlsio_loop *loop)
{
	struct lloop *e = tlsio__loop_bdata(loop);
	ev_async_send(e->evl, &e->wake);
}

static const char *lev_info(const tlsio_loop *loop)
{
	const struct lloop *e = tlsio__loop_bdata(loop);
	return e->info;
}

const struct tlsio_backend tlsio__backend_libev = {
	.name = "libev",
	.probe = lev_probe,
	.loop_init = lev_loop_init,
	.loop_free = lev_loop_free,
	.run_once = lev_run_once,
	.wake = lev_wake,
	.listener_attach = lev_listener_attach,
	.listener_detach = lev_listener_detach,
	.conn_attach = lev_conn_attach,
	.conn_close = lev_conn_close,
	.flush = lev_flush,
	.read_start = lev_read_sync,
	.read_stop = lev_read_sync,
	.info = lev_info,
	.watch_attach = lev_watch_attach,
	.watch_update = lev_watch_update,
	.watch_detach = lev_watch_detach,
};

/* ---------------------------------------------------------------------------------------- */
/* public: api/tlsio-ev.h */

int tlsio_loop_new_ev(tlsio_loop **out, struct ev_loop *evl)
{
	int rc;
	if (out == NULL || evl == NULL) {
		if (out != NULL)
			*out = NULL;
		return -EINVAL;
	}
	adopt_evl = evl;
	rc = tlsio_loop_new(out, &tlsio__backend_libev);
	adopt_evl = NULL;
	return rc;
}

struct ev_loop *tlsio_loop_ev(const tlsio_loop *loop)
{
	if (loop == NULL || tlsio_loop_backend(loop) != &tlsio__backend_libev)
		return NULL;
	return ((const struct lloop *)tlsio__loop_bdata(loop))->evl;
}
