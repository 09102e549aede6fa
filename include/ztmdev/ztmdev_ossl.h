/* ztmdev/ztmdev_ossl.h - for hosts whose transport runs on OpenSSL too
 * (ztmdev_tls): the device key the library holds, as an EVP_PKEY, so the
 * TLS handshake signs with the very key object the library signs with.
 * A TPM key must be used this way: a TPM without a resource manager (swtpm,
 * /dev/tpm0) serves one connection at a time, and the library's is open.
 * Only the OpenSSL backend has this header; a port to another backend
 * brings a transport of its own. */
#ifndef ZTMDEV_ZTMDEV_OSSL_H
#define ZTMDEV_ZTMDEV_OSSL_H

#include <openssl/evp.h>

#include "ztmdev/ztmdev.h"

/* The current device key (the one the credentials certify; during a re-key
 * still the old one), opening the device if needed; borrowed: valid until
 * the next library call that may replace it (ztmdev_open, ztmdev_renew
 * returning). NULL with ztmdev_error set when the device cannot be
 * opened. */
EVP_PKEY *ztmdev_ossl_key(struct ztmdev *dev);

#endif
