/* SPDX-License-Identifier: MIT */
/* tlsio-get: downloads one path over HTTPS (HTTP/1.1; --plain: HTTP over plain TCP or a Unix
 * socket), counts and optionally hashes the body, and prints the throughput. The client side of the bulk benchmark: unlike curl it reads with
 * the library's own large reads, so the server, not the client, is what a run measures. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common.h"

#define PROG "tlsio-get"
#define HEAD_MAX (16 * 1024)

enum {
	OPT_CONNECT = TLSX_OPT_TOOL,
	OPT_PATH,
	OPT_INSECURE,
	OPT_SERVER_NAME,
	OPT_REPEAT,
	OPT_SHA256,
	OPT_EXPECT,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_NEW_CONNECTION,
	OPT_SESSION_IN,
	OPT_SESSION_OUT,
	OPT_NO_RESUME,
};

/* The most a session file holds (the library refuses longer ones). */
#define SESSION_MAX 65536

struct get {
	struct tlsx_common co;
	const char *connect_addr, *path, *server_name;
	char addr[TLSX_ADDR_LEN]; /* what is connected to: --connect, or unix:PATH */
	int insecure, json, sha;
	int new_conn;     /* --new-connection: each GET on a connection of its own */
	int no_resume;    /* --no-resume: no session cache, every handshake a full one */
	const char *session_in, *session_out;
	char session_key[TLSX_ADDR_LEN + 300]; /* the cache's "identity:port" for this server */
	uint64_t repeat, timeout_s;
	int64_t expect; /* -1: any length */

	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_conn_opts copts;
	tlsio_conn *c;
	uint64_t done_before; /* responses complete before the current connection */
	uint64_t handshakes, resumed;
	int first_resumed;    /* the first handshake resumed (the --session-in one) */
	int stopped;          /* SIGINT/SIGTERM */

	/* the response being read */
	char head[HEAD_MAX];
	size_t head_len;
	int in_body, status_code;
	int64_t body_left; /* -1: until the server closes */
	uint64_t body_bytes, last_body, body_total;

	uint64_t done;    /* responses complete */
	int error;        /* a protocol error of ours, reported at the end */
	char why[160];
	tlsx_sha256 sha256;
	char version[32], cipher[64];
	double t_start, t_hs, t_done;
	int closed, close_status, close_alert;
	char cert_why[512]; /* why the server certificate was refused */
	char detail[512];   /* tlsio_conn_error_detail(): why the connect failed */
	tlsio_stats stats;  /* summed over the connections */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --connect HOST:PORT [options]\n"
		"       " PROG " --unix PATH --server-name NAME [options]\n"
		"\n"
		"Downloads PATH over HTTPS (HTTP/1.1) with the library's client and prints the body\n"
		"size, the time from the first request to the last body byte, the throughput, how\n"
		"many handshakes there were and how many of them resumed a session ('handshakes N\n"
		"resumed M') and the connection's counters (summed over the connections). --repeat\n"
		"sends the requests one after another on one keep-alive connection, or with\n"
		"--new-connection each on a new connection, one after the other, all from one TLS\n"
		"configuration: its session cache lets the second and later ones resume. The body\n"
		"is discarded (--sha256 hashes it first). With --plain the same over plain HTTP.\n"
		"\n"
		"Options:\n"
		"  --connect HOST:PORT  server address: a host name (resolved off the loop, every\n"
		"                       address tried), IP:PORT, [IPv6]:PORT, [IPv6%%zone]:PORT,\n"
		"                       unix:PATH or unix:@NAME (this or --unix is required)\n"
		"  --path PATH          what to GET (default /)\n"
		"  --server-name NAME   SNI, Host header, and the name verified in the server\n"
		"                       certificate (default: the host of --connect, a name or an\n"
		"                       IP address; the Host header is then --connect itself, or\n"
		"                       'localhost' over a Unix socket); required for TLS over a\n"
		"                       Unix socket\n"
		"  --ca FILE            PEM CA bundle to verify the server (default: system's)\n"
		"  --insecure           do not verify the server certificate nor its name\n"
		"  --repeat N           GET it N times on one connection (default 1)\n"
		"  --new-connection     with --repeat: each GET on a new connection (closed after\n"
		"                       its response), to measure handshakes and resumption\n"
		"  --no-resume          no session cache: every connection does a full handshake\n"
		"                       (the baseline for --new-connection)\n"
		"  --session-in FILE    offer the TLS session saved in FILE (--session-out of an\n"
		"                       earlier run) on the first connection; a session that has\n"
		"                       expired or that this wolfSSL build cannot read is an error\n"
		"  --session-out FILE   after the run, save the newest session the server gave\n"
		"                       into FILE (mode 0600: it is a secret; the file is replaced\n"
		"                       whole), for a later --session-in. Sessions are kept per\n"
		"                       server name (--server-name, else the host of --connect)\n"
		"                       and port\n"
		"  --expect-bytes N     fail unless every body is exactly N bytes\n"
		"  --sha256             print the SHA-256 of the body (of the last one with --repeat)\n"
		"  --timeout SEC        handshake and idle timeout (default 30, 0: none)\n"
		"  --json               print the result as one JSON object on one line\n"
		"%s"
		"%s"
		"\n"
		"Exit status: 0 if every response was 200 with a complete body, every connection\n"
		"closed cleanly and --session-out could save a session; 1 otherwise (also for a\n"
		"--session-in file that cannot be used); 2 on bad usage.\n",
		tlsx_client_help, tlsx_common_help);
}

