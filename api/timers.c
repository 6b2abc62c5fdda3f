/* SPDX-License-Identifier: MIT */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "timers.h"

static void place(tlsio__timers *h, size_t i, tlsio__heap_slot s)
{
	h->v[i] = s;
	s.t->pos = (uint32_t)(i + 1);
}

static int before(const tlsio__heap_slot *a, const tlsio__heap_slot *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void sift_up(tlsio__timers *h, size_t i)
{
	tlsio__heap_slot s = h->v[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&s, &h->v[parent]))
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, s);
}

static void sift_down(tlsio__timers *h, size_t i)
{
	tlsio__heap_slot s = h->v[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n && before(&h->v[child + 1], &h->v[child]))
			child++;
		if (!before(&h->v[child], &s))
			break;
		place(h, i, h->v[child]);
		i = child;
	}
	place(h, i, s);
}

int tlsio__timers_reserve(tlsio__timers *h, size_t n)
{
	tlsio__heap_slot *v;
	size_t cap;
	if (n <= h->cap)
		return 0;
	if (n >= UINT32_MAX)
		return -ENOMEM; /* pos is 32 bits */
	cap = h->cap ? h->cap : 64;
	while (cap < n)
		cap *= 2;
	v = realloc(h->v, cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

int tlsio__timers_set(tlsio__timers *h, tlsio__timer *t, uint64_t at)
{
	size_t i;
	if (t->pos == 0) {
		int rc = tlsio__timers_reserve(h, h->n + 1);
		if (rc < 0)
			return rc;
		t->at = at;
		t->seq = h->seq++;
		place(h, h->n++, (tlsio__heap_slot){t->at, t->seq, t});
		sift_up(h, h->n - 1);
		return 0;
	}
	/* A move, also to the same time, is a new start: it goes behind the others due then (and
	 * out of the current pass, see loop_deadlines). The key only grows when the time does not
	 * shrink. */
	i = t->pos - 1;
	t->seq = h->seq++;
	h->v[i].seq = t->seq;
	if (at < t->at) {
		t->at = h->v[i].at = at;
		sift_up(h, i);
	} else {
		t->at = h->v[i].at = at;
		sift_down(h, i);
	}
	return 0;
}

void tlsio__timers_del(tlsio__timers *h, tlsio__timer *t)
{
	size_t i = t->pos;
	tlsio__heap_slot last;
	if (i == 0)
		return;
	i--;
	t->pos = 0;
	last = h->v[--h->n];
	if (last.t == t)
		return;
	/* The last one fills the hole; it may belong above or below it. */
	place(h, i, last);
	if (i > 0 && before(&last, &h->v[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void tlsio__timers_free(tlsio__timers *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
