/* tpm_int.h - inside the tpm2: key backend: tpmkey.c (the tpm2-openssl
 * provider in ztm's own library context; generation and loading of blobs)
 * and tpm_pkey.c (the EVP_PKEY every caller signs with). docs/tpm.md. */
#ifndef ZTM_TPM_INT_H
#define ZTM_TPM_INT_H

#include <openssl/evp.h>

#include "ztm/err.h"
#include "ztm/key.h"

/* key.c's rows for the tpm2: scheme. */
EVP_PKEY *tpm_load(const char *uri, const struct ztm_key_opts *opts, struct ztm_error *err);
EVP_PKEY *tpm_generate(const char *uri, enum ztm_key_alg alg, const struct ztm_key_opts *opts,
                       struct ztm_error *err);

/* tpm_pkey.c: a foreign EC key with tpm's public half whose ECDSA is an
 * EVP_PKEY_sign of tpm (the provider's key, a reference taken) in libctx. */
EVP_PKEY *tpm_pkey_wrap(OSSL_LIB_CTX *libctx, EVP_PKEY *tpm, struct ztm_error *err);

#endif
