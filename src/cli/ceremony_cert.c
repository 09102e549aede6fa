/* ceremony_cert.c - the only place the ceremony builds certificates.
 *
 * Kept to one function on purpose: the general issuance engine (profiles +
 * pre-issuance lint) will take these over, and a single call site keeps that
 * seam narrow. Contents (docs/ceremony.md, "Certificate contents"):
 *   root : CA:TRUE critical, keyCertSign+cRLSign critical, SKI
 *   CA   : CA:TRUE pathlen:0 critical, keyCertSign+cRLSign critical, SKI, AKI, EKU
 *   leaf : CA:FALSE critical, digitalSignature critical, SKI, AKI, EKU
 * Serial: 0x5a then 16 CSPRNG bytes (DESIGN.md I2; positive, 17 octets).
 * Validity is inclusive (RFC 5280 4.1.2.5): notAfter = notBefore + life - 1 s.
 */
#include "ceremony.h"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <string.h>

#define SERIAL_PREFIX 0x5a

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct ztm_error *err)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "extension %s=%s", OBJ_nid2sn(nid), value);
	ok = X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	if (!ok)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "adding extension %s", OBJ_nid2sn(nid));
	return 0;
}

static int set_serial(X509 *x, struct ztm_error *err)
{
	uint8_t raw[17];
	BIGNUM *bn = NULL;
	int rc = -1;

	raw[0] = SERIAL_PREFIX;
	if (RAND_bytes(raw + 1, 16) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "drawing a serial number");
		goto out;
	}
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "setting the serial number");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

static int set_name(X509_NAME *n, const char *org, const char *cn, struct ztm_error *err)
{
	if ((org != NULL && org[0] != '\0' &&
	     X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
	                                0) != 1) ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1)
		return ztm_error_ossl(err, ZTM_E_USAGE, "subject O=%s, CN=%s",
		                      org != NULL ? org : "", cn);
	return 0;
}

static const EVP_MD *sign_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL; /* pure EdDSA: no pre-hash */
	if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

X509 *cer_cert_build(const struct cer_cert_req *r, struct ztm_error *err)
{
	X509 *x = NULL;
	X509V3_CTX ctx;
	X509_NAME *subj;
	time_t nb = r->not_before;
	time_t na = nb + (time_t)r->lifetime_days * 86400 - 1;
	int ok = 0;

	if (r->cn == NULL || r->cn[0] == '\0' || r->subject_key == NULL || r->issuer_key == NULL ||
	    r->lifetime_days <= 0 || (r->kind != CER_ROOT && r->issuer == NULL)) {
		ztm_error_set(err, ZTM_E_USAGE, "certificate request: incomplete");
		return NULL;
	}
	x = X509_new();
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x, err) != 0)
		goto out;
	subj = X509_get_subject_name(x);
	if (set_name(subj, r->org, r->cn, err) != 0)
		goto out;
	if (X509_set_issuer_name(x, r->kind == CER_ROOT ? subj
	                                                : X509_get_subject_name(r->issuer)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL ||
	    X509_set_pubkey(x, r->subject_key) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: setting issuer, validity or key", r->cn);
		goto out;
	}
	X509V3_set_ctx(&ctx, r->kind == CER_ROOT ? x : r->issuer, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	switch (r->kind) {
	case CER_ROOT:
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE", err) != 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err) != 0 ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash", err) != 0)
			goto out;
		break;
	case CER_CA:
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) !=
		        0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err) != 0 ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash", err) != 0 ||
		    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err) != 0)
			goto out;
		break;
	case CER_LEAF:
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err) != 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", err) != 0 ||
		    add_ext(x, &ctx, NID_subject_key_identifier, "hash", err) != 0 ||
		    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err) != 0)
			goto out;
		break;
	}
	/* EKU in a CA certificate constrains what its leaves may be used for
	 * (the de-facto "EKU chaining" that OpenSSL and browsers enforce). */
	if (r->eku != NULL && add_ext(x, &ctx, NID_ext_key_usage, r->eku, err) != 0)
		goto out;
	if (X509_sign(x, r->issuer_key, sign_md(r->issuer_key)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: signing the certificate", r->cn);
		goto out;
	}
	ok = 1;
out:
	if (!ok) {
		if (x == NULL)
			ztm_error_ossl(err, ZTM_E_NOMEM, "%s: new certificate", r->cn);
		X509_free(x);
		return NULL;
	}
	return x;
}
