/* ztm/tpmkey.h - the tpm2: key URI (docs/tpm.md): a key generated inside a
 * TPM 2.0 and kept as its TPM blob (TSS2 PRIVATE KEY PEM) in a file:
 *
 *   tpm2:/var/lib/ztm/station.tpm     absolute path
 *   tpm2:station.tpm                  relative to the working directory
 *
 * The blob holds the key's public area and its private area encrypted by
 * the TPM's storage key: only that TPM can load it, and the private key
 * never leaves the TPM. The TPM is the one the tpm2-openssl provider reaches
 * (TPM2OPENSSL_TCTI, else /dev/tpmrm0). No query part: a TPM key here has an
 * empty auth value (docs/tpm.md says why). */
#ifndef ZTM_TPMKEY_H
#define ZTM_TPMKEY_H

#include <stddef.h>

#include "ztm/err.h"

#define ZTM_TPM_SCHEME "tpm2:"

/* The blob's path of a tpm2: URI into out (outsize bytes). -1 with
 * ZTM_E_USAGE naming the fault: another scheme, an empty or too long path,
 * a query or fragment, a control character. */
int ztm_tpm_uri_path(const char *uri, char *out, size_t outsize, struct ztm_error *err);

#endif
