/* SPDX-License-Identifier: MIT */
/* An 8 MiB TLS echo with both ends on one loop that the application runs itself (an ev_loop in
 * test-libev, a uv_loop_t in test-libuv): the client sends everything by reference at the
 * handshake, the server echoes, the client checks order, completions and SHA-256, then closes;
 * the server closes the listener from its on_close, so nothing of the library is left and the
 * application's run must end by itself. The loop-specific parts are the caller's hooks. */
#ifndef TLSIO_TESTS_APP_ECHO_H
#define TLSIO_TESTS_APP_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"
#include "tlsio.h"

struct tu_echo {
	tlsio_loop *loop; /* the caller's, on its application loop */
	tlsio_listener *listener;
	tlsio_tls_config *scfg, *ccfg;
	/* server */
	int srv_accepts, srv_closes, srv_status, srv_peer_closes;
	uint64_t srv_bytes;
	/* client */
	tlsio_conn *client;
	int cli_handshakes, cli_closes, cli_status, cli_alert;
	uint64_t sent, echoed, completions, compl_ok, next_seq;
	int order_error;
	tu_sha256 sha_sent, sha_echoed;
	uint64_t bad_at;
	tlsio_stats cli_stats;
	/* the application's own watcher: it counts its ticks into app_ticks */
	unsigned app_ticks, ticks_during_transfer;
	int transfer_done;
	uint64_t run_returned_ms, cli_closed_ms;
	/* hooks: after a data callback of either side (libev: a nested ev_run now and then);
	 * when the client's on_close ran (the application stops its own watcher) */
	void (*on_data)(struct tu_echo *ec);
	void (*on_client_close)(struct tu_echo *ec);
	void *app;
};

/** Zero @p ec, then the listener and the client connection on @p loop (the run is the
 * caller's). */
void tu_echo_start(struct tu_echo *ec, tlsio_loop *loop);
/** After the run returned (@p t0: when it began; @p run: its name for the log): everything
 * arrived in order and intact, every completion fired once in order, both on_close ran with
 * success, and the application's watcher ran during the transfer. */
void tu_echo_check(struct tu_echo *ec, const char *run, uint64_t t0);
/** The TLS configurations (after tlsio_loop_free). */
void tu_echo_free(struct tu_echo *ec);

/** A TCP listener on 127.0.0.1 that completes connections (kernel backlog) but never speaks,
 * for the handshake deadline on an application's loop; "127.0.0.1:PORT" into @p addr.
 * @return its fd (the caller closes it) or -1. */
int tu_silent_listener(char *addr, size_t len);

#endif
