/* bench_register.c - end-to-end device registrations against a running ztmd
 * (bench/register.sh, docs/benchmarks.md "Registration").
 *
 *   bench_register --connect HOST:PORT --cacert chain.pem --devices FILE
 *                  --server-pid PID [--concurrency 32] [--seconds 15]
 *                  [--load 0.7] [--rate R] [--warmup 300] [--no-verify]
 *                  [--skip N] [--devices-max N]
 *                  [--cfssl --client-cert PEM --client-key PEM] [--db-pid PID]
 *
 * Each registration is what a device does: a NEW TCP connection, a full
 * TLS 1.3 handshake with its self-signed bootstrap certificate as client
 * certificate, EST simpleenroll (POST of its base64 CSR) and the whole reply
 * read; then the connection is closed. Keys, certificates, CSRs and the
 * request bytes are prepared before anything is timed (bench_seed made
 * them). Every device registers once; --skip N starts at the N+1st device
 * of the file (a second run against the same store), --devices-max N uses
 * (and prepares) at most N devices.
 *
 * Phases: a warm-up (not reported); "max", closed loop with --concurrency
 * registrations in flight for --seconds; "load", open loop for --seconds at
 * --load times the max rate (or at --rate R, which skips "max"): arrivals
 * are scheduled at fixed intervals and latency counts from the scheduled
 * time, so a stalled server cannot hide its queue (no coordinated
 * omission). Each phase also prints the percentiles of a registration's
 * steps: start lag (scheduled time to connect(): the load generator's own
 * delay), connect + TLS handshake (until the client's handshake is done),
 * request to reply (the EST request written, the server's work, the whole
 * reply read). Each step is sorted on its own: their p99s do not add up.
 *
 * Server CPU: utime + stime from /proc/<pid>/stat of ztmd's master and its
 * children (the workers), read before and after each phase. The client runs
 * on the same cores, so the registrations/s of a phase are those of the
 * machine shared by both; 1 / (server CPU seconds per registration) is the
 * server's rate per core.
 *
 * --connect and --server-pid may be given up to MAX_TARGETS times (several
 * ztmd nodes on one database): registrations go to the targets in turn
 * (device i to target i mod n) and the server CPU is that of every pid given
 * and their children.
 *
 * --db-pid PID (PostgreSQL's postmaster): that process and its children
 * (the backends) are accounted apart, as "database CPU"; the figure is left
 * out when one of them exits during the phase.
 *
 * --cfssl: the same load against `cfssl serve` with mutual TLS (the peer of
 * bench/suite.sh): each request is a new TCP connection and a full TLS 1.3
 * handshake with --client-cert (one credential for every connection: cfssl
 * checks client certificates against a CA, it has no notion of a device's
 * self-signed bootstrap certificate), then POST /api/v1/cfssl/sign with the
 * device's CSR as PEM in {"certificate_request": ...}; a success is HTTP 200
 * with "success":true in the body. cfssl keeps no state, so when the devices
 * run out they are used again from the first. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h> /* NAN */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proccpu.h"
#include "regbench.h"
#include "ztm/str.h"

#define RESPONSE_MAX 32768
#define INFLIGHT_MAX 4096 /* open loop: connections in flight at most */
#define DRAIN_S      30   /* a phase waits this long for its last replies */
#define MAX_TARGETS  8    /* --connect and --server-pid, each */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_register: %s%s%s\n", what, why != NULL ? ": " : "",
	        why != NULL ? why : "");
	exit(1);
}

/* --- prepared devices ---------------------------------------------------- */

struct dev {
	X509 *cert;
	EVP_PKEY *key;
	struct ztm_buf req; /* the whole HTTP request */
};

/* cfssl's sign request: {"certificate_request": "<the CSR as PEM>"}, the
 * PEM's line ends written as \n inside the JSON string. */
static int cfssl_request(const struct regbench_dev *e, struct ztm_buf *b64, const char *host,
                         struct ztm_buf *req)
{
	static const char head[] =
	    "{\"certificate_request\":\"-----BEGIN CERTIFICATE REQUEST-----\\n";
	static const char tail[] = "-----END CERTIFICATE REQUEST-----\\n\"}";
	struct ztm_buf body;
	size_t i;
	int rc = -1;

