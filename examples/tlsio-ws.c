/* SPDX-License-Identifier: MIT */
/* tlsio-ws: a WebSocket server (RFC 6455) over libtlsio, with permessage-deflate (RFC 7692).
 * The HTTP/1.1 upgrade and a small page on GET / share the TLS port. Echo mode sends every
 * message back to its sender; broadcast mode sends it to every client of every thread.
 *
 * Memory stays bounded whatever the clients do: a request head is at most 16 KiB, a message at
 * most --max-message (also after inflating it), and a connection's send queue above --high-water
 * stops the reading of whoever feeds it (its own sender in echo mode, every sender in broadcast
 * mode) until it drains. A message is received into one buffer with room for a frame header in
 * front, so an echo or a broadcast sends that buffer as it is, by reference. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common.h"
#include "ws.h"

#define PROG "tlsio-ws"

enum {
	OPT_LISTEN = TLSX_OPT_TOOL,
	OPT_MODE,
	OPT_PAGE,
	OPT_MAX_MESSAGE,
	OPT_PING_INTERVAL,
	OPT_PONG_TIMEOUT,
	OPT_NO_DEFLATE,
	OPT_HIGH_WATER,
	OPT_THREADS,
	OPT_REQUEST_TIMEOUT,
};

enum { MODE_ECHO, MODE_BROADCAST };

/* A request head (request line and headers) longer than this is refused with 431. */
#define MAX_HEAD (16 * 1024)
/* --page: the largest file GET / serves (read once, at start) */
#define MAX_PAGE (16u << 20)
/* Messages shorter than this are sent uncompressed even with permessage-deflate: DEFLATE's
 * block overhead makes them longer, not shorter (RFC 7692 lets each message choose). */
#define DEFLATE_MIN 32
/* Unmasked input is inflated from a stack buffer of this size. */
#define INFLATE_CHUNK (16 * 1024)

/* One thread's counters. Only that thread writes them; the summary reads them after the join. */
struct ws_counters {
	uint64_t accepted, upgraded, deflate, http_requests, msgs_in, bytes_in, msgs_out, bytes_out,
		violations, pings_sent, keepalive_closed, dropped_slow, short_writes, eagain;
};

struct ws_conn;

/* The settings, then one thread's state (as in tlsio-https: each thread gets a copy of the
 * settings and has its own loop, listeners and connections). */
struct ws_server {
	struct tlsx_common co;
	const char *listen_addr;
	struct tlsx_addrs addrs;
	int mode;
	const char *page_file;
	const uint8_t *page; /* the page GET / answers, shared by the threads */
	size_t page_len;
	uint64_t max_message;
	uint32_t ping_interval_ms, pong_timeout_ms, request_timeout_ms;
	int deflate;
	size_t high_water;
	int threads;
	tlsio_tls_config *cfg;
	tlsio_conn_opts copts;

	_Alignas(64) int index;
	int started;
	tlsio_loop *loop;
	tlsio_listener *listener[TLSX_MAX_LISTEN];
	struct ws_conn *conns;
	int shutting_down;
	int paused_all; /* broadcast: reading stopped on every connection (a recipient is full) */
	z_stream bz;    /* broadcast: compresses the messages of this thread's senders */
	int bz_ready;
	struct ws_counters n;
};

/* Broadcast across threads: the workers, which of their loops take tasks (under loops_mu), and
 * how many connections of all threads have a send queue above high water. */
static struct ws_server *all_workers;
static int n_workers;
static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;
static int *loop_open; /* per worker, under loops_mu */
static atomic_int n_congested;
/* WebSocket connections of all threads with permessage-deflate: a broadcast compresses its
 * message only if there is one. */
static atomic_int n_pmd_clients;

/* A message, received into data + WS_MAX_HEADER, sent as a frame from data + head. Broadcast
 * shares one among every recipient (refs); its compressed form, made once, in z. */
struct wbuf {
	atomic_uint refs;
	size_t cap;  /* payload room */
	size_t len;  /* payload bytes */
	size_t head; /* where the frame starts: WS_MAX_HEADER minus the header's length */
	struct wbuf *z;
	uint8_t data[];
};

enum { ST_HTTP, ST_WS, ST_CLOSING };
/* Why a connection does not read (any bit stops it). */
enum { PAUSE_OWN = 1, PAUSE_ALL = 2 };
enum { CONGESTED_OWN = 1, CONGESTED_ALL = 2 };

struct ws_conn {
	struct ws_conn *prev, *next;
	struct ws_server *srv;
	tlsio_conn *c;
	int state;
	int paused;    /* PAUSE_* bits */
	int reading;   /* 0 after tlsio_read_stop() */
	int congested; /* 0, or CONGESTED_OWN (reading of this connection stopped), or
	                  CONGESTED_ALL (counted in n_congested) */
	int in_payload; /* a frame's header was read: its payload comes */
	int http_close; /* Connection: close: end after the answer */
	char peer[TLSX_ADDR_LEN];

	/* HTTP: the request head so far */
	char *in;
	size_t in_len;

	/* framing */
	uint8_t hdr[WS_MAX_HEADER];
	size_t hdr_have;
	ws_header h;      /* the frame being read */
	uint64_t left;    /* its payload still to come */
	uint8_t ctl[WS_MAX_CONTROL];
	size_t ctl_len;
	int msg_op;       /* WS_OP_TEXT/BINARY while a message is open, else 0 */
	int msg_z;        /* it is compressed */
	struct wbuf *msg;
	ws_utf8 utf8;

	/* permessage-deflate */
	int pmd;                        /* negotiated */
	int pmd_counted;                /* counted in n_pmd_clients */
	int client_no_ctx, server_no_ctx;
	int server_bits;                /* our window: 9..15 */
	z_stream zin, zout;
	int zin_ready, zout_ready;

	/* keep-alive: the timer fires at last_input + interval (or ping + pong timeout) */
	tlsio_timer *timer;
	uint64_t last_input;
	int ping_out; /* a keep-alive ping is unanswered */
};

/* One send of a message buffer by reference. */
struct ws_send {
	tlsio_send_req req;
	struct wbuf *buf;
};

/* ------------------------------------------------------------------------------------------ */
/* buffers */

static struct wbuf *wbuf_new(size_t cap)
{
	struct wbuf *b = malloc(sizeof(*b) + WS_MAX_HEADER + cap);
	if (b == NULL)
		return NULL;
	atomic_init(&b->refs, 1);
	b->cap = cap;
	b->len = 0;
	b->head = WS_MAX_HEADER;
	b->z = NULL;
	return b;
}

static void wbuf_put(struct wbuf *b)
{
	if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		wbuf_put(b->z);
		free(b);
	}
}

/* Room for @p more payload bytes, growing by doubling up to @p max. 0 or -ENOMEM. */
static int wbuf_reserve(struct wbuf **bp, size_t more, uint64_t max)
{
	struct wbuf *b = *bp;
	size_t want = b->len + more, cap = b->cap;
	if (want <= cap)
		return 0;
	while (cap < want)
		cap = cap < 4096 ? 4096 : cap * 2;
	if (cap > max && want <= max)
		cap = (size_t)max;
	b = realloc(b, sizeof(*b) + WS_MAX_HEADER + cap);
	if (b == NULL)
		return -ENOMEM;
	b->cap = cap;
	*bp = b;
	return 0;
}

/* Write the frame header in front of the payload. */
static void wbuf_frame(struct wbuf *b, int opcode, int rsv1)
{
	uint8_t h[WS_MAX_HEADER];
	size_t n = ws_put_header(h, 1, rsv1, opcode, b->len, NULL);
	b->head = WS_MAX_HEADER - n;
	memcpy(b->data + b->head, h, n);
}

static const uint8_t *wbuf_payload(const struct wbuf *b)
{
	return b->data + WS_MAX_HEADER;
}

/* ------------------------------------------------------------------------------------------ */
/* reading on and off, and the broadcast's congestion */

static void apply_pause(struct ws_conn *wc)
{
	int want = wc->paused == 0;
	if (want && !wc->reading) {
		wc->reading = 1;
		tlsio_read_start(wc->c);
	} else if (!want && wc->reading) {
		wc->reading = 0;
		tlsio_read_stop(wc->c);
	}
}

