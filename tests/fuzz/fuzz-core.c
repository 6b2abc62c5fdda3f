/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the connection core (api/core.c) over an in-memory backend.
 *
 * The backend here is a test double that honours backends/backend.h: it attaches one connection,
 * records flushes and read start/stop, and does its I/O only when the input says so. The
 * connection under test (the victim, client or server) talks TLS to a peer: a bare tls/ adapter
 * the target drives itself, with a resumed session (fuzz-session.h). The input is a program
 * (fuzz-ops.h, FC_*): the application sends (copied, by reference, with completions, up to
 * 320 KiB), closes, shuts down, aborts, pauses reading, moves the watermarks; the "kernel" takes
 * any number of ciphertext bytes; the peer reads, writes records, closes, updates keys; its
 * bytes arrive in pieces of any size, or raw, forged, flipped, cut or replayed; EOF and socket
 * errors come at any point; the next callback may re-enter the library (send, close, abort,
 * read_stop, refuse the ClientHello...); closes may be answered by the backend at once or later.
 * At the end everything is drained, then EOF, then the loop is freed.
 *
 * Checked, besides no crash, leak or undefined behaviour (by-reference buffers are freed in
 * their completion and copied ones right after the send, so a core that kept touching them is a
 * use-after-free):
 *  C1  the peer reads exactly what the application sent, in order; on_data gives exactly what
 *      the peer wrote, in order; no on_data after the application closed or aborted;
 *  C2  every completion fires once, in send order, before on_close; status 0 only for bytes
 *      that reached the peer;
 *  C4  a send is refused (TLSIO_E_QUEUE_FULL) only at or above high water, and then queues
 *      nothing; an accepted one adds exactly its length; on_drain only at or below low water;
 *  C5  a fatal TLS error of the victim's own that sent an alert reaches the peer as that
 *      alert; one without any alert (wolfSSL's gaps) is listed as "C5 gap" (fuzz-common.h);
 *  C6  status 0 only after the peer's close_notify; TLSIO_E_TRUNCATED only after EOF; a graceful
 *      close that got as far as shutting down the write side delivered all data, then
 *      close_notify;
 *  and on_close exactly once, nothing after it, an alert reported as received only if the peer
 *  sent one.
 *
 * The first input byte is the mode: bit 0 the victim is the server; bit 1 the backend answers
 * conn_close later (at its next run); bit 2 the application sets on_client_hello; bit 3 it sets
 * on_peer_close; bits 4-7 the variant (modulo FZ_NVARIANTS). */
#include <fcntl.h>
#include <unistd.h>

#include "tls.c"  /* the adapter and the core themselves: the target reaches the WOLFSSL under */
#include "core.c" /* a connection (session resumption) and the connection's state (checks) */
#include "fuzz-common.h"
#include "fuzz-session.h"
#include "fuzz-ops.h"

#define MODEL_MAX (1u << 20) /* plaintext each side may send per input */
#define MAX_REQS 256

/* ------------------------------------------------------------------------------------------ */
/* the in-memory backend */

static struct {
	tlsio_conn *c;   /* attached, until it answered conn_close */
	int closing;     /* conn_close came: no more calls into the core but tlsio__conn_closed */
	int close_owed;  /* deferred mode: tlsio__conn_closed at the next run */
	int defer_close;
	int reading;
	unsigned long flushes;
} fb;

static const struct fz_variant *var;

static int fb_probe(const char **why)
{
	(void)why;
	return 0;
}
static int fb_loop_init(tlsio_loop *loop)
{
	(void)loop;
	return 0;
}
static void fb_loop_free(tlsio_loop *loop) { (void)loop; }
static void fb_wake(tlsio_loop *loop) { (void)loop; }
static int fb_listener_attach(tlsio_listener *l)
{
	(void)l;
	return -EOPNOTSUPP;
}
static void fb_listener_detach(tlsio_listener *l) { (void)l; }

static int fb_run_once(tlsio_loop *loop, int timeout_ms)
{
	(void)loop;
	(void)timeout_ms;
	if (fb.close_owed) {
		fb.close_owed = 0;
		tlsio__conn_closed(fb.c);
	}
	return 0;
}

static int fb_conn_attach(tlsio_conn *c, int connecting)
{
	(void)connecting;
	fb.c = c;
	fb.reading = 1;
	if (!c->is_server)
		fz_client_prepare(c->tls, var); /* before its first word: the ClientHello */
	return 0;
}

static void fb_conn_close(tlsio_conn *c)
{
	FZ_CHECK(c == fb.c && !fb.closing, "conn_close twice or for another connection");
	fb.closing = 1;
	if (fb.defer_close)
		fb.close_owed = 1;
	else
		tlsio__conn_closed(c);
}

static void fb_flush(tlsio_conn *c)
{
	FZ_CHECK(c == fb.c && !fb.closing, "flush after conn_close");
	fb.flushes++;
}

static void fb_read_start(tlsio_conn *c)
{
	(void)c;
	fb.reading = 1;
}

static void fb_read_stop(tlsio_conn *c)
{
	(void)c;
	fb.reading = 0;
}

static const struct tlsio_backend fake_backend = {
	.name = "fuzz",
	.probe = fb_probe,
	.loop_init = fb_loop_init,
	.loop_free = fb_loop_free,
	.run_once = fb_run_once,
	.wake = fb_wake,
	.listener_attach = fb_listener_attach,
	.listener_detach = fb_listener_detach,
	.conn_attach = fb_conn_attach,
	.conn_close = fb_conn_close,
	.flush = fb_flush,
	.read_start = fb_read_start,
	.read_stop = fb_read_stop,
};

/* ------------------------------------------------------------------------------------------ */
/* the application, the peer and what they expect */

struct req {
	tlsio_send_req r;
	int id;
	uint64_t end;  /* stream position after its last byte */
	uint8_t *buf;  /* by reference: the caller's until the completion */
	int status;
	int fired;
};

static struct {
	tlsio_loop *loop;
	tlsio_conn *c;         /* the victim until its on_close */
	int victim_server;
	/* application side */
	uint8_t *sent;         /* what the application sent, in order */
	size_t sent_len;
	size_t got;            /* on_data bytes so far: the peer's plaintext [0, got) */
	int app_closed;        /* tlsio_close or tlsio_abort called: no on_data any more */
	int handshake_done;
	size_t high, low;      /* watermarks as set */
	struct req *reqs[MAX_REQS];
	int nreqs, next_done;  /* completions fire in id order */
	uint64_t ok_end;       /* end of the last send completed with status 0 */
	int closes, close_status, close_alert;
	int close_wr_shut;     /* at on_close: close_notify sent and the write side shut */
	int close_failing_flushed; /* at on_close: it had failed and sent everything (the alert) */
	int close_tls_err;     /* wolfSSL's error then */
	int eof_given, reset_given, aborted;
	int hs_tampered;       /* the peer's bytes were tampered with before the handshake ended:
	                          the peer may rightly fail too (Finished does not verify) */
	int action;            /* what the next callback does (FC_REENTER) */
	int batch;             /* no loop run after each operation */
	/* the peer */
	tlsio__tls *p;
	struct fz_buf p_out;   /* what the peer wrote, not yet delivered to the victim */
	struct fz_buf last_rec;
	struct fz_buf wire;    /* what the kernel took from the victim, not yet read by the peer */
	uint8_t *p_sent;
	size_t p_sent_len;
	size_t p_got;          /* plaintext the peer read: the application's [0, p_got) */
	int p_hs, p_closed, p_err, p_notify_sent;
} S;

static void on_close_cb(tlsio_conn *c, int status, int alert, void *user);

/* A re-entering action, from inside a callback. */
static void reenter(tlsio_conn *c)
{
	int a = S.action;
	S.action = 0;
	switch (a) {
	case 1: { /* a small copied send */
		static const uint8_t hi[] = "hello from a callback";
		if (S.sent_len + sizeof(hi) <= MODEL_MAX && tlsio_send(c, hi, sizeof(hi)) == 0) {
			memcpy(S.sent + S.sent_len, hi, sizeof(hi));
			S.sent_len += sizeof(hi);
		}
		break;
	}
	case 2:
		S.app_closed = 1;
		tlsio_close(c);
		break;
	case 3:
		S.app_closed = 1;
		S.aborted = 1;
		tlsio_abort(c);
		break;
	case 4:
		(void)tlsio_shutdown(c); /* half-close: reading goes on */
		break;
	case 5:
		tlsio_read_stop(c);
		break;
	case 6:
		tlsio_read_start(c);
		break;
	case 7:
		S.low = 0;
		S.high = 1;
		tlsio_conn_set_watermarks(c, S.low, S.high);
		break;
	}
}

static void check_alive(tlsio_conn *c, const char *what)
{
	FZ_CHECK(S.c != NULL && c == S.c, "%s after on_close or for another connection", what);
}

static void on_handshake_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_handshake");
	FZ_CHECK(!S.handshake_done, "on_handshake twice");
	S.handshake_done = 1;
	reenter(c);
}

