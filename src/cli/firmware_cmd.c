/* firmware_cmd.c - `ztm firmware ...`: firmware releases and signers over
 * the admin API (docs/firmware.md), and `verify`, which checks a CMS
 * signature against an image and a root with OpenSSL on the operator's own
 * machine (the device-side verifier is libztmdev's).
 *
 * `sign` hashes the image locally, streaming (never holding it whole), and
 * sends only the digest; when the release comes back signed (test channel)
 * it writes IMAGE.cms and <product>-<version>.ztmfw. Replies are printed as
 * JSON on stdout; what happened goes to stderr. */
#include <cbor.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_common.h"
#include "ztm/file.h"
#include "ztm/firmware.h"
#include "ztm/str.h"

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: ztm firmware sign --product P --version V --svn N --channel test|production\n"
	    "         --image FILE [--upload] [--out-dir D] [connection]\n"
	    "       ztm firmware approve ID [--image FILE] [--out-dir D] [connection]\n"
	    "       ztm firmware show ID [--image FILE] [--out-dir D] [connection]\n"
	    "       ztm firmware list [--product P] [--channel C] [--state S] [connection]\n"
	    "       ztm firmware revoke ID --reason TEXT [connection]\n"
	    "       ztm firmware verify --image FILE --cms FILE.cms --root ROOT.pem\n"
	    "         [--product P] [--channel production|test]\n"
	    "       ztm firmware signer create --product P --channel test|production [connection]\n"
	    "       ztm firmware signer list [--product P] [connection]\n"
	    "       ztm firmware signer retire ID [connection]\n"
	    "  sign sends only the image's SHA-256 (with --upload, the image itself, for\n"
	    "  ztmd to hash: up to its [server] max_upload_bytes, 16 MiB by default); a\n"
	    "  test release is signed at once, a\n"
	    "  production release waits for `approve` by another operator (release-approver).\n"
	    "  With --out-dir, a signed release is written as IMAGE.cms (the CMS form) and\n"
	    "  <product>-<version>.ztmfw (the manifest).\n\n" CLI_CONN_USAGE);
	return ZTM_EXIT_USAGE;
}

struct fargs {
	struct ztm_client_opts conn;
	const char *product, *version, *svn, *channel, *image, *out_dir, *state, *reason, *cms,
	    *root;
	const char *arg;
	int upload;
};

