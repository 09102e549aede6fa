/* test_ocsp.c - the OCSP request reader (one table row per accepted or
 * refused shape, built field by field) and the response writer, checked
 * with OpenSSL's own OCSP verification as the independent reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/ocsp.h>
#include <time.h>

#include "x509_fixture.h"
#include "ztm/issue.h"
#include "ztm/ocsp.h"
#include "ztm/serial.h"

/* --- a tiny DER builder for request shapes -------------------------- */
struct b {
	uint8_t p[8192];
	size_t n;
};

static void raw(struct b *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->p));
	if (n > 0) /* an empty value may come with a NULL pointer */
		memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void tlv(struct b *o, uint8_t tag, const struct b *in)
{
	uint8_t h[4] = {tag, 0, 0, 0};
	size_t hl = 2;

	if (in->n < 0x80) {
		h[1] = (uint8_t)in->n;
	} else if (in->n < 0x100) {
		h[1] = 0x81;
		h[2] = (uint8_t)in->n;
		hl = 3;
	} else {
		h[1] = 0x82;
		h[2] = (uint8_t)(in->n >> 8);
		h[3] = (uint8_t)in->n;
		hl = 4;
	}
	raw(o, h, hl);
	raw(o, in->p, in->n);
}

static void tlvb(struct b *o, uint8_t tag, const void *p, size_t n)
{
	struct b t;
	t.n = 0;
	raw(&t, p, n);
	tlv(o, tag, &t);
}

#define SHA1_OID   "\x2b\x0e\x03\x02\x1a"
#define SHA256_OID "\x60\x86\x48\x01\x65\x03\x04\x02\x01"
#define MD5_OID    "\x2a\x86\x48\x86\xf7\x0d\x02\x05"
#define NONCE_OID  "\x2b\x06\x01\x05\x05\x07\x30\x01\x02"
#define OTHER_OID  "\x2b\x06\x01\x05\x05\x07\x30\x01\x04" /* acceptable responses */

struct shape {
	const char *name;
	const char *alg;       /* OID contents; NULL = SHA-1 */
	int alg_params;        /* 0 NULL, 1 absent, 2 an INTEGER */
	int name_len, key_len; /* 0 = the hash's */
	const char *serial;    /* INTEGER contents (hex) */
	int n_ids;             /* 0 = 1 */
	int version;           /* add [0] version */
	int requestor;         /* add [1] requestorName */
	int nonce_len;         /* -1 = none */
	int nonce_raw;         /* nonce value not wrapped in OCTET STRING */
	int nonce_twice;
	int other_ext;  /* 1 non-critical unknown, 2 critical unknown */
	int crit_false; /* critical BOOLEAN FALSE written out */
	int single_ext; /* 1 non-critical, 2 critical singleRequestExtension */
	int signature;  /* 1 a SEQUENCE in [0], 2 [0] holding an INTEGER */
	int trailing;   /* a byte after the OCSPRequest */
	int empty_list;
	/* expectations */
	int ok;
	const char *why; /* substring of the error */
};

static void put_ext(struct b *exts, const char *oid, size_t oidlen, int critical, int crit_false,
                    const struct b *val)
{
	struct b e = {.n = 0};
	tlvb(&e, 0x06, oid, oidlen);
	if (critical)
		tlvb(&e, 0x01, "\xff", 1);
	if (crit_false)
		tlvb(&e, 0x01, "\x00", 1);
	tlv(&e, 0x04, val);
	tlv(exts, 0x30, &e);
}

static void hexbytes(const char *h, struct b *o)
{
	o->n = 0;
	while (h[0] && h[1]) {
		unsigned v;
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		o->p[o->n++] = (uint8_t)v;
		h += 2;
	}
}

