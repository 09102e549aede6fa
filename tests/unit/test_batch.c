/* test_batch.c - station records and signed batches (ztm/batch.h): a good
 * batch round trip, one row per refused record field and per refused
 * bootstrap certificate, and the record JSON. Documents, envelopes and the
 * document reader: test_batch_doc.c; the shared PKI: test_batch_util.h.
 *
 * With ZTM_FUZZ_SEEDS=DIR set it also writes seeds for fuzz/fuzz_batch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_batch_util.h"

static void test_round_trip(void **state)
{
	struct ztm_record recs[N_GOOD];
	struct ztm_buf der;
	struct ztm_batch b;
	struct ztm_error e;
	char id[33];
	X509 *signer = NULL;
	uint8_t md[32];
	char hex[65];
	size_t i;

	memcpy(recs, fx.good, sizeof(recs));
	ztm_buf_init(&der, 0);
	if (ztm_batch_sign(recs, N_GOOD, 1700000100, fx.st, fx.st_key, &der, id, &e) != 0)
		fail_msg("sign: %s", e.msg);
	if (ztm_batch_verify(der.data, der.len, fx.trusted, &b, &signer, &e) != 0)
		fail_msg("verify: %s", e.msg);
	assert_string_equal(b.batch_id, id);
	assert_int_equal(strlen(id), 32);
	assert_string_equal(b.factory, "acme-shenzhen");
	assert_string_equal(b.station, "line-1");
	assert_int_equal(b.created_at, 1700000100);
	assert_int_equal(b.n, N_GOOD);
	assert_int_equal(X509_cmp(signer, fx.st), 0);
	assert_int_equal(EVP_Digest(der.data, der.len, md, NULL, EVP_sha256(), NULL), 1);
	ztm_hex(md, 32, hex);
	assert_string_equal(b.sha256, hex);
	for (i = 0; i < N_GOOD; i++) {
		const struct ztm_record *g = &fx.good[i], *r = &b.records[i];
		uint8_t smd[32];
		unsigned char *spki = NULL;
		int n = i2d_PUBKEY(fx.dev_key[i], &spki);
		assert_string_equal(r->serial, g->serial);
		assert_string_equal(r->product, g->product);
		assert_string_equal(r->order, g->order);
		assert_string_equal(r->hw_rev, g->hw_rev);
		assert_string_equal(r->mac, g->mac);
		assert_string_equal(r->fw_version, g->fw_version);
		assert_string_equal(r->fw_sha256, g->fw_sha256);
		assert_int_equal(r->test_result, g->test_result);
		assert_int_equal(r->key_origin, g->key_origin);
		assert_int_equal(r->recorded_at, g->recorded_at);
		assert_int_equal(r->cert_len, g->cert_len);
		assert_memory_equal(r->cert, g->cert, g->cert_len);
		/* The key vetting compares: SHA-256 of the device's SPKI. */
		assert_true(n > 0);
		assert_int_equal(EVP_Digest(spki, (size_t)n, smd, NULL, EVP_sha256(), NULL), 1);
		ztm_hex(smd, 32, hex);
		assert_string_equal(r->spki_sha256, hex);
		OPENSSL_free(spki);
	}
	write_seed("good.der", der.data, der.len);
	ztm_batch_free(&b);
	X509_free(signer);

	/* Signing twice gives another batch_id (the server dedups by bytes;
	 * the station re-sends the stored bytes, never re-signs). */
	der.len = 0;
	assert_int_equal(ztm_batch_sign(recs, 1, 1700000100, fx.st, fx.st_key, &der, hex, &e), 0);
	assert_string_not_equal(hex, id);
	write_seed("one-record.der", der.data, der.len);
	ztm_buf_free(&der);
}

