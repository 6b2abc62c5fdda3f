/* SPDX-License-Identifier: MIT */
/* The send-chain bookkeeping of the io_uring backend, kept pure (no ring, no socket, no core) so
 * that tests can drive it with synthetic completions.
 *
 * A chain is up to TLSIO__UCH_MAX send SQEs over consecutive slices of the unsent ciphertext,
 * starting at the first unsent byte. One chain per connection is in flight at a time; the next
 * one is planned only once every CQE of the current one has arrived, again from the first
 * unsent byte. Completions may arrive in any order (they do when the SQEs are not linked):
 * results are held per slot and accounted strictly in slot order, so bytes are reported sent
 * in stream order and only up to the first slot that did not send all of its bytes. */
#ifndef TLSIO_URING_CHAIN_H
#define TLSIO_URING_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define TLSIO__UCH_MAX 16

typedef struct tlsio__uchain {
	/* configuration */
	size_t seg_max;      /* bytes per send SQE */
	unsigned max_slots;  /* SQEs per chain, <= TLSIO__UCH_MAX */
	int strict;          /* bytes sent after a gap in the chain fail the connection */
	/* the chain in flight (n == 0: idle) */
	unsigned n, ncqe, next;
	int stopped;         /* a slot before `next` did not send all of its bytes */
	int err;             /* the first fatal error of this chain */
	size_t len[TLSIO__UCH_MAX];
	int32_t res[TLSIO__UCH_MAX];
	uint8_t got[TLSIO__UCH_MAX];
	/* totals over all chains */
	uint64_t chains, sqes, shorts, cancels, eagains, eintrs, violations;
} tlsio__uchain;

/** What one completion changed. */
typedef struct tlsio__uch_step {
	size_t sent;            /**< bytes now known sent, in stream order: report them */
	int err;                /**< 0, or the connection's error (returned once per chain) */
	unsigned done : 1;      /**< every CQE of the chain is in: the chain is idle again */
	unsigned wait_out : 1;  /**< the chain stopped on -EAGAIN: wait for POLLOUT before the next */
	unsigned shorts, cancels, eagains, eintrs, violations; /**< counted by this step */
} tlsio__uch_step;

void tlsio__uch_init(tlsio__uchain *ch, size_t seg_max, unsigned max_slots, int strict);
/** Plan a chain over @p iov (the unsent bytes from the first unsent one) with at most
 * @p max_sqes SQEs; @p out gets one buffer per SQE. The chain must be idle.
 * @return the number of SQEs (0: nothing to send). */
unsigned tlsio__uch_plan(tlsio__uchain *ch, const struct iovec *iov, size_t niov, unsigned max_sqes,
                         struct iovec *out);
/** Record the CQE of @p slot (res: bytes sent or -errno). */
tlsio__uch_step tlsio__uch_complete(tlsio__uchain *ch, unsigned slot, int32_t res);
/** A chain is in flight (some CQE still outstanding). */
int tlsio__uch_busy(const tlsio__uchain *ch);
/** Slot @p i is in flight (its CQE has not arrived). */
int tlsio__uch_pending(const tlsio__uchain *ch, unsigned i);

#endif
