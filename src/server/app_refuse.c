/* app_refuse.c - every refusal is written to the audit log (who, what,
 * why) before the reply goes out (DESIGN I7). The audit entry is the only
 * thing a refused request changes. */
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "ztm/log.h"
#include "ztm/str.h"

struct refusal {
	struct ztmd_app *app;
	struct ztm_error err;
	int status;
	char action[32];
	char peer[64];
	char name[32]; /* "" = the error class */
};

static int job_audit_refusal(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct refusal *f = arg;
	return ztm_store_audit(s, f->peer, f->action, "-",
	                       f->name[0] != '\0' ? f->name : ztm_err_name(f->err.code), f->err.msg,
	                       err);
}

static void done_refusal(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct refusal *f = arg;

	/* DESIGN I7: no refusal without its audit entry. A store that could not
	 * write it (away mid-failover) gets the client a 503 to come back with. */
	if (rc != 0) {
		ztm_log(ZTM_LOG_ERROR, "refusal.audit_failed", "action=%s status=%d err=%s",
		        f->action, f->status, ztm_err_name(err->code));
		ztmd_reply_header(r, "Retry-After", "1");
		ztmd_reply_error(r, 503, err);
		free(f);
		return;
	}
	if (f->status == 401)
		ztmd_reply_header(r, "WWW-Authenticate", "Basic realm=\"ztm\"");
	/* RFC 9110 §10.2.3: a database or HSM away (a failover) is worth a
	 * retry of the same request soon. */
	if (f->status == 503)
		ztmd_reply_header(r, "Retry-After", "1");
	if (f->status == 202) {
		ztmd_reply_header(r, "Retry-After", "1");
		ztmd_reply(r, 202, "text/plain", "pending\n", 8);
	} else if (f->name[0] != '\0') {
		ztmd_reply_error_named(r, f->status, f->name, &f->err);
	} else {
		ztmd_reply_error(r, f->status, &f->err);
	}
	free(f);
}

void app_refuse(struct ztmd_req *r, struct ztmd_app *app, const char *action, int status,
                const struct ztm_error *why)
{
	app_refuse_named(r, app, action, status, "", why);
}

void app_refuse_named(struct ztmd_req *r, struct ztmd_app *app, const char *action, int status,
                      const char *name, const struct ztm_error *why)
{
	struct refusal *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		ztmd_reply_error(r, 500, why);
		return;
	}
	f->app = app;
	f->err = *why;
	f->status = status;
	ztm_strlcpy(f->action, action, sizeof(f->action));
	ztm_strlcpy(f->name, name, sizeof(f->name));
	ztm_strlcpy(f->peer, ztmd_req_peer_addr(r), sizeof(f->peer));
	ztmd_req_defer_replayable(r, job_audit_refusal, f, done_refusal);
}
