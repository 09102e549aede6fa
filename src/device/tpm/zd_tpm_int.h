/* zd_tpm_int.h - inside ztmdevtpm: the ESAPI session shared by zd_tpm.c
 * (EK, AK, activation, certification) and zd_tpm_key.c (the device key's
 * blob). */
#ifndef ZTMDEV_ZD_TPM_INT_H
#define ZTMDEV_ZD_TPM_INT_H

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "zd_tpm.h"

struct zd_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR ak;
	enum zd_tpm_ek ek_want; /* zd_tpm_use_ek */
	enum zd_tpm_ek ek_kind; /* the EK whose certificate zd_tpm_ak read */
	struct zd_tpm_blob ek_cert;
};

/* zd_tpm_ek.c: the EK certificate of the chosen EK (sets ek_kind,
 * ek_cert); the EK loaded for ActivateCredential (persistent, or made from
 * its template: *transient), checked against ek_cert; its release. */
int zd_tpm_ek_cert(struct zd_tpm *t, struct zd_tpm_blob *out, char *err, size_t errsize);
int zd_tpm_ek_load(struct zd_tpm *t, ESYS_TR *ek, int *transient, char *err, size_t errsize);
void zd_tpm_ek_release(struct zd_tpm *t, ESYS_TR *ek, int transient);

/* TPM2_Certify of the loaded object key by the AK (zd_tpm_certify's body). */
int zd_tpm_certify_tr(struct zd_tpm *t, ESYS_TR key, const uint8_t *qual, size_t qual_len,
                      struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                      struct zd_tpm_blob *sig, char *err, size_t errsize);

#endif
