/* revoke.c - revocation operations in the admin REST API (docs/api.md,
 * docs/revocation.md): revoke a certificate or a device, suspend and resume
 * a device, and mass revocation by station or work order, which one
 * operator requests and a different security officer approves (DESIGN 4).
 *
 * Every operation is one store job in the group commit with its audit
 * entry naming the operator; every refusal is audited by app_refuse. The
 * CRL of the touched shards is rebuilt by the background task (crl_srv.c),
 * which a successful operation wakes at once in this worker. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/str.h"

enum rev_kind {
	REV_CERT,
	REV_DEVICE,
	REV_SUSPEND,
	REV_RESUME,
	REV_MASS_REQUEST,
	REV_MASS_APPROVE,
	REV_MASS_REJECT
};

static const char *const kind_action[] = {
    [REV_CERT] = "cert.revoke",
    [REV_DEVICE] = "device.revoke",
    [REV_SUSPEND] = "device.suspend",
    [REV_RESUME] = "device.resume",
    [REV_MASS_REQUEST] = "revocation.request",
    [REV_MASS_APPROVE] = "revocation.approve",
    [REV_MASS_REJECT] = "revocation.reject",
};

struct rev_op {
	struct ztmd_app *app;
	enum rev_kind kind;
	char actor[160];
	char target[ZTM_DEV_SERIAL_MAX]; /* certificate or device serial */
	enum ztm_reason reason;
	int64_t when, n;
	int changed;
	struct ztm_cert_status_row status;
	struct ztm_device_row dev;
	struct ztm_mass_row mass;
	char station[130]; /* "factory/name" of a mass request by station */
};

/* --- input -------------------------------------------------------------- */

/* Device serials and certificate serials in paths: what a device serial
 * may hold (1..64 of A-Z a-z 0-9 . _ : -); hex serials are a subset. */
static int path_serial(const char *s, char *out, size_t outsize)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return -1;
	}
	return i >= 1 && i <= 64 && ztm_strlcpy(out, s, outsize) == 0 ? 0 : -1;
}

/* "<prefix><id><suffix>" -> the middle, into out. */
static int path_middle(const char *path, const char *prefix, const char *suffix, char *out,
                       size_t outsize)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
	char mid[80];

	if (n <= pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + n - sl, suffix) != 0 ||
	    n - pl - sl >= sizeof(mid))
		return -1;
	memcpy(mid, path + pl, n - pl - sl);
	mid[n - pl - sl] = '\0';
	return path_serial(mid, out, outsize);
}

/* Only the listed keys may appear: a typo must not be ignored. */
static int only_keys(json_t *j, const char *const *keys, struct ztm_error *err)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(j, k, v)
	{
		for (i = 0; keys[i] != NULL && strcmp(keys[i], k) != 0; i++)
			;
		if (keys[i] == NULL)
			return ztm_error_set(err, ZTM_E_USAGE, "unknown field '%.64s'", k);
	}
	return 0;
}

int revoke_field_reason(json_t *j, int def, enum ztm_reason *out, struct ztm_error *err)
{
	json_t *v = json_object_get(j, "reason");
	const char *name = json_string_value(v);

	if (v == NULL && def >= 0) {
		*out = (enum ztm_reason)def;
		return 0;
	}
	if (name == NULL || ztm_reason_parse(name, out) != 0 || *out == ZTM_REASON_HOLD)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field 'reason': one of unspecified, keyCompromise, "
		                     "cACompromise, affiliationChanged, superseded, "
		                     "cessationOfOperation, privilegeWithdrawn, aACompromise "
		                     "(suspend a device for certificateHold)");
	return 0;
}

