/* SPDX-License-Identifier: MIT */
/* Shared test helpers (see testutil.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#ifdef TLSIO_HAVE_LIBUV
#include "tlsio-uv.h"
#endif

/* ---------------------------------------------------------------------------------------- */
/* time and logging */

uint64_t tu_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tu_now_ms(void)
{
	return tu_now_us() / 1000u;
}

void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	flockfile(stdout);
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	funlockfile(stdout);
}

void tu_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------------------------- */
/* failures */

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static int fail_count;
static char fail_first[1024];

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	const char *base = strrchr(file, '/');
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	base = base != NULL ? base + 1 : file;
	pthread_mutex_lock(&fail_mu);
	if (fail_count++ == 0)
		snprintf(fail_first, sizeof(fail_first), "%s:%d: %s", base, line, msg);
	pthread_mutex_unlock(&fail_mu);
	tu_log("FAILURE %s:%d: %s", base, line, msg);
}

int tu_failed(void)
{
	int n;
	pthread_mutex_lock(&fail_mu);
	n = fail_count;
	pthread_mutex_unlock(&fail_mu);
	return n;
}

const char *tu_failure(void)
{
	return fail_first;
}

void tu_reset_failures(void)
{
	pthread_mutex_lock(&fail_mu);
	fail_count = 0;
	fail_first[0] = '\0';
	pthread_mutex_unlock(&fail_mu);
}

/* ---------------------------------------------------------------------------------------- */
/* SHA-256: examples/sha256.c */

void tu_sha256_digest(const void *data, size_t len, uint8_t out[32])
{
	tu_sha256 s;
	tu_sha256_init(&s);
	tu_sha256_update(&s, data, len);
	tu_sha256_final(&s, out);
}


/* ---------------------------------------------------------------------------------------- */
/* PRNG (splitmix64) and pattern streams */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tu_rng_seed(tu_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t tu_rng_next(tu_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return mix64(r->s);
}

uint64_t tu_rng_below(tu_rng *r, uint64_t n)
{
	return tu_rng_next(r) % n;
}

size_t tu_rng_size(tu_rng *r, size_t min, size_t max)
{
	unsigned lo = 0, hi = 0, e;
	size_t base, span;
	if (min == 0)
		min = 1;
	if (max <= min)
		return min;
	while (((size_t)2 << lo) <= min)
		lo++;
	while (((size_t)2 << hi) <= max)
		hi++;
	e = lo + (unsigned)tu_rng_below(r, hi - lo + 1);
	base = (size_t)1 << e;
	span = base; /* [2^e, 2^(e+1)) clamped to [min, max] */
	base = base + (size_t)tu_rng_below(r, span);
	if (base < min)
		base = min;
	if (base > max)
		base = max;
	return base;
}

void tu_rng_fill(tu_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		uint64_t v = tu_rng_next(r);
		size_t n = len < 8 ? len : 8;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

uint64_t tu_seed(uint64_t dflt)
{
	const char *s = getenv("TLSIO_TEST_SEED");
	if (s == NULL || *s == '\0')
		return dflt;
	return strtoull(s, NULL, 0);
}

static uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	return mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ull);
}

void tu_pattern(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t i = off / 8;
	size_t skip = (size_t)(off % 8);
	while (len > 0) {
		uint64_t w = pattern_word(seed, i++);
		size_t n = 8 - skip < len ? 8 - skip : len;
		memcpy(p, (const uint8_t *)&w + skip, n);
		p += n;
		len -= n;
		skip = 0;
	}
}

size_t tu_pattern_check(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t ref[4096];
	size_t done = 0;
	while (done < len) {
		size_t n = len - done < sizeof(ref) ? len - done : sizeof(ref);
		tu_pattern(seed, off + done, ref, n);
		if (memcmp(ref, p + done, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (ref[i] != p[done + i])
					return done + i;
		}
		done += n;
	}
	return len;
}

/* ---------------------------------------------------------------------------------------- */
/* certificates */

static pthread_mutex_t cert_mu = PTHREAD_MUTEX_INITIALIZER;
#define CERT_SLOTS 16
static char cert_path[CERT_SLOTS][1024];

static const char *cert_dir(void)
{
	static const char *const fallback[] = {"tests/certs", "../tests/certs", "../../tests/certs"};
	const char *env = getenv("TLSIO_TEST_CERTS");
	char probe[1024];
	if (env != NULL && *env != '\0')
		return env;
	for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/ca.pem", fallback[i]);
		if (access(probe, R_OK) == 0)
			return fallback[i];
	}
	return "tests/certs";
}

const char *tu_cert(const char *file)
{
	char want[1024];
	const char *out = NULL;
	snprintf(want, sizeof(want), "%s/%s", cert_dir(), file);
	pthread_mutex_lock(&cert_mu);
	for (int i = 0; i < CERT_SLOTS && out == NULL; i++) {
		if (strcmp(cert_path[i], want) == 0) {
			out = cert_path[i];
		} else if (cert_path[i][0] == '\0') {
			memcpy(cert_path[i], want, sizeof(want));
			out = cert_path[i];
		}
	}
	pthread_mutex_unlock(&cert_mu);
	return out != NULL ? out : "(too many certificate paths)";
}

/* ---------------------------------------------------------------------------------------- */
/* threads, watchdog, loops */

static atomic_int aborted;
static pthread_mutex_t loops_mu = PTHREAD_MUTEX_INITIALIZER;
#define MAX_LOOPS 16
static tlsio_loop *loops[MAX_LOOPS];

int tu_aborted(void)
{
	return atomic_load(&aborted);
}

void tu_loop_register(tlsio_loop *loop)
{
	pthread_mutex_lock(&loops_mu);
	for (int i = 0; i < MAX_LOOPS; i++) {
		if (loops[i] == NULL) {
			loops[i] = loop;
			break;
		}
	}
	pthread_mutex_unlock(&loops_mu);
}

