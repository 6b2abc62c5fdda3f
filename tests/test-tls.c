/* SPDX-License-Identifier: MIT */
/* tls/ adapter over an in-memory client/server pair: no sockets, no backend. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include "hello.h"
#include "tls.h"
#include "x509.h"

struct pipe_buf {
	uint8_t *p;
	size_t len, cap;
};

struct side {
	tlsio__tls *t;
	struct pipe_buf out; /* what this side wrote, not yet delivered to the other */
	int hs;              /* 1 done, <0 failed */
	uint8_t *got;
	size_t got_len, got_cap;
	int closed;
	int err;
};

static int pipe_out(void *arg, const uint8_t *d, size_t n)
{
	struct pipe_buf *b = arg;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static const char *cert(const char *name)
{
	static char buf[8][512];
	static int i;
	const char *dir = getenv("TLSIO_TEST_CERTS");
	char *b = buf[i++ % 8];
	snprintf(b, 512, "%s/%s", dir != NULL ? dir : "tests/certs", name);
	return b;
}

static tlsio_tls_config *server_cfg(int min, int max, const char *alpn)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *cfg;
	const char *why = NULL;
	o.cert_file = cert("server.pem");
	o.key_file = cert("server.key");
	o.min_version = min;
	o.max_version = max;
	o.alpn = alpn;
	ck_assert_msg(tlsio_tls_config_new(&cfg, 1, &o, &why) == 0, "server cfg: %s", why);
	return cfg;
}

static tlsio_tls_config *client_cfg(const char *ca, int min, int max, const char *alpn)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *cfg;
	const char *why = NULL;
	o.ca_file = cert(ca);
	o.min_version = min;
	o.max_version = max;
	o.alpn = alpn;
	ck_assert_msg(tlsio_tls_config_new(&cfg, 0, &o, &why) == 0, "client cfg: %s", why);
	return cfg;
}

/* Move bytes from a's output into b's input and let b react. */
static void deliver(struct side *from, struct side *to)
{
	if (from->out.len == 0)
		return;
	ck_assert_int_eq(tlsio__tls_feed(to->t, from->out.p, from->out.len), 0);
	from->out.len = 0;
}

static void step(struct side *s)
{
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	if (s->hs == 0) {
		int rc = tlsio__tls_handshake(s->t);
		if (rc != 0)
			s->hs = rc;
		if (rc <= 0)
			return;
	}
	if (s->hs < 0 || s->closed)
		return;
	for (;;) {
		int n = tlsio__tls_read(s->t, buf, sizeof(buf));
		if (n > 0) {
			if (s->got_cap - s->got_len < (size_t)n) {
				s->got_cap = (s->got_cap + (size_t)n) * 2;
				s->got = realloc(s->got, s->got_cap);
			}
			memcpy(s->got + s->got_len, buf, (size_t)n);
			s->got_len += (size_t)n;
			continue;
		}
		if (n == TLSIO__TLS_CLOSED)
			s->closed = 1;
		else if (n < 0)
			s->err = n;
		return;
	}
}

/* Pump both directions until nothing moves. */
static void pump(struct side *c, struct side *s)
{
	for (int i = 0; i < 100; i++) {
		step(c);
		deliver(c, s);
		step(s);
		deliver(s, c);
		step(c);
		if (c->out.len == 0 && s->out.len == 0 && tlsio__tls_input_len(c->t) == 0 &&
		    tlsio__tls_input_len(s->t) == 0)
			return;
	}
}

struct pair {
	struct side c, s;
	tlsio_tls_config *ccfg, *scfg;
};

static void pair_init(struct pair *p, tlsio_tls_config *scfg, tlsio_tls_config *ccfg, const char *sni)
{
	memset(p, 0, sizeof(*p));
	p->scfg = scfg;
	p->ccfg = ccfg;
	ck_assert_int_eq(tlsio__tls_new(&p->s.t, scfg, NULL, pipe_out, &p->s.out), 0);
	ck_assert_int_eq(tlsio__tls_new(&p->c.t, ccfg, sni, pipe_out, &p->c.out), 0);
}

static void pair_free(struct pair *p)
{
	tlsio__tls_free(p->c.t);
	tlsio__tls_free(p->s.t);
	free(p->c.out.p);
	free(p->s.out.p);
	free(p->c.got);
	free(p->s.got);
	tlsio_tls_config_free(p->ccfg);
	tlsio_tls_config_free(p->scfg);
}

static void handshake_ok(int min, int max, const char *want_version)
{
	struct pair p;
	pair_init(&p, server_cfg(min, max, NULL), client_cfg("ca.pem", min, max, NULL), "localhost");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	ck_assert_str_eq(tlsio__tls_version(p.c.t), want_version);
	ck_assert_str_eq(tlsio__tls_version(p.s.t), want_version);
	pair_free(&p);
}

START_TEST(hs_tls13) { handshake_ok(TLSIO_TLS_1_3, TLSIO_TLS_1_3, "TLSv1.3"); }
END_TEST

START_TEST(hs_tls12) { handshake_ok(TLSIO_TLS_1_2, TLSIO_TLS_1_2, "TLSv1.2"); }
END_TEST

START_TEST(hs_default_is_13) { handshake_ok(0, 0, "TLSv1.3"); }
END_TEST

/* Data both ways in record-sized writes, byte-exact, then close_notify. */
START_TEST(data_roundtrip)
{
	struct pair p;
	size_t total = 3 * 1024 * 1024 + 17, off = 0;
	uint8_t *src = malloc(total);
	uint32_t x = 12345;
	for (size_t i = 0; i < total; i++) {
		x = x * 1103515245u + 12345u;
		src[i] = (uint8_t)(x >> 16);
	}
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	for (int i = 0; off < total; i++) {
		size_t n;
		x = x * 1103515245u + 12345u;
		n = 1 + (x >> 8) % TLSIO__TLS_MAX_PLAIN;
		if (n > total - off)
			n = total - off;
		ck_assert_int_eq(tlsio__tls_write(p.c.t, src + off, n), 0);
		ck_assert_int_eq(tlsio__tls_write(p.s.t, src + off, n), 0);
		off += n;
		if (i % 8 == 7)
			pump(&p.c, &p.s);
	}
	pump(&p.c, &p.s);
	ck_assert_uint_eq(p.s.got_len, total);
	ck_assert_uint_eq(p.c.got_len, total);
	ck_assert(memcmp(p.s.got, src, total) == 0);
	ck_assert(memcmp(p.c.got, src, total) == 0);
	ck_assert_int_eq(tlsio__tls_close_notify(p.c.t), 0);
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.s.closed, 1);
	ck_assert_int_eq(p.s.err, 0);
	free(src);
	pair_free(&p);
}
END_TEST

/* A record's plaintext limit is enforced by the adapter's caller: the adapter writes one record. */
START_TEST(one_record_per_write)
{
	struct pair p;
	uint8_t buf[TLSIO__TLS_MAX_PLAIN] = {0};
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	pump(&p.c, &p.s);
	p.c.out.len = 0;
	ck_assert_int_eq(tlsio__tls_write(p.c.t, buf, sizeof(buf)), 0);
	/* TLS 1.3 record: 5-byte header + plaintext + content type + 16-byte tag */
	ck_assert_uint_eq(p.c.out.len, 5 + sizeof(buf) + 1 + 16);
	ck_assert_uint_eq(((size_t)p.c.out.p[3] << 8 | p.c.out.p[4]), sizeof(buf) + 17);
	pair_free(&p);
}
END_TEST

START_TEST(verify_unknown_ca)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("other-ca.pem", 0, 0, NULL), "localhost");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, TLSIO_E_CERT_VERIFY);
	ck_assert_msg(p.s.hs < 0, "server must fail too, got %d", p.s.hs);
	/* the client told the server why */
	ck_assert_int_eq(p.s.hs, TLSIO_E_ALERT_RECEIVED);
	ck_assert_msg(tlsio__tls_alert(p.c.t) == TLSIO_ALERT_UNKNOWN_CA ||
	                  tlsio__tls_alert(p.c.t) == TLSIO_ALERT_BAD_CERTIFICATE,
	              "client alert %d", tlsio__tls_alert(p.c.t));
	ck_assert_int_eq(tlsio__tls_alert(p.s.t), tlsio__tls_alert(p.c.t));
	pair_free(&p);
}
END_TEST

START_TEST(verify_name_mismatch)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "not-this-host.test");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, TLSIO_E_CERT_VERIFY);
	ck_assert_msg(p.s.hs < 0, "server must fail too, got %d", p.s.hs);
	pair_free(&p);
}
END_TEST

START_TEST(version_mismatch)
{
	struct pair p;
	pair_init(&p, server_cfg(TLSIO_TLS_1_3, TLSIO_TLS_1_3, NULL),
	          client_cfg("ca.pem", TLSIO_TLS_1_2, TLSIO_TLS_1_2, NULL), "localhost");
	pump(&p.c, &p.s);
	ck_assert_msg(p.s.hs < 0 && p.c.hs < 0, "both fail: server %d client %d", p.s.hs, p.c.hs);
	printf("version mismatch: server %s alert %s; client %s alert %s\n", tlsio_strerror(p.s.hs),
	       tlsio_alert_name(tlsio__tls_alert(p.s.t)), tlsio_strerror(p.c.hs),
	       tlsio_alert_name(tlsio__tls_alert(p.c.t)));
	/* the server's alert reached the client */
	ck_assert_int_eq(p.c.hs, TLSIO_E_ALERT_RECEIVED);
	ck_assert_int_eq(tlsio__tls_alert(p.c.t), tlsio__tls_alert(p.s.t));
	pair_free(&p);
}
END_TEST

/* What @p s wrote is exactly one fatal alert record with @p desc, in plaintext. */
static void expect_alert_record(const struct side *s, int desc)
{
	const uint8_t want[7] = {21, 3, 3, 0, 2, 2, (uint8_t)desc};
	ck_assert_int_eq(s->out.len, sizeof(want));
	ck_assert(memcmp(s->out.p, want, sizeof(want)) == 0);
}

