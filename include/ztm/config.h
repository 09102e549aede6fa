/* ztm/config.h - the configuration file: INI-style sections of key = value
 * (format in docs/configuration.md). The parser only knows syntax; each
 * module reads and validates its own keys, so an unknown key is reported by
 * ztm_config_unused after all modules have read theirs. */
#ifndef ZTM_CONFIG_H
#define ZTM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/err.h"

struct ztm_config;

/* Parses text (capped at 1 MiB); the error names the line. */
struct ztm_config *ztm_config_parse(const char *text, size_t len, const char *origin,
                                    struct ztm_error *err);
struct ztm_config *ztm_config_load(const char *path, struct ztm_error *err);
void ztm_config_free(struct ztm_config *c);

/* NULL if absent. Marks the key used. */
const char *ztm_config_get(struct ztm_config *c, const char *section, const char *key);
/* With default and range checks; the error names section, key and reason. */
int ztm_config_str(struct ztm_config *c, const char *section, const char *key, const char *def,
                   const char **out, struct ztm_error *err);
int ztm_config_u64(struct ztm_config *c, const char *section, const char *key, uint64_t def,
                   uint64_t min, uint64_t max, uint64_t *out, struct ztm_error *err);
int ztm_config_bool(struct ztm_config *c, const char *section, const char *key, int def, int *out,
                    struct ztm_error *err);
/* Durations: "30s", "5m", "2h", "90d" or plain seconds. */
int ztm_config_duration(struct ztm_config *c, const char *section, const char *key, uint64_t def,
                        uint64_t min, uint64_t max, uint64_t *out, struct ztm_error *err);
/* Iterates the section names that start with prefix (e.g. "ca."), in file order. */
int ztm_config_sections(struct ztm_config *c, const char *prefix,
                        int (*fn)(const char *section, void *arg), void *arg);
/* First key no module asked for, as an error ("unknown key 'x' in [y] at
 * line n"); 0 if all were used. */
int ztm_config_unused(struct ztm_config *c, struct ztm_error *err);

#endif
