/* p12.c - the key-injection bundle (ztm/p12.h). */
#include "ztm/p12.h"

#include <openssl/pkcs12.h>
#include <string.h>

/* The subject CN of x as its friendlyName (PKCS12_add_cert writes the
 * alias); a certificate without one keeps none. */
static int set_alias(X509 *x)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	const ASN1_STRING *v;

	if (i < 0)
		return 0;
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	return X509_alias_set1(x, ASN1_STRING_get0_data(v), ASN1_STRING_length(v)) == 1 ? 0 : -1;
}

/* Default-fail read-back: the bundle must open with pass (MAC first) and
 * give back exactly key, cert and n_chain certificates. */
static int check_bundle(const struct ztm_buf *der, EVP_PKEY *key, X509 *cert, int n_chain,
                        const char *pass, struct ztm_error *err)
{
	const unsigned char *p = der->data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)der->len);
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;
	int rc = -1;

	if (p12 == NULL || p != der->data + der->len) {
		ztm_error_ossl(err, ZTM_E_INTERNAL, "bundle: does not decode");
		goto out;
	}
	if (PKCS12_verify_mac(p12, pass, -1) != 1 || PKCS12_parse(p12, pass, &k, &c, &ca) != 1) {
		ztm_error_ossl(err, ZTM_E_INTERNAL, "bundle: does not open with its passphrase");
		goto out;
	}
	/* PKCS12_parse leaves ca NULL when there is no CA certificate. */
	if (k == NULL || c == NULL || EVP_PKEY_eq(k, key) != 1 || X509_cmp(c, cert) != 0 ||
	    (ca != NULL ? sk_X509_num(ca) : 0) != n_chain) {
		ztm_error_set(err, ZTM_E_INTERNAL, "bundle: does not read back as written");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k); /* frees (and clears) the private key read back */
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

int ztm_p12_bundle(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *name,
                   const char *pass, struct ztm_buf *out, struct ztm_error *err)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	struct ztm_buf tmp;
	int i, n, rc = -1;

	ztm_buf_init(&tmp, 0);
	if (key == NULL || cert == NULL || name == NULL || pass == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "bundle: incomplete request");
		goto out;
	}
	if (strlen(pass) < ZTM_P12_PASS_MIN) {
		ztm_error_set(err, ZTM_E_POLICY, "bundle passphrase shorter than %d characters",
		              ZTM_P12_PASS_MIN);
		goto out;
	}
	if (cas == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "bundle");
		goto out;
	}
	/* Copies: the aliases are ours to set, not the caller's. */
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *c = X509_dup(sk_X509_value(chain, i));
		if (c == NULL || set_alias(c) != 0 || sk_X509_push(cas, c) <= 0) {
			X509_free(c);
			ztm_error_ossl(err, ZTM_E_NOMEM, "bundle: chain");
			goto out;
		}
	}
	/* Explicit ciphers (PBES2 with AES-256-CBC for both bags) rather than
	 * whatever the library's default is this year; mac_iter -1 leaves the
	 * MAC to PKCS12_set_mac below, where the digest can be named. */
	p12 = PKCS12_create_ex(pass, name, key, cert, cas, NID_aes_256_cbc, NID_aes_256_cbc,
	                       ZTM_P12_ITER, -1, 0, NULL, NULL);
	if (p12 == NULL ||
	    PKCS12_set_mac(p12, pass, -1, NULL, 0, ZTM_P12_ITER, EVP_sha256()) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "bundle: PKCS#12");
		goto out;
	}
	n = i2d_PKCS12(p12, &der);
	if (n <= 0 || ztm_buf_append(&tmp, der, (size_t)n) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "bundle: encoding");
		goto out;
	}
	if (check_bundle(&tmp, key, cert, sk_X509_num(cas), pass, err) != 0)
		goto out;
	if (ztm_buf_append(out, tmp.data, tmp.len) != 0) {
		ztm_error_set(err, ZTM_E_TOOBIG, "bundle: %zu bytes do not fit", tmp.len);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	ztm_buf_free(&tmp);
	PKCS12_free(p12);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}
