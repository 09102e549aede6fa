/* ceremony.c - `ztm ceremony`: the command group, and `init`, which creates
 * the root CA, the issuing CAs, the first admin credential, optional root key
 * shares and the signed transcript, fully offline.
 *
 * Everything is built in a temporary sibling directory and renamed into
 * place at the end, so a failed run leaves nothing half-written. */
#include "ceremony.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "shamir.h"
#include "ztm/ca.h"
#include "ztm/file.h"
#include "ztm/key.h"
#include "ztm/p11uri.h"
#include "ztm/profile.h"
#include "ztm/str.h"

#define DAY            ((int64_t)86400)
#define ROOT_DAYS      7305 /* 20 years, leap days included */
#define CA_DAYS        3653 /* 10 years */
#define ADMIN_DAYS     365
#define MAX_CUSTODIANS 32

/* The issuing CAs `init` creates, with the EKU each constrains its leaves to
 * (ztmd relies on it: the tls CA's server certificates need serverAuth). */
static const struct {
	const char *name;
	unsigned eku;
} issuing[] = {
    {"device", ZTM_EKU_CLIENT_AUTH},   {"station", ZTM_EKU_CLIENT_AUTH},
    {"operator", ZTM_EKU_CLIENT_AUTH}, {"ocsp", ZTM_EKU_OCSP_SIGN},
    {"codesign", ZTM_EKU_CODE_SIGN},   {"tls", ZTM_EKU_SERVER_AUTH},
};

static int init_usage(void)
{
	fprintf(stderr,
	        "usage: ztm ceremony init --dir DIR [--alg p256|p384|rsa3072] [--org NAME]\n"
	        "         [--root-pass-file F] [--online-pass-file F] [--shares N --threshold M]\n"
	        "         [--operator NAME] [--custodian NAME]...\n"
	        "         [--root-key pkcs11:URI] [--ca-key-uri pkcs11:URI]\n"
	        "  --root-key: generate the root key inside a PKCS#11 token (no root\n"
	        "  passphrase, no shares: the token keeps it); --ca-key-uri: the issuing-CA\n"
	        "  keys too, as object=ca-<name> in that token (docs/hsm.md). The PIN comes\n"
	        "  from the URI's pin-source, ZTM_PKCS11_PIN or a prompt.\n");
	return ZTM_EXIT_USAGE;
}

struct init_opts {
	const char *dir, *org, *root_pass_file, *online_pass_file, *operator_name;
	const char *root_key_uri, *ca_key_uri; /* pkcs11: URIs, or NULL: files */
	enum ztm_key_alg alg;
	int shares, threshold;
	const char *custodians[MAX_CUSTODIANS];
	int ncustodians;
};

struct init_run {
	const struct init_opts *o;
	char tmp[4096];
	struct ztm_buf root_pass, online_pass;
	int online_generated;
	EVP_PKEY *root_key;
	X509 *root;
	json_t *certs, *files;
	struct ztm_buf chain;
	time_t now;
};

static int pem_append(struct ztm_buf *b, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	int rc = -1;

	if (bio != NULL && PEM_write_bio_X509(bio, x) == 1 && BIO_get_mem_ptr(bio, &mem) == 1)
		rc = ztm_buf_append(b, mem->data, mem->length);
	BIO_free(bio);
	return rc;
}

/* Creates key + certificate `rel_base`.{key,crt} under the temp dir and
 * records both in the transcript. Returns the new certificate (the caller
 * owns it) and, via key_out, the key when wanted. */
