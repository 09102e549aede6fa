/* ztm/log.h - structured log lines (logfmt: key=value, one event a line).
 * Never pass a key, a PIN, a passphrase or an enrollment code. */
#ifndef ZTM_LOG_H
#define ZTM_LOG_H

enum ztm_log_level { ZTM_LOG_DEBUG, ZTM_LOG_INFO, ZTM_LOG_WARN, ZTM_LOG_ERROR };

void ztm_log_set_level(enum ztm_log_level level);
/* Log to this fd (default 2). */
void ztm_log_set_fd(int fd);
/* Emits: ts=... level=... pid=... event=<event> <kv>. `kv` is formatted by
 * the caller as key=value pairs; values with spaces must use ztm_log_quote. */
void ztm_log(enum ztm_log_level level, const char *event, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Quotes a value for logfmt into out ("..." with \" and \\ escaped,
 * control characters dropped); returns out. */
const char *ztm_log_quote(const char *value, char *out, unsigned outsize);

#endif
