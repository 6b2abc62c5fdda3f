/* SPDX-License-Identifier: MIT */
/* timers: what a libtlsio timer costs against the number of timers on the loop. Start, move,
 * stop and expiry do O(log n) work in the loop's binary deadline heap (shared with the
 * connections' deadlines); what a timer the heap touches costs grows with n too, once the timers
 * outgrow the caches, and the access column measures that alone, so that the two can be told
 * apart. Also what one timer costs in memory.
 *
 * Each (n, repeat) runs in a child forked from a parent that never made a timer: the child's
 * heap starts clean (RSS growth is the timers', not memory a previous round freed and malloc
 * kept), and one round's fragmentation does not slow the next. Times are the child's thread
 * CPU time: on a shared VM other processes' turns on the core count less than on a wall clock.
 * Built by make (noinst: BUILD/bench/timers); bench/run.sh runs it with TIMERS=1. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tlsio.h"

#define PROG "timers"
#define MAX_COUNTS 8
#define MAX_REPEAT 101
/* start and move: timeouts uniform in [1 s, 1 day), so that nothing expires while measuring
 * and a new time lands anywhere in the heap */
#define WIDE_MIN_MS 1000u
#define WIDE_SPAN_MS (86400000u - WIDE_MIN_MS)
/* move and stop+start: at least this many operations per measurement (n = 10,000 would take
 * about a millisecond, within a scheduler tick's noise) */
#define MIN_OPS 200000u
#define CLOCK_CALLS 1000000u

enum { OPT_BACKEND = 0x200, OPT_REPEAT, OPT_COUNTS, OPT_WINDOW, OPT_SEED, OPT_VERBOSE };

/* What a child sends back through its pipe. */
struct result {
	double access;                       /* ns per tlsio_timer_active() of a random timer */
	double start, move, restart, expire; /* ns per operation (restart: the stop+start pair) */
	double bytes;                        /* RSS growth per timer */
	double clock;                        /* ns per tlsio_loop_now() */
	uint64_t late_ms;                    /* the expiry set-up ran past the window's start */
	char err[200];
};

static struct {
	const char *backend;
	unsigned repeat;
	size_t counts[MAX_COUNTS];
	size_t ncounts;
	unsigned window_ms;
	uint64_t seed;
	int verbose;
} cfg;

