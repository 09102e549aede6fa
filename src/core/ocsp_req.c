/* ocsp_req.c - strict DER reader for OCSPRequest (RFC 6960 §4.1.1), see
 * ztm/ocsp.h for what it accepts and why.
 *
 * It runs on every /ocsp request, before anything is cached or signed, so
 * it is written against the DER cursor instead of d2i_OCSP_REQUEST: no
 * allocation, no ASN.1 template engine, about a microsecond per request.
 */
#include <string.h>

#include "der.h"
#include "ztm/ocsp.h"

#define OID_SHA1       "\x2b\x0e\x03\x02\x1a"
#define OID_SHA256     "\x60\x86\x48\x01\x65\x03\x04\x02\x01"
#define OID_OCSP_NONCE "\x2b\x06\x01\x05\x05\x07\x30\x01\x02"
#define MAX_EXTS       8

size_t ztm_ocsp_hash_len(enum ztm_ocsp_hash h)
{
	return h == ZTM_OCSP_SHA256 ? 32 : 20;
}

static int bad(struct ztm_error *err, const char *what)
{
	return ztm_error_set(err, ZTM_E_PARSE, "OCSP request: %s", what);
}

/* The cursor must be used up: DER has one encoding, nothing trails it. */
static int at_end(const struct ztm_cursor *c)
{
	return ztm_cursor_left(c) == 0;
}

/* AlgorithmIdentifier of the CertID: SHA-1 or SHA-256, parameters NULL or
 * absent (RFC 5754 §2 allows both; OpenSSL writes NULL). */
static int read_hash_alg(struct ztm_cursor *c, enum ztm_ocsp_hash *h, struct ztm_error *err)
{
	struct ztm_slice seq, oid, null;
	struct ztm_cursor a;

	if (ztm_der_get(c, ZTM_DER_SEQUENCE, &seq, NULL) != 0)
		return bad(err, "CertID hashAlgorithm is not a SEQUENCE");
	ztm_cursor_init(&a, seq.p, seq.len);
	if (ztm_der_get(&a, ZTM_DER_OID, &oid, NULL) != 0)
		return bad(err, "CertID hashAlgorithm has no OID");
	if (ZTM_DER_OID_IS(oid, OID_SHA1))
		*h = ZTM_OCSP_SHA1;
	else if (ZTM_DER_OID_IS(oid, OID_SHA256))
		*h = ZTM_OCSP_SHA256;
	else
		return bad(err, "CertID hash algorithm is neither SHA-1 nor SHA-256");
	if (!at_end(&a) && (ztm_der_get(&a, ZTM_DER_NULL, &null, NULL) != 0 || null.len != 0))
		return bad(err, "CertID hash algorithm parameters are not NULL");
	if (!at_end(&a))
		return bad(err, "CertID hashAlgorithm has trailing bytes");
	return 0;
}

/* X.690 §8.3.2: no redundant leading 0x00 or 0xff octet. */
static int minimal_integer(struct ztm_slice v)
{
	if (v.len == 0)
		return 0;
	if (v.len > 1 &&
	    ((v.p[0] == 0x00 && !(v.p[1] & 0x80)) || (v.p[0] == 0xff && (v.p[1] & 0x80))))
		return 0;
	return 1;
}

