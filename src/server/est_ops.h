/* est_ops.h - one EST enrollment in flight (see est.c for the sequence). */
#ifndef ZTMD_EST_OPS_H
#define ZTMD_EST_OPS_H

#include "app_int.h"
#include "renew.h"
#include "vet.h"
#include "ztm/csr.h"
#include "ztm/serial.h"
#include "ztm/tpm.h"

/* How the request authenticates: a one-time code (stations, operators),
 * the current certificate (re-enrollment), a device's self-signed
 * bootstrap certificate (registration, vetted: est_device.c), or a device's
 * operational certificate (re-enrollment: est_device_renew.c). */
enum est_kind { EST_BY_CODE, EST_BY_CERT, EST_BY_BOOTSTRAP, EST_BY_DEVICE_CERT };

/* A device re-enrollment: what the presented certificate says, and the
 * verdict. */
struct est_renew {
	int64_t peer_not_after; /* the presented certificate's notAfter */
	int expired;            /* TLS let it through expired */
	int rekey;              /* the CSR's key is not the device's current one */
	char old_key[ZTM_SHA256_HEX];
	enum renew_code verdict;
	enum vet_code attest; /* RENEW_ATTEST: the attestation check that refused */
	char detail[512];
};

/* A device registration: what the request claims, what the store says,
 * and the verdict. */
struct est_device {
	/* The request (handler). */
	char boot_serial[ZTM_DEV_SERIAL_MAX]; /* bootstrap subject serialNumber, "" = none */
	char boot_product[ZTM_NAME_MAX];      /* named by the bootstrap CN, "" = none */
	char boot_spki[ZTM_SHA256_HEX];       /* SHA-256 of the bootstrap key */
	char csr_serial[ZTM_DEV_SERIAL_MAX];  /* CSR subject serialNumber, "" = none */
	char peer_addr[64];
	/* The TPM evidence of the CSR, judged by the handler (est_tpm_judge):
	 * attest_verdict VET_OK when it verified, and then the challenge it
	 * answers is looked up by cred_hash in the claim job. */
	int has_evidence;
	enum vet_code attest_verdict;
	uint8_t cred_hash[32];
	uint8_t ak_name[ZTM_TPM_NAME_MAX];
	size_t ak_name_len;
	char attest_why[160]; /* the verifier's words, for the audit */
	/* The EK certificate hash of the challenge the evidence answered
	 * (claim job), "" unless attested: recorded with the device. */
	char ek_sha256[ZTM_SHA256_HEX];
	/* The vetted record (claim job). */
	char serial[ZTM_DEV_SERIAL_MAX];
	char product[ZTM_NAME_MAX];
	char hw_type_oid[64];
	int64_t lifetime_days, record_id, product_id, order_id;
	/* The verdict; on a refusal, what the refusal job writes. */
	enum vet_code verdict;
	int quarantine;
	char detail[512];
};

/* Which commit of an enrollment failed with the database unreachable
 * (est_reconcile.c). */
enum est_stage { EST_STAGE_CLAIM, EST_STAGE_RECORD };

struct est_op {
	struct ztmd_app *app;
	enum est_kind kind;
	struct ztm_csr csr;
	uint8_t code_hash[32];               /* EST_BY_CODE */
	struct ztmd_peer peer;               /* EST_BY_CERT */
	char old_serial[ZTM_SERIAL_HEX_MAX]; /* EST_BY_CERT */
	struct est_device dev;               /* EST_BY_BOOTSTRAP, EST_BY_DEVICE_CERT */
	struct est_renew renew;              /* EST_BY_DEVICE_CERT */
	/* Filled by the claim job. */
	enum app_ca_id ca;
	char owner_kind[16];
	int64_t owner_id;
	char cn[65], ou[65];
	int existing; /* a retry: cert holds the earlier certificate */
	uint8_t serial[ZTM_SERIAL_LEN];
	struct ztm_cert_row row;
	struct ztm_buf cert;       /* DER */
	struct ztm_error sign_err; /* why signing failed */
	/* Reconciliation of a commit whose outcome is unknown (est_reconcile.c). */
	int claim_ran; /* the claim job's own work succeeded: a failure after it was its commit's */
	int keep_serial; /* est_reserve reserves op->serial again instead of a fresh one */
	enum est_stage stage;
	const char *outcome;      /* what the reconciliation found, for the log */
	uint64_t reconcile_until; /* monotonic ms; 0: not reconciling */
	unsigned reconcile_tries; /* lookups so far */
};

/* Parses and verifies the CSR; NULL with err (400-class) on bad input.
 * peer_spki, when not NULL, is the SubjectPublicKeyInfo DER of the TLS
 * client certificate (est_peer_spki): the handshake proved possession of
 * that key, so a CSR for the same key is not verified again
 * (ztm_csr_parse_pop); a CSR for any other key is. */
struct est_op *est_op_new(struct ztmd_app *app, const struct ztm_buf *der,
                          const struct ztm_buf *peer_spki, struct ztm_error *err);
