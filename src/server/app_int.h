/* app_int.h - the app's shared state, seen by app.c, est.c and admin.c. */
#ifndef ZTMD_APP_INT_H
#define ZTMD_APP_INT_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "app.h"
#include "authz.h"
#include "ztm/buf.h"

struct ztm_ca;

/* The issuing CAs the app knows, by role. */
enum app_ca_id {
	APP_CA_DEVICE,
	APP_CA_STATION,
	APP_CA_OPERATOR,
	APP_CA_OCSP,
	APP_CA_CODESIGN,
	APP_CA_COUNT
};

struct ztm_ocsp_responder;

struct app_ca {
	const char *name; /* "device", ... */
	X509 *cert;       /* NULL when not configured */
	struct ztm_ca *ca;
	struct ztm_buf der;
	/* OCSP (ocsp_int.h): the delegated responder's key ([ca.*]
	 * responder_key, NULL: this CA has no OCSP), its current certificate
	 * and the CertID issuer hashes naming this CA, per hash algorithm. */
	EVP_PKEY *responder_key;
	char responder_spki[ZTM_SHA256_HEX];
	struct ztm_ocsp_responder *responder;
	int64_t responder_period; /* which half-lifetime period it was issued for */
	uint8_t id_name[2][32], id_key[2][32];
	/* CRL partitioning (docs/revocation.md): certificates per shard, 0
	 * when the CA has no crl_url (one CRL, no issuingDistributionPoint:
	 * without a CDP a certificate could not say which shard lists it). */
	int64_t crl_shard_size;
	const char *crl_url; /* points into the CA's URLs; NULL = none */
};

/* Default certificates per CRL shard: a full shard of revoked entries
 * (about 50 bytes each with a reason code, 17-octet serials) stays near
 * 800 KB, under the ~1 MB budget (THREATS.md: CRL blow-up). */
#define APP_CRL_SHARD_DEFAULT 16384

#define APP_MAX_ROUTES 64
struct ocsp_settings;
struct ocsp_cache;
struct ztm_tpm_roots;

/* The ownership-voucher signer ([voucher] in the config; transfer.c). */
struct app_voucher {
	X509 *cert;             /* NULL when not configured: transfers refuse */
	STACK_OF(X509) * chain; /* the certificates after it in the file */
	EVP_PKEY *key;
	int64_t days, max_days; /* default and longest validity */
};

/* Firmware signing ([firmware] in the config; fw_signers.c). */
#define APP_FW_KEYS 8
struct app_fw {
	char key_dir[512];    /* where new signer keys go as files, or */
	char key_token[1024]; /* the pkcs11: token they are generated in; both "" = signer
	                         creation refused */
	struct ztm_buf pass;  /* their passphrase (the online one), wiped at exit */
	/* Signer keys loaded once (decrypting a file key costs milliseconds). */
	struct {
		int64_t id;
		EVP_PKEY *key;
	} keys[APP_FW_KEYS];
	unsigned next;
};

struct ztmd_app {
	X509 *root;
	struct ztm_buf root_der;
	struct app_ca cas[APP_CA_COUNT];
	/* Pre-built bodies: base64 certs-only for /cacerts (all CAs and per label). */
	struct ztm_buf cacerts_all;
	struct ztm_buf cacerts_label[APP_CA_COUNT];
	uint64_t code_ttl;
	/* ztmd_reservation_lifetime of [server] timeout (ztmd_app_set_timeout). */
	int64_t reservation_lifetime;
	char org[65];
	char admin_cert[1024];
	struct app_voucher voucher;
	struct app_fw fw;
	/* [attestation] ek_roots: the TPM manufacturers' CAs; NULL = TPM key
	 * attestation off (docs/attestation.md). */
	struct ztm_tpm_roots *tpm_roots;
	struct ztm_store *store;        /* the worker's */
	struct ocsp_settings *ocsp_set; /* [ocsp] */
	struct ocsp_cache *ocsp;        /* the worker's, NULL in the master */
	struct ocsp_notice *notice;     /* shared by the node's workers */
	struct ztmd_route routes[APP_MAX_ROUTES];
	size_t nroutes;
	/* CRL regeneration in this worker (crl_srv.c); [crl] config. */
	struct {
		int64_t validity;  /* nextUpdate - thisUpdate, seconds */
		unsigned interval; /* seconds between checks */
		char holder[64];   /* this worker's name in the store's claims */
		struct event *timer;
	} crl;
};

const char *app_ca_name(enum app_ca_id id);
/* Which of our CAs issued this (already chain-verified) peer certificate;
 * -1 if none. */
int app_peer_ca(const struct ztmd_app *app, X509 *peer);
/* Resolves the request's peer and applies the access table; on refusal
 * replies 401/403 itself and returns -1. */
int app_authorize(struct ztmd_app *app, struct ztmd_req *r, enum ztmd_action action,
                  struct ztmd_peer *peer);
