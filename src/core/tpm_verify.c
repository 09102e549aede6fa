/* tpm_verify.c - verifies a TPM2_Certify of the request's key by an
 * attestation key (docs/attestation.md, "What the server checks").
 *
 * Default-fail (STYLE.md 6): the verdict starts as MALFORMED and only the
 * end of the sequence sets OK. Lengths are checked exactly before any
 * crypto; the qualifyingData is compared in constant time. Whether the AK
 * itself belongs to a genuine TPM is not decided here: that is credential
 * activation (the caller finds the challenge by the credential and checks
 * the AK name it was made for). */
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "tpm_attest_int.h"
#include "ztm/tpm.h"

/* The TPMT_SIGNATURE sig over msg with the AK's key: ECDSA (r, s as DER
 * ECDSA-Sig-Value) or RSASSA-PKCS1-v1_5, with a SHA-2 digest. */
static int sig_verify(EVP_PKEY *ak, const TPMT_SIGNATURE *sig, struct ztm_slice msg,
                      struct ztm_error *err)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	const uint8_t *sp = NULL;
	const EVP_MD *md = NULL;
	size_t sl = 0;
	int dl, rc = -1;

	if (sig->sigAlg == TPM2_ALG_ECDSA && EVP_PKEY_is_a(ak, "EC")) {
		const TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;
		md = ztm_tpm_md(e->hash);
		es = ECDSA_SIG_new();
		r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
		s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
		if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
			BN_free(r);
			BN_free(s);
			ztm_error_set(err, ZTM_E_NOMEM, "TPM signature");
			goto out;
		}
		dl = i2d_ECDSA_SIG(es, &der);
		if (dl <= 0) {
			ztm_error_ossl(err, ZTM_E_PARSE, "TPM ECDSA signature");
			goto out;
		}
		sp = der;
		sl = (size_t)dl;
	} else if (sig->sigAlg == TPM2_ALG_RSASSA && EVP_PKEY_is_a(ak, "RSA")) {
		md = ztm_tpm_md(sig->signature.rsassa.hash);
		sp = sig->signature.rsassa.sig.buffer;
		sl = sig->signature.rsassa.sig.size;
	} else {
		ztm_error_set(err, ZTM_E_BADSIG,
		              "TPM signature algorithm 0x%04x does not fit the attestation key",
		              (unsigned)sig->sigAlg);
		goto out;
	}
	if (md == NULL) {
		ztm_error_set(err, ZTM_E_BADSIG, "TPM signature digest (want SHA-256+)");
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, ak) != 1 ||
	    (EVP_PKEY_is_a(ak, "RSA") &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "TPM signature");
		goto out;
	}
	if (EVP_DigestVerify(ctx, sp, sl, msg.p, msg.len) != 1) {
		ztm_error_ossl(err, ZTM_E_BADSIG,
		               "the certification's signature does not verify with the AK");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* The request key (SubjectPublicKeyInfo DER) is the TPM key. */
static int same_key(EVP_PKEY *tpm, struct ztm_slice spki)
{
	const unsigned char *p = spki.p;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki.len);
	int eq = k != NULL && p == spki.p + spki.len && EVP_PKEY_eq(k, tpm) == 1;

	EVP_PKEY_free(k);
	ERR_clear_error();
	return eq;
}

enum ztm_tpm_verdict ztm_tpm_evidence_verify(const struct ztm_tpm_evidence *ev,
                                             struct ztm_slice spki,
                                             uint8_t ak_name[ZTM_TPM_NAME_MAX], size_t *ak_name_len,
                                             struct ztm_error *err)
{
	/* The certified key must be unable to leave this TPM: created inside
	 * it, never duplicable (Part 1 §23.2: fixedTPM and fixedParent both
	 * set means no TPM2_Duplicate, of it or of an ancestor). */
	const uint32_t stay =
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN;
	enum ztm_tpm_verdict v = ZTM_TPM_MALFORMED;
	EVP_PKEY *ak = NULL, *key = NULL;
	TPMT_SIGNATURE sig;
	TPMS_ATTEST att;
	uint8_t want[ZTM_TPM_QUALIFY_LEN], name[ZTM_TPM_NAME_MAX];
	size_t off = 0, name_len = 0;
	uint32_t attrs = 0;

