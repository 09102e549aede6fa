/* bootstrap_shape.c - a device bootstrap certificate judged from its DER
 * alone (ztm/bootstrap.h): what ztmd checks at record ingest
 * (ztm_record_check_cert_shape) and in the TLS handshake (src/server/tls.c),
 * so both refuse the same certificates. */
#include <string.h>

#include "der.h"
#include "ztm/batch.h"
#include "ztm/bootstrap.h"

/* RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }; TBSCertificate ::= SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
 * [1] [2] unique ids OPTIONAL, [3] extensions OPTIONAL }. Framing is read
 * strictly (ztm_der_get: definite minimal lengths, nothing trailing at any
 * level read); extensions are framed, not interpreted. */
int ztm_bootstrap_shape(const uint8_t *der, size_t len, struct ztm_bootstrap_shape *out,
                        struct ztm_error *err)
{
	struct ztm_cursor c, cert, tbs;
	struct ztm_slice v, tbs_alg, alg, issuer;
	int tag;

	memset(out, 0, sizeof(*out));
	if (der == NULL || len == 0 || len > ZTM_RECORD_MAX_CERT)
		return ztm_error_set(err, ZTM_E_TOOBIG, "bootstrap certificate: %zu bytes (1..%d)",
		                     len, ZTM_RECORD_MAX_CERT);
	ztm_cursor_init(&c, der, len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &v, NULL) != 0 || ztm_cursor_left(&c) != 0)
		goto bad;
	ztm_cursor_init(&cert, v.p, v.len);
	if (ztm_der_get(&cert, ZTM_DER_SEQUENCE, &v, NULL) != 0 ||
	    ztm_der_get(&cert, ZTM_DER_SEQUENCE, NULL, &alg) != 0 ||
	    ztm_der_get(&cert, ZTM_DER_BITSTRING, NULL, NULL) != 0 || ztm_cursor_left(&cert) != 0)
		goto bad;
	ztm_cursor_init(&tbs, v.p, v.len);
	if (ztm_der_peek(&tbs) == ZTM_DER_CTX_CONS(0) &&
	    ztm_der_get(&tbs, ZTM_DER_CTX_CONS(0), NULL, NULL) != 0)
		goto bad;
	if (ztm_der_get(&tbs, ZTM_DER_INTEGER, NULL, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, NULL, &tbs_alg) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, &issuer, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, NULL, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, &out->subject, NULL) != 0 ||
	    ztm_der_get(&tbs, ZTM_DER_SEQUENCE, NULL, &out->spki) != 0)
		goto bad;
	for (tag = 1; tag <= 2; tag++)
		if (ztm_der_peek(&tbs) == ZTM_DER_CTX(tag) &&
		    ztm_der_get(&tbs, ZTM_DER_CTX(tag), NULL, NULL) != 0)
			goto bad;
	if (ztm_der_peek(&tbs) == ZTM_DER_CTX_CONS(3) &&
	    ztm_der_get(&tbs, ZTM_DER_CTX_CONS(3), NULL, NULL) != 0)
		goto bad;
	if (ztm_cursor_left(&tbs) != 0)
		goto bad;
	/* RFC 5280 §4.1.1.2: the two signature algorithms MUST be the same. */
	if (alg.len != tbs_alg.len || memcmp(alg.p, tbs_alg.p, alg.len) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "bootstrap certificate signature algorithms differ");
	/* Self-issued: the issuer is the subject, byte for byte. */
	if (issuer.len != out->subject.len || memcmp(issuer.p, out->subject.p, issuer.len) != 0)
		return ztm_error_set(err, ZTM_E_POLICY, "bootstrap certificate is not self-issued");
	return ztm_spki_check(out->spki.p, out->spki.len, &out->key, err);
bad:
	return ztm_error_set(err, ZTM_E_PARSE, "bootstrap certificate is not one DER certificate");
}
