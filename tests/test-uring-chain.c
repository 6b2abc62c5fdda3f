/* SPDX-License-Identifier: MIT */
/* The io_uring send-chain state machine (backends/uring_chain.c), driven by synthetic CQEs:
 * short sends, -ECANCELED tails, -EINTR, -EAGAIN, -EPIPE, out-of-order arrival of unlinked CQEs,
 * and a randomised model of a kernel with correct and with broken link semantics, checking the
 * bytes "on the wire" against the bytes reported sent. No ring, no socket. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uring_chain.h"

#define KIB 1024u

static uint8_t src[1u << 20];

static void fill_src(void)
{
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 131u + (i >> 9));
}

/* A chain of @p n full 64 KiB slots over src. */
static unsigned plan_n(tlsio__uchain *ch, unsigned n, struct iovec *out)
{
	struct iovec iov = {src, (size_t)n * 64 * KIB};
	return tlsio__uch_plan(ch, &iov, 1, TLSIO__UCH_MAX, out);
}

START_TEST(test_plan_slices)
{
	tlsio__uchain ch;
	struct iovec iov[2] = {{src, 300 * KIB}, {src + 400 * KIB, 10 * KIB}}, out[TLSIO__UCH_MAX];
	static const size_t want[] = {64 * KIB, 64 * KIB, 64 * KIB, 64 * KIB, 44 * KIB, 10 * KIB};
	unsigned n;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	ck_assert(!tlsio__uch_busy(&ch));
	n = tlsio__uch_plan(&ch, iov, 2, TLSIO__UCH_MAX, out);
	ck_assert_uint_eq(n, 6);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_eq(out[i].iov_len, want[i]);
		ck_assert(tlsio__uch_pending(&ch, i));
	}
	ck_assert_ptr_eq(out[0].iov_base, src);
	ck_assert_ptr_eq(out[4].iov_base, src + 256 * KIB);
	ck_assert_ptr_eq(out[5].iov_base, src + 400 * KIB);
	ck_assert(tlsio__uch_busy(&ch));
	/* never two chains at once */
	ck_assert_uint_eq(tlsio__uch_plan(&ch, iov, 2, TLSIO__UCH_MAX, out), 0);
	ck_assert_uint_eq(ch.chains, 1);
	ck_assert_uint_eq(ch.sqes, 6);
}
END_TEST

START_TEST(test_plan_caps)
{
	tlsio__uchain ch;
	struct iovec iov = {src, 1024 * KIB}, out[TLSIO__UCH_MAX];
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	ck_assert_uint_eq(tlsio__uch_plan(&ch, &iov, 1, 3, out), 3); /* SQ space left */
	tlsio__uch_init(&ch, 64 * KIB, 4, 1);
	ck_assert_uint_eq(tlsio__uch_plan(&ch, &iov, 1, 16, out), 4); /* configured maximum */
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	ck_assert_uint_eq(tlsio__uch_plan(&ch, &iov, 0, 16, out), 0); /* nothing to send */
	ck_assert(!tlsio__uch_busy(&ch));
}
END_TEST

START_TEST(test_in_order_full)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	ck_assert_uint_eq(plan_n(&ch, 4, out), 4);
	for (unsigned i = 0; i < 4; i++) {
		tlsio__uch_step s = tlsio__uch_complete(&ch, i, 64 * KIB);
		ck_assert_uint_eq(s.sent, 64 * KIB);
		ck_assert_int_eq(s.err, 0);
		ck_assert_uint_eq(s.done, i == 3);
	}
	ck_assert(!tlsio__uch_busy(&ch));
	ck_assert_uint_eq(ch.shorts + ch.cancels + ch.violations, 0);
}
END_TEST

/* The normal way a linked chain ends early: a short send, then -ECANCELED for the rest. */
START_TEST(test_short_then_cancelled_tail)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 4, out);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB);
	ck_assert_uint_eq(s.sent, 64 * KIB);
	s = tlsio__uch_complete(&ch, 1, 1000);
	ck_assert_uint_eq(s.sent, 1000);
	ck_assert_uint_eq(s.shorts, 1);
	ck_assert_int_eq(s.err, 0);
	s = tlsio__uch_complete(&ch, 2, -ECANCELED);
	ck_assert_uint_eq(s.sent, 0);
	ck_assert_uint_eq(s.cancels, 1);
	ck_assert(!s.done);
	s = tlsio__uch_complete(&ch, 3, -ECANCELED);
	ck_assert(s.done);
	ck_assert_int_eq(s.err, 0);
	ck_assert_uint_eq(ch.shorts, 1);
	ck_assert_uint_eq(ch.cancels, 2);
	ck_assert_uint_eq(ch.violations, 0);
	/* the next chain starts again from the first unsent byte (the caller's iov) */
	ck_assert_uint_eq(plan_n(&ch, 2, out), 2);
}
END_TEST