static void fail(struct get *g, const char *why)
{
	if (!g->error) {
		g->error = 1;
		snprintf(g->why, sizeof(g->why), "%s", why);
	}
	if (!g->closed)
		tlsio_close(g->c);
}

static void send_request(struct get *g)
{
	char req[1024];
	int last = g->new_conn || g->done + 1 >= g->repeat;
	/* a Unix socket's path is no host (RFC 9112 3.2 wants one): the local host it is */
	const char *host = g->server_name != NULL ? g->server_name
	                   : strncmp(g->addr, "unix:", 5) == 0 ? "localhost" : g->addr;
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " PROG
	                 "\r\nAccept: */*\r\n%s\r\n",
	                 g->path, host, last ? "Connection: close\r\n" : "");
	int rc;
	if (n < 0 || (size_t)n >= sizeof(req)) {
		fail(g, "request too long");
		return;
	}
	g->head_len = 0;
	g->in_body = 0;
	g->body_bytes = 0;
	if (g->sha)
		tlsx_sha256_init(&g->sha256);
	rc = tlsio_send(g->c, req, (size_t)n);
	if (rc < 0)
		fail(g, tlsio_strerror(rc));
}

/* The response head is complete: status and framing. */
static int parse_head(struct get *g)
{
	char *line = g->head, *end = g->head + g->head_len;
	char *eol = memchr(line, '\n', (size_t)(end - line));
	if (eol == NULL || (size_t)(eol - line) < 12 || memcmp(line, "HTTP/1.", 7) != 0)
		return -1;
	g->status_code = atoi(line + 9);
	g->body_left = -1;
	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *p = line + 15;
			while (*p == ' ' || *p == '\t')
				p++;
			g->body_left = strtoll(p, NULL, 10);
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			return -2;
		}
	}
	return 0;
}

/* A whole body arrived (from on_close too, for a body framed by the close). */
static void body_done(struct get *g)
{
	g->done++;
	g->last_body = g->body_bytes;
	g->body_total += g->body_bytes;
	if (g->status_code != 200) {
		char why[64];
		snprintf(why, sizeof(why), "HTTP status %d", g->status_code);
		fail(g, why);
		return;
	}
	if (g->expect >= 0 && g->body_bytes != (uint64_t)g->expect) {
		char why[96];
		snprintf(why, sizeof(why), "body of %" PRIu64 " bytes, expected %" PRId64, g->body_bytes,
		         g->expect);
		fail(g, why);
		return;
	}
	if (g->done >= g->repeat) {
		g->t_done = tlsx_now();
		if (!g->closed)
			tlsio_close(g->c);
	} else if (g->new_conn) {
		/* the next GET goes on a new connection, made once this one has ended */
		if (!g->closed)
			tlsio_close(g->c);
	} else if (!g->closed) {
		send_request(g);
	}
}

