/* ztm/ca.h - an issuing CA held in memory, ready to sign.
 *
 * The key may live in any provider (a file key today, an HSM key later): ztm
 * never reads key bytes, it only signs through the EVP_PKEY. The signing
 * machinery is prepared once in ztm_ca_new (digest fetched, a DigestSign
 * context initialised with the key) and duplicated per signature, because
 * fetching algorithms per call is where OpenSSL 3 spends its time and takes
 * its locks (PERFORMANCE.md). After ztm_ca_new the CA is read-only, so one
 * ztm_ca may sign from several threads.
 */
#ifndef ZTM_CA_H
#define ZTM_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* Per-CA URLs written into the certificates it issues; NULL = omit. */
struct ztm_ca_urls {
	const char *ca_issuers; /* AIA id-ad-caIssuers */
	const char *ocsp;       /* AIA id-ad-ocsp */
	const char *crl;        /* CRL distribution point */
};

struct ztm_ca;

/* Takes its own references to cert and key (the caller keeps and frees
 * theirs). Refuses a cert that is not a CA (basicConstraints cA, keyCertSign
 * if keyUsage is present) and a key that does not match the cert (checked by
 * signing and verifying, which works for keys whose bytes cannot be read). */
struct ztm_ca *ztm_ca_new(const char *name, X509 *cert, EVP_PKEY *key,
                          const struct ztm_ca_urls *urls, struct ztm_error *err);
void ztm_ca_free(struct ztm_ca *ca);

const char *ztm_ca_name(const struct ztm_ca *ca);
X509 *ztm_ca_cert(const struct ztm_ca *ca);
int64_t ztm_ca_not_before(const struct ztm_ca *ca);
int64_t ztm_ca_not_after(const struct ztm_ca *ca);
/* The CA's subject key identifier (what issued certificates carry as AKI). */
struct ztm_slice ztm_ca_ski(const struct ztm_ca *ca);
const struct ztm_ca_urls *ztm_ca_urls(const struct ztm_ca *ca);
/* The CA's subject Name DER: the issuer field of what it issues. */
struct ztm_slice ztm_ca_subject_der(const struct ztm_ca *ca);

/* Signs tbs with the prepared context: writes the signatureAlgorithm
 * AlgorithmIdentifier DER the CA uses (alg) and the signature (sig). */
struct ztm_slice ztm_ca_sig_alg(const struct ztm_ca *ca);
int ztm_ca_sign(const struct ztm_ca *ca, const uint8_t *tbs, size_t len, struct ztm_buf *sig,
                struct ztm_error *err);

#endif
