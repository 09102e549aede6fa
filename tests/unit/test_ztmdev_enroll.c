/* test_ztmdev_enroll.c - ztmdev_enroll and ztmdev_activate against canned
 * replies: the transport callback plays the server, with certificates made
 * by a real CA (libztm's issuance engine, used here in the tests only; the
 * device library never links it). One table row per reply sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "x509_fixture.h"
#include "ztm/issue.h"
#include "ztm/pkcs7.h"
#include "ztm/serial.h"
#include "ztm/str.h"
#include "ztmdev/ztmdev.h"

#define MAX_REPLIES 8

struct canned {
	int status;
	const char *ctype;
	const char *body; /* NULL: filled by the row's certificate choice */
	long retry_after;
};

/* The fake server: replies in order, records what it was asked. */
struct fake {
	const struct canned *replies;
	size_t n, next;
	const char *fail; /* transport error instead of a reply */
	struct ztm_buf p7b64;
	char method[8], path[64], ctype[64];
	enum ztmdev_cred cred;
	int csr_ok;
	unsigned slept;
	int64_t now;
};

static int fake_transport(void *arg, const struct ztmdev_request *req, struct ztmdev_response *resp,
                          char *err, size_t errsize)
{
	struct fake *f = arg;
	const struct canned *c;
	const char *body;
	size_t len;

	snprintf(f->method, sizeof(f->method), "%s", req->method);
	snprintf(f->path, sizeof(f->path), "%s", req->path);
	snprintf(f->ctype, sizeof(f->ctype), "%s", req->content_type ? req->content_type : "");
	f->cred = req->cred;
	if (req->body_len > 0) {
		/* The body must be base64 of a CSR whose signature verifies. */
		struct ztm_buf der;
		const unsigned char *p;
		X509_REQ *r;
		ztm_buf_init(&der, 0);
		assert_int_equal(ztm_b64_decode((const char *)req->body, req->body_len, &der), 0);
		p = der.data;
		r = d2i_X509_REQ(NULL, &p, (long)der.len);
		f->csr_ok = r != NULL && X509_REQ_verify(r, X509_REQ_get0_pubkey(r)) == 1;
		X509_REQ_free(r);
		ztm_buf_free(&der);
	}
	if (f->fail != NULL) {
		snprintf(err, errsize, "%s", f->fail);
		return -1;
	}
	assert_true(f->next < f->n);
	c = &f->replies[f->next++];
	body = c->body != NULL ? c->body : ztm_buf_cstr(&f->p7b64);
	len = strlen(body);
	assert_true(len <= resp->body_cap);
	resp->status = c->status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", c->ctype);
	resp->retry_after = c->retry_after;
	memcpy(resp->body, body, len);
	resp->body_len = len;
	return 0;
}

static int64_t fake_now(void *arg)
{
	return ((struct fake *)arg)->now;
}

static void fake_sleep(void *arg, unsigned s)
{
	((struct fake *)arg)->slept += s;
}

/* The test PKI: root -> issuing device CA, and a foreign root. */
struct pki {
	EVP_PKEY *rk, *ik, *fk;
	X509 *root, *mid, *foreign;
	struct ztm_ca *rca, *ica, *fca;
	struct ztm_buf mid_der;
	char anchor[8192];      /* root + issuing CA, PEM (the ceremony's chain.pem) */
	char anchor_root[4096]; /* root only */
};

static struct pki P;

static void pem_of(X509 *x, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &p);
	assert_true((size_t)n < cap - strlen(out));
	strncat(out, p, (size_t)n);
	BIO_free(b);
}

