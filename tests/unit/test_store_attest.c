/* test_store_attest.c - TPM key attestation in the store (migrations 8
 * and 9, docs/attestation.md): products.key_storage, the attest_challenges
 * table with its three calls, each refusal a row, and a device's attested
 * EK; on both backends (pg/test_store_attest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "ztm/store.h"

#define SPKI_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define SPKI_2 "2222222222222222222222222222222222222222222222222222222222222222"
#define EKH    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define T0     1700000000LL

static void product_fill(struct ztm_product_row *p, const char *name, enum ztm_key_storage ks)
{
	memset(p, 0, sizeof(*p));
	ztm_strlcpy(p->name, name, sizeof(p->name));
	ztm_strlcpy(p->device_class, "sensor", sizeof(p->device_class));
	p->lifetime_days = 3650;
	p->key_kinds = 1u << 0;
	ztm_strlcpy(p->hw_type_oid, "1.3.6.1.4.1.99999.1", sizeof(p->hw_type_oid));
	p->key_storage = ks;
}

static void chal_fill(struct ztm_attest_challenge_row *r, uint8_t tag, int64_t created)
{
	memset(r, 0, sizeof(*r));
	memset(r->cred_hash, tag, sizeof(r->cred_hash));
	ztm_strlcpy(r->key_spki, SPKI_1, sizeof(r->key_spki));
	r->ak_name[0] = 0x00; /* TPM_ALG_SHA256 */
	r->ak_name[1] = 0x0b;
	memset(r->ak_name + 2, 0xa0 | (tag & 0x0f), 32);
	r->ak_name_len = 34;
	ztm_strlcpy(r->ek_cert_sha256, EKH, sizeof(r->ek_cert_sha256));
	r->created_at = created;
	r->expires_at = created + 300;
}

