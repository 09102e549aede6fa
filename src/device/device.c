/* device.c - the ztmdev context, manufacturing (key + bootstrap
 * certificate), loading a device directory, CSR and status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zd_crypto.h"
#include "zd_int.h"

#define KEY_PEM_MAX  ((size_t)16 * 1024)
#define CERT_PEM_MAX ((size_t)64 * 1024)

/* The bootstrap certificate is an identity claim, not a grant of trust:
 * trust comes from the station's record of this key (DESIGN.md 3). It must
 * outlive any shelf time before first power-on, so it lasts 20 years, as
 * IEEE 802.1AR IDevIDs commonly do; a fixed end (not 99991231235959Z)
 * keeps it within every verifier's date range. notBefore is an hour early
 * for clocks that lag on the line. */
#define BOOTSTRAP_LIFETIME ((int64_t)20 * 365 * 86400 + 5 * 86400)
#define BOOTSTRAP_BACKDATE ((int64_t)3600)

struct ztmdev *ztmdev_new(const char *dir)
{
	struct ztmdev *dev = calloc(1, sizeof(*dev));
	size_t n = dir != NULL ? strlen(dir) : 0;

	if (dev == NULL)
		return NULL;
	zd_buf_init(&dev->pass, 1024);
	zd_buf_init(&dev->bootstrap, ZD_CERT_MAX);
	zd_buf_init(&dev->tpm_evidence, ZTMDEV_TPM_EVIDENCE_MAX);
	zd_certs_init(&dev->anchors);
	zd_certs_init(&dev->oper);
	if (n == 0 || n >= sizeof(dev->dir))
		zd_err(dev, "device directory: missing or longer than %zu bytes",
		       sizeof(dev->dir) - 1);
	else
		memcpy(dev->dir, dir, n + 1);
	return dev;
}

void ztmdev_free(struct ztmdev *dev)
{
	if (dev == NULL)
		return;
	zd_key_free(dev->key); /* before the TPM session its key may live in */
	zd_tpm_free(dev->tpm);
	zd_buf_free(&dev->pass);
	zd_buf_free(&dev->bootstrap);
	zd_buf_free(&dev->tpm_evidence);
	zd_certs_free(&dev->anchors);
	zd_certs_free(&dev->oper);
	free(dev);
}

const char *ztmdev_error(const struct ztmdev *dev)
{
	return dev != NULL ? dev->err : "no device context (out of memory)";
}

void ztmdev_set_transport(struct ztmdev *dev, ztmdev_transport_fn fn, void *arg)
{
	dev->transport = fn;
	dev->transport_arg = arg;
}

void ztmdev_set_clock(struct ztmdev *dev, ztmdev_now_fn now, ztmdev_sleep_fn sleep_fn, void *arg)
{
	dev->now = now;
	dev->sleep = sleep_fn;
	dev->clock_arg = arg;
}

int ztmdev_set_anchor(struct ztmdev *dev, const uint8_t *pem, size_t len)
{
	struct zd_certs c;
	size_t i;

	dev->err[0] = '\0';
	zd_certs_init(&c);
	if (zd_pem_certs(pem, len, &c) != 0) {
		zd_certs_free(&c);
		return zd_err(dev, "trust anchor: no certificate, a damaged one, or more than %d",
		              ZD_CERTS_MAX);
	}
	/* Each must decode now, so a bad anchor file is named at once. */
	for (i = 0; i < c.n; i++) {
		struct zd_buf spki;
		int bad;
		zd_buf_init(&spki, 0);
		bad = zd_cert_spki(dev, c.der[i].p, c.der[i].len, &spki);
		zd_buf_free(&spki);
		if (bad) {
			zd_certs_free(&c);
			return zd_err(dev, "trust anchor: certificate %zu does not decode", i + 1);
		}
	}
	zd_certs_free(&dev->anchors);
	zd_certs_init(&dev->anchors);
	for (i = 0; i < c.n; i++)
		zd_certs_add(&dev->anchors, c.der[i].p, c.der[i].len);
	zd_certs_free(&c);
	return 0;
}

