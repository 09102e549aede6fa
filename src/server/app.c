/* app.c - ztmd's application: configuration of the CAs, the pre-built
 * /cacerts bodies, peer resolution and the route table of EST and admin. */
#include "app_int.h"

#include "ocsp_int.h"
#include "server.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/ca.h"
#include "ztm/certfile.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/log.h"
#include "ztm/pkcs7.h"
#include "ztm/str.h"
#include "ztm/tpm.h"

static const char *const ca_names[APP_CA_COUNT] = {"device", "station", "operator", "ocsp",
                                                   "codesign"};

const char *app_ca_name(enum app_ca_id id)
{
	return (unsigned)id < APP_CA_COUNT ? ca_names[id] : "unknown";
}

static int cert_der(X509 *x, struct ztm_buf *out)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	int rc;

	if (n <= 0)
		return -1;
	rc = ztm_buf_append(out, p, (size_t)n);
	OPENSSL_free(p);
	return rc;
}

/* The OCSP responder key (same passphrase as the CA key) and the CertID
 * issuer hashes that name this CA; the certificate comes later, from the
 * store (ocsp_responder.c). */
static int load_responder_key(struct app_ca *ca, const char *uri, const struct ztm_key_opts *kopts,
                              struct ztm_error *err)
{
	unsigned char md[32], *spki = NULL;
	unsigned int mdlen = 0;
	int h, n, ok;

	ca->responder_key = ztm_key_load(uri, kopts, err);
	if (ca->responder_key == NULL || ztm_key_check_allowed(ca->responder_key, err) != 0)
		return -1;
	for (h = 0; h < ZTM_OCSP_HASH_COUNT; h++)
		if (ztm_ocsp_issuer_hashes(ca->cert, (enum ztm_ocsp_hash)h, ca->id_name[h],
		                           ca->id_key[h], err) != 0)
			return -1;
	n = i2d_PUBKEY(ca->responder_key, &spki);
	ok = n > 0 && EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1;
	OPENSSL_free(spki);
	if (!ok)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "[ca.%s] responder_key: encoding",
		                      ca->name);
	ztm_hex(md, 32, ca->responder_spki);
	return 0;
}

static int load_ca(struct ztmd_app *app, struct ztm_config *cfg, enum app_ca_id id,
                   struct ztm_error *err)
{
	char section[32];
	const char *cert = NULL, *key = NULL, *pass = NULL, *rkey = NULL;
	struct ztm_ca_urls urls;
	struct ztm_key_opts kopts;
	struct ztm_buf passbuf;
	EVP_PKEY *pkey = NULL;
	struct app_ca *ca = &app->cas[id];
	uint64_t shard = 0;
	int rc = -1;

	ca->name = ca_names[id];
	snprintf(section, sizeof(section), "ca.%s", ca_names[id]);
	memset(&urls, 0, sizeof(urls));
	ztm_buf_init(&passbuf, 4096);
	if (ztm_config_str(cfg, section, "cert", NULL, &cert, err) != 0 ||
	    ztm_config_str(cfg, section, "key", NULL, &key, err) != 0 ||
	    ztm_config_str(cfg, section, "key_pass_file", NULL, &pass, err) != 0 ||
	    ztm_config_str(cfg, section, "aia_url", NULL, &urls.ca_issuers, err) != 0 ||
	    ztm_config_str(cfg, section, "ocsp_url", NULL, &urls.ocsp, err) != 0 ||
	    ztm_config_str(cfg, section, "crl_url", NULL, &urls.crl, err) != 0 ||
	    ztm_config_str(cfg, section, "responder_key", NULL, &rkey, err) != 0 ||
	    ztm_config_u64(cfg, section, "crl_shard_size", APP_CRL_SHARD_DEFAULT, 0, 1000000,
	                   &shard, err) != 0)
		goto out;
	if (cert == NULL && rkey != NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "[%s] has responder_key but no cert", section);
		goto out;
	}
	if (cert == NULL) {
		/* Not every deployment runs every CA; routes needing it refuse. */
		rc = 0;
		goto out;
	}
	if (key == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "[%s] has cert but no key", section);
		goto out;
	}
	ca->cert = ztm_cert_load_pem(cert, err);
	if (ca->cert == NULL)
		goto out;
	memset(&kopts, 0, sizeof(kopts));
	if (pass != NULL) {
		if (ztm_secret_read(pass, &passbuf, err) != 0)
			goto out;
		kopts.pass = (const char *)passbuf.data;
	}
	pkey = ztm_key_load(key, &kopts, err);
	if (pkey == NULL)
		goto out;
	ca->ca = ztm_ca_new(ca_names[id], ca->cert, pkey, &urls, err);
	if (ca->ca == NULL)
		goto out;
	ca->crl_url = ztm_ca_urls(ca->ca)->crl;
	ca->crl_shard_size = ca->crl_url != NULL ? (int64_t)shard : 0;
	ztm_buf_init(&ca->der, 64 * 1024);
	if (cert_der(ca->cert, &ca->der) != 0) {
		ztm_error_set(err, ZTM_E_CRYPTO, "%s: cannot encode", cert);
		goto out;
	}
	if (rkey != NULL && load_responder_key(ca, rkey, &kopts, err) != 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	ztm_buf_free(&passbuf);
	return rc;
}

