/* admin.c - the admin REST API (/api/v1) behind mTLS operator certificates:
 * factories, stations and operators, and their one-time enrollment codes.
 * Bodies are JSON objects (docs/api.md); every write is one store job in the
 * group commit and is audited with the operator who did it. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/log.h"
#include "ztm/str.h"

#define CODE_BYTES 16

struct admin_op {
	struct ztmd_app *app;
	char actor[160];
	char factory[65], name[65];
	char owner[65]; /* operators of role owner: the owner's name */
	enum ztm_role role;
	enum ztm_code_kind kind;
	char code[CODE_BYTES * 2 + CODE_BYTES / 2]; /* xxxx-xxxx-... */
	uint8_t code_hash[32];
	int64_t id, expires_at;
};

static void admin_op_free(struct admin_op *op)
{
	if (op == NULL)
		return;
	OPENSSL_cleanse(op->code, sizeof(op->code));
	free(op);
}

/* Names become certificate subjects: a conservative alphabet, 1..64. */
int admin_valid_name(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

void admin_reply_json(struct ztmd_req *r, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	struct ztm_error err;

	if (s == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "encoding JSON");
		ztmd_reply_error(r, 500, &err);
	} else {
		ztmd_reply(r, status, "application/json", s, strlen(s));
		/* The body may hold a one-time code. */
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	json_decref(j);
}

/* Parses the body as a JSON object and pulls string fields; every listed
 * field must be present, a string and a valid name. */
json_t *admin_read_object(struct ztmd_req *r, struct ztm_error *err)
{
	struct ztm_slice body = ztmd_req_body(r);
	json_error_t jerr;
	json_t *j;

	j = json_loadb((const char *)body.p, body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		ztm_error_set(err, ZTM_E_PARSE, "body is not JSON: %s (line %d)", jerr.text,
		              jerr.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ztm_error_set(err, ZTM_E_PARSE, "body must be a JSON object");
		return NULL;
	}
	return j;
}

int admin_field_name(json_t *j, const char *key, char *out, size_t outsize, struct ztm_error *err)
{
	const char *v = json_string_value(json_object_get(j, key));

	if (v == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "field '%s' (string) is required", key);
	if (!admin_valid_name(v) || ztm_strlcpy(out, v, outsize) != 0)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field '%s': 1-64 characters of A-Z a-z 0-9 . _ -", key);
	return 0;
}

void admin_actor_of(const struct ztmd_peer *peer, char *out, size_t n)
{
	snprintf(out, n, "%s:%s", peer->who.kind[0] ? peer->who.kind : "anonymous", peer->who.name);
}

static int new_code(struct admin_op *op, struct ztm_error *err)
{
	uint8_t raw[CODE_BYTES];
	char hex[CODE_BYTES * 2 + 1];
	unsigned len = 0;
	size_t i, o = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "random code");
	ztm_hex(raw, sizeof(raw), hex);
	for (i = 0; i < CODE_BYTES * 2; i++) {
		if (i > 0 && i % 4 == 0)
			op->code[o++] = '-';
		op->code[o++] = hex[i];
	}
	op->code[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (EVP_Digest(op->code, strlen(op->code), op->code_hash, &len, EVP_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the code");
	op->expires_at = (int64_t)time(NULL) + (int64_t)op->app->code_ttl;
	return 0;
}

static void done_write(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct admin_op *op = arg;
	json_t *j;

	if (rc != 0) {
		ztmd_reply_error(r, app_status_for(err->code), err);
		admin_op_free(op);
		return;
	}
	j = json_pack("{s:I}", "id", (json_int_t)op->id);
	if (op->factory[0] != '\0')
		json_object_set_new(j, "factory", json_string(op->factory));
	if (op->name[0] != '\0')
		json_object_set_new(j, "name", json_string(op->name));
	if (op->code[0] != '\0') {
		json_object_set_new(j, "code", json_string(op->code));
		json_object_set_new(j, "expires_at", json_integer((json_int_t)op->expires_at));
	}
	admin_op_free(op);
	admin_reply_json(r, 201, j);
}

static int job_factory_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct admin_op *op = arg;

	if (ztm_store_factory_add(s, op->factory, &op->id, err) != 0)
		return -1;
	return ztm_store_audit(s, op->actor, "factory.add", op->factory, "ok", "", err);
}

static int job_station_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct admin_op *op = arg;
	int64_t fid;
	char detail[96];

	if (ztm_store_factory_get(s, op->factory, &fid, err) != 0)
		return -1;
	if (ztm_store_station_add(s, fid, op->name, &op->id, err) != 0 ||
	    ztm_store_code_add(s, op->code_hash, ZTM_CODE_STATION, op->id, op->expires_at, err) !=
	        0)
		return -1;
	snprintf(detail, sizeof(detail), "factory=%s code_expires=%lld", op->factory,
	         (long long)op->expires_at);
	return ztm_store_audit(s, op->actor, "station.add", op->name, "ok", detail, err);
}

static int job_operator_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct admin_op *op = arg;
	struct ztm_owner_row *owner;
	char detail[112];
	int rc;

	if (op->role == ZTM_ROLE_OWNER) {
		if ((owner = malloc(sizeof(*owner))) == NULL)
			return ztm_error_set(err, ZTM_E_NOMEM, "owner row");
		rc = ztm_store_owner_get(s, op->owner, owner, err);
		if (rc == 0)
			rc = ztm_store_owner_operator_add(s, op->name, owner->id, &op->id, err);
		free(owner);
	} else {
		rc = ztm_store_operator_add(s, op->name, op->role, &op->id, err);
	}
	if (rc != 0 || ztm_store_code_add(s, op->code_hash, ZTM_CODE_OPERATOR, op->id,
	                                  op->expires_at, err) != 0)
		return -1;
	if (op->role == ZTM_ROLE_OWNER)
		snprintf(detail, sizeof(detail), "role=owner owner=%s", op->owner);
	else
		snprintf(detail, sizeof(detail), "role=%s", ztm_role_name(op->role));
	return ztm_store_audit(s, op->actor, "operator.add", op->name, "ok", detail, err);
}

static void admin_write(struct ztmd_req *r, struct ztmd_app *app, enum ztmd_action action,
                        ztmd_job_fn job)
{
	struct ztmd_peer peer;
	struct admin_op *op;
	struct ztm_error err;
	json_t *j = NULL;
	const char *role;

	if (app_authorize(app, r, action, &peer) != 0)
		return;
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	op->app = app;
	admin_actor_of(&peer, op->actor, sizeof(op->actor));
	j = admin_read_object(r, &err);
	if (j == NULL)
		goto fail;
	switch (action) {
	case ZTMD_ACT_FACTORY_WRITE:
		if (admin_field_name(j, "name", op->factory, sizeof(op->factory), &err) != 0)
			goto fail;
		break;
	case ZTMD_ACT_STATION_WRITE:
		if (admin_field_name(j, "factory", op->factory, sizeof(op->factory), &err) != 0 ||
		    admin_field_name(j, "name", op->name, sizeof(op->name), &err) != 0 ||
		    new_code(op, &err) != 0)
			goto fail;
		break;
	case ZTMD_ACT_OPERATOR_WRITE:
		if (admin_field_name(j, "name", op->name, sizeof(op->name), &err) != 0)
			goto fail;
		role = json_string_value(json_object_get(j, "role"));
		if (role == NULL || ztm_role_parse(role, &op->role) != 0 ||
		    op->role == ZTM_ROLE_STATION || op->role == ZTM_ROLE_DEVICE) {
			ztm_error_set(&err, ZTM_E_USAGE,
			              "field 'role': one of admin, security-officer, planner, "
			              "firmware-signer, release-approver, auditor, owner");
			goto fail;
		}
		/* An owner's operator acts for exactly one owner; no one else
		 * names one. */
		if (op->role == ZTM_ROLE_OWNER
		        ? admin_field_name(j, "owner", op->owner, sizeof(op->owner), &err) != 0
		        : json_object_get(j, "owner") != NULL) {
			if (op->role != ZTM_ROLE_OWNER)
				ztm_error_set(&err, ZTM_E_USAGE,
				              "field 'owner' is only for role owner");
			goto fail;
		}
		if (new_code(op, &err) != 0)
			goto fail;
		break;
	default:
		ztm_error_set(&err, ZTM_E_INTERNAL, "no such write");
		goto fail;
	}
	json_decref(j);
	ztmd_req_defer(r, job, op, done_write);
	return;
fail:
	json_decref(j);
	admin_op_free(op);
	ztmd_reply_error(r, app_status_for(err.code), &err);
}

static void h_factories(struct ztmd_req *r, void *arg)
{
	admin_write(r, arg, ZTMD_ACT_FACTORY_WRITE, job_factory_add);
}

static void h_stations(struct ztmd_req *r, void *arg)
{
	admin_write(r, arg, ZTMD_ACT_STATION_WRITE, job_station_add);
}

static void h_operators(struct ztmd_req *r, void *arg)
{
	admin_write(r, arg, ZTMD_ACT_OPERATOR_WRITE, job_operator_add);
}

static json_t *station_json(const struct ztm_station_row *st)
{
	static const char *const states[] = {"pending", "enrolled", "revoked"};

	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I}", "id", (json_int_t)st->id, "factory",
	                 st->factory, "name", st->name, "state",
	                 (unsigned)st->state < 3 ? states[st->state] : "unknown", "cert_serial",
	                 st->cert_serial, "created_at", (json_int_t)st->created_at, "revoked_at",
	                 (json_int_t)st->revoked_at);
}

