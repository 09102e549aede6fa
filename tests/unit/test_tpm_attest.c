/* test_tpm_attest.c - TPM key attestation against a real TPM 2.0 (swtpm,
 * the ztm_tpm CTest fixture; docs/attestation.md): the device half
 * (ztmdevtpm: EK certificate, AK, ActivateCredential, Certify) against the
 * verifier (libztm: EK chain, MakeCredential, Certify verification), then a
 * table of broken evidence, one refusal per row.
 *
 * ZTM_TPM_DUMP=dir writes the good evidence's fields there, and
 * dir/fuzz_seed, the seed of fuzz/corpus/fuzz_tpm_evidence/. */
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

#define KEY_FIXED  0x81000101u /* fixedTPM | fixedParent: may not leave */
#define KEY_EXPORT 0x81000102u /* neither: duplicable */

static char dir[512], tcti[256];
static struct zd_tpm *tpm;
static struct zd_tpm_blob ek_der, ak_pub;
static uint8_t cred[ZTM_TPM_CRED_LEN];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = snprintf(cmd, sizeof(cmd), "TPM2TOOLS_TCTI='%s'; export TPM2TOOLS_TCTI; ", tcti);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A key under an SRK made persistent at handle, with attributes attrs. */
static void make_key(uint32_t handle, const char *attrs)
{
	assert_int_equal(
	    sh("cd '%s' && tpm2_evictcontrol -C o -c 0x%08x >/dev/null 2>&1; "
	       "tpm2_flushcontext -t && "
	       "tpm2_createprimary -C o -g sha256 -G ecc -c srk.ctx >/dev/null && "
	       "tpm2_create -C srk.ctx -G ecc256 -a '%s' -u k.pub -r k.priv >/dev/null && "
	       "tpm2_flushcontext -t && tpm2_createprimary -C o -g sha256 -G ecc -c srk.ctx "
	       ">/dev/null "
	       "&& tpm2_flushcontext -t && tpm2_load -C srk.ctx -u k.pub -r k.priv -c k.ctx "
	       ">/dev/null && "
	       "tpm2_flushcontext -t && "
	       "tpm2_evictcontrol -C o -c k.ctx 0x%08x >/dev/null && tpm2_flushcontext -t",
	       dir, handle, attrs, handle),
	    0);
}

