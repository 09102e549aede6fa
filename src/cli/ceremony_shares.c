/* ceremony_shares.c - `ztm ceremony split` and `ztm ceremony combine`:
 * M-of-N custody of a private key (root key recovery). */
#include "ceremony.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "shamir.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/str.h"

static int split_usage(void)
{
	fprintf(stderr, "usage: ztm ceremony split --key FILE [--pass-file F] --shares N "
	                "--threshold M --out DIR\n");
	return ZTM_EXIT_USAGE;
}

static int combine_usage(void)
{
	fprintf(stderr, "usage: ztm ceremony combine --out FILE [--pass-file F] [--cert CERT] "
	                "SHARE...\n");
	return ZTM_EXIT_USAGE;
}

/* Writes all share files into a fresh temporary directory, then renames it
 * to `out`, so a failure leaves no partial set behind. */
static int split_write(EVP_PKEY *k, int n, int m, const char *out, struct ztm_error *err)
{
	struct ztm_share sh[ZTM_SHARE_MAX_COUNT];
	uint8_t *der = NULL;
	size_t dlen = 0;
	char kid[65], tmp[4096], path[4200];
	int i, rc = -1;

	for (i = 0; i < n; i++)
		ztm_share_init(&sh[i]);
	tmp[0] = '\0';
	if (cer_dir_empty_or_absent(out, err) != 0)
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s.ztm-split.%ld", out, (long)getpid()) >=
	        (int)sizeof(tmp) ||
	    mkdir(tmp, 0700) != 0) {
		ztm_error_set(err, ZTM_E_IO, "%s: cannot create the working directory", tmp);
		tmp[0] = '\0';
		goto out;
	}
	if (cer_key_id(k, kid, err) != 0 || cer_key_der(k, &der, &dlen, err) != 0 ||
	    ztm_shamir_split(der, dlen, (unsigned)m, (unsigned)n, kid, sh, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct ztm_buf text;
		int bad;

		ztm_buf_init(&text, 0);
		snprintf(path, sizeof(path), "%s/share-%d.txt", tmp, i + 1);
		bad = ztm_share_format(&sh[i], &text, err) != 0 ||
		      ztm_file_write(path, text.data, text.len, 0600, 1, err) != 0;
		ztm_buf_free(&text);
		if (bad)
			goto out;
	}
	if (rename(tmp, out) != 0) {
		ztm_error_set(err, ZTM_E_IO, "%s: cannot move the shares into place", out);
		goto out;
	}
	tmp[0] = '\0';
	printf("%d shares of key %s written to %s; any %d recombine it\n", n, kid, out, m);
	rc = 0;
out:
	if (tmp[0] != '\0')
		cer_rmtree(tmp);
	for (i = 0; i < n; i++)
		ztm_share_free(&sh[i]);
	OPENSSL_secure_clear_free(der, dlen);
	return rc;
}

int cer_cmd_split(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"key", required_argument, NULL, 'k'},    {"pass-file", required_argument, NULL, 'p'},
	    {"shares", required_argument, NULL, 'n'}, {"threshold", required_argument, NULL, 'm'},
	    {"out", required_argument, NULL, 'o'},    {NULL, 0, NULL, 0},
	};
	const char *key = NULL, *pass_file = NULL, *out = NULL;
	int c, n = 0, m = 0, rc = ZTM_EXIT_FAIL;
	struct ztm_error err;
	struct ztm_buf pass;
	struct ztm_key_opts ko = {NULL, 0};
	EVP_PKEY *k = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'p':
			pass_file = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'n':
		case 'm':
			if (ztm_parse_int(optarg, 2, ZTM_SHARE_MAX_COUNT, c == 'n' ? &n : &m) != 0)
				return split_usage();
			break;
		default:
			return split_usage();
		}
	}
	if (optind != argc || key == NULL || out == NULL || n == 0 || m == 0 || m > n)
		return split_usage();
	ztm_buf_init(&pass, 0);
	if (pass_file != NULL) {
		if (ztm_secret_read(pass_file, &pass, &err) != 0)
			goto fail;
		ko.pass = ztm_buf_cstr(&pass);
	} else {
		ko.prompt = isatty(STDIN_FILENO);
	}
	k = ztm_key_load(key, &ko, &err);
	if (k == NULL || split_write(k, n, m, out, &err) != 0)
		goto fail;
	rc = ZTM_EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "ztm ceremony split: %s\n", ztm_error_msg(&err));
out:
	EVP_PKEY_free(k);
	ztm_buf_free(&pass);
	return rc;
}

static int combine_run(char **files, int nfiles, const char *cert, const char *out,
                       const char *pass_file, struct ztm_error *err)
{
	struct ztm_share sh[ZTM_SHARE_MAX_COUNT];
	struct ztm_buf secret, pass;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char kid[65];
	int i, rc = -1;

	ztm_buf_init(&secret, 0);
	ztm_buf_init(&pass, 0);
	for (i = 0; i < nfiles; i++)
		ztm_share_init(&sh[i]);
	for (i = 0; i < nfiles; i++) {
		struct ztm_buf text;
		int bad;

		ztm_buf_init(&text, 64 * 1024);
		bad =
		    ztm_file_read(files[i], 64 * 1024, &text, err) != 0 ||
		    ztm_share_parse((const char *)text.data, text.len, files[i], &sh[i], err) != 0;
		ztm_buf_free(&text);
		if (bad)
			goto out;
	}
	if (ztm_shamir_combine(sh, (size_t)nfiles, &secret, err) != 0)
		goto out;
	k = cer_key_from_der(secret.data, secret.len, err);
	if (k == NULL || cer_key_id(k, kid, err) != 0)
		goto out;
	if (strcmp(kid, sh[0].key_id) != 0) {
		ztm_error_set(err, ZTM_E_CONFLICT, "the combined key is not key %s the shares name",
		              sh[0].key_id);
		goto out;
	}
	if (cert != NULL) {
		x = cer_cert_read(cert, err);
		if (x == NULL)
			goto out;
		if (EVP_PKEY_eq(X509_get0_pubkey(x), k) != 1) {
			ztm_error_set(err, ZTM_E_CONFLICT,
			              "%s: its public key is not the one the shares rebuild", cert);
			goto out;
		}
	}
	if (cer_pass(pass_file, "new key", 1, CER_PASS_MIN, &pass, err) != 0 ||
	    ztm_key_save(k, out, ztm_buf_cstr(&pass), err) != 0)
		goto out;
	printf("key %s rebuilt from %d shares, written encrypted to %s\n", kid, nfiles, out);
	rc = 0;
out:
	for (i = 0; i < nfiles; i++)
		ztm_share_free(&sh[i]);
	ztm_buf_free(&secret);
	ztm_buf_free(&pass);
	EVP_PKEY_free(k);
	X509_free(x);
	return rc;
}

int cer_cmd_combine(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"pass-file", required_argument, NULL, 'p'},
	    {"cert", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *pass_file = NULL, *cert = NULL;
	struct ztm_error err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'p':
			pass_file = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		default:
			return combine_usage();
		}
	}
	if (out == NULL || optind >= argc || argc - optind > ZTM_SHARE_MAX_COUNT)
		return combine_usage();
	if (combine_run(argv + optind, argc - optind, cert, out, pass_file, &err) != 0) {
		fprintf(stderr, "ztm ceremony combine: %s\n", ztm_error_msg(&err));
		return ZTM_EXIT_FAIL;
	}
	return ZTM_EXIT_OK;
}
