/* ztm/crl.h - X.509 v2 CRLs (RFC 5280 §5), written as a stream.
 *
 * The entries go straight into one DER buffer as they are read from the
 * store, in any number; nothing per entry is kept besides its ~40 bytes of
 * DER. The finished CertificateList is signed with the CA's prepared
 * context (ztm_ca_sign), like certificates: no X509_CRL object is ever
 * built (that API holds every entry as a heap object: 245 MB and 6 s for a
 * million, PERFORMANCE.md). docs/revocation.md has the format.
 */
#ifndef ZTM_CRL_H
#define ZTM_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/ca.h"
#include "ztm/err.h"

struct ztm_crl_params {
	int64_t number;                   /* cRLNumber, >= 1 */
	int64_t this_update, next_update; /* Unix seconds, this < next */
	/* issuingDistributionPoint fullName URI (the URL the CRL is served
	 * at, and that the certificates it covers name as their
	 * cRLDistributionPoints); NULL = no IDP (an unpartitioned CRL). */
	const char *idp_url;
};

struct ztm_crl_writer {
	const struct ztm_ca *ca;
	struct ztm_crl_params p; /* idp_url borrowed until ztm_crl_finish */
	struct ztm_buf *out;
	size_t start, list_at, tbs_at, revoked_at;
	int64_t entries;
	int failed;
	struct ztm_error err;
};

/* Starts a CRL of ca into out (appended). */
int ztm_crl_begin(struct ztm_crl_writer *w, const struct ztm_ca *ca, const struct ztm_crl_params *p,
                  struct ztm_buf *out, struct ztm_error *err);
/* One revokedCertificates entry: the serial's INTEGER contents as hex (the
 * store's form, ztm/store.h), its revocation time and RFC 5280 reason
 * (0 = unspecified: no reasonCode, as §5.3.1 asks). Errors are sticky:
 * check ztm_crl_finish. */
void ztm_crl_add_hex(struct ztm_crl_writer *w, const char *serial_hex, int64_t revoked_at,
                     int reason);
/* Ends the list, adds the CRL extensions (authorityKeyIdentifier,
 * cRLNumber, issuingDistributionPoint if idp_url), signs. On failure out is
 * back at its length before ztm_crl_begin. */
int ztm_crl_finish(struct ztm_crl_writer *w, struct ztm_error *err);

/* "<base>/<shard>.crl": the URL of one CRL shard of a CA whose [ca.*]
 * crl_url is base (a trailing '/' is not doubled). -1 if it does not fit. */
int ztm_crl_shard_url(const char *base, int64_t shard, char *out, size_t n);

#endif
