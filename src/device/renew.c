/* renew.c - re-enrollment (RFC 7030 §4.2.2; docs/device-library.md): the
 * device asks for a new operational certificate with the one it has, for
 * the same key or for a new one (re-key).
 *
 * A re-key's key is stored like the first one (key.new.pem: PKCS#8, 0600,
 * encrypted when a passphrase is set) before anything is sent, and it
 * replaces key.pem only after the new certificate is installed: a power
 * cut at any point leaves a device that still works (the old pair, or the
 * new certificate with key.new.pem, which ztmdev_open completes), and a
 * retry after a lost reply asks with the same new key, so the server's
 * idempotency (the same certificate again) applies. */
#include <stdio.h>
#include <string.h>

#include "zd_crypto.h"
#include "zd_int.h"

#define REENROLL_PATH "/.well-known/est/device/simplereenroll"
#define KEY_PEM_MAX   ((size_t)16 * 1024)

/* The key a re-key asks for: the one an earlier attempt left (its request
 * may have been answered), else a new one, written before it is used. */
static int new_key(struct ztmdev *dev, struct zd_key **out)
{
	struct zd_buf pem;
	struct zd_key *k = NULL;
	int rc = -1;

	if (zd_file_exists(dev, zd_key_file(dev, 1)))
		return zd_key_load_file(dev, zd_key_file(dev, 1), out);
	zd_buf_init(&pem, KEY_PEM_MAX);
	/* Where the first key was made: a TPM device re-keys inside its TPM. */
	if (zd_key_create(dev, &k, &pem) != 0 ||
	    zd_file_write(dev, zd_key_file(dev, 1), pem.p, pem.len, 0600) != 0)
		goto out;
	*out = k;
	k = NULL;
	rc = 0;
out:
	zd_key_free(k);
	zd_buf_free(&pem);
	return rc;
}

int ztmdev_rekey_prepare(struct ztmdev *dev, char *name, size_t cap)
{
	struct zd_key *nk = NULL;
	const char *f;

	if (zd_ensure_open(dev) != 0)
		return -1;
	if (dev->state < ZTMDEV_STATE_PROVISIONED)
		return zd_err(dev, "device is %s: enroll before re-keying",
		              ztmdev_state_name(dev->state));
	if (new_key(dev, &nk) != 0)
		return -1;
	zd_key_free(nk);
	f = zd_key_file(dev, 1);
	if (name == NULL || strlen(f) >= cap)
		return zd_err(dev, "re-key: key file name does not fit");
	memcpy(name, f, strlen(f) + 1);
	return 0;
}

int ztmdev_renew(struct ztmdev *dev, int rekey)
{
	char cn[ZTMDEV_SERIAL_MAX + ZTMDEV_PRODUCT_MAX + 2];
	struct zd_subject subj = {cn, NULL};
	struct zd_key *nk = NULL;
	const struct zd_key *key;
	struct zd_buf csr;
	struct zd_certs certs;
	size_t leaf;
	int rc = -1;

	if (zd_ensure_open(dev) != 0)
		return -1;
	if (dev->state < ZTMDEV_STATE_PROVISIONED)
		return zd_err(dev, "device is %s: enroll before renewing",
		              ztmdev_state_name(dev->state));
	if (dev->anchors.n == 0)
		return zd_err(dev, "no trust anchor set (ztmdev_set_anchor)");
	zd_buf_init(&csr, ZD_CERT_MAX);
	zd_certs_init(&certs);
	if (rekey && new_key(dev, &nk) != 0)
		goto out;
	key = rekey ? nk : dev->key;
	snprintf(cn, sizeof(cn), "%s-%s", dev->product, dev->serial);
	subj.serial = dev->serial;
	/* The CSR is signed by the key it asks for (possession of the new
	 * key); the TLS handshake proves the current one. */
	if (zd_csr_make(dev, key, &subj, &csr) != 0 ||
	    zd_est_request(dev, REENROLL_PATH, ZTMDEV_CRED_OPERATIONAL, &csr, &certs) != 0 ||
	    zd_pick_leaf(dev, key, &certs, &leaf) != 0 ||
	    zd_install(dev, &certs, leaf, dev->state) != 0)
		goto out;
	if (rekey) {
		/* Certificate installed: now the new key takes the old one's
		 * place (ztmdev_open finishes this after a power cut). */
		if (zd_file_rename(dev, zd_key_file(dev, 1), zd_key_file(dev, 0)) != 0)
			goto out;
		zd_key_free(dev->key);
		dev->key = nk;
		nk = NULL;
	}
	rc = 0;
out:
	zd_key_free(nk);
	zd_buf_free(&csr);
	zd_certs_free(&certs);
	return rc;
}
