/* SPDX-License-Identifier: MIT */
/* How to write from a libuv loop: the two designs the libuv backend could take, side by side on
 * one TCP loopback stream (backends/libuv.c says which one it took and why).
 *
 *   poll  uv_poll_t on a socket that stays ours: sendmsg() from the first unsent byte until
 *         EAGAIN, then wait for UV_WRITABLE (what backends/libuv.c does through sockio.c)
 *   tcp   uv_tcp_t owning the socket: uv_try_write() first, uv_write() for what it did not
 *         take; every buffer handed to uv_write() stays pinned until its callback
 *
 * The writer sends TOTAL bytes as records of RECORD bytes (the size of a full TLS record on the
 * wire) on the loop's thread; a reader thread reads and checks every byte against the pattern
 * (order and exactly-once, as the contract's tests do). Printed per run: MB/s, the write
 * syscalls the writer made (poll: counted; tcp: uv_try_write calls plus the writes libuv made
 * itself, counted with strace when STRACE=1 runs it under strace -c), how many came back short,
 * and the most bytes pinned in uv_write requests at once.
 *
 * usage: uv-write poll|tcp [MiB] [sndbuf bytes, 0: the kernel's default]
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define RECORD 16406 /* a TLS 1.3 record of 16 KiB of plaintext with its header and tag */
#define QUEUE_RECORDS 64 /* what the writer keeps queued, like the core's ciphertext queue */

static uint8_t pattern_at(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13);
}

