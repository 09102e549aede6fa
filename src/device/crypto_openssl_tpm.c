/* crypto_openssl_tpm.c - the TPM 2.0 key origin of the OpenSSL backend
 * (zd_crypto.h, docs/tpm.md): device keys generated and used inside the
 * TPM through the tpm2-openssl provider.
 *
 * The provider is loaded into a library context of this device context's
 * own (dev->tpm), never into OpenSSL's default one: a process that links
 * libztmdev keeps its default provider and its own configuration, and
 * nothing outside this file fetches from the TPM by accident. Every signing
 * call of crypto_openssl.c (bootstrap certificate, CSR) and the host's TLS
 * handshake take the key's stand-in (crypto_openssl_tpm_ec.c says why one
 * is needed), which has only the signature done by the TPM.
 *
 * Why the provider and not ESAPI calls of our own: key creation, the TSS2
 * PRIVATE KEY format (shared with tpm2-tss-engine and openssl_tpm2_engine),
 * the storage primary and the mapping of TPM signatures into OpenSSL's are
 * the provider's, maintained by the tpm2-software project and packaged in
 * Debian; doing them here would be a few hundred lines of TPM marshalling
 * for nothing the provider lacks. The cost: the provider finds the TPM
 * itself (TPM2OPENSSL_TCTI, else the TSS default: /dev/tpmrm0, /dev/tpm0). */
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>

#include "zd_ossl.h"

#define TPM_PROPQ   "provider=tpm2"
#define TPM_PEM_MAX ((size_t)16 * 1024)

struct zd_tpm {
	OSSL_LIB_CTX *libctx;
	struct zd_tpm_ec *ec;
	OSSL_PROVIDER *tpm2;
	/* The provider hashes and does the public-key side in software, with
	 * what it fetches from its library context: OpenSSL's default
	 * provider, preferred for every fetch that does not ask for the TPM. */
	OSSL_PROVIDER *deflt;
};

void zd_tpm_free(struct zd_tpm *t)
{
	if (t == NULL)
		return;
	/* Every key made in this context must be freed before (ztmdev_free
	 * frees dev->key first). */
	if (t->deflt != NULL)
		OSSL_PROVIDER_unload(t->deflt);
	if (t->tpm2 != NULL)
		OSSL_PROVIDER_unload(t->tpm2);
	OSSL_LIB_CTX_free(t->libctx);
	zd_tpm_ec_free(t->ec);
	free(t);
}

/* Opens the TPM session on first use. The provider connects to the TPM when
 * it loads: an unreachable TPM is reported here, by name. */
static struct zd_tpm *tpm_open(struct ztmdev *dev)
{
	struct zd_tpm *t;
	const char *tcti;

	if (dev->tpm != NULL)
		return dev->tpm;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		zd_err(dev, "TPM: out of memory");
		return NULL;
	}
	t->libctx = OSSL_LIB_CTX_new();
	t->ec = zd_tpm_ec_new();
	if (t->libctx == NULL || t->ec == NULL) {
		zd_tpm_free(t);
		zd_ossl_err(dev, "TPM: library context");
		return NULL;
	}
	t->tpm2 = OSSL_PROVIDER_load(t->libctx, "tpm2");
	if (t->tpm2 == NULL) {
		tcti = getenv("TPM2OPENSSL_TCTI");
		zd_tpm_free(t);
		ERR_clear_error();
		zd_err(dev,
		       "TPM: cannot open it through the tpm2 provider (tpm2-openssl installed? "
		       "TPM reachable at %.200s?)",
		       tcti != NULL ? tcti : "the default TCTI, /dev/tpmrm0");
		return NULL;
	}
	t->deflt = OSSL_PROVIDER_load(t->libctx, "default");
	if (t->deflt == NULL || EVP_set_default_properties(t->libctx, "?provider=default") != 1) {
		zd_tpm_free(t);
		zd_ossl_err(dev, "TPM: OpenSSL default provider");
		return NULL;
	}
	dev->tpm = t;
	return t;
}