START_TEST(garbage_client_hello)
{
	struct pair p;
	static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, junk, sizeof(junk) - 1), 0);
	step(&p.s);
	ck_assert_msg(p.s.hs < 0, "server must reject garbage, got %d", p.s.hs);
	printf("garbage: %s, alert %s, %zu bytes of output\n", tlsio_strerror(p.s.hs),
	       tlsio_alert_name(tlsio__tls_alert(p.s.t)), p.s.out.len);
	expect_alert_record(&p.s, TLSIO_ALERT_DECODE_ERROR);
	pair_free(&p);
}
END_TEST

/* The client's first flight, re-cut into handshake records of @p frag bytes of payload. */
static struct pipe_buf refragment(const struct pipe_buf *in, size_t frag)
{
	struct pipe_buf out = {0};
	size_t n = (size_t)in->p[3] << 8 | in->p[4];
	ck_assert_int_eq(in->p[0], 22);
	for (size_t off = 0; off < n; off += frag) {
		size_t k = n - off < frag ? n - off : frag;
		uint8_t h[5] = {22, 3, 1, (uint8_t)(k >> 8), (uint8_t)k};
		pipe_out(&out, h, 5);
		pipe_out(&out, in->p + 5 + off, k);
	}
	pipe_out(&out, in->p + 5 + n, in->len - 5 - n); /* whatever followed the first record */
	return out;
}

/* A ClientHello split over many records (legal, and how large ones arrive) still works. */
START_TEST(hello_fragmented)
{
	struct pair p;
	struct pipe_buf frag;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	/* the reader copes even with the 4-byte message header split (wolfSSL does not: PARSE_ERROR) */
	{
		tlsio__hello h;
		int alert;
		struct pipe_buf tiny = refragment(&p.c.out, 3);
		ck_assert_int_eq(tlsio__hello_parse(NULL, tiny.p, tiny.len, &h, &alert), TLSIO__HELLO_DONE);
		ck_assert_str_eq(h.server_name, "localhost");
		ck_assert_int_eq(tlsio__hello_parse(NULL, tiny.p, tiny.len - 1, &h, &alert), TLSIO__HELLO_MORE);
		free(tiny.p);
	}
	frag = refragment(&p.c.out, 100);
	p.c.out.len = 0;
	/* byte by byte: every prefix must ask for more, none may fail */
	for (size_t i = 0; i + 1 < frag.len; i++) {
		ck_assert_int_eq(tlsio__tls_feed(p.s.t, frag.p + i, 1), 0);
		if (tlsio__tls_input_len(p.s.t) < 64)
			ck_assert_int_eq(tlsio__tls_handshake(p.s.t), 0);
	}
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, frag.p + frag.len - 1, 1), 0);
	free(frag.p);
	pump(&p.c, &p.s);
	ck_assert_msg(p.s.hs == 1, "server: %d (%s), wolfSSL error %d", p.s.hs, tlsio_strerror(p.s.hs),
	              tlsio__tls_last_error(p.s.t));
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	ck_assert_str_eq(tlsio__tls_sni(p.s.t), "localhost");
	pair_free(&p);
}
END_TEST

/* A reader given a growing stream goes on where it stopped: a ClientHello in 1-byte records,
 * arriving a byte at a time, is read once in all (after each call every complete record is
 * behind r.off and its payload in r.have), not once per arrival, and the answer is the one-shot
 * parse's. */
START_TEST(hello_reader_resumes)
{
	struct pair p;
	struct pipe_buf tiny;
	tlsio__hello once, h;
	tlsio__hello_reader r = {0};
	int alert, rc = TLSIO__HELLO_MORE;
	size_t i;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	tiny = refragment(&p.c.out, 1);
	ck_assert_int_eq(tlsio__hello_parse(NULL, tiny.p, tiny.len, &once, &alert), TLSIO__HELLO_DONE);
	for (i = 1; i <= tiny.len; i++) {
		rc = tlsio__hello_parse(&r, tiny.p, i, &h, &alert);
		if (rc != TLSIO__HELLO_MORE)
			break;
		ck_assert_uint_eq(r.off, i / 6 * 6); /* 5-byte header + 1 byte, each */
		ck_assert_uint_eq(r.have, i / 6);
	}
	ck_assert_int_eq(rc, TLSIO__HELLO_DONE);
	ck_assert_uint_eq(i % 6, 0); /* answered as the last record of the hello completed */
	ck_assert_mem_eq(&h, &once, sizeof(h));
	ck_assert_ptr_null(r.joined); /* given back when the answer is final */
	/* the same reader after tlsio__hello_reader_free(): from the start again */
	ck_assert_int_eq(tlsio__hello_parse(&r, tiny.p, tiny.len / 2, &h, &alert), TLSIO__HELLO_MORE);
	ck_assert_ptr_nonnull(r.joined);
	tlsio__hello_reader_free(&r);
	ck_assert_uint_eq(r.off, 0);
	ck_assert_int_eq(tlsio__hello_parse(&r, tiny.p, tiny.len, &h, &alert), TLSIO__HELLO_DONE);
	ck_assert_mem_eq(&h, &once, sizeof(h));
	free(tiny.p);
	pair_free(&p);
}
END_TEST

/* The client's ClientHello (one record) with its first extension repeated at the end. */
/* Where the extensions of the ClientHello in @p h (one record) start: their 2-byte length. */
static size_t hello_extensions_at(const struct pipe_buf *h)
{
	size_t off = 5 + 4 + 2 + 32;
	ck_assert_int_eq(h->p[5], 1);
	off += 1 + h->p[off];                                  /* session id */
	off += 2 + ((size_t)h->p[off] << 8 | h->p[off + 1]);  /* cipher suites */
	off += 1 + h->p[off];                                  /* compression methods */
	return off;
}

static struct pipe_buf hello_with_duplicate_extension(const struct pipe_buf *in)
{
	struct pipe_buf out = {0};
	size_t rec_len = (size_t)in->p[3] << 8 | in->p[4], off = hello_extensions_at(in), ext_start,
	       ext_len, first_len, n;
	uint8_t *m;
	ext_len = (size_t)in->p[off] << 8 | in->p[off + 1];
	ext_start = off + 2;
	ck_assert_uint_eq(ext_start + ext_len, 5 + rec_len);     /* extensions end the hello */
	first_len = 4 + ((size_t)in->p[ext_start + 2] << 8 | in->p[ext_start + 3]);
	pipe_out(&out, in->p, 5 + rec_len);
	pipe_out(&out, in->p + ext_start, first_len);
	m = out.p;
	n = rec_len + first_len;
	m[3] = (uint8_t)(n >> 8);
	m[4] = (uint8_t)n;
	n -= 4;
	m[6] = (uint8_t)(n >> 16);
	m[7] = (uint8_t)(n >> 8);
	m[8] = (uint8_t)n;
	n = ext_len + first_len;
	m[off] = (uint8_t)(n >> 8);
	m[off + 1] = (uint8_t)n;
	return out;
}

/* A ClientHello that wolfSSL refuses without an alert of its own (here: an extension twice,
 * which RFC 8446 4.2 forbids) still gets one, before the close: illegal_parameter, as a
 * plaintext record since the server has sent nothing yet. */
START_TEST(hello_refused_by_wolfssl_gets_an_alert)
{
	struct pair p;
	struct pipe_buf dup;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	dup = hello_with_duplicate_extension(&p.c.out);
	p.c.out.len = 0;
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, dup.p, dup.len), 0);
	free(dup.p);
	step(&p.s);
	printf("duplicate extension: server %s, wolfSSL error %d, alert %s\n", tlsio_strerror(p.s.hs),
	       tlsio__tls_last_error(p.s.t), tlsio_alert_name(tlsio__tls_alert(p.s.t)));
	ck_assert_msg(p.s.hs < 0, "server took a ClientHello with a duplicate extension: %d", p.s.hs);
	ck_assert_int_eq(tlsio__tls_alert(p.s.t), TLSIO_ALERT_ILLEGAL_PARAMETER);
	expect_alert_record(&p.s, TLSIO_ALERT_ILLEGAL_PARAMETER);
	pair_free(&p);
}
END_TEST

/* The key share of @p group in the ClientHello in @p h (one record), or NULL; *len gets its size. */
static uint8_t *hello_key_share(struct pipe_buf *h, unsigned group, size_t *len)
{
	size_t off = hello_extensions_at(h), end;
	end = off + 2 + ((size_t)h->p[off] << 8 | h->p[off + 1]);
	for (off += 2; off + 4 <= end;) {
		unsigned type = (unsigned)h->p[off] << 8 | h->p[off + 1];
		size_t elen = (size_t)h->p[off + 2] << 8 | h->p[off + 3], e = off + 4 + elen, k;
		if (type == 51) /* key_share: client_shares<2>, then (group<2>, key<2>)* */
			for (k = off + 6; k + 4 <= e;) {
				unsigned g = (unsigned)h->p[k] << 8 | h->p[k + 1];
				size_t kl = (size_t)h->p[k + 2] << 8 | h->p[k + 3];
				if (g == group) {
					*len = kl;
					return h->p + k + 4;
				}
				k += 4 + kl;
			}
		off = e;
	}
	return NULL;
}

/* A P-256 key share that is no point on the curve: wolfSSL finds it only after it wrote its
 * ServerHello, and then returns without an alert. The library groups a flight's messages
 * (wolfSSL_CTX_set_group_messages), so nothing is on the wire yet and the client gets
 * illegal_parameter (RFC 8446 4.2.8.2), in plaintext, on every wolfSSL build. */
START_TEST(hello_bad_key_share_gets_an_alert)
{
	struct pair p;
	uint8_t *key;
	size_t len = 0;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	key = hello_key_share(&p.c.out, 23 /* secp256r1 */, &len);
	ck_assert_msg(key != NULL && len == 65 && key[0] == 4,
	              "the client offered no uncompressed P-256 key share (%zu bytes)", len);
	key[0] = 0x23; /* no point format has this byte */
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, p.c.out.p, p.c.out.len), 0);
	p.c.out.len = 0;
	step(&p.s);
	printf("bad P-256 key share: server %s, wolfSSL error %d, alert %s\n", tlsio_strerror(p.s.hs),
	       tlsio__tls_last_error(p.s.t), tlsio_alert_name(tlsio__tls_alert(p.s.t)));
	ck_assert_msg(p.s.hs < 0, "server took an invalid key share: %d", p.s.hs);
	ck_assert_int_eq(tlsio__tls_alert(p.s.t), TLSIO_ALERT_ILLEGAL_PARAMETER);
	expect_alert_record(&p.s, TLSIO_ALERT_ILLEGAL_PARAMETER);
	pair_free(&p);
}
END_TEST

