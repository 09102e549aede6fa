/* store_sqlite_owner.c - owners (the customers devices are handed to), their
 * operators, the ownership of devices and the record of signed vouchers in
 * the SQLite store (docs/store.md, migration 3). */
#include "store_sqlite.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ztm/str.h"

#define NAME_MAX_BYTES 128

static const struct sq_query q_owner_add = {
    SQ_OWNER_ADD, "INSERT INTO owners (name, anchor_der, anchor_sha256, created_at)"
                  " VALUES (?1, ?2, ?3, ?4)"};
#define OWNER_SELECT "SELECT id, name, anchor_der, anchor_sha256, created_at FROM owners "
static const struct sq_query q_owner_get = {SQ_OWNER_GET, OWNER_SELECT "WHERE name = ?1"};
static const struct sq_query q_owner_get_id = {SQ_OWNER_GET_ID, OWNER_SELECT "WHERE id = ?1"};
static const struct sq_query q_owner_each = {SQ_OWNER_EACH, OWNER_SELECT "ORDER BY name"};
/* The CHECK of migration 3 ties role 'owner' to a non-NULL owner_id. */
static const struct sq_query q_owner_operator_add = {
    SQ_OWNER_OPERATOR_ADD, "INSERT INTO operators (name, role, owner_id, created_at)"
                           " VALUES (?1, 'owner', ?2, ?3)"};
static const struct sq_query q_device_set_owner = {
    SQ_DEVICE_SET_OWNER, "UPDATE devices SET owner_id = ?2, updated_at = ?3 WHERE serial = ?1"};
/* ?1 = 0 lists every device; the partial index devices_owner serves the
 * other case. */
static const struct sq_query q_device_each = {
    SQ_DEVICE_EACH, "SELECT " SQ_DEVICE_COLS " FROM devices d"
                    " WHERE (?1 = 0 OR d.owner_id = ?1) AND d.id > ?2 ORDER BY d.id LIMIT ?3"};
static const struct sq_query q_voucher_add = {
    SQ_VOUCHER_ADD,
    /* A device's vouchers have strictly increasing created-on: the device
     * refuses one not newer than the one it holds (docs/vouchers.md). */
    "INSERT INTO vouchers (device_id, owner_id, created_on, expires_on, sha256, actor)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS"
    " (SELECT 1 FROM vouchers WHERE device_id = ?1 AND created_on >= ?3)"};
static const struct sq_query q_voucher_count = {
    SQ_VOUCHER_COUNT, "SELECT count(*) FROM vouchers WHERE device_id = ?1"};
static const struct sq_query q_voucher_count_all = {SQ_VOUCHER_COUNT_ALL,
                                                    "SELECT count(*) FROM vouchers"};

int sq_owner_add(struct ztm_store *base, const char *name, const uint8_t *der, size_t len,
                 int64_t *id, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	uint8_t md[32];
	char hex[ZTM_SHA256_HEX];
	unsigned mdlen = 0;
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("owner name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if (der == NULL || len == 0 || len > ZTM_ANCHOR_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "owner '%s': trust anchor of 1..%d bytes",
		                     name, ZTM_ANCHOR_MAX);
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the trust anchor");
	ztm_hex(md, sizeof(md), hex);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_owner_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tbti", name, der, len, hex, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if (sq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "owner '%s' already exists", name);
		else
			sq_fail(s, err, rc, "adding owner '%s'", name);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	*id = sqlite3_last_insert_rowid(s->db);
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

/* The current row of an owner SELECT into out. */
static int owner_cols(sqlite3_stmt *st, struct ztm_owner_row *out)
{
	const void *blob = sqlite3_column_blob(st, 2);
	int n = sqlite3_column_bytes(st, 2), bad = 0;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	bad |= sq_col_text(st, 1, out->name, sizeof(out->name));
	if (blob == NULL || n <= 0 || (size_t)n > sizeof(out->anchor_der))
		bad = 1;
	else
		memcpy(out->anchor_der, blob, (size_t)n);
	out->anchor_len = n > 0 ? (size_t)n : 0;
	bad |= sq_col_text(st, 3, out->anchor_sha256, sizeof(out->anchor_sha256));
	out->created_at = sqlite3_column_int64(st, 4);
	return bad;
}

static int owner_one(struct sq_store *s, sqlite3_stmt *st, int rc, const char *what,
                     struct ztm_owner_row *out, struct ztm_error *err)
{
	int ret = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "owner %s not found", what);
	else if (rc != SQLITE_ROW)
		sq_fail(s, err, rc, "looking up owner %s", what);
	else if (owner_cols(st, out) != 0)
		ztm_error_set(err, ZTM_E_STORE, "owner %s: row does not fit its fields", what);
	else
		ret = 0;
	sq_reset(st);
	return ret;
}