	ztm_buf_init(&body, 0);
	ztm_buf_reset(b64);
	if (ztm_b64_encode(e->csr.p, e->csr.len, 64, b64) != 0 ||
	    ztm_buf_append(&body, head, sizeof(head) - 1) != 0)
		goto out;
	for (i = 0; i < b64->len; i++) {
		if (b64->data[i] == '\n') {
			if (ztm_buf_append(&body, "\\n", 2) != 0)
				goto out;
		} else if (ztm_buf_append(&body, &b64->data[i], 1) != 0) {
			goto out;
		}
	}
	if ((b64->len > 0 && b64->data[b64->len - 1] != '\n' &&
	     ztm_buf_append(&body, "\\n", 2) != 0) ||
	    ztm_buf_append(&body, tail, sizeof(tail) - 1) != 0 ||
	    ztm_buf_printf(req,
	                   "POST /api/v1/cfssl/sign HTTP/1.1\r\n"
	                   "Host: %s\r\nContent-Type: application/json\r\n"
	                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                   host, body.len) != 0 ||
	    ztm_buf_append(req, body.data, body.len) != 0)
		goto out;
	rc = 0;
out:
	ztm_buf_free(&body);
	return rc;
}

/* Devices from..to-1 of the file (the others stay unprepared and unused).
 * cfssl: only the request (one client credential for all, in the context). */
static struct dev *prepare(const struct regbench_file *f, size_t from, size_t to, const char *host,
                           int cfssl)
{
	struct dev *d = calloc(f->n, sizeof(*d));
	struct ztm_buf b64;
	size_t i;

	if (d == NULL)
		die("prepare", "out of memory");
	ztm_buf_init(&b64, 0);
	for (i = from; i < to; i++) {
		const struct regbench_dev *e = &f->dev[i];
		const unsigned char *p = e->cert.p;

		if (cfssl) {
			ztm_buf_init(&d[i].req, 0);
			if (cfssl_request(e, &b64, host, &d[i].req) != 0)
				die("prepare", "cannot build a cfssl request");
			continue;
		}

		d[i].cert = d2i_X509(NULL, &p, (long)e->cert.len);
		p = e->key.p;
		d[i].key = d2i_AutoPrivateKey(NULL, &p, (long)e->key.len);
		ztm_buf_reset(&b64);
		ztm_buf_init(&d[i].req, 0);
		if (d[i].cert == NULL || d[i].key == NULL ||
		    ztm_b64_encode(e->csr.p, e->csr.len, 64, &b64) != 0 ||
		    ztm_buf_printf(&d[i].req,
		                   "POST /.well-known/est/device/simpleenroll HTTP/1.1\r\n"
		                   "Host: %s\r\nContent-Type: application/pkcs10\r\n"
		                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		                   host, b64.len) != 0 ||
		    ztm_buf_append(&d[i].req, b64.data, b64.len) != 0)
			die("prepare", "a device of the devices file does not decode");
	}
	ztm_buf_free(&b64);
	return d;
}

/* --- server CPU from /proc ------------------------------------------------ */

/* --- connections --------------------------------------------------------- */

enum conn_state { C_CONNECT, C_HANDSHAKE, C_WRITE, C_READ };

struct conn {
	int fd;
	SSL *ssl;
	enum conn_state st;
	size_t dev;
	double t0;               /* start: scheduled (open loop) or actual (closed loop) */
	double t_started, t_tls; /* connect() called; handshake done */
	size_t off, rlen;
	char rbuf[RESPONSE_MAX];
};

enum outcome { O_OK, O_HTTP_202, O_HTTP_4XX, O_HTTP_5XX, O_HTTP_OTHER, O_IO, O_TLS, O_COUNT };
static const char *const outcome_name[O_COUNT] = {"200", "202", "4xx", "5xx", "other", "io", "tls"};

/* Latency series, successes only, in seconds: the whole registration, then
 * its steps (each sorted on its own, so their percentiles do not add up). */
enum series { S_TOTAL, S_LAG, S_TLS, S_REQUEST, S_COUNT };

