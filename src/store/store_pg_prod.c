/* store_pg_prod.c - products and work orders in the PostgreSQL store, and
 * the two quota operations the manufacturing flow rests on (docs/store.md,
 * "Production model").
 *
 * A quota is taken with one conditional UPDATE (counter < quota, order open,
 * now in the window): a second writer of the same order (another node) waits
 * for the first's row lock and re-checks the condition on the row it
 * committed (READ COMMITTED), so two nodes can never both take the last slot. When it changes
 * nothing, a read of the order in the same transaction says why. */
#include "store_pg.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUOTA_MAX    1000000000LL
#define LIFETIME_MAX 36500 /* days: 100 years */
#define GRACE_MAX    3650  /* days after expiry a device may still renew */

static const struct pq_query q_product_add = {
    PQ_PRODUCT_ADD,
    "INSERT INTO products (name, device_class, lifetime_days, key_kinds, require_fw_hash,"
    " allow_injected, hw_type_oid, created_at, renew_window_days, renew_grace_days,"
    " key_storage)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    PQ_RET_ID};
static const struct pq_query q_product_get = {
    PQ_PRODUCT_GET,
    "SELECT id, name, device_class, lifetime_days, key_kinds, require_fw_hash,"
    " allow_injected, hw_type_oid, created_at, renew_window_days,"
    " renew_grace_days, key_storage FROM products WHERE name = $1",
    0};
static const struct pq_query q_product_get_id = {
    PQ_PRODUCT_GET_ID,
    "SELECT id, name, device_class, lifetime_days, key_kinds, require_fw_hash,"
    " allow_injected, hw_type_oid, created_at, renew_window_days,"
    " renew_grace_days, key_storage FROM products WHERE id = $1",
    0};
static const struct pq_query q_order_add = {
    PQ_ORDER_ADD,
    "INSERT INTO work_orders (name, product_id, factory_id, quota, not_before,"
    " not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    PQ_RET_ID};
#define ORDER_SELECT                                                                               \
	"SELECT o.id, o.name, o.product_id, p.name, o.factory_id, f.name, o.quota, o.recorded,"    \
	" o.registered, o.not_before, o.not_after, o.state, o.closed_at, o.created_at"             \
	" FROM work_orders o JOIN products p ON p.id = o.product_id"                               \
	" JOIN factories f ON f.id = o.factory_id "
static const struct pq_query q_order_get = {PQ_ORDER_GET, ORDER_SELECT "WHERE o.name = $1", 0};
static const struct pq_query q_order_get_id = {PQ_ORDER_GET_ID, ORDER_SELECT "WHERE o.id = $1", 0};
static const struct pq_query q_order_close = {
    PQ_ORDER_CLOSE,
    "UPDATE work_orders SET state = 'closed', closed_at = $2"
    " WHERE name = $1 AND state = 'open'",
    0};
#define TAKE_WHERE " WHERE id = $1 AND state = 'open' AND not_before <= $2 AND $2 < not_after"
static const struct pq_query q_take_record = {
    PQ_ORDER_TAKE_RECORD,
    "UPDATE work_orders SET recorded = recorded + $3" TAKE_WHERE " AND recorded + $3 <= quota", 0};
static const struct pq_query q_take_reg = {
    PQ_ORDER_TAKE_REG,
    "UPDATE work_orders SET registered = registered + $3" TAKE_WHERE
    " AND registered + $3 <= quota",
    0};

/* A dotted OID of at least two arcs: "1.3.6.1.4.1.99999.1". */
static int valid_oid(const char *s)
{
	size_t i, n = strlen(s), arcs = 1;

	if (n < 3 || n > 63 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
			arcs++;
		} else if (s[i] < '0' || s[i] > '9') {
			return 0;
		}
	}
	return arcs >= 2;
}

static int check_product(const struct ztm_product_row *r, struct ztm_error *err)
{
	if (store_check_text("product name", r->name, sizeof(r->name), 1, err) != 0 ||
	    store_check_text("device class", r->device_class, sizeof(r->device_class), 1, err) !=
	        0 ||
	    store_check_text("hardware type OID", r->hw_type_oid, sizeof(r->hw_type_oid), 1, err) !=
	        0)
		return -1;
	if (r->lifetime_days < 1 || r->lifetime_days > LIFETIME_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "product '%s': lifetime %lld days not in 1..%d", r->name,
		                     (long long)r->lifetime_days, LIFETIME_MAX);
	if (r->key_kinds < 1 || r->key_kinds > 15)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "product '%s': no or unknown key kinds (0x%x)", r->name,
		                     r->key_kinds);
	if ((r->require_fw_hash != 0 && r->require_fw_hash != 1) ||
	    (r->allow_injected != 0 && r->allow_injected != 1))
		return ztm_error_set(err, ZTM_E_USAGE, "product '%s': flags must be 0 or 1",
		                     r->name);
	if (r->renew_window_days < 0 || r->renew_window_days > LIFETIME_MAX ||
	    r->renew_grace_days < 0 || r->renew_grace_days > GRACE_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "product '%s': renewal window 0..%d days, grace 0..%d days",
		                     r->name, LIFETIME_MAX, GRACE_MAX);
	if (ztm_key_storage_name(r->key_storage) == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "product '%s': unknown key storage %d",
		                     r->name, (int)r->key_storage);
	if (!valid_oid(r->hw_type_oid))
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "product '%s': hardware type '%s' is not a dotted OID",
		                     r->name, r->hw_type_oid);
	return 0;
}

