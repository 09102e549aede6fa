/* firmware.c - firmware releases in the REST API (docs/firmware.md,
 * docs/api.md): a firmware signer submits the image's digest; a test
 * release is signed at once with the product's test signer, a production
 * release waits for a release approver who is not the submitter (DESIGN 4,
 * the two-person rule); both forms (CMS and the COSE manifest) are made and
 * recorded in the same store job, so nothing signed leaves before it is
 * committed (DESIGN I1). Releases can be revoked; vetting then refuses
 * their hash. Every act is audited; every refusal by app_refuse. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "fw_parse.h"
#include "ztm/str.h"

enum fw_kind { FW_SUBMIT, FW_APPROVE, FW_REVOKE };
static const char *const kind_action[] = {"firmware.release.submit", "firmware.release.approve",
                                          "firmware.release.revoke"};

struct fw_op {
	struct ztmd_app *app;
	enum fw_kind kind;
	char actor[160];
	struct fw_release_req req;
	int64_t id;
	char object[24];
	char reason[256];
	char product[65];
	struct ztm_fw_release_row rel;
};

static json_t *release_json(const struct ztm_fw_release_row *r, const char *product)
{
	return json_pack("{sI ss ss sI sI ss ss ss sb sI ss sI ss sI sI ss ss sI ss}", "id",
	                 (json_int_t)r->id, "product", product, "version", r->version,
	                 "security_version", (json_int_t)r->security_version, "size",
	                 (json_int_t)r->size, "sha256", r->sha256, "channel",
	                 ztm_fw_channel_name((enum ztm_fw_channel)r->channel), "state",
	                 ztm_fw_state_name(r->state), "imported", r->imported, "signer_id",
	                 (json_int_t)r->signer_id, "submitted_by", r->submitted_by, "submitted_at",
	                 (json_int_t)r->submitted_at, "approved_by", r->approved_by, "approved_at",
	                 (json_int_t)r->approved_at, "signed_at", (json_int_t)r->signed_at,
	                 "revoked_by", r->revoked_by, "revoke_reason", r->revoke_reason,
	                 "revoked_at", (json_int_t)r->revoked_at, "manifest_name", "");
}

/* The manifest's file name convention: <product>-<version>.ztmfw. */
static json_t *release_reply(const struct ztm_fw_release_row *r, const char *product)
{
	json_t *j = release_json(r, product);
	char name[160];

	snprintf(name, sizeof(name), "%s-%s.ztmfw", product, r->version);
	if (j != NULL)
		json_object_set_new(j, "manifest_name", json_string(name));
	return j;
}

