/* test_store_prod.c - the production model in the SQLite store (migration
 * 2): products, work orders and their quota operations, record batches,
 * records, devices, approved firmware and alerts, each with its refusals
 * (one table row per case); and 8 processes draining one order's quota at
 * once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "vet.h"
#include "ztm/store.h"

#define SPKI_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define SPKI_2 "2222222222222222222222222222222222222222222222222222222222222222"
#define SPKI_3 "3333333333333333333333333333333333333333333333333333333333333333"
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fx {
	struct tdir t;
	struct ztm_store *s;
	int64_t factory, product, station, order, batch;
};

static void product_fill(struct ztm_product_row *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	ztm_strlcpy(p->name, name, sizeof(p->name));
	ztm_strlcpy(p->device_class, "sensor", sizeof(p->device_class));
	p->lifetime_days = 3650;
	p->key_kinds = 1u << 0 | 1u << 2;
	p->require_fw_hash = 1;
	p->allow_injected = 0;
	ztm_strlcpy(p->hw_type_oid, "1.3.6.1.4.1.99999.1", sizeof(p->hw_type_oid));
}

static void order_fill(struct ztm_order_row *o, const char *name, int64_t product, int64_t factory,
                       int64_t quota)
{
	memset(o, 0, sizeof(*o));
	ztm_strlcpy(o->name, name, sizeof(o->name));
	o->product_id = product;
	o->factory_id = factory;
	o->quota = quota;
	o->not_before = (int64_t)time(NULL) - 60;
	o->not_after = (int64_t)time(NULL) + 86400;
}

static void record_fill(struct ztm_record_row *r, const struct fx *f, const char *serial,
                        const char *spki)
{
	ztm_buf_reset(&r->bootstrap_der);
	ztm_buf_append_str(&r->bootstrap_der, "0\x82 not really a certificate");
	r->batch_id = f->batch;
	r->station_id = f->station;
	r->order_id = f->order;
	ztm_strlcpy(r->serial, serial, sizeof(r->serial));
	ztm_strlcpy(r->spki_sha256, spki, sizeof(r->spki_sha256));
	ztm_strlcpy(r->hw_rev, "B2", sizeof(r->hw_rev));
	ztm_strlcpy(r->mac, "02:00:00:00:00:01", sizeof(r->mac));
	ztm_strlcpy(r->fw_version, "1.4.2", sizeof(r->fw_version));
	ztm_strlcpy(r->fw_sha256, HASH_A, sizeof(r->fw_sha256));
	r->test_result = ZTM_TEST_PASS;
	r->key_origin = ZTM_KEY_ORIGIN_DEVICE;
	r->recorded_at = 1700000000;
	r->received_at = 0;
}

/* A store with a factory, a product, a station, an order of quota 3 and a batch. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ztm_product_row p;
	struct ztm_order_row o;
	struct ztm_error err;

	if (f == NULL || tdir_make(&f->t) != 0)
		return -1;
	product_fill(&p, "sensor-v1");
	if (ztm_store_open(f->t.url, &f->s, &err) != 0 ||
	    ztm_store_factory_add(f->s, "plant-1", &f->factory, &err) != 0 ||
	    ztm_store_product_add(f->s, &p, &f->product, &err) != 0 ||
	    ztm_store_station_add(f->s, f->factory, "line-1", &f->station, &err) != 0)
		goto fail;
	order_fill(&o, "wo-1", f->product, f->factory, 3);
	if (ztm_store_order_add(f->s, &o, &f->order, &err) != 0 ||
	    ztm_store_batch_add(f->s, f->station, HASH_A, 2, &f->batch, &err) != 0)
		goto fail;
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

/* A version-1 database (step 2 undone by hand) gains the tables on open
 * and keeps its rows. */
static void test_migration_from_v1(void **state)
{
	struct fx *f = *state;
	int64_t id = 0;
	int v = 0;

	SQLITE_ONLY();

	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(
	    raw_exec(&f->t,
	             "PRAGMA foreign_keys=OFF;" UNDO_9 UNDO_8 UNDO_7 UNDO_6 UNDO_5 UNDO_4 UNDO_3
	             "DROP TABLE alerts; DROP TABLE approved_firmware;"
	             "DROP TABLE devices; DROP TABLE records;"
	             "DROP TABLE record_batches; DROP TABLE work_orders;"
	             "DROP TABLE products;"
	             "DELETE FROM schema_version WHERE version >= 2"),
	    SQLITE_OK);
	assert_int_equal(raw_int(&f->t, "SELECT max(version) FROM schema_version"), 1);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	CHECK(ztm_store_factory_get(f->s, "plant-1", &id, E), ZTM_OK);
	assert_int_equal(id, f->factory);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM products"), 0);
}

