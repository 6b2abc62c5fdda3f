/* SPDX-License-Identifier: MIT */
/* The contract suite (C1-C4, C6, C8 of DESIGN.md), run once per backend as Check suite
 * "contract/<backend>". Each test runs a server loop and a client loop in two threads over TCP
 * on 127.0.0.1 (port 0), through the public API; the fault test also uses the syscall shim.
 *
 * Backends: $TLSIO_BACKENDS (comma list), else $TLSIO_BACKEND, else all compiled in. A requested
 * backend that is not compiled in is an error; one whose probe fails is skipped (exit 77 when
 * nothing else ran). $TLSIO_TEST_SEED replaces the fixed seeds. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys.h"
#include "testutil.h"
#include "tlsio.h"

#define BULK_WATCHDOG_MS 180000u
#define SMALL_WATCHDOG_MS 30000u

/* The backend under test. Suites run one after the other (one srunner each), and Check forks
 * each test from the process that set it. */
static const char *g_backend;
static uint64_t g_t0;

Suite *contract_suite(const char *backend);
void contract_loop_cases(Suite *s, const char *backend, int app_ev);
void contract_connect_cases(Suite *s, const char *backend, int transport);
void contract_deploy_cases(Suite *s, const char *backend, int transport);
int contract_connect_init(void);

#define ASSERT_NO_FAILURE() ck_assert_msg(tu_failed() == 0, "%s", tu_failure())
#define SRV(p) (&(p)->server.peers[0])
#define CLI(p) (&(p)->client.peers[0])
#define BEGIN() tu_log("[%s] --- %s", g_backend, __func__)

/* The fault shim covers the backends that go through api/sys.c (backends/sockio.c). */
static int shim_backend(void)
{
	return strcmp(g_backend, "epoll") == 0 || strcmp(g_backend, "blocking") == 0 ||
	       strcmp(g_backend, "libev") == 0 || strcmp(g_backend, "libuv") == 0;
}

static void fx_setup(void)
{
	tu_reset_failures();
	g_t0 = tu_now_ms();
}

static void fx_teardown(void)
{
	tlsio__fault_set(NULL);
	tu_log("[%s] --- passed in %" PRIu64 " ms", g_backend, tu_now_ms() - g_t0);
}

static tu_pair *pair_new(unsigned watchdog_ms)
{
	tu_pair *p = tu_pair_new(g_backend);
	ck_assert_ptr_nonnull(p);
	p->timeout_ms = watchdog_ms;
	if (watchdog_ms >= BULK_WATCHDOG_MS) {
		/* a close after tens of MiB to a slow reader must not hit the 5 s default linger */
		p->client.opts.linger_ms = watchdog_ms;
		p->server.opts.linger_ms = watchdog_ms;
	}
	return p;
}

/* Run the pair; the threads' failures and the watchdog become this test's failure. */
static void pair_run(tu_pair *p)
{
	int rc = tu_pair_run(p);
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(rc, 0);
}

/* tx sends the stream @p seed (@p total bytes in chunks of [min, max]); rx checks it. */
static void plan_stream(tu_plan *tx, tu_plan *rx, uint64_t seed, uint64_t total, size_t min,
                        size_t max, int mode)
{
	tx->tx_total = total;
	tx->tx_seed = seed;
	tx->tx_min = min;
	tx->tx_max = max;
	tx->tx_mode = mode;
	rx->rx_seed = seed;
}

/* Everything tx sent arrived intact at rx, and both ends closed cleanly. */
static void assert_clean_stream(const tu_peer *tx, const tu_peer *rx)
{
	tu_expect_stream(tx, rx);
	ASSERT_NO_FAILURE();
	ck_assert_msg(tx->status == 0, "sender ended with %d (%s)", tx->status, tlsio_strerror(tx->status));
	ck_assert_msg(rx->status == 0, "receiver ended with %d (%s)", rx->status, tlsio_strerror(rx->status));
	ck_assert_msg(tx->stats.app_bytes_queued == tx->tx_len, "app_bytes_queued %" PRIu64 " != %" PRIu64,
	              tx->stats.app_bytes_queued, tx->tx_len);
	ck_assert_msg(tx->stats.app_bytes_sent == tx->tx_len, "app_bytes_sent %" PRIu64 " != %" PRIu64,
	              tx->stats.app_bytes_sent, tx->tx_len);
	ck_assert_msg(rx->stats.app_bytes_received == rx->rx_len,
	              "app_bytes_received %" PRIu64 " != %" PRIu64, rx->stats.app_bytes_received, rx->rx_len);
}

/* Every request's completion fired once, in order, with status 0. */
static void assert_completions_ok(const tu_peer *p)
{
	ck_assert_msg(p->completions == p->reqs && p->compl_ok == p->reqs && p->compl_fail == 0,
	              "completions: %" PRIu64 " fired, %" PRIu64 " ok, %" PRIu64 " failed (first %d) of %" PRIu64,
	              p->completions, p->compl_ok, p->compl_fail, p->compl_first_err, p->reqs);
}

/* ---------------------------------------------------------------------------------------- */
/* C1 order */

START_TEST(test_bulk_client_to_server)
{
	uint64_t seed = tu_seed(0xC1A0001);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	tu_log("seed %#" PRIx64, seed);
	plan_stream(&p->client.plan, &p->server.plan, seed, 64 * TU_MIB, 1, TU_MIB, TU_TX_MIXED);
	p->client.opts.sndbuf = 4096;
	p->client.opts.high_water = 4 * TU_MIB;
	p->server.opts.rcvbuf = 4096;
	p->server.plan.rx_sleep_every = 64 * TU_KIB;
	p->server.plan.rx_pause_every = 8 * TU_MIB;
	/* longer than the blocking backend's send timeout, so that its partial writes happen */
	p->server.plan.rx_long_pause_ms = 1500;
	pair_run(p);
	assert_clean_stream(c, s);
	assert_completions_ok(c);
	ck_assert_msg(c->reqs > 0 && c->reqs < c->sends, "send mix: %" PRIu64 " with completion of %" PRIu64,
	              c->reqs, c->sends);
	ck_assert_msg(c->qfull >= 1, "high water (4 MiB) never refused a send");
	ck_assert_msg(c->drains >= 1, "on_drain never fired");
	ck_assert_msg(s->pauses >= 3 && s->restarts >= 3, "reader paused %d, restarted %d times",
	              s->pauses, s->restarts);
	tu_log("[%s] client short_writes=%" PRIu64 " eagain=%" PRIu64 " eintr=%" PRIu64 " writes=%" PRIu64,
	       g_backend, c->stats.short_writes, c->stats.eagain, c->stats.eintr, c->stats.write_calls);
	if (shim_backend())
		ck_assert_msg(c->stats.short_writes + c->stats.eagain > 0,
		              "no short write and no EAGAIN counted with a 4 KiB send buffer");
	tu_pair_free(p);
}
END_TEST

START_TEST(test_bulk_server_to_client_single_send)
{
	uint64_t seed = tu_seed(0xC1A0002);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	BEGIN();
	plan_stream(&p->server.plan, &p->client.plan, seed, 72 * TU_MIB, 72 * TU_MIB, 72 * TU_MIB,
	            TU_TX_COPY);
	p->client.opts.rcvbuf = 4096;
	p->client.plan.rx_sleep_every = 64 * TU_KIB;
	pair_run(p);
	assert_clean_stream(SRV(p), CLI(p));
	ck_assert_int_eq(SRV(p)->sends, 1);
	tu_pair_free(p);
}
END_TEST

START_TEST(test_many_small_sends)
{
	uint64_t seed = tu_seed(0xC1A0003);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 0, 1, 100, TU_TX_COPY);
	p->client.plan.tx_count = 100000;
	pair_run(p);
	assert_clean_stream(c, SRV(p));
	ck_assert_int_eq(c->sends, 100000);
	ck_assert_int_eq(c->qfull, 0);
	tu_log("[%s] %" PRIu64 " sends, %" PRIu64 " bytes -> %" PRIu64 " records, %" PRIu64 " writes",
	       g_backend, c->sends, c->tx_len, c->stats.records_sent, c->stats.write_calls);
	ck_assert_msg(c->stats.records_sent < 2000, "%" PRIu64 " records for %" PRIu64
	              " sends made in one loop turn: small sends are not coalesced",
	              c->stats.records_sent, c->sends);
	tu_pair_free(p);
}
END_TEST

START_TEST(test_fault_storm)
{
	uint64_t seed = tu_seed(0xC1A0004);
	tlsio_fault_cfg fc = {.seed = seed ^ 0xFA17, .short_permille = 300, .eagain_permille = 100,
	                      .eintr_permille = 100, .reset_permille = 0};
	tlsio_fault_stats fs;
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	int rc;
	BEGIN();
	tu_log("stream seed %#" PRIx64 ", fault shim seed %#" PRIx64, seed, fc.seed);
	plan_stream(&p->client.plan, &p->server.plan, seed, 8 * TU_MIB, 1, 256 * TU_KIB, TU_TX_MIXED);
	tlsio__fault_set(&fc);
	rc = tu_pair_run(p);
	tlsio__fault_stats(&fs);
	tlsio__fault_set(NULL); /* before any assertion */
	tu_log("[%s] shim: calls=%" PRIu64 " shortened=%" PRIu64 " eagain=%" PRIu64 " eintr=%" PRIu64,
	       g_backend, fs.calls, fs.shortened, fs.eagain, fs.eintr);
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(rc, 0);
	assert_clean_stream(c, s);
	assert_completions_ok(c);
	if (shim_backend()) {
		ck_assert_msg(fs.shortened > 0 && fs.eagain > 0 && fs.eintr > 0,
		              "the shim injected nothing: the backend bypasses api/sys.c");
		ck_assert_msg(c->stats.eintr + s->stats.eintr > 0, "injected EINTRs not counted in stats");
	}
	tu_pair_free(p);
}
END_TEST

/* io_uring: chains that break in their middle, as the kernel breaks them (a send that fails or
 * comes back short cancels the linked sends behind it). The stream must stay intact, every
 * break must show as -ECANCELED tails, and no byte may be sent after a gap (a link flag that
 * goes on after a failure, IOSQE_IO_HARDLINK, would). */