static X509 *make_one(struct init_run *r, const char *name, const char *role, const char *rel_base,
                      const struct cer_cert_req *tmpl, const char *pass, const char *protection,
                      const char *key_uri, EVP_PKEY **key_out, struct ztm_error *err)
{
	char keyrel[256], crtrel[256], path[4400], pub_uri[4400];
	struct cer_cert_req req = *tmpl;
	struct ztm_buf spki;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	json_t *e;

	ztm_buf_init(&spki, 0);
	snprintf(crtrel, sizeof(crtrel), "%s.crt", rel_base);
	if (key_uri != NULL) {
		/* Inside the token; what the directory keeps is where to find it:
		 * <base>.uri, hashed into the transcript like a key file. */
		struct ztm_key_opts ko = {NULL, 1};
		snprintf(keyrel, sizeof(keyrel), "%s.uri", rel_base);
		k = ztm_key_generate(key_uri, r->o->alg, &ko, err);
		if (k == NULL ||
		    ztm_p11_uri_compose(key_uri, NULL, 0, pub_uri, sizeof(pub_uri), err) != 0)
			goto fail;
		snprintf(path, sizeof(path), "%s/%s", r->tmp, keyrel);
		if (ztm_buf_printf(&spki, "%s\n", pub_uri) != 0 ||
		    ztm_file_write(path, spki.data, spki.len, 0644, 1, err) != 0)
			goto fail;
		ztm_buf_reset(&spki);
		protection = "pkcs11";
	} else {
		snprintf(keyrel, sizeof(keyrel), "%s.key", rel_base);
		k = ztm_key_new(r->o->alg, err);
		if (k == NULL)
			goto fail;
		snprintf(path, sizeof(path), "%s/%s", r->tmp, keyrel);
		if (ztm_key_save(k, path, pass, err) != 0)
			goto fail;
	}
	if (cer_spki(k, &spki, err) != 0)
		goto fail;
	req.spki = ztm_buf_slice(&spki);
	if (strcmp(req.profile, "root") == 0)
		req.root_key = k;
	x = cer_cert_issue(&req, err);
	if (x == NULL)
		goto fail;
	snprintf(path, sizeof(path), "%s/%s", r->tmp, crtrel);
	if (cer_cert_write(path, x, err) != 0)
		goto fail;
	e = cer_tx_cert(r->tmp, name, role, x, crtrel, keyrel, ztm_key_alg_name(r->o->alg),
	                protection, err);
	if (e == NULL || json_array_append_new(r->certs, e) != 0)
		goto fail;
	if (strcmp(role, "leaf") != 0 && pem_append(&r->chain, x) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "chain.pem");
		goto fail;
	}
	if (key_out != NULL)
		*key_out = k;
	else
		EVP_PKEY_free(k);
	ztm_buf_free(&spki);
	return x;
fail:
	ztm_buf_free(&spki);
	EVP_PKEY_free(k);
	X509_free(x);
	return NULL;
}

