/* SPDX-License-Identifier: MIT */
/* Negative controls for the io_uring backend (Check suite "uring/controls").
 *
 * backends/uring.c is compiled a second time into this program with TLSIO_URING_TEST_VARIANTS,
 * which adds the broken designs as test-only backends (the library never contains them):
 *   uring-ctl-nolink          send SQEs of a chain not linked at all
 *   uring-ctl-link-nowaitall  IOSQE_IO_LINK without MSG_WAITALL (a short send does not break it)
 *   uring-ctl-hardlink        IOSQE_IO_HARDLINK without MSG_WAITALL (the incident's "fix")
 * and the correct one (IO_LINK + MSG_WAITALL) from the same object, so that they differ in the
 * SQE flags only. The controls trust every CQE as the designs they reproduce did; the correct
 * variant would refuse bytes sent after a gap, which would hide the corruption from the test.
 *
 * The ordering scenario: a multi-MiB stream from a client with a small send buffer to a slowly
 * reading server with a small receive buffer, so that nearly every send is partial. Each
 * control must come out corrupt at the receiver (a TLS record that fails to decrypt, or a
 * digest/length mismatch); the correct variant must deliver the stream intact under the same
 * conditions. A control that passes means the ordering test is too weak, and fails this suite. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"
#include "tlsio.h"

extern const struct tlsio_backend tlsio__uring_test_real, tlsio__uring_ctl_nolink,
    tlsio__uring_ctl_link_nowaitall, tlsio__uring_ctl_hardlink;

#define STREAM (16 * TU_MIB)
#define WATCHDOG_MS 60000u /* the correct variant needs a few seconds; a stalled control ends here */

struct outcome {
	int rc;           /* tu_pair_run: 0, or -1 after the watchdog */
	int rx_status, tx_status, rx_alert, rx_handshakes;
	uint64_t tx_len, rx_len;
	int digest_ok;
	tlsio_stats tx_stats;
	char why[256];
};

static void run_scenario(const tlsio_backend *b, struct outcome *o)
{
	uint64_t seed = tu_seed(0x0C7A1001);
	tu_pair *p = tu_pair_new(tlsio_backend_name(b));
	const tu_peer *c, *s;
	tlsio_loop *loop = NULL;
	ck_assert_ptr_nonnull(p);
	if (tlsio_loop_new(&loop, b) == 0)
		tu_log("[%s] %s", tlsio_backend_name(b), tlsio_loop_info(loop));
	tlsio_loop_free(loop);
	p->be = b;
	p->timeout_ms = WATCHDOG_MS;
	p->client.plan.tx_total = STREAM;
	p->client.plan.tx_seed = seed;
	p->client.plan.tx_min = 256 * TU_KIB;
	p->client.plan.tx_max = TU_MIB;
	p->client.plan.tx_mode = TU_TX_COPY;
	p->client.opts.sndbuf = 4096;
	p->client.opts.linger_ms = 5000;
	p->server.plan.rx_seed = seed;
	p->server.plan.rx_sleep_every = 64 * TU_KIB;
	p->server.opts.rcvbuf = 4096;
	tu_reset_failures();
	o->rc = tu_pair_run(p);
	ck_assert_msg(o->rc != -2, "a thread never ended");
	c = &p->client.peers[0];
	s = &p->server.peers[0];
	o->tx_status = c->status;
	o->rx_status = s->status;
	o->rx_alert = s->alert;
	o->rx_handshakes = s->handshakes;
	o->tx_len = c->tx_len;
	o->rx_len = s->rx_len;
	o->digest_ok = c->closed && s->closed && memcmp(c->tx_digest, s->rx_digest, 32) == 0;
	o->tx_stats = c->stats;
	snprintf(o->why, sizeof(o->why), "receiver %s (%d, alert %s), %" PRIu64 " of %" PRIu64
	         " bytes, digest %s%s", o->rx_status > 0 ? "still open" : tlsio_strerror(o->rx_status),
	         o->rx_status, o->rx_alert >= 0 ? tlsio_alert_name(o->rx_alert) : "none", o->rx_len,
	         o->tx_len, o->digest_ok ? "equal" : "differs", o->rc != 0 ? ", watchdog expired" : "");
	tu_log("[%s] outcome: %s; sender: %s; send SQEs %" PRIu64 ", short %" PRIu64 ", eagain %" PRIu64
	       ", eintr %" PRIu64, tlsio_backend_name(b), o->why,
	       o->tx_status > 0 ? "still open" : tlsio_strerror(o->tx_status), o->tx_stats.write_calls,
	       o->tx_stats.short_writes, o->tx_stats.eagain, o->tx_stats.eintr);
	tu_reset_failures(); /* the harness's own complaints about a broken stream are expected here */
	tu_pair_free(p);
}

