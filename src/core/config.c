/* config.c - the configuration file parser (format: docs/configuration.md).
 *
 * The parser knows syntax only: sections, keys, values. Each module reads its
 * own keys with the typed getters, which mark them used; ztm_config_unused
 * then reports the first key nobody asked for, so a typo ("wokers = 4") is an
 * error instead of a silently ignored setting. Every error names origin:line.
 */
#include "ztm/config.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ztm/buf.h"
#include "ztm/file.h"
#include "ztm/str.h"

#define CONFIG_MAX_BYTES ((size_t)1024 * 1024)
#define CONFIG_MAX_LINE  4096
#define CONFIG_MAX_KEYS  1000
#define CONFIG_MAX_NAME  128

struct config_entry {
	size_t section; /* index into sections */
	char *key;
	char *value;
	unsigned line;
	int used;
};

struct config_section {
	char *name;
	unsigned line;
};

struct ztm_config {
	char origin[256];
	struct config_entry *entries;
	size_t n_entries;
	struct config_section *sections;
	size_t n_sections;
};

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

void ztm_config_free(struct ztm_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_entries; i++) {
		free(c->entries[i].key);
		/* A value may be a URL with a password in it: wipe values. */
		if (c->entries[i].value != NULL) {
			OPENSSL_cleanse(c->entries[i].value, strlen(c->entries[i].value));
			free(c->entries[i].value);
		}
	}
	for (i = 0; i < c->n_sections; i++)
		free(c->sections[i].name);
	free(c->entries);
	free(c->sections);
	free(c);
}

/* Section names: dot-separated components of [A-Za-z0-9_-], none empty
 * ("ca.device" yes; "ca.", ".ca", "ca..x" no). */
static int valid_section_name(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > CONFIG_MAX_NAME || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (p[i + 1] == '.')
				return 0;
		} else if (!is_name_char(p[i])) {
			return 0;
		}
	}
	return 1;
}

static int add_section(struct ztm_config *c, const char *p, size_t n, unsigned line,
                       struct ztm_error *err)
{
	struct config_section *s;
	size_t i;

	if (!valid_section_name(p, n))
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "%s:%u: invalid section name (want letters, digits, _ - "
		                     "and dots between parts, at most %d characters)",
		                     c->origin, line, CONFIG_MAX_NAME);
	for (i = 0; i < c->n_sections; i++) {
		if (strlen(c->sections[i].name) == n && memcmp(c->sections[i].name, p, n) == 0)
			return ztm_error_set(
			    err, ZTM_E_CONFIG, "%s:%u: section [%s] repeated (first at line %u)",
			    c->origin, line, c->sections[i].name, c->sections[i].line);
	}
	s = realloc(c->sections, (c->n_sections + 1) * sizeof(*s));
	if (s == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", c->origin);
	c->sections = s;
	s[c->n_sections].name = dup_n(p, n);
	if (s[c->n_sections].name == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", c->origin);
	s[c->n_sections].line = line;
	c->n_sections++;
	return 0;
}

/* Parses the value part of a line (after '=', leading blanks skipped) into
 * out. Quoted: "..." with \" and \\ only, then nothing but a comment.
 * Unquoted: up to the end, or to a # or ; that follows a blank; trailing
 * blanks trimmed. */
static int parse_value(struct ztm_config *c, const char *p, size_t n, unsigned line,
                       struct ztm_buf *out, struct ztm_error *err)
{
	size_t i = 0, end;

	if (n > 0 && p[0] == '"') {
		for (i = 1; i < n && p[i] != '"'; i++) {
			char ch = p[i];
			if (ch == '\\') {
				if (i + 1 >= n || (p[i + 1] != '"' && p[i + 1] != '\\'))
					return ztm_error_set(err, ZTM_E_CONFIG,
					                     "%s:%u: bad escape in quoted value "
					                     "(only \\\" and \\\\)",
					                     c->origin, line);
				ch = p[++i];
			}
			if (ztm_buf_append(out, &ch, 1) != 0)
				return ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory",
				                     c->origin);
		}
		if (i >= n)
			return ztm_error_set(err, ZTM_E_CONFIG, "%s:%u: unterminated quoted value",
			                     c->origin, line);
		for (i++; i < n && is_space(p[i]); i++)
			;
		if (i < n && p[i] != '#' && p[i] != ';')
			return ztm_error_set(err, ZTM_E_CONFIG,
			                     "%s:%u: text after the closing quote", c->origin,
			                     line);
		return 0;
	}
	for (end = 0; end < n; end++) {
		if ((p[end] == '#' || p[end] == ';') && end > 0 && is_space(p[end - 1]))
			break;
	}
	while (end > 0 && is_space(p[end - 1]))
		end--;
	if (memchr(p, '"', end) != NULL)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "%s:%u: stray '\"' in value (quote the whole value)",
		                     c->origin, line);
	if (ztm_buf_append(out, p, end) != 0)
		return ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", c->origin);
	return 0;
}

