/* SPDX-License-Identifier: MIT */
/* tlsio-echo: a TLS echo server. Every byte a client sends comes back to it, in order, also when
 * the client sends faster than it reads (backpressure pauses reading instead of dropping data).
 * With --starttls smtp each connection starts as the plaintext part of an SMTP server (RFC 3207)
 * and becomes the echo once the client's STARTTLS switched it to TLS (tlsio_starttls()). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

#define PROG "tlsio-echo"

enum {
	OPT_LISTEN = TLSX_OPT_TOOL,
	OPT_VERIFY,
	OPT_MAX_CONNS,
	OPT_HIGH_WATER,
	OPT_SNI,
	OPT_STRICT_SNI,
	OPT_CIPHERS,
	OPT_HS_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_THREADS,
	OPT_STARTTLS,
};

#define MAX_SNI 8
/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF; a command line is
 * shorter still, so nothing a client legitimately sends before STARTTLS comes near it. */
#define SMTP_LINE_MAX 1000

/* --sni NAME=CERT:KEY: a certificate chosen by the name the client asks for. */
struct sni_entry {
	const char *name, *cert, *key;
	tlsio_tls_config *cfg;
};

struct echo_conn;

/* The settings, then one thread's state: with --threads N each thread gets a copy of the
 * parsed settings and its own loop, listener, connections and counters. */
struct echo_server {
	struct tlsx_common co;
	const char *listen_addr;   /* NULL: --unix, or the default */
	struct tlsx_addrs addrs;
	int starttls;              /* --starttls smtp */
	int verify;
	uint64_t max_conns;
	size_t high_water, low_water;
	struct sni_entry sni[MAX_SNI];
	int nsni, strict_sni;
	const char *ciphers;
	uint64_t hs_timeout_ms, idle_timeout_ms;
	int threads;
	tlsio_tls_config *cfg;     /* shared by every thread, like the --sni ones */
	tlsio_tls_config *listen_cfg; /* cfg, or NULL: --plain, --starttls (TLS comes later) */
	tlsio_conn_opts copts;

	/* Per thread from here on, from a cache line of its own: no false sharing with the
	 * neighbouring thread's state (the workers are one aligned array). */
	_Alignas(64) int index;    /* thread number, 0 .. threads-1 */
	int started;               /* listened: has a summary to print */
	tlsio_loop *loop;
	tlsio_listener *listener[TLSX_MAX_LISTEN];
	struct echo_conn *conns;   /* open connections, for the shutdown */
	int shutting_down;

	uint64_t accepted, closed, failed, bytes_echoed, pauses, stashed;
};

/* --max-conns counts the connections of every thread. */
static atomic_uint_fast64_t total_closed;

