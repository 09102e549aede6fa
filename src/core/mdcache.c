/* mdcache.c - once-fetched digests (see mdcache.h). They live for the
 * process: OpenSSL frees the provider at exit, and nothing here holds
 * state that could change. */
#include "mdcache.h"

#include <openssl/crypto.h>

static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256, *sha384, *sha512;

static void fetch_all(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
}

const EVP_MD *ztm_md_sha256(void)
{
	return CRYPTO_THREAD_run_once(&once, fetch_all) == 1 ? sha256 : NULL;
}

const EVP_MD *ztm_md_sha384(void)
{
	return CRYPTO_THREAD_run_once(&once, fetch_all) == 1 ? sha384 : NULL;
}

const EVP_MD *ztm_md_sha512(void)
{
	return CRYPTO_THREAD_run_once(&once, fetch_all) == 1 ? sha512 : NULL;
}