START_TEST(test_last_slot_short)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 2, out);
	tlsio__uch_complete(&ch, 0, 64 * KIB);
	s = tlsio__uch_complete(&ch, 1, 17);
	ck_assert_uint_eq(s.sent, 17);
	ck_assert_uint_eq(s.shorts, 1);
	ck_assert(s.done);
	ck_assert_int_eq(s.err, 0);
}
END_TEST

START_TEST(test_cancelled_head)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	size_t sent = 0;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 3, out);
	for (unsigned i = 0; i < 3; i++) {
		s = tlsio__uch_complete(&ch, i, -ECANCELED);
		sent += s.sent;
		ck_assert_int_eq(s.err, 0);
	}
	ck_assert(s.done);
	ck_assert_uint_eq(sent, 0);
	ck_assert_uint_eq(ch.cancels, 3);
}
END_TEST

START_TEST(test_eintr_resubmits)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 3, out);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB);
	ck_assert_uint_eq(s.sent, 64 * KIB);
	s = tlsio__uch_complete(&ch, 1, -EINTR);
	ck_assert_uint_eq(s.sent, 0);
	ck_assert_uint_eq(s.eintrs, 1);
	ck_assert_int_eq(s.err, 0);
	ck_assert(!s.wait_out);
	s = tlsio__uch_complete(&ch, 2, -ECANCELED);
	ck_assert(s.done);
	ck_assert_int_eq(s.err, 0);
}
END_TEST

START_TEST(test_eagain_waits_for_pollout)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 2, out);
	s = tlsio__uch_complete(&ch, 0, -EAGAIN);
	ck_assert(s.wait_out);
	ck_assert_uint_eq(s.eagains, 1);
	ck_assert_uint_eq(s.sent, 0);
	s = tlsio__uch_complete(&ch, 1, -ECANCELED);
	ck_assert(s.done);
	ck_assert_int_eq(s.err, 0);
}
END_TEST

START_TEST(test_epipe_fails_once)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 4, out);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB);
	ck_assert_uint_eq(s.sent, 64 * KIB);
	s = tlsio__uch_complete(&ch, 1, -EPIPE);
	ck_assert_uint_eq(s.sent, 0);
	ck_assert_int_eq(s.err, -EPIPE);
	s = tlsio__uch_complete(&ch, 2, -ECANCELED);
	ck_assert_int_eq(s.err, 0); /* reported once */
	s = tlsio__uch_complete(&ch, 3, -ECONNRESET);
	ck_assert_int_eq(s.err, 0);
	ck_assert(s.done);
}
END_TEST

/* Unlinked CQEs may come in any order: bytes are reported only as a contiguous prefix. */
START_TEST(test_out_of_order_unlinked)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 0);
	plan_n(&ch, 3, out);
	s = tlsio__uch_complete(&ch, 2, 64 * KIB);
	ck_assert_uint_eq(s.sent, 0);
	ck_assert(!s.done);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB);
	ck_assert_uint_eq(s.sent, 64 * KIB);
	s = tlsio__uch_complete(&ch, 1, 64 * KIB);
	ck_assert_uint_eq(s.sent, 128 * KIB);
	ck_assert(s.done);
	ck_assert_int_eq(s.err, 0);
}
END_TEST

/* Later sends completed, an earlier one came back short: a gap on the wire. The strict machine
 * (the real backend) fails the connection; the trusting one (the controls) reports only the
 * contiguous bytes and counts the violations. */
