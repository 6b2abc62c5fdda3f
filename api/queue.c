/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

/* One segment: either an owned chunk (data points at own[]) or a borrowed buffer (cap == 0). */
struct tlsio__seg {
	tlsio__seg *next;
	const uint8_t *data;
	size_t start, end, cap;
	uint8_t own[];
};

#define PT_CHUNK (64 * 1024)
#define CT_CHUNK (256 * 1024)

static tlsio__seg *seg_new(size_t cap)
{
	tlsio__seg *s = malloc(sizeof(*s) + cap);
	if (s == NULL)
		return NULL;
	s->next = NULL;
	s->data = s->own;
	s->start = s->end = 0;
	s->cap = cap;
	return s;
}

#define POOL_MAX 8

static void seg_list_free(tlsio__seg *s)
{
	while (s != NULL) {
		tlsio__seg *n = s->next;
		free(s);
		s = n;
	}
}

void tlsio__pool_drain(tlsio__pool *p)
{
	seg_list_free(p->free);
	p->free = NULL;
	p->n = 0;
}

/* A chunk of exactly @p cap bytes: from the pool if it has one. */
static tlsio__seg *chunk_get(tlsio__pool *p, size_t cap)
{
	tlsio__seg *s;
	if (p == NULL || p->free == NULL)
		return seg_new(cap);
	s = p->free;
	p->free = s->next;
	p->n--;
	s->next = NULL;
	s->start = s->end = 0;
	return s;
}

/* A drained segment leaves its queue: owned chunks of the pool's size go back to it. */
static void chunk_put(tlsio__pool *p, tlsio__seg *s, size_t cap)
{
	if (p != NULL && s->cap == cap && p->n < POOL_MAX) {
		s->next = p->free;
		p->free = s;
		p->n++;
	} else {
		free(s);
	}
}

static void seg_list_put(tlsio__pool *p, tlsio__seg *s, size_t cap)
{
	while (s != NULL) {
		tlsio__seg *n = s->next;
		chunk_put(p, s, cap);
		s = n;
	}
}

static void list_push(tlsio__seg **head, tlsio__seg **tail, tlsio__seg *s)
{
	if (*tail != NULL)
		(*tail)->next = s;
	else
		*head = s;
	*tail = s;
}

void tlsio__ptq_init(tlsio__ptq *q)
{
	memset(q, 0, sizeof(*q));
}

void tlsio__ptq_use_pool(tlsio__ptq *q, tlsio__pool *pool)
{
	q->pool = pool;
}

void tlsio__ptq_free(tlsio__ptq *q)
{
	tlsio__pool *pool = q->pool;
	seg_list_put(pool, q->head, PT_CHUNK);
	tlsio__ptq_init(q);
	q->pool = pool;
}

/* Copies fill the tail chunk first, then one new chunk big enough for the rest: a send is never
 * split across more than two segments and large copies cost a single allocation. */
int tlsio__ptq_copy(tlsio__ptq *q, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	tlsio__seg *t = q->tail, *s;
	size_t room = (t != NULL && t->cap > 0) ? t->cap - t->end : 0;
	size_t first = len < room ? len : room;

	if (len > first) {
		size_t rest = len - first;
		s = rest > PT_CHUNK ? seg_new(rest) : chunk_get(q->pool, PT_CHUNK);
		if (s == NULL)
			return -ENOMEM;
		memcpy(s->own, p + first, rest);
		s->end = rest;
	} else {
		s = NULL;
	}
	if (first > 0) {
		memcpy(t->own + t->end, p, first);
		t->end += first;
	}
	if (s != NULL)
		list_push(&q->head, &q->tail, s);
	q->bytes += len;
	return 0;
}

