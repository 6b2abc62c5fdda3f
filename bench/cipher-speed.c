/* SPDX-License-Identifier: MIT */
/* cipher-speed: single-core speed of the TLS 1.3 bulk ciphers of the linked wolfSSL, sealing
 * 16 KiB records (the size of a full TLS record), to know the ceiling a TLS server on one core
 * can reach with this build. bench/run.sh compiles it against each wolfSSL it benchmarks.
 * Not part of the library or the examples: it calls wolfCrypt directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#define RECORD 16384

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static unsigned char in[RECORD], out[RECORD];
	unsigned char key[32] = {1}, iv[12] = {2}, aad[13] = {3}, tag[16];
	double secs = 1.0, t0, t;
	long n;
	Aes aes;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: cipher-speed [SECONDS]\n"
		       "Seal 16 KiB records for SECONDS (default 1) per cipher on one core and print\n"
		       "'<cipher> <MB/s>' lines (MB = 10^6 bytes): aes-128-gcm, chacha20-poly1305.\n");
		return 0;
	}
	if (argc > 1)
		secs = atof(argv[1]);
	memset(in, 'a', sizeof(in));

	if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0 || wc_AesGcmSetKey(&aes, key, 16) != 0) {
		fprintf(stderr, "cipher-speed: AES-GCM setup failed\n");
		return 1;
	}
	t0 = now();
	for (n = 0; (t = now() - t0) < secs; n++) {
		iv[11] = (unsigned char)n;
		if (wc_AesGcmEncrypt(&aes, out, in, RECORD, iv, sizeof(iv), tag, sizeof(tag), aad,
		                     sizeof(aad)) != 0)
			return 1;
	}
	printf("aes-128-gcm %.0f\n", (double)n * RECORD / t / 1e6);
	wc_AesFree(&aes);

	t0 = now();
	for (n = 0; (t = now() - t0) < secs; n++) {
		iv[11] = (unsigned char)n;
		if (wc_ChaCha20Poly1305_Encrypt(key, iv, aad, sizeof(aad), in, RECORD, out, tag) != 0)
			return 1;
	}
	printf("chacha20-poly1305 %.0f\n", (double)n * RECORD / t / 1e6);
	return 0;
}