static void test_products(void **state)
{
	static const struct {
		const char *what, *name, *oid;
		int64_t lifetime;
		unsigned kinds;
		int fw;
		enum ztm_err want;
	} rows[] = {
	    {"good", "cam-2", "1.3.6.1.4.1.99999.2", 365, 8, 0, ZTM_OK},
	    {"name taken", "sensor-v1", "1.2.3", 365, 1, 0, ZTM_E_EXISTS},
	    {"empty name", "", "1.2.3", 365, 1, 0, ZTM_E_USAGE},
	    {"lifetime 0", "p-a", "1.2.3", 0, 1, 0, ZTM_E_USAGE},
	    {"lifetime > 100 y", "p-b", "1.2.3", 36501, 1, 0, ZTM_E_USAGE},
	    {"no key kinds", "p-c", "1.2.3", 365, 0, 0, ZTM_E_USAGE},
	    {"unknown key kind", "p-d", "1.2.3", 365, 16, 0, ZTM_E_USAGE},
	    {"flag not 0/1", "p-e", "1.2.3", 365, 1, 2, ZTM_E_USAGE},
	    {"OID one arc", "p-f", "123", 365, 1, 0, ZTM_E_USAGE},
	    {"OID letters", "p-g", "1.2.x", 365, 1, 0, ZTM_E_USAGE},
	    {"OID empty arc", "p-h", "1..2", 365, 1, 0, ZTM_E_USAGE},
	    {"OID trailing dot", "p-i", "1.2.", 365, 1, 0, ZTM_E_USAGE},
	};
	struct fx *f = *state;
	struct ztm_product_row p, got;
	int64_t id;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		product_fill(&p, rows[i].name);
		ztm_strlcpy(p.hw_type_oid, rows[i].oid, sizeof(p.hw_type_oid));
		p.lifetime_days = rows[i].lifetime;
		p.key_kinds = rows[i].kinds;
		p.require_fw_hash = rows[i].fw;
		print_message("product: %s\n", rows[i].what);
		CHECK(ztm_store_product_add(f->s, &p, &id, E), rows[i].want);
	}
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM products"), 2);
	CHECK(ztm_store_product_get(f->s, "cam-2", &got, E), ZTM_OK);
	assert_string_equal(got.hw_type_oid, "1.3.6.1.4.1.99999.2");
	assert_int_equal(got.key_kinds, 8);
	assert_int_equal(got.lifetime_days, 365);
	assert_int_equal(got.require_fw_hash, 0);
	CHECK(ztm_store_product_get(f->s, "sensor-v1", &got, E), ZTM_OK);
	assert_int_equal(got.id, f->product);
	assert_int_equal(got.require_fw_hash, 1);
	assert_int_equal(got.allow_injected, 0);
	assert_string_equal(got.device_class, "sensor");
	CHECK(ztm_store_product_get(f->s, "nope", &got, E), ZTM_E_NOTFOUND);
}

static void test_orders(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *what, *name;
		int product, factory; /* 1 = the fixture's, 0 = unknown id */
		int64_t quota, nb_off, na_off;
		enum ztm_err want;
	} rows[] = {
	    {"good", "wo-2", 1, 1, 1000000000, -10, 10, ZTM_OK},
	    {"name taken", "wo-1", 1, 1, 5, -10, 10, ZTM_E_EXISTS},
	    {"unknown product", "wo-3", 0, 1, 5, -10, 10, ZTM_E_NOTFOUND},
	    {"unknown factory", "wo-4", 1, 0, 5, -10, 10, ZTM_E_NOTFOUND},
	    {"quota 0", "wo-5", 1, 1, 0, -10, 10, ZTM_E_USAGE},
	    {"quota 10^9 + 1", "wo-6", 1, 1, 1000000001, -10, 10, ZTM_E_USAGE},
	    {"negative quota", "wo-7", 1, 1, -1, -10, 10, ZTM_E_USAGE},
	    {"window reversed", "wo-8", 1, 1, 5, 10, -10, ZTM_E_USAGE},
	    {"window empty", "wo-9", 1, 1, 5, 10, 10, ZTM_E_USAGE},
	    {"empty name", "", 1, 1, 5, -10, 10, ZTM_E_USAGE},
	};
	struct ztm_order_row o, got;
	int64_t id, now = (int64_t)time(NULL);
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		order_fill(&o, rows[i].name, rows[i].product ? f->product : 999,
		           rows[i].factory ? f->factory : 999, rows[i].quota);
		o.not_before = now + rows[i].nb_off;
		o.not_after = now + rows[i].na_off;
		print_message("order: %s\n", rows[i].what);
		CHECK(ztm_store_order_add(f->s, &o, &id, E), rows[i].want);
	}
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM work_orders"), 2);
	CHECK(ztm_store_order_get(f->s, "wo-2", &got, E), ZTM_OK);
	assert_int_equal(got.quota, 1000000000);
	assert_string_equal(got.product, "sensor-v1");
	assert_string_equal(got.factory, "plant-1");
	assert_int_equal(got.state, ZTM_ORDER_OPEN);
	assert_int_equal(got.recorded, 0);
	assert_int_equal(got.registered, 0);
	assert_int_equal(got.not_before, now - 10);
	CHECK(ztm_store_order_get_id(f->s, got.id, &o, E), ZTM_OK);
	assert_string_equal(o.name, "wo-2");
	CHECK(ztm_store_order_get(f->s, "nope", &got, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_order_get_id(f->s, 999, &got, E), ZTM_E_NOTFOUND);

	/* closing: once, again (keeps the first time), unknown */
	CHECK(ztm_store_order_close(f->s, "wo-2", 1800000000, E), ZTM_OK);
	CHECK(ztm_store_order_close(f->s, "wo-2", 1900000000, E), ZTM_OK);
	CHECK(ztm_store_order_get(f->s, "wo-2", &got, E), ZTM_OK);
	assert_int_equal(got.state, ZTM_ORDER_CLOSED);
	assert_int_equal(got.closed_at, 1800000000);
	CHECK(ztm_store_order_close(f->s, "nope", 1, E), ZTM_E_NOTFOUND);
}

