/* test_p11uri.c - the RFC 7512 PKCS#11 URI parser (src/core/p11uri.c): one
 * table of good URIs with what each must yield, one of bad URIs with the
 * reason each must name. RFC 7512 §3 examples are among the good rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ztm/p11uri.h"

static void test_good(void **state)
{
	static const struct {
		const char *uri;
		const char *token, *object, *manuf, *serial, *model;
		const char *id; /* hex, NULL: none */
		enum ztm_p11_type type;
		long slot; /* -1: none */
		const char *pin_source, *module;
	} rows[] = {
	    {"pkcs11:", "", "", "", "", "", NULL, ZTM_P11_TYPE_ANY, -1, "", ""},
	    {"pkcs11:token=ztm;object=ca-device", "ztm", "ca-device", "", "", "", NULL,
	     ZTM_P11_TYPE_ANY, -1, "", ""},
	    /* RFC 7512 §3 */
	    {"pkcs11:object=my-pubkey;type=public", "", "my-pubkey", "", "", "", NULL,
	     ZTM_P11_TYPE_PUBLIC, -1, "", ""},
	    {"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc."
	     ";model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91"
	     ";serial=",
	     NULL, NULL, NULL, NULL, NULL, NULL, 0, -2, NULL, NULL}, /* empty serial: bad */
	    {"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc."
	     ";model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91",
	     "The Software PKCS#11 Softtoken", "my-certificate", "Snake Oil, Inc.", "", "1.0",
	     "69953e5cf4bdec91", ZTM_P11_TYPE_CERT, -1, "", ""},
	    {"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11", NULL, NULL, NULL, NULL,
	     NULL, NULL, 0, -2, NULL, NULL}, /* module-name refused */
	    {"pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1", "",
	     "my-sign-key", "", "", "", NULL, ZTM_P11_TYPE_PRIVATE, -1, "",
	     "/mnt/libmypkcs11.so.1"},
	    {"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc."
	     "?pin-source=file:/etc/token",
	     "Software PKCS#11 softtoken", "", "Snake Oil, Inc.", "", "", NULL, ZTM_P11_TYPE_ANY,
	     -1, "/etc/token", ""},
	    {"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;"
	     "type=cert",
	     "A name with a substring %;", "my-certificate", "", "", "", NULL, ZTM_P11_TYPE_CERT,
	     -1, "", ""},
	    {"pkcs11:token=A%20with%20acute:%20%C3%A1;object=my-"
	     "certificate;type=cert",
	     "A with acute: \xc3\xa1", "my-certificate", "", "", "", NULL, ZTM_P11_TYPE_CERT, -1,
	     "", ""},
	    {"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a"
	     "?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
	     NULL, NULL, NULL, NULL, NULL, NULL, 0, -2, NULL, NULL}, /* unknown attributes */
	    /* ztm's own */
	    {"pkcs11:slot-id=7;id=%01%02;object=k?pin-source=file:///run/pin&module-path=/usr/"
	     "lib/softhsm/libsofthsm2.so",
	     "", "k", "", "", "", "0102", ZTM_P11_TYPE_ANY, 7, "/run/pin",
	     "/usr/lib/softhsm/libsofthsm2.so"},
	    {"pkcs11:object=a&b=c;serial=0123abc", "", "a&b=c", "", "0123abc", "", NULL,
	     ZTM_P11_TYPE_ANY, -1, "", ""},
	    {"pkcs11:id=%00%ff", "", "", "", "", "", "00ff", ZTM_P11_TYPE_ANY, -1, "", ""},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_p11_uri u;
		struct ztm_error err;
		int rc = ztm_p11_uri_parse(rows[i].uri, &u, &err);
		char hex[2 * ZTM_P11_ID_MAX + 1] = "";
		size_t k;

		if (rows[i].slot == -2) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, ZTM_E_USAGE);
			continue;
		}
		if (rc != 0)
			fail_msg("row %zu: %s", i, err.msg);
		assert_string_equal(u.token, rows[i].token);
		assert_string_equal(u.object, rows[i].object);
		assert_string_equal(u.manufacturer, rows[i].manuf);
		assert_string_equal(u.serial, rows[i].serial);
		assert_string_equal(u.model, rows[i].model);
		assert_int_equal(u.type, rows[i].type);
		assert_int_equal(u.has_slot_id, rows[i].slot >= 0);
		if (rows[i].slot >= 0)
			assert_int_equal(u.slot_id, (unsigned long)rows[i].slot);
		assert_string_equal(u.pin_source, rows[i].pin_source);
		assert_string_equal(u.module_path, rows[i].module);
		assert_int_equal(u.has_id, rows[i].id != NULL);
		for (k = 0; k < u.id_len; k++)
			snprintf(hex + 2 * k, 3, "%02x", u.id[k]);
		if (rows[i].id != NULL)
			assert_string_equal(hex, rows[i].id);
	}
}

