/* authz.h - every access decision of ztmd, in one place (DESIGN.md 4).
 *
 * A request is mapped to an action (by route), the peer to a principal (from
 * its verified TLS client certificate and the store), and the decision is a
 * pure function of the two, table-driven so it can be tested as a table. */
#ifndef ZTMD_AUTHZ_H
#define ZTMD_AUTHZ_H

#include "ztm/err.h"
#include "ztm/store.h"

#define ZTMD_ACTION_TABLE(X)                                                                       \
	X(ZTMD_ACT_HEALTH, "health")                                                               \
	X(ZTMD_ACT_METRICS, "metrics")                                                             \
	X(ZTMD_ACT_EST_CACERTS, "est.cacerts")                                                     \
	X(ZTMD_ACT_EST_CSRATTRS, "est.csrattrs")                                                   \
	X(ZTMD_ACT_EST_ENROLL_CODE, "est.enroll-with-code")                                        \
	X(ZTMD_ACT_EST_REENROLL, "est.reenroll")                                                   \
	X(ZTMD_ACT_FACTORY_WRITE, "factory.write")                                                 \
	X(ZTMD_ACT_FACTORY_READ, "factory.read")                                                   \
	X(ZTMD_ACT_STATION_WRITE, "station.write")                                                 \
	X(ZTMD_ACT_STATION_READ, "station.read")                                                   \
	X(ZTMD_ACT_STATION_REVOKE, "station.revoke")                                               \
	X(ZTMD_ACT_OPERATOR_WRITE, "operator.write")                                               \
	X(ZTMD_ACT_PRODUCT_WRITE, "product.write")                                                 \
	X(ZTMD_ACT_PRODUCT_READ, "product.read")                                                   \
	X(ZTMD_ACT_ORDER_WRITE, "order.write")                                                     \
	X(ZTMD_ACT_ORDER_READ, "order.read")                                                       \
	X(ZTMD_ACT_CERT_READ, "cert.read")                                                         \
	X(ZTMD_ACT_AUDIT_READ, "audit.read")                                                       \
	X(ZTMD_ACT_RECORD_UPLOAD, "record.upload")                                                 \
	X(ZTMD_ACT_EST_ENROLL_DEVICE, "est.enroll-device")                                         \
	X(ZTMD_ACT_DEVICE_WHOAMI, "device.whoami")                                                 \
	X(ZTMD_ACT_OWNER_WRITE, "owner.write")                                                     \
	X(ZTMD_ACT_OWNER_READ, "owner.read")                                                       \
	X(ZTMD_ACT_DEVICE_READ, "device.read")                                                     \
	X(ZTMD_ACT_DEVICE_TRANSFER, "device.transfer")                                             \
	X(ZTMD_ACT_EST_REENROLL_DEVICE, "est.reenroll-device")                                     \
	X(ZTMD_ACT_DEVICE_RETIRE, "device.retire")                                                 \
	X(ZTMD_ACT_OCSP, "ocsp")                                                                   \
	X(ZTMD_ACT_CERT_REVOKE, "cert.revoke")                                                     \
	X(ZTMD_ACT_DEVICE_REVOKE, "device.revoke")                                                 \
	X(ZTMD_ACT_DEVICE_SUSPEND, "device.suspend")                                               \
	X(ZTMD_ACT_MASS_REQUEST, "revocation.request")                                             \
	X(ZTMD_ACT_MASS_APPROVE, "revocation.approve")                                             \
	X(ZTMD_ACT_MASS_READ, "revocation.read")                                                   \
	X(ZTMD_ACT_CRL, "crl")                                                                     \
	X(ZTMD_ACT_FW_SIGNER_WRITE, "firmware.signer.write")                                       \
	X(ZTMD_ACT_FW_SIGNER_READ, "firmware.signer.read")                                         \
	X(ZTMD_ACT_FW_SUBMIT, "firmware.release.submit")                                           \
	X(ZTMD_ACT_FW_APPROVE, "firmware.release.approve")                                         \
	X(ZTMD_ACT_FW_REVOKE, "firmware.release.revoke")                                           \
	X(ZTMD_ACT_FW_READ, "firmware.release.read")                                               \
	X(ZTMD_ACT_EST_TPM_CHALLENGE, "est.tpm-challenge")

enum ztmd_action {
#define ZTMD_X_ACT(e, s) e,
	ZTMD_ACTION_TABLE(ZTMD_X_ACT)
#undef ZTMD_X_ACT
	    ZTMD_ACT_COUNT
};

const char *ztmd_action_name(enum ztmd_action a);

enum ztmd_principal_kind {
	ZTMD_PEER_ANONYMOUS, /* no client certificate */
	ZTMD_PEER_OPERATOR,  /* operator CA, known and not revoked */
	ZTMD_PEER_STATION,   /* station CA, enrolled and not revoked */
	ZTMD_PEER_REVOKED,   /* a known certificate whose owner is revoked */
	ZTMD_PEER_UNKNOWN,   /* chains to a ztm CA but is not in the store */
	ZTMD_PEER_BOOTSTRAP, /* a self-signed device bootstrap certificate */
	ZTMD_PEER_DEVICE,    /* device CA, a provisioned/active device's certificate */
	ZTMD_PEER_RETIRED,   /* device CA, a certificate of a retired device: refused forever */
};

struct ztmd_peer {
	enum ztmd_principal_kind kind;
	/* The certificate is ours and its owner known, but it is no longer the
	 * owner's current one (re-enrolled since). Only a re-enrollment retry
	 * may use it: it can fetch what it already asked for, nothing else. */
	int superseded;
	/* The certificate has expired (TLS let it through, tls.c): only an
	 * action that takes expired certificates (device re-enrollment within
	 * its product's grace period) may use it. */
	int expired;
	enum ztm_role role; /* operators and stations */
	struct ztm_principal who;
};

/* The decision: 0 = allowed; -1 with ZTM_E_AUTH (no or unknown credential:
 * HTTP 401) or ZTM_E_DENIED (known but not allowed: 403). */
int ztmd_authz_decide(enum ztmd_action action, const struct ztmd_peer *peer, struct ztm_error *err);

/* Which devices a peer that passed ztmd_authz_decide for a device action
 * (device.read, and the revoke/retire actions) may act on: an operator of
 * role owner only those its owner holds (device->owner_id equal to its
 * own), every other operator every device. 0 = in scope; -1 with
 * ZTM_E_NOTFOUND otherwise, so another owner's device looks exactly like
 * one that does not exist (HTTP 404, nothing learned). Devices, stations
 * and anonymous peers are never in scope. */
int ztmd_authz_device_scope(const struct ztmd_peer *peer, const struct ztm_device_row *device,
                            struct ztm_error *err);

/* Fills peer from the verified client certificate (NULL = anonymous): the
 * issuing CA by name ("operator", "station", "device") and the serial are looked up
 * in the store, first as an owner's current certificate, then as an issued
 * certificate of a known owner (superseded). */
struct x509_st;
int ztmd_authz_peer(struct ztm_store *store, const char *ca_name, const char *serial_hex,
                    struct ztmd_peer *peer, struct ztm_error *err);

#endif
