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
};

/* TPM2_Certify of the loaded object key by the AK (zd_tpm_certify's body). */
int zd_tpm_certify_tr(struct zd_tpm *t, ESYS_TR key, const uint8_t *qual, size_t qual_len,
                      struct zd_tpm_blob *key_public, struct zd_tpm_blob *attest,
                      struct zd_tpm_blob *sig, char *err, size_t errsize);

#endif
