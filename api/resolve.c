/* SPDX-License-Identifier: MIT */
/* Host names resolved off the loop: getaddrinfo() on a small pool of threads shared by every
 * loop of the process (libuv's way), the result handed back as a task posted to the loop.
 *
 * Why getaddrinfo and not a resolver library on the loop's fds (c-ares): getaddrinfo is what
 * every other program on the machine resolves with, so /etc/hosts, nsswitch.conf (mdns, myhostname,
 * LDAP, containers' own modules), gai.conf's address sorting (RFC 6724) and the resolver's
 * options apply as the administrator set them; a stub resolver reads /etc/hosts and DNS only.
 * The price is a thread per lookup in flight (bounded: MAX_THREADS, the rest wait their turn)
 * and a lookup that cannot be interrupted: a cancelled one runs to its end on its thread and its
 * result is dropped there, never reaching the loop.
 *
 * Ownership: a request is the loop's until resolve_submit queues it; then the pool's until the
 * worker posts it (the loop's again, in the task) or finds it cancelled (the worker frees it).
 * One mutex orders the worker against tlsio__resolve_cancel on the loop's thread. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "resolve.h"

#define MAX_THREADS 4
#define IDLE_EXIT_S 5

enum req_state { RQ_QUEUED, RQ_RUNNING, RQ_POSTED, RQ_CANCELLED };

struct tlsio__resolve {
	tlsio_task task;      /* first: the task callback finds the request from it */
	struct tlsio__resolve *next;
	tlsio_loop *loop;
	tlsio__resolve_cb cb; /* NULL once cancelled */
	void *arg;
	enum req_state state;
	struct addrinfo *res;
	int gai_rc, gai_errno;
	unsigned delay_ms; /* test hook, see tlsio__resolve_start */
	char host[256];
	char port[8];
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct tlsio__resolve *queue_head, *queue_tail;
static int nthreads, nidle, nqueued;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* A child of fork() has none of the parent's threads; its requests (copies) are the parent's. */
static void pool_atfork_child(void)
{
	pthread_mutex_init(&pool_mu, NULL);
	pthread_cond_init(&pool_cv, NULL);
	queue_head = queue_tail = NULL;
	nthreads = nidle = nqueued = 0;
}

static void pool_init(void)
{
	(void)pthread_atfork(NULL, NULL, pool_atfork_child);
}

static void task_cb(tlsio_loop *loop, tlsio_task *task, int status)
{
	struct tlsio__resolve *r = (struct tlsio__resolve *)task;
	(void)loop;
	/* The worker posts under the lock and may still be inside tlsio_loop_post_task (waking
	 * the loop) when the task already runs here: wait for it to let go, or a callback that
	 * ends the last connection and frees the loop would free it under the worker. */
	pthread_mutex_lock(&pool_mu);
	pthread_mutex_unlock(&pool_mu);
	if (r->cb != NULL) {
		if (status < 0) {
			if (r->res != NULL)
				freeaddrinfo(r->res);
			r->res = NULL;
			r->gai_rc = EAI_SYSTEM;
			r->gai_errno = ECANCELED;
		}
		r->cb(r->arg, r->res, r->gai_rc, r->gai_errno);
		r->res = NULL; /* the callback's */
	}
	if (r->res != NULL)
		freeaddrinfo(r->res);
	free(r);
}

