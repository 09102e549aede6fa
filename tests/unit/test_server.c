/* test_server.c - ztmd's HTTP layer in one process: a real worker (evhttp
 * over TLS, a real SQLite store, certificates made with the openssl CLI) and
 * a blocking TLS client in a thread. Checks the group commit (jobs queued in
 * one turn commit together; a failing job rolls back alone; done() may defer
 * again), a client that goes away while its job is queued (done still runs,
 * the work is committed, the reply is dropped; ASan checks there is no
 * use-after-free), peer certificates, and the drain on stop. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>

#include "server.h"
#include "ztm/store.h"
#include "ztm/str.h"

static char dir[64];
static unsigned short port;

/* --- the routes under test --------------------------------------------- */
static int done_calls, done_ok, done_failed;
/* Event priorities of the TLS connections (http.h, ZTMD_PRI_IO): seen
 * when a handshake is done (still the handshake's) and in a handler. */
static int prio_handshake_other, prio_handshakes, prio_request_other, prio_requests;
static void (*tls_info)(const SSL *ssl, int where, int ret);

static int job_audit(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	return ztm_store_audit(s, "test", (const char *)arg, "obj", "ok", "", err);
}

static int job_fail(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	/* Writes, then fails: its savepoint must roll the write back. */
	if (ztm_store_audit(s, "test", "failing", "obj", "ok", "", err) != 0)
		return -1;
	return ztm_error_set(err, ZTM_E_CONFLICT, "this job fails on purpose");
}

static void done_count(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	(void)arg;
	(void)err;
	done_calls++;
	if (rc == 0)
		done_ok++;
	else
		done_failed++;
	(void)r;
}

static void done_reply(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	char body[64];
	int n;

	done_count(r, arg, rc, err);
	if (rc != 0) {
		ztmd_reply_error(r, 409, err);
		return;
	}
	n = snprintf(body, sizeof(body), "committed %s\n", (const char *)arg);
	ztmd_reply(r, 200, "text/plain", body, (size_t)n);
}

/* Three jobs from one handler: one batch; the middle one fails alone. */
static void h_three(struct ztmd_req *r, void *arg)
{
	(void)arg;
	ztmd_req_defer(r, job_audit, "three-a", done_count);
	ztmd_req_defer(r, job_fail, NULL, done_count);
	ztmd_req_defer(r, job_audit, "three-c", done_reply);
}

static void done_again(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	done_count(r, arg, rc, err);
	ztmd_req_defer(r, job_audit, "again-2", done_reply);
}

static void h_again(struct ztmd_req *r, void *arg)
{
	(void)arg;
	ztmd_req_defer(r, job_audit, "again-1", done_again);
}

/* The client "goes away" while the job is queued: the job itself closes
 * the connection, exactly as libevent does when the peer disconnects. */
static int job_drop(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct ztmd_req *r = arg;
	struct evhttp_request *ev = ztmd_req_evhttp(r);

	if (ev != NULL)
		evhttp_connection_free(evhttp_request_get_connection(ev));
	return ztm_store_audit(s, "test", "dropped", "obj", "ok", "", err);
}

static void done_drop(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	done_count(r, arg, rc, err);
	assert_null(ztmd_req_evhttp(r));
	ztmd_reply(r, 200, "text/plain", "never seen\n", 11);
}

static void h_drop(struct ztmd_req *r, void *arg)
{
	(void)arg;
	ztmd_req_defer(r, job_drop, r, done_drop);
}

static void h_whoami(struct ztmd_req *r, void *arg)
{
	X509 *peer = ztmd_req_peer_cert(r);
	char cn[64] = "none";
	struct ztm_slice body = ztmd_req_body(r);
	char out[160];
	int n;

	(void)arg;
	{
		struct evhttp_request *ev = ztmd_req_evhttp(r);
		struct bufferevent *bev =
		    evhttp_connection_get_bufferevent(evhttp_request_get_connection(ev));
		prio_requests++;
		prio_request_other += bufferevent_get_priority(bev) != ZTMD_PRI_IO;
	}
	if (peer != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
		                          sizeof(cn));
	n = snprintf(out, sizeof(out), "cn=%s body=%zu q=%s h=%s\n", cn, body.len,
	             ztmd_req_query(r, "x") ? ztmd_req_query(r, "x") : "-",
	             ztmd_req_header(r, "X-Test") ? ztmd_req_header(r, "X-Test") : "-");
	ztmd_reply(r, 200, "text/plain", out, (size_t)n);
}

/* Stops the worker while its own job is queued: the drain must still
 * finish it, and the reply must close the connection. */
static void h_stopme(struct ztmd_req *r, void *arg)
{
	(void)arg;
	ztmd_worker_stop(ztmd_req_worker(r));
	ztmd_req_defer(r, job_audit, "stop", done_reply);
}

