/* bench_fw_verify.c - device-side firmware verification (libztmdev,
 * ztmdev_fw_*): throughput of the streamed image and begin() latency.
 *
 *   bench_fw_verify [MiB]          (default 1024: 1 GiB)
 *
 * The image is one 64 KiB chunk streamed MiB*16 times, as an updater
 * writing a flash partition would pass it (the verifier never sees the
 * whole image). One thread: the figures are per core. For each signer and
 * form: begin() (parse, chain to the pinned root, usage, signature,
 * policy; median of 200), then update() over the image and final(), in
 * MB/s (10^6 bytes). A manifest hashes SHA-256 once; a CMS of a P-384 or
 * Ed25519 signer also hashes SHA-384 / SHA-512 (its messageDigest), so it
 * is slower by that second digest. Figures go to docs/benchmarks.md
 * ("Firmware verification").
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_fw_util.h"
#include "ztmdev/ztmdev.h"
#include "ztmdev/ztmdev_fw.h"

#define CHUNK  ((size_t)64 * 1024)
#define BEGINS 200

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the per-core figure on a shared machine. */
static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int svn_read(void *arg, uint32_t *out)
{
	(void)arg;
	*out = 1;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct tf_pki K;
static uint8_t chunk[CHUNK];

static void run(const char *label, const struct tf_buf *sig, uint64_t size)
{
	static double t[BEGINS];
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct ztmdev_fw_policy pol;
	struct ztmdev_fw_result res;
	struct ztmdev_fw *fw;
	uint64_t i, n = size / CHUNK;
	double t0, c0, dt, dc;
	int k;

	memset(&pol, 0, sizeof(pol));
	pol.roots = (const uint8_t *)K.root_pem;
	pol.roots_len = strlen(K.root_pem);
	pol.product = TF_PRODUCT;
	pol.svn_read = svn_read;
	for (k = 0; k < BEGINS; k++) {
		t0 = now();
		fw = ztmdev_fw_begin(dev, sig->p, sig->len, &pol);
		t[k] = now() - t0;
		if (fw == NULL) {
			fprintf(stderr, "%s: %s\n", label, ztmdev_error(dev));
			exit(1);
		}
		ztmdev_fw_free(fw);
	}
	qsort(t, BEGINS, sizeof(t[0]), cmp_double);
	fw = ztmdev_fw_begin(dev, sig->p, sig->len, &pol);
	t0 = now();
	c0 = cpu();
	for (i = 0; i < n; i++)
		if (ztmdev_fw_update(fw, chunk, CHUNK) != 0) {
			fprintf(stderr, "%s: %s\n", label, ztmdev_error(dev));
			exit(1);
		}
	if (ztmdev_fw_final(fw, &res) != 0) {
		fprintf(stderr, "%s: %s\n", label, ztmdev_error(dev));
		exit(1);
	}
	dt = now() - t0;
	dc = cpu() - c0;
	printf("%-20s begin %6.3f ms (median of %d, p90 %6.3f)  stream %5.0f MB/s per CPU-second "
	       "(%5.0f MB/s wall, %.2f s)\n",
	       label, t[BEGINS / 2] * 1e3, BEGINS, t[BEGINS * 9 / 10] * 1e3,
	       (double)size / dc / 1e6, (double)size / dt / 1e6, dt);
	ztmdev_fw_free(fw);
	ztmdev_free(dev);
}

int main(int argc, char **argv)
{
	static const struct {
		enum tf_signer signer;
		char form;
		const char *label;
	} cases[] = {
	    {TF_P256, 'M', "manifest ES256"},    {TF_P384, 'M', "manifest ES384"},
	    {TF_ED25519, 'M', "manifest EdDSA"}, {TF_P256, 'C', "CMS P-256/SHA-256"},
	    {TF_P384, 'C', "CMS P-384/SHA-384"}, {TF_ED25519, 'C', "CMS Ed25519/SHA-512"},
	};
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024, size, i;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	struct tf_claims cl;
	struct tf_buf claims = {0};
	unsigned len = 0;
	size_t k;

	if (mib == 0 || mib > 1024 * 1024 || c == NULL) {
		fprintf(stderr, "usage: bench_fw_verify [MiB]\n");
		return 2;
	}
	size = mib << 20;
	for (i = 0; i < CHUNK; i++)
		chunk[i] = (uint8_t)(i * 131 + 17);
	tf_pki_make(&K);
	memset(&cl, 0, sizeof(cl));
	cl.product = TF_PRODUCT;
	cl.version = "1.0.0";
	cl.svn = 1;
	cl.size = size;
	/* The image's digests, computed once here (not timed). */
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		return 1;
	for (i = 0; i < size / CHUNK; i++)
		EVP_DigestUpdate(c, chunk, CHUNK);
	EVP_DigestFinal_ex(c, cl.digest, &len);
	tf_claims_encode(&cl, &claims);
	printf("firmware verification, one thread, %llu MiB image in 64 KiB chunks\n",
	       (unsigned long long)mib);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tf_buf sig = {0};
		X509 *chain[2] = {K.cert[cases[k].signer], K.ca};
		if (cases[k].form == 'M') {
			tf_manifest(K.key[cases[k].signer], chain, 2, 0, &claims, &sig);
		} else {
			uint8_t d[64];
			const EVP_MD *md = cases[k].signer == TF_ED25519 ? EVP_sha512()
			                   : cases[k].signer == TF_P384  ? EVP_sha384()
			                                                 : EVP_sha256();
			if (EVP_DigestInit_ex(c, md, NULL) != 1)
				return 1;
			for (i = 0; i < size / CHUNK; i++)
				EVP_DigestUpdate(c, chunk, CHUNK);
			EVP_DigestFinal_ex(c, d, &len);
			tf_cms_digest(K.key[cases[k].signer], K.cert[cases[k].signer], K.ca,
			              &claims, d, len, &sig);
		}
		run(cases[k].label, &sig, size);
		tf_free(&sig);
	}
	EVP_MD_CTX_free(c);
	tf_free(&claims);
	tf_pki_free(&K);
	return 0;
}