static void build(const struct shape *s, struct b *out)
{
	const char *alg = s->alg != NULL ? s->alg : SHA1_OID;
	size_t hl = strcmp(alg, SHA256_OID) == 0 ? 32 : 20;
	struct b a = {.n = 0}, id = {.n = 0}, req = {.n = 0}, list = {.n = 0}, tbs = {.n = 0},
	         top = {.n = 0}, ser, hash = {.n = 0}, exts = {.n = 0}, seq = {.n = 0},
	         v = {.n = 0};
	int i, n = s->n_ids > 0 ? s->n_ids : 1;

	tlvb(&a, 0x06, alg, strlen(alg));
	if (s->alg_params == 0)
		tlvb(&a, 0x05, NULL, 0);
	else if (s->alg_params == 2)
		tlvb(&a, 0x02, "\x01", 1);
	tlv(&id, 0x30, &a);
	memset(hash.p, 0x11, 64);
	tlvb(&id, 0x04, hash.p, s->name_len ? (size_t)s->name_len : hl);
	memset(hash.p, 0x22, 64);
	tlvb(&id, 0x04, hash.p, s->key_len ? (size_t)s->key_len : hl);
	hexbytes(s->serial != NULL ? s->serial : "5a0102030405060708090a0b0c0d0e0f10", &ser);
	tlv(&id, 0x02, &ser);
	tlv(&req, 0x30, &id);
	if (s->single_ext) {
		struct b val = {.n = 0}, x = {.n = 0}, e2 = {.n = 0};
		tlvb(&val, 0x05, NULL, 0);
		put_ext(&x, OTHER_OID, strlen(OTHER_OID), s->single_ext == 2, 0, &val);
		tlv(&e2, 0x30, &x);
		tlv(&req, 0xa0, &e2);
	}
	for (i = 0; i < (s->empty_list ? 0 : n); i++)
		tlv(&list, 0x30, &req);
	if (s->version) {
		struct b ver = {.n = 0};
		tlvb(&ver, 0x02, "\x00", 1);
		tlv(&tbs, 0xa0, &ver);
	}
	if (s->requestor) {
		struct b gn = {.n = 0};
		tlvb(&gn, 0x82, "ocsp.example", 12); /* dNSName */
		tlv(&tbs, 0xa1, &gn);
	}
	tlv(&tbs, 0x30, &list);
	if (s->nonce_len >= 0 || s->other_ext) {
		if (s->nonce_len >= 0) {
			struct b val = {.n = 0};
			memset(hash.p, 0x33, 64);
			if (s->nonce_raw)
				raw(&val, hash.p, (size_t)s->nonce_len);
			else
				tlvb(&val, 0x04, hash.p, (size_t)s->nonce_len);
			put_ext(&exts, NONCE_OID, strlen(NONCE_OID), 0, s->crit_false, &val);
			if (s->nonce_twice)
				put_ext(&exts, NONCE_OID, strlen(NONCE_OID), 0, 0, &val);
		}
		if (s->other_ext) {
			struct b val = {.n = 0};
			tlvb(&val, 0x30, NULL, 0);
			put_ext(&exts, OTHER_OID, strlen(OTHER_OID), s->other_ext == 2, 0, &val);
		}
		tlv(&seq, 0x30, &exts);
		tlv(&tbs, 0xa2, &seq);
	}
	tlv(&top, 0x30, &tbs);
	if (s->signature) {
		struct b sig = {.n = 0};
		if (s->signature == 1)
			tlvb(&sig, 0x30, "\x06\x01\x00", 3);
		else
			tlvb(&sig, 0x02, "\x01", 1);
		tlv(&top, 0xa0, &sig);
	}
	out->n = 0;
	tlv(out, 0x30, &top);
	(void)v;
	if (s->trailing)
		raw(out, "\x00", 1);
}

