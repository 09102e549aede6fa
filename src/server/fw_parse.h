/* fw_parse.h - the JSON body of POST /api/v1/firmware/releases (docs/api.md):
 * a pure parser, so the fuzz target (fuzz/fuzz_fw_release.c) reaches it
 * without a server. */
#ifndef ZTMD_FW_PARSE_H
#define ZTMD_FW_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/err.h"
#include "ztm/firmware.h"

/* The largest body the parser looks at (the HTTP cap is larger). */
#define FW_RELEASE_BODY_MAX 4096

struct fw_release_req {
	char product[ZTM_FW_NAME_MAX + 1];
	char version[ZTM_FW_NAME_MAX + 1];
	int64_t security_version, size;
	char sha256[65]; /* lower-case hex */
	enum ztm_fw_channel channel;
};

/* Parses and checks {"product", "version", "security_version", "size",
 * "sha256", "channel"}: all required, no other key, no duplicate, each in
 * its documented range. 0, or -1 with ZTM_E_USAGE / ZTM_E_PARSE /
 * ZTM_E_TOOBIG naming the field. */
int fw_release_parse(const uint8_t *body, size_t len, struct fw_release_req *out,
                     struct ztm_error *err);
/* The same request for an uploaded image (docs/api.md "Uploading the
 * image"): the query's product, version, security_version (decimal text)
 * and channel (each may be NULL: refused as missing), with the size and
 * SHA-256 (lower-case hex) the server measured. Same rules, same errors. */
int fw_release_upload(const char *product, const char *version, const char *svn,
                      const char *channel, uint64_t size, const char *sha256,
                      struct fw_release_req *out, struct ztm_error *err);

#endif
