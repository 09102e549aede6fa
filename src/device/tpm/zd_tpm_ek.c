/* zd_tpm_ek.c - the endorsement key for credential activation
 * (docs/attestation.md, "What the device does"): which EK, its certificate
 * from NV, and the EK itself, persistent or made again from its template.
 *
 * TCG EK Credential Profile for TPM Family 2.0 (the "low range"):
 *   RSA-2048, template L-1: persistent 0x81010001, certificate NV 0x01c00002
 *   ECC P-256, template L-2: persistent 0x81010002, certificate NV 0x01c0000a
 * A TPM may have either or both. ZD_TPM_EK_AUTO takes the RSA EK when its
 * certificate is in NV, else the ECC one: RSA is what every TPM 2.0 ships
 * and every verifier (an older ztmd too) takes; the ECC EK is for TPMs
 * that have no RSA EK certificate.
 *
 * An EK need not be persistent (the profile only says where it goes when
 * it is): it is a primary key, so CreatePrimary with the same template in
 * the endorsement hierarchy makes the same key again from the TPM's
 * endorsement seed. It is then used transiently and flushed. Either way its
 * public key must be the certificate's: checked here, so a TPM whose EK
 * does not match its certificate fails with that reason, not with an
 * activation error. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "zd_tpm.h"
#include "zd_tpm_int.h"

#define NV_CHUNK 512 /* bytes per TPM2_NV_Read; below any TPM's MAX_NV_BUFFER */

/* TCG EK Credential Profile §B.3.3 (both templates): the digest of policy
 * A, PolicySecret(TPM_RH_ENDORSEMENT), with SHA-256. */
static const uint8_t policy_a_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

static int fail(char *err, size_t errsize, const char *what, TSS2_RC rc)
{
	snprintf(err, errsize, "TPM: %s: %s", what, rc != 0 ? Tss2_RC_Decode(rc) : "failed");
	return -1;
}

static uint32_t ek_nv(enum zd_tpm_ek k)
{
	return k == ZD_TPM_EK_ECC ? ZD_TPM_EK_ECC_NV_INDEX : ZD_TPM_EK_NV_INDEX;
}

static uint32_t ek_handle(enum zd_tpm_ek k)
{
	return k == ZD_TPM_EK_ECC ? ZD_TPM_EK_ECC_HANDLE : ZD_TPM_EK_HANDLE;
}

int zd_tpm_use_ek(struct zd_tpm *t, enum zd_tpm_ek which)
{
	if (which != ZD_TPM_EK_AUTO && which != ZD_TPM_EK_RSA && which != ZD_TPM_EK_ECC)
		return -1;
	t->ek_want = which;
	return 0;
}

enum zd_tpm_ek zd_tpm_ek_in_use(const struct zd_tpm *t)
{
	return t->ek_kind;
}

/* 1 when the TPM has handle (an NV index or a persistent object), 0 when
 * not, -1 when it cannot say. Asked with GetCapability so that an absent
 * handle, which is normal here, is not an error the TSS logs. */
static int has_handle(struct zd_tpm *t, uint32_t handle)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	int ret;

	if (Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
	                       handle, 1, &more, &cap) != TSS2_RC_SUCCESS)
		return -1;
	ret = cap->data.handles.count >= 1 && cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return ret;
}

/* The certificate at NV index nv into out; *absent set when the index
 * does not exist. */
