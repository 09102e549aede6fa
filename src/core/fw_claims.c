/* fw_claims.c - the firmware claims as CBOR and the COSE_Sign1 manifest
 * (docs/firmware-manifest.md), encoded with libcbor.
 *
 * Why libcbor and not our own encoder: it encodes exactly the item tree it
 * is given, definite lengths and all, so the output is deterministic
 * (RFC 8949 §4.2.1) as long as the tree is: every integer is built at its
 * shortest width (cbor_uint below), map keys are added in ascending order,
 * and nothing indefinite, tagged (bar COSE's 18) or floating is ever built.
 * The unit test decodes the bytes back with libcbor and compares them with a
 * fixed vector. */
#include "ztm/firmware.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <string.h>

#include "mdcache.h"
#include "ztm/str.h"

int ztm_fw_channel_parse(const char *name, enum ztm_fw_channel *out)
{
	if (name != NULL && strcmp(name, "production") == 0)
		*out = ZTM_FW_PRODUCTION;
	else if (name != NULL && strcmp(name, "test") == 0)
		*out = ZTM_FW_TEST;
	else
		return -1;
	return 0;
}

const char *ztm_fw_channel_name(enum ztm_fw_channel c)
{
	return c == ZTM_FW_PRODUCTION ? "production" : c == ZTM_FW_TEST ? "test" : "unknown";
}

int ztm_fw_version_valid(const char *v)
{
	size_t i, n = v != NULL ? strlen(v) : 0;

	if (n == 0 || n > ZTM_FW_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || strchr("._-+~", ch) != NULL))
			return 0;
	}
	return 1;
}

int ztm_fw_claims_check(const struct ztm_fw_claims *c, struct ztm_error *err)
{
	size_t pl = strnlen(c->product, sizeof(c->product));

	if (pl == 0 || pl > ZTM_FW_NAME_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "firmware: product must be 1-64 bytes");
	if (!ztm_fw_version_valid(c->version))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "firmware: version must be 1-64 of A-Z a-z 0-9 . _ - + ~");
	if (c->security_version > ZTM_FW_SVN_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "firmware: security_version must be 0..4294967295");
	if (c->size < 1 || c->size > ZTM_FW_SIZE_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "firmware: size must be 1..2^40 bytes");
	if (c->channel != ZTM_FW_PRODUCTION && c->channel != ZTM_FW_TEST)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "firmware: channel must be production or test");
	return 0;
}

/* --- building the tree ---------------------------------------------------- */

/* An unsigned integer at its shortest width (RFC 8949 §4.2.1: "preferred
 * serialization"; libcbor writes values < 24 inline at any width). */
static cbor_item_t *cbor_uint(uint64_t v)
{
	if (v <= 0xff)
		return cbor_build_uint8((uint8_t)v);
	if (v <= 0xffff)
		return cbor_build_uint16((uint16_t)v);
	if (v <= 0xffffffffu)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

/* A small negative integer -1 - v (COSE algorithm identifiers). */
static cbor_item_t *cbor_neg(uint8_t v)
{
	return cbor_build_negint8(v);
}

/* Adds key -> value to map, taking both references; NULLs (a failed
 * build) make it fail and are not leaked. */
static int map_put(cbor_item_t *map, uint64_t key, cbor_item_t *value)
{
	cbor_item_t *k = cbor_uint(key);
	int ok = k != NULL && value != NULL &&
	         cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});

	if (k != NULL)
		cbor_decref(&k);
	if (value != NULL)
		cbor_decref(&value);
	return ok ? 0 : -1;
}

static int array_put(cbor_item_t *a, cbor_item_t *v)
{
	int ok = v != NULL && cbor_array_push(a, v);

	if (v != NULL)
		cbor_decref(&v);
	return ok ? 0 : -1;
}

static int serialize(cbor_item_t *item, struct ztm_buf *out, const char *what,
                     struct ztm_error *err)
{
	unsigned char *p = NULL;
	size_t cap = 0, n;
	int rc;

	n = cbor_serialize_alloc(item, &p, &cap);
	if (n == 0 || p == NULL) {
		free(p);
		return ztm_error_set(err, ZTM_E_NOMEM, "firmware: encoding the %s", what);
	}
	rc = ztm_buf_append(out, p, n);
	free(p);
	if (rc != 0)
		return ztm_error_set(err, ZTM_E_TOOBIG, "firmware: the %s does not fit", what);
	return 0;
}

int ztm_fw_claims_encode(const struct ztm_fw_claims *c, struct ztm_buf *out, struct ztm_error *err)
{
	cbor_item_t *m;
	int rc = -1;

	if (ztm_fw_claims_check(c, err) != 0)
		return -1;
	if ((m = cbor_new_definite_map(9)) == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "firmware: claims");
	/* Keys in ascending order: the encoding is the order of addition. */
	if (map_put(m, 1, cbor_build_string(c->product)) != 0 ||
	    map_put(m, 2, cbor_build_string(c->version)) != 0 ||
	    map_put(m, 3, cbor_uint(c->security_version)) != 0 ||
	    map_put(m, 4, cbor_uint(c->size)) != 0 ||
	    map_put(m, 5, cbor_neg(15)) != 0 /* -16: SHA-256 */ ||
	    map_put(m, 6, cbor_build_bytestring(c->digest, sizeof(c->digest))) != 0 ||
	    map_put(m, 7, cbor_uint((uint64_t)c->channel)) != 0 ||
	    map_put(m, 8, cbor_uint(c->release)) != 0 ||
	    map_put(m, 9, cbor_uint(c->signed_at)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "firmware: claims");
		goto out;
	}
	rc = serialize(m, out, "claims", err);
out:
	cbor_decref(&m);
	return rc;
}

