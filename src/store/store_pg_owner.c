/* store_pg_owner.c - owners (the customers devices are handed to), their
 * operators, the ownership of devices and the record of signed vouchers in
 * the PostgreSQL store (docs/store.md, migration 3). */
#include "store_pg.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "ztm/str.h"

#define NAME_MAX_BYTES 128

static const struct pq_query q_owner_add = {
    PQ_OWNER_ADD,
    "INSERT INTO owners (name, anchor_der, anchor_sha256, created_at)"
    " VALUES ($1, $2, $3, $4) RETURNING id",
    PQ_RET_ID};
#define OWNER_SELECT "SELECT id, name, anchor_der, anchor_sha256, created_at FROM owners "
static const struct pq_query q_owner_get = {PQ_OWNER_GET, OWNER_SELECT "WHERE name = $1", 0};
static const struct pq_query q_owner_get_id = {PQ_OWNER_GET_ID, OWNER_SELECT "WHERE id = $1", 0};
static const struct pq_query q_owner_each = {PQ_OWNER_EACH, OWNER_SELECT "ORDER BY name", 0};
/* The CHECK of migration 3 ties role 'owner' to a non-NULL owner_id. */
static const struct pq_query q_owner_operator_add = {
    PQ_OWNER_OPERATOR_ADD,
    "INSERT INTO operators (name, role, owner_id, created_at)"
    " VALUES ($1, 'owner', $2, $3) RETURNING id",
    PQ_RET_ID};
static const struct pq_query q_device_set_owner = {
    PQ_DEVICE_SET_OWNER, "UPDATE devices SET owner_id = $2, updated_at = $3 WHERE serial = $1", 0};
/* $1 = 0 lists every device; the partial index devices_owner serves the
 * other case. */
static const struct pq_query q_device_each = {
    PQ_DEVICE_EACH,
    "SELECT " PQ_DEVICE_COLS " FROM devices d"
    " WHERE ($1 = 0 OR d.owner_id = $1) AND d.id > $2 ORDER BY d.id LIMIT $3",
    0};
static const struct pq_query q_voucher_add = {
    PQ_VOUCHER_ADD,
    /* A device's vouchers have strictly increasing created-on: the device
     * refuses one not newer than the one it holds (docs/vouchers.md). Two
     * nodes adding one for the same device at once: pq_voucher_add locks
     * the device row first, so the second sees the first's voucher. */
    "INSERT INTO vouchers (device_id, owner_id, created_on, expires_on, sha256, actor)"
    " SELECT $1::bigint, $2::bigint, $3::bigint, $4::bigint, $5::text, $6::text WHERE NOT EXISTS"
    " (SELECT 1 FROM vouchers WHERE device_id = $1 AND created_on >= $3)",
    0};
static const struct pq_query q_voucher_count = {
    PQ_VOUCHER_COUNT, "SELECT count(*) FROM vouchers WHERE device_id = $1", 0};
static const struct pq_query q_voucher_count_all = {PQ_VOUCHER_COUNT_ALL,
                                                    "SELECT count(*) FROM vouchers", 0};

int pq_owner_add(struct ztm_store *base, const char *name, const uint8_t *der, size_t len,
                 int64_t *id, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	uint8_t md[32];
	char hex[ZTM_SHA256_HEX];
	unsigned mdlen = 0;
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("owner name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if (der == NULL || len == 0 || len > ZTM_ANCHOR_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "owner '%s': trust anchor of 1..%d bytes",
		                     name, ZTM_ANCHOR_MAX);
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the trust anchor");
	ztm_hex(md, sizeof(md), hex);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_owner_add, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tbti", name, der, len, hex, (int64_t)time(NULL));
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "owner '%s' already exists", name);
		else
			pq_fail(s, err, rc, "adding owner '%s'", name);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	*id = pq_last_id(s);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

/* The current row of an owner SELECT into out. */
static int owner_cols(struct pq_stmt *st, struct ztm_owner_row *out)
{
	const void *blob = pq_col_blob(st, 2);
	int n = pq_col_bytes(st, 2), bad = 0;

	memset(out, 0, sizeof(*out));
	out->id = pq_col_int64(st, 0);
	bad |= pq_col_text(st, 1, out->name, sizeof(out->name));
	if (blob == NULL || n <= 0 || (size_t)n > sizeof(out->anchor_der))
		bad = 1;
	else
		memcpy(out->anchor_der, blob, (size_t)n);
	out->anchor_len = n > 0 ? (size_t)n : 0;
	bad |= pq_col_text(st, 3, out->anchor_sha256, sizeof(out->anchor_sha256));
	out->created_at = pq_col_int64(st, 4);
	return bad;
}

static int owner_one(struct pq_store *s, struct pq_stmt *st, int rc, const char *what,
                     struct ztm_owner_row *out, struct ztm_error *err)
{
	int ret = -1;

	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE)
		ztm_error_set(err, ZTM_E_NOTFOUND, "owner %s not found", what);
	else if (rc != PQ_ROW)
		pq_fail(s, err, rc, "looking up owner %s", what);
	else if (owner_cols(st, out) != 0)
		ztm_error_set(err, ZTM_E_STORE, "owner %s: row does not fit its fields", what);
	else
		ret = 0;
	pq_reset(st);
	return ret;
}

