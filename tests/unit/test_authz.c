/* test_authz.c - the whole access matrix, written out independently of
 * authz.c's table: every role (and anonymous, unknown, revoked) x every
 * action -> allowed, 401 or 403. Adding an action without a row here fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authz.h"

/* Columns: admin, security-officer, planner, station, firmware-signer,
 * release-approver, auditor, device, owner, anonymous, unknown, revoked, bootstrap
 * (a self-signed device certificate let through the handshake), retired (a
 * certificate of a retired device).
 * 'Y' allowed, 'D' 403 denied, 'A' 401 unauthenticated. */
static const struct {
	enum ztmd_action action;
	const char *expect;
} matrix[] = {
    {ZTMD_ACT_HEALTH, "YYYYYYYYYYYYYY"},
    {ZTMD_ACT_METRICS, "YYDDDDYDDAAAAD"},
    {ZTMD_ACT_EST_CACERTS, "YYYYYYYYYYYYYY"},
    {ZTMD_ACT_EST_CSRATTRS, "YYYYYYYYYYYYYY"},
    {ZTMD_ACT_EST_ENROLL_CODE, "YYYYYYYYYYYYYY"},
    {ZTMD_ACT_EST_REENROLL, "YYYYYYYDYAAAAD"},
    {ZTMD_ACT_FACTORY_WRITE, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_FACTORY_READ, "YYYDDDYDDAAAAD"},
    {ZTMD_ACT_STATION_WRITE, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_STATION_READ, "YYYDDDYDDAAAAD"},
    {ZTMD_ACT_STATION_REVOKE, "YYDDDDDDDAAAAD"},
    {ZTMD_ACT_OPERATOR_WRITE, "YDDDDDDDDAAAAD"},
    {ZTMD_ACT_PRODUCT_WRITE, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_PRODUCT_READ, "YYYDDDYDDAAAAD"},
    {ZTMD_ACT_ORDER_WRITE, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_ORDER_READ, "YYYDDDYDDAAAAD"},
    {ZTMD_ACT_CERT_READ, "YYYDDDYDDAAAAD"},
    {ZTMD_ACT_AUDIT_READ, "YYDDDDYDDAAAAD"},
    {ZTMD_ACT_RECORD_UPLOAD, "DDDYDDDDDAAAAD"},
    {ZTMD_ACT_EST_ENROLL_DEVICE, "DDDDDDDDDAAAYD"},
    {ZTMD_ACT_DEVICE_WHOAMI, "DDDDDDDYDAAAAD"},
    {ZTMD_ACT_OWNER_WRITE, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_OWNER_READ, "YYYDDDYDDAAAAD"},
    /* owner: allowed, then narrowed to its own devices (test_device_scope) */
    {ZTMD_ACT_DEVICE_READ, "YYYDDDYDYAAAAD"},
    {ZTMD_ACT_DEVICE_TRANSFER, "YDYDDDDDDAAAAD"},
    {ZTMD_ACT_EST_REENROLL_DEVICE, "DDDDDDDYDAAAAD"},
    {ZTMD_ACT_DEVICE_RETIRE, "YYDDDDDDYAAAAD"},
    {ZTMD_ACT_OCSP, "YYYYYYYYYYYYYY"},
    /* Revocation: security officers and admins (owners: their own devices,
     * narrowed by the handler); approval of a mass revocation only by a
     * security officer; CRLs are public. */
    {ZTMD_ACT_CERT_REVOKE, "YYDDDDDDDAAAAD"},
    {ZTMD_ACT_DEVICE_REVOKE, "YYDDDDDDYAAAAD"},
    {ZTMD_ACT_DEVICE_SUSPEND, "YYDDDDDDYAAAAD"},
    {ZTMD_ACT_MASS_REQUEST, "YYDDDDDDDAAAAD"},
    {ZTMD_ACT_MASS_APPROVE, "DYDDDDDDDAAAAD"},
    {ZTMD_ACT_MASS_READ, "YYDDDDYDDAAAAD"},
    {ZTMD_ACT_CRL, "YYYYYYYYYYYYYY"},
    {ZTMD_ACT_FW_SIGNER_WRITE, "YYDDDDDDDAAAAD"},
    {ZTMD_ACT_FW_SIGNER_READ, "YYDDYYYDDAAAAD"},
    {ZTMD_ACT_FW_SUBMIT, "DDDDYDDDDAAAAD"},
    {ZTMD_ACT_FW_APPROVE, "DDDDDYDDDAAAAD"},
    {ZTMD_ACT_FW_REVOKE, "DYDDDYDDDAAAAD"},
    {ZTMD_ACT_FW_READ, "YYDDYYYDDAAAAD"},
    /* TPM attestation's challenge: the bootstrap certificate, as device
     * registration, and a device's own certificate, as re-enrollment. */
    {ZTMD_ACT_EST_TPM_CHALLENGE, "DDDDDDDYDAAAYD"},
};

