/* test_est_parse.c - EST request parsing (src/server/est_parse.c), one row
 * per case: the path router, HTTP Basic enrollment codes, the base64
 * PKCS#10 body. The good body is a real CSR made with the OpenSSL X509_REQ
 * API and parsed afterwards by ztm_csr_parse, as ztmd does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "app_int.h"
#include "est_parse.h"
#include "ztm/csr.h"
#include "ztm/str.h"
#include "x509_fixture.h"

#define P "/.well-known/est/"

static void test_path_table(void **state)
{
	static const struct {
		const char *path;
		int ok, label, op;
	} rows[] = {
	    {P "cacerts", 1, EST_NO_LABEL, EST_OP_CACERTS},
	    {P "csrattrs", 1, EST_NO_LABEL, EST_OP_CSRATTRS},
	    {P "simpleenroll", 1, EST_NO_LABEL, EST_OP_SIMPLEENROLL},
	    {P "simplereenroll", 1, EST_NO_LABEL, EST_OP_SIMPLEREENROLL},
	    {P "device/cacerts", 1, APP_CA_DEVICE, EST_OP_CACERTS},
	    {P "station/simpleenroll", 1, APP_CA_STATION, EST_OP_SIMPLEENROLL},
	    {P "operator/simplereenroll", 1, APP_CA_OPERATOR, EST_OP_SIMPLEREENROLL},
	    {P "ocsp/csrattrs", 1, APP_CA_OCSP, EST_OP_CSRATTRS},
	    {P "codesign/cacerts", 1, APP_CA_CODESIGN, EST_OP_CACERTS},
	    /* unknown label or operation */
	    {P "factory/cacerts", 0, 0, 0},
	    {P "fullcmc", 0, 0, 0},
	    {P "serverkeygen", 0, 0, 0},
	    {P "device/fullcmc", 0, 0, 0},
	    {P "", 0, 0, 0},
	    /* trailing slash, empty and extra segments */
	    {P "cacerts/", 0, 0, 0},
	    {P "station/cacerts/", 0, 0, 0},
	    {P "station/", 0, 0, 0},
	    {P "/cacerts", 0, 0, 0},
	    {P "station//cacerts", 0, 0, 0},
	    {P "station/device/cacerts", 0, 0, 0},
	    /* prefix and case tricks */
	    {P "stationx/cacerts", 0, 0, 0},
	    {P "statio/cacerts", 0, 0, 0},
	    {P "Station/cacerts", 0, 0, 0},
	    {P "cacertsx", 0, 0, 0},
	    {P "cacert", 0, 0, 0},
	    {P "CACERTS", 0, 0, 0},
	    {P "simpleenrollx", 0, 0, 0},
	    {P "simplereenrol", 0, 0, 0},
	    {"/.well-known/est", 0, 0, 0},
	    {"/.well-known/estcacerts", 0, 0, 0},
	    {"/.well-known/est/../est/cacerts", 0, 0, 0},
	    {"/well-known/est/cacerts", 0, 0, 0},
	    {"//.well-known/est/cacerts", 0, 0, 0},
	    {"/.well-known/est/cacerts?x=1", 0, 0, 0},
	    {"", 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int label = 99, op = 99;
		int rc = est_parse_path(rows[i].path, &label, &op);
		if ((rc == 0) != rows[i].ok)
			fail_msg("row %zu '%s': rc %d", i, rows[i].path, rc);
		if (rows[i].ok) {
			assert_int_equal(label, rows[i].label);
			assert_int_equal(op, rows[i].op);
		} else {
			/* A refusal leaves the outputs alone. */
			assert_int_equal(label, 99);
			assert_int_equal(op, 99);
		}
	}
	assert_int_equal(est_parse_path(NULL, &(int){0}, &(int){0}), -1);
}

/* Every operation with no label and with each label, built from the names. */
static void test_path_every_op_and_label(void **state)
{
	char path[128];
	int op, lab, label, got;

	for (op = 0; op < EST_OP_COUNT; op++) {
		snprintf(path, sizeof(path), P "%s", est_op_name(op));
		assert_int_equal(est_parse_path(path, &label, &got), 0);
		assert_int_equal(label, EST_NO_LABEL);
		assert_int_equal(got, op);
		for (lab = 0; lab < APP_CA_COUNT; lab++) {
			snprintf(path, sizeof(path), P "%s/%s", app_ca_name((enum app_ca_id)lab),
			         est_op_name(op));
			assert_int_equal(est_parse_path(path, &label, &got), 0);
			assert_int_equal(label, lab);
			assert_int_equal(got, op);
			/* The label alone, with the op as a label, and with a trailing slash. */
			snprintf(path, sizeof(path), P "%s/%s/", app_ca_name((enum app_ca_id)lab),
			         est_op_name(op));
			assert_int_equal(est_parse_path(path, &label, &got), -1);
			snprintf(path, sizeof(path), P "%s/%s", est_op_name(op),
			         app_ca_name((enum app_ca_id)lab));
			assert_int_equal(est_parse_path(path, &label, &got), -1);
		}
	}
	assert_string_equal(est_op_name(EST_OP_COUNT), "unknown");
	assert_string_equal(est_op_name(-1), "unknown");
}

