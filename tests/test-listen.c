/* SPDX-License-Identifier: MIT */
/* Listener options and one loop per thread, as Check suites "listen/<backend>":
 * - tlsio_listen_ex() refuses unknown flags and a negative backlog;
 * - TLSIO_LISTEN_REUSEPORT: listeners that all ask for it share an address (port 0: the first
 *   one's port), a plain listener cannot join them nor they it (-EADDRINUSE);
 * - TLSIO_LISTEN_IPV6ONLY: "[::]:P" with it leaves "0.0.0.0:P" free, without it does not;
 * - two server threads, each with its own loop and REUSEPORT listener on one address and one
 *   shared tlsio_tls_config, echo 32 concurrent TLS clients: every echo intact, both threads
 *   accept some (the kernel spreads by 4-tuple hash: the odds of one getting none are 2^-31),
 *   and tlsio_loop_stop() + tlsio_loop_wake() from the main thread end their tlsio_loop_run();
 * - a stop made before tlsio_loop_run() starts ends that run (it is not forgotten), and only
 *   that one.
 * Backends: $TLSIO_BACKENDS (comma list), else $TLSIO_BACKEND, else all compiled in. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tlsio.h"

#define N_SERVERS 2
#define N_CLIENTS 32
#define MSG_LEN 4096
#define MAX_RUN 8

static const tlsio_backend *g_be;

static tlsio_tls_config *server_cfg(void)
{
	tlsio_tls_opts o = {.struct_size = sizeof(tlsio_tls_opts), .cert_file = tu_cert("server.pem"), .key_file = tu_cert("server.key")};
	tlsio_tls_config *cfg = NULL;
	ck_assert_int_eq(tlsio_tls_config_new(&cfg, 1, &o, NULL), 0);
	return cfg;
}

static tlsio_loop *new_loop(void)
{
	tlsio_loop *loop = NULL;
	ck_assert_int_eq(tlsio_loop_new(&loop, g_be), 0);
	return loop;
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_listen_ex_invalid)
{
	tlsio_loop *loop = new_loop();
	tlsio_tls_config *cfg = server_cfg();
	tlsio_listener *l = (tlsio_listener *)&l;
	tlsio_listen_opts lo = {.struct_size = sizeof(tlsio_listen_opts), .flags = 0x80};
	ck_assert_int_eq(tlsio_listen_ex(loop, "127.0.0.1:0", &lo, cfg, NULL, NULL, NULL, &l), -EINVAL);
	ck_assert_ptr_null(l);
	lo = (tlsio_listen_opts){.struct_size = sizeof(tlsio_listen_opts), .backlog = -1};
	ck_assert_int_eq(tlsio_listen_ex(loop, "127.0.0.1:0", &lo, cfg, NULL, NULL, NULL, &l), -EINVAL);
	lo = (tlsio_listen_opts){.struct_size = sizeof(tlsio_listen_opts), .backlog = 1};
	ck_assert_int_eq(tlsio_listen_ex(loop, "127.0.0.1:0", &lo, cfg, NULL, NULL, NULL, &l), 0);
	tlsio_listener_close(l);
	ck_assert_int_eq(tlsio_listen_ex(loop, "127.0.0.1:0", NULL, cfg, NULL, NULL, NULL, &l), 0);
	ck_assert_int_gt(tlsio_listener_port(l), 0);
	tlsio_listener_close(l);
	tlsio_tls_config_free(cfg);
	tlsio_loop_free(loop);
}
END_TEST

START_TEST(test_reuseport_group)
{
	tlsio_loop *loop = new_loop();
	tlsio_tls_config *cfg = server_cfg();
	tlsio_listen_opts rp = {.struct_size = sizeof(tlsio_listen_opts), .flags = TLSIO_LISTEN_REUSEPORT};
	tlsio_listener *a, *b, *c;
	char addr[64];

	ck_assert_int_eq(tlsio_listen_ex(loop, "127.0.0.1:0", &rp, cfg, NULL, NULL, NULL, &a), 0);
	ck_assert_int_eq(tlsio_listener_addr(a, addr, sizeof(addr)), 0);
	ck_assert_int_eq(tlsio_listen_ex(loop, addr, &rp, cfg, NULL, NULL, NULL, &b), 0);
	ck_assert_int_eq(tlsio_listener_port(b), tlsio_listener_port(a));
	/* a listener that did not ask to share cannot take the address */
	ck_assert_int_eq(tlsio_listen(loop, addr, cfg, NULL, NULL, NULL, &c), -EADDRINUSE);
	tlsio_listener_close(a);
	tlsio_listener_close(b);
	/* nor can a sharing one join a plain listener */
	ck_assert_int_eq(tlsio_listen(loop, "127.0.0.1:0", cfg, NULL, NULL, NULL, &a), 0);
	ck_assert_int_eq(tlsio_listener_addr(a, addr, sizeof(addr)), 0);
	ck_assert_int_eq(tlsio_listen_ex(loop, addr, &rp, cfg, NULL, NULL, NULL, &b), -EADDRINUSE);
	tlsio_listener_close(a);
	tlsio_tls_config_free(cfg);
	tlsio_loop_free(loop);
}
END_TEST