/* The quota operations: each row is one call on a fresh order. */
static void test_quota(void **state)
{
	struct fx *f = *state;
	struct ztm_order_row o;
	struct ztm_error err;
	int64_t id, now = (int64_t)time(NULL);
	int i, reg;
	static const struct {
		const char *what;
		int64_t quota, nb_off, na_off;
		int close, takes;
		enum ztm_err want_last;
		const char *msg;
	} rows[] = {
	    {"within quota", 3, -10, 10, 0, 3, ZTM_OK, NULL},
	    {"quota + 1", 2, -10, 10, 0, 3, ZTM_E_POLICY, "quota exhausted"},
	    {"closed", 5, -10, 10, 1, 1, ZTM_E_POLICY, "closed"},
	    {"not yet open", 5, 10, 20, 0, 1, ZTM_E_POLICY, "window"},
	    {"expired", 5, -20, -10, 0, 1, ZTM_E_POLICY, "window"},
	    {"ends now", 5, -20, 0, 0, 1, ZTM_E_POLICY, "window"},
	};
	char name[32];
	size_t r;

	for (reg = 0; reg < 2; reg++) {
		for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
			snprintf(name, sizeof(name), "q-%d-%zu", reg, r);
			order_fill(&o, name, f->product, f->factory, rows[r].quota);
			o.not_before = now + rows[r].nb_off;
			o.not_after = now + rows[r].na_off;
			assert_int_equal(ztm_store_order_add(f->s, &o, &id, &err), 0);
			if (rows[r].close)
				assert_int_equal(ztm_store_order_close(f->s, name, now, &err), 0);
			print_message("quota %s: %s\n", reg ? "registration" : "record",
			              rows[r].what);
			for (i = 0; i < rows[r].takes; i++) {
				int rc =
				    reg ? ztm_store_order_take_registration(f->s, id, now, &err)
				        : ztm_store_order_take_record_slot(f->s, id, now, &err);
				if (i < rows[r].takes - 1 || rows[r].want_last == ZTM_OK) {
					if (rc != 0)
						fail_msg("take %d: %s", i, ztm_error_msg(&err));
					continue;
				}
				assert_int_equal(rc, -1);
				assert_int_equal(err.code, rows[r].want_last);
				assert_non_null(strstr(ztm_error_msg(&err), rows[r].msg));
			}
			/* the refused take changed nothing; the other counter untouched */
			assert_int_equal(ztm_store_order_get(f->s, name, &o, &err), 0);
			assert_int_equal(reg ? o.registered : o.recorded,
			                 rows[r].want_last == ZTM_OK ? rows[r].takes
			                                             : rows[r].takes - 1);
			assert_int_equal(reg ? o.recorded : o.registered, 0);
		}
	}
	CHECK(ztm_store_order_take_record_slot(f->s, 999, now, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_order_take_registration(f->s, 999, now, E), ZTM_E_NOTFOUND);
	/* n slots at once: all or none. Quota 10: 4, then 6 (exactly full),
	 * then 1 more refused; on a fresh order 11 are refused with nothing
	 * taken. */
	order_fill(&o, "q-n", f->product, f->factory, 10);
	o.not_before = now - 10;
	o.not_after = now + 10;
	assert_int_equal(ztm_store_order_add(f->s, &o, &id, &err), 0);
	assert_int_equal(ztm_store_order_take_record_slots(f->s, id, 11, now, &err), -1);
	assert_int_equal(err.code, ZTM_E_POLICY);
	assert_non_null(
	    strstr(ztm_error_msg(&err), "quota exhausted (10, 0 taken, 11 more asked)"));
	CHECK(ztm_store_order_take_record_slots(f->s, id, 0, now, E), ZTM_E_USAGE);
	CHECK(ztm_store_order_take_record_slots(f->s, id, 4, now, E), ZTM_OK);
	CHECK(ztm_store_order_take_record_slots(f->s, id, 7, now, E), ZTM_E_POLICY);
	assert_int_equal(ztm_store_order_get(f->s, "q-n", &o, &err), 0);
	assert_int_equal(o.recorded, 4);
	CHECK(ztm_store_order_take_record_slots(f->s, id, 6, now, E), ZTM_OK);
	assert_int_equal(ztm_store_order_take_record_slots(f->s, id, 1, now, &err), -1);
	assert_int_equal(err.code, ZTM_E_POLICY);
	assert_non_null(strstr(ztm_error_msg(&err), "record quota exhausted (10)"));
	assert_int_equal(ztm_store_order_get(f->s, "q-n", &o, &err), 0);
	assert_int_equal(o.recorded, 10);
	assert_int_equal(o.registered, 0);
	CHECK(ztm_store_order_take_record_slots(f->s, 999, 2, now, E), ZTM_E_NOTFOUND);
	/* the schema refuses a counter above the quota whatever the caller */
	assert_int_not_equal(raw_exec(&f->t, "UPDATE work_orders SET recorded = quota + 1"),
	                     SQLITE_OK);
}

