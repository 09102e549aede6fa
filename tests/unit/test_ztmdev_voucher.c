/* test_ztmdev_voucher.c - ownership vouchers on the device (docs/vouchers.md):
 * the strict JSON reader as a table of inputs, and ztmdev_voucher_install as
 * a table of vouchers made by a real PKI (root -> signing CA -> voucher
 * signer, a foreign one, a signer without the voucher EKU): good, tampered
 * content, tampered signature, foreign signer, wrong EKU, wrong content
 * type, wrong serial, wrong key, expired, not yet valid, trailing bytes.
 * Every refusal leaves the device directory without an owner. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/cms.h>
#include <openssl/pem.h>

#include "x509_fixture.h"
#include "zd_int.h"
#include "ztm/file.h"
#include "ztm/issue.h"
#include "ztm/pkcs7.h"
#include "ztm/str.h"
#include "ztm/voucher.h"
#include "ztmdev/ztmdev.h"

#define SPKI_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
/* "MA==" is base64 of one byte: the reader does not parse the certificate. */
#define GOOD_MEMBERS                                                                               \
	"\"created-on\":\"2025-01-31T00:00:00Z\",\"expires-on\":\"2025-03-01T12:30:59Z\","         \
	"\"assertion\":\"verified\",\"serial-number\":\"SN-1\",\"pinned-domain-cert\":\"MA==\","   \
	"\"ztm-voucher:device-spki-sha256\":\"" SPKI_A "\""

