/* tpm_parse.c - the TPM evidence's DER envelope and the TPM structures in
 * it (docs/attestation.md).
 *
 * Why libtss2-mu and not a hand parser: the TPM wire formats are unions
 * selected by algorithm ids, dozens of them; the TSS's own unmarshalling
 * code is what tpm2-tools and the TPM simulators are tested against, it is
 * bounds-checked (a buffer and its size, an offset it advances), and it does
 * no crypto. What it does not check we do: that one structure fills the
 * bytes exactly (nothing after it), the TPM2B size prefix against the
 * bytes, and the algorithms we accept. The name is hashed over the bytes
 * received, which the exact fill makes the canonical encoding. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "der.h"
#include "tpm_attest_int.h"
#include "ztm/tpm.h"

static const struct {
	const char *name, *text;
} verdicts[] = {
#define ZTM_TPM_X_ROW(c, n, t) {n, t},
    ZTM_TPM_TABLE(ZTM_TPM_X_ROW)
#undef ZTM_TPM_X_ROW
};

const char *ztm_tpm_verdict_name(enum ztm_tpm_verdict v)
{
	return (unsigned)v < ZTM_TPM_VERDICT_COUNT ? verdicts[v].name : "unknown";
}

const char *ztm_tpm_verdict_text(enum ztm_tpm_verdict v)
{
	return (unsigned)v < ZTM_TPM_VERDICT_COUNT ? verdicts[v].text : "unknown";
}

static int bad(struct ztm_error *err, const char *what)
{
	return ztm_error_set(err, ZTM_E_PARSE, "TPM evidence: %s", what);
}

int ztm_tpm_evidence_parse(const uint8_t *der, size_t len, struct ztm_tpm_evidence *out,
                           struct ztm_error *err)
{
	struct ztm_cursor c, s;
	struct ztm_slice seq, ver;
	struct ztm_slice *fields[] = {&out->credential, &out->ak_public, &out->key_public,
	                              &out->certify_info, &out->signature};
	static const char *const names[] = {"credential", "akPublic", "keyPublic", "certifyInfo",
	                                    "signature"};
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len > ZTM_TPM_EVIDENCE_MAX)
		return ztm_error_set(err, ZTM_E_TOOBIG, "TPM evidence: over %d bytes",
		                     ZTM_TPM_EVIDENCE_MAX);
	ztm_cursor_init(&c, der, len);
	if (ztm_der_get(&c, ZTM_DER_SEQUENCE, &seq, NULL) != 0 || ztm_cursor_left(&c) != 0)
		return bad(err, "not one SEQUENCE");
	ztm_cursor_init(&s, seq.p, seq.len);
	if (ztm_der_get(&s, ZTM_DER_INTEGER, &ver, NULL) != 0 || ver.len != 1 || ver.p[0] != 1)
		return bad(err, "version (want 1)");
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (ztm_der_get(&s, ZTM_DER_OCTETSTR, fields[i], NULL) != 0 || fields[i]->len == 0)
			return bad(err, names[i]);
	if (ztm_cursor_left(&s) != 0)
		return bad(err, "bytes after signature");
	if (out->credential.len != ZTM_TPM_CRED_LEN)
		return bad(err, "credential (want 32 bytes)");
	return 0;
}

int ztm_tpm_evidence_encode(const struct ztm_tpm_evidence *ev, struct ztm_buf *out,
                            struct ztm_error *err)
{
	struct ztm_der w;
	size_t m;

	ztm_der_init(&w, out);
	m = ztm_der_begin(&w, ZTM_DER_SEQUENCE);
	ztm_der_uint(&w, 1);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, ev->credential.p, ev->credential.len);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, ev->ak_public.p, ev->ak_public.len);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, ev->key_public.p, ev->key_public.len);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, ev->certify_info.p, ev->certify_info.len);
	ztm_der_tlv(&w, ZTM_DER_OCTETSTR, ev->signature.p, ev->signature.len);
	ztm_der_end(&w, m);
	return w.failed ? ztm_error_set(err, ZTM_E_NOMEM, "TPM evidence") : 0;
}

/* The digest of a TPM hash algorithm we accept for names and signatures:
 * SHA-256 and up (SHA-1 names are refused). */
const EVP_MD *ztm_tpm_md(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA256:
		return EVP_sha256();
	case TPM2_ALG_SHA384:
		return EVP_sha384();
	case TPM2_ALG_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, struct ztm_error *err)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ztm_error_ossl(err, ZTM_E_PARSE, "TPM public key");
		pkey = NULL;
	}
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* The key of a TPMT_PUBLIC as an EVP_PKEY: ECC on P-256/P-384 (uncompressed
 * point) or RSA 2048..4096 (exponent 0 means 65537, Part 2 §12.2.3.5). */
