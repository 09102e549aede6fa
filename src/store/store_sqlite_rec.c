/* store_sqlite_rec.c - what the factory line produces, in the SQLite store:
 * station record batches, records, devices, approved firmware and alerts
 * (docs/store.md, "Production model"). Records and alerts are append-only
 * (triggers refuse UPDATE and DELETE). */
#include "store_sqlite.h"

#include <string.h>
#include <time.h>

#define DETAIL_MAX 1024

static const struct sq_query q_batch_add = {
    SQ_BATCH_ADD, "INSERT INTO record_batches (station_id, hash, n_records, received_at)"
                  " VALUES (?1, ?2, ?3, ?4)"};
static const struct sq_query q_batch_by_hash = {SQ_BATCH_BY_HASH,
                                                "SELECT id FROM record_batches WHERE hash = ?1"};
static const struct sq_query q_record_add = {
    SQ_RECORD_ADD,
    "INSERT INTO records (batch_id, station_id, order_id, serial, spki_sha256, bootstrap_der,"
    " hw_rev, mac, fw_version, fw_sha256, test_result, key_origin, recorded_at, received_at,"
    " kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"};
static const struct sq_query q_record_by_spki = {
    SQ_RECORD_BY_SPKI,
    "SELECT id, batch_id, station_id, order_id, serial, spki_sha256, bootstrap_der, hw_rev, mac,"
    " fw_version, fw_sha256, test_result, key_origin, recorded_at, received_at, kind"
    " FROM records WHERE spki_sha256 = ?1"};
static const struct sq_query q_device_add = {
    SQ_DEVICE_ADD,
    "INSERT INTO devices (serial, product_id, record_id, state, key_spki_sha256, cert_serial,"
    " created_at, updated_at, registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)"};
#define DEVICE_COLS SQ_DEVICE_COLS
static const struct sq_query q_device_get = {SQ_DEVICE_GET, "SELECT " DEVICE_COLS
                                                            " FROM devices d WHERE d.serial = ?1"};
/* The device that owns a device-CA certificate (its current one or an
 * earlier one), with the certificate's state. */
static const struct sq_query q_device_by_cert = {
    SQ_DEVICE_BY_CERT, "SELECT " DEVICE_COLS ", c.state FROM certificates c"
                       " JOIN devices d ON d.id = c.owner_id"
                       " WHERE c.serial = ?1 AND c.ca = 'device' AND c.owner_kind = 'device'"
                       " AND c.state IN ('issued', 'revoked')"};
static const struct sq_query q_device_count = {SQ_DEVICE_COUNT,
                                               "SELECT count(*) FROM devices WHERE state = ?1"};
/* NULL for the certificate or key keeps the stored one. */
static const struct sq_query q_device_set_state = {
    SQ_DEVICE_SET_STATE,
    "UPDATE devices SET state = ?2, cert_serial = coalesce(?3, cert_serial),"
    " key_spki_sha256 = coalesce(?4, key_spki_sha256), updated_at = ?5 WHERE serial = ?1"};
static const struct sq_query q_fw_approve = {
    SQ_FIRMWARE_APPROVE,
    "INSERT OR IGNORE INTO fw_releases (product_id, version, security_version, size, sha256,"
    " channel, origin, submitted_by, submitted_at, signed_at, state) VALUES (?1,"
    " 'imported-' || substr(?2, 1, 16), 0, 0, ?2, 'production', 'imported', 'system:import', ?3,"
    " ?3, 'signed')"};
static const struct sq_query q_fw_approved = {SQ_FIRMWARE_APPROVED,
                                              "SELECT EXISTS (SELECT 1 FROM fw_releases"
                                              " WHERE product_id = ?1 AND sha256 = ?2"
                                              " AND state = 'signed')"};
static const struct sq_query q_alert_add = {
    SQ_ALERT_ADD, "INSERT INTO alerts (ts, kind, serial, detail) VALUES (?1, ?2, ?3, ?4)"};
static const struct sq_query q_alert_count = {SQ_ALERT_COUNT,
                                              "SELECT count(*) FROM alerts WHERE kind = ?1"};
static const struct sq_query q_alert_count_all = {SQ_ALERT_COUNT_ALL,
                                                  "SELECT count(*) FROM alerts"};

