/* batch_record.c - one manufacturing record: field validators, the
 * bootstrap certificate check, and the record's JSON form (docs/records.md).
 * The station (`ztm station record`) and the server (ztm_batch_verify) use
 * the same code, so what one refuses the other refuses too. */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "batch_int.h"
#include "der.h"
#include "mdcache.h"
#include "ztm/bootstrap.h"
#include "ztm/lint.h"
#include "ztm/str.h"

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 1..max characters, each alphanumeric or in `extra`; first alphanumeric
 * when first_alnum. */
static int valid_chars(const char *s, size_t max, const char *extra, int first_alnum)
{
	size_t n;

	if (s == NULL || s[0] == '\0' || (first_alnum && !is_alnum(s[0])))
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= max || (!is_alnum(s[n]) && strchr(extra, s[n]) == NULL))
			return 0;
	return 1;
}

int ztm_record_valid_name(const char *s)
{
	return valid_chars(s, ZTM_RECORD_MAX_NAME, "._-", 0);
}

int ztm_record_valid_serial(const char *s)
{
	/* PrintableString-safe (the certificate's serialNumber) and a safe
	 * file name in the station queue: no '/', no leading '.'. */
	return valid_chars(s, ZTM_RECORD_MAX_SERIAL, ".-", 1);
}

int ztm_record_valid_hw_rev(const char *s)
{
	return valid_chars(s, ZTM_RECORD_MAX_HWREV, "._-", 0);
}

int ztm_record_valid_fw_version(const char *s)
{
	return valid_chars(s, ZTM_RECORD_MAX_FWVER, "._-+~", 0);
}

static int is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int ztm_record_valid_mac(const char *s)
{
	size_t i;

	/* EUI-48 in one canonical form, so equal MACs compare equal. */
	if (s == NULL || strlen(s) != 17)
		return 0;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !is_lhex(s[i]))
			return 0;
	return 1;
}

int ztm_record_valid_sha256(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 64)
		return 0;
	for (i = 0; i < 64; i++)
		if (!is_lhex(s[i]))
			return 0;
	return 1;
}

int ztm_test_result_parse(const char *s, enum ztm_test_result *out)
{
	if (s != NULL && strcmp(s, "pass") == 0)
		*out = ZTM_TEST_PASS;
	else if (s != NULL && strcmp(s, "fail") == 0)
		*out = ZTM_TEST_FAIL;
	else
		return -1;
	return 0;
}

int ztm_key_origin_parse(const char *s, enum ztm_key_origin *out)
{
	if (s != NULL && strcmp(s, "device") == 0)
		*out = ZTM_KEY_ORIGIN_DEVICE;
	else if (s != NULL && strcmp(s, "injected") == 0)
		*out = ZTM_KEY_ORIGIN_INJECTED;
	else
		return -1;
	return 0;
}

int ztm_record_kind_parse(const char *s, enum ztm_record_kind *out)
{
	if (s != NULL && strcmp(s, "new") == 0)
		*out = ZTM_RECORD_NEW;
	else if (s != NULL && strcmp(s, "replacement") == 0)
		*out = ZTM_RECORD_REPLACEMENT;
	else
		return -1;
	return 0;
}

const char *ztm_record_kind_name(enum ztm_record_kind k)
{
	return k == ZTM_RECORD_REPLACEMENT ? "replacement" : "new";
}

const char *ztm_test_result_name(enum ztm_test_result t)
{
	return t == ZTM_TEST_PASS ? "pass" : "fail";
}

const char *ztm_key_origin_name(enum ztm_key_origin k)
{
	return k == ZTM_KEY_ORIGIN_INJECTED ? "injected" : "device";
}

