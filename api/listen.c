/* SPDX-License-Identifier: MIT */
/* Listeners: TCP, Unix sockets (a path or the abstract namespace) and inherited sockets
 * (systemd socket activation, a plain fd number); the accept path into the connection core. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "abi.h"
#include "core.h"
#include "conn.h"
#include "loop.h"
#include "backend.h"

#define LISTEN_FLAGS_KNOWN (TLSIO_LISTEN_REUSEPORT | TLSIO_LISTEN_IPV6ONLY)

/* The options a listener asks for must hold, or the caller would believe it shares a port (or
 * keeps IPv4 out) when it does not: a refused setsockopt fails the listen. */
static int listen_sockopts(int fd, int family, const tlsio_listen_opts *lo)
{
	int one = 1;
	if ((lo->flags & TLSIO_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	if ((lo->flags & TLSIO_LISTEN_IPV6ONLY) && family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

/* A socket file no one listens on any more (its process is gone: connecting is refused) is in
 * the way of a restart; one with a listener behind it is not ours to take. */
static int unix_stale(const struct sockaddr_un *un, socklen_t sl)
{
	struct stat st;
	int fd, stale;
	if (un->sun_path[0] == '\0' || lstat(un->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	/* non-blocking: a live listener with a full backlog answers EAGAIN (in use), at once */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	stale = connect(fd, (const struct sockaddr *)un, sl) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int bind_unix(tlsio_listener *l, int fd, const struct tlsio__addr *a, unsigned mode)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
	struct stat st;
	if (bind(fd, (const struct sockaddr *)un, a->len) < 0) {
		if (errno != EADDRINUSE || !unix_stale(un, a->len))
			return -errno;
		(void)unlink(un->sun_path);
		if (bind(fd, (const struct sockaddr *)un, a->len) < 0)
			return -errno;
	}
	if (un->sun_path[0] == '\0')
		return 0; /* abstract: no file, no permissions (anyone in the network namespace) */
	if ((mode != 0 && chmod(un->sun_path, mode & 07777) < 0) || stat(un->sun_path, &st) < 0) {
		int rc = -errno;
		(void)unlink(un->sun_path);
		return rc;
	}
	l->unix_path = strdup(un->sun_path);
	if (l->unix_path == NULL) {
		(void)unlink(un->sun_path);
		return -ENOMEM;
	}
	l->unix_dev = (uint64_t)st.st_dev;
	l->unix_ino = (uint64_t)st.st_ino;
	return 0;
}

/* "fd:N": a listening stream socket the process was given. The listener works on a duplicate,
 * so N stays the caller's (several loops may adopt it). */
static int adopt_listener(int n)
{
	int type = 0, acc = 0, fd;
	socklen_t tl = sizeof(type), al = sizeof(acc);
	if (getsockopt(n, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return -errno; /* EBADF, ENOTSOCK */
	if (type != SOCK_STREAM)
		return -EINVAL;
	if (getsockopt(n, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0)
		return -errno;
	if (!acc)
		return -EINVAL; /* not listening */
	fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	if (tlsio__set_nonblock(fd) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int tlsio_listen(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                 const tlsio_conn_opts *opts, tlsio_accept_cb on_accept, void *accept_user,
                 tlsio_listener **out)
{
	return tlsio_listen_ex(loop, addr, NULL, cfg, opts, on_accept, accept_user, out);
}

int tlsio_listen_ex(tlsio_loop *loop, const char *addr, const tlsio_listen_opts *lopts,
                    tlsio_tls_config *cfg, const tlsio_conn_opts *opts, tlsio_accept_cb on_accept,
                    void *accept_user, tlsio_listener **out)
{
	tlsio_listen_opts lo_buf, *lo = &lo_buf;
	struct tlsio__conn_opts co;
	struct tlsio__addr a;
	tlsio_listener *l = NULL;
	int fd = -1, one = 1, rc;

	*out = NULL;
	if (loop->drain.on || loop->freeing)
		return -ESHUTDOWN;
	rc = tlsio__struct_in(lo, sizeof(*lo), lopts);
	if (rc == 0)
		rc = tlsio__conn_opts_in(&co, opts);
	if (rc < 0)
		return rc;
	lopts = lo;
	if ((lopts->flags & ~LISTEN_FLAGS_KNOWN) != 0 || lopts->backlog < 0)
		return -EINVAL;
	rc = tlsio__check_cfg(cfg, 1, co.o.flags);
	if (rc == 0)
		rc = tlsio__addr_parse(addr, 1, &a);
	if (rc < 0)
		return rc;
	/* permission bits belong to a socket file: asked for elsewhere, they could not hold */
	if (lopts->mode != 0 &&
	    (a.kind != TLSIO__ADDR_UNIX || ((struct sockaddr_un *)&a.ss)->sun_path[0] == '\0'))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	if (a.kind == TLSIO__ADDR_FD) {
		/* set up by whoever made it: what the caller asks for here could not hold */
		if (lopts->flags != 0 || lopts->backlog != 0 || lopts->mode != 0) {
			free(l);
			return -EINVAL;
		}
		fd = adopt_listener(a.fd);
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		if (co.o.rcvbuf > 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &co.o.rcvbuf, sizeof(co.o.rcvbuf));
	} else {
		fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		if (a.kind == TLSIO__ADDR_IP)
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		rc = listen_sockopts(fd, a.ss.ss_family, lopts);
		if (rc < 0)
			goto fail;
		/* Accepted sockets inherit the receive buffer; set it before listen() like the client
		 * does before connect(), so the window scale matches. */
		if (co.o.rcvbuf > 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &co.o.rcvbuf, sizeof(co.o.rcvbuf));
		if (a.kind == TLSIO__ADDR_UNIX)
			rc = bind_unix(l, fd, &a, lopts->mode);
		else if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0)
			rc = -errno;
		if (rc == 0 && listen(fd, lopts->backlog > 0 ? lopts->backlog : SOMAXCONN) < 0)
			rc = -errno;
		if (rc < 0)
			goto fail;
	}
	l->loop = loop;
	l->fd = fd;
	l->cfg = cfg;
	l->opts = co.o;
	l->cb = co.cb;
	l->opts.cb = &l->cb;
	l->opts.server_name = NULL;
	l->on_accept = on_accept;
	l->accept_user = accept_user;
	rc = loop->be->listener_attach(l);
	if (rc < 0)
		goto fail;
	if (cfg != NULL)
		tlsio__tls_config_ref(cfg);
	l->next = loop->listeners;
	loop->listeners = l;
	tlsio__loop_alive_changed(loop);
	*out = l;
	return 0;
fail:
	if (l->unix_path != NULL)
		(void)unlink(l->unix_path);
	if (fd >= 0)
		close(fd);
	free(l->unix_path);
	free(l);
	return rc;
}

void tlsio__listener_on_accept(tlsio_listener *l, int fd)
{
	tlsio_conn *c;
	if (l->closed || tlsio__set_nonblock(fd) < 0 ||
	    tlsio__conn_new(l->loop, fd, 1, l->cfg, &l->opts, NULL, &c) < 0) {
		close(fd);
		return;
	}
	tlsio__set_sockopts(fd, &l->opts);
	if (tlsio__conn_attach(c, 0) < 0) {
		tlsio__conn_discard(c);
		close(fd);
		return;
	}
	if (l->on_accept != NULL)
		l->on_accept(l, c, l->accept_user);
}

int tlsio_listener_addr(const tlsio_listener *l, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	return tlsio__format_addr(&ss, sl, buf, len);
}

int tlsio_listener_port(const tlsio_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

void tlsio_listener_close(tlsio_listener *l)
{
	tlsio_loop *loop = l->loop;
	tlsio_listener **pp;
	struct stat st;
	if (l->closed)
		return;
	l->closed = 1;
	loop->be->listener_detach(l);
	close(l->fd);
	l->fd = -1;
	/* The socket file goes with the listener, unless another process has put its own there. */
	if (l->unix_path != NULL && stat(l->unix_path, &st) == 0 &&
	    (uint64_t)st.st_dev == l->unix_dev && (uint64_t)st.st_ino == l->unix_ino)
		(void)unlink(l->unix_path);
	for (pp = &loop->listeners; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	/* freed after the current dispatch: the backend may still hold it in an event batch */
	l->next = loop->dead_listeners;
	loop->dead_listeners = l;
}

/* sd_listen_fds(3), without libsystemd: the protocol is three environment variables. */
int tlsio_listen_fds(int unset_env, char *names, size_t names_len)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	const char *names_s = getenv("LISTEN_FDNAMES");
	char *end;
	long pid, n;
	int rc = 0;
	if (names != NULL && names_len > 0)
		names[0] = '\0';
	if (pid_s == NULL || fds_s == NULL)
		goto out;
	errno = 0;
	pid = strtol(pid_s, &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 0) {
		rc = -EINVAL;
		goto out;
	}
	if (pid != (long)getpid())
		goto out; /* meant for another process (a parent that forked us) */
	n = strtol(fds_s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || n > 4096) {
		rc = -EINVAL;
		goto out;
	}
	for (int fd = 3; fd < 3 + n; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			rc = -EBADF;
			goto out;
		}
	}
	if (names != NULL && names_s != NULL) {
		if (strlen(names_s) >= names_len) {
			rc = -ENOSPC;
			goto out;
		}
		strcpy(names, names_s);
	}
	rc = (int)n;
out:
	if (unset_env) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return rc;
}

int tlsio_listener_set_config(tlsio_listener *l, tlsio_tls_config *cfg)
{
	if (l == NULL || l->cfg == NULL)
		return -EINVAL; /* a plain listener stays plain */
	if (cfg == NULL || !tlsio__tls_config_is_server(cfg))
		return TLSIO_E_TLS_CONFIG;
	/* accepted connections took their own reference: they keep the old one alive */
	tlsio__tls_config_ref(cfg);
	tlsio_tls_config_free(l->cfg);
	l->cfg = cfg;
	return 0;
}
