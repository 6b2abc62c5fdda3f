/* SPDX-License-Identifier: MIT */
/* A program built against an older header: its options, callbacks and statistics structures
 * are prefixes of today's (what a header of an earlier release declared), allocated at exactly
 * their old size so that a library reading past them is caught (ASan, or the canary). It runs
 * a TLS echo of 1 MiB on $TLSIO_BACKEND through the library built now, then checks how the
 * library treats structures from a newer header. Exit 0 when everything held. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tlsio.h>

/* the "older" layouts: today's first fields */
struct old_tls_opts {
	size_t struct_size;
	const char *cert_file, *key_file, *ca_file;
};
struct old_callbacks {
	size_t struct_size;
	void (*on_handshake)(tlsio_conn *c, void *user);
	void (*on_data)(tlsio_conn *c, const uint8_t *data, size_t len, void *user);
};
struct old_conn_opts {
	size_t struct_size;
	const void *cb;
	void *user;
};
struct old_stats {
	size_t struct_size;
	uint64_t app_bytes_queued, app_bytes_sent;
};
#define SAME(o, n, f) _Static_assert(offsetof(o, f) == offsetof(n, f), #f " moved")
SAME(struct old_tls_opts, tlsio_tls_opts, cert_file);
SAME(struct old_tls_opts, tlsio_tls_opts, ca_file);
SAME(struct old_callbacks, tlsio_callbacks, on_data);
SAME(struct old_conn_opts, tlsio_conn_opts, user);
SAME(struct old_stats, tlsio_stats, app_bytes_sent);

#define TOTAL (1u << 20)
static size_t echoed, got;
static int failed;
static tlsio_conn *client;
static unsigned char canary[64];

static void *exact(size_t n)
{
	void *p = calloc(1, n); /* no slack: reading past n is a heap overflow */
	if (p == NULL)
		exit(2);
	return p;
}

static void fail(const char *what)
{
	fprintf(stderr, "abi-old: %s\n", what);
	failed = 1;
}

static void srv_data(tlsio_conn *c, const uint8_t *d, size_t n, void *user)
{
	(void)user;
	if (tlsio_send(c, d, n) != 0)
		fail("echo send refused");
	echoed += n;
}

static void cli_handshake(tlsio_conn *c, void *user)
{
	static uint8_t buf[TOTAL];
	(void)user;
	memset(buf, 0x5a, sizeof(buf));
	if (tlsio_send(c, buf, sizeof(buf)) != 0)
		fail("client send refused");
}

static void cli_data(tlsio_conn *c, const uint8_t *d, size_t n, void *user)
{
	(void)user;
	for (size_t i = 0; i < n; i++)
		if (d[i] != 0x5a)
			fail("echo differs");
	got += n;
	if (got == TOTAL) {
		/* statistics into the old, smaller structure: nothing past it may be written */
		unsigned char *mem = exact(sizeof(struct old_stats) + sizeof(canary));
		struct old_stats *st = (struct old_stats *)mem;
		st->struct_size = sizeof(*st);
		memcpy(mem + sizeof(*st), canary, sizeof(canary));
		if (tlsio_conn_stats(c, (tlsio_stats *)st) != 0 || st->app_bytes_queued != TOTAL ||
		    st->struct_size != sizeof(*st))
			fail("statistics into the old structure");
		if (memcmp(mem + sizeof(*st), canary, sizeof(canary)) != 0)
			fail("tlsio_conn_stats wrote past the caller's struct_size");
		free(mem);
		tlsio_close(c);
	}
}

