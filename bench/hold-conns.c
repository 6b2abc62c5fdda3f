/* SPDX-License-Identifier: MIT */
/* hold-conns: opens N TLS connections to one server with libtlsio's own client, holds them idle,
 * and on command moves a request and a response over each, for bench/memory.sh to read the
 * server's memory per idle connection before and after traffic. A driving script talks to it
 * on stdin/stdout, one line each way (see --help).
 *
 * Built by make (noinst: BUILD/bench/hold-conns); bench/run.sh uses it for its idle
 * connections too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tlsio.h"

#define PROG "hold-conns"
#define HEAD_MAX 4096
/* The request body goes out by reference in slices of this shared buffer; a connection keeps
 * up to QUEUE_TARGET queued and refills at a quarter of it (on_drain). */
#define CHUNK_MAX (1u << 20)
#define QUEUE_TARGET (4u << 20)
#define PORTS_PER_SOURCE 20000
#define CONNECT_WAIT_MS 10000
#define MAX_REPORTED 5

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum {
	OPT_CONNECT = 0x200,
	OPT_COUNT,
	OPT_SOURCES,
	OPT_PARALLEL,
	OPT_CA,
	OPT_SERVER_NAME,
	OPT_INSECURE,
	OPT_EXCHANGE,
	OPT_METHOD,
	OPT_EXPECT_BODY,
	OPT_BACKEND,
	OPT_TIMEOUT,
};

enum phase {
	PH_NEW = 0,   /* not opened yet */
	PH_HANDSHAKE, /* adopted, handshake running */
	PH_IDLE,      /* held */
	PH_EXCHANGE,  /* a request or its response in flight */
	PH_CLOSING,   /* tlsio_close() at quit */
	PH_FAILED,    /* reported, aborted */
	PH_CLOSED,    /* on_close came */
};

struct hold;
struct hconn;

/* One exchange in flight: --parallel of these, handed from connection to connection, so that
 * the response head buffer costs P times its size, not N times. */
struct xfer {
	struct hconn *hc;
	uint64_t body_to_queue; /* request body bytes not yet queued */
	uint64_t body_left;     /* response body bytes still to come */
	size_t head_len;
	int in_body;
	char head[HEAD_MAX];
};

struct hconn {
	struct hold *h;
	tlsio_conn *c;
	struct xfer *x;
	uint32_t idx;
	uint16_t lport;
	uint8_t phase;
};

struct hold {
	const char *connect_addr, *ca, *server_name, *backend;
	struct sockaddr_in dst;
	uint32_t count, sources, parallel;
	uint64_t exchange;
	int64_t expect_body; /* -1: any Content-Length */
	int insecure, is_post;
	uint32_t timeout_s;

	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_callbacks cb;
	tlsio_conn_opts copts;
	struct hconn *conns;
	struct xfer *xfers;
	uint8_t *chunk; /* the one request body buffer every connection sends from */
	size_t chunk_len;
	char req[256];
	size_t req_len;