/* A ClientHello in records of 1 to 3 bytes splits the message header, which wolfSSL alone
 * cannot read (PARSE_ERROR, and the peer got no alert): the handshake must complete, whether the
 * input was copied in or lent for the call, with more client bytes behind it. */
START_TEST(hello_in_tiny_records)
{
	for (int i = 0; i < 6; i++) {
		struct pair p;
		struct pipe_buf frag;
		size_t size = (size_t)(i % 3) + 1;
		pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
		ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
		frag = refragment(&p.c.out, size);
		p.c.out.len = 0;
		if (i < 3) {
			ck_assert_int_eq(tlsio__tls_feed(p.s.t, frag.p, frag.len), 0);
		} else {
			ck_assert_int_eq(tlsio__tls_feed_borrow(p.s.t, frag.p, frag.len), 0);
			step(&p.s);
			ck_assert_int_eq(tlsio__tls_feed_end(p.s.t), 0);
		}
		free(frag.p);
		pump(&p.c, &p.s);
		ck_assert_msg(p.s.hs == 1, "%zu-byte records: server %d (%s), wolfSSL error %d", size,
		              p.s.hs, tlsio_strerror(p.s.hs), tlsio__tls_last_error(p.s.t));
		ck_assert_int_eq(p.c.hs, 1);
		ck_assert_str_eq(tlsio__tls_sni(p.s.t), "localhost");
		pair_free(&p);
	}
}
END_TEST

/* The server stops at the ClientHello, shows SNI/ALPN/version, then goes on when told. */
START_TEST(hello_inspect_then_go_on)
{
	struct pair p;
	const tlsio__hello *h;
	pair_init(&p, server_cfg(0, 0, "h2,http/1.1"), client_cfg("ca.pem", 0, 0, "h2,http/1.1"),
	          "example.test");
	tlsio__tls_inspect_hello(p.s.t);
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	deliver(&p.c, &p.s);
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), TLSIO__TLS_HELLO);
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), TLSIO__TLS_HELLO); /* held until decided */
	ck_assert_int_eq(p.s.out.len, 0);
	h = tlsio__tls_hello(p.s.t);
	ck_assert_ptr_nonnull(h);
	ck_assert_str_eq(h->server_name, "example.test");
	ck_assert_int_eq(h->max_version, TLSIO_TLS_1_3);
	ck_assert_int_eq(h->alpn_len, 1 + 2 + 1 + 8);
	ck_assert(memcmp(h->alpn, "\002h2\010http/1.1", h->alpn_len) == 0);
	ck_assert_int_eq(tlsio__tls_hello_decide(p.s.t, NULL, 0), 0);
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	ck_assert_str_eq(tlsio__tls_alpn(p.s.t), "h2");
	pair_free(&p);
}
END_TEST

/* Refusing at the ClientHello sends the chosen alert, which the client reports. */
START_TEST(hello_refused)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "unknown.test");
	tlsio__tls_inspect_hello(p.s.t);
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	deliver(&p.c, &p.s);
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), TLSIO__TLS_HELLO);
	ck_assert_int_eq(tlsio__tls_hello_decide(p.s.t, NULL, TLSIO_ALERT_UNRECOGNIZED_NAME),
	                 TLSIO_E_REFUSED);
	ck_assert_int_eq(tlsio__tls_alert(p.s.t), TLSIO_ALERT_UNRECOGNIZED_NAME);
	expect_alert_record(&p.s, TLSIO_ALERT_UNRECOGNIZED_NAME);
	deliver(&p.s, &p.c);
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), TLSIO_E_ALERT_RECEIVED);
	ck_assert_int_eq(tlsio__tls_alert(p.c.t), TLSIO_ALERT_UNRECOGNIZED_NAME);
	pair_free(&p);
}
END_TEST

/* After the handshake, a record longer than TLS allows ends the connection with
 * record_overflow, sent to the peer (which reads it as the reason). */
START_TEST(oversized_record_after_handshake)
{
	struct pair p;
	uint8_t *rec = calloc(1, 5 + 0x4801);
	for (int v = 0; v < 2; v++) {
		int ver = v == 0 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
		pair_init(&p, server_cfg(ver, ver, NULL), client_cfg("ca.pem", ver, ver, NULL), "localhost");
		pump(&p.c, &p.s);
		ck_assert_int_eq(p.s.hs, 1);
		rec[0] = 23;
		rec[1] = 3;
		rec[2] = 3;
		rec[3] = 0x48;
		rec[4] = 0x01;
		ck_assert_int_eq(tlsio__tls_feed(p.s.t, rec, 5 + 0x4801), 0);
		step(&p.s);
		printf("oversized record (%s): server %d (%s), alert %s, %zu bytes out\n",
		       ver == TLSIO_TLS_1_3 ? "1.3" : "1.2", p.s.err, tlsio_strerror(p.s.err),
		       tlsio_alert_name(tlsio__tls_alert(p.s.t)), p.s.out.len);
		ck_assert_int_lt(p.s.err, 0);
		ck_assert_int_eq(tlsio__tls_alert(p.s.t), TLSIO_ALERT_RECORD_OVERFLOW);
		deliver(&p.s, &p.c);
		step(&p.c);
		ck_assert_int_eq(p.c.err, TLSIO_E_ALERT_RECEIVED);
		ck_assert_int_eq(tlsio__tls_alert(p.c.t), TLSIO_ALERT_RECORD_OVERFLOW);
		pair_free(&p);
	}
	free(rec);
}
END_TEST

/* Encrypted records too short for their cipher (empty; 2 bytes, less than AES-GCM's nonce and
 * tag) end the connection with an alert the peer reads, on TLS 1.2 and 1.3: a wolfSSL without
 * WOLFSSL_EXTRA_ALERTS closes on these without one (fuzz-record found it on the tuned build
 * before the profile had it). */
START_TEST(short_record_after_handshake)
{
	static const uint8_t recs[2][7] = {{23, 3, 3, 0, 0}, {23, 3, 3, 0, 2, 0xab, 0xcd}};
	static const size_t lens[2] = {5, 7};
	for (int v = 0; v < 2; v++) {
		int ver = v == 0 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
		for (int r = 0; r < 2; r++) {
			struct pair p;
			pair_init(&p, server_cfg(ver, ver, NULL), client_cfg("ca.pem", ver, ver, NULL), "localhost");
			pump(&p.c, &p.s);
			ck_assert_int_eq(p.s.hs, 1);
			ck_assert_int_eq(tlsio__tls_feed(p.s.t, recs[r], lens[r]), 0);
			step(&p.s);
			printf("%zu-byte encrypted record (%s): server %d (%s), alert %s, %zu bytes out\n",
			       lens[r] - 5, ver == TLSIO_TLS_1_3 ? "1.3" : "1.2", p.s.err, tlsio_strerror(p.s.err),
			       tlsio_alert_name(tlsio__tls_alert(p.s.t)), p.s.out.len);
			ck_assert_int_lt(p.s.err, 0);
			ck_assert_int_gt(tlsio__tls_alert(p.s.t), 0);
			deliver(&p.s, &p.c);
			step(&p.c);
			ck_assert_int_eq(p.c.err, TLSIO_E_ALERT_RECEIVED);
			ck_assert_int_eq(tlsio__tls_alert(p.c.t), tlsio__tls_alert(p.s.t));
			pair_free(&p);
		}
	}
}
END_TEST

/* After the handshake, a record with another version is a malformed record, not "no TLS
 * version in common" (fuzz-record found TLSIO_E_VERSION here). A client answers it with
 * protocol_version, which the server reads. */
START_TEST(bad_record_version_after_handshake)
{
	static const uint8_t rec[5 + 20] = {23, 3, 1, 0, 20};
	for (int v = 0; v < 4; v++) {
		int ver = v < 2 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2, to_server = v & 1;
		struct pair p;
		struct side *victim = to_server ? &p.s : &p.c;
		pair_init(&p, server_cfg(ver, ver, NULL), client_cfg("ca.pem", ver, ver, NULL), "localhost");
		pump(&p.c, &p.s);
		ck_assert_int_eq(p.s.hs, 1);
		ck_assert_int_eq(tlsio__tls_feed(victim->t, rec, sizeof(rec)), 0);
		step(victim);
		ck_assert_msg(victim->err == TLSIO_E_TLS, "%s (%s): %d (%s)", to_server ? "server" : "client",
		              ver == TLSIO_TLS_1_3 ? "1.3" : "1.2", victim->err, tlsio_strerror(victim->err));
		if (!to_server) {
			ck_assert_int_eq(tlsio__tls_alert(p.c.t), TLSIO_ALERT_PROTOCOL_VERSION);
			deliver(&p.c, &p.s);
			step(&p.s);
			ck_assert_int_eq(p.s.err, TLSIO_E_ALERT_RECEIVED);
			ck_assert_int_eq(tlsio__tls_alert(p.s.t), TLSIO_ALERT_PROTOCOL_VERSION);
		}
		pair_free(&p);
	}
}
END_TEST

/* The same inside the handshake, once the server has answered the ClientHello: the version
 * is settled, so the record is malformed, not "no version in common" (found by fuzz-tls). */
START_TEST(bad_record_version_after_server_hello)
{
	static const uint8_t rec[5 + 20] = {23, 3, 1, 0, 20};
	for (int v = 0; v < 2; v++) {
		int ver = v == 0 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
		struct pair p;
		pair_init(&p, server_cfg(ver, ver, NULL), client_cfg("ca.pem", ver, ver, NULL), "localhost");
		step(&p.c);
		deliver(&p.c, &p.s);
		step(&p.s);
		ck_assert_int_eq(p.s.hs, 0);
		ck_assert_uint_gt(p.s.out.len, 0); /* the server's flight */
		ck_assert_int_eq(tlsio__tls_feed(p.s.t, rec, sizeof(rec)), 0);
		step(&p.s);
		ck_assert_msg(p.s.hs == TLSIO_E_TLS, "%s: %d (%s)", ver == TLSIO_TLS_1_3 ? "1.3" : "1.2",
		              p.s.hs, tlsio_strerror(p.s.hs));
		pair_free(&p);
	}
}
END_TEST