static char *field_of(struct ztm_record *r, const char *name, size_t *n)
{
	static const struct {
		const char *name;
		size_t off, size;
	} f[] = {
	    {"serial", offsetof(struct ztm_record, serial), sizeof(r->serial)},
	    {"product", offsetof(struct ztm_record, product), sizeof(r->product)},
	    {"order", offsetof(struct ztm_record, order), sizeof(r->order)},
	    {"hw_rev", offsetof(struct ztm_record, hw_rev), sizeof(r->hw_rev)},
	    {"mac", offsetof(struct ztm_record, mac), sizeof(r->mac)},
	    {"fw_version", offsetof(struct ztm_record, fw_version), sizeof(r->fw_version)},
	    {"fw_sha256", offsetof(struct ztm_record, fw_sha256), sizeof(r->fw_sha256)},
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (strcmp(f[i].name, name) == 0) {
			*n = f[i].size;
			return (char *)r + f[i].off;
		}
	}
	abort();
}

/* Each row changes one field of a good record; validate must refuse it
 * and name the field. */
static void test_record_field_refusals(void **state)
{
	static const struct {
		const char *field, *value;
	} rows[] = {
	    {"serial", ""},
	    {"serial", "-SN1"},
	    {"serial", ".hidden"},
	    {"serial", "SN/../x"},
	    {"serial", "SN 1"},
	    {"serial", "SN_1"},
	    {"serial", "S\xc3\xa9rie"},
	    {"product", ""},
	    {"product", "a b"},
	    {"product", "p;drop"},
	    {"order", ""},
	    {"order", "WO#1"},
	    {"hw_rev", ""},
	    {"hw_rev", "rev 2"},
	    {"mac", ""},
	    {"mac", "02:00:5E:10:00:01"},
	    {"mac", "02-00-5e-10-00-01"},
	    {"mac", "02:00:5e:10:00"},
	    {"mac", "0200.5e10.0001..."},
	    {"mac", "g2:00:5e:10:00:01"},
	    {"fw_version", ""},
	    {"fw_version", "1.0 beta"},
	    {"fw_version", "1.0\n"},
	    {"fw_sha256", ""},
	    {"fw_sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	    {"fw_sha256", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	};
	struct ztm_record r;
	struct ztm_error e;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t dn;
		char *dst;
		r = fx.good[0];
		dst = field_of(&r, rows[i].field, &dn);
		assert_true(strlen(rows[i].value) < dn);
		memset(dst, 0, dn);
		memcpy(dst, rows[i].value, strlen(rows[i].value));
		memset(&e, 0, sizeof(e));
		if (ztm_record_validate(&r, &e) == 0)
			fail_msg("row %zu (%s='%s'): accepted", i, rows[i].field, rows[i].value);
		if (e.code != ZTM_E_PARSE || strncmp(e.msg, rows[i].field, strlen(rows[i].field)))
			fail_msg("row %zu: %s: %s", i, ztm_err_name(e.code), e.msg);
	}
	r = fx.good[0];
	r.test_result = (enum ztm_test_result)7;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.key_origin = (enum ztm_key_origin)7;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.recorded_at = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_non_null(strstr(e.msg, "recorded_at"));
	/* The enums' text forms. */
	{
		enum ztm_test_result t;
		enum ztm_key_origin k;
		assert_int_equal(ztm_test_result_parse("pass", &t), 0);
		assert_int_equal(t, ZTM_TEST_PASS);
		assert_int_equal(ztm_test_result_parse("PASS", &t), -1);
		assert_int_equal(ztm_test_result_parse("ok", &t), -1);
		assert_int_equal(ztm_key_origin_parse("injected", &k), 0);
		assert_int_equal(k, ZTM_KEY_ORIGIN_INJECTED);
		assert_int_equal(ztm_key_origin_parse("station", &k), -1);
	}
}

/* Bootstrap certificates that must be refused. */
static void test_bootstrap_refusals(void **state)
{
	EVP_PKEY *k = fx_key("P-256"), *other = fx_key("P-256"), *weak = fx_key("RSA1024");
	EVP_PKEY *expl = fx_key("P-256-explicit");
	struct {
		const char *what;
		X509 *x;
		enum ztm_err code;
		const char *needle;
	} rows[] = {
	    {"no serialNumber", boot(k, k, NULL, NULL), ZTM_E_POLICY, "no subject serialNumber"},
	    {"other serialNumber", boot(k, k, "SN-9999", NULL), ZTM_E_POLICY, "is not 'SN-0000'"},
	    {"prefix serialNumber", boot(k, k, "SN-00001", NULL), ZTM_E_POLICY, "is not"},
	    {"signed by another key", boot(k, other, "SN-0000", NULL), ZTM_E_BADSIG,
	     "self-signature"},
	    {"issued by someone else", boot(k, other, "SN-0000", "Some CA"), ZTM_E_POLICY,
	     "not self-issued"},
	    {"RSA-1024 key", boot(weak, weak, "SN-0000", NULL), ZTM_E_WEAKKEY, ""},
	    {"explicit EC parameters", boot(expl, expl, "SN-0000", NULL), ZTM_E_WEAKKEY, ""},
	};
	struct ztm_record r;
	struct ztm_error e;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r = fx.good[0];
		set_cert(&r, rows[i].x);
		memset(&e, 0, sizeof(e));
		if (ztm_record_validate(&r, &e) == 0)
			fail_msg("%s: accepted", rows[i].what);
		if (e.code != rows[i].code || strstr(e.msg, rows[i].needle) == NULL)
			fail_msg("%s: %s: %s", rows[i].what, ztm_err_name(e.code), e.msg);
		/* The server's check refuses the same, for the same reason, but
		 * for the self-signature, which it leaves to the station and to
		 * registration (docs/records.md, "Checks at ingest"). */
		memset(&e, 0, sizeof(e));
		if (rows[i].code == ZTM_E_BADSIG) {
			if (ztm_record_validate_shape(&r, &e) != 0)
				fail_msg("%s: refused by the server's check: %s", rows[i].what,
				         e.msg);
		} else if (ztm_record_validate_shape(&r, &e) == 0 || e.code != rows[i].code ||
		           strstr(e.msg, rows[i].needle) == NULL) {
			fail_msg("%s: server's check: %s: %s", rows[i].what, ztm_err_name(e.code),
			         e.msg);
		}
		X509_free(rows[i].x);
	}
	/* Framing: empty, trailing byte, truncated, not DER, over the cap. */
	r = fx.good[0];
	r.cert_len = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.cert[r.cert_len++] = 0;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_int_equal(e.code, ZTM_E_PARSE);
	r = fx.good[0];
	r.cert_len--;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	memset(r.cert, 0x30, 40);
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	r = fx.good[0];
	r.cert_len = ZTM_RECORD_MAX_CERT + 1;
	assert_int_equal(ztm_record_validate(&r, &e), -1);
	assert_int_equal(e.code, ZTM_E_TOOBIG);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(expl);
}

