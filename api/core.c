/* SPDX-License-Identifier: MIT */
/* The connection core: send queues, lazy encryption, completions, backpressure, close and
 * failure paths, deadlines. Backends only move ciphertext (backends/backend.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi.h"
#include "core.h"
#include "conn.h"
#include "queue.h"
#include "timers.h"
#include "loop.h"
#include "hello.h"
#include "tls.h"
#include "backend.h"

static void conn_fail(tlsio_conn *c, int status);
static void conn_terminate(tlsio_conn *c, int status);
static void conn_process_input(tlsio_conn *c);
static void conn_arm_timer(tlsio_conn *c);
static void conn_touch_idle(tlsio_conn *c);
static int conn_announce(tlsio_conn *c);

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static size_t conn_queued(const tlsio_conn *c)
{
	return c->ptq.bytes + c->ctq.bytes;
}

static void conn_schedule(tlsio_conn *c)
{
	tlsio_loop *loop = c->loop;
	if (c->pending || c->state == ST_DEAD)
		return;
	c->pending = 1;
	c->pend_next = NULL;
	if (loop->pend_tail != NULL)
		loop->pend_tail->pend_next = c;
	else
		loop->pend_head = c;
	loop->pend_tail = c;
}

int tlsio__set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

void tlsio__set_sockopts(int fd, const tlsio_conn_opts *o)
{
	int one = 1;
	/* Records are already coalesced by the core: Nagle would only add latency. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->sndbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf));
	if (o->rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
}

static int marks_push(tlsio_conn *c, uint64_t ct_end, uint64_t pt_end)
{
	if (c->marks_len == c->marks_cap) {
		size_t cap = c->marks == c->marks_small ? 64 : c->marks_cap * 2;
		struct rec_mark *m = malloc(cap * sizeof(*m));
		if (m == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < c->marks_len; i++)
			m[i] = c->marks[(c->marks_head + i) % c->marks_cap];
		if (c->marks != c->marks_small)
			free(c->marks);
		c->marks = m;
		c->marks_cap = cap;
		c->marks_head = 0;
	}
	c->marks[(c->marks_head + c->marks_len) % c->marks_cap] = (struct rec_mark){ct_end, pt_end};
	c->marks_len++;
	return 0;
}

/* The TLS output function: everything wolfSSL writes lands in the ciphertext queue (and a plain
 * connection's bytes, see conn_encrypt). */