static void *worker(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		struct tlsio__resolve *r;
		struct addrinfo hints;
		while (queue_head == NULL) {
			struct timespec ts;
			int rc;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += IDLE_EXIT_S;
			nidle++;
			rc = pthread_cond_timedwait(&pool_cv, &pool_mu, &ts);
			nidle--;
			if (rc == ETIMEDOUT && queue_head == NULL) {
				nthreads--;
				pthread_mutex_unlock(&pool_mu);
				return NULL;
			}
		}
		r = queue_head;
		nqueued--;
		queue_head = r->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		r->state = RQ_RUNNING;
		pthread_mutex_unlock(&pool_mu);

		if (r->delay_ms > 0) {
			struct timespec d = {r->delay_ms / 1000, (long)(r->delay_ms % 1000) * 1000000L};
			nanosleep(&d, NULL);
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_protocol = IPPROTO_TCP;
		/* Both families whatever the host's addresses (no AI_ADDRCONFIG: it ignores loopback
		 * addresses, so "localhost" would lose ::1 on a host whose only IPv6 address is
		 * ::1); an address family without a route fails its attempt at once (ENETUNREACH)
		 * and Happy Eyeballs goes on with the next. */
		hints.ai_flags = AI_NUMERICSERV;
		errno = 0;
		r->res = NULL;
		r->gai_rc = getaddrinfo(r->host, r->port, &hints, &r->res);
		r->gai_errno = errno;

		pthread_mutex_lock(&pool_mu);
		if (r->state == RQ_CANCELLED) {
			if (r->res != NULL)
				freeaddrinfo(r->res);
			free(r);
			continue;
		}
		/* Under the lock: the loop cannot be freed meanwhile (its connections cancel their
		 * requests first, and the task itself waits for the lock before it runs: task_cb).
		 * The task is the loop's from here on. */
		r->state = RQ_POSTED;
		(void)tlsio_loop_post_task(r->loop, &r->task, task_cb);
	}
}

int tlsio__resolve_start(tlsio_loop *loop, const char *host, const char *port,
                         tlsio__resolve_cb cb, void *arg, struct tlsio__resolve **out)
{
	struct tlsio__resolve *r;
	int rc = 0;
	*out = NULL;
	pthread_once(&pool_once, pool_init);
	if (strlen(host) >= sizeof(r->host) || strlen(port) >= sizeof(r->port))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	/* test hook: the lookup takes this much longer, so that the tests can cancel one that is
	 * under way on its thread (read on the loop's thread, like the rest of the environment the
	 * application may change) */
	{
		const char *d = getenv("TLSIO_TEST_RESOLVE_DELAY_MS");
		if (d != NULL)
			r->delay_ms = (unsigned)strtoul(d, NULL, 10);
	}
	r->loop = loop;
	r->cb = cb;
	r->arg = arg;
	strcpy(r->host, host);
	strcpy(r->port, port);
	pthread_mutex_lock(&pool_mu);
	/* a thread per lookup waiting, up to the bound: an idle one already woken for another
	 * lookup is not free for this one (a slow DNS answer must not hold a second lookup) */
	if (nqueued + 1 > nidle && nthreads < MAX_THREADS) {
		pthread_t th;
		pthread_attr_t at;
		sigset_t all, old;
		/* the pool's threads take no signals: they stay the application's threads' */
		sigfillset(&all);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&th, &at, worker, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&at);
		if (rc == 0)
			nthreads++;
		else if (nthreads > 0)
			rc = 0; /* the others will get to it */
		else
			rc = -EAGAIN;
	}
	if (rc == 0) {
		r->state = RQ_QUEUED;
		if (queue_tail != NULL)
			queue_tail->next = r;
		else
			queue_head = r;
		queue_tail = r;
		nqueued++;
		pthread_cond_signal(&pool_cv);
	}
	pthread_mutex_unlock(&pool_mu);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void tlsio__resolve_cancel(struct tlsio__resolve *r)
{
	pthread_mutex_lock(&pool_mu);
	switch (r->state) {
	case RQ_QUEUED: {
		/* not found: queued in the parent before a fork() (the child's queue starts empty) */
		struct tlsio__resolve **pp = &queue_head, *prev = NULL;
		while (*pp != NULL && *pp != r) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp == r) {
			*pp = r->next;
			if (queue_tail == r)
				queue_tail = prev;
			nqueued--;
		}
		free(r);
		break;
	}
	case RQ_RUNNING:
		r->state = RQ_CANCELLED; /* the worker frees it when getaddrinfo returns */
		break;
	case RQ_POSTED:
		r->cb = NULL; /* the task runs and frees it, telling no one */
		break;
	case RQ_CANCELLED:
		break;
	}
	pthread_mutex_unlock(&pool_mu);
}
