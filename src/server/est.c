/* est.c - EST (RFC 7030): /cacerts, /csrattrs, /simpleenroll with a
 * one-time code (HTTP Basic, §3.2.3) for stations and operators or with a
 * device's bootstrap certificate (est_device.c), /simplereenroll with
 * the current certificate (§4.2.2), and ztm's /tpm-challenge (TPM key
 * attestation, est_tpm.c).
 *
 * Enrollment is two group commits around one signature:
 *   1. claim the code for this key + reserve a serial (one savepoint: either
 *      both or neither), commit;
 *   2. sign (CPU, no store);
 *   3. record the certificate, bind it to the code and its owner, audit, commit;
 *   4. reply. Nothing leaves before step 3 is durable (DESIGN I1).
 * A retry with the same code and key after a lost response finds the bound
 * certificate and gets the same bytes back (I3); a retry racing the first
 * request gets 202 + Retry-After (§4.2.3).
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "est_ops.h"
#include "est_parse.h"
#include "ztm/log.h"
#include "ztm/pkcs7.h"
#include "ztm/str.h"

/* RFC 7030 §4.5.2 CsrAttrs: ecdsa-with-SHA256, and id-ecPublicKey with
 * prime256v1: "sign with ECDSA SHA-256 over a P-256 key" is what we ask. */
static const uint8_t csrattrs_der[] = {
    0x30, 0x21, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    0x30, 0x15, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x31,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};

static void reply_certs_only(struct ztmd_req *r, const struct ztm_buf *b64)
{
	ztmd_reply_header(r, "Content-Transfer-Encoding", "base64");
	ztmd_reply(r, 200, "application/pkcs7-mime; smime-type=certs-only", b64->data, b64->len);
}

static void h_cacerts(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	int label = EST_NO_LABEL, op = -1;
	struct ztm_error err;

	if (app_authorize(app, r, ZTMD_ACT_EST_CACERTS, &peer) != 0)
		return;
	if (est_parse_path(ztmd_req_path(r), &label, &op) != 0 || op != EST_OP_CACERTS ||
	    (label != EST_NO_LABEL && app->cas[label].cert == NULL)) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "no such EST label");
		ztmd_reply_error(r, 404, &err);
		return;
	}
	reply_certs_only(r, label < 0 ? &app->cacerts_all : &app->cacerts_label[label]);
}

static void h_csrattrs(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct ztm_buf b64;

	if (app_authorize(app, r, ZTMD_ACT_EST_CSRATTRS, &peer) != 0)
		return;
	ztm_buf_init(&b64, 0);
	if (ztm_b64_encode(csrattrs_der, sizeof(csrattrs_der), 64, &b64) != 0) {
		struct ztm_error err;
		ztm_error_set(&err, ZTM_E_NOMEM, "csrattrs");
		ztmd_reply_error(r, 500, &err);
	} else {
		ztmd_reply_header(r, "Content-Transfer-Encoding", "base64");
		ztmd_reply(r, 200, "application/csrattrs", b64.data, b64.len);
	}
	ztm_buf_free(&b64);
}

/* The CSR of an enrollment request: base64 DER in an application/pkcs10
 * body (RFC 7030 §4.2.1), capped before decoding (est_parse.c). */
static int est_read_csr(struct ztmd_req *r, struct ztm_buf *der, struct ztm_error *err)
{
	return est_parse_csr_body(ztmd_req_header(r, "Content-Type"), ztmd_req_body(r), der, err);
}

static void h_simpleenroll(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct est_op *op;
	struct ztm_error err;
	uint8_t hash[32];
	struct ztm_buf der;
	int label = EST_NO_LABEL, opcode = -1;

	/* A self-signed bootstrap certificate: a device registering. */
	if (ztmd_req_peer_bootstrap(r)) {
		(void)est_parse_path(ztmd_req_path(r), &label, &opcode);
		est_device_enroll(r, app, label);
		return;
	}
	if (app_authorize(app, r, ZTMD_ACT_EST_ENROLL_CODE, &peer) != 0)
		return;
	ztm_buf_init(&der, 16 * 1024);
	if (est_parse_basic(ztmd_req_header(r, "Authorization"), hash, &err) != 0) {
		app_refuse(r, app, "est.enroll", 401, &err);
		goto out;
	}
	if (est_read_csr(r, &der, &err) != 0) {
		app_refuse(r, app, "est.enroll", app_status_for(err.code), &err);
		goto out;
	}
	/* A one-time code: the client certificate, if any, is not whose
	 * key this is, so the CSR's own signature is the proof. */
	op = est_op_new(app, &der, NULL, &err);
	if (op == NULL) {
		app_refuse(r, app, "est.enroll", app_status_for(err.code), &err);
		goto out;
	}
	memcpy(op->code_hash, hash, sizeof(hash));
	op->kind = EST_BY_CODE;
	est_op_start(r, op);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	ztm_buf_free(&der);
}

