/* store_sqlite_code.c - one-time enrollment codes and the audit trail in the
 * SQLite store (docs/store.md).
 *
 * Only the SHA-256 of a code reaches this file; messages never include it
 * either (a short code could be found again from its hash). */
#include "store_sqlite.h"

#include <string.h>
#include <time.h>

#include "ztm/str.h"

#define AUDIT_TEXT_MAX   1024 /* actor, action, object, outcome */
#define AUDIT_DETAIL_MAX 4096

static const struct sq_query q_code_subject = {
    SQ_CODE_SUBJECT, "SELECT CASE ?1 WHEN 'station'"
                     " THEN EXISTS (SELECT 1 FROM stations WHERE id = ?2)"
                     " ELSE EXISTS (SELECT 1 FROM operators WHERE id = ?2) END"};
static const struct sq_query q_code_add = {
    SQ_CODE_ADD, "INSERT INTO enroll_codes (hash, kind, subject_id, created_at, expires_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5)"};
/* The claim itself: one conditional UPDATE. Two processes claiming the same
 * code serialize on the write lock; the second finds used_at set and
 * changes nothing. */
static const struct sq_query q_code_claim = {
    SQ_CODE_CLAIM, "UPDATE enroll_codes SET used_at = ?3, used_spki = ?2"
                   " WHERE hash = ?1 AND used_at = 0 AND expires_at > ?3"};
static const struct sq_query q_code_get = {
    SQ_CODE_GET, "SELECT kind, subject_id, expires_at, used_at, used_spki, cert_serial"
                 " FROM enroll_codes WHERE hash = ?1"};
static const struct sq_query q_code_bind = {
    SQ_CODE_BIND, "UPDATE enroll_codes SET cert_serial = ?2 WHERE hash = ?1"
                  " AND used_at <> 0 AND (cert_serial = '' OR cert_serial = ?2)"};
static const struct sq_query q_audit_add = {
    SQ_AUDIT_ADD, "INSERT INTO audit (ts, actor, action, object, outcome, detail)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
static const struct sq_query q_audit_count = {SQ_AUDIT_COUNT, "SELECT count(*) FROM audit"};

static const char *kind_name(enum ztm_code_kind kind)
{
	switch (kind) {
	case ZTM_CODE_STATION:
		return "station";
	case ZTM_CODE_OPERATOR:
		return "operator";
	}
	return NULL;
}

int sq_code_add(struct ztm_store *base, const uint8_t hash[32], enum ztm_code_kind kind,
                int64_t subject_id, int64_t expires_at, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	const char *kname = kind_name(kind);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (hash == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "enrollment code hash missing");
	if (kname == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "unknown enrollment code kind %d",
		                     (int)kind);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	/* A code for nobody could never be claimed; say so now. */
	st = sq_stmt(s, &q_code_subject, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "ti", kname, subject_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "checking enrollment code subject");
		sq_reset(st);
		goto out;
	}
	rc = sqlite3_column_int(st, 0);
	sq_reset(st);
	if (rc == 0) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "enrollment code for %s %lld: no such %s", kname,
		              (long long)subject_id, kname);
		goto out;
	}
	st = sq_stmt(s, &q_code_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "htiii", hash, kname, subject_id, (int64_t)time(NULL), expires_at);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if (sq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "enrollment code already exists");
		else
			sq_fail(s, err, rc, "adding enrollment code");
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

/* Reads the code row; *found is 0 if there is none. */
static int code_get(struct sq_store *s, const uint8_t hash[32], struct ztm_code_row *out,
                    int *found, struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, &q_code_get, err);
	const unsigned char *kind;
	int rc, bad = 0, ret = -1;

	*found = 0;
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "h", hash);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = 0;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "reading enrollment code");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	kind = sqlite3_column_text(st, 0);
	out->kind = kind != NULL && strcmp((const char *)kind, "operator") == 0 ? ZTM_CODE_OPERATOR
	                                                                        : ZTM_CODE_STATION;
	out->subject_id = sqlite3_column_int64(st, 1);
	out->expires_at = sqlite3_column_int64(st, 2);
	out->used_at = sqlite3_column_int64(st, 3);
	bad |= sq_col_text(st, 4, out->used_spki, sizeof(out->used_spki));
	bad |= sq_col_text(st, 5, out->cert_serial, sizeof(out->cert_serial));
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "enrollment code row does not fit its fields");
		goto out;
	}
	*found = 1;
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