static int parse(int argc, char **argv, struct fargs *a)
{
	static const struct option opts[] = {
	    CLI_CONN_OPTIONS,
	    {"product", required_argument, NULL, 'p'},
	    {"version", required_argument, NULL, 'v'},
	    {"svn", required_argument, NULL, 'n'},
	    {"channel", required_argument, NULL, 'c'},
	    {"image", required_argument, NULL, 'i'},
	    {"out-dir", required_argument, NULL, 'o'},
	    {"state", required_argument, NULL, 's'},
	    {"reason", required_argument, NULL, 'r'},
	    {"cms", required_argument, NULL, 'm'},
	    {"root", required_argument, NULL, 'R'},
	    {"upload", no_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char **slot;
	int c;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (cli_conn_option(c, &a->conn))
			continue;
		if (c == 'U') {
			a->upload = 1;
			continue;
		}
		switch (c) {
		case 'p':
			slot = &a->product;
			break;
		case 'v':
			slot = &a->version;
			break;
		case 'n':
			slot = &a->svn;
			break;
		case 'c':
			slot = &a->channel;
			break;
		case 'i':
			slot = &a->image;
			break;
		case 'o':
			slot = &a->out_dir;
			break;
		case 's':
			slot = &a->state;
			break;
		case 'r':
			slot = &a->reason;
			break;
		case 'm':
			slot = &a->cms;
			break;
		case 'R':
			slot = &a->root;
			break;
		default:
			return -1;
		}
		*slot = optarg;
	}
	if (optind < argc)
		a->arg = argv[optind++];
	return optind == argc ? 0 : -1;
}

static int id_arg(const char *s, uint64_t *id)
{
	return s == NULL ? -1 : ztm_parse_u64(s, 1, (uint64_t)1 << 53, id);
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	printf("\n");
}

/* SHA-256 and size of a file, read in 64 KiB pieces. */
static int hash_file(const char *path, uint8_t md[32], uint64_t *size, struct ztm_error *err)
{
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(64 * 1024);
	size_t n;
	int rc = -1;

	*size = 0;
	if (f == NULL) {
		ztm_error_set(err, ZTM_E_IO, "%s: cannot open", path);
		goto out;
	}
	if (ctx == NULL || buf == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing %s", path);
		goto out;
	}
	while ((n = fread(buf, 1, 64 * 1024, f)) > 0) {
		if (EVP_DigestUpdate(ctx, buf, n) != 1) {
			ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing %s", path);
			goto out;
		}
		*size += n;
	}
	if (ferror(f)) {
		ztm_error_set(err, ZTM_E_IO, "%s: read error", path);
		goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing %s", path);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* GETs one signature form of release id into out. */
static int get_blob(const struct ztm_client_opts *o, uint64_t id, const char *what,
                    struct ztm_buf *out, struct ztm_error *err)
{
	struct ztm_http_resp resp;
	char path[96];
	int rc = -1;

	snprintf(path, sizeof(path), "/api/v1/firmware/releases/%llu/%s", (unsigned long long)id,
	         what);
	ztm_http_resp_init(&resp);
	if (ztm_client_request(o, "GET", path, NULL, NULL, NULL, 0, &resp, err) != 0)
		goto out;
	if (resp.status != 200) {
		ztm_error_set(err, ZTM_E_CONFLICT, "GET %s: HTTP %d", path, resp.status);
		goto out;
	}
	rc = ztm_buf_append(out, resp.body.data, resp.body.len) == 0
	         ? 0
	         : ztm_error_set(err, ZTM_E_NOMEM, "%s", what);
out:
	ztm_http_resp_free(&resp);
	return rc;
}

/* --out-dir: made (0755) when missing, before anything is sent, so a signed
 * release never ends in "cannot write its files". */
static int out_dir_ready(const char *dir, struct ztm_error *err)
{
	struct stat st;

	if (dir == NULL)
		return 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return ztm_error_set(err, ZTM_E_IO, "--out-dir %s: %s", dir, strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return ztm_error_set(err, ZTM_E_IO, "--out-dir %s: not a directory", dir);
	return 0;
}

/* Writes IMAGE.cms (or <product>-<version>.cms without --image) and
 * <product>-<version>.ztmfw into dir, from a signed release reply. */
static int write_forms(const struct ztm_client_opts *o, json_t *rel, const char *image,
                       const char *dir, struct ztm_error *err)
{
	const char *state = json_string_value(json_object_get(rel, "state"));
	const char *product = json_string_value(json_object_get(rel, "product"));
	const char *version = json_string_value(json_object_get(rel, "version"));
	json_int_t id = json_integer_value(json_object_get(rel, "id"));
	const char *base = image != NULL ? strrchr(image, '/') : NULL;
	struct ztm_buf cms, man;
	char path[4096];
	int rc = -1;

	if (state == NULL || strcmp(state, "signed") != 0) {
		fprintf(stderr, "release %lld is %s: no signature files written\n", (long long)id,
		        state != NULL ? state : "?");
		return 0;
	}
	if (product == NULL || version == NULL || id <= 0)
		return ztm_error_set(err, ZTM_E_PARSE, "release reply lacks product/version/id");
	base = base != NULL ? base + 1 : image;
	ztm_buf_init(&cms, 0);
	ztm_buf_init(&man, 0);
	if (get_blob(o, (uint64_t)id, "cms", &cms, err) != 0 ||
	    get_blob(o, (uint64_t)id, "manifest", &man, err) != 0)
		goto out;
	if (base != NULL)
		snprintf(path, sizeof(path), "%s/%s.cms", dir, base);
	else
		snprintf(path, sizeof(path), "%s/%s-%s.cms", dir, product, version);
	if (ztm_file_write(path, cms.data, cms.len, 0644, 0, err) != 0)
		goto out;
	fprintf(stderr, "wrote %s\n", path);
	snprintf(path, sizeof(path), "%s/%s-%s.ztmfw", dir, product, version);
	if (ztm_file_write(path, man.data, man.len, 0644, 0, err) != 0)
		goto out;
	fprintf(stderr, "wrote %s\n", path);
	rc = 0;
out:
	ztm_buf_free(&cms);
	ztm_buf_free(&man);
	return rc;
}

/* Appends s to b percent-encoded for a query value (RFC 3986: all but
 * the unreserved characters; '+' too, which a query reader takes for a
 * space). */
static int query_value(struct ztm_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (ztm_buf_append(b, s, 1) != 0)
				return -1;
		} else if (ztm_buf_printf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]) != 0) {
			return -1;
		}
	}
	return 0;
}

