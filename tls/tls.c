/* SPDX-License-Identifier: MIT */
/* wolfSSL adapter. See tls.h for the sans-I/O contract. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "hello.h"
#include "tls.h"
#include "x509.h"
#include "abi.h"

#ifndef TLSIO_WOLFSSL_BUILD /* config.h's; a build without configure (the fuzz targets) */
#define TLSIO_WOLFSSL_BUILD "build unknown to configure"
#endif

#define TLS_MAX_CHAINS 4      /* tlsio_tls_opts.more_certs: 3 more */
#define TLS_SESS12_PROBE_S 3600 /* see tlsio__tls_session_key */
#define TLS_SESS_DEFAULT 256  /* tlsio_tls_opts.session_cache 0 */
#define TLS_SESS_PER_SERVER 4 /* TLS 1.3 tickets kept per server */
#define TLS_MAX_NAMES 1024    /* tlsio_tls_config_add_name */

/* A client's cached sessions for one server ("identity:port"). */
struct tls_sess {
	char *key;
	WOLFSSL_SESSION *s13[TLS_SESS_PER_SERVER]; /* TLS 1.3 tickets, oldest first, each used once */
	int n13;
	WOLFSSL_SESSION *s12;     /* TLS 1.2: used until replaced */
	int64_t s12_born;         /* when its full handshake was (time()) */
	uint8_t *der;             /* the server's leaf as the last full handshake verified it */
	size_t der_len;
	uint64_t used;            /* LRU clock */
};

/* A session ticket key: 16-byte name, 32-byte secret. */
struct tls_tkey {
	uint8_t name[16];
	uint8_t secret[32];
	int set;
	int64_t born_ms;  /* CLOCK_MONOTONIC */
	int64_t until_ms; /* the previous key: accepted until then */
};

struct tls_name {
	char *pattern;          /* "host" or "*.domain" */
	tlsio_tls_config *cfg;  /* a reference */
};

struct tlsio_tls_config {
	atomic_int refs;
	int is_server;
	int verify;
	int min_version, max_version;
	WOLFSSL_CTX *ctx[TLS_MAX_CHAINS]; /* one per certificate chain; a client's in [0] */
	unsigned key_type[TLS_MAX_CHAINS]; /* TLSIO__KEY_* of each chain's key */
	int nchains;
	char *alpn; /* comma-separated, as wolfSSL_UseALPN wants it */
	void (*keylog)(const char *line, void *user);
	void *keylog_user;
	const char *(*alpn_select)(const uint8_t *offered, size_t len, void *user);
	void *alpn_select_user;
	uint32_t ticket_life; /* seconds */
	pthread_mutex_t mu;   /* guards the rest: threads share a configuration */
	struct tls_sess *sess;
	int nsess, sess_cap, sess_max;
	uint64_t sess_clock;
	struct tls_tkey tk_cur, tk_prev;
	int tk_own; /* the application set the key: no rotation of our own */
	struct tls_name *names; /* TLS_MAX_NAMES slots once the first is added */
	int nnames;
};

struct tlsio__tls {
	tlsio_tls_config *cfg;
	WOLFSSL *ssl;
	char *peer_name;   /* client: the identity the server's certificate must carry */
	uint8_t *peer_der; /* the peer's leaf certificate, once seen */
	size_t peer_der_len;
	int cert_err;      /* enum tlsio_cert_error of the first verification failure */
	char *cert_why;    /* its sentence */
	tlsio__tls_out_fn out;
	void *out_arg;
	uint8_t *in;       /* peer ciphertext not yet consumed, owned */
	size_t in_start, in_end, in_cap;
	const uint8_t *ext; /* borrowed input (tlsio__tls_feed_borrow), read after `in` */
	size_t ext_len;
	int eof;
	int out_failed;    /* the output function refused (out of memory) */
	size_t wire_out;   /* bytes wolfSSL has sent: 0 means no key is in use on our side yet */
	int last_err;
	int alert;
	int first_tx_alert; /* the first fatal alert wolfSSL sent in plaintext (note_alerts) */
	uint8_t out_hdr[5]; /* the output's record framing, followed across sends (note_alerts) */
	uint8_t out_hdr_len, out_body0;
	uint16_t out_left;  /* bytes of the current record's body still to come */
	char *alpn;        /* the negotiated protocol, copied on the first ask (NULL until then) */
	char *sni;         /* the server name, likewise */
	/* server: the ClientHello is read (hello.c) before wolfSSL exists; see tlsio__tls_handshake */
	int hello_state;   /* HELLO_WAIT, HELLO_HELD (the caller is choosing), HELLO_PASSED */
	int hello_inspect; /* stop at HELLO_HELD for the caller */
	tlsio__hello *hello;          /* while the hello is read and decided on; NULL after */
	tlsio__hello_reader hello_rd; /* where the reader stopped in the input so far */
	int chain;         /* server: the index of the certificate chain in use */
	char *alpn_choice; /* server: what alpn_select chose; alpn_none: it chose none */
	int alpn_none;
	char *sess_key;    /* client: the session cache's key ("identity:port"), NULL: no cache */
	int ticket_new;    /* a NewSessionTicket came (tls_ticket_seen) and is not cached yet */
	uint8_t *resume_der; /* the leaf of the session offered, for a resumed handshake */
	size_t resume_der_len;
	int sid_state;     /* client: a TLS 1.2 ticket offered, and ticket_check() not done */
};

enum { SID_NONE, SID_OFFERED, SID_DONE };

enum { HELLO_WAIT, HELLO_HELD, HELLO_PASSED };

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_init_rc;

/* tlsio_crypto_heap_count(): wolfSSL's allocations through counting wrappers. They must be in
 * place before wolfSSL allocates anything, or the frees of uncounted blocks would drive the
 * count below what is held: the lock orders "allocators installed" before "wolfSSL_Init". */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static int tls_started;                /* under heap_lock */
static atomic_int heap_counting;
static atomic_llong heap_in_use;

static void *heap_malloc(size_t n)
{
	void *p = malloc(n);
	if (p != NULL)
		atomic_fetch_add_explicit(&heap_in_use, (long long)malloc_usable_size(p), memory_order_relaxed);
	return p;
}

static void heap_free(void *p)
{
	if (p != NULL)
		atomic_fetch_sub_explicit(&heap_in_use, (long long)malloc_usable_size(p), memory_order_relaxed);
	free(p);
}

static void *heap_realloc(void *p, size_t n)
{
	size_t old = p != NULL ? malloc_usable_size(p) : 0;
	void *q = realloc(p, n);
	if (q != NULL || n == 0)
		atomic_fetch_add_explicit(&heap_in_use,
		                          (long long)(q != NULL ? malloc_usable_size(q) : 0) - (long long)old,
		                          memory_order_relaxed);
	return q;
}

int tlsio_crypto_heap_count(void)
{
	int rc = 0;
	pthread_mutex_lock(&heap_lock);
	if (atomic_load(&heap_counting))
		rc = 0;
	else if (tls_started)
		rc = -EBUSY;
	else if (wolfSSL_SetAllocators(heap_malloc, heap_free, heap_realloc) != 0)
		rc = -ENOTSUP; /* a wolfSSL built without its allocator hooks (static memory) */
	else
		atomic_store(&heap_counting, 1);
	pthread_mutex_unlock(&heap_lock);
	return rc;
}

int64_t tlsio_crypto_heap_in_use(void)
{
	if (!atomic_load_explicit(&heap_counting, memory_order_acquire))
		return -ENOENT;
	return atomic_load_explicit(&heap_in_use, memory_order_relaxed);
}

static void tls_global_init(void)
{
	pthread_mutex_lock(&heap_lock);
	tls_started = 1;
	pthread_mutex_unlock(&heap_lock);
	tls_init_rc = wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : TLSIO_E_TLS_CONFIG;
}

void tlsio__tls_thread_cleanup(void)
{
#if defined(HAVE_ECC) && defined(FP_ECC)
	wc_ecc_fp_free();
#endif
}

/* Copy up to @p n bytes of the input not yet consumed, without consuming them. */
static size_t in_peek(const tlsio__tls *t, uint8_t *buf, size_t n)
{
	size_t a = t->in_end - t->in_start, k = a < n ? a : n, b;
	if (k > 0)
		memcpy(buf, t->in + t->in_start, k);
	b = n - k < t->ext_len ? n - k : t->ext_len;
	if (b > 0)
		memcpy(buf + k, t->ext, b);
	return k + b;
}

/* wolfSSL 5.5.4's TLS 1.2 client takes any ServerHello for a resumption once it offered a
 * ticket (DSH_CheckSessionId: "ticketLen > 0"), so a server that cannot read the ticket (its
 * key rotated, another server behind the name) and does a full handshake fails it with an out
 * of order message. The session IDs cannot tell (wolfSSL offers a ticket with an empty one,
 * and its servers echo that), what follows the ServerHello does: a Certificate (or another
 * message of a full handshake) means the ticket was not taken, and it is dropped from the offer
 * before wolfSSL reads the ServerHello. 0 go on, 1 wait for more input. */
static int ticket_check(tlsio__tls *t)
{
	static const uint8_t hrr[32] = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
	                                0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
	                                0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};
	uint8_t h[1100];
	size_t got = in_peek(t, h, sizeof(h)), rl, hl, next;
	unsigned type;
	if (got < 5 + 4 + 2 + 32)
		goto more;
	rl = (size_t)h[3] << 8 | h[4];
	hl = (size_t)h[6] << 16 | (size_t)h[7] << 8 | h[8];
	/* a ServerHello whole in its record, and no HelloRetryRequest (nothing follows one) */
	if (h[0] != 22 || h[5] != 2 || 4 + hl > rl || 9 + hl + 6 > sizeof(h) ||
	    memcmp(h + 11, hrr, sizeof(hrr)) == 0)
		goto done;
	next = 9 + hl;
	if (next < 5 + rl) {
		if (got < next + 1)
			goto more;
		type = h[next];
	} else {
		if (got < next + 6)
			goto more;
		type = h[next] == 22 ? h[next + 5] : 0; /* a ChangeCipherSpec: resumed */
	}
	/* certificate, server_key_exchange, certificate_request, server_hello_done */
	if (type >= 11 && type <= 14) {
#ifdef HAVE_SESSION_TICKET
		(void)wolfSSL_set_SessionTicket(t->ssl, NULL, 0);
#endif
	}
done:
	t->sid_state = SID_DONE;
	return 0;
more:
	if (t->eof)
		goto done;
	return 1;
}

/* wolfSSL asks for exactly what it needs next (a record header, then its body); serve from the
 * owned input, then from the borrowed one, and say WANT_READ when both run dry, which makes the
 * handshake/read call return. A short answer is fine: wolfSSL asks again for the rest. */
static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	tlsio__tls *t = ctx;
	size_t avail = t->in_end - t->in_start;
	(void)ssl;
	if (t->sid_state == SID_OFFERED && ticket_check(t))
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (avail > 0) {
		if ((size_t)sz > avail)
			sz = (int)avail;
		memcpy(buf, t->in + t->in_start, (size_t)sz);
		t->in_start += (size_t)sz;
		if (t->in_start == t->in_end)
			t->in_start = t->in_end = 0;
		return sz;
	}
	if (t->ext_len > 0) {
		if ((size_t)sz > t->ext_len)
			sz = (int)t->ext_len;
		memcpy(buf, t->ext, (size_t)sz);
		t->ext += sz;
		t->ext_len -= (size_t)sz;
		return sz;
	}
	return t->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
}

/* wolfSSL may send a second fatal alert after the first (a ClientHello with a bad legacy
 * version gets protocol_version, then illegal_parameter; found by fuzz-core). The peer acts on
 * the first, so that is the one to report, but wolfSSL's alert history keeps only the last.
 * Its info callback would see each one, but only in builds with OPENSSL_EXTRA, which costs
 * every connection a few KiB; the records wolfSSL writes show them in any build: a plaintext
 * alert is a record of type 21 whose body is the 2 bytes (level, description). An encrypted
 * one is longer (or, in TLS 1.3, of type 23) and cannot be read here; for those the history's
 * last alert stands. */
static void note_alerts(tlsio__tls *t, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (t->out_left == 0) {
			size_t k = sizeof(t->out_hdr) - t->out_hdr_len;
			if (k > n)
				k = n;
			memcpy(t->out_hdr + t->out_hdr_len, p, k);
			t->out_hdr_len = (uint8_t)(t->out_hdr_len + k);
			p += k;
			n -= k;
			if (t->out_hdr_len < sizeof(t->out_hdr))
				return;
			t->out_hdr_len = 0;
			t->out_left = (uint16_t)(t->out_hdr[3] << 8 | t->out_hdr[4]);
			continue;
		}
		{
			size_t k = n < t->out_left ? n : t->out_left;
			size_t at = (size_t)((t->out_hdr[3] << 8 | t->out_hdr[4]) - t->out_left);
			/* a 2-byte alert record: level at body[0], description at body[1] */
			if (t->out_hdr[0] == 21 && (t->out_hdr[3] << 8 | t->out_hdr[4]) == 2) {
				if (at == 0)
					t->out_body0 = p[0];
				if (at + k == 2 && t->out_body0 == alert_fatal &&
				    t->first_tx_alert == TLSIO_ALERT_NONE)
					t->first_tx_alert = p[k - 1];
			}
			t->out_left = (uint16_t)(t->out_left - k);
			p += k;
			n -= k;
		}
	}
}