/* A connection, with its request queued (sent right after the handshake). @return 0 or
 * the failure of tlsio_connect(). */
static int start_conn(struct get *g)
{
	int rc = tlsio_connect(g->loop, g->addr, g->cfg, &g->copts, &g->c);
	if (rc < 0)
		return rc;
	g->closed = 0;
	g->done_before = g->done;
	send_request(g);
	return 0;
}

static void stats_add(tlsio_stats *sum, const tlsio_stats *st)
{
	sum->app_bytes_queued += st->app_bytes_queued;
	sum->app_bytes_sent += st->app_bytes_sent;
	sum->app_bytes_received += st->app_bytes_received;
	sum->tls_bytes_sent += st->tls_bytes_sent;
	sum->tls_bytes_received += st->tls_bytes_received;
	sum->records_sent += st->records_sent;
	sum->write_calls += st->write_calls;
	sum->read_calls += st->read_calls;
	sum->short_writes += st->short_writes;
	sum->eagain += st->eagain;
	sum->eintr += st->eintr;
	sum->queued_now = st->queued_now;
	if (st->queued_peak > sum->queued_peak)
		sum->queued_peak = st->queued_peak;
}

static void on_handshake(tlsio_conn *c, void *user)
{
	struct get *g = user;
	const char *v = tlsio_conn_tls_version(c), *ci = tlsio_conn_cipher(c);
	int resumed = tlsio_conn_resumed(c);
	if (g->handshakes++ == 0) {
		g->t_hs = tlsx_now();
		g->first_resumed = resumed;
	}
	g->resumed += resumed != 0;
	snprintf(g->version, sizeof(g->version), "%s", v != NULL ? v : "none");
	snprintf(g->cipher, sizeof(g->cipher), "%s", ci != NULL ? ci : "(plain HTTP, --plain)");
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct get *g = user;
	(void)c;
	while (len > 0 && !g->error && g->done < g->repeat) {
		if (!g->in_body) {
			size_t take = len < HEAD_MAX - g->head_len ? len : HEAD_MAX - g->head_len;
			char *e;
			size_t old = g->head_len, hl;
			int rc;
			memcpy(g->head + g->head_len, data, take);
			g->head_len += take;
			e = memmem(g->head, g->head_len, "\r\n\r\n", 4);
			if (e == NULL) {
				if (g->head_len == HEAD_MAX)
					fail(g, "response head too large");
				return;
			}
			hl = (size_t)(e + 4 - g->head);
			g->head_len = hl;
			rc = parse_head(g);
			if (rc < 0) {
				fail(g, rc == -2 ? "chunked responses are not supported" : "malformed response");
				return;
			}
			g->in_body = 1;
			data += hl - old;
			len -= hl - old;
			if (g->body_left == 0) {
				body_done(g);
				continue;
			}
		}
		size_t n = len;
		if (g->body_left >= 0 && (uint64_t)g->body_left < n)
			n = (size_t)g->body_left;
		if (g->sha)
			tlsx_sha256_update(&g->sha256, data, n);
		g->body_bytes += n;
		data += n;
		len -= n;
		if (g->body_left >= 0) {
			g->body_left -= (int64_t)n;
			if (g->body_left == 0)
				body_done(g);
		}
	}
	if (len > 0 && !g->error && g->done >= g->repeat)
		fail(g, "bytes after the last response");
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct get *g = user;
	tlsio_stats st = TLSIO_STATS_INIT;
	tlsio_conn_stats(c, &st);
	stats_add(&g->stats, &st);
	g->close_status = status;
	if (status == TLSIO_E_CERT_VERIFY) {
		const char *why = NULL;
		tlsio_conn_cert_error(c, &why);
		snprintf(g->cert_why, sizeof(g->cert_why), "%s", why);
	}
	if (tlsio_conn_error_detail(c) != NULL)
		snprintf(g->detail, sizeof(g->detail), "%s", tlsio_conn_error_detail(c));
	g->close_alert = alert;
	g->closed = 1;
	/* A body framed by the close: it ends here, cleanly only with close_notify. */
	if (g->in_body && g->body_left < 0 && g->done < g->repeat && status == 0)
		body_done(g);
	/* --new-connection: the next, once this one answered its GET and ended cleanly (else the
	 * run stops here and the summary says why) */
	if (g->new_conn && status == 0 && !g->error && !g->stopped && g->done < g->repeat &&
	    g->done > g->done_before) {
		int rc = start_conn(g);
		if (rc < 0) {
			g->error = 1;
			snprintf(g->why, sizeof(g->why), "cannot connect to %s: %s", g->addr,
			         tlsio_strerror(rc));
		}
	}
}

