/* SPDX-License-Identifier: MIT */
/* Internal declarations shared by api/ files (not by backends: they see backends/backend.h). */
#ifndef TLSIO_CORE_H
#define TLSIO_CORE_H

#include "tlsio.h"

/** Parse "IP:PORT" / "[IPv6]:PORT" into a sockaddr. 0 or TLSIO_E_BAD_ADDRESS. */
struct sockaddr_storage;
int tlsio__parse_addr(const char *s, struct sockaddr_storage *ss, unsigned *len);
/** Longest host part of an address (a DNS name is at most 253 characters). */
#define TLSIO__HOST_MAX 256
/** The host part of "HOST:PORT" / "[IPv6]:PORT" as written (without the brackets): the
 * identity a client verifies. 0 or TLSIO_E_BAD_ADDRESS. */
int tlsio__addr_host(const char *s, char *host, size_t len);
/** Format a sockaddr as "IP:PORT" / "[IPv6]:PORT". */
int tlsio__format_addr(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
