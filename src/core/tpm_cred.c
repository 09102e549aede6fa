/* tpm_cred.c - the verifier's half of credential activation: the EK
 * certificate's chain to a TPM manufacturer's CA, and TPM2_MakeCredential
 * in software (TPM 2.0 Library Part 1 §24, "Credential Protection").
 *
 * MakeCredential, for an RSA-2048 EK (TCG EK Credential Profile, template
 * L-1) or an ECC P-256 EK (template L-2), both nameAlg SHA-256, symmetric
 * AES-128-CFB. The seed and the encrypted secret (Part 1 §24.4, "Secret
 * Sharing"; Part 1 §11.4.10.3 for KDFe):
 *   RSA: seed      = 32 random bytes
 *        encSecret = RSA-OAEP(EK, seed), hash SHA-256, label "IDENTITY\0"
 *   ECC: (d, Q)    = an ephemeral P-256 key
 *        Z         = x of d * EK (ECDH)
 *        seed      = KDFe(SHA-256, Z, "IDENTITY\0", Q.x, EK.x, 256)
 *        encSecret = TPMS_ECC_POINT(Q)
 *   KDFe is SP 800-56A's single-step KDF, H(counter || Z || fixedInfo)
 *   with fixedInfo = label || partyU || partyV: OpenSSL's SSKDF. Then:
 *   symKey        = KDFa(SHA-256, seed, "STORAGE", name, -, 128)
 *   encIdentity   = AES-128-CFB(symKey, IV 0, TPM2B_DIGEST(credential))
 *   HMACkey       = KDFa(SHA-256, seed, "INTEGRITY", -, -, 256)
 *   outerHMAC     = HMAC-SHA-256(HMACkey, encIdentity || name)
 *   credentialBlob = TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) || encIdentity)
 * KDFa is SP 800-108 counter mode with HMAC, i.e. OpenSSL's KBKDF with its
 * defaults (32-bit counter, label, 0x00 separator, context, 32-bit L). */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/tpm.h"

#define SEED_LEN 32 /* the EK nameAlg's digest size */
#define SYM_LEN  16 /* AES-128 */
#define P256_LEN 32 /* bytes of a P-256 coordinate */

enum ztm_tpm_ek_kind ztm_tpm_ek_kind(EVP_PKEY *ek)
{
	char group[64];

	if (ek == NULL)
		return ZTM_TPM_EK_UNSUPPORTED;
	if (EVP_PKEY_is_a(ek, "RSA"))
		return EVP_PKEY_get_bits(ek) == 2048 ? ZTM_TPM_EK_RSA2048 : ZTM_TPM_EK_UNSUPPORTED;
	if (EVP_PKEY_is_a(ek, "EC") &&
	    EVP_PKEY_get_group_name(ek, group, sizeof(group), NULL) == 1 &&
	    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
		return ZTM_TPM_EK_ECC_P256;
	return ZTM_TPM_EK_UNSUPPORTED;
}

static int kdfa(const uint8_t *key, size_t klen, const char *label, const uint8_t *ctx_u,
                size_t ulen, uint8_t *out, size_t olen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[7], *q = p;
	int ok;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label));
	if (ulen > 0)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx_u, ulen);
	*q = OSSL_PARAM_construct_end();
	ok = kctx != NULL && EVP_KDF_derive(kctx, out, olen, p) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

static int put16(struct ztm_buf *b, size_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return ztm_buf_append(b, x, 2);
}

static int oaep_seed(EVP_PKEY *ek, const uint8_t *seed, struct ztm_buf *out, struct ztm_error *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	unsigned char *label = OPENSSL_malloc(9);
	uint8_t *ct;
	size_t ctlen = 0;
	int rc = -1;

	if (label == NULL || ctx == NULL)
		goto fail;
	memcpy(label, "IDENTITY", 9); /* the NUL is part of the label */
	if (EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 9) != 1)
		goto fail;
	label = NULL; /* owned by ctx */
	if (EVP_PKEY_encrypt(ctx, NULL, &ctlen, seed, SEED_LEN) != 1 || ctlen > 512 ||
	    put16(out, ctlen) != 0 || (ct = ztm_buf_reserve(out, ctlen)) == NULL ||
	    EVP_PKEY_encrypt(ctx, ct, &ctlen, seed, SEED_LEN) != 1)
		goto fail;
	out->len += ctlen;
	/* The TPM2B's size is the ciphertext's: fix it if encrypt shrank it. */
	out->data[out->len - ctlen - 2] = (uint8_t)(ctlen >> 8);
	out->data[out->len - ctlen - 1] = (uint8_t)ctlen;
	rc = 0;
	goto out;
fail:
	ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: RSA-OAEP");