/* Steps an INSERT and reports a taken name or a missing referent. */
static int insert_step(struct pq_store *s, struct pq_stmt *st, int rc, const char *what,
                       const char *name, int64_t *id, struct ztm_error *err)
{
	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc != PQ_DONE) {
		if (rc == PQ_E_FK)
			ztm_error_set(err, ZTM_E_NOTFOUND, "%s '%s': product or factory not found",
			              what, name);
		else if (pq_is_unique(rc))
			ztm_error_set(err, ZTM_E_EXISTS, "%s '%s' already exists", what, name);
		else
			pq_fail(s, err, rc, "adding %s '%s'", what, name);
		pq_reset(st);
		return -1;
	}
	pq_reset(st);
	*id = pq_last_id(s);
	return 0;
}

int pq_product_add(struct ztm_store *base, const struct ztm_product_row *row, int64_t *id,
                   struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, ret = -1;

	if (check_product(row, err) != 0)
		return -1;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_product_add, err);
	if (st != NULL)
		ret = insert_step(
		    s, st,
		    pq_bind(st, "ttiiiitiiit", row->name, row->device_class, row->lifetime_days,
		            (int64_t)row->key_kinds, (int64_t)row->require_fw_hash,
		            (int64_t)row->allow_injected, row->hw_type_oid, (int64_t)time(NULL),
		            row->renew_window_days, row->renew_grace_days,
		            ztm_key_storage_name(row->key_storage)),
		    "product", row->name, id, err);
	return pq_wend(s, own, ret, err);
}