/* Always accepts: the caller's queue has no limit at this layer (backpressure lives in api/). */
static int tls_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	tlsio__tls *t = ctx;
	(void)ssl;
	if (t->out(t->out_arg, (const uint8_t *)buf, (size_t)sz) != 0) {
		t->out_failed = 1;
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	note_alerts(t, (const uint8_t *)buf, (size_t)sz);
	t->wire_out += (size_t)sz;
	return sz;
}

static void config_destroy(tlsio_tls_config *cfg);

void tlsio__tls_config_ref(tlsio_tls_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
}

int tlsio__tls_config_is_server(const tlsio_tls_config *cfg)
{
	return cfg->is_server;
}

int tlsio__tls_config_verifies(const tlsio_tls_config *cfg)
{
	return !cfg->is_server && cfg->verify != TLSIO_VERIFY_NONE;
}

void tlsio_tls_config_free(tlsio_tls_config *cfg)
{
	if (cfg == NULL || atomic_fetch_sub(&cfg->refs, 1) != 1)
		return;
	config_destroy(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Which bulk cipher a server should prefer.
 *
 * Debian's libwolfssl is built without --enable-intelasm: its AES-GCM is portable C (about
 * 160 MB/s per core), slower than its portable ChaCha20-Poly1305, and far slower than the AES-NI
 * path of a build with the assembly (GB/s). Clients (OpenSSL, curl, browsers on x86) offer AES-GCM
 * first because *their* AES is fast, and a wolfSSL server picks in its own order (wolfSSL's
 * default: useClientOrder is off), so a server config that lists ChaCha20 first gets ChaCha20
 * from every client that offers it, while clients that offer only AES still connect. */

/* The AES-NI code must be compiled in *and* the CPU must have the instructions: wolfSSL checks
 * CPUID itself and falls back to C, so the build flag alone does not say which path runs. */
static int tls_aes_accelerated(void)
{
#if defined(WOLFSSL_AESNI) && (defined(__x86_64__) || defined(__i386__))
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	return (c & bit_AES) != 0 && (c & bit_PCLMUL) != 0;
#elif defined(WOLFSSL_ARMASM)
	return 1;
#else
	return 0;
#endif
}

/* ChaCha20 first, then the AEAD and ECDHE suites wolfSSL offers by default, so no client that
 * could connect before is turned away. wolfSSL skips names it was built without. */
static const char tls_chacha_first[] =
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305:"
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:"
	"ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
	"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA";

/* Whether servers without an explicit cipher list get tls_chacha_first. */
static int tls_prefer_chacha(void)
{
#if defined(HAVE_CHACHA) && defined(HAVE_POLY1305)
	return !tls_aes_accelerated();
#else
	return 0;
#endif
}

static pthread_once_t crypto_info_once = PTHREAD_ONCE_INIT;
static char crypto_info[256];

static void crypto_info_init(void)
{
	int aes = tls_aes_accelerated();
	snprintf(crypto_info, sizeof(crypto_info), "wolfSSL %s (%s), AES-GCM %s; servers prefer %s",
	         wolfSSL_lib_version(), TLSIO_WOLFSSL_BUILD,
	         aes ? "accelerated (AES-NI)" : "in portable C (no AES-NI)",
	         tls_prefer_chacha() ? "ChaCha20-Poly1305 (AES-GCM still offered)" : "AES-GCM");
}

const char *tlsio_crypto_info(void)
{
	pthread_once(&crypto_info_once, crypto_info_init);
	return crypto_info;
}

static WOLFSSL_METHOD *tls_method(int is_server, int min, int max)
{
	if (max == TLSIO_TLS_1_2)
		return is_server ? wolfTLSv1_2_server_method() : wolfTLSv1_2_client_method();
	if (min == TLSIO_TLS_1_3)
		return is_server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method();
	return is_server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
}

/* ------------------------------------------------------------------------------------------ */
/* Peer certificates */

/* wolfSSL's verification error as an enum tlsio_cert_error. Builds with
 * OPENSSL_COMPATIBLE_DEFAULTS (Debian's) hand the callback X509_V_ERR_* numbers instead of
 * wolfSSL's codes; the handshake's own error is always wolfSSL's. */
static int cert_error_of(int err, int x509_numbers)
{
	if (x509_numbers) {
		switch (err) {
		case 0: return TLSIO_CERT_OK;
		/* ..._CERT_NOT_YET_VALID, and ..._ERROR_IN_CERT_NOT_BEFORE_FIELD, which 5.5.4 uses */
		case 9: case 13: return TLSIO_CERT_NOT_YET_VALID;
		/* ..._CERT_HAS_EXPIRED, and ..._ERROR_IN_CERT_NOT_AFTER_FIELD */
		case 10: case 14: return TLSIO_CERT_EXPIRED;
		case 4: case 7: return TLSIO_CERT_BAD_SIGNATURE; /* ..._SIGNATURE(_FAILURE) */
		case 18: case 19: return TLSIO_CERT_SELF_SIGNED;
		case 2: case 20: case 21: case 27: return TLSIO_CERT_UNKNOWN_CA;
		case 22: case 25: return TLSIO_CERT_CHAIN_TOO_LONG;
		case 62: case 64: return TLSIO_CERT_NAME_MISMATCH; /* HOSTNAME / IP_ADDRESS_MISMATCH */
		default: break;
		}
	}
	switch (err) {
	case 0: return TLSIO_CERT_OK;
	case ASN_AFTER_DATE_E: return TLSIO_CERT_EXPIRED;
	case ASN_BEFORE_DATE_E: return TLSIO_CERT_NOT_YET_VALID;
	case ASN_NO_SIGNER_E: return TLSIO_CERT_UNKNOWN_CA;
	case ASN_SIG_CONFIRM_E:
	case ASN_SIG_OID_E:
	case ASN_SIG_KEY_E:
	case ASN_SIG_HASH_E:
		return TLSIO_CERT_BAD_SIGNATURE;
	case ASN_SELF_SIGNED_E: return TLSIO_CERT_SELF_SIGNED;
	case ASN_PATHLEN_INV_E:
	case ASN_PATHLEN_SIZE_E:
	case MAX_CHAIN_ERROR:
		return TLSIO_CERT_CHAIN_TOO_LONG;
	case NO_PEER_CERT: return TLSIO_CERT_MISSING;
	case DOMAIN_NAME_MISMATCH:
	case IPADDR_MISMATCH:
		return TLSIO_CERT_NAME_MISMATCH;
	case ASN_PARSE_E:
	case ASN_EXPECT_0_E:
	case ASN_BITSTR_E:
	case ASN_UNKNOWN_OID_E:
	case ASN_DATE_SZ_E:
	case ASN_TIME_E:
	case ASN_INPUT_E:
	case BUFFER_E:
		return TLSIO_CERT_MALFORMED;
	default:
		return TLSIO_CERT_OTHER;
	}
}

static void fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* Remember the first verification failure, in words that name the certificate concerned. */
static void cert_failed(tlsio__tls *t, int err, const char *why)
{
	if (t->cert_err != TLSIO_CERT_OK)
		return;
	t->cert_err = err;
	free(t->cert_why);
	t->cert_why = strdup(why);
}

static void cert_failed_at(tlsio__tls *t, int err, int depth, const WOLFSSL_BUFFER_INFO *der)
{
	char why[512], nb[40], na[40];
	tlsio_cert_info *ci = NULL;
	const char *who = depth == 0 ? "the peer's certificate" : "a CA certificate of the chain";
	if (der != NULL && tlsio_cert_info_new(der->buffer, der->length, &ci) == 0) {
		fmt_time(nb, sizeof(nb), ci->not_before);
		fmt_time(na, sizeof(na), ci->not_after);
		switch (err) {
		case TLSIO_CERT_EXPIRED:
			snprintf(why, sizeof(why), "expired: %s (%s) was valid until %s", who, ci->subject, na);
			break;
		case TLSIO_CERT_NOT_YET_VALID:
			snprintf(why, sizeof(why), "not yet valid: %s (%s) is valid from %s", who,
			         ci->subject, nb);
			break;
		case TLSIO_CERT_UNKNOWN_CA:
			snprintf(why, sizeof(why), "unknown CA: %s (%s) was issued by %s, which is not trusted",
			         who, ci->subject, ci->issuer);
			break;
		default:
			snprintf(why, sizeof(why), "%s: %s (%s)", tlsio_cert_error_name(err), who, ci->subject);
			break;
		}
		tlsio_cert_info_free(ci);
	} else {
		snprintf(why, sizeof(why), "%s: %s", tlsio_cert_error_name(err), who);
	}
	cert_failed(t, err, why);
}

/* wolfSSL asks here about each certificate of the peer's chain, the CA certificates first and
 * the peer's own last (depth 0), whether it verified or not (WOLFSSL_ALWAYS_VERIFY_CB). The
 * answer overrides wolfSSL's: a failure stays one, a success at depth 0 still needs the name. */
static int tls_verify_cb(int ok, WOLFSSL_X509_STORE_CTX *store)
{
	tlsio__tls *t = store->userCtx;
	const WOLFSSL_BUFFER_INFO *der = NULL;
	int depth = store->error_depth;
	char why[640];

	if (t == NULL)
		return ok;
	if (store->certs != NULL && depth >= 0 && depth < store->totalCerts)
		der = &store->certs[depth];
	if (depth == 0 && der != NULL && t->peer_der == NULL) {
		t->peer_der = malloc(der->length);
		if (t->peer_der != NULL) {
			memcpy(t->peer_der, der->buffer, der->length);
			t->peer_der_len = der->length;
		}
	}
	if (t->cfg->verify == TLSIO_VERIFY_NONE || (t->cfg->is_server && t->cfg->verify == TLSIO_VERIFY_DEFAULT))
		return 1;
	if (!ok) {
#ifdef OPENSSL_COMPATIBLE_DEFAULTS
		cert_failed_at(t, cert_error_of(store->error, 1), depth, der);
#else
		cert_failed_at(t, cert_error_of(store->error, 0), depth, der);
#endif
		return 0;
	}
	if (depth != 0 || t->peer_name == NULL)
		return 1;
	if (der == NULL) {
		cert_failed(t, TLSIO_CERT_MALFORMED, "the peer's certificate is not available to check its name");
		return 0;
	}
	if (tlsio__x509_match(der->buffer, der->length, t->peer_name, why, sizeof(why)) == 1)
		return 1;
	cert_failed(t, strncmp(why, "name mismatch", 13) == 0 ? TLSIO_CERT_NAME_MISMATCH : TLSIO_CERT_MALFORMED,
	            why);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration files: read by us, so that an error can say which file and why (wolfSSL's own
 * file loaders answer only "bad file"), then handed to wolfSSL as buffers. */

#define MAX_FILE (16u * 1024 * 1024)

/* The sentence behind the last failed tlsio_tls_config_new() on this thread. */
static _Thread_local char cfg_why[512];

static int cfg_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cfg_why, sizeof(cfg_why), fmt, ap);
	va_end(ap);
	return TLSIO_E_TLS_CONFIG;
}

/* wolfSSL's reason for a failed load: its functions answer WOLFSSL_FAILURE or an error code. */
/* Secrets (keys, passphrases, ticket keys, key-log lines) are wiped through a volatile pointer:
 * a plain memset before free() or the end of a buffer's life is one the compiler may drop. */
static void *(*const volatile tls_memset)(void *, int, size_t) = memset;
static void tls_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		tls_memset(p, 0, n);
}

static const char *wolf_reason(int ret)
{
	const char *r;
	/* the return codes of wolfSSL's loading API are no error numbers of its string table */
	switch (ret) {
	case WOLFSSL_BAD_FILE:
		return "its content is not a well-formed certificate or key (bad base64 or DER)";
	case WOLFSSL_BAD_FILETYPE:
		return "not of the expected type (PEM or DER)";
	case WOLFSSL_BAD_CERTTYPE:
		return "a certificate of a kind wolfSSL does not take";
	default:
		break;
	}
	r = ret < 0 ? wolfSSL_ERR_reason_error_string((unsigned long)ret) : NULL;
	return r != NULL && r[0] != '\0' && strcmp(r, "unknown error number") != 0 ? r
	                                                                          : "refused by wolfSSL";
}