static int setup(void **state)
{
	static const struct ztm_name_attr ca_subj[] = {{ZTM_ATTR_O, "ztm test"},
	                                               {ZTM_ATTR_CN, "Device CA"}};
	struct ztm_issue_req req;
	struct ztm_buf spki;
	struct ztm_error e;
	const unsigned char *p;

	(void)state;
	P.rk = fx_key("P-256");
	P.ik = fx_key("P-256");
	P.fk = fx_key("P-256");
	P.root = fx_root(P.rk, "Test Root", 1, 3650);
	P.foreign = fx_root(P.fk, "Foreign Root", 1, 3650);
	P.rca = fx_ca(P.rk, P.root, NULL);
	P.fca = fx_ca(P.fk, P.foreign, NULL);
	ztm_buf_init(&spki, 0);
	ztm_buf_init(&P.mid_der, 0);
	fx_spki(P.ik, &spki);
	memset(&req, 0, sizeof(req));
	req.subject = ca_subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue_ca_cert(P.rca, &req, &P.mid_der, &e) != 0)
		fail_msg("issuing CA: %s", e.msg);
	p = P.mid_der.data;
	P.mid = d2i_X509(NULL, &p, (long)P.mid_der.len);
	assert_non_null(P.mid);
	P.ica = fx_ca(P.ik, P.mid, NULL);
	pem_of(P.root, P.anchor, sizeof(P.anchor));
	pem_of(P.mid, P.anchor, sizeof(P.anchor));
	pem_of(P.root, P.anchor_root, sizeof(P.anchor_root));
	ztm_buf_free(&spki);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ztm_ca_free(P.rca);
	ztm_ca_free(P.ica);
	ztm_ca_free(P.fca);
	X509_free(P.root);
	X509_free(P.mid);
	X509_free(P.foreign);
	EVP_PKEY_free(P.rk);
	EVP_PKEY_free(P.ik);
	EVP_PKEY_free(P.fk);
	ztm_buf_free(&P.mid_der);
	return 0;
}

/* A device certificate from ca for the SPKI of the device's CSR. */
static void issue_for(struct ztmdev *dev, const struct ztm_ca *ca, EVP_PKEY *other,
                      struct ztm_buf *der)
{
	static const struct ztm_name_attr subj[] = {{ZTM_ATTR_SERIAL, "SN-1"},
	                                            {ZTM_ATTR_CN, "widget-SN-1"}};
	uint8_t csr[4096];
	size_t len;
	const unsigned char *p = csr;
	X509_REQ *r;
	struct ztm_buf spki;
	struct ztm_issue_req req;
	struct ztm_error e;

	ztm_buf_init(&spki, 0);
	if (other != NULL) {
		fx_spki(other, &spki);
	} else {
		assert_int_equal(ztmdev_csr(dev, csr, sizeof(csr), &len), 0);
		r = d2i_X509_REQ(NULL, &p, (long)len);
		assert_non_null(r);
		fx_spki(X509_REQ_get0_pubkey(r), &spki);
		X509_REQ_free(r);
	}
	memset(&req, 0, sizeof(req));
	req.profile = "device";
	req.subject = subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	req.lifetime = 365 * 86400;
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue(ca, &req, der, &e) != 0)
		fail_msg("device certificate: %s", e.msg);
	ztm_buf_free(&spki);
}

enum cert_choice { C_LEAF, C_LEAF_MID, C_OTHER_KEY, C_FOREIGN, C_GARBAGE };

static void make_reply(struct ztmdev *dev, enum cert_choice c, struct ztm_buf *b64)
{
	struct ztm_buf leaf, p7;
	struct ztm_slice s[2];
	EVP_PKEY *other = NULL;
	size_t n = 1;

	ztm_buf_init(&leaf, 0);
	ztm_buf_init(&p7, 0);
	if (c == C_GARBAGE) {
		assert_int_equal(ztm_buf_append(&p7, "\x30\x03\x02\x01\x01junk", 9), 0);
	} else {
		if (c == C_OTHER_KEY)
			other = fx_key("P-256");
		issue_for(dev, c == C_FOREIGN ? P.fca : P.ica, other, &leaf);
		s[0] = ztm_buf_slice(&leaf);
		if (c == C_LEAF_MID) {
			s[1] = ztm_buf_slice(&P.mid_der);
			n = 2;
		}
		assert_int_equal(ztm_p7_certs_only(s, n, &p7), 0);
	}
	assert_int_equal(ztm_b64_encode(p7.data, p7.len, 64, b64), 0);
	EVP_PKEY_free(other);
	ztm_buf_free(&leaf);
	ztm_buf_free(&p7);
}

