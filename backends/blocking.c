/* SPDX-License-Identifier: MIT */
/* Blocking backend: plain blocking sockets.
 *
 * Kernel notes:
 * - A blocking send() on a TCP socket returns only once every byte is queued, unless a signal
 *   or SO_SNDTIMEO interrupts it: then it returns the partial count (or EAGAIN/EINTR if nothing
 *   went). We set SO_SNDTIMEO so that a peer that stops reading cannot hold a close past its
 *   linger deadline, and resume from the first unsent byte on every partial count.
 * - poll() picks which socket to read; a recv() after POLLIN does not block.
 * - While flush() blocks in send, nothing is read. Two peers that both send bulk data on one
 *   connection at once can therefore deadlock, as with any blocking-socket program: full-duplex
 *   bulk flows need an event backend, or a send window the peer drains.
 * - connect() is started non-blocking by the core; the socket turns blocking once connected.
 * - The application's fds (tlsio_watch) join the poll set as they are: poll() is level-triggered
 *   already, and its set is rebuilt every run_once, so a changed mask needs nothing here. POLLNVAL
 *   (an fd the application closed while watched) is reported as TLSIO_HANGUP.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "sockio.h"

#define SEND_TIMEOUT_MS 1000
#define READ_BUDGET (1u << 20)

struct bnode {
	struct bnode *prev, *next;
	tlsio_conn *c;
	tlsio_listener *l;
	tlsio_watch *w;
	int connecting;
	int dead;
};

struct bloop {
	int wakefd;
	struct bnode *nodes;
	struct bnode *graveyard; /* closed during a dispatch; freed at the next run_once */
	struct pollfd *pfd;
	struct bnode **pmap;
	size_t cap;
	uint8_t buf[64 * 1024];
};

static int blk_probe(const char **why) { (void)why; return 0; }

static int blk_loop_init(tlsio_loop *loop)
{
	struct bloop *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->wakefd < 0) {
		int rc = -errno;
		free(b);
		return rc;
	}
	tlsio__loop_set_bdata(loop, b);
	return 0;
}

static void free_list(struct bnode *n)
{
	while (n != NULL) {
		struct bnode *next = n->next;
		free(n);
		n = next;
	}
}

static void blk_loop_free(tlsio_loop *loop)
{
	struct bloop *b = tlsio__loop_bdata(loop);
	free_list(b->nodes);
	free_list(b->graveyard);
	close(b->wakefd);
	free(b->pfd);
	free(b->pmap);
	free(b);
}

static void node_link(struct bloop *b, struct bnode *n)
{
	n->next = b->nodes;
	if (b->nodes != NULL)
		b->nodes->prev = n;
	b->nodes = n;
}

static void node_unlink(struct bloop *b, struct bnode *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		b->nodes = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	n->dead = 1;
	n->prev = NULL;
	n->next = b->graveyard;
	b->graveyard = n;
}