struct echo_conn {
	struct echo_conn *prev, *next;
	struct echo_server *srv;
	tlsio_conn *c;
	uint64_t id;
	/* Bytes a refused tlsio_send() could not take. on_data's buffer dies with the call, so they
	 * are kept here until on_drain says the queue has room again. */
	uint8_t *stash;
	size_t stash_len, stash_cap;
	int paused;       /* we called tlsio_read_stop() */
	int close_wanted; /* close as soon as the stash is handed over */
	int close_sent;   /* tlsio_close() called */
	/* --starttls smtp: the command line being read, until STARTTLS (then freed) */
	char *line;
	size_t line_len;
	int smtp;         /* in the SMTP plaintext dialogue */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --cert FILE --key FILE [options]\n"
		"       " PROG " --plain [options]\n"
		"\n"
		"TLS echo server: sends every byte it receives back to the sender. Prints\n"
		"'listening on ADDR' on stdout (a line per address) once it accepts connections.\n"
		"SIGINT/SIGTERM stop accepting and close every connection gracefully, aborting\n"
		"those still open after %d s (a second signal aborts them at once, a third exits\n"
		"at once); a summary line goes to stderr (with --threads, one per thread,\n"
		"'thread K: ...', then the total).\n"
		"\n"
		"Options:\n"
		"  --listen ADDR        address to listen on (default 127.0.0.1:0; port 0 picks\n"
		"                       a free one): IP:PORT, [IPv6]:PORT, unix:PATH, unix:@NAME,\n"
		"                       fd:N (a listening socket this process inherited), or\n"
		"                       'systemd': every socket systemd socket activation passed\n"
		"                       ($LISTEN_FDS; a .socket unit, systemd-socket-activate)\n"
		"  --cert FILE          PEM certificate chain (required, unless --plain)\n"
		"  --key FILE           PEM private key (required, unless --plain)\n"
		"  --ca FILE            PEM CA bundle used to verify client certificates\n"
		"  --verify             require a client certificate signed by --ca\n"
		"  --max-conns N        exit after N connections have closed (default 0: never)\n"
		"  --high-water BYTES   per-connection send queue limit; reading pauses\n"
		"                       while it is reached (default 16M, the library's)\n"
		"  --sni NAME=CERT:KEY  serve CERT/KEY to clients asking for NAME (SNI, chosen\n"
		"                       from the ClientHello); repeatable, up to 8\n"
		"  --strict-sni         refuse a client whose SNI names no --sni entry, with\n"
		"                       the unrecognized_name alert (no SNI: default cert)\n"
		"  --ciphers LIST       wolfSSL cipher list (e.g. TLS13-CHACHA20-POLY1305-SHA256)\n"
		"  --handshake-timeout MS  end a handshake not done in MS (default 0: none)\n"
		"  --idle-timeout MS    end a connection silent for MS (default 0: none)\n"
		"  --threads N          N threads, each with its own loop and its own SO_REUSEPORT\n"
		"                       listener on the same address; the kernel spreads the\n"
		"                       connections (default 1; 0: one per CPU); sockets passed\n"
		"                       in (fd:N, systemd) are shared by the threads instead\n"
		"  --starttls smtp      start every connection in plaintext as an SMTP server\n"
		"                       (RFC 3207): greeting, EHLO/HELO, NOOP, QUIT, and\n"
		"                       STARTTLS, which switches it to TLS (--cert/--key), after\n"
		"                       which it is the echo; other commands get 530. A line over\n"
		"                       %d bytes is refused (500) and the connection closed, and\n"
		"                       so is one with bytes after its STARTTLS line (command\n"
		"                       injection, CVE-2011-0411), without an answer\n"
		"%s"
		"%s"
		"\n"
		"Exit status: 0 after a signal or --max-conns (counted over all threads), 1 on a\n"
		"runtime error, 2 on bad usage.\n",
		TLSX_DRAIN_MS / 1000, SMTP_LINE_MAX, tlsx_server_help, tlsx_common_help);
}

/* ------------------------------------------------------------------------------------------ */

static void conn_unlink(struct echo_conn *ec)
{
	struct echo_server *srv = ec->srv;
	if (ec->prev != NULL)
		ec->prev->next = ec->next;
	else
		srv->conns = ec->next;
	if (ec->next != NULL)
		ec->next->prev = ec->prev;
	ec->prev = ec->next = NULL;
}

static int stash_append(struct echo_conn *ec, const uint8_t *data, size_t len)
{
	if (ec->stash_len + len > ec->stash_cap) {
		size_t cap = ec->stash_cap ? ec->stash_cap : 64 * 1024;
		uint8_t *p;
		while (cap < ec->stash_len + len)
			cap *= 2;
		p = realloc(ec->stash, cap);
		if (p == NULL)
			return -1;
		ec->stash = p;
		ec->stash_cap = cap;
	}
	memcpy(ec->stash + ec->stash_len, data, len);
	ec->stash_len += len;
	return 0;
}

static void pause_reading(struct echo_conn *ec)
{
	if (!ec->paused) {
		ec->paused = 1;
		ec->srv->pauses++;
		tlsio_read_stop(ec->c);
	}
}

