/* bench_fw_sign.c - firmware signing latency, in process: the CMS form
 * (detached SignedData from the digest, ztm_fw_cms_sign), the COSE_Sign1
 * manifest (ztm_fw_manifest_sign) and both together, as ztmd makes them
 * per release (src/server/fw_signers.c, app_fw_sign). No store, no TLS.
 *
 *   bench_fw_sign [N]      (default 5000)
 *
 * Prints p50, p99 and mean per form. A P-256 CA (the codesign CA's role)
 * and a fw-test signer are made first (not timed). Figures go to
 * docs/benchmarks.md ("Firmware signing").
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/firmware.h"
#include "ztm/issue.h"
#include "ztm/str.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: what a signature costs, whatever else runs on
 * a shared machine (wall-clock p99 there is a scheduler time slice). */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_fw_sign: %s\n", what);
	exit(1);
}

static X509 *make_ca(EVP_PKEY *key)
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
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"codesign",
	                               -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		die("ca");
	for (i = 0; i < 3; i++) {
		X509_EXTENSION *e;
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_nconf_nid(NULL, &ctx, ext[i].nid, ext[i].v);
		if (e == NULL || X509_add_ext(x, e, -1) != 1)
			die("ca ext");
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		die("ca sign");
	X509_NAME_free(n);
	return x;
}

static X509 *make_signer(struct ztm_ca *ca, EVP_PKEY *key)
{
	struct ztm_name_attr subject[2] = {{ZTM_ATTR_O, "bench"}, {ZTM_ATTR_CN, "fw signer"}};
	struct ztm_issue_req req;
	struct ztm_buf der;
	struct ztm_error e;
	unsigned char *spki = NULL;
	const unsigned char *p;
	int n = i2d_PUBKEY(key, &spki);
	X509 *x;

	ztm_buf_init(&der, 0);
	memset(&req, 0, sizeof(req));
	req.profile = "fw-production";
	req.subject = subject;
	req.n_subject = 2;
	req.spki.p = spki;
	req.spki.len = n > 0 ? (size_t)n : 0;
	if (n <= 0 || ztm_serial_new(req.serial, &e) != 0 || ztm_issue(ca, &req, &der, &e) != 0)
		die("signer");
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	OPENSSL_free(spki);
	ztm_buf_free(&der);
	return x;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += t[i];
	qsort(t, n, sizeof(*t), cmp);
	printf("%-22s p50 %7.1f us   p99 %7.1f us   mean %7.1f us   (%zu)\n", name, t[n / 2] * 1e6,
	       t[(n * 99) / 100] * 1e6, sum / (double)n * 1e6, n);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 5000, i;
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca_cert, *signer;
	struct ztm_ca *ca;
	struct ztm_fw_claims c;
	struct ztm_buf out;
	struct ztm_error e;
	double *t_cms, *t_man, *t_both, *c_cms, *c_man, *c_both, a, ca0;

	if (n == 0 || ca_key == NULL || key == NULL)
		die("usage: bench_fw_sign [N]");
	ca_cert = make_ca(ca_key);
	if ((ca = ztm_ca_new("codesign", ca_cert, ca_key, NULL, &e)) == NULL)
		die(e.msg);
	signer = make_signer(ca, key);
	t_cms = calloc(n, sizeof(double));
	t_man = calloc(n, sizeof(double));
	t_both = calloc(n, sizeof(double));
	c_cms = calloc(n, sizeof(double));
	c_man = calloc(n, sizeof(double));
	c_both = calloc(n, sizeof(double));
	if (signer == NULL || t_cms == NULL || t_man == NULL || t_both == NULL || c_cms == NULL ||
	    c_man == NULL || c_both == NULL)
		die("setup");
	memset(&c, 0, sizeof(c));
	ztm_strlcpy(c.product, "sensor-v2", sizeof(c.product));
	ztm_strlcpy(c.version, "1.4.2", sizeof(c.version));
	c.security_version = 7;
	c.size = 4 << 20;
	memset(c.digest, 0xab, sizeof(c.digest));
	c.channel = ZTM_FW_PRODUCTION;
	c.signed_at = (uint64_t)time(NULL);
	ztm_buf_init(&out, 0);
	for (i = 0; i < n; i++) {
		c.release = i + 1;
		ztm_buf_reset(&out);
		a = now();
		ca0 = cpu();
		if (ztm_fw_cms_sign(&c, key, signer, &ca_cert, 1, &out, &e) != 0)
			die(e.msg);
		t_cms[i] = now() - a;
		c_cms[i] = cpu() - ca0;
		ztm_buf_reset(&out);
		a = now();
		ca0 = cpu();
		if (ztm_fw_manifest_sign(&c, key, signer, &ca_cert, 1, &out, &e) != 0)
			die(e.msg);
		t_man[i] = now() - a;
		c_man[i] = cpu() - ca0;
		t_both[i] = t_cms[i] + t_man[i];
		c_both[i] = c_cms[i] + c_man[i];
	}
	printf("firmware signing, P-256 signer, chain of 2, %zu releases, one process\n", n);
	printf("wall clock:\n");
	report("CMS (detached)", t_cms, n);
	report("COSE_Sign1 manifest", t_man, n);
	report("both forms", t_both, n);
	printf("thread CPU time:\n");
	report("CMS (detached)", c_cms, n);
	report("COSE_Sign1 manifest", c_man, n);
	report("both forms", c_both, n);
	printf("manifest bytes %zu\n", out.len);
	ztm_buf_free(&out);
	free(t_cms);
	free(t_man);
	free(t_both);
	free(c_cms);
	free(c_man);
	free(c_both);
	X509_free(signer);
	X509_free(ca_cert);
	ztm_ca_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return 0;
}
