/* log.c - logfmt lines written with one write(2) so that worker processes
 * sharing stderr never interleave half lines. */
#include "ztm/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum ztm_log_level log_level = ZTM_LOG_INFO;
static int log_fd = 2;

void ztm_log_set_level(enum ztm_log_level level)
{
	log_level = level;
}

void ztm_log_set_fd(int fd)
{
	log_fd = fd;
}

void ztm_log(enum ztm_log_level level, const char *event, const char *kv_fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;
	va_list ap;

	if (level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	             "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s pid=%ld event=%s",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             ts.tv_nsec / 1000000, names[level], (long)getpid(), event);
	if (n < 0 || n >= (int)sizeof(line) - 2)
		return;
	if (kv_fmt != NULL && kv_fmt[0] != '\0') {
		line[n++] = ' ';
		va_start(ap, kv_fmt);
		m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, kv_fmt, ap);
		va_end(ap);
		if (m < 0)
			return;
		n += m;
		if (n > (int)sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) < 0)
		return;
}

const char *ztm_log_quote(const char *value, char *out, unsigned outsize)
{
	unsigned o = 0;

	if (outsize < 3) {
		if (outsize > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (; value != NULL && *value != '\0' && o + 3 < outsize; value++) {
		unsigned char c = (unsigned char)*value;
		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
