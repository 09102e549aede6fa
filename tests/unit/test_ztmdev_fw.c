/* test_ztmdev_fw.c - firmware verification on the device
 * (docs/firmware-manifest.md, include/ztmdev/ztmdev_fw.h): the strict
 * claims reader as a table of canonical and non-canonical CBOR, the
 * manifest reader's refusals, and the verifier as a table of manifests and
 * CMS signatures made in the test (test_fw_util.h) - accepts for P-256,
 * P-384 and Ed25519 signers in both forms, and each refusal of the issue
 * with the stage (begin, update, final) it must fail at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_fw_util.h"
#include "zd_cbor.h"
#include "zd_fw.h"
#include "zd_int.h"
#include "ztmdev/ztmdev_fw.h"

#define IMAGE_LEN 200003 /* not a multiple of any chunk size below */

static struct tf_pki K;
static uint8_t *image;
static uint8_t image_sha[32];

/* --- the claims reader -------------------------------------------------- */

/* The pieces of a good claims map (keys 1..9), hex. */
#define C1  "0166776964676574" /* 1: "widget" */
#define C2  "0265312e342e32"   /* 2: "1.4.2" */
#define C3  "0305"             /* 3: 5 */
#define C4  "04190400"         /* 4: 1024 */
#define C5  "052f"             /* 5: -16 */
#define DIG "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define C6  "065820" DIG   /* 6: 32 bytes */
#define C7  "0700"         /* 7: 0 */
#define C8  "08182a"       /* 8: 42 */
#define C9  "091a65000000" /* 9: 0x65000000 */
#define ALL C1 C2 C3 C4 C5 C6 C7 C8 C9

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2, i;
	unsigned v;

	assert_true(n <= cap);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_claims_table(void **state)
{
	static const struct {
		const char *name, *hex, *want; /* want NULL: accepted */
	} rows[] = {
	    {"good", "a9" ALL, NULL},
	    {"trailing byte", "a9" ALL "00", "bytes after"},
	    {"truncated", "a9" C1 C2 C3 C4 C5 C6 C7 C8 "091a650000", "truncated"},
	    {"indefinite map", "bf" ALL "ff", "indefinite"},
	    {"map length not shortest", "b809" ALL, "shortest"},
	    {"uint not shortest", "a9" C1 C2 "031805" C4 C5 C6 C7 C8 C9, "shortest"},
	    {"size not shortest", "a9" C1 C2 C3 "041a00000400" C5 C6 C7 C8 C9, "shortest"},
	    {"key not shortest",
	     "a9"
	     "1801"
	     "66776964676574" C2 C3 C4 C5 C6 C7 C8 C9,
	     "shortest"},
	    {"tstr length not shortest",
	     "a9"
	     "01780677696467657"
	     "4" C2 C3 C4 C5 C6 C7 C8 C9,
	     "shortest"},
	    {"indefinite tstr",
	     "a9"
	     "017f6677696467657"
	     "4ff" C2 C3 C4 C5 C6 C7 C8 C9,
	     "indefinite"},
	    {"keys out of order", "a9" C2 C1 C3 C4 C5 C6 C7 C8 C9, "ascending"},
	    {"duplicate key", "aa" C1 C1 C2 C3 C4 C5 C6 C7 C8 C9, "ascending"},
	    {"unknown key 10", "aa" ALL "0a00", "unknown claim key 10"},
	    {"unknown key 0",
	     "aa"
	     "0000" ALL,
	     "unknown claim key 0"},
	    {"negative key",
	     "a9"
	     "2000" C2 C3 C4 C5 C6 C7 C8 C9,
	     "unknown claim key -1"},
	    {"text key",
	     "a9"
	     "616101" C2 C3 C4 C5 C6 C7 C8 C9,
	     "CBOR integer"},
	    {"missing key", "a8" C1 C2 C3 C4 C5 C6 C7 C8, "missing"},
	    {"float value", "a9" C1 C2 "03f90000" C4 C5 C6 C7 C8 C9, "float"},
	    {"true value", "a9" C1 C2 C3 C4 C5 C6 "07f5" C8 C9, "float or simple"},
	    {"tagged value", "a9" C1 C2 C3 C4 C5 "06c25820" DIG C7 C8 C9, "unexpected CBOR type"},
	    {"not a map", "89" ALL, "not a CBOR map"},
	    {"empty product",
	     "a9"
	     "0160" C2 C3 C4 C5 C6 C7 C8 C9,
	     "product: not 1-64"},
	    {"version bad char", "a9" C1 "0265312e342f32" C3 C4 C5 C6 C7 C8 C9,
	     "version: a byte outside"},
	    {"product as bstr",
	     "a9"
	     "0146776964676574" C2 C3 C4 C5 C6 C7 C8 C9,
	     "unexpected CBOR type"},
	    {"svn 2^32", "a9" C1 C2 "031b0000000100000000" C4 C5 C6 C7 C8 C9,
	     "security_version: out of range"},
	    {"svn negative", "a9" C1 C2 "0320" C4 C5 C6 C7 C8 C9, "unexpected CBOR type"},
	    {"size 0", "a9" C1 C2 C3 "0400" C5 C6 C7 C8 C9, "size: out of range"},
	    {"size 2^40+1", "a9" C1 C2 C3 "041b0000010000000001" C5 C6 C7 C8 C9,
	     "size: out of range"},
	    {"digest_alg SHA-384",
	     "a9" C1 C2 C3 C4 "0538"
	     "2a" C6 C7 C8 C9,
	     "not -16"},
	    {"digest 31 bytes",
	     "a9" C1 C2 C3 C4 C5 "06581f"
	     "0102030405060708090a0b0c0d0e0f10"
	     "1112131415161718191a1b1c1d1e1f" C7 C8 C9,
	     "digest: not 32 bytes"},
	    {"channel 2", "a9" C1 C2 C3 C4 C5 C6 "0702" C8 C9, "channel: out of range"},
	    {"reserved head", "a9" C1 C2 C3 C4 C5 C6 C7 "081c" C9, "reserved"},
	};
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct zd_fw_claims c;
	uint8_t in[512];
	size_t i, n;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = unhex(rows[i].hex, in, sizeof(in));
		rc = zd_fw_claims_parse(dev, in, n, &c);
		if ((rows[i].want == NULL) != (rc == 0) ||
		    (rows[i].want != NULL && strstr(ztmdev_error(dev), rows[i].want) == NULL))
			fail_msg("%s: rc %d, error \"%s\", want \"%s\"", rows[i].name, rc,
			         ztmdev_error(dev), rows[i].want ? rows[i].want : "(accepted)");
	}
	/* The good row's values. */
	n = unhex("a9" ALL, in, sizeof(in));
	assert_int_equal(zd_fw_claims_parse(dev, in, n, &c), 0);
	assert_string_equal(c.product, "widget");
	assert_string_equal(c.version, "1.4.2");
	assert_int_equal(c.security_version, 5);
	assert_int_equal(c.size, 1024);
	assert_int_equal(c.digest[31], 0x1f);
	assert_int_equal(c.channel, 0);
	assert_int_equal(c.release, 42);
	assert_int_equal(c.signed_at, 0x65000000);
	ztmdev_free(dev);
}

