/* SPDX-License-Identifier: MIT */
/* A ClientHello reader for the server side, run on the raw input before wolfSSL sees it.
 *
 * It lets the application choose the configuration (certificate) by SNI/ALPN before the
 * handshake goes on, and it answers input that is no TLS at all with a decode_error alert
 * instead of silence. It only reads: the bytes stay in the input for wolfSSL. */
#ifndef TLSIO_HELLO_H
#define TLSIO_HELLO_H

#include <stddef.h>
#include <stdint.h>

/** Largest ClientHello accepted (handshake message body); real ones are a few KiB. */
#define TLSIO__HELLO_MAX (64u * 1024)

typedef struct tlsio__hello {
	char server_name[256];  /**< SNI host_name, "" if none */
	uint8_t alpn[512];      /**< offered ALPN list as on the wire: (len8, name)* */
	size_t alpn_len;
	int max_version;        /**< TLSIO_TLS_1_3, TLSIO_TLS_1_2 or 0 (older only) */
	/** What the client can verify and agree to, for choosing a certificate chain: TLSIO__KEY_*
	 * bits of its signature_algorithms (both when it sent none: RFC 5246 7.4.1.4.1's
	 * defaults), and of its TLS 1.2 cipher suites' authentication. */
	unsigned sig_keys, suite_keys;
} tlsio__hello;

#define TLSIO__KEY_EC 1u  /* ECDSA */
#define TLSIO__KEY_RSA 2u /* RSA: PKCS#1 v1.5 or PSS */

#define TLSIO__HELLO_MORE 0 /* incomplete: feed more input */
#define TLSIO__HELLO_DONE 1 /* complete and well-formed: *h filled */
#define TLSIO__HELLO_BAD (-1) /* malformed: *alert is the TLS alert to send */

/**
 * Where a reader stopped in a stream that only grows: the records before @c off are read, and
 * the payload of fragmented ones is kept in @c joined. A ClientHello that arrives a byte at a
 * time is then read once in all, not once per arrival (which would cost quadratic time for
 * input a peer controls). Zero-initialise; tlsio__hello_reader_free() after the last parse.
 */
typedef struct tlsio__hello_reader {
	size_t off;      /**< first record not read yet */
	size_t have;     /**< payload bytes in joined */
	size_t need;     /**< the handshake message's length with its header, 0 until known */
	uint8_t *joined; /**< the message so far, when it spans records */
} tlsio__hello_reader;

/**
 * Parse the first handshake message of a client's stream in @p in (records included). With a
 * reader @p r, each call goes on where the last one stopped: @p in must start with the bytes
 * given before (more may follow). With @p r NULL, the whole of @p in is read from the start.
 */
int tlsio__hello_parse(tlsio__hello_reader *r, const uint8_t *in, size_t len, tlsio__hello *h,
                       int *alert);

/** Free what a reader holds; it may be used again from the start after this. */
void tlsio__hello_reader_free(tlsio__hello_reader *r);

#endif
