/* test_store_fw.c - firmware signers and releases in the store, SQLite and
 * PostgreSQL (migration 7): the two-person rule, UNIQUE versions, the security-version
 * floor and the channel binding hold through the API with a clear error
 * and in the schema itself (raw SQL is refused too); vetting sees exactly
 * the signed, unrevoked releases; the old approved_firmware rows migrate;
 * two nodes cannot both pass the security-version floor. */
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

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CMS    ((const uint8_t *)"cms")
#define MAN    ((const uint8_t *)"manifest")

struct fx {
	struct tdir t;
	struct ztm_store *s;
	int64_t product, prod_signer, test_signer;
};

static int64_t add_signer(struct fx *f, int channel, const char *serial)
{
	struct ztm_fw_signer_row *row = calloc(1, sizeof(*row));
	struct ztm_cert_row c;
	struct ztm_error e;
	int64_t id;

	ztm_cert_row_init(&c);
	row_fill(&c, serial, "");
	assert_int_equal(ztm_store_cert_reserve(f->s, &c, &e), 0);
	ztm_cert_row_free(&c);
	row->product_id = f->product;
	row->channel = channel;
	snprintf(row->key_uri, sizeof(row->key_uri), "file:/k/%s.key", serial);
	ztm_strlcpy(row->cert_serial, serial, sizeof(row->cert_serial));
	memcpy(row->cert_der, "0\x03\x02\x01\x00", 5);
	row->cert_len = 5;
	ztm_strlcpy(row->created_by, "operator:admin", sizeof(row->created_by));
	row->created_at = 1700000000;
	if (ztm_store_fw_signer_add(f->s, row, &e) != 0) {
		free(row);
		return -(int64_t)e.code;
	}
	id = row->id;
	free(row);
	return id;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ztm_product_row p;
	struct ztm_error e;

	if (f == NULL || tdir_make(&f->t) != 0 || ztm_store_open(f->t.url, &f->s, &e) != 0)
		return -1;
	memset(&p, 0, sizeof(p));
	ztm_strlcpy(p.name, "sensor-v2", sizeof(p.name));
	ztm_strlcpy(p.device_class, "sensor", sizeof(p.device_class));
	p.lifetime_days = 3650;
	p.key_kinds = 1;
	p.require_fw_hash = 1;
	ztm_strlcpy(p.hw_type_oid, "1.3.6.1.4.1.99999.1", sizeof(p.hw_type_oid));
	if (ztm_store_product_add(f->s, &p, &f->product, &e) != 0)
		return -1;
	f->prod_signer = add_signer(f, 0, "01aa");
	f->test_signer = add_signer(f, 1, "01bb");
	*state = f;
	return f->prod_signer > 0 && f->test_signer > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ztm_store_close(f->s);
	tdir_remove(&f->t);
	free(f);
	return 0;
}

static int64_t submit(struct fx *f, const char *version, int64_t svn, int channel, const char *sha,
                      struct ztm_error *e)
{
	struct ztm_fw_release_row r;

	memset(&r, 0, sizeof(r));
	r.product_id = f->product;
	ztm_strlcpy(r.version, version, sizeof(r.version));
	r.security_version = svn;
	r.size = 4096;
	ztm_strlcpy(r.sha256, sha, sizeof(r.sha256));
	r.channel = channel;
	ztm_strlcpy(r.submitted_by, "operator:alice", sizeof(r.submitted_by));
	r.submitted_at = 1700000000;
	if (ztm_store_fw_release_add(f->s, &r, e) != 0)
		return -1;
	return r.id;
}

static int sign(struct fx *f, int64_t id, int64_t signer, const char *approver, struct ztm_error *e)
{
	return ztm_store_fw_release_sign(f->s, id, signer, approver, 1700000100, CMS, 3, MAN, 8, e);
}

static void test_one_active_signer(void **state)
{
	struct fx *f = *state;
	struct ztm_fw_signer_row *row = malloc(sizeof(*row));
	struct ztm_error e;

	assert_int_equal(add_signer(f, 1, "01cc"), -(int64_t)ZTM_E_EXISTS);
	assert_int_equal(ztm_store_fw_signer_active(f->s, f->product, 1, row, &e), 0);
	assert_int_equal(row->id, f->test_signer);
	assert_int_equal(row->cert_len, 5);
	free(row);
}

