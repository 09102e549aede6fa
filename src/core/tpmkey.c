/* tpmkey.c - the tpm2: key backend (include/ztm/tpmkey.h, docs/tpm.md):
 * keys generated inside a TPM 2.0 by the tpm2-openssl provider and kept as
 * TSS2 blobs in files, for stations (and any ztm key URI).
 *
 * The provider lives in a library context of ztm's own, created on the
 * first tpm2: key and kept for the process: OpenSSL's default context (ztmd,
 * the CLI's other keys) never sees it, and the process holds one TPM
 * connection, which a TPM without a resource manager (swtpm, /dev/tpm0)
 * requires. A TPM that cannot be reached is an error of that call; the
 * next call tries again. */
#include "ztm/tpmkey.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tpm_int.h"
#include "ztm/buf.h"
#include "ztm/file.h"
#include "ztm/str.h"

#define TPM_BLOB_MAX (16 * 1024)
#define TSS2_PEM     "-----BEGIN TSS2 PRIVATE KEY-----"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static OSSL_LIB_CTX *tpm_libctx;

int ztm_tpm_uri_path(const char *uri, char *out, size_t outsize, struct ztm_error *err)
{
	const char *p;
	size_t n = sizeof(ZTM_TPM_SCHEME) - 1, i;

	if (uri == NULL || strncmp(uri, ZTM_TPM_SCHEME, n) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "key URI: not a " ZTM_TPM_SCHEME " URI");
	p = uri + n;
	if (p[0] == '\0')
		return ztm_error_set(err, ZTM_E_USAGE, "key URI %s: no blob path", uri);
	for (i = 0; p[i] != '\0'; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "key URI: control character in the blob path");
		if (c == '?' || c == '#')
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "key URI %s: no query or fragment in a tpm2: URI "
			                     "(a TPM key has no passphrase)",
			                     uri);
	}
	if (ztm_strlcpy(out, p, outsize) != 0)
		return ztm_error_set(err, ZTM_E_USAGE, "key URI: blob path too long");
	return 0;
}

/* The library context with the tpm2 provider (and the default one, which
 * the provider uses for hashing and public-key work). */
static OSSL_LIB_CTX *tpm_ctx(struct ztm_error *err)
{
	OSSL_LIB_CTX *ctx = NULL;
	const char *tcti;

	pthread_mutex_lock(&lock);
	if (tpm_libctx != NULL) {
		ctx = tpm_libctx;
		goto out;
	}
	ctx = OSSL_LIB_CTX_new();
	if (ctx == NULL || OSSL_PROVIDER_load(ctx, "default") == NULL ||
	    EVP_set_default_properties(ctx, "?provider=default") != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: library context");
		OSSL_LIB_CTX_free(ctx);
		ctx = NULL;
		goto out;
	}
	/* The provider connects to the TPM as it loads. */
	if (OSSL_PROVIDER_load(ctx, "tpm2") == NULL) {
		tcti = getenv("TPM2OPENSSL_TCTI");
		ERR_clear_error();
		ztm_error_set(err, ZTM_E_UNAVAILABLE,
		              "tpm2: cannot open the TPM through the tpm2 provider (tpm2-openssl "
		              "installed? TPM reachable at %.200s?)",
		              tcti != NULL ? tcti : "the default TCTI, /dev/tpmrm0");
		OSSL_LIB_CTX_free(ctx);
		ctx = NULL;
		goto out;
	}
	tpm_libctx = ctx;
out:
	pthread_mutex_unlock(&lock);
	return ctx;
}

