/* ztm/p12.h - the key-injection bundle (docs/injection.md): a device's key,
 * its operational certificate and the chain above it in one PKCS#12 file
 * (RFC 7292), the format device programmers and TLS stacks import.
 *
 * Protection: the key bag is a PKCS#8 EncryptedPrivateKeyInfo and the
 * certificates an EncryptedData, both PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) with ZTM_P12_ITER iterations; the whole is MACed with
 * HMAC-SHA-256 under the PKCS#12 KDF with as many. OpenSSL's defaults
 * (2048 iterations) are far below current guidance; the count matches the
 * encrypted key files of ztm/key.h. */
#ifndef ZTM_P12_H
#define ZTM_P12_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ztm/buf.h"
#include "ztm/err.h"

#define ZTM_P12_ITER 600000
/* Shortest passphrase a bundle is made with. */
#define ZTM_P12_PASS_MIN 12

/* Appends the DER PKCS#12 to out: key and cert as one pair (localKeyId,
 * friendlyName `name`), then the certificates of chain (may be NULL), each
 * with its subject CN as friendlyName. Before returning it reads the result
 * back with pass and checks it yields this key and this certificate, so a
 * bundle that could not be opened is never handed out. pass: UTF-8, at
 * least ZTM_P12_PASS_MIN bytes. On failure out is unchanged. */
int ztm_p12_bundle(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *name,
                   const char *pass, struct ztm_buf *out, struct ztm_error *err);

#endif