static void fill(uint8_t *p, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_at(off + i);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------------------- */
/* reader */

struct reader {
	int fd;
	uint64_t got, bad_at;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t *buf = malloc(256 * 1024);
	r->bad_at = UINT64_MAX;
	for (;;) {
		ssize_t n = read(r->fd, buf, 256 * 1024);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && r->bad_at == UINT64_MAX; i++)
			if (buf[i] != pattern_at(r->got + (uint64_t)i))
				r->bad_at = r->got + (uint64_t)i;
		r->got += (uint64_t)n;
	}
	free(buf);
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* writer state */

struct writer {
	uv_loop_t *loop;
	uint64_t total, produced, sent;
	/* poll: a queue of QUEUE_RECORDS records, written from its first unsent byte */
	uv_poll_t poll;
	uint8_t *ring;
	size_t rec_len[QUEUE_RECORDS], head, queued, ring_off;
	/* tcp */
	uv_tcp_t tcp;
	size_t pinned, pinned_max;
	/* counters */
	uint64_t calls, shorts, eagain;
	int fd;
};

/* poll: a queue of QUEUE_RECORDS records (slots of the ring), topped up as records leave, as
 * the core encrypts lazily; one sendmsg of every queued byte from the first unsent one (the
 * iovec of backends/sockio.c), until EAGAIN */
static void poll_top_up(struct writer *w)
{
	while (w->queued < QUEUE_RECORDS && w->produced < w->total) {
		size_t slot = (w->head + w->queued) % QUEUE_RECORDS;
		size_t len = (size_t)(w->total - w->produced) < RECORD ? (size_t)(w->total - w->produced) : RECORD;
		fill(w->ring + slot * RECORD, w->produced, len);
		w->rec_len[slot] = len;
		w->produced += len;
		w->queued++;
	}
}

static void poll_write(struct writer *w)
{
	for (;;) {
		struct iovec iov[QUEUE_RECORDS];
		struct msghdr mh = {.msg_iov = iov};
		size_t want = 0;
		ssize_t n;
		poll_top_up(w);
		if (w->queued == 0) {
			uv_poll_stop(&w->poll);
			shutdown(w->fd, SHUT_WR);
			return;
		}
		for (size_t i = 0; i < w->queued; i++) {
			size_t slot = (w->head + i) % QUEUE_RECORDS, skip = i == 0 ? w->ring_off : 0;
			iov[i].iov_base = w->ring + slot * RECORD + skip;
			iov[i].iov_len = w->rec_len[slot] - skip;
			want += iov[i].iov_len;
		}
		mh.msg_iovlen = w->queued;
		n = sendmsg(w->fd, &mh, MSG_NOSIGNAL);
		w->calls++;
		if (n < 0) {
			if (errno == EAGAIN) {
				w->eagain++;
				return; /* the handle waits for UV_WRITABLE */
			}
			if (errno == EINTR)
				continue;
			perror("sendmsg");
			exit(1);
		}
		if ((size_t)n < want)
			w->shorts++;
		w->sent += (uint64_t)n;
		/* retire the records sent whole; the first unsent byte is where the next one starts */
		w->ring_off += (size_t)n;
		while (w->queued > 0 && w->ring_off >= w->rec_len[w->head]) {
			w->ring_off -= w->rec_len[w->head];
			w->head = (w->head + 1) % QUEUE_RECORDS;
			w->queued--;
		}
	}
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	(void)events;
	if (status < 0) {
		fprintf(stderr, "poll: %s\n", uv_strerror(status));
		exit(1);
	}
	poll_write(h->data);
}

/* tcp: records as uv_write requests; each buffer pinned until its callback */
struct wreq {
	uv_write_t req;
	struct writer *w;
	size_t len;
	uint8_t data[];
};

static void tcp_fill(struct writer *w);

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *r = (struct wreq *)req;
	struct writer *w = r->w;
	if (status < 0) {
		fprintf(stderr, "uv_write: %s\n", uv_strerror(status));
		exit(1);
	}
	w->pinned -= r->len;
	w->sent += r->len;
	free(r);
	tcp_fill(w);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

static void tcp_fill(struct writer *w)
{
	/* the same queue depth as poll: QUEUE_RECORDS records in flight at most */
	while (w->produced < w->total && w->pinned < (size_t)RECORD * QUEUE_RECORDS) {
		size_t len = (size_t)(w->total - w->produced) < RECORD ? (size_t)(w->total - w->produced) : RECORD;
		struct wreq *r = malloc(sizeof(*r) + len);
		uv_buf_t b;
		int n;
		fill(r->data, w->produced, len);
		w->produced += len;
		b = uv_buf_init((char *)r->data, (unsigned)len);
		/* uv_try_write only while nothing is queued (libuv refuses it then: UV_EAGAIN) */
		n = uv_try_write((uv_stream_t *)&w->tcp, &b, 1);
		w->calls++;
		if (n == (int)len) {
			w->sent += len;
			free(r);
			continue;
		}
		if (n == UV_EAGAIN)
			n = 0, w->eagain++;
		else if (n < 0) {
			fprintf(stderr, "uv_try_write: %s\n", uv_strerror(n));
			exit(1);
		} else {
			w->shorts++;
		}
		w->sent += (uint64_t)n;
		memmove(r->data, r->data + n, len - (size_t)n);
		r->len = len - (size_t)n;
		r->w = w;
		b = uv_buf_init((char *)r->data, (unsigned)r->len);
		w->pinned += r->len;
		if (w->pinned > w->pinned_max)
			w->pinned_max = w->pinned;
		if (uv_write(&r->req, (uv_stream_t *)&w->tcp, &b, 1, write_cb) != 0) {
			fprintf(stderr, "uv_write failed\n");
			exit(1);
		}
	}
	if (w->produced == w->total && w->pinned == 0 && w->sent == w->total) {
		uv_shutdown_t *sd = malloc(sizeof(*sd));
		if (uv_shutdown(sd, (uv_stream_t *)&w->tcp, shutdown_cb) != 0)
			free(sd);
		w->produced++; /* once */
	}
}

/* ---------------------------------------------------------------------------------------- */

static int tcp_pair(int *wfd, int *rfd, int sndbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	*wfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sndbuf > 0)
		setsockopt(*wfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	setsockopt(*wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(*wfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	*rfd = accept(l, NULL, NULL);
	close(l);
	return *rfd < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "poll";
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
	int sndbuf = argc > 3 ? atoi(argv[3]) : 0;
	struct writer w;
	struct reader r = {0};
	pthread_t th;
	uv_loop_t loop;
	double t0, dt;
	int rfd;

	memset(&w, 0, sizeof(w));
	w.total = mib << 20;
	if (strcmp(mode, "poll") != 0 && strcmp(mode, "tcp") != 0) {
		fprintf(stderr, "usage: %s poll|tcp [MiB] [sndbuf]\n", argv[0]);
		return 2;
	}
	if (tcp_pair(&w.fd, &rfd, sndbuf) < 0) {
		perror("loopback pair");
		return 1;
	}
	r.fd = rfd;
	uv_loop_init(&loop);
	w.loop = &loop;
	pthread_create(&th, NULL, reader_main, &r);
	t0 = now_s();
	if (strcmp(mode, "poll") == 0) {
		w.ring = malloc((size_t)RECORD * QUEUE_RECORDS);
		uv_poll_init_socket(&loop, &w.poll, w.fd);
		w.poll.data = &w;
		poll_write(&w);
		if (w.sent < w.total)
			uv_poll_start(&w.poll, UV_WRITABLE, poll_cb);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_close((uv_handle_t *)&w.poll, NULL);
	} else {
		uv_tcp_init(&loop, &w.tcp);
		uv_tcp_open(&w.tcp, w.fd);
		tcp_fill(&w);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_close((uv_handle_t *)&w.tcp, NULL);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (strcmp(mode, "poll") == 0)
		close(w.fd);
	pthread_join(th, NULL);
	dt = now_s() - t0;
	printf("%s: %" PRIu64 " MiB in %.3f s = %.1f MB/s; calls %llu, short %llu, EAGAIN %llu; "
	       "pinned in uv_write at most %zu B; reader got %llu B, %s\n",
	       mode, mib, dt, (double)w.total / dt / 1e6, (unsigned long long)w.calls,
	       (unsigned long long)w.shorts, (unsigned long long)w.eagain, w.pinned_max,
	       (unsigned long long)r.got,
	       r.got == w.total && r.bad_at == UINT64_MAX ? "in order, intact" : "CORRUPT OR SHORT");
	uv_loop_close(&loop);
	free(w.ring);
	return r.got == w.total && r.bad_at == UINT64_MAX ? 0 : 1;
}
