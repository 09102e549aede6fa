/* admin_prod.c - the production plan in the admin REST API: products and
 * work orders (docs/api.md). Writes are store jobs in the group commit,
 * audited with the operator; the reply carries the row as stored, read back
 * in the same job. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/key.h"
#include "ztm/str.h"

#define DEFAULT_LIFETIME_DAYS 3650
#define DEFAULT_RENEW_WINDOW  30 /* days before notAfter a device may renew */
#define RENEW_WINDOW_MAX      36500
#define RENEW_GRACE_MAX       3650
#define TIME_MAX              253402300799LL /* 9999-12-31T23:59:59Z */

enum prod_kind { OP_PRODUCT_ADD, OP_ORDER_ADD, OP_ORDER_CLOSE, OP_PRODUCT_POLICY };

struct prod_op {
	enum prod_kind kind;
	char actor[160];
	char product[65], factory[65]; /* order add: by name */
	struct ztm_product_row p;
	struct ztm_order_row o;
	int key_storage; /* policy: an enum ztm_key_storage, or -1 to keep */
};

static const char *const key_kind_names[] = {"p256", "p384", "ed25519", "rsa3072"};
#define N_KEY_KINDS (sizeof(key_kind_names) / sizeof(key_kind_names[0]))

/* Refuses a body key not in the list: a typo must not be silently ignored. */
int admin_only_fields(json_t *j, const char *const *allowed, struct ztm_error *err)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(j, key, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return ztm_error_set(err, ZTM_E_USAGE, "unknown field '%.64s'", key);
	}
	return 0;
}

