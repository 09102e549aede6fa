/* device_api.c - what a device asks with its operational certificate.
 *
 * GET /api/v1/device/whoami: the device's identity as the server knows it.
 * The first call with the operational certificate activates the device
 * (DESIGN.md 3, step 6): provisioned -> active, after which its bootstrap
 * credential is refused (vet.c, VET_REPLAY). Later calls change nothing.
 * The access module admits only the current certificate of a provisioned
 * or active device (authz.c). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "ztm/str.h"

#define ACTION "device.whoami"

struct whoami {
	struct ztmd_app *app;
	char serial[ZTM_DEV_SERIAL_MAX];
	char cert_serial[ZTM_SERIAL_HEX_MAX];
	struct ztm_device_row dev;
	int activated; /* this call made it active */
};

static int job_whoami(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct whoami *w = arg;

	if (ztm_store_device_get(s, w->serial, &w->dev, err) != 0)
		return -1;
	/* The peer was checked on this request; re-check inside the
	 * transaction, which another worker may have raced. */
	if (strcmp(w->dev.cert_serial, w->cert_serial) != 0)
		return ztm_error_set(err, ZTM_E_AUTH, "not the device's current certificate");
	if (w->dev.state == ZTM_DEVICE_ACTIVE)
		return 0;
	if (w->dev.state != ZTM_DEVICE_PROVISIONED)
		return ztm_error_set(err, ZTM_E_AUTH, "device %s is %s", w->serial,
		                     ztm_device_state_name(w->dev.state));
	if (ztm_store_device_set_state(s, w->serial, ZTM_DEVICE_ACTIVE, NULL, NULL, err) != 0)
		return -1;
	w->dev.state = ZTM_DEVICE_ACTIVE;
	w->activated = 1;
	return ztm_store_audit(s, "device:", "device.activate", w->serial, "ok", w->cert_serial,
	                       err);
}

static void done_whoami(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct whoami *w = arg;
	json_t *j;

	if (rc != 0) {
		app_refuse(r, w->app, ACTION, app_status_for(err->code), err);
		free(w);
		return;
	}
	j = json_pack("{s:s,s:s,s:s,s:b}", "serial", w->dev.serial, "state",
	              ztm_device_state_name(w->dev.state), "cert_serial", w->dev.cert_serial,
	              "activated", w->activated);
	admin_reply_json(r, 200, j);
	free(w);
}

static void h_whoami(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct whoami *w;
	struct ztm_error err;

	if (app_authorize(app, r, ZTMD_ACT_DEVICE_WHOAMI, &peer) != 0)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL || app_serial_hex(ztmd_req_peer_cert(r), w->cert_serial) != 0) {
		free(w);
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		ztmd_reply_error(r, 500, &err);
		return;
	}
	w->app = app;
	ztm_strlcpy(w->serial, peer.who.name, sizeof(w->serial));
	ztmd_req_defer(r, job_whoami, w, done_whoami);
}

size_t device_api_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0] = (struct ztmd_route){ZTMD_GET, "/api/v1/device/whoami", 0, h_whoami, app};
	return 1;
}
