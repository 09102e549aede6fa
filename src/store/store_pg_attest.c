/* store_pg_attest.c - the challenges of TPM key attestation in the
 * PostgreSQL store (docs/attestation.md, docs/store.md "attest_challenges").
 *
 * A row is keyed by the SHA-256 of the credential ztmd wrapped to the
 * TPM's EK; the credential itself is never stored or named in a message.
 * Using a challenge is one conditional UPDATE: of two registrations
 * answering one challenge, the second waits on the row lock, re-checks the
 * condition on the first's committed row and changes nothing; it reads the
 * row back used (a replay). */
#include "store_pg.h"

#include <string.h>
#include <time.h>

#define PURGE_AFTER 86400 /* seconds an expired row is kept (for the replay answer) */

static const struct pq_query q_attest_add = {
    PQ_ATTEST_ADD,
    "INSERT INTO attest_challenges (cred_hash, key_spki, ak_name, ek_cert_sha256,"
    " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    0};
static const struct pq_query q_attest_purge = {
    PQ_ATTEST_PURGE, "DELETE FROM attest_challenges WHERE expires_at < $1", 0};
static const struct pq_query q_attest_get = {
    PQ_ATTEST_GET,
    "SELECT key_spki, ak_name, ek_cert_sha256, created_at, expires_at, used_at"
    " FROM attest_challenges WHERE cred_hash = $1",
    0};
static const struct pq_query q_attest_use = {
    PQ_ATTEST_USE,
    "UPDATE attest_challenges SET used_at = $2"
    " WHERE cred_hash = $1 AND used_at = 0 AND expires_at > $2",
    0};
static const struct pq_query q_device_set_ek = {
    PQ_DEVICE_SET_EK, "UPDATE devices SET ek_cert_sha256 = $2, updated_at = $3 WHERE serial = $1",
    0};

int pq_attest_challenge_add(struct ztm_store *base, const struct ztm_attest_challenge_row *row,
                            struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_attest_purge, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "i", row->created_at - PURGE_AFTER);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "purging expired attestation challenges");
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "purging expired attestation challenges") != 0)
		goto out;
	st = pq_stmt(s, &q_attest_add, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "htbtii", row->cred_hash, row->key_spki, row->ak_name, row->ak_name_len,
	             row->ek_cert_sha256, row->created_at, row->expires_at);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "attestation challenge already exists");
		else
			pq_fail(s, err, rc, "adding attestation challenge");
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_attest_challenge_get(struct ztm_store *base, const uint8_t cred_hash[32],
                            struct ztm_attest_challenge_row *out, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int rc, n, bad = 0, ret = -1;

	if (cred_hash == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "attestation challenge hash missing");
	st = pq_stmt(s, &q_attest_get, err);
	if (st == NULL)
		return -1;
	rc = pq_bind(st, "h", cred_hash);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "unknown attestation challenge");
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up attestation challenge");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->cred_hash, cred_hash, sizeof(out->cred_hash));
	bad |= pq_col_text(st, 0, out->key_spki, sizeof(out->key_spki));
	n = pq_col_bytes(st, 1);
	if (n <= 0 || (size_t)n > sizeof(out->ak_name))
		bad = 1;
	else
		memcpy(out->ak_name, pq_col_blob(st, 1), (size_t)n);
	out->ak_name_len = n > 0 ? (size_t)n : 0;
	bad |= pq_col_text(st, 2, out->ek_cert_sha256, sizeof(out->ek_cert_sha256));
	out->created_at = pq_col_int64(st, 3);
	out->expires_at = pq_col_int64(st, 4);
	out->used_at = pq_col_int64(st, 5);
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE,
		              "attestation challenge: row does not fit its fields");
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_attest_challenge_use(struct ztm_store *base, const uint8_t cred_hash[32], int64_t now,
                            struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct ztm_attest_challenge_row row;
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (cred_hash == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "attestation challenge hash missing");
	if (now <= 0) /* used_at = 0 means unused */
		return ztm_error_set(err, ZTM_E_USAGE, "use time %lld not positive",
		                     (long long)now);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_attest_use, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "hi", cred_hash, now);
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		pq_fail(s, err, rc, "using attestation challenge");
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	if (pq_changes(s) == 1) {
		ret = 0;
		goto out;
	}
	/* Nothing changed: the row, read in the same transaction, says why. */
	if (pq_attest_challenge_get(base, cred_hash, &row, err) != 0)
		goto out;
	if (row.used_at != 0)
		ztm_error_set(err, ZTM_E_CONFLICT, "attestation challenge already used");
	else
		ztm_error_set(err, ZTM_E_AUTH, "attestation challenge expired");
out:
	return pq_wend(s, own, ret, err);
}

int pq_device_set_ek(struct ztm_store *base, const char *serial, const char *ek_cert_sha256,
                     struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_device_set_ek, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tti", serial, ek_cert_sha256, (int64_t)time(NULL));
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "recording the EK of device %s", serial);
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "recording a device's EK") != 0)
		goto out;
	if (pq_changes(s) != 1) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", serial);
		goto out;
	}
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}
