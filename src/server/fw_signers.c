/* fw_signers.c - firmware signer keys (docs/firmware.md "Signers"): one
 * P-256 key and certificate per product line and channel, issued by ztmd
 * from the codesign CA with id-kp-codeSigning and the channel's policy
 * (profiles fw-production / fw-test), the key generated through the
 * key-by-URI seam (ztm/key.h): today a file: URI encrypted with the online
 * passphrase like every other ztmd key, later a pkcs11: URI (issue 6).
 *
 * Also the one signing step of a release (app_fw_sign), used by firmware.c
 * inside a store job, so the signatures and the row that records them
 * commit together, before anyone sees them (DESIGN I1). */
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app_int.h"
#include "ztm/config.h"
#include "ztm/file.h"
#include "ztm/firmware.h"
#include "ztm/issue.h"
#include "ztm/key.h"
#include "ztm/p11uri.h"
#include "ztm/str.h"

int app_fw_load(struct app_fw *fw, struct ztm_config *cfg, struct ztm_error *err)
{
	const char *dir = NULL, *token = NULL, *pass = NULL;
	char probe[sizeof(fw->key_token) + 64];

	memset(fw, 0, sizeof(*fw));
	ztm_buf_init(&fw->pass, 4096);
	if (ztm_config_str(cfg, "firmware", "key_dir", NULL, &dir, err) != 0 ||
	    ztm_config_str(cfg, "firmware", "key_token", NULL, &token, err) != 0 ||
	    ztm_config_str(cfg, "firmware", "key_pass_file", NULL, &pass, err) != 0)
		return -1;
	if (dir != NULL && token != NULL)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "[firmware] key_dir and key_token: give one (where new signer "
		                     "keys are generated)");
	if (token != NULL) {
		struct ztm_p11_uri u;
		/* A token, not a key: each signer gets object=fw-...; checked now
		 * (a key URI here would make every signer the same key). */
		if (ztm_p11_uri_compose(token, NULL, 1, probe, sizeof(probe), err) != 0 ||
		    ztm_p11_uri_parse(token, &u, err) != 0) {
			char why[sizeof(err->msg)];
			ztm_strlcpy(why, err->msg, sizeof(why));
			return ztm_error_set(err, ZTM_E_CONFIG, "[firmware] key_token: %s", why);
		}
		if (u.object[0] != '\0' || u.has_id)
			return ztm_error_set(
			    err, ZTM_E_CONFIG,
			    "[firmware] key_token names a token, not a key: drop "
			    "object= and id= (each signer key gets object=fw-<product>-"
			    "<channel>-<random>)");
		if (ztm_strlcpy(fw->key_token, token, sizeof(fw->key_token)) != 0)
			return ztm_error_set(err, ZTM_E_CONFIG, "[firmware] key_token too long");
	}
	/* Default: the codesign CA's passphrase (the online one). */
	if (pass == NULL &&
	    ztm_config_str(cfg, "ca.codesign", "key_pass_file", NULL, &pass, err) != 0)
		return -1;
	if (dir == NULL && token == NULL)
		return 0;
	if (dir != NULL && ztm_strlcpy(fw->key_dir, dir, sizeof(fw->key_dir)) != 0)
		return ztm_error_set(err, ZTM_E_CONFIG, "[firmware] key_dir too long");
	if (pass != NULL && ztm_secret_read(pass, &fw->pass, err) != 0)
		return -1;
	return 0;
}

void app_fw_free(struct app_fw *fw)
{
	unsigned i;

	for (i = 0; i < APP_FW_KEYS; i++)
		EVP_PKEY_free(fw->keys[i].key);
	ztm_buf_free(&fw->pass);
	memset(fw, 0, sizeof(*fw));
}

static struct ztm_key_opts key_opts(struct app_fw *fw)
{
	struct ztm_key_opts o;

	memset(&o, 0, sizeof(o));
	o.pass = fw->pass.len > 0 ? ztm_buf_cstr(&fw->pass) : NULL;
	return o;
}

/* The signer's private key, from the cache or its URI (borrowed). */
static EVP_PKEY *signer_key(struct app_fw *fw, const struct ztm_fw_signer_row *sg,
                            struct ztm_error *err)
{
	struct ztm_key_opts o = key_opts(fw);
	EVP_PKEY *k;
	unsigned i;

	for (i = 0; i < APP_FW_KEYS; i++)
		if (fw->keys[i].key != NULL && fw->keys[i].id == sg->id)
			return fw->keys[i].key;
	if ((k = ztm_key_load(sg->key_uri, &o, err)) == NULL)
		return NULL;
	i = fw->next++ % APP_FW_KEYS;
	EVP_PKEY_free(fw->keys[i].key);
	fw->keys[i].id = sg->id;
	fw->keys[i].key = k;
	return k;
}

