/* vet.h - the vetting decision at device registration (DESIGN.md 3, step 5;
 * issue 3 point 4), as a pure function of what the store and the request
 * say. The store lookups and the writes that follow (quarantine, alert,
 * quota, issuance) are the caller's; the rules live here, in one order, and
 * are tested as a table (tests/unit/test_vet.c).
 *
 * Every refusal has its own code, sent as "error" in the EST error body and
 * written to the audit log; those that signal an attack raise an alert, and
 * a clone also quarantines the serial. */
#ifndef ZTMD_VET_H
#define ZTMD_VET_H

#include <stdint.h>

/* code, name (wire), alert?, text */
#define VET_TABLE(X)                                                                               \
	X(VET_OK, "ok", 0, "vetted")                                                               \
	X(VET_UNRECORDED, "unrecorded", 1, "no station recorded this bootstrap key")               \
	X(VET_KEY_MISMATCH, "csr_key_mismatch", 1, "the CSR key is not the bootstrap key")         \
	X(VET_SERIAL_MISMATCH, "serial_mismatch", 1,                                               \
	  "the bootstrap certificate's serial is not the recorded serial")                         \
	X(VET_PRODUCT_MISMATCH, "product_mismatch", 1,                                             \
	  "the request's product is not the recorded product")                                     \
	X(VET_TEST_FAILED, "test_failed", 0, "the device failed its production test")              \
	X(VET_FW_NOT_APPROVED, "firmware_not_approved", 1,                                         \
	  "the recorded firmware is not an approved release")                                      \
	X(VET_KEY_TYPE, "key_type", 0, "the product does not allow this key type")                 \
	X(VET_INJECTED_FORBIDDEN, "injected_key_forbidden", 1,                                     \
	  "the product forbids injected keys")                                                     \
	X(VET_STATION_REVOKED, "station_revoked", 1,                                               \
	  "the recording station was revoked before it made this record")                          \
	X(VET_CLONE, "clone", 1, "the serial is registered with another key")                      \
	X(VET_QUARANTINED, "quarantined", 1, "the serial is quarantined")                          \
	X(VET_ENDED, "device_ended", 1, "the device is revoked")                                   \
	X(VET_RETIRED, "device_retired", 1, "the device is retired: refused forever")              \
	X(VET_NOT_REPLACEABLE, "not_replaceable", 1,                                               \
	  "a replacement record for a device that is not registered, or is suspended")             \
	X(VET_REPLAY, "bootstrap_replay", 1,                                                       \
	  "the device is active: its bootstrap credential is no longer accepted")                  \
	X(VET_ATTEST_MISSING, "attest_missing", 0,                                                 \
	  "the product requires a TPM-resident key and the request carries no TPM attestation")    \
	X(VET_ATTEST_MALFORMED, "attest_malformed", 0, "the TPM evidence is malformed")            \
	X(VET_ATTEST_AK, "attest_ak_unsuitable", 0,                                                \
	  "the attestation key is not a restricted, fixedTPM signing key")                         \
	X(VET_ATTEST_SIGNATURE, "attest_bad_signature", 1,                                         \
	  "the certification is not signed by the attestation key")                                \
	X(VET_ATTEST_QUALIFYING, "attest_wrong_qualifying_data", 0,                                \
	  "the certification is not bound to this request (qualifyingData)")                       \
	X(VET_ATTEST_NAME, "attest_name_mismatch", 1,                                              \
	  "the certification names another object than the key public area sent")                  \
	X(VET_ATTEST_EXPORTABLE, "attest_key_exportable", 1,                                       \
	  "the certified key may leave the TPM")                                                   \
	X(VET_ATTEST_KEY, "key_not_attested", 1,                                                   \
	  "the certified TPM key is not the request's key (a software key)")                       \
	X(VET_ATTEST_UNKNOWN, "attest_unknown_challenge", 1,                                       \
	  "the credential answers no challenge: the attestation key is not the EK's TPM's")        \
	X(VET_ATTEST_MISMATCH, "attest_challenge_mismatch", 1,                                     \
	  "the challenge was made for another bootstrap key or attestation key")                   \
	X(VET_ATTEST_EXPIRED, "attest_expired", 0, "the attestation challenge has expired")        \
	X(VET_ATTEST_REPLAY, "attest_replay", 1, "the attestation challenge was already used")     \
	X(VET_ATTEST_OTHER_EK, "attest_other_ek", 1,                                               \
	  "the attestation comes from another TPM (EK) than the one the device registered with")   \
	X(VET_ORDER_CLOSED, "order_closed", 0, "the work order is closed or outside its window")   \
	X(VET_QUOTA, "quota_exceeded", 1, "the work order's quota is used up")

