/* SPDX-License-Identifier: MIT */
/* ws-load: the WebSocket echo benchmark's client (bench/ws.sh). N connections over TLS with
 * libtlsio's client, each upgraded to WebSocket (no extensions offered), each keeping --depth
 * masked binary messages of --size bytes in flight and sending the next one when an echo is
 * whole. Every echo is compared with what was sent, byte for byte. After --warmup seconds it
 * counts for --seconds and prints one line:
 *   ws-load: 100 connections, 1024 B, depth 1: 41234 msgs/s, 42.2 MB/s, 206170 echoes in 5.00 s
 * (MB/s: echoed payload, one direction, 10^6 bytes). Any error ends it with status 1.
 * The same client measures every server, libtlsio's and the others, with the same certificate. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tlsio.h"
#include "ws.h"

#define PROG "ws-load"
#define HEAD_MAX 4096
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

struct load;

struct lconn {
	struct load *l;
	tlsio_conn *c;
	int upgraded, closing;
	size_t head_len;
	char head[HEAD_MAX];
	uint8_t hdr[WS_MAX_HEADER]; /* an echo's frame header, gathered */
	size_t hdr_len;
	int in_payload;
	uint64_t payload_off; /* of the echo being received */
};

struct load {
	const char *connect, *ca, *server_name, *backend;
	unsigned conns, depth;
	size_t size;
	double warmup_s, seconds;
	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_callbacks cb;
	tlsio_conn_opts copts;
	struct lconn *lc;
	uint8_t *payload; /* what every message carries */
	uint8_t *frame;   /* the masked frame: header and masked payload */
	size_t frame_len;
	unsigned ready, open;
	int failed, counting, done;
	uint64_t echoes;
	double t0, t1;
	tlsio_timer *timer;
	char req[512];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct lconn *lc, const char *what)
{
	struct load *l = lc->l;
	if (!l->failed)
		fprintf(stderr, PROG ": connection %u: %s\n", (unsigned)(lc - l->lc), what);
	l->failed = 1;
	tlsio_loop_stop(l->loop);
}

static int send_message(struct lconn *lc)
{
	int rc = tlsio_send(lc->c, lc->l->frame, lc->l->frame_len);
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof(why), "send: %s", tlsio_strerror(rc));
		fail(lc, why);
	}
	return rc;
}

static void on_handshake(tlsio_conn *c, void *user)
{
	struct lconn *lc = user;
	int rc = tlsio_send(c, lc->l->req, strlen(lc->l->req));
	if (rc < 0)
		fail(lc, "sending the upgrade request failed");
}

/* The 101 answer: its status line, its Sec-WebSocket-Accept, no extension accepted. */
static int check_upgrade(struct lconn *lc)
{
	char accept[WS_ACCEPT_LEN], want[64 + WS_ACCEPT_LEN];
	if (strncmp(lc->head, "HTTP/1.1 101 ", 13) != 0) {
		char why[160];
		snprintf(why, sizeof(why), "the upgrade was answered '%.*s'",
		         (int)strcspn(lc->head, "\r\n"), lc->head);
		fail(lc, why);
		return -1;
	}
	ws_accept_key(KEY, strlen(KEY), accept);
	snprintf(want, sizeof(want), "sec-websocket-accept: %s\r\n", accept);
	if (strcasestr(lc->head, want) == NULL) {
		fail(lc, "the 101 has no or a wrong Sec-WebSocket-Accept");
		return -1;
	}
	if (strcasestr(lc->head, "sec-websocket-extensions:") != NULL) {
		fail(lc, "the server accepted an extension that was not offered");
		return -1;
	}
	return 0;
}

static void echo_done(struct lconn *lc)
{
	struct load *l = lc->l;
	if (l->counting)
		l->echoes++;
	if (!l->done)
		send_message(lc);
}

