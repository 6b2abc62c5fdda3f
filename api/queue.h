/* SPDX-License-Identifier: MIT */
/* Byte queues of a connection.
 *
 * tlsio__ptq: plaintext waiting for encryption. Copied sends are packed into shared chunks (N small
 * sends cost N memcpy, not N allocations); by-reference sends are kept as pointers.
 * tlsio__ctq: ciphertext waiting for the kernel. Bytes never move once appended (a chunk is only
 * appended to, and freed once fully sent), so a backend may hand their addresses to the kernel
 * (io_uring) and keep appending. */
#ifndef TLSIO_QUEUE_H
#define TLSIO_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct tlsio__seg tlsio__seg;

/* Chunks of one queue kind that drained, kept for the next queue that needs one: a loop holds
 * one pool per kind, so that idle connections hold no chunk and busy ones do not allocate one
 * per response. Bounded; what does not fit is freed. */
typedef struct tlsio__pool {
	tlsio__seg *free;
	unsigned n;
} tlsio__pool;

/** Free every chunk the pool holds. */
void tlsio__pool_drain(tlsio__pool *p);

typedef struct tlsio__ptq {
	tlsio__seg *head, *tail;
	size_t bytes;
	tlsio__pool *pool;  /* NULL: the drained tail chunk stays with the queue */
} tlsio__ptq;

typedef struct tlsio__ctq {
	tlsio__seg *head, *tail;
	size_t bytes;       /* unsent */
	tlsio__seg *spare;  /* without a pool: one drained chunk kept for reuse */
	tlsio__pool *pool;  /* NULL: keep a spare; else drained chunks go back to the pool */
} tlsio__ctq;

void tlsio__ptq_init(tlsio__ptq *q);
/** Take chunks from and give drained ones back to @p pool (the pool must outlive the queue). */
void tlsio__ptq_use_pool(tlsio__ptq *q, tlsio__pool *pool);
void tlsio__ptq_free(tlsio__ptq *q);
/** Append a copy of @p len bytes. 0 or -ENOMEM (nothing appended). */
int tlsio__ptq_copy(tlsio__ptq *q, const void *buf, size_t len);
/** Append a reference. 0 or -ENOMEM. */
int tlsio__ptq_ref(tlsio__ptq *q, const void *buf, size_t len);
/** Contiguous bytes at the head (NULL if empty). */
const uint8_t *tlsio__ptq_peek(const tlsio__ptq *q, size_t *len);
/** Copy up to @p cap head bytes into @p dst (gathering across segments); returns the count. Does not consume. */
size_t tlsio__ptq_gather(const tlsio__ptq *q, uint8_t *dst, size_t cap);
void tlsio__ptq_consume(tlsio__ptq *q, size_t n);

void tlsio__ctq_init(tlsio__ctq *q);
/** As tlsio__ptq_use_pool(). */
void tlsio__ctq_use_pool(tlsio__ctq *q, tlsio__pool *pool);
void tlsio__ctq_free(tlsio__ctq *q);
int tlsio__ctq_append(tlsio__ctq *q, const void *buf, size_t len);
/** iovecs over the unsent bytes, starting @p skip bytes after the first unsent one. */
size_t tlsio__ctq_iov(const tlsio__ctq *q, size_t skip, struct iovec *iov, size_t max);
void tlsio__ctq_consume(tlsio__ctq *q, size_t n);

#endif