/* A ClientHello whose legacy_version is 0x0003: wolfSSL sends protocol_version, then
 * illegal_parameter. The alert reported is the one the client reads, the first (fuzz-core found
 * the second reported). */
START_TEST(two_alerts_report_the_first)
{
	struct pair p;
	int alert;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	ck_assert_int_eq(p.c.out.p[9], 3); /* record header, handshake header, legacy_version */
	p.c.out.p[9] = 0;
	deliver(&p.c, &p.s);
	step(&p.s);
	ck_assert_int_lt(p.s.hs, 0);
	alert = tlsio__tls_alert(p.s.t);
	printf("legacy_version 0x0003: server %s, alert %s, %zu bytes out\n", tlsio_strerror(p.s.hs),
	       tlsio_alert_name(alert), p.s.out.len);
	ck_assert_uint_ge(p.s.out.len, 7);
	ck_assert_msg(p.s.out.p[0] == 21 && p.s.out.p[5] == 2 && p.s.out.p[6] == alert,
	              "first record: type %d, alert %d %d; reported %d", p.s.out.p[0], p.s.out.p[5],
	              p.s.out.p[6], alert);
	deliver(&p.s, &p.c);
	step(&p.c);
	ck_assert_int_eq(p.c.hs, TLSIO_E_ALERT_RECEIVED);
	ck_assert_int_eq(tlsio__tls_alert(p.c.t), alert);
	pair_free(&p);
}
END_TEST

/* A server that gets EOF before any byte (fuzz-tls found the NULL + 0 on this path). */
START_TEST(eof_before_any_input)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), 0);
	tlsio__tls_set_eof(p.s.t);
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), TLSIO_E_EOF_IN_HANDSHAKE);
	ck_assert_int_eq(p.s.out.len, 0);
	pair_free(&p);
}
END_TEST

/* Malformed first flights: each gets its own alert, none is passed on to wolfSSL. */
START_TEST(hello_malformed)
{
	static const struct {
		const char *what;
		uint8_t in[16];
		size_t len;
		int alert;
	} cases[] = {
		{"record over 16 KiB", {22, 3, 1, 0x50, 0x00, 1}, 6, TLSIO_ALERT_RECORD_OVERFLOW},
		{"application data first", {23, 3, 3, 0, 1, 0}, 6, TLSIO_ALERT_UNEXPECTED_MESSAGE},
		{"ServerHello from a client", {22, 3, 3, 0, 4, 2, 0, 0, 0}, 9, TLSIO_ALERT_UNEXPECTED_MESSAGE},
		{"empty handshake record", {22, 3, 1, 0, 0}, 5, TLSIO_ALERT_DECODE_ERROR},
		{"empty ClientHello body", {22, 3, 1, 0, 4, 1, 0, 0, 0}, 9, TLSIO_ALERT_DECODE_ERROR},
		{"record version 2", {22, 2, 0, 0, 1, 1}, 6, TLSIO_ALERT_DECODE_ERROR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tlsio__hello h;
		int alert = -1;
		int rc = tlsio__hello_parse(NULL, cases[i].in, cases[i].len, &h, &alert);
		ck_assert_msg(rc == TLSIO__HELLO_BAD && alert == cases[i].alert,
		              "%s: rc %d alert %d, expected alert %d", cases[i].what, rc, alert, cases[i].alert);
	}
}
END_TEST

START_TEST(alpn_and_sni)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, "h2,http/1.1"), client_cfg("ca.pem", 0, 0, "http/1.1"), "example.test");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	ck_assert_str_eq(tlsio__tls_alpn(p.c.t), "http/1.1");
	ck_assert_str_eq(tlsio__tls_alpn(p.s.t), "http/1.1");
	pair_free(&p);
}
END_TEST

START_TEST(truncated_input_waits)
{
	struct pair p;
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "localhost");
	ck_assert_int_eq(tlsio__tls_handshake(p.c.t), 0);
	/* half a ClientHello: the server wants more, it does not fail */
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, p.c.out.p, p.c.out.len / 2), 0);
	ck_assert_int_eq(tlsio__tls_handshake(p.s.t), 0);
	ck_assert_int_eq(tlsio__tls_feed(p.s.t, p.c.out.p + p.c.out.len / 2, p.c.out.len - p.c.out.len / 2), 0);
	p.c.out.len = 0;
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	pair_free(&p);
}
END_TEST

/* tlsio_tls_config_new() must fail with @p rc and a message containing every @p want. */
static void config_fails(int is_server, const tlsio_tls_opts *o, int rc, const char *want1,
                         const char *want2)
{
	tlsio_tls_config *cfg = (tlsio_tls_config *)1;
	const char *why = NULL;
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, is_server, o, &why), rc);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(why);
	printf("config error: %s\n", why);
	ck_assert_msg(strstr(why, want1) != NULL, "'%s' lacks '%s'", why, want1);
	ck_assert_msg(want2 == NULL || strstr(why, want2) != NULL, "'%s' lacks '%s'", why, want2);
}

START_TEST(bad_config)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT, unset = {0};
	char junk[] = "/tmp/tlsio-junk-XXXXXX";
	int fd = mkstemp(junk);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "hello\n", 6), 6);
	close(fd);

	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "a server needs a certificate and a key", NULL);
	config_fails(1, &unset, -EINVAL, "struct_size", "TLSIO_TLS_OPTS_INIT");
	o.cert_file = "/nonexistent.pem";
	o.key_file = cert("server.key");
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "certificate file '/nonexistent.pem'",
	             "No such file or directory");
	o.cert_file = junk;
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, junk, "is not PEM");
	{
		/* PEM armour around no certificate: wolfSSL's own word for it is "unknown error number" */
		static const char bad[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
		                          "-----END CERTIFICATE-----\n";
		char badf[] = "/tmp/tlsio-badpem-XXXXXX";
		int bfd = mkstemp(badf);
		ck_assert_int_ge(bfd, 0);
		ck_assert_int_eq(write(bfd, bad, sizeof(bad) - 1), (ssize_t)sizeof(bad) - 1);
		close(bfd);
		o.cert_file = badf;
		config_fails(1, &o, TLSIO_E_TLS_CONFIG, badf, "not a well-formed certificate");
		unlink(badf);
	}
	o.cert_file = cert("server.key"); /* a key where the certificate belongs */
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "holds no certificate", "PRIVATE KEY");
	o.cert_file = cert("server.pem");
	o.key_file = cert("server.pem"); /* a certificate where the key belongs */
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "holds no private key", "CERTIFICATE");
	o.key_file = "/nonexistent.key";
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "private key file '/nonexistent.key'", "No such file");
	o.key_file = cert("other-server.key");
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "does not match the certificate", "other-server.key");
	o.key_file = cert("server.key");
	o.ca_file = "/nonexistent-ca.pem";
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "CA file '/nonexistent-ca.pem'", "No such file");
	o.ca_file = junk;
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "CA file", "is not PEM");
	o.ca_file = NULL;
	o.cert_file = "/";
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "'/'", "not a regular file");
	o.cert_file = cert("server.pem");
	o.min_version = TLSIO_TLS_1_3;
	o.max_version = TLSIO_TLS_1_2;
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "min <= max", NULL);
	o.min_version = o.max_version = 0;
	o.ciphers = "NO-SUCH-CIPHER";
	config_fails(1, &o, TLSIO_E_TLS_CONFIG, "NO-SUCH-CIPHER", NULL);
	unlink(junk);
}
END_TEST

/* A file the caller may not read: as root that needs another user, so the check runs in a child
 * that gives root up (the suite itself may run without fork, under valgrind). */