/* key_storage: 'any' by default, 'tpm' kept, both getters; the names. */
static void test_key_storage(void **state)
{
	struct store_fx *f = *state;
	struct ztm_product_row p, got;
	enum ztm_key_storage ks = ZTM_KEY_STORAGE_TPM;
	struct ztm_error e;
	int64_t a = 0, t = 0;

	product_fill(&p, "plain", ZTM_KEY_STORAGE_ANY);
	CHECK(ztm_store_product_add(f->s, &p, &a, E), ZTM_OK);
	product_fill(&p, "tpm-only", ZTM_KEY_STORAGE_TPM);
	CHECK(ztm_store_product_add(f->s, &p, &t, E), ZTM_OK);
	CHECK(ztm_store_product_get(f->s, "plain", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_ANY);
	CHECK(ztm_store_product_get(f->s, "tpm-only", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_TPM);
	CHECK(ztm_store_product_get_id(f->s, t, &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_TPM);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM products WHERE key_storage = 'tpm'"),
	                 1);
	/* Out of the enum: refused before the database. */
	product_fill(&p, "odd", (enum ztm_key_storage)7);
	CHECK(ztm_store_product_add(f->s, &p, &a, E), ZTM_E_USAGE);
	/* product_set_policy: moved to tpm and back; -1 keeps it; out of
	 * the enum refused, nothing changed. */
	CHECK(ztm_store_product_set_policy(f->s, "plain", -1, -1, -1, ZTM_KEY_STORAGE_TPM, E),
	      ZTM_OK);
	CHECK(ztm_store_product_get(f->s, "plain", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_TPM);
	CHECK(ztm_store_product_set_policy(f->s, "plain", -1, 7, -1, -1, E), ZTM_OK);
	CHECK(ztm_store_product_get(f->s, "plain", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_TPM);
	assert_int_equal(got.renew_window_days, 7);
	CHECK(ztm_store_product_set_policy(f->s, "plain", -1, -1, -1, 2, E), ZTM_E_USAGE);
	CHECK(ztm_store_product_set_policy(f->s, "plain", -1, -1, -1, ZTM_KEY_STORAGE_ANY, E),
	      ZTM_OK);
	CHECK(ztm_store_product_get(f->s, "plain", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_ANY);
	CHECK(ztm_store_product_set_policy(f->s, "nope", -1, -1, -1, ZTM_KEY_STORAGE_TPM, E),
	      ZTM_E_NOTFOUND);
	/* The schema holds the values too. */
	assert_true(raw_refused(&f->t, "UPDATE products SET key_storage = 'hsm'"));
	assert_true(raw_refused(&f->t, "UPDATE products SET key_storage = NULL"));

	assert_string_equal(ztm_key_storage_name(ZTM_KEY_STORAGE_ANY), "any");
	assert_string_equal(ztm_key_storage_name(ZTM_KEY_STORAGE_TPM), "tpm");
	assert_null(ztm_key_storage_name((enum ztm_key_storage)2));
	assert_int_equal(ztm_key_storage_parse("any", &ks, &e), 0);
	assert_int_equal(ks, ZTM_KEY_STORAGE_ANY);
	assert_int_equal(ztm_key_storage_parse("tpm", &ks, &e), 0);
	assert_int_equal(ks, ZTM_KEY_STORAGE_TPM);
	assert_int_equal(ztm_key_storage_parse("TPM", &ks, &e), -1);
	assert_int_equal(e.code, ZTM_E_USAGE);
	assert_int_equal(ztm_key_storage_parse("", &ks, &e), -1);
	assert_int_equal(ztm_key_storage_parse(NULL, &ks, &e), -1);
}

/* add / get / use once: a second use is a replay (CONFLICT), after
 * expiry AUTH, an unknown hash NOTFOUND; nothing changes on a refusal. */
static void test_challenge_once(void **state)
{
	struct store_fx *f = *state;
	struct ztm_attest_challenge_row r, got;
	uint8_t other[32];

	chal_fill(&r, 0x11, T0);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_E_EXISTS);
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
	assert_memory_equal(got.cred_hash, r.cred_hash, 32);
	assert_string_equal(got.key_spki, SPKI_1);
	assert_string_equal(got.ek_cert_sha256, EKH);
	assert_int_equal(got.ak_name_len, 34);
	assert_memory_equal(got.ak_name, r.ak_name, 34);
	assert_int_equal(got.created_at, T0);
	assert_int_equal(got.expires_at, T0 + 300);
	assert_int_equal(got.used_at, 0);

	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 10, E), ZTM_OK);
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
	assert_int_equal(got.used_at, T0 + 10);
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 11, E), ZTM_E_CONFLICT);
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
	assert_int_equal(got.used_at, T0 + 10);

	chal_fill(&r, 0x22, T0);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 300, E), ZTM_E_AUTH);
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
	assert_int_equal(got.used_at, 0);

	memset(other, 0x33, sizeof(other));
	CHECK(ztm_store_attest_challenge_get(f->s, other, &got, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_attest_challenge_use(f->s, other, T0 + 1, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_attest_challenge_use(f->s, NULL, T0 + 1, E), ZTM_E_USAGE);
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, 0, E), ZTM_E_USAGE);
	CHECK(ztm_store_attest_challenge_get(f->s, NULL, &got, E), ZTM_E_USAGE);
}

/* One row per malformed challenge: refused, nothing stored. */
static void test_challenge_refusals(void **state)
{
	struct store_fx *f = *state;
	struct ztm_attest_challenge_row r;
	int i;

	for (i = 0; i < 7; i++) {
		chal_fill(&r, (uint8_t)(0x40 + i), T0);
		switch (i) {
		case 0:
			ztm_strlcpy(r.key_spki, "11", sizeof(r.key_spki));
			break;
		case 1:
			r.key_spki[5] = 'G';
			break;
		case 2:
			ztm_strlcpy(r.ek_cert_sha256, SPKI_1 "1", sizeof(r.ek_cert_sha256));
			r.ek_cert_sha256[0] = 'X';
			break;
		case 3:
			r.ak_name_len = 33;
			break;
		case 4:
			r.ak_name_len = ZTM_ATTEST_NAME_MAX + 1;
			break;
		case 5:
			r.expires_at = r.created_at;
			break;
		case 6:
			r.created_at = 0;
			break;
		}
		CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_E_USAGE);
	}
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM attest_challenges"), 0);
}

