/* server_init.c - `ztm server init`: prepares a ztmd deployment from a
 * ceremony directory. It issues ztmd's TLS server certificate from the
 * ceremony's `tls` CA (online key) and its ownership-voucher signer from the
 * `codesign` CA, and writes ztmd.conf pointing at the online CA material.
 * The root key is not needed and not touched.
 *
 * It also generates one OCSP responder key per CA that answers OCSP
 * (device, station, operator), encrypted with the online passphrase like
 * the CA keys. It does not certify them: ztmd issues each responder's short
 * lived certificate from the CA itself and renews it before it expires
 * (src/server/ocsp_responder.c), which a one-time command could not. */
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ceremony.h"
#include "cli_common.h"
#include "ztm/ca.h"
#include "ztm/certfile.h"
#include "ztm/file.h"
#include "ztm/issue.h"
#include "ztm/key.h"
#include "ztm/p11uri.h"
#include "ztm/str.h"

#define MAX_SAN 8

static int usage(void)
{
	fprintf(stderr, "usage: ztm server init --ceremony DIR --out DIR [--listen HOST:PORT]\n"
	                "         [--dns NAME]... [--ip ADDR]... [--workers N] [--public-url URL]\n"
	                "         [--public-listen HOST:PORT]\n"
	                "  Issues ztmd's TLS certificate from the ceremony's tls CA and writes\n"
	                "  OUT/ztmd.conf (defaults: --listen 127.0.0.1:8443 --dns localhost --ip "
	                "127.0.0.1).\n"
	                "  --public-url URL: where relying parties reach ztmd; each CA's crl_url\n"
	                "  becomes URL/crl/<ca> (certificates then name their CRL shard) and the\n"
	                "  OCSP-answering CAs' ocsp_url URL/ocsp (their authorityInfoAccess).\n"
	                "  http:// is the normal choice: the answers are signed, and relying\n"
	                "  parties fetch revocation over plain HTTP (docs/ocsp.md).\n"
	                "  --public-listen HOST:PORT: also serve OCSP, CRLs and /healthz (nothing\n"
	                "  else) over plain HTTP there ([public] listen).\n"
	                "  CA keys in a PKCS#11 token (ceremony --ca-key-uri) are used where they\n"
	                "  are; --pin-file F becomes their key_pass_file (else ztmd reads\n"
	                "  ZTM_PKCS11_PIN); --responder-key-uri pkcs11:URI generates the OCSP\n"
	                "  responder keys in that token too (object=ocsp-<ca>).\n"
	                "  --fw-key-token pkcs11:URI (with --pin-file): ztmd generates firmware\n"
	                "  signer keys inside that token ([firmware] key_token) instead of\n"
	                "  encrypted files.\n");
	return ZTM_EXIT_USAGE;
}

struct init_opts {
	const char *ceremony, *out, *listen, *workers, *public_url, *public_listen;
	const char *pin_file, *responder_uri, *fw_token; /* PKCS#11 (docs/hsm.md) */
	size_t public_len;                               /* without a trailing '/' */
	const char *dns[MAX_SAN], *ip[MAX_SAN];
	size_t ndns, nip;
	char cdir[PATH_MAX], odir[PATH_MAX];
	char org[65]; /* from the tls CA's subject: the ceremony's --org */
};

/* The ceremony's key URI of CA ca_name: its ca/<name>.uri when the key is in
 * a token (1), else file:<dir>/ca/<name>.key (0); -1 on error. */
static int ca_key_uri(const struct init_opts *o, const char *ca_name, char *out, size_t n,
                      struct ztm_error *err)
{
	char path[PATH_MAX + 64];
	struct ztm_buf b;
	int rc;

