/* SPDX-License-Identifier: MIT */
/* Shared by the libFuzzer targets and the seed generator (one program each, so header-only):
 * a deterministic wolfSSL, the test configurations, byte buffers and an input reader.
 *
 * Determinism. wolfSSL seeds every DRBG through wc_GenerateSeed() and reads the clock through
 * time(); both are called through the PLT of Debian's libwolfssl, so the definitions below win
 * for the whole program. With a fixed seed stream (reset per input) every key, random and
 * ciphertext is a function of the input alone: a crash replays, a recorded flight (seeds) stays
 * valid for the fuzzer's own ClientHello, and mutations of it reach past the first record.
 * A frozen clock (time(), and gettimeofday(), which wolfSSL measures TLS 1.3 ticket ages with)
 * keeps sessions and ticket keys from expiring during a run of hours, so resumption (the fast
 * handshake of fuzz-record and fuzz-core) works the same at the end as at the start: with only
 * time() frozen, tickets aged past wolfSSL's 500 s session timeout and fuzz-core stopped
 * resuming after ~10 minutes. Nothing of this is in the library. */
#ifndef TLSIO_FUZZ_COMMON_H
#define TLSIO_FUZZ_COMMON_H

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

#include "tlsio.h"
#include "tls.h"

static uint64_t fz_seed_state = 1;

/* fuzz-tls resets the stream to this before it makes its side; seeds.c does the same so that the
 * flights it records answer exactly what fuzz-tls's client or server says. */
#define FZ_TLS_SEED 11

/** Restart the seed stream: what follows is the same for the same @p k. */
static void fz_rng_reset(uint64_t k)
{
	fz_seed_state = k * 0x9e3779b97f4a7c15ull + 1;
}

