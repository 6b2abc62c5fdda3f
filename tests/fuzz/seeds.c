/* SPDX-License-Identifier: MIT */
/* Writes the seed corpus of a fuzz target. Usage: seeds TARGET DIR
 *
 * fuzz-tls: whole real conversations from an in-memory handshake (TLS 1.2, 1.3, either), one
 * side's bytes each, prefixed with the mode byte fuzz-tls reads first: what the client says for
 * the server side, what the server says for the client side. wolfSSL is deterministic here as in
 * fuzz-tls (fuzz-common.h), and the seed stream is reset at the same point, so each recorded
 * side answers exactly what fuzz-tls's own side says: the handshake completes, and the
 * application data and close_notify after it are read.
 * fuzz-record, fuzz-core: programs of operations (fuzz-ops.h) for each variant and side.
 * fuzz-queue: operation sequences.
 * fuzz-x509: the test PKI's certificates as DER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz-ops.h"
#include "tls.h"
#include <wolfssl/wolfcrypt/asn_public.h>

static const char *dir;

static void save(const char *name, const uint8_t *p, size_t len)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* fuzz-tls */

/* A whole conversation: handshake, a request and an answer, close_notify both ways. The seed
 * stream is reset where fuzz-tls resets it for the side whose peer we record. */
static void conversation(tlsio_tls_config *sc, tlsio_tls_config *cc, int record_client,
                         struct fz_buf *c2s, struct fz_buf *s2c)
{
	struct fz_buf co = {0}, so = {0};
	tlsio__tls *c = NULL, *s = NULL;
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	int hc = 0, hs = 0, said = 0;

	if (!record_client)
		fz_rng_reset(FZ_TLS_SEED); /* fuzz-tls's client is the one that answers */
	if (tlsio__tls_new(&c, cc, "localhost", fz_out, &co) != 0 ||
	    tlsio__tls_new(&s, sc, NULL, fz_out, &so) != 0)
		exit(1);
	hc = tlsio__tls_handshake(c);
	if (record_client)
		fz_rng_reset(FZ_TLS_SEED); /* fuzz-tls's server makes its wolfSSL now */
	for (int i = 0; i < 32; i++) {
		fz_buf_put(c2s, co.p, co.len);
		if (tlsio__tls_feed(s, co.p, co.len) != 0)
			exit(1);
		co.len = 0;
		if (hs != 1)
			hs = tlsio__tls_handshake(s);
		if (hs == 1)
			while (tlsio__tls_read(s, buf, sizeof(buf)) > 0)
				;
		fz_buf_put(s2c, so.p, so.len);
		if (tlsio__tls_feed(c, so.p, so.len) != 0)
			exit(1);
		so.len = 0;
		if (hc != 1)
			hc = tlsio__tls_handshake(c);
		if (hc == 1)
			while (tlsio__tls_read(c, buf, sizeof(buf)) > 0)
				;
		if (hc < 0 || hs < 0) {
			fprintf(stderr, "seeds: handshake failed: client %d server %d\n", hc, hs);
			exit(1);
		}
		if (hc == 1 && hs == 1 && !said) {
			static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
			static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
			if (tlsio__tls_write(c, (const uint8_t *)req, sizeof(req) - 1) != 0 ||
			    tlsio__tls_write(s, (const uint8_t *)resp, sizeof(resp) - 1) != 0 ||
			    tlsio__tls_close_notify(c) != 0 || tlsio__tls_close_notify(s) != 0)
				exit(1);
			said = 1;
		}
	}
	if (!said) {
		fprintf(stderr, "seeds: no handshake\n");
		exit(1);
	}
	tlsio__tls_free(c);
	tlsio__tls_free(s);
	free(co.p);
	free(so.p);
}

static void save_mode(const char *name, uint8_t mode, const struct fz_buf *b)
{
	struct fz_buf out = {0};
	fz_buf_put(&out, &mode, 1);
	fz_buf_put(&out, b->p, b->len);
	save(name, out.p, out.len);
	free(out.p);
}