int sq_owner_get(struct ztm_store *base, const char *name, struct ztm_owner_row *out,
                 struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	char what[NAME_MAX_BYTES + 2];

	if (store_check_text("owner name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if ((st = sq_stmt(s, &q_owner_get, err)) == NULL)
		return -1;
	snprintf(what, sizeof(what), "'%s'", name);
	return owner_one(s, st, sq_bind(st, "t", name), what, out, err);
}

int sq_owner_get_id(struct ztm_store *base, int64_t id, struct ztm_owner_row *out,
                    struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_owner_get_id, err);
	char what[32];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return owner_one(s, st, sq_bind(st, "i", id), what, out, err);
}

int sq_owner_each(struct ztm_store *base, int (*fn)(const struct ztm_owner_row *row, void *arg),
                  void *arg, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_owner_each, err);
	struct ztm_owner_row row;
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (owner_cols(st, &row) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "owner row does not fit its fields");
			goto out;
		}
		if (fn(&row, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "listing owners");
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

int sq_owner_operator_add(struct ztm_store *base, const char *name, int64_t owner_id, int64_t *id,
                          struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("operator name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if (owner_id < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "operator '%s': no owner", name);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_owner_operator_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tii", name, owner_id, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if (sq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "operator '%s' already exists", name);
		else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			ztm_error_set(err, ZTM_E_NOTFOUND, "operator '%s': owner %lld not found",
			              name, (long long)owner_id);
		else
			sq_fail(s, err, rc, "adding operator '%s'", name);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	*id = sqlite3_last_insert_rowid(s->db);
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_device_set_owner(struct ztm_store *base, const char *serial, int64_t owner_id,
                        struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("device serial", serial, ZTM_DEV_SERIAL_MAX, 1, err) != 0)
		return -1;
	if (owner_id < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "device %s: no owner", serial);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_device_set_owner, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tii", serial, owner_id, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			ztm_error_set(err, ZTM_E_NOTFOUND, "device %s: owner %lld not found",
			              serial, (long long)owner_id);
		else
			sq_fail(s, err, rc, "setting the owner of device %s", serial);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	if (sqlite3_changes(s->db) != 1) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", serial);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_device_each(struct ztm_store *base, int64_t owner_id, int64_t after_id, int64_t limit,
                   int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                   struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_device_row row;
	sqlite3_stmt *st;
	int rc, ret = -1;

	if (owner_id < 0 || after_id < 0 || limit < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "device list: bad owner, cursor or limit");
	if ((st = sq_stmt(s, &q_device_each, err)) == NULL)
		return -1;
	rc = sq_bind(st, "iii", owner_id, after_id, limit);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "listing devices");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sq_device_cols(st, &row) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "device row does not fit its fields");
			goto out;
		}
		if (fn(&row, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "listing devices");
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

int sq_voucher_add(struct ztm_store *base, int64_t device_id, int64_t owner_id, int64_t created_on,
                   int64_t expires_on, const char *sha256, const char *actor, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("voucher hash", sha256, ZTM_SHA256_HEX, 1, err) != 0 ||
	    store_check_text("actor", actor, 256, 1, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_voucher_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "iiiitt", device_id, owner_id, created_on, expires_on, sha256, actor);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "recording a voucher");
		sq_reset(st);
		goto out;
	}
	if (sq_step_done(s, st, err, "recording a voucher") != 0)
		goto out;
	if (sqlite3_changes(s->db) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "device %lld already has a voucher created at or after %lld: a "
		              "device's vouchers must be newer each time (retry in a second)",
		              (long long)device_id, (long long)created_on);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_voucher_count(struct ztm_store *base, int64_t device_id, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st =
	    sq_stmt(s, device_id != 0 ? &q_voucher_count : &q_voucher_count_all, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = device_id != 0 ? sq_bind(st, "i", device_id) : SQLITE_OK;
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		ret = 0;
	} else {
		sq_fail(s, err, rc, "counting vouchers");
	}
	sq_reset(st);
	return ret;
}