static int setup(void **state)
{
	const char *d = getenv("ZTM_TEST_TPM_DIR");
	char path[600], err[256];
	FILE *f;

	(void)state;
	if (d == NULL) {
		fprintf(stderr, "test_tpm_attest: SKIPPED LOUDLY: no ZTM_TEST_TPM_DIR (swtpm)\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "%s", d);
	snprintf(path, sizeof(path), "%s/tcti", dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(tcti, sizeof(tcti), f) == NULL) {
		fprintf(stderr, "test_tpm_attest: SKIPPED LOUDLY: no TPM at %s\n", dir);
		exit(77);
	}
	fclose(f);
	tcti[strcspn(tcti, "\n")] = '\0';
	make_key(KEY_FIXED, "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign");
	make_key(KEY_EXPORT, "sensitivedataorigin|userwithauth|sign");
	if (zd_tpm_open(&tpm, tcti, err, sizeof(err)) != 0 ||
	    zd_tpm_ak(tpm, &ek_der, &ak_pub, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	zd_tpm_close(tpm);
	sh("tpm2_evictcontrol -C o -c 0x%08x >/dev/null 2>&1; "
	   "tpm2_evictcontrol -C o -c 0x%08x >/dev/null 2>&1",
	   KEY_FIXED, KEY_EXPORT);
	return 0;
}

static struct ztm_tpm_roots *roots(const char *which)
{
	char path[700];
	struct ztm_error err;
	struct ztm_tpm_roots *r;

	snprintf(path, sizeof(path), "%s/%s", dir, which);
	r = ztm_tpm_roots_load(path, &err);
	if (r == NULL)
		fail_msg("%s", err.msg);
	return r;
}

/* The EK certificate chains to the manufacturer; MakeCredential to its key
 * and the AK's name; the TPM activates it back. */
static void test_activation(void **state)
{
	char path[700], err[256];
	struct ztm_error zerr;
	struct ztm_tpm_roots *r;
	struct ztm_buf id, es;
	EVP_PKEY *ek = NULL;
	uint8_t name[ZTM_TPM_NAME_MAX], got[32];
	size_t nl = 0;
	FILE *f;

	(void)state;
	/* The roots file: the manufacturer's root and its EK CA. */
	snprintf(path, sizeof(path), "%s/ek-roots.pem", dir);
	assert_int_equal(
	    sh("cat '%s/manufacturer-ca.pem' '%s/manufacturer-ek-ca.pem' > '%s'", dir, dir, path),
	    0);
	r = roots("ek-roots.pem");
	assert_int_equal(ztm_tpm_ek_verify(r, ek_der.p, ek_der.len, time(NULL), &ek, &zerr), 0);
	assert_int_equal(
	    ztm_tpm_ak_check((struct ztm_slice){ak_pub.p, ak_pub.len}, name, &nl, &zerr), 0);
	assert_int_equal(nl, 34);
	assert_int_equal(RAND_bytes(cred, sizeof(cred)), 1);
	ztm_buf_init(&id, 4096);
	ztm_buf_init(&es, 4096);
	assert_int_equal(ztm_tpm_make_credential(ek, name, nl, cred, &id, &es, &zerr), 0);
	assert_int_equal(
	    zd_tpm_activate(tpm, id.data, id.len, es.data, es.len, got, err, sizeof(err)), 0);
	assert_memory_equal(got, cred, 32);
	/* For another name (another AK), the TPM refuses: the binding. */
	name[5] ^= 1;
	assert_int_equal(ztm_tpm_make_credential(ek, name, nl, cred, &id, &es, &zerr), 0);
	assert_int_not_equal(
	    zd_tpm_activate(tpm, id.data, id.len, es.data, es.len, got, err, sizeof(err)), 0);
	f = NULL;
	(void)f;
	ztm_buf_free(&id);
	ztm_buf_free(&es);
	EVP_PKEY_free(ek);
	ztm_tpm_roots_free(r);
}

/* A foreign manufacturer: the same EK certificate against another CA. */
static void test_foreign_ek(void **state)
{
	struct ztm_error err;
	struct ztm_tpm_roots *r;
	EVP_PKEY *ek = NULL, *k;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char path[700];
	FILE *f;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"other-mfr", -1,
	                           -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/other-roots.pem", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	r = roots("other-roots.pem");
	assert_int_equal(ztm_tpm_ek_verify(r, ek_der.p, ek_der.len, time(NULL), &ek, &err), -1);
	assert_int_equal(err.code, ZTM_E_AUTH);
	assert_null(ek);
	/* Not a certificate at all. */
	assert_int_equal(ztm_tpm_ek_verify(r, ak_pub.p, ak_pub.len, time(NULL), &ek, &err), -1);
	assert_int_equal(err.code, ZTM_E_PARSE);
	ztm_tpm_roots_free(r);
	X509_free(x);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
}

/* The SubjectPublicKeyInfo DER of a persistent TPM key, via its public. */
static void key_spki(uint32_t handle, struct zd_tpm_blob *pub, struct ztm_buf *spki)
{
	uint8_t name[ZTM_TPM_NAME_MAX], qual[32] = {0};
	size_t nl = 0;
	struct zd_tpm_blob a, s;
	struct ztm_error err;
	EVP_PKEY *k = NULL;
	unsigned char *der = NULL;
	int n;
	char e[256];

	assert_int_equal(zd_tpm_certify(tpm, handle, qual, 32, pub, &a, &s, e, sizeof(e)), 0);
	assert_int_equal(
	    ztm_tpm_public_read((struct ztm_slice){pub->p, pub->len}, name, &nl, &k, NULL, &err),
	    0);
	n = i2d_PUBKEY(k, &der);
	assert_true(n > 0);
	ztm_buf_reset(spki);
	assert_int_equal(ztm_buf_append(spki, der, (size_t)n), 0);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

struct evidence {
	struct zd_tpm_blob key_pub, attest, sig;
	uint8_t cred[ZTM_TPM_CRED_LEN];
	struct ztm_buf spki; /* the request's key */
};

/* Certify handle over qualifyingData for (cred, spki of bound_to). */
static void certify(struct evidence *e, uint32_t handle, uint32_t bound_to)
{
	struct zd_tpm_blob pub;
	uint8_t qual[32];
	char err[256];

	ztm_buf_init(&e->spki, 4096);
	memcpy(e->cred, cred, sizeof(cred));
	key_spki(bound_to, &pub, &e->spki);
	assert_int_equal(ztm_tpm_qualifying_data((struct ztm_slice){e->cred, sizeof(e->cred)},
	                                         ztm_buf_slice(&e->spki), qual),
	                 0);
	assert_int_equal(zd_tpm_certify(tpm, handle, qual, sizeof(qual), &e->key_pub, &e->attest,
	                                &e->sig, err, sizeof(err)),
	                 0);
}

static enum ztm_tpm_verdict verify(struct evidence *e, const struct zd_tpm_blob *ak,
                                   struct ztm_error *err)
{
	struct ztm_tpm_evidence ev = {
	    {e->cred, sizeof(e->cred)},   {ak->p, ak->len},       {e->key_pub.p, e->key_pub.len},
	    {e->attest.p, e->attest.len}, {e->sig.p, e->sig.len},
	};
	struct ztm_tpm_evidence back;
	struct ztm_buf der;
	uint8_t name[ZTM_TPM_NAME_MAX];
	size_t nl = 0;
	enum ztm_tpm_verdict v;

	/* Through the DER envelope, as it travels. */
	ztm_buf_init(&der, 8192);
	assert_int_equal(ztm_tpm_evidence_encode(&ev, &der, err), 0);
	assert_int_equal(ztm_tpm_evidence_parse(der.data, der.len, &back, err), 0);
	v = ztm_tpm_evidence_verify(&back, ztm_buf_slice(&e->spki), name, &nl, err);
	ztm_buf_free(&der);
	return v;
}

static void dump(const char *name, const uint8_t *p, size_t n)
{
	const char *d = getenv("ZTM_TPM_DUMP");
	char path[600];
	FILE *f;

	if (d == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", d, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void test_certify_ok(void **state)
{
	struct evidence e;
	struct ztm_error err;

	(void)state;
	certify(&e, KEY_FIXED, KEY_FIXED);
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_OK);
	dump("cred", e.cred, sizeof(e.cred));
	dump("ak_public", ak_pub.p, ak_pub.len);
	dump("key_public", e.key_pub.p, e.key_pub.len);
	dump("certify_info", e.attest.p, e.attest.len);
	dump("signature", e.sig.p, e.sig.len);
	dump("spki", e.spki.data, e.spki.len);
	{
		/* fuzz/fuzz_tpm_evidence's framing: 2-byte SPKI length, SPKI,
		 * evidence DER. */
		struct ztm_tpm_evidence ev = {
		    {e.cred, sizeof(e.cred)},     {ak_pub.p, ak_pub.len},
		    {e.key_pub.p, e.key_pub.len}, {e.attest.p, e.attest.len},
		    {e.sig.p, e.sig.len},
		};
		struct ztm_buf seed;
		uint8_t l[2] = {(uint8_t)(e.spki.len >> 8), (uint8_t)e.spki.len};

		ztm_buf_init(&seed, 16384);
		assert_int_equal(ztm_buf_append(&seed, l, 2), 0);
		assert_int_equal(ztm_buf_append(&seed, e.spki.data, e.spki.len), 0);
		assert_int_equal(ztm_tpm_evidence_encode(&ev, &seed, &err), 0);
		dump("fuzz_seed", seed.data, seed.len);
		ztm_buf_free(&seed);
	}
	ztm_buf_free(&e.spki);
}

/* One row per refusal: what is broken, and the verdict it must give. */
static void test_refusals(void **state)
{
	struct evidence e, other;
	struct zd_tpm_blob ak2;
	struct ztm_error err;
	size_t i;

	(void)state;
	/* Any flipped bit of the signed certifyInfo or of the signature. */
	certify(&e, KEY_FIXED, KEY_FIXED);
	for (i = 0; i < e.attest.len; i += 7) {
		e.attest.p[i] ^= 0x10;
		assert_int_not_equal(verify(&e, &ak_pub, &err), ZTM_TPM_OK);
		e.attest.p[i] ^= 0x10;
	}
	e.sig.p[e.sig.len - 3] ^= 1;
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_BAD_SIGNATURE);
	e.sig.p[e.sig.len - 3] ^= 1;
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_OK);
	/* Another credential (not the activated one): not this request. */
	e.cred[0] ^= 1;
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_QUALIFYING_DATA);
	e.cred[0] ^= 1;
	/* Signed by another key than the AK sent: the device key posing. */
	assert_int_equal(verify(&e, &e.key_pub, &err), ZTM_TPM_AK_UNSUITABLE);
	/* The key public area of another object than the certified one. */
	other = e;
	other.key_pub = ak_pub;
	assert_int_equal(verify(&other, &ak_pub, &err), ZTM_TPM_NAME_MISMATCH);
	/* A key that may be duplicated out of the TPM. */
	ztm_buf_free(&e.spki);
	certify(&e, KEY_EXPORT, KEY_EXPORT);
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_EXPORTABLE);
	ztm_buf_free(&e.spki);
	/* A software key (here: another key) in the request, a TPM key
	 * certified for it. */
	certify(&e, KEY_FIXED, KEY_EXPORT);
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_KEY_MISMATCH);
	ztm_buf_free(&e.spki);
	/* Truncated structures. */
	certify(&e, KEY_FIXED, KEY_FIXED);
	e.attest.len--;
	assert_int_not_equal(verify(&e, &ak_pub, &err), ZTM_TPM_OK);
	e.attest.len++;
	e.sig.len--;
	assert_int_equal(verify(&e, &ak_pub, &err), ZTM_TPM_MALFORMED);
	e.sig.len++;
	ak2 = ak_pub;
	ak2.len--;
	assert_int_equal(verify(&e, &ak2, &err), ZTM_TPM_MALFORMED);
	ak2.p[ak2.len] = 0;
	ztm_buf_free(&e.spki);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_activation),
	    cmocka_unit_test(test_foreign_ek),
	    cmocka_unit_test(test_certify_ok),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
