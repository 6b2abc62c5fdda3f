/* SPDX-License-Identifier: MIT */
/* X.509 identity: a bounded DER reader for the fields that name a certificate's holder, and the
 * host-name / IP-address check of RFC 6125 made on them. See x509.h for why it is ours. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "x509.h"

/* ------------------------------------------------------------------------------------------ */
/* DER */

struct der {
	const uint8_t *p, *end;
};

/* One TLV with a one-byte tag and a definite length that fits in what is left. DER has no other
 * kind in the parts read here, and anything else is refused rather than guessed at. */
static int der_tlv(struct der *d, unsigned *tag, struct der *val)
{
	const uint8_t *q;
	size_t len = 0;
	if (d->end - d->p < 2)
		return -1;
	*tag = d->p[0];
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	q = d->p + 2;
	if (d->p[1] < 0x80) {
		len = d->p[1];
	} else {
		size_t n = d->p[1] & 0x7f;
		if (n == 0 || n > 4 || (size_t)(d->end - q) < n)
			return -1;
		while (n-- > 0)
			len = len << 8 | *q++;
	}
	if ((size_t)(d->end - q) < len)
		return -1;
	val->p = q;
	val->end = q + len;
	d->p = q + len;
	return 0;
}

static int der_expect(struct der *d, unsigned want, struct der *val)
{
	unsigned tag;
	return der_tlv(d, &tag, val) < 0 || tag != want ? -1 : 0;
}

static size_t der_len(const struct der *d)
{
	return (size_t)(d->end - d->p);
}

/* The parts of a certificate read here, as slices of the input. */
struct x509 {
	struct der serial, issuer, subject;
	struct der san; /* the GeneralNames' contents; empty without the extension */
	struct der spki; /* SubjectPublicKeyInfo, whole TLV */
	int64_t not_before, not_after;
};

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const uint8_t *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 4.1.2.5: always Z, seconds
 * present, no fractions). */
static int der_time(struct der *d, int64_t *out)
{
	struct der v;
	unsigned tag, y, mo, day, h, mi, s;
	size_t yl;
	if (der_tlv(d, &tag, &v) < 0)
		return -1;
	yl = tag == 0x17 ? 2 : tag == 0x18 ? 4 : 0;
	if (yl == 0 || der_len(&v) != yl + 11 || v.p[yl + 10] != 'Z')
		return -1;
	if (digits(v.p, yl, &y) < 0 || digits(v.p + yl, 2, &mo) < 0 || digits(v.p + yl + 2, 2, &day) < 0 ||
	    digits(v.p + yl + 4, 2, &h) < 0 || digits(v.p + yl + 6, 2, &mi) < 0 ||
	    digits(v.p + yl + 8, 2, &s) < 0)
		return -1;
	if (yl == 2)
		y += y < 50 ? 2000 : 1900;
	if (mo < 1 || mo > 12 || day < 1 || day > 31 || h > 23 || mi > 59 || s > 60)
		return -1;
	*out = days_from_civil(y, mo, day) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};

#define MAX_RDNS 64

/* Name ::= SEQUENCE OF SET OF SEQUENCE { OID, value }: checked once here, so that whatever
 * parses is also printable (sb_name walks it without checks). */
static int name_valid(const struct der *name)
{
	struct der d = *name, set, ava, oid, v;
	unsigned tag;
	size_t n = 0;
	while (d.p < d.end) {
		if (++n > MAX_RDNS || der_expect(&d, 0x31, &set) < 0 || set.p == set.end)
			return -1;
		while (set.p < set.end)
			if (der_expect(&set, 0x30, &ava) < 0 || der_expect(&ava, 0x06, &oid) < 0 ||
			    oid.p == oid.end || der_tlv(&ava, &tag, &v) < 0 || ava.p != ava.end)
				return -1;
	}
	return 0;
}

