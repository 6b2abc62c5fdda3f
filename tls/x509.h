/* SPDX-License-Identifier: MIT */
/* A bounded reader of the parts of an X.509 certificate that name its holder (subject, issuer,
 * serial, validity, subjectAltName), and the RFC 6125 identity check made on them. Sans-I/O and
 * independent of how wolfSSL was built: the identity check must not depend on options such as
 * WOLFSSL_IP_ALT_NAME, and the input may be hostile (tlsio_cert_info_new takes any bytes). */
#ifndef TLSIO_X509_H
#define TLSIO_X509_H

#include <stddef.h>
#include <stdint.h>
#include "tlsio.h"

/** Kinds of subjectAltName entry (the GeneralName tags of RFC 5280). */
enum { TLSIO__SAN_EMAIL = 1, TLSIO__SAN_DNS = 2, TLSIO__SAN_URI = 6, TLSIO__SAN_IP = 7 };

/** Does the certificate name @p host (a DNS name, or an IPv4/IPv6 literal without brackets; an
 * IPv6 zone "%eth0" is ignored)? DNS names are matched against DNS SANs (case-insensitive, one
 * trailing dot ignored, a wildcard only as the whole left-most label and over at least two
 * labels); IP literals against IP SANs by value. The subject's CN is never used.
 * @return 1 it does; 0 it does not (@p why gets the reason); -EINVAL the certificate cannot be
 *         read (@p why says so). */
int tlsio__x509_match(const uint8_t *der, size_t len, const char *host, char *why, size_t why_len);

/** Is @p host an IP literal (IPv4 dotted quad, or IPv6 with an optional zone)? Writes the
 * address to @p addr (16 bytes) and its length (4 or 16) to *@p alen if not NULL. */
int tlsio__x509_ip_literal(const char *host, uint8_t *addr, size_t *alen);

/** The certificate's SubjectPublicKeyInfo (the whole DER element, inside @p der). 0 or -EINVAL. */
int tlsio__x509_spki(const uint8_t *der, size_t len, const uint8_t **spki, size_t *spki_len);

#endif
