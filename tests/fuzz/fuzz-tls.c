/* libFuzzer target: arbitrary bytes as the peer's records, on the server side (first flight:
 * the ClientHello reader, then wolfSSL) and on the client side (the server's answer to a real
 * ClientHello). Built by scripts/fuzz.sh with clang -fsanitize=fuzzer,address,undefined.
 *
 * The first input byte picks the side and how the rest is cut into feeds, so that record
 * boundaries that fall anywhere are explored too. Whatever the bytes, the adapter must end in
 * "need more input", a clean status, or an error with an alert - never a crash, a hang or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static tlsio_tls_config *make_cfg(int is_server)
{
	const char *dir = getenv("TLSIO_TEST_CERTS");
	char cert[512], key[512], ca[512];
	tlsio_tls_opts o = {0};
	tlsio_tls_config *cfg = NULL;
	const char *why = NULL;
	if (dir == NULL)
		dir = "tests/certs";
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	if (is_server) {
		o.cert_file = cert;
		o.key_file = key;
		o.alpn = "h2,http/1.1";
	} else {
		o.ca_file = ca;
	}
	if (tlsio_tls_config_new(&cfg, is_server, &o, &why) != 0) {
		fprintf(stderr, "fuzz-tls: config: %s (set TLSIO_TEST_CERTS)\n", why ? why : "?");
		abort();
	}
	return cfg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	srv_cfg = make_cfg(1);
	cli_cfg = make_cfg(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tlsio__tls *t = NULL;
	size_t out = 0, off = 1, step;
	uint8_t plain[TLSIO__TLS_MAX_PLAIN];
	int mode, rc = 0;
	tlsio__hello h;
	int alert;

	if (size < 1)
		return 0;
	mode = data[0];
	/* the ClientHello reader on its own, over the whole input */
	(void)tlsio__hello_parse(data + 1, size - 1, &h, &alert);

	if (tlsio__tls_new(&t, (mode & 1) ? cli_cfg : srv_cfg, "localhost", sink, &out) != 0)
		return 0;
	if (mode & 1)
		(void)tlsio__tls_handshake(t); /* our ClientHello goes to the sink */
	if (mode & 2)
		tlsio__tls_inspect_hello(t);
	step = 1 + (size_t)(mode >> 2) * 37; /* feed sizes from 1 byte to ~2 KiB */
	while (off < size && rc >= 0) {
		size_t n = size - off < step ? size - off : step;
		if (tlsio__tls_feed(t, data + off, n) != 0)
			break;
		off += n;
		rc = tlsio__tls_handshake(t);
		if (rc == TLSIO__TLS_HELLO)
			rc = tlsio__tls_hello_decide(t, NULL, (mode & 4) ? TLSIO_ALERT_UNRECOGNIZED_NAME : 0);
		if (rc == 1) {
			int n2;
			while ((n2 = tlsio__tls_read(t, plain, sizeof(plain))) > 0)
				;
			rc = n2 == TLSIO__TLS_CLOSED ? -1 : n2;
		}
	}
	if (rc >= 0) {
		tlsio__tls_set_eof(t);
		(void)tlsio__tls_handshake(t);
	}
	(void)tlsio__tls_alert(t);
	tlsio__tls_free(t);
	return 0;
}