/* Takes tpm, the provider's key; pairs it with its stand-in. */
static int key_new(struct ztmdev *dev, struct zd_tpm *t, EVP_PKEY *tpm, struct zd_key **out)
{
	struct zd_key *k = OPENSSL_zalloc(sizeof(*k));

	if (k == NULL) {
		EVP_PKEY_free(tpm);
		return zd_err(dev, "TPM key: out of memory");
	}
	k->tpm = tpm;
	k->pk = zd_tpm_ec_wrap(t->ec, t->libctx, tpm);
	if (k->pk == NULL) {
		zd_key_free(k);
		return zd_ossl_err(dev, "TPM key: wrapping it for signing");
	}
	*out = k;
	return 0;
}

int zd_tpm_key_generate(struct ztmdev *dev, struct zd_key **out)
{
	struct zd_tpm *t = tpm_open(dev);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	char group[] = "P-256";
	OSSL_PARAM params[2];

	if (t == NULL)
		return -1;
	/* The provider's default template: a signing key with fixedTPM,
	 * fixedParent, sensitiveDataOrigin and userWithAuth, an empty auth
	 * value, the storage primary of the owner hierarchy as parent. */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(t->libctx, "EC", TPM_PROPQ);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_params(ctx, params) != 1 || EVP_PKEY_generate(ctx, &pk) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return zd_ossl_err(dev, "TPM key generation (EC P-256)");
	}
	EVP_PKEY_CTX_free(ctx);
	return key_new(dev, t, pk, out);
}

int zd_tpm_key_write(struct ztmdev *dev, const struct zd_key *k, struct zd_buf *pem)
{
	OSSL_ENCODER_CTX *ctx;
	unsigned char *p = NULL;
	size_t n = 0;
	int rc = -1;

	if (k->tpm == NULL)
		return zd_err(dev, "TPM key: a software key has no TPM blob");
	ctx = OSSL_ENCODER_CTX_new_for_pkey(k->tpm, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM", NULL,
	                                    TPM_PROPQ);
	if (ctx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0 ||
	    OSSL_ENCODER_to_data(ctx, &p, &n) != 1) {
		zd_ossl_err(dev, "TPM key: encoding its blob");
		goto out;
	}
	/* A TSS2 blob, never a plain PKCS#8 key: the provider has no way to
	 * give out a TPM key's private part, and this checks it did not. */
	if (n < 32 || memcmp(p, "-----BEGIN TSS2 PRIVATE KEY-----", 32) != 0) {
		zd_err(dev, "TPM key: the provider wrote something other than a TSS2 blob");
		goto out;
	}
	if (zd_buf_append(pem, p, n) != 0) {
		zd_err(dev, "TPM key: blob too large");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_clear_free(p, n);
	OSSL_ENCODER_CTX_free(ctx);
	return rc;
}

int zd_tpm_key_read(struct ztmdev *dev, const uint8_t *pem, size_t len, struct zd_key **out)
{
	struct zd_tpm *t;
	OSSL_DECODER_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	const unsigned char *p = pem;
	size_t n = len;
	char group[32];

	if (len > TPM_PEM_MAX)
		return zd_err(dev, "TPM key: blob larger than %zu bytes", TPM_PEM_MAX);
	if (len < 32 || memcmp(pem, "-----BEGIN TSS2 PRIVATE KEY-----", 32) != 0)
		return zd_err(dev, "TPM key: not a TSS2 PRIVATE KEY blob");
	if ((t = tpm_open(dev)) == NULL)
		return -1;
	ctx = OSSL_DECODER_CTX_new_for_pkey(&pk, "PEM", NULL, "EC", OSSL_KEYMGMT_SELECT_KEYPAIR,
	                                    t->libctx, NULL);
	if (ctx == NULL || OSSL_DECODER_from_data(ctx, &p, &n) != 1 || pk == NULL) {
		OSSL_DECODER_CTX_free(ctx);
		EVP_PKEY_free(pk);
		return zd_ossl_err(dev, "TPM key: the TPM cannot load the blob (another TPM's "
		                        "key, or a damaged blob)");
	}
	OSSL_DECODER_CTX_free(ctx);
	if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return zd_err(dev, "TPM key: not an EC P-256 key");
	}
	return key_new(dev, t, pk, out);
}
