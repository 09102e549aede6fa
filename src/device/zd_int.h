/* zd_int.h - libztmdev internals shared by its modules: the context, capped
 * byte buffers, base64 and PEM, atomic files and the state file. Plain C and
 * libc only; the crypto backend sits behind zd_crypto.h. */
#ifndef ZTMDEV_ZD_INT_H
#define ZTMDEV_ZD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ztmdev/ztmdev.h"

/* Owned bytes with a cap (STYLE.md 3); freed with the bytes wiped. */
struct zd_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
};

void zd_buf_init(struct zd_buf *b, size_t max);
int zd_buf_append(struct zd_buf *b, const void *p, size_t n);
/* Capacity for n bytes in total (len unchanged). */
int zd_buf_reserve(struct zd_buf *b, size_t n);
void zd_buf_free(struct zd_buf *b);

#define ZD_CERTS_MAX 8 /* certificates in one reply or anchor file */
#define ZD_CERT_MAX  ((size_t)16 * 1024)

/* A list of certificates, DER. */
struct zd_certs {
	struct zd_buf der[ZD_CERTS_MAX];
	size_t n;
};

void zd_certs_init(struct zd_certs *c);
int zd_certs_add(struct zd_certs *c, const uint8_t *der, size_t len);
void zd_certs_free(struct zd_certs *c);

struct zd_key; /* the backend's key (zd_crypto.h) */
struct zd_tpm; /* the backend's TPM session (zd_crypto.h) */

struct ztmdev {
	char dir[512];
	char err[512];
	ztmdev_transport_fn transport;
	void *transport_arg;
	ztmdev_now_fn now;
	ztmdev_sleep_fn sleep;
	void *clock_arg;
	struct zd_buf pass; /* the key passphrase; wiped */
	struct zd_certs anchors;
	/* Loaded by zd_open (device.c). */
	int opened;
	enum ztmdev_state state;
	char serial[ZTMDEV_SERIAL_MAX + 1];
	char product[ZTMDEV_PRODUCT_MAX + 1];
	int key_encrypted;
	enum ztmdev_key_storage key_storage; /* set before init, else from the state file */
	struct zd_key *key;
	struct zd_tpm *tpm;      /* opened on the first TPM key operation */
	struct zd_buf bootstrap; /* DER */
	struct zd_certs oper;    /* operational certificate + its chain, DER */
	/* The TPM evidence for the next enrollment CSR (attest.c), or empty;
	 * it holds an activated credential: wiped. */
	struct zd_buf tpm_evidence;
};

/* The CSR attribute of TPM key attestation (docs/attestation.md). */
#define ZD_OID_TPM_EVIDENCE "1.3.6.1.4.1.99999.2.1"

/* One request over the caller's transport (enroll.c); body receives the
 * reply (its cap must allow 96 KiB). */
int zd_call(struct ztmdev *dev, const struct ztmdev_request *req, struct ztmdev_response *resp,
            struct zd_buf *body);

