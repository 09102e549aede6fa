/* keyfile.c - the device key's origin above the crypto seam: which file
 * holds it and how it is made and read, for a software key (key.pem,
 * PKCS#8) or a TPM key (key.tpm, the TPM's blob; docs/tpm.md). Everything
 * else in the library holds a struct zd_key and never asks where it lives. */
#include <string.h>

#include "zd_crypto.h"
#include "zd_int.h"

#define KEY_FILE_MAX ((size_t)16 * 1024)

static const char *const storage_names[] = {"software", "tpm"};

const char *ztmdev_key_storage_name(enum ztmdev_key_storage s)
{
	if ((unsigned)s < sizeof(storage_names) / sizeof(storage_names[0]))
		return storage_names[s];
	return "unknown";
}

int ztmdev_set_key_storage(struct ztmdev *dev, enum ztmdev_key_storage storage)
{
	dev->err[0] = '\0';
	if (storage != ZTMDEV_KEY_SOFTWARE && storage != ZTMDEV_KEY_TPM)
		return zd_err(dev, "key storage %d: unknown", (int)storage);
	if (dev->opened)
		return zd_err(dev, "key storage: the device exists; its key stays where it is");
	dev->key_storage = storage;
	return 0;
}

const char *zd_key_file(const struct ztmdev *dev, int next)
{
	if (dev->key_storage == ZTMDEV_KEY_TPM)
		return next ? ZD_FILE_KEY_TPM_NEW : ZD_FILE_KEY_TPM;
	return next ? ZD_FILE_KEY_NEW : ZD_FILE_KEY;
}

int zd_key_create(struct ztmdev *dev, struct zd_key **out, struct zd_buf *file)
{
	struct zd_key *k = NULL;

	if (dev->key_storage == ZTMDEV_KEY_TPM) {
		/* The TPM protects the key; a passphrase would protect nothing
		 * (the blob is useless without the TPM) and is refused rather than
		 * silently ignored. */
		if (dev->pass.len > 0)
			return zd_err(dev, "a TPM key takes no passphrase");
		if (zd_tpm_key_generate(dev, &k) != 0 || zd_tpm_key_write(dev, k, file) != 0)
			goto fail;
	} else if (zd_key_generate(dev, &k) != 0 ||
	           zd_key_write(dev, k, dev->pass.p, dev->pass.len, file) != 0) {
		goto fail;
	}
	*out = k;
	return 0;
fail:
	zd_key_free(k);
	return -1;
}

int zd_key_load_file(struct ztmdev *dev, const char *name, struct zd_key **out)
{
	struct zd_buf b;
	int rc;

	zd_buf_init(&b, KEY_FILE_MAX);
	rc = zd_file_read(dev, name, KEY_FILE_MAX, &b);
	if (rc == 0 && dev->key_storage == ZTMDEV_KEY_TPM)
		rc = zd_tpm_key_read(dev, b.p, b.len, out);
	else if (rc == 0)
		rc = zd_key_read(dev, b.p, b.len, dev->pass.p, dev->pass.len, out);
	zd_buf_free(&b);
	return rc;
}