/* the child's state, for the callbacks */
static size_t fired;
static int holder_fired;

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: the bench's own numbers, the same on every run */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_bytes(void)
{
	long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static void expire_cb(tlsio_timer *t, void *user)
{
	uint8_t *seen = user;
	(void)t;
	(*seen)++;
	fired++;
}

static void holder_cb(tlsio_timer *t, void *user)
{
	(void)t;
	(void)user;
	holder_fired = 1; /* a one-shot: stopped now, so the run has nothing left to wait for */
}

static uint64_t wide_timeout(uint64_t *rng)
{
	return WIDE_MIN_MS + rng_next(rng) % WIDE_SPAN_MS;
}

/* One round at @p n timers; fills @p r (r->err on a failure). */
static void measure(size_t n, uint64_t seed, struct result *r)
{
	tlsio_loop *loop = NULL;
	tlsio_timer **t = NULL, *holder = NULL;
	uint8_t *seen = NULL;
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1, c0, base, now;
	size_t ops = n > MIN_OPS ? n : MIN_OPS, created = 0;
	long rss0, rss1;
	volatile uint64_t sink = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = tlsio_loop_new(&loop, tlsio_backend_by_name(cfg.backend));
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "loop on %s: %s", cfg.backend, tlsio_strerror(rc));
		return;
	}
	/* the bench's own arrays, resident before the baseline */
	t = calloc(n, sizeof(*t));
	seen = calloc(n, 1);
	if (t == NULL || seen == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory for %zu timers", n);
		goto out;
	}
	memset(t, 0, n * sizeof(*t));
	memset(seen, 0, n);

	c0 = cpu_ns();
	for (unsigned i = 0; i < CLOCK_CALLS; i++)
		sink += tlsio_loop_now(loop);
	r->clock = (double)(cpu_ns() - c0) / CLOCK_CALLS;

	rss0 = rss_bytes();
	for (; created < n; created++) {
		rc = tlsio_timer_new(loop, expire_cb, &seen[created], &t[created]);
		if (rc < 0) {
			snprintf(r->err, sizeof(r->err), "tlsio_timer_new #%zu: %s", created, tlsio_strerror(rc));
			goto out;
		}
	}

	c0 = cpu_ns();
	for (size_t i = 0; i < n; i++) {
		rc = tlsio_timer_start(t[i], wide_timeout(&rng), 0);
		if (rc < 0)
			break;
	}
	r->start = (double)(cpu_ns() - c0) / (double)n;
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "tlsio_timer_start: %s", tlsio_strerror(rc));
		goto out;
	}
	rss1 = rss_bytes();
	r->bytes = rss0 < 0 || rss1 < 0 ? NAN : (double)(rss1 - rss0) / (double)n;

	/* The memory latency under the figures below, without any heap work: a random timer read,
	 * each read waiting for the one before (its index depends on what it read), as a heap
	 * operation waits on each timer it touches. Once the timers outgrow a cache level this
	 * grows with n while the number of timers an operation touches does not. */
	c0 = cpu_ns();
	{
		uint64_t dep = 0;
		for (size_t k = 0; k < ops; k++) {
			size_t i = (size_t)((rng_next(&rng) + dep) % n);
			(void)wide_timeout(&rng);
			dep = (uint64_t)tlsio_timer_active(t[i]);
		}
		sink += dep;
	}
	r->access = (double)(cpu_ns() - c0) / (double)ops;

	c0 = cpu_ns();
	for (size_t k = 0; k < ops; k++) {
		size_t i = (size_t)(rng_next(&rng) % n);
		rc |= tlsio_timer_start(t[i], wide_timeout(&rng), 0);
	}
	r->move = (double)(cpu_ns() - c0) / (double)ops;

	c0 = cpu_ns();
	for (size_t k = 0; k < ops; k++) {
		size_t i = (size_t)(rng_next(&rng) % n);
		tlsio_timer_stop(t[i]);
		rc |= tlsio_timer_start(t[i], wide_timeout(&rng), 0);
	}
	r->restart = (double)(cpu_ns() - c0) / (double)ops;
	if (rc != 0) {
		snprintf(r->err, sizeof(r->err), "tlsio_timer_start failed while moving timers");
		goto out;
	}

	/* Expiry: every timer due at base .. base + window, base far enough ahead for the set-up
	 * (about a move per timer, made generous for a busy machine) to end before it. */
	base = tlsio_loop_now(loop) + 20 + (uint64_t)(4.0 * (r->move + r->clock) * (double)n / 1e6);
	for (size_t i = 0; i < n; i++) {
		uint64_t at = base + rng_next(&rng) % cfg.window_ms;
		now = tlsio_loop_now(loop);
		rc |= tlsio_timer_start(t[i], at > now ? at - now : 0, 0);
	}
	rc |= tlsio_timer_new(loop, holder_cb, NULL, &holder);
	if (rc == 0) {
		uint64_t at = base + cfg.window_ms + 1; /* after every one of them */
		now = tlsio_loop_now(loop);
		tlsio_timer_ref(holder, 1); /* the only referenced one: it keeps the run going */
		rc = tlsio_timer_start(holder, at > now ? at - now : 0, 0);
	}
	if (rc != 0) {
		snprintf(r->err, sizeof(r->err), "setting up the expiry failed");
		goto out;
	}
	now = tlsio_loop_now(loop);
	r->late_ms = now > base ? now - base : 0;
	/* The wait for the window is not timed: sleeping is charged as CPU time in this kind of
	 * VM (about 0.1 ms per sleep, which is 10 ns per timer at n = 10,000). The run starts with
	 * every timer due and fires them all in its first pass, the holder last. */
	while ((now = tlsio_loop_now(loop)) <= base + cfg.window_ms + 1) {
		uint64_t left = base + cfg.window_ms + 2 - now;
		struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	fired = 0;
	holder_fired = 0;
	c0 = cpu_ns();
	rc = tlsio_loop_run(loop, TLSIO_RUN_DEFAULT);
	r->expire = (double)(cpu_ns() - c0) / (double)n;
	if (rc < 0 || fired != n || !holder_fired) {
		snprintf(r->err, sizeof(r->err), "expiry: run %s, %zu of %zu timers fired, holder %s",
		         tlsio_strerror(rc), fired, n, holder_fired ? "fired" : "did not fire");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (seen[i] != 1) {
			snprintf(r->err, sizeof(r->err), "timer #%zu fired %u times", i, (unsigned)seen[i]);
			goto out;
		}
	}
out:
	(void)sink;
	tlsio_loop_free(loop); /* frees the timers */
	free(t);
	free(seen);
}