/* The reader's heads, shortest forms at each boundary. */
static void test_cbor_heads(void **state)
{
	static const struct {
		const char *hex;
		int64_t v;
		int ok;
	} rows[] = {
	    {"17", 23, 1},
	    {"1817", 0, 0},
	    {"1818", 24, 1},
	    {"18ff", 255, 1},
	    {"190100", 256, 1},
	    {"1900ff", 0, 0},
	    {"1a00010000", 65536, 1},
	    {"1a0000ffff", 0, 0},
	    {"1b0000000100000000", 4294967296LL, 1},
	    {"1b00000000ffffffff", 0, 0},
	    {"1b7fffffffffffffff", INT64_MAX, 1},
	    {"1b8000000000000000", 0, 0}, /* beyond int64 */
	    {"3b7fffffffffffffff", INT64_MIN, 1},
	    {"20", -1, 1},
	    {"1f", 0, 0},
	    {"19ff", 0, 0},
	};
	struct zd_cbor r;
	uint8_t in[16];
	size_t i, n;
	int64_t v;
	struct zd_buf b;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = unhex(rows[i].hex, in, sizeof(in));
		zd_cbor_init(&r, in, n);
		if ((zd_cbor_int(&r, &v) == 0 && zd_cbor_end(&r) == 0) != rows[i].ok)
			fail_msg("%s: want %s (%s)", rows[i].hex, rows[i].ok ? "ok" : "refused",
			         r.err);
		if (rows[i].ok)
			assert_true(v == rows[i].v);
	}
	/* The writer's heads read back. */
	zd_buf_init(&b, 64);
	assert_int_equal(zd_cbor_put_head(&b, ZD_CBOR_UINT, 65535), 0);
	assert_int_equal(b.len, 3);
	zd_cbor_init(&r, b.p, b.len);
	assert_int_equal(zd_cbor_int(&r, &v), 0);
	assert_true(v == 65535);
	zd_buf_free(&b);
}

