/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the TLS input path after a completed handshake, through the tls/ adapter,
 * on the client or the server side, for TLS 1.2 and 1.3 and each kind of record protection
 * (ChaCha20-Poly1305, AES-GCM, AES-CBC with encrypt-then-MAC and with MAC-then-encrypt where
 * wolfSSL has CBC suites: not the tuned build).
 *
 * Each input first makes a real in-memory handshake between the side under test (the victim)
 * and a peer (fuzz-session.h: resumed, so it is cheap), then runs as a program of operations:
 * the peer writes real records (application data of any size, close_notify, KeyUpdate,
 * NewSessionTicket), the input injects raw bytes or records with any header (type, version,
 * length up to 65535) and payload, flips, cuts or replays bytes of what the peer wrote, and
 * delivers the stream to the victim in pieces of any size; the victim reads with buffers of any
 * size, writes and closes; its output goes back to the peer. At the end everything left is
 * delivered, then EOF.
 *
 * Checked, besides no crash, leak or undefined behaviour:
 *  - every byte the victim reads is the peer's plaintext at that stream position (tampering
 *    must end the stream, never change it), and the same for what the peer reads;
 *  - close_notify is reported only if the peer sent one; TLSIO_E_TRUNCATED only after EOF; after
 *    EOF a read never asks for more input; an alert is reported as received only if the peer
 *    sent one;
 *  - a fatal error detected by the victim sends an alert, and the peer receives that alert
 *    (contract C5).
 *
 * The first input byte picks the side (bit 0) and the variant (the rest, modulo their number). */
#include "tls.c" /* the adapter itself, to reach the WOLFSSL object under it (fuzz-session.h) */
#include "fuzz-common.h"
#include "fuzz-session.h"
#include "fuzz-ops.h"

#define MODEL_MAX (512u << 10) /* plaintext each side may write per input */


struct side {
	const char *name;
	tlsio__tls *t;
	struct fz_buf out;  /* written, not yet delivered to the other side */
	uint8_t *sent;      /* the plaintext it wrote */
	size_t sent_len;
	size_t got;         /* plaintext read from the other side */
	int notify_sent;    /* it sent close_notify */
	int closed;         /* it read the other's close_notify */
	int err;            /* the status that ended its reading */
	int eof;
};

static struct side vic, peer;
static struct fz_buf last_rec; /* the peer's last write, for FR_REPLAY */
static const struct fz_variant *var;
static int may_fail; /* the input did something after which the victim may fail */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_sessions_init();
	vic.sent = malloc(MODEL_MAX);
	peer.sent = malloc(MODEL_MAX);
	if (vic.sent == NULL || peer.sent == NULL)
		abort();
	return 0;
}

static int done(const struct side *s)
{
	return s->closed || s->err != 0;
}

/* @p r reads what @p w wrote, with reads of at most @p cap bytes. */
static void side_read(struct side *r, struct side *w, size_t cap)
{
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	if (cap > sizeof(buf))
		cap = sizeof(buf);
	while (!done(r)) {
		int n = tlsio__tls_read(r->t, buf, cap);
		if (n > 0) {
			FZ_CHECK(r->got + (size_t)n <= w->sent_len &&
			             memcmp(buf, w->sent + r->got, (size_t)n) == 0,
			         "%s read %d bytes at %zu that %s did not write there (%zu written)", r->name,
			         n, r->got, w->name, w->sent_len);
			r->got += (size_t)n;
			continue;
		}
		if (n == 0) {
			FZ_CHECK(!r->eof, "%s: after EOF a read asks for more input", r->name);
			break;
		}
		if (n == TLSIO__TLS_CLOSED) {
			FZ_CHECK(w->notify_sent, "%s reports close_notify that %s never sent", r->name, w->name);
			r->closed = 1;
			break;
		}
		FZ_CHECK(n != TLSIO_E_TRUNCATED || r->eof, "%s: truncation reported before EOF", r->name);
		FZ_CHECK(n == TLSIO_E_TLS || n == TLSIO_E_ALERT_RECEIVED || n == TLSIO_E_TRUNCATED,
		         "%s: status %d (%s) after the handshake", r->name, n, tlsio_strerror(n));
		FZ_CHECK(n != TLSIO_E_ALERT_RECEIVED || (w->err != 0 && w->err != TLSIO_E_ALERT_RECEIVED),
		         "%s reports alert %d received, but %s sent none (its status %d)", r->name,
		         tlsio__tls_alert(r->t), w->name, w->err);
		r->err = n;
	}
}