/* The product row st was bound for, read into out; what names it. */
static int product_read(struct pq_store *s, struct pq_stmt *st, int rc, const char *what,
                        struct ztm_product_row *out, struct ztm_error *err)
{
	char ks[8];
	int bad = 0, ret = -1;

	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "product %s not found", what);
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up product %s", what);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = pq_col_int64(st, 0);
	bad |= pq_col_text(st, 1, out->name, sizeof(out->name));
	bad |= pq_col_text(st, 2, out->device_class, sizeof(out->device_class));
	out->lifetime_days = pq_col_int64(st, 3);
	out->key_kinds = (unsigned)pq_col_int(st, 4);
	out->require_fw_hash = pq_col_int(st, 5) != 0;
	out->allow_injected = pq_col_int(st, 6) != 0;
	bad |= pq_col_text(st, 7, out->hw_type_oid, sizeof(out->hw_type_oid));
	out->created_at = pq_col_int64(st, 8);
	out->renew_window_days = pq_col_int64(st, 9);
	out->renew_grace_days = pq_col_int64(st, 10);
	bad |= pq_col_text(st, 11, ks, sizeof(ks));
	if (!bad && ztm_key_storage_parse(ks, &out->key_storage, NULL) != 0)
		bad = 1;
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "product %s: row does not fit its fields", what);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_product_get(struct ztm_store *base, const char *name, struct ztm_product_row *out,
                   struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	char what[ZTM_NAME_MAX + 2];

	if (store_check_text("product name", name, ZTM_NAME_MAX, 1, err) != 0)
		return -1;
	st = pq_stmt(s, &q_product_get, err);
	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "'%s'", name);
	return product_read(s, st, pq_bind(st, "t", name), what, out, err);
}

int pq_product_get_id(struct ztm_store *base, int64_t id, struct ztm_product_row *out,
                      struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_product_get_id, err);
	char what[32];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return product_read(s, st, pq_bind(st, "i", id), what, out, err);
}

int pq_order_add(struct ztm_store *base, const struct ztm_order_row *row, int64_t *id,
                 struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	int own, ret = -1;

	if (store_check_text("order name", row->name, sizeof(row->name), 1, err) != 0)
		return -1;
	if (row->quota < 1 || row->quota > QUOTA_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "order '%s': quota %lld not in 1..%lld",
		                     row->name, (long long)row->quota, QUOTA_MAX);
	if (row->not_after <= row->not_before)
		return ztm_error_set(
		    err, ZTM_E_USAGE, "order '%s': window ends (%lld) before it begins (%lld)",
		    row->name, (long long)row->not_after, (long long)row->not_before);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_order_add, err);
	if (st != NULL)
		ret = insert_step(s, st,
		                  pq_bind(st, "tiiiiii", row->name, row->product_id,
		                          row->factory_id, row->quota, row->not_before,
		                          row->not_after, (int64_t)time(NULL)),
		                  "order", row->name, id, err);
	return pq_wend(s, own, ret, err);
}

/* Runs an order SELECT (bound already) and reads its one row. */
static int order_read(struct pq_store *s, struct pq_stmt *st, int rc, const char *what,
                      struct ztm_order_row *out, struct ztm_error *err)
{
	const unsigned char *state;
	int bad = 0, ret = -1;

	if (rc == PQ_OK)
		rc = pq_step(st);
	if (rc == PQ_DONE) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "order %s not found", what);
		goto out;
	}
	if (rc != PQ_ROW) {
		pq_fail(s, err, rc, "looking up order %s", what);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->id = pq_col_int64(st, 0);
	bad |= pq_col_text(st, 1, out->name, sizeof(out->name));
	out->product_id = pq_col_int64(st, 2);
	bad |= pq_col_text(st, 3, out->product, sizeof(out->product));
	out->factory_id = pq_col_int64(st, 4);
	bad |= pq_col_text(st, 5, out->factory, sizeof(out->factory));
	out->quota = pq_col_int64(st, 6);
	out->recorded = pq_col_int64(st, 7);
	out->registered = pq_col_int64(st, 8);
	out->not_before = pq_col_int64(st, 9);
	out->not_after = pq_col_int64(st, 10);
	state = pq_col_textp(st, 11);
	if (state != NULL && strcmp((const char *)state, "open") == 0)
		out->state = ZTM_ORDER_OPEN;
	else if (state != NULL && strcmp((const char *)state, "closed") == 0)
		out->state = ZTM_ORDER_CLOSED;
	else
		bad = -1;
	out->closed_at = pq_col_int64(st, 12);
	out->created_at = pq_col_int64(st, 13);
	if (bad) {
		ztm_error_set(err, ZTM_E_STORE, "order %s: row does not fit its fields", what);
		goto out;
	}
	ret = 0;
out:
	pq_reset(st);
	return ret;
}

