/* store_sqlite_fw.c - firmware signers and releases in the SQLite store
 * (docs/firmware.md, migration 7). The rules that matter hold twice: here,
 * with an error that says why, and in the schema (CHECK and triggers), so
 * no other writer can sign production with a test key, approve its own
 * release or go below the security-version floor. */
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/str.h"

static const char *const channel_names[] = {"production", "test"};

#define SIGNER_COLS                                                                                \
	"SELECT id, product_id, channel, key_uri, cert_serial, cert_der, created_by, created_at,"  \
	" retired_at FROM fw_signers"
#define RELEASE_COLS                                                                               \
	"SELECT id, product_id, version, security_version, size, sha256, channel, origin,"         \
	" coalesce(signer_id, 0), submitted_by, submitted_at, approved_by, approved_at, "          \
	"signed_at,"                                                                               \
	" state, revoked_by, revoked_at, revoke_reason FROM fw_releases"

static const struct sq_query q_signer_add = {
    SQ_FW_SIGNER_ADD,
    "INSERT INTO fw_signers (product_id, channel, key_uri, cert_serial, cert_der, created_by,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"};
static const struct sq_query q_signer_get = {SQ_FW_SIGNER_GET, SIGNER_COLS " WHERE id = ?1"};
static const struct sq_query q_signer_active = {
    SQ_FW_SIGNER_ACTIVE, SIGNER_COLS " WHERE product_id = ?1 AND channel = ?2 AND retired_at = 0"};
static const struct sq_query q_signer_each = {SQ_FW_SIGNER_EACH, SIGNER_COLS
                                              " WHERE ?1 = 0 OR product_id = ?1 ORDER BY id"};
static const struct sq_query q_signer_retire = {
    SQ_FW_SIGNER_RETIRE, "UPDATE fw_signers SET retired_at = ?2 WHERE id = ?1 AND retired_at = 0"};
static const struct sq_query q_svn_floor = {
    SQ_FW_SVN_FLOOR,
    "SELECT coalesce(max(security_version), 0) FROM fw_releases WHERE product_id = ?1"
    " AND channel = 'production' AND signed_at > 0 AND origin = 'signed'"};
static const struct sq_query q_release_add = {
    SQ_FW_RELEASE_ADD,
    "INSERT INTO fw_releases (product_id, version, security_version, size, sha256, channel,"
    " submitted_by, submitted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"};
static const struct sq_query q_release_get = {SQ_FW_RELEASE_GET, RELEASE_COLS " WHERE id = ?1"};
static const struct sq_query q_release_blobs = {
    SQ_FW_RELEASE_BLOBS, "SELECT cms, manifest, signed_at, origin FROM fw_releases WHERE id = ?1"};
static const struct sq_query q_release_sign = {
    SQ_FW_RELEASE_SIGN,
    "UPDATE fw_releases SET signer_id = ?2, approved_by = ?3,"
    " approved_at = CASE WHEN ?3 = '' THEN 0 ELSE ?4 END, signed_at = ?4,"
    " state = 'signed', cms = ?5, manifest = ?6 WHERE id = ?1 AND state = 'pending'"};
static const struct sq_query q_release_revoke = {
    SQ_FW_RELEASE_REVOKE,
    "UPDATE fw_releases SET state = 'revoked', revoked_by = ?2, revoked_at = ?3,"
    " revoke_reason = ?4 WHERE id = ?1 AND state <> 'revoked'"};
static const struct sq_query q_release_each = {
    SQ_FW_RELEASE_EACH, RELEASE_COLS " WHERE (?1 = 0 OR product_id = ?1)"
                                     " AND (?2 = '' OR channel = ?2) AND (?3 = '' OR state = ?3)"
                                     " ORDER BY id DESC LIMIT ?4"};

static int channel_index(const unsigned char *t)
{
	if (t == NULL)
		return -1;
	if (strcmp((const char *)t, "production") == 0)
		return 0;
	if (strcmp((const char *)t, "test") == 0)
		return 1;
	return -1;
}

static int check_channel(int channel, struct ztm_error *err)
{
	if (channel != 0 && channel != 1)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "firmware channel must be production or test");
	return 0;
}

