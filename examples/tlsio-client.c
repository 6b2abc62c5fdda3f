/* SPDX-License-Identifier: MIT */
/* tlsio-client: sends a deterministic pseudo-random byte stream to an echo server and checks
 * that exactly the same bytes come back (SHA-256 of both directions, plus the offset of the
 * first differing byte), then prints what the connection went through. With --starttls smtp
 * it first speaks the plaintext part of SMTP (RFC 3207) and switches to TLS in place. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

#define PROG "tlsio-client"

#define DEFAULT_BYTES (16u * 1024 * 1024)
#define DEFAULT_CHUNK (64u * 1024)
#define DEFAULT_WINDOW (1u * 1024 * 1024)
#define DEFAULT_WINDOW_BLOCKING (16u * 1024)
#define DEFAULT_HIGH_WATER (16u * 1024 * 1024) /* the library's documented default */

enum {
	OPT_CONNECT = TLSX_OPT_TOOL,
	OPT_INSECURE,
	OPT_SERVER_NAME,
	OPT_BYTES,
	OPT_CHUNK,
	OPT_WINDOW,
	OPT_MODE,
	OPT_SEED,
	OPT_TEXT,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_STARTTLS,
};

/* A reply line is at most 512 octets with its CRLF (RFC 5321 4.5.3.1.5); room for more. */
#define SMTP_LINE_MAX 1000

/* Where the SMTP dialogue before the switch stands. */
enum smtp_state {
	SMTP_OFF = 0,      /* no --starttls, or switched */
	SMTP_GREETING,     /* waiting for the server's 220 */
	SMTP_EHLO,         /* sent EHLO, reading the 250 lines */
	SMTP_STARTTLS      /* sent STARTTLS, waiting for 220 */
};

/* A by-reference send: the bytes live here until the library completes the request. */
struct chunk {
	tlsio_send_req req;
	struct client *cl;
	uint64_t seq;
	size_t len;
	uint8_t data[];
};

struct client {
	struct tlsx_common co;
	const char *connect_addr;
	const char *server_name;
	char addr[TLSX_ADDR_LEN]; /* what is connected to: --connect, or unix:PATH */
	int insecure, json, ref_mode, text;
	int starttls;          /* --starttls smtp */
	int plain_only;        /* --plain without --starttls: no TLS at all */
	uint64_t total, chunk, window, seed, timeout_s;
	int window_set;

	tlsio_loop *loop;
	tlsio_conn *c;
	tlsio_tls_config *cfg; /* for tlsio_connect(), or kept for tlsio_starttls() */
	const char *backend_name;

	enum smtp_state smtp;
	char line[SMTP_LINE_MAX];
	size_t line_len;
	int smtp_has_starttls; /* the EHLO reply offered it */
	char smtp_error[SMTP_LINE_MAX + 96];

	tlsx_prng gen;         /* the bytes we send */
	tlsx_prng check;       /* the same stream again, to compare with what comes back */
	tlsx_sha256 sha_sent, sha_recv;
	uint8_t *buf;          /* copy mode: one buffer, reused at once (tlsio_send copies) */
	uint8_t *checkbuf;
	size_t checkbuf_len;

	/* Generated but refused with TLSIO_E_QUEUE_FULL: sent again on the next on_drain. */
	size_t pend_len;
	struct chunk *pend_chunk;

	uint64_t sent, received, queue_full;
	int mismatch;
	uint64_t mismatch_at;
	int overflow;          /* more came back than was sent */

	/* ref mode bookkeeping */
	uint64_t next_seq, expect_seq, outstanding, completions;
	int order_error, completion_status, completions_after_close;