/* sign --upload: the image itself goes to ztmd, which hashes it; the
 * digest it measured must be the one measured here. */
static json_t *sign_upload(struct fargs *a, const char *hex, struct ztm_error *err)
{
	struct ztm_buf path, img;
	const char *got;
	json_t *j = NULL;

	ztm_buf_init(&path, 0);
	ztm_buf_init(&img, 0);
	if (ztm_buf_printf(&path, "/api/v1/firmware/releases?product=") != 0 ||
	    query_value(&path, a->product) != 0 || ztm_buf_printf(&path, "&version=") != 0 ||
	    query_value(&path, a->version) != 0 ||
	    ztm_buf_printf(&path, "&security_version=%s&channel=", a->svn) != 0 ||
	    query_value(&path, a->channel) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "request path");
		goto out;
	}
	if (ztm_file_read(a->image, (size_t)256 * 1024 * 1024, &img, err) != 0)
		goto out;
	j = cli_post_body(&a->conn, ztm_buf_cstr(&path), "application/octet-stream", img.data,
	                  img.len, err);
	got = json_string_value(json_object_get(j, "sha256"));
	if (j != NULL && (got == NULL || strcmp(got, hex) != 0)) {
		ztm_error_set(
		    err, ZTM_E_CRYPTO,
		    "ztmd hashed the upload to %s, this machine to %s: not the same image",
		    got != NULL ? got : "?", hex);
		json_decref(j);
		j = NULL;
	}
out:
	ztm_buf_free(&path);
	ztm_buf_free(&img);
	return j;
}

static int do_sign(struct fargs *a)
{
	struct ztm_error err;
	uint8_t md[32];
	char hex[65];
	uint64_t size, svn;
	enum ztm_fw_channel ch;
	json_t *body, *j;
	int rc;

	if (a->product == NULL || a->version == NULL || a->svn == NULL || a->channel == NULL ||
	    a->image == NULL || a->arg != NULL ||
	    ztm_parse_u64(a->svn, 0, ZTM_FW_SVN_MAX, &svn) != 0 ||
	    ztm_fw_channel_parse(a->channel, &ch) != 0)
		return usage();
	if (ztm_client_opts_env(&a->conn, 1, &err) != 0 || out_dir_ready(a->out_dir, &err) != 0 ||
	    hash_file(a->image, md, &size, &err) != 0)
		return cli_fail("firmware sign", &err);
	ztm_hex(md, 32, hex);
	if (a->upload) {
		j = sign_upload(a, hex, &err);
	} else {
		body = json_pack("{ss ss sI sI ss ss}", "product", a->product, "version",
		                 a->version, "security_version", (json_int_t)svn, "size",
		                 (json_int_t)size, "sha256", hex, "channel", a->channel);
		j = cli_post_json(&a->conn, "/api/v1/firmware/releases", body, &err);
	}
	if (j == NULL)
		return cli_fail("firmware sign", &err);
	fprintf(stderr, ch == ZTM_FW_TEST
	                    ? "test release signed\n"
	                    : "production release submitted: another operator (release-"
	                      "approver) must approve it\n");
	print_json(j);
	rc = a->out_dir != NULL && write_forms(&a->conn, j, a->image, a->out_dir, &err) != 0
	         ? cli_fail("firmware sign", &err)
	         : ZTM_EXIT_OK;
	json_decref(j);
	return rc;
}