/* An optional body: empty or a JSON object with only `keys`. */
static json_t *read_body(struct ztmd_req *r, const char *const *keys, struct ztm_error *err)
{
	json_t *j;

	if (ztmd_req_body(r).len == 0)
		return json_object();
	j = admin_read_object(r, err);
	if (j != NULL && only_keys(j, keys, err) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* --- replies ------------------------------------------------------------ */

static json_t *mass_json(const struct ztm_mass_row *m)
{
	json_t *j = json_pack(
	    "{s:I,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:s}", "id", (json_int_t)m->id, "selector",
	    m->selector == ZTM_MASS_STATION ? "station" : "order", "target", m->target, "from",
	    (json_int_t)m->from, "to", (json_int_t)m->to, "reason", ztm_reason_name((int)m->reason),
	    "requested_by", m->requested_by, "requested_at", (json_int_t)m->requested_at, "preview",
	    (json_int_t)m->preview, "state", ztm_mass_state_name(m->state));

	if (j != NULL && m->state != ZTM_MASS_PENDING) {
		json_object_set_new(j, "decided_by", json_string(m->decided_by));
		json_object_set_new(j, "decided_at", json_integer((json_int_t)m->decided_at));
		json_object_set_new(j, "devices", json_integer((json_int_t)m->devices));
		json_object_set_new(j, "certificates", json_integer((json_int_t)m->certificates));
	}
	return j;
}

static json_t *op_json(const struct rev_op *op)
{
	switch (op->kind) {
	case REV_CERT:
		return json_pack("{s:s,s:s,s:s,s:I,s:b}", "serial", op->target, "state", "revoked",
		                 "reason", ztm_reason_name((int)op->status.rev.reason),
		                 "revoked_at", (json_int_t)op->status.rev.revoked_at, "changed",
		                 op->changed);
	case REV_DEVICE:
	case REV_SUSPEND:
	case REV_RESUME:
		return json_pack("{s:s,s:s,s:s,s:I}", "serial", op->dev.serial, "state",
		                 ztm_device_state_name(op->dev.state), "cert_serial",
		                 op->dev.cert_serial, "certificates_revoked", (json_int_t)op->n);
	default:
		return mass_json(&op->mass);
	}
}

/* --- store jobs --------------------------------------------------------- */

static int job_rev(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct rev_op *op = arg;
	struct ztm_cert_row c;
	struct ztm_station_row st;
	struct ztm_order_row o;
	char detail[640];
	const char *object = op->target;
	int rc = -1;

	detail[0] = '\0';
	switch (op->kind) {
	case REV_CERT:
		ztm_cert_row_init(&c);
		rc = ztm_store_cert_get(s, op->target, &c, err);
		if (rc == 0 && c.state == ZTM_CERT_RESERVED)
			rc = ztm_error_set(err, ZTM_E_CONFLICT,
			                   "certificate %s is not issued yet: revoke its device",
			                   op->target);
		if (rc == 0)
			rc = ztm_store_cert_revoke(s, op->target, op->reason, op->when, op->actor,
			                           &op->changed, err);
		if (rc == 0)
			rc = ztm_store_cert_status(s, c.ca, op->target, &op->status, err);
		if (rc == 0)
			snprintf(detail, sizeof(detail), "ca=%s owner=%s:%lld reason=%s changed=%d",
			         c.ca, c.owner_kind, (long long)c.owner_id,
			         ztm_reason_name((int)op->status.rev.reason), op->changed);
		ztm_cert_row_free(&c);
		break;
	case REV_DEVICE:
		rc = ztm_store_device_revoke(s, op->target, op->reason, op->when, op->actor, &op->n,
		                             err);
		snprintf(detail, sizeof(detail), "reason=%s certificates=%lld",
		         ztm_reason_name((int)op->reason), (long long)op->n);
		break;
	case REV_SUSPEND:
		rc = ztm_store_device_suspend(s, op->target, op->when, op->actor, err);
		break;
	case REV_RESUME:
		rc = ztm_store_device_resume(s, op->target, op->actor, err);
		break;
	case REV_MASS_REQUEST:
		if (op->mass.selector == ZTM_MASS_STATION) {
			char factory[65], name[65];
			const char *slash = strchr(op->station, '/');
			if (slash == NULL || (size_t)(slash - op->station) >= sizeof(factory) ||
			    ztm_strlcpy(name, slash + 1, sizeof(name)) != 0)
				return ztm_error_set(err, ZTM_E_USAGE,
				                     "field 'station': \"<factory>/<name>\"");
			memcpy(factory, op->station, (size_t)(slash - op->station));
			factory[slash - op->station] = '\0';
			if (ztm_store_station_find(s, factory, name, &st, err) != 0)
				return -1;
			op->mass.target_id = st.id;
		} else {
			if (ztm_store_order_get(s, op->mass.target, &o, err) != 0)
				return -1;
			op->mass.target_id = o.id;
		}
		rc = ztm_store_mass_request(s, &op->mass, err);
		snprintf(op->target, sizeof(op->target), "%lld", (long long)op->mass.id);
		snprintf(detail, sizeof(detail), "%s=%s from=%lld to=%lld reason=%s preview=%lld",
		         op->mass.selector == ZTM_MASS_STATION ? "station" : "order",
		         op->mass.target, (long long)op->mass.from, (long long)op->mass.to,
		         ztm_reason_name((int)op->mass.reason), (long long)op->mass.preview);
		break;
	case REV_MASS_APPROVE:
	case REV_MASS_REJECT:
		rc = ztm_store_mass_decide(s, op->mass.id, op->kind == REV_MASS_APPROVE, op->actor,
		                           op->when, &op->mass, err);
		snprintf(
		    detail, sizeof(detail), "requested_by=%s %s=%s devices=%lld certificates=%lld",
		    op->mass.requested_by,
		    op->mass.selector == ZTM_MASS_STATION ? "station" : "order", op->mass.target,
		    (long long)op->mass.devices, (long long)op->mass.certificates);
		break;
	}
	if (rc != 0)
		return -1;
	if (op->kind == REV_DEVICE || op->kind == REV_SUSPEND || op->kind == REV_RESUME) {
		if (ztm_store_device_get(s, op->target, &op->dev, err) != 0)
			return -1;
		if (detail[0] == '\0')
			snprintf(detail, sizeof(detail), "state=%s cert=%s",
			         ztm_device_state_name(op->dev.state), op->dev.cert_serial);
	}
	return ztm_store_audit(s, op->actor, kind_action[op->kind], object, "ok", detail, err);
}

static void done_rev(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct rev_op *op = arg;

	if (rc != 0) {
		app_refuse(r, op->app, kind_action[op->kind], app_status_for(err->code), err);
	} else {
		/* The CRLs follow the change feed; don't wait for the next tick. */
		app_crl_kick(op->app);
		admin_reply_json(r, op->kind == REV_MASS_REQUEST ? 201 : 200, op_json(op));
	}
	free(op);
}

/* --- handlers ----------------------------------------------------------- */

static struct rev_op *rev_op_new(struct ztmd_app *app, enum rev_kind kind,
                                 const struct ztmd_peer *peer)
{
	struct rev_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->app = app;
	op->kind = kind;
	op->when = (int64_t)time(NULL);
	admin_actor_of(peer, op->actor, sizeof(op->actor));
	return op;
}

static void refuse(struct ztmd_req *r, struct ztmd_app *app, enum rev_kind kind, struct rev_op *op,
                   const struct ztm_error *err)
{
	free(op);
	app_refuse(r, app, kind_action[kind], app_status_for(err->code), err);
}

/* POST /api/v1/certificates/<serial>/revoke {"reason"} */
static void h_cert_revoke(struct ztmd_req *r, void *arg)
{
	static const char *const keys[] = {"reason", NULL};
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct rev_op *op = NULL;
	struct ztm_error err;
	json_t *j = NULL;

	if (app_authorize(app, r, ZTMD_ACT_CERT_REVOKE, &peer) != 0)
		return;
	op = rev_op_new(app, REV_CERT, &peer);
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	if (path_middle(ztmd_req_path(r), "/api/v1/certificates/", "/revoke", op->target,
	                ZTM_SERIAL_HEX_MAX) != 0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND,
		              "want POST /api/v1/certificates/<hex serial>/revoke");
		goto fail;
	}
	j = read_body(r, keys, &err);
	if (j == NULL || revoke_field_reason(j, ZTM_REASON_UNSPECIFIED, &op->reason, &err) != 0)
		goto fail;
	json_decref(j);
	ztmd_req_defer(r, job_rev, op, done_rev);
	return;
fail:
	json_decref(j);
	refuse(r, app, REV_CERT, op, &err);
}

/* POST /api/v1/devices/<serial>/{revoke,suspend,resume}; device_admin.c's
 * POST prefix route hands these suffixes here. */
void revoke_device_post(struct ztmd_req *r, void *arg)
{
	static const char *const keys[] = {"reason", NULL};
	static const char *const none[] = {NULL};
	static const struct {
		const char *suffix;
		enum rev_kind kind;
		enum ztmd_action action;
	} ops[] = {
	    {"/revoke", REV_DEVICE, ZTMD_ACT_DEVICE_REVOKE},
	    {"/suspend", REV_SUSPEND, ZTMD_ACT_DEVICE_SUSPEND},
	    {"/resume", REV_RESUME, ZTMD_ACT_DEVICE_SUSPEND},
	};
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct rev_op *op = NULL;
	struct ztm_error err;
	json_t *j = NULL;
	const char *path = ztmd_req_path(r);
	size_t i, n = strlen(path);

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t sl = strlen(ops[i].suffix);
		if (n > sl && strcmp(path + n - sl, ops[i].suffix) == 0)
			break;
	}
	if (i == sizeof(ops) / sizeof(ops[0])) {
		/* Unknown operation: authorize as a revocation first, so the
		 * route's existence is not told to strangers. */
		if (app_authorize(app, r, ZTMD_ACT_DEVICE_REVOKE, &peer) == 0) {
			ztm_error_set(&err, ZTM_E_NOTFOUND,
			              "want POST /api/v1/devices/<serial>/{revoke,suspend,resume}");
			ztmd_reply_error(r, 404, &err);
		}
		return;
	}
	if (app_authorize(app, r, ops[i].action, &peer) != 0)
		return;
	/* An owner's operator: its own devices only (another owner's device
	 * is "not found", like one that does not exist). */
	if (peer.role == ZTM_ROLE_OWNER) {
		char serial[ZTM_DEV_SERIAL_MAX];
		struct ztm_device_row d;

		ztm_error_set(&err, ZTM_E_NOTFOUND, "device not found");
		if (path_middle(path, "/api/v1/devices/", ops[i].suffix, serial, sizeof(serial)) !=
		        0 ||
		    ztm_store_device_get(ztmd_req_store(r), serial, &d, &err) != 0 ||
		    ztmd_authz_device_scope(&peer, &d, &err) != 0) {
			ztmd_reply_error(r, err.code == ZTM_E_NOTFOUND ? 404 : 500, &err);
			return;
		}
	}
	op = rev_op_new(app, ops[i].kind, &peer);
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	if (path_middle(path, "/api/v1/devices/", ops[i].suffix, op->target, sizeof(op->target)) !=
	    0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "want POST /api/v1/devices/<serial>%s",
		              ops[i].suffix);
		goto fail;
	}
	j = read_body(r, ops[i].kind == REV_DEVICE ? keys : none, &err);
	if (j == NULL || (ops[i].kind == REV_DEVICE &&
	                  revoke_field_reason(j, ZTM_REASON_UNSPECIFIED, &op->reason, &err) != 0))
		goto fail;
	json_decref(j);
	ztmd_req_defer(r, job_rev, op, done_rev);
	return;