static int read_sysctl(const char *path)
{
	char buf[16] = {0};
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return atoi(buf);
}

START_TEST(test_ipv6only)
{
	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	tlsio_listen_opts v6 = {.struct_size = sizeof(tlsio_listen_opts), .flags = TLSIO_LISTEN_IPV6ONLY};
	tlsio_listener *l6, *l4;
	char addr[64];
	int fd = socket(AF_INET6, SOCK_STREAM, 0), rc;
	if (fd < 0) {
		printf("SKIP listen/%s test_ipv6only: no IPv6 sockets here (%s)\n",
		       tlsio_backend_name(g_be), strerror(errno));
		return;
	}
	close(fd);
	loop = new_loop();
	cfg = server_cfg();
	ck_assert_int_eq(tlsio_listen_ex(loop, "[::]:0", &v6, cfg, NULL, NULL, NULL, &l6), 0);
	snprintf(addr, sizeof(addr), "0.0.0.0:%d", tlsio_listener_port(l6));
	rc = tlsio_listen(loop, addr, cfg, NULL, NULL, NULL, &l4);
	ck_assert_msg(rc == 0, "IPv4 %s next to an IPV6ONLY [::]: %s", addr, tlsio_strerror(rc));
	tlsio_listener_close(l4);
	tlsio_listener_close(l6);
	/* The control: a dual-stack [::] listener does hold the IPv4 port (unless this host makes
	 * every IPv6 socket v6-only by default). */
	if (read_sysctl("/proc/sys/net/ipv6/bindv6only") == 0) {
		ck_assert_int_eq(tlsio_listen(loop, "[::]:0", cfg, NULL, NULL, NULL, &l6), 0);
		snprintf(addr, sizeof(addr), "0.0.0.0:%d", tlsio_listener_port(l6));
		ck_assert_int_eq(tlsio_listen(loop, addr, cfg, NULL, NULL, NULL, &l4), -EADDRINUSE);
		tlsio_listener_close(l6);
	}
	tlsio_tls_config_free(cfg);
	tlsio_loop_free(loop);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* two server threads on one address */

struct server {
	pthread_t tid;
	tlsio_loop *loop;
	tlsio_tls_config *cfg;
	const char *addr;   /* NULL: 127.0.0.1:0 */
	char bound[64];
	atomic_int state;   /* 0 starting, 1 listening, -1 failed */
	atomic_int accepted;
	atomic_int returned; /* tlsio_loop_run() came back */
	int run_rc;
};

static void srv_on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	(void)user;
	if (tlsio_send(c, data, len) < 0)
		tlsio_abort(c);
}

static void srv_on_accept(tlsio_listener *l, tlsio_conn *c, void *user)
{
	struct server *s = user;
	(void)l;
	(void)c;
	atomic_fetch_add(&s->accepted, 1);
}

static const tlsio_callbacks srv_cb = {.struct_size = sizeof(tlsio_callbacks), .on_data = srv_on_data};