static void test_batches(void **state)
{
	struct fx *f = *state;
	int64_t id = 0;

	CHECK(ztm_store_batch_add(f->s, f->station, HASH_B, 1, &id, E), ZTM_OK);
	assert_int_not_equal(id, f->batch);
	/* the same signed bytes again: EXISTS, naming the first upload */
	id = 0;
	CHECK(ztm_store_batch_add(f->s, f->station, HASH_A, 2, &id, E), ZTM_E_EXISTS);
	assert_int_equal(id, f->batch);
	CHECK(ztm_store_batch_add(f->s, 999, SPKI_3, 1, &id, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_batch_add(f->s, f->station, "abc", 1, &id, E), ZTM_E_USAGE);
	CHECK(ztm_store_batch_add(f->s, f->station, SPKI_3, -1, &id, E), ZTM_E_USAGE);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM record_batches"), 2);
}

static void test_records(void **state)
{
	struct fx *f = *state;
	struct ztm_record_row r, got;
	int64_t id1 = 0, id = 0, st2 = 0;
	int repeat = -1;

	ztm_record_row_init(&r);
	ztm_record_row_init(&got);
	record_fill(&r, f, "SN-0001", SPKI_1);
	CHECK(ztm_store_record_add(f->s, &r, &id1, &repeat, E), ZTM_OK);
	assert_int_equal(repeat, 0);
	/* the same record again (a station re-sending): success, nothing new */
	CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_OK);
	assert_int_equal(repeat, 1);
	assert_int_equal(id, id1);
	/* the same key for another serial, or from another station: a clone */
	record_fill(&r, f, "SN-0002", SPKI_1);
	CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_E_EXISTS);
	CHECK(ztm_store_station_add(f->s, f->factory, "line-2", &st2, E), ZTM_OK);
	record_fill(&r, f, "SN-0001", SPKI_1);
	r.station_id = st2;
	CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_E_EXISTS);
	/* the same serial with another key is a second record (vetting decides) */
	record_fill(&r, f, "SN-0001", SPKI_2);
	r.key_origin = ZTM_KEY_ORIGIN_INJECTED;
	r.test_result = ZTM_TEST_FAIL;
	ztm_strlcpy(r.fw_sha256, "", sizeof(r.fw_sha256));
	CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_OK);
	assert_int_equal(repeat, 0);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM records"), 2);

	/* The store takes every serial the record format allows (X.520's 64
	 * characters): a record a station could queue is never unstorable. */
	record_fill(&r, f, "S234567890123456789012345678901234567890123456789012345678901234",
	            "4444444444444444444444444444444444444444444444444444444444444444");
	CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_OK);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM records"), 3);

	CHECK(ztm_store_record_by_spki(f->s, SPKI_1, &got, E), ZTM_OK);
	assert_int_equal(got.id, id1);
	assert_string_equal(got.serial, "SN-0001");
	assert_string_equal(got.fw_sha256, HASH_A);
	assert_string_equal(got.mac, "02:00:00:00:00:01");
	assert_int_equal(got.test_result, ZTM_TEST_PASS);
	assert_int_equal(got.key_origin, ZTM_KEY_ORIGIN_DEVICE);
	assert_int_equal(got.order_id, f->order);
	assert_int_equal(got.recorded_at, 1700000000);
	assert_true(got.received_at > 1700000000);
	assert_int_equal(got.bootstrap_der.len, strlen("0\x82 not really a certificate"));
	CHECK(ztm_store_record_by_spki(f->s, SPKI_2, &got, E), ZTM_OK);
	assert_int_equal(got.key_origin, ZTM_KEY_ORIGIN_INJECTED);
	assert_int_equal(got.test_result, ZTM_TEST_FAIL);
	assert_string_equal(got.fw_sha256, "");
	CHECK(ztm_store_record_by_spki(f->s, SPKI_3, &got, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_record_by_spki(f->s, "SPKI", &got, E), ZTM_E_USAGE);

	/* refusals, nothing written */
	{
		static const struct {
			const char *what;
			int field;
			enum ztm_err want;
		} bad[] = {
		    {"unknown order", 0, ZTM_E_NOTFOUND},  {"unknown batch", 1, ZTM_E_NOTFOUND},
		    {"serial with space", 2, ZTM_E_USAGE}, {"empty serial", 3, ZTM_E_USAGE},
		    {"spki not hex", 4, ZTM_E_USAGE},      {"fw hash short", 5, ZTM_E_USAGE},
		    {"no bootstrap", 6, ZTM_E_USAGE},      {"test result", 7, ZTM_E_USAGE},
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			record_fill(&r, f, "SN-0009", SPKI_3);
			switch (bad[i].field) {
			case 0:
				r.order_id = 999;
				break;
			case 1:
				r.batch_id = 999;
				break;
			case 2:
				ztm_strlcpy(r.serial, "SN 9", sizeof(r.serial));
				break;
			case 3:
				r.serial[0] = '\0';
				break;
			case 4:
				r.spki_sha256[3] = 'X';
				break;
			case 5:
				ztm_strlcpy(r.fw_sha256, "abcd", sizeof(r.fw_sha256));
				break;
			case 6:
				ztm_buf_reset(&r.bootstrap_der);
				break;
			default:
				r.test_result = (enum ztm_test_result)7;
				break;
			}
			print_message("record: %s\n", bad[i].what);
			CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), bad[i].want);
		}
	}
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM records"), 3);
	/* records are immutable */
	assert_int_not_equal(raw_exec(&f->t, "UPDATE records SET serial = 'X'"), SQLITE_OK);
	assert_int_not_equal(raw_exec(&f->t, "DELETE FROM records"), SQLITE_OK);
	ztm_record_row_free(&r);
	ztm_record_row_free(&got);
}