static void on_data_cb(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	(void)user;
	check_alive(c, "on_data");
	FZ_CHECK(!S.app_closed, "on_data after the application closed");
	FZ_CHECK(len > 0 && S.got + len <= S.p_sent_len && memcmp(data, S.p_sent + S.got, len) == 0,
	         "on_data: %zu bytes at %zu that the peer did not write there (%zu written)", len,
	         S.got, S.p_sent_len);
	S.got += len;
	reenter(c);
}

static void on_drain_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_drain");
	FZ_CHECK(tlsio_conn_queued(c) <= S.low, "on_drain with %zu queued, low water %zu",
	         tlsio_conn_queued(c), S.low);
	reenter(c);
}

static void on_peer_close_cb(tlsio_conn *c, void *user)
{
	(void)user;
	check_alive(c, "on_peer_close");
	FZ_CHECK(S.p_notify_sent, "on_peer_close, but the peer sent no close_notify");
	if (S.action != 0) {
		reenter(c);
	} else {
		S.app_closed = 1;
		tlsio_close(c);
	}
}

static int on_client_hello_cb(tlsio_conn *c, const tlsio_client_hello *h, tlsio_tls_config **cfg,
                              void *user)
{
	(void)user;
	(void)cfg;
	check_alive(c, "on_client_hello");
	FZ_CHECK(S.victim_server, "on_client_hello on a client");
	FZ_CHECK(S.hs_tampered || (h->server_name != NULL && strcmp(h->server_name, "localhost") == 0),
	         "SNI lost");
	if (S.action == 8) {
		S.action = 0;
		return TLSIO_ALERT_UNRECOGNIZED_NAME;
	}
	reenter(c);
	return 0;
}

