/* SPDX-License-Identifier: MIT */
/* WebSocket (RFC 6455) pieces shared by tlsio-ws and bench/ws-load: see ws.h. */
#include "ws.h"

#include <string.h>

int ws_parse_header(const uint8_t *p, size_t n, ws_header *h)
{
	size_t need = 2;
	uint64_t len;
	if (n < 2)
		return 0;
	h->fin = (p[0] >> 7) & 1;
	h->rsv = (p[0] >> 4) & 7;
	h->opcode = p[0] & 0x0f;
	h->masked = (p[1] >> 7) & 1;
	len = p[1] & 0x7f;
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (h->masked)
		need += 4;
	if (n < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)p[2] << 8 | p[3];
		if (len < 126)
			return -1; /* section 5.2: "the minimal number of bytes MUST be used" */
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63 || len <= 0xffff)
			return -1;
	}
	h->len = len;
	if (h->masked)
		memcpy(h->mask, p + need - 4, 4);
	else
		memset(h->mask, 0, 4);
	h->hdr_len = need;
	return (int)need;
}

size_t ws_put_header(uint8_t out[WS_MAX_HEADER], int fin, int rsv1, int opcode, uint64_t len,
                     const uint8_t *mask)
{
	size_t n = 2;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
	uint8_t m[8];
	size_t i = 0;
	for (int k = 0; k < 8; k++)
		m[k] = mask[(off + (uint64_t)k) & 3];
	/* eight bytes at a time (the mask repeats every 4, so every 8 too) */
	if (n >= 8) {
		uint64_t m64;
		memcpy(&m64, m, 8);
		for (; i + 8 <= n; i += 8) {
			uint64_t v;
			memcpy(&v, p + i, 8);
			v ^= m64;
			memcpy(p + i, &v, 8);
		}
	}
	for (; i < n; i++)
		p[i] ^= m[i & 7];
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-1 (FIPS 180-4), for the accept key only: the handshake's, not a security use. */

struct sha1 {
	uint32_t h[5];
	uint8_t buf[64];
	uint64_t bytes;
};

static uint32_t rol(uint32_t x, int n)
{
	return x << n | x >> (32 - n);
}

static void sha1_block(struct sha1 *s, const uint8_t *b)
{
	uint32_t w[80], a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;
		if (i < 20) {
			f = (bb & c) | (~bb & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = bb ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (bb & c) | (bb & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = bb ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(bb, 30);
		bb = a;
		a = t;
	}
	s->h[0] += a;
	s->h[1] += bb;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	while (n > 0) {
		size_t at = (size_t)(s->bytes & 63), take = 64 - at < n ? 64 - at : n;
		memcpy(s->buf + at, p, take);
		s->bytes += take;
		p += take;
		n -= take;
		if ((s->bytes & 63) == 0)
			sha1_block(s, s->buf);
	}
}

static void sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->bytes * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	sha1_update(s, &pad, 1);
	while ((s->bytes & 63) != 56)
		sha1_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void ws_base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

void ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	struct sha1 s = {{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}, {0}, 0};
	uint8_t d[20];
	sha1_update(&s, key, len);
	sha1_update(&s, guid, sizeof(guid) - 1);
	sha1_final(&s, d);
	ws_base64(d, sizeof(d), out);
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8. The state holds the continuation bytes still expected (bits 0-1) and the range the
 * next one must be in (bits 8-15 low, 16-23 high): E0 needs A0-BF next (no overlong), ED 80-9F
 * (no surrogate), F0 90-BF (no overlong), F4 80-8F (nothing above U+10FFFF); later ones 80-BF. */

#define UTF8_BAD 0xffffffffu
#define UTF8_STATE(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n)
{
	uint32_t st = u->state;
	if (st == UTF8_BAD)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint8_t b;
		if (st == 0) {
			/* the common case: skip an ASCII run eight bytes at a time */
			while (i + 8 <= n) {
				uint64_t v;
				memcpy(&v, p + i, 8);
				if (v & 0x8080808080808080ull)
					break;
				i += 8;
			}
			if (i == n)
				break;
		}
		b = p[i];
		if (st == 0) {
			if (b < 0x80)
				continue;
			if (b >= 0xc2 && b <= 0xdf)
				st = UTF8_STATE(1, 0x80, 0xbf);
			else if (b == 0xe0)
				st = UTF8_STATE(2, 0xa0, 0xbf);
			else if (b == 0xed)
				st = UTF8_STATE(2, 0x80, 0x9f);
			else if (b >= 0xe1 && b <= 0xef)
				st = UTF8_STATE(2, 0x80, 0xbf);
			else if (b == 0xf0)
				st = UTF8_STATE(3, 0x90, 0xbf);
			else if (b >= 0xf1 && b <= 0xf3)
				st = UTF8_STATE(3, 0x80, 0xbf);
			else if (b == 0xf4)
				st = UTF8_STATE(3, 0x80, 0x8f);
			else
				goto bad; /* 80-C1 (a stray continuation, overlong 2-byte), F5-FF */
			continue;
		}
		if (b < ((st >> 8) & 0xff) || b > ((st >> 16) & 0xff))
			goto bad;
		st = (st & 3) - 1;
		if (st != 0)
			st = UTF8_STATE(st, 0x80, 0xbf);
	}
	u->state = st;
	return 0;
bad:
	u->state = UTF8_BAD;
	return -1;
}

int ws_utf8_complete(const ws_utf8 *u)
{
	return u->state == 0;
}

int ws_close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}