out:
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* The x and y of a P-256 public key, 32 bytes each (left-padded, as the
 * TPM's TPMS_ECC_POINT holds them). */
static int p256_xy(EVP_PKEY *k, uint8_t x[P256_LEN], uint8_t y[P256_LEN])
{
	BIGNUM *bx = NULL, *by = NULL;
	int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
	         EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
	         BN_bn2binpad(bx, x, P256_LEN) == P256_LEN &&
	         BN_bn2binpad(by, y, P256_LEN) == P256_LEN;

	BN_free(bx);
	BN_free(by);
	return ok ? 0 : -1;
}

/* KDFe (TPM 2.0 Part 1 §11.4.10.3) = SP 800-56A single-step KDF with
 * SHA-256: OpenSSL's SSKDF, fixedInfo = "IDENTITY\0" || partyU || partyV. */
static int kdfe_identity(const uint8_t *z, size_t zlen, const uint8_t *pu, const uint8_t *pv,
                         uint8_t out[SEED_LEN])
{
	static const char label[] = "IDENTITY"; /* with its NUL: 9 bytes */
	uint8_t info[sizeof(label) + 2 * P256_LEN];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[4];
	int ok;

	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), pu, P256_LEN);
	memcpy(info + sizeof(label) + P256_LEN, pv, P256_LEN);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)z, zlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	p[3] = OSSL_PARAM_construct_end();
	ok = kctx != NULL && EVP_KDF_derive(kctx, out, SEED_LEN, p) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

/* The ECC EK's seed: ECDH of an ephemeral P-256 key with the EK, KDFe; the
 * encrypted secret is the ephemeral public point (TPM2B_ENCRYPTED_SECRET
 * holding a TPMS_ECC_POINT: u16 size || TPM2B x || TPM2B y). */
static int ecdh_seed(EVP_PKEY *ek, uint8_t seed[SEED_LEN], struct ztm_buf *out,
                     struct ztm_error *err)
{
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_CTX *ctx = eph != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
	uint8_t z[P256_LEN], ux[P256_LEN], uy[P256_LEN], vx[P256_LEN], vy[P256_LEN];
	size_t zlen = sizeof(z);
	int rc = -1;

	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, ek) != 1 || EVP_PKEY_derive(ctx, z, &zlen) != 1 ||
	    zlen != sizeof(z) || p256_xy(eph, ux, uy) != 0 || p256_xy(ek, vx, vy) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: ECDH");
		goto out;
	}
	if (kdfe_identity(z, zlen, ux, vx, seed) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: KDFe");
		goto out;
	}
	if (put16(out, 2 + P256_LEN + 2 + P256_LEN) != 0 || put16(out, P256_LEN) != 0 ||
	    ztm_buf_append(out, ux, P256_LEN) != 0 || put16(out, P256_LEN) != 0 ||
	    ztm_buf_append(out, uy, P256_LEN) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "MakeCredential");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(eph); /* frees the ephemeral private key */
	return rc;
}

int ztm_tpm_make_credential(EVP_PKEY *ek, const uint8_t *name, size_t name_len,
                            const uint8_t cred[ZTM_TPM_CRED_LEN], struct ztm_buf *id_object,
                            struct ztm_buf *enc_secret, struct ztm_error *err)
{
	uint8_t seed[SEED_LEN], sym[SYM_LEN], hkey[32], iv[16] = {0};
	uint8_t plain[2 + ZTM_TPM_CRED_LEN], enc[2 + ZTM_TPM_CRED_LEN], mac[32];
	EVP_CIPHER_CTX *c = NULL;
	EVP_MAC *hm = NULL;
	EVP_MAC_CTX *mctx = NULL;
	OSSL_PARAM mp[2];
	size_t ml = 0;
	int n1 = 0, n2 = 0, rc = -1;

