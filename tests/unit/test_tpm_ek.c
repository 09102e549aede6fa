/* test_tpm_ek.c - the endorsement keys of credential activation against a
 * real TPM 2.0 (swtpm, the ztm_tpm CTest fixture, which has an RSA-2048
 * EK, template L-1, and an ECC P-256 EK, template L-2; docs/attestation.md):
 * ztm's MakeCredential to either EK is unwrapped by the TPM's
 * ActivateCredential, and refused for another name; an EK that is not
 * persistent is made from its template and flushed after; a persistent
 * key that is not the certificate's EK is refused by the device, clearly;
 * EKs of other kinds are refused by the verifier. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "zd_tpm.h"
#include "ztm/tpm.h"

static char dir[512], tcti[256];
static struct ztm_tpm_roots *roots;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = snprintf(cmd, sizeof(cmd), "TPM2TOOLS_TCTI='%s'; export TPM2TOOLS_TCTI; cd '%s' && ",
	             tcti, dir);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	const char *d = getenv("ZTM_TEST_TPM_DIR");
	char path[600];
	struct ztm_error err;
	FILE *f;

	(void)state;
	if (d == NULL) {
		fprintf(stderr, "test_tpm_ek: SKIPPED LOUDLY: no ZTM_TEST_TPM_DIR (swtpm)\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "%s", d);
	snprintf(path, sizeof(path), "%s/tcti", dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(tcti, sizeof(tcti), f) == NULL) {
		fprintf(stderr, "test_tpm_ek: SKIPPED LOUDLY: no TPM at %s\n", dir);
		exit(77);
	}
	fclose(f);
	tcti[strcspn(tcti, "\n")] = '\0';
	if (sh("cat manufacturer-ca.pem manufacturer-ek-ca.pem >ek-roots-ek.pem") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/ek-roots-ek.pem", dir);
	roots = ztm_tpm_roots_load(path, &err);
	if (roots == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ztm_tpm_roots_free(roots);
	return 0;
}

/* No transient object left in the TPM (run with no connection open). */
static void no_transients(void)
{
	assert_int_equal(sh("test -z \"$(tpm2_getcap handles-transient)\""), 0);
}

/* One activation with the EK chosen by which: the EK certificate is of
 * kind want (verified against the manufacturer), MakeCredential to it
 * unwraps to the credential in the TPM and fails for another name. With
 * errsub, the activation must fail with that text instead. */
static void activate_with(enum zd_tpm_ek which, enum zd_tpm_ek want, const char *errsub)
{
	struct zd_tpm *t = NULL;
	struct zd_tpm_blob *ek_der = calloc(1, sizeof(*ek_der)),
	                   *ak_pub = calloc(1, sizeof(*ak_pub));
	struct ztm_error zerr;
	struct ztm_buf id, es, id2, es2;
	EVP_PKEY *ek = NULL;
	uint8_t name[ZTM_TPM_NAME_MAX], cred[ZTM_TPM_CRED_LEN], got[ZTM_TPM_CRED_LEN];
	size_t nl = 0;
	char err[256];

	assert_non_null(ek_der);
	assert_non_null(ak_pub);
	assert_int_equal(zd_tpm_open(&t, tcti, err, sizeof(err)), 0);
	assert_int_equal(zd_tpm_use_ek(t, which), 0);
	if (zd_tpm_ak(t, ek_der, ak_pub, err, sizeof(err)) != 0)
		fail_msg("zd_tpm_ak: %s", err);
	assert_int_equal(zd_tpm_ek_in_use(t), want);
	assert_int_equal(ztm_tpm_ek_verify(roots, ek_der->p, ek_der->len, time(NULL), &ek, &zerr),
	                 0);
	assert_int_equal(ztm_tpm_ek_kind(ek),
	                 want == ZD_TPM_EK_ECC ? ZTM_TPM_EK_ECC_P256 : ZTM_TPM_EK_RSA2048);
	assert_int_equal(
	    ztm_tpm_ak_check((struct ztm_slice){ak_pub->p, ak_pub->len}, name, &nl, &zerr), 0);
	assert_int_equal(RAND_bytes(cred, sizeof(cred)), 1);
	ztm_buf_init(&id, 4096);
	ztm_buf_init(&es, 4096);
	ztm_buf_init(&id2, 4096);
	ztm_buf_init(&es2, 4096);
	assert_int_equal(ztm_tpm_make_credential(ek, name, nl, cred, &id, &es, &zerr), 0);
	if (want == ZD_TPM_EK_ECC) {
		/* TPM2B_ENCRYPTED_SECRET of a TPMS_ECC_POINT: 68 bytes, two
		 * 32-byte coordinates. */
		assert_int_equal(es.len, 2 + 68);
		assert_int_equal(es.data[1], 68);
		assert_int_equal(es.data[3], 32);
		assert_int_equal(es.data[2 + 2 + 32 + 1], 32);
	} else {
		assert_int_equal(es.len, 2 + 256);
	}
	if (errsub != NULL) {
		assert_int_not_equal(
		    zd_tpm_activate(t, id.data, id.len, es.data, es.len, got, err, sizeof(err)), 0);
		if (strstr(err, errsub) == NULL)
			fail_msg("activation failed, but not with '%s': %s", errsub, err);
		goto out;
	}
	if (zd_tpm_activate(t, id.data, id.len, es.data, es.len, got, err, sizeof(err)) != 0)
		fail_msg("zd_tpm_activate: %s", err);
	assert_memory_equal(got, cred, sizeof(cred));
	/* The blob of this exchange with the secret of another one: refused
	 * (the seed keys the HMAC). */
	assert_int_equal(ztm_tpm_make_credential(ek, name, nl, cred, &id2, &es2, &zerr), 0);
	assert_int_not_equal(
	    zd_tpm_activate(t, id.data, id.len, es2.data, es2.len, got, err, sizeof(err)), 0);
	/* Another name (another AK): the TPM refuses, the binding holds. */
	name[5] ^= 1;
	assert_int_equal(ztm_tpm_make_credential(ek, name, nl, cred, &id, &es, &zerr), 0);
	assert_int_not_equal(
	    zd_tpm_activate(t, id.data, id.len, es.data, es.len, got, err, sizeof(err)), 0);
out:
	zd_tpm_close(t);
	ztm_buf_free(&id);
	ztm_buf_free(&es);
	ztm_buf_free(&id2);
	ztm_buf_free(&es2);
	EVP_PKEY_free(ek);
	free(ek_der);
	free(ak_pub);
	no_transients();
}

