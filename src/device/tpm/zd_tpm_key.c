/* zd_tpm_key.c - the device key of `ztm-device init --key tpm` in the
 * attestation (docs/attestation.md, docs/tpm.md): its TSS2 PRIVATE KEY blob
 * loaded with ESAPI for TPM2_Certify, the qualifyingData of the request, and
 * the ZtmTpmEvidence DER that rides in the CSR.
 *
 * The blob is what the tpm2-openssl provider wrote:
 *   TPMKey ::= SEQUENCE {
 *     type      OBJECT IDENTIFIER (2.23.133.10.1.3, loadable key),
 *     emptyAuth [0] EXPLICIT BOOLEAN OPTIONAL,
 *     parent    INTEGER,        -- TPM_RH_OWNER (0x40000001) or a persistent handle
 *     pubkey    OCTET STRING,   -- TPM2B_PUBLIC
 *     privkey   OCTET STRING }  -- TPM2B_PRIVATE
 * Its parent TPM_RH_OWNER means "the owner hierarchy's primary made from the
 * provider's ECC storage template" (below): primary keys are derived from
 * the hierarchy seed and the template alone, so the same template gives the
 * same parent, and TPM2_Load accepts the blob under it. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "zd_tpm.h"
#include "zd_tpm_int.h"

#define PEM_MAX (16 * 1024)

static int fail(char *err, size_t errsize, const char *what, TSS2_RC rc)
{
	snprintf(err, errsize, "TPM: %s: %s", what, rc != 0 ? Tss2_RC_Decode(rc) : "failed");
	return -1;
}

/* One DER TLV at *p (of n bytes left): tag, then its value into v/vlen;
 * short and long lengths up to 2 bytes. */
static int tlv(const uint8_t **p, size_t *n, uint8_t tag, const uint8_t **v, size_t *vlen)
{
	size_t len, hdr = 2;

	if (*n < 2 || (*p)[0] != tag)
		return -1;
	len = (*p)[1];
	if (len == 0x81) {
		if (*n < 3)
			return -1;
		len = (*p)[2];
		hdr = 3;
	} else if (len == 0x82) {
		if (*n < 4)
			return -1;
		len = ((size_t)(*p)[2] << 8) | (*p)[3];
		hdr = 4;
	} else if (len > 0x7f) {
		return -1;
	}
	if (*n - hdr < len)
		return -1;
	*v = *p + hdr;
	*vlen = len;
	*p += hdr + len;
	*n -= hdr + len;
	return 0;
}

static const uint8_t oid_loadable[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x03}; /* 2.23.133.10.1.3 */

/* The blob file's public and private areas and parent handle. */
static int read_blob(const char *path, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv, uint32_t *parent,
                     char *err, size_t errsize)
{
	BIO *in = BIO_new_file(path, "r");
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	const uint8_t *p, *seq, *v;
	size_t n, slen, vlen, i;
	int ret = -1;

	if (in == NULL || PEM_read_bio(in, &name, &header, &der, &dlen) != 1 ||
	    strcmp(name, "TSS2 PRIVATE KEY") != 0 || dlen <= 0 || dlen > PEM_MAX) {
		snprintf(err, errsize, "TPM key %s: not a TSS2 PRIVATE KEY PEM file", path);
		goto out;
	}
	p = der;
	n = (size_t)dlen;
	if (tlv(&p, &n, 0x30, &seq, &slen) != 0 || n != 0)
		goto bad;
	p = seq;
	n = slen;
	if (tlv(&p, &n, 0x06, &v, &vlen) != 0 || vlen != sizeof(oid_loadable) ||
	    memcmp(v, oid_loadable, vlen) != 0)
		goto bad;
	if (n > 0 && p[0] == 0xa0 && tlv(&p, &n, 0xa0, &v, &vlen) != 0)
		goto bad;
	if (tlv(&p, &n, 0x02, &v, &vlen) != 0 || vlen == 0 || vlen > 5)
		goto bad;
	*parent = 0;
	for (i = 0; i < vlen; i++)
		*parent = (*parent << 8) | v[i];
	if (tlv(&p, &n, 0x04, &v, &vlen) != 0)
		goto bad;
	i = 0;
	memset(pub, 0, sizeof(*pub));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(v, vlen, &i, pub) != TSS2_RC_SUCCESS || i != vlen)
		goto bad;
	if (tlv(&p, &n, 0x04, &v, &vlen) != 0 || n != 0)
		goto bad;
	i = 0;
	memset(priv, 0, sizeof(*priv));
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(v, vlen, &i, priv) != TSS2_RC_SUCCESS || i != vlen)
		goto bad;
	ret = 0;
	goto out;
