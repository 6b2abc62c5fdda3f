/* SPDX-License-Identifier: MIT */
/* epoll backend, edge-triggered.
 *
 * Kernel notes:
 * - EPOLLET reports a transition once. After an edge the socket must be drained until EAGAIN
 *   (read) or filled until EAGAIN (write), or no new edge will come. We keep a per-connection
 *   "readable"/"writable" bit that only EAGAIN clears and only an edge sets.
 * - Connections are registered once for EPOLLIN|EPOLLOUT|EPOLLRDHUP; pausing reads does not
 *   touch epoll: the readable bit is kept and reading resumes from it on read_start.
 * - A read and a write budget per event keep one fast peer from starving the others; a
 *   connection cut off by one goes on a ready list that the next run_once serves without
 *   waiting.
 * - Listeners and the wake eventfd are level-triggered: nothing to drain by hand there.
 * - The application's fds (tlsio_watch) are level-triggered too, as the API promises. A paused
 *   watch is taken out of the epoll set (EPOLL_CTL_DEL), not modified to no events: epoll
 *   reports EPOLLHUP/EPOLLERR whatever the mask, and level-triggered that would spin. epoll
 *   refuses regular files and directories with EPERM, and a second registration of the same
 *   file with EEXIST: both reach the application as they are.
 * - sendmsg(MSG_NOSIGNAL) stands in for writev so a reset peer gives EPIPE, not SIGPIPE.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "sockio.h"
#include "sys.h"

#define MAX_EVENTS 256
#define READ_BUDGET (1u << 20)
#define WRITE_BUDGET (1u << 20)

enum ekind { K_WAKE, K_LISTENER, K_CONN, K_WATCH };

struct enode {
	enum ekind kind;
	int fd;
	tlsio_conn *c;
	tlsio_listener *l;
	tlsio_watch *w;
	struct enode *ready_next;  /* on e->ready or e->serving */
	struct enode *grave_next;
	unsigned readable : 1, writable : 1, connecting : 1, on_ready : 1, dead : 1, write_more : 1;
	unsigned hup : 1; /* RDHUP/HUP/ERR seen: drain to EOF, no further edge will come */
	unsigned registered : 1; /* K_WATCH: in the epoll set */
};

struct eloop {
	int epfd;
	struct enode wake;
	struct enode *ready;       /* connections to serve without waiting */
	struct enode *serving;     /* the part of the ready list this run_once is serving */
	struct enode *graveyard;   /* closed during a dispatch; freed at the next run_once */
	struct enode **byfd;       /* for edges owed by the test fault shim */
	size_t nbyfd;
	struct epoll_event ev[MAX_EVENTS];
	uint8_t buf[64 * 1024];
};

static int ep_probe(const char **why)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		*why = "epoll_create1 failed";
		/* out of fds or memory is the process's state, not the backend's */
		if (err == EMFILE || err == ENFILE || err == ENOMEM)
			return -err;
		return TLSIO_E_BACKEND_UNAVAILABLE;
	}
	close(fd);
	return 0;
}

static int ep_loop_init(tlsio_loop *loop)
{
	struct eloop *e = calloc(1, sizeof(*e));
	struct epoll_event ev;
	int rc;
	if (e == NULL)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wake.kind = K_WAKE;
	e->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->epfd < 0 || e->wake.fd < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &e->wake;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wake.fd, &ev) < 0)
		goto fail;
	tlsio__loop_set_bdata(loop, e);
	return 0;
fail:
	rc = -errno;
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wake.fd >= 0)
		close(e->wake.fd);
	free(e);
	return rc;
}

static void free_graveyard(struct eloop *e)
{
	while (e->graveyard != NULL) {
		struct enode *n = e->graveyard;
		e->graveyard = n->grave_next;
		free(n);
	}
}

static void ep_loop_free(tlsio_loop *loop)
{
	struct eloop *e = tlsio__loop_bdata(loop);
	free_graveyard(e);
	close(e->epfd);
	close(e->wake.fd);
	free(e->byfd);
	free(e);
}

static int byfd_set(struct eloop *e, int fd, struct enode *n)
{
	if ((size_t)fd >= e->nbyfd) {
		size_t cap = e->nbyfd ? e->nbyfd : 64;
		struct enode **p;
		while (cap <= (size_t)fd)
			cap *= 2;
		p = realloc(e->byfd, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		memset(p + e->nbyfd, 0, (cap - e->nbyfd) * sizeof(*p));
		e->byfd = p;
		e->nbyfd = cap;
	}
	e->byfd[fd] = n;
	return 0;
}

static int ep_add(struct eloop *e, struct enode *n, uint32_t events)
{
	struct epoll_event ev;
	int rc = byfd_set(e, n->fd, n);
	if (rc < 0)
		return rc;
	ev.events = events;
	ev.data.ptr = n;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, n->fd, &ev) < 0) {
		rc = -errno;
		e->byfd[n->fd] = NULL;
		return rc;
	}
	return 0;
}

