/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4) for the example tools and the tests, so that neither needs a crypto
 * library of its own to check streams (the library under test must not check itself). */
#ifndef TLSX_SHA256_H
#define TLSX_SHA256_H

#include <stddef.h>
#include <stdint.h>


typedef struct tlsx_sha256 {
	uint32_t h[8];
	uint64_t len;      /* message bytes so far */
	uint8_t buf[64];
	size_t n;          /* bytes in buf */
} tlsx_sha256;

#define TLSX_SHA256_LEN 32
#define TLSX_SHA256_HEX (2 * TLSX_SHA256_LEN + 1)

void tlsx_sha256_init(tlsx_sha256 *s);
void tlsx_sha256_update(tlsx_sha256 *s, const void *data, size_t len);
void tlsx_sha256_final(tlsx_sha256 *s, uint8_t out[TLSX_SHA256_LEN]);
/** Lower-case hex of @p n bytes into @p out (2n+1 bytes). */
void tlsx_hex(const uint8_t *p, size_t n, char *out);

#endif