	ztm_buf_reset(id_object);
	ztm_buf_reset(enc_secret);
	switch (ztm_tpm_ek_kind(ek)) {
	case ZTM_TPM_EK_RSA2048:
		if (RAND_priv_bytes(seed, sizeof(seed)) != 1) {
			ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: seed");
			goto out;
		}
		if (oaep_seed(ek, seed, enc_secret, err) != 0)
			goto out;
		break;
	case ZTM_TPM_EK_ECC_P256:
		if (ecdh_seed(ek, seed, enc_secret, err) != 0)
			goto out;
		break;
	default:
		return ztm_error_set(err, ZTM_E_WEAKKEY,
		                     "MakeCredential: the EK is not RSA-2048 or ECC P-256");
	}
	plain[0] = 0;
	plain[1] = ZTM_TPM_CRED_LEN;
	memcpy(plain + 2, cred, ZTM_TPM_CRED_LEN);
	c = EVP_CIPHER_CTX_new();
	if (kdfa(seed, sizeof(seed), "STORAGE", name, name_len, sym, sizeof(sym)) != 0 ||
	    kdfa(seed, sizeof(seed), "INTEGRITY", NULL, 0, hkey, sizeof(hkey)) != 0 || c == NULL ||
	    EVP_EncryptInit_ex2(c, EVP_aes_128_cfb128(), sym, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(c, enc, &n1, plain, (int)sizeof(plain)) != 1 ||
	    EVP_EncryptFinal_ex(c, enc + n1, &n2) != 1 || (size_t)(n1 + n2) != sizeof(enc)) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: KDFa or AES-CFB");
		goto out;
	}
	hm = EVP_MAC_fetch(NULL, "HMAC", NULL);
	mctx = hm != NULL ? EVP_MAC_CTX_new(hm) : NULL;
	mp[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	mp[1] = OSSL_PARAM_construct_end();
	if (mctx == NULL || EVP_MAC_init(mctx, hkey, sizeof(hkey), mp) != 1 ||
	    EVP_MAC_update(mctx, enc, sizeof(enc)) != 1 ||
	    EVP_MAC_update(mctx, name, name_len) != 1 ||
	    EVP_MAC_final(mctx, mac, &ml, sizeof(mac)) != 1 || ml != sizeof(mac)) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "MakeCredential: HMAC");
		goto out;
	}
	if (put16(id_object, 2 + sizeof(mac) + sizeof(enc)) != 0 ||
	    put16(id_object, sizeof(mac)) != 0 ||
	    ztm_buf_append(id_object, mac, sizeof(mac)) != 0 ||
	    ztm_buf_append(id_object, enc, sizeof(enc)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "MakeCredential");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(sym, sizeof(sym));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	OPENSSL_cleanse(plain, sizeof(plain));
	EVP_CIPHER_CTX_free(c);
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(hm);
	return rc;
}

/* --- EK certificate ------------------------------------------------------ */

struct ztm_tpm_roots {
	X509_STORE *store;      /* the self-signed ones */
	STACK_OF(X509) * inter; /* the others */
	size_t n_roots;
};

void ztm_tpm_roots_free(struct ztm_tpm_roots *r)
{
	if (r == NULL)
		return;
	X509_STORE_free(r->store);
	sk_X509_pop_free(r->inter, X509_free);
	free(r);
}

struct ztm_tpm_roots *ztm_tpm_roots_load(const char *path, struct ztm_error *err)
{
	struct ztm_tpm_roots *r = calloc(1, sizeof(*r));
	BIO *in = BIO_new_file(path, "r");
	X509 *x;

	if (r == NULL || (r->store = X509_STORE_new()) == NULL ||
	    (r->inter = sk_X509_new_null()) == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "ek_roots");
		goto fail;
	}
	if (in == NULL) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "ek_roots '%s'", path);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (X509_self_signed(x, 1) == 1) {
			if (X509_STORE_add_cert(r->store, x) != 1) {
				X509_free(x);
				ztm_error_ossl(err, ZTM_E_CONFIG, "ek_roots '%s'", path);
				goto fail;
			}
			X509_free(x);
			r->n_roots++;
		} else if (sk_X509_push(r->inter, x) <= 0) {
			X509_free(x);
			ztm_error_set(err, ZTM_E_NOMEM, "ek_roots");
			goto fail;
		}
	}
	ERR_clear_error(); /* the end of the file */
	if (r->n_roots == 0) {
		ztm_error_set(err, ZTM_E_CONFIG, "ek_roots '%s': no self-signed CA certificate",
		              path);
		goto fail;
	}
	BIO_free(in);
	return r;
fail:
	BIO_free(in);
	ztm_tpm_roots_free(r);
	return NULL;
}

int ztm_tpm_ek_verify(const struct ztm_tpm_roots *roots, const uint8_t *der, size_t len,
                      int64_t now, EVP_PKEY **ek, struct ztm_error *err)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *k;
	int rc = -1;

	*ek = NULL;
	if (len == 0 || len > ZTM_TPM_EK_CERT_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		ztm_error_ossl(err, ZTM_E_PARSE, "EK certificate");
		goto out;
	}
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, roots->store, x, roots->inter) != 1) {
		ztm_error_ossl(err, ZTM_E_NOMEM, "EK certificate");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	/* EK certificates carry the TCG's EKU (2.23.133.8.1) and a critical
	 * SAN of TPM attributes; no X.509 purpose applies (any). */
	if (X509_verify_cert(ctx) != 1) {
		ztm_error_set(err, ZTM_E_AUTH,
		              "the EK certificate does not chain to a configured TPM manufacturer "
		              "CA: %s",
		              X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	k = X509_get0_pubkey(x);
	if (ztm_tpm_ek_kind(k) == ZTM_TPM_EK_UNSUPPORTED) {
		ztm_error_set(err, ZTM_E_WEAKKEY,
		              "the EK is neither RSA-2048 (TCG template L-1) nor ECC P-256 "
		              "(L-2)");
		goto out;
	}
	if (EVP_PKEY_up_ref(k) != 1) {
		ztm_error_set(err, ZTM_E_NOMEM, "EK");
		goto out;
	}
	*ek = k;
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_free(x);
	return rc;
}