enum vet_code {
#define VET_X_ENUM(c, n, a, t) c,
	VET_TABLE(VET_X_ENUM)
#undef VET_X_ENUM
	    VET_COUNT
};

const char *vet_name(enum vet_code c);
const char *vet_text(enum vet_code c);
int vet_alerts(enum vet_code c);

enum vet_device_state {
	VET_DEV_NONE, /* serial never registered */
	VET_DEV_PROVISIONED,
	VET_DEV_ACTIVE,
	VET_DEV_SUSPENDED,
	VET_DEV_QUARANTINED,
	VET_DEV_REVOKED,
	VET_DEV_RETIRED,
};

struct vet_input {
	/* The request. */
	const char *boot_serial;   /* subject serialNumber of the bootstrap certificate */
	const char *boot_spki;     /* hex SHA-256 of the bootstrap certificate's key */
	const char *csr_spki;      /* hex SHA-256 of the CSR's key */
	const char *csr_serial;    /* subject serialNumber of the CSR, or NULL */
	const char *asked_product; /* product named by the request (label), or NULL */
	unsigned csr_key_kind_bit; /* ZTM_KK_BIT of the CSR key */
	/* The record found by the bootstrap key (have_record = 0: none). */
	int have_record;
	const char *rec_serial;
	const char *rec_product;
	int rec_test_passed;
	int rec_injected;
	int rec_fw_approved;        /* the recorded firmware hash is an approved release */
	int64_t rec_recorded_at;    /* the station's clock */
	int64_t rec_received_at;    /* the server's clock (upload) */
	int64_t station_revoked_at; /* 0 = not revoked */
	int rec_replacement;        /* the record is a replacement (docs/lifecycle.md) */
	/* The product's policy. */
	unsigned product_key_kinds; /* ZTM_KK_BIT set */
	int product_requires_fw;
	int product_allows_injected;
	int product_requires_tpm; /* key_storage = tpm (docs/attestation.md) */
	/* The TPM attestation, judged by the caller (ztm_tpm_evidence_verify and
	 * the challenge lookup): attested = 1 only when it all passed; else
	 * attest_refusal says why (VET_OK there means no evidence at all). */
	int attested;
	enum vet_code attest_refusal;
	/* What the store knows about the serial. */
	enum vet_device_state device_state;
	const char *device_spki;      /* key the serial is bound to, when registered */
	int64_t device_registered_at; /* when that key was registered */
	/* The work order of the record. */
	int order_open;       /* open and now inside its window */
	int order_quota_left; /* registrations left: > 0 to pass */
};

/* The verdict; rules are checked in a fixed order (see vet.c). A retry of an
 * already provisioned device with its own key is VET_OK: idempotency is the
 * caller's (it returns the existing certificate). VET_OK for a registered
 * serial with another key is a replacement: a replacement record for this
 * key, received after the device's current registration; the caller moves
 * the device to the new key and takes no quota. *quarantine is set when
 * the serial must be quarantined (clone). */
enum vet_code vet_decide(const struct vet_input *in, int *quarantine);
/* The vetting code of a verifier verdict (ztm/tpm.h enum ztm_tpm_verdict). */
enum vet_code vet_from_tpm(int tpm_verdict);

#endif
