/* SPDX-License-Identifier: MIT */
/* libFuzzer target: arbitrary bytes as the peer's records, on the server side (first flight:
 * the ClientHello reader, then wolfSSL) and on the client side (the server's answer to a real
 * ClientHello). Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
 *
 * The first input byte is the mode: bit 0 client side; bit 1 the server stops at the ClientHello
 * (inspect), bit 2 then refuses it with an alert; bits 3-7 how the rest is cut into feeds (1 byte
 * to about 2 KiB), so that record boundaries that fall anywhere are explored too. wolfSSL runs
 * deterministically (fuzz-common.h): the client's ClientHello is the same in every run, so the
 * recorded server flights in the seed corpus (seeds.c) answer it for real and mutations of them
 * reach certificate, signature and Finished processing, not only the ServerHello.
 *
 * Whatever the bytes, the adapter must end in "need more input", a clean status, or an error with
 * an alert - never a crash, a hang or a leak; and once the input has ended (EOF), it must never
 * ask for more. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "hello.h"
#include "tls.h"

static tlsio_tls_config *srv_cfg, *cli_cfg;

static int sink(void *arg, const uint8_t *data, size_t len)
{
	size_t *total = arg;
	(void)data;
	*total += len;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	srv_cfg = fz_cfg(1, 0, 0, NULL, "h2,http/1.1");
	cli_cfg = fz_cfg(0, 0, 0, NULL, NULL);
	fz_warm_up(srv_cfg, cli_cfg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tlsio__tls *t = NULL;
	size_t out = 0, off = 1, step;
	uint8_t plain[TLSIO__TLS_MAX_PLAIN];
	int mode, rc = 0, done = 0, closed = 0;
	tlsio__hello h;
	int alert;

	if (size < 1)
		return 0;
	mode = data[0];
	step = 1 + (size_t)(mode >> 3) * 67; /* feed sizes from 1 byte to ~2 KiB */
	/* the ClientHello reader on its own, over the whole input; then resumed over a stream that
	 * grows by 1 to ~2 KiB at a time: its first answer other than MORE (or its last MORE) must
	 * be the one-shot reader's over the same prefix */
	(void)tlsio__hello_parse(NULL, data + 1, size - 1, &h, &alert);
	{
		tlsio__hello h1, h2;
		tlsio__hello_reader r = {0};
		size_t k = 0;
		int a1, a2 = 0, r1, r2 = TLSIO__HELLO_MORE;
		while (k < size - 1 && r2 == TLSIO__HELLO_MORE) {
			k = size - 1 - k < step ? size - 1 : k + step;
			r2 = tlsio__hello_parse(&r, data + 1, k, &h2, &a2);
		}
		r1 = tlsio__hello_parse(NULL, data + 1, k, &h1, &a1);
		if (r1 != r2 || (r1 == TLSIO__HELLO_BAD && a1 != a2) ||
		    (r1 == TLSIO__HELLO_DONE && memcmp(&h1, &h2, sizeof(h1)) != 0))
			__builtin_trap();
		tlsio__hello_reader_free(&r);
	}

	fz_rng_reset(FZ_TLS_SEED);
	if (tlsio__tls_new(&t, (mode & 1) ? cli_cfg : srv_cfg, "localhost", sink, &out) != 0)
		return 0;
	if (mode & 1)
		(void)tlsio__tls_handshake(t); /* our ClientHello goes to the sink */
	if (mode & 2)
		tlsio__tls_inspect_hello(t);
	while (off < size && rc >= 0) {
		size_t n = size - off < step ? size - off : step;
		if (tlsio__tls_feed(t, data + off, n) != 0)
			break;
		off += n;
		rc = tlsio__tls_handshake(t);
		if (rc == TLSIO__TLS_HELLO) {
			rc = tlsio__tls_hello_decide(t, NULL, (mode & 4) ? TLSIO_ALERT_UNRECOGNIZED_NAME : 0);
			if (rc == 0)
				rc = tlsio__tls_handshake(t); /* go on with the input already there */
		}
		if (rc == 1) {
			int n2;
			done = 1;
			while ((n2 = tlsio__tls_read(t, plain, sizeof(plain))) > 0)
				;
			if (n2 == TLSIO__TLS_CLOSED)
				closed = 1;
			rc = n2;
		}
	}
	if (rc >= 0 && !closed) {
		tlsio__tls_set_eof(t);
		rc = tlsio__tls_handshake(t);
		if (rc == 1) {
			done = 1;
			rc = tlsio__tls_read(t, plain, sizeof(plain));
		}
		FZ_CHECK(rc != 0, "after EOF the %s asks for more input", (mode & 1) ? "client" : "server");
	}
	/* C5: a failure of its own sent an alert (wolfSSL's own gaps are listed, not fatal) */
	if (rc < 0 && !closed && rc != TLSIO_E_ALERT_RECEIVED && rc != TLSIO_E_EOF_IN_HANDSHAKE &&
	    rc != TLSIO_E_TRUNCATED && tlsio__tls_alert(t) == TLSIO_ALERT_NONE)
		fz_c5_gap((mode & 1) ? "client" : "server", done ? "after the handshake" : "handshake",
		          tlsio__tls_last_error(t), rc);
	tlsio__tls_free(t);
	return 0;
}
