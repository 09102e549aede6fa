/* p11_pkey.c - EVP_PKEYs whose private operation is a C_Sign in a token.
 *
 * OpenSSL 3.0 (Debian 12) has no PKCS#11 provider. A legacy EC_KEY / RSA
 * with its own EC_KEY_METHOD / RSA_METHOD is what OpenSSL calls "foreign":
 * it keeps such keys on the legacy code path, where EVP_DigestSign,
 * X509_sign, CMS_sign and OCSP_basic_sign reach our sign callback. These
 * method APIs are deprecated in 3.0 (providers replace them) but supported
 * for the 3.x series; this file and src/server/ec_decode.c are their only
 * users, hence the suppression.
 * Writing an in-process provider instead was rejected: keymgmt, signature
 * and encoder dispatch tables for the same one callback (docs/hsm.md).
 * The build hides 3.0-deprecated APIs everywhere (OPENSSL_NO_DEPRECATED);
 * this one file opts back in. */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <string.h>

#include "der.h"
#include "p11_int.h"
#include "ztm/p11.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ec_idx = -1, rsa_idx = -1;
static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;

static void ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	p11_key_unref(ptr);
}

/* Signs with k, raising a ztm error on OpenSSL's queue when it fails. */
static int sign_raise(struct p11_key *k, CK_MECHANISM_TYPE mech, const uint8_t *in, size_t inlen,
                      uint8_t *out, size_t *outlen)
{
	char why[256];
	int unavailable = 0;

	if (k == NULL) {
		ztm_error_raise_ossl(ZTM_E_INTERNAL, "pkcs11: key without its token object");
		return -1;
	}
	if (p11_key_sign(k, mech, in, inlen, out, outlen, why, sizeof(why), &unavailable) != 0) {
		ztm_error_raise_ossl(unavailable ? ZTM_E_UNAVAILABLE : ZTM_E_CRYPTO,
		                     "pkcs11 signature: %s", why);
		return -1;
	}
	return 0;
}

/* CKM_ECDSA over dgst with eckey's token key: takes the digest and returns
 * r||s (*n bytes, each half the size of the order). 0, or -1 with a ztm
 * error raised on OpenSSL's queue. */
static int ec_token_rs(const unsigned char *dgst, size_t dlen, const EC_KEY *eckey,
                       uint8_t sig[2 * 66], size_t *n)
{
	size_t order, in = dlen;

	/* FIPS 186-4 §6.4: only the leftmost bits of a longer digest count;
	 * truncating here spares tokens that refuse long input. */
	order = (size_t)(EC_GROUP_order_bits(EC_KEY_get0_group(eckey)) + 7) / 8;
	if (in > order)
		in = order;
	*n = 2 * 66;
	if (sign_raise(EC_KEY_get_ex_data(eckey, ec_idx), CKM_ECDSA, dgst, in, sig, n) != 0)
		return -1;
	if (*n == 0 || *n % 2 != 0 || *n / 2 > order) {
		ztm_error_raise_ossl(ZTM_E_CRYPTO, "pkcs11 signature: %zu bytes", *n);
		return -1;
	}
	return 0;
}

/* The same as an ECDSA_SIG. */
static ECDSA_SIG *ec_token_sign(const unsigned char *dgst, size_t dlen, const EC_KEY *eckey)
{
	uint8_t sig[2 * 66];
	size_t n;
	BIGNUM *br = NULL, *bs = NULL;
	ECDSA_SIG *out = NULL;

	if (ec_token_rs(dgst, dlen, eckey, sig, &n) != 0)
		return NULL;
	br = BN_bin2bn(sig, (int)(n / 2), NULL);
	bs = BN_bin2bn(sig + n / 2, (int)(n / 2), NULL);
	out = ECDSA_SIG_new();
	if (br == NULL || bs == NULL || out == NULL || ECDSA_SIG_set0(out, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(out);
		return NULL;
	}
	return out;
}

/* ECDSA_do_sign_ex calls this instead of computing with a private scalar. */
static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                              const BIGNUM *r, EC_KEY *eckey)
{
	(void)kinv;
	(void)r;
	return dlen < 0 ? NULL : ec_token_sign(dgst, (size_t)dlen, eckey);
}

