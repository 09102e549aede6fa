/* signer.c - a private key with its signing context prepared once (see
 * ztm/signer.h). */
#include "ztm/signer.h"

#include <stdlib.h>
#include <string.h>

#include "der.h"
#include "ztm/p11.h"

struct ztm_signer {
	char name[64];
	EVP_PKEY *key;
	EVP_MD *md;           /* NULL for Ed25519 (pure signature) */
	EVP_MD_CTX *prepared; /* DigestSign initialised with key: copied per use */
	uint8_t alg[24];      /* signatureAlgorithm AlgorithmIdentifier DER */
	size_t alg_len;
	size_t sig_max; /* EVP_PKEY_get_size: no size query per signature */
	/* An EC key in a PKCS#11 token: hashed here, signed there. */
	const struct ztm_p11_ec *token_ec;
};

/* Chooses the signature algorithm from the key type: one fixed pairing per
 * key (RFC 5758 §3.2 hash sized to the curve, RFC 8410 pure Ed25519,
 * RFC 4055 sha256WithRSAEncryption) so the AlgorithmIdentifier can be
 * written as constant bytes. */
static int pick_alg(struct ztm_signer *s, struct ztm_error *err)
{
	struct ztm_buf b;
	struct ztm_der w;
	const char *mdname = NULL;
	size_t m;

	ztm_buf_init(&b, sizeof(s->alg));
	ztm_der_init(&w, &b);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	if (EVP_PKEY_is_a(s->key, "EC")) {
		int bits = EVP_PKEY_get_bits(s->key);
		if (bits == 256) {
			ZTM_DER_PUT_OID(&w, ZTM_OID_ECDSA_SHA256);
			mdname = "SHA256";
		} else if (bits == 384) {
			ZTM_DER_PUT_OID(&w, ZTM_OID_ECDSA_SHA384);
			mdname = "SHA384";
		} else if (bits == 521) {
			ZTM_DER_PUT_OID(&w, ZTM_OID_ECDSA_SHA512);
			mdname = "SHA512";
		} else {
			ztm_buf_free(&b);
			return ztm_error_set(err, ZTM_E_WEAKKEY, "%s: EC key of %d bits", s->name,
			                     bits);
		}
	} else if (EVP_PKEY_is_a(s->key, "ED25519")) {
		ZTM_DER_PUT_OID(&w, ZTM_OID_ED25519);
	} else if (EVP_PKEY_is_a(s->key, "RSA")) {
		ZTM_DER_PUT_OID(&w, ZTM_OID_RSA_SHA256);
		ztm_der_tlv(&w, ZTM_DER_NULL, NULL, 0);
		mdname = "SHA256";
	} else {
		ztm_buf_free(&b);
		return ztm_error_set(err, ZTM_E_WEAKKEY, "%s: unsupported key type", s->name);
	}
	ztm_der_end(&w, m);
	if (w.failed) {
		ztm_buf_free(&b);
		return ztm_error_set(err, ZTM_E_INTERNAL, "%s: algorithm encoding", s->name);
	}
	memcpy(s->alg, b.data, b.len);
	s->alg_len = b.len;
	ztm_buf_free(&b);
	if (mdname != NULL) {
		s->md = EVP_MD_fetch(NULL, mdname, NULL);
		if (s->md == NULL)
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: fetch %s", s->name, mdname);
	}
	if (EVP_PKEY_get_size(s->key) <= 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: signature size", s->name);
	s->sig_max = (size_t)EVP_PKEY_get_size(s->key);
	s->prepared = EVP_MD_CTX_new();
	if (s->prepared == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "%s: signing context", s->name);
	if (EVP_DigestSignInit(s->prepared, NULL, s->md, NULL, s->key) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: signing init", s->name);
	return 0;
}

struct ztm_signer *ztm_signer_new(const char *name, EVP_PKEY *key, struct ztm_error *err)
{
	struct ztm_signer *s;

	if (name == NULL || key == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "signer: name and key are required");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s", name);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (EVP_PKEY_up_ref(key) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: reference", name);
		free(s);
		return NULL;
	}
	s->key = key;
	if (pick_alg(s, err) != 0) {
		ztm_signer_free(s);
		return NULL;
	}
	s->token_ec = s->md != NULL ? ztm_p11_ec_of(key) : NULL;
	return s;
}

void ztm_signer_free(struct ztm_signer *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->prepared);
	EVP_MD_free(s->md);
	EVP_PKEY_free(s->key);
	free(s);
}

struct ztm_slice ztm_signer_alg(const struct ztm_signer *s)
{
	struct ztm_slice a = {s->alg, s->alg_len};
	return a;
}

int ztm_signer_sign(const struct ztm_signer *s, const uint8_t *tbs, size_t len, struct ztm_buf *sig,
                    struct ztm_error *err)
{
	EVP_MD_CTX *c = NULL;
	size_t n = 0;
	uint8_t *dst;
	int rc = -1;

	/* A token key: the digest here, the signature in one C_Sign (the
	 * same ECDSA-Sig-Value, without the legacy-key hop through EVP). */
	if (s->token_ec != NULL) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		if (EVP_Digest(tbs, len, md, &mdlen, s->md, NULL) != 1)
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: digest", s->name);
		if (ztm_p11_ec_sign_der(s->token_ec, md, mdlen, sig, err) != 0) {
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			return ztm_error_set(err, err->code, "%s: signing failed: %s", s->name,
			                     why);
		}
		return 0;
	}
	/* A copy of the prepared context: no algorithm fetch, no key setup,
	 * and the shared one stays untouched for other threads. */
	c = EVP_MD_CTX_new();
	if (c == NULL || EVP_MD_CTX_copy_ex(c, s->prepared) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: signing context copy", s->name);
		goto out;
	}
	/* FINALISE: the copy is used once, so OpenSSL need not duplicate it
	 * again inside DigestSignFinal to keep it reusable. */
	EVP_MD_CTX_set_flags(c, EVP_MD_CTX_FLAG_FINALISE);
	n = s->sig_max;
	dst = ztm_buf_reserve(sig, n);
	if (dst == NULL) {
		ztm_error_set(err, ZTM_E_TOOBIG, "%s: signature buffer", s->name);
		goto out;
	}
	if (EVP_DigestSign(c, dst, &n, tbs, len) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: signing failed", s->name);
		goto out;
	}
	sig->len += n;
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}

int ztm_signer_check_pub(const struct ztm_signer *s, EVP_PKEY *pub, struct ztm_error *err)
{
	static const uint8_t msg[] = "ztm key/certificate pairing check";
	struct ztm_buf sig;
	EVP_MD_CTX *v = NULL;
	int rc = -1;

	ztm_buf_init(&sig, 0);
	if (ztm_signer_sign(s, msg, sizeof(msg), &sig, err) != 0)
		goto out;
	v = EVP_MD_CTX_new();
	if (v == NULL || pub == NULL || EVP_DigestVerifyInit(v, NULL, s->md, NULL, pub) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: verify init", s->name);
		goto out;
	}
	if (EVP_DigestVerify(v, sig.data, sig.len, msg, sizeof(msg)) != 1) {
		ztm_error_ossl(err, ZTM_E_USAGE, "%s: key does not match certificate", s->name);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(v);
	ztm_buf_free(&sig);
	return rc;
}
