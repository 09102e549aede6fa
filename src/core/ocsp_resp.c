/* ocsp_resp.c - OCSPResponse writer (RFC 6960 §4.2.1) and the issuer
 * hashes of a CertID. Responses are built with the DER writer and signed
 * by a ztm_signer (prepared once), so one costs one signature and a few
 * hundred bytes of copying; ztmd signs ahead and serves the bytes. */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "der.h"
#include "ztm/ocsp.h"

#define OID_SHA1       "\x2b\x0e\x03\x02\x1a"
#define OID_SHA256     "\x60\x86\x48\x01\x65\x03\x04\x02\x01"
#define OID_OCSP_BASIC "\x2b\x06\x01\x05\x05\x07\x30\x01\x01"
#define OID_OCSP_NONCE "\x2b\x06\x01\x05\x05\x07\x30\x01\x02"

struct ztm_ocsp_responder {
	X509 *cert;
	struct ztm_buf cert_der;
	struct ztm_signer *signer;
	uint8_t key_hash[20]; /* responderID byKey: SHA-1 of subjectPublicKey */
};

int ztm_ocsp_issuer_hashes(X509 *ca, enum ztm_ocsp_hash h, uint8_t name[32], uint8_t key[32],
                           struct ztm_error *err)
{
	const EVP_MD *md = h == ZTM_OCSP_SHA256 ? EVP_sha256() : EVP_sha1();
	unsigned char *der = NULL;
	unsigned int n = 0;
	int len, ok;

	len = i2d_X509_NAME(X509_get_subject_name(ca), &der);
	ok = len > 0 && EVP_Digest(der, (size_t)len, name, &n, md, NULL) == 1 &&
	     n == ztm_ocsp_hash_len(h);
	OPENSSL_free(der);
	/* X509_pubkey_digest hashes the BIT STRING value without its
	 * unused-bits octet: exactly RFC 6960's issuerKeyHash. */
	if (!ok || X509_pubkey_digest(ca, md, key, &n) != 1 || n != ztm_ocsp_hash_len(h))
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP issuer hashes");
	return 0;
}

struct ztm_ocsp_responder *ztm_ocsp_responder_new(X509 *cert, EVP_PKEY *key, struct ztm_error *err)
{
	struct ztm_ocsp_responder *r = calloc(1, sizeof(*r));
	unsigned char *der = NULL;
	unsigned int n = 0;
	int len;

	if (r == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "OCSP responder");
		return NULL;
	}
	ztm_buf_init(&r->cert_der, 64 * 1024);
	if (cert == NULL || key == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "OCSP responder: certificate and key required");
		goto fail;
	}
	/* RFC 6960 §4.2.2.2: a delegate MUST carry id-kp-OCSPSigning. */
	if (!(X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(cert) & XKU_OCSP_SIGN)) {
		ztm_error_set(err, ZTM_E_USAGE, "OCSP responder certificate lacks OCSPSigning");
		goto fail;
	}
	r->signer = ztm_signer_new("OCSP responder", key, err);
	if (r->signer == NULL || ztm_signer_check_pub(r->signer, X509_get0_pubkey(cert), err) != 0)
		goto fail;
	len = i2d_X509(cert, &der);
	if (len <= 0 || ztm_buf_append(&r->cert_der, der, (size_t)len) != 0 ||
	    X509_pubkey_digest(cert, EVP_sha1(), r->key_hash, &n) != 1 || n != 20) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP responder certificate encoding");
		goto fail;
	}
	OPENSSL_free(der);
	der = NULL;
	if (X509_up_ref(cert) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP responder: reference");
		goto fail;
	}
	r->cert = cert;
	return r;
fail:
	OPENSSL_free(der);
	ztm_ocsp_responder_free(r);
	return NULL;
}

void ztm_ocsp_responder_free(struct ztm_ocsp_responder *r)
{
	if (r == NULL)
		return;
	X509_free(r->cert);
	ztm_buf_free(&r->cert_der);
	ztm_signer_free(r->signer);
	free(r);
}

