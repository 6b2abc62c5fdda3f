/* SPDX-License-Identifier: MIT */
/* Completed handshakes for the targets that fuzz what comes after one (fuzz-record, fuzz-core).
 * Include after tls/tls.c (they reach the WOLFSSL object under the adapter) and fuzz-common.h.
 *
 * A full handshake costs about 7 ms here (ECDHE and ECDSA in wolfSSL's portable math), far too
 * slow for millions of inputs. So each variant makes one full handshake at start-up and keeps
 * the client's session; every input then resumes it: TLS 1.2 by session ID, TLS 1.3 with a PSK
 * and no key share (psk_ke), which costs no public-key operation. The record layer after a
 * resumed handshake is the one after a full handshake: same version, same cipher suite, same
 * record protection, and the configurations are the ones an application makes with the public
 * API. */
#ifndef TLSIO_FUZZ_SESSION_H
#define TLSIO_FUZZ_SESSION_H

#include "fuzz-common.h"
#include "fuzz-ops.h"

struct fz_variant {
	const char *name;
	int version;
	const char *ciphers; /* the server's list: it decides the suite */
	int no_etm;          /* TLS 1.2 CBC with MAC-then-encrypt (no encrypt_then_mac) */
	tlsio_tls_config *srv;
	WOLFSSL_SESSION *sess;
};

static struct fz_variant fz_vars[] = {
	{"1.3 chacha20", TLSIO_TLS_1_3, "TLS13-CHACHA20-POLY1305-SHA256", 0, NULL, NULL},
	{"1.3 aes128-gcm", TLSIO_TLS_1_3, "TLS13-AES128-GCM-SHA256", 0, NULL, NULL},
	{"1.2 chacha20", TLSIO_TLS_1_2, "ECDHE-ECDSA-CHACHA20-POLY1305", 0, NULL, NULL},
	{"1.2 aes256-gcm", TLSIO_TLS_1_2, "ECDHE-ECDSA-AES256-GCM-SHA384", 0, NULL, NULL},
#if !defined(NO_AES_CBC) && !defined(WOLFSSL_AEAD_ONLY) /* the tuned build offers no CBC suites: a config with one would fail */
	{"1.2 aes128-cbc etm", TLSIO_TLS_1_2, "ECDHE-ECDSA-AES128-SHA256", 0, NULL, NULL},
	{"1.2 aes128-cbc mte", TLSIO_TLS_1_2, "ECDHE-ECDSA-AES128-SHA256", 1, NULL, NULL},
#endif
};
#define FZ_NVARS (sizeof(fz_vars) / sizeof(fz_vars[0]))
_Static_assert(FZ_NVARS == FZ_NVARIANTS, "fuzz-ops.h: FZ_NVARIANTS");

static tlsio_tls_config *fz_cli_cfg;

/** Client side of variant @p v, before its first handshake call: resume if we can. */
static void fz_client_prepare(tlsio__tls *c, const struct fz_variant *v)
{
	if (v->no_etm)
		(void)wolfSSL_AllowEncryptThenMac(c->ssl, 0);
	if (v->sess == NULL)
		return;
	if (wolfSSL_set_session(c->ssl, v->sess) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "fuzz: %s: wolfSSL_set_session failed\n", v->name);
		abort();
	}
	if (v->version == TLSIO_TLS_1_3) {
		(void)wolfSSL_no_dhe_psk(c->ssl);
		(void)wolfSSL_NoKeyShares(c->ssl);
	}
}

/** After a handshake of variant @p v: a resumed one is what keeps the target fast. */
static void fz_check_resumed(tlsio__tls *t, const struct fz_variant *v)
{
	if (v->sess != NULL && !wolfSSL_session_reused(t->ssl)) {
		fprintf(stderr, "fuzz: %s: the session was not resumed (full handshake)\n", v->name);
		abort();
	}
}

/** Make the configurations and one full handshake per variant (its session is resumed later). */
static void fz_sessions_init(void)
{
	fz_cli_cfg = fz_cfg(0, 0, 0, NULL, "http/1.1");
#ifdef FZ_SESSION_LIFETIME
	/* -DFZ_SESSION_LIFETIME=5: a short session timeout (wolfSSL's default is 500 s), to see
	 * that the frozen clock (fuzz-common.h) keeps resumption working past it */
	(void)wolfSSL_CTX_set_timeout(fz_cli_cfg->ctx, FZ_SESSION_LIFETIME);
#endif
	for (size_t i = 0; i < FZ_NVARS; i++) {
		struct fz_variant *v = &fz_vars[i];
		struct fz_buf co = {0}, so = {0};
		tlsio__tls *c = NULL, *s = NULL;
		int hc = 0, hs = 0;
		v->srv = fz_cfg(1, v->version, v->version, v->ciphers, "h2,http/1.1");
#ifdef FZ_SESSION_LIFETIME
		(void)wolfSSL_CTX_set_timeout(v->srv->ctx, FZ_SESSION_LIFETIME);
#endif
		fz_rng_reset(1000 + i);
		if (tlsio__tls_new(&s, v->srv, NULL, fz_out, &so) != 0 ||
		    tlsio__tls_new(&c, fz_cli_cfg, "localhost", fz_out, &co) != 0)
			abort();
		fz_client_prepare(c, v);
		fz_pair_run(c, &co, s, &so, &hc, &hs);
		if (hc != 1 || hs != 1) {
			fprintf(stderr, "fuzz: %s: handshake failed: client %d server %d\n", v->name, hc, hs);
			abort();
		}
		v->sess = wolfSSL_get1_session(c->ssl);
		if (v->sess == NULL)
			abort();
		tlsio__tls_free(c);
		tlsio__tls_free(s);
		free(co.p);
		free(so.p);
	}
}

#endif
