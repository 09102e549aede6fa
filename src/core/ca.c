/* ca.c - an issuing CA in memory with its signing machinery prepared once. */
#include "ztm/ca.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "der.h"

struct ztm_ca {
	char *name;
	X509 *cert;
	EVP_PKEY *key;
	uint8_t *subject;
	size_t subject_len;
	uint8_t ski[64];
	size_t ski_len;
	struct ztm_ca_urls urls;
	int64_t not_before, not_after;
	EVP_MD *md;           /* NULL for Ed25519 (pure signature) */
	EVP_MD_CTX *prepared; /* DigestSign initialised with key: copied per use */
	uint8_t alg[24];      /* signatureAlgorithm AlgorithmIdentifier DER */
	size_t alg_len;
	size_t sig_max; /* EVP_PKEY_get_size: no size query per signature */
};

static char *dup_or_null(const char *s, int *failed)
{
	char *d;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d == NULL) {
		*failed = 1;
		return NULL;
	}
	memcpy(d, s, n);
	return d;
}

static int asn1_time_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	time_t v;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	v = timegm(&tm);
	if (v == (time_t)-1)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Chooses the signature algorithm from the key type: one fixed pairing per
 * key (RFC 5758 §3.2 hash sized to the curve, RFC 8410 pure Ed25519,
 * RFC 4055 sha256WithRSAEncryption) so the AlgorithmIdentifier can be
 * written as constant bytes. */
static int pick_alg(struct ztm_ca *ca, struct ztm_error *err)
{
	struct ztm_buf b;
	struct ztm_der w;
	const char *mdname = NULL;
	size_t m;

	ztm_buf_init(&b, sizeof(ca->alg));
	ztm_der_init(&w, &b);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	if (EVP_PKEY_is_a(ca->key, "EC")) {
		int bits = EVP_PKEY_get_bits(ca->key);
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
			return ztm_error_set(err, ZTM_E_WEAKKEY, "CA %s: EC key of %d bits",
			                     ca->name, bits);
		}
	} else if (EVP_PKEY_is_a(ca->key, "ED25519")) {
		ZTM_DER_PUT_OID(&w, ZTM_OID_ED25519);
	} else if (EVP_PKEY_is_a(ca->key, "RSA")) {
		ZTM_DER_PUT_OID(&w, ZTM_OID_RSA_SHA256);
		ztm_der_tlv(&w, ZTM_DER_NULL, NULL, 0);
		mdname = "SHA256";
	} else {
		ztm_buf_free(&b);
		return ztm_error_set(err, ZTM_E_WEAKKEY, "CA %s: unsupported key type", ca->name);
	}
	ztm_der_end(&w, m);
	if (w.failed) {
		ztm_buf_free(&b);
		return ztm_error_set(err, ZTM_E_INTERNAL, "CA %s: algorithm encoding", ca->name);
	}
	memcpy(ca->alg, b.data, b.len);
	ca->alg_len = b.len;
	ztm_buf_free(&b);
	if (mdname != NULL) {
		ca->md = EVP_MD_fetch(NULL, mdname, NULL);
		if (ca->md == NULL)
			return ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: fetch %s", ca->name,
			                      mdname);
	}
	if (EVP_PKEY_get_size(ca->key) <= 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: signature size", ca->name);
	ca->sig_max = (size_t)EVP_PKEY_get_size(ca->key);
	ca->prepared = EVP_MD_CTX_new();
	if (ca->prepared == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "CA %s: signing context", ca->name);
	if (EVP_DigestSignInit(ca->prepared, NULL, ca->md, NULL, ca->key) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: signing init", ca->name);
	return 0;
}

static int load_ski(struct ztm_ca *ca, struct ztm_error *err)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
	unsigned int n = 0;

	if (ski != NULL && ski->length > 0 && (size_t)ski->length <= sizeof(ca->ski)) {
		memcpy(ca->ski, ski->data, (size_t)ski->length);
		ca->ski_len = (size_t)ski->length;
		return 0;
	}
	/* RFC 5280 §4.2.1.2 method (1): a CA certificate without the
	 * extension still needs a key identifier for its children's AKI. */
	if (X509_pubkey_digest(ca->cert, EVP_sha1(), ca->ski, &n) != 1 || n != 20)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: key identifier", ca->name);
	ca->ski_len = n;
	return 0;
}

/* Proves key and certificate belong together by signing and verifying:
 * comparing key bytes would fail for HSM keys whose bytes are hidden. */