	snprintf(path, sizeof(path), "%s/ca/%s.uri", o->cdir, ca_name);
	if (access(path, F_OK) != 0) {
		snprintf(out, n, "file:%s/ca/%s.key", o->cdir, ca_name);
		return 0;
	}
	ztm_buf_init(&b, 8192);
	rc = ztm_file_read(path, 8192, &b, err);
	if (rc == 0) {
		ztm_buf_cstr(&b);
		b.len = strcspn((const char *)b.data, "\r\n");
		if (b.len == 0 || b.len >= n || strncmp((const char *)b.data, "pkcs11:", 7) != 0)
			rc = ztm_error_set(err, ZTM_E_PARSE, "%s: not a pkcs11: URI", path);
		else
			snprintf(out, n, "%.*s", (int)b.len, (const char *)b.data);
	}
	ztm_buf_free(&b);
	return rc == 0 ? 1 : -1;
}

/* The key options for a token key: the --pin-file's PIN, else the backend's
 * own order (pin-source, ZTM_PKCS11_PIN, a prompt). */
static int token_opts(const struct init_opts *o, struct ztm_buf *pin, struct ztm_key_opts *kopts,
                      struct ztm_error *err)
{
	memset(kopts, 0, sizeof(*kopts));
	kopts->prompt = 1;
	if (o->pin_file == NULL)
		return 0;
	ztm_buf_reset(pin);
	if (ztm_secret_read(o->pin_file, pin, err) != 0)
		return -1;
	kopts->pass = ztm_buf_cstr(pin);
	return 0;
}

/* Loads the ceremony's CA ca_name (online key), generates OUT/<name>.key
 * (P-256, encrypted with the online passphrase), issues its certificate
 * from req (profile, subject, SANs; the key and serial are filled in here)
 * and writes OUT/<name>.crt: the leaf, then the CA. */
static int issue_leaf(struct init_opts *o, const char *ca_name, const char *name,
                      struct ztm_issue_req *req, struct ztm_error *err)
{
	char path[PATH_MAX + 64], keyuri[PATH_MAX + 80], passfile[PATH_MAX + 64];
	struct ztm_key_opts kopts;
	struct ztm_buf pass, der;
	X509 *ca_cert = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	struct ztm_ca *ca = NULL;
	unsigned char *spki = NULL;
	const unsigned char *p;
	int spki_len, rc = -1;
	BIO *mem = NULL;
	char *mp;
	long mn;

	ztm_buf_init(&pass, 4096);
	ztm_buf_init(&der, 0);
	memset(&kopts, 0, sizeof(kopts));
	snprintf(passfile, sizeof(passfile), "%s/online.pass", o->cdir);
	if (ztm_secret_read(passfile, &pass, err) != 0)
		goto out;
	kopts.pass = (const char *)pass.data;
	snprintf(path, sizeof(path), "%s/ca/%s.crt", o->cdir, ca_name);
	if ((ca_cert = ztm_cert_load_pem(path, err)) == NULL)
		goto out;
	{
		struct ztm_key_opts tko;
		struct ztm_buf pin;
		int in_token;

		ztm_buf_init(&pin, 4096);
		in_token = ca_key_uri(o, ca_name, keyuri, sizeof(keyuri), err);
		if (in_token == 1 && token_opts(o, &pin, &tko, err) != 0)
			in_token = -1;
		if (in_token >= 0)
			ca_key = ztm_key_load(keyuri, in_token ? &tko : &kopts, err);
		ztm_buf_free(&pin);
		if (ca_key == NULL ||
		    (ca = ztm_ca_new(ca_name, ca_cert, ca_key, NULL, err)) == NULL)
			goto out;
	}
	snprintf(keyuri, sizeof(keyuri), "file:%s/%s.key", o->odir, name);
	if ((key = ztm_key_generate(keyuri, ZTM_KEY_P256, &kopts, err)) == NULL)
		goto out;
	if ((spki_len = i2d_PUBKEY(key, &spki)) <= 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the %s key", name);
		goto out;
	}
	req->spki.p = spki;
	req->spki.len = (size_t)spki_len;
	if (ztm_serial_new(req->serial, err) != 0 || ztm_issue(ca, req, &der, err) != 0)
		goto out;
	p = der.data;
	leaf = d2i_X509(NULL, &p, (long)der.len);
	mem = BIO_new(BIO_s_mem());
	if (leaf == NULL || mem == NULL || PEM_write_bio_X509(mem, leaf) != 1 ||
	    PEM_write_bio_X509(mem, ca_cert) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "encoding the %s certificate", name);
		goto out;
	}
	mn = BIO_get_mem_data(mem, &mp);
	snprintf(path, sizeof(path), "%s/%s.crt", o->odir, name);
	rc = ztm_file_write(path, mp, (size_t)mn, 0644, 1, err);
