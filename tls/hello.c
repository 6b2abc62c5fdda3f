/* SPDX-License-Identifier: MIT */
/* ClientHello reader (RFC 8446 4.1.2, RFC 5246 7.4.1.2, RFC 6066 3, RFC 7301 3.1). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "tlsio.h"

#define REC_HEADER 5
#define REC_MAX_PLAIN 16384
#define CT_CHANGE_CIPHER_SPEC 20
#define CT_HANDSHAKE 22
#define CT_HEARTBEAT 24
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define EXT_SIGNATURE_ALGORITHMS 13
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43

/* A bounds-checked reader: every take fails once, and stays failed, past the end. */
typedef struct rd {
	const uint8_t *p;
	size_t left;
	int bad;
} rd;

static const uint8_t *take(rd *r, size_t n)
{
	const uint8_t *p = r->p;
	if (r->bad || n > r->left) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static unsigned u8(rd *r)
{
	const uint8_t *p = take(r, 1);
	return p != NULL ? p[0] : 0;
}

static unsigned u16(rd *r)
{
	const uint8_t *p = take(r, 2);
	return p != NULL ? (unsigned)p[0] << 8 | p[1] : 0;
}

/* A sub-reader over the next n bytes (a length-prefixed vector). */
static rd sub(rd *r, size_t n)
{
	rd s = {.p = take(r, n), .left = n, .bad = r->bad};
	if (s.bad)
		s.left = 0;
	return s;
}

static int version_of(unsigned v)
{
	if (v == 0x0304)
		return TLSIO_TLS_1_3;
	if (v == 0x0303)
		return TLSIO_TLS_1_2;
	return 0;
}

static int parse_sni(rd e, tlsio__hello *h)
{
	rd list = sub(&e, u16(&e));
	if (e.bad || e.left != 0 || list.left == 0)
		return -1;
	while (list.left > 0) {
		unsigned type = u8(&list);
		size_t n = u16(&list);
		const uint8_t *name = take(&list, n);
		if (list.bad || n == 0)
			return -1;
		if (type != 0 || h->server_name[0] != '\0')
			continue; /* host_name is the only type; RFC 6066 allows one per type */
		if (n >= sizeof(h->server_name) || memchr(name, 0, n) != NULL)
			return -1;
		memcpy(h->server_name, name, n);
		h->server_name[n] = '\0';
	}
	return 0;
}

static int parse_alpn(rd e, tlsio__hello *h)
{
	size_t n = u16(&e);
	rd list = sub(&e, n);
	const uint8_t *all = list.p;
	if (e.bad || e.left != 0 || n < 2)
		return -1;
	while (list.left > 0) {
		size_t len = u8(&list);
		if (len == 0 || take(&list, len) == NULL)
			return -1;
	}
	if (n <= sizeof(h->alpn)) {
		memcpy(h->alpn, all, n);
		h->alpn_len = n;
	}
	return 0;
}

static int parse_versions(rd e, tlsio__hello *h)
{
	size_t n = u8(&e);
	rd list = sub(&e, n);
	if (e.bad || e.left != 0 || n < 2 || n % 2 != 0)
		return -1;
	h->max_version = 0;
	while (list.left > 0) {
		int v = version_of(u16(&list));
		if (v > h->max_version)
			h->max_version = v;
	}
	return 0;
}

/* RFC 8446 4.2.3: ecdsa_secp*_sha* are 0x0403/0x0503/0x0603 (and SHA-1's 0x0203);
 * rsa_pkcs1_* 0x0401/0x0501/0x0601 (0x0201), rsa_pss_rsae_* 0x0804-0x0806, rsa_pss_pss_*
 * 0x0809-0x080b. */
static int parse_sigalgs(rd e, tlsio__hello *h)
{
	size_t n = u16(&e);
	rd list = sub(&e, n);
	if (e.bad || e.left != 0 || n < 2 || n % 2 != 0)
		return -1;
	h->sig_keys = 0;
	while (list.left > 0) {
		unsigned v = u16(&list), hi = v >> 8, lo = v & 0xff;
		if (hi >= 2 && hi <= 6 && lo == 3)
			h->sig_keys |= TLSIO__KEY_EC;
		else if ((hi >= 2 && hi <= 6 && lo == 1) || (hi == 8 && ((lo >= 4 && lo <= 6) || (lo >= 9 && lo <= 11))))
			h->sig_keys |= TLSIO__KEY_RSA;
	}
	return 0;
}

/* The authentication of a TLS 1.2 suite: ECDHE_ECDSA (0xC0 0x23/24/2B/2C/09/0A/AC-AF, 0xCC 0xA9)
 * or RSA (ECDHE_RSA, DHE_RSA, static RSA). TLS 1.3 suites (0x13xx) say nothing of the key. */
static unsigned suite_key(unsigned cs)
{
	switch (cs) {
	case 0xC009: case 0xC00A: case 0xC023: case 0xC024: case 0xC02B: case 0xC02C:
	case 0xC0AC: case 0xC0AD: case 0xC0AE: case 0xC0AF: case 0xCCA9:
		return TLSIO__KEY_EC;
	case 0xC013: case 0xC014: case 0xC027: case 0xC028: case 0xC02F: case 0xC030: case 0xCCA8:
	case 0x009C: case 0x009D: case 0x009E: case 0x009F: case 0xCCAA: case 0x002F: case 0x0035:
	case 0x003C: case 0x003D: case 0x0067: case 0x006B: case 0x0033: case 0x0039:
		return TLSIO__KEY_RSA;
	default:
		return 0;
	}
}

/* The body of a ClientHello message. */
static int parse_body(const uint8_t *body, size_t len, tlsio__hello *h)
{
	rd r = {.p = body, .left = len};
	unsigned legacy = u16(&r), sid, cs, comp;
	take(&r, 32); /* random */
	sid = u8(&r);
	if (sid > 32 || take(&r, sid) == NULL)
		return -1;
	cs = u16(&r);
	{
		const uint8_t *p = take(&r, cs);
		if (cs < 2 || cs % 2 != 0 || p == NULL)
			return -1;
		h->suite_keys = 0;
		for (unsigned i = 0; i < cs; i += 2)
			h->suite_keys |= suite_key((unsigned)p[i] << 8 | p[i + 1]);
	}
	h->sig_keys = TLSIO__KEY_EC | TLSIO__KEY_RSA; /* until the extension says otherwise */
	comp = u8(&r);
	if (comp < 1 || take(&r, comp) == NULL)
		return -1;
	h->max_version = version_of(legacy);
	if (r.left == 0)
		return r.bad ? -1 : 0; /* no extensions (allowed before TLS 1.3) */
	{
		rd exts = sub(&r, u16(&r));
		if (r.bad || r.left != 0)
			return -1;
		while (exts.left > 0) {
			unsigned type = u16(&exts);
			rd e = sub(&exts, u16(&exts));
			int rc = 0;
			if (exts.bad)
				return -1;
			if (type == EXT_SERVER_NAME)
				rc = parse_sni(e, h);
			else if (type == EXT_ALPN)
				rc = parse_alpn(e, h);
			else if (type == EXT_SUPPORTED_VERSIONS)
				rc = parse_versions(e, h);
			else if (type == EXT_SIGNATURE_ALGORITHMS)
				rc = parse_sigalgs(e, h);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

void tlsio__hello_reader_free(tlsio__hello_reader *r)
{
	free(r->joined);
	memset(r, 0, sizeof(*r));
}

int tlsio__hello_parse(tlsio__hello_reader *r, const uint8_t *in, size_t len, tlsio__hello *h,
                       int *alert)
{
	tlsio__hello_reader once = {0};
	uint8_t *joined;  /* only when the message spans records */
	size_t have, need, off;
	const uint8_t *msg = NULL;
	int rc = TLSIO__HELLO_MORE;

	if (r == NULL)
		r = &once;
	if (r->off > len)
		tlsio__hello_reader_free(r); /* not the stream read before: start over */
	joined = r->joined;
	have = r->have;
	need = r->need;
	off = r->off;
	memset(h, 0, sizeof(*h));
	*alert = TLSIO_ALERT_DECODE_ERROR;
	while (len - off >= REC_HEADER) {
		const uint8_t *rec = in + off;
		size_t n = (size_t)rec[3] << 8 | rec[4];
		if (rec[0] < CT_CHANGE_CIPHER_SPEC || rec[0] > CT_HEARTBEAT || rec[1] != 3) {
			rc = TLSIO__HELLO_BAD; /* not TLS at all (plain HTTP, SSLv2, noise) */
			goto out;
		}
		if (rec[0] != CT_HANDSHAKE) {
			*alert = TLSIO_ALERT_UNEXPECTED_MESSAGE;
			rc = TLSIO__HELLO_BAD;
			goto out;
		}
		if (n > REC_MAX_PLAIN) {
			*alert = TLSIO_ALERT_RECORD_OVERFLOW;
			rc = TLSIO__HELLO_BAD;
			goto out;
		}
		if (n == 0) {
			rc = TLSIO__HELLO_BAD;
			goto out;
		}
		if (len - off - REC_HEADER < n)
			break; /* the record is not complete yet */
		if (have == 0 && n >= 4) {
			if (rec[REC_HEADER] != HS_CLIENT_HELLO) {
				*alert = TLSIO_ALERT_UNEXPECTED_MESSAGE;
				rc = TLSIO__HELLO_BAD;
				goto out;
			}
			need = 4 + ((size_t)rec[6] << 16 | (size_t)rec[7] << 8 | rec[8]);
			if (need - 4 > TLSIO__HELLO_MAX) {
				rc = TLSIO__HELLO_BAD;
				goto out;
			}
			if (n >= need) {
				msg = rec + REC_HEADER;
				have = need;
				break;
			}
		}
		/* fragmented: join the payloads (a header split over records included) */
		{
			size_t cap = need ? need : 4;
			uint8_t *p = realloc(joined, have + n > cap ? have + n : cap);
			if (p == NULL) {
				*alert = TLSIO_ALERT_INTERNAL_ERROR;
				rc = TLSIO__HELLO_BAD;
				goto out;
			}
			joined = p;
			memcpy(joined + have, rec + REC_HEADER, n);
			have += n;
		}
		if (need == 0 && have >= 4) {
			if (joined[0] != HS_CLIENT_HELLO) {
				*alert = TLSIO_ALERT_UNEXPECTED_MESSAGE;
				rc = TLSIO__HELLO_BAD;
				goto out;
			}
			need = 4 + ((size_t)joined[1] << 16 | (size_t)joined[2] << 8 | joined[3]);
			if (need - 4 > TLSIO__HELLO_MAX) {
				rc = TLSIO__HELLO_BAD;
				goto out;
			}
		}
		off += REC_HEADER + n;
		if (need != 0 && have >= need) {
			msg = joined;
			break;
		}
	}
	if (msg == NULL)
		goto out; /* MORE */
	/* Bytes after the ClientHello in the same record are wolfSSL's business. */
	rc = parse_body(msg + 4, need - 4, h) == 0 ? TLSIO__HELLO_DONE : TLSIO__HELLO_BAD;
out:
	if (rc == TLSIO__HELLO_MORE && r != &once) {
		/* every record before off is read: the next call starts there */
		r->joined = joined;
		r->have = have;
		r->need = need;
		r->off = off;
		return rc;
	}
	free(joined);
	memset(r, 0, sizeof(*r));
	return rc;
}