static void peer_for_column(int col, struct ztmd_peer *p)
{
	memset(p, 0, sizeof(*p));
	if (col < (int)ZTM_ROLE_COUNT) {
		p->kind = col == ZTM_ROLE_STATION  ? ZTMD_PEER_STATION
		          : col == ZTM_ROLE_DEVICE ? ZTMD_PEER_DEVICE
		                                   : ZTMD_PEER_OPERATOR;
		p->role = (enum ztm_role)col;
		return;
	}
	p->kind = col == 9    ? ZTMD_PEER_ANONYMOUS
	          : col == 10 ? ZTMD_PEER_UNKNOWN
	          : col == 11 ? ZTMD_PEER_REVOKED
	          : col == 12 ? ZTMD_PEER_BOOTSTRAP
	                      : ZTMD_PEER_RETIRED;
}

static void test_matrix_covers_every_action(void **state)
{
	assert_int_equal(sizeof(matrix) / sizeof(matrix[0]), ZTMD_ACT_COUNT);
}

static void test_matrix(void **state)
{
	size_t i;
	int col;

	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		assert_int_equal(strlen(matrix[i].expect), 14);
		for (col = 0; col < 14; col++) {
			struct ztmd_peer p;
			struct ztm_error e;
			int rc;
			char want = matrix[i].expect[col];

			peer_for_column(col, &p);
			ztm_error_clear(&e);
			rc = ztmd_authz_decide(matrix[i].action, &p, &e);
			if (want == 'Y') {
				if (rc != 0)
					fail_msg("%s col %d: expected allowed, got %s",
					         ztmd_action_name(matrix[i].action), col,
					         ztm_error_msg(&e));
			} else {
				if (rc == 0)
					fail_msg("%s col %d: expected refusal",
					         ztmd_action_name(matrix[i].action), col);
				assert_int_equal(e.code, want == 'A' ? ZTM_E_AUTH : ZTM_E_DENIED);
			}
		}
	}
}

static void test_unknown_action_denied(void **state)
{
	struct ztmd_peer p;
	struct ztm_error e;

	peer_for_column(ZTM_ROLE_ADMIN, &p);
	assert_int_equal(ztmd_authz_decide(ZTMD_ACT_COUNT, &p, &e), -1);
	assert_int_equal(e.code, ZTM_E_DENIED);
}

/* A superseded certificate may only retry a re-enrollment. */
static void test_superseded_only_reenroll(void **state)
{
	struct ztmd_peer p;
	struct ztm_error e;
	int a;

	peer_for_column(ZTM_ROLE_ADMIN, &p);
	p.superseded = 1;
	for (a = 0; a < ZTMD_ACT_COUNT; a++) {
		int rc = ztmd_authz_decide((enum ztmd_action)a, &p, &e);
		if (a == ZTMD_ACT_EST_REENROLL || a == ZTMD_ACT_HEALTH ||
		    a == ZTMD_ACT_EST_CACERTS || a == ZTMD_ACT_EST_CSRATTRS ||
		    a == ZTMD_ACT_EST_ENROLL_CODE || a == ZTMD_ACT_OCSP || a == ZTMD_ACT_CRL) {
			assert_int_equal(rc, 0);
		} else if (a == ZTMD_ACT_EST_REENROLL_DEVICE) {
			assert_int_equal(rc, -1); /* a device's action, not an admin's */
			assert_int_equal(e.code, ZTM_E_DENIED);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(e.code, ZTM_E_AUTH);
		}
	}
}

