/* p11_int.h - inside the pkcs11: key backend: p11.c (modules, sessions,
 * login, lookup, generation) and p11_pkey.c (the EVP_PKEY whose private
 * operations call C_Sign). See docs/hsm.md for why this is direct Cryptoki
 * and not the libp11 engine. */
#ifndef ZTM_P11_INT_H
#define ZTM_P11_INT_H

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "ztm/err.h"
#include "ztm/key.h"
#include "ztm/p11uri.h"

struct p11_key;

/* Signs in with the key: mech CKM_ECDSA (in: a digest; out: r||s) or
 * CKM_RSA_PKCS / CKM_RSA_X_509. Re-opens the session, logs in again and
 * finds the key again when the token or module went away (one retry).
 * 0, or -1 with `why` filled in (never the PIN) and *unavailable set when
 * the token could not be reached (the caller answers 503, not 500). */
int p11_key_sign(struct p11_key *k, CK_MECHANISM_TYPE mech, const uint8_t *in, size_t inlen,
                 uint8_t *out, size_t *outlen, char *why, size_t whylen, int *unavailable);
void p11_key_ref(struct p11_key *k);
void p11_key_unref(struct p11_key *k);

/* p11_pkey.c: an EVP_PKEY with the public half and k for the private one.
 * Takes a reference to k. */
EVP_PKEY *p11_pkey_ec(struct p11_key *k, int nid, const uint8_t *point, size_t len,
                      struct ztm_error *err);
EVP_PKEY *p11_pkey_rsa(struct p11_key *k, const uint8_t *n, size_t nlen, const uint8_t *e,
                       size_t elen, struct ztm_error *err);
/* The p11_key behind an EVP_PKEY made here, or NULL. */
struct p11_key *p11_pkey_key(EVP_PKEY *pk);

/* key.c's rows for the pkcs11: scheme. */
EVP_PKEY *p11_load(const char *uri, const struct ztm_key_opts *opts, struct ztm_error *err);
EVP_PKEY *p11_generate(const char *uri, enum ztm_key_alg alg, const struct ztm_key_opts *opts,
                       struct ztm_error *err);

#endif