/* --- signers ------------------------------------------------------------- */

static int read_signer(sqlite3_stmt *st, struct ztm_fw_signer_row *out)
{
	int bad = 0, ch = channel_index(sqlite3_column_text(st, 2));
	int n = sqlite3_column_bytes(st, 5);

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	out->product_id = sqlite3_column_int64(st, 1);
	out->channel = ch;
	bad |= ch < 0;
	bad |= sq_col_text(st, 3, out->key_uri, sizeof(out->key_uri));
	bad |= sq_col_text(st, 4, out->cert_serial, sizeof(out->cert_serial));
	if (n <= 0 || (size_t)n > sizeof(out->cert_der))
		bad = 1;
	else
		memcpy(out->cert_der, sqlite3_column_blob(st, 5), (size_t)n);
	out->cert_len = n > 0 ? (size_t)n : 0;
	bad |= sq_col_text(st, 6, out->created_by, sizeof(out->created_by));
	out->created_at = sqlite3_column_int64(st, 7);
	out->retired_at = sqlite3_column_int64(st, 8);
	return bad ? -1 : 0;
}

int sq_fw_signer_add(struct ztm_store *base, struct ztm_fw_signer_row *row, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (check_channel(row->channel, err) != 0 ||
	    store_check_text("signer key URI", row->key_uri, 1024, 1, err) != 0 ||
	    store_check_serial(row->cert_serial, err) != 0 ||
	    store_check_text("signer creator", row->created_by, 128, 1, err) != 0)
		return -1;
	if (row->cert_len == 0 || row->cert_len > sizeof(row->cert_der))
		return ztm_error_set(err, ZTM_E_USAGE, "firmware signer: certificate size");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if ((st = sq_stmt(s, &q_signer_add, err)) == NULL)
		goto out;
	rc = sq_bind(st, "itttbti", row->product_id, channel_names[row->channel], row->key_uri,
	             row->cert_serial, row->cert_der, row->cert_len, row->created_by,
	             row->created_at);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE) {
		row->id = sqlite3_last_insert_rowid(s->db);
		ret = 0;
	} else if (sq_is_unique(rc)) {
		ztm_error_set(err, ZTM_E_EXISTS,
		              "product %lld already has an active %s firmware signer: retire it "
		              "first",
		              (long long)row->product_id, channel_names[row->channel]);
	} else {
		sq_fail(s, err, rc, "adding a firmware signer");
	}
out:
	return sq_wend(s, own, ret, err);
}

static int signer_one(struct sq_store *s, sqlite3_stmt *st, int rc, struct ztm_fw_signer_row *out,
                      const char *what, struct ztm_error *err)
{
	int ret = -1;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "%s", what);
	else if (rc != SQLITE_ROW)
		sq_fail(s, err, rc, "reading %s", what);
	else if (read_signer(st, out) != 0)
		ztm_error_set(err, ZTM_E_STORE, "%s: row does not fit", what);
	else
		ret = 0;
	sq_reset(st);
	return ret;
}

int sq_fw_signer_get(struct ztm_store *base, int64_t id, struct ztm_fw_signer_row *out,
                     struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_signer_get, err);
	char what[64];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "firmware signer %lld", (long long)id);
	return signer_one(s, st, sq_bind(st, "i", id), out, what, err);
}

int sq_fw_signer_active(struct ztm_store *base, int64_t product_id, int channel,
                        struct ztm_fw_signer_row *out, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	char what[96];

	if (check_channel(channel, err) != 0 || (st = sq_stmt(s, &q_signer_active, err)) == NULL)
		return -1;
	snprintf(what, sizeof(what), "no active %s firmware signer for product %lld",
	         channel_names[channel], (long long)product_id);
	return signer_one(s, st, sq_bind(st, "it", product_id, channel_names[channel]), out, what,
	                  err);
}

