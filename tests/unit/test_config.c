/* test_config.c - the configuration parser: good files, each syntax error
 * (with its line), typed getters with bounds, durations, unused keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ztm/config.h"
#include "ztm/file.h"

static struct ztm_config *parse(const char *text, struct ztm_error *err)
{
	return ztm_config_parse(text, strlen(text), "t.conf", err);
}

static void test_good_values(void **state)
{
	static const char text[] = "# leading comment\n"
	                           "; another\n"
	                           "\n"
	                           "[server]\n"
	                           "  listen   =   127.0.0.1:8443   \n"
	                           "workers=4 # inline comment\n"
	                           "empty =\n"
	                           "path = sqlite:/tmp/a;b#c\n"
	                           "[ ca.device ]  # comment after section\n"
	                           "name = \"  spaced \\\"quoted\\\" \\\\ value \"  ; comment\n"
	                           "hash = \"a # not a comment\"\r\n"
	                           "[tls]\n"
	                           "listen = other\n";
	static const struct {
		const char *section, *key, *want;
	} rows[] = {
	    {"server", "listen", "127.0.0.1:8443"},
	    {"server", "workers", "4"},
	    {"server", "empty", ""},
	    {"server", "path", "sqlite:/tmp/a;b#c"},
	    {"ca.device", "name", "  spaced \"quoted\" \\ value "},
	    {"ca.device", "hash", "a # not a comment"},
	    {"tls", "listen", "other"},
	    {"tls", "missing", NULL},
	    {"nosuch", "listen", NULL},
	};
	struct ztm_error err;
	struct ztm_config *c = parse(text, &err);
	size_t i;

	assert_non_null(c);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *v = ztm_config_get(c, rows[i].section, rows[i].key);
		if (rows[i].want == NULL)
			assert_null(v);
		else
			assert_string_equal(v, rows[i].want);
	}
	assert_int_equal(ztm_config_unused(c, &err), 0);
	ztm_config_free(c);
}

static void test_syntax_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* substring of the message, with the line */
	} rows[] = {
	    {"key = v\n", "t.conf:1: key outside a [section]"},
	    {"[s]\njust words\n", "t.conf:2: expected 'key = value'"},
	    {"[s\n", "t.conf:1: missing ']'"},
	    {"[s] x\n", "t.conf:1: text after ']'"},
	    {"[]\n", "t.conf:1: invalid section name"},
	    {"[a..b]\n", "t.conf:1: invalid section name"},
	    {"[.a]\n", "t.conf:1: invalid section name"},
	    {"[a.]\n", "t.conf:1: invalid section name"},
	    {"[a b]\n", "t.conf:1: invalid section name"},
	    {"[s]\n[t]\n[s]\n", "t.conf:3: section [s] repeated (first at line 1)"},
	    {"[s]\n= v\n", "t.conf:2: missing or too long key name"},
	    {"[s]\nk y = v\n", "t.conf:2: invalid key name"},
	    {"[s]\na = 1\n\na = 2\n", "t.conf:4: duplicate key 'a' in [s] (first at line 2)"},
	    {"[s]\na = \"open\n", "t.conf:2: unterminated quoted value"},
	    {"[s]\na = \"x\\n\"\n", "t.conf:2: bad escape"},
	    {"[s]\na = \"x\" y\n", "t.conf:2: text after the closing quote"},
	    {"[s]\na = x\"y\n", "t.conf:2: stray '\"'"},
	    {"[s]\na = x\001y\n", "t.conf:2: control character 0x01"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		struct ztm_config *c;

		memset(&err, 0, sizeof(err));
		c = parse(rows[i].text, &err);
		if (c != NULL || strstr(err.msg, rows[i].want) == NULL)
			fail_msg("row %zu: got '%s', want '%s'", i, err.msg, rows[i].want);
	}
}