/* --- the manifest reader ------------------------------------------------ */

static void good_claims(struct tf_claims *c)
{
	memset(c, 0, sizeof(*c));
	c->product = TF_PRODUCT;
	c->version = "1.4.2";
	c->svn = 5;
	c->size = IMAGE_LEN;
	memcpy(c->digest, image_sha, 32);
	c->channel = 0;
	c->release = 7;
	c->signed_at = 1760000000;
}

static void test_manifest_reader(void **state)
{
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct tf_buf claims = {0}, m = {0}, bad = {0};
	struct tf_claims c;
	struct zd_fw_manifest zm;
	X509 *chain[2] = {K.cert[TF_P256], K.ca};

	(void)state;
	good_claims(&c);
	tf_claims_encode(&c, &claims);
	tf_manifest(K.key[TF_P256], chain, 2, 0, &claims, &m);
	zd_fw_manifest_init(&zm);
	assert_int_equal(zd_fw_manifest_parse(dev, m.p, m.len, &zm), 0);
	assert_int_equal(zm.alg, -7);
	assert_int_equal(zm.chain.n, 2);
	assert_int_equal(zm.sig_len, 64);
	zd_fw_manifest_free(&zm);
	/* Untagged. */
	zd_fw_manifest_init(&zm);
	assert_int_equal(zd_fw_manifest_parse(dev, m.p + 1, m.len - 1, &zm), -1);
	assert_non_null(strstr(ztmdev_error(dev), "tag 18"));
	zd_fw_manifest_free(&zm);
	/* Trailing byte. */
	tf_put(&bad, m.p, m.len);
	tf_put(&bad, "", 1);
	zd_fw_manifest_init(&zm);
	assert_int_equal(zd_fw_manifest_parse(dev, bad.p, bad.len, &zm), -1);
	assert_non_null(strstr(ztmdev_error(dev), "bytes after"));
	zd_fw_manifest_free(&zm);
	/* Over 16 KiB. */
	zd_fw_manifest_init(&zm);
	assert_int_equal(zd_fw_manifest_parse(dev, m.p, ZTMDEV_FW_MANIFEST_MAX + 1, &zm), -1);
	assert_non_null(strstr(ztmdev_error(dev), "larger than"));
	zd_fw_manifest_free(&zm);
	/* Every truncation is refused. */
	for (size_t n = 0; n < m.len; n += 7) {
		zd_fw_manifest_init(&zm);
		assert_int_equal(zd_fw_manifest_parse(dev, m.p, n, &zm), -1);
		zd_fw_manifest_free(&zm);
	}
	tf_free(&claims);
	tf_free(&m);
	tf_free(&bad);
	ztmdev_free(dev);
}

/* --- the verifier ------------------------------------------------------- */

enum stage { ACCEPT = 0, AT_BEGIN, AT_UPDATE, AT_FINAL };

struct row {
	const char *name;
	char form; /* 'M' manifest, 'C' CMS */
	enum tf_signer signer;
	const char *product; /* claims; NULL: TF_PRODUCT */
	int channel;         /* claims */
	uint32_t svn;        /* claims (device counter: 5) */
	long image_delta;    /* streamed length - IMAGE_LEN */
	int flip;            /* 1: a byte of the image, 2: the signature's last byte */
	int trailing;        /* a byte after the signature */
	int extra_key;       /* claims */
	int test_device;
	int wrong_digest; /* claims digest of other bytes */
	int no_ca;        /* chain without the codesign CA */
	enum stage stage;
	const char *want;
};