int sq_fw_signer_each(struct ztm_store *base, int64_t product_id,
                      int (*fn)(const struct ztm_fw_signer_row *row, void *arg), void *arg,
                      struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_signer_each, err);
	struct ztm_fw_signer_row *row;
	int rc, ret = 0;

	if (st == NULL)
		return -1;
	if ((row = malloc(sizeof(*row))) == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "firmware signers");
	rc = sq_bind(st, "i", product_id);
	while (ret == 0 && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_signer(st, row) != 0)
			ret = ztm_error_set(err, ZTM_E_STORE, "firmware signer row does not fit");
		else if (fn(row, arg) != 0)
			ret = ztm_error_set(err, ZTM_E_INTERNAL, "firmware signer listing stopped");
		else
			rc = SQLITE_OK;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, err, rc, "listing firmware signers");
	sq_reset(st);
	free(row);
	return ret;
}

int sq_fw_signer_retire(struct ztm_store *base, int64_t id, int64_t when, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, ret = -1;

	if (when < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "retire: time must be 1 or later");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if ((st = sq_stmt(s, &q_signer_retire, err)) == NULL)
		goto out;
	if (sq_bind(st, "ii", id, when) != SQLITE_OK ||
	    sq_step_done(s, st, err, "retiring a firmware signer") != 0)
		goto out;
	if (sqlite3_changes(s->db) != 1) {
		struct ztm_fw_signer_row *row = malloc(sizeof(*row));
		if (row == NULL)
			ztm_error_set(err, ZTM_E_NOMEM, "firmware signer");
		else if (sq_fw_signer_get(base, id, row, err) == 0)
			ztm_error_set(err, ZTM_E_CONFLICT,
			              "firmware signer %lld is already retired", (long long)id);
		free(row);
		goto out;
	}
	ret = 0;
out:
	return sq_wend(s, own, ret, err);
}

/* --- releases ------------------------------------------------------------ */

int sq_fw_svn_floor(struct ztm_store *base, int64_t product_id, int64_t *floor,
                    struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_svn_floor, err);
	int rc;

	*floor = 0;
	if (st == NULL)
		return -1;
	rc = sq_bind(st, "i", product_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*floor = sqlite3_column_int64(st, 0);
	sq_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_fail(s, err, rc, "reading the security version floor");
}

static int svn_check(struct ztm_store *base, int64_t product_id, int64_t svn, struct ztm_error *err)
{
	int64_t floor;

	if (sq_fw_svn_floor(base, product_id, &floor, err) != 0)
		return -1;
	if (svn < floor)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "security_version %lld is below %lld, the highest signed "
		                     "production release of this product (anti-rollback)",
		                     (long long)svn, (long long)floor);
	return 0;
}

static int read_release(sqlite3_stmt *st, struct ztm_fw_release_row *out)
{
	const unsigned char *state = sqlite3_column_text(st, 14), *origin;
	enum ztm_fw_state fs = ZTM_FW_PENDING;
	int bad = 0, ch = channel_index(sqlite3_column_text(st, 6));

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	out->product_id = sqlite3_column_int64(st, 1);
	bad |= sq_col_text(st, 2, out->version, sizeof(out->version));
	out->security_version = sqlite3_column_int64(st, 3);
	out->size = sqlite3_column_int64(st, 4);
	bad |= sq_col_text(st, 5, out->sha256, sizeof(out->sha256));
	out->channel = ch;
	bad |= ch < 0;
	origin = sqlite3_column_text(st, 7);
	out->imported = origin != NULL && strcmp((const char *)origin, "imported") == 0;
	out->signer_id = sqlite3_column_int64(st, 8);
	bad |= sq_col_text(st, 9, out->submitted_by, sizeof(out->submitted_by));
	out->submitted_at = sqlite3_column_int64(st, 10);
	bad |= sq_col_text(st, 11, out->approved_by, sizeof(out->approved_by));
	out->approved_at = sqlite3_column_int64(st, 12);
	out->signed_at = sqlite3_column_int64(st, 13);
	bad |= ztm_fw_state_parse((const char *)state, &fs) != 0;
	out->state = fs;
	bad |= sq_col_text(st, 15, out->revoked_by, sizeof(out->revoked_by));
	out->revoked_at = sqlite3_column_int64(st, 16);
	bad |= sq_col_text(st, 17, out->revoke_reason, sizeof(out->revoke_reason));
	return bad ? -1 : 0;
}

