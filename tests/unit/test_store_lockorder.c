/* test_store_lockorder.c - concurrent revocations on one store (a SQLite
 * file, or PostgreSQL: pg/): the lock order of every revocation
 * (certificate rows by serial, then the revocation-log lock,
 * store_pg_revoke.c) and the second run of a replayable job that lost a
 * deadlock (store.c run_job). The PostgreSQL cases hold a lock on a raw
 * connection to set up the exact interleaving that used to deadlock. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_util.h"
#include "ztm/store.h"

/* The key of the revocation-log advisory lock (store_pg.c, PQ_LOCK_REVLOG). */
#define REVLOG_LOCK "SELECT pg_advisory_xact_lock(7959646003)"

/* Reserves and issues serial for device owner. */
static void put(struct ztm_store *s, const char *serial, int64_t owner)
{
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct ztm_cert_row row;

	ztm_cert_row_init(&row);
	row_fill(&row, serial, "");
	row.owner_id = owner;
	CHECK(ztm_store_cert_reserve(s, &row, E), ZTM_OK);
	CHECK(ztm_store_cert_issue(s, serial, der, sizeof(der), E), ZTM_OK);
	ztm_cert_row_free(&row);
}

static int revoked(struct ztm_store *s, const char *serial)
{
	struct ztm_cert_status_row st;

	CHECK(ztm_store_cert_status(s, "device", serial, &st, E), ZTM_OK);
	return st.status == ZTM_STATUS_REVOKED;
}

/* A raw connection for the PostgreSQL cases: one statement, its status. */
static int raw_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "raw: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* Waits (up to 10 s) until some session of the test database other than c
 * waits for a lock. */
static void wait_for_lock_wait(PGconn *c)
{
	int i;

	for (i = 0; i < 1000; i++) {
		PGresult *r =
		    PQexec(c, "SELECT count(*) FROM pg_stat_activity"
		              " WHERE datname = current_database()"
		              " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'");
		int n = PQresultStatus(r) == PGRES_TUPLES_OK
		            ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10)
		            : 0;
		PQclear(r);
		if (n > 0)
			return;
		usleep(10000);
	}
	fail_msg("the store's session never waited for the row lock");
}

/* --- an owner revocation against a single one ---------------------------- */

struct owner_call {
	struct ztm_store *s;
	int64_t owner, n;
	int rc;
	struct ztm_error err;
};

static void *owner_revoke_thread(void *arg)
{
	struct owner_call *c = arg;

	c->rc = ztm_store_owner_revoke(c->s, "device", c->owner, ZTM_REASON_CESSATION, 100, "alice",
	                               &c->n, &c->err);
	return NULL;
}

/* Revoking an owner's certificates A and B used to lock row A, take the log
 * lock, then wait for row B; a transaction that holds row B and then wants
 * the log lock (revoking B alone) deadlocked with it. Now the owner's rows
 * are all locked before the log lock: the second transaction gets the log
 * lock at once and both finish. */
static void test_owner_revoke_locks_rows_first(void **state)
{
	struct store_fx *f = *state;
	struct owner_call call = {.s = f->s, .owner = 7, .rc = -2};
	pthread_t th;
	PGconn *raw;

	if (!f->t.pg)
		skip(); /* SQLite: one writer at a time, no row locks */
	put(f->s, "7f30", 7);
	put(f->s, "7f31", 7);
	raw = PQconnectdb(f->t.conninfo);
	assert_int_equal(PQstatus(raw), CONNECTION_OK);
	/* Only this session checks for deadlocks soon: if there is one, it
	 * is the one to fail, and the test sees it. */
	assert_true(raw_ok(raw, "BEGIN"));
	assert_true(raw_ok(raw, "SET LOCAL deadlock_timeout = '200ms'"));
	assert_true(raw_ok(raw, "SELECT 1 FROM certificates WHERE serial = '7f31' FOR UPDATE"));
	assert_int_equal(pthread_create(&th, NULL, owner_revoke_thread, &call), 0);
	wait_for_lock_wait(raw);
	/* The owner revocation waits for row 7f31: it must not hold the log
	 * lock meanwhile. */
	assert_true(raw_ok(raw, REVLOG_LOCK));
	assert_true(raw_ok(raw, "COMMIT"));
	assert_int_equal(pthread_join(th, NULL), 0);
	if (call.rc != 0)
		fail_msg("owner revocation: %s", ztm_error_msg(&call.err));
	assert_int_equal(call.n, 2);
	assert_true(revoked(f->s, "7f30"));
	assert_true(revoked(f->s, "7f31"));
	PQfinish(raw);
}