static void test_bad(void **state)
{
	static const struct {
		const char *uri;
		const char *says;
	} rows[] = {
	    {"pkcs11", "must start with pkcs11:"},
	    {"PKCS11:token=x", "must start with pkcs11:"},
	    {"file:/x", "must start with pkcs11:"},
	    {"pkcs11:token=x;token=y", "token given twice"},
	    {"pkcs11:token=x;;object=y", "empty attribute"},
	    {"pkcs11:token=x;", "trailing ';'"},
	    {"pkcs11:token", "without a name or '='"},
	    {"pkcs11:=x", "without a name or '='"},
	    {"pkcs11:token=", "token: empty value"},
	    {"pkcs11:token=a%2", "bad percent-encoding"},
	    {"pkcs11:token=a%zz", "bad percent-encoding"},
	    {"pkcs11:token=a%", "bad percent-encoding"},
	    {"pkcs11:token=a/b", "must be percent-encoded"},
	    {"pkcs11:token=a b", "must be percent-encoded"},
	    {"pkcs11:token=a?pin-source=x y", "must be percent-encoded"},
	    {"pkcs11:token=a%00b", "NUL byte"},
	    {"pkcs11:token=0123456789abcdef0123456789abcdefX", "longer than 32"},
	    {"pkcs11:id=%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%00%01%02%03%04%05%06%07"
	     "%08%09%0a%0b%0c%0d%0e%0f%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%00%01%02"
	     "%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%ff",
	     "longer than 64"},
	    {"pkcs11:type=secret", "type: unknown"},
	    {"pkcs11:slot-id=12a", "not a decimal"},
	    {"pkcs11:slot-id=99999999999999999999", "not a decimal"},
	    {"pkcs11:pin-source=file:/x", "belongs in the query"},
	    {"pkcs11:object=k?token=x", "belongs in the path"},
	    {"pkcs11:object=k?pin-value=1234", "pin-value refused"},
	    {"pkcs11:object=k?pin-source=|/bin/cat%20/pin", "absolute file path"},
	    {"pkcs11:object=k?pin-source=https://x/pin", "absolute file path"},
	    {"pkcs11:object=k?pin-source=relative/pin", "absolute file path"},
	    {"pkcs11:object=k?module-path=libsofthsm2.so", "absolute file path"},
	    {"pkcs11:object=k?pin-source=/a&pin-source=/b", "pin-source given twice"},
	    {"pkcs11:object=k?&pin-source=/a", "empty attribute"},
	    {"pkcs11:x-vendor=1", "unknown attribute 'x-vendor'"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_p11_uri u;
		struct ztm_error err;

		memset(&err, 0, sizeof(err));
		if (ztm_p11_uri_parse(rows[i].uri, &u, &err) != -1)
			fail_msg("row %zu accepted: %s", i, rows[i].uri);
		assert_int_equal(err.code, ZTM_E_USAGE);
		if (strstr(err.msg, rows[i].says) == NULL)
			fail_msg("row %zu: '%s' does not say '%s'", i, err.msg, rows[i].says);
		/* Nothing half-parsed is left behind, and no PIN reaches a message. */
		assert_string_equal(u.token, "");
		assert_null(strstr(err.msg, "1234"));
	}
}

static void test_describe(void **state)
{
	struct ztm_p11_uri u;
	struct ztm_error err;
	char d[128];

	assert_int_equal(
	    ztm_p11_uri_parse("pkcs11:token=t;object=a%0ab;id=%ab?pin-source=/p", &u, &err), 0);
	ztm_p11_uri_describe(&u, d, sizeof(d));
	assert_string_equal(d, "pkcs11 token 't' object 'a?b' id ab");
	ztm_p11_uri_describe(&u, d, 12);
	assert_int_equal(strlen(d), 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