/* "Basic " + base64(s) into out. */
static void basic_of(const char *scheme, const void *cred, size_t n, struct ztm_buf *out)
{
	ztm_buf_reset(out);
	assert_int_equal(ztm_buf_append_str(out, scheme), 0);
	assert_int_equal(ztm_b64_encode(cred, n, 0, out), 0);
	assert_non_null(ztm_buf_cstr(out));
}

static void test_basic_table(void **state)
{
	static const uint8_t zero[32];
	static const struct {
		const char *scheme; /* NULL: header absent */
		const char *cred;   /* base64-encoded by the test; NULL: raw is the value */
		const char *raw;
		int ok;
		const char *code; /* what must be hashed */
		const char *why;  /* a word of the refusal */
	} rows[] = {
	    {"Basic ", "line-1:abcd-efgh", NULL, 1, "abcd-efgh", NULL},
	    {"basic ", "line-1:abcd-efgh", NULL, 1, "abcd-efgh", NULL},
	    {"BASIC  ", "line-1:abcd-efgh", NULL, 1, "abcd-efgh", NULL},
	    {"Basic ", ":code-without-user", NULL, 1, "code-without-user", NULL},
	    {"Basic ", "u:a:b:c", NULL, 1, "a:b:c", NULL}, /* the first colon splits */
	    {"Basic ", "u: spaced ", NULL, 1, " spaced ", NULL},
	    {NULL, NULL, NULL, 0, NULL, "required"},
	    {NULL, NULL, "", 0, NULL, "not HTTP Basic"},
	    {NULL, NULL, "Basic", 0, NULL, "not HTTP Basic"},
	    {NULL, NULL, "Bearer abc", 0, NULL, "not HTTP Basic"},
	    {NULL, NULL, "Basicx bGluZS0xOmFiYw==", 0, NULL, "not HTTP Basic"},
	    {NULL, NULL, "Digest username=\"x\"", 0, NULL, "not HTTP Basic"},
	    {NULL, NULL, "Basic ", 0, NULL, "not base64"},
	    {NULL, NULL, "Basic !!!!", 0, NULL, "not base64"},
	    {NULL, NULL, "Basic bGluZS0xOmFiYw", 0, NULL, "not base64"}, /* unpadded */
	    {NULL, NULL, "Basic bGluZS0xOmFiYw==x", 0, NULL, "not base64"},
	    {"Basic ", "no-colon-at-all", NULL, 0, NULL, "no ':'"},
	    {"Basic ", "line-1:", NULL, 0, NULL, "no code"},
	    {"Basic ", ":", NULL, 0, NULL, "no code"},
	};
	struct ztm_buf h;
	size_t i;

	ztm_buf_init(&h, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_error err;
		uint8_t hash[32], want[32];
		const char *value = rows[i].raw;
		int rc;

		if (rows[i].cred != NULL) {
			basic_of(rows[i].scheme, rows[i].cred, strlen(rows[i].cred), &h);
			value = (const char *)h.data;
		}
		memset(hash, 0x55, sizeof(hash));
		ztm_error_clear(&err);
		rc = est_parse_basic(value, hash, &err);
		if ((rc == 0) != rows[i].ok)
			fail_msg("row %zu: rc %d (%s)", i, rc, err.msg);
		if (rows[i].ok) {
			assert_int_equal(EVP_Digest(rows[i].code, strlen(rows[i].code), want, NULL,
			                            EVP_sha256(), NULL),
			                 1);
			assert_memory_equal(hash, want, 32);
		} else {
			assert_int_equal(err.code, ZTM_E_AUTH);
			if (strstr(err.msg, rows[i].why) == NULL)
				fail_msg("row %zu: '%s' does not say '%s'", i, err.msg,
				         rows[i].why);
			assert_memory_equal(hash, zero, 32);
		}
	}
	ztm_buf_free(&h);
}

