/* tpm_int.h - shared by the tpm_*.c modules of libztm. */
#ifndef ZTM_TPM_INT_H
#define ZTM_TPM_INT_H

#include <openssl/evp.h>
#include <stdint.h>

/* The digest of a TPM hash algorithm id we accept (SHA-256, -384, -512),
 * or NULL (SHA-1 and the rest are refused). */
const EVP_MD *ztm_tpm_md(uint16_t alg);

#endif
