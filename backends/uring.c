/* SPDX-License-Identifier: MIT */
/* io_uring backend (liburing).
 *
 * Kernel notes:
 * - Send SQEs for one socket that are in flight together are not ordered unless linked: two
 *   independent sends on a full socket are both poll-armed and resume in any order, so their
 *   bytes interleave on the wire. Each connection therefore has at most one chain of linked
 *   sends in flight (uring_chain.c keeps the books), and the next chain starts only after every
 *   CQE of the current one has arrived, from the first byte not reported sent.
 * - A soft link (IOSQE_IO_LINK) is broken only by a failed request. A short send is not a
 *   failure, so without MSG_WAITALL the next send of the chain runs after a short one and
 *   leaves a gap. MSG_WAITALL makes the kernel retry a partial stream send itself until it is
 *   complete or fails; a failure (or a short result) then cancels the rest of the chain with
 *   -ECANCELED. IOSQE_IO_HARDLINK is no fix: it continues after a failure by design.
 *   Measured (tests/test-uring-controls: 16 MiB, SO_SNDBUF 4 KiB, slow reader): no link,
 *   IO_LINK alone and IO_HARDLINK all corrupt the stream; IO_LINK + MSG_WAITALL does not.
 * - The chain's last SQE goes without MSG_WAITALL: nothing is linked behind it, so a short
 *   result there cannot leave a gap, and it hands the partial progress back to the core, which
 *   refills its ciphertext look-ahead and completes sends sooner. These are the short writes
 *   counted in the stats; the next chain resubmits from the first unsent byte.
 * - Ciphertext buffers are handed to the kernel by address; the core keeps them in place until
 *   tlsio__conn_on_sent() reports them, which happens only from their CQE.
 * - MSG_NOSIGNAL on every send: a reset peer gives -EPIPE, not SIGPIPE.
 * - Cancelling the head of a soft-linked chain fails the rest with -ECANCELED; requests that
 *   have not started yet cannot be found by a cancel, so a closing connection re-issues cancels
 *   on every CQE until none is outstanding, and only then answers tlsio__conn_closed().
 * - A listener's fd is closed by the core right after listener_detach: its accept is cancelled
 *   by user_data, never by fd.
 * - Setup flags are tried best first, falling back on -EINVAL: SINGLE_ISSUER|DEFER_TASKRUN
 *   (6.1) with R_DISABLED, so that the thread that runs the loop, not the one that created it,
 *   becomes the issuer (the ring is enabled on the first run_once, and no SQE is submitted
 *   before); then COOP_TASKRUN|TASKRUN_FLAG (5.19); SUBMIT_ALL (5.18) with each; then none.
 *   DEFER_TASKRUN runs completions only inside io_uring_enter(GETEVENTS): every run_once enters.
 * - Receive: multishot recv over a provided-buffer ring (6.0) when a probe on a socketpair shows
 *   it works, else one recv at a time into a per-connection buffer. Multishot is cancelled when
 *   the core stops reading; data (and EOF) that still arrives is parked until it wants input
 *   again, so that an EOF never overtakes data the core holds back.
 * - The wake eventfd is blocking: io_uring poll-arms a read of it instead of failing it with
 *   -EAGAIN, and tlsio_loop_wake() stays a plain write(2) from any thread (no submission, which
 *   SINGLE_ISSUER would refuse).
 * - The application's fds (tlsio_watch): a multishot IORING_OP_POLL_ADD (5.13) per watch, one-shot
 *   where the kernel refuses the flag (-EINVAL) or TLSIO_URING_POLL=plain. A multishot poll
 *   posts a CQE per wake-up of the file, which is edge-triggered; the API is level-triggered,
 *   so a watch whose callback ran is looked at again with poll(2) (one call for all of them,
 *   zero timeout) before the next wait, and reported again if still ready. A one-shot poll
 *   checks readiness when armed, so its re-arm is that check. Events of one turn are merged:
 *   one callback per watch per turn. A changed mask cancels the poll (by user_data) and arms
 *   a new one when the cancelled poll's last CQE is in. The poll holds its own reference on the
 *   file: until the cancel of a freed watch is submitted (the next run_once), an fd the
 *   application closed right after tlsio_watch_free() stays open in the kernel (a peer sees its
 *   EOF a turn later).
 * - TLSIO_URING_SETUP=plain and TLSIO_URING_RECV=plain force the fallbacks (for tests).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"
#include "sys.h"
#include "uring_chain.h"

#define SQ_ENTRIES 256
#define CQ_ENTRIES 2048
#define SEG_MAX (64 * 1024)       /* bytes per send SQE */
#define CHAIN_MAX TLSIO__UCH_MAX  /* send SQEs per chain */
#define RBUF_SIZE (32 * 1024)     /* per-connection receive buffer (fallback path) */
#define NBUFS 64                  /* provided-buffer ring: entries (power of two) */
#define BUF_SIZE (16 * 1024)      /* ... and bytes each */
#define BGID 0

/* The variants: only V_REAL is built into the library. The others are the broken designs
 * the ordering tests must detect (tests/test-uring-controls.c). */
enum uvariant { V_REAL, V_NOLINK, V_LINK_NOWAITALL, V_HARDLINK };

enum tkind { T_WAKE, T_ACCEPT, T_RECV, T_POLLOUT, T_POLLIN, T_SEND, T_WATCH };
enum nkind { N_LISTENER, N_CONN, N_WATCH };

struct unode;

/* What a CQE's user_data points at. */
struct utok {
	struct unode *n;
	uint8_t kind, idx;
};

struct unode {
	enum nkind kind;
	int fd;
	tlsio_conn *c;
	tlsio_listener *l;
	tlsio_watch *w;     /* N_WATCH; NULL once detached */
	struct unode *ready_next, *all_prev, *all_next;
	struct unode *wready_next, *recheck_next; /* N_WATCH: on e->wready, e->recheck */
	unsigned watch_rev;  /* events seen this turn, for one callback */
	short watch_mask;    /* what the poll in flight waits for */
	unsigned watch_armed : 1, watch_cancel : 1, watch_failed : 1, on_wready : 1, on_recheck : 1;
	unsigned inflight;  /* SQEs whose CQE will name this node */
	unsigned on_ready : 1, closing : 1, closed_told : 1, connecting : 1, recv_armed : 1,
	    recv_cancel : 1, pollout_armed : 1, pollin_armed : 1, wait_out : 1, wait_in : 1,
	    accept_armed : 1, parked_eof : 1;
	uint8_t *parked;    /* input that arrived while the core did not want any */
	size_t parked_len, parked_cap;
	uint8_t *rbuf;      /* per-connection receive path */
	int32_t fault_res;  /* test-only fault hook (below): the chain is a NOP failing with this */
	tlsio__uchain ch;
	struct utok tok_send[CHAIN_MAX], tok_recv, tok_pollout, tok_pollin, tok_accept, tok_watch;
};