static void conn_close(struct echo_conn *ec)
{
	if (!ec->close_sent) {
		ec->close_sent = 1;
		tlsio_close(ec->c);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* --starttls smtp: the plaintext part of an SMTP server, up to STARTTLS (RFC 3207) */

static void smtp_reply(struct echo_conn *ec, const char *text)
{
	int rc = tlsio_send(ec->c, text, strlen(text));
	/* A few short replies, one per command line: a refusal means the client sends commands
	 * without reading the answers, far past any sane pipelining. */
	if (rc < 0 && rc != TLSIO_E_CLOSED)
		tlsio_abort(ec->c);
}

static void smtp_end(struct echo_conn *ec)
{
	ec->smtp = 0;
	free(ec->line);
	ec->line = NULL;
	ec->line_len = 0;
}

static int smtp_verb(const char *line, size_t len, const char *verb)
{
	size_t n = strlen(verb);
	return len >= n && strncasecmp(line, verb, n) == 0 && (len == n || line[n] == ' ');
}

/* One complete command line (CRLF stripped). @p more: bytes follow it in the same read. */
static void smtp_command(struct echo_conn *ec, const char *line, size_t len, int more)
{
	struct echo_server *srv = ec->srv;
	if (smtp_verb(line, len, "EHLO")) {
		smtp_reply(ec, "250-tlsio-echo\r\n250 STARTTLS\r\n");
	} else if (smtp_verb(line, len, "HELO")) {
		smtp_reply(ec, "250 tlsio-echo\r\n");
	} else if (smtp_verb(line, len, "NOOP")) {
		/* RFC 3207 section 4: NOOP, EHLO, STARTTLS and QUIT are allowed before TLS */
		smtp_reply(ec, "250 2.0.0 OK\r\n");
	} else if (smtp_verb(line, len, "QUIT")) {
		smtp_reply(ec, "221 2.0.0 Bye\r\n");
		smtp_end(ec);
		conn_close(ec);
	} else if (len == 8 && strncasecmp(line, "STARTTLS", 8) == 0) {
		int rc;
		smtp_end(ec);
		/* Whatever came with the command was written before the client could have seen our
		 * 220: plaintext an attacker can inject and that would otherwise be taken as sent
		 * under TLS (CVE-2011-0411). The library drops plaintext it still holds; the rest of
		 * this read is ours to refuse. */
		if (more) {
			if (!srv->co.quiet)
				fprintf(stderr, PROG ": connection %" PRIu64 ": bytes after STARTTLS in the same "
				        "read (command injection): closing without an answer\n", ec->id);
			conn_close(ec);
			return;
		}
		smtp_reply(ec, "220 2.0.0 Ready to start TLS\r\n");
		rc = tlsio_starttls(ec->c, srv->cfg);
		if (rc < 0) {
			if (!srv->co.quiet)
				fprintf(stderr, PROG ": connection %" PRIu64 ": STARTTLS: %s, aborting it\n",
				        ec->id, tlsio_strerror(rc));
			tlsio_abort(ec->c);
		}
	} else {
		smtp_reply(ec, "530 5.7.0 Must issue a STARTTLS command first\r\n");
	}
}

static void smtp_input(struct echo_conn *ec, const uint8_t *data, size_t len)
{
	while (len > 0 && ec->smtp && !ec->close_sent) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t take = nl != NULL ? (size_t)(nl - data) + 1 : len, n;
		if (ec->line_len + take > SMTP_LINE_MAX) {
			smtp_reply(ec, "500 5.5.2 Line too long\r\n");
			smtp_end(ec);
			conn_close(ec);
			return;
		}
		memcpy(ec->line + ec->line_len, data, take);
		ec->line_len += take;
		data += take;
		len -= take;
		if (nl == NULL)
			return; /* the rest of the line comes in a later read */
		n = ec->line_len - 1;
		if (n > 0 && ec->line[n - 1] == '\r')
			n--;
		ec->line_len = 0;
		smtp_command(ec, ec->line, n, len > 0);
	}
}

/* Established: a plain connection (--starttls) greets; the TLS handshake after STARTTLS, or
 * of a TLS listener, needs nothing from us. */
static void on_handshake(tlsio_conn *c, void *user)
{
	struct echo_conn *ec = user;
	if (ec != NULL && ec->smtp && !tlsio_conn_is_tls(c))
		smtp_reply(ec, "220 tlsio-echo ESMTP ready\r\n");
}

/* ------------------------------------------------------------------------------------------ */

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct echo_conn *ec = user;
	int rc;
	if (ec == NULL || ec->close_sent)
		return;
	if (ec->smtp) {
		smtp_input(ec, data, len);
		return;
	}
	/* Already holding bytes back: newer bytes must queue behind them, or the order breaks. */
	if (ec->stash_len > 0) {
		rc = TLSIO_E_QUEUE_FULL;
	} else {
		rc = tlsio_send(c, data, len);
		if (rc == 0) {
			ec->srv->bytes_echoed += len;
			/* The next send would be refused: stop reading now rather than stash. */
			if (tlsio_conn_queued(c) >= ec->srv->high_water)
				pause_reading(ec);
			return;
		}
	}
	if (rc == TLSIO_E_QUEUE_FULL) {
		ec->srv->stashed++;
		if (stash_append(ec, data, len) < 0) {
			if (!ec->srv->co.quiet)
				fprintf(stderr, PROG ": connection %" PRIu64 ": out of memory, aborting it\n",
				        ec->id);
			tlsio_abort(c);
			return;
		}
		pause_reading(ec);
		return;
	}
	if (rc == TLSIO_E_CLOSED)
		return; /* ending anyway; on_close tells how */
	if (!ec->srv->co.quiet)
		fprintf(stderr, PROG ": connection %" PRIu64 ": send: %s, aborting it\n", ec->id,
		        tlsio_strerror(rc));
	tlsio_abort(c);
}