static void ep_remove(struct eloop *e, struct enode *n)
{
	(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->fd, NULL);
	if ((size_t)n->fd < e->nbyfd && e->byfd[n->fd] == n)
		e->byfd[n->fd] = NULL;
	if (n->on_ready) {
		/* a callback may close another connection of the list being served */
		struct enode **pp = &e->ready;
		while (*pp != NULL && *pp != n)
			pp = &(*pp)->ready_next;
		if (*pp == NULL)
			for (pp = &e->serving; *pp != n; pp = &(*pp)->ready_next)
				;
		*pp = n->ready_next;
		n->on_ready = 0;
	}
	n->dead = 1;
	n->grave_next = e->graveyard;
	e->graveyard = n;
}

static void make_ready(struct eloop *e, struct enode *n)
{
	if (n->on_ready || n->dead)
		return;
	n->on_ready = 1;
	n->ready_next = e->ready;
	e->ready = n;
}

static int ep_listener_attach(tlsio_listener *l)
{
	struct eloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	struct enode *n = calloc(1, sizeof(*n));
	int rc;
	if (n == NULL)
		return -ENOMEM;
	n->kind = K_LISTENER;
	n->fd = tlsio__listener_fd(l);
	n->l = l;
	rc = ep_add(e, n, EPOLLIN);
	if (rc < 0) {
		free(n);
		return rc;
	}
	tlsio__listener_set_bdata(l, n);
	return 0;
}

static void ep_listener_detach(tlsio_listener *l)
{
	struct eloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	ep_remove(e, tlsio__listener_bdata(l));
	tlsio__listener_set_bdata(l, NULL);
}

static int ep_conn_attach(tlsio_conn *c, int connecting)
{
	struct eloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct enode *n = calloc(1, sizeof(*n));
	int rc;
	if (n == NULL)
		return -ENOMEM;
	n->kind = K_CONN;
	n->fd = tlsio__conn_fd(c);
	n->c = c;
	n->connecting = connecting;
	rc = ep_add(e, n, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (rc < 0) {
		free(n);
		return rc;
	}
	tlsio__conn_set_bdata(c, n);
	return 0;
}

static void ep_conn_close(tlsio_conn *c)
{
	struct eloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct enode *n = tlsio__conn_bdata(c);
	if (n != NULL) {
		ep_remove(e, n);
		tlsio__conn_set_bdata(c, NULL);
	}
	tlsio__conn_closed(c);
}

static void do_write(struct eloop *e, struct enode *n)
{
	int r;
	if (!n->writable || n->connecting)
		return;
	r = tlsio__sock_write(n->c, WRITE_BUDGET);
	if (r == TLSIO__SOCK_AGAIN) {
		n->writable = 0; /* resume on the next EPOLLOUT edge */
	} else if (r == TLSIO__SOCK_MORE) {
		n->write_more = 1;
		make_ready(e, n);
	}
}

static void do_read(struct eloop *e, struct enode *n)
{
	int r;
	if (!n->readable || n->connecting)
		return;
	r = tlsio__sock_read(n->c, e->buf, sizeof(e->buf), READ_BUDGET, 0, n->hup);
	if (r == TLSIO__SOCK_AGAIN)
		n->readable = 0;
	else if (r == TLSIO__SOCK_MORE)
		make_ready(e, n);
	/* DONE with reading paused keeps `readable`: ep_read_start resumes from it */
}

static void ep_flush(tlsio_conn *c)
{
	struct enode *n = tlsio__conn_bdata(c);
	if (n != NULL)
		do_write(tlsio__loop_bdata(tlsio_conn_loop(c)), n);
}

static void ep_read_start(tlsio_conn *c)
{
	struct eloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct enode *n = tlsio__conn_bdata(c);
	if (n != NULL && n->readable)
		make_ready(e, n);
}

static void ep_read_stop(tlsio_conn *c)
{
	(void)c; /* do_read asks the core before every recv */
}

static void conn_event(struct eloop *e, struct enode *n, uint32_t ev)
{
	tlsio_conn *c = n->c;
	if (n->connecting) {
		int err;
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		n->connecting = 0;
		err = tlsio__sock_error(n->fd);
		n->writable = err == 0;
		n->readable = (ev & (EPOLLIN | EPOLLRDHUP)) != 0;
		tlsio__conn_on_connected(c, -err);
		if (n->dead)
			return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		n->readable = 1;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		n->hup = 1;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		n->writable = 1;
	/* An error with reading paused would otherwise wait for read_start: let the write path or
	 * SO_ERROR report it. */
	if ((ev & EPOLLERR) && !tlsio__conn_wants_read(c)) {
		int err = tlsio__sock_error(n->fd);
		if (err != 0) {
			tlsio__conn_on_error(c, -err);
			return;
		}
	}
	if (tlsio__conn_out_len(c) > 0)
		do_write(e, n);
	if (!n->dead)
		do_read(e, n);
}

/* ---------------------------------------------------------------------------------------- */
/* the application's fds */

static uint32_t watch_mask(unsigned events)
{
	return (events & TLSIO_READABLE ? EPOLLIN : 0) | (events & TLSIO_WRITABLE ? EPOLLOUT : 0);
}

/* Bring the epoll set in line with what the watch asks for. */
static int watch_sync(struct eloop *e, struct enode *n)
{
	unsigned events = tlsio__watch_events(n->w);
	struct epoll_event ev = {.events = watch_mask(events), .data.ptr = n};
	if (events == 0) {
		if (n->registered && epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->fd, NULL) < 0 && errno != EBADF &&
		    errno != ENOENT)
			return -errno;
		n->registered = 0;
		return 0;
	}
	if (epoll_ctl(e->epfd, n->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, n->fd, &ev) < 0)
		return -errno;
	n->registered = 1;
	return 0;
}

static int ep_watch_attach(tlsio_watch *w)
{
	struct eloop *e = tlsio__loop_bdata(tlsio__watch_loop(w));
	struct enode *n = calloc(1, sizeof(*n));
	int rc;
	if (n == NULL)
		return -ENOMEM;
	n->kind = K_WATCH;
	n->fd = tlsio__watch_fd(w);
	n->w = w;
	rc = watch_sync(e, n);
	if (rc < 0) {
		free(n);
		return rc;
	}
	tlsio__watch_set_bdata(w, n);
	return 0;
}

static int ep_watch_update(tlsio_watch *w)
{
	return watch_sync(tlsio__loop_bdata(tlsio__watch_loop(w)), tlsio__watch_bdata(w));
}

static void ep_watch_detach(tlsio_watch *w)
{
	struct eloop *e = tlsio__loop_bdata(tlsio__watch_loop(w));
	struct enode *n = tlsio__watch_bdata(w);
	if (n->registered)
		(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, n->fd, NULL);
	n->w = NULL;
	/* it may be in the batch being dispatched: freed at the next run_once */
	n->dead = 1;
	n->grave_next = e->graveyard;
	e->graveyard = n;
}

static void watch_event(struct enode *n, uint32_t ev)
{
	unsigned rev = (ev & EPOLLIN ? TLSIO_READABLE : 0) | (ev & EPOLLOUT ? TLSIO_WRITABLE : 0) |
	               (ev & (EPOLLHUP | EPOLLERR) ? TLSIO_HANGUP : 0);
	tlsio__watch_on_ready(n->w, rev);
}

/* Edges the test shim swallowed with an injected EAGAIN: deliver them as the kernel would have. */
static void owed_edges(struct eloop *e, const int *fds, const int *kinds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct enode *node = (size_t)fds[i] < e->nbyfd ? e->byfd[fds[i]] : NULL;
		if (node == NULL || node->dead || node->kind != K_CONN)
			continue;
		conn_event(e, node, (kinds[i] & TLSIO__FAULT_OWED_IN ? EPOLLIN : 0) |
		                        (kinds[i] & TLSIO__FAULT_OWED_OUT ? EPOLLOUT : 0));
	}
}

