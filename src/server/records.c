/* records.c - POST /api/v1/records: a station uploads a signed batch of
 * manufacturing records (docs/records.md, docs/api.md).
 *
 * The batch is verified in the handler (signature, chain to the station CA,
 * every record) and its signer must be the TLS peer's own certificate: a
 * station uploads only what it signed. Then one store job in the group
 * commit stores the batch by the SHA-256 of its bytes (already there: the
 * first upload's id, nothing else done) and every record against its work
 * order, all or nothing. A record past the order's quota refuses the whole
 * batch; the "overbuild" alert is appended by a second job, after the
 * rollback of the first, so it survives.
 *
 * The quota is taken once per order per batch (take_slots): a conditional
 * UPDATE per record was a third of the job's statements. Only a refused
 * batch takes one slot at a time again, to name the record that crossed the
 * quota, and the refusal is the one the per-record takes would have given:
 * the same record, message, status and alert. */
#include <jansson.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app_int.h"
#include "record_policy.h"
#include "ztm/batch.h"
#include "ztm/str.h"

#define ACTION "record.upload"

struct upload {
	struct ztmd_app *app;
	struct ztm_batch b;
	int64_t station_id, factory_id;
	char actor[160];
	/* The product of the last order seen: a batch is mostly one order, so
	 * one entry saves a lookup per record. */
	int have_product;
	struct ztm_product_row product;
	/* out of the job */
	int64_t id;
	int duplicate;
	size_t accepted, repeats, replacements;
	/* the quota refusal: which record and order */
	int overbuild;
	char ob_serial[ZTM_RECORD_MAX_SERIAL + 1];
	char ob_detail[512];
	struct ztm_error why; /* the refusal, kept for the alert job's reply */
	/* The order of the previous record: a batch is mostly one order, and
	 * looking it up per record was a SELECT each. Only fields that do not
	 * change inside the transaction are used from it (not `recorded`). */
	int have_order;
	struct ztm_order_row order;
	/* Per record: the id of the order it takes a slot of, 0 for a repeat
	 * (or not reached yet). Slots are taken in take_slots. */
	int64_t *slot_order;
};

static void upload_free(struct upload *u)
{
	ztm_batch_free(&u->b);
	free(u->slot_order);
	free(u);
}

/* A replacement record (docs/lifecycle.md) is only for a device that is
 * registered, of the order's product, and not ended: a repaired device
 * keeps its identity, a retired or revoked one never comes back, and a
 * suspended or quarantined one waits for a person's decision. */
static int replacement_check(struct ztm_store *s, const struct ztm_record *rec, size_t idx,
                             const struct ztm_order_row *o, struct ztm_error *err)
{
	struct ztm_device_row d;

	if (ztm_store_device_get(s, rec->serial, &d, err) != 0) {
		if (err->code != ZTM_E_NOTFOUND)
			return -1;
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu (serial %s): a replacement for a device that is "
		                     "not registered",
		                     idx, rec->serial);
	}
	if (d.product_id != o->product_id)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu (serial %s): the device is registered as another "
		                     "product than order '%s' builds",
		                     idx, rec->serial, o->name);
	if (d.state != ZTM_DEVICE_PROVISIONED && d.state != ZTM_DEVICE_ACTIVE)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu (serial %s): the device is %s, not replaceable",
		                     idx, rec->serial, ztm_device_state_name(d.state));
	return 0;
}

/* One record against its order: the order must exist, be of the station's
 * factory and of the record's product; then the record (a repeat of the
 * same station and serial changes nothing) and a slot of the quota. */
