/* SPDX-License-Identifier: MIT */
/* wolfSSL adapter. See tls.h for the sans-I/O contract. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct tlsio_tls_config {
	atomic_int refs;
	int is_server;
	int verify;
	WOLFSSL_CTX *ctx;
	char *alpn; /* comma-separated, as wolfSSL_UseALPN wants it */
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
};

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

/* wolfSSL asks for exactly what it needs next (a record header, then its body); serve from the
 * owned input, then from the borrowed one, and say WANT_READ when both run dry, which makes the
 * handshake/read call return. A short answer is fine: wolfSSL asks again for the rest. */
static int tls_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	tlsio__tls *t = ctx;
	size_t avail = t->in_end - t->in_start;
	(void)ssl;
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
	wolfSSL_CTX_free(cfg->ctx);
	free(cfg->alpn);
	free(cfg);
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
static const char *wolf_reason(int ret)
{
	const char *r = ret < 0 ? wolfSSL_ERR_reason_error_string((unsigned long)ret) : NULL;
	return r != NULL && r[0] != '\0' ? r : "refused by wolfSSL";
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
 * Otherwise say what the file is instead. */
static int pem_check(const char *what, const char *path, const uint8_t *buf, size_t len,
                     const char *label)
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
			    ((dash - q > 10 && memcmp(q, "ENCRYPTED ", 10) == 0) ||
			     memmem(dash, (size_t)(end - dash), "Proc-Type: 4,ENCRYPTED", 22) != NULL))
				return cfg_fail("the %s file '%s' holds an encrypted private key, which "
				                "libtlsio cannot use (decrypt it first)", what, path);
			return 0;
		}
		p = dash;
	}
	if (first == NULL)
		return cfg_fail("the %s file '%s' is not PEM (no '-----BEGIN' line)", what, path);
	return cfg_fail("the %s file '%s' holds no %s (its first PEM block is '%.*s')", what, path,
	                strcmp(label, "PRIVATE KEY") == 0 ? "private key" : "certificate",
	                (int)(strcspn(first, "-\n") < 40 ? strcspn(first, "-\n") : 40), first);
}

/* Load a file into wolfSSL; @p keep (optional) gets the file's text (the caller frees it). */
static int load_file(WOLFSSL_CTX *ctx, const char *what, const char *path, const char *label,
                     int kind, uint8_t **keep, size_t *keep_len)
{
	uint8_t *buf;
	size_t len = 0;
	int rc = read_file(what, path, &buf, &len), ret;
	if (rc < 0)
		return rc;
	rc = pem_check(what, path, buf, len, label);
	if (rc < 0)
		goto out;
	if (kind == 0)
		ret = wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, buf, (long)len, WOLFSSL_FILETYPE_PEM);
	else if (kind == 1)
		ret = wolfSSL_CTX_use_PrivateKey_buffer(ctx, buf, (long)len, WOLFSSL_FILETYPE_PEM);
	else
		ret = wolfSSL_CTX_load_verify_buffer(ctx, buf, (long)len, WOLFSSL_FILETYPE_PEM);
	if (ret != WOLFSSL_SUCCESS)
		rc = cfg_fail("cannot use the %s file '%s': %s", what, path, wolf_reason(ret));
	if (rc == 0 && keep != NULL) {
		*keep = buf;
		*keep_len = len;
		return 0;
	}
out:
	free(buf);
	return rc;
}

/* Does the private key belong to the (first) certificate? 1 yes, 0 no, -1 cannot tell (a key
 * type not handled here: wolfSSL's own check decides). Ours, because wolfSSL 5.5.4's
 * wolfSSL_CTX_check_private_key accepts another P-256 key (its ECC check compares nothing it
 * derived from the private key): the public key is computed from the private one and compared. */
