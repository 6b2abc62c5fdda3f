/* SPDX-License-Identifier: MIT */
/* Socket read/write loops shared by the readiness backends (epoll, blocking, libev, libuv): the one
 * place that turns partial writes, EAGAIN and EINTR into "resume from the first unsent byte". */
#ifndef TLSIO_SOCKIO_H
#define TLSIO_SOCKIO_H

#include <stddef.h>
#include <stdint.h>
#include "backend.h"

#define TLSIO__SOCK_DONE  0  /* queue empty (write) / EOF or reading no longer wanted (read) */
#define TLSIO__SOCK_AGAIN 1  /* the kernel said EAGAIN: wait for readiness */
#define TLSIO__SOCK_MORE  2  /* budget used up with work left: come back soon */
#define TLSIO__SOCK_GONE  3  /* the connection ended inside a callback or on an error */

/** Write queued ciphertext until the queue is empty, EAGAIN, or @p budget bytes went out
 * (0: no budget). The budget keeps one connection whose peer reads fast from holding the loop
 * (the core encrypts as bytes leave, so a turn's work grows with what is written). */
int tlsio__sock_write(tlsio_conn *c, size_t budget);
/** Read until EAGAIN, EOF, @p budget bytes, or the core stops wanting input. Unless
 * @p until_eagain, a read that did not fill @p buf also ends it (TLSIO__SOCK_AGAIN): the socket
 * was drained then, and a stream socket signals new data with a new readiness event, so the
 * recv that would only say EAGAIN is saved (one syscall per request of a keep-alive server).
 * Pass until_eagain after the peer's FIN was signalled: no event follows that one. */
int tlsio__sock_read(tlsio_conn *c, uint8_t *buf, size_t cap, size_t budget, int flags,
                     int until_eagain);
/** Accept up to @p max connections from @p l's backlog, each handed to the core (non-blocking,
 * close-on-exec); ends early at EAGAIN or once a callback closed the listener. */
void tlsio__sock_accept(tlsio_listener *l, unsigned max);
/** The socket's pending error (SO_ERROR, or getsockopt's own errno): a positive errno, 0 if
 * none. After a connect, whether it succeeded. */
int tlsio__sock_error(int fd);

#endif
