/* ztm/certfile.h - certificates from PEM files, with a cap and an error
 * that names the file. */
#ifndef ZTM_CERTFILE_H
#define ZTM_CERTFILE_H

#include <openssl/x509.h>

#include "ztm/err.h"

/* The first certificate in a PEM file (at most 256 KiB), or NULL with err
 * (ZTM_E_NOTFOUND, ZTM_E_TOOBIG, ZTM_E_PARSE). */
X509 *ztm_cert_load_pem(const char *path, struct ztm_error *err);

#endif
