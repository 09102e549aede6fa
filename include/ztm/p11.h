/* ztm/p11.h - what the pkcs11: key backend offers beyond ztm/key.h: a
 * direct ECDSA signature for the signer (signer.c) and the raw C_Sign for
 * benchmarks and tests. Keys themselves come from ztm_key_load and
 * ztm_key_generate with a pkcs11: URI (ztm/p11uri.h, docs/hsm.md). */
#ifndef ZTM_P11_H
#define ZTM_P11_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* 1 if pk was loaded from a token by the pkcs11: backend. */
int ztm_p11_is(EVP_PKEY *pk);
/* ECDSA over a digest with an EC token key (CKM_ECDSA), appended to sig as
 * a DER ECDSA-Sig-Value: the signature EVP_DigestSign would give, without
 * OpenSSL's legacy-key path around the token call (~20 us per signature,
 * docs/benchmarks.md "Issuance with the key in an HSM"). A token failure
 * is ZTM_E_UNAVAILABLE when the token or its daemon is gone. The key is
 * looked up once: ztm_p11_ec_of gives NULL unless pk is an EC key in a
 * token, and the handle lives as long as pk (the signer keeps it, sparing
 * three key-type table searches per signature). */
struct ztm_p11_ec;
const struct ztm_p11_ec *ztm_p11_ec_of(EVP_PKEY *pk);
int ztm_p11_ec_sign_der(const struct ztm_p11_ec *h, const uint8_t *dgst, size_t len,
                        struct ztm_buf *sig, struct ztm_error *err);
/* One bare C_Sign with pk's token key: CKM_ECDSA over a digest (sig gets
 * r||s) or CKM_RSA_PKCS over a DigestInfo. *siglen: capacity in, length out.
 * The token's own signing rate, without ztm around it (bench_hsm_issue). */
int ztm_p11_sign_raw(EVP_PKEY *pk, const uint8_t *dgst, size_t len, uint8_t *sig, size_t *siglen,
                     struct ztm_error *err);

#endif
