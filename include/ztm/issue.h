/* ztm/issue.h - certificate issuance: build the to-be-signed certificate,
 * lint it (ztm/lint.h), and only then sign it with the CA's prepared
 * context. Nothing is signed when the lint fails.
 */
#ifndef ZTM_ISSUE_H
#define ZTM_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/ca.h"
#include "ztm/err.h"
#include "ztm/lint.h"
#include "ztm/serial.h"

struct ztm_issue_req {
	const char *profile;                 /* ztm_profile_get name */
	const struct ztm_name_attr *subject; /* in order, one RDN each */
	size_t n_subject;
	const struct ztm_san *san;
	size_t n_san;
	struct ztm_slice spki; /* SubjectPublicKeyInfo DER, copied verbatim */
	uint8_t serial[ZTM_SERIAL_LEN];
	int64_t not_before; /* 0 = now */
	int64_t lifetime;   /* seconds; 0 = profile default */
	/* ZTM_EKU_*; 0 = the profile's. Anything else passes the lint only
	 * within the profile's eku_request (issuing-ca: the purposes the CA's
	 * leaves will carry). */
	unsigned eku;
	/* The certificate's CRL partition (ztm_cert_row.crl_shard): its
	 * cRLDistributionPoints names that shard's CRL. */
	int64_t crl_shard;
};

/* Fills *t from the request and the CA (no lint, no signature): the
 * subject/SAN pointers borrow from req. Exposed so tests can break one field
 * and show the lint catches it. ZTM_E_USAGE for an unknown profile. */
int ztm_issue_prepare(const struct ztm_ca *ca, const struct ztm_issue_req *req, struct ztm_tbs *t,
                      struct ztm_error *err);
/* Lints t, encodes it, signs it: appends the certificate DER to der_out.
 * On any failure der_out is unchanged and nothing was signed. */
int ztm_issue_tbs(const struct ztm_ca *ca, const struct ztm_tbs *t, struct ztm_buf *der_out,
                  struct ztm_error *err);
/* An end-entity certificate (a leaf profile: device, station, operator,
 * ocsp, codesign). */
int ztm_issue(const struct ztm_ca *ca, const struct ztm_issue_req *req, struct ztm_buf *der_out,
              struct ztm_error *err);
/* An issuing-CA certificate signed by root (profile "issuing-ca", pathlen
 * 0; req->profile may be NULL), carrying req->eku as its extKeyUsage when
 * set. The SPKI may come from a CSR of a key held elsewhere (an HSM), so ztm
 * never needs the issuing key itself. */
int ztm_issue_ca_cert(const struct ztm_ca *root, const struct ztm_issue_req *req,
                      struct ztm_buf *der_out, struct ztm_error *err);

#endif