/* RSA_sign builds the DigestInfo and calls this with PKCS#1 v1.5 padding
 * (CKM_RSA_PKCS pads); PSS arrives padded already (CKM_RSA_X_509). */
static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                        int padding)
{
	CK_MECHANISM_TYPE mech;
	size_t n = (size_t)RSA_size(rsa);

	if (padding == RSA_PKCS1_PADDING)
		mech = CKM_RSA_PKCS;
	else if (padding == RSA_NO_PADDING)
		mech = CKM_RSA_X_509;
	else {
		ztm_error_raise_ossl(ZTM_E_CRYPTO, "pkcs11: RSA padding %d not supported", padding);
		return -1;
	}
	if (flen < 0 ||
	    sign_raise(RSA_get_ex_data(rsa, rsa_idx), mech, from, (size_t)flen, to, &n) != 0)
		return -1;
	return (int)n;
}

static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
                        int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)rsa;
	(void)padding;
	ztm_error_raise_ossl(ZTM_E_USAGE, "pkcs11: CA keys only sign");
	return -1;
}

static void init_once(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
	            const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, ex_free);
	ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (ec_meth != NULL) {
		/* The default sign DER-encodes what sign_sig returns. */
		EC_KEY_METHOD_get_sign(ec_meth, &sign, &setup, NULL);
		EC_KEY_METHOD_set_sign(ec_meth, sign, setup, ec_sign_sig);
	}
	rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	if (rsa_meth != NULL &&
	    (RSA_meth_set1_name(rsa_meth, "ztm pkcs11") != 1 ||
	     RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) != 1 ||
	     RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec) != 1 ||
	     RSA_meth_set_flags(rsa_meth, RSA_meth_get_flags(rsa_meth) | RSA_FLAG_EXT_PKEY) != 1)) {
		RSA_meth_free(rsa_meth);
		rsa_meth = NULL;
	}
}

EVP_PKEY *p11_pkey_ec(struct p11_key *k, int nid, const uint8_t *point, size_t len,
                      struct ztm_error *err)
{
	const unsigned char *p = point;
	ASN1_OCTET_STRING *os = NULL;
	EC_KEY *ec = NULL;
	EVP_PKEY *pk = NULL;

	pthread_once(&once, init_once);
	if (ec_meth == NULL || ec_idx < 0) {
		ztm_error_set(err, ZTM_E_CRYPTO, "pkcs11: EC method setup");
		return NULL;
	}
	/* PKCS#11 v2.40 §2.3.3: CKA_EC_POINT is the DER OCTET STRING of the
	 * point; some tokens give the bare point. Accept both. */
	os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
	if (os != NULL && p == point + len) {
		point = ASN1_STRING_get0_data(os);
		len = (size_t)ASN1_STRING_length(os);
	}
	ec = EC_KEY_new_by_curve_name(nid);
	if (ec == NULL || EC_KEY_oct2key(ec, point, len, NULL) != 1 ||
	    EC_KEY_set_method(ec, ec_meth) != 1 || EC_KEY_set_ex_data(ec, ec_idx, k) != 1) {
		ztm_error_ossl(err, ZTM_E_PARSE, "pkcs11: the token's EC public key");
		goto fail;
	}
	p11_key_ref(k); /* released by ex_free with the EC_KEY */
	pk = EVP_PKEY_new();
	if (pk == NULL || EVP_PKEY_assign_EC_KEY(pk, ec) != 1) {
		ztm_error_ossl(err, ZTM_E_NOMEM, "pkcs11: EVP_PKEY");
		goto fail;
	}
	ASN1_OCTET_STRING_free(os);
	return pk;
fail:
	EVP_PKEY_free(pk);
	EC_KEY_free(ec);
	ASN1_OCTET_STRING_free(os);
	return NULL;
}