	int local_error;       /* a send refused with something other than QUEUE_FULL */
	int done, closed, aborted;
	int close_status, close_alert;
	char cert_why[512]; /* why the server certificate was refused */
	char detail[512];   /* tlsio_conn_error_detail(): why the connect failed */
	double t_start, t_hs, t_done, t_closed;
	tlsio_stats stats;
	char version[32], cipher[96], alpn[64];
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --connect HOST:PORT [options]\n"
		"       " PROG " --unix PATH --server-name NAME [options]\n"
		"\n"
		"Sends --bytes of deterministic pseudo-random data (seeded by --seed) to a TLS\n"
		"echo server such as tlsio-echo and checks that the echo is byte for byte the\n"
		"same (SHA-256 of both directions). Prints the digest, the connection's\n"
		"counters, the TLS version and cipher, and the throughput.\n"
		"\n"
		"Options:\n"
		"  --connect HOST:PORT  server address: a host name (resolved off the loop, every\n"
		"                       address tried), IP:PORT, [IPv6]:PORT, [IPv6%%zone]:PORT,\n"
		"                       unix:PATH or unix:@NAME (this or --unix is required)\n"
		"  --server-name NAME   SNI and the name verified in the server certificate\n"
		"                       (default: the host of --connect, a name or an IP address;\n"
		"                       required for TLS over a Unix socket)\n"
		"  --starttls smtp      connect in plaintext, speak SMTP up to STARTTLS (read the\n"
		"                       220 greeting, EHLO, expect STARTTLS among the 250 lines,\n"
		"                       STARTTLS, wait for 220), then switch to TLS and run the\n"
		"                       echo check over it (against tlsio-echo --starttls smtp)\n"
		"  --ca FILE            PEM CA bundle to verify the server (default: system's)\n"
		"  --insecure           do not verify the server certificate nor its name\n"
		"  --cert FILE          client certificate (PEM), for servers that ask for one\n"
		"  --key FILE           its private key\n"
		"  --bytes BYTES        how much to send (default 16M; K, M, G suffixes)\n"
		"  --chunk BYTES        size of each send (default 64K)\n"
		"  --window BYTES       most bytes sent but not yet echoed back (default 1M;\n"
		"                       16K on the blocking backend). A blocking backend cannot\n"
		"                       read while it is blocked in send: with a window larger\n"
		"                       than the socket buffers hold, the client blocks sending\n"
		"                       while the server blocks sending the echo back, and\n"
		"                       neither reads. Keep the window within the buffers.\n"
		"  --mode copy|ref      copy: tlsio_send (the library copies each chunk);\n"
		"                       ref: tlsio_send_ref, each chunk stays ours until its\n"
		"                       completion, which must come in send order\n"
		"                       (default copy)\n"
		"  --seed N             seed of the data stream (default 1)\n"
		"  --text               send lower-case letters in 64-byte lines instead of\n"
		"                       binary (for line-based echo peers such as gnutls-serv)\n"
		"  --timeout SEC        handshake and idle timeout (default 30, 0: none)\n"
		"  --json               print the result as one JSON object on one line\n"
		"%s"
		"%s"
		"\n"
		"SIGINT/SIGTERM abort the connection (the run fails); a second one exits at once.\n"
		"\n"
		"Exit status: 0 if every byte came back unchanged and the connection closed\n"
		"cleanly, 1 on a mismatch or a connection error, 2 on bad usage.\n",
		tlsx_client_help, tlsx_common_help);
}

/* ------------------------------------------------------------------------------------------ */

static void fail_send(struct client *cl, int rc)
{
	if (cl->local_error == 0)
		cl->local_error = rc;
	tlsio_close(cl->c);
}

static void on_send_done(tlsio_send_req *req, int status)
{
	struct chunk *ch = req->data;
	struct client *cl = ch->cl;
	if (ch->seq != cl->expect_seq && !cl->order_error) {
		cl->order_error = 1;
		fprintf(stderr, PROG ": completion of send #%" PRIu64 " arrived while #%" PRIu64
		        " was expected\n", ch->seq, cl->expect_seq);
	}
	cl->expect_seq = ch->seq + 1;
	if (status != 0 && cl->completion_status == 0)
		cl->completion_status = status;
	if (cl->closed)
		cl->completions_after_close++;
	cl->completions++;
	cl->outstanding--;
	/* Poison before freeing: if the library still read the buffer after completing it, the
	 * echo would carry these bytes and the comparison would catch it. */
	memset(ch->data, 0xA5, ch->len);
	free(ch);
}

/* Send while the window has room. Data is generated once and kept until the library takes it,
 * so a refused send is retried with the same bytes and the stream never skips. */