struct uloop {
	struct io_uring ring;
	int enabled;
	int variant, link_flag, waitall;
	int multishot;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	int wakefd, wake_armed;
	uint64_t wake_val;
	struct utok wake_tok;
	struct unode *ready;  /* nodes with work for the next run_once */
	struct unode *all;    /* every node not yet freed */
	struct unode *wready; /* watches with events to report after this turn's CQEs */
	struct unode *recheck;/* watches reported last turn: still ready? (level-triggered) */
	struct pollfd *rpfd;  /* ... the poll(2) set for that */
	size_t rpfd_cap;
	int poll_multi;       /* multishot poll for watches (else one-shot) */
	int core_called;
	char info[320];
};

/* ---------------------------------------------------------------------------------------- */
/* probing */

#define RING_OK_FEATURES (IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL)

static const struct {
	unsigned flags;
	const char *name;
} setups[] = {
	{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
	     IORING_SETUP_SUBMIT_ALL,
	 "SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL (R_DISABLED until the first run)"},
	{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
	     IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL,
	 "SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL (R_DISABLED until the first run)"},
	{IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
	 "COOP_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL"},
	{IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL"},
	{0, "none"},
};
#define N_SETUPS (sizeof(setups) / sizeof(setups[0]))

/* The first set that worked: later loops start there instead of failing again. */
static atomic_int g_setup_first;
/* Multishot recv over a buffer ring: 0 not probed yet, 1 works, -1 does not. */
static atomic_int g_multishot;
/* Probe result: 0 not probed, 1 usable, -1 unusable (g_why says why). Loops created in several
 * threads at once may probe together: both fields are atomic, and every prober writes the same. */
static atomic_int g_probe;
static const char *_Atomic g_why;

static int env_is(const char *name, const char *value)
{
	const char *v = getenv(name);
	return v != NULL && strcmp(v, value) == 0;
}

static int read_int_file(const char *path, int dflt)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dflt;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return dflt;
	buf[n] = '\0';
	return atoi(buf);
}

/* "Seccomp: 2" in /proc/self/status: a filter is installed. */
static int seccomp_filtered(void)
{
	char buf[4096];
	const char *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nSeccomp:");
	return p != NULL && atoi(p + 9) == 2;
}

static const char *setup_failure(int rc, int disabled)
{
	switch (rc) {
	case -EPERM:
		if (disabled == 1)
			return "io_uring_setup: EPERM: sysctl kernel.io_uring_disabled=1 allows io_uring only to "
			       "CAP_SYS_ADMIN or the kernel.io_uring_group group, and this process has neither";
		if (seccomp_filtered())
			return "io_uring_setup: EPERM: blocked by this process's seccomp filter (container or "
			       "sandbox policy)";
		return "io_uring_setup: EPERM: io_uring is forbidden here (seccomp or LSM policy)";
	case -ENOSYS:
		if (seccomp_filtered())
			return "io_uring_setup: ENOSYS: hidden by this process's seccomp filter (container or "
			       "sandbox policy)";
		return "io_uring_setup: ENOSYS: kernel without io_uring (CONFIG_IO_URING off, or older than 5.1)";
	case -ENOMEM:
		return "io_uring_setup: ENOMEM: the locked-memory limit (RLIMIT_MEMLOCK) is too low for a ring";
	case -EMFILE:
	case -ENFILE:
		return "io_uring_setup: out of file descriptors";
	default:
		return "io_uring_setup failed";
	}
}

static int ur_probe(const char **why)
{
	struct io_uring ring;
	struct io_uring_params p;
	struct io_uring_probe *pr;
	int state = atomic_load(&g_probe), disabled, rc;
	static const int ops[] = {IORING_OP_SEND, IORING_OP_RECV, IORING_OP_POLL_ADD,
	                          IORING_OP_ASYNC_CANCEL, IORING_OP_ACCEPT, IORING_OP_READ};
	if (state != 0)
		goto out;
	disabled = read_int_file("/proc/sys/kernel/io_uring_disabled", 0);
	if (disabled == 2) {
		g_why = "io_uring is disabled by sysctl kernel.io_uring_disabled=2";
		state = -1;
		goto done;
	}
	memset(&p, 0, sizeof(p));
	rc = io_uring_queue_init_params(4, &ring, &p);
	if (rc < 0) {
		g_why = setup_failure(rc, disabled);
		state = -1;
		if (rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE) {
			/* the process is out of something, the backend is fine: say which (a
			 * later probe may pass, so it is not remembered) */
			*why = g_why;
			return rc;
		}
		goto done;
	}
	state = 1;
	if ((p.features & RING_OK_FEATURES) != RING_OK_FEATURES) {
		g_why = "kernel too old for the uring backend: it needs IORING_FEAT_NODROP and FAST_POLL (5.7+)";
		state = -1;
	}
	pr = state == 1 ? io_uring_get_probe_ring(&ring) : NULL;
	if (state == 1 && pr == NULL) {
		g_why = "io_uring probe failed (IORING_REGISTER_PROBE needs 5.6+)";
		state = -1;
	}
	for (size_t i = 0; pr != NULL && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!io_uring_opcode_supported(pr, ops[i])) {
			g_why = "kernel too old for the uring backend: an opcode it needs (SEND, RECV, POLL_ADD, "
			        "ASYNC_CANCEL, ACCEPT, READ) is missing";
			state = -1;
			break;
		}
	}
	if (pr != NULL)
		io_uring_free_probe(pr);
	io_uring_queue_exit(&ring);
done:
	atomic_store(&g_probe, state);
out:
	if (state > 0)
		return 0;
	*why = g_why;
	return TLSIO_E_BACKEND_UNAVAILABLE;
}

/* Multishot recv with buffer select, tried once per process on a socketpair: there is no
 * feature bit for it, and a kernel without it fails the SQE with -EINVAL. */