static int store_record(struct ztm_store *s, struct upload *u, const struct ztm_record *rec,
                        size_t idx, int64_t now, struct ztm_error *err)
{
	struct ztm_record_row row;
	struct ztm_order_row o;
	char why[sizeof(err->msg)];
	int64_t rid;
	int repeat = 0, rc = -1;

	if (u->have_order && strcmp(u->order.name, rec->order) == 0) {
		o = u->order;
	} else if (ztm_store_order_get(s, rec->order, &o, err) == 0) {
		u->order = o;
		u->have_order = 1;
	} else {
		ztm_strlcpy(why, err->msg, sizeof(why));
		return ztm_error_set(err, err->code == ZTM_E_NOTFOUND ? ZTM_E_POLICY : err->code,
		                     "record %zu: order '%s': %s", idx, rec->order, why);
	}
	if (o.factory_id != u->factory_id)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu: order '%s' belongs to another factory", idx,
		                     rec->order);
	if (strcmp(o.product, rec->product) != 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "record %zu: order '%s' is for product '%s', not '%s'", idx,
		                     rec->order, o.product, rec->product);
	if (o.state != ZTM_ORDER_OPEN)
		return ztm_error_set(err, ZTM_E_POLICY, "record %zu: order '%s' is closed", idx,
		                     rec->order);
	if (!u->have_product || u->product.id != o.product_id) {
		u->have_product = 0;
		if (ztm_store_product_get(s, o.product, &u->product, err) != 0)
			return -1;
		u->have_product = 1;
	}
	if (record_policy_check(rec, idx, &u->product, err) != 0)
		return -1;
	if (rec->kind == ZTM_RECORD_REPLACEMENT && replacement_check(s, rec, idx, &o, err) != 0)
		return -1;
	ztm_record_row_init(&row);
	row.batch_id = u->id;
	row.station_id = u->station_id;
	row.order_id = o.id;
	if (ztm_strlcpy(row.serial, rec->serial, sizeof(row.serial)) != 0 ||
	    ztm_strlcpy(row.spki_sha256, rec->spki_sha256, sizeof(row.spki_sha256)) != 0 ||
	    ztm_strlcpy(row.hw_rev, rec->hw_rev, sizeof(row.hw_rev)) != 0 ||
	    ztm_strlcpy(row.mac, rec->mac, sizeof(row.mac)) != 0 ||
	    ztm_strlcpy(row.fw_version, rec->fw_version, sizeof(row.fw_version)) != 0 ||
	    ztm_strlcpy(row.fw_sha256, rec->fw_sha256, sizeof(row.fw_sha256)) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "record %zu: a field is too long for the store",
		              idx);
		goto out;
	}
	row.test_result = rec->test_result;
	row.key_origin = rec->key_origin;
	row.kind = rec->kind;
	row.recorded_at = rec->recorded_at;
	row.received_at = now;
	if (ztm_buf_append(&row.bootstrap_der, rec->cert, rec->cert_len) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "record %zu", idx);
		goto out;
	}
	if (ztm_store_record_add(s, &row, &rid, &repeat, err) != 0) {
		ztm_strlcpy(why, err->msg, sizeof(why));
		ztm_error_set(err, err->code, "record %zu (serial %s): %s", idx, rec->serial, why);
		goto out;
	}
	if (repeat) {
		u->repeats++;
		rc = 0;
		goto out;
	}
	/* A replacement rebuilds a device the order already counted. */
	if (rec->kind == ZTM_RECORD_REPLACEMENT) {
		u->replacements++;
		rc = 0;
		goto out;
	}
	u->slot_order[idx] = o.id; /* its slot: take_slots */
	u->accepted++;
	rc = 0;
out:
	ztm_record_row_free(&row);
	return rc;
}

/* A refused take of one order's slots, replayed one slot per record in
 * record order: which record crossed, and the refusal the per-record take
 * gave (sets *idx, *e and, for an overbuild, *ob with serial and detail). */
struct crossing {
	size_t idx;
	struct ztm_error e;
	int overbuild;
	char serial[ZTM_RECORD_MAX_SERIAL + 1];
	char detail[512];
};

static int find_crossing(struct ztm_store *s, struct upload *u, int64_t order_id, size_t upto,
                         int64_t now, struct crossing *c)
{
	struct ztm_order_row now_o;
	struct ztm_error e2;
	char why[sizeof(c->e.msg)];
	size_t i;

	for (i = 0; i < upto; i++) {
		const struct ztm_record *rec = &u->b.records[i];
		enum ztm_err code;

		if (u->slot_order[i] != order_id ||
		    ztm_store_order_take_record_slot(s, order_id, now, &c->e) == 0)
			continue;
		code = c->e.code;
		ztm_strlcpy(why, c->e.msg, sizeof(why));
		c->idx = i;
		c->overbuild = 0;
		if (ztm_store_order_get_id(s, order_id, &now_o, &e2) == 0 &&
		    now_o.state == ZTM_ORDER_OPEN && now_o.recorded >= now_o.quota) {
			c->overbuild = 1;
			ztm_strlcpy(c->serial, rec->serial, sizeof(c->serial));
			snprintf(c->detail, sizeof(c->detail),
			         "order %s quota %lld reached; station %s batch %s refused",
			         now_o.name, (long long)now_o.quota, u->actor, u->b.batch_id);
		}
		ztm_error_set(&c->e, c->overbuild ? ZTM_E_CONFLICT : code,
		              "record %zu (serial %s): %s", i, rec->serial, why);
		return 1;
	}
	return 0; /* one at a time they all fit: the batch take failed otherwise */
}

