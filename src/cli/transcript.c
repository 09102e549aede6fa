/* transcript.c - the signed ceremony transcript: building its entries,
 * writing it with a detached root signature, and verifying the whole chain
 * (transcript.json, then transcript.d/0001.json, ... each naming the SHA-256
 * of the one before). Format: docs/ceremony.md, "Transcript". */
#include "ceremony.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "ztm/file.h"

#define TX_FORMAT   "ztm-ceremony-transcript/1"
#define TX_FILE_MAX (4 * 1024 * 1024)

static int join(char *out, size_t n, const char *dir, const char *rel)
{
	return snprintf(out, n, "%s/%s", dir, rel) < (int)n ? 0 : -1;
}

json_t *cer_tx_file(const char *dir, const char *rel, struct ztm_error *err)
{
	char path[4096], hex[65];

	if (join(path, sizeof(path), dir, rel) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", rel);
		return NULL;
	}
	if (cer_sha256_file(path, hex, err) != 0)
		return NULL;
	return json_pack("{s:s, s:s}", "path", rel, "sha256", hex);
}

json_t *cer_tx_cert(const char *dir, const char *name, const char *role, X509 *x,
                    const char *cert_file, const char *key_file, const char *key_alg,
                    const char *protection, struct ztm_error *err)
{
	char fp[65], nb[32], na[32], certhash[65], keyhash[65], path[4096];
	char *subject = NULL, *issuer = NULL, *serial = NULL;
	BIGNUM *bn = NULL;
	json_t *o = NULL;

	if (cer_cert_sha256(x, fp, err) != 0)
		return NULL;
	if (join(path, sizeof(path), dir, cert_file) != 0 ||
	    cer_sha256_file(path, certhash, err) != 0)
		goto out;
	if (key_file != NULL && (join(path, sizeof(path), dir, key_file) != 0 ||
	                         cer_sha256_file(path, keyhash, err) != 0))
		goto out;
	subject = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
	issuer = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	serial = bn != NULL ? BN_bn2hex(bn) : NULL;
	if (subject == NULL || issuer == NULL || serial == NULL ||
	    cer_asn1_time_iso(X509_get0_notBefore(x), nb) != 0 ||
	    cer_asn1_time_iso(X509_get0_notAfter(x), na) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: reading the certificate", name);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name,
	              "role", role, "subject", subject, "issuer", issuer, "serial", serial,
	              "sha256", fp, "not_before", nb, "not_after", na, "key_alg", key_alg,
	              "cert_file", cert_file, "cert_file_sha256", certhash);
	if (o == NULL ||
	    json_object_set_new(o, "key_file", key_file ? json_string(key_file) : json_null()) ||
	    json_object_set_new(o, "key_file_sha256",
	                        key_file ? json_string(keyhash) : json_null()) ||
	    json_object_set_new(o, "key_protection", json_string(protection))) {
		json_decref(o);
		o = NULL;
		ztm_error_set(err, ZTM_E_NOMEM, "%s: transcript entry", name);
	}
out:
	OPENSSL_free(subject);
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	BN_free(bn);
	return o;
}