/* The retry rule (store.h): a code already used by the same key is a
 * success, so a device whose response was lost can ask again and learn
 * which certificate was issued (DESIGN I3). It holds after the code's
 * expiry too: the claim happened while it was valid. */
int sq_code_claim(struct ztm_store *base, const uint8_t hash[32], const char *spki, int64_t now,
                  struct ztm_code_row *out, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_code_row row;
	sqlite3_stmt *st;
	int own, found, rc, ret = -1;

	if (hash == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "enrollment code hash missing");
	if (store_check_text("key SPKI hash", spki, ZTM_SHA256_HEX, 1, err) != 0)
		return -1;
	if (now <= 0) /* used_at = 0 means unused */
		return ztm_error_set(err, ZTM_E_USAGE, "claim time %lld not positive",
		                     (long long)now);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_code_claim, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "hti", hash, spki, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "claiming enrollment code");
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	/* Whether claimed now or refused, the row says what to answer; read
	 * in the same transaction, it cannot have changed since. */
	if (code_get(s, hash, &row, &found, err) != 0)
		goto out;
	if (!found) {
		ztm_error_set(err, ZTM_E_AUTH, "unknown enrollment code");
		goto out;
	}
	if (row.used_at == 0) {
		ztm_error_set(err, ZTM_E_AUTH, "enrollment code expired");
		goto out;
	}
	if (strcmp(row.used_spki, spki) != 0) {
		ztm_error_set(err, ZTM_E_AUTH, "enrollment code already used by another key");
		goto out;
	}
	if (out != NULL)
		*out = row;
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_code_bind(struct ztm_store *base, const uint8_t hash[32], const char *serial,
                 struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_code_row row;
	sqlite3_stmt *st;
	int own, found, rc, ret = -1;

	if (hash == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "enrollment code hash missing");
	if (store_check_serial(serial, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_code_bind, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "ht", hash, serial);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "binding enrollment code to certificate %s", serial);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	if (sqlite3_changes(s->db) == 1) {
		ret = 0;
		goto out;
	}
	if (code_get(s, hash, &row, &found, err) != 0)
		goto out;
	if (!found)
		ztm_error_set(err, ZTM_E_NOTFOUND, "unknown enrollment code");
	else if (row.used_at == 0)
		ztm_error_set(err, ZTM_E_CONFLICT, "enrollment code not claimed yet");
	else
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "enrollment code already bound to certificate %s", row.cert_serial);
out:
	return sq_wend(s, own, ret, err);
}

int sq_audit(struct ztm_store *base, const char *actor, const char *action, const char *object,
             const char *outcome, const char *detail, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (object == NULL)
		object = "";
	if (detail == NULL)
		detail = "";
	if (store_check_text("audit actor", actor, AUDIT_TEXT_MAX, 1, err) != 0 ||
	    store_check_text("audit action", action, AUDIT_TEXT_MAX, 1, err) != 0 ||
	    store_check_text("audit object", object, AUDIT_TEXT_MAX, 0, err) != 0 ||
	    store_check_text("audit outcome", outcome, AUDIT_TEXT_MAX, 1, err) != 0 ||
	    store_check_text("audit detail", detail, AUDIT_DETAIL_MAX, 0, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_audit_add, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "ittttt", (int64_t)time(NULL), actor, action, object, outcome, detail);
	if (rc != SQLITE_OK) {
		sq_fail(s, err, rc, "appending audit entry");
		sq_reset(st);
		goto out;
	}
	ret = sq_step_done(s, st, err, "appending audit entry");
out:
	return sq_wend(s, own, ret, err);
}

int sq_audit_count(struct ztm_store *base, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_audit_count, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "counting audit entries");
		sq_reset(st);
		return -1;
	}
	*n = sqlite3_column_int64(st, 0);
	sq_reset(st);
	return 0;
}