static int check_pair(struct ztm_ca *ca, struct ztm_error *err)
{
	static const uint8_t msg[] = "ztm CA key/certificate pairing check";
	struct ztm_buf sig;
	EVP_MD_CTX *v = NULL;
	int rc = -1;

	ztm_buf_init(&sig, 0);
	if (ztm_ca_sign(ca, msg, sizeof(msg), &sig, err) != 0)
		goto out;
	v = EVP_MD_CTX_new();
	if (v == NULL ||
	    EVP_DigestVerifyInit(v, NULL, ca->md, NULL, X509_get0_pubkey(ca->cert)) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: verify init", ca->name);
		goto out;
	}
	if (EVP_DigestVerify(v, sig.data, sig.len, msg, sizeof(msg)) != 1) {
		ztm_error_ossl(err, ZTM_E_USAGE, "CA %s: key does not match certificate", ca->name);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(v);
	ztm_buf_free(&sig);
	return rc;
}

struct ztm_ca *ztm_ca_new(const char *name, X509 *cert, EVP_PKEY *key,
                          const struct ztm_ca_urls *urls, struct ztm_error *err)
{
	struct ztm_ca *ca = NULL;
	unsigned char *der = NULL;
	int n, failed = 0;

	if (name == NULL || cert == NULL || key == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "CA: name, certificate and key are required");
		return NULL;
	}
	/* 1 = a CA by basicConstraints (and keyCertSign if keyUsage is there);
	 * 3/4/5 are legacy v1 or Netscape-type answers ztm does not accept. */
	if (X509_check_ca(cert) != 1) {
		ztm_error_set(err, ZTM_E_USAGE, "CA %s: certificate is not a CA (basicConstraints)",
		              name);
		return NULL;
	}
	ca = calloc(1, sizeof(*ca));
	if (ca == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "CA %s", name);
		return NULL;
	}
	ca->name = dup_or_null(name, &failed);
	if (urls != NULL) {
		ca->urls.ca_issuers = dup_or_null(urls->ca_issuers, &failed);
		ca->urls.ocsp = dup_or_null(urls->ocsp, &failed);
		ca->urls.crl = dup_or_null(urls->crl, &failed);
	}
	if (failed) {
		ztm_error_set(err, ZTM_E_NOMEM, "CA %s", name);
		goto fail;
	}
	if (X509_up_ref(cert) != 1 || (ca->cert = cert, EVP_PKEY_up_ref(key) != 1)) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: reference", name);
		goto fail;
	}
	ca->key = key;
	n = i2d_X509_NAME(X509_get_subject_name(cert), &der);
	if (n <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: subject encoding", name);
		goto fail;
	}
	ca->subject = der;
	ca->subject_len = (size_t)n;
	if (asn1_time_epoch(X509_get0_notBefore(cert), &ca->not_before) != 0 ||
	    asn1_time_epoch(X509_get0_notAfter(cert), &ca->not_after) != 0) {
		ztm_error_ossl(err, ZTM_E_PARSE, "CA %s: validity", name);
		goto fail;
	}
	if (load_ski(ca, err) != 0 || pick_alg(ca, err) != 0 || check_pair(ca, err) != 0)
		goto fail;
	return ca;
fail:
	ztm_ca_free(ca);
	return NULL;
}

void ztm_ca_free(struct ztm_ca *ca)
{
	if (ca == NULL)
		return;
	EVP_MD_CTX_free(ca->prepared);
	EVP_MD_free(ca->md);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	OPENSSL_free(ca->subject);
	free((char *)ca->urls.ca_issuers);
	free((char *)ca->urls.ocsp);
	free((char *)ca->urls.crl);
	free(ca->name);
	free(ca);
}

const char *ztm_ca_name(const struct ztm_ca *ca)
{
	return ca->name;
}

X509 *ztm_ca_cert(const struct ztm_ca *ca)
{
	return ca->cert;
}

int64_t ztm_ca_not_before(const struct ztm_ca *ca)
{
	return ca->not_before;
}

int64_t ztm_ca_not_after(const struct ztm_ca *ca)
{
	return ca->not_after;
}

struct ztm_slice ztm_ca_ski(const struct ztm_ca *ca)
{
	struct ztm_slice s = {ca->ski, ca->ski_len};
	return s;
}

const struct ztm_ca_urls *ztm_ca_urls(const struct ztm_ca *ca)
{
	return &ca->urls;
}

struct ztm_slice ztm_ca_subject_der(const struct ztm_ca *ca)
{
	struct ztm_slice s = {ca->subject, ca->subject_len};
	return s;
}

struct ztm_slice ztm_ca_sig_alg(const struct ztm_ca *ca)
{
	struct ztm_slice s = {ca->alg, ca->alg_len};
	return s;
}

int ztm_ca_sign(const struct ztm_ca *ca, const uint8_t *tbs, size_t len, struct ztm_buf *sig,
                struct ztm_error *err)
{
	EVP_MD_CTX *c = NULL;
	size_t n = 0;
	uint8_t *dst;
	int rc = -1;

	/* A copy of the prepared context: no algorithm fetch, no key setup,
	 * and the shared one stays untouched for other threads. */
	c = EVP_MD_CTX_new();
	if (c == NULL || EVP_MD_CTX_copy_ex(c, ca->prepared) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: signing context copy", ca->name);
		goto out;
	}
	/* FINALISE: the copy is used once, so OpenSSL need not duplicate it
	 * again inside DigestSignFinal to keep it reusable. */
	EVP_MD_CTX_set_flags(c, EVP_MD_CTX_FLAG_FINALISE);
	n = ca->sig_max;
	dst = ztm_buf_reserve(sig, n);
	if (dst == NULL) {
		ztm_error_set(err, ZTM_E_TOOBIG, "CA %s: signature buffer", ca->name);
		goto out;
	}
	if (EVP_DigestSign(c, dst, &n, tbs, len) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "CA %s: signing failed", ca->name);
		goto out;
	}
	sig->len += n;
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	return rc;
}
