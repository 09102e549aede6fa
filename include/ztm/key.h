/* ztm/key.h - private keys by URI: the one seam through which every key
 * reaches ztm (DESIGN.md 2, issue 2 point 3).
 *
 *   file:/path/key.pem            PEM PKCS#8, plain or encrypted
 *   file:/path/key.pem?pass=file:/path/pass    passphrase from a file
 *   pkcs11:token=...;object=...   (RFC 7512, docs/hsm.md)
 *   tpm2:/path/key.tpm            TPM 2.0 key's blob (ztm/tpmkey.h, docs/tpm.md)
 *
 * A URI names the backend by its scheme; callers get an EVP_PKEY and never
 * learn where the key lives, so an HSM- or TPM-backed key (an EVP_PKEY whose
 * operations run in a provider or engine) needs no caller change. A bare path
 * with no scheme is taken as file:.
 */
#ifndef ZTM_KEY_H
#define ZTM_KEY_H

#include <openssl/evp.h>

#include "ztm/err.h"

enum ztm_key_alg {
	ZTM_KEY_P256,
	ZTM_KEY_P384,
	ZTM_KEY_ED25519,
	ZTM_KEY_RSA3072,
};

struct ztm_key_opts {
	/* Passphrase for encrypted keys, used if the URI names none. May be NULL. */
	const char *pass;
	/* Where to ask when neither the URI nor pass gives one: 1 = prompt on the
	 * terminal, 0 = fail. */
	int prompt;
};

/* "p256", "p384", "ed25519", "rsa3072" <-> enum; -1 if unknown. */
int ztm_key_alg_parse(const char *name, enum ztm_key_alg *out);
const char *ztm_key_alg_name(enum ztm_key_alg alg);

/* Generates a key in the backend the URI names (file: writes it, encrypted
 * with AES-256-CBC PKCS#8 when a passphrase is given, mode 0600 always;
 * it refuses to overwrite). Returns the key, or NULL with err set. */
EVP_PKEY *ztm_key_generate(const char *uri, enum ztm_key_alg alg, const struct ztm_key_opts *opts,
                           struct ztm_error *err);
/* Loads the private key a URI names. */
EVP_PKEY *ztm_key_load(const char *uri, const struct ztm_key_opts *opts, struct ztm_error *err);
/* Generates a key in memory only (tests, station CSR before writing). */
EVP_PKEY *ztm_key_new(enum ztm_key_alg alg, struct ztm_error *err);
/* Writes an in-memory key to a file: URI (encrypted when pass != NULL). */
int ztm_key_save(EVP_PKEY *key, const char *uri, const char *pass, struct ztm_error *err);

/* Key policy shared by lint and CSR checks: EC P-256/P-384 on named curves
 * only (explicit parameters refused: CurveBall), Ed25519, RSA 2048..8192 with
 * exponent 65537. 0 if allowed, else -1 with ZTM_E_WEAKKEY and the reason. */
int ztm_key_check_allowed(const EVP_PKEY *pub, struct ztm_error *err);

#endif