static void on_close_cb(tlsio_conn *c, int status, int alert, void *user)
{
	(void)user;
	check_alive(c, "on_close");
	S.closes++;
	S.close_status = status;
	S.close_alert = alert;
	S.close_wr_shut = c->wr_shut && c->notify_sent;
	S.close_failing_flushed = c->state == ST_DEAD && c->ctq.bytes == 0 && c->wr_shut && !c->notify_sent;
	S.close_tls_err = tlsio__tls_last_error(c->tls);
	FZ_CHECK(S.next_done == S.nreqs, "on_close before %d of %d completions", S.nreqs - S.next_done,
	         S.nreqs);
	S.c = NULL;
}

static void on_sent_cb(tlsio_send_req *r, int status)
{
	struct req *q = (struct req *)r;
	FZ_CHECK(S.closes == 0, "completion after on_close");
	FZ_CHECK(!q->fired, "completion %d twice", q->id);
	FZ_CHECK(q->id == S.next_done, "completion %d, expected %d", q->id, S.next_done);
	q->fired = 1;
	q->status = status;
	S.next_done++;
	if (status == 0)
		S.ok_end = q->end;
	else
		FZ_CHECK(status < 0, "completion status %d", status);
	free(q->buf); /* the caller's again: the core must not touch it any more */
	q->buf = NULL;
	if (S.c != NULL && status == 0)
		reenter(S.c);
}