static void seeds_tls(void)
{
	static const struct {
		const char *name;
		int ver;
	} vers[] = {{"12", TLSIO_TLS_1_2}, {"13", TLSIO_TLS_1_3}, {"any", 0}};
	/* fuzz-tls's own sides, as it makes them */
	tlsio_tls_config *fcc = fz_cfg(0, 0, 0, NULL, NULL), *fsc = fz_cfg(1, 0, 0, NULL, "h2,http/1.1");
	fz_warm_up(fsc, fcc);
	for (size_t v = 0; v < sizeof(vers) / sizeof(vers[0]); v++) {
		tlsio_tls_config *sc = fz_cfg(1, vers[v].ver, vers[v].ver, NULL, "h2,http/1.1");
		tlsio_tls_config *cc = fz_cfg(0, vers[v].ver, vers[v].ver, NULL, "http/1.1");
		struct fz_buf c2s = {0}, s2c = {0};
		char name[64];
		/* server side: what a client of that version says to fuzz-tls's server */
		conversation(fsc, cc, 1, &c2s, &s2c);
		snprintf(name, sizeof(name), "client-says-%s", vers[v].name);
		save_mode(name, 31 << 3, &c2s);
		snprintf(name, sizeof(name), "client-says-%s-inspect", vers[v].name);
		save_mode(name, 2 | 31 << 3, &c2s);
		snprintf(name, sizeof(name), "client-says-%s-refuse", vers[v].name);
		save_mode(name, 6 | 31 << 3, &c2s);
		snprintf(name, sizeof(name), "client-says-%s-bytewise", vers[v].name);
		save_mode(name, 0, &c2s);
		/* client side: what a server says to fuzz-tls's own client */
		c2s.len = s2c.len = 0;
		conversation(sc, fcc, 0, &c2s, &s2c);
		snprintf(name, sizeof(name), "server-says-%s", vers[v].name);
		save_mode(name, 1 | 31 << 3, &s2c);
		snprintf(name, sizeof(name), "server-says-%s-split", vers[v].name);
		save_mode(name, 1 | 3 << 3, &s2c);
		free(c2s.p);
		free(s2c.p);
		tlsio_tls_config_free(sc);
		tlsio_tls_config_free(cc);
	}
	tlsio_tls_config_free(fcc);
	tlsio_tls_config_free(fsc);
}

/* ------------------------------------------------------------------------------------------ */
/* programs */

struct prog {
	struct fz_buf b;
};

static void p8(struct prog *p, unsigned v)
{
	uint8_t b = (uint8_t)v;
	fz_buf_put(&p->b, &b, 1);
}

static void p16(struct prog *p, unsigned v)
{
	p8(p, v >> 8);
	p8(p, v);
}

/* A record size as fz_record_size() reads it. */
static void prsize(struct prog *p, unsigned size)
{
	p16(p, size <= 0x3ff ? size : 0xe000 | (size / 2 - 1));
}

static void pbytes(struct prog *p, const char *s)
{
	fz_buf_put(&p->b, (const uint8_t *)s, strlen(s));
}

static void psave(struct prog *p, const char *fmt, unsigned a, unsigned b)
{
	char name[128];
	snprintf(name, sizeof(name), fmt, a, b);
	save(name, p->b.p, p->b.len);
	p->b.len = 0;
}

