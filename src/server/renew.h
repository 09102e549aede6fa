/* renew.h - whether a device may re-enroll (EST simplereenroll with its
 * operational certificate, RFC 7030 §4.2.2; docs/lifecycle.md), as a pure
 * function of the device, its certificate and its product's policy. The
 * store lookups and the writes are the caller's (est_device_renew.c); the
 * rules live here, in one order, tested as a table (tests/unit/test_renew.c).
 *
 * Every refusal has its own code, sent as "error" in the EST error body and
 * written to the audit log. */
#ifndef ZTMD_RENEW_H
#define ZTMD_RENEW_H

#include <stdint.h>

#include "vet.h"
#include "ztm/store.h"

/* code, name (wire), alert?, text. RENEW_ATTEST's name, text and alert are
 * the attestation check's (vet.h, VET_ATTEST_*: the same codes as at
 * registration); the row is what is said when no check is known. */
#define RENEW_TABLE(X)                                                                             \
	X(RENEW_OK, "ok", 0, "renewal allowed")                                                    \
	X(RENEW_RETIRED, "device_retired", 1, "the device is retired: refused forever")            \
	X(RENEW_REVOKED, "device_ended", 1, "the device is revoked")                               \
	X(RENEW_QUARANTINED, "quarantined", 1, "the device is quarantined")                        \
	X(RENEW_SUSPENDED, "device_suspended", 0, "the device is suspended")                       \
	X(RENEW_NOT_PROVISIONED, "not_provisioned", 0,                                             \
	  "the device has no operational certificate yet")                                         \
	X(RENEW_NOT_CURRENT, "not_current", 0, "the certificate is not the device's current one")  \
	X(RENEW_CERT_REVOKED, "certificate_revoked", 0, "the certificate is revoked")              \
	X(RENEW_EXPIRED, "certificate_expired", 0,                                                 \
	  "the certificate expired longer ago than the product's renewal grace period")            \
	X(RENEW_TOO_EARLY, "renewal_too_early", 0,                                                 \
	  "the certificate is not yet in the product's renewal window")                            \
	X(RENEW_KEY_TYPE, "key_type", 0, "the product does not allow this key type")               \
	X(RENEW_ATTEST, "attest", 1,                                                               \
	  "the new key is not attested by the device's TPM (the EST error names the check)")

enum renew_code {
#define RENEW_X_ENUM(c, n, a, t) c,
	RENEW_TABLE(RENEW_X_ENUM)
#undef RENEW_X_ENUM
	    RENEW_COUNT
};

const char *renew_name(enum renew_code c);
const char *renew_text(enum renew_code c);
/* 1 when the refusal is a sign of a credential used after its device's
 * end (retired, revoked, quarantined): an alert, not only an audit entry. */
int renew_alerts(enum renew_code c);

struct renew_input {
	int64_t now;                 /* Unix seconds */
	enum ztm_device_state state; /* the device's */
	int is_current;              /* the presented certificate is the device's current one */
	int cert_revoked;            /* the presented certificate is revoked (any reason) */
	int retry;                   /* the same request was answered before (I3) */
	int64_t not_after;           /* the presented certificate's notAfter */
	int64_t window_days;         /* product renew_window_days */
	int64_t grace_days;          /* product renew_grace_days */
	int key_kind_ok;             /* the CSR's key type is allowed by the product */
	/* A re-key of a key_storage = tpm product (docs/attestation.md
	 * "Re-key"): the attestation of the new key, VET_OK when it passed,
	 * else the attestation check that refused it (VET_ATTEST_*). */
	int attest_required;
	enum vet_code attest;
};

/* The verdict. The device's state decides first (a retired device gets
 * nothing, not even a retry); then a retry of an answered request passes
 * (it gets the certificate it was issued); then the certificate, the
 * grace period after its expiry, the renewal window before it, the new
 * key's type, and a re-key's attestation when the product requires it. */
enum renew_code renew_decide(const struct renew_input *in);

#endif