static void set_pause(struct ws_conn *wc, int bit, int on)
{
	if (on)
		wc->paused |= bit;
	else
		wc->paused &= ~bit;
	apply_pause(wc);
}

/* On a loop's thread: stop or restart every connection's reading as n_congested says now (the
 * task carries no direction, so tasks posted from several threads in any order end right). */
static void congestion_task(tlsio_loop *loop, void *arg, int status)
{
	struct ws_server *srv = arg;
	int on = atomic_load(&n_congested) > 0;
	(void)loop;
	if (status != 0 || on == srv->paused_all)
		return;
	srv->paused_all = on;
	for (struct ws_conn *wc = srv->conns; wc != NULL; wc = wc->next)
		if (wc->state == ST_WS)
			set_pause(wc, PAUSE_ALL, on);
}

static void congestion_changed(void)
{
	pthread_mutex_lock(&loops_mu);
	for (int i = 0; i < n_workers; i++)
		if (loop_open[i] && tlsio_loop_post(all_workers[i].loop, congestion_task, &all_workers[i]) < 0)
			fprintf(stderr, PROG ": cannot tell thread %d about a full send queue: out of memory\n", i);
	pthread_mutex_unlock(&loops_mu);
}

/* A connection's queue went above (@p on) or came back below high water. Its own reading stops
 * if it feeds itself (echo, or HTTP answers), every sender's if it is a broadcast recipient. */
static void set_congested(struct ws_conn *wc, int on)
{
	int kind = wc->congested;
	if ((kind != 0) == on)
		return;
	if (on)
		kind = wc->srv->mode == MODE_BROADCAST && wc->state == ST_WS ? CONGESTED_ALL
		                                                           : CONGESTED_OWN;
	wc->congested = on ? kind : 0;
	if (kind == CONGESTED_OWN)
		set_pause(wc, PAUSE_OWN, on);
	else if (on ? atomic_fetch_add(&n_congested, 1) == 0 : atomic_fetch_sub(&n_congested, 1) == 1)
		congestion_changed();
}

