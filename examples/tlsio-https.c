/* SPDX-License-Identifier: MIT */
/* tlsio-https: a minimal HTTP/1.1 responder over TLS (or, with --plain, over plain TCP or a
 * Unix socket), for load generators (wrk, h2load, curl).
 * Every GET answers with the same body: N bytes of a fixed pattern, or one file held in memory.
 * Bodies go out by reference (tlsio_send_ref) in slices of --chunk bytes, so a 1 GiB response
 * costs one shared buffer, and the send queue's high water paces it (on_drain refills). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "common.h"

#define PROG "tlsio-https"

enum {
	OPT_LISTEN = TLSX_OPT_TOOL,
	OPT_BODY_SIZE,
	OPT_FILE,
	OPT_CHUNK,
	OPT_HIGH_WATER,
	OPT_CIPHERS,
	OPT_MAX_HEADER,
	OPT_MAX_BODY,
	OPT_IDLE_TIMEOUT,
	OPT_THREADS,
	OPT_HS_TIMEOUT,
	OPT_COUNT_TLS_HEAP,
	OPT_CHAIN,
	OPT_SNI,
	OPT_PASSPHRASE_FILE,
	OPT_TICKET_KEY,
	OPT_TICKET_GRACE,
	OPT_TICKET_LIFETIME,
};

/* --chain: the most chains the tool takes (the library may take fewer: it says so) */
#define MAX_CHAINS 8
/* --passphrase-file: the library hands the callback 1024 bytes */
#define PASS_MAX 1024

/* A certificate chain and its key: --chain CERT:KEY, or an --sni entry's. */
struct keypair {
	char *cert, *key; /* one allocation: "CERT\0KEY" */
};

/* --sni NAME=CERT:KEY: a configuration of its own for clients asking for NAME. */
struct sni_entry {
	char *name; /* one allocation: "NAME\0CERT\0KEY" */
	struct keypair kp;
};

struct https_conn;

/* One thread's counters. Only that thread writes them, but GET /stats, served by any thread,
 * reads every thread's: hence atomics, updated with a relaxed load and store (plain moves, no
 * locked instruction on the request path). */
struct https_counters {
	atomic_uint_fast64_t accepted, open, closed, failed, requests, bad_requests, body_bytes,
		request_body_bytes, resumed;
};
#define CNT(f) atomic_load_explicit(&(f), memory_order_relaxed)
#define CNT_ADD(f, n) atomic_store_explicit(&(f), CNT(f) + (uint_fast64_t)(n), memory_order_relaxed)

/* The settings, then one thread's state: with --threads N each thread gets a copy of the
 * parsed settings (the body buffer and TLS configuration are shared, read-only) and its own
 * loop, listener, connections and counters. */
struct https_server {
	struct tlsx_common co;
	const char *listen_addr; /* NULL: --unix, or the default */
	struct tlsx_addrs addrs;
	const char *file;
	uint64_t body_size;   /* bytes per response */
	size_t chunk;         /* bytes per tlsio_send_ref */
	size_t high_water, low_water;
	size_t max_header;    /* request head limit (request line + headers) */
	uint64_t max_body;    /* request body limit (Content-Length) */
	const char *ciphers;
	uint64_t idle_timeout_ms;
	uint64_t hs_timeout_ms;
	int threads;
	struct keypair chains[MAX_CHAINS]; /* --chain, in order */
	int nchains;
	struct sni_entry *sni;             /* --sni, in order */
	int nsni;
	const char *passphrase_file;
	const char *ticket_key_file;
	uint32_t ticket_grace;             /* --ticket-grace, seconds */
	uint32_t ticket_lifetime;          /* --ticket-lifetime, seconds; 0: the library's */
	tlsio_conn_opts copts;

	/* The body: with --file the whole mapping; else one chunk of pattern, sent repeatedly. */
	const uint8_t *body;
	size_t body_buf_len;
	int body_mapped;
	size_t body_map_len;  /* with --file: the mapping's length (whole 2 MiB pages) */
	/* The head of every 200 answer, keep-alive [0] and closing [1]: formatted once. */
	char ok_head[2][192];
	size_t ok_head_len[2];

	/* Per thread from here on, from a cache line of its own: no false sharing with the
	 * neighbouring thread's state (the workers are one aligned array). */
	_Alignas(64) int index;
	int started;
	tlsio_loop *loop;
	tlsio_listener *listener[TLSX_MAX_LISTEN];
	struct https_conn *conns;
	int shutting_down;
	int reloadable; /* the loop takes reload tasks (under reload_mu) */

	struct https_counters n;
};

/* Every thread's state, for GET /stats. */
static struct https_server *all_workers;
static int n_workers;
/* SIGHUPs that replaced the configuration, and those that failed (the reload thread's) */
static atomic_uint_fast64_t n_reloads, n_reload_failures;

struct https_conn {
	struct https_conn *prev, *next;
	struct https_server *srv;
	tlsio_conn *c;
	char *in;             /* request bytes not yet answered (pipelined requests wait here) */
	size_t in_len, in_cap;
	uint64_t stream_off;  /* body bytes of the current response already queued */
	uint64_t stream_left; /* body bytes of the current response still to queue */
	uint64_t body_skip;   /* request body bytes still to read and discard */
	int respond_pending;  /* a response waits for the end of its request's body */
	int respond_head_only;
	int stats_pending;    /* the request being answered is GET /stats */
	int peer_eof;         /* the client closed its side */
	int close_after;      /* Connection: close (or HTTP/1.0): close once the response is queued */
	int paused;           /* tlsio_read_stop() in effect */
	int closing;          /* tlsio_close() called */
};

/* One in-flight body slice; the completion frees it. */
struct body_req {
	tlsio_send_req req;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --cert FILE --key FILE [options]\n"
		"       " PROG " --plain [options]\n"
		"\n"
		"Minimal HTTP/1.1 server over TLS (or plain, --plain) for benchmarks: GET (and\n"
		"HEAD) of any path answer 200 with the same body; keep-alive by default,\n"
		"'Connection: close' honoured (so h2load can measure full handshakes), pipelined\n"
		"requests answered in order; other methods get 405, malformed requests 400, a\n"
		"request head over --max-header 431, a request body over --max-body 413. A POST's\n"
		"body (Content-Length) is read and discarded, then it is answered as a GET (so a\n"
		"client can move bytes both ways); each followed by a close. GET /stats answers the\n"
		"server's counters and heap use (text; with --threads the sums over all threads,\n"
		"then 'threads N' and per-thread 'threadK_accepted' and 'threadK_requests' lines;\n"
		"'resumed N' counts the handshakes that resumed a session, 'reloads N' and\n"
		"'reload_failures N' the SIGHUPs).\n"
		"Prints 'listening on ADDR' on stdout (a line per address); the crypto path and\n"
		"backend on stderr. SIGINT/SIGTERM close every connection gracefully, aborting\n"
		"those still open after %d s (a second signal aborts them at once, a third exits at\n"
		"once); a summary goes to stderr (with --threads, one line per thread, then the\n"
		"total).\n"
		"\n"
		"SIGHUP reloads without a restart: every file (--cert, --key, --chain, --sni,\n"
		"--passphrase-file, --ticket-key, and --ca if given) is read again and new\n"
		"configurations are built; only if all of them succeed do they replace the old\n"
		"ones on every listener of every thread. Connections already accepted keep the\n"
		"configuration they started with, so nothing in flight is dropped. One line goes\n"
		"to stderr: 'reloaded: configuration N in use on M listeners (...)', or\n"
		"'reload failed: WHY (still serving configuration N)', WHY naming the file and\n"
		"the cause; the server then goes on with the old configuration. SIGHUPs that come\n"
		"before a reload has started make that one reload.\n"
		"\n"
		"Options:\n"
		"  --listen ADDR        address to listen on (default 127.0.0.1:8443): IP:PORT,\n"
		"                       [IPv6]:PORT, unix:PATH, unix:@NAME, fd:N (a listening\n"
		"                       socket this process inherited), or 'systemd': every\n"
		"                       socket systemd socket activation passed ($LISTEN_FDS;\n"
		"                       a .socket unit, systemd-socket-activate)\n"
		"  --cert FILE          PEM certificate chain (required, unless --plain)\n"
		"  --key FILE           PEM private key (required, unless --plain)\n"
		"  --chain CERT:KEY     a further certificate chain and its key beside --cert and\n"
		"                       --key, e.g. an RSA chain beside an ECDSA one; each client\n"
		"                       gets the first chain (--cert first) its signature\n"
		"                       algorithms accept. Repeatable, up to %d here (libtlsio 0.6\n"
		"                       takes 3 beside --cert); CERT's path cannot hold ':'\n"
		"  --sni NAME=CERT:KEY  clients asking (SNI) for NAME, exactly (case ignored) or by\n"
		"                       '*.example.org' (one label in place of '*'), get this\n"
		"                       certificate instead: a configuration of its own with the\n"
		"                       same other settings (versions, ALPN, ciphers, tickets);\n"
		"                       exact names win over wildcards, wildcards go in the\n"
		"                       order given; clients with another name or none get --cert.\n"
		"                       Repeatable\n"
		"  --passphrase-file FILE  the passphrase of encrypted private keys (PKCS#8, as\n"
		"                       'openssl pkey -aes256' writes them): the file's first\n"
		"                       line, without its newline; read again at each reload\n"
		"  --ticket-key FILE    the session ticket key, so that threads, processes and\n"
		"                       reloads given the same key resume each other's sessions:\n"
		"                       exactly 48 bytes ('openssl rand 48 > FILE') or 96 hex\n"
		"                       digits ('openssl rand -hex 48 > FILE'). Keep it secret.\n"
		"                       Without it each configuration has a random key, renewed\n"
		"                       every ticket lifetime, and a reload starts a new one (the\n"
		"                       sessions of before the reload then do a full handshake)\n"
		"  --ticket-grace SEC   with --ticket-key: how long, after a reload that changed\n"
		"                       the key, tickets of the previous key are still accepted\n"
		"                       (answered with a ticket of the new key; default 3600)\n"
		"  --ticket-lifetime SEC  how long a session ticket may be used (default 7200,\n"
		"                       at most 604800)\n"
		"  --body-size BYTES    body of every response, a fixed pattern (default 128;\n"
		"                       any size, e.g. 1G: it is streamed from one --chunk buffer)\n"
		"  --file PATH          serve this file's bytes instead (read once, kept in memory)\n"
		"  --chunk BYTES        bytes per send of a large body (default 1M)\n"
		"  --high-water BYTES   per-connection send queue limit (default 4M); streaming\n"
		"                       resumes at a quarter of it\n"
		"  --max-header BYTES   request head limit (default 16K)\n"
		"  --max-body BYTES     request body limit (Content-Length; default 64M)\n"
		"  --ciphers LIST       wolfSSL cipher list (default: the library's, see below)\n"
		"  --idle-timeout MS    close connections silent for MS (default 0: never)\n"
		"  --handshake-timeout MS  end a handshake not done in MS (default 0: none)\n"
		"  --count-tls-heap     account wolfSSL's heap apart (tls_heap_in_use in GET /stats)\n"
		"  --threads N          N threads, each with its own loop and its own SO_REUSEPORT\n"
		"                       listener on the same address; the kernel spreads the\n"
		"                       connections (default 1; 0: one per CPU); sockets passed\n"
		"                       in (fd:N, systemd) are shared by the threads instead\n"
		"%s"
		"%s"
		"\n"
		"Without --ciphers the library picks the server's cipher order from the crypto\n"
		"path: ChaCha20-Poly1305 first when wolfSSL's AES-GCM is not accelerated.\n"
		"Exit status: 0 after a signal, 1 on a runtime error, 2 on bad usage.\n",
		TLSX_DRAIN_MS / 1000, MAX_CHAINS, tlsx_server_help, tlsx_common_help);
}