static int add_entry(struct ztm_config *c, const char *p, size_t n, unsigned line,
                     struct ztm_error *err)
{
	const char *eq = memchr(p, '=', n);
	size_t klen, i;
	struct config_entry *e;
	struct ztm_buf val;
	int rc = -1;

	if (eq == NULL)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "%s:%u: expected 'key = value' or '[section]'", c->origin,
		                     line);
	if (c->n_sections == 0)
		return ztm_error_set(err, ZTM_E_CONFIG, "%s:%u: key outside a [section]", c->origin,
		                     line);
	klen = (size_t)(eq - p);
	while (klen > 0 && is_space(p[klen - 1]))
		klen--;
	if (klen == 0 || klen > CONFIG_MAX_NAME)
		return ztm_error_set(err, ZTM_E_CONFIG, "%s:%u: missing or too long key name",
		                     c->origin, line);
	for (i = 0; i < klen; i++) {
		if (!is_name_char(p[i]))
			return ztm_error_set(err, ZTM_E_CONFIG,
			                     "%s:%u: invalid key name (want letters, digits, _ -)",
			                     c->origin, line);
	}
	for (i = 0; i < c->n_entries; i++) {
		e = &c->entries[i];
		if (e->section == c->n_sections - 1 && strlen(e->key) == klen &&
		    memcmp(e->key, p, klen) == 0)
			return ztm_error_set(err, ZTM_E_CONFIG,
			                     "%s:%u: duplicate key '%s' in [%s] (first at line %u)",
			                     c->origin, line, e->key, c->sections[e->section].name,
			                     e->line);
	}
	if (c->n_entries >= CONFIG_MAX_KEYS)
		return ztm_error_set(err, ZTM_E_TOOBIG, "%s:%u: more than %d keys", c->origin, line,
		                     CONFIG_MAX_KEYS);
	ztm_buf_init(&val, CONFIG_MAX_LINE);
	eq++;
	n -= (size_t)(eq - p);
	while (n > 0 && is_space(*eq)) {
		eq++;
		n--;
	}
	if (parse_value(c, eq, n, line, &val, err) != 0)
		goto out;
	e = realloc(c->entries, (c->n_entries + 1) * sizeof(*e));
	if (e == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", c->origin);
		goto out;
	}
	c->entries = e;
	e = &c->entries[c->n_entries];
	memset(e, 0, sizeof(*e));
	e->section = c->n_sections - 1;
	e->line = line;
	e->key = dup_n(p, klen);
	e->value = dup_n(val.len ? (const char *)val.data : "", val.len);
	if (e->key == NULL || e->value == NULL) {
		free(e->key);
		free(e->value);
		ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", c->origin);
		goto out;
	}
	c->n_entries++;
	rc = 0;
out:
	ztm_buf_free(&val);
	return rc;
}

static int parse_line(struct ztm_config *c, const char *p, size_t n, unsigned line,
                      struct ztm_error *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return ztm_error_set(err, ZTM_E_CONFIG,
			                     "%s:%u: control character 0x%02x in line", c->origin,
			                     line, ch);
	}
	while (n > 0 && is_space(*p)) {
		p++;
		n--;
	}
	while (n > 0 && is_space(p[n - 1]))
		n--;
	if (n == 0 || p[0] == '#' || p[0] == ';')
		return 0;
	if (p[0] == '[') {
		const char *close = memchr(p, ']', n);
		const char *name = p + 1;
		size_t nlen, rest;
		if (close == NULL)
			return ztm_error_set(err, ZTM_E_CONFIG, "%s:%u: missing ']'", c->origin,
			                     line);
		rest = n - (size_t)(close - p) - 1;
		for (i = 0; i < rest && is_space(close[1 + i]); i++)
			;
		if (i < rest && close[1 + i] != '#' && close[1 + i] != ';')
			return ztm_error_set(err, ZTM_E_CONFIG, "%s:%u: text after ']'", c->origin,
			                     line);
		nlen = (size_t)(close - name);
		while (nlen > 0 && is_space(*name)) {
			name++;
			nlen--;
		}
		while (nlen > 0 && is_space(name[nlen - 1]))
			nlen--;
		return add_section(c, name, nlen, line, err);
	}
	return add_entry(c, p, n, line, err);
}

struct ztm_config *ztm_config_parse(const char *text, size_t len, const char *origin,
                                    struct ztm_error *err)
{
	struct ztm_config *c;
	size_t off = 0;
	unsigned line = 0;

	if (len > CONFIG_MAX_BYTES) {
		ztm_error_set(err, ZTM_E_TOOBIG, "%s: larger than %zu bytes", origin,
		              CONFIG_MAX_BYTES);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "%s: out of memory", origin);
		return NULL;
	}
	ztm_strlcpy(c->origin, origin != NULL ? origin : "config", sizeof(c->origin));
	while (off < len) {
		const char *p = text + off;
		const char *nl = memchr(p, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - off;

		off += n + (nl != NULL);
		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE) {
			ztm_error_set(err, ZTM_E_TOOBIG, "%s:%u: line longer than %d bytes",
			              c->origin, line, CONFIG_MAX_LINE);
			goto fail;
		}
		if (parse_line(c, p, n, line, err) != 0)
			goto fail;
	}
	return c;