/* Which devices an operator may act on: a table of peer x device owner. */
static void test_device_scope(void **state)
{
	static const struct {
		const char *what;
		enum ztmd_principal_kind kind;
		enum ztm_role role;
		int64_t peer_owner, device_owner;
		int superseded, allowed;
	} rows[] = {
	    {"admin, unowned device", ZTMD_PEER_OPERATOR, ZTM_ROLE_ADMIN, 0, 0, 0, 1},
	    {"admin, owned device", ZTMD_PEER_OPERATOR, ZTM_ROLE_ADMIN, 0, 7, 0, 1},
	    {"auditor, owned device", ZTMD_PEER_OPERATOR, ZTM_ROLE_AUDITOR, 0, 7, 0, 1},
	    {"owner, its own device", ZTMD_PEER_OPERATOR, ZTM_ROLE_OWNER, 7, 7, 0, 1},
	    {"owner, another owner's device", ZTMD_PEER_OPERATOR, ZTM_ROLE_OWNER, 7, 8, 0, 0},
	    {"owner, unowned device", ZTMD_PEER_OPERATOR, ZTM_ROLE_OWNER, 7, 0, 0, 0},
	    {"owner without owner id", ZTMD_PEER_OPERATOR, ZTM_ROLE_OWNER, 0, 0, 0, 0},
	    {"owner, superseded certificate", ZTMD_PEER_OPERATOR, ZTM_ROLE_OWNER, 7, 7, 1, 0},
	    {"station", ZTMD_PEER_STATION, ZTM_ROLE_STATION, 0, 0, 0, 0},
	    {"the device itself", ZTMD_PEER_DEVICE, ZTM_ROLE_DEVICE, 0, 0, 0, 0},
	    {"anonymous", ZTMD_PEER_ANONYMOUS, ZTM_ROLE_ADMIN, 0, 0, 0, 0},
	    {"revoked admin", ZTMD_PEER_REVOKED, ZTM_ROLE_ADMIN, 0, 0, 0, 0},
	    {"unknown role", ZTMD_PEER_OPERATOR, (enum ztm_role)99, 0, 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztmd_peer p;
		struct ztm_device_row d;
		struct ztm_error e;
		int rc;

		memset(&p, 0, sizeof(p));
		memset(&d, 0, sizeof(d));
		p.kind = rows[i].kind;
		p.role = rows[i].role;
		p.who.role = rows[i].role;
		p.who.owner_id = rows[i].peer_owner;
		p.superseded = rows[i].superseded;
		snprintf(d.serial, sizeof(d.serial), "SN-1");
		d.owner_id = rows[i].device_owner;
		ztm_error_clear(&e);
		rc = ztmd_authz_device_scope(&p, &d, &e);
		if (rows[i].allowed && rc != 0)
			fail_msg("%s: refused: %s", rows[i].what, ztm_error_msg(&e));
		if (!rows[i].allowed) {
			if (rc == 0)
				fail_msg("%s: allowed", rows[i].what);
			/* indistinguishable from a device that does not exist */
			assert_int_equal(e.code, ZTM_E_NOTFOUND);
		}
	}
}

/* A device's superseded certificate: its re-enrollment retry only. */
static void test_superseded_device(void **state)
{
	struct ztmd_peer p;
	struct ztm_error e;
	int a;

	peer_for_column(ZTM_ROLE_DEVICE, &p);
	p.superseded = 1;
	for (a = 0; a < ZTMD_ACT_COUNT; a++) {
		int rc = ztmd_authz_decide((enum ztmd_action)a, &p, &e);
		if (a == ZTMD_ACT_EST_REENROLL_DEVICE || a == ZTMD_ACT_HEALTH ||
		    a == ZTMD_ACT_EST_CACERTS || a == ZTMD_ACT_EST_CSRATTRS ||
		    a == ZTMD_ACT_EST_ENROLL_CODE || a == ZTMD_ACT_OCSP || a == ZTMD_ACT_CRL)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -1);
	}
}

/* An expired certificate: a device renewing it (or asking a TPM challenge
 * before a re-key), and the public endpoints; every other action and every
 * other kind of peer is 401. */
static void test_expired_only_device_reenroll(void **state)
{
	int a, col;

	for (col = 0; col < 14; col++) {
		for (a = 0; a < ZTMD_ACT_COUNT; a++) {
			struct ztmd_peer p;
			struct ztm_error e;
			int rc, anonymous_ok = a == ZTMD_ACT_HEALTH || a == ZTMD_ACT_EST_CACERTS ||
			                       a == ZTMD_ACT_EST_CSRATTRS ||
			                       a == ZTMD_ACT_EST_ENROLL_CODE ||
			                       a == ZTMD_ACT_OCSP || a == ZTMD_ACT_CRL;

			peer_for_column(col, &p);
			p.expired = 1;
			ztm_error_clear(&e);
			rc = ztmd_authz_decide((enum ztmd_action)a, &p, &e);
			if (anonymous_ok ||
			    (col == ZTM_ROLE_DEVICE && (a == ZTMD_ACT_EST_REENROLL_DEVICE ||
			                                a == ZTMD_ACT_EST_TPM_CHALLENGE))) {
				if (rc != 0)
					fail_msg("%s col %d expired: refused: %s",
					         ztmd_action_name((enum ztmd_action)a), col, e.msg);
			} else if (rc == 0) {
				fail_msg("%s col %d expired: allowed",
				         ztmd_action_name((enum ztmd_action)a), col);
			} else if (col < 9) {
				assert_int_equal(e.code, ZTM_E_AUTH);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix_covers_every_action),
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_unknown_action_denied),
	    cmocka_unit_test(test_superseded_only_reenroll),
	    cmocka_unit_test(test_device_scope),
	    cmocka_unit_test(test_superseded_device),
	    cmocka_unit_test(test_expired_only_device_reenroll),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