static int read_file(const char *what, const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd, rc = 0;

	*buf = NULL;
	/* O_NONBLOCK: a FIFO without a writer must not hang us; regular files ignore it */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return cfg_fail("cannot read the %s file '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = cfg_fail("cannot read the %s file '%s': %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cfg_fail("the %s file '%s' is not a regular file", what, path);
		goto out;
	}
	if ((uint64_t)st.st_size > MAX_FILE) {
		rc = cfg_fail("the %s file '%s' is larger than 16 MiB", what, path);
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = cfg_fail("cannot read the %s file '%s': %s", what, path,
			              n < 0 ? strerror(errno) : "it shrank while being read");
			goto out;
		}
		got += (size_t)n;
	}
	(*buf)[got] = '\0';
	*len = got;
	if (got == 0)
		rc = cfg_fail("the %s file '%s' is empty", what, path);
out:
	close(fd);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* Does the PEM text hold a block whose label ends in @p label ("CERTIFICATE", "PRIVATE KEY")?
 * Otherwise say what it holds instead. @p desc names the source ("the certificate file 'x'").
 * 0, 1 for a PKCS#8 encrypted private key, or <0. */
static int pem_check(const char *desc, const uint8_t *buf, size_t len, const char *label)
{
	const char *p = (const char *)buf, *end = p + len, *first = NULL;
	size_t ll = strlen(label);
	while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11)) != NULL) {
		const char *q = p + 11, *dash = memmem(q, (size_t)(end - q), "-----", 5);
		if (dash == NULL)
			break;
		if (first == NULL)
			first = q;
		if ((size_t)(dash - q) >= ll && memcmp(dash - ll, label, ll) == 0) {
			if (strcmp(label, "PRIVATE KEY") == 0 &&
			    memmem(dash, (size_t)(end - dash), "Proc-Type: 4,ENCRYPTED", 22) != NULL)
				return cfg_fail("%s holds a private key in OpenSSL's old encrypted format "
				                "(Proc-Type: 4,ENCRYPTED), which libtlsio does not read: convert "
				                "it to PKCS#8 with 'openssl pkey -aes256'", desc);
			return strcmp(label, "PRIVATE KEY") == 0 && dash - q > 10 &&
			       memcmp(q, "ENCRYPTED ", 10) == 0;
		}
		p = dash;
	}
	if (first == NULL)
		return cfg_fail("%s is not PEM (no '-----BEGIN' line)", desc);
	return cfg_fail("%s holds no %s (its first PEM block is '%.*s')", desc,
	                strcmp(label, "PRIVATE KEY") == 0 ? "private key" : "certificate",
	                (int)(strcspn(first, "-\n") < 40 ? strcspn(first, "-\n") : 40), first);
}