int ztmdev_set_passphrase(struct ztmdev *dev, const char *pass, size_t len)
{
	dev->err[0] = '\0';
	zd_buf_free(&dev->pass);
	zd_buf_init(&dev->pass, 1024);
	if (len > 0 && len < ZTMDEV_PASS_MIN)
		return zd_err(dev, "passphrase shorter than %d characters", ZTMDEV_PASS_MIN);
	if (len > 0 && zd_buf_append(&dev->pass, pass, len) != 0)
		return zd_err(dev, "passphrase longer than 1024 bytes");
	return 0;
}

static int check_dir(struct ztmdev *dev)
{
	if (dev->dir[0] == '\0')
		return -1; /* ztmdev_new said why */
	return 0;
}

int ztmdev_init(struct ztmdev *dev, const char *serial, const char *product)
{
	char cn[ZTMDEV_SERIAL_MAX + ZTMDEV_PRODUCT_MAX + 2];
	struct zd_subject subj = {cn, serial};
	struct zd_buf pem, der;
	struct zd_key *key = NULL;
	int64_t now;
	int wrote = 0, rc = -1;

	if (check_dir(dev) != 0)
		return -1;
	dev->err[0] = '\0';
	if (serial == NULL || zd_check_name(serial, ZTMDEV_SERIAL_MAX, ".-") != 0)
		return zd_err(dev, "serial must be 1-%d characters of A-Z a-z 0-9 . -",
		              ZTMDEV_SERIAL_MAX);
	if (product == NULL || zd_check_name(product, ZTMDEV_PRODUCT_MAX, "._-") != 0)
		return zd_err(dev, "product must be 1-%d characters of A-Z a-z 0-9 . _ -",
		              ZTMDEV_PRODUCT_MAX);
	if (mkdir(dev->dir, 0700) != 0 && errno != EEXIST)
		return zd_err(dev, "%s: %s", dev->dir, strerror(errno));
	if (zd_file_exists(dev, ZD_FILE_STATE) || zd_file_exists(dev, ZD_FILE_KEY) ||
	    zd_file_exists(dev, ZD_FILE_KEY_TPM))
		return zd_err(dev, "%s already holds a device (refusing to replace its key)",
		              dev->dir);
	snprintf(cn, sizeof(cn), "%s-%s", product, serial);
	zd_buf_init(&pem, KEY_PEM_MAX);
	zd_buf_init(&der, ZD_CERT_MAX);
	now = zd_now(dev);
	if (zd_key_create(dev, &key, &pem) != 0 ||
	    zd_cert_self_signed(dev, key, &subj, now - BOOTSTRAP_BACKDATE, now + BOOTSTRAP_LIFETIME,
	                        &der) != 0)
		goto out;
	/* Key first: a state file always names a key that exists. */
	if (zd_file_write(dev, zd_key_file(dev, 0), pem.p, pem.len, 0600) != 0)
		goto out;
	wrote = 1;
	pem.len = 0;
	if (zd_pem_cert_write(der.p, der.len, &pem) != 0) {
		zd_err(dev, "bootstrap certificate: out of memory");
		goto out;
	}
	if (zd_file_write(dev, ZD_FILE_BOOTSTRAP, pem.p, pem.len, 0644) != 0)
		goto out;
	memcpy(dev->serial, serial, strlen(serial) + 1);
	memcpy(dev->product, product, strlen(product) + 1);
	dev->key_encrypted = dev->pass.len > 0;
	if (zd_state_write(dev, ZTMDEV_STATE_MANUFACTURED) != 0)
		goto out;
	zd_key_free(dev->key);
	dev->key = key;
	key = NULL;
	dev->bootstrap.len = 0;
	zd_buf_append(&dev->bootstrap, der.p, der.len);
	dev->opened = 1;
	rc = 0;
out:
	/* A failed init leaves no half device behind (a key without a state
	 * file would block the next init). */
	if (rc != 0 && wrote) {
		zd_file_remove(dev, ZD_FILE_BOOTSTRAP);
		zd_file_remove(dev, zd_key_file(dev, 0));
	}
	zd_key_free(key);
	zd_buf_free(&pem);
	zd_buf_free(&der);
	return rc;
}