static void on_drain(tlsio_conn *c, void *user)
{
	struct echo_conn *ec = user;
	if (ec == NULL || ec->close_sent)
		return;
	if (ec->stash_len > 0) {
		int rc = tlsio_send(c, ec->stash, ec->stash_len);
		if (rc == TLSIO_E_QUEUE_FULL)
			return; /* still full: the next drain retries */
		if (rc < 0) {
			if (rc != TLSIO_E_CLOSED) {
				if (!ec->srv->co.quiet)
					fprintf(stderr, PROG ": connection %" PRIu64 ": send: %s, aborting it\n",
					        ec->id, tlsio_strerror(rc));
				tlsio_abort(c);
			}
			return;
		}
		ec->srv->bytes_echoed += ec->stash_len;
		ec->stash_len = 0;
		/* A large stash is a burst; give the memory back rather than keep the peak. */
		if (ec->stash_cap > 1024 * 1024) {
			free(ec->stash);
			ec->stash = NULL;
			ec->stash_cap = 0;
		}
	}
	if (ec->close_wanted) {
		conn_close(ec);
		return;
	}
	if (ec->paused && tlsio_conn_queued(c) < ec->srv->high_water) {
		ec->paused = 0;
		tlsio_read_start(c);
	}
}

static void on_peer_close(tlsio_conn *c, void *user)
{
	struct echo_conn *ec = user;
	(void)c;
	if (ec == NULL)
		return;
	/* The peer is done sending, but the echo of what it sent may still be held back. */
	if (ec->stash_len > 0)
		ec->close_wanted = 1;
	else
		conn_close(ec);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct echo_conn *ec = user;
	struct echo_server *srv;
	(void)c;
	if (ec == NULL)
		return; /* aborted in on_accept before it got its state */
	srv = ec->srv;
	srv->closed++;
	/* The one close that reaches the count stops every thread's loop (this one too). */
	if (atomic_fetch_add(&total_closed, 1) + 1 == srv->max_conns) /* 0 (no limit): never */
		tlsx_stop_all();
	if (status != 0) {
		srv->failed++;
		if (!srv->co.quiet) {
			char what[64];
			snprintf(what, sizeof(what), "connection %" PRIu64 " closed", ec->id);
			tlsx_print_status(PROG, what, status, alert);
		}
	}
	conn_unlink(ec);
	free(ec->stash);
	free(ec->line);
	free(ec);
}

