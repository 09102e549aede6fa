/* ceremony_issue.c - `ztm ceremony verify` and `ztm ceremony issue-ca`.
 *
 * issue-ca certifies an issuing-CA key held elsewhere (an HSM, another site)
 * from its CSR, through the issuance engine: the CSR is parsed strictly with
 * the key policy applied to its encoded key (ztm_csr_parse: RSA < 2048,
 * explicit EC parameters and unknown algorithms refused), then the
 * certificate is linted as profile issuing-ca before the root signs it. Each issuance is a new
 * signed transcript file transcript.d/NNNN.json (+ .sig) naming the SHA-256 of the one before, so
 * the original transcript's bytes and signature never change. */
#include "ceremony.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "ztm/ca.h"
#include "ztm/csr.h"
#include "ztm/file.h"
#include "ztm/key.h"

#define CA_DAYS 3653

int cer_cmd_verify(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"root-sha256", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *pin = NULL;
	struct ztm_error err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'r':
			pin = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (dir == NULL || optind != argc)
		goto usage;
	if (cer_tx_verify(dir, pin, &err) != 0) {
		fprintf(stderr, "ztm ceremony verify: FAILED: %s\n", ztm_error_msg(&err));
		return ZTM_EXIT_FAIL;
	}
	printf("ztm ceremony verify: %s: transcript signatures, file hashes and chains OK\n", dir);
	return ZTM_EXIT_OK;
usage:
	fprintf(stderr, "usage: ztm ceremony verify --dir DIR [--root-sha256 HEX]\n");
	return ZTM_EXIT_USAGE;
}

struct issue_opts {
	const char *dir, *name, *csr, *out, *pass_file;
	unsigned eku; /* ZTM_EKU_* */
};

/* A CSR file, PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or
 * DER, parsed strictly; the key policy and proof of possession (the CSR is
 * signed by the key it carries) are checked by ztm_csr_parse. */
static int csr_load(const char *path, struct ztm_csr *csr, struct ztm_error *err)
{
	struct ztm_buf b;
	struct ztm_error e;
	BIO *bio = NULL;
	unsigned char *der = NULL;
	const uint8_t *p;
	long len = 0;
	size_t n;
	int rc = -1;

	ztm_buf_init(&b, 0);
	memset(&e, 0, sizeof(e));
	if (ztm_file_read(path, 64 * 1024, &b, err) != 0)
		goto out;
	if (b.len >= 11 && memcmp(b.data, "-----BEGIN ", 11) == 0) {
		bio = BIO_new_mem_buf(b.data, (int)b.len);
		if (bio == NULL || PEM_bytes_read_bio(&der, &len, NULL, PEM_STRING_X509_REQ, bio,
		                                      NULL, NULL) != 1) {
			ztm_error_ossl(err, ZTM_E_PARSE, "%s: not a PEM certificate request", path);
			goto out;
		}
		p = der;
		n = (size_t)len;
	} else {
		p = b.data;
		n = b.len;
	}
	if (ztm_csr_parse(p, n, csr, &e) != 0) {
		ztm_error_set(err, e.code, "%s: %s%s", path,
		              e.code == ZTM_E_WEAKKEY ? "CSR key refused: " : "", e.msg);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	BIO_free(bio);
	ztm_buf_free(&b);
	return rc;
}

static int valid_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 64)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int issue(const struct issue_opts *o, struct ztm_error *err)
{
	char path[4200], crtrel[128], txrel[64], sigrel[64], prev[64] = "transcript.json";
	char prevhash[65], cn[256], org[256] = "", when[32], txpath[4200], sigpath[4200];
	struct ztm_buf pass;
	struct ztm_key_opts ko = {NULL, 0};
	struct cer_cert_req req;
	struct ztm_csr csr;
	struct ztm_ca *root_ca = NULL;
	EVP_PKEY *root_key = NULL;
	X509 *root = NULL, *x = NULL;
	json_t *tx = NULL, *certs = NULL, *e;
	int n, made = 0, rc = -1;
	const char *u = getenv("USER");

	ztm_buf_init(&pass, 0);
	memset(&csr, 0, sizeof(csr));
	txpath[0] = sigpath[0] = '\0';
	/* Never extend a ceremony record that no longer verifies. */
	if (cer_tx_verify(o->dir, NULL, err) != 0)
		goto out;
	snprintf(crtrel, sizeof(crtrel), "ca/%s.crt", o->name);
	snprintf(path, sizeof(path), "%s/%s", o->dir, crtrel);
	if (access(path, F_OK) == 0 || access(o->out, F_OK) == 0) {
		ztm_error_set(err, ZTM_E_EXISTS, "%s: already exists, not overwritten",
		              access(path, F_OK) == 0 ? path : o->out);
		goto out;
	}
	if (csr_load(o->csr, &csr, err) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/root/root.crt", o->dir);
	root = cer_cert_read(path, err);
	if (root == NULL)
		goto out;
	/* A root in a token (ceremony init --root-key): root/root.uri says
	 * where; the PIN comes from ZTM_PKCS11_PIN or a prompt. */
	snprintf(path, sizeof(path), "%s/root/root.uri", o->dir);
	if (access(path, F_OK) == 0) {
		char *nl;
		ztm_buf_reset(&pass);
		if (ztm_file_read(path, 8192, &pass, err) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s", ztm_buf_cstr(&pass));
		if ((nl = strchr(path, '\n')) != NULL)
			*nl = '\0';
		ztm_buf_reset(&pass);
		ko.prompt = 1;
	} else {
		if (cer_pass(o->pass_file, "root key", 0, 1, &pass, err) != 0)
			goto out;
		ko.pass = ztm_buf_cstr(&pass);
		snprintf(path, sizeof(path), "%s/root/root.key", o->dir);
	}
	root_key = ztm_key_load(path, &ko, err);
	if (root_key == NULL)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(root), root_key) != 1) {
		ztm_error_set(err, ZTM_E_CONFLICT, "%s: not the key of root/root.crt", path);
		goto out;
	}
	root_ca = ztm_ca_new("root", root, root_key, NULL, err);
	if (root_ca == NULL)
		goto out;
	/* The subject comes from the officer (--name), never from the CSR. */
	X509_NAME_get_text_by_NID(X509_get_subject_name(root), NID_organizationName, org,
	                          sizeof(org));
	snprintf(cn, sizeof(cn), "%s %s CA", org[0] ? org : "ztm", o->name);
	memset(&req, 0, sizeof(req));
	req.profile = "issuing-ca";
	req.cn = cn;
	req.org = org[0] ? org : NULL;
	req.spki = csr.spki; /* the CSR's key bytes, verbatim */
	req.issuer = root_ca;
	req.eku = o->eku;
	req.lifetime = (int64_t)CA_DAYS * 86400;
	req.not_before = time(NULL);
	x = cer_cert_issue(&req, err);
	if (x == NULL)
		goto out;

	for (n = 1; n < 10000; n++) {
		snprintf(txrel, sizeof(txrel), "transcript.d/%04d.json", n);
		snprintf(txpath, sizeof(txpath), "%s/%s", o->dir, txrel);
		if (access(txpath, F_OK) != 0)
			break;
		memcpy(prev, txrel, sizeof(prev));
	}
	snprintf(sigrel, sizeof(sigrel), "transcript.d/%04d.sig", n);
	snprintf(sigpath, sizeof(sigpath), "%s/%s", o->dir, sigrel);
	snprintf(path, sizeof(path), "%s/%s", o->dir, prev);
	if (cer_sha256_file(path, prevhash, err) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/transcript.d", o->dir);
	if (ztm_mkdirs(path, 0755, err) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", o->dir, crtrel);
	if (cer_cert_write(path, x, err) != 0)
		goto out;
	made = 1;
	certs = json_array();
	e = cer_tx_cert(o->dir, o->name, "ca", x, crtrel, NULL, EVP_PKEY_get0_type_name(csr.pkey),
	                "external", err);
	if (certs == NULL || e == NULL || json_array_append_new(certs, e) != 0)
		goto out;
	cer_time_iso(req.not_before, when);
	{
		char csrhash[65];
		if (cer_sha256_file(o->csr, csrhash, err) != 0)
			goto out;
		tx = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:s}, s:s, s:O, s:[], s:n}", "kind",
		               "issue-ca", "tool", "ztm " ZTM_VERSION_STRING, "created", when,
		               "custodians", u != NULL && u[0] ? u : "unknown", "previous", "path",
		               prev, "sha256", prevhash, "csr_sha256", csrhash, "certificates",
		               certs, "files", "shares");
	}
	if (tx == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "transcript entry");
		goto out;
	}
	if (cer_tx_write_signed(o->dir, txrel, sigrel, tx, root_key, err) != 0)
		goto out;
	made = 2;
	if (cer_cert_write(o->out, x, err) != 0)
		goto out;
	printf("issuing CA '%s' certified: %s (recorded in %s/%s)\n", o->name, o->out, o->dir,
	       txrel);
	rc = 0;
