/* voucher.c - ownership vouchers: the JSON body and its CMS signature
 * (docs/vouchers.md). The JSON is written by jansson, so a serial with a
 * quote or backslash is escaped correctly (and then refused by the device's
 * strict reader, which is the right place to refuse it). */
#include "ztm/voucher.h"

#include <jansson.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <string.h>
#include <time.h>

#include "ztm/str.h"

/* RFC 3339 in UTC with whole seconds, the only form a device accepts. */
static int rfc3339(int64_t t, char out[21])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return -1;
	return 0;
}

int ztm_voucher_json(const struct ztm_voucher *v, struct ztm_buf *out, struct ztm_error *err)
{
	char created[21], expires[21];
	struct ztm_buf b64;
	json_t *inner = NULL, *outer = NULL;
	char *s = NULL;
	int rc = -1;

	ztm_buf_init(&b64, 0);
	if (v->expires_on <= v->created_on || rfc3339(v->created_on, created) != 0 ||
	    rfc3339(v->expires_on, expires) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "voucher: expires-on must follow created-on");
		goto out;
	}
	if (v->pinned_len == 0 || ztm_b64_encode(v->pinned, v->pinned_len, 0, &b64) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "voucher: no pinned-domain-cert");
		goto out;
	}
	/* The member order is the table's; the reader does not depend on it. */
	inner = json_object();
	outer = json_object();
	if (inner == NULL || outer == NULL ||
	    json_object_set_new(inner, "created-on", json_string(created)) != 0 ||
	    json_object_set_new(inner, "expires-on", json_string(expires)) != 0 ||
	    json_object_set_new(inner, "assertion", json_string("verified")) != 0 ||
	    json_object_set_new(inner, "serial-number", json_string(v->serial)) != 0 ||
	    json_object_set_new(inner, "pinned-domain-cert", json_string(ztm_buf_cstr(&b64))) !=
	        0 ||
	    json_object_set_new(inner, "domain-cert-revocation-checks", json_false()) != 0 ||
	    json_object_set_new(inner, "ztm-voucher:device-spki-sha256",
	                        json_string(v->spki_sha256)) != 0 ||
	    json_object_set(outer, "ietf-voucher:voucher", inner) != 0 ||
	    (s = json_dumps(outer, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "voucher: encoding JSON");
		goto out;
	}
	if (ztm_buf_append(out, s, strlen(s)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "voucher: JSON too large");
		goto out;
	}
	rc = 0;
out:
	free(s);
	json_decref(inner);
	json_decref(outer);
	ztm_buf_free(&b64);
	return rc;
}

int ztm_voucher_sign(const uint8_t *json, size_t len, X509 *cert, EVP_PKEY *key,
                     STACK_OF(X509) * chain, struct ztm_buf *out, struct ztm_error *err)
{
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = NULL;
	ASN1_OBJECT *ct = NULL;
	BIO *in = NULL;
	unsigned char *der = NULL;
	int n, rc = -1;

	if (len == 0 || len > INT32_MAX) {
		ztm_error_set(err, ZTM_E_USAGE, "voucher: empty or too large");
		goto out;
	}
	in = BIO_new_mem_buf(json, (int)len);
	ct = OBJ_txt2obj(ZTM_OID_CT_JSON_VOUCHER, 1);
	if (in == NULL || ct == NULL) {
		ztm_error_ossl(err, ZTM_E_NOMEM, "voucher");
		goto out;
	}
	/* Partial, so the eContentType is set before the signature covers it
	 * (the contentType signed attribute, RFC 5652 §11.1, is written at
	 * CMS_final). */
	cms = CMS_sign(NULL, NULL, chain, NULL, flags);
	if (cms == NULL || CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) == NULL ||
	    CMS_set1_eContentType(cms, ct) != 1 || CMS_final(cms, in, NULL, flags) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "voucher: CMS signature");
		goto out;
	}
	n = i2d_CMS_ContentInfo(cms, &der);
	if (n <= 0 || ztm_buf_append(out, der, (size_t)n) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "voucher: encoding CMS");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	ASN1_OBJECT_free(ct);
	BIO_free(in);
	ERR_clear_error();
	return rc;
}
