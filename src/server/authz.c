/* authz.c - the access table. Rows are actions; each names the roles that
 * may perform it, and whether an anonymous peer may (public endpoints).
 * Nothing else in ztmd decides access. */
#include "authz.h"

#include <string.h>

#include "ztm/str.h"

#define ROLE(r)  (1u << (r))
#define OPS_READ (ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER) | ROLE(ZTM_ROLE_AUDITOR))

/* Not a role: a self-signed device bootstrap certificate may ask. */
#define BOOTSTRAP (1u << 31)

static const struct {
	unsigned roles; /* bit per enum ztm_role, and BOOTSTRAP */
	int anonymous;  /* no client certificate needed */
	int expired;    /* an expired device certificate may ask (the handler judges the grace) */
} access_table[ZTMD_ACT_COUNT] = {
    /* Liveness probes carry no credentials. */
    [ZTMD_ACT_HEALTH] = {0, 1, 0},
    [ZTMD_ACT_METRICS] = {OPS_READ, 0, 0},
    /* RFC 7030 §4.1.1: cacerts SHOULD be served without authentication so a
     * client can bootstrap its trust anchors; likewise csrattrs (§4.5). */
    [ZTMD_ACT_EST_CACERTS] = {0, 1, 0},
    [ZTMD_ACT_EST_CSRATTRS] = {0, 1, 0},
    /* Authenticated by the one-time code (HTTP Basic, RFC 7030 §3.2.3), not
     * by a certificate: the station has none yet. */
    [ZTMD_ACT_EST_ENROLL_CODE] = {0, 1, 0},
    [ZTMD_ACT_EST_REENROLL] = {ROLE(ZTM_ROLE_STATION) | ROLE(ZTM_ROLE_ADMIN) |
                                   ROLE(ZTM_ROLE_SECURITY_OFFICER) | ROLE(ZTM_ROLE_PLANNER) |
                                   ROLE(ZTM_ROLE_AUDITOR) | ROLE(ZTM_ROLE_FIRMWARE_SIGNER) |
                                   ROLE(ZTM_ROLE_RELEASE_APPROVER) | ROLE(ZTM_ROLE_OWNER),
                               0, 0},
    [ZTMD_ACT_FACTORY_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_FACTORY_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_STATION_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_STATION_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_STATION_REVOKE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER), 0, 0},
    /* Creating operators hands out authority: admin only. */
    [ZTMD_ACT_OPERATOR_WRITE] = {ROLE(ZTM_ROLE_ADMIN), 0, 0},
    /* The production plan: planners write it; those who check it read. */
    [ZTMD_ACT_PRODUCT_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_PRODUCT_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_ORDER_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_ORDER_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_CERT_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_AUDIT_READ] = {OPS_READ, 0, 0},
    /* Manufacturing records speak for the station that signed them: only a
     * station uploads, and only its own batches (records.c). */
    [ZTMD_ACT_RECORD_UPLOAD] = {ROLE(ZTM_ROLE_STATION), 0, 0},
    /* Device registration: the bootstrap certificate proves possession of a
     * key and nothing more; vetting (vet.c) decides everything else. */
    [ZTMD_ACT_EST_ENROLL_DEVICE] = {BOOTSTRAP, 0, 0},
    /* A device's first use of its operational certificate activates it. */
    [ZTMD_ACT_DEVICE_WHOAMI] = {ROLE(ZTM_ROLE_DEVICE), 0, 0},
    /* Customers and their trust anchors are part of the OEM's plan. */
    [ZTMD_ACT_OWNER_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    [ZTMD_ACT_OWNER_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    /* An owner's operators read devices too, but only their owner's:
     * ztmd_authz_device_scope narrows every row. */
    [ZTMD_ACT_DEVICE_READ] = {OPS_READ | ROLE(ZTM_ROLE_PLANNER) | ROLE(ZTM_ROLE_OWNER), 0, 0},
    /* Handing devices to a customer is the OEM's decision, never an
     * owner's: a voucher signed for an owner's request could move another
     * owner's device. */
    [ZTMD_ACT_DEVICE_TRANSFER] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_PLANNER), 0, 0},
    /* A device renews its own certificate with it (RFC 7030 §4.2.2); an
     * expired one too, and the product's grace period decides (renew.c). */
    [ZTMD_ACT_EST_REENROLL_DEVICE] = {ROLE(ZTM_ROLE_DEVICE), 0, 1},
    /* End of life revokes everything a device holds, forever. An owner's
     * operators may retire their own devices (the handler narrows with
     * ztmd_authz_device_scope). */
    [ZTMD_ACT_DEVICE_RETIRE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER) |
                                    ROLE(ZTM_ROLE_OWNER),
                                0, 0},
    /* Revocation status is public (RFC 6960): relying parties ask without
     * credentials, and every answer is signed. */
    [ZTMD_ACT_OCSP] = {0, 1, 0},
    /* Taking trust away (docs/revocation.md "Roles"): the security officer's
     * job; admins may too, as they may revoke stations. */
    [ZTMD_ACT_CERT_REVOKE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER), 0, 0},
    /* An owner's operators manage their own devices too (the handler
     * narrows with ztmd_authz_device_scope). */
    [ZTMD_ACT_DEVICE_REVOKE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER) |
                                    ROLE(ZTM_ROLE_OWNER),
                                0, 0},
    [ZTMD_ACT_DEVICE_SUSPEND] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER) |
                                     ROLE(ZTM_ROLE_OWNER),
                                 0, 0},
    /* Mass revocation (DESIGN 4): an admin or security officer asks (and
     * may withdraw); only a security officer other than the requester
     * approves (that second check is the store's: it needs the request). */
    [ZTMD_ACT_MASS_REQUEST] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER), 0, 0},
    [ZTMD_ACT_MASS_APPROVE] = {ROLE(ZTM_ROLE_SECURITY_OFFICER), 0, 0},
    [ZTMD_ACT_MASS_READ] = {OPS_READ, 0, 0},
    /* RFC 5280 §5: CRLs are public; relying parties fetch them anonymously. */
    [ZTMD_ACT_CRL] = {0, 1, 0},
    /* Firmware (docs/firmware.md). Signing keys are trust the OEM hands
     * out: admins and security officers create and retire them. */
    [ZTMD_ACT_FW_SIGNER_WRITE] = {ROLE(ZTM_ROLE_ADMIN) | ROLE(ZTM_ROLE_SECURITY_OFFICER), 0, 0},
    [ZTMD_ACT_FW_SIGNER_READ] = {OPS_READ | ROLE(ZTM_ROLE_FIRMWARE_SIGNER) |
                                     ROLE(ZTM_ROLE_RELEASE_APPROVER),
                                 0, 0},
    /* The two-person rule (DESIGN 4): only a firmware signer submits, only
     * a release approver approves, and the store refuses the same person
     * doing both (a person holds one role, but an approver's name is
     * checked against the submitter's all the same). */
    [ZTMD_ACT_FW_SUBMIT] = {ROLE(ZTM_ROLE_FIRMWARE_SIGNER), 0, 0},
    [ZTMD_ACT_FW_APPROVE] = {ROLE(ZTM_ROLE_RELEASE_APPROVER), 0, 0},
    /* Taking a release back is a safety act: the security officer's, and
     * the approver's who let it out. */
    [ZTMD_ACT_FW_REVOKE] = {ROLE(ZTM_ROLE_SECURITY_OFFICER) | ROLE(ZTM_ROLE_RELEASE_APPROVER), 0,
                            0},
    [ZTMD_ACT_FW_READ] = {OPS_READ | ROLE(ZTM_ROLE_FIRMWARE_SIGNER) |
                              ROLE(ZTM_ROLE_RELEASE_APPROVER),
                          0, 0},
    /* The first half of TPM key attestation (docs/attestation.md): asked
     * with the bootstrap certificate whose key is to be attested, as
     * simpleenroll, or with a device's operational certificate before a
     * re-key (simplereenroll; an expired one too, as there: the challenge
     * grants nothing, the re-enrollment judges the grace); the challenge is
     * bound to the key of the certificate that asked. */
    [ZTMD_ACT_EST_TPM_CHALLENGE] = {BOOTSTRAP | ROLE(ZTM_ROLE_DEVICE), 0, 1},
};

