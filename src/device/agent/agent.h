/* agent.h - the commands and helpers of ztm-device shared by its files
 * (main.c, fw_verify.c, attest.c). */
#ifndef ZTMDEV_AGENT_H
#define ZTMDEV_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "ztmdev/ztmdev.h"
#include "ztmdev_tls.h"

/* ztm-device fw-verify ... (fw_verify.c); the exit status. */
int fw_verify_main(int argc, char **argv);

/* What a device context talking to the server is made of. */
struct agent_setup {
	const char *dir;
	const char *pass; /* NULL: none */
	size_t pass_len;
	const uint8_t *anchor; /* PEM */
	size_t anchor_len;
	struct ztmdev_tls *tls; /* url, ca_file, timeout set; dev set by agent_open */
};

/* A device context on setup->dir with its passphrase, anchor and the TLS
 * transport (tls->dev pointed at it); NULL after printing why. */
struct ztmdev *agent_open(const struct agent_setup *setup);

/* TPM key attestation before enrollment, or before a re-key (attest.c):
 * of the TPM key blob key_file (in setup->dir: key.tpm, or key.new.tpm
 * from ztmdev_rekey_prepare). *devp is freed and replaced by a fresh
 * context carrying the evidence for the CSR (or left as it is when the
 * server does not attest). evidence_out, when not NULL, receives the
 * evidence DER (0600). 0, or -1 after printing why (*devp may then be
 * NULL). */
int agent_tpm_attest(struct ztmdev **devp, const struct agent_setup *setup, const char *key_file,
                     const char *evidence_out);

#endif