static void h_forget(struct ztmd_req *r, void *arg)
{
	/* Replies nothing: the layer must answer 500 for it. */
	(void)r;
	(void)arg;
}

/* tls.c's info callback, then the priority of the connection whose
 * handshake just ended (the events are reassigned only after this). */
static void info_then_priority(const SSL *ssl, int where, int ret)
{
	tls_info(ssl, where, ret);
	if ((where & SSL_CB_HANDSHAKE_DONE) && SSL_is_server(ssl)) {
		prio_handshakes++;
		prio_handshake_other += ztmd_conn_priority(ssl) != ZTMD_PRI_HANDSHAKE;
	}
}

static const struct ztmd_route routes[] = {
    {ZTMD_POST, "/three", 0, h_three, NULL},
    {ZTMD_POST, "/again", 0, h_again, NULL},
    {ZTMD_GET, "/drop", 0, h_drop, NULL},
    {ZTMD_GET | ZTMD_POST, "/who/", 1, h_whoami, NULL},
    {ZTMD_GET, "/forget", 0, h_forget, NULL},
    {ZTMD_POST, "/stopme", 0, h_stopme, NULL},
    /* A body cap of its own (max_batch_bytes), like POST /api/v1/records. */
    {ZTMD_POST, "/big", ZTMD_ROUTE_BATCH_BODY, h_whoami, NULL},
};

/* --- a blocking TLS client ----------------------------------------------- */
struct exchange {
	const char *request;
	int with_cert;
	int want_status;       /* 0: the connection closes with no response */
	const char *want_body; /* NULL: not compared */
};

#define N_EXCHANGES 11
static char got_text[N_EXCHANGES][2048];

static int do_exchange(const struct exchange *x, char *gotbuf, size_t gotsize)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	struct sockaddr_in sa;
	char path[128];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n, rc = -1;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if (ctx == NULL || fd < 0 || SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (x->with_cert) {
		snprintf(path, sizeof(path), "%s/client.pem", dir);
		if (SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM) != 1)
			goto out;
		snprintf(path, sizeof(path), "%s/client.key", dir);
		if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1)
			goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)
		goto out;
	if (SSL_write(ssl, x->request, (int)strlen(x->request)) <= 0)
		goto out;
	while (got + 1 < gotsize && (n = SSL_read(ssl, gotbuf + got, (int)(gotsize - 1 - got))) > 0)
		got += (size_t)n;
	gotbuf[got] = '\0';
	rc = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}