static int load_certs(struct ztmdev *dev, const char *name, struct zd_certs *out)
{
	struct zd_buf pem;
	int rc = 0;

	zd_buf_init(&pem, CERT_PEM_MAX);
	if (zd_file_read(dev, name, CERT_PEM_MAX, &pem) != 0)
		rc = -1;
	else if (zd_pem_certs(pem.p, pem.len, out) != 0)
		rc = zd_err(dev, "%s/%s: no certificate or a damaged one", dev->dir, name);
	zd_buf_free(&pem);
	return rc;
}

/* The leaf of `certs` must be a certificate for the device key. */
static int cert_is_ours(struct ztmdev *dev, const struct zd_buf *cert, const char *what)
{
	struct zd_buf a, b;
	int rc = -1;

	zd_buf_init(&a, 0);
	zd_buf_init(&b, 0);
	if (zd_key_spki(dev, dev->key, &a) != 0 || zd_cert_spki(dev, cert->p, cert->len, &b) != 0)
		goto out;
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
		zd_err(dev, "%s: the certificate is not for the device key", what);
		goto out;
	}
	rc = 0;
out:
	zd_buf_free(&a);
	zd_buf_free(&b);
	return rc;
}

/* device.pem is not for key.pem: a re-key was cut after its certificate
 * was installed and before its key took key.pem's place (renew.c). When
 * key.new.pem is the certificate's key, finish it; else the error stands. */
static int finish_rekey(struct ztmdev *dev)
{
	struct zd_key *old = dev->key, *nk = NULL;
	char why[sizeof(dev->err)];

	memcpy(why, dev->err, sizeof(why));
	if (!zd_file_exists(dev, zd_key_file(dev, 1)) ||
	    zd_key_load_file(dev, zd_key_file(dev, 1), &nk) != 0)
		goto fail;
	dev->key = nk;
	if (cert_is_ours(dev, &dev->oper.der[0], ZD_FILE_DEVICE) != 0 ||
	    zd_file_rename(dev, zd_key_file(dev, 1), zd_key_file(dev, 0)) != 0) {
		dev->key = old;
		zd_key_free(nk);
		goto fail;
	}
	zd_key_free(old);
	dev->err[0] = '\0';
	return 0;
fail:
	memcpy(dev->err, why, sizeof(why));
	return -1;
}

int ztmdev_open(struct ztmdev *dev)
{
	struct zd_certs boot;
	struct zd_key *key = NULL;
	int rc = -1;

	if (check_dir(dev) != 0)
		return -1;
	dev->err[0] = '\0';
	zd_certs_init(&boot);
	dev->opened = 0;
	zd_certs_free(&dev->oper);
	zd_certs_init(&dev->oper);
	if (!zd_file_exists(dev, ZD_FILE_STATE)) {
		zd_err(dev, "%s: no device here (run init first)", dev->dir);
		goto out;
	}
	if (zd_state_read(dev) != 0)
		goto out;
	if (dev->key_encrypted && dev->pass.len == 0) {
		zd_err(dev, "%s/%s is encrypted: a passphrase is needed", dev->dir, ZD_FILE_KEY);
		goto out;
	}
	if (zd_key_load_file(dev, zd_key_file(dev, 0), &key) != 0)
		goto out;
	zd_key_free(dev->key);
	dev->key = key;
	/* After a re-key the bootstrap certificate is for the first key: it
	 * stays as the record of manufacture and authenticates nothing more
	 * (the server refuses it once the device is active). */
	if (load_certs(dev, ZD_FILE_BOOTSTRAP, &boot) != 0 ||
	    (dev->state < ZTMDEV_STATE_PROVISIONED &&
	     cert_is_ours(dev, &boot.der[0], ZD_FILE_BOOTSTRAP) != 0))
		goto out;
	dev->bootstrap.len = 0;
	zd_buf_append(&dev->bootstrap, boot.der[0].p, boot.der[0].len);
	if (dev->state >= ZTMDEV_STATE_PROVISIONED &&
	    (load_certs(dev, ZD_FILE_DEVICE, &dev->oper) != 0 ||
	     (cert_is_ours(dev, &dev->oper.der[0], ZD_FILE_DEVICE) != 0 && finish_rekey(dev) != 0)))
		goto out;
	dev->opened = 1;
	rc = 0;
out:
	zd_certs_free(&boot);
	return rc;
}

