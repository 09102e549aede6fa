/* est_tpm.c - TPM key attestation at registration (docs/attestation.md):
 * the tpm-challenge operation, and the evidence of a simpleenroll judged
 * in the handler (CPU) and answered against its stored challenge in the
 * claim job.
 *
 * POST /.well-known/est/[device/]tpm-challenge, with the bootstrap
 * certificate whose key is to be attested as TLS client certificate, or
 * (before a re-key, docs/attestation.md "Re-key") the device's operational
 * certificate; the challenge is bound to the key of that certificate, and
 * the CSR's evidence to the key it asks for (qualifyingData):
 *   1. the EK certificate chains to [attestation] ek_roots  (ek_untrusted, alert)
 *   2. the AK public area is an attestation key             (attest_ak_unsuitable)
 *   3. cred := 32 random bytes; MakeCredential(EK, name(AK), cred)
 *   4. store {H(cred), H(bootstrap key), name(AK), H(EK cert), expiry}, audit
 *   5. reply credential_blob, encrypted_secret, expires_at.
 * Every refusal is audited; ek_untrusted also raises an alert (a forged or
 * foreign TPM is an attack, or a supplier not configured). */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "est_ops.h"
#include "est_parse.h"
#include "ztm/log.h"
#include "ztm/str.h"
#include "ztm/tpm.h"

#define ACTION         "est.tpm-challenge"
#define BODY_MAX       (16 * 1024) /* docs/attestation.md: at most 16 KiB */
#define AK_PUBLIC_MAX  1024        /* a TPM2B_PUBLIC is far smaller */
#define REFUSED_EK     "ek_untrusted"
#define REFUSED_AK     "attest_ak_unsuitable"
#define REFUSED_FORMAT "attest_malformed"

struct chal_op {
	struct ztm_attest_challenge_row row;
	char boot_serial[ZTM_DEV_SERIAL_MAX];
	char actor[ZTM_NAME_MAX + 16]; /* "device:bootstrap", or the device's name */
	char peer_addr[64];
	/* The reply (base64), or on a refusal its name, status and why. */
	struct ztm_buf id_b64, secret_b64;
	const char *refusal; /* NULL: a challenge was made */
	int status, alert;
	struct ztm_error why;
};

static void chal_free(struct chal_op *c)
{
	if (c == NULL)
		return;
	ztm_buf_free(&c->id_b64);
	ztm_buf_free(&c->secret_b64);
	OPENSSL_cleanse(&c->row, sizeof(c->row));
	free(c);
}

static int sha256_hex(const uint8_t *p, size_t n, char out[ZTM_SHA256_HEX])
{
	uint8_t md[32];

	if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	ztm_hex(md, sizeof(md), out);
	return 0;
}

/* A base64 string field of j, decoded into out (capped by out's own cap). */
static int field_b64(json_t *j, const char *key, struct ztm_buf *out, struct ztm_error *err)
{
	const char *v = json_string_value(json_object_get(j, key));

	if (v == NULL)
		return ztm_error_set(err, ZTM_E_PARSE, "field '%s' (base64 string) is required",
		                     key);
	if (ztm_b64_decode(v, strlen(v), out) != 0 || out->len == 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "field '%s': not base64 of at most %zu bytes", key, out->max);
	return 0;
}

static int job_challenge(struct ztm_store *s, void *arg, struct ztm_error *err)
{
	struct chal_op *c = arg;
	char detail[512];

	if (c->refusal != NULL) {
		snprintf(detail, sizeof(detail), "%s: %.300s (key %.16s from %.63s)", c->refusal,
		         c->why.msg, c->row.key_spki, c->peer_addr);
		if (c->alert &&
		    ztm_store_alert(s, c->refusal, c->boot_serial[0] ? c->boot_serial : "-", detail,
		                    err) != 0)
			return -1;
		/* A failure of ours (status 500) is no refusal of the device's. */
		return ztm_store_audit(s, c->actor, ACTION,
		                       c->boot_serial[0] ? c->boot_serial : "-",
		                       c->status >= 500 ? "error" : c->refusal, detail, err);
	}
	if (ztm_store_attest_challenge_add(s, &c->row, err) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "%s key %.16s EK certificate %.16s expires %lld from %s",
	         strcmp(c->actor, "device:bootstrap") == 0 ? "bootstrap" : "current",
	         c->row.key_spki, c->row.ek_cert_sha256, (long long)c->row.expires_at,
	         c->peer_addr);
	return ztm_store_audit(s, c->actor, ACTION, c->boot_serial[0] ? c->boot_serial : "-", "ok",
	                       detail, err);
}