/* The subject's one serialNumber attribute equals serial, byte for byte. */
static int check_subject_serial(X509 *x, const char *serial, struct ztm_error *err)
{
	const X509_NAME *name = X509_get_subject_name(x);
	const ASN1_STRING *v;
	int i = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);

	if (i < 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate has no subject serialNumber");
	if (X509_NAME_get_index_by_NID(name, NID_serialNumber, i) >= 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate has several subject serialNumbers");
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (v == NULL ||
	    (ASN1_STRING_type(v) != V_ASN1_PRINTABLESTRING &&
	     ASN1_STRING_type(v) != V_ASN1_UTF8STRING) ||
	    (size_t)ASN1_STRING_length(v) != strlen(serial) ||
	    memcmp(ASN1_STRING_get0_data(v), serial, strlen(serial)) != 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate subject serialNumber is not '%s'",
		                     serial);
	return 0;
}

/* The subject's one serialNumber (2.5.4.5) equals serial, from the DER of
 * the Name: SEQUENCE OF RelativeDistinguishedName (SET OF
 * AttributeTypeAndValue). Same rules as check_subject_serial. */
static int shape_serial(struct ztm_slice name, const char *serial, struct ztm_error *err)
{
	struct ztm_cursor c, set, atv;
	struct ztm_slice rdn, a, oid, v;
	size_t found = 0, n = strlen(serial);
	int tag, match = 0;

	ztm_cursor_init(&c, name.p, name.len);
	while (ztm_cursor_left(&c) > 0) {
		if (ztm_der_get(&c, ZTM_DER_SET, &rdn, NULL) != 0 || rdn.len == 0)
			goto bad;
		ztm_cursor_init(&set, rdn.p, rdn.len);
		while (ztm_cursor_left(&set) > 0) {
			if (ztm_der_get(&set, ZTM_DER_SEQUENCE, &a, NULL) != 0)
				goto bad;
			ztm_cursor_init(&atv, a.p, a.len);
			if (ztm_der_get(&atv, ZTM_DER_OID, &oid, NULL) != 0)
				goto bad;
			tag = ztm_der_peek(&atv);
			if (tag < 0 || ztm_der_get(&atv, (uint8_t)tag, &v, NULL) != 0 ||
			    ztm_cursor_left(&atv) != 0)
				goto bad;
			if (!ztm_der_oid_is(oid, ZTM_OID_AT_SERIAL, ZTM_OID_LEN(ZTM_OID_AT_SERIAL)))
				continue;
			found++;
			match = (tag == ZTM_DER_PRINTABLE || tag == ZTM_DER_UTF8) && v.len == n &&
			        memcmp(v.p, serial, n) == 0;
		}
	}
	if (found == 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate has no subject serialNumber");
	if (found > 1)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate has several subject serialNumbers");
	if (!match)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "bootstrap certificate subject serialNumber is not '%s'",
		                     serial);
	return 0;
bad:
	return ztm_error_set(err, ZTM_E_PARSE, "bootstrap certificate subject is not a DER Name");
}

/* The shape of a bootstrap certificate (ztm_bootstrap_shape, shared with
 * the TLS handshake), then the record's own claims on it. */
int ztm_record_check_cert_shape(struct ztm_record *r, struct ztm_error *err)
{
	struct ztm_bootstrap_shape shape;
	unsigned char md[32];

	if (ztm_bootstrap_shape(r->cert, r->cert_len, &shape, err) != 0 ||
	    shape_serial(shape.subject, r->serial, err) != 0)
		return -1;
	if (EVP_Digest(shape.spki.p, shape.spki.len, md, NULL, ztm_md_sha256(), NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "SHA-256");
	ztm_hex(md, sizeof(md), r->spki_sha256);
	return 0;
}

int ztm_record_check_cert(struct ztm_record *r, struct ztm_error *err)
{
	const unsigned char *p = r->cert;
	unsigned char *spki = NULL;
	unsigned char md[32];
	X509 *x = NULL;
	EVP_PKEY *pub;
	int n, rc = -1;

	/* What the server checks, so that the station refuses all it would. */
	if (ztm_record_check_cert_shape(r, err) != 0)
		return -1;
	x = d2i_X509(NULL, &p, (long)r->cert_len);
	if (x == NULL || p != r->cert + r->cert_len) {
		ztm_error_ossl(err, ZTM_E_PARSE,
		               "bootstrap certificate is not one DER certificate");
		goto out;
	}
	/* The key policy on the encoded SPKI (lint.h: explicit EC parameters
	 * must not pass as a named curve). */
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (n <= 0) {
		ztm_error_ossl(err, ZTM_E_PARSE, "bootstrap certificate key");
		goto out;
	}
	if (ztm_spki_check(spki, (size_t)n, NULL, err) != 0)
		goto out;
	pub = X509_get0_pubkey(x);
	if (pub == NULL) {
		ztm_error_ossl(err, ZTM_E_PARSE, "bootstrap certificate key");
		goto out;
	}
	/* Self-signed: issuer is the subject (and any key identifiers agree),
	 * and the signature verifies with the certificate's own key. Not
	 * X509_check_issued(x, x): it also demands keyCertSign of a keyUsage,
	 * which an end-entity bootstrap certificate (libztmdev's: critical
	 * digitalSignature) rightly lacks. */
	if (X509_self_signed(x, 0) != 1) {
		ztm_error_set(err, ZTM_E_POLICY, "bootstrap certificate is not self-issued");
		goto out;
	}
	if (X509_verify(x, pub) != 1) {
		ztm_error_ossl(err, ZTM_E_BADSIG, "bootstrap certificate self-signature");
		goto out;
	}
	if (check_subject_serial(x, r->serial, err) != 0)
		goto out;
	if (EVP_Digest(spki, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "SHA-256");
		goto out;
	}
	ztm_hex(md, sizeof(md), r->spki_sha256);
	rc = 0;
out:
	OPENSSL_free(spki);
	X509_free(x);
	return rc;
}

int ztm_record_validate_fields(const struct ztm_record *r, struct ztm_error *err)
{
	static const char *const fmt = "%s: '%.80s' is not valid (%s)";

	if (!ztm_record_valid_serial(r->serial))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "serial", r->serial,
		                     "1-64 of A-Z a-z 0-9 . -, starting alphanumeric");
	if (!ztm_record_valid_name(r->product))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "product", r->product,
		                     "1-64 of A-Z a-z 0-9 . _ -");
	if (!ztm_record_valid_name(r->order))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "order", r->order,
		                     "1-64 of A-Z a-z 0-9 . _ -");
	if (!ztm_record_valid_hw_rev(r->hw_rev))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "hw_rev", r->hw_rev,
		                     "1-32 of A-Z a-z 0-9 . _ -");
	if (!ztm_record_valid_mac(r->mac))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "mac", r->mac,
		                     "aa:bb:cc:dd:ee:ff, lower-case hex");
	if (!ztm_record_valid_fw_version(r->fw_version))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "fw_version", r->fw_version,
		                     "1-64 of A-Z a-z 0-9 . _ - + ~");
	if (!ztm_record_valid_sha256(r->fw_sha256))
		return ztm_error_set(err, ZTM_E_PARSE, fmt, "fw_sha256", r->fw_sha256,
		                     "64 lower-case hex digits");
	if (r->test_result != ZTM_TEST_PASS && r->test_result != ZTM_TEST_FAIL)
		return ztm_error_set(err, ZTM_E_PARSE, "test_result: not pass or fail");
	if (r->key_origin != ZTM_KEY_ORIGIN_DEVICE && r->key_origin != ZTM_KEY_ORIGIN_INJECTED)
		return ztm_error_set(err, ZTM_E_PARSE, "key_origin: not device or injected");
	if (r->kind != ZTM_RECORD_NEW && r->kind != ZTM_RECORD_REPLACEMENT)
		return ztm_error_set(err, ZTM_E_PARSE, "kind: not new or replacement");
	if (r->recorded_at < 1 || r->recorded_at > INT64_C(253402300799))
		return ztm_error_set(err, ZTM_E_PARSE, "recorded_at: out of range");
	return 0;
}

