/* test_tpm_device.c - libztmdev with a TPM key (src/device/keyfile.c,
 * crypto_openssl_tpm*.c) against swtpm: init generates the key in the TPM
 * (key.tpm, no key.pem; a passphrase refused), the bootstrap certificate
 * and a CSR are signed by it, a second context opens the same device
 * through the blob, and ztmdev_ossl_key lends the same key to a host
 * transport. (Its own program: libztm's TPM context in the same process
 * would be a second connection, which swtpm serves only after the first.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "test_tpm_util.h"
#include "ztmdev/ztmdev.h"
#include "ztmdev/ztmdev_ossl.h"

static char dir[] = "/tmp/ztm-test-tpmdev.XXXXXX";

static void test_init_open_csr(void **state)
{
	char d[128], path[160];
	uint8_t der[4096];
	const unsigned char *p = der;
	size_t len;
	struct ztmdev *dev;
	struct ztmdev_status st;
	X509_REQ *req;
	X509 *boot;
	EVP_PKEY *k;
	FILE *f;

	(void)state;
	snprintf(d, sizeof(d), "%s/d1", dir);
	dev = ztmdev_new(d);
	assert_int_equal(ztmdev_set_key_storage(dev, ZTMDEV_KEY_TPM), 0);
	assert_int_equal(ztmdev_set_passphrase(dev, "a passphrase", 12), 0);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), -1);
	assert_non_null(strstr(ztmdev_error(dev), "a TPM key takes no passphrase"));
	assert_int_equal(ztmdev_set_passphrase(dev, NULL, 0), 0);
	if (ztmdev_init(dev, "SN-1", "widget") != 0)
		fail_msg("init: %s", ztmdev_error(dev));
	assert_int_equal(ztmdev_status(dev, &st), 0);
	assert_int_equal(st.key_storage, ZTMDEV_KEY_TPM);
	assert_int_equal(st.key_encrypted, 0);
	snprintf(path, sizeof(path), "%s/key.pem", d);
	assert_int_not_equal(access(path, F_OK), 0);
	ztmdev_free(dev);

	/* A new context: the key comes back from the blob. */
	dev = ztmdev_new(d);
	if (ztmdev_open(dev) != 0)
		fail_msg("open: %s", ztmdev_error(dev));
	assert_int_equal(ztmdev_csr(dev, der, sizeof(der), &len), 0);
	req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	k = ztmdev_ossl_key(dev);
	assert_non_null(k);
	assert_int_equal(X509_REQ_verify(req, k), 1);
	X509_REQ_free(req);
	snprintf(path, sizeof(path), "%s/bootstrap.pem", d);
	f = fopen(path, "r");
	assert_non_null(f);
	boot = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(boot);
	assert_int_equal(X509_verify(boot, k), 1);
	X509_free(boot);
	/* Signing through the lent key works in the default context too. */
	{
		unsigned char sig[160];
		size_t n = sizeof(sig);
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, k, NULL), 1);
		assert_int_equal(EVP_DigestSign(m, sig, &n, (const unsigned char *)"x", 1), 1);
		EVP_MD_CTX_free(m);
	}
	ztmdev_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_open_csr),
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
