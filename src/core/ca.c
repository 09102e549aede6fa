/* ca.c - an issuing CA in memory with its signing machinery prepared once
 * (ztm/signer.h). */
#include "ztm/ca.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "ztm/signer.h"

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
	struct ztm_signer *signer; /* the key, its algorithm, a prepared context */
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

struct ztm_ca *ztm_ca_new(const char *name, X509 *cert, EVP_PKEY *key,
                          const struct ztm_ca_urls *urls, struct ztm_error *err)
{
	struct ztm_ca *ca = NULL;
	unsigned char *der = NULL;
	char signer_name[64];
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
	if (load_ski(ca, err) != 0)
		goto fail;
	snprintf(signer_name, sizeof(signer_name), "CA %s", name);
	ca->signer = ztm_signer_new(signer_name, key, err);
	if (ca->signer == NULL ||
	    ztm_signer_check_pub(ca->signer, X509_get0_pubkey(cert), err) != 0)
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
	ztm_signer_free(ca->signer);
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
	return ztm_signer_alg(ca->signer);
}

int ztm_ca_sign(const struct ztm_ca *ca, const uint8_t *tbs, size_t len, struct ztm_buf *sig,
                struct ztm_error *err)
{
	return ztm_signer_sign(ca->signer, tbs, len, sig, err);
}