static int is_pem(const uint8_t *buf, size_t len)
{
	return memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/* One input of the configuration, from a file or from memory; *buf is NUL-terminated and the
 * caller's to free (NULL: neither was given). @p desc gets the words that name it. */
static int source_read(const char *what, const char *field, const char *path, const void *mem,
                       size_t mem_len, uint8_t **buf, size_t *len, char *desc, size_t desc_len)
{
	*buf = NULL;
	*len = 0;
	if (path != NULL && mem != NULL)
		return cfg_fail("the %s is given twice (a file and tlsio_tls_opts.%s): give one", what, field);
	if (path != NULL) {
		snprintf(desc, desc_len, "the %s file '%s'", what, path);
		return read_file(what, path, buf, len);
	}
	if (mem == NULL)
		return 0;
	snprintf(desc, desc_len, "the %s in memory (tlsio_tls_opts.%s)", what, field);
	if (mem_len == 0 || mem_len > MAX_FILE)
		return cfg_fail("%s is %s", desc, mem_len == 0 ? "empty" : "larger than 16 MiB");
	*buf = malloc(mem_len + 1);
	if (*buf == NULL)
		return -ENOMEM;
	memcpy(*buf, mem, mem_len);
	(*buf)[mem_len] = '\0';
	*len = mem_len;
	return 0;
}

/* Does the private key (DER) belong to the certificate (DER)? 1 yes, 0 no, -1 cannot tell (a
 * key type not handled here: wolfSSL's own check decides). Ours, because wolfSSL 5.5.4's
 * wolfSSL_CTX_check_private_key accepts another P-256 key (its ECC check compares nothing it
 * derived from the private key): the public key is computed from the private one and compared.
 * *@p type gets the key's TLSIO__KEY_* (0 if unknown). */
static int key_matches_cert(const uint8_t *cder, size_t cn, const uint8_t *kder, size_t kn,
                            unsigned *type)
{
	uint8_t a[1024], b[1024];
	const uint8_t *spki;
	size_t spki_len;
	word32 idx = 0, al = sizeof(a), bl = sizeof(b), el = 8;
	uint8_t e[8];
	int rc = -1;

	*type = 0;
	if (tlsio__x509_spki(cder, cn, &spki, &spki_len) < 0)
		return -1;
	/* PKCS#8 wraps the key: the decoders below want what is inside (idx moves to it) */
	if (wc_GetPkcs8TraditionalOffset((byte *)kder, &idx, (word32)kn) < 0)
		idx = 0;
#ifdef HAVE_ECC
	{
		ecc_key k, pub;
		word32 i2 = idx, p2 = 0;
		if (wc_ecc_init(&k) == 0) {
			if (wc_EccPrivateKeyDecode(kder, &i2, &k, (word32)kn) == 0 &&
			    wc_ecc_make_pub(&k, NULL) == 0 && wc_ecc_export_x963(&k, a, &al) == 0) {
				rc = 0;
				*type = TLSIO__KEY_EC;
				if (wc_ecc_init(&pub) == 0) {
					if (wc_EccPublicKeyDecode(spki, &p2, &pub, (word32)spki_len) == 0 &&
					    wc_ecc_export_x963(&pub, b, &bl) == 0 && al == bl && memcmp(a, b, al) == 0)
						rc = 1;
					wc_ecc_free(&pub);
				}
			}
			wc_ecc_free(&k);
		}
		if (rc >= 0)
			return rc;
	}
#endif
#ifndef NO_RSA
	{
		RsaKey k, pub;
		word32 i2 = idx, p2 = 0;
		al = sizeof(a);
		bl = sizeof(b);
		if (wc_InitRsaKey(&k, NULL) == 0) {
			if (wc_RsaPrivateKeyDecode(kder, &i2, &k, (word32)kn) == 0 &&
			    wc_RsaFlattenPublicKey(&k, e, &el, a, &al) == 0) {
				rc = 0;
				*type = TLSIO__KEY_RSA;
				if (wc_InitRsaKey(&pub, NULL) == 0) {
					el = sizeof(e);
					if (wc_RsaPublicKeyDecode(spki, &p2, &pub, (word32)spki_len) == 0 &&
					    wc_RsaFlattenPublicKey(&pub, e, &el, b, &bl) == 0 && al == bl &&
					    memcmp(a, b, al) == 0)
						rc = 1;
					wc_FreeRsaKey(&pub);
				}
			}
			wc_FreeRsaKey(&k);
		}
	}
#endif
	return rc;
}

/* The private key of @p o as DER in *@p der (the caller wipes and frees it), decrypted with the
 * passphrase callback if it is encrypted. */
static int key_der(const tlsio_tls_opts *o, const uint8_t *pem, size_t len, const char *desc,
                   uint8_t **der, int *der_len)
{
	char pass[1025];
	int enc, n;

	*der = NULL;
	if (!is_pem(pem, len)) {
		*der = malloc(len);
		if (*der == NULL)
			return -ENOMEM;
		memcpy(*der, pem, len);
		*der_len = (int)len;
		return 0;
	}
	enc = pem_check(desc, pem, len, "PRIVATE KEY");
	if (enc < 0)
		return enc;
	*der = malloc(len);
	if (*der == NULL)
		return -ENOMEM;
	if (!enc) {
		*der_len = wc_KeyPemToDer(pem, (int)len, *der, (int)len, NULL);
		return *der_len > 0 ? 0 : cfg_fail("cannot use %s: %s", desc, wolf_reason(*der_len));
	}
#ifndef WOLFSSL_ENCRYPTED_KEYS
	(void)o;
	(void)pass;
	(void)n;
	return cfg_fail("%s is encrypted, and this wolfSSL cannot decrypt keys (built without "
	                "WOLFSSL_ENCRYPTED_KEYS): not available in this wolfSSL", desc);
#else
	if (o->passphrase == NULL)
		return cfg_fail("%s is encrypted and no passphrase callback is set "
		                "(tlsio_tls_opts.passphrase)", desc);
	n = o->passphrase(pass, sizeof(pass) - 1, o->passphrase_user);
	if (n < 0 || n > (int)sizeof(pass) - 1) {
		tls_wipe(pass, sizeof(pass));
		return cfg_fail("no passphrase for %s (the passphrase callback gave up)", desc);
	}
	pass[n] = '\0';
	*der_len = wc_KeyPemToDer(pem, (int)len, *der, (int)len, pass);
	tls_wipe(pass, sizeof(pass));
	if (*der_len <= 0)
		return cfg_fail("cannot decrypt %s: a wrong passphrase, or an encryption this wolfSSL "
		                "lacks (%s)", desc, wolf_reason(*der_len));
	return 0;
#endif
}

/* The certificate chain and private key of @p o into @p ctx; *@p type gets the key's kind.
 * A source without either is an error the caller reports. */
static int load_keypair(WOLFSSL_CTX *ctx, const tlsio_tls_opts *o, unsigned *type)
{
	uint8_t *cert = NULL, *key = NULL, *cder = NULL, *kder = NULL;
	size_t cl = 0, kl = 0;
	int cn = 0, kn = 0, ret, m, rc;
	char cdesc[600], kdesc[600];

	rc = source_read("certificate", "cert", o->cert_file, o->cert, o->cert_len, &cert, &cl, cdesc,
	                 sizeof(cdesc));
	if (rc == 0)
		rc = source_read("private key", "key", o->key_file, o->key, o->key_len, &key, &kl, kdesc,
		                 sizeof(kdesc));
	if (rc < 0)
		goto out;
	if (cert == NULL || key == NULL) {
		rc = cfg_fail(cert == NULL && key == NULL ? "a server needs a certificate and a key "
		                                            "(cert_file and key_file, or cert and key)"
		                                          : "the certificate and the key go together (%s has no %s)",
		              cert != NULL ? cdesc : kdesc, cert != NULL ? "key" : "certificate");
		goto out;
	}
	if (is_pem(cert, cl) || o->cert_file != NULL) {
		if ((rc = pem_check(cdesc, cert, cl, "CERTIFICATE")) < 0)
			goto out;
		ret = wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, cert, (long)cl, WOLFSSL_FILETYPE_PEM);
		cder = malloc(cl);
		if (cder == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		cn = wc_CertPemToDer(cert, (int)cl, cder, (int)cl, CERT_TYPE);
	} else {
		ret = wolfSSL_CTX_use_certificate_buffer(ctx, cert, (long)cl, WOLFSSL_FILETYPE_ASN1);
		cder = cert;
		cert = NULL;
		cn = (int)cl;
	}
	if (ret != WOLFSSL_SUCCESS || cn <= 0) {
		rc = cfg_fail("cannot use %s: %s", cdesc, wolf_reason(ret != WOLFSSL_SUCCESS ? ret : cn));
		goto out;
	}
	if (o->key_file != NULL && !is_pem(key, kl)) {
		rc = pem_check(kdesc, key, kl, "PRIVATE KEY"); /* files are PEM: say what it is */
		goto out;
	}
	if ((rc = key_der(o, key, kl, kdesc, &kder, &kn)) < 0)
		goto out;
	ret = wolfSSL_CTX_use_PrivateKey_buffer(ctx, kder, kn, WOLFSSL_FILETYPE_ASN1);
	if (ret != WOLFSSL_SUCCESS) {
		rc = cfg_fail("cannot use %s: %s", kdesc, wolf_reason(ret));
		goto out;
	}
	/* A key that does not match fails every handshake with a bare decrypt_error; say so now. */
	m = key_matches_cert(cder, (size_t)cn, kder, (size_t)kn, type);
#ifndef NO_CHECK_PRIVATE_KEY
	if (m < 0)
		m = wolfSSL_CTX_check_private_key(ctx) == WOLFSSL_SUCCESS;
#endif
	if (m == 0)
		rc = cfg_fail("%s does not match %s", kdesc, cdesc);
	else
		rc = 0;
out:
	if (kder != NULL) /* key_der allocates the key's length; kn is < 0 after a failure */
		tls_wipe(kder, kl);
	if (key != NULL)
		tls_wipe(key, kl);
	free(kder);
	free(key);
	free(cert);
	free(cder);
	return rc;
}

/* CA certificates from @p buf (PEM, or DER unless @p pem_only) into @p ctx. */
static int load_ca(WOLFSSL_CTX *ctx, const char *desc, const uint8_t *buf, size_t len, int pem_only)
{
	int ret, rc;
	if (is_pem(buf, len) || pem_only) {
		if ((rc = pem_check(desc, buf, len, "CERTIFICATE")) < 0)
			return rc;
		ret = wolfSSL_CTX_load_verify_buffer(ctx, buf, (long)len, WOLFSSL_FILETYPE_PEM);
	} else {
		ret = wolfSSL_CTX_load_verify_buffer(ctx, buf, (long)len, WOLFSSL_FILETYPE_ASN1);
	}
	return ret == WOLFSSL_SUCCESS ? 0 : cfg_fail("cannot use %s: %s", desc, wolf_reason(ret));
}

/* Every regular file of @p dir that holds a PEM certificate. */
static int load_ca_dir(WOLFSSL_CTX *ctx, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0, loaded = 0;
	char path[4096], desc[4200];
	if (d == NULL)
		return cfg_fail("cannot read the CA directory '%s': %s", dir, strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;
		uint8_t *buf;
		size_t len;
		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (read_file("CA", path, &buf, &len) < 0) {
			rc = TLSIO_E_TLS_CONFIG; /* cfg_why says which file and why */
			break;
		}
		if (memmem(buf, len, "-----BEGIN CERTIFICATE-----", 27) != NULL ||
		    memmem(buf, len, "-----BEGIN TRUSTED CERTIFICATE-----", 35) != NULL) {
			snprintf(desc, sizeof(desc), "the CA file '%s'", path);
			rc = load_ca(ctx, desc, buf, len, 1);
			loaded += rc == 0;
		}
		free(buf);
	}
	closedir(d);
	if (rc == 0 && loaded == 0)
		rc = cfg_fail("the CA directory '%s' holds no PEM certificate", dir);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fill_random(uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = getrandom(p, n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Session tickets (servers). Our own callback rather than wolfSSL's default one: its keys are
 * per WOLFSSL_CTX (so one configuration with two chains would not resume across them) and can
 * be neither set nor rotated by the application. */

#if defined(HAVE_SESSION_TICKET) && defined(HAVE_CHACHA) && defined(HAVE_POLY1305) && \
	!defined(NO_WOLFSSL_SERVER)
#define TLS_OWN_TICKETS 1

/* Called with cfg->mu held: a random key is replaced once it has served a lifetime. */
static int ticket_key_auto(tlsio_tls_config *cfg, int64_t now)
{
	if (cfg->tk_own || (cfg->tk_cur.set && now - cfg->tk_cur.born_ms < (int64_t)cfg->ticket_life * 1000))
		return 0;
	if (cfg->tk_cur.set) {
		cfg->tk_prev = cfg->tk_cur;
		cfg->tk_prev.until_ms = now + (int64_t)cfg->ticket_life * 1000;
	}
	if (fill_random(cfg->tk_cur.name, sizeof(cfg->tk_cur.name)) < 0 ||
	    fill_random(cfg->tk_cur.secret, sizeof(cfg->tk_cur.secret)) < 0)
		return -1;
	cfg->tk_cur.set = 1;
	cfg->tk_cur.born_ms = now;
	return 0;
}

static int tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                         unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                         unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                         int len, int *out_len, void *ctx)
{
	tlsio_tls_config *cfg = ctx;
	struct tls_tkey k;
	uint8_t aad[WOLFSSL_TICKET_NAME_SZ + CHACHA20_POLY1305_AEAD_IV_SIZE + 2];
	int64_t now = mono_ms();
	int old = 0, rc;
	(void)ssl;

	/* A server that requires client certificates resumes nothing (see ctx_make): wolfSSL
	 * accepts a TLS 1.3 ticket there all the same, without the certificate, from a session
	 * another configuration with the same ticket key issued. */
	if (cfg->verify == TLSIO_VERIFY_REQUIRED)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	if (len < 0 || len > 0xffff)
		return WOLFSSL_TICKET_RET_REJECT;
	pthread_mutex_lock(&cfg->mu);
	if (enc) {
		rc = ticket_key_auto(cfg, now);
		k = cfg->tk_cur;
	} else if (cfg->tk_cur.set && memcmp(name, cfg->tk_cur.name, sizeof(k.name)) == 0) {
		rc = 0;
		k = cfg->tk_cur;
	} else if (cfg->tk_prev.set && now < cfg->tk_prev.until_ms &&
	           memcmp(name, cfg->tk_prev.name, sizeof(k.name)) == 0) {
		rc = 0;
		k = cfg->tk_prev;
		old = 1;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&cfg->mu);
	/* an unknown key: a full handshake, and a new ticket */
	if (rc < 0 || !k.set)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	if (enc) {
		memcpy(name, k.name, sizeof(k.name));
		if (fill_random(iv, CHACHA20_POLY1305_AEAD_IV_SIZE) < 0) {
			tls_wipe(&k, sizeof(k));
			return WOLFSSL_TICKET_RET_FATAL;
		}
	}
	memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, CHACHA20_POLY1305_AEAD_IV_SIZE);
	aad[sizeof(aad) - 2] = (uint8_t)(len >> 8);
	aad[sizeof(aad) - 1] = (uint8_t)len;
	if (enc) {
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		rc = wc_ChaCha20Poly1305_Encrypt(k.secret, iv, aad, sizeof(aad), ticket, (word32)len,
		                                 ticket, mac);
	} else {
		rc = wc_ChaCha20Poly1305_Decrypt(k.secret, iv, aad, sizeof(aad), ticket, (word32)len,
		                                 mac, ticket);
	}
	tls_wipe(&k, sizeof(k));
	if (rc != 0)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	*out_len = len;
	/* a ticket of the previous key: resume, and give the client one under the new key (TLS
	 * 1.2 needs our help for that: see wolfint.c) */
	if (old)
		(void)tlsio__tls12_ticket_renew(ssl);
	return old ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
}
#endif

int tlsio_tls_ticket_key(tlsio_tls_config *cfg, const uint8_t *key, size_t len, uint32_t grace_s)
{
#ifdef TLS_OWN_TICKETS
	int rc = 0;
	if (cfg == NULL || key == NULL || len != TLSIO_TICKET_KEY_LEN || !cfg->is_server)
		return -EINVAL;
	pthread_mutex_lock(&cfg->mu);
	if (cfg->tk_cur.set && memcmp(cfg->tk_cur.name, key, 16) == 0) {
		if (memcmp(cfg->tk_cur.secret, key + 16, 32) != 0)
			rc = -EEXIST;
		cfg->tk_own = 1; /* the same key again: nothing changes */
	} else {
		if (cfg->tk_cur.set && grace_s > 0) {
			cfg->tk_prev = cfg->tk_cur;
			cfg->tk_prev.until_ms = mono_ms() + (int64_t)grace_s * 1000;
		} else {
			tls_wipe(&cfg->tk_prev, sizeof(cfg->tk_prev));
		}
		memcpy(cfg->tk_cur.name, key, 16);
		memcpy(cfg->tk_cur.secret, key + 16, 32);
		cfg->tk_cur.set = 1;
		cfg->tk_cur.born_ms = mono_ms();
		cfg->tk_own = 1;
	}
	pthread_mutex_unlock(&cfg->mu);
	return rc;
#else
	(void)cfg;
	(void)key;
	(void)len;
	(void)grace_s;
	return -ENOTSUP;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Client session cache. Keyed by "identity:port": a session is offered only to the server it
 * was verified as. */

static void sess_ent_clear(struct tls_sess *e)
{
	for (int i = 0; i < e->n13; i++)
		wolfSSL_SESSION_free(e->s13[i]);
	if (e->s12 != NULL)
		wolfSSL_SESSION_free(e->s12);
	free(e->der);
	free(e->key);
	memset(e, 0, sizeof(*e));
}

/* With cfg->mu held. */
static struct tls_sess *sess_find(tlsio_tls_config *cfg, const char *key)
{
	for (int i = 0; i < cfg->nsess; i++)
		if (strcmp(cfg->sess[i].key, key) == 0)
			return &cfg->sess[i];
	return NULL;
}

/* With cfg->mu held: the entry for @p key, made (the least recently used one evicted) if new. */
static struct tls_sess *sess_get(tlsio_tls_config *cfg, const char *key)
{
	struct tls_sess *e = sess_find(cfg, key);
	char *k;
	if (e != NULL)
		return e;
	k = strdup(key);
	if (k == NULL)
		return NULL;
	if (cfg->nsess < cfg->sess_max) {
		if (cfg->nsess == cfg->sess_cap) {
			int cap = cfg->sess_cap ? cfg->sess_cap * 2 : 8;
			struct tls_sess *n;
			if (cap > cfg->sess_max)
				cap = cfg->sess_max;
			n = realloc(cfg->sess, (size_t)cap * sizeof(*n));
			if (n == NULL) {
				free(k);
				return NULL;
			}
			cfg->sess = n;
			cfg->sess_cap = cap;
		}
		e = &cfg->sess[cfg->nsess++];
		memset(e, 0, sizeof(*e));
	} else {
		e = &cfg->sess[0];
		for (int i = 1; i < cfg->nsess; i++)
			if (cfg->sess[i].used < e->used)
				e = &cfg->sess[i];
		sess_ent_clear(e);
	}
	e->key = k;
	e->used = ++cfg->sess_clock;
	return e;
}

/* With cfg->mu held: keep @p s (the caller's reference moves in). */
static void sess_put(struct tls_sess *e, WOLFSSL_SESSION *s, int tls13)
{
	if (tls13) {
		if (e->n13 == TLS_SESS_PER_SERVER) {
			wolfSSL_SESSION_free(e->s13[0]);
			memmove(e->s13, e->s13 + 1, (TLS_SESS_PER_SERVER - 1) * sizeof(e->s13[0]));
			e->n13--;
		}
		e->s13[e->n13++] = s;
	} else {
		if (e->s12 != NULL)
			wolfSSL_SESSION_free(e->s12);
		e->s12 = s;
	}
}

/* The connection's session into the cache, once it can resume: TLS 1.2 at the end of the
 * handshake, TLS 1.3 when a NewSessionTicket came. */
static void sess_store(tlsio__tls *t)
{
	tlsio_tls_config *cfg = t->cfg;
	WOLFSSL_SESSION *s;
	struct tls_sess *e;
	int tls13 = wolfSSL_version(t->ssl) == TLS1_3_VERSION;
	if (t->sess_key == NULL || (tls13 && !t->ticket_new))
		return;
	t->ticket_new = 0;
	/* TLS 1.3: a copy, since the connection's own session object changes with each
	 * NewSessionTicket, on this thread, while other threads read what the cache holds (and two
	 * tickets would be one object). TLS 1.2 has no ticket after the handshake: the object
	 * stays as it is, and is shared (a copy of it does not resume under wolfSSL 5.5.4). */
	s = !tls13 ? wolfSSL_get1_session(t->ssl)
	    : wolfSSL_get_session(t->ssl) != NULL ? wolfSSL_SESSION_dup(wolfSSL_get_session(t->ssl))
	                                          : NULL;
	if (s == NULL)
		return;
	if (tls13 && !wolfSSL_SESSION_has_ticket(s)) {
		wolfSSL_SESSION_free(s);
		return;
	}
	pthread_mutex_lock(&cfg->mu);
	e = sess_get(cfg, t->sess_key);
	if (e != NULL) {
		sess_put(e, s, tls13);
		s = NULL;
		if (!tls13 && !wolfSSL_session_reused(t->ssl))
			e->s12_born = (int64_t)time(NULL);
		/* the leaf a full handshake verified, for tlsio_conn_peer_cert() after resumption */
		if (t->peer_der != NULL && !wolfSSL_session_reused(t->ssl)) {
			uint8_t *d = malloc(t->peer_der_len);
			if (d != NULL) {
				memcpy(d, t->peer_der, t->peer_der_len);
				free(e->der);
				e->der = d;
				e->der_len = t->peer_der_len;
			}
		}
	}
	pthread_mutex_unlock(&cfg->mu);
	if (s != NULL)
		wolfSSL_SESSION_free(s);
}

static int tls_ticket_seen(WOLFSSL *ssl, const unsigned char *ticket, int len, void *ctx)
{
	tlsio__tls *t = ctx;
	(void)ssl;
	(void)ticket;
	(void)len;
	t->ticket_new = 1; /* the session is complete only once wolfSSL returns: see sess_store */
	return 0;
}

int tlsio__tls_session_key(tlsio__tls *t, const char *key)
{
	tlsio_tls_config *cfg = t->cfg;
	struct tls_sess *e;
	if (cfg->is_server || cfg->sess_max <= 0 || t->ssl == NULL || key == NULL)
		return 0;
	free(t->sess_key);
	t->sess_key = strdup(key);
	if (t->sess_key == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&cfg->mu);
	e = sess_find(cfg, key);
	if (e != NULL) {
		/* A TLS 1.3 ticket once (RFC 8446 C.4), the newest first; a TLS 1.2 session again. Only
		 * sessions of a version the configuration allows (imports bring any): wolfSSL offers a
		 * session's own version, so a TLS 1.2 session would take a TLS 1.3-only client down to
		 * 1.2. For that reason too a configuration that allows TLS 1.3 offers a TLS 1.2 session
		 * for at most TLS_SESS12_PROBE_S after its full handshake: a server that gained TLS 1.3
		 * since is found at the next full handshake, not never. */
		int can13 = cfg->max_version >= TLSIO_TLS_1_3, can12 = cfg->min_version <= TLSIO_TLS_1_2;
		WOLFSSL_SESSION *s = NULL;
		if (e->n13 > 0 && can13)
			s = e->s13[e->n13 - 1];
		else if (e->s12 != NULL && can12 &&
		         (!can13 || (int64_t)time(NULL) - e->s12_born < TLS_SESS12_PROBE_S))
			s = e->s12;
		if (s != NULL && wolfSSL_set_session(t->ssl, s) == WOLFSSL_SUCCESS) {
			if (s == e->s12 && wolfSSL_SESSION_has_ticket(s))
				t->sid_state = SID_OFFERED; /* see ticket_check() */
			if (e->der != NULL && (t->resume_der = malloc(e->der_len)) != NULL) {
				memcpy(t->resume_der, e->der, e->der_len);
				t->resume_der_len = e->der_len;
			}
		}
		if (s != NULL && e->n13 > 0 && s == e->s13[e->n13 - 1]) {
			wolfSSL_SESSION_free(s);
			e->n13--;
		}
		e->used = ++cfg->sess_clock;
	}
	pthread_mutex_unlock(&cfg->mu);
	return 0;
}

/* Exported sessions: the library's envelope around wolfSSL's encoding, so that an imported
 * session knows its TLS version (which slot it goes to) and the server's leaf certificate
 * (tlsio_conn_peer_cert() after a resumption):
 *   "tlsio-s1" | version (0x03: TLS 1.3, 0x02: TLS 1.2) | leaf length (u32 BE) | leaf DER |
 *   wolfSSL's i2d_SSL_SESSION bytes */
#define SESS_MAGIC "tlsio-s1"
#define SESS_HEAD (sizeof(SESS_MAGIC) - 1 + 1 + 4)
#define SESS_MAX_BYTES 65536

#if defined(HAVE_EXT_CACHE) || defined(OPENSSL_EXTRA)
/* wolfSSL 5.5.4's wolfSSL_d2i_SSL_SESSION checks that each field is in the input, not that it
 * fits the structure it is copied into (a session ID of 255 bytes into 32, a server ID of
 * 65535 into 20, certificates into 2 KiB buffers...): bytes from a file are walked here first,
 * field by field in its order for this build's options, with the structure's sizes. Also the
 * envelope's version must be the session's own. */
static int sess_layout_ok(const uint8_t *d, size_t n, int tls13)
{
	size_t i = 0;
#define NEED(k) do { if (i > n || n - i < (size_t)(k)) return 0; } while (0)
	NEED(1 + 4 + 4 + 1);
	i += 9;
	if (d[i] > 32) /* sessionID[ID_LEN] */
		return 0;
	NEED(1 + d[i] + 48 + 1 + 1);
	i += 1 + d[i] + 48 + 1;
	if (d[i] != 32 && d[i] != 0)
		return 0;
	i += 1 + d[i]; /* altSessionID */
	if (i > n)
		return 0;
#ifdef SESSION_CERTS
	NEED(1);
	{
		unsigned count = d[i++], j;
		if (count > 9) /* certs[MAX_CHAIN_DEPTH], 9 unless a build says otherwise */
			return 0;
		for (j = 0; j < count; j++) {
			size_t l;
			NEED(2);
			l = (size_t)d[i] << 8 | d[i + 1];
			if (l > 2048) /* x509_buffer.buffer[MAX_X509_SIZE]: 2048 at the least */
				return 0;
			NEED(2 + l);
			i += 2 + l;
		}
	}
#endif
#if defined(SESSION_CERTS) || (defined(WOLFSSL_TLS13) && defined(HAVE_SESSION_TICKET))
	NEED(2);
	if (d[i] != 3 || (d[i + 1] == 4) != (tls13 != 0) || d[i + 1] < 3)
		return 0;
	i += 2;
#endif
#if defined(SESSION_CERTS) || !defined(NO_RESUME_SUITE_CHECK) || \
	(defined(WOLFSSL_TLS13) && defined(HAVE_SESSION_TICKET))
	NEED(2);
	i += 2;
#endif
#ifndef NO_CLIENT_CACHE
	NEED(2);
	{
		size_t l = (size_t)d[i] << 8 | d[i + 1];
		if (l > 20) /* serverID[SERVER_ID_LEN] */
			return 0;
		NEED(2 + l);
		i += 2 + l;
	}
#endif
#ifdef OPENSSL_EXTRA
	NEED(1);
	if (d[i] > 32) /* sessionCtx[ID_LEN] */
		return 0;
	NEED(1 + d[i]);
	i += 1 + d[i];
#endif
	(void)i;
	return 1;
#undef NEED
}
#endif

int tlsio_tls_session_export(tlsio_tls_config *cfg, const char *server, uint8_t **out, size_t *len)
{
#if defined(HAVE_EXT_CACHE) || defined(OPENSSL_EXTRA)
	struct tls_sess *e;
	int rc = -ENOENT, n;
	if (cfg == NULL || server == NULL || out == NULL || len == NULL || cfg->is_server ||
	    cfg->sess_max <= 0)
		return -EINVAL;
	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&cfg->mu);
	e = sess_find(cfg, server);
	if (e != NULL && (e->n13 > 0 || e->s12 != NULL)) {
		int tls13 = e->n13 > 0;
		WOLFSSL_SESSION *s = tls13 ? e->s13[e->n13 - 1] : e->s12;
		size_t head = SESS_HEAD + e->der_len;
		n = wolfSSL_i2d_SSL_SESSION(s, NULL);
		rc = n > 0 ? 0 : -EINVAL;
		if (rc == 0 && (*out = malloc(head + (size_t)n)) == NULL)
			rc = -ENOMEM;
		if (rc == 0) {
			uint8_t *b = *out;
			unsigned char *p = b + head;
			memcpy(b, SESS_MAGIC, sizeof(SESS_MAGIC) - 1);
			b[8] = tls13 ? 0x03 : 0x02;
			b[9] = (uint8_t)(e->der_len >> 24);
			b[10] = (uint8_t)(e->der_len >> 16);
			b[11] = (uint8_t)(e->der_len >> 8);
			b[12] = (uint8_t)e->der_len;
			if (e->der_len > 0)
				memcpy(b + SESS_HEAD, e->der, e->der_len);
			if (wolfSSL_i2d_SSL_SESSION(s, &p) != n) {
				free(*out);
				*out = NULL;
				rc = -EINVAL;
			} else {
				*len = head + (size_t)n;
				if (tls13) { /* a ticket is used once: the bytes have it now */
					wolfSSL_SESSION_free(s);
					e->n13--;
				}
			}
		}
	}
	pthread_mutex_unlock(&cfg->mu);
	return rc;
#else
	(void)cfg;
	(void)server;
	(void)out;
	(void)len;
	return -ENOTSUP;
#endif
}

int tlsio_tls_session_import(tlsio_tls_config *cfg, const char *server, const uint8_t *data,
                             size_t len)
{
#if defined(HAVE_EXT_CACHE) || defined(OPENSSL_EXTRA)
	WOLFSSL_SESSION *s;
	const unsigned char *p;
	struct tls_sess *e;
	uint8_t *der = NULL;
	size_t der_len;
	long t0, life;
	int tls13;
	if (cfg == NULL || server == NULL || data == NULL || len <= SESS_HEAD || len > SESS_MAX_BYTES ||
	    cfg->is_server || cfg->sess_max <= 0 ||
	    memcmp(data, SESS_MAGIC, sizeof(SESS_MAGIC) - 1) != 0 || (data[8] != 0x02 && data[8] != 0x03))
		return -EINVAL;
	tls13 = data[8] == 0x03;
	der_len = (size_t)data[9] << 24 | (size_t)data[10] << 16 | (size_t)data[11] << 8 | data[12];
	if (der_len >= len - SESS_HEAD)
		return -EINVAL;
	p = data + SESS_HEAD + der_len;
	if (!sess_layout_ok(p, len - SESS_HEAD - der_len, tls13))
		return -EINVAL;
	s = wolfSSL_d2i_SSL_SESSION(NULL, &p, (long)(len - SESS_HEAD - der_len));
	if (s == NULL)
		return -EINVAL;
	t0 = wolfSSL_SESSION_get_time(s);
	life = wolfSSL_SESSION_get_timeout(s);
	if (t0 <= 0 || p != data + len) {
		wolfSSL_SESSION_free(s);
		return -EINVAL;
	}
	if ((long)time(NULL) > t0 + life) {
		wolfSSL_SESSION_free(s);
		return -ESTALE;
	}
	if (tls13 ? cfg->max_version < TLSIO_TLS_1_3 : cfg->min_version > TLSIO_TLS_1_2) {
		wolfSSL_SESSION_free(s);
		return -EPROTO;
	}
	if (der_len > 0 && (der = malloc(der_len)) == NULL) {
		wolfSSL_SESSION_free(s);
		return -ENOMEM;
	}
	if (der != NULL)
		memcpy(der, data + SESS_HEAD, der_len);
	pthread_mutex_lock(&cfg->mu);
	e = sess_get(cfg, server);
	if (e != NULL) {
		sess_put(e, s, tls13);
		if (!tls13)
			e->s12_born = (int64_t)t0;
		if (der != NULL) {
			free(e->der);
			e->der = der;
			e->der_len = der_len;
			der = NULL;
		}
	}
	pthread_mutex_unlock(&cfg->mu);
	free(der);
	if (e == NULL) {
		wolfSSL_SESSION_free(s);
		return -ENOMEM;
	}
	return 0;
#else
	(void)cfg;
	(void)server;
	(void)data;
	(void)len;
	return -ENOTSUP;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* The SNI map (tlsio_tls_config_add_name) */

static int name_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 253)
		return 0;
	if (p[0] == '*') {
		if (p[1] != '.' || p[2] == '\0')
			return 0;
		p += 2;
	}
	for (const char *q = p; *q != '\0'; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		      *q == '-' || (*q == '.' && q != p && q[1] != '\0' && q[1] != '.')))
			return 0;
	return 1;
}

