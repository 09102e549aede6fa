/* store_pg_crl.c - the CRL of each (CA, shard) in the PostgreSQL store:
 * which shards exist, whether one is due for regeneration, the claim that
 * lets exactly one worker rebuild it, and the store that bumps the CRL
 * number in the same transaction as the new bytes (docs/revocation.md,
 * migration 4; DESIGN I5). */
#include "store_pg.h"

#include <string.h>

#include "ztm/str.h"

/* The next shard of a CA after $2: one index seek (certificates_ca_shard). */
static const struct pq_query q_next = {
    PQ_CRL_SHARD_NEXT, "SELECT min(crl_shard) FROM certificates WHERE ca = $1 AND crl_shard > $2",
    0};
static const struct pq_query q_get = {
    PQ_CRL_GET,
    "SELECT number, built_seq, this_update, next_update, CASE WHEN $3 THEN der END"
    " FROM crls WHERE ca = $1 AND shard = $2",
    0};
static const struct pq_query q_ensure = {
    PQ_CRL_ENSURE, "INSERT INTO crls (ca, shard) VALUES ($1, $2) ON CONFLICT DO NOTHING", 0};
/* Due: never built, a change for this shard since it was built, or its
 * refresh time reached. Claimable: no live claim of someone else. */
static const struct pq_query q_due = {
    PQ_CRL_DUE,
    "SELECT number, (number = 0 OR next_update - $3 <= $4"
    "  OR EXISTS (SELECT 1 FROM revocation_log l WHERE l.seq > c.built_seq"
    "   AND l.ca = c.ca AND l.crl_shard = c.shard)),"
    " (claimed_until < $4 OR claimed_by = $5),"
    " (SELECT coalesce(max(seq), 0) FROM revocation_log)"
    " FROM crls c WHERE ca = $1 AND shard = $2",
    0};
static const struct pq_query q_claim = {
    PQ_CRL_CLAIM,
    "UPDATE crls SET claimed_by = $3, claimed_until = $4 WHERE ca = $1 AND shard = $2", 0};
static const struct pq_query q_put = {
    PQ_CRL_PUT,
    "UPDATE crls SET number = $3, built_seq = $4, this_update = $5, next_update = $6, der = $7,"
    " claimed_by = '', claimed_until = 0"
    " WHERE ca = $1 AND shard = $2 AND number = $3 - 1 AND claimed_by = $8",
    0};

static int check_ca(const char *ca, int64_t shard, struct ztm_error *err)
{
	if (store_check_text("CA name", ca, 32, 1, err) != 0)
		return -1;
	if (shard < 0)
		return ztm_error_set(err, ZTM_E_USAGE, "CRL shard %lld: must be 0 or more",
		                     (long long)shard);
	return 0;
}

int pq_crl_shards(struct ztm_store *base, const char *ca, int (*fn)(int64_t shard, void *arg),
                  void *arg, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int64_t shard = -1;
	int rc;

	if (check_ca(ca, 0, err) != 0)
		return -1;
	/* Seek by seek rather than one DISTINCT scan: a CA has a few shards
	 * and perhaps millions of certificates. */
	for (;;) {
		st = pq_stmt(s, &q_next, err);
		if (st == NULL)
			return -1;
		rc = pq_bind(st, "ti", ca, shard);
		if (rc == PQ_OK)
			rc = pq_step(st);
		if (rc != PQ_ROW) {
			pq_reset(st);
			return pq_fail(s, err, rc, "listing the CRL shards of CA %s", ca);
		}
		if (pq_col_type(st, 0) == PQ_NULL) {
			pq_reset(st);
			return 0;
		}
		shard = pq_col_int64(st, 0);
		pq_reset(st);
		if (fn(shard, arg) != 0)
			return 0;
	}
}

int pq_crl_get(struct ztm_store *base, const char *ca, int64_t shard, int want_der,
               struct ztm_crl_row *out, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int rc, ret = -1;

	if (check_ca(ca, shard, err) != 0)
		return -1;
	st = pq_stmt(s, &q_get, err);
	if (st == NULL)
		return -1;
	ztm_buf_reset(&out->der);
	rc = pq_bind(st, "tii", ca, shard, (int64_t)(want_der != 0));
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW && pq_col_int64(st, 0) > 0) {
		ztm_strlcpy(out->ca, ca, sizeof(out->ca));
		out->shard = shard;
		out->number = pq_col_int64(st, 0);
		out->built_seq = pq_col_int64(st, 1);
		out->this_update = pq_col_int64(st, 2);
		out->next_update = pq_col_int64(st, 3);
		if (want_der &&
		    ztm_buf_append(&out->der, pq_col_blob(st, 4), (size_t)pq_col_bytes(st, 4)) != 0)
			ztm_error_set(err, ZTM_E_TOOBIG, "CRL %s/%lld does not fit its buffer", ca,
			              (long long)shard);
		else
			ret = 0;
	} else if (rc == PQ_ROW || rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no CRL built yet for CA %s shard %lld", ca,
		              (long long)shard);
	} else {
		pq_fail(s, err, rc, "reading the CRL of CA %s shard %lld", ca, (long long)shard);
	}
	pq_reset(st);
	return ret;
}