/* Adding a challenge deletes those expired more than a day before it;
 * younger ones stay (a replay of them is still answered as one). */
static void test_challenge_purge(void **state)
{
	struct store_fx *f = *state;
	struct ztm_attest_challenge_row r, got;

	chal_fill(&r, 0x51, T0);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	chal_fill(&r, 0x52, T0 + 86400);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM attest_challenges"), 2);
	chal_fill(&r, 0x53, T0 + 86400 + 301);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM attest_challenges"), 2);
	memset(r.cred_hash, 0x51, sizeof(r.cred_hash));
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_E_NOTFOUND);
	memset(r.cred_hash, 0x52, sizeof(r.cred_hash));
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
}

/* The schema itself: a used challenge never changes (not back to unused,
 * not to another key), and an unused one changes only used_at. */
static void test_challenge_schema(void **state)
{
	struct store_fx *f = *state;
	struct ztm_attest_challenge_row r;

	chal_fill(&r, 0x61, T0);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	assert_true(raw_refused(&f->t, "UPDATE attest_challenges SET key_spki = '" SPKI_2 "'"));
	assert_true(raw_refused(&f->t, "UPDATE attest_challenges SET expires_at = expires_at + 1"));
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 1, E), ZTM_OK);
	assert_true(raw_refused(&f->t, "UPDATE attest_challenges SET used_at = 0"));
	assert_true(raw_refused(&f->t, "UPDATE attest_challenges SET used_at = used_at + 1"));
	assert_true(raw_refused(&f->t,
	                        "INSERT INTO attest_challenges (cred_hash, key_spki, ak_name,"
	                        " ek_cert_sha256, created_at, expires_at) VALUES"
	                        " ( x'00', '" SPKI_1 "', x'000b', '" EKH "', 1, 2)"));
}

/* Used inside a transaction that is rolled back (a claim refused later,
 * say for quota): the challenge is unused again. */
static void test_challenge_rollback(void **state)
{
	struct store_fx *f = *state;
	struct ztm_attest_challenge_row r, got;

	chal_fill(&r, 0x71, T0);
	CHECK(ztm_store_attest_challenge_add(f->s, &r, E), ZTM_OK);
	CHECK(ztm_store_begin(f->s, E), ZTM_OK);
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 1, E), ZTM_OK);
	ztm_store_rollback(f->s);
	CHECK(ztm_store_attest_challenge_get(f->s, r.cred_hash, &got, E), ZTM_OK);
	assert_int_equal(got.used_at, 0);
	CHECK(ztm_store_attest_challenge_use(f->s, r.cred_hash, T0 + 2, E), ZTM_OK);
}

/* A version-7 database with a product gains key_storage = 'any' and the
 * table on open. */
static void test_migration_from_v7(void **state)
{
	struct store_fx *f = *state;
	struct ztm_product_row p, got;
	int64_t id = 0;
	int v = 0;

	product_fill(&p, "old", ZTM_KEY_STORAGE_ANY);
	CHECK(ztm_store_product_add(f->s, &p, &id, E), ZTM_OK);
	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(raw_exec(&f->t, "PRAGMA foreign_keys=OFF;" UNDO_9 UNDO_8), 0);
	assert_int_equal(raw_int(&f->t, "SELECT max(version) FROM schema_version"), 7);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	CHECK(ztm_store_product_get(f->s, "old", &got, E), ZTM_OK);
	assert_int_equal(got.key_storage, ZTM_KEY_STORAGE_ANY);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM attest_challenges"), 0);
}

/* Migration 9: a device's EK certificate hash, "" until set; set by
 * device_set_ek, refused for a bad hash or an unknown device (nothing
 * changed); the schema's CHECK too; a device from before the step gets "". */
