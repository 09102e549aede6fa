/* store_sqlite_revoke.c - revocations in the SQLite store: the current
 * status per certificate (`revocations`), every change in the append-only
 * `revocation_log`, and the reads CRLs and OCSP are built from
 * (docs/revocation.md, docs/store.md "Revocation"). */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/str.h"

/* The certificate and its current revocation, if any. */
static const struct sq_query q_cert = {
    SQ_REV_CERT, "SELECT c.ca, c.crl_shard, c.state, r.reason, r.revoked_at"
                 " FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial"
                 " WHERE c.serial = ?1"};
static const struct sq_query q_log = {
    SQ_REV_LOG, "INSERT INTO revocation_log (ts, serial, ca, crl_shard, action, reason, actor)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
static const struct sq_query q_insert = {
    SQ_REV_INSERT, "INSERT INTO revocations (serial, ca, crl_shard, reason, revoked_at, seq)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
/* From a hold to a final reason; the hold's time stands. */
static const struct sq_query q_upgrade = {
    SQ_REV_UPGRADE,
    "UPDATE revocations SET reason = ?2, seq = ?3 WHERE serial = ?1 AND reason = 6"};
static const struct sq_query q_delete = {
    SQ_REV_DELETE, "DELETE FROM revocations WHERE serial = ?1 AND reason = 6"};
static const struct sq_query q_cert_state = {
    SQ_REV_CERT_STATE, "UPDATE certificates SET state = 'revoked'"
                       " WHERE serial = ?1 AND state IN ('reserved', 'issued')"};
/* A lifted hold: issued again, or, for a reservation that was held before
 * it was signed, abandoned (it can no longer be issued). */
static const struct sq_query q_cert_resume = {
    SQ_REV_CERT_RESUME,
    "UPDATE certificates SET state = CASE WHEN length(der) > 0 THEN 'issued' ELSE 'abandoned' END"
    " WHERE serial = ?1 AND state = 'revoked'"};
static const struct sq_query q_status = {
    SQ_REV_STATUS, "SELECT c.state, c.not_after, r.crl_shard, r.reason, r.revoked_at, r.seq"
                   " FROM certificates c LEFT JOIN revocations r ON r.serial = c.serial"
                   " WHERE c.serial = ?1 AND c.ca = ?2"};
static const struct sq_query q_seq = {SQ_REV_SEQ,
                                      "SELECT coalesce(max(seq), 0) FROM revocation_log"};
static const struct sq_query q_changes = {
    SQ_REV_CHANGES, "SELECT seq, ts, serial, ca, crl_shard, action, reason, actor"
                    " FROM revocation_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"};
static const struct sq_query q_each = {
    SQ_REV_EACH, "SELECT serial, ca, crl_shard, reason, revoked_at, seq FROM revocations"
                 " WHERE ca = ?1 AND crl_shard = ?2 ORDER BY serial"};

/* Every live certificate of one owner (index certificates_owner). */
static const struct sq_query q_owner = {
    SQ_REV_OWNER, "SELECT serial FROM certificates WHERE owner_kind = ?1 AND owner_id = ?2"
                  " AND state IN ('reserved', 'issued') AND serial <> ?3 ORDER BY serial"};

static const char *const action_names[] = {"revoke", "hold", "resume"};

/* The certificate as revoke and resume see it. */
struct cur {
	char ca[32];
	int64_t shard;
	char state[16];
	int revoked; /* a revocations row exists */
	int reason;
};

static int load(struct sq_store *s, const char *serial, struct cur *c, struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, &q_cert, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	rc = sq_bind(st, "t", serial);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sq_col_text(st, 0, c->ca, sizeof(c->ca)) != 0 ||
		    sq_col_text(st, 2, c->state, sizeof(c->state)) != 0) {
			ztm_error_set(err, ZTM_E_STORE,
			              "certificate row %s does not fit its fields", serial);
			goto out;
		}
		c->shard = sqlite3_column_int64(st, 1);
		c->revoked = sqlite3_column_type(st, 3) != SQLITE_NULL;
		c->reason = sqlite3_column_int(st, 3);
		if (strcmp(c->state, "abandoned") == 0) {
			ztm_error_set(err, ZTM_E_NOTFOUND,
			              "certificate %s was never issued (abandoned reservation)",
			              serial);
			goto out;
		}
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no certificate with serial %s", serial);
	} else {
		sq_fail(s, err, rc, "looking up certificate %s", serial);
	}
out:
	sq_reset(st);
	return ret;
}

