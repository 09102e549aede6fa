/* lint.c - pre-issuance lint (ztm/lint.h, rule table in docs/profiles.md).
 *
 * Every rule has a name; a failure says "lint <rule>: <detail>" so the
 * operator and the tests can tell which guard fired. Rules run in a fixed
 * order and the first failure wins.
 */
#include "ztm/lint.h"

#include <stdarg.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <string.h>

#include "der.h"
#include "ztm/ca.h"
#include "ztm/crl.h"
#include "ztm/serial.h"

static int fire(struct ztm_error *err, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fire(struct ztm_error *err, const char *rule, const char *fmt, ...)
{
	char detail[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return ztm_error_set(err, ZTM_E_LINT, "lint %s: %s", rule, detail);
}

static int url_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* RFC 4519 upper bounds (ub-*), and PrintableString where X.520 says so. */
static const struct {
	size_t min, max;
	int printable;
} attr_rules[ZTM_ATTR_COUNT] = {
    [ZTM_ATTR_CN] = {1, 64, 0},  [ZTM_ATTR_SERIAL] = {1, 64, 1}, [ZTM_ATTR_C] = {2, 2, 1},
    [ZTM_ATTR_ST] = {1, 128, 0}, [ZTM_ATTR_L] = {1, 128, 0},     [ZTM_ATTR_O] = {1, 64, 0},
    [ZTM_ATTR_OU] = {1, 64, 0},
};

static int printable_char(unsigned char ch)
{
	/* X.680 §41.4 PrintableString alphabet. */
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       strchr(" '()+,-./:=?", ch) != NULL;
}

static int check_subject(const struct ztm_tbs *t, struct ztm_error *err)
{
	unsigned seen = 0, missing;
	size_t i, n, k;

	if (t->n_subject == 0 || t->subject == NULL)
		return fire(err, "subject", "subject is empty");
	for (i = 0; i < t->n_subject; i++) {
		enum ztm_attr a = t->subject[i].type;
		const char *v = t->subject[i].value;
		if ((unsigned)a >= ZTM_ATTR_COUNT || v == NULL)
			return fire(err, "subject", "attribute %zu is invalid", i);
		n = strlen(v);
		if (n < attr_rules[a].min || n > attr_rules[a].max)
			return fire(err, "subject", "%s length %zu not in %zu..%zu",
			            ztm_attr_name(a), n, attr_rules[a].min, attr_rules[a].max);
		for (k = 0; attr_rules[a].printable && k < n; k++)
			if (!printable_char((unsigned char)v[k]))
				return fire(err, "subject", "%s is not a PrintableString",
				            ztm_attr_name(a));
		seen |= ZTM_ATTR_BIT(a);
	}
	missing = t->profile->subject_required & ~seen;
	for (i = 0; i < ZTM_ATTR_COUNT; i++)
		if (missing & ZTM_ATTR_BIT(i))
			return fire(err, "subject", "profile %s requires %s", t->profile->name,
			            ztm_attr_name((enum ztm_attr)i));
	return 0;
}

/* RFC 1034 §3.5 preferred name syntax (LDH labels), as RFC 5280 §4.2.1.6
 * requires for dNSName; no wildcards in ztm certificates. */
static int dns_ok(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i <= n; i++) {
		char ch = s[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)))
			return 0;
		label++;
	}
	return 1;
}