int tlsio_tls_config_add_name(tlsio_tls_config *server_cfg, const char *pattern, tlsio_tls_config *cfg)
{
	struct tls_name *n;
	int rc = 0;
	if (server_cfg == NULL || cfg == NULL || pattern == NULL || !server_cfg->is_server ||
	    !cfg->is_server || cfg == server_cfg || !name_ok(pattern))
		return -EINVAL;
	pthread_mutex_lock(&cfg->mu);
	if (cfg->nnames > 0)
		rc = -EINVAL; /* one level: a map's configurations have no map */
	pthread_mutex_unlock(&cfg->mu);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&server_cfg->mu);
	for (int i = 0; i < server_cfg->nnames; i++)
		if (strcasecmp(server_cfg->names[i].pattern, pattern) == 0)
			rc = -EEXIST;
	if (rc == 0 && server_cfg->nnames == TLS_MAX_NAMES)
		rc = -ENOMEM;
	if (rc == 0 && server_cfg->names == NULL &&
	    (server_cfg->names = calloc(TLS_MAX_NAMES, sizeof(*server_cfg->names))) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		n = &server_cfg->names[server_cfg->nnames];
		n->pattern = strdup(pattern);
		if (n->pattern == NULL) {
			rc = -ENOMEM;
		} else {
			n->cfg = cfg;
			tlsio__tls_config_ref(cfg);
			/* published last: a handshake on another thread reads nnames under the lock */
			server_cfg->nnames++;
		}
	}
	pthread_mutex_unlock(&server_cfg->mu);
	return rc;
}

/* The map's configuration for @p sni, or NULL. Entries are never removed while @p cfg lives,
 * so the pointer stays good as long as the connection holds @p cfg. */
static tlsio_tls_config *names_match(tlsio_tls_config *cfg, const char *sni)
{
	tlsio_tls_config *hit = NULL;
	const char *dot;
	if (sni == NULL || sni[0] == '\0')
		return NULL;
	dot = strchr(sni, '.');
	pthread_mutex_lock(&cfg->mu);
	for (int i = 0; i < cfg->nnames && hit == NULL; i++)
		if (strcasecmp(cfg->names[i].pattern, sni) == 0)
			hit = cfg->names[i].cfg;
	for (int i = 0; i < cfg->nnames && hit == NULL && dot != NULL && dot != sni; i++)
		if (cfg->names[i].pattern[0] == '*' && strcasecmp(cfg->names[i].pattern + 1, dot) == 0)
			hit = cfg->names[i].cfg;
	pthread_mutex_unlock(&cfg->mu);
	return hit;
}

/* ------------------------------------------------------------------------------------------ */
/* Key logging (NSS key log format) */

static void keylog_secret(tlsio__tls *t, const char *label, const uint8_t *secret, size_t n)
{
	uint8_t cr[32];
	char line[64 + 2 * 32 + 2 * 64 + 4];
	size_t at;
	static const char hex[] = "0123456789abcdef";
	if (n > 64 || wolfSSL_get_client_random(t->ssl, cr, sizeof(cr)) != sizeof(cr))
		return;
	at = (size_t)snprintf(line, sizeof(line), "%s ", label);
	for (size_t i = 0; i < sizeof(cr); i++) {
		line[at++] = hex[cr[i] >> 4];
		line[at++] = hex[cr[i] & 15];
	}
	line[at++] = ' ';
	for (size_t i = 0; i < n; i++) {
		line[at++] = hex[secret[i] >> 4];
		line[at++] = hex[secret[i] & 15];
	}
	line[at] = '\0';
	t->cfg->keylog(line, t->cfg->keylog_user);
	tls_wipe(line, sizeof(line));
}