static void test_parse_table(void **state)
{
	static const struct {
		const char *name, *json, *want; /* want NULL: accepted */
	} rows[] = {
	    {"good", "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS "}}", NULL},
	    {"whitespace", " {\n \"ietf-voucher:voucher\" : {\r\n" GOOD_MEMBERS " } }\n", NULL},
	    {"revocation checks false",
	     "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS
	     ",\"domain-cert-revocation-checks\":false}}",
	     NULL},
	    {"revocation checks true",
	     "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS ",\"domain-cert-revocation-checks\":true}}",
	     NULL},
	    {"revocation checks not boolean",
	     "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS ",\"domain-cert-revocation-checks\":0}}",
	     "true or false"},
	    {"empty", "", "empty"},
	    {"not an object", "[]", "expected '{'"},
	    {"other top member", "{\"voucher\":{" GOOD_MEMBERS "}}", "not ietf-voucher:voucher"},
	    {"two top members", "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS "},\"x\":1}",
	     "expected '}' at the end"},
	    {"trailing bytes", "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS "}}x", "bytes after"},
	    {"unterminated", "{\"ietf-voucher:voucher\":{\"created-on", "unterminated"},
	    {"truncated", "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS, "closing the voucher"},
	    {"unknown member", "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS ",\"nonce\":\"x\"}}",
	     "unknown member 'nonce'"},
	    {"member twice",
	     "{\"ietf-voucher:voucher\":{" GOOD_MEMBERS ",\"serial-number\":\"SN-2\"}}",
	     "serial-number twice"},
	    {"member missing",
	     "{\"ietf-voucher:voucher\":{\"created-on\":\"2025-01-31T00:00:00Z\","
	     "\"expires-on\":\"2025-03-01T00:00:00Z\",\"assertion\":\"verified\","
	     "\"serial-number\":\"SN-1\",\"pinned-domain-cert\":\"MA==\"}}",
	     "device-spki-sha256 missing"},
	    {"escape", "{\"ietf-voucher:voucher\":{\"serial-number\":\"SN\\u0031\"}}", "escape"},
	    {"control byte", "{\"ietf-voucher:voucher\":{\"serial-number\":\"SN\t1\"}}",
	     "byte 0x09"},
	    {"number value", "{\"ietf-voucher:voucher\":{\"serial-number\":1}}", "expected '\"'"},
	    {"nested object", "{\"ietf-voucher:voucher\":{\"assertion\":{}}}", "expected '\"'"},
	    {"February 30", "{\"ietf-voucher:voucher\":{\"created-on\":\"2025-02-30T00:00:00Z\"}}",
	     "created-on: want"},
	    {"leap day ok",
	     "{\"ietf-voucher:voucher\":{\"created-on\":\"2024-02-29T00:00:00Z\","
	     "\"expires-on\":\"2025-03-01T12:30:59Z\",\"assertion\":\"verified\","
	     "\"serial-number\":\"SN-1\",\"pinned-domain-cert\":\"MA==\","
	     "\"ztm-voucher:device-spki-sha256\":\"" SPKI_A "\"}}",
	     NULL},
	    {"fractional seconds",
	     "{\"ietf-voucher:voucher\":{\"created-on\":\"2025-01-31T00:00:00.5Z\"}}",
	     "created-on: want"},
	    {"offset", "{\"ietf-voucher:voucher\":{\"expires-on\":\"2025-01-31T00:00:00+01:00\"}}",
	     "expires-on: want"},
	    {"short hash",
	     "{\"ietf-voucher:voucher\":{\"ztm-voucher:device-spki-sha256\":\"0011\"}}",
	     "64 lower-case hex"},
	    {"upper-case hash",
	     "{\"ietf-voucher:voucher\":{\"ztm-voucher:device-spki-sha256\":"
	     "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\"}}",
	     "64 lower-case hex"},
	    {"bad base64", "{\"ietf-voucher:voucher\":{\"pinned-domain-cert\":\"M!==\"}}",
	     "not base64"},
	    {"empty serial", "{\"ietf-voucher:voucher\":{\"serial-number\":\"\"}}", "1..64"},
	    {"long assertion",
	     "{\"ietf-voucher:voucher\":{\"assertion\":\"verified-and-more-so\"}}",
	     "unknown value"},
	    {"empty voucher", "{\"ietf-voucher:voucher\":{}}", "expected '\"'"},
	};
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	size_t i;

	(void)state;
	assert_non_null(dev);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct zd_voucher v;
		int rc;

		zd_voucher_init(&v);
		rc = zd_voucher_parse(dev, (const uint8_t *)rows[i].json, strlen(rows[i].json), &v);
		if (rows[i].want == NULL && rc != 0)
			fail_msg("%s: refused: %s", rows[i].name, ztmdev_error(dev));
		if (rows[i].want != NULL && rc == 0)
			fail_msg("%s: accepted", rows[i].name);
		if (rows[i].want != NULL && strstr(ztmdev_error(dev), rows[i].want) == NULL)
			fail_msg("%s: error '%s' lacks '%s'", rows[i].name, ztmdev_error(dev),
			         rows[i].want);
		if (rows[i].want == NULL) {
			assert_string_equal(v.serial, "SN-1");
			assert_string_equal(v.assertion, "verified");
			assert_int_equal(v.pinned.len, 1);
			assert_int_equal(v.spki_sha256[31], 0xff);
			assert_int_equal(v.expires_on, 1740832259); /* 2025-03-01T12:30:59Z */
		}
		zd_voucher_free(&v);
	}
	ztmdev_free(dev);
}

/* --- install ----------------------------------------------------------- */

/* root -> signing CA -> voucher signer, and a codesign leaf of the same
 * CA; a foreign root -> voucher signer; the owner's anchor. */
struct pki {
	EVP_PKEY *rk, *ik, *vk, *ck, *fk, *fvk, *ok;
	X509 *root, *mid, *vsign, *csign, *foreign, *fvsign, *owner;
	struct ztm_ca *rca, *ica, *fca;
	char anchor[8192];
	struct ztm_buf reply_b64; /* the device's enrollment reply */
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

static X509 *issue(const struct ztm_ca *ca, EVP_PKEY *key, const char *profile, const char *cn)
{
	const struct ztm_name_attr subj[] = {{ZTM_ATTR_O, "ztm test"}, {ZTM_ATTR_CN, cn}};
	const struct ztm_name_attr dsubj[] = {{ZTM_ATTR_SERIAL, "SN-1"}, {ZTM_ATTR_CN, cn}};
	struct ztm_issue_req req;
	struct ztm_buf spki, der;
	struct ztm_error e;
	const unsigned char *p;
	X509 *x;

	ztm_buf_init(&spki, 0);
	ztm_buf_init(&der, 0);
	fx_spki(key, &spki);
	memset(&req, 0, sizeof(req));
	req.profile = profile;
	req.subject = strcmp(profile, "device") == 0 ? dsubj : subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue(ca, &req, &der, &e) != 0)
		fail_msg("%s: %s", profile, e.msg);
	p = der.data;
	x = d2i_X509(NULL, &p, (long)der.len);
	assert_non_null(x);
	ztm_buf_free(&spki);
	ztm_buf_free(&der);
	return x;
}