out:
	if (rc != 0 && made >= 1) {
		/* Undo, newest first, so the record stays as it was. */
		if (made >= 2) {
			unlink(sigpath);
			unlink(txpath);
		}
		snprintf(path, sizeof(path), "%s/%s", o->dir, crtrel);
		unlink(path);
	}
	json_decref(tx);
	json_decref(certs);
	ztm_buf_free(&pass);
	ztm_ca_free(root_ca);
	EVP_PKEY_free(root_key);
	X509_free(root);
	X509_free(x);
	ztm_csr_free(&csr);
	return rc;
}

int cer_cmd_issue_ca(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"name", required_argument, NULL, 'n'},
	    {"csr", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"root-pass-file", required_argument, NULL, 'r'},
	    {"eku", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	struct issue_opts o;
	struct ztm_error err;
	int c;

	memset(&o, 0, sizeof(o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'c':
			o.csr = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'r':
			o.pass_file = optarg;
			break;
		case 'e':
			if (cer_eku_parse(optarg, &o.eku) != 0) {
				fprintf(
				    stderr,
				    "ztm ceremony issue-ca: --eku %s: use a comma-separated list "
				    "of serverAuth, clientAuth, codeSigning, OCSPSigning\n",
				    optarg);
				goto usage;
			}
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || o.dir == NULL || o.csr == NULL || o.out == NULL)
		goto usage;
	if (!valid_name(o.name)) {
		fprintf(stderr, "ztm ceremony issue-ca: --name %s: use 1-64 of a-z, 0-9, '-'\n",
		        o.name ? o.name : "(missing)");
		goto usage;
	}
	if (issue(&o, &err) != 0) {
		fprintf(stderr, "ztm ceremony issue-ca: %s\n", ztm_error_msg(&err));
		return ZTM_EXIT_FAIL;
	}
	return ZTM_EXIT_OK;
usage:
	fprintf(stderr, "usage: ztm ceremony issue-ca --dir DIR --name NAME --csr FILE --out FILE\n"
	                "         [--root-pass-file F] [--eku "
	                "serverAuth,clientAuth,codeSigning,OCSPSigning]\n");
	return ZTM_EXIT_USAGE;
}