struct phase {
	const char *name;
	double *lat[S_COUNT];
	size_t n_lat, cap_lat;
	size_t count[O_COUNT];
	size_t started, done;
};

struct bench {
	int ep;
	SSL_CTX *ctx;
	struct sockaddr_storage addr[MAX_TARGETS];
	socklen_t addrlen[MAX_TARGETS];
	int naddr;
	long master[MAX_TARGETS];
	int nmaster;
	long db[MAX_TARGETS]; /* --db-pid: the database server, accounted apart */
	int ndb;
	int cfssl;
	struct dev *dev;
	size_t ndev, next_dev, first_dev;
	size_t wrapped; /* cfssl: times the devices were all used and started over */
	size_t inflight;
	int first_error_shown;
	struct phase *ph;
};

static void record(struct bench *b, struct conn *c, enum outcome o)
{
	struct phase *p = b->ph;

	p->count[o]++;
	p->done++;
	if (o == O_OK) {
		double t = now_s();
		int k;

		if (p->n_lat == p->cap_lat) {
			size_t ncap = p->cap_lat ? p->cap_lat * 2 : 4096;
			for (k = 0; k < S_COUNT; k++) {
				double *n = realloc(p->lat[k], ncap * sizeof(*n));
				if (n == NULL)
					die("latencies", "out of memory");
				p->lat[k] = n;
			}
			p->cap_lat = ncap;
		}
		p->lat[S_TOTAL][p->n_lat] = t - c->t0;
		p->lat[S_LAG][p->n_lat] = c->t_started - c->t0;
		p->lat[S_TLS][p->n_lat] = c->t_tls - c->t_started;
		p->lat[S_REQUEST][p->n_lat] = t - c->t_tls;
		p->n_lat++;
	} else if (!b->first_error_shown) {
		unsigned long e = ERR_peek_last_error();
		char why[200] = "";
		if (e != 0)
			ERR_error_string_n(e, why, sizeof(why));
		b->first_error_shown = 1;
		fprintf(stderr, "bench_register: first failure: device %zu: %s %s%.*s\n", c->dev,
		        outcome_name[o], why, (int)(c->rlen < 200 ? c->rlen : 200), c->rbuf);
	}
	ERR_clear_error();
}

static void conn_close(struct bench *b, struct conn *c)
{
	epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL) {
		if (c->st == C_READ)
			SSL_shutdown(c->ssl); /* close_notify, no wait for the peer's */
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
	b->inflight--;
}

static void conn_want(struct bench *b, struct conn *c, uint32_t events)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl", strerror(errno));
}

/* 1 when the whole reply is in rbuf (status in *status). */
static int reply_complete(struct conn *c, int *status)
{
	char *hdr_end, *cl;
	size_t hlen, clen;

	c->rbuf[c->rlen] = '\0';
	hdr_end = strstr(c->rbuf, "\r\n\r\n");
	if (hdr_end == NULL)
		return 0;
	hlen = (size_t)(hdr_end - c->rbuf) + 4;
	if (sscanf(c->rbuf, "HTTP/1.%*c %d", status) != 1)
		return -1;
	cl = strcasestr(c->rbuf, "\r\nContent-Length:");
	if (cl == NULL || cl > hdr_end)
		return -1;
	clen = strtoul(cl + 17, NULL, 10);
	return c->rlen >= hlen + clen ? 1 : 0;
}

