/* SPDX-License-Identifier: MIT */
/* What wolfSSL 5.5.4 gives only through its internals, for the tuned build, whose prefix
 * carries wolfSSL's internal.h (it describes that very build: scripts/build-wolfssl.sh):
 *
 * - The TLS 1.2 master secret, for the key log (tlsio_tls_opts.keylog): "CLIENT_RANDOM" lines.
 *   wolfSSL gives it through its OpenSSL layer only (wolfSSL_get_keys needs OPENSSL_EXTRA, as
 *   does its own keylog callback), which Debian's build has and the tuned one leaves out: it
 *   costs every connection KiBs.
 * - A fresh TLS 1.2 ticket for a client whose ticket was under the previous key: wolfSSL's
 *   DoDecryptTicket turns the callback's WOLFSSL_TICKET_RET_CREATE into a plain success, so
 *   the TLS 1.2 path never sends the new ticket (TLS 1.3's does), and such clients would keep
 *   the old ticket until the grace period ends and then do a full handshake.
 *
 * A file of its own because internal.h defines names (min, max, ...) that tls.c uses. */
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

#if defined(__has_include)
#if __has_include(<wolfssl/internal.h>)
#include <wolfssl/internal.h>
#define TLSIO_WOLF_INTERNAL 1
#endif
#endif

int tlsio__tls12_ticket_renew(void *wolfssl)
{
#if defined(TLSIO_WOLF_INTERNAL) && defined(HAVE_SESSION_TICKET) && !defined(NO_WOLFSSL_SERVER)
	/* what wolfSSL's TLS 1.2 ticket parser does for WOLFSSL_TICKET_RET_CREATE (tls.c,
	 * TLSX_SessionTicket_Parse): an empty ticket extension in the ServerHello, and a
	 * NewSessionTicket before the server's ChangeCipherSpec */
	WOLFSSL *ssl = wolfssl;
	TLSX *ext;
	if (ssl == NULL || ssl->version.minor >= TLSv1_3_MINOR || ssl->options.noTicketTls12)
		return 0;
	if (TLSX_UseSessionTicket(&ssl->extensions, NULL, ssl->heap) != WOLFSSL_SUCCESS)
		return -ENOMEM;
	ext = TLSX_Find(ssl->extensions, TLSX_SESSION_TICKET);
	if (ext == NULL)
		return -ENOMEM;
	ext->resp = 1;
	ssl->options.createTicket = 1;
	return 0;
#else
	(void)wolfssl;
	return -ENOTSUP;
#endif
}

int tlsio__tls12_keylog_available(void)
{
#ifdef TLSIO_NO_MASTER_SECRET
	return 0;
#else
	return 1;
#endif
}