static int job_fw(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct fw_op *op = arg;
	struct ztm_product_row prod;
	char detail[400];

	detail[0] = '\0';
	switch (op->kind) {
	case FW_SUBMIT:
		if (ztm_store_product_get(s, op->req.product, &prod, err) != 0)
			return -1;
		memset(&op->rel, 0, sizeof(op->rel));
		op->rel.product_id = prod.id;
		ztm_strlcpy(op->rel.version, op->req.version, sizeof(op->rel.version));
		op->rel.security_version = op->req.security_version;
		op->rel.size = op->req.size;
		ztm_strlcpy(op->rel.sha256, op->req.sha256, sizeof(op->rel.sha256));
		op->rel.channel = (int)op->req.channel;
		ztm_strlcpy(op->rel.submitted_by, op->actor, sizeof(op->rel.submitted_by));
		op->rel.submitted_at = (int64_t)time(NULL);
		if (ztm_store_fw_release_add(s, &op->rel, err) != 0)
			return -1;
		/* Test channel: signed now, by the test signer, no approval. */
		if (op->req.channel == ZTM_FW_TEST &&
		    app_fw_sign(op->app, s, &op->rel, NULL, err) != 0)
			return -1;
		snprintf(detail, sizeof(detail),
		         "product=%s version=%s svn=%lld size=%lld sha256=%s "
		         "channel=%s",
		         op->req.product, op->req.version, (long long)op->req.security_version,
		         (long long)op->req.size, op->req.sha256,
		         ztm_fw_channel_name(op->req.channel));
		break;
	case FW_APPROVE:
		if (ztm_store_fw_release_get(s, op->id, &op->rel, err) != 0)
			return -1;
		if (op->rel.channel != ZTM_FW_PRODUCTION)
			return ztm_error_set(err, ZTM_E_CONFLICT,
			                     "release %lld is a test release: it needs no approval",
			                     (long long)op->id);
		if (op->rel.state != ZTM_FW_PENDING)
			return ztm_error_set(err, ZTM_E_CONFLICT, "release %lld is %s, not pending",
			                     (long long)op->id, ztm_fw_state_name(op->rel.state));
		/* The store refuses the submitter as approver (and the CHECK
		 * backs it); this says so before anything is signed. */
		if (strcmp(op->rel.submitted_by, op->actor) == 0)
			return ztm_error_set(err, ZTM_E_DENIED,
			                     "release %lld was submitted by %s: another release "
			                     "approver must approve it",
			                     (long long)op->id, op->actor);
		if (app_fw_sign(op->app, s, &op->rel, op->actor, err) != 0)
			return -1;
		snprintf(detail, sizeof(detail), "submitted_by=%s", op->rel.submitted_by);
		break;
	case FW_REVOKE:
		if (ztm_store_fw_release_revoke(s, op->id, op->actor, op->reason,
		                                (int64_t)time(NULL), err) != 0)
			return -1;
		snprintf(detail, sizeof(detail), "reason=%.200s", op->reason);
		break;
	}
	if (ztm_store_fw_release_get(s, op->rel.id != 0 ? op->rel.id : op->id, &op->rel, err) !=
	        0 ||
	    ztm_store_product_get_id(s, op->rel.product_id, &prod, err) != 0)
		return -1;
	ztm_strlcpy(op->product, prod.name, sizeof(op->product));
	snprintf(op->object, sizeof(op->object), "%lld", (long long)op->rel.id);
	if (op->kind != FW_REVOKE && op->rel.state == ZTM_FW_SIGNED) {
		size_t n = strlen(detail);
		snprintf(detail + n, sizeof(detail) - n, " signed signer=%lld",
		         (long long)op->rel.signer_id);
	}
	return ztm_store_audit(s, op->actor, kind_action[op->kind], op->object, "ok", detail, err);
}

static void done_fw(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct fw_op *op = arg;

	if (rc != 0)
		app_refuse(r, op->app, kind_action[op->kind], app_status_for(err->code), err);
	else
		admin_reply_json(r, op->kind == FW_SUBMIT ? 201 : 200,
		                 release_reply(&op->rel, op->product));
	free(op);
}

static struct fw_op *op_new(struct ztmd_app *app, enum fw_kind kind, const struct ztmd_peer *peer)
{
	struct fw_op *op = calloc(1, sizeof(*op));

	if (op != NULL) {
		op->app = app;
		op->kind = kind;
		admin_actor_of(peer, op->actor, sizeof(op->actor));
	}
	return op;
}

static void refuse(struct ztmd_req *r, struct ztmd_app *app, enum fw_kind kind, struct fw_op *op,
                   const struct ztm_error *err)
{
	free(op);
	app_refuse(r, app, kind_action[kind], app_status_for(err->code), err);
}

/* --- reads ---------------------------------------------------------------- */

struct list_ctx {
	struct ztm_store *s;
	json_t *arr;
};

static int list_one(const struct ztm_fw_release_row *row, void *arg)
{
	struct list_ctx *c = arg;
	struct ztm_product_row prod;
	struct ztm_error e;

	if (ztm_store_product_get_id(c->s, row->product_id, &prod, &e) != 0)
		prod.name[0] = '\0';
	return json_array_append_new(c->arr, release_json(row, prod.name));
}