static void check_queue(struct ws_conn *wc)
{
	if (!wc->congested && tlsio_conn_queued(wc->c) > wc->srv->high_water)
		set_congested(wc, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* sending */

static void send_done(tlsio_send_req *req, int status)
{
	struct ws_send *s = (struct ws_send *)req;
	(void)status;
	wbuf_put(s->buf);
	free(s);
}

static void conn_fail_send(struct ws_conn *wc, int rc)
{
	if (rc == TLSIO_E_QUEUE_FULL) {
		/* Broadcast only: the pause did not come in time for this recipient, which is far
		 * behind every other; its memory must stay bounded. */
		wc->srv->n.dropped_slow++;
		if (!wc->srv->co.quiet)
			fprintf(stderr, PROG ": %s: dropped: its send queue is full (%zu bytes), it reads too "
			        "slowly\n", wc->peer, tlsio_conn_queued(wc->c));
		tlsio_abort(wc->c);
		wc->state = ST_CLOSING;
	} else if (rc == -ENOMEM) {
		tlsio_abort(wc->c);
		wc->state = ST_CLOSING;
	}
	/* TLSIO_E_CLOSED: on_close follows */
}

/* Send @p b (framed) by reference; takes a reference of its own. */
static int send_wbuf(struct ws_conn *wc, struct wbuf *b)
{
	struct ws_send *s = malloc(sizeof(*s));
	int rc;
	if (s == NULL) {
		conn_fail_send(wc, -ENOMEM);
		return -ENOMEM;
	}
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	s->buf = b;
	rc = tlsio_send_ref(wc->c, &s->req, b->data + b->head, WS_MAX_HEADER - b->head + b->len,
	                    send_done);
	if (rc < 0) {
		wbuf_put(b);
		free(s);
		conn_fail_send(wc, rc);
		return rc;
	}
	wc->srv->n.msgs_out++;
	wc->srv->n.bytes_out += b->len;
	check_queue(wc);
	return 0;
}

static int send_control(struct ws_conn *wc, int opcode, const uint8_t *p, size_t n)
{
	uint8_t f[WS_MAX_HEADER + WS_MAX_CONTROL];
	size_t h = ws_put_header(f, 1, 0, opcode, n, NULL);
	int rc;
	memcpy(f + h, p, n);
	rc = tlsio_send(wc->c, f, h + n);
	if (rc < 0)
		conn_fail_send(wc, rc);
	return rc;
}

/* Send a close frame (with @p code unless 0) and close: the close frame goes out, then TLS's
 * close_notify; the client's answering close frame is read and dropped while the library
 * waits for its end (linger). */
static void close_with(struct ws_conn *wc, unsigned code, const char *reason)
{
	uint8_t p[WS_MAX_CONTROL];
	size_t n = 0;
	if (wc->state == ST_CLOSING)
		return;
	if (code != 0) {
		size_t rl = reason != NULL ? strlen(reason) : 0;
		if (rl > WS_MAX_CONTROL - 2)
			rl = WS_MAX_CONTROL - 2;
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		if (rl > 0) /* memcpy's source must not be NULL, even for no bytes */
			memcpy(p + 2, reason, rl);
		n = 2 + rl;
	}
	(void)send_control(wc, WS_OP_CLOSE, p, n);
	wc->state = ST_CLOSING;
	tlsio_timer_stop(wc->timer);
	tlsio_close(wc->c);
}

/* _Fail the WebSocket Connection_ (section 7.1.7), with the code and why. */
static void violation(struct ws_conn *wc, unsigned code, const char *why)
{
	wc->srv->n.violations++;
	if (!wc->srv->co.quiet)
		fprintf(stderr, PROG ": %s: closing with %u: %s\n", wc->peer, code, why);
	close_with(wc, code, why);
}

/* ------------------------------------------------------------------------------------------ */
/* permessage-deflate */

static void z_free(struct ws_conn *wc)
{
	if (wc->zin_ready)
		inflateEnd(&wc->zin);
	if (wc->zout_ready)
		deflateEnd(&wc->zout);
	wc->zin_ready = wc->zout_ready = 0;
}

/* Inflate @p n bytes (unmasked) into the message. 0, or a close code (1009, 1007). */
static unsigned inflate_into(struct ws_conn *wc, const uint8_t *p, size_t n)
{
	struct ws_server *srv = wc->srv;
	if (!wc->zin_ready) {
		memset(&wc->zin, 0, sizeof(wc->zin));
		/* raw DEFLATE, the largest window: whatever window the client compresses with */
		if (inflateInit2(&wc->zin, -15) != Z_OK)
			return WS_CLOSE_INTERNAL;
		wc->zin_ready = 1;
	}
	wc->zin.next_in = (Bytef *)(uintptr_t)p;
	wc->zin.avail_in = (uInt)n;
	while (wc->zin.avail_in > 0) {
		size_t room;
		int zr;
		if (wbuf_reserve(&wc->msg, n > 16384 ? n : 16384, srv->max_message + 1) < 0)
			return WS_CLOSE_INTERNAL;
		room = wc->msg->cap - wc->msg->len;
		/* one byte past the limit is enough to know it is past */
		if (room > srv->max_message + 1 - wc->msg->len)
			room = (size_t)(srv->max_message + 1 - wc->msg->len);
		wc->zin.next_out = wc->msg->data + WS_MAX_HEADER + wc->msg->len;
		wc->zin.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
		zr = inflate(&wc->zin, Z_SYNC_FLUSH);
		wc->msg->len = (size_t)(wc->zin.next_out - (wc->msg->data + WS_MAX_HEADER));
		if (wc->msg->len > srv->max_message)
			return WS_CLOSE_TOO_BIG;
		if (zr == Z_STREAM_END || (zr != Z_OK && zr != Z_BUF_ERROR))
			return WS_CLOSE_INVALID_DATA; /* not DEFLATE, or a final block (section 7.2.2) */
		if (zr == Z_BUF_ERROR && wc->zin.avail_in > 0 && wc->zin.avail_out > 0)
			return WS_CLOSE_INVALID_DATA;
	}
	return 0;
}

/* A compressed copy of @p b's payload as a framed message (RFC 7692 section 7.2.1: DEFLATE,
 * sync flush, the final 00 00 ff ff removed). NULL on failure. */
static struct wbuf *deflate_msg(z_stream *z, const struct wbuf *b, int opcode, int no_ctx)
{
	struct wbuf *out = wbuf_new(deflateBound(z, (uLong)b->len) + 16);
	int zr;
	if (out == NULL)
		return NULL;
	z->next_in = (Bytef *)(uintptr_t)wbuf_payload(b);
	z->avail_in = (uInt)b->len;
	z->next_out = out->data + WS_MAX_HEADER;
	z->avail_out = (uInt)out->cap;
	zr = deflate(z, Z_SYNC_FLUSH);
	if (zr != Z_OK || z->avail_in != 0 || z->avail_out == 0) {
		free(out);
		return NULL;
	}
	out->len = out->cap - z->avail_out;
	if (out->len >= 4)
		out->len -= 4;
	if (no_ctx)
		deflateReset(z);
	wbuf_frame(out, opcode, 1);
	return out;
}

static int zout_init(z_stream *z, int bits)
{
	memset(z, 0, sizeof(*z));
	/* memLevel 8, zlib's default: 256 KiB of state at 15 bits (RFC 7692's default window) */
	return deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) == Z_OK
	               ? 0
	               : -ENOMEM;
}

/* ------------------------------------------------------------------------------------------ */
/* messages */

static void broadcast_local(struct ws_server *srv, struct wbuf *b);

/* Broadcast to another thread: its loop sends @p b to its own clients. */
struct bcast_task {
	struct ws_server *srv;
	struct wbuf *b;
};

static void bcast_task_run(tlsio_loop *loop, void *arg, int status)
{
	struct bcast_task *t = arg;
	(void)loop;
	if (status == 0 && !t->srv->shutting_down)
		broadcast_local(t->srv, t->b);
	wbuf_put(t->b);
	free(t);
}

/* The compressed form of a broadcast message, made once for every client that negotiated
 * permessage-deflate (broadcast always negotiates server_no_context_takeover, so one
 * compressed frame suits them all). Only its sender's thread makes it, before it is shared. */
static struct wbuf *bcast_compressed(struct ws_server *srv, struct wbuf *b, int opcode)
{
	if (b->z != NULL || b->len < DEFLATE_MIN)
		return b->z;
	if (!srv->bz_ready) {
		if (zout_init(&srv->bz, 15) < 0)
			return NULL;
		srv->bz_ready = 1;
	}
	b->z = deflate_msg(&srv->bz, b, opcode, 1);
	return b->z;
}

static void broadcast_local(struct ws_server *srv, struct wbuf *b)
{
	for (struct ws_conn *wc = srv->conns; wc != NULL; wc = wc->next) {
		struct wbuf *f = b;
		if (wc->state != ST_WS)
			continue;
		if (wc->pmd && b->z != NULL)
			f = b->z;
		(void)send_wbuf(wc, f);
	}
}

static void broadcast(struct ws_conn *from, struct wbuf *b, int opcode)
{
	struct ws_server *srv = from->srv;
	wbuf_frame(b, opcode, 0);
	/* Any client of any thread may have negotiated compression: compress once, here. */
	if (atomic_load(&n_pmd_clients) > 0 && bcast_compressed(srv, b, opcode) == NULL &&
	    b->len >= DEFLATE_MIN) {
		violation(from, WS_CLOSE_INTERNAL, "cannot compress the message: out of memory");
		return;
	}
	pthread_mutex_lock(&loops_mu);
	for (int i = 0; i < n_workers; i++) {
		struct bcast_task *t;
		if (&all_workers[i] == srv || !loop_open[i])
			continue;
		t = malloc(sizeof(*t));
		if (t == NULL)
			continue;
		t->srv = &all_workers[i];
		t->b = b;
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		if (tlsio_loop_post(all_workers[i].loop, bcast_task_run, t) < 0) {
			wbuf_put(b);
			free(t);
		}
	}
	pthread_mutex_unlock(&loops_mu);
	broadcast_local(srv, b);
}

static void echo(struct ws_conn *wc, struct wbuf *b, int opcode)
{
	if (wc->pmd && b->len >= DEFLATE_MIN) {
		struct wbuf *z;
		if (!wc->zout_ready) {
			if (zout_init(&wc->zout, wc->server_bits) < 0) {
				violation(wc, WS_CLOSE_INTERNAL, "cannot compress: out of memory");
				return;
			}
			wc->zout_ready = 1;
		}
		z = deflate_msg(&wc->zout, b, opcode, wc->server_no_ctx);
		if (z == NULL) {
			violation(wc, WS_CLOSE_INTERNAL, "cannot compress the message");
			return;
		}
		(void)send_wbuf(wc, z);
		wbuf_put(z);
		return;
	}
	wbuf_frame(b, opcode, 0);
	(void)send_wbuf(wc, b);
}

/* The last frame of a message arrived. */
static void message_done(struct ws_conn *wc)
{
	struct ws_server *srv = wc->srv;
	struct wbuf *b = wc->msg;
	int op = wc->msg_op;
	if (wc->msg_z) {
		static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
		unsigned code = inflate_into(wc, tail, sizeof(tail));
		if (code != 0) {
			violation(wc, code, code == WS_CLOSE_TOO_BIG ? "message too big (after inflating)"
			                                             : "bad compressed data");
			return;
		}
		b = wc->msg;
		if (wc->client_no_ctx)
			inflateReset(&wc->zin);
		if (op == WS_OP_TEXT && ws_utf8_feed(&wc->utf8, wbuf_payload(b), b->len) < 0) {
			violation(wc, WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
			return;
		}
	}
	if (op == WS_OP_TEXT && !ws_utf8_complete(&wc->utf8)) {
		violation(wc, WS_CLOSE_INVALID_DATA, "text message is not UTF-8 (ends inside a character)");
		return;
	}
	srv->n.msgs_in++;
	srv->n.bytes_in += b->len;
	wc->msg = NULL;
	wc->msg_op = 0;
	wc->msg_z = 0;
	if (srv->mode == MODE_BROADCAST)
		broadcast(wc, b, op);
	else
		echo(wc, b, op);
	wbuf_put(b);
}

/* A whole control frame (payload unmasked in wc->ctl). */
static void control_frame(struct ws_conn *wc)
{
	switch (wc->h.opcode) {
	case WS_OP_PING:
		(void)send_control(wc, WS_OP_PONG, wc->ctl, wc->ctl_len);
		break;
	case WS_OP_PONG:
		break; /* any input answers a keep-alive ping */
	case WS_OP_CLOSE: {
		unsigned code;
		ws_utf8 u = {0};
		if (wc->ctl_len == 0) {
			close_with(wc, 0, NULL); /* no status: answer with none (section 5.5.1) */
			break;
		}
		if (wc->ctl_len == 1) {
			violation(wc, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
			break;
		}
		code = (unsigned)wc->ctl[0] << 8 | wc->ctl[1];
		if (!ws_close_code_ok(code)) {
			violation(wc, WS_CLOSE_PROTOCOL, "close code not allowed on the wire");
			break;
		}
		if (ws_utf8_feed(&u, wc->ctl + 2, wc->ctl_len - 2) < 0 || !ws_utf8_complete(&u)) {
			violation(wc, WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
			break;
		}
		/* The client closes: echo its code. A message it left open is dropped. */
		close_with(wc, code, NULL);
		break;
	}
	}
}

/* The header in wc->h is whole: check it against the state. 0, or the violation was sent. */
static int frame_start(struct ws_conn *wc)
{
	struct ws_server *srv = wc->srv;
	ws_header *h = &wc->h;
	const char *why = NULL;
	unsigned code = WS_CLOSE_PROTOCOL;
	int rsv_ok = h->opcode == WS_OP_TEXT || h->opcode == WS_OP_BINARY ? (wc->pmd ? 4 : 0) : 0;
	if (!h->masked)
		why = "client frame not masked";
	else if (h->opcode >= 8 && h->opcode != WS_OP_CLOSE && h->opcode != WS_OP_PING &&
	         h->opcode != WS_OP_PONG)
		why = "unknown control opcode";
	else if (h->opcode >= 3 && h->opcode <= 7)
		why = "unknown data opcode";
	else if (h->rsv & ~rsv_ok)
		why = "reserved bits set that no extension negotiated";
	else if (h->opcode >= 8 && !h->fin)
		why = "fragmented control frame";
	else if (h->opcode >= 8 && h->len > WS_MAX_CONTROL)
		why = "control frame longer than 125 bytes";
	else if (h->opcode == WS_OP_CONT && wc->msg_op == 0)
		why = "continuation frame without a message";
	else if ((h->opcode == WS_OP_TEXT || h->opcode == WS_OP_BINARY) && wc->msg_op != 0)
		why = "new message before the fragmented one ended";
	else if (h->opcode < 8 && !(h->opcode == WS_OP_CONT ? wc->msg_z : (h->rsv & 4) != 0) &&
	         (h->opcode == WS_OP_CONT ? wc->msg->len : 0) + h->len > srv->max_message) {
		/* known from the header: refused before its payload comes (a compressed message is
		 * inflated as it comes, and refused once its output passes the limit) */
		why = "message too big";
		code = WS_CLOSE_TOO_BIG;
	}
	if (why != NULL) {
		violation(wc, code, why);
		return -1;
	}
	if (h->opcode == WS_OP_TEXT || h->opcode == WS_OP_BINARY) {
		wc->msg_op = h->opcode;
		wc->msg_z = (h->rsv & 4) != 0;
		wc->utf8.state = 0;
		/* memory follows the bytes that came, not the length a header announced */
		wc->msg = wbuf_new(wc->msg_z || h->len > 65536 ? 65536 : (size_t)h->len);
		if (wc->msg == NULL) {
			violation(wc, WS_CLOSE_INTERNAL, "out of memory");
			return -1;
		}
	}
	wc->left = h->len;
	wc->ctl_len = 0;
	return 0;
}

/* Payload bytes of the current frame. 0, or -1 once the connection is failing. */
static int frame_payload(struct ws_conn *wc, const uint8_t *p, size_t n)
{
	uint64_t off = wc->h.len - wc->left;
	wc->left -= n;
	if (wc->h.opcode >= 8) {
		memcpy(wc->ctl + wc->ctl_len, p, n);
		ws_mask(wc->ctl + wc->ctl_len, n, wc->h.mask, off);
		wc->ctl_len += n;
		return 0;
	}
	if (wc->msg_z) {
		uint8_t tmp[INFLATE_CHUNK];
		while (n > 0) {
			size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
			size_t before = wc->msg->len;
			unsigned code;
			memcpy(tmp, p, k);
			ws_mask(tmp, k, wc->h.mask, off);
			code = inflate_into(wc, tmp, k);
			if (code != 0) {
				violation(wc, code, code == WS_CLOSE_TOO_BIG ? "message too big (after inflating)"
				                                             : "bad compressed data");
				return -1;
			}
			if (wc->msg_op == WS_OP_TEXT &&
			    ws_utf8_feed(&wc->utf8, wbuf_payload(wc->msg) + before, wc->msg->len - before) < 0) {
				violation(wc, WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
				return -1;
			}
			p += k;
			n -= k;
			off += k;
		}
		return 0;
	}
	{
		uint8_t *dst;
		if (wbuf_reserve(&wc->msg, n, wc->srv->max_message) < 0) {
			violation(wc, WS_CLOSE_INTERNAL, "out of memory");
			return -1;
		}
		dst = wc->msg->data + WS_MAX_HEADER + wc->msg->len;
		memcpy(dst, p, n);
		ws_mask(dst, n, wc->h.mask, off);
		wc->msg->len += n;
		/* fail fast: a text message is refused at its first invalid byte */
		if (wc->msg_op == WS_OP_TEXT && ws_utf8_feed(&wc->utf8, dst, n) < 0) {
			violation(wc, WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
			return -1;
		}
	}
	return 0;
}

static void frame_end(struct ws_conn *wc)
{
	if (wc->h.opcode >= 8)
		control_frame(wc);
	else if (wc->h.fin)
		message_done(wc);
}

/* WebSocket input: frames split anywhere. */
static void ws_input(struct ws_conn *wc, const uint8_t *p, size_t n)
{
	while (wc->state == ST_WS) {
		size_t take;
		if (!wc->in_payload) {
			/* a header: at most 14 bytes, copied only when split across reads */
			int hl;
			if (n == 0)
				return;
			if (wc->hdr_have == 0) {
				hl = ws_parse_header(p, n, &wc->h);
				if (hl == 0) {
					memcpy(wc->hdr, p, n); /* n < 14: a header needs more */
					wc->hdr_have = n;
					return;
				}
				if (hl > 0) {
					p += hl;
					n -= (size_t)hl;
				}
			} else {
				take = WS_MAX_HEADER - wc->hdr_have < n ? WS_MAX_HEADER - wc->hdr_have : n;
				memcpy(wc->hdr + wc->hdr_have, p, take);
				hl = ws_parse_header(wc->hdr, wc->hdr_have + take, &wc->h);
				if (hl == 0) {
					wc->hdr_have += take;
					return;
				}
				if (hl > 0) {
					p += (size_t)hl - wc->hdr_have;
					n -= (size_t)hl - wc->hdr_have;
				}
			}
			if (hl < 0) {
				violation(wc, WS_CLOSE_PROTOCOL, "frame length not in its shortest form, or "
				                                 "above 2^63");
				return;
			}
			wc->hdr_have = 0;
			if (frame_start(wc) < 0)
				return;
			wc->in_payload = 1;
		}
		take = wc->left < n ? (size_t)wc->left : n;
		if (take > 0 && frame_payload(wc, p, take) < 0)
			return;
		p += take;
		n -= take;
		if (wc->left > 0)
			return;
		wc->in_payload = 0;
		frame_end(wc);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* keep-alive */

static void on_timer(tlsio_timer *t, void *user)
{
	struct ws_conn *wc = user;
	struct ws_server *srv = wc->srv;
	uint64_t now = tlsio_loop_now(srv->loop);
	if (wc->state == ST_HTTP) {
		/* no whole request in time */
		tlsio_close(wc->c);
		wc->state = ST_CLOSING;
		return;
	}
	if (wc->state != ST_WS)
		return;
	if (wc->ping_out) {
		/* on_data clears ping_out: no input at all since the ping. (Comparing the silence
		 * with the timeout instead closed live clients whenever the timer fired a
		 * millisecond later than the answer had come after the ping.) */
		srv->n.keepalive_closed++;
		if (!srv->co.quiet)
			fprintf(stderr, PROG ": %s: closing with 1011: no answer to a ping in %" PRIu32 " ms\n",
			        wc->peer, srv->pong_timeout_ms);
		close_with(wc, WS_CLOSE_INTERNAL, "keepalive ping timeout");
		return;
	}
	if (now - wc->last_input >= srv->ping_interval_ms) {
		uint8_t p[8];
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(now >> (8 * i));
		if (send_control(wc, WS_OP_PING, p, sizeof(p)) < 0)
			return;
		srv->n.pings_sent++;
		wc->ping_out = 1;
		wc->last_input = now;
		(void)tlsio_timer_start(t, srv->pong_timeout_ms, 0);
		return;
	}
	/* input since: the next check is interval after it (the timer moves only here, not on
	 * every read) */
	(void)tlsio_timer_start(t, srv->ping_interval_ms - (now - wc->last_input), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTP: the upgrade and the page */

static const char builtin_page[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tlsio-ws</title></head>\n"
	"<body><h1>tlsio-ws</h1>\n"
	"<p>A WebSocket server over libtlsio. Type a message: the server answers (echo, or to every\n"
	"client in broadcast mode).</p>\n"
	"<form id=\"f\"><input id=\"m\" size=\"60\" autofocus> <button>send</button></form>\n"
	"<pre id=\"log\"></pre>\n<script>\n"
	"const log = t => { document.getElementById('log').textContent += t + '\\n'; };\n"
	"const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');\n"
	"ws.onopen = () => log('open' + (ws.extensions ? ' (' + ws.extensions + ')' : ''));\n"
	"ws.onmessage = e => log('< ' + e.data);\n"
	"ws.onclose = e => log('closed ' + e.code + ' ' + e.reason);\n"
	"document.getElementById('f').onsubmit = e => { e.preventDefault();\n"
	"  const m = document.getElementById('m'); ws.send(m.value); log('> ' + m.value); m.value = ''; };\n"
	"</script></body></html>\n";

static void http_answer(struct ws_conn *wc, int code, const char *reason, const char *extra,
                        const char *type, const uint8_t *body, size_t len, int head_only)
{
	char h[512];
	int n = snprintf(h, sizeof(h),
	                 "HTTP/1.1 %d %s\r\nServer: tlsio-ws\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\n%s%s\r\n",
	                 code, reason, type, len, extra != NULL ? extra : "",
	                 wc->http_close ? "Connection: close\r\n" : "");
	int rc = tlsio_send(wc->c, h, (size_t)n);
	if (rc == 0 && len > 0 && !head_only)
		rc = tlsio_send(wc->c, body, len); /* a copy: --page is at most 16 MiB, sent rarely */
	if (rc < 0)
		conn_fail_send(wc, rc);
}

static void http_error(struct ws_conn *wc, int code, const char *reason, const char *extra)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	wc->http_close = 1;
	http_answer(wc, code, reason, extra, "text/plain", (const uint8_t *)body, (size_t)n, 0);
}

/* The next item of the comma-separated list @p v (@p len bytes) from *@p i: its bytes are
 * [*@p s, *@p e), blanks around it left out. @return 0 once the list is done. */
static int list_next(const char *v, size_t len, size_t *i, size_t *s, size_t *e)
{
	while (*i < len && (v[*i] == ' ' || v[*i] == '\t' || v[*i] == ','))
		(*i)++;
	if (*i >= len)
		return 0;
	*s = *i;
	while (*i < len && v[*i] != ',')
		(*i)++;
	*e = *i;
	while (*e > *s && (v[*e - 1] == ' ' || v[*e - 1] == '\t'))
		(*e)--;
	return 1;
}

/* Case-insensitive: does the comma-separated list @p v (@p len bytes) hold @p token? */
static int list_has(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token), i = 0, s, e;
	while (list_next(v, len, &i, &s, &e))
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return 1;
	return 0;
}

struct pmd_offer {
	int ok;
	int server_no_ctx, client_no_ctx;
	int server_bits; /* 0: not asked */
};

/* One extension offer's parameters (after "permessage-deflate"), RFC 7692 section 7.1: an
 * unknown or repeated parameter, or a bad value, makes the whole offer unacceptable. */
static void pmd_parse(const char *s, size_t len, struct pmd_offer *o)
{
	size_t i = 0;
	int seen[4] = {0};
	memset(o, 0, sizeof(*o));
	o->ok = 1;
	while (i < len) {
		char name[32], val[8];
		size_t nl = 0, vl = 0;
		int has_val = 0, which;
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ';'))
			i++;
		if (i >= len)
			break;
		while (i < len && s[i] != '=' && s[i] != ';' && s[i] != ' ' && s[i] != '\t') {
			if (nl + 1 >= sizeof(name)) {
				o->ok = 0;
				return;
			}
			name[nl++] = s[i++];
		}
		name[nl] = '\0';
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < len && s[i] == '=') {
			int quoted;
			i++;
			while (i < len && (s[i] == ' ' || s[i] == '\t'))
				i++;
			quoted = i < len && s[i] == '"';
			if (quoted)
				i++;
			while (i < len && s[i] != ';' && s[i] != '"' && s[i] != ' ' && s[i] != '\t') {
				if (vl + 1 >= sizeof(val)) {
					o->ok = 0;
					return;
				}
				val[vl++] = s[i++];
			}
			if (quoted) {
				if (i >= len || s[i] != '"') {
					o->ok = 0;
					return;
				}
				i++;
			}
			has_val = 1;
		}
		val[vl] = '\0';
		if (strcasecmp(name, "server_no_context_takeover") == 0)
			which = 0;
		else if (strcasecmp(name, "client_no_context_takeover") == 0)
			which = 1;
		else if (strcasecmp(name, "server_max_window_bits") == 0)
			which = 2;
		else if (strcasecmp(name, "client_max_window_bits") == 0)
			which = 3;
		else {
			o->ok = 0;
			return;
		}
		if (seen[which]++ || (which < 2 && has_val) || (which == 2 && !has_val)) {
			o->ok = 0;
			return;
		}
		if (has_val) {
			char *end;
			long b = strtol(val, &end, 10);
			if (vl == 0 || *end != '\0' || b < 8 || b > 15 || val[0] == '0') {
				o->ok = 0;
				return;
			}
			if (which == 2)
				o->server_bits = (int)b;
		}
		if (which == 0)
			o->server_no_ctx = 1;
		else if (which == 1)
			o->client_no_ctx = 1;
	}
	/* zlib's raw DEFLATE has no 256-byte window: a client asking for 8 bits cannot be served
	 * (answering 9 would break its limit); the next offer, or none, is taken */
	if (o->server_bits == 8)
		o->ok = 0;
}

/* Choose from Sec-WebSocket-Extensions (all the header's lines, joined by commas): the first
 * acceptable permessage-deflate offer. Writes our answer's header line into @p out. */
static void pmd_choose(struct ws_conn *wc, const char *v, size_t len, char *out, size_t out_len)
{
	size_t i = 0, s, e;
	char bits[32] = "";
	out[0] = '\0';
	if (!wc->srv->deflate)
		return;
	while (list_next(v, len, &i, &s, &e)) {
		size_t nl;
		struct pmd_offer o;
		for (nl = 0; s + nl < e && v[s + nl] != ';' && v[s + nl] != ' ' && v[s + nl] != '\t'; nl++)
			;
		if (nl != 18 || strncasecmp(v + s, "permessage-deflate", 18) != 0)
			continue;
		pmd_parse(v + s + nl, e - s - nl, &o);
		if (!o.ok)
			continue;
		wc->pmd = 1;
		wc->client_no_ctx = o.client_no_ctx;
		/* broadcast shares one compressed frame among its recipients: no context to keep */
		wc->server_no_ctx = o.server_no_ctx || wc->srv->mode == MODE_BROADCAST;
		wc->server_bits = o.server_bits != 0 ? o.server_bits : 15;
		if (o.server_bits != 0)
			snprintf(bits, sizeof(bits), "; server_max_window_bits=%d", o.server_bits);
		snprintf(out, out_len, "Sec-WebSocket-Extensions: permessage-deflate%s%s%s\r\n",
		         wc->server_no_ctx ? "; server_no_context_takeover" : "",
		         wc->client_no_ctx ? "; client_no_context_takeover" : "", bits);
		return;
	}
}

/* Enter WebSocket mode. */
static void upgrade(struct ws_conn *wc, const char *key, size_t key_len, const char *ext)
{
	struct ws_server *srv = wc->srv;
	char accept[WS_ACCEPT_LEN], h[512];
	int n, rc;
	ws_accept_key(key, key_len, accept);
	n = snprintf(h, sizeof(h),
	             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Accept: %s\r\n%s\r\n",
	             accept, ext);
	rc = tlsio_send(wc->c, h, (size_t)n);
	if (rc < 0) {
		conn_fail_send(wc, rc);
		return;
	}
	wc->state = ST_WS;
	srv->n.upgraded++;
	if (wc->pmd) {
		srv->n.deflate++;
		wc->pmd_counted = 1;
		atomic_fetch_add(&n_pmd_clients, 1);
	}
	/* the HTTP phase's pause, if any, was its own: the WebSocket's own rules apply now */
	set_congested(wc, 0);
	wc->last_input = tlsio_loop_now(srv->loop);
	if (srv->ping_interval_ms > 0)
		(void)tlsio_timer_start(wc->timer, srv->ping_interval_ms, 0);
	else
		tlsio_timer_stop(wc->timer);
	if (srv->paused_all)
		set_pause(wc, PAUSE_ALL, 1);
}

/* Is @p v (@p len bytes) a base64 encoding of 16 bytes (section 4.1, item 7)? */
static int key_ok(const char *v, size_t len)
{
	if (len != 24 || v[22] != '=' || v[23] != '=')
		return 0;
	for (size_t i = 0; i < 22; i++) {
		char ch = v[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '+' || ch == '/'))
			return 0;
	}
	/* the last character carries 2 bits: the other 4 must be zero */
	return strchr("AQgw", v[21]) != NULL;
}

/* One whole request head (NUL-terminated, @p len bytes with the blank line). */
static void http_request(struct ws_conn *wc, char *req, size_t len)
{
	struct ws_server *srv = wc->srv;
	char *line = req, *end = req + len, *sp1, *sp2;
	const char *key = NULL, *version = NULL;
	size_t key_len = 0, version_len = 0;
	int upgrade_ws = 0, conn_upgrade = 0, has_host = 0, http11, head_only;
	char ext[2048], answer[256];
	size_t ext_len = 0;
	char *eol = strstr(line, "\r\n");
	srv->n.http_requests++;
	*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[9] != '\0') {
		http_error(wc, 400, "Bad Request", NULL);
		return;
	}
	*sp1 = *sp2 = '\0';
	http11 = sp2[8] == '1';
	wc->http_close = !http11;
	for (line = eol + 2; line < end; line = eol + 2) {
		char *colon, *v;
		size_t vl;
		eol = strstr(line, "\r\n");
		if (eol == NULL || eol == line)
			break;
		*eol = '\0';
		colon = strchr(line, ':');
		if (colon == NULL) {
			http_error(wc, 400, "Bad Request", NULL);
			return;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		vl = strlen(v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			v[--vl] = '\0';
		if (strcasecmp(line, "Host") == 0)
			has_host = 1;
		else if (strcasecmp(line, "Upgrade") == 0)
			upgrade_ws |= list_has(v, vl, "websocket");
		else if (strcasecmp(line, "Connection") == 0) {
			conn_upgrade |= list_has(v, vl, "upgrade");
			if (list_has(v, vl, "close"))
				wc->http_close = 1;
		} else if (strcasecmp(line, "Sec-WebSocket-Key") == 0) {
			key = v;
			key_len = vl;
		} else if (strcasecmp(line, "Sec-WebSocket-Version") == 0) {
			version = v;
			version_len = vl;
		} else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0 &&
		           ext_len + vl + 2 < sizeof(ext)) {
			if (ext_len > 0)
				ext[ext_len++] = ',';
			memcpy(ext + ext_len, v, vl);
			ext_len += vl;
		}
	}
	ext[ext_len] = '\0';
	head_only = strcmp(req, "HEAD") == 0;
	if (http11 && !has_host) {
		http_error(wc, 400, "Bad Request", NULL);
		return;
	}
	if (upgrade_ws) {
		if (strcmp(req, "GET") != 0 || !http11 || !conn_upgrade || key == NULL ||
		    !key_ok(key, key_len)) {
			http_error(wc, 400, "Bad Request", NULL);
			return;
		}
		if (version == NULL || version_len != 2 || memcmp(version, "13", 2) != 0) {
			http_error(wc, 426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n");
			return;
		}
		pmd_choose(wc, ext, ext_len, answer, sizeof(answer));
		upgrade(wc, key, key_len, answer);
		return;
	}
	if (strcmp(req, "GET") != 0 && !head_only) {
		http_error(wc, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	char *query = strchr(sp1 + 1, '?'); /* the page is the same whatever the query string */
	if (query != NULL)
		*query = '\0';
	if (strcmp(sp1 + 1, "/") == 0 || strcmp(sp1 + 1, "/index.html") == 0)
		http_answer(wc, 200, "OK", "Cache-Control: no-store\r\n", "text/html; charset=utf-8",
		            srv->page, srv->page_len, head_only);
	else
		http_answer(wc, 404, "Not Found", NULL, "text/plain", (const uint8_t *)"404 Not Found\n",
		            14, head_only);
}

/* HTTP input: requests in order (pipelined ones too), until an upgrade or a close. */
static void http_input(struct ws_conn *wc, const uint8_t *p, size_t n)
{
	struct ws_server *srv = wc->srv;
	for (;;) {
		size_t take = MAX_HEAD - wc->in_len < n ? MAX_HEAD - wc->in_len : n, head, rest;
		char *blank;
		char saved;
		if (wc->in == NULL && (wc->in = malloc(MAX_HEAD + 1)) == NULL) {
			tlsio_abort(wc->c);
			wc->state = ST_CLOSING;
			return;
		}
		memcpy(wc->in + wc->in_len, p, take);
		wc->in_len += take;
		p += take;
		n -= take;
		blank = memmem(wc->in, wc->in_len, "\r\n\r\n", 4);
		if (blank == NULL) {
			if (wc->in_len < MAX_HEAD)
				return; /* all taken (n is 0): wait for more */
			http_error(wc, 431, "Request Header Fields Too Large", NULL);
			break;
		}
		head = (size_t)(blank - wc->in) + 4;
		rest = wc->in_len - head;
		if (memchr(wc->in, '\0', head) != NULL) {
			http_error(wc, 400, "Bad Request", NULL);
			break;
		}
		saved = wc->in[head];
		wc->in[head] = '\0';
		http_request(wc, wc->in, head);
		wc->in[head] = saved;
		/* bytes after the head: the next request, or the client's first frames */
		memmove(wc->in, wc->in + head, rest);
		wc->in_len = rest;
		if (wc->state == ST_WS) {
			uint8_t *frames = (uint8_t *)wc->in;
			wc->in = NULL;
			wc->in_len = 0;
			ws_input(wc, frames, rest);
			free(frames);
			ws_input(wc, p, n);
			return;
		}
		if (wc->state != ST_HTTP || wc->http_close)
			break;
		check_queue(wc);
		if (srv->request_timeout_ms > 0)
			(void)tlsio_timer_start(wc->timer, srv->request_timeout_ms, 0);
		if (wc->in_len == 0 && n == 0) {
			/* an idle keep-alive connection keeps no buffer */
			free(wc->in);
			wc->in = NULL;
			return;
		}
	}
	if (wc->state == ST_HTTP) {
		wc->state = ST_CLOSING;
		tlsio_close(wc->c);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* connection callbacks */

static void conn_unlink(struct ws_conn *wc)
{
	struct ws_server *srv = wc->srv;
	if (wc->prev != NULL)
		wc->prev->next = wc->next;
	else
		srv->conns = wc->next;
	if (wc->next != NULL)
		wc->next->prev = wc->prev;
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct ws_conn *wc = user;
	(void)c;
	if (wc == NULL || wc->state == ST_CLOSING)
		return; /* a closing connection's input (the client's answering close) is dropped */
	wc->last_input = tlsio_loop_now(wc->srv->loop);
	wc->ping_out = 0; /* any input answers a keep-alive ping */
	if (wc->state == ST_HTTP)
		http_input(wc, data, len);
	else
		ws_input(wc, data, len);
}

static void on_drain(tlsio_conn *c, void *user)
{
	struct ws_conn *wc = user;
	(void)c;
	if (wc != NULL)
		set_congested(wc, 0);
}

static void on_peer_close(tlsio_conn *c, void *user)
{
	struct ws_conn *wc = user;
	(void)c;
	if (wc == NULL)
		return;
	/* TLS closed under an open WebSocket (no close frame: 1006 for the client's side) */
	wc->state = ST_CLOSING;
	tlsio_close(wc->c);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct ws_conn *wc = user;
	if (wc == NULL)
		return;
	if (status != 0 && !wc->srv->co.quiet && status != TLSIO_E_TRUNCATED && status != -ECONNRESET &&
	    status != -EPIPE && status != TLSIO_E_EOF_IN_HANDSHAKE && status != TLSIO_E_ABORTED)
		tlsx_print_status(PROG, wc->peer, status, alert);
	tlsio_stats st = TLSIO_STATS_INIT;
	if (tlsio_conn_stats(c, &st) == 0) { /* the summary tells whether the kernel cut sends short */
		wc->srv->n.short_writes += st.short_writes;
		wc->srv->n.eagain += st.eagain;
	}
	set_congested(wc, 0);
	if (wc->pmd_counted)
		atomic_fetch_sub(&n_pmd_clients, 1);
	conn_unlink(wc);
	tlsio_timer_free(wc->timer);
	z_free(wc);
	wbuf_put(wc->msg);
	free(wc->in);
	free(wc);
}

static const tlsio_callbacks ws_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_data = on_data,
	.on_drain = on_drain,
	.on_peer_close = on_peer_close,
	.on_close = on_close,
};

static void on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct ws_server *srv = user;
	struct ws_conn *wc = calloc(1, sizeof(*wc));
	(void)l;
	if (wc == NULL || tlsio_timer_new(srv->loop, on_timer, wc, &wc->timer) < 0) {
		free(wc);
		tlsio_abort(c);
		return;
	}
	wc->srv = srv;
	wc->c = c;
	wc->reading = 1;
	if (tlsio_conn_peer_addr(c, wc->peer, sizeof(wc->peer)) < 0)
		snprintf(wc->peer, sizeof(wc->peer), "client");
	wc->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = wc;
	srv->conns = wc;
	srv->n.accepted++;
	tlsio_conn_set_user(c, wc);
	if (srv->request_timeout_ms > 0)
		(void)tlsio_timer_start(wc->timer, srv->request_timeout_ms, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* stopping */

static void ws_stop(tlsio_loop *loop, int how, void *user)
{
	struct ws_server *srv = user;
	if (!srv->shutting_down) {
		int rc;
		srv->shutting_down = 1;
		/* Every WebSocket client is told "going away" (1001) first; the drain then closes
		 * every connection (what is queued goes out) and ends the run. */
		for (struct ws_conn *wc = srv->conns; wc != NULL; wc = wc->next)
			if (wc->state == ST_WS) {
				uint8_t p[2] = {WS_CLOSE_GOING_AWAY >> 8, WS_CLOSE_GOING_AWAY & 0xff};
				(void)send_control(wc, WS_OP_CLOSE, p, 2);
				wc->state = ST_CLOSING;
				tlsio_timer_stop(wc->timer);
			}
		rc = tlsio_loop_drain(loop, TLSX_DRAIN_MS, tlsx_drained, &srv->co);
		if (rc < 0) {
			fprintf(stderr, PROG ": shutdown without a deadline: cannot drain the loop: %s\n",
			        tlsio_strerror(rc));
			tlsx_listeners_close(srv->listener);
			for (struct ws_conn *wc = srv->conns; wc != NULL; wc = wc->next)
				tlsio_close(wc->c);
		}
		memset(srv->listener, 0, sizeof(srv->listener));
	}
	if (how == TLSX_STOP_ABORT)
		for (struct ws_conn *wc = srv->conns; wc != NULL; wc = wc->next)
			tlsio_abort(wc->c);
}

/* ------------------------------------------------------------------------------------------ */
/* one server per thread (tlsx_run_servers) */

static int ws_start(void *worker, const struct tlsx_addrs *addrs, int shared, struct tlsx_addrs *bound)
{
	struct ws_server *srv = worker;
	int rc = tlsx_server_listen(&srv->co, addrs, shared, srv->cfg, &srv->copts, on_accept, ws_stop,
	                            srv, &srv->loop, srv->listener, bound);
	if (rc == 0) {
		srv->started = 1;
		pthread_mutex_lock(&loops_mu);
		loop_open[srv->index] = 1;
		pthread_mutex_unlock(&loops_mu);
	}
	return rc;
}

static int ws_run(void *worker)
{
	struct ws_server *srv = worker;
	int rc = tlsio_loop_run(srv->loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	return TLSX_EXIT_OK;
}

static void ws_finish(void *worker)
{
	struct ws_server *srv = worker;
	/* No other thread posts to the loop once it is being freed. */
	pthread_mutex_lock(&loops_mu);
	loop_open[srv->index] = 0;
	pthread_mutex_unlock(&loops_mu);
	tlsx_signals_unwatch(srv->loop);
	tlsio_loop_free(srv->loop);
	srv->loop = NULL;
	if (srv->bz_ready)
		deflateEnd(&srv->bz);
	srv->bz_ready = 0;
	memset(srv->listener, 0, sizeof(srv->listener));
}

static void ws_listening(const struct tlsx_addrs *bound, void *arg)
{
	struct ws_server *srv = arg;
	for (int i = 0; i < bound->n; i++)
		printf("listening on %s\n", bound->addr[i]);
	fflush(stdout);
	if (srv->co.quiet)
		return;
	fprintf(stderr, PROG ": backend %s (%s)", srv->co.backend, tlsio_loop_info(all_workers[0].loop));
	if (srv->threads > 1)
		fprintf(stderr, ", %d threads", srv->threads);
	fprintf(stderr, "; %s mode, messages up to %" PRIu64 " bytes, permessage-deflate %s, ping "
	        "every %" PRIu32 " ms of silence\n", srv->mode == MODE_ECHO ? "echo" : "broadcast",
	        srv->max_message, srv->deflate ? "offered" : "off", srv->ping_interval_ms);
}

/* ------------------------------------------------------------------------------------------ */
/* arguments */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --cert FILE --key FILE [options]\n"
		"       " PROG " --plain [options]\n"
		"\n"
		"WebSocket server (RFC 6455) over TLS, with permessage-deflate (RFC 7692). The\n"
		"upgrade (GET on any path with 'Upgrade: websocket') and a small page on GET /\n"
		"share one port. Echo mode sends every message back to its sender; broadcast mode\n"
		"sends it to every client of every thread, the sender included. Protocol errors\n"
		"close the connection with the RFC's code (1002, 1007 bad UTF-8, 1009 too big),\n"
		"logged on stderr. A client silent for --ping-interval is pinged; one silent\n"
		"--pong-timeout after that is closed with 1011. A connection whose send queue is\n"
		"above --high-water stops the reading of whoever feeds it until it drains (echo:\n"
		"its own; broadcast: every sender's), so a slow client never costs unbounded\n"
		"memory.\n"
		"Prints 'listening on ADDR' on stdout. SIGINT/SIGTERM send every client a close\n"
		"with 1001 (going away) and close the connections gracefully, aborting those still\n"
		"open after %d s; a summary goes to stderr.\n"
		"\n"
		"Options:\n"
		"  --listen ADDR        address to listen on (default 127.0.0.1:8443); the forms of\n"
		"                       tlsio-https --help (IP:PORT, [IPv6]:PORT, fd:N, systemd)\n"
		"  --cert FILE          PEM certificate chain (required, unless --plain)\n"
		"  --key FILE           PEM private key (required, unless --plain)\n"
		"  --mode echo|broadcast  (default echo)\n"
		"  --page FILE          GET / answers this file (text/html, up to 16M) instead of\n"
		"                       the built-in page (a JavaScript echo client)\n"
		"  --max-message BYTES  largest message, after decompression (default 16M); a\n"
		"                       larger one is refused with 1009 as soon as its frame\n"
		"                       header (or its inflating) shows it\n"
		"  --ping-interval MS   ping a client silent this long (default 30000; 0: never)\n"
		"  --pong-timeout MS    close (1011) a client silent this long after a ping\n"
		"                       (default 10000)\n"
		"  --request-timeout MS  close a connection that has not sent a whole HTTP request\n"
		"                       this long after its accept (default 30000; 0: never)\n"
		"  --no-deflate         decline permessage-deflate\n"
		"  --high-water BYTES   per-connection send queue bound (default 1M)\n"
		"  --threads N          N threads, one loop and SO_REUSEPORT listener each\n"
		"                       (default 1; 0: one per CPU)\n"
		"%s"
		"%s"
		"\n"
		"Exit status: 0 after a signal, 1 on a runtime error, 2 on bad usage.\n",
		TLSX_DRAIN_MS / 1000, tlsx_server_help, tlsx_common_help);
}

static int parse_ms(const char *flag, const char *arg, uint32_t *out)
{
	uint64_t v;
	if (tlsx_parse_u64(arg, &v) < 0 || v > 86400000u) {
		fprintf(stderr, PROG ": bad value for %s: '%s' (milliseconds, at most a day)\n", flag, arg);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_args(struct ws_server *srv, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		TLSX_SERVER_LONGOPTS,
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"mode", required_argument, NULL, OPT_MODE},
		{"page", required_argument, NULL, OPT_PAGE},
		{"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
		{"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
		{"pong-timeout", required_argument, NULL, OPT_PONG_TIMEOUT},
		{"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
		{"no-deflate", no_argument, NULL, OPT_NO_DEFLATE},
		{"high-water", required_argument, NULL, OPT_HIGH_WATER},
		{"threads", required_argument, NULL, OPT_THREADS},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int rc = tlsx_common_opt(&srv->co, opt, optarg);
		uint64_t v;
		if (rc < 0)
			return TLSX_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(TLSX_EXIT_OK);
		case OPT_LISTEN:
			srv->listen_addr = optarg;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "echo") == 0)
				srv->mode = MODE_ECHO;
			else if (strcmp(optarg, "broadcast") == 0)
				srv->mode = MODE_BROADCAST;
			else {
				fprintf(stderr, PROG ": bad value for --mode: '%s' (echo or broadcast)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_PAGE:
			srv->page_file = optarg;
			break;
		case OPT_MAX_MESSAGE:
		case OPT_HIGH_WATER:
			if (tlsx_parse_size(optarg, &v) < 0 || v == 0 || v > (1ull << 31)) {
				fprintf(stderr, PROG ": bad value for --%s: '%s' (1 to 2G)\n",
				        opt == OPT_MAX_MESSAGE ? "max-message" : "high-water", optarg);
				return TLSX_EXIT_USAGE;
			}
			if (opt == OPT_MAX_MESSAGE)
				srv->max_message = v;
			else
				srv->high_water = (size_t)v;
			break;
		case OPT_PING_INTERVAL:
			if (parse_ms("--ping-interval", optarg, &srv->ping_interval_ms) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_PONG_TIMEOUT:
			if (parse_ms("--pong-timeout", optarg, &srv->pong_timeout_ms) < 0)
				return TLSX_EXIT_USAGE;
			if (srv->pong_timeout_ms == 0) {
				fprintf(stderr, PROG ": --pong-timeout must be above 0\n");
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_REQUEST_TIMEOUT:
			if (parse_ms("--request-timeout", optarg, &srv->request_timeout_ms) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_NO_DEFLATE:
			srv->deflate = 0;
			break;
		case OPT_THREADS:
			if (tlsx_parse_threads(optarg, &srv->threads) < 0) {
				fprintf(stderr, PROG ": bad value for --threads: '%s' (0 to %d)\n", optarg,
				        TLSX_MAX_LOOPS);
				return TLSX_EXIT_USAGE;
			}
			break;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return TLSX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n", argv[optind]);
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct tlsx_server_ops ops = {ws_start, ws_run, ws_finish};
	struct ws_server srv, *workers = NULL;
	const tlsio_backend *backend;
	struct ws_counters sum;
	uint8_t *page = NULL;
	int rc, ret = TLSX_EXIT_FAIL, started = 0;

	memset(&srv, 0, sizeof(srv));
	memset(&sum, 0, sizeof(sum));
	srv.co.prog = PROG;
	srv.max_message = 16u << 20;
	srv.ping_interval_ms = 30000;
	srv.pong_timeout_ms = 10000;
	srv.request_timeout_ms = 30000;
	srv.deflate = 1;
	srv.high_water = 1u << 20;
	srv.threads = 1;
	rc = parse_args(&srv, argc, argv);
	if (rc != 0)
		return rc;
	if (srv.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	if (!srv.co.plain && (srv.co.cert == NULL || srv.co.key == NULL)) {
		fprintf(stderr, PROG ": a TLS server needs a certificate and its key: --cert FILE --key FILE\n"
		                "(for a test run: --cert tests/certs/server.pem --key tests/certs/server.key;"
		                " plain WebSocket: --plain)\n");
		return TLSX_EXIT_USAGE;
	}
	rc = tlsx_server_addrs(&srv.co, srv.listen_addr, "127.0.0.1:8443", srv.threads, &srv.addrs);
	if (rc != 0)
		return rc;
	rc = tlsx_backend(&srv.co, &backend);
	if (rc != 0)
		return rc;
	srv.co.backend = tlsio_backend_name(backend);
	if (srv.page_file != NULL) {
		char why[128];
		size_t len;
		rc = tlsx_read_file(srv.page_file, MAX_PAGE, &page, &len, why, sizeof(why));
		if (rc < 0) {
			fprintf(stderr, PROG ": cannot read the page '%s': %s\n", srv.page_file, why);
			return TLSX_EXIT_FAIL;
		}
		srv.page = page;
		srv.page_len = len;
	} else {
		srv.page = (const uint8_t *)builtin_page;
		srv.page_len = sizeof(builtin_page) - 1;
	}
	rc = tlsx_signals_install(3);
	if (rc < 0) {
		fprintf(stderr, PROG ": setup: %s\n", tlsio_strerror(rc));
		goto out;
	}
	if (!srv.co.plain) {
		tlsio_tls_opts t;
		tlsx_tls_opts(&srv.co, &t);
		/* WebSocket is HTTP/1.1's upgrade: a browser offering h2 as well must get 1.1 */
		if (t.alpn == NULL)
			t.alpn = "http/1.1";
		if ((rc = tlsx_tls_config(&srv.co, 1, &t, &srv.cfg)) != 0) {
			ret = rc;
			goto out;
		}
	}
	tlsx_conn_opts(&srv.co, &srv.copts);
	srv.copts.cb = &ws_callbacks;
	srv.copts.handshake_timeout_ms = 10000;
	/* Our bound is high_water (reading stops above it); the library's refusal is far above:
	 * one whole message more in echo mode, where the pause is immediate; in broadcast mode
	 * the pause reaches the other threads' senders a little later, so four bounds more.
	 * Below the watermark at a quarter, on_drain lifts the pause. */
	srv.copts.high_water = (srv.mode == MODE_ECHO ? srv.high_water : 4 * srv.high_water) +
	                       (size_t)srv.max_message + WS_MAX_HEADER + 64 * 1024;
	srv.copts.low_water = srv.high_water / 4;

	workers = aligned_alloc(64, (size_t)srv.threads * sizeof(*workers));
	loop_open = calloc((size_t)srv.threads, sizeof(*loop_open));
	if (workers == NULL || loop_open == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	memset(workers, 0, (size_t)srv.threads * sizeof(*workers));
	for (int i = 0; i < srv.threads; i++) {
		memcpy(&workers[i], &srv, offsetof(struct ws_server, index));
		workers[i].index = i;
	}
	all_workers = workers;
	n_workers = srv.threads;
	ret = tlsx_run_servers(srv.threads, workers, sizeof(*workers), &ops, &srv.addrs, ws_listening,
	                       &srv);
	for (int i = 0; i < srv.threads; i++) {
		const struct ws_counters *c = &workers[i].n;
		if (!workers[i].started)
			continue;
		started = 1;
		sum.accepted += c->accepted;
		sum.upgraded += c->upgraded;
		sum.deflate += c->deflate;
		sum.http_requests += c->http_requests;
		sum.msgs_in += c->msgs_in;
		sum.bytes_in += c->bytes_in;
		sum.msgs_out += c->msgs_out;
		sum.bytes_out += c->bytes_out;
		sum.violations += c->violations;
		sum.pings_sent += c->pings_sent;
		sum.keepalive_closed += c->keepalive_closed;
		sum.dropped_slow += c->dropped_slow;
		sum.short_writes += c->short_writes;
		sum.eagain += c->eagain;
	}
	if (started && !srv.co.quiet)
		fprintf(stderr, PROG ": %" PRIu64 " connections (%" PRIu64 " WebSocket, %" PRIu64
		        " with permessage-deflate), %" PRIu64 " HTTP requests, %" PRIu64 " messages in (%"
		        PRIu64 " bytes), %" PRIu64 " out (%" PRIu64 " bytes), %" PRIu64 " protocol "
		        "violations, %" PRIu64 " pings, %" PRIu64 " closed by keep-alive, %" PRIu64
		        " dropped as too slow, %" PRIu64 " short writes, %" PRIu64 " EAGAIN\n", sum.accepted, sum.upgraded, sum.deflate, sum.http_requests,
		        sum.msgs_in, sum.bytes_in, sum.msgs_out, sum.bytes_out, sum.violations,
		        sum.pings_sent, sum.keepalive_closed, sum.dropped_slow, sum.short_writes, sum.eagain);
out:
	free(workers);
	free(loop_open);
	tlsio_tls_config_free(srv.cfg);
	free(page);
	return ret;
}