static void done_challenge(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err)
{
	struct chal_op *c = arg;
	json_t *j;
	char *s;

	if (rc != 0) {
		ztm_log(ZTM_LOG_ERROR, "est.tpm_challenge_failed", "err=%s",
		        ztm_err_name(err->code));
		ztmd_reply_error(r, c->refusal != NULL ? 500 : app_status_for(err->code), err);
	} else if (c->refusal != NULL && c->status >= 500) {
		/* Our crypto or memory failed: the generic error, not a refusal
		 * code that would blame the device's request. */
		ztm_log(ZTM_LOG_ERROR, "est.tpm_challenge_failed", "err=%s",
		        ztm_err_name(c->why.code));
		ztmd_reply_error(r, c->status, &c->why);
	} else if (c->refusal != NULL) {
		ztm_log(ZTM_LOG_WARN, "est.tpm_challenge_refused", "refusal=%s serial=%s",
		        c->refusal, c->boot_serial);
		ztmd_reply_error_named(r, c->status, c->refusal, &c->why);
	} else {
		j = json_pack("{s:s%,s:s%,s:I}", "credential_blob", (const char *)c->id_b64.data,
		              c->id_b64.len, "encrypted_secret", (const char *)c->secret_b64.data,
		              c->secret_b64.len, "expires_at", (json_int_t)c->row.expires_at);
		s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		if (s == NULL) {
			struct ztm_error e;
			ztm_error_set(&e, ZTM_E_NOMEM, "encoding the challenge");
			ztmd_reply_error(r, 500, &e);
		} else {
			ztmd_reply(r, 200, "application/json", s, strlen(s));
			free(s);
		}
		json_decref(j);
	}
	chal_free(c);
}