int zd_ensure_open(struct ztmdev *dev)
{
	dev->err[0] = '\0';
	return dev->opened ? 0 : ztmdev_open(dev);
}

static int copy_out(struct ztmdev *dev, const struct zd_buf *b, uint8_t *out, size_t cap,
                    size_t *len)
{
	if (b->len > cap)
		return zd_err(dev, "output buffer too small (%zu bytes needed)", b->len);
	memcpy(out, b->p, b->len);
	*len = b->len;
	return 0;
}

int ztmdev_bootstrap_cert(struct ztmdev *dev, uint8_t *out, size_t cap, size_t *len)
{
	if (zd_ensure_open(dev) != 0)
		return -1;
	return copy_out(dev, &dev->bootstrap, out, cap, len);
}

int zd_make_csr(struct ztmdev *dev, struct zd_buf *der)
{
	char cn[ZTMDEV_SERIAL_MAX + ZTMDEV_PRODUCT_MAX + 2];
	struct zd_subject subj = {cn, dev->serial};

	snprintf(cn, sizeof(cn), "%s-%s", dev->product, dev->serial);
	return zd_csr_make(dev, dev->key, &subj, der);
}

int ztmdev_csr(struct ztmdev *dev, uint8_t *out, size_t cap, size_t *len)
{
	struct zd_buf der;
	int rc;

	if (zd_ensure_open(dev) != 0)
		return -1;
	zd_buf_init(&der, ZD_CERT_MAX);
	rc = zd_make_csr(dev, &der);
	if (rc == 0)
		rc = copy_out(dev, &der, out, cap, len);
	zd_buf_free(&der);
	return rc;
}

/* Status needs no key, so it works without the passphrase. */
int ztmdev_status(struct ztmdev *dev, struct ztmdev_status *st)
{
	struct zd_certs c;
	int prov, rc = -1;

	memset(st, 0, sizeof(*st));
	if (check_dir(dev) != 0)
		return -1;
	dev->err[0] = '\0';
	zd_certs_init(&c);
	if (!dev->opened) {
		if (!zd_file_exists(dev, ZD_FILE_STATE)) {
			zd_err(dev, "%s: no device here (run init first)", dev->dir);
			goto out;
		}
		if (zd_state_read(dev) != 0)
			goto out;
	}
	prov = dev->state >= ZTMDEV_STATE_PROVISIONED;
	if (load_certs(dev, prov ? ZD_FILE_DEVICE : ZD_FILE_BOOTSTRAP, &c) != 0)
		goto out;
	st->state = dev->state;
	memcpy(st->serial, dev->serial, sizeof(st->serial));
	memcpy(st->product, dev->product, sizeof(st->product));
	st->key_encrypted = dev->key_encrypted;
	st->key_storage = dev->key_storage;
	if (zd_cert_info(dev, &c.der[0], st) != 0)
		goto out;
	/* The owner's anchor, once a voucher installed one. */
	if (zd_file_exists(dev, ZD_FILE_OWNER)) {
		struct ztmdev_status o;
		zd_certs_free(&c);
		zd_certs_init(&c);
		memset(&o, 0, sizeof(o));
		if (load_certs(dev, ZD_FILE_OWNER, &c) != 0 ||
		    zd_cert_info(dev, &c.der[0], &o) != 0)
			goto out;
		memcpy(st->owner_subject, o.subject, sizeof(st->owner_subject));
	}
	rc = 0;
out:
	zd_certs_free(&c);
	return rc;
}
