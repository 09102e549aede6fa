/* test_backend_ops.c - ztm_store_ops_check (src/store/store_ops.c): every
 * shipped backend is complete, and a table with a NULL op is refused with
 * ZTM_E_CONFIG naming the missing calls, before anything is opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/store/store_impl.h"

static void test_backends_complete(void **state)
{
	const struct ztm_store_ops *const all[] = {&ztm_store_sqlite_ops, &ztm_store_pg_ops,
	                                           &ztm_store_postgres_ops};
	struct ztm_error e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_int_equal(ztm_store_ops_check(all[i], &e), 0);
}

static void test_null_op_refused(void **state)
{
	struct ztm_store_ops ops = ztm_store_sqlite_ops;
	struct ztm_error e;

	(void)state;
	/* The optional op may be NULL. */
	ops.nosync_next = NULL;
	assert_int_equal(ztm_store_ops_check(&ops, &e), 0);
	/* One missing op, then three (first, middle, last of the struct). */
	ops.fw_svn_floor = NULL;
	assert_int_equal(ztm_store_ops_check(&ops, &e), -1);
	assert_int_equal(e.code, ZTM_E_CONFIG);
	assert_non_null(strstr(e.msg, "'sqlite' is incomplete: 1 call missing (fw_svn_floor)"));
	ops.open = NULL;
	ops.owner_revoke_except = NULL;
	assert_int_equal(ztm_store_ops_check(&ops, &e), -1);
	assert_non_null(strstr(e.msg, "3 calls missing (open, fw_svn_floor, owner_revoke_except)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backends_complete),
	    cmocka_unit_test(test_null_op_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
