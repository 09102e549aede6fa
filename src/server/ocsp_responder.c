/* ocsp_responder.c - the delegated OCSP responder certificates.
 *
 * Each issuing CA that answers OCSP (device, station, operator) has its own
 * responder: RFC 6960 §4.2.2.2 wants the delegate issued directly by the CA
 * that issued the certificate in question. The key is provisioned like every
 * other key (a URI, [ca.*] responder_key; `ztm server init` writes an
 * encrypted file key). The certificate is issued by ztmd itself, because its
 * lifetime is short (id-pkix-ocsp-nocheck means a stolen responder key can
 * only be stopped by expiry, RFC 6960 §4.2.2.2.1) and only the service that
 * holds the CA key and runs all the time can renew it without a person.
 *
 * Time is cut into periods of half a lifetime. The certificate for period
 * k has notBefore = k * half and lives one lifetime, so the current one
 * always has at least half its life left. It is issued once per period for
 * all workers and nodes: its idempotency key names CA, key and period, the
 * store's unique index lets exactly one issuance win, and the others find it
 * with ztm_store_cert_by_idem. Like every certificate it is reserved,
 * signed, then committed as issued before anyone uses it (DESIGN I1).
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "ocsp_int.h"
#include "ztm/issue.h"
#include "ztm/log.h"
#include "ztm/str.h"

static void idem_key(const struct app_ca *ca, int64_t period, char out[ZTM_SHA256_HEX])
{
	char text[160];
	uint8_t md[32];
	unsigned int n = 0;
	int len;

	len = snprintf(text, sizeof(text), "ocsp-responder|%s|%s|%lld", ca->name,
	               ca->responder_spki, (long long)period);
	EVP_Digest(text, (size_t)len, md, &n, EVP_sha256(), NULL);
	ztm_hex(md, 32, out);
}

static X509 *decode(const struct ztm_buf *der)
{
	const unsigned char *p = der->data;
	return d2i_X509(NULL, &p, (long)der->len);
}

/* Reserve, sign, issue in one transaction: the certificate exists in the
 * store before it is used. ZTM_E_EXISTS when another worker or node won. */
static int issue(struct ztmd_app *app, struct ztm_store *store, struct app_ca *ca, int64_t period,
                 int64_t half, const char *idem, struct ztm_buf *der, struct ztm_error *err)
{
	struct ztm_name_attr subject[2];
	struct ztm_issue_req req;
	struct ztm_cert_row row;
	unsigned char *spki = NULL;
	char cn[96];
	int spki_len, rc = -1;

	ztm_cert_row_init(&row);
	spki_len = i2d_PUBKEY(ca->responder_key, &spki);
	if (spki_len <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP responder %s: key encoding", ca->name);
		goto out;
	}
	snprintf(cn, sizeof(cn), "%s OCSP responder (%s CA)", app->org, ca->name);
	subject[0] = (struct ztm_name_attr){ZTM_ATTR_O, app->org};
	subject[1] = (struct ztm_name_attr){ZTM_ATTR_CN, cn};
	memset(&req, 0, sizeof(req));
	req.profile = "ocsp";
	req.subject = subject;
	req.n_subject = 2;
	req.spki.p = spki;
	req.spki.len = (size_t)spki_len;
	/* Period k's certificate ends where period k + 2 starts; it starts at
	 * k * half, or with its CA if the CA is younger (a fresh ceremony). */
	req.not_before = period * half;
	if (req.not_before < ztm_ca_not_before(ca->ca))
		req.not_before = ztm_ca_not_before(ca->ca);
	req.lifetime = (period + 2) * half - req.not_before;
	if (ztm_serial_new(req.serial, err) != 0)
		goto out;
	ztm_serial_hex(req.serial, row.serial);
	ztm_strlcpy(row.ca, ca->name, sizeof(row.ca));
	ztm_strlcpy(row.profile, "ocsp", sizeof(row.profile));
	ztm_strlcpy(row.subject, cn, sizeof(row.subject));
	ztm_strlcpy(row.idem_key, idem, sizeof(row.idem_key));
	ztm_strlcpy(row.spki_sha256, ca->responder_spki, sizeof(row.spki_sha256));
	ztm_strlcpy(row.owner_kind, "ca", sizeof(row.owner_kind));
	row.not_before = req.not_before;
	row.not_after = req.not_before + req.lifetime - 1;
	if (ztm_store_begin(store, err) != 0)
		goto out;
	if (ztm_store_cert_reserve(store, &row, err) != 0 ||
	    ztm_issue(ca->ca, &req, der, err) != 0 ||
	    ztm_store_cert_issue(store, row.serial, der->data, der->len, err) != 0 ||
	    ztm_store_audit(store, "ztmd", "ocsp.responder.issue", row.serial, "ok", ca->name,
	                    err) != 0 ||
	    ztm_store_commit(store, err) != 0) {
		ztm_store_rollback(store);
		ztm_buf_reset(der);
		goto out;
	}
	ztm_log(ZTM_LOG_INFO, "ocsp.responder.issue", "ca=%s serial=%s period=%lld", ca->name,
	        row.serial, (long long)period);
	rc = 0;
out:
	OPENSSL_free(spki);
	ztm_cert_row_free(&row);
	return rc;
}

