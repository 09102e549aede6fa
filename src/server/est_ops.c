/* est_ops.c - claim/reserve, sign, record: the steps of one enrollment. */
#include "est_ops.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ztm/issue.h"
#include "ztm/log.h"
#include "ztm/pkcs7.h"
#include "ztm/str.h"

struct est_op *est_op_new(struct ztmd_app *app, const struct ztm_buf *der,
                          const struct ztm_buf *peer_spki, struct ztm_error *err)
{
	struct est_op *op = calloc(1, sizeof(*op));
	struct ztm_slice proven =
	    peer_spki != NULL ? ztm_buf_slice(peer_spki) : (struct ztm_slice){0};

	if (op == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "enrollment");
		return NULL;
	}
	op->app = app;
	ztm_cert_row_init(&op->row);
	ztm_buf_init(&op->cert, 64 * 1024);
	if (ztm_csr_parse_pop(der->data, der->len, peer_spki != NULL ? &proven : NULL, &op->csr,
	                      err) != 0) {
		est_op_free(op);
		return NULL;
	}
	return op;
}

int est_peer_spki(X509 *peer, struct ztm_buf *out, struct ztm_error *err)
{
	unsigned char *spki = NULL;
	int n = peer != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &spki) : -1;
	int rc = 0;

	ztm_buf_reset(out);
	if (n <= 0)
		rc = ztm_error_ossl(err, ZTM_E_PARSE, "client certificate key");
	else if (ztm_buf_append(out, spki, (size_t)n) != 0)
		rc = ztm_error_set(err, ZTM_E_TOOBIG, "client certificate key");
	OPENSSL_free(spki);
	return rc;
}

void est_op_free(struct est_op *op)
{
	if (op == NULL)
		return;
	ztm_csr_free(&op->csr);
	ztm_cert_row_free(&op->row);
	ztm_buf_free(&op->cert);
	OPENSSL_cleanse(op->code_hash, sizeof(op->code_hash));
	free(op);
}

/* Idempotency key: the same credential presenting the same key is the same
 * enrollment (DESIGN I3). Codes are single-use, so (code, key) names it; a
 * re-enrollment is named by (old certificate, new key); a device
 * registration by its key alone (one registration per bootstrap key). */
void est_idem_key(struct est_op *op)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *out = op->row.idem_key;
	uint8_t h[32];
	unsigned len = 0;
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

	switch (op->kind) {
	case EST_BY_CODE:
		ok = ok && EVP_DigestUpdate(md, "code", 4) == 1 &&
		     EVP_DigestUpdate(md, op->code_hash, sizeof(op->code_hash)) == 1;
		break;
	case EST_BY_CERT:
	case EST_BY_DEVICE_CERT:
		ok = ok && EVP_DigestUpdate(md, "reenroll", 8) == 1 &&
		     EVP_DigestUpdate(md, op->old_serial, strlen(op->old_serial)) == 1;
		break;
	case EST_BY_BOOTSTRAP:
		ok = ok && EVP_DigestUpdate(md, "device", 6) == 1;
		break;
	}
	if (ok && EVP_DigestUpdate(md, op->csr.spki_sha256, 64) == 1 &&
	    EVP_DigestFinal_ex(md, h, &len) == 1 && len == 32)
		ztm_hex(h, 32, out);
	else
		out[0] = '\0';
	EVP_MD_CTX_free(md);
}

static int owner_by_code(struct ztm_store *s, struct est_op *op, struct ztm_code_row *code,
                         struct ztm_error *err)
{
	if (code->kind == ZTM_CODE_STATION) {
		struct ztm_station_row st;
		if (ztm_store_station_get(s, code->subject_id, &st, err) != 0)
			return -1;
		if (st.state == ZTM_STATION_REVOKED)
			return ztm_error_set(err, ZTM_E_AUTH, "station is revoked");
		op->ca = APP_CA_STATION;
		ztm_strlcpy(op->owner_kind, "station", sizeof(op->owner_kind));
		ztm_strlcpy(op->cn, st.name, sizeof(op->cn));
		ztm_strlcpy(op->ou, st.factory, sizeof(op->ou));
	} else {
		struct ztm_operator_row o;
		if (ztm_store_operator_get(s, code->subject_id, &o, err) != 0)
			return -1;
		if (o.revoked)
			return ztm_error_set(err, ZTM_E_AUTH, "operator is revoked");
		op->ca = APP_CA_OPERATOR;
		ztm_strlcpy(op->owner_kind, "operator", sizeof(op->owner_kind));
		ztm_strlcpy(op->cn, o.name, sizeof(op->cn));
		ztm_strlcpy(op->ou, ztm_role_name(o.role), sizeof(op->ou));
	}
	op->owner_id = code->subject_id;
	return 0;
}