static int conn_tls_out(void *arg, const uint8_t *data, size_t len)
{
	tlsio_conn *c = arg;
	int rc = tlsio__ctq_append(&c->ctq, data, len);
	if (rc == 0)
		c->ct_produced += len;
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* backend-facing accessors */

size_t tlsio__conn_out_len(const tlsio_conn *c) { return c->ctq.bytes; }
size_t tlsio__conn_out_iov(const tlsio_conn *c, size_t skip, struct iovec *iov, size_t max)
{
	return tlsio__ctq_iov(&c->ctq, skip, iov, max);
}
int tlsio__conn_fd(const tlsio_conn *c) { return c->fd; }
int tlsio__conn_alive(const tlsio_conn *c) { return c->state != ST_DEAD; }
int tlsio__conn_wants_read(const tlsio_conn *c)
{
	if (c->state == ST_DEAD || c->state == ST_CONNECTING || c->peer_eof)
		return 0;
	if (c->state == ST_FAILING)
		return 1; /* lingering close: read and discard until EOF */
	return !c->read_paused || c->state == ST_HANDSHAKE;
}
/* A blocked write honours every deadline of the connection, not only the linger one. */
static uint64_t conn_deadline(const tlsio_conn *c);
/* A blocked write (the blocking backend) also gives up at a drain's deadline, which then
 * aborts the connection. */
uint64_t tlsio__conn_write_deadline(const tlsio_conn *c)
{
	uint64_t d = conn_deadline(c);
	const tlsio__timer *dt = &c->loop->drain.timer;
	if (dt->pos != 0 && (d == 0 || dt->at < d))
		d = dt->at;
	return d;
}
tlsio_stats *tlsio__conn_counters(tlsio_conn *c) { return &c->st; }
void *tlsio__conn_bdata(const tlsio_conn *c) { return c->bdata; }
void tlsio__conn_set_bdata(tlsio_conn *c, void *p) { c->bdata = p; }
tlsio_loop *tlsio__listener_loop(const tlsio_listener *l) { return l->loop; }
int tlsio__listener_fd(const tlsio_listener *l) { return l->fd; }
void *tlsio__listener_bdata(const tlsio_listener *l) { return l->bdata; }
void tlsio__listener_set_bdata(tlsio_listener *l, void *p) { l->bdata = p; }
void *tlsio__loop_bdata(const tlsio_loop *loop) { return loop->bdata; }
void tlsio__loop_set_bdata(tlsio_loop *loop, void *p) { loop->bdata = p; }

/* ---------------------------------------------------------------------------------------- */
/* sending */

/* A plain connection's record layer is the identity: queued bytes move to the output queue as
 * they are, up to @p ahead bytes ahead of the socket (as conn_encrypt keeps ciphertext), with a
 * mark per chunk so that completions and counters work as for TLS. Once all is in, a close
 * needs no close_notify: notify_sent lets conn_after_write shut the write side. */
static void conn_pass_plain(tlsio_conn *c, size_t ahead)
{
	while (c->ptq.bytes > 0 && c->ctq.bytes < ahead && c->state == ST_OPEN) {
		size_t n;
		const uint8_t *p = tlsio__ptq_peek(&c->ptq, &n);
		int rc;
		if (n > TLSIO__TLS_MAX_PLAIN)
			n = TLSIO__TLS_MAX_PLAIN;
		rc = conn_tls_out(c, p, n);
		if (rc == 0)
			rc = marks_push(c, c->ct_produced, c->pt_encrypted + n);
		if (rc < 0) {
			conn_fail(c, rc);
			return;
		}
		tlsio__ptq_consume(&c->ptq, n);
		c->pt_encrypted += n;
	}
	if (c->state == ST_OPEN && (c->close_req || c->shut_req) && c->ptq.bytes == 0)
		c->notify_sent = 1;
}

/* Encrypt queued plaintext into records of up to 16 KiB, coalescing small sends: N small sends
 * made in one loop turn become one record and one write. Encryption is lazy: only ENCRYPT_AHEAD
 * bytes of ciphertext are kept ready; tlsio__conn_on_sent() refills as they leave. A 64 MiB send
 * to a peer that does not read thus costs the encryption of what the kernel accepts, not of the
 * whole send, and the loop turn stays short. Then close_notify, once all plaintext is in. */
static void conn_encrypt(tlsio_conn *c)
{
	if (c->plain) {
		conn_pass_plain(c, ENCRYPT_AHEAD);
		return;
	}
	while (c->ptq.bytes > 0 && c->ctq.bytes < ENCRYPT_AHEAD && c->state == ST_OPEN &&
	       !c->notify_sent) {
		size_t n;
		const uint8_t *p = tlsio__ptq_peek(&c->ptq, &n);
		int rc;
		if (n >= TLSIO__TLS_MAX_PLAIN) {
			n = TLSIO__TLS_MAX_PLAIN;
		} else {
			n = tlsio__ptq_gather(&c->ptq, c->loop->stage, TLSIO__TLS_MAX_PLAIN);
			p = c->loop->stage;
		}
		rc = tlsio__tls_write(c->tls, p, n);
		if (rc == 0)
			rc = marks_push(c, c->ct_produced, c->pt_encrypted + n);
		if (rc < 0) {
			conn_fail(c, rc);
			return;
		}
		tlsio__ptq_consume(&c->ptq, n);
		c->pt_encrypted += n;
		c->st.records_sent++;
	}
	if (c->state == ST_OPEN && (c->close_req || c->shut_req) && c->ptq.bytes == 0 &&
	    !c->notify_sent) {
		int rc = tlsio__tls_close_notify(c->tls);
		if (rc < 0) {
			conn_fail(c, rc);
			return;
		}
		c->notify_sent = 1;
	}
}

/* After ciphertext left: completions, drain, and the steps of a graceful close. */
static void conn_after_write(tlsio_conn *c)
{
	while (c->marks_len > 0 && c->marks[c->marks_head].ct_end <= c->ct_sent) {
		c->st.app_bytes_sent = c->marks[c->marks_head].pt_end;
		c->marks_head = (c->marks_head + 1) % c->marks_cap;
		c->marks_len--;
	}
	if (c->marks_len == 0 && c->marks != c->marks_small) {
		free(c->marks);
		c->marks = c->marks_small;
		c->marks_cap = sizeof(c->marks_small) / sizeof(c->marks_small[0]);
		c->marks_head = 0;
	}
	while (c->req_head != NULL && c->req_head->end_ <= c->st.app_bytes_sent) {
		tlsio_send_req *r = c->req_head;
		c->req_head = r->next_;
		if (c->req_head == NULL)
			c->req_tail = NULL;
		r->cb_(r, 0);
		if (c->state == ST_DEAD)
			return;
	}
	if (c->drain_armed && conn_queued(c) <= c->low_water &&
	    (c->state == ST_OPEN || c->state == ST_HANDSHAKE)) {
		c->drain_armed = 0;
		if (c->cb.on_drain != NULL) {
			c->cb.on_drain(c, c->user);
			if (c->state == ST_DEAD)
				return;
		}
	}
	if (c->ctq.bytes > 0)
		return;
	if (c->state == ST_FAILING && !c->wr_shut) {
		/* The alert is in the kernel. Shut the write side so the peer reads it before a
		 * FIN, and keep reading so that unread input does not turn close() into an RST that
		 * would destroy the alert in the peer's receive queue. */
		(void)shutdown(c->fd, SHUT_WR);
		c->wr_shut = 1;
		if (c->peer_eof)
			conn_terminate(c, c->status);
		return;
	}
	if (c->notify_sent && !c->wr_shut && c->state == ST_OPEN) {
		(void)shutdown(c->fd, SHUT_WR);
		c->wr_shut = 1;
		if (c->peer_notify || c->peer_eof)
			conn_terminate(c, c->peer_notify ? 0 : TLSIO_E_TRUNCATED);
	}
}

/* One pass of deferred work for a connection: input held back, encryption, close_notify, write. */
static void conn_pump(tlsio_conn *c)
{
	if (c->state == ST_OPEN && conn_announce(c) < 0 && c->state == ST_DEAD)
		return;
	if (c->want_input && !c->read_paused) {
		c->want_input = 0;
		conn_process_input(c);
	}
	if (c->state == ST_OPEN)
		conn_encrypt(c);
	if (c->state == ST_DEAD || c->state == ST_CONNECTING)
		return;
	if (c->ctq.bytes > 0)
		c->loop->be->flush(c);
	else
		conn_after_write(c);
}

void tlsio__conn_on_sent(tlsio_conn *c, size_t n)
{
	if (n == 0)
		return;
	tlsio__ctq_consume(&c->ctq, n);
	c->ct_sent += n;
	c->st.tls_bytes_sent += n;
	conn_touch_idle(c);
	/* Refill before the completions: the backend's write loop goes on with what is added. */
	if (c->state == ST_OPEN && c->ctq.bytes <= ENCRYPT_AHEAD / 2 &&
	    (c->ptq.bytes > 0 || c->close_req || c->shut_req))
		conn_encrypt(c);
	if (c->state == ST_DEAD)
		return;
	conn_after_write(c);
}

/* ---------------------------------------------------------------------------------------- */
/* receiving */

static void conn_handle_peer_notify(tlsio_conn *c)
{
	c->peer_notify = 1;
	if (c->wr_shut) {
		conn_terminate(c, 0);
		return;
	}
	if (c->close_req || c->shut_req)
		return; /* our own close_notify is on its way; conn_after_write finishes */
	if (c->cb.on_peer_close != NULL)
		c->cb.on_peer_close(c, c->user);
	else
		tlsio_close(c);
}

/* The application chooses the configuration by what the client offered, or refuses it. */
static int conn_client_hello(tlsio_conn *c)
{
	const struct tlsio__hello *h = tlsio__tls_hello(c->tls);
	tlsio_client_hello info = {
		.struct_size = sizeof(info),
		.server_name = h->server_name[0] != '\0' ? h->server_name : NULL,
		.alpn = h->alpn_len > 0 ? h->alpn : NULL,
		.alpn_len = h->alpn_len,
		.max_version = h->max_version,
	};
	tlsio_tls_config *cfg = c->cfg;
	int alert = c->cb.on_client_hello(c, &info, &cfg, c->user);
	if (c->state != ST_HANDSHAKE)
		return TLSIO_E_CLOSED; /* closed or aborted from the callback */
	if (alert > 0)
		return tlsio__tls_hello_decide(c->tls, NULL, alert);
	if (cfg != c->cfg) {
		if (tlsio__check_cfg(cfg, 1, 0) < 0)
			return tlsio__tls_hello_decide(c->tls, NULL, TLSIO_ALERT_INTERNAL_ERROR);
		tlsio__tls_config_ref(cfg);
		tlsio_tls_config_free(c->cfg);
		c->cfg = cfg;
	}
	return tlsio__tls_hello_decide(c->tls, c->cfg, 0);
}

/* A plain connection became established: on_handshake, before anything else is delivered. The
 * pump does it, unless input comes first (epoll reports the connect and the first bytes in one
 * event; an accepted peer may have written already). 0, or -1 if the connection ended there. */
static int conn_announce(tlsio_conn *c)
{
	if (!c->announce)
		return 0;
	c->announce = 0;
	if (c->cb.on_handshake != NULL)
		c->cb.on_handshake(c, c->user);
	return c->state == ST_OPEN ? 0 : -1;
}

/* Plain input: straight to the application, or held while reading is paused (also what arrives
 * after a pause from a read already under way). */
static void conn_plain_input(tlsio_conn *c, const uint8_t *data, size_t n)
{
	if (c->read_paused || c->hold_len > 0 || c->in_input) {
		uint8_t *h = realloc(c->hold, c->hold_len + n);
		if (h == NULL) {
			conn_fail(c, -ENOMEM);
			return;
		}
		memcpy(h + c->hold_len, data, n);
		c->hold = h;
		c->hold_len += n;
		c->want_input = 1;
		conn_schedule(c); /* released by the pump once reading goes on */
		return;
	}
	c->in_input = 1;
	c->st.app_bytes_received += n;
	if (c->cb.on_data != NULL)
		c->cb.on_data(c, data, n, c->user);
	c->in_input = 0;
}

/* Input held back from a plain connection, once reading resumes: one on_data call. */
static void conn_plain_release(tlsio_conn *c)
{
	uint8_t *h = c->hold;
	size_t n = c->hold_len;
	if (n == 0 || c->read_paused || c->in_input)
		return;
	c->hold = NULL;
	c->hold_len = 0;
	if (!c->close_req) {
		c->in_input = 1;
		c->st.app_bytes_received += n;
		if (c->cb.on_data != NULL)
			c->cb.on_data(c, h, n, c->user);
		c->in_input = 0;
	}
	free(h);
	if (c->peer_eof && !c->peer_notify && c->state == ST_OPEN)
		conn_handle_peer_notify(c);
}

static void conn_process_input(tlsio_conn *c)
{
	if (c->plain) {
		conn_plain_release(c);
		return;
	}
	if (c->in_input)
		return; /* re-entered from an application callback: the outer call goes on */
	c->in_input = 1;
	if (c->state == ST_HANDSHAKE) {
		int rc = tlsio__tls_handshake(c->tls);
		if (rc == TLSIO__TLS_HELLO) {
			rc = conn_client_hello(c);
			if (rc == 0)
				rc = tlsio__tls_handshake(c->tls);
		}
		if (rc < 0) {
			conn_fail(c, rc);
			goto out;
		}
		if (rc == 0)
			goto out;
		c->state = ST_OPEN;
		c->hs_done = 1;
		c->hs_deadline = 0;
		if (c->read_paused)
			c->loop->be->read_stop(c); /* paused during the handshake: stop the socket now */
		if (c->cb.on_handshake != NULL) {
			c->cb.on_handshake(c, c->user);
			if (c->state != ST_OPEN)
				goto out;
		}
	}
	while (c->state == ST_OPEN && !c->read_paused && !c->peer_notify) {
		int n = tlsio__tls_read(c->tls, c->loop->rbuf, sizeof(c->loop->rbuf));
		if (n > 0) {
			if (c->close_req)
				continue; /* the application closed: read on only to find close_notify */
			c->st.app_bytes_received += (uint64_t)n;
			if (c->cb.on_data != NULL)
				c->cb.on_data(c, c->loop->rbuf, (size_t)n, c->user);
			continue;
		}
		if (n == TLSIO__TLS_CLOSED)
			conn_handle_peer_notify(c);
		else if (n < 0)
			conn_fail(c, n);
		break;
	}
	if (c->read_paused && c->state == ST_OPEN)
		c->want_input = 1; /* wolfSSL may hold decrypted bytes: resume them on read_start */
out:
	c->in_input = 0;
	conn_schedule(c);
}

void tlsio__conn_on_recv(tlsio_conn *c, const uint8_t *data, size_t n)
{
	int rc;
	if (c->state == ST_DEAD)
		return;
	c->st.tls_bytes_received += n;
	conn_touch_idle(c);
	/* A plain connection is announced before its first bytes (they may come with the
	 * connect's completion in one event); on_handshake may switch it to TLS, and then these
	 * bytes are the TLS peer's. */
	if (c->plain && c->announce && conn_announce(c) < 0 && c->state == ST_DEAD)
		return;
	if (c->state == ST_FAILING)
		return; /* lingering close: input is read only to be dropped */
	if (c->plain) {
		if (!c->close_req)
			conn_plain_input(c, data, n);
		return;
	}
	/* wolfSSL reads straight from the backend's buffer; only what it leaves (a partial record,
	 * or input held while reading is paused) is copied. The core frees no connection inside
	 * a callback, so c->tls outlives whatever the application did in conn_process_input. */
	rc = tlsio__tls_feed_borrow(c->tls, data, n);
	if (rc == 0)
		conn_process_input(c);
	if (tlsio__tls_feed_end(c->tls) < 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0)
		conn_fail(c, rc);
}

void tlsio__conn_on_eof(tlsio_conn *c)
{
	if (c->state == ST_DEAD || c->peer_eof)
		return;
	/* announced first, as for input (on_handshake may switch to TLS: then this is an EOF in
	 * its handshake) */
	if (c->plain && c->announce && conn_announce(c) < 0 && c->state == ST_DEAD)
		return;
	c->peer_eof = 1;
	if (c->plain) {
		/* TCP's orderly end is all a plain peer can say: a clean end, or a half-close */
		if (c->state == ST_OPEN && !c->peer_notify) {
			/* after the input held back, if any: conn_plain_release tells then */
			if (c->hold_len == 0)
				conn_handle_peer_notify(c);
			return;
		}
	} else {
		tlsio__tls_set_eof(c->tls);
	}
	switch (c->state) {
	case ST_CONNECTING:
	case ST_HANDSHAKE:
		conn_fail(c, TLSIO_E_EOF_IN_HANDSHAKE);
		break;
	case ST_FAILING:
		if (c->wr_shut)
			conn_terminate(c, c->status);
		break;
	case ST_OPEN:
		if (c->peer_notify) {
			if (c->wr_shut)
				conn_terminate(c, 0);
		} else {
			conn_terminate(c, TLSIO_E_TRUNCATED);
		}
		break;
	case ST_DEAD:
		break;
	}
}

void tlsio__conn_on_error(tlsio_conn *c, int err)
{
	if (c->state == ST_DEAD)
		return;
	if (c->state == ST_FAILING) {
		conn_terminate(c, c->status);
		return;
	}
	conn_terminate(c, err < 0 ? err : -EIO);
}

void tlsio__conn_on_connected(tlsio_conn *c, int status)
{
	int rc;
	if (c->state != ST_CONNECTING)
		return;
	if (status < 0) {
		conn_terminate(c, status);
		return;
	}
	c->connect_deadline = 0;
	/* the handshake and idle timeouts count from here: the connect has its own */
	if (c->hs_timeout_ms && !c->plain)
		c->hs_deadline = tlsio__now_ms() + c->hs_timeout_ms;
	if (c->idle_timeout_ms)
		c->idle_deadline = tlsio__now_ms() + c->idle_timeout_ms;
	conn_arm_timer(c);
	if (c->plain) {
		c->state = ST_OPEN;
		c->announce = 1;
		conn_schedule(c);
		return;
	}
	c->state = ST_HANDSHAKE;
	rc = tlsio__tls_handshake(c->tls); /* writes the ClientHello */
	if (rc < 0) {
		conn_fail(c, rc);
		return;
	}
	conn_schedule(c);
}

/* ---------------------------------------------------------------------------------------- */
/* ending */

/* A fatal error: keep only what is already encrypted (it precedes the alert in the stream),
 * send it with the alert, bounded by the linger deadline. */
static void conn_fail(tlsio_conn *c, int status)
{
	if (c->state == ST_FAILING || c->state == ST_DEAD)
		return;
	c->status = status;
	c->alert = c->tls != NULL ? tlsio__tls_alert(c->tls) : TLSIO_ALERT_NONE;
	/* a plain connection has no alert to deliver: what is queued is lost either way */
	if (c->state == ST_CONNECTING || c->ctq.bytes == 0 || status == -ENOMEM || c->tls == NULL) {
		conn_terminate(c, status);
		return;
	}
	c->state = ST_FAILING;
	tlsio__ptq_free(&c->ptq);
	c->linger_deadline = tlsio__now_ms() + c->linger_ms;
	conn_arm_timer(c);
	c->loop->be->read_start(c);
	conn_schedule(c);
}

static void conn_terminate(tlsio_conn *c, int status)
{
	if (c->state == ST_DEAD)
		return;
	if (c->status == 0)
		c->status = status;
	if (c->alert == TLSIO_ALERT_NONE && c->status != 0 && c->tls != NULL)
		c->alert = tlsio__tls_alert(c->tls);
	c->state = ST_DEAD;
	if (c->dial != NULL || c->fd < 0) {
		/* resolving or dialling: no backend has seen it */
		tlsio__dial_cancel(c);
		tlsio__conn_closed(c);
		return;
	}
	c->loop->be->conn_close(c);
}

void tlsio__conn_terminate(tlsio_conn *c, int status) { conn_terminate(c, status); }

void tlsio__conn_closed(tlsio_conn *c)
{
	tlsio_loop *loop = c->loop;
	if (c->bclosed)
		return;
	c->bclosed = 1;
	c->fin_next = loop->fin_head;
	loop->fin_head = c;
}

/* A connection ended by a deadline whose peer has not acknowledged all that was sent to it:
 * a plain close() would leave an orphan socket retransmitting into the peer's closed window,
 * holding the send buffer (megabytes, with autotuning) for minutes (tcp_orphan_retries). Reset
 * it instead, as nginx's reset_timedout_connection does. A peer that acknowledged everything (an
 * alert it read, a handshake it stopped answering) still gets an orderly FIN. */
static void close_fd(tlsio_conn *c)
{
	int unacked = 0;
	if (c->timed_out && ioctl(c->fd, TIOCOUTQ, &unacked) == 0 && unacked > 0) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
}

static void conn_free(tlsio_conn *c)
{
	tlsio_loop *loop = c->loop;
	tlsio__timers_del(&loop->timers, &c->timer);
	loop->nconns--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		loop->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->fd >= 0)
		close_fd(c);
	tlsio__ptq_free(&c->ptq);
	tlsio__ctq_free(&c->ctq);
	if (c->tls != NULL)
		tlsio__tls_free(c->tls);
	tlsio_tls_config_free(c->cfg);
	free(c->hold);
	free(c->identity);
	free(c->detail);
	if (c->marks != c->marks_small)
		free(c->marks);
	/* A callback may have scheduled it before it ended (on_close of another connection sends
	 * on it, then aborts it): it is still linked on a pending list, whose walk frees it. */
	if (c->pending)
		c->zombie = 1;
	else
		free(c);
}