static int x509_parse(const uint8_t *der, size_t len, struct x509 *x)
{
	struct der d = {der, der + len}, cert, tbs, v;
	unsigned tag;
	int have_san = 0;

	memset(x, 0, sizeof(*x));
	if (der == NULL || der_expect(&d, 0x30, &cert) < 0 || d.p != d.end ||
	    der_expect(&cert, 0x30, &tbs) < 0)
		return -1;
	if (tbs.p < tbs.end && tbs.p[0] == 0xa0 && der_tlv(&tbs, &tag, &v) < 0)
		return -1; /* version */
	if (der_expect(&tbs, 0x02, &x->serial) < 0 || der_len(&x->serial) == 0 ||
	    der_expect(&tbs, 0x30, &v) < 0 || /* signature algorithm */
	    der_expect(&tbs, 0x30, &x->issuer) < 0 || der_expect(&tbs, 0x30, &v) < 0)
		return -1;
	if (der_time(&v, &x->not_before) < 0 || der_time(&v, &x->not_after) < 0 || v.p != v.end)
		return -1;
	if (der_expect(&tbs, 0x30, &x->subject) < 0 || name_valid(&x->subject) < 0 ||
	    name_valid(&x->issuer) < 0)
		return -1;
	x->spki.p = tbs.p;
	if (der_expect(&tbs, 0x30, &v) < 0)
		return -1;
	x->spki.end = tbs.p;
	while (tbs.p < tbs.end) {
		struct der exts;
		if (der_tlv(&tbs, &tag, &v) < 0)
			return -1;
		if (tag != 0xa3)
			continue; /* issuer/subject unique IDs */
		if (der_expect(&v, 0x30, &exts) < 0)
			return -1;
		while (exts.p < exts.end) {
			struct der e, oid, val;
			if (der_expect(&exts, 0x30, &e) < 0 || der_expect(&e, 0x06, &oid) < 0)
				return -1;
			if (e.p < e.end && e.p[0] == 0x01 && der_tlv(&e, &tag, &val) < 0)
				return -1; /* critical */
			if (der_expect(&e, 0x04, &val) < 0 || e.p != e.end)
				return -1;
			if (der_len(&oid) != sizeof(oid_san) || memcmp(oid.p, oid_san, sizeof(oid_san)) != 0)
				continue;
			/* RFC 5280 4.2: an extension appears at most once */
			if (have_san || der_expect(&val, 0x30, &x->san) < 0 || val.p != val.end)
				return -1;
			have_san = 1;
		}
	}
	/* every GeneralName must be a well-formed TLV: the callers walk them without checks */
	for (struct der g = x->san, n; g.p < g.end;)
		if (der_tlv(&g, &tag, &n) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* text */

struct sb {
	char *buf;
	size_t len, cap;
	int oom;
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_putn(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Finish: the string, or NULL (out of memory); "" for nothing written. */
static char *sb_take(struct sb *b)
{
	if (b->oom) {
		free(b->buf);
		return NULL;
	}
	if (b->buf == NULL)
		return strdup("");
	return b->buf;
}

static void sb_hex(struct sb *b, const uint8_t *p, size_t n, const char *sep)
{
	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s%02X", i > 0 ? sep : "", p[i]);
}

/* Bytes a peer chose, shown safely: printable ASCII as it is, the rest as \xHH. */
static void sb_bytes(struct sb *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			sb_putn(b, (const char *)p + i, 1);
		else
			sb_printf(b, "\\x%02x", p[i]);
	}
}

static const struct {
	uint8_t len;
	uint8_t oid[10];
	const char *name;
} attr_names[] = {
	{3, {0x55, 0x04, 0x03}, "CN"},
	{3, {0x55, 0x04, 0x06}, "C"},
	{3, {0x55, 0x04, 0x07}, "L"},
	{3, {0x55, 0x04, 0x08}, "ST"},
	{3, {0x55, 0x04, 0x09}, "STREET"},
	{3, {0x55, 0x04, 0x0a}, "O"},
	{3, {0x55, 0x04, 0x0b}, "OU"},
	{3, {0x55, 0x04, 0x05}, "serialNumber"},
	{10, {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19}, "DC"},
	{10, {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01}, "UID"},
	{9, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}, "emailAddress"},
};

static void sb_oid(struct sb *b, const struct der *oid)
{
	uint64_t v = 0;
	int first = 1;
	for (const uint8_t *p = oid->p; p < oid->end; p++) {
		if (v > (UINT64_MAX >> 7)) {
			sb_puts(b, "?");
			return;
		}
		v = v << 7 | (*p & 0x7f);
		if (*p & 0x80)
			continue;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;
			sb_printf(b, "%u.%llu", a, (unsigned long long)(v - 40u * a));
			first = 0;
		} else {
			sb_printf(b, ".%llu", (unsigned long long)v);
		}
		v = 0;
	}
}

/* One attribute value, escaped as RFC 4514 2.4 asks. String types are shown as text; anything
 * else (BMPString and the like) as '#' and the hex of its encoding. */
static void sb_rdn_value(struct sb *b, unsigned tag, const struct der *tlv, const struct der *v)
{
	size_t n = der_len(v);
	if (tag != 0x0c && tag != 0x13 && tag != 0x16 && tag != 0x14 && tag != 0x1a) {
		sb_puts(b, "#");
		for (const uint8_t *p = tlv->p; p < v->end; p++)
			sb_printf(b, "%02X", *p);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = v->p[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && tag != 0x0c))
			sb_printf(b, "\\%02X", c);
		else if (strchr("\"+,;<>\\", c) != NULL || (i == 0 && (c == '#' || c == ' ')) ||
		         (i == n - 1 && c == ' '))
			sb_printf(b, "\\%c", c);
		else
			sb_putn(b, (const char *)&c, 1);
	}
}