static const struct row rows[] = {
    {"P-256 manifest", 'M', TF_P256, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"P-384 manifest", 'M', TF_P384, NULL, 0, 9, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"Ed25519 manifest", 'M', TF_ED25519, NULL, 0, 6, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"P-256 CMS", 'C', TF_P256, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"P-384 CMS", 'C', TF_P384, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"Ed25519 CMS", 'C', TF_ED25519, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, ACCEPT, NULL},
    {"test channel on a test device", 'M', TF_TEST, NULL, 1, 5, 0, 0, 0, 0, 1, 0, 0, ACCEPT, NULL},
    {"test channel CMS on a test device", 'C', TF_TEST, NULL, 1, 5, 0, 0, 0, 0, 1, 0, 0, ACCEPT,
     NULL},
    {"production on a test device", 'M', TF_P256, NULL, 0, 5, 0, 0, 0, 0, 1, 0, 0, ACCEPT, NULL},
    /* Refusals of the issue, both forms. */
    {"truncated image", 'M', TF_P256, NULL, 0, 5, -1, 0, 0, 0, 0, 0, 0, AT_FINAL, "truncated"},
    {"truncated image CMS", 'C', TF_P384, NULL, 0, 5, -1, 0, 0, 0, 0, 0, 0, AT_FINAL, "truncated"},
    {"empty image", 'M', TF_P256, NULL, 0, 5, -IMAGE_LEN, 0, 0, 0, 0, 0, 0, AT_FINAL, "truncated"},
    {"extended image", 'M', TF_P256, NULL, 0, 5, 1, 0, 0, 0, 0, 0, 0, AT_UPDATE,
     "longer than its signed size"},
    {"extended image CMS", 'C', TF_P256, NULL, 0, 5, 1, 0, 0, 0, 0, 0, 0, AT_UPDATE,
     "longer than its signed size"},
    {"flipped image byte", 'M', TF_P256, NULL, 0, 5, 0, 1, 0, 0, 0, 0, 0, AT_FINAL,
     "differs from the signed digest"},
    {"flipped image byte CMS", 'C', TF_ED25519, NULL, 0, 5, 0, 1, 0, 0, 0, 0, 0, AT_FINAL,
     "differs"},
    {"claims digest not the image's CMS", 'C', TF_P384, NULL, 0, 5, 0, 0, 0, 0, 0, 1, 0, AT_FINAL,
     "differs from the signed digest"},
    {"another product", 'M', TF_P256, "gadget", 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "for product \"gadget\""},
    {"another product CMS", 'C', TF_P256, "gadget", 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "for product \"gadget\""},
    {"lower security version", 'M', TF_P256, NULL, 0, 4, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN, "rollback"},
    {"lower security version CMS", 'C', TF_P256, NULL, 0, 4, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "rollback"},
    {"signer without codeSigning", 'M', TF_NO_EKU, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "id-kp-codeSigning"},
    {"signer without codeSigning CMS", 'C', TF_NO_EKU, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "id-kp-codeSigning"},
    {"signer from a foreign CA", 'M', TF_FOREIGN, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "does not chain"},
    {"signer from a foreign CA CMS", 'C', TF_FOREIGN, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "does not chain"},
    {"chain without the CA", 'M', TF_P256, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 1, AT_BEGIN,
     "does not chain"},
    {"test channel claim on production", 'M', TF_P256, NULL, 1, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "channel claim"},
    {"test channel claim on production CMS", 'C', TF_P256, NULL, 1, 5, 0, 0, 0, 0, 0, 0, 0,
     AT_BEGIN, "channel claim"},
    {"test signer on production", 'M', TF_TEST, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "signer certificate policy"},
    {"test signer on production CMS", 'C', TF_TEST, NULL, 0, 5, 0, 0, 0, 0, 0, 0, 0, AT_BEGIN,
     "signer certificate policy"},
    {"signer without channel policy", 'M', TF_NO_POLICY, NULL, 0, 5, 0, 0, 0, 0, 1, 0, 0, AT_BEGIN,
     "channel policy"},
    {"bad signature", 'M', TF_P256, NULL, 0, 5, 0, 2, 0, 0, 0, 0, 0, AT_BEGIN, "does not verify"},
    {"bad signature P-384", 'M', TF_P384, NULL, 0, 5, 0, 2, 0, 0, 0, 0, 0, AT_BEGIN,
     "does not verify"},
    {"bad signature Ed25519", 'M', TF_ED25519, NULL, 0, 5, 0, 2, 0, 0, 0, 0, 0, AT_BEGIN,
     "does not verify"},
    {"bad signature CMS", 'C', TF_P256, NULL, 0, 5, 0, 2, 0, 0, 0, 0, 0, AT_BEGIN, "CMS"},
    {"bad signature Ed25519 CMS", 'C', TF_ED25519, NULL, 0, 5, 0, 2, 0, 0, 0, 0, 0, AT_BEGIN,
     "does not verify"},
    {"trailing bytes", 'M', TF_P256, NULL, 0, 5, 0, 0, 1, 0, 0, 0, 0, AT_BEGIN, "bytes after"},
    {"trailing bytes CMS", 'C', TF_P256, NULL, 0, 5, 0, 0, 1, 0, 0, 0, 0, AT_BEGIN, "bytes after"},
    {"unknown claim key", 'M', TF_P256, NULL, 0, 5, 0, 0, 0, 10, 0, 0, 0, AT_BEGIN,
     "unknown claim key 10"},
    {"unknown claim key CMS", 'C', TF_P256, NULL, 0, 5, 0, 0, 0, 10, 0, 0, 0, AT_BEGIN,
     "unknown claim key 10"},
};

