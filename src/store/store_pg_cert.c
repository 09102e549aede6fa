/* store_pg_cert.c - certificates in the PostgreSQL store: reserve -> issue,
 * lookups, and start-up recovery of reservations that never became
 * certificates (docs/store.md, "Certificates"). */
#include "store_pg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ztm/certder.h"
#include "ztm/str.h"

#define CERT_COLUMNS                                                                               \
	"serial, ca, profile, subject, state, idem_key, spki_sha256, owner_kind, "                 \
	"owner_id, not_before, not_after, created_at, der, crl_shard"

static const struct pq_query q_insert = {
    PQ_CERT_INSERT,
    "INSERT INTO certificates (serial, ca, profile, subject, state, idem_key, spki_sha256,"
    " owner_kind, owner_id, not_before, not_after, created_at, rowid, crl_shard)"
    " SELECT $1, $2, $3, $4, 'reserved', $5, $6, $7, $8, $9, $10, $11, n.r,"
    /* The shard follows the order of reservation: the row's own number
     * (from the sequence, so two nodes never share one) less one, over
     * the shard size, so no shard ever holds more than crl_shard_size
     * certificates (docs/revocation.md). A rolled-back reservation leaves
     * a gap: a shard may hold fewer, never more. */
    "  CASE WHEN $12::bigint > 0 THEN (n.r - 1) / $12::bigint ELSE 0 END"
    " FROM (SELECT nextval(pg_get_serial_sequence('certificates', 'rowid')) AS r) n"
    " RETURNING crl_shard",
    0};
static const struct pq_query q_issue = {
    PQ_CERT_ISSUE,
    "UPDATE certificates SET state = 'issued', der = $2, issued_at = $3,"
    " not_before = coalesce($4, not_before), not_after = coalesce($5, not_after)"
    " WHERE serial = $1 AND state = 'reserved'",
    0};
static const struct pq_query q_state = {PQ_CERT_STATE,
                                        "SELECT state FROM certificates WHERE serial = $1", 0};
static const struct pq_query q_get = {
    PQ_CERT_GET, "SELECT " CERT_COLUMNS " FROM certificates WHERE serial = $1", 0};
static const struct pq_query q_by_idem = {PQ_CERT_BY_IDEM,
                                          "SELECT " CERT_COLUMNS
                                          " FROM certificates WHERE idem_key = $1"
                                          " AND idem_key <> '' AND state <> 'abandoned'",
                                          0};
static const struct pq_query q_recover = {PQ_CERT_RECOVER,
                                          "UPDATE certificates SET state = 'abandoned'"
                                          " WHERE state = 'reserved' AND created_at < $1",
                                          0};
static const struct pq_query q_abandon = {
    PQ_CERT_ABANDON,
    "UPDATE certificates SET state = 'abandoned' WHERE serial = $1 AND state = 'reserved'", 0};
static const struct pq_query q_count = {PQ_CERT_COUNT,
                                        "SELECT count(*) FROM certificates WHERE state = $1", 0};
static const struct pq_query q_each = {
    PQ_CERT_EACH, "SELECT " CERT_COLUMNS " FROM certificates WHERE state = $1 ORDER BY serial", 0};

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
static int read_row(struct pq_stmt *st, struct ztm_cert_row *out, struct ztm_error *err)
{
	int bad = 0;
	const void *der;
	int n;

	bad |= pq_col_text(st, 0, out->serial, sizeof(out->serial));
	bad |= pq_col_text(st, 1, out->ca, sizeof(out->ca));
	bad |= pq_col_text(st, 2, out->profile, sizeof(out->profile));
	bad |= pq_col_text(st, 3, out->subject, sizeof(out->subject));
	bad |= state_parse(pq_col_textp(st, 4), &out->state);
	bad |= pq_col_text(st, 5, out->idem_key, sizeof(out->idem_key));
	bad |= pq_col_text(st, 6, out->spki_sha256, sizeof(out->spki_sha256));
	bad |= pq_col_text(st, 7, out->owner_kind, sizeof(out->owner_kind));
	out->owner_id = pq_col_int64(st, 8);
	out->not_before = pq_col_int64(st, 9);
	out->not_after = pq_col_int64(st, 10);
	out->created_at = pq_col_int64(st, 11);
	out->crl_shard = pq_col_int64(st, 13);
	if (bad)
		return ztm_error_set(err, ZTM_E_STORE,
		                     "certificate row '%.40s' does not fit its fields",
		                     out->serial);
	der = pq_col_blob(st, 12);
	n = pq_col_bytes(st, 12);
	ztm_buf_reset(&out->der);
	if (n > 0 && ztm_buf_append(&out->der, der, (size_t)n) != 0)
		return ztm_error_set(err, ZTM_E_TOOBIG,
		                     "certificate '%s': %d DER bytes exceed the row buffer",
		                     out->serial, n);
	return 0;
}

