/* SPDX-License-Identifier: MIT */
/* Syscall wrappers with the seeded fault-injection shim (see sys.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "sys.h"

static atomic_int fault_on;
static tlsio_fault_cfg fault_cfg;
static atomic_uint_fast64_t n_calls, n_short, n_eagain, n_eintr, n_reset, n_mid_fail, n_mid_short;
static atomic_uint_fast64_t n_chain_cancels, n_chain_violations;
static atomic_uint thread_seq;

/* Per thread: each loop runs in one thread, so its fds' owed edges and its random stream stay
 * with it and a seed replays the same decisions for the same thread order. */
static _Thread_local uint64_t rng_state;
static _Thread_local unsigned rng_epoch;
static _Thread_local unsigned thread_id; /* tlsio__fault_thread() + 1; 0: by first call */
static atomic_uint cfg_epoch;
#define OWED_MAX 256
static _Thread_local int owed_fd[OWED_MAX], owed_kind[OWED_MAX];
static _Thread_local size_t owed_n;

void tlsio__fault_set(const tlsio_fault_cfg *cfg)
{
	if (cfg != NULL) {
		fault_cfg = *cfg;
		atomic_store(&n_calls, 0);
		atomic_store(&n_short, 0);
		atomic_store(&n_eagain, 0);
		atomic_store(&n_eintr, 0);
		atomic_store(&n_reset, 0);
		atomic_store(&n_mid_fail, 0);
		atomic_store(&n_mid_short, 0);
		atomic_store(&n_chain_cancels, 0);
		atomic_store(&n_chain_violations, 0);
		atomic_store(&thread_seq, 0);
		atomic_fetch_add(&cfg_epoch, 1);
	}
	atomic_store(&fault_on, cfg != NULL);
}

void tlsio__fault_stats(tlsio_fault_stats *out)
{
	out->calls = atomic_load(&n_calls);
	out->shortened = atomic_load(&n_short);
	out->eagain = atomic_load(&n_eagain);
	out->eintr = atomic_load(&n_eintr);
	out->reset = atomic_load(&n_reset);
	out->midchain_failed = atomic_load(&n_mid_fail);
	out->midchain_short = atomic_load(&n_mid_short);
	out->chain_cancels = atomic_load(&n_chain_cancels);
	out->chain_violations = atomic_load(&n_chain_violations);
}

int tlsio__fault_active(void)
{
	return atomic_load_explicit(&fault_on, memory_order_relaxed);
}