START_TEST(config_permission_denied)
{
	char path[] = "/tmp/tlsio-secret-XXXXXX";
	int fd = mkstemp(path), st;
	pid_t pid;
	FILE *src = fopen(cert("server.key"), "r");
	char buf[4096];
	size_t n;
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(src);
	n = fread(buf, 1, sizeof(buf), src);
	fclose(src);
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
	ck_assert_int_eq(chmod(path, 0600), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
		tlsio_tls_config *cfg;
		const char *why = NULL;
		int rc;
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		o.cert_file = cert("server.pem");
		o.key_file = path;
		rc = tlsio_tls_config_new(&cfg, 1, &o, &why);
		printf("config error (as uid %d): %s\n", (int)getuid(), why != NULL ? why : "(none)");
		fflush(stdout);
		_exit(rc == TLSIO_E_TLS_CONFIG && why != NULL && strstr(why, path) != NULL &&
		              strstr(why, "Permission denied") != NULL
		          ? 0
		          : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	unlink(path);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}
END_TEST

/* The DER of a PEM certificate of the test PKI. */
static uint8_t *cert_der(const char *name, size_t *len)
{
	FILE *f = fopen(cert(name), "r");
	static uint8_t pem[8192];
	uint8_t *der = malloc(8192);
	size_t n;
	int rc;
	ck_assert_ptr_nonnull(f);
	n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	rc = wc_CertPemToDer(pem, (int)n, der, 8192, CERT_TYPE);
	ck_assert_msg(rc > 0, "%s: wc_CertPemToDer %d", name, rc);
	*len = (size_t)rc;
	return der;
}

static int matches(const char *certname, const char *host)
{
	size_t len;
	uint8_t *der = cert_der(certname, &len);
	char why[512] = "";
	int rc = tlsio__x509_match(der, len, host, why, sizeof(why));
	if (rc != 1)
		printf("%s vs %s: %s\n", certname, host, why);
	ck_assert_int_ge(rc, 0);
	ck_assert_msg(rc == 1 || strncmp(why, "name mismatch", 13) == 0, "%s", why);
	free(der);
	return rc;
}

/* RFC 6125 / RFC 9525 rules, on the test PKI's certificates. */
START_TEST(identity_rules)
{
	/* names against DNS SANs, case-insensitive, one trailing dot */
	ck_assert_int_eq(matches("server.pem", "localhost"), 1);
	ck_assert_int_eq(matches("server.pem", "EXAMPLE.test."), 1);
	ck_assert_int_eq(matches("server.pem", "evil.example"), 0);
	ck_assert_int_eq(matches("server.pem", "LocalHost"), 1);
	ck_assert_int_eq(matches("upper.pem", "upper.example.test"), 1); /* the SAN is Upper.EXAMPLE.Test */
	ck_assert_int_eq(matches("upper.pem", "UPPER.example.TEST"), 1);
	ck_assert_int_eq(matches("server.pem", "example..test"), 0); /* empty label */
	ck_assert_int_eq(matches("server.pem", ".localhost"), 0);
	ck_assert_int_eq(matches("evil.pem", "localhost"), 0);
	ck_assert_int_eq(matches("evil.pem", "evil.example"), 1);
	/* IP literals against IP SANs, by value: every spelling of ::1 */
	ck_assert_int_eq(matches("ip-only.pem", "127.0.0.1"), 1);
	ck_assert_int_eq(matches("ip-only.pem", "::1"), 1);
	ck_assert_int_eq(matches("ip-only.pem", "0:0:0:0:0:0:0:1"), 1);
	ck_assert_int_eq(matches("ip-only.pem", "0000::0001"), 1);
	ck_assert_int_eq(matches("ip-only.pem", "::1%lo"), 1);
	ck_assert_int_eq(matches("ip-only.pem", "127.0.0.2"), 0);
	ck_assert_int_eq(matches("ip-only.pem", "::ffff:127.0.0.1"), 0);
	ck_assert_int_eq(matches("ip-only.pem", "ip-only"), 0); /* CN, not a SAN */
	/* an IP literal is never matched against the CN, nor against a DNS SAN that spells it */
	ck_assert_int_eq(matches("cn-only.pem", "127.0.0.1"), 0);
	ck_assert_int_eq(matches("cn-only.pem", "cn-only.test"), 1);
	/* wildcards: the whole left-most label, one label, at least two labels under it */
	ck_assert_int_eq(matches("wildcard.pem", "a.wild.test"), 1);
	ck_assert_int_eq(matches("wildcard.pem", "Another-One.WILD.test"), 1);
	ck_assert_int_eq(matches("wildcard.pem", "wild.test"), 0);
	ck_assert_int_eq(matches("wildcard.pem", "a.b.wild.test"), 0);
	ck_assert_int_eq(matches("wildcard.pem", ".wild.test"), 0);
	ck_assert_int_eq(matches("wildcard.pem", "foo.part.test"), 0); /* f*.part.test: partial */
	ck_assert_int_eq(matches("wildcard.pem", "f.part.test"), 0);
	ck_assert_int_eq(matches("wildcard.pem", "x.test"), 0);        /* *.test: too broad */
	ck_assert_int_eq(matches("wildcard.pem", "*.wild.test"), 0);   /* no wildcard in the host */
	ck_assert_int_eq(matches("wildcard.pem", "127.0.0.1"), 0);
}
END_TEST

/* The identity a server doing mutual TLS reads, against what openssl says of the same file
 * (openssl x509 -noout -subject -nameopt RFC2253 -serial -fingerprint -sha256 -ext
 * subjectAltName -dates -in tests/certs/client.pem). */
START_TEST(cert_info)
{
	size_t len;
	uint8_t *der = cert_der("client.pem", &len);
	tlsio_cert_info *ci;
	char cmd[1024], line[512], want_fp[512] = "", want_serial[512] = "";
	FILE *f;
	ck_assert_int_eq(tlsio_cert_info_new(der, len, &ci), 0);
	ck_assert_uint_eq(ci->struct_size, sizeof(*ci));
	ck_assert_str_eq(ci->subject, "CN=client-one");
	ck_assert_str_eq(ci->issuer, "CN=libtlsio test CA");
	ck_assert_uint_eq(ci->san_count, 2);
	ck_assert_str_eq(ci->san[0], "DNS:client-one.test");
	ck_assert_str_eq(ci->san[1], "email:client-one@example.test");
	ck_assert_ptr_null(ci->san[2]);
	ck_assert(ci->not_before < ci->not_after);
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -serial -fingerprint -sha256 -in '%s' 2>/dev/null",
	         cert("client.pem"));
	f = popen(cmd, "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "serial=", 7) == 0)
				snprintf(want_serial, sizeof(want_serial), "%s", line + 7);
			else if (strchr(line, '=') != NULL)
				snprintf(want_fp, sizeof(want_fp), "%s", strchr(line, '=') + 1);
		}
		pclose(f);
	}
	ck_assert_msg(want_fp[0] != '\0', "openssl x509 did not run");
	ck_assert_str_eq(ci->fingerprint, want_fp);
	ck_assert_str_eq(ci->serial, want_serial);
	tlsio_cert_info_free(ci);
	/* a serial with its top bit set: DER's leading 00 is not part of the number */
	free(der);
	der = cert_der("serial-top-bit.pem", &len);
	ck_assert_int_eq(tlsio_cert_info_new(der, len, &ci), 0);
	ck_assert_str_eq(ci->serial, "80ABCDEF01");
	tlsio_cert_info_free(ci);
	/* the IP SANs in canonical text; dates of the expired one */
	free(der);
	der = cert_der("ip-only.pem", &len);
	ck_assert_int_eq(tlsio_cert_info_new(der, len, &ci), 0);
	ck_assert_uint_eq(ci->san_count, 2);
	ck_assert_str_eq(ci->san[0], "IP:127.0.0.1");
	ck_assert_str_eq(ci->san[1], "IP:::1");
	tlsio_cert_info_free(ci);
	free(der);
	der = cert_der("expired.pem", &len);
	ck_assert_int_eq(tlsio_cert_info_new(der, len, &ci), 0);
	ck_assert_int_eq(ci->not_before, 946684800); /* 2000-01-01 */
	ck_assert_int_eq(ci->not_after, 978307200);  /* 2001-01-01 */
	tlsio_cert_info_free(ci);
	/* hostile input: every truncation and every single-byte change is refused or read within
	 * bounds (ASan and valgrind watch this test) */
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(tlsio_cert_info_new(der, cut, &ci), -EINVAL);
		ck_assert_int_le(tlsio__x509_match(der, cut, "localhost", line, sizeof(line)), 0);
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t save = der[i];
		for (unsigned v = 0; v < 256; v += 37) {
			der[i] = (uint8_t)(save ^ (v | 1));
			if (tlsio_cert_info_new(der, len, &ci) == 0)
				tlsio_cert_info_free(ci);
			(void)tlsio__x509_match(der, len, "localhost", line, sizeof(line));
		}
		der[i] = save;
	}
	free(der);
}
END_TEST


static tlsio_tls_config *cfg_with(int is_server, int verify, int max_version, int client_cert)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *cfg;
	const char *why = NULL;
	o.verify = verify;
	o.max_version = max_version;
	o.ca_file = cert("ca.pem");
	if (is_server || client_cert) {
		o.cert_file = cert(is_server ? "server.pem" : "client.pem");
		o.key_file = cert("server.key");
	}
	ck_assert_msg(tlsio_tls_config_new(&cfg, is_server, &o, &why) == 0, "%s", why);
	return cfg;
}

/* A client's handshake with @p first, then another offering that session to @p second.
 * @return whether @p second resumed it (0 also when there was no session to offer);
 * *@p cert: whether @p second then had the client's certificate. */
static int second_handshake_resumes(tlsio_tls_config *first, tlsio_tls_config *second,
                                    int max_version, int *cert)
{
	struct pair p;
	int resumed = 0;
	/* one client configuration: its session cache offers the first session to the second */
	tlsio_tls_config *client = cfg_with(0, TLSIO_VERIFY_DEFAULT, max_version, 1);
	tlsio__tls_config_ref(first);
	tlsio__tls_config_ref(client);
	pair_init(&p, first, client, "localhost");
	ck_assert_int_eq(tlsio__tls_session_key(p.c.t, "localhost:443"), 0);
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	/* data after the handshake: a TLS 1.3 ticket comes with it */
	ck_assert_int_eq(tlsio__tls_write(p.s.t, (const uint8_t *)"x", 1), 0);
	pump(&p.c, &p.s);
	pair_free(&p);
	tlsio__tls_config_ref(second);
	pair_init(&p, second, client, "localhost");
	ck_assert_int_eq(tlsio__tls_session_key(p.c.t, "localhost:443"), 0);
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, 1);
	ck_assert_int_eq(p.s.hs, 1);
	resumed = tlsio__tls_resumed(p.s.t);
	*cert = tlsio__tls_peer_cert(p.s.t, NULL) != NULL;
	pair_free(&p);
	return resumed;
}

/* A server that requires client certificates never resumes: a resumed session carries no
 * certificate, so the client's identity would be gone, and a session made with a
 * configuration that asks for none would get in without any. The control: a server that asks
 * for no certificate does resume the same client. TLS 1.2 (session IDs) and 1.3 (tickets). */
