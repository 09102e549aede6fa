/* bench_hsm_issue.c - issuance with the CA key in a PKCS#11 token, next to
 * the token's own signing rate measured in the same run (issue 6).
 *
 *   bench_hsm_issue URI [N]      (default 5000; bench/hsm.sh sets up SoftHSM2)
 *
 * URI names a P-256 key (generated in the token when it does not exist).
 * Three figures, interleaved raw / issue / raw so drift shows:
 *   raw      one bare C_Sign of a SHA-256 digest (ztm_p11_sign_raw)
 *   issue    lint + encode + sign of a device certificate (ztm_issue), the
 *            CSR parsed and verified beforehand (not timed: it happens before
 *            the key is involved, on another core in ztmd); in one thread,
 *            then in two sharing the CA (the token sets the pace)
 *   full     CSR parse + verify + issue, all in this one thread
 * and issue/raw, the share of the token's rate that reaches issuance.
 * Figures go to docs/benchmarks.md ("Issuance with the key in an HSM").
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/csr.h"
#include "ztm/issue.h"
#include "ztm/key.h"
#include "ztm/p11.h"
#include "ztm/str.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_hsm_issue: %s\n", what);
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

/* This thread's CPU time: what the token and ztm cost, whatever else runs
 * on the machine (SoftHSM2 signs in-process, on the calling thread). */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall and CPU seconds of the blocks run so far, per kind. */
struct tally {
	double wall, cpu;
	size_t n;
};

static double raw_rate(EVP_PKEY *k, size_t n)
{
	uint8_t d[32], sig[132];
	struct ztm_error e;
	double t0 = now();
	size_t i, len;

	memset(d, 0x5a, sizeof(d));
	for (i = 0; i < n; i++) {
		d[0] = (uint8_t)i;
		len = sizeof(sig);
		if (ztm_p11_sign_raw(k, d, sizeof(d), sig, &len, &e) != 0)
			die(e.msg);
	}
	return (double)n / (now() - t0);
}

/* full: parse+verify inside the timed loop; else parsed beforehand. */
static double issue_rate(struct ztm_ca *ca, struct ztm_buf *csrs, struct ztm_csr *parsed, size_t n,
                         int full)
{
	static const struct ztm_name_attr subj[] = {{ZTM_ATTR_SERIAL, "SN0000001"},
	                                            {ZTM_ATTR_CN, "dev-0000001"}};
	struct ztm_buf out;
	struct ztm_error e;
	double t0 = now(), t;
	size_t i;

	ztm_buf_init(&out, 0);
	for (i = 0; i < n; i++) {
		struct ztm_csr csr, *c = &parsed[i];
		struct ztm_issue_req req;

		if (full) {
			if (ztm_csr_parse(csrs[i].data, csrs[i].len, &csr, &e) != 0)
				die(e.msg);
			c = &csr;
		}
		memset(&req, 0, sizeof(req));
		req.profile = "device";
		req.subject = subj;
		req.n_subject = 2;
		req.spki = c->spki;
		if (ztm_serial_new(req.serial, &e) != 0)
			die(e.msg);
		ztm_buf_reset(&out);
		if (ztm_issue(ca, &req, &out, &e) != 0)
			die(e.msg);
		if (full)
			ztm_csr_free(&csr);
	}
	t = now() - t0;
	ztm_buf_free(&out);
	return (double)n / t;
}

struct half {
	struct ztm_ca *ca;
	struct ztm_csr *parsed;
	size_t n;
};

static void *half_run(void *arg)
{
	struct half *h = arg;
	issue_rate(h->ca, NULL, h->parsed, h->n, 0);
	return NULL;
}

/* Two threads share the CA as ztmd's request threads do: one lints and
 * encodes while the other waits on the token (signing is serialised per
 * module, p11.c), so the token sets the pace. */