/* --- a mass revocation against a single one ------------------------------ */

struct mass_call {
	struct ztm_store *s;
	int64_t id;
	int rc;
	struct ztm_mass_row out;
	struct ztm_error err;
};

static void *mass_thread(void *arg)
{
	struct mass_call *c = arg;

	c->rc = ztm_store_mass_decide(c->s, c->id, 1, "operator:omar", 7001, &c->out, &c->err);
	return NULL;
}

/* Two devices on one station, a certificate each (7f50, 7f51), a mass
 * revocation of the station's window: it used to revoke device A's
 * certificate (log lock held from then on) and then wait for device B's,
 * which a transaction held while wanting the log lock. Now the window's
 * devices and certificates are all locked first. */
static void test_mass_locks_window_first(void **state)
{
	struct store_fx *f = *state;
	static const char *const serials[] = {"SN-A", "SN-B"}, *const certs[] = {"7f50", "7f51"};
	struct ztm_product_row p;
	struct ztm_order_row o;
	struct ztm_record_row r;
	struct ztm_device_row d;
	struct ztm_mass_row m;
	struct mass_call call = {.s = f->s, .rc = -2};
	int64_t factory, product, station, order, batch, rec;
	int repeat, k;
	pthread_t th;
	PGconn *raw;

	if (!f->t.pg)
		skip(); /* SQLite: one writer at a time, no row locks */
	memset(&p, 0, sizeof(p));
	ztm_strlcpy(p.name, "sensor-v1", sizeof(p.name));
	ztm_strlcpy(p.device_class, "sensor", sizeof(p.device_class));
	ztm_strlcpy(p.hw_type_oid, "1.3.6.1.4.1.99999.1", sizeof(p.hw_type_oid));
	p.lifetime_days = 3650;
	p.key_kinds = 1u << 0;
	CHECK(ztm_store_factory_add(f->s, "plant-1", &factory, E), ZTM_OK);
	CHECK(ztm_store_product_add(f->s, &p, &product, E), ZTM_OK);
	CHECK(ztm_store_station_add(f->s, factory, "line-1", &station, E), ZTM_OK);
	memset(&o, 0, sizeof(o));
	ztm_strlcpy(o.name, "wo-1", sizeof(o.name));
	o.product_id = product;
	o.factory_id = factory;
	o.quota = 3;
	o.not_before = (int64_t)time(NULL) - 60;
	o.not_after = (int64_t)time(NULL) + 86400;
	CHECK(ztm_store_order_add(f->s, &o, &order, E), ZTM_OK);
	CHECK(ztm_store_batch_add(
	          f->s, station, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	          2, &batch, E),
	      ZTM_OK);
	ztm_record_row_init(&r);
	for (k = 0; k < 2; k++) {
		ztm_buf_reset(&r.bootstrap_der);
		ztm_buf_append_str(&r.bootstrap_der, "0\x82 not really a certificate");
		r.batch_id = batch;
		r.station_id = station;
		r.order_id = order;
		ztm_strlcpy(r.serial, serials[k], sizeof(r.serial));
		memset(r.spki_sha256, k == 0 ? '1' : '2', 64);
		r.spki_sha256[64] = '\0';
		ztm_strlcpy(r.hw_rev, "B2", sizeof(r.hw_rev));
		ztm_strlcpy(r.mac, "02:00:00:00:00:01", sizeof(r.mac));
		ztm_strlcpy(r.fw_version, "1.4.2", sizeof(r.fw_version));
		memset(r.fw_sha256, 'a', 64);
		r.fw_sha256[64] = '\0';
		r.test_result = ZTM_TEST_PASS;
		r.key_origin = ZTM_KEY_ORIGIN_DEVICE;
		r.recorded_at = r.received_at = 5500;
		CHECK(ztm_store_record_add(f->s, &r, &rec, &repeat, E), ZTM_OK);
		memset(&d, 0, sizeof(d));
		ztm_strlcpy(d.serial, serials[k], sizeof(d.serial));
		d.product_id = product;
		d.record_id = rec;
		d.state = ZTM_DEVICE_MANUFACTURED;
		CHECK(ztm_store_device_add(f->s, &d, &d.id, E), ZTM_OK);
		put(f->s, certs[k], d.id);
		CHECK(ztm_store_device_set_state(f->s, serials[k], ZTM_DEVICE_PROVISIONED, certs[k],
		                                 NULL, E),
		      ZTM_OK);
	}
	ztm_record_row_free(&r);
	memset(&m, 0, sizeof(m));
	m.selector = ZTM_MASS_STATION;
	m.target_id = station;
	ztm_strlcpy(m.target, "plant-1/line-1", sizeof(m.target));
	m.from = 5000;
	m.to = 6000;
	m.reason = ZTM_REASON_KEY_COMPROMISE;
	ztm_strlcpy(m.requested_by, "operator:sofia", sizeof(m.requested_by));
	m.requested_at = 7000;
	CHECK(ztm_store_mass_request(f->s, &m, E), ZTM_OK);
	assert_int_equal(m.preview, 2);

	raw = PQconnectdb(f->t.conninfo);
	assert_int_equal(PQstatus(raw), CONNECTION_OK);
	assert_true(raw_ok(raw, "BEGIN"));
	assert_true(raw_ok(raw, "SET LOCAL deadlock_timeout = '200ms'"));
	assert_true(raw_ok(raw, "SELECT 1 FROM certificates WHERE serial = '7f51' FOR UPDATE"));
	call.id = m.id;
	assert_int_equal(pthread_create(&th, NULL, mass_thread, &call), 0);
	wait_for_lock_wait(raw);
	assert_true(raw_ok(raw, REVLOG_LOCK));
	assert_true(raw_ok(raw, "COMMIT"));
	assert_int_equal(pthread_join(th, NULL), 0);
	if (call.rc != 0)
		fail_msg("mass revocation: %s", ztm_error_msg(&call.err));
	assert_int_equal(call.out.devices, 2);
	assert_int_equal(call.out.certificates, 2);
	assert_true(revoked(f->s, "7f50"));
	assert_true(revoked(f->s, "7f51"));
	PQfinish(raw);
}