START_TEST(test_out_of_order_gap)
{
	for (int strict = 0; strict <= 1; strict++) {
		tlsio__uchain ch;
		struct iovec out[TLSIO__UCH_MAX];
		tlsio__uch_step s;
		tlsio__uch_init(&ch, 64 * KIB, 16, strict);
		plan_n(&ch, 3, out);
		s = tlsio__uch_complete(&ch, 1, 64 * KIB);
		ck_assert_uint_eq(s.sent, 0);
		s = tlsio__uch_complete(&ch, 2, 64 * KIB);
		ck_assert_uint_eq(s.sent, 0);
		s = tlsio__uch_complete(&ch, 0, 100);
		ck_assert_uint_eq(s.sent, 100);
		ck_assert_uint_eq(s.violations, 2);
		ck_assert_int_eq(s.err, strict ? -EIO : 0);
		ck_assert(s.done);
	}
}
END_TEST

/* IO_HARDLINK (or IO_LINK without MSG_WAITALL): the send after a short one still runs. */
START_TEST(test_continue_after_short)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	plan_n(&ch, 3, out);
	s = tlsio__uch_complete(&ch, 0, 5000);
	ck_assert_uint_eq(s.sent, 5000);
	ck_assert_int_eq(s.err, 0);
	s = tlsio__uch_complete(&ch, 1, 64 * KIB);
	ck_assert_uint_eq(s.sent, 0);
	ck_assert_uint_eq(s.violations, 1);
	ck_assert_int_eq(s.err, -EIO);
	s = tlsio__uch_complete(&ch, 2, 3);
	ck_assert_uint_eq(s.violations, 1);
	ck_assert_int_eq(s.err, 0);
	ck_assert(s.done);
}
END_TEST

START_TEST(test_bogus_cqes)
{
	tlsio__uchain ch;
	struct iovec out[TLSIO__UCH_MAX];
	tlsio__uch_step s;
	tlsio__uch_init(&ch, 64 * KIB, 16, 1);
	s = tlsio__uch_complete(&ch, 0, 10); /* idle: no chain */
	ck_assert_int_eq(s.err, -EIO);
	plan_n(&ch, 2, out);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB);
	ck_assert_int_eq(s.err, 0);
	s = tlsio__uch_complete(&ch, 0, 64 * KIB); /* twice */
	ck_assert_int_eq(s.err, -EIO);
	s = tlsio__uch_complete(&ch, 7, 64 * KIB); /* out of range */
	ck_assert_int_eq(s.err, -EIO);
	s = tlsio__uch_complete(&ch, 1, 64 * KIB + 1); /* more than asked */
	ck_assert_int_eq(s.err, -EIO);
	ck_assert(s.done);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* a model kernel */

static uint64_t rng_s;
static uint64_t rnd(void)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return rng_s;
}

enum kmode { K_LINK_WAITALL, K_CONTINUE };

/* Send src through chains until all of it is reported sent (or the machine fails), the kernel
 * following @p mode: K_LINK_WAITALL breaks the chain at the first send that did not complete
 * (the rest: -ECANCELED); K_CONTINUE runs every send whatever happened before (IO_HARDLINK,
 * IO_LINK without MSG_WAITALL, no link). CQEs are delivered in a random order.
 * @return 1 if the wire holds exactly src, 0 if it is corrupt (*detected: the machine failed). */
