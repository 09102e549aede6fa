/* bootstrap.c - the host-made bootstrap certificate (ztm/bootstrap.h). */
#include "ztm/bootstrap.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ztm/batch.h"
#include "ztm/serial.h"

static const EVP_MD *sign_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL; /* pure EdDSA: no pre-hash */
	if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return -1;
	ok = X509_add_ext(x, ex, -1) == 1;
	X509_EXTENSION_free(ex);
	return ok ? 0 : -1;
}

static int set_serial(X509 *x, struct ztm_error *err)
{
	uint8_t s[ZTM_SERIAL_LEN];
	BIGNUM *bn;
	int ok;

	if (ztm_serial_new(s, err) != 0)
		return -1;
	bn = BN_bin2bn(s, sizeof(s), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : ztm_error_ossl(err, ZTM_E_CRYPTO, "bootstrap certificate serial");
}

X509 *ztm_bootstrap_cert(EVP_PKEY *key, const char *serial, const char *product, int64_t not_before,
                         int64_t not_after, struct ztm_error *err)
{
	char cn[ZTM_BOOTSTRAP_CN_MAX + 1];
	X509 *x = NULL;
	X509_NAME *n;

	if (key == NULL || serial == NULL || product == NULL || not_after <= not_before) {
		ztm_error_set(err, ZTM_E_USAGE, "bootstrap certificate: incomplete request");
		return NULL;
	}
	if (!ztm_record_valid_serial(serial) || !ztm_record_valid_name(product)) {
		ztm_error_set(err, ZTM_E_USAGE,
		              "bootstrap certificate: serial or product not valid");
		return NULL;
	}
	if (snprintf(cn, sizeof(cn), "%s-%s", product, serial) >= (int)sizeof(cn)) {
		ztm_error_set(err, ZTM_E_USAGE,
		              "bootstrap certificate: '%s-%s' is longer than %d characters (CN)",
		              product, serial, ZTM_BOOTSTRAP_CN_MAX);
		return NULL;
	}
	x = X509_new();
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1) {
		ztm_error_ossl(err, ZTM_E_NOMEM, "bootstrap certificate");
		goto fail;
	}
	if (set_serial(x, err) != 0)
		goto fail;
	/* One attribute per RDN, CN then serialNumber, as libztmdev writes
	 * them; serialNumber is a PrintableString (RFC 5280 X520SerialNumber),
	 * which the serial alphabet fits. */
	n = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_UTF8STRING,
	                               (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(n, NID_serialNumber, V_ASN1_PRINTABLESTRING,
	                               (const unsigned char *)serial, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) == NULL ||
	    X509_set_pubkey(x, key) != 1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, NID_ext_key_usage, "clientAuth") != 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "bootstrap certificate: building");
		goto fail;
	}
	if (X509_sign(x, key, sign_md(key)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "bootstrap certificate: signing");
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}