/* Migration 10: records written as hex text (version 9) read back the same
 * after the step turned the hashes into bytes, ids kept; afterwards the
 * schema itself refuses a hash as text or of another length. */
static void test_records_hashes_as_bytes(void **state)
{
	struct fx *f = *state;
	struct ztm_record_row r, got;
	int64_t id1 = 0, id2 = 0;
	int repeat = 0, v = 0;

	ztm_record_row_init(&r);
	ztm_record_row_init(&got);
	record_fill(&r, f, "SN-0001", SPKI_1);
	CHECK(ztm_store_record_add(f->s, &r, &id1, &repeat, E), ZTM_OK);
	record_fill(&r, f, "SN-0002",
	            "0123456789abcdef00ff0123456789abcdef00ff0123456789abcdef00ff9e8d");
	ztm_strlcpy(r.fw_sha256, "", sizeof(r.fw_sha256));
	CHECK(ztm_store_record_add(f->s, &r, &id2, &repeat, E), ZTM_OK);
	assert_int_equal(raw_int(&f->t, "SELECT length(spki_sha256) FROM records WHERE serial = "
	                                "'SN-0001'"),
	                 32);
	assert_int_equal(raw_int(&f->t, "SELECT length(fw_sha256) FROM records WHERE serial = "
	                                "'SN-0002'"),
	                 0);

	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	assert_int_equal(raw_int(&f->t, "SELECT max(version) FROM schema_version"), 9);
	assert_int_equal(raw_int(&f->t, "SELECT length(spki_sha256) FROM records WHERE serial = "
	                                "'SN-0001'"),
	                 64);
	CHECK(ztm_store_open(f->t.url, &f->s, E), ZTM_OK);
	CHECK(ztm_store_schema_version(f->s, &v, E), ZTM_OK);
	assert_int_equal(v, SCHEMA_LATEST);
	assert_int_equal(raw_int(&f->t, "SELECT length(spki_sha256) FROM records WHERE serial = "
	                                "'SN-0001'"),
	                 32);
	CHECK(ztm_store_record_by_spki(f->s, SPKI_1, &got, E), ZTM_OK);
	assert_int_equal(got.id, id1);
	assert_string_equal(got.serial, "SN-0001");
	assert_string_equal(got.fw_sha256, HASH_A);
	assert_int_equal(got.bootstrap_der.len, strlen("0\x82 not really a certificate"));
	CHECK(ztm_store_record_by_spki(f->s, r.spki_sha256, &got, E), ZTM_OK);
	assert_int_equal(got.id, id2);
	assert_string_equal(got.spki_sha256, r.spki_sha256);
	assert_string_equal(got.fw_sha256, "");
	/* the migrated table is still immutable, its key hash still unique */
	assert_true(raw_refused(&f->t, "UPDATE records SET serial = 'X'"));
	assert_true(raw_refused(&f->t, "DELETE FROM records"));
	CHECK(ztm_store_record_add(f->s, &r, &id2, &repeat, E), ZTM_OK);
	assert_int_equal(repeat, 1);
	record_fill(&r, f, "SN-0003", SPKI_1);
	CHECK(ztm_store_record_add(f->s, &r, &id2, &repeat, E), ZTM_E_EXISTS);

	/* rows only the schema stands in front of (written around the store) */
#define RAW_RECORD(spki, fw)                                                                       \
	"INSERT INTO records (batch_id, station_id, order_id, serial, spki_sha256, bootstrap_der," \
	" hw_rev, mac, fw_version, fw_sha256, test_result, key_origin, recorded_at, received_at)"  \
	" SELECT batch_id, station_id, order_id, 'SN-RAW', " spki ", bootstrap_der, hw_rev, mac,"  \
	" fw_version, " fw ", test_result, key_origin, 1, 1 FROM records WHERE serial = 'SN-0001'"
	assert_true(raw_refused(&f->t, RAW_RECORD("'" SPKI_3 "'", "x''")));
	assert_true(raw_refused(&f->t, RAW_RECORD("x'3333'", "x''")));
	assert_true(raw_refused(&f->t, RAW_RECORD("x'" SPKI_3 "'", "'" HASH_B "'")));
	assert_true(raw_refused(&f->t, RAW_RECORD("x'" SPKI_3 "'", "x'bb'")));
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM records"), 2);
	/* the control: the same statement with both hashes as 32 bytes */
	assert_int_equal(raw_exec(&f->t, RAW_RECORD("x'" SPKI_3 "'", "x'" HASH_B "'")), 0);
#undef RAW_RECORD
	CHECK(ztm_store_record_by_spki(f->s, SPKI_3, &got, E), ZTM_OK);
	assert_string_equal(got.serial, "SN-RAW");
	assert_string_equal(got.fw_sha256, HASH_B);
	ztm_record_row_free(&r);
	ztm_record_row_free(&got);
}

