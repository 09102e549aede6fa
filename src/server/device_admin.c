/* device_admin.c - end of life of a device (docs/lifecycle.md, docs/api.md):
 * POST /api/v1/devices/<serial>/retire.
 *
 * Retiring revokes every certificate of the device (cessationOfOperation),
 * a reservation in flight included, and sets the state retired, which is
 * terminal: registration (vet.c, device_retired), re-enrollment
 * (authz.c, renew.c) and every later use are refused forever. One store
 * job: the revocations, the state and the audit entry commit together.
 *
 * The route authorizes admins, security officers and owners' operators
 * (authz.c); an owner's operator only for a device of its owner
 * (ztmd_authz_device_scope: another owner's device is "not found"). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/batch.h"
#include "ztm/str.h"

#define ACTION "device.retire"

struct retire_op {
	struct ztmd_app *app;
	char serial[ZTM_DEV_SERIAL_MAX];
	char actor[160];
	struct ztm_device_row dev;
	int64_t revoked; /* certificates this call revoked */
	int already;     /* was retired before */
};

static int job_retire(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct retire_op *op = arg;
	int64_t now = (int64_t)time(NULL);
	char detail[160];
	enum ztm_device_state was;

	if (ztm_store_device_get(s, op->serial, &op->dev, err) != 0)
		return -1;
	was = op->dev.state;
	op->already = was == ZTM_DEVICE_RETIRED;
	/* Also when already retired: a certificate a racing registration had
	 * reserved is revoked here, and the call stays repeatable. */
	if (ztm_store_owner_revoke(s, "device", op->dev.id, ZTM_REASON_CESSATION, now, op->actor,
	                           &op->revoked, err) != 0)
		return -1;
	if (!op->already &&
	    ztm_store_device_set_state(s, op->serial, ZTM_DEVICE_RETIRED, NULL, NULL, err) != 0)
		return -1;
	op->dev.state = ZTM_DEVICE_RETIRED;
	snprintf(detail, sizeof(detail), "was %s, certificates revoked %lld",
	         ztm_device_state_name(was), (long long)op->revoked);
	return ztm_store_audit(s, op->actor, ACTION, op->serial, "ok", detail, err);
}

static void done_retire(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct retire_op *op = arg;

	if (rc != 0)
		app_refuse(r, op->app, ACTION, app_status_for(err->code), err);
	else
		admin_reply_json(r, 200,
		                 json_pack("{s:s,s:s,s:I,s:b}", "serial", op->serial, "state",
		                           ztm_device_state_name(op->dev.state), "revoked",
		                           (json_int_t)op->revoked, "already_retired",
		                           op->already));
	free(op);
}

void device_retire_start(struct ztmd_req *r, struct ztmd_app *app, const char *serial,
                         const char *actor)
{
	struct retire_op *op = calloc(1, sizeof(*op));
	struct ztm_error err;

	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		app_refuse(r, app, ACTION, 500, &err);
		return;
	}
	op->app = app;
	ztm_strlcpy(op->serial, serial, sizeof(op->serial));
	ztm_strlcpy(op->actor, actor, sizeof(op->actor));
	ztmd_req_defer(r, job_retire, op, done_retire);
}

/* POST /api/v1/devices/<serial>/retire (an empty body or {}). */
static void h_device_post(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/devices/", suffix[] = "/retire";
	struct ztmd_app *app = arg;
	const char *rest = ztmd_req_path(r) + sizeof(prefix) - 1;
	size_t n = strlen(rest), sl = sizeof(suffix) - 1;
	char serial[ZTM_DEV_SERIAL_MAX], actor[160];
	struct ztmd_peer peer;
	struct ztm_error err;
	json_t *j;

	if (n <= sl || strcmp(rest + n - sl, suffix) != 0) {
		/* revoke, suspend, resume */
		revoke_device_post(r, arg);
		return;
	}
	if (app_authorize(app, r, ZTMD_ACT_DEVICE_RETIRE, &peer) != 0)
		return;
	if (n <= sl || strcmp(rest + n - sl, suffix) != 0 || n - sl >= sizeof(serial)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "want POST /api/v1/devices/<serial>/retire");
		app_refuse(r, app, ACTION, 404, &err);
		return;
	}
	memcpy(serial, rest, n - sl);
	serial[n - sl] = '\0';
	if (!ztm_record_valid_serial(serial)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "not a device serial");
		app_refuse(r, app, ACTION, 404, &err);
		return;
	}
	if (ztmd_req_body(r).len > 0) {
		j = admin_read_object(r, &err);
		if (j == NULL || json_object_size(j) != 0) {
			if (j != NULL)
				ztm_error_set(&err, ZTM_E_USAGE, "retire takes no fields");
			json_decref(j);
			app_refuse(r, app, ACTION, 400, &err);
			return;
		}
		json_decref(j);
	}
	if (peer.role == ZTM_ROLE_OWNER) {
		struct ztm_device_row d;

		if (ztm_store_device_get(ztmd_req_store(r), serial, &d, &err) != 0 ||
		    ztmd_authz_device_scope(&peer, &d, &err) != 0) {
			app_refuse(r, app, ACTION, app_status_for(err.code), &err);
			return;
		}
	}
	admin_actor_of(&peer, actor, sizeof(actor));
	device_retire_start(r, app, serial, actor);
}

size_t device_admin_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0] = (struct ztmd_route){ZTMD_POST, "/api/v1/devices/", ZTMD_ROUTE_PREFIX,
	                             h_device_post, app};
	return 1;
}