/* An optional integer field in [min, max], else def. */
static int field_int(json_t *j, const char *key, int64_t min, int64_t max, int64_t def,
                     int64_t *out, struct ztm_error *err)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL) {
		*out = def;
		if (def < min)
			return ztm_error_set(err, ZTM_E_USAGE, "field '%s' (integer) is required",
			                     key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return ztm_error_set(err, ZTM_E_USAGE, "field '%s': an integer in %lld..%lld", key,
		                     (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* An optional integer field in [min, max]; absent -> -1 ("keep"). */
static int field_opt(json_t *j, const char *key, int64_t min, int64_t max, int64_t *out,
                     struct ztm_error *err)
{
	*out = -1;
	if (json_object_get(j, key) == NULL)
		return 0;
	return field_int(j, key, min, max, min, out, err);
}

static int field_bool(json_t *j, const char *key, int *out, struct ztm_error *err)
{
	json_t *v = json_object_get(j, key);

	*out = 0;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return ztm_error_set(err, ZTM_E_USAGE, "field '%s': true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* "key_storage": "any" (the default) or "tpm" (docs/attestation.md). */
static int field_key_storage(json_t *j, enum ztm_key_storage *out, struct ztm_error *err)
{
	json_t *v = json_object_get(j, "key_storage");

	*out = ZTM_KEY_STORAGE_ANY;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || ztm_key_storage_parse(json_string_value(v), out, NULL) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "field 'key_storage': \"any\" or \"tpm\"");
	return 0;
}

/* "key_types": ["p256", "ed25519"] -> bitmask (1 << enum ztm_key_alg);
 * absent -> p256 only. */
static int field_key_types(json_t *j, unsigned *out, struct ztm_error *err)
{
	json_t *arr = json_object_get(j, "key_types"), *v;
	enum ztm_key_alg alg;
	size_t i;

	*out = 0;
	if (arr == NULL) {
		*out = 1u << ZTM_KEY_P256;
		return 0;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		goto bad;
	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(v);
		if (name == NULL || ztm_key_alg_parse(name, &alg) != 0 ||
		    (unsigned)alg >= N_KEY_KINDS)
			goto bad;
		*out |= 1u << alg;
	}
	return 0;
bad:
	return ztm_error_set(err, ZTM_E_USAGE,
	                     "field 'key_types': a non-empty list of p256, p384, ed25519, rsa3072");
}

static int digits(const char *s, size_t n, int *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

/* RFC 3339 in UTC, whole seconds: "2025-01-31T00:00:00Z". A date that does
 * not exist (February 30) is refused: it must survive the round trip. */
static int parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm, back;
	int y, mo, d, h, mi, sec;
	time_t t;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':' || (s[19] != 'Z' && s[19] != 'z'))
		return -1;
	if (digits(s, 4, &y) != 0 || digits(s + 5, 2, &mo) != 0 || digits(s + 8, 2, &d) != 0 ||
	    digits(s + 11, 2, &h) != 0 || digits(s + 14, 2, &mi) != 0 ||
	    digits(s + 17, 2, &sec) != 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d ||
	    back.tm_mon != mo - 1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

int admin_field_time(json_t *j, const char *key, int64_t def, int64_t *out, struct ztm_error *err)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL && def >= 0) {
		*out = def;
		return 0;
	}
	if (v != NULL && json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= TIME_MAX) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (v != NULL && json_is_string(v) && parse_rfc3339(json_string_value(v), out) == 0)
		return 0;
	return ztm_error_set(err, ZTM_E_USAGE,
	                     "field '%s': Unix seconds or an RFC 3339 UTC time like "
	                     "2025-01-31T00:00:00Z",
	                     key);
}

static json_t *product_json(const struct ztm_product_row *p)
{
	json_t *kinds = json_array();
	size_t i;

	for (i = 0; i < N_KEY_KINDS; i++)
		if (p->key_kinds & (1u << i))
			json_array_append_new(kinds, json_string(key_kind_names[i]));
	return json_pack(
	    "{s:I,s:s,s:s,s:I,s:o,s:b,s:b,s:s,s:I,s:I,s:s,s:I}", "id", (json_int_t)p->id, "name",
	    p->name, "device_class", p->device_class, "lifetime_days", (json_int_t)p->lifetime_days,
	    "key_types", kinds, "require_fw_hash", p->require_fw_hash, "allow_injected",
	    p->allow_injected, "hw_type_oid", p->hw_type_oid, "renew_window_days",
	    (json_int_t)p->renew_window_days, "renew_grace_days", (json_int_t)p->renew_grace_days,
	    "key_storage", ztm_key_storage_name(p->key_storage), "created_at",
	    (json_int_t)p->created_at);
}

static json_t *order_json(const struct ztm_order_row *o)
{
	return json_pack(
	    "{s:I,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "id", (json_int_t)o->id, "name",
	    o->name, "product", o->product, "factory", o->factory, "quota", (json_int_t)o->quota,
	    "recorded", (json_int_t)o->recorded, "registered", (json_int_t)o->registered,
	    "not_before", (json_int_t)o->not_before, "not_after", (json_int_t)o->not_after, "state",
	    o->state == ZTM_ORDER_OPEN ? "open" : "closed", "closed_at", (json_int_t)o->closed_at,
	    "created_at", (json_int_t)o->created_at);
}

static int job_product_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct prod_op *op = arg;
	char detail[320];

	if (ztm_store_product_add(s, &op->p, &op->p.id, err) != 0 ||
	    ztm_store_product_get(s, op->p.name, &op->p, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail),
	         "class=%s lifetime_days=%lld key_kinds=0x%x require_fw_hash=%d "
	         "allow_injected=%d hw_type=%s renew_window_days=%lld renew_grace_days=%lld "
	         "key_storage=%s",
	         op->p.device_class, (long long)op->p.lifetime_days, op->p.key_kinds,
	         op->p.require_fw_hash, op->p.allow_injected, op->p.hw_type_oid,
	         (long long)op->p.renew_window_days, (long long)op->p.renew_grace_days,
	         ztm_key_storage_name(op->p.key_storage));
	return ztm_store_audit(s, op->actor, "product.add", op->p.name, "ok", detail, err);
}

/* The certificate policy of a product (lifetime, renewal window, grace);
 * fields left out keep their value (-1 here). */
static int job_product_policy(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct prod_op *op = arg;
	char detail[192];

	if (ztm_store_product_set_policy(s, op->p.name, op->p.lifetime_days,
	                                 op->p.renew_window_days, op->p.renew_grace_days,
	                                 op->key_storage, err) != 0 ||
	    ztm_store_product_get(s, op->p.name, &op->p, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail),
	         "lifetime_days=%lld renew_window_days=%lld renew_grace_days=%lld "
	         "key_storage=%s",
	         (long long)op->p.lifetime_days, (long long)op->p.renew_window_days,
	         (long long)op->p.renew_grace_days, ztm_key_storage_name(op->p.key_storage));
	return ztm_store_audit(s, op->actor, "product.policy", op->p.name, "ok", detail, err);
}

static int job_order_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct prod_op *op = arg;
	struct ztm_product_row p;
	char detail[256];

	if (ztm_store_product_get(s, op->product, &p, err) != 0 ||
	    ztm_store_factory_get(s, op->factory, &op->o.factory_id, err) != 0)
		return -1;
	op->o.product_id = p.id;
	if (ztm_store_order_add(s, &op->o, &op->o.id, err) != 0 ||
	    ztm_store_order_get(s, op->o.name, &op->o, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "product=%s factory=%s quota=%lld window=%lld..%lld",
	         op->product, op->factory, (long long)op->o.quota, (long long)op->o.not_before,
	         (long long)op->o.not_after);
	return ztm_store_audit(s, op->actor, "order.add", op->o.name, "ok", detail, err);
}

static int job_order_close(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct prod_op *op = arg;
	char detail[96];

	if (ztm_store_order_close(s, op->o.name, (int64_t)time(NULL), err) != 0 ||
	    ztm_store_order_get(s, op->o.name, &op->o, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "recorded=%lld registered=%lld quota=%lld",
	         (long long)op->o.recorded, (long long)op->o.registered, (long long)op->o.quota);
	return ztm_store_audit(s, op->actor, "order.close", op->o.name, "ok", detail, err);
}

static void done_prod(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct prod_op *op = arg;

	if (rc != 0)
		ztmd_reply_error(r, app_status_for(err->code), err);
	else if (op->kind == OP_PRODUCT_ADD)
		admin_reply_json(r, 201, product_json(&op->p));
	else if (op->kind == OP_PRODUCT_POLICY)
		admin_reply_json(r, 200, product_json(&op->p));
	else
		admin_reply_json(r, op->kind == OP_ORDER_ADD ? 201 : 200, order_json(&op->o));
	free(op);
}

static int parse_product(json_t *j, struct prod_op *op, struct ztm_error *err)
{
	static const char *const fields[] = {"name",
	                                     "device_class",
	                                     "lifetime_days",
	                                     "key_types",
	                                     "allow_injected",
	                                     "require_fw_hash",
	                                     "hw_type_oid",
	                                     "renew_window_days",
	                                     "renew_grace_days",
	                                     "key_storage",
	                                     NULL};
	const char *oid = json_string_value(json_object_get(j, "hw_type_oid"));

	if (admin_only_fields(j, fields, err) != 0 ||
	    admin_field_name(j, "name", op->p.name, sizeof(op->p.name), err) != 0 ||
	    admin_field_name(j, "device_class", op->p.device_class, sizeof(op->p.device_class),
	                     err) != 0 ||
	    field_int(j, "lifetime_days", 1, 36500, DEFAULT_LIFETIME_DAYS, &op->p.lifetime_days,
	              err) != 0 ||
	    field_key_types(j, &op->p.key_kinds, err) != 0 ||
	    field_bool(j, "require_fw_hash", &op->p.require_fw_hash, err) != 0 ||
	    field_bool(j, "allow_injected", &op->p.allow_injected, err) != 0 ||
	    field_int(j, "renew_window_days", 0, RENEW_WINDOW_MAX, DEFAULT_RENEW_WINDOW,
	              &op->p.renew_window_days, err) != 0 ||
	    field_int(j, "renew_grace_days", 0, RENEW_GRACE_MAX, 0, &op->p.renew_grace_days, err) !=
	        0 ||
	    field_key_storage(j, &op->p.key_storage, err) != 0)
		return -1;
	/* the store checks it is a dotted OID */
	if (oid == NULL || ztm_strlcpy(op->p.hw_type_oid, oid, sizeof(op->p.hw_type_oid)) != 0)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field 'hw_type_oid': a dotted OID like 1.3.6.1.4.1.99999.1");
	return 0;
}

/* {"lifetime_days": D, "renew_window_days": W, "renew_grace_days": G,
 * "key_storage": "any"|"tpm"}, at least one; absent ones keep their value. */
static int parse_policy(json_t *j, struct prod_op *op, struct ztm_error *err)
{
	static const char *const fields[] = {"lifetime_days", "renew_window_days",
	                                     "renew_grace_days", "key_storage", NULL};

	if (admin_only_fields(j, fields, err) != 0)
		return -1;
	if (json_object_size(j) == 0)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "set at least one of lifetime_days, renew_window_days, "
		                     "renew_grace_days, key_storage");
	op->key_storage = -1;
	if (json_object_get(j, "key_storage") != NULL) {
		if (field_key_storage(j, &op->p.key_storage, err) != 0)
			return -1;
		op->key_storage = (int)op->p.key_storage;
	}
	return field_opt(j, "lifetime_days", 1, 36500, &op->p.lifetime_days, err) != 0 ||
	               field_opt(j, "renew_window_days", 0, RENEW_WINDOW_MAX,
	                         &op->p.renew_window_days, err) != 0 ||
	               field_opt(j, "renew_grace_days", 0, RENEW_GRACE_MAX, &op->p.renew_grace_days,
	                         err) != 0
	           ? -1
	           : 0;
}

static int parse_order(json_t *j, struct prod_op *op, struct ztm_error *err)
{
	static const char *const fields[] = {"name",       "product",   "factory", "quota",
	                                     "not_before", "not_after", NULL};

	if (admin_only_fields(j, fields, err) != 0 ||
	    admin_field_name(j, "name", op->o.name, sizeof(op->o.name), err) != 0 ||
	    admin_field_name(j, "product", op->product, sizeof(op->product), err) != 0 ||
	    admin_field_name(j, "factory", op->factory, sizeof(op->factory), err) != 0 ||
	    field_int(j, "quota", 1, 1000000000, -1, &op->o.quota, err) != 0 ||
	    admin_field_time(j, "not_before", (int64_t)time(NULL), &op->o.not_before, err) != 0 ||
	    admin_field_time(j, "not_after", -1, &op->o.not_after, err) != 0)
		return -1;
	if (op->o.not_after <= op->o.not_before)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "order window: not_after must be after "
		                     "not_before");
	return 0;
}

/* Authorizes, parses the body (if any) and queues the job. */
static void prod_write(struct ztmd_req *r, struct ztmd_app *app, enum ztmd_action action,
                       enum prod_kind kind, const char *path_name)
{
	struct ztmd_peer peer;
	struct prod_op *op;
	struct ztm_error err;
	json_t *j = NULL;
	ztmd_job_fn job;

	if (app_authorize(app, r, action, &peer) != 0)
		return;
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	op->kind = kind;
	admin_actor_of(&peer, op->actor, sizeof(op->actor));
	if (kind == OP_ORDER_CLOSE) {
		ztm_strlcpy(op->o.name, path_name, sizeof(op->o.name));
		job = job_order_close;
	} else if (kind == OP_PRODUCT_POLICY) {
		ztm_strlcpy(op->p.name, path_name, sizeof(op->p.name));
		j = admin_read_object(r, &err);
		if (j == NULL || parse_policy(j, op, &err) != 0)
			goto fail;
		job = job_product_policy;
		json_decref(j);
	} else {
		j = admin_read_object(r, &err);
		if (j == NULL)
			goto fail;
		if (kind == OP_PRODUCT_ADD ? parse_product(j, op, &err) != 0
		                           : parse_order(j, op, &err) != 0)
			goto fail;
		job = kind == OP_PRODUCT_ADD ? job_product_add : job_order_add;
		json_decref(j);
	}
	ztmd_req_defer(r, job, op, done_prod);
	return;
fail:
	json_decref(j);
	free(op);
	ztmd_reply_error(r, app_status_for(err.code), &err);
}

static void h_products(struct ztmd_req *r, void *arg)
{
	prod_write(r, arg, ZTMD_ACT_PRODUCT_WRITE, OP_PRODUCT_ADD, NULL);
}

static void h_orders(struct ztmd_req *r, void *arg)
{
	prod_write(r, arg, ZTMD_ACT_ORDER_WRITE, OP_ORDER_ADD, NULL);
}

static void not_found(struct ztmd_req *r, const char *want)
{
	struct ztm_error err;

	ztm_error_set(&err, ZTM_E_NOTFOUND, "want %s", want);
	ztmd_reply_error(r, 404, &err);
}

/* GET /api/v1/products/<name>, POST /api/v1/products/<name>/policy */
static void h_product_get(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/products/", suffix[] = "/policy";
	const char *name = ztmd_req_path(r) + sizeof(prefix) - 1;
	size_t n = strlen(name), sl = sizeof(suffix) - 1;
	struct ztm_product_row p;
	struct ztmd_peer peer;
	struct ztm_error err;
	char pname[65];

	if (ztmd_req_method(r) == ZTMD_POST) {
		if (n <= sl || strcmp(name + n - sl, suffix) != 0 || n - sl >= sizeof(pname)) {
			if (app_authorize(arg, r, ZTMD_ACT_PRODUCT_WRITE, &peer) == 0)
				not_found(r, "POST /api/v1/products/<name>/policy");
			return;
		}
		memcpy(pname, name, n - sl);
		pname[n - sl] = '\0';
		if (!admin_valid_name(pname)) {
			if (app_authorize(arg, r, ZTMD_ACT_PRODUCT_WRITE, &peer) == 0)
				not_found(r, "POST /api/v1/products/<name>/policy");
			return;
		}
		prod_write(r, arg, ZTMD_ACT_PRODUCT_WRITE, OP_PRODUCT_POLICY, pname);
		return;
	}

	if (app_authorize(arg, r, ZTMD_ACT_PRODUCT_READ, &peer) != 0)
		return;
	if (!admin_valid_name(name)) {
		not_found(r, "/api/v1/products/<name>");
		return;
	}
	if (ztm_store_product_get(ztmd_req_store(r), name, &p, &err) != 0) {
		ztmd_reply_error(r, app_status_for(err.code), &err);
		return;
	}
	admin_reply_json(r, 200, product_json(&p));
}

/* GET /api/v1/orders/<name>, POST /api/v1/orders/<name>/close */
static void h_order_path(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/orders/";
	static const char close_suffix[] = "/close";
	const char *rest = ztmd_req_path(r) + sizeof(prefix) - 1;
	size_t n = strlen(rest), sl = sizeof(close_suffix) - 1;
	struct ztm_order_row o;
	struct ztmd_peer peer;
	struct ztm_error err;
	char name[65];

	if (ztmd_req_method(r) == ZTMD_POST) {
		if (n <= sl || strcmp(rest + n - sl, close_suffix) != 0 || n - sl >= sizeof(name)) {
			if (app_authorize(arg, r, ZTMD_ACT_ORDER_WRITE, &peer) == 0)
				not_found(r, "POST /api/v1/orders/<name>/close");
			return;
		}
		memcpy(name, rest, n - sl);
		name[n - sl] = '\0';
		if (!admin_valid_name(name)) {
			if (app_authorize(arg, r, ZTMD_ACT_ORDER_WRITE, &peer) == 0)
				not_found(r, "POST /api/v1/orders/<name>/close");
			return;
		}
		prod_write(r, arg, ZTMD_ACT_ORDER_WRITE, OP_ORDER_CLOSE, name);
		return;
	}
	if (app_authorize(arg, r, ZTMD_ACT_ORDER_READ, &peer) != 0)
		return;
	if (!admin_valid_name(rest)) {
		not_found(r, "/api/v1/orders/<name>");
		return;
	}
	if (ztm_store_order_get(ztmd_req_store(r), rest, &o, &err) != 0) {
		ztmd_reply_error(r, app_status_for(err.code), &err);
		return;
	}
	admin_reply_json(r, 200, order_json(&o));
}

size_t admin_prod_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_POST, "/api/v1/products", 0, h_products, app},
	    {ZTMD_GET | ZTMD_POST, "/api/v1/products/", 1, h_product_get, app},
	    {ZTMD_POST, "/api/v1/orders", 0, h_orders, app},
	    {ZTMD_GET | ZTMD_POST, "/api/v1/orders/", 1, h_order_path, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
