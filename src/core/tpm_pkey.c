/* tpm_pkey.c - a TPM key as every OpenSSL caller of ztm can sign with it
 * (batch signatures, CSRs, TLS client authentication): a "foreign" EC_KEY
 * whose ECDSA is one EVP_PKEY_sign of the tpm2 provider's key, asked for
 * in the TPM's library context with "provider=tpm2".
 *
 * Why a stand-in: OpenSSL 3.0 fetches a signature implementation in the
 * caller's library context and exports the key to it when the providers
 * differ. The tpm2 provider exports the public half, so a signature in the
 * default context would run in the default provider and fail ("missing
 * private key"); a context preferring the tpm2 provider everywhere hashes
 * TLS handshakes in the TPM, which runs out of object slots. A foreign
 * EC_KEY stays on the legacy path, so only the digest's signature goes to
 * the TPM. The same device as p11_pkey.c (see there, and docs/tpm.md); the
 * method APIs are deprecated in 3.0 but supported for the 3.x series, hence
 * the file-local opt-in. The device library has its own copy of this
 * (src/device/crypto_openssl_tpm_ec.c): libztm and libztmdev share no code. */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "tpm_int.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ec_idx = -1;
static EC_KEY_METHOD *ec_meth;

struct tpm_ref {
	EVP_PKEY *tpm;
	OSSL_LIB_CTX *libctx;
};

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tpm_ref *ref = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ref == NULL)
		return;
	EVP_PKEY_free(ref->tpm);
	OPENSSL_free(ref);
}

static ECDSA_SIG *tpm_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                               const BIGNUM *r, EC_KEY *ec)
{
	const struct tpm_ref *ref = EC_KEY_get_ex_data(ec, ec_idx);
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char der[160];
	const unsigned char *p = der;
	size_t n = sizeof(der);
	ECDSA_SIG *sig = NULL;

	(void)kinv;
	(void)r;
	if (ref == NULL || dlen <= 0) {
		ztm_error_raise_ossl(ZTM_E_INTERNAL, "tpm2: key without its TPM object");
		return NULL;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(ref->libctx, ref->tpm, "provider=tpm2");
	if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_sign(ctx, der, &n, dgst, (size_t)dlen) == 1)
		sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	EVP_PKEY_CTX_free(ctx);
	if (sig == NULL)
		ztm_error_raise_ossl(ZTM_E_UNAVAILABLE, "tpm2: the TPM did not sign");
	return sig;
}

static void init_once(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
	            const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
	ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (ec_meth != NULL) {
		/* The default sign DER-encodes what sign_sig returns. */
		EC_KEY_METHOD_get_sign(ec_meth, &sign, &setup, NULL);
		EC_KEY_METHOD_set_sign(ec_meth, sign, setup, tpm_sign_sig);
	}
}

EVP_PKEY *tpm_pkey_wrap(OSSL_LIB_CTX *libctx, EVP_PKEY *tpm, struct ztm_error *err)
{
	unsigned char *spki = NULL;
	const unsigned char *p;
	struct tpm_ref *ref = NULL;
	EVP_PKEY *pub = NULL, *out = NULL;
	EC_KEY *ec = NULL;
	const EC_KEY *pub_ec;
	int n;

	pthread_once(&once, init_once);
	if (ec_meth == NULL || ec_idx < 0) {
		ztm_error_set(err, ZTM_E_CRYPTO, "tpm2: EC method setup");
		return NULL;
	}
	/* The public half through DER into the default context. */
	n = i2d_PUBKEY(tpm, &spki);
	p = spki;
	if (n <= 0 || (pub = d2i_PUBKEY(NULL, &p, n)) == NULL ||
	    (pub_ec = EVP_PKEY_get0_EC_KEY(pub)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: the key's public half");
		goto out;
	}
	ref = OPENSSL_zalloc(sizeof(*ref));
	ec = EC_KEY_new();
	if (ref == NULL || ec == NULL || EC_KEY_set_method(ec, ec_meth) != 1 ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(pub_ec)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(pub_ec)) != 1 ||
	    EVP_PKEY_up_ref(tpm) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: wrapping the key");
		goto out;
	}
	ref->tpm = tpm;
	ref->libctx = libctx;
	if (EC_KEY_set_ex_data(ec, ec_idx, ref) != 1) {
		EVP_PKEY_free(tpm);
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: wrapping the key");
		goto out;
	}
	ref = NULL; /* the EC_KEY's: ex_free frees it */
	if ((out = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(out, ec) != 1) {
		EVP_PKEY_free(out);
		out = NULL;
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: wrapping the key");
		goto out;
	}
	ec = NULL;
out:
	EC_KEY_free(ec);
	OPENSSL_free(ref);
	EVP_PKEY_free(pub);
	OPENSSL_free(spki);
	return out;
}
