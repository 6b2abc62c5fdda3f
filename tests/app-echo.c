/* SPDX-License-Identifier: MIT */
/* What test-libev and test-libuv share (app-echo.h): the echo on an application's loop, the silent listener. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app-echo.h"

#define ECHO_BYTES (8 * TU_MIB)
#define ECHO_CHUNK (64 * TU_KIB)
#define ECHO_SEED 0xEC0EC0ull

struct chunk {
	tlsio_send_req req;
	struct tu_echo *ec;
	uint64_t seq;
	size_t len;
	uint8_t data[];
};

static void srv_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct tu_echo *ec = user;
	int rc = tlsio_send(c, data, len);
	TU_CHECK(rc == 0, "server: echo of %zu bytes: %s", len, tlsio_strerror(rc));
	ec->srv_bytes += len;
	if (ec->on_data != NULL)
		ec->on_data(ec);
}

static void srv_peer_close(tlsio_conn *c, void *user)
{
	struct tu_echo *ec = user;
	ec->srv_peer_closes++;
	tlsio_close(c);
}

static void srv_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct tu_echo *ec = user;
	(void)c;
	(void)alert;
	ec->srv_closes++;
	ec->srv_status = status;
	/* the last thing alive on the tlsio loop: once it is gone the run has nothing to wait for */
	if (ec->listener != NULL) {
		tlsio_listener_close(ec->listener);
		ec->listener = NULL;
	}
}

static const tlsio_callbacks srv_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_data = srv_data,
	.on_peer_close = srv_peer_close,
	.on_close = srv_close,
};

static void srv_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct tu_echo *ec = user;
	(void)l;
	ec->srv_accepts++;
	tlsio_conn_set_user(c, ec);
}

static void chunk_done(tlsio_send_req *req, int status)
{
	struct chunk *ch = req->data;
	struct tu_echo *ec = ch->ec;
	if (ch->seq != ec->completions)
		ec->order_error = 1;
	ec->completions = ch->seq + 1;
	if (status == 0)
		ec->compl_ok++;
	else
		TU_FAIL("client: completion #%" PRIu64 " with %s", ch->seq, tlsio_strerror(status));
	memset(ch->data, 0xEE, ch->len);
	free(ch);
}

static void cli_handshake(tlsio_conn *c, void *user)
{
	struct tu_echo *ec = user;
	ec->cli_handshakes++;
	/* Everything at once, by reference: each chunk stays ours until its completion. */
	while (ec->sent < ECHO_BYTES) {
		struct chunk *ch = malloc(sizeof(*ch) + ECHO_CHUNK);
		int rc;
		if (ch == NULL) {
			TU_FAIL("out of memory");
			return;
		}
		memset(&ch->req, 0, sizeof(ch->req));
		ch->req.data = ch;
		ch->ec = ec;
		ch->seq = ec->next_seq;
		ch->len = ECHO_CHUNK;
		tu_pattern(ECHO_SEED, ec->sent, ch->data, ch->len);
		rc = tlsio_send_ref(c, &ch->req, ch->data, ch->len, chunk_done);
		if (rc != 0) {
			TU_FAIL("client: send #%" PRIu64 ": %s", ch->seq, tlsio_strerror(rc));
			free(ch);
			return;
		}
		tu_sha256_update(&ec->sha_sent, ch->data, ch->len);
		ec->next_seq++;
		ec->sent += ch->len;
	}
}

static void cli_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct tu_echo *ec = user;
	if (ec->bad_at == UINT64_MAX) {
		size_t bad = tu_pattern_check(ECHO_SEED, ec->echoed, data, len);
		if (bad != len)
			ec->bad_at = ec->echoed + bad;
	}
	tu_sha256_update(&ec->sha_echoed, data, len);
	ec->echoed += len;
	if (ec->echoed >= ECHO_BYTES) {
		ec->transfer_done = 1;
		ec->ticks_during_transfer = ec->app_ticks;
		tlsio_close(c);
		return;
	}
	if (ec->on_data != NULL)
		ec->on_data(ec);
}

static void cli_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct tu_echo *ec = user;
	ec->cli_closes++;
	ec->cli_status = status;
	ec->cli_alert = alert;
	ec->cli_closed_ms = tu_now_ms();
	ec->cli_stats.struct_size = sizeof(ec->cli_stats);
	tlsio_conn_stats(c, &ec->cli_stats);
	ec->client = NULL;
	if (ec->on_client_close != NULL)
		ec->on_client_close(ec);
}

static const tlsio_callbacks cli_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cli_handshake,
	.on_data = cli_data,
	.on_close = cli_close,
};