/* ZTM_FUZZ_SEEDS=DIR: the rows' signatures as fuzz seeds (docs/fuzzing.md):
 * DIR/fuzz_fw_manifest/<n> (manifests) and DIR/fuzz_fw_cms/<n> (framed: the
 * root, flags, image length, the signature). */
static void write_seed(const char *target, size_t n, const struct row *r, const struct tf_buf *sig)
{
	const char *dir = getenv("ZTM_FUZZ_SEEDS");
	char path[512];
	unsigned char *root = NULL;
	int root_len;
	FILE *f;

	if (dir == NULL || (strcmp(target, "fuzz_fw_manifest") == 0 && r->form != 'M'))
		return;
	snprintf(path, sizeof(path), "%s/%s/row-%02zu", dir, target, n);
	f = fopen(path, "wb");
	if (f == NULL)
		fail_msg("%s: cannot write (make the directory)", path);
	if (strcmp(target, "fuzz_fw_cms") == 0) {
		root_len = i2d_X509(K.root, &root);
		assert_true(root_len > 0);
		fputc(root_len >> 8, f);
		fputc(root_len & 0xff, f);
		fwrite(root, 1, (size_t)root_len, f);
		fputc(r->test_device, f);
		fputc(0, f);
		fputc(0, f);
		OPENSSL_free(root);
	}
	fwrite(sig->p, 1, sig->len, f);
	assert_int_equal(fclose(f), 0);
}

static void make_sig(const struct row *r, struct tf_buf *sig)
{
	struct tf_buf claims = {0};
	struct tf_claims c;
	X509 *ca = r->signer == TF_FOREIGN ? K.fca : K.ca;
	X509 *chain[2] = {K.cert[r->signer], ca};

	good_claims(&c);
	if (r->product != NULL)
		c.product = r->product;
	c.channel = (uint64_t)r->channel;
	c.svn = r->svn;
	c.extra_key = r->extra_key;
	if (r->wrong_digest)
		c.digest[0] ^= 1;
	tf_claims_encode(&c, &claims);
	if (r->form == 'M')
		tf_manifest(K.key[r->signer], chain, r->no_ca ? 1 : 2, 0, &claims, sig);
	else
		tf_cms(K.key[r->signer], K.cert[r->signer], r->no_ca ? NULL : ca, &claims, image,
		       IMAGE_LEN, sig);
	if (r->flip == 2)
		sig->p[sig->len - 1] ^= 0x01;
	if (r->trailing)
		tf_put(sig, "", 1);
	tf_free(&claims);
}

static void policy_of(struct ztmdev_fw_policy *pol, int test_device, struct tf_svn *svn)
{
	memset(pol, 0, sizeof(*pol));
	pol->roots = (const uint8_t *)K.root_pem;
	pol->roots_len = strlen(K.root_pem);
	pol->product = TF_PRODUCT;
	pol->test_device = test_device;
	pol->svn_read = tf_svn_read;
	pol->svn_write = tf_svn_write;
	pol->svn_arg = svn;
}

static char err_copy[512];