/* SIGINT/SIGTERM, on the loop's thread: the run fails, and ends with the connection. */
static void get_stop(tlsio_loop *loop, int how, void *user)
{
	struct get *g = user;
	(void)loop;
	(void)how;
	g->stopped = 1;
	if (!g->closed) {
		fail(g, "interrupted");
		tlsio_abort(g->c);
	}
}

static const tlsio_callbacks get_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake,
	.on_data = on_data,
	.on_close = on_close,
};

static int parse_args(struct get *g, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		TLSX_CLIENT_LONGOPTS,
		{"connect", required_argument, NULL, OPT_CONNECT},
		{"path", required_argument, NULL, OPT_PATH},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"server-name", required_argument, NULL, OPT_SERVER_NAME},
		{"repeat", required_argument, NULL, OPT_REPEAT},
		{"sha256", no_argument, NULL, OPT_SHA256},
		{"expect-bytes", required_argument, NULL, OPT_EXPECT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{"new-connection", no_argument, NULL, OPT_NEW_CONNECTION},
		{"session-in", required_argument, NULL, OPT_SESSION_IN},
		{"session-out", required_argument, NULL, OPT_SESSION_OUT},
		{"no-resume", no_argument, NULL, OPT_NO_RESUME},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
		int rc = tlsx_common_opt(&g->co, opt, optarg);
		uint64_t v;
		if (rc < 0)
			return TLSX_EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(TLSX_EXIT_OK);
		case OPT_CONNECT:
			g->connect_addr = optarg;
			break;
		case OPT_PATH:
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n") != NULL) {
				fprintf(stderr, PROG ": --path must start with '/' and hold no spaces\n");
				return TLSX_EXIT_USAGE;
			}
			g->path = optarg;
			break;
		case OPT_INSECURE:
			g->insecure = 1;
			break;
		case OPT_SERVER_NAME:
			g->server_name = optarg;
			break;
		case OPT_REPEAT:
			if (tlsx_parse_u64(optarg, &g->repeat) < 0 || g->repeat == 0) {
				fprintf(stderr, PROG ": bad value for --repeat: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_SHA256:
			g->sha = 1;
			break;
		case OPT_EXPECT:
			if (tlsx_parse_size(optarg, &v) < 0 || v > INT64_MAX) {
				fprintf(stderr, PROG ": bad value for --expect-bytes: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			g->expect = (int64_t)v;
			break;
		case OPT_TIMEOUT:
			if (tlsx_parse_u64(optarg, &g->timeout_s) < 0 || g->timeout_s > 86400 * 7) {
				fprintf(stderr, PROG ": bad value for --timeout: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_JSON:
			g->json = 1;
			break;
		case OPT_NEW_CONNECTION:
			g->new_conn = 1;
			break;
		case OPT_SESSION_IN:
			g->session_in = optarg;
			break;
		case OPT_SESSION_OUT:
			g->session_out = optarg;
			break;
		case OPT_NO_RESUME:
			g->no_resume = 1;
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
	if (g->co.plain && (g->session_in != NULL || g->session_out != NULL)) {
		fprintf(stderr, PROG ": --plain has no TLS: --session-%s does not apply\n",
		        g->session_in != NULL ? "in" : "out");
		return TLSX_EXIT_USAGE;
	}
	if (g->no_resume && (g->session_in != NULL || g->session_out != NULL)) {
		fprintf(stderr, PROG ": --no-resume keeps no sessions: --session-%s does not apply\n",
		        g->session_in != NULL ? "in" : "out");
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

/* The session cache's key for the server, as the library forms it (see
 * tlsio_tls_session_export): the identity (--server-name, else the host of the address, an
 * IPv6 literal without brackets and zone) and the port, or the whole "unix:PATH".
 * @return 0, or -1: no identity (a Unix socket without --server-name). */
static int make_session_key(struct get *g)
{
	const char *a = g->addr, *id = g->server_name, *host, *port;
	char hbuf[TLSX_ADDR_LEN];
	size_t hl;
	long p;
	if (id != NULL && id[0] == '\0')
		id = NULL;
	if (strncmp(a, "unix:", 5) == 0) {
		if (id == NULL)
			return -1;
		snprintf(g->session_key, sizeof(g->session_key), "%s:%s", id, a);
		return 0;
	}
	if (a[0] == '[') {
		const char *rb = strchr(a, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		host = a + 1;
		hl = strcspn(host, "%]");
		port = rb + 2;
	} else {
		const char *colon = strrchr(a, ':');
		if (colon == NULL)
			return -1;
		host = a;
		hl = (size_t)(colon - a);
		port = colon + 1;
	}
	if (hl >= sizeof(hbuf))
		return -1;
	memcpy(hbuf, host, hl);
	hbuf[hl] = '\0';
	p = strtol(port, NULL, 10); /* the library writes the port it parsed: "0443" is "443" */
	snprintf(g->session_key, sizeof(g->session_key), "%s:%ld", id != NULL ? id : hbuf, p);
	return 0;
}

/* --session-in: into the cache before the first connection. @return 0 or TLSX_EXIT_FAIL. */
static int session_load(struct get *g)
{
	uint8_t *buf;
	size_t len;
	char why[128];
	int rc = tlsx_read_file(g->session_in, SESSION_MAX, &buf, &len, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, PROG ": --session-in '%s': %s\n", g->session_in, why);
		return TLSX_EXIT_FAIL;
	}
	rc = tlsio_tls_session_import(g->cfg, g->session_key, buf, len);
	tlsx_wipe(buf, len);
	free(buf);
	if (rc == -EINVAL)
		fprintf(stderr, PROG ": --session-in '%s': not a session this wolfSSL build can read "
		        "(run once without --session-in for a new one)\n", g->session_in);
	else if (rc == -ESTALE)
		fprintf(stderr, PROG ": --session-in '%s': the session has expired (run once without "
		        "--session-in for a new one)\n", g->session_in);
	else if (rc == -EPROTO)
		fprintf(stderr, PROG ": --session-in '%s': a session of a TLS version --tls-min/--tls-max "
		        "do not allow\n", g->session_in);
	else if (rc == -ENOTSUP)
		fprintf(stderr, PROG ": --session-in '%s': this wolfSSL cannot read sessions (built "
		        "without HAVE_EXT_CACHE or OPENSSL_EXTRA)\n", g->session_in);
	else if (rc < 0)
		fprintf(stderr, PROG ": --session-in '%s': %s\n", g->session_in, tlsio_strerror(rc));
	return rc < 0 ? TLSX_EXIT_FAIL : 0;
}

/* --session-out: written to a new file beside it, then renamed over it, so that a reader
 * never finds half a session and the file is never readable by others, not even for a
 * moment. @return 0 or TLSX_EXIT_FAIL. */
static int session_save(struct get *g)
{
	uint8_t *buf = NULL;
	size_t len = 0, off = 0;
	char *tmp = NULL;
	int fd = -1, rc, ret = TLSX_EXIT_FAIL;
	const char *why = NULL;

	rc = tlsio_tls_session_export(g->cfg, g->session_key, &buf, &len);
	if (rc == -ENOENT) {
		fprintf(stderr, PROG ": --session-out '%s': no session to save: the server sent no "
		        "ticket for %s\n", g->session_out, g->session_key);
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": --session-out '%s': %s\n", g->session_out,
		        rc == -ENOTSUP ? "this wolfSSL cannot encode sessions (built without "
		                         "HAVE_EXT_CACHE or OPENSSL_EXTRA)" : tlsio_strerror(rc));
		goto out;
	}
	if ((tmp = malloc(strlen(g->session_out) + 8)) == NULL) {
		why = strerror(ENOMEM);
		goto out;
	}
	sprintf(tmp, "%s.XXXXXX", g->session_out);
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		why = strerror(errno);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			why = strerror(errno);
			goto out;
		}
		off += (size_t)n;
	}
	rc = fsync(fd);
	if (close(fd) < 0)
		rc = -1;
	fd = -1;
	if (rc < 0) {
		why = strerror(errno);
		goto out;
	}
	if (rename(tmp, g->session_out) < 0) {
		why = strerror(errno);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	ret = 0;
out:
	if (why != NULL)
		fprintf(stderr, PROG ": --session-out '%s': %s\n", g->session_out, why);
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	tlsx_wipe(buf, len);
	free(buf);
	return ret;
}

int main(int argc, char **argv)
{
	struct get g;
	const tlsio_backend *backend;
	tlsio_tls_opts topts;
	uint8_t md[TLSX_SHA256_LEN];
	char hex[TLSX_SHA256_HEX] = "";
	double secs, mbps;
	int rc, ret = TLSX_EXIT_FAIL, ok, saved = 1;

	memset(&g, 0, sizeof(g));
	g.co.prog = PROG;
	g.path = "/";
	g.repeat = 1;
	g.timeout_s = 30;
	g.expect = -1;
	rc = parse_args(&g, argc, argv);
	if (rc != 0)
		return rc;
	if (g.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	rc = tlsx_client_addr(&g.co, g.connect_addr, !g.co.plain, g.insecure, g.server_name, g.addr,
	                      sizeof(g.addr));
	if (rc != 0)
		return rc;
	if ((g.session_in != NULL || g.session_out != NULL) && make_session_key(&g) < 0) {
		fprintf(stderr, PROG ": --session-in/--session-out: sessions are kept per server name, "
		        "and %s has none: give --server-name NAME\n", g.addr);
		return TLSX_EXIT_USAGE;
	}
	rc = tlsx_backend(&g.co, &backend);
	if (rc != 0)
		return rc;
	rc = tlsio_loop_new(&g.loop, backend);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot create a loop on backend '%s': %s\n",
		        tlsio_backend_name(backend), tlsio_strerror(rc));
		goto out;
	}
	tlsx_tls_opts(&g.co, &topts);
	topts.verify = g.insecure ? TLSIO_VERIFY_NONE : TLSIO_VERIFY_DEFAULT;
	/* the session cache is on by default (tlsio_tls_opts.session_cache 0): the connections of
	 * --new-connection share it, and --session-in/--session-out go through it */
	if (g.no_resume)
		topts.session_cache = -1;
	if (!g.co.plain && tlsx_tls_config(&g.co, 0, &topts, &g.cfg) != 0)
		goto out;
	if (g.session_in != NULL && session_load(&g) != 0)
		goto out;
	rc = tlsx_signals_install(2);
	if (rc == 0)
		rc = tlsx_signals_watch(g.loop, get_stop, &g);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot install signal handlers: %s\n", tlsio_strerror(rc));
		goto out;
	}
	tlsx_conn_opts(&g.co, &g.copts);
	g.copts.cb = &get_callbacks;
	g.copts.user = &g;
	g.copts.server_name = g.server_name;
	g.copts.handshake_timeout_ms = (uint32_t)(g.timeout_s * 1000);
	g.copts.idle_timeout_ms = (uint32_t)(g.timeout_s * 1000);
	g.stats.struct_size = sizeof(g.stats);
	g.t_start = tlsx_now();
	rc = start_conn(&g);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", g.addr, tlsio_strerror(rc));
		goto out;
	}
	/* Until the last connection has ended: nothing else keeps the run going. */
	rc = tlsio_loop_run(g.loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
		goto out;
	}

	ok = !g.error && g.done == g.repeat && g.close_status == 0;
	if (g.close_status != 0) {
		tlsx_print_status(PROG, g.version[0] ? "connection failed" : "connect/handshake failed",
		                  g.close_status, g.close_alert);
		if (g.detail[0] != '\0')
			fprintf(stderr, PROG ": %s\n", g.detail);
		if (g.cert_why[0] != '\0')
			fprintf(stderr, PROG ": server certificate refused: %s\n", g.cert_why);
	} else if (!g.error && g.done < g.repeat)
		fprintf(stderr, PROG ": the server closed after %" PRIu64 " of %" PRIu64 " responses\n",
		        g.done, g.repeat);
	if (g.error)
		fprintf(stderr, PROG ": %s\n", g.why);
	/* Not an error: the server may have another ticket key now, or the session is too old for
	 * it. But whoever gave the file wants to know it did not save a handshake. */
	if (g.session_in != NULL && g.handshakes > 0 && !g.first_resumed && !g.co.quiet)
		fprintf(stderr, PROG ": note: the session from --session-in '%s' was not resumed: the "
		        "server did a full handshake\n", g.session_in);
	if (g.session_out != NULL)
		saved = session_save(&g) == 0;
	if (g.sha) {
		tlsx_sha256_final(&g.sha256, md);
		tlsx_hex(md, sizeof(md), hex);
	}
	secs = g.t_done > g.t_hs && g.t_hs > 0 ? g.t_done - g.t_hs : 0;
	mbps = secs > 0 ? (double)g.body_total / secs / 1e6 : 0;
	if (g.json) {
		printf("{\"ok\":%s,\"responses\":%" PRIu64 ",\"body_bytes\":%" PRIu64
		       ",\"received\":%" PRIu64 ",\"handshake_s\":%.6f,\"elapsed_s\":%.6f,\"mb_per_s\":%.1f,"
		       "\"version\":",
		       ok && saved ? "true" : "false", g.done, g.last_body, g.stats.app_bytes_received,
		       g.t_hs > 0 ? g.t_hs - g.t_start : 0, secs, mbps);
		/* null for --plain: no TLS, nothing negotiated */
		tlsx_json_str(stdout, g.version[0] && !g.co.plain ? g.version : NULL);
		printf(",\"cipher\":");
		tlsx_json_str(stdout, g.cipher[0] && !g.co.plain ? g.cipher : NULL);
		printf(",\"handshakes\":%" PRIu64 ",\"resumed\":%" PRIu64 ",\"sha256\":", g.handshakes,
		       g.resumed);
		tlsx_json_str(stdout, g.sha ? hex : NULL);
		printf(",\"read_calls\":%" PRIu64 ",\"tls_bytes_received\":%" PRIu64 "}\n",
		       g.stats.read_calls, g.stats.tls_bytes_received);
	} else if (!g.co.quiet) {
		printf("responses:   %" PRIu64 " x %" PRIu64 " body bytes\n", g.done, g.last_body);
		printf("tls:         %s %s\n", g.version, g.cipher);
		printf("handshakes %" PRIu64 " resumed %" PRIu64 "\n", g.handshakes, g.resumed);
		if (g.sha)
			printf("sha256:      %s\n", hex);
		printf("time:        %.3f s after a %.1f ms handshake\n", secs,
		       g.t_hs > 0 ? (g.t_hs - g.t_start) * 1e3 : 0.0);
		printf("throughput:  %.1f MB/s\n", mbps);
		tlsx_print_stats(stdout, "  ", &g.stats);
		printf("result:      %s\n", ok && saved ? "OK" : "FAILED");
	} else {
		printf("%" PRIu64 " %.1f %s%s%s\n", g.last_body, mbps, ok && saved ? "OK" : "FAILED",
		       g.sha ? " " : "", g.sha ? hex : "");
	}
	ret = ok && saved ? TLSX_EXIT_OK : TLSX_EXIT_FAIL;
out:
	tlsio_tls_config_free(g.cfg);
	tlsx_signals_unwatch(g.loop);
	tlsio_loop_free(g.loop);
	return ret;
}