	uint32_t next, inflight, hs_done, open;
	uint32_t x_next, x_inflight, x_done;
	uint64_t x_out, x_in; /* body bytes sent and received, over all exchanges */
	uint64_t exchanges;
	uint32_t closed_clean, closed_eof, closed_unclean;
	uint32_t failures;
	int failed, tearing_down;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --connect IP:PORT --count N (--ca FILE --server-name NAME | --insecure)\n"
		"               [options]\n"
		"\n"
		"Opens N TLS connections to one server with libtlsio's client (--parallel handshakes\n"
		"in flight at once), holds them idle, and follows commands read from stdin, one per\n"
		"line. Meant to be driven by a script that measures the server (bench/memory.sh).\n"
		"Each socket is bound to a source address 127.0.0.1 .. 127.0.0.K in turn (the port\n"
		"picked at connect time, IP_BIND_ADDRESS_NO_PORT), so N can exceed one address's\n"
		"ephemeral ports.\n"
		"\n"
		"Protocol (stdout, each line flushed):\n"
		"  ready N SECs                   all N handshakes are done; then stdin is read\n"
		"  exchange (stdin)  ->  exchanged N SECs MB/s\n"
		"                                 every connection, P at a time, sends one request\n"
		"                                 (POST with --exchange bytes of body, or GET) and\n"
		"                                 reads the whole response (Content-Length framed);\n"
		"                                 MB/s counts the bodies both ways; the connections\n"
		"                                 stay open and idle\n"
		"  quit (stdin) or EOF  ->  totals ...\n"
		"                                 close every connection (close_notify), exit;\n"
		"                                 'closed' counts the servers that answered with\n"
		"                                 close_notify, 'eof' those that just closed\n"
		"Any connection that fails, or a response that is not 200 with the expected body,\n"
		"is reported on stderr (status text, addresses) and ends the run with status 1.\n"
		"\n"
		"Options:\n"
		"  --connect IP:PORT    server, numeric IPv4 (required)\n"
		"  --count N            connections to hold (required)\n"
		"  --sources K          source addresses 127.0.0.1 .. 127.0.0.K, round robin\n"
		"                       (default: enough for at most %d connections each)\n"
		"  --parallel P         handshakes, and exchanges, in flight at once (default 200)\n"
		"  --ca FILE            PEM CA bundle to verify the server with\n"
		"  --server-name NAME   SNI and the name the server certificate must carry\n"
		"                       (required unless --insecure: an adopted socket has no\n"
		"                       host name to check against)\n"
		"  --insecure           do not verify the server certificate\n"
		"  --exchange BYTES     request body per connection for 'exchange' (default 1M)\n"
		"  --method POST|GET    request method (default POST; GET sends no body)\n"
		"  --expect-body BYTES  fail unless every response body is this long\n"
		"  --backend NAME       libtlsio backend (default epoll)\n"
		"  --timeout SEC        per-handshake timeout (default 60)\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 after quit with every connection held to the end, 1 on a failure,\n"
		"2 on bad usage.\n",
		PORTS_PER_SOURCE);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "65536", "64K", "16M", "1G" (binary multiples). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end != '\0' || (shift > 0 && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void src_text(const struct hold *h, const struct hconn *hc, char *buf, size_t len)
{
	char dst[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &h->dst.sin_addr, dst, sizeof(dst));
	snprintf(buf, len, "127.0.0.%u:%u -> %s:%u", (unsigned)(1 + hc->idx % h->sources),
	         (unsigned)hc->lport, dst, (unsigned)ntohs(h->dst.sin_port));
}

/* The run is over: say why, once per connection, and let main() see it. */
static void fail_conn(struct hconn *hc, const char *what, int status, int alert)
{
	struct hold *h = hc->h;
	char addr[96];
	/* the first few in full (a wrong name or CA fails every handshake in flight alike) */
	if (++h->failures <= MAX_REPORTED) {
		src_text(h, hc, addr, sizeof(addr));
		fprintf(stderr, PROG ": connection %u (%s): %s", (unsigned)hc->idx, addr, what);
		if (status != 0)
			fprintf(stderr, ": %s (status %d", tlsio_strerror(status), status);
		if (status != 0 && alert != TLSIO_ALERT_NONE)
			fprintf(stderr, ", alert %s/%d", tlsio_alert_name(alert), alert);
		if (status != 0)
			fputc(')', stderr);
		if (status == TLSIO_E_CERT_VERIFY && hc->c != NULL) {
			const char *why = NULL;
			tlsio_conn_cert_error(hc->c, &why);
			if (why != NULL && why[0] != '\0')
				fprintf(stderr, ": %s", why);
		}
		fputc('\n', stderr);
	}
	h->failed = 1;
	tlsio_loop_stop(h->loop);
	if (hc->c != NULL && hc->phase != PH_FAILED && hc->phase != PH_CLOSED) {
		hc->phase = PH_FAILED;
		tlsio_abort(hc->c);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Opening */

/* adopt() takes a connected socket. Over loopback the SYN, SYN-ACK and ACK are exchanged
 * inside connect() and the release of the socket lock right after, so this wait returns at
 * once unless the server's accept queue overflowed (--parallel is far below its backlog). */
static int wait_connected(int fd)
{
	struct pollfd p = {fd, POLLOUT, 0};
	int err = 0, rc;
	socklen_t len = sizeof(err);
	do
		rc = poll(&p, 1, CONNECT_WAIT_MS);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

static int open_one(struct hold *h, struct hconn *hc)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	socklen_t sl = sizeof(src);
	tlsio_conn_opts o = h->copts;
	const char *step = "socket";
	int fd, one = 1, rc = 0;

	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + hc->idx % h->sources);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* The port is then picked by connect() for the whole 4-tuple, not by bind() for the
	 * address alone: each source address has the whole ephemeral range for this server. */
	step = "bind";
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		rc = -errno;
		goto out;
	}
	step = "connect";
	if (connect(fd, (struct sockaddr *)&h->dst, sizeof(h->dst)) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	rc = wait_connected(fd);
	if (rc < 0)
		goto out;
	if (getsockname(fd, (struct sockaddr *)&src, &sl) == 0)
		hc->lport = ntohs(src.sin_port);
	step = "tlsio_conn_adopt";
	o.user = hc;
	rc = tlsio_conn_adopt(h->loop, fd, 0, h->cfg, &o, &hc->c);
	fd = -1; /* the library's now, also on failure */
	if (rc == 0) {
		hc->phase = PH_HANDSHAKE;
		h->open++;
	}
out:
	if (rc < 0) {
		char what[64];
		if (fd >= 0)
			close(fd);
		hc->c = NULL;
		snprintf(what, sizeof(what), "%s failed", step);
		fail_conn(hc, what, rc, TLSIO_ALERT_NONE);
	}
	return rc;
}

/* Keep --parallel handshakes in flight until all are started. */
static void open_more(struct hold *h)
{
	while (!h->failed && h->inflight < h->parallel && h->next < h->count) {
		struct hconn *hc = &h->conns[h->next++];
		if (open_one(h, hc) < 0)
			return;
		h->inflight++;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Exchanges */

static void body_sent(tlsio_send_req *req, int status)
{
	(void)status; /* a failure reaches on_close, which reports it */
	free(req);
}

static void queue_body(struct hold *h, struct xfer *x)
{
	tlsio_conn *c = x->hc->c;
	while (x->body_to_queue > 0 && tlsio_conn_queued(c) < QUEUE_TARGET) {
		size_t len = x->body_to_queue < h->chunk_len ? (size_t)x->body_to_queue : h->chunk_len;
		tlsio_send_req *req = malloc(sizeof(*req));
		int rc;
		if (req == NULL) {
			fail_conn(x->hc, "out of memory for a send request", -ENOMEM, TLSIO_ALERT_NONE);
			return;
		}
		rc = tlsio_send_ref(c, req, h->chunk, len, body_sent);
		if (rc < 0)
			free(req);
		if (rc == TLSIO_E_QUEUE_FULL)
			return; /* on_drain goes on */
		if (rc < 0) {
			fail_conn(x->hc, "sending the request body", rc, TLSIO_ALERT_NONE);
			return;
		}
		x->body_to_queue -= len;
		h->x_out += len;
	}
}

static void start_exchange(struct hold *h, struct hconn *hc, struct xfer *x)
{
	int rc;
	if (hc->phase != PH_IDLE) {
		fail_conn(hc, "not open for the exchange", 0, TLSIO_ALERT_NONE);
		return;
	}
	x->hc = hc;
	x->head_len = 0;
	x->in_body = 0;
	x->body_left = 0;
	x->body_to_queue = h->is_post ? h->exchange : 0;
	hc->x = x;
	hc->phase = PH_EXCHANGE;
	h->x_inflight++;
	rc = tlsio_send(hc->c, h->req, h->req_len);
	if (rc < 0) {
		fail_conn(hc, "sending the request head", rc, TLSIO_ALERT_NONE);
		return;
	}
	queue_body(h, x);
}

/* Start exchanges on the next connections while fewer than --parallel are in flight. */
static void exchange_more(struct hold *h)
{
	for (uint32_t i = 0; i < h->parallel && !h->failed && h->x_next < h->count; i++) {
		if (h->xfers[i].hc == NULL)
			start_exchange(h, &h->conns[h->x_next++], &h->xfers[i]);
	}
}

static void exchange_done(struct hold *h, struct xfer *x)
{
	struct hconn *hc = x->hc;
	hc->x = NULL;
	hc->phase = PH_IDLE;
	x->hc = NULL;
	h->x_inflight--;
	h->x_done++;
	h->exchanges++;
	exchange_more(h);
}

/* The response head is whole (x->head, x->head_len bytes, ending in CRLFCRLF). */
static int parse_head(struct hold *h, struct xfer *x)
{
	char *line = x->head, *end = x->head + x->head_len, *eol;
	char what[160];
	int have_length = 0;
	eol = memchr(line, '\r', (size_t)(end - line));
	if (eol == NULL || eol - line < 12 || memcmp(line, "HTTP/1.1 200", 12) != 0) {
		int shown = eol != NULL ? (int)(eol - line) : (int)(x->head_len < 40 ? x->head_len : 40);
		snprintf(what, sizeof(what), "response '%.*s'%s", shown, line,
		         h->is_post && x->head_len > 12 && memcmp(line + 9, "405", 3) == 0
		         ? " (the server takes no POST: try --method GET)" : "");
		fail_conn(x->hc, what, 0, TLSIO_ALERT_NONE);
		return -1;
	}
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end - line));
		if (eol == NULL || eol == line)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *p = line + 15;
			while (*p == ' ' || *p == '\t')
				p++;
			x->body_left = strtoull(p, NULL, 10);
			have_length = 1;
		} else if (strncasecmp(line, "Connection:", 11) == 0 &&
		           memmem(line, (size_t)(eol - line), "close", 5) != NULL) {
			fail_conn(x->hc, "the server will close the connection after the response", 0,
			          TLSIO_ALERT_NONE);
			return -1;
		}
	}
	if (!have_length) {
		fail_conn(x->hc, "response without Content-Length", 0, TLSIO_ALERT_NONE);
		return -1;
	}
	if (h->expect_body >= 0 && x->body_left != (uint64_t)h->expect_body) {
		snprintf(what, sizeof(what), "response body of %" PRIu64 " bytes, expected %" PRId64,
		         x->body_left, h->expect_body);
		fail_conn(x->hc, what, 0, TLSIO_ALERT_NONE);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Callbacks */

static void on_handshake(tlsio_conn *c, void *user)
{
	struct hconn *hc = user;
	struct hold *h = hc->h;
	(void)c;
	hc->phase = PH_IDLE;
	h->inflight--;
	h->hs_done++;
	open_more(h);
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct hconn *hc = user;
	struct hold *h = hc->h;
	struct xfer *x = hc->x;
	(void)c;
	if (hc->phase != PH_EXCHANGE) {
		if (hc->phase == PH_IDLE || hc->phase == PH_HANDSHAKE)
			fail_conn(hc, "the server sent data on an idle connection", 0, TLSIO_ALERT_NONE);
		return;
	}
	while (len > 0) {
		if (!x->in_body) {
			size_t old = x->head_len, from = old > 3 ? old - 3 : 0, take, hl;
			char *e;
			take = len < HEAD_MAX - old ? len : HEAD_MAX - old;
			memcpy(x->head + old, data, take);
			x->head_len += take;
			e = memmem(x->head + from, x->head_len - from, "\r\n\r\n", 4);
			if (e == NULL) {
				if (x->head_len == HEAD_MAX)
					fail_conn(hc, "response head too long", 0, TLSIO_ALERT_NONE);
				return;
			}
			hl = (size_t)(e + 4 - x->head);
			x->head_len = hl;
			if (parse_head(h, x) < 0)
				return;
			x->in_body = 1;
			data += hl - old;
			len -= hl - old;
		} else {
			size_t n = x->body_left < len ? (size_t)x->body_left : len;
			x->body_left -= n;
			h->x_in += n;
			data += n;
			len -= n;
		}
		if (x->in_body && x->body_left == 0) {
			if (len > 0 || x->body_to_queue > 0) {
				/* a response before the whole request, or more than it framed */
				fail_conn(hc, len > 0 ? "bytes after the response"
				                      : "a response before the whole request was sent",
				          0, TLSIO_ALERT_NONE);
				return;
			}
			exchange_done(h, x);
			return;
		}
	}
}

static void on_drain(tlsio_conn *c, void *user)
{
	struct hconn *hc = user;
	(void)c;
	if (hc->x != NULL && hc->x->body_to_queue > 0)
		queue_body(hc->h, hc->x);
}

static void on_peer_close(tlsio_conn *c, void *user)
{
	struct hconn *hc = user;
	if (hc->phase == PH_CLOSING)
		tlsio_close(c);
	else
		fail_conn(hc, "the server closed the connection (close_notify)", 0, TLSIO_ALERT_NONE);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct hconn *hc = user;
	struct hold *h = hc->h;
	(void)c;
	h->open--;
	if (h->tearing_down) {
		/* aborted by tlsio_loop_free() after a failure that was reported */
	} else if (hc->phase == PH_CLOSING) {
		/* After our close_notify a server may just close (nginx does: it sends no
		 * close_notify once it got one); everything it had to say was said by then. */
		if (status == 0) {
			h->closed_clean++;
		} else if (status == TLSIO_E_TRUNCATED) {
			h->closed_eof++;
		} else {
			h->closed_unclean++;
			fail_conn(hc, "closing", status, alert);
		}
	} else if (hc->phase != PH_FAILED) {
		fail_conn(hc, hc->phase == PH_HANDSHAKE ? "handshake failed" : "connection lost", status,
		          alert);
	}
	hc->phase = PH_CLOSED;
	hc->c = NULL;
	if (hc->x != NULL) {
		hc->x->hc = NULL;
		hc->x = NULL;
	}
}

/* ------------------------------------------------------------------------------------------ */

static int parse_connect(struct hold *h, const char *arg)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	char *end;
	unsigned long port;
	if (colon == NULL || (size_t)(colon - arg) >= sizeof(host))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port == 0 || port > 65535)
		return -1;
	h->dst.sin_family = AF_INET;
	h->dst.sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &h->dst.sin_addr) == 1 ? 0 : -1;
}

