/* zd_ossl.h - helpers shared by the files of the OpenSSL backend
 * (crypto_openssl.c, crypto_openssl_fw.c); never included elsewhere: the
 * rest of libztmdev sees only zd_crypto.h (STYLE.md 8). */
#ifndef ZTMDEV_ZD_OSSL_H
#define ZTMDEV_ZD_OSSL_H

#include <openssl/x509.h>

#include "zd_crypto.h"

/* The backend's key. pk is what every signing call takes: a software key,
 * or for a TPM key a foreign EC key that signs through tpm
 * (crypto_openssl_tpm_ec.c); tpm is the tpm2 provider's key in dev->tpm's
 * library context (crypto_openssl_tpm.c), NULL for a software key. */
struct zd_key {
	EVP_PKEY *pk;
	EVP_PKEY *tpm;
};

/* The foreign-EC-key method of one TPM session, and a key of it standing in
 * for the provider's key tpm (a reference is taken) of libctx. */
struct zd_tpm_ec;
struct zd_tpm_ec *zd_tpm_ec_new(void);
void zd_tpm_ec_free(struct zd_tpm_ec *e);
EVP_PKEY *zd_tpm_ec_wrap(struct zd_tpm_ec *e, OSSL_LIB_CTX *libctx, EVP_PKEY *tpm);

/* dev->err := "what: <the last OpenSSL error>"; clears the queue; -1. */
int zd_ossl_err(struct ztmdev *dev, const char *what);
/* One DER certificate, nothing after it. */
X509 *zd_ossl_decode(struct ztmdev *dev, const uint8_t *der, size_t len);
/* x (taken) chains through mid (taken) to a self-signed certificate of
 * anchors at time at, X509_V_FLAG_X509_STRICT; for TLS client
 * authentication when client is set, else for no purpose OpenSSL knows
 * (the caller checks the EKU). */
int zd_ossl_chain_verify(struct ztmdev *dev, X509 *x, STACK_OF(X509) * mid,
                         const struct zd_certs *anchors, int64_t at, int client);

#endif
