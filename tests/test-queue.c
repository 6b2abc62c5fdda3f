/* SPDX-License-Identifier: MIT */
/* Unit tests of the core's data structures: the plaintext and ciphertext queues against a flat
 * model, and the deadline heap (api/timers.c) against a brute-force minimum. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "timers.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random copies, references, gathers and partial consumes must replay the model byte for byte,
 * without a pool (_i == 0) and with one (_i == 1). */
START_TEST(ptq_model)
{
	tlsio__ptq q;
	tlsio__pool pool = {0};
	size_t cap = 8 << 20, head = 0, tail = 0;
	uint8_t *model = malloc(cap), *src = malloc(1 << 20), *tmp = malloc(1 << 16);
	for (size_t i = 0; i < (1u << 20); i++)
		src[i] = (uint8_t)rnd();
	tlsio__ptq_init(&q);
	if (_i)
		tlsio__ptq_use_pool(&q, &pool);
	for (int op = 0; op < 20000; op++) {
		unsigned what = (unsigned)(rnd() % 4);
		if (what < 2 && tail < cap - (1 << 17)) {
			size_t len = (rnd() % 8 == 0) ? (size_t)(rnd() % 100000) : (size_t)(rnd() % 300);
			size_t off = (size_t)(rnd() % ((1 << 20) - len));
			if (what == 0)
				ck_assert_int_eq(tlsio__ptq_copy(&q, src + off, len), 0);
			else
				ck_assert_int_eq(tlsio__ptq_ref(&q, src + off, len), 0);
			memcpy(model + tail, src + off, len);
			tail += len;
		} else if (what == 2) {
			size_t n = tlsio__ptq_gather(&q, tmp, 1 << 16);
			size_t want = tail - head < (1u << 16) ? tail - head : (1u << 16);
			ck_assert_uint_eq(n, want);
			ck_assert(memcmp(tmp, model + head, n) == 0);
		} else {
			size_t n = 0;
			const uint8_t *p = tlsio__ptq_peek(&q, &n);
			ck_assert_uint_eq(n == 0, head == tail);
			if (n > 0) {
				size_t k = 1 + (size_t)(rnd() % n);
				ck_assert(memcmp(p, model + head, k) == 0);
				tlsio__ptq_consume(&q, k);
				head += k;
			}
		}
		ck_assert_uint_eq(q.bytes, tail - head);
		if (head == tail)
			head = tail = 0;
	}
	tlsio__ptq_free(&q);
	tlsio__pool_drain(&pool);
	free(model);
	free(src);
	free(tmp);
}
END_TEST

/* Appended ciphertext never moves until consumed: io_uring keeps pointers into it. */
START_TEST(ctq_stable_and_ordered)
{
	tlsio__ctq q;
	tlsio__pool pool = {0};
	struct iovec iov[1024];
	size_t sent = 0, appended = 0;
	uint8_t *chunk = malloc(70000);
	const uint8_t *first = NULL;
	tlsio__ctq_init(&q);
	if (_i)
		tlsio__ctq_use_pool(&q, &pool);
	for (int round = 0; round < 2000; round++) {
		size_t len = 1 + (size_t)(rnd() % 70000), n, k, total = 0;
		for (size_t i = 0; i < len; i++)
			chunk[i] = (uint8_t)(appended + i);
		ck_assert_int_eq(tlsio__ctq_append(&q, chunk, len), 0);
		appended += len;
		n = tlsio__ctq_iov(&q, 0, iov, 1024);
		ck_assert_uint_gt(n, 0);
		if (first != NULL)
			ck_assert_ptr_eq(iov[0].iov_base, first); /* the head did not move */
		for (size_t i = 0; i < n; i++) {
			const uint8_t *p = iov[i].iov_base;
			for (size_t j = 0; j < iov[i].iov_len; j += 997)
				ck_assert_uint_eq(p[j], (uint8_t)(sent + total + j));
			total += iov[i].iov_len;
		}
		ck_assert_uint_eq(total, appended - sent);
		/* skip: the view past the first `skip` bytes starts at the right byte */
		if (total > 1) {
			size_t skip = (size_t)(rnd() % total);
			size_t m = tlsio__ctq_iov(&q, skip, iov, 1024);
			ck_assert_uint_gt(m, 0);
			ck_assert_uint_eq(((uint8_t *)iov[0].iov_base)[0], (uint8_t)(sent + skip));
		}
		k = (size_t)(rnd() % (total + 1));
		tlsio__ctq_consume(&q, k);
		sent += k;
		ck_assert_uint_eq(q.bytes, appended - sent);
		n = tlsio__ctq_iov(&q, 0, iov, 1);
		first = n > 0 ? iov[0].iov_base : NULL;
	}
	tlsio__ctq_free(&q);
	tlsio__pool_drain(&pool);
	free(chunk);
}
END_TEST