/* Echoes: unmasked binary frames, whole (FIN, no RSV), payload equal to what was sent. */
static void ws_input(struct lconn *lc, const uint8_t *p, size_t n)
{
	struct load *l = lc->l;
	while (n > 0 && !l->failed) {
		if (!lc->in_payload) {
			ws_header h;
			size_t take = WS_MAX_HEADER - lc->hdr_len;
			if (take > n)
				take = n;
			memcpy(lc->hdr + lc->hdr_len, p, take);
			int hl = ws_parse_header(lc->hdr, lc->hdr_len + take, &h);
			if (hl < 0) {
				fail(lc, "a malformed frame header");
				return;
			}
			if (hl == 0) {
				lc->hdr_len += take;
				p += take;
				n -= take;
				continue;
			}
			if (!h.fin || h.rsv != 0 || h.opcode != 2 || h.masked || h.len != l->size) {
				char why[160];
				snprintf(why, sizeof(why),
				         "an echo frame fin %d rsv %d opcode %d masked %d length %" PRIu64
				         " (sent: fin 1 rsv 0 opcode 2, %zu bytes)",
				         h.fin, h.rsv, h.opcode, h.masked, h.len, l->size);
				fail(lc, why);
				return;
			}
			size_t used = (size_t)hl - lc->hdr_len; /* of this chunk */
			p += used;
			n -= used;
			lc->hdr_len = 0;
			lc->payload_off = 0;
			lc->in_payload = 1;
			if (l->size == 0) {
				lc->in_payload = 0;
				echo_done(lc);
			}
			continue;
		}
		size_t take = l->size - lc->payload_off;
		if (take > n)
			take = n;
		if (memcmp(p, l->payload + lc->payload_off, take) != 0) {
			fail(lc, "an echo differs from the message sent");
			return;
		}
		lc->payload_off += take;
		p += take;
		n -= take;
		if (lc->payload_off == l->size) {
			lc->in_payload = 0;
			echo_done(lc);
		}
	}
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct lconn *lc = user;
	struct load *l = lc->l;
	(void)c;
	if (lc->upgraded) {
		ws_input(lc, data, len);
		return;
	}
	size_t take = HEAD_MAX - 1 - lc->head_len;
	if (take > len)
		take = len;
	memcpy(lc->head + lc->head_len, data, take);
	lc->head_len += take;
	lc->head[lc->head_len] = '\0';
	char *end = strstr(lc->head, "\r\n\r\n");
	if (end == NULL) {
		if (lc->head_len == HEAD_MAX - 1)
			fail(lc, "the upgrade answer's head is longer than 4 KiB");
		return;
	}
	if (check_upgrade(lc) < 0)
		return;
	lc->upgraded = 1;
	size_t head = (size_t)(end + 4 - lc->head);
	l->ready++;
	for (unsigned i = 0; i < l->depth; i++)
		if (send_message(lc) < 0)
			return;
	if (head < lc->head_len) /* the server spoke first: nothing it may send yet */
		fail(lc, "bytes after the 101 before any message");
}

static void on_peer_close(tlsio_conn *c, void *user)
{
	struct lconn *lc = user;
	if (!lc->closing)
		fail(lc, "the server closed the connection");
	tlsio_close(c);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct lconn *lc = user;
	(void)c;
	lc->l->open--;
	if (!lc->closing) {
		char why[200];
		snprintf(why, sizeof(why), "closed: %s%s%s", tlsio_strerror(status),
		         alert != TLSIO_ALERT_NONE ? ", alert " : "",
		         alert != TLSIO_ALERT_NONE ? tlsio_alert_name(alert) : "");
		fail(lc, why);
	}
	lc->c = NULL;
}

/* Every 50 ms: start counting after the warm-up, stop after --seconds. */
static void on_tick(tlsio_timer *t, void *user)
{
	struct load *l = user;
	double now = now_s();
	(void)t;
	if (!l->counting && l->ready == l->conns && now - l->t0 >= l->warmup_s) {
		l->counting = 1;
		l->echoes = 0;
		l->t0 = now;
	} else if (l->counting && now - l->t0 >= l->seconds) {
		l->t1 = now;
		l->counting = 0;
		l->done = 1;
		tlsio_loop_stop(l->loop);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --connect HOST:PORT --ca FILE [options]\n"
		"  --connect HOST:PORT  the echo server (HOST is also the name verified)\n"
		"  --ca FILE            CA certificates to verify the server with\n"
		"  --conns N            connections (default 100)\n"
		"  --size BYTES         each message's payload (default 1024)\n"
		"  --depth N            messages in flight per connection (default 1)\n"
		"  --warmup SECONDS     not counted, after all upgrades (default 1)\n"
		"  --seconds SECONDS    counted (default 5)\n"
		"  --backend NAME       the client's backend (default epoll)\n"
		"  --help\n");
}