static int do_release(struct fargs *a, const char *op)
{
	struct ztm_error err;
	char path[128];
	uint64_t id;
	json_t *j;
	int rc;

	if (id_arg(a->arg, &id) != 0 || a->product != NULL || a->version != NULL ||
	    a->svn != NULL || a->channel != NULL || a->state != NULL ||
	    (strcmp(op, "revoke") == 0) != (a->reason != NULL))
		return usage();
	if (ztm_client_opts_env(&a->conn, 1, &err) != 0 ||
	    (strcmp(op, "revoke") != 0 && out_dir_ready(a->out_dir, &err) != 0))
		return cli_fail(op, &err);
	if (strcmp(op, "show") == 0) {
		snprintf(path, sizeof(path), "/api/v1/firmware/releases/%llu",
		         (unsigned long long)id);
		j = cli_get_json(&a->conn, path, &err);
	} else {
		snprintf(path, sizeof(path), "/api/v1/firmware/releases/%llu/%s",
		         (unsigned long long)id, op);
		j = cli_post_json(&a->conn, path,
		                  a->reason != NULL ? json_pack("{ss}", "reason", a->reason)
		                                    : json_object(),
		                  &err);
	}
	if (j == NULL)
		return cli_fail(op, &err);
	if (strcmp(op, "approve") == 0)
		fprintf(stderr, "release approved and signed\n");
	else if (strcmp(op, "revoke") == 0)
		fprintf(stderr, "release revoked: vetting refuses its hash from now on\n");
	print_json(j);
	rc = a->out_dir != NULL && strcmp(op, "revoke") != 0 &&
	             write_forms(&a->conn, j, a->image, a->out_dir, &err) != 0
	         ? cli_fail(op, &err)
	         : ZTM_EXIT_OK;
	json_decref(j);
	return rc;
}

static int do_list(struct fargs *a, const char *base, const char *cmd)
{
	struct ztm_error err;
	struct ztm_buf q;
	json_t *j;

	if (a->arg != NULL)
		return usage();
	if (ztm_client_opts_env(&a->conn, 1, &err) != 0)
		return cli_fail(cmd, &err);
	ztm_buf_init(&q, 1024);
	ztm_buf_append_str(&q, base);
	/* The server checks the values; only URL-safe names get here. */
	if (a->product != NULL)
		ztm_buf_printf(&q, "%cproduct=%s", q.len == strlen(base) ? '?' : '&', a->product);
	if (a->channel != NULL)
		ztm_buf_printf(&q, "%cchannel=%s", q.len == strlen(base) ? '?' : '&', a->channel);
	if (a->state != NULL)
		ztm_buf_printf(&q, "%cstate=%s", q.len == strlen(base) ? '?' : '&', a->state);
	j = cli_get_json(&a->conn, ztm_buf_cstr(&q), &err);
	ztm_buf_free(&q);
	if (j == NULL)
		return cli_fail(cmd, &err);
	print_json(j);
	json_decref(j);
	return ZTM_EXIT_OK;
}

static int do_signer(int argc, char **argv)
{
	struct fargs a;
	struct ztm_error err;
	enum ztm_fw_channel ch;
	char path[96];
	uint64_t id;
	json_t *j;

	if (argc < 2 || parse(argc - 1, argv + 1, &a) != 0)
		return usage();
	if (strcmp(argv[1], "list") == 0)
		return do_list(&a, "/api/v1/firmware/signers", "firmware signer list");
	if (ztm_client_opts_env(&a.conn, 1, &err) != 0)
		return cli_fail("firmware signer", &err);
	if (strcmp(argv[1], "create") == 0) {
		if (a.product == NULL || a.channel == NULL || a.arg != NULL ||
		    ztm_fw_channel_parse(a.channel, &ch) != 0)
			return usage();
		j = cli_post_json(&a.conn, "/api/v1/firmware/signers",
		                  json_pack("{ss ss}", "product", a.product, "channel", a.channel),
		                  &err);
	} else if (strcmp(argv[1], "retire") == 0) {
		if (id_arg(a.arg, &id) != 0 || a.product != NULL || a.channel != NULL)
			return usage();
		snprintf(path, sizeof(path), "/api/v1/firmware/signers/%llu/retire",
		         (unsigned long long)id);
		j = cli_post_json(&a.conn, path, json_object(), &err);
	} else {
		return usage();
	}
	if (j == NULL)
		return cli_fail("firmware signer", &err);
	print_json(j);
	json_decref(j);
	return ZTM_EXIT_OK;
}