/* With a pool, a drained queue holds no chunk (an idle connection costs no buffer), the next
 * queue reuses the chunk instead of allocating one, and the pool stays bounded. */
START_TEST(pool_idle_queues_hold_nothing)
{
	tlsio__pool pt = {0}, ct = {0};
	tlsio__ptq pq[20];
	tlsio__ctq cq[20];
	struct iovec iov[4];
	uint8_t rec[300] = {1, 2, 3};
	void *seen;
	const uint8_t *p;
	size_t n;
	for (int i = 0; i < 20; i++) {
		tlsio__ptq_init(&pq[i]);
		tlsio__ctq_init(&cq[i]);
		tlsio__ptq_use_pool(&pq[i], &pt);
		tlsio__ctq_use_pool(&cq[i], &ct);
	}
	/* one queue: fill, drain, and the chunk is the pool's again */
	ck_assert_int_eq(tlsio__ctq_append(&cq[0], rec, sizeof(rec)), 0);
	ck_assert_uint_eq(tlsio__ctq_iov(&cq[0], 0, iov, 4), 1);
	seen = iov[0].iov_base;
	tlsio__ctq_consume(&cq[0], 100);
	ck_assert_ptr_nonnull(cq[0].head); /* not drained yet: the bytes stay where they are */
	tlsio__ctq_consume(&cq[0], sizeof(rec) - 100);
	ck_assert_ptr_null(cq[0].head);
	ck_assert_uint_eq(ct.n, 1);
	ck_assert_int_eq(tlsio__ctq_append(&cq[1], rec, sizeof(rec)), 0);
	ck_assert_uint_eq(ct.n, 0);
	ck_assert_uint_eq(tlsio__ctq_iov(&cq[1], 0, iov, 4), 1);
	ck_assert_ptr_eq(iov[0].iov_base, seen);
	ck_assert_uint_eq(((uint8_t *)iov[0].iov_base)[2], 3);
	tlsio__ctq_consume(&cq[1], sizeof(rec));
	ck_assert_ptr_null(cq[1].head);
	ck_assert_int_eq(tlsio__ptq_copy(&pq[0], rec, sizeof(rec)), 0);
	p = tlsio__ptq_peek(&pq[0], &n);
	ck_assert_uint_eq(n, sizeof(rec));
	ck_assert_uint_eq(p[1], 2);
	tlsio__ptq_consume(&pq[0], n);
	ck_assert_ptr_null(pq[0].head);
	ck_assert_uint_eq(pt.n, 1);
	/* twenty queues busy at once, then all drained: the pools keep a bounded number */
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(tlsio__ctq_append(&cq[i], rec, sizeof(rec)), 0);
		ck_assert_int_eq(tlsio__ptq_copy(&pq[i], rec, sizeof(rec)), 0);
	}
	for (int i = 0; i < 20; i++) {
		tlsio__ctq_consume(&cq[i], sizeof(rec));
		if (i % 2)
			tlsio__ptq_consume(&pq[i], sizeof(rec));
		else
			tlsio__ptq_free(&pq[i]); /* a failed connection drops its plaintext */
		ck_assert_ptr_null(cq[i].head);
		ck_assert_ptr_null(pq[i].head);
	}
	ck_assert_uint_gt(ct.n, 0);
	ck_assert_uint_le(ct.n, 8);
	ck_assert_uint_le(pt.n, 8);
	for (int i = 0; i < 20; i++) {
		tlsio__ctq_free(&cq[i]);
		tlsio__ptq_free(&pq[i]);
	}
	tlsio__pool_drain(&pt);
	tlsio__pool_drain(&ct);
	ck_assert_uint_eq(pt.n + ct.n, 0);
}
END_TEST