void tu_loop_unregister(tlsio_loop *loop)
{
	pthread_mutex_lock(&loops_mu);
	for (int i = 0; i < MAX_LOOPS; i++)
		if (loops[i] == loop)
			loops[i] = NULL;
	pthread_mutex_unlock(&loops_mu);
}

static void wake_all(void)
{
	pthread_mutex_lock(&loops_mu);
	for (int i = 0; i < MAX_LOOPS; i++)
		if (loops[i] != NULL)
			tlsio_loop_wake(loops[i]);
	pthread_mutex_unlock(&loops_mu);
}

struct tu_thread {
	pthread_t tid;
	tu_thread_fn fn;
	void *arg;
	atomic_int done;
	int started;
};

static void *thread_main(void *arg)
{
	struct tu_thread *t = arg;
	t->fn(t->arg);
	atomic_store(&t->done, 1);
	return NULL;
}

#define TICK_MS 5
#define GRACE_MS 5000

unsigned tu_progress_ms(void)
{
	const char *e = getenv("TLSIO_TEST_PROGRESS_MS");
	return e != NULL && atoi(e) > 0 ? (unsigned)atoi(e) : 10000u;
}

int tu_run_threads(size_t n, const tu_thread_fn *fns, void *const *args, unsigned timeout_ms,
                   void (*describe)(void *), void *describe_arg)
{
	return tu_run_threads_ex(n, fns, args, timeout_ms, describe, describe_arg, NULL);
}

int tu_run_threads_ex(size_t n, const tu_thread_fn *fns, void *const *args, unsigned timeout_ms,
                      void (*describe)(void *), void *describe_arg, tu_progress_fn progress)
{
	struct tu_thread *t = calloc(n, sizeof(*t));
	uint64_t deadline = tu_now_ms() + timeout_ms, grace = 0;
	uint64_t last_sum = UINT64_MAX, last_move = tu_now_ms();
	unsigned stall_ms = tu_progress_ms();
	char counters[1024];
	int rc = 0;
	if (t == NULL) {
		TU_FAIL("out of memory");
		return -2;
	}
	atomic_store(&aborted, 0);
	for (size_t i = 0; i < n; i++) {
		t[i].fn = fns[i];
		t[i].arg = args[i];
		if (pthread_create(&t[i].tid, NULL, thread_main, &t[i]) != 0) {
			TU_FAIL("pthread_create failed");
			atomic_store(&aborted, 1);
			break;
		}
		t[i].started = 1;
	}
	for (;;) {
		size_t running = 0;
		uint64_t now = tu_now_ms();
		for (size_t i = 0; i < n; i++)
			if (t[i].started && !atomic_load(&t[i].done))
				running++;
		if (running == 0)
			break;
		if (grace == 0 && progress != NULL) {
			uint64_t sum = progress(describe_arg, counters, sizeof(counters));
			if (sum != last_sum) {
				last_sum = sum;
				last_move = now;
			} else if (now - last_move >= stall_ms) {
				TU_FAIL("progress watchdog: no byte moved for %u ms: %s", stall_ms, counters);
				if (describe != NULL)
					describe(describe_arg);
				atomic_store(&aborted, 1);
				grace = now + GRACE_MS;
				rc = -1;
			}
		}
		if (grace == 0 && now >= deadline) {
			TU_FAIL("watchdog: %zu thread(s) still running after %u ms", running, timeout_ms);
			if (describe != NULL)
				describe(describe_arg);
			atomic_store(&aborted, 1);
			grace = now + GRACE_MS;
			rc = -1;
		}
		if (grace != 0 && now >= grace) {
			tu_log("watchdog: %zu thread(s) did not end within the grace period; leaking them",
			       running);
			return -2; /* t and the threads' arguments stay allocated: they are in use */
		}
		wake_all();
		tu_sleep_ms(TICK_MS);
	}
	for (size_t i = 0; i < n; i++)
		if (t[i].started)
			pthread_join(t[i].tid, NULL);
	free(t);
	return rc;
}

int tu_loop_run_until(tlsio_loop *loop, int (*pred)(void *), void *arg, unsigned timeout_ms)
{
	uint64_t deadline = tu_now_ms() + timeout_ms;
	while (!pred(arg) && tu_now_ms() < deadline) {
		int rc = tlsio_loop_run(loop, TLSIO_RUN_NOWAIT);
		if (rc < 0) {
			TU_FAIL("tlsio_loop_run: %s", tlsio_strerror(rc));
			break;
		}
		if (!pred(arg))
			tu_sleep_ms(1);
	}
	return pred(arg);
}

/* ---------------------------------------------------------------------------------------- */
/* peers: the harness's callbacks, the sender and the receiver */

/* A send with a completion; the data of a by-reference send lives in data[] until it completes. */
struct tu_req {
	tlsio_send_req req;
	struct tu_req *next;
	tu_peer *peer;
	uint64_t seq, off;
	size_t len;
	int ref, fired;
	uint8_t *data;
};

static const char *peer_name(const tu_peer *p)
{
	return p->side != NULL ? p->side->name : "peer";
}

void tu_peer_init(tu_peer *p, tu_side *side, int index, const tu_plan *plan)
{
	memset(p, 0, sizeof(*p));
	if (plan != NULL)
		p->plan = *plan;
	p->side = side;
	p->index = index;
	p->status = 1; /* "no on_close yet": a real status is 0 or negative */
	p->alert = TLSIO_ALERT_NONE;
	p->rx_bad_at = UINT64_MAX;
	p->high_water = side != NULL && side->opts.high_water ? side->opts.high_water : 16 * TU_MIB;
	p->low_water = side != NULL ? side->opts.low_water : 0;
	if (p->plan.tx_min == 0)
		p->plan.tx_min = 64 * TU_KIB;
	if (p->plan.tx_max < p->plan.tx_min)
		p->plan.tx_max = p->plan.tx_min;
	tu_rng_seed(&p->rng, p->plan.tx_seed ^ 0x5eed5eed5eedull);
	tu_sha256_init(&p->rx_sha);
	tu_sha256_init(&p->tx_sha);
}

