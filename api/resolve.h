/* SPDX-License-Identifier: MIT */
/* Host name resolution off the loop (api/resolve.c), for connect.c. */
#ifndef TLSIO_RESOLVE_H
#define TLSIO_RESOLVE_H

#include <netdb.h>

#include "tlsio.h"

struct tlsio__resolve;
/** On the loop's thread, as a task: @p res (the callee's, freeaddrinfo()) or a getaddrinfo
 * error @p gai_rc (with errno @p gai_errno for EAI_SYSTEM). */
typedef void (*tlsio__resolve_cb)(void *arg, struct addrinfo *res, int gai_rc, int gai_errno);
/** Queue a lookup of @p host / numeric @p port. 0, -ENOMEM, -EAGAIN (no thread could start),
 * -EINVAL (too long). */
int tlsio__resolve_start(tlsio_loop *loop, const char *host, const char *port,
                         tlsio__resolve_cb cb, void *arg, struct tlsio__resolve **out);
/** On the loop's thread: @p cb of this request will not run; its memory is freed (now, by the
 * worker when its lookup returns, or by the posted task). */
void tlsio__resolve_cancel(struct tlsio__resolve *r);

#endif