static int on_client_hello(tlsio_conn *c, const tlsio_client_hello *hello, tlsio_tls_config **cfg,
                           void *user)
{
	struct echo_conn *ec = user;
	struct echo_server *srv = ec != NULL ? ec->srv : NULL;
	(void)c;
	if (srv == NULL || hello->server_name == NULL)
		return 0;
	for (int i = 0; i < srv->nsni; i++) {
		if (strcasecmp(srv->sni[i].name, hello->server_name) == 0) {
			*cfg = srv->sni[i].cfg;
			return 0;
		}
	}
	if (srv->strict_sni) {
		if (!srv->co.quiet)
			fprintf(stderr, PROG ": refusing a client asking for '%s'\n", hello->server_name);
		return TLSIO_ALERT_UNRECOGNIZED_NAME;
	}
	return 0;
}

static const tlsio_callbacks echo_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake,
	.on_client_hello = on_client_hello,
	.on_data = on_data,
	.on_drain = on_drain,
	.on_peer_close = on_peer_close,
	.on_close = on_close,
};

static void on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct echo_server *srv = user;
	struct echo_conn *ec = calloc(1, sizeof(*ec));
	(void)l;
	if (ec == NULL) {
		if (!srv->co.quiet)
			fprintf(stderr, PROG ": out of memory, refusing a connection\n");
		tlsio_abort(c);
		return;
	}
	ec->srv = srv;
	ec->c = c;
	ec->id = ++srv->accepted;
	if (srv->starttls) {
		ec->line = malloc(SMTP_LINE_MAX);
		if (ec->line == NULL) {
			free(ec);
			tlsio_abort(c);
			return;
		}
		ec->smtp = 1;
	}
	ec->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = ec;
	srv->conns = ec;
	tlsio_conn_set_user(c, ec);
}

/* ------------------------------------------------------------------------------------------ */

/* At shutdown the echo of every byte read so far still goes out before close_notify: a stash
 * is handed to the send queue past high water (the bytes are in memory already; the queue takes
 * them over), since after the drain's tlsio_close() no on_drain would send it. */
static void stash_flush(struct echo_conn *ec)
{
	if (ec->stash_len == 0)
		return;
	tlsio_conn_set_watermarks(ec->c, ec->srv->low_water, SIZE_MAX);
	if (tlsio_send(ec->c, ec->stash, ec->stash_len) == 0)
		ec->srv->bytes_echoed += ec->stash_len;
	ec->stash_len = 0;
	free(ec->stash);
	ec->stash = NULL;
	ec->stash_cap = 0;
}

static void abort_all(struct echo_server *srv)
{
	struct echo_conn *ec;
	for (ec = srv->conns; ec != NULL;) {
		if (ec->close_sent != 2) {
			ec->close_sent = 2; /* 2: aborted; keeps the walk from coming back to it */
			tlsio_abort(ec->c);
			ec = srv->conns;
			continue;
		}
		ec = ec->next;
	}
}

/* A signal, --max-conns (on any thread) or a thread that failed: runs on this thread's loop.
 * The drain stops accepting, closes every connection and ends echo_run's tlsio_loop_run(). */