void tu_peer_release(tu_peer *p)
{
	while (p->reqs_head != NULL) {
		struct tu_req *q = p->reqs_head;
		p->reqs_head = q->next;
		free(q->data);
		free(q);
	}
	free(p->scratch);
	p->scratch = NULL;
}

static void req_complete(tlsio_send_req *r, int status)
{
	struct tu_req *q = r->data;
	tu_peer *p = q->peer;
	const char *who = peer_name(p);
	TU_CHECK(!q->fired, "%s: completion #%" PRIu64 " fired twice", who, q->seq);
	TU_CHECK(!p->closed, "%s: completion #%" PRIu64 " after on_close", who, q->seq);
	TU_CHECK(q->seq == p->completions, "%s: completion #%" PRIu64 " fired, expected #%" PRIu64
	         " (out of send order)", who, q->seq, p->completions);
	q->fired = 1;
	p->completions = q->seq + 1;
	if (status == 0) {
		TU_CHECK(!p->compl_seen_fail, "%s: completion #%" PRIu64 " has status 0 after a failed one",
		         who, q->seq);
		if (p->conn != NULL && !p->plan.echo) {
			/* status 0 means the send's bytes reached the kernel (echoed bytes would also
			 * count in app_bytes_queued: then the offsets do not line up) */
			tlsio_stats st;
			st.struct_size = sizeof(st);
			tlsio_conn_stats(p->conn, &st);
			TU_CHECK(st.app_bytes_sent >= q->off + q->len, "%s: completion #%" PRIu64
			         " ok with %" PRIu64 " bytes written, before its end at %" PRIu64, who,
			         q->seq, st.app_bytes_sent, q->off + q->len);
		}
		p->compl_ok++;
	} else {
		TU_CHECK(status < 0, "%s: completion #%" PRIu64 " has positive status %d", who, q->seq, status);
		if (!p->compl_seen_fail)
			p->compl_first_err = status;
		p->compl_seen_fail = 1;
		p->compl_fail++;
	}
	if (q->ref) {
		size_t bad = tu_pattern_check(p->plan.tx_seed, q->off, q->data, q->len);
		TU_CHECK(bad == q->len, "%s: by-reference buffer of send #%" PRIu64 " changed at byte %zu",
		         who, q->seq, bad);
	}
	/* Poison and drop the data: a library that still read it would corrupt the stream. */
	memset(q->data, 0xEE, q->len);
	free(q->data);
	q->data = NULL;
}

static int tx_finished(const tu_peer *p)
{
	return p->plan.tx_count ? p->sends >= p->plan.tx_count : p->tx_len >= p->plan.tx_total;
}

static int tx_wanted(const tu_peer *p)
{
	return p->plan.tx_count != 0 || p->plan.tx_total != 0;
}

static void peer_close(tu_peer *p)
{
	if (p->conn != NULL && !p->close_called) {
		p->close_called = 1;
		tlsio_close(p->conn);
	}
}

static uint8_t *scratch(tu_peer *p, size_t n)
{
	if (p->scratch_cap < n) {
		free(p->scratch);
		p->scratch = malloc(n);
		p->scratch_cap = p->scratch != NULL ? n : 0;
	}
	return p->scratch;
}

/* One send of @p n bytes of the stream. @return 0 if accepted, -1 to stop for now. */
static int tx_one(tu_peer *p, size_t n)
{
	const char *who = peer_name(p);
	struct tu_req *q = NULL;
	int kind = p->plan.tx_mode == TU_TX_MIXED ? (int)tu_rng_below(&p->rng, 3) : p->plan.tx_mode;
	size_t before, after;
	uint64_t t0;
	uint8_t *buf;
	int rc;

	if (kind == TU_TX_COPY) {
		buf = scratch(p, n);
	} else {
		q = calloc(1, sizeof(*q));
		buf = q != NULL ? malloc(n) : NULL;
		if (q != NULL)
			q->data = buf;
	}
	if (buf == NULL) {
		TU_FAIL("%s: out of memory for a %zu-byte send", who, n);
		free(q);
		p->tx_failed = 1;
		return -1;
	}
	tu_pattern(p->plan.tx_seed, p->tx_len, buf, n);
	before = tlsio_conn_queued(p->conn);
	t0 = tu_now_us();
	if (q == NULL) {
		rc = tlsio_send(p->conn, buf, n);
	} else {
		q->peer = p;
		q->seq = p->reqs;
		q->off = p->tx_len;
		q->len = n;
		q->ref = kind == TU_TX_REF;
		q->req.data = q;
		rc = tlsio_send_ex(p->conn, &q->req, buf, n, q->ref ? TLSIO_SEND_REF : 0, req_complete);
	}
	t0 = tu_now_us() - t0;
	if (t0 > p->send_us_max)
		p->send_us_max = t0;
	after = tlsio_conn_queued(p->conn);
	if (rc == TLSIO_E_QUEUE_FULL) {
		TU_CHECK(after == before, "%s: refused send changed tlsio_conn_queued: %zu -> %zu", who,
		         before, after);
		TU_CHECK(before >= p->high_water, "%s: send refused with %zu queued < high water %zu", who,
		         before, p->high_water);
		if (q != NULL) {
			free(q->data);
			free(q);
		}
		p->qfull++;
		p->waiting_drain = 1;
		if (p->plan.on_queue_full != NULL)
			p->plan.on_queue_full(p);
		return -1;
	}
	if (rc != 0) {
		TU_FAIL("%s: send #%" PRIu64 " of %zu bytes failed: %s", who, p->sends, n,
		        tlsio_strerror(rc));
		if (q != NULL) {
			free(q->data);
			free(q);
		}
		p->tx_failed = 1;
		return -1;
	}
	TU_CHECK(before < p->high_water, "%s: send accepted with %zu queued >= high water %zu", who,
	         before, p->high_water);
	tu_sha256_update(&p->tx_sha, buf, n);
	p->tx_len += n;
	p->sends++;
	if (q != NULL) {
		q->next = p->reqs_head;
		p->reqs_head = q;
		p->reqs++;
		if (!q->ref)
			memset(buf, 0xEE, n); /* copied: the library must not need it any more */
	} else {
		memset(buf, 0xEE, n);
	}
	return 0;
}