static int probe_multishot(void)
{
	struct io_uring r;
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br = NULL;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 1};
	static uint8_t buf[64];
	int sv[2] = {-1, -1}, ok = -1;

	if (io_uring_queue_init(4, &r, 0) < 0)
		return -1;
	if (posix_memalign((void **)&br, 4096, 4096) != 0)
		goto out;
	memset(br, 0, 4096);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = 1;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&r, &reg, 0) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto out;
	io_uring_buf_ring_init(br);
	io_uring_buf_ring_add(br, buf, sizeof(buf), 0, io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(br, 1);
	if (write(sv[1], "x", 1) != 1)
		goto out;
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	if (io_uring_submit(&r) != 1 || io_uring_wait_cqe_timeout(&r, &cqe, &ts) != 0)
		goto out;
	if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_BUFFER))
		ok = 1;
	io_uring_cqe_seen(&r, cqe);
out:
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	io_uring_queue_exit(&r); /* cancels the multishot recv */
	free(br);                /* the kernel pinned the pages it used */
	return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* nodes, the ready list, SQEs */

static void push_ready(struct uloop *e, struct unode *n)
{
	if (n->on_ready)
		return;
	n->on_ready = 1;
	n->ready_next = e->ready;
	e->ready = n;
}

static struct unode *node_new(struct uloop *e, enum nkind kind, int fd)
{
	struct unode *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->fd = fd;
	n->tok_recv = (struct utok){n, T_RECV, 0};
	n->tok_pollout = (struct utok){n, T_POLLOUT, 0};
	n->tok_pollin = (struct utok){n, T_POLLIN, 0};
	n->tok_accept = (struct utok){n, T_ACCEPT, 0};
	n->tok_watch = (struct utok){n, T_WATCH, 0};
	for (unsigned i = 0; i < CHAIN_MAX; i++)
		n->tok_send[i] = (struct utok){n, T_SEND, (uint8_t)i};
	/* the correct variant treats bytes sent after a gap as fatal; the controls trust the kernel
	 * like the designs they reproduce, so that only the receiver can notice */
	tlsio__uch_init(&n->ch, SEG_MAX, CHAIN_MAX, e->variant == V_REAL);
	n->all_next = e->all;
	if (e->all != NULL)
		e->all->all_prev = n;
	e->all = n;
	return n;
}

static void node_free(struct uloop *e, struct unode *n)
{
	if (n->all_prev != NULL)
		n->all_prev->all_next = n->all_next;
	else
		e->all = n->all_next;
	if (n->all_next != NULL)
		n->all_next->all_prev = n->all_prev;
	free(n->parked);
	free(n->rbuf);
	free(n);
}

/* Only called inside run_once, where the ring is enabled and submitting is allowed. */
static struct io_uring_sqe *get_sqe(struct uloop *e)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
	if (sqe == NULL) {
		(void)io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
	}
	return sqe;
}

static int prep_cancel(struct uloop *e, struct utok *t)
{
	struct io_uring_sqe *sqe = get_sqe(e);
	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)t, 0);
	io_uring_sqe_set_data64(sqe, 0); /* its own CQE is of no interest */
	return 0;
}

static void buf_recycle(struct uloop *e, int bid)
{
	if (bid < 0 || e->br == NULL)
		return;
	io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
	                      io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(e->br, 1);
}