fail:
	json_decref(j);
	refuse(r, app, ops[i].kind, op, &err);
}

/* POST /api/v1/revocations {"station" | "order", "from", "to", "reason"} */
static void h_mass_request(struct ztmd_req *r, void *arg)
{
	static const char *const keys[] = {"station", "order", "from", "to", "reason", NULL};
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct rev_op *op = NULL;
	struct ztm_error err;
	json_t *j = NULL;
	const char *station, *order;

	if (app_authorize(app, r, ZTMD_ACT_MASS_REQUEST, &peer) != 0)
		return;
	op = rev_op_new(app, REV_MASS_REQUEST, &peer);
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	j = admin_read_object(r, &err);
	if (j == NULL || only_keys(j, keys, &err) != 0)
		goto fail;
	station = json_string_value(json_object_get(j, "station"));
	order = json_string_value(json_object_get(j, "order"));
	if ((station == NULL) == (order == NULL)) {
		ztm_error_set(
		    &err, ZTM_E_USAGE,
		    "exactly one of 'station' (\"<factory>/<name>\") or 'order' (string)");
		goto fail;
	}
	if (station != NULL) {
		op->mass.selector = ZTM_MASS_STATION;
		if (ztm_strlcpy(op->station, station, sizeof(op->station)) != 0 ||
		    ztm_strlcpy(op->mass.target, station, sizeof(op->mass.target)) != 0) {
			ztm_error_set(&err, ZTM_E_USAGE, "field 'station': too long");
			goto fail;
		}
	} else {
		op->mass.selector = ZTM_MASS_ORDER;
		if (admin_field_name(j, "order", op->mass.target, 65, &err) != 0)
			goto fail;
	}
	if (admin_field_time(j, "from", -1, &op->mass.from, &err) != 0 ||
	    admin_field_time(j, "to", -1, &op->mass.to, &err) != 0 ||
	    revoke_field_reason(j, -1, &op->mass.reason, &err) != 0)
		goto fail;
	if (op->mass.from > op->mass.to) {
		ztm_error_set(&err, ZTM_E_USAGE, "'from' is after 'to'");
		goto fail;
	}
	ztm_strlcpy(op->mass.requested_by, op->actor, sizeof(op->mass.requested_by));
	op->mass.requested_at = op->when;
	json_decref(j);
	ztmd_req_defer(r, job_rev, op, done_rev);
	return;
fail:
	json_decref(j);
	refuse(r, app, REV_MASS_REQUEST, op, &err);
}