static void test_rsa_ek(void **state)
{
	(void)state;
	activate_with(ZD_TPM_EK_RSA, ZD_TPM_EK_RSA, NULL);
	/* Both EKs present: AUTO takes RSA (docs/attestation.md). */
	activate_with(ZD_TPM_EK_AUTO, ZD_TPM_EK_RSA, NULL);
}

static void test_ecc_ek(void **state)
{
	(void)state;
	activate_with(ZD_TPM_EK_ECC, ZD_TPM_EK_ECC, NULL);
}

/* An EK evicted from its persistent handle: made from its TCG template
 * (the same key, as its certificate says), used, flushed. Then put back. */
static void test_ek_not_persistent(void **state)
{
	(void)state;
	assert_int_equal(sh("tpm2_evictcontrol -C o -c 0x81010002 >/dev/null 2>&1 && "
	                    "tpm2_evictcontrol -C o -c 0x81010001 >/dev/null 2>&1 && "
	                    "test -z \"$(tpm2_getcap handles-persistent | grep 0x8101000)\""),
	                 0);
	activate_with(ZD_TPM_EK_ECC, ZD_TPM_EK_ECC, NULL);
	activate_with(ZD_TPM_EK_AUTO, ZD_TPM_EK_RSA, NULL);
	/* Nothing was made persistent by the device. */
	assert_int_equal(sh("test -z \"$(tpm2_getcap handles-persistent | grep 0x8101000)\""), 0);
	assert_int_equal(sh("tpm2_createek -c 0x81010002 -G ecc >/dev/null && "
	                    "tpm2_createek -c 0x81010001 -G rsa >/dev/null"),
	                 0);
}

/* Another key at the EK's handle (not the certificate's): the device says
 * so instead of failing the activation. Then the real EK is put back. */
static void test_ek_mismatch(void **state)
{
	(void)state;
	assert_int_equal(sh("tpm2_evictcontrol -C o -c 0x81010002 >/dev/null 2>&1 && "
	                    "tpm2_createprimary -C e -G ecc256 -c other-ek.ctx >/dev/null && "
	                    "tpm2_evictcontrol -C o -c other-ek.ctx 0x81010002 >/dev/null && "
	                    "tpm2_flushcontext -t"),
	                 0);
	activate_with(ZD_TPM_EK_ECC, ZD_TPM_EK_ECC,
	              "does not hold the EK certificate's public key");
	assert_int_equal(sh("tpm2_evictcontrol -C o -c 0x81010002 >/dev/null && "
	                    "tpm2_createek -c 0x81010002 -G ecc >/dev/null"),
	                 0);
	activate_with(ZD_TPM_EK_ECC, ZD_TPM_EK_ECC, NULL);
}

/* The verifier takes RSA-2048 and P-256 EKs only: swtpm's P-384 EK
 * certificate chains but is refused for its key; MakeCredential refuses a
 * P-384 or RSA-3072 key. */
static void test_other_ek_kinds(void **state)
{
	struct ztm_error err;
	EVP_PKEY *ek = NULL, *k;
	struct ztm_buf id, es;
	uint8_t name[34] = {0x00, 0x0b}, cred[ZTM_TPM_CRED_LEN] = {0};
	unsigned char *der = NULL;
	char path[700];
	X509 *x;
	FILE *f;
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/ek-ecc.pem", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	assert_int_equal(ztm_tpm_ek_verify(roots, der, (size_t)n, time(NULL), &ek, &err), -1);
	assert_int_equal(err.code, ZTM_E_WEAKKEY);
	assert_null(ek);
	OPENSSL_free(der);
	X509_free(x);
	ztm_buf_init(&id, 4096);
	ztm_buf_init(&es, 4096);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_int_equal(ztm_tpm_make_credential(k, name, sizeof(name), cred, &id, &es, &err), -1);
	assert_int_equal(err.code, ZTM_E_WEAKKEY);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	assert_int_equal(ztm_tpm_make_credential(k, name, sizeof(name), cred, &id, &es, &err), -1);
	assert_int_equal(err.code, ZTM_E_WEAKKEY);
	assert_int_equal(es.len, 0);
	EVP_PKEY_free(k);
	ztm_buf_free(&id);
	ztm_buf_free(&es);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsa_ek),
	    cmocka_unit_test(test_ecc_ek),
	    cmocka_unit_test(test_ek_not_persistent),
	    cmocka_unit_test(test_ek_mismatch),
	    cmocka_unit_test(test_other_ek_kinds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