static const struct exchange exchanges[N_EXCHANGES] = {
    {"POST /three HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0, 200,
     "committed three-c\n"},
    {"POST /again HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0, 200,
     "committed again-2\n"},
    {"GET /drop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 0, NULL},
    {"POST /who/am/i?x=1%202 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\nContent-Length: 5\r\n"
     "Connection: close\r\n\r\nhello",
     1, 200, "cn=client body=5 q=1 2 h=yes\n"},
    {"GET /who/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 200,
     "cn=none body=0 q=- h=-\n"},
    {"GET /forget HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 500,
     "{\"error\":\"internal\",\"message\":\"the handler did not reply\"}"},
    {"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 200, "ok\n"},
    /* Body caps (max_body_bytes 512, max_batch_bytes 1024): a body of
     * 600 bytes passes on the batch route only; 1500 passes nowhere
     * (evhttp refuses it before a handler is chosen). Bodies: big_body. */
    {NULL, 0, 200, "cn=none body=600 q=- h=-\n"},
    {NULL, 0, 413, "{\"error\":\"too_big\",\"message\":\"request body over 512 bytes\"}"},
    {NULL, 0, 413, NULL},
    /* keep-alive asked for; the draining worker answers and closes */
    {"POST /stopme HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 0, 200, "committed stop\n"},
};

/* The requests of the NULL rows above, built at run time. */
static char big_req[3][2048];

static void make_big_requests(void)
{
	static const struct {
		const char *path;
		size_t len;
	} rows[] = {{"/big", 600}, {"/who/x", 600}, {"/big", 1500}};
	size_t i;

	for (i = 0; i < 3; i++) {
		int n = snprintf(big_req[i], sizeof(big_req[i]),
		                 "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
		                 "Connection: close\r\n\r\n",
		                 rows[i].path, rows[i].len);
		assert_true(n > 0 && (size_t)n + rows[i].len < sizeof(big_req[i]));
		memset(big_req[i] + n, 'b', rows[i].len);
		big_req[i][(size_t)n + rows[i].len] = '\0';
	}
}

static int stop_pipe[2];

static void *client_main(void *arg)
{
	size_t i, k;
	char c = 'x';

	(void)arg;
	for (i = 0, k = 0; i < sizeof(exchanges) / sizeof(exchanges[0]); i++) {
		struct exchange x = exchanges[i];
		if (x.request == NULL)
			x.request = big_req[k++];
		do_exchange(&x, got_text[i], sizeof(got_text[i]));
	}
	if (write(stop_pipe[1], &c, 1) != 1)
		abort();
	return NULL;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ztmd_worker_stop(arg);
}

/* --- setup --------------------------------------------------------------- */
static void make_pki(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
	         "cd %s && k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	         "-out $1; } && k ca.key && openssl req -x509 -new -key ca.key -out ca.pem "
	         "-subj /CN=test-ca -days 2 && for n in server client; do k $n.key && "
	         "openssl req -new -key $n.key -out $n.csr -subj /CN=$n && "
	         "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $n.ext && "
	         "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	         "-out $n.pem -days 2 -extfile $n.ext || exit 1; done",
	         dir);
	assert_int_equal(system(cmd), 0);
}

static void test_worker_in_process(void **state)
{
	char text[1024], dbpath[128];
	struct ztm_error err;
	struct ztm_config *cfg;
	struct ztmd_settings set;
	struct ztmd_metrics *m;
	struct ztm_store *store;
	struct ztmd_worker_opts o;
	struct ztmd_worker *w;
	struct event *stop_ev;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t th;
	const char *names[ZTMD_ROUTE_APP0 + 7] = {"none",    "/healthz", "/metrics", "/three",
	                                          "/again",  "/drop",    "/who/",    "/forget",
	                                          "/stopme", "/big"};
	int64_t audits = 0;
	size_t i;
	int fd;

	(void)state;
	ztm_strlcpy(dir, "/tmp/ztm-test-server-XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	make_pki();
	make_big_requests();
	snprintf(text, sizeof(text),
	         "[server]\nlisten = 127.0.0.1:0\nworkers = 1\ngrace = 5s\n"
	         "max_body_bytes = 512\nmax_batch_bytes = 1024\n"
	         "[tls]\ncert = %s/server.pem\nkey = %s/server.key\nclient_ca = %s/ca.pem\n"
	         "[store]\nurl = sqlite:%s/ztm.db\n",
	         dir, dir, dir, dir);
	cfg = ztm_config_parse(text, strlen(text), "test", &err);
	assert_non_null(cfg);
	assert_int_equal(ztmd_settings_read(cfg, &set, &err), 0);
	assert_int_equal(ztm_config_unused(cfg, &err), 0);
	m = ztmd_metrics_new(names, sizeof(names) / sizeof(names[0]), &err);
	assert_non_null(m);
	o.ssl_ctx = ztmd_tls_ctx_new(&set, m, &err);
	if (o.ssl_ctx == NULL)
		fail_msg("%s", err.msg);
	tls_info = SSL_CTX_get_info_callback(o.ssl_ctx);
	assert_non_null(tls_info);
	SSL_CTX_set_info_callback(o.ssl_ctx, info_then_priority);
	snprintf(dbpath, sizeof(dbpath), "sqlite:%s/ztm.db", dir);
	assert_int_equal(ztm_store_open(dbpath, &store, &err), 0);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);

	o.settings = &set;
	o.metrics = m;
	o.slot = 0;
	o.store = store;
	o.app_routes = routes;
	o.n_app_routes = sizeof(routes) / sizeof(routes[0]);
	o.listen_fd = fd;
	o.public_listen_fd = -1;
	w = ztmd_worker_new(&o, &err);
	if (w == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(pipe(stop_pipe), 0);
	stop_ev = event_new(ztmd_worker_base(w), stop_pipe[0], EV_READ, on_stop, w);
	assert_non_null(stop_ev);
	event_priority_set(stop_ev, 0);
	event_add(stop_ev, NULL);
	assert_int_equal(pthread_create(&th, NULL, client_main, NULL), 0);
	assert_int_equal(ztmd_worker_run(w), 0);
	pthread_join(th, NULL);
	event_free(stop_ev);
	ztmd_worker_free(w);

	for (i = 0; i < sizeof(exchanges) / sizeof(exchanges[0]); i++) {
		const struct exchange *x = &exchanges[i];
		const char *got = got_text[i];
		char status[16];
		const char *body = strstr(got, "\r\n\r\n");
		if (x->want_status == 0) {
			if (got[0] != '\0')
				fail_msg("row %zu: want no response, got '%s'", i, got);
			continue;
		}
		snprintf(status, sizeof(status), "HTTP/1.1 %d ", x->want_status);
		if (strncmp(got, status, strlen(status)) != 0 || body == NULL ||
		    (x->want_body != NULL && strcmp(body + 4, x->want_body) != 0))
			fail_msg("row %zu: got '%s'", i, got);
	}
	/* Handshakes ran at the lowest priority, requests at the highest. */
	assert_true(prio_handshakes >= 5);
	assert_int_equal(prio_handshake_other, 0);
	assert_true(prio_requests >= 2);
	assert_int_equal(prio_request_other, 0);
	/* three: 3 jobs, 1 failed; again: 2 jobs in 2 batches; drop: 1 job. */
	assert_int_equal(done_calls, 7);
	assert_int_equal(done_failed, 1);
	assert_int_equal(done_ok, 6);
	/* Committed: three-a, three-c, again-1, again-2, dropped, stop; not "failing". */
	assert_int_equal(ztm_store_audit_count(store, &audits, &err), 0);
	assert_int_equal(audits, 6);
	assert_non_null(strstr(got_text[N_EXCHANGES - 1], "Connection: close\r\n"));
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_APP0 + 0, 200), 1);
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_APP0 + 2, 200), 1); /* dropped */
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_APP0 + 4, 500), 1);
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_APP0 + 3, 413), 1); /* /who/x */
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_APP0 + 6, 200), 1); /* /big */
	assert_int_equal(ztmd_metrics_requests(m, ZTMD_ROUTE_HEALTHZ, 200), 1);
	{
		struct ztm_buf b;
		ztm_buf_init(&b, 0);
		assert_int_equal(ztmd_metrics_render(m, &b), 0);
		/* batches: three (1), again (2), drop (1), stop (1) = 5; jobs 7. */
		assert_non_null(strstr(ztm_buf_cstr(&b), "\nztmd_commit_batches_total 5\n"));
		assert_non_null(strstr(ztm_buf_cstr(&b), "\nztmd_commit_jobs_total 7\n"));
		assert_non_null(strstr(ztm_buf_cstr(&b), "\nztmd_http_requests_in_flight 0\n"));
		ztm_buf_free(&b);
	}
	ztm_store_close(store);
	SSL_CTX_free(o.ssl_ctx);
	ztmd_metrics_free(m);
	ztm_config_free(cfg);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	snprintf(text, sizeof(text), "rm -rf %s", dir);
	assert_int_equal(system(text), 0);
}

