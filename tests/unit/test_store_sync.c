/* test_store_sync.c - ztm_store_sync_barrier: a transaction that only read
 * commits only once everything committed before it is as durable as its own
 * write would be. On PostgreSQL (pg/test_store_sync) the test starts its own
 * server (tests/pg/pg_start.sh: it changes a server-wide setting, which the
 * shared pg/ server must not see) and names a synchronous standby that does
 * not exist: a commit that waits for the standby then waits (wait_event
 * SyncRep) until the setting is taken back. Without the barrier a read-only
 * commit returns at once, and so would a reconciliation's reply, while the
 * commit it found may be on the primary alone. On SQLite the barrier is
 * nothing. */
#include <pthread.h>
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
#include "ztm/store.h"

struct own_pg {
	char dir[64];
	char conninfo[256];
	char url[320];
	int port;
};

static struct own_pg pg;

/* Starts a server of our own in a temporary directory; 0, or 77 when
 * PostgreSQL is not installed, or -1. */
static int own_pg_start(void)
{
	const char *src = getenv("ZTM_SRC");
	char cmd[512], p[128];
	FILE *f;
	int rc;

	snprintf(pg.dir, sizeof(pg.dir), "/tmp/ztm-sync-XXXXXX");
	if (src == NULL || mkdtemp(pg.dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "bash %s/tests/pg/pg_start.sh %s >/dev/null", src, pg.dir);
	rc = system(cmd);
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
		return WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? 77 : -1;
	snprintf(p, sizeof(p), "%s/port", pg.dir);
	f = fopen(p, "r");
	if (f == NULL || fscanf(f, "%d", &pg.port) != 1) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(pg.conninfo, sizeof(pg.conninfo),
	         "host=%s/sock port=%d user=postgres dbname=postgres", pg.dir, pg.port);
	snprintf(pg.url, sizeof(pg.url), "postgresql://postgres@/postgres?host=%s/sock&port=%d",
	         pg.dir, pg.port);
	return 0;
}

static void own_pg_stop(void)
{
	const char *src = getenv("ZTM_SRC");
	char cmd[512];

	if (pg.dir[0] == '\0' || src == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "bash %s/tests/pg/pg_stop.sh %s", src, pg.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg_stop failed for %s\n", pg.dir);
}

/* One statement on a fresh connection to our server; its first value. */
static int sql1(const char *sql, char *out, size_t n)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	if (ok && out != NULL)
		snprintf(out, n, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* Names (or, with NULL, stops naming) a synchronous standby, and waits
 * until a new session sees it. */
static void sync_standby(const char *name)
{
	char sql[160], got[64] = "?";
	int i;

	if (name != NULL)
		snprintf(sql, sizeof(sql), "ALTER SYSTEM SET synchronous_standby_names = '%s'",
		         name);
	else
		snprintf(sql, sizeof(sql), "ALTER SYSTEM RESET synchronous_standby_names");
	assert_int_equal(sql1(sql, NULL, 0), 0);
	assert_int_equal(sql1("SELECT pg_reload_conf()", NULL, 0), 0);
	for (i = 0; i < 500; i++) {
		assert_int_equal(sql1("SHOW synchronous_standby_names", got, sizeof(got)), 0);
		if (strcmp(got, name != NULL ? name : "") == 0)
			return;
		usleep(10000);
	}
	fail_msg("synchronous_standby_names stayed '%s'", got);
}

/* Whether a session waits for the standby (wait_event SyncRep), polling up
 * to ms milliseconds. */
static int syncrep_waiting(int ms)
{
	char n[16];
	int i;

	for (i = 0; i <= ms / 10; i++) {
		if (sql1("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", n,
		         sizeof(n)) == 0 &&
		    strtol(n, NULL, 10) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void put(struct ztm_store *s, const char *serial)
{
	static const uint8_t der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct ztm_cert_row row;

	ztm_cert_row_init(&row);
	row_fill(&row, serial, "");
	CHECK(ztm_store_cert_reserve(s, &row, E), ZTM_OK);
	CHECK(ztm_store_cert_issue(s, serial, der, sizeof(der), E), ZTM_OK);
	ztm_cert_row_free(&row);
}

/* A job that reads the certificate and, with barrier, calls the barrier:
 * what a reconciliation's lookup or a retry's claim does. */
struct lookup {
	struct ztm_store *s;
	int barrier, nosync;
	int rc, job_rc, done;
	struct ztm_error err;
};

static int job_lookup(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct lookup *l = arg;
	struct ztm_cert_row row;
	int rc;

	ztm_cert_row_init(&row);
	rc = ztm_store_cert_get(s, "7f60", &row, err);
	if (rc == 0 && row.state != ZTM_CERT_ISSUED)
		rc = ztm_error_set(err, ZTM_E_STORE, "7f60 is not issued");
	ztm_cert_row_free(&row);
	if (rc == 0 && l->barrier)
		rc = ztm_store_sync_barrier(s, err);
	return rc;
}

static void *lookup_thread(void *arg)
{
	struct lookup *l = arg;
	struct ztm_store_job job = {.fn = job_lookup, .arg = l};

	l->rc = l->nosync ? ztm_store_run_batch_nosync(l->s, &job, 1, &l->err)
	                  : ztm_store_run_batch(l->s, &job, 1, &l->err);
	l->job_rc = job.rc;
	if (job.rc != 0)
		l->err = job.err;
	__atomic_store_n(&l->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int wait_done(struct lookup *l, int ms)
{
	int i;

	for (i = 0; i <= ms / 10; i++) {
		if (__atomic_load_n(&l->done, __ATOMIC_SEQ_CST))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void test_sqlite_nothing(void **state)
{
	struct store_fx *f = *state;
	struct lookup l = {.s = f->s, .barrier = 1};

	if (f->t.pg)
		skip();
	put(f->s, "7f60");
	lookup_thread(&l);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.job_rc, 0);
}

/* Each row: a lookup with or without the barrier, in a durable batch or a
 * nosync one (the claim's); whether its commit must wait for the standby. */
static void test_pg_barrier_waits_for_standby(void **state)
{
	static const struct {
		int barrier, nosync, waits;
	} rows[] = {
	    {0, 0, 0}, /* read-only: commits at once (why the barrier exists) */
	    {1, 0, 1}, /* a reconciliation's lookup */
	    {1, 1, 1}, /* a retry's claim, in a nosync batch */
	};
	struct ztm_store *s = NULL;
	struct ztm_error err;
	size_t i;

	(void)state;
	if (!test_is_pg())
		skip();
	assert_int_equal(ztm_store_open(pg.url, &s, &err), 0);
	put(s, "7f60");
	sync_standby("ztm_ghost");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct lookup l = {.s = s, .barrier = rows[i].barrier, .nosync = rows[i].nosync};
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, lookup_thread, &l), 0);
		if (rows[i].waits) {
			if (!syncrep_waiting(3000))
				fail_msg("row %zu: the commit did not wait for the standby", i);
			assert_false(wait_done(&l, 200));
			sync_standby(NULL); /* no standby named: the wait ends */
		}
		if (!wait_done(&l, 10000))
			fail_msg("row %zu: the commit never returned", i);
		pthread_join(th, NULL);
		if (l.rc != 0 || l.job_rc != 0)
			fail_msg("row %zu: %s", i, ztm_error_msg(&l.err));
		if (rows[i].waits && i + 1 < sizeof(rows) / sizeof(rows[0]))
			sync_standby("ztm_ghost");
	}
	sync_standby(NULL);
	ztm_store_close(s);
}

/* Outside a transaction there is no commit to make wait: a usage error on
 * PostgreSQL. */
static void test_pg_barrier_needs_transaction(void **state)
{
	struct ztm_store *s = NULL;
	struct ztm_error err;

	(void)state;
	if (!test_is_pg())
		skip();
	assert_int_equal(ztm_store_open(pg.url, &s, &err), 0);
	CHECK(ztm_store_sync_barrier(s, E), ZTM_E_USAGE);
	ztm_store_close(s);
}

static int group_setup(void **state)
{
	int rc;

	(void)state;
	if (!test_is_pg())
		return 0;
	rc = own_pg_start();
	if (rc == 77) {
		fprintf(stderr, "SKIP: PostgreSQL is not installed\n");
		exit(77);
	}
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	own_pg_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sqlite_nothing, store_fx_setup, store_fx_teardown),
	    cmocka_unit_test(test_pg_barrier_waits_for_standby),
	    cmocka_unit_test(test_pg_barrier_needs_transaction),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