/* ------------------------------------------------------------------------------------------ */

static void conn_unlink(struct https_conn *hc)
{
	struct https_server *srv = hc->srv;
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		srv->conns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	hc->prev = hc->next = NULL;
}

static void conn_close(struct https_conn *hc)
{
	if (!hc->closing) {
		hc->closing = 1;
		tlsio_close(hc->c);
	}
}

static void conn_abort(struct https_conn *hc)
{
	if (hc->closing != 2) {
		hc->closing = 2; /* on_close comes later, from the loop; nothing more to do until then */
		tlsio_abort(hc->c);
	}
}

static void send_failed(struct https_conn *hc, int rc)
{
	/* TLSIO_E_CLOSED: ending anyway, on_close tells how. Anything else: give up on this one. */
	if (rc != TLSIO_E_CLOSED) {
		if (!hc->srv->co.quiet)
			fprintf(stderr, PROG ": send: %s, aborting the connection\n", tlsio_strerror(rc));
		conn_abort(hc);
	} else {
		hc->closing = 1;
	}
}

static void body_done(tlsio_send_req *req, int status)
{
	(void)status; /* a failure also reaches on_close, which reports it */
	free(req->data);
}

/* Queue body slices until the response is complete or the queue reaches high water (on_drain
 * resumes). @return 1 when the whole body is queued, 0 when waiting for a drain, -1 on error. */
static int stream_body(struct https_conn *hc)
{
	struct https_server *srv = hc->srv;
	while (hc->stream_left > 0) {
		size_t off, len;
		struct body_req *br;
		int rc;
		if (tlsio_conn_queued(hc->c) >= srv->high_water)
			return 0;
		if (srv->body_mapped) {
			off = (size_t)hc->stream_off;
			len = srv->body_buf_len - off;
		} else {
			off = 0;
			len = srv->body_buf_len;
		}
		if (len > srv->chunk)
			len = srv->chunk;
		if (len > hc->stream_left)
			len = (size_t)hc->stream_left;
		/* Small bodies are cheaper copied (coalesced with the header into one record) than
		 * tracked by reference with an allocation and a completion. */
		if (len <= 4096) {
			rc = tlsio_send(hc->c, srv->body + off, len);
		} else {
			br = malloc(sizeof(*br));
			if (br == NULL) {
				conn_abort(hc);
				return -1;
			}
			br->req.data = br;
			rc = tlsio_send_ref(hc->c, &br->req, srv->body + off, len, body_done);
			if (rc < 0)
				free(br);
		}
		if (rc == TLSIO_E_QUEUE_FULL)
			return 0;
		if (rc < 0) {
			send_failed(hc, rc);
			return -1;
		}
		hc->stream_off += len;
		hc->stream_left -= len;
		CNT_ADD(srv->n.body_bytes, len);
	}
	return 1;
}