static int read_certid(struct ztm_cursor *c, struct ztm_ocsp_certid *id, struct ztm_error *err)
{
	struct ztm_slice seq;
	struct ztm_cursor a;
	size_t hl;

	if (ztm_der_get(c, ZTM_DER_SEQUENCE, &seq, NULL) != 0)
		return bad(err, "CertID is not a SEQUENCE");
	ztm_cursor_init(&a, seq.p, seq.len);
	if (read_hash_alg(&a, &id->hash, err) != 0)
		return -1;
	hl = ztm_ocsp_hash_len(id->hash);
	if (ztm_der_get(&a, ZTM_DER_OCTETSTR, &id->name_hash, NULL) != 0 || id->name_hash.len != hl)
		return bad(err, "issuerNameHash is not an OCTET STRING of the hash's length");
	if (ztm_der_get(&a, ZTM_DER_OCTETSTR, &id->key_hash, NULL) != 0 || id->key_hash.len != hl)
		return bad(err, "issuerKeyHash is not an OCTET STRING of the hash's length");
	if (ztm_der_get(&a, ZTM_DER_INTEGER, &id->serial, NULL) != 0 ||
	    !minimal_integer(id->serial))
		return bad(err, "serialNumber is not a minimal DER INTEGER");
	/* The 0x00 that keeps a positive INTEGER positive is not counted. */
	if (id->serial.len - (id->serial.p[0] == 0 ? 1u : 0u) > ZTM_OCSP_SERIAL_MAX)
		return bad(err, "serialNumber is longer than 20 octets (RFC 5280 4.1.2.2)");
	if (!at_end(&a))
		return bad(err, "CertID has trailing bytes");
	return 0;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension. The nonce is taken
 * when nonce != NULL (request extensions), refused elsewhere as a critical
 * unknown would be if critical, ignored if not. */
static int read_exts(struct ztm_slice body, struct ztm_slice *nonce, struct ztm_error *err)
{
	struct ztm_cursor c, list, e;
	struct ztm_slice seq, ext, oid, crit, val, oids[MAX_EXTS];
	size_t n = 0, i;

	ztm_cursor_init(&c, body.p, body.len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &seq, NULL) != 0 || !at_end(&c) || seq.len == 0)
		return bad(err, "extensions are not a non-empty SEQUENCE");
	ztm_cursor_init(&list, seq.p, seq.len);
	while (!at_end(&list)) {
		int critical = 0;
		if (n == MAX_EXTS)
			return bad(err, "more than 8 extensions");
		if (ztm_der_get(&list, ZTM_DER_SEQUENCE, &ext, NULL) != 0)
			return bad(err, "extension is not a SEQUENCE");
		ztm_cursor_init(&e, ext.p, ext.len);
		if (ztm_der_get(&e, ZTM_DER_OID, &oid, NULL) != 0 || oid.len == 0)
			return bad(err, "extension has no OID");
		if (ztm_der_peek(&e) == ZTM_DER_BOOLEAN) {
			/* X.690 §11.5: DEFAULT FALSE is omitted; TRUE is 0xff. */
			if (ztm_der_get(&e, ZTM_DER_BOOLEAN, &crit, NULL) != 0 || crit.len != 1 ||
			    crit.p[0] != 0xff)
				return bad(err, "extension critical flag is not DER TRUE");
			critical = 1;
		}
		if (ztm_der_get(&e, ZTM_DER_OCTETSTR, &val, NULL) != 0 || !at_end(&e))
			return bad(err, "extension value is not one OCTET STRING");
		for (i = 0; i < n; i++)
			if (oids[i].len == oid.len && memcmp(oids[i].p, oid.p, oid.len) == 0)
				return bad(err, "extension appears twice");
		oids[n++] = oid;
		if (nonce != NULL && ZTM_DER_OID_IS(oid, OID_OCSP_NONCE)) {
			struct ztm_cursor v;
			ztm_cursor_init(&v, val.p, val.len);
			/* RFC 8954 §2.1: Nonce ::= OCTET STRING (SIZE(1..32)); a
			 * length of 0 or over 32 is malformedRequest. */
			if (ztm_der_get(&v, ZTM_DER_OCTETSTR, nonce, NULL) != 0 || !at_end(&v))
				return bad(err, "nonce is not one OCTET STRING");
			if (nonce->len == 0 || nonce->len > ZTM_OCSP_NONCE_MAX)
				return bad(err, "nonce is not 1..32 octets (RFC 8954)");
			continue;
		}
		/* RFC 6960 §4.4: unrecognized extensions are ignored unless
		 * they are critical. */
		if (critical)
			return bad(err, "critical extension not understood");
	}
	return 0;
}

static int read_request(struct ztm_cursor *c, struct ztm_ocsp_certid *id, struct ztm_error *err)
{
	struct ztm_slice seq, exts;
	struct ztm_cursor r;

	if (ztm_der_get(c, ZTM_DER_SEQUENCE, &seq, NULL) != 0)
		return bad(err, "Request is not a SEQUENCE");
	ztm_cursor_init(&r, seq.p, seq.len);
	if (read_certid(&r, id, err) != 0)
		return -1;
	if (ztm_der_peek(&r) == ZTM_DER_CTX_CONS(0)) {
		if (ztm_der_get(&r, ZTM_DER_CTX_CONS(0), &exts, NULL) != 0)
			return bad(err, "singleRequestExtensions is not valid DER");
		if (read_exts(exts, NULL, err) != 0)
			return -1;
	}
	if (!at_end(&r))
		return bad(err, "Request has trailing bytes");
	return 0;
}