static void test_device_ek(void **state)
{
	struct store_fx *f = *state;
	struct ztm_product_row p;
	struct ztm_order_row o;
	struct ztm_record_row r;
	struct ztm_device_row d, got;
	int64_t factory = 0, station = 0, order = 0, batch = 0, rec = 0, dev = 0;
	int repeat = 0, v = 0;

	product_fill(&p, "tpm-only", ZTM_KEY_STORAGE_TPM);
	memset(&o, 0, sizeof(o));
	ztm_strlcpy(o.name, "wo-1", sizeof(o.name));
	o.quota = 10;
	o.not_before = 1;
	o.not_after = T0 + 86400;
	CHECK(ztm_store_factory_add(f->s, "plant-1", &factory, E), ZTM_OK);
	CHECK(ztm_store_product_add(f->s, &p, &o.product_id, E), ZTM_OK);
	CHECK(ztm_store_station_add(f->s, factory, "line-1", &station, E), ZTM_OK);
	o.factory_id = factory;
	CHECK(ztm_store_order_add(f->s, &o, &order, E), ZTM_OK);
	CHECK(ztm_store_batch_add(f->s, station, SPKI_2, 1, &batch, E), ZTM_OK);
	ztm_record_row_init(&r);
	ztm_buf_append_str(&r.bootstrap_der, "0 not a certificate");
	r.batch_id = batch;
	r.station_id = station;
	r.order_id = order;
	ztm_strlcpy(r.serial, "SN-1", sizeof(r.serial));
	ztm_strlcpy(r.spki_sha256, SPKI_1, sizeof(r.spki_sha256));
	r.test_result = ZTM_TEST_PASS;
	r.key_origin = ZTM_KEY_ORIGIN_DEVICE;
	r.recorded_at = T0;
	CHECK(ztm_store_record_add(f->s, &r, &rec, &repeat, E), ZTM_OK);
	ztm_record_row_free(&r);
	memset(&d, 0, sizeof(d));
	ztm_strlcpy(d.serial, "SN-1", sizeof(d.serial));
	d.product_id = o.product_id;
	d.record_id = rec;
	d.state = ZTM_DEVICE_PROVISIONED;
	ztm_strlcpy(d.key_spki_sha256, SPKI_1, sizeof(d.key_spki_sha256));
	CHECK(ztm_store_device_add(f->s, &d, &dev, E), ZTM_OK);
	CHECK(ztm_store_device_get(f->s, "SN-1", &got, E), ZTM_OK);
	assert_string_equal(got.ek_cert_sha256, "");
	CHECK(ztm_store_device_set_ek(f->s, "SN-1", EKH, E), ZTM_OK);
	CHECK(ztm_store_device_get(f->s, "SN-1", &got, E), ZTM_OK);
	assert_string_equal(got.ek_cert_sha256, EKH);
	/* Refusals: nothing changed. */
	CHECK(ztm_store_device_set_ek(f->s, "SN-1", "EEEE", E), ZTM_E_USAGE);
	CHECK(ztm_store_device_set_ek(f->s, "SN-1", "", E), ZTM_E_USAGE);
	CHECK(ztm_store_device_set_ek(f->s, "SN-1", NULL, E), ZTM_E_USAGE);
	CHECK(ztm_store_device_set_ek(f->s, "SN-9", SPKI_2, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_device_set_ek(f->s, NULL, SPKI_2, E), ZTM_E_USAGE);
	assert_true(raw_refused(&f->t, "UPDATE devices SET ek_cert_sha256 = 'xyz'"));
	assert_true(raw_refused(&f->t, "UPDATE devices SET ek_cert_sha256 = upper('" EKH "')"));
	CHECK(ztm_store_device_get(f->s, "SN-1", &got, E), ZTM_OK);
	assert_string_equal(got.ek_cert_sha256, EKH);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM devices WHERE ek_cert_sha256 = ''"),
	                 0);
	/* A version-8 database: the device gains "" on open. */
	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(raw_exec(&f->t, "PRAGMA foreign_keys=OFF;" UNDO_9), 0);
	assert_int_equal(raw_int(&f->t, "SELECT max(version) FROM schema_version"), 8);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	CHECK(ztm_store_device_get(f->s, "SN-1", &got, E), ZTM_OK);
	assert_string_equal(got.ek_cert_sha256, "");
	assert_string_equal(got.key_spki_sha256, SPKI_1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_key_storage, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_once, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_refusals, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_purge, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_schema, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_rollback, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_migration_from_v7, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_device_ek, store_fx_setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
