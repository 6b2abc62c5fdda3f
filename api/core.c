/* SPDX-License-Identifier: MIT */
/* The connection core: send queues, lazy encryption, completions, backpressure, close and
 * failure paths, deadlines. Backends only move ciphertext (backends/backend.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi.h"
#include "core.h"
#include "queue.h"
#include "timers.h"
#include "loop.h"
#include "hello.h"
#include "tls.h"
#include "backend.h"

#define DEFAULT_HIGH_WATER (16u * 1024 * 1024)
/* Ciphertext kept encrypted ahead of the socket (see conn_encrypt). */
#define ENCRYPT_AHEAD (256u * 1024)
#define DEFAULT_LINGER_MS 5000u

enum conn_state {
	ST_CONNECTING,
	ST_HANDSHAKE,
	ST_OPEN,
	ST_FAILING, /* fatal error: flushing the alert, then a lingering close */
	ST_DEAD     /* handed to the backend's conn_close; freed after tlsio__conn_closed */
};

/* Ciphertext position at which a record's plaintext ends: lets sends complete when the kernel
 * has taken the record carrying their last byte. */
struct rec_mark {
	uint64_t ct_end, pt_end;
};

struct tlsio_conn {
	tlsio_loop *loop;
	tlsio_conn *prev, *next;   /* loop->conns */
	tlsio_conn *pend_next;     /* loop pending list */
	tlsio_conn *fin_next;      /* loop finalize list */
	int fd;
	int is_server;
	enum conn_state state;
	unsigned pending : 1, finalizing : 1, in_input : 1, want_input : 1;
	unsigned read_paused : 1, close_req : 1, shut_req : 1, notify_sent : 1, wr_shut : 1;
	unsigned peer_notify : 1, peer_eof : 1, drain_armed : 1, hs_done : 1, bclosed : 1;
	unsigned timed_out : 1; /* ended by a deadline: see close_fd */
	unsigned zombie : 1;    /* released while still on a pending list: freed when it comes up */
	tlsio_callbacks cb;
	void *user;
	void *bdata;
	tlsio_tls_config *cfg;
	tlsio__tls *tls;
	tlsio__ptq ptq;
	tlsio__ctq ctq;
	/* stream positions */
	uint64_t pt_queued, pt_encrypted, ct_produced, ct_sent;
	/* record marks, a ring: in marks_small while few records wait (a small response), on the
	 * heap during a bulk send, and back in marks_small once all are sent, so that a connection
	 * idle after traffic holds nothing here (it kept a 1 KiB ring for life before) */
	struct rec_mark *marks;
	size_t marks_head, marks_len, marks_cap;
	struct rec_mark marks_small[4];
	tlsio_send_req *req_head, *req_tail;
	size_t high_water, low_water;
	uint32_t linger_ms, hs_timeout_ms, idle_timeout_ms;
	uint64_t hs_deadline, idle_deadline, linger_deadline;
	tlsio__timer timer;        /* loop->timers; due no later than the earliest deadline */
	int status;
	int alert;
	tlsio_stats st;
};

struct tlsio_listener {
	tlsio_loop *loop;
	tlsio_listener *next;
	int fd;
	int closed;
	void *bdata;
	tlsio_tls_config *cfg;
	tlsio_conn_opts opts;
	tlsio_callbacks cb;
	char *server_name;
	tlsio_accept_cb on_accept;
	void *accept_user;
};


static void conn_fail(tlsio_conn *c, int status);
static int check_cfg(tlsio_tls_config *cfg, int is_server);
static void conn_terminate(tlsio_conn *c, int status);
static void conn_process_input(tlsio_conn *c);
static void conn_arm_timer(tlsio_conn *c);
static void conn_touch_idle(tlsio_conn *c);

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

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void set_sockopts(int fd, const tlsio_conn_opts *o)
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

/* The TLS output function: everything wolfSSL writes lands in the ciphertext queue. */
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

/* Encrypt queued plaintext into records of up to 16 KiB, coalescing small sends: N small sends
 * made in one loop turn become one record and one write. Encryption is lazy: only ENCRYPT_AHEAD
 * bytes of ciphertext are kept ready; tlsio__conn_on_sent() refills as they leave. A 64 MiB send
 * to a peer that does not read thus costs the encryption of what the kernel accepts, not of the
 * whole send, and the loop turn stays short. Then close_notify, once all plaintext is in. */
