/* bootstrap_shape.c - a device bootstrap certificate judged from its DER
 * alone (ztm/bootstrap.h): what ztmd checks at record ingest
 * (ztm_record_check_cert_shape) and in the TLS handshake (src/server/tls.c),
 * so both refuse the same certificates. */
#include <string.h>

#include "der.h"
#include "ztm/batch.h"
#include "ztm/bootstrap.h"

/* The extensions a CA judgment needs, from Extensions contents. -1 if the
 * framing is bad or one of them comes twice. An extension is Extension ::= SEQUENCE { extnID,
 * critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
struct ca_exts {
	int has_bc, bc_ca;       /* basicConstraints present; its cA */
	int has_ku, ku_certsign; /* keyUsage present; keyCertSign (bit 5) set */
	int has_ns, ns_ca;       /* nsCertType present; with any CA bit */
};

static int read_ca_exts(struct ztm_slice exts, struct ca_exts *e)
{
	static const char ns_cert_type[] = "\x60\x86\x48\x01\x86\xf8\x42\x01\x01";
	struct ztm_cursor c, ext, val;
	struct ztm_slice v, oid, os, in;

	memset(e, 0, sizeof(*e));
	ztm_cursor_init(&c, exts.p, exts.len);
	while (ztm_cursor_left(&c) > 0) {
		if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &v, NULL) != 0)
			return -1;
		ztm_cursor_init(&ext, v.p, v.len);
		if (ztm_der_get(&ext, ZTM_DER_OID, &oid, NULL) != 0)
			return -1;
		if (ztm_der_peek(&ext) == ZTM_DER_BOOLEAN &&
		    ztm_der_get(&ext, ZTM_DER_BOOLEAN, NULL, NULL) != 0)
			return -1;
		if (ztm_der_get(&ext, ZTM_DER_OCTETSTR, &os, NULL) != 0 ||
		    ztm_cursor_left(&ext) != 0)
			return -1;
		ztm_cursor_init(&val, os.p, os.len);
		/* RFC 5280 §4.2: no extension twice (OpenSSL marks such a
		 * certificate invalid; which copy counts would be a guess). */
		if (ZTM_DER_OID_IS(oid, ZTM_OID_BC)) {
			/* BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... } */
			if (e->has_bc || ztm_der_get(&val, ZTM_DER_SEQUENCE, &in, NULL) != 0)
				return -1;
			e->has_bc = 1;
			e->bc_ca = in.len >= 3 && in.p[0] == ZTM_DER_BOOLEAN && in.p[1] == 1 &&
			           in.p[2] != 0;
		} else if (ZTM_DER_OID_IS(oid, ZTM_OID_KU)) {
			/* KeyUsage BIT STRING: unused-bits octet, then bit 0 = 0x80. */
			if (e->has_ku || ztm_der_get(&val, ZTM_DER_BITSTRING, &in, NULL) != 0 ||
			    in.len < 1)
				return -1;
			e->has_ku = 1;
			e->ku_certsign = in.len >= 2 && (in.p[1] & 0x04) != 0;
		} else if (ztm_der_oid_is(oid, ns_cert_type, sizeof(ns_cert_type) - 1)) {
			/* NetscapeCertType BIT STRING: sslCA, emailCA, objCA = bits 5-7. */
			if (e->has_ns || ztm_der_get(&val, ZTM_DER_BITSTRING, &in, NULL) != 0 ||
			    in.len < 1)
				return -1;
			e->has_ns = 1;
			e->ns_ca = in.len >= 2 && (in.p[1] & 0x07) != 0;
		}
	}
	return 0;
}

/* Whether OpenSSL would take the certificate for a CA (X509_check_ca != 0,
 * which ztmd's handshake refuses): keyUsage without keyCertSign says no;
 * else basicConstraints decides; without it a v1 certificate (self-signed:
 * a "v1 root"), a keyUsage with keyCertSign or a Netscape CA type say yes.
 * Judged here so a station and record ingest refuse what the handshake
 * would, instead of recording a device that can never register. */