static int setup(void **state)
{
	static const struct ztm_name_attr ca_subj[] = {{ZTM_ATTR_O, "ztm test"},
	                                               {ZTM_ATTR_CN, "Codesign CA"}};
	struct ztm_issue_req req;
	struct ztm_buf spki, der;
	struct ztm_error e;
	const unsigned char *p;

	(void)state;
	P.rk = fx_key("P-256");
	P.ik = fx_key("P-256");
	P.vk = fx_key("P-256");
	P.ck = fx_key("P-256");
	P.fk = fx_key("P-256");
	P.fvk = fx_key("P-256");
	P.ok = fx_key("P-256");
	P.root = fx_root(P.rk, "Test Root", 1, 3650);
	P.foreign = fx_root(P.fk, "Foreign Root", 1, 3650);
	P.owner = fx_root(P.ok, "Owner Root", 1, 3650);
	P.rca = fx_ca(P.rk, P.root, NULL);
	P.fca = fx_ca(P.fk, P.foreign, NULL);
	ztm_buf_init(&spki, 0);
	ztm_buf_init(&der, 0);
	fx_spki(P.ik, &spki);
	memset(&req, 0, sizeof(req));
	req.subject = ca_subj;
	req.n_subject = 2;
	req.spki = ztm_buf_slice(&spki);
	req.eku = ZTM_EKU_CODE_SIGN | ZTM_EKU_CLIENT_AUTH;
	assert_int_equal(ztm_serial_new(req.serial, &e), 0);
	if (ztm_issue_ca_cert(P.rca, &req, &der, &e) != 0)
		fail_msg("issuing CA: %s", e.msg);
	p = der.data;
	P.mid = d2i_X509(NULL, &p, (long)der.len);
	assert_non_null(P.mid);
	P.ica = fx_ca(P.ik, P.mid, NULL);
	P.vsign = issue(P.ica, P.vk, "voucher", "voucher signer");
	P.csign = issue(P.ica, P.ck, "codesign", "firmware signer");
	P.fvsign = issue(P.fca, P.fvk, "voucher", "foreign voucher signer");
	pem_of(P.root, P.anchor, sizeof(P.anchor));
	pem_of(P.mid, P.anchor, sizeof(P.anchor));
	ztm_buf_free(&spki);
	ztm_buf_free(&der);
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
	X509_free(P.vsign);
	X509_free(P.csign);
	X509_free(P.foreign);
	X509_free(P.fvsign);
	X509_free(P.owner);
	EVP_PKEY_free(P.rk);
	EVP_PKEY_free(P.ik);
	EVP_PKEY_free(P.vk);
	EVP_PKEY_free(P.ck);
	EVP_PKEY_free(P.fk);
	EVP_PKEY_free(P.fvk);
	EVP_PKEY_free(P.ok);
	ztm_buf_free(&P.reply_b64);
	return 0;
}

/* The enrollment server: one 200 with the device's certificate. */
static int transport(void *arg, const struct ztmdev_request *req, struct ztmdev_response *resp,
                     char *err, size_t errsize)
{
	(void)arg;
	(void)req;
	(void)err;
	(void)errsize;
	assert_true(P.reply_b64.len <= resp->body_cap);
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/pkcs7-mime");
	resp->retry_after = -1;
	memcpy(resp->body, P.reply_b64.data, P.reply_b64.len);
	resp->body_len = P.reply_b64.len;
	return 0;
}

static int64_t clock_now(void *arg)
{
	return *(int64_t *)arg;
}

