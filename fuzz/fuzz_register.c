/* fuzz_register.c - libFuzzer target for the device registration path
 * (src/server/est_device.c, vet.c): the request's claims as ztmd reads them
 * from a bootstrap certificate and a CSR, then the vetting decision against
 * a record made from those very claims, and against a record that differs.
 *
 * Input framing (seeds in fuzz/corpus/fuzz_register/):
 *
 *   offset  size  field
 *   0       1     flags: bit 0 = the record is for another serial,
 *                        bit 1 = the device is already registered (state
 *                        from bits 2-4), bits 5-7 ignored
 *   1       2     n: length of the bootstrap certificate DER, big-endian
 *   3       n     bootstrap certificate DER
 *   3+n     rest  CSR DER
 *
 * Invariants (__builtin_trap on violation): the claims are NUL-free,
 * bounded, and the key hash is 64 lower-case hex digits; a product is named
 * only when the CN is "<product>-<serial>"; the verdict is a known code;
 * VET_OK never goes to a request whose CSR key differs from its bootstrap
 * key or whose serials differ from the record's; the DER validity reader
 * (ztm/certder.h) agrees with OpenSSL on the certificate's times; the
 * bootstrap shape refuses as a CA exactly what X509_check_ca calls one. */
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "est_ops.h"
#include "vet.h"
#include "ztm/bootstrap.h"
#include "ztm/certder.h"
#include "ztm/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t epoch_of(const ASN1_TIME *t, int *ok)
{
	struct tm tm;

	*ok = t != NULL && ASN1_TIME_to_tm(t, &tm) == 1;
	return *ok ? (int64_t)timegm(&tm) : 0;
}

/* The bootstrap shape (ingest and handshake) takes for a CA exactly what
 * OpenSSL does (X509_check_ca), whenever OpenSSL read the same bytes. */
static void check_shape(const uint8_t *der, size_t n, X509 *x)
{
	struct ztm_bootstrap_shape shape;
	struct ztm_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = ztm_bootstrap_shape(der, n, &shape, &err);
	if (x == NULL)
		return;
	if (rc == 0 && X509_check_ca(x) != 0)
		__builtin_trap();
	if (rc != 0 && strstr(err.msg, "is a CA certificate") != NULL && X509_check_ca(x) == 0)
		__builtin_trap();
}

/* The store's validity reader (ztm/certder.h) on the certificate bytes:
 * whenever it and OpenSSL both read a validity, they agree. */
static void check_validity(const uint8_t *der, size_t n, const X509 *x)
{
	struct ztm_error err;
	int64_t nb, na, onb, ona;
	int ok1, ok2;

	if (ztm_cert_der_validity(der, n, &nb, &na, &err) != 0 || x == NULL)
		return;
	onb = epoch_of(X509_get0_notBefore(x), &ok1);
	ona = epoch_of(X509_get0_notAfter(x), &ok2);
	if (ok1 && ok2 && (onb != nb || ona != na))
		__builtin_trap();
}

static void check_str(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		__builtin_trap();
}

static void check_claims(X509 *boot, const struct est_device *d)
{
	char cn[ZTM_NAME_MAX + ZTM_DEV_SERIAL_MAX + 2];
	size_t i, pl;

	check_str(d->boot_serial, sizeof(d->boot_serial));
	check_str(d->boot_product, sizeof(d->boot_product));
	check_str(d->csr_serial, sizeof(d->csr_serial));
	if (strlen(d->boot_spki) != 64)
		__builtin_trap();
	for (i = 0; i < 64; i++)
		if (!((d->boot_spki[i] >= '0' && d->boot_spki[i] <= '9') ||
		      (d->boot_spki[i] >= 'a' && d->boot_spki[i] <= 'f')))
			__builtin_trap();
	pl = strlen(d->boot_product);
	if (pl == 0)
		return;
	/* A named product implies a serial and the CN "<product>-<serial>". */
	if (d->boot_serial[0] == '\0' ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(boot), NID_commonName, cn,
	                              (int)sizeof(cn)) <= 0 ||
	    strncmp(cn, d->boot_product, pl) != 0 || cn[pl] != '-' ||
	    strcmp(cn + pl + 1, d->boot_serial) != 0)
		__builtin_trap();
}