int cer_tx_write_signed(const char *dir, const char *json_rel, const char *sig_rel, json_t *tx,
                        EVP_PKEY *root_key, struct ztm_error *err)
{
	char jpath[4096], spath[4096];
	char *text = NULL;
	struct ztm_buf body, sig;
	int rc = -1;

	ztm_buf_init(&body, TX_FILE_MAX);
	ztm_buf_init(&sig, 0);
	if (json_object_set_new(tx, "format", json_string(TX_FORMAT)) != 0 ||
	    (text = json_dumps(tx, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL ||
	    ztm_buf_append_str(&body, text) != 0 || ztm_buf_append_str(&body, "\n") != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s: serialising", json_rel);
		goto out;
	}
	if (join(jpath, sizeof(jpath), dir, json_rel) != 0 ||
	    join(spath, sizeof(spath), dir, sig_rel) != 0) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", dir);
		goto out;
	}
	/* The signature covers exactly the bytes written: what is verified is
	 * the file, not a re-serialisation of the parsed JSON. */
	if (cer_sign(root_key, body.data, body.len, &sig, err) != 0 ||
	    ztm_file_write(jpath, body.data, body.len, 0644, 1, err) != 0 ||
	    ztm_file_write(spath, sig.data, sig.len, 0644, 1, err) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	ztm_buf_free(&body);
	ztm_buf_free(&sig);
	return rc;
}

/* ---- verification --------------------------------------------------- */

struct vstate {
	const char *dir;
	X509 *root;
	STACK_OF(X509) * cas;   /* untrusted intermediates */
	STACK_OF(X509) * check; /* everything that must chain to the root */
	json_t *names;          /* name of each entry of `check`, same order */
};

/* Relative, no "..", no leading '/': the transcript names files under dir. */
static int safe_rel(const char *rel)
{
	return rel != NULL && rel[0] != '\0' && rel[0] != '/' && strstr(rel, "..") == NULL;
}

static int check_hash(const struct vstate *v, const char *tx, const char *rel, const char *want,
                      struct ztm_error *err)
{
	char path[4096], got[65];

	if (!safe_rel(rel) || want == NULL)
		return ztm_error_set(err, ZTM_E_PARSE, "%s: bad file entry '%s'", tx,
		                     rel ? rel : "(none)");
	if (join(path, sizeof(path), v->dir, rel) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "%s: path too long", rel);
	if (cer_sha256_file(path, got, err) != 0)
		return -1;
	if (strcmp(got, want) != 0)
		return ztm_error_set(
		    err, ZTM_E_CONFLICT,
		    "%s: SHA-256 differs from %s (file changed since the ceremony)", path, tx);
	return 0;
}

static int check_cert(struct vstate *v, const char *tx, json_t *c, struct ztm_error *err)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *role = json_string_value(json_object_get(c, "role"));
	const char *file = json_string_value(json_object_get(c, "cert_file"));
	const char *fp = json_string_value(json_object_get(c, "sha256"));
	const char *kf = json_string_value(json_object_get(c, "key_file"));
	char path[4096], got[65];
	X509 *x = NULL;
	int rc = -1;

	if (name == NULL || role == NULL || fp == NULL)
		return ztm_error_set(err, ZTM_E_PARSE,
		                     "%s: certificate entry lacks name, role "
		                     "or sha256",
		                     tx);
	if (check_hash(v, tx, file, json_string_value(json_object_get(c, "cert_file_sha256")),
	               err) != 0)
		return -1;
	if (kf != NULL &&
	    check_hash(v, tx, kf, json_string_value(json_object_get(c, "key_file_sha256")), err) !=
	        0)
		return -1;
	join(path, sizeof(path), v->dir, file);
	x = cer_cert_read(path, err);
	if (x == NULL || cer_cert_sha256(x, got, err) != 0)
		goto out;
	if (strcmp(got, fp) != 0) {
		ztm_error_set(err, ZTM_E_CONFLICT, "%s: fingerprint differs from %s", path, tx);
		goto out;
	}
	if (strcmp(role, "root") == 0) {
		if (X509_cmp(x, v->root) != 0) {
			ztm_error_set(err, ZTM_E_CONFLICT, "%s: not the root/root.crt in use",
			              path);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if ((strcmp(role, "ca") == 0 && sk_X509_push(v->cas, x) <= 0) ||
	    sk_X509_push(v->check, x) <= 0 || X509_up_ref(x) != 1 ||
	    json_array_append_new(v->names, json_string(name)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s", name);
		goto out;
	}
	if (strcmp(role, "ca") == 0 && X509_up_ref(x) != 1)
		goto out;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

/* One transcript file: signature, format, previous link, every entry. */
static int verify_one(struct vstate *v, const char *rel, const char *sig_rel, const char *prev_rel,
                      const char *prev_hash, struct ztm_error *err)
{
	char path[4096], spath[4096];
	struct ztm_buf body, sig;
	json_t *tx = NULL, *arr, *it;
	json_error_t jerr;
	EVP_PKEY *pub = X509_get0_pubkey(v->root);
	const char *s;
	size_t i;
	int rc = -1;

	ztm_buf_init(&body, TX_FILE_MAX);
	ztm_buf_init(&sig, 0);
	join(path, sizeof(path), v->dir, rel);
	join(spath, sizeof(spath), v->dir, sig_rel);
	if (ztm_file_read(path, TX_FILE_MAX, &body, err) != 0 ||
	    ztm_file_read(spath, 8192, &sig, err) != 0)
		goto out;
	if (pub == NULL ||
	    cer_verify(pub, body.data, body.len, (const char *)sig.data, sig.len, err) != 0) {
		ztm_error_set(err, ZTM_E_BADSIG,
		              "%s: signature in %s does not verify with root/root.crt", path,
		              sig_rel);
		goto out;
	}
	tx = json_loadb((const char *)body.data, body.len, 0, &jerr);
	if (tx == NULL || !json_is_object(tx)) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	s = json_string_value(json_object_get(tx, "format"));
	if (s == NULL || strcmp(s, TX_FORMAT) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: format is not %s", path, TX_FORMAT);
		goto out;
	}
	if (prev_rel != NULL) {
		json_t *p = json_object_get(tx, "previous");
		const char *pp = json_string_value(json_object_get(p, "path"));
		const char *ph = json_string_value(json_object_get(p, "sha256"));
		if (pp == NULL || ph == NULL || strcmp(pp, prev_rel) != 0 ||
		    strcmp(ph, prev_hash) != 0) {
			ztm_error_set(err, ZTM_E_CONFLICT,
			              "%s: 'previous' does not name %s with its current SHA-256",
			              path, prev_rel);
			goto out;
		}
	}
	json_array_foreach(json_object_get(tx, "certificates"), i, it)
	{
		if (check_cert(v, rel, it, err) != 0)
			goto out;
	}
	json_array_foreach(json_object_get(tx, "files"), i, it)
	{
		if (check_hash(v, rel, json_string_value(json_object_get(it, "path")),
		               json_string_value(json_object_get(it, "sha256")), err) != 0)
			goto out;
	}
	arr = json_object_get(json_object_get(tx, "shares"), "files");
	json_array_foreach(arr, i, it)
	{
		if (check_hash(v, rel, json_string_value(json_object_get(it, "path")),
		               json_string_value(json_object_get(it, "sha256")), err) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(tx);
	ztm_buf_free(&body);
	ztm_buf_free(&sig);
	return rc;
}

static int verify_chains(struct vstate *v, struct ztm_error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int i, rc = -1;

	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, v->root) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "setting up chain verification");
		goto out;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	for (i = 0; i < sk_X509_num(v->check); i++) {
		X509 *x = sk_X509_value(v->check, i);
		const char *name = json_string_value(json_array_get(v->names, (size_t)i));

		if (X509_STORE_CTX_init(ctx, store, x, v->cas) != 1) {
			ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: chain verification", name);
			goto out;
		}
		if (X509_verify_cert(ctx) != 1) {
			ztm_error_set(err, ZTM_E_BADSIG, "%s: does not chain to the root: %s", name,
			              X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
			goto out;
		}
		X509_STORE_CTX_cleanup(ctx);
	}
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* Number of *.json entries in dir/transcript.d (0 when it does not exist). */
static int count_entries(const char *dir, int *count)
{
	char path[4096];
	DIR *d;
	struct dirent *e;
	size_t l;

	*count = 0;
	join(path, sizeof(path), dir, "transcript.d");
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
			(*count)++;
	}
	closedir(d);
	return 0;
}

int cer_tx_verify(const char *dir, const char *pin_sha256, struct ztm_error *err)
{
	struct vstate v = {dir, NULL, NULL, NULL, NULL};
	char path[4096], rel[64], sig_rel[64], prev[64] = "transcript.json", prev_hash[65], fp[65];
	int n, found, rc = -1;

	v.cas = sk_X509_new_null();
	v.check = sk_X509_new_null();
	v.names = json_array();
	if (v.cas == NULL || v.check == NULL || v.names == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "verify");
		goto out;
	}
	join(path, sizeof(path), dir, "root/root.crt");
	v.root = cer_cert_read(path, err);
	if (v.root == NULL || cer_cert_sha256(v.root, fp, err) != 0)
		goto out;
	if (pin_sha256 != NULL && strcasecmp(pin_sha256, fp) != 0) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "%s: SHA-256 %s is not the pinned root fingerprint", path, fp);
		goto out;
	}
	if (verify_one(&v, "transcript.json", "transcript.sig", NULL, NULL, err) != 0)
		goto out;
	for (n = 1;; n++) {
		snprintf(rel, sizeof(rel), "transcript.d/%04d.json", n);
		snprintf(sig_rel, sizeof(sig_rel), "transcript.d/%04d.sig", n);
		join(path, sizeof(path), dir, rel);
		if (access(path, F_OK) != 0)
			break;
		join(path, sizeof(path), dir, prev);
		if (cer_sha256_file(path, prev_hash, err) != 0 ||
		    verify_one(&v, rel, sig_rel, prev, prev_hash, err) != 0)
			goto out;
		memcpy(prev, rel, sizeof(prev));
	}
	if (count_entries(dir, &found) != 0) {
		ztm_error_set(err, ZTM_E_IO, "%s/transcript.d: cannot list", dir);
		goto out;
	}
	if (found != n - 1) {
		ztm_error_set(err, ZTM_E_CONFLICT,
		              "%s/transcript.d/%04d.json: missing, but later entries exist "
		              "(the record was cut)",
		              dir, n);
		goto out;
	}
	if (verify_chains(&v, err) != 0)
		goto out;
	rc = 0;
out:
	X509_free(v.root);
	sk_X509_pop_free(v.cas, X509_free);
	sk_X509_pop_free(v.check, X509_free);
	json_decref(v.names);
	return rc;
}