/* The certificate's channel policy, read back from the DER: the check in
 * code that backs the CA's binding (a test certificate never signs a
 * production release, even if a row were wrong). */
static int cert_channel(X509 *x, int *channel)
{
	CERTIFICATEPOLICIES *pol = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	char oid[96];
	int rc = -1;

	if (pol != NULL && sk_POLICYINFO_num(pol) == 1 &&
	    OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(pol, 0)->policyid, 1) > 0) {
		if (strcmp(oid, ZTM_FW_OID_PRODUCTION_TEXT) == 0)
			*channel = ZTM_FW_PRODUCTION, rc = 0;
		else if (strcmp(oid, ZTM_FW_OID_TEST_TEXT) == 0)
			*channel = ZTM_FW_TEST, rc = 0;
	}
	CERTIFICATEPOLICIES_free(pol);
	return rc;
}

static int unhex32(const char *hex, uint8_t out[32])
{
	size_t i;
	unsigned v;

	for (i = 0; i < 32; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int app_fw_sign(struct ztmd_app *app, struct ztm_store *s, const struct ztm_fw_release_row *rel,
                const char *approver, struct ztm_error *err)
{
	struct ztm_fw_signer_row *sg = malloc(sizeof(*sg));
	struct ztm_product_row prod;
	struct ztm_fw_claims c;
	struct ztm_buf cms, man;
	X509 *cert = NULL, *ca = app->cas[APP_CA_CODESIGN].cert;
	const unsigned char *p;
	EVP_PKEY *key;
	int ch = -1, rc = -1;

	ztm_buf_init(&cms, 64 * 1024);
	ztm_buf_init(&man, ZTM_FW_MANIFEST_MAX);
	if (sg == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "firmware signer");
	if (ca == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG,
		              "no [ca.codesign] configured: cannot sign firmware");
		goto out;
	}
	if (ztm_store_product_get_id(s, rel->product_id, &prod, err) != 0)
		goto out;
	if (ztm_store_fw_signer_active(s, rel->product_id, rel->channel, sg, err) != 0) {
		if (err->code == ZTM_E_NOTFOUND)
			ztm_error_set(err, ZTM_E_CONFLICT,
			              "product %s has no active %s firmware signer: create one "
			              "(ztm firmware signer create)",
			              prod.name,
			              ztm_fw_channel_name((enum ztm_fw_channel)rel->channel));
		goto out;
	}
	p = sg->cert_der;
	if ((cert = d2i_X509(NULL, &p, (long)sg->cert_len)) == NULL ||
	    cert_channel(cert, &ch) != 0 || ch != rel->channel || sg->channel != rel->channel) {
		ztm_error_set(err, ZTM_E_POLICY,
		              "firmware signer %lld's certificate is not of the %s channel",
		              (long long)sg->id,
		              ztm_fw_channel_name((enum ztm_fw_channel)rel->channel));
		goto out;
	}
	if ((key = signer_key(&app->fw, sg, err)) == NULL)
		goto out;
	memset(&c, 0, sizeof(c));
	ztm_strlcpy(c.product, prod.name, sizeof(c.product));
	ztm_strlcpy(c.version, rel->version, sizeof(c.version));
	c.security_version = (uint64_t)rel->security_version;
	c.size = (uint64_t)rel->size;
	c.channel = (enum ztm_fw_channel)rel->channel;
	c.release = (uint64_t)rel->id;
	c.signed_at = (uint64_t)time(NULL);
	if (unhex32(rel->sha256, c.digest) != 0) {
		ztm_error_set(err, ZTM_E_STORE, "release %lld: bad digest", (long long)rel->id);
		goto out;
	}
	if (ztm_fw_cms_sign(&c, key, cert, &ca, 1, &cms, err) != 0 ||
	    ztm_fw_manifest_sign(&c, key, cert, &ca, 1, &man, err) != 0 ||
	    ztm_store_fw_release_sign(s, rel->id, sg->id, approver, (int64_t)c.signed_at, cms.data,
	                              cms.len, man.data, man.len, err) != 0)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	free(sg);
	ztm_buf_free(&cms);
	ztm_buf_free(&man);
	return rc;
}

/* --- REST: /api/v1/firmware/signers ------------------------------------- */

struct signer_op {
	struct ztmd_app *app;
	char actor[160];
	const char *action;
	int64_t product_id;
	char product[65];
	int channel;
	int64_t id;
	char object[24];
	char key_uri[1024];
	struct ztm_fw_signer_row row;
	EVP_PKEY *key; /* the new key (create) */
};

static json_t *signer_json(const struct ztm_fw_signer_row *sg, const char *product)
{
	const unsigned char *p = sg->cert_der;
	X509 *x = d2i_X509(NULL, &p, (long)sg->cert_len);
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n = 0;
	json_t *j;

	if (x != NULL && b != NULL && PEM_write_bio_X509(b, x) == 1)
		n = BIO_get_mem_data(b, &pem);
	j = json_pack("{sI sI ss ss ss ss sI sI s:s#}", "id", (json_int_t)sg->id, "product_id",
	              (json_int_t)sg->product_id, "product", product != NULL ? product : "",
	              "channel", ztm_fw_channel_name((enum ztm_fw_channel)sg->channel), "key_uri",
	              sg->key_uri, "cert_serial", sg->cert_serial, "created_at",
	              (json_int_t)sg->created_at, "retired_at", (json_int_t)sg->retired_at,
	              "certificate", pem != NULL ? pem : "", (int)n);
	BIO_free(b);
	X509_free(x);
	return j;
}

static void free_op(struct signer_op *op)
{
	if (op != NULL)
		EVP_PKEY_free(op->key);
	free(op);
}

static int job_create(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct signer_op *op = arg;
	struct app_ca *ca = &op->app->cas[APP_CA_CODESIGN];
	struct ztm_name_attr subject[2];
	struct ztm_issue_req req;
	struct ztm_cert_row row;
	struct ztm_buf der;
	unsigned char *spki = NULL;
	uint8_t md[32];
	char cn[128], detail[1400];
	int spki_len, rc = -1;

	ztm_cert_row_init(&row);
	ztm_buf_init(&der, ZTM_FW_CERT_MAX);
	spki_len = i2d_PUBKEY(op->key, &spki);
	if (spki_len <= 0 ||
	    EVP_Digest(spki, (size_t)spki_len, md, NULL, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "firmware signer key");
		goto out;
	}
	snprintf(cn, sizeof(cn), "%s firmware signer (%s)", op->product,
	         ztm_fw_channel_name((enum ztm_fw_channel)op->channel));
	subject[0] = (struct ztm_name_attr){ZTM_ATTR_O, op->app->org};
	subject[1] = (struct ztm_name_attr){ZTM_ATTR_CN, cn};
	memset(&req, 0, sizeof(req));
	req.profile = op->channel == ZTM_FW_PRODUCTION ? "fw-production" : "fw-test";
	req.subject = subject;
	req.n_subject = 2;
	req.spki.p = spki;
	req.spki.len = (size_t)spki_len;
	if (ztm_serial_new(req.serial, err) != 0)
		goto out;
	ztm_serial_hex(req.serial, row.serial);
	ztm_strlcpy(row.ca, "codesign", sizeof(row.ca));
	ztm_strlcpy(row.profile, req.profile, sizeof(row.profile));
	ztm_strlcpy(row.subject, cn, sizeof(row.subject));
	ztm_hex(md, 32, row.spki_sha256);
	ztm_strlcpy(row.owner_kind, "fw-signer", sizeof(row.owner_kind));
	row.owner_id = op->product_id;
	row.not_before = (int64_t)time(NULL);
	row.not_after = row.not_before + ztm_profile_get(req.profile)->lifetime - 1;
	req.not_before = row.not_before;
	/* Reserve, sign, record: the certificate exists in the store before
	 * it can sign anything (DESIGN I1). */
	if (ztm_store_cert_reserve(s, &row, err) != 0 || ztm_issue(ca->ca, &req, &der, err) != 0 ||
	    ztm_store_cert_issue(s, row.serial, der.data, der.len, err) != 0)
		goto out;
	memset(&op->row, 0, sizeof(op->row));
	op->row.product_id = op->product_id;
	op->row.channel = op->channel;
	ztm_strlcpy(op->row.key_uri, op->key_uri, sizeof(op->row.key_uri));
	ztm_strlcpy(op->row.cert_serial, row.serial, sizeof(op->row.cert_serial));
	memcpy(op->row.cert_der, der.data, der.len);
	op->row.cert_len = der.len;
	ztm_strlcpy(op->row.created_by, op->actor, sizeof(op->row.created_by));
	op->row.created_at = row.not_before;
	if (ztm_store_fw_signer_add(s, &op->row, err) != 0)
		goto out;
	snprintf(detail, sizeof(detail), "product=%s channel=%s cert=%s key=%s", op->product,
	         ztm_fw_channel_name((enum ztm_fw_channel)op->channel), row.serial, op->key_uri);
	snprintf(op->object, sizeof(op->object), "%lld", (long long)op->row.id);
	rc = ztm_store_audit(s, op->actor, op->action, op->object, "ok", detail, err);
out:
	OPENSSL_free(spki);
	ztm_cert_row_free(&row);
	ztm_buf_free(&der);
	return rc;
}

static int job_retire(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct signer_op *op = arg;
	struct ztm_product_row prod;

	if (ztm_store_fw_signer_retire(s, op->id, (int64_t)time(NULL), err) != 0 ||
	    ztm_store_fw_signer_get(s, op->id, &op->row, err) != 0)
		return -1;
	if (ztm_store_product_get_id(s, op->row.product_id, &prod, err) == 0)
		ztm_strlcpy(op->product, prod.name, sizeof(op->product));
	return ztm_store_audit(s, op->actor, op->action, op->object, "ok", op->row.cert_serial,
	                       err);
}

static void done_op(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct signer_op *op = arg;

	if (rc != 0)
		app_refuse(r, op->app, op->action, app_status_for(err->code), err);
	else
		admin_reply_json(r, strcmp(op->action, "firmware.signer.create") == 0 ? 201 : 200,
		                 signer_json(&op->row, op->product));
	free_op(op);
}

static struct signer_op *op_new(struct ztmd_app *app, const struct ztmd_peer *peer,
                                const char *action)
{
	struct signer_op *op = calloc(1, sizeof(*op));

	if (op != NULL) {
		op->app = app;
		op->action = action;
		admin_actor_of(peer, op->actor, sizeof(op->actor));
	}
	return op;
}

/* POST /api/v1/firmware/signers {"product", "channel"} */
static void h_create(struct ztmd_req *r, struct ztmd_app *app, const struct ztmd_peer *peer)
{
	static const char *const keys[] = {"product", "channel", NULL};
	const char *action = "firmware.signer.create";
	struct signer_op *op = op_new(app, peer, action);
	struct ztm_product_row prod;
	struct ztm_key_opts o = key_opts(&app->fw);
	enum ztm_fw_channel ch;
	struct ztm_error err;
	uint8_t rnd[8];
	char rhex[17];
	json_t *j = NULL;

	if (op == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		goto fail;
	}
	if ((app->fw.key_dir[0] == '\0' && app->fw.key_token[0] == '\0') ||
	    app->cas[APP_CA_CODESIGN].ca == NULL) {
		ztm_error_set(
		    &err, ZTM_E_CONFIG,
		    "firmware signing is not configured ([firmware] key_dir or key_token, "
		    "[ca.codesign])");
		goto fail;
	}
	j = admin_read_object(r, &err);
	if (j == NULL || admin_only_fields(j, keys, &err) != 0 ||
	    admin_field_name(j, "product", op->product, sizeof(op->product), &err) != 0)
		goto fail;
	if (ztm_fw_channel_parse(json_string_value(json_object_get(j, "channel")), &ch) != 0) {
		ztm_error_set(&err, ZTM_E_USAGE, "field 'channel': production or test");
		goto fail;
	}
	op->channel = (int)ch;
	if (ztm_store_product_get(ztmd_req_store(r), op->product, &prod, &err) != 0)
		goto fail;
	op->product_id = prod.id;
	/* Checked before a key is generated, so a refused request leaves no
	 * key file behind (the store's unique index still decides a race). */
	if (ztm_store_fw_signer_active(ztmd_req_store(r), prod.id, op->channel, &op->row, &err) ==
	    0) {
		ztm_error_set(
		    &err, ZTM_E_EXISTS,
		    "product %s already has an active %s firmware signer (%lld): retire it "
		    "first",
		    prod.name, ztm_fw_channel_name(ch), (long long)op->row.id);
		goto fail;
	}
	/* A fresh name each time: a key file is never overwritten, and a
	 * retired signer's key stays where its row says. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		ztm_error_ossl(&err, ZTM_E_CRYPTO, "random key name");
		goto fail;
	}
	ztm_hex(rnd, sizeof(rnd), rhex);
	if (app->fw.key_token[0] != '\0') {
		/* Generated inside the token (sensitive, never extractable); the
		 * row keeps the key's URI with the token's pin-source, if any. */
		char obj[ZTM_P11_OBJECT_MAX + 1];
		if ((size_t)snprintf(obj, sizeof(obj), "fw-%s-%s-%s", op->product,
		                     ztm_fw_channel_name(ch), rhex) >= sizeof(obj)) {
			ztm_error_set(&err, ZTM_E_USAGE, "product name too long for a token label");
			goto fail;
		}
		if (ztm_p11_uri_compose(app->fw.key_token, obj, 1, op->key_uri, sizeof(op->key_uri),
		                        &err) != 0)
			goto fail;
	} else if ((size_t)snprintf(op->key_uri, sizeof(op->key_uri), "file:%s/fw-%s-%s-%s.key",
	                            app->fw.key_dir, op->product, ztm_fw_channel_name(ch),
	                            rhex) >= sizeof(op->key_uri)) {
		ztm_error_set(&err, ZTM_E_CONFIG, "[firmware] key_dir too long");
		goto fail;
	}
	if ((op->key = ztm_key_generate(op->key_uri, ZTM_KEY_P256, &o, &err)) == NULL)
		goto fail;
	json_decref(j);
	ztmd_req_defer(r, job_create, op, done_op);
	return;
fail:
	json_decref(j);
	free_op(op);
	app_refuse(r, app, action, app_status_for(err.code), &err);
}