#ifdef HAVE_SECRET_CALLBACK
static int tls13_secret_cb(WOLFSSL *ssl, int id, const unsigned char *secret, int n, void *ctx)
{
	static const char *const labels[] = {
		[CLIENT_EARLY_TRAFFIC_SECRET] = "CLIENT_EARLY_TRAFFIC_SECRET",
		[CLIENT_HANDSHAKE_TRAFFIC_SECRET] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
		[SERVER_HANDSHAKE_TRAFFIC_SECRET] = "SERVER_HANDSHAKE_TRAFFIC_SECRET",
		[CLIENT_TRAFFIC_SECRET] = "CLIENT_TRAFFIC_SECRET_0",
		[SERVER_TRAFFIC_SECRET] = "SERVER_TRAFFIC_SECRET_0",
		[EARLY_EXPORTER_SECRET] = "EARLY_EXPORTER_SECRET",
		[EXPORTER_SECRET] = "EXPORTER_SECRET",
	};
	(void)ssl;
	if (id >= 0 && id < (int)(sizeof(labels) / sizeof(labels[0])) && labels[id] != NULL && n > 0)
		keylog_secret(ctx, labels[id], secret, (size_t)n);
	return 0;
}
#endif

/* The end of a handshake: TLS 1.2's one secret, then the arrays kept for it go. */
static void keylog_done(tlsio__tls *t)
{
	const uint8_t *ms;
	size_t n;
	if (t->cfg->keylog == NULL)
		return;
	if (wolfSSL_version(t->ssl) != TLS1_3_VERSION && tlsio__tls12_master_secret(t->ssl, &ms, &n) == 0)
		keylog_secret(t, "CLIENT_RANDOM", ms, n);
	wolfSSL_FreeArrays(t->ssl);
}

/* ------------------------------------------------------------------------------------------ */

/* One WOLFSSL_CTX of a configuration: the settings of @p opts with the chain of @p chain. */
static int ctx_make(tlsio_tls_config *cfg, const tlsio_tls_opts *opts, const tlsio_tls_opts *chain,
                    int min, int max, int index)
{
	int is_server = cfg->is_server, rc;
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(tls_method(is_server, min, max));
	if (ctx == NULL)
		return cfg_fail("wolfSSL_CTX_new failed");
	cfg->ctx[index] = ctx; /* freed with cfg */
	if (min == TLSIO_TLS_1_2 && max == TLSIO_TLS_1_3 &&
	    wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
		return cfg_fail("cannot set the minimum TLS version");
	wolfSSL_CTX_SetIORecv(ctx, tls_recv_cb);
	wolfSSL_CTX_SetIOSend(ctx, tls_send_cb);
	/* A flight leaves in one write (Debian's build does this by default, OPENSSL_COMPATIBLE_
	 * DEFAULTS; the tuned one does not): fewer records to the socket, and an error wolfSSL finds
	 * after it made its ServerHello (an invalid key share, checked only then, returns without
	 * an alert) finds nothing on the wire yet, so tls_fail() can still send a plaintext alert. */
	if (wolfSSL_CTX_set_group_messages(ctx) != WOLFSSL_SUCCESS)
		return cfg_fail("cannot group handshake messages");
	if (chain->cert_file != NULL || chain->key_file != NULL || chain->cert != NULL || chain->key != NULL ||
	    is_server) {
		rc = load_keypair(ctx, chain, &cfg->key_type[index]);
		if (rc < 0)
			return rc;
	}
	if (opts->ca_file != NULL || opts->ca != NULL || opts->ca_dir != NULL) {
		uint8_t *buf;
		size_t len;
		char desc[600];
		rc = source_read("CA", "ca", opts->ca_file, NULL, 0, &buf, &len, desc, sizeof(desc));
		if (rc == 0 && buf != NULL) {
			rc = load_ca(ctx, desc, buf, len, 1);
			free(buf);
		}
		if (rc == 0 && opts->ca != NULL &&
		    (rc = source_read("CA certificates", "ca", NULL, opts->ca, opts->ca_len, &buf, &len, desc,
		                      sizeof(desc))) == 0) {
			rc = load_ca(ctx, desc, buf, len, 0);
			free(buf);
		}
		if (rc == 0 && opts->ca_dir != NULL)
			rc = load_ca_dir(ctx, opts->ca_dir);
		if (rc < 0)
			return rc;
	} else if (!is_server && opts->verify != TLSIO_VERIFY_NONE) {
		/* Without a CA file a verifying client trusts the system store; an empty store is
		 * not an error here, verification will fail later with a clear status. */
		(void)wolfSSL_CTX_load_system_CA_certs(ctx);
	} else if (is_server && opts->verify == TLSIO_VERIFY_REQUIRED) {
		return cfg_fail("a server that requires client certificates needs a ca_file (or ca, "
		                "ca_dir) to check them against");
	}
	/* The callback runs for every peer certificate: it keeps the leaf (tlsio_conn_peer_cert),
	 * says why a verification failed, and checks a client's expected identity. */
	if (opts->verify == TLSIO_VERIFY_NONE || (is_server && opts->verify == TLSIO_VERIFY_DEFAULT))
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, tls_verify_cb);
	else if (is_server)
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                       tls_verify_cb);
	else
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	/* A resumed session sends no certificate: a server that requires one would lose the
	 * client's identity (tlsio_conn_peer_cert), and wolfSSL's TLS 1.2 cache, one table for the
	 * process, would let a session made under another configuration in without any. So a
	 * server that requires client certificates does a full handshake every time. */
	if (is_server && opts->verify == TLSIO_VERIFY_REQUIRED &&
	    (0
#ifndef NO_SESSION_CACHE
	     || wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) != WOLFSSL_SUCCESS
#endif
#ifdef HAVE_SESSION_TICKET
	     || wolfSSL_CTX_NoTicketTLSv12(ctx) != WOLFSSL_SUCCESS
#ifdef WOLFSSL_TLS13
	     /* 0 on success, unlike the others; refused by a TLS 1.2-only method, which has none */
	     || (max == TLSIO_TLS_1_3 && wolfSSL_CTX_no_ticket_TLSv13(ctx) != 0)
#endif
#endif
	     ))
		return cfg_fail("cannot turn session resumption off for a server that requires client "
		                "certificates");
#ifndef NO_SESSION_CACHE
	/* Servers resume by ticket only (as nginx does by default). wolfSSL's session-ID cache is
	 * one table for the process: a session made under one configuration would resume under
	 * another (another certificate, an SNI map's entry), and a TLS 1.2 client offering a ticket
	 * this configuration cannot read would be resumed from the table while it expects a full
	 * handshake (it fails with an out of order message). */
	if (is_server && wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) != WOLFSSL_SUCCESS)
		return cfg_fail("cannot turn the session ID cache off");
#endif
#ifdef TLS_OWN_TICKETS
	if (is_server && (wolfSSL_CTX_set_TicketEncCb(ctx, tls_ticket_cb) != WOLFSSL_SUCCESS ||
	                  wolfSSL_CTX_set_TicketEncCtx(ctx, cfg) != WOLFSSL_SUCCESS ||
	                  wolfSSL_CTX_set_TicketHint(ctx, (int)cfg->ticket_life) != WOLFSSL_SUCCESS))
		return cfg_fail("cannot set up session tickets");
	/* the age wolfSSL accepts a ticket at (its own default is 500 s); no status to check: with
	 * OPENSSL_EXTRA (Debian's build) it returns the previous timeout, as OpenSSL's does */
	if (is_server)
		(void)wolfSSL_CTX_set_timeout(ctx, cfg->ticket_life);
#endif
#if defined(WOLFSSL_EARLY_DATA) && defined(WOLFSSL_TLS13)
	/* 0-RTT data can be replayed: never accepted */
	if (max == TLSIO_TLS_1_3 && wolfSSL_CTX_set_max_early_data(ctx, 0) != WOLFSSL_SUCCESS)
		return cfg_fail("cannot turn early data off");
#endif
	if (opts->ciphers != NULL && wolfSSL_CTX_set_cipher_list(ctx, opts->ciphers) != WOLFSSL_SUCCESS)
		return cfg_fail("cipher list '%s' not understood by wolfSSL", opts->ciphers);
	/* An explicit list is the caller's choice; only the default changes with the crypto path. */
	if (opts->ciphers == NULL && is_server && tls_prefer_chacha() &&
	    wolfSSL_CTX_set_cipher_list(ctx, tls_chacha_first) != WOLFSSL_SUCCESS)
		return cfg_fail("cannot set the ChaCha20-first cipher list");
	return 0;
}

static void config_destroy(tlsio_tls_config *cfg)
{
	for (int i = 0; i < TLS_MAX_CHAINS; i++)
		if (cfg->ctx[i] != NULL)
			wolfSSL_CTX_free(cfg->ctx[i]);
	for (int i = 0; i < cfg->nsess; i++)
		sess_ent_clear(&cfg->sess[i]);
	free(cfg->sess);
	for (int i = 0; i < cfg->nnames; i++) {
		free(cfg->names[i].pattern);
		tlsio_tls_config_free(cfg->names[i].cfg);
	}
	free(cfg->names);
	tls_wipe(&cfg->tk_cur, sizeof(cfg->tk_cur));
	tls_wipe(&cfg->tk_prev, sizeof(cfg->tk_prev));
	pthread_mutex_destroy(&cfg->mu);
	free(cfg->alpn);
	free(cfg);
}

/* The chain options of more_certs[i]: only the key pair may be set. Field by field: the
 * structure's padding is whatever the caller's memory held. */
static int chain_opts(const tlsio_tls_opts *user, tlsio_tls_opts *o, int i)
{
	int rc = tlsio__struct_in(o, sizeof(*o), user);
	if (rc < 0)
		return cfg_fail("more_certs[%d]: struct_size not set, or a field this libtlsio does not know", i);
	if (o->ca_file != NULL || o->min_version != 0 || o->max_version != 0 || o->verify != 0 ||
	    o->alpn != NULL || o->ciphers != NULL || o->ca != NULL || o->ca_len != 0 ||
	    o->ca_dir != NULL || o->more_certs != NULL || o->session_cache != 0 ||
	    o->ticket_lifetime != 0 || o->keylog != NULL || o->keylog_user != NULL ||
	    o->alpn_select != NULL || o->alpn_select_user != NULL)
		return cfg_fail("more_certs[%d] sets more than a certificate and key (cert_file, key_file, "
		                "cert, key, passphrase): the rest of the configuration is the main options'", i);
	return 0;
}

