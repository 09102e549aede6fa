/* ztm/p11uri.h - PKCS#11 URIs (RFC 7512), the `pkcs11:` scheme of the key
 * seam (ztm/key.h). Only the parser lives here; the backend is src/core/p11*.c.
 *
 *   pkcs11:token=ztm;object=ca-device;type=private?pin-source=file:/etc/ztm/pin
 *          &module-path=/usr/lib/softhsm/libsofthsm2.so
 *
 * Path attributes (';'-separated): token, manufacturer, serial, model, object,
 * id, type, slot-id. Query attributes ('&'-separated): pin-source, module-path.
 * Values are percent-decoded (RFC 7512 §2.3); an attribute given twice, an
 * unknown attribute, a NUL byte in a text value or a malformed escape is
 * refused (RFC 7512 §2.3: a consumer must not guess at what it does not
 * understand). pin-value is refused: a PIN written into a URI ends up in
 * configuration files, shell history and error messages (docs/hsm.md).
 * module-name is refused: name the module by module-path (or
 * ZTM_PKCS11_MODULE).
 */
#ifndef ZTM_P11URI_H
#define ZTM_P11URI_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/err.h"

/* CK_UTF8CHAR label fields are 32 bytes; manufacturer/model 32, serial 16.
 * Object labels have no fixed size in PKCS#11; 255 is plenty. */
#define ZTM_P11_TOKEN_MAX  32
#define ZTM_P11_OBJECT_MAX 255
#define ZTM_P11_ID_MAX     64
#define ZTM_P11_PATH_MAX   4096

enum ztm_p11_type {
	ZTM_P11_TYPE_ANY = 0, /* not given */
	ZTM_P11_TYPE_PRIVATE,
	ZTM_P11_TYPE_PUBLIC,
	ZTM_P11_TYPE_CERT,
	ZTM_P11_TYPE_SECRET,
	ZTM_P11_TYPE_DATA,
};

struct ztm_p11_uri {
	char token[ZTM_P11_TOKEN_MAX + 1]; /* empty: not given */
	char manufacturer[ZTM_P11_TOKEN_MAX + 1];
	char serial[ZTM_P11_TOKEN_MAX + 1];
	char model[ZTM_P11_TOKEN_MAX + 1];
	char object[ZTM_P11_OBJECT_MAX + 1];
	uint8_t id[ZTM_P11_ID_MAX];
	size_t id_len;
	int has_id;
	enum ztm_p11_type type;
	unsigned long slot_id;
	int has_slot_id;
	char pin_source[ZTM_P11_PATH_MAX]; /* a path (the "file:" prefix dropped) */
	char module_path[ZTM_P11_PATH_MAX];
};

/* Parses a "pkcs11:" URI into u. 0, or -1 with ZTM_E_USAGE naming the
 * attribute at fault. The message never quotes the URI (it may carry a PIN). */
int ztm_p11_uri_parse(const char *uri, struct ztm_p11_uri *u, struct ztm_error *err);

/* A description safe to log: "token 'ztm' object 'ca-device' id 01ab". */
void ztm_p11_uri_describe(const struct ztm_p11_uri *u, char *out, size_t n);

/* A pkcs11: key URI from another one (a token's URI, a key's): its path,
 * with object=<object> added when object != NULL (the caller's URI then
 * names a token, not a key), and of its query only module-path, plus
 * pin-source when keep_query (the written-down form, a ceremony's .uri file
 * or ztmd.conf, names no PIN file: that belongs to the machine using it).
 * 0, or -1 with ZTM_E_USAGE (not pkcs11:, longer than n). */
int ztm_p11_uri_compose(const char *uri, const char *object, int keep_query, char *out, size_t n,
                        struct ztm_error *err);

#endif
