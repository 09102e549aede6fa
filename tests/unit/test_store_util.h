/* test_store_util.h - helpers shared by the store tests: a temporary
 * directory for real SQLite files, and certificate rows to reserve. */
#ifndef ZTM_TEST_STORE_UTIL_H
#define ZTM_TEST_STORE_UTIL_H

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
	char db[96];   /* dir/ztm.db */
	char url[112]; /* sqlite:dir/ztm.db */
};

static inline int tdir_make(struct tdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/ztm-store-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->db, sizeof(t->db), "%s/ztm.db", t->dir);
	snprintf(t->url, sizeof(t->url), "sqlite:%s", t->db);
	return 0;
}

static inline void tdir_remove(struct tdir *t)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[128];
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->db, suffix[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

/* Runs SQL on the file through a second, raw connection: how the tests
 * reach states the store API deliberately has no call for. Returns the
 * SQLite result code. */
static inline int raw_exec(const struct tdir *t, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
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
#define SCHEMA_LATEST 7

/* SQL taking a database from version N back to N - 1, for tests that
 * migrate an older file (with PRAGMA foreign_keys=OFF before them). Run
 * newest first: UNDO_7 UNDO_6 UNDO_5 UNDO_4 UNDO_3 gives version 2. Migration 4's operators
 * rebuild needs no undo: it copies from either shape. */
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

/* The integer result of a one-value query on a raw connection, or -1. */
static inline long long raw_int(const struct tdir *t, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

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
