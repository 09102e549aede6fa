/* est_client.c - key, CSR, simpleenroll, check, install. */
#include "est_client.h"

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ztm/file.h"
#include "ztm/str.h"

#define ENROLL_RETRIES 10

static EVP_PKEY *load_or_make_key(const struct cli_enroll *e, struct ztm_error *err)
{
	struct ztm_key_opts kopts;
	struct ztm_buf pass;
	struct ztm_error lerr;
	EVP_PKEY *k;

	memset(&kopts, 0, sizeof(kopts));
	ztm_buf_init(&pass, 4096);
	if (e->key_pass_file != NULL) {
		if (ztm_secret_read(e->key_pass_file, &pass, err) != 0)
			return NULL;
		kopts.pass = (const char *)pass.data;
	}
	/* A retry after a lost response must present the same key to get the
	 * same certificate back (DESIGN I3): reuse the key if it exists. */
	k = ztm_key_load(e->key_uri, &kopts, &lerr);
	if (k == NULL && lerr.code == ZTM_E_NOTFOUND)
		k = ztm_key_generate(e->key_uri, e->alg, &kopts, err);
	else if (k == NULL)
		*err = lerr;
	ztm_buf_free(&pass);
	return k;
}

int cli_est_csr(EVP_PKEY *key, const char *cn, const char *serial, struct ztm_buf *b64,
                struct ztm_error *err)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int len, rc = -1;
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	if (req == NULL || name == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    (serial != NULL &&
	     X509_NAME_add_entry_by_NID(name, NID_serialNumber, V_ASN1_PRINTABLESTRING,
	                                (const unsigned char *)serial, -1, -1, 0) != 1) ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, md) <= 0 || (len = i2d_X509_REQ(req, &der)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "building the CSR");
		goto out;
	}
	rc = ztm_b64_encode(der, (size_t)len, 64, b64);
	if (rc != 0)
		ztm_error_set(err, ZTM_E_NOMEM, "encoding the CSR");
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

/* The verified chain without its first element (the leaf), into *out. */
static int chain_above(X509_STORE_CTX *vctx, STACK_OF(X509) * *out, struct ztm_error *err)
{
	STACK_OF(X509) *all = X509_STORE_CTX_get1_chain(vctx);

	if (all == NULL || sk_X509_num(all) < 1) {
		sk_X509_pop_free(all, X509_free);
		return ztm_error_ossl(err, ZTM_E_INTERNAL, "verified chain");
	}
	X509_free(sk_X509_shift(all));
	*out = all;
	return 0;
}

/* The reply must be a certs-only message whose first certificate is for our
 * key and chains to the CA bundle we trust. */
static X509 *check_reply(const struct ztm_client_opts *o, EVP_PKEY *key,
                         const struct ztm_http_resp *resp, STACK_OF(X509) * *chain,
                         struct ztm_error *err)
{
	struct ztm_buf der;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	X509 *cert = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	STACK_OF(X509) * certs;

	ztm_buf_init(&der, 0);
	if (strncmp(resp->content_type, "application/pkcs7-mime", 22) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "reply Content-Type '%s' is not pkcs7-mime",
		              resp->content_type);
		goto out;
	}
	if (ztm_b64_decode((const char *)resp->body.data, resp->body.len, &der) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "reply is not base64");
		goto out;
	}
	p = der.data;
	p7 = d2i_PKCS7(NULL, &p, (long)der.len);
	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign->cert == NULL ||
	    sk_X509_num(p7->d.sign->cert) < 1) {
		ztm_error_ossl(err, ZTM_E_PARSE, "reply holds no certificate");
		goto out;
	}
	certs = p7->d.sign->cert;
	cert = X509_dup(sk_X509_value(certs, 0));
	if (cert == NULL || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		ztm_error_set(err, ZTM_E_POLICY, "issued certificate is not for our key");
		goto fail;
	}
	store = X509_STORE_new();
	vctx = X509_STORE_CTX_new();
	if (store == NULL || vctx == NULL || X509_STORE_load_file(store, o->ca_file) != 1 ||
	    X509_STORE_CTX_init(vctx, store, cert, certs) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "%s: cannot load CA bundle", o->ca_file);
		goto fail;
	}
	if (X509_verify_cert(vctx) != 1) {
		ztm_error_set(err, ZTM_E_AUTH, "issued certificate does not chain to %s: %s",
		              o->ca_file,
		              X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
		goto fail;
	}
	if (chain != NULL && chain_above(vctx, chain, err) != 0)
		goto fail;
	goto out;
fail:
	X509_free(cert);
	cert = NULL;
out:
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	PKCS7_free(p7);
	ztm_buf_free(&der);
	return cert;
}

