/* SPDX-License-Identifier: MIT */
/* A connection and a listener as the api/ files see them: core.c (the send queue, the record
 * layer, the close and failure paths, deadlines, the loop's run), listen.c (listeners),
 * connect.c (tlsio_connect: addresses, names, Happy Eyeballs) and resolve.c (the resolver
 * threads). Backends see none of this (backends/backend.h). */
#ifndef TLSIO_CONN_H
#define TLSIO_CONN_H

#include <stdint.h>

#include "tlsio.h"
#include "queue.h"
#include "timers.h"
#include "tls.h"

#define DEFAULT_HIGH_WATER (16u * 1024 * 1024)
/* Ciphertext kept encrypted ahead of the socket (see conn_encrypt). */
#define ENCRYPT_AHEAD (256u * 1024)
#define DEFAULT_LINGER_MS 5000u
#define DEFAULT_CONNECT_TIMEOUT_MS 30000u

enum conn_state {
	ST_CONNECTING, /* resolving, dialling (connect.c), or a connect the backend waits on */
	ST_HANDSHAKE,
	ST_OPEN,
	ST_FAILING, /* fatal error: flushing the alert, then a lingering close */
	ST_DEAD     /* handed to the backend's conn_close; freed after tlsio__conn_closed */
};

/* Ciphertext position at which a record's plaintext ends: lets sends complete when the kernel
 * has taken the record carrying their last byte. */
struct rec_mark {
	uint64_t ct_end, pt_end;
};

struct tlsio__dial; /* connect.c: a name being resolved and its addresses tried */

struct tlsio_conn {
	tlsio_loop *loop;
	tlsio_conn *prev, *next;   /* loop->conns */
	tlsio_conn *pend_next;     /* loop pending list */
	tlsio_conn *fin_next;      /* loop finalize list */
	int fd;                    /* -1 while a name is resolved and dialled */
	int is_server;
	enum conn_state state;
	unsigned pending : 1, finalizing : 1, in_input : 1, want_input : 1;
	unsigned read_paused : 1, close_req : 1, shut_req : 1, notify_sent : 1, wr_shut : 1;
	unsigned peer_notify : 1, peer_eof : 1, drain_armed : 1, hs_done : 1, bclosed : 1;
	unsigned timed_out : 1; /* ended by a deadline: see close_fd */
	unsigned zombie : 1;    /* released while still on a pending list: freed when it comes up */
	unsigned plain : 1;     /* TLSIO_CONN_PLAIN and no tlsio_starttls() yet: tls is NULL */
	unsigned announce : 1;  /* a plain connection is established: on_handshake in the next pump */
	tlsio_callbacks cb;
	void *user;
	void *bdata;
	tlsio_tls_config *cfg;
	tlsio__tls *tls;
	tlsio__ptq ptq;
	tlsio__ctq ctq;
	/* stream positions */
	uint64_t pt_queued, pt_encrypted, ct_produced, ct_sent;
	/* record marks, a ring: in marks_small while few records wait (a small response), on the
	 * heap during a bulk send, and back in marks_small once all are sent, so that a connection
	 * idle after traffic holds nothing here (it kept a 1 KiB ring for life before) */
	struct rec_mark *marks;
	size_t marks_head, marks_len, marks_cap;
	struct rec_mark marks_small[4];
	tlsio_send_req *req_head, *req_tail;
	size_t high_water, low_water;
	uint32_t linger_ms, hs_timeout_ms, idle_timeout_ms;
	uint64_t hs_deadline, idle_deadline, linger_deadline, connect_deadline;
	tlsio__timer timer;        /* loop->timers; due no later than the earliest deadline */
	int status;
	int alert;
	/* plain input that arrived while reading was paused (a plain connection has no TLS
	 * object to hold it) */
	uint8_t *hold;
	size_t hold_len;
	char *identity;            /* a plain client's name to verify at tlsio_starttls() */
	char *detail;              /* tlsio_conn_error_detail() */
	struct tlsio__dial *dial;  /* while resolving and dialling */
	tlsio_stats st;
};

struct tlsio_listener {
	tlsio_loop *loop;
	tlsio_listener *next;
	int fd;
	int closed;
	void *bdata;
	tlsio_tls_config *cfg;
	tlsio_conn_opts opts;
	tlsio_callbacks cb;
	char *server_name;
	char *unix_path;           /* the socket file this listener made (removed at close) */
	uint64_t unix_dev, unix_ino;
	tlsio_accept_cb on_accept;
	void *accept_user;
};

/* The caller's connection options and their callbacks, in the library's layout (abi.h). */
struct tlsio__conn_opts {
	tlsio_conn_opts o;
	tlsio_callbacks cb;
};

/* core.c, for listen.c and connect.c */
int tlsio__conn_opts_in(struct tlsio__conn_opts *co, const tlsio_conn_opts *opts);
/** The configuration fits the side and the flags: a TLS configuration of that side, or NULL
 * for a plain connection. 0, TLSIO_E_TLS_CONFIG or -EINVAL. */
int tlsio__check_cfg(tlsio_tls_config *cfg, int is_server, unsigned flags);
/** A new connection on @p fd (-1: not yet, see tlsio__conn_dialled) in the loop's list.
 * @p o: normalised (tlsio__conn_opts_in); @p identity: a client's expected server name. */
int tlsio__conn_new(tlsio_loop *loop, int fd, int is_server, tlsio_tls_config *cfg,
                    const tlsio_conn_opts *o, const char *identity, tlsio_conn **out);
/** Client TLS connections: key the session cache by "@p identity:@p port" (@p port NULL: the
 * connected socket's). 0 (also: nothing to do) or -ENOMEM. */
int tlsio__conn_session_key(tlsio_conn *c, const char *identity, const char *port);
/** Undo tlsio__conn_new for a connection no backend has seen yet; the fd stays the caller's. */
void tlsio__conn_discard(tlsio_conn *c);
void tlsio__conn_terminate(tlsio_conn *c, int status);
/** TCP_NODELAY and the buffer sizes of @p o. */
void tlsio__set_sockopts(int fd, const tlsio_conn_opts *o);
int tlsio__set_nonblock(int fd);
/** The backend takes the connection: a connecting socket (@p connecting), or one connected
 * already (the handshake starts). 0 or the backend's error (the caller still owns fd). */
int tlsio__conn_attach(tlsio_conn *c, int connecting);
/** connect.c found a connected socket for a connection that was dialling. */
void tlsio__conn_dialled(tlsio_conn *c, int fd);
/** Keep the connection's timer due no later than its earliest deadline. */
void tlsio__conn_arm_timer(tlsio_conn *c);

/* connect.c, for core.c */
/** Stop resolving and dialling: close the attempts, cancel the resolution (no callback of it
 * runs afterwards), free c->dial. */
void tlsio__dial_cancel(tlsio_conn *c);

#endif