static int write_shares(struct init_run *r, json_t *tx, struct ztm_error *err)
{
	struct ztm_share sh[ZTM_SHARE_MAX_COUNT];
	uint8_t *der = NULL;
	size_t dlen = 0;
	char kid[65], rel[64], path[4200];
	json_t *files = json_array(), *e;
	int i, n = r->o->shares, rc = -1;

	for (i = 0; i < n; i++)
		ztm_share_init(&sh[i]);
	if (files == NULL || cer_key_id(r->root_key, kid, err) != 0 ||
	    cer_key_der(r->root_key, &der, &dlen, err) != 0 ||
	    ztm_shamir_split(der, dlen, (unsigned)r->o->threshold, (unsigned)n, kid, sh, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct ztm_buf text;
		int wrc;

		ztm_buf_init(&text, 0);
		snprintf(rel, sizeof(rel), "shares/share-%d.txt", i + 1);
		snprintf(path, sizeof(path), "%s/%s", r->tmp, rel);
		wrc = ztm_share_format(&sh[i], &text, err) != 0 ||
		      ztm_file_write(path, text.data, text.len, 0600, 1, err) != 0;
		ztm_buf_free(&text);
		if (wrc)
			goto out;
		e = cer_tx_file(r->tmp, rel, err);
		if (e == NULL || json_object_set_new(e, "index", json_integer(i + 1)) != 0 ||
		    json_array_append_new(files, e) != 0)
			goto out;
	}
	if (json_object_set_new(tx, "shares",
	                        json_pack("{s:i, s:i, s:s, s:O}", "count", n, "threshold",
	                                  r->o->threshold, "key_id", kid, "files", files)) != 0) {
		ztm_error_set(err, ZTM_E_NOMEM, "shares");
		goto out;
	}
	rc = 0;
out:
	json_decref(files);
	for (i = 0; i < n; i++)
		ztm_share_free(&sh[i]);
	OPENSSL_secure_clear_free(der, dlen);
	return rc;
}

static int get_passes(struct init_run *r, struct ztm_error *err)
{
	/* A root in a token needs no passphrase: the token's PIN guards it. */
	if (r->o->root_key_uri == NULL &&
	    cer_pass(r->o->root_pass_file, "root key", 1, CER_PASS_MIN, &r->root_pass, err) != 0)
		return -1;
	if (r->o->online_pass_file != NULL)
		return cer_pass(r->o->online_pass_file, "online keys", 1, CER_PASS_MIN,
		                &r->online_pass, err);
	/* No online passphrase given: a random one, written 0600 next to the
	 * keys. Fine for a lab; in production the online keys go in an HSM. */
	{
		uint8_t rnd[32];
		int rc = RAND_bytes(rnd, sizeof(rnd)) == 1 ? 0 : -1;
		if (rc == 0)
			rc = ztm_b64_encode(rnd, sizeof(rnd), 0, &r->online_pass);
		OPENSSL_cleanse(rnd, sizeof(rnd));
		if (rc != 0)
			return ztm_error_ossl(err, ZTM_E_CRYPTO,
			                      "generating the online passphrase");
		ztm_buf_cstr(&r->online_pass);
		r->online_generated = 1;
	}
	return 0;
}

static int run_init(struct init_run *r, struct ztm_error *err)
{
	const struct init_opts *o = r->o;
	struct cer_cert_req req;
	char cn[512], path[4200];
	X509 *operator_cert = NULL, *x;
	EVP_PKEY *operator_key = NULL;
	struct ztm_ca *root_ca = NULL, *operator_ca = NULL;
	json_t *tx = NULL, *cust, *e;
	char when[32];
	size_t i;
	int rc = -1;

	if (get_passes(r, err) != 0)
		return -1;
	static const char *const subdirs[] = {"root", "ca", "operators", "shares"};
	for (i = 0; i < 4; i++) {
		if (i == 3 && o->shares == 0)
			break;
		snprintf(path, sizeof(path), "%s/%s", r->tmp, subdirs[i]);
		if (ztm_mkdirs(path, 0700, err) != 0)
			return -1;
	}
	memset(&req, 0, sizeof(req));
	req.org = o->org;
	req.not_before = r->now;

	/* Root: its key only ever reaches the disk encrypted with the root passphrase. */
	snprintf(cn, sizeof(cn), "%s Root CA", o->org);
	req.profile = "root";
	req.cn = cn;
	req.lifetime = ROOT_DAYS * DAY;
	r->root = make_one(r, "root", "root", "root/root", &req, ztm_buf_cstr(&r->root_pass),
	                   "root-passphrase", o->root_key_uri, &r->root_key, err);
	if (r->root == NULL)
		goto out;
	/* From here on the root signs only through the engine (lint first). */
	root_ca = ztm_ca_new("root", r->root, r->root_key, NULL, err);
	if (root_ca == NULL)
		goto out;

	for (i = 0; i < sizeof(issuing) / sizeof(issuing[0]); i++) {
		char rel[64], obj[64], uri[4400];
		int is_op = strcmp(issuing[i].name, "operator") == 0;

		snprintf(obj, sizeof(obj), "ca-%s", issuing[i].name);
		if (o->ca_key_uri != NULL &&
		    ztm_p11_uri_compose(o->ca_key_uri, obj, 1, uri, sizeof(uri), err) != 0)
			goto out;
		snprintf(cn, sizeof(cn), "%s %s CA", o->org, issuing[i].name);
		snprintf(rel, sizeof(rel), "ca/%s", issuing[i].name);
		req.profile = "issuing-ca";
		req.issuer = root_ca;
		req.eku = issuing[i].eku;
		req.lifetime = CA_DAYS * DAY;
		x = make_one(r, issuing[i].name, "ca", rel, &req, ztm_buf_cstr(&r->online_pass),
		             "online-passphrase", o->ca_key_uri != NULL ? uri : NULL,
		             is_op ? &operator_key : NULL, err);
		if (x == NULL)
			goto out;
		if (is_op)
			operator_cert = x;
		else
			X509_free(x);
	}
	operator_ca = ztm_ca_new("operator", operator_cert, operator_key, NULL, err);
	if (operator_ca == NULL)
		goto out;

	req.profile = "operator";
	req.cn = o->operator_name;
	req.issuer = operator_ca;
	req.eku = 0; /* the profile's: clientAuth */
	req.lifetime = ADMIN_DAYS * DAY;
	{
		char rel[300];
		snprintf(rel, sizeof(rel), "operators/%s", o->operator_name);
		x = make_one(r, o->operator_name, "leaf", rel, &req, ztm_buf_cstr(&r->online_pass),
		             "online-passphrase", NULL, NULL, err);
	}
	if (x == NULL)
		goto out;
	X509_free(x);

	snprintf(path, sizeof(path), "%s/chain.pem", r->tmp);
	if (ztm_file_write(path, r->chain.data, r->chain.len, 0644, 1, err) != 0 ||
	    (e = cer_tx_file(r->tmp, "chain.pem", err)) == NULL ||
	    json_array_append_new(r->files, e) != 0)
		goto out;
	if (r->online_generated) {
		snprintf(path, sizeof(path), "%s/online.pass", r->tmp);
		if (ztm_file_write(path, r->online_pass.data, r->online_pass.len, 0600, 1, err) !=
		        0 ||
		    (e = cer_tx_file(r->tmp, "online.pass", err)) == NULL ||
		    json_array_append_new(r->files, e) != 0)
			goto out;
	}

	cust = json_array();
	for (i = 0; cust != NULL && i < (size_t)o->ncustodians; i++)
		json_array_append_new(cust, json_string(o->custodians[i]));
	cer_time_iso(r->now, when);
	tx = json_pack("{s:s, s:s, s:s, s:s, s:o, s:O, s:O}", "kind", "init", "tool",
	               "ztm " ZTM_VERSION_STRING, "created", when, "organization", o->org,
	               "custodians", cust, "certificates", r->certs, "files", r->files);
	if (tx == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "transcript");
		goto out;
	}
	if (o->shares > 0) {
		if (write_shares(r, tx, err) != 0)
			goto out;
	} else if (json_object_set_new(tx, "shares", json_null()) != 0) {
		goto out;
	}
	if (cer_tx_write_signed(r->tmp, "transcript.json", "transcript.sig", tx, r->root_key,
	                        err) != 0)
		goto out;
	rc = 0;
out:
	json_decref(tx);
	ztm_ca_free(operator_ca);
	ztm_ca_free(root_ca);
	X509_free(operator_cert);
	EVP_PKEY_free(operator_key);
	return rc;
}

