/* owners_api.c - owners (the customers devices are handed to) in the admin
 * REST API (docs/api.md): POST /api/v1/owners, GET /api/v1/owners and
 * GET /api/v1/owners/<name>. An owner is a name and a trust anchor: the
 * certificate its devices trust once transferred (docs/vouchers.md). */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/str.h"

#define ANCHOR_PEM_MAX 16384

struct owner_op {
	char actor[160];
	char name[65];
	uint8_t der[ZTM_ANCHOR_MAX];
	size_t len;
	struct ztm_owner_row row;
};

/* Exactly one PEM certificate that decodes, fits and is valid now: an
 * anchor the devices could never use is refused here, not on the device. */
static int parse_anchor(const char *pem, struct owner_op *op, struct ztm_error *err)
{
	size_t n = strlen(pem);
	BIO *b = NULL;
	X509 *x = NULL, *extra = NULL;
	unsigned char *p = NULL;
	int len, rc = -1;

	if (n == 0 || n > ANCHOR_PEM_MAX)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field 'anchor': a PEM certificate of at "
		                     "most 16 KiB");
	b = BIO_new_mem_buf(pem, (int)n);
	if (b == NULL || (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ztm_error_set(err, ZTM_E_PARSE, "field 'anchor': not a PEM certificate");
		goto out;
	}
	if ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'anchor': one certificate, not a bundle");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'anchor': the certificate is not valid now");
		goto out;
	}
	len = i2d_X509(x, &p);
	if (len <= 0 || (size_t)len > sizeof(op->der)) {
		ztm_error_set(err, ZTM_E_USAGE, "field 'anchor': larger than %d bytes DER",
		              ZTM_ANCHOR_MAX);
		goto out;
	}
	memcpy(op->der, p, (size_t)len);
	op->len = (size_t)len;
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(p);
	X509_free(extra);
	X509_free(x);
	BIO_free(b);
	return rc;
}

/* The anchor's subject and end, for people reading the reply. */
static json_t *owner_json(const struct ztm_owner_row *o, int with_pem)
{
	const unsigned char *p = o->anchor_der;
	X509 *x = d2i_X509(NULL, &p, (long)o->anchor_len);
	char subject[256] = "", *pem = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	long pn = 0;
	json_t *j;

	if (x != NULL)
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	j = json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)o->id, "name", o->name,
	              "anchor_sha256", o->anchor_sha256, "anchor_subject", subject, "created_at",
	              (json_int_t)o->created_at);
	if (with_pem && x != NULL && b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (pn = BIO_get_mem_data(b, &pem)) > 0)
		json_object_set_new(j, "anchor", json_stringn(pem, (size_t)pn));
	ERR_clear_error();
	BIO_free(b);
	X509_free(x);
	return j;
}

static int job_owner_add(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct owner_op *op = arg;
	char detail[96];
	int64_t id;

	if (ztm_store_owner_add(s, op->name, op->der, op->len, &id, err) != 0 ||
	    ztm_store_owner_get_id(s, id, &op->row, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "anchor_sha256=%s", op->row.anchor_sha256);
	return ztm_store_audit(s, op->actor, "owner.add", op->name, "ok", detail, err);
}

static void done_owner_add(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct owner_op *op = arg;

	if (rc != 0)
		ztmd_reply_error(r, app_status_for(err->code), err);
	else
		admin_reply_json(r, 201, owner_json(&op->row, 0));
	free(op);
}

/* POST /api/v1/owners {"name", "anchor"} */
static void h_owner_add(struct ztmd_req *r, struct ztmd_app *app)
{
	static const char *const fields[] = {"name", "anchor", NULL};
	struct ztmd_peer peer;
	struct owner_op *op;
	struct ztm_error err;
	const char *pem;
	json_t *j = NULL;

	if (app_authorize(app, r, ZTMD_ACT_OWNER_WRITE, &peer) != 0)
		return;
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	admin_actor_of(&peer, op->actor, sizeof(op->actor));
	if ((j = admin_read_object(r, &err)) == NULL || admin_only_fields(j, fields, &err) != 0 ||
	    admin_field_name(j, "name", op->name, sizeof(op->name), &err) != 0)
		goto fail;
	pem = json_string_value(json_object_get(j, "anchor"));
	if (pem == NULL) {
		ztm_error_set(&err, ZTM_E_USAGE, "field 'anchor' (PEM certificate) is required");
		goto fail;
	}
	if (parse_anchor(pem, op, &err) != 0)
		goto fail;
	json_decref(j);
	ztmd_req_defer(r, job_owner_add, op, done_owner_add);
	return;
fail:
	json_decref(j);
	free(op);
	ztmd_reply_error(r, app_status_for(err.code), &err);
}

static int add_owner(const struct ztm_owner_row *o, void *arg)
{
	return json_array_append_new(arg, owner_json(o, 0)) != 0;
}

static void h_owners(struct ztmd_req *r, void *arg)
{
	struct ztmd_peer peer;
	struct ztm_error err;
	json_t *list;

	if (ztmd_req_method(r) == ZTMD_POST) {
		h_owner_add(r, arg);
		return;
	}
	if (app_authorize(arg, r, ZTMD_ACT_OWNER_READ, &peer) != 0)
		return;
	list = json_array();
	if (list == NULL || ztm_store_owner_each(ztmd_req_store(r), add_owner, list, &err) != 0) {
		if (list == NULL)
			ztm_error_set(&err, ZTM_E_NOMEM, "owner list");
		json_decref(list);
		ztmd_reply_error(r, app_status_for(err.code), &err);
		return;
	}
	admin_reply_json(r, 200, json_pack("{s:o}", "owners", list));
}

/* GET /api/v1/owners/<name> */
static void h_owner_get(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/owners/";
	const char *name = ztmd_req_path(r) + sizeof(prefix) - 1;
	struct ztm_owner_row *o;
	struct ztmd_peer peer;
	struct ztm_error err;

	if (app_authorize(arg, r, ZTMD_ACT_OWNER_READ, &peer) != 0)
		return;
	if (!admin_valid_name(name)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "want /api/v1/owners/<name>");
		ztmd_reply_error(r, 404, &err);
		return;
	}
	if ((o = malloc(sizeof(*o))) == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "owner row");
		ztmd_reply_error(r, 500, &err);
		return;
	}
	if (ztm_store_owner_get(ztmd_req_store(r), name, o, &err) != 0)
		ztmd_reply_error(r, app_status_for(err.code), &err);
	else
		admin_reply_json(r, 200, owner_json(o, 1));
	free(o);
}

size_t owners_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_GET | ZTMD_POST, "/api/v1/owners", 0, h_owners, app},
	    {ZTMD_GET, "/api/v1/owners/", 1, h_owner_get, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
