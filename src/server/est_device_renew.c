/* est_device_renew.c - device re-enrollment: EST simplereenroll (RFC 7030
 * §4.2.2) whose TLS client certificate is the device's operational
 * certificate (docs/lifecycle.md, docs/est.md).
 *
 * The same key (renewal) or a new one (re-key: the CSR carries the new key
 * and is signed by it, which proves possession; the TLS handshake proved
 * the old one). The claim job reads the device and its product, asks
 * renew_decide (renew.c) and reserves a serial; signing is the device
 * registration's (est_device.c: subject and SAN from the device row and the
 * product, never from the CSR); the record job issues, points the device at
 * the new certificate and key, and on a re-key revokes every older
 * certificate of the device (superseded) in the same commit. The old
 * certificate is superseded from then on (authz.c: it may only fetch this
 * answer again). Retries of an answered request get the same certificate
 * (DESIGN I3); nothing is returned before the commit (I1).
 *
 * An expired certificate reaches this file only (tls.c, authz.c); the
 * product's grace period decides whether it may still renew.
 *
 * A re-key of a key_storage = tpm product carries TPM evidence for the new
 * key, as a registration does (docs/attestation.md "Re-key"): judged in
 * the handler (est_tpm_judge), its challenge -- made for the device's
 * current key -- looked up in the claim job, the EK held equal to the one
 * recorded at registration, the challenge used in the claim's savepoint.
 * A renewal of the same key needs none: that key was attested. */
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "est_ops.h"
#include "est_parse.h"
#include "ztm/log.h"
#include "ztm/str.h"

#define ACTION "est.reenroll-device"

static int unix_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

void est_device_reenroll(struct ztmd_req *r, struct ztmd_app *app, int label)
{
	struct ztmd_peer peer;
	struct est_op *op;
	struct ztm_error err;
	struct ztm_buf der;
	X509 *x = ztmd_req_peer_cert(r);

	if (app_authorize(app, r, ZTMD_ACT_EST_REENROLL_DEVICE, &peer) != 0)
		return;
	if (label != EST_NO_LABEL && label != APP_CA_DEVICE) {
		ztm_error_set(&err, ZTM_E_DENIED, "devices re-enroll at the device label only");
		app_refuse(r, app, ACTION, 403, &err);
		return;
	}
	ztm_buf_init(&der, 16 * 1024);
	if (est_parse_csr_body(ztmd_req_header(r, "Content-Type"), ztmd_req_body(r), &der, &err) !=
	        0 ||
	    (op = est_op_new(app, &der, NULL, &err)) == NULL) {
		ztm_buf_free(&der);
		app_refuse(r, app, ACTION, app_status_for(err.code), &err);
		return;
	}
	ztm_buf_free(&der);
	op->kind = EST_BY_DEVICE_CERT;
	op->ca = APP_CA_DEVICE;
	op->peer = peer;
	op->dev.verdict = VET_OK;
	op->renew.verdict = RENEW_OK;
	op->renew.expired = ztmd_req_peer_expired(r);
	ztm_strlcpy(op->dev.peer_addr, ztmd_req_peer_addr(r), sizeof(op->dev.peer_addr));
	/* CPU work before the claim job; whether it is needed (a re-key of a
	 * key_storage = tpm product) is the store's to say. */
	est_tpm_judge(op);
	if (app_serial_hex(x, op->old_serial) != 0 ||
	    unix_time(X509_get0_notAfter(x), &op->renew.peer_not_after) != 0) {
		est_op_free(op);
		ztm_error_set(&err, ZTM_E_AUTH, "client certificate serial or validity unreadable");
		app_refuse(r, app, ACTION, 401, &err);
		return;
	}
	est_op_start(r, op);
}

/* The device as its certificate and its product say, into op->dev (what
 * est_device_sign needs). */
static void fill_device(struct est_op *op, const struct ztm_device_row *dev,
                        const struct ztm_product_row *p)
{
	struct est_device *d = &op->dev;

	ztm_strlcpy(d->serial, dev->serial, sizeof(d->serial));
	ztm_strlcpy(d->product, p->name, sizeof(d->product));
	ztm_strlcpy(d->hw_type_oid, p->hw_type_oid, sizeof(d->hw_type_oid));
	d->lifetime_days = p->lifetime_days;
	d->product_id = p->id;
	d->record_id = dev->record_id;
	ztm_strlcpy(op->owner_kind, "device", sizeof(op->owner_kind));
	op->owner_id = dev->id;
	ztm_strlcpy(op->cn, dev->serial, sizeof(op->cn));
}

