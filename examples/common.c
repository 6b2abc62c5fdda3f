/* SPDX-License-Identifier: MIT */
/* Helpers shared by the example tools. Only the public API of libtlsio is used here. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char tlsx_common_help[] =
	"  --backend NAME       I/O backend: auto, or one of --list-backends\n"
	"                       (default: $TLSIO_BACKEND, else auto)\n"
	"  --list-backends      list the compiled-in backends (unusable ones marked)\n"
	"  --tls-min 1.2|1.3    lowest TLS version to accept (default 1.2)\n"
	"  --tls-max 1.2|1.3    highest TLS version to offer (default 1.3)\n"
	"  --alpn LIST          comma-separated ALPN protocols in preference order\n"
	"  --sndbuf BYTES       SO_SNDBUF per connection (e.g. 16K; default: kernel's)\n"
	"  --rcvbuf BYTES       SO_RCVBUF per connection (default: kernel's)\n"
	"  -q, --quiet          print less\n"
	"  -h, --help           this text\n";

const char tlsx_server_help[] =
	"  --plain              no TLS: plain TCP or Unix connections (then no --cert/--key)\n"
	"  --unix PATH          listen on the Unix socket PATH instead of --listen (@NAME:\n"
	"                       Linux's abstract namespace, no file); a file left by a\n"
	"                       process that is gone is replaced, and removed at exit\n"
	"  --unix-mode OCTAL    permission bits of the socket file, e.g. 0660 (default:\n"
	"                       as the umask leaves them)\n";

const char tlsx_client_help[] =
	"  --plain              no TLS: a plain TCP or Unix connection\n"
	"  --unix PATH          connect to the Unix socket PATH instead of --connect\n"
	"                       (@NAME: abstract); TLS over it needs --server-name\n"
	"  --connect-timeout MS  bound on resolving the name and connecting (default\n"
	"                       30000; every address the name has is tried, Happy Eyeballs)\n";

/* ------------------------------------------------------------------------------------------ */
/* Parsing */

