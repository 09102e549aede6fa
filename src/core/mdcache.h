/* mdcache.h - private: digests fetched once per process for the X.509
 * engine. EVP_sha256() and friends make OpenSSL 3 fetch the implementation
 * again on every use, under the library context lock (OpenSSL #17627,
 * PERFORMANCE.md): fetching once removes both the cost and the contention.
 */
#ifndef ZTM_CORE_MDCACHE_H
#define ZTM_CORE_MDCACHE_H

#include <openssl/evp.h>

/* NULL only if the default provider lacks the digest. */
const EVP_MD *ztm_md_sha256(void);
const EVP_MD *ztm_md_sha384(void);
const EVP_MD *ztm_md_sha512(void);

#endif