static void vet_both(const struct est_device *d, const struct ztm_csr *csr, uint8_t flags)
{
	static const enum vet_device_state states[] = {
	    VET_DEV_PROVISIONED, VET_DEV_ACTIVE,  VET_DEV_SUSPENDED, VET_DEV_QUARANTINED,
	    VET_DEV_REVOKED,     VET_DEV_RETIRED, VET_DEV_NONE,      VET_DEV_NONE,
	};
	struct vet_input in;
	enum vet_code c;
	int q = 0;

	memset(&in, 0, sizeof(in));
	in.boot_serial = d->boot_serial;
	in.boot_spki = d->boot_spki;
	in.csr_spki = csr->spki_sha256;
	in.csr_serial = d->csr_serial[0] != '\0' ? d->csr_serial : NULL;
	in.asked_product = d->boot_product[0] != '\0' ? d->boot_product : NULL;
	in.csr_key_kind_bit = ZTM_KK_BIT(csr->key_info.kind);
	in.have_record = 1;
	in.rec_serial = (flags & 1) ? "SN-RECORDED" : d->boot_serial;
	in.rec_product = in.asked_product != NULL ? in.asked_product : "widget";
	in.rec_test_passed = 1;
	in.rec_fw_approved = 1;
	in.product_key_kinds = 0xf;
	in.device_state = (flags & 2) ? states[(flags >> 2) & 7] : VET_DEV_NONE;
	in.device_spki = d->boot_spki;
	in.order_open = 1;
	in.order_quota_left = 1;
	c = vet_decide(&in, &q);
	if ((unsigned)c >= VET_COUNT || (q && c != VET_CLONE))
		__builtin_trap();
	if (c == VET_OK &&
	    (strcmp(csr->spki_sha256, d->boot_spki) != 0 || d->boot_serial[0] == '\0' ||
	     strcmp(d->boot_serial, in.rec_serial) != 0 ||
	     (in.csr_serial != NULL && strcmp(in.csr_serial, in.rec_serial) != 0)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	struct est_device d;
	struct ztm_csr csr;
	struct ztm_error err;
	struct ztm_buf spki;
	X509 *boot;
	size_t n;

	if (size < 3)
		return 0;
	n = ((size_t)data[1] << 8) | data[2];
	if (n > size - 3)
		return 0;
	p = data + 3;
	boot = d2i_X509(NULL, &p, (long)n);
	check_validity(data + 3, n, boot != NULL && p == data + 3 + n ? boot : NULL);
	check_shape(data + 3, n, boot != NULL && p == data + 3 + n ? boot : NULL);
	if (boot == NULL)
		return 0;
	memset(&csr, 0, sizeof(csr));
	ztm_buf_init(&spki, 16 * 1024);
	/* As ztmd: the CSR against the bootstrap key (proof of possession by
	 * the handshake when they are the same key). */
	if (est_peer_spki(boot, &spki, &err) == 0 &&
	    ztm_csr_parse_pop(data + 3 + n, size - 3 - n, &(struct ztm_slice){spki.data, spki.len},
	                      &csr, &err) == 0) {
		memset(&d, 0, sizeof(d));
		/* The verify was skipped only for exactly the bootstrap key. */
		if (csr.pop_by_peer &&
		    (csr.spki.len != spki.len || memcmp(csr.spki.p, spki.data, spki.len) != 0))
			__builtin_trap();
		if (est_device_claims(boot, ztm_buf_slice(&spki), &csr, &d, &err) == 0) {
			check_claims(boot, &d);
			vet_both(&d, &csr, data[0]);
		} else if (err.msg[0] == '\0') {
			__builtin_trap(); /* a refusal always says why */
		}
	}
	ztm_csr_free(&csr);
	ztm_buf_free(&spki);
	X509_free(boot);
	return 0;
}