/* A provisioned device SN-1 in a new directory; *spki_hex its key's hash. */
static struct ztmdev *provisioned(char *dir, char spki_hex[65])
{
	struct ztmdev *dev = ztmdev_new(dir);
	uint8_t csr[4096], md[32];
	size_t len;
	unsigned mdlen;
	const unsigned char *p = csr;
	struct ztm_buf spki, p7;
	struct ztm_slice s;
	X509_REQ *r;
	X509 *leaf;
	unsigned char *der = NULL;
	int n;

	assert_non_null(dev);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
	assert_int_equal(ztmdev_csr(dev, csr, sizeof(csr), &len), 0);
	r = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(r);
	leaf = issue(P.ica, X509_REQ_get0_pubkey(r), "device", "widget-SN-1");
	X509_REQ_free(r);
	ztm_buf_init(&spki, 0);
	ztm_buf_init(&p7, 0);
	n = i2d_X509(leaf, &der);
	assert_true(n > 0);
	s.p = der;
	s.len = (size_t)n;
	assert_int_equal(ztm_p7_certs_only(&s, 1, &p7), 0);
	ztm_buf_reset(&P.reply_b64);
	assert_int_equal(ztm_b64_encode(p7.data, p7.len, 64, &P.reply_b64), 0);
	fx_spki(X509_get0_pubkey(leaf), &spki);
	assert_int_equal(EVP_Digest(spki.data, spki.len, md, &mdlen, EVP_sha256(), NULL), 1);
	ztm_hex(md, sizeof(md), spki_hex);
	ztmdev_set_transport(dev, transport, NULL);
	assert_int_equal(ztmdev_set_anchor(dev, (const uint8_t *)P.anchor, strlen(P.anchor)), 0);
	if (ztmdev_enroll(dev) != 0)
		fail_msg("enroll: %s", ztmdev_error(dev));
	OPENSSL_free(der);
	X509_free(leaf);
	ztm_buf_free(&spki);
	ztm_buf_free(&p7);
	return dev;
}

enum signer { S_GOOD, S_FOREIGN, S_CODESIGN, S_DATA_TYPE };
enum damage { D_NONE, D_CONTENT, D_SIGNATURE, D_TRAILING };

/* A voucher for serial/spki valid [created, expires), signed as chosen. */
static void make_voucher(const char *serial, const char *spki, int64_t created, int64_t expires,
                         enum signer sg, enum damage dmg, struct ztm_buf *out)
{
	struct ztm_voucher v;
	struct ztm_buf json;
	struct ztm_error e;
	unsigned char *anchor = NULL, *der = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *cert = sg == S_FOREIGN ? P.fvsign : sg == S_CODESIGN ? P.csign : P.vsign;
	EVP_PKEY *key = sg == S_FOREIGN ? P.fvk : sg == S_CODESIGN ? P.ck : P.vk;
	int n = i2d_X509(P.owner, &anchor);
	uint8_t *hit;

	ztm_buf_init(&json, 0);
	assert_true(n > 0);
	assert_int_equal(sk_X509_push(chain, sg == S_FOREIGN ? P.foreign : P.mid), 1);
	memset(&v, 0, sizeof(v));
	v.created_on = created;
	v.expires_on = expires;
	v.serial = serial;
	v.pinned = anchor;
	v.pinned_len = (size_t)n;
	v.spki_sha256 = spki;
	assert_int_equal(ztm_voucher_json(&v, &json, &e), 0);
	if (sg == S_DATA_TYPE) {
		/* Signed right, but as plain id-data. */
		BIO *in = BIO_new_mem_buf(json.data, (int)json.len);
		CMS_ContentInfo *cms = CMS_sign(cert, key, chain, in, CMS_BINARY);
		assert_non_null(cms);
		n = i2d_CMS_ContentInfo(cms, &der);
		assert_true(n > 0);
		assert_int_equal(ztm_buf_append(out, der, (size_t)n), 0);
		CMS_ContentInfo_free(cms);
		BIO_free(in);
	} else if (ztm_voucher_sign(json.data, json.len, cert, key, chain, out, &e) != 0) {
		fail_msg("sign: %s", e.msg);
	}
	switch (dmg) {
	case D_CONTENT: /* "SN-1" -> "SN-2" inside the signed JSON */
		hit = memmem(out->data, out->len, "\"SN-1\"", 6);
		assert_non_null(hit);
		hit[4] = '2';
		break;
	case D_SIGNATURE: /* the last byte is the signature's */
		out->data[out->len - 1] ^= 0x01;
		break;
	case D_TRAILING:
		assert_int_equal(ztm_buf_append(out, "\0", 1), 0);
		break;
	default:
		break;
	}
	OPENSSL_free(der);
	OPENSSL_free(anchor);
	sk_X509_free(chain);
	ztm_buf_free(&json);
}

