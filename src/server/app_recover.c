/* app_recover.c - what the master does once before workers start:
 * recovery of reservations a crash left behind, and the first admin. */
#include "app_int.h"
#include "ocsp_int.h"

#include <openssl/pem.h>

#include <string.h>
#include <time.h>

#include "ztm/certfile.h"
#include "ztm/log.h"
#include "ztm/str.h"

/* The ceremony's admin certificate becomes operator "admin" (role admin)
 * the first time ztmd starts with [bootstrap] admin_cert. Idempotent. */
static int bootstrap_admin(struct ztmd_app *app, struct ztm_store *store, struct ztm_error *err)
{
	struct ztm_principal who;
	struct ztm_cert_row row;
	struct ztm_error lookup;
	X509 *x = NULL;
	int64_t id;
	unsigned char *der = NULL;
	int derlen, rc = -1;
	char serial[ZTM_SERIAL_HEX_MAX], cn[128];
	unsigned char md[32];
	unsigned mdlen = 0;

	ztm_cert_row_init(&row);
	x = ztm_cert_load_pem(app->admin_cert, err);
	if (x == NULL)
		goto out;
	if (app->cas[APP_CA_OPERATOR].cert == NULL || app_peer_ca(app, x) != APP_CA_OPERATOR ||
	    X509_verify(x, X509_get0_pubkey(app->cas[APP_CA_OPERATOR].cert)) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG,
		               "[bootstrap] admin_cert %s: not issued by the operator CA",
		               app->admin_cert);
		goto out;
	}
	if (app_serial_hex(x, serial) != 0 ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) <=
	        0) {
		ztm_error_set(err, ZTM_E_CONFIG, "[bootstrap] admin_cert: no serial or CN");
		goto out;
	}
	if (ztm_store_principal_by_cert(store, "operator", serial, &who, &lookup) == 0) {
		rc = 0; /* already bootstrapped */
		goto out;
	}
	if (lookup.code != ZTM_E_NOTFOUND) {
		*err = lookup;
		goto out;
	}
	derlen = i2d_X509(x, &der);
	if (derlen <= 0 || X509_pubkey_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "admin_cert: cannot encode");
		goto out;
	}
	ztm_strlcpy(row.serial, serial, sizeof(row.serial));
	ztm_strlcpy(row.ca, "operator", sizeof(row.ca));
	ztm_strlcpy(row.profile, "operator", sizeof(row.profile));
	X509_NAME_oneline(X509_get_subject_name(x), row.subject, sizeof(row.subject));
	ztm_hex(md, 32, row.spki_sha256);
	ztm_strlcpy(row.owner_kind, "operator", sizeof(row.owner_kind));
	if (ztm_store_begin(store, err) != 0)
		goto out;
	if (ztm_store_operator_add(store, cn, ZTM_ROLE_ADMIN, &id, err) != 0)
		goto rollback;
	row.owner_id = id;
	if (ztm_store_cert_reserve(store, &row, err) != 0 ||
	    ztm_store_cert_issue(store, serial, der, (size_t)derlen, err) != 0 ||
	    ztm_store_operator_set_cert(store, id, serial, err) != 0 ||
	    ztm_store_audit(store, "ztmd", "operator.bootstrap", cn, "ok", "role=admin", err) !=
	        0 ||
	    ztm_store_commit(store, err) != 0)
		goto rollback;
	ztm_log(ZTM_LOG_INFO, "operator.bootstrap", "name=%s serial=%s role=admin", cn, serial);
	rc = 0;
	goto out;
rollback:
	ztm_store_rollback(store);
	/* Another node starting on the same store at the same moment won the
	 * race (the operator name and the serial are unique): what it stored
	 * is this very certificate. */
	if (err->code == ZTM_E_EXISTS &&
	    ztm_store_principal_by_cert(store, "operator", serial, &who, &lookup) == 0) {
		ztm_error_clear(err);
		rc = 0;
	}
out:
	OPENSSL_free(der);
	X509_free(x);
	ztm_cert_row_free(&row);
	return rc;
}

int ztmd_app_recover(struct ztmd_app *app, struct ztm_store *store, int64_t before,
                     struct ztm_error *err)
{
	int64_t n = 0;
	int changed = 0;

	if (ztm_store_cert_recover(store, before, &n, err) != 0)
		return -1;
	if (n > 0)
		ztm_log(ZTM_LOG_WARN, "store.recover", "abandoned_reservations=%lld", (long long)n);
	if (app->admin_cert[0] != '\0' && bootstrap_admin(app, store, err) != 0)
		return -1;
	/* OCSP responder certificates before any worker serves /ocsp. */
	return ocsp_responders_ensure(app, store, (int64_t)time(NULL), &changed, err);
}
