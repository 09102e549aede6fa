/* ztmdev/ztmdev.h - libztmdev, the device side of ztm (docs/device-library.md).
 *
 * A device generates its own key, self-signs a bootstrap certificate for it,
 * enrolls over EST with a CSR signed by the same key, installs the
 * operational certificate the OEM's server issues and activates it.
 *
 * Shape (STYLE.md 1, 7): one opaque context per device directory; every call
 * returns 0 or -1 and ztmdev_error() says why. The library does no
 * networking: the caller passes a transport that performs one HTTPS request.
 * It keeps no global state; the clock is the caller's too. Exactly one crypto
 * backend is compiled in (OpenSSL today), and no backend type appears here.
 */
#ifndef ZTMDEV_ZTMDEV_H
#define ZTMDEV_ZTMDEV_H

#include <stddef.h>
#include <stdint.h>

#define ZTMDEV_SERIAL_MAX  32 /* device serial: [A-Za-z0-9.-], 1..32 chars */
#define ZTMDEV_PRODUCT_MAX 31 /* product name: [A-Za-z0-9._-], 1..31 chars */
#define ZTMDEV_PASS_MIN    8  /* passphrase length when one is given */

struct ztmdev;

enum ztmdev_state {
	ZTMDEV_STATE_NONE = 0,     /* no device in the directory yet */
	ZTMDEV_STATE_MANUFACTURED, /* key + bootstrap certificate */
	ZTMDEV_STATE_PROVISIONED,  /* operational certificate installed */
	ZTMDEV_STATE_ACTIVE,       /* the server accepted the operational certificate */
};

/* Where the device key lives (docs/tpm.md). */
enum ztmdev_key_storage {
	ZTMDEV_KEY_SOFTWARE = 0, /* key.pem: PKCS#8, encrypted when a passphrase is set */
	ZTMDEV_KEY_TPM,          /* key.tpm: a TPM 2.0 key's blob, usable only in that TPM */
};

/* Which credential the transport presents as TLS client certificate. */
enum ztmdev_cred {
	ZTMDEV_CRED_BOOTSTRAP = 1, /* bootstrap.pem + the device key */
	ZTMDEV_CRED_OPERATIONAL,   /* device.pem + the device key */
};

struct ztmdev_request {
	const char *method;       /* "GET", "POST" */
	const char *path;         /* "/.well-known/est/device/simpleenroll" */
	const char *content_type; /* NULL when there is no body */
	const uint8_t *body;
	size_t body_len;
	enum ztmdev_cred cred;
};

/* Filled by the transport. body points to a library-owned buffer of
 * body_cap bytes: a longer body is a transport error, never truncated. */
struct ztmdev_response {
	int status;             /* HTTP status code */
	char content_type[128]; /* "" when absent */
	long retry_after;       /* Retry-After seconds, -1 when absent */
	uint8_t *body;
	size_t body_cap;
	size_t body_len;
};

/* One HTTPS request. Returns 0 when a response arrived (whatever its status),
 * -1 when none did, with a reason in err (NUL-terminated, errsize bytes). */
typedef int (*ztmdev_transport_fn)(void *arg, const struct ztmdev_request *req,
                                   struct ztmdev_response *resp, char *err, size_t errsize);

/* Seconds since the epoch, and a wait. NULL = time(2) and nanosleep(2). */
typedef int64_t (*ztmdev_now_fn)(void *arg);
typedef void (*ztmdev_sleep_fn)(void *arg, unsigned seconds);

struct ztmdev_status {
	enum ztmdev_state state;
	char serial[ZTMDEV_SERIAL_MAX + 1];
	char product[ZTMDEV_PRODUCT_MAX + 1];
	int key_encrypted; /* 1: key.pem is passphrase-protected PKCS#8 */
	enum ztmdev_key_storage key_storage;
	/* The current certificate: operational once provisioned, else bootstrap. */
	char subject[256];     /* RFC 2253 */
	char cert_serial[129]; /* lower-case hex */
	int64_t not_after;     /* seconds since the epoch */
	/* The owner's trust anchor installed by ztmdev_voucher_install, RFC
	 * 2253 subject; "" while the OEM holds the device. */
	char owner_subject[256];
};

/* A context for the device directory dir (created 0700 by ztmdev_init).
 * NULL only when out of memory. */
struct ztmdev *ztmdev_new(const char *dir);
/* Wipes the key and the passphrase. NULL-safe. */
void ztmdev_free(struct ztmdev *dev);
/* Why the last call failed ("" when none did). Valid until the next call. */
const char *ztmdev_error(const struct ztmdev *dev);

void ztmdev_set_transport(struct ztmdev *dev, ztmdev_transport_fn fn, void *arg);
void ztmdev_set_clock(struct ztmdev *dev, ztmdev_now_fn now, ztmdev_sleep_fn sleep_fn, void *arg);
/* The pinned trust anchors (PEM, one or more certificates): self-signed ones
 * are trusted roots, the others intermediates usable to build a chain.
 * Enrollment refuses a certificate that does not chain to one of the roots. */
