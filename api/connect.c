/* SPDX-License-Identifier: MIT */
/* tlsio_connect(): numeric addresses and Unix sockets straight to the backend; host names
 * resolved off the loop (resolve.c) and their addresses tried with Happy Eyeballs (RFC 8305).
 *
 * Dialling lives in the core, not in the backends: each attempt is a non-blocking connect()
 * waited on through the loop's fd watches (the entry every backend has for the application's
 * fds), and the attempt that connects first is handed to the backend as a connected socket.
 * So every backend dials the same way, and nothing in backends/ knows about names. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "conn.h"
#include "loop.h"
#include "resolve.h"
#include "backend.h"

#define DEFAULT_ATTEMPT_DELAY_MS 250u /* RFC 8305 section 8: Connection Attempt Delay */
#define MIN_ATTEMPT_DELAY_MS 10u      /* its floor */
#define MAX_ADDRS 32                  /* addresses of one name that are tried */

struct attempt {
	int fd;
	tlsio_watch *w;
	struct tlsio__dial *d;
};

struct tlsio__dial {
	tlsio_conn *c;
	struct tlsio__resolve *rq; /* while resolving */
	tlsio_timer *stagger;      /* the next attempt's start */
	struct sockaddr_storage addrs[MAX_ADDRS];
	socklen_t lens[MAX_ADDRS];
	size_t naddrs, next;
	struct attempt att[MAX_ADDRS];
	size_t nactive;
	int last_err;
	uint32_t delay_ms;
	int sndbuf, rcvbuf;
	char name[TLSIO__HOST_MAX + 8]; /* "host:port" */
	char log[1024];                 /* "[::1]:443: Connection refused; ..." */
	size_t loglen;
};

static void set_detail(tlsio_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(tlsio_conn *c, const char *fmt, ...)
{
	va_list ap;
	char buf[1400];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(c->detail);
	c->detail = strdup(buf); /* NULL on ENOMEM: the status still says it */
}

/* "ADDRESS: what it answered" appended to the dial's log; @p err 0: it did not answer. */
static void dial_log(struct tlsio__dial *d, const struct sockaddr_storage *ss, socklen_t sl, int err)
{
	char a[128];
	int n;
	if (tlsio__format_addr(ss, sl, a, sizeof(a)) < 0)
		strcpy(a, "?");
	n = snprintf(d->log + d->loglen, sizeof(d->log) - d->loglen, "%s%s: %s",
	             d->loglen > 0 ? "; " : "", a, err != 0 ? strerror(err) : "no answer");
	if (n > 0)
		d->loglen = d->loglen + (size_t)n >= sizeof(d->log) ? sizeof(d->log) - 1 : d->loglen + (size_t)n;
	if (err != 0)
		d->last_err = err;
}

static void attempt_close(struct attempt *a)
{
	if (a->w != NULL)
		tlsio_watch_free(a->w);
	if (a->fd >= 0)
		close(a->fd);
	a->w = NULL;
	a->fd = -1;
	a->d->nactive--;
}

void tlsio__dial_cancel(tlsio_conn *c)
{
	struct tlsio__dial *d = c->dial;
	if (d == NULL)
		return;
	if (c->detail == NULL && c->status == TLSIO_E_CONNECT_TIMEOUT) {
		for (size_t i = 0; i < d->next; i++)
			if (d->att[i].fd >= 0)
				dial_log(d, &d->addrs[i], d->lens[i], 0);
		set_detail(c, "%s: %s", d->name,
		           d->rq != NULL ? "the name did not resolve before the connect timeout"
		           : d->loglen > 0 ? d->log : "no address answered before the connect timeout");
	}
	if (d->rq != NULL)
		tlsio__resolve_cancel(d->rq);
	tlsio__loop_refs_add(c->loop, -1); /* see connect_name */
	for (size_t i = 0; i < d->next; i++)
		if (d->att[i].fd >= 0)
			attempt_close(&d->att[i]);
	tlsio_timer_free(d->stagger);
	free(d);
	c->dial = NULL;
}

/* Every address failed. */
static void dial_failed(struct tlsio__dial *d)
{
	tlsio_conn *c = d->c;
	set_detail(c, "%s: %s", d->name, d->log);
	tlsio__conn_terminate(c, d->last_err > 0 ? -d->last_err : -ECONNREFUSED);
}

static void dial_won(struct tlsio__dial *d, struct attempt *win)
{
	tlsio_conn *c = d->c;
	int fd = win->fd;
	tlsio_watch_free(win->w);
	win->w = NULL;
	win->fd = -1;
	d->nactive--;
	tlsio__dial_cancel(c); /* the other attempts, the timer */
	tlsio__conn_dialled(c, fd);
}

static void dial_next(struct tlsio__dial *d);

static void attempt_ready(tlsio_watch *w, int fd, unsigned revents, void *user)
{
	struct attempt *a = user;
	struct tlsio__dial *d = a->d;
	int err = 0;
	socklen_t el = sizeof(err);
	(void)w;
	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err == 0) {
		dial_won(d, a);
		return;
	}
	dial_log(d, &d->addrs[a - d->att], d->lens[a - d->att], err);
	attempt_close(a);
	/* RFC 8305 section 5: a failed attempt starts the next one at once */
	dial_next(d);
}