/* What vetting makes of a stored record after its station was revoked:
 * the record and the station as the store returns them, into the rule
 * (vet.c: voided iff recorded_at >= revoked_at). */
static enum vet_code vet_stored(struct fx *f, const char *spki)
{
	struct ztm_record_row rec;
	struct ztm_station_row st;
	struct vet_input in;
	enum vet_code c;
	int q = 0;

	ztm_record_row_init(&rec);
	CHECK(ztm_store_record_by_spki(f->s, spki, &rec, E), ZTM_OK);
	CHECK(ztm_store_station_get(f->s, rec.station_id, &st, E), ZTM_OK);
	memset(&in, 0, sizeof(in));
	in.boot_serial = rec.serial;
	in.boot_spki = spki;
	in.csr_spki = spki;
	in.csr_key_kind_bit = 1;
	in.have_record = 1;
	in.rec_serial = rec.serial;
	in.rec_test_passed = 1;
	in.rec_fw_approved = 1;
	in.rec_recorded_at = rec.recorded_at;
	in.station_revoked_at = st.revoked_at;
	in.product_key_kinds = 1;
	in.device_state = VET_DEV_NONE;
	in.order_open = 1;
	in.order_quota_left = 1;
	c = vet_decide(&in, &q);
	ztm_record_row_free(&rec);
	return c;
}

/* Issue 3 point 7: records a station made before the revocation time still
 * vet; those made at or after it do not. */
static void test_station_revoke_voids_records(void **state)
{
	struct fx *f = *state;
	static const char *const spki[] = {SPKI_1, SPKI_2, SPKI_3};
	static const struct {
		int64_t since;
		enum vet_code want[3]; /* records made at 4999, 5000, 5001 */
	} rows[] = {
	    {0, {VET_OK, VET_OK, VET_OK}}, /* not revoked */
	    {5000, {VET_OK, VET_STATION_REVOKED, VET_STATION_REVOKED}},
	    {5001, {VET_OK, VET_STATION_REVOKED, VET_STATION_REVOKED}}, /* kept at 5000 */
	    {4000, {VET_STATION_REVOKED, VET_STATION_REVOKED, VET_STATION_REVOKED}},
	};
	struct ztm_record_row r;
	int64_t id = 0;
	int repeat = 0;
	size_t i, k;

	ztm_record_row_init(&r);
	for (k = 0; k < 3; k++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "SN-%zu", k);
		record_fill(&r, f, serial, spki[k]);
		r.recorded_at = 4999 + (int64_t)k;
		CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_OK);
	}
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].since != 0)
			CHECK(ztm_store_station_revoke(f->s, f->station, rows[i].since,
			                               ZTM_REASON_PRIVILEGE_WITHDRAWN, "test", E),
			      ZTM_OK);
		for (k = 0; k < 3; k++)
			if (vet_stored(f, spki[k]) != rows[i].want[k])
				fail_msg("since %lld, record at %lld: want %s, got %s",
				         (long long)rows[i].since, (long long)(4999 + k),
				         vet_name(rows[i].want[k]),
				         vet_name(vet_stored(f, spki[k])));
	}
	ztm_record_row_free(&r);
}

/* A mass revocation's window selects a record made OR received in it: a
 * stolen station key can backdate recorded_at, never received_at (ours). */
