/* renew.c - the re-enrollment rules, in order. Default-fail: each rule
 * returns a refusal; only falling through every rule gives RENEW_OK. */
#include "renew.h"

#define DAY ((int64_t)86400)

static const struct {
	const char *name;
	int alert;
	const char *text;
} renew_rows[] = {
#define RENEW_X_ROW(c, n, a, t) {n, a, t},
    RENEW_TABLE(RENEW_X_ROW)
#undef RENEW_X_ROW
};

const char *renew_name(enum renew_code c)
{
	return (unsigned)c < RENEW_COUNT ? renew_rows[c].name : "unknown";
}

const char *renew_text(enum renew_code c)
{
	return (unsigned)c < RENEW_COUNT ? renew_rows[c].text : "unknown";
}

int renew_alerts(enum renew_code c)
{
	return (unsigned)c < RENEW_COUNT ? renew_rows[c].alert : 1;
}

enum renew_code renew_decide(const struct renew_input *in)
{
	switch (in->state) {
	case ZTM_DEVICE_PROVISIONED:
	case ZTM_DEVICE_ACTIVE:
		break;
	case ZTM_DEVICE_RETIRED:
		return RENEW_RETIRED;
	case ZTM_DEVICE_REVOKED:
		return RENEW_REVOKED;
	case ZTM_DEVICE_QUARANTINED:
		return RENEW_QUARANTINED;
	case ZTM_DEVICE_SUSPENDED:
		return RENEW_SUSPENDED;
	case ZTM_DEVICE_MANUFACTURED:
	default:
		return RENEW_NOT_PROVISIONED;
	}
	/* A lost response: the certificate the first attempt was issued, even
	 * though the one presented is no longer current (or, re-keyed, revoked
	 * as superseded). The caller found it by (old certificate, new key). */
	if (in->retry)
		return RENEW_OK;
	/* RFC 7030 §4.2.2: re-enrollment renews the identity it presents. */
	if (!in->is_current)
		return RENEW_NOT_CURRENT;
	if (in->cert_revoked)
		return RENEW_CERT_REVOKED;
	/* notAfter is the last second of validity (RFC 5280 §4.1.2.5). A
	 * device that was offline past it may renew for grace_days more,
	 * when its product allows it (0: never). */
	if (in->now > in->not_after && in->now - in->not_after > in->grace_days * DAY)
		return RENEW_EXPIRED;
	/* Renewing long before the end only multiplies live certificates. */
	if (in->now < in->not_after - in->window_days * DAY)
		return RENEW_TOO_EARLY;
	if (!in->key_kind_ok)
		return RENEW_KEY_TYPE;
	/* key_storage = tpm: a new key only with its TPM's word. */
	if (in->attest_required && in->attest != VET_OK)
		return RENEW_ATTEST;
	return RENEW_OK;
}
