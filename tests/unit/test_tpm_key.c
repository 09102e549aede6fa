/* test_tpm_key.c - tpm2: keys through the key seam (src/core/tpmkey.c,
 * tpm_pkey.c) against swtpm: generated in the TPM, written as a TSS2 blob
 * (0600, never over an existing file), loaded again as the same key; the
 * key signs in OpenSSL's default library context (digest signatures, a
 * CSR) and its signatures verify with the public key alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "test_tpm_util.h"
#include "ztm/key.h"

static char dir[] = "/tmp/ztm-test-tpmkey.XXXXXX";

static void uri(char *out, size_t n, const char *name)
{
	snprintf(out, n, "tpm2:%s/%s", dir, name);
}

/* sig by k over msg verifies with k's public half in the default context. */
static void sign_verify(EVP_PKEY *k)
{
	static const unsigned char msg[] = "a record batch";
	unsigned char sig[160], *spki = NULL;
	const unsigned char *p;
	size_t n = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY *pub;
	int len;

	assert_int_equal(EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, k, NULL), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &n, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(m);
	len = i2d_PUBKEY(k, &spki);
	assert_true(len > 0);
	p = spki;
	pub = d2i_PUBKEY(NULL, &p, len);
	assert_non_null(pub);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, pub, NULL), 1);
	assert_int_equal(EVP_DigestVerify(m, sig, n, msg, sizeof(msg)), 1);
	sig[n - 1] ^= 1;
	assert_int_not_equal(EVP_DigestVerify(m, sig, n, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pub);
	OPENSSL_free(spki);
}

static void test_generate_load_sign(void **state)
{
	char u[600], path[600];
	struct ztm_error err = {0};
	struct stat st;
	EVP_PKEY *k, *again;
	X509_REQ *req;
	FILE *f;

	(void)state;
	uri(u, sizeof(u), "k256.tpm");
	k = ztm_key_generate(u, ZTM_KEY_P256, NULL, &err);
	if (k == NULL)
		fail_msg("generate: %s", err.msg);
	snprintf(path, sizeof(path), "%s/k256.tpm", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(u + 500, 100, f));
	fclose(f);
	assert_non_null(strstr(u + 500, "-----BEGIN TSS2 PRIVATE KEY-----"));
	sign_verify(k);

	/* A CSR in the default context, as the EST client makes it. */
	req = X509_REQ_new();
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	assert_int_equal(X509_REQ_verify(req, k), 1);
	X509_REQ_free(req);

	uri(u, sizeof(u), "k256.tpm");
	again = ztm_key_load(u, NULL, &err);
	if (again == NULL)
		fail_msg("load: %s", err.msg);
	assert_int_equal(EVP_PKEY_eq(k, again), 1);
	sign_verify(again);
	EVP_PKEY_free(again);

	/* Never over an existing blob. */
	memset(&err, 0, sizeof(err));
	assert_null(ztm_key_generate(u, ZTM_KEY_P256, NULL, &err));
	assert_int_equal(err.code, ZTM_E_EXISTS);
	EVP_PKEY_free(k);
}

static void test_p384(void **state)
{
	char u[600];
	struct ztm_error err = {0};
	EVP_PKEY *k;

	(void)state;
	uri(u, sizeof(u), "k384.tpm");
	k = ztm_key_generate(u, ZTM_KEY_P384, NULL, &err);
	if (k == NULL)
		fail_msg("generate P-384: %s", err.msg);
	assert_int_equal(EVP_PKEY_get_bits(k), 384);
	sign_verify(k);
	EVP_PKEY_free(k);
}

static void test_not_a_blob(void **state)
{
	char u[600], path[600];
	struct ztm_error err = {0};
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/plain.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	uri(u, sizeof(u), "plain.pem");
	assert_null(ztm_key_load(u, NULL, &err));
	assert_int_equal(err.code, ZTM_E_PARSE);
	/* A damaged blob: the TSS2 header, garbage inside. */
	f = fopen(path, "w");
	fputs("-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n-----END TSS2 PRIVATE KEY-----\n", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	assert_null(ztm_key_load(u, NULL, &err));
	assert_int_equal(err.code, ZTM_E_UNAVAILABLE);
	assert_non_null(strstr(err.msg, "cannot load the blob"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_load_sign),
	    cmocka_unit_test(test_p384),
	    cmocka_unit_test(test_not_a_blob),
	};
	char cmd[128];
	int rc;

	tpm_fixture_env();
	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
