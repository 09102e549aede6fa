/* est_client.h - RFC 7030 simpleenroll from the command line: the station
 * (or a new operator) generates its own key, sends a CSR with its one-time
 * code and installs the certificate it gets back after checking it. */
#ifndef ZTM_CLI_EST_CLIENT_H
#define ZTM_CLI_EST_CLIENT_H

#include "client.h"
#include "ztm/key.h"

struct cli_enroll {
	const char *name;    /* CN asked for (the server decides the subject) */
	const char *code;    /* one-time enrollment code (a secret) */
	const char *key_uri; /* where the key lives; generated if absent */
	const char *key_pass_file;
	enum ztm_key_alg alg;
	const char *out;   /* certificate PEM path */
	const char *label; /* EST label ("station", "operator") or NULL */
};

int cli_est_enroll(const struct ztm_client_opts *o, const struct cli_enroll *e,
                   struct ztm_error *err);

/* A CSR for key (base64 DER, lines of 64), subject CN=cn, then
 * serialNumber=serial (PrintableString) when serial is not NULL. */
int cli_est_csr(EVP_PKEY *key, const char *cn, const char *serial, struct ztm_buf *b64,
                struct ztm_error *err);
/* One simpleenroll (RFC 7030 §4.2.1) at path with the credential in o and
 * auth_header (a full header line, or NULL): waits out 202 + Retry-After
 * (bounded), then holds the reply to a certs-only message whose first
 * certificate is for key and chains to o->ca_file. Returns that
 * certificate; *chain (when chain is not NULL) gets the verified chain
 * above it, issuing CA first, root last. A refusal names the EST error code
 * of the body. NULL with err otherwise. */
X509 *cli_est_simpleenroll(const struct ztm_client_opts *o, const char *path,
                           const char *auth_header, EVP_PKEY *key, const struct ztm_buf *csr,
                           STACK_OF(X509) * *chain, struct ztm_error *err);

#endif