static void *server_main(void *arg)
{
	struct server *s = arg;
	tlsio_listen_opts rp = {.struct_size = sizeof(tlsio_listen_opts), .flags = TLSIO_LISTEN_REUSEPORT};
	tlsio_conn_opts o = {.struct_size = sizeof(tlsio_conn_opts), .cb = &srv_cb};
	tlsio_listener *l;
	int rc = tlsio_loop_new(&s->loop, g_be);
	if (rc == 0)
		rc = tlsio_listen_ex(s->loop, s->addr != NULL ? s->addr : "127.0.0.1:0", &rp, s->cfg, &o,
		                     srv_on_accept, s, &l);
	if (rc == 0)
		rc = tlsio_listener_addr(l, s->bound, sizeof(s->bound));
	atomic_store(&s->state, rc == 0 ? 1 : -1);
	if (rc == 0) {
		/* One run: the listener keeps it going until the main thread stops it. */
		s->run_rc = tlsio_loop_run(s->loop, TLSIO_RUN_DEFAULT);
		atomic_store(&s->returned, 1);
	}
	tlsio_loop_free(s->loop); /* on this thread: its TLS caches go with it */
	return NULL;
}

static int wait_flag(atomic_int *flag, int until, unsigned ms)
{
	for (unsigned i = 0; i < ms && atomic_load(flag) == 0; i++)
		tu_sleep_ms(1);
	return atomic_load(flag) == until;
}

struct client {
	int id, done, status;
	uint8_t want[MSG_LEN];
	size_t got;
	int mismatch;
};

static int clients_done;

static void cli_on_handshake(tlsio_conn *c, void *user)
{
	struct client *k = user;
	if (tlsio_send(c, k->want, MSG_LEN) < 0)
		tlsio_abort(c);
}

static void cli_on_data(tlsio_conn *c, const uint8_t *data, size_t len, void *user)
{
	struct client *k = user;
	if (k->got + len > MSG_LEN || memcmp(data, k->want + k->got, len) != 0)
		k->mismatch = 1;
	k->got += len;
	if (k->got >= MSG_LEN)
		tlsio_close(c);
}

static void cli_on_close(tlsio_conn *c, int status, int alert, void *user)
{
	struct client *k = user;
	(void)c;
	(void)alert;
	k->done = 1;
	k->status = status;
	clients_done++;
}

static const tlsio_callbacks cli_cb = {.struct_size = sizeof(tlsio_callbacks),
	.on_handshake = cli_on_handshake, .on_data = cli_on_data, .on_close = cli_on_close};

START_TEST(test_threads_reuseport_echo)
{
	static struct server srv[N_SERVERS];
	static struct client cl[N_CLIENTS];
	tlsio_tls_opts co = {.struct_size = sizeof(tlsio_tls_opts), .ca_file = tu_cert("ca.pem")};
	tlsio_tls_config *scfg = server_cfg(), *ccfg = NULL;
	tlsio_loop *loop;
	uint64_t deadline;
	int total = 0;

	memset(srv, 0, sizeof(srv));
	memset(cl, 0, sizeof(cl));
	clients_done = 0;
	/* one after the other: the first picks the port, the second joins it */
	for (int i = 0; i < N_SERVERS; i++) {
		srv[i].cfg = scfg;
		srv[i].addr = i == 0 ? NULL : srv[0].bound;
		ck_assert_int_eq(pthread_create(&srv[i].tid, NULL, server_main, &srv[i]), 0);
		ck_assert_msg(wait_flag(&srv[i].state, 1, 10000), "server thread %d did not listen", i);
	}
	ck_assert_str_eq(srv[1].bound, srv[0].bound);

	ck_assert_int_eq(tlsio_tls_config_new(&ccfg, 0, &co, NULL), 0);
	loop = new_loop();
	for (int i = 0; i < N_CLIENTS; i++) {
		tlsio_conn_opts o = {.struct_size = sizeof(tlsio_conn_opts), .cb = &cli_cb, .user = &cl[i], .server_name = "localhost"};
		tlsio_conn *c;
		cl[i].id = i;
		tu_pattern(1000 + (uint64_t)i, 0, cl[i].want, MSG_LEN);
		ck_assert_int_eq(tlsio_connect(loop, srv[0].bound, ccfg, &o, &c), 0);
	}
	deadline = tu_now_ms() + 20000;
	while (clients_done < N_CLIENTS && tu_now_ms() < deadline)
		ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_ONCE), 0);
	ck_assert_int_eq(clients_done, N_CLIENTS);
	for (int i = 0; i < N_CLIENTS; i++) {
		ck_assert_msg(cl[i].status == 0, "client %d: %s", i, tlsio_strerror(cl[i].status));
		ck_assert_msg(cl[i].got == MSG_LEN && !cl[i].mismatch, "client %d: echo differs", i);
	}

	/* From this thread: stop + wake must end each server's tlsio_loop_run(). */
	for (int i = 0; i < N_SERVERS; i++) {
		tlsio_loop_stop(srv[i].loop);
		tlsio_loop_wake(srv[i].loop);
	}
	for (int i = 0; i < N_SERVERS; i++) {
		ck_assert_msg(wait_flag(&srv[i].returned, 1, 10000),
		              "server thread %d: tlsio_loop_run() ignored a stop from another thread", i);
		pthread_join(srv[i].tid, NULL);
		ck_assert_int_eq(srv[i].run_rc, 0);
		tu_log("[%s] server thread %d accepted %d", tlsio_backend_name(g_be), i,
		       atomic_load(&srv[i].accepted));
		ck_assert_msg(atomic_load(&srv[i].accepted) > 0, "server thread %d got no connection", i);
		total += atomic_load(&srv[i].accepted);
	}
	ck_assert_int_eq(total, N_CLIENTS);
	tlsio_loop_free(loop);
	tlsio_tls_config_free(ccfg);
	tlsio_tls_config_free(scfg);
}
END_TEST