/* Appends one change to the log and returns its sequence number. */
static int log_change(struct sq_store *s, const char *serial, const struct cur *c,
                      enum ztm_rev_action action, int reason, const char *actor, int64_t *seq,
                      struct ztm_error *err)
{
	sqlite3_stmt *st = sq_stmt(s, &q_log, err);

	store_rev_logged(&s->base); /* announced when the transaction ends */
	if (st == NULL)
		return -1;
	if (sq_bind(st, "ittitit", (int64_t)time(NULL), serial, c->ca, c->shard,
	            action_names[action], (int64_t)reason, actor) != SQLITE_OK)
		return sq_fail(s, err, SQLITE_MISUSE, "logging a revocation change");
	if (sq_step_done(s, st, err, "logging a revocation change") != 0)
		return -1;
	*seq = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int check_args(const char *serial, const char *actor, struct ztm_error *err)
{
	if (store_check_serial(serial, err) != 0 ||
	    store_check_text("revocation actor", actor, 128, 1, err) != 0)
		return -1;
	return 0;
}

/* Runs one single-statement write bound to serial (+ up to two ints). */
static int write_serial(struct sq_store *s, const struct sq_query *q, const char *fmt,
                        const char *serial, int64_t a, int64_t b, struct ztm_error *err,
                        const char *what)
{
	sqlite3_stmt *st = sq_stmt(s, q, err);
	int rc;

	if (st == NULL)
		return -1;
	if (fmt[1] == '\0')
		rc = sq_bind(st, fmt, serial);
	else if (fmt[2] == '\0')
		rc = sq_bind(st, fmt, serial, a);
	else
		rc = sq_bind(st, fmt, serial, a, b);
	if (rc != SQLITE_OK)
		return sq_fail(s, err, rc, "%s", what);
	return sq_step_done(s, st, err, what);
}

static int revoke_new(struct sq_store *s, const char *serial, const struct cur *c,
                      enum ztm_reason reason, int64_t when, const char *actor,
                      struct ztm_error *err)
{
	sqlite3_stmt *st;
	int64_t seq;
	enum ztm_rev_action action = reason == ZTM_REASON_HOLD ? ZTM_REV_HOLD : ZTM_REV_REVOKE;

	if (log_change(s, serial, c, action, (int)reason, actor, &seq, err) != 0)
		return -1;
	st = sq_stmt(s, &q_insert, err);
	if (st == NULL)
		return -1;
	if (sq_bind(st, "ttiiii", serial, c->ca, c->shard, (int64_t)reason, when, seq) != SQLITE_OK)
		return sq_fail(s, err, SQLITE_MISUSE, "revoking certificate %s", serial);
	if (sq_step_done(s, st, err, "revoking a certificate") != 0)
		return -1;
	return write_serial(s, &q_cert_state, "t", serial, 0, 0, err,
	                    "marking a certificate revoked");
}

int sq_cert_revoke_in(struct sq_store *s, const char *serial, enum ztm_reason reason, int64_t when,
                      const char *actor, int *changed, struct ztm_error *err)
{
	struct cur c;
	int dummy;
	int64_t seq;

	if (changed == NULL)
		changed = &dummy;
	*changed = 0;
	if (check_args(serial, actor, err) != 0)
		return -1;
	if (ztm_reason_name((int)reason) == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "revocation reason %d is not one ztm stores",
		                     (int)reason);
	if (when < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "revocation time %lld: must be 1 or later",
		                     (long long)when);
	if (load(s, serial, &c, err) != 0)
		return -1;
	if (!c.revoked) {
		if (revoke_new(s, serial, &c, reason, when, actor, err) != 0)
			return -1;
		*changed = 1;
	} else if (c.reason == ZTM_REASON_HOLD && reason != ZTM_REASON_HOLD) {
		if (log_change(s, serial, &c, ZTM_REV_REVOKE, (int)reason, actor, &seq, err) != 0 ||
		    write_serial(s, &q_upgrade, "tii", serial, (int64_t)reason, seq, err,
		                 "making a hold final") != 0)
			return -1;
		*changed = 1;
	}
	/* else: already revoked for good, or held and held again: the
	 * first reason and time stand. */
	return 0;
}

int sq_cert_revoke(struct ztm_store *base, const char *serial, enum ztm_reason reason, int64_t when,
                   const char *actor, int *changed, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	int own;

	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	return sq_wend(s, own, sq_cert_revoke_in(s, serial, reason, when, actor, changed, err),
	               err);
}

/* The owner's live serials, collected first so the revocation writes do not
 * run under the open SELECT. */
static int owner_serials(struct sq_store *s, const char *kind, int64_t id, const char *keep,
                         char (**out)[ZTM_SERIAL_HEX_MAX], size_t *n, struct ztm_error *err)
{
	char(*serials)[ZTM_SERIAL_HEX_MAX] = NULL;
	size_t cap = 0;
	sqlite3_stmt *st = sq_stmt(s, &q_owner, err);
	int rc;

	*n = 0;
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "tit", kind, id, keep != NULL ? keep : "");
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			void *p = realloc(serials, (cap = cap ? 2 * cap : 8) * sizeof(*serials));
			if (p == NULL) {
				ztm_error_set(err, ZTM_E_NOMEM, "listing certificates of %s %lld",
				              kind, (long long)id);
				goto fail;
			}
			serials = p;
		}
		if (sq_col_text(st, 0, serials[(*n)++], sizeof(*serials)) != 0) {
			ztm_error_set(err, ZTM_E_STORE,
			              "a certificate row does not fit its fields");
			goto fail;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "finding the certificates of %s %lld", kind, (long long)id);
		goto fail;
	}
	sq_reset(st);
	*out = serials;
	return 0;