int sq_fw_release_add(struct ztm_store *base, struct ztm_fw_release_row *row, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	int own, rc, ret = -1;

	if (check_channel(row->channel, err) != 0 ||
	    store_check_text("firmware version", row->version, 65, 1, err) != 0 ||
	    store_check_text("firmware submitter", row->submitted_by, 128, 1, err) != 0)
		return -1;
	if (strlen(row->sha256) != 64 || strspn(row->sha256, "0123456789abcdef") != 64)
		return ztm_error_set(err, ZTM_E_USAGE, "firmware sha256: 64 lower-case hex digits");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if (svn_check(base, row->product_id, row->security_version, err) != 0 ||
	    (st = sq_stmt(s, &q_release_add, err)) == NULL)
		goto out;
	rc =
	    sq_bind(st, "itiittti", row->product_id, row->version, row->security_version, row->size,
	            row->sha256, channel_names[row->channel], row->submitted_by, row->submitted_at);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sq_reset(st);
	if (rc == SQLITE_DONE) {
		row->id = sqlite3_last_insert_rowid(s->db);
		row->state = ZTM_FW_PENDING;
		ret = 0;
	} else if (sq_is_unique(rc)) {
		ztm_error_set(err, ZTM_E_EXISTS, "the product already has a release %s",
		              row->version);
	} else {
		sq_fail(s, err, rc, "adding a firmware release");
	}
out:
	return sq_wend(s, own, ret, err);
}

int sq_fw_release_get(struct ztm_store *base, int64_t id, struct ztm_fw_release_row *out,
                      struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_release_get, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = sq_bind(st, "i", id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "no firmware release %lld", (long long)id);
	else if (rc != SQLITE_ROW)
		sq_fail(s, err, rc, "reading firmware release %lld", (long long)id);
	else if (read_release(st, out) != 0)
		ztm_error_set(err, ZTM_E_STORE, "firmware release %lld does not fit",
		              (long long)id);
	else
		ret = 0;
	sq_reset(st);
	return ret;
}

int sq_fw_release_blobs(struct ztm_store *base, int64_t id, struct ztm_buf *cms,
                        struct ztm_buf *manifest, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_release_blobs, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = sq_bind(st, "i", id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "no firmware release %lld", (long long)id);
	} else if (rc != SQLITE_ROW) {
		sq_fail(s, err, rc, "reading firmware release %lld", (long long)id);
	} else if (sqlite3_column_int64(st, 2) == 0 || sqlite3_column_bytes(st, 0) == 0) {
		ztm_error_set(err, ZTM_E_CONFLICT, "firmware release %lld has no signatures%s",
		              (long long)id,
		              sqlite3_column_int64(st, 2) == 0 ? " yet (pending)" : " (imported)");
	} else if ((cms != NULL && ztm_buf_append(cms, sqlite3_column_blob(st, 0),
	                                          (size_t)sqlite3_column_bytes(st, 0)) != 0) ||
	           (manifest != NULL && ztm_buf_append(manifest, sqlite3_column_blob(st, 1),
	                                               (size_t)sqlite3_column_bytes(st, 1)) != 0)) {
		ztm_error_set(err, ZTM_E_NOMEM, "firmware release %lld signatures", (long long)id);
	} else {
		ret = 0;
	}
	sq_reset(st);
	return ret;
}

