/* SPDX-License-Identifier: MIT */
/* Deadlines of a loop's connections: a binary min-heap of timers that the connections embed.
 *
 * The core keeps it lazy: a timer's time may be earlier than its connection's real deadline
 * (an idle deadline moves later on every read and write, which costs nothing here), and when it
 * comes due the core looks at the real deadline and either acts or moves the timer. So finding
 * the next deadline and the expired ones costs O(1) per loop turn and O(log n) per expiry,
 * instead of a walk over every connection. */
#ifndef TLSIO_TIMERS_H
#define TLSIO_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tlsio__timer {
	uint64_t at;  /* monotonic ms */
	size_t pos;   /* 0: not in the heap; else index + 1 */
} tlsio__timer;

typedef struct tlsio__timers {
	tlsio__timer **v;
	size_t n, cap;
} tlsio__timers;

/** Make room for @p n timers, so that set() cannot fail below that. 0 or -ENOMEM. */
int tlsio__timers_reserve(tlsio__timers *h, size_t n);
/** Queue @p t at @p at, or move it there if it is queued. 0 or -ENOMEM (only past the reserve). */
int tlsio__timers_set(tlsio__timers *h, tlsio__timer *t, uint64_t at);
/** Take @p t out if it is queued. */
void tlsio__timers_del(tlsio__timers *h, tlsio__timer *t);
/** The earliest timer, or NULL. */
static inline tlsio__timer *tlsio__timers_top(const tlsio__timers *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}
void tlsio__timers_free(tlsio__timers *h);

#endif