/* Sets dev->err; returns -1 so callers can `return zd_err(...)`. */
int zd_err(struct ztmdev *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t zd_now(struct ztmdev *dev);

/* RFC 4648 base64. Decoding skips space, tab, CR and LF and refuses any
 * other byte outside the alphabet, bad padding or non-zero pad bits. */
int zd_b64_encode(const uint8_t *p, size_t n, struct zd_buf *out);
int zd_b64_decode(const uint8_t *p, size_t n, struct zd_buf *out);

/* Every "CERTIFICATE" PEM block of text into out (at least one, else -1);
 * text outside the blocks is ignored, as openssl does. */
int zd_pem_certs(const uint8_t *text, size_t n, struct zd_certs *out);
int zd_pem_cert_write(const uint8_t *der, size_t len, struct zd_buf *out);

/* Files of the device directory (dir/name). */
int zd_path(struct ztmdev *dev, const char *name, char *out, size_t outsize);
/* Reads dir/name (at most max bytes); errno ENOENT is reported as such. */
int zd_file_read(struct ztmdev *dev, const char *name, size_t max, struct zd_buf *out);
/* Writes dir/name atomically with mode: a temporary file, fsync, rename,
 * fsync of the directory. */
int zd_file_write(struct ztmdev *dev, const char *name, const uint8_t *p, size_t n, int mode);
int zd_file_exists(struct ztmdev *dev, const char *name);
/* Best effort: used only to undo a failed init. */
void zd_file_remove(struct ztmdev *dev, const char *name);

/* device.c: loads the directory unless already loaded; a CSR. */
int zd_ensure_open(struct ztmdev *dev);
int zd_make_csr(struct ztmdev *dev, struct zd_buf *der);

/* The state file (docs/device-library.md). */
int zd_state_read(struct ztmdev *dev);
int zd_state_write(struct ztmdev *dev, enum ztmdev_state state);
int zd_check_name(const char *s, size_t max, const char *extra);

/* Enrollment reply (enroll.c): a 200 certs-only PKCS#7 in base64 into
 * certs; anything else is an error naming the reason. Exposed for the
 * fuzzer and the tests. */
int zd_reply_certs(struct ztmdev *dev, const struct ztmdev_response *resp, struct zd_certs *certs);
/* A refusal's JSON {"error": ..., "message": ...} as "error: message". */
void zd_reply_reason(const struct ztmdev_response *resp, char *out, size_t outsize);
/* The tpm-challenge reply (attest.c, docs/attestation.md): credential_blob
 * and encrypted_secret (base64, decoded within id_cap / secret_cap, never
 * empty) and expires_at (digits). 0, or -1 with the device's error. Exposed
 * for the fuzzer. */
int zd_challenge_reply(struct ztmdev *dev, const uint8_t *p, size_t n, uint8_t *id, size_t id_cap,
                       size_t *id_len, uint8_t *secret, size_t secret_cap, size_t *secret_len,
                       int64_t *expires_at);

/* An ownership voucher's fields (docs/vouchers.md), as the strict reader
 * (voucher.c) found them; the caller checks them against the device. */
#define ZD_VOUCHER_JSON_MAX ((size_t)32 * 1024)
struct zd_voucher {
	int64_t created_on, expires_on;
	char assertion[16];
	char serial[65];
	struct zd_buf pinned; /* pinned-domain-cert, DER */
	uint8_t spki_sha256[32];
	int revocation_checks; /* domain-cert-revocation-checks; 0 when absent */
};

void zd_voucher_init(struct zd_voucher *v);
void zd_voucher_free(struct zd_voucher *v);
/* The JSON of a voucher: one object, {"ietf-voucher:voucher": {...}}, every
 * member known, none twice, strings without escapes, times
 * "YYYY-MM-DDTHH:MM:SSZ". Sets dev->err naming the member on failure.
 * Exposed for the fuzzer and the tests. */
int zd_voucher_parse(struct ztmdev *dev, const uint8_t *json, size_t len, struct zd_voucher *v);
/* EST over the transport (enroll.c): POSTs the CSR (DER) to path with
 * credential cred, waits out 202 (bounded), parses a 200 into certs. */
int zd_est_request(struct ztmdev *dev, const char *path, enum ztmdev_cred cred,
                   const struct zd_buf *csr, struct zd_certs *certs);
/* The reply's certificate for key, its chain verified to the anchor. */
int zd_pick_leaf(struct ztmdev *dev, const struct zd_key *key, struct zd_certs *certs,
                 size_t *leaf);
/* device.pem := certs (leaf first), then the state file := state. */
int zd_install(struct ztmdev *dev, const struct zd_certs *certs, size_t leaf,
               enum ztmdev_state state);
/* The key origin (keyfile.c): the key file's name for dev->key_storage
 * (key.pem or key.tpm; next: key.new.pem or key.new.tpm, a re-key's);
 * a new key and its file's bytes; the key of a file (decrypted, or loaded
 * into the TPM). */
const char *zd_key_file(const struct ztmdev *dev, int next);
int zd_key_create(struct ztmdev *dev, struct zd_key **out, struct zd_buf *file);
int zd_key_load_file(struct ztmdev *dev, const char *name, struct zd_key **out);
/* rename(dir/from, dir/to) and fsync of the directory. */
int zd_file_rename(struct ztmdev *dev, const char *from, const char *to);

#define ZD_FILE_STATE       "state"
#define ZD_FILE_KEY         "key.pem"
#define ZD_FILE_BOOTSTRAP   "bootstrap.pem"
#define ZD_FILE_DEVICE      "device.pem"
#define ZD_FILE_VOUCHER     "voucher.cms"
#define ZD_FILE_VOUCHER_ON  "voucher.created" /* the installed voucher's created-on, decimal */
#define ZD_FILE_OWNER       "owner.pem"
#define ZD_FILE_KEY_NEW     "key.new.pem" /* a re-key's key until its certificate is installed */
#define ZD_FILE_KEY_TPM     "key.tpm"     /* a TPM key's blob (TSS2 PRIVATE KEY PEM) */
#define ZD_FILE_KEY_TPM_NEW "key.new.tpm"

#endif