int pq_owner_get(struct ztm_store *base, const char *name, struct ztm_owner_row *out,
                 struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	char what[NAME_MAX_BYTES + 2];

	if (store_check_text("owner name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if ((st = pq_stmt(s, &q_owner_get, err)) == NULL)
		return -1;
	snprintf(what, sizeof(what), "'%s'", name);
	return owner_one(s, st, pq_bind(st, "t", name), what, out, err);
}

int pq_owner_get_id(struct ztm_store *base, int64_t id, struct ztm_owner_row *out,
                    struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_owner_get_id, err);
	char what[32];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return owner_one(s, st, pq_bind(st, "i", id), what, out, err);
}

int pq_owner_each(struct ztm_store *base, int (*fn)(const struct ztm_owner_row *row, void *arg),
                  void *arg, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_owner_each, err);
	struct ztm_owner_row row;
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	while ((rc = pq_step(st)) == PQ_ROW) {
		if (owner_cols(st, &row) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "owner row does not fit its fields");
			goto out;
		}
		if (fn(&row, arg) != 0)
			break;
	}
	if (rc != PQ_ROW && rc != PQ_DONE) {
		pq_fail(s, err, rc, "listing owners");
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_owner_operator_add(struct ztm_store *base, const char *name, int64_t owner_id, int64_t *id,
                          struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("operator name", name, NAME_MAX_BYTES, 1, err) != 0)
		return -1;
	if (owner_id < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "operator '%s': no owner", name);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_owner_operator_add, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tii", name, owner_id, (int64_t)time(NULL));
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "operator '%s' already exists", name);
		else if (rc == PQ_E_FK)
			ztm_error_set(err, ZTM_E_NOTFOUND, "operator '%s': owner %lld not found",
			              name, (long long)owner_id);
		else
			pq_fail(s, err, rc, "adding operator '%s'", name);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	*id = pq_last_id(s);
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_device_set_owner(struct ztm_store *base, const char *serial, int64_t owner_id,
                        struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("device serial", serial, ZTM_DEV_SERIAL_MAX, 1, err) != 0)
		return -1;
	if (owner_id < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "device %s: no owner", serial);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_device_set_owner, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "tii", serial, owner_id, (int64_t)time(NULL));
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (rc == PQ_E_FK)
			ztm_error_set(err, ZTM_E_NOTFOUND, "device %s: owner %lld not found",
			              serial, (long long)owner_id);
		else
			pq_fail(s, err, rc, "setting the owner of device %s", serial);
		pq_reset(st);
		goto out;
	}
	pq_reset(st);
	if (pq_changes(s) != 1) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", serial);
		goto out;
	}
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_device_each(struct ztm_store *base, int64_t owner_id, int64_t after_id, int64_t limit,
                   int (*fn)(const struct ztm_device_row *row, void *arg), void *arg,
                   struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct ztm_device_row row;
	struct pq_stmt *st;
	int rc, ret = -1;

	if (owner_id < 0 || after_id < 0 || limit < 1)
		return ztm_error_set(err, ZTM_E_USAGE, "device list: bad owner, cursor or limit");
	if ((st = pq_stmt(s, &q_device_each, err)) == NULL)
		return -1;
	rc = pq_bind(st, "iii", owner_id, after_id, limit);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "listing devices");
		goto out;
	}
	while ((rc = pq_step(st)) == PQ_ROW) {
		if (pq_device_cols(st, &row) != 0) {
			ztm_error_set(err, ZTM_E_STORE, "device row does not fit its fields");
			goto out;
		}
		if (fn(&row, arg) != 0)
			break;
	}
	if (rc != PQ_ROW && rc != PQ_DONE) {
		pq_fail(s, err, rc, "listing devices");
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_voucher_add(struct ztm_store *base, int64_t device_id, int64_t owner_id, int64_t created_on,
                   int64_t expires_on, const char *sha256, const char *actor, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("voucher hash", sha256, ZTM_SHA256_HEX, 1, err) != 0 ||
	    store_check_text("actor", actor, 256, 1, err) != 0)
		return -1;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	if (pq_lock(s, PQ_LK_DEVICE_ID, "", device_id, err) != 0)
		goto out;
	st = pq_stmt(s, &q_voucher_add, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "iiiitt", device_id, owner_id, created_on, expires_on, sha256, actor);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "recording a voucher");
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "recording a voucher") != 0)
		goto out;
	if (pq_changes(s) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "device %lld already has a voucher created at or after %lld: a "
		              "device's vouchers must be newer each time (retry in a second)",
		              (long long)device_id, (long long)created_on);
		goto out;
	}
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

int pq_voucher_count(struct ztm_store *base, int64_t device_id, int64_t *n, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st =
	    pq_stmt(s, device_id != 0 ? &q_voucher_count : &q_voucher_count_all, err);
	int rc, ret = -1;

	if (st == NULL)
		return -1;
	rc = device_id != 0 ? pq_bind(st, "i", device_id) : PQ_OK;
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_ROW) {
		*n = pq_col_int64(st, 0);
		ret = 0;
	} else {
		pq_fail(s, err, rc, "counting vouchers");
	}
	pq_reset(st);
	return ret;
}
