/* test_authz.c - the whole access matrix, written out independently of
 * authz.c's table: every role (and anonymous, unknown, revoked) x every
 * action -> allowed, 401 or 403. Adding an action without a row here fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "authz.h"

/* Columns: admin, security-officer, planner, station, firmware-signer,
 * release-approver, auditor, device, anonymous, unknown, revoked, bootstrap
 * (a self-signed device certificate let through the handshake).
 * 'Y' allowed, 'D' 403 denied, 'A' 401 unauthenticated. */
static const struct {
	enum ztmd_action action;
	const char *expect;
} matrix[] = {
    {ZTMD_ACT_HEALTH, "YYYYYYYYYYYY"},
    {ZTMD_ACT_METRICS, "YYDDDDYDAAAA"},
    {ZTMD_ACT_EST_CACERTS, "YYYYYYYYYYYY"},
    {ZTMD_ACT_EST_CSRATTRS, "YYYYYYYYYYYY"},
    {ZTMD_ACT_EST_ENROLL_CODE, "YYYYYYYYYYYY"},
    {ZTMD_ACT_EST_REENROLL, "YYYYYYYDAAAA"},
    {ZTMD_ACT_FACTORY_WRITE, "YDYDDDDDAAAA"},
    {ZTMD_ACT_FACTORY_READ, "YYYDDDYDAAAA"},
    {ZTMD_ACT_STATION_WRITE, "YDYDDDDDAAAA"},
    {ZTMD_ACT_STATION_READ, "YYYDDDYDAAAA"},
    {ZTMD_ACT_STATION_REVOKE, "YYDDDDDDAAAA"},
    {ZTMD_ACT_OPERATOR_WRITE, "YDDDDDDDAAAA"},
    {ZTMD_ACT_PRODUCT_WRITE, "YDYDDDDDAAAA"},
    {ZTMD_ACT_PRODUCT_READ, "YYYDDDYDAAAA"},
    {ZTMD_ACT_ORDER_WRITE, "YDYDDDDDAAAA"},
    {ZTMD_ACT_ORDER_READ, "YYYDDDYDAAAA"},
    {ZTMD_ACT_CERT_READ, "YYYDDDYDAAAA"},
    {ZTMD_ACT_AUDIT_READ, "YYDDDDYDAAAA"},
    {ZTMD_ACT_RECORD_UPLOAD, "DDDYDDDDAAAA"},
    {ZTMD_ACT_EST_ENROLL_DEVICE, "DDDDDDDDAAAY"},
    {ZTMD_ACT_DEVICE_WHOAMI, "DDDDDDDYAAAA"},
    /* Revocation: security officers and admins; approval of a mass
     * revocation only by a security officer; CRLs are public. */
    {ZTMD_ACT_CERT_REVOKE, "YYDDDDDDAAAA"},
    {ZTMD_ACT_DEVICE_REVOKE, "YYDDDDDDAAAA"},
    {ZTMD_ACT_DEVICE_SUSPEND, "YYDDDDDDAAAA"},
    {ZTMD_ACT_MASS_REQUEST, "YYDDDDDDAAAA"},
    {ZTMD_ACT_MASS_APPROVE, "DYDDDDDDAAAA"},
    {ZTMD_ACT_MASS_READ, "YYDDDDYDAAAA"},
    {ZTMD_ACT_CRL, "YYYYYYYYYYYY"},
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
	p->kind = col == 8    ? ZTMD_PEER_ANONYMOUS
	          : col == 9  ? ZTMD_PEER_UNKNOWN
	          : col == 10 ? ZTMD_PEER_REVOKED
	                      : ZTMD_PEER_BOOTSTRAP;
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
		assert_int_equal(strlen(matrix[i].expect), 12);
		for (col = 0; col < 12; col++) {
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
		    a == ZTMD_ACT_EST_ENROLL_CODE || a == ZTMD_ACT_CRL) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -1);
			assert_int_equal(e.code, ZTM_E_AUTH);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
