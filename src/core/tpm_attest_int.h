/* tpm_attest_int.h - shared by the attestation modules (tpm_parse.c, tpm_verify.c, ...) of libztm.
 */
#ifndef ZTM_TPM_ATTEST_INT_H
#define ZTM_TPM_ATTEST_INT_H

#include <openssl/evp.h>
#include <stdint.h>

/* The digest of a TPM hash algorithm id we accept (SHA-256, -384, -512),
 * or NULL (SHA-1 and the rest are refused). */
const EVP_MD *ztm_tpm_md(uint16_t alg);

#endif