static int key_matches_cert(const uint8_t *cert_pem, size_t cert_len, const uint8_t *key_pem,
                            size_t key_len)
{
	uint8_t *cder = malloc(cert_len), *kder = malloc(key_len);
	uint8_t a[1024], b[1024];
	const uint8_t *spki;
	size_t spki_len;
	word32 idx = 0, al = sizeof(a), bl = sizeof(b), el = 8;
	uint8_t e[8];
	int cn, kn, rc = -1, off;

	if (cder == NULL || kder == NULL)
		goto out;
	cn = wc_CertPemToDer(cert_pem, (int)cert_len, cder, (int)cert_len, CERT_TYPE);
	kn = wc_KeyPemToDer(key_pem, (int)key_len, kder, (int)key_len, NULL);
	if (cn <= 0 || kn <= 0 || tlsio__x509_spki(cder, (size_t)cn, &spki, &spki_len) < 0)
		goto out;
	/* PKCS#8 wraps the key: the decoders below want what is inside (idx moves to it) */
	off = wc_GetPkcs8TraditionalOffset(kder, &idx, (word32)kn);
	if (off < 0)
		idx = 0;
#ifdef HAVE_ECC
	{
		ecc_key k, pub;
		word32 i2 = idx, p2 = 0;
		if (wc_ecc_init(&k) == 0) {
			if (wc_EccPrivateKeyDecode(kder, &i2, &k, (word32)kn) == 0 &&
			    wc_ecc_make_pub(&k, NULL) == 0 && wc_ecc_export_x963(&k, a, &al) == 0) {
				rc = 0;
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
			goto out;
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
out:
	if (kder != NULL)
		memset(kder, 0, key_len);
	free(cder);
	free(kder);
	return rc;
}

int tlsio_tls_config_new(tlsio_tls_config **out, int is_server, const tlsio_tls_opts *user_opts,
                         const char **err_msg)
{
	tlsio_tls_opts optbuf, *opts = &optbuf;
	tlsio_tls_config *cfg = NULL;
	uint8_t *cert_pem = NULL, *key_pem = NULL;
	size_t cert_len = 0, key_len = 0;
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
	if (is_server && (opts->cert_file == NULL || opts->key_file == NULL)) {
		rc = cfg_fail("a server needs a certificate and a key (cert_file and key_file)");
		goto fail;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&cfg->refs, 1);
	cfg->is_server = is_server;
	cfg->verify = opts->verify;
	cfg->ctx = wolfSSL_CTX_new(tls_method(is_server, min, max));
	if (cfg->ctx == NULL) {
		rc = cfg_fail("wolfSSL_CTX_new failed");
		goto fail;
	}
	if (min == TLSIO_TLS_1_2 && max == TLSIO_TLS_1_3 &&
	    wolfSSL_CTX_SetMinVersion(cfg->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		rc = cfg_fail("cannot set the minimum TLS version");
		goto fail;
	}
	wolfSSL_CTX_SetIORecv(cfg->ctx, tls_recv_cb);
	wolfSSL_CTX_SetIOSend(cfg->ctx, tls_send_cb);
	/* A flight leaves in one write (Debian's build does this by default, OPENSSL_COMPATIBLE_
	 * DEFAULTS; the tuned one does not): fewer records to the socket, and an error wolfSSL finds
	 * after it made its ServerHello (an invalid key share, checked only then, returns without
	 * an alert) finds nothing on the wire yet, so tls_fail() can still send a plaintext alert. */
	if (wolfSSL_CTX_set_group_messages(cfg->ctx) != WOLFSSL_SUCCESS) {
		rc = cfg_fail("cannot group handshake messages");
		goto fail;
	}
	if (opts->cert_file != NULL &&
	    (rc = load_file(cfg->ctx, "certificate", opts->cert_file, "CERTIFICATE", 0, &cert_pem,
	                    &cert_len)) < 0)
		goto fail;
	if (opts->key_file != NULL &&
	    (rc = load_file(cfg->ctx, "private key", opts->key_file, "PRIVATE KEY", 1, &key_pem,
	                    &key_len)) < 0)
		goto fail;
	if ((opts->cert_file == NULL) != (opts->key_file == NULL)) {
		rc = cfg_fail("cert_file and key_file go together ('%s' has no %s)",
		              opts->cert_file != NULL ? opts->cert_file : opts->key_file,
		              opts->cert_file != NULL ? "key_file" : "cert_file");
		goto fail;
	}
	/* A key that does not match fails every handshake with a bare decrypt_error; say so now. */
	if (cert_pem != NULL) {
		int m = key_matches_cert(cert_pem, cert_len, key_pem, key_len);
#ifndef NO_CHECK_PRIVATE_KEY
		if (m < 0)
			m = wolfSSL_CTX_check_private_key(cfg->ctx) == WOLFSSL_SUCCESS;
#endif
		if (m == 0) {
			rc = cfg_fail("the private key in '%s' does not match the certificate in '%s'",
			              opts->key_file, opts->cert_file);
			goto fail;
		}
	}
	if (opts->ca_file != NULL) {
		rc = load_file(cfg->ctx, "CA", opts->ca_file, "CERTIFICATE", 2, NULL, NULL);
		if (rc < 0)
			goto fail;
	} else if (!is_server && opts->verify != TLSIO_VERIFY_NONE) {
		/* Without a CA file a verifying client trusts the system store; an empty store is
		 * not an error here, verification will fail later with a clear status. */
		(void)wolfSSL_CTX_load_system_CA_certs(cfg->ctx);
	} else if (is_server && opts->verify == TLSIO_VERIFY_REQUIRED) {
		rc = cfg_fail("a server that requires client certificates needs a ca_file to check them against");
		goto fail;
	}
	/* The callback runs for every peer certificate: it keeps the leaf (tlsio_conn_peer_cert),
	 * says why a verification failed, and checks a client's expected identity. */
	if (opts->verify == TLSIO_VERIFY_NONE || (is_server && opts->verify == TLSIO_VERIFY_DEFAULT))
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_NONE, tls_verify_cb);
	else if (is_server)
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		                       tls_verify_cb);
	else
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	/* A resumed session sends no certificate: a server that requires one would lose the
	 * client's identity (tlsio_conn_peer_cert), and wolfSSL's TLS 1.2 cache, one table for the
	 * process, would let a session made under another configuration in without any. So a
	 * server that requires client certificates does a full handshake every time. */
	if (is_server && opts->verify == TLSIO_VERIFY_REQUIRED &&
	    (0
#ifndef NO_SESSION_CACHE
	     || wolfSSL_CTX_set_session_cache_mode(cfg->ctx, WOLFSSL_SESS_CACHE_OFF) != WOLFSSL_SUCCESS
#endif
#ifdef HAVE_SESSION_TICKET
	     || wolfSSL_CTX_NoTicketTLSv12(cfg->ctx) != WOLFSSL_SUCCESS
#ifdef WOLFSSL_TLS13
	     /* 0 on success, unlike the others; refused by a TLS 1.2-only method, which has none */
	     || (max == TLSIO_TLS_1_3 && wolfSSL_CTX_no_ticket_TLSv13(cfg->ctx) != 0)
#endif
#endif
	     )) {
		rc = cfg_fail("cannot turn session resumption off for a server that requires client "
		              "certificates");
		goto fail;
	}
	if (opts->ciphers != NULL && wolfSSL_CTX_set_cipher_list(cfg->ctx, opts->ciphers) != WOLFSSL_SUCCESS) {
		rc = cfg_fail("cipher list '%s' not understood by wolfSSL", opts->ciphers);
		goto fail;
	}
	/* An explicit list is the caller's choice; only the default changes with the crypto path. */
	if (opts->ciphers == NULL && is_server && tls_prefer_chacha() &&
	    wolfSSL_CTX_set_cipher_list(cfg->ctx, tls_chacha_first) != WOLFSSL_SUCCESS) {
		rc = cfg_fail("cannot set the ChaCha20-first cipher list");
		goto fail;
	}
	if (opts->alpn != NULL && opts->alpn[0] != '\0') {
		cfg->alpn = strdup(opts->alpn);
		if (cfg->alpn == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	free(cert_pem);
	if (key_pem != NULL)
		memset(key_pem, 0, key_len);
	free(key_pem);
	*out = cfg;
	return 0;
fail:
	free(cert_pem);
	if (key_pem != NULL)
		memset(key_pem, 0, key_len);
	free(key_pem);
	if (rc == -ENOMEM)
		snprintf(cfg_why, sizeof(cfg_why), "out of memory");
	if (err_msg != NULL)
		*err_msg = cfg_why;
	if (cfg != NULL) {
		if (cfg->ctx != NULL)
			wolfSSL_CTX_free(cfg->ctx);
		free(cfg->alpn);
		free(cfg);
	}
	return rc;
}

static int tls_make_ssl(tlsio__tls *t)
{
	t->ssl = wolfSSL_new(t->cfg->ctx);
	if (t->ssl == NULL)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	wolfSSL_SetCertCbCtx(t->ssl, t);
	if (t->cfg->alpn != NULL &&
	    wolfSSL_UseALPN(t->ssl, t->cfg->alpn, (unsigned)strlen(t->cfg->alpn),
	                    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return TLSIO_E_TLS_CONFIG;
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
	if (ret == WOLFSSL_SUCCESS)
		return 1;
	ret = tls_fail(t, ret);
	return ret == TLSIO__TLS_CLOSED ? TLSIO_E_EOF_IN_HANDSHAKE : ret;
}

int tlsio__tls_read(tlsio__tls *t, uint8_t *buf, size_t cap)
{
	int ret;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	ret = wolfSSL_read(t->ssl, buf, (int)cap);
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
