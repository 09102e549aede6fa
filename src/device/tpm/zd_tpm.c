/* zd_tpm.c - the device's half of TPM key attestation on ESAPI (see
 * zd_tpm.h; docs/attestation.md, "What the device does"). */
#include "zd_tpm.h"
#include "zd_tpm_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

static int fail(char *err, size_t errsize, const char *what, TSS2_RC rc)
{
	snprintf(err, errsize, "TPM: %s: %s", what, rc != 0 ? Tss2_RC_Decode(rc) : "failed");
	return -1;
}

int zd_tpm_open(struct zd_tpm **out, const char *tcti, char *err, size_t errsize)
{
	struct zd_tpm *t = calloc(1, sizeof(*t));
	TSS2_RC rc;

	*out = NULL;
	if (t == NULL)
		return fail(err, errsize, "open", 0);
	t->ak = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		free(t);
		return fail(err, errsize, "TCTI", rc);
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&t->tcti);
		free(t);
		return fail(err, errsize, "ESAPI", rc);
	}
	*out = t;
	return 0;
}

void zd_tpm_close(struct zd_tpm *t)
{
	if (t == NULL)
		return;
	if (t->ak != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, t->ak);
	Esys_Finalize(&t->esys);
	Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

int zd_tpm_ak(struct zd_tpm *t, struct zd_tpm_blob *ek, struct zd_tpm_blob *ak_public, char *err,
              size_t errsize)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	size_t off = 0;
	TSS2_RC rc;

	if (zd_tpm_ek_cert(t, ek, err, errsize) != 0)
		return -1;
	memset(&sens, 0, sizeof(sens));
	memset(&tmpl, 0, sizeof(tmpl));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes =
	    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
	tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	if (t->ak != ESYS_TR_NONE) {
		Esys_FlushContext(t->esys, t->ak);
		t->ak = ESYS_TR_NONE;
	}
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	                        ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &t->ak, &pub, NULL,
	                        NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return fail(err, errsize, "attestation key", rc);
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, ak_public->p, sizeof(ak_public->p), &off);
	Esys_Free(pub);
	if (rc != TSS2_RC_SUCCESS)
		return fail(err, errsize, "attestation key public", rc);
	ak_public->len = off;
	return 0;
}

int zd_tpm_activate(struct zd_tpm *t, const uint8_t *id_object, size_t id_len,
                    const uint8_t *enc_secret, size_t es_len, uint8_t cred[32], char *err,
                    size_t errsize)
{
	TPM2B_ID_OBJECT blob;
	TPM2B_ENCRYPTED_SECRET secret;
	TPM2B_DIGEST *out = NULL;
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
	ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	size_t off = 0;
	TSS2_RC rc;
	int ret = -1, transient = 0;

	memset(&blob, 0, sizeof(blob));
	memset(&secret, 0, sizeof(secret));
	if (t->ak == ESYS_TR_NONE)
		return fail(err, errsize, "activate: no attestation key", 0);
	if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(id_object, id_len, &off, &blob) != TSS2_RC_SUCCESS ||
	    off != id_len)
		return fail(err, errsize, "activate: credential blob malformed", 0);
	off = 0;
	if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc_secret, es_len, &off, &secret) !=
	        TSS2_RC_SUCCESS ||
	    off != es_len)
		return fail(err, errsize, "activate: encrypted secret malformed", 0);
	if (zd_tpm_ek_load(t, &ek, &transient, err, errsize) != 0)
		return -1;
	/* The EK's policy (TCG EK profile, policy A): PolicySecret of the
	 * endorsement hierarchy, in a policy session. */
	rc =
	    Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
	                          ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "policy session", rc);
		goto out;
	}
	rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_PASSWORD,
	                       ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "PolicySecret(endorsement)", rc);
		goto out;
	}
	rc = Esys_ActivateCredential(t->esys, t->ak, ek, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE,
	                             &blob, &secret, &out);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "ActivateCredential", rc);
		goto out;
	}
	if (out->size != 32) {
		fail(err, errsize, "ActivateCredential: credential size", 0);
		goto out;
	}
	memcpy(cred, out->buffer, 32);
	ret = 0;
out:
	if (out != NULL) {
		memset(out->buffer, 0, sizeof(out->buffer));
		Esys_Free(out);
	}
	if (sess != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, sess);
	zd_tpm_ek_release(t, &ek, transient);
	return ret;
}

int zd_tpm_certify(struct zd_tpm *t, uint32_t key_handle, const uint8_t *qual, size_t qual_len,
                   struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                   struct zd_tpm_blob *sig, char *err, size_t errsize)
{
	ESYS_TR key = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	rc = Esys_TR_FromTPMPublic(t->esys, key_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
	                           &key);
	if (rc != TSS2_RC_SUCCESS)
		return fail(err, errsize, "device key handle", rc);
	ret = zd_tpm_certify_tr(t, key, qual, qual_len, key_public, attest, sig, err, errsize);
	Esys_TR_Close(t->esys, &key);
	return ret;
}

int zd_tpm_certify_tr(struct zd_tpm *t, ESYS_TR key, const uint8_t *qual, size_t qual_len,
                      struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                      struct zd_tpm_blob *sig, char *err, size_t errsize)
{
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_DATA q;
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPM2B_ATTEST *info = NULL;
	TPMT_SIGNATURE *s = NULL;
	size_t off = 0;
	TSS2_RC rc;
	int ret = -1;

	if (t->ak == ESYS_TR_NONE || qual_len > sizeof(q.buffer))
		return fail(err, errsize, "certify: no attestation key", 0);
	memset(&q, 0, sizeof(q));
	q.size = (uint16_t)qual_len;
	memcpy(q.buffer, qual, qual_len);
	rc = Esys_ReadPublic(t->esys, key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
	                     NULL);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "device key public", rc);
		goto out;
	}
	rc = Esys_Certify(t->esys, key, t->ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE, &q,
	                  &scheme, &info, &s);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, "Certify", rc);
		goto out;
	}
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, key_public->p, sizeof(key_public->p), &off) !=
	        TSS2_RC_SUCCESS ||
	    info->size > sizeof(attest->p)) {
		fail(err, errsize, "certify: output too large", 0);
		goto out;
	}
	key_public->len = off;
	memcpy(attest->p, info->attestationData, info->size);
	attest->len = info->size;
	off = 0;
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(s, sig->p, sizeof(sig->p), &off) != TSS2_RC_SUCCESS) {
		fail(err, errsize, "certify: signature too large", 0);
		goto out;
	}
	sig->len = off;
	ret = 0;
out:
	Esys_Free(pub);
	Esys_Free(info);
	Esys_Free(s);
	return ret;
}