out:
	req->spki.p = NULL;
	BIO_free(mem);
	X509_free(leaf);
	OPENSSL_free(spki);
	ztm_ca_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	ztm_buf_free(&pass);
	ztm_buf_free(&der);
	return rc;
}

/* o->org: the O of the tls CA's subject (the ceremony's --org). */
static int read_org(struct init_opts *o, struct ztm_error *err)
{
	char path[PATH_MAX + 64];
	X509 *ca_cert;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/ca/tls.crt", o->cdir);
	if ((ca_cert = ztm_cert_load_pem(path, err)) == NULL)
		return -1;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(ca_cert), NID_organizationName, o->org,
	                              sizeof(o->org)) <= 0 ||
	    strpbrk(o->org, "\"\\\n") != NULL)
		rc = ztm_error_set(err, ZTM_E_CONFIG,
		                   "%s: no usable organization (O) in the subject", path);
	X509_free(ca_cert);
	return rc;
}

/* Issues OUT/server.crt (leaf + tls CA, a chain file) for OUT/server.key. */
static int issue_server_cert(struct init_opts *o, struct ztm_error *err)
{
	struct ztm_san san[2 * MAX_SAN];
	struct ztm_name_attr subject[2];
	struct ztm_issue_req req;
	size_t i, nsan = 0;

	if (read_org(o, err) != 0)
		return -1;
	for (i = 0; i < o->ndns; i++)
		san[nsan++] = (struct ztm_san){ZTM_SAN_DNS, o->dns[i], NULL};
	for (i = 0; i < o->nip; i++)
		san[nsan++] = (struct ztm_san){ZTM_SAN_IP, o->ip[i], NULL};
	subject[0] = (struct ztm_name_attr){ZTM_ATTR_O, o->org};
	subject[1] = (struct ztm_name_attr){ZTM_ATTR_CN, o->ndns > 0 ? o->dns[0] : o->ip[0]};
	memset(&req, 0, sizeof(req));
	req.profile = "tls-server";
	req.subject = subject;
	req.n_subject = 2;
	req.san = san;
	req.n_san = nsan;
	return issue_leaf(o, "tls", "server", &req, err);
}

/* The CAs with an OCSP responder. */
static const char *const ocsp_cas[] = {"device", "station", "operator"};

/* --responder-key-uri with object=ocsp-<ca> added; the written form (for
 * ztmd.conf) drops the pin-source. */
static int responder_uri(const struct init_opts *o, const char *ca, int with_pin, char *out,
                         size_t n, struct ztm_error *err)
{
	char obj[64];

	snprintf(obj, sizeof(obj), "ocsp-%s", ca);
	return ztm_p11_uri_compose(o->responder_uri, obj, with_pin, out, n, err);
}

static int make_responder_keys(struct init_opts *o, struct ztm_error *err)
{
	char passfile[PATH_MAX + 64], uri[PATH_MAX + 80];
	struct ztm_key_opts kopts;
	struct ztm_buf pass;
	EVP_PKEY *k;
	size_t i;
	int rc = -1;

	ztm_buf_init(&pass, 4096);
	memset(&kopts, 0, sizeof(kopts));
	snprintf(passfile, sizeof(passfile), "%s/online.pass", o->cdir);
	if (ztm_secret_read(passfile, &pass, err) != 0)
		goto out;
	kopts.pass = (const char *)pass.data;
	for (i = 0; i < sizeof(ocsp_cas) / sizeof(ocsp_cas[0]); i++) {
		struct ztm_key_opts tko;
		if (o->responder_uri != NULL) {
			struct ztm_buf pin;
			ztm_buf_init(&pin, 4096);
			k = NULL;
			if (responder_uri(o, ocsp_cas[i], 1, uri, sizeof(uri), err) == 0 &&
			    token_opts(o, &pin, &tko, err) == 0)
				k = ztm_key_generate(uri, ZTM_KEY_P256, &tko, err);
			ztm_buf_free(&pin);
			if (k == NULL)
				goto out;
			EVP_PKEY_free(k);
			continue;
		}
		snprintf(uri, sizeof(uri), "file:%s/ocsp-%s.key", o->odir, ocsp_cas[i]);
		k = ztm_key_generate(uri, ZTM_KEY_P256, &kopts, err);
		if (k == NULL)
			goto out;
		EVP_PKEY_free(k);
	}
	rc = 0;
out:
	ztm_buf_free(&pass);
	return rc;
}