fail:
	ztm_config_free(c);
	return NULL;
}

struct ztm_config *ztm_config_load(const char *path, struct ztm_error *err)
{
	struct ztm_buf b;
	struct ztm_config *c = NULL;

	ztm_buf_init(&b, CONFIG_MAX_BYTES + 1);
	if (ztm_file_read(path, CONFIG_MAX_BYTES, &b, err) == 0)
		c = ztm_config_parse(b.len ? (const char *)b.data : "", b.len, path, err);
	ztm_buf_free(&b);
	return c;
}

static struct config_entry *find(struct ztm_config *c, const char *section, const char *key)
{
	size_t i;

	for (i = 0; i < c->n_entries; i++) {
		struct config_entry *e = &c->entries[i];
		if (strcmp(e->key, key) == 0 &&
		    strcmp(c->sections[e->section].name, section) == 0) {
			e->used = 1;
			return e;
		}
	}
	return NULL;
}

const char *ztm_config_get(struct ztm_config *c, const char *section, const char *key)
{
	struct config_entry *e = find(c, section, key);

	return e != NULL ? e->value : NULL;
}

int ztm_config_str(struct ztm_config *c, const char *section, const char *key, const char *def,
                   const char **out, struct ztm_error *err)
{
	struct config_entry *e = find(c, section, key);

	(void)err;
	*out = e != NULL ? e->value : def;
	return 0;
}

int ztm_config_u64(struct ztm_config *c, const char *section, const char *key, uint64_t def,
                   uint64_t min, uint64_t max, uint64_t *out, struct ztm_error *err)
{
	struct config_entry *e = find(c, section, key);

	if (e == NULL) {
		*out = def;
		return 0;
	}
	if (ztm_parse_u64(e->value, min, max, out) != 0)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "%s:%u: [%s] %s = '%.64s': want an integer in %llu..%llu",
		                     c->origin, e->line, section, key, e->value,
		                     (unsigned long long)min, (unsigned long long)max);
	return 0;
}

int ztm_config_bool(struct ztm_config *c, const char *section, const char *key, int def, int *out,
                    struct ztm_error *err)
{
	static const struct {
		const char *word;
		int val;
	} words[] = {{"true", 1},  {"yes", 1}, {"on", 1},  {"1", 1},
	             {"false", 0}, {"no", 0},  {"off", 0}, {"0", 0}};
	struct config_entry *e = find(c, section, key);
	size_t i;

	if (e == NULL) {
		*out = def;
		return 0;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(e->value, words[i].word) == 0) {
			*out = words[i].val;
			return 0;
		}
	}
	return ztm_error_set(err, ZTM_E_CONFIG,
	                     "%s:%u: [%s] %s = '%.64s': want true/false, yes/no, on/off or 1/0",
	                     c->origin, e->line, section, key, e->value);
}

/* "30s", "5m", "2h", "90d" or plain seconds; overflow is an error. */
static int parse_duration(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1, v;

	if (n == 0 || n >= sizeof(num))
		return -1;
	switch (s[n - 1]) {
	case 's':
		mult = 1;
		n--;
		break;
	case 'm':
		mult = 60;
		n--;
		break;
	case 'h':
		mult = 3600;
		n--;
		break;
	case 'd':
		mult = 86400;
		n--;
		break;
	default:
		break;
	}
	memcpy(num, s, n);
	num[n] = '\0';
	if (ztm_parse_u64(num, 0, UINT64_MAX / mult, &v) != 0)
		return -1;
	*out = v * mult;
	return 0;
}

int ztm_config_duration(struct ztm_config *c, const char *section, const char *key, uint64_t def,
                        uint64_t min, uint64_t max, uint64_t *out, struct ztm_error *err)
{
	struct config_entry *e = find(c, section, key);
	uint64_t v;

	if (e == NULL) {
		*out = def;
		return 0;
	}
	if (parse_duration(e->value, &v) != 0 || v < min || v > max)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "%s:%u: [%s] %s = '%.64s': want a duration (30s, 5m, 2h, 90d) "
		                     "from %llus to %llus",
		                     c->origin, e->line, section, key, e->value,
		                     (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

int ztm_config_sections(struct ztm_config *c, const char *prefix,
                        int (*fn)(const char *section, void *arg), void *arg)
{
	size_t i, plen = strlen(prefix);
	int rc;

	for (i = 0; i < c->n_sections; i++) {
		if (strncmp(c->sections[i].name, prefix, plen) != 0)
			continue;
		rc = fn(c->sections[i].name, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ztm_config_unused(struct ztm_config *c, struct ztm_error *err)
{
	size_t i;

	for (i = 0; i < c->n_entries; i++) {
		const struct config_entry *e = &c->entries[i];
		if (!e->used)
			return ztm_error_set(err, ZTM_E_CONFIG, "unknown key '%s' in [%s] at %s:%u",
			                     e->key, c->sections[e->section].name, c->origin,
			                     e->line);
	}
	return 0;
}
