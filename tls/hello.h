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
} tlsio__hello;

#define TLSIO__HELLO_MORE 0 /* incomplete: feed more input */
#define TLSIO__HELLO_DONE 1 /* complete and well-formed: *h filled */
#define TLSIO__HELLO_BAD (-1) /* malformed: *alert is the TLS alert to send */

/** Parse the first handshake message of a client's stream in @p in (records included). */
int tlsio__hello_parse(const uint8_t *in, size_t len, tlsio__hello *h, int *alert);

#endif