static void test_parse_table(void **state)
{
	static const struct shape rows[] = {
	    {.name = "sha1 one id", .nonce_len = -1, .ok = 1},
	    {.name = "sha256 one id", .alg = SHA256_OID, .nonce_len = -1, .ok = 1},
	    {.name = "sha1 params absent", .alg_params = 1, .nonce_len = -1, .ok = 1},
	    {.name = "eight ids", .n_ids = 8, .nonce_len = -1, .ok = 1},
	    {.name = "nine ids", .n_ids = 9, .nonce_len = -1, .why = "more than 8"},
	    {.name = "empty list", .empty_list = 1, .nonce_len = -1, .why = "empty"},
	    {.name = "nonce 16", .nonce_len = 16, .ok = 1},
	    {.name = "nonce 32", .nonce_len = 32, .ok = 1},
	    {.name = "nonce 1", .nonce_len = 1, .ok = 1},
	    {.name = "nonce 0", .nonce_len = 0, .why = "1..32"},
	    {.name = "nonce 33", .nonce_len = 33, .why = "1..32"},
	    {.name = "nonce not wrapped", .nonce_len = 16, .nonce_raw = 1, .why = "nonce"},
	    {.name = "nonce twice", .nonce_len = 16, .nonce_twice = 1, .why = "twice"},
	    {.name = "critical FALSE", .nonce_len = 16, .crit_false = 1, .why = "DER TRUE"},
	    {.name = "unknown ext", .nonce_len = -1, .other_ext = 1, .ok = 1},
	    {.name = "unknown critical ext",
	     .nonce_len = -1,
	     .other_ext = 2,
	     .why = "critical extension"},
	    {.name = "single ext", .nonce_len = -1, .single_ext = 1, .ok = 1},
	    {.name = "single critical ext",
	     .nonce_len = -1,
	     .single_ext = 2,
	     .why = "critical extension"},
	    {.name = "md5", .alg = MD5_OID, .nonce_len = -1, .why = "neither SHA-1"},
	    {.name = "params INTEGER", .alg_params = 2, .nonce_len = -1, .why = "not NULL"},
	    {.name = "name hash 19", .name_len = 19, .nonce_len = -1, .why = "issuerNameHash"},
	    {.name = "sha256 key hash 20",
	     .alg = SHA256_OID,
	     .key_len = 20,
	     .nonce_len = -1,
	     .why = "issuerKeyHash"},
	    {.name = "serial padded", .serial = "0001", .nonce_len = -1, .why = "minimal"},
	    {.name = "serial ff padded", .serial = "ff80", .nonce_len = -1, .why = "minimal"},
	    {.name = "serial high bit padded", .serial = "0080", .nonce_len = -1, .ok = 1},
	    {.name = "serial 20",
	     .serial = "0102030405060708090a0b0c0d0e0f1011121314",
	     .nonce_len = -1,
	     .ok = 1},
	    {.name = "serial 20 + pad",
	     .serial = "00f102030405060708090a0b0c0d0e0f1011121314",
	     .nonce_len = -1,
	     .ok = 1},
	    {.name = "serial 21",
	     .serial = "010102030405060708090a0b0c0d0e0f1011121314",
	     .nonce_len = -1,
	     .why = "20 octets"},
	    {.name = "version", .version = 1, .nonce_len = -1, .why = "version"},
	    {.name = "requestorName", .requestor = 1, .nonce_len = -1, .ok = 1},
	    {.name = "signed", .signature = 1, .nonce_len = 16, .ok = 1},
	    {.name = "signature not a SEQUENCE",
	     .signature = 2,
	     .nonce_len = -1,
	     .why = "optionalSignature"},
	    {.name = "trailing byte", .trailing = 1, .nonce_len = -1, .why = "DER SEQUENCE"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct shape *s = &rows[i];
		struct ztm_ocsp_req req;
		struct ztm_error e;
		struct b der;
		int rc;

		build(s, &der);
		rc = ztm_ocsp_req_parse(der.p, der.n, &req, &e);
		if (s->ok) {
			if (rc != 0)
				fail_msg("%s: refused: %s", s->name, e.msg);
			assert_int_equal(req.n_ids, s->n_ids > 0 ? (size_t)s->n_ids : 1u);
			assert_int_equal(req.nonce.len,
			                 s->nonce_len > 0 ? (size_t)s->nonce_len : 0u);
			assert_int_equal(req.has_signature, s->signature == 1);
			assert_int_equal(req.ids[0].hash,
			                 s->alg != NULL && strcmp(s->alg, SHA256_OID) == 0
			                     ? ZTM_OCSP_SHA256
			                     : ZTM_OCSP_SHA1);
			assert_int_equal(req.ids[0].name_hash.p[0], 0x11);
			assert_int_equal(req.ids[0].key_hash.p[0], 0x22);
		} else {
			if (rc == 0)
				fail_msg("%s: accepted", s->name);
			assert_int_equal(e.code, ZTM_E_PARSE);
			if (strstr(e.msg, s->why) == NULL)
				fail_msg("%s: '%s' lacks '%s'", s->name, e.msg, s->why);
			assert_int_equal(req.n_ids, 0);
		}
	}
}

/* Every prefix of a good request is refused, and so is anything over the cap. */
static void test_parse_truncated_and_cap(void **state)
{
	static const struct shape good = {
	    .name = "good", .nonce_len = 16, .requestor = 1, .signature = 1};
	struct ztm_ocsp_req req;
	struct ztm_error e;
	static uint8_t big[ZTM_OCSP_REQ_MAX + 1];
	struct b der;
	size_t n;

	(void)state;
	build(&good, &der);
	assert_int_equal(ztm_ocsp_req_parse(der.p, der.n, &req, &e), 0);
	for (n = 0; n < der.n; n++)
		assert_int_equal(ztm_ocsp_req_parse(der.p, n, &req, &e), -1);
	assert_int_equal(ztm_ocsp_req_parse(big, sizeof(big), &req, &e), -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
}

/* --- responses --------------------------------------------------------- */
struct fx {
	EVP_PKEY *cakey, *rkey;
	X509 *cacert, *rcert, *leaf;
	struct ztm_ca *ca;
	struct ztm_ocsp_responder *resp;
};

static X509 *issue_leaf(struct ztm_ca *ca, const char *profile, EVP_PKEY *key, const char *cn)
{
	struct ztm_name_attr subj[1] = {{ZTM_ATTR_CN, cn}};
	struct ztm_name_attr dsubj[1] = {{ZTM_ATTR_SERIAL, cn}};
	struct ztm_issue_req req;
	struct ztm_buf spki, out;
	struct ztm_error e;
	const unsigned char *p;
	X509 *x;

	ztm_buf_init(&spki, 0);
	ztm_buf_init(&out, 0);
	fx_spki(key, &spki);
	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.subject = strcmp(profile, "device") == 0 ? dsubj : subj;
	req.n_subject = 1;
	req.spki = ztm_buf_slice(&spki);
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue(ca, &req, &out, &e) != 0)
		fail_msg("issue %s: %s", profile, e.msg);
	p = out.data;
	x = d2i_X509(NULL, &p, (long)out.len);
	assert_non_null(x);
	ztm_buf_free(&spki);
	ztm_buf_free(&out);
	return x;
}

static void fx_setup(struct fx *f, const char *rkind)
{
	struct ztm_error e;
	EVP_PKEY *lk = fx_key("P-256");

	f->cakey = fx_key("P-256");
	f->rkey = fx_key(rkind);
	f->cacert = fx_root(f->cakey, "Device CA", 1, 365);
	f->ca = fx_ca(f->cakey, f->cacert, NULL);
	f->rcert = issue_leaf(f->ca, "ocsp", f->rkey, "OCSP responder");
	f->leaf = issue_leaf(f->ca, "device", lk, "SN-1");
	EVP_PKEY_free(lk);
	f->resp = ztm_ocsp_responder_new(f->rcert, f->rkey, &e);
	if (f->resp == NULL)
		fail_msg("%s", e.msg);
}

static void fx_teardown(struct fx *f)
{
	ztm_ocsp_responder_free(f->resp);
	ztm_ca_free(f->ca);
	X509_free(f->cacert);
	X509_free(f->rcert);
	X509_free(f->leaf);
	EVP_PKEY_free(f->cakey);
	EVP_PKEY_free(f->rkey);
}

static void leaf_certid(const struct fx *f, enum ztm_ocsp_hash h, uint8_t nh[32], uint8_t kh[32],
                        struct ztm_ocsp_certid *id)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(f->leaf);
	struct ztm_error e;

	assert_int_equal(ztm_ocsp_issuer_hashes(f->cacert, h, nh, kh, &e), 0);
	id->hash = h;
	id->name_hash = (struct ztm_slice){nh, ztm_ocsp_hash_len(h)};
	id->key_hash = (struct ztm_slice){kh, ztm_ocsp_hash_len(h)};
	id->serial = (struct ztm_slice){ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn)};
}