/* One round in a fresh child. 0, or -1 with the reason printed. */
static int round_in_child(size_t n, uint64_t seed, struct result *r)
{
	int fds[2], status;
	ssize_t got = 0;
	pid_t pid;
	if (pipe(fds) < 0) {
		perror(PROG ": pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror(PROG ": fork");
		return -1;
	}
	if (pid == 0) {
		struct result res;
		const char *p = (const char *)&res;
		size_t left = sizeof(res);
		close(fds[0]);
		measure(n, seed, &res);
		while (left > 0) {
			ssize_t w = write(fds[1], p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			p += w;
			left -= (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	while ((size_t)got < sizeof(*r)) {
		ssize_t m = read(fds[0], (char *)r + got, sizeof(*r) - (size_t)got);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			break;
		got += m;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if ((size_t)got != sizeof(*r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, PROG ": the round at n = %zu died (%s %d)\n", n,
		        WIFSIGNALED(status) ? "signal" : "exit status",
		        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return -1;
	}
	if (r->err[0] != '\0') {
		fprintf(stderr, PROG ": n = %zu: %s\n", n, r->err);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t k)
{
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(size_t v, char *buf, size_t cap)
{
	char tmp[32];
	size_t len, o = 0;
	snprintf(tmp, sizeof(tmp), "%zu", v);
	len = strlen(tmp);
	for (size_t i = 0; i < len && o + 2 < cap; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [--backend NAME] [--repeat N] [--counts N,N,...] [--window MS]\n"
		"\n"
		"Measures libtlsio's timers at n timers on one loop (default n = 10k, 100k, 1M):\n"
		"  access      a random timer read (tlsio_timer_active), each read's index\n"
		"              depending on the one before: no heap work, only the memory latency\n"
		"              that every timer a heap operation touches costs at this n\n"
		"  start       tlsio_timer_start on a stopped timer, timeout uniform in 1 s .. 1 day\n"
		"  move        tlsio_timer_start on a running timer (a random one) to a new random\n"
		"              time in the same range\n"
		"  stop+start  tlsio_timer_stop then tlsio_timer_start of a random timer (one\n"
		"              operation is the pair)\n"
		"  expire      all n timers restarted to expire within --window ms, then, once\n"
		"              the window is over, tlsio_loop_run(TLSIO_RUN_DEFAULT), held by one\n"
		"              referenced timer due after the window: the run's CPU time per timer\n"
		"              fired (the callbacks count them; the wait for the window is not timed)\n"
		"  B/timer     RSS growth over tlsio_timer_new and the first start of n timers,\n"
		"              divided by n (the timer and its slot in the deadline heap)\n"
		"Times are thread CPU nanoseconds per operation, the median of --repeat rounds; each\n"
		"round runs in a fresh child process. A second table gives each figure as a ratio\n"
		"to the first n: from 10k to 1M, log n grows 1.5x, n 100x. Every start reads the\n"
		"monotonic clock once (the cost of tlsio_loop_now() is printed above the table).\n"
		"\n"
		"Options:\n"
		"  --backend NAME   libtlsio backend of the loop (default epoll)\n"
		"  --repeat N       rounds per n, median printed (default 5)\n"
		"  --counts LIST    comma-separated timer counts, 10k and 1M allowed\n"
		"                   (default 10000,100000,1000000)\n"
		"  --window MS      expiry window (default 10)\n"
		"  --seed N         seed of the random timeouts (default 1; round i uses N + i)\n"
		"  --verbose        every round's figures on stderr\n"
		"  -h, --help       this text\n"
		"\n"
		"Exit status: 0, 1 if a round failed (a timer fired twice or not at all, an error\n"
		"from the library), 2 on bad usage.\n");
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"repeat", required_argument, NULL, OPT_REPEAT},
		{"counts", required_argument, NULL, OPT_COUNTS},
		{"window", required_argument, NULL, OPT_WINDOW},
		{"seed", required_argument, NULL, OPT_SEED},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		uint64_t v;
		switch (opt) {
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_BACKEND:
			cfg.backend = optarg;
			break;
		case OPT_REPEAT:
			if (parse_count(optarg, &v) < 0 || v == 0 || v > MAX_REPEAT) {
				fprintf(stderr, PROG ": --repeat wants 1 to %d, not '%s'\n", MAX_REPEAT, optarg);
				return 2;
			}
			cfg.repeat = (unsigned)v;
			break;
		case OPT_WINDOW:
			if (parse_count(optarg, &v) < 0 || v == 0 || v > 60000) {
				fprintf(stderr, PROG ": --window wants 1 to 60000 ms, not '%s'\n", optarg);
				return 2;
			}
			cfg.window_ms = (unsigned)v;
			break;
		case OPT_SEED:
			if (parse_count(optarg, &cfg.seed) < 0) {
				fprintf(stderr, PROG ": bad --seed '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_COUNTS: {
			char *list = strdup(optarg), *save = NULL, *tok;
			if (list == NULL)
				return 1;
			cfg.ncounts = 0;
			for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
				if (cfg.ncounts == MAX_COUNTS || parse_count(tok, &v) < 0 || v == 0 ||
				    v > 100000000) {
					fprintf(stderr, PROG ": --counts wants up to %d counts of 1 to 100M, "
					        "not '%s'\n", MAX_COUNTS, optarg);
					free(list);
					return 2;
				}
				cfg.counts[cfg.ncounts++] = (size_t)v;
			}
			free(list);
			if (cfg.ncounts == 0) {
				fprintf(stderr, PROG ": --counts is empty\n");
				return 2;
			}
			break;
		}
		case OPT_VERBOSE:
			cfg.verbose = 1;
			break;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* The table's columns: a result field each, the clock last (printed above the table). */
enum { F_ACCESS, F_START, F_MOVE, F_RESTART, F_EXPIRE, F_BYTES, F_CLOCK, NFIELDS };
static const char *const field_name[NFIELDS - 1] = {"access", "start", "move", "stop+start",
                                                    "expire", "B/timer"};

static double field(const struct result *r, int f)
{
	const double v[NFIELDS] = {r->access, r->start, r->move, r->restart, r->expire, r->bytes,
	                           r->clock};
	return v[f];
}

static void rule(int first, int width, int ncols)
{
	for (int i = 0; i < first + 1; i++)
		putchar('-');
	for (int c = 0; c < ncols; c++) {
		putchar('+');
		for (int i = 0; i < width + 2; i++)
			putchar('-');
	}
	putchar('\n');
}

int main(int argc, char **argv)
{
	static struct result res[MAX_COUNTS][MAX_REPEAT];
	double med[MAX_COUNTS][NFIELDS], col[MAX_REPEAT];
	const tlsio_backend *be;
	const char *why = NULL, *version = NULL;
	uint64_t late = 0;
	char nb[32];
	int rc;

	cfg.backend = "epoll";
	cfg.repeat = 5;
	cfg.window_ms = 10;
	cfg.seed = 1;
	cfg.counts[0] = 10000;
	cfg.counts[1] = 100000;
	cfg.counts[2] = 1000000;
	cfg.ncounts = 3;
	rc = parse_args(argc, argv);
	if (rc != 0)
		return rc;
	be = tlsio_backend_by_name(cfg.backend);
	if (be == NULL) {
		fprintf(stderr, PROG ": no backend '%s' (compiled in: %s)\n", cfg.backend,
		        tlsio_backend_names());
		return 2;
	}
	rc = tlsio_backend_probe(be, &why);
	if (rc < 0) {
		fprintf(stderr, PROG ": backend %s: %s%s%s\n", cfg.backend, tlsio_strerror(rc),
		        why != NULL ? ": " : "", why != NULL ? why : "");
		return 1;
	}

	/* rounds interleaved over n: a slow minute of the machine hits every n alike */
	for (unsigned k = 0; k < cfg.repeat; k++) {
		for (size_t c = 0; c < cfg.ncounts; c++) {
			struct result *r = &res[c][k];
			if (isatty(STDERR_FILENO) && !cfg.verbose)
				fprintf(stderr, "\r" PROG ": round %u/%u, n = %s...        ", k + 1, cfg.repeat,
				        grouped(cfg.counts[c], nb, sizeof(nb)));
			if (round_in_child(cfg.counts[c], cfg.seed + k, r) < 0)
				return 1;
			if (r->late_ms > late)
				late = r->late_ms;
			if (cfg.verbose)
				fprintf(stderr, PROG ": round %u n %zu: access %.1f start %.1f move %.1f "
				        "stop+start %.1f expire %.1f ns, %.1f B/timer, clock %.1f ns, late %"
				        PRIu64 " ms\n", k + 1, cfg.counts[c], r->access, r->start, r->move,
				        r->restart, r->expire, r->bytes, r->clock, r->late_ms);
		}
	}
	if (isatty(STDERR_FILENO) && !cfg.verbose)
		fprintf(stderr, "\r%60s\r", "");

	for (size_t c = 0; c < cfg.ncounts; c++) {
		for (int f = 0; f < NFIELDS; f++) {
			for (unsigned k = 0; k < cfg.repeat; k++)
				col[k] = field(&res[c][k], f);
			med[c][f] = median(col, cfg.repeat);
		}
	}

	(void)tlsio_version(&version);
	printf("libtlsio %s timers on one loop, %s backend, median of %u rounds, thread CPU ns\n",
	       version, tlsio_backend_name(be), cfg.repeat);
	printf("  access      a random timer read, each waiting for the one before: the memory\n"
	       "              latency a heap operation pays per timer it touches, no heap work\n");
	printf("  start       tlsio_timer_start of a stopped timer, timeout uniform in 1 s .. 1 day\n");
	printf("  move        tlsio_timer_start of a running random timer, to a new time as above\n");
	printf("  stop+start  tlsio_timer_stop and tlsio_timer_start of a random timer (the pair)\n");
	printf("  expire      all n due within %u ms, tlsio_loop_run(TLSIO_RUN_DEFAULT): per timer\n",
	       cfg.window_ms);
	printf("  B/timer     RSS growth over tlsio_timer_new and start of n timers, per timer\n");
	printf("every start reads the clock once: tlsio_loop_now() costs %.1f ns\n", med[0][F_CLOCK]);
	printf("\n");
	printf("%11s", "n");
	for (int f = 0; f < F_CLOCK; f++)
		printf(" | %10s", field_name[f]);
	printf("\n");
	rule(11, 10, F_CLOCK);
	for (size_t c = 0; c < cfg.ncounts; c++) {
		printf("%11s", grouped(cfg.counts[c], nb, sizeof(nb)));
		for (int f = 0; f < F_CLOCK; f++)
			printf(" | %10.1f", med[c][f]);
		printf("\n");
	}
	if (cfg.ncounts > 1) {
		printf("\n");
		printf("ratio to n = %s; log n and n: what log and linear growth would give\n",
		       grouped(cfg.counts[0], nb, sizeof(nb)));
		printf("\n");
		printf("%11s | %5s | %6s", "n", "log n", "n");
		for (int f = 0; f < F_CLOCK; f++)
			printf(" | %10s", field_name[f]);
		printf("\n");
		for (int i = 0; i < 12; i++)
			putchar('-');
		printf("+-------+--------");
		for (int f = 0; f < F_CLOCK; f++)
			printf("+------------");
		printf("\n");
		for (size_t c = 0; c < cfg.ncounts; c++) {
			double ln = log((double)cfg.counts[c]) / log((double)cfg.counts[0]);
			double lin = (double)cfg.counts[c] / (double)cfg.counts[0];
			printf("%11s | %5.2f | %6.1f", grouped(cfg.counts[c], nb, sizeof(nb)), ln, lin);
			for (int f = 0; f < F_CLOCK; f++)
				printf(" | %10.2f", med[c][f] / med[0][f]);
			printf("\n");
		}
	}
	if (late > 0)
		printf("\nnote: the expiry set-up ran up to %" PRIu64 " ms past the window's start "
		       "(a busy machine): some timers were overdue when the run began\n", late);
	return 0;
}