static const char *const action_names[] = {
#define ZTMD_X_ACT(e, s) s,
    ZTMD_ACTION_TABLE(ZTMD_X_ACT)
#undef ZTMD_X_ACT
};

const char *ztmd_action_name(enum ztmd_action a)
{
	return (unsigned)a < ZTMD_ACT_COUNT ? action_names[a] : "unknown";
}

int ztmd_authz_decide(enum ztmd_action action, const struct ztmd_peer *peer, struct ztm_error *err)
{
	/* Default-fail: every path below that does not return 0 refuses. */
	if ((unsigned)action >= ZTMD_ACT_COUNT)
		return ztm_error_set(err, ZTM_E_DENIED, "unknown action");
	if (access_table[action].anonymous)
		return 0;
	/* An expired certificate authenticates nothing, except a device asking
	 * to renew it. */
	if (peer->expired && (peer->kind != ZTMD_PEER_DEVICE || !access_table[action].expired))
		return ztm_error_set(err, ZTM_E_AUTH, "client certificate has expired");
	switch (peer->kind) {
	case ZTMD_PEER_ANONYMOUS:
		return ztm_error_set(err, ZTM_E_AUTH, "%s needs a client certificate",
		                     ztmd_action_name(action));
	case ZTMD_PEER_UNKNOWN:
		return ztm_error_set(err, ZTM_E_AUTH, "client certificate is not registered");
	case ZTMD_PEER_REVOKED:
		return ztm_error_set(err, ZTM_E_AUTH, "client certificate or its owner is revoked");
	case ZTMD_PEER_RETIRED:
		return ztm_error_set(err, ZTM_E_DENIED, "device %s is retired: refused forever",
		                     peer->who.name);
	case ZTMD_PEER_BOOTSTRAP:
		/* Unverified by construction: vetted only by device enrollment. */
		if (access_table[action].roles & BOOTSTRAP)
			return 0;
		return ztm_error_set(
		    err, ZTM_E_AUTH,
		    "a self-signed bootstrap certificate authenticates nothing here");
	case ZTMD_PEER_OPERATOR:
	case ZTMD_PEER_STATION:
	case ZTMD_PEER_DEVICE:
		if (peer->superseded && action != ZTMD_ACT_EST_REENROLL &&
		    action != ZTMD_ACT_EST_REENROLL_DEVICE)
			return ztm_error_set(
			    err, ZTM_E_AUTH,
			    "client certificate has been superseded by a newer one");
		if ((unsigned)peer->role < ZTM_ROLE_COUNT &&
		    (access_table[action].roles & ROLE(peer->role)) != 0)
			return 0;
		return ztm_error_set(err, ZTM_E_DENIED, "role %s may not %s",
		                     ztm_role_name(peer->role), ztmd_action_name(action));
	}
	return ztm_error_set(err, ZTM_E_DENIED, "not allowed");
}