static int read_tbs(struct ztm_slice tbs, struct ztm_ocsp_req *out, struct ztm_error *err)
{
	struct ztm_cursor t, list;
	struct ztm_slice v, reqs, exts;

	ztm_cursor_init(&t, tbs.p, tbs.len);
	/* Version DEFAULT v1 and v1 is the only version: DER leaves it out,
	 * so a version field is either non-DER or a version we do not speak. */
	if (ztm_der_peek(&t) == ZTM_DER_CTX_CONS(0))
		return bad(err, "version field present (DER omits the default v1)");
	/* requestorName [1] EXPLICIT GeneralName: framing checked, ignored. */
	if (ztm_der_peek(&t) == ZTM_DER_CTX_CONS(1) &&
	    ztm_der_get(&t, ZTM_DER_CTX_CONS(1), &v, NULL) != 0)
		return bad(err, "requestorName is not valid DER");
	if (ztm_der_get(&t, ZTM_DER_SEQUENCE, &reqs, NULL) != 0)
		return bad(err, "requestList is not a SEQUENCE");
	ztm_cursor_init(&list, reqs.p, reqs.len);
	while (!at_end(&list)) {
		if (out->n_ids == ZTM_OCSP_MAX_IDS)
			return bad(err, "more than 8 CertIDs");
		if (read_request(&list, &out->ids[out->n_ids], err) != 0)
			return -1;
		out->n_ids++;
	}
	if (out->n_ids == 0)
		return bad(err, "requestList is empty");
	if (ztm_der_peek(&t) == ZTM_DER_CTX_CONS(2)) {
		if (ztm_der_get(&t, ZTM_DER_CTX_CONS(2), &exts, NULL) != 0)
			return bad(err, "requestExtensions is not valid DER");
		if (read_exts(exts, &out->nonce, err) != 0)
			return -1;
	}
	if (!at_end(&t))
		return bad(err, "TBSRequest has trailing or unknown fields");
	return 0;
}

int ztm_ocsp_req_parse(const uint8_t *p, size_t len, struct ztm_ocsp_req *out,
                       struct ztm_error *err)
{
	struct ztm_cursor c, o, s;
	struct ztm_slice req, tbs, sig, sigseq;

	memset(out, 0, sizeof(*out));
	if (len > ZTM_OCSP_REQ_MAX)
		return ztm_error_set(err, ZTM_E_TOOBIG, "OCSP request of %zu bytes (cap %d)", len,
		                     ZTM_OCSP_REQ_MAX);
	ztm_cursor_init(&c, p, len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &req, NULL) != 0 || !at_end(&c))
		goto malformed;
	ztm_cursor_init(&o, req.p, req.len);
	if (ztm_der_get(&o, ZTM_DER_SEQUENCE, &tbs, NULL) != 0) {
		bad(err, "tbsRequest is not a SEQUENCE");
		goto fail;
	}
	if (read_tbs(tbs, out, err) != 0)
		goto fail;
	if (ztm_der_peek(&o) == ZTM_DER_CTX_CONS(0)) {
		/* optionalSignature [0] EXPLICIT Signature: one SEQUENCE. It is
		 * not verified: answers are public, a signature grants nothing. */
		if (ztm_der_get(&o, ZTM_DER_CTX_CONS(0), &sig, NULL) != 0) {
			bad(err, "optionalSignature is not valid DER");
			goto fail;
		}
		ztm_cursor_init(&s, sig.p, sig.len);
		if (ztm_der_get(&s, ZTM_DER_SEQUENCE, &sigseq, NULL) != 0 || !at_end(&s)) {
			bad(err, "optionalSignature is not one SEQUENCE");
			goto fail;
		}
		out->has_signature = 1;
	}
	if (!at_end(&o)) {
		bad(err, "OCSPRequest has trailing bytes");
		goto fail;
	}
	return 0;
malformed:
	bad(err, "not one DER SEQUENCE");
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}