/* Drives c as far as it goes; returns when it must wait or is done. */
static void conn_step(struct bench *b, struct conn *c)
{
	const struct ztm_buf *req = &b->dev[c->dev].req;
	int r, status = 0;

	for (;;) {
		switch (c->st) {
		case C_CONNECT: {
			int e = 0;
			socklen_t el = sizeof(e);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
				record(b, c, O_IO);
				conn_close(b, c);
				return;
			}
			c->st = C_HANDSHAKE;
			break;
		}
		case C_HANDSHAKE:
			r = SSL_do_handshake(c->ssl);
			if (r == 1) {
				c->t_tls = now_s();
				c->st = C_WRITE;
				break;
			}
			goto want;
		case C_WRITE:
			r = SSL_write(c->ssl, req->data + c->off, (int)(req->len - c->off));
			if (r > 0) {
				c->off += (size_t)r;
				if (c->off == req->len)
					c->st = C_READ;
				break;
			}
			goto want;
		case C_READ:
			if (c->rlen >= sizeof(c->rbuf) - 1) {
				record(b, c, O_HTTP_OTHER);
				conn_close(b, c);
				return;
			}
			r = SSL_read(c->ssl, c->rbuf + c->rlen,
			             (int)(sizeof(c->rbuf) - 1 - c->rlen));
			if (r > 0) {
				c->rlen += (size_t)r;
				r = reply_complete(c, &status);
				if (r == 0)
					break;
				if (r > 0 && status == 200 && b->cfssl &&
				    strstr(c->rbuf, "\"success\":true") == NULL)
					status = 0; /* 200 without a certificate */
				record(b, c,
				       r < 0               ? O_HTTP_OTHER
				       : status == 200     ? O_OK
				       : status == 202     ? O_HTTP_202
				       : status / 100 == 4 ? O_HTTP_4XX
				       : status / 100 == 5 ? O_HTTP_5XX
				                           : O_HTTP_OTHER);
				conn_close(b, c);
				return;
			}
			goto want;
		}
	}
want:
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		conn_want(b, c, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		conn_want(b, c, EPOLLOUT);
		return;
	default:
		record(b, c, c->st == C_HANDSHAKE ? O_TLS : O_IO);
		conn_close(b, c);
	}
}

/* Starts the next device's registration; 0 when the devices ran out. */
static int conn_start(struct bench *b, double t0)
{
	struct conn *c;
	struct epoll_event ev;
	struct dev *d;
	int one = 1, target;

	if (b->next_dev == b->ndev && b->cfssl) {
		/* cfssl keeps nothing: the same CSRs may be signed again. */
		b->next_dev = b->first_dev;
		b->wrapped++;
	}
	if (b->next_dev == b->ndev)
		return 0;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		die("connection", "out of memory");
	c->dev = b->next_dev++;
	d = &b->dev[c->dev];
	c->t0 = t0;
	c->t_started = now_s();
	b->inflight++;
	b->ph->started++;
	target = (int)(c->dev % (size_t)b->naddr);
	c->fd = socket(b->addr[target].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(b->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    (!b->cfssl && (SSL_use_certificate(c->ssl, d->cert) != 1 ||
	                   SSL_use_PrivateKey(c->ssl, d->key) != 1)))
		die("SSL_new", "cannot set the device's credential");
	SSL_set_connect_state(c->ssl);
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&b->addr[target], b->addrlen[target]) != 0 &&
	    errno != EINPROGRESS) {
		record(b, c, O_IO);
		conn_close(b, c);
		return 1;
	}
	return 1;
}

static void poll_once(struct bench *b, double timeout_s)
{
	struct epoll_event ev[256];
	struct timespec ts;
	int n, i;

	if (timeout_s < 0)
		timeout_s = 0;
	ts.tv_sec = (time_t)timeout_s;
	ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
	n = epoll_pwait2(b->ep, ev, 256, &ts, NULL);
	if (n < 0 && errno != EINTR)
		die("epoll_pwait2", strerror(errno));
	for (i = 0; i < n; i++)
		conn_step(b, ev[i].data.ptr);
}

/* --- phases -------------------------------------------------------------- */