static int set_blocking(int fd)
{
	struct timeval tv = {SEND_TIMEOUT_MS / 1000, (SEND_TIMEOUT_MS % 1000) * 1000};
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

static int blk_listener_attach(tlsio_listener *l)
{
	struct bloop *b = tlsio__loop_bdata(tlsio__listener_loop(l));
	struct bnode *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->l = l;
	node_link(b, n);
	tlsio__listener_set_bdata(l, n);
	return 0;
}

static void blk_listener_detach(tlsio_listener *l)
{
	struct bloop *b = tlsio__loop_bdata(tlsio__listener_loop(l));
	node_unlink(b, tlsio__listener_bdata(l));
	tlsio__listener_set_bdata(l, NULL);
}

static int blk_conn_attach(tlsio_conn *c, int connecting)
{
	struct bloop *b = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct bnode *n;
	int rc;
	if (!connecting && (rc = set_blocking(tlsio__conn_fd(c))) < 0)
		return rc;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->c = c;
	n->connecting = connecting;
	node_link(b, n);
	tlsio__conn_set_bdata(c, n);
	return 0;
}

static void blk_conn_close(tlsio_conn *c)
{
	struct bloop *b = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct bnode *n = tlsio__conn_bdata(c);
	if (n != NULL) {
		node_unlink(b, n);
		tlsio__conn_set_bdata(c, NULL);
	}
	tlsio__conn_closed(c);
}

/* Blocks until all queued ciphertext is in the kernel, the linger deadline passes, or the
 * connection fails. EAGAIN here means SO_SNDTIMEO expired (or the test shim injected it). */
static void blk_flush(tlsio_conn *c)
{
	struct bnode *n = tlsio__conn_bdata(c);
	if (n == NULL || n->connecting)
		return;
	while (tlsio__sock_write(c, 0) == TLSIO__SOCK_AGAIN) {
		struct pollfd p = {tlsio__conn_fd(c), POLLOUT, 0};
		uint64_t deadline = tlsio__conn_write_deadline(c);
		uint64_t now = tlsio__now_ms();
		int wait = SEND_TIMEOUT_MS;
		if (deadline != 0 && now >= deadline)
			return; /* the core's deadline check ends the connection */
		if (deadline != 0 && deadline - now < (uint64_t)wait)
			wait = (int)(deadline - now);
		(void)poll(&p, 1, wait);
	}
}

static void blk_noop(tlsio_conn *c) { (void)c; }

static int blk_watch_attach(tlsio_watch *w)
{
	struct bloop *b = tlsio__loop_bdata(tlsio__watch_loop(w));
	struct bnode *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->w = w;
	node_link(b, n);
	tlsio__watch_set_bdata(w, n);
	return 0;
}

static int blk_watch_update(tlsio_watch *w)
{
	(void)w; /* the next run_once's poll set asks for the new events */
	return 0;
}

static void blk_watch_detach(tlsio_watch *w)
{
	struct bnode *n = tlsio__watch_bdata(w);
	n->w = NULL;
	node_unlink(tlsio__loop_bdata(tlsio__watch_loop(w)), n);
}

static void blk_watch_ready(struct bnode *n, short revents)
{
	unsigned rev = (revents & POLLIN ? TLSIO_READABLE : 0) | (revents & POLLOUT ? TLSIO_WRITABLE : 0) |
	               (revents & (POLLHUP | POLLERR | POLLNVAL) ? TLSIO_HANGUP : 0);
	tlsio__watch_on_ready(n->w, rev);
}

static int blk_grow(struct bloop *b, size_t need)
{
	struct pollfd *p;
	struct bnode **m;
	size_t cap;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 16;
	while (cap < need)
		cap *= 2;
	p = realloc(b->pfd, cap * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	b->pfd = p;
	m = realloc(b->pmap, cap * sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	b->pmap = m;
	b->cap = cap;
	return 0;
}

static void blk_connected(tlsio_conn *c, struct bnode *n)
{
	int err = tlsio__sock_error(tlsio__conn_fd(c));
	n->connecting = 0;
	if (err == 0)
		err = -set_blocking(tlsio__conn_fd(c));
	tlsio__conn_on_connected(c, -err);
}

static int blk_run_once(tlsio_loop *loop, int timeout_ms)
{
	struct bloop *b = tlsio__loop_bdata(loop);
	size_t count = 1, i;
	int rc;

	free_list(b->graveyard);
	b->graveyard = NULL;
	for (struct bnode *n = b->nodes; n != NULL; n = n->next)
		count++;
	if (blk_grow(b, count) < 0)
		return -ENOMEM;
	b->pfd[0] = (struct pollfd){b->wakefd, POLLIN, 0};
	b->pmap[0] = NULL;
	count = 1;
	for (struct bnode *n = b->nodes; n != NULL; n = n->next) {
		short ev = 0;
		int fd;
		if (n->l != NULL) {
			fd = tlsio__listener_fd(n->l);
			ev = POLLIN;
		} else if (n->w != NULL) {
			unsigned want = tlsio__watch_events(n->w);
			fd = tlsio__watch_fd(n->w);
			ev = (short)((want & TLSIO_READABLE ? POLLIN : 0) | (want & TLSIO_WRITABLE ? POLLOUT : 0));
		} else {
			fd = tlsio__conn_fd(n->c);
			if (n->connecting)
				ev = POLLOUT;
			else if (tlsio__conn_wants_read(n->c))
				ev = POLLIN;
		}
		if (ev == 0)
			continue;
		b->pfd[count] = (struct pollfd){fd, ev, 0};
		b->pmap[count] = n;
		count++;
	}
	rc = poll(b->pfd, count, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	if (b->pfd[0].revents & POLLIN) {
		uint64_t v;
		(void)!read(b->wakefd, &v, sizeof(v));
	}
	/* A callback may close any connection or listener: closed nodes stay allocated (dead) until
	 * the next run_once, so the pointers captured above remain safe to test. */
	for (i = 1; i < count; i++) {
		struct bnode *n = b->pmap[i];
		tlsio_conn *c;
		if (b->pfd[i].revents == 0 || n->dead)
			continue;
		if (n->l != NULL) {
			tlsio__sock_accept(n->l, 64);
			continue;
		}
		if (n->w != NULL) {
			blk_watch_ready(n, b->pfd[i].revents);
			continue;
		}
		c = n->c;
		if (n->connecting) {
			blk_connected(c, n);
			continue;
		}
		/* MSG_DONTWAIT: drain what poll announced without blocking on the rest; poll is
		 * level-triggered, so a budget cut is picked up next round. */
		(void)tlsio__sock_read(c, b->buf, sizeof(b->buf), READ_BUDGET, MSG_DONTWAIT, 1);
	}
	return 0;
}

static void blk_wake(tlsio_loop *loop)
{
	struct bloop *b = tlsio__loop_bdata(loop);
	uint64_t one = 1;
	(void)!write(b->wakefd, &one, sizeof(one));
}

const struct tlsio_backend tlsio__backend_blocking = {
	.name = "blocking",
	.probe = blk_probe,
	.loop_init = blk_loop_init,
	.loop_free = blk_loop_free,
	.run_once = blk_run_once,
	.wake = blk_wake,
	.listener_attach = blk_listener_attach,
	.listener_detach = blk_listener_detach,
	.conn_attach = blk_conn_attach,
	.conn_close = blk_conn_close,
	.flush = blk_flush,
	.read_start = blk_noop,
	.read_stop = blk_noop,
	.watch_attach = blk_watch_attach,
	.watch_update = blk_watch_update,
	.watch_detach = blk_watch_detach,
};