/* "<factory>/<name>" + suffix (may be "") into the two names; 0 if both are
 * valid names. */
static int station_path(const char *rest, const char *suffix, char factory[65], char name[65])
{
	const char *slash = strchr(rest, '/');
	size_t n, sl = strlen(suffix);

	if (slash == NULL || (size_t)(slash - rest) >= 65)
		return -1;
	memcpy(factory, rest, (size_t)(slash - rest));
	factory[slash - rest] = '\0';
	n = strlen(slash + 1);
	if (n <= sl || n - sl >= 65 || strcmp(slash + 1 + n - sl, suffix) != 0)
		return -1;
	memcpy(name, slash + 1, n - sl);
	name[n - sl] = '\0';
	return admin_valid_name(factory) && admin_valid_name(name) ? 0 : -1;
}

/* GET /api/v1/stations/<factory>/<name> */
static void h_station_get(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/stations/";
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct ztm_station_row st;
	struct ztm_error err;
	char factory[65], name[65];

	if (app_authorize(app, r, ZTMD_ACT_STATION_READ, &peer) != 0)
		return;
	if (station_path(ztmd_req_path(r) + sizeof(prefix) - 1, "", factory, name) != 0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "want /api/v1/stations/<factory>/<name>");
		ztmd_reply_error(r, 404, &err);
		return;
	}
	if (ztm_store_station_find(ztmd_req_store(r), factory, name, &st, &err) != 0) {
		ztmd_reply_error(r, app_status_for(err.code), &err);
		return;
	}
	admin_reply_json(r, 200, station_json(&st));
}

