/* bench_issue.c - CSR in, certificate out: parse + verify + lint + issue.
 *
 *   bench_issue [N]      (default 20000)
 *
 * Generates N P-256 CSRs and a P-256 CA first (not timed), then times the
 * whole path in one process, then in two forked processes each doing the
 * same N (total 2N over the wall time), and prints certificates/s and the
 * scaling ratio. Figures go to docs/benchmarks.md ("Issuance").
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ztm/csr.h"
#include "ztm/issue.h"
#include "ztm/str.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_issue: %s\n", what);
	exit(1);
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		die("keygen");
	return k;
}

static X509 *make_root(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	static const struct {
		int nid;
		const char *v;
	} ext[] = {{NID_basic_constraints, "critical,CA:TRUE"},
	           {NID_key_usage, "critical,keyCertSign,cRLSign"},
	           {NID_subject_key_identifier, "hash"}};
	size_t i;

	if (x == NULL || n == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"bench CA",
	                               -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		die("root");
	for (i = 0; i < 3; i++) {
		X509_EXTENSION *e;
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_nconf_nid(NULL, &ctx, ext[i].nid, ext[i].v);
		if (e == NULL || X509_add_ext(x, e, -1) != 1)
			die("root ext");
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		die("root sign");
	X509_NAME_free(n);
	return x;
}

static void make_csr(struct ztm_buf *out)
{
	EVP_PKEY *k = p256();
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	int len;

	if (r == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"dev", -1, -1,
	                               0) != 1 ||
	    X509_REQ_set_subject_name(r, n) != 1 || X509_REQ_set_pubkey(r, k) != 1 ||
	    X509_REQ_sign(r, k, EVP_sha256()) <= 0)
		die("csr");
	len = i2d_X509_REQ(r, &der);
	ztm_buf_init(out, 0);
	if (len <= 0 || ztm_buf_append(out, der, (size_t)len) != 0)
		die("csr der");
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

/* The timed path: what the EST handler does per enrollment. */
static void run(struct ztm_ca *ca, struct ztm_buf *csrs, size_t n, double *t_parse, double *t_issue)
{
	static const struct ztm_name_attr subj[] = {{ZTM_ATTR_SERIAL, "SN0000001"},
	                                            {ZTM_ATTR_CN, "dev-0000001"}};
	struct ztm_buf out;
	struct ztm_error e;
	size_t i;
	double a, b;

	ztm_buf_init(&out, 0);
	*t_parse = *t_issue = 0;
	for (i = 0; i < n; i++) {
		struct ztm_csr csr;
		struct ztm_issue_req req;

		a = now();
		if (ztm_csr_parse(csrs[i].data, csrs[i].len, &csr, &e) != 0)
			die(e.msg);
		b = now();
		memset(&req, 0, sizeof(req));
		req.profile = "device";
		req.subject = subj;
		req.n_subject = 2;
		req.spki = csr.spki;
		if (ztm_serial_new(req.serial, &e) != 0)
			die(e.msg);
		ztm_buf_reset(&out);
		if (ztm_issue(ca, &req, &out, &e) != 0)
			die(e.msg);
		ztm_csr_free(&csr);
		*t_parse += b - a;
		*t_issue += now() - b;
	}
	ztm_buf_free(&out);
}

int main(int argc, char **argv)
{
	uint64_t n = 20000;
	struct ztm_buf *csrs;
	EVP_PKEY *ck;
	X509 *root;
	struct ztm_ca *ca;
	struct ztm_error e;
	const struct ztm_ca_urls urls = {"http://ca.example/ca.crt", "http://ca.example/ocsp",
	                                 "http://ca.example/ca.crl"};
	double t0, t1, tp, ti, r1, r2;
	size_t i;
	int k, st;

	if (argc > 1 && ztm_parse_u64(argv[1], 1, 10000000, &n) != 0)
		die("usage: bench_issue [N]");
	csrs = calloc((size_t)n, sizeof(*csrs));
	if (csrs == NULL)
		die("calloc");
	for (i = 0; i < n; i++)
		make_csr(&csrs[i]);
	ck = p256();
	root = make_root(ck);
	ca = ztm_ca_new("bench", root, ck, &urls, &e);
	if (ca == NULL)
		die(e.msg);
	run(ca, csrs, n < 200 ? n : 200, &tp, &ti); /* warm-up */

	t0 = now();
	run(ca, csrs, (size_t)n, &tp, &ti);
	t1 = now();
	r1 = (double)n / (t1 - t0);
	printf("issuance: N=%llu P-256 CSRs, P-256 CA, profile device, AIA+CDP\n",
	       (unsigned long long)n);
	printf("  parse+verify CSR   %7.1f us/op\n", tp * 1e6 / (double)n);
	printf("  lint+encode+sign   %7.1f us/op\n", ti * 1e6 / (double)n);
	printf("  1 process          %7.0f certificates/s\n", r1);

	fflush(stdout);
	t0 = now();
	for (k = 0; k < 2; k++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			run(ca, csrs, (size_t)n, &tp, &ti);
			_exit(0);
		}
	}
	for (k = 0; k < 2; k++)
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("child failed");
	t1 = now();
	r2 = 2.0 * (double)n / (t1 - t0);
	printf("  2 processes        %7.0f certificates/s (scaling %.2fx)\n", r2, r2 / r1);

	ztm_ca_free(ca);
	X509_free(root);
	EVP_PKEY_free(ck);
	for (i = 0; i < n; i++)
		ztm_buf_free(&csrs[i]);
	free(csrs);
	return 0;
}
