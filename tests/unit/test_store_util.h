/* test_store_util.h - helpers shared by the store tests: a fresh store per
 * test (a temporary directory for a real SQLite file, or, when
 * ZTM_TEST_PG_DIR names a server started by tests/pg/pg_start.sh, a fresh
 * PostgreSQL database on it), raw SQL on that store, and certificate rows to
 * reserve. The same test programs run as unit/test_store* (SQLite) and
 * pg/test_store* (PostgreSQL, tests/CMakeLists.txt). */
#ifndef ZTM_TEST_STORE_UTIL_H
#define ZTM_TEST_STORE_UTIL_H

#include <libpq-fe.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ztm/store.h"
#include "ztm/str.h"

struct tdir {
	char dir[64];
	char db[96];        /* dir/ztm.db, or the PostgreSQL database name */
	char url[320];      /* sqlite:dir/ztm.db or postgresql://... */
	char conninfo[320]; /* PostgreSQL: libpq keywords for raw connections */
	int pg;
};

/* The PostgreSQL server of the pg/ tests: its directory (ZTM_TEST_PG_DIR)
 * and port (written by pg_start.sh), or NULL when the tests run on SQLite.
 * A pg/ test whose server is missing exits 77: CTest reports it skipped. */
static inline const char *test_pg_dir(int *port)
{
	const char *dir = getenv("ZTM_TEST_PG_DIR");
	char p[300];
	FILE *f;

	if (dir == NULL || dir[0] == '\0')
		return NULL;
	snprintf(p, sizeof(p), "%s/port", dir);
	f = fopen(p, "r");
	if (f == NULL || fscanf(f, "%d", port) != 1) {
		fprintf(stderr, "SKIP: no PostgreSQL test server in %s (tests/pg/pg_start.sh)\n",
		        dir);
		exit(77);
	}
	fclose(f);
	return dir;
}

static inline int test_is_pg(void)
{
	const char *dir = getenv("ZTM_TEST_PG_DIR");
	return dir != NULL && dir[0] != '\0';
}