int pq_cert_reserve(struct ztm_store *base, struct ztm_cert_row *row, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;
	int64_t created = row->created_at > 0 ? row->created_at : (int64_t)time(NULL);

	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_insert, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tttttttiiiii", row->serial, row->ca, row->profile, row->subject,
	             row->idem_key, row->spki_sha256, row->owner_kind, row->owner_id,
	             row->not_before, row->not_after, created, row->crl_shard_size);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW) {
		row->crl_shard = pq_col_int64(st, 0);
		rc = pq_step(st);
	}
	if (rc != PQ_DONE) {
		/* Name what was taken: the caller retries with a new serial
		 * but answers a taken idempotency key with the old row. */
		if (pq_is_unique(rc) && strstr(pq_errmsg(s), "idem_key") != NULL)
			ztm_error_set(err, ZTM_E_EXISTS, "idempotency key already used");
		else if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "certificate serial %s already exists",
			              row->serial);
		else
			pq_fail(s, err, rc, "reserving certificate %s", row->serial);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_cert_issue(struct ztm_store *base, const char *serial, const uint8_t *der, size_t len,
                  struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct ztm_error ignore;
	struct pq_stmt *st;
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
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_issue, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tbi", serial, der, len, (int64_t)time(NULL));
	if (rc == PQ_OK && dated) /* else $4 and $5 stay NULL */
		rc = pq_bind_int64(st, 4, nb) == PQ_OK ? pq_bind_int64(st, 5, na) : PQ_E_ERROR;
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "issuing certificate %s", serial);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	if (pq_changes(s) != 1) {
		/* Only the message needs the current state; the refusal stands
		 * whatever it is. */
		char state[16] = "absent";
		st = pq_stmt(s, &q_state, err);
		if (st == NULL)
			goto out;
		if (pq_bind(st, "t", serial) == PQ_OK && pq_step(st) == PQ_ROW)
			pq_col_text(st, 0, state, sizeof(state));
		pq_reset(st);
		ztm_error_set(err, ZTM_E_CONFLICT, "certificate %s is %s, not reserved", serial,
		              state);
		goto out;
	}
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

/* One-row lookup by a text key. */
static int get_one(struct pq_store *s, const struct pq_query *q, const char *key, const char *what,
                   struct ztm_cert_row *out, struct ztm_error *err)
{
	struct pq_stmt *st = pq_stmt(s, q, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = pq_bind(st, "t", key);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW)
		ret = read_row(st, out, err);
	else if (rc == PQ_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "no certificate with %s", what);
	else
		pq_fail(s, err, rc, "looking up certificate by %s", what);
	pq_reset(st);
	return ret;
}

int pq_cert_get(struct ztm_store *base, const char *serial, struct ztm_cert_row *out,
                struct ztm_error *err)
{
	char what[64];

	if (store_check_serial(serial, err) != 0)
		return -1;
	snprintf(what, sizeof(what), "serial %s", serial);
	return get_one(pq_of(base), &q_get, serial, what, out, err);
}

int pq_cert_by_idem(struct ztm_store *base, const char *idem_key, struct ztm_cert_row *out,
                    struct ztm_error *err)
{
	if (store_check_text("idempotency key", idem_key, ZTM_SHA256_HEX, 1, err) != 0)
		return -1;
	return get_one(pq_of(base), &q_by_idem, idem_key, "this idempotency key", out, err);
}

int pq_cert_recover(struct ztm_store *base, int64_t before, int64_t *n, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, ret = -1;

	*n = 0;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_recover, err);
	if (st == NULL)
		goto out;
	if (pq_bind(st, "i", before) != PQ_OK) {
		pq_fail(s, err, PQ_E_MISUSE, "recovering reservations");
		goto out;
	}
	if (pq_step_done(s, st, err, "recovering reservations") != 0)
		goto out;
	*n = pq_changes(s);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_cert_count(struct ztm_store *base, enum ztm_cert_state state, int64_t *n,
                  struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int rc;

	if (state_check(state, err) != 0)
		return -1;
	st = pq_stmt(s, &q_count, err);
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "t", state_names[state]);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "counting %s certificates", state_names[state]);
		pq_reset(st);
		return -1;
	}
	*n = pq_col_int64(st, 0);
	pq_reset(st);
	return 0;
}

int pq_cert_each(struct ztm_store *base, enum ztm_cert_state state,
                 int (*fn)(const struct ztm_cert_row *row, void *arg), void *arg,
                 struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct ztm_cert_row row;
	struct pq_stmt *st;
	int rc, ret = -1;

	if (state_check(state, err) != 0)
		return -1;
	st = pq_stmt(s, &q_each, err);
	if (st == NULL)
		return -1;
	ztm_cert_row_init(&row);
	rc = pq_bind(st, "t", state_names[state]);
	while (rc == PQ_OK && (rc = pq_step(st)) == PQ_ROW) {
		if (read_row(st, &row, err) != 0)
			goto out;
		if (fn(&row, arg) != 0) {
			rc = PQ_DONE;
			break;
		}
		rc = PQ_OK;
	}
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "listing %s certificates", state_names[state]);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	ztm_cert_row_free(&row);
	return ret;
}

int pq_cert_abandon(struct ztm_store *base, const char *serial, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, ret = -1;

	if (store_check_text("serial", serial, ZTM_SERIAL_HEX_MAX, 1, err) != 0)
		return -1;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_abandon, err);
	if (st == NULL)
		goto out;
	if (pq_bind(st, "t", serial) != PQ_OK) {
		pq_fail(s, err, PQ_E_MISUSE, "abandoning a reservation");
		goto out;
	}
	if (pq_step_done(s, st, err, "abandoning a reservation") != 0)
		goto out;
	if (pq_changes(s) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT, "serial %s is not reserved", serial);
		goto out;
	}
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}