static void seeds_record(void)
{
	struct prog p = {0};
	for (unsigned v = 0; v < FZ_NVARIANTS; v++) {
		for (unsigned side = 0; side < 2; side++) {
			unsigned mode = side | v << 1;
			/* a conversation: data both ways, the peer closes, delivered in pieces */
			p8(&p, mode);
			p8(&p, FR_PEER_WRITE), prsize(&p, 16), p8(&p, 16), pbytes(&p, "GET / HTTP/1.1\r\n");
			p8(&p, FR_DELIVER), p16(&p, 0xffff);
			p8(&p, FR_VICTIM_WRITE), prsize(&p, 300), p8(&p, 0);
			p8(&p, FR_PEER_WRITE), prsize(&p, 16384), p8(&p, 0);
			p8(&p, FR_PEER_CLOSE);
			p8(&p, FR_DELIVER_SPLIT), p8(&p, 99);
			psave(&p, "talk-v%u-s%u", v, side);
			/* a record longer than TLS allows */
			p8(&p, mode);
			p8(&p, FR_PEER_RECORD), p8(&p, 23), p16(&p, 0x0303), p16(&p, 0x4801), p8(&p, 0);
			p8(&p, FR_DELIVER), p16(&p, 0xffff);
			psave(&p, "oversized-v%u-s%u", v, side);
			/* a flipped bit in a real record */
			p8(&p, mode);
			p8(&p, FR_PEER_WRITE), prsize(&p, 200), p8(&p, 0);
			p8(&p, FR_FLIP), p16(&p, 40), p8(&p, 0x10);
			p8(&p, FR_DELIVER_SPLIT), p8(&p, 0);
			psave(&p, "flip-v%u-s%u", v, side);
			/* a replayed record */
			p8(&p, mode);
			p8(&p, FR_PEER_WRITE), prsize(&p, 10), p8(&p, 10), pbytes(&p, "0123456789");
			p8(&p, FR_REPLAY);
			p8(&p, FR_DELIVER), p16(&p, 0xffff);
			psave(&p, "replay-v%u-s%u", v, side);
			/* EOF in the middle of a record, read with small buffers before */
			p8(&p, mode);
			p8(&p, FR_PEER_WRITE), prsize(&p, 1000), p8(&p, 0);
			p8(&p, FR_PEER_WRITE), prsize(&p, 1000), p8(&p, 0);
			p8(&p, FR_DELIVER), p16(&p, 1500);
			p8(&p, FR_VICTIM_READ), p8(&p, 6);
			p8(&p, FR_VICTIM_EOF);
			psave(&p, "eof-mid-record-v%u-s%u", v, side);
			/* post-handshake messages (KeyUpdate, ticket), then data */
			p8(&p, mode);
			p8(&p, FR_PEER_POST_HS), p8(&p, 0);
			p8(&p, FR_PEER_POST_HS), p8(&p, 1);
			p8(&p, FR_PEER_WRITE), prsize(&p, 64), p8(&p, 0);
			p8(&p, FR_DELIVER), p16(&p, 0xffff);
			p8(&p, FR_VICTIM_WRITE), prsize(&p, 64), p8(&p, 0);
			p8(&p, FR_VICTIM_CLOSE);
			psave(&p, "post-hs-v%u-s%u", v, side);
		}
	}
	/* garbage after the handshake: raw bytes, an unknown type, a bad version, an empty record */
	p8(&p, 0), p8(&p, FR_PEER_RAW), p8(&p, 27), pbytes(&p, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	psave(&p, "raw-http-%u%u", 0, 0);
	p8(&p, 1), p8(&p, FR_PEER_RECORD), p8(&p, 99), p16(&p, 0x0303), p16(&p, 4), p8(&p, 4);
	pbytes(&p, "abcd");
	psave(&p, "unknown-type-%u%u", 0, 0);
	p8(&p, 1), p8(&p, FR_PEER_RECORD), p8(&p, 23), p16(&p, 0x0301), p16(&p, 20), p8(&p, 0);
	psave(&p, "bad-version-%u%u", 0, 0);
	p8(&p, 4), p8(&p, FR_PEER_RECORD), p8(&p, 22), p16(&p, 0x0303), p16(&p, 0), p8(&p, 0);
	psave(&p, "empty-handshake-record-%u%u", 0, 0);
	free(p.b.p);
}

/* A send size as fuzz-core reads it (rounded down to what it can say). */
static void psize(struct prog *p, unsigned size)
{
	if (size <= 0x3ff)
		p16(p, size);
	else if (size / 4 <= 0x1bff)
		p16(p, 0xe000 | size / 4);
	else
		p16(p, 0xfc00 | (size / 320 > 0x3ff ? 0x3ff : size / 320));
}

static void seeds_core(void)
{
	struct prog p = {0};
	for (unsigned v = 0; v < FZ_NVARIANTS; v++) {
		for (unsigned side = 0; side < 2; side++) {
			unsigned m = side | v << 4;
			/* handshake, data both ways with completions, graceful close both ways */
			p8(&p, m | 8);
			p8(&p, FC_PUMP);
			p8(&p, FC_SEND), psize(&p, 1000);
			p8(&p, FC_SEND_REF), psize(&p, 5000);
			p8(&p, FC_SEND_COPY_CB), psize(&p, 300);
			p8(&p, FC_PEER_WRITE), prsize(&p, 100), p8(&p, 0);
			p8(&p, FC_PUMP);
			p8(&p, FC_CLOSE);
			p8(&p, FC_PUMP);
			p8(&p, FC_PEER_CLOSE);
			p8(&p, FC_PUMP);
			psave(&p, "talk-v%u-s%u", v, side);
			/* a 300 KiB send taken by the kernel in pieces, backpressure, drain */
			p8(&p, m);
			p8(&p, FC_PUMP);
			p8(&p, FC_WATERMARKS), p16(&p, 1024), p16(&p, 4096);
			p8(&p, FC_SEND_REF), psize(&p, 300u << 10);
			p8(&p, FC_SEND), psize(&p, 10); /* refused: above high water */
			p8(&p, FC_KERNEL), p16(&p, 0x4000);
			p8(&p, FC_KERNEL), p16(&p, 0x7000);
			p8(&p, FC_PEER_STEP);
			p8(&p, FC_PUMP);
			p8(&p, FC_SEND), psize(&p, 10);
			p8(&p, FC_PUMP);
			psave(&p, "big-v%u-s%u", v, side);
			/* a flipped bit: the victim fails, its alert reaches the peer */
			p8(&p, m);
			p8(&p, FC_PUMP);
			p8(&p, FC_SEND), psize(&p, 100);
			p8(&p, FC_PEER_WRITE), prsize(&p, 200), p8(&p, 0);
			p8(&p, FC_TAMPER), p8(&p, 2), p16(&p, 30), p8(&p, 4);
			p8(&p, FC_PUMP);
			psave(&p, "flip-v%u-s%u", v, side);
			/* EOF in the middle of a record while sends wait for the kernel */
			p8(&p, m | 2);
			p8(&p, FC_PUMP);
			p8(&p, FC_SEND_REF), psize(&p, 3000);
			p8(&p, FC_PEER_WRITE), prsize(&p, 1000), p8(&p, 0);
			p8(&p, FC_DELIVER), p16(&p, 500);
			p8(&p, FC_EOF);
			p8(&p, FC_LOOP);
			psave(&p, "eof-mid-record-v%u-s%u", v, side);
			/* callbacks that re-enter: abort from on_data, paused reads, a reset */
			p8(&p, m);
			p8(&p, FC_PUMP);
			p8(&p, FC_READ_STOP);
			p8(&p, FC_PEER_WRITE), prsize(&p, 50), p8(&p, 0);
			p8(&p, FC_DELIVER), p16(&p, 0xffff);
			p8(&p, FC_REENTER), p8(&p, 3);
			p8(&p, FC_READ_START);
			p8(&p, FC_ERROR), p8(&p, 1);
			psave(&p, "reenter-v%u-s%u", v, side);
			/* a fatal error with megabytes of by-reference sends queued and reading
			 * paused: a tampered record taken in while paused (a receive in flight),
			 * then read on: each completion once, in order, the alert to the peer */
			p8(&p, m);
			p8(&p, FC_PUMP);
			for (int i = 0; i < 8; i++)
				p8(&p, FC_SEND_REF), psize(&p, 300u << 10);
			p8(&p, FC_KERNEL), p16(&p, 0x4000);
			p8(&p, FC_READ_STOP);
			p8(&p, FC_PEER_WRITE), prsize(&p, 2000), p8(&p, 0);
			p8(&p, FC_TAMPER), p8(&p, 2), p16(&p, 40), p8(&p, 1);
			p8(&p, FC_DELIVER), p16(&p, 0x8000 | 0x7fff);
			p8(&p, FC_KERNEL), p16(&p, 0x4000);
			p8(&p, FC_READ_START);
			p8(&p, FC_PUMP);
			psave(&p, "fatal-paused-queued-v%u-s%u", v, side);
			/* half-close, key update, the peer goes on writing */
			p8(&p, m | 8);
			p8(&p, FC_PUMP);
			p8(&p, FC_SHUTDOWN);
			p8(&p, FC_PEER_POST_HS), p8(&p, 1);
			p8(&p, FC_PEER_WRITE), prsize(&p, 4000), p8(&p, 0);
			p8(&p, FC_PUMP);
			p8(&p, FC_PEER_CLOSE);
			p8(&p, FC_PUMP);
			psave(&p, "half-close-v%u-s%u", v, side);
		}
		/* the server refuses the ClientHello from its callback */
		p8(&p, 1 | 4 | v << 4);
		p8(&p, FC_REENTER), p8(&p, 8);
		p8(&p, FC_SEND), psize(&p, 10);
		p8(&p, FC_PUMP);
		psave(&p, "refuse-v%u%.0u", v, 0);
		/* the server closes from its ClientHello callback */
		p8(&p, 1 | 4 | v << 4);
		p8(&p, FC_REENTER), p8(&p, 2);
		p8(&p, FC_PUMP);
		psave(&p, "close-in-hello-v%u%.0u", v, 0);
	}
	/* timers and tasks (the TLS variant does not matter to them: the first only) */
	for (unsigned side = 0; side < 2; side++) {
		unsigned m = side | 8;
		/* timers that free themselves, stop another, start one due now; a repeating,
		 * referenced one; a timeout past the limit; again without a repeat */
		p8(&p, m);
		p8(&p, FC_PUMP);
		p8(&p, FC_TIMER_ACTION), p8(&p, 0), p8(&p, 1);
		p8(&p, FC_TIMER_ACTION), p8(&p, 1), p8(&p, 2);
		p8(&p, FC_TIMER_ACTION), p8(&p, 3), p8(&p, 3);
		p8(&p, FC_TIMER_START), p8(&p, 0), p8(&p, 2), p8(&p, 0);
		p8(&p, FC_TIMER_START), p8(&p, 1), p8(&p, 1), p8(&p, 0);
		p8(&p, FC_TIMER_START), p8(&p, 2), p8(&p, 3), p8(&p, 0);
		p8(&p, FC_TIMER_START), p8(&p, 3), p8(&p, 2), p8(&p, 8 | 1);
		p8(&p, FC_TIMER_REF), p8(&p, 0x80 | 3);
		p8(&p, FC_TIMER_START), p8(&p, 5), p8(&p, 0xff), p8(&p, 0);
		p8(&p, FC_TIMER_NEW), p8(&p, 6);
		p8(&p, FC_TIMER_AGAIN), p8(&p, 6);
		p8(&p, FC_RUN_UNTIL), p8(&p, 10);
		p8(&p, FC_CLOCK), p8(&p, 5);
		p8(&p, FC_LOOP);
		p8(&p, FC_TIMER_AGAIN), p8(&p, 3);
		p8(&p, FC_TIMER_STOP), p8(&p, 3);
		p8(&p, FC_TIMER_FREE), p8(&p, 4);
		p8(&p, FC_SEND), psize(&p, 100);
		p8(&p, FC_PUMP);
		p8(&p, FC_CLOSE);
		p8(&p, FC_PUMP);
		psave(&p, "timers-s%u%.0u", side, 0);
		/* tasks: posted between runs and from tasks, a pending one posted again
		 * (-EALREADY), one that posts itself again from its callback */
		p8(&p, m);
		p8(&p, FC_PUMP);
		p8(&p, FC_TASK_ACTION), p8(&p, 0), p8(&p, 7 | 1 << 4);
		p8(&p, FC_TASK_ACTION), p8(&p, 1), p8(&p, 6);
		p8(&p, FC_TASK_ACTION), p8(&p, 2), p8(&p, 7 | 2 << 4);
		p8(&p, FC_BATCH);
		p8(&p, FC_POST), p8(&p, 0);
		p8(&p, FC_POST_TASK), p8(&p, 0);
		p8(&p, FC_POST_TASK), p8(&p, 0);
		p8(&p, FC_POST), p8(&p, 6);
		p8(&p, FC_POST_TASK), p8(&p, 1);
		p8(&p, FC_BATCH);
		p8(&p, FC_RUN_UNTIL), p8(&p, 3);
		p8(&p, FC_POST_TASK), p8(&p, 2);
		p8(&p, FC_RUN_UNTIL), p8(&p, 2);
		p8(&p, FC_CLOSE);
		p8(&p, FC_PUMP);
		psave(&p, "tasks-s%u%.0u", side, 0);
		/* timers and tasks from the connection's callbacks, the connection from a timer's */
		p8(&p, m);
		p8(&p, FC_CONN_ACTION), p8(&p, 3 | 1 << 4);
		p8(&p, FC_PUMP);
		p8(&p, FC_TIMER_ACTION), p8(&p, 1), p8(&p, 12 | 2 << 4);
		p8(&p, FC_CONN_ACTION), p8(&p, 6 | 4 << 4);
		p8(&p, FC_PEER_WRITE), prsize(&p, 50), p8(&p, 0);
		p8(&p, FC_PUMP);
		p8(&p, FC_RUN_UNTIL), p8(&p, 4);
		p8(&p, FC_PUMP);
		psave(&p, "conn-timers-s%u%.0u", side, 0);
		/* tasks pending at tlsio_loop_free, a repeating timer left to the loop */
		p8(&p, m);
		p8(&p, FC_PUMP);
		p8(&p, FC_TIMER_START), p8(&p, 0), p8(&p, 5), p8(&p, 9);
		p8(&p, FC_POST_AT_FREE), p8(&p, 3 | 15 << 2);
		p8(&p, FC_SEND), psize(&p, 10);
		p8(&p, FC_CLOSE);
		p8(&p, FC_PUMP);
		psave(&p, "tasks-at-free-s%u%.0u", side, 0);
		/* TLSIO_RUN_DEFAULT after the connection: nothing referenced ends it at once, a
		 * referenced timer when it fired; a nested run from a callback */
		p8(&p, m);
		p8(&p, FC_PUMP);
		p8(&p, FC_CLOSE);
		p8(&p, FC_PEER_CLOSE);
		p8(&p, FC_PUMP);
		p8(&p, FC_TIMER_START), p8(&p, 0), p8(&p, 4), p8(&p, 0);
		p8(&p, FC_RUN_UNTIL), p8(&p, 20);
		p8(&p, FC_TIMER_REF), p8(&p, 0x80 | 0);
		p8(&p, FC_RUN_UNTIL), p8(&p, 20);
		p8(&p, FC_TIMER_ACTION), p8(&p, 1), p8(&p, 13);
		p8(&p, FC_TIMER_START), p8(&p, 1), p8(&p, 1), p8(&p, 0);
		p8(&p, FC_TIMER_REF), p8(&p, 0x80 | 1);
		p8(&p, FC_RUN_UNTIL), p8(&p, 5);
		psave(&p, "run-default-s%u%.0u", side, 0);
		/* two timers due in the same millisecond, the first starts the second again, due
		 * now (the "timer gap" of fuzz-core.c) */
		p8(&p, m);
		p8(&p, FC_PUMP);
		p8(&p, FC_TIMER_START), p8(&p, 0), p8(&p, 2), p8(&p, 0);
		p8(&p, FC_TIMER_START), p8(&p, 1), p8(&p, 2), p8(&p, 0);
		p8(&p, FC_TIMER_ACTION), p8(&p, 0), p8(&p, 3);
		p8(&p, FC_RUN_UNTIL), p8(&p, 5);
		p8(&p, FC_PUMP);
		psave(&p, "same-ms-s%u%.0u", side, 0);
	}
	free(p.b.p);
}

static void seeds_queue(void)
{
	static const uint8_t mixed[] = {0, 1, 0, 4, 2, 0, 2, 8, 0, 5, 0, 64, 6, 0, 32};
	/* a big copy and reference past the chunk sizes, iovecs held over appends and consumes */
	static const uint8_t big[] = {0, 0x40, 0x00, 1, 0x40, 0x00, 4, 0xff, 0x80, 5, 0, 16,
	                              4, 0x10, 0x01, 6, 0x12, 0x34, 4, 0x40, 0x00, 6, 0xff, 0xff,
	                              3, 0, 3, 2, 0xff, 0xff, 7, 0, 0, 8, 0, 0, 9, 0, 0};
	/* the first byte picks the pools: none, plaintext, ciphertext, both */
	for (unsigned pools = 0; pools < 4; pools++) {
		struct fz_buf b = {0};
		char name[64];
		uint8_t m = (uint8_t)pools;
		fz_buf_put(&b, &m, 1);
		fz_buf_put(&b, mixed, sizeof(mixed));
		snprintf(name, sizeof(name), "seed-mixed-pools%u", pools);
		save(name, b.p, b.len);
		b.len = 0;
		fz_buf_put(&b, &m, 1);
		fz_buf_put(&b, big, sizeof(big));
		fz_buf_put(&b, big, sizeof(big)); /* again after the drop: chunks from the pools */
		snprintf(name, sizeof(name), "seed-big-pools%u", pools);
		save(name, b.p, b.len);
		free(b.p);
	}
}

/* fuzz-x509: the DER of every certificate of the test PKI */
static void seeds_x509(void)
{
	static const char *const names[] = {"ca.pem", "server.pem", "other-ca.pem", "evil.pem", "ip-only.pem",
	                                    "cn-only.pem", "wildcard.pem", "expired.pem", "future.pem",
	                                    "client.pem", "upper.pem", "serial-top-bit.pem"};
	const char *certs = getenv("TLSIO_TEST_CERTS");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[1024];
		uint8_t pem[8192], der[8192];
		size_t n;
		int len;
		FILE *f;
		snprintf(path, sizeof(path), "%s/%s", certs != NULL ? certs : "tests/certs", names[i]);
		f = fopen(path, "r");
		if (f == NULL) {
			perror(path);
			exit(1);
		}
		n = fread(pem, 1, sizeof(pem), f);
		fclose(f);
		len = wc_CertPemToDer(pem, (int)n, der, sizeof(der), CERT_TYPE);
		if (len <= 0) {
			fprintf(stderr, "seeds: %s: not a certificate (%d)\n", path, len);
			exit(1);
		}
		save(names[i], der, (size_t)len);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: seeds fuzz-tls|fuzz-record|fuzz-core|fuzz-queue|fuzz-x509 DIR\n");
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "fuzz-tls") == 0)
		seeds_tls();
	else if (strcmp(argv[1], "fuzz-record") == 0)
		seeds_record();
	else if (strcmp(argv[1], "fuzz-core") == 0)
		seeds_core();
	else if (strcmp(argv[1], "fuzz-queue") == 0)
		seeds_queue();
	else if (strcmp(argv[1], "fuzz-x509") == 0)
		seeds_x509();
	else {
		fprintf(stderr, "seeds: unknown target %s\n", argv[1]);
		return 2;
	}
	return 0;
}
