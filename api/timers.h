/* SPDX-License-Identifier: MIT */
/* A loop's deadlines: one binary min-heap for the connections' deadlines, the application's
 * timers (tlsio_timer) and a drain's deadline, each embedding a tlsio__timer.
 *
 * The core keeps it lazy: a timer's time may be earlier than its connection's real deadline
 * (an idle deadline moves later on every read and write, which costs nothing here), and when it
 * comes due the core looks at the real deadline and either acts or moves the timer. So finding
 * the next deadline and the expired ones costs O(1) per loop turn and O(log n) per expiry,
 * instead of a walk over every connection.
 *
 * Ties: timers due at the same millisecond come out in the order they were queued or last
 * moved (seq), so that a transcript of timer events is the same on every backend and run. */
#ifndef TLSIO_TIMERS_H
#define TLSIO_TIMERS_H

#include <stddef.h>
#include <stdint.h>

/* What a timer belongs to (loop_deadlines dispatches on it). */
enum { TLSIO__TK_CONN, TLSIO__TK_APP, TLSIO__TK_DRAIN };

typedef struct tlsio__timer {
	uint64_t at;  /* monotonic ms */
	uint64_t seq; /* order among equal `at`: set when queued or moved */
	uint32_t pos; /* 0: not in the heap; else index + 1 */
	uint8_t kind; /* TLSIO__TK_* */
} tlsio__timer;

/* A heap slot keeps its timer's key next to the pointer, as libev's EV_HEAP_CACHE_AT does: a
 * sift compares keys in the array, which stays in cache, instead of reading every timer on its
 * path (at 1,000,000 timers that read is a cache and TLB miss per level: bench/notes.md). */
typedef struct tlsio__heap_slot {
	uint64_t at, seq;
	tlsio__timer *t;
} tlsio__heap_slot;

typedef struct tlsio__timers {
	tlsio__heap_slot *v;
	size_t n, cap;
	uint64_t seq; /* the next seq */
} tlsio__timers;

/** Make room for @p n timers, so that set() cannot fail below that. 0 or -ENOMEM (also past
 * UINT32_MAX - 1 timers). */
int tlsio__timers_reserve(tlsio__timers *h, size_t n);
/** Queue @p t at @p at, or move it there if it is queued (also to the time it has: it then
 * goes behind the others due at that time). 0 or -ENOMEM (only past the reserve). */
int tlsio__timers_set(tlsio__timers *h, tlsio__timer *t, uint64_t at);
/** Take @p t out if it is queued. */
void tlsio__timers_del(tlsio__timers *h, tlsio__timer *t);
/** The earliest timer, or NULL. */
static inline tlsio__timer *tlsio__timers_top(const tlsio__timers *h)
{
	return h->n > 0 ? h->v[0].t : NULL;
}
void tlsio__timers_free(tlsio__timers *h);

#endif
