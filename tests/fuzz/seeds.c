/* Writes the seed corpus of fuzz-tls: real first flights from an in-memory handshake (a
 * ClientHello for the server side, the server's answer for the client side), each prefixed with
 * the mode byte that fuzz-tls reads first. Usage: seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

struct buf {
	uint8_t p[1 << 16];
	size_t len;
};

static int out(void *arg, const uint8_t *d, size_t n)
{
	struct buf *b = arg;
	if (b->len + n > sizeof(b->p))
		return -1;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static void save(const char *dir, const char *name, uint8_t mode, const struct buf *b)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 || fwrite(b->p, 1, b->len, f) != b->len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

static tlsio_tls_config *cfg(int server, int ver, const char *alpn)
{
	const char *dir = getenv("TLSIO_TEST_CERTS");
	char cert[512], key[512], ca[512];
	tlsio_tls_opts o = {0};
	tlsio_tls_config *c = NULL;
	snprintf(cert, sizeof(cert), "%s/server.pem", dir ? dir : "tests/certs");
	snprintf(key, sizeof(key), "%s/server.key", dir ? dir : "tests/certs");
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir ? dir : "tests/certs");
	o.cert_file = server ? cert : NULL;
	o.key_file = server ? key : NULL;
	o.ca_file = server ? NULL : ca;
	o.min_version = o.max_version = ver;
	o.alpn = alpn;
	if (tlsio_tls_config_new(&c, server, &o, NULL) != 0)
		exit(1);
	return c;
}

int main(int argc, char **argv)
{
	static const int vers[2] = {TLSIO_TLS_1_2, TLSIO_TLS_1_3};
	if (argc != 2)
		return 2;
	for (int v = 0; v < 2; v++) {
		static struct buf ch, sf;
		tlsio_tls_config *sc = cfg(1, vers[v], "h2,http/1.1"), *cc = cfg(0, vers[v], "http/1.1");
		tlsio__tls *s = NULL, *c = NULL;
		char name[64];
		ch.len = sf.len = 0;
		if (tlsio__tls_new(&s, sc, NULL, out, &sf) != 0 ||
		    tlsio__tls_new(&c, cc, "localhost", out, &ch) != 0)
			return 1;
		(void)tlsio__tls_handshake(c);
		(void)tlsio__tls_feed(s, ch.p, ch.len);
		(void)tlsio__tls_handshake(s);
		for (int mode = 0; mode < 8; mode += 2) {
			snprintf(name, sizeof(name), "clienthello-%d-m%d", v ? 13 : 12, mode);
			save(argv[1], name, (uint8_t)(mode | (40 << 2 & 0xfc)), &ch);
		}
		snprintf(name, sizeof(name), "serverflight-%d", v ? 13 : 12);
		save(argv[1], name, 1 | (40 << 2 & 0xfc), &sf);
		tlsio__tls_free(s);
		tlsio__tls_free(c);
		tlsio_tls_config_free(sc);
		tlsio_tls_config_free(cc);
	}
	return 0;
}
