/* SPDX-License-Identifier: MIT */
/* Syscall indirection for the readiness backends (epoll, blocking, libev: backends/sockio.c),
 * with a seeded fault-injection shim that the tests switch on. Off by default; when off each
 * wrapper is one predictable branch. */
#ifndef TLSIO_SYS_H
#define TLSIO_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* send/sendv/recv pass MSG_NOSIGNAL-style flags through unchanged. */
/** Fault rates in parts per thousand of calls. */
typedef struct tlsio_fault_cfg {
	uint64_t seed;
	unsigned short_permille;  /**< send/writev/recv get a random smaller length */
	unsigned eagain_permille; /**< fail with EAGAIN without doing anything */
	unsigned eintr_permille;  /**< fail with EINTR without doing anything */
	unsigned reset_permille;  /**< fail with ECONNRESET (the connection is considered dead) */
	unsigned midchain_permille; /**< io_uring: a chain of linked sends breaks in its middle */
} tlsio_fault_cfg;

/** Counters of what the shim did (all threads). */
typedef struct tlsio_fault_stats {
	uint64_t calls, shortened, eagain, eintr, reset;
	uint64_t midchain_failed, midchain_short; /**< io_uring chains broken in the middle */
	uint64_t chain_cancels, chain_violations; /**< what io_uring's chains saw meanwhile: sends
	                                               the kernel cancelled, bytes sent after a gap */
} tlsio_fault_stats;

/** Switch the shim on (cfg != NULL) or off (NULL). Call while no loop runs. */
void tlsio__fault_set(const tlsio_fault_cfg *cfg);
void tlsio__fault_stats(tlsio_fault_stats *out);

/** sendmsg(MSG_NOSIGNAL) over an iovec: a writev that cannot raise SIGPIPE. */
ssize_t tlsio__sys_sendv(int fd, const struct iovec *iov, int iovcnt);
ssize_t tlsio__sys_send(int fd, const void *buf, size_t len, int flags);
ssize_t tlsio__sys_recv(int fd, void *buf, size_t len, int flags);

/* An injected EAGAIN on a socket that is in fact ready would swallow the edge an edge-triggered
 * poller relies on. The shim records such fds so that the epoll backend can deliver the edge the
 * kernel would have delivered once space or data appeared. */
#define TLSIO__FAULT_OWED_IN  1
#define TLSIO__FAULT_OWED_OUT 2
/** Pop up to @p max fds that owe an edge; @p kinds gets TLSIO__FAULT_OWED_* bits. */
size_t tlsio__fault_owed(int *fds, int *kinds, size_t max);
/** Forget every owed edge: a level-triggered poller (libev, libuv) reports a ready fd again by
 * itself. */
void tlsio__fault_drop_owed(void);
int tlsio__fault_active(void);

/** Give the calling thread a fixed random stream (stream @p id of the seed) instead of the next
 * one in the order threads first call the shim, so that a replayed seed gives each loop the
 * decisions it had, however the threads race to their first call. Call before the loop runs. */
void tlsio__fault_thread(unsigned id);

/* io_uring (backends/uring.c) makes no socket call through this file; its test-only fault hook
 * draws its decisions here, from the same rates, and they are counted with the rest. */
#define TLSIO__FAULT_SHORT 1
/** One decision for a send chain: 0 (send as planned), TLSIO__FAULT_SHORT (shorten the chain's
 * last send with tlsio__fault_cut()), or -EINTR / -EAGAIN / -ECONNRESET (a failed send). */
int tlsio__fault_chain(void);
/** A length in [1, len) for a shortened send, counted as shortened; @p len itself if len <= 1. */
size_t tlsio__fault_cut(size_t len);

#define TLSIO__FAULT_MID_SHORT 2
/** For a chain of @p k >= 2 linked sends that tlsio__fault_chain() left alone: 0 (none);
 * TLSIO__FAULT_MID_SHORT (send *@p pos comes back short and the kernel cancels the rest); or
 * -EINTR / -EAGAIN (send *@p pos fails and the kernel cancels the rest). *@p pos < k - 1:
 * the failure is in the middle, with linked sends behind it. */
int tlsio__fault_midchain(unsigned k, unsigned *pos);
/** io_uring, while the shim is on: a completion step saw these cancelled sends and violations. */
void tlsio__fault_note_chain(unsigned cancels, unsigned violations);

#endif