bad:
	snprintf(err, errsize, "TPM key %s: malformed TSS2 key", path);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(in);
	return ret;
}

int zd_tpm_blob_public(const char *blob_path, struct zd_tpm_blob *key_public, char *err,
                       size_t errsize)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	uint32_t parent;
	size_t off = 0;
	int rc = read_blob(blob_path, &pub, &priv, &parent, err, errsize);

	OPENSSL_cleanse(&priv, sizeof(priv));
	if (rc != 0)
		return -1;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, key_public->p, sizeof(key_public->p), &off) !=
	    TSS2_RC_SUCCESS)
		return fail(err, errsize, "key public area", 0);
	key_public->len = off;
	return 0;
}

/* The tpm2-openssl provider's storage primary for parent TPM_RH_OWNER. */
static int owner_primary(ESYS_CONTEXT *esys, ESYS_TR *out, char *err, size_t errsize)
{
	TPM2B_PUBLIC tmpl;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TSS2_RC rc;

	memset(&tmpl, 0, sizeof(tmpl));
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
	                                   TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA |
	                                   TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	                                   TPMA_OBJECT_SENSITIVEDATAORIGIN;
	tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	tmpl.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 128;
	tmpl.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	rc =
	    Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
	                       &sens, &tmpl, &outside, &pcrs, out, NULL, NULL, NULL, NULL);
	return rc == TSS2_RC_SUCCESS ? 0 : fail(err, errsize, "storage primary", rc);
}

int zd_tpm_certify_blob(struct zd_tpm *t, const char *blob_path, const uint8_t *qual,
                        size_t qual_len, struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                        struct zd_tpm_blob *sig, char *err, size_t errsize)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	ESYS_TR parent = ESYS_TR_NONE, key = ESYS_TR_NONE;
	uint32_t parent_handle = 0;
	int own_parent = 0, ret = -1;
	TSS2_RC rc;

	if (read_blob(blob_path, &pub, &priv, &parent_handle, err, errsize) != 0)
		return -1;
	if (parent_handle == TPM2_RH_OWNER || parent_handle == 0) {
		if (owner_primary(t->esys, &parent, err, errsize) != 0)
			goto out;
		own_parent = 1;
	} else {
		rc = Esys_TR_FromTPMPublic(t->esys, parent_handle, ESYS_TR_NONE, ESYS_TR_NONE,
		                           ESYS_TR_NONE, &parent);
		if (rc != TSS2_RC_SUCCESS) {
			fail(err, errsize, "key parent", rc);
			goto out;
		}
	}
	rc = Esys_Load(t->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub,
	               &key);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "loading the device key (another TPM's blob?)", rc);
		goto out;
	}
	ret = zd_tpm_certify_tr(t, key, qual, qual_len, key_public, attest, sig, err, errsize);
out:
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (own_parent)
		Esys_FlushContext(t->esys, parent);
	else if (parent != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &parent);
	OPENSSL_cleanse(&priv, sizeof(priv));
	return ret;
}

/* The SubjectPublicKeyInfo DER of an ECC TPM2B_PUBLIC (P-256, P-384), as
 * OpenSSL writes it (named curve, uncompressed point): what the CSR holds. */