static const tlsio_callbacks cbs_all = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake_cb,
	.on_data = on_data_cb,
	.on_drain = on_drain_cb,
	.on_peer_close = on_peer_close_cb,
	.on_close = on_close_cb,
	.on_client_hello = on_client_hello_cb,
};

/* ------------------------------------------------------------------------------------------ */
/* operations */

/* Backend -> core calls are allowed while attached and until conn_close. */
static int io_ok(void)
{
	return S.c != NULL && !fb.closing;
}

static void run_loop(void)
{
	(void)tlsio_loop_run(S.loop, TLSIO_RUN_NOWAIT);
}

static size_t send_size(unsigned v)
{
	/* mostly up to 1 KiB, one in eight up to 28 KiB (past a record), one in 64 up to 320 KiB
	 * (past the 256 KiB encrypted ahead): real crypto makes every byte count, and a big send
	 * costs as much as a hundred small inputs */
	if ((v & 0xfc00) == 0xfc00)
		return (size_t)(v & 0x3ff) * 320;
	if ((v & 0xe000) == 0xe000)
		return (size_t)(v & 0x1fff) * 4;
	return v & 0x3ff;
}

static void app_send(unsigned kind, size_t len)
{
	size_t before, off = S.sent_len;
	uint8_t *buf;
	struct req *q = NULL;
	int rc;
	if (S.c == NULL || S.sent_len + len > MODEL_MAX || S.nreqs == MAX_REQS)
		return;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		abort();
	memcpy(buf, fz_pattern_at(off, len), len);
	before = tlsio_conn_queued(S.c);
	if (kind == 0) {
		rc = tlsio_send(S.c, buf, len);
	} else {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			abort();
		q->id = S.nreqs;
		q->end = off + len;
		if (kind == 1)
			q->buf = buf; /* by reference */
		rc = tlsio_send_ex(S.c, &q->r, buf, len, kind == 1 ? TLSIO_SEND_REF : 0, on_sent_cb);
	}
	FZ_CHECK(rc == 0 || rc == TLSIO_E_QUEUE_FULL || rc == TLSIO_E_CLOSED, "send: %d", rc);
	if (rc == 0) {
		FZ_CHECK(tlsio_conn_queued(S.c) == before + len, "send of %zu: queued %zu -> %zu", len,
		         before, tlsio_conn_queued(S.c));
		memcpy(S.sent + off, buf, len);
		S.sent_len += len;
		if (q != NULL)
			S.reqs[S.nreqs++] = q;
	} else {
		if (rc == TLSIO_E_QUEUE_FULL)
			FZ_CHECK(before >= S.high, "refused with %zu queued, high water %zu", before, S.high);
		FZ_CHECK(tlsio_conn_queued(S.c) == before, "a refused send queued something");
		free(q);
		q = NULL;
	}
	if (q == NULL || kind != 1) {
		memset(buf, 0xa5, len); /* copied: the caller may reuse it at once */
		free(buf);
	}
}

/* The kernel takes up to @p n of the victim's ciphertext bytes. */
static void kernel_takes(size_t n)
{
	struct iovec iov[16];
	size_t k, moved = 0;
	if (!io_ok())
		return;
	if (n > tlsio__conn_out_len(S.c))
		n = tlsio__conn_out_len(S.c);
	if (n == 0)
		return;
	k = tlsio__conn_out_iov(S.c, 0, iov, 16);
	for (size_t i = 0; i < k && moved < n; i++) {
		size_t m = iov[i].iov_len < n - moved ? iov[i].iov_len : n - moved;
		fz_buf_put(&S.wire, iov[i].iov_base, m);
		moved += m;
	}
	tlsio__conn_on_sent(S.c, moved);
}