EVP_PKEY *p11_pkey_rsa(struct p11_key *k, const uint8_t *n, size_t nlen, const uint8_t *e,
                       size_t elen, struct ztm_error *err)
{
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	RSA *rsa = NULL;
	EVP_PKEY *pk = NULL;

	pthread_once(&once, init_once);
	if (rsa_meth == NULL || rsa_idx < 0) {
		ztm_error_set(err, ZTM_E_CRYPTO, "pkcs11: RSA method setup");
		goto fail;
	}
	rsa = RSA_new();
	if (bn == NULL || be == NULL || rsa == NULL || RSA_set0_key(rsa, bn, be, NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_PARSE, "pkcs11: the token's RSA public key");
		goto fail;
	}
	bn = be = NULL;
	if (RSA_set_method(rsa, rsa_meth) != 1 || RSA_set_ex_data(rsa, rsa_idx, k) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "pkcs11: RSA method");
		goto fail;
	}
	p11_key_ref(k);
	pk = EVP_PKEY_new();
	if (pk == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
		ztm_error_ossl(err, ZTM_E_NOMEM, "pkcs11: EVP_PKEY");
		goto fail;
	}
	return pk;
fail:
	EVP_PKEY_free(pk);
	RSA_free(rsa);
	BN_free(bn);
	BN_free(be);
	return NULL;
}

struct p11_key *p11_pkey_key(EVP_PKEY *pk)
{
	if (pk == NULL || ec_idx < 0)
		return NULL;
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
		return ec != NULL && EC_KEY_get_method(ec) == ec_meth
		           ? EC_KEY_get_ex_data(ec, ec_idx)
		           : NULL;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		const RSA *rsa = EVP_PKEY_get0_RSA(pk);
		return rsa != NULL && RSA_get_method(rsa) == rsa_meth
		           ? RSA_get_ex_data(rsa, rsa_idx)
		           : NULL;
	}
	return NULL;
}

int ztm_p11_is(EVP_PKEY *pk)
{
	return p11_pkey_key(pk) != NULL;
}

/* The handle is the token key's EC_KEY (whose method is ec_meth), typed
 * apart so that callers cannot mistake it for any EC_KEY. */
const struct ztm_p11_ec *ztm_p11_ec_of(EVP_PKEY *pk)
{
	const EC_KEY *ec;

	if (pk == NULL || ec_idx < 0 || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
		return NULL;
	ec = EVP_PKEY_get0_EC_KEY(pk);
	if (ec == NULL || EC_KEY_get_method(ec) != ec_meth ||
	    EC_KEY_get_ex_data(ec, ec_idx) == NULL)
		return NULL;
	return (const struct ztm_p11_ec *)ec;
}

int ztm_p11_ec_sign_der(const struct ztm_p11_ec *h, const uint8_t *dgst, size_t len,
                        struct ztm_buf *sig, struct ztm_error *err)
{
	const EC_KEY *ec = (const EC_KEY *)h;
	uint8_t rs[2 * 66];
	size_t n, start = sig->len, seq;
	struct ztm_der w;

	if (ec == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "not an EC key in a PKCS#11 token");
	if (ec_token_rs(dgst, len, ec, rs, &n) != 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "pkcs11 ECDSA signature");
	/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2):
	 * framing only, no BIGNUMs. */
	ztm_der_init(&w, sig);
	seq = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_ubytes(&w, rs, n / 2);
	ztm_der_ubytes(&w, rs + n / 2, n / 2);
	ztm_der_end(&w, seq);
	if (w.failed) {
		sig->len = start;
		return ztm_error_set(err, ZTM_E_TOOBIG, "pkcs11 ECDSA signature: buffer full");
	}
	return 0;
}

int ztm_p11_sign_raw(EVP_PKEY *pk, const uint8_t *dgst, size_t len, uint8_t *sig, size_t *siglen,
                     struct ztm_error *err)
{
	struct p11_key *k = p11_pkey_key(pk);
	CK_MECHANISM_TYPE mech = EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC ? CKM_ECDSA : CKM_RSA_PKCS;

	if (k == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "not a pkcs11: key");
	if (sign_raise(k, mech, dgst, len, sig, siglen) != 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "raw pkcs11 signature");
	return 0;
}
