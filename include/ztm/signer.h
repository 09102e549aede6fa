/* ztm/signer.h - a private key with its signing machinery prepared once.
 *
 * The signature algorithm follows from the key (one fixed pairing per key
 * type, so its AlgorithmIdentifier is constant bytes), the digest is fetched
 * once and a DigestSign context is initialised once and copied per
 * signature: fetching algorithms per call is where OpenSSL 3 spends its time
 * and takes its locks (PERFORMANCE.md). Issuing CAs (ztm/ca.h) and OCSP
 * responders (ztm/ocsp.h) sign through it. Read-only after ztm_signer_new.
 */
#ifndef ZTM_SIGNER_H
#define ZTM_SIGNER_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

struct ztm_signer;

/* Takes its own reference to key. name is for error messages ("CA device",
 * "OCSP responder device"). ZTM_E_WEAKKEY for a key type it cannot pair. */
struct ztm_signer *ztm_signer_new(const char *name, EVP_PKEY *key, struct ztm_error *err);
void ztm_signer_free(struct ztm_signer *s);

/* The signatureAlgorithm AlgorithmIdentifier DER. */
struct ztm_slice ztm_signer_alg(const struct ztm_signer *s);
/* Appends the signature of tbs to sig. */
int ztm_signer_sign(const struct ztm_signer *s, const uint8_t *tbs, size_t len, struct ztm_buf *sig,
                    struct ztm_error *err);
/* Proves the key and a public key belong together by signing and verifying:
 * comparing key bytes would fail for HSM keys whose bytes are hidden. */
int ztm_signer_check_pub(const struct ztm_signer *s, EVP_PKEY *pub, struct ztm_error *err);

#endif