/* The peer reads what reached it, and answers the handshake. */
static void peer_step(void)
{
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	if (fz_buf_avail(&S.wire) > 0) {
		if (tlsio__tls_feed(S.p, fz_buf_data(&S.wire), fz_buf_avail(&S.wire)) != 0)
			abort();
		fz_buf_clear(&S.wire);
	}
	if (S.p_hs == 0) {
		S.p_hs = tlsio__tls_handshake(S.p);
		if (S.p_hs == TLSIO__TLS_HELLO)
			abort(); /* the peer never inspects */
		if (S.p_hs < 0)
			S.p_err = S.p_hs;
		if (S.p_hs == 1)
			fz_check_resumed(S.p, var);
	}
	while (S.p_hs == 1 && !S.p_closed && S.p_err == 0) {
		int n = tlsio__tls_read(S.p, buf, sizeof(buf));
		if (n > 0) {
			FZ_CHECK(S.p_got + (size_t)n <= S.sent_len &&
			             memcmp(buf, S.sent + S.p_got, (size_t)n) == 0,
			         "the peer read %d bytes at %zu that the application did not send there "
			         "(%zu sent)", n, S.p_got, S.sent_len);
			S.p_got += (size_t)n;
		} else if (n == TLSIO__TLS_CLOSED) {
			S.p_closed = 1;
		} else {
			if (n < 0)
				S.p_err = n;
			break;
		}
	}
}

/* The peer writes @p len bytes: u8 n, then n bytes of the input, the rest from a pattern. */
static void peer_write(struct fz_in *in, size_t len)
{
	size_t have = fz_u8(in), before = fz_buf_avail(&S.p_out);
	const uint8_t *src;
	if (have > len)
		have = len;
	src = fz_bytes(in, &have);
	uint8_t *dst;
	if (S.p_hs != 1 || S.p_err != 0 || S.p_notify_sent || S.p_sent_len + len > MODEL_MAX)
		return;
	dst = S.p_sent + S.p_sent_len;
	memcpy(dst + have, fz_pattern_at(S.p_sent_len + have, len - have), len - have);
	memcpy(dst, src, have);
	if (tlsio__tls_write(S.p, dst, len) == 0) {
		S.p_sent_len += len;
		fz_buf_clear(&S.last_rec);
		fz_buf_put(&S.last_rec, fz_buf_data(&S.p_out) + before, fz_buf_avail(&S.p_out) - before);
	}
}

/* The victim's socket gets up to @p n of the peer's bytes. */
static void deliver(size_t n, int even_if_paused)
{
	if (!io_ok() || (!fb.reading && !even_if_paused))
		return;
	if (n > fz_buf_avail(&S.p_out))
		n = fz_buf_avail(&S.p_out);
	if (n == 0)
		return;
	/* a copy: the core must not keep pointers into the backend's read buffer */
	{
		uint8_t *tmp = malloc(n);
		if (tmp == NULL)
			abort();
		memcpy(tmp, fz_buf_data(&S.p_out), n);
		fz_buf_take(&S.p_out, n);
		tlsio__conn_on_recv(S.c, tmp, n);
		free(tmp);
	}
}

static void tamper(struct fz_in *in)
{
	switch (fz_u8(in) % 5) {
	case 0: { /* raw bytes */
		size_t n = fz_u8(in);
		const uint8_t *p = fz_bytes(in, &n);
		fz_buf_put(&S.p_out, p, n);
		break;
	}
	case 1: { /* a record with any header: type, version, length, n bytes of payload */
		uint8_t h[5];
		size_t len, n;
		const uint8_t *p;
		h[0] = (uint8_t)fz_u8(in);
		h[1] = (uint8_t)fz_u8(in);
		h[2] = (uint8_t)fz_u8(in);
		len = fz_u16(in);
		h[3] = (uint8_t)(len >> 8);
		h[4] = (uint8_t)len;
		n = fz_u8(in);
		if (n > len)
			n = len;
		p = fz_bytes(in, &n);
		fz_buf_put(&S.p_out, h, 5);
		fz_buf_put(&S.p_out, p, n);
		fz_buf_put(&S.p_out, fz_pattern_at(n, len - n), len - n);
		break;
	}
	case 2: { /* flip bits of an undelivered byte */
		size_t off = fz_u16(in);
		uint8_t mask = (uint8_t)(fz_u8(in) | 1);
		if (fz_buf_avail(&S.p_out) > 0)
			fz_buf_data(&S.p_out)[off % fz_buf_avail(&S.p_out)] ^= mask;
		break;
	}
	case 3: { /* drop undelivered bytes */
		size_t off = fz_u16(in), n = fz_u8(in) + 1;
		if (fz_buf_avail(&S.p_out) > 0)
			fz_buf_drop(&S.p_out, off % fz_buf_avail(&S.p_out), n);
		break;
	}
	case 4: /* the peer's last record again */
		fz_buf_put(&S.p_out, fz_buf_data(&S.last_rec), fz_buf_avail(&S.last_rec));
		break;
	}
}

