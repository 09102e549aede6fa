/* devices_api.c - devices in the REST API (docs/api.md):
 * GET /api/v1/devices[?owner=NAME&after=ID&limit=N] and
 * GET /api/v1/devices/<serial>. An owner's operator sees its owner's
 * devices and nothing else: the list is filtered by its owner in the store,
 * and every row, listed or shown, passes ztmd_authz_device_scope; another
 * owner's device is a 404, like one that does not exist. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "ztm/str.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

struct listing {
	struct ztm_store *store;
	const struct ztmd_peer *peer;
	json_t *devices;
	int64_t last_id, n;
	/* The last owner looked up: a list is mostly one owner's. */
	int64_t owner_id;
	char owner[ZTM_NAME_MAX];
	struct ztm_owner_row *row;
	struct ztm_error err;
	int failed;
};

static int owner_name(struct listing *l, int64_t id, const char **out)
{
	if (id == 0) {
		*out = NULL;
		return 0;
	}
	if (id != l->owner_id) {
		if (ztm_store_owner_get_id(l->store, id, l->row, &l->err) != 0)
			return -1;
		l->owner_id = id;
		ztm_strlcpy(l->owner, l->row->name, sizeof(l->owner));
	}
	*out = l->owner;
	return 0;
}

static json_t *device_json(struct listing *l, const struct ztm_device_row *d)
{
	const char *owner;
	json_t *j;

	if (owner_name(l, d->owner_id, &owner) != 0)
		return NULL;
	j = json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)d->id, "serial",
	              d->serial, "state", ztm_device_state_name(d->state), "product_id",
	              (json_int_t)d->product_id, "cert_serial", d->cert_serial, "key_spki_sha256",
	              d->key_spki_sha256, "created_at", (json_int_t)d->created_at, "updated_at",
	              (json_int_t)d->updated_at);
	if (j != NULL)
		json_object_set_new(j, "owner", owner != NULL ? json_string(owner) : json_null());
	return j;
}

static int add_device(const struct ztm_device_row *d, void *arg)
{
	struct listing *l = arg;
	struct ztm_error scope;
	json_t *j;

	l->last_id = d->id;
	l->n++;
	/* The store filtered by owner already; this keeps the rule in one place. */
	if (ztmd_authz_device_scope(l->peer, d, &scope) != 0)
		return 0;
	j = device_json(l, d);
	if (j == NULL || json_array_append_new(l->devices, j) != 0) {
		if (!l->failed && l->err.code == ZTM_OK)
			ztm_error_set(&l->err, ZTM_E_NOMEM, "device list");
		l->failed = 1;
		return 1;
	}
	return 0;
}

/* ?name=N: an integer in [min, max], else def. */
static int query_int(struct ztmd_req *r, const char *name, int64_t min, int64_t max, int64_t def,
                     int64_t *out, struct ztm_error *err)
{
	const char *v = ztmd_req_query(r, name);
	uint64_t u;

	*out = def;
	if (v == NULL)
		return 0;
	if (ztm_parse_u64(v, (uint64_t)min, (uint64_t)max, &u) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "query '%s': an integer in %lld..%lld", name,
		                     (long long)min, (long long)max);
	*out = (int64_t)u;
	return 0;
}

/* Which owner's devices: an owner's operator always its own (naming another
 * finds nothing); others the ?owner they name, or all. */
static int list_owner(struct listing *l, struct ztmd_req *r, int64_t *owner_id,
                      struct ztm_error *err)
{
	const char *name = ztmd_req_query(r, "owner");

	*owner_id = 0;
	if (name != NULL &&
	    (!admin_valid_name(name) || ztm_store_owner_get(l->store, name, l->row, err) != 0)) {
		if (name != NULL && !admin_valid_name(name))
			ztm_error_set(err, ZTM_E_USAGE, "query 'owner': an owner name");
		return -1;
	}
	if (l->peer->role == ZTM_ROLE_OWNER) {
		if (name != NULL && l->row->id != l->peer->who.owner_id)
			return ztm_error_set(err, ZTM_E_NOTFOUND, "owner '%s' not found", name);
		if (l->peer->who.owner_id < 1)
			return ztm_error_set(err, ZTM_E_NOTFOUND, "no owner");
		*owner_id = l->peer->who.owner_id;
	} else if (name != NULL) {
		*owner_id = l->row->id;
	}
	return 0;
}

static void h_devices(struct ztmd_req *r, void *arg)
{
	struct ztmd_peer peer;
	struct listing l;
	int64_t owner_id, after, limit;
	json_t *j;

	if (app_authorize(arg, r, ZTMD_ACT_DEVICE_READ, &peer) != 0)
		return;
	memset(&l, 0, sizeof(l));
	l.store = ztmd_req_store(r);
	l.peer = &peer;
	l.devices = json_array();
	l.row = malloc(sizeof(*l.row));
	if (l.devices == NULL || l.row == NULL) {
		ztm_error_set(&l.err, ZTM_E_NOMEM, "device list");
		goto fail;
	}
	if (query_int(r, "after", 0, INT64_MAX, 0, &after, &l.err) != 0 ||
	    query_int(r, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit, &l.err) != 0 ||
	    list_owner(&l, r, &owner_id, &l.err) != 0)
		goto fail;
	if (ztm_store_device_each(l.store, owner_id, after, limit, add_device, &l, &l.err) != 0 ||
	    l.failed)
		goto fail;
	j = json_pack("{s:O}", "devices", l.devices);
	/* A full page may have more behind it: the cursor for the next one. */
	json_object_set_new(j, "next_after",
	                    l.n == limit ? json_integer((json_int_t)l.last_id) : json_null());
	json_decref(l.devices);
	free(l.row);
	admin_reply_json(r, 200, j);
	return;
fail:
	json_decref(l.devices);
	free(l.row);
	ztmd_reply_error(r, app_status_for(l.err.code), &l.err);
}

/* GET /api/v1/devices/<serial> */
static void h_device_get(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/devices/";
	const char *serial = ztmd_req_path(r) + sizeof(prefix) - 1;
	struct ztm_device_row d;
	struct ztmd_peer peer;
	struct listing l;
	json_t *j;

	if (app_authorize(arg, r, ZTMD_ACT_DEVICE_READ, &peer) != 0)
		return;
	memset(&l, 0, sizeof(l));
	l.store = ztmd_req_store(r);
	l.peer = &peer;
	if ((l.row = malloc(sizeof(*l.row))) == NULL) {
		ztm_error_set(&l.err, ZTM_E_NOMEM, "device");
		goto fail;
	}
	if (serial[0] == '\0' || strlen(serial) >= ZTM_DEV_SERIAL_MAX) {
		ztm_error_set(&l.err, ZTM_E_NOTFOUND, "want /api/v1/devices/<serial>");
		goto fail;
	}
	if (ztm_store_device_get(l.store, serial, &d, &l.err) != 0 ||
	    ztmd_authz_device_scope(&peer, &d, &l.err) != 0)
		goto fail;
	if ((j = device_json(&l, &d)) == NULL) {
		if (l.err.code == ZTM_OK)
			ztm_error_set(&l.err, ZTM_E_NOMEM, "device");
		goto fail;
	}
	free(l.row);
	admin_reply_json(r, 200, j);
	return;
fail:
	free(l.row);
	ztmd_reply_error(r, app_status_for(l.err.code), &l.err);
}

size_t devices_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_GET, "/api/v1/devices", 0, h_devices, app},
	    {ZTMD_GET, "/api/v1/devices/", 1, h_device_get, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