/* --- two connections revoking overlapping sets in a loop ---------------- */

#define RACE_ROUNDS 12

struct race {
	struct ztm_store *s;
	int round;
	int rc;
	struct ztm_error err;
	pthread_barrier_t *go;
};

static void race_serial(char *out, size_t n, int round, int k)
{
	snprintf(out, n, "7e%02x%02x", round, k);
}

/* Owner 1000+round's three certificates at once. */
static void *race_owner(void *arg)
{
	struct race *r = arg;
	int64_t n = 0;

	pthread_barrier_wait(r->go);
	r->rc = ztm_store_owner_revoke(r->s, "device", 1000 + r->round, ZTM_REASON_CESSATION, 100,
	                               "alice", &n, &r->err);
	return NULL;
}

/* The same owner's last two, one call each, highest serial first. */
static void *race_single(void *arg)
{
	struct race *r = arg;
	char serial[16];
	int k;

	pthread_barrier_wait(r->go);
	for (k = 2; k >= 1 && r->rc == 0; k--) {
		race_serial(serial, sizeof(serial), r->round, k);
		r->rc = ztm_store_cert_revoke(r->s, serial, ZTM_REASON_KEY_COMPROMISE, 100, "bob",
		                              NULL, &r->err);
	}
	return NULL;
}