static int ep_run_once(tlsio_loop *loop, int timeout_ms)
{
	struct eloop *e = tlsio__loop_bdata(loop);
	int owed_fd[64], owed_kind[64];
	size_t owed = 0;
	int n;

	free_graveyard(e);
	if (tlsio__fault_active())
		owed = tlsio__fault_owed(owed_fd, owed_kind, 64);
	if (e->ready != NULL || owed > 0)
		timeout_ms = 0;
	n = epoll_wait(e->epfd, e->ev, MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct enode *node = e->ev[i].data.ptr;
		if (node->dead)
			continue;
		switch (node->kind) {
		case K_WAKE: {
			uint64_t v;
			(void)!read(node->fd, &v, sizeof(v));
			break;
		}
		case K_LISTENER:
			tlsio__sock_accept(node->l, 64);
			break;
		case K_CONN:
			conn_event(e, node, e->ev[i].events);
			break;
		case K_WATCH:
			watch_event(node, e->ev[i].events);
			break;
		}
	}
	owed_edges(e, owed_fd, owed_kind, owed);
	/* Serve the ready list as it was: entries added now wait for the next turn. */
	e->serving = e->ready;
	e->ready = NULL;
	while (e->serving != NULL) {
		struct enode *node = e->serving;
		e->serving = node->ready_next;
		node->on_ready = 0;
		if (node->write_more && !node->dead) {
			node->write_more = 0;
			do_write(e, node);
		}
		if (!node->dead)
			do_read(e, node);
	}
	return 0;
}

static void ep_wake(tlsio_loop *loop)
{
	struct eloop *e = tlsio__loop_bdata(loop);
	uint64_t one = 1;
	(void)!write(e->wake.fd, &one, sizeof(one));
}

const struct tlsio_backend tlsio__backend_epoll = {
	.name = "epoll",
	.probe = ep_probe,
	.loop_init = ep_loop_init,
	.loop_free = ep_loop_free,
	.run_once = ep_run_once,
	.wake = ep_wake,
	.listener_attach = ep_listener_attach,
	.listener_detach = ep_listener_detach,
	.conn_attach = ep_conn_attach,
	.conn_close = ep_conn_close,
	.flush = ep_flush,
	.read_start = ep_read_start,
	.read_stop = ep_read_stop,
	.watch_attach = ep_watch_attach,
	.watch_update = ep_watch_update,
	.watch_detach = ep_watch_detach,
};