int ztm_record_validate(struct ztm_record *r, struct ztm_error *err)
{
	if (ztm_record_validate_fields(r, err) != 0)
		return -1;
	return ztm_record_check_cert(r, err);
}

int ztm_record_validate_shape(struct ztm_record *r, struct ztm_error *err)
{
	if (ztm_record_validate_fields(r, err) != 0)
		return -1;
	return ztm_record_check_cert_shape(r, err);
}

json_t *ztm_record_obj(struct ztm_record *r, struct ztm_error *err)
{
	struct ztm_buf b64;
	json_t *j;

	if (ztm_record_validate(r, err) != 0)
		return NULL;
	ztm_buf_init(&b64, 0);
	if (ztm_b64_encode(r->cert, r->cert_len, 0, &b64) != 0 || ztm_buf_cstr(&b64) == NULL) {
		ztm_buf_free(&b64);
		ztm_error_set(err, ZTM_E_NOMEM, "base64");
		return NULL;
	}
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "serial", r->serial,
	              "product", r->product, "order", r->order, "hw_rev", r->hw_rev, "mac", r->mac,
	              "fw_version", r->fw_version, "fw_sha256", r->fw_sha256, "test_result",
	              ztm_test_result_name(r->test_result), "key_origin",
	              ztm_key_origin_name(r->key_origin), "bootstrap_cert", (const char *)b64.data,
	              "recorded_at", (json_int_t)r->recorded_at);
	ztm_buf_free(&b64);
	/* "kind" only for a replacement: a new device's record is written as
	 * before this member existed, so its bytes (and batch hashes) do not
	 * change. */
	if (j != NULL && r->kind == ZTM_RECORD_REPLACEMENT &&
	    json_object_set_new(j, "kind", json_string("replacement")) != 0) {
		json_decref(j);
		j = NULL;
	}
	if (j == NULL)
		ztm_error_set(err, ZTM_E_NOMEM, "record JSON");
	return j;
}