/* RFC 7030 §4.1.3: the body is a base64 certs-only message. */
static int build_cacerts(struct ztmd_app *app, const struct ztm_slice *certs, size_t n,
                         struct ztm_buf *out)
{
	struct ztm_buf der;
	int rc;

	ztm_buf_init(&der, 0);
	ztm_buf_init(out, 0);
	rc = ztm_p7_certs_only(certs, n, &der);
	if (rc == 0)
		rc = ztm_b64_encode(der.data, der.len, 64, out);
	ztm_buf_free(&der);
	return rc;
}

/* Every route of the app, in matching order. transfer_routes (an exact
 * path) comes before the /api/v1/devices/ prefixes. */
static size_t (*const route_sets[])(struct ztmd_app *, struct ztmd_route *, size_t) = {
    est_routes,    admin_routes,    admin_prod_routes, records_routes,      device_api_routes,
    owners_routes, transfer_routes, devices_routes,    device_admin_routes, ocsp_routes,
    revoke_routes, crl_routes,      fw_signer_routes,  firmware_routes,
};

void ztmd_app_set_timeout(struct ztmd_app *app, unsigned timeout)
{
	app->reservation_lifetime = ztmd_reservation_lifetime(timeout);
}

struct ztmd_app *ztmd_app_new(struct ztm_config *cfg, struct ztm_error *err)
{
	struct ztmd_app *app = calloc(1, sizeof(*app));
	const char *root = NULL, *org = NULL, *admin = NULL, *ek_roots = NULL;
	struct ztm_slice all[APP_CA_COUNT + 1], pair[2];
	size_t nall = 0, k;
	unsigned i;