static void *stop_later(void *arg)
{
	tu_sleep_ms(100);
	tlsio_loop_stop(arg);
	tlsio_loop_wake(arg);
	return NULL;
}

START_TEST(test_stop_before_run)
{
	tlsio_loop *loop = new_loop();
	tlsio_tls_config *cfg = server_cfg();
	tlsio_listener *l;
	pthread_t tid;
	uint64_t t0;
	ck_assert_int_eq(tlsio_listen(loop, "127.0.0.1:0", cfg, NULL, NULL, NULL, &l), 0);
	/* With a listener, RUN_DEFAULT only returns on a stop: this one came first. */
	tlsio_loop_stop(loop);
	ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_DEFAULT), 0);
	/* That run consumed it: the next one waits until another thread stops it 100 ms later. */
	t0 = tu_now_ms();
	ck_assert_int_eq(pthread_create(&tid, NULL, stop_later, loop), 0);
	ck_assert_int_eq(tlsio_loop_run(loop, TLSIO_RUN_DEFAULT), 0);
	pthread_join(tid, NULL);
	ck_assert_msg(tu_now_ms() - t0 >= 80, "the second run returned after %llu ms: the first stop "
	              "was not consumed", (unsigned long long)(tu_now_ms() - t0));
	tlsio_listener_close(l);
	tlsio_tls_config_free(cfg);
	tlsio_loop_free(loop);
}
END_TEST

/* One suite at a time (main frees each runner before the next): the name can be static. */
static Suite *listen_suite(const char *name)
{
	static char sname[64];
	Suite *s;
	TCase *tc;
	snprintf(sname, sizeof(sname), "listen/%s", name);
	s = suite_create(sname);
	tc = tcase_create("listen");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_listen_ex_invalid);
	tcase_add_test(tc, test_reuseport_group);
	tcase_add_test(tc, test_ipv6only);
	tcase_add_test(tc, test_threads_reuseport_echo);
	tcase_add_test(tc, test_stop_before_run);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const tlsio_backend *all[MAX_RUN];
	const char *env = getenv("TLSIO_BACKENDS");
	size_t n = tlsio_backends(all, MAX_RUN), ran = 0;
	int failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (env == NULL || env[0] == '\0')
		env = getenv("TLSIO_BACKEND");
	if (n > MAX_RUN)
		n = MAX_RUN;
	for (size_t i = 0; i < n; i++) {
		const char *name = tlsio_backend_name(all[i]), *why = NULL;
		SRunner *sr;
		int rc;
		if (env != NULL && env[0] != '\0' && strcmp(env, "auto") != 0) {
			/* a comma-separated list: run only the backends it names */
			size_t nl = strlen(name);
			const char *p = strstr(env, name);
			while (p != NULL && !((p == env || p[-1] == ',') && (p[nl] == '\0' || p[nl] == ',')))
				p = strstr(p + 1, name);
			if (p == NULL)
				continue;
		}
		rc = tlsio_backend_probe(all[i], &why);
		if (rc < 0) {
			printf("SKIP listen/%s: %s\n", name, why != NULL ? why : tlsio_strerror(rc));
			continue;
		}
		g_be = all[i];
		sr = srunner_create(listen_suite(name));
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
		ran++;
	}
	if (ran == 0)
		return 77;
	return failed == 0 ? 0 : 1;
}