static void test_caps(void **state)
{
	struct ztm_error err;
	struct ztm_config *c;
	char *big;
	size_t i, n;

	/* A line of 4097 bytes. */
	big = malloc(8192);
	assert_non_null(big);
	memcpy(big, "[s]\nk = ", 8);
	memset(big + 8, 'x', 4097 - 4);
	big[8 + 4093] = '\0';
	c = parse(big, &err);
	assert_null(c);
	assert_int_equal(err.code, ZTM_E_TOOBIG);
	assert_non_null(strstr(err.msg, "t.conf:2: line longer than 4096"));
	/* Exactly 4096 is fine. */
	big[8 + 4092] = '\0';
	c = parse(big, &err);
	assert_non_null(c);
	ztm_config_free(c);
	free(big);

	/* 1001 keys. */
	n = 1001 * 16 + 8;
	big = malloc(n);
	assert_non_null(big);
	memcpy(big, "[s]\n", 5);
	for (i = 0; i < 1001; i++)
		snprintf(big + strlen(big), n - strlen(big), "k%zu = 1\n", i);
	c = parse(big, &err);
	assert_null(c);
	assert_int_equal(err.code, ZTM_E_TOOBIG);
	assert_non_null(strstr(err.msg, "t.conf:1002: more than 1000 keys"));
	free(big);

	/* Over 1 MiB of comments. */
	n = 1024 * 1024 + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, '\n', n);
	big[0] = '#';
	c = ztm_config_parse(big, n, "t.conf", &err);
	assert_null(c);
	assert_int_equal(err.code, ZTM_E_TOOBIG);
	free(big);
}

static void test_u64_and_bool(void **state)
{
	static const struct {
		const char *value;
		int ok;
		uint64_t want;
	} rows[] = {
	    {"1", 1, 1},  {"64", 1, 64}, {"0", 0, 0}, {"65", 0, 0},
	    {"-1", 0, 0}, {"4x", 0, 0},  {"", 0, 0},  {"0x10", 0, 0},
	};
	static const struct {
		const char *value;
		int ok, want;
	} brows[] = {
	    {"true", 1, 1}, {"yes", 1, 1}, {"on", 1, 1}, {"1", 1, 1},    {"false", 1, 0},
	    {"no", 1, 0},   {"off", 1, 0}, {"0", 1, 0},  {"TRUE", 0, 0}, {"2", 0, 0},
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		struct ztm_config *c;
		uint64_t v = 99;

		snprintf(text, sizeof(text), "[server]\n\nworkers = %s\n", rows[i].value);
		c = parse(text, &err);
		assert_non_null(c);
		assert_int_equal(ztm_config_u64(c, "server", "workers", 7, 1, 64, &v, &err) == 0,
		                 rows[i].ok);
		if (rows[i].ok)
			assert_int_equal(v, rows[i].want);
		else
			assert_non_null(strstr(err.msg, "t.conf:3: [server] workers"));
		/* absent -> default */
		assert_int_equal(ztm_config_u64(c, "server", "other", 7, 1, 64, &v, &err), 0);
		assert_int_equal(v, 7);
		ztm_config_free(c);
	}
	for (i = 0; i < sizeof(brows) / sizeof(brows[0]); i++) {
		struct ztm_error err;
		struct ztm_config *c;
		int b = -1;

		snprintf(text, sizeof(text), "[x]\nflag = %s\n", brows[i].value);
		c = parse(text, &err);
		assert_non_null(c);
		assert_int_equal(ztm_config_bool(c, "x", "flag", 1, &b, &err) == 0, brows[i].ok);
		if (brows[i].ok)
			assert_int_equal(b, brows[i].want);
		else
			assert_non_null(strstr(err.msg, "t.conf:2: [x] flag"));
		ztm_config_free(c);
	}
}

