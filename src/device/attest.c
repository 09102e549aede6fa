/* attest.c - the library's half of TPM key attestation (docs/attestation.md):
 * the tpm-challenge request and its reply, and the evidence that goes into
 * the next enrollment CSR (crypto_openssl.c adds it as an attribute). The
 * TPM commands themselves are the host's: the library stays OpenSSL + libc.
 *
 * The reply is a flat JSON object the server writes compactly; it is read
 * without a JSON library, strictly: the two base64 fields must be present,
 * in the base64 alphabet only, and decode within the caller's caps. */
#include <stdio.h>
#include <string.h>

#include "zd_int.h"

#define CHALLENGE_PATH "/.well-known/est/device/tpm-challenge"
#define FIELD_MAX      4096 /* base64 of a TPM2B_ID_OBJECT or TPM2B_ENCRYPTED_SECRET */

/* The start and length of the value of "key" in p (a string value when
 * str, else the digits of a non-negative integer); -1 when absent. */
static int json_value(const uint8_t *p, size_t n, const char *key, int str, size_t *start,
                      size_t *len)
{
	size_t kl = strlen(key), i, j;

	for (i = 0; i + kl + 2 < n; i++) {
		if (p[i] != '"' || memcmp(p + i + 1, key, kl) != 0 || p[i + kl + 1] != '"')
			continue;
		j = i + kl + 2;
		while (j < n && (p[j] == ' ' || p[j] == ':'))
			j++;
		if (str) {
			if (j >= n || p[j] != '"')
				return -1;
			*start = ++j;
			while (j < n && p[j] != '"') {
				uint8_t c = p[j];
				if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
					return -1;
				j++;
			}
			if (j >= n)
				return -1;
		} else {
			*start = j;
			while (j < n && p[j] >= '0' && p[j] <= '9')
				j++;
		}
		*len = j - *start;
		return *len > 0 ? 0 : -1;
	}
	return -1;
}

/* The base64 field key of the reply, decoded into out (cap bytes). */
static int b64_field(struct ztmdev *dev, const uint8_t *p, size_t n, const char *key, uint8_t *out,
                     size_t cap, size_t *out_len)
{
	struct zd_buf dec;
	size_t start, len;
	int rc = -1;

	zd_buf_init(&dec, FIELD_MAX);
	if (json_value(p, n, key, 1, &start, &len) != 0 || len > FIELD_MAX ||
	    zd_b64_decode(p + start, len, &dec) != 0 || dec.len == 0 || dec.len > cap) {
		zd_err(dev, "tpm-challenge: reply field '%s' missing or malformed", key);
		goto out;
	}
	memcpy(out, dec.p, dec.len);
	*out_len = dec.len;
	rc = 0;
out:
	zd_buf_free(&dec);
	return rc;
}

int zd_challenge_reply(struct ztmdev *dev, const uint8_t *p, size_t n, uint8_t *id, size_t id_cap,
                       size_t *id_len, uint8_t *secret, size_t secret_cap, size_t *secret_len,
                       int64_t *expires_at)
{
	size_t start, len, i;
	int64_t t = 0;

	if (b64_field(dev, p, n, "credential_blob", id, id_cap, id_len) != 0 ||
	    b64_field(dev, p, n, "encrypted_secret", secret, secret_cap, secret_len) != 0)
		return -1;
	/* At most 15 digits: no overflow of an int64_t. */
	if (json_value(p, n, "expires_at", 0, &start, &len) != 0 || len > 15)
		return zd_err(dev, "tpm-challenge: reply field 'expires_at' missing or malformed");
	for (i = 0; i < len; i++)
		t = t * 10 + (p[start + i] - '0');
	if (expires_at != NULL)
		*expires_at = t;
	return 0;
}

