/* SPDX-License-Identifier: MIT */
/* Internal declarations shared by api/ files (not by backends: they see backends/backend.h). */
#ifndef TLSIO_CORE_H
#define TLSIO_CORE_H

#include <sys/socket.h>

#include "tlsio.h"

/** Longest host part of an address (a DNS name is at most 253 characters). */
#define TLSIO__HOST_MAX 256

enum tlsio__addr_kind {
	TLSIO__ADDR_IP,   /* a numeric address: ss */
	TLSIO__ADDR_NAME, /* a host name to resolve: host, port */
	TLSIO__ADDR_UNIX, /* unix:PATH or unix:@NAME: ss */
	TLSIO__ADDR_FD    /* fd:N (listeners): fd */
};

/** An address as tlsio_connect() and tlsio_listen() take it (tlsio.h, "Addresses"). */
struct tlsio__addr {
	enum tlsio__addr_kind kind;
	struct sockaddr_storage ss;
	socklen_t len;
	char host[TLSIO__HOST_MAX]; /* IP: as written, without brackets and zone; NAME: the name */
	char port[8];
	int fd;
};

/* Parse @p s (@p listen: the listener forms, "*:PORT", "localhost:PORT" as 127.0.0.1 and
 * "fd:N"; a host name is refused). 0, TLSIO_E_BAD_ADDRESS or -EINVAL (an unknown interface in
 * a zone). */
int tlsio__addr_parse(const char *s, int listen, struct tlsio__addr *a);
/** Format a sockaddr as "IP:PORT", "[IPv6]:PORT", "[IPv6%ZONE]:PORT", "unix:PATH",
 * "unix:@NAME" ("unix:" unnamed). 0, -ENOSPC, -EAFNOSUPPORT. */
int tlsio__format_addr(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len);

#endif
