/* err.c - error table and error objects. */
#include "ztm/err.h"

#include <openssl/err.h>
#include <pthread.h>
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

/* The OpenSSL error library number of ztm's own entries. */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int ztm_lib;

static void lib_init(void)
{
	ztm_lib = ERR_get_next_error_library();
}

void ztm_error_raise_ossl(enum ztm_err code, const char *fmt, ...)
{
	va_list ap;

	pthread_once(&lib_once, lib_init);
	va_start(ap, fmt);
	ERR_new();
	ERR_set_debug(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC);
	ERR_vset_error(ztm_lib, (int)code, fmt, ap);
	va_end(ap);
}

int ztm_error_ossl(struct ztm_error *e, enum ztm_err code, const char *fmt, ...)
{
	va_list ap;
	unsigned long ossl = ERR_peek_error(), x;
	const char *data = NULL;
	int flags = 0, ours = 0;
	char reason[160], why[256];
	size_t n;

	pthread_once(&lib_once, lib_init);
	/* A ztm entry anywhere in the queue names the real cause. */
	while ((x = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (ERR_GET_LIB(x) == ztm_lib && ERR_GET_REASON(x) > 0 &&
		    ERR_GET_REASON(x) < ZTM_E_COUNT) {
			code = (enum ztm_err)ERR_GET_REASON(x);
			snprintf(why, sizeof(why), "%s",
			         (flags & ERR_TXT_STRING) && data != NULL ? data : "");
			ours = 1;
			break;
		}
	}
	if (e != NULL) {
		va_start(ap, fmt);
		error_vset(e, code, fmt, ap);
		va_end(ap);
		n = strlen(e->msg);
		if (ours) {
			if (n + 3 < sizeof(e->msg))
				snprintf(e->msg + n, sizeof(e->msg) - n, " (%s)", why);
		} else if (ossl != 0) {
			ERR_error_string_n(ossl, reason, sizeof(reason));
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