struct result {
	double wall, server_cpu, client_cpu, db_cpu;
	int cpu_ok, db_ok, ran_out;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Series k's q-quantile (sorted by run_phase). */
static double pct(const struct phase *p, enum series k, double q)
{
	size_t i;

	if (p->n_lat == 0)
		return NAN;
	i = (size_t)(q * (double)p->n_lat);
	if ((double)i < q * (double)p->n_lat)
		i++; /* the smallest i with i / n >= q */
	return p->lat[k][i > 0 ? i - 1 : 0];
}

/* rate == 0: closed loop with `conc` in flight; else open loop at rate/s. */
static void run_phase(struct bench *b, struct phase *p, size_t conc, double rate, double secs,
                      size_t max_count, struct result *res)
{
	struct proccpu cpu0, cpu1, db0, db1;
	double t0, end, c0, next = 0;
	size_t arrivals = 0;
	int k;

	memset(res, 0, sizeof(*res));
	b->ph = p;
	if (proccpu_find(b->master, b->nmaster, &cpu0) != 0)
		die("/proc", strerror(errno));
	cpu1 = cpu0;
	res->cpu_ok = proccpu_read(&cpu0) == 0;
	if (b->ndb > 0) {
		if (proccpu_find(b->db, b->ndb, &db0) != 0)
			die("/proc", strerror(errno));
		db1 = db0;
		res->db_ok = proccpu_read(&db0) == 0;
	}
	c0 = proccpu_self();
	t0 = now_s();
	end = t0 + secs;
	for (;;) {
		double t = now_s();
		int more = t < end && p->started < max_count;

		if (more && rate == 0) {
			while (b->inflight < conc && p->started < max_count)
				if (!conn_start(b, t)) {
					res->ran_out = 1;
					break;
				}
		} else if (more) {
			next = t0 + (double)arrivals / rate;
			while (next <= t && b->inflight < INFLIGHT_MAX) {
				if (!conn_start(b, next)) {
					res->ran_out = 1;
					break;
				}
				arrivals++;
				next = t0 + (double)arrivals / rate;
			}
		}
		if (res->ran_out)
			end = t; /* no more devices: finish what is in flight */
		if (b->inflight == 0 && (t >= end || p->started >= max_count))
			break;
		if (t > end + DRAIN_S) {
			fprintf(stderr,
			        "bench_register: %zu registrations still in flight after "
			        "%d s\n",
			        b->inflight, DRAIN_S);
			break;
		}
		if (rate > 0 && more)
			poll_once(b, next - now_s());
		else
			poll_once(b, 0.05);
	}
	res->wall = now_s() - t0;
	res->client_cpu = proccpu_self() - c0;
	if (res->cpu_ok && proccpu_read(&cpu1) == 0)
		res->server_cpu = cpu1.secs - cpu0.secs;
	else
		res->cpu_ok = 0;
	if (res->db_ok && proccpu_read(&db1) == 0)
		res->db_cpu = db1.secs - db0.secs;
	else
		res->db_ok = 0;
	for (k = 0; k < S_COUNT; k++)
		if (p->n_lat > 0)
			qsort(p->lat[k], p->n_lat, sizeof(double), cmp_double);
}

static void report(const struct phase *p, const struct result *r, const char *how)
{
	size_t ok = p->count[O_OK], i;

	printf("phase %s (%s): %zu registered in %.2f s", p->name, how, ok, r->wall);
	for (i = 1; i < O_COUNT; i++)
		if (p->count[i] != 0)
			printf(", %zu %s", p->count[i], outcome_name[i]);
	printf("%s\n", r->ran_out ? " (the devices file ran out)" : "");
	if (ok == 0)
		return;
	printf("  registrations/s    %8.1f (client and server on the same cores)\n",
	       (double)ok / r->wall);
	printf("  latency            p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
	       pct(p, S_TOTAL, 0.50) * 1e3, pct(p, S_TOTAL, 0.99) * 1e3,
	       pct(p, S_TOTAL, 0.999) * 1e3, p->lat[S_TOTAL][p->n_lat - 1] * 1e3);
	printf("  by step, p50/p99   start lag %.2f/%.2f ms, connect + TLS handshake %.2f/%.2f ms, "
	       "request to reply %.2f/%.2f ms\n",
	       pct(p, S_LAG, 0.50) * 1e3, pct(p, S_LAG, 0.99) * 1e3, pct(p, S_TLS, 0.50) * 1e3,
	       pct(p, S_TLS, 0.99) * 1e3, pct(p, S_REQUEST, 0.50) * 1e3,
	       pct(p, S_REQUEST, 0.99) * 1e3);
	if (r->cpu_ok && r->server_cpu > 0)
		printf("  server CPU         %8.3f ms per registration -> %.0f registrations/s "
		       "per server core\n",
		       r->server_cpu * 1e3 / (double)ok, (double)ok / r->server_cpu);
	else
		printf("  server CPU         unknown (a ztmd process went away)\n");
	printf("  client CPU         %8.3f ms per registration\n",
	       r->client_cpu * 1e3 / (double)ok);
	if (r->db_ok)
		printf("  database CPU       %8.3f ms per registration\n",
		       r->db_cpu * 1e3 / (double)ok);
	fflush(stdout);
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_register --connect HOST:PORT --cacert FILE --devices FILE\n"
	        "                      --server-pid PID [--concurrency N] [--seconds S]\n"
	        "                      [--load F] [--rate R] [--warmup N] [--no-verify]\n"
	        "                      [--skip N] [--devices-max N]\n"
	        "                      [--cfssl --client-cert PEM --client-key PEM]\n"
	        "                      [--db-pid PID]\n"
	        "       (--connect and --server-pid: up to %d each)\n",
	        MAX_TARGETS);
	exit(2);
}