static int owner_by_cert(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	const struct ztm_principal *p = &op->peer.who;

	if (strcmp(p->kind, "station") == 0) {
		struct ztm_station_row st;
		if (ztm_store_station_get(s, p->id, &st, err) != 0)
			return -1;
		/* RFC 7030 §4.2.2: re-enrollment renews the identity it presents. */
		if (strcmp(st.cert_serial, op->old_serial) != 0)
			return ztm_error_set(err, ZTM_E_AUTH,
			                     "not the station's current certificate");
		op->ca = APP_CA_STATION;
		ztm_strlcpy(op->cn, st.name, sizeof(op->cn));
		ztm_strlcpy(op->ou, st.factory, sizeof(op->ou));
	} else {
		struct ztm_operator_row o;
		if (ztm_store_operator_get(s, p->id, &o, err) != 0)
			return -1;
		if (strcmp(o.cert_serial, op->old_serial) != 0)
			return ztm_error_set(err, ZTM_E_AUTH,
			                     "not the operator's current certificate");
		op->ca = APP_CA_OPERATOR;
		ztm_strlcpy(op->cn, o.name, sizeof(op->cn));
		ztm_strlcpy(op->ou, ztm_role_name(o.role), sizeof(op->ou));
	}
	ztm_strlcpy(op->owner_kind, p->kind, sizeof(op->owner_kind));
	op->owner_id = p->id;
	return 0;
}

int est_retry_of(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct ztm_cert_row prior;
	struct ztm_error lookup;
	int rc;

	if (op->row.idem_key[0] == '\0')
		return ztm_error_set(err, ZTM_E_CRYPTO, "idempotency key");
	ztm_cert_row_init(&prior);
	rc = ztm_store_cert_by_idem(s, op->row.idem_key, &prior, &lookup);
	if (rc == 0 && prior.state == ZTM_CERT_RESERVED &&
	    prior.created_at < (int64_t)time(NULL) - op->app->reservation_lifetime) {
		/* No request lives this long: the one that reserved it died
		 * between its two commits. Free the key for this retry. */
		rc = ztm_store_cert_abandon(s, prior.serial, err) == 0 ? 1 : -1;
	} else if (rc == 0) {
		if (prior.state == ZTM_CERT_ISSUED) {
			/* The first attempt's commit may have reached only the
			 * primary (its answer lost, the standby wait cancelled):
			 * this claim's commit waits for the standby before the
			 * certificate is handed out (ztm_store_sync_barrier). */
			op->existing = 1;
			rc = ztm_buf_append(&op->cert, prior.der.data, prior.der.len) == 0
			         ? ztm_store_sync_barrier(s, err)
			         : ztm_error_set(err, ZTM_E_NOMEM, "certificate");
		} else {
			rc = ztm_error_set(err, ZTM_E_CONFLICT, "enrollment in progress");
		}
	} else if (lookup.code == ZTM_E_NOTFOUND) {
		rc = 1;
	} else {
		*err = lookup;
		rc = -1;
	}
	ztm_cert_row_free(&prior);
	return rc;
}

int est_reserve(struct ztm_store *s, struct est_op *op, const char *subject, struct ztm_error *err)
{
	if (op->app->cas[op->ca].ca == NULL)
		return ztm_error_set(err, ZTM_E_CONFIG, "the %s CA is not configured",
		                     app_ca_name(op->ca));
	/* Reconciliation reserves a serial again whose reservation the database
	 * lost, for the bytes already signed with it (est_reconcile.c). */
	if (!op->keep_serial && ztm_serial_new(op->serial, err) != 0)
		return -1;
	ztm_serial_hex(op->serial, op->row.serial);
	ztm_strlcpy(op->row.ca, app_ca_name(op->ca), sizeof(op->row.ca));
	ztm_strlcpy(op->row.profile, app_ca_name(op->ca), sizeof(op->row.profile));
	ztm_strlcpy(op->row.subject, subject, sizeof(op->row.subject));
	ztm_strlcpy(op->row.spki_sha256, op->csr.spki_sha256, sizeof(op->row.spki_sha256));
	ztm_strlcpy(op->row.owner_kind, op->owner_kind, sizeof(op->row.owner_kind));
	op->row.owner_id = op->owner_id;
	op->row.created_at = (int64_t)time(NULL);
	op->row.crl_shard_size = op->app->cas[op->ca].crl_shard_size;
	return ztm_store_cert_reserve(s, &op->row, err);
}

