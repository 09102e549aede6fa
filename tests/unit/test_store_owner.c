/* test_store_owner.c - owners, their operators, device ownership and the
 * voucher record in the SQLite store (migration 3), each with its refusals;
 * and the migration from a version-2 database keeping operator ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "ztm/store.h"

#define SPKI_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct fx {
	struct tdir t;
	struct ztm_store *s;
	int64_t product, batch, station, order;
	int64_t dev[3];
};

/* Three devices SN-1..SN-3 of one product, recorded by one station. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ztm_product_row p;
	struct ztm_order_row o;
	struct ztm_record_row r;
	struct ztm_device_row d;
	struct ztm_error err;
	int64_t factory, rec;
	int i, repeat;
	char spki[65];

	if (f == NULL || tdir_make(&f->t) != 0)
		return -1;
	memset(&p, 0, sizeof(p));
	ztm_strlcpy(p.name, "widget", sizeof(p.name));
	ztm_strlcpy(p.device_class, "sensor", sizeof(p.device_class));
	p.lifetime_days = 365;
	p.key_kinds = 1;
	ztm_strlcpy(p.hw_type_oid, "1.3.6.1.4.1.99999.1", sizeof(p.hw_type_oid));
	memset(&o, 0, sizeof(o));
	ztm_strlcpy(o.name, "wo-1", sizeof(o.name));
	o.quota = 10;
	o.not_before = 1;
	o.not_after = (int64_t)time(NULL) + 86400;
	if (ztm_store_open(f->t.url, &f->s, &err) != 0 ||
	    ztm_store_factory_add(f->s, "plant-1", &factory, &err) != 0 ||
	    ztm_store_product_add(f->s, &p, &f->product, &err) != 0 ||
	    ztm_store_station_add(f->s, factory, "line-1", &f->station, &err) != 0)
		goto fail;
	o.product_id = f->product;
	o.factory_id = factory;
	if (ztm_store_order_add(f->s, &o, &f->order, &err) != 0 ||
	    ztm_store_batch_add(f->s, f->station, HASH_A, 3, &f->batch, &err) != 0)
		goto fail;
	ztm_record_row_init(&r);
	for (i = 0; i < 3; i++) {
		memset(spki, '1' + i, 64);
		spki[64] = '\0';
		ztm_buf_reset(&r.bootstrap_der);
		ztm_buf_append_str(&r.bootstrap_der, "0 not a certificate");
		r.batch_id = f->batch;
		r.station_id = f->station;
		r.order_id = f->order;
		snprintf(r.serial, sizeof(r.serial), "SN-%d", i + 1);
		ztm_strlcpy(r.spki_sha256, spki, sizeof(r.spki_sha256));
		r.test_result = ZTM_TEST_PASS;
		r.key_origin = ZTM_KEY_ORIGIN_DEVICE;
		r.recorded_at = 1700000000;
		if (ztm_store_record_add(f->s, &r, &rec, &repeat, &err) != 0)
			goto fail;
		memset(&d, 0, sizeof(d));
		snprintf(d.serial, sizeof(d.serial), "SN-%d", i + 1);
		d.product_id = f->product;
		d.record_id = rec;
		d.state = ZTM_DEVICE_ACTIVE;
		ztm_strlcpy(d.key_spki_sha256, SPKI_1, sizeof(d.key_spki_sha256));
		if (ztm_store_device_add(f->s, &d, &f->dev[i], &err) != 0)
			goto fail;
	}
	ztm_record_row_free(&r);
	*state = f;
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", ztm_error_msg(&err));
	return -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ztm_store_close(f->s);
	tdir_remove(&f->t);
	free(f);
	return 0;
}

static const uint8_t anchor[] = "0\x82 an anchor (the store does not parse it)";

static void test_owners(void **state)
{
	struct fx *f = *state;
	struct ztm_owner_row *o = malloc(sizeof(*o));
	int64_t id = 0, id2 = 0;
	uint8_t big[ZTM_ANCHOR_MAX + 1];

	assert_non_null(o);
	memset(big, 0x30, sizeof(big));
	CHECK(ztm_store_owner_add(f->s, "acme", anchor, sizeof(anchor), &id, E), ZTM_OK);
	CHECK(ztm_store_owner_add(f->s, "acme", anchor, sizeof(anchor), &id2, E), ZTM_E_EXISTS);
	CHECK(ztm_store_owner_add(f->s, "", anchor, sizeof(anchor), &id2, E), ZTM_E_USAGE);
	CHECK(ztm_store_owner_add(f->s, "big", big, sizeof(big), &id2, E), ZTM_E_USAGE);
	CHECK(ztm_store_owner_add(f->s, "none", anchor, 0, &id2, E), ZTM_E_USAGE);
	CHECK(ztm_store_owner_get(f->s, "acme", o, E), ZTM_OK);
	assert_int_equal(o->id, id);
	assert_int_equal(o->anchor_len, sizeof(anchor));
	assert_memory_equal(o->anchor_der, anchor, sizeof(anchor));
	assert_int_equal(strlen(o->anchor_sha256), 64);
	CHECK(ztm_store_owner_get_id(f->s, id, o, E), ZTM_OK);
	assert_string_equal(o->name, "acme");
	CHECK(ztm_store_owner_get(f->s, "nobody", o, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_owner_get_id(f->s, 999, o, E), ZTM_E_NOTFOUND);
	free(o);
}

static int count_owner(const struct ztm_owner_row *row, void *arg)
{
	(void)row;
	++*(int *)arg;
	return 0;
}

struct seen {
	int n;
	char serials[8][16];
};

static int collect(const struct ztm_device_row *row, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		ztm_strlcpy(s->serials[s->n], row->serial, sizeof(s->serials[0]));
	s->n++;
	return 0;
}

static void test_ownership_and_list(void **state)
{
	struct fx *f = *state;
	struct ztm_device_row d;
	struct ztm_operator_row op;
	struct seen seen;
	int64_t acme = 0, other = 0, opid = 0, id = 0;
	int n = 0;

	CHECK(ztm_store_owner_add(f->s, "acme", anchor, sizeof(anchor), &acme, E), ZTM_OK);
	CHECK(ztm_store_owner_add(f->s, "other", anchor, sizeof(anchor), &other, E), ZTM_OK);
	CHECK(ztm_store_owner_each(f->s, count_owner, &n, E), ZTM_OK);
	assert_int_equal(n, 2);

	/* An owner's operator names its owner; role owner needs one. */
	CHECK(ztm_store_owner_operator_add(f->s, "ann", acme, &opid, E), ZTM_OK);
	CHECK(ztm_store_operator_get(f->s, opid, &op, E), ZTM_OK);
	assert_int_equal(op.role, ZTM_ROLE_OWNER);
	assert_int_equal(op.owner_id, acme);
	CHECK(ztm_store_owner_operator_add(f->s, "ann", acme, &id, E), ZTM_E_EXISTS);
	CHECK(ztm_store_owner_operator_add(f->s, "bob", 999, &id, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_owner_operator_add(f->s, "bob", 0, &id, E), ZTM_E_USAGE);
	CHECK(ztm_store_operator_add(f->s, "carl", ZTM_ROLE_OWNER, &id, E), ZTM_E_USAGE);
	CHECK(ztm_store_operator_add(f->s, "dora", ZTM_ROLE_PLANNER, &id, E), ZTM_OK);
	CHECK(ztm_store_operator_get(f->s, id, &op, E), ZTM_OK);
	assert_int_equal(op.owner_id, 0);

	CHECK(ztm_store_device_get(f->s, "SN-1", &d, E), ZTM_OK);
	assert_int_equal(d.owner_id, 0);
	CHECK(ztm_store_device_set_owner(f->s, "SN-1", acme, E), ZTM_OK);
	CHECK(ztm_store_device_set_owner(f->s, "SN-3", acme, E), ZTM_OK);
	CHECK(ztm_store_device_set_owner(f->s, "SN-2", other, E), ZTM_OK);
	CHECK(ztm_store_device_set_owner(f->s, "SN-404", acme, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_device_set_owner(f->s, "SN-1", 999, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_device_set_owner(f->s, "SN-1", 0, E), ZTM_E_USAGE);
	CHECK(ztm_store_device_get(f->s, "SN-1", &d, E), ZTM_OK);
	assert_int_equal(d.owner_id, acme);

	/* The list: all, one owner's, a page after a cursor. */
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_device_each(f->s, 0, 0, 100, collect, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 3);
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_device_each(f->s, acme, 0, 100, collect, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.serials[0], "SN-1");
	assert_string_equal(seen.serials[1], "SN-3");
	memset(&seen, 0, sizeof(seen));
	CHECK(ztm_store_device_each(f->s, acme, f->dev[0], 1, collect, &seen, E), ZTM_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.serials[0], "SN-3");
	CHECK(ztm_store_device_each(f->s, acme, 0, 0, collect, &seen, E), ZTM_E_USAGE);
}

static void test_vouchers(void **state)
{
	struct fx *f = *state;
	int64_t acme = 0, n = -1;

	CHECK(ztm_store_owner_add(f->s, "acme", anchor, sizeof(anchor), &acme, E), ZTM_OK);
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 100, 200, HASH_A, "operator:pat", E),
	      ZTM_OK);
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 200, 100, HASH_A, "operator:pat", E),
	      ZTM_E_USAGE);
	CHECK(ztm_store_voucher_add(f->s, 999, acme, 100, 200, HASH_A, "operator:pat", E),
	      ZTM_E_NOTFOUND);
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 150, 200, "xyz", "operator:pat", E),
	      ZTM_E_USAGE);
	/* One device's vouchers are newer each time (the device refuses an
	 * older one as a replay); another device's are independent. */
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 100, 300, HASH_A, "operator:pat", E),
	      ZTM_E_CONFLICT);
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 50, 300, HASH_A, "operator:pat", E),
	      ZTM_E_CONFLICT);
	CHECK(ztm_store_voucher_count(f->s, f->dev[0], &n, E), ZTM_OK);
	assert_int_equal(n, 1);
	CHECK(ztm_store_voucher_add(f->s, f->dev[0], acme, 101, 300, HASH_A, "operator:pat", E),
	      ZTM_OK);
	CHECK(ztm_store_voucher_add(f->s, f->dev[1], acme, 100, 300, HASH_A, "operator:pat", E),
	      ZTM_OK);
	CHECK(ztm_store_voucher_count(f->s, f->dev[0], &n, E), ZTM_OK);
	assert_int_equal(n, 2);
	CHECK(ztm_store_voucher_count(f->s, 0, &n, E), ZTM_OK);
	assert_int_equal(n, 3);
	/* append-only */
	assert_int_not_equal(raw_exec(&f->t, "DELETE FROM vouchers"), SQLITE_OK);
	assert_int_not_equal(raw_exec(&f->t, "UPDATE vouchers SET owner_id = 1"), SQLITE_OK);
}