int ztm_json_str(const json_t *obj, const char *key, size_t max, char *out, struct ztm_error *err)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);

	if (s == NULL)
		return ztm_error_set(err, ZTM_E_PARSE, "%s: missing or not a string", key);
	if (json_string_length(v) > max || strlen(s) != json_string_length(v))
		return ztm_error_set(err, ZTM_E_PARSE, "%s: longer than %zu bytes", key, max);
	memcpy(out, s, json_string_length(v) + 1);
	return 0;
}

int ztm_json_time(const json_t *obj, const char *key, int64_t *out, struct ztm_error *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > INT64_C(253402300799))
		return ztm_error_set(err, ZTM_E_PARSE, "%s: missing or not a Unix time", key);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int ztm_json_members(const json_t *obj, const char *const *keys, size_t n, struct ztm_error *err)
{
	const char *k;
	const json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return ztm_error_set(err, ZTM_E_PARSE, "not a JSON object");
	json_object_foreach((json_t *)obj, k, v)
	{
		for (i = 0; i < n; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == n)
			return ztm_error_set(err, ZTM_E_PARSE, "unknown member '%.64s'", k);
	}
	for (i = 0; i < n; i++)
		if (json_object_get(obj, keys[i]) == NULL)
			return ztm_error_set(err, ZTM_E_PARSE, "%s: missing", keys[i]);
	return 0;
}

