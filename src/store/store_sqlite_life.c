/* store_sqlite_life.c - the device lifecycle in the SQLite store
 * (docs/lifecycle.md, migration 4): a product's certificate policy, a
 * replacement registration moving a device to its new key, and the
 * revocation of a device's older certificates when it re-keys. */
#include "store_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LIFETIME_MAX 36500 /* days, as products.lifetime_days */
#define GRACE_MAX    3650  /* days, as products.renew_grace_days */

/* A negative value keeps the stored one. */
static const struct sq_query q_product_set_policy = {
    SQ_PRODUCT_SET_POLICY,
    "UPDATE products SET"
    " lifetime_days = CASE WHEN ?2 < 0 THEN lifetime_days ELSE ?2 END,"
    " renew_window_days = CASE WHEN ?3 < 0 THEN renew_window_days ELSE ?3 END,"
    " renew_grace_days = CASE WHEN ?4 < 0 THEN renew_grace_days ELSE ?4 END,"
    " key_storage = CASE WHEN ?5 = '' THEN key_storage ELSE ?5 END"
    " WHERE name = ?1"};
static const struct sq_query q_device_replace = {
    SQ_DEVICE_REPLACE,
    "UPDATE devices SET record_id = ?2, key_spki_sha256 = ?3, cert_serial = '',"
    " state = 'manufactured', registered_at = ?4, updated_at = ?4 WHERE serial = ?1"};
/* Runs an UPDATE that must change exactly one row; else ZTM_E_NOTFOUND
 * naming what. */
static int update_one(struct sq_store *s, sqlite3_stmt *st, int rc, const char *what,
                      struct ztm_error *err)
{
	if (rc != SQLITE_OK) {
		sq_reset(st);
		return sq_fail(s, err, rc, "updating %s", what);
	}
	if (sq_step_done(s, st, err, what) != 0)
		return -1;
	if (sqlite3_changes(s->db) != 1)
		return ztm_error_set(err, ZTM_E_NOTFOUND, "%s not found", what);
	return 0;
}

int sq_product_set_policy(struct ztm_store *base, const char *name, int64_t lifetime_days,
                          int64_t renew_window_days, int64_t renew_grace_days, int key_storage,
                          struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	const char *ks = ""; /* keep */
	char what[160];
	int own, ret = -1;

	if (store_check_text("product name", name, ZTM_NAME_MAX, 1, err) != 0)
		return -1;
	if (lifetime_days == 0 || lifetime_days > LIFETIME_MAX ||
	    renew_window_days > LIFETIME_MAX || renew_grace_days > GRACE_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "product '%s': lifetime 1..%d days, renewal window 0..%d, "
		                     "grace 0..%d",
		                     name, LIFETIME_MAX, LIFETIME_MAX, GRACE_MAX);
	if (key_storage >= 0 &&
	    (ks = ztm_key_storage_name((enum ztm_key_storage)key_storage)) == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "product '%s': key storage any or tpm",
		                     name);
	snprintf(what, sizeof(what), "product '%s'", name);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_product_set_policy, err);
	if (st != NULL)
		ret = update_one(s, st,
		                 sq_bind(st, "tiiit", name, lifetime_days, renew_window_days,
		                         renew_grace_days, ks),
		                 what, err);
	return sq_wend(s, own, ret, err);
}

int sq_device_replace(struct ztm_store *base, const char *serial, int64_t record_id,
                      const char *key_spki, struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	sqlite3_stmt *st;
	char what[96];
	int own, ret = -1;

	if (store_check_text("device serial", serial, ZTM_DEV_SERIAL_MAX, 1, err) != 0 ||
	    store_check_sha256("device key hash", key_spki, 0, err) != 0)
		return -1;
	snprintf(what, sizeof(what), "device %s", serial);
	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	st = sq_stmt(s, &q_device_replace, err);
	if (st != NULL)
		ret = update_one(
		    s, st, sq_bind(st, "titi", serial, record_id, key_spki, (int64_t)time(NULL)),
		    what, err);
	return sq_wend(s, own, ret, err);
}

int sq_owner_revoke_except(struct ztm_store *base, const char *kind, int64_t id, const char *keep,
                           enum ztm_reason reason, int64_t when, const char *actor, int64_t *n,
                           struct ztm_error *err)
{
	struct sq_store *s = sq_of(base);
	int own;

	if (sq_wbegin(s, &own, err) != 0)
		return -1;
	return sq_wend(s, own, sq_owner_revoke_in(s, kind, id, keep, reason, when, actor, n, err),
	               err);
}