static int park(struct unode *n, const uint8_t *data, size_t len)
{
	if (n->parked_len + len > n->parked_cap) {
		size_t cap = n->parked_cap ? n->parked_cap : 16 * 1024;
		uint8_t *p;
		while (cap < n->parked_len + len)
			cap *= 2;
		p = realloc(n->parked, cap);
		if (p == NULL)
			return -ENOMEM;
		n->parked = p;
		n->parked_cap = cap;
	}
	memcpy(n->parked + n->parked_len, data, len);
	n->parked_len += len;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Test-only fault injection: active only while the test shim is on (tlsio__fault_active()).
 * The shim in api/sys.c wraps the syscalls of the readiness backends; io_uring makes none, so
 * this hook injects, from the shim's rates and counted in its stats, only what the kernel can
 * really produce on a chain:
 * - a shorter LAST send: nothing is linked behind it, so the kernel's answer is a genuine short
 *   write, and the next chain must start from the first unsent byte;
 * - a failed one-SQE chain: an IORING_OP_NOP whose CQE is read as -EINTR, -EAGAIN or
 *   -ECONNRESET, a send that sent nothing.
 * Never a shorter send in the middle of a chain: MSG_WAITALL would be satisfied, the link would
 * go on, and the next send would leave a gap on the wire, the very bug the chains prevent.
 * A chain that breaks in its middle is made with a failing NOP instead (IORING_NOP_INJECT_RESULT,
 * Linux 6.10+): the kernel itself then cancels the linked sends behind it, as it does behind a
 * send that failed or came back short, and a link flag that does not stop a chain at a failure
 * (IOSQE_IO_HARDLINK) sends them anyway, leaving a gap the receiver sees:
 * - failed in the middle: send m becomes a NOP failing with -EINTR or -EAGAIN;
 * - short in the middle: send m is shortened and send m+1 becomes a NOP failing with -ECANCELED,
 *   which is what the kernel reports for the sends behind a short one. */

#ifndef IORING_NOP_INJECT_RESULT
#define IORING_NOP_INJECT_RESULT (1U << 0) /* linux/io_uring.h of Linux 6.10; liburing 2.3 lacks it */
#endif

/* Can a NOP fail with a chosen result here? Probed once, on a ring of its own. */
static int nop_inject_works(void)
{
	static atomic_int known; /* 0 not probed, 1 yes, -1 no */
	struct io_uring r;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ok = 0, v = atomic_load(&known);
	if (v != 0)
		return v > 0;
	if (io_uring_queue_init(2, &r, 0) == 0) {
		sqe = io_uring_get_sqe(&r);
		io_uring_prep_nop(sqe);
		sqe->rw_flags = IORING_NOP_INJECT_RESULT;
		sqe->len = (uint32_t)-EINTR;
		if (io_uring_submit_and_wait(&r, 1) == 1 && io_uring_peek_cqe(&r, &cqe) == 0)
			ok = cqe->res == -EINTR;
		io_uring_queue_exit(&r);
	}
	atomic_store(&known, ok ? 1 : -1);
	return ok;
}

static void prep_failing_nop(struct io_uring_sqe *sqe, int32_t res)
{
	uint8_t flags = sqe->flags; /* the link stays */
	io_uring_prep_nop(sqe);
	sqe->flags = flags;
	sqe->rw_flags = IORING_NOP_INJECT_RESULT;
	sqe->len = (uint32_t)res;
}

/* Before planning: a failure goes out as a chain of one. @return the tlsio__fault_chain() decision. */
static int fault_chain_begin(unsigned *max_sqes)
{
	int f = tlsio__fault_chain();
	if (f < 0)
		*max_sqes = 1;
	return f;
}

/* After io_uring_prep_send() of SQE @p i of @p k and its link flag, before its user data is
 * set. @p mid, @p pos: the tlsio__fault_midchain() decision. */
static void fault_prep(struct unode *n, struct io_uring_sqe *sqe, unsigned i, unsigned k, int f,
                       int mid, unsigned pos)
{
	if (f < 0 && k == 1) {
		io_uring_prep_nop(sqe);
		n->fault_res = f;
	} else if (f == TLSIO__FAULT_SHORT && i + 1 == k) {
		sqe->len = (uint32_t)tlsio__fault_cut(sqe->len);
	} else if (mid < 0 && i == pos) {
		prep_failing_nop(sqe, mid);
	} else if (mid == TLSIO__FAULT_MID_SHORT && i == pos) {
		sqe->len = (uint32_t)tlsio__fault_cut(sqe->len);
	} else if (mid == TLSIO__FAULT_MID_SHORT && i == pos + 1) {
		prep_failing_nop(sqe, -ECANCELED);
	}
}

/* A send CQE: the result a NOP stands for. */
static int32_t fault_cqe(struct unode *n, unsigned idx, int32_t res)
{
	if (n->fault_res != 0 && idx == 0) {
		res = n->fault_res;
		n->fault_res = 0;
	}
	return res;
}
/* end of the test-only fault injection */

/* ---------------------------------------------------------------------------------------- */
/* submitting */

static void submit_chain(struct uloop *e, struct unode *n)
{
	struct iovec iov[2 * CHAIN_MAX], seg[CHAIN_MAX];
	size_t niov = tlsio__conn_out_iov(n->c, 0, iov, 2 * CHAIN_MAX);
	unsigned space = io_uring_sq_space_left(&e->ring), k, pos = 0;
	int fault = 0, mid = 0;
	/* A link does not reach across submissions: the whole chain goes into one. */
	if (space < CHAIN_MAX) {
		(void)io_uring_submit(&e->ring);
		space = io_uring_sq_space_left(&e->ring);
	}
	if (space == 0) {
		push_ready(e, n);
		return;
	}
	if (tlsio__fault_active())
		fault = fault_chain_begin(&space);
	k = tlsio__uch_plan(&n->ch, iov, niov, space, seg);
	if (fault == 0 && k >= 2 && tlsio__fault_active() && nop_inject_works())
		mid = tlsio__fault_midchain(k, &pos);
	for (unsigned i = 0; i < k; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
		int last = i + 1 == k;
		io_uring_prep_send(sqe, n->fd, seg[i].iov_base, seg[i].iov_len,
		                   MSG_NOSIGNAL | (!last && e->waitall ? MSG_WAITALL : 0));
		if (!last)
			sqe->flags |= (uint8_t)e->link_flag;
		if (fault != 0 || mid != 0)
			fault_prep(n, sqe, i, k, fault, mid, pos);
		io_uring_sqe_set_data(sqe, &n->tok_send[i]);
	}
	n->inflight += k;
	tlsio__conn_counters(n->c)->write_calls += k;
}

static void arm_poll(struct uloop *e, struct unode *n, int out)
{
	struct io_uring_sqe *sqe = get_sqe(e);
	if (sqe == NULL) {
		push_ready(e, n);
		return;
	}
	io_uring_prep_poll_add(sqe, n->fd, out ? POLLOUT : POLLIN);
	io_uring_sqe_set_data(sqe, out ? &n->tok_pollout : &n->tok_pollin);
	if (out)
		n->pollout_armed = 1;
	else
		n->pollin_armed = 1;
	n->inflight++;
}

static void arm_recv(struct uloop *e, struct unode *n)
{
	struct io_uring_sqe *sqe;
	if (!e->multishot && n->rbuf == NULL && (n->rbuf = malloc(RBUF_SIZE)) == NULL) {
		tlsio__conn_on_error(n->c, -ENOMEM);
		e->core_called = 1;
		return;
	}
	sqe = get_sqe(e);
	if (sqe == NULL) {
		push_ready(e, n);
		return;
	}
	if (e->multishot) {
		io_uring_prep_recv_multishot(sqe, n->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		io_uring_prep_recv(sqe, n->fd, n->rbuf, RBUF_SIZE, 0);
	}
	io_uring_sqe_set_data(sqe, &n->tok_recv);
	n->recv_armed = 1;
	n->inflight++;
}

static void arm_accept(struct uloop *e, struct unode *n)
{
	struct io_uring_sqe *sqe = get_sqe(e);
	if (sqe == NULL) {
		push_ready(e, n);
		return;
	}
	io_uring_prep_accept(sqe, n->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &n->tok_accept);
	n->accept_armed = 1;
	n->inflight++;
}

static void arm_wake(struct uloop *e)
{
	struct io_uring_sqe *sqe = get_sqe(e);
	if (sqe == NULL)
		return;
	io_uring_prep_read(sqe, e->wakefd, &e->wake_val, sizeof(e->wake_val), 0);
	io_uring_sqe_set_data(sqe, &e->wake_tok);
	e->wake_armed = 1;
}

/* Cancel everything the node has in flight. Requests of a chain that have not started cannot be
 * found yet; the CQE of each one that ends brings the node back here. */
static void cancel_all(struct uloop *e, struct unode *n)
{
	for (unsigned i = 0; i < CHAIN_MAX; i++)
		if (tlsio__uch_pending(&n->ch, i) && prep_cancel(e, &n->tok_send[i]) < 0)
			goto retry;
	if (n->recv_armed && prep_cancel(e, &n->tok_recv) < 0)
		goto retry;
	if (n->pollout_armed && prep_cancel(e, &n->tok_pollout) < 0)
		goto retry;
	if (n->pollin_armed && prep_cancel(e, &n->tok_pollin) < 0)
		goto retry;
	if (n->accept_armed && prep_cancel(e, &n->tok_accept) < 0)
		goto retry;
	if (n->watch_armed && prep_cancel(e, &n->tok_watch) < 0)
		goto retry;
	return;
retry:
	push_ready(e, n);
}

/* ---------------------------------------------------------------------------------------- */
/* the ready list: work decided outside run_once or between CQEs */

static void deliver_parked(struct uloop *e, struct unode *n)
{
	tlsio_conn *c = n->c;
	if (n->parked_len > 0 && tlsio__conn_wants_read(c)) {
		size_t len = n->parked_len;
		n->parked_len = 0;
		e->core_called = 1;
		tlsio__conn_on_recv(c, n->parked, len);
		if (!tlsio__conn_alive(c))
			return;
	}
	if (n->parked_len == 0 && n->parked_eof && tlsio__conn_wants_read(c)) {
		n->parked_eof = 0;
		e->core_called = 1;
		tlsio__conn_on_eof(c);
	}
}

static void serve_conn(struct uloop *e, struct unode *n)
{
	tlsio_conn *c = n->c;
	int want;
	if (n->connecting) {
		if (!n->pollout_armed)
			arm_poll(e, n, 1);
		return;
	}
	if (n->parked_len > 0 || n->parked_eof) {
		deliver_parked(e, n);
		if (n->closing)
			return;
	}
	if (!tlsio__uch_busy(&n->ch) && !n->wait_out && tlsio__conn_out_len(c) > 0)
		submit_chain(e, n);
	if (n->wait_out && !n->pollout_armed)
		arm_poll(e, n, 1);
	want = tlsio__conn_wants_read(c) && n->parked_len == 0 && !n->parked_eof;
	if (want && n->wait_in) {
		if (!n->pollin_armed)
			arm_poll(e, n, 0);
	} else if (want && !n->recv_armed) {
		arm_recv(e, n);
	} else if (!want && n->recv_armed && e->multishot && !n->recv_cancel) {
		/* a multishot recv would go on filling buffers for a reader that paused */
		if (prep_cancel(e, &n->tok_recv) == 0)
			n->recv_cancel = 1;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* the application's fds */

static short watch_poll_mask(const struct unode *n)
{
	unsigned ev = tlsio__watch_events(n->w);
	return (short)((ev & TLSIO_READABLE ? POLLIN : 0) | (ev & TLSIO_WRITABLE ? POLLOUT : 0));
}

static unsigned watch_rev(int32_t mask)
{
	return (mask & POLLIN ? TLSIO_READABLE : 0) | (mask & POLLOUT ? TLSIO_WRITABLE : 0) |
	       (mask & (POLLHUP | POLLERR | POLLNVAL) ? TLSIO_HANGUP : 0);
}

static void watch_note(struct uloop *e, struct unode *n, unsigned rev)
{
	n->watch_rev |= rev;
	if (!n->on_wready) {
		n->on_wready = 1;
		n->wready_next = e->wready;
		e->wready = n;
	}
}

static void closing_cqe(struct uloop *e, struct unode *n);

/* Arm a poll for what the watch asks, or cancel one that waits for something else. */
static void serve_watch(struct uloop *e, struct unode *n)
{
	short want = watch_poll_mask(n);
	struct io_uring_sqe *sqe;
	if (n->watch_armed) {
		if (n->watch_mask != want && !n->watch_cancel) {
			if (prep_cancel(e, &n->tok_watch) == 0)
				n->watch_cancel = 1; /* its last CQE brings the node back to arm the new mask */
			else
				push_ready(e, n); /* no SQE free: try again next turn */
		}
		return;
	}
	if (want == 0 || n->watch_failed)
		return;
	sqe = get_sqe(e);
	if (sqe == NULL) {
		push_ready(e, n);
		return;
	}
	if (e->poll_multi)
		io_uring_prep_poll_multishot(sqe, n->fd, (unsigned)want);
	else
		io_uring_prep_poll_add(sqe, n->fd, (unsigned)want);
	io_uring_sqe_set_data(sqe, &n->tok_watch);
	n->watch_armed = 1;
	n->watch_mask = want;
	n->inflight++;
}

static void watch_cqe(struct uloop *e, struct unode *n, int32_t res, uint32_t flags)
{
	if (!(flags & IORING_CQE_F_MORE)) {
		n->watch_armed = 0;
		n->watch_cancel = 0;
		n->inflight--;
	}
	if (n->closing) {
		closing_cqe(e, n);
		return;
	}
	if (res >= 0) {
		watch_note(e, n, watch_rev(res));
	} else if (res == -EINVAL && e->poll_multi) {
		e->poll_multi = 0; /* a kernel without multishot poll: one-shot from now on */
	} else if (res != -ECANCELED) {
		/* a poll the kernel refuses for this fd (-EBADF...): say so once, and wait for the
		 * application to change the watch rather than re-arm into the same error */
		n->watch_failed = 1;
		watch_note(e, n, TLSIO_HANGUP);
	}
	if (!n->watch_armed)
		push_ready(e, n);
}

/* Level-triggered on top of multishot: the watches reported last turn that are still ready. */
static int watch_recheck(struct uloop *e)
{
	struct unode *list = e->recheck, *n;
	size_t count = 0, i = 0;
	int found = 0;
	e->recheck = NULL;
	for (n = list; n != NULL; n = n->recheck_next)
		count++;
	if (count > e->rpfd_cap) {
		struct pollfd *p = realloc(e->rpfd, count * sizeof(*p));
		if (p == NULL) {
			count = 0; /* the multishot polls still report new wake-ups */
		} else {
			e->rpfd = p;
			e->rpfd_cap = count;
		}
	}
	for (n = list; n != NULL && i < count; n = n->recheck_next, i++)
		e->rpfd[i] = (struct pollfd){n->fd, n->closing ? 0 : watch_poll_mask(n), 0};
	if (count > 0 && poll(e->rpfd, count, 0) > 0)
		found = 1;
	for (n = list, i = 0; n != NULL; n = n->recheck_next, i++) {
		n->on_recheck = 0;
		if (found && i < count && e->rpfd[i].revents != 0 && !n->closing)
			watch_note(e, n, watch_rev(e->rpfd[i].revents));
	}
	return e->wready != NULL;
}

static void watch_dispatch(struct uloop *e)
{
	struct unode *list = e->wready;
	e->wready = NULL;
	while (list != NULL) {
		struct unode *n = list;
		unsigned rev = n->watch_rev;
		list = n->wready_next;
		n->on_wready = 0;
		n->watch_rev = 0;
		if (n->closing || n->w == NULL)
			continue;
		e->core_called = 1;
		tlsio__watch_on_ready(n->w, rev);
		if (!n->closing && e->poll_multi && !n->on_recheck && watch_poll_mask(n) != 0) {
			n->on_recheck = 1;
			n->recheck_next = e->recheck;
			e->recheck = n;
		}
	}
}

static void serve_node(struct uloop *e, struct unode *n)
{
	if (n->closing) {
		if (n->inflight == 0 && !n->on_wready && !n->on_recheck)
			node_free(e, n);
		else if (n->inflight == 0)
			push_ready(e, n); /* still on a watch list of this turn: free it next turn */
		else
			cancel_all(e, n);
		return;
	}
	if (n->kind == N_LISTENER) {
		if (!n->accept_armed)
			arm_accept(e, n);
		return;
	}
	if (n->kind == N_WATCH) {
		serve_watch(e, n);
		return;
	}
	serve_conn(e, n);
}

static void serve_ready(struct uloop *e)
{
	struct unode *list = e->ready;
	e->ready = NULL;
	while (list != NULL) {
		struct unode *n = list;
		list = n->ready_next;
		n->on_ready = 0;
		serve_node(e, n);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* completions */

/* A CQE of a closing node came in: answer conn_close once nothing refers to it any more. */
static void closing_cqe(struct uloop *e, struct unode *n)
{
	if (n->inflight == 0 && n->kind == N_CONN && !n->closed_told) {
		n->closed_told = 1;
		tlsio__conn_closed(n->c);
	}
	push_ready(e, n); /* free it, or cancel what has started since */
}

static void send_cqe(struct uloop *e, struct unode *n, unsigned idx, int32_t res)
{
	tlsio__uch_step s = tlsio__uch_complete(&n->ch, idx, fault_cqe(n, idx, res));
	tlsio_conn *c = n->c;
	tlsio_stats *st;
	n->inflight--;
	if (tlsio__fault_active())
		tlsio__fault_note_chain(s.cancels, s.violations);
	if (n->closing) {
		closing_cqe(e, n);
		return;
	}
	st = tlsio__conn_counters(c);
	st->short_writes += s.shorts;
	st->eagain += s.eagains;
	st->eintr += s.eintrs;
	if (s.wait_out)
		n->wait_out = 1;
	if (s.sent > 0) {
		e->core_called = 1;
		tlsio__conn_on_sent(c, s.sent);
		if (!tlsio__conn_alive(c))
			return;
	}
	if (s.err != 0) {
		e->core_called = 1;
		tlsio__conn_on_error(c, s.err);
		return;
	}
	if (s.done)
		push_ready(e, n); /* the next chain, from the first unsent byte */
}

static void recv_cqe(struct uloop *e, struct unode *n, int32_t res, uint32_t flags)
{
	int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
	tlsio_conn *c = n->c;
	if (!(flags & IORING_CQE_F_MORE)) {
		n->recv_armed = 0;
		n->recv_cancel = 0;
		n->inflight--;
	}
	if (n->closing) {
		buf_recycle(e, bid);
		closing_cqe(e, n);
		return;
	}
	if (res > 0) {
		const uint8_t *data = bid >= 0 ? e->bufs + (size_t)bid * BUF_SIZE : n->rbuf;
		tlsio__conn_counters(c)->read_calls++;
		if (n->parked_len == 0 && !n->parked_eof && tlsio__conn_wants_read(c)) {
			e->core_called = 1;
			tlsio__conn_on_recv(c, data, (size_t)res);
		} else if (park(n, data, (size_t)res) < 0) {
			e->core_called = 1;
			tlsio__conn_on_error(c, -ENOMEM);
		}
		buf_recycle(e, bid);
		if (!tlsio__conn_alive(c))
			return;
	} else if (res == 0) {
		if (n->parked_len == 0 && tlsio__conn_wants_read(c)) {
			e->core_called = 1;
			tlsio__conn_on_eof(c);
			if (!tlsio__conn_alive(c))
				return;
		} else {
			n->parked_eof = 1;
		}
	} else if (res == -EAGAIN) {
		n->wait_in = 1;
	} else if (res != -ENOBUFS && res != -ECANCELED && res != -EINTR) {
		/* also while reading is paused: the error would otherwise wait for read_start */
		e->core_called = 1;
		tlsio__conn_on_error(c, res);
		return;
	}
	if (!(flags & IORING_CQE_F_MORE))
		push_ready(e, n); /* re-arm if the core still wants input */
}

static void pollout_cqe(struct uloop *e, struct unode *n, int32_t res)
{
	tlsio_conn *c = n->c;
	n->pollout_armed = 0;
	n->inflight--;
	if (n->closing) {
		closing_cqe(e, n);
		return;
	}
	if (n->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);
		n->connecting = 0;
		if (res < 0)
			err = -res;
		else if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		e->core_called = 1;
		tlsio__conn_on_connected(c, -err);
		if (!tlsio__conn_alive(c))
			return;
	} else {
		n->wait_out = 0;
	}
	push_ready(e, n);
}

static void pollin_cqe(struct uloop *e, struct unode *n)
{
	n->pollin_armed = 0;
	n->wait_in = 0;
	n->inflight--;
	if (n->closing)
		closing_cqe(e, n);
	else
		push_ready(e, n);
}

static void accept_cqe(struct uloop *e, struct unode *n, int32_t res)
{
	n->accept_armed = 0;
	n->inflight--;
	if (n->closing) {
		if (res >= 0)
			close(res); /* accepted just before the cancel */
		push_ready(e, n);
		return;
	}
	if (res >= 0) {
		e->core_called = 1;
		tlsio__listener_on_accept(n->l, res);
	}
	push_ready(e, n); /* the next accept (or, if the callback closed the listener, the free) */
}

static void dispatch(struct uloop *e, uint64_t ud, int32_t res, uint32_t flags)
{
	struct utok *t = (struct utok *)(uintptr_t)ud;
	if (ud == 0 || ud == LIBURING_UDATA_TIMEOUT)
		return;
	switch (t->kind) {
	case T_WAKE:
		e->wake_armed = 0;
		break;
	case T_ACCEPT:
		accept_cqe(e, t->n, res);
		break;
	case T_RECV:
		recv_cqe(e, t->n, res, flags);
		break;
	case T_POLLOUT:
		pollout_cqe(e, t->n, res);
		break;
	case T_POLLIN:
		pollin_cqe(e, t->n);
		break;
	case T_SEND:
		send_cqe(e, t->n, t->idx, res);
		break;
	case T_WATCH:
		watch_cqe(e, t->n, res, flags);
		break;
	}
}

#define CQE_BATCH 64

static void drain_cqes(struct uloop *e)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	struct {
		uint64_t ud;
		int32_t res;
		uint32_t flags;
	} got[CQE_BATCH];
	/* Copy a batch out and release it before dispatching: callbacks may submit. */
	for (int round = 0; round < 16; round++) {
		unsigned n = io_uring_peek_batch_cqe(&e->ring, cqes, CQE_BATCH);
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			got[i].ud = cqes[i]->user_data;
			got[i].res = cqes[i]->res;
			got[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&e->ring, n);
		for (unsigned i = 0; i < n; i++)
			dispatch(e, got[i].ud, got[i].res, got[i].flags);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* loop */

static int setup_buf_ring(struct uloop *e)
{
	struct io_uring_buf_reg reg;
	size_t sz = NBUFS * sizeof(struct io_uring_buf);
	if (posix_memalign((void **)&e->br, 4096, sz < 4096 ? 4096 : sz) != 0) {
		e->br = NULL;
		return -ENOMEM;
	}
	e->bufs = malloc((size_t)NBUFS * BUF_SIZE);
	if (e->bufs == NULL)
		return -ENOMEM;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)e->br;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&e->ring, &reg, 0) < 0)
		return -EINVAL;
	io_uring_buf_ring_init(e->br);
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(e->br, e->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
		                      io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(e->br, NBUFS);
	return 0;
}

static const char *variant_name(int v)
{
	switch (v) {
	case V_NOLINK:
		return "CONTROL: unlinked sends";
	case V_LINK_NOWAITALL:
		return "CONTROL: IO_LINK without MSG_WAITALL";
	case V_HARDLINK:
		return "CONTROL: IO_HARDLINK without MSG_WAITALL";
	default:
		return "linked chains (IO_LINK + MSG_WAITALL)";
	}
}

static int loop_init_variant(tlsio_loop *loop, int variant)
{
	struct uloop *e = calloc(1, sizeof(*e));
	struct io_uring_params p;
	size_t first = (size_t)atomic_load(&g_setup_first), i;
	int rc = -EINVAL, ms;
	char recv[128];
	if (e == NULL)
		return -ENOMEM;
	e->wakefd = -1;
	e->variant = variant;
	e->link_flag = variant == V_NOLINK ? 0 : variant == V_HARDLINK ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
	e->waitall = variant == V_REAL || variant == V_NOLINK;
	if (env_is("TLSIO_URING_SETUP", "plain"))
		first = N_SETUPS - 1;
	for (i = first; i < N_SETUPS; i++) {
		memset(&p, 0, sizeof(p));
		p.flags = setups[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		rc = io_uring_queue_init_params(SQ_ENTRIES, &e->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	if (rc < 0) {
		free(e);
		return rc;
	}
	if (i > first && !env_is("TLSIO_URING_SETUP", "plain"))
		atomic_store(&g_setup_first, (int)i);
	e->enabled = !(setups[i].flags & IORING_SETUP_R_DISABLED);
	e->wake_tok.kind = T_WAKE;
	e->wakefd = eventfd(0, EFD_CLOEXEC);
	if (e->wakefd < 0) {
		rc = -errno;
		goto fail;
	}
	ms = atomic_load(&g_multishot);
	if (ms == 0) {
		ms = probe_multishot();
		atomic_store(&g_multishot, ms);
	}
	e->multishot = ms > 0 && !env_is("TLSIO_URING_RECV", "plain");
	if (e->multishot && setup_buf_ring(e) < 0) {
		/* the ring registration can still fail (memlock): per-connection buffers then */
		e->multishot = 0;
		free(e->br);
		free(e->bufs);
		e->br = NULL;
		e->bufs = NULL;
	}
	if (e->multishot)
		snprintf(recv, sizeof(recv), "multishot recv + provided-buffer ring (%d x %d KiB)", NBUFS,
		         BUF_SIZE / 1024);
	else
		snprintf(recv, sizeof(recv), "one recv per connection into its own %d KiB buffer (%s)",
		         RBUF_SIZE / 1024, ms > 0 ? "forced" : "no multishot recv here");
	e->poll_multi = !env_is("TLSIO_URING_POLL", "plain");
	snprintf(e->info, sizeof(e->info),
	         "uring: setup=%s; recv=%s; send=%s, <=%d SQEs x %d KiB; fd watches=%s",
	         setups[i].name, recv, variant_name(variant), CHAIN_MAX, SEG_MAX / 1024,
	         e->poll_multi ? "multishot poll + poll(2) recheck" : "one-shot poll (forced)");
	tlsio__loop_set_bdata(loop, e);
	return 0;
fail:
	io_uring_queue_exit(&e->ring);
	free(e);
	return rc;
}

static void ur_loop_free(tlsio_loop *loop)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	struct __kernel_timespec ts = {.tv_nsec = 10 * 1000 * 1000};
	struct io_uring_cqe *cqe;
	/* Whatever is still in flight refers to memory freed below (the wake counter, receive
	 * buffers, the connections' ciphertext): cancel it and wait for the CQEs a little, then let
	 * the ring's exit cancel what is left. */
	if (e->enabled) {
		if (e->wake_armed)
			(void)prep_cancel(e, &e->wake_tok);
		for (int i = 0; i < 20; i++) {
			int busy = e->wake_armed;
			for (struct unode *n = e->all; n != NULL; n = n->all_next) {
				n->closing = 1;
				if (n->inflight > 0) {
					busy = 1;
					push_ready(e, n);
				}
			}
			if (!busy)
				break;
			serve_ready(e);
			(void)io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
			drain_cqes(e);
		}
	}
	io_uring_queue_exit(&e->ring);
	while (e->all != NULL)
		node_free(e, e->all);
	close(e->wakefd);
	free(e->br);
	free(e->bufs);
	free(e->rpfd);
	free(e);
}

/* io_uring_enable_rings() is declared by liburing 2.3 but missing from its symbol map: the
 * register call itself works everywhere. */
static int enable_ring(struct uloop *e)
{
	return (int)syscall(__NR_io_uring_register, e->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

static int ur_run_once(tlsio_loop *loop, int timeout_ms)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	struct io_uring_cqe *cqe;
	int rc;
	if (!e->enabled) {
		/* SINGLE_ISSUER: the thread that runs the loop becomes the ring's issuer here */
		if (enable_ring(e) < 0)
			return -errno;
		e->enabled = 1;
	}
	e->core_called = 0;
	if (e->recheck != NULL && watch_recheck(e))
		timeout_ms = 0; /* a watch is still ready: report it again without waiting */
	serve_ready(e);
	if (!e->wake_armed)
		arm_wake(e);
	if (e->core_called || e->ready != NULL)
		timeout_ms = 0; /* the core has work from those callbacks, or nodes wait for SQEs */
	if (timeout_ms == 0) {
		rc = io_uring_submit_and_get_events(&e->ring);
	} else if (timeout_ms < 0) {
		rc = io_uring_submit_and_wait(&e->ring, 1);
	} else {
		struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
		                               .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
		rc = io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &ts, NULL);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	drain_cqes(e);
	watch_dispatch(e);
	return 0;
}

static void ur_wake(tlsio_loop *loop)
{
	struct uloop *e = tlsio__loop_bdata(loop);
	uint64_t one = 1;
	(void)!write(e->wakefd, &one, sizeof(one));
}

static const char *ur_info(const tlsio_loop *loop)
{
	const struct uloop *e = tlsio__loop_bdata(loop);
	return e->info;
}

/* ---------------------------------------------------------------------------------------- */
/* listeners and connections */

static int ur_listener_attach(tlsio_listener *l)
{
	struct uloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	struct unode *n = node_new(e, N_LISTENER, tlsio__listener_fd(l));
	if (n == NULL)
		return -ENOMEM;
	n->l = l;
	tlsio__listener_set_bdata(l, n);
	push_ready(e, n);
	return 0;
}

static void ur_listener_detach(tlsio_listener *l)
{
	struct uloop *e = tlsio__loop_bdata(tlsio__listener_loop(l));
	struct unode *n = tlsio__listener_bdata(l);
	if (n == NULL)
		return;
	tlsio__listener_set_bdata(l, NULL);
	n->closing = 1;
	n->l = NULL;
	push_ready(e, n);
}

static int ur_conn_attach(tlsio_conn *c, int connecting)
{
	struct uloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct unode *n = node_new(e, N_CONN, tlsio__conn_fd(c));
	if (n == NULL)
		return -ENOMEM;
	n->c = c;
	n->connecting = connecting != 0;
	tlsio__conn_set_bdata(c, n);
	push_ready(e, n);
	return 0;
}

static void ur_conn_close(tlsio_conn *c)
{
	struct uloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct unode *n = tlsio__conn_bdata(c);
	if (n == NULL) {
		tlsio__conn_closed(c);
		return;
	}
	tlsio__conn_set_bdata(c, NULL);
	n->closing = 1;
	n->parked_len = 0;
	n->parked_eof = 0;
	if (n->inflight == 0) {
		n->closed_told = 1;
		tlsio__conn_closed(c);
	}
	push_ready(e, n); /* cancel what is in flight, or free */
}

static int ur_watch_attach(tlsio_watch *w)
{
	struct uloop *e = tlsio__loop_bdata(tlsio__watch_loop(w));
	struct unode *n = node_new(e, N_WATCH, tlsio__watch_fd(w));
	if (n == NULL)
		return -ENOMEM;
	n->w = w;
	tlsio__watch_set_bdata(w, n);
	push_ready(e, n); /* the poll is armed in run_once, where submitting is allowed */
	return 0;
}

static int ur_watch_update(tlsio_watch *w)
{
	struct unode *n = tlsio__watch_bdata(w);
	n->watch_failed = 0;
	push_ready(tlsio__loop_bdata(tlsio__watch_loop(w)), n);
	return 0;
}

static void ur_watch_detach(tlsio_watch *w)
{
	struct unode *n = tlsio__watch_bdata(w);
	n->w = NULL;
	n->closing = 1;
	push_ready(tlsio__loop_bdata(tlsio__watch_loop(w)), n); /* cancel the poll, then free */
}

static void ur_flush(tlsio_conn *c)
{
	struct unode *n = tlsio__conn_bdata(c);
	if (n != NULL && !tlsio__uch_busy(&n->ch))
		push_ready(tlsio__loop_bdata(tlsio_conn_loop(c)), n);
	/* else the chain's last CQE brings the node back */
}

static void ur_read_start(tlsio_conn *c)
{
	struct unode *n = tlsio__conn_bdata(c);
	if (n != NULL)
		push_ready(tlsio__loop_bdata(tlsio_conn_loop(c)), n);
}

static void ur_read_stop(tlsio_conn *c)
{
	struct uloop *e = tlsio__loop_bdata(tlsio_conn_loop(c));
	struct unode *n = tlsio__conn_bdata(c);
	if (n != NULL && e->multishot && n->recv_armed)
		push_ready(e, n); /* cancel the multishot recv */
	/* a single recv in flight may complete: its data is parked until read_start */
}

#define URING_OPS(initfn)                                                                        \
	.probe = ur_probe, .loop_init = initfn, .loop_free = ur_loop_free, .run_once = ur_run_once, \
	.wake = ur_wake, .listener_attach = ur_listener_attach,                                  \
	.listener_detach = ur_listener_detach, .conn_attach = ur_conn_attach,                    \
	.conn_close = ur_conn_close, .flush = ur_flush, .read_start = ur_read_start,              \
	.read_stop = ur_read_stop, .info = ur_info, .watch_attach = ur_watch_attach,                \
	.watch_update = ur_watch_update, .watch_detach = ur_watch_detach

#ifndef TLSIO_URING_TEST_VARIANTS
static int ur_loop_init(tlsio_loop *loop)
{
	return loop_init_variant(loop, V_REAL);
}

const struct tlsio_backend tlsio__backend_uring = {
	.name = "uring",
	URING_OPS(ur_loop_init),
};
#else
/* Test-only builds (tests/test-uring-controls): the broken designs, never in the library. The
 * correct variant is compiled here too, so that the controls differ from it in the flags only. */
static int ctl_init_real(tlsio_loop *loop) { return loop_init_variant(loop, V_REAL); }
static int ctl_init_nolink(tlsio_loop *loop) { return loop_init_variant(loop, V_NOLINK); }
static int ctl_init_nowaitall(tlsio_loop *loop) { return loop_init_variant(loop, V_LINK_NOWAITALL); }
static int ctl_init_hardlink(tlsio_loop *loop) { return loop_init_variant(loop, V_HARDLINK); }
extern const struct tlsio_backend tlsio__uring_test_real, tlsio__uring_ctl_nolink,
    tlsio__uring_ctl_link_nowaitall, tlsio__uring_ctl_hardlink;
const struct tlsio_backend tlsio__uring_test_real = {.name = "uring", URING_OPS(ctl_init_real)};
const struct tlsio_backend tlsio__uring_ctl_nolink = {.name = "uring-ctl-nolink",
                                                      URING_OPS(ctl_init_nolink)};
const struct tlsio_backend tlsio__uring_ctl_link_nowaitall = {.name = "uring-ctl-link-nowaitall",
                                                              URING_OPS(ctl_init_nowaitall)};
const struct tlsio_backend tlsio__uring_ctl_hardlink = {.name = "uring-ctl-hardlink",
                                                        URING_OPS(ctl_init_hardlink)};
#endif