	if (app == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "app");
		return NULL;
	}
	ztm_buf_init(&app->root_der, 64 * 1024);
	app->ocsp_set = calloc(1, sizeof(*app->ocsp_set));
	if (app->ocsp_set == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "app");
		goto fail;
	}
	app->reservation_lifetime = ztmd_reservation_lifetime(3600);
	if (ocsp_settings_read(cfg, app->ocsp_set, err) != 0)
		goto fail;
	app->notice = ocsp_notice_new(err);
	if (app->notice == NULL)
		goto fail;
	if (ztm_config_str(cfg, "ca", "root", NULL, &root, err) != 0 ||
	    ztm_config_str(cfg, "subject", "organization", "ztm", &org, err) != 0 ||
	    ztm_config_str(cfg, "bootstrap", "admin_cert", NULL, &admin, err) != 0 ||
	    ztm_config_str(cfg, "attestation", "ek_roots", NULL, &ek_roots, err) != 0 ||
	    ztm_config_duration(cfg, "est", "code_ttl", 86400, 60, 90 * 86400, &app->code_ttl,
	                        err) != 0 ||
	    app_crl_config(app, cfg, err) != 0)
		goto fail;
	if (root == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "[ca] root (the root CA certificate) is required");
		goto fail;
	}
	if (ztm_strlcpy(app->org, org, sizeof(app->org)) != 0) {
		ztm_error_set(err, ZTM_E_CONFIG, "[subject] organization longer than 64");
		goto fail;
	}
	if (admin != NULL && ztm_strlcpy(app->admin_cert, admin, sizeof(app->admin_cert)) != 0) {
		ztm_error_set(err, ZTM_E_CONFIG, "[bootstrap] admin_cert path too long");
		goto fail;
	}
	/* TPM key attestation: off (the challenge endpoint answers 404, a
	 * key_storage = tpm product registers nobody) without manufacturer
	 * CAs; a file named but unusable stops the start. */
	if (ek_roots != NULL && (app->tpm_roots = ztm_tpm_roots_load(ek_roots, err)) == NULL)
		goto fail;
	app->root = ztm_cert_load_pem(root, err);
	if (app->root == NULL || cert_der(app->root, &app->root_der) != 0)
		goto fail;
	all[nall++] = ztm_buf_slice(&app->root_der);
	for (i = 0; i < APP_CA_COUNT; i++) {
		if (load_ca(app, cfg, (enum app_ca_id)i, err) != 0)
			goto fail;
		if (app->cas[i].cert == NULL)
			continue;
		all[nall++] = ztm_buf_slice(&app->cas[i].der);
		pair[0] = ztm_buf_slice(&app->cas[i].der);
		pair[1] = ztm_buf_slice(&app->root_der);
		if (build_cacerts(app, pair, 2, &app->cacerts_label[i]) != 0)
			goto nomem;
	}
	if (build_cacerts(app, all, nall, &app->cacerts_all) != 0)
		goto nomem;
	if (app_voucher_load(&app->voucher, cfg, err) != 0 || app_fw_load(&app->fw, cfg, err) != 0)
		goto fail;
	/* Order matters where paths overlap: an exact path before a prefix. */
	for (k = 0; k < sizeof(route_sets) / sizeof(route_sets[0]); k++)
		app->nroutes +=
		    route_sets[k](app, app->routes + app->nroutes, APP_MAX_ROUTES - app->nroutes);
	/* A full table may have dropped routes silently: refuse to start. */
	if (app->nroutes >= APP_MAX_ROUTES) {
		ztm_error_set(err, ZTM_E_INTERNAL, "route table full (%d): raise APP_MAX_ROUTES",
		              APP_MAX_ROUTES);
		goto fail;
	}
	return app;
nomem:
	ztm_error_set(err, ZTM_E_NOMEM, "building /cacerts");
fail:
	ztmd_app_free(app);
	return NULL;
}

const struct ztmd_route *ztmd_app_routes(struct ztmd_app *app, size_t *n)
{
	*n = app->nroutes;
	return app->routes;
}

int ztmd_app_worker_init(struct ztmd_app *app, struct ztm_store *store, struct ztm_error *err)
{
	(void)err;
	app->store = store;
	/* After each revocation this worker commits, every worker's OCSP
	 * cache looks at the log before its next answer (ocsp_notice.c). */
	ztm_store_on_revocation(store, ocsp_notice_post, app->notice);
	return 0;
}

int ztmd_app_worker_start(struct ztmd_app *app, struct event_base *base, struct ztm_error *err)
{
	unsigned i;
	int changed = 0;

	if (app_crl_start(app, base, err) != 0)
		return -1;
	for (i = 0; i < APP_CA_COUNT; i++)
		if (app->cas[i].responder_key != NULL)
			break;
	if (i == APP_CA_COUNT)
		return 0; /* no OCSP: /ocsp answers unauthorized */
	/* The master issued the responders before forking; a worker restarted
	 * later may be in a new period. */
	if (ocsp_responders_ensure(app, app->store, (int64_t)time(NULL), &changed, err) != 0)
		return -1;
	app->ocsp = ocsp_cache_new(app, app->store, base, err);
	return app->ocsp != NULL ? 0 : -1;
}

void ztmd_app_worker_stop(struct ztmd_app *app)
{
	ocsp_cache_free(app->ocsp);
	app->ocsp = NULL;
	app_crl_stop(app);
}