/* A scheme ("x:", RFC 3986 §3.1) then visible ASCII only (IA5String). */
static int uri_ok(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (s[i] != '\0' && s[i] != ':') {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'))
			return 0;
		i++;
	}
	if (s[i] != ':' || s[i + 1] == '\0')
		return 0;
	for (; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i <= 2048;
}

static int ip_ok(const char *v)
{
	uint8_t ip[16];

	return inet_pton(AF_INET, v, ip) == 1 || inet_pton(AF_INET6, v, ip) == 1;
}

static int check_san(const struct ztm_tbs *t, struct ztm_error *err)
{
	uint8_t oid[64];
	size_t i, oid_len;

	if (t->profile->san_required && t->n_san == 0)
		return fire(err, "san", "profile %s requires a subjectAltName", t->profile->name);
	for (i = 0; i < t->n_san; i++) {
		const struct ztm_san *s = &t->san[i];
		if ((unsigned)s->type >= ZTM_SAN_COUNT || s->value == NULL)
			return fire(err, "san", "SAN %zu is invalid", i);
		if (!(t->profile->san_allowed & ZTM_SAN_BIT(s->type)))
			return fire(err, "san", "SAN %zu: type not allowed in profile %s", i,
			            t->profile->name);
		if (s->type == ZTM_SAN_DNS && !dns_ok(s->value))
			return fire(err, "san", "SAN %zu: not a DNS name", i);
		if (s->type == ZTM_SAN_URI && !uri_ok(s->value))
			return fire(err, "san", "SAN %zu: not a URI", i);
		if (s->type == ZTM_SAN_IP && !ip_ok(s->value))
			return fire(err, "san", "SAN %zu: not an IPv4 or IPv6 address", i);
		if (s->type == ZTM_SAN_HWMODULE &&
		    (ztm_der_oid_text(s->hw_type, oid, sizeof(oid), &oid_len) != 0 ||
		     s->value[0] == '\0' || strlen(s->value) > 128))
			return fire(err, "san",
			            "SAN %zu: hardwareModuleName needs an OID hwType "
			            "and a 1..128 byte hwSerialNum",
			            i);
	}
	return 0;
}

/* serial, validity.max, validity.lifetime: the rules that need no issuer. */
static int check_serial_validity(const struct ztm_tbs *t, struct ztm_error *err)
{
	const struct ztm_profile *p = t->profile;

	/* serial: RFC 5280 §4.1.2.2 positive; I2 fixes 17 octets. */
	if (t->serial_len != ZTM_SERIAL_LEN)
		return fire(err, "serial", "%zu octets, want %d", t->serial_len, ZTM_SERIAL_LEN);
	if (t->serial[0] == 0 || (t->serial[0] & 0x80))
		return fire(err, "serial", "first octet 0x%02x (must be 0x01..0x7f)", t->serial[0]);
	if (t->lifetime <= 0 || t->lifetime > p->max_lifetime)
		return fire(err, "validity.max", "lifetime %lld s not in 1..%lld (profile %s)",
		            (long long)t->lifetime, (long long)p->max_lifetime, p->name);
	/* RFC 5280 §4.1.2.5: notAfter is inclusive, so a lifetime of L seconds
	 * ends at notBefore + L - 1 (not one second more). */
	if (t->not_after != t->not_before + t->lifetime - 1)
		return fire(err, "validity.lifetime", "notAfter %lld != notBefore %lld + %lld - 1",
		            (long long)t->not_after, (long long)t->not_before,
		            (long long)t->lifetime);
	return 0;
}

/* basic-constraints through ski: the certificate against its profile. */
static int check_body(const struct ztm_tbs *t, struct ztm_error *err)
{
	const struct ztm_profile *p = t->profile;
	struct ztm_spki_info ki;
	struct ztm_error kerr;

	if (t->ca != p->is_ca || (p->is_ca && t->pathlen != p->pathlen) ||
	    (!p->is_ca && t->pathlen != -1))
		return fire(err, "basic-constraints", "cA=%s pathlen=%d, profile %s wants cA=%s",
		            t->ca ? "TRUE" : "FALSE", t->pathlen, p->name,
		            p->is_ca ? "TRUE" : "FALSE");
	if (t->key_usage != p->key_usage || t->key_usage == 0)
		return fire(err, "key-usage", "0x%x, profile %s wants 0x%x", t->key_usage, p->name,
		            p->key_usage);
	/* Exactly the profile's purposes, or (issuing-ca) the ones the request
	 * chose among those the profile lets it choose. */
	if (t->eku != p->eku && (p->eku_request == 0 || (t->eku & ~p->eku_request) != 0))
		return fire(err, "eku", "0x%x, profile %s wants 0x%x%s", t->eku, p->name,
		            p->eku_request != 0 ? p->eku_request : p->eku,
		            p->eku_request != 0 ? " or a subset" : "");
	if (t->ocsp_nocheck != p->ocsp_nocheck)
		return fire(err, "ocsp-nocheck", "profile %s wants %s", p->name,
		            p->ocsp_nocheck ? "present" : "absent");
	/* The firmware channel is the profile's alone (docs/firmware-manifest.md). */
	if (t->policy != p->policy)
		return fire(err, "policy", "certificate policy %d, profile %s wants %d",
		            (int)t->policy, p->name, (int)p->policy);
	if (ztm_spki_check(t->spki.p, t->spki.len, &ki, &kerr) != 0) {
		if (ki.ec_explicit)
			return fire(err, "ec-params", "explicit EC parameters (named curves only)");
		return fire(err, "key", "%s", kerr.msg);
	}
	if (!(p->key_kinds & ZTM_KK_BIT(ki.kind)))
		return fire(err, "key.profile", "%s keys not allowed in profile %s",
		            ztm_key_kind_name(ki.kind), p->name);
	if (check_subject(t, err) != 0 || check_san(t, err) != 0)
		return -1;
	if (t->ski_len == 0 || t->ski_len > sizeof(t->ski))
		return fire(err, "ski", "subjectKeyIdentifier missing");
	return 0;
}

int ztm_lint_tbs(const struct ztm_tbs *t, const struct ztm_ca *ca, struct ztm_error *err)
{
	const struct ztm_ca_urls *urls;
	struct ztm_slice ski;
	char want[512];

	if (t == NULL || ca == NULL || t->profile == NULL)
		return fire(err, "profile", "no profile or no CA");
	if (check_serial_validity(t, err) != 0)
		return -1;
	if (t->not_after > ztm_ca_not_after(ca) || t->not_before < ztm_ca_not_before(ca))
		return fire(err, "validity.ca", "validity outside CA %s validity", ztm_ca_name(ca));
	if (check_body(t, err) != 0)
		return -1;
	ski = ztm_ca_ski(ca);
	if (t->aki_len == 0 || t->aki_len != ski.len || memcmp(t->aki, ski.p, ski.len) != 0)
		return fire(err, "aki", "authorityKeyIdentifier missing or not CA %s's key id",
		            ztm_ca_name(ca));
	urls = ztm_ca_urls(ca);
	if (!url_eq(t->aia_issuers, urls->ca_issuers) || !url_eq(t->aia_ocsp, urls->ocsp))
		return fire(err, "aia", "authorityInfoAccess does not match CA %s's URLs",
		            ztm_ca_name(ca));
	/* The CDP names the certificate's own CRL shard (docs/revocation.md):
	 * the CRL listing it carries the same URL as its issuingDistributionPoint. */
	if (urls->crl == NULL
	        ? t->cdp != NULL
	        : (t->cdp == NULL ||
	           ztm_crl_shard_url(urls->crl, t->crl_shard, want, sizeof(want)) != 0 ||
	           strcmp(t->cdp, want) != 0))
		return fire(err, "cdp", "cRLDistributionPoints does not match CA %s's URL",
		            ztm_ca_name(ca));
	return 0;
}

int ztm_lint_root(const struct ztm_tbs *t, struct ztm_error *err)
{
	if (t == NULL || t->profile == NULL || !t->profile->is_ca || t->profile->pathlen >= 0)
		return fire(err, "profile",
		            "a self-signed root needs a CA profile without pathLen");
	if (check_serial_validity(t, err) != 0 || check_body(t, err) != 0)
		return -1;
	/* RFC 5280 §4.2.1.1: a self-signed certificate may omit the AKI; if it
	 * has one, it names the certificate's own key. */
	if (t->aki_len != 0 &&
	    (t->aki_len != t->ski_len || memcmp(t->aki, t->ski, t->ski_len) != 0))
		return fire(err, "aki",
		            "a self-signed root's authorityKeyIdentifier must be its "
		            "own subjectKeyIdentifier");
	/* Nothing issues a root: there is no issuer to point at. */
	if (t->aia_issuers != NULL || t->aia_ocsp != NULL)
		return fire(err, "aia", "a root carries no authorityInfoAccess");
	if (t->cdp != NULL)
		return fire(err, "cdp", "a root carries no cRLDistributionPoints");
	return 0;
}