/* GET /api/v1/firmware/releases?product=&channel=&state=&limit= */
static void list_releases(struct ztmd_req *r)
{
	const char *product = ztmd_req_query(r, "product"), *channel = ztmd_req_query(r, "channel");
	const char *state = ztmd_req_query(r, "state"), *limit = ztmd_req_query(r, "limit");
	struct ztm_fw_filter f = {0, -1, -1, 0};
	struct ztm_product_row prod;
	struct list_ctx lc = {ztmd_req_store(r), NULL};
	enum ztm_fw_channel ch;
	enum ztm_fw_state st;
	struct ztm_error err;
	uint64_t n;

	if (product != NULL) {
		if (ztm_store_product_get(lc.s, product, &prod, &err) != 0) {
			ztmd_reply_error(r, app_status_for(err.code), &err);
			return;
		}
		f.product_id = prod.id;
	}
	if ((channel != NULL && ztm_fw_channel_parse(channel, &ch) != 0) ||
	    (state != NULL && ztm_fw_state_parse(state, &st) != 0) ||
	    (limit != NULL && ztm_parse_u64(limit, 1, 1000, &n) != 0)) {
		ztm_error_set(&err, ZTM_E_USAGE,
		              "filters: channel=production|test, state=pending|signed|revoked, "
		              "limit=1..1000");
		ztmd_reply_error(r, 400, &err);
		return;
	}
	if (channel != NULL)
		f.channel = (int)ch;
	if (state != NULL)
		f.state = (int)st;
	if (limit != NULL)
		f.limit = (int64_t)n;
	if ((lc.arr = json_array()) == NULL ||
	    ztm_store_fw_release_each(lc.s, &f, list_one, &lc, &err) != 0) {
		json_decref(lc.arr);
		ztmd_reply_error(r, 500, &err);
		return;
	}
	admin_reply_json(r, 200, json_pack("{so}", "releases", lc.arr));
}

/* GET /api/v1/firmware/releases/<id>[/cms|/manifest] */
static void get_release(struct ztmd_req *r, int64_t id, const char *what)
{
	struct ztm_fw_release_row rel;
	struct ztm_product_row prod;
	struct ztm_buf blob;
	struct ztm_error err;
	int cms = strcmp(what, "/cms") == 0;

	if (ztm_store_fw_release_get(ztmd_req_store(r), id, &rel, &err) != 0 ||
	    ztm_store_product_get_id(ztmd_req_store(r), rel.product_id, &prod, &err) != 0) {
		ztmd_reply_error(r, app_status_for(err.code), &err);
		return;
	}
	if (*what == '\0') {
		admin_reply_json(r, 200, release_reply(&rel, prod.name));
		return;
	}
	ztm_buf_init(&blob, 0);
	if (ztm_store_fw_release_blobs(ztmd_req_store(r), id, cms ? &blob : NULL,
	                               cms ? NULL : &blob, &err) != 0) {
		ztmd_reply_error(r, app_status_for(err.code), &err);
	} else {
		/* RFC 5751 §3.2 (detached signature); RFC 9052 §2 (COSE_Sign1). */
		ztmd_reply(r, 200,
		           cms ? "application/pkcs7-signature"
		               : "application/cose; cose-type=\"cose-sign1\"",
		           blob.data, blob.len);
	}
	ztm_buf_free(&blob);
}

/* --- handlers ------------------------------------------------------------- */

/* The release request: a JSON body with the image's size and SHA-256, or
 * (Content-Type application/octet-stream) the image itself, which is
 * hashed here, with the other fields in the query (docs/api.md). */
static int upload_request(struct ztmd_req *r, struct ztm_slice body, struct fw_release_req *req,
                          struct ztm_error *err)
{
	const char *ct = ztmd_req_header(r, "Content-Type");
	uint8_t md[32];
	char hex[65];