static size_t format_head(char *head, size_t cap, int code, const char *reason,
                          uint64_t content_length, int close_after)
{
	int n = snprintf(head, cap,
	                 "HTTP/1.1 %d %s\r\nServer: " PROG "\r\nContent-Type: %s\r\n"
	                 "Content-Length: %" PRIu64 "\r\n%s\r\n",
	                 code, reason, code == 200 ? "application/octet-stream" : "text/plain",
	                 content_length, close_after ? "Connection: close\r\n" : "");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static int send_head(struct https_conn *hc, int code, const char *reason, uint64_t content_length,
                     int close_after)
{
	const struct https_server *srv = hc->srv;
	char head[256];
	const char *p = head;
	size_t n;
	int rc;
	if (code == 200 && content_length == srv->body_size) {
		/* the answer to nearly every request: no formatting per response */
		p = srv->ok_head[close_after != 0];
		n = srv->ok_head_len[close_after != 0];
	} else {
		n = format_head(head, sizeof(head), code, reason, content_length, close_after);
	}
	rc = tlsio_send(hc->c, p, n);
	if (rc < 0)
		send_failed(hc, rc);
	return rc;
}

/* An error answer ends the connection: after a bad request the framing of what follows is
 * unknown, so answering later pipelined bytes would be guessing. */
static void send_error(struct https_conn *hc, int code, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	CNT_ADD(hc->srv->n.bad_requests, 1);
	if (send_head(hc, code, reason, (uint64_t)n, 1) == 0 && tlsio_send(hc->c, body, (size_t)n) == 0)
		conn_close(hc);
	else
		conn_abort(hc);
	hc->in_len = 0;
}

/* The whole process: every thread's counters (each a moment apart, so the sums are as of
 * "about now"), and the heap, which all threads share. */
static void send_stats(struct https_conn *hc, int head_only)
{
	uint64_t open = 0, accepted = 0, requests = 0, bad = 0, body_bytes = 0, req_body = 0;
	uint64_t resumed = 0;
	int64_t tls_heap = tlsio_crypto_heap_in_use();
	size_t cap = 768 + (size_t)n_workers * 96, n;
	char *body = malloc(cap);
	struct mallinfo2 mi = mallinfo2();
	if (body == NULL) {
		conn_abort(hc);
		return;
	}
	for (int i = 0; i < n_workers; i++) {
		struct https_counters *c = &all_workers[i].n;
		open += CNT(c->open);
		accepted += CNT(c->accepted);
		requests += CNT(c->requests);
		bad += CNT(c->bad_requests);
		body_bytes += CNT(c->body_bytes);
		req_body += CNT(c->request_body_bytes);
		resumed += CNT(c->resumed);
	}
	n = (size_t)snprintf(body, cap,
	                     "connections_open %" PRIu64 "\naccepted %" PRIu64 "\nrequests %" PRIu64
	                     "\nbad_requests %" PRIu64 "\nbody_bytes %" PRIu64
	                     "\nrequest_body_bytes %" PRIu64 "\nresumed %" PRIu64 "\nreloads %" PRIu64
	                     "\nreload_failures %" PRIu64 "\nheap_in_use %zu\n"
	                     "heap_mmapped %zu\ntls_heap_in_use %" PRId64 "\nconn_state_bytes %zu\nthreads %d\n",
	                     open, accepted, requests, bad, body_bytes, req_body, resumed,
	                     (uint64_t)atomic_load(&n_reloads), (uint64_t)atomic_load(&n_reload_failures),
	                     mi.uordblks, mi.hblkhd,
	                     tls_heap < 0 ? (int64_t)-1 : tls_heap, /* -1: no --count-tls-heap */
	                     (size_t)open * sizeof(struct https_conn), n_workers);
	for (int i = 0; i < n_workers && n < cap; i++)
		n += (size_t)snprintf(body + n, cap - n,
		                      "thread%d_accepted %" PRIu64 "\nthread%d_requests %" PRIu64 "\n", i,
		                      (uint64_t)CNT(all_workers[i].n.accepted), i,
		                      (uint64_t)CNT(all_workers[i].n.requests));
	if (n >= cap)
		n = cap - 1;
	if (send_head(hc, 200, "OK", (uint64_t)n, hc->close_after) == 0 && !head_only &&
	    tlsio_send(hc->c, body, n) < 0)
		conn_abort(hc);
	free(body);
}

static int header_is(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	return len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0;
}

/* Whether the comma-separated header value contains @p token (case-insensitive). */
static int value_has(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token);
	for (size_t i = 0; i + tl <= len; i++) {
		if (strncasecmp(v + i, token, tl) == 0 && (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
		    (i + tl == len || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == '\r'))
			return 1;
	}
	return 0;
}

static int respond(struct https_conn *hc, int head_only);

/* Answer one complete request head of @p len bytes (ending in CRLFCRLF). @return 0 to go on
 * with the next pipelined request, -1 to stop (error sent, or closing). */
static int handle_request(struct https_conn *hc, char *req, size_t len)
{
	struct https_server *srv = hc->srv;
	char *eol = memchr(req, '\n', len), *sp1, *sp2, *line;
	int head_only, is_post, http10, keep_alive = 0, conn_close_hdr = 0, have_length = 0;
	uint64_t body_len = 0;
	size_t rl;
	if (eol == NULL)
		goto bad;
	rl = (size_t)(eol - req);
	if (rl > 0 && req[rl - 1] == '\r')
		rl--;
	sp1 = memchr(req, ' ', rl);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', rl - (size_t)(sp1 + 1 - req)) : NULL;
	if (sp1 == NULL || sp2 == NULL || sp2 == sp1 + 1 || sp1[1] != '/')
		goto bad;
	if ((size_t)(req + rl - (sp2 + 1)) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		goto bad;
	http10 = sp2[8] == '0';
	/* Headers: only framing and Connection matter. A body is framed by Content-Length only
	 * (chunked is refused), so the next pipelined request starts where it ends. */
	for (line = eol + 1; line < req + len;) {
		char *next = memchr(line, '\n', (size_t)(req + len - line));
		size_t ll = (size_t)(next - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (memchr(line, ':', ll) == NULL || line[0] == ' ' || line[0] == '\t')
			goto bad;
		if (header_is(line, ll, "Connection")) {
			const char *v = line + 11;
			size_t vl = ll - 11;
			conn_close_hdr |= value_has(v, vl, "close");
			keep_alive |= value_has(v, vl, "keep-alive");
		} else if (header_is(line, ll, "Transfer-Encoding")) {
			goto bad;
		} else if (header_is(line, ll, "Content-Length")) {
			const char *v = line + 15, *e = line + ll;
			uint64_t n = 0;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			if (v == e || have_length)
				goto bad; /* empty, or a second one (RFC 9112 6.3: a framing we must refuse) */
			for (; v < e && *v >= '0' && *v <= '9'; v++) {
				if (n > (UINT64_MAX - 9) / 10)
					goto bad;
				n = n * 10 + (uint64_t)(*v - '0');
			}
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			if (v != e)
				goto bad;
			have_length = 1;
			body_len = n;
		}
		line = next + 1;
	}
	hc->close_after = conn_close_hdr || (http10 && !keep_alive);
	head_only = (size_t)(sp1 - req) == 4 && memcmp(req, "HEAD", 4) == 0;
	is_post = (size_t)(sp1 - req) == 4 && memcmp(req, "POST", 4) == 0;
	if (!head_only && !is_post && !((size_t)(sp1 - req) == 3 && memcmp(req, "GET", 3) == 0)) {
		send_error(hc, 405, "Method Not Allowed");
		return -1;
	}
	if (body_len > srv->max_body) {
		send_error(hc, 413, "Content Too Large");
		return -1;
	}
	CNT_ADD(srv->n.requests, 1);
	hc->stats_pending = sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "/stats", 6) == 0;
	if (body_len > 0) {
		/* answered once the body is read (serve() discards it) */
		hc->body_skip = body_len;
		hc->respond_pending = 1;
		hc->respond_head_only = head_only;
		return 0;
	}
	return respond(hc, head_only);
bad:
	send_error(hc, 400, "Bad Request");
	return -1;
}

/* The answer to a request whose body (if any) has been read. @return 0, or -1 if aborted. */
static int respond(struct https_conn *hc, int head_only)
{
	struct https_server *srv = hc->srv;
	if (hc->stats_pending) {
		hc->stats_pending = 0;
		send_stats(hc, head_only);
	} else {
		if (send_head(hc, 200, "OK", srv->body_size, hc->close_after) < 0)
			return -1;
		hc->stream_off = 0;
		hc->stream_left = head_only ? 0 : srv->body_size;
	}
	return 0;
}

/* Discard up to @p avail bytes of the request body still expected; @return how many. */
static size_t body_take(struct https_conn *hc, size_t avail)
{
	size_t take = avail < hc->body_skip ? avail : (size_t)hc->body_skip;
	hc->body_skip -= take;
	CNT_ADD(hc->srv->n.request_body_bytes, take);
	return take;
}

/* Answer pipelined requests in order while the previous response is fully queued. */
static void serve(struct https_conn *hc)
{
	struct https_server *srv = hc->srv;
	size_t used = 0;
	for (;;) {
		char *end;
		size_t hl;
		int rc;
		if (hc->closing)
			break;
		if (hc->stream_left > 0) {
			rc = stream_body(hc);
			if (rc <= 0)
				break; /* 0: on_drain goes on; -1: aborted */
		}
		if (hc->body_skip > 0) {
			used += body_take(hc, hc->in_len - used);
			if (hc->body_skip > 0) {
				if (hc->peer_eof)
					conn_close(hc); /* the body will not come: nothing to answer */
				break;
			}
		}
		if (hc->respond_pending) {
			hc->respond_pending = 0;
			if (respond(hc, hc->respond_head_only) < 0)
				return;
			continue;
		}
		if (hc->close_after) {
			conn_close(hc);
			break;
		}
		if (used == hc->in_len)
			break;
		end = memmem(hc->in + used, hc->in_len - used, "\r\n\r\n", 4);
		if (end == NULL) {
			if (hc->in_len - used >= srv->max_header) {
				send_error(hc, 431, "Request Header Fields Too Large");
				return;
			}
			break;
		}
		hl = (size_t)(end + 4 - (hc->in + used));
		rc = handle_request(hc, hc->in + used, hl);
		if (rc < 0)
			return; /* in_len was reset by send_error, or the connection is gone */
		used += hl;
	}
	if (used > 0) {
		memmove(hc->in, hc->in + used, hc->in_len - used);
		hc->in_len -= used;
	}
	if (hc->in_len == 0 && hc->in != NULL) {
		/* nothing waits: an idle connection holds no request buffer */
		free(hc->in);
		hc->in = NULL;
		hc->in_cap = 0;
	}
	/* Stop reading while a response waits for the queue or the buffer is full: bytes we
	 * cannot hold must stay in the kernel (and push back on the client). */
	if (!hc->closing) {
		int want_pause = hc->stream_left > 0 || hc->in_len >= srv->max_header;
		if (want_pause && !hc->paused) {
			hc->paused = 1;
			tlsio_read_stop(hc->c);
		} else if (!want_pause && hc->paused) {
			hc->paused = 0;
			tlsio_read_start(hc->c);
		}
	}
}

static void on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct https_conn *hc = user;
	(void)c;
	if (hc == NULL || hc->closing)
		return;
	if (hc->in_len == 0 && hc->body_skip > 0) {
		/* a request body that nothing else waits behind: discard it without copying */
		size_t take = body_take(hc, len);
		data += take;
		len -= take;
		if (hc->body_skip > 0)
			return;
	}
	/* Allocated per request and freed once nothing waits, so idle connections cost nothing
	 * here. The buffer stays near max_header: serve() stops reading once that much waits, and
	 * refuses a longer head; only the records already decrypted when reading stopped can push
	 * it past. */
	if (len > 0 && hc->in_len + len > hc->in_cap) {
		size_t cap = hc->in_len + len > hc->srv->max_header ? hc->in_len + len : hc->srv->max_header;
		char *p = realloc(hc->in, cap);
		if (p == NULL) {
			conn_abort(hc);
			return;
		}
		hc->in = p;
		hc->in_cap = cap;
	}
	if (len > 0) {
		memcpy(hc->in + hc->in_len, data, len);
		hc->in_len += len;
	}
	serve(hc);
}

static void on_drain(tlsio_conn *c, void *user)
{
	struct https_conn *hc = user;
	(void)c;
	if (hc != NULL && !hc->closing)
		serve(hc);
}

static void on_peer_close(tlsio_conn *c, void *user)
{
	struct https_conn *hc = user;
	(void)c;
	if (hc == NULL)
		return;
	/* The client is done asking; finish what it asked for, then close. */
	hc->close_after = 1;
	hc->peer_eof = 1;
	serve(hc);
}

static void on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct https_conn *hc = user;
	struct https_server *srv;
	(void)c;
	if (hc == NULL)
		return;
	srv = hc->srv;
	CNT_ADD(srv->n.closed, 1);
	CNT_ADD(srv->n.open, -1);
	/* Load generators drop connections at the end of a run (EOF without close_notify, resets):
	 * count those, but only print failures a user would want to see. */
	if (status != 0) {
		CNT_ADD(srv->n.failed, 1);
		if (!srv->co.quiet && status != TLSIO_E_TRUNCATED && status != -ECONNRESET &&
		    status != -EPIPE && status != TLSIO_E_EOF_IN_HANDSHAKE)
			tlsx_print_status(PROG, "connection closed", status, alert);
	}
	conn_unlink(hc);
	free(hc->in);
	free(hc);
}

