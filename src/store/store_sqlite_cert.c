/* store_sqlite_cert.c - certificates in the SQLite store: reserve -> issue,
 * lookups, and start-up recovery of reservations that never became
 * certificates (docs/store.md, "Certificates"). */
#include "store_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ztm/certder.h"
#include "ztm/str.h"

#define CERT_COLUMNS                                                                               \
	"serial, ca, profile, subject, state, idem_key, spki_sha256, owner_kind, "                 \
	"owner_id, not_before, not_after, created_at, der, crl_shard"

static const struct sq_query q_insert = {
    SQ_CERT_INSERT,
    "INSERT INTO certificates (serial, ca, profile, subject, state, idem_key, spki_sha256,"
    " owner_kind, owner_id, not_before, not_after, created_at, crl_shard)"
    " VALUES (?1, ?2, ?3, ?4, 'reserved', ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
    /* The shard follows the order of reservation: the number of rows
     * before this one over the shard size, so no shard ever holds more
     * than crl_shard_size certificates (docs/revocation.md). */
    "  CASE WHEN ?12 > 0 THEN (SELECT coalesce(max(rowid), 0) FROM certificates) / ?12"
    "  ELSE 0 END)"
    " RETURNING crl_shard"};
static const struct sq_query q_issue = {
    SQ_CERT_ISSUE, "UPDATE certificates SET state = 'issued', der = ?2, issued_at = ?3,"
                   " not_before = coalesce(?4, not_before), not_after = coalesce(?5, not_after)"
                   " WHERE serial = ?1 AND state = 'reserved'"};
static const struct sq_query q_state = {SQ_CERT_STATE,
                                        "SELECT state FROM certificates WHERE serial = ?1"};
static const struct sq_query q_get = {SQ_CERT_GET, "SELECT " CERT_COLUMNS
                                                   " FROM certificates WHERE serial = ?1"};
static const struct sq_query q_by_idem = {
    SQ_CERT_BY_IDEM, "SELECT " CERT_COLUMNS " FROM certificates WHERE idem_key = ?1"
                     " AND idem_key <> '' AND state <> 'abandoned'"};
static const struct sq_query q_recover = {SQ_CERT_RECOVER,
                                          "UPDATE certificates SET state = 'abandoned'"
                                          " WHERE state = 'reserved' AND created_at < ?1"};
static const struct sq_query q_abandon = {
    SQ_CERT_ABANDON,
    "UPDATE certificates SET state = 'abandoned' WHERE serial = ?1 AND state = 'reserved'"};
static const struct sq_query q_count = {SQ_CERT_COUNT,
                                        "SELECT count(*) FROM certificates WHERE state = ?1"};
static const struct sq_query q_each = {
    SQ_CERT_EACH, "SELECT " CERT_COLUMNS " FROM certificates WHERE state = ?1 ORDER BY serial"};

static const char *const state_names[] = {"reserved", "issued", "abandoned", "revoked"};
#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

static int state_parse(const unsigned char *t, enum ztm_cert_state *out)
{
	size_t i;

	for (i = 0; t != NULL && i < N_STATES; i++) {
		if (strcmp((const char *)t, state_names[i]) == 0) {
			*out = (enum ztm_cert_state)i;
			return 0;
		}
	}
	return -1;
}

static int state_check(enum ztm_cert_state state, struct ztm_error *err)
{
	if ((unsigned)state >= N_STATES)
		return ztm_error_set(err, ZTM_E_USAGE, "unknown certificate state %d", (int)state);
	return 0;
}

/* Fills out from a row of CERT_COLUMNS. */
static int read_row(sqlite3_stmt *st, struct ztm_cert_row *out, struct ztm_error *err)
{
	int bad = 0;
	const void *der;
	int n;

	bad |= sq_col_text(st, 0, out->serial, sizeof(out->serial));
	bad |= sq_col_text(st, 1, out->ca, sizeof(out->ca));
	bad |= sq_col_text(st, 2, out->profile, sizeof(out->profile));
	bad |= sq_col_text(st, 3, out->subject, sizeof(out->subject));
	bad |= state_parse(sqlite3_column_text(st, 4), &out->state);
	bad |= sq_col_text(st, 5, out->idem_key, sizeof(out->idem_key));
	bad |= sq_col_text(st, 6, out->spki_sha256, sizeof(out->spki_sha256));
	bad |= sq_col_text(st, 7, out->owner_kind, sizeof(out->owner_kind));
	out->owner_id = sqlite3_column_int64(st, 8);
	out->not_before = sqlite3_column_int64(st, 9);
	out->not_after = sqlite3_column_int64(st, 10);
	out->created_at = sqlite3_column_int64(st, 11);
	out->crl_shard = sqlite3_column_int64(st, 13);
	if (bad)
		return ztm_error_set(err, ZTM_E_STORE,
		                     "certificate row '%.40s' does not fit its fields",
		                     out->serial);
	der = sqlite3_column_blob(st, 12);
	n = sqlite3_column_bytes(st, 12);
	ztm_buf_reset(&out->der);
	if (n > 0 && ztm_buf_append(&out->der, der, (size_t)n) != 0)
		return ztm_error_set(err, ZTM_E_TOOBIG,
		                     "certificate '%s': %d DER bytes exceed the row buffer",
		                     out->serial, n);
	return 0;
}