static void pump(struct client *cl)
{
	while (!cl->closed && !cl->done && cl->local_error == 0 && cl->sent < cl->total) {
		uint64_t inflight = cl->sent - cl->received;
		uint64_t want = cl->total - cl->sent < cl->chunk ? cl->total - cl->sent : cl->chunk;
		uint64_t room = inflight < cl->window ? cl->window - inflight : 0;
		size_t n;
		int rc;

		if (cl->pend_len == 0) {
			/* Wait for a useful amount of room instead of trickling tiny sends. */
			if (room < want && room < cl->window / 4)
				return;
			n = (size_t)(want < room ? want : room);
			if (n == 0)
				return;
			if (cl->ref_mode) {
				struct chunk *ch = malloc(sizeof(*ch) + n);
				if (ch == NULL) {
					fail_send(cl, -ENOMEM);
					return;
				}
				memset(&ch->req, 0, sizeof(ch->req));
				ch->req.data = ch;
				ch->cl = cl;
				ch->len = n;
				tlsx_prng_fill(&cl->gen, ch->data, n);
				tlsx_sha256_update(&cl->sha_sent, ch->data, n);
				cl->pend_chunk = ch;
			} else {
				tlsx_prng_fill(&cl->gen, cl->buf, n);
				tlsx_sha256_update(&cl->sha_sent, cl->buf, n);
			}
			cl->pend_len = n;
		}
		n = cl->pend_len;
		if (cl->ref_mode) {
			struct chunk *ch = cl->pend_chunk;
			ch->seq = cl->next_seq;
			rc = tlsio_send_ref(cl->c, &ch->req, ch->data, n, on_send_done);
			if (rc == 0) {
				cl->next_seq++;
				cl->outstanding++;
				cl->pend_chunk = NULL;
			}
		} else {
			rc = tlsio_send(cl->c, cl->buf, n);
			/* tlsio_send copied: scribbling on our buffer now must not change what is sent. */
			if (rc == 0)
				memset(cl->buf, 0x5A, n);
		}
		if (rc == TLSIO_E_QUEUE_FULL) {
			cl->queue_full++;
			return; /* on_drain calls us again */
		}
		if (rc < 0) {
			fail_send(cl, rc);
			return;
		}
		cl->sent += n;
		cl->pend_len = 0;
	}
}

