/* SPDX-License-Identifier: MIT */
/* Sans-I/O TLS adapter over wolfSSL.
 *
 * Ciphertext from the peer goes in with tlsio__tls_feed(); ciphertext to the peer comes out
 * through the output function given at creation, which must always accept it (the caller queues
 * it). wolfSSL therefore never sees WANT_WRITE, and a wolfSSL_write is never retried with a
 * different buffer. No sockets, no backend knowledge here. */
#ifndef TLSIO_TLS_H
#define TLSIO_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "tlsio.h"

typedef struct tlsio__tls tlsio__tls;

/** Receives ciphertext; returns 0 or -ENOMEM. */
typedef int (*tlsio__tls_out_fn)(void *arg, const uint8_t *data, size_t len);

/** Largest plaintext per record (RFC 8446 5.1). */
#define TLSIO__TLS_MAX_PLAIN 16384

/** tlsio__tls_read(): the peer sent close_notify. */
#define TLSIO__TLS_CLOSED (TLSIO_E_BASE + 1) /* distinct from byte counts and statuses */

/** A connection's TLS state. Clients: @p server_name is the identity the server's certificate
 * must carry (a DNS name, sent as SNI too, or an IP literal, not sent) and is required unless the
 * configuration says TLSIO_VERIFY_NONE (TLSIO_E_NO_IDENTITY). Servers: NULL. */
int tlsio__tls_new(tlsio__tls **out, tlsio_tls_config *cfg, const char *server_name,
                   tlsio__tls_out_fn fn, void *arg);
void tlsio__tls_free(tlsio__tls *t);
int tlsio__tls_is_server(const tlsio__tls *t);

/** Append peer ciphertext to the input (copied). 0 or -ENOMEM. */
int tlsio__tls_feed(tlsio__tls *t, const uint8_t *data, size_t len);
/** Lend peer ciphertext without copying it: read after what was fed before, and valid only
 * until tlsio__tls_feed_end(), which must follow before the caller reuses @p data. A loan made
 * while another is open (input read from inside a callback) is copied instead. 0 or -ENOMEM. */
int tlsio__tls_feed_borrow(tlsio__tls *t, const uint8_t *data, size_t len);
/** End a loan: copy what was not consumed, and release the input buffer if nothing waits in
 * it (idle connections keep none). 0 or -ENOMEM. */
int tlsio__tls_feed_end(tlsio__tls *t);
/** The peer's socket reached EOF: no more input will come. */
void tlsio__tls_set_eof(tlsio__tls *t);
/** Bytes fed and not yet consumed by wolfSSL. */
size_t tlsio__tls_input_len(const tlsio__tls *t);

/** tlsio__tls_handshake(): the server read the whole ClientHello and holds it for the caller. */
#define TLSIO__TLS_HELLO 2

/** Drive the handshake: 1 done, 0 needs more input, TLSIO__TLS_HELLO (servers asked to
 * inspect), <0 status (alert already in the output). */
int tlsio__tls_handshake(tlsio__tls *t);
/** Server: stop at the ClientHello (TLSIO__TLS_HELLO) until tlsio__tls_hello_decide(). */
void tlsio__tls_inspect_hello(tlsio__tls *t);
/** The ClientHello read so far (servers), or NULL. */
const struct tlsio__hello *tlsio__tls_hello(const tlsio__tls *t);
/** Go on with @p cfg (NULL: the one given at creation; the caller keeps cfg alive), or refuse
 * with @p alert > 0 (queued; returns TLSIO_E_REFUSED). 0 or <0. */
int tlsio__tls_hello_decide(tlsio__tls *t, tlsio_tls_config *cfg, int alert);
/** Plaintext into @p buf: >0 bytes, 0 needs input, TLSIO__TLS_CLOSED, <0 status. Only after the handshake. */
int tlsio__tls_read(tlsio__tls *t, uint8_t *buf, size_t cap);
/** Encrypt @p len (<= TLSIO__TLS_MAX_PLAIN) bytes as one record. 0 or <0 status. */
int tlsio__tls_write(tlsio__tls *t, const uint8_t *data, size_t len);
/** Queue close_notify. 0 or <0. */
int tlsio__tls_close_notify(tlsio__tls *t);

/** The fatal alert sent or received for the last error (TLSIO_ALERT_NONE if none). */
int tlsio__tls_alert(const tlsio__tls *t);
/** wolfSSL's own error code of the last failure, for diagnostics. */
int tlsio__tls_last_error(const tlsio__tls *t);

/** The first verification failure: an enum tlsio_cert_error, and its sentence ("" if none). */
int tlsio__tls_cert_error(const tlsio__tls *t, const char **why);
/** The peer's leaf certificate (DER) as the handshake received it, or NULL. */
const uint8_t *tlsio__tls_peer_cert(const tlsio__tls *t, size_t *len);

/** Client: offer the cached session of @p key ("identity:port") and cache this connection's
 * sessions under it (nothing if the configuration has no cache). Before the handshake. 0 or
 * -ENOMEM. */
int tlsio__tls_session_key(tlsio__tls *t, const char *key);
/** wolfint.c: the TLS 1.2 master secret of a WOLFSSL whose arrays are kept (valid until they
 * are freed): 0, -ENOENT, or -ENOTSUP (this wolfSSL gives no way to it). */
int tlsio__tls12_master_secret(void *wolfssl, const uint8_t **secret, size_t *len);
int tlsio__tls12_keylog_available(void);
/** wolfint.c, servers, from the ticket callback: a TLS 1.2 handshake resuming a ticket of the
 * previous key sends a new one (0; a no-op under TLS 1.3); -ENOTSUP where this wolfSSL's
 * internals are not at hand (then the client keeps its ticket until the grace ends). */
int tlsio__tls12_ticket_renew(void *wolfssl);
/** The handshake resumed a session. */
int tlsio__tls_resumed(const tlsio__tls *t);
/** The WOLFSSL object (NULL before a server read the ClientHello): for tests only. */
void *tlsio__tls_wolfssl(const tlsio__tls *t);

const char *tlsio__tls_version(tlsio__tls *t);
const char *tlsio__tls_cipher(tlsio__tls *t);
const char *tlsio__tls_alpn(tlsio__tls *t);
const char *tlsio__tls_sni(tlsio__tls *t);

/** Config reference counting (connections hold one each). */
void tlsio__tls_config_ref(tlsio_tls_config *cfg);
/** Release what wolfSSL keeps per thread (the ECC fixed-point cache of FP_ECC builds, which
 * wolfSSL does not free at thread exit). Called by tlsio_loop_free on the loop's thread. */
void tlsio__tls_thread_cleanup(void);
int tlsio__tls_config_is_server(const tlsio_tls_config *cfg);
/** A client configuration that verifies the server (not TLSIO_VERIFY_NONE). */
int tlsio__tls_config_verifies(const tlsio_tls_config *cfg);

#endif