START_TEST(mtls_never_resumes)
{
	static const int versions[] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	for (size_t i = 0; i < 2; i++) {
		tlsio_tls_config *req = cfg_with(1, TLSIO_VERIFY_REQUIRED, versions[i], 0);
		tlsio_tls_config *plain = cfg_with(1, TLSIO_VERIFY_DEFAULT, versions[i], 0);
		int cert = 0;
		ck_assert_msg(second_handshake_resumes(plain, plain, versions[i], &cert) == 1,
		              "control: TLS 0x%x without client certificates did not resume", versions[i]);
		ck_assert_msg(second_handshake_resumes(req, req, versions[i], &cert) == 0,
		              "TLS 0x%x: a server requiring client certificates resumed", versions[i]);
		ck_assert_msg(cert, "TLS 0x%x: the second handshake has no client certificate", versions[i]);
		ck_assert_msg(second_handshake_resumes(plain, req, versions[i], &cert) == 0,
		              "TLS 0x%x: a session made without a client certificate resumed on a server "
		              "that requires one", versions[i]);
		ck_assert_msg(cert, "TLS 0x%x: no client certificate after a session from elsewhere",
		              versions[i]);
		tlsio_tls_config_free(req);
		tlsio_tls_config_free(plain);
	}
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Deployment features (issue 17): session cache, tickets, chains, SNI map, ALPN choice, key
 * logging, keys from memory. */

/* One handshake of a client of @p ccfg (cache key @p key, NULL: none) with @p scfg, both kept
 * by the caller; the client reads what the server sends after it (a TLS 1.3 ticket). @return
 * whether it resumed (-1: it failed); *@p leaf_cn (optional) gets the CN of the server's
 * certificate as the client has it. */
static int handshake_with(tlsio_tls_config *scfg, tlsio_tls_config *ccfg, const char *sni,
                          const char *key, char *leaf_cn, size_t cn_len)
{
	struct pair p;
	int resumed;
	tlsio__tls_config_ref(scfg);
	tlsio__tls_config_ref(ccfg);
	pair_init(&p, scfg, ccfg, sni);
	if (key != NULL)
		ck_assert_int_eq(tlsio__tls_session_key(p.c.t, key), 0);
	pump(&p.c, &p.s);
	if (p.c.hs != 1 || p.s.hs != 1) {
		printf("handshake failed: client %d (wolfSSL %d, alert %d), server %d (wolfSSL %d, alert %d)\n",
		       p.c.hs, tlsio__tls_last_error(p.c.t), tlsio__tls_alert(p.c.t), p.s.hs,
		       tlsio__tls_last_error(p.s.t), tlsio__tls_alert(p.s.t));
		fflush(stdout);
		pair_free(&p);
		return -1;
	}
	/* data from the server after its handshake: the client takes the ticket with it */
	ck_assert_int_eq(tlsio__tls_write(p.s.t, (const uint8_t *)"hi", 2), 0);
	pump(&p.c, &p.s);
	ck_assert_uint_eq(p.c.got_len, 2);
	resumed = tlsio__tls_resumed(p.c.t);
	ck_assert_int_eq(resumed, tlsio__tls_resumed(p.s.t));
	if (leaf_cn != NULL) {
		size_t n = 0;
		const uint8_t *der = tlsio__tls_peer_cert(p.c.t, &n);
		tlsio_cert_info *ci;
		ck_assert_ptr_nonnull(der);
		ck_assert_int_eq(tlsio_cert_info_new(der, n, &ci), 0);
		snprintf(leaf_cn, cn_len, "%s", ci->subject);
		tlsio_cert_info_free(ci);
	}
	pair_free(&p);
	return resumed;
}

static tlsio_tls_config *cfg_opts(int is_server, tlsio_tls_opts *o)
{
	tlsio_tls_config *cfg;
	const char *why = NULL;
	ck_assert_msg(tlsio_tls_config_new(&cfg, is_server, o, &why) == 0, "cfg: %s", why);
	return cfg;
}

/* The client cache resumes by itself, TLS 1.2 and 1.3, only for the same server, and a
 * resumed connection still shows the server's certificate. */
START_TEST(session_cache_resumes)
{
	static const int versions[] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	for (size_t i = 0; i < 2; i++) {
		tlsio_tls_config *s = server_cfg(versions[i], versions[i], NULL);
		tlsio_tls_config *c = client_cfg("ca.pem", versions[i], versions[i], NULL);
		tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
		tlsio_tls_config *nocache;
		char cn[256];
		ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:443", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:443", cn, sizeof(cn)), 1);
		ck_assert_str_eq(cn, "CN=localhost");
		/* each resumption brought a new session: again */
		ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:443", NULL, 0), 1);
		/* another server (port) has none */
		ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:444", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(s, c, "example.test", "example.test:443", NULL, 0), 0);
		/* a configuration without a cache never resumes */
		o.ca_file = cert("ca.pem");
		o.min_version = o.max_version = versions[i];
		o.session_cache = -1;
		nocache = cfg_opts(0, &o);
		ck_assert_int_eq(handshake_with(s, nocache, "localhost", "localhost:443", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(s, nocache, "localhost", "localhost:443", NULL, 0), 0);
		ck_assert_int_eq(tlsio_tls_session_export(nocache, "localhost:443", &(uint8_t *){0}, &(size_t){0}), -EINVAL);
		tlsio_tls_config_free(nocache);
		tlsio_tls_config_free(s);
		tlsio_tls_config_free(c);
	}
}
END_TEST

/* The cache is bounded: the least recently used server goes. */
START_TEST(session_cache_bounded)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *s = server_cfg(0, 0, NULL), *c;
	char key[32];
	o.ca_file = cert("ca.pem");
	o.session_cache = 2;
	c = cfg_opts(0, &o);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "localhost:%d", 1000 + i);
		ck_assert_int_eq(handshake_with(s, c, "localhost", key, NULL, 0), 0);
	}
	/* 1000 went when 1002 came; 1001 and 1002 are there */
	ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:1002", NULL, 0), 1);
	ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:1001", NULL, 0), 1);
	ck_assert_int_eq(handshake_with(s, c, "localhost", "localhost:1000", NULL, 0), 0);
	tlsio_tls_config_free(s);
	tlsio_tls_config_free(c);
}
END_TEST

/* A session as bytes resumes in another configuration (another process, in real life); what is
 * not a session is refused. */
START_TEST(session_export_import)
{
	static const int versions[] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	for (size_t i = 0; i < 2; i++) {
		tlsio_tls_config *s = server_cfg(versions[i], versions[i], NULL);
		tlsio_tls_config *c1 = client_cfg("ca.pem", versions[i], versions[i], NULL);
		tlsio_tls_config *c2 = client_cfg("ca.pem", versions[i], versions[i], NULL);
		uint8_t *buf = NULL, junk[64] = {0x30, 0x10};
		size_t len = 0;
		int rc;
		ck_assert_int_eq(tlsio_tls_session_export(c1, "localhost:443", &buf, &len), -ENOENT);
		ck_assert_int_eq(handshake_with(s, c1, "localhost", "localhost:443", NULL, 0), 0);
		rc = tlsio_tls_session_export(c1, "localhost:443", &buf, &len);
#if defined(HAVE_EXT_CACHE) || defined(OPENSSL_EXTRA)
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_gt(len, 32);
		printf("session export (TLS 0x%x): %zu bytes\n", versions[i], len);
		ck_assert_int_eq(tlsio_tls_session_import(c2, "localhost:443", junk, sizeof(junk)), -EINVAL);
		ck_assert_int_eq(tlsio_tls_session_import(c2, "localhost:443", buf, len / 2), -EINVAL);
		ck_assert_int_eq(tlsio_tls_session_import(c2, "localhost:443", buf, len), 0);
		ck_assert_int_eq(handshake_with(s, c2, "localhost", "localhost:443", NULL, 0), 1);
		{
			/* wolfSSL's decoder copies a session ID of up to 255 bytes into 32 (and a server
			 * ID of 65535 into 20): a file that says so is refused before it gets there
			 * (under ASan an overflow here fails the test) */
			size_t der_len = (size_t)buf[9] << 24 | (size_t)buf[10] << 16 | (size_t)buf[11] << 8 | buf[12];
			size_t off = 13 + der_len, big = len + 70000;
			uint8_t *evil = calloc(1, big);
			ck_assert_ptr_nonnull(evil);
			memcpy(evil, buf, len);
			evil[off + 9] = 255; /* side, bornOn, timeout: 9 bytes; then the session ID's length */
			ck_assert_int_eq(tlsio_tls_session_import(c2, "evil:1", evil, 65536), -EINVAL);
			free(evil);
		}
		{
			/* a session of a version the configuration does not allow is refused: a TLS 1.2
			 * session would take a TLS 1.3-only client down to 1.2 (wolfSSL offers the
			 * session's version), a TLS 1.3 one would fail a TLS 1.2-only client */
			int other = versions[i] == TLSIO_TLS_1_2 ? TLSIO_TLS_1_3 : TLSIO_TLS_1_2;
			tlsio_tls_config *c3 = client_cfg("ca.pem", other, other, NULL);
			ck_assert_int_eq(tlsio_tls_session_import(c3, "localhost:443", buf, len), -EPROTO);
			tlsio_tls_config_free(c3);
		}
		free(buf);
#else
		ck_assert_int_eq(rc, -ENOTSUP);
		printf("session export: not available in this wolfSSL\n");
#endif
		tlsio_tls_config_free(s);
		tlsio_tls_config_free(c1);
		tlsio_tls_config_free(c2);
	}
}
END_TEST

/* Two server configurations given the same ticket key resume each other's sessions; after a
 * rotation the old key works for its grace period only. */