/* Reads whether (ca, shard) is due and claimable; the row must exist. */
static int due(struct pq_store *s, const char *ca, int64_t shard, const char *holder, int64_t now,
               int64_t refresh, int *is_due, int *free_, int64_t *number, int64_t *seq,
               struct ztm_error *err)
{
	struct pq_stmt *st = pq_stmt(s, &q_due, err);
	int rc, ret = -1;

	*is_due = *free_ = 0;
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "tiiit", ca, shard, refresh, now, holder);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW) {
		*number = pq_col_int64(st, 0);
		*is_due = pq_col_int(st, 1);
		*free_ = pq_col_int(st, 2);
		*seq = pq_col_int64(st, 3);
		ret = 0;
	} else if (rc == PQ_DONE) {
		ret = 0; /* no row: not built, and the caller inserts it */
		*is_due = 1;
		*free_ = 1;
		*number = 0;
		*seq = 0;
	} else {
		pq_fail(s, err, rc, "checking the CRL of CA %s shard %lld", ca, (long long)shard);
	}
	pq_reset(st);
	return ret;
}

int pq_crl_claim(struct ztm_store *base, const char *ca, int64_t shard, const char *holder,
                 int64_t now, int64_t lease, int64_t refresh, int *got, int64_t *number,
                 int64_t *seq, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, is_due, free_, rc = -1;

	*got = 0;
	if (check_ca(ca, shard, err) != 0 ||
	    store_check_text("CRL holder", holder, 128, 1, err) != 0)
		return -1;
	if (lease < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "CRL claim lease must be 1 s or more");
	/* A read first: most calls find nothing due and take no row lock. */
	if (s->txn == 0 &&
	    due(s, ca, shard, holder, now, refresh, &is_due, &free_, number, seq, err) != 0)
		return -1;
	if (s->txn == 0 && (!is_due || !free_))
		return 0;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_ensure, err);
	if (st == NULL || pq_bind(st, "ti", ca, shard) != PQ_OK ||
	    pq_step_done(s, st, err, "adding a CRL shard") != 0)
		goto out;
	/* Again under the row lock: another worker or node may have claimed it. */
	if (pq_lock(s, PQ_LK_CRL, ca, shard, err) != 0 ||
	    due(s, ca, shard, holder, now, refresh, &is_due, &free_, number, seq, err) != 0)
		goto out;
	if (is_due && free_) {
		st = pq_stmt(s, &q_claim, err);
		if (st == NULL || pq_bind(st, "titi", ca, shard, holder, now + lease) != PQ_OK ||
		    pq_step_done(s, st, err, "claiming a CRL") != 0)
			goto out;
		*number += 1;
		*got = 1;
	}
	rc = 0;
out:
	if (rc != 0)
		*got = 0;
	rc = pq_wend(s, own, rc, err);
	if (rc != 0)
		*got = 0;
	return rc;
}

int pq_crl_put(struct ztm_store *base, const struct ztm_crl_row *row, const char *holder,
               struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc = -1;

	if (check_ca(row->ca, row->shard, err) != 0 ||
	    store_check_text("CRL holder", holder, 128, 1, err) != 0)
		return -1;
	if (row->number < 1 || row->der.len == 0 || row->next_update <= row->this_update)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "CRL %s/%lld: number >= 1, bytes and a validity are required",
		                     row->ca, (long long)row->shard);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_put, err);
	if (st == NULL)
		goto out;
	if (pq_bind(st, "tiiiiibt", row->ca, row->shard, row->number, row->built_seq,
	            row->this_update, row->next_update, row->der.data, row->der.len,
	            holder) != PQ_OK) {
		pq_fail(s, err, PQ_E_MISUSE, "storing CRL %s/%lld", row->ca, (long long)row->shard);
		goto out;
	}
	if (pq_step_done(s, st, err, "storing a CRL") != 0)
		goto out;
	if (pq_changes(s) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "CRL %s/%lld number %lld: the claim was lost or the number moved on",
		              row->ca, (long long)row->shard, (long long)row->number);
		goto out;
	}
	rc = 0;
out:
	return pq_wend(s, own, rc, err);
}