/* A version-2 database (step 3 undone by hand, operators in their v2 form)
 * gains owners on open and keeps its operators with their ids. */
static void test_migration_from_v2(void **state)
{
	struct fx *f = *state;
	struct ztm_operator_row op;
	int64_t id = 0, acme = 0;
	int v = 0;

	SQLITE_ONLY();

	CHECK(ztm_store_operator_add(f->s, "pat", ZTM_ROLE_PLANNER, &id, E), ZTM_OK);
	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(
	    raw_exec(&f->t,
	             "PRAGMA foreign_keys=OFF; BEGIN;" UNDO_9 UNDO_8 UNDO_7 UNDO_6 UNDO_5
	             "DROP TABLE vouchers; DROP INDEX devices_owner;"
	             "ALTER TABLE devices DROP COLUMN owner_id;"
	             "CREATE TABLE op2 (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	             " role TEXT NOT NULL CHECK (role IN ('admin', 'planner')),"
	             " revoked INTEGER NOT NULL DEFAULT 0, cert_serial TEXT NOT NULL DEFAULT '',"
	             " created_at INTEGER NOT NULL);"
	             "INSERT INTO op2 (id, name, role, created_at)"
	             " SELECT id + 40, name, role, created_at FROM operators;"
	             "DROP TABLE operators; ALTER TABLE op2 RENAME TO operators;"
	             "DROP TABLE owners;"
	             "DELETE FROM schema_version WHERE version = 4; COMMIT;"),
	    SQLITE_OK);
	assert_int_equal(raw_int(&f->t, "SELECT max(version) FROM schema_version"), 3);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	CHECK(ztm_store_operator_get(f->s, id + 40, &op, E), ZTM_OK);
	assert_string_equal(op.name, "pat");
	assert_int_equal(op.role, ZTM_ROLE_PLANNER);
	CHECK(ztm_store_owner_add(f->s, "acme", anchor, sizeof(anchor), &acme, E), ZTM_OK);
	CHECK(ztm_store_owner_operator_add(f->s, "ann", acme, &id, E), ZTM_OK);
	CHECK(ztm_store_device_set_owner(f->s, "SN-2", acme, E), ZTM_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_owners, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ownership_and_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vouchers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration_from_v2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