/* Reads the one integer of a single-row SELECT that is bound already. */
static int read_int(struct sq_store *s, sqlite3_stmt *st, int rc, int64_t *out, const char *what,
                    struct ztm_error *err)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			ztm_error_set(err, ZTM_E_NOTFOUND, "%s: not found", what);
		else
			sq_fail(s, err, rc, "%s", what);
		sq_reset(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sq_reset(st);
	return 0;
}

int sq_batch_add(struct ztm_store *base, int64_t station_id, const char *hash, int64_t n_records,
                 int64_t *id, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_sha256("batch hash", hash, 0, err) != 0)
		return -1;
	if (n_records < 0)
		return ztm_error_set(err, ZTM_E_USAGE, "batch: negative record count");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_batch_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "itii", station_id, hash, n_records, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(s->db);
		ret = 0;
	} else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "batch: station %lld not found",
		              (long long)station_id);
	} else if (sq_is_unique(rc)) {
		st = sq_stmt(s, &q_batch_by_hash, err);
		if (st != NULL &&
		    read_int(s, st, sq_bind(st, "t", hash), id, "looking up batch", err) == 0)
			ztm_error_set(err, ZTM_E_EXISTS, "batch %.16s... was uploaded before",
			              hash);
	} else {
		sq_fail(s, err, rc, "adding batch");
	}
out:
	return sq_wend(s, own, ret, err);
}

static int record_read(struct sq_store *s, sqlite3_stmt *st, int rc, const char *what,
                       struct ztm_record_row *out, struct ztm_error *err)
{
	struct ztm_buf der = out->bootstrap_der;
	const unsigned char *t;
	int bad = 0, ret = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no record of %s", what);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "looking up record of %s", what);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->bootstrap_der = der;
	ztm_buf_reset(&out->bootstrap_der);
	out->id = sqlite3_column_int64(st, 0);
	out->batch_id = sqlite3_column_int64(st, 1);
	out->station_id = sqlite3_column_int64(st, 2);
	out->order_id = sqlite3_column_int64(st, 3);
	bad |= sq_col_text(st, 4, out->serial, sizeof(out->serial));
	bad |= sq_col_hex(st, 5, out->spki_sha256, sizeof(out->spki_sha256));
	if (ztm_buf_append(&out->bootstrap_der, sqlite3_column_blob(st, 6),
	                   (size_t)sqlite3_column_bytes(st, 6)) != 0)
		bad = -1;
	bad |= sq_col_text(st, 7, out->hw_rev, sizeof(out->hw_rev));
	bad |= sq_col_text(st, 8, out->mac, sizeof(out->mac));
	bad |= sq_col_text(st, 9, out->fw_version, sizeof(out->fw_version));
	bad |= sq_col_hex(st, 10, out->fw_sha256, sizeof(out->fw_sha256));
	t = sqlite3_column_text(st, 11);
	out->test_result =
	    t != NULL && strcmp((const char *)t, "pass") == 0 ? ZTM_TEST_PASS : ZTM_TEST_FAIL;
	t = sqlite3_column_text(st, 12);
	out->key_origin = t != NULL && strcmp((const char *)t, "injected") == 0
	                      ? ZTM_KEY_ORIGIN_INJECTED
	                      : ZTM_KEY_ORIGIN_DEVICE;
	out->recorded_at = sqlite3_column_int64(st, 13);
	out->received_at = sqlite3_column_int64(st, 14);
	t = sqlite3_column_text(st, 15);
	out->kind = t != NULL && strcmp((const char *)t, "replacement") == 0
	                ? ZTM_RECORD_REPLACEMENT
	                : ZTM_RECORD_NEW;
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "record of %s: row does not fit its fields", what);
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

int sq_record_by_spki(struct ztm_store *base, const char *spki, struct ztm_record_row *out,
                      struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;

	if (store_check_sha256("bootstrap key hash", spki, 0, err) != 0)
		return -1;
	st = sq_stmt(s, &q_record_by_spki, err);
	if (st == NULL)
		return -1;
	return record_read(s, st, sq_bind(st, "x", spki), "that key", out, err);
}

/* The bootstrap key was recorded before: a repeat of the same record (same
 * station, same serial) or a second device with that key. */