static int looks_like_ca(int v1, const struct ztm_slice *exts, int *ca)
{
	struct ca_exts e;

	*ca = 0;
	if (exts == NULL) {
		*ca = v1;
		return 0;
	}
	if (read_ca_exts(*exts, &e) != 0)
		return -1;
	if (e.has_ku && !e.ku_certsign)
		return 0;
	if (e.has_bc)
		*ca = e.bc_ca;
	else
		*ca = v1 || e.has_ku || e.ns_ca;
	return 0;
}

/* RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }; TBSCertificate ::= SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
 * [1] [2] unique ids OPTIONAL, [3] extensions OPTIONAL }. Framing is read
 * strictly (ztm_der_get: definite minimal lengths, nothing trailing at any
 * level read); of the extensions only the three a CA judgment needs are
 * interpreted (looks_like_ca). */
int ztm_bootstrap_shape(const uint8_t *der, size_t len, struct ztm_bootstrap_shape *out,
                        struct ztm_error *err)
{
	struct ztm_cursor c, cert, tbs;
	struct ztm_slice v, tbs_alg, alg, issuer, ver, exts;
	int tag, v1 = 1, has_exts = 0, ca;

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
	if (ztm_der_peek(&tbs) == ZTM_DER_CTX_CONS(0)) {
		/* [0] EXPLICIT Version: v1 is 0 (or absent) */
		struct ztm_cursor vc;
		if (ztm_der_get(&tbs, ZTM_DER_CTX_CONS(0), &v, NULL) != 0)
			goto bad;
		ztm_cursor_init(&vc, v.p, v.len);
		if (ztm_der_get(&vc, ZTM_DER_INTEGER, &ver, NULL) != 0 || ztm_cursor_left(&vc) != 0)
			goto bad;
		v1 = ver.len == 1 && ver.p[0] == 0;
	}
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
	if (ztm_der_peek(&tbs) == ZTM_DER_CTX_CONS(3)) {
		/* [3] EXPLICIT Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension */
		struct ztm_cursor ec;
		if (ztm_der_get(&tbs, ZTM_DER_CTX_CONS(3), &v, NULL) != 0)
			goto bad;
		ztm_cursor_init(&ec, v.p, v.len);
		if (ztm_der_get(&ec, ZTM_DER_SEQUENCE, &exts, NULL) != 0 ||
		    ztm_cursor_left(&ec) != 0)
			goto bad;
		has_exts = 1;
	}
	if (ztm_cursor_left(&tbs) != 0)
		goto bad;
	/* RFC 5280 §4.1.1.2: the two signature algorithms MUST be the same. */
	if (alg.len != tbs_alg.len || memcmp(alg.p, tbs_alg.p, alg.len) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "bootstrap certificate signature algorithms differ");
	/* Self-issued: the issuer is the subject, byte for byte. */
	if (issuer.len != out->subject.len || memcmp(issuer.p, out->subject.p, issuer.len) != 0)
		return ztm_error_set(err, ZTM_E_POLICY, "bootstrap certificate is not self-issued");
	/* After self-issued: OpenSSL calls a v1 certificate a CA only when it
	 * is self-signed (a "v1 root"). */
	if (looks_like_ca(v1, has_exts ? &exts : NULL, &ca) != 0)
		goto bad;
	if (ca)
		return ztm_error_set(
		    err, ZTM_E_POLICY,
		    "bootstrap certificate is a CA certificate (basicConstraints cA, "
		    "keyCertSign or a v1 certificate); a device's must say "
		    "basicConstraints CA:FALSE");
	return ztm_spki_check(out->spki.p, out->spki.len, &out->key, err);
bad:
	return ztm_error_set(err, ZTM_E_PARSE, "bootstrap certificate is not one DER certificate");
}