/* Completions of unsent data, then on_close, then free: in that order, exactly once. */
static void conn_finalize(tlsio_conn *c)
{
	int status = c->status;
	int fail = status != 0 ? status : TLSIO_E_CLOSED;
	c->st.queued_now = conn_queued(c);
	while (c->req_head != NULL) {
		tlsio_send_req *r = c->req_head;
		c->req_head = r->next_;
		r->cb_(r, fail);
	}
	c->req_tail = NULL;
	if (c->cb.on_close != NULL)
		c->cb.on_close(c, status, status != 0 ? c->alert : TLSIO_ALERT_NONE, c->user);
	conn_free(c);
}

static void drain_check(tlsio_loop *loop);

static void loop_deadlines(tlsio_loop *loop);

/* Batches of pending work one pass of loop_process serves before it returns to the wait (with
 * a zero timeout: loop_run sees pending work), so that I/O, accepts, watches and a stop get
 * their turn too. */
#define PROCESS_BATCHES 8

/* Pending pumps and finalizations, batch by batch: what the callbacks of one batch schedule is
 * the next batch, and the timers and tasks that came due get their turn in between. Otherwise
 * a connection refilled from on_drain could keep them out for as long as it streams (on the
 * blocking backend every flush completes, so on_drain comes back at once). */