/* Name ::= SEQUENCE OF RDN, written most specific first (RFC 4514 2.1). */
static int sb_name(struct sb *b, const struct der *name)
{
	struct der rdns[MAX_RDNS], d = *name;
	size_t n = 0;
	while (d.p < d.end) {
		if (n == MAX_RDNS || der_expect(&d, 0x31, &rdns[n]) < 0)
			return -1;
		n++;
	}
	while (n-- > 0) {
		struct der set = rdns[n];
		int first = 1;
		while (set.p < set.end) {
			struct der ava, oid, v, tlv;
			unsigned tag;
			size_t k;
			if (der_expect(&set, 0x30, &ava) < 0 || der_expect(&ava, 0x06, &oid) < 0)
				return -1;
			tlv.p = ava.p;
			if (der_tlv(&ava, &tag, &v) < 0 || ava.p != ava.end)
				return -1;
			if (!first)
				sb_puts(b, "+");
			first = 0;
			for (k = 0; k < sizeof(attr_names) / sizeof(attr_names[0]); k++)
				if (der_len(&oid) == attr_names[k].len &&
				    memcmp(oid.p, attr_names[k].oid, attr_names[k].len) == 0)
					break;
			if (k < sizeof(attr_names) / sizeof(attr_names[0])) {
				sb_puts(b, attr_names[k].name);
			} else {
				sb_oid(b, &oid);
				tag = 0; /* unknown attribute: hex form (RFC 4514 2.4) */
			}
			sb_puts(b, "=");
			sb_rdn_value(b, tag, &tlv, &v);
		}
		if (n > 0)
			sb_puts(b, ",");
	}
	return 0;
}

/* One GeneralName as "DNS:...", "IP:...", "email:...", "URI:..."; 0 if of another kind. */
static int sb_san(struct sb *b, unsigned tag, const struct der *v)
{
	size_t n = der_len(v);
	switch (tag) {
	case 0x80 | TLSIO__SAN_DNS:
		sb_puts(b, "DNS:");
		break;
	case 0x80 | TLSIO__SAN_EMAIL:
		sb_puts(b, "email:");
		break;
	case 0x80 | TLSIO__SAN_URI:
		sb_puts(b, "URI:");
		break;
	case 0x80 | TLSIO__SAN_IP: {
		char txt[INET6_ADDRSTRLEN];
		if ((n == 4 && inet_ntop(AF_INET, v->p, txt, sizeof(txt)) != NULL) ||
		    (n == 16 && inet_ntop(AF_INET6, v->p, txt, sizeof(txt)) != NULL)) {
			sb_puts(b, "IP:");
			sb_puts(b, txt);
		} else {
			sb_puts(b, "IP:#");
			sb_hex(b, v->p, n, "");
		}
		return 1;
	}
	default:
		return 0;
	}
	sb_bytes(b, v->p, n);
	return 1;
}

/* An INTEGER as openssl x509 -serial prints it: no leading 00 byte (which DER adds before a
 * set top bit), and a negative one as '-' and its magnitude. */