static void stagger_due(tlsio_timer *t, void *user)
{
	(void)t;
	dial_next(user);
}

/* Start the next address's attempt (and more at once while they fail at once); then wait for
 * the first to connect, or the attempt delay. */
static void dial_next(struct tlsio__dial *d)
{
	while (d->next < d->naddrs) {
		size_t i = d->next++;
		struct attempt *a = &d->att[i];
		tlsio_conn_opts so = {.sndbuf = d->sndbuf, .rcvbuf = d->rcvbuf};
		int fd = socket(d->addrs[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rc;
		a->d = d;
		a->fd = -1;
		if (fd < 0) {
			dial_log(d, &d->addrs[i], d->lens[i], errno);
			continue;
		}
		tlsio__set_sockopts(fd, &so);
		a->fd = fd;
		d->nactive++;
		if (connect(fd, (struct sockaddr *)&d->addrs[i], d->lens[i]) == 0) {
			dial_won(d, a);
			return;
		}
		if (errno != EINPROGRESS) {
			dial_log(d, &d->addrs[i], d->lens[i], errno);
			attempt_close(a);
			continue;
		}
		rc = tlsio_watch_new(d->c->loop, fd, TLSIO_WRITABLE, attempt_ready, a, &a->w);
		if (rc < 0) {
			dial_log(d, &d->addrs[i], d->lens[i], -rc);
			attempt_close(a);
			continue;
		}
		if (d->next < d->naddrs)
			(void)tlsio_timer_start(d->stagger, d->delay_ms, 0);
		return;
	}
	if (d->nactive == 0)
		dial_failed(d);
}

/* RFC 8305 section 4: the addresses in getaddrinfo's order (RFC 6724), the families interleaved,
 * starting with the family of the first. */
static void dial_resolved(void *arg, struct addrinfo *res, int gai_rc, int gai_errno)
{
	struct tlsio__dial *d = arg;
	tlsio_conn *c = d->c;
	struct addrinfo *fam[2][MAX_ADDRS];
	size_t nf[2] = {0, 0};
	int first = -1, rc;
	d->rq = NULL;
	if (gai_rc != 0) {
		set_detail(c, "cannot resolve '%s': %s", d->name,
		           gai_rc == EAI_SYSTEM ? strerror(gai_errno) : gai_strerror(gai_rc));
		tlsio__conn_terminate(c, TLSIO_E_RESOLVE);
		return;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int f = ai->ai_family == AF_INET6 ? 0 : ai->ai_family == AF_INET ? 1 : -1;
		if (f < 0 || ai->ai_addrlen > sizeof(d->addrs[0]) || nf[f] == MAX_ADDRS)
			continue;
		if (first < 0)
			first = f;
		fam[f][nf[f]++] = ai;
	}
	for (size_t k = 0; d->naddrs < MAX_ADDRS && (k < nf[0] || k < nf[1]); k++) {
		for (int j = 0; j < 2; j++) {
			int f = j == 0 ? first : 1 - first;
			if (k < nf[f] && d->naddrs < MAX_ADDRS) {
				memcpy(&d->addrs[d->naddrs], fam[f][k]->ai_addr, fam[f][k]->ai_addrlen);
				d->lens[d->naddrs++] = fam[f][k]->ai_addrlen;
			}
		}
	}
	freeaddrinfo(res);
	if (d->naddrs == 0) {
		set_detail(c, "cannot resolve '%s': no IPv4 or IPv6 address", d->name);
		tlsio__conn_terminate(c, TLSIO_E_RESOLVE);
		return;
	}
	rc = tlsio_timer_new(c->loop, stagger_due, d, &d->stagger);
	if (rc < 0) {
		tlsio__conn_terminate(c, rc);
		return;
	}
	dial_next(d);
}

static int connect_name(tlsio_conn *c, const struct tlsio__addr *a, const tlsio_conn_opts *o)
{
	struct tlsio__dial *d = calloc(1, sizeof(*d));
	int rc;
	if (d == NULL)
		return -ENOMEM;
	d->c = c;
	d->delay_ms = o->attempt_delay_ms == 0 ? DEFAULT_ATTEMPT_DELAY_MS
	              : o->attempt_delay_ms < MIN_ATTEMPT_DELAY_MS ? MIN_ATTEMPT_DELAY_MS
	              : o->attempt_delay_ms;
	d->sndbuf = o->sndbuf;
	d->rcvbuf = o->rcvbuf;
	snprintf(d->name, sizeof(d->name), "%s:%s", a->host, a->port);
	rc = tlsio__resolve_start(c->loop, a->host, a->port, dial_resolved, d, &d->rq);
	if (rc < 0) {
		free(d);
		return rc;
	}
	c->dial = d;
	/* A connection keeps its loop running; one being dialled has no backend that would say so
	 * (on an application's ev loop: no ev_io holding a reference), so it counts as a
	 * referenced handle until it is connected or ends. */
	tlsio__loop_refs_add(c->loop, 1);
	return 0;
}

int tlsio_connect(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                  const tlsio_conn_opts *opts, tlsio_conn **out)
{
	struct tlsio__conn_opts co;
	struct tlsio__addr a;
	const char *id = NULL;
	tlsio_conn *c;
	int fd = -1, rc;

	*out = NULL;
	rc = tlsio__conn_opts_in(&co, opts);
	if (rc == 0)
		rc = tlsio__check_cfg(cfg, 0, co.o.flags);
	if (rc == 0)
		rc = tlsio__addr_parse(addr, 0, &a);
	/* Whom we meant to reach is whom the certificate must name: the application's name for
	 * it, or else the host it gave. Checked before a SYN goes out. */
	if (rc == 0)
		id = co.o.server_name != NULL && co.o.server_name[0] != '\0' ? co.o.server_name : a.host;
	if (rc == 0 && cfg != NULL && tlsio__tls_config_verifies(cfg) &&
	    (id[0] == '\0' || strchr(id, '*') != NULL || strlen(id) > 253))
		rc = TLSIO_E_NO_IDENTITY;
	if (rc < 0)
		return rc;
	if (loop->drain.on || loop->freeing)
		return -ESHUTDOWN; /* before a SYN goes out */
	if (a.kind != TLSIO__ADDR_NAME) {
		fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		/* Buffer sizes before connect(): the receive window scale is fixed by the SYN. */
		tlsio__set_sockopts(fd, &co.o);
		if (connect(fd, (struct sockaddr *)&a.ss, a.len) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			close(fd);
			return rc;
		}
	}
	rc = tlsio__conn_new(loop, fd, 0, cfg, &co.o, id, &c);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	/* the session cache's key: whom we meant to reach, and where ("unix:PATH" has no port) */
	rc = tlsio__conn_session_key(c, id, a.kind == TLSIO__ADDR_UNIX ? addr : a.port);
	if (rc < 0) {
		tlsio__conn_discard(c);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	c->state = ST_CONNECTING;
	/* the handshake and idle timeouts start once connected (tlsio__conn_on_connected) */
	c->hs_deadline = 0;
	c->idle_deadline = 0;
	c->connect_deadline = tlsio__now_ms() +
	                      (co.o.connect_timeout_ms ? co.o.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
	tlsio__conn_arm_timer(c);
	rc = a.kind == TLSIO__ADDR_NAME ? connect_name(c, &a, &co.o) : tlsio__conn_attach(c, 1);
	if (rc < 0) {
		tlsio__conn_discard(c);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*out = c;
	return 0;
}