/* Streams len bytes of img in chunks of varying size; the stage that failed. */
static enum stage run(struct ztmdev *dev, const uint8_t *sig, size_t sig_len,
                      const struct ztmdev_fw_policy *pol, const uint8_t *img, size_t len,
                      struct ztmdev_fw_result *res)
{
	static const size_t chunks[] = {1, 4096, 65536, 333, 7};
	struct ztmdev_fw *fw = ztmdev_fw_begin(dev, sig, sig_len, pol);
	size_t off = 0, k = 0, n;
	enum stage st = ACCEPT;

	err_copy[0] = '\0';
	if (fw == NULL) {
		snprintf(err_copy, sizeof(err_copy), "%s", ztmdev_error(dev));
		return AT_BEGIN;
	}
	while (off < len) {
		n = chunks[k++ % 5];
		if (n > len - off)
			n = len - off;
		if (ztmdev_fw_update(fw, img + off, n) != 0) {
			st = AT_UPDATE;
			break;
		}
		off += n;
	}
	if (st == ACCEPT && ztmdev_fw_final(fw, res) != 0)
		st = AT_FINAL;
	/* A failed context stays failed. */
	if (st != ACCEPT) {
		char why[512];
		snprintf(why, sizeof(why), "%s", ztmdev_error(dev));
		assert_int_equal(ztmdev_fw_update(fw, img, 1), -1);
		assert_int_equal(ztmdev_fw_final(fw, res), -1);
		assert_int_equal(ztmdev_fw_commit_svn(fw), -1);
		ztmdev_fw_free(fw);
		snprintf(err_copy, sizeof(err_copy), "%s", why);
		return st;
	}
	ztmdev_fw_free(fw);
	return st;
}

static void test_verify_table(void **state)
{
	static const char *stages[] = {"accept", "begin", "update", "final"};
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	uint8_t *img = malloc(IMAGE_LEN + 1);
	struct ztmdev_fw_policy pol;
	struct ztmdev_fw_result res;
	struct tf_svn svn;
	struct tf_buf sig = {0};
	enum stage st;
	size_t i;

	(void)state;
	assert_non_null(img);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		sig.len = 0;
		make_sig(r, &sig);
		write_seed("fuzz_fw_manifest", i, r, &sig);
		write_seed("fuzz_fw_cms", i, r, &sig);
		memcpy(img, image, IMAGE_LEN);
		img[IMAGE_LEN] = 0x5a;
		if (r->flip == 1)
			img[IMAGE_LEN / 2] ^= 0x80;
		memset(&svn, 0, sizeof(svn));
		svn.value = 5;
		policy_of(&pol, r->test_device, &svn);
		memset(&res, 0, sizeof(res));
		st =
		    run(dev, sig.p, sig.len, &pol, img, (size_t)(IMAGE_LEN + r->image_delta), &res);
		if (st != r->stage || (r->want != NULL && strstr(err_copy, r->want) == NULL))
			fail_msg("%s: %s with \"%s\"; want %s with \"%s\"", r->name, stages[st],
			         err_copy, stages[r->stage], r->want ? r->want : "");
		if (st == ACCEPT) {
			assert_int_equal(res.format,
			                 r->form == 'M' ? ZTMDEV_FW_MANIFEST : ZTMDEV_FW_CMS);
			assert_string_equal(res.product, TF_PRODUCT);
			assert_string_equal(res.version, "1.4.2");
			assert_int_equal(res.security_version, r->svn);
			assert_int_equal(res.size, IMAGE_LEN);
			assert_memory_equal(res.sha256, image_sha, 32);
			assert_int_equal(res.channel, r->channel);
			assert_non_null(strstr(res.signer, "CN=fw "));
		}
		assert_int_equal(svn.writes, 0); /* verification never writes the counter */
	}
	tf_free(&sig);
	free(img);
	ztmdev_free(dev);
}