static void conn_encrypt(tlsio_conn *c)
{
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
		if (check_cfg(cfg, 1) < 0)
			return tlsio__tls_hello_decide(c->tls, NULL, TLSIO_ALERT_INTERNAL_ERROR);
		tlsio__tls_config_ref(cfg);
		tlsio_tls_config_free(c->cfg);
		c->cfg = cfg;
	}
	return tlsio__tls_hello_decide(c->tls, c->cfg, 0);
}

static void conn_process_input(tlsio_conn *c)
{
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
	if (c->state == ST_FAILING)
		return; /* lingering close: input is read only to be dropped */
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
	c->peer_eof = 1;
	tlsio__tls_set_eof(c->tls);
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
	c->alert = tlsio__tls_alert(c->tls);
	if (c->state == ST_CONNECTING || c->ctq.bytes == 0 || status == -ENOMEM) {
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
	c->loop->be->conn_close(c);
}

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
	tlsio__tls_free(c->tls);
	tlsio_tls_config_free(c->cfg);
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
		free(l);
	}
	drain_check(loop);
}

/* ---------------------------------------------------------------------------------------- */
/* deadlines */

static uint64_t conn_deadline(const tlsio_conn *c)
{
	uint64_t d = 0;
	uint64_t cand[3] = {c->hs_deadline, c->idle_deadline, c->linger_deadline};
	for (int i = 0; i < 3; i++)
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

/* The caller's connection options and their callbacks, in the library's layout (abi.h). */
struct conn_opts {
	tlsio_conn_opts o;
	tlsio_callbacks cb;
};

static int conn_opts_in(struct conn_opts *co, const tlsio_conn_opts *opts)
{
	int rc = tlsio__struct_in(&co->o, sizeof(co->o), opts);
	if (rc == 0)
		rc = tlsio__struct_in(&co->cb, sizeof(co->cb), co->o.cb);
	co->o.cb = &co->cb;
	return rc;
}

/* @p o: normalised (conn_opts_in); @p identity: a client's expected server name */
static int conn_new(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
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
	if (c->idle_timeout_ms)
		c->idle_deadline = tlsio__now_ms() + c->idle_timeout_ms;
	conn_arm_timer(c);
	loop->nconns++;
	c->next = loop->conns;
	if (loop->conns != NULL)
		loop->conns->prev = c;
	loop->conns = c;
	*out = c;
	return 0;
}

/* Undo conn_new for a connection no backend has seen yet; the fd stays the caller's. */
static void conn_discard(tlsio_conn *c)
{
	c->fd = -1;
	conn_free(c);
}

static int check_cfg(tlsio_tls_config *cfg, int is_server)
{
	if (cfg == NULL || tlsio__tls_config_is_server(cfg) != is_server)
		return TLSIO_E_TLS_CONFIG;
	return 0;
}

int tlsio_connect(tlsio_loop *loop, const char *addr, tlsio_tls_config *cfg,
                  const tlsio_conn_opts *opts, tlsio_conn **out)
{
	struct sockaddr_storage ss;
	struct conn_opts co;
	char host[TLSIO__HOST_MAX];
	const char *id = NULL;
	unsigned sl;
	tlsio_conn *c;
	int fd, rc;

	*out = NULL;
	rc = check_cfg(cfg, 0);
	if (rc == 0)
		rc = conn_opts_in(&co, opts);
	if (rc == 0)
		rc = tlsio__parse_addr(addr, &ss, &sl);
	if (rc == 0)
		rc = tlsio__addr_host(addr, host, sizeof(host));
	/* Whom we meant to reach is whom the certificate must name: the application's name for
	 * it, or else the address it gave. Checked before a SYN goes out. */
	if (rc == 0)
		id = co.o.server_name != NULL && co.o.server_name[0] != '\0' ? co.o.server_name : host;
	if (rc == 0 && tlsio__tls_config_verifies(cfg) &&
	    (id[0] == '\0' || strchr(id, '*') != NULL || strlen(id) > 253))
		rc = TLSIO_E_NO_IDENTITY;
	if (rc < 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Buffer sizes before connect(): the receive window scale is fixed by the SYN. */
	set_sockopts(fd, &co.o);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = conn_new(loop, fd, 0, cfg, &co.o, id, &c);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	c->state = ST_CONNECTING;
	rc = loop->be->conn_attach(c, 1);
	if (rc < 0) {
		conn_discard(c);
		close(fd);
		return rc;
	}
	*out = c;
	return 0;
}

int tlsio_conn_adopt(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                     const tlsio_conn_opts *opts, tlsio_conn **out)
{
	struct conn_opts co;
	tlsio_conn *c;
	int rc;
	*out = NULL;
	rc = check_cfg(cfg, is_server);
	if (rc == 0)
		rc = conn_opts_in(&co, opts);
	if (rc == 0)
		rc = set_nonblock(fd);
	/* a socket has no name to verify: a verifying client must be told one (TLSIO_E_NO_IDENTITY) */
	if (rc == 0)
		rc = conn_new(loop, fd, is_server, cfg, &co.o, co.o.server_name, &c);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	set_sockopts(fd, &co.o);
	rc = loop->be->conn_attach(c, 0);
	if (rc < 0) {
		conn_discard(c);
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
const char *tlsio_conn_server_name(const tlsio_conn *c) { return tlsio__tls_sni(c->tls); }

int tlsio_conn_stats(const tlsio_conn *c, tlsio_stats *out)
{
	tlsio_stats st = c->st;
	st.queued_now = conn_queued(c);
	return tlsio__struct_out(out, &st, sizeof(st));
}

int tlsio_conn_cert_error(const tlsio_conn *c, const char **why)
{
	return tlsio__tls_cert_error(c->tls, why);
}

const uint8_t *tlsio_conn_peer_cert(const tlsio_conn *c, size_t *len)
{
	return tlsio__tls_peer_cert(c->tls, len);
}

int tlsio_conn_peer_cert_info(const tlsio_conn *c, tlsio_cert_info **out)
{
	size_t len;
	const uint8_t *der = tlsio__tls_peer_cert(c->tls, &len);
	*out = NULL;
	if (der == NULL)
		return -ENOENT;
	return tlsio_cert_info_new(der, len, out);
}

/* ---------------------------------------------------------------------------------------- */
/* listeners */

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
	struct conn_opts co;
	struct sockaddr_storage ss;
	unsigned sl;
	tlsio_listener *l = NULL;
	int fd = -1, one = 1, rc;

	*out = NULL;
	if (loop->drain.on || loop->freeing)
		return -ESHUTDOWN;
	rc = tlsio__struct_in(lo, sizeof(*lo), lopts);
	if (rc == 0)
		rc = conn_opts_in(&co, opts);
	if (rc < 0)
		return rc;
	lopts = lo;
	if ((lopts->flags & ~LISTEN_FLAGS_KNOWN) != 0 || lopts->backlog < 0)
		return -EINVAL;
	rc = check_cfg(cfg, 1);
	if (rc == 0)
		rc = tlsio__parse_addr(addr, &ss, &sl);
	if (rc < 0)
		return rc;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = listen_sockopts(fd, ss.ss_family, lopts);
	if (rc < 0)
		goto fail;
	/* Accepted sockets inherit the receive buffer; set it before listen() like the client does
	 * before connect(), so the window scale matches. */
	if (co.o.rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &co.o.rcvbuf, sizeof(co.o.rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(fd, lopts->backlog > 0 ? lopts->backlog : SOMAXCONN) < 0) {
		rc = -errno;
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
	tlsio__tls_config_ref(cfg);
	l->next = loop->listeners;
	loop->listeners = l;
	*out = l;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(l);
	return rc;
}

void tlsio__listener_on_accept(tlsio_listener *l, int fd)
{
	tlsio_conn *c;
	if (l->closed || set_nonblock(fd) < 0 || conn_new(l->loop, fd, 1, l->cfg, &l->opts, NULL, &c) < 0) {
		close(fd);
		return;
	}
	set_sockopts(fd, &l->opts);
	if (l->loop->be->conn_attach(c, 0) < 0) {
		conn_discard(c);
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
	return tlsio__format_addr(&ss, buf, len);
}

int tlsio_listener_port(const tlsio_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void tlsio_listener_close(tlsio_listener *l)
{
	tlsio_loop *loop = l->loop;
	tlsio_listener **pp;
	if (l->closed)
		return;
	l->closed = 1;
	loop->be->listener_detach(l);
	close(l->fd);
	l->fd = -1;
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