/* The slots of records 0..upto-1, one conditional UPDATE per order. A
 * refusal is reported for the first record (in batch order) whose own take
 * would have failed, as taking them one by one did. */
static int take_slots(struct ztm_store *s, struct upload *u, size_t upto, int64_t now,
                      struct ztm_error *err)
{
	struct crossing first, c;
	int64_t order_id;
	size_t i, j, n;
	int crossed = 0;

	for (i = 0; i < upto; i++) {
		order_id = u->slot_order[i];
		if (order_id == 0)
			continue;
		/* Once per order: at its first record (a batch is mostly one
		 * order, so this finds it at once). */
		for (j = 0; j < i && u->slot_order[j] != order_id; j++)
			;
		if (j < i)
			continue;
		for (n = 0, j = i; j < upto; j++)
			n += u->slot_order[j] == order_id;
		if (ztm_store_order_take_record_slots(s, order_id, (int64_t)n, now, err) == 0)
			continue;
		if (err->code != ZTM_E_POLICY)
			return -1; /* the store failed: nothing to name */
		if (find_crossing(s, u, order_id, upto, now, &c) == 0)
			return -1;
		if (!crossed || c.idx < first.idx)
			first = c;
		crossed = 1;
	}
	if (!crossed)
		return 0;
	*err = first.e;
	u->overbuild = first.overbuild;
	if (first.overbuild) {
		ztm_strlcpy(u->ob_serial, first.serial, sizeof(u->ob_serial));
		ztm_strlcpy(u->ob_detail, first.detail, sizeof(u->ob_detail));
	}
	return -1;
}

static int job_upload(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct upload *u = arg;
	struct ztm_station_row st;
	int64_t now = (int64_t)time(NULL);
	char detail[192];
	size_t i;

	u->accepted = u->repeats = u->replacements = 0;
	u->overbuild = 0;
	u->have_product = 0;
	/* The handler's access check ran before this transaction: a revocation
	 * committed in between wins (one read per batch). */
	if (ztm_store_station_get(s, u->station_id, &st, err) != 0)
		return -1;
	if (st.state == ZTM_STATION_REVOKED)
		return ztm_error_set(err, ZTM_E_AUTH, "station %s/%s is revoked", st.factory,
		                     st.name);
	u->have_order = 0;
	if (ztm_store_batch_add(s, u->station_id, u->b.sha256, (int64_t)u->b.n, &u->id, err) != 0) {
		if (err->code != ZTM_E_EXISTS)
			return -1;
		u->duplicate = 1; /* an upload retried: the first one stands */
		ztm_error_clear(err);
		return 0;
	}
	memset(u->slot_order, 0, u->b.n * sizeof(*u->slot_order));
	for (i = 0; i < u->b.n; i++) {
		if (store_record(s, u, &u->b.records[i], i, now, err) != 0) {
			/* Taking one slot per record, an earlier record could have
			 * crossed the quota before this one was looked at: that
			 * refusal comes first. */
			struct ztm_error qerr;
			if (take_slots(s, u, i, now, &qerr) != 0)
				*err = qerr;
			return -1;
		}
	}
	if (take_slots(s, u, u->b.n, now, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail),
	         "batch %s sha256 %.16s accepted %zu repeats %zu replacements %zu", u->b.batch_id,
	         u->b.sha256, u->accepted, u->repeats, u->replacements);
	return ztm_store_audit(s, u->actor, ACTION, u->b.batch_id, "ok", detail, err);
}