/* Steps 1-3 into c: the challenge row and the reply, or the refusal. */
static void make_challenge(struct ztmd_app *app, struct ztm_slice body, struct chal_op *c)
{
	struct ztm_buf ek_der, ak_pub, id, secret;
	uint8_t cred[ZTM_TPM_CRED_LEN];
	EVP_PKEY *ek = NULL;
	json_error_t jerr;
	json_t *j = NULL;
	int64_t now = (int64_t)time(NULL);

	ztm_buf_init(&ek_der, ZTM_TPM_EK_CERT_MAX);
	ztm_buf_init(&ak_pub, AK_PUBLIC_MAX);
	ztm_buf_init(&id, 1024);
	ztm_buf_init(&secret, 1024);
	c->refusal = REFUSED_FORMAT;
	c->status = 400;
	j = json_loadb((const char *)body.p, body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL || !json_is_object(j)) {
		ztm_error_set(&c->why, ZTM_E_PARSE, "body is not a JSON object");
		goto out;
	}
	if (json_object_size(j) != 2) {
		ztm_error_set(&c->why, ZTM_E_PARSE,
		              "the body has exactly 'ek_cert' and 'ak_public'");
		goto out;
	}
	if (field_b64(j, "ek_cert", &ek_der, &c->why) != 0 ||
	    field_b64(j, "ak_public", &ak_pub, &c->why) != 0)
		goto out;
	if (sha256_hex(ek_der.data, ek_der.len, c->row.ek_cert_sha256) != 0) {
		ztm_error_ossl(&c->why, ZTM_E_CRYPTO, "EK certificate hash");
		c->status = 500;
		goto out;
	}
	/* 1. The TPM's maker vouches for the EK. */
	if (ztm_tpm_ek_verify(app->tpm_roots, ek_der.data, ek_der.len, now, &ek, &c->why) != 0) {
		if (c->why.code == ZTM_E_AUTH || c->why.code == ZTM_E_WEAKKEY) {
			c->refusal = REFUSED_EK;
			c->status = 403;
			c->alert = 1;
		}
		goto out;
	}
	/* 2. An AK's public area (whether it is in the TPM is step 3's). */
	if (ztm_tpm_ak_check(ztm_buf_slice(&ak_pub), c->row.ak_name, &c->row.ak_name_len,
	                     &c->why) != 0) {
		if (c->why.code != ZTM_E_PARSE && c->why.code != ZTM_E_TOOBIG) {
			c->refusal = REFUSED_AK;
			c->status = 403;
		}
		goto out;
	}
	/* 3. A secret only the TPM holding that EK and that AK can unwrap. */
	if (RAND_priv_bytes(cred, sizeof(cred)) != 1 ||
	    EVP_Digest(cred, sizeof(cred), c->row.cred_hash, NULL, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(&c->why, ZTM_E_CRYPTO, "credential");
		c->status = 500;
		goto out;
	}
	if (ztm_tpm_make_credential(ek, c->row.ak_name, c->row.ak_name_len, cred, &id, &secret,
	                            &c->why) != 0 ||
	    ztm_b64_encode(id.data, id.len, 0, &c->id_b64) != 0 ||
	    ztm_b64_encode(secret.data, secret.len, 0, &c->secret_b64) != 0) {
		if (c->why.code == ZTM_OK)
			ztm_error_set(&c->why, ZTM_E_NOMEM, "challenge reply");
		c->status = 500;
		goto out;
	}
	c->row.created_at = now;
	c->row.expires_at = now + ZTM_TPM_CHALLENGE_TTL;
	c->refusal = NULL;
out:
	OPENSSL_cleanse(cred, sizeof(cred));
	EVP_PKEY_free(ek);
	json_decref(j);
	ztm_buf_free(&ek_der);
	ztm_buf_free(&ak_pub);
	ztm_buf_free(&id);
	ztm_buf_free(&secret);
}

void est_tpm_challenge(struct ztmd_req *r, struct ztmd_app *app, int label)
{
	const char *ct = ztmd_req_header(r, "Content-Type");
	struct ztm_slice body = ztmd_req_body(r);
	struct ztmd_peer peer;
	struct chal_op *c;
	struct ztm_error err;
	struct ztm_buf spki;
	X509 *boot = ztmd_req_peer_cert(r);

	if (app_authorize(app, r, ZTMD_ACT_EST_TPM_CHALLENGE, &peer) != 0)
		return;
	if (label != EST_NO_LABEL && label != APP_CA_DEVICE) {
		ztm_error_set(&err, ZTM_E_DENIED, "devices attest at the device label only");
		app_refuse(r, app, ACTION, 403, &err);
		return;
	}
	if (app->tpm_roots == NULL) {
		ztm_error_set(
		    &err, ZTM_E_NOTFOUND,
		    "TPM key attestation is not configured here ([attestation] ek_roots)");
		app_refuse(r, app, ACTION, 404, &err);
		return;
	}
	if (ct == NULL || strncmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		ztm_error_set(&err, ZTM_E_PARSE, "Content-Type must be application/json");
		app_refuse_named(r, app, ACTION, 415, REFUSED_FORMAT, &err);
		return;
	}
	if (body.len > BODY_MAX) {
		ztm_error_set(&err, ZTM_E_TOOBIG, "challenge request over %d bytes", BODY_MAX);
		app_refuse_named(r, app, ACTION, 413, REFUSED_FORMAT, &err);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		ztm_error_set(&err, ZTM_E_NOMEM, "challenge");
		ztmd_reply_error(r, 500, &err);
		return;
	}
	ztm_buf_init(&c->id_b64, 4096);
	ztm_buf_init(&c->secret_b64, 4096);
	ztm_strlcpy(c->peer_addr, ztmd_req_peer_addr(r), sizeof(c->peer_addr));
	ztm_strlcpy(c->actor, peer.kind == ZTMD_PEER_DEVICE ? peer.who.name : "device:bootstrap",
	            sizeof(c->actor));
	est_subject_attr(X509_get_subject_name(boot), NID_serialNumber, c->boot_serial,
	                 sizeof(c->boot_serial));
	/* The challenge is for the key the handshake proved: the bootstrap
	 * key, or a re-keying device's current key. */
	ztm_buf_init(&spki, 16 * 1024);
	if (est_peer_spki(boot, &spki, &err) != 0 ||
	    sha256_hex(spki.data, spki.len, c->row.key_spki) != 0) {
		ztm_buf_free(&spki);
		chal_free(c);
		app_refuse(r, app, ACTION, 401, &err);
		return;
	}
	ztm_buf_free(&spki);
	make_challenge(app, body, c);
	ztmd_req_defer(r, job_challenge, c, done_challenge);
}

/* --- the evidence of a simpleenroll ------------------------------------ */

void est_tpm_judge(struct est_op *op)
{
	struct est_device *d = &op->dev;
	struct ztm_tpm_evidence ev;
	struct ztm_error e;
	enum ztm_tpm_verdict v;

	if (op->csr.tpm_evidence.p == NULL)
		return;
	d->has_evidence = 1;
	d->attest_verdict = VET_ATTEST_MALFORMED;
	ztm_error_clear(&e);
	if (ztm_tpm_evidence_parse(op->csr.tpm_evidence.p, op->csr.tpm_evidence.len, &ev, &e) != 0)
		goto out;
	/* The qualifyingData binds the request's key: the CSR's, which
	 * vetting holds equal to the bootstrap key. */
	v = ztm_tpm_evidence_verify(&ev, op->csr.spki, d->ak_name, &d->ak_name_len, &e);
	if (v != ZTM_TPM_OK) {
		d->attest_verdict = vet_from_tpm(v);
		goto out;
	}
	if (EVP_Digest(ev.credential.p, ev.credential.len, d->cred_hash, NULL, EVP_sha256(),
	               NULL) != 1) {
		ztm_error_ossl(&e, ZTM_E_CRYPTO, "credential hash");
		goto out;
	}
	d->attest_verdict = VET_OK;
out:
	if (d->attest_verdict != VET_OK)
		ztm_strlcpy(d->attest_why, e.msg, sizeof(d->attest_why));
}

int est_tpm_lookup(struct ztm_store *s, struct est_op *op, const char *key_spki, enum vet_code *out,
                   struct ztm_error *err)
{
	struct est_device *d = &op->dev;
	struct ztm_attest_challenge_row row;

	d->ek_sha256[0] = '\0';
	*out = VET_ATTEST_MISSING;
	if (!d->has_evidence)
		return 0;
	*out = d->attest_verdict;
	if (d->attest_verdict != VET_OK)
		return 0;
	if (ztm_store_attest_challenge_get(s, d->cred_hash, &row, err) != 0) {
		if (err->code != ZTM_E_NOTFOUND)
			return -1;
		ztm_error_clear(err);
		/* No challenge made this credential: the AK was never
		 * activated by an EK we trust (or the row is long gone). */
		*out = VET_ATTEST_UNKNOWN;
		return 0;
	}
	if (strcmp(row.key_spki, key_spki) != 0 || row.ak_name_len != d->ak_name_len ||
	    memcmp(row.ak_name, d->ak_name, d->ak_name_len) != 0)
		*out = VET_ATTEST_MISMATCH;
	else if (row.used_at != 0)
		*out = VET_ATTEST_REPLAY;
	else if (row.expires_at <= (int64_t)time(NULL))
		*out = VET_ATTEST_EXPIRED;
	else
		ztm_strlcpy(d->ek_sha256, row.ek_cert_sha256, sizeof(d->ek_sha256));
	return 0;
}

int est_tpm_check(struct ztm_store *s, struct est_op *op, struct vet_input *in,
                  struct ztm_error *err)
{
	enum vet_code v;

	if (est_tpm_lookup(s, op, op->dev.boot_spki, &v, err) != 0)
		return -1;
	in->attested = v == VET_OK;
	in->attest_refusal = v;
	return 0;
}

int est_tpm_use(struct ztm_store *s, struct est_op *op, struct ztm_error *err)
{
	struct est_device *d = &op->dev;

	if (ztm_store_attest_challenge_use(s, d->cred_hash, (int64_t)time(NULL), err) == 0)
		return 0;
	/* Another registration used it, or it expired, since the lookup. */
	if (err->code == ZTM_E_CONFLICT)
		d->verdict = VET_ATTEST_REPLAY;
	else if (err->code == ZTM_E_AUTH)
		d->verdict = VET_ATTEST_EXPIRED;
	return -1;
}