int pq_order_get(struct ztm_store *base, const char *name, struct ztm_order_row *out,
                 struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st;
	char what[ZTM_NAME_MAX + 2];

	if (store_check_text("order name", name, ZTM_NAME_MAX, 1, err) != 0)
		return -1;
	st = pq_stmt(s, &q_order_get, err);
	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "'%s'", name);
	return order_read(s, st, pq_bind(st, "t", name), what, out, err);
}

int pq_order_get_id(struct ztm_store *base, int64_t id, struct ztm_order_row *out,
                    struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct pq_stmt *st = pq_stmt(s, &q_order_get_id, err);
	char what[32];

	if (st == NULL)
		return -1;
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return order_read(s, st, pq_bind(st, "i", id), what, out, err);
}

int pq_order_close(struct ztm_store *base, const char *name, int64_t when, struct ztm_error *err)
{
	struct pq_store *s = pq_of(base);
	struct ztm_order_row row;
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (store_check_text("order name", name, ZTM_NAME_MAX, 1, err) != 0)
		return -1;
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, &q_order_close, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "ti", name, when);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "closing order '%s'", name);
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "closing order") != 0)
		goto out;
	/* Nothing changed: unknown (an error) or closed already (fine). */
	if (pq_changes(s) == 0 && pq_order_get(base, name, &row, err) != 0)
		goto out;
	ret = 0;
out:
	return pq_wend(s, own, ret, err);
}

/* Takes n units of a counter, all or none; on refusal reads the order to
 * say why. */
static int take(struct pq_store *s, const struct pq_query *q, const char *counter, int64_t order_id,
                int64_t n, int64_t now, struct ztm_error *err)
{
	struct ztm_order_row row;
	struct pq_stmt *st;
	int own, rc, ret = -1;

	if (n < 1 || n > INT32_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "taking %lld %s slots", (long long)n,
		                     counter);
	if (pq_wbegin(s, &own, err) != 0)
		return -1;
	st = pq_stmt(s, q, err);
	if (st == NULL)
		goto out;
	rc = pq_bind(st, "iii", order_id, now, n);
	if (rc != PQ_OK) {
		pq_fail(s, err, rc, "taking %s slot of order %lld", counter, (long long)order_id);
		pq_reset(st);
		goto out;
	}
	if (pq_step_done(s, st, err, "taking an order slot") != 0)
		goto out;
	if (pq_changes(s) == 1) {
		ret = 0;
		goto out;
	}
	if (pq_order_get_id(&s->base, order_id, &row, err) != 0)
		goto out;
	if (row.state != ZTM_ORDER_OPEN)
		ztm_error_set(err, ZTM_E_POLICY, "order '%s' is closed", row.name);
	else if (now < row.not_before || now >= row.not_after)
		ztm_error_set(err, ZTM_E_POLICY, "order '%s' is outside its window", row.name);
	else if (n == 1)
		ztm_error_set(err, ZTM_E_POLICY, "order '%s': %s quota exhausted (%lld)", row.name,
		              counter, (long long)row.quota);
	else
		ztm_error_set(err, ZTM_E_POLICY,
		              "order '%s': %s quota exhausted (%lld, %lld taken, %lld more asked)",
		              row.name, counter, (long long)row.quota,
		              (long long)(q == &q_take_reg ? row.registered : row.recorded),
		              (long long)n);
out:
	return pq_wend(s, own, ret, err);
}

int pq_order_take_record_slots(struct ztm_store *base, int64_t order_id, int64_t n, int64_t now,
                               struct ztm_error *err)
{
	return take(pq_of(base), &q_take_record, "record", order_id, n, now, err);
}

int pq_order_take_registration(struct ztm_store *base, int64_t order_id, int64_t now,
                               struct ztm_error *err)
{
	return take(pq_of(base), &q_take_reg, "registration", order_id, 1, now, err);
}
