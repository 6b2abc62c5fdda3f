/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <sys/socket.h>

#include "sockio.h"
#include "sys.h"

#define IOV_BATCH 64

int tlsio__sock_write(tlsio_conn *c, size_t budget)
{
	tlsio_stats *st = tlsio__conn_counters(c);
	struct iovec iov[IOV_BATCH];
	size_t sent = 0;
	for (;;) {
		size_t n = tlsio__conn_out_iov(c, 0, iov, IOV_BATCH), offered = 0;
		ssize_t r;
		if (n == 0)
			return TLSIO__SOCK_DONE;
		if (budget != 0 && sent >= budget)
			return TLSIO__SOCK_MORE;
		for (size_t i = 0; i < n; i++)
			offered += iov[i].iov_len;
		r = tlsio__sys_sendv(tlsio__conn_fd(c), iov, (int)n);
		st->write_calls++;
		if (r >= 0) {
			if ((size_t)r < offered)
				st->short_writes++;
			sent += (size_t)r;
			tlsio__conn_on_sent(c, (size_t)r);
			if (!tlsio__conn_alive(c))
				return TLSIO__SOCK_GONE;
			continue;
		}
		if (errno == EINTR) {
			st->eintr++;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			st->eagain++;
			return TLSIO__SOCK_AGAIN;
		}
		tlsio__conn_on_error(c, -errno);
		return TLSIO__SOCK_GONE;
	}
}

int tlsio__sock_read(tlsio_conn *c, uint8_t *buf, size_t cap, size_t budget, int flags,
                     int until_eagain)
{
	tlsio_stats *st = tlsio__conn_counters(c);
	size_t got = 0;
	while (tlsio__conn_wants_read(c)) {
		ssize_t r;
		if (got >= budget)
			return TLSIO__SOCK_MORE;
		r = tlsio__sys_recv(tlsio__conn_fd(c), buf, cap, flags);
		st->read_calls++;
		if (r > 0) {
			got += (size_t)r;
			tlsio__conn_on_recv(c, buf, (size_t)r);
			if (!tlsio__conn_alive(c))
				return TLSIO__SOCK_GONE;
			if ((size_t)r < cap && !until_eagain)
				return TLSIO__SOCK_AGAIN;
		} else if (r == 0) {
			tlsio__conn_on_eof(c);
			return tlsio__conn_alive(c) ? TLSIO__SOCK_DONE : TLSIO__SOCK_GONE;
		} else if (errno == EINTR) {
			st->eintr++;
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return TLSIO__SOCK_AGAIN; /* the normal end of a drain: not counted */
		} else {
			tlsio__conn_on_error(c, -errno);
			return TLSIO__SOCK_GONE;
		}
		if (!tlsio__conn_alive(c))
			return TLSIO__SOCK_GONE;
	}
	return TLSIO__SOCK_DONE;
}

void tlsio__sock_accept(tlsio_listener *l, unsigned max)
{
	for (unsigned i = 0; i < max; i++) {
		int fd = accept4(tlsio__listener_fd(l), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return; /* EAGAIN, or an error that belongs to the connection that failed */
		tlsio__listener_on_accept(l, fd);
		if (tlsio__listener_fd(l) < 0)
			return;
	}
}

int tlsio__sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}