/* Policy and usage errors of the API itself. */
static void test_policy_errors(void **state)
{
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct ztmdev_fw_policy pol;
	struct tf_svn svn = {5, 0, 0};
	struct tf_buf sig = {0};
	uint8_t der[4096];
	unsigned char *d = der;
	int n;

	(void)state;
	make_sig(&rows[0], &sig);
	policy_of(&pol, 0, &svn);
	/* No counter reader: default fail. */
	pol.svn_read = NULL;
	assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
	assert_non_null(strstr(ztmdev_error(dev), "security-version reader"));
	/* The counter cannot be read. */
	policy_of(&pol, 0, &svn);
	svn.fail_read = 1;
	assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
	assert_non_null(strstr(ztmdev_error(dev), "cannot be read"));
	svn.fail_read = 0;
	/* No root. */
	pol.roots_len = 0;
	assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
	assert_non_null(strstr(ztmdev_error(dev), "pinned"));
	/* The root as DER works like PEM. */
	n = i2d_X509(K.root, &d);
	assert_true(n > 0);
	pol.roots = der;
	pol.roots_len = (size_t)n;
	{
		struct ztmdev_fw *fw = ztmdev_fw_begin(dev, sig.p, sig.len, &pol);
		assert_non_null(fw);
		ztmdev_fw_free(fw);
	}
	/* The codesign CA pinned instead of the root: no self-signed root. */
	policy_of(&pol, 0, &svn);
	{
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long len;
		assert_int_equal(PEM_write_bio_X509(b, K.ca), 1);
		len = BIO_get_mem_data(b, &p);
		pol.roots = (const uint8_t *)p;
		pol.roots_len = (size_t)len;
		assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
		assert_non_null(strstr(ztmdev_error(dev), "no self-signed root"));
		BIO_free(b);
	}
	/* Neither form. */
	policy_of(&pol, 0, &svn);
	assert_null(ztmdev_fw_begin(dev, (const uint8_t *)"hello", 5, &pol));
	assert_non_null(strstr(ztmdev_error(dev), "neither"));
	tf_free(&sig);
	ztmdev_free(dev);
}

/* verify -> install -> commit: the counter rises, never falls, and only
 * after an accepted image. */
static void test_commit_svn(void **state)
{
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct ztmdev_fw_policy pol;
	struct ztmdev_fw *fw;
	struct tf_svn svn = {5, 0, 0};
	struct tf_buf sig = {0};
	struct row r = rows[1]; /* P-384 manifest, security version 9 */

	(void)state;
	make_sig(&r, &sig);
	policy_of(&pol, 0, &svn);
	fw = ztmdev_fw_begin(dev, sig.p, sig.len, &pol);
	assert_non_null(fw);
	assert_int_equal(ztmdev_fw_commit_svn(fw), -1); /* not before final */
	assert_non_null(strstr(ztmdev_error(dev), "only an accepted image"));
	assert_int_equal(ztmdev_fw_update(fw, image, IMAGE_LEN), 0);
	assert_int_equal(ztmdev_fw_final(fw, NULL), 0);
	assert_int_equal(svn.writes, 0);
	assert_int_equal(ztmdev_fw_commit_svn(fw), 0);
	assert_int_equal(svn.value, 9);
	assert_int_equal(svn.writes, 1);
	assert_int_equal(ztmdev_fw_commit_svn(fw), -1); /* once */
	ztmdev_fw_free(fw);
	/* The same image again: accepted (equal), no write. */
	fw = ztmdev_fw_begin(dev, sig.p, sig.len, &pol);
	assert_non_null(fw);
	assert_int_equal(ztmdev_fw_update(fw, image, IMAGE_LEN), 0);
	assert_int_equal(ztmdev_fw_final(fw, NULL), 0);
	assert_int_equal(ztmdev_fw_commit_svn(fw), 0);
	assert_int_equal(svn.writes, 1);
	ztmdev_fw_free(fw);
	/* Raised elsewhere between begin and commit: commit never lowers it. */
	fw = ztmdev_fw_begin(dev, sig.p, sig.len, &pol);
	assert_non_null(fw);
	assert_int_equal(ztmdev_fw_update(fw, image, IMAGE_LEN), 0);
	assert_int_equal(ztmdev_fw_final(fw, NULL), 0);
	svn.value = 12;
	assert_int_equal(ztmdev_fw_commit_svn(fw), 0);
	assert_int_equal(svn.value, 12);
	assert_int_equal(svn.writes, 1);
	ztmdev_fw_free(fw);
	tf_free(&sig);
	/* A lower image is now refused at begin. */
	sig.len = 0;
	make_sig(&rows[0], &sig);
	assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
	assert_non_null(strstr(ztmdev_error(dev), "rollback"));
	tf_free(&sig);
	ztmdev_free(dev);
}