static void sb_serial(struct sb *b, const struct der *v)
{
	const uint8_t *p = v->p;
	size_t n = der_len(v);
	if (n > 0 && (p[0] & 0x80)) {
		uint8_t mag[64];
		unsigned carry = 1;
		if (n > sizeof(mag)) {
			sb_puts(b, "?");
			return;
		}
		for (size_t i = n; i-- > 0;) { /* two's complement: invert, add one */
			unsigned x = (uint8_t)~p[i] + carry;
			mag[i] = (uint8_t)x;
			carry = x >> 8;
		}
		p = mag;
		while (n > 1 && p[0] == 0)
			p++, n--;
		sb_puts(b, "-");
		sb_hex(b, p, n, "");
		return;
	}
	while (n > 1 && p[0] == 0)
		p++, n--;
	sb_hex(b, p, n, "");
}

/* ------------------------------------------------------------------------------------------ */
/* tlsio_cert_info */

struct cert_info {
	tlsio_cert_info pub; /* first: tlsio_cert_info_free casts back */
	char *strings[3];
	char **san;
	size_t nsan;
};

void tlsio_cert_info_free(tlsio_cert_info *info)
{
	struct cert_info *ci = (struct cert_info *)info;
	if (ci == NULL)
		return;
	for (size_t i = 0; i < 3; i++)
		free(ci->strings[i]);
	for (size_t i = 0; i < ci->nsan; i++)
		free(ci->san[i]);
	free(ci->san);
	free(ci);
}

