/* transfer.c - transfer of ownership (issue 4 point 6, docs/vouchers.md).
 *
 * POST /api/v1/devices/transfer {"owner", "devices": [...], "days"} signs
 * one ownership voucher per device, binding its serial and the SHA-256 of
 * its operational key to the owner's trust anchor, records the owner on the
 * device, and audits each one. The whole request is one store job: every
 * device is checked, signed for and recorded, or none is (the job's
 * savepoint). Nothing is replied before the commit (DESIGN I1), so no
 * voucher exists that the store does not list. */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/str.h"
#include "ztm/voucher.h"

#define ACTION       "device.transfer"
#define MAX_DEVICES  500 /* per request; a job holds the write lock while it signs */
#define DEFAULT_DAYS 30
#define MAX_DAYS     365

int app_voucher_load(struct app_voucher *v, struct ztm_config *cfg, struct ztm_error *err)
{
	const char *cert = NULL, *key = NULL, *pass = NULL;
	struct ztm_key_opts kopts;
	struct ztm_buf passbuf;
	uint64_t days, max_days;
	BIO *b = NULL;
	X509 *x;
	int rc = -1;

	memset(v, 0, sizeof(*v));
	ztm_buf_init(&passbuf, 4096);
	if (ztm_config_str(cfg, "voucher", "cert", NULL, &cert, err) != 0 ||
	    ztm_config_str(cfg, "voucher", "key", NULL, &key, err) != 0 ||
	    ztm_config_str(cfg, "voucher", "key_pass_file", NULL, &pass, err) != 0 ||
	    ztm_config_u64(cfg, "voucher", "max_days", MAX_DAYS, 1, 3650, &max_days, err) != 0 ||
	    ztm_config_u64(cfg, "voucher", "days", DEFAULT_DAYS, 1, max_days, &days, err) != 0)
		goto out;
	v->days = (int64_t)days;
	v->max_days = (int64_t)max_days;
	if (cert == NULL) {
		/* Not configured: transfers are refused, nothing else changes. */
		rc = 0;
		goto out;
	}
	if (key == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "[voucher] has cert but no key");
		goto out;
	}
	/* The signer first, then the chain a device needs to reach its root. */
	b = BIO_new_file(cert, "r");
	if (b == NULL || (v->cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[voucher] cert %s", cert);
		goto out;
	}
	if ((v->chain = sk_X509_new_null()) == NULL)
		goto nomem;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(v->chain, x) <= 0) {
			X509_free(x);
			goto nomem;
		}
	ERR_clear_error();
	memset(&kopts, 0, sizeof(kopts));
	if (pass != NULL) {
		if (ztm_secret_read(pass, &passbuf, err) != 0)
			goto out;
		kopts.pass = (const char *)passbuf.data;
	}
	if ((v->key = ztm_key_load(key, &kopts, err)) == NULL)
		goto out;
	if (X509_check_private_key(v->cert, v->key) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[voucher] key %s is not the key of %s", key,
		               cert);
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	ztm_error_set(err, ZTM_E_NOMEM, "[voucher] chain");
out:
	BIO_free(b);
	ztm_buf_free(&passbuf);
	if (rc != 0)
		app_voucher_free(v);
	return rc;
}

void app_voucher_free(struct app_voucher *v)
{
	X509_free(v->cert);
	sk_X509_pop_free(v->chain, X509_free);
	EVP_PKEY_free(v->key);
	v->cert = NULL;
	v->chain = NULL;
	v->key = NULL;
}

struct transfer {
	struct ztmd_app *app;
	char actor[160];
	char owner[65];
	size_t n;
	char (*serials)[ZTM_DEV_SERIAL_MAX];
	int64_t days, created_on, expires_on;
	json_t *vouchers; /* [{"serial", "voucher"}], built in the job */
};

static void transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	free(t->serials);
	json_decref(t->vouchers);
	free(t);
}

/* One device: checks, signs, records. */
static int transfer_one(struct ztm_store *s, struct transfer *t, const struct ztm_owner_row *o,
                        const char *serial, struct ztm_error *err)
{
	struct ztm_device_row d;
	struct ztm_voucher v;
	struct ztm_buf json, der, b64;
	uint8_t md[32];
	unsigned mdlen = 0;
	char hex[ZTM_SHA256_HEX], detail[200];
	int rc = -1;

	ztm_buf_init(&json, 64 * 1024);
	ztm_buf_init(&der, 128 * 1024);
	ztm_buf_init(&b64, 0);
	if (ztm_store_device_get(s, serial, &d, err) != 0)
		goto out;
	/* A voucher binds the operational key: only a device that has one and
	 * is in good standing is handed over. */
	if (d.state != ZTM_DEVICE_PROVISIONED && d.state != ZTM_DEVICE_ACTIVE) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "device %s is %s: only provisioned or active devices are transferred",
		              serial, ztm_device_state_name(d.state));
		goto out;
	}
	if (strlen(d.key_spki_sha256) != 64) {
		ztm_error_set(err, ZTM_E_CONFLICT, "device %s has no operational key", serial);
		goto out;
	}
	memset(&v, 0, sizeof(v));
	v.created_on = t->created_on;
	v.expires_on = t->expires_on;
	v.serial = d.serial;
	v.pinned = o->anchor_der;
	v.pinned_len = o->anchor_len;
	v.spki_sha256 = d.key_spki_sha256;
	if (ztm_voucher_json(&v, &json, err) != 0 ||
	    ztm_voucher_sign(json.data, json.len, t->app->voucher.cert, t->app->voucher.key,
	                     t->app->voucher.chain, &der, err) != 0)
		goto out;
	if (EVP_Digest(der.data, der.len, md, &mdlen, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the voucher");
		goto out;
	}
	ztm_hex(md, sizeof(md), hex);
	if (ztm_store_voucher_add(s, d.id, o->id, t->created_on, t->expires_on, hex, t->actor,
	                          err) != 0 ||
	    ztm_store_device_set_owner(s, serial, o->id, err) != 0)
		goto out;
	snprintf(detail, sizeof(detail), "owner=%s anchor=%.16s voucher=%.16s expires_on=%lld",
	         o->name, o->anchor_sha256, hex, (long long)t->expires_on);
	if (ztm_store_audit(s, t->actor, ACTION, serial, "ok", detail, err) != 0)
		goto out;
	if (ztm_b64_encode(der.data, der.len, 0, &b64) != 0 ||
	    json_array_append_new(t->vouchers, json_pack("{s:s,s:s}", "serial", serial, "voucher",
	                                                 ztm_buf_cstr(&b64))) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "voucher reply");
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&json);
	ztm_buf_free(&der);
	ztm_buf_free(&b64);
	return rc;
}

