/* bench_ocsp.c - OCSP responses per second over HTTP/1.1 keep-alive, for
 * ztmd and its peers alike (bench/ocsp.sh runs them side by side).
 *
 *   bench_ocsp --url http[s]://HOST:PORT/PATH --req REQ.der [--get]
 *              [--conns N] [--seconds S] [--cafile F]
 *   bench_ocsp --parse N --req REQ.der
 *
 * The second form times ztm_ocsp_req_parse alone (N parses, one thread):
 * the reader every /ocsp request goes through.
 *
 * Each of N threads holds one connection and sends the same request again
 * as soon as the previous answer is in (closed loop). POST sends the DER
 * with Content-Type application/ocsp-request; --get sends GET PATH/<base64,
 * percent-encoded>. A connection the server closes is reopened and counted.
 * Every answer must be HTTP 200 with a successful OCSPResponse (status
 * octet 0), else the run fails: a fast error is not a response. Prints
 * responses/s, the number of reconnects and the mean answer size. */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ztm/buf.h"
#include "ztm/file.h"
#include "ztm/ocsp.h"
#include "ztm/str.h"

#define MAX_CONNS 256

__attribute__((noreturn)) static void die(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char ossl[160] = "";

	if (e != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	fprintf(stderr, "bench_ocsp: %s %s\n", what, ossl);
	exit(1);
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr, "usage: bench_ocsp --url http[s]://HOST:PORT/PATH --req REQ.der [--get]\n"
	                "         [--conns N] [--seconds S] [--cafile F]\n"
	                "       bench_ocsp --parse N --req REQ.der\n");
	exit(2);
}

static struct {
	int tls;
	char host[256], port[8], path[256];
	SSL_CTX *ctx;
	struct ztm_buf http; /* the whole request, headers and body */
	double deadline;
} g;

static atomic_ulong n_ok, n_reconnect, n_bytes;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
	int fd;
	SSL *ssl;
};

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static void conn_open(struct conn *c)
{
	struct addrinfo hints, *ai = NULL;
	struct timeval tmo = {2, 0};
	int one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(g.host, g.port, &hints, &ai) != 0 || ai == NULL)
		die("resolve");
	c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0)
		die("connect");
	/* The request goes out in one write; no reason to let Nagle hold it.
	 * A server that stops answering a connection (the openssl responder
	 * now and then) costs that connection 2 s, counted, not the run. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	freeaddrinfo(ai);
	if (g.tls) {
		c->ssl = SSL_new(g.ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
		    SSL_set1_host(c->ssl, g.host) != 1 || SSL_connect(c->ssl) != 1)
			die("TLS handshake");
	}
}

static int io_write(struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->ssl != NULL ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t io_read(struct conn *c, uint8_t *p, size_t n)
{
	return c->ssl != NULL ? SSL_read(c->ssl, p, (int)n) : read(c->fd, p, n);
}

/* The value after "\r\n<name>" (name lower-case, with its colon) before end. */
static char *header(char *p, const char *end, const char *name)
{
	size_t n = strlen(name), i;

	for (; (p = strstr(p, "\r\n")) != NULL && p < end; p += 2) {
		for (i = 0; i < n; i++)
			if (tolower((unsigned char)p[2 + i]) != name[i])
				break;
		if (i == n)
			return p + 2 + n;
	}
	return NULL;
}

/* One answer: headers, then Content-Length bytes. 0 ok, 1 closed, -1 bad. */
static int read_answer(struct conn *c, uint8_t *buf, size_t cap)
{
	size_t have = 0, body_at = 0, need = 0;
	char *end, *cl;
	long len;

	for (;;) {
		ssize_t r = io_read(c, buf + have, cap - 1 - have);
		if (r <= 0)
			return have == 0 ? 1 : -1;
		have += (size_t)r;
		buf[have] = 0;
		if (body_at == 0 && (end = strstr((char *)buf, "\r\n\r\n")) != NULL) {
			body_at = (size_t)(end - (char *)buf) + 4;
			if (strncmp((char *)buf, "HTTP/1.1 200", 12) != 0 &&
			    strncmp((char *)buf, "HTTP/1.0 200", 12) != 0)
				return -1;
			cl = header((char *)buf, end, "content-length:");
			if (cl == NULL)
				return -1;
			len = strtol(cl, NULL, 10);
			if (len <= 0 || (size_t)len > cap / 2)
				return -1;
			need = body_at + (size_t)len;
		}
		if (body_at != 0 && have >= need) {
			/* OCSPResponse: SEQUENCE, then ENUMERATED successful (0). */
			const uint8_t *b = buf + body_at;
			size_t off = (b[1] & 0x80) ? 2 + (b[1] & 0x7f) : 2;
			if (b[0] != 0x30 || need - body_at < off + 3 || b[off] != 0x0a ||
			    b[off + 1] != 1 || b[off + 2] != 0)
				return -1;
			atomic_fetch_add(&n_bytes, need - body_at);
			return have == need ? 0 : -1; /* no pipelining: nothing extra */
		}
		if (have + 1 >= cap)
			return -1;
	}
}