/* A re-key's attestation into *out (VET_OK, or the check that refused):
 * the evidence answers a challenge made for the device's current key, from
 * the TPM recorded at registration when one is. */
static int rekey_attest(struct ztm_store *s, struct est_op *op, const struct ztm_device_row *dev,
                        enum vet_code *out, struct ztm_error *err)
{
	if (est_tpm_lookup(s, op, dev->key_spki_sha256, out, err) != 0)
		return -1;
	if (*out == VET_OK && dev->ek_cert_sha256[0] != '\0' &&
	    strcmp(dev->ek_cert_sha256, op->dev.ek_sha256) != 0) {
		*out = VET_ATTEST_OTHER_EK;
		snprintf(op->dev.attest_why, sizeof(op->dev.attest_why),
		         "EK certificate %.16s, registered with %.16s", op->dev.ek_sha256,
		         dev->ek_cert_sha256);
		op->dev.ek_sha256[0] = '\0';
	}
	return 0;
}

/* The refusal's code, text and alert: a re-key's attestation refusal is
 * named by its check, as at registration. */
static const char *refusal_name(const struct est_renew *w)
{
	return w->verdict == RENEW_ATTEST ? vet_name(w->attest) : renew_name(w->verdict);
}

static const char *refusal_text(const struct est_renew *w)
{
	return w->verdict == RENEW_ATTEST ? vet_text(w->attest) : renew_text(w->verdict);
}

static int refusal_alerts(const struct est_renew *w)
{
	return w->verdict == RENEW_ATTEST ? vet_alerts(w->attest) : renew_alerts(w->verdict);
}

static void refusal_detail(struct est_op *op, const struct ztm_device_row *dev,
                           const struct renew_input *in)
{
	struct est_renew *w = &op->renew;
	size_t n;

	snprintf(w->detail, sizeof(w->detail),
	         "certificate %s (%s) not_after %lld window %lld grace %lld days from %s",
	         op->old_serial, ztm_device_state_name(dev->state), (long long)in->not_after,
	         (long long)in->window_days, (long long)in->grace_days, op->dev.peer_addr);
	if (w->verdict != RENEW_ATTEST)
		return;
	n = strlen(w->detail);
	snprintf(w->detail + n, sizeof(w->detail) - n, "; re-key %.16s -> %.16s%s%s",
	         dev->key_spki_sha256, op->csr.spki_sha256, op->dev.attest_why[0] ? ": " : "",
	         op->dev.attest_why);
}

int est_renew_claim(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct est_renew *w = &op->renew;
	struct ztm_device_row dev;
	struct ztm_product_row p;
	struct ztm_cert_status_row cs;
	struct renew_input in;
	char subject[512];
	int retry;

	est_idem_key(op);
	if (ztm_store_device_get(s, op->peer.who.name, &dev, err) != 0 ||
	    ztm_store_product_get_id(s, dev.product_id, &p, err) != 0 ||
	    ztm_store_cert_status(s, "device", op->old_serial, &cs, err) != 0)
		return -1;
	fill_device(op, &dev, &p);
	/* A lost response: what was issued (or 202 while in flight). */
	retry = est_retry_of(s, op, err);
	if (retry < 0)
		return -1;
	memset(&in, 0, sizeof(in));
	in.now = (int64_t)time(NULL);
	in.state = dev.state;
	in.is_current = strcmp(dev.cert_serial, op->old_serial) == 0;
	in.cert_revoked = cs.status == ZTM_STATUS_REVOKED;
	in.retry = retry == 0;
	in.not_after = w->peer_not_after;
	in.window_days = p.renew_window_days;
	in.grace_days = p.renew_grace_days;
	/* As vetting: the only RSA type a product offers is RSA-3072. */
	in.key_kind_ok = (op->csr.key_info.kind != ZTM_KK_RSA || op->csr.key_info.bits == 3072) &&
	                 (p.key_kinds & ZTM_KK_BIT(op->csr.key_info.kind)) != 0;
	w->rekey = strcmp(dev.key_spki_sha256, op->csr.spki_sha256) != 0;
	/* A retry was attested by its first attempt (which used the challenge). */
	in.attest_required = w->rekey && !in.retry && p.key_storage == ZTM_KEY_STORAGE_TPM;
	in.attest = VET_OK;
	if (in.attest_required && rekey_attest(s, op, &dev, &in.attest, err) != 0)
		return -1;
	w->verdict = renew_decide(&in);
	w->attest = in.attest;
	if (w->verdict != RENEW_OK) {
		refusal_detail(op, &dev, &in);
		return ztm_error_set(err, ZTM_E_POLICY, "%s", refusal_text(w));
	}
	if (in.retry)
		return 0;
	/* The challenge is used once, in this savepoint: a refusal after it
	 * (none today but a store failure) gives it back. */
	if (in.attest_required && est_tpm_use(s, op, err) != 0) {
		if (op->dev.verdict != VET_OK) {
			w->verdict = RENEW_ATTEST;
			w->attest = op->dev.verdict;
			refusal_detail(op, &dev, &in);
			ztm_error_set(err, ZTM_E_POLICY, "%s", refusal_text(w));
		}
		return -1;
	}
	ztm_strlcpy(w->old_key, dev.key_spki_sha256, sizeof(w->old_key));
	snprintf(subject, sizeof(subject), "serialNumber=%s,CN=%s,OU=%s,O=%s", dev.serial,
	         dev.serial, p.name, op->app->org);
	return est_reserve(s, op, subject, err);
}