/* --- verify: OpenSSL on the operator's side -------------------------------- */

/* The claims signed attribute of the one SignerInfo, decoded: product,
 * size and channel, for the checks against the image and the options. */
static int claims_of(CMS_ContentInfo *cms, char *product, size_t plen, uint64_t *size, int *channel,
                     struct ztm_error *err)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	ASN1_OBJECT *oid = OBJ_txt2obj(ZTM_FW_OID_CLAIMS_TEXT, 1);
	ASN1_OCTET_STRING *os = NULL;
	struct cbor_load_result res;
	cbor_item_t *m = NULL;
	struct cbor_pair *pairs;
	size_t i;
	int rc = -1;

	*size = 0;
	*channel = -1;
	product[0] = '\0';
	if (sis != NULL && sk_CMS_SignerInfo_num(sis) == 1 && oid != NULL)
		os = CMS_signed_get0_data_by_OBJ(sk_CMS_SignerInfo_value(sis, 0), oid, -3,
		                                 V_ASN1_OCTET_STRING);
	if (os == NULL) {
		ztm_error_set(err, ZTM_E_PARSE, "no id-aa-ztmFirmwareClaims signed attribute");
		goto out;
	}
	m = cbor_load(ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os), &res);
	if (m == NULL || !cbor_isa_map(m) || res.read != (size_t)ASN1_STRING_length(os)) {
		ztm_error_set(err, ZTM_E_PARSE, "the claims are not one CBOR map");
		goto out;
	}
	pairs = cbor_map_handle(m);
	for (i = 0; i < cbor_map_size(m); i++) {
		uint64_t k = cbor_isa_uint(pairs[i].key) ? cbor_get_int(pairs[i].key) : 0;
		cbor_item_t *v = pairs[i].value;
		if (k == 1 && cbor_isa_string(v) && cbor_string_length(v) < plen) {
			memcpy(product, cbor_string_handle(v), cbor_string_length(v));
			product[cbor_string_length(v)] = '\0';
		} else if (k == 4 && cbor_isa_uint(v)) {
			*size = cbor_get_int(v);
		} else if (k == 7 && cbor_isa_uint(v)) {
			*channel = (int)cbor_get_int(v);
		}
	}
	rc = 0;
out:
	if (m != NULL)
		cbor_decref(&m);
	ASN1_OBJECT_free(oid);
	return rc;
}

static int cert_policy_channel(X509 *x)
{
	CERTIFICATEPOLICIES *pol = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	char oid[96];
	int ch = -1;

	if (pol != NULL && sk_POLICYINFO_num(pol) == 1 &&
	    OBJ_obj2txt(oid, sizeof(oid), sk_POLICYINFO_value(pol, 0)->policyid, 1) > 0)
		ch = strcmp(oid, ZTM_FW_OID_PRODUCTION_TEXT) == 0 ? ZTM_FW_PRODUCTION
		     : strcmp(oid, ZTM_FW_OID_TEST_TEXT) == 0     ? ZTM_FW_TEST
		                                                  : -1;
	CERTIFICATEPOLICIES_free(pol);
	return ch;
}