START_TEST(test_uring_midchain_faults)
{
	uint64_t seed = tu_seed(0xC1A0005);
	tlsio_fault_cfg fc = {.seed = seed ^ 0x3D1D, .midchain_permille = 250};
	tlsio_fault_stats fs;
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	int rc;
	BEGIN();
	/* big sends: the ciphertext queue holds many segments, so chains are long */
	plan_stream(&p->client.plan, &p->server.plan, seed, 16 * TU_MIB, 256 * TU_KIB, 2 * TU_MIB,
	            TU_TX_MIXED);
	p->client.opts.sndbuf = 64 * 1024;
	p->server.plan.rx_sleep_every = 512 * TU_KIB;
	tlsio__fault_set(&fc);
	rc = tu_pair_run(p);
	tlsio__fault_stats(&fs);
	tlsio__fault_set(NULL);
	tu_log("[%s] mid-chain: %" PRIu64 " failed, %" PRIu64 " short; chains saw %" PRIu64
	       " cancelled sends, %" PRIu64 " violations", g_backend, fs.midchain_failed,
	       fs.midchain_short, fs.chain_cancels, fs.chain_violations);
	ASSERT_NO_FAILURE();
	ck_assert_int_eq(rc, 0);
	assert_clean_stream(c, s);
	assert_completions_ok(c);
	ck_assert_msg(fs.midchain_failed > 0 && fs.midchain_short > 0,
	              "no chain was broken in its middle (%" PRIu64 " failed, %" PRIu64 " short): "
	              "the chains were never longer than one send, or the kernel lacks "
	              "IORING_NOP_INJECT_RESULT", fs.midchain_failed, fs.midchain_short);
	ck_assert_msg(fs.chain_cancels >= fs.midchain_failed + fs.midchain_short,
	              "%" PRIu64 " breaks but only %" PRIu64 " -ECANCELED tails",
	              fs.midchain_failed + fs.midchain_short, fs.chain_cancels);
	ck_assert_msg(fs.chain_violations == 0, "%" PRIu64 " sends went on after a gap",
	              fs.chain_violations);
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C2 completions on failure */

static void signal_tx_done(tu_peer *p)
{
	tu_signal(p->side->pair, 0);
}

/* Server: abort 300 ms after the client said that everything is queued. */
static void abort_later_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	if (s->npeers == 0 || p->conn == NULL || p->mark || !tu_signaled(s->pair, 0))
		return;
	if (p->t0 == 0)
		p->t0 = tu_now_ms() + 300;
	else if (tu_now_ms() >= p->t0) {
		p->mark = 1;
		p->value = tlsio_conn_queued(p->conn);
		tlsio_abort(p->conn);
	}
}

START_TEST(test_completions_on_failure)
{
	uint64_t seed = tu_seed(0xC2A0001);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 32 * TU_MIB, 4 * TU_MIB, 4 * TU_MIB,
	            TU_TX_REF);
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->client.plan.on_tx_done = signal_tx_done;
	p->client.opts.sndbuf = 4096;
	p->client.opts.high_water = 64 * TU_MIB;
	p->server.opts.rcvbuf = 4096;
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.tick = abort_later_tick;
	pair_run(p);
	tu_log("[%s] client: %" PRIu64 " ok, %" PRIu64 " failed (first %s), on_close %d (%s)", g_backend,
	       c->compl_ok, c->compl_fail, tlsio_strerror(c->compl_first_err), c->status,
	       tlsio_strerror(c->status));
	ck_assert_int_eq(c->reqs, 8);
	ck_assert_msg(c->completions == 8 && c->compl_ok + c->compl_fail == 8,
	              "%" PRIu64 " of 8 completions fired", c->completions);
	ck_assert_msg(c->compl_fail >= 1, "32 MiB cannot have reached a peer that never read, yet "
	              "all completions reported success");
	ck_assert_msg(c->closes == 1 && c->status < 0, "client on_close: %d times, status %d", c->closes,
	              c->status);
	ck_assert_msg(s->mark == 1, "the server never aborted");
	ck_assert_msg(s->status == TLSIO_E_ABORTED, "server on_close status %d (%s), expected "
	              "TLSIO_E_ABORTED", s->status, tlsio_strerror(s->status));
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C4 backpressure */

static void note_queue_full(tu_peer *p)
{
	if (p->qfull == 1) {
		p->value = tlsio_conn_queued(p->conn);
		tu_signal(p->side->pair, 0);
	}
}

/* The first connection of @p s, which stopped reading in on_handshake, reads again once flag
 * @p flag of the pair is set (once). */
static void read_start_when_signaled(tu_side *s, int flag)
{
	tu_peer *p = &s->peers[0];
	if (s->npeers == 0 || p->conn == NULL || p->mark || p->handshakes == 0 ||
	    !tu_signaled(s->pair, flag))
		return;
	p->mark = 1;
	tlsio_read_start(p->conn);
}

/* Server: start reading once the client's first send was refused. The client may fill its
 * queue before the server has seen its Finished: wait for on_handshake (which stops reading). */
static void read_when_signaled_tick(tu_side *s)
{
	read_start_when_signaled(s, 0);
}

START_TEST(test_backpressure)
{
	uint64_t seed = tu_seed(0xC4A0001);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 8 * TU_MIB, TU_KIB, 128 * TU_KIB,
	            TU_TX_MIXED);
	p->client.opts.high_water = TU_MIB;
	p->client.opts.low_water = 256 * TU_KIB;
	p->client.plan.on_queue_full = note_queue_full;
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.tick = read_when_signaled_tick;
	pair_run(p);
	assert_clean_stream(c, SRV(p));
	assert_completions_ok(c);
	ck_assert_msg(c->qfull >= 1, "no send was refused with a 1 MiB high water and a peer not reading");
	ck_assert_msg(c->value >= TU_MIB, "first refusal with %" PRIu64 " queued < high water", c->value);
	ck_assert_msg(c->drains >= 1, "on_drain never fired");
	ck_assert_msg(c->drain_queued_max <= 256 * TU_KIB, "on_drain with %zu queued > low water",
	              c->drain_queued_max);
	ck_assert_msg(c->stats.queued_peak >= TU_MIB, "queued_peak %" PRIu64, c->stats.queued_peak);
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C8 a peer that stops reading */

static void note_closed(tu_peer *p)
{
	tu_signal(p->side->pair, 1);
}

/* Client: read again once the server has ended the connection. */
static void read_after_server_closed_tick(tu_side *s)
{
	read_start_when_signaled(s, 1);
}

/* The server's idle timeout ends a connection whose peer stopped reading with megabytes still
 * unacknowledged in the kernel: the socket is reset, so the client sees ECONNRESET, where a
 * FIN would have left an orphan socket on the server retransmitting for minutes while the
 * client read the rest of the send buffer and then EOF. */
START_TEST(test_timeout_resets_non_reader)
{
	uint64_t seed = tu_seed(0xC8B0001);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->server.plan, &p->client.plan, seed, 16 * TU_MIB, 64 * TU_KIB, 256 * TU_KIB,
	            TU_TX_COPY);
	p->server.opts.idle_timeout_ms = 300;
	p->server.plan.on_close = note_closed;
	p->client.opts.rcvbuf = 4096;
	p->client.plan.rx_stop_on_handshake = 1;
	p->client.tick = read_after_server_closed_tick;
	pair_run(p);
	tu_log("[%s] server: %d (%s) after %" PRIu64 " bytes in the kernel; client: %d (%s) after %"
	       PRIu64 " bytes", g_backend, s->status, tlsio_strerror(s->status),
	       s->stats.tls_bytes_sent, c->status, tlsio_strerror(c->status), c->rx_len);
	ck_assert_msg(s->status == TLSIO_E_IDLE_TIMEOUT, "server ended with %d (%s)", s->status,
	              tlsio_strerror(s->status));
	ck_assert_msg(c->rx_bad_at == UINT64_MAX, "client: stream corrupt at %" PRIu64, c->rx_bad_at);
	ck_assert_msg(c->rx_len < 16 * TU_MIB, "client got all %" PRIu64 " bytes", c->rx_len);
	ck_assert_msg(c->status == -ECONNRESET, "client ended with %d (%s), expected a reset",
	              c->status, tlsio_strerror(c->status));
	tu_pair_free(p);
}
END_TEST

/* Server: a callback slower than the idle timeout, right after queueing the whole stream. */
static void slow_on_handshake(tu_peer *p)
{
	(void)p;
	tu_sleep_ms(400);
}

/* The idle timeout measures the connection, not the application: data queued by a callback
 * that ran longer than the timeout is sent, not cut off by a timeout checked before it could
 * leave. */
START_TEST(test_idle_timeout_after_slow_callback)
{
	uint64_t seed = tu_seed(0xC8B0002);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	BEGIN();
	plan_stream(&p->server.plan, &p->client.plan, seed, TU_MIB, 16 * TU_KIB, 64 * TU_KIB,
	            TU_TX_COPY);
	p->server.opts.idle_timeout_ms = 200;
	p->server.plan.on_handshake = slow_on_handshake;
	pair_run(p);
	assert_clean_stream(SRV(p), CLI(p));
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C6 close */

START_TEST(test_graceful_close_with_queued_data)
{
	uint64_t seed = tu_seed(0xC6A0001);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 16 * TU_MIB, 64 * TU_KIB, TU_MIB,
	            TU_TX_COPY);
	p->server.plan.no_peer_close_cb = 1; /* the library answers close_notify by itself */
	pair_run(p);
	/* all 16 MiB were queued in the on_handshake call that then closed: nothing had been sent */
	ck_assert_int_eq(c->qfull, 0);
	assert_clean_stream(c, s);
	ck_assert_int_eq(s->peer_closes, 0);
	tu_pair_free(p);
}
END_TEST

static void signal_first_data(tu_peer *p, const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
	tu_signal(p->side->pair, 0);
}

/* Client: once the server has its data, cut the TCP connection under the library. */
static void cut_socket_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	if (p->conn == NULL || p->mark || !tu_signaled(s->pair, 0))
		return;
	p->mark = 1;
	TU_CHECK(shutdown(tlsio_conn_fd(p->conn), SHUT_RDWR) == 0, "shutdown: %s", strerror(errno));
}

