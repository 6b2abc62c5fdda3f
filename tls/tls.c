/* SPDX-License-Identifier: MIT */
/* wolfSSL adapter. See tls.h for the sans-I/O contract. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "hello.h"
#include "tls.h"

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
	int first_tx_alert; /* the first fatal alert wolfSSL sent (tls_info_cb) */
	char alpn[256];
	char sni[256];
	/* server: the ClientHello is read (hello.c) before wolfSSL exists; see tlsio__tls_handshake */
	int hello_state;   /* HELLO_WAIT, HELLO_HELD (the caller is choosing), HELLO_PASSED */
	int hello_inspect; /* stop at HELLO_HELD for the caller */
	tlsio__hello hello;
	tlsio__hello_reader hello_rd; /* where the reader stopped in the input so far */
};

enum { HELLO_WAIT, HELLO_HELD, HELLO_PASSED };

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_init_rc;

static void tls_global_init(void)
{
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
 * Its info callback sees every alert as it is sent, by description only: all but close_notify,
 * user_canceled and no_renegotiation are fatal. */
static void tls_info_cb(const WOLFSSL *ssl, int where, int value)
{
	tlsio__tls *t;
	if (!(where & SSL_CB_ALERT) || value == 0 || value == 90 || value == 100)
		return;
	t = wolfSSL_GetIOWriteCtx((WOLFSSL *)ssl);
	if (t != NULL && t->first_tx_alert == TLSIO_ALERT_NONE)
		t->first_tx_alert = value;
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
static char crypto_info[192];

static void crypto_info_init(void)
{
	int aes = tls_aes_accelerated();
	snprintf(crypto_info, sizeof(crypto_info), "wolfSSL %s, AES-GCM %s; servers prefer %s",
	         wolfSSL_lib_version(), aes ? "accelerated (AES-NI)" : "in portable C (no AES-NI)",
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

int tlsio_tls_config_new(tlsio_tls_config **out, int is_server, const tlsio_tls_opts *opts,
                         const char **err_msg)
{
	static const tlsio_tls_opts defaults;
	const char *why = NULL;
	tlsio_tls_config *cfg = NULL;
	int min, max, rc = TLSIO_E_TLS_CONFIG;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	pthread_once(&tls_once, tls_global_init);
	if (tls_init_rc != 0) {
		why = "wolfSSL_Init failed";
		goto fail;
	}
	min = opts->min_version ? opts->min_version : TLSIO_TLS_1_2;
	max = opts->max_version ? opts->max_version : TLSIO_TLS_1_3;
	if ((min != TLSIO_TLS_1_2 && min != TLSIO_TLS_1_3) || (max != TLSIO_TLS_1_2 && max != TLSIO_TLS_1_3) ||
	    min > max) {
		why = "TLS versions must be 1.2 or 1.3 with min <= max";
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
		why = "wolfSSL_CTX_new failed";
		goto fail;
	}
	if (min == TLSIO_TLS_1_2 && max == TLSIO_TLS_1_3 &&
	    wolfSSL_CTX_SetMinVersion(cfg->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		why = "cannot set the minimum TLS version";
		goto fail;
	}
	wolfSSL_CTX_SetIORecv(cfg->ctx, tls_recv_cb);
	wolfSSL_CTX_SetIOSend(cfg->ctx, tls_send_cb);
	wolfSSL_CTX_set_info_callback(cfg->ctx, tls_info_cb);
	if (opts->cert_file != NULL &&
	    wolfSSL_CTX_use_certificate_chain_file(cfg->ctx, opts->cert_file) != WOLFSSL_SUCCESS) {
		why = "cannot load the certificate file";
		goto fail;
	}
	if (opts->key_file != NULL &&
	    wolfSSL_CTX_use_PrivateKey_file(cfg->ctx, opts->key_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		why = "cannot load the private key file";
		goto fail;
	}
	if (is_server && (opts->cert_file == NULL || opts->key_file == NULL)) {
		why = "a server needs a certificate and a key";
		goto fail;
	}
	if (opts->ca_file != NULL) {
		if (wolfSSL_CTX_load_verify_locations(cfg->ctx, opts->ca_file, NULL) != WOLFSSL_SUCCESS) {
			why = "cannot load the CA file";
			goto fail;
		}
	} else if (!is_server && opts->verify != TLSIO_VERIFY_NONE) {
		/* Without a CA file a verifying client trusts the system store; an empty store is
		 * not an error here, verification will fail later with a clear status. */
		(void)wolfSSL_CTX_load_system_CA_certs(cfg->ctx);
	}
	if (opts->verify == TLSIO_VERIFY_NONE || (is_server && opts->verify == TLSIO_VERIFY_DEFAULT))
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_NONE, NULL);
	else if (is_server)
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	else
		wolfSSL_CTX_set_verify(cfg->ctx, WOLFSSL_VERIFY_PEER, NULL);
	if (opts->ciphers != NULL && wolfSSL_CTX_set_cipher_list(cfg->ctx, opts->ciphers) != WOLFSSL_SUCCESS) {
		why = "cipher list not understood";
		goto fail;
	}
	/* An explicit list is the caller's choice; only the default changes with the crypto path. */
	if (opts->ciphers == NULL && is_server && tls_prefer_chacha() &&
	    wolfSSL_CTX_set_cipher_list(cfg->ctx, tls_chacha_first) != WOLFSSL_SUCCESS) {
		why = "cannot set the ChaCha20-first cipher list";
		goto fail;
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
	if (err_msg != NULL)
		*err_msg = why != NULL ? why : "out of memory";
	if (cfg != NULL) {
		if (cfg->ctx != NULL)
			wolfSSL_CTX_free(cfg->ctx);
		free(cfg->alpn);
		free(cfg);
	}
	return rc;
}

static int is_ip_literal(const char *s)
{
	return strspn(s, "0123456789.") == strlen(s) || strchr(s, ':') != NULL;
}

static int tls_make_ssl(tlsio__tls *t)
{
	t->ssl = wolfSSL_new(t->cfg->ctx);
	if (t->ssl == NULL)
		return -ENOMEM;
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
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
	if (!cfg->is_server && server_name != NULL && server_name[0] != '\0') {
		/* RFC 6066: SNI carries host names only, never IP literals. */
		if (!is_ip_literal(server_name) &&
		    wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, server_name,
		                   (unsigned short)strlen(server_name)) != WOLFSSL_SUCCESS)
			goto fail;
		if (cfg->verify != TLSIO_VERIFY_NONE &&
		    wolfSSL_check_domain_name(t->ssl, server_name) != WOLFSSL_SUCCESS)
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
	free(t->in);
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
	if (is_verify_error(err))
		return TLSIO_E_CERT_VERIFY;
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
	return t->hello_state != HELLO_WAIT ? &t->hello : NULL;
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
	rc = tlsio__hello_parse(&t->hello_rd, in, len, &t->hello, &alert);
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
	if (size >= sizeof(t->alpn))
		size = sizeof(t->alpn) - 1;
	memcpy(t->alpn, name, size);
	t->alpn[size] = '\0';
	return t->alpn;
}

const char *tlsio__tls_sni(tlsio__tls *t)
{
	void *data = NULL;
	unsigned short n;
	if (t->ssl == NULL)
		return t->hello_state != HELLO_WAIT && t->hello.server_name[0] ? t->hello.server_name : NULL;
	n = wolfSSL_SNI_GetRequest(t->ssl, WOLFSSL_SNI_HOST_NAME, &data);
	if (n == 0 || data == NULL)
		return NULL;
	if (n >= sizeof(t->sni))
		n = sizeof(t->sni) - 1;
	memcpy(t->sni, data, n);
	t->sni[n] = '\0';
	return t->sni;
}