int ztmd_authz_device_scope(const struct ztmd_peer *peer, const struct ztm_device_row *device,
                            struct ztm_error *err)
{
	/* Default-fail: only the two cases below admit. */
	if (peer->kind != ZTMD_PEER_OPERATOR || peer->superseded ||
	    (unsigned)peer->role >= ZTM_ROLE_COUNT)
		return ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", device->serial);
	if (peer->role != ZTM_ROLE_OWNER)
		return 0;
	if (peer->who.owner_id > 0 && device->owner_id == peer->who.owner_id)
		return 0;
	return ztm_error_set(err, ZTM_E_NOTFOUND, "device %s not found", device->serial);
}

/* An issued certificate of ours whose owner has a newer one. */
static int superseded_owner(struct ztm_store *store, const char *ca_name, const char *serial_hex,
                            struct ztm_principal *who, struct ztm_error *err)
{
	struct ztm_cert_row row;
	int rc = -1;

	ztm_cert_row_init(&row);
	if (ztm_store_cert_get(store, serial_hex, &row, err) != 0)
		goto out;
	if (row.state != ZTM_CERT_ISSUED || strcmp(row.ca, ca_name) != 0) {
		ztm_error_set(err, ZTM_E_NOTFOUND, "not an issued certificate of this CA");
		goto out;
	}
	memset(who, 0, sizeof(*who));
	ztm_strlcpy(who->kind, row.owner_kind, sizeof(who->kind));
	who->id = row.owner_id;
	if (strcmp(row.owner_kind, "station") == 0) {
		struct ztm_station_row st;
		if (ztm_store_station_get(store, row.owner_id, &st, err) != 0)
			goto out;
		ztm_strlcpy(who->name, st.name, sizeof(who->name));
		who->role = ZTM_ROLE_STATION;
		who->revoked = st.state == ZTM_STATION_REVOKED;
		who->factory_id = st.factory_id;
	} else if (strcmp(row.owner_kind, "operator") == 0) {
		struct ztm_operator_row op;
		if (ztm_store_operator_get(store, row.owner_id, &op, err) != 0)
			goto out;
		ztm_strlcpy(who->name, op.name, sizeof(who->name));
		who->role = op.role;
		who->revoked = op.revoked;
		who->owner_id = op.owner_id;
	} else {
		ztm_error_set(err, ZTM_E_NOTFOUND, "certificate has no station or operator owner");
		goto out;
	}
	rc = 0;
out:
	ztm_cert_row_free(&row);
	return rc;
}