static void test_settings_refusals(void **state)
{
	static const struct {
		const char *text, *want;
	} rows[] = {
	    {"[server]\nlisten = nowhere\n", "[server] listen = 'nowhere'"},
	    {"[server]\nlisten = :80\n", "missing host"},
	    {"[server]\nlisten = h:70000\n", "port 0..65535"},
	    {"[server]\nworkers = 0\n", "test:2: [server] workers"},
	    {"[server]\nmax_body_bytes = 1x\n", "test:2: [server] max_body_bytes"},
	    {"[server]\nmax_batch_bytes = 100\n", "test:2: [server] max_batch_bytes"},
	    {"[server]\nmax_batch_bytes = 16777217\n", "test:2: [server] max_batch_bytes"},
	    {"[server]\ntimeout = 0s\n", "test:2: [server] timeout"},
	    {"[server]\n", "[store] url is required"},
	    {"[store]\nurl = sqlite:/x\n", "[tls] cert, key and client_ca are required"},
	    {"[store]\nurl = sqlite:/x\n[tls]\ncert = a\nkey = b\nclient_ca = c\n"
	     "min_version = 1.1\n",
	     "[tls] min_version = '1.1'"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		struct ztmd_settings set;
		struct ztm_config *c =
		    ztm_config_parse(rows[i].text, strlen(rows[i].text), "test", &err);
		assert_non_null(c);
		memset(&err, 0, sizeof(err));
		if (ztmd_settings_read(c, &set, &err) == 0 || strstr(err.msg, rows[i].want) == NULL)
			fail_msg("row %zu: got '%s'", i, err.msg);
		ztm_config_free(c);
	}
}

/* How long a reservation may belong to a live request, per [server]
 * timeout: start-up recovery and a retry's abandon both use it. */
static void test_reservation_lifetime(void **state)
{
	static const struct {
		unsigned timeout;
		int64_t want;
	} rows[] = {
	    {1, ZTMD_RECONCILE_SECONDS + 60},   /* the reconciliation hold rules */
	    {30, ZTMD_RECONCILE_SECONDS + 60},  /* the default timeout */
	    {300, ZTMD_RECONCILE_SECONDS + 60}, /* two timeouts = the hold */
	    {301, 2 * 301 + 60},
	    {3600, 2 * 3600 + 60}, /* the longest timeout allowed */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (ztmd_reservation_lifetime(rows[i].timeout) != rows[i].want)
			fail_msg("timeout %u: got %lld, want %lld", rows[i].timeout,
			         (long long)ztmd_reservation_lifetime(rows[i].timeout),
			         (long long)rows[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_settings_refusals),
	    cmocka_unit_test(test_reservation_lifetime),
	    cmocka_unit_test(test_worker_in_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