static void echo_stop(tlsio_loop *loop, int how, void *user)
{
	struct echo_server *srv = user;
	if (!srv->shutting_down) {
		int rc;
		srv->shutting_down = 1;
		for (struct echo_conn *ec = srv->conns; ec != NULL; ec = ec->next) {
			stash_flush(ec);
			if (!ec->close_sent)
				ec->close_sent = 1; /* the drain calls tlsio_close() */
		}
		rc = tlsio_loop_drain(loop, TLSX_DRAIN_MS, tlsx_drained, &srv->co);
		if (rc < 0) {
			/* Without a drain the run still ends once nothing is left: close it all here. */
			fprintf(stderr, PROG ": shutdown without a deadline: cannot drain the loop: %s\n",
			        tlsio_strerror(rc));
			tlsx_listeners_close(srv->listener);
			for (struct echo_conn *ec = srv->conns; ec != NULL; ec = ec->next)
				tlsio_close(ec->c);
		}
		/* closed, by the drain or above */
		memset(srv->listener, 0, sizeof(srv->listener));
	}
	if (how == TLSX_STOP_ABORT)
		abort_all(srv);
}

static int parse_args(struct echo_server *srv, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		TLSX_SERVER_LONGOPTS,
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"starttls", required_argument, NULL, OPT_STARTTLS},
		{"verify", no_argument, NULL, OPT_VERIFY},
		{"max-conns", required_argument, NULL, OPT_MAX_CONNS},
		{"high-water", required_argument, NULL, OPT_HIGH_WATER},
		{"sni", required_argument, NULL, OPT_SNI},
		{"strict-sni", no_argument, NULL, OPT_STRICT_SNI},
		{"ciphers", required_argument, NULL, OPT_CIPHERS},
		{"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"threads", required_argument, NULL, OPT_THREADS},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int rc = tlsx_common_opt(&srv->co, opt, optarg);
		uint64_t v;
		if (rc < 0)
			return TLSX_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(TLSX_EXIT_OK);
		case OPT_LISTEN:
			srv->listen_addr = optarg;
			break;
		case OPT_VERIFY:
			srv->verify = 1;
			break;
		case OPT_MAX_CONNS:
			if (tlsx_parse_u64(optarg, &srv->max_conns) < 0) {
				fprintf(stderr, PROG ": bad value for --max-conns: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_HIGH_WATER:
			if (tlsx_parse_size(optarg, &v) < 0 || v == 0 || v > SIZE_MAX) {
				fprintf(stderr, PROG ": bad value for --high-water: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			srv->high_water = (size_t)v;
			break;
		case OPT_SNI: {
			struct sni_entry *e = &srv->sni[srv->nsni];
			char *eq = strchr(optarg, '='), *colon = eq != NULL ? strchr(eq, ':') : NULL;
			if (srv->nsni >= MAX_SNI || eq == NULL || colon == NULL || eq == optarg ||
			    colon == eq + 1 || colon[1] == '\0') {
				fprintf(stderr, PROG ": bad --sni '%s' (NAME=CERT:KEY, at most %d)\n", optarg,
				        MAX_SNI);
				return TLSX_EXIT_USAGE;
			}
			*eq = '\0';
			*colon = '\0';
			e->name = optarg;
			e->cert = eq + 1;
			e->key = colon + 1;
			srv->nsni++;
			break;
		}
		case OPT_STRICT_SNI:
			srv->strict_sni = 1;
			break;
		case OPT_CIPHERS:
			srv->ciphers = optarg;
			break;
		case OPT_HS_TIMEOUT:
		case OPT_IDLE_TIMEOUT:
			if (tlsx_parse_u64(optarg, opt == OPT_HS_TIMEOUT ? &srv->hs_timeout_ms
			                                                 : &srv->idle_timeout_ms) < 0) {
				fprintf(stderr, PROG ": bad value for a timeout: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_THREADS:
			if (tlsx_parse_threads(optarg, &srv->threads) < 0) {
				fprintf(stderr, PROG ": bad value for --threads: '%s' (0 to %d)\n", optarg,
				        TLSX_MAX_LOOPS);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_STARTTLS:
			if (strcmp(optarg, "smtp") != 0) {
				fprintf(stderr, PROG ": bad value for --starttls: '%s' (expected smtp)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			srv->starttls = 1;
			break;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return TLSX_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n", argv[optind]);
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* one server per thread (tlsx_run_servers) */

static int echo_start(void *worker, const struct tlsx_addrs *addrs, int shared,
                      struct tlsx_addrs *bound)
{
	struct echo_server *srv = worker;
	int rc = tlsx_server_listen(&srv->co, addrs, shared, srv->listen_cfg, &srv->copts, on_accept,
	                            echo_stop, srv, &srv->loop, srv->listener, bound);
	if (rc == 0)
		srv->started = 1;
	return rc;
}

static int echo_run(void *worker)
{
	struct echo_server *srv = worker;
	/* Serves until echo_stop's drain ends the run. */
	int rc = tlsio_loop_run(srv->loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	return TLSX_EXIT_OK;
}

static void echo_finish(void *worker)
{
	struct echo_server *srv = worker;
	tlsx_signals_unwatch(srv->loop);
	/* On this thread: tlsio_loop_free releases the thread's TLS caches too. */
	tlsio_loop_free(srv->loop);
	srv->loop = NULL;
	memset(srv->listener, 0, sizeof(srv->listener));
}

static void echo_listening(const struct tlsx_addrs *bound, void *arg)
{
	struct echo_server *srv = arg;
	for (int i = 0; i < bound->n; i++)
		printf("listening on %s\n", bound->addr[i]);
	fflush(stdout);
	if (!srv->co.quiet) {
		const tlsio_backend *b = tlsio_backend_by_name(srv->co.backend);
		fprintf(stderr, PROG ": backend %s", tlsio_backend_name(b));
		if (srv->threads > 1)
			fprintf(stderr, ", %d threads (%s)", srv->threads,
			        tlsx_addrs_inherited(&srv->addrs)
			                ? "one loop each, sharing the inherited sockets' accept queues"
			                : "one loop and one SO_REUSEPORT listener each");
		fputc('\n', stderr);
		if (srv->starttls)
			fprintf(stderr, PROG ": plaintext SMTP until STARTTLS, then TLS\n");
		if (srv->cfg != NULL)
			fprintf(stderr, PROG ": crypto: %s%s\n", tlsio_crypto_info(),
			        srv->ciphers != NULL ? " (overridden by --ciphers)" : "");
		else
			fprintf(stderr, PROG ": plain (--plain): no TLS\n");
	}
}

static void print_summary(const char *who, const struct echo_server *s)
{
	fprintf(stderr, PROG ": %s%" PRIu64 " connection%s (%" PRIu64 " failed), %" PRIu64
	        " bytes echoed", who, s->closed, s->closed == 1 ? "" : "s", s->failed, s->bytes_echoed);
	if (s->pauses > 0)
		fprintf(stderr, ", reading paused %" PRIu64 " times (%" PRIu64 " on a refused send)",
		        s->pauses, s->stashed);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static const struct tlsx_server_ops ops = {echo_start, echo_run, echo_finish};
	struct echo_server srv, sum, *workers = NULL;
	const tlsio_backend *backend;
	tlsio_tls_opts topts;
	int rc, ret = TLSX_EXIT_FAIL, need_tls;

	memset(&srv, 0, sizeof(srv));
	srv.co.prog = PROG;
	srv.threads = 1;
	rc = parse_args(&srv, argc, argv);
	if (rc != 0)
		return rc;
	if (srv.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	/* --starttls: the listener is plain, the TLS configuration is for the switch */
	need_tls = !srv.co.plain || srv.starttls;
	if (need_tls && (srv.co.cert == NULL || srv.co.key == NULL)) {
		fprintf(stderr, PROG ": a %sserver needs a certificate and its key: --cert FILE --key FILE\n"
		                "(for a test run: --cert tests/certs/server.pem --key tests/certs/server.key;"
		                " no TLS at all: --plain)\n", srv.starttls ? "STARTTLS " : "TLS ");
		return TLSX_EXIT_USAGE;
	}
	if (srv.co.plain && !srv.starttls &&
	    (srv.verify || srv.nsni > 0 || srv.strict_sni || srv.ciphers != NULL)) {
		fprintf(stderr, PROG ": --plain has no TLS: --verify, --sni, --strict-sni and --ciphers "
		                "do not apply\n");
		return TLSX_EXIT_USAGE;
	}
	if (srv.starttls)
		srv.co.plain = 1;
	rc = tlsx_server_addrs(&srv.co, srv.listen_addr, "127.0.0.1:0", srv.threads, &srv.addrs);
	if (rc != 0)
		return rc;
	if (srv.verify && srv.co.ca == NULL) {
		fprintf(stderr, PROG ": --verify needs --ca FILE (the CA that signs client certificates)\n");
		return TLSX_EXIT_USAGE;
	}
	rc = tlsx_backend(&srv.co, &backend);
	if (rc != 0)
		return rc;
	/* Every thread looks the backend up by this name: the one checked above. */
	srv.co.backend = tlsio_backend_name(backend);
	/* The documented default, made explicit: the pause logic compares against it. */
	if (srv.high_water == 0)
		srv.high_water = 16u * 1024 * 1024;
	/* Resume once a quarter is left: late enough to batch, early enough to keep the pipe full. */
	srv.low_water = srv.high_water / 4;

	/* Before any thread: a signal during the start must not find the default action (a stop
	 * asked then reaches each loop as it is watched). */
	rc = tlsx_signals_install(3);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot install signal handlers: %s\n", tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	tlsx_tls_opts(&srv.co, &topts);
	if (srv.verify)
		topts.verify = TLSIO_VERIFY_REQUIRED;
	if (srv.ciphers != NULL)
		topts.ciphers = srv.ciphers;
	if (need_tls && tlsx_tls_config(&srv.co, 1, &topts, &srv.cfg) != 0)
		goto out;
	srv.listen_cfg = srv.co.plain ? NULL : srv.cfg;
	for (int i = 0; i < srv.nsni; i++) {
		tlsio_tls_opts so = topts;
		so.cert_file = srv.sni[i].cert;
		so.key_file = srv.sni[i].key;
		if (tlsx_tls_config(&srv.co, 1, &so, &srv.sni[i].cfg) != 0)
			goto out;
	}

	tlsx_conn_opts(&srv.co, &srv.copts);
	srv.copts.cb = &echo_callbacks;
	srv.copts.user = NULL; /* each connection gets its own state in on_accept */
	srv.copts.high_water = srv.high_water;
	srv.copts.low_water = srv.low_water;
	srv.copts.handshake_timeout_ms = (unsigned)srv.hs_timeout_ms;
	srv.copts.idle_timeout_ms = (unsigned)srv.idle_timeout_ms;

	/* sizeof is a multiple of the 64-byte alignment, so every worker starts a cache line */
	workers = aligned_alloc(64, (size_t)srv.threads * sizeof(*workers));
	if (workers == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	for (int i = 0; i < srv.threads; i++) {
		workers[i] = srv;
		workers[i].index = i;
	}
	ret = tlsx_run_servers(srv.threads, workers, sizeof(*workers), &ops, &srv.addrs,
	                       echo_listening, &srv);
	/* The threads are joined: their counters are final. */
	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < srv.threads; i++) {
		struct echo_server *w = &workers[i];
		char who[32];
		if (!w->started)
			continue;
		sum.started = 1;
		sum.closed += w->closed;
		sum.failed += w->failed;
		sum.bytes_echoed += w->bytes_echoed;
		sum.pauses += w->pauses;
		sum.stashed += w->stashed;
		snprintf(who, sizeof(who), "thread %d: ", i);
		if (srv.threads > 1)
			print_summary(who, w);
	}
	if (sum.started)
		print_summary("", &sum);

out:
	free(workers);
	tlsio_tls_config_free(srv.cfg);
	for (int i = 0; i < srv.nsni; i++)
		tlsio_tls_config_free(srv.sni[i].cfg);
	return ret;
}