int sq_fw_release_sign(struct ztm_store *base, int64_t id, int64_t signer_id, const char *approver,
                       int64_t when, const uint8_t *cms, size_t cms_len, const uint8_t *manifest,
                       size_t manifest_len, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_fw_release_row rel;
	struct ztm_fw_signer_row *sig = NULL;
	sqlite3_stmt *st;
	int own, ret = -1;

	if (approver == NULL)
		approver = "";
	if (when < 1 || cms_len == 0 || manifest_len == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "firmware sign: time and both forms needed");
	if (store_check_text("firmware approver", approver, 128, 0, err) != 0)
		return -1;
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if ((sig = malloc(sizeof(*sig))) == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "firmware signer");
		goto out;
	}
	if (sq_fw_release_get(base, id, &rel, err) != 0 ||
	    sq_fw_signer_get(base, signer_id, sig, err) != 0)
		goto out;
	if (rel.state != ZTM_FW_PENDING) {
		ztm_error_set(err, ZTM_E_CONFLICT, "firmware release %lld is %s, not pending",
		              (long long)id, ztm_fw_state_name(rel.state));
		goto out;
	}
	/* THREATS (PKfail): a test key never signs production. */
	if (sig->product_id != rel.product_id || sig->channel != rel.channel ||
	    sig->retired_at != 0) {
		ztm_error_set(
		    err, ZTM_E_POLICY,
		    "firmware signer %lld (%s) may not sign %s release %lld of this product",
		    (long long)signer_id, channel_names[sig->channel], channel_names[rel.channel],
		    (long long)id);
		goto out;
	}
	/* DESIGN 4: a production release needs a second person. */
	if (rel.channel == 0 && approver[0] == '\0') {
		ztm_error_set(err, ZTM_E_DENIED, "production release %lld needs an approval",
		              (long long)id);
		goto out;
	}
	if (approver[0] != '\0' && strcmp(approver, rel.submitted_by) == 0) {
		ztm_error_set(err, ZTM_E_DENIED,
		              "release %lld was submitted by %s: another release approver must "
		              "approve it",
		              (long long)id, approver);
		goto out;
	}
	if (svn_check(base, rel.product_id, rel.security_version, err) != 0 ||
	    (st = sq_stmt(s, &q_release_sign, err)) == NULL)
		goto out;
	if (sq_bind(st, "iitibb", id, signer_id, approver, when, cms, cms_len, manifest,
	            manifest_len) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "signing firmware release %lld", (long long)id);
		sq_reset(st);
		goto out;
	}
	if (sq_step_done(s, st, err, "signing a firmware release") != 0)
		goto out;
	ret = 0;
out:
	free(sig);
	return sq_wend(s, own, ret, err);
}

int sq_fw_release_revoke(struct ztm_store *base, int64_t id, const char *who, const char *reason,
                         int64_t when, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	struct ztm_fw_release_row rel;
	sqlite3_stmt *st;
	int own, ret = -1;

	if (store_check_text("revoking operator", who, 128, 1, err) != 0 ||
	    store_check_text("revocation reason", reason, 256, 1, err) != 0)
		return -1;
	if (when < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "revoke: time must be 1 or later");
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	if (sq_fw_release_get(base, id, &rel, err) != 0)
		goto out;
	if (rel.state == ZTM_FW_REVOKED) {
		ztm_error_set(err, ZTM_E_CONFLICT, "firmware release %lld is already revoked",
		              (long long)id);
		goto out;
	}
	if ((st = sq_stmt(s, &q_release_revoke, err)) == NULL)
		goto out;
	if (sq_bind(st, "itit", id, who, when, reason) != SQLITE_OK) {
		sq_fail(s, err, SQLITE_MISUSE, "revoking firmware release %lld", (long long)id);
		sq_reset(st);
		goto out;
	}
	ret = sq_step_done(s, st, err, "revoking a firmware release");
out:
	return sq_wend(s, own, ret, err);
}

int sq_fw_release_each(struct ztm_store *base, const struct ztm_fw_filter *f,
                       int (*fn)(const struct ztm_fw_release_row *row, void *arg), void *arg,
                       struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st = sq_stmt(s, &q_release_each, err);
	struct ztm_fw_release_row row;
	int rc, ret = 0;
	const char *ch = "", *state = "";

	if (st == NULL)
		return -1;
	if (f->channel == 0 || f->channel == 1)
		ch = channel_names[f->channel];
	if (f->state >= 0)
		state = ztm_fw_state_name((enum ztm_fw_state)f->state);
	rc = sq_bind(st, "itti", f->product_id, ch, state,
	             f->limit > 0 && f->limit <= 1000 ? f->limit : (int64_t)1000);
	while (ret == 0 && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_release(st, &row) != 0)
			ret = ztm_error_set(err, ZTM_E_STORE, "firmware release row does not fit");
		else if (fn(&row, arg) != 0)
			ret =
			    ztm_error_set(err, ZTM_E_INTERNAL, "firmware release listing stopped");
		else
			rc = SQLITE_OK;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = sq_fail(s, err, rc, "listing firmware releases");
	sq_reset(st);
	return ret;
}