/* Job 1: claim the credential for this key and reserve a serial. */
static int claim(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	struct ztm_code_row code;
	char subject[256];
	int rc;

	if (op->kind == EST_BY_BOOTSTRAP)
		return est_device_claim(s, op, err);
	if (op->kind == EST_BY_DEVICE_CERT)
		return est_renew_claim(s, op, err);
	est_idem_key(op);
	if (op->kind == EST_BY_CODE &&
	    (ztm_store_code_claim(s, op->code_hash, op->csr.spki_sha256, (int64_t)time(NULL), &code,
	                          err) != 0 ||
	     owner_by_code(s, op, &code, err) != 0))
		return -1;
	/* A retry after a lost response gets what was issued. For a
	 * re-enrollment this comes before the "current certificate" check: the
	 * retry presents the certificate the first attempt replaced. */
	rc = est_retry_of(s, op, err);
	if (rc <= 0)
		return rc;
	if (op->kind == EST_BY_CERT && owner_by_cert(s, op, err) != 0)
		return -1;
	snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=%s", op->cn, op->ou, op->app->org);
	return est_reserve(s, op, subject, err);
}

int est_job_claim(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	int rc = claim(s, arg, err);

	op->claim_ran = rc == 0;
	return rc;
}

/* Job 2: record the signed certificate and hand it to its owner. */
int est_job_record(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;
	char detail[160];

	if (op->kind == EST_BY_BOOTSTRAP)
		return est_device_record(s, op, err);
	if (op->kind == EST_BY_DEVICE_CERT)
		return est_renew_record(s, op, err);
	if (ztm_store_cert_issue(s, op->row.serial, op->cert.data, op->cert.len, err) != 0)
		return -1;
	if (op->kind == EST_BY_CODE &&
	    ztm_store_code_bind(s, op->code_hash, op->row.serial, err) != 0)
		return -1;
	if (strcmp(op->owner_kind, "station") == 0) {
		if (ztm_store_station_set_cert(s, op->owner_id, op->row.serial, err) != 0)
			return -1;
	} else if (ztm_store_operator_set_cert(s, op->owner_id, op->row.serial, err) != 0) {
		return -1;
	}
	snprintf(detail, sizeof(detail), "serial=%s ca=%s", op->row.serial, op->row.ca);
	return ztm_store_audit(s, op->kind == EST_BY_CODE ? "enroll-code" : op->old_serial,
	                       op->kind == EST_BY_CODE ? "est.enroll" : "est.reenroll", op->cn,
	                       "ok", detail, err);
}

static void reply_cert(struct ztmd_req *r, struct est_op *op)
{
	struct ztm_slice one = ztm_buf_slice(&op->cert);
	struct ztm_buf der, b64;
	struct ztm_error err;

	ztm_buf_init(&der, 0);
	ztm_buf_init(&b64, 0);
	if (ztm_p7_certs_only(&one, 1, &der) != 0 ||
	    ztm_b64_encode(der.data, der.len, 64, &b64) != 0) {
		ztm_error_set(&err, ZTM_E_NOMEM, "encoding the response");
		ztmd_reply_error(r, 500, &err);
	} else {
		ztmd_reply_header(r, "Content-Transfer-Encoding", "base64");
		ztmd_reply(r, 200, "application/pkcs7-mime; smime-type=certs-only", b64.data,
		           b64.len);
	}
	ztm_buf_free(&der);
	ztm_buf_free(&b64);
}

static const char *action_of(const struct est_op *op);

void est_done_record(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;

	if (rc != 0 && est_reconcile(r, op, EST_STAGE_RECORD, err))
		return;
	if (rc != 0 && err->code == ZTM_E_POLICY) {
		/* Revoked while in flight (est_device_record): refused, audited. */
		struct ztmd_app *app = op->app;
		const char *action = action_of(op);
		ztm_log(ZTM_LOG_WARN, "est.revoked_in_flight", "serial=%s", op->row.serial);
		est_op_free(op);
		app_refuse(r, app, action, 403, err);
		return;
	}
	if (rc != 0) {
		/* Nothing was returned; the reservation stays and start-up recovery
		 * turns it into "abandoned" if this process dies now. (A database
		 * that did not answer was reconciled with first, est_reconcile.c.) */
		ztm_log(ZTM_LOG_ERROR, "est.record_failed", "serial=%s err=%s", op->row.serial,
		        ztm_err_name(err->code));
		ztmd_reply_error(r, 500, err);
	} else {
		ztm_log(ZTM_LOG_INFO, "est.issued", "serial=%s ca=%s owner=%s:%lld", op->row.serial,
		        op->row.ca, op->owner_kind, (long long)op->owner_id);
		reply_cert(r, op);
	}
	est_op_free(op);
}