START_TEST(ticket_keys)
{
	static const int versions[] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	uint8_t k1[TLSIO_TICKET_KEY_LEN], k2[TLSIO_TICKET_KEY_LEN], k3[TLSIO_TICKET_KEY_LEN];
	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	memset(k3, 3, sizeof(k3));
	for (size_t i = 0; i < 2; i++) {
		tlsio_tls_config *a = server_cfg(versions[i], versions[i], NULL);
		tlsio_tls_config *b = server_cfg(versions[i], versions[i], NULL);
		tlsio_tls_config *c = client_cfg("ca.pem", versions[i], versions[i], NULL);
		/* control: random keys of their own, no resumption across */
		ck_assert_int_eq(handshake_with(a, c, "localhost", "x:1", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(b, c, "localhost", "x:1", NULL, 0), 0);
		ck_assert_int_eq(tlsio_tls_ticket_key(a, k1, sizeof(k1) - 1, 0), -EINVAL);
		ck_assert_int_eq(tlsio_tls_ticket_key(c, k1, sizeof(k1), 0), -EINVAL);
		ck_assert_int_eq(tlsio_tls_ticket_key(a, k1, sizeof(k1), 0), 0);
		ck_assert_int_eq(tlsio_tls_ticket_key(b, k1, sizeof(k1), 0), 0);
		ck_assert_int_eq(tlsio_tls_ticket_key(b, k1, sizeof(k1), 0), 0); /* the same again */
		k1[20] ^= 1;
		ck_assert_int_eq(tlsio_tls_ticket_key(b, k1, sizeof(k1), 0), -EEXIST);
		k1[20] ^= 1;
		ck_assert_int_eq(handshake_with(a, c, "localhost", "x:2", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(b, c, "localhost", "x:2", NULL, 0), 1);
		/* b rotates to k2 with a grace period: a's (k1) ticket still resumes on b */
		ck_assert_int_eq(handshake_with(a, c, "localhost", "x:3", NULL, 0), 0);
		ck_assert_int_eq(tlsio_tls_ticket_key(b, k2, sizeof(k2), 60), 0);
		ck_assert_int_eq(handshake_with(b, c, "localhost", "x:3", NULL, 0), 1);
		{
			/* ... and gave the client a fresh ticket under k2, which resumes where only k2
			 * is known (TLS 1.2: wolfSSL 5.5.4 needs tls/wolfint.c for that) */
			tlsio_tls_config *d = server_cfg(versions[i], versions[i], NULL);
			int renews = versions[i] == TLSIO_TLS_1_3 || tlsio__tls12_ticket_renew(NULL) == 0;
			ck_assert_int_eq(tlsio_tls_ticket_key(d, k2, sizeof(k2), 0), 0);
			ck_assert_int_eq(handshake_with(d, c, "localhost", "x:3", NULL, 0), renews);
			if (!renews)
				printf("TLS 1.2 ticket renewal under the previous key: not available in this "
				       "wolfSSL (no internal.h)\n");
			tlsio_tls_config_free(d);
		}
		/* b rotates to k3 at once: a k1 ticket no longer does (a full handshake instead) */
		ck_assert_int_eq(handshake_with(a, c, "localhost", "x:4", NULL, 0), 0);
		ck_assert_int_eq(tlsio_tls_ticket_key(b, k3, sizeof(k3), 0), 0);
		ck_assert_int_eq(handshake_with(b, c, "localhost", "x:4", NULL, 0), 0);
		/* and a new ticket, at once with TLS 1.3; a wolfSSL 5.5.4 server gives a TLS 1.2
		 * client whose ticket it rejected none, so the next full handshake gets it */
		if (versions[i] == TLSIO_TLS_1_2)
			ck_assert_int_eq(handshake_with(b, c, "localhost", "x:4", NULL, 0), 0);
		ck_assert_int_eq(handshake_with(b, c, "localhost", "x:4", NULL, 0), 1);
		tlsio_tls_config_free(a);
		tlsio_tls_config_free(b);
		tlsio_tls_config_free(c);
	}
}
END_TEST

/* A server that requires client certificates resumes nothing, even a TLS 1.3 ticket under its
 * own ticket key that a configuration without that requirement issued (an SNI entry, another
 * process): the client must show its certificate. */
START_TEST(required_cert_no_resumption)
{
	uint8_t k[TLSIO_TICKET_KEY_LEN];
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *open_cfg = server_cfg(TLSIO_TLS_1_3, TLSIO_TLS_1_3, NULL), *mtls;
	tlsio_tls_config *c = client_cfg("ca.pem", TLSIO_TLS_1_3, TLSIO_TLS_1_3, NULL);
	memset(k, 7, sizeof(k));
	so.cert_file = cert("server.pem");
	so.key_file = cert("server.key");
	so.ca_file = cert("ca.pem");
	so.verify = TLSIO_VERIFY_REQUIRED;
	so.min_version = so.max_version = TLSIO_TLS_1_3;
	mtls = cfg_opts(1, &so);
	ck_assert_int_eq(tlsio_tls_ticket_key(open_cfg, k, sizeof(k), 0), 0);
	ck_assert_int_eq(tlsio_tls_ticket_key(mtls, k, sizeof(k), 0), 0);
	ck_assert_int_eq(handshake_with(open_cfg, c, "localhost", "x:1", NULL, 0), 0);
	ck_assert_int_eq(handshake_with(open_cfg, c, "localhost", "x:1", NULL, 0), 1); /* it has a ticket */
	/* the ticket offered to the mTLS configuration: no resumption, so no certificate: refused */
	ck_assert_int_eq(handshake_with(mtls, c, "localhost", "x:1", NULL, 0), -1);
	tlsio_tls_config_free(open_cfg);
	tlsio_tls_config_free(mtls);
	tlsio_tls_config_free(c);
}
END_TEST

/* ECDSA and RSA chains in one configuration: a TLS 1.2 client that can agree only to RSA
 * suites gets the RSA chain, any other the first (ECDSA) one. */
START_TEST(rsa_beside_ecdsa)
{
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, rsa = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	const tlsio_tls_opts *more[] = {&rsa, NULL};
	tlsio_tls_config *s, *c;
	char cn[256];
	so.cert_file = cert("server.pem");
	so.key_file = cert("server.key");
	so.more_certs = more;
	rsa.cert_file = cert("rsa-server.pem");
	rsa.key_file = cert("rsa-server.key");
	s = cfg_opts(1, &so);
	co.ca_file = cert("ca.pem");
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost");
	tlsio_tls_config_free(c);
	co.max_version = TLSIO_TLS_1_2;
	co.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305";
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost rsa");
	tlsio_tls_config_free(c);
	co.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost");
	tlsio_tls_config_free(c);
	tlsio_tls_config_free(s);
	/* more_certs sets only key pairs */
	rsa.alpn = "h2";
	{
		tlsio_tls_config *bad = (tlsio_tls_config *)1;
		const char *why = NULL;
		ck_assert_int_eq(tlsio_tls_config_new(&bad, 1, &so, &why), TLSIO_E_TLS_CONFIG);
		ck_assert_ptr_nonnull(strstr(why, "more_certs[0]"));
	}
}
END_TEST

/* tlsio_tls_config_add_name: exact names, then one-label wildcards; others get the default. */
START_TEST(sni_map)
{
	tlsio_tls_opts wo = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *def = server_cfg(0, 0, NULL), *wild, *evil, *c;
	char cn[256];
	wo.cert_file = cert("wildcard.pem");
	wo.key_file = cert("server.key");
	wild = cfg_opts(1, &wo);
	wo.cert_file = cert("evil.pem");
	evil = cfg_opts(1, &wo);
	co.ca_file = cert("ca.pem");
	co.verify = TLSIO_VERIFY_NONE; /* which certificate came is what is checked here */
	c = cfg_opts(0, &co);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "*.wild.test", wild), 0);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "evil.example", evil), 0);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "EVIL.example", evil), -EEXIST);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "*", evil), -EINVAL);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "a..b", evil), -EINVAL);
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "x.test", def), -EINVAL);
	ck_assert_int_eq(tlsio_tls_config_add_name(wild, "x.test", def), -EINVAL); /* def has a map */
	ck_assert_int_eq(tlsio_tls_config_add_name(def, "x.test", c), -EINVAL);
	ck_assert_int_eq(handshake_with(def, c, "a.wild.test", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=wildcard");
	ck_assert_int_eq(handshake_with(def, c, "Evil.Example", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=evil.example");
	ck_assert_int_eq(handshake_with(def, c, "a.b.wild.test", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost");
	ck_assert_int_eq(handshake_with(def, c, "wild.test", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost");
	ck_assert_int_eq(handshake_with(def, c, "localhost", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=localhost");
	tlsio_tls_config_free(wild); /* the map keeps its own reference */
	ck_assert_int_eq(handshake_with(def, c, "z.wild.test", NULL, cn, sizeof(cn)), 0);
	ck_assert_str_eq(cn, "CN=wildcard");
	tlsio_tls_config_free(evil);
	tlsio_tls_config_free(def);
	tlsio_tls_config_free(c);
}
END_TEST

static const char *pick_second(const uint8_t *offered, size_t len, void *user)
{
	static char name[256];
	const char *mode = user;
	if (strcmp(mode, "second") == 0 && len > 0 && (size_t)offered[0] + 1 < len) {
		size_t at = (size_t)offered[0] + 1;
		memcpy(name, offered + at + 1, offered[at]);
		name[offered[at]] = '\0';
		return name;
	}
	if (strcmp(mode, "none") == 0)
		return NULL;
	if (strcmp(mode, "empty") == 0)
		return "";
	return "not-offered";
}

/* alpn_select: the server's choice, a refusal with no_application_protocol, none at all. */
START_TEST(alpn_select_cb)
{
	static const char *const modes[] = {"second", "none", "empty", "other"};
	for (size_t i = 0; i < 4; i++) {
		tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT;
		struct pair p;
		so.cert_file = cert("server.pem");
		so.key_file = cert("server.key");
		so.alpn_select = pick_second;
		so.alpn_select_user = (void *)modes[i];
		pair_init(&p, cfg_opts(1, &so), client_cfg("ca.pem", 0, 0, "h2,http/1.1"), "localhost");
		pump(&p.c, &p.s);
		if (i == 0 || i == 2) {
			ck_assert_int_eq(p.c.hs, 1);
			ck_assert_int_eq(p.s.hs, 1);
			if (i == 0) {
				ck_assert_str_eq(tlsio__tls_alpn(p.c.t), "http/1.1");
				ck_assert_str_eq(tlsio__tls_alpn(p.s.t), "http/1.1");
			} else {
				ck_assert_ptr_null(tlsio__tls_alpn(p.c.t));
			}
		} else {
			ck_assert_int_eq(p.s.hs, TLSIO_E_REFUSED);
			ck_assert_int_eq(p.c.hs, TLSIO_E_ALERT_RECEIVED);
			ck_assert_int_eq(tlsio__tls_alert(p.c.t), TLSIO_ALERT_NO_APPLICATION_PROTOCOL);
		}
		pair_free(&p);
	}
}
END_TEST

struct keylog {
	char lines[16][400];
	int n;
};

static void keylog_cb(const char *line, void *user)
{
	struct keylog *k = user;
	ck_assert_int_lt(k->n, 16);
	ck_assert_uint_lt(strlen(line), sizeof(k->lines[0]));
	strcpy(k->lines[k->n++], line);
}

static int keylog_has(const struct keylog *k, const char *label)
{
	for (int i = 0; i < k->n; i++)
		if (strncmp(k->lines[i], label, strlen(label)) == 0 && k->lines[i][strlen(label)] == ' ')
			return i;
	return -1;
}

/* Key log lines, both sides, TLS 1.2 and 1.3: the labels Wireshark reads, the same client
 * random, the same secrets on both sides. */
START_TEST(keylog_lines)
{
	static const int versions[] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	for (size_t i = 0; i < 2; i++) {
		tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
		struct keylog ks = {0}, kc = {0};
		tlsio_tls_config *s, *c;
		const char *why = NULL;
		int rc;
		so.cert_file = cert("server.pem");
		so.key_file = cert("server.key");
		so.min_version = so.max_version = versions[i];
		so.keylog = keylog_cb;
		so.keylog_user = &ks;
		co.ca_file = cert("ca.pem");
		co.min_version = co.max_version = versions[i];
		co.keylog = keylog_cb;
		co.keylog_user = &kc;
		rc = tlsio_tls_config_new(&s, 1, &so, &why);
#ifndef HAVE_SECRET_CALLBACK
		if (versions[i] == TLSIO_TLS_1_3) {
			ck_assert_int_eq(rc, TLSIO_E_TLS_CONFIG);
			ck_assert_ptr_nonnull(strstr(why, "not available in this wolfSSL"));
			printf("key logging, TLS 1.3: %s\n", why);
			continue;
		}
#endif
		ck_assert_msg(rc == 0, "%s", why);
		c = cfg_opts(0, &co);
		ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, NULL, 0), 0);
		if (versions[i] == TLSIO_TLS_1_2) {
			ck_assert_int_eq(kc.n, 1);
			ck_assert_int_eq(ks.n, 1);
			ck_assert_int_eq(keylog_has(&kc, "CLIENT_RANDOM"), 0);
			ck_assert_uint_eq(strlen(kc.lines[0]), 13 + 1 + 64 + 1 + 96);
			ck_assert_str_eq(kc.lines[0], ks.lines[0]); /* the same random, the same secret */
		} else {
			static const char *const labels[] = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
			                                     "SERVER_HANDSHAKE_TRAFFIC_SECRET",
			                                     "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"};
			for (size_t l = 0; l < 4; l++) {
				int a = keylog_has(&kc, labels[l]), b = keylog_has(&ks, labels[l]);
				ck_assert_msg(a >= 0 && b >= 0, "no %s line", labels[l]);
				ck_assert_str_eq(kc.lines[a], ks.lines[b]);
			}
		}
		printf("key log (TLS 0x%x): %d lines, e.g. %.40s...\n", versions[i], kc.n, kc.lines[0]);
		tlsio_tls_config_free(s);
		tlsio_tls_config_free(c);
	}
}
END_TEST

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 16);
	ck_assert_ptr_nonnull(f);
	*len = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

static int passphrase_cb(char *buf, size_t size, void *user)
{
	const char *p = user;
	if (p == NULL)
		return -1;
	ck_assert_uint_le(strlen(p), size);
	memcpy(buf, p, strlen(p));
	return (int)strlen(p);
}

/* Certificates, keys and CAs from memory (PEM and DER), a CA directory, an encrypted key. */
START_TEST(keys_from_memory)
{
	size_t cl, kl, al;
	uint8_t *cp = slurp(cert("server.pem"), &cl), *kp = slurp(cert("server.key"), &kl);
	uint8_t *ap = slurp(cert("ca.pem"), &al);
	uint8_t cder[4096], kder[4096], ader[4096];
	int cn = wc_CertPemToDer(cp, (int)cl, cder, sizeof(cder), CERT_TYPE);
	int kn = wc_KeyPemToDer(kp, (int)kl, kder, sizeof(kder), NULL);
	int an = wc_CertPemToDer(ap, (int)al, ader, sizeof(ader), CERT_TYPE);
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *s, *c;
	char dir[] = "/tmp/tlsio-cadir-XXXXXX", path[600];
	FILE *f;

	ck_assert_int_gt(cn, 0);
	ck_assert_int_gt(kn, 0);
	ck_assert_int_gt(an, 0);
	/* PEM in memory both sides */
	so.cert = cp;
	so.cert_len = cl;
	so.key = kp;
	so.key_len = kl;
	co.ca = ap;
	co.ca_len = al;
	s = cfg_opts(1, &so);
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, NULL, 0), 0);
	tlsio_tls_config_free(s);
	tlsio_tls_config_free(c);
	/* DER */
	so.cert = cder;
	so.cert_len = (size_t)cn;
	so.key = kder;
	so.key_len = (size_t)kn;
	co.ca = ader;
	co.ca_len = (size_t)an;
	s = cfg_opts(1, &so);
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, NULL, 0), 0);
	tlsio_tls_config_free(c);
	/* a CA directory: the CA among other files */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	f = fopen(path, "wb");
	fwrite(ap, 1, al, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/README", dir);
	f = fopen(path, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	co.ca = NULL;
	co.ca_len = 0;
	co.ca_dir = dir;
	c = cfg_opts(0, &co);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, NULL, 0), 0);
	tlsio_tls_config_free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	unlink(path);
	config_fails(0, &co, TLSIO_E_TLS_CONFIG, dir, "holds no PEM certificate");
	rmdir(dir);
	config_fails(0, &co, TLSIO_E_TLS_CONFIG, "cannot read the CA directory", "No such file");
	tlsio_tls_config_free(s);
	/* both a file and a buffer */
	so.cert_file = cert("server.pem");
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "given twice", "tlsio_tls_opts.cert");
	so.cert_file = NULL;
	so.cert = cp;
	so.cert_len = 10;
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "certificate in memory", NULL);
	so.cert_len = cl;
	so.key = kp;
	so.key_len = kl / 2; /* cut short */
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "private key in memory", NULL);
	/* an encrypted key: the passphrase callback */
	so.key = NULL;
	so.key_len = 0;
	so.key_file = cert("server-enc.key");
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "is encrypted", "passphrase");
	so.passphrase = passphrase_cb;
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "no passphrase for the private key file", "server-enc.key");
	so.passphrase_user = "wrong";
	config_fails(1, &so, TLSIO_E_TLS_CONFIG, "cannot decrypt the private key file", "passphrase");
	so.passphrase_user = "libtlsio test";
	s = cfg_opts(1, &so);
	c = client_cfg("ca.pem", 0, 0, NULL);
	ck_assert_int_eq(handshake_with(s, c, "localhost", NULL, NULL, 0), 0);
	tlsio_tls_config_free(s);
	tlsio_tls_config_free(c);
	free(cp);
	free(kp);
	free(ap);
}
END_TEST