int tlsio__ptq_ref(tlsio__ptq *q, const void *buf, size_t len)
{
	tlsio__seg *s;
	if (len == 0)
		return 0;
	s = malloc(sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->next = NULL;
	s->data = buf;
	s->start = 0;
	s->end = len;
	s->cap = 0;
	list_push(&q->head, &q->tail, s);
	q->bytes += len;
	return 0;
}

const uint8_t *tlsio__ptq_peek(const tlsio__ptq *q, size_t *len)
{
	tlsio__seg *s = q->head;
	while (s != NULL && s->start == s->end)
		s = s->next;
	if (s == NULL) {
		*len = 0;
		return NULL;
	}
	*len = s->end - s->start;
	return s->data + s->start;
}

size_t tlsio__ptq_gather(const tlsio__ptq *q, uint8_t *dst, size_t cap)
{
	size_t n = 0;
	for (tlsio__seg *s = q->head; s != NULL && n < cap; s = s->next) {
		size_t k = s->end - s->start;
		if (k > cap - n)
			k = cap - n;
		memcpy(dst + n, s->data + s->start, k);
		n += k;
	}
	return n;
}

void tlsio__ptq_consume(tlsio__ptq *q, size_t n)
{
	q->bytes -= n;
	while (q->head != NULL) {
		tlsio__seg *s = q->head;
		size_t k = s->end - s->start;
		if (k > n)
			k = n;
		s->start += k;
		n -= k;
		if (s->start < s->end)
			break;
		if (s == q->tail && s->cap > 0 && q->pool == NULL) {
			/* keep the tail chunk: the next small copy lands in it without malloc */
			s->start = s->end = 0;
			break;
		}
		q->head = s->next;
		if (q->head == NULL)
			q->tail = NULL;
		chunk_put(q->pool, s, PT_CHUNK);
	}
}

void tlsio__ctq_init(tlsio__ctq *q)
{
	memset(q, 0, sizeof(*q));
}

void tlsio__ctq_use_pool(tlsio__ctq *q, tlsio__pool *pool)
{
	q->pool = pool;
}

void tlsio__ctq_free(tlsio__ctq *q)
{
	tlsio__pool *pool = q->pool;
	seg_list_put(pool, q->head, CT_CHUNK);
	free(q->spare);
	tlsio__ctq_init(q);
	q->pool = pool;
}

int tlsio__ctq_append(tlsio__ctq *q, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		tlsio__seg *t = q->tail;
		size_t room = t != NULL ? t->cap - t->end : 0, k;
		if (room == 0) {
			if (q->spare != NULL && q->spare->cap >= CT_CHUNK) {
				t = q->spare;
				q->spare = NULL;
				t->next = NULL;
				t->start = t->end = 0;
			} else {
				t = len > CT_CHUNK ? seg_new(len) : chunk_get(q->pool, CT_CHUNK);
				if (t == NULL)
					return -ENOMEM;
			}
			list_push(&q->head, &q->tail, t);
			room = t->cap;
		}
		k = len < room ? len : room;
		memcpy(t->own + t->end, p, k);
		t->end += k;
		p += k;
		len -= k;
		q->bytes += k;
	}
	return 0;
}

size_t tlsio__ctq_iov(const tlsio__ctq *q, size_t skip, struct iovec *iov, size_t max)
{
	size_t n = 0;
	for (tlsio__seg *s = q->head; s != NULL && n < max; s = s->next) {
		size_t k = s->end - s->start;
		if (skip >= k) {
			skip -= k;
			continue;
		}
		iov[n].iov_base = (void *)(s->own + s->start + skip);
		iov[n].iov_len = k - skip;
		skip = 0;
		n++;
	}
	return n;
}

void tlsio__ctq_consume(tlsio__ctq *q, size_t n)
{
	q->bytes -= n;
	while (n > 0) {
		tlsio__seg *s = q->head;
		size_t k = s->end - s->start;
		if (k > n)
			k = n;
		s->start += k;
		n -= k;
		if (s->start < s->end)
			break;
		/* The tail still takes appends: keep it, unless the queue is empty and a pool can
		 * hold it while the connection idles. */
		if (s == q->tail && s->end < s->cap && (q->pool == NULL || q->bytes > 0))
			break;
		q->head = s->next;
		if (q->head == NULL)
			q->tail = NULL;
		if (q->pool != NULL)
			chunk_put(q->pool, s, CT_CHUNK);
		else if (q->spare == NULL && s->cap == CT_CHUNK)
			q->spare = s;
		else
			free(s);
	}
}