int ztmdev_set_anchor(struct ztmdev *dev, const uint8_t *pem, size_t len);
/* The key passphrase (copied, wiped on free); len 0 = the key is plain. */
int ztmdev_set_passphrase(struct ztmdev *dev, const char *pass, size_t len);

/* Where ztmdev_init generates the key (default software). A TPM key is
 * generated inside the TPM the tpm2-openssl provider reaches
 * (TPM2OPENSSL_TCTI, else /dev/tpmrm0) and takes no passphrase. Set before
 * ztmdev_init; an existing device's storage comes from its state file. */
int ztmdev_set_key_storage(struct ztmdev *dev, enum ztmdev_key_storage storage);

/* Manufacturing: generates a P-256 key, writes it (encrypted PKCS#8 when a
 * passphrase is set, else plain; 0600 either way) and a self-signed
 * bootstrap certificate for serial and product; state manufactured. Refuses
 * a directory that already holds a device. */
int ztmdev_init(struct ztmdev *dev, const char *serial, const char *product);
/* Loads the device from its directory (state file, key, certificates). The
 * other calls below open the device themselves when needed. */
int ztmdev_open(struct ztmdev *dev);

/* The bootstrap certificate (DER) of the opened device: writes at most cap
 * bytes to out, the length to *len. */
int ztmdev_bootstrap_cert(struct ztmdev *dev, uint8_t *out, size_t cap, size_t *len);
/* A PKCS#10 CSR (DER) for the device key, subject CN=<product>-<serial>,
 * serialNumber=<serial>, signed by the same key. */
int ztmdev_csr(struct ztmdev *dev, uint8_t *out, size_t cap, size_t *len);

/* EST simpleenroll with the bootstrap credential; waits out 202 replies
 * (bounded); verifies the reply is a certificate for this key chaining to
 * the anchor; installs it; state provisioned. */
int ztmdev_enroll(struct ztmdev *dev);

/* TPM key attestation (docs/attestation.md). The TPM commands are the
 * host's (ztmdevtpm on ESAPI); the library carries the two messages.
 * ztmdev_tpm_challenge: POST /.well-known/est/device/tpm-challenge with the
 * bootstrap credential (a manufactured device: registration) or the
 * operational one (provisioned or active: before a re-key, whose new key
 * ztmdev_rekey_prepare made), the EK certificate (DER) and the AK's
 * TPM2B_PUBLIC;
 * the server's TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET into id/secret
 * (caps id_cap/secret_cap) and the expiry. A refusal names the server's
 * code ("ek_untrusted", ...). Returns 1 when the server answers 404: it
 * does not attest (no [attestation] ek_roots), nothing to send. */
#define ZTMDEV_TPM_EVIDENCE_MAX 4096
int ztmdev_tpm_challenge(struct ztmdev *dev, const uint8_t *ek_cert, size_t ek_len,
                         const uint8_t *ak_public, size_t ak_len, uint8_t *id, size_t id_cap,
                         size_t *id_len, uint8_t *secret, size_t secret_cap, size_t *secret_len,
                         int64_t *expires_at);
/* The ZtmTpmEvidence DER to put in the next enrollment CSR (attribute
 * id-ztm-tpmEvidence); len 0 clears it. Copied and wiped with dev. */
int ztmdev_set_tpm_evidence(struct ztmdev *dev, const uint8_t *der, size_t len);
/* GET /api/v1/device/whoami with the operational credential; a 200 makes
 * the state active. */
int ztmdev_activate(struct ztmdev *dev);
/* EST simplereenroll with the operational credential (RFC 7030 §4.2.2):
 * renews the certificate for the same key (rekey 0) or for a new key
 * (rekey 1: generated and stored like the first, in key.new.pem, and put
 * in key.pem's place only once its certificate is installed; a retry after
 * a failure reuses it). Waits out 202 replies; verifies the reply as
 * ztmdev_enroll does; installs it; the state stays as it was. */
int ztmdev_renew(struct ztmdev *dev, int rekey);
/* The new key of the next re-key, made now (or the one a failed attempt
 * left) and stored as ztmdev_renew(dev, 1) would, without asking the
 * server: a TPM key to attest first (docs/attestation.md "Re-key"). Its
 * file name (relative to the device directory: key.new.tpm or
 * key.new.pem) into name (cap bytes). */
int ztmdev_rekey_prepare(struct ztmdev *dev, char *name, size_t cap);
int ztmdev_status(struct ztmdev *dev, struct ztmdev_status *st);

/* Transfer of ownership (docs/vouchers.md): verifies an ownership voucher
 * (CMS, DER) against the pinned anchor (ztmdev_set_anchor: the signer must
 * chain to one of its roots and carry the voucher-signing EKU), checks it
 * names this device's serial and operational key and is valid at the
 * caller's clock, then installs the owner's trust anchor (owner.pem) and
 * keeps the voucher (voucher.cms), each written atomically. Needs a
 * provisioned or active device. On failure nothing is written. */
int ztmdev_voucher_install(struct ztmdev *dev, const uint8_t *der, size_t len);

/* "none", "manufactured", "provisioned", "active". */
const char *ztmdev_state_name(enum ztmdev_state s);
/* "software", "tpm". */
const char *ztmdev_key_storage_name(enum ztmdev_key_storage s);

#endif