static double issue_rate2(struct ztm_ca *ca, struct ztm_csr *parsed, size_t n)
{
	struct half h[2] = {{ca, parsed, n / 2}, {ca, parsed + n / 2, n - n / 2}};
	pthread_t t[2];
	double t0 = now();
	int k;

	for (k = 0; k < 2; k++)
		if (pthread_create(&t[k], NULL, half_run, &h[k]) != 0)
			die("pthread_create");
	for (k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	return (double)n / (now() - t0);
}

/* Raw and issue in alternating blocks, so a change in the machine's load
 * falls on both alike (one long run of each measured the load, not ztm). */
static void interleaved(EVP_PKEY *k, struct ztm_ca *ca, struct ztm_csr *parsed, size_t n,
                        struct tally *raw, struct tally *iss)
{
	const size_t rounds = 20, per = n / rounds > 0 ? n / rounds : 1;
	size_t r;

	memset(raw, 0, sizeof(*raw));
	memset(iss, 0, sizeof(*iss));
	for (r = 0; r < rounds; r++) {
		double w = now(), c = cpu_now();
		raw_rate(k, per);
		raw->wall += now() - w;
		raw->cpu += cpu_now() - c;
		raw->n += per;
		w = now();
		c = cpu_now();
		issue_rate(ca, NULL, parsed + (r * per) % (n - per + 1), per, 0);
		iss->wall += now() - w;
		iss->cpu += cpu_now() - c;
		iss->n += per;
	}
}

int main(int argc, char **argv)
{
	uint64_t n = 5000;
	struct ztm_buf *csrs;
	struct ztm_csr *parsed;
	EVP_PKEY *ck;
	X509 *root;
	struct ztm_ca *ca;
	struct ztm_error e;
	const struct ztm_ca_urls urls = {"http://ca.example/ca.crt", "http://ca.example/ocsp",
	                                 "http://ca.example/ca.crl"};
	double raw1, raw2, iss, iss2, full, raw;
	struct tally traw, tiss;
	size_t i;

	if (argc < 2 || (argc > 2 && ztm_parse_u64(argv[2], 1, 10000000, &n) != 0))
		die("usage: bench_hsm_issue pkcs11:URI [N]");
	ck = ztm_key_generate(argv[1], ZTM_KEY_P256, NULL, &e);
	if (ck == NULL && e.code == ZTM_E_EXISTS)
		ck = ztm_key_load(argv[1], NULL, &e);
	if (ck == NULL || !ztm_p11_is(ck))
		die(ck == NULL ? e.msg : "not a pkcs11: key");
	csrs = calloc((size_t)n, sizeof(*csrs));
	parsed = calloc((size_t)n, sizeof(*parsed));
	if (csrs == NULL || parsed == NULL)
		die("calloc");
	for (i = 0; i < n; i++) {
		make_csr(&csrs[i]);
		if (ztm_csr_parse(csrs[i].data, csrs[i].len, &parsed[i], &e) != 0)
			die(e.msg);
	}
	root = make_root(ck); /* self-signed in the token */
	ca = ztm_ca_new("bench", root, ck, &urls, &e);
	if (ca == NULL)
		die(e.msg);
	raw_rate(ck, n < 200 ? n : 200); /* warm-up */
	issue_rate(ca, csrs, parsed, n < 200 ? n : 200, 0);

	interleaved(ck, ca, parsed, (size_t)n, &traw, &tiss);
	raw1 = raw_rate(ck, (size_t)n);
	iss2 = issue_rate2(ca, parsed, (size_t)n);
	raw2 = raw_rate(ck, (size_t)n);
	full = issue_rate(ca, csrs, parsed, (size_t)n, 1);
	raw = (raw1 + raw2) / 2;
	iss = (double)tiss.n / tiss.wall;
	printf("issuance with the CA key in a PKCS#11 token: N=%llu, P-256, profile device\n",
	       (unsigned long long)n);
	printf("  token raw C_Sign       %8.0f signatures/s (%.0f before, %.0f after)\n", raw, raw1,
	       raw2);
	printf("  interleaved, 20 rounds: raw %.0f/s, issue %.0f/s  = %5.1f%% of raw (wall)\n",
	       (double)traw.n / traw.wall, iss, 100.0 * iss * traw.wall / (double)traw.n);
	printf("  CPU per operation:      raw %.1f us, issue %.1f us  = %5.1f%% of raw (CPU)\n",
	       1e6 * traw.cpu / (double)traw.n, 1e6 * tiss.cpu / (double)tiss.n,
	       100.0 * (traw.cpu / (double)traw.n) / (tiss.cpu / (double)tiss.n));
	printf("  issue, 2 threads       %8.0f certificates/s  = %5.1f%% of raw\n", iss2,
	       100.0 * iss2 / raw);
	printf("  full (CSR+lint+sign)   %8.0f certificates/s  = %5.1f%% of raw (one thread)\n",
	       full, 100.0 * full / raw);

	ztm_ca_free(ca);
	X509_free(root);
	EVP_PKEY_free(ck);
	for (i = 0; i < n; i++) {
		ztm_buf_free(&csrs[i]);
		ztm_csr_free(&parsed[i]);
	}
	free(csrs);
	free(parsed);
	return 0;
}