/* Requests made by OpenSSL's OCSP API, as `openssl ocsp` would send. */
static void test_parse_openssl_request(void **state)
{
	struct fx f;
	X509 *ca, *leaf;
	const EVP_MD *mds[2] = {EVP_sha1(), EVP_sha256()};
	int i;

	(void)state;
	fx_setup(&f, "P-256");
	ca = f.cacert;
	leaf = f.leaf;
	for (i = 0; i < 2; i++) {
		OCSP_REQUEST *rq = OCSP_REQUEST_new();
		OCSP_CERTID *id = OCSP_cert_to_id(mds[i], leaf, ca);
		unsigned char *der = NULL;
		uint8_t nh[32], kh[32];
		struct ztm_ocsp_req req;
		struct ztm_error e;
		int n;

		assert_non_null(id);
		assert_non_null(OCSP_request_add0_id(rq, id));
		assert_int_equal(OCSP_request_add1_nonce(rq, NULL, -1), 1);
		n = i2d_OCSP_REQUEST(rq, &der);
		assert_true(n > 0);
		if (ztm_ocsp_req_parse(der, (size_t)n, &req, &e) != 0)
			fail_msg("%s", e.msg);
		assert_int_equal(req.n_ids, 1);
		assert_int_equal(req.nonce.len, 16);
		assert_int_equal(req.ids[0].hash, i == 0 ? ZTM_OCSP_SHA1 : ZTM_OCSP_SHA256);
		assert_int_equal(ztm_ocsp_issuer_hashes(ca, req.ids[0].hash, nh, kh, &e), 0);
		assert_memory_equal(req.ids[0].name_hash.p, nh, ztm_ocsp_hash_len(req.ids[0].hash));
		assert_memory_equal(req.ids[0].key_hash.p, kh, ztm_ocsp_hash_len(req.ids[0].hash));
		assert_int_equal(req.ids[0].serial.len, ZTM_SERIAL_LEN);
		assert_int_equal(req.ids[0].serial.p[0], ZTM_SERIAL_PREFIX);
		OPENSSL_free(der);
		OCSP_REQUEST_free(rq);
	}
	fx_teardown(&f);
}