/* Every key `init` makes is of one type, and the root and issuing-CA
 * profiles decide which types a CA may have: refuse before any passphrase
 * is asked for or any key generated. */
static int ca_alg_ok(enum ztm_key_alg alg)
{
	static const struct {
		enum ztm_key_alg alg;
		enum ztm_key_kind kind;
	} kinds[] = {
	    {ZTM_KEY_P256, ZTM_KK_P256},
	    {ZTM_KEY_P384, ZTM_KK_P384},
	    {ZTM_KEY_ED25519, ZTM_KK_ED25519},
	    {ZTM_KEY_RSA3072, ZTM_KK_RSA},
	};
	const struct ztm_profile *root = ztm_profile_get("root"),
	                         *ca = ztm_profile_get("issuing-ca");
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].alg == alg)
			return root != NULL && ca != NULL &&
			       (root->key_kinds & ca->key_kinds & ZTM_KK_BIT(kinds[i].kind)) != 0;
	return 0;
}

static int parse_init(int argc, char **argv, struct init_opts *o)
{
	static const struct option lo[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"alg", required_argument, NULL, 'a'},
	    {"org", required_argument, NULL, 'o'},
	    {"root-pass-file", required_argument, NULL, 'r'},
	    {"online-pass-file", required_argument, NULL, 'p'},
	    {"shares", required_argument, NULL, 'n'},
	    {"threshold", required_argument, NULL, 'm'},
	    {"operator", required_argument, NULL, 'u'},
	    {"custodian", required_argument, NULL, 'c'},
	    {"root-key", required_argument, NULL, 'k'},
	    {"ca-key-uri", required_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->org = "ztm";
	o->operator_name = "admin";
	o->alg = ZTM_KEY_P256;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->dir = optarg;
			break;
		case 'o':
			o->org = optarg;
			break;
		case 'r':
			o->root_pass_file = optarg;
			break;
		case 'p':
			o->online_pass_file = optarg;
			break;
		case 'u':
			o->operator_name = optarg;
			break;
		case 'k':
		case 'K':
			if (strncmp(optarg, "pkcs11:", 7) != 0) {
				fprintf(stderr,
				        "ztm ceremony init: --%s wants a pkcs11: URI (file keys "
				        "are the default)\n",
				        c == 'k' ? "root-key" : "ca-key-uri");
				return -1;
			}
			if (c == 'k')
				o->root_key_uri = optarg;
			else
				o->ca_key_uri = optarg;
			break;
		case 'a':
			if (ztm_key_alg_parse(optarg, &o->alg) != 0) {
				fprintf(stderr,
				        "ztm ceremony init: --alg %s: unknown (p256, p384, "
				        "rsa3072)\n",
				        optarg);
				return -1;
			}
			if (!ca_alg_ok(o->alg)) {
				fprintf(stderr,
				        "ztm ceremony init: --alg %s: the root and issuing-ca "
				        "profiles do not certify this key type (docs/profiles.md); "
				        "use p256, p384 or rsa3072\n",
				        optarg);
				return -1;
			}
			break;
		case 'n':
		case 'm':
			if (ztm_parse_int(optarg, 2, ZTM_SHARE_MAX_COUNT,
			                  c == 'n' ? &o->shares : &o->threshold) != 0) {
				fprintf(stderr, "ztm ceremony init: --%s %s: must be 2..%d\n",
				        c == 'n' ? "shares" : "threshold", optarg,
				        ZTM_SHARE_MAX_COUNT);
				return -1;
			}
			break;
		case 'c':
			if (o->ncustodians == MAX_CUSTODIANS) {
				fprintf(stderr, "ztm ceremony init: at most %d custodians\n",
				        MAX_CUSTODIANS);
				return -1;
			}
			o->custodians[o->ncustodians++] = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || o->dir == NULL || (o->shares == 0) != (o->threshold == 0) ||
	    o->threshold > o->shares) {
		fprintf(stderr, "ztm ceremony init: --dir is required; --shares and --threshold "
		                "go together, threshold <= shares\n");
		return -1;
	}
	if (o->root_key_uri != NULL && o->shares > 0) {
		fprintf(stderr, "ztm ceremony init: a root key in a token cannot be split into "
		                "shares: back it up with the HSM's own means (docs/hsm.md)\n");
		return -1;
	}
	if (o->ca_key_uri != NULL) {
		const char *q = strchr(o->ca_key_uri, '?');
		size_t pl = q != NULL ? (size_t)(q - o->ca_key_uri) : strlen(o->ca_key_uri);
		char path[512];
		snprintf(path, sizeof(path), ";%.*s", (int)(pl > 500 ? 500 : pl), o->ca_key_uri);
		if (strstr(path, ";object=") != NULL || strstr(path, ";id=") != NULL ||
		    strstr(path, ":object=") != NULL || strstr(path, ":id=") != NULL) {
			fprintf(stderr, "ztm ceremony init: --ca-key-uri names the token only; "
			                "each CA's key becomes object=ca-<name>\n");
			return -1;
		}
	}
	if (o->operator_name[0] == '\0' || strchr(o->operator_name, '/') != NULL ||
	    o->operator_name[0] == '.') {
		fprintf(stderr, "ztm ceremony init: --operator %s: not a valid name\n",
		        o->operator_name);
		return -1;
	}
	if (o->ncustodians == 0) {
		const char *u = getenv("USER");
		o->custodians[o->ncustodians++] = u != NULL && u[0] != '\0' ? u : "unknown";
	}
	return 0;
}

