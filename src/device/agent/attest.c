/* attest.c - `ztm-device enroll` of a TPM key: TPM key attestation before
 * simpleenroll (docs/attestation.md, "What the device does"); and
 * `ztm-device renew --rekey` of a TPM device: the same for the new key
 * (key.new.tpm) before simplereenroll, the challenge asked with the
 * operational certificate ("Re-key").
 *
 * Two parties want the TPM: libztmdev's tpm2-openssl provider (the device
 * key signs the TLS handshake and the CSR) and ztmdevtpm's ESAPI session
 * (EK, AK, ActivateCredential, Certify). A TPM without a resource manager
 * (swtpm, /dev/tpm0) serves one connection at a time, and the provider holds
 * its connection until its device context is freed (docs/tpm.md). So the
 * steps take turns, each closing its connection before the next:
 *   1. ESAPI: the EK certificate and the AK (a primary key: the same
 *      template gives the same key again in step 3);
 *   2. libztmdev: POST tpm-challenge; then the context is freed;
 *   3. ESAPI: the AK again, ActivateCredential, Certify of the key's blob;
 *   4. a fresh context carries the evidence in the enrollment CSR. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "zd_tpm.h"

/* The TCTI of the device's TPM: the one the provider uses too. */
static const char *tcti(void)
{
	const char *t = getenv("TPM2OPENSSL_TCTI");

	return t != NULL && t[0] != '\0' ? t : NULL;
}

/* The evidence DER into path, owner-only, never over an existing file. */
static int write_evidence(const char *path, const struct zd_tpm_blob *ev)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	size_t off = 0;
	ssize_t w;

	if (fd < 0) {
		fprintf(stderr, "ztm-device: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (off < ev->len && (w = write(fd, ev->p + off, ev->len - off)) > 0)
		off += (size_t)w;
	if (close(fd) != 0 || off != ev->len) {
		fprintf(stderr, "ztm-device: %s: write failed\n", path);
		unlink(path);
		return -1;
	}
	return 0;
}

int agent_tpm_attest(struct ztmdev **devp, const struct agent_setup *setup, const char *key_file,
                     const char *evidence_out)
{
	struct zd_tpm *t = NULL;
	struct zd_tpm_blob *ek = NULL, *ak = NULL, *id = NULL, *secret = NULL, *kp = NULL,
	                   *att = NULL, *sig = NULL, *ev = NULL;
	uint8_t cred[32], qual[32];
	char err[512] = "", blob[600];
	int64_t expires = 0;
	int rc = -1, got;

	ek = calloc(8, sizeof(*ek));
	if (ek == NULL) {
		fprintf(stderr, "ztm-device: out of memory\n");
		return -1;
	}
	ak = ek + 1;
	id = ek + 2;
	secret = ek + 3;
	kp = ek + 4;
	att = ek + 5;
	sig = ek + 6;
	ev = ek + 7;
	if (snprintf(blob, sizeof(blob), "%s/%s", setup->dir, key_file) >= (int)sizeof(blob)) {
		fprintf(stderr, "ztm-device: directory name too long\n");
		goto out;
	}
	/* 1. */
	if (zd_tpm_open(&t, tcti(), err, sizeof(err)) != 0 ||
	    zd_tpm_ak(t, ek, ak, err, sizeof(err)) != 0)
		goto tpm_fail;
	zd_tpm_close(t);
	t = NULL;
	/* 2. */
	got = ztmdev_tpm_challenge(*devp, ek->p, ek->len, ak->p, ak->len, id->p, sizeof(id->p),
	                           &id->len, secret->p, sizeof(secret->p), &secret->len, &expires);
	if (got < 0) {
		fprintf(stderr, "ztm-device: %s\n", ztmdev_error(*devp));
		goto out;
	}
	if (got == 1) {
		fprintf(stderr, "ztm-device: the server does not attest TPM keys; "
		                "going on without attestation\n");
		rc = 0;
		goto out;
	}
	ztmdev_free(*devp);
	*devp = NULL;
	/* 3. */
	if (zd_tpm_blob_public(blob, kp, err, sizeof(err)) != 0 ||
	    zd_tpm_open(&t, tcti(), err, sizeof(err)) != 0 ||
	    zd_tpm_ak(t, ek, ak, err, sizeof(err)) != 0 ||
	    zd_tpm_activate(t, id->p, id->len, secret->p, secret->len, cred, err, sizeof(err)) !=
	        0 ||
	    zd_tpm_qualifying_data(cred, kp, qual, err, sizeof(err)) != 0 ||
	    zd_tpm_certify_blob(t, blob, qual, sizeof(qual), kp, att, sig, err, sizeof(err)) != 0 ||
	    zd_tpm_evidence(cred, ak, kp, att, sig, ev, err, sizeof(err)) != 0)
		goto tpm_fail;
	zd_tpm_close(t);
	t = NULL;
	if (evidence_out != NULL && write_evidence(evidence_out, ev) != 0)
		goto out;
	/* 4. */
	*devp = agent_open(setup);
	if (*devp == NULL)
		goto out;
	if (ztmdev_set_tpm_evidence(*devp, ev->p, ev->len) != 0) {
		fprintf(stderr, "ztm-device: %s\n", ztmdev_error(*devp));
		goto out;
	}
	rc = 0;
	goto out;
tpm_fail:
	fprintf(stderr, "ztm-device: attestation: %s\n", err);
out:
	zd_tpm_close(t);
	OPENSSL_cleanse(cred, sizeof(cred));
	OPENSSL_cleanse(ek, 8 * sizeof(*ek));
	free(ek);
	return rc;
}
