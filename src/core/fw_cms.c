/* fw_cms.c - the CMS form of a firmware signature (docs/firmware-manifest.md
 * "The CMS form"): a detached SignedData built from the image's digest
 * alone, with OpenSSL's CMS API.
 *
 * Why CMS_PARTIAL: CMS_sign would hash the content itself, so the image
 * would have to pass through ztmd. With CMS_PARTIAL the SignerInfo is
 * left unsigned; we add messageDigest (the submitted SHA-256), contentType,
 * signingTime and the claims as signed attributes, and CMS_SignerInfo_sign
 * signs the DER of the attribute set (RFC 5652 §5.4), which is all a
 * verifier checks the content against. No signature math of our own. */
#include "ztm/firmware.h"

#include <openssl/cms.h>
#include <openssl/objects.h>
#include <string.h>
#include <time.h>

#include "mdcache.h"

/* id-aa-ztmFirmwareClaims as an ASN1_OBJECT (created once per call: cheap,
 * and no global state). */
static ASN1_OBJECT *claims_oid(void)
{
	return OBJ_txt2obj(ZTM_FW_OID_CLAIMS_TEXT, 1);
}

int ztm_fw_cms_sign(const struct ztm_fw_claims *c, EVP_PKEY *key, X509 *signer, X509 *const *chain,
                    size_t n_chain, struct ztm_buf *out, struct ztm_error *err)
{
	const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	ASN1_OBJECT *oid = NULL, *data = OBJ_nid2obj(NID_pkcs7_data);
	ASN1_TIME *when = NULL;
	struct ztm_buf claims;
	unsigned char *der = NULL;
	size_t i, start = out->len;
	int n, rc = -1;

	ztm_buf_init(&claims, 1024);
	if (key == NULL || signer == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return ztm_error_set(err, ZTM_E_WEAKKEY,
		                     "firmware CMS: signer keys are P-256 only");
	if (ztm_fw_claims_encode(c, &claims, err) != 0)
		goto out;
	if ((oid = claims_oid()) == NULL || data == NULL ||
	    (when = ASN1_TIME_set(NULL, (time_t)c->signed_at)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware CMS: attributes");
		goto out;
	}
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    (si = CMS_add1_signer(cms, signer, key, ztm_md_sha256(), flags)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware CMS: signer");
		goto out;
	}
	for (i = 0; i < n_chain; i++)
		if (CMS_add1_cert(cms, chain[i]) != 1) {
			ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware CMS: chain");
			goto out;
		}
	/* RFC 5652 §5.3: contentType and messageDigest are required whenever
	 * signed attributes are present; the DER of the SET sorts them. */
	if (CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType, V_ASN1_OBJECT, data, -1) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, c->digest,
	                                (int)sizeof(c->digest)) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, when->type, when, -1) != 1 ||
	    CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_OCTET_STRING, claims.data,
	                                (int)claims.len) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware CMS: signed attributes");
		goto out;
	}
	if (CMS_SignerInfo_sign(si) != 1 || (n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware CMS: signing");
		goto out;
	}
	if (ztm_buf_append(out, der, (size_t)n) != 0) {
		ztm_error_set(err, ZTM_E_TOOBIG, "firmware CMS: %d bytes do not fit", n);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		out->len = start;
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	ASN1_TIME_free(when);
	ASN1_OBJECT_free(oid);
	ztm_buf_free(&claims);
	return rc;
}