START_TEST(test_truncation)
{
	uint64_t seed = tu_seed(0xC6A0002);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 5, 5, 5, TU_TX_COPY);
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->client.tick = cut_socket_tick;
	p->server.plan.on_data = signal_first_data;
	pair_run(p);
	ck_assert_int_eq(s->rx_len, 5);
	ck_assert_msg(c->mark == 1, "the client never cut the socket");
	ck_assert_msg(s->status == TLSIO_E_TRUNCATED, "server: EOF without close_notify gave %d (%s), "
	              "expected TLSIO_E_TRUNCATED", s->status, tlsio_strerror(s->status));
	ck_assert_msg(c->status < 0, "client ended with %d after its socket was shut down", c->status);
	tu_pair_free(p);
}
END_TEST

static void shutdown_then_send(tu_peer *p)
{
	int rc = tlsio_shutdown(p->conn);
	TU_CHECK(rc == 0, "tlsio_shutdown: %s", tlsio_strerror(rc));
	rc = tlsio_send(p->conn, "x", 1);
	TU_CHECK(rc == TLSIO_E_CLOSED, "tlsio_send after tlsio_shutdown returned %d (%s), expected "
	         "TLSIO_E_CLOSED", rc, tlsio_strerror(rc));
}

START_TEST(test_half_close)
{
	uint64_t seed = tu_seed(0xC6A0003);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	/* the server half-closes at once; the client answers with 1 MiB, then closes */
	p->server.plan.on_handshake = shutdown_then_send;
	plan_stream(&p->client.plan, &p->server.plan, seed, TU_MIB, TU_KIB, 256 * TU_KIB, TU_TX_COPY);
	p->client.plan.tx_start = TU_START_PEER_CLOSE;
	pair_run(p);
	ck_assert_msg(c->peer_closes == 1, "client: on_peer_close fired %d times", c->peer_closes);
	ck_assert_int_eq(c->tx_len, TU_MIB);
	assert_clean_stream(c, s);
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C3 never block (event backends) */

static int peer_closed(void *arg)
{
	return ((const tu_peer *)arg)->closed;
}

/* A listener with backlog 0 whose queue is full: SYNs to it are dropped, a connect hangs. */
static int full_listener(int fds[3], char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fds[0], 0) < 0 ||
	    getsockname(fds[0], (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	for (int i = 1; i < 3; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			return -errno;
		(void)connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	tu_sleep_ms(50);
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return 0;
}

/* tlsio_connect to a peer that does not answer returns at once; the loop turns stay short. */
static void check_connect_does_not_block(void)
{
	int fds[3] = {-1, -1, -1}, rc;
	char addr[64];
	tlsio_loop *loop = NULL;
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts to = {.struct_size = sizeof(tlsio_tls_opts), .ca_file = tu_cert("ca.pem")};
	tlsio_conn_opts o = {.struct_size = sizeof(tlsio_conn_opts), .cb = &tu_callbacks, .server_name = "localhost"};
	tlsio_conn *c = NULL;
	tu_peer peer;
	uint64_t t0, dt, turn_max = 0, end;

	ck_assert_int_eq(full_listener(fds, addr, sizeof(addr)), 0);
	ck_assert_int_eq(tlsio_loop_new(&loop, tlsio_backend_by_name(g_backend)), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 0, &to, NULL), 0);
	tu_peer_init(&peer, NULL, 0, NULL);
	o.user = &peer;
	t0 = tu_now_us();
	rc = tlsio_connect(loop, addr, cfg, &o, &c);
	dt = tu_now_us() - t0;
	tu_log("[%s] tlsio_connect to a listener that does not accept: %" PRIu64 " us", g_backend, dt);
	ck_assert_msg(rc == 0, "tlsio_connect: %s", tlsio_strerror(rc));
	peer.conn = c;
	ck_assert_msg(dt < 200000, "tlsio_connect took %" PRIu64 " ms", dt / 1000);
	for (end = tu_now_ms() + 300; tu_now_ms() < end;) {
		t0 = tu_now_us();
		rc = tlsio_loop_run(loop, TLSIO_RUN_NOWAIT);
		dt = tu_now_us() - t0;
		turn_max = dt > turn_max ? dt : turn_max;
		ck_assert_int_eq(rc, 0);
		tu_sleep_ms(1);
	}
	ck_assert_msg(turn_max < 200000, "a NOWAIT loop turn took %" PRIu64 " ms", turn_max / 1000);
	ck_assert_int_eq(peer.handshakes, 0);
	tlsio_abort(c);
	ck_assert_msg(tu_loop_run_until(loop, peer_closed, &peer, 2000), "no on_close after tlsio_abort");
	ck_assert_msg(peer.status == TLSIO_E_ABORTED, "on_close after tlsio_abort: %d (%s)", peer.status,
	              tlsio_strerror(peer.status));
	tlsio_loop_free(loop);
	tlsio_tls_config_free(cfg);
	tu_peer_release(&peer);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void note_handshake_time(tu_peer *p)
{
	p->t0 = tu_now_ms();
}

#define HOLD_READ_MS 2000
#define HOLD_LATEST_MS 8000

/* Client: everything is queued (tlsio_send returned). */
static void note_tx_done(tu_peer *p)
{
	tu_signal(p->side->pair, 2);
}

/* Server: read nothing for HOLD_READ_MS after the client queued its data (its pattern and
 * digest of 64 MiB take seconds under the sanitizers: counting from the handshake, the hold
 * could end before the client's send; it counts from HOLD_LATEST_MS after the handshake at
 * the latest, so that a send that blocked still fails the limits below), then read. */
static void read_later_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	if (s->npeers == 0 || p->conn == NULL || p->mark || p->handshakes == 0)
		return;
	if (p->aux == 0 && (tu_signaled(s->pair, 2) || tu_now_ms() >= p->t0 + HOLD_LATEST_MS))
		p->aux = tu_now_ms();
	if (p->aux == 0 || tu_now_ms() < p->aux + HOLD_READ_MS)
		return;
	p->mark = 1;
	tu_signal(s->pair, 1);
	tlsio_read_start(p->conn);
}

/* Client: the longest loop turn while the server was not reading, from the turn after the one
 * that queued the 64 MiB (that turn also runs the harness's pattern and SHA-256 of 64 MiB;
 * tlsio_send's own share of it is send_us_max). */
static void note_turns_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	if (tu_signaled(s->pair, 1) || !p->tx_done)
		return;
	if (!p->mark)
		p->mark = 1; /* the turn that queued the data */
	else if (s->last_run_us > p->value)
		p->value = s->last_run_us;
}

/* What copying 64 MiB into fresh memory costs here and now (median of three): tlsio_send()
 * copies, and that cost depends on the machine, its load and the sanitizers, not on the
 * library. */
static uint64_t copy_64mib_us(void)
{
	uint64_t t[3];
	uint8_t *src = malloc(64 * TU_MIB);
	ck_assert_ptr_nonnull(src);
	memset(src, 0x5A, 64 * TU_MIB);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = tu_now_us();
		uint8_t *dst = malloc(64 * TU_MIB);
		ck_assert_ptr_nonnull(dst);
		memcpy(dst, src, 64 * TU_MIB);
		__asm__ volatile("" : : "r"(dst) : "memory"); /* the copy is used: keep it */
		t[i] = tu_now_us() - t0;
		free(dst);
	}
	free(src);
	for (int i = 1; i < 3; i++)
		for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
			uint64_t x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	return t[1];
}