X509 *ztm_ocsp_responder_cert(const struct ztm_ocsp_responder *r)
{
	return r->cert;
}

/* RFC 6960 §4.2.2.1 (via RFC 5280 §4.1.2.5.2): every time in a response
 * is GeneralizedTime, YYYYMMDDHHMMSSZ, whatever the year. */
static void gentime(struct ztm_der *w, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[20];
	int n;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1950) {
		w->failed = 1;
		return;
	}
	n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != 15) {
		w->failed = 1;
		return;
	}
	ztm_der_tlv(w, ZTM_DER_GENTIME, s, 15);
}

static void certid(struct ztm_der *w, const struct ztm_ocsp_certid *id)
{
	size_t m = ztm_der_begin(w, ZTM_DER_SEQUENCE), a;

	a = ztm_der_begin(w, ZTM_DER_SEQUENCE);
	if (id->hash == ZTM_OCSP_SHA256)
		ZTM_DER_PUT_OID(w, OID_SHA256);
	else
		ZTM_DER_PUT_OID(w, OID_SHA1);
	ztm_der_tlv(w, ZTM_DER_NULL, NULL, 0);
	ztm_der_end(w, a);
	ztm_der_tlv(w, ZTM_DER_OCTETSTR, id->name_hash.p, id->name_hash.len);
	ztm_der_tlv(w, ZTM_DER_OCTETSTR, id->key_hash.p, id->key_hash.len);
	ztm_der_tlv(w, ZTM_DER_INTEGER, id->serial.p, id->serial.len);
	ztm_der_end(w, m);
}

static void single(struct ztm_der *w, const struct ztm_ocsp_single *s)
{
	size_t m = ztm_der_begin(w, ZTM_DER_SEQUENCE), r, x;

	certid(w, &s->id);
	switch (s->status) {
	case ZTM_OCSP_GOOD:
		ztm_der_tlv(w, ZTM_DER_CTX(0), NULL, 0); /* good [0] IMPLICIT NULL */
		break;
	case ZTM_OCSP_REVOKED:
		r = ztm_der_begin(w, ZTM_DER_CTX_CONS(1)); /* [1] IMPLICIT RevokedInfo */
		gentime(w, s->revoked_at);
		if (s->reason != ZTM_OCSP_NO_REASON) {
			uint8_t reason = (uint8_t)s->reason;
			x = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
			ztm_der_tlv(w, 0x0a /* ENUMERATED */, &reason, 1);
			ztm_der_end(w, x);
		}
		ztm_der_end(w, r);
		break;
	default:
		ztm_der_tlv(w, ZTM_DER_CTX(2), NULL, 0); /* unknown [2] IMPLICIT NULL */
		break;
	}
	gentime(w, s->this_update);
	if (s->next_update != 0) {
		x = ztm_der_begin(w, ZTM_DER_CTX_CONS(0));
		gentime(w, s->next_update);
		ztm_der_end(w, x);
	}
	ztm_der_end(w, m);
}

static int valid_single(const struct ztm_ocsp_single *s)
{
	if (s->id.name_hash.len != ztm_ocsp_hash_len(s->id.hash) ||
	    s->id.key_hash.len != ztm_ocsp_hash_len(s->id.hash) || s->id.serial.len == 0 ||
	    s->id.serial.len > ZTM_OCSP_SERIAL_MAX + 1)
		return 0;
	/* CRLReason 7 is unused; 0..10 otherwise (RFC 5280 §5.3.1). */
	if (s->status == ZTM_OCSP_REVOKED && s->reason != ZTM_OCSP_NO_REASON &&
	    (s->reason < 0 || s->reason > 10 || s->reason == 7))
		return 0;
	return s->status == ZTM_OCSP_GOOD || s->status == ZTM_OCSP_REVOKED ||
	       s->status == ZTM_OCSP_UNKNOWN;
}

int ztm_ocsp_resp_build(const struct ztm_ocsp_responder *r, const struct ztm_ocsp_single *s,
                        size_t n, struct ztm_slice nonce, int64_t produced_at, struct ztm_buf *out,
                        struct ztm_error *err)
{
	struct ztm_buf tbs, sig, res;
	struct ztm_der w;
	size_t m, l, e, i, oldlen = out->len;
	int rc = -1;