/* After the upload job rolled back: the alert and the refusal's audit. */
static int job_overbuild(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct upload *u = arg;

	if (ztm_store_alert(s, "overbuild", u->ob_serial, u->ob_detail, err) != 0)
		return -1;
	return ztm_store_audit(s, u->actor, ACTION, u->b.batch_id, ztm_err_name(u->why.code),
	                       u->why.msg, err);
}

static void done_overbuild(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct upload *u = arg;

	if (rc != 0)
		ztmd_reply_error(r, 500, err);
	else
		ztmd_reply_error_named(r, 409, "overbuild", &u->why);
	upload_free(u);
}

static void done_upload(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct upload *u = arg;
	json_t *j;

	if (rc != 0 && u->overbuild) {
		u->why = *err;
		ztmd_req_defer(r, job_overbuild, u, done_overbuild);
		return;
	}
	if (rc != 0) {
		app_refuse(r, u->app, ACTION, app_status_for(err->code), err);
		upload_free(u);
		return;
	}
	j = json_pack("{s:I,s:s,s:I,s:I,s:I,s:b}", "id", (json_int_t)u->id, "batch_id",
	              u->b.batch_id, "accepted", (json_int_t)u->accepted, "repeats",
	              (json_int_t)u->repeats, "replacements", (json_int_t)u->replacements,
	              "duplicate", u->duplicate);
	admin_reply_json(r, u->duplicate ? 200 : 201, j);
	upload_free(u);
}

/* The content type without parameters, case-insensitively. */
static int is_cms(const char *ct)
{
	static const char want[] = "application/cms";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* POST /api/v1/records */
static void h_records(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztm_slice body = ztmd_req_body(r);
	X509 *peer_cert = ztmd_req_peer_cert(r), *signer = NULL;
	STACK_OF(X509) *trusted = NULL;
	struct ztmd_peer peer;
	struct upload *u = NULL;
	struct ztm_error err;
	int status = 400;

	if (app_authorize(app, r, ZTMD_ACT_RECORD_UPLOAD, &peer) != 0)
		return;
	ztm_error_clear(&err);
	if (!is_cms(ztmd_req_header(r, "Content-Type"))) {
		ztm_error_set(&err, ZTM_E_USAGE, "Content-Type must be application/cms");
		status = 415;
		goto refuse;
	}
	if (app->cas[APP_CA_STATION].cert == NULL || peer_cert == NULL) {
		ztm_error_set(&err, ZTM_E_DENIED, "no station CA configured");
		status = 403;
		goto refuse;
	}
	u = calloc(1, sizeof(*u));
	trusted = sk_X509_new_null();
	if (u == NULL || trusted == NULL ||
	    sk_X509_push(trusted, app->cas[APP_CA_STATION].cert) <= 0) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		status = 500;
		goto refuse;
	}
	u->app = app;
	u->station_id = peer.who.id;
	u->factory_id = peer.who.factory_id;
	snprintf(u->actor, sizeof(u->actor), "station:%s", peer.who.name);
	if (ztm_batch_verify(body.p, body.len, trusted, &u->b, &signer, &err) != 0) {
		status = app_status_for(err.code);
		goto refuse;
	}
	u->slot_order = calloc(u->b.n, sizeof(*u->slot_order));
	if (u->slot_order == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		status = 500;
		goto refuse;
	}
	/* The same certificate, not merely the same name: a station uploads
	 * only the batches it signed itself. */
	if (X509_cmp(signer, peer_cert) != 0) {
		ztm_error_set(&err, ZTM_E_DENIED,
		              "batch %s was signed by another certificate than this connection's",
		              u->b.batch_id);
		status = 403;
		goto refuse;
	}
	X509_free(signer);
	sk_X509_free(trusted);
	ztmd_req_defer(r, job_upload, u, done_upload);
	return;
refuse:
	X509_free(signer);
	sk_X509_free(trusted);
	if (u != NULL)
		upload_free(u);
	app_refuse(r, app, ACTION, status, &err);
}

size_t records_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	/* A batch is larger than any other body: its own cap. */
	out[0] = (struct ztmd_route){ZTMD_POST, "/api/v1/records", ZTMD_ROUTE_BATCH_BODY, h_records,
	                             app};
	return 1;
}