/* The stream broke in the way a reordering or a gap breaks a TLS stream: the receiver failed
 * to decrypt/parse a record, or what it got differs from what was sent. */
static int stream_corrupt(const struct outcome *o)
{
	return o->rx_status == TLSIO_E_TLS || o->rx_status == TLSIO_E_TRUNCATED || o->rc != 0 ||
	       o->rx_len != o->tx_len || !o->digest_ok;
}

static void expect_control_detected(const tlsio_backend *b)
{
	struct outcome o;
	tu_log("[%s] --- control", tlsio_backend_name(b));
	run_scenario(b, &o);
	ck_assert_msg(o.rx_handshakes == 1, "%s: the handshake failed; the control tested nothing",
	              tlsio_backend_name(b));
	ck_assert_msg(stream_corrupt(&o), "%s: the broken variant PASSED the ordering test (%s): the "
	              "test is too weak", tlsio_backend_name(b), o.why);
	tu_log("[%s] DETECTED: %s", tlsio_backend_name(b), o.why);
}

START_TEST(test_correct_variant_intact)
{
	struct outcome o;
	const tlsio_backend *b = &tlsio__uring_test_real;
	tu_log("[%s] --- correct variant, same scenario", tlsio_backend_name(b));
	run_scenario(b, &o);
	ck_assert_msg(o.rc == 0, "watchdog: %s", o.why);
	ck_assert_msg(o.rx_status == 0 && o.tx_status == 0, "%s; sender %d (%s)", o.why, o.tx_status,
	              tlsio_strerror(o.tx_status));
	ck_assert_msg(o.rx_len == STREAM && o.tx_len == STREAM && o.digest_ok, "%s", o.why);
	tu_log("[%s] INTACT: %" PRIu64 " bytes, short writes absorbed %" PRIu64 ", eagain %" PRIu64,
	       tlsio_backend_name(b), o.rx_len, o.tx_stats.short_writes, o.tx_stats.eagain);
}
END_TEST

START_TEST(test_control_nolink)
{
	expect_control_detected(&tlsio__uring_ctl_nolink);
}
END_TEST

START_TEST(test_control_link_without_waitall)
{
	expect_control_detected(&tlsio__uring_ctl_link_nowaitall);
}
END_TEST

START_TEST(test_control_hardlink)
{
	expect_control_detected(&tlsio__uring_ctl_hardlink);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *t)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int main(void)
{
	const char *why = NULL;
	Suite *s;
	SRunner *sr;
	int failed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tlsio_backend_probe(&tlsio__uring_test_real, &why) < 0) {
		printf("SKIP uring/controls: %s\n", why != NULL ? why : "io_uring unavailable");
		return 77;
	}
	s = suite_create("uring/controls");
	add(s, "test_correct_variant_intact", test_correct_variant_intact);
	add(s, "test_control_nolink", test_control_nolink);
	add(s, "test_control_link_without_waitall", test_control_link_without_waitall);
	add(s, "test_control_hardlink", test_control_hardlink);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