static void test_response_verifies(void **state)
{
	static const struct {
		const char *rkind;
		enum ztm_ocsp_hash hash;
		enum ztm_ocsp_cert_status status;
		int reason;
		int nonce;
		int ossl_status;
	} rows[] = {
	    {"P-256", ZTM_OCSP_SHA1, ZTM_OCSP_GOOD, ZTM_OCSP_NO_REASON, 0, V_OCSP_CERTSTATUS_GOOD},
	    {"P-256", ZTM_OCSP_SHA256, ZTM_OCSP_GOOD, ZTM_OCSP_NO_REASON, 1,
	     V_OCSP_CERTSTATUS_GOOD},
	    {"P-256", ZTM_OCSP_SHA1, ZTM_OCSP_REVOKED, 1, 0, V_OCSP_CERTSTATUS_REVOKED},
	    {"P-256", ZTM_OCSP_SHA1, ZTM_OCSP_REVOKED, ZTM_OCSP_NO_REASON, 1,
	     V_OCSP_CERTSTATUS_REVOKED},
	    {"P-256", ZTM_OCSP_SHA1, ZTM_OCSP_UNKNOWN, ZTM_OCSP_NO_REASON, 0,
	     V_OCSP_CERTSTATUS_UNKNOWN},
	    {"ED25519", ZTM_OCSP_SHA1, ZTM_OCSP_REVOKED, 6, 1, V_OCSP_CERTSTATUS_REVOKED},
	    {"RSA2048", ZTM_OCSP_SHA256, ZTM_OCSP_GOOD, ZTM_OCSP_NO_REASON, 0,
	     V_OCSP_CERTSTATUS_GOOD},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fx f;
		struct ztm_ocsp_single s;
		struct ztm_buf out;
		struct ztm_error e;
		uint8_t nh[32], kh[32], nonce[16];
		const unsigned char *p;
		OCSP_RESPONSE *rsp;
		OCSP_BASICRESP *bs;
		OCSP_REQUEST *rq = OCSP_REQUEST_new();
		OCSP_CERTID *cid;
		STACK_OF(X509) *none = sk_X509_new_null();
		X509_STORE *st = X509_STORE_new();
		ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
		int status = -1, reason = -1;
		int64_t now = (int64_t)time(NULL);

		fx_setup(&f, rows[i].rkind);
		memset(&s, 0, sizeof(s));
		leaf_certid(&f, rows[i].hash, nh, kh, &s.id);
		s.status = rows[i].status;
		s.reason = rows[i].reason;
		s.revoked_at = now - 100;
		s.this_update = now;
		s.next_update = now + 3600;
		memset(nonce, 0x5c, sizeof(nonce));
		ztm_buf_init(&out, 0);
		if (ztm_ocsp_resp_build(f.resp, &s, 1,
		                        (struct ztm_slice){nonce, rows[i].nonce ? 16u : 0u}, now,
		                        &out, &e) != 0)
			fail_msg("row %zu: %s", i, e.msg);
		p = out.data;
		rsp = d2i_OCSP_RESPONSE(NULL, &p, (long)out.len);
		assert_non_null(rsp);
		assert_ptr_equal(p, out.data + out.len);
		assert_int_equal(OCSP_response_status(rsp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
		bs = OCSP_response_get1_basic(rsp);
		assert_non_null(bs);
		/* The chain: responder cert (in the response) -> CA (trusted). */
		assert_int_equal(X509_STORE_add_cert(st, f.cacert), 1);
		if (OCSP_basic_verify(bs, none, st, 0) != 1)
			fail_msg("row %zu: OCSP_basic_verify failed", i);
		cid = OCSP_cert_to_id(rows[i].hash == ZTM_OCSP_SHA256 ? EVP_sha256() : EVP_sha1(),
		                      f.leaf, f.cacert);
		assert_int_equal(
		    OCSP_resp_find_status(bs, cid, &status, &reason, &rev, &thisu, &nextu), 1);
		assert_int_equal(status, rows[i].ossl_status);
		assert_int_equal(OCSP_check_validity(thisu, nextu, 300, -1), 1);
		if (rows[i].status == ZTM_OCSP_REVOKED) {
			assert_non_null(rev);
			assert_int_equal(reason, rows[i].reason);
		}
		/* Nonce: echoed when given (1), absent otherwise (2 = none in either). */
		assert_int_equal(OCSP_request_add1_nonce(rq, nonce, 16), 1);
		assert_int_equal(OCSP_check_nonce(rq, bs), rows[i].nonce ? 1 : -1);
		OCSP_CERTID_free(cid);
		OCSP_REQUEST_free(rq);
		X509_STORE_free(st);
		sk_X509_free(none);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(rsp);
		ztm_buf_free(&out);
		fx_teardown(&f);
	}
}

static void test_response_refusals(void **state)
{
	struct fx f;
	struct ztm_ocsp_single s;
	struct ztm_buf out;
	struct ztm_error e;
	uint8_t nh[32], kh[32];
	struct ztm_ocsp_responder *r;
	X509 *other;

	(void)state;
	fx_setup(&f, "P-256");
	memset(&s, 0, sizeof(s));
	leaf_certid(&f, ZTM_OCSP_SHA1, nh, kh, &s.id);
	s.status = ZTM_OCSP_REVOKED;
	s.reason = 7; /* unused CRLReason value */
	s.this_update = (int64_t)time(NULL);
	ztm_buf_init(&out, 0);
	assert_int_equal(ztm_ocsp_resp_build(f.resp, &s, 1, (struct ztm_slice){NULL, 0},
	                                     s.this_update, &out, &e),
	                 -1);
	assert_int_equal(out.len, 0);
	/* A certificate without OCSPSigning is no responder. */
	r = ztm_ocsp_responder_new(f.leaf, f.rkey, &e);
	assert_null(r);
	assert_non_null(strstr(e.msg, "OCSPSigning"));
	/* Nor is a key that does not match the certificate. */
	other = issue_leaf(f.ca, "ocsp", f.cakey, "other responder");
	r = ztm_ocsp_responder_new(other, f.rkey, &e);
	assert_null(r);
	X509_free(other);
	/* Unsigned statuses are five bytes. */
	assert_int_equal(ztm_ocsp_resp_status(ZTM_OCSP_UNAUTHORIZED, &out), 0);
	assert_memory_equal(out.data, "\x30\x03\x0a\x01\x06", 5);
	ztm_buf_free(&out);
	fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_truncated_and_cap),
	    cmocka_unit_test(test_parse_openssl_request),
	    cmocka_unit_test(test_response_verifies),
	    cmocka_unit_test(test_response_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