	*ak_name_len = 0;
	if (ztm_tpm_ak_check(ev->ak_public, ak_name, ak_name_len, err) != 0) {
		if (err->code == ZTM_E_POLICY || err->code == ZTM_E_WEAKKEY)
			v = ZTM_TPM_AK_UNSUITABLE;
		goto out;
	}
	if (ztm_tpm_public_read(ev->ak_public, name, &name_len, &ak, NULL, err) != 0) {
		v = err->code == ZTM_E_WEAKKEY ? ZTM_TPM_AK_UNSUITABLE : ZTM_TPM_MALFORMED;
		goto out;
	}
	memset(&sig, 0, sizeof(sig));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(ev->signature.p, ev->signature.len, &off, &sig) !=
	        TSS2_RC_SUCCESS ||
	    off != ev->signature.len) {
		ztm_error_set(err, ZTM_E_PARSE, "TPM evidence: TPMT_SIGNATURE");
		goto out;
	}
	off = 0;
	memset(&att, 0, sizeof(att));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(ev->certify_info.p, ev->certify_info.len, &off, &att) !=
	        TSS2_RC_SUCCESS ||
	    off != ev->certify_info.len) {
		ztm_error_set(err, ZTM_E_PARSE, "TPM evidence: TPMS_ATTEST");
		goto out;
	}
	/* The signature first: nothing in certifyInfo counts before it. */
	if (sig_verify(ak, &sig, ev->certify_info, err) != 0) {
		v = ZTM_TPM_BAD_SIGNATURE;
		goto out;
	}
	if (att.magic != TPM2_GENERATED_VALUE || att.type != TPM2_ST_ATTEST_CERTIFY) {
		ztm_error_set(err, ZTM_E_PARSE,
		              "TPM evidence: certifyInfo is not a TPM-generated certification");
		goto out;
	}
	if (ztm_tpm_qualifying_data(ev->credential, spki, want) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "qualifyingData");
		goto out;
	}
	if (att.extraData.size != sizeof(want) ||
	    CRYPTO_memcmp(att.extraData.buffer, want, sizeof(want)) != 0) {
		v = ZTM_TPM_QUALIFYING_DATA;
		ztm_error_set(err, ZTM_E_POLICY,
		              "the certification's qualifyingData is not this request's");
		goto out;
	}
	if (ztm_tpm_public_read(ev->key_public, name, &name_len, &key, &attrs, err) != 0) {
		v = err->code == ZTM_E_WEAKKEY ? ZTM_TPM_KEY_MISMATCH : ZTM_TPM_MALFORMED;
		goto out;
	}
	if (att.attested.certify.name.size != name_len ||
	    memcmp(att.attested.certify.name.name, name, name_len) != 0) {
		v = ZTM_TPM_NAME_MISMATCH;
		ztm_error_set(
		    err, ZTM_E_POLICY,
		    "the certified object's name is not that of the key public area sent");
		goto out;
	}
	if ((attrs & stay) != stay) {
		v = ZTM_TPM_EXPORTABLE;
		ztm_error_set(err, ZTM_E_POLICY,
		              "the certified key's attributes 0x%08x let it leave the TPM "
		              "(want fixedTPM, fixedParent, sensitiveDataOrigin)",
		              (unsigned)attrs);
		goto out;
	}
	if (!same_key(key, spki)) {
		v = ZTM_TPM_KEY_MISMATCH;
		ztm_error_set(err, ZTM_E_POLICY, "the certified TPM key is not the request's key");
		goto out;
	}
	v = ZTM_TPM_OK;
out:
	OPENSSL_cleanse(want, sizeof(want));
	EVP_PKEY_free(ak);
	EVP_PKEY_free(key);
	return v;
}