/* One statement on a raw connection to the server's maintenance database. */
static inline int pg_admin(const char *dir, int port, const char *sql)
{
	char ci[400];
	PGconn *c;
	PGresult *r;
	int rc = -1;

	snprintf(ci, sizeof(ci), "host=%s/sock port=%d user=postgres dbname=postgres", dir, port);
	c = PQconnectdb(ci);
	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
		if (rc != 0)
			fprintf(stderr, "pg_admin: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
	} else {
		fprintf(stderr, "pg_admin: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return rc;
}

static inline int tdir_make(struct tdir *t)
{
	static int n;
	const char *pgdir;
	int port = 0;
	char sql[160];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/ztm-store-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	pgdir = test_pg_dir(&port);
	if (pgdir != NULL) {
		t->pg = 1;
		snprintf(t->db, sizeof(t->db), "ztm_%d_%d", (int)getpid(), ++n);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", t->db);
		if (pg_admin(pgdir, port, sql) != 0)
			return -1;
		snprintf(t->url, sizeof(t->url), "postgresql://postgres@/%s?host=%s/sock&port=%d",
		         t->db, pgdir, port);
		snprintf(t->conninfo, sizeof(t->conninfo),
		         "host=%s/sock port=%d user=postgres dbname=%s", pgdir, port, t->db);
		return 0;
	}
	snprintf(t->db, sizeof(t->db), "%s/ztm.db", t->dir);
	snprintf(t->url, sizeof(t->url), "sqlite:%s", t->db);
	return 0;
}

static inline void tdir_remove(struct tdir *t)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[256];
	size_t i;

	if (t->pg) {
		const char *pgdir;
		int port = 0;
		pgdir = test_pg_dir(&port);
		snprintf(p, sizeof(p), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->db);
		(void)pg_admin(pgdir, port, p);
		rmdir(t->dir);
		return;
	}
	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->db, suffix[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

/* A test of SQLite-only behaviour (file modes, pragmas, upgrading old
 * files): skipped, loudly, on PostgreSQL. Needs cmocka. */
#define SQLITE_ONLY()                                                                              \
	do {                                                                                       \
		if (test_is_pg()) {                                                                \
			fprintf(stderr, "SKIP %s: SQLite only\n", __func__);                       \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* SQL of the SQLite tests in PostgreSQL's dialect: x'..' blob literals
 * become bytea, PRAGMAs go. The result is malloc'd. */
static inline char *pg_sql(const char *in)
{
	size_t i = 0, o = 0, n = strlen(in);
	char *out = malloc(4 * n + 16); /* x'' (3 bytes) becomes 11 */

	if (out == NULL)
		return NULL;
	while (i < n) {
		if (strncmp(in + i, "PRAGMA foreign_keys=OFF;", 24) == 0) {
			i += 24;
		} else if (in[i] == 'x' && in[i + 1] == '\'' && (i == 0 || in[i - 1] == ' ')) {
			const char *end = strchr(in + i + 2, '\'');
			size_t k = end != NULL ? (size_t)(end - (in + i + 2)) : 0;
			o += (size_t)snprintf(out + o, 4 * n + 16 - o, "'\\x%.*s'::bytea", (int)k,
			                      in + i + 2);
			i += k + 3;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
	return out;
}

/* Runs SQL on the store through a second, raw connection: how the tests
 * reach states the store API deliberately has no call for. Returns 0
 * (SQLITE_OK) when it ran, else non-zero. */
static inline int raw_exec(const struct tdir *t, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (t->pg) {
		PGconn *c = PQconnectdb(t->conninfo);
		char *q = pg_sql(sql);
		PGresult *r = PQexec(c, q);
		free(q);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
		         ? 0
		         : 1;
		PQclear(r);
		PQfinish(c);
		return rc;
	}
	rc = sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

/* Runs SQL as raw_exec and says whether the schema refused it: a CHECK,
 * UNIQUE, foreign key or trigger (SQLite: SQLITE_CONSTRAINT; PostgreSQL:
 * SQLSTATE class 23 or P0001, the triggers' refusals), not any other
 * failure such as a syntax error. */
static inline int raw_refused(const struct tdir *t, const char *sql)
{
	if (t->pg) {
		PGconn *c = PQconnectdb(t->conninfo);
		char *q = pg_sql(sql);
		PGresult *r = PQexec(c, q);
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		int refused =
		    state != NULL && (strncmp(state, "23", 2) == 0 || strcmp(state, "P0001") == 0);

		if (!refused)
			fprintf(stderr, "raw_refused: %s: %s\n", state != NULL ? state : "ok",
			        PQresultErrorMessage(r));
		free(q);
		PQclear(r);
		PQfinish(c);
		return refused;
	}
	return raw_exec(t, sql) == SQLITE_CONSTRAINT;
}

/* The fixture of the store tests that need nothing but an open store on
 * a fresh file: cmocka setup/teardown. */
struct store_fx {
	struct tdir t;
	struct ztm_store *s;
};

static inline int store_fx_setup(void **state)
{
	struct store_fx *f = calloc(1, sizeof(*f));
	struct ztm_error err;

	if (f == NULL || tdir_make(&f->t) != 0)
		return -1;
	if (ztm_store_open(f->t.url, &f->s, &err) != 0) {
		fprintf(stderr, "open: %s\n", ztm_error_msg(&err));
		return -1;
	}
	*state = f;
	return 0;
}

static inline int store_fx_teardown(void **state)
{
	struct store_fx *f = *state;

	ztm_store_close(f->s);
	tdir_remove(&f->t);
	free(f);
	return 0;
}

/* The newest schema version (src/store/migrations_sqlite.c). */
#define SCHEMA_LATEST 10

/* SQL taking a database from version N back to N - 1, for tests that
 * migrate an older file (with PRAGMA foreign_keys=OFF before them). Run
 * newest first, after raw_undo_10 (below): UNDO_9 UNDO_8 UNDO_7 UNDO_6 UNDO_5 UNDO_4 UNDO_3 gives
 * version 2. Migration 4's operators rebuild needs no undo: it copies from either shape. */
#define UNDO_9                                                                                     \
	"ALTER TABLE devices DROP COLUMN ek_cert_sha256;"                                          \
	"DELETE FROM schema_version WHERE version = 9;"
#define UNDO_8                                                                                     \
	"DROP TABLE attest_challenges; ALTER TABLE products DROP COLUMN key_storage;"              \
	"DELETE FROM schema_version WHERE version = 8;"
#define UNDO_7                                                                                     \
	"CREATE TABLE approved_firmware (product_id INTEGER NOT NULL REFERENCES products (id),"    \
	" sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"     \
	" added_at INTEGER NOT NULL, PRIMARY KEY (product_id, sha256)) WITHOUT ROWID;"             \
	"INSERT INTO approved_firmware SELECT product_id, sha256, submitted_at FROM fw_releases"   \
	" WHERE origin = 'imported';"                                                              \
	"DROP TABLE fw_releases; DROP TABLE fw_signers;"                                           \
	"DELETE FROM schema_version WHERE version = 7;"
#define UNDO_6                                                                                     \
	"DROP TABLE crls; DROP TABLE mass_revocations; DROP INDEX certificates_ca_shard;"          \
	"DROP INDEX records_station_time; DROP INDEX records_order_time;"                          \
	"DROP INDEX revocations_crl;"                                                              \
	"CREATE INDEX revocations_shard ON revocations (ca, crl_shard, serial);"                   \
	"DELETE FROM schema_version WHERE version = 6;"
#define UNDO_5                                                                                     \
	"ALTER TABLE products DROP COLUMN renew_window_days;"                                      \
	"ALTER TABLE products DROP COLUMN renew_grace_days;"                                       \
	"ALTER TABLE records DROP COLUMN kind; ALTER TABLE devices DROP COLUMN registered_at;"     \
	"DELETE FROM schema_version WHERE version = 5;"
#define UNDO_4                                                                                     \
	"DROP TABLE vouchers; DROP INDEX devices_owner;"                                           \
	"ALTER TABLE devices DROP COLUMN owner_id; DROP TABLE owners;"                             \
	"DELETE FROM schema_version WHERE version = 4;"
#define UNDO_3                                                                                     \
	"DROP TABLE revocation_log; DROP TABLE revocations; DROP INDEX certificates_owner;"        \
	"ALTER TABLE certificates DROP COLUMN crl_shard;"                                          \
	"DELETE FROM schema_version WHERE version = 3;"

/* Migration 10 undone differs by backend (SQLite rebuilds records,
 * PostgreSQL alters the two columns), so it runs on its own, before the
 * UNDO_ strings: raw_undo_10. */
#define UNDO_10_SQLITE                                                                             \
	"PRAGMA foreign_keys=OFF;"                                                                 \
	"CREATE TABLE records_v9 (id INTEGER PRIMARY KEY,"                                         \
	" batch_id INTEGER NOT NULL REFERENCES record_batches (id),"                               \
	" station_id INTEGER NOT NULL REFERENCES stations (id),"                                   \
	" order_id INTEGER NOT NULL REFERENCES work_orders (id),"                                  \
	" serial TEXT NOT NULL CHECK (length(serial) BETWEEN 1 AND 64),"                           \
	" spki_sha256 TEXT NOT NULL UNIQUE"                                                        \
	"  CHECK (length(spki_sha256) = 64 AND spki_sha256 NOT GLOB '*[^0-9a-f]*'),"               \
	" bootstrap_der BLOB NOT NULL CHECK (length(bootstrap_der) BETWEEN 1 AND 16384),"          \
	" hw_rev TEXT NOT NULL, mac TEXT NOT NULL, fw_version TEXT NOT NULL,"                      \
	" fw_sha256 TEXT NOT NULL CHECK (fw_sha256 = '' OR (length(fw_sha256) = 64"                \
	"  AND fw_sha256 NOT GLOB '*[^0-9a-f]*')),"                                                \
	" test_result TEXT NOT NULL CHECK (test_result IN ('pass', 'fail')),"                      \
	" key_origin TEXT NOT NULL CHECK (key_origin IN ('device', 'injected')),"                  \
	" recorded_at INTEGER NOT NULL, received_at INTEGER NOT NULL,"                             \
	" kind TEXT NOT NULL DEFAULT 'new' CHECK (kind IN ('new', 'replacement')));"               \
	"INSERT INTO records_v9 SELECT id, batch_id, station_id, order_id, serial,"                \
	" lower(hex(spki_sha256)), bootstrap_der, hw_rev, mac, fw_version, lower(hex(fw_sha256))," \
	" test_result, key_origin, recorded_at, received_at, kind FROM records;"                   \
	"DROP TABLE records; ALTER TABLE records_v9 RENAME TO records;"                            \
	"CREATE INDEX records_serial ON records (serial);"                                         \
	"CREATE INDEX records_station_time ON records (station_id, recorded_at);"                  \
	"CREATE INDEX records_order_time ON records (order_id, recorded_at);"                      \
	"CREATE TRIGGER records_no_update BEFORE UPDATE ON records"                                \
	" BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;"                                \
	"CREATE TRIGGER records_no_delete BEFORE DELETE ON records"                                \
	" BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;"                                \
	"DELETE FROM schema_version WHERE version = 10;"
#define UNDO_10_PG                                                                                 \
	"ALTER TABLE records DROP CONSTRAINT records_spki_sha256_check,"                           \
	" DROP CONSTRAINT records_fw_sha256_check,"                                                \
	" ALTER COLUMN spki_sha256 TYPE TEXT USING encode(spki_sha256, 'hex'),"                    \
	" ALTER COLUMN fw_sha256 TYPE TEXT USING encode(fw_sha256, 'hex'),"                        \
	" ADD CONSTRAINT records_spki_sha256_check"                                                \
	"  CHECK (length(spki_sha256) = 64 AND spki_sha256 !~ '[^0-9a-f]'),"                       \
	" ADD CONSTRAINT records_fw_sha256_check CHECK (fw_sha256 = ''"                            \
	"  OR (length(fw_sha256) = 64 AND fw_sha256 !~ '[^0-9a-f]'));"                             \
	"DELETE FROM schema_version WHERE version = 10;"

static inline int raw_undo_10(const struct tdir *t)
{
	return raw_exec(t, t->pg ? UNDO_10_PG : UNDO_10_SQLITE);
}

/* The integer result of a one-value query on a raw connection, or -1. */
static inline long long raw_int(const struct tdir *t, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (t->pg) {
		PGconn *c = PQconnectdb(t->conninfo);
		char *q = pg_sql(sql);
		PGresult *r = PQexec(c, q);
		free(q);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
		    !PQgetisnull(r, 0, 0)) {
			const char *s = PQgetvalue(r, 0, 0);
			v = strcmp(s, "t") == 0   ? 1
			    : strcmp(s, "f") == 0 ? 0
			                          : strtoll(s, NULL, 10);
		}
		PQclear(r);
		PQfinish(c);
		return v;
	}
	if (sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A reservation row with the given serial and idempotency key. */
static inline void row_fill(struct ztm_cert_row *row, const char *serial, const char *idem)
{
	ztm_strlcpy(row->serial, serial, sizeof(row->serial));
	ztm_strlcpy(row->ca, "device", sizeof(row->ca));
	ztm_strlcpy(row->profile, "idevid", sizeof(row->profile));
	ztm_strlcpy(row->subject, "serialNumber=SN-1,O=Acme", sizeof(row->subject));
	ztm_strlcpy(row->idem_key, idem, sizeof(row->idem_key));
	ztm_strlcpy(row->spki_sha256,
	            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
	            sizeof(row->spki_sha256));
	ztm_strlcpy(row->owner_kind, "device", sizeof(row->owner_kind));
	row->owner_id = 7;
	row->not_before = 1700000000;
	row->not_after = 1900000000;
}

/* A random 16-octet serial (positive: top bit clear) in hex. */
static inline int random_hex(char *out, size_t n_octets)
{
	uint8_t b[32];

	if (n_octets > sizeof(b) || RAND_bytes(b, (int)n_octets) != 1)
		return -1;
	b[0] &= 0x7f;
	b[0] |= 0x40;
	ztm_hex(b, n_octets, out);
	return 0;
}

/* Asserts a store call's rc and, on failure, its error code (needs cmocka):
 * CHECK(ztm_store_x(..., E), ZTM_OK) or CHECK(..., ZTM_E_EXISTS). */
#define CHECK(call, want)                                                                          \
	do {                                                                                       \
		struct ztm_error e_;                                                               \
		ztm_error_clear(&e_);                                                              \
		int rc_ = (call);                                                                  \
		if ((want) == ZTM_OK && rc_ != 0)                                                  \
			fail_msg("%s: %s", #call, ztm_error_msg(&e_));                             \
		if ((want) != ZTM_OK) {                                                            \
			assert_int_equal(rc_, -1);                                                 \
			if (e_.code != (want))                                                     \
				fail_msg("%s: want %s, got %s", #call, ztm_err_name(want),         \
				         ztm_error_msg(&e_));                                      \
		}                                                                                  \
	} while (0)
#define E (&e_)

#endif