/* The SubjectPublicKeyInfo DER of a client certificate into out. */
int est_peer_spki(X509 *peer, struct ztm_buf *out, struct ztm_error *err);
void est_op_free(struct est_op *op);
/* Runs the claim/reserve -> sign -> issue sequence and replies. Takes op. */
void est_op_start(struct ztmd_req *r, struct est_op *op);
/* The steps of the sequence (est_ops.c), for est_reconcile.c: the claim
 * job and what follows it (sign, then the record job), the record job and
 * the reply. */
int est_job_claim(struct ztm_store *s, void *arg, struct ztm_error *err);
void est_done_claim(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err);
int est_job_record(struct ztm_store *s, void *arg, struct ztm_error *err);
void est_done_record(struct ztmd_req *r, void *arg, int rc, const struct ztm_error *err);
/* A commit of op's failed with err. When err says the database was
 * unreachable (ZTM_E_UNAVAILABLE) and the commit may have happened -- the
 * claim's, after its job succeeded; the record's, always (op->cert holds
 * signed bytes) -- reconciliation takes op over: 1, it replies. Otherwise
 * 0: the failure is final, the caller answers it. */
int est_reconcile(struct ztmd_req *r, struct est_op *op, enum est_stage stage,
                  const struct ztm_error *err);

/* Shared with est_device.c. The idempotency key of op into op->row.idem_key. */
void est_idem_key(struct est_op *op);
/* 0: a retry, op->cert holds what was issued; 1: nothing issued yet, go
 * on; -1: error (ZTM_E_CONFLICT: still in flight). */
int est_retry_of(struct ztm_store *s, struct est_op *op, struct ztm_error *err);
/* Fills op->row for a reservation by op->ca with a fresh serial, and
 * reserves it. */
int est_reserve(struct ztm_store *s, struct est_op *op, const char *subject, struct ztm_error *err);

/* Device registration (est_device.c): the handler, and the three steps the
 * sequence calls for EST_BY_BOOTSTRAP. */
void est_device_enroll(struct ztmd_req *r, struct ztmd_app *app, int label);
/* The request's claims into d (boot_serial, boot_product, boot_spki,
 * csr_serial) from the bootstrap certificate, its SubjectPublicKeyInfo DER
 * (est_peer_spki) and the parsed CSR; a claim
 * that is absent, repeated or does not fit is "" (vetting refuses it). */
int est_device_claims(X509 *boot, struct ztm_slice boot_spki, const struct ztm_csr *csr,
                      struct est_device *d, struct ztm_error *err);
int est_device_claim(struct ztm_store *s, struct est_op *op, struct ztm_error *err);
int est_device_sign(struct est_op *op, struct ztm_error *err);
int est_device_record(struct ztm_store *s, struct est_op *op, struct ztm_error *err);
/* After a refused claim: quarantine, alert, audit, then the EST error body
 * with the vetting code. Takes op. */
void est_device_refuse(struct ztmd_req *r, struct est_op *op);
/* The one subject attribute nid of name as text into out ("" when absent,
 * repeated or not a plain string that fits). */
void est_subject_attr(X509_NAME *name, int nid, char *out, size_t outsize);

/* TPM key attestation (est_tpm.c, docs/attestation.md): the tpm-challenge
 * handler; the CSR's evidence verified into op->dev (handler, no store);
 * the claim job's lookup of its challenge into in (attested, or
 * attest_refusal), and the challenge's single use once vetting passed
 * (-1 with op->dev.verdict set when another request used it first). */
void est_tpm_challenge(struct ztmd_req *r, struct ztmd_app *app, int label);
void est_tpm_judge(struct est_op *op);
/* The claim job's lookup for the key of the TLS client certificate that
 * asked the challenge (key_spki, hex SHA-256: the bootstrap key, or a
 * re-keying device's current key) into *out: VET_OK when the evidence
 * verified and answers an unused, unexpired challenge made for that key
 * and its AK (op->dev.ek_sha256 then holds the challenge's EK), else the
 * refusal (VET_ATTEST_MISSING without evidence). -1 on a store failure. */
int est_tpm_lookup(struct ztm_store *s, struct est_op *op, const char *key_spki, enum vet_code *out,
                   struct ztm_error *err);
int est_tpm_check(struct ztm_store *s, struct est_op *op, struct vet_input *in,
                  struct ztm_error *err);
int est_tpm_use(struct ztm_store *s, struct est_op *op, struct ztm_error *err);

/* Device re-enrollment (est_device_renew.c): the handler (peer: the
 * device's operational certificate, authorized for
 * ZTMD_ACT_EST_REENROLL_DEVICE by the handler itself), and the steps. */
void est_device_reenroll(struct ztmd_req *r, struct ztmd_app *app, int label);
int est_renew_claim(struct ztm_store *s, struct est_op *op, struct ztm_error *err);
int est_renew_record(struct ztm_store *s, struct est_op *op, struct ztm_error *err);
/* After a refused claim: audit, then the EST error body with the code. */
void est_renew_refuse(struct ztmd_req *r, struct est_op *op);

#endif