	if (ct == NULL || strncmp(ct, "application/octet-stream", 24) != 0)
		return fw_release_parse(body.p, body.len, req, err);
	if (body.len == 0)
		return ztm_error_set(err, ZTM_E_USAGE, "upload: the image is empty");
	if (EVP_Digest(body.p, body.len, md, NULL, EVP_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the uploaded image");
	ztm_hex(md, sizeof(md), hex);
	return fw_release_upload(ztmd_req_query(r, "product"), ztmd_req_query(r, "version"),
	                         ztmd_req_query(r, "security_version"),
	                         ztmd_req_query(r, "channel"), (uint64_t)body.len, hex, req, err);
}

/* POST /api/v1/firmware/releases (submit) and GET (list). */
static void h_releases(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct fw_op *op = NULL;
	struct ztm_slice body;
	struct ztm_error err;

	if (ztmd_req_method(r) != ZTMD_POST) {
		if (app_authorize(app, r, ZTMD_ACT_FW_READ, &peer) == 0)
			list_releases(r);
		return;
	}
	if (app_authorize(app, r, ZTMD_ACT_FW_SUBMIT, &peer) != 0)
		return;
	if ((op = op_new(app, FW_SUBMIT, &peer)) == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	body = ztmd_req_body(r);
	if (upload_request(r, body, &op->req, &err) != 0)
		goto fail;
	ztmd_req_defer(r, job_fw, op, done_fw);
	return;
fail:
	refuse(r, app, FW_SUBMIT, op, &err);
}

/* GET /api/v1/firmware/releases/<id>[/cms|/manifest];
 * POST /api/v1/firmware/releases/<id>/{approve,revoke} */
static void h_release_path(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/firmware/releases/";
	static const char *const rkeys[] = {"reason", NULL};
	struct ztmd_app *app = arg;
	const char *rest = ztmd_req_path(r) + sizeof(prefix) - 1;
	size_t dl = strcspn(rest, "/");
	const char *what = rest + dl;
	int is_post = ztmd_req_method(r) == ZTMD_POST;
	enum fw_kind kind = strcmp(what, "/revoke") == 0 ? FW_REVOKE : FW_APPROVE;
	struct ztmd_peer peer;
	struct fw_op *op = NULL;
	struct ztm_error err;
	char digits[24];
	uint64_t id;
	json_t *j = NULL;
	const char *reason;

	if (app_authorize(app, r,
	                  !is_post             ? ZTMD_ACT_FW_READ
	                  : kind == FW_APPROVE ? ZTMD_ACT_FW_APPROVE
	                                       : ZTMD_ACT_FW_REVOKE,
	                  &peer) != 0)
		return;
	if (dl == 0 || dl >= sizeof(digits) ||
	    (is_post
	         ? strcmp(what, "/approve") != 0 && strcmp(what, "/revoke") != 0
	         : *what != '\0' && strcmp(what, "/cms") != 0 && strcmp(what, "/manifest") != 0))
		goto notfound;
	memcpy(digits, rest, dl);
	digits[dl] = '\0';
	if (ztm_parse_u64(digits, 1, (uint64_t)1 << 53, &id) != 0)
		goto notfound;
	if (!is_post) {
		get_release(r, (int64_t)id, what);
		return;
	}
	if ((op = op_new(app, kind, &peer)) == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	op->id = (int64_t)id;
	snprintf(op->object, sizeof(op->object), "%s", digits);
	if (kind == FW_REVOKE) {
		j = admin_read_object(r, &err);
		if (j == NULL || admin_only_fields(j, rkeys, &err) != 0)
			goto fail;
		reason = json_string_value(json_object_get(j, "reason"));
		if (reason == NULL || reason[0] == '\0' ||
		    ztm_strlcpy(op->reason, reason, sizeof(op->reason)) != 0 ||
		    strlen(reason) != json_string_length(json_object_get(j, "reason"))) {
			ztm_error_set(&err, ZTM_E_USAGE, "field 'reason': a string of 1-255 bytes");
			goto fail;
		}
		json_decref(j);
	}
	ztmd_req_defer(r, job_fw, op, done_fw);
	return;
fail:
	json_decref(j);
	refuse(r, app, kind, op, &err);
	return;
notfound:
	ztm_error_set(&err, ZTM_E_NOTFOUND,
	              "want GET /api/v1/firmware/releases/<id>[/cms|/manifest] or POST "
	              "/api/v1/firmware/releases/<id>/{approve,revoke}");
	ztmd_reply_error(r, 404, &err);
}

size_t firmware_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_GET | ZTMD_POST, "/api/v1/firmware/releases", ZTMD_ROUTE_UPLOAD_BODY, h_releases,
	     app},
	    {ZTMD_GET | ZTMD_POST, "/api/v1/firmware/releases/", ZTMD_ROUTE_PREFIX, h_release_path,
	     app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