fail:
	sq_reset(st);
	free(serials);
	return -1;
}

int sq_owner_revoke_in(struct sq_store *s, const char *kind, int64_t id, const char *keep,
                       enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                       struct ztm_error *err)
{
	char(*serials)[ZTM_SERIAL_HEX_MAX] = NULL;
	size_t count = 0, i;
	int changed, ret = -1;

	if (n != NULL)
		*n = 0;
	if (store_check_text("owner kind", kind, 16, 1, err) != 0 ||
	    (keep != NULL && store_check_serial(keep, err) != 0) ||
	    owner_serials(s, kind, id, keep, &serials, &count, err) != 0)
		return -1;
	for (i = 0; i < count; i++) {
		if (sq_cert_revoke_in(s, serials[i], reason, when, actor, &changed, err) != 0)
			goto out;
		if (n != NULL)
			*n += changed;
	}
	ret = 0;
out:
	free(serials);
	return ret;
}

int sq_owner_revoke(struct ztm_store *base, const char *kind, int64_t id, enum ztm_reason reason,
                    int64_t when, const char *actor, int64_t *n, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	int own;

	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	return sq_wend(s, own, sq_owner_revoke_in(s, kind, id, NULL, reason, when, actor, n, err),
	               err);
}

int sq_cert_resume(struct ztm_store *base, const char *serial, const char *actor,
                   struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct cur c;
	int own, ret = -1;
	int64_t seq;

	if (check_args(serial, actor, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if (load(s, serial, &c, err) != 0)
		goto out;
	if (!c.revoked || c.reason != ZTM_REASON_HOLD) {
		ztm_error_set(err, ZTM_E_CONFLICT, "certificate %s is %s, not on hold", serial,
		              c.revoked ? "revoked for good" : "not revoked");
		goto out;
	}
	if (log_change(s, serial, &c, ZTM_REV_RESUME, ZTM_REASON_HOLD, actor, &seq, err) != 0 ||
	    write_serial(s, &q_delete, "t", serial, 0, 0, err, "lifting a hold") != 0 ||
	    write_serial(s, &q_cert_resume, "t", serial, 0, 0, err,
	                 "marking a certificate good again") != 0)
		goto out;
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

int sq_cert_status(struct ztm_store *base, const char *ca, const char *serial,
                   struct ztm_cert_status_row *out, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	char state[16] = "";
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	out->status = ZTM_STATUS_UNKNOWN;
	if (store_check_serial(serial, err) != 0 ||
	    store_check_text("CA name", ca, sizeof(out->rev.ca), 1, err) != 0)
		return -1;
	st = sq_stmt(s, &q_status, err);
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "tt", serial, ca);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = 0; /* not ours: unknown */
	} else if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "looking up the status of %s", serial);
	} else if (sq_col_text(st, 0, state, sizeof(state)) != 0) {
		ztm_error_set(err, ZTM_E_STORE, "certificate row %s does not fit its fields",
		              serial);
	} else {
		out->not_after = sqlite3_column_int64(st, 1);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
			out->status = ZTM_STATUS_REVOKED;
			ztm_strlcpy(out->rev.serial, serial, sizeof(out->rev.serial));
			ztm_strlcpy(out->rev.ca, ca, sizeof(out->rev.ca));
			out->rev.crl_shard = sqlite3_column_int64(st, 2);
			out->rev.reason = (enum ztm_reason)sqlite3_column_int(st, 3);
			out->rev.revoked_at = sqlite3_column_int64(st, 4);
			out->rev.seq = sqlite3_column_int64(st, 5);
		} else if (strcmp(state, "issued") == 0) {
			out->status = ZTM_STATUS_GOOD;
		}
		ret = 0;
	}
	sq_reset(st);
	return ret;
}