/* Bytes on their way: the victim's unsent ciphertext, the wire to the peer, the peer's output. */
static size_t in_flight(void)
{
	return fz_buf_avail(&S.wire) + fz_buf_avail(&S.p_out) + (S.c ? tlsio__conn_out_len(S.c) : 0);
}

/* Everything moves until nothing does: kernel, peer, delivery, loop. */
static void pump(void)
{
	for (int i = 0; i < 16; i++) {
		size_t before = in_flight();
		unsigned long fl = fb.flushes;
		run_loop();
		kernel_takes(SIZE_MAX);
		peer_step();
		deliver(SIZE_MAX, 0);
		run_loop();
		if (in_flight() == 0 && before == 0 && fl == fb.flushes)
			break;
	}
}

static void op(struct fz_in *in)
{
	unsigned code = fz_u8(in) % FC_COUNT;
	switch (code) {
	case FC_SEND:
		app_send(0, send_size(fz_u16(in)));
		break;
	case FC_SEND_REF:
		app_send(1, send_size(fz_u16(in)));
		break;
	case FC_SEND_COPY_CB:
		app_send(2, send_size(fz_u16(in)));
		break;
	case FC_KERNEL: {
		unsigned v = fz_u16(in);
		kernel_takes(v == 0xffff ? SIZE_MAX : v);
		break;
	}
	case FC_PEER_STEP:
		peer_step();
		break;
	case FC_PEER_WRITE:
		peer_write(in, fz_record_size(fz_u16(in)));
		break;
	case FC_DELIVER: {
		unsigned v = fz_u16(in);
		deliver((v & 0x7fff) == 0x7fff ? SIZE_MAX : (v & 0x7fff), v >> 15);
		break;
	}
	case FC_TAMPER:
		if (!S.handshake_done || S.p_hs != 1)
			S.hs_tampered = 1;
		tamper(in);
		break;
	case FC_PEER_CLOSE:
		if (S.p_hs == 1 && S.p_err == 0 && !S.p_notify_sent && tlsio__tls_close_notify(S.p) == 0)
			S.p_notify_sent = 1;
		break;
	case FC_PEER_POST_HS: {
		unsigned what = fz_u8(in);
		if (S.p_hs != 1 || S.p_err != 0 || S.p_notify_sent)
			break;
		if (what & 1)
			(void)wolfSSL_update_keys(S.p->ssl);
		else
			(void)wolfSSL_send_SessionTicket(S.p->ssl);
		break;
	}
	case FC_EOF:
		if (io_ok()) {
			S.eof_given = 1;
			tlsio__conn_on_eof(S.c);
		}
		break;
	case FC_ERROR:
		if (io_ok()) {
			S.reset_given = 1;
			tlsio__conn_on_error(S.c, (fz_u8(in) & 1) ? -ECONNRESET : -EPIPE);
		}
		break;
	case FC_CLOSE:
		if (S.c != NULL) {
			S.app_closed = 1;
			tlsio_close(S.c);
		}
		break;
	case FC_SHUTDOWN:
		if (S.c != NULL) {
			int rc = tlsio_shutdown(S.c);
			FZ_CHECK(rc == 0 || rc == TLSIO_E_CLOSED || rc == -ENOTCONN, "shutdown: %d", rc);
		}
		break;
	case FC_ABORT:
		if (S.c != NULL) {
			S.app_closed = 1;
			S.aborted = 1;
			tlsio_abort(S.c);
		}
		break;
	case FC_READ_STOP:
		if (S.c != NULL)
			tlsio_read_stop(S.c);
		break;
	case FC_READ_START:
		if (S.c != NULL)
			tlsio_read_start(S.c);
		break;
	case FC_WATERMARKS: {
		size_t low = (size_t)fz_u16(in) * 16, high = (size_t)fz_u16(in) * 64;
		if (S.c != NULL) {
			tlsio_conn_set_watermarks(S.c, low, high);
			S.low = low;
			S.high = high ? high : DEFAULT_HIGH_WATER;
		}
		break;
	}
	case FC_REENTER:
		S.action = (int)(fz_u8(in) % 9);
		break;
	case FC_BATCH:
		S.batch = !S.batch;
		break;
	case FC_LOOP:
		run_loop();
		break;
	case FC_PUMP:
		pump();
		break;
	}
	if (!S.batch)
		run_loop();
}