/* --- COSE_Sign1 ------------------------------------------------------------ */

static cbor_item_t *cert_bstr(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	cbor_item_t *b = n > 0 ? cbor_build_bytestring(der, (size_t)n) : NULL;

	OPENSSL_free(der);
	return b;
}

/* The protected header {1: -7, 3: content type, 33: [signer, chain...]}. */
static int protected_header(X509 *signer, X509 *const *chain, size_t n_chain, struct ztm_buf *out,
                            struct ztm_error *err)
{
	cbor_item_t *m = cbor_new_definite_map(3), *x5 = cbor_new_definite_array(1 + n_chain);
	size_t i;
	int rc = -1;

	if (m == NULL || x5 == NULL || array_put(x5, cert_bstr(signer)) != 0)
		goto fail;
	for (i = 0; i < n_chain; i++)
		if (array_put(x5, cert_bstr(chain[i])) != 0)
			goto fail;
	cbor_incref(x5);
	if (map_put(m, 1, cbor_neg(6)) != 0 /* -7: ES256 */ ||
	    map_put(m, 3, cbor_build_string(ZTM_FW_CONTENT_TYPE)) != 0 || map_put(m, 33, x5) != 0)
		goto fail;
	rc = serialize(m, out, "manifest header", err);
	goto out;
fail:
	ztm_error_set(err, ZTM_E_NOMEM, "firmware: manifest header");
out:
	if (x5 != NULL)
		cbor_decref(&x5);
	if (m != NULL)
		cbor_decref(&m);
	return rc;
}

/* ECDSA P-256 over SHA-256 of tbs, as r || s of 32 bytes each
 * (RFC 9053 §2.1), from OpenSSL's DER signature. */
static int sign_es256(EVP_PKEY *key, const struct ztm_buf *tbs, uint8_t rs[64],
                      struct ztm_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	size_t n = sizeof(der);
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	int rc = -1;

	if (md == NULL || EVP_DigestSignInit(md, NULL, ztm_md_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &n, tbs->data, tbs->len) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)n)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware: signing the manifest");
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware: manifest signature size");
		goto out;
	}
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

static int p256_key(EVP_PKEY *key, struct ztm_error *err)
{
	char group[32];
	size_t n = 0;

	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   &n) != 1 ||
	    strcmp(group, "prime256v1") != 0)
		return ztm_error_set(err, ZTM_E_WEAKKEY, "firmware: signer keys are P-256 only");
	return 0;
}

int ztm_fw_manifest_sign(const struct ztm_fw_claims *c, EVP_PKEY *key, X509 *signer,
                         X509 *const *chain, size_t n_chain, struct ztm_buf *out,
                         struct ztm_error *err)
{
	static const uint8_t empty[1] = {0}; /* h'': no memcpy from NULL */
	struct ztm_buf prot, payload, tbs;
	cbor_item_t *sigst = NULL, *cose = NULL, *tagged = NULL;
	uint8_t rs[64];
	size_t start = out->len;
	int rc = -1;

	ztm_buf_init(&prot, ZTM_FW_MANIFEST_MAX);
	ztm_buf_init(&payload, 1024);
	ztm_buf_init(&tbs, ZTM_FW_MANIFEST_MAX);
	if (p256_key(key, err) != 0 || signer == NULL ||
	    protected_header(signer, chain, n_chain, &prot, err) != 0 ||
	    ztm_fw_claims_encode(c, &payload, err) != 0)
		goto out;
	/* RFC 9052 §4.4: Sig_structure1 = ["Signature1", protected, h'', payload]. */
	if ((sigst = cbor_new_definite_array(4)) == NULL ||
	    array_put(sigst, cbor_build_string("Signature1")) != 0 ||
	    array_put(sigst, cbor_build_bytestring(prot.data, prot.len)) != 0 ||
	    array_put(sigst, cbor_build_bytestring(empty, 0)) != 0 ||
	    array_put(sigst, cbor_build_bytestring(payload.data, payload.len)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "firmware: Sig_structure");
		goto out;
	}
	if (serialize(sigst, &tbs, "Sig_structure", err) != 0 ||
	    sign_es256(key, &tbs, rs, err) != 0)
		goto out;
	if ((cose = cbor_new_definite_array(4)) == NULL ||
	    array_put(cose, cbor_build_bytestring(prot.data, prot.len)) != 0 ||
	    array_put(cose, cbor_new_definite_map(0)) != 0 ||
	    array_put(cose, cbor_build_bytestring(payload.data, payload.len)) != 0 ||
	    array_put(cose, cbor_build_bytestring(rs, sizeof(rs))) != 0 ||
	    (tagged = cbor_build_tag(18, cose)) == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "firmware: COSE_Sign1");
		goto out;
	}
	if (serialize(tagged, out, "manifest", err) != 0)
		goto out;
	if (out->len - start > ZTM_FW_MANIFEST_MAX) {
		ztm_error_set(err, ZTM_E_TOOBIG, "firmware: manifest of %zu bytes exceeds 16 KiB",
		              out->len - start);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		out->len = start;
	if (tagged != NULL)
		cbor_decref(&tagged);
	if (cose != NULL)
		cbor_decref(&cose);
	if (sigst != NULL)
		cbor_decref(&sigst);
	ztm_buf_free(&prot);
	ztm_buf_free(&payload);
	ztm_buf_free(&tbs);
	return rc;
}