/* CMS shapes the format forbids, and a manifest whose alg is not its key's,
 * each refused at begin with its reason. */
static void test_shapes(void **state)
{
	enum { EMBEDDED, TWO_SIGNERS, NO_CLAIMS, NO_ATTRS, DIGEST_MISMATCH, ALG_MISMATCH, N };
	static const char *want[N] = {
	    [EMBEDDED] = "not a detached signature",
	    [TWO_SIGNERS] = "not exactly one SignerInfo",
	    [NO_CLAIMS] = "id-aa-ztmFirmwareClaims",
	    [NO_ATTRS] = "no signed attributes",
	    [DIGEST_MISMATCH] = "does not match the algorithm",
	    [ALG_MISMATCH] = "alg -8 does not match the signer's key",
	};
	struct ztmdev *dev = ztmdev_new("/nonexistent");
	struct ztmdev_fw_policy pol;
	struct tf_svn svn = {5, 0, 0};
	struct tf_buf claims = {0}, sig = {0};
	struct tf_claims c;
	ASN1_OBJECT *oid = OBJ_txt2obj(TF_OID_CLAIMS, 1);
	int k;

	(void)state;
	good_claims(&c);
	tf_claims_encode(&c, &claims);
	policy_of(&pol, 0, &svn);
	for (k = 0; k < N; k++) {
		int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP |
		            (k == EMBEDDED ? 0 : CMS_DETACHED) | (k == NO_ATTRS ? CMS_NOATTR : 0);
		BIO *in = BIO_new_mem_buf(image, k == EMBEDDED ? 100 : IMAGE_LEN);
		CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
		CMS_SignerInfo *si;
		unsigned char *der = NULL;
		int n;

		sig.len = 0;
		if (k == ALG_MISMATCH) {
			X509 *chain[2] = {K.cert[TF_P256], K.ca};
			tf_manifest(K.key[TF_P256], chain, 2, -8, &claims, &sig);
		} else {
			assert_non_null(cms);
			si = CMS_add1_signer(cms, K.cert[TF_P256], K.key[TF_P256],
			                     k == DIGEST_MISMATCH ? EVP_sha384() : EVP_sha256(),
			                     flags);
			assert_non_null(si);
			if (k != NO_CLAIMS && k != NO_ATTRS)
				assert_int_equal(
				    CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_OCTET_STRING,
				                                claims.p, (int)claims.len),
				    1);
			if (k == TWO_SIGNERS)
				assert_non_null(CMS_add1_signer(
				    cms, K.cert[TF_P384], K.key[TF_P384], EVP_sha384(), flags));
			assert_int_equal(CMS_add1_cert(cms, K.ca), 1);
			assert_int_equal(CMS_final(cms, in, NULL, flags), 1);
			n = i2d_CMS_ContentInfo(cms, &der);
			assert_true(n > 0);
			tf_put(&sig, der, (size_t)n);
			OPENSSL_free(der);
		}
		CMS_ContentInfo_free(cms);
		BIO_free(in);
		assert_null(ztmdev_fw_begin(dev, sig.p, sig.len, &pol));
		if (strstr(ztmdev_error(dev), want[k]) == NULL)
			fail_msg("shape %d: \"%s\", want \"%s\"", k, ztmdev_error(dev), want[k]);
	}
	ASN1_OBJECT_free(oid);
	tf_free(&claims);
	tf_free(&sig);
	ztmdev_free(dev);
}

static int setup(void **state)
{
	size_t i;
	unsigned len = 0;

	(void)state;
	tf_pki_make(&K);
	image = malloc(IMAGE_LEN);
	if (image == NULL)
		return -1;
	for (i = 0; i < IMAGE_LEN; i++)
		image[i] = (uint8_t)(i * 31 + 7 + (i >> 11));
	if (EVP_Digest(image, IMAGE_LEN, image_sha, &len, EVP_sha256(), NULL) != 1)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(image);
	tf_pki_free(&K);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claims_table),    cmocka_unit_test(test_cbor_heads),
	    cmocka_unit_test(test_manifest_reader), cmocka_unit_test(test_verify_table),
	    cmocka_unit_test(test_policy_errors),   cmocka_unit_test(test_commit_svn),
	    cmocka_unit_test(test_shapes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