int tlsio_cert_info_new(const uint8_t *der, size_t len, tlsio_cert_info **out)
{
	struct cert_info *ci;
	struct x509 x;
	struct sb b[3] = {{0}};
	size_t count = 0;
	unsigned tag;
	int rc = -ENOMEM;

	*out = NULL;
	if (len > UINT32_MAX || x509_parse(der, len, &x) < 0)
		return -EINVAL;
	ci = calloc(1, sizeof(*ci));
	if (ci == NULL)
		return -ENOMEM;
	ci->pub.struct_size = sizeof(ci->pub);
	if (sb_name(&b[0], &x.subject) < 0 || sb_name(&b[1], &x.issuer) < 0) {
		rc = -EINVAL;
		goto fail;
	}
	sb_serial(&b[2], &x.serial);
	for (size_t i = 0; i < 3; i++) {
		ci->strings[i] = sb_take(&b[i]);
		b[i].buf = NULL;
		if (ci->strings[i] == NULL)
			goto fail;
	}
	for (struct der g = x.san, v; g.p < g.end;)
		if (der_tlv(&g, &tag, &v) == 0 && (tag & 0xe0) == 0x80 &&
		    (tag & 0x1f) <= TLSIO__SAN_IP)
			count++;
	ci->san = calloc(count + 1, sizeof(*ci->san));
	if (ci->san == NULL)
		goto fail;
	for (struct der g = x.san, v; g.p < g.end;) {
		struct sb s = {0};
		(void)der_tlv(&g, &tag, &v);
		if (!sb_san(&s, tag, &v)) {
			free(s.buf);
			continue;
		}
		if ((ci->san[ci->nsan] = sb_take(&s)) == NULL)
			goto fail;
		ci->nsan++;
	}
	ci->pub.subject = ci->strings[0];
	ci->pub.issuer = ci->strings[1];
	ci->pub.serial = ci->strings[2];
	ci->pub.san = (const char *const *)ci->san;
	ci->pub.san_count = ci->nsan;
	ci->pub.not_before = x.not_before;
	ci->pub.not_after = x.not_after;
	if (wc_Sha256Hash(der, (word32)len, ci->pub.sha256) != 0)
		goto fail;
	for (size_t i = 0; i < 32; i++)
		snprintf(ci->pub.fingerprint + 3 * i, 4, i < 31 ? "%02X:" : "%02X", ci->pub.sha256[i]);
	*out = &ci->pub;
	return 0;
fail:
	for (size_t i = 0; i < 3; i++)
		free(b[i].buf);
	tlsio_cert_info_free(&ci->pub);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* identity (RFC 6125, RFC 9525) */

int tlsio__x509_ip_literal(const char *host, uint8_t *addr, size_t *alen)
{
	uint8_t tmp[16];
	char buf[INET6_ADDRSTRLEN + 1];
	size_t n = strcspn(host, "%");
	if (addr == NULL)
		addr = tmp;
	if (inet_pton(AF_INET, host, addr) == 1) {
		if (alen != NULL)
			*alen = 4;
		return 1;
	}
	if (n >= sizeof(buf) || strchr(host, ':') == NULL)
		return 0;
	memcpy(buf, host, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return 0;
	if (alen != NULL)
		*alen = 16;
	return 1;
}

/* Case-insensitive for ASCII letters only: strncasecmp follows the locale (in tr_TR 'I' and
 * 'i' differ, and in ISO-8859-9 0xDD equals 'i'), and a host name is ASCII (RFC 5890 A-labels). */
static int ascii_eq(const char *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = (uint8_t)a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

/* No empty label: not "a..b", ".a", nor a lone "" (the trailing dot is already gone). */
static int labels_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (p[i] == '.' && p[i - 1] == '.')
			return 0;
	return 1;
}

/* A DNS SAN against a host name already lower-cased and without its trailing dot. The
 * wildcard is honoured only as the whole left-most label, over at least two more labels
 * ("*.example.com", not "*.com" nor "f*.example.com"), and stands for exactly one label. */
static int dns_match(const uint8_t *p, size_t n, const char *name, size_t name_len)
{
	const char *dot;
	if (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || memchr(p, '\0', n) != NULL || !labels_ok(p, n))
		return 0;
	if (n > 2 && p[0] == '*' && p[1] == '.') {
		const uint8_t *rest = p + 1; /* ".example.com" */
		size_t rn = n - 1;
		if (memchr(rest, '*', rn) != NULL || memchr(rest + 1, '.', rn - 1) == NULL)
			return 0;
		dot = strchr(name, '.');
		if (dot == NULL || dot == name)
			return 0;
		return strlen(dot) == rn && ascii_eq(dot, rest, rn);
	}
	if (memchr(p, '*', n) != NULL)
		return 0;
	return name_len == n && ascii_eq(name, p, n);
}

static void why_printf(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

int tlsio__x509_match(const uint8_t *der, size_t len, const char *host, char *why, size_t why_len)
{
	struct x509 x;
	struct sb names = {0};
	uint8_t ip[16];
	size_t iplen = 0, hl;
	char name[256];
	unsigned tag = 0;
	int is_ip = tlsio__x509_ip_literal(host, ip, &iplen), listed = 0;

	if (x509_parse(der, len, &x) < 0) {
		why_printf(why, why_len, "the certificate cannot be read (malformed DER)");
		return -EINVAL;
	}
	hl = strlen(host);
	if (!is_ip) {
		if (hl > 0 && host[hl - 1] == '.')
			hl--;
		if (hl == 0 || hl >= sizeof(name) || strchr(host, '*') != NULL ||
		    !labels_ok((const uint8_t *)host, hl)) {
			why_printf(why, why_len, "name mismatch: '%s' is not a host name", host);
			return 0;
		}
		for (size_t i = 0; i < hl; i++)
			name[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
		name[hl] = '\0';
	}
	for (struct der g = x.san, v; g.p < g.end;) {
		(void)der_tlv(&g, &tag, &v);
		if (is_ip && tag == (0x80 | TLSIO__SAN_IP) && der_len(&v) == iplen &&
		    memcmp(v.p, ip, iplen) == 0)
			goto match;
		if (!is_ip && tag == (0x80 | TLSIO__SAN_DNS) && dns_match(v.p, der_len(&v), name, hl))
			goto match;
		if (names.len < 400) {
			struct sb one = {0};
			if (sb_san(&one, tag, &v) && !one.oom) {
				sb_puts(&names, listed++ ? ", " : "");
				sb_puts(&names, one.buf);
			}
			free(one.buf);
		}
	}
	if (listed > 0)
		why_printf(why, why_len, "name mismatch: connected to %s %s, the certificate is for %s%s",
		           is_ip ? "IP address" : "host", host, names.oom ? "?" : names.buf,
		           names.len >= 400 ? ", ..." : "");
	else
		why_printf(why, why_len,
		           "name mismatch: connected to %s %s, the certificate names no %s in its "
		           "subjectAltName (the subject CN is not used)",
		           is_ip ? "IP address" : "host", host, is_ip ? "IP address" : "DNS name");
	free(names.buf);
	return 0;
match:
	free(names.buf);
	return 1;
}

int tlsio__x509_spki(const uint8_t *der, size_t len, const uint8_t **spki, size_t *spki_len)
{
	struct x509 x;
	if (x509_parse(der, len, &x) < 0)
		return -EINVAL;
	*spki = x.spki.p;
	*spki_len = der_len(&x.spki);
	return 0;
}