static void h_simplereenroll(struct ztmd_req *r, void *arg)
{
	struct ztmd_app *app = arg;
	struct ztmd_peer peer;
	struct est_op *op;
	struct ztm_error err;
	struct ztm_buf der, spki;
	X509 *x = ztmd_req_peer_cert(r);
	int label = EST_NO_LABEL, opcode = -1;

	/* A device-CA certificate: a device renewing (est_device_renew.c). */
	if (x != NULL && !ztmd_req_peer_bootstrap(r) && app_peer_ca(app, x) == APP_CA_DEVICE) {
		(void)est_parse_path(ztmd_req_path(r), &label, &opcode);
		est_device_reenroll(r, app, label);
		return;
	}
	if (app_authorize(app, r, ZTMD_ACT_EST_REENROLL, &peer) != 0)
		return;
	ztm_buf_init(&der, 16 * 1024);
	ztm_buf_init(&spki, 16 * 1024);
	if (est_read_csr(r, &der, &err) != 0) {
		app_refuse(r, app, "est.reenroll", app_status_for(err.code), &err);
		goto out;
	}
	/* Renewal with the same key: the handshake proved possession of it
	 * (est_op_new); a re-key's CSR is verified. */
	if (est_peer_spki(ztmd_req_peer_cert(r), &spki, &err) != 0) {
		app_refuse(r, app, "est.reenroll", 401, &err);
		goto out;
	}
	op = est_op_new(app, &der, &spki, &err);
	if (op == NULL) {
		app_refuse(r, app, "est.reenroll", app_status_for(err.code), &err);
		goto out;
	}
	op->kind = EST_BY_CERT;
	op->peer = peer;
	if (app_serial_hex(ztmd_req_peer_cert(r), op->old_serial) != 0) {
		ztm_error_set(&err, ZTM_E_AUTH, "client certificate serial unreadable");
		est_op_free(op);
		app_refuse(r, app, "est.reenroll", 401, &err);
		goto out;
	}
	est_op_start(r, op);
out:
	ztm_buf_free(&der);
	ztm_buf_free(&spki);
}

/* TPM key attestation's challenge (est_tpm.c): a device with its
 * bootstrap certificate, before simpleenroll. */
static void h_tpm_challenge(struct ztmd_req *r, void *arg)
{
	int label = EST_NO_LABEL, opcode = -1;

	(void)est_parse_path(ztmd_req_path(r), &label, &opcode);
	est_tpm_challenge(r, arg, label);
}

/* One prefix route: /.well-known/est/[<label>/]<operation>, where the label
 * names one of our CAs (RFC 7030 §3.2.2 "arbitrary label"). */
static void h_est(struct ztmd_req *r, void *arg)
{
	/* Indexed by enum est_opcode. */
	static const struct {
		enum ztmd_method method;
		ztmd_handler fn;
	} ops[EST_OP_COUNT] = {
	    [EST_OP_CACERTS] = {ZTMD_GET, h_cacerts},
	    [EST_OP_CSRATTRS] = {ZTMD_GET, h_csrattrs},
	    [EST_OP_SIMPLEENROLL] = {ZTMD_POST, h_simpleenroll},
	    [EST_OP_SIMPLEREENROLL] = {ZTMD_POST, h_simplereenroll},
	    [EST_OP_TPM_CHALLENGE] = {ZTMD_POST, h_tpm_challenge},
	};
	struct ztm_error err;
	int label, op;

	if (est_parse_path(ztmd_req_path(r), &label, &op) != 0) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "no such EST operation or label");
		ztmd_reply_error(r, 404, &err);
		return;
	}
	if (ztmd_req_method(r) != ops[op].method) {
		ztm_error_set(&err, ZTM_E_USAGE, "%s needs %s", est_op_name(op),
		              ops[op].method == ZTMD_GET ? "GET" : "POST");
		ztmd_reply_header(r, "Allow", ops[op].method == ZTMD_GET ? "GET" : "POST");
		ztmd_reply_error(r, 405, &err);
		return;
	}
	ops[op].fn(r, arg);
}

size_t est_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max)
{
	if (max < 1)
		return 0;
	out[0].methods = ZTMD_GET | ZTMD_POST;
	out[0].path = "/.well-known/est/";
	out[0].flags = ZTMD_ROUTE_PREFIX;
	out[0].fn = h_est;
	out[0].arg = app;
	return 1;
}