static char *new_dir(char *tmpl)
{
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static void rm_dir(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int file_exists(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

#define P7  "application/pkcs7-mime; smime-type=certs-only"
#define P7B "application/pkcs7-mime"
#define JS  "application/json"

static void test_enroll_table(void **state)
{
	static const struct canned ok[] = {{200, P7, NULL, -1}};
	static const struct canned ok_bare[] = {{200, P7B, NULL, -1}};
	static const struct canned wait_ok[] = {{202, JS, "", 7}, {200, P7, NULL, -1}};
	static const struct canned wait_noh[] = {{202, JS, "", -1}, {200, P7, NULL, -1}};
	static const struct canned wait_long[] = {{202, JS, "", 100000}, {200, P7, NULL, -1}};
	static const struct canned pending[] = {{202, "", "", 2}, {202, "", "", 2},
	                                        {202, "", "", 2}, {202, "", "", 2},
	                                        {202, "", "", 2}, {202, "", "", 2}};
	static const struct canned bad_b64[] = {{200, P7, "MIIB!!notbase64==", -1}};
	static const struct canned bad_pad[] = {{200, P7, "MIIBAA=A", -1}};
	static const struct canned empty[] = {{200, P7, "", -1}};
	static const struct canned unauth[] = {
	    {401, JS, "{\"error\":\"unauthenticated\",\"message\":\"bootstrap key not recorded\"}",
	     -1}};
	static const struct canned html[] = {{200, "text/html", "PGh0bWw+", -1}};
	static const struct canned oops[] = {{500, "text/plain", "internal", -1}};
	static const struct {
		const char *name;
		const struct canned *replies;
		size_t n;
		enum cert_choice certs;
		int anchor_root_only;
		const char *transport_fail;
		const char *want; /* NULL: success; else a substring of ztmdev_error */
		size_t want_requests;
		unsigned want_slept;
	} rows[] = {
	    {"good", ok, 1, C_LEAF, 0, NULL, NULL, 1, 0},
	    {"good, no smime-type", ok_bare, 1, C_LEAF, 0, NULL, NULL, 1, 0},
	    {"chain in the reply", ok, 1, C_LEAF_MID, 1, NULL, NULL, 1, 0},
	    {"202 then good", wait_ok, 2, C_LEAF, 0, NULL, NULL, 2, 7},
	    {"202 without Retry-After", wait_noh, 2, C_LEAF, 0, NULL, NULL, 2, 5},
	    {"202 with a huge Retry-After", wait_long, 2, C_LEAF, 0, NULL, NULL, 2, 300},
	    {"202 forever", pending, 6, C_LEAF, 0, NULL, "still pending (HTTP 202) after 6", 6, 10},
	    {"wrong key", ok, 1, C_OTHER_KEY, 0, NULL, "wrong key", 1, 0},
	    {"foreign chain", ok, 1, C_FOREIGN, 0, NULL, "does not chain to the pinned root", 1, 0},
	    {"intermediate missing", ok, 1, C_LEAF, 1, NULL, "does not chain", 1, 0},
	    {"bad base64", bad_b64, 1, C_LEAF, 0, NULL, "not base64", 1, 0},
	    {"bad padding", bad_pad, 1, C_LEAF, 0, NULL, "not base64", 1, 0},
	    {"empty body", empty, 1, C_LEAF, 0, NULL, "not base64", 1, 0},
	    {"not PKCS#7", ok, 1, C_GARBAGE, 0, NULL, "not a PKCS#7", 1, 0},
	    {"HTTP 401 with JSON", unauth, 1, C_LEAF, 0, NULL,
	     "server refused enrollment: HTTP 401: unauthenticated: bootstrap key not recorded", 1,
	     0},
	    {"wrong content type", html, 1, C_LEAF, 0, NULL, "Content-Type 'text/html'", 1, 0},
	    {"HTTP 500 no JSON", oops, 1, C_LEAF, 0, NULL, "HTTP 500: no error details", 1, 0},
	    {"transport down", ok, 1, C_LEAF, 0, "connection refused",
	     "/.well-known/est/device/simpleenroll: connection refused", 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[] = "/tmp/ztmdev-enroll-XXXXXX", sub[64];
		struct fake f;
		struct ztmdev *dev, *again;
		struct ztmdev_status st;
		const char *anchor = rows[i].anchor_root_only ? P.anchor_root : P.anchor;
		int rc;

		snprintf(sub, sizeof(sub), "%s/dev", new_dir(tmpl));
		dev = ztmdev_new(sub);
		assert_non_null(dev);
		assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
		memset(&f, 0, sizeof(f));
		f.replies = rows[i].replies;
		f.n = rows[i].n;
		f.fail = rows[i].transport_fail;
		ztm_buf_init(&f.p7b64, 0);
		make_reply(dev, rows[i].certs, &f.p7b64);
		/* After the issuance: its notBefore is the second it ran in, which
		 * a slow (sanitizer) run can put past a time read before it. */
		f.now = (int64_t)time(NULL);
		ztmdev_set_transport(dev, fake_transport, &f);
		ztmdev_set_clock(dev, fake_now, fake_sleep, &f);
		assert_int_equal(ztmdev_set_anchor(dev, (const uint8_t *)anchor, strlen(anchor)),
		                 0);
		rc = ztmdev_enroll(dev);
		if (rows[i].want == NULL && rc != 0)
			fail_msg("%s: %s", rows[i].name, ztmdev_error(dev));
		if (rows[i].want != NULL &&
		    (rc != -1 || strstr(ztmdev_error(dev), rows[i].want) == NULL))
			fail_msg("%s: rc %d, error '%s', want '%s'", rows[i].name, rc,
			         ztmdev_error(dev), rows[i].want);
		assert_int_equal(f.next, rows[i].want_requests);
		assert_int_equal(f.slept, rows[i].want_slept);
		assert_string_equal(f.method, "POST");
		assert_string_equal(f.path, "/.well-known/est/device/simpleenroll");
		assert_string_equal(f.ctype, "application/pkcs10");
		assert_int_equal(f.cred, ZTMDEV_CRED_BOOTSTRAP);
		assert_true(f.csr_ok);
		/* Success installs and provisions; failure changes nothing.
		 * A fresh context reads the same from the directory. */
		again = ztmdev_new(sub);
		assert_int_equal(ztmdev_status(again, &st), 0);
		assert_int_equal(st.state, rows[i].want == NULL ? ZTMDEV_STATE_PROVISIONED
		                                                : ZTMDEV_STATE_MANUFACTURED);
		assert_int_equal(file_exists(sub, "device.pem"), rows[i].want == NULL);
		if (rows[i].want == NULL) {
			assert_non_null(strstr(st.subject, "CN=widget-SN-1"));
			assert_int_equal(ztmdev_open(again), 0);
			/* Enrolling twice is refused: the device is provisioned. */
			assert_int_equal(ztmdev_enroll(dev), -1);
			assert_non_null(strstr(ztmdev_error(dev), "provisioned"));
		}
		ztmdev_free(again);
		ztmdev_free(dev);
		ztm_buf_free(&f.p7b64);
		rm_dir(tmpl);
	}
}

static void test_enroll_needs_anchor(void **state)
{
	char tmpl[] = "/tmp/ztmdev-enroll-XXXXXX";
	struct ztmdev *dev;
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	(void)state;
	dev = ztmdev_new(new_dir(tmpl));
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
	assert_int_equal(ztmdev_enroll(dev), -1);
	assert_non_null(strstr(ztmdev_error(dev), "no trust anchor"));
	assert_int_equal(ztmdev_set_anchor(dev, (const uint8_t *)"nothing", 7), -1);
	assert_non_null(strstr(ztmdev_error(dev), "trust anchor"));
	assert_int_equal(ztmdev_set_anchor(dev, (const uint8_t *)junk, strlen(junk)), -1);
	assert_non_null(strstr(ztmdev_error(dev), "certificate 1 does not decode"));
	assert_int_equal(ztmdev_enroll(dev), -1);
	assert_non_null(strstr(ztmdev_error(dev), "no trust anchor"));
	ztmdev_free(dev);
	rm_dir(tmpl);
}

static void test_activate_table(void **state)
{
	static const struct canned ok[] = {{200, P7, NULL, -1}};
	static const struct canned yes[] = {{200, JS, "{\"serial\":\"SN-1\"}", -1}};
	static const struct canned no[] = {
	    {403, JS, "{\"error\":\"forbidden\",\"message\":\"device is suspended\"}", -1}};
	static const struct {
		const char *name;
		int enroll_first;
		const struct canned *reply;
		const char *want;
		enum ztmdev_state state;
	} rows[] = {
	    {"active after 200", 1, yes, NULL, ZTMDEV_STATE_ACTIVE},
	    {"403 keeps provisioned", 1, no, "HTTP 403: forbidden: device is suspended",
	     ZTMDEV_STATE_PROVISIONED},
	    {"not enrolled", 0, yes, "enroll before activating", ZTMDEV_STATE_MANUFACTURED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char tmpl[] = "/tmp/ztmdev-act-XXXXXX";
		struct ztmdev *dev;
		struct ztmdev_status st;
		struct fake f;
		int rc;

		dev = ztmdev_new(new_dir(tmpl));
		assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
		memset(&f, 0, sizeof(f));
		f.now = (int64_t)time(NULL);
		ztm_buf_init(&f.p7b64, 0);
		ztmdev_set_transport(dev, fake_transport, &f);
		ztmdev_set_clock(dev, fake_now, fake_sleep, &f);
		assert_int_equal(
		    ztmdev_set_anchor(dev, (const uint8_t *)P.anchor, strlen(P.anchor)), 0);
		if (rows[i].enroll_first) {
			make_reply(dev, C_LEAF, &f.p7b64);
			f.now = (int64_t)time(NULL); /* after the issuance, as above */
			f.replies = ok;
			f.n = 1;
			assert_int_equal(ztmdev_enroll(dev), 0);
		}
		f.replies = rows[i].reply;
		f.n = 1;
		f.next = 0;
		rc = ztmdev_activate(dev);
		if (rows[i].want == NULL && rc != 0)
			fail_msg("%s: %s", rows[i].name, ztmdev_error(dev));
		if (rows[i].want != NULL &&
		    (rc != -1 || strstr(ztmdev_error(dev), rows[i].want) == NULL))
			fail_msg("%s: error '%s'", rows[i].name, ztmdev_error(dev));
		if (rows[i].enroll_first) {
			assert_string_equal(f.method, "GET");
			assert_string_equal(f.path, "/api/v1/device/whoami");
			assert_int_equal(f.cred, ZTMDEV_CRED_OPERATIONAL);
		}
		assert_int_equal(ztmdev_status(dev, &st), 0);
		assert_int_equal(st.state, rows[i].state);
		ztmdev_free(dev);
		ztm_buf_free(&f.p7b64);
		rm_dir(tmpl);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enroll_table),
	    cmocka_unit_test(test_enroll_needs_anchor),
	    cmocka_unit_test(test_activate_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