int tlsx_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	/* strtoull accepts "-1" and wraps it; a size never starts with a sign. */
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int tlsx_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	case 'B': break;
	default: return -1;
	}
	if (shift != 0 && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	else if (shift == 0 && strcasecmp(end, "B") == 0)
		end++;
	if (*end != '\0')
		return -1;
	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int tlsx_parse_int_size(const char *s, int *out)
{
	uint64_t v;
	if (tlsx_parse_size(s, &v) < 0 || v > INT32_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int tlsx_parse_version(const char *s, int *out)
{
	if (s == NULL)
		return -1;
	/* Accept the spellings people copy from openssl/wolfSSL output. */
	if (strncasecmp(s, "TLSv", 4) == 0)
		s += 4;
	else if (strncasecmp(s, "TLS", 3) == 0)
		s += 3;
	if (strcmp(s, "1.2") == 0 || strcmp(s, "12") == 0)
		*out = TLSIO_TLS_1_2;
	else if (strcmp(s, "1.3") == 0 || strcmp(s, "13") == 0)
		*out = TLSIO_TLS_1_3;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Common flags */

static int bad_value(const struct tlsx_common *o, const char *flag, const char *arg,
                     const char *expect)
{
	fprintf(stderr, "%s: bad value for %s: '%s' (expected %s)\n", o->prog, flag, arg, expect);
	return -1;
}

int tlsx_common_opt(struct tlsx_common *o, int opt, const char *arg)
{
	switch (opt) {
	case TLSX_OPT_BACKEND:
		o->backend = arg;
		return 1;
	case TLSX_OPT_CERT:
		o->cert = arg;
		return 1;
	case TLSX_OPT_KEY:
		o->key = arg;
		return 1;
	case TLSX_OPT_CA:
		o->ca = arg;
		return 1;
	case TLSX_OPT_ALPN:
		o->alpn = arg;
		return 1;
	case TLSX_OPT_TLS_MIN:
		if (tlsx_parse_version(arg, &o->tls_min) < 0)
			return bad_value(o, "--tls-min", arg, "1.2 or 1.3");
		return 1;
	case TLSX_OPT_TLS_MAX:
		if (tlsx_parse_version(arg, &o->tls_max) < 0)
			return bad_value(o, "--tls-max", arg, "1.2 or 1.3");
		return 1;
	case TLSX_OPT_SNDBUF:
		if (tlsx_parse_int_size(arg, &o->sndbuf) < 0)
			return bad_value(o, "--sndbuf", arg, "a size such as 16384 or 16K");
		return 1;
	case TLSX_OPT_RCVBUF:
		if (tlsx_parse_int_size(arg, &o->rcvbuf) < 0)
			return bad_value(o, "--rcvbuf", arg, "a size such as 16384 or 16K");
		return 1;
	case TLSX_OPT_LIST_BACKENDS:
		o->list_backends = 1;
		return 1;
	case 'q':
		o->quiet = 1;
		return 1;
	case TLSX_OPT_PLAIN:
		o->plain = 1;
		return 1;
	case TLSX_OPT_UNIX:
		/* sun_path holds 108 bytes with the NUL: say so here rather than "bad address" later */
		if (arg[0] == '\0' || strcmp(arg, "@") == 0 || strlen(arg) > 107)
			return bad_value(o, "--unix", arg, "a socket path or @NAME, at most 107 bytes");
		o->unix_path = arg;
		return 1;
	case TLSX_OPT_UNIX_MODE: {
		char *end;
		unsigned long v;
		if (arg[0] < '0' || arg[0] > '7')
			return bad_value(o, "--unix-mode", arg, "octal permission bits such as 0660");
		errno = 0;
		v = strtoul(arg, &end, 8);
		if (errno != 0 || *end != '\0' || v == 0 || v > 07777)
			return bad_value(o, "--unix-mode", arg, "octal permission bits such as 0660");
		o->unix_mode = (unsigned)v;
		return 1;
	}
	case TLSX_OPT_CONNECT_TIMEOUT: {
		uint64_t v;
		if (tlsx_parse_u64(arg, &v) < 0 || v > UINT32_MAX)
			return bad_value(o, "--connect-timeout", arg, "milliseconds");
		o->connect_timeout_ms = (uint32_t)v;
		return 1;
	}
	default:
		return 0;
	}
}

/* SSLKEYLOGFILE: one file for the process, appended to by every loop thread. */
static pthread_mutex_t keylog_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *keylog_file;

static void keylog_line(const char *line, void *user)
{
	(void)user;
	pthread_mutex_lock(&keylog_mu);
	/* a line at a time, flushed: a capture tool reads the file while we run */
	fprintf(keylog_file, "%s\n", line);
	fflush(keylog_file);
	pthread_mutex_unlock(&keylog_mu);
}

/* Honour SSLKEYLOGFILE (off unless set, and said loudly when on). */
static void keylog_opts(const struct tlsx_common *o, tlsio_tls_opts *t)
{
	static int tried;
	const char *path = getenv("SSLKEYLOGFILE");
	if (path == NULL || path[0] == '\0')
		return;
	pthread_mutex_lock(&keylog_mu);
	if (!tried) {
		tried = 1;
		keylog_file = fopen(path, "a");
		if (keylog_file == NULL)
			fprintf(stderr, "%s: warning: SSLKEYLOGFILE '%s': %s: no key log\n", o->prog, path,
			        strerror(errno));
		else
			fprintf(stderr, "%s: warning: SSLKEYLOGFILE is set: TLS secrets go to '%s', and "
			        "anyone who reads it can decrypt this traffic\n", o->prog, path);
	}
	pthread_mutex_unlock(&keylog_mu);
	if (keylog_file != NULL)
		t->keylog = keylog_line;
}

void tlsx_tls_opts(const struct tlsx_common *o, tlsio_tls_opts *t)
{
	*t = (tlsio_tls_opts)TLSIO_TLS_OPTS_INIT;
	keylog_opts(o, t);
	t->cert_file = o->cert;
	t->key_file = o->key;
	t->ca_file = o->ca;
	t->min_version = o->tls_min;
	t->max_version = o->tls_max;
	t->alpn = o->alpn;
	t->verify = TLSIO_VERIFY_DEFAULT;
}

void tlsx_conn_opts(const struct tlsx_common *o, tlsio_conn_opts *c)
{
	*c = (tlsio_conn_opts)TLSIO_CONN_OPTS_INIT;
	c->sndbuf = o->sndbuf;
	c->rcvbuf = o->rcvbuf;
	c->flags = o->plain ? TLSIO_CONN_PLAIN : 0;
	c->connect_timeout_ms = o->connect_timeout_ms;
}

int tlsx_client_addr(const struct tlsx_common *o, const char *connect_addr, int tls, int insecure,
                     const char *server_name, char *buf, size_t len)
{
	const char *addr = connect_addr;
	char unix_addr[TLSX_ADDR_LEN];
	if (o->unix_path != NULL && connect_addr != NULL) {
		fprintf(stderr, "%s: give --connect or --unix, not both\n", o->prog);
		return TLSX_EXIT_USAGE;
	}
	if (o->unix_path != NULL) {
		snprintf(unix_addr, sizeof(unix_addr), "unix:%s", o->unix_path);
		addr = unix_addr;
	}
	if (addr == NULL) {
		fprintf(stderr, "%s: --connect HOST:PORT (or --unix PATH) is required\nTry '%s --help'.\n",
		        o->prog, o->prog);
		return TLSX_EXIT_USAGE;
	}
	/* The library would refuse it too (TLSIO_E_NO_IDENTITY); the flag to add is ours to name. */
	if (tls && !insecure && server_name == NULL && strncmp(addr, "unix:", 5) == 0) {
		fprintf(stderr, "%s: a Unix socket has no host name to check the server's certificate "
		                "against:\ngive --server-name NAME (the name in the certificate, e.g. "
		                "localhost), or --insecure, or --plain\n", o->prog);
		return TLSX_EXIT_USAGE;
	}
	if (strlen(addr) >= len) {
		fprintf(stderr, "%s: address too long: '%s'\n", o->prog, addr);
		return TLSX_EXIT_USAGE;
	}
	strcpy(buf, addr);
	return 0;
}

/* "epoll, libev, blocking, auto; not usable here: uring (why)": the names a user can pick. */
static void available_backends(char *buf, size_t len)
{
	const tlsio_backend *all[16];
	size_t n = tlsio_backends(all, 16), off = 0, unusable = 0;
	if (n > 16)
		n = 16;
	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n && off < len; i++) {
			const char *why = NULL;
			int usable = tlsio_backend_probe(all[i], &why) == 0;
			if (usable != (pass == 0))
				continue;
			if (pass == 1)
				off += (size_t)snprintf(buf + off, len - off, "%s%s (%s)",
				                        unusable++ ? ", " : "; not usable here: ",
				                        tlsio_backend_name(all[i]),
				                        why != NULL ? why : "probe failed");
			else
				off += (size_t)snprintf(buf + off, len - off, "%s, ", tlsio_backend_name(all[i]));
		}
		if (pass == 0 && off < len)
			off += (size_t)snprintf(buf + off, len - off, "auto");
	}
}

int tlsx_backend(const struct tlsx_common *o, const tlsio_backend **out)
{
	const tlsio_backend *b = tlsio_backend_by_name(o->backend);
	const char *why = NULL;
	int rc;
	*out = NULL;
	if (b == NULL) {
		const char *name = o->backend, *from = "--backend";
		char avail[512];
		if (name == NULL || name[0] == '\0') {
			name = getenv("TLSIO_BACKEND");
			from = "$TLSIO_BACKEND";
		}
		available_backends(avail, sizeof(avail));
		if (name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0)
			fprintf(stderr, "%s: no usable backend (compiled in: %s)\n", o->prog,
			        tlsio_backend_names());
		else
			fprintf(stderr, "%s: unknown backend '%s' (from %s); available: %s\n", o->prog,
			        name, from, avail);
		return TLSX_EXIT_USAGE;
	}
	rc = tlsio_backend_probe(b, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: backend '%s' is not usable here: %s\n", o->prog,
		        tlsio_backend_name(b), why != NULL ? why : tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	*out = b;
	return 0;
}

void tlsx_list_backends(FILE *f)
{
	const tlsio_backend *all[16];
	size_t n = tlsio_backends(all, sizeof(all) / sizeof(all[0]));
	if (n > sizeof(all) / sizeof(all[0]))
		n = sizeof(all) / sizeof(all[0]);
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		int rc = tlsio_backend_probe(all[i], &why);
		if (rc == 0)
			fprintf(f, "%s\n", tlsio_backend_name(all[i]));
		else
			fprintf(f, "%s (unusable: %s)\n", tlsio_backend_name(all[i]),
			        why != NULL ? why : tlsio_strerror(rc));
	}
}

int tlsx_tls_config_try(const struct tlsx_common *o, int is_server, const tlsio_tls_opts *t,
                        tlsio_tls_config **out, const char **why)
{
	static atomic_int warned;
	int rc;
	*why = NULL;
	rc = tlsio_tls_config_new(out, is_server, t, why);
	if (rc == TLSIO_E_TLS_CONFIG && t->keylog != NULL && *why != NULL &&
	    strstr(*why, "key logging") != NULL) {
		/* SSLKEYLOGFILE asks for what this wolfSSL cannot give: say so (once: a server makes
		 * a configuration per SNI name, and again at each reload), and run without */
		tlsio_tls_opts nolog = *t;
		if (atomic_exchange(&warned, 1) == 0)
			fprintf(stderr, "%s: warning: SSLKEYLOGFILE ignored: %s\n", o->prog, *why);
		nolog.keylog = NULL;
		rc = tlsio_tls_config_new(out, is_server, &nolog, why);
	}
	return rc;
}

int tlsx_tls_config(const struct tlsx_common *o, int is_server, const tlsio_tls_opts *t,
                    tlsio_tls_config **out)
{
	const char *why = NULL;
	int rc = tlsx_tls_config_try(o, is_server, t, out, &why);
	if (rc < 0) {
		fprintf(stderr, "%s: TLS configuration: %s%s%s\n", o->prog, tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		return TLSX_EXIT_FAIL;
	}
	return 0;
}


int tlsx_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, char *why,
                   size_t why_len)
{
	struct stat st;
	size_t got = 0;
	uint8_t *b = NULL;
	int rc = 0, fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO without a writer must not hang the caller (a reload thread) */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, why_len, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(why, why_len, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		snprintf(why, why_len, "larger than %zu bytes", max);
		goto out;
	}
	if (st.st_size == 0) {
		rc = -ENODATA;
		snprintf(why, why_len, "empty");
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL) {
		rc = -ENOMEM;
		snprintf(why, why_len, "%s", strerror(ENOMEM));
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(why, why_len, "%s", n < 0 ? strerror(errno) : "it shrank while being read");
			goto out;
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
out:
	if (b != NULL) {
		tlsx_wipe(b, got);
		free(b);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

void tlsx_wipe(void *p, size_t len)
{
	if (p != NULL)
		explicit_bzero(p, len);
}

/* ------------------------------------------------------------------------------------------ */
/* splitmix64: fast, and every seed (including 0) gives a full-period stream. The bytes of each
 * 64-bit output are taken little-endian whatever the host, so a stream is the same everywhere. */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tlsx_prng_init(tlsx_prng *g, uint64_t seed)
{
	g->state = seed;
	g->nspare = 0;
	g->text = 0;
	g->off = 0;
}

static void prng_fill_raw(tlsx_prng *g, uint8_t *p, size_t len);

void tlsx_prng_fill(tlsx_prng *g, void *buf, size_t len)
{
	uint8_t *p = buf;
	prng_fill_raw(g, p, len);
	if (g->text)
		for (size_t i = 0; i < len; i++)
			p[i] = (g->off + i) % 64 == 63 ? '\n' : (uint8_t)('a' + p[i] % 26);
	g->off += len;
}

static void prng_fill_raw(tlsx_prng *g, uint8_t *p, size_t len)
{
	/* Leftover bytes of the previous word first, so chunk boundaries do not shift the stream. */
	while (len > 0 && g->nspare > 0) {
		*p++ = g->spare[8 - g->nspare];
		g->nspare--;
		len--;
	}
	while (len >= 8) {
		uint64_t v = splitmix64(&g->state);
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (8 * i));
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t v = splitmix64(&g->state);
		for (int i = 0; i < 8; i++)
			g->spare[i] = (uint8_t)(v >> (8 * i));
		memcpy(p, g->spare, len);
		g->nspare = (unsigned)(8 - len);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Output, time, signals */

double tlsx_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tlsx_print_stats(FILE *f, const char *indent, const tlsio_stats *st)
{
	fprintf(f, "%sapp bytes queued:   %" PRIu64 "\n", indent, st->app_bytes_queued);
	fprintf(f, "%sapp bytes sent:     %" PRIu64 "\n", indent, st->app_bytes_sent);
	fprintf(f, "%sapp bytes received: %" PRIu64 "\n", indent, st->app_bytes_received);
	fprintf(f, "%stls bytes sent:     %" PRIu64 "\n", indent, st->tls_bytes_sent);
	fprintf(f, "%stls bytes received: %" PRIu64 "\n", indent, st->tls_bytes_received);
	fprintf(f, "%srecords sent:       %" PRIu64 "\n", indent, st->records_sent);
	fprintf(f, "%swrite calls:        %" PRIu64 "\n", indent, st->write_calls);
	fprintf(f, "%sread calls:         %" PRIu64 "\n", indent, st->read_calls);
	fprintf(f, "%sshort writes:       %" PRIu64 "\n", indent, st->short_writes);
	fprintf(f, "%seagain:             %" PRIu64 "\n", indent, st->eagain);
	fprintf(f, "%seintr:              %" PRIu64 "\n", indent, st->eintr);
	fprintf(f, "%squeued peak:        %" PRIu64 "\n", indent, st->queued_peak);
}

void tlsx_print_status(const char *prog, const char *what, int status, int alert)
{
	if (alert == TLSIO_ALERT_NONE)
		fprintf(stderr, "%s: %s: %s (status %d, no alert)\n", prog, what, tlsio_strerror(status),
		        status);
	else
		fprintf(stderr, "%s: %s: %s (status %d, alert %s/%d)\n", prog, what,
		        tlsio_strerror(status), status, tlsio_alert_name(alert), alert);
}

void tlsx_json_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* A signal handler has no user pointer: the loops it reaches live in these slots, each with
 * the two tasks it posts (embedded: posting allocates nothing, so a handler may do it).
 *
 * A slot is taken (taken 0 -> 1) by tlsx_signals_watch(), published by storing its loop, and
 * withdrawn by tlsx_signals_unwatch() (loop -> NULL). stop_walkers counts the handlers and
 * tlsx_stop_all() calls walking the slots, so that unwatch can wait until none can still hold a
 * loop it removed. queued counts the slot's posts not yet run: a task still pending in a loop
 * that was unwatched but not yet freed belongs to that loop's queue, so the slot is not reused
 * (its task[] handed to another loop) until the loop ran or dropped it. Lock-free atomics are
 * async-signal-safe; a mutex would not be. */
struct stop_slot {
	atomic_int taken;
	tlsio_loop *_Atomic loop;
	atomic_int queued;
	tlsx_stop_cb cb;  /* written before loop is published, read by the tasks on the loop */
	void *user;
	tlsio_task task[2]; /* [0] graceful, [1] abort */
};
static struct stop_slot stop_slots[TLSX_MAX_LOOPS];
static atomic_int stop_walkers;
/* The strongest stop asked so far (0, TLSX_STOP_*): a loop watched later gets it too. */
static atomic_int stop_level;
static atomic_int signal_count;
static atomic_int signal_exit_after;

static void stop_task_run(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct stop_slot *s = task->data;
	tlsio_loop *watched = atomic_load(&s->loop);
	/* status != 0: the loop is being freed, nothing is left to stop. NULL: unwatched, the tool
	 * no longer wants stops (and the slot is not reused before queued is back at 0). */
	if (status == 0 && watched == loop)
		s->cb(loop, task == &s->task[1] ? TLSX_STOP_ABORT : TLSX_STOP_GRACEFUL, s->user);
	atomic_fetch_sub(&s->queued, 1); /* last: the slot may be reused from here on */
}

static void slot_post(struct stop_slot *s, tlsio_loop *loop, int how)
{
	atomic_fetch_add(&s->queued, 1);
	/* -EALREADY: still pending from an earlier post; it runs once, which is what a repeated
	 * request means */
	if (tlsio_loop_post_task(loop, &s->task[how == TLSX_STOP_ABORT], stop_task_run) != 0)
		atomic_fetch_sub(&s->queued, 1);
}

static void post_stops(int how)
{
	int cur = atomic_load(&stop_level);
	/* Raised before the walk: a loop published after the walk passed its slot sees the level
	 * in tlsx_signals_watch() (both are sequentially consistent, so one of the two posts). */
	while (cur < how && !atomic_compare_exchange_weak(&stop_level, &cur, how))
		;
	atomic_fetch_add(&stop_walkers, 1);
	for (size_t i = 0; i < TLSX_MAX_LOOPS; i++) {
		struct stop_slot *s = &stop_slots[i];
		tlsio_loop *loop = atomic_load(&s->loop);
		if (loop != NULL)
			slot_post(s, loop, how);
	}
	atomic_fetch_sub(&stop_walkers, 1);
}

static void on_signal(int signo)
{
	int saved = errno; /* the wake's write() must not clobber errno of the interrupted code */
	int count = atomic_fetch_add(&signal_count, 1) + 1;
	int exit_after = atomic_load(&signal_exit_after);
	/* The last resort when a loop does not come back to run its tasks (a hang). */
	if (exit_after > 0 && count >= exit_after)
		_exit(128 + signo);
	post_stops(count == 1 ? TLSX_STOP_GRACEFUL : TLSX_STOP_ABORT);
	errno = saved;
}

int tlsx_signals_watch(tlsio_loop *loop, tlsx_stop_cb cb, void *user)
{
	for (size_t i = 0; i < TLSX_MAX_LOOPS; i++) {
		struct stop_slot *s = &stop_slots[i];
		int expect = 0, level;
		if (!atomic_compare_exchange_strong(&s->taken, &expect, 1))
			continue;
		/* unwatched, but a task of it is still queued in its old loop: not yet */
		if (atomic_load(&s->queued) != 0) {
			atomic_store(&s->taken, 0);
			continue;
		}
		s->cb = cb;
		s->user = user;
		s->task[0].data = s->task[1].data = s;
		atomic_store(&s->loop, loop);
		level = atomic_load(&stop_level);
		if (level >= TLSX_STOP_GRACEFUL)
			slot_post(s, loop, TLSX_STOP_GRACEFUL);
		if (level >= TLSX_STOP_ABORT)
			slot_post(s, loop, TLSX_STOP_ABORT);
		return 0;
	}
	return -ENOSPC;
}

void tlsx_signals_unwatch(tlsio_loop *loop)
{
	if (loop == NULL)
		return;
	for (size_t i = 0; i < TLSX_MAX_LOOPS; i++) {
		struct stop_slot *s = &stop_slots[i];
		tlsio_loop *expect = loop;
		if (!atomic_compare_exchange_strong(&s->loop, &expect, NULL))
			continue;
		/* A walker that counted itself in before the slot was cleared may still hold the
		 * pointer; one that counts itself in after it reads NULL (both orders are
		 * sequentially consistent). Walks are a few stores and a write() per loop: wait
		 * them out. */
		while (atomic_load(&stop_walkers) != 0)
			sched_yield();
		atomic_store(&s->taken, 0);
	}
}

void tlsx_drained(tlsio_loop *loop, size_t aborted, void *co)
{
	const struct tlsx_common *o = co;
	(void)loop;
	if (aborted > 0 && !o->quiet)
		fprintf(stderr, "%s: shutdown: aborted %zu connection%s still open after %d s\n", o->prog,
		        aborted, aborted == 1 ? "" : "s", TLSX_DRAIN_MS / 1000);
}

void tlsx_stop_all(void)
{
	post_stops(TLSX_STOP_GRACEFUL);
}

int tlsx_signals_install(int exit_after)
{
	struct sigaction sa;
	atomic_store(&signal_exit_after, exit_after);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking backend's send() returns to its loop, which then runs the
	 * task posted here (the event backends' waits return either way). */
	sa.sa_handler = on_signal;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Servers on several threads */

int tlsx_parse_threads(const char *s, int *out)
{
	uint64_t v;
	long cpus;
	if (tlsx_parse_u64(s, &v) < 0 || v > TLSX_MAX_LOOPS)
		return -1;
	if (v == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		v = cpus < 1 ? 1 : cpus > TLSX_MAX_LOOPS ? TLSX_MAX_LOOPS : (uint64_t)cpus;
	}
	*out = (int)v;
	return 0;
}

static int addr_is(const char *addr, const char *prefix)
{
	return strncmp(addr, prefix, strlen(prefix)) == 0;
}

static int addrs_add(const struct tlsx_common *o, struct tlsx_addrs *a, const char *addr)
{
	if (a->n >= TLSX_MAX_LISTEN) {
		fprintf(stderr, "%s: more than %d addresses to listen on\n", o->prog, TLSX_MAX_LISTEN);
		return TLSX_EXIT_FAIL;
	}
	if (strlen(addr) >= TLSX_ADDR_LEN) {
		fprintf(stderr, "%s: address too long: '%s'\n", o->prog, addr);
		return TLSX_EXIT_USAGE;
	}
	strcpy(a->addr[a->n++], addr);
	return 0;
}

int tlsx_server_addrs(const struct tlsx_common *o, const char *listen_addr, const char *def,
                      int threads, struct tlsx_addrs *out)
{
	char buf[TLSX_ADDR_LEN];
	int rc = 0, has_file = 0;
	memset(out, 0, sizeof(*out));
	if (o->unix_path != NULL && listen_addr != NULL) {
		fprintf(stderr, "%s: give --listen or --unix, not both\n", o->prog);
		return TLSX_EXIT_USAGE;
	}
	if (o->unix_path != NULL) {
		snprintf(buf, sizeof(buf), "unix:%s", o->unix_path);
		rc = addrs_add(o, out, buf);
	} else if (listen_addr != NULL && strcmp(listen_addr, "systemd") == 0) {
		/* The variables go: a process this one starts must not take the sockets for its own. */
		int n = tlsio_listen_fds(1, NULL, 0);
		if (n < 0) {
			fprintf(stderr, "%s: --listen systemd: the sockets passed are unusable ($LISTEN_FDS): "
			        "%s\n", o->prog, tlsio_strerror(n));
			return TLSX_EXIT_FAIL;
		}
		if (n == 0) {
			fprintf(stderr, "%s: --listen systemd: no socket was passed to this process "
			        "($LISTEN_FDS and $LISTEN_PID not set, or set for another process):\n"
			        "start it from a systemd .socket unit or with systemd-socket-activate\n",
			        o->prog);
			return TLSX_EXIT_FAIL;
		}
		for (int i = 0; i < n && rc == 0; i++) {
			snprintf(buf, sizeof(buf), "fd:%d", 3 + i);
			rc = addrs_add(o, out, buf);
		}
	} else {
		rc = addrs_add(o, out, listen_addr != NULL ? listen_addr : def);
	}
	if (rc != 0)
		return rc;
	for (int i = 0; i < out->n; i++) {
		const char *a = out->addr[i];
		/* A second bind of the path (or name) fails, and there is no listener fd to hand the
		 * other threads ("fd:N" would share its queue): so one thread, or an inherited socket. */
		if (addr_is(a, "unix:") && threads > 1) {
			fprintf(stderr, "%s: %s: a Unix socket cannot be shared by --threads %d (it is bound "
			        "once and the threads would need its descriptor):\nuse --threads 1, or "
			        "pass the socket in (--listen fd:N, --listen systemd)\n", o->prog, a, threads);
			return TLSX_EXIT_USAGE;
		}
		if (addr_is(a, "unix:") && !addr_is(a, "unix:@"))
			has_file = 1;
	}
	if (o->unix_mode != 0 && !has_file) {
		fprintf(stderr, "%s: --unix-mode applies to a Unix socket file (--unix PATH): %s has "
		        "none\n", o->prog, out->addr[0]);
		return TLSX_EXIT_USAGE;
	}
	return 0;
}

int tlsx_addrs_inherited(const struct tlsx_addrs *a)
{
	for (int i = 0; i < a->n; i++)
		if (!addr_is(a->addr[i], "fd:"))
			return 0;
	return a->n > 0;
}

int tlsx_server_listen(const struct tlsx_common *o, const struct tlsx_addrs *addrs, int shared,
                       tlsio_tls_config *cfg, const tlsio_conn_opts *copts, tlsio_accept_cb cb,
                       tlsx_stop_cb on_stop, void *arg, tlsio_loop **loop,
                       tlsio_listener **listeners, struct tlsx_addrs *bound)
{
	int rc = tlsio_loop_new(loop, tlsio_backend_by_name(o->backend));
	memset(bound, 0, sizeof(*bound));
	if (rc < 0) {
		fprintf(stderr, "%s: cannot create a loop on backend '%s': %s\n", o->prog,
		        o->backend != NULL ? o->backend : "auto", tlsio_strerror(rc));
		return TLSX_EXIT_FAIL;
	}
	rc = tlsx_signals_watch(*loop, on_stop, arg);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot watch the loop for signals: more than %d loops\n", o->prog,
		        TLSX_MAX_LOOPS);
		return TLSX_EXIT_FAIL;
	}
	for (int i = 0; i < addrs->n; i++) {
		const char *a = addrs->addr[i];
		tlsio_listen_opts lo = TLSIO_LISTEN_OPTS_INIT;
		/* An inherited socket is set up already (its accept queue is what the threads share);
		 * a Unix socket is never shared (tlsx_server_addrs). */
		if (shared && !addr_is(a, "fd:") && !addr_is(a, "unix:"))
			lo.flags = TLSIO_LISTEN_REUSEPORT;
		if (addr_is(a, "unix:"))
			lo.mode = o->unix_mode;
		rc = tlsio_listen_ex(*loop, a, &lo, cfg, copts, cb, arg, &listeners[i]);
		if (rc < 0) {
			fprintf(stderr, "%s: cannot listen on %s: %s%s\n", o->prog, a, tlsio_strerror(rc),
			        addr_is(a, "fd:") ? " (fd:N must be a listening stream socket this process "
			                            "inherited)" : "");
			return TLSX_EXIT_FAIL;
		}
		rc = tlsio_listener_addr(listeners[i], bound->addr[i], sizeof(bound->addr[i]));
		if (rc < 0) {
			fprintf(stderr, "%s: cannot read the bound address of %s: %s\n", o->prog, a,
			        tlsio_strerror(rc));
			return TLSX_EXIT_FAIL;
		}
		bound->n = i + 1;
	}
	return 0;
}

void tlsx_listeners_close(tlsio_listener **listeners)
{
	for (int i = 0; i < TLSX_MAX_LISTEN; i++) {
		if (listeners[i] != NULL)
			tlsio_listener_close(listeners[i]);
		listeners[i] = NULL;
	}
}

struct server_thread {
	pthread_t tid;
	const struct tlsx_server_ops *ops;
	void *worker;
	const struct tlsx_addrs *addrs;
	struct tlsx_addrs bound;
	int state; /* 0 starting, 1 listening, -1 failed to start; under start_mu */
	int rc;
};

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;

static void *server_thread_main(void *arg)
{
	struct server_thread *t = arg;
	int rc = t->ops->start(t->worker, t->addrs, 1, &t->bound);
	pthread_mutex_lock(&start_mu);
	t->state = rc == 0 ? 1 : -1;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&start_mu);
	if (rc == 0) {
		rc = t->ops->run(t->worker);
		/* A server short of a thread would serve on at part strength and still exit 1 at the
		 * end: take the others down now, so that the failure shows when it happens. */
		if (rc != 0)
			tlsx_stop_all();
	}
	t->ops->finish(t->worker);
	t->rc = rc;
	return NULL;
}

/* Start thread @p t and wait until it listens or gave up. @return its start state. */
static int server_thread_start(struct server_thread *t)
{
	int state, err = pthread_create(&t->tid, NULL, server_thread_main, t);
	if (err != 0) {
		fprintf(stderr, "cannot start a thread: %s\n", strerror(err));
		t->rc = TLSX_EXIT_FAIL;
		t->state = -2; /* never ran: nothing to join */
		return -2;
	}
	pthread_mutex_lock(&start_mu);
	while (t->state == 0)
		pthread_cond_wait(&start_cv, &start_mu);
	state = t->state;
	pthread_mutex_unlock(&start_mu);
	return state;
}

int tlsx_run_servers(int n, void *workers, size_t size, const struct tlsx_server_ops *ops,
                     const struct tlsx_addrs *addrs,
                     void (*on_listening)(const struct tlsx_addrs *bound, void *arg), void *arg)
{
	struct server_thread *t;
	struct tlsx_addrs rest;
	int started = 0, ret = 0;

	if (n <= 1) {
		struct tlsx_addrs bound;
		int rc = ops->start(workers, addrs, 0, &bound);
		if (rc == 0) {
			if (on_listening != NULL)
				on_listening(&bound, arg);
			rc = ops->run(workers);
		}
		ops->finish(workers);
		return rc;
	}
	t = calloc((size_t)n, sizeof(*t));
	if (t == NULL) {
		fprintf(stderr, "out of memory for %d threads\n", n);
		return TLSX_EXIT_FAIL;
	}
	/* One after the other: the first binds (and picks the port if it is 0), the rest join its
	 * SO_REUSEPORT group on the address it got; an inherited socket is adopted by each as it
	 * is (its bound address would be a new socket, outside the group). */
	for (int i = 0; i < n; i++) {
		t[i].ops = ops;
		t[i].worker = (char *)workers + (size_t)i * size;
		t[i].addrs = i == 0 ? addrs : &rest;
		if (server_thread_start(&t[i]) != 1)
			break;
		if (i == 0) {
			rest = t[0].bound;
			for (int k = 0; k < addrs->n; k++)
				if (addr_is(addrs->addr[k], "fd:"))
					strcpy(rest.addr[k], addrs->addr[k]);
		}
		started++;
	}
	if (started == n) {
		if (on_listening != NULL)
			on_listening(&t[0].bound, arg);
	} else {
		tlsx_stop_all(); /* a task to each started loop: its stop callback drains it */
	}
	for (int i = 0; i < n; i++) {
		if (t[i].state == 0 || t[i].state == -2)
			continue; /* not started */
		pthread_join(t[i].tid, NULL);
		if (ret == 0 && t[i].rc != 0)
			ret = t[i].rc;
	}
	free(t);
	return ret;
}