START_TEST(test_never_block)
{
	uint64_t seed = tu_seed(0xC3A0001);
	uint64_t copy_us, limit_us;
	tu_pair *p;
	const tu_peer *c;
	BEGIN();
	check_connect_does_not_block();
	/* A send that waited for the peer would take HOLD_READ_MS; one that encrypted all 64 MiB
	 * at once (not lazily) would cost the cipher's time on top of the copy. The limit is a
	 * few copies of 64 MiB as measured now, with a floor for timer noise: on a quiet machine
	 * that is stricter than a fixed 200 ms, and it follows the copy under load and under ASan. */
	copy_us = copy_64mib_us();
	limit_us = 6 * copy_us > 100000 ? 6 * copy_us : 100000;
	tu_log("[%s] malloc + memcpy of 64 MiB here: %" PRIu64 " us; tlsio_send limit %" PRIu64 " us",
	       g_backend, copy_us, limit_us);
	p = pair_new(BULK_WATCHDOG_MS);
	c = CLI(p);
	plan_stream(&p->client.plan, &p->server.plan, seed, 64 * TU_MIB, 64 * TU_MIB, 64 * TU_MIB,
	            TU_TX_COPY);
	p->client.tick = note_turns_tick;
	p->client.plan.on_tx_done = note_tx_done;
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.plan.on_handshake = note_handshake_time;
	p->server.tick = read_later_tick;
	pair_run(p);
	tu_log("[%s] tlsio_send(64 MiB): %" PRIu64 " us; longest client loop turn while the peer did not "
	       "read: %" PRIu64 " us", g_backend, c->send_us_max, c->value);
	ck_assert_msg(c->send_us_max < limit_us && c->send_us_max < HOLD_READ_MS * 1000 / 2,
	              "tlsio_send of 64 MiB took %" PRIu64 " ms (a plain copy: %" PRIu64 " ms)",
	              c->send_us_max / 1000, copy_us / 1000);
	ck_assert_msg(c->mark == 1, "the client never queued its data while the server was not reading");
	ck_assert_msg(c->value < HOLD_READ_MS * 1000 / 2, "a loop turn took %" PRIu64 " ms while the peer "
	              "did not read: the backend blocked on a write", c->value / 1000);
	assert_clean_stream(c, SRV(p));
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* handshake and verification */

enum { HS_GOOD, HS_WRONG_CA, HS_12_VS_13, HS_13_VS_12, HS_VARIANTS };

static void hs_setup(tu_pair *p, int variant)
{
	switch (variant) {
	case HS_WRONG_CA:
		p->client.tls.ca_file = tu_cert("other-ca.pem");
		break;
	case HS_12_VS_13:
		p->client.tls.min_version = p->client.tls.max_version = TLSIO_TLS_1_2;
		p->server.tls.min_version = p->server.tls.max_version = TLSIO_TLS_1_3;
		break;
	case HS_13_VS_12:
		p->client.tls.min_version = p->client.tls.max_version = TLSIO_TLS_1_3;
		p->server.tls.min_version = p->server.tls.max_version = TLSIO_TLS_1_2;
		break;
	default:
		break;
	}
}

START_TEST(test_handshake_verify)
{
	static const char *const names[HS_VARIANTS] = {"ca.pem + localhost", "other-ca.pem",
	                                               "client 1.2 only vs server 1.3 only",
	                                               "client 1.3 only vs server 1.2 only"};
	uint64_t seed = tu_seed(0x10A0001);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	tu_log("[%s] variant: %s", g_backend, names[_i]);
	plan_stream(&p->client.plan, &p->server.plan, seed, TU_KIB, TU_KIB, TU_KIB, TU_TX_COPY);
	hs_setup(p, _i);
	pair_run(p);
	tu_log("[%s] client %d (%s) alert %d (%s); server %d (%s) alert %d (%s)", g_backend, c->status,
	       tlsio_strerror(c->status), c->alert, tlsio_alert_name(c->alert), s->status,
	       tlsio_strerror(s->status), s->alert, tlsio_alert_name(s->alert));
	if (_i == HS_GOOD) {
		assert_clean_stream(c, s);
		ck_assert_msg(c->handshakes == 1 && s->handshakes == 1, "handshakes %d/%d", c->handshakes,
		              s->handshakes);
		ck_assert_msg(c->version[0] != '\0', "no TLS version after the handshake");
		ck_assert_str_eq(s->sni, "localhost");
		tu_pair_free(p);
		return;
	}
	ck_assert_msg(c->handshakes == 0, "client: on_handshake fired although the handshake must fail");
	ck_assert_msg(c->status < 0 && s->status < 0, "statuses: client %d, server %d", c->status, s->status);
	ck_assert_int_eq(c->rx_len + s->rx_len, 0);
	if (_i == HS_WRONG_CA) {
		ck_assert_msg(c->status == TLSIO_E_CERT_VERIFY || c->status == TLSIO_E_TLS,
		              "client status %d (%s), expected TLSIO_E_CERT_VERIFY or TLSIO_E_TLS", c->status,
		              tlsio_strerror(c->status));
		ck_assert_msg(c->alert == TLSIO_ALERT_BAD_CERTIFICATE || c->alert == TLSIO_ALERT_UNKNOWN_CA,
		              "client alert %d (%s), expected bad_certificate or unknown_ca", c->alert,
		              tlsio_alert_name(c->alert));
		ck_assert_msg(s->handshakes == 0, "server: on_handshake although the client rejected it");
	}
	tu_pair_free(p);
}
END_TEST



/* ---------------------------------------------------------------------------------------- */
/* The boundaries and the resources: what a correct stream does not show by itself */

struct wm {
	tlsio_conn *srv, *cli;
	int srv_hs, cli_hs, drains, closed;
	size_t drain_queued;
	uint64_t received;
	int srv_status, cli_status;
};

static void wm_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct wm *w = user;
	(void)l;
	w->srv = c;
	tlsio_conn_set_user(c, w);
}

static void wm_srv_handshake(tlsio_conn *c, void *user)
{
	(void)c;
	((struct wm *)user)->srv_hs = 1;
}

static void wm_cli_handshake(tlsio_conn *c, void *user)
{
	(void)c;
	((struct wm *)user)->cli_hs = 1;
}

static void wm_data(tlsio_conn *c, const uint8_t *d, size_t n, void *user)
{
	(void)c;
	(void)d;
	((struct wm *)user)->received += n;
}

static void wm_drain(tlsio_conn *c, void *user)
{
	struct wm *w = user;
	w->drains++;
	w->drain_queued = tlsio_conn_queued(c);
}

static void wm_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct wm *w = user;
	(void)alert;
	if (c == w->srv) {
		w->srv_status = status;
		w->srv = NULL;
	} else {
		w->cli_status = status;
		w->cli = NULL;
	}
	w->closed++;
}

static int wm_pred_handshakes(void *arg)
{
	struct wm *w = arg;
	return w->srv_hs && w->cli_hs;
}

static int wm_pred_drained(void *arg)
{
	struct wm *w = arg;
	return w->drains > 0;
}

static int wm_pred_closed(void *arg)
{
	return ((struct wm *)arg)->closed == 2;
}

/* A server and a client on one loop of the backend under test, driven by the test itself. */
static void wm_open(struct wm *w, tlsio_loop **loop, tlsio_tls_config **scfg, tlsio_tls_config **ccfg,
                    tlsio_listener **l, const tlsio_conn_opts *srv_extra, size_t high, size_t low)
{
	static const tlsio_callbacks srv_cb = {.struct_size = sizeof(tlsio_callbacks),
	                                       .on_handshake = wm_srv_handshake, .on_data = wm_data,
	                                       .on_close = wm_close};
	static const tlsio_callbacks cli_cb = {.struct_size = sizeof(tlsio_callbacks),
	                                       .on_handshake = wm_cli_handshake, .on_drain = wm_drain,
	                                       .on_close = wm_close};
	tlsio_tls_opts so = TLSIO_TLS_OPTS_INIT, co = TLSIO_TLS_OPTS_INIT;
	tlsio_conn_opts sopt = srv_extra != NULL ? *srv_extra : (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	tlsio_conn_opts copt = TLSIO_CONN_OPTS_INIT;
	char addr[64];
	memset(w, 0, sizeof(*w));
	so.cert_file = tu_cert("server.pem");
	so.key_file = tu_cert("server.key");
	co.ca_file = tu_cert("ca.pem");
	ck_assert_int_eq(tlsio_loop_new(loop, tlsio_backend_by_name(g_backend)), 0);
	ck_assert_int_eq(tlsio_tls_config_new(scfg, 1, &so, NULL), 0);
	ck_assert_int_eq(tlsio_tls_config_new(ccfg, 0, &co, NULL), 0);
	sopt.cb = &srv_cb;
	sopt.user = w;
	ck_assert_int_eq(tlsio_listen(*loop, "127.0.0.1:0", *scfg, &sopt, wm_accept, w, l), 0);
	ck_assert_int_eq(tlsio_listener_addr(*l, addr, sizeof(addr)), 0);
	copt.cb = &cli_cb;
	copt.user = w;
	copt.high_water = high;
	copt.low_water = low;
	ck_assert_int_eq(tlsio_connect(*loop, addr, *ccfg, &copt, &w->cli), 0);
}

static void wm_free(tlsio_loop *loop, tlsio_tls_config *scfg, tlsio_tls_config *ccfg)
{
	tlsio_loop_free(loop);
	tlsio_tls_config_free(scfg);
	tlsio_tls_config_free(ccfg);
}

/* C4 at its edges: a send into a queue one byte below high water is taken whole, a send into a
 * queue exactly at high water is refused, and on_drain fires when the queue falls to exactly
 * low water (0 here: empty), not only below it. Sends made before the handshake are held, so
 * the queue is exact. */
START_TEST(test_watermark_boundaries)
{
	enum { H = 64 * 1024 };
	static uint8_t buf[H];
	struct wm w;
	tlsio_loop *loop;
	tlsio_tls_config *scfg, *ccfg;
	tlsio_listener *l;
	BEGIN();
	wm_open(&w, &loop, &scfg, &ccfg, &l, NULL, H, 0);
	ck_assert_int_eq(tlsio_send(w.cli, buf, H - 1), 0);
	ck_assert_uint_eq(tlsio_conn_queued(w.cli), H - 1);
	ck_assert_int_eq(tlsio_send(w.cli, buf, 1), 0); /* below high water: taken */
	ck_assert_uint_eq(tlsio_conn_queued(w.cli), H);
	ck_assert_int_eq(tlsio_send(w.cli, buf, 1), TLSIO_E_QUEUE_FULL); /* at high water: refused */
	ck_assert_int_eq(tlsio_send(w.cli, buf, 0), TLSIO_E_QUEUE_FULL);
	ck_assert_uint_eq(tlsio_conn_queued(w.cli), H);
	ck_assert_msg(tu_loop_run_until(loop, wm_pred_drained, &w, 10000),
	              "on_drain never fired: the queue fell to exactly low water (0)");
	ck_assert_int_eq(w.drains, 1);
	ck_assert_uint_eq(w.drain_queued, 0);
	ck_assert_int_eq(tlsio_send(w.cli, buf, H), 0); /* below again: taken */
	tlsio_close(w.cli);
	ck_assert_int_eq(tu_loop_run_until(loop, wm_pred_closed, &w, 20000), 1);
	ck_assert_uint_eq(w.received, 2 * (uint64_t)H);
	ck_assert_int_eq(w.cli_status, 0);
	ck_assert_int_eq(w.srv_status, 0);
	tlsio_listener_close(l);
	wm_free(loop, scfg, ccfg);
}
END_TEST

static uint64_t thread_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Idle is idle: two established connections with nothing to say cost the loop a few wake-ups
 * (the one deadline there is) and near-zero CPU, not a busy loop whose stream stays correct. */
START_TEST(test_idle_is_idle)
{
	struct wm w;
	tlsio_loop *loop;
	tlsio_tls_config *scfg, *ccfg;
	tlsio_listener *l;
	tlsio_conn_opts so = TLSIO_CONN_OPTS_INIT;
	uint64_t t0, cpu0, cpu, turns = 0, ms;
	BEGIN();
	so.idle_timeout_ms = 1000; /* the one timer: it ends the idle time */
	wm_open(&w, &loop, &scfg, &ccfg, &l, &so, 0, 0);
	ck_assert_int_eq(tu_loop_run_until(loop, wm_pred_handshakes, &w, 20000), 1);
	t0 = tu_now_ms();
	cpu0 = thread_cpu_us();
	while (w.closed < 2 && tu_now_ms() - t0 < 5000) {
		ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_ONCE), 0);
		turns++;
	}
	cpu = thread_cpu_us() - cpu0;
	ms = tu_now_ms() - t0;
	tu_log("[%s] idle for %" PRIu64 " ms: %" PRIu64 " loop turns, %" PRIu64 " us of CPU", g_backend,
	       ms, turns, cpu);
	ck_assert_int_eq(w.closed, 2);
	ck_assert_int_eq(w.srv_status, TLSIO_E_IDLE_TIMEOUT);
	ck_assert_msg(ms >= 900, "the idle deadline came after %" PRIu64 " ms, not 1000", ms);
	ck_assert_msg(turns <= 20, "%" PRIu64 " loop turns in %" PRIu64 " ms of idleness", turns, ms);
	ck_assert_msg(cpu < 100000, "%" PRIu64 " us of CPU in %" PRIu64 " ms of idleness", cpu, ms);
	tlsio_listener_close(l);
	wm_free(loop, scfg, ccfg);
}
END_TEST