static void test_durations(void **state)
{
	static const struct {
		const char *value;
		int ok;
		uint64_t want;
	} rows[] = {
	    {"30", 1, 30},
	    {"30s", 1, 30},
	    {"5m", 1, 300},
	    {"2h", 1, 7200},
	    {"90d", 1, 90 * 86400},
	    {"0s", 0, 0},  /* below min 1 */
	    {"91d", 0, 0}, /* above max 90d */
	    {"s", 0, 0},
	    {"", 0, 0},
	    {"5w", 0, 0},
	    {"-5s", 0, 0},
	    {"1.5h", 0, 0},
	    {"999999999999999999999d", 0, 0},
	    {"213503982334601d", 0, 0}, /* overflows uint64 seconds */
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		struct ztm_config *c;
		uint64_t v = 0;
		int rc;

		snprintf(text, sizeof(text), "[server]\ntimeout = %s\n", rows[i].value);
		c = parse(text, &err);
		assert_non_null(c);
		rc = ztm_config_duration(c, "server", "timeout", 30, 1, 90 * 86400, &v, &err);
		if ((rc == 0) != rows[i].ok)
			fail_msg("row %zu '%s': rc %d (%s)", i, rows[i].value, rc, err.msg);
		if (rows[i].ok)
			assert_int_equal(v, rows[i].want);
		else
			assert_non_null(strstr(err.msg, "t.conf:2: [server] timeout"));
		ztm_config_free(c);
	}
}

static int collect(const char *section, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 128 - n, "%s,", section);
	return strcmp(section, "ca.stop") == 0 ? 42 : 0;
}

static void test_sections_and_unused(void **state)
{
	static const char text[] = "[server]\nworkers = 2\nwokers = 3\n"
	                           "[ca.device]\nkey = a\n[est]\n[ca.station]\nkey = b\n";
	struct ztm_error err;
	struct ztm_config *c = parse(text, &err);
	char names[128] = "";
	const char *s;
	uint64_t v;

	assert_non_null(c);
	assert_int_equal(ztm_config_sections(c, "ca.", collect, names), 0);
	assert_string_equal(names, "ca.device,ca.station,");
	assert_int_equal(ztm_config_u64(c, "server", "workers", 1, 1, 8, &v, &err), 0);
	assert_int_equal(ztm_config_unused(c, &err), -1);
	assert_string_equal(err.msg, "unknown key 'wokers' in [server] at t.conf:3");
	assert_non_null(ztm_config_get(c, "server", "wokers"));
	assert_int_equal(ztm_config_unused(c, &err), -1);
	assert_non_null(strstr(err.msg, "'key' in [ca.device] at t.conf:5"));
	assert_int_equal(ztm_config_str(c, "ca.device", "key", NULL, &s, &err), 0);
	assert_string_equal(s, "a");
	assert_int_equal(ztm_config_str(c, "ca.station", "key", NULL, &s, &err), 0);
	assert_int_equal(ztm_config_str(c, "ca.station", "none", "dflt", &s, &err), 0);
	assert_string_equal(s, "dflt");
	assert_int_equal(ztm_config_unused(c, &err), 0);
	ztm_config_free(c);

	/* The callback's non-zero result stops the walk and is returned. */
	c = parse("[ca.a]\n[ca.stop]\n[ca.z]\n", &err);
	assert_non_null(c);
	names[0] = '\0';
	assert_int_equal(ztm_config_sections(c, "ca.", collect, names), 42);
	assert_string_equal(names, "ca.a,ca.stop,");
	ztm_config_free(c);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/ztm-config-XXXXXX";
	char file[64];
	struct ztm_error err;
	struct ztm_config *c;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	snprintf(file, sizeof(file), "%s.conf", path);
	assert_int_equal(ztm_file_write(file, "[s]\n\nk = v\nk = w\n", 17, 0600, 0, &err), 0);
	c = ztm_config_load(file, &err);
	assert_null(c);
	assert_non_null(strstr(err.msg, file));
	assert_non_null(strstr(err.msg, ":4: duplicate key 'k'"));
	assert_int_equal(ztm_file_write(file, "[s]\nk = v\n", 10, 0600, 0, &err), 0);
	c = ztm_config_load(file, &err);
	assert_non_null(c);
	assert_string_equal(ztm_config_get(c, "s", "k"), "v");
	ztm_config_free(c);
	unlink(file);
	assert_null(ztm_config_load(file, &err));
	assert_int_equal(err.code, ZTM_E_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_values), cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_caps),        cmocka_unit_test(test_u64_and_bool),
	    cmocka_unit_test(test_durations),   cmocka_unit_test(test_sections_and_unused),
	    cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