/* Over-long credentials are refused before decoding; the cap itself passes. */
static void test_basic_cap(void **state)
{
	struct ztm_buf h, cred;
	struct ztm_error err;
	uint8_t hash[32];
	size_t n;

	ztm_buf_init(&h, 0);
	ztm_buf_init(&cred, 0);
	/* 768 bytes of credentials encode to exactly EST_MAX_BASIC_B64. */
	n = EST_MAX_BASIC_B64 / 4 * 3;
	assert_int_equal(ztm_buf_append_str(&cred, "u:"), 0);
	while (cred.len < n)
		assert_int_equal(ztm_buf_append(&cred, "c", 1), 0);
	basic_of("Basic ", cred.data, cred.len, &h);
	assert_int_equal(h.len - 6, EST_MAX_BASIC_B64);
	assert_int_equal(est_parse_basic((const char *)h.data, hash, &err), 0);
	/* Three more bytes: four more base64 characters, over the cap. */
	assert_int_equal(ztm_buf_append(&cred, "ccc", 3), 0);
	basic_of("Basic ", cred.data, cred.len, &h);
	assert_int_equal(est_parse_basic((const char *)h.data, hash, &err), -1);
	assert_int_equal(err.code, ZTM_E_AUTH);
	assert_non_null(strstr(err.msg, "over"));
	/* A huge header is not walked to its end to find that out. */
	while (h.len < 1024 * 1024)
		assert_int_equal(ztm_buf_append(&h, "AAAA", 4), 0);
	assert_non_null(ztm_buf_cstr(&h));
	assert_int_equal(est_parse_basic((const char *)h.data, hash, &err), -1);
	assert_non_null(strstr(err.msg, "over"));
	ztm_buf_free(&h);
	ztm_buf_free(&cred);
}

struct fixture {
	struct ztm_buf csr;     /* DER */
	struct ztm_buf b64;     /* one line */
	struct ztm_buf b64wrap; /* 64-column lines, CRLF-free */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	EVP_PKEY *k = fx_key("P-256");