static void test_two_person(void **state)
{
	struct fx *f = *state;
	struct ztm_fw_release_row r;
	struct ztm_error e;
	int64_t id = submit(f, "1.0", 1, 0, HASH_A, &e);
	char sql[256];

	assert_true(id > 0);
	/* No approval, or the submitter's own: refused, still pending. */
	assert_int_equal(sign(f, id, f->prod_signer, NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_DENIED);
	assert_int_equal(sign(f, id, f->prod_signer, "operator:alice", &e), -1);
	assert_int_equal(e.code, ZTM_E_DENIED);
	/* A test key never signs production, through the API ... */
	assert_int_equal(sign(f, id, f->test_signer, "operator:bob", &e), -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_int_equal(ztm_store_fw_release_get(f->s, id, &r, &e), 0);
	assert_int_equal(r.state, ZTM_FW_PENDING);
	/* ... nor through raw SQL: CHECK and trigger. */
	snprintf(sql, sizeof(sql),
	         "UPDATE fw_releases SET approved_by = 'operator:alice' WHERE id = %lld",
	         (long long)id);
	assert_true(raw_refused(&f->t, sql));
	snprintf(sql, sizeof(sql),
	         "UPDATE fw_releases SET signer_id = %lld, signed_at = 5, state = 'signed',"
	         " approved_by = 'operator:bob', cms = x'01', manifest = x'01' WHERE id = %lld",
	         (long long)f->test_signer, (long long)id);
	assert_true(raw_refused(&f->t, sql));
	snprintf(sql, sizeof(sql),
	         "UPDATE fw_releases SET signer_id = %lld, signed_at = 5, state = 'signed',"
	         " cms = x'01', manifest = x'01' WHERE id = %lld",
	         (long long)f->prod_signer, (long long)id);
	assert_true(raw_refused(&f->t, sql));
	/* A second person: signed, and then immutable. */
	assert_int_equal(sign(f, id, f->prod_signer, "operator:bob", &e), 0);
	assert_int_equal(ztm_store_fw_release_get(f->s, id, &r, &e), 0);
	assert_int_equal(r.state, ZTM_FW_SIGNED);
	assert_string_equal(r.approved_by, "operator:bob");
	assert_int_equal(r.signer_id, f->prod_signer);
	assert_int_equal(sign(f, id, f->prod_signer, "operator:bob", &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFLICT);
	snprintf(sql, sizeof(sql), "UPDATE fw_releases SET cms = x'02' WHERE id = %lld",
	         (long long)id);
	assert_true(raw_refused(&f->t, sql));
	/* A test release is signed without approval, by the test key only. */
	id = submit(f, "1.1-dev", 1, 1, HASH_B, &e);
	assert_true(id > 0);
	assert_int_equal(sign(f, id, f->prod_signer, NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_int_equal(sign(f, id, f->test_signer, NULL, &e), 0);
}

static void test_unique_and_svn(void **state)
{
	struct fx *f = *state;
	struct ztm_error e;
	int64_t floor, id = submit(f, "2.0", 5, 0, HASH_A, &e);
	char sql[300];

	assert_true(id > 0);
	assert_int_equal(submit(f, "2.0", 6, 0, HASH_B, &e), -1);
	assert_int_equal(e.code, ZTM_E_EXISTS);
	assert_int_equal(sign(f, id, f->prod_signer, "operator:bob", &e), 0);
	assert_int_equal(ztm_store_fw_svn_floor(f->s, f->product, &floor, &e), 0);
	assert_int_equal(floor, 5);
	/* Below the floor: refused with a reason, in either channel. */
	assert_int_equal(submit(f, "1.9", 4, 0, HASH_B, &e), -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_non_null(strstr(e.msg, "security_version 4 is below 5"));
	assert_int_equal(submit(f, "1.9-dev", 4, 1, HASH_B, &e), -1);
	assert_true(submit(f, "2.1", 5, 0, HASH_B, &e) > 0);
	/* And by the schema. */
	snprintf(sql, sizeof(sql),
	         "INSERT INTO fw_releases (product_id, version, security_version, size, sha256,"
	         " channel, submitted_by, submitted_at) VALUES (%lld, 'x', 1, 1, '%s', 'test',"
	         " 'operator:x', 1)",
	         (long long)f->product, HASH_A);
	assert_true(raw_refused(&f->t, sql));
	/* A revoked release still holds the floor (devices may run it). */
	assert_int_equal(
	    ztm_store_fw_release_revoke(f->s, id, "operator:sec", "CVE", 1700000200, &e), 0);
	assert_int_equal(ztm_store_fw_svn_floor(f->s, f->product, &floor, &e), 0);
	assert_int_equal(floor, 5);
}

static void test_vetting_and_revoke(void **state)
{
	struct fx *f = *state;
	struct ztm_fw_release_row r;
	struct ztm_buf cms, man;
	struct ztm_error e;
	int yes = 1;
	int64_t id = submit(f, "3.0", 0, 1, HASH_B, &e);

	ztm_buf_init(&cms, 0);
	ztm_buf_init(&man, 0);
	assert_true(id > 0);
	assert_int_equal(ztm_store_firmware_approved(f->s, f->product, HASH_B, &yes, &e), 0);
	assert_int_equal(yes, 0); /* pending is not approved */
	assert_int_equal(ztm_store_fw_release_blobs(f->s, id, &cms, &man, &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFLICT);
	assert_int_equal(sign(f, id, f->test_signer, NULL, &e), 0);
	assert_int_equal(ztm_store_firmware_approved(f->s, f->product, HASH_B, &yes, &e), 0);
	assert_int_equal(yes, 1);
	assert_int_equal(ztm_store_fw_release_blobs(f->s, id, &cms, &man, &e), 0);
	assert_int_equal(cms.len, 3);
	assert_memory_equal(man.data, "manifest", 8);
	assert_int_equal(ztm_store_fw_release_revoke(f->s, id, "operator:sec", "", 1700000200, &e),
	                 -1);
	assert_int_equal(
	    ztm_store_fw_release_revoke(f->s, id, "operator:sec", "bad build", 1700000200, &e), 0);
	assert_int_equal(ztm_store_firmware_approved(f->s, f->product, HASH_B, &yes, &e), 0);
	assert_int_equal(yes, 0);
	assert_int_equal(ztm_store_fw_release_get(f->s, id, &r, &e), 0);
	assert_int_equal(r.state, ZTM_FW_REVOKED);
	assert_string_equal(r.revoke_reason, "bad build");
	assert_int_equal(
	    ztm_store_fw_release_revoke(f->s, id, "operator:sec", "again", 1700000300, &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFLICT);
	ztm_buf_free(&cms);
	ztm_buf_free(&man);
}

static void test_retire(void **state)
{
	struct fx *f = *state;
	struct ztm_error e;
	int64_t id = submit(f, "4.0-dev", 0, 1, HASH_A, &e);

	assert_int_equal(ztm_store_fw_signer_retire(f->s, f->test_signer, 1700000300, &e), 0);
	assert_int_equal(ztm_store_fw_signer_retire(f->s, f->test_signer, 1700000300, &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFLICT);
	/* A retired key signs nothing more; a new one may be created. */
	assert_int_equal(sign(f, id, f->test_signer, NULL, &e), -1);
	assert_int_equal(e.code, ZTM_E_POLICY);
	assert_true(add_signer(f, 1, "01dd") > 0);
}

/* Migration 7 moves the old allow-list into imported releases. */
static void test_migrate_imported(void **state)
{
	struct fx *f = *state;
	struct ztm_error e;
	char sql[1024];
	int yes = 0;
	int v;

	ztm_store_close(f->s);
	f->s = NULL;
	assert_int_equal(raw_undo_10(&f->t), 0);
	if (f->t.pg)
		snprintf(
		    sql, sizeof(sql),
		    "ALTER TABLE devices DROP COLUMN ek_cert_sha256;"
		    " DELETE FROM schema_version WHERE version = 9;"
		    " DROP TABLE attest_challenges; ALTER TABLE products DROP COLUMN key_storage;"
		    " DELETE FROM schema_version WHERE version = 8;"
		    " DROP TABLE fw_releases; DROP TABLE fw_signers;"
		    " DROP FUNCTION ztm_fw_signer_check(); DROP FUNCTION ztm_fw_svn_check();"
		    " CREATE TABLE approved_firmware (product_id BIGINT NOT NULL,"
		    " sha256 TEXT NOT NULL, added_at BIGINT NOT NULL,"
		    " PRIMARY KEY (product_id, sha256));"
		    " INSERT INTO approved_firmware VALUES (%lld, '%s', 1600000000);"
		    " DELETE FROM schema_version WHERE version = 7;",
		    (long long)f->product, HASH_A);
	else
		snprintf(
		    sql, sizeof(sql),
		    "PRAGMA foreign_keys=OFF; DELETE FROM fw_releases WHERE 0;" UNDO_9 UNDO_8
		    " DROP TABLE fw_releases; DROP TABLE fw_signers;"
		    " CREATE TABLE approved_firmware (product_id INTEGER NOT NULL, sha256 TEXT NOT "
		    "NULL,"
		    " added_at INTEGER NOT NULL, PRIMARY KEY (product_id, sha256)) WITHOUT ROWID;"
		    " INSERT INTO approved_firmware VALUES (%lld, '%s', 1600000000);"
		    " DELETE FROM schema_version WHERE version = 7;",
		    (long long)f->product, HASH_A);
	assert_int_equal(raw_exec(&f->t, sql), 0);
	assert_int_equal(ztm_store_open(f->t.url, &f->s, &e), 0);
	assert_int_equal(ztm_store_schema_version(f->s, &v, &e), 0);
	assert_int_equal(v, SCHEMA_LATEST);
	assert_int_equal(ztm_store_firmware_approved(f->s, f->product, HASH_A, &yes, &e), 0);
	assert_int_equal(yes, 1);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM fw_releases WHERE origin = 'imported'"
	                                " AND version = 'imported-aaaaaaaaaaaaaaaa'"),
	                 1);
	/* The import call is idempotent. */
	assert_int_equal(ztm_store_firmware_approve(f->s, f->product, HASH_A, &e), 0);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM fw_releases"), 1);
}

/* Two nodes at once: node a signs a production release with security
 * version 5 in an open transaction; node b submits version 3 meanwhile. b
 * must wait for a and then be refused, not read the old floor (0) and get
 * in below the new one. SQLite's write lock orders them; on PostgreSQL the
 * product row lock (docs/store.md, "Concurrent writers"). */
static void test_concurrent_floor(void **state)
{
	struct fx *f = *state;
	struct timespec pause = {0, 300 * 1000 * 1000L};
	int wstatus = 0, ready[2], go[2];
	struct ztm_error e;
	int64_t id = submit(f, "5.0", 5, 0, HASH_A, &e);
	char c = 0;
	pid_t pid;

	assert_true(id > 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ztm_fw_release_row r;
		struct ztm_store *b = NULL;
		struct ztm_error err;

		if (ztm_store_open(f->t.url, &b, &err) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(5);
		memset(&r, 0, sizeof(r));
		r.product_id = f->product;
		ztm_strlcpy(r.version, "3.0", sizeof(r.version));
		r.security_version = 3;
		r.size = 4096;
		ztm_strlcpy(r.sha256, HASH_B, sizeof(r.sha256));
		r.channel = 0;
		ztm_strlcpy(r.submitted_by, "operator:carol", sizeof(r.submitted_by));
		r.submitted_at = 1700000000;
		if (ztm_store_fw_release_add(b, &r, &err) == 0)
			_exit(3);
		fprintf(stderr, "node-b: %s\n", ztm_error_msg(&err));
		ztm_store_close(b);
		_exit(err.code == ZTM_E_POLICY ? 0 : 4);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(ztm_store_begin(f->s, &e), 0);
	assert_int_equal(sign(f, id, f->prod_signer, "operator:bob", &e), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	nanosleep(&pause, NULL); /* node b is waiting for our lock now */
	assert_int_equal(ztm_store_commit(f->s, &e), 0);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	assert_int_equal(raw_int(&f->t, "SELECT count(*) FROM fw_releases WHERE version = '3.0'"),
	                 0);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_active_signer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_person, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique_and_svn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vetting_and_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_imported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_floor, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
