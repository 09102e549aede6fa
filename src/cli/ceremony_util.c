/* ceremony_util.c - hashes, certificate files, passphrases, detached
 * signatures and temporary directories for `ztm ceremony`. */
/* nftw() is XSI. */
#define _XOPEN_SOURCE 700
#include "ceremony.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ztm/file.h"
#include "ztm/str.h"

#define CERT_FILE_MAX (64 * 1024)

int cer_sha256_hex(const void *p, size_t n, char hex[65])
{
	uint8_t d[32];

	if (EVP_Digest(p, n, d, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	ztm_hex(d, sizeof(d), hex);
	return 0;
}

int cer_sha256_file(const char *path, char hex[65], struct ztm_error *err)
{
	struct ztm_buf b;
	int rc = -1;

	ztm_buf_init(&b, 0);
	if (ztm_file_read(path, ZTM_BUF_DEFAULT_MAX, &b, err) != 0)
		goto out;
	if (cer_sha256_hex(b.data != NULL ? b.data : (const uint8_t *)"", b.len, hex) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: hashing", path);
		goto out;
	}
	rc = 0;
out:
	ztm_buf_free(&b);
	return rc;
}

int cer_cert_sha256(X509 *x, char hex[65], struct ztm_error *err)
{
	uint8_t d[32];
	unsigned int n = sizeof(d);

	if (X509_digest(x, EVP_sha256(), d, &n) != 1 || n != sizeof(d))
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "certificate fingerprint");
	ztm_hex(d, sizeof(d), hex);
	return 0;
}

int cer_key_id(EVP_PKEY *k, char hex[65], struct ztm_error *err)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	int rc;

	if (n <= 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the public key");
	rc = cer_sha256_hex(der, (size_t)n, hex);
	OPENSSL_free(der);
	if (rc != 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "hashing the public key");
	return 0;
}

int cer_cert_write(const char *path, X509 *x, struct ztm_error *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	int rc = -1;

	if (bio == NULL || PEM_write_bio_X509(bio, x) != 1 || BIO_get_mem_ptr(bio, &mem) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "%s: encoding the certificate", path);
		goto out;
	}
	rc = ztm_file_write(path, mem->data, mem->length, 0644, 1, err);
out:
	BIO_free(bio);
	return rc;
}

X509 *cer_cert_read(const char *path, struct ztm_error *err)
{
	struct ztm_buf b;
	BIO *bio = NULL;
	X509 *x = NULL;

	ztm_buf_init(&b, 0);
	if (ztm_file_read(path, CERT_FILE_MAX, &b, err) != 0)
		goto out;
	bio = BIO_new_mem_buf(b.data, (int)b.len);
	if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		ztm_error_ossl(err, ZTM_E_PARSE, "%s: not a PEM certificate", path);
out:
	BIO_free(bio);
	ztm_buf_free(&b);
	return x;
}

int cer_pass(const char *file, const char *what, int confirm, size_t minlen, struct ztm_buf *out,
             struct ztm_error *err)
{
	char typed[1024];
	char prompt[256];
	int rc = -1;

	ztm_buf_reset(out);
	if (file != NULL) {
		if (ztm_secret_read(file, out, err) != 0)
			return -1;
	} else {
		if (!isatty(STDIN_FILENO))
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "%s passphrase: no file given and no terminal to ask",
			                     what);
		snprintf(prompt, sizeof(prompt), "%s passphrase: ", what);
		if (EVP_read_pw_string(typed, sizeof(typed), prompt, confirm) != 0) {
			ztm_error_set(err, ZTM_E_AUTH,
			              "%s passphrase: not entered (or the two "
			              "entries differ)",
			              what);
			goto out;
		}
		if (ztm_buf_append_str(out, typed) != 0) {
			ztm_error_set(err, ZTM_E_NOMEM, "%s passphrase", what);
			goto out;
		}
	}
	if (out->len < minlen) {
		ztm_error_set(err, ZTM_E_POLICY, "%s passphrase%s%s: shorter than %zu characters",
		              what, file != NULL ? " in " : "", file != NULL ? file : "", minlen);
		goto out;
	}
	ztm_buf_cstr(out);
	rc = 0;
out:
	OPENSSL_cleanse(typed, sizeof(typed));
	if (rc != 0)
		ztm_buf_reset(out);
	return rc;
}

static const char *sig_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL;
	if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_bits(k) > 256)
		return "SHA384";
	return "SHA256";
}

int cer_sign(EVP_PKEY *key, const void *data, size_t n, struct ztm_buf *b64, struct ztm_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t slen = 0;
	int rc = -1;

	if (md == NULL ||
	    EVP_DigestSignInit_ex(md, NULL, sig_md(key), NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(md, NULL, &slen, data, n) != 1 || (sig = OPENSSL_malloc(slen)) == NULL ||
	    EVP_DigestSign(md, sig, &slen, data, n) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "signing the transcript");
		goto out;
	}
	if (ztm_b64_encode(sig, slen, 0, b64) != 0 || ztm_buf_append_str(b64, "\n") != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "encoding the signature");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(md);
	return rc;
}

int cer_verify(EVP_PKEY *pub, const void *data, size_t n, const char *b64, size_t b64len,
               struct ztm_error *err)
{
	EVP_MD_CTX *md = NULL;
	struct ztm_buf sig;
	int rc = -1;

	ztm_buf_init(&sig, 0);
	if (ztm_b64_decode(b64, b64len, &sig) != 0 || sig.len == 0) {
		ztm_error_set(err, ZTM_E_PARSE, "signature: not base64");
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit_ex(md, NULL, sig_md(pub), NULL, NULL, pub, NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "setting up signature verification");
		goto out;
	}
	/* Default-fail: only an explicit 1 is a valid signature. */
	if (EVP_DigestVerify(md, sig.data, sig.len, data, n) != 1) {
		ztm_error_ossl(err, ZTM_E_BADSIG, "signature does not verify");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	ztm_buf_free(&sig);
	return rc;
}

void cer_time_iso(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cer_asn1_time_iso(const ASN1_TIME *t, char out[32])
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void cer_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int cer_dir_empty_or_absent(const char *path, struct ztm_error *err)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int rc = 0;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return ztm_error_set(err, ZTM_E_USAGE, "%s: %s", path, strerror(errno));
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			rc = ztm_error_set(err, ZTM_E_EXISTS,
			                   "%s: directory is not empty, refusing to write into it",
			                   path);
			break;
		}
	}
	closedir(d);
	return rc;
}

int cer_key_der(EVP_PKEY *k, uint8_t **der, size_t *len, struct ztm_error *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	unsigned char *tmp = NULL, *p;
	int n;

	*der = NULL;
	*len = 0;
	if (p8 == NULL || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, &tmp)) <= 0) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the private key");
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	p = OPENSSL_secure_malloc((size_t)n);
	if (p != NULL)
		memcpy(p, tmp, (size_t)n);
	OPENSSL_clear_free(tmp, (size_t)n);
	if (p == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "private key buffer");
	*der = p;
	*len = (size_t)n;
	return 0;
}

EVP_PKEY *cer_key_from_der(const uint8_t *der, size_t len, struct ztm_error *err)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	EVP_PKEY *k = NULL;

	if (p8 == NULL || p != der + len || (k = EVP_PKCS82PKEY(p8)) == NULL)
		ztm_error_ossl(err, ZTM_E_PARSE, "combined secret: not a PKCS#8 private key");
	PKCS8_PRIV_KEY_INFO_free(p8);
	return k;
}