static int check_bytes(struct client *cl, const uint8_t *data, size_t len)
{
	if (cl->checkbuf_len < len) {
		uint8_t *p = realloc(cl->checkbuf, len);
		if (p == NULL)
			return -1;
		cl->checkbuf = p;
		cl->checkbuf_len = len;
	}
	tlsx_prng_fill(&cl->check, cl->checkbuf, len);
	if (memcmp(cl->checkbuf, data, len) != 0) {
		size_t i = 0;
		while (cl->checkbuf[i] == data[i])
			i++;
		cl->mismatch = 1;
		cl->mismatch_at = cl->received + i;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* --starttls smtp: the client's plaintext part, up to the switch */

static void smtp_fail(struct client *cl, const char *what, const char *line, size_t len)
{
	if (cl->smtp_error[0] == '\0')
		snprintf(cl->smtp_error, sizeof(cl->smtp_error), "%s%s%.*s%s", what,
		         line != NULL ? " ('" : "", (int)len, line != NULL ? line : "",
		         line != NULL ? "')" : "");
	cl->smtp = SMTP_OFF;
	tlsio_close(cl->c);
}

static void smtp_send(struct client *cl, const char *cmd)
{
	int rc = tlsio_send(cl->c, cmd, strlen(cmd));
	if (rc < 0)
		fail_send(cl, rc);
}

/* One reply line (CRLF stripped); @p more: bytes follow it in the same read. */
static void smtp_reply_line(struct client *cl, const char *line, size_t len, int more)
{
	int code, last;
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		smtp_fail(cl, "not an SMTP reply", line, len);
		return;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';
	switch (cl->smtp) {
	case SMTP_GREETING:
		if (code != 220) {
			smtp_fail(cl, "the server's greeting is not 220", line, len);
			return;
		}
		if (last) {
			cl->smtp = SMTP_EHLO;
			smtp_send(cl, "EHLO tlsio-client\r\n");
		}
		return;
	case SMTP_EHLO:
		if (code != 250) {
			smtp_fail(cl, "EHLO refused", line, len);
			return;
		}
		/* the first line names the server; each further one is an extension keyword */
		if (len >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 && (len == 12 || line[12] == ' '))
			cl->smtp_has_starttls = 1;
		if (!last)
			return;
		if (!cl->smtp_has_starttls) {
			smtp_fail(cl, "the server does not offer STARTTLS in its EHLO reply", NULL, 0);
			return;
		}
		cl->smtp = SMTP_STARTTLS;
		smtp_send(cl, "STARTTLS\r\n");
		return;
	case SMTP_STARTTLS: {
		int rc;
		if (code != 220) {
			smtp_fail(cl, "STARTTLS refused", line, len);
			return;
		}
		if (!last)
			return;
		/* The mirror of CVE-2011-0411: plaintext behind the go-ahead could be a
		 * man-in-the-middle's, and would be taken as the TLS server's first bytes. */
		if (more) {
			smtp_fail(cl, "bytes after the server's 220 to STARTTLS (response injection)", NULL,
			          0);
			return;
		}
		cl->smtp = SMTP_OFF;
		rc = tlsio_starttls(cl->c, cl->cfg);
		if (rc < 0) {
			char why[96];
			snprintf(why, sizeof(why), "tlsio_starttls: %s", tlsio_strerror(rc));
			smtp_fail(cl, why, NULL, 0);
		}
		return;
	}
	case SMTP_OFF:
		return;
	}
}

static void smtp_input(struct client *cl, const uint8_t *data, size_t len)
{
	while (len > 0 && cl->smtp != SMTP_OFF) {
		const uint8_t *nl = memchr(data, '\n', len);
		size_t take = nl != NULL ? (size_t)(nl - data) + 1 : len, n;
		if (cl->line_len + take > sizeof(cl->line)) {
			smtp_fail(cl, "reply line too long", NULL, 0);
			return;
		}
		memcpy(cl->line + cl->line_len, data, take);
		cl->line_len += take;
		data += take;
		len -= take;
		if (nl == NULL)
			return;
		n = cl->line_len - 1;
		if (n > 0 && cl->line[n - 1] == '\r')
			n--;
		cl->line_len = 0;
		smtp_reply_line(cl, cl->line, n, len > 0);
	}
}

/* ------------------------------------------------------------------------------------------ */

static void on_handshake(tlsio_conn *c, void *user)
{
	struct client *cl = user;
	const char *v = tlsio_conn_tls_version(c), *ci = tlsio_conn_cipher(c), *a = tlsio_conn_alpn(c);
	if (!tlsio_conn_is_tls(c) && cl->starttls)
		return; /* connected: the server speaks first (smtp is SMTP_GREETING from the start) */
	cl->t_hs = tlsx_now();
	if (!tlsio_conn_is_tls(c))
		v = ci = NULL; /* --plain */
	snprintf(cl->version, sizeof(cl->version), "%s", v != NULL ? v : "none");
	snprintf(cl->cipher, sizeof(cl->cipher), "%s", ci != NULL ? ci : "(plain TCP or Unix socket, --plain)");
	snprintf(cl->alpn, sizeof(cl->alpn), "%s", a != NULL ? a : "");
	if (cl->total == 0) {
		cl->done = 1;
		cl->t_done = cl->t_hs;
		tlsio_close(c);
		return;
	}
	pump(cl);
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct client *cl = user;
	if (cl->smtp != SMTP_OFF) {
		smtp_input(cl, data, len);
		return;
	}
	if (cl->done || cl->overflow)
		return;
	if (len > cl->sent - cl->received) {
		/* More than we sent: not an echo of our stream any more. */
		cl->overflow = 1;
		if (!cl->mismatch) {
			cl->mismatch = 1;
			cl->mismatch_at = cl->sent;
		}
		tlsio_close(c);
		return;
	}
	tlsx_sha256_update(&cl->sha_recv, data, len);
	if (!cl->mismatch && check_bytes(cl, data, len) < 0) {
		fail_send(cl, -ENOMEM);
		return;
	}
	cl->received += len;
	if (cl->received == cl->total) {
		cl->done = 1;
		cl->t_done = tlsx_now();
		tlsio_close(c);
		return;
	}
	pump(cl);
}

static void on_drain(tlsio_conn *c, void *user)
{
	(void)c;
	pump(user);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct client *cl = user;
	cl->stats.struct_size = sizeof(cl->stats);
	tlsio_conn_stats(c, &cl->stats);
	cl->closed = 1;
	cl->close_status = status;
	if (status == TLSIO_E_CERT_VERIFY) {
		const char *why = NULL;
		tlsio_conn_cert_error(c, &why);
		snprintf(cl->cert_why, sizeof(cl->cert_why), "%s", why);
	}
	if (tlsio_conn_error_detail(c) != NULL)
		snprintf(cl->detail, sizeof(cl->detail), "%s", tlsio_conn_error_detail(c));
	cl->close_alert = alert;
	cl->t_closed = tlsx_now();
	cl->c = NULL;
}

/* SIGINT/SIGTERM, on the loop's thread: the run fails, and ends with the connection. */
static void client_stop(tlsio_loop *loop, int how, void *user)
{
	struct client *cl = user;
	(void)loop;
	(void)how;
	if (cl->c != NULL && !cl->aborted) {
		cl->aborted = 1;
		fprintf(stderr, PROG ": interrupted, aborting the connection\n");
		tlsio_abort(cl->c);
	}
}

static const tlsio_callbacks client_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake,
	.on_data = on_data,
	.on_drain = on_drain,
	.on_close = on_close,
};

/* ------------------------------------------------------------------------------------------ */

static int parse_size_opt(const char *flag, const char *arg, uint64_t *out, int allow_zero)
{
	if (tlsx_parse_size(arg, out) < 0 || (!allow_zero && *out == 0)) {
		fprintf(stderr, PROG ": bad value for %s: '%s' (expected a size such as 65536, 64K, 16M)\n",
		        flag, arg);
		return -1;
	}
	return 0;
}

static int parse_args(struct client *cl, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		TLSX_CLIENT_LONGOPTS,
		{"connect", required_argument, NULL, OPT_CONNECT},
		{"starttls", required_argument, NULL, OPT_STARTTLS},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"server-name", required_argument, NULL, OPT_SERVER_NAME},
		{"bytes", required_argument, NULL, OPT_BYTES},
		{"chunk", required_argument, NULL, OPT_CHUNK},
		{"window", required_argument, NULL, OPT_WINDOW},
		{"mode", required_argument, NULL, OPT_MODE},
		{"seed", required_argument, NULL, OPT_SEED},
		{"text", no_argument, NULL, OPT_TEXT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int rc = tlsx_common_opt(&cl->co, opt, optarg);
		if (rc < 0)
			return TLSX_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(TLSX_EXIT_OK);
		case OPT_CONNECT:
			cl->connect_addr = optarg;
			break;
		case OPT_INSECURE:
			cl->insecure = 1;
			break;
		case OPT_SERVER_NAME:
			cl->server_name = optarg;
			break;
		case OPT_BYTES:
			if (parse_size_opt("--bytes", optarg, &cl->total, 1) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_CHUNK:
			/* One chunk is one allocation in ref mode: keep it sane. */
			if (parse_size_opt("--chunk", optarg, &cl->chunk, 0) < 0)
				return TLSX_EXIT_USAGE;
			if (cl->chunk > (uint64_t)1 << 30) {
				fprintf(stderr, PROG ": --chunk is limited to 1G\n");
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_WINDOW:
			if (parse_size_opt("--window", optarg, &cl->window, 0) < 0)
				return TLSX_EXIT_USAGE;
			cl->window_set = 1;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "copy") == 0) {
				cl->ref_mode = 0;
			} else if (strcmp(optarg, "ref") == 0) {
				cl->ref_mode = 1;
			} else {
				fprintf(stderr, PROG ": bad value for --mode: '%s' (expected copy or ref)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_TEXT:
			cl->text = 1;
			break;
		case OPT_SEED:
			if (tlsx_parse_u64(optarg, &cl->seed) < 0) {
				fprintf(stderr, PROG ": bad value for --seed: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_TIMEOUT:
			if (tlsx_parse_u64(optarg, &cl->timeout_s) < 0 || cl->timeout_s > 86400 * 7) {
				fprintf(stderr, PROG ": bad value for --timeout: '%s' (seconds)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_JSON:
			cl->json = 1;
			break;
		case OPT_STARTTLS:
			if (strcmp(optarg, "smtp") != 0) {
				fprintf(stderr, PROG ": bad value for --starttls: '%s' (expected smtp)\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			cl->starttls = 1;
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

static double mb_per_s(uint64_t bytes, double secs)
{
	return secs > 0 ? (double)bytes / secs / 1e6 : 0.0;
}

static void print_text(const struct client *cl, const char *dsent, const char *drecv, int digest_ok,
                       int ok)
{
	double data_s = cl->t_done > 0 ? cl->t_done - cl->t_hs : 0.0;
	double hs_s = cl->t_hs > 0 ? cl->t_hs - cl->t_start : 0.0;
	FILE *f = stdout;
	fprintf(f, "backend:        %s\n", cl->backend_name);
	if (cl->version[0])
		fprintf(f, "tls:            %s %s%s%s%s\n", cl->version, cl->cipher,
		        cl->alpn[0] ? ", alpn " : "", cl->alpn,
		        cl->starttls ? " (after SMTP STARTTLS)" : "");
	else
		fprintf(f, "tls:            (no handshake)\n");
	fprintf(f, "mode:           %s, chunk %" PRIu64 ", window %" PRIu64 ", seed %" PRIu64 "\n",
	        cl->ref_mode ? "ref" : "copy", cl->chunk, cl->window, cl->seed);
	fprintf(f, "bytes:          %" PRIu64 " of %" PRIu64 " sent, %" PRIu64 " echoed\n", cl->sent,
	        cl->total, cl->received);
	fprintf(f, "sha256 sent:    %s\n", dsent);
	fprintf(f, "sha256 echoed:  %s\n", drecv);
	fprintf(f, "digest:         %s\n", digest_ok ? "ok" : cl->mismatch ? "MISMATCH" : "INCOMPLETE");
	if (cl->mismatch)
		fprintf(f, "first mismatch: byte %" PRIu64 "%s\n", cl->mismatch_at,
		        cl->overflow ? " (more bytes came back than were sent)" : "");
	fprintf(f, "close:          %s", tlsio_strerror(cl->close_status));
	if (cl->close_alert != TLSIO_ALERT_NONE)
		fprintf(f, " (alert %s)", tlsio_alert_name(cl->close_alert));
	fputc('\n', f);
	if (cl->ref_mode)
		fprintf(f, "completions:    %" PRIu64 " of %" PRIu64 ", %s, status %s\n", cl->completions,
		        cl->next_seq, cl->order_error ? "OUT OF ORDER" : "in order",
		        tlsio_strerror(cl->completion_status));
	fprintf(f, "queue full:     %" PRIu64 " refused sends\n", cl->queue_full);
	fprintf(f, "time:           %.3f s data, %.3f s handshake, %.3f s total\n", data_s, hs_s,
	        cl->t_closed - cl->t_start);
	fprintf(f, "throughput:     %.1f MB/s (echoed bytes over the data time)\n",
	        mb_per_s(cl->received, data_s));
	fprintf(f, "stats:\n");
	tlsx_print_stats(f, "  ", &cl->stats);
	fprintf(f, "result:         %s\n", ok ? "OK" : "FAILED");
}

static void print_json(const struct client *cl, const char *dsent, const char *drecv, int digest_ok,
                       int ok)
{
	double data_s = cl->t_done > 0 ? cl->t_done - cl->t_hs : 0.0;
	double hs_s = cl->t_hs > 0 ? cl->t_hs - cl->t_start : 0.0;
	const tlsio_stats *st = &cl->stats;
	FILE *f = stdout;
	fputs("{\"backend\":", f);
	tlsx_json_str(f, cl->backend_name);
	fputs(",\"tls_version\":", f);
	/* null for --plain: no TLS, nothing negotiated (--starttls: what the switch negotiated) */
	tlsx_json_str(f, cl->version[0] && !cl->plain_only ? cl->version : NULL);
	fputs(",\"cipher\":", f);
	tlsx_json_str(f, cl->cipher[0] && !cl->plain_only ? cl->cipher : NULL);
	fputs(",\"alpn\":", f);
	tlsx_json_str(f, cl->alpn[0] ? cl->alpn : NULL);
	fprintf(f, ",\"mode\":\"%s\",\"bytes\":%" PRIu64 ",\"chunk\":%" PRIu64 ",\"window\":%" PRIu64
	        ",\"seed\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"echoed\":%" PRIu64,
	        cl->ref_mode ? "ref" : "copy", cl->total, cl->chunk, cl->window, cl->seed, cl->sent,
	        cl->received);
	fprintf(f, ",\"sha256_sent\":\"%s\",\"sha256_echoed\":\"%s\",\"digest_ok\":%s", dsent, drecv,
	        digest_ok ? "true" : "false");
	if (cl->mismatch)
		fprintf(f, ",\"first_mismatch\":%" PRIu64, cl->mismatch_at);
	fprintf(f, ",\"status\":%d,\"status_text\":", cl->close_status);
	tlsx_json_str(f, tlsio_strerror(cl->close_status));
	fprintf(f, ",\"alert\":%d,\"alert_name\":", cl->close_alert);
	tlsx_json_str(f, cl->close_alert == TLSIO_ALERT_NONE ? NULL : tlsio_alert_name(cl->close_alert));
	if (cl->ref_mode)
		fprintf(f, ",\"completions\":%" PRIu64 ",\"completions_in_order\":%s,\"completion_status\":%d",
		        cl->completions, cl->order_error ? "false" : "true", cl->completion_status);
	fprintf(f, ",\"queue_full\":%" PRIu64 ",\"handshake_s\":%.6f,\"elapsed_s\":%.6f,\"total_s\":%.6f"
	        ",\"mb_per_s\":%.3f", cl->queue_full, hs_s, data_s, cl->t_closed - cl->t_start,
	        mb_per_s(cl->received, data_s));
	fprintf(f, ",\"stats\":{\"app_bytes_queued\":%" PRIu64 ",\"app_bytes_sent\":%" PRIu64
	        ",\"app_bytes_received\":%" PRIu64 ",\"tls_bytes_sent\":%" PRIu64
	        ",\"tls_bytes_received\":%" PRIu64 ",\"records_sent\":%" PRIu64 ",\"write_calls\":%" PRIu64
	        ",\"read_calls\":%" PRIu64 ",\"short_writes\":%" PRIu64 ",\"eagain\":%" PRIu64
	        ",\"eintr\":%" PRIu64 ",\"queued_peak\":%" PRIu64 "}",
	        st->app_bytes_queued, st->app_bytes_sent, st->app_bytes_received, st->tls_bytes_sent,
	        st->tls_bytes_received, st->records_sent, st->write_calls, st->read_calls,
	        st->short_writes, st->eagain, st->eintr, st->queued_peak);
	fprintf(f, ",\"ok\":%s}\n", ok ? "true" : "false");
}

int main(int argc, char **argv)
{
	struct client cl;
	const tlsio_backend *backend;
	tlsio_tls_opts topts;
	tlsio_conn_opts copts;
	tlsio_tls_config *cfg = NULL;
	uint8_t md_sent[TLSX_SHA256_LEN], md_recv[TLSX_SHA256_LEN];
	char dsent[TLSX_SHA256_HEX], drecv[TLSX_SHA256_HEX];
	int rc, ret = TLSX_EXIT_FAIL, digest_ok, ok;

	memset(&cl, 0, sizeof(cl));
	cl.co.prog = PROG;
	cl.total = DEFAULT_BYTES;
	cl.chunk = DEFAULT_CHUNK;
	cl.seed = 1;
	cl.timeout_s = 30;
	cl.close_alert = TLSIO_ALERT_NONE;
	rc = parse_args(&cl, argc, argv);
	if (rc != 0)
		return rc;
	if (cl.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	rc = tlsx_client_addr(&cl.co, cl.connect_addr, !cl.co.plain || cl.starttls, cl.insecure,
	                      cl.server_name, cl.addr, sizeof(cl.addr));
	if (rc != 0)
		return rc;
	if ((cl.co.cert == NULL) != (cl.co.key == NULL)) {
		fprintf(stderr, PROG ": a client certificate needs both --cert and --key\n");
		return TLSX_EXIT_USAGE;
	}
	rc = tlsx_backend(&cl.co, &backend);
	if (rc != 0)
		return rc;
	cl.backend_name = tlsio_backend_name(backend);
	if (!cl.window_set)
		cl.window = strcmp(cl.backend_name, "blocking") == 0 ? DEFAULT_WINDOW_BLOCKING
		                                                      : DEFAULT_WINDOW;

	tlsx_prng_init(&cl.gen, cl.seed);
	tlsx_prng_init(&cl.check, cl.seed);
	cl.gen.text = cl.check.text = cl.text;
	tlsx_sha256_init(&cl.sha_sent);
	tlsx_sha256_init(&cl.sha_recv);
	if (!cl.ref_mode) {
		size_t n = (size_t)(cl.chunk < cl.window ? cl.chunk : cl.window);
		cl.buf = malloc(n > 0 ? n : 1);
		if (cl.buf == NULL) {
			fprintf(stderr, PROG ": out of memory\n");
			return TLSX_EXIT_FAIL;
		}
	}

	rc = tlsio_loop_new(&cl.loop, backend);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot create a loop on backend '%s': %s\n", cl.backend_name,
		        tlsio_strerror(rc));
		goto out;
	}
	tlsx_tls_opts(&cl.co, &topts);
	topts.verify = cl.insecure ? TLSIO_VERIFY_NONE : TLSIO_VERIFY_DEFAULT;
	/* --starttls: the connection starts plain, the configuration is for the switch */
	if ((!cl.co.plain || cl.starttls) && tlsx_tls_config(&cl.co, 0, &topts, &cl.cfg) != 0)
		goto out;
	cl.plain_only = cl.co.plain && !cl.starttls;
	if (cl.starttls)
		cl.co.plain = 1;
	cfg = cl.co.plain ? NULL : cl.cfg;
	rc = tlsx_signals_install(2);
	if (rc == 0)
		rc = tlsx_signals_watch(cl.loop, client_stop, &cl);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot install signal handlers: %s\n", tlsio_strerror(rc));
		goto out;
	}

	tlsx_conn_opts(&cl.co, &copts);
	copts.cb = &client_callbacks;
	copts.user = &cl;
	copts.server_name = cl.server_name;
	copts.high_water = DEFAULT_HIGH_WATER;
	copts.low_water = DEFAULT_HIGH_WATER / 4;
	copts.handshake_timeout_ms = (uint32_t)(cl.timeout_s * 1000);
	copts.idle_timeout_ms = (uint32_t)(cl.timeout_s * 1000);
	/* Set before the connect rather than in on_handshake: the first bytes are the greeting,
	 * whichever callback comes first. */
	cl.smtp = cl.starttls ? SMTP_GREETING : SMTP_OFF;
	cl.t_start = tlsx_now();
	rc = tlsio_connect(cl.loop, cl.addr, cfg, &copts, &cl.c);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", cl.addr, tlsio_strerror(rc));
		goto out;
	}

	/* Until the connection has ended (and with it every send completion): nothing else keeps
	 * the run going. */
	rc = tlsio_loop_run(cl.loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
		goto out;
	}

	tlsx_sha256_final(&cl.sha_sent, md_sent);
	tlsx_sha256_final(&cl.sha_recv, md_recv);
	tlsx_hex(md_sent, sizeof(md_sent), dsent);
	tlsx_hex(md_recv, sizeof(md_recv), drecv);
	/* Equal digests of two empty or partial streams prove nothing about the echo. */
	digest_ok = memcmp(md_sent, md_recv, sizeof(md_sent)) == 0 && !cl.mismatch &&
	            cl.received == cl.total;
	ok = digest_ok && cl.done && cl.received == cl.total && cl.close_status == 0 &&
	     cl.local_error == 0;
	if (cl.ref_mode) {
		if (cl.outstanding != 0)
			fprintf(stderr, PROG ": %" PRIu64 " send completions never arrived\n", cl.outstanding);
		if (cl.completion_status != 0)
			fprintf(stderr, PROG ": a send completed with: %s\n",
			        tlsio_strerror(cl.completion_status));
		ok = ok && cl.outstanding == 0 && !cl.order_error && cl.completion_status == 0;
	}

	if (cl.local_error != 0)
		fprintf(stderr, PROG ": send failed: %s\n", tlsio_strerror(cl.local_error));
	if (cl.smtp_error[0] != '\0') {
		fprintf(stderr, PROG ": SMTP STARTTLS: %s\n", cl.smtp_error);
		ok = 0;
	}
	if (cl.close_status != 0) {
		tlsx_print_status(PROG, cl.version[0] ? "connection failed" : "connect/handshake failed",
		                  cl.close_status, cl.close_alert);
		if (cl.detail[0] != '\0')
			fprintf(stderr, PROG ": %s\n", cl.detail);
		if (cl.cert_why[0] != '\0')
			fprintf(stderr, PROG ": server certificate refused: %s\n", cl.cert_why);
	} else if (cl.smtp_error[0] == '\0' && !cl.done)
		fprintf(stderr, PROG ": the server closed after %" PRIu64 " of %" PRIu64 " bytes came back\n",
		        cl.received, cl.total);
	if (cl.mismatch)
		fprintf(stderr, PROG ": the echo differs from what was sent, first at byte %" PRIu64 "\n",
		        cl.mismatch_at);

	if (cl.json)
		print_json(&cl, dsent, drecv, digest_ok, ok);
	else if (!cl.co.quiet)
		print_text(&cl, dsent, drecv, digest_ok, ok);
	else
		printf("%s %s\n", drecv, ok ? "OK" : "FAILED");
	fflush(stdout);
	ret = ok ? TLSX_EXIT_OK : TLSX_EXIT_FAIL;

out:
	free(cl.pend_chunk);
	tlsio_tls_config_free(cl.cfg);
	tlsx_signals_unwatch(cl.loop);
	tlsio_loop_free(cl.loop);
	free(cl.buf);
	free(cl.checkbuf);
	return ret;
}