static uint64_t thread_cpu_us(void);
static void resume_after(tu_side *s, unsigned ms);

static uint64_t thread_cpu_us(void);
static void resume_after(tu_side *s, unsigned ms);

/* Where the server's pause starts: what it had taken in, and its CPU, at that moment. */
static void note_pause(tu_peer *p)
{
	tlsio_stats st = TLSIO_STATS_INIT;
	tlsio_conn_stats(p->conn, &st);
	p->t0 = tu_now_ms();
	p->aux = thread_cpu_us();
	p->aux2 = st.tls_bytes_received;
}

/* Variant 1: the pause comes in the middle of the stream, from on_data, with nothing of ours
 * in flight but the receive (the pause at the handshake follows the handshake's last send). */
static void pause_midstream(tu_peer *p, const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
	if (p->t0 != 0 || p->rx_len < TU_MIB)
		return;
	tlsio_read_stop(p->conn);
	p->paused = 1; /* the harness fails any on_data from here on */
	p->resume_at = UINT64_MAX; /* and does not resume it: the tick does */
	note_pause(p);
}

/* Server: a second of not reading; then note what the library took in meanwhile and the CPU it
 * spent, let the client note what it pushed out (flags 2 and 3), and read again. The blocking
 * client cannot answer while it blocks in a send: it is not waited for. */
static void sample_then_read_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	tlsio_stats st = TLSIO_STATS_INIT;
	if (s->npeers == 0 || p->conn == NULL || p->mark || p->handshakes == 0)
		return;
	if (p->t0 == 0) {
		if (p->plan.rx_stop_on_handshake)
			note_pause(p);
		return;
	}
	if (tu_now_ms() < p->t0 + 1000)
		return;
	if (!tu_signaled(s->pair, 2)) {
		tlsio_conn_stats(p->conn, &st);
		p->value = st.tls_bytes_received - p->aux2;
		p->aux = thread_cpu_us() - p->aux; /* CPU while paused */
		tu_signal(s->pair, 2);
	}
	if (!tu_signaled(s->pair, 3) && strcmp(g_backend, "blocking") != 0)
		return;
	p->mark = 1;
	p->paused = 0;
	tlsio_read_start(p->conn);
}

/* Client: once the server paused for a second, what it has pushed to the kernel so far. */
static void note_pushed_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	tlsio_stats st = TLSIO_STATS_INIT;
	if (s->npeers == 0 || p->conn == NULL || p->mark || !tu_signaled(s->pair, 2))
		return;
	tlsio_conn_stats(p->conn, &st);
	p->value = st.tls_bytes_sent;
	p->mark = 1;
	tu_signal(s->pair, 3);
}

/* A paused reader keeps at most a bounded amount of what the peer pushes, and spends no CPU on
 * it: the rest waits in the kernel, and TCP's window stops the peer. (A backend that went on
 * reading into memory of its own would let the client push all 64 MiB.) Paused at the
 * handshake (variant 0) and in the middle of the stream (variant 1). */
START_TEST(test_paused_reader_bounded)
{
	uint64_t seed = tu_seed(0xC4B0001);
	tu_pair *p = pair_new(BULK_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 64 * TU_MIB, 256 * TU_KIB, TU_MIB,
	            TU_TX_COPY);
	if (_i == 0)
		p->server.plan.rx_stop_on_handshake = 1;
	else
		p->server.plan.on_data = pause_midstream;
	p->server.tick = sample_then_read_tick;
	p->server.opts.rcvbuf = 64 * 1024;
	p->client.opts.sndbuf = 64 * 1024;
	p->client.tick = note_pushed_tick;
	pair_run(p);
	tu_log("[%s] paused (%s) for 1 s with 64 MiB pushed: %" PRIu64 " bytes taken in, %" PRIu64
	       " us of CPU; the client got %" PRIu64 " bytes out", g_backend,
	       _i == 0 ? "at the handshake" : "mid-stream", s->value, s->aux, c->value);
	assert_clean_stream(c, s);
	ck_assert_msg(s->mark, "the server never resumed reading");
	ck_assert_msg(s->value <= 2 * TU_MIB, "a paused reader took in %" PRIu64 " bytes (bound 2 MiB)",
	              s->value);
	ck_assert_msg(s->aux < 100000, "a paused reader spent %" PRIu64 " us of CPU in 1 s", s->aux);
	if (strcmp(g_backend, "blocking") != 0)
		ck_assert_msg(c->value <= (_i == 0 ? 4 : 6) * TU_MIB, "the client pushed %" PRIu64
		              " bytes out to a paused reader with 64 KiB socket buffers: something reads "
		              "them", c->value);
	tu_pair_free(p);
}
END_TEST

/* Server: at the handshake, a receive buffer far over the read budget (root may force one),
 * and no reading yet. */
static void big_rcvbuf_paused(tu_peer *p)
{
	int sz = 16 * 1024 * 1024;
	tlsio_read_stop(p->conn);
	p->value = setsockopt(tlsio_conn_fd(p->conn), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) == 0;
}

/* Client over a Unix socket: there the sender's buffer bounds what waits for the reader (the
 * bytes are queued on the receiving socket but counted against the sender's SO_SNDBUF). */
static void big_sndbuf(tu_peer *p)
{
	int sz = 16 * 1024 * 1024;
	(void)setsockopt(tlsio_conn_fd(p->conn), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
}

/* Server: read once the kernel holds several MiB (or after 3 s), all of it at once. */
static void read_when_full_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	int inq = 0;
	if (s->npeers == 0 || p->conn == NULL || p->mark || p->handshakes == 0)
		return;
	if (p->t0 == 0)
		p->t0 = tu_now_ms();
	(void)ioctl(tlsio_conn_fd(p->conn), FIONREAD, &inq);
	if ((uint64_t)inq < 5 * TU_MIB && tu_now_ms() < p->t0 + 3000)
		return;
	p->aux = (uint64_t)inq;
	p->mark = 1;
	tlsio_read_start(p->conn);
}

/* The read budget (a fast peer must not hold the loop) cuts a read short: what is left in the
 * kernel must still be read, without a new edge. The client sends 6 MiB and then waits in
 * silence, so a connection left behind by the budget would wait for ever. */
START_TEST(test_read_budget_resumes)
{
	uint64_t seed = tu_seed(0xC1A0006);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 6 * TU_MIB, 256 * TU_KIB, TU_MIB,
	            TU_TX_COPY);
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->server.plan.rx_close_at = 6 * TU_MIB;
	p->server.plan.on_handshake = big_rcvbuf_paused;
	if (p->unix_sock)
		p->client.plan.on_handshake = big_sndbuf;
	p->server.tick = read_when_full_tick;
	pair_run(p);
	tu_log("[%s] %" PRIu64 " bytes waited in the kernel when reading began (16 MiB buffer %s)",
	       g_backend, s->aux, s->value ? "forced" : "refused: not root");
	ck_assert_msg(s->rx_len == 6 * TU_MIB, "the server read %" PRIu64 " of 6 MiB", s->rx_len);
	ck_assert_msg(s->rx_bad_at == UINT64_MAX, "server: stream corrupt at %" PRIu64, s->rx_bad_at);
	if (s->value)
		ck_assert_msg(s->aux > 2 * TU_MIB, "only %" PRIu64 " bytes waited: the test did not reach "
		              "past the read budget", s->aux);
	(void)c;
	tu_pair_free(p);
}
END_TEST

/* EOF behind the last data, both in the kernel before the reader looks (it was paused): the
 * reader must find the EOF too (no edge will come for it) and report truncation. */
static void cut_after_sent_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	tlsio_stats st = TLSIO_STATS_INIT;
	if (s->npeers == 0 || p->conn == NULL || p->mark || !p->tx_done)
		return;
	tlsio_conn_stats(p->conn, &st);
	if (st.app_bytes_sent < p->tx_len)
		return;
	p->mark = 1;
	TU_CHECK(shutdown(tlsio_conn_fd(p->conn), SHUT_WR) == 0, "shutdown: %s", strerror(errno));
	tu_signal(s->pair, 0);
}

static void resume_when_cut_tick(tu_side *s)
{
	if (tu_signaled(s->pair, 0))
		resume_after(s, 200);
}

START_TEST(test_truncation_while_paused)
{
	uint64_t seed = tu_seed(0xC6A0003);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 64 * TU_KIB, 16 * TU_KIB, 16 * TU_KIB,
	            TU_TX_COPY);
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->client.tick = cut_after_sent_tick;
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.tick = resume_when_cut_tick;
	pair_run(p);
	ck_assert_int_eq(s->rx_len, 64 * TU_KIB);
	ck_assert_msg(s->status == TLSIO_E_TRUNCATED, "server: data and EOF found together gave %d (%s), "
	              "expected TLSIO_E_TRUNCATED", s->status, tlsio_strerror(s->status));
	tu_pair_free(p);
}
END_TEST

/* The idle deadline restarts on output progress: a long download to a slow but steady reader,
 * with an idle timeout much shorter than the transfer, must complete. */