static EVP_PKEY *tpm_pkey(const TPMT_PUBLIC *p, struct ztm_error *err)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t pt[1 + 2 * 48];
	const char *group = NULL;
	size_t fl = 0;

	if (bld == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "TPM public key");
		return NULL;
	}
	if (p->type == TPM2_ALG_ECC) {
		const TPMS_ECC_POINT *q = &p->unique.ecc;
		if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256) {
			group = "prime256v1";
			fl = 32;
		} else if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384) {
			group = "secp384r1";
			fl = 48;
		}
		if (group == NULL || q->x.size != fl || q->y.size != fl) {
			ztm_error_set(err, ZTM_E_WEAKKEY, "TPM ECC key: curve or point size");
			goto out;
		}
		pt[0] = 0x04;
		memcpy(pt + 1, q->x.buffer, fl);
		memcpy(pt + 1 + fl, q->y.buffer, fl);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) !=
		        1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
		                                     1 + 2 * fl) != 1) {
			ztm_error_set(err, ZTM_E_NOMEM, "TPM public key");
			goto out;
		}
		pkey = pkey_from_params("EC", bld, err);
	} else if (p->type == TPM2_ALG_RSA) {
		uint32_t exp = p->parameters.rsaDetail.exponent;
		uint16_t bits = p->parameters.rsaDetail.keyBits;
		if (bits < 2048 || bits > 4096 || p->unique.rsa.size * 8u != bits) {
			ztm_error_set(err, ZTM_E_WEAKKEY, "TPM RSA key: size");
			goto out;
		}
		n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
		e = BN_new();
		if (n == NULL || e == NULL || BN_set_word(e, exp == 0 ? 65537 : exp) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
			ztm_error_set(err, ZTM_E_NOMEM, "TPM public key");
			goto out;
		}
		pkey = pkey_from_params("RSA", bld, err);
	} else {
		ztm_error_set(err, ZTM_E_WEAKKEY, "TPM key type 0x%04x (want ECC or RSA)",
		              (unsigned)p->type);
	}
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

int ztm_tpm_public_read(struct ztm_slice tpm2b, uint8_t name[ZTM_TPM_NAME_MAX], size_t *name_len,
                        EVP_PKEY **pkey, uint32_t *attrs, struct ztm_error *err)
{
	TPM2B_PUBLIC pub;
	size_t off = 0;
	const EVP_MD *md;
	unsigned hl = 0;

	if (pkey != NULL)
		*pkey = NULL;
	memset(&pub, 0, sizeof(pub));
	/* TPM2B: a 16-bit size, then exactly that many bytes of TPMT_PUBLIC. */
	if (tpm2b.len < 2 || (size_t)((tpm2b.p[0] << 8) | tpm2b.p[1]) != tpm2b.len - 2 ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(tpm2b.p, tpm2b.len, &off, &pub) != TSS2_RC_SUCCESS ||
	    off != tpm2b.len)
		return bad(err, "TPM2B_PUBLIC");
	/* Reserved TPMA_OBJECT bits (Part 2 §8.3.2): a TPM never sets them. */
	if ((pub.publicArea.objectAttributes & 0xfff0f309u) != 0)
		return bad(err, "TPM2B_PUBLIC: reserved object attributes set");
	md = ztm_tpm_md(pub.publicArea.nameAlg);
	if (md == NULL)
		return ztm_error_set(err, ZTM_E_WEAKKEY,
		                     "TPM object nameAlg 0x%04x (want SHA-256+)",
		                     (unsigned)pub.publicArea.nameAlg);
	/* Name = nameAlg || H(TPMT_PUBLIC) (Part 1 §16). */
	name[0] = (uint8_t)(pub.publicArea.nameAlg >> 8);
	name[1] = (uint8_t)pub.publicArea.nameAlg;
	if (EVP_Digest(tpm2b.p + 2, tpm2b.len - 2, name + 2, &hl, md, NULL) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "TPM name");
	*name_len = 2 + hl;
	if (attrs != NULL)
		*attrs = pub.publicArea.objectAttributes;
	if (pkey != NULL && (*pkey = tpm_pkey(&pub.publicArea, err)) == NULL)
		return -1;
	return 0;
}

int ztm_tpm_ak_check(struct ztm_slice ak_public, uint8_t name[ZTM_TPM_NAME_MAX], size_t *name_len,
                     struct ztm_error *err)
{
	/* A restricted signing key signs only digests the TPM computed itself
	 * (Part 1 §25.2.3): an AK cannot be made to sign a TPMS_ATTEST that
	 * starts with TPM_GENERATED_VALUE unless the TPM produced it. */
	const uint32_t want = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
	                      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	                      TPMA_OBJECT_SENSITIVEDATAORIGIN;
	uint32_t attrs = 0;

	if (ztm_tpm_public_read(ak_public, name, name_len, NULL, &attrs, err) != 0)
		return -1;
	if ((attrs & want) != want || (attrs & TPMA_OBJECT_DECRYPT) != 0)
		return ztm_error_set(err, ZTM_E_POLICY,
		                     "the attestation key's attributes 0x%08x are not those of a "
		                     "restricted, fixedTPM signing key",
		                     (unsigned)attrs);
	return 0;
}

int ztm_tpm_qualifying_data(struct ztm_slice credential, struct ztm_slice spki,
                            uint8_t out[ZTM_TPM_QUALIFY_LEN])
{
	static const char label[] = "ztm-tpm-attest-v1"; /* with its NUL */
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(md, label, sizeof(label)) == 1 &&
	         EVP_DigestUpdate(md, credential.p, credential.len) == 1 &&
	         EVP_DigestUpdate(md, spki.p, spki.len) == 1 &&
	         EVP_DigestFinal_ex(md, out, &len) == 1 && len == ZTM_TPM_QUALIFY_LEN;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}