/* Adds a target; host receives its host part. */
static void resolve(const char *hostport, struct bench *b, char *host, size_t hn)
{
	struct addrinfo hints, *ai;
	const char *colon = strrchr(hostport, ':');

	if (colon == NULL || (size_t)(colon - hostport) >= hn)
		usage();
	snprintf(host, hn, "%.*s", (int)(colon - hostport), hostport);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		die(hostport, "cannot resolve");
	if (b->naddr == MAX_TARGETS)
		usage();
	memcpy(&b->addr[b->naddr], ai->ai_addr, ai->ai_addrlen);
	b->addrlen[b->naddr++] = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static SSL_CTX *client_ctx(const char *cacert, int verify, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1)
		die(cacert, "cannot load the CA certificates");
	if (cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	                     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	                     SSL_CTX_check_private_key(ctx) != 1))
		die(cert, "cannot load the client credential");
	/* A device verifies the server; --no-verify saves client CPU only. */
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	/* Every registration is a new device: nothing to resume. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"cacert", required_argument, NULL, 'a'},
	    {"devices", required_argument, NULL, 'd'},
	    {"server-pid", required_argument, NULL, 'p'},
	    {"concurrency", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 's'},
	    {"load", required_argument, NULL, 'l'},
	    {"rate", required_argument, NULL, 'r'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"no-verify", no_argument, NULL, 'V'},
	    {"skip", required_argument, NULL, 'k'},
	    {"devices-max", required_argument, NULL, 'm'},
	    {"cfssl", no_argument, NULL, 'C'},
	    {"client-cert", required_argument, NULL, 'E'},
	    {"client-key", required_argument, NULL, 'K'},
	    {"db-pid", required_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0},
	};
	const char *connect_to[MAX_TARGETS], *cacert = NULL, *devices = NULL, *ccert = NULL,
	                                     *ckey = NULL;
	uint64_t limit = 0, skip = 0, master = 0, conc = 32, secs = 15, warm = 300, rate_arg = 0,
	         load_pct = 70;
	int nconnect = 0, i;
	struct regbench_file file;
	struct phase warmup, pmax, pload;
	struct result r;
	struct bench b;
	struct ztm_error err;
	char host[256], how[160];
	double rate, t;
	int c, verify = 1;

	memset(&b, 0, sizeof(b));
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (nconnect == MAX_TARGETS)
				usage();
			connect_to[nconnect++] = optarg;
			break;
		case 'a':
			cacert = optarg;
			break;
		case 'd':
			devices = optarg;
			break;
		case 'p':
			if (b.nmaster == MAX_TARGETS ||
			    ztm_parse_u64(optarg, 1, 1u << 30, &master) != 0)
				usage();
			b.master[b.nmaster++] = (long)master;
			break;
		case 'n':
			if (ztm_parse_u64(optarg, 1, INFLIGHT_MAX, &conc) != 0)
				usage();
			break;
		case 's':
			if (ztm_parse_u64(optarg, 1, 3600, &secs) != 0)
				usage();
			break;
		case 'l': /* a fraction: 0.7 -> 70 % */
			t = strtod(optarg, NULL);
			if (!(t > 0 && t <= 1.5))
				usage();
			load_pct = (uint64_t)(t * 100 + 0.5);
			break;
		case 'r':
			if (ztm_parse_u64(optarg, 1, 1000000, &rate_arg) != 0)
				usage();
			break;
		case 'w':
			if (ztm_parse_u64(optarg, 0, 100000, &warm) != 0)
				usage();
			break;
		case 'V':
			verify = 0;
			break;
		case 'k':
			if (ztm_parse_u64(optarg, 0, UINT32_MAX, &skip) != 0)
				usage();
			break;
		case 'm':
			if (ztm_parse_u64(optarg, 1, UINT32_MAX, &limit) != 0)
				usage();
			break;
		case 'C':
			b.cfssl = 1;
			break;
		case 'E':
			ccert = optarg;
			break;
		case 'K':
			ckey = optarg;
			break;
		case 'D':
			if (b.ndb == MAX_TARGETS ||
			    ztm_parse_u64(optarg, 1, 1u << 30, &master) != 0)
				usage();
			b.db[b.ndb++] = (long)master;
			break;
		default:
			usage();
		}
	}
	if (nconnect == 0 || cacert == NULL || devices == NULL || b.nmaster == 0 ||
	    optind != argc || b.cfssl != (ccert != NULL) || (ccert == NULL) != (ckey == NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	memset(&warmup, 0, sizeof(warmup));
	memset(&pmax, 0, sizeof(pmax));
	memset(&pload, 0, sizeof(pload));
	warmup.name = "warmup";
	pmax.name = "max";
	pload.name = "load";
	for (i = 0; i < nconnect; i++)
		resolve(connect_to[i], &b, host, sizeof(host));
	b.ctx = client_ctx(cacert, verify, ccert, ckey);
	if (regbench_read(devices, &file, &err) != 0)
		die(devices, err.msg);
	if (skip >= file.n)
		die("--skip", "that skips every device");
	b.ndev = limit != 0 && limit < file.n - skip ? (size_t)(skip + limit) : file.n;
	b.next_dev = b.first_dev = (size_t)skip;
	t = now_s();
	b.dev = prepare(&file, b.next_dev, b.ndev, host, b.cfssl);
	printf("prepared %zu devices in %.1f s (not timed)\n", b.ndev - b.next_dev, now_s() - t);
	b.ep = epoll_create1(EPOLL_CLOEXEC);
	if (b.ep < 0)
		die("epoll_create1", strerror(errno));

	if (warm > 0) {
		run_phase(&b, &warmup, (size_t)conc, 0, 3600, (size_t)warm, &r);
		snprintf(how, sizeof(how), "closed loop, %llu registrations, not reported below",
		         (unsigned long long)warm);
		printf("phase warmup (%s): %zu registered in %.2f s\n", how, warmup.count[O_OK],
		       r.wall);
		if (warmup.count[O_OK] == 0)
			die("warm-up", "no registration succeeded");
	}
	rate = (double)rate_arg;
	if (rate_arg == 0) {
		run_phase(&b, &pmax, (size_t)conc, 0, (double)secs, SIZE_MAX, &r);
		snprintf(how, sizeof(how), "closed loop, %llu in flight, %llu s",
		         (unsigned long long)conc, (unsigned long long)secs);
		report(&pmax, &r, how);
		if (pmax.count[O_OK] == 0)
			return 1;
		rate = (double)pmax.count[O_OK] / r.wall * (double)load_pct / 100.0;
		snprintf(how, sizeof(how), "open loop at %.0f/s = %llu%% of max, %llu s", rate,
		         (unsigned long long)load_pct, (unsigned long long)secs);
	} else {
		snprintf(how, sizeof(how), "open loop at %.0f/s, %llu s", rate,
		         (unsigned long long)secs);
	}
	run_phase(&b, &pload, 0, rate, (double)secs, SIZE_MAX, &r);
	report(&pload, &r, how);
	if (b.wrapped > 0)
		printf("devices used: all %zu, %zu times over (cfssl signs the same CSRs again)\n",
		       b.ndev - b.first_dev, b.wrapped);
	else
		printf("devices used: %zu of %zu (next run: --skip %zu)\n",
		       b.next_dev - (size_t)skip, file.n, b.next_dev);
	return pmax.count[O_OK] + pload.count[O_OK] > 0 ? 0 : 1;
}