static void loop_process(tlsio_loop *loop)
{
	tlsio__tasks_run(loop, loop->freeing ? TLSIO_E_ABORTED : 0);
	for (int batches = 1;; batches++) {
		tlsio_conn *batch = loop->pend_head;
		loop->pend_head = loop->pend_tail = NULL;
		while (batch != NULL) {
			tlsio_conn *c = batch;
			batch = c->pend_next;
			c->pending = 0; /* from here on it may be scheduled again: into the next batch */
			if (c->zombie)
				free(c);
			else if (c->state != ST_DEAD)
				conn_pump(c);
		}
		while (loop->fin_head != NULL) {
			tlsio_conn *c = loop->fin_head;
			loop->fin_head = c->fin_next;
			conn_finalize(c);
		}
		if (loop->pend_head == NULL || batches == PROCESS_BATCHES)
			break;
		if (!loop->freeing) {
			loop_deadlines(loop);
			tlsio__tasks_run(loop, 0);
		}
	}
	while (loop->dead_listeners != NULL) {
		tlsio_listener *l = loop->dead_listeners;
		loop->dead_listeners = l->next;
		tlsio_tls_config_free(l->cfg);
		free(l->server_name);
		free(l->unix_path);
		free(l);
	}
	drain_check(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* deadlines */

static uint64_t conn_deadline(const tlsio_conn *c)
{
	uint64_t d = 0;
	uint64_t cand[4] = {c->hs_deadline, c->idle_deadline, c->linger_deadline, c->connect_deadline};
	for (int i = 0; i < 4; i++)
		if (cand[i] != 0 && (d == 0 || cand[i] < d))
			d = cand[i];
	return d;
}

/* Keep the connection's timer due no later than its earliest deadline. A deadline that moved
 * later (idle, on every read and write) leaves the timer where it is: when it comes due,
 * loop_deadlines moves it to the real deadline. The loop reserved a slot for every connection,
 * so this cannot fail. */
static void conn_arm_timer(tlsio_conn *c)
{
	uint64_t d = conn_deadline(c);
	if (d != 0 && (c->timer.pos == 0 || d < c->timer.at))
		(void)tlsio__timers_set(&c->loop->timers, &c->timer, d);
}

void tlsio__conn_arm_timer(tlsio_conn *c) { conn_arm_timer(c); }

/* Input, output progress or a new send: the idle deadline starts again. */
static void conn_touch_idle(tlsio_conn *c)
{
	if (c->idle_timeout_ms) {
		c->idle_deadline = tlsio__now_ms() + c->idle_timeout_ms;
		conn_arm_timer(c);
	}
}

#define TIMER_CONN(t) ((tlsio_conn *)((char *)(t) - offsetof(tlsio_conn, timer)))

static int loop_timeout(tlsio_loop *loop)
{
	uint64_t now = tlsio__now_ms();
	const tlsio__timer *t = tlsio__timers_top(&loop->timers);
	if (t == NULL)
		return -1;
	return t->at <= now ? 0 : (int)(t->at - now > 3600000 ? 3600000 : t->at - now);
}

static void drain_expired(tlsio_loop *loop);

/* Everything due by now, in time order. A timer queued or moved during this pass (a callback's
 * timer with timeout 0, a repeating one) waits for the next pass, so that no callback can keep
 * the loop here. */
static void loop_deadlines(tlsio_loop *loop)
{
	uint64_t now = tlsio__now_ms();
	uint64_t seq_end = loop->timers.seq;
	tlsio__timer *t;
	while ((t = tlsio__timers_top(&loop->timers)) != NULL && t->at <= now && t->seq < seq_end) {
		tlsio_conn *c;
		uint64_t d;
		if (t->kind == TLSIO__TK_APP) {
			tlsio__app_timer_expire(loop, t, now);
			continue;
		}
		if (t->kind == TLSIO__TK_DRAIN) {
			drain_expired(loop);
			continue;
		}
		c = TIMER_CONN(t);
		d = c->state == ST_DEAD ? 0 : conn_deadline(c);
		if (d > now) {
			(void)tlsio__timers_set(&loop->timers, t, d);
			continue;
		}
		tlsio__timers_del(&loop->timers, t);
		if (d == 0)
			continue;
		c->timed_out = 1;
		if (c->linger_deadline != 0 && now >= c->linger_deadline)
			conn_terminate(c, c->state == ST_FAILING ? c->status : TLSIO_E_LINGER_TIMEOUT);
		else if (c->connect_deadline != 0 && now >= c->connect_deadline)
			conn_terminate(c, TLSIO_E_CONNECT_TIMEOUT);
		else if (c->hs_deadline != 0 && now >= c->hs_deadline)
			conn_terminate(c, TLSIO_E_HANDSHAKE_TIMEOUT);
		else if (c->idle_deadline != 0 && now >= c->idle_deadline)
			conn_terminate(c, TLSIO_E_IDLE_TIMEOUT);
	}
}

int tlsio_loop_new(tlsio_loop **out, const tlsio_backend *b)
{
	tlsio_loop *loop;
	int rc;
	*out = NULL;
	if (b == NULL)
		b = tlsio_backend_by_name(NULL);
	if (b == NULL)
		return TLSIO_E_NO_BACKEND;
	rc = tlsio_backend_probe(b, NULL);
	if (rc < 0)
		return rc;
	loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return -ENOMEM;
	loop->be = b;
	loop->owner = pthread_self();
	rc = b->loop_init(loop);
	if (rc < 0) {
		free(loop);
		return rc;
	}
	*out = loop;
	return 0;
}

const tlsio_backend *tlsio_loop_backend(const tlsio_loop *loop) { return loop->be; }
const char *tlsio_loop_info(const tlsio_loop *loop)
{
	const char *s = loop->be->info != NULL ? loop->be->info(loop) : NULL;
	return s != NULL ? s : loop->be->name;
}
uint64_t tlsio_loop_now(tlsio_loop *loop) { (void)loop; return tlsio__now_ms(); }
void tlsio_loop_stop(tlsio_loop *loop) { atomic_store(&loop->stop, 1); }
void tlsio_loop_wake(tlsio_loop *loop) { loop->be->wake(loop); }

/* Work that must not wait: pending pumps, finalizations, posted tasks. */
static int loop_has_work(tlsio_loop *loop)
{
	return loop->pend_head != NULL || loop->fin_head != NULL || tlsio__tasks_pending(loop);
}

/* A stop is consumed by the run it ends (exchange, not a clear at the start): one made by another
 * thread just before a run begins, or between two runs, still ends the next run instead of being
 * forgotten while its wake has already been used up. */
static int loop_run(tlsio_loop *loop, int mode)
{
	for (;;) {
		int timeout, rc;
		loop_process(loop);
		if (atomic_exchange(&loop->stop, 0))
			break;
		if (mode == TLSIO_RUN_DEFAULT && loop->conns == NULL && loop->listeners == NULL &&
		    loop->refs == 0 && !tlsio__tasks_pending(loop))
			break;
		timeout = mode == TLSIO_RUN_NOWAIT ? 0 : loop_timeout(loop);
		if (loop_has_work(loop))
			timeout = 0;
		rc = loop->be->run_once(loop, timeout);
		if (rc < 0)
			return rc;
		loop_deadlines(loop);
		loop_process(loop);
		if (atomic_exchange(&loop->stop, 0) || mode != TLSIO_RUN_DEFAULT)
			break;
	}
	return 0;
}

int tlsio_loop_run(tlsio_loop *loop, int mode)
{
	int rc;
	if (mode != TLSIO_RUN_DEFAULT && mode != TLSIO_RUN_ONCE && mode != TLSIO_RUN_NOWAIT)
		return -EINVAL;
	if (loop->running)
		return -EBUSY; /* from inside one of its own callbacks */
	loop->running = 1;
	rc = loop_run(loop, mode);
	loop->running = 0;
	return rc;
}

/* What tlsio_loop_run does around each wait, for a backend whose wait the application drives
 * (libev on the application's ev_loop). */
int tlsio__loop_process(tlsio_loop *loop)
{
	loop_deadlines(loop);
	loop_process(loop);
	if (loop_has_work(loop))
		return 0;
	return loop_timeout(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* graceful drain */

int tlsio_loop_drain(tlsio_loop *loop, uint32_t timeout_ms, tlsio_drain_cb cb, void *user)
{
	uint64_t at = tlsio__now_ms() + timeout_ms;
	tlsio__timer *dt = &loop->drain.timer;
	if (loop->drain.on) {
		/* escalation: the earlier deadline holds */
		if (timeout_ms == 0)
			drain_expired(loop);
		else if (dt->pos != 0 && at < dt->at)
			(void)tlsio__timers_set(&loop->timers, dt, at);
		return 0;
	}
	if (timeout_ms != 0) {
		int rc = tlsio__loop_reserve_app(loop);
		if (rc < 0)
			return rc;
		dt->kind = TLSIO__TK_DRAIN;
		loop->napp++;
		(void)tlsio__timers_set(&loop->timers, dt, at);
	}
	loop->drain.on = 1;
	tlsio__loop_alive_changed(loop);
	loop->drain.cb = cb;
	loop->drain.user = user;
	loop->drain.aborted = 0;
	while (loop->listeners != NULL)
		tlsio_listener_close(loop->listeners);
	for (tlsio_conn *c = loop->conns; c != NULL; c = c->next)
		tlsio_close(c);
	if (timeout_ms == 0)
		drain_expired(loop);
	return 0;
}

/* The drain's deadline: abort what is still open. */
static void drain_expired(tlsio_loop *loop)
{
	tlsio__timer *dt = &loop->drain.timer;
	if (dt->pos != 0) {
		tlsio__timers_del(&loop->timers, dt);
		loop->napp--;
	}
	for (tlsio_conn *c = loop->conns; c != NULL; c = c->next) {
		if (c->state == ST_DEAD)
			continue;
		/* one failing on its own (flushing its alert) ends with its own status: not ours */
		if (c->state != ST_FAILING)
			loop->drain.aborted++;
		conn_terminate(c, TLSIO_E_ABORTED);
	}
}

/* The drain is over once the last connection was finalized: tell, and end the run. */
static void drain_check(tlsio_loop *loop)
{
	tlsio_drain_cb cb = loop->drain.cb;
	if (!loop->drain.on || loop->conns != NULL)
		return;
	if (loop->drain.timer.pos != 0) {
		tlsio__timers_del(&loop->timers, &loop->drain.timer);
		loop->napp--;
	}
	loop->drain.on = 0;
	atomic_store(&loop->stop, 1);
	if (cb != NULL)
		cb(loop, loop->drain.aborted, loop->drain.user);
}

size_t tlsio_loop_conn_count(const tlsio_loop *loop) { return loop->nconns; }
int tlsio__loop_take_stop(tlsio_loop *loop) { return atomic_exchange(&loop->stop, 0); }

void tlsio_loop_free(tlsio_loop *loop)
{
	if (loop == NULL)
		return;
	/* From here, tasks run with TLSIO_E_ABORTED and watches report nothing: the loop is not
	 * running any more, only ending. */
	loop->freeing = 1;
	while (loop->listeners != NULL)
		tlsio_listener_close(loop->listeners);
	for (tlsio_conn *c = loop->conns; c != NULL; c = c->next) {
		if (loop->drain.on && c->state != ST_DEAD)
			loop->drain.aborted++;
		conn_terminate(c, TLSIO_E_ABORTED);
	}
	loop_process(loop);
	/* A backend with operations in flight (io_uring) answers conn_close later. */
	for (int i = 0; i < 100 && loop->conns != NULL; i++) {
		loop->be->run_once(loop, 10);
		loop_process(loop);
	}
	/* released connections still linked on the pending list (see conn_free) */
	while (loop->pend_head != NULL) {
		tlsio_conn *c = loop->pend_head;
		loop->pend_head = c->pend_next;
		c->pending = 0;
		if (c->zombie)
			free(c);
	}
	loop->pend_tail = NULL;
	/* Tasks posted until now (also by the callbacks above, and by aborted tasks themselves)
	 * learn that they will not run, while the timers and watches they may free still exist.
	 * Bounded: a task that re-posts itself whatever its status would hold the free forever. */
	for (int i = 0; i < 64 && tlsio__tasks_pending(loop); i++)
		tlsio__tasks_run(loop, TLSIO_E_ABORTED);
	/* After the connections and the tasks: their callbacks may still free the application's
	 * timers and watches. Before the backend, which waits on the watched fds. */
	tlsio__events_free(loop);
	if (loop->drain.timer.pos != 0)
		tlsio__timers_del(&loop->timers, &loop->drain.timer);
	loop->be->loop_free(loop);
	tlsio__pool_drain(&loop->pt_pool);
	tlsio__pool_drain(&loop->ct_pool);
	tlsio__timers_free(&loop->timers);
	free(loop);
	tlsio__tls_thread_cleanup();
}

/* ---------------------------------------------------------------------------------------- */
/* connections */

#define CONN_FLAGS_KNOWN TLSIO_CONN_PLAIN

int tlsio__conn_opts_in(struct tlsio__conn_opts *co, const tlsio_conn_opts *opts)
{
	int rc = tlsio__struct_in(&co->o, sizeof(co->o), opts);
	if (rc == 0)
		rc = tlsio__struct_in(&co->cb, sizeof(co->cb), co->o.cb);
	co->o.cb = &co->cb;
	if (rc == 0 && (co->o.flags & ~CONN_FLAGS_KNOWN) != 0)
		rc = -EINVAL;
	return rc;
}

int tlsio__conn_new(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                    const tlsio_conn_opts *o, const char *identity, tlsio_conn **out)
{
	tlsio_conn *c;
	int rc;
	*out = NULL;
	if (loop->drain.on || loop->freeing)
		return -ESHUTDOWN;
	/* a timer slot for every connection (and every other timer): arming one later cannot fail */
	rc = tlsio__loop_reserve_app(loop);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->loop = loop;
	c->fd = fd;
	c->is_server = is_server;
	c->alert = TLSIO_ALERT_NONE;
	c->state = ST_HANDSHAKE;
	c->marks = c->marks_small;
	c->marks_cap = sizeof(c->marks_small) / sizeof(c->marks_small[0]);
	c->cb = *o->cb;
	c->user = o->user;
	c->high_water = o->high_water ? o->high_water : DEFAULT_HIGH_WATER;
	c->low_water = o->low_water;
	c->linger_ms = o->linger_ms ? o->linger_ms : DEFAULT_LINGER_MS;
	c->hs_timeout_ms = o->handshake_timeout_ms;
	c->idle_timeout_ms = o->idle_timeout_ms;
	tlsio__ptq_init(&c->ptq);
	tlsio__ctq_init(&c->ctq);
	tlsio__ptq_use_pool(&c->ptq, &loop->pt_pool);
	tlsio__ctq_use_pool(&c->ctq, &loop->ct_pool);
	if (cfg == NULL) {
		/* plain (tlsio__check_cfg let it through): no handshake; a client keeps the name it
		 * meant to reach for a tlsio_starttls() */
		c->plain = 1;
		c->state = ST_OPEN;
		if (!is_server && identity != NULL && identity[0] != '\0' &&
		    (c->identity = strdup(identity)) == NULL) {
			free(c);
			return -ENOMEM;
		}
	} else {
		rc = tlsio__tls_new(&c->tls, cfg, is_server ? NULL : identity, conn_tls_out, c);
		if (rc < 0) {
			free(c);
			return rc;
		}
		if (is_server && c->cb.on_client_hello != NULL)
			tlsio__tls_inspect_hello(c->tls);
		tlsio__tls_config_ref(cfg);
		c->cfg = cfg;
		if (c->hs_timeout_ms)
			c->hs_deadline = tlsio__now_ms() + c->hs_timeout_ms;
	}
	if (c->idle_timeout_ms)
		c->idle_deadline = tlsio__now_ms() + c->idle_timeout_ms;
	conn_arm_timer(c);
	loop->nconns++;
	c->next = loop->conns;
	if (loop->conns != NULL)
		loop->conns->prev = c;
	loop->conns = c;
	tlsio__loop_alive_changed(loop);
	if (c->plain && is_server) {
		c->announce = 1;
		conn_schedule(c);
	}
	*out = c;
	return 0;
}

void tlsio__conn_discard(tlsio_conn *c)
{
	c->fd = -1;
	conn_free(c);
}

int tlsio__check_cfg(tlsio_tls_config *cfg, int is_server, unsigned flags)
{
	if (flags & TLSIO_CONN_PLAIN)
		return cfg == NULL ? 0 : -EINVAL; /* a configuration and "no TLS": which one is meant? */
	if (cfg == NULL || tlsio__tls_config_is_server(cfg) != is_server)
		return TLSIO_E_TLS_CONFIG;
	return 0;
}

int tlsio__conn_attach(tlsio_conn *c, int connecting)
{
	return c->loop->be->conn_attach(c, connecting);
}

void tlsio__conn_dialled(tlsio_conn *c, int fd)
{
	int rc;
	c->fd = fd;
	rc = c->loop->be->conn_attach(c, 0);
	if (rc < 0) {
		c->fd = -1;
		close(fd);
		conn_terminate(c, rc);
		return;
	}
	tlsio__conn_on_connected(c, 0);
	/* attached while connecting, when it wanted no input: it does now (a plain connection has
	 * nothing to send that would make the backend look again) */
	if (c->state != ST_DEAD)
		c->loop->be->read_start(c);
}

int tlsio_conn_adopt(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                     const tlsio_conn_opts *opts, tlsio_conn **out)
{
	struct tlsio__conn_opts co;
	tlsio_conn *c;
	int rc;
	*out = NULL;
	rc = tlsio__conn_opts_in(&co, opts);
	if (rc == 0)
		rc = tlsio__check_cfg(cfg, is_server, co.o.flags);
	if (rc == 0)
		rc = tlsio__set_nonblock(fd);
	/* a socket has no name to verify: a verifying client must be told one (TLSIO_E_NO_IDENTITY) */
	if (rc == 0)
		rc = tlsio__conn_new(loop, fd, is_server, cfg, &co.o, co.o.server_name, &c);
	if (rc == 0 && !is_server && c->tls != NULL &&
	    (rc = tlsio__conn_session_key(c, co.o.server_name, NULL)) < 0)
		tlsio__conn_discard(c);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	tlsio__set_sockopts(fd, &co.o);
	rc = loop->be->conn_attach(c, 0);
	if (rc < 0) {
		tlsio__conn_discard(c);
		close(fd);
		return rc;
	}
	if (!is_server) {
		c->state = ST_CONNECTING;
		tlsio__conn_on_connected(c, 0);
	}
	*out = c;
	return 0;
}

/* Everything queued before the switch leaves in plaintext (it is moved to the output queue
 * now, whatever its size: the application queued it, within its high water), then the TLS
 * handshake follows in the same queue. */
int tlsio_starttls(tlsio_conn *c, tlsio_tls_config *cfg)
{
	tlsio__tls *t = NULL;
	size_t discarded;
	int rc;
	if (!c->plain)
		return -EINVAL;
	if (c->state == ST_CONNECTING)
		return -ENOTCONN;
	if (c->state != ST_OPEN || c->close_req || c->shut_req || c->notify_sent)
		return TLSIO_E_CLOSED;
	rc = tlsio__check_cfg(cfg, c->is_server, 0);
	if (rc < 0)
		return rc;
	/* the checks tlsio_connect() makes of a TLS client's identity */
	if (!c->is_server && tlsio__tls_config_verifies(cfg) &&
	    (c->identity == NULL || strchr(c->identity, '*') != NULL || strlen(c->identity) > 253))
		return TLSIO_E_NO_IDENTITY;
	rc = tlsio__tls_new(&t, cfg, c->is_server ? NULL : c->identity, conn_tls_out, c);
	if (rc < 0)
		return rc;
	conn_pass_plain(c, SIZE_MAX);
	if (c->state != ST_OPEN || c->ptq.bytes > 0) {
		/* conn_pass_plain failed (out of memory): the connection is failing with it */
		tlsio__tls_free(t);
		return -ENOMEM;
	}
	c->tls = t; /* the session key is the connection's: set it before anything is committed */
	if (!c->is_server && tlsio__conn_session_key(c, c->identity, NULL) < 0) {
		c->tls = NULL;
		tlsio__tls_free(t);
		return -ENOMEM;
	}
	/* plaintext that arrived before the switch and was not delivered is not the peer's TLS */
	discarded = c->hold_len;
	free(c->hold);
	c->hold = NULL;
	c->hold_len = 0;
	c->plain = 0;
	c->announce = 0;
	tlsio__tls_config_ref(cfg);
	c->cfg = cfg;
	if (c->is_server && c->cb.on_client_hello != NULL)
		tlsio__tls_inspect_hello(c->tls);
	c->state = ST_HANDSHAKE;
	if (c->hs_timeout_ms) {
		c->hs_deadline = tlsio__now_ms() + c->hs_timeout_ms;
		conn_arm_timer(c);
	}
	if (!c->is_server) {
		rc = tlsio__tls_handshake(c->tls); /* the ClientHello, after the plaintext */
		if (rc < 0) {
			conn_fail(c, rc);
			return 0; /* on_close tells */
		}
	}
	/* a paused reader still reads the handshake */
	c->loop->be->read_start(c);
	conn_schedule(c);
	return discarded > INT_MAX ? INT_MAX : (int)discarded;
}

int tlsio_conn_is_tls(const tlsio_conn *c) { return c->tls != NULL; }
int tlsio_conn_resumed(const tlsio_conn *c) { return c->tls != NULL && c->hs_done && tlsio__tls_resumed(c->tls); }

int tlsio__conn_session_key(tlsio_conn *c, const char *identity, const char *port)
{
	char key[TLSIO__HOST_MAX + 120], pbuf[16];
	if (c->tls == NULL || c->is_server || identity == NULL || identity[0] == '\0')
		return 0;
	if (port == NULL) {
		/* adopted or switched: the port the socket is connected to */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned p = 0;
		port = "unix";
		if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		if (p != 0) {
			snprintf(pbuf, sizeof(pbuf), "%u", p);
			port = pbuf;
		}
	}
	snprintf(key, sizeof(key), "%s:%s", identity, port);
	return tlsio__tls_session_key(c->tls, key);
}
const char *tlsio_conn_error_detail(const tlsio_conn *c) { return c->detail; }

int tlsio_conn_peer_addr(const tlsio_conn *c, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (c->fd < 0 || c->state == ST_CONNECTING || c->state == ST_DEAD)
		return -ENOTCONN;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	return tlsio__format_addr(&ss, sl, buf, len);
}

static int conn_enqueue(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len, int flags,
                        tlsio_send_cb cb)
{
	size_t before;
	int rc;
	if (c->state >= ST_FAILING || c->close_req || c->shut_req || c->notify_sent)
		return TLSIO_E_CLOSED;
	before = conn_queued(c);
	if (before >= c->high_water) {
		c->drain_armed = 1;
		return TLSIO_E_QUEUE_FULL;
	}
	if (len > 0) {
		rc = (flags & TLSIO_SEND_REF) ? tlsio__ptq_ref(&c->ptq, buf, len)
		                              : tlsio__ptq_copy(&c->ptq, buf, len);
		if (rc < 0)
			return rc;
	}
	c->pt_queued += len;
	c->st.app_bytes_queued += len;
	/* A new send is activity: the data has not even had a chance to leave (the callback that
	 * queued it may have run longer than the timeout). */
	conn_touch_idle(c);
	if (req != NULL) {
		req->next_ = NULL;
		req->cb_ = cb;
		req->conn_ = c;
		req->end_ = c->pt_queued;
		req->copied_ = !(flags & TLSIO_SEND_REF);
		if (c->req_tail != NULL)
			c->req_tail->next_ = req;
		else
			c->req_head = req;
		c->req_tail = req;
	}
	if (conn_queued(c) > c->st.queued_peak)
		c->st.queued_peak = conn_queued(c);
	if (conn_queued(c) > c->low_water)
		c->drain_armed = 1;
	conn_schedule(c);
	return 0;
}

int tlsio_send(tlsio_conn *c, const void *buf, size_t len)
{
	return conn_enqueue(c, NULL, buf, len, 0, NULL);
}

int tlsio_send_ex(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len, int flags,
                  tlsio_send_cb cb)
{
	if (req == NULL || cb == NULL)
		return -EINVAL;
	return conn_enqueue(c, req, buf, len, flags, cb);
}

int tlsio_send_ref(tlsio_conn *c, tlsio_send_req *req, const void *buf, size_t len, tlsio_send_cb cb)
{
	return tlsio_send_ex(c, req, buf, len, TLSIO_SEND_REF, cb);
}

size_t tlsio_conn_queued(const tlsio_conn *c) { return conn_queued(c); }

void tlsio_conn_set_watermarks(tlsio_conn *c, size_t low, size_t high)
{
	c->high_water = high ? high : DEFAULT_HIGH_WATER;
	c->low_water = low;
}

void tlsio_read_stop(tlsio_conn *c)
{
	if (c->read_paused || c->state == ST_DEAD)
		return;
	c->read_paused = 1;
	if (c->state != ST_FAILING && c->state != ST_HANDSHAKE && c->state != ST_CONNECTING)
		c->loop->be->read_stop(c);
}

void tlsio_read_start(tlsio_conn *c)
{
	if (!c->read_paused || c->state == ST_DEAD)
		return;
	c->read_paused = 0;
	c->want_input = 1;
	if (c->fd >= 0 && c->dial == NULL) /* a name being dialled has no backend yet */
		c->loop->be->read_start(c);
	conn_schedule(c);
}

void tlsio_close(tlsio_conn *c)
{
	if (c->state == ST_DEAD || c->state == ST_FAILING || c->close_req)
		return;
	c->close_req = 1;
	c->linger_deadline = tlsio__now_ms() + c->linger_ms;
	conn_arm_timer(c);
	if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) {
		/* Nothing to say yet: no close_notify before keys exist. */
		conn_terminate(c, TLSIO_E_CLOSED);
		return;
	}
	if (c->read_paused) {
		/* Reading goes on after close so the peer's close_notify is seen. */
		c->read_paused = 0;
		c->loop->be->read_start(c);
	}
	conn_schedule(c);
}

int tlsio_shutdown(tlsio_conn *c)
{
	if (c->state == ST_DEAD || c->state == ST_FAILING)
		return TLSIO_E_CLOSED;
	if (c->state != ST_OPEN)
		return -ENOTCONN;
	c->shut_req = 1;
	conn_schedule(c);
	return 0;
}

void tlsio_abort(tlsio_conn *c)
{
	conn_terminate(c, TLSIO_E_ABORTED);
}

void *tlsio_conn_user(const tlsio_conn *c) { return c->user; }
void tlsio_conn_set_user(tlsio_conn *c, void *user) { c->user = user; }
int tlsio_conn_set_callbacks(tlsio_conn *c, const tlsio_callbacks *cb)
{
	tlsio_callbacks tmp;
	int rc = tlsio__struct_in(&tmp, sizeof(tmp), cb);
	if (rc == 0)
		c->cb = tmp;
	return rc;
}
tlsio_loop *tlsio_conn_loop(const tlsio_conn *c) { return c->loop; }
int tlsio_conn_fd(const tlsio_conn *c) { return c->fd; }
const char *tlsio_conn_tls_version(const tlsio_conn *c) { return c->hs_done ? tlsio__tls_version(c->tls) : NULL; }
const char *tlsio_conn_cipher(const tlsio_conn *c) { return c->hs_done ? tlsio__tls_cipher(c->tls) : NULL; }
const char *tlsio_conn_alpn(const tlsio_conn *c) { return c->hs_done ? tlsio__tls_alpn(c->tls) : NULL; }
const char *tlsio_conn_server_name(const tlsio_conn *c) { return c->tls != NULL ? tlsio__tls_sni(c->tls) : NULL; }

int tlsio_conn_stats(const tlsio_conn *c, tlsio_stats *out)
{
	tlsio_stats st = c->st;
	st.queued_now = conn_queued(c);
	return tlsio__struct_out(out, &st, sizeof(st));
}

int tlsio_conn_cert_error(const tlsio_conn *c, const char **why)
{
	if (c->tls == NULL) {
		if (why != NULL)
			*why = "";
		return TLSIO_CERT_OK;
	}
	return tlsio__tls_cert_error(c->tls, why);
}

const uint8_t *tlsio_conn_peer_cert(const tlsio_conn *c, size_t *len)
{
	if (c->tls == NULL) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	return tlsio__tls_peer_cert(c->tls, len);
}

int tlsio_conn_peer_cert_info(const tlsio_conn *c, tlsio_cert_info **out)
{
	size_t len;
	const uint8_t *der = tlsio_conn_peer_cert(c, &len);
	*out = NULL;
	if (der == NULL)
		return -ENOENT;
	return tlsio_cert_info_new(der, len, out);
}