EVP_PKEY *tpm_load(const char *uri, const struct ztm_key_opts *opts, struct ztm_error *err)
{
	char path[4096];
	struct ztm_buf b;
	OSSL_LIB_CTX *ctx;
	OSSL_DECODER_CTX *dctx = NULL;
	EVP_PKEY *tpm = NULL, *out = NULL;
	const unsigned char *p;
	size_t n;

	(void)opts;
	ztm_buf_init(&b, TPM_BLOB_MAX);
	if (ztm_tpm_uri_path(uri, path, sizeof(path), err) != 0 ||
	    ztm_file_read(path, TPM_BLOB_MAX, &b, err) != 0)
		goto out;
	if (b.len < sizeof(TSS2_PEM) - 1 || memcmp(b.data, TSS2_PEM, sizeof(TSS2_PEM) - 1) != 0) {
		ztm_error_set(err, ZTM_E_PARSE, "%s: not a TSS2 PRIVATE KEY blob", path);
		goto out;
	}
	if ((ctx = tpm_ctx(err)) == NULL)
		goto out;
	p = (const unsigned char *)b.data;
	n = b.len;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&tpm, "PEM", NULL, "EC", OSSL_KEYMGMT_SELECT_KEYPAIR,
	                                     ctx, NULL);
	if (dctx == NULL || OSSL_DECODER_from_data(dctx, &p, &n) != 1 || tpm == NULL) {
		ztm_error_ossl(err, ZTM_E_UNAVAILABLE,
		               "%s: the TPM cannot load the blob (another TPM's key, or a damaged "
		               "blob)",
		               path);
		goto out;
	}
	out = tpm_pkey_wrap(ctx, tpm, err);
out:
	OSSL_DECODER_CTX_free(dctx);
	EVP_PKEY_free(tpm);
	ztm_buf_free(&b);
	return out;
}

EVP_PKEY *tpm_generate(const char *uri, enum ztm_key_alg alg, const struct ztm_key_opts *opts,
                       struct ztm_error *err)
{
	char path[4096], group[16];
	OSSL_LIB_CTX *ctx;
	EVP_PKEY_CTX *gctx = NULL;
	OSSL_ENCODER_CTX *ectx = NULL;
	EVP_PKEY *tpm = NULL, *out = NULL;
	OSSL_PARAM params[2];
	unsigned char *pem = NULL;
	size_t n = 0;
	struct stat st;

	(void)opts;
	if (ztm_tpm_uri_path(uri, path, sizeof(path), err) != 0)
		return NULL;
	if (alg != ZTM_KEY_P256 && alg != ZTM_KEY_P384) {
		ztm_error_set(err, ZTM_E_USAGE,
		              "tpm2: %s keys are not generated in a TPM (p256, p384)",
		              ztm_key_alg_name(alg));
		return NULL;
	}
	if (stat(path, &st) == 0) {
		ztm_error_set(err, ZTM_E_EXISTS, "%s: already exists, not overwritten", path);
		return NULL;
	}
	if ((ctx = tpm_ctx(err)) == NULL)
		return NULL;
	snprintf(group, sizeof(group), "%s", alg == ZTM_KEY_P256 ? "P-256" : "P-384");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* The provider's template: fixedTPM, fixedParent, sensitiveDataOrigin,
	 * under the owner hierarchy's storage primary. */
	gctx = EVP_PKEY_CTX_new_from_name(ctx, "EC", "provider=tpm2");
	if (gctx == NULL || EVP_PKEY_keygen_init(gctx) != 1 ||
	    EVP_PKEY_CTX_set_params(gctx, params) != 1 || EVP_PKEY_generate(gctx, &tpm) != 1) {
		ztm_error_ossl(err, ZTM_E_UNAVAILABLE, "tpm2: generating a %s key in the TPM",
		               ztm_key_alg_name(alg));
		goto out;
	}
	ectx = OSSL_ENCODER_CTX_new_for_pkey(tpm, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM", NULL,
	                                     "provider=tpm2");
	if (ectx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0 ||
	    OSSL_ENCODER_to_data(ectx, &pem, &n) != 1 || n < sizeof(TSS2_PEM) - 1 ||
	    memcmp(pem, TSS2_PEM, sizeof(TSS2_PEM) - 1) != 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "tpm2: encoding the key's blob");
		goto out;
	}
	/* Exclusive, 0600: the blob is useless without the TPM, but it is
	 * still the key's only handle. */
	if (ztm_file_write(path, pem, n, 0600, 1, err) != 0)
		goto out;
	out = tpm_pkey_wrap(ctx, tpm, err);
out:
	OPENSSL_free(pem);
	OSSL_ENCODER_CTX_free(ectx);
	EVP_PKEY_CTX_free(gctx);
	EVP_PKEY_free(tpm);
	return out;
}