static uint64_t rng_next(void)
{
	unsigned epoch = atomic_load(&cfg_epoch);
	if (rng_epoch != epoch) {
		rng_epoch = epoch;
		uint64_t id = thread_id != 0 ? thread_id - 1 : atomic_fetch_add(&thread_seq, 1);
		rng_state = fault_cfg.seed ^ (0x9E3779B97F4A7C15ull * (id + 1));
		owed_n = 0;
	}
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

void tlsio__fault_thread(unsigned id)
{
	thread_id = id + 1;
	rng_epoch = 0; /* reseed on the next decision */
}

static void owe(int fd, int kind)
{
	for (size_t i = 0; i < owed_n; i++) {
		if (owed_fd[i] == fd) {
			owed_kind[i] |= kind;
			return;
		}
	}
	if (owed_n < OWED_MAX) {
		owed_fd[owed_n] = fd;
		owed_kind[owed_n] = kind;
		owed_n++;
	}
}

void tlsio__fault_drop_owed(void)
{
	owed_n = 0;
}

size_t tlsio__fault_owed(int *fds, int *kinds, size_t max)
{
	size_t n = owed_n < max ? owed_n : max;
	memcpy(fds, owed_fd, n * sizeof(int));
	memcpy(kinds, owed_kind, n * sizeof(int));
	memmove(owed_fd, owed_fd + n, (owed_n - n) * sizeof(int));
	memmove(owed_kind, owed_kind + n, (owed_n - n) * sizeof(int));
	owed_n -= n;
	return n;
}

/* Decide this call's fault. Returns 0 to go on with *len possibly shortened, or -1 with errno. */
static int inject(int fd, size_t *len, int kind)
{
	uint64_t r;
	unsigned roll;
	atomic_fetch_add(&n_calls, 1);
	r = rng_next();
	roll = (unsigned)(r % 1000);
	if (roll < fault_cfg.reset_permille) {
		atomic_fetch_add(&n_reset, 1);
		errno = ECONNRESET;
		return -1;
	}
	roll -= fault_cfg.reset_permille;
	if (roll < fault_cfg.eintr_permille) {
		atomic_fetch_add(&n_eintr, 1);
		errno = EINTR;
		return -1;
	}
	roll -= fault_cfg.eintr_permille;
	if (roll < fault_cfg.eagain_permille) {
		atomic_fetch_add(&n_eagain, 1);
		owe(fd, kind);
		errno = EAGAIN;
		return -1;
	}
	roll -= fault_cfg.eagain_permille;
	if (roll < fault_cfg.short_permille && *len > 1) {
		atomic_fetch_add(&n_short, 1);
		*len = 1 + (size_t)((r >> 20) % (*len - 1));
	}
	return 0;
}

ssize_t tlsio__sys_sendv(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec cut[64];
	struct msghdr msg;
	size_t total = 0, want;
	int n = 0;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	if (!tlsio__fault_active())
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	want = total;
	if (inject(fd, &want, TLSIO__FAULT_OWED_OUT) < 0)
		return -1;
	if (want == total)
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	/* a shortened writev: hand the kernel only the first `want` bytes */
	for (int i = 0; i < iovcnt && want > 0 && n < 64; i++) {
		cut[n] = iov[i];
		if (cut[n].iov_len > want)
			cut[n].iov_len = want;
		want -= cut[n].iov_len;
		n++;
	}
	msg.msg_iov = cut;
	msg.msg_iovlen = (size_t)n;
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

ssize_t tlsio__sys_send(int fd, const void *buf, size_t len, int flags)
{
	if (tlsio__fault_active() && inject(fd, &len, TLSIO__FAULT_OWED_OUT) < 0)
		return -1;
	return send(fd, buf, len, flags);
}

ssize_t tlsio__sys_recv(int fd, void *buf, size_t len, int flags)
{
	size_t want = len;
	if (!tlsio__fault_active())
		return recv(fd, buf, len, flags);
	if (inject(fd, &want, TLSIO__FAULT_OWED_IN) < 0)
		return -1;
	/* A shortened read looks drained to a caller that stops at a short read, while the
	 * kernel still holds bytes it will not signal again: owe the edge, as for EAGAIN. */
	if (want < len)
		owe(fd, TLSIO__FAULT_OWED_IN);
	return recv(fd, buf, want, flags);
}

int tlsio__fault_chain(void)
{
	unsigned roll;
	atomic_fetch_add(&n_calls, 1);
	roll = (unsigned)(rng_next() % 1000);
	if (roll < fault_cfg.reset_permille) {
		atomic_fetch_add(&n_reset, 1);
		return -ECONNRESET;
	}
	roll -= fault_cfg.reset_permille;
	if (roll < fault_cfg.eintr_permille) {
		atomic_fetch_add(&n_eintr, 1);
		return -EINTR;
	}
	roll -= fault_cfg.eintr_permille;
	if (roll < fault_cfg.eagain_permille) {
		atomic_fetch_add(&n_eagain, 1);
		return -EAGAIN;
	}
	roll -= fault_cfg.eagain_permille;
	return roll < fault_cfg.short_permille ? TLSIO__FAULT_SHORT : 0;
}

int tlsio__fault_midchain(unsigned k, unsigned *pos)
{
	uint64_t r;
	if (k < 2 || fault_cfg.midchain_permille == 0)
		return 0;
	r = rng_next();
	if ((unsigned)(r % 1000) >= fault_cfg.midchain_permille)
		return 0;
	*pos = (unsigned)((r >> 10) % (k - 1));
	switch ((r >> 20) % 3) {
	case 0:
		atomic_fetch_add(&n_mid_short, 1);
		return TLSIO__FAULT_MID_SHORT;
	case 1:
		atomic_fetch_add(&n_mid_fail, 1);
		return -EINTR;
	default:
		atomic_fetch_add(&n_mid_fail, 1);
		return -EAGAIN;
	}
}

void tlsio__fault_note_chain(unsigned cancels, unsigned violations)
{
	if (cancels)
		atomic_fetch_add(&n_chain_cancels, cancels);
	if (violations)
		atomic_fetch_add(&n_chain_violations, violations);
}

size_t tlsio__fault_cut(size_t len)
{
	if (len <= 1)
		return len;
	atomic_fetch_add(&n_short, 1);
	return 1 + (size_t)((rng_next() >> 20) % (len - 1));
}