static int parse_args(struct load *l, int argc, char **argv)
{
	static const struct option opts[] = {
		{"connect", required_argument, NULL, 'c'}, {"ca", required_argument, NULL, 'a'},
		{"conns", required_argument, NULL, 'n'},   {"size", required_argument, NULL, 's'},
		{"depth", required_argument, NULL, 'd'},   {"warmup", required_argument, NULL, 'w'},
		{"seconds", required_argument, NULL, 't'}, {"backend", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
	int o;
	char *end;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (o) {
		case 'c': l->connect = optarg; break;
		case 'a': l->ca = optarg; break;
		case 'b': l->backend = optarg; break;
		case 'n': l->conns = (unsigned)strtoul(optarg, &end, 10); break;
		case 's': l->size = (size_t)strtoull(optarg, &end, 10); break;
		case 'd': l->depth = (unsigned)strtoul(optarg, &end, 10); break;
		case 'w': l->warmup_s = strtod(optarg, &end); break;
		case 't': l->seconds = strtod(optarg, &end); break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
		if (end != NULL && (*end != '\0' || end == optarg || errno != 0)) {
			fprintf(stderr, PROG ": not a number: '%s'\n", optarg);
			return 2;
		}
	}
	if (l->connect == NULL || l->ca == NULL || l->conns == 0 || l->depth == 0 ||
	    l->seconds <= 0 || l->size > (64u << 20)) {
		fprintf(stderr, PROG ": --connect and --ca are needed; --conns, --depth, --seconds > 0; "
		                "--size at most 64M\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct load l;
	tlsio_tls_opts topts = TLSIO_TLS_OPTS_INIT;
	const char *why = NULL;
	uint8_t mask[4];
	int rc, ret = 1;

	memset(&l, 0, sizeof(l));
	l.conns = 100;
	l.size = 1024;
	l.depth = 1;
	l.warmup_s = 1;
	l.seconds = 5;
	l.backend = "epoll";
	rc = parse_args(&l, argc, argv);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);

	const tlsio_backend *be = tlsio_backend_by_name(l.backend);
	if (be == NULL) {
		fprintf(stderr, PROG ": no backend '%s' (compiled in: %s)\n", l.backend,
		        tlsio_backend_names());
		return 2;
	}
	rc = tlsio_loop_new(&l.loop, be);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop on %s: %s\n", l.backend, tlsio_strerror(rc));
		return 1;
	}
	topts.ca_file = l.ca;
	rc = tlsio_tls_config_new(&l.cfg, 0, &topts, &why);
	if (rc < 0) {
		fprintf(stderr, PROG ": TLS configuration: %s%s%s\n", tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		goto out;
	}
	l.payload = malloc(l.size + 1);
	l.frame = malloc(l.size + WS_MAX_HEADER);
	l.lc = calloc(l.conns, sizeof(*l.lc));
	if (l.payload == NULL || l.frame == NULL || l.lc == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	srand((unsigned)time(NULL));
	for (size_t i = 0; i < l.size; i++)
		l.payload[i] = (uint8_t)rand();
	for (int i = 0; i < 4; i++)
		mask[i] = (uint8_t)rand();
	size_t hl = ws_put_header(l.frame, 1, 0, 2, l.size, mask);
	if (l.size > 0)
		memcpy(l.frame + hl, l.payload, l.size);
	ws_mask(l.frame + hl, l.size, mask, 0);
	l.frame_len = hl + l.size;
	snprintf(l.req, sizeof(l.req),
	         "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
	         l.connect);

	l.cb = (tlsio_callbacks)TLSIO_CALLBACKS_INIT;
	l.cb.on_handshake = on_handshake;
	l.cb.on_data = on_data;
	l.cb.on_peer_close = on_peer_close;
	l.cb.on_close = on_close;
	l.copts = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	l.copts.cb = &l.cb;
	for (unsigned i = 0; i < l.conns; i++) {
		tlsio_conn_opts o = l.copts;
		l.lc[i].l = &l;
		o.user = &l.lc[i];
		rc = tlsio_connect(l.loop, l.connect, l.cfg, &o, &l.lc[i].c);
		if (rc < 0) {
			fprintf(stderr, PROG ": connect %s: %s\n", l.connect, tlsio_strerror(rc));
			goto out;
		}
		l.open++;
	}
	rc = tlsio_timer_new(l.loop, on_tick, &l, &l.timer);
	if (rc == 0)
		rc = tlsio_timer_start(l.timer, 50, 50);
	if (rc < 0) {
		fprintf(stderr, PROG ": timer: %s\n", tlsio_strerror(rc));
		goto out;
	}
	l.t0 = now_s();
	rc = tlsio_loop_run(l.loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop: %s\n", tlsio_strerror(rc));
		goto out;
	}
	if (l.failed)
		goto out;
	if (!l.done) {
		fprintf(stderr, PROG ": the loop ended before the measurement did\n");
		goto out;
	}
	double secs = l.t1 - l.t0;
	printf(PROG ": %u connections, %zu B, depth %u: %.0f msgs/s, %.1f MB/s, %" PRIu64
	       " echoes in %.2f s\n",
	       l.conns, l.size, l.depth, (double)l.echoes / secs,
	       (double)l.echoes * (double)l.size / 1e6 / secs, l.echoes, secs);
	fflush(stdout);
	ret = 0;
	/* the echoes still in flight are not waited for: close is enough */
	for (unsigned i = 0; i < l.conns; i++)
		if (l.lc[i].c != NULL) {
			l.lc[i].closing = 1;
			tlsio_abort(l.lc[i].c);
		}
out:
	tlsio_timer_free(l.timer);
	if (l.loop != NULL) {
		for (unsigned i = 0; l.lc != NULL && i < l.conns; i++)
			l.lc[i].closing = 1;
		tlsio_loop_free(l.loop);
	}
	tlsio_tls_config_free(l.cfg);
	free(l.payload);
	free(l.frame);
	free(l.lc);
	return ret;
}
