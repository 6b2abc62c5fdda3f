/* SPDX-License-Identifier: MIT */
/* The addresses tlsio_connect() and tlsio_listen() take (tlsio.h, "Addresses"). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core.h"

/* A host name as RFC 1123 allows it (letters, digits, '-', '.', and '_' which real zones use):
 * anything else ("1.2.3", a space, a '%') is a typo, not a name for the resolver. */
static int is_hostname(const char *h)
{
	size_t n = strlen(h), label = 0;
	int alpha = 0;
	if (n == 0 || n > 253)
		return 0;
	for (const char *p = h; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return 0;
		if (isalpha(ch) || ch == '-' || ch == '_')
			alpha = 1;
		if (++label > 63)
			return 0;
	}
	return alpha; /* all digits and dots is a malformed IPv4 address, not a name */
}

static int parse_port(const char *p, long *port)
{
	char *end;
	errno = 0;
	*port = strtol(p, &end, 10);
	if (p[0] == '\0' || !isdigit((unsigned char)p[0]) || *end != '\0' || errno != 0 ||
	    *port < 0 || *port > 65535)
		return TLSIO_E_BAD_ADDRESS;
	return 0;
}

static int parse_unix(const char *path, struct tlsio__addr *a)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
	size_t n = strlen(path);
	int abstract = path[0] == '@';
	/* a path needs its NUL inside sun_path; an abstract name ('@' standing for its leading
	 * NUL) may fill it */
	if (n == 0 || (abstract && n == 1) || n > sizeof(un->sun_path) ||
	    (!abstract && n == sizeof(un->sun_path)))
		return TLSIO_E_BAD_ADDRESS;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (abstract) {
		/* the name is the bytes after a NUL, as long as the address says, not a C string */
		un->sun_path[0] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		un->sun_path[n] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	a->kind = TLSIO__ADDR_UNIX;
	return 0;
}

int tlsio__addr_parse(const char *s, int listen, struct tlsio__addr *a)
{
	char host[TLSIO__HOST_MAX];
	const char *colon, *h = s, *zone = NULL;
	size_t hl;
	long port;
	int bracket;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (s == NULL)
		return TLSIO_E_BAD_ADDRESS;
	if (strncmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, a);
	if (strncmp(s, "fd:", 3) == 0) {
		char *end;
		long fd;
		errno = 0;
		fd = strtol(s + 3, &end, 10);
		if (!listen || !isdigit((unsigned char)s[3]) || *end != '\0' || errno != 0 ||
		    fd > INT_MAX)
			return TLSIO_E_BAD_ADDRESS;
		a->kind = TLSIO__ADDR_FD;
		a->fd = (int)fd;
		return 0;
	}
	bracket = s[0] == '[';
	if (bracket) {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return TLSIO_E_BAD_ADDRESS;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return TLSIO_E_BAD_ADDRESS;
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host) || parse_port(colon + 1, &port) < 0)
		return TLSIO_E_BAD_ADDRESS;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(a->port, sizeof(a->port), "%ld", port);
	if (bracket) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a->ss;
		char *pct = strchr(host, '%');
		if (pct != NULL) {
			*pct = '\0';
			zone = pct + 1;
		}
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return TLSIO_E_BAD_ADDRESS;
		if (zone != NULL) {
			char *end;
			unsigned long idx = strtoul(zone, &end, 10);
			if (zone[0] == '\0')
				return TLSIO_E_BAD_ADDRESS;
			if (*end != '\0' || !isdigit((unsigned char)zone[0]))
				idx = if_nametoindex(zone);
			if (idx == 0 || idx > UINT32_MAX)
				return -EINVAL; /* no such interface */
			a6->sin6_scope_id = (uint32_t)idx;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&a->ss;
		if (listen && (hl == 0 || strcmp(host, "*") == 0))
			strcpy(host, "0.0.0.0");
		else if (listen && strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1"); /* a listener must not wait on a resolver */
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			if (listen || !is_hostname(host))
				return TLSIO_E_BAD_ADDRESS;
			a->kind = TLSIO__ADDR_NAME;
			strcpy(a->host, host);
			return 0;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*a4);
	}
	a->kind = TLSIO__ADDR_IP;
	strcpy(a->host, host);
	return 0;
}

int tlsio__format_addr(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int n;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		char zone[IF_NAMESIZE + 2] = "";
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		if (a6->sin6_scope_id != 0) {
			char name[IF_NAMESIZE];
			if (if_indextoname(a6->sin6_scope_id, name) != NULL)
				snprintf(zone, sizeof(zone), "%%%s", name);
			else
				snprintf(zone, sizeof(zone), "%%%u", (unsigned)a6->sin6_scope_id);
		}
		n = snprintf(buf, len, "[%s%s]:%u", host, zone, ntohs(a6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(a4->sin_port));
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
		size_t plen = sl > offsetof(struct sockaddr_un, sun_path)
		                      ? sl - offsetof(struct sockaddr_un, sun_path) : 0;
		if (plen > 0 && un->sun_path[0] == '\0')
			n = snprintf(buf, len, "unix:@%.*s", (int)(plen - 1), un->sun_path + 1);
		else
			n = snprintf(buf, len, "unix:%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
	} else {
		return -EAFNOSUPPORT;
	}
	return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}