/* Move @p n bytes of @p from's output into @p to's input. */
static void move(struct side *from, struct side *to, size_t n)
{
	if (n > fz_buf_avail(&from->out))
		n = fz_buf_avail(&from->out);
	if (n == 0)
		return;
	if (tlsio__tls_feed(to->t, fz_buf_data(&from->out), n) != 0)
		abort();
	fz_buf_take(&from->out, n);
}

/* The victim's output reaches the peer, which reads it. */
static void to_peer(void)
{
	move(&vic, &peer, fz_buf_avail(&vic.out));
	side_read(&peer, &vic, TLSIO__TLS_MAX_PLAIN);
}

/* @p s writes @p len bytes: u8 n, then n bytes of the input, the rest from a pattern. */
static void write_side(struct side *s, struct fz_in *in, size_t len)
{
	size_t have = fz_u8(in), before = fz_buf_avail(&s->out);
	const uint8_t *p;
	if (have > len)
		have = len;
	p = fz_bytes(in, &have);
	uint8_t *dst;
	if (done(s) || s->notify_sent || s->sent_len + len > MODEL_MAX)
		return;
	dst = s->sent + s->sent_len;
	memcpy(dst + have, fz_pattern_at(s->sent_len + have, len - have), len - have);
	memcpy(dst, p, have);
	if (tlsio__tls_write(s->t, dst, len) == 0) {
		s->sent_len += len;
		if (s == &peer) {
			fz_buf_clear(&last_rec);
			fz_buf_put(&last_rec, fz_buf_data(&s->out) + before, fz_buf_avail(&s->out) - before);
		}
	}
}

static void op(struct fz_in *in)
{
	unsigned code = fz_u8(in) % FR_COUNT;
	switch (code) {
	case FR_PEER_WRITE:
		write_side(&peer, in, fz_record_size(fz_u16(in)));
		break;
	case FR_PEER_RAW: {
		size_t n = fz_u8(in);
		const uint8_t *p = fz_bytes(in, &n);
		fz_buf_put(&peer.out, p, n);
		may_fail = 1;
		break;
	}
	case FR_PEER_RECORD: {
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
		fz_buf_put(&peer.out, h, 5);
		fz_buf_put(&peer.out, p, n);
		fz_buf_put(&peer.out, fz_pattern_at(n, len - n), len - n);
		may_fail = 1;
		break;
	}
	case FR_FLIP: {
		size_t off = fz_u16(in);
		uint8_t mask = (uint8_t)(fz_u8(in) | 1);
		if (fz_buf_avail(&peer.out) > 0) {
			fz_buf_data(&peer.out)[off % fz_buf_avail(&peer.out)] ^= mask;
			may_fail = 1;
		}
		break;
	}
	case FR_CUT: {
		size_t off = fz_u16(in), n = fz_u8(in) + 1;
		if (fz_buf_avail(&peer.out) > 0) {
			fz_buf_drop(&peer.out, off % fz_buf_avail(&peer.out), n);
			may_fail = 1;
		}
		break;
	}
	case FR_REPLAY:
		fz_buf_put(&peer.out, fz_buf_data(&last_rec), fz_buf_avail(&last_rec));
		may_fail = 1;
		break;
	case FR_DELIVER:
		move(&peer, &vic, fz_u16(in));
		side_read(&vic, &peer, TLSIO__TLS_MAX_PLAIN);
		break;
	case FR_DELIVER_SPLIT: {
		size_t step = fz_u8(in) + 1;
		while (fz_buf_avail(&peer.out) > 0) {
			move(&peer, &vic, step);
			side_read(&vic, &peer, TLSIO__TLS_MAX_PLAIN);
		}
		break;
	}
	case FR_PEER_CLOSE:
		if (!peer.notify_sent && !done(&peer) && tlsio__tls_close_notify(peer.t) == 0)
			peer.notify_sent = 1;
		break;
	case FR_PEER_POST_HS: {
		WOLFSSL *ssl = peer.t->ssl;
		if (done(&peer) || peer.notify_sent)
			break;
		switch (fz_u8(in) % 4) {
		case 0: (void)wolfSSL_update_keys(ssl); break;
		case 1: (void)wolfSSL_send_SessionTicket(ssl); break;
		case 2:
#ifdef WOLFSSL_POST_HANDSHAKE_AUTH
			/* the client offered no post-handshake auth: it must refuse */
			(void)wolfSSL_request_certificate(ssl);
			may_fail = 1;
#endif
			/* without it (the tuned build) wolfSSL cannot send a CertificateRequest after
			 * the handshake: nothing to test, the code stays so that inputs mean the same */
			break;
		case 3:
#if defined(HAVE_SECURE_RENEGOTIATION) || defined(HAVE_SERVER_RENEGOTIATION_INFO)
			/* renegotiation is built into neither Debian's wolfSSL nor the tuned one (only
			 * the renegotiation_info extension): should do nothing */
			(void)wolfSSL_Rehandshake(ssl);
			may_fail = 1;
#endif
			break;
		}
		break;
	}
	case FR_VICTIM_WRITE:
		write_side(&vic, in, fz_record_size(fz_u16(in)));
		to_peer();
		break;
	case FR_VICTIM_CLOSE:
		if (!vic.notify_sent && !done(&vic) && tlsio__tls_close_notify(vic.t) == 0)
			vic.notify_sent = 1;
		to_peer();
		break;
	case FR_VICTIM_READ:
		side_read(&vic, &peer, fz_u8(in) + 1);
		break;
	case FR_VICTIM_EOF:
		move(&peer, &vic, fz_buf_avail(&peer.out));
		vic.eof = 1;
		tlsio__tls_set_eof(vic.t);
		side_read(&vic, &peer, TLSIO__TLS_MAX_PLAIN);
		break;
	}
}