static int do_verify(struct fargs *a)
{
	BIO *in = NULL, *content = NULL;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *store = NULL;
	STACK_OF(X509) *signers = NULL;
	struct ztm_error err;
	enum ztm_fw_channel want;
	char product[ZTM_FW_NAME_MAX + 1];
	uint64_t size = 0, img_size = 0;
	uint8_t md[32];
	int channel, cert_ch, rc = ZTM_EXIT_FAIL;
	X509 *signer;

	if (a->image == NULL || a->cms == NULL || a->root == NULL || a->arg != NULL ||
	    (a->channel != NULL && ztm_fw_channel_parse(a->channel, &want) != 0))
		return usage();
	/* Default-fail: every check below must pass. */
	if ((in = BIO_new_file(a->cms, "rb")) == NULL || (cms = d2i_CMS_bio(in, NULL)) == NULL) {
		ztm_error_ossl(&err, ZTM_E_PARSE, "%s: not a DER CMS", a->cms);
		goto fail;
	}
	if ((store = X509_STORE_new()) == NULL || X509_STORE_load_file(store, a->root) != 1 ||
	    X509_STORE_set_purpose(store, X509_PURPOSE_ANY) != 1 ||
	    (content = BIO_new_file(a->image, "rb")) == NULL) {
		ztm_error_ossl(&err, ZTM_E_IO, "loading %s / %s", a->root, a->image);
		goto fail;
	}
	if (CMS_verify(cms, NULL, store, content, NULL, CMS_BINARY) != 1) {
		ztm_error_ossl(&err, ZTM_E_BADSIG, "%s does not verify for %s", a->cms, a->image);
		goto fail;
	}
	signers = CMS_get0_signers(cms);
	signer = signers != NULL && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
	if (signer == NULL || !(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(signer) & XKU_CODE_SIGN)) {
		ztm_error_set(&err, ZTM_E_POLICY, "the signer has no codeSigning extendedKeyUsage");
		goto fail;
	}
	cert_ch = cert_policy_channel(signer);
	if (claims_of(cms, product, sizeof(product), &size, &channel, &err) != 0 ||
	    hash_file(a->image, md, &img_size, &err) != 0)
		goto fail;
	if (size != img_size) {
		ztm_error_set(&err, ZTM_E_POLICY, "image is %llu bytes, the claims say %llu",
		              (unsigned long long)img_size, (unsigned long long)size);
		goto fail;
	}
	if (cert_ch < 0 || channel != cert_ch) {
		ztm_error_set(&err, ZTM_E_POLICY, "the claims' channel is not the signer's");
		goto fail;
	}
	if (a->channel != NULL && want == ZTM_FW_PRODUCTION && cert_ch != ZTM_FW_PRODUCTION) {
		ztm_error_set(&err, ZTM_E_POLICY, "signed under the test channel");
		goto fail;
	}
	if (a->product != NULL && strcmp(a->product, product) != 0) {
		ztm_error_set(&err, ZTM_E_POLICY, "signed for product %s, not %s", product,
		              a->product);
		goto fail;
	}
	fprintf(stderr, "verified: %s is signed for %s (%s channel)\n", a->image, product,
	        ztm_fw_channel_name((enum ztm_fw_channel)cert_ch));
	rc = ZTM_EXIT_OK;
	goto out;
fail:
	rc = cli_fail("firmware verify", &err);
out:
	sk_X509_free(signers);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	BIO_free(in);
	ERR_clear_error();
	return rc;
}

int cmd_firmware(int argc, char **argv)
{
	struct fargs a;
	const char *op;

	if (argc < 2)
		return usage();
	op = argv[1];
	if (strcmp(op, "signer") == 0)
		return do_signer(argc - 1, argv + 1);
	if (parse(argc - 1, argv + 1, &a) != 0 || (a.upload && strcmp(op, "sign") != 0))
		return usage();
	if (strcmp(op, "sign") == 0)
		return do_sign(&a);
	if (strcmp(op, "verify") == 0)
		return do_verify(&a);
	if (strcmp(op, "list") == 0)
		return do_list(&a, "/api/v1/firmware/releases", "firmware list");
	if (strcmp(op, "approve") == 0 || strcmp(op, "show") == 0 || strcmp(op, "revoke") == 0)
		return do_release(&a, op);
	return usage();
}