/* Revoking a station (issue 3 point 7). Its certificate is refused from the
 * commit on: every request looks its peer up in the store (authz.c), so no
 * worker can keep serving it. Records it made at or after `since` no longer
 * vet (vet.c), whenever the device registers. */
struct revoke_op {
	struct ztmd_app *app;
	char actor[160];
	char factory[65], name[65];
	int64_t since;
	enum ztm_reason reason;
	struct ztm_station_row st;
};

static int job_station_revoke(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct revoke_op *op = arg;
	char object[140], detail[160];

	if (ztm_store_station_find(s, op->factory, op->name, &op->st, err) != 0 ||
	    ztm_store_station_revoke(s, op->st.id, op->since, op->reason, op->actor, err) != 0 ||
	    ztm_store_station_get(s, op->st.id, &op->st, err) != 0)
		return -1;
	snprintf(object, sizeof(object), "%s/%s", op->factory, op->name);
	snprintf(detail, sizeof(detail), "since=%lld revoked_at=%lld reason=%s cert=%s",
	         (long long)op->since, (long long)op->st.revoked_at,
	         ztm_reason_name((int)op->reason),
	         op->st.cert_serial[0] != '\0' ? op->st.cert_serial : "-");
	return ztm_store_audit(s, op->actor, "station.revoke", object, "ok", detail, err);
}