/* Counted here, not at accept: only a finished handshake knows whether it resumed. */
static void on_handshake(tlsio_conn *c, void *user)
{
	struct https_conn *hc = user;
	if (hc != NULL && tlsio_conn_resumed(c))
		CNT_ADD(hc->srv->n.resumed, 1);
}

static const tlsio_callbacks https_callbacks = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = on_handshake,
	.on_data = on_data,
	.on_drain = on_drain,
	.on_peer_close = on_peer_close,
	.on_close = on_close,
};

static void on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct https_server *srv = user;
	struct https_conn *hc = calloc(1, sizeof(*hc));
	(void)l;
	if (hc == NULL) {
		tlsio_abort(c);
		return;
	}
	hc->srv = srv;
	hc->c = c;
	hc->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = hc;
	srv->conns = hc;
	CNT_ADD(srv->n.accepted, 1);
	CNT_ADD(srv->n.open, 1);
	tlsio_conn_set_user(c, hc);
}

/* ------------------------------------------------------------------------------------------ */

static void abort_all(struct https_server *srv)
{
	for (struct https_conn *hc = srv->conns; hc != NULL;) {
		if (hc->closing != 2) {
			hc->closing = 2; /* aborted: keeps the walk from coming back to it */
			tlsio_abort(hc->c);
			hc = srv->conns;
			continue;
		}
		hc = hc->next;
	}
}

/* A signal or a thread that failed: runs on this thread's loop. The drain stops accepting,
 * closes every connection (what is queued goes out, the rest of a body does not) and ends
 * https_run's tlsio_loop_run(). */
static void https_stop(tlsio_loop *loop, int how, void *user)
{
	struct https_server *srv = user;
	if (!srv->shutting_down) {
		int rc;
		srv->shutting_down = 1;
		for (struct https_conn *hc = srv->conns; hc != NULL; hc = hc->next) {
			hc->stream_left = 0;
			if (!hc->closing)
				hc->closing = 1; /* the drain calls tlsio_close() */
		}
		rc = tlsio_loop_drain(loop, TLSX_DRAIN_MS, tlsx_drained, &srv->co);
		if (rc < 0) {
			/* Without a drain the run still ends once nothing is left: close it all here. */
			fprintf(stderr, PROG ": shutdown without a deadline: cannot drain the loop: %s\n",
			        tlsio_strerror(rc));
			tlsx_listeners_close(srv->listener);
			for (struct https_conn *hc = srv->conns; hc != NULL; hc = hc->next)
				tlsio_close(hc->c);
		}
		/* closed, by the drain or above */
		memset(srv->listener, 0, sizeof(srv->listener));
	}
	if (how == TLSX_STOP_ABORT)
		abort_all(srv);
}

