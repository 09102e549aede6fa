/* x509_fixture.h - shared helpers for the X.509 engine tests: real keys,
 * a real self-signed root made with the OpenSSL X509 API (independent of
 * the code under test), and CSRs made with the X509_REQ API. Header-only so
 * each test program stays one file; every helper aborts the test on error.
 */
#ifndef ZTM_TEST_X509_FIXTURE_H
#define ZTM_TEST_X509_FIXTURE_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/buf.h"
#include "ztm/ca.h"

#define FX_UNUSED __attribute__((unused))

/* "P-256", "P-384", "P-192", "secp256k1", "ED25519", "RSA1024", "RSA2048",
 * "RSA3072", "RSA2048e3", "P-256-explicit". */
static FX_UNUSED EVP_PKEY *fx_key(const char *kind)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = NULL;
	OSSL_PARAM p[4];
	unsigned int e = 3;
	char curve[32]; /* referenced by p[] until generation */
	size_t bits;

	if (strcmp(kind, "ED25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (strncmp(kind, "RSA", 3) == 0) {
		bits = (size_t)strtoul(kind + 3, NULL, 10);
		c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		if (c == NULL || EVP_PKEY_keygen_init(c) != 1)
			goto out;
		p[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
		p[1] = strstr(kind, "e3") ? OSSL_PARAM_construct_uint(OSSL_PKEY_PARAM_RSA_E, &e)
		                          : OSSL_PARAM_construct_end();
		p[2] = OSSL_PARAM_construct_end();
	} else {
		int explicit_params = strstr(kind, "-explicit") != NULL;
		size_t cl =
		    explicit_params ? (size_t)(strstr(kind, "-explicit") - kind) : strlen(kind);
		snprintf(curve, sizeof(curve), "%.*s", (int)cl, kind);
		c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (c == NULL || EVP_PKEY_keygen_init(c) != 1)
			goto out;
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, curve, 0);
		/* CurveBall-style key: the curve written out as explicit
		 * parameters instead of its name. */
		p[1] = explicit_params ? OSSL_PARAM_construct_utf8_string(
		                             OSSL_PKEY_PARAM_EC_ENCODING, "explicit", 0)
		                       : OSSL_PARAM_construct_end();
		p[2] = OSSL_PARAM_construct_end();
	}
	if (EVP_PKEY_CTX_set_params(c, p) != 1 || EVP_PKEY_generate(c, &k) != 1)
		k = NULL;
out:
	EVP_PKEY_CTX_free(c);
	if (k == NULL) {
		fprintf(stderr, "fx_key %s failed\n", kind);
		abort();
	}
	return k;
}

static FX_UNUSED void fx_add_ext(X509 *issuer, X509 *subj, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;

	X509V3_set_ctx(&ctx, issuer, subj, NULL, NULL, 0);
	ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ex == NULL || X509_add_ext(subj, ex, -1) != 1)
		abort();
	X509_EXTENSION_free(ex);
}

/* A self-issued P-256-or-other certificate as DER into out (at most cap
 * bytes): subject = issuer = serialNumber SN-1, the given version (0 = v1,
 * 2 = v3), validity [nb, na] in Unix seconds, and extensions as NULL-ended
 * pairs {"shortName", "value", ...} (NULL: none). Returns the length. */
static FX_UNUSED size_t fx_self_issued_der(EVP_PKEY *key, long version, int64_t nb, int64_t na,
                                           const char *const *exts, uint8_t *out, size_t cap)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *p = out;
	size_t i;
	int len;

	if (x == NULL || n == NULL || X509_set_version(x, version) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 7) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
	                               (const unsigned char *)"SN-1", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		abort();
	for (i = 0; exts != NULL && exts[i] != NULL; i += 2)
		fx_add_ext(NULL, x, OBJ_txt2nid(exts[i]), exts[i + 1]);
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		abort();
	len = i2d_X509(x, NULL);
	if (len <= 0 || (size_t)len > cap || i2d_X509(x, &p) != len)
		abort();
	X509_NAME_free(n);
	X509_free(x);
	return (size_t)len;
}

/* A self-signed CA certificate. ca = 0 makes a non-CA (for refusal tests). */
static FX_UNUSED X509 *fx_root(EVP_PKEY *key, const char *cn, int ca, long days)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	if (x == NULL || n == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"ztm test", -1,
	                               -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_subject_name(x, n) != 1 || X509_set_issuer_name(x, n) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		abort();
	fx_add_ext(x, x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	fx_add_ext(x, x, NID_key_usage,
	           ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	fx_add_ext(x, x, NID_subject_key_identifier, "hash");
	if (X509_sign(x, key, md) <= 0)
		abort();
	X509_NAME_free(n);
	return x;
}

static FX_UNUSED struct ztm_ca *fx_ca(EVP_PKEY *key, X509 *cert, const struct ztm_ca_urls *urls)
{
	struct ztm_error e;
	struct ztm_ca *ca = ztm_ca_new("test", cert, key, urls, &e);

	if (ca == NULL) {
		fprintf(stderr, "fx_ca: %s\n", e.msg);
		abort();
	}
	return ca;
}

/* A CSR for key with subject CN=cn, optional SANs ("DNS:x,URI:y") and an
 * optional challengePassword; DER appended to out. */
static FX_UNUSED void fx_csr(EVP_PKEY *key, const char *cn, const char *san, const char *pw,
                             struct ztm_buf *out)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *der = NULL;
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();
	int len;

	if (r == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_REQ_set_subject_name(r, n) != 1 || X509_REQ_set_pubkey(r, key) != 1)
		abort();
	if (san != NULL) {
		X509V3_CTX ctx;
		X509_EXTENSION *ex;
		X509V3_set_ctx(&ctx, NULL, NULL, r, NULL, 0);
		ex = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, san);
		exts = sk_X509_EXTENSION_new_null();
		if (ex == NULL || exts == NULL || sk_X509_EXTENSION_push(exts, ex) == 0 ||
		    X509_REQ_add_extensions(r, exts) != 1)
			abort();
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (pw != NULL && X509_REQ_add1_attr_by_NID(r, NID_pkcs9_challengePassword, MBSTRING_UTF8,
	                                            (const unsigned char *)pw, -1) != 1)
		abort();
	if (X509_REQ_sign(r, key, md) <= 0)
		abort();
	len = i2d_X509_REQ(r, &der);
	if (len <= 0 || ztm_buf_append(out, der, (size_t)len) != 0)
		abort();
	OPENSSL_free(der);
	X509_NAME_free(n);
	X509_REQ_free(r);
}

/* The SubjectPublicKeyInfo DER of a key, appended to out. */
static FX_UNUSED void fx_spki(EVP_PKEY *key, struct ztm_buf *out)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0 || ztm_buf_append(out, der, (size_t)len) != 0)
		abort();
	OPENSSL_free(der);
}

#endif
