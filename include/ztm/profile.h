/* ztm/profile.h - named certificate profiles (docs/profiles.md).
 *
 * A profile fixes everything about a certificate that is not per-subject:
 * key usage, extended key usage, basic constraints, default lifetime, which
 * subject attributes and SANs are required, and which key algorithms may be
 * certified. The lint (ztm/lint.h) holds every to-be-signed certificate to
 * its profile exactly.
 */
#ifndef ZTM_PROFILE_H
#define ZTM_PROFILE_H

#include <stddef.h>
#include <stdint.h>

/* Subject attribute types ztm writes. */
enum ztm_attr {
	ZTM_ATTR_CN,     /* commonName, UTF8String, <= 64 */
	ZTM_ATTR_SERIAL, /* serialNumber, PrintableString, <= 64 */
	ZTM_ATTR_C,      /* countryName, PrintableString, exactly 2 */
	ZTM_ATTR_ST,     /* stateOrProvinceName, UTF8String, <= 128 */
	ZTM_ATTR_L,      /* localityName, UTF8String, <= 128 */
	ZTM_ATTR_O,      /* organizationName, UTF8String, <= 64 */
	ZTM_ATTR_OU,     /* organizationalUnitName, UTF8String, <= 64 */
	ZTM_ATTR_COUNT
};
#define ZTM_ATTR_BIT(a) (1u << (a))

/* Subject alternative name types. */
enum ztm_san_type {
	ZTM_SAN_DNS,      /* dNSName, IA5String */
	ZTM_SAN_URI,      /* uniformResourceIdentifier, IA5String */
	ZTM_SAN_HWMODULE, /* otherName hardwareModuleName (RFC 4108 §5) */
	ZTM_SAN_IP,       /* iPAddress: value is the text form, IPv4 or IPv6 */
	ZTM_SAN_COUNT
};
#define ZTM_SAN_BIT(t) (1u << (t))

/* keyUsage bits (RFC 5280 §4.2.1.3), as named-bit numbers. */
#define ZTM_KU_DIGITAL_SIGNATURE (1u << 0)
#define ZTM_KU_KEY_ENCIPHERMENT  (1u << 2)
#define ZTM_KU_KEY_AGREEMENT     (1u << 4)
#define ZTM_KU_KEY_CERT_SIGN     (1u << 5)
#define ZTM_KU_CRL_SIGN          (1u << 6)

/* extendedKeyUsage purposes. */
#define ZTM_EKU_SERVER_AUTH (1u << 0)
#define ZTM_EKU_CLIENT_AUTH (1u << 1)
#define ZTM_EKU_CODE_SIGN   (1u << 2)
#define ZTM_EKU_OCSP_SIGN   (1u << 3)
/* id-kp-ztmVoucherSigning (ztm/voucher.h): ownership vouchers. */
#define ZTM_EKU_VOUCHER_SIGN (1u << 4)
#define ZTM_EKU_ALL                                                                                \
	(ZTM_EKU_SERVER_AUTH | ZTM_EKU_CLIENT_AUTH | ZTM_EKU_CODE_SIGN | ZTM_EKU_OCSP_SIGN |       \
	 ZTM_EKU_VOUCHER_SIGN)

/* certificatePolicies a profile writes (docs/firmware-manifest.md): the
 * firmware channel of a firmware signer, bound into its certificate by the
 * CA so a test-channel key can never claim production. */
enum ztm_cert_policy {
	ZTM_POLICY_NONE,
	ZTM_POLICY_FW_PRODUCTION, /* id-ztm-fw-channel-production */
	ZTM_POLICY_FW_TEST,       /* id-ztm-fw-channel-test */
};

/* Key algorithms a profile may certify (further limited by
 * ztm_key_check_allowed, which applies to every profile). */
enum ztm_key_kind { ZTM_KK_P256, ZTM_KK_P384, ZTM_KK_ED25519, ZTM_KK_RSA, ZTM_KK_COUNT };
#define ZTM_KK_BIT(k) (1u << (k))

struct ztm_profile {
	const char *name;
	int is_ca;                 /* basicConstraints cA */
	int pathlen;               /* pathLenConstraint, -1 = absent (CA only) */
	unsigned key_usage;        /* ZTM_KU_* (critical) */
	unsigned eku;              /* ZTM_EKU_*, 0 = no extension */
	int ocsp_nocheck;          /* id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1) */
	int64_t lifetime;          /* default, seconds */
	int64_t max_lifetime;      /* a request may shorten, never exceed this */
	unsigned subject_required; /* ZTM_ATTR_BIT set that must be present */
	unsigned san_allowed;      /* ZTM_SAN_BIT set */
	int san_required;          /* at least one SAN */
	unsigned key_kinds;        /* ZTM_KK_BIT set */
	/* ZTM_EKU_* a request may put in place of eku (ztm_issue_req.eku).
	 * Only issuing-ca sets it: an EKU in a CA certificate constrains what
	 * its leaves may be used for (the EKU chaining OpenSSL enforces), so
	 * each CA asks for the purposes of what it issues. 0 = exactly eku. */
	unsigned eku_request;
	/* The one certificatePolicies OID the profile writes (fixed: a request
	 * cannot change it), ZTM_POLICY_NONE for no extension. */
	enum ztm_cert_policy policy;
};

/* "device", "station", "operator", "ocsp", "codesign", "fw-production",
 * "fw-test", "voucher", "tls-server", "root", "issuing-ca"; NULL if unknown. The profiles are
 * static and immutable. */
const struct ztm_profile *ztm_profile_get(const char *name);
/* i-th profile for listing (NULL past the end). */
const struct ztm_profile *ztm_profile_at(size_t i);
const char *ztm_attr_name(enum ztm_attr a);
const char *ztm_key_kind_name(enum ztm_key_kind k);

#endif