static void test_mass_window(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *serial, *spki;
		int64_t recorded, received;
		int in;
	} rows[] = {
	    {"SN-0", SPKI_1, 5500, 5500, 1}, /* made and received in the window */
	    {"SN-1", SPKI_2, 100, 5600, 1},  /* backdated, received in the window */
	    {"SN-2", SPKI_3, 100, 200, 0},   /* both before it */
	};
	struct ztm_record_row r;
	struct ztm_mass_row m, out;
	struct ztm_device_row d;
	int64_t id = 0;
	int repeat = 0;
	size_t k;

	ztm_record_row_init(&r);
	for (k = 0; k < 3; k++) {
		record_fill(&r, f, rows[k].serial, rows[k].spki);
		r.recorded_at = rows[k].recorded;
		r.received_at = rows[k].received;
		CHECK(ztm_store_record_add(f->s, &r, &id, &repeat, E), ZTM_OK);
	}
	memset(&m, 0, sizeof(m));
	m.selector = ZTM_MASS_STATION;
	m.target_id = f->station;
	ztm_strlcpy(m.target, "plant-1/line-1", sizeof(m.target));
	m.from = 5000;
	m.to = 6000;
	m.reason = ZTM_REASON_KEY_COMPROMISE;
	ztm_strlcpy(m.requested_by, "operator:sofia", sizeof(m.requested_by));
	m.requested_at = 7000;
	CHECK(ztm_store_mass_request(f->s, &m, E), ZTM_OK);
	assert_int_equal(m.preview, 2);
	CHECK(ztm_store_mass_decide(f->s, m.id, 1, "operator:omar", 7001, &out, E), ZTM_OK);
	assert_int_equal(out.state, ZTM_MASS_EXECUTED);
	assert_int_equal(out.devices, 2);
	for (k = 0; k < 3; k++) {
		CHECK(ztm_store_device_get(f->s, rows[k].serial, &d, E),
		      rows[k].in ? ZTM_OK : ZTM_E_NOTFOUND);
		if (rows[k].in)
			assert_int_equal(d.state, ZTM_DEVICE_REVOKED);
	}
	ztm_record_row_free(&r);
}

static void test_devices(void **state)
{
	struct fx *f = *state;
	struct ztm_record_row r;
	struct ztm_device_row d, got;
	int64_t rec = 0, id = 0;
	int repeat;

	ztm_record_row_init(&r);
	record_fill(&r, f, "SN-0001", SPKI_1);
	CHECK(ztm_store_record_add(f->s, &r, &rec, &repeat, E), ZTM_OK);
	ztm_record_row_free(&r);

	memset(&d, 0, sizeof(d));
	ztm_strlcpy(d.serial, "SN-0001", sizeof(d.serial));
	d.product_id = f->product;
	d.record_id = rec;
	d.state = ZTM_DEVICE_MANUFACTURED;
	CHECK(ztm_store_device_add(f->s, &d, &id, E), ZTM_OK);
	CHECK(ztm_store_device_add(f->s, &d, &id, E), ZTM_E_EXISTS);
	ztm_strlcpy(d.serial, "SN-0002", sizeof(d.serial));
	d.record_id = 999;
	CHECK(ztm_store_device_add(f->s, &d, &id, E), ZTM_E_NOTFOUND);
	d.record_id = rec;
	d.state = ZTM_DEVICE_STATE_COUNT;
	CHECK(ztm_store_device_add(f->s, &d, &id, E), ZTM_E_USAGE);

	CHECK(ztm_store_device_get(f->s, "SN-0001", &got, E), ZTM_OK);
	assert_int_equal(got.state, ZTM_DEVICE_MANUFACTURED);
	assert_string_equal(got.cert_serial, "");
	CHECK(
	    ztm_store_device_set_state(f->s, "SN-0001", ZTM_DEVICE_PROVISIONED, "4a01", SPKI_2, E),
	    ZTM_OK);
	CHECK(ztm_store_device_set_state(f->s, "SN-0001", ZTM_DEVICE_ACTIVE, NULL, NULL, E),
	      ZTM_OK);
	CHECK(ztm_store_device_get(f->s, "SN-0001", &got, E), ZTM_OK);
	assert_int_equal(got.state, ZTM_DEVICE_ACTIVE);
	assert_string_equal(got.cert_serial, "4a01");
	assert_string_equal(got.key_spki_sha256, SPKI_2);
	assert_string_equal(ztm_device_state_name(got.state), "active");
	CHECK(ztm_store_device_set_state(f->s, "SN-0404", ZTM_DEVICE_ACTIVE, NULL, NULL, E),
	      ZTM_E_NOTFOUND);
	CHECK(ztm_store_device_set_state(f->s, "SN-0001", ZTM_DEVICE_ACTIVE, "XYZ", NULL, E),
	      ZTM_E_USAGE);
	CHECK(ztm_store_device_get(f->s, "SN-0404", &got, E), ZTM_E_NOTFOUND);

	/* The device behind a device certificate, and whether that
	 * certificate is revoked (authz.c refuses a revoked one). */
	{
		static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
		struct ztm_cert_row c;
		int revoked = -1, changed = 0;

		ztm_cert_row_init(&c);
		row_fill(&c, "4a01", "");
		c.owner_id = id;
		CHECK(ztm_store_cert_reserve(f->s, &c, E), ZTM_OK);
		CHECK(ztm_store_device_by_cert(f->s, "4a01", &got, &revoked, E), ZTM_E_NOTFOUND);
		CHECK(ztm_store_cert_issue(f->s, "4a01", der, sizeof(der), E), ZTM_OK);
		CHECK(ztm_store_device_by_cert(f->s, "4a01", &got, &revoked, E), ZTM_OK);
		assert_string_equal(got.serial, "SN-0001");
		assert_int_equal(got.id, id);
		assert_int_equal(revoked, 0);
		CHECK(ztm_store_cert_revoke(f->s, "4a01", ZTM_REASON_KEY_COMPROMISE, 1700000000,
		                            "test", &changed, E),
		      ZTM_OK);
		assert_int_equal(changed, 1);
		CHECK(ztm_store_device_by_cert(f->s, "4a01", &got, &revoked, E), ZTM_OK);
		assert_int_equal(revoked, 1);
		ztm_cert_row_free(&c);
	}
}