static int parse_args(struct hold *h, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"connect", required_argument, NULL, OPT_CONNECT},
		{"count", required_argument, NULL, OPT_COUNT},
		{"sources", required_argument, NULL, OPT_SOURCES},
		{"parallel", required_argument, NULL, OPT_PARALLEL},
		{"ca", required_argument, NULL, OPT_CA},
		{"server-name", required_argument, NULL, OPT_SERVER_NAME},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"exchange", required_argument, NULL, OPT_EXCHANGE},
		{"method", required_argument, NULL, OPT_METHOD},
		{"expect-body", required_argument, NULL, OPT_EXPECT_BODY},
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		uint64_t v = 0;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_CONNECT:
			if (parse_connect(h, optarg) < 0) {
				fprintf(stderr, PROG ": --connect wants a numeric IPv4 IP:PORT, not '%s'\n", optarg);
				return 2;
			}
			h->connect_addr = optarg;
			break;
		case OPT_COUNT:
		case OPT_SOURCES:
		case OPT_PARALLEL:
		case OPT_TIMEOUT:
			if (parse_size(optarg, &v) < 0 || v > UINT32_MAX ||
			    (v == 0 && opt != OPT_TIMEOUT) || (opt == OPT_SOURCES && v > 254)) {
				fprintf(stderr, PROG ": bad value for --%s: '%s'\n",
				        opt == OPT_COUNT ? "count" : opt == OPT_SOURCES ? "sources"
				        : opt == OPT_PARALLEL ? "parallel" : "timeout", optarg);
				return 2;
			}
			if (opt == OPT_COUNT)
				h->count = (uint32_t)v;
			else if (opt == OPT_SOURCES)
				h->sources = (uint32_t)v;
			else if (opt == OPT_PARALLEL)
				h->parallel = (uint32_t)v;
			else
				h->timeout_s = (uint32_t)v;
			break;
		case OPT_CA:
			h->ca = optarg;
			break;
		case OPT_SERVER_NAME:
			h->server_name = optarg;
			break;
		case OPT_INSECURE:
			h->insecure = 1;
			break;
		case OPT_EXCHANGE:
			if (parse_size(optarg, &h->exchange) < 0) {
				fprintf(stderr, PROG ": bad value for --exchange: '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_EXPECT_BODY:
			if (parse_size(optarg, &v) < 0 || v > INT64_MAX) {
				fprintf(stderr, PROG ": bad value for --expect-body: '%s'\n", optarg);
				return 2;
			}
			h->expect_body = (int64_t)v;
			break;
		case OPT_METHOD:
			if (strcmp(optarg, "POST") != 0 && strcmp(optarg, "GET") != 0) {
				fprintf(stderr, PROG ": --method is POST or GET, not '%s'\n", optarg);
				return 2;
			}
			h->is_post = strcmp(optarg, "POST") == 0;
			break;
		case OPT_BACKEND:
			h->backend = optarg;
			break;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (h->connect_addr == NULL || h->count == 0) {
		fprintf(stderr, PROG ": --connect and --count are required\nTry '" PROG " --help'.\n");
		return 2;
	}
	if (!h->insecure && (h->server_name == NULL || h->server_name[0] == '\0')) {
		fprintf(stderr, PROG ": verifying needs --server-name (the name in the server's "
		                "certificate, e.g. localhost), or --insecure\n");
		return 2;
	}
	if (h->sources == 0)
		h->sources = (h->count + PORTS_PER_SOURCE - 1) / PORTS_PER_SOURCE;
	if (h->sources > 254) {
		fprintf(stderr, PROG ": %u connections need more than 254 source addresses\n",
		        (unsigned)h->count);
		return 2;
	}
	if (h->parallel > h->count)
		h->parallel = h->count;
	return 0;
}

/* Run the loop until @p done says so or a connection failed. @return 0 or -1. */
static int run_until(struct hold *h, int (*done)(const struct hold *))
{
	while (!h->failed && !done(h)) {
		int rc = tlsio_loop_run(h->loop, TLSIO_RUN_ONCE);
		if (rc < 0) {
			fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
			return -1;
		}
	}
	return h->failed ? -1 : 0;
}

static int handshakes_done(const struct hold *h) { return h->hs_done == h->count; }
static int exchanges_done(const struct hold *h) { return h->x_done == h->count; }
static int all_closed(const struct hold *h) { return h->open == 0; }

/* One command from the driving script. @return 1 to go on, 0 to quit, -1 on failure. */
static int command(struct hold *h, const char *line)
{
	double t0;
	/* anything that happened while we were not looking (a server that closed idle
	 * connections) fails the run now rather than be measured */
	if (tlsio_loop_run(h->loop, TLSIO_RUN_NOWAIT) < 0 || h->failed)
		return -1;
	if (strcmp(line, "quit") == 0)
		return 0;
	if (strcmp(line, "exchange") != 0) {
		fprintf(stderr, PROG ": unknown command '%s' (exchange, quit)\n", line);
		return 1;
	}
	uint64_t out0 = h->x_out, in0 = h->x_in;
	double secs;
	t0 = now_s();
	h->x_next = h->x_done = 0;
	exchange_more(h);
	if (run_until(h, exchanges_done) < 0)
		return -1;
	secs = now_s() - t0;
	printf("exchanged %u %.2fs %.1fMB/s\n", (unsigned)h->x_done, secs,
	       (double)(h->x_out - out0 + h->x_in - in0) / 1e6 / (secs > 0 ? secs : 1e-9));
	fflush(stdout);
	return 1;
}

int main(int argc, char **argv)
{
	struct hold h;
	tlsio_tls_opts topts = TLSIO_TLS_OPTS_INIT;
	const tlsio_backend *be;
	const char *why = NULL;
	char *line = NULL;
	size_t line_cap = 0;
	double t0, hs_secs;
	int rc, ret = 1, cmd = 1;

	memset(&h, 0, sizeof(h));
	h.parallel = 200;
	h.exchange = 1u << 20;
	h.expect_body = -1;
	h.is_post = 1;
	h.backend = "epoll";
	h.timeout_s = 60;
	rc = parse_args(&h, argc, argv);
	if (rc != 0)
		return rc;
	/* a server that resets must be a status, not the end of the process */
	signal(SIGPIPE, SIG_IGN);

	be = tlsio_backend_by_name(h.backend);
	if (be == NULL) {
		fprintf(stderr, PROG ": no backend '%s' (compiled in: %s)\n", h.backend,
		        tlsio_backend_names());
		return 2;
	}
	rc = tlsio_loop_new(&h.loop, be);
	if (rc < 0) {
		if (rc == TLSIO_E_BACKEND_UNAVAILABLE)
			tlsio_backend_probe(be, &why);
		fprintf(stderr, PROG ": loop on %s: %s%s%s\n", h.backend, tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		return 1;
	}
	topts.ca_file = h.ca;
	topts.verify = h.insecure ? TLSIO_VERIFY_NONE : TLSIO_VERIFY_DEFAULT;
	rc = tlsio_tls_config_new(&h.cfg, 0, &topts, &why);
	if (rc < 0) {
		fprintf(stderr, PROG ": TLS configuration: %s%s%s\n", tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		goto out;
	}
	h.cb = (tlsio_callbacks)TLSIO_CALLBACKS_INIT;
	h.cb.on_handshake = on_handshake;
	h.cb.on_data = on_data;
	h.cb.on_drain = on_drain;
	h.cb.on_peer_close = on_peer_close;
	h.cb.on_close = on_close;
	h.copts = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	h.copts.cb = &h.cb;
	h.copts.server_name = h.insecure ? NULL : h.server_name;
	h.copts.handshake_timeout_ms = h.timeout_s * 1000;
	h.copts.low_water = QUEUE_TARGET / 4;
	/* closing N connections at once: their close_notify exchanges queue behind each other
	 * at the server, so the default 5 s would be a benchmark artefact at 100,000 */
	h.copts.linger_ms = 120000;

	h.conns = calloc(h.count, sizeof(*h.conns));
	h.xfers = calloc(h.parallel, sizeof(*h.xfers));
	h.chunk_len = h.exchange < CHUNK_MAX ? (size_t)h.exchange : CHUNK_MAX;
	h.chunk = malloc(h.chunk_len + 1);
	if (h.conns == NULL || h.xfers == NULL || h.chunk == NULL) {
		fprintf(stderr, PROG ": out of memory for %u connections\n", (unsigned)h.count);
		goto out;
	}
	for (size_t i = 0; i < h.chunk_len; i++)
		h.chunk[i] = (i % 64 == 63) ? '\n' : (uint8_t)('a' + i % 26);
	for (uint32_t i = 0; i < h.count; i++) {
		h.conns[i].h = &h;
		h.conns[i].idx = i;
	}
	if (h.is_post)
		rc = snprintf(h.req, sizeof(h.req),
		              "POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: %" PRIu64 "\r\n\r\n",
		              h.exchange);
	else
		rc = snprintf(h.req, sizeof(h.req), "GET / HTTP/1.1\r\nHost: bench\r\n\r\n");
	h.req_len = (size_t)rc;

	t0 = now_s();
	open_more(&h);
	if (run_until(&h, handshakes_done) < 0)
		goto out;
	hs_secs = now_s() - t0;
	printf("ready %u %.2fs\n", (unsigned)h.hs_done, hs_secs);
	fflush(stdout);

	/* Idle: the loop does not run while we wait for the script. */
	while (cmd > 0) {
		ssize_t n = getline(&line, &line_cap, stdin);
		if (n < 0) {
			cmd = 0; /* EOF: as quit */
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n == 0)
			continue;
		cmd = command(&h, line);
	}
	if (cmd < 0)
		goto out;

	for (uint32_t i = 0; i < h.count; i++) {
		struct hconn *hc = &h.conns[i];
		if (hc->phase == PH_IDLE) {
			hc->phase = PH_CLOSING;
			tlsio_close(hc->c);
		}
	}
	t0 = now_s();
	if (run_until(&h, all_closed) < 0)
		goto out;
	printf("totals connections %u handshakes %.2fs exchanges %" PRIu64 " sent %" PRIu64
	       " received %" PRIu64 " closed %u eof %u close %.2fs\n",
	       (unsigned)h.count, hs_secs, h.exchanges, h.x_out, h.x_in, (unsigned)h.closed_clean,
	       (unsigned)h.closed_eof, now_s() - t0);
	fflush(stdout);
	ret = h.closed_clean + h.closed_eof == h.count ? 0 : 1;

out:
	if (h.failures > MAX_REPORTED)
		fprintf(stderr, PROG ": %u connections failed (the first %d shown)\n",
		        (unsigned)h.failures, MAX_REPORTED);
	if (h.failed)
		fprintf(stderr, PROG ": failed: %u handshakes done, %u connections open, of %u\n",
		        (unsigned)h.hs_done, (unsigned)h.open, (unsigned)h.count);
	/* aborts what is still open (after a failure) */
	h.tearing_down = 1;
	tlsio_loop_free(h.loop);
	tlsio_tls_config_free(h.cfg);
	free(h.conns);
	free(h.xfers);
	free(h.chunk);
	free(line);
	return ret;
}
