/* store_check.c - the argument checks every backend applies before it
 * touches the database: a certificate serial is 1 to 20 octets in
 * lower-case hex, a text fits its column and is there when required, a
 * SHA-256 is 64 lower-case hex digits, a device serial is printable ASCII
 * without spaces, a certificate row to reserve is made of such values. One copy for all
 * backends, so that they cannot drift apart in what they refuse. */
#include <string.h>

#include "store_impl.h"

int store_check_serial(const char *serial, struct ztm_error *err)
{
	size_t i, n;

	if (serial == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "certificate serial missing");
	n = strlen(serial);
	if (n == 0 || n >= ZTM_SERIAL_HEX_MAX || n % 2 != 0)
		return ztm_error_set(err, ZTM_E_USAGE,
		                     "certificate serial '%.48s': want 1 to 20 octets in hex",
		                     serial);
	for (i = 0; i < n; i++) {
		char c = serial[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "certificate serial '%.48s': not lower-case hex",
			                     serial);
	}
	return 0;
}

int store_check_text(const char *what, const char *v, size_t max, int required,
                     struct ztm_error *err)
{
	if (v == NULL || (required && v[0] == '\0'))
		return ztm_error_set(err, ZTM_E_USAGE, "%s missing", what);
	if (strnlen(v, max) >= max)
		return ztm_error_set(err, ZTM_E_USAGE, "%s too long (max %zu bytes)", what,
		                     max - 1);
	return 0;
}

int store_is_sha256_hex(const char *v)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return v[64] == '\0';
}

int store_check_sha256(const char *what, const char *v, int optional, struct ztm_error *err)
{
	if (v == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "%s missing", what);
	if (optional && v[0] == '\0')
		return 0;
	if (!store_is_sha256_hex(v))
		return ztm_error_set(err, ZTM_E_USAGE, "%s: want 64 lower-case hex digits", what);
	return 0;
}

/* Device serials go into certificate subjects: printable ASCII, no space. */
int store_check_dev_serial(const char *v, struct ztm_error *err)
{
	size_t i;

	if (store_check_text("device serial", v, ZTM_DEV_SERIAL_MAX, 1, err) != 0)
		return -1;
	for (i = 0; v[i] != '\0'; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return ztm_error_set(err, ZTM_E_USAGE,
			                     "device serial: printable ASCII without spaces only");
	return 0;
}

int store_check_cert_row(const struct ztm_cert_row *row, struct ztm_error *err)
{
	if (row == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "certificate row missing");
	if (store_check_serial(row->serial, err) != 0 ||
	    store_check_text("certificate CA name", row->ca, sizeof(row->ca), 1, err) != 0 ||
	    store_check_text("certificate profile", row->profile, sizeof(row->profile), 1, err) !=
	        0 ||
	    store_check_text("certificate subject", row->subject, sizeof(row->subject), 0, err) !=
	        0 ||
	    store_check_text("idempotency key", row->idem_key, sizeof(row->idem_key), 0, err) !=
	        0 ||
	    store_check_text("certificate SPKI hash", row->spki_sha256, sizeof(row->spki_sha256), 1,
	                     err) != 0 ||
	    store_check_text("certificate owner kind", row->owner_kind, sizeof(row->owner_kind), 1,
	                     err) != 0)
		return -1;
	if (row->crl_shard_size < 0)
		return ztm_error_set(err, ZTM_E_USAGE, "CRL shard size %lld: must be 0 or more",
		                     (long long)row->crl_shard_size);
	return 0;
}

int store_check_record_row(const struct ztm_record_row *r, struct ztm_error *err)
{
	if (r == NULL)
		return ztm_error_set(err, ZTM_E_USAGE, "record row missing");
	if (store_check_dev_serial(r->serial, err) != 0 ||
	    store_check_sha256("bootstrap key hash", r->spki_sha256, 0, err) != 0 ||
	    store_check_sha256("firmware hash", r->fw_sha256, 1, err) != 0 ||
	    store_check_text("hardware revision", r->hw_rev, sizeof(r->hw_rev), 0, err) != 0 ||
	    store_check_text("MAC", r->mac, sizeof(r->mac), 0, err) != 0 ||
	    store_check_text("firmware version", r->fw_version, sizeof(r->fw_version), 0, err) != 0)
		return -1;
	if (r->bootstrap_der.len == 0 || r->bootstrap_der.len > STORE_BOOTSTRAP_DER_MAX)
		return ztm_error_set(err, ZTM_E_USAGE, "record %s: bootstrap certificate size %zu",
		                     r->serial, r->bootstrap_der.len);
	if (r->test_result != ZTM_TEST_PASS && r->test_result != ZTM_TEST_FAIL)
		return ztm_error_set(err, ZTM_E_USAGE, "record %s: unknown test result", r->serial);
	if (r->key_origin != ZTM_KEY_ORIGIN_DEVICE && r->key_origin != ZTM_KEY_ORIGIN_INJECTED)
		return ztm_error_set(err, ZTM_E_USAGE, "record %s: unknown key origin", r->serial);
	return 0;
}
