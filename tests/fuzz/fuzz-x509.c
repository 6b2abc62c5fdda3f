/* SPDX-License-Identifier: MIT */
/* fuzz-x509: any bytes as a certificate, through tlsio_cert_info_new() and the identity check
 * (tls/x509.c), which read the peer's certificate before and after wolfSSL's own parser. Checks
 * that both agree on what is a certificate, that the strings they return are well formed, and
 * that a certificate naming a host also matches it. Seeds: the test PKI (seeds.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509.h"

static const char *const hosts[] = {"localhost", "a.wild.test", "127.0.0.1", "::1", "example.test"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tlsio_cert_info *ci = NULL;
	char why[512];
	int rc = tlsio_cert_info_new(data, size, &ci), parsed = rc == 0;
	if (rc != 0 && rc != -EINVAL)
		abort();
	if (parsed) {
		if (ci->struct_size != sizeof(*ci) || ci->subject == NULL || ci->issuer == NULL ||
		    ci->serial == NULL || strlen(ci->fingerprint) != 95)
			abort();
		for (size_t i = 0; i < ci->san_count; i++)
			if (ci->san[i] == NULL || strchr(ci->san[i], ':') == NULL)
				abort();
		if (ci->san[ci->san_count] != NULL)
			abort();
	}
	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		int m = tlsio__x509_match(data, size, hosts[h], why, sizeof(why));
		/* one reader: what one refuses the other refuses too */
		int ip = tlsio__x509_ip_literal(hosts[h], NULL, NULL);
		if ((m < 0) != !parsed)
			abort();
		/* a DNS: or IP: entry that spells the host exactly is a match */
		for (size_t i = 0; parsed && m == 0 && i < ci->san_count; i++) {
			const char *v = ci->san[i];
			if ((!ip && strncmp(v, "DNS:", 4) == 0 && strcmp(v + 4, hosts[h]) == 0) ||
			    (ip && strncmp(v, "IP:", 3) == 0 && strcmp(v + 3, hosts[h]) == 0))
				abort();
		}
	}
	tlsio_cert_info_free(ci);
	return 0;
}