static int record_dup(struct sq_store *s, const struct ztm_record_row *row, int64_t *id,
                      int *repeat, struct ztm_error *err)
{
	struct ztm_record_row old;
	int ret = -1;

	ztm_record_row_init(&old);
	if (sq_record_by_spki(&s->base, row->spki_sha256, &old, err) != 0)
		goto out;
	if (old.station_id != row->station_id || strcmp(old.serial, row->serial) != 0) {
		ztm_error_set(err, ZTM_E_EXISTS,
		              "record %s: bootstrap key already recorded for %s by station %lld",
		              row->serial, old.serial, (long long)old.station_id);
		goto out;
	}
	*id = old.id;
	*repeat = 1;
	ret = 0;
out:
	ztm_record_row_free(&old);
	return ret;
}

int sq_record_add(struct ztm_store *base, const struct ztm_record_row *row, int64_t *id,
                  int *repeat, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int own, rc, ret = -1;

	*repeat = 0;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_record_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "iiitxbtttxttiit", row->batch_id, row->station_id, row->order_id,
	             row->serial, row->spki_sha256, row->bootstrap_der.data, row->bootstrap_der.len,
	             row->hw_rev, row->mac, row->fw_version, row->fw_sha256,
	             row->test_result == ZTM_TEST_PASS ? "pass" : "fail",
	             row->key_origin == ZTM_KEY_ORIGIN_INJECTED ? "injected" : "device",
	             row->recorded_at, row->received_at > 0 ? row->received_at : now,
	             row->kind == ZTM_RECORD_REPLACEMENT ? "replacement" : "new");
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(s->db);
		ret = 0;
	} else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "record %s: batch, station or order not found",
		              row->serial);
	} else if (sq_is_unique(rc)) {
		ret = record_dup(s, row, id, repeat, err);
	} else {
		sq_fail(s, err, rc, "adding record %s", row->serial);
	}
out:
	return sq_wend(s, own, ret, err);
}

int sq_device_add(struct ztm_store *base, const struct ztm_device_row *row, int64_t *id,
                  struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_dev_serial(row->serial, err) != 0 ||
	    store_check_sha256("device key hash", row->key_spki_sha256, 1, err) != 0 ||
	    (row->cert_serial[0] != '\0' && store_check_serial(row->cert_serial, err) != 0))
		return -1;
	if ((unsigned)row->state >= ZTM_DEVICE_STATE_COUNT)
		return ztm_error_set(err, ZTM_E_USAGE, "device %s: unknown state", row->serial);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_device_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tiittti", row->serial, row->product_id, row->record_id,
	             ztm_device_state_name(row->state), row->key_spki_sha256, row->cert_serial,
	             (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(s->db);
		ret = 0;
	} else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "device %s: product or record not found",
		              row->serial);
	} else if (sq_is_unique(rc)) {
		ztm_error_set(err, ZTM_E_EXISTS, "device %s already exists", row->serial);
	} else {
		sq_fail(s, err, rc, "adding device %s", row->serial);
	}
out:
	return sq_wend(s, own, ret, err);
}

/* The columns of DEVICE_COLS into out. */
int sq_device_cols(sqlite3_stmt *st, struct ztm_device_row *out)
{
	int bad = 0;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	bad |= sq_col_text(st, 1, out->serial, sizeof(out->serial));
	out->product_id = sqlite3_column_int64(st, 2);
	out->record_id = sqlite3_column_int64(st, 3);
	bad |= ztm_device_state_parse((const char *)sqlite3_column_text(st, 4), &out->state);
	bad |= sq_col_text(st, 5, out->key_spki_sha256, sizeof(out->key_spki_sha256));
	bad |= sq_col_text(st, 6, out->cert_serial, sizeof(out->cert_serial));
	out->created_at = sqlite3_column_int64(st, 7);
	out->updated_at = sqlite3_column_int64(st, 8);
	out->owner_id = sqlite3_column_int64(st, 9);
	out->registered_at = sqlite3_column_int64(st, 10);
	bad |= sq_col_text(st, 11, out->ek_cert_sha256, sizeof(out->ek_cert_sha256));
	return bad;
}

/* One device row by the text key `what` through q; *cert_revoked (when not
 * NULL) from column 12, the certificate state after SQ_DEVICE_COLS. */