void tu_echo_start(struct tu_echo *ec, tlsio_loop *loop)
{
	tlsio_tls_opts so = {.struct_size = sizeof(tlsio_tls_opts), .cert_file = tu_cert("server.pem"), .key_file = tu_cert("server.key")};
	tlsio_tls_opts co = {.struct_size = sizeof(tlsio_tls_opts), .ca_file = tu_cert("ca.pem")};
	tlsio_conn_opts sopts = {.struct_size = sizeof(tlsio_conn_opts), .cb = &srv_cb, .user = ec};
	tlsio_conn_opts copts = {.struct_size = sizeof(tlsio_conn_opts), .cb = &cli_cb, .user = ec, .server_name = "localhost"};
	void (*on_data)(struct tu_echo *) = ec->on_data, (*on_client_close)(struct tu_echo *) = ec->on_client_close;
	void *app = ec->app;
	char addr[64];
	int rc;
	memset(ec, 0, sizeof(*ec));
	ec->on_data = on_data;
	ec->on_client_close = on_client_close;
	ec->app = app;
	ec->loop = loop;
	ec->bad_at = UINT64_MAX;
	ec->srv_status = ec->cli_status = 1;
	tu_sha256_init(&ec->sha_sent);
	tu_sha256_init(&ec->sha_echoed);
	ck_assert_int_eq(tlsio_tls_config_new(&ec->scfg, 1, &so, NULL), 0);
	ck_assert_int_eq(tlsio_tls_config_new(&ec->ccfg, 0, &co, NULL), 0);
	rc = tlsio_listen(loop, "127.0.0.1:0", ec->scfg, &sopts, srv_accept, ec, &ec->listener);
	ck_assert_msg(rc == 0, "tlsio_listen: %s", tlsio_strerror(rc));
	ck_assert_int_eq(tlsio_listener_addr(ec->listener, addr, sizeof(addr)), 0);
	rc = tlsio_connect(loop, addr, ec->ccfg, &copts, &ec->client);
	ck_assert_msg(rc == 0, "tlsio_connect: %s", tlsio_strerror(rc));
}

void tu_echo_check(struct tu_echo *ec, const char *run, uint64_t t0)
{
	uint8_t md_sent[32], md_echoed[32];
	char hs[65], he[65];
	tu_sha256_final(&ec->sha_sent, md_sent);
	tu_sha256_final(&ec->sha_echoed, md_echoed);
	tu_hex(md_sent, 32, hs);
	tu_hex(md_echoed, 32, he);
	tu_log("%s returned after %" PRIu64 " ms: sent %" PRIu64 " (sha256 %s), echoed %" PRIu64
	       " (sha256 %s); app ticks %u (%u during the transfer); client %s; writes %" PRIu64
	       " short %" PRIu64, run, ec->run_returned_ms - t0, ec->sent, hs, ec->echoed, he,
	       ec->app_ticks, ec->ticks_during_transfer, tlsio_strerror(ec->cli_status),
	       ec->cli_stats.write_calls, ec->cli_stats.short_writes);
	ck_assert_msg(tu_failed() == 0, "%s", tu_failure());
	ck_assert_msg(ec->cli_closes == 1 && ec->srv_closes == 1,
	              "%s returned before both on_close calls: client %d, server %d", run,
	              ec->cli_closes, ec->srv_closes);
	ck_assert_msg(ec->cli_status == 0 && ec->srv_status == 0, "statuses: client %d (%s), server %d (%s)",
	              ec->cli_status, tlsio_strerror(ec->cli_status), ec->srv_status,
	              tlsio_strerror(ec->srv_status));
	ck_assert_int_eq(ec->srv_accepts, 1);
	ck_assert_int_eq(ec->srv_peer_closes, 1);
	ck_assert_int_eq(ec->cli_handshakes, 1);
	ck_assert_msg(ec->sent == ECHO_BYTES && ec->echoed == ECHO_BYTES && ec->srv_bytes == ECHO_BYTES,
	              "sent %" PRIu64 ", server got %" PRIu64 ", echoed %" PRIu64, ec->sent,
	              ec->srv_bytes, ec->echoed);
	ck_assert_msg(ec->bad_at == UINT64_MAX, "echo differs from the stream at byte %" PRIu64, ec->bad_at);
	ck_assert_msg(memcmp(md_sent, md_echoed, 32) == 0, "SHA-256 sent %s != echoed %s", hs, he);
	ck_assert_msg(ec->completions == ec->next_seq && ec->compl_ok == ec->next_seq && !ec->order_error,
	              "completions %" PRIu64 " (ok %" PRIu64 ") of %" PRIu64 ", order error %d",
	              ec->completions, ec->compl_ok, ec->next_seq, ec->order_error);
	ck_assert_msg(ec->ticks_during_transfer > 0, "the application's own watcher never ran during "
	              "the transfer: the library held the loop");
}

void tu_echo_free(struct tu_echo *ec)
{
	tlsio_tls_config_free(ec->scfg);
	tlsio_tls_config_free(ec->ccfg);
	ec->scfg = ec->ccfg = NULL;
}

int tu_silent_listener(char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}