static void test_firmware_and_alerts(void **state)
{
	struct fx *f = *state;
	int64_t n = -1;
	int yes = -1;

	CHECK(ztm_store_firmware_approved(f->s, f->product, HASH_A, &yes, E), ZTM_OK);
	assert_int_equal(yes, 0);
	CHECK(ztm_store_firmware_approve(f->s, f->product, HASH_A, E), ZTM_OK);
	CHECK(ztm_store_firmware_approve(f->s, f->product, HASH_A, E), ZTM_OK);
	CHECK(ztm_store_firmware_approved(f->s, f->product, HASH_A, &yes, E), ZTM_OK);
	assert_int_equal(yes, 1);
	CHECK(ztm_store_firmware_approved(f->s, f->product, HASH_B, &yes, E), ZTM_OK);
	assert_int_equal(yes, 0);
	CHECK(ztm_store_firmware_approve(f->s, 999, HASH_A, E), ZTM_E_NOTFOUND);
	CHECK(ztm_store_firmware_approve(f->s, f->product, "abc", E), ZTM_E_USAGE);

	CHECK(ztm_store_alert(f->s, "clone", "SN-0001", "key differs", E), ZTM_OK);
	CHECK(ztm_store_alert(f->s, "overbuild", "", "order wo-1", E), ZTM_OK);
	CHECK(ztm_store_alert(f->s, "clone", "SN-0002", "", E), ZTM_OK);
	CHECK(ztm_store_alert(f->s, "", "SN-0002", "", E), ZTM_E_USAGE);
	CHECK(ztm_store_alert_count(f->s, "clone", &n, E), ZTM_OK);
	assert_int_equal(n, 2);
	CHECK(ztm_store_alert_count(f->s, NULL, &n, E), ZTM_OK);
	assert_int_equal(n, 3);
	CHECK(ztm_store_alert_count(f->s, "replay", &n, E), ZTM_OK);
	assert_int_equal(n, 0);
	assert_int_not_equal(raw_exec(&f->t, "DELETE FROM alerts"), SQLITE_OK);
	assert_int_not_equal(raw_exec(&f->t, "UPDATE alerts SET kind = 'x'"), SQLITE_OK);
}

/* One registration as a group-commit job, as ztmd will run it. */
static int job_take(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	return ztm_store_order_take_registration(s, *(int64_t *)arg, (int64_t)time(NULL), err);
}

#define N_PROCS      8
#define QUOTA        100
#define TAKES        40 /* per process: 320 attempts for 100 slots */
#define JOBS_A_BATCH 4

/* A child: its own connection, TAKES registrations in batches. Writes the
 * number that succeeded to fd; exit status 0 unless a refusal was not the
 * quota's. */
static int child_drain(const char *url, int64_t order, int fd)
{
	struct ztm_store *s = NULL;
	struct ztm_store_job jobs[JOBS_A_BATCH];
	struct ztm_error err;
	int64_t ok = 0;
	int done, i, status = 0;

	if (ztm_store_open(url, &s, &err) != 0)
		return 2;
	for (done = 0; done < TAKES && status == 0; done += JOBS_A_BATCH) {
		memset(jobs, 0, sizeof(jobs));
		for (i = 0; i < JOBS_A_BATCH; i++) {
			jobs[i].fn = job_take;
			jobs[i].arg = &order;
		}
		if (ztm_store_run_batch(s, jobs, JOBS_A_BATCH, &err) != 0) {
			fprintf(stderr, "child batch: %s\n", ztm_error_msg(&err));
			status = 3;
		}
		for (i = 0; i < JOBS_A_BATCH && status == 0; i++) {
			if (jobs[i].rc == 0)
				ok++;
			else if (jobs[i].err.code != ZTM_E_POLICY)
				status = 4;
		}
	}
	ztm_store_close(s);
	if (write(fd, &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
		status = 5;
	return status;
}

static void test_processes_drain_quota(void **state)
{
	struct fx *f = *state;
	struct ztm_order_row o;
	pid_t pids[N_PROCS];
	int64_t id, sum = 0, got;
	int fds[2], i, status;

	order_fill(&o, "drain", f->product, f->factory, QUOTA);
	CHECK(ztm_store_order_add(f->s, &o, &id, E), ZTM_OK);
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < N_PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(fds[0]);
			_exit(child_drain(f->t.url, id, fds[1]));
		}
	}
	close(fds[1]);
	for (i = 0; i < N_PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (i = 0; i < N_PROCS; i++) {
		assert_int_equal(read(fds[0], &got, sizeof(got)), (ssize_t)sizeof(got));
		sum += got;
	}
	close(fds[0]);
	assert_int_equal(sum, QUOTA);
	CHECK(ztm_store_order_get(f->s, "drain", &o, E), ZTM_OK);
	assert_int_equal(o.registered, QUOTA);
	assert_int_equal(o.recorded, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_products, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_records_hashes_as_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_station_revoke_voids_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mass_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_firmware_and_alerts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_processes_drain_quota, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
