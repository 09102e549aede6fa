/* ztm/bootstrap.h - a device's self-signed bootstrap certificate, made on
 * the host: `ztm station inject` (docs/injection.md) generates the key of a
 * device that cannot make one and needs the certificate that device would
 * have made for itself.
 *
 * The shape is libztmdev's (src/device/crypto_openssl.c,
 * zd_cert_self_signed), which the host cannot call: libztmdev is the device
 * side and never links libztm, and its builder is internal to its crypto
 * seam and makes P-256 keys only. Both must keep passing
 * ztm_record_check_cert; tests/unit/test_bootstrap.c holds this one to it. */
#ifndef ZTM_BOOTSTRAP_H
#define ZTM_BOOTSTRAP_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/lint.h"

/* What libztmdev uses: valid from an hour ago (clock skew on the line) for
 * twenty years and five days. */
#define ZTM_BOOTSTRAP_BACKDATE ((int64_t)3600)
#define ZTM_BOOTSTRAP_LIFETIME ((int64_t)20 * 365 * 86400 + 5 * 86400)
/* The CN "<product>-<serial>": RFC 5280 ub-common-name. */
#define ZTM_BOOTSTRAP_CN_MAX 64

/* A self-signed end-entity certificate for key: subject CN
 * "<product>-<serial>" (at most ZTM_BOOTSTRAP_CN_MAX characters) and
 * serialNumber <serial> (PrintableString), issuer = subject, a random
 * 17-octet serial (ztm/serial.h), basicConstraints critical CA:FALSE,
 * keyUsage critical digitalSignature, extKeyUsage clientAuth, a subject key
 * identifier; valid from not_before to not_after. Signed with SHA-256
 * (P-256, RSA), SHA-384 (P-384) or pure Ed25519. serial and product must be
 * valid record fields (ztm/batch.h). NULL with err on failure. */
X509 *ztm_bootstrap_cert(EVP_PKEY *key, const char *serial, const char *product, int64_t not_before,
                         int64_t not_after, struct ztm_error *err);

/* What ztm_bootstrap_shape read; the slices point into the DER it was given. */
struct ztm_bootstrap_shape {
	struct ztm_slice subject; /* subject Name contents (the RDNs) */
	struct ztm_slice spki;    /* SubjectPublicKeyInfo TLV */
	struct ztm_spki_info key; /* from ztm_spki_check */
};

/* A certificate's DER judged as a device bootstrap certificate without
 * decoding it or verifying its self-signature: at most ZTM_RECORD_MAX_CERT
 * bytes, strict DER framing of the certificate and its TBS, nothing
 * trailing, both signature algorithms equal, issuer == subject byte for
 * byte (self-issued), not a CA certificate by X509_check_ca's rules
 * (basicConstraints cA, or without it keyCertSign, a Netscape CA type or
 * version 1), the key passes the key policy (ztm_spki_check).
 * ZTM_E_TOOBIG / ZTM_E_PARSE / ZTM_E_POLICY / ZTM_E_WEAKKEY.
 *
 * The same check runs at record ingest (ztm_record_check_cert_shape) and
 * in ztmd's TLS handshake for a self-signed client certificate
 * (src/server/tls.c), so a certificate the handshake lets through is one a
 * station could have recorded. Why the self-signature is left out in both
 * places: docs/records.md "Checks at ingest", docs/vetting.md "Proof of
 * possession". */
int ztm_bootstrap_shape(const uint8_t *der, size_t len, struct ztm_bootstrap_shape *out,
                        struct ztm_error *err);

#endif