static int read_cert(struct zd_tpm *t, uint32_t index, struct zd_tpm_blob *out, int *absent,
                     char *err, size_t errsize)
{
	ESYS_TR nv = ESYS_TR_NONE;
	TPM2B_NV_PUBLIC *pub = NULL;
	TPM2B_MAX_NV_BUFFER *data = NULL;
	uint16_t size, off = 0, n;
	char what[64];
	TSS2_RC rc;
	int ret = -1;

	*absent = 0;
	snprintf(what, sizeof(what), "EK certificate (NV 0x%08x)", index);
	if (has_handle(t, index) == 0) {
		*absent = 1;
		snprintf(err, errsize, "TPM: %s: not defined", what);
		return -1;
	}
	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS) {
		*absent = 1;
		return fail(err, errsize, what, rc);
	}
	rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		fail(err, errsize, what, rc);
		goto out;
	}
	size = pub->nvPublic.dataSize;
	if (size == 0 || size > sizeof(out->p)) {
		fail(err, errsize, what, 0);
		goto out;
	}
	while (off < size) {
		n = size - off > NV_CHUNK ? NV_CHUNK : (uint16_t)(size - off);
		/* The EK certificate index is readable with its own auth
		 * (TPMA_NV_AUTHREAD, empty). */
		rc = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
		                  off, &data);
		if (rc != TSS2_RC_SUCCESS || data->size != n) {
			fail(err, errsize, what, rc);
			goto out;
		}
		memcpy(out->p + off, data->buffer, n);
		off += n;
		Esys_Free(data);
		data = NULL;
	}
	out->len = size;
	ret = 0;
out:
	Esys_Free(pub);
	Esys_Free(data);
	Esys_TR_Close(t->esys, &nv);
	return ret;
}

int zd_tpm_ek_cert(struct zd_tpm *t, struct zd_tpm_blob *out, char *err, size_t errsize)
{
	enum zd_tpm_ek k = t->ek_want == ZD_TPM_EK_AUTO ? ZD_TPM_EK_RSA : t->ek_want;
	int absent;

	t->ek_kind = ZD_TPM_EK_AUTO; /* none yet */
	if (read_cert(t, ek_nv(k), out, &absent, err, errsize) != 0) {
		if (!(absent && t->ek_want == ZD_TPM_EK_AUTO))
			return -1;
		k = ZD_TPM_EK_ECC;
		if (read_cert(t, ek_nv(k), out, &absent, err, errsize) != 0) {
			if (absent)
				snprintf(err, errsize,
				         "TPM: no EK certificate in NV (RSA 0x%08x, ECC 0x%08x)",
				         ZD_TPM_EK_NV_INDEX, ZD_TPM_EK_ECC_NV_INDEX);
			return -1;
		}
	}
	memcpy(t->ek_cert.p, out->p, out->len);
	t->ek_cert.len = out->len;
	t->ek_kind = k;
	return 0;
}

/* The TCG default template of the EK (EK Credential Profile §B.3.3,
 * templates L-1 and L-2): adminWithPolicy under policy A, restricted
 * decrypt, AES-128-CFB, unique zero-filled to the key's size. */
static void ek_template(enum zd_tpm_ek k, TPM2B_PUBLIC *tmpl)
{
	TPMT_PUBLIC *p = &tmpl->publicArea;

	memset(tmpl, 0, sizeof(*tmpl));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
	                      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->authPolicy.size = sizeof(policy_a_sha256);
	memcpy(p->authPolicy.buffer, policy_a_sha256, sizeof(policy_a_sha256));
	if (k == ZD_TPM_EK_ECC) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.eccDetail.symmetric.keyBits.aes = 128;
		p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = 32; /* zeros */
		p->unique.ecc.y.size = 32;
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
		p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0; /* 65537 */
		p->unique.rsa.size = 256;             /* zeros */
	}
}

/* 1 when the TPM's EK public area holds the certificate's public key (and
 * is an EK of the template's kind), else 0. */
