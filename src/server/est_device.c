/* est_device.c - device registration: EST simpleenroll (RFC 7030 §4.2.1)
 * whose TLS client certificate is the device's self-signed bootstrap
 * certificate (DESIGN.md 3, steps 4-6; docs/vetting.md).
 *
 * The handler takes the request's claims from the bootstrap certificate
 * (subject serialNumber, the product in its CN "<product>-<serial>", the
 * key) and the CSR. The claim job looks up what the store knows (the record
 * of that key, its station, order and product, the serial's device row,
 * the firmware list), asks vet_decide, and on VET_OK takes one registration
 * from the order's quota, creates the device row (state manufactured:
 * registration under way) and reserves a serial, all in one savepoint.
 * Signing and recording follow est_ops.c; the record job moves the device
 * to provisioned with its certificate. The subject and SAN come from the
 * record, never from the CSR.
 *
 * A refusal rolls the claim back (no certificate, quota unchanged); a
 * second job then writes what the refusal leaves behind: the quarantine
 * of a cloned serial, the alert, the audit entry.
 *
 * A product with key_storage = tpm (docs/attestation.md) registers only a
 * key a TPM attests: the CSR's evidence is verified in the handler
 * (est_tpm_judge), its challenge looked up in the claim job and, once
 * vetting passed, used in the claim's savepoint (est_tpm.c). */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "est_ops.h"
#include "est_parse.h"
#include "ztm/issue.h"
#include "ztm/log.h"
#include "ztm/str.h"

#define ACTION "est.enroll-device"

void est_subject_attr(X509_NAME *name, int nid, char *out, size_t outsize)
{
	int i = name != NULL ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;
	const ASN1_STRING *v;
	int len;

	out[0] = '\0';
	if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
		return; /* absent, or several: names nothing */
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	len = ASN1_STRING_length(v);
	if (len <= 0 || (size_t)len >= outsize ||
	    memchr(ASN1_STRING_get0_data(v), '\0', (size_t)len) != NULL)
		return;
	memcpy(out, ASN1_STRING_get0_data(v), (size_t)len);
	out[len] = '\0';
}

int est_device_claims(X509 *boot, struct ztm_slice boot_spki, const struct ztm_csr *csr,
                      struct est_device *d, struct ztm_error *err)
{
	uint8_t md[32];
	char cn[ZTM_NAME_MAX + ZTM_DEV_SERIAL_MAX];
	size_t cl, sl;
	X509_NAME *csr_name;