START_TEST(test_idle_restarted_by_output)
{
	uint64_t seed = tu_seed(0xC8B0003);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->server.plan, &p->client.plan, seed, 4 * TU_MIB, 64 * TU_KIB, 256 * TU_KIB,
	            TU_TX_COPY);
	p->server.opts.idle_timeout_ms = 250;
	/* and a handshake deadline, over once the handshake is */
	p->server.opts.handshake_timeout_ms = 250;
	p->client.opts.handshake_timeout_ms = 250;
	/* the stream must be in our queue, not all in the kernel's: a peer reading what the
	 * kernel already holds is no progress of ours (as with nginx's send_timeout) */
	p->server.opts.sndbuf = 16384;
	p->client.opts.rcvbuf = 4096;
	p->client.plan.rx_sleep_every = 8 * TU_KIB; /* about 0.5 s per MiB: 2 s in all */
	pair_run(p);
	tu_log("[%s] %" PRIu64 " bytes in %" PRIu64 " ms with a 250 ms idle timeout", g_backend,
	       c->rx_len, p->client.t_end - p->client.t_start);
	assert_clean_stream(s, c);
	ck_assert_msg(p->client.t_end - p->client.t_start > 500, "the transfer took less than two idle "
	              "timeouts: it tests nothing");
	tu_pair_free(p);
}
END_TEST

static void signal_when_sent(tu_peer *p)
{
	tu_signal(p->side->pair, 0);
}

static void note_close_time(tu_peer *p)
{
	p->value = tu_now_ms();
}

/* Server: 100 ms after the client queued its stream, close while reading is still paused. */
static void close_paused_tick(tu_side *s)
{
	tu_peer *p = &s->peers[0];
	if (s->npeers == 0 || p->conn == NULL || p->mark || !tu_signaled(s->pair, 0))
		return;
	if (p->t0 == 0) {
		p->t0 = tu_now_ms() + 100;
		return;
	}
	if (tu_now_ms() < p->t0)
		return;
	p->mark = 1;
	p->t0 = tu_now_ms();
	tlsio_close(p->conn);
}

/* C6 with input waiting: a close while reading is paused reads on to the peer's close_notify
 * and ends cleanly, well before the linger deadline. */
START_TEST(test_close_paused_with_input)
{
	uint64_t seed = tu_seed(0xC6B0001);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, TU_MIB, 16 * TU_KIB, 64 * TU_KIB,
	            TU_TX_COPY);
	p->client.plan.tx_then = TU_THEN_NOTHING; /* waits for the server's close_notify */
	p->client.plan.on_tx_done = signal_when_sent;
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.plan.on_close = note_close_time;
	p->server.opts.linger_ms = 5000;
	p->server.tick = close_paused_tick;
	pair_run(p);
	tu_log("[%s] close while paused: server %d (%s) %" PRIu64 " ms after tlsio_close, client %d (%s)",
	       g_backend, s->status, tlsio_strerror(s->status), s->value - s->t0, c->status,
	       tlsio_strerror(c->status));
	ck_assert_msg(s->mark, "the server never closed");
	ck_assert_msg(s->status == 0, "server ended with %d (%s)", s->status, tlsio_strerror(s->status));
	ck_assert_msg(c->status == 0, "client ended with %d (%s)", c->status, tlsio_strerror(c->status));
	ck_assert_msg(s->value - s->t0 < 2500, "the close took %" PRIu64 " ms (linger 5000)",
	              s->value - s->t0);
	tu_pair_free(p);
}
END_TEST

/* Read again @p ms after the handshake; note what was queued then. */
static void resume_after(tu_side *s, unsigned ms)
{
	tu_peer *p = &s->peers[0];
	if (s->npeers == 0 || p->conn == NULL || p->mark || p->handshakes == 0)
		return;
	if (p->t0 == 0)
		p->t0 = tu_now_ms() + ms;
	else if (tu_now_ms() >= p->t0) {
		p->mark = 1;
		p->value = tlsio_conn_queued(p->conn);
		p->paused = 0;
		tlsio_read_start(p->conn);
		tu_signal(s->pair, 1);
	}
}

static void resume_300ms_tick(tu_side *s)
{
	resume_after(s, 300);
}

/* Server: read only once the client has read on (flag 1), and 100 ms later: until then the
 * client's queue cannot drain, however the threads are scheduled. A blocking client blocks in
 * its send until the server reads: it is given 600 ms instead. */
static void resume_after_client_tick(tu_side *s)
{
	if (strcmp(g_backend, "blocking") == 0)
		resume_after(s, 600);
	else if (tu_signaled(s->pair, 1))
		resume_after(s, 100);
}

/* C2 + C5 on an established connection: a tampered record arrives while the client has
 * megabytes of by-reference sends queued and reading paused. When it reads on, every
 * completion fires once, in order (the sent ones 0, the rest the error), and the alert reaches
 * the peer. */