static int model_run(enum kmode mode, int strict, uint64_t seed, int *detected, uint64_t *stats)
{
	static uint8_t wire[sizeof(src) * 2];
	tlsio__uchain ch;
	size_t head = 0, wlen = 0, total = sizeof(src);
	int err = 0;
	rng_s = seed | 1;
	tlsio__uch_init(&ch, 16 * KIB, 16, strict);
	*detected = 0;
	while (head < total && err == 0) {
		struct iovec iov[2], out[TLSIO__UCH_MAX];
		size_t left = total - head, a = left, niov = 1;
		int32_t res[TLSIO__UCH_MAX];
		unsigned order[TLSIO__UCH_MAX], n, max = 1 + (unsigned)(rnd() % TLSIO__UCH_MAX);
		int broken = 0;
		if (left > 300 * KIB)
			left = 300 * KIB;
		a = left > 1 ? 1 + rnd() % left : left; /* two "chunks", like the ciphertext queue */
		iov[0] = (struct iovec){src + head, a};
		if (left > a) {
			iov[1] = (struct iovec){src + head + a, left - a};
			niov = 2;
		}
		n = tlsio__uch_plan(&ch, iov, niov, max, out);
		ck_assert_uint_gt(n, 0);
		/* the kernel runs the sends in order */
		for (unsigned i = 0; i < n; i++) {
			uint64_t r = rnd() % 100;
			size_t len = out[i].iov_len;
			if (broken && mode == K_LINK_WAITALL) {
				res[i] = -ECANCELED;
				continue;
			}
			if (r < 70)
				res[i] = (int32_t)len;
			else if (r < 85)
				res[i] = (int32_t)(rnd() % len); /* short (with WAITALL: an error after progress) */
			else if (r < 92)
				res[i] = -EINTR;
			else
				res[i] = -EAGAIN;
			if (res[i] > 0) {
				memcpy(wire + wlen, out[i].iov_base, (size_t)res[i]);
				wlen += (size_t)res[i];
			}
			if (res[i] != (int32_t)len)
				broken = 1;
		}
		for (unsigned i = 0; i < n; i++)
			order[i] = i;
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)(rnd() % i), t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (unsigned k = 0; k < n; k++) {
			tlsio__uch_step s = tlsio__uch_complete(&ch, order[k], res[order[k]]);
			head += s.sent;
			if (s.err != 0)
				err = s.err;
			ck_assert_uint_eq(s.done, k + 1 == n);
		}
		ck_assert(!tlsio__uch_busy(&ch));
		if (err == 0)
			ck_assert_msg(wlen >= head, "reported %zu sent, %zu on the wire", head, wlen);
	}
	*detected = err != 0;
	stats[0] += ch.chains;
	stats[1] += ch.shorts;
	stats[2] += ch.cancels;
	stats[3] += ch.violations;
	return err == 0 && wlen == total && memcmp(wire, src, total) == 0;
}

START_TEST(test_model_linked_waitall_is_exact)
{
	uint64_t st[4] = {0};
	for (uint64_t seed = 1; seed <= 200; seed++) {
		int detected;
		ck_assert_msg(model_run(K_LINK_WAITALL, 1, seed * 7919, &detected, st),
		              "seed %llu: stream corrupt with correct link semantics", (unsigned long long)seed);
		ck_assert(!detected);
	}
	printf("uring/chain model, IO_LINK + MSG_WAITALL: %llu chains, %llu short sends, %llu cancelled, "
	       "%llu violations: 200 MiB exact\n", (unsigned long long)st[0], (unsigned long long)st[1],
	       (unsigned long long)st[2], (unsigned long long)st[3]);
	ck_assert_uint_gt(st[1], 0);
	ck_assert_uint_gt(st[2], 0);
	ck_assert_uint_eq(st[3], 0);
}
END_TEST

/* With continue-after-short semantics the wire is corrupt; the strict machine must notice every
 * time (it cannot repair it), and the trusting one must not claim a clean stream either. */
START_TEST(test_model_continue_is_detected)
{
	uint64_t st[4] = {0};
	int corrupt = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		int detected, clean = model_run(K_CONTINUE, 1, seed * 104729, &detected, st);
		if (!clean) {
			corrupt++;
			ck_assert_msg(detected, "seed %llu: corrupt stream not detected", (unsigned long long)seed);
		}
	}
	printf("uring/chain model, continue after short: %d of 200 runs corrupt, all detected "
	       "(%llu violations)\n", corrupt, (unsigned long long)st[3]);
	ck_assert_int_gt(corrupt, 190);
}
END_TEST

static Suite *chain_suite(void)
{
	Suite *s = suite_create("uring/chain");
	TCase *tc = tcase_create("chain");
	tcase_add_test(tc, test_plan_slices);
	tcase_add_test(tc, test_plan_caps);
	tcase_add_test(tc, test_in_order_full);
	tcase_add_test(tc, test_short_then_cancelled_tail);
	tcase_add_test(tc, test_last_slot_short);
	tcase_add_test(tc, test_cancelled_head);
	tcase_add_test(tc, test_eintr_resubmits);
	tcase_add_test(tc, test_eagain_waits_for_pollout);
	tcase_add_test(tc, test_epipe_fails_once);
	tcase_add_test(tc, test_out_of_order_unlinked);
	tcase_add_test(tc, test_out_of_order_gap);
	tcase_add_test(tc, test_continue_after_short);
	tcase_add_test(tc, test_bogus_cqes);
	tcase_add_test(tc, test_model_linked_waitall_is_exact);
	tcase_add_test(tc, test_model_continue_is_detected);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chain_suite());
	int failed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	fill_src();
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