	if (n == 0 || n > ZTM_OCSP_MAX_IDS || nonce.len > ZTM_OCSP_NONCE_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "OCSP response: %zu responses", n);
	for (i = 0; i < n; i++)
		if (!valid_single(&s[i]))
			return ztm_error_set(err, ZTM_E_USAGE, "OCSP response: bad entry %zu", i);
	ztm_buf_init(&tbs, 64 * 1024);
	ztm_buf_init(&sig, 1024);
	ztm_buf_init(&res, 128 * 1024);
	/* ResponseData: version v1 (default, omitted), responderID byKey. */
	ztm_der_init(&w, &tbs);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	l = ztm_der_begin(&w, ZTM_DER_CTX_CONS(2));
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, r->key_hash, sizeof(r->key_hash));
	ztm_der_end(&w, l);
	gentime(&w, produced_at);
	l = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	for (i = 0; i < n; i++)
		single(&w, &s[i]);
	ztm_der_end(&w, l);
	if (nonce.len > 0) {
		/* RFC 8954: the nonce extension echoes the request's value. */
		l = ztm_der_begin(&w, ZTM_DER_CTX_CONS(1));
		e = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
		i = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
		ZTM_DER_PUT_OID(&w, OID_OCSP_NONCE);
		size_t v = ztm_der_begin(&w, ZTM_DER_OCTETSTR);
		ztm_der_tlv(&w, ZTM_DER_OCTETSTR, nonce.p, nonce.len);
		ztm_der_end(&w, v);
		ztm_der_end(&w, i);
		ztm_der_end(&w, e);
		ztm_der_end(&w, l);
	}
	ztm_der_end(&w, m);
	if (w.failed) {
		ztm_error_set(err, ZTM_E_INTERNAL, "OCSP response encoding");
		goto out;
	}
	if (ztm_signer_sign(r->signer, tbs.data, tbs.len, &sig, err) != 0)
		goto out;
	/* BasicOCSPResponse, then the OCSPResponse around it. */
	ztm_der_init(&w, &res);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_raw(&w, tbs.data, tbs.len);
	{
		struct ztm_slice alg = ztm_signer_alg(r->signer);
		uint8_t zero = 0;
		ztm_der_raw(&w, alg.p, alg.len);
		l = ztm_der_begin(&w, ZTM_DER_BITSTRING);
		ztm_der_raw(&w, &zero, 1);
		ztm_der_raw(&w, sig.data, sig.len);
		ztm_der_end(&w, l);
	}
	l = ztm_der_begin(&w, ZTM_DER_CTX_CONS(0));
	e = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_raw(&w, r->cert_der.data, r->cert_der.len);
	ztm_der_end(&w, e);
	ztm_der_end(&w, l);
	ztm_der_end(&w, m);
	if (w.failed) {
		ztm_error_set(err, ZTM_E_INTERNAL, "OCSP response encoding");
		goto out;
	}
	ztm_der_init(&w, out);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_tlv(&w, 0x0a /* ENUMERATED */, "\x00", 1);
	l = ztm_der_begin(&w, ZTM_DER_CTX_CONS(0));
	e = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ZTM_DER_PUT_OID(&w, OID_OCSP_BASIC);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, res.data, res.len);
	ztm_der_end(&w, e);
	ztm_der_end(&w, l);
	ztm_der_end(&w, m);
	if (w.failed) {
		out->len = oldlen;
		ztm_error_set(err, ZTM_E_TOOBIG, "OCSP response does not fit");
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&tbs);
	ztm_buf_free(&sig);
	ztm_buf_free(&res);
	return rc;
}

int ztm_ocsp_resp_status(enum ztm_ocsp_resp_status st, struct ztm_buf *out)
{
	uint8_t b[5] = {ZTM_DER_SEQUENCE, 3, 0x0a, 1, (uint8_t)st};

	return ztm_buf_append(out, b, sizeof(b));
}