struct list_ctx {
	struct ztm_store *s;
	json_t *arr;
};

static int list_one(const struct ztm_fw_signer_row *row, void *arg)
{
	struct list_ctx *c = arg;
	struct ztm_product_row prod;
	struct ztm_error e;

	if (ztm_store_product_get_id(c->s, row->product_id, &prod, &e) != 0)
		prod.name[0] = '\0';
	return json_array_append_new(c->arr, signer_json(row, prod.name));
}

static void h_signers(struct ztmd_req *r, void *arg)
{
	static const char prefix[] = "/api/v1/firmware/signers";
	struct ztmd_app *app = arg;
	const char *path = ztmd_req_path(r), *rest = path + sizeof(prefix) - 1;
	int is_post = ztmd_req_method(r) == ZTMD_POST;
	struct ztmd_peer peer;
	struct signer_op *op;
	struct list_ctx lc;
	struct ztm_product_row prod;
	struct ztm_error err;
	const char *product = ztmd_req_query(r, "product");
	uint64_t id;
	char digits[24];
	size_t dl;

	if (app_authorize(app, r, is_post ? ZTMD_ACT_FW_SIGNER_WRITE : ZTMD_ACT_FW_SIGNER_READ,
	                  &peer) != 0)
		return;
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		goto notfound;
	if (*rest == '\0') {
		if (is_post) {
			h_create(r, app, &peer);
			return;
		}
		lc.s = ztmd_req_store(r);
		lc.arr = json_array();
		prod.id = 0;
		if (product != NULL &&
		    ztm_store_product_get(ztmd_req_store(r), product, &prod, &err) != 0) {
			json_decref(lc.arr);
			ztmd_reply_error(r, app_status_for(err.code), &err);
			return;
		}
		if (lc.arr == NULL ||
		    ztm_store_fw_signer_each(lc.s, prod.id, list_one, &lc, &err) != 0) {
			json_decref(lc.arr);
			ztmd_reply_error(r, 500, &err);
			return;
		}
		admin_reply_json(r, 200, json_pack("{so}", "signers", lc.arr));
		return;
	}
	/* POST /api/v1/firmware/signers/<id>/retire */
	if (!is_post || *rest != '/' || (dl = strcspn(rest + 1, "/")) == 0 ||
	    dl >= sizeof(digits) || strcmp(rest + 1 + dl, "/retire") != 0)
		goto notfound;
	memcpy(digits, rest + 1, dl);
	digits[dl] = '\0';
	if (ztm_parse_u64(digits, 1, (uint64_t)1 << 53, &id) != 0)
		goto notfound;
	if ((op = op_new(app, &peer, "firmware.signer.retire")) == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "request");
		app_refuse(r, app, "firmware.signer.retire", 500, &err);
		return;
	}
	op->id = (int64_t)id;
	snprintf(op->object, sizeof(op->object), "%s", digits);
	ztmd_req_defer(r, job_retire, op, done_op);
	return;
notfound:
	ztm_error_set(&err, ZTM_E_NOTFOUND,
	              "want GET|POST /api/v1/firmware/signers or POST "
	              "/api/v1/firmware/signers/<id>/retire");
	ztmd_reply_error(r, 404, &err);
}

size_t fw_signer_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	const struct ztmd_route routes[] = {
	    {ZTMD_GET | ZTMD_POST, "/api/v1/firmware/signers", 0, h_signers, app},
	    {ZTMD_POST, "/api/v1/firmware/signers/", ZTMD_ROUTE_PREFIX, h_signers, app},
	};
	size_t i, n = sizeof(routes) / sizeof(routes[0]);

	for (i = 0; i < n && i < max; i++)
		out[i] = routes[i];
	return i;
}