int cer_cmd_init(int argc, char **argv)
{
	struct init_opts o;
	struct init_run r;
	struct ztm_error err;
	int rc = ZTM_EXIT_FAIL;

	if (parse_init(argc, argv, &o) != 0)
		return init_usage();
	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.now = time(NULL);
	ztm_buf_init(&r.root_pass, 0);
	ztm_buf_init(&r.online_pass, 0);
	ztm_buf_init(&r.chain, 0);
	r.certs = json_array();
	r.files = json_array();
	if (cer_dir_empty_or_absent(o.dir, &err) != 0) {
		fprintf(stderr, "ztm ceremony init: %s\n", ztm_error_msg(&err));
		goto out;
	}
	/* A sibling of DIR, so the final rename stays on one file system. */
	if (snprintf(r.tmp, sizeof(r.tmp), "%s.ztm-init.%ld", o.dir, (long)getpid()) >=
	        (int)sizeof(r.tmp) ||
	    mkdir(r.tmp, 0700) != 0) {
		fprintf(stderr, "ztm ceremony init: %s: cannot create the working directory\n",
		        r.tmp);
		r.tmp[0] = '\0';
		goto out;
	}
	if (r.certs == NULL || r.files == NULL) {
		fprintf(stderr, "ztm ceremony init: out of memory\n");
		goto out;
	}
	if (run_init(&r, &err) != 0) {
		fprintf(stderr, "ztm ceremony init: %s\n", ztm_error_msg(&err));
		goto out;
	}
	/* rename() replaces an empty directory atomically, or creates DIR. */
	if (rename(r.tmp, o.dir) != 0) {
		fprintf(stderr, "ztm ceremony init: %s: cannot move the result into place\n",
		        o.dir);
		goto out;
	}
	r.tmp[0] = '\0';
	{
		char fp[65];
		struct ztm_error e2;
		if (cer_cert_sha256(r.root, fp, &e2) == 0)
			printf("root certificate SHA-256: %s\n", fp);
	}
	printf("ceremony written to %s (verify with: ztm ceremony verify --dir %s)\n", o.dir,
	       o.dir);
	if (r.online_generated)
		printf("online keys are encrypted with the random passphrase in %s/online.pass\n",
		       o.dir);
	rc = ZTM_EXIT_OK;
out:
	if (r.tmp[0] != '\0')
		cer_rmtree(r.tmp);
	ztm_buf_free(&r.root_pass);
	ztm_buf_free(&r.online_pass);
	ztm_buf_free(&r.chain);
	json_decref(r.certs);
	json_decref(r.files);
	EVP_PKEY_free(r.root_key);
	X509_free(r.root);
	return rc;
}

/* ---- the group ------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
    {"init", cer_cmd_init, "create the root, issuing CAs, admin credential, transcript"},
    {"verify", cer_cmd_verify, "re-check a ceremony directory and its transcript"},
    {"split", cer_cmd_split, "split a private key into M-of-N share files"},
    {"combine", cer_cmd_combine, "rebuild a private key from M share files"},
    {"issue-ca", cer_cmd_issue_ca, "certify an externally held issuing-CA key (CSR)"},
};

static int group_usage(void)
{
	size_t i;

	fprintf(stderr,
	        "usage: ztm ceremony <subcommand> [options]  (offline root key ceremony)\n\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(stderr, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
	return ZTM_EXIT_USAGE;
}

int ztm_cli_ceremony(int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return group_usage();
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0)
		fprintf(stderr, "ztm ceremony: unknown subcommand '%s'\n", argv[1]);
	return group_usage();
}
