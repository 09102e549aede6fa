/* test_batch_doc.c - signed batch documents and envelopes (ztm/batch.h):
 * one row per refused JSON document and per refused envelope (tampered byte,
 * foreign signer, CA signer, unsigned, detached, two signers, empty, over the
 * cap), signing refusals, the document reader and the record cap. The
 * shared PKI: test_batch_util.h.
 *
 * With ZTM_FUZZ_SEEDS=DIR set it also writes seeds for fuzz/fuzz_batch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_batch_util.h"

/* Documents signed correctly by the right station but wrong inside. */
static void test_document_refusals(void **state)
{
	char *r0 = rec_json(0), *r1 = rec_json(1), *r2 = rec_json(2);
	struct ztm_buf recs, bad2, doc, der;
	json_t *j;
	char *s;
	static const struct {
		const char *what, *head;
		int bad_rec; /* 1: third record has a bad MAC; 2: repeats record 0 */
		enum ztm_err code;
		const char *needle;
	} rows[] = {
	    {"version 2",
	     "\"version\":2,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "version"},
	    {"short batch_id",
	     "\"version\":1,\"batch_id\":\"0011\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "batch_id"},
	    {"upper-case batch_id",
	     "\"version\":1,\"batch_id\":\"00112233445566778899AABBCCDDEEFF\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "batch_id"},
	    {"no station",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "station"},
	    {"station of another factory",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"other\",\"name\":\"line-1\"},\"created_at\":1700000100,",
	     0, ZTM_E_POLICY, "signed by station acme-shenzhen/line-1"},
	    {"another station",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-2\"},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_POLICY, "names station acme-shenzhen/line-2"},
	    {"station extra member",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\",\"x\":1},"
	     "\"created_at\":1700000100,",
	     0, ZTM_E_PARSE, "unknown member"},
	    {"created_at missing",
	     "\"version\":1,\"batch_id\":\"00112233445566778899aabbccddeeff\","
	     "\"station\":{\"factory\":\"acme-shenzhen\",\"name\":\"line-1\"},",
	     0, ZTM_E_PARSE, "created_at"},
	    {"duplicate member", HEAD_OK "\"version\":1,", 0, ZTM_E_PARSE, "duplicate"},
	    {"record 2 bad", HEAD_OK, 1, ZTM_E_PARSE, "record 2: mac"},
	    {"record 2 repeats record 0", HEAD_OK, 2, ZTM_E_PARSE,
	     "record 2: serial 'SN-0000' repeats record 0"},
	};
	size_t i;

	ztm_buf_init(&recs, 0);
	ztm_buf_init(&bad2, 0);
	ztm_buf_init(&doc, 0);
	ztm_buf_init(&der, 0);
	assert_int_equal(ztm_buf_printf(&recs, "%s,%s,%s", r0, r1, r2), 0);
	j = json_loads(r2, 0, NULL);
	json_object_set_new(j, "mac", json_string("02:00:5e:10:00"));
	s = json_dumps(j, JSON_COMPACT);
	assert_int_equal(ztm_buf_printf(&bad2, "%s,%s,%s", r0, r1, s), 0);
	free(s);
	json_decref(j);

	/* The hand-made good document verifies: the rows below fail for
	 * their one reason only. */
	doc_with(&doc, HEAD_OK, ztm_buf_cstr(&recs));
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	{
		struct ztm_batch b;
		struct ztm_error e;
		if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, NULL, &e) != 0)
			fail_msg("hand-made good document: %s", e.msg);
		assert_int_equal(b.n, 3);
		ztm_batch_free(&b);
		write_seed("content.json", doc.data, doc.len);
	}
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *rs = rows[i].bad_rec == 1 ? ztm_buf_cstr(&bad2) : ztm_buf_cstr(&recs);
		struct ztm_buf dup;
		ztm_buf_init(&dup, 0);
		if (rows[i].bad_rec == 2) {
			assert_int_equal(ztm_buf_printf(&dup, "%s,%s,%s", r0, r1, r0), 0);
			rs = ztm_buf_cstr(&dup);
		}
		doc_with(&doc, rows[i].head, rs);
		sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
		expect_verify_fails(rows[i].what, &der, rows[i].code, rows[i].needle);
		ztm_buf_free(&dup);
	}
	/* Empty records, not JSON, a JSON array. */
	doc_with(&doc, HEAD_OK, "");
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("no records", &der, ZTM_E_PARSE, "records");
	sign_raw("not json", 8, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("not JSON", &der, ZTM_E_PARSE, "batch JSON");
	sign_raw("[1,2]", 5, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("JSON array", &der, ZTM_E_PARSE, "not a JSON object");
	free(r0);
	free(r1);
	free(r2);
	ztm_buf_free(&recs);
	ztm_buf_free(&bad2);
	ztm_buf_free(&doc);
	ztm_buf_free(&der);
}

/* Envelopes: tampering, wrong signers, unsigned, framing, caps. */
static void test_envelope_refusals(void **state)
{
	struct ztm_record recs[N_GOOD];
	struct ztm_buf good, der;
	struct ztm_error e;
	uint8_t *hit;
	size_t i;

	memcpy(recs, fx.good, sizeof(recs));
	ztm_buf_init(&good, 0);
	ztm_buf_init(&der, ZTM_BATCH_MAX_DER + 16);
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.st, fx.st_key, &good, NULL, &e), 0);

	/* One byte of the content changed: SN-0001 -> SN-0009. */
	ztm_buf_append(&der, good.data, good.len);
	for (hit = NULL, i = 0; hit == NULL && i + 7 <= der.len; i++)
		if (memcmp(der.data + i, "SN-0001", 7) == 0)
			hit = der.data + i;
	assert_non_null(hit);
	hit[6] = '9';
	expect_verify_fails("tampered content byte", &der, ZTM_E_BADSIG, "signature");
	/* The last byte (inside the signature value) flipped. */
	der.len = 0;
	ztm_buf_append(&der, good.data, good.len);
	der.data[der.len - 1] ^= 0x01;
	expect_verify_fails("tampered signature byte", &der, ZTM_E_BADSIG, "signature");

	/* Every single-byte change in the first 64 bytes (the framing) fails. */
	for (i = 0; i < 64; i++) {
		struct ztm_batch b;
		der.len = 0;
		ztm_buf_append(&der, good.data, good.len);
		der.data[i] ^= 0x20;
		if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, NULL, &e) == 0)
			fail_msg("byte %zu changed: verified", i);
	}

	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.fst, fx.fst_key, &der, NULL, &e),
	                 0);
	expect_verify_fails("foreign CA's station", &der, ZTM_E_BADSIG, "signer chain");
	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 3, 1700000100, fx.op, fx.op_key, &der, NULL, &e), 0);
	expect_verify_fails("operator CA's leaf (same root)", &der, ZTM_E_BADSIG, "signer chain");
	/* The station CA itself, with a station-like subject, signing. */
	{
		EVP_PKEY *ck = fx_key("P-256");
		X509 *cacert = issue(fx.sca, fx.sca_key, ck, "line-1", "acme-shenzhen", 1);
		STACK_OF(X509) *t2 = sk_X509_new_null();
		struct ztm_batch b;
		sk_X509_push(t2, fx.sca);
		sk_X509_push(t2, cacert);
		der.len = 0;
		assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, cacert, ck, &der, NULL, &e),
		                 0);
		assert_int_equal(ztm_batch_verify(der.data, der.len, t2, &b, NULL, &e), -1);
		assert_int_equal(e.code, ZTM_E_POLICY);
		assert_non_null(strstr(e.msg, "is a CA"));
		sk_X509_free(t2);
		X509_free(cacert);
		EVP_PKEY_free(ck);
	}
	/* Trusting nothing verifies nothing. */
	{
		STACK_OF(X509) *none = sk_X509_new_null();
		struct ztm_batch b;
		assert_int_equal(ztm_batch_verify(good.data, good.len, none, &b, NULL, &e), -1);
		sk_X509_free(none);
	}

	/* Unsigned: certs-only SignedData; and plain id-data. */
	{
		struct ztm_slice sl;
		unsigned char *cd = NULL;
		int n = i2d_X509(fx.st, &cd);
		BIO *in = BIO_new_mem_buf("{}", 2);
		CMS_ContentInfo *data = CMS_data_create(in, CMS_BINARY);
		sl.p = cd;
		sl.len = (size_t)n;
		der.len = 0;
		assert_int_equal(ztm_p7_certs_only(&sl, 1, &der), 0);
		expect_verify_fails("certs-only, no signer", &der, ZTM_E_PARSE, "digestAlgorithms");
		OPENSSL_free(cd);
		cd = NULL;
		n = i2d_CMS_ContentInfo(data, &cd);
		der.len = 0;
		ztm_buf_append(&der, cd, (size_t)n);
		expect_verify_fails("id-data, unsigned", &der, ZTM_E_PARSE, "not SignedData");
		OPENSSL_free(cd);
		CMS_ContentInfo_free(data);
		BIO_free(in);
	}
	/* Detached signature; two signers. */
	{
		char *r0 = rec_json(0);
		struct ztm_buf doc;
		BIO *in;
		CMS_ContentInfo *cms;
		unsigned char *cd = NULL;
		int n;
		ztm_buf_init(&doc, 0);
		doc_with(&doc, HEAD_OK, r0);
		sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, CMS_DETACHED, &der);
		expect_verify_fails("detached", &der, ZTM_E_PARSE, "detached");
		in = BIO_new_mem_buf(doc.data, (int)doc.len);
		cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_BINARY | CMS_PARTIAL);
		assert_non_null(cms);
		assert_non_null(CMS_add1_signer(cms, fx.st, fx.st_key, NULL, 0));
		assert_non_null(CMS_add1_signer(cms, fx.st2, fx.st_key, NULL, 0));
		assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY), 1);
		n = i2d_CMS_ContentInfo(cms, &cd);
		der.len = 0;
		ztm_buf_append(&der, cd, (size_t)n);
		expect_verify_fails("two signers", &der, ZTM_E_BADSIG, "2 signers");
		OPENSSL_free(cd);
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		ztm_buf_free(&doc);
		free(r0);
	}

	/* The same signed content in other framings: SignedData version 3,
	 * digestAlgorithms naming SHA-384, BER with indefinite lengths. */
	der.len = 0;
	ztm_buf_append(&der, good.data, good.len);
	assert_int_equal(der.data[25], 1);
	der.data[25] = 3;
	expect_verify_fails("SignedData version 3", &der, ZTM_E_PARSE, "version is not 1");
	der.data[25] = 1;
	assert_int_equal(der.data[40], 1); /* last octet of the SHA-256 OID */
	der.data[40] = 2;
	expect_verify_fails("digestAlgorithms SHA-384", &der, ZTM_E_PARSE, "digestAlgorithms");
	{
		char *r0 = rec_json(0);
		struct ztm_buf doc;
		BIO *in, *mem = BIO_new(BIO_s_mem());
		CMS_ContentInfo *cms;
		char *p;
		long n;
		ztm_buf_init(&doc, 0);
		doc_with(&doc, HEAD_OK, r0);
		in = BIO_new_mem_buf(doc.data, (int)doc.len);
		cms = CMS_sign(fx.st, fx.st_key, NULL, in, CMS_BINARY | CMS_STREAM);
		assert_non_null(cms);
		assert_int_equal(i2d_CMS_bio_stream(mem, cms, in, CMS_BINARY | CMS_STREAM), 1);
		n = BIO_get_mem_data(mem, &p);
		der.len = 0;
		ztm_buf_append(&der, p, (size_t)n);
		expect_verify_fails("BER, indefinite lengths", &der, ZTM_E_PARSE, "not a DER");
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		BIO_free(mem);
		ztm_buf_free(&doc);
		free(r0);
	}

	/* Framing and caps. */
	der.len = 0;
	expect_verify_fails("empty", &der, ZTM_E_PARSE, "empty batch");
	ztm_buf_append(&der, good.data, good.len);
	ztm_buf_append(&der, "", 1);
	expect_verify_fails("trailing byte", &der, ZTM_E_PARSE, "after the CMS");
	der.len = good.len / 2;
	memcpy(der.data, good.data, der.len);
	expect_verify_fails("truncated", &der, ZTM_E_PARSE, "not a DER CMS");
	der.len = 0;
	assert_non_null(ztm_buf_reserve(&der, ZTM_BATCH_MAX_DER + 1));
	memcpy(der.data, good.data, good.len);
	memset(der.data + good.len, 0, ZTM_BATCH_MAX_DER + 1 - good.len);
	der.len = ZTM_BATCH_MAX_DER + 1;
	expect_verify_fails("over 16 MiB", &der, ZTM_E_TOOBIG, "at most");

	ztm_buf_free(&good);
	ztm_buf_free(&der);
}