static int device_one(struct sq_store *s, const struct sq_query *q, const char *what,
                      const char *key, struct ztm_device_row *out, int *cert_revoked,
                      struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, q, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = sq_bind(st, "t", key);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "%s %s not found", what, key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "looking up %s %s", what, key);
		goto out;
	}
	if (sq_device_cols(st, out) != 0) {
		ztm_error_set(err, ZTM_E_STORE, "%s %s: row does not fit its fields", what, key);
		goto out;
	}
	if (cert_revoked != NULL) {
		const unsigned char *cs = sqlite3_column_text(st, 12);
		*cert_revoked = cs != NULL && strcmp((const char *)cs, "revoked") == 0;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

int sq_device_get(struct ztm_store *base, const char *serial, struct ztm_device_row *out,
                  struct ztm_error *err)
{
	if (store_check_dev_serial(serial, err) != 0)
		return -1;
	return device_one(sq_of(base), &q_device_get, "device", serial, out, NULL, err);
}

int sq_device_by_cert(struct ztm_store *base, const char *cert_serial, struct ztm_device_row *out,
                      int *cert_revoked, struct ztm_error *err)
{
	if (store_check_serial(cert_serial, err) != 0)
		return -1;
	return device_one(sq_of(base), &q_device_by_cert, "device certificate", cert_serial, out,
	                  cert_revoked, err);
}

int sq_device_count(struct ztm_store *base, enum ztm_device_state state, int64_t *n,
                    struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int rc, ret = -1;

	if ((unsigned)state >= ZTM_DEVICE_STATE_COUNT)
		return ztm_error_set(err, ZTM_E_USAGE, "unknown device state");
	st = sq_stmt(s, &q_device_count, err);
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "t", ztm_device_state_name(state));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		ret = 0;
	} else {
		sq_fail(s, err, rc, "counting devices");
	}
	sq_reset(st);
	return ret;
}

int sq_device_set_state(struct ztm_store *base, const char *serial, enum ztm_device_state state,
                        const char *cert_serial, const char *key_spki, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_dev_serial(serial, err) != 0 ||
	    (cert_serial != NULL && store_check_serial(cert_serial, err) != 0) ||
	    (key_spki != NULL && store_check_sha256("device key hash", key_spki, 0, err) != 0))
		return -1;
	if ((unsigned)state >= ZTM_DEVICE_STATE_COUNT)
		return ztm_error_set(err, ZTM_E_USAGE, "device %s: unknown state", serial);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_device_set_state, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tttti", serial, ztm_device_state_name(state), cert_serial, key_spki,
	             (int64_t)time(NULL));
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "setting state of device %s", serial);
		sq_reset(st);
		goto out;
	}
	if (sq_step_done(s, st, err, "setting device state") != 0)
		goto out;
	if (sqlite3_changes(s->db) != 1) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", serial);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_firmware_approve(struct ztm_store *base, int64_t product_id, const char *sha256,
                        struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_sha256("firmware hash", sha256, 0, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_fw_approve, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "iti", product_id, sha256, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE)
		ret = 0;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		ztm_error_set(err, ZTM_E_NOTFOUND, "product %lld not found", (long long)product_id);
	else
		sq_fail(s, err, rc, "approving firmware");
out:
	return sq_wend(s, own, ret, err);
}

int sq_firmware_approved(struct ztm_store *base, int64_t product_id, const char *sha256, int *yes,
                         struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int64_t v = 0;

	*yes = 0;
	if (store_check_sha256("firmware hash", sha256, 0, err) != 0)
		return -1;
	st = sq_stmt(s, &q_fw_approved, err);
	if (st == NULL || read_int(s, st, sq_bind(st, "it", product_id, sha256), &v,
	                           "checking firmware", err) != 0)
		return -1;
	*yes = v != 0;
	return 0;
}

int sq_alert(struct ztm_store *base, const char *kind, const char *serial, const char *detail,
             struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("alert kind", kind, 32, 1, err) != 0 ||
	    store_check_text("alert serial", serial, ZTM_DEV_SERIAL_MAX, 0, err) != 0 ||
	    store_check_text("alert detail", detail, DETAIL_MAX, 0, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_alert_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "ittt", (int64_t)time(NULL), kind, serial, detail);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "adding alert");
		sq_reset(st);
		goto out;
	}
	ret = sq_step_done(s, st, err, "adding alert");
out:
	return sq_wend(s, own, ret, err);
}

int sq_alert_count(struct ztm_store *base, const char *kind, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;

	if (kind != NULL && store_check_text("alert kind", kind, 32, 1, err) != 0)
		return -1;
	st = sq_stmt(s, kind != NULL ? &q_alert_count : &q_alert_count_all, err);
	if (st == NULL)
		return -1;
	return read_int(s, st, kind != NULL ? sq_bind(st, "t", kind) : SQLITE_OK, n,
	                "counting alerts", err);
}