static int write_cert(const char *path, X509 *cert, struct ztm_error *err)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int rc = -1;

	if (mem == NULL || PEM_write_bio_X509(mem, cert) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the certificate");
		goto out;
	}
	n = BIO_get_mem_data(mem, &p);
	rc = ztm_file_write(path, p, (size_t)n, 0644, 0, err);
out:
	BIO_free(mem);
	return rc;
}

/* "(403 injected_key_forbidden) the product forbids injected keys" from an
 * EST error body {"error": ..., "message": ...}, else its first bytes. */
static void refusal(const struct ztm_http_resp *resp, struct ztm_error *err)
{
	json_t *j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *msg = json_string_value(json_object_get(j, "message"));
	enum ztm_err e = resp->status == 401 ? ZTM_E_AUTH : ZTM_E_POLICY;

	if (code != NULL)
		ztm_error_set(err, e, "server refused the enrollment (%d %s): %.200s", resp->status,
		              code, msg != NULL ? msg : "no reason given");
	else
		ztm_error_set(err, e, "server refused the enrollment (%d): %.200s", resp->status,
		              resp->body.len > 0 ? (const char *)resp->body.data : "");
	json_decref(j);
}

X509 *cli_est_simpleenroll(const struct ztm_client_opts *o, const char *path,
                           const char *auth_header, EVP_PKEY *key, const struct ztm_buf *csr,
                           STACK_OF(X509) * *chain, struct ztm_error *err)
{
	struct ztm_http_resp resp;
	X509 *cert = NULL;
	int tries;

	ztm_http_resp_init(&resp);
	for (tries = 0;; tries++) {
		ztm_http_resp_free(&resp);
		ztm_http_resp_init(&resp);
		if (ztm_client_request(o, "POST", path, "application/pkcs10", auth_header,
		                       csr->data, csr->len, &resp, err) != 0)
			goto out;
		/* RFC 7030 §4.2.3: 202 + Retry-After means "ask again". */
		if (resp.status != 202 || tries >= ENROLL_RETRIES)
			break;
		sleep(resp.retry_after > 0 && resp.retry_after < 60 ? (unsigned)resp.retry_after
		                                                    : 1);
	}
	if (resp.status != 200) {
		ztm_buf_cstr(&resp.body);
		refusal(&resp, err);
		goto out;
	}
	cert = check_reply(o, key, &resp, chain, err);
out:
	ztm_http_resp_free(&resp);
	return cert;
}

int cli_est_enroll(const struct ztm_client_opts *o, const struct cli_enroll *e,
                   struct ztm_error *err)
{
	EVP_PKEY *key = NULL;
	struct ztm_buf csr, cred, auth;
	X509 *cert = NULL;
	char path[128];
	int rc = -1;

	ztm_buf_init(&csr, 0);
	ztm_buf_init(&cred, 4096);
	ztm_buf_init(&auth, 4096);
	key = load_or_make_key(e, err);
	if (key == NULL || cli_est_csr(key, e->name, NULL, &csr, err) != 0)
		goto out;
	if (ztm_buf_printf(&cred, "%s:%s", e->name, e->code) != 0 ||
	    ztm_buf_append_str(&auth, "Authorization: Basic ") != 0 ||
	    ztm_b64_encode(cred.data, cred.len, 0, &auth) != 0 || ztm_buf_cstr(&auth) == NULL) {
		ztm_error_set(err, ZTM_E_USAGE, "code too long");
		goto out;
	}
	if (e->label != NULL)
		snprintf(path, sizeof(path), "/.well-known/est/%s/simpleenroll", e->label);
	else
		snprintf(path, sizeof(path), "/.well-known/est/simpleenroll");
	cert = cli_est_simpleenroll(o, path, (const char *)auth.data, key, &csr, NULL, err);
	if (cert == NULL || write_cert(e->out, cert, err) != 0)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	ztm_buf_free(&csr);
	ztm_buf_free(&cred); /* wipes the code */
	ztm_buf_free(&auth);
	return rc;
}