/* The record's JSON form (the station queue file): round trip, then one
 * row per malformed document. */
static void test_record_json(void **state)
{
	static const struct {
		const char *what, *key, *value; /* value: JSON text; NULL = delete */
	} rows[] = {
	    {"missing serial", "serial", NULL},
	    {"serial a number", "serial", "42"},
	    {"unknown member", "colour", "\"red\""},
	    {"test_result other", "test_result", "\"ok\""},
	    {"test_result bool", "test_result", "true"},
	    {"key_origin other", "key_origin", "\"station\""},
	    {"recorded_at float", "recorded_at", "1700000000.5"},
	    {"recorded_at string", "recorded_at", "\"1700000000\""},
	    {"recorded_at negative", "recorded_at", "-5"},
	    {"recorded_at past 9999", "recorded_at", "253402300800"},
	    {"cert with a line break", "bootstrap_cert", "\"MIIB\\nAAAA\""},
	    {"cert not base64", "bootstrap_cert", "\"!!!!\""},
	    {"cert empty", "bootstrap_cert", "\"\""},
	    {"cert a number", "bootstrap_cert", "1"},
	    {"mac upper case", "mac", "\"02:00:5E:10:00:00\""},
	    {"serial of 65 characters", "serial",
	     "\"X1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"product of 65 characters", "product",
	     "\"P1234567890123456789012345678901234567890123456789012345678901234\""},
	    {"hw_rev of 33 characters", "hw_rev", "\"R12345678901234567890123456789012\""},
	    {"mac of 7 octets", "mac", "\"02:00:5e:10:00:01:02\""},
	    {"fw_sha256 of 65 digits", "fw_sha256",
	     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
	    {"kind other", "kind", "\"repair\""},
	    {"kind a number", "kind", "1"},
	};
	struct ztm_record r = fx.good[1], back;
	struct ztm_buf js;
	struct ztm_error e;
	size_t i;

	ztm_buf_init(&js, 0);
	if (ztm_record_to_json(&r, &js, &e) != 0)
		fail_msg("%s", e.msg);
	if (ztm_record_from_json(js.data, js.len, &back, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(back.serial, r.serial);
	assert_int_equal(back.key_origin, ZTM_KEY_ORIGIN_INJECTED);
	assert_memory_equal(back.cert, r.cert, r.cert_len);
	assert_int_equal(back.kind, ZTM_RECORD_NEW);
	assert_null(strstr(ztm_buf_cstr(&js), "\"kind\""));
	write_seed("record.json", js.data, js.len);
	/* A replacement carries "kind" and reads back as one. */
	{
		struct ztm_buf rj;
		r.kind = ZTM_RECORD_REPLACEMENT;
		ztm_buf_init(&rj, 0);
		if (ztm_record_to_json(&r, &rj, &e) != 0)
			fail_msg("%s", e.msg);
		assert_non_null(strstr(ztm_buf_cstr(&rj), "\"kind\":\"replacement\""));
		if (ztm_record_from_json(rj.data, rj.len, &back, &e) != 0)
			fail_msg("%s", e.msg);
		assert_int_equal(back.kind, ZTM_RECORD_REPLACEMENT);
		ztm_buf_free(&rj);
		r.kind = ZTM_RECORD_NEW;
	}

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *j = json_loadb((const char *)js.data, js.len, 0, NULL);
		char *s;
		assert_non_null(j);
		if (rows[i].value == NULL)
			json_object_del(j, rows[i].key);
		else
			json_object_set_new(j, rows[i].key,
			                    json_loads(rows[i].value, JSON_DECODE_ANY, NULL));
		s = json_dumps(j, JSON_COMPACT);
		if (ztm_record_from_json((const uint8_t *)s, strlen(s), &back, &e) == 0)
			fail_msg("%s: accepted", rows[i].what);
		assert_int_equal(e.code, ZTM_E_PARSE);
		free(s);
		json_decref(j);
	}
	/* Duplicate member, not JSON, over the cap. */
	{
		static const char dup[] = "{\"serial\":\"a\",\"serial\":\"b\"}";
		static uint8_t big[ZTM_RECORD_MAX_JSON + 1];
		assert_int_equal(ztm_record_from_json((const uint8_t *)dup, strlen(dup), &back, &e),
		                 -1);
		assert_non_null(strstr(e.msg, "duplicate"));
		assert_int_equal(ztm_record_from_json((const uint8_t *)"[1]", 3, &back, &e), -1);
		assert_int_equal(ztm_record_from_json(big, sizeof(big), &back, &e), -1);
		assert_int_equal(e.code, ZTM_E_TOOBIG);
	}
	ztm_buf_free(&js);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_record_field_refusals),
	    cmocka_unit_test(test_bootstrap_refusals),
	    cmocka_unit_test(test_record_json),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