/* Lower-case hex of a certificate's serial into out[ZTM_SERIAL_HEX_MAX]. */
int app_serial_hex(X509 *x, char *out);
/* Audits a refusal, then replies with status (401 adds WWW-Authenticate,
 * 202 means "retry later" and is not an error body). */
void app_refuse(struct ztmd_req *r, struct ztmd_app *app, const char *action, int status,
                const struct ztm_error *why);
/* The same with the error body's "error" named (a vetting or lifecycle
 * code) instead of the error class. */
void app_refuse_named(struct ztmd_req *r, struct ztmd_app *app, const char *action, int status,
                      const char *name, const struct ztm_error *why);
/* Reply with a failure from the store/issuer, mapping the error code to a status. */
int app_status_for(enum ztm_err code);

/* CRLs (crl_srv.c): [crl] config; the timer of a worker; a wake-up after
 * a revocation; one build under a claim (exposed for tests and benches). */
struct event_base;
int app_crl_config(struct ztmd_app *app, struct ztm_config *cfg, struct ztm_error *err);
int app_crl_start(struct ztmd_app *app, struct event_base *base, struct ztm_error *err);
void app_crl_kick(struct ztmd_app *app);
void app_crl_stop(struct ztmd_app *app);
int app_crl_build(struct ztmd_app *app, struct ztm_store *store, enum app_ca_id id, int64_t shard,
                  int64_t number, int64_t seq, const char *holder, struct ztm_error *err);

/* Route tables of the modules. */
size_t est_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
size_t admin_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
size_t admin_prod_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* POST /api/v1/records (records.c). */
size_t records_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* Revocation operations (revoke.c) and CRLs (crl_srv.c). */
size_t revoke_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* A JSON body's "reason": an RFC 5280 name other than certificateHold;
 * absent -> def (required when def < 0). */
int revoke_field_reason(json_t *j, int def, enum ztm_reason *out, struct ztm_error *err);
size_t crl_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* GET /api/v1/device/whoami (device_api.c). */
size_t device_api_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* /api/v1/owners (owners_api.c). */
size_t owners_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* GET /api/v1/devices[/<serial>] (devices_api.c). */
size_t devices_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* POST /api/v1/devices/transfer (transfer.c), and its signer. */
size_t transfer_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
int app_voucher_load(struct app_voucher *v, struct ztm_config *cfg, struct ztm_error *err);
void app_voucher_free(struct app_voucher *v);
/* Firmware signers and releases (fw_signers.c, firmware.c). */
size_t fw_signer_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
size_t firmware_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
int app_fw_load(struct app_fw *fw, struct ztm_config *cfg, struct ztm_error *err);
void app_fw_free(struct app_fw *fw);
struct ztm_fw_release_row;
/* Signs a pending release in the caller's store transaction (a store job):
 * the active signer of its product and channel, whose certificate must
 * carry that channel's policy; approver NULL for the test channel. */
int app_fw_sign(struct ztmd_app *app, struct ztm_store *s, const struct ztm_fw_release_row *rel,
                const char *approver, struct ztm_error *err);
/* Refuses a body key not in the NULL-terminated list (admin_prod.c). */
int admin_only_fields(json_t *j, const char *const *allowed, struct ztm_error *err);
/* POST /api/v1/devices/<serial>/retire (device_admin.c). */
size_t device_admin_routes(struct ztmd_app *app, struct ztmd_route *out, size_t max);
/* Retires a device (every certificate revoked, state retired) and replies;
 * the caller has authorized the request. actor: "operator:<name>". */
/* POST /api/v1/devices/<serial>/{revoke,suspend,resume} (revoke.c). */
void revoke_device_post(struct ztmd_req *r, void *arg);
void device_retire_start(struct ztmd_req *r, struct ztmd_app *app, const char *serial,
                         const char *actor);

/* Admin API helpers shared by admin.c and admin_prod.c. Names: 1-64
 * characters of A-Z a-z 0-9 . _ - (they become certificate subjects). */
int admin_valid_name(const char *s);
/* The body as a JSON object (duplicate keys refused), or NULL with err. */
json_t *admin_read_object(struct ztmd_req *r, struct ztm_error *err);
/* A required string field that is a valid name, copied into out. */
int admin_field_name(json_t *j, const char *key, char *out, size_t outsize, struct ztm_error *err);
/* A time field: Unix seconds (integer, 0..253402300799) or an RFC 3339 UTC
 * string ("2025-01-31T00:00:00Z"); absent -> def (or required when def < 0). */
int admin_field_time(json_t *j, const char *key, int64_t def, int64_t *out, struct ztm_error *err);
/* Replies with j (taking the reference); the body is wiped after sending. */
void admin_reply_json(struct ztmd_req *r, int status, json_t *j);
/* "operator:<name>" for the audit trail. */
void admin_actor_of(const struct ztmd_peer *peer, char *out, size_t n);

#endif