void ztmd_app_free(struct ztmd_app *app)
{
	unsigned i;

	if (app == NULL)
		return;
	X509_free(app->root);
	ztm_buf_free(&app->root_der);
	app_voucher_free(&app->voucher);
	app_fw_free(&app->fw);
	ztm_tpm_roots_free(app->tpm_roots);
	ztm_buf_free(&app->cacerts_all);
	ocsp_cache_free(app->ocsp);
	ocsp_notice_free(app->notice);
	free(app->ocsp_set);
	for (i = 0; i < APP_CA_COUNT; i++) {
		X509_free(app->cas[i].cert);
		EVP_PKEY_free(app->cas[i].responder_key);
		ztm_ocsp_responder_free(app->cas[i].responder);
		ztm_ca_free(app->cas[i].ca);
		ztm_buf_free(&app->cas[i].der);
		ztm_buf_free(&app->cacerts_label[i]);
	}
	free(app);
}

int app_serial_hex(X509 *x, char *out)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	int len = ASN1_STRING_length(sn);

	if (len <= 0 || len > 20 || ASN1_STRING_type(sn) != V_ASN1_INTEGER)
		return -1;
	ztm_hex(ASN1_STRING_get0_data(sn), (size_t)len, out);
	return 0;
}

int app_peer_ca(const struct ztmd_app *app, X509 *peer)
{
	unsigned i;

	for (i = 0; i < APP_CA_COUNT; i++)
		if (app->cas[i].cert != NULL &&
		    X509_check_issued(app->cas[i].cert, peer) == X509_V_OK)
			return (int)i;
	return -1;
}

int app_status_for(enum ztm_err code)
{
	switch (code) {
	case ZTM_E_USAGE:
	case ZTM_E_PARSE:
	case ZTM_E_BADSIG:
	case ZTM_E_WEAKKEY:
	case ZTM_E_LINT:
		return 400;
	case ZTM_E_AUTH:
		return 401;
	case ZTM_E_DENIED:
	case ZTM_E_POLICY:
		return 403;
	case ZTM_E_NOTFOUND:
		return 404;
	case ZTM_E_EXISTS:
	case ZTM_E_CONFLICT:
		return 409;
	case ZTM_E_TOOBIG:
		return 413;
	case ZTM_E_UNAVAILABLE:
		/* The HSM is away: the client may retry; nothing was issued. */
		return 503;
	default:
		return 500;
	}
}

int app_authorize(struct ztmd_app *app, struct ztmd_req *r, enum ztmd_action action,
                  struct ztmd_peer *peer)
{
	X509 *x = ztmd_req_peer_cert(r);
	char serial[ZTM_SERIAL_HEX_MAX];
	struct ztm_error err;
	int ca = -1;

	ztm_error_clear(&err);
	if (x != NULL && ztmd_req_peer_bootstrap(r)) {
		memset(peer, 0, sizeof(*peer));
		peer->kind = ZTMD_PEER_BOOTSTRAP;
		goto decide;
	}
	if (x != NULL) {
		ca = app_peer_ca(app, x);
		if (ca < 0 || app_serial_hex(x, serial) != 0) {
			memset(peer, 0, sizeof(*peer));
			peer->kind = ZTMD_PEER_UNKNOWN;
			goto decide;
		}
	}
	if (ztmd_authz_peer(app->store, x != NULL ? ca_names[ca] : NULL, x != NULL ? serial : NULL,
	                    peer, &err) != 0) {
		ztmd_reply_error(r, 500, &err);
		return -1;
	}
	peer->expired = ztmd_req_peer_expired(r);
decide:
	if (ztmd_authz_decide(action, peer, &err) == 0)
		return 0;
	/* End of life is forever, and said with its own code. */
	if (peer->kind == ZTMD_PEER_RETIRED)
		app_refuse_named(r, app, ztmd_action_name(action), 403, "device_retired", &err);
	else
		app_refuse(r, app, ztmd_action_name(action), err.code == ZTM_E_AUTH ? 401 : 403,
		           &err);
	return -1;
}

int ztmd_app_gate_metrics(struct ztmd_req *r, void *app)
{
	struct ztmd_peer peer;

	return app_authorize(app, r, ZTMD_ACT_METRICS, &peer);
}
