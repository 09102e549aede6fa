/* bench_ingest.c - station record ingest, end to end against a real ztmd.
 * Driven by bench/ingest.sh (which sets up the ceremony, ztmd, the station
 * and the work order, seeds the store, and measures ztmd's CPU):
 *
 *   bench_ingest gen  STATION.crt KEY-URI PASS-FILE PRODUCT ORDER N PER-BATCH OUTDIR
 *       N devices (P-256 key, self-signed bootstrap certificate), recorded and
 *       signed as batches of PER-BATCH records: OUTDIR/batch-NNNNN.cms. Not
 *       timed; two processes share the work.
 *   bench_ingest post HOST PORT CA.pem STATION.crt KEY-URI PASS-FILE CONNS FILE...
 *       POSTs every FILE to /api/v1/records over CONNS mutual-TLS keep-alive
 *       connections (one thread each, files taken in turn), checks each reply
 *       is 201, and prints records/s and batches/s over the wall time from the
 *       first request to the last reply (connections are opened before).
 *
 * Figures go to docs/benchmarks.md ("Record ingest").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztm/batch.h"
#include "ztm/certfile.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/str.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_ingest: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static EVP_PKEY *load_key(const char *uri, const char *pass_file)
{
	struct ztm_key_opts o;
	struct ztm_buf pass;
	struct ztm_error err;
	EVP_PKEY *k;

	memset(&o, 0, sizeof(o));
	ztm_buf_init(&pass, 4096);
	if (ztm_secret_read(pass_file, &pass, &err) != 0)
		die(err.msg);
	o.pass = (const char *)pass.data;
	k = ztm_key_load(uri, &o, &err);
	ztm_buf_free(&pass);
	if (k == NULL)
		die(err.msg);
	return k;
}

/* --- gen ------------------------------------------------------------------ */
/* One device: a fresh P-256 key and its self-signed bootstrap certificate
 * with subject serialNumber = serial, as libztmdev makes it. */