int tlsio_tls_config_new(tlsio_tls_config **out, int is_server, const tlsio_tls_opts *user_opts,
                         const char **err_msg)
{
	tlsio_tls_opts optbuf, *opts = &optbuf, chain;
	tlsio_tls_config *cfg = NULL;
	int min, max, rc;

	*out = NULL;
	cfg_why[0] = '\0';
	rc = tlsio__struct_in(opts, sizeof(*opts), user_opts);
	if (rc < 0) {
		cfg_fail(rc == -EINVAL ? "tlsio_tls_opts.struct_size is not set (initialise the options "
		                         "with TLSIO_TLS_OPTS_INIT)"
		                       : "tlsio_tls_opts sets a field this version of libtlsio does not know");
		goto fail;
	}
	pthread_once(&tls_once, tls_global_init);
	if (tls_init_rc != 0) {
		rc = cfg_fail("wolfSSL_Init failed");
		goto fail;
	}
#ifndef WOLFSSL_ALWAYS_VERIFY_CB
	/* Without it wolfSSL calls the verify callback only for failures, and nothing would check
	 * the server's name: refuse rather than connect unchecked. */
	if (!is_server && opts->verify != TLSIO_VERIFY_NONE) {
		rc = cfg_fail("this wolfSSL was built without WOLFSSL_ALWAYS_VERIFY_CB, so libtlsio "
		              "cannot check the server's name: not available in this wolfSSL");
		goto fail;
	}
#endif
	min = opts->min_version ? opts->min_version : TLSIO_TLS_1_2;
	max = opts->max_version ? opts->max_version : TLSIO_TLS_1_3;
	if ((min != TLSIO_TLS_1_2 && min != TLSIO_TLS_1_3) || (max != TLSIO_TLS_1_2 && max != TLSIO_TLS_1_3) ||
	    min > max) {
		rc = cfg_fail("TLS versions must be 1.2 or 1.3 with min <= max");
		goto fail;
	}
	if (opts->verify < TLSIO_VERIFY_DEFAULT || opts->verify > TLSIO_VERIFY_REQUIRED) {
		rc = cfg_fail("verify must be TLSIO_VERIFY_DEFAULT, _NONE or _REQUIRED");
		goto fail;
	}
	if (opts->ticket_lifetime > 604800) {
		rc = cfg_fail("ticket_lifetime %u is more than 7 days (RFC 8446 4.6.1)", opts->ticket_lifetime);
		goto fail;
	}
	if (!is_server && (opts->more_certs != NULL || opts->alpn_select != NULL)) {
		rc = cfg_fail("%s is for servers", opts->more_certs != NULL ? "more_certs" : "alpn_select");
		goto fail;
	}
	if (opts->keylog != NULL) {
#ifndef HAVE_SECRET_CALLBACK
		if (max == TLSIO_TLS_1_3) {
			rc = cfg_fail("key logging for TLS 1.3 is not available in this wolfSSL (built without "
			              "HAVE_SECRET_CALLBACK); a configuration limited to TLS 1.2 can log its keys");
			goto fail;
		}
#endif
		if (min == TLSIO_TLS_1_2 && !tlsio__tls12_keylog_available()) {
			rc = cfg_fail("key logging for TLS 1.2 is not available in this wolfSSL (no way to "
			              "its master secret: built without OPENSSL_EXTRA, and no internal.h); a "
			              "configuration limited to TLS 1.3 can log its keys");
			goto fail;
		}
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&cfg->refs, 1);
	pthread_mutex_init(&cfg->mu, NULL);
	cfg->is_server = is_server;
	cfg->verify = opts->verify;
	cfg->min_version = min;
	cfg->max_version = max;
	cfg->sess_max = is_server || opts->session_cache < 0 ? 0
	                : opts->session_cache == 0 ? TLS_SESS_DEFAULT : opts->session_cache;
	cfg->ticket_life = opts->ticket_lifetime ? opts->ticket_lifetime : 7200;
	cfg->keylog = opts->keylog;
	cfg->keylog_user = opts->keylog_user;
	cfg->alpn_select = opts->alpn_select;
	cfg->alpn_select_user = opts->alpn_select_user;
	rc = ctx_make(cfg, opts, opts, min, max, 0);
	if (rc < 0)
		goto fail;
	cfg->nchains = 1;
	for (int i = 0; is_server && opts->more_certs != NULL && opts->more_certs[i] != NULL; i++) {
		if (i + 1 == TLS_MAX_CHAINS) {
			rc = cfg_fail("more_certs holds more than %d chains", TLS_MAX_CHAINS - 1);
			goto fail;
		}
		if ((rc = chain_opts(opts->more_certs[i], &chain, i)) < 0 ||
		    (rc = ctx_make(cfg, opts, &chain, min, max, i + 1)) < 0)
			goto fail;
		cfg->nchains++;
	}
	if (opts->alpn != NULL && opts->alpn[0] != '\0') {
		cfg->alpn = strdup(opts->alpn);
		if (cfg->alpn == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	*out = cfg;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(cfg_why, sizeof(cfg_why), "out of memory");
	if (err_msg != NULL)
		*err_msg = cfg_why;
	if (cfg != NULL)
		config_destroy(cfg);
	return rc;
}

static int tls_make_ssl(tlsio__tls *t)
{
	const char *alpn = t->alpn_choice != NULL ? t->alpn_choice : t->alpn_none ? NULL : t->cfg->alpn;
	t->ssl = wolfSSL_new(t->cfg->ctx[t->chain]);
	if (t->ssl == NULL)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	wolfSSL_SetCertCbCtx(t->ssl, t);
	if (alpn != NULL &&
	    wolfSSL_UseALPN(t->ssl, (char *)alpn, (unsigned)strlen(alpn),
	                    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return TLSIO_E_TLS_CONFIG;
	if (t->cfg->keylog != NULL) {
		/* the TLS 1.2 master secret is read once the handshake is done (keylog_done) */
		wolfSSL_KeepArrays(t->ssl);
#ifdef HAVE_SECRET_CALLBACK
		if (wolfSSL_set_tls13_secret_cb(t->ssl, tls13_secret_cb, t) != WOLFSSL_SUCCESS)
			return TLSIO_E_TLS_CONFIG;
#endif
	}
#ifdef HAVE_SESSION_TICKET
	if (!t->cfg->is_server && t->cfg->sess_max > 0 &&
	    (wolfSSL_UseSessionTicket(t->ssl) != WOLFSSL_SUCCESS ||
	     wolfSSL_set_SessionTicket_cb(t->ssl, tls_ticket_seen, t) != WOLFSSL_SUCCESS))
		return -ENOMEM;
#endif
	return 0;
}

/* A fatal alert of our own, as a plaintext record: before wolfSSL exists there is nobody else
 * to send it, and a peer that gets silence cannot tell a refusal from a network fault. */
static int tls_send_alert(tlsio__tls *t, int desc)
{
	const uint8_t rec[7] = {21, 3, 3, 0, 2, 2, (uint8_t)desc};
	t->alert = desc;
	return t->out(t->out_arg, rec, sizeof(rec)) != 0 ? -ENOMEM : 0;
}

int tlsio__tls_new(tlsio__tls **out, tlsio_tls_config *cfg, const char *server_name,
                   tlsio__tls_out_fn fn, void *arg)
{
	tlsio__tls *t = calloc(1, sizeof(*t));
	int rc = -ENOMEM;

	*out = NULL;
	if (t == NULL)
		return -ENOMEM;
	t->cfg = cfg;
	t->out = fn;
	t->out_arg = arg;
	t->alert = TLSIO_ALERT_NONE;
	t->first_tx_alert = TLSIO_ALERT_NONE;
	if (cfg->is_server) {
		*out = t; /* wolfSSL comes once the ClientHello was read */
		return 0;
	}
	t->hello_state = HELLO_PASSED;
	rc = tls_make_ssl(t);
	if (rc < 0)
		goto fail;
	rc = TLSIO_E_TLS_CONFIG;
	if (server_name != NULL && server_name[0] != '\0') {
		size_t n = strlen(server_name);
		/* RFC 6066: SNI carries host names only, never IP literals, and without the
		 * trailing dot of an absolute name. */
		size_t sn = n > 1 && server_name[n - 1] == '.' ? n - 1 : n;
		if (n > 255 || (!tlsio__x509_ip_literal(server_name, NULL, NULL) &&
		                wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, server_name,
		                               (unsigned short)sn) != WOLFSSL_SUCCESS))
			goto fail;
		/* the name is checked in tls_verify_cb, by our rules (x509.c), not wolfSSL's */
		if (cfg->verify != TLSIO_VERIFY_NONE) {
			t->peer_name = strdup(server_name);
			if (t->peer_name == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
		}
	} else if (cfg->verify != TLSIO_VERIFY_NONE) {
		rc = TLSIO_E_NO_IDENTITY; /* nothing to check the certificate against */
		goto fail;
	}
	*out = t;
	return 0;
fail:
	tlsio__tls_free(t);
	return rc;
}

void tlsio__tls_free(tlsio__tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL)
		wolfSSL_free(t->ssl);
	tlsio__hello_reader_free(&t->hello_rd);
	free(t->hello);
	free(t->alpn);
	free(t->sni);
	free(t->in);
	free(t->peer_name);
	free(t->peer_der);
	free(t->cert_why);
	free(t->alpn_choice);
	free(t->sess_key);
	free(t->resume_der);
	free(t);
}

int tlsio__tls_is_server(const tlsio__tls *t)
{
	return t->cfg->is_server;
}

static int tls_append(tlsio__tls *t, const uint8_t *data, size_t len)
{
	size_t used = t->in_end - t->in_start;
	if (len == 0)
		return 0;
	if (t->in_cap - t->in_end < len) {
		if (t->in_start > 0) {
			memmove(t->in, t->in + t->in_start, used);
			t->in_start = 0;
			t->in_end = used;
		}
		if (t->in_cap - t->in_end < len) {
			size_t cap = t->in_cap ? t->in_cap : 32768;
			uint8_t *p;
			while (cap - used < len)
				cap *= 2;
			p = realloc(t->in, cap);
			if (p == NULL)
				return -ENOMEM;
			t->in = p;
			t->in_cap = cap;
		}
	}
	memcpy(t->in + t->in_end, data, len);
	t->in_end += len;
	return 0;
}

/* End a loan early: its unread bytes move into the owned buffer, ahead of anything newer. */
static int tls_unloan(tlsio__tls *t)
{
	const uint8_t *p = t->ext;
	size_t n = t->ext_len;
	t->ext = NULL;
	t->ext_len = 0;
	return tls_append(t, p, n);
}

int tlsio__tls_feed(tlsio__tls *t, const uint8_t *data, size_t len)
{
	int rc = tls_unloan(t);
	return rc < 0 ? rc : tls_append(t, data, len);
}

int tlsio__tls_feed_borrow(tlsio__tls *t, const uint8_t *data, size_t len)
{
	/* A loan is still open further up the stack (input read from inside a callback): copy,
	 * behind the bytes of that loan. */
	if (t->ext != NULL)
		return tlsio__tls_feed(t, data, len);
	t->ext = data;
	t->ext_len = len;
	return 0;
}

int tlsio__tls_feed_end(tlsio__tls *t)
{
	int rc = tls_unloan(t);
	/* Nothing waits: an idle connection keeps no input buffer. */
	if (t->in_start == t->in_end && t->in != NULL) {
		free(t->in);
		t->in = NULL;
		t->in_start = t->in_end = t->in_cap = 0;
	}
	return rc;
}

void tlsio__tls_set_eof(tlsio__tls *t)
{
	t->eof = 1;
}

size_t tlsio__tls_input_len(const tlsio__tls *t)
{
	return t->in_end - t->in_start + t->ext_len;
}

static int is_verify_error(int err)
{
	switch (err) {
	case ASN_NO_SIGNER_E:
	case VERIFY_CERT_ERROR:
	case DOMAIN_NAME_MISMATCH:
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
	case ASN_SIG_CONFIRM_E:
	case ASN_SELF_SIGNED_E:
	case ASN_PATHLEN_INV_E:
	case NO_PEER_CERT:
	case IPADDR_MISMATCH:
	case ASN_SIG_OID_E:
	case ASN_SIG_KEY_E:
	case ASN_SIG_HASH_E:
	case ASN_PATHLEN_SIZE_E:
	case MAX_CHAIN_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* The alert RFC 8446 (6.2, 4.1.2, 4.2) names for a ClientHello wolfSSL refused. */
static int alert_for_hello_error(int err)
{
	switch (err) {
	case VERSION_ERROR:
		return TLSIO_ALERT_PROTOCOL_VERSION;
	case BUFFER_ERROR:
	case BUFFER_E:
	case PARSE_ERROR:
	case LENGTH_ERROR:
	case INCOMPLETE_DATA:
		return TLSIO_ALERT_DECODE_ERROR;
	case BAD_BINDER:
		return TLSIO_ALERT_DECRYPT_ERROR;
	case DUPLICATE_TLS_EXT_E:
	case ECC_PEERKEY_ERROR: /* a key share that is no point on its curve (RFC 8446 4.2.8.2) */
		return TLSIO_ALERT_ILLEGAL_PARAMETER;
	case UNKNOWN_RECORD_TYPE:
	case OUT_OF_ORDER_E:
	case SANITY_MSG_E:
		return TLSIO_ALERT_UNEXPECTED_MESSAGE;
	case MEMORY_E:
	case MEMORY_ERROR:
		return TLSIO_ALERT_INTERNAL_ERROR;
	default:
		return TLSIO_ALERT_HANDSHAKE_FAILURE;
	}
}

static int tls_send_alert(tlsio__tls *t, int desc);

/* Turn a failed wolfSSL call into a status; remembers the alert for on_close. */
static int tls_fail(tlsio__tls *t, int ret)
{
	WOLFSSL_ALERT_HISTORY h;
	int err = wolfSSL_get_error(t->ssl, ret);

	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	if (err == WOLFSSL_ERROR_ZERO_RETURN)
		return TLSIO__TLS_CLOSED;
	t->last_err = err;
	if (t->out_failed)
		return -ENOMEM;
	memset(&h, 0, sizeof(h));
	wolfSSL_get_alert_history(t->ssl, &h);
	if (err == FATAL_ERROR || (h.last_rx.level == alert_fatal && h.last_rx.code > 0)) {
		t->alert = h.last_rx.code;
		return TLSIO_E_ALERT_RECEIVED;
	}
	if (h.last_tx.level == alert_fatal)
		t->alert = t->first_tx_alert != TLSIO_ALERT_NONE ? t->first_tx_alert : h.last_tx.code;
	if (err == SOCKET_PEER_CLOSED_E || (t->eof && tlsio__tls_input_len(t) == 0 && err == SOCKET_ERROR_E))
		return TLSIO_E_EOF_IN_HANDSHAKE;
	/* wolfSSL refused the ClientHello without a word (a duplicate extension, a bad binder, a
	 * malformed body: found by fuzz-core and fuzz-tls). Nothing was sent yet, so no key is in
	 * use on our side and a plaintext alert is the right record: say why, do not just close. */
	if (h.last_tx.level != alert_fatal && t->cfg->is_server && t->wire_out == 0 &&
	    tls_send_alert(t, alert_for_hello_error(err)) < 0)
		return -ENOMEM;
	if (is_verify_error(err)) {
		if (t->cert_err == TLSIO_CERT_OK) {
			char why[160];
			int ce = cert_error_of(err, 0);
			snprintf(why, sizeof(why), "%s: %s", tlsio_cert_error_name(ce),
			         err == NO_PEER_CERT ? "the peer sent no certificate" : wolf_reason(err));
			cert_failed(t, ce, why);
		}
		return TLSIO_E_CERT_VERIFY;
	}
	/* Once the version is settled (the handshake done, or a server that has answered the
	 * ClientHello) a record header with another one is a malformed record (found by
	 * fuzz-record and fuzz-tls), not "no version in common". */
	if (err == VERSION_ERROR && !wolfSSL_is_init_finished(t->ssl) &&
	    !(t->cfg->is_server && t->wire_out > 0))
		return TLSIO_E_VERSION;
	return TLSIO_E_TLS;
}

void tlsio__tls_inspect_hello(tlsio__tls *t)
{
	t->hello_inspect = 1;
}

const tlsio__hello *tlsio__tls_hello(const tlsio__tls *t)
{
	return t->hello_state != HELLO_WAIT ? t->hello : NULL;
}

/* Is @p name one of the offered ALPN protocols ((len8, name)*)? */
static int alpn_offered(const uint8_t *list, size_t len, const char *name)
{
	size_t n = strlen(name);
	for (size_t at = 0; at < len; at += 1 + (size_t)list[at])
		if (list[at] == n && at + 1 + n <= len && memcmp(list + at + 1, name, n) == 0)
			return 1;
	return 0;
}

/* What the ClientHello decides before wolfSSL starts: the configuration of the SNI map, the
 * certificate chain the client can use, the ALPN protocol of alpn_select. */
static int hello_choose(tlsio__tls *t)
{
	const tlsio__hello *h = t->hello;
	tlsio_tls_config *m = names_match(t->cfg, h->server_name);
	unsigned can;
	if (m != NULL)
		t->cfg = m; /* kept alive by the map's owner, which the connection holds */
	can = h->sig_keys;
	if (h->max_version < TLSIO_TLS_1_3 || t->cfg->max_version < TLSIO_TLS_1_3)
		can &= h->suite_keys;
	t->chain = 0;
	for (int i = 0; i < t->cfg->nchains; i++)
		if (t->cfg->key_type[i] & can) {
			t->chain = i;
			break;
		}
	if (t->cfg->alpn_select != NULL && h->alpn_len > 0) {
		const char *p = t->cfg->alpn_select(h->alpn, h->alpn_len, t->cfg->alpn_select_user);
		if (p == NULL || (p[0] != '\0' && !alpn_offered(h->alpn, h->alpn_len, p))) {
			int rc = tls_send_alert(t, TLSIO_ALERT_NO_APPLICATION_PROTOCOL);
			return rc < 0 ? rc : TLSIO_E_REFUSED;
		}
		if (p[0] == '\0')
			t->alpn_none = 1;
		else if ((t->alpn_choice = strdup(p)) == NULL)
			return -ENOMEM;
	}
	return 0;
}

int tlsio__tls_hello_decide(tlsio__tls *t, tlsio_tls_config *cfg, int alert)
{
	int rc;
	if (t->hello_state != HELLO_HELD)
		return 0;
	if (alert > 0) {
		rc = tls_send_alert(t, alert);
		return rc < 0 ? rc : TLSIO_E_REFUSED;
	}
	if (cfg != NULL)
		t->cfg = cfg; /* the caller moved its reference to it */
	rc = hello_choose(t);
	if (rc < 0)
		return rc;
	t->hello_state = HELLO_PASSED;
	/* from here on wolfSSL knows the hello (and its SNI): our copy and the reader's go, so a
	 * connection does not keep ~800 bytes of it for life */
	free(t->hello);
	t->hello = NULL;
	tlsio__hello_reader_free(&t->hello_rd);
	return tls_make_ssl(t);
}

/* wolfSSL cannot read a handshake message whose 4-byte header is split over records: it fails
 * with PARSE_ERROR and sends no alert. A ClientHello sent in records of 1 to 3 bytes is legal
 * (RFC 8446 5.1) and the reader took it, so join its records for wolfSSL into records of up to
 * 2^14 bytes: the handshake bytes and what follows them stay as they are, only the framing of
 * the hello changes. @p in, @p len: the whole input, which the reader found a complete hello in. */
static int tls_reframe_hello(tlsio__tls *t, const uint8_t *in, size_t len)
{
	size_t off = 0, total = 0, need = 0, hl = 0, out_len, pos = 0;
	uint8_t hdr[4], *buf;
	if (len < 5 || ((size_t)in[3] << 8 | in[4]) >= sizeof(hdr))
		return 0; /* the header is whole in the first record: wolfSSL copes */
	while (need == 0 || total < need) {
		size_t n;
		if (len - off < 5)
			return 0; /* not reached: the reader saw the whole hello */
		n = (size_t)in[off + 3] << 8 | in[off + 4];
		if (len - off - 5 < n)
			return 0;
		for (size_t i = 0; i < n && hl < sizeof(hdr); i++)
			hdr[hl++] = in[off + 5 + i];
		total += n;
		off += 5 + n;
		if (need == 0 && hl == sizeof(hdr))
			need = 4 + ((size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3]);
	}
	out_len = total + 5 * ((total + TLSIO__TLS_MAX_PLAIN - 1) / TLSIO__TLS_MAX_PLAIN);
	buf = malloc(out_len + (len - off));
	if (buf == NULL)
		return -ENOMEM;
	for (size_t src = 0, room = 0, left = total; src < off;) {
		size_t n = (size_t)in[src + 3] << 8 | in[src + 4];
		const uint8_t *p = in + src + 5;
		src += 5 + n;
		while (n > 0) {
			size_t k;
			if (room == 0) {
				room = left < TLSIO__TLS_MAX_PLAIN ? left : TLSIO__TLS_MAX_PLAIN;
				buf[pos++] = 22;
				buf[pos++] = in[1];
				buf[pos++] = in[2];
				buf[pos++] = (uint8_t)(room >> 8);
				buf[pos++] = (uint8_t)room;
			}
			k = n < room ? n : room;
			memcpy(buf + pos, p, k);
			pos += k;
			p += k;
			n -= k;
			room -= k;
			left -= k;
		}
	}
	memcpy(buf + pos, in + off, len - off);
	/* Everything is owned now: the loan, if the input was one, is used up. */
	free(t->in);
	t->in = buf;
	t->in_start = 0;
	t->in_end = t->in_cap = pos + (len - off);
	t->ext = NULL;
	t->ext_len = 0;
	return 0;
}

/* Server, before wolfSSL: wait for the whole ClientHello, refuse what is no TLS. */
static int tls_read_hello(tlsio__tls *t)
{
	const uint8_t *in;
	size_t len;
	int alert, rc;
	/* The parser wants the input in one piece: borrowed bytes behind owned ones move in. */
	if (t->ext_len > 0 && t->in_end > t->in_start) {
		rc = tls_unloan(t);
		if (rc < 0)
			return rc;
	}
	if (t->ext_len > 0) {
		in = t->ext;
		len = t->ext_len;
	} else {
		/* nothing fed yet: t->in is NULL, and NULL + 0 is undefined (found by fuzz-tls) */
		in = t->in != NULL ? t->in + t->in_start : (const uint8_t *)"";
		len = t->in_end - t->in_start;
	}
	if (t->hello == NULL && (t->hello = calloc(1, sizeof(*t->hello))) == NULL)
		return -ENOMEM;
	rc = tlsio__hello_parse(&t->hello_rd, in, len, t->hello, &alert);
	if (rc == TLSIO__HELLO_MORE)
		return t->eof ? TLSIO_E_EOF_IN_HANDSHAKE : 0;
	if (rc == TLSIO__HELLO_BAD) {
		rc = tls_send_alert(t, alert);
		return rc < 0 ? rc : TLSIO_E_TLS;
	}
	rc = tls_reframe_hello(t, in, len);
	if (rc < 0)
		return rc;
	t->hello_state = HELLO_HELD;
	if (t->hello_inspect)
		return TLSIO__TLS_HELLO;
	return tlsio__tls_hello_decide(t, NULL, 0);
}

int tlsio__tls_handshake(tlsio__tls *t)
{
	int ret;
	if (t->hello_state == HELLO_WAIT) {
		ret = tls_read_hello(t);
		if (ret != 0 || t->hello_state != HELLO_PASSED)
			return ret;
	}
	if (t->hello_state == HELLO_HELD)
		return TLSIO__TLS_HELLO;
	ret = t->cfg->is_server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		keylog_done(t);
		if (!t->cfg->is_server) {
			sess_store(t);
			/* a resumed session shows no certificate: give the one its full handshake had */
			if (t->peer_der == NULL && t->resume_der != NULL && wolfSSL_session_reused(t->ssl)) {
				t->peer_der = t->resume_der;
				t->peer_der_len = t->resume_der_len;
				t->resume_der = NULL;
			}
			free(t->resume_der);
			t->resume_der = NULL;
		}
		return 1;
	}
	ret = tls_fail(t, ret);
	return ret == TLSIO__TLS_CLOSED ? TLSIO_E_EOF_IN_HANDSHAKE : ret;
}

int tlsio__tls_read(tlsio__tls *t, uint8_t *buf, size_t cap)
{
	int ret;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	ret = wolfSSL_read(t->ssl, buf, (int)cap);
	if (t->ticket_new)
		sess_store(t);
	if (ret > 0)
		return ret;
	ret = tls_fail(t, ret);
	if (ret == TLSIO_E_EOF_IN_HANDSHAKE)
		return TLSIO_E_TRUNCATED;
	return ret;
}

int tlsio__tls_write(tlsio__tls *t, const uint8_t *data, size_t len)
{
	int ret = wolfSSL_write(t->ssl, data, (int)len);
	if (ret == (int)len)
		return 0;
	ret = tls_fail(t, ret);
	return ret < 0 ? ret : TLSIO_E_TLS;
}

int tlsio__tls_close_notify(tlsio__tls *t)
{
	int ret;
	if (t->ssl == NULL)
		return 0; /* nothing was said yet: nothing to close */
	ret = wolfSSL_shutdown(t->ssl);
	if (ret == WOLFSSL_SUCCESS || ret == WOLFSSL_SHUTDOWN_NOT_DONE)
		return 0;
	return t->out_failed ? -ENOMEM : 0; /* already shut down or failed: nothing more to say */
}

int tlsio__tls_alert(const tlsio__tls *t)
{
	return t->alert;
}

int tlsio__tls_last_error(const tlsio__tls *t)
{
	return t->last_err;
}

const char *tlsio__tls_version(tlsio__tls *t)
{
	return t->ssl != NULL ? wolfSSL_get_version(t->ssl) : NULL;
}

const char *tlsio__tls_cipher(tlsio__tls *t)
{
	return t->ssl != NULL ? wolfSSL_get_cipher_name(t->ssl) : NULL;
}

const char *tlsio__tls_alpn(tlsio__tls *t)
{
	char *name = NULL;
	unsigned short size = 0;
	if (t->ssl == NULL)
		return NULL;
	if (wolfSSL_ALPN_GetProtocol(t->ssl, &name, &size) != WOLFSSL_SUCCESS || name == NULL || size == 0)
		return NULL;
	/* negotiated once: copy it on the first ask, as a string */
	if (t->alpn == NULL && (t->alpn = strndup(name, size)) == NULL)
		return NULL;
	return t->alpn;
}

const char *tlsio__tls_sni(tlsio__tls *t)
{
	void *data = NULL;
	unsigned short n;
	if (t->ssl == NULL)
		return t->hello_state != HELLO_WAIT && t->hello != NULL && t->hello->server_name[0] ?
		           t->hello->server_name : NULL;
	if (t->sni != NULL)
		return t->sni;
	n = wolfSSL_SNI_GetRequest(t->ssl, WOLFSSL_SNI_HOST_NAME, &data);
	if (n == 0 || data == NULL)
		return NULL;
	/* the client's name (RFC 6066 allows up to 2^16-1 bytes; the hello reader took at most 255) */
	t->sni = strndup(data, n);
	return t->sni;
}

int tlsio__tls_cert_error(const tlsio__tls *t, const char **why)
{
	if (why != NULL)
		*why = t->cert_why != NULL ? t->cert_why : "";
	return t->cert_err;
}

const uint8_t *tlsio__tls_peer_cert(const tlsio__tls *t, size_t *len)
{
	if (len != NULL)
		*len = t->peer_der_len;
	return t->peer_der;
}

int tlsio__tls_resumed(const tlsio__tls *t)
{
	return t->ssl != NULL && wolfSSL_session_reused(t->ssl) == 1;
}

void *tlsio__tls_wolfssl(const tlsio__tls *t)
{
	return t->ssl;
}