void tu_peer_pump(tu_peer *p)
{
	const tu_plan *pl = &p->plan;
	if (p->pumping || p->conn == NULL || p->closed || !tx_wanted(p) || p->tx_done)
		return;
	p->pumping = 1;
	while (!tx_finished(p) && !p->waiting_drain && !p->tx_failed && p->conn != NULL) {
		size_t n = tu_rng_size(&p->rng, pl->tx_min, pl->tx_max);
		if (!pl->tx_count && n > pl->tx_total - p->tx_len)
			n = (size_t)(pl->tx_total - p->tx_len);
		if (pl->tx_window) {
			uint64_t inflight = p->tx_len - p->rx_len;
			if (inflight >= pl->tx_window)
				break;
			if (n > pl->tx_window - inflight)
				n = (size_t)(pl->tx_window - inflight);
		}
		if (tx_one(p, n) < 0)
			break;
	}
	if (tx_finished(p) && p->conn != NULL && !p->tx_done) {
		p->tx_done = 1;
		if (pl->tx_then == TU_THEN_CLOSE) {
			peer_close(p);
		} else if (pl->tx_then == TU_THEN_SHUTDOWN) {
			int rc = tlsio_shutdown(p->conn);
			TU_CHECK(rc == 0, "%s: tlsio_shutdown: %s", peer_name(p), tlsio_strerror(rc));
		}
		if (pl->on_tx_done != NULL)
			pl->on_tx_done(p);
	}
	p->pumping = 0;
}

static void cb_handshake(tlsio_conn *c, void *user)
{
	tu_peer *p = user;
	const char *v = tlsio_conn_tls_version(c), *sni = tlsio_conn_server_name(c);
	p->handshakes++;
	TU_CHECK(p->handshakes == 1, "%s: on_handshake fired %d times", peer_name(p), p->handshakes);
	snprintf(p->version, sizeof(p->version), "%s", v != NULL ? v : "");
	snprintf(p->sni, sizeof(p->sni), "%s", sni != NULL ? sni : "");
	{
		tlsio_cert_info *ci = NULL;
		if (tlsio_conn_peer_cert_info(c, &ci) == 0) {
			snprintf(p->peer_subject, sizeof(p->peer_subject), "%s", ci->subject);
			snprintf(p->peer_san0, sizeof(p->peer_san0), "%s", ci->san_count ? ci->san[0] : "");
		}
		tlsio_cert_info_free(ci);
	}
	if (p->plan.rx_stop_on_handshake)
		tlsio_read_stop(c);
	if (p->plan.on_handshake != NULL)
		p->plan.on_handshake(p);
	if (p->plan.tx_start == TU_START_HANDSHAKE)
		tu_peer_pump(p);
}

static void rx_account(tu_peer *p, const uint8_t *data, size_t len)
{
	tu_sha256_update(&p->rx_sha, data, len);
	if (p->plan.rx_seed != 0 && p->rx_bad_at == UINT64_MAX) {
		size_t bad = tu_pattern_check(p->plan.rx_seed, p->rx_len, data, len);
		if (bad != len) {
			p->rx_bad_at = p->rx_len + bad;
			TU_FAIL("%s: received stream differs from the sent one at byte %" PRIu64,
			        peer_name(p), p->rx_bad_at);
		}
	}
	p->rx_len += len;
}

static void rx_slow_down(tu_peer *p, tlsio_conn *c, size_t len)
{
	const tu_plan *pl = &p->plan;
	if (pl->rx_sleep_every) {
		p->sleep_acc += len;
		for (; p->sleep_acc >= pl->rx_sleep_every; p->sleep_acc -= pl->rx_sleep_every)
			tu_sleep_ms(1);
	}
	if (pl->rx_pause_every) {
		p->pause_acc += len;
		if (p->pause_acc >= pl->rx_pause_every) {
			p->pause_acc = 0;
			tlsio_read_stop(c);
			p->paused = 1;
			p->pauses++;
			p->resume_at = tu_now_ms() + (p->pauses == 2 ? pl->rx_long_pause_ms : 0);
		}
	}
}

static void cb_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	tu_peer *p = user;
	const char *who = peer_name(p);
	TU_CHECK(!p->paused, "%s: on_data (%zu bytes) while reading is stopped", who, len);
	TU_CHECK(p->handshakes == 1, "%s: on_data before on_handshake", who);
	TU_CHECK(len > 0, "%s: on_data with 0 bytes", who);
	rx_account(p, data, len);
	if (p->plan.echo) {
		int rc = tlsio_send(c, data, len);
		TU_CHECK(rc == 0, "%s: echo of %zu bytes: %s", who, len, tlsio_strerror(rc));
	}
	rx_slow_down(p, c, len);
	if (p->plan.on_data != NULL)
		p->plan.on_data(p, data, len);
	if (p->plan.tx_window)
		tu_peer_pump(p);
	if (p->plan.rx_close_at && p->rx_len >= p->plan.rx_close_at)
		peer_close(p);
}

static void cb_drain(tlsio_conn *c, void *user)
{
	tu_peer *p = user;
	size_t q = tlsio_conn_queued(c);
	p->drains++;
	if (q > p->drain_queued_max)
		p->drain_queued_max = q;
	TU_CHECK(q <= p->low_water, "%s: on_drain with %zu queued > low water %zu", peer_name(p), q,
	         p->low_water);
	if (p->waiting_drain) {
		p->waiting_drain = 0;
		tu_peer_pump(p);
	}
}

