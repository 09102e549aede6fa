/* ceremony.h - internals of `ztm ceremony`: the offline root key ceremony.
 * Certificates are made in ceremony_cert.c only, through the issuance
 * engine's profiles and lint; the transcript in transcript.c;
 * shared file, hash and passphrase helpers in ceremony_util.c. */
#ifndef ZTM_CLI_CEREMONY_H
#define ZTM_CLI_CEREMONY_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <time.h>

#include "ztm/buf.h"
#include "ztm/err.h"

/* Set by the top CMakeLists.txt from project(ztm VERSION ...). */
#ifndef ZTM_VERSION_STRING
#error "ZTM_VERSION_STRING is not defined: build with CMake"
#endif

/* Minimum passphrase length for the root and online keys. */
#define CER_PASS_MIN 12

struct ztm_ca;

/* One certificate for the ceremony (docs/ceremony.md, "Certificate
 * contents"); everything not here comes from the profile. */
struct cer_cert_req {
	const char *profile; /* "root", "issuing-ca" or a leaf profile */
	const char *cn;
	const char *org;             /* O, written before CN; NULL or "" = none */
	struct ztm_slice spki;       /* subject public key (DER); unused for the root */
	const struct ztm_ca *issuer; /* NULL for the root */
	EVP_PKEY *root_key;          /* root only: the key that self-signs */
	unsigned eku;                /* issuing-ca only: ZTM_EKU_*, 0 = none */
	int64_t lifetime;            /* seconds */
	time_t not_before;
};

/* ceremony_cert.c: lints, then signs one certificate (the root through
 * ztm_lint_root, the others through the issuance engine). Errors name the
 * certificate and, for a lint failure, the rule. */
X509 *cer_cert_issue(const struct cer_cert_req *r, struct ztm_error *err);
/* "clientAuth,serverAuth" (codeSigning, OCSPSigning) -> ZTM_EKU_* bits;
 * -1 on an unknown or empty name. */
int cer_eku_parse(const char *s, unsigned *out);
/* Appends k's SubjectPublicKeyInfo DER to out. */
int cer_spki(EVP_PKEY *k, struct ztm_buf *out, struct ztm_error *err);

/* ceremony_util.c */
int cer_sha256_hex(const void *p, size_t n, char hex[65]);
int cer_sha256_file(const char *path, char hex[65], struct ztm_error *err);
int cer_cert_sha256(X509 *x, char hex[65], struct ztm_error *err);
/* SHA-256 of the SubjectPublicKeyInfo DER: names a key across cert and shares. */
int cer_key_id(EVP_PKEY *k, char hex[65], struct ztm_error *err);
int cer_cert_write(const char *path, X509 *x, struct ztm_error *err);
X509 *cer_cert_read(const char *path, struct ztm_error *err);
/* A passphrase from `file` (0600, first line) or, when file is NULL and
 * stdin is a terminal, typed (twice when confirm). Refuses fewer than
 * minlen characters. out is wiped by ztm_buf_free. */
int cer_pass(const char *file, const char *what, int confirm, size_t minlen, struct ztm_buf *out,
             struct ztm_error *err);
/* Detached signature (base64, one line) over data with key; the digest is
 * SHA-384 for P-384, none for Ed25519, else SHA-256. */
int cer_sign(EVP_PKEY *key, const void *data, size_t n, struct ztm_buf *b64, struct ztm_error *err);
int cer_verify(EVP_PKEY *pub, const void *data, size_t n, const char *b64, size_t b64len,
               struct ztm_error *err);
/* "2024-05-01T12:00:00Z" */
void cer_time_iso(time_t t, char out[32]);
int cer_asn1_time_iso(const ASN1_TIME *t, char out[32]);
/* Removes a directory tree this process created (temporary dirs). */
void cer_rmtree(const char *path);
/* 0 if path does not exist or is an empty directory. */
int cer_dir_empty_or_absent(const char *path, struct ztm_error *err);
/* Root key PKCS#8 DER (unencrypted, secure heap; wipe with
 * OPENSSL_secure_clear_free) and back. */
int cer_key_der(EVP_PKEY *k, uint8_t **der, size_t *len, struct ztm_error *err);
EVP_PKEY *cer_key_from_der(const uint8_t *der, size_t len, struct ztm_error *err);

/* transcript.c */
/* One certificate entry: reads cert_file (and key_file when not NULL) under
 * dir to hash them. */
json_t *cer_tx_cert(const char *dir, const char *name, const char *role, X509 *x,
                    const char *cert_file, const char *key_file, const char *key_alg,
                    const char *protection, struct ztm_error *err);
json_t *cer_tx_file(const char *dir, const char *rel, struct ztm_error *err);
/* Serialises tx, writes dir/<json_rel> and its signature dir/<sig_rel>. */
int cer_tx_write_signed(const char *dir, const char *json_rel, const char *sig_rel, json_t *tx,
                        EVP_PKEY *root_key, struct ztm_error *err);
/* Verifies the transcript chain under dir; fails naming the first mismatch. */
int cer_tx_verify(const char *dir, const char *pin_sha256, struct ztm_error *err);

/* Commands (argv starts at the command name). */
int cer_cmd_init(int argc, char **argv);
int cer_cmd_verify(int argc, char **argv);
int cer_cmd_split(int argc, char **argv);
int cer_cmd_combine(int argc, char **argv);
int cer_cmd_issue_ca(int argc, char **argv);

#endif
