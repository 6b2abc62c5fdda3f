/* Helpers shared by the example tools. Only the public API of libtlsio is used here. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char tlsx_common_help[] =
	"  --backend NAME       I/O backend: auto, or one of --list-backends\n"
	"                       (default: $TLSIO_BACKEND, else auto)\n"
	"  --list-backends      list the compiled-in backends (unusable ones marked)\n"
	"  --tls-min 1.2|1.3    lowest TLS version to accept (default 1.2)\n"
	"  --tls-max 1.2|1.3    highest TLS version to offer (default 1.3)\n"
	"  --alpn LIST          comma-separated ALPN protocols in preference order\n"
	"  --sndbuf BYTES       SO_SNDBUF per connection (e.g. 16K; default: kernel's)\n"
	"  --rcvbuf BYTES       SO_RCVBUF per connection (default: kernel's)\n"
	"  -q, --quiet          print less\n"
	"  -h, --help           this text\n";

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

int tlsx_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	/* strtoull accepts "-1" and wraps it; a size never starts with a sign. */
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int tlsx_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	case 'B': break;
	default: return -1;
	}
	if (shift != 0 && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	else if (shift == 0 && strcasecmp(end, "B") == 0)
		end++;
	if (*end != '\0')
		return -1;
	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int tlsx_parse_int_size(const char *s, int *out)
{
	uint64_t v;
	if (tlsx_parse_size(s, &v) < 0 || v > INT32_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int tlsx_parse_version(const char *s, int *out)
{
	if (s == NULL)
		return -1;
	/* Accept the spellings people copy from openssl/wolfSSL output. */
	if (strncasecmp(s, "TLSv", 4) == 0)
		s += 4;
	else if (strncasecmp(s, "TLS", 3) == 0)
		s += 3;
	if (strcmp(s, "1.2") == 0 || strcmp(s, "12") == 0)
		*out = TLSIO_TLS_1_2;
	else if (strcmp(s, "1.3") == 0 || strcmp(s, "13") == 0)
		*out = TLSIO_TLS_1_3;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Common flags */

static int bad_value(const struct tlsx_common *o, const char *flag, const char *arg,
                     const char *expect)
{
	fprintf(stderr, "%s: bad value for %s: '%s' (expected %s)\n", o->prog, flag, arg, expect);
	return -1;
}

int tlsx_common_opt(struct tlsx_common *o, int opt, const char *arg)
{
	switch (opt) {
	case TLSX_OPT_BACKEND:
		o->backend = arg;
		return 1;
	case TLSX_OPT_CERT:
		o->cert = arg;
		return 1;
	case TLSX_OPT_KEY:
		o->key = arg;
		return 1;
	case TLSX_OPT_CA:
		o->ca = arg;
		return 1;
	case TLSX_OPT_ALPN:
		o->alpn = arg;
		return 1;
	case TLSX_OPT_TLS_MIN:
		if (tlsx_parse_version(arg, &o->tls_min) < 0)
			return bad_value(o, "--tls-min", arg, "1.2 or 1.3");
		return 1;
	case TLSX_OPT_TLS_MAX:
		if (tlsx_parse_version(arg, &o->tls_max) < 0)
			return bad_value(o, "--tls-max", arg, "1.2 or 1.3");
		return 1;
	case TLSX_OPT_SNDBUF:
		if (tlsx_parse_int_size(arg, &o->sndbuf) < 0)
			return bad_value(o, "--sndbuf", arg, "a size such as 16384 or 16K");
		return 1;
	case TLSX_OPT_RCVBUF:
		if (tlsx_parse_int_size(arg, &o->rcvbuf) < 0)
			return bad_value(o, "--rcvbuf", arg, "a size such as 16384 or 16K");
		return 1;
	case TLSX_OPT_LIST_BACKENDS:
		o->list_backends = 1;
		return 1;
	case 'q':
		o->quiet = 1;
		return 1;
	default:
		return 0;
	}
}

void tlsx_tls_opts(const struct tlsx_common *o, tlsio_tls_opts *t)
{
	memset(t, 0, sizeof(*t));
	t->cert_file = o->cert;
	t->key_file = o->key;
	t->ca_file = o->ca;
	t->min_version = o->tls_min;
	t->max_version = o->tls_max;
	t->alpn = o->alpn;
	t->verify = TLSIO_VERIFY_DEFAULT;
}

void tlsx_conn_opts(const struct tlsx_common *o, tlsio_conn_opts *c)
{
	memset(c, 0, sizeof(*c));
	c->sndbuf = o->sndbuf;
	c->rcvbuf = o->rcvbuf;
}

int tlsx_backend(const struct tlsx_common *o, const tlsio_backend **out)
{
	const tlsio_backend *b = tlsio_backend_by_name(o->backend);
	const char *why = NULL;
	int rc;
	*out = NULL;
	if (b == NULL) {
		const char *name = o->backend;
		if (name == NULL || name[0] == '\0')
			name = getenv("TLSIO_BACKEND");
		if (name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0)
			fprintf(stderr, "%s: no usable backend (compiled in: %s)\n", o->prog,
			        tlsio_backend_names());
		else
			fprintf(stderr, "%s: unknown backend '%s' (compiled in: %s)\n", o->prog, name,
			        tlsio_backend_names());
		return TLSX_EXIT_USAGE;
	}
	rc = tlsio_backend_probe(b, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: backend '%s' is not usable here: %s\n", o->prog,
		        tlsio_backend_name(b), why != NULL ? why : tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	*out = b;
	return 0;
}

void tlsx_list_backends(FILE *f)
{
	const tlsio_backend *all[16];
	size_t n = tlsio_backends(all, sizeof(all) / sizeof(all[0]));
	if (n > sizeof(all) / sizeof(all[0]))
		n = sizeof(all) / sizeof(all[0]);
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		int rc = tlsio_backend_probe(all[i], &why);
		if (rc == 0)
			fprintf(f, "%s\n", tlsio_backend_name(all[i]));
		else
			fprintf(f, "%s (unusable: %s)\n", tlsio_backend_name(all[i]),
			        why != NULL ? why : tlsio_strerror(rc));
	}
}

int tlsx_tls_config(const struct tlsx_common *o, int is_server, const tlsio_tls_opts *t,
                    tlsio_tls_config **out)
{
	const char *why = NULL;
	int rc = tlsio_tls_config_new(out, is_server, t, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: TLS configuration: %s%s%s\n", o->prog, tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		return TLSX_EXIT_FAIL;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-256, FIPS 180-4 section 6.2 */

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;
	int t;
	for (t = 0; t < 16; t++)
		w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
		       (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
	for (t = 16; t < 64; t++) {
		uint32_t s0 = ROR32(w[t - 15], 7) ^ ROR32(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = ROR32(w[t - 2], 17) ^ ROR32(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (t = 0; t < 64; t++) {
		uint32_t S1 = ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + sha256_k[t] + w[t];
		uint32_t S0 = ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void tlsx_sha256_init(tlsx_sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

void tlsx_sha256_update(tlsx_sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	s->len += len;
	if (s->n > 0) {
		size_t take = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->buf + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n < 64)
			return;
		sha256_block(s->h, s->buf);
		s->n = 0;
	}
	/* Whole blocks straight from the caller's buffer: no copy on the bulk path. */
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s->h, p);
	memcpy(s->buf, p, len);
	s->n = len;
}

void tlsx_sha256_final(tlsx_sha256 *s, uint8_t out[TLSX_SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	s->buf[s->n++] = 0x80;
	if (s->n > 56) {
		memset(s->buf + s->n, 0, 64 - s->n);
		sha256_block(s->h, s->buf);
		s->n = 0;
	}
	memset(s->buf + s->n, 0, 56 - s->n);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_block(s->h, s->buf);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
	memset(s->buf, 0, sizeof(s->buf));
	s->n = 0;
}

void tlsx_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* splitmix64: fast, and every seed (including 0) gives a full-period stream. The bytes of each
 * 64-bit output are taken little-endian whatever the host, so a stream is the same everywhere. */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tlsx_prng_init(tlsx_prng *g, uint64_t seed)
{
	g->state = seed;
	g->nspare = 0;
}

void tlsx_prng_fill(tlsx_prng *g, void *buf, size_t len)
{
	uint8_t *p = buf;
	/* Leftover bytes of the previous word first, so chunk boundaries do not shift the stream. */
	while (len > 0 && g->nspare > 0) {
		*p++ = g->spare[8 - g->nspare];
		g->nspare--;
		len--;
	}
	while (len >= 8) {
		uint64_t v = splitmix64(&g->state);
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t v = splitmix64(&g->state);
		for (int i = 0; i < 8; i++)
			g->spare[i] = (uint8_t)(v >> (8 * i));
		memcpy(p, g->spare, len);
		g->nspare = (unsigned)(8 - len);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Output, time, signals */

double tlsx_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tlsx_print_stats(FILE *f, const char *indent, const tlsio_stats *st)
{
	fprintf(f, "%sapp bytes queued:   %" PRIu64 "\n", indent, st->app_bytes_queued);
	fprintf(f, "%sapp bytes sent:     %" PRIu64 "\n", indent, st->app_bytes_sent);
	fprintf(f, "%sapp bytes received: %" PRIu64 "\n", indent, st->app_bytes_received);
	fprintf(f, "%stls bytes sent:     %" PRIu64 "\n", indent, st->tls_bytes_sent);
	fprintf(f, "%stls bytes received: %" PRIu64 "\n", indent, st->tls_bytes_received);
	fprintf(f, "%srecords sent:       %" PRIu64 "\n", indent, st->records_sent);
	fprintf(f, "%swrite calls:        %" PRIu64 "\n", indent, st->write_calls);
	fprintf(f, "%sread calls:         %" PRIu64 "\n", indent, st->read_calls);
	fprintf(f, "%sshort writes:       %" PRIu64 "\n", indent, st->short_writes);
	fprintf(f, "%seagain:             %" PRIu64 "\n", indent, st->eagain);
	fprintf(f, "%seintr:              %" PRIu64 "\n", indent, st->eintr);
	fprintf(f, "%squeued peak:        %" PRIu64 "\n", indent, st->queued_peak);
}

void tlsx_print_status(const char *prog, const char *what, int status, int alert)
{
	if (alert == TLSIO_ALERT_NONE)
		fprintf(stderr, "%s: %s: %s (status %d, no alert)\n", prog, what, tlsio_strerror(status),
		        status);
	else
		fprintf(stderr, "%s: %s: %s (status %d, alert %s/%d)\n", prog, what,
		        tlsio_strerror(status), status, tlsio_alert_name(alert), alert);
}

void tlsx_json_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

volatile sig_atomic_t tlsx_signal;
volatile sig_atomic_t tlsx_signal_count;
/* A signal handler has no user pointer; the tools run one loop each. */
static tlsio_loop *volatile signal_loop;
static volatile sig_atomic_t signal_exit_after;

static void on_signal(int signo)
{
	int saved = errno; /* the wake's write() must not clobber errno of the interrupted code */
	tlsio_loop *loop = signal_loop;
	tlsx_signal = signo;
	tlsx_signal_count++;
	/* The last resort when the loop does not come back to look at the flag (a hang). */
	if (signal_exit_after > 0 && tlsx_signal_count >= signal_exit_after)
		_exit(128 + signo);
	if (loop != NULL) {
		tlsio_loop_stop(loop);
		tlsio_loop_wake(loop);
	}
	errno = saved;
}

int tlsx_signals_install(tlsio_loop *loop, int exit_after)
{
	struct sigaction sa;
	signal_loop = loop;
	signal_exit_after = exit_after;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a wait in poll()/epoll_wait() should return so the loop sees the flag. */
	sa.sa_handler = on_signal;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}