static void cb_peer_close(tlsio_conn *c, void *user)
{
	tu_peer *p = user;
	(void)c;
	p->peer_closes++;
	TU_CHECK(p->peer_closes == 1, "%s: on_peer_close fired %d times", peer_name(p), p->peer_closes);
	if (p->plan.tx_start == TU_START_PEER_CLOSE && tx_wanted(p)) {
		tu_peer_pump(p);
		return;
	}
	if (!tx_wanted(p) || p->tx_done || p->tx_failed)
		peer_close(p);
	/* else still sending: the plan's tx_then ends it */
}

static void cb_close(tlsio_conn *c, int status, int alert, void *user)
{
	tu_peer *p = user;
	const char *who = peer_name(p);
	p->closes++;
	TU_CHECK(p->closes == 1, "%s: on_close fired %d times", who, p->closes);
	TU_CHECK(status <= 0, "%s: on_close with positive status %d", who, status);
	TU_CHECK(p->completions == p->reqs, "%s: on_close with %" PRIu64 " of %" PRIu64
	         " completions fired", who, p->completions, p->reqs);
	p->status = status;
	p->alert = alert;
	if (p->sni[0] == '\0') {
		/* a refused handshake never reached on_handshake: what the client asked for */
		const char *sni = tlsio_conn_server_name(c);
		snprintf(p->sni, sizeof(p->sni), "%s", sni != NULL ? sni : "");
	}
	{
		const char *why = NULL;
		p->cert_err = tlsio_conn_cert_error(c, &why);
		snprintf(p->cert_why, sizeof(p->cert_why), "%s", why != NULL ? why : "(null)");
	}
	p->stats.struct_size = sizeof(p->stats);
	tlsio_conn_stats(c, &p->stats);
	p->closed = 1;
	p->conn = NULL;
	tu_sha256_final(&p->rx_sha, p->rx_digest);
	tu_sha256_final(&p->tx_sha, p->tx_digest);
	if (p->side != NULL)
		p->side->nclosed++;
	if (p->plan.on_close != NULL)
		p->plan.on_close(p);
}

const tlsio_callbacks tu_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cb_handshake,
	.on_data = cb_data,
	.on_drain = cb_drain,
	.on_peer_close = cb_peer_close,
	.on_close = cb_close,
};

static const tlsio_callbacks tu_callbacks_no_peer_close = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cb_handshake,
	.on_data = cb_data,
	.on_drain = cb_drain,
	.on_close = cb_close,
};

static const tlsio_callbacks *peer_callbacks(const tu_peer *p)
{
	return p->plan.no_peer_close_cb ? &tu_callbacks_no_peer_close : &tu_callbacks;
}

void tu_peer_describe(const tu_peer *p, const char *backend, char *buf, size_t len)
{
	snprintf(buf, len,
	         "[%s] %s#%d: hs=%d %s status=%d (%s) alert=%d (%s) rx=%" PRIu64 " tx=%" PRIu64
	         " sends=%" PRIu64 " qfull=%" PRIu64 " drains=%d pauses=%d compl=%" PRIu64 "/%" PRIu64
	         " (fail %" PRIu64 ") peer_close=%d | records=%" PRIu64 " writes=%" PRIu64
	         " short=%" PRIu64 " eagain=%" PRIu64 " eintr=%" PRIu64 " peak=%" PRIu64,
	         backend, peer_name(p), p->index, p->handshakes, p->version, p->status,
	         p->status > 0 ? "open" : tlsio_strerror(p->status), p->alert,
	         p->alert >= 0 ? tlsio_alert_name(p->alert) : "none", p->rx_len, p->tx_len, p->sends,
	         p->qfull, p->drains, p->pauses, p->completions, p->reqs, p->compl_fail,
	         p->peer_closes, p->stats.records_sent, p->stats.write_calls, p->stats.short_writes,
	         p->stats.eagain, p->stats.eintr, p->stats.queued_peak);
}

void tu_expect_stream(const tu_peer *tx, const tu_peer *rx)
{
	char a[65], b[65];
	tu_hex(tx->tx_digest, 32, a);
	tu_hex(rx->rx_digest, 32, b);
	TU_CHECK(tx->closed && rx->closed, "stream check before both ends closed");
	TU_CHECK(rx->rx_len == tx->tx_len, "%s received %" PRIu64 " bytes, %s sent %" PRIu64,
	         peer_name(rx), rx->rx_len, peer_name(tx), tx->tx_len);
	TU_CHECK(memcmp(tx->tx_digest, rx->rx_digest, 32) == 0, "digest mismatch: sent %s, received %s",
	         a, b);
	TU_CHECK(rx->rx_bad_at == UINT64_MAX, "stream corrupt from byte %" PRIu64, rx->rx_bad_at);
}

/* ---------------------------------------------------------------------------------------- */
/* sides and pairs */

void tu_signal(tu_pair *p, int i)
{
	atomic_store(&p->flag[i], 1);
}

int tu_signaled(tu_pair *p, int i)
{
	return atomic_load(&p->flag[i]);
}

static void side_defaults(tu_side *s, tu_pair *pr, const char *name, int is_server)
{
	s->pair = pr;
	s->name = name;
	s->is_server = is_server;
	s->expect = 1;
}

tu_pair *tu_pair_new(const char *backend)
{
	tu_pair *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->backend = backend;
	p->timeout_ms = 60000;
	side_defaults(&p->server, p, "server", 1);
	side_defaults(&p->client, p, "client", 0);
	p->server.tls = (tlsio_tls_opts)TLSIO_TLS_OPTS_INIT;
	p->client.tls = (tlsio_tls_opts)TLSIO_TLS_OPTS_INIT;
	p->server.opts = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	p->client.opts = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	p->server.tls.cert_file = tu_cert("server.pem");
	p->server.tls.key_file = tu_cert("server.key");
	p->client.tls.ca_file = tu_cert("ca.pem");
	p->client.opts.server_name = "localhost";
	if (tu_transport == TU_TCP_PLAIN) {
		p->plain = 1;
		p->server.opts.flags |= TLSIO_CONN_PLAIN;
		p->client.opts.flags |= TLSIO_CONN_PLAIN;
	} else if (tu_transport == TU_UNIX_TLS) {
		static atomic_uint seq;
		const char *tmp = getenv("TMPDIR");
		p->unix_sock = 1;
		snprintf(p->unix_path, sizeof(p->unix_path), "%s/tlsio-test.%d.%u.sock",
		         tmp != NULL && strlen(tmp) < 60 ? tmp : "/tmp", (int)getpid(),
		         atomic_fetch_add(&seq, 1));
	}
	return p;
}