static int ek_matches_cert(enum zd_tpm_ek k, const TPMT_PUBLIC *p, const struct zd_tpm_blob *der)
{
	const unsigned char *q = der->p;
	X509 *x = d2i_X509(NULL, &q, (long)der->len);
	EVP_PKEY *pk = x != NULL ? X509_get0_pubkey(x) : NULL;
	BIGNUM *a = NULL, *b = NULL;
	uint8_t v1[256], v2[256];
	char group[32];
	int ok = 0;

	if (pk == NULL || p->nameAlg != TPM2_ALG_SHA256)
		goto out;
	if (k == ZD_TPM_EK_ECC) {
		ok = p->type == TPM2_ALG_ECC && EVP_PKEY_is_a(pk, "EC") &&
		     p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 &&
		     EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
		     strcmp(group, "prime256v1") == 0 && p->unique.ecc.x.size == 32 &&
		     p->unique.ecc.y.size == 32 &&
		     EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1 &&
		     EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1 &&
		     BN_bn2binpad(a, v1, 32) == 32 && BN_bn2binpad(b, v2, 32) == 32 &&
		     memcmp(v1, p->unique.ecc.x.buffer, 32) == 0 &&
		     memcmp(v2, p->unique.ecc.y.buffer, 32) == 0;
	} else {
		uint32_t e = p->parameters.rsaDetail.exponent;
		ok = p->type == TPM2_ALG_RSA && EVP_PKEY_is_a(pk, "RSA") &&
		     p->unique.rsa.size == 256 &&
		     EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &a) == 1 &&
		     EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &b) == 1 &&
		     BN_bn2binpad(a, v1, 256) == 256 &&
		     memcmp(v1, p->unique.rsa.buffer, 256) == 0 &&
		     BN_is_word(b, e == 0 ? 65537 : e);
	}
out:
	BN_free(a);
	BN_free(b);
	X509_free(x);
	return ok;
}

int zd_tpm_ek_load(struct zd_tpm *t, ESYS_TR *ek, int *transient, char *err, size_t errsize)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	uint32_t handle;
	char what[64];
	TSS2_RC rc;

	*ek = ESYS_TR_NONE;
	*transient = 0;
	if (t->ek_kind != ZD_TPM_EK_RSA && t->ek_kind != ZD_TPM_EK_ECC)
		return fail(err, errsize, "EK: no EK certificate read", 0);
	handle = ek_handle(t->ek_kind);
	snprintf(what, sizeof(what), "EK (persistent 0x%08x)", handle);
	if (has_handle(t, handle) != 0) {
		rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
		                           ESYS_TR_NONE, ek);
		if (rc != TSS2_RC_SUCCESS)
			return fail(err, errsize, what, rc);
		rc = Esys_ReadPublic(t->esys, *ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
		                     NULL, NULL);
		if (rc != TSS2_RC_SUCCESS) {
			Esys_TR_Close(t->esys, ek);
			return fail(err, errsize, what, rc);
		}
	} else {
		/* Not persistent: the same template makes the same key. */
		memset(&sens, 0, sizeof(sens));
		memset(&outside, 0, sizeof(outside));
		memset(&pcrs, 0, sizeof(pcrs));
		ek_template(t->ek_kind, &tmpl);
		snprintf(what, sizeof(what), "EK (made from template %s)",
		         t->ek_kind == ZD_TPM_EK_ECC ? "L-2" : "L-1");
		rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
		                        ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs,
		                        ek, &pub, NULL, NULL, NULL);
		if (rc != TSS2_RC_SUCCESS)
			return fail(err, errsize, what, rc);
		*transient = 1;
	}
	if (!ek_matches_cert(t->ek_kind, &pub->publicArea, &t->ek_cert)) {
		snprintf(err, errsize,
		         "TPM: the %s does not hold the EK certificate's public key (NV 0x%08x)",
		         what, ek_nv(t->ek_kind));
		Esys_Free(pub);
		zd_tpm_ek_release(t, ek, *transient);
		return -1;
	}
	Esys_Free(pub);
	return 0;
}

void zd_tpm_ek_release(struct zd_tpm *t, ESYS_TR *ek, int transient)
{
	if (*ek == ESYS_TR_NONE)
		return;
	if (transient)
		Esys_FlushContext(t->esys, *ek);
	else
		Esys_TR_Close(t->esys, ek);
	*ek = ESYS_TR_NONE;
}
