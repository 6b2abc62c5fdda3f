/* SPDX-License-Identifier: MIT */
/* Send-chain bookkeeping of the io_uring backend (see uring_chain.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>

#include "uring_chain.h"

void tlsio__uch_init(tlsio__uchain *ch, size_t seg_max, unsigned max_slots, int strict)
{
	memset(ch, 0, sizeof(*ch));
	ch->seg_max = seg_max > 0 ? seg_max : 1;
	ch->max_slots = max_slots == 0 || max_slots > TLSIO__UCH_MAX ? TLSIO__UCH_MAX : max_slots;
	ch->strict = strict;
}

int tlsio__uch_busy(const tlsio__uchain *ch)
{
	return ch->n != 0;
}

int tlsio__uch_pending(const tlsio__uchain *ch, unsigned i)
{
	return i < ch->n && !ch->got[i];
}

unsigned tlsio__uch_plan(tlsio__uchain *ch, const struct iovec *iov, size_t niov, unsigned max_sqes,
                         struct iovec *out)
{
	unsigned n = 0, cap = ch->max_slots;
	if (ch->n != 0)
		return 0; /* never two chains for one socket */
	if (max_sqes < cap)
		cap = max_sqes;
	for (size_t i = 0; i < niov && n < cap; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left > 0 && n < cap) {
			size_t k = left < ch->seg_max ? left : ch->seg_max;
			out[n].iov_base = p;
			out[n].iov_len = k;
			ch->len[n] = k;
			ch->res[n] = 0;
			ch->got[n] = 0;
			p += k;
			left -= k;
			n++;
		}
	}
	ch->n = n;
	ch->ncqe = ch->next = 0;
	ch->stopped = 0;
	ch->err = 0;
	if (n > 0) {
		ch->chains++;
		ch->sqes += n;
	}
	return n;
}

static void set_err(tlsio__uchain *ch, tlsio__uch_step *st, int err)
{
	if (ch->err == 0) {
		ch->err = err;
		st->err = err;
	}
}

/* Account slot `next` while nothing before it fell short: the stream is still contiguous. */
static void account_in_order(tlsio__uchain *ch, tlsio__uch_step *st, int32_t r, size_t want)
{
	if (r >= 0 && (size_t)r >= want) {
		if ((size_t)r > want)
			set_err(ch, st, -EIO); /* more than asked: the kernel and we disagree */
		st->sent += want;
		return;
	}
	/* From here on the rest of the chain is resent from the first unsent byte. */
	ch->stopped = 1;
	if (r >= 0) {
		st->sent += (size_t)r;
		st->shorts++;
	} else if (r == -ECANCELED) {
		st->cancels++;
	} else if (r == -EINTR) {
		st->eintrs++;
	} else if (r == -EAGAIN) {
		st->eagains++;
		st->wait_out = 1;
	} else {
		set_err(ch, st, r);
	}
}

/* Account a slot after the stop: with a correct link (IO_LINK + MSG_WAITALL) it can only have
 * been cancelled. Bytes it did send went out after a gap: the stream on the wire is broken. */
static void account_after_stop(tlsio__uchain *ch, tlsio__uch_step *st, int32_t r)
{
	if (r > 0) {
		st->violations++;
		if (ch->strict)
			set_err(ch, st, -EIO);
	} else if (r == -ECANCELED) {
		st->cancels++;
	} else if (r == -EINTR) {
		st->eintrs++;
	} else if (r == -EAGAIN) {
		st->eagains++;
		st->wait_out = 1;
	} else if (r < 0) {
		set_err(ch, st, r);
	}
}

tlsio__uch_step tlsio__uch_complete(tlsio__uchain *ch, unsigned slot, int32_t res)
{
	tlsio__uch_step st;
	memset(&st, 0, sizeof(st));
	if (slot >= ch->n || ch->got[slot]) {
		/* a CQE we did not ask for: nothing about this chain can be trusted */
		st.violations = 1;
		ch->violations++;
		st.err = -EIO;
		return st;
	}
	ch->got[slot] = 1;
	ch->res[slot] = res;
	ch->ncqe++;
	while (ch->next < ch->n && ch->got[ch->next]) {
		int32_t r = ch->res[ch->next];
		if (!ch->stopped)
			account_in_order(ch, &st, r, ch->len[ch->next]);
		else
			account_after_stop(ch, &st, r);
		ch->next++;
	}
	ch->shorts += st.shorts;
	ch->cancels += st.cancels;
	ch->eagains += st.eagains;
	ch->eintrs += st.eintrs;
	ch->violations += st.violations;
	if (ch->ncqe == ch->n) {
		st.done = 1;
		ch->n = 0;
	}
	return st;
}