/* *yes = 1 when the device certificate serial_hex is revoked with reason
 * superseded (a re-key or a replacement), nothing else. */
static int revoked_superseded(struct ztm_store *store, const char *serial_hex, int *yes,
                              struct ztm_error *err)
{
	struct ztm_cert_status_row st;
	struct ztm_error lookup;

	*yes = 0;
	if (ztm_store_cert_status(store, "device", serial_hex, &st, &lookup) != 0) {
		if (err != NULL)
			*err = lookup;
		return -1;
	}
	*yes = st.status == ZTM_STATUS_REVOKED && st.rev.reason == ZTM_REASON_SUPERSEDED;
	return 0;
}

/* A device-CA certificate: its device, which must be provisioned or
 * active and hold it as its current certificate. */
static int device_peer(struct ztm_store *store, const char *serial_hex, struct ztmd_peer *peer,
                       struct ztm_error *err)
{
	struct ztm_device_row d;
	struct ztm_error lookup;
	int cert_revoked = 0, superseded_only = 0;

	if (ztm_store_device_by_cert(store, serial_hex, &d, &cert_revoked, &lookup) != 0) {
		if (lookup.code != ZTM_E_NOTFOUND) {
			if (err != NULL)
				*err = lookup;
			return -1;
		}
		peer->kind = ZTMD_PEER_UNKNOWN;
		return 0;
	}
	ztm_strlcpy(peer->who.kind, "device", sizeof(peer->who.kind));
	peer->who.id = d.id;
	ztm_strlcpy(peer->who.name, d.serial, sizeof(peer->who.name));
	peer->who.role = ZTM_ROLE_DEVICE;
	peer->role = ZTM_ROLE_DEVICE;
	peer->superseded = strcmp(d.cert_serial, serial_hex) != 0;
	/* End of life first: every certificate of a retired device is revoked
	 * too, but it is told why, with its own code. */
	if (d.state == ZTM_DEVICE_RETIRED) {
		peer->who.revoked = 1;
		peer->kind = ZTMD_PEER_RETIRED;
		return 0;
	}
	/* A re-key revokes the old certificate as superseded; the retry of
	 * that re-enrollment after a lost response still presents it. It may
	 * fetch what it asked for and nothing else (superseded: re-enrollment
	 * only, and est_device_renew.c answers only the retry). */
	if (cert_revoked && peer->superseded &&
	    revoked_superseded(store, serial_hex, &superseded_only, err) != 0)
		return -1;
	peer->who.revoked = (cert_revoked && !superseded_only) ||
	                    (d.state != ZTM_DEVICE_PROVISIONED && d.state != ZTM_DEVICE_ACTIVE);
	peer->kind = peer->who.revoked ? ZTMD_PEER_REVOKED : ZTMD_PEER_DEVICE;
	return 0;
}

int ztmd_authz_peer(struct ztm_store *store, const char *ca_name, const char *serial_hex,
                    struct ztmd_peer *peer, struct ztm_error *err)
{
	struct ztm_error lookup;

	memset(peer, 0, sizeof(*peer));
	if (ca_name == NULL || serial_hex == NULL) {
		peer->kind = ZTMD_PEER_ANONYMOUS;
		return 0;
	}
	if (strcmp(ca_name, "device") == 0)
		return device_peer(store, serial_hex, peer, err);
	if (ztm_store_principal_by_cert(store, ca_name, serial_hex, &peer->who, &lookup) != 0) {
		if (lookup.code != ZTM_E_NOTFOUND) {
			if (err != NULL)
				*err = lookup;
			return -1;
		}
		if (superseded_owner(store, ca_name, serial_hex, &peer->who, &lookup) != 0) {
			if (lookup.code != ZTM_E_NOTFOUND) {
				if (err != NULL)
					*err = lookup;
				return -1;
			}
			peer->kind = ZTMD_PEER_UNKNOWN;
			return 0;
		}
		peer->superseded = 1;
	}
	if (peer->who.revoked) {
		peer->kind = ZTMD_PEER_REVOKED;
		return 0;
	}
	if (strcmp(peer->who.kind, "station") == 0 && strcmp(ca_name, "station") == 0) {
		peer->kind = ZTMD_PEER_STATION;
		peer->role = ZTM_ROLE_STATION;
	} else if (strcmp(peer->who.kind, "operator") == 0 && strcmp(ca_name, "operator") == 0) {
		peer->kind = ZTMD_PEER_OPERATOR;
		peer->role = peer->who.role;
	} else {
		/* A certificate whose owner kind does not match its CA is never trusted. */
		peer->kind = ZTMD_PEER_UNKNOWN;
	}
	return 0;
}