static int load_body(struct https_server *srv)
{
	if (srv->file != NULL) {
		struct stat st;
		void *p;
		int fd = open(srv->file, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", srv->file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		srv->body_size = (uint64_t)st.st_size;
		srv->body_buf_len = (size_t)st.st_size;
		if (st.st_size == 0) {
			close(fd);
			srv->body = (const uint8_t *)"";
			return 0;
		}
		/* Read once into anonymous memory and keep it resident: a benchmark should measure
		 * neither page faults nor TLB misses. A file mapping has 4 KiB pages: in a VM with
		 * shadow paging, a 1 GiB body read through one cost a TLB miss per 4 KiB and made
		 * wolfSSL's plaintext copy a third of the server's time; 2 MiB pages (madvise, where
		 * transparent huge pages allow it) take that away. */
		{
			size_t len = (size_t)st.st_size, huge = (size_t)2 << 20, map_len, off = 0;
			map_len = (len + huge - 1) / huge * huge;
			p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				fprintf(stderr, PROG ": %s: no memory for %zu bytes: %s\n", srv->file, len,
				        strerror(errno));
				close(fd);
				return -1;
			}
			(void)madvise(p, map_len, MADV_HUGEPAGE); /* a hint: without THP, 4 KiB pages */
			while (off < len) {
				ssize_t n = read(fd, (uint8_t *)p + off, len - off);
				if (n <= 0) {
					fprintf(stderr, PROG ": read %s: %s\n", srv->file,
					        n < 0 ? strerror(errno) : "the file got shorter");
					munmap(p, map_len);
					close(fd);
					return -1;
				}
				off += (size_t)n;
			}
			close(fd);
			(void)mprotect(p, map_len, PROT_READ);
			srv->body_buf_len = len;
			srv->body_map_len = map_len;
		}
		srv->body = p;
		srv->body_mapped = 1;
		return 0;
	}
	srv->body_buf_len = srv->body_size < srv->chunk ? (size_t)srv->body_size : srv->chunk;
	uint8_t *b = malloc(srv->body_buf_len + 1);
	if (b == NULL) {
		fprintf(stderr, PROG ": out of memory for the body\n");
		return -1;
	}
	/* Printable, so curl can show a small body; 64-byte lines like tlsx_prng's text mode. */
	for (size_t i = 0; i < srv->body_buf_len; i++)
		b[i] = (i % 64 == 63) ? '\n' : (uint8_t)('a' + i % 26);
	srv->body = b;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* TLS configurations: made at the start and again at each SIGHUP, from the same flags */

/* --passphrase-file's first line, handed to the library's callback; wiped after each build. */
struct passphrase {
	char buf[PASS_MAX];
	size_t len;
};

static int passphrase_cb(char *buf, size_t size, void *user)
{
	const struct passphrase *p = user;
	if (p->len > size)
		return -1;
	memcpy(buf, p->buf, p->len);
	return (int)p->len;
}

/* The ticket key in use and the one before it. The library keeps one previous key per
 * configuration, with a deadline; a reload makes new configurations, so the tool tells each
 * the keys it must still accept. Touched only where configurations are built: main before
 * the reload thread starts, then that thread alone. */
static struct {
	int have, have_prev;
	uint8_t cur[TLSIO_TICKET_KEY_LEN], prev[TLSIO_TICKET_KEY_LEN];
	int64_t prev_until_ms; /* CLOCK_MONOTONIC */
} tkeys;

/* What one build made: the main configuration (its SNI map holds the others) and the key. */
struct build {
	tlsio_tls_config *cfg;
	int have_key;
	uint8_t key[TLSIO_TICKET_KEY_LEN];
	int64_t now_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hex_val(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* @return 0, or -1 with @p why set. */
static int read_passphrase(const char *path, struct passphrase *p, char *why, size_t wl)
{
	uint8_t *buf;
	size_t len, n;
	char cause[128];
	int rc = tlsx_read_file(path, 64 * 1024, &buf, &len, cause, sizeof(cause));
	if (rc < 0) {
		snprintf(why, wl, "cannot read the passphrase file '%s': %s", path, cause);
		return -1;
	}
	n = strcspn((const char *)buf, "\n");
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	rc = 0;
	if (n == 0) {
		snprintf(why, wl, "the passphrase file '%s' has an empty first line", path);
		rc = -1;
	} else if (n > sizeof(p->buf)) {
		snprintf(why, wl, "the passphrase in '%s' is longer than %d bytes", path, PASS_MAX);
		rc = -1;
	} else if (memchr(buf, '\0', n) != NULL) {
		snprintf(why, wl, "the passphrase in '%s' holds a NUL byte", path);
		rc = -1;
	} else {
		memcpy(p->buf, buf, n);
		p->len = n;
	}
	tlsx_wipe(buf, len);
	free(buf);
	return rc;
}

/* 48 bytes as they are, or 96 hex digits and an optional newline. @return 0, or -1 with @p why. */
static int read_ticket_key(const char *path, uint8_t key[TLSIO_TICKET_KEY_LEN], char *why,
                           size_t wl)
{
	uint8_t *buf;
	size_t len, n;
	char cause[128];
	int rc = tlsx_read_file(path, 4096, &buf, &len, cause, sizeof(cause));
	if (rc < 0) {
		snprintf(why, wl, "cannot read the ticket key file '%s': %s", path, cause);
		return -1;
	}
	n = len;
	if (n == TLSIO_TICKET_KEY_LEN) {
		memcpy(key, buf, n);
	} else {
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		rc = n == 2 * TLSIO_TICKET_KEY_LEN ? 0 : -1;
		for (size_t i = 0; rc == 0 && i < TLSIO_TICKET_KEY_LEN; i++) {
			int hi = hex_val(buf[2 * i]), lo = hex_val(buf[2 * i + 1]);
			if (hi < 0 || lo < 0)
				rc = -1;
			else
				key[i] = (uint8_t)(hi << 4 | lo);
		}
		if (rc < 0) {
			tlsx_wipe(key, TLSIO_TICKET_KEY_LEN);
			snprintf(why, wl, "the ticket key file '%s' holds %zu bytes%s: a ticket key is "
			         "exactly %d bytes ('openssl rand %d > FILE') or %d hex digits ('openssl "
			         "rand -hex %d > FILE')", path, len,
			         n == 2 * TLSIO_TICKET_KEY_LEN ? ", not all hex digits" : "",
			         TLSIO_TICKET_KEY_LEN, TLSIO_TICKET_KEY_LEN, 2 * TLSIO_TICKET_KEY_LEN,
			         TLSIO_TICKET_KEY_LEN);
		}
	}
	tlsx_wipe(buf, len);
	free(buf);
	return rc;
}

/* Give a new configuration the key of --ticket-key (b->key), and keep accepting the tickets
 * of the keys in use until now: the same key, with the previous one for the rest of its
 * grace; or a new key, with the one in use so far for --ticket-grace. */
static int ticket_apply(const struct https_server *srv, tlsio_tls_config *cfg,
                        const struct build *b, char *why, size_t wl)
{
	int rc;
	if (!tkeys.have) {
		rc = tlsio_tls_ticket_key(cfg, b->key, sizeof(b->key), 0);
	} else if (memcmp(tkeys.cur, b->key, sizeof(b->key)) == 0) {
		int64_t left = tkeys.have_prev ? tkeys.prev_until_ms - b->now_ms : 0;
		rc = 0;
		if (left > 0)
			rc = tlsio_tls_ticket_key(cfg, tkeys.prev, sizeof(tkeys.prev), 0);
		if (rc == 0)
			rc = tlsio_tls_ticket_key(cfg, b->key, sizeof(b->key),
			                          left > 0 ? (uint32_t)((left + 999) / 1000) : 0);
	} else {
		rc = srv->ticket_grace > 0 ? tlsio_tls_ticket_key(cfg, tkeys.cur, sizeof(tkeys.cur), 0) : 0;
		if (rc == 0)
			rc = tlsio_tls_ticket_key(cfg, b->key, sizeof(b->key), srv->ticket_grace);
	}
	if (rc == -EEXIST)
		snprintf(why, wl, "the ticket key in '%s' has the name (its first 16 bytes) of the key "
		         "in use but another secret: a new key needs a new name", srv->ticket_key_file);
	else if (rc == -ENOTSUP)
		snprintf(why, wl, "--ticket-key '%s': this wolfSSL cannot take a ticket key (built "
		         "without session tickets or ChaCha20-Poly1305)", srv->ticket_key_file);
	else if (rc < 0)
		snprintf(why, wl, "--ticket-key '%s': %s", srv->ticket_key_file, tlsio_strerror(rc));
	return rc;
}

/* The build went into service: its key is the one in use now. */
static void ticket_commit(const struct https_server *srv, const struct build *b)
{
	if (!b->have_key)
		return;
	if (tkeys.have && memcmp(tkeys.cur, b->key, sizeof(b->key)) != 0) {
		tkeys.have_prev = srv->ticket_grace > 0;
		memcpy(tkeys.prev, tkeys.cur, sizeof(tkeys.prev));
		tkeys.prev_until_ms = b->now_ms + (int64_t)srv->ticket_grace * 1000;
	}
	memcpy(tkeys.cur, b->key, sizeof(tkeys.cur));
	tkeys.have = 1;
}

/* One configuration (the main one, with the --chain chains, or an --sni entry's), its
 * failure worded into @p why. */
static int config_one(const struct https_server *srv, const tlsio_tls_opts *o, const char *what,
                      tlsio_tls_config **out, char *why, size_t wl)
{
	const char *msg = NULL;
	int rc = tlsx_tls_config_try(&srv->co, 1, o, out, &msg);
	if (rc < 0) {
		if (msg == NULL || msg[0] == '\0')
			msg = tlsio_strerror(rc);
		snprintf(why, wl, "%s%s%s", what, msg,
		         strstr(msg, "no passphrase callback") != NULL ? " (give --passphrase-file FILE)"
		         : strstr(msg, "more_certs holds more") != NULL ? " (too many --chain)" : "");
	}
	return rc;
}

/* Every configuration from the flags, the files read now. @return 0, TLSX_EXIT_FAIL (a file
 * cannot be used) or TLSX_EXIT_USAGE (an --sni name that is none); @p why says which. */
static int build_configs(const struct https_server *srv, struct build *b, char *why, size_t wl)
{
	struct passphrase pp;
	tlsio_tls_opts base, chain[MAX_CHAINS];
	const tlsio_tls_opts *chains[MAX_CHAINS + 1];
	tlsio_tls_config *sc = NULL;
	char what[320];
	int ret = TLSX_EXIT_FAIL, rc;

	memset(b, 0, sizeof(*b));
	memset(&pp, 0, sizeof(pp));
	b->now_ms = mono_ms();
	if (srv->passphrase_file != NULL && read_passphrase(srv->passphrase_file, &pp, why, wl) < 0)
		goto out;
	if (srv->ticket_key_file != NULL) {
		if (read_ticket_key(srv->ticket_key_file, b->key, why, wl) < 0)
			goto out;
		b->have_key = 1;
	}
	tlsx_tls_opts(&srv->co, &base);
	base.ciphers = srv->ciphers;
	base.ticket_lifetime = srv->ticket_lifetime;
	if (srv->passphrase_file != NULL) {
		base.passphrase = passphrase_cb;
		base.passphrase_user = &pp;
	}
	for (int i = 0; i < srv->nchains; i++) {
		chain[i] = (tlsio_tls_opts)TLSIO_TLS_OPTS_INIT;
		chain[i].cert_file = srv->chains[i].cert;
		chain[i].key_file = srv->chains[i].key;
		chain[i].passphrase = base.passphrase;
		chain[i].passphrase_user = base.passphrase_user;
		chains[i] = &chain[i];
	}
	chains[srv->nchains] = NULL;
	base.more_certs = srv->nchains > 0 ? chains : NULL;
	if (config_one(srv, &base, "", &b->cfg, why, wl) < 0 ||
	    (b->have_key && ticket_apply(srv, b->cfg, b, why, wl) < 0))
		goto out;
	base.more_certs = NULL;
	for (int i = 0; i < srv->nsni; i++) {
		const struct sni_entry *e = &srv->sni[i];
		tlsio_tls_opts o = base;
		o.cert_file = e->kp.cert;
		o.key_file = e->kp.key;
		snprintf(what, sizeof(what), "--sni '%s': ", e->name);
		if (config_one(srv, &o, what, &sc, why, wl) < 0 ||
		    (b->have_key && ticket_apply(srv, sc, b, why, wl) < 0))
			goto out;
		rc = tlsio_tls_config_add_name(b->cfg, e->name, sc);
		if (rc < 0) {
			if (rc == -EINVAL)
				ret = TLSX_EXIT_USAGE;
			snprintf(why, wl, "--sni '%s': %s", e->name,
			         rc == -EINVAL ? "the name is no host name, nor '*.' and one"
			         : rc == -EEXIST ? "the name is given twice" : tlsio_strerror(rc));
			goto out;
		}
		tlsio_tls_config_free(sc); /* the map holds it */
		sc = NULL;
	}
	ret = 0;
out:
	tlsx_wipe(&pp, sizeof(pp));
	tlsio_tls_config_free(sc);
	if (ret != 0) {
		tlsio_tls_config_free(b->cfg);
		tlsx_wipe(b, sizeof(*b));
		b->cfg = NULL;
	}
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* SIGHUP: a reload thread builds the new configurations (reading files and parsing keys off
 * the loops), then posts a task to every thread's loop, which swaps its listeners' on its own
 * thread (tlsio_listener_set_config belongs to the loop's thread). */

static sem_t reload_sem;       /* posted by the SIGHUP handler (sem_post is async-signal-safe) */
static atomic_int reload_quit;
/* Guards cur_cfg and the workers' reloadable flags: a thread starting to listen takes the
 * current configuration, a reload posts only to loops that are not being freed. */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static tlsio_tls_config *cur_cfg; /* the process's reference to the configuration in use */
static unsigned cfg_generation;   /* its number, 1 at the start; the reload thread's */

struct reload_job {
	tlsio_tls_config *cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;   /* tasks not yet run */
	int listeners; /* listeners that took cfg */
	int kept;      /* listeners left with the old configuration */
	int err;
};

struct reload_part {
	struct reload_job *job;
	struct https_server *srv;
};

static void on_sighup(int signo)
{
	int saved = errno;
	(void)signo;
	sem_post(&reload_sem);
	errno = saved;
}

/* On the worker's loop thread; TLSIO_E_ABORTED: the loop is being freed, its listeners are
 * gone already. */
static void reload_task(tlsio_loop *loop, void *arg, int status)
{
	struct reload_part *p = arg;
	struct reload_job *job = p->job;
	int n = 0, kept = 0, err = 0;
	(void)loop;
	for (int i = 0; status == 0 && i < TLSX_MAX_LISTEN; i++) {
		int rc;
		if (p->srv->listener[i] == NULL)
			continue;
		rc = tlsio_listener_set_config(p->srv->listener[i], job->cfg);
		if (rc == 0) {
			n++;
		} else {
			kept++;
			err = rc;
		}
	}
	pthread_mutex_lock(&job->mu);
	job->listeners += n;
	job->kept += kept;
	if (err != 0)
		job->err = err;
	job->pending--;
	pthread_cond_signal(&job->cv);
	pthread_mutex_unlock(&job->mu);
}

static void reload(const struct https_server *srv)
{
	struct reload_job job;
	struct reload_part *parts = NULL;
	struct build b;
	tlsio_tls_config *old;
	char why[1024], keys[160] = "";
	int key_changed;

	if (srv->co.plain) {
		fprintf(stderr, "reload failed: --plain: there is no TLS configuration to reload\n");
		atomic_fetch_add(&n_reload_failures, 1);
		return;
	}
	parts = calloc((size_t)n_workers, sizeof(*parts));
	if (parts == NULL) {
		fprintf(stderr, "reload failed: out of memory (still serving configuration %u)\n",
		        cfg_generation);
		atomic_fetch_add(&n_reload_failures, 1);
		return;
	}
	if (build_configs(srv, &b, why, sizeof(why)) != 0) {
		fprintf(stderr, "reload failed: %s (still serving configuration %u)\n", why,
		        cfg_generation);
		atomic_fetch_add(&n_reload_failures, 1);
		free(parts);
		return;
	}
	memset(&job, 0, sizeof(job));
	job.cfg = b.cfg;
	pthread_mutex_init(&job.mu, NULL);
	pthread_cond_init(&job.cv, NULL);
	pthread_mutex_lock(&reload_mu);
	for (int i = 0; i < n_workers; i++) {
		struct https_server *w = &all_workers[i];
		if (!w->reloadable)
			continue;
		parts[i].job = &job;
		parts[i].srv = w;
		pthread_mutex_lock(&job.mu);
		job.pending++;
		pthread_mutex_unlock(&job.mu);
		if (tlsio_loop_post(w->loop, reload_task, &parts[i]) < 0) {
			pthread_mutex_lock(&job.mu);
			job.pending--;
			job.kept++; /* a thread's listeners, counted as one: it cannot say how many */
			job.err = -ENOMEM;
			pthread_mutex_unlock(&job.mu);
		}
	}
	/* Threads that start listening from here on get the new one. */
	old = cur_cfg;
	cur_cfg = b.cfg;
	pthread_mutex_unlock(&reload_mu);

	pthread_mutex_lock(&job.mu);
	while (job.pending > 0)
		pthread_cond_wait(&job.cv, &job.mu);
	pthread_mutex_unlock(&job.mu);
	pthread_cond_destroy(&job.cv);
	pthread_mutex_destroy(&job.mu);

	key_changed = b.have_key && tkeys.have && memcmp(tkeys.cur, b.key, sizeof(b.key)) != 0;
	if (!b.have_key)
		snprintf(keys, sizeof(keys), "new random ticket keys: sessions from before do a full "
		         "handshake");
	else if (key_changed && srv->ticket_grace > 0)
		snprintf(keys, sizeof(keys), "new ticket key; the previous one accepted for %" PRIu32
		         " s more", srv->ticket_grace);
	else if (key_changed)
		snprintf(keys, sizeof(keys), "new ticket key; the previous one no longer accepted");
	else
		snprintf(keys, sizeof(keys), "same ticket key");
	ticket_commit(srv, &b);
	tlsx_wipe(b.key, sizeof(b.key));
	cfg_generation++;
	atomic_fetch_add(&n_reloads, 1);
	/* The listeners dropped theirs; connections that run on it hold their own. */
	tlsio_tls_config_free(old);
	if (job.kept > 0)
		fprintf(stderr, "reloaded: configuration %u in use on %d listener%s, but %d kept "
		        "configuration %u: %s (%s)\n", cfg_generation, job.listeners,
		        job.listeners == 1 ? "" : "s", job.kept, cfg_generation - 1,
		        tlsio_strerror(job.err), keys);
	else
		fprintf(stderr, "reloaded: configuration %u in use on %d listener%s (%s)\n",
		        cfg_generation, job.listeners, job.listeners == 1 ? "" : "s", keys);
	free(parts);
}

static void *reload_main(void *arg)
{
	const struct https_server *srv = arg;
	for (;;) {
		while (sem_wait(&reload_sem) != 0 && errno == EINTR)
			;
		/* SIGHUPs that came meanwhile ask for the same thing: one reload reads the files as
		 * they are now */
		while (sem_trywait(&reload_sem) == 0)
			;
		if (atomic_load(&reload_quit))
			break;
		reload(srv);
	}
	return NULL;
}

/* Catch SIGHUP (before any thread: the default action ends the process). */
static int reload_install(void)
{
	struct sigaction sa;
	if (sem_init(&reload_sem, 0, 0) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sighup;
	sa.sa_flags = SA_RESTART; /* it posts no task: nothing needs a syscall interrupted */
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* The reload thread, with every signal blocked: the handlers run on the others. */
static int reload_start(pthread_t *tid, const struct https_server *srv)
{
	sigset_t all, old;
	int err;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(tid, NULL, reload_main, (void *)srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void reload_stop(pthread_t tid)
{
	atomic_store(&reload_quit, 1);
	sem_post(&reload_sem);
	pthread_join(tid, NULL);
}

static int parse_size_opt(const char *name, const char *arg, uint64_t *v)
{
	if (tlsx_parse_size(arg, v) < 0) {
		fprintf(stderr, PROG ": bad value for --%s: '%s'\n", name, arg);
		return -1;
	}
	return 0;
}

/* "CERT:KEY" in @p s (split in place, at the first ':'). @return 0, or -1 (message printed). */
static int split_keypair(const char *flag, const char *arg, char *s, struct keypair *kp)
{
	char *colon = strchr(s, ':');
	if (colon == NULL || colon == s || colon[1] == '\0') {
		fprintf(stderr, PROG ": bad value for %s: '%s' (expected %sCERT:KEY, the certificate "
		        "chain's file and its key's)\n", flag, arg, strcmp(flag, "--sni") == 0 ? "NAME=" : "");
		return -1;
	}
	*colon = '\0';
	kp->cert = s;
	kp->key = colon + 1;
	return 0;
}

static int parse_chain(struct https_server *srv, const char *arg)
{
	char *s;
	if (srv->nchains == MAX_CHAINS) {
		fprintf(stderr, PROG ": at most %d --chain\n", MAX_CHAINS);
		return -1;
	}
	s = strdup(arg);
	if (s == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	if (split_keypair("--chain", arg, s, &srv->chains[srv->nchains]) < 0) {
		free(s);
		return -1;
	}
	srv->nchains++;
	return 0;
}

static int parse_sni(struct https_server *srv, const char *arg)
{
	struct sni_entry *e;
	char *s, *eq;
	s = strdup(arg);
	e = realloc(srv->sni, ((size_t)srv->nsni + 1) * sizeof(*e));
	if (s == NULL || e == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		free(s);
		if (e != NULL)
			srv->sni = e;
		return -1;
	}
	srv->sni = e;
	e = &srv->sni[srv->nsni];
	eq = strchr(s, '=');
	if (eq == NULL || eq == s) {
		fprintf(stderr, PROG ": bad value for --sni: '%s' (expected NAME=CERT:KEY, NAME a host "
		        "name or '*.' and one)\n", arg);
		free(s);
		return -1;
	}
	*eq = '\0';
	if (split_keypair("--sni", arg, eq + 1, &e->kp) < 0) {
		free(s);
		return -1;
	}
	e->name = s;
	for (int i = 0; i < srv->nsni; i++) {
		if (strcasecmp(srv->sni[i].name, s) == 0) {
			fprintf(stderr, PROG ": --sni '%s' given twice\n", s);
			free(s);
			return -1;
		}
	}
	srv->nsni++;
	return 0;
}

/* Seconds, at most a ticket's longest life (RFC 8446 4.6.1: 7 days). */
static int parse_seconds(const char *flag, const char *arg, uint64_t min, uint32_t *out)
{
	uint64_t v;
	if (tlsx_parse_u64(arg, &v) < 0 || v < min || v > 604800) {
		fprintf(stderr, PROG ": bad value for %s: '%s' (seconds, %" PRIu64 " to 604800)\n", flag,
		        arg, min);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static void free_args(struct https_server *srv)
{
	for (int i = 0; i < srv->nchains; i++)
		free(srv->chains[i].cert);
	for (int i = 0; i < srv->nsni; i++)
		free(srv->sni[i].name);
	free(srv->sni);
	srv->nchains = srv->nsni = 0;
	srv->sni = NULL;
}

static int parse_args(struct https_server *srv, int argc, char **argv)
{
	static const struct option longopts[] = {
		TLSX_COMMON_LONGOPTS,
		TLSX_SERVER_LONGOPTS,
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"body-size", required_argument, NULL, OPT_BODY_SIZE},
		{"file", required_argument, NULL, OPT_FILE},
		{"chunk", required_argument, NULL, OPT_CHUNK},
		{"high-water", required_argument, NULL, OPT_HIGH_WATER},
		{"ciphers", required_argument, NULL, OPT_CIPHERS},
		{"max-header", required_argument, NULL, OPT_MAX_HEADER},
		{"max-body", required_argument, NULL, OPT_MAX_BODY},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
		{"count-tls-heap", no_argument, NULL, OPT_COUNT_TLS_HEAP},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"chain", required_argument, NULL, OPT_CHAIN},
		{"sni", required_argument, NULL, OPT_SNI},
		{"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},
		{"ticket-key", required_argument, NULL, OPT_TICKET_KEY},
		{"ticket-grace", required_argument, NULL, OPT_TICKET_GRACE},
		{"ticket-lifetime", required_argument, NULL, OPT_TICKET_LIFETIME},
		{NULL, 0, NULL, 0},
	};
	const char *tls_only = NULL; /* a flag that needs TLS, for the --plain check */
	int opt, grace_set = 0;
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
		case OPT_BODY_SIZE:
			if (parse_size_opt("body-size", optarg, &srv->body_size) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_MAX_BODY:
			if (parse_size_opt("max-body", optarg, &srv->max_body) < 0)
				return TLSX_EXIT_USAGE;
			break;
		case OPT_FILE:
			srv->file = optarg;
			break;
		case OPT_CHUNK:
		case OPT_HIGH_WATER:
		case OPT_MAX_HEADER:
			if (parse_size_opt(opt == OPT_CHUNK ? "chunk" : opt == OPT_HIGH_WATER ? "high-water"
			                                                                       : "max-header",
			                   optarg, &v) < 0)
				return TLSX_EXIT_USAGE;
			if (v == 0 || v > SIZE_MAX / 2) {
				fprintf(stderr, PROG ": value out of range: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			if (opt == OPT_CHUNK)
				srv->chunk = (size_t)v;
			else if (opt == OPT_HIGH_WATER)
				srv->high_water = (size_t)v;
			else
				srv->max_header = (size_t)v;
			break;
		case OPT_CIPHERS:
			srv->ciphers = optarg;
			break;
		case OPT_IDLE_TIMEOUT:
			if (tlsx_parse_u64(optarg, &srv->idle_timeout_ms) < 0) {
				fprintf(stderr, PROG ": bad value for --idle-timeout: '%s'\n", optarg);
				return TLSX_EXIT_USAGE;
			}
			break;
		case OPT_COUNT_TLS_HEAP:
			/* before the TLS configuration is made: wolfSSL's every block must be counted */
			if ((rc = tlsio_crypto_heap_count()) < 0) {
				fprintf(stderr, PROG ": --count-tls-heap: %s\n", tlsio_strerror(rc));
				return TLSX_EXIT_FAIL;
			}
			break;
		case OPT_HS_TIMEOUT:
			if (tlsx_parse_u64(optarg, &srv->hs_timeout_ms) < 0) {
				fprintf(stderr, PROG ": bad value for --handshake-timeout: '%s'\n", optarg);
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
		case OPT_CHAIN:
			if (parse_chain(srv, optarg) < 0)
				return TLSX_EXIT_USAGE;
			tls_only = "--chain";
			break;
		case OPT_SNI:
			if (parse_sni(srv, optarg) < 0)
				return TLSX_EXIT_USAGE;
			tls_only = "--sni";
			break;
		case OPT_PASSPHRASE_FILE:
			srv->passphrase_file = optarg;
			tls_only = "--passphrase-file";
			break;
		case OPT_TICKET_KEY:
			srv->ticket_key_file = optarg;
			tls_only = "--ticket-key";
			break;
		case OPT_TICKET_GRACE:
			if (parse_seconds("--ticket-grace", optarg, 0, &srv->ticket_grace) < 0)
				return TLSX_EXIT_USAGE;
			grace_set = 1;
			tls_only = "--ticket-grace";
			break;
		case OPT_TICKET_LIFETIME:
			if (parse_seconds("--ticket-lifetime", optarg, 1, &srv->ticket_lifetime) < 0)
				return TLSX_EXIT_USAGE;
			tls_only = "--ticket-lifetime";
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
	if (srv->co.plain && tls_only != NULL) {
		fprintf(stderr, PROG ": --plain has no TLS: %s does not apply\n", tls_only);
		return TLSX_EXIT_USAGE;
	}
	if (grace_set && srv->ticket_key_file == NULL) {
		fprintf(stderr, PROG ": --ticket-grace is the previous --ticket-key's grace after a "
		        "reload: give --ticket-key FILE\n");
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* one server per thread (tlsx_run_servers) */

static int https_start(void *worker, const struct tlsx_addrs *addrs, int shared,
                       struct tlsx_addrs *bound)
{
	struct https_server *srv = worker;
	int rc;
	/* The configuration in use now: a reload while the threads start reaches this one either
	 * way, through cur_cfg or through a task once it is reloadable. */
	pthread_mutex_lock(&reload_mu);
	rc = tlsx_server_listen(&srv->co, addrs, shared, cur_cfg, &srv->copts, on_accept, https_stop,
	                        srv, &srv->loop, srv->listener, bound);
	if (rc == 0) {
		srv->started = 1;
		srv->reloadable = 1;
	}
	pthread_mutex_unlock(&reload_mu);
	return rc;
}

static int https_run(void *worker)
{
	struct https_server *srv = worker;
	/* Serves until https_stop's drain ends the run. */
	int rc = tlsio_loop_run(srv->loop, TLSIO_RUN_DEFAULT);
	if (rc < 0) {
		fprintf(stderr, PROG ": loop failed: %s\n", tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	return TLSX_EXIT_OK;
}

static void https_finish(void *worker)
{
	struct https_server *srv = worker;
	/* No reload posts to the loop once it is being freed (a task pending then runs in the
	 * free, aborted, and the reload counts it done). */
	pthread_mutex_lock(&reload_mu);
	srv->reloadable = 0;
	pthread_mutex_unlock(&reload_mu);
	tlsx_signals_unwatch(srv->loop);
	/* On this thread: tlsio_loop_free releases the thread's TLS caches too. */
	tlsio_loop_free(srv->loop);
	srv->loop = NULL;
	memset(srv->listener, 0, sizeof(srv->listener));
}

static void https_listening(const struct tlsx_addrs *bound, void *arg)
{
	struct https_server *srv = arg;
	for (int i = 0; i < bound->n; i++)
		printf("listening on %s\n", bound->addr[i]);
	fflush(stdout);
	if (srv->co.quiet)
		return;
	/* Worker 0's loop info: it listens, so its loop_init is done and published. */
	fprintf(stderr, PROG ": backend %s (%s)", srv->co.backend, tlsio_loop_info(all_workers[0].loop));
	if (srv->threads > 1)
		fprintf(stderr, ", %d threads (%s)", srv->threads,
		        tlsx_addrs_inherited(&srv->addrs)
		                ? "one loop each, sharing the inherited sockets' accept queues"
		                : "one loop and one SO_REUSEPORT listener each");
	fputc('\n', stderr);
	if (!srv->co.plain)
		fprintf(stderr, PROG ": crypto: %s%s\n", tlsio_crypto_info(),
		        srv->ciphers != NULL ? " (overridden by --ciphers)" : "");
	else
		fprintf(stderr, PROG ": plain HTTP (--plain): no TLS\n");
	fprintf(stderr, PROG ": body %" PRIu64 " bytes%s%s\n", srv->body_size,
	        srv->file != NULL ? " from " : "", srv->file != NULL ? srv->file : "");
	if (!srv->co.plain)
		fprintf(stderr, PROG ": %d certificate chain%s, %d SNI entr%s, ticket key %s%s%s, "
		        "ticket lifetime %" PRIu32 " s; SIGHUP reloads\n", 1 + srv->nchains,
		        srv->nchains > 0 ? "s" : "", srv->nsni, srv->nsni == 1 ? "y" : "ies",
		        srv->ticket_key_file != NULL ? "from '" : "random per configuration",
		        srv->ticket_key_file != NULL ? srv->ticket_key_file : "",
		        srv->ticket_key_file != NULL ? "'" : "",
		        srv->ticket_lifetime != 0 ? srv->ticket_lifetime : 7200);
}

static void print_summary(const char *who, uint64_t closed, uint64_t failed, uint64_t requests,
                          uint64_t bad, uint64_t body_bytes, uint64_t resumed)
{
	fprintf(stderr, PROG ": %s%" PRIu64 " connections (%" PRIu64 " not closed cleanly), %" PRIu64
	        " requests, %" PRIu64 " refused, %" PRIu64 " body bytes, %" PRIu64 " resumed\n",
	        who, closed, failed, requests, bad, body_bytes, resumed);
}

int main(int argc, char **argv)
{
	static const struct tlsx_server_ops ops = {https_start, https_run, https_finish};
	struct https_server srv, *workers = NULL;
	const tlsio_backend *backend;
	struct build first;
	pthread_t reloader;
	char why[1024];
	uint64_t closed = 0, failed = 0, requests = 0, bad = 0, body_bytes = 0, resumed = 0;
	int rc, ret = TLSX_EXIT_FAIL, started = 0, reloading = 0;

	memset(&srv, 0, sizeof(srv));
	srv.co.prog = PROG;
	srv.body_size = 128;
	srv.chunk = 1024 * 1024;
	srv.high_water = 4u * 1024 * 1024;
	srv.max_header = 16 * 1024;
	srv.max_body = 64u << 20;
	srv.threads = 1;
	srv.ticket_grace = 3600;
	rc = parse_args(&srv, argc, argv);
	if (rc != 0)
		return rc;
	if (srv.co.list_backends) {
		tlsx_list_backends(stdout);
		return TLSX_EXIT_OK;
	}
	if (!srv.co.plain && (srv.co.cert == NULL || srv.co.key == NULL)) {
		fprintf(stderr, PROG ": a TLS server needs a certificate and its key: --cert FILE --key FILE\n"
		                "(for a test run: --cert tests/certs/server.pem --key tests/certs/server.key;"
		                " plain HTTP: --plain)\n");
		return TLSX_EXIT_USAGE;
	}
	if (srv.co.plain && srv.ciphers != NULL) {
		fprintf(stderr, PROG ": --plain has no TLS: --ciphers does not apply\n");
		return TLSX_EXIT_USAGE;
	}
	rc = tlsx_server_addrs(&srv.co, srv.listen_addr, "127.0.0.1:8443", srv.threads, &srv.addrs);
	if (rc != 0)
		return rc;
	rc = tlsx_backend(&srv.co, &backend);
	if (rc != 0)
		return rc;
	/* Every thread looks the backend up by this name: the one checked above. */
	srv.co.backend = tlsio_backend_name(backend);
	/* Refill at a quarter: late enough to batch sends, early enough to keep the socket busy. */
	srv.low_water = srv.high_water / 4;
	if (load_body(&srv) < 0)
		return TLSX_EXIT_FAIL;
	for (int close_after = 0; close_after < 2; close_after++)
		srv.ok_head_len[close_after] = format_head(srv.ok_head[close_after], sizeof(srv.ok_head[0]),
		                                           200, "OK", srv.body_size, close_after);

	/* Before any thread, so that no signal finds the default action (a stop asked during the
	 * start reaches each loop as it is watched). */
	rc = tlsx_signals_install(3);
	if (rc == 0)
		rc = reload_install();
	if (rc < 0) {
		fprintf(stderr, PROG ": setup: %s\n", tlsio_strerror(rc));
		goto out;
	}
	if (!srv.co.plain) {
		rc = build_configs(&srv, &first, why, sizeof(why));
		if (rc != 0) {
			fprintf(stderr, PROG ": TLS configuration: %s\n", why);
			ret = rc;
			goto out;
		}
		ticket_commit(&srv, &first);
		tlsx_wipe(first.key, sizeof(first.key));
		cur_cfg = first.cfg;
	}
	cfg_generation = 1;
	tlsx_conn_opts(&srv.co, &srv.copts);
	srv.copts.cb = &https_callbacks;
	srv.copts.user = NULL; /* each connection gets its own state in on_accept */
	/* The library's queue may exceed our pacing threshold by one chunk; leave it room so a
	 * streaming send is never refused. */
	srv.copts.high_water = srv.high_water + srv.chunk + 64 * 1024;
	srv.copts.low_water = srv.low_water;
	srv.copts.idle_timeout_ms = (unsigned)srv.idle_timeout_ms;
	srv.copts.handshake_timeout_ms = (unsigned)srv.hs_timeout_ms;

	/* sizeof is a multiple of the 64-byte alignment, so every worker starts a cache line */
	workers = aligned_alloc(64, (size_t)srv.threads * sizeof(*workers));
	if (workers == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	memset(workers, 0, (size_t)srv.threads * sizeof(*workers));
	for (int i = 0; i < srv.threads; i++) {
		/* The settings and the empty state, up to the counters (zero): atomics are not
		 * something to copy by assignment. */
		memcpy(&workers[i], &srv, offsetof(struct https_server, n));
		workers[i].index = i;
	}
	all_workers = workers;
	n_workers = srv.threads;
	rc = reload_start(&reloader, &srv);
	if (rc < 0) {
		fprintf(stderr, PROG ": cannot start the reload thread: %s\n", strerror(-rc));
		goto out;
	}
	reloading = 1;
	ret = tlsx_run_servers(srv.threads, workers, sizeof(*workers), &ops, &srv.addrs,
	                       https_listening, &srv);
	/* A reload under way finishes first (the loops are gone: their tasks ran, aborted). */
	reload_stop(reloader);
	reloading = 0;
	/* The threads are joined: their counters are final. */
	for (int i = 0; i < srv.threads; i++) {
		struct https_counters *c = &workers[i].n;
		char who[32];
		if (!workers[i].started)
			continue;
		started = 1;
		closed += CNT(c->closed);
		failed += CNT(c->failed);
		requests += CNT(c->requests);
		bad += CNT(c->bad_requests);
		body_bytes += CNT(c->body_bytes);
		resumed += CNT(c->resumed);
		snprintf(who, sizeof(who), "thread %d: ", i);
		if (srv.threads > 1 && !srv.co.quiet)
			print_summary(who, CNT(c->closed), CNT(c->failed), CNT(c->requests),
			              CNT(c->bad_requests), CNT(c->body_bytes), CNT(c->resumed));
	}
	if (started && !srv.co.quiet)
		print_summary("", closed, failed, requests, bad, body_bytes, resumed);

out:
	if (reloading)
		reload_stop(reloader);
	free(workers);
	tlsio_tls_config_free(cur_cfg);
	cur_cfg = NULL;
	tlsx_wipe(&tkeys, sizeof(tkeys));
	free_args(&srv);
	if (srv.body_mapped)
		munmap((void *)srv.body, srv.body_map_len);
	else if (srv.file == NULL)
		free((void *)srv.body);
	return ret;
}