static int ensure_one(struct ztmd_app *app, struct ztm_store *store, struct app_ca *ca, int64_t now,
                      int *changed, struct ztm_error *err)
{
	int64_t half = (int64_t)app->ocsp_set->responder_lifetime / 2;
	int64_t period = now / half;
	char idem[ZTM_SHA256_HEX];
	struct ztm_cert_row row;
	struct ztm_buf der;
	struct ztm_error lookup;
	struct ztm_ocsp_responder *r;
	X509 *x = NULL;
	int rc = -1;

	if (ca->responder != NULL && ca->responder_period == period)
		return 0;
	ztm_cert_row_init(&row);
	ztm_buf_init(&der, 64 * 1024);
	idem_key(ca, period, idem);
	if (ztm_store_cert_by_idem(store, idem, &row, &lookup) != 0) {
		if (lookup.code != ZTM_E_NOTFOUND) {
			*err = lookup;
			goto out;
		}
		if (issue(app, store, ca, period, half, idem, &der, err) != 0) {
			if (err->code != ZTM_E_EXISTS)
				goto out;
			/* Lost the race to another worker or node: use theirs. */
			ztm_cert_row_free(&row);
			ztm_cert_row_init(&row);
			if (ztm_store_cert_by_idem(store, idem, &row, err) != 0)
				goto out;
		}
	}
	if (der.len == 0) {
		if (row.state != ZTM_CERT_ISSUED) {
			ztm_error_set(err, ZTM_E_CONFLICT,
			              "OCSP responder %s: certificate for this period is %s",
			              ca->name, ztm_cert_state_name(row.state));
			goto out;
		}
		if (ztm_buf_append(&der, row.der.data, row.der.len) != 0) {
			ztm_error_set(err, ZTM_E_NOMEM, "OCSP responder certificate");
			goto out;
		}
	}
	x = decode(&der);
	if (x == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "OCSP responder %s: stored certificate",
		               ca->name);
		goto out;
	}
	r = ztm_ocsp_responder_new(x, ca->responder_key, err);
	if (r == NULL)
		goto out;
	ztm_ocsp_responder_free(ca->responder);
	ca->responder = r;
	ca->responder_period = period;
	*changed = 1;
	rc = 0;
out:
	X509_free(x);
	ztm_buf_free(&der);
	ztm_cert_row_free(&row);
	return rc;
}

int ocsp_responders_ensure(struct ztmd_app *app, struct ztm_store *store, int64_t now, int *changed,
                           struct ztm_error *err)
{
	unsigned i;

	*changed = 0;
	for (i = 0; i < APP_CA_COUNT; i++) {
		struct app_ca *ca = &app->cas[i];
		if (ca->responder_key == NULL || ca->ca == NULL)
			continue;
		if (ensure_one(app, store, ca, now, changed, err) != 0)
			return -1;
	}
	return 0;
}
