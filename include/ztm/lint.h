/* ztm/lint.h - pre-issuance lint: a to-be-signed certificate is held to its
 * profile and its CA before anything is signed (docs/profiles.md lists the
 * rules). A failure is ZTM_E_LINT with "lint <rule>: <detail>".
 *
 * The lint reads the same struct ztm_tbs the encoder turns into DER
 * (issue.c): the encoder is a pure function of it and writes every field it
 * holds, so holding the struct to the rules holds the signed bytes to them,
 * without decoding the DER again on the hot path. Tests decode the issued
 * DER with OpenSSL to check that claim.
 */
#ifndef ZTM_LINT_H
#define ZTM_LINT_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/buf.h"
#include "ztm/err.h"
#include "ztm/profile.h"

struct ztm_ca;

struct ztm_name_attr {
	enum ztm_attr type;
	const char *value;
};

struct ztm_san {
	enum ztm_san_type type;
	/* DNS / URI: the name. HWMODULE: hwSerialNum (bytes of the string). */
	const char *value;
	/* HWMODULE only: hwType as a dotted OID, e.g. "1.3.6.1.4.1.99999.1". */
	const char *hw_type;
};

/* What ztm_spki_check learned about a SubjectPublicKeyInfo. */
struct ztm_spki_info {
	enum ztm_key_kind kind;
	unsigned bits;
	int ec_explicit;             /* set when EC parameters were explicit (refused) */
	struct ztm_slice public_key; /* subjectPublicKey, without the unused-bits octet */
};

/* Key policy on an encoded SubjectPublicKeyInfo, read from the DER itself so
 * that explicit EC parameters cannot pass as a named curve (CurveBall):
 * EC P-256/P-384 on named curves, Ed25519, RSA 2048..8192 bits with e=65537.
 * 0 if allowed; -1 with ZTM_E_PARSE (malformed) or ZTM_E_WEAKKEY (reason). */
int ztm_spki_check(const uint8_t *spki, size_t len, struct ztm_spki_info *info,
                   struct ztm_error *err);

#define ZTM_TBS_MAX_SERIAL 20
#define ZTM_KEYID_LEN      20

/* A to-be-signed certificate, field by field. */
struct ztm_tbs {
	const struct ztm_profile *profile;
	uint8_t serial[ZTM_TBS_MAX_SERIAL]; /* INTEGER content octets */
	size_t serial_len;
	int64_t not_before; /* seconds since the epoch, UTC */
	int64_t not_after;  /* inclusive (RFC 5280 §4.1.2.5) */
	int64_t lifetime;   /* seconds the certificate is meant to cover */
	int ca;             /* basicConstraints cA */
	int pathlen;        /* -1 = absent */
	unsigned key_usage;
	unsigned eku;
	int ocsp_nocheck;
	enum ztm_cert_policy policy; /* certificatePolicies, the profile's */
	struct ztm_slice spki;       /* copied verbatim into the certificate */
	const struct ztm_name_attr *subject;
	size_t n_subject;
	const struct ztm_san *san;
	size_t n_san;
	uint8_t ski[ZTM_KEYID_LEN];
	size_t ski_len;
	uint8_t aki[64];
	size_t aki_len;
	const char *aia_issuers; /* NULL = absent */
	const char *aia_ocsp;
	/* cRLDistributionPoints: the CA's crl_url base + "/<crl_shard>.crl"
	 * (ztm_crl_shard_url); ztm_issue_prepare points cdp at cdp_buf. */
	const char *cdp;
	int64_t crl_shard;
	char cdp_buf[512];
};

/* 0 if t may be signed by ca; else -1, ZTM_E_LINT, "lint <rule>: <detail>". */
int ztm_lint_tbs(const struct ztm_tbs *t, const struct ztm_ca *ca, struct ztm_error *err);
/* The same rules for a self-signed root (profile "root"), which has no
 * ztm_ca to be held to: validity.ca does not apply; aki must be absent or
 * equal the ski; aia and cdp must be absent. The ceremony builds the root
 * from t only after this passes. */
int ztm_lint_root(const struct ztm_tbs *t, struct ztm_error *err);

#endif