int sq_revocation_seq(struct ztm_store *base, int64_t *seq, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_seq, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sq_reset(st);
		return sq_fail(s, err, rc, "reading the revocation sequence");
	}
	*seq = sqlite3_column_int64(st, 0);
	sq_reset(st);
	return 0;
}

static int action_parse(const unsigned char *t, enum ztm_rev_action *out)
{
	size_t i;

	for (i = 0; t != NULL && i < sizeof(action_names) / sizeof(action_names[0]); i++) {
		if (strcmp((const char *)t, action_names[i]) == 0) {
			*out = (enum ztm_rev_action)i;
			return 0;
		}
	}
	return -1;
}

int sq_revocation_changes(struct ztm_store *base, int64_t since, int64_t limit,
                          int (*fn)(const struct ztm_revocation_event *ev, void *arg), void *arg,
                          struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_revocation_event ev;
	sqlite3_stmt *st = sq_stmt(s, &q_changes, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = sq_bind(st, "ii", since, limit > 0 ? limit : (int64_t)-1);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&ev, 0, sizeof(ev));
		ev.seq = sqlite3_column_int64(st, 0);
		ev.ts = sqlite3_column_int64(st, 1);
		ev.crl_shard = sqlite3_column_int64(st, 4);
		ev.reason = (enum ztm_reason)sqlite3_column_int(st, 6);
		if (sq_col_text(st, 2, ev.serial, sizeof(ev.serial)) != 0 ||
		    sq_col_text(st, 3, ev.ca, sizeof(ev.ca)) != 0 ||
		    action_parse(sqlite3_column_text(st, 5), &ev.action) != 0 ||
		    sq_col_text(st, 7, ev.actor, sizeof(ev.actor)) != 0) {
			ztm_error_set(err, ZTM_E_STORE,
			              "revocation log row %lld does not fit its fields",
			              (long long)ev.seq);
			goto out;
		}
		if (fn(&ev, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "reading revocation changes");
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}

int sq_revocations_each(struct ztm_store *base, const char *ca, int64_t crl_shard,
                        int (*fn)(const struct ztm_revocation *rev, void *arg), void *arg,
                        struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_revocation rev;
	sqlite3_stmt *st;
	int rc, ret = -1;

	if (store_check_text("CA name", ca, sizeof(rev.ca), 1, err) != 0)
		return -1;
	st = sq_stmt(s, &q_each, err);
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "ti", ca, crl_shard);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&rev, 0, sizeof(rev));
		rev.crl_shard = sqlite3_column_int64(st, 2);
		rev.reason = (enum ztm_reason)sqlite3_column_int(st, 3);
		rev.revoked_at = sqlite3_column_int64(st, 4);
		rev.seq = sqlite3_column_int64(st, 5);
		if (sq_col_text(st, 0, rev.serial, sizeof(rev.serial)) != 0 ||
		    sq_col_text(st, 1, rev.ca, sizeof(rev.ca)) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "a revocation row does not fit its fields");
			goto out;
		}
		if (fn(&rev, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		sq_fail(s, err, rc, "listing revocations of CA %s shard %lld", ca,
		        (long long)crl_shard);
		goto out;
	}
	ret = 0;
out:
	sq_reset(st);
	return ret;
}
