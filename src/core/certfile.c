/* certfile.c - reading certificates from PEM files. */
#include "ztm/certfile.h"

#include <openssl/pem.h>

#include "ztm/file.h"

X509 *ztm_cert_load_pem(const char *path, struct ztm_error *err)
{
	struct ztm_buf b;
	BIO *bio = NULL;
	X509 *x = NULL;

	ztm_buf_init(&b, 256 * 1024);
	if (ztm_file_read(path, 256 * 1024, &b, err) != 0)
		goto out;
	bio = BIO_new_mem_buf(b.data, (int)b.len);
	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x == NULL)
		ztm_error_ossl(err, ZTM_E_PARSE, "%s: not a PEM certificate", path);
out:
	BIO_free(bio);
	ztm_buf_free(&b);
	return x;
}