/* ------------------------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_sessions_init();
	S.sent = malloc(MODEL_MAX);
	S.p_sent = malloc(MODEL_MAX);
	if (S.sent == NULL || S.p_sent == NULL)
		abort();
	return 0;
}

static int local_tls_failure(int status)
{
	return status == TLSIO_E_TLS || status == TLSIO_E_VERSION || status == TLSIO_E_CERT_VERIFY ||
	       status == TLSIO_E_REFUSED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	unsigned mode = fz_u8(&in);
	tlsio_callbacks cb = cbs_all;
	tlsio_conn_opts opts = TLSIO_CONN_OPTS_INIT;
	tlsio_tls_config *vcfg;
	uint8_t *keep_sent = S.sent, *keep_psent = S.p_sent;
	struct fz_buf keep_out = S.p_out, keep_last = S.last_rec, keep_wire = S.wire;
	int fd, rc, p_stopped;

	memset(&S, 0, sizeof(S));
	memset(&fb, 0, sizeof(fb));
	S.sent = keep_sent;
	S.p_sent = keep_psent;
	S.p_out = keep_out;
	fz_buf_clear(&S.p_out);
	S.last_rec = keep_last;
	fz_buf_clear(&S.last_rec);
	S.wire = keep_wire;
	fz_buf_clear(&S.wire);
	S.victim_server = mode & 1;
	fb.defer_close = (mode >> 1) & 1;
	var = &fz_vars[(mode >> 4) % FZ_NVARS];
	S.high = DEFAULT_HIGH_WATER;
	if (!(mode & 4))
		cb.on_client_hello = NULL;
	if (!(mode & 8))
		cb.on_peer_close = NULL;
	opts.cb = &cb;
	opts.linger_ms = UINT32_MAX; /* deadlines never fire within an input: runs stay deterministic */
	opts.server_name = "localhost";

	fz_rng_reset(7);
	if (tlsio_loop_new(&S.loop, &fake_backend) != 0)
		abort();
	vcfg = S.victim_server ? var->srv : fz_cli_cfg;
	if (tlsio__tls_new(&S.p, S.victim_server ? fz_cli_cfg : var->srv, "localhost", fz_out, &S.p_out) != 0)
		abort();
	if (S.victim_server)
		fz_client_prepare(S.p, var);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC); /* the core closes it; no socket calls succeed */
	if (fd < 0)
		abort();
	rc = tlsio_conn_adopt(S.loop, fd, S.victim_server, vcfg, &opts, &S.c);
	FZ_CHECK(rc == 0, "adopt: %d", rc);
	if (S.victim_server)
		peer_step(); /* the ClientHello */
	run_loop();

	while (in.n > 0)
		op(&in);

	/* The end: everything drains, then the victim's socket sees EOF, then the loop goes. */
	S.batch = 0;
	S.action = 0;
	pump();
	if (io_ok()) {
		S.eof_given = 1;
		tlsio__conn_on_eof(S.c);
		run_loop();
		pump();
	}
	peer_step();
	p_stopped = S.p_closed || S.p_err != 0;

	if (S.closes > 0) {
		int st = S.close_status;
		FZ_CHECK(st != 0 || S.p_notify_sent, "status 0 without the peer's close_notify");
		FZ_CHECK(st != TLSIO_E_TRUNCATED || S.eof_given, "truncation reported before EOF");
		FZ_CHECK(st != TLSIO_E_ALERT_RECEIVED || S.p_err != 0,
		         "alert %d reported as received, but the peer sent none", S.close_alert);
		FZ_CHECK(st != TLSIO_E_ABORTED || S.aborted, "aborted, but nobody aborted");
		FZ_CHECK(st == 0 || st == TLSIO_E_TLS || st == TLSIO_E_ALERT_RECEIVED ||
		             st == TLSIO_E_TRUNCATED || st == TLSIO_E_CLOSED || st == TLSIO_E_ABORTED ||
		             st == TLSIO_E_EOF_IN_HANDSHAKE || st == TLSIO_E_REFUSED || st == -ECONNRESET ||
		             st == -EPIPE || st == TLSIO_E_VERSION || st == TLSIO_E_CERT_VERIFY,
		         "on_close status %d (%s)", st, tlsio_strerror(st));
		FZ_CHECK((st != TLSIO_E_VERSION && st != TLSIO_E_EOF_IN_HANDSHAKE) || !S.handshake_done,
		         "status %d (%s) after the handshake", st, tlsio_strerror(st));
		/* C5: its own fatal error went out as an alert, and the peer read that alert (where
		 * wolfSSL sent none, the gap is listed: fz_c5_gap) */
		if (local_tls_failure(st) && S.close_alert == TLSIO_ALERT_NONE)
			fz_c5_gap(S.victim_server ? "server" : "client",
			          S.handshake_done ? "after the handshake" : "handshake", S.close_tls_err, st);
		if (local_tls_failure(st) && S.close_alert != TLSIO_ALERT_NONE && S.close_failing_flushed) {
			if (S.p_err == TLSIO_E_ALERT_RECEIVED)
				FZ_CHECK(tlsio__tls_alert(S.p) == S.close_alert, "sent alert %d, the peer got %d",
				         S.close_alert, tlsio__tls_alert(S.p));
			else if (S.handshake_done)
				FZ_CHECK(S.p_closed, "failed with alert %d (wolfSSL error %d), all sent, but the "
				         "peer got none (its status %d, wolfSSL error %d)", S.close_alert,
				         S.close_tls_err, S.p_err, tlsio__tls_last_error(S.p));
			else /* mid-handshake the two may protect records differently (a TLS 1.3 client
			      * that failed before the ServerHello alerts in plaintext, the server that
			      * sent it expects them encrypted): the peer must at least have stopped */
				FZ_CHECK(S.p_err != 0, "failed in the handshake with alert %d (wolfSSL error "
				         "%d), all sent, but the peer goes on", S.close_alert, S.close_tls_err);
		}
		/* C6: a graceful close that shut the write side delivered everything, then close_notify */
		if (S.close_wr_shut && S.p_err == 0)
			FZ_CHECK(S.p_closed && S.p_got == S.sent_len,
			         "closed gracefully, but the peer got %zu of %zu bytes%s", S.p_got, S.sent_len,
			         S.p_closed ? "" : " and no close_notify");
	}
	/* C2: a completion with status 0 means its bytes reached the peer */
	FZ_CHECK(S.p_err != 0 || S.p_got >= S.ok_end, "completed %llu bytes, the peer read %zu",
	         (unsigned long long)S.ok_end, S.p_got);
	FZ_CHECK(S.p_err == 0 || S.p_err == TLSIO_E_ALERT_RECEIVED || S.hs_tampered ||
	             (S.closes > 0 && !S.handshake_done && local_tls_failure(S.close_status)),
	         "the peer failed (%d, wolfSSL error %d) on what the victim sent", S.p_err,
	         tlsio__tls_last_error(S.p));

	tlsio_loop_free(S.loop);
	FZ_CHECK(S.closes == 1, "on_close %d times", S.closes);
	FZ_CHECK(S.next_done == S.nreqs, "%d completions never fired", S.nreqs - S.next_done);
	for (int i = 0; i < S.nreqs; i++)
		free(S.reqs[i]);
	tlsio__tls_free(S.p);
	return 0;
}