START_TEST(test_tampered_record_with_queued_sends)
{
	uint64_t seed = tu_seed(0xC5A0001);
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *s = SRV(p);
	BEGIN();
	plan_stream(&p->client.plan, &p->server.plan, seed, 8 * TU_MIB, 256 * TU_KIB, 256 * TU_KIB,
	            TU_TX_REF);
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->client.plan.rx_stop_on_handshake = 1;
	p->client.tick = resume_300ms_tick;
	p->server.plan.tx_total = 256 * TU_KIB;
	p->server.plan.tx_seed = seed + 1;
	p->server.plan.tx_then = TU_THEN_NOTHING;
	/* the server reads only after the client failed: its queue is full when the record comes */
	p->server.plan.rx_stop_on_handshake = 1;
	p->server.tick = resume_after_client_tick;
	p->server.opts.rcvbuf = 64 * 1024;
	p->client.opts.sndbuf = 64 * 1024;
	p->tamper_s2c_at = 64 * 1024; /* inside the server's application data */
	pair_run(p);
	tu_log("[%s] tampered: client %d (%s) alert %s with %" PRIu64 " queued at resume, completions "
	       "%" PRIu64 " ok + %" PRIu64 " failed of %" PRIu64 "; server %d (%s) alert %s", g_backend,
	       c->status, tlsio_strerror(c->status), tlsio_alert_name(c->alert), c->value, c->compl_ok,
	       c->compl_fail, c->reqs, s->status, tlsio_strerror(s->status), tlsio_alert_name(s->alert));
	ck_assert_msg(p->tampered, "the proxy never reached the offset");
	/* The blocking backend cannot read while it blocks in a send (README): it meets the record
	 * only once its queue has drained, so there the failure finds nothing queued. */
	if (strcmp(g_backend, "blocking") != 0)
		ck_assert_msg(c->value >= TU_MIB, "only %" PRIu64 " bytes queued when the record came",
		              c->value);
	ck_assert_msg(c->status == TLSIO_E_TLS && c->alert == TLSIO_ALERT_BAD_RECORD_MAC,
	              "client %d (%s) alert %s", c->status, tlsio_strerror(c->status),
	              tlsio_alert_name(c->alert));
	ck_assert_msg(c->completions == c->reqs && (c->compl_fail > 0 || c->value == 0) &&
	                  c->compl_ok + c->compl_fail == c->reqs,
	              "completions: %" PRIu64 " fired of %" PRIu64 " (%" PRIu64 " ok, %" PRIu64 " failed)",
	              c->completions, c->reqs, c->compl_ok, c->compl_fail);
	if (c->compl_fail > 0)
		ck_assert_int_eq(c->compl_first_err, TLSIO_E_TLS);
	ck_assert_msg(s->status == TLSIO_E_ALERT_RECEIVED && s->alert == TLSIO_ALERT_BAD_RECORD_MAC,
	              "the alert did not reach the server: %d (%s) alert %s", s->status,
	              tlsio_strerror(s->status), tlsio_alert_name(s->alert));
	ck_assert_msg(s->rx_bad_at == UINT64_MAX, "server: stream corrupt at %" PRIu64, s->rx_bad_at);
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Peer identity: the client checks whom it talks to unless told not to (RFC 6125 / 9525) */

struct id_case {
	const char *name;
	const char *server_cert;  /* the server's certificate (key: server.key) */
	const char *server_name;  /* the client's server_name; NULL: the connect address's host */
	const char *listen_host;  /* NULL: 127.0.0.1 */
	const char *connect_host; /* NULL: as the listener says */
	int verify_none;          /* the client says TLSIO_VERIFY_NONE */
	int mtls;                 /* 1: the server requires a client cert, the client has one;
	                             2: required, the client has none */
	int want_cert_err;        /* TLSIO_CERT_OK: the handshake succeeds */
	int want_alert;           /* the alert the refusing side sends */
	const char *want_sni;     /* what the server saw ("" none) */
};

static const struct id_case id_cases[] = {
	{"same-CA certificate for evil.example at 127.0.0.1", "evil.pem", NULL, NULL, NULL, 0, 0,
	 TLSIO_CERT_NAME_MISMATCH, TLSIO_ALERT_BAD_CERTIFICATE, ""},
	{"same-CA certificate for evil.example, server_name localhost", "evil.pem", "localhost", NULL,
	 NULL, 0, 0, TLSIO_CERT_NAME_MISMATCH, TLSIO_ALERT_BAD_CERTIFICATE, "localhost"},
	{"IP SAN 127.0.0.1, no SNI for an IP", "ip-only.pem", NULL, NULL, NULL, 0, 0, TLSIO_CERT_OK, 0, ""},
	{"IP SAN ::1 at [::1]", "ip-only.pem", NULL, "::1", "::1", 0, 0, TLSIO_CERT_OK, 0, ""},
	{"IP SAN ::1 at [0:0:0:0:0:0:0:1]", "ip-only.pem", NULL, "::1", "0:0:0:0:0:0:0:1", 0, 0,
	 TLSIO_CERT_OK, 0, ""},
	{"an IP is never matched against the CN", "cn-only.pem", NULL, NULL, NULL, 0, 0,
	 TLSIO_CERT_NAME_MISMATCH, TLSIO_ALERT_BAD_CERTIFICATE, ""},
	{"wildcard *.wild.test for a.wild.test", "wildcard.pem", "a.wild.test", NULL, NULL, 0, 0,
	 TLSIO_CERT_OK, 0, "a.wild.test"},
	{"wildcard *.wild.test is one label: a.b.wild.test", "wildcard.pem", "a.b.wild.test", NULL, NULL,
	 0, 0, TLSIO_CERT_NAME_MISMATCH, TLSIO_ALERT_BAD_CERTIFICATE, "a.b.wild.test"},
	{"wildcard *.test is too broad: x.test", "wildcard.pem", "x.test", NULL, NULL, 0, 0,
	 TLSIO_CERT_NAME_MISMATCH, TLSIO_ALERT_BAD_CERTIFICATE, "x.test"},
	{"expired certificate", "expired.pem", NULL, NULL, NULL, 0, 0, TLSIO_CERT_EXPIRED,
	 TLSIO_ALERT_CERTIFICATE_EXPIRED, ""},
	{"not yet valid certificate", "future.pem", NULL, NULL, NULL, 0, 0, TLSIO_CERT_NOT_YET_VALID,
	 TLSIO_ALERT_CERTIFICATE_EXPIRED, ""},
	{"TLSIO_VERIFY_NONE still connects to evil.example", "evil.pem", NULL, NULL, NULL, 1, 0,
	 TLSIO_CERT_OK, 0, ""},
	{"mutual TLS: the server reads who the client is", "server.pem", NULL, NULL, NULL, 0, 1,
	 TLSIO_CERT_OK, 0, ""},
	{"mutual TLS: a client without a certificate is refused", "server.pem", NULL, NULL, NULL, 0, 2,
	 TLSIO_CERT_MISSING, TLSIO_ALERT_CERTIFICATE_REQUIRED, ""},
};
#define ID_CASES ((int)(sizeof(id_cases) / sizeof(id_cases[0])))

START_TEST(test_peer_identity)
{
	const struct id_case *k = &id_cases[_i];
	uint64_t seed = tu_seed(0x1DE0001);
	tu_pair *p;
	const tu_peer *c, *s, *refuser, *other;
	BEGIN();
	tu_log("[%s] case: %s", g_backend, k->name);
	if (k->listen_host != NULL && !tu_ipv6_loopback()) {
		/* a kernel without IPv6 on lo cannot run this case; the IPv4 cases still run */
		tu_log("[%s] no IPv6 loopback here: case not run", g_backend);
		return;
	}
	p = pair_new(SMALL_WATCHDOG_MS);
	c = CLI(p);
	s = SRV(p);
	plan_stream(&p->client.plan, &p->server.plan, seed, 4 * TU_KIB, TU_KIB, TU_KIB, TU_TX_COPY);
	p->server.tls.cert_file = tu_cert(k->server_cert);
	p->client.opts.server_name = k->server_name;
	p->listen_host = k->listen_host;
	p->connect_host = k->connect_host;
	if (k->verify_none)
		p->client.tls.verify = TLSIO_VERIFY_NONE;
	if (k->mtls) {
		p->server.tls.verify = TLSIO_VERIFY_REQUIRED;
		p->server.tls.ca_file = tu_cert("ca.pem");
		p->server.tls.max_version = TLSIO_TLS_1_3;
		p->server.tls.min_version = TLSIO_TLS_1_3;
	}
	if (k->mtls == 1) {
		p->client.tls.cert_file = tu_cert("client.pem");
		p->client.tls.key_file = tu_cert("server.key");
	}
	pair_run(p);
	tu_log("[%s] client %d (%s) alert %s, cert: %s; server %d (%s) alert %s, cert: %s; sni '%s'",
	       g_backend, c->status, tlsio_strerror(c->status), tlsio_alert_name(c->alert),
	       c->cert_why, s->status, tlsio_strerror(s->status), tlsio_alert_name(s->alert),
	       s->cert_why, s->sni);
	if (k->want_cert_err == TLSIO_CERT_OK) {
		assert_clean_stream(c, s);
		ck_assert_msg(c->handshakes == 1 && s->handshakes == 1, "handshakes %d/%d", c->handshakes,
		              s->handshakes);
		ck_assert_int_eq(c->cert_err, TLSIO_CERT_OK);
		ck_assert_str_eq(c->cert_why, "");
		ck_assert_str_eq(s->sni, k->want_sni);
		/* the client sees the server's certificate; a server doing mTLS sees the client's */
		ck_assert_msg(strncmp(c->peer_subject, "CN=", 3) == 0, "client: peer subject '%s'",
		              c->peer_subject);
		if (k->mtls == 1) {
			ck_assert_str_eq(s->peer_subject, "CN=client-one");
			ck_assert_str_eq(s->peer_san0, "DNS:client-one.test");
		} else {
			ck_assert_str_eq(s->peer_subject, "");
		}
		tu_pair_free(p);
		return;
	}
	/* refused: by the client (its view of the server), or by a server doing mTLS */
	refuser = k->mtls ? s : c;
	other = k->mtls ? c : s;
	ck_assert_msg(refuser->handshakes == 0, "the refusing side completed its handshake");
	ck_assert_msg(refuser->status == TLSIO_E_CERT_VERIFY, "refusing side: status %d (%s)",
	              refuser->status, tlsio_strerror(refuser->status));
	ck_assert_msg(refuser->cert_err == k->want_cert_err, "cert error %d (%s): %s, expected %s",
	              refuser->cert_err, tlsio_cert_error_name(refuser->cert_err), refuser->cert_why,
	              tlsio_cert_error_name(k->want_cert_err));
	ck_assert_msg(refuser->alert == k->want_alert, "sent alert %s, expected %s",
	              tlsio_alert_name(refuser->alert), tlsio_alert_name(k->want_alert));
	/* C5: the alert reached the other side before the socket closed */
	ck_assert_msg(other->status == TLSIO_E_ALERT_RECEIVED && other->alert == k->want_alert,
	              "other side: %d (%s) alert %s", other->status, tlsio_strerror(other->status),
	              tlsio_alert_name(other->alert));
	ck_assert_int_eq(c->rx_len + s->rx_len, 0);
	if (k->want_cert_err == TLSIO_CERT_NAME_MISMATCH)
		ck_assert_msg(strstr(refuser->cert_why, "name mismatch") != NULL &&
		                  strstr(refuser->cert_why,
		                         k->server_name != NULL ? k->server_name : "127.0.0.1") != NULL,
		              "reason: %s", refuser->cert_why);
	ck_assert_str_eq(s->sni, k->want_sni);
	tu_pair_free(p);
}
END_TEST

/* A socket has no address to take the identity from: a verifying client needs server_name. */
START_TEST(test_adopt_needs_identity)
{
	tlsio_loop *loop = NULL;
	tlsio_tls_config *cfg = NULL;
	tlsio_tls_opts to = TLSIO_TLS_OPTS_INIT;
	tlsio_conn_opts o = TLSIO_CONN_OPTS_INIT;
	tlsio_conn *conn = NULL;
	int sv[2];
	BEGIN();
	to.ca_file = tu_cert("ca.pem");
	ck_assert_int_eq(tlsio_loop_new(&loop, tlsio_backend_by_name(g_backend)), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 0, &to, NULL), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(tlsio_conn_adopt(loop, sv[0], 0, cfg, &o, &conn), TLSIO_E_NO_IDENTITY);
	ck_assert_ptr_null(conn);
	ck_assert_msg(fcntl(sv[0], F_GETFD) < 0 && errno == EBADF, "the refused fd was not closed");
	/* with a name it goes on (and fails later only for lack of a server on the other end) */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv + 0), 0);
	o.server_name = "localhost";
	ck_assert_int_eq(tlsio_conn_adopt(loop, sv[0], 0, cfg, &o, &conn), 0);
	ck_assert_ptr_nonnull(conn);
	close(sv[1]);
	tlsio_tls_config_free(cfg);
	tlsio_loop_free(loop);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* C8 bad input */

struct raw_peer {
	int fd;
	int eof;
	ssize_t got;
	int first_byte;
};

/* Client: before the good connection, a raw socket sends 1 KiB that is not TLS. */
static void garbage_setup(tu_side *s)
{
	struct raw_peer *r = s->ctx;
	uint8_t junk[1024];
	tu_rng rng;
	tu_rng_seed(&rng, 0xBAD);
	tu_rng_fill(&rng, junk, sizeof(junk));
	memcpy(junk, "GARBAGE!", 8); /* 'G' is no TLS content type */
	r->fd = tu_tcp_connect(s->pair->addr);
	TU_CHECK(r->fd >= 0, "raw connect to %s failed", s->pair->addr);
	if (r->fd < 0)
		return;
	TU_CHECK(send(r->fd, junk, sizeof(junk), MSG_NOSIGNAL) == (ssize_t)sizeof(junk), "raw send");
	s->hold = 1;
}