static int ecc_spki(const struct zd_tpm_blob *key_public, unsigned char **der, int *len)
{
	TPM2B_PUBLIC pub;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	uint8_t point[1 + 2 * TPM2_MAX_ECC_KEY_BYTES];
	const TPMS_ECC_POINT *q;
	const char *curve;
	size_t off = 0, cl;
	int ok = 0;

	memset(&pub, 0, sizeof(pub));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(key_public->p, key_public->len, &off, &pub) !=
	        TSS2_RC_SUCCESS ||
	    pub.publicArea.type != TPM2_ALG_ECC)
		return -1;
	switch (pub.publicArea.parameters.eccDetail.curveID) {
	case TPM2_ECC_NIST_P256:
		curve = "P-256";
		cl = 32;
		break;
	case TPM2_ECC_NIST_P384:
		curve = "P-384";
		cl = 48;
		break;
	default:
		return -1;
	}
	q = &pub.publicArea.unique.ecc;
	if (q->x.size != cl || q->y.size != cl)
		return -1;
	point[0] = 0x04;
	memcpy(point + 1, q->x.buffer, cl);
	memcpy(point + 1 + cl, q->y.buffer, cl);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * cl) !=
	        1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*der = NULL;
	*len = i2d_PUBKEY(pk, der);
	ok = *len > 0;
out:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok ? 0 : -1;
}

int zd_tpm_qualifying_data(const uint8_t cred[32], const struct zd_tpm_blob *key_public,
                           uint8_t out[32], char *err, size_t errsize)
{
	static const char label[] = "ztm-tpm-attest-v1"; /* with its NUL */
	unsigned char *spki = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned len = 0;
	int slen = 0, ok;

	if (ecc_spki(key_public, &spki, &slen) != 0) {
		snprintf(err, errsize, "TPM: the device key is not an ECC P-256/P-384 key");
		return -1;
	}
	md = EVP_MD_CTX_new();
	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(md, label, sizeof(label)) == 1 &&
	     EVP_DigestUpdate(md, cred, 32) == 1 && EVP_DigestUpdate(md, spki, (size_t)slen) == 1 &&
	     EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
	EVP_MD_CTX_free(md);
	OPENSSL_free(spki);
	if (!ok)
		snprintf(err, errsize, "TPM: qualifyingData: SHA-256 failed");
	return ok ? 0 : -1;
}

/* A DER length at p (returns its size). */
static size_t der_len(uint8_t *p, size_t len)
{
	if (len < 0x80) {
		p[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		p[0] = 0x81;
		p[1] = (uint8_t)len;
		return 2;
	}
	p[0] = 0x82;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	return 3;
}

int zd_tpm_evidence(const uint8_t cred[32], const struct zd_tpm_blob *ak_public,
                    const struct zd_tpm_blob *key_public, const struct zd_tpm_blob *attest,
                    const struct zd_tpm_blob *sig, struct zd_tpm_blob *out, char *err,
                    size_t errsize)
{
	const uint8_t *parts[5] = {cred, ak_public->p, key_public->p, attest->p, sig->p};
	const size_t lens[5] = {32, ak_public->len, key_public->len, attest->len, sig->len};
	uint8_t body[ZD_TPM_BLOB_MAX];
	size_t n = 0, i, hdr;

	/* version INTEGER 1 */
	body[n++] = 0x02;
	body[n++] = 0x01;
	body[n++] = 0x01;
	for (i = 0; i < 5; i++) {
		if (lens[i] > 0xffff || n + 4 + lens[i] > sizeof(body))
			goto big;
		body[n++] = 0x04;
		n += der_len(body + n, lens[i]);
		memcpy(body + n, parts[i], lens[i]);
		n += lens[i];
	}
	if (n + 4 > sizeof(out->p))
		goto big;
	out->p[0] = 0x30;
	hdr = 1 + der_len(out->p + 1, n);
	memcpy(out->p + hdr, body, n);
	out->len = hdr + n;
	OPENSSL_cleanse(body, sizeof(body));
	return 0;
big:
	OPENSSL_cleanse(body, sizeof(body));
	snprintf(err, errsize, "TPM: the evidence exceeds %d bytes", ZD_TPM_BLOB_MAX);
	return -1;
}