	est_subject_attr(X509_get_subject_name(boot), NID_serialNumber, d->boot_serial,
	                 sizeof(d->boot_serial));
	/* The product, when the CN has ztmdev's form "<product>-<serial>". */
	est_subject_attr(X509_get_subject_name(boot), NID_commonName, cn, sizeof(cn));
	cl = strlen(cn);
	sl = strlen(d->boot_serial);
	if (sl > 0 && cl > sl + 1 && cn[cl - sl - 1] == '-' &&
	    strcmp(cn + cl - sl, d->boot_serial) == 0 && cl - sl - 1 < sizeof(d->boot_product)) {
		memcpy(d->boot_product, cn, cl - sl - 1);
		d->boot_product[cl - sl - 1] = '\0';
	}
	if (boot_spki.len == 0 ||
	    EVP_Digest(boot_spki.p, boot_spki.len, md, NULL, EVP_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_PARSE, "bootstrap certificate key");
	ztm_hex(md, sizeof(md), d->boot_spki);
	csr_name = ztm_csr_subject_name(csr, err);
	if (csr_name == NULL)
		return -1;
	est_subject_attr(csr_name, NID_serialNumber, d->csr_serial, sizeof(d->csr_serial));
	X509_NAME_free(csr_name);
	return 0;
}

void est_device_enroll(struct ztmd_req *r, struct ztmd_app *app, int label)
{
	struct ztmd_peer peer;
	struct est_op *op;
	struct ztm_error err;
	struct ztm_buf der, spki;

	if (app_authorize(app, r, ZTMD_ACT_EST_ENROLL_DEVICE, &peer) != 0)
		return;
	/* Devices register with the device CA: /.well-known/est/device/ or
	 * the default label. */
	if (label != EST_NO_LABEL && label != APP_CA_DEVICE) {
		ztm_error_set(&err, ZTM_E_DENIED, "devices enroll at the device label only");
		app_refuse(r, app, ACTION, 403, &err);
		return;
	}
	ztm_buf_init(&der, 16 * 1024);
	ztm_buf_init(&spki, 16 * 1024);
	/* The bootstrap key's possession is proven by the handshake: a CSR
	 * for that key is not verified again (est_op_new). */
	if (est_parse_csr_body(ztmd_req_header(r, "Content-Type"), ztmd_req_body(r), &der, &err) !=
	        0 ||
	    est_peer_spki(ztmd_req_peer_cert(r), &spki, &err) != 0 ||
	    (op = est_op_new(app, &der, &spki, &err)) == NULL)
		goto refuse;
	op->kind = EST_BY_BOOTSTRAP;
	op->ca = APP_CA_DEVICE;
	op->dev.verdict = VET_OK;
	ztm_strlcpy(op->dev.peer_addr, ztmd_req_peer_addr(r), sizeof(op->dev.peer_addr));
	if (est_device_claims(ztmd_req_peer_cert(r), ztm_buf_slice(&spki), &op->csr, &op->dev,
	                      &err) != 0) {
		est_op_free(op);
		goto refuse;
	}
	/* CPU work, before the claim job: whether the product asks for it is
	 * the store's to say. */
	est_tpm_judge(op);
	ztm_buf_free(&der);
	ztm_buf_free(&spki);
	est_op_start(r, op);
	return;
refuse:
	ztm_buf_free(&der);
	ztm_buf_free(&spki);
	app_refuse(r, app, ACTION, app_status_for(err.code), &err);
}

static enum vet_device_state vet_state(enum ztm_device_state s)
{
	switch (s) {
	case ZTM_DEVICE_MANUFACTURED:
		/* A row in this state is a registration under way (or one
		 * whose process died): the serial is taken by its key. */
	case ZTM_DEVICE_PROVISIONED:
		return VET_DEV_PROVISIONED;
	case ZTM_DEVICE_ACTIVE:
		return VET_DEV_ACTIVE;
	case ZTM_DEVICE_SUSPENDED:
		return VET_DEV_SUSPENDED;
	case ZTM_DEVICE_QUARANTINED:
		return VET_DEV_QUARANTINED;
	case ZTM_DEVICE_REVOKED:
		return VET_DEV_REVOKED;
	case ZTM_DEVICE_RETIRED:
	case ZTM_DEVICE_STATE_COUNT:
		break;
	}
	return VET_DEV_RETIRED;
}

/* What the store says about the record, its station, order and product,
 * and the serial, into in (strings point into the locals of the caller). */
struct lookups {
	struct ztm_record_row rec;
	struct ztm_station_row st;
	struct ztm_order_row order;
	struct ztm_product_row product;
	struct ztm_device_row device;
	int have_device;
};

static int look_up(struct ztm_store *s, struct est_op *op, struct lookups *l, struct vet_input *in,
                   struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	int64_t now = (int64_t)time(NULL);
	const char *serial;
	int approved = 0;

	memset(in, 0, sizeof(*in));
	in->boot_serial = d->boot_serial;
	in->boot_spki = d->boot_spki;
	in->csr_spki = op->csr.spki_sha256;
	in->csr_serial = d->csr_serial[0] != '\0' ? d->csr_serial : NULL;
	in->asked_product = d->boot_product[0] != '\0' ? d->boot_product : NULL;
	/* Products name key types as ztm_key_alg (same order as the kinds);
	 * the only RSA type offered is RSA-3072. */
	in->csr_key_kind_bit = op->csr.key_info.kind == ZTM_KK_RSA && op->csr.key_info.bits != 3072
	                           ? 0
	                           : ZTM_KK_BIT(op->csr.key_info.kind);
	if (ztm_store_record_by_spki(s, d->boot_spki, &l->rec, err) != 0) {
		if (err->code != ZTM_E_NOTFOUND)
			return -1;
		/* Unrecorded; the serial's history still matters for the alert. */
		ztm_error_clear(err);
		return 0;
	}
	in->have_record = 1;
	in->rec_serial = l->rec.serial;
	in->rec_test_passed = l->rec.test_result == ZTM_TEST_PASS;
	in->rec_injected = l->rec.key_origin == ZTM_KEY_ORIGIN_INJECTED;
	in->rec_recorded_at = l->rec.recorded_at;
	in->rec_received_at = l->rec.received_at;
	in->rec_replacement = l->rec.kind == ZTM_RECORD_REPLACEMENT;
	if (ztm_store_station_get(s, l->rec.station_id, &l->st, err) != 0 ||
	    ztm_store_order_get_id(s, l->rec.order_id, &l->order, err) != 0 ||
	    ztm_store_product_get(s, l->order.product, &l->product, err) != 0)
		return -1;
	/* A revoked station without a time voids all its records. */
	in->station_revoked_at =
	    l->st.state == ZTM_STATION_REVOKED ? (l->st.revoked_at > 0 ? l->st.revoked_at : 1) : 0;
	in->rec_product = l->product.name;
	in->product_key_kinds = l->product.key_kinds;
	in->product_requires_fw = l->product.require_fw_hash;
	in->product_allows_injected = l->product.allow_injected;
	in->product_requires_tpm = l->product.key_storage == ZTM_KEY_STORAGE_TPM;
	if (in->product_requires_tpm && est_tpm_check(s, op, in, err) != 0)
		return -1;
	if (l->rec.fw_sha256[0] != '\0' &&
	    ztm_store_firmware_approved(s, l->product.id, l->rec.fw_sha256, &approved, err) != 0)
		return -1;
	in->rec_fw_approved = approved;
	in->order_open = l->order.state == ZTM_ORDER_OPEN && l->order.not_before <= now &&
	                 now < l->order.not_after;
	in->order_quota_left = l->order.registered < l->order.quota;
	serial = l->rec.serial;
	if (ztm_store_device_get(s, serial, &l->device, err) == 0) {
		l->have_device = 1;
		in->device_state = vet_state(l->device.state);
		in->device_spki = l->device.key_spki_sha256;
		in->device_registered_at = l->device.registered_at;
	} else if (err->code != ZTM_E_NOTFOUND) {
		return -1;
	}
	ztm_error_clear(err);
	return 0;
}

/* The refusal's context for the alert and the audit entry. */
static void refusal_detail(struct est_op *op, const struct lookups *l, const struct vet_input *in)
{
	struct est_device *d = &op->dev;

	if (!in->have_record)
		snprintf(d->detail, sizeof(d->detail), "bootstrap key %.16s serial '%s' from %s",
		         d->boot_spki, d->boot_serial, d->peer_addr);
	else
		snprintf(d->detail, sizeof(d->detail),
		         "record %lld serial '%s' station %s order %s key %.16s from %s",
		         (long long)l->rec.id, l->rec.serial, l->st.name, l->order.name,
		         d->boot_spki, d->peer_addr);
	ztm_strlcpy(d->serial, in->have_record ? l->rec.serial : d->boot_serial, sizeof(d->serial));
	/* An attestation refusal: the verifier's words too. */
	if (d->attest_why[0] != '\0' && d->verdict == d->attest_verdict) {
		size_t n = strlen(d->detail);
		snprintf(d->detail + n, sizeof(d->detail) - n, ": %s", d->attest_why);
	}
}

/* A replacement (docs/lifecycle.md): every certificate of the device's old
 * key is revoked (superseded), the device moves to the replacement record
 * and the new key, and registration goes on as for a new device, without
 * quota. One savepoint with the reservation: all of it, or none. */
static int replace_device(struct ztm_store *s, struct est_op *op, const struct lookups *l,
                          struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	char detail[400];
	int64_t n = 0;

	if (ztm_store_owner_revoke(s, "device", l->device.id, ZTM_REASON_SUPERSEDED,
	                           (int64_t)time(NULL), "system:replacement", &n, err) != 0 ||
	    ztm_store_device_replace(s, d->serial, l->rec.id, op->csr.spki_sha256, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail),
	         "old key %.16s new key %.16s record %lld station %s certificates revoked %lld "
	         "from %s",
	         l->device.key_spki_sha256, op->csr.spki_sha256, (long long)l->rec.id, l->st.name,
	         (long long)n, d->peer_addr);
	ztm_log(ZTM_LOG_WARN, "device.replace", "serial=%s revoked=%lld", d->serial, (long long)n);
	return ztm_store_audit(s, "device:bootstrap", "device.replace", d->serial, "ok", detail,
	                       err);
}

int est_device_claim(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	struct lookups *l = calloc(1, sizeof(*l));
	struct vet_input in;
	char subject[512]; /* cut to the row's size: the text is for people */
	int rc = -1;

	if (l == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "registration");
	ztm_record_row_init(&l->rec);
	if (look_up(s, op, l, &in, err) != 0)
		goto out;
	d->verdict = vet_decide(&in, &d->quarantine);
	if (d->verdict != VET_OK) {
		refusal_detail(op, l, &in);
		ztm_error_set(err, d->verdict == VET_QUOTA ? ZTM_E_CONFLICT : ZTM_E_POLICY, "%s",
		              vet_text(d->verdict));
		goto out;
	}
	ztm_strlcpy(d->serial, l->rec.serial, sizeof(d->serial));
	ztm_strlcpy(d->product, l->product.name, sizeof(d->product));
	ztm_strlcpy(d->hw_type_oid, l->product.hw_type_oid, sizeof(d->hw_type_oid));
	d->lifetime_days = l->product.lifetime_days;
	d->record_id = l->rec.id;
	d->product_id = l->product.id;
	d->order_id = l->order.id;
	ztm_strlcpy(op->owner_kind, "device", sizeof(op->owner_kind));
	ztm_strlcpy(op->cn, d->serial, sizeof(op->cn));
	est_idem_key(op);
	/* A TPM registration uses its challenge, once (not a retry: vetting
	 * let a provisioned device's own key through before asking). */
	if (in.product_requires_tpm && in.attested &&
	    !(l->have_device && strcmp(l->device.key_spki_sha256, op->csr.spki_sha256) == 0) &&
	    est_tpm_use(s, op, err) != 0) {
		if (d->verdict != VET_OK) {
			refusal_detail(op, l, &in);
			ztm_error_set(err, ZTM_E_POLICY, "%s", vet_text(d->verdict));
		}
		goto out;
	}
	if (l->have_device && strcmp(l->device.key_spki_sha256, op->csr.spki_sha256) != 0) {
		/* Vetted with another key than the device's: a replacement. */
		op->owner_id = l->device.id;
		if (replace_device(s, op, l, err) != 0)
			goto out;
	} else if (l->have_device) {
		/* A retry (I3): what was issued, or 202 while in flight. An
		 * attempt that died left its reservation abandoned: reserve
		 * anew for the same device, without a second registration. */
		op->owner_id = l->device.id;
		rc = est_retry_of(s, op, err);
		if (rc <= 0)
			goto out;
		rc = -1;
		/* Only a registration that never finished is resumed; a
		 * provisioned device always has its issued certificate. */
		if (l->device.state != ZTM_DEVICE_MANUFACTURED) {
			ztm_error_set(err, ZTM_E_STORE,
			              "device %s is %s but its certificate is missing", d->serial,
			              ztm_device_state_name(l->device.state));
			goto out;
		}
	} else {
		struct ztm_device_row row;

		if (ztm_store_order_take_registration(s, d->order_id, (int64_t)time(NULL), err) !=
		    0) {
			/* Lost a race for the last registration: as vetting would
			 * say. A store failure stays a store failure. */
			if (err->code == ZTM_E_POLICY) {
				d->verdict = VET_QUOTA;
				refusal_detail(op, l, &in);
			}
			goto out;
		}
		memset(&row, 0, sizeof(row));
		ztm_strlcpy(row.serial, d->serial, sizeof(row.serial));
		row.product_id = d->product_id;
		row.record_id = d->record_id;
		row.state = ZTM_DEVICE_MANUFACTURED;
		ztm_strlcpy(row.key_spki_sha256, op->csr.spki_sha256, sizeof(row.key_spki_sha256));
		if (ztm_store_device_add(s, &row, &op->owner_id, err) != 0) {
			/* Another node registered this serial between our read and
			 * our insert (it held the order's row, we waited, its device
			 * row is committed now). Its quota slot stays, ours is given
			 * back with this job. The client's retry is vetted against
			 * that device: the same key gets its certificate, another
			 * key is a clone (DESIGN I3). */
			if (err->code == ZTM_E_EXISTS)
				ztm_error_set(err, ZTM_E_CONFLICT,
				              "enrollment in progress: device %s is being "
				              "registered by another request",
				              d->serial);
			goto out;
		}
	}
	snprintf(subject, sizeof(subject), "serialNumber=%s,CN=%s,OU=%s,O=%s", d->serial, d->serial,
	         d->product, op->app->org);
	if (est_reserve(s, op, subject, err) != 0)
		goto out;
	rc = ztm_store_device_set_state(s, d->serial, ZTM_DEVICE_MANUFACTURED, op->row.serial, NULL,
	                                err);
out:
	ztm_record_row_free(&l->rec);
	free(l);
	return rc;
}

int est_device_sign(struct est_op *op, struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	const struct ztm_ca *ca = op->app->cas[APP_CA_DEVICE].ca;
	struct ztm_name_attr subject[4] = {
	    {ZTM_ATTR_O, op->app->org},
	    {ZTM_ATTR_OU, d->product},
	    {ZTM_ATTR_CN, d->serial},
	    {ZTM_ATTR_SERIAL, d->serial},
	};
	struct ztm_san san = {ZTM_SAN_HWMODULE, d->serial, d->hw_type_oid};
	struct ztm_issue_req req;
	int64_t now = (int64_t)time(NULL), left = ztm_ca_not_after(ca) - now + 1;

	memset(&req, 0, sizeof(req));
	req.profile = "device";
	req.subject = subject;
	req.n_subject = 4;
	req.san = &san;
	req.n_san = 1;
	req.spki = op->csr.spki;
	req.crl_shard = op->row.crl_shard;
	req.not_before = now;
	/* The product's lifetime, cut at the device CA's own end (RFC 5280
	 * §6.1.3: a certificate outliving its issuer fails validation). */
	req.lifetime = d->lifetime_days * 86400;
	if (req.lifetime > left)
		req.lifetime = left;
	if (req.lifetime <= 0)
		return ztm_error_set(err, ZTM_E_CONFIG, "the device CA has expired");
	memcpy(req.serial, op->serial, sizeof(op->serial));
	return ztm_issue(ca, &req, &op->cert, err);
}

int est_device_record(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	char detail[320];

	if (ztm_store_cert_issue(s, op->row.serial, op->cert.data, op->cert.len, err) != 0) {
		struct ztm_cert_status_row st;
		struct ztm_error e2;
		/* A revocation of the device (or a mass revocation) raced this
		 * registration and revoked the reservation: the signed bytes
		 * are dropped, the serial is listed anyway (docs/revocation.md). */
		if (err->code == ZTM_E_CONFLICT &&
		    ztm_store_cert_status(s, "device", op->row.serial, &st, &e2) == 0 &&
		    st.status == ZTM_STATUS_REVOKED)
			ztm_error_set(
			    err, ZTM_E_POLICY,
			    "device %s was revoked while it registered: certificate %s is "
			    "listed as revoked and was not handed out",
			    d->serial, op->row.serial);
		return -1;
	}
	if (ztm_store_device_set_state(s, d->serial, ZTM_DEVICE_PROVISIONED, op->row.serial,
	                               op->csr.spki_sha256, err) != 0)
		return -1;
	/* The TPM that attested the key: a re-key must come from the same
	 * one (docs/attestation.md "Re-key"). */
	if (d->ek_sha256[0] != '\0' &&
	    ztm_store_device_set_ek(s, d->serial, d->ek_sha256, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "serial=%s product=%s record=%lld order=%lld ek=%.16s",
	         op->row.serial, d->product, (long long)d->record_id, (long long)d->order_id,
	         d->ek_sha256[0] != '\0' ? d->ek_sha256 : "-");
	return ztm_store_audit(s, "device:bootstrap", ACTION, d->serial, "ok", detail, err);
}

/* --- refusals ----------------------------------------------------------- */

static int job_refused(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	struct est_device *d = &op->dev;
	char msg[800];

	if (d->quarantine &&
	    ztm_store_device_set_state(s, d->serial, ZTM_DEVICE_QUARANTINED, NULL, NULL, err) != 0)
		return -1;
	if (vet_alerts(d->verdict) &&
	    ztm_store_alert(s, vet_name(d->verdict), d->serial, d->detail, err) != 0)
		return -1;
	snprintf(msg, sizeof(msg), "%s: %s", vet_text(d->verdict), d->detail);
	return ztm_store_audit(s, "device:bootstrap", ACTION, d->serial[0] ? d->serial : "-",
	                       vet_name(d->verdict), msg, err);
}

static void done_refused(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;
	struct ztm_error why;

	if (rc != 0) {
		ztm_log(ZTM_LOG_ERROR, "est.refusal_not_recorded", "verdict=%s err=%s",
		        vet_name(op->dev.verdict), ztm_err_name(err->code));
		ztmd_reply_error(r, 500, err);
	} else {
		ztm_error_set(&why, ZTM_E_POLICY, "%s", vet_text(op->dev.verdict));
		ztm_log(ZTM_LOG_WARN, "est.device_refused", "verdict=%s serial=%s",
		        vet_name(op->dev.verdict), op->dev.serial);
		ztmd_reply_error_named(r, op->dev.verdict == VET_QUOTA ? 409 : 403,
		                       vet_name(op->dev.verdict), &why);
	}
	est_op_free(op);
}

void est_device_refuse(struct ztmd_req *r, struct est_op *op)
{
	ztmd_req_defer_replayable(r, job_refused, op, done_refused);
}