/* Signing refuses what it must not produce. */
static void test_sign_refusals(void **state)
{
	struct ztm_record recs[2];
	struct ztm_buf der;
	struct ztm_error e;

	ztm_buf_init(&der, 0);
	memcpy(recs, fx.good, sizeof(recs));
	assert_int_equal(ztm_batch_sign(recs, 0, 1700000100, fx.st, fx.st_key, &der, NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_int_equal(ztm_batch_sign(recs, ZTM_BATCH_MAX_RECORDS + 1, 1700000100, fx.st,
	                                fx.st_key, &der, NULL, &e),
	                 -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
	recs[1].mac[0] = 'X';
	assert_int_equal(ztm_batch_sign(recs, 2, 1700000100, fx.st, fx.st_key, &der, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "record 1: mac"));
	/* The signer must look like a station (CN and OU). */
	assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, fx.sca, fx.sca_key, &der, NULL, &e),
	                 -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_int_equal(der.len, 0);
	ztm_buf_free(&der);
}

/* The server's document reader (batch_json.c) against jansson's view of
 * the same text: every record refusal of test_record_json, made inside a
 * document, is refused too; the good document is accepted however jansson
 * lays it out; and the JSON corners the reader handles itself. */
static void test_doc_reader(void **state)
{
	static const struct {
		const char *what, *key, *value; /* value: JSON text; NULL = delete */
	} rec_rows[] = {
	    {"missing serial", "serial", NULL},
	    {"serial a number", "serial", "42"},
	    {"unknown member", "colour", "\"red\""},
	    {"test_result bool", "test_result", "true"},
	    {"key_origin other", "key_origin", "\"station\""},
	    {"recorded_at float", "recorded_at", "1700000000.5"},
	    {"recorded_at exponent", "recorded_at", "17e8"},
	    {"recorded_at string", "recorded_at", "\"1700000000\""},
	    {"recorded_at negative", "recorded_at", "-5"},
	    {"recorded_at past 9999", "recorded_at", "253402300800"},
	    {"recorded_at past int64", "recorded_at", "92233720368547758080"},
	    {"cert with a line break", "bootstrap_cert", "\"MIIB\\nAAAA\""},
	    {"cert not base64", "bootstrap_cert", "\"!!!!\""},
	    {"cert empty", "bootstrap_cert", "\"\""},
	    {"cert a number", "bootstrap_cert", "1"},
	    {"cert with bits under the padding", "bootstrap_cert", "\"QUJ=\""},
	    {"mac upper case", "mac", "\"02:00:5E:10:00:00\""},
	    {"serial of 65 characters", "serial",
	     "\"X1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"mac of 7 octets", "mac", "\"02:00:5e:10:00:01:02\""},
	    {"serial non-ASCII", "serial", "\"SN-\\u00e9\""},
	    {"serial NUL", "serial", "\"SN\\u0000\""},
	    {"kind other", "kind", "\"repair\""},
	    {"kind a number", "kind", "1"},
	    {"kind null", "kind", "null"},
	};
	/* Whole documents: pre, record 0, post. */
	static const struct {
		const char *what, *pre, *post;
		int ok;
	} doc_rows[] = {
	    {"as made", "{" HEAD_OK "\"records\":[", "]}", 1},
	    {"blanks everywhere", " \r\n{ " HEAD_OK " \"records\" : [ ", " ] }\n\t", 1},
	    {"escaped names", "{" HEAD_OK "\"rec\\u006frds\":[", "]}", 1},
	    {"trailing comma in records", "{" HEAD_OK "\"records\":[", ",]}", 0},
	    {"trailing comma in document", "{" HEAD_OK "\"records\":[", "],}", 0},
	    {"two documents", "{" HEAD_OK "\"records\":[", "]}{}", 0},
	    {"unterminated", "{" HEAD_OK "\"records\":[", "]", 0},
	    {"records an object", "{" HEAD_OK "\"records\":{\"a\":", "}}", 0},
	    {"version 01", "{\"version\":01," HEAD_OK "\"records\":[", "]}", 0},
	};
	/* The optional "kind" member of a record, as the reader takes it. */
	static const struct {
		const char *kind; /* JSON text */
		int ok;
		enum ztm_record_kind want;
	} kind_rows[] = {
	    {"\"new\"", 1, ZTM_RECORD_NEW},
	    {"\"replacement\"", 1, ZTM_RECORD_REPLACEMENT},
	    {"\"Replacement\"", 0, ZTM_RECORD_NEW},
	};
	char *r0 = rec_json(0), *r1 = rec_json(1);
	struct ztm_record g;
	struct ztm_buf doc;
	struct ztm_batch b;
	struct ztm_error e;
	json_t *j;
	char *s;
	size_t i;

	(void)state;
	ztm_buf_init(&doc, 0);
	for (i = 0; i < sizeof(rec_rows) / sizeof(rec_rows[0]); i++) {
		j = json_loads(r1, 0, NULL);
		assert_non_null(j);
		if (rec_rows[i].value == NULL)
			json_object_del(j, rec_rows[i].key);
		s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		doc.len = 0;
		/* The value is spliced in as text, so that texts jansson would
		 * not make (a number past int64, \u escapes) reach the reader. */
		if (rec_rows[i].value != NULL) {
			const char *k = strstr(s, rec_rows[i].key);
			if (k == NULL)
				assert_int_equal(
				    ztm_buf_printf(
				        &doc, "{" HEAD_OK "\"records\":[%s,%.*s\"%s\":%s}]}", r0,
				        (int)strlen(s) - 1, s, rec_rows[i].key, rec_rows[i].value),
				    0);
			else {
				const char *v = k + strlen(rec_rows[i].key) + 2, *end = v;
				if (*v == '"')
					end = strchr(v + 1, '"') + 1;
				else
					while (*end != ',' && *end != '}')
						end++;
				assert_int_equal(
				    ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%.*s%s%s]}",
				                   r0, (int)(v - s), s, rec_rows[i].value, end),
				    0);
			}
		} else {
			assert_int_equal(
			    ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%s]}", r0, s), 0);
		}
		free(s);
		if (ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0)
			fail_msg("%s: accepted: %s", rec_rows[i].what, ztm_buf_cstr(&doc));
		if (e.code != ZTM_E_PARSE || strstr(e.msg, "record 1: ") != e.msg)
			fail_msg("%s: %s: %s", rec_rows[i].what, ztm_err_name(e.code), e.msg);
	}
	for (i = 0; i < sizeof(doc_rows) / sizeof(doc_rows[0]); i++) {
		doc.len = 0;
		assert_int_equal(
		    ztm_buf_printf(&doc, "%s%s%s", doc_rows[i].pre, r0, doc_rows[i].post), 0);
		if ((ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0) != doc_rows[i].ok)
			fail_msg("%s: %s", doc_rows[i].what, doc_rows[i].ok ? e.msg : "accepted");
		if (doc_rows[i].ok) {
			assert_int_equal(b.n, 1);
			assert_string_equal(b.records[0].serial, fx.good[0].serial);
			assert_memory_equal(b.records[0].cert, fx.good[0].cert,
			                    fx.good[0].cert_len);
			ztm_batch_free(&b);
		}
	}
	for (i = 0; i < sizeof(kind_rows) / sizeof(kind_rows[0]); i++) {
		doc.len = 0;
		assert_int_equal(ztm_buf_printf(&doc,
		                                "{" HEAD_OK "\"records\":[%.*s,\"kind\":%s}]}",
		                                (int)strlen(r0) - 1, r0, kind_rows[i].kind),
		                 0);
		if ((ztm_batch_parse_json(doc.data, doc.len, &b, &e) == 0) != kind_rows[i].ok)
			fail_msg("kind %s: %s", kind_rows[i].kind,
			         kind_rows[i].ok ? e.msg : "accepted");
		if (kind_rows[i].ok) {
			assert_int_equal(b.records[0].kind, kind_rows[i].want);
			ztm_batch_free(&b);
		}
	}
	/* jansson's own layouts of a good document: indented, and with every
	 * '/' of the base64 escaped as "\/" (JSON_ESCAPE_SLASH). */
	doc.len = 0;
	assert_int_equal(ztm_buf_printf(&doc, "{" HEAD_OK "\"records\":[%s,%s]}", r0, r1), 0);
	j = json_loadb((const char *)doc.data, doc.len, 0, NULL);
	assert_non_null(j);
	/* The SPKI hash from the DER walk is the one OpenSSL's re-encoding gives. */
	g = fx.good[1];
	assert_int_equal(ztm_record_validate(&g, &e), 0);
	for (i = 0; i < 2; i++) {
		s = json_dumps(j, i == 0 ? JSON_INDENT(3) : JSON_ESCAPE_SLASH);
		if (ztm_batch_parse_json((const uint8_t *)s, strlen(s), &b, &e) != 0)
			fail_msg("layout %zu: %s", i, e.msg);
		assert_int_equal(b.n, 2);
		assert_memory_equal(b.records[1].cert, fx.good[1].cert, fx.good[1].cert_len);
		assert_int_equal(b.records[1].cert_len, fx.good[1].cert_len);
		assert_string_equal(b.records[1].spki_sha256, g.spki_sha256);
		ztm_batch_free(&b);
		free(s);
	}
	json_decref(j);
	free(r0);
	free(r1);
	ztm_buf_free(&doc);
}