int est_renew_record(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	struct est_renew *w = &op->renew;
	struct ztm_device_row dev;
	char detail[400];
	int64_t revoked = 0;

	/* A retirement or revocation since the claim revoked the reservation
	 * too: cert_issue refuses it and nothing leaves. */
	if (ztm_store_cert_issue(s, op->row.serial, op->cert.data, op->cert.len, err) != 0 ||
	    ztm_store_device_get(s, d->serial, &dev, err) != 0)
		return -1;
	if (dev.state != ZTM_DEVICE_PROVISIONED && dev.state != ZTM_DEVICE_ACTIVE)
		return ztm_error_set(err, ZTM_E_CONFLICT, "device %s became %s", d->serial,
		                     ztm_device_state_name(dev.state));
	if (ztm_store_device_set_state(s, d->serial, dev.state, op->row.serial, op->csr.spki_sha256,
	                               err) != 0)
		return -1;
	/* An attested re-key of a device whose TPM was not recorded (it
	 * registered before migration 9, or under key_storage = any). */
	if (d->ek_sha256[0] != '\0' && strcmp(dev.ek_cert_sha256, d->ek_sha256) != 0 &&
	    ztm_store_device_set_ek(s, d->serial, d->ek_sha256, err) != 0)
		return -1;
	/* A re-key: the old key is given up, so is every certificate for it. */
	if (w->rekey && ztm_store_owner_revoke_except(s, "device", op->owner_id, op->row.serial,
	                                              ZTM_REASON_SUPERSEDED, (int64_t)time(NULL),
	                                              "system:rekey", &revoked, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail),
	         "serial=%s old=%s rekey=%d old_key=%.16s revoked=%lld expired=%d ek=%.16s",
	         op->row.serial, op->old_serial, w->rekey, w->old_key, (long long)revoked,
	         w->expired, d->ek_sha256[0] != '\0' ? d->ek_sha256 : "-");
	return ztm_store_audit(s, op->peer.who.name, ACTION, d->serial, "ok", detail, err);
}

/* --- refusals ----------------------------------------------------------- */

static int job_refused(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	struct est_renew *w = &op->renew;
	char msg[800];

	if (refusal_alerts(w) &&
	    ztm_store_alert(s, refusal_name(w), op->dev.serial, w->detail, err) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "%s: %s", refusal_text(w), w->detail);
	return ztm_store_audit(s, op->peer.who.name, ACTION,
	                       op->dev.serial[0] != '\0' ? op->dev.serial : "-", refusal_name(w),
	                       msg, err);
}

static void done_refused(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;
	struct ztm_error why;

	if (rc != 0) {
		ztm_log(ZTM_LOG_ERROR, "est.refusal_not_recorded", "verdict=%s err=%s",
		        refusal_name(&op->renew), ztm_err_name(err->code));
		ztmd_reply_error(r, 500, err);
	} else {
		ztm_error_set(&why, ZTM_E_POLICY, "%s", refusal_text(&op->renew));
		ztm_log(ZTM_LOG_WARN, "est.reenroll_refused", "verdict=%s serial=%s",
		        refusal_name(&op->renew), op->dev.serial);
		ztmd_reply_error_named(r, 403, refusal_name(&op->renew), &why);
	}
	est_op_free(op);
}

void est_renew_refuse(struct ztmd_req *r, struct est_op *op)
{
	ztmd_req_defer_replayable(r, job_refused, op, done_refused);
}