static void test_revoke_race(void **state)
{
	struct store_fx *f = *state;
	struct ztm_store *s2 = NULL;
	struct ztm_error err;
	pthread_barrier_t go;
	char serial[16];
	int round, k;

	assert_int_equal(ztm_store_open(f->t.url, &s2, &err), 0);
	for (round = 0; round < RACE_ROUNDS; round++)
		for (k = 0; k < 3; k++) {
			race_serial(serial, sizeof(serial), round, k);
			put(f->s, serial, 1000 + round);
		}
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (round = 0; round < RACE_ROUNDS; round++) {
		struct race a = {.s = f->s, .round = round, .go = &go};
		struct race b = {.s = s2, .round = round, .go = &go};
		pthread_t ta, tb;

		assert_int_equal(pthread_create(&ta, NULL, race_owner, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, race_single, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		if (a.rc != 0)
			fail_msg("round %d, owner revocation: %s", round, ztm_error_msg(&a.err));
		if (b.rc != 0)
			fail_msg("round %d, single revocations: %s", round, ztm_error_msg(&b.err));
		for (k = 0; k < 3; k++) {
			race_serial(serial, sizeof(serial), round, k);
			assert_true(revoked(f->s, serial));
		}
	}
	pthread_barrier_destroy(&go);
	/* Every revocation logged once, in order. */
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM revocation_log"), 3 * RACE_ROUNDS);
	ztm_store_close(s2);
}

/* --- a replayable job that lost a deadlock runs again -------------------- */

struct two_revokes {
	int runs;
};

/* Revokes 7f40 then 7f41, one call each: the order that can deadlock with
 * a transaction holding 7f41 and waiting for the log lock. */
static int job_two_revokes(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct two_revokes *t = arg;

	t->runs++; /* the test's own count; a real replayable job keeps none */
	if (ztm_store_cert_revoke(s, "7f40", ZTM_REASON_SUPERSEDED, 100, "system:rekey", NULL,
	                          err) != 0)
		return -1;
	return ztm_store_cert_revoke(s, "7f41", ZTM_REASON_SUPERSEDED, 100, "system:rekey", NULL,
	                             err);
}

struct batch_call {
	struct ztm_store *s;
	struct ztm_store_job job;
	int rc;
	struct ztm_error err;
};

static void *batch_thread(void *arg)
{
	struct batch_call *c = arg;

	c->rc = ztm_store_run_batch(c->s, &c->job, 1, &c->err);
	return NULL;
}

/* The job takes row 7f40 and the log lock, then waits for row 7f41, which
 * the raw session holds; the raw session then waits for the log lock. The
 * store's session detects the deadlock first (the raw session's
 * deadlock_timeout is long) and loses: its job is rolled back to its
 * savepoint, which lets the raw session through, and runs again. The
 * pipeline is off (ZTM_PG_PIPELINE=off) so that the job runs the plain way,
 * as in the second attempt of a batch whose pipelined part failed. */
static void test_job_retried_after_deadlock(void **state)
{
	struct store_fx *f = *state;
	struct ztm_store *s = NULL;
	struct ztm_error err;
	struct two_revokes t = {0};
	struct batch_call call = {.rc = -2};
	pthread_t th;
	PGconn *raw;
	PGresult *r;

	if (!f->t.pg)
		skip(); /* SQLite: one writer at a time, no deadlocks */
	put(f->s, "7f40", 9);
	put(f->s, "7f41", 9);
	setenv("ZTM_PG_PIPELINE", "off", 1);
	assert_int_equal(ztm_store_open(f->t.url, &s, &err), 0);
	unsetenv("ZTM_PG_PIPELINE");
	raw = PQconnectdb(f->t.conninfo);
	assert_int_equal(PQstatus(raw), CONNECTION_OK);
	assert_true(raw_ok(raw, "BEGIN"));
	assert_true(raw_ok(raw, "SET LOCAL deadlock_timeout = '60s'"));
	assert_true(raw_ok(raw, "SELECT 1 FROM certificates WHERE serial = '7f41' FOR UPDATE"));
	call.s = s;
	call.job = (struct ztm_store_job){.fn = job_two_revokes, .arg = &t, .replayable = 1};
	assert_int_equal(pthread_create(&th, NULL, batch_thread, &call), 0);
	wait_for_lock_wait(raw);
	/* Blocks until the store's session gives the log lock up. */
	assert_true(raw_ok(raw, REVLOG_LOCK));
	assert_true(raw_ok(raw, "COMMIT"));
	assert_int_equal(pthread_join(th, NULL), 0);
	if (call.rc != 0)
		fail_msg("batch: %s", ztm_error_msg(&call.err));
	if (call.job.rc != 0)
		fail_msg("job: %s", ztm_error_msg(&call.job.err));
	assert_int_equal(t.runs, 2);
	assert_true(revoked(f->s, "7f40"));
	assert_true(revoked(f->s, "7f41"));
	r = PQexec(raw, "SELECT count(*) FROM revocation_log");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "2"); /* the lost run left nothing */
	PQclear(r);
	PQfinish(raw);
	ztm_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_owner_revoke_locks_rows_first, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_mass_locks_window_first, store_fx_setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_revoke_race, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(test_job_retried_after_deadlock, store_fx_setup,
	                                    store_fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