static void make_device(struct ztm_record *r, const char *serial, const char *product,
                        const char *order, long i)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *p;
	int len;

	if (k == NULL || x == NULL || n == NULL)
		die("key or certificate");
	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"device", -1,
	                               -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_serialNumber, V_ASN1_PRINTABLESTRING,
	                               (const unsigned char *)serial, -1, -1, 0) != 1 ||
	    X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
	    X509_set_pubkey(x, k) != 1 || X509_sign(x, k, EVP_sha256()) <= 0)
		die("bootstrap certificate");
	memset(r, 0, sizeof(*r));
	len = i2d_X509(x, NULL);
	if (len <= 0 || len > ZTM_RECORD_MAX_CERT)
		die("certificate size");
	p = r->cert;
	i2d_X509(x, &p);
	r->cert_len = (size_t)len;
	ztm_strlcpy(r->serial, serial, sizeof(r->serial));
	ztm_strlcpy(r->product, product, sizeof(r->product));
	ztm_strlcpy(r->order, order, sizeof(r->order));
	ztm_strlcpy(r->hw_rev, "B1", sizeof(r->hw_rev));
	snprintf(r->mac, sizeof(r->mac), "02:%02lx:%02lx:%02lx:%02lx:%02lx", (i >> 32) & 0xff,
	         (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	ztm_strlcpy(r->fw_version, "1.4.2", sizeof(r->fw_version));
	memset(r->fw_sha256, 'a', 64);
	r->fw_sha256[64] = '\0';
	r->test_result = ZTM_TEST_PASS;
	r->key_origin = ZTM_KEY_ORIGIN_DEVICE;
	r->recorded_at = (int64_t)time(NULL);
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void gen_batches(char **argv, long first_batch, long step, long batches, long per)
{
	X509 *cert;
	EVP_PKEY *key = load_key(argv[3], argv[4]);
	struct ztm_record *recs = calloc((size_t)per, sizeof(*recs));
	struct ztm_error err;
	struct ztm_buf der;
	char serial[64], path[4200];
	long b, j;

	cert = ztm_cert_load_pem(argv[2], &err);
	if (cert == NULL || recs == NULL)
		die(cert == NULL ? err.msg : "memory");
	for (b = first_batch; b < batches; b += step) {
		for (j = 0; j < per; j++) {
			long i = b * per + j;
			snprintf(serial, sizeof(serial), "BENCH-%08ld", i);
			make_device(&recs[j], serial, argv[5], argv[6], i);
		}
		ztm_buf_init(&der, ZTM_BATCH_MAX_DER);
		if (ztm_batch_sign(recs, (size_t)per, (int64_t)time(NULL), cert, key, &der, NULL,
		                   &err) != 0)
			die(err.msg);
		snprintf(path, sizeof(path), "%s/batch-%05ld.cms", argv[9], b);
		if (ztm_file_write(path, der.data, der.len, 0600, 0, &err) != 0)
			die(err.msg);
		ztm_buf_free(&der);
	}
	free(recs);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static int cmd_gen(int argc, char **argv)
{
	long n, per, batches, p;
	pid_t kids[2];
	int st, failed = 0;

	if (argc != 10)
		return 2;
	n = strtol(argv[7], NULL, 10);
	per = strtol(argv[8], NULL, 10);
	if (n < 1 || per < 1 || per > ZTM_BATCH_MAX_RECORDS || n % per != 0)
		die("N must be a multiple of PER-BATCH (1..10000)");
	batches = n / per;
	for (p = 0; p < 2; p++) {
		kids[p] = fork();
		if (kids[p] < 0)
			die("fork");
		if (kids[p] == 0) {
			gen_batches(argv, p, 2, batches, per);
			_exit(0);
		}
	}
	for (p = 0; p < 2; p++)
		if (waitpid(kids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	if (failed)
		die("a generator process failed");
	printf("generated %ld records in %ld batches of %ld\n", n, batches, per);
	return 0;
}

/* --- post ----------------------------------------------------------------- */
struct conn {
	SSL *ssl;
	int fd;
	char **files;
	size_t nfiles, first, step;
	size_t records, batches;
	int failed;
	char why[256];
};

static SSL_CTX *client_ctx(char **argv)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509 *cert;
	EVP_PKEY *key = load_key(argv[6], argv[7]);
	struct ztm_error err;

	cert = ztm_cert_load_pem(argv[5], &err);
	if (ctx == NULL || cert == NULL || SSL_CTX_load_verify_locations(ctx, argv[4], NULL) != 1 ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		die("TLS client context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ctx;
}

static void conn_open(struct conn *c, SSL_CTX *ctx, const char *host, int port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("HOST must be an IPv4 address");
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
		die("TLS handshake");
}

static int write_all(SSL *ssl, const void *p, size_t n)
{
	const char *q = p;

	while (n > 0) {
		int w = SSL_write(ssl, q, n > (1 << 30) ? (1 << 30) : (int)n);
		if (w <= 0)
			return -1;
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One response: status and body (Content-Length framing only). */
static int read_reply(struct conn *c, int *status, char *body, size_t bodysize)
{
	char head[8192];
	size_t got = 0, blen, have;
	char *end, *cl;
	int n;

	for (;;) {
		if (got + 1 >= sizeof(head))
			return -1;
		n = SSL_read(c->ssl, head + got, (int)(sizeof(head) - 1 - got));
		if (n <= 0)
			return -1;
		got += (size_t)n;
		head[got] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end != NULL)
			break;
	}
	if (sscanf(head, "HTTP/1.1 %d", status) != 1)
		return -1;
	cl = strstr(head, "\r\nContent-Length:");
	if (cl == NULL || cl > end)
		return -1;
	blen = (size_t)strtoul(cl + 17, NULL, 10);
	if (blen + 1 > bodysize)
		return -1;
	have = got - (size_t)(end + 4 - head);
	memcpy(body, end + 4, have);
	while (have < blen) {
		n = SSL_read(c->ssl, body + have, (int)(blen - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	body[blen] = '\0';
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct ztm_buf der;
	struct ztm_error err;
	char head[256], body[4096];
	const char *acc;
	size_t i;
	int status, hl;

	for (i = c->first; i < c->nfiles && !c->failed; i += c->step) {
		ztm_buf_init(&der, ZTM_BATCH_MAX_DER);
		if (ztm_file_read(c->files[i], ZTM_BATCH_MAX_DER, &der, &err) != 0) {
			snprintf(c->why, sizeof(c->why), "%.200s", err.msg);
			c->failed = 1;
			break;
		}
		hl = snprintf(head, sizeof(head),
		              "POST /api/v1/records HTTP/1.1\r\nHost: bench\r\n"
		              "Content-Type: application/cms\r\nContent-Length: %zu\r\n\r\n",
		              der.len);
		if (write_all(c->ssl, head, (size_t)hl) != 0 ||
		    write_all(c->ssl, der.data, der.len) != 0 ||
		    read_reply(c, &status, body, sizeof(body)) != 0) {
			snprintf(c->why, sizeof(c->why), "%s: connection failed", c->files[i]);
			c->failed = 1;
		} else if (status != 201 || (acc = strstr(body, "\"accepted\":")) == NULL) {
			snprintf(c->why, sizeof(c->why), "%s: HTTP %d %.180s", c->files[i], status,
			         body);
			c->failed = 1;
		} else {
			c->records += strtoul(acc + 11, NULL, 10);
			c->batches++;
		}
		ztm_buf_free(&der);
	}
	return NULL;
}

static int cmd_post(int argc, char **argv)
{
	SSL_CTX *ctx;
	struct conn *cs;
	pthread_t *th;
	long conns;
	size_t i, records = 0, batches = 0;
	double t0, t;
	int failed = 0, port;

	if (argc < 10)
		return 2;
	conns = strtol(argv[8], NULL, 10);
	if (conns < 1 || conns > 64)
		die("CONNS: 1..64");
	ctx = client_ctx(argv);
	cs = calloc((size_t)conns, sizeof(*cs));
	th = calloc((size_t)conns, sizeof(*th));
	if (cs == NULL || th == NULL)
		die("memory");
	if (ztm_parse_int(argv[3], 1, 65535, &port) != 0)
		die("PORT: 1..65535");
	for (i = 0; i < (size_t)conns; i++) {
		cs[i].files = argv + 9;
		cs[i].nfiles = (size_t)(argc - 9);
		cs[i].first = i;
		cs[i].step = (size_t)conns;
		conn_open(&cs[i], ctx, argv[2], port);
	}
	t0 = now();
	for (i = 0; i < (size_t)conns; i++)
		if (pthread_create(&th[i], NULL, conn_main, &cs[i]) != 0)
			die("thread");
	for (i = 0; i < (size_t)conns; i++) {
		pthread_join(th[i], NULL);
		records += cs[i].records;
		batches += cs[i].batches;
		if (cs[i].failed) {
			fprintf(stderr, "bench_ingest: %s\n", cs[i].why);
			failed = 1;
		}
	}
	t = now() - t0;
	for (i = 0; i < (size_t)conns; i++) {
		SSL_shutdown(cs[i].ssl);
		SSL_free(cs[i].ssl);
		close(cs[i].fd);
	}
	SSL_CTX_free(ctx);
	free(cs);
	free(th);
	if (failed)
		return 1;
	printf("records %zu batches %zu seconds %.3f records_per_s %.0f batches_per_s %.2f\n",
	       records, batches, t, (double)records / t, (double)batches / t);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc > 1 && strcmp(argv[1], "gen") == 0)
		rc = cmd_gen(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "post") == 0)
		rc = cmd_post(argc, argv);
	if (rc == 2)
		fprintf(stderr,
		        "usage: bench_ingest gen STATION.crt KEY-URI PASS-FILE PRODUCT ORDER N "
		        "PER-BATCH OUTDIR\n"
		        "       bench_ingest post HOST PORT CA.pem STATION.crt KEY-URI PASS-FILE "
		        "CONNS FILE...\n"
		        "(bench/ingest.sh runs both)\n");
	return rc;
}