/* Client: the raw socket stays open until the server ends that connection by itself. */
static void garbage_tick(tu_side *s)
{
	struct raw_peer *r = s->ctx;
	uint8_t buf[4096];
	ssize_t n;
	if (r->fd < 0)
		return;
	while ((n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (r->got == 0)
			r->first_byte = buf[0];
		r->got += n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	r->eof = 1;
	close(r->fd);
	r->fd = -1;
	s->hold = 0;
}

START_TEST(test_bad_input)
{
	uint64_t seed = tu_seed(0xC8A0001);
	struct raw_peer raw = {.fd = -1, .first_byte = -1};
	tu_pair *p = pair_new(SMALL_WATCHDOG_MS);
	const tu_peer *c = CLI(p), *good = NULL, *bad = NULL;
	BEGIN();
	/* lockstep echo of 1 MiB, at most 16 KiB in flight */
	plan_stream(&p->client.plan, &p->client.plan, seed, TU_MIB, TU_KIB, 16 * TU_KIB, TU_TX_MIXED);
	p->client.plan.tx_window = 16 * TU_KIB;
	p->client.plan.tx_then = TU_THEN_NOTHING;
	p->client.plan.rx_close_at = TU_MIB;
	p->client.ctx = &raw;
	p->client.setup = garbage_setup;
	p->client.tick = garbage_tick;
	p->server.expect = 2;
	p->server.plan.echo = 1;
	p->server.plan.rx_seed = seed;
	pair_run(p);
	ck_assert_int_eq(p->server.npeers, 2);
	for (int i = 0; i < 2; i++) {
		const tu_peer *sp = &p->server.peers[i];
		if (sp->handshakes == 1)
			good = sp;
		else
			bad = sp;
	}
	ck_assert_msg(good != NULL && bad != NULL, "expected one good and one bad connection");
	tu_log("[%s] garbage connection: %d (%s), alert %d; raw socket got %zd bytes, first 0x%02x",
	       g_backend, bad->status, tlsio_strerror(bad->status), bad->alert, raw.got,
	       raw.first_byte & 0xff);
	ck_assert_msg(bad->status < 0, "garbage connection ended with %d", bad->status);
	ck_assert_msg(raw.eof, "the server never closed the garbage connection");
	ck_assert_msg(bad->alert == TLSIO_ALERT_DECODE_ERROR, "garbage connection: alert %d (%s), "
	              "expected decode_error", bad->alert, tlsio_alert_name(bad->alert));
	ck_assert_msg(raw.got == 7 && raw.first_byte == 21, "the garbage sender got %zd bytes starting "
	              "0x%02x, expected one 7-byte alert record (0x15)", raw.got, raw.first_byte & 0xff);
	assert_clean_stream(c, c);
	ck_assert_int_eq(good->rx_len, TU_MIB);
	ck_assert_msg(good->status == 0, "good connection ended with %d (%s)", good->status,
	              tlsio_strerror(good->status));
	tu_pair_free(p);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

/* One TCase per test, named after it, so that CK_RUN_CASE=<name> runs a single test. */
static void add_case(Suite *s, const char *name, const TTest *t, int timeout, int loop_end,
                     const char *tags)
{
	TCase *tc = tcase_create(name);
	if (tags != NULL)
		tcase_set_tags(tc, tags);
	tcase_set_timeout(tc, timeout);
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_add_loop_test(tc, t, 0, loop_end > 0 ? loop_end : 1);
	suite_add_tcase(s, tc);
}

#define BULK(fn) add_case(s, #fn, fn, 240, 0, NULL)
#define SMALL(fn) add_case(s, #fn, fn, 90, 0, NULL)

/* Cases of the TLS record layer itself (alerts, verification, truncation): tag "tls", left out
 * of the plain suite. Cases of TCP addresses or a TCP proxy: tag "tcp", left out of the Unix
 * socket suite. The rest is the contract of every transport. */
#define TLS_ONLY(fn, timeout, loops) add_case(s, #fn, fn, timeout, loops, "tls")

/* @p label: the suite's name ("libuv-app" for the libuv backend on the test's own uv loops,
 * tu_app_loop) */
static Suite *contract_suite_as(const char *backend, const char *label)
{
	static char names[16][64]; /* Check keeps the pointer */
	static size_t nnames;
	char *name = names[nnames++ % 16];
	Suite *s;
	g_backend = backend;
	if (tu_transport == TU_TCP_TLS)
		snprintf(name, sizeof(names[0]), "contract/%s", label);
	else
		snprintf(name, sizeof(names[0]), "contract/%s/%s", label, tu_transport_name(tu_transport));
	s = suite_create(name);
	BULK(test_bulk_client_to_server);
	BULK(test_bulk_server_to_client_single_send);
	BULK(test_fault_storm);
	/* the chains of linked sends exist on io_uring only */
	if (strcmp(backend, "uring") == 0)
		BULK(test_uring_midchain_faults);
	BULK(test_completions_on_failure);
	BULK(test_backpressure);
	BULK(test_graceful_close_with_queued_data);
	/* C3 is about event loops; the blocking backend blocks inside tlsio_loop_run by design */
	add_case(s, "test_never_block", test_never_block, 240, 0, "event");
	SMALL(test_many_small_sends);
	TLS_ONLY(test_truncation, 90, 0);
	SMALL(test_half_close);
	TLS_ONLY(test_handshake_verify, 90, HS_VARIANTS);
	add_case(s, "test_peer_identity", test_peer_identity, 90, ID_CASES, "tls tcp");
	TLS_ONLY(test_adopt_needs_identity, 90, 0);
	TLS_ONLY(test_bad_input, 90, 0);
	/* the reset is TCP's answer to an orphan socket; a Unix socket has neither */
	add_case(s, "test_timeout_resets_non_reader", test_timeout_resets_non_reader, 90, 0, "tcp");
	SMALL(test_watermark_boundaries);
	SMALL(test_idle_is_idle);
	add_case(s, "test_paused_reader_bounded", test_paused_reader_bounded, 240, 2, NULL);
	SMALL(test_read_budget_resumes);
	TLS_ONLY(test_truncation_while_paused, 90, 0);
	SMALL(test_idle_restarted_by_output);
	SMALL(test_close_paused_with_input);
	/* the bit-flipping proxy listens on TCP: the client's socket is TCP in every transport */
	add_case(s, "test_tampered_record_with_queued_sends", test_tampered_record_with_queued_sends, 90,
	         0, "tls tcp");
	SMALL(test_idle_timeout_after_slow_callback);
	contract_loop_cases(s, backend, tu_app_loop); /* tests/contract-loop.c */
	contract_connect_cases(s, backend, tu_transport); /* tests/contract-connect.c */
	contract_deploy_cases(s, backend, tu_transport); /* tests/contract-deploy.c */
	return s;
}

Suite *contract_suite(const char *backend)
{
	return contract_suite_as(backend, backend);
}

#define MAX_RUN 16

/* $TLSIO_TEST_TRANSPORTS (comma list of tls, plain, unix) narrows a run; all by default. */
static int transport_wanted(int t)
{
	const char *v = getenv("TLSIO_TEST_TRANSPORTS");
	const char *n = tu_transport_name(t);
	size_t nl = strlen(n);
	if (v == NULL || v[0] == '\0')
		return 1;
	for (const char *p = v; (p = strstr(p, n)) != NULL; p += nl)
		if ((p == v || p[-1] == ',') && (p[nl] == '\0' || p[nl] == ','))
			return 1;
	return 0;
}

static const char *suite_name_of(const char *backend, int t)
{
	static char buf[64];
	if (t == TU_TCP_TLS)
		snprintf(buf, sizeof(buf), "contract/%s", backend);
	else
		snprintf(buf, sizeof(buf), "contract/%s/%s", backend, tu_transport_name(t));
	return buf;
}

int main(void)
{
	const tlsio_backend *bs[MAX_RUN];
	size_t n = tu_pick_backends("test-contract", bs, MAX_RUN), ran = 0;
	int failed = 0;
	uint8_t md[32];
	char hex[65];
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the stream checks rest on this: FIPS 180-4 example "abc" */
	tu_sha256_digest("abc", 3, md);
	tu_hex(md, 32, hex);
	if (strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) {
		fprintf(stderr, "test-contract: SHA-256 known answer failed: %s\n", hex);
		return 1;
	}
	/* before any thread (and any lookup) exists: a private /etc/hosts for the name cases */
	(void)contract_connect_init();
	for (size_t i = 0; i < n; i++) {
		const char *name = tlsio_backend_name(bs[i]), *why = NULL;
		SRunner *sr;
		int rc = tlsio_backend_probe(bs[i], &why);
		if (rc < 0) {
			printf("SKIP contract/%s: %s\n", name, why != NULL ? why : tlsio_strerror(rc));
			continue;
		}
		{
			/* which paths the backend chose on this kernel (io_uring: setup flags, receive path) */
			tlsio_loop *loop = NULL;
			if (tlsio_loop_new(&loop, bs[i]) == 0)
				tu_log("[%s] %s", name, tlsio_loop_info(loop));
			tlsio_loop_free(loop);
		}
		/* libuv: every suite twice, the second time with the connections of the pairs and the
		 * loop's extras on uv loops the test owns and runs with uv_run() ("libuv-app") */
		for (int app = 0; app < (strcmp(name, "libuv") == 0 ? 2 : 1); app++)
		for (int t = 0; t < 3; t++) {
			char excl[32] = "", label[32];
			if (!transport_wanted(t))
				continue;
			tu_transport = t;
			tu_app_loop = app;
			snprintf(label, sizeof(label), "%s%s", name, app ? "-app" : "");
			sr = srunner_create(contract_suite_as(name, label));
			if (strcmp(name, "blocking") == 0) {
				printf("SKIP %s test_never_block, test_drain_deadline_aborts_the_rest, "
				       "test_drain_escalates (tag \"event\"): C3 covers event loops; this "
				       "backend blocks inside tlsio_loop_run by design (in a flush to a peer "
				       "that does not read)\n", suite_name_of(label, t));
				strcat(excl, "event ");
			}
			if (t == TU_TCP_PLAIN) {
				printf("SKIP %s: the cases tagged \"tls\" (truncation, verification, peer "
				       "identity, alerts for garbage and tampered records): a plain connection "
				       "has no TLS record layer\n", suite_name_of(label, t));
				strcat(excl, "tls ");
			}
			if (t == TU_UNIX_TLS) {
				printf("SKIP %s test_peer_identity, test_timeout_resets_non_reader, "
				       "test_tampered_record_with_queued_sends (tag \"tcp\"): IP addresses "
				       "checked against certificates; the reset of a timed-out connection "
				       "whose peer did not acknowledge (TCP's orphan sockets): a Unix socket "
				       "has neither; the tampering proxy the client connects to is TCP\n",
				       suite_name_of(label, t));
				strcat(excl, "tcp ");
			}
			srunner_run_tagged(sr, NULL, NULL, NULL, excl[0] != '\0' ? excl : NULL, CK_NORMAL);
			failed += srunner_ntests_failed(sr);
			srunner_free(sr);
		}
		tu_transport = TU_TCP_TLS;
		tu_app_loop = 0;
		ran++;
#ifdef TLSIO_HAVE_LIBEV
		if (strcmp(name, "libev") == 0) {
			/* the loop's extras once more inside an ev_loop the test owns and runs */
			Suite *app = suite_create("contract/libev-app");
			contract_loop_cases(app, "libev", 1);
			sr = srunner_create(app);
			srunner_run_all(sr, CK_NORMAL);
			failed += srunner_ntests_failed(sr);
			srunner_free(sr);
		}
#endif
	}
	if (ran == 0)
		return 77;
	return failed == 0 ? 0 : 1;
}
