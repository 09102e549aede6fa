/* err.c - error table and error objects. */
#include "ztm/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
} err_table[] = {
#define ZTM_X_ROW(code, name, text) {name, text},
    ZTM_ERROR_TABLE(ZTM_X_ROW)
#undef ZTM_X_ROW
};

const char *ztm_err_name(enum ztm_err code)
{
	if ((unsigned)code >= ZTM_E_COUNT)
		return "unknown";
	return err_table[code].name;
}

const char *ztm_err_text(enum ztm_err code)
{
	if ((unsigned)code >= ZTM_E_COUNT)
		return "unknown error";
	return err_table[code].text;
}

/* The format attribute lets clang's -Wformat-nonliteral accept the vsnprintf. */
static __attribute__((format(printf, 3, 0))) void error_vset(struct ztm_error *e, enum ztm_err code,
                                                             const char *fmt, va_list ap)
{
	e->code = code;
	if (fmt == NULL || fmt[0] == '\0') {
		snprintf(e->msg, sizeof(e->msg), "%s", ztm_err_text(code));
		return;
	}
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int ztm_error_set(struct ztm_error *e, enum ztm_err code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	error_vset(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int ztm_error_ossl(struct ztm_error *e, enum ztm_err code, const char *fmt, ...)
{
	va_list ap;
	unsigned long ossl = ERR_peek_error();
	char reason[160];
	size_t n;

	if (e != NULL) {
		va_start(ap, fmt);
		error_vset(e, code, fmt, ap);
		va_end(ap);
		if (ossl != 0) {
			ERR_error_string_n(ossl, reason, sizeof(reason));
			n = strlen(e->msg);
			if (n + 3 < sizeof(e->msg))
				snprintf(e->msg + n, sizeof(e->msg) - n, " (%s)", reason);
		}
	}
	ERR_clear_error();
	return -1;
}

void ztm_error_clear(struct ztm_error *e)
{
	if (e == NULL)
		return;
	e->code = ZTM_OK;
	e->msg[0] = '\0';
}

const char *ztm_error_msg(const struct ztm_error *e)
{
	if (e == NULL || e->code == ZTM_OK)
		return "ok";
	return e->msg[0] != '\0' ? e->msg : ztm_err_text(e->code);
}