	if (f == NULL || k == NULL)
		return -1;
	ztm_buf_init(&f->csr, 0);
	ztm_buf_init(&f->b64, 0);
	ztm_buf_init(&f->b64wrap, 0);
	fx_csr(k, "line-1", NULL, NULL, &f->csr);
	EVP_PKEY_free(k);
	if (ztm_b64_encode(f->csr.data, f->csr.len, 0, &f->b64) != 0 ||
	    ztm_b64_encode(f->csr.data, f->csr.len, 64, &f->b64wrap) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ztm_buf_free(&f->csr);
	ztm_buf_free(&f->b64);
	ztm_buf_free(&f->b64wrap);
	free(f);
	return 0;
}

static struct ztm_slice slice_of(const void *p, size_t n)
{
	struct ztm_slice s = {p, n};
	return s;
}

static void test_body_table(void **state)
{
	struct fixture *f = *state;
	struct ztm_buf crlf, huge, big_der, big_b64, ws;
	size_t i;

	/* The wrapped body again with CRLF line ends and a trailing newline, as
	 * `base64` and most EST clients send it. */
	ztm_buf_init(&crlf, 0);
	for (i = 0; i < f->b64wrap.len; i++) {
		if (f->b64wrap.data[i] == '\n')
			assert_int_equal(ztm_buf_append(&crlf, "\r", 1), 0);
		assert_int_equal(ztm_buf_append(&crlf, &f->b64wrap.data[i], 1), 0);
	}
	assert_int_equal(ztm_buf_append(&crlf, "\r\n", 2), 0);
	/* One byte over the body cap, of valid base64 characters. */
	ztm_buf_init(&huge, 0);
	while (huge.len < EST_MAX_CSR_B64 + 1)
		assert_int_equal(ztm_buf_append(&huge, "A", 1), 0);
	/* Under the body cap but decoding to more than the CSR cap. */
	ztm_buf_init(&big_der, 0);
	ztm_buf_init(&big_b64, 0);
	while (big_der.len < ZTM_CSR_MAX_DER + 3)
		assert_int_equal(ztm_buf_append(&big_der, "\x30\x30\x30", 3), 0);
	assert_int_equal(ztm_b64_encode(big_der.data, big_der.len, 0, &big_b64), 0);
	assert_true(big_b64.len <= EST_MAX_CSR_B64);
	ztm_buf_init(&ws, 0);
	assert_int_equal(ztm_buf_append_str(&ws, " \r\n\t\r\n"), 0);

	{
		const struct {
			const char *ct;
			struct ztm_slice body;
			int ok;
			enum ztm_err code;
			const char *why;
		} rows[] = {
		    {"application/pkcs10", ztm_buf_slice(&f->b64), 1, ZTM_OK, NULL},
		    {"application/pkcs10", ztm_buf_slice(&f->b64wrap), 1, ZTM_OK, NULL},
		    {"application/pkcs10", ztm_buf_slice(&crlf), 1, ZTM_OK, NULL},
		    {"Application/PKCS10", ztm_buf_slice(&f->b64), 1, ZTM_OK, NULL},
		    {"application/pkcs10; charset=us-ascii", ztm_buf_slice(&f->b64), 1, ZTM_OK,
		     NULL},
		    {"application/pkcs10 ;x=y", ztm_buf_slice(&f->b64), 1, ZTM_OK, NULL},
		    {NULL, ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"application/json", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"application/pkcs10x", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"application/pkcs1", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"application/pkcs7-mime", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE,
		     "Content-Type"},
		    {" application/pkcs10", ztm_buf_slice(&f->b64), 0, ZTM_E_PARSE, "Content-Type"},
		    {"application/pkcs10", slice_of(NULL, 0), 0, ZTM_E_PARSE, "empty"},
		    {"application/pkcs10", slice_of("", 0), 0, ZTM_E_PARSE, "empty"},
		    {"application/pkcs10", ztm_buf_slice(&ws), 0, ZTM_E_PARSE, "white space"},
		    {"application/pkcs10", ztm_buf_slice(&huge), 0, ZTM_E_TOOBIG, "over"},
		    {"application/pkcs10", ztm_buf_slice(&big_b64), 0, ZTM_E_TOOBIG, "over"},
		    {"application/pkcs10", ztm_buf_slice(&f->csr), 0, ZTM_E_PARSE, "base64"},
		    {"application/pkcs10", slice_of("not base64 !!!\n", 15), 0, ZTM_E_PARSE,
		     "base64"},
		    {"application/pkcs10", slice_of("MIIB", 3), 0, ZTM_E_PARSE, "base64"},
		    {"application/pkcs10", slice_of("MII=B", 5), 0, ZTM_E_PARSE, "base64"},
		    /* The wrapped body cut in the middle of a quantum. */
		    {"application/pkcs10", slice_of(f->b64wrap.data, f->b64wrap.len - 2), 0,
		     ZTM_E_PARSE, "base64"},
		};

		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct ztm_error err;
			struct ztm_buf der;
			int rc;

			ztm_buf_init(&der, 16 * 1024);
			assert_int_equal(ztm_buf_append_str(&der, "stale"), 0);
			ztm_error_clear(&err);
			rc = est_parse_csr_body(rows[i].ct, rows[i].body, &der, &err);
			if ((rc == 0) != rows[i].ok)
				fail_msg("row %zu: rc %d (%s)", i, rc, err.msg);
			if (rows[i].ok) {
				struct ztm_csr csr;
				/* The exact DER, and it parses as the CSR it was. */
				assert_int_equal(der.len, f->csr.len);
				assert_memory_equal(der.data, f->csr.data, der.len);
				assert_int_equal(ztm_csr_parse(der.data, der.len, &csr, &err), 0);
				ztm_csr_free(&csr);
			} else {
				assert_int_equal(err.code, rows[i].code);
				if (strstr(err.msg, rows[i].why) == NULL)
					fail_msg("row %zu: '%s' does not say '%s'", i, err.msg,
					         rows[i].why);
				assert_int_equal(der.len, 0);
			}
			ztm_buf_free(&der);
		}
	}
	ztm_buf_free(&crlf);
	ztm_buf_free(&huge);
	ztm_buf_free(&big_der);
	ztm_buf_free(&big_b64);
	ztm_buf_free(&ws);
}

/* The caller's own cap on der is honoured too. */
static void test_body_caller_cap(void **state)
{
	struct fixture *f = *state;
	struct ztm_error err;
	struct ztm_buf der;

	ztm_buf_init(&der, f->csr.len - 1);
	assert_int_equal(
	    est_parse_csr_body("application/pkcs10", ztm_buf_slice(&f->b64), &der, &err), -1);
	assert_int_equal(err.code, ZTM_E_TOOBIG);
	assert_int_equal(der.len, 0);
	ztm_buf_free(&der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_table),
	    cmocka_unit_test(test_path_every_op_and_label),
	    cmocka_unit_test(test_basic_table),
	    cmocka_unit_test(test_basic_cap),
	    cmocka_unit_test_setup_teardown(test_body_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_caller_cap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