static void side_reset(struct side *s, const char *name)
{
	uint8_t *sent = s->sent;
	struct fz_buf out = s->out;
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->sent = sent;
	s->out = out;
	fz_buf_clear(&s->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	unsigned mode = fz_u8(&in);
	int victim_server = mode & 1, hc = 0, hs = 0;
	struct side *cli, *srv;

	var = &fz_vars[(mode >> 1) % FZ_NVARS];
	side_reset(&vic, victim_server ? "server" : "client");
	side_reset(&peer, victim_server ? "client (peer)" : "server (peer)");
	fz_buf_clear(&last_rec);
	may_fail = 0;
	cli = victim_server ? &peer : &vic;
	srv = victim_server ? &vic : &peer;

	fz_rng_reset(7);
	if (tlsio__tls_new(&srv->t, var->srv, NULL, fz_out, &srv->out) != 0 ||
	    tlsio__tls_new(&cli->t, fz_cli_cfg, "localhost", fz_out, &cli->out) != 0)
		abort();
	fz_client_prepare(cli->t, var);
	fz_pair_run(cli->t, &cli->out, srv->t, &srv->out, &hc, &hs);
	if (hc != 1 || hs != 1) {
		fprintf(stderr, "fuzz-record: %s: handshake failed: client %d server %d\n", var->name, hc, hs);
		abort();
	}
	fz_check_resumed(cli->t, var);

	while (in.n > 0)
		op(&in);

	/* The end: everything left reaches the victim, its answer the peer, then EOF. */
	move(&peer, &vic, fz_buf_avail(&peer.out));
	side_read(&vic, &peer, TLSIO__TLS_MAX_PLAIN);
	to_peer();
	if (!done(&vic)) {
		vic.eof = 1;
		tlsio__tls_set_eof(vic.t);
		side_read(&vic, &peer, TLSIO__TLS_MAX_PLAIN);
		to_peer();
	}
	/* C5: a fatal error the victim detected itself went out as an alert, and the peer got it
	 * (unless the peer had stopped reading: its own close_notify received). Where wolfSSL sent
	 * none, the gap is listed (fz_c5_gap). */
	if (vic.err != 0 && vic.err != TLSIO_E_ALERT_RECEIVED && vic.err != TLSIO_E_TRUNCATED &&
	    !vic.notify_sent) {
		int alert = tlsio__tls_alert(vic.t);
		if (alert == TLSIO_ALERT_NONE)
			fz_c5_gap(vic.name, "after the handshake", tlsio__tls_last_error(vic.t), vic.err);
		else if (!peer.closed)
			FZ_CHECK(peer.err == TLSIO_E_ALERT_RECEIVED && tlsio__tls_alert(peer.t) == alert,
			         "%s (%s) failed with %d, alert %d, but the peer got status %d alert %d",
			         vic.name, var->name, vic.err, alert, peer.err, tlsio__tls_alert(peer.t));
	}
	FZ_CHECK(peer.err == 0 || peer.err == TLSIO_E_ALERT_RECEIVED,
	         "the peer failed (%d) on the victim's output", peer.err);
	FZ_CHECK(may_fail || vic.err == 0 || vic.err == TLSIO_E_TRUNCATED,
	         "%s (%s) failed with %d on a stream nobody tampered with", vic.name, var->name, vic.err);

	tlsio__tls_free(vic.t);
	tlsio__tls_free(peer.t);
	return 0;
}