/* Issues OUT/voucher.crt (signer + codesign CA) for OUT/voucher.key: the
 * key ztmd signs ownership vouchers with (docs/vouchers.md). The codesign CA
 * issues it because devices already verify what that CA's leaves sign
 * (firmware); the voucher EKU keeps the two kinds of signer apart. */
static int issue_voucher_signer(struct init_opts *o, struct ztm_error *err)
{
	struct ztm_name_attr subject[2];
	struct ztm_issue_req req;

	subject[0] = (struct ztm_name_attr){ZTM_ATTR_O, o->org};
	subject[1] = (struct ztm_name_attr){ZTM_ATTR_CN, "ztmd voucher signer"};
	memset(&req, 0, sizeof(req));
	req.profile = "voucher";
	req.subject = subject;
	req.n_subject = 2;
	return issue_leaf(o, "codesign", "voucher", &req, err);
}

static int write_config(struct init_opts *o, struct ztm_error *err)
{
	static const char *cas[] = {"device", "station", "operator", "ocsp", "codesign"};
	struct ztm_buf c;
	char path[PATH_MAX + 64];
	size_t i;
	int rc;

	ztm_buf_init(&c, 0);
	ztm_buf_printf(&c,
	               "# ztmd configuration written by `ztm server init` (docs/configuration.md)\n"
	               "[server]\nlisten = %s\n",
	               o->listen);
	if (o->workers != NULL)
		ztm_buf_printf(&c, "workers = %s\n", o->workers);
	if (o->public_listen != NULL)
		ztm_buf_printf(&c,
		               "\n# Plain HTTP for relying parties: OCSP, CRLs and /healthz only.\n"
		               "[public]\nlisten = %s\n",
		               o->public_listen);
	ztm_buf_printf(&c,
	               "\n[tls]\ncert = %s/server.crt\nkey = %s/server.key\n"
	               "key_pass_file = %s/online.pass\nclient_ca = %s/chain.pem\n"
	               "\n[store]\nurl = sqlite:%s/ztm.db\n"
	               "\n[ca]\nroot = %s/root/root.crt\n",
	               o->odir, o->odir, o->cdir, o->cdir, o->odir, o->cdir);
	for (i = 0; i < sizeof(cas) / sizeof(cas[0]); i++) {
		size_t k;
		char uri[PATH_MAX + 80];
		int in_token = ca_key_uri(o, cas[i], uri, sizeof(uri), err);

		if (in_token < 0) {
			ztm_buf_free(&c);
			return -1;
		}
		ztm_buf_printf(&c, "\n[ca.%s]\ncert = %s/ca/%s.crt\nkey = %s\n", cas[i], o->cdir,
		               cas[i], uri);
		if (!in_token)
			ztm_buf_printf(&c, "key_pass_file = %s/online.pass\n", o->cdir);
		else if (o->pin_file != NULL)
			ztm_buf_printf(&c, "key_pass_file = %s\n", o->pin_file);
		for (k = 0; k < sizeof(ocsp_cas) / sizeof(ocsp_cas[0]); k++) {
			if (strcmp(cas[i], ocsp_cas[k]) != 0)
				continue;
			/* The responder key shares the CA key's passphrase or PIN. */
			if (o->responder_uri != NULL) {
				if (responder_uri(o, cas[i], 0, uri, sizeof(uri), err) != 0) {
					ztm_buf_free(&c);
					return -1;
				}
				ztm_buf_printf(&c, "responder_key = %s\n", uri);
			} else {
				ztm_buf_printf(&c, "responder_key = file:%s/ocsp-%s.key\n", o->odir,
				               cas[i]);
			}
			/* Its certificates name the responder in their AIA. */
			if (o->public_url != NULL)
				ztm_buf_printf(&c, "ocsp_url = %.*s/ocsp\n", (int)o->public_len,
				               o->public_url);
		}
		/* The CRL shards of this CA are served at <url>/crl/<ca>/<n>.crl. */
		if (o->public_url != NULL)
			ztm_buf_printf(&c, "crl_url = %.*s/crl/%s\n", (int)o->public_len,
			               o->public_url, cas[i]);
	}
	ztm_buf_printf(&c, "\n[subject]\norganization = \"%s\"\n", o->org);
	ztm_buf_printf(&c, "\n[bootstrap]\nadmin_cert = %s/operators/admin.crt\n", o->cdir);
	ztm_buf_printf(&c,
	               "\n[voucher]\ncert = %s/voucher.crt\nkey = file:%s/voucher.key\n"
	               "key_pass_file = %s/online.pass\n",
	               o->odir, o->odir, o->cdir);
	/* Firmware signer keys (docs/firmware.md): ztmd generates them in the
	 * token, or here, encrypted with the online passphrase like the CA keys. */
	if (o->fw_token != NULL) {
		char uri[PATH_MAX + 80];
		if (ztm_p11_uri_compose(o->fw_token, NULL, 0, uri, sizeof(uri), err) != 0) {
			ztm_buf_free(&c);
			return -1;
		}
		ztm_buf_printf(&c, "\n[firmware]\nkey_token = %s\nkey_pass_file = %s\n", uri,
		               o->pin_file);
	} else {
		ztm_buf_printf(
		    &c, "\n[firmware]\nkey_dir = %s/firmware\nkey_pass_file = %s/online.pass\n",
		    o->odir, o->cdir);
	}
	snprintf(path, sizeof(path), "%s/firmware", o->odir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		ztm_buf_free(&c);
		return ztm_error_set(err, ZTM_E_IO, "%s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/ztmd.conf", o->odir);
	rc = ztm_file_write(path, c.data, c.len, 0600, 1, err);
	ztm_buf_free(&c);
	return rc;
}

static const char *const outputs[] = {"server.key",        "server.crt",      "voucher.key",
                                      "voucher.crt",       "ocsp-device.key", "ocsp-station.key",
                                      "ocsp-operator.key", "ztmd.conf"};

static int already_set_up(const struct init_opts *o, struct ztm_error *err)
{
	char path[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", o->odir, outputs[i]);
		if (access(path, F_OK) == 0)
			return ztm_error_set(err, ZTM_E_EXISTS, "%s exists: %s is already set up",
			                     path, o->odir);
	}
	return 0;
}

static void remove_outputs(const struct init_opts *o)
{
	char path[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", o->odir, outputs[i]);
		unlink(path);
	}
}

int cmd_server(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ceremony", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"listen", required_argument, NULL, 'l'},
	    {"dns", required_argument, NULL, 'd'},
	    {"ip", required_argument, NULL, 'i'},
	    {"workers", required_argument, NULL, 'w'},
	    {"public-url", required_argument, NULL, 'u'},
	    {"public-listen", required_argument, NULL, 'P'},
	    {"pin-file", required_argument, NULL, 'p'},
	    {"responder-key-uri", required_argument, NULL, 'r'},
	    {"fw-key-token", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	struct init_opts o;
	struct ztm_error err;
	int c;

	memset(&o, 0, sizeof(o));
	o.listen = "127.0.0.1:8443";
	if (argc < 2 || strcmp(argv[1], "init") != 0)
		return usage();
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.ceremony = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'w':
			o.workers = optarg;
			break;
		case 'u':
			o.public_url = optarg;
			break;
		case 'P':
			o.public_listen = optarg;
			break;
		case 'p':
			o.pin_file = optarg;
			break;
		case 'r':
			if (strncmp(optarg, "pkcs11:", 7) != 0)
				return usage();
			o.responder_uri = optarg;
			break;
		case 'F':
			if (strncmp(optarg, "pkcs11:", 7) != 0)
				return usage();
			o.fw_token = optarg;
			break;
		case 'd':
			if (o.ndns == MAX_SAN)
				return usage();
			o.dns[o.ndns++] = optarg;
			break;
		case 'i':
			if (o.nip == MAX_SAN)
				return usage();
			o.ip[o.nip++] = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1 || o.ceremony == NULL || o.out == NULL)
		return usage();
	if (o.public_url != NULL) {
		o.public_len = strlen(o.public_url);
		while (o.public_len > 0 && o.public_url[o.public_len - 1] == '/')
			o.public_len--;
		/* It is written into certificates: a plain URL, nothing else. */
		if ((strncmp(o.public_url, "http://", 7) != 0 &&
		     strncmp(o.public_url, "https://", 8) != 0) ||
		    o.public_len < 9 || o.public_len > 200 ||
		    strcspn(o.public_url, " \t\r\n\"'#;[]") < strlen(o.public_url)) {
			fprintf(
			    stderr,
			    "ztm server init: --public-url wants http(s)://HOST[:PORT][/PATH]\n");
			return ZTM_EXIT_USAGE;
		}
	}
	/* Written into ztmd.conf as is: host:port, nothing that breaks a line. */
	if (o.public_listen != NULL &&
	    (strchr(o.public_listen, ':') == NULL || strlen(o.public_listen) > 200 ||
	     strcspn(o.public_listen, " \t\r\n\"'#;=") < strlen(o.public_listen))) {
		fprintf(stderr, "ztm server init: --public-listen wants HOST:PORT\n");
		return ZTM_EXIT_USAGE;
	}
	/* ztmd logs in with [firmware] key_pass_file; without one it would try
	 * the codesign CA's passphrase as the PIN. */
	if (o.fw_token != NULL && o.pin_file == NULL) {
		fprintf(stderr,
		        "ztm server init: --fw-key-token needs --pin-file (ztmd's PIN file)\n");
		return ZTM_EXIT_USAGE;
	}
	if (o.fw_token != NULL) {
		struct ztm_p11_uri u;
		if (ztm_p11_uri_parse(o.fw_token, &u, &err) != 0) {
			fprintf(stderr, "ztm server init: --fw-key-token: %s\n", err.msg);
			return ZTM_EXIT_USAGE;
		}
		if (u.object[0] != '\0' || u.has_id) {
			fprintf(stderr, "ztm server init: --fw-key-token names a token, not a key "
			                "(no object= or id=)\n");
			return ZTM_EXIT_USAGE;
		}
	}
	if (o.ndns == 0 && o.nip == 0) {
		o.dns[o.ndns++] = "localhost";
		o.ip[o.nip++] = "127.0.0.1";
	}
	if (realpath(o.ceremony, o.cdir) == NULL) {
		ztm_error_set(&err, ZTM_E_NOTFOUND, "%s: no such ceremony directory", o.ceremony);
		return cli_fail("server init", &err);
	}
	if (ztm_mkdirs(o.out, 0700, &err) != 0)
		return cli_fail("server init", &err);
	if (realpath(o.out, o.odir) == NULL) {
		ztm_error_set(&err, ZTM_E_IO, "%s: cannot resolve", o.out);
		return cli_fail("server init", &err);
	}
	if (already_set_up(&o, &err) != 0)
		return cli_fail("server init", &err);
	if (issue_server_cert(&o, &err) != 0 || issue_voucher_signer(&o, &err) != 0 ||
	    make_responder_keys(&o, &err) != 0 || write_config(&o, &err) != 0) {
		/* Nothing half-made stays behind: a second run starts clean. */
		remove_outputs(&o);
		return cli_fail("server init", &err);
	}
	fprintf(stderr, "ztmd set up in %s: start it with  ztmd --config %s/ztmd.conf\n", o.odir,
	        o.odir);
	return ZTM_EXIT_OK;
}