static void done_station_revoke(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct revoke_op *op = arg;

	if (rc != 0)
		app_refuse(r, op->app, "station.revoke", app_status_for(err->code), err);
	else
		admin_reply_json(r, 200, station_json(&op->st));
	free(op);
}

/* The body: empty, {} or {"since": TIME, "reason": NAME}; since defaults to
 * now and may not lie in the future (a revocation is never postponed); the
 * reason for the station's certificates defaults to privilegeWithdrawn. */
static int parse_revoke(struct ztmd_req *r, int64_t now, int64_t *since, enum ztm_reason *reason,
                        struct ztm_error *err)
{
	json_t *j;
	int rc = -1;

	*since = now;
	*reason = ZTM_REASON_PRIVILEGE_WITHDRAWN;
	if (ztmd_req_body(r).len == 0)
		return 0;
	j = admin_read_object(r, err);
	if (j == NULL)
		return -1;
	if (json_object_size(j) > (json_object_get(j, "since") != NULL ? 1u : 0u) +
	                              (json_object_get(j, "reason") != NULL ? 1u : 0u)) {
		ztm_error_set(err, ZTM_E_USAGE, "the only fields are 'since' and 'reason'");
		goto out;
	}
	if (admin_field_time(j, "since", now, since, err) != 0 ||
	    revoke_field_reason(j, ZTM_REASON_PRIVILEGE_WITHDRAWN, reason, err) != 0)
		goto out;
	if (*since > now) {
		ztm_error_set(err, ZTM_E_USAGE,
		              "since %lld is in the future (now %lld): a revocation takes effect "
		              "now or earlier, never later",
		              (long long)*since, (long long)now);
		goto out;
	}
	/* Every record has recorded_at >= 1; 0 in the store means "not revoked". */
	if (*since < 1)
		*since = 1;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* POST /api/v1/stations/<factory>/<name>/revoke */
static void h_station_revoke(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/stations/";
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct revoke_op *op;
	struct ztm_error err;
	int status = 400;

	if (app_authorize(app, r, ZTMD_ACT_STATION_REVOKE, &peer) != 0)
		return;
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		status = 500;
		goto refuse;
	}
	op->app = app;
	admin_actor_of(&peer, op->actor, sizeof(op->actor));
	if (station_path(ztmd_req_path(r) + sizeof(prefix) - 1, "/revoke", op->factory, op->name) !=
	    0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND,
		              "want POST /api/v1/stations/<factory>/<name>/revoke");
		status = 404;
		goto refuse;
	}
	if (parse_revoke(r, (int64_t)time(NULL), &op->since, &op->reason, &err) != 0)
		goto refuse;
	ztmd_req_defer(r, job_station_revoke, op, done_station_revoke);
	return;
refuse:
	free(op);
	app_refuse(r, app, "station.revoke", status, &err);
}

size_t admin_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_POST, "/api/v1/factories", 0, h_factories, app},
	    {ZTMD_POST, "/api/v1/stations", 0, h_stations, app},
	    {ZTMD_GET, "/api/v1/stations/", 1, h_station_get, app},
	    {ZTMD_POST, "/api/v1/stations/", 1, h_station_revoke, app},
	    {ZTMD_POST, "/api/v1/operators", 0, h_operators, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
