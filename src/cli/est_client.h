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

#endif