/* Over the record cap in a signed document: refused as too big when the
 * 10,001st record starts (the records are read as they come; the body cap
 * bounds the work before it). Valid records, so that nothing else stops
 * the reader first (their serials repeat, which is checked only after). */
static void test_record_cap(void **state)
{
	struct ztm_buf doc, der, recs;
	char *r0 = rec_json(0);
	size_t i;

	ztm_buf_init(&recs, 0);
	ztm_buf_init(&doc, 0);
	ztm_buf_init(&der, 0);
	for (i = 0; i <= ZTM_BATCH_MAX_RECORDS; i++)
		assert_int_equal(ztm_buf_printf(&recs, "%s%s", i ? "," : "", r0), 0);
	free(r0);
	doc_with(&doc, HEAD_OK, ztm_buf_cstr(&recs));
	sign_raw((const char *)doc.data, doc.len, fx.st, fx.st_key, 0, &der);
	expect_verify_fails("10,001 records", &der, ZTM_E_TOOBIG, "1..10000");
	ztm_buf_free(&recs);
	ztm_buf_free(&doc);
	ztm_buf_free(&der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_document_refusals), cmocka_unit_test(test_envelope_refusals),
	    cmocka_unit_test(test_sign_refusals),     cmocka_unit_test(test_doc_reader),
	    cmocka_unit_test(test_record_cap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
