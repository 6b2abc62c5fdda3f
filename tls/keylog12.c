/* SPDX-License-Identifier: MIT */
/* The TLS 1.2 master secret, for the key log (tlsio_tls_opts.keylog): "CLIENT_RANDOM" lines.
 *
 * wolfSSL 5.5.4 gives it only through its OpenSSL layer (wolfSSL_get_keys needs OPENSSL_EXTRA,
 * as does its own keylog callback), which Debian's build has and the tuned one leaves out: it
 * costs every connection KiBs. The tuned build's prefix carries wolfSSL's internal.h, which
 * describes that very build (scripts/build-wolfssl.sh), and the field is read from there. A
 * file of its own because internal.h defines names (min, max, ...) that tls.c uses. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls.h"

#if defined(OPENSSL_EXTRA) || defined(WOLFSSL_WPAS_SMALL)
int tlsio__tls12_master_secret(void *wolfssl, const uint8_t **secret, size_t *len)
{
	unsigned char *ms, *sr, *cr;
	unsigned int msl, srl, crl;
	if (wolfSSL_get_keys(wolfssl, &ms, &msl, &sr, &srl, &cr, &crl) != WOLFSSL_SUCCESS)
		return -ENOENT;
	*secret = ms;
	*len = msl;
	return 0;
}
#elif defined(__has_include)
#if __has_include(<wolfssl/internal.h>)
#include <wolfssl/internal.h>
int tlsio__tls12_master_secret(void *wolfssl, const uint8_t **secret, size_t *len)
{
	WOLFSSL *ssl = wolfssl;
	if (ssl == NULL || ssl->arrays == NULL) /* kept by wolfSSL_KeepArrays until FreeArrays */
		return -ENOENT;
	*secret = ssl->arrays->masterSecret;
	*len = SECRET_LEN;
	return 0;
}
#else
#define TLSIO_NO_MASTER_SECRET 1
#endif
#else
#define TLSIO_NO_MASTER_SECRET 1
#endif

#ifdef TLSIO_NO_MASTER_SECRET
int tlsio__tls12_master_secret(void *wolfssl, const uint8_t **secret, size_t *len)
{
	(void)wolfssl;
	(void)secret;
	(void)len;
	return -ENOTSUP;
}
#endif

int tlsio__tls12_keylog_available(void)
{
#ifdef TLSIO_NO_MASTER_SECRET
	return 0;
#else
	return 1;
#endif
}