static int sign_cert(struct est_op *op, struct ztm_error *err)
{
	struct ztm_name_attr subject[3] = {
	    {ZTM_ATTR_O, op->app->org},
	    {ZTM_ATTR_OU, op->ou},
	    {ZTM_ATTR_CN, op->cn},
	};
	struct ztm_issue_req req;

	memset(&req, 0, sizeof(req));
	req.profile = app_ca_name(op->ca);
	req.subject = subject;
	req.n_subject = 3;
	req.spki = op->csr.spki;
	req.crl_shard = op->row.crl_shard;
	memcpy(req.serial, op->serial, sizeof(op->serial));
	return ztm_issue(op->app->cas[op->ca].ca, &req, &op->cert, err);
}

static int job_abandon(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct est_op *op = arg;

	return ztm_store_cert_abandon(s, op->row.serial, err);
}

static const char *action_of(const struct est_op *op)
{
	return op->kind == EST_BY_CODE          ? "est.enroll"
	       : op->kind == EST_BY_CERT        ? "est.reenroll"
	       : op->kind == EST_BY_DEVICE_CERT ? "est.reenroll-device"
	                                        : "est.enroll-device";
}

static void done_abandon(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;
	struct ztmd_app *app = op->app;
	struct ztm_error why = op->sign_err;
	const char *action = action_of(op);

	if (rc != 0)
		ztm_log(ZTM_LOG_ERROR, "est.abandon_failed", "serial=%s err=%s", op->row.serial,
		        ztm_err_name(err->code));
	est_op_free(op);
	/* A lint failure is our bug, not the client's: 500. */
	app_refuse(r, app, action, why.code == ZTM_E_LINT ? 500 : app_status_for(why.code), &why);
}

void est_done_claim(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct est_op *op = arg;
	const char *action = action_of(op);

	if (rc != 0 && est_reconcile(r, op, EST_STAGE_CLAIM, err))
		return;
	if (rc != 0 && op->kind == EST_BY_BOOTSTRAP && op->dev.verdict != VET_OK) {
		est_device_refuse(r, op);
		return;
	}
	if (rc != 0 && op->kind == EST_BY_DEVICE_CERT && op->renew.verdict != RENEW_OK) {
		est_renew_refuse(r, op);
		return;
	}
	if (rc != 0) {
		struct ztmd_app *app = op->app;
		int status = err->code == ZTM_E_CONFLICT ? 202 : app_status_for(err->code);
		est_op_free(op);
		app_refuse(r, app, action, status, err);
		return;
	}
	if (op->existing) {
		ztm_log(ZTM_LOG_INFO, "est.retry", "owner=%s:%lld", op->owner_kind,
		        (long long)op->owner_id);
		reply_cert(r, op);
		est_op_free(op);
		return;
	}
	if ((op->kind == EST_BY_BOOTSTRAP || op->kind == EST_BY_DEVICE_CERT
	         ? est_device_sign(op, &op->sign_err)
	         : sign_cert(op, &op->sign_err)) != 0) {
		ztm_log(ZTM_LOG_ERROR, "est.sign_failed", "serial=%s err=%s", op->row.serial,
		        ztm_err_name(op->sign_err.code));
		/* Give the serial up now, so a retry is not told "in progress". */
		ztmd_req_defer_replayable(r, job_abandon, op, done_abandon);
		return;
	}
	ztmd_req_defer_replayable(r, est_job_record, op, est_done_record);
}

/* The claim needs no fsync of its own: est_done_claim never answers on the
 * strength of it. A success is signed and answered only after the record job's
 * durable commit, which carries the reservation to disk with it (one WAL);
 * a refusal is answered after its audit job's durable commit; a retry is
 * answered with a certificate whose own issue commit was durable. Until
 * then only a power loss can undo the claim, and with it nothing has left
 * the process (DESIGN I1): the quota slot, the device row and the
 * reservation go together, as after a refused request. */
void est_op_start(struct ztmd_req *r, struct est_op *op)
{
	ztmd_req_defer_nosync(r, est_job_claim, op, est_done_claim);
}
