/* state.c - the state file: a few "name=value" lines naming the device and
 * its lifecycle state (field table in docs/device-library.md). Text, so a
 * technician can read it with cat; strict, so a damaged file is an error
 * rather than a guess. */
#include <stdio.h>
#include <string.h>

#include "zd_int.h"

#define STATE_MAGIC "ztmdev-state 1"
#define STATE_MAX   1024

static const char *const state_names[] = {"none", "manufactured", "provisioned", "active"};

const char *ztmdev_state_name(enum ztmdev_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "unknown";
}

/* 1..max chars of [A-Za-z0-9] and the extra ones. */
int zd_check_name(const char *s, size_t max, const char *extra)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c) != NULL))
			return -1;
	}
	return 0;
}

enum { F_SERIAL, F_PRODUCT, F_STATE, F_KEY, F_KEY_PROTECTION, F_COUNT };
static const char *const fields[F_COUNT] = {"serial", "product", "state", "key", "key_protection"};

static int set_field(struct ztmdev *dev, int f, const char *v, int *prot_tpm)
{
	int s;

	switch (f) {
	case F_SERIAL:
		if (zd_check_name(v, ZTMDEV_SERIAL_MAX, ".-") != 0)
			return -1;
		memcpy(dev->serial, v, strlen(v) + 1);
		return 0;
	case F_PRODUCT:
		if (zd_check_name(v, ZTMDEV_PRODUCT_MAX, "._-") != 0)
			return -1;
		memcpy(dev->product, v, strlen(v) + 1);
		return 0;
	case F_STATE:
		for (s = ZTMDEV_STATE_MANUFACTURED; s <= ZTMDEV_STATE_ACTIVE; s++)
			if (strcmp(v, state_names[s]) == 0) {
				dev->state = (enum ztmdev_state)s;
				return 0;
			}
		return -1;
	case F_KEY:
		/* The key origin: the scheme says where the key lives, the rest
		 * names its file in the directory (docs/device-library.md). */
		if (strcmp(v, "file:" ZD_FILE_KEY) == 0)
			dev->key_storage = ZTMDEV_KEY_SOFTWARE;
		else if (strcmp(v, "tpm2:" ZD_FILE_KEY_TPM) == 0)
			dev->key_storage = ZTMDEV_KEY_TPM;
		else
			return -1;
		return 0;
	case F_KEY_PROTECTION:
		if (strcmp(v, "passphrase") == 0 || strcmp(v, "none") == 0 ||
		    strcmp(v, "tpm") == 0) {
			dev->key_encrypted = v[0] == 'p';
			*prot_tpm = v[0] == 't';
			return 0;
		}
		return -1;
	}
	return -1;
}

int zd_state_read(struct ztmdev *dev)
{
	struct zd_buf b;
	char *line, *next, *eq;
	int seen[F_COUNT] = {0}, f, lineno = 1, prot_tpm = 0, rc = -1;

	zd_buf_init(&b, STATE_MAX);
	if (zd_file_read(dev, ZD_FILE_STATE, STATE_MAX, &b) != 0)
		goto out;
	if (b.len == 0 || memchr(b.p, '\0', b.len) != NULL || b.p[b.len - 1] != '\n') {
		zd_err(dev, "%s/%s: damaged (empty, NUL byte or no final newline)", dev->dir,
		       ZD_FILE_STATE);
		goto out;
	}
	line = (char *)b.p;
	next = strchr(line, '\n');
	*next = '\0';
	if (strcmp(line, STATE_MAGIC) != 0) {
		zd_err(dev, "%s/%s: not a ztmdev state file (first line '%.40s')", dev->dir,
		       ZD_FILE_STATE, line);
		goto out;
	}
	for (line = next + 1; *line != '\0'; line = next + 1) {
		lineno++;
		next = strchr(line, '\n');
		*next = '\0';
		eq = strchr(line, '=');
		if (eq == NULL) {
			zd_err(dev, "%s/%s line %d: no '='", dev->dir, ZD_FILE_STATE, lineno);
			goto out;
		}
		*eq = '\0';
		for (f = 0; f < F_COUNT && strcmp(line, fields[f]) != 0; f++)
			;
		if (f == F_COUNT || seen[f]++ || set_field(dev, f, eq + 1, &prot_tpm) != 0) {
			zd_err(dev, "%s/%s line %d: bad, repeated or unknown field '%.32s'",
			       dev->dir, ZD_FILE_STATE, lineno, line);
			goto out;
		}
	}
	for (f = 0; f < F_COUNT; f++)
		if (!seen[f]) {
			zd_err(dev, "%s/%s: field '%s' missing", dev->dir, ZD_FILE_STATE,
			       fields[f]);
			goto out;
		}
	/* A TPM key is protected by its TPM and nothing else; a file key never
	 * claims to be. */
	if (prot_tpm != (dev->key_storage == ZTMDEV_KEY_TPM)) {
		zd_err(dev, "%s/%s: key and key_protection disagree", dev->dir, ZD_FILE_STATE);
		goto out;
	}
	rc = 0;
out:
	zd_buf_free(&b);
	return rc;
}

int zd_state_write(struct ztmdev *dev, enum ztmdev_state state)
{
	char text[STATE_MAX];
	int tpm = dev->key_storage == ZTMDEV_KEY_TPM, n;

	n = snprintf(text, sizeof(text),
	             STATE_MAGIC "\nserial=%s\nproduct=%s\nstate=%s\nkey=%s\nkey_protection=%s\n",
	             dev->serial, dev->product, ztmdev_state_name(state),
	             tpm ? "tpm2:" ZD_FILE_KEY_TPM : "file:" ZD_FILE_KEY,
	             tpm                  ? "tpm"
	             : dev->key_encrypted ? "passphrase"
	                                  : "none");
	if (n < 0 || (size_t)n >= sizeof(text))
		return zd_err(dev, "state file too long");
	if (zd_file_write(dev, ZD_FILE_STATE, (const uint8_t *)text, (size_t)n, 0600) != 0)
		return -1;
	dev->state = state;
	return 0;
}
