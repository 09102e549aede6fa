/* ztm/err.h - the one error table of ztm.
 *
 * Codes are grouped (STYLE.md 5): usage (bad call or bad input from a user),
 * protocol (malformed data from a peer), policy (well-formed but refused),
 * internal (our fault or the system's). The X-macro gives the enum, the
 * symbolic name and the default text from a single list.
 */
#ifndef ZTM_ERR_H
#define ZTM_ERR_H

#include <stddef.h>

#define ZTM_ERROR_TABLE(X)                                                                         \
	X(ZTM_OK, "ok", "success")                                                                 \
	/* usage */                                                                                \
	X(ZTM_E_USAGE, "usage", "invalid usage")                                                   \
	X(ZTM_E_CONFIG, "config", "invalid configuration")                                         \
	X(ZTM_E_NOTFOUND, "not_found", "not found")                                                \
	X(ZTM_E_EXISTS, "exists", "already exists")                                                \
	X(ZTM_E_IO, "io", "input/output error")                                                    \
	/* protocol */                                                                             \
	X(ZTM_E_PARSE, "parse", "malformed input")                                                 \
	X(ZTM_E_TOOBIG, "too_big", "input exceeds its size cap")                                   \
	X(ZTM_E_BADSIG, "bad_signature", "signature does not verify")                              \
	X(ZTM_E_AUTH, "unauthenticated", "authentication failed")                                  \
	/* policy */                                                                               \
	X(ZTM_E_DENIED, "forbidden", "not allowed")                                                \
	X(ZTM_E_POLICY, "policy", "refused by policy")                                             \
	X(ZTM_E_LINT, "lint", "certificate lint failed")                                           \
	X(ZTM_E_WEAKKEY, "weak_key", "key type or size not allowed")                               \
	X(ZTM_E_CONFLICT, "conflict", "conflicting state")                                         \
	/* internal */                                                                             \
	X(ZTM_E_CRYPTO, "crypto", "cryptographic library error")                                   \
	X(ZTM_E_STORE, "store", "store error")                                                     \
	X(ZTM_E_NOMEM, "no_memory", "out of memory")                                               \
	X(ZTM_E_UNAVAILABLE, "unavailable", "a key store (HSM) is unavailable")                    \
	X(ZTM_E_INTERNAL, "internal", "internal error")

enum ztm_err {
#define ZTM_X_ENUM(code, name, text) code,
	ZTM_ERROR_TABLE(ZTM_X_ENUM)
#undef ZTM_X_ENUM
	    ZTM_E_COUNT
};

/* One error object per context (STYLE.md 1): code plus a message that names
 * the thing and the reason. Never holds secrets. */
struct ztm_error {
	enum ztm_err code;
	char msg[384];
};

const char *ztm_err_name(enum ztm_err code);
const char *ztm_err_text(enum ztm_err code);

/* Set code and message; returns -1 so callers can `return ztm_error_set(...)`. */
int ztm_error_set(struct ztm_error *e, enum ztm_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like ztm_error_set, and appends the first OpenSSL error queue entry, then
 * clears the queue (STYLE.md 8). */
int ztm_error_ossl(struct ztm_error *e, enum ztm_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts a ztm error on OpenSSL's queue, from inside an OpenSSL callback (a
 * PKCS#11 signature): ztm_error_ossl, called by whoever drove OpenSSL, then
 * reports `code` and this message instead of its own code, so a lost HSM
 * reaches the HTTP layer as ZTM_E_UNAVAILABLE (503), not as a crypto error. */
void ztm_error_raise_ossl(enum ztm_err code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ztm_error_clear(struct ztm_error *e);
/* "name: message" for humans, e.g. "policy: work order closed". */
const char *ztm_error_msg(const struct ztm_error *e);

#endif