void tu_pair_free(tu_pair *p)
{
	if (p == NULL || p->stuck)
		return;
	if (p->proxy_started) {
		pthread_join(p->proxy, NULL);
		close(p->proxy_lfd);
	}
	for (int i = 0; i < TU_MAX_PEERS; i++) {
		tu_peer_release(&p->server.peers[i]);
		tu_peer_release(&p->client.peers[i]);
	}
	free(p);
}

/* The next peer slot for a new connection, or NULL (recorded as a failure). */
static tu_peer *side_new_peer(tu_side *s)
{
	tu_peer *p;
	if (s->npeers >= TU_MAX_PEERS) {
		TU_FAIL("%s: more than %d connections", s->name, TU_MAX_PEERS);
		return NULL;
	}
	p = &s->peers[s->npeers];
	tu_peer_init(p, s, s->npeers, &s->plan);
	s->npeers++;
	return p;
}

static void on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	tu_side *s = user;
	tu_peer *p = side_new_peer(s);
	(void)l;
	if (p == NULL) {
		tlsio_abort(c);
		return;
	}
	p->conn = c;
	tlsio_conn_set_user(c, p);
	tlsio_conn_set_callbacks(c, peer_callbacks(p));
}

static int side_open(tu_side *s)
{
	const tlsio_backend *b = s->be != NULL         ? s->be
	                         : s->pair->be != NULL ? s->pair->be
	                                               : tlsio_backend_by_name(s->pair->backend);
	const char *why = NULL;
	int rc;
#ifdef TLSIO_HAVE_LIBUV
	if (tu_app_loop && strcmp(tlsio_backend_name(b), "libuv") == 0) {
		s->app_loop = malloc(sizeof(uv_loop_t));
		if (s->app_loop == NULL || uv_loop_init(s->app_loop) != 0) {
			free(s->app_loop);
			s->app_loop = NULL;
			TU_FAIL("%s: uv_loop_init failed", s->name);
			return -ENOMEM;
		}
		rc = tlsio_loop_new_uv(&s->loop, s->app_loop);
		if (rc == 0 && !strstr(tlsio_loop_info(s->loop), "application loop"))
			TU_FAIL("%s: not on the application's uv loop: %s", s->name, tlsio_loop_info(s->loop));
	} else
#endif
		rc = tlsio_loop_new(&s->loop, b);
	if (rc < 0) {
		TU_FAIL("%s: tlsio_loop_new(%s): %s", s->name, s->pair->backend, tlsio_strerror(rc));
		return rc;
	}
	tu_loop_register(s->loop);
	if (s->pair->plain)
		return 0; /* no configuration: TLSIO_CONN_PLAIN */
	rc = tlsio_tls_config_new(&s->cfg, s->is_server, &s->tls, &why);
	if (rc < 0)
		TU_FAIL("%s: tlsio_tls_config_new: %s (%s)", s->name, tlsio_strerror(rc),
		        why != NULL ? why : "no reason");
	return rc;
}

static void side_shut(tu_side *s)
{
	if (s->listener != NULL)
		tlsio_listener_close(s->listener);
	s->listener = NULL;
	if (s->loop != NULL) {
		tu_loop_unregister(s->loop);
		tlsio_loop_free(s->loop); /* aborts what is left: on_close still reaches the peers */
	}
	s->loop = NULL;
#ifdef TLSIO_HAVE_LIBUV
	if (s->app_loop != NULL) {
		/* the library's close callbacks; then nothing of it may be left on the loop */
		int alive = uv_run(s->app_loop, UV_RUN_DEFAULT), rc = uv_loop_close(s->app_loop);
		TU_CHECK(alive == 0 && rc == 0, "%s: after tlsio_loop_free: uv_run %d, uv_loop_close %s",
		         s->name, alive, rc == 0 ? "0" : uv_strerror(rc));
		if (rc == 0)
			free(s->app_loop);
		s->app_loop = NULL;
	}
#endif
	if (s->cfg != NULL)
		tlsio_tls_config_free(s->cfg);
	s->cfg = NULL;
	s->t_end = tu_now_ms();
}

static int side_done(const tu_side *s)
{
	return s->npeers >= s->expect && s->nclosed >= s->npeers && s->hold <= 0;
}

/* Restart readers whose pause is over. */
static void side_resume(tu_side *s)
{
	uint64_t now = tu_now_ms();
	for (int i = 0; i < s->npeers; i++) {
		tu_peer *p = &s->peers[i];
		if (p->paused && p->conn != NULL && now >= p->resume_at) {
			p->paused = 0;
			p->restarts++;
			tlsio_read_start(p->conn);
		}
	}
}

static void side_drive(tu_side *s)
{
	while (!tu_aborted() && !side_done(s)) {
		uint64_t t0 = tu_now_us();
		int rc = 0;
#ifdef TLSIO_HAVE_LIBUV
		if (s->app_loop != NULL) {
			/* the application's run: with nothing referenced uv_run does not go round at all
			 * (what the side still waits for then comes from the peer's thread) */
			if (uv_run(s->app_loop, UV_RUN_ONCE) == 0 && !uv_loop_alive(s->app_loop))
				tu_sleep_ms(1);
		} else
#endif
			rc = tlsio_loop_run(s->loop, TLSIO_RUN_ONCE);
		s->last_run_us = tu_now_us() - t0;
		if (rc < 0) {
			TU_FAIL("%s: tlsio_loop_run: %s", s->name, tlsio_strerror(rc));
			break;
		}
		side_resume(s);
		if (s->tick != NULL)
			s->tick(s);
	}
}

