/* est_parse.c - EST request parsing: path, Basic credentials, CSR body.
 * Pure functions (see est_parse.h); est.c feeds them from the request and
 * fuzz/fuzz_est.c from arbitrary bytes. */
#include "est_parse.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "app_int.h"
#include "ztm/csr.h"
#include "ztm/str.h"

static const char *const op_names[EST_OP_COUNT] = {"cacerts", "csrattrs", "simpleenroll",
                                                   "simplereenroll", "tpm-challenge"};

const char *est_op_name(int op)
{
	return op >= 0 && op < EST_OP_COUNT ? op_names[op] : "unknown";
}

/* Exact match of the n bytes at s against the C string name. */
static int seg_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

int est_parse_path(const char *path, int *label, int *op)
{
	static const char prefix[] = "/.well-known/est/";
	const char *rest, *slash, *opname;
	int lab = EST_NO_LABEL, i;

	if (path == NULL || strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	rest = path + sizeof(prefix) - 1;
	/* RFC 7030 §3.2.2: at most one label segment before the operation. */
	slash = strchr(rest, '/');
	opname = rest;
	if (slash != NULL) {
		for (i = 0; i < APP_CA_COUNT; i++)
			if (seg_is(rest, (size_t)(slash - rest), app_ca_name((enum app_ca_id)i)))
				break;
		if (i == APP_CA_COUNT)
			return -1; /* unknown or empty label, or a second slash */
		lab = i;
		opname = slash + 1;
	}
	for (i = 0; i < EST_OP_COUNT; i++) {
		if (strcmp(opname, op_names[i]) == 0) {
			*label = lab;
			*op = i;
			return 0;
		}
	}
	return -1;
}

int est_parse_basic(const char *authorization, uint8_t code_hash[32], struct ztm_error *err)
{
	const char *b64;
	const uint8_t *colon;
	struct ztm_buf dec;
	size_t n, codelen;
	unsigned len = 0;
	int rc = -1;

	ztm_buf_init(&dec, EST_MAX_BASIC_B64);
	if (authorization == NULL) {
		ztm_error_set(err, ZTM_E_AUTH, "an enrollment code (HTTP Basic) is required");
		goto out;
	}
	/* RFC 7235 §2.1: the scheme is case-insensitive, then 1*SP. */
	if (strncasecmp(authorization, "Basic", 5) != 0 || authorization[5] != ' ') {
		ztm_error_set(err, ZTM_E_AUTH,
		              "Authorization is not HTTP Basic: an enrollment code is required");
		goto out;
	}
	b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	/* Cap before decoding; strnlen so an over-long header is not walked. */
	n = strnlen(b64, EST_MAX_BASIC_B64 + 1);
	if (n > EST_MAX_BASIC_B64) {
		ztm_error_set(err, ZTM_E_AUTH, "Basic credentials over %d bytes",
		              EST_MAX_BASIC_B64);
		goto out;
	}
	if (ztm_b64_decode(b64, n, &dec) != 0 || dec.len == 0) {
		ztm_error_set(err, ZTM_E_AUTH, "malformed Basic credentials: not base64");
		goto out;
	}
	/* RFC 7617 §2: user-id ":" password; the user-id has no colon, so the
	 * first one splits, and the code may itself hold colons. */
	colon = memchr(dec.data, ':', dec.len);
	if (colon == NULL) {
		ztm_error_set(err, ZTM_E_AUTH,
		              "malformed Basic credentials: no ':' after the user");
		goto out;
	}
	colon++;
	codelen = dec.len - (size_t)(colon - dec.data);
	if (codelen == 0) {
		ztm_error_set(err, ZTM_E_AUTH, "Basic credentials carry no code");
		goto out;
	}
	if (EVP_Digest(colon, codelen, code_hash, &len, EVP_sha256(), NULL) != 1 || len != 32) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the enrollment code");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		OPENSSL_cleanse(code_hash, 32);
	ztm_buf_free(&dec); /* wipes the code */
	return rc;
}

/* RFC 7231 §3.1.1.1: type "/" subtype *( OWS ";" OWS parameter ), type and
 * subtype case-insensitive. Parameters are allowed and ignored. */
static int media_type_is(const char *v, const char *want)
{
	size_t n = strlen(want);

	if (strncasecmp(v, want, n) != 0)
		return 0;
	v += n;
	while (*v == ' ' || *v == '\t')
		v++;
	return *v == '\0' || *v == ';';
}

int est_parse_csr_body(const char *content_type, struct ztm_slice body, struct ztm_buf *der,
                       struct ztm_error *err)
{
	/* Room for the largest body's decoding, so the only refusal the decoder
	 * can give is bad base64; the CSR cap is checked on the result. */
	struct ztm_buf tmp;
	int rc = -1;

	ztm_buf_init(&tmp, EST_MAX_CSR_B64 / 4 * 3 + 3);
	der->len = 0;
	if (content_type == NULL || !media_type_is(content_type, "application/pkcs10")) {
		ztm_error_set(err, ZTM_E_PARSE, "Content-Type must be application/pkcs10");
		goto out;
	}
	if (body.len > EST_MAX_CSR_B64) {
		ztm_error_set(err, ZTM_E_TOOBIG, "CSR body over %d bytes", EST_MAX_CSR_B64);
		goto out;
	}
	if (body.len == 0 || body.p == NULL) {
		ztm_error_set(err, ZTM_E_PARSE, "empty body: a base64 PKCS#10 CSR is required");
		goto out;
	}
	if (ztm_b64_decode((const char *)body.p, body.len, &tmp) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "body is not valid base64");
		goto out;
	}
	if (tmp.len == 0) {
		ztm_error_set(err, ZTM_E_PARSE, "body holds only white space: a CSR is required");
		goto out;
	}
	if (tmp.len > ZTM_CSR_MAX_DER || ztm_buf_append(der, tmp.data, tmp.len) != 0) {
		ztm_error_set(err, ZTM_E_TOOBIG, "CSR over %d bytes", ZTM_CSR_MAX_DER);
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&tmp);
	return rc;
}