/* A verifying client needs a name; the reason for a refusal is kept. */
START_TEST(verify_reason_kept)
{
	struct pair p;
	tlsio__tls *t;
	const char *why;
	int dummy = 0;
	tlsio_tls_config *ccfg = client_cfg("ca.pem", 0, 0, NULL);
	ck_assert_int_eq(tlsio__tls_new(&t, ccfg, NULL, pipe_out, &dummy), TLSIO_E_NO_IDENTITY);
	tlsio_tls_config_free(ccfg);
	pair_init(&p, server_cfg(0, 0, NULL), client_cfg("ca.pem", 0, 0, NULL), "not-this-host.test");
	pump(&p.c, &p.s);
	ck_assert_int_eq(p.c.hs, TLSIO_E_CERT_VERIFY);
	ck_assert_int_eq(tlsio__tls_cert_error(p.c.t, &why), TLSIO_CERT_NAME_MISMATCH);
	printf("name mismatch: %s\n", why);
	ck_assert_ptr_nonnull(strstr(why, "not-this-host.test"));
	ck_assert_ptr_nonnull(strstr(why, "DNS:localhost"));
	ck_assert_int_eq(tlsio__tls_alert(p.c.t), TLSIO_ALERT_BAD_CERTIFICATE);
	ck_assert_ptr_nonnull(tlsio__tls_peer_cert(p.c.t, NULL));
	pair_free(&p);
}
END_TEST

/* tlsio_crypto_heap_count() after wolfSSL is initialised: refused, counting stays off (the
 * counting itself is checked through tlsio-https --count-tls-heap in https-smoke.sh, a process
 * that asks before any configuration). tlsio_crypto_info() names the wolfSSL build. */
START_TEST(crypto_heap_after_init)
{
	tlsio_tls_config *cfg = server_cfg(0, 0, NULL);
	const char *info = tlsio_crypto_info();
	ck_assert_int_eq(tlsio_crypto_heap_count(), -EBUSY);
	ck_assert_int_eq(tlsio_crypto_heap_in_use(), -ENOENT);
	ck_assert_int_eq(tlsio_crypto_heap_count(), -EBUSY);
	ck_assert_msg(strstr(info, TLSIO_WOLFSSL_BUILD) != NULL && strstr(info, "wolfSSL 5.") == info,
	              "crypto info: %s", info);
	tlsio_tls_config_free(cfg);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("memory-pair");
	tcase_add_test(tc, hs_tls13);
	tcase_add_test(tc, hs_tls12);
	tcase_add_test(tc, hs_default_is_13);
	tcase_add_test(tc, data_roundtrip);
	tcase_add_test(tc, one_record_per_write);
	tcase_add_test(tc, verify_unknown_ca);
	tcase_add_test(tc, verify_name_mismatch);
	tcase_add_test(tc, verify_reason_kept);
	tcase_add_test(tc, identity_rules);
	tcase_add_test(tc, cert_info);
	tcase_add_test(tc, config_permission_denied);
	tcase_add_test(tc, mtls_never_resumes);
	tcase_add_test(tc, hello_bad_key_share_gets_an_alert);
	tcase_add_test(tc, short_record_after_handshake);
	tcase_add_test(tc, crypto_heap_after_init);
	tcase_add_test(tc, version_mismatch);
	tcase_add_test(tc, garbage_client_hello);
	tcase_add_test(tc, hello_fragmented);
	tcase_add_test(tc, hello_in_tiny_records);
	tcase_add_test(tc, hello_reader_resumes);
	tcase_add_test(tc, hello_refused_by_wolfssl_gets_an_alert);
	tcase_add_test(tc, bad_record_version_after_server_hello);
	tcase_add_test(tc, hello_inspect_then_go_on);
	tcase_add_test(tc, hello_refused);
	tcase_add_test(tc, hello_malformed);
	tcase_add_test(tc, oversized_record_after_handshake);
	tcase_add_test(tc, bad_record_version_after_handshake);
	tcase_add_test(tc, two_alerts_report_the_first);
	tcase_add_test(tc, eof_before_any_input);
	tcase_add_test(tc, alpn_and_sni);
	tcase_add_test(tc, truncated_input_waits);
	tcase_add_test(tc, bad_config);
	tcase_add_test(tc, session_cache_resumes);
	tcase_add_test(tc, session_cache_bounded);
	tcase_add_test(tc, session_export_import);
	tcase_add_test(tc, required_cert_no_resumption);
	tcase_add_test(tc, ticket_keys);
	tcase_add_test(tc, rsa_beside_ecdsa);
	tcase_add_test(tc, sni_map);
	tcase_add_test(tc, alpn_select_cb);
	tcase_add_test(tc, keylog_lines);
	tcase_add_test(tc, keys_from_memory);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