/* ---- a proxy that tampers with the server->client stream (tamper_s2c_at) ---------------- */

int tu_transport = TU_TCP_TLS;
int tu_app_loop;

int tu_ipv6_loopback(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

const char *tu_transport_name(int t)
{
	return t == TU_TCP_PLAIN ? "plain" : t == TU_UNIX_TLS ? "unix" : "tls";
}

int tu_tcp_connect(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un un = {.sun_family = AF_UNIX};
		socklen_t ul;
		int ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		size_t n = strlen(addr + 5);
		if (ufd < 0 || n >= sizeof(un.sun_path)) {
			if (ufd >= 0)
				close(ufd);
			return -1;
		}
		memcpy(un.sun_path, addr + 5, n);
		if (un.sun_path[0] == '@')
			un.sun_path[0] = '\0';
		ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (un.sun_path[0] != '\0'));
		if (connect(ufd, (struct sockaddr *)&un, ul) < 0) {
			close(ufd);
			return -1;
		}
		return ufd;
	}
	const char *colon = strrchr(addr, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || colon == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Copies both ways until both are closed; one bit of server->client at tamper_s2c_at flips. */
static void *proxy_main(void *arg)
{
	tu_pair *pr = arg;
	struct pollfd pf[2];
	uint8_t buf[65536];
	uint64_t s2c = 0;
	int cfd = -1, sfd = -1, open_dirs = 2, shut[2] = {0, 0};
	struct pollfd lp = {.fd = pr->proxy_lfd, .events = POLLIN};
	uint64_t deadline = tu_now_ms() + pr->timeout_ms;
	while (cfd < 0 && !tu_aborted() && tu_now_ms() < deadline)
		if (poll(&lp, 1, 50) > 0)
			cfd = accept4(pr->proxy_lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd >= 0)
		sfd = tu_tcp_connect(pr->real_addr);
	if (sfd >= 0) {
		/* small buffers: the proxy must not soak up megabytes of what the client queued */
		int sz = 64 * 1024;
		(void)setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	TU_CHECK(cfd < 0 || sfd >= 0, "proxy: cannot connect to the server at %s", pr->real_addr);
	while (cfd >= 0 && sfd >= 0 && open_dirs > 0 && !tu_aborted() && tu_now_ms() < deadline) {
		pf[0] = (struct pollfd){.fd = cfd, .events = shut[0] ? 0 : POLLIN};
		pf[1] = (struct pollfd){.fd = sfd, .events = shut[1] ? 0 : POLLIN};
		if (poll(pf, 2, 50) <= 0)
			continue;
		for (int d = 0; d < 2; d++) {
			int from = d == 0 ? cfd : sfd, to = d == 0 ? sfd : cfd;
			ssize_t n, off = 0;
			if (shut[d] || !(pf[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = recv(from, buf, sizeof(buf), 0);
			if (n <= 0) {
				/* EOF or reset: pass it on as a FIN */
				(void)shutdown(to, SHUT_WR);
				shut[d] = 1;
				open_dirs--;
				continue;
			}
			if (d == 1 && pr->tamper_s2c_at >= s2c && pr->tamper_s2c_at < s2c + (uint64_t)n) {
				buf[pr->tamper_s2c_at - s2c] ^= 0x10;
				pr->tampered = 1;
			}
			if (d == 1)
				s2c += (uint64_t)n;
			while (off < n) {
				ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
				if (w <= 0)
					break;
				off += w;
			}
		}
	}
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return NULL;
}

/* Put the proxy between the client and the server at pr->addr; the client gets its address. */
static int proxy_start(tu_pair *pr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	snprintf(pr->real_addr, sizeof(pr->real_addr), "%s", pr->addr);
	pr->proxy_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (pr->proxy_lfd >= 0) {
		int sz = 64 * 1024; /* inherited by the accepted socket, before the SYN is answered */
		(void)setsockopt(pr->proxy_lfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	if (pr->proxy_lfd < 0 || bind(pr->proxy_lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(pr->proxy_lfd, 4) < 0 || getsockname(pr->proxy_lfd, (struct sockaddr *)&sa, &sl) < 0 ||
	    pthread_create(&pr->proxy, NULL, proxy_main, pr) != 0) {
		TU_FAIL("proxy: set-up failed: %s", strerror(errno));
		return -1;
	}
	pr->proxy_started = 1;
	snprintf(pr->addr, sizeof(pr->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	return 0;
}

static void server_thread(void *arg)
{
	tu_side *s = arg;
	tu_pair *pr = s->pair;
	tlsio_conn_opts o = s->opts;
	int rc;
	s->t_start = tu_now_ms();
	o.cb = &tu_callbacks;
	o.user = NULL;
	rc = side_open(s);
	if (rc == 0) {
		char la[80];
		const char *h = pr->listen_host != NULL ? pr->listen_host : "127.0.0.1";
		char ua[120];
		snprintf(la, sizeof(la), strchr(h, ':') != NULL ? "[%s]:0" : "%s:0", h);
		if (pr->unix_sock) {
			snprintf(ua, sizeof(ua), "unix:%s", pr->unix_path);
			rc = tlsio_listen(s->loop, ua, s->cfg, &o, on_accept, s, &s->listener);
			TU_CHECK(rc == 0, "server: tlsio_listen(%s): %s", ua, tlsio_strerror(rc));
		} else {
		rc = tlsio_listen(s->loop, la, s->cfg, &o, on_accept, s, &s->listener);
		TU_CHECK(rc == 0, "server: tlsio_listen(%s): %s", la, tlsio_strerror(rc));
		}
	}
	if (rc == 0) {
		rc = tlsio_listener_addr(s->listener, pr->addr, sizeof(pr->addr));
		TU_CHECK(rc == 0, "server: tlsio_listener_addr: %s", tlsio_strerror(rc));
		if (rc == 0 && pr->connect_host != NULL)
			snprintf(pr->addr, sizeof(pr->addr),
			         strchr(pr->connect_host, ':') != NULL ? "[%s]:%d" : "%s:%d", pr->connect_host,
			         tlsio_listener_port(s->listener));
		if (rc == 0 && pr->tamper_s2c_at > 0)
			rc = proxy_start(pr);
		TU_CHECK(rc != 0 || pr->unix_sock || tlsio_listener_port(s->listener) > 0,
		         "server: listener port %d", tlsio_listener_port(s->listener));
	}
	if (rc == 0 && s->setup != NULL)
		s->setup(s);
	atomic_store(&pr->addr_state, rc == 0 ? 1 : -1);
	if (rc == 0)
		side_drive(s);
	side_shut(s);
}

static void client_thread(void *arg)
{
	tu_side *s = arg;
	tu_pair *pr = s->pair;
	int rc;
	while (atomic_load(&pr->addr_state) == 0 && !tu_aborted())
		tu_sleep_ms(1);
	s->t_start = tu_now_ms();
	if (atomic_load(&pr->addr_state) != 1)
		return;
	rc = side_open(s);
	if (rc == 0 && s->setup != NULL)
		s->setup(s);
	for (int i = 0; rc == 0 && i < s->expect; i++) {
		tu_peer *p = side_new_peer(s);
		tlsio_conn_opts o = s->opts;
		if (p == NULL)
			break;
		o.cb = peer_callbacks(p);
		o.user = p;
		rc = tlsio_connect(s->loop, pr->addr, s->cfg, &o, &p->conn);
		if (rc < 0) {
			TU_FAIL("client: tlsio_connect(%s): %s", pr->addr, tlsio_strerror(rc));
			p->closed = 1;
			s->nclosed++;
		}
	}
	if (rc == 0)
		side_drive(s);
	side_shut(s);
}

static void pair_describe(void *arg)
{
	tu_pair *pr = arg;
	const tu_side *sides[2] = {&pr->server, &pr->client};
	char line[1024];
	for (int k = 0; k < 2; k++) {
		const tu_side *s = sides[k];
		tu_log("[%s] %s: %d connection(s), %d closed, hold=%d", pr->backend, s->name, s->npeers,
		       s->nclosed, s->hold);
		for (int i = 0; i < s->npeers; i++) {
			tu_peer_describe(&s->peers[i], pr->backend, line, sizeof(line));
			tu_log("  %s%s%s", line, s->peers[i].waiting_drain ? " (waiting for on_drain)" : "",
			       s->peers[i].paused ? " (reading paused)" : "");
		}
	}
}

/* What a side still owes: why its counters may not be moving. */
static const char *side_waiting(const tu_side *s)
{
	for (int i = 0; i < s->npeers; i++) {
		const tu_peer *p = &s->peers[i];
		if (p->closed)
			continue;
		if (p->waiting_drain)
			return "waiting for on_drain";
		if (p->paused)
			return "reading paused";
		if (tx_wanted(p) && !p->tx_done && !p->tx_failed)
			return "sending";
		return "open, nothing left to send";
	}
	return s->npeers < s->expect ? "waiting for connections" : "all closed";
}

static uint64_t pair_progress(void *arg, char *buf, size_t len)
{
	tu_pair *pr = arg;
	const tu_side *sides[2] = {&pr->server, &pr->client};
	uint64_t sum = 0, rx[2] = {0, 0}, tx[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < sides[k]->npeers; i++) {
			rx[k] += sides[k]->peers[i].rx_len;
			tx[k] += sides[k]->peers[i].tx_len;
		}
		sum += rx[k] + tx[k] + (uint64_t)sides[k]->nclosed + (uint64_t)sides[k]->npeers;
	}
	snprintf(buf, len, "server received %" PRIu64 ", sent %" PRIu64 " (%s); client received %" PRIu64
	         ", sent %" PRIu64 " (%s)", rx[0], tx[0], side_waiting(&pr->server), rx[1], tx[1],
	         side_waiting(&pr->client));
	return sum;
}

int tu_pair_run(tu_pair *p)
{
	const tu_thread_fn fns[2] = {server_thread, client_thread};
	void *const args[2] = {&p->server, &p->client};
	uint64_t t0 = tu_now_ms();
	int rc = tu_run_threads_ex(2, fns, args, p->timeout_ms, pair_describe, p, pair_progress);
	if (rc == -2) {
		p->stuck = 1;
		return rc;
	}
	if (p->quiet)
		return rc;
	tu_log("[%s] pair finished in %" PRIu64 " ms (server %" PRIu64 " ms, client %" PRIu64 " ms)",
	       p->backend, tu_now_ms() - t0, p->server.t_end - p->server.t_start,
	       p->client.t_end - p->client.t_start);
	pair_describe(p);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* backends */

size_t tu_pick_backends(const char *prog, const tlsio_backend **out, size_t max)
{
	const char *env = getenv("TLSIO_BACKENDS");
	char *list, *save = NULL;
	size_t n = 0;
	if (env == NULL || *env == '\0')
		env = getenv("TLSIO_BACKEND");
	if (env == NULL || *env == '\0') {
		n = tlsio_backends(out, max);
		return n < max ? n : max;
	}
	list = strdup(env);
	if (list == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	for (char *tok = strtok_r(list, ", ", &save); tok != NULL && n < max;
	     tok = strtok_r(NULL, ", ", &save)) {
		const tlsio_backend *b = tlsio_backend_by_name(tok);
		if (b == NULL) {
			fprintf(stderr, "%s: backend \"%s\" is not compiled in (have: %s)\n", prog, tok,
			        tlsio_backend_names());
			exit(1);
		}
		out[n++] = b;
	}
	free(list);
	if (n == 0) {
		fprintf(stderr, "%s: no backend named in \"%s\"\n", prog, env);
		exit(1);
	}
	return n;
}
