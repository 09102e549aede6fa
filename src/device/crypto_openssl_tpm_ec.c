/* crypto_openssl_tpm_ec.c - the TPM key as every OpenSSL caller can sign
 * with it: a "foreign" EC_KEY (an EC_KEY_METHOD of our own) whose ECDSA
 * signature is one EVP_PKEY_sign of the tpm2 provider's key, asked for
 * explicitly in the TPM's library context with "provider=tpm2".
 *
 * Why not hand the provider's EVP_PKEY around as it is: OpenSSL 3.0 picks a
 * signature implementation by fetching in the caller's library context and
 * exporting the key to it when the providers differ. The tpm2 provider
 * exports the public half, so X509_sign and the TLS handshake in the
 * default context pick the default provider's ECDSA and fail with "missing
 * private key"; and a TLS context that prefers the tpm2 provider
 * ("?provider=tpm2", tpm2-openssl's advice for s_client) also hashes the
 * handshake in the TPM, which a TPM's three object slots do not survive
 * ("out of memory for object contexts" on swtpm). A foreign EC_KEY stays on
 * the legacy path (OpenSSL never exports it), so X509_sign, X509_REQ_sign
 * and libssl in any library context reach sign_sig below, and only the
 * signature of the digest goes to the TPM. The same device as p11_pkey.c
 * on the CA side (docs/hsm.md); these method APIs are deprecated in 3.0
 * but supported for the 3.x series, and this file is the library's only
 * user, hence the suppression here alone.
 *
 * No globals: the method belongs to the device context's TPM session
 * (zd_tpm_ec_new), and each key finds its TPM key in ex_data slot 0 (the
 * legacy app_data slot, which needs no registration), freed by the
 * method's finish. */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "zd_ossl.h"

#define APP_DATA 0

struct zd_tpm_ec {
	EC_KEY_METHOD *meth;
};

/* What a wrapped key signs with: a reference to the provider's key and the
 * library context it lives in. */
struct tpm_ref {
	EVP_PKEY *tpm;
	OSSL_LIB_CTX *libctx;
};

static ECDSA_SIG *tpm_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                               const BIGNUM *r, EC_KEY *ec)
{
	const struct tpm_ref *ref = EC_KEY_get_ex_data(ec, APP_DATA);
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char der[160];
	const unsigned char *p = der;
	size_t n = sizeof(der);
	ECDSA_SIG *sig = NULL;

	(void)kinv;
	(void)r;
	if (ref == NULL || dlen <= 0) {
		ERR_raise_data(ERR_LIB_EC, ERR_R_INTERNAL_ERROR, "TPM key: no TPM object");
		return NULL;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(ref->libctx, ref->tpm, "provider=tpm2");
	if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_sign(ctx, der, &n, dgst, (size_t)dlen) == 1)
		sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
	EVP_PKEY_CTX_free(ctx);
	if (sig == NULL)
		ERR_raise_data(ERR_LIB_EC, ERR_R_OPERATION_FAIL, "TPM signature failed");
	return sig;
}

static void tpm_finish(EC_KEY *ec)
{
	struct tpm_ref *ref = EC_KEY_get_ex_data(ec, APP_DATA);

	if (ref == NULL)
		return;
	EVP_PKEY_free(ref->tpm);
	OPENSSL_free(ref);
	EC_KEY_set_ex_data(ec, APP_DATA, NULL);
}

struct zd_tpm_ec *zd_tpm_ec_new(void)
{
	struct zd_tpm_ec *e = OPENSSL_zalloc(sizeof(*e));
	int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
	            const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;
	int (*init)(EC_KEY *) = NULL;
	void (*finish)(EC_KEY *) = NULL;
	int (*copy)(EC_KEY *, const EC_KEY *) = NULL;
	int (*set_group)(EC_KEY *, const EC_GROUP *) = NULL;
	int (*set_private)(EC_KEY *, const BIGNUM *) = NULL;
	int (*set_public)(EC_KEY *, const EC_POINT *) = NULL;

	if (e == NULL || (e->meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL) {
		OPENSSL_free(e);
		return NULL;
	}
	/* The default sign DER-encodes what sign_sig returns. */
	EC_KEY_METHOD_get_sign(e->meth, &sign, &setup, NULL);
	EC_KEY_METHOD_set_sign(e->meth, sign, setup, tpm_sign_sig);
	/* OpenSSL's own method has no finish; ours frees the reference. */
	EC_KEY_METHOD_get_init(e->meth, &init, &finish, &copy, &set_group, &set_private,
	                       &set_public);
	EC_KEY_METHOD_set_init(e->meth, init, tpm_finish, copy, set_group, set_private, set_public);
	return e;
}

void zd_tpm_ec_free(struct zd_tpm_ec *e)
{
	if (e == NULL)
		return;
	EC_KEY_METHOD_free(e->meth);
	OPENSSL_free(e);
}

EVP_PKEY *zd_tpm_ec_wrap(struct zd_tpm_ec *e, OSSL_LIB_CTX *libctx, EVP_PKEY *tpm)
{
	unsigned char *spki = NULL;
	const unsigned char *p;
	struct tpm_ref *ref = NULL;
	EVP_PKEY *pub = NULL, *out = NULL;
	EC_KEY *ec = NULL;
	const EC_KEY *pub_ec;
	int n;

	/* The public key, through DER into the default context: a plain EC
	 * key to copy the group and point from. */
	n = i2d_PUBKEY(tpm, &spki);
	p = spki;
	if (n <= 0 || (pub = d2i_PUBKEY(NULL, &p, n)) == NULL ||
	    (pub_ec = EVP_PKEY_get0_EC_KEY(pub)) == NULL)
		goto out;
	ref = OPENSSL_zalloc(sizeof(*ref));
	ec = EC_KEY_new();
	if (ref == NULL || ec == NULL || EC_KEY_set_method(ec, e->meth) != 1 ||
	    EC_KEY_set_group(ec, EC_KEY_get0_group(pub_ec)) != 1 ||
	    EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(pub_ec)) != 1 ||
	    EVP_PKEY_up_ref(tpm) != 1)
		goto out;
	ref->tpm = tpm;
	ref->libctx = libctx;
	if (EC_KEY_set_ex_data(ec, APP_DATA, ref) != 1) {
		EVP_PKEY_free(tpm);
		goto out;
	}
	ref = NULL; /* the EC_KEY's now: tpm_finish frees it */
	if ((out = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(out, ec) != 1) {
		EVP_PKEY_free(out);
		out = NULL;
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
