/* profile.c - the static table of certificate profiles (docs/profiles.md). */
#include "ztm/profile.h"

#include <string.h>

#define DAY ((int64_t)86400)
#define ALL_KEYS                                                                                   \
	(ZTM_KK_BIT(ZTM_KK_P256) | ZTM_KK_BIT(ZTM_KK_P384) | ZTM_KK_BIT(ZTM_KK_ED25519) |          \
	 ZTM_KK_BIT(ZTM_KK_RSA))
/* Issue 2: the ceremony offers P-256 (default), P-384, Ed25519 and RSA-3072
 * roots, so CAs may hold any of them; an OEM whose devices cannot verify
 * Ed25519 chains simply keeps the P-256 default. */
#define CA_KEYS ALL_KEYS
#define ALL_SANS                                                                                   \
	(ZTM_SAN_BIT(ZTM_SAN_DNS) | ZTM_SAN_BIT(ZTM_SAN_URI) | ZTM_SAN_BIT(ZTM_SAN_HWMODULE))

/* Why these values: leaves carry only digitalSignature because TLS 1.3 and
 * every signature ztm checks need nothing else (no RSA key transport). CAs
 * also get digitalSignature so an issuing CA may sign OCSP responses itself
 * (RFC 6960 §4.2.2.2). */
static const struct ztm_profile profiles[] = {
    /* Device identities live as long as the product says (up to 100 years,
     * like IEEE 802.1AR IDevIDs), cut at the device CA's own end. */
    {"device", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 0, 365 * DAY, 36500 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_SERIAL), ALL_SANS, 0, ALL_KEYS, 0, ZTM_POLICY_NONE},
    {"station", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 0, 365 * DAY, 365 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), ALL_SANS, 0, ALL_KEYS, 0,
     ZTM_POLICY_NONE},
    {"operator", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CLIENT_AUTH, 0, 90 * DAY, 365 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN), ZTM_SAN_BIT(ZTM_SAN_URI), 0, ALL_KEYS, 0, ZTM_POLICY_NONE},
    {"ocsp", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_OCSP_SIGN, 1, 30 * DAY, 90 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN), 0, 0, ALL_KEYS, 0, ZTM_POLICY_NONE},
    {"codesign", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 0, 3 * 365 * DAY,
     3 * 365 * DAY, ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0, ALL_KEYS, 0,
     ZTM_POLICY_NONE},
    /* Firmware signers (docs/firmware.md), issued by ztmd from the codesign
     * CA, one per product line and channel: the channel is the certificate
     * policy, fixed by the profile, so the caller picks a profile, never a
     * policy. P-256 only: the CMS form's messageDigest must be the SHA-256
     * the service was given (docs/firmware-manifest.md). */
    {"fw-production", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 0, 3 * 365 * DAY,
     3 * 365 * DAY, ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0,
     ZTM_KK_BIT(ZTM_KK_P256), 0, ZTM_POLICY_FW_PRODUCTION},
    {"fw-test", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_CODE_SIGN, 0, 3 * 365 * DAY, 3 * 365 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0, ZTM_KK_BIT(ZTM_KK_P256), 0,
     ZTM_POLICY_FW_TEST},
    /* ztmd's ownership-voucher signer (docs/vouchers.md), from the codesign
     * CA: devices require its extendedKeyUsage, so a firmware signer
     * cannot sign vouchers, nor it firmware. */
    {"voucher", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_VOUCHER_SIGN, 0, 2 * 365 * DAY,
     3 * 365 * DAY, ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0, ALL_KEYS, 0,
     ZTM_POLICY_NONE},
    /* ztmd's own TLS server certificate, from the ceremony's tls CA: clients
     * check the name they dialled, so a DNS or IP SAN is required; 398 days
     * is the CA/Browser Forum ceiling that TLS clients enforce. */
    {"tls-server", 0, -1, ZTM_KU_DIGITAL_SIGNATURE, ZTM_EKU_SERVER_AUTH, 0, 365 * DAY, 398 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN), ZTM_SAN_BIT(ZTM_SAN_DNS) | ZTM_SAN_BIT(ZTM_SAN_IP), 1,
     /* Client support for Ed25519 server certificates is uneven. */
     ZTM_KK_BIT(ZTM_KK_P256) | ZTM_KK_BIT(ZTM_KK_P384) | ZTM_KK_BIT(ZTM_KK_RSA), 0,
     ZTM_POLICY_NONE},
    {"root", 1, -1, ZTM_KU_KEY_CERT_SIGN | ZTM_KU_CRL_SIGN, 0, 0, 20 * 365 * DAY, 25 * 365 * DAY,
     ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0, CA_KEYS, 0, ZTM_POLICY_NONE},
    {"issuing-ca", 1, 0, ZTM_KU_DIGITAL_SIGNATURE | ZTM_KU_KEY_CERT_SIGN | ZTM_KU_CRL_SIGN, 0, 0,
     10 * 365 * DAY, 15 * 365 * DAY, ZTM_ATTR_BIT(ZTM_ATTR_CN) | ZTM_ATTR_BIT(ZTM_ATTR_O), 0, 0,
     CA_KEYS, ZTM_EKU_ALL, ZTM_POLICY_NONE},
};

const struct ztm_profile *ztm_profile_get(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const struct ztm_profile *ztm_profile_at(size_t i)
{
	return i < sizeof(profiles) / sizeof(profiles[0]) ? &profiles[i] : NULL;
}

const char *ztm_attr_name(enum ztm_attr a)
{
	static const char *names[ZTM_ATTR_COUNT] = {"CN", "serialNumber", "C", "ST", "L", "O",
	                                            "OU"};
	return (unsigned)a < ZTM_ATTR_COUNT ? names[a] : "unknown";
}

const char *ztm_key_kind_name(enum ztm_key_kind k)
{
	static const char *names[ZTM_KK_COUNT] = {"P-256", "P-384", "Ed25519", "RSA"};
	return (unsigned)k < ZTM_KK_COUNT ? names[k] : "unknown";
}