int ztm_record_from_obj(const json_t *j, struct ztm_record *out, int full, struct ztm_error *err)
{
	static const char *const keys[] = {
	    "serial",    "product",     "order",      "hw_rev",         "mac",         "fw_version",
	    "fw_sha256", "test_result", "key_origin", "bootstrap_cert", "recorded_at", "kind",
	};
	/* Every member is required but "kind" (the last). */
	size_t nkeys = sizeof(keys) / sizeof(keys[0]) - (json_object_get(j, "kind") == NULL);
	char word[16];
	const char *b64;
	struct ztm_buf der;

	memset(out, 0, sizeof(*out));
	if (ztm_json_members(j, keys, nkeys, err) != 0 ||
	    ztm_json_str(j, "serial", ZTM_RECORD_MAX_SERIAL, out->serial, err) != 0 ||
	    ztm_json_str(j, "product", ZTM_RECORD_MAX_NAME, out->product, err) != 0 ||
	    ztm_json_str(j, "order", ZTM_RECORD_MAX_NAME, out->order, err) != 0 ||
	    ztm_json_str(j, "hw_rev", ZTM_RECORD_MAX_HWREV, out->hw_rev, err) != 0 ||
	    ztm_json_str(j, "mac", sizeof(out->mac) - 1, out->mac, err) != 0 ||
	    ztm_json_str(j, "fw_version", ZTM_RECORD_MAX_FWVER, out->fw_version, err) != 0 ||
	    ztm_json_str(j, "fw_sha256", 64, out->fw_sha256, err) != 0 ||
	    ztm_json_time(j, "recorded_at", &out->recorded_at, err) != 0)
		return -1;
	if (ztm_json_str(j, "test_result", sizeof(word) - 1, word, err) != 0 ||
	    ztm_test_result_parse(word, &out->test_result) != 0)
		return ztm_error_set(err, ZTM_E_PARSE, "test_result: not \"pass\" or \"fail\"");
	if (ztm_json_str(j, "key_origin", sizeof(word) - 1, word, err) != 0 ||
	    ztm_key_origin_parse(word, &out->key_origin) != 0)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "key_origin: not \"device\" or \"injected\"");
	if (json_object_get(j, "kind") != NULL &&
	    (ztm_json_str(j, "kind", sizeof(word) - 1, word, err) != 0 ||
	     ztm_record_kind_parse(word, &out->kind) != 0))
		return ztm_error_set(err, ZTM_E_PARSE, "kind: not \"new\" or \"replacement\"");
	b64 = json_string_value(json_object_get(j, "bootstrap_cert"));
	/* One line of canonical base64: no white space (ztm_b64_decode would
	 * skip it), so equal certificates have equal text. */
	if (b64 == NULL || b64[0] == '\0' || strcspn(b64, " \t\r\n") != strlen(b64) ||
	    strlen(b64) > (ZTM_RECORD_MAX_CERT + 2) / 3 * 4)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "bootstrap_cert: not one line of base64 up to %d bytes",
		                     ZTM_RECORD_MAX_CERT);
	ztm_buf_init(&der, ZTM_RECORD_MAX_CERT);
	if (ztm_b64_decode(b64, strlen(b64), &der) != 0) {
		ztm_buf_free(&der);
		return ztm_error_set(err, ZTM_E_PARSE, "bootstrap_cert: bad base64");
	}
	memcpy(out->cert, der.data, der.len);
	out->cert_len = der.len;
	ztm_buf_free(&der);
	return full ? ztm_record_validate(out, err) : ztm_record_validate_shape(out, err);
}

int ztm_record_to_json(struct ztm_record *r, struct ztm_buf *out, struct ztm_error *err)
{
	json_t *j = ztm_record_obj(r, err);
	char *s;
	int rc;

	if (j == NULL)
		return -1;
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (s == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "record JSON");
	rc = ztm_buf_append_str(out, s);
	free(s);
	if (rc != 0)
		return ztm_error_set(err, ZTM_E_TOOBIG, "record JSON too large");
	return 0;
}

int ztm_record_from_json(const uint8_t *p, size_t n, struct ztm_record *out, struct ztm_error *err)
{
	json_error_t je;
	json_t *j;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n > ZTM_RECORD_MAX_JSON)
		return ztm_error_set(err, ZTM_E_TOOBIG, "record JSON over %d bytes",
		                     ZTM_RECORD_MAX_JSON);
	j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return ztm_error_set(err, ZTM_E_PARSE, "record JSON: %s (line %d)", je.text,
		                     je.line);
	rc = ztm_record_from_obj(j, out, 1, err);
	json_decref(j);
	return rc;
}