static int job_transfer(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct transfer *t = arg;
	struct ztm_owner_row *o = malloc(sizeof(*o));
	size_t i;
	int rc = -1;

	/* A retried job (the group commit failed) starts over. */
	json_array_clear(t->vouchers);
	if (o == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "owner row");
		goto out;
	}
	if (ztm_store_owner_get(s, t->owner, o, err) != 0)
		goto out;
	for (i = 0; i < t->n; i++)
		if (transfer_one(s, t, o, t->serials[i], err) != 0)
			goto out;
	rc = 0;
out:
	free(o);
	return rc;
}

static void done_transfer(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct transfer *t = arg;
	json_t *j;

	if (rc != 0) {
		app_refuse(r, t->app, ACTION, app_status_for(err->code), err);
		transfer_free(t);
		return;
	}
	j = json_pack("{s:s,s:I,s:I,s:O}", "owner", t->owner, "created_on",
	              (json_int_t)t->created_on, "expires_on", (json_int_t)t->expires_on,
	              "vouchers", t->vouchers);
	transfer_free(t);
	admin_reply_json(r, 200, j);
}

/* {"owner": NAME, "devices": [SERIAL, ...], "days": N}: every serial a
 * string of printable ASCII without spaces, none twice. */
static int parse_transfer(json_t *j, struct transfer *t, struct ztm_error *err)
{
	static const char *const fields[] = {"owner", "devices", "days", NULL};
	json_t *arr = json_object_get(j, "devices"), *v, *days = json_object_get(j, "days");
	size_t i, k;

	if (admin_only_fields(j, fields, err) != 0 ||
	    admin_field_name(j, "owner", t->owner, sizeof(t->owner), err) != 0)
		return -1;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_DEVICES)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "field 'devices': a list of 1..%d device serials",
		                     MAX_DEVICES);
	t->days = t->app->voucher.days;
	if (days != NULL) {
		if (!json_is_integer(days) || json_integer_value(days) < 1 ||
		    json_integer_value(days) > t->app->voucher.max_days)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "field 'days': an integer in 1..%lld",
			                     (long long)t->app->voucher.max_days);
		t->days = (int64_t)json_integer_value(days);
	}
	t->n = json_array_size(arr);
	t->serials = calloc(t->n, sizeof(*t->serials));
	if (t->serials == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "device list");
	json_array_foreach(arr, i, v)
	{
		const char *sn = json_string_value(v);
		size_t n = sn != NULL ? strlen(sn) : 0;

		if (n == 0 || n >= ZTM_DEV_SERIAL_MAX)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "field 'devices': entry %zu is not a device serial",
			                     i + 1);
		for (k = 0; k < n; k++)
			if (sn[k] < 0x21 || sn[k] > 0x7e)
				return ztm_error_set(err, ZTM_E_USAGE,
				                     "field 'devices': entry %zu is not printable "
				                     "ASCII",
				                     i + 1);
		memcpy(t->serials[i], sn, n + 1);
		for (k = 0; k < i; k++)
			if (strcmp(t->serials[k], sn) == 0)
				return ztm_error_set(err, ZTM_E_USAGE,
				                     "field 'devices': %s is listed twice", sn);
	}
	return 0;
}

static void h_transfer(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct transfer *t;
	struct ztm_error err;
	json_t *j = NULL;
	int status = 400;

	if (app_authorize(app, r, ZTMD_ACT_DEVICE_TRANSFER, &peer) != 0)
		return;
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->vouchers = json_array()) == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		status = 500;
		goto refuse;
	}
	t->app = app;
	admin_actor_of(&peer, t->actor, sizeof(t->actor));
	if (app->voucher.cert == NULL) {
		ztm_error_set(&err, ZTM_E_CONFIG,
		              "no voucher signer is configured ([voucher] in ztmd.conf)");
		status = 503;
		goto refuse;
	}
	if ((j = admin_read_object(r, &err)) == NULL || parse_transfer(j, t, &err) != 0)
		goto refuse;
	json_decref(j);
	t->created_on = (int64_t)time(NULL);
	t->expires_on = t->created_on + t->days * 86400;
	ztmd_req_defer(r, job_transfer, t, done_transfer);
	return;
refuse:
	json_decref(j);
	transfer_free(t);
	app_refuse(r, app, ACTION, status, &err);
}

size_t transfer_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0] = (struct ztmd_route){ZTMD_POST, "/api/v1/devices/transfer", 0, h_transfer, app};
	return 1;
}