static int has_file(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void test_install_table(void **state)
{
	const int64_t t0 = (int64_t)time(NULL), day = 86400;
	static const char other_spki[] = SPKI_A;
	static const struct {
		const char *name;
		enum signer signer;
		enum damage damage;
		int wrong_serial, wrong_key;
		int64_t created, expires, clock; /* days from now */
		const char *want;                /* NULL: installed */
	} rows[] = {
	    {"good", S_GOOD, D_NONE, 0, 0, 0, 30, 0, NULL},
	    {"tampered content", S_GOOD, D_CONTENT, 0, 0, 0, 30, 0, "signature does not verify"},
	    {"tampered signature", S_GOOD, D_SIGNATURE, 0, 0, 0, 30, 0,
	     "signature does not verify"},
	    {"bytes after", S_GOOD, D_TRAILING, 0, 0, 0, 30, 0, "bytes after"},
	    {"signer from a foreign CA", S_FOREIGN, D_NONE, 0, 0, 0, 30, 0,
	     "does not chain to the pinned root"},
	    {"signer without the voucher EKU", S_CODESIGN, D_NONE, 0, 0, 0, 30, 0,
	     "not a voucher signer"},
	    {"content type id-data", S_DATA_TYPE, D_NONE, 0, 0, 0, 30, 0, "id-ct-animaJSONVoucher"},
	    {"wrong serial", S_GOOD, D_NONE, 1, 0, 0, 30, 0, "for serial SN-2"},
	    {"wrong key", S_GOOD, D_NONE, 0, 1, 0, 30, 0, "another key"},
	    {"expired", S_GOOD, D_NONE, 0, 0, -30, -1, 0, "expired"},
	    {"not yet valid", S_GOOD, D_NONE, 0, 0, 2, 30, 1, "not yet valid"},
	    {"expired by the device's clock", S_GOOD, D_NONE, 0, 0, 0, 30, 31, "expired"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char dir[] = "/tmp/ztmdev-voucher-XXXXXX", spki[65];
		struct ztmdev_status st;
		struct ztm_buf v;
		struct ztmdev *dev;
		int64_t now = t0 + rows[i].clock * day;
		int rc;

		assert_non_null(mkdtemp(dir));
		rmdir(dir);
		dev = provisioned(dir, spki);
		ztmdev_set_clock(dev, clock_now, NULL, &now);
		ztm_buf_init(&v, 0);
		make_voucher(rows[i].wrong_serial ? "SN-2" : "SN-1",
		             rows[i].wrong_key ? other_spki : spki, t0 + rows[i].created * day,
		             t0 + rows[i].expires * day, rows[i].signer, rows[i].damage, &v);
		rc = ztmdev_voucher_install(dev, v.data, v.len);
		if (rows[i].want == NULL) {
			if (rc != 0)
				fail_msg("%s: refused: %s", rows[i].name, ztmdev_error(dev));
			assert_true(has_file(dir, "owner.pem"));
			assert_true(has_file(dir, "voucher.cms"));
			assert_int_equal(ztmdev_status(dev, &st), 0);
			assert_non_null(strstr(st.owner_subject, "CN=Owner Root"));
			/* The same voucher again: idempotent. */
			assert_int_equal(ztmdev_voucher_install(dev, v.data, v.len), 0);
		} else {
			if (rc == 0)
				fail_msg("%s: installed", rows[i].name);
			if (strstr(ztmdev_error(dev), rows[i].want) == NULL)
				fail_msg("%s: error '%s' lacks '%s'", rows[i].name,
				         ztmdev_error(dev), rows[i].want);
			assert_false(has_file(dir, "owner.pem"));
			assert_false(has_file(dir, "voucher.cms"));
			assert_int_equal(ztmdev_status(dev, &st), 0);
			assert_string_equal(st.owner_subject, "");
		}
		ztm_buf_free(&v);
		ztmdev_free(dev);
		{
			char cmd[128];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			assert_int_equal(system(cmd), 0);
		}
	}
}

/* Files of dir/name, whole. */
static void read_all(const char *dir, const char *name, struct ztm_buf *out)
{
	char path[256];
	struct ztm_error e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out->len = 0;
	if (ztm_file_read(path, 1 << 20, out, &e) != 0)
		fail_msg("%s", e.msg);
}

/* An older voucher, however valid, cannot take the device back (a replay
 * of an earlier owner's voucher); a newer one transfers; the installed one
 * again is a retry, not a replay. */
static void test_install_replay(void **state)
{
	const int64_t t0 = (int64_t)time(NULL), day = 86400;
	char dir[] = "/tmp/ztmdev-voucher-XXXXXX", spki[65], cmd[128];
	struct ztm_buf older, newer, same_time, kept;
	struct ztmdev *dev;

	(void)state;
	assert_non_null(mkdtemp(dir));
	rmdir(dir);
	dev = provisioned(dir, spki);
	ztm_buf_init(&older, 0);
	ztm_buf_init(&newer, 0);
	ztm_buf_init(&same_time, 0);
	ztm_buf_init(&kept, 0);
	make_voucher("SN-1", spki, t0 - 2 * day, t0 + 30 * day, S_GOOD, D_NONE, &older);
	make_voucher("SN-1", spki, t0 - day, t0 + 30 * day, S_GOOD, D_NONE, &newer);
	/* Same created-on as `newer`, other bytes (expires-on differs). */
	make_voucher("SN-1", spki, t0 - day, t0 + 29 * day, S_GOOD, D_NONE, &same_time);
	if (ztmdev_voucher_install(dev, older.data, older.len) != 0 ||
	    ztmdev_voucher_install(dev, newer.data, newer.len) != 0)
		fail_msg("in order: %s", ztmdev_error(dev));
	assert_int_not_equal(ztmdev_voucher_install(dev, older.data, older.len), 0);
	assert_non_null(strstr(ztmdev_error(dev), "not after the installed voucher"));
	assert_int_not_equal(ztmdev_voucher_install(dev, same_time.data, same_time.len), 0);
	assert_non_null(strstr(ztmdev_error(dev), "not after the installed voucher"));
	read_all(dir, "voucher.cms", &kept);
	assert_int_equal(kept.len, newer.len);
	assert_memory_equal(kept.data, newer.data, newer.len);
	/* The installed voucher again (a retry after a power cut). */
	if (ztmdev_voucher_install(dev, newer.data, newer.len) != 0)
		fail_msg("retry: %s", ztmdev_error(dev));
	ztm_buf_free(&older);
	ztm_buf_free(&newer);
	ztm_buf_free(&same_time);
	ztm_buf_free(&kept);
	ztmdev_free(dev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Before enrollment there is no operational key to bind: refused. */
static void test_install_needs_operational(void **state)
{
	char dir[] = "/tmp/ztmdev-voucher-XXXXXX", cmd[128];
	struct ztmdev *dev;

	(void)state;
	assert_non_null(mkdtemp(dir));
	rmdir(dir);
	dev = ztmdev_new(dir);
	assert_int_equal(ztmdev_init(dev, "SN-1", "widget"), 0);
	assert_int_equal(ztmdev_set_anchor(dev, (const uint8_t *)P.anchor, strlen(P.anchor)), 0);
	assert_int_equal(ztmdev_voucher_install(dev, (const uint8_t *)"\x30\x00", 2), -1);
	assert_non_null(strstr(ztmdev_error(dev), "operational certificate first"));
	ztmdev_free(dev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_install_table),
	    cmocka_unit_test(test_install_replay),
	    cmocka_unit_test(test_install_needs_operational),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