/* 100,000 one-byte copies must not cost 100,000 allocations' worth of segments. */
START_TEST(ptq_small_copies_pack)
{
	tlsio__ptq q;
	size_t n = 0;
	int segs = 0;
	tlsio__ptq_init(&q);
	for (int i = 0; i < 100000; i++) {
		uint8_t b = (uint8_t)i;
		ck_assert_int_eq(tlsio__ptq_copy(&q, &b, 1), 0);
	}
	while (q.bytes > 0) {
		const uint8_t *p = tlsio__ptq_peek(&q, &n);
		ck_assert_uint_eq(p[0], (uint8_t)(100000 - q.bytes));
		tlsio__ptq_consume(&q, n);
		segs++;
	}
	ck_assert_int_le(segs, 3);
	tlsio__ptq_free(&q);
}
END_TEST

/* Random inserts, moves (earlier and later), deletions and pops of expired timers: the top is
 * always the earliest queued timer, every queued timer knows its place, and draining in order
 * yields non-decreasing times. */
START_TEST(timers_model)
{
	enum { N = 256 };
	static tlsio__timer t[N];
	tlsio__timers h = {0};
	memset(t, 0, sizeof(t));
	ck_assert_int_eq(tlsio__timers_reserve(&h, N / 2), 0);
	for (int op = 0; op < 100000; op++) {
		size_t i = (size_t)(rnd() % N), queued = 0;
		const tlsio__timer *top;
		uint64_t min = UINT64_MAX;
		switch (rnd() % 4) {
		case 0:
		case 1:
			if (tlsio__timers_set(&h, &t[i], rnd() % 10000) != 0)
				ck_abort_msg("step %d: set failed", op);
			break;
		case 2:
			tlsio__timers_del(&h, &t[i]);
			if (t[i].pos != 0)
				ck_abort_msg("step %d: deleted timer still has a place", op);
			break;
		default:
			top = tlsio__timers_top(&h);
			if (top != NULL)
				tlsio__timers_del(&h, (tlsio__timer *)top);
			break;
		}
		/* plain checks here: a Check assertion per step and timer costs more than the heap */
		for (size_t k = 0; k < N; k++) {
			if (t[k].pos == 0)
				continue;
			queued++;
			if (h.v[t[k].pos - 1].t != &t[k])
				ck_abort_msg("step %d: timer %zu is not where its pos says", op, k);
			/* the slot's cached key is the timer's, and no parent comes after its child */
			if (h.v[t[k].pos - 1].at != t[k].at || h.v[t[k].pos - 1].seq != t[k].seq)
				ck_abort_msg("step %d: timer %zu: stale key in its slot", op, k);
			if (t[k].pos > 1) {
				const tlsio__heap_slot *p = &h.v[(t[k].pos - 2) / 2];
				if (p->at > t[k].at || (p->at == t[k].at && p->seq > t[k].seq))
					ck_abort_msg("step %d: timer %zu above its parent", op, k);
			}
			if (t[k].at < min)
				min = t[k].at;
		}
		top = tlsio__timers_top(&h);
		if (queued != h.n || (queued == 0) != (top == NULL) || (top != NULL && top->at != min))
			ck_abort_msg("step %d: %zu queued (heap says %zu), top %" PRIu64 ", earliest %" PRIu64,
			             op, queued, h.n, top != NULL ? top->at : 0, min);
	}
	for (uint64_t last = 0, last_seq = 0, first = 1; tlsio__timers_top(&h) != NULL; first = 0) {
		tlsio__timer *top = tlsio__timers_top(&h);
		ck_assert_uint_ge(top->at, last);
		/* ties come out in the order they were queued or moved */
		if (!first && top->at == last)
			ck_assert_uint_gt(top->seq, last_seq);
		last = top->at;
		last_seq = top->seq;
		tlsio__timers_del(&h, top);
	}
	ck_assert_uint_eq(h.n, 0);
	tlsio__timers_free(&h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("model");
	SRunner *sr;
	int failed;
	tcase_add_loop_test(tc, ptq_model, 0, 2);
	tcase_add_loop_test(tc, ctq_stable_and_ordered, 0, 2);
	tcase_add_test(tc, ptq_small_copies_pack);
	tcase_add_test(tc, pool_idle_queues_hold_nothing);
	tcase_add_test(tc, timers_model);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