/* GET /api/v1/revocations/<id>, POST /api/v1/revocations/<id>/{approve,reject} */
static void h_mass_path(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/revocations/";
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct rev_op *op = NULL;
	struct ztm_mass_row m;
	struct ztm_error err;
	const char *rest = ztmd_req_path(r) + sizeof(prefix) - 1;
	const char *slash = strchr(rest, '/');
	enum rev_kind kind = REV_MASS_APPROVE;
	char digits[24];
	uint64_t id;
	size_t dl = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	int is_post = ztmd_req_method(r) == ZTMD_POST;

	if (is_post && slash != NULL && strcmp(slash, "/reject") == 0)
		kind = REV_MASS_REJECT;
	if (app_authorize(app, r,
	                  !is_post                   ? ZTMD_ACT_MASS_READ
	                  : kind == REV_MASS_APPROVE ? ZTMD_ACT_MASS_APPROVE
	                                             : ZTMD_ACT_MASS_REQUEST,
	                  &peer) != 0)
		return;
	if (dl == 0 || dl >= sizeof(digits) || (is_post ? slash == NULL : slash != NULL) ||
	    (is_post && strcmp(slash, "/approve") != 0 && strcmp(slash, "/reject") != 0)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND,
		              "want GET /api/v1/revocations/<id> or POST "
		              "/api/v1/revocations/<id>/{approve,reject}");
		ztmd_reply_error(r, 404, &err);
		return;
	}
	memcpy(digits, rest, dl);
	digits[dl] = '\0';
	if (ztm_parse_u64(digits, 1, (uint64_t)1 << 53, &id) != 0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "mass revocation id '%s' is not a number",
		              digits);
		ztmd_reply_error(r, 404, &err);
		return;
	}
	if (!is_post) {
		if (ztm_store_mass_get(ztmd_req_store(r), (int64_t)id, &m, &err) != 0)
			ztmd_reply_error(r, app_status_for(err.code), &err);
		else
			admin_reply_json(r, 200, mass_json(&m));
		return;
	}
	op = rev_op_new(app, kind, &peer);
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		refuse(r, app, kind, NULL, &err);
		return;
	}
	op->mass.id = (int64_t)id;
	snprintf(op->target, sizeof(op->target), "%llu", (unsigned long long)id);
	ztmd_req_defer(r, job_rev, op, done_rev);
}

size_t revoke_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_POST, "/api/v1/certificates/", 1, h_cert_revoke, app},
	    {ZTMD_POST, "/api/v1/revocations", 0, h_mass_request, app},
	    {ZTMD_GET | ZTMD_POST, "/api/v1/revocations/", 1, h_mass_path, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