int ztmdev_tpm_challenge(struct ztmdev *dev, const uint8_t *ek_cert, size_t ek_len,
                         const uint8_t *ak_public, size_t ak_len, uint8_t *id, size_t id_cap,
                         size_t *id_len, uint8_t *secret, size_t secret_cap, size_t *secret_len,
                         int64_t *expires_at)
{
	static const char p1[] = "{\"ek_cert\":\"", p2[] = "\",\"ak_public\":\"", p3[] = "\"}";
	struct ztmdev_request req;
	struct ztmdev_response resp;
	struct zd_buf ek64, ak64, req_body, body;
	char reason[340];
	size_t i;
	int rc = -1;

	if (zd_ensure_open(dev) != 0)
		return -1;
	/* A manufactured device attests its bootstrap key (registration),
	 * a provisioned or active one the key of its next re-key, asking with
	 * its operational certificate (docs/attestation.md "Re-key"). */
	if (dev->state < ZTMDEV_STATE_MANUFACTURED)
		return zd_err(dev, "device is %s: nothing to attest",
		              ztmdev_state_name(dev->state));
	if (ek_cert == NULL || ek_len == 0 || ak_public == NULL || ak_len == 0)
		return zd_err(dev, "tpm-challenge: EK certificate and AK public area required");
	zd_buf_init(&ek64, 0);
	zd_buf_init(&ak64, 0);
	zd_buf_init(&req_body, 0);
	zd_buf_init(&body, 0);
	if (zd_b64_encode(ek_cert, ek_len, &ek64) != 0 ||
	    zd_b64_encode(ak_public, ak_len, &ak64) != 0 ||
	    zd_buf_append(&req_body, p1, sizeof(p1) - 1) != 0) {
		zd_err(dev, "tpm-challenge: out of memory");
		goto out;
	}
	/* zd_b64_encode writes no line breaks inside a JSON string. */
	if (zd_buf_append(&req_body, ek64.p, ek64.len) != 0 ||
	    zd_buf_append(&req_body, p2, sizeof(p2) - 1) != 0 ||
	    zd_buf_append(&req_body, ak64.p, ak64.len) != 0 ||
	    zd_buf_append(&req_body, p3, sizeof(p3) - 1) != 0) {
		zd_err(dev, "tpm-challenge: out of memory");
		goto out;
	}
	for (i = 0; i < req_body.len; i++)
		if (req_body.p[i] == '\n' || req_body.p[i] == '\r') {
			zd_err(dev, "tpm-challenge: base64 with line breaks");
			goto out;
		}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = CHALLENGE_PATH;
	req.content_type = "application/json";
	req.body = req_body.p;
	req.body_len = req_body.len;
	req.cred = dev->state == ZTMDEV_STATE_MANUFACTURED ? ZTMDEV_CRED_BOOTSTRAP
	                                                   : ZTMDEV_CRED_OPERATIONAL;
	if (zd_call(dev, &req, &resp, &body) != 0)
		goto out;
	if (resp.status == 404) {
		rc = 1; /* this server does not attest ([attestation] ek_roots unset) */
		goto out;
	}
	if (resp.status != 200) {
		zd_reply_reason(&resp, reason, sizeof(reason));
		zd_err(dev, "server refused the TPM challenge: HTTP %d: %s", resp.status, reason);
		goto out;
	}
	if (zd_challenge_reply(dev, body.p, resp.body_len, id, id_cap, id_len, secret, secret_cap,
	                       secret_len, expires_at) != 0)
		goto out;
	rc = 0;
out:
	zd_buf_free(&ek64);
	zd_buf_free(&ak64);
	zd_buf_free(&req_body);
	zd_buf_free(&body);
	return rc;
}

int ztmdev_set_tpm_evidence(struct ztmdev *dev, const uint8_t *der, size_t len)
{
	zd_buf_free(&dev->tpm_evidence);
	zd_buf_init(&dev->tpm_evidence, ZTMDEV_TPM_EVIDENCE_MAX);
	if (len == 0)
		return 0;
	/* One DER SEQUENCE, as the server wants it; the rest is the server's. */
	if (der == NULL || len > ZTMDEV_TPM_EVIDENCE_MAX || der[0] != 0x30)
		return zd_err(dev, "TPM evidence: not a DER SEQUENCE of at most %d bytes",
		              ZTMDEV_TPM_EVIDENCE_MAX);
	if (zd_buf_append(&dev->tpm_evidence, der, len) != 0)
		return zd_err(dev, "TPM evidence: out of memory");
	return 0;
}