int wc_GenerateSeed(OS_Seed *os, byte *out, word32 sz)
{
	(void)os;
	for (word32 i = 0; i < sz; i++) {
		/* splitmix64 */
		uint64_t z = (fz_seed_state += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		out[i] = (byte)(z ^ (z >> 31));
	}
	return 0;
}

/* Every DRBG instantiation (two per connection) runs a known-answer test over fixed vectors: a
 * pure function, and a seventh of the cost of a resumed handshake. Answer repeats from memory. */
int wc_RNG_HealthTest_ex(int reseed, const byte *nonce, word32 nonceSz, const byte *entropyA,
                         word32 entropyASz, const byte *entropyB, word32 entropyBSz, byte *output,
                         word32 outputSz, void *heap, int devId)
{
	typedef int (*fn_t)(int, const byte *, word32, const byte *, word32, const byte *, word32,
	                    byte *, word32, void *, int);
	static struct {
		int reseed, ret;
		uint8_t in[512], out[256];
		size_t in_len, out_len;
	} memo[8];
	static size_t nmemo;
	static fn_t real;
	uint8_t in[512];
	size_t len = 0;
	int ret;
	if (nonceSz + entropyASz + entropyBSz + 12 <= sizeof(in) && outputSz <= sizeof(memo[0].out)) {
		const struct {
			const byte *p;
			word32 n;
		} parts[3] = {{nonce, nonceSz}, {entropyA, entropyASz}, {entropyB, entropyBSz}};
		for (int i = 0; i < 3; i++) {
			memcpy(in + len, &parts[i].n, 4);
			len += 4;
			if (parts[i].n > 0)
				memcpy(in + len, parts[i].p, parts[i].n);
			len += parts[i].n;
		}
		for (size_t i = 0; i < nmemo; i++) {
			if (memo[i].reseed == reseed && memo[i].in_len == len && memo[i].out_len == outputSz &&
			    memcmp(memo[i].in, in, len) == 0) {
				memcpy(output, memo[i].out, outputSz);
				return memo[i].ret;
			}
		}
	} else {
		len = 0; /* not remembered */
	}
	if (real == NULL) {
		real = (fn_t)dlsym(RTLD_NEXT, "wc_RNG_HealthTest_ex");
		if (real == NULL)
			abort();
	}
	ret = real(reseed, nonce, nonceSz, entropyA, entropyASz, entropyB, entropyBSz, output, outputSz,
	           heap, devId);
	if (len > 0 && nmemo < sizeof(memo) / sizeof(memo[0])) {
		memo[nmemo].reseed = reseed;
		memo[nmemo].ret = ret;
		memcpy(memo[nmemo].in, in, len);
		memo[nmemo].in_len = len;
		memcpy(memo[nmemo].out, output, outputSz);
		memo[nmemo].out_len = outputSz;
		nmemo++;
	}
	return ret;
}

static struct timespec fz_frozen_clock(void)
{
	static struct timespec frozen;
	if (frozen.tv_sec == 0)
		clock_gettime(CLOCK_REALTIME, &frozen);
	return frozen;
}

time_t time(time_t *t)
{
	time_t now = fz_frozen_clock().tv_sec;
	if (t != NULL)
		*t = now;
	return now;
}

/* wolfSSL's TLS 1.3 ticket ages, in milliseconds (libFuzzer's own clock is clock_gettime). */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec now = fz_frozen_clock();
	(void)tz;
	tv->tv_sec = now.tv_sec; /* declared nonnull by glibc */
	tv->tv_usec = now.tv_nsec / 1000;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */

static const char *fz_cert(const char *name)
{
	static char buf[8][512];
	static int i;
	const char *dir = getenv("TLSIO_TEST_CERTS");
	char *b = buf[i++ % 8];
	snprintf(b, 512, "%s/%s", dir != NULL ? dir : "tests/certs", name);
	return b;
}

/** A test configuration; aborts (a set-up fault, not a finding) if it cannot be made. */
static tlsio_tls_config *fz_cfg(int is_server, int min, int max, const char *ciphers, const char *alpn)
{
	tlsio_tls_opts o = TLSIO_TLS_OPTS_INIT;
	tlsio_tls_config *cfg = NULL;
	const char *why = NULL;
	if (is_server) {
		o.cert_file = fz_cert("server.pem");
		o.key_file = fz_cert("server.key");
	} else {
		o.ca_file = fz_cert("ca.pem");
	}
	o.min_version = min;
	o.max_version = max;
	o.ciphers = ciphers;
	o.alpn = alpn;
	if (tlsio_tls_config_new(&cfg, is_server, &o, &why) != 0) {
		fprintf(stderr, "fuzz: config: %s (set TLSIO_TEST_CERTS)\n", why != NULL ? why : "?");
		abort();
	}
	return cfg;
}

/* ------------------------------------------------------------------------------------------ */

/* A byte buffer: p[head, len) are the bytes; taking from the front only moves head (delivering
 * a big buffer a byte at a time stays linear). */
struct fz_buf {
	uint8_t *p;
	size_t len, cap, head;
};

static uint8_t *fz_buf_data(const struct fz_buf *b)
{
	return b->p != NULL ? b->p + b->head : NULL; /* never NULL + 0 */
}

static size_t fz_buf_avail(const struct fz_buf *b)
{
	return b->len - b->head;
}

static void fz_buf_clear(struct fz_buf *b)
{
	b->len = b->head = 0;
}

/** Appends; fz_buf_data() + what fz_buf_avail() said before is where the new bytes start. */
static void fz_buf_put(struct fz_buf *b, const uint8_t *d, size_t n)
{
	if (b->head == b->len)
		fz_buf_clear(b);
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

/** Drop @p n bytes at @p off (from fz_buf_data()). */
static void fz_buf_drop(struct fz_buf *b, size_t off, size_t n)
{
	uint8_t *d = fz_buf_data(b);
	size_t avail = fz_buf_avail(b);
	if (off > avail)
		return;
	if (n > avail - off)
		n = avail - off;
	memmove(d + off, d + off + n, avail - off - n);
	b->len -= n;
}

/** Take @p n bytes from the front. */
static void fz_buf_take(struct fz_buf *b, size_t n)
{
	if (n > fz_buf_avail(b))
		n = fz_buf_avail(b);
	b->head += n;
	if (b->head == b->len) {
		fz_buf_clear(b);
	} else if (b->head >= 65536 && b->head >= b->len - b->head) {
		memmove(b->p, b->p + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
}

/** The TLS adapter's output function into a buffer. */
static int fz_out(void *arg, const uint8_t *d, size_t n)
{
	fz_buf_put(arg, d, n);
	return 0;
}

/** Byte @p i of an endless test stream (payloads longer than the input). */
static uint8_t fz_pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) + (i >> 16) * 7);
}

#define FZ_PATTERN_MAX (2u << 20)

/** fz_pattern(@p off) .. fz_pattern(@p off + n - 1) as memory (off + n <= FZ_PATTERN_MAX). */
static const uint8_t *fz_pattern_at(size_t off, size_t n)
{
	static uint8_t *table;
	if (table == NULL) {
		table = malloc(FZ_PATTERN_MAX);
		if (table == NULL)
			abort();
		for (size_t i = 0; i < FZ_PATTERN_MAX; i++)
			table[i] = fz_pattern(i);
	}
	if (off + n > FZ_PATTERN_MAX)
		abort();
	return table + off;
}

/* The fuzz input read as a program: past its end every read gives zeros. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static unsigned fz_u8(struct fz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned fz_u16(struct fz_in *in)
{
	unsigned hi = fz_u8(in);
	return hi << 8 | fz_u8(in);
}

/** A record's plaintext size from u16 @p v: v & 0x3ff (up to 1 KiB), or, if the top three bits
 * are set, 2 * (1 + (v & 0x1fff)) (up to a full 16 KiB record). Mostly small: big ones cost
 * encryption and decryption, and a few per input find what a thousand would. */
static size_t fz_record_size(unsigned v)
{
	return (v & 0xe000) == 0xe000 ? 2 * (1 + (size_t)(v & 0x1fff)) : v & 0x3ff;
}

/** Up to @p *len bytes of the input (fewer at its end). */
static const uint8_t *fz_bytes(struct fz_in *in, size_t *len)
{
	const uint8_t *p = in->p;
	if (*len > in->n)
		*len = in->n;
	in->p += *len;
	in->n -= *len;
	return p;
}

/* Drive an in-memory pair until neither side has anything to say. */
static void fz_pair_run(tlsio__tls *c, struct fz_buf *cout, tlsio__tls *s, struct fz_buf *sout,
                        int *hc, int *hs)
{
	uint8_t buf[TLSIO__TLS_MAX_PLAIN];
	for (int i = 0; i < 16; i++) {
		if (*hc == 0)
			*hc = tlsio__tls_handshake(c);
		else if (*hc == 1)
			while (tlsio__tls_read(c, buf, sizeof(buf)) > 0)
				;
		if (fz_buf_avail(cout) > 0) {
			if (tlsio__tls_feed(s, fz_buf_data(cout), fz_buf_avail(cout)) != 0)
				abort();
			fz_buf_clear(cout);
		}
		if (*hs == 0 || *hs == TLSIO__TLS_HELLO) {
			*hs = tlsio__tls_handshake(s);
			if (*hs == TLSIO__TLS_HELLO)
				*hs = tlsio__tls_hello_decide(s, NULL, 0) == 0 ? 0 : -1;
		} else if (*hs == 1) {
			while (tlsio__tls_read(s, buf, sizeof(buf)) > 0)
				;
		}
		if (fz_buf_avail(sout) > 0) {
			if (tlsio__tls_feed(c, fz_buf_data(sout), fz_buf_avail(sout)) != 0)
				abort();
			fz_buf_clear(sout);
		}
		if (*hc < 0 || *hs < 0 || (*hc == 1 && *hs == 1 && fz_buf_avail(cout) == 0 && fz_buf_avail(sout) == 0 &&
		                           tlsio__tls_input_len(c) == 0 && tlsio__tls_input_len(s) == 0))
			return;
	}
}

/** A full handshake between @p srv and @p cli, in memory, then their state is dropped: what
 * wolfSSL makes lazily per configuration on first use (session ticket keys) exists before the
 * first input, so that every input, the first included, runs the same. */
static void fz_warm_up(tlsio_tls_config *srv, tlsio_tls_config *cli)
{
	struct fz_buf co = {0}, so = {0};
	tlsio__tls *c = NULL, *s = NULL;
	int hc = 0, hs = 0;
	if (tlsio__tls_new(&s, srv, NULL, fz_out, &so) != 0 ||
	    tlsio__tls_new(&c, cli, "localhost", fz_out, &co) != 0)
		abort();
	fz_pair_run(c, &co, s, &so, &hc, &hs);
	if (hc != 1 || hs != 1) {
		fprintf(stderr, "fuzz: warm-up handshake failed: client %d server %d\n", hc, hs);
		abort();
	}
	tlsio__tls_free(c);
	tlsio__tls_free(s);
	free(co.p);
	free(so.p);
}

/* Contract C5 gaps that are wolfSSL's (it failed without sending any alert, and the adapter
 * cannot send an encrypted one for it): reported once per kind on stderr, as "C5 gap: ...",
 * without stopping the run; scripts/fuzz.sh lists them after each target. FZ_C5_ABORT=TEXT
 * makes a gap whose line contains TEXT abort instead, so that libFuzzer keeps and minimises
 * its input (-minimize_crash=1) like a crash's. */
static void fz_c5_gap(const char *side, const char *phase, int wolfssl_err, int status)
{
	static struct {
		const char *side, *phase;
		int err;
	} seen[64];
	static size_t nseen;
	const char *stop = getenv("FZ_C5_ABORT");
	char line[256];
	snprintf(line, sizeof(line), "C5 gap: %s, %s: wolfSSL error %d, status %d (%s), no alert sent",
	         side, phase, wolfssl_err, status, tlsio_strerror(status));
	if (stop != NULL && *stop != '\0' && strstr(line, stop) != NULL) {
		fprintf(stderr, "%s (FZ_C5_ABORT)\n", line);
		abort();
	}
	for (size_t i = 0; i < nseen; i++)
		if (seen[i].err == wolfssl_err && strcmp(seen[i].side, side) == 0 &&
		    strcmp(seen[i].phase, phase) == 0)
			return;
	if (nseen < sizeof(seen) / sizeof(seen[0])) {
		seen[nseen].side = side;
		seen[nseen].phase = phase;
		seen[nseen++].err = wolfssl_err;
	}
	fprintf(stderr, "%s\n", line);
}

#define FZ_CHECK(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