int sq_cert_reserve(struct ztm_store *base, struct ztm_cert_row *row, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;
	int64_t created = row->created_at > 0 ? row->created_at : (int64_t)time(NULL);

	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_insert, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tttttttiiiii", row->serial, row->ca, row->profile, row->subject,
	             row->idem_key, row->spki_sha256, row->owner_kind, row->owner_id,
	             row->not_before, row->not_after, created, row->crl_shard_size);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row->crl_shard = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		/* Name what was taken: the caller retries with a new serial
		 * but answers a taken idempotency key with the old row. */
		if (sq_is_unique(rc) && strstr(sqlite3_errmsg(s->db), "idem_key") != NULL)
			ztm_error_set(err, ZTM_E_EXISTS, "idempotency key already used");
		else if (sq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "certificate serial %s already exists",
			              row->serial);
		else
			sq_fail(s, err, rc, "reserving certificate %s", row->serial);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_cert_issue(struct ztm_store *base, const char *serial, const uint8_t *der, size_t len,
                  struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_error ignore;
	sqlite3_stmt *st;
	int64_t nb, na;
	int own, rc, ret = -1, dated;

	if (store_check_serial(serial, err) != 0)
		return -1;
	if (der == NULL || len == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "certificate %s: no DER bytes to issue",
		                     serial);
	/* The row's validity is the certificate's own (a reservation may not
	 * know it yet: EST reserves before it signs). Bytes without a readable
	 * validity (tests) keep the reservation's. */
	dated = ztm_cert_der_validity(der, len, &nb, &na, &ignore) == 0;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_issue, err);
	if (st == NULL)
		goto out;
	rc = sq_bind(st, "tbi", serial, der, len, (int64_t)time(NULL));
	if (rc == SQLITE_OK && dated) /* else ?4 and ?5 stay NULL */
		rc = sqlite3_bind_int64(st, 4, nb) == SQLITE_OK ? sqlite3_bind_int64(st, 5, na)
		                                                : SQLITE_ERROR;
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "issuing certificate %s", serial);
		sq_reset(st);
		goto out;
	}
	sq_reset(st);
	if (sqlite3_changes(s->db) != 1) {
		/* Only the message needs the current state; the refusal stands
		 * whatever it is. */
		char state[16] = "absent";
		st = sq_stmt(s, &q_state, err);
		if (st == NULL)
			goto out;
		if (sq_bind(st, "t", serial) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
			sq_col_text(st, 0, state, sizeof(state));
		sq_reset(st);
		ztm_error_set(err, ZTM_E_CONFLICT, "certificate %s is %s, not reserved", serial,
		              state);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

/* One-row lookup by a text key. */
static int get_one(struct sq_store *s, const struct sq_query *q, const char *key, const char *what,
                   struct ztm_cert_row *out, struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, q, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = sq_bind(st, "t", key);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = read_row(st, out, err);
	else if (rc == SQLITE_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "no certificate with %s", what);
	else
		sq_fail(s, err, rc, "looking up certificate by %s", what);
	sq_reset(st);
	return ret;
}

int sq_cert_get(struct ztm_store *base, const char *serial, struct ztm_cert_row *out,
                struct ztm_error *err)
{
	char what[64];

	if (store_check_serial(serial, err) != 0)
		return -1;
	snprintf(what, sizeof(what), "serial %s", serial);
	return get_one(sq_of(base), &q_get, serial, what, out, err);
}

int sq_cert_by_idem(struct ztm_store *base, const char *idem_key, struct ztm_cert_row *out,
                    struct ztm_error *err)
{
	if (store_check_text("idempotency key", idem_key, ZTM_SHA256_HEX, 1, err) != 0)
		return -1;
	return get_one(sq_of(base), &q_by_idem, idem_key, "this idempotency key", out, err);
}

int sq_cert_recover(struct ztm_store *base, int64_t before, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, ret = -1;

	*n = 0;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_recover, err);
	if (st == NULL)
		goto out;
	if (sq_bind(st, "i", before) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "recovering reservations");
		goto out;
	}
	if (sq_step_done(s, st, err, "recovering reservations") != 0)
		goto out;
	*n = sqlite3_changes64(s->db);
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_cert_count(struct ztm_store *base, enum ztm_cert_state state, int64_t *n,
                  struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int rc;

	if (state_check(state, err) != 0)
		return -1;
	st = sq_stmt(s, &q_count, err);
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "t", state_names[state]);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "counting %s certificates", state_names[state]);
		sq_reset(st);
		return -1;
	}
	*n = sqlite3_column_int64(st, 0);
	sq_reset(st);
	return 0;
}

int sq_cert_each(struct ztm_store *base, enum ztm_cert_state state,
                 int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                 struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_cert_row row;
	sqlite3_stmt *st;
	int rc, ret = -1;

	if (state_check(state, err) != 0)
		return -1;
	st = sq_stmt(s, &q_each, err);
	if (st == NULL)
		return -1;
	ztm_cert_row_init(&row);
	rc = sq_bind(st, "t", state_names[state]);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_row(st, &row, err) != 0)
			goto out;
		if (fn(&row, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "listing %s certificates", state_names[state]);
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	ztm_cert_row_free(&row);
	return ret;
}

int sq_cert_abandon(struct ztm_store *base, const char *serial, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, ret = -1;

	if (store_check_text("serial", serial, ZTM_SERIAL_HEX_MAX, 1, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_abandon, err);
	if (st == NULL)
		goto out;
	if (sq_bind(st, "t", serial) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "abandoning a reservation");
		goto out;
	}
	if (sq_step_done(s, st, err, "abandoning a reservation") != 0)
		goto out;
	if (sqlite3_changes64(s->db) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT, "serial %s is not reserved", serial);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}