static void *worker(void *arg)
{
	static uint8_t dummy;
	uint8_t *buf = malloc(65536);
	struct conn c = {-1, NULL};

	(void)arg;
	if (buf == NULL)
		die("memory");
	conn_open(&c);
	while (now_s() < g.deadline) {
		int rc;
		if (io_write(&c, g.http.data, g.http.len) != 0) {
			rc = 1;
		} else {
			rc = read_answer(&c, buf, 65536);
		}
		if (rc < 0) {
			buf[200] = 0;
			fprintf(stderr, "bench_ocsp: bad answer: %.200s\n", (char *)buf);
			exit(1);
		}
		if (rc == 1) {
			/* The server closed (no keep-alive, or it timed out). */
			conn_close(&c);
			conn_open(&c);
			atomic_fetch_add(&n_reconnect, 1);
			continue;
		}
		atomic_fetch_add(&n_ok, 1);
		/* An answer with Connection: close is followed by EOF. */
	}
	(void)dummy;
	conn_close(&c);
	free(buf);
	return NULL;
}

static void parse_url(const char *url)
{
	const char *p, *slash, *colon;

	if (strncmp(url, "https://", 8) == 0) {
		g.tls = 1;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		usage();
	}
	slash = strchr(p, '/');
	colon = strchr(p, ':');
	if (slash == NULL || colon == NULL || colon > slash)
		usage();
	snprintf(g.host, sizeof(g.host), "%.*s", (int)(colon - p), p);
	snprintf(g.port, sizeof(g.port), "%.*s", (int)(slash - colon - 1), colon + 1);
	snprintf(g.path, sizeof(g.path), "%s", slash);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},     {"req", required_argument, NULL, 'r'},
	    {"get", no_argument, NULL, 'g'},           {"conns", required_argument, NULL, 'c'},
	    {"seconds", required_argument, NULL, 's'}, {"cafile", required_argument, NULL, 'a'},
	    {"parse", required_argument, NULL, 'p'},   {NULL, 0, NULL, 0},
	};
	const char *url = NULL, *req = NULL, *cafile = NULL;
	uint64_t conns = 8, seconds = 10, parse = 0;
	int get = 0, ch;
	struct ztm_buf der, b64;
	struct ztm_error err;
	pthread_t th[MAX_CONNS];
	double t0, t1;
	size_t i;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'r':
			req = optarg;
			break;
		case 'g':
			get = 1;
			break;
		case 'c':
			if (ztm_parse_u64(optarg, 1, MAX_CONNS, &conns) != 0)
				usage();
			break;
		case 's':
			if (ztm_parse_u64(optarg, 1, 3600, &seconds) != 0)
				usage();
			break;
		case 'a':
			cafile = optarg;
			break;
		case 'p':
			if (ztm_parse_u64(optarg, 1, 1000000000, &parse) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (req == NULL || optind != argc || (url == NULL && parse == 0))
		usage();
	ztm_buf_init(&der, 65536);
	if (parse > 0) {
		struct ztm_ocsp_req r;
		uint64_t k;
		if (ztm_file_read(req, 65536, &der, &err) != 0)
			die(err.msg);
		t0 = now_s();
		for (k = 0; k < parse; k++)
			if (ztm_ocsp_req_parse(der.data, der.len, &r, &err) != 0)
				die(err.msg);
		t1 = now_s();
		printf("parses=%llu ns_per_parse=%.0f\n", (unsigned long long)parse,
		       (t1 - t0) * 1e9 / (double)parse);
		ztm_buf_free(&der);
		return 0;
	}
	parse_url(url);
	ztm_buf_init(&b64, 0);
	ztm_buf_init(&g.http, 0);
	if (ztm_file_read(req, 65536, &der, &err) != 0)
		die(err.msg);
	if (get) {
		const char *s;
		if (ztm_b64_encode(der.data, der.len, 0, &b64) != 0)
			die("base64");
		ztm_buf_printf(&g.http, "GET %s%s", g.path,
		               g.path[strlen(g.path) - 1] == '/' ? "" : "/");
		for (s = ztm_buf_cstr(&b64); *s != '\0'; s++) {
			if (*s == '+' || *s == '/' || *s == '=')
				ztm_buf_printf(&g.http, "%%%02X", (unsigned)*s);
			else
				ztm_buf_append(&g.http, s, 1);
		}
		ztm_buf_printf(&g.http, " HTTP/1.1\r\nHost: %s\r\n\r\n", g.host);
	} else {
		ztm_buf_printf(
		    &g.http,
		    "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/ocsp-request\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    g.path, g.host, der.len);
		ztm_buf_append(&g.http, der.data, der.len);
	}
	if (g.tls) {
		g.ctx = SSL_CTX_new(TLS_client_method());
		if (g.ctx == NULL || cafile == NULL ||
		    SSL_CTX_load_verify_locations(g.ctx, cafile, NULL) != 1)
			die("TLS context (--cafile is required for https)");
		SSL_CTX_set_verify(g.ctx, SSL_VERIFY_PEER, NULL);
	}
	t0 = now_s();
	g.deadline = t0 + (double)seconds;
	for (i = 0; i < conns; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			die("thread");
	for (i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	printf("responses=%lu seconds=%.2f per_second=%.0f reconnects=%lu mean_bytes=%.0f\n",
	       (unsigned long)n_ok, t1 - t0, (double)n_ok / (t1 - t0), (unsigned long)n_reconnect,
	       n_ok ? (double)n_bytes / (double)n_ok : 0.0);
	ztm_buf_free(&der);
	ztm_buf_free(&b64);
	ztm_buf_free(&g.http);
	SSL_CTX_free(g.ctx);
	return n_ok > 0 ? 0 : 1;
}