int main(void)
{
	const char *certs = getenv("TLSIO_TEST_CERTS"), *why = NULL, *vs = NULL;
	char cert[512], key[512], ca[512], addr[64];
	struct old_tls_opts *so = exact(sizeof(*so)), *co = exact(sizeof(*co));
	struct old_callbacks *scb = exact(sizeof(*scb)), *ccb = exact(sizeof(*ccb));
	struct old_conn_opts *sop = exact(sizeof(*sop)), *cop = exact(sizeof(*cop));
	tlsio_tls_config *scfg, *ccfg;
	tlsio_loop *loop;
	tlsio_listener *l;
	int rc;

	memset(canary, 0xa5, sizeof(canary));
	if (tlsio_version(&vs) != TLSIO_VERSION_NUMBER || strcmp(vs, TLSIO_VERSION_STRING) != 0) {
		fprintf(stderr, "abi-old: header %s, library %s\n", TLSIO_VERSION_STRING, vs);
		return 1;
	}
	snprintf(cert, sizeof(cert), "%s/server.pem", certs ? certs : "tests/certs");
	snprintf(key, sizeof(key), "%s/server.key", certs ? certs : "tests/certs");
	snprintf(ca, sizeof(ca), "%s/ca.pem", certs ? certs : "tests/certs");
	*so = (struct old_tls_opts){.struct_size = sizeof(*so), .cert_file = cert, .key_file = key};
	*co = (struct old_tls_opts){.struct_size = sizeof(*co), .ca_file = ca};
	*scb = (struct old_callbacks){.struct_size = sizeof(*scb), .on_data = srv_data};
	*ccb = (struct old_callbacks){.struct_size = sizeof(*ccb), .on_handshake = cli_handshake,
	                              .on_data = cli_data};
	*sop = (struct old_conn_opts){.struct_size = sizeof(*sop), .cb = scb};
	*cop = (struct old_conn_opts){.struct_size = sizeof(*cop), .cb = ccb};

	if ((rc = tlsio_loop_new(&loop, NULL)) != 0 ||
	    (rc = tlsio_tls_config_new(&scfg, 1, (const tlsio_tls_opts *)so, &why)) != 0 ||
	    (rc = tlsio_tls_config_new(&ccfg, 0, (const tlsio_tls_opts *)co, &why)) != 0) {
		fprintf(stderr, "abi-old: set-up: %s %s\n", tlsio_strerror(rc), why ? why : "");
		return 1;
	}
	rc = tlsio_listen(loop, "127.0.0.1:0", scfg, (const tlsio_conn_opts *)sop, NULL, NULL, &l);
	if (rc == 0)
		rc = tlsio_listener_addr(l, addr, sizeof(addr));
	/* no server_name in the old structure: the identity is the address, 127.0.0.1 */
	if (rc == 0)
		rc = tlsio_connect(loop, addr, ccfg, (const tlsio_conn_opts *)cop, &client);
	if (rc != 0) {
		fprintf(stderr, "abi-old: %s\n", tlsio_strerror(rc));
		return 1;
	}
	while (got < TOTAL && !failed && tlsio_loop_run(loop, TLSIO_RUN_ONCE) == 0)
		;
	for (int i = 0; i < 50; i++)
		tlsio_loop_run(loop, TLSIO_RUN_NOWAIT);

	/* structures from a newer header: unknown fields left zero are fine, set ones are not */
	{
		size_t big = sizeof(tlsio_tls_opts) + 32;
		unsigned char *mem = exact(big);
		tlsio_tls_opts *n = (tlsio_tls_opts *)mem;
		tlsio_tls_config *cfg = NULL;
		n->struct_size = big;
		n->ca_file = ca;
		if (tlsio_tls_config_new(&cfg, 0, n, &why) != 0)
			fail("a newer structure with its new fields zero was refused");
		tlsio_tls_config_free(cfg);
		mem[big - 1] = 1;
		if (tlsio_tls_config_new(&cfg, 0, n, &why) != -E2BIG)
			fail("a newer structure setting an unknown field was not refused with -E2BIG");
		else
			printf("newer structure with an unknown field: -E2BIG: %s\n", why);
		n->struct_size = (size_t)1 << 40; /* an uninitialised field: refused without reading */
		if (tlsio_tls_config_new(&cfg, 0, n, &why) != -E2BIG)
			fail("a struct_size of 1 TiB was not refused with -E2BIG");
		n->struct_size = 0;
		if (tlsio_tls_config_new(&cfg, 0, n, &why) != -EINVAL)
			fail("struct_size 0 was not refused with -EINVAL");
		else
			printf("struct_size 0: -EINVAL: %s\n", why);
		free(mem);
	}
	tlsio_listener_close(l);
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
	tlsio_loop_free(loop);
	free(so), free(co), free(scb), free(ccb), free(sop), free(cop);
	if (got != TOTAL)
		fail("the echo did not complete");
	printf("abi-old on %s: %zu bytes echoed through structures of the old sizes (tls_opts %zu of "
	       "%zu, callbacks %zu of %zu, conn_opts %zu of %zu, stats %zu of %zu)\n",
	       getenv("TLSIO_BACKEND") ? getenv("TLSIO_BACKEND") : "auto", got,
	       sizeof(struct old_tls_opts), sizeof(tlsio_tls_opts), sizeof(struct old_callbacks),
	       sizeof(tlsio_callbacks), sizeof(struct old_conn_opts), sizeof(tlsio_conn_opts),
	       sizeof(struct old_stats), sizeof(tlsio_stats));
	(void)echoed;
	return failed;
}
