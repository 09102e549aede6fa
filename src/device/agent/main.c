/* main.c - ztm-device, the device agent on libztmdev:
 *   ztm-device init     --dir D --serial S --product P [--pass-file F | --key tpm]
 *   ztm-device enroll   --dir D --server URL --ca ROOT.pem [--pass-file F]
 *   ztm-device activate --dir D --server URL --ca ROOT.pem [--pass-file F]
 *   ztm-device renew    --dir D --server URL --ca ROOT.pem [--pass-file F]
 *                       [--rekey [--evidence-out F | --evidence F]]
 *   ztm-device status   --dir D
 *   ztm-device voucher  FILE --dir D --ca ROOT.pem [--pass-file F]
 *   ztm-device fw-verify --image F --sig F.ztmfw|F.cms [...] (fw_verify.c)
 * Exit 0 on success, 1 when the operation failed, 2 on misuse. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ztmdev_tls.h"

#define PASS_MAX 1024

#include "agent.h"

struct opts {
	const char *dir, *serial, *product, *pass_file, *server, *ca, *key, *evidence,
	    *evidence_out;
	int rekey;
};

static void usage(void)
{
	fprintf(stderr,
	        "usage: ztm-device init     --dir D --serial S --product P [--pass-file F]\n"
	        "                           [--key software|tpm]\n"
	        "       ztm-device enroll   --dir D --server URL --ca ROOT.pem [--pass-file F]\n"
	        "                           [--evidence-out F | --evidence F]\n"
	        "         a TPM key is attested first (docs/attestation.md); --evidence-out\n"
	        "         keeps the evidence sent, --evidence sends a saved one instead\n"
	        "       ztm-device attest   --dir D --server URL --ca ROOT.pem --evidence-out F\n"
	        "         the attestation of a TPM key alone, its evidence into F\n"
	        "       ztm-device activate --dir D --server URL --ca ROOT.pem [--pass-file F]\n"
	        "       ztm-device renew    --dir D --server URL --ca ROOT.pem [--pass-file F]\n"
	        "                           [--rekey [--evidence-out F | --evidence F]]\n"
	        "         a TPM device re-keys inside its TPM and attests the new key first\n"
	        "       ztm-device status   --dir D\n"
	        "       ztm-device voucher  FILE --dir D --ca ROOT.pem [--pass-file F]\n"
	        "         verifies an ownership voucher (CMS, DER) and installs its owner's "
	        "anchor\n"
	        "       ztm-device fw-verify --image F --sig F.ztmfw|F.cms [--dir D] [--root R]\n"
	        "                  [--product P] [--test-device] [--svn-file F] [--commit]\n"
	        "         verifies a firmware image against its signed manifest or CMS\n");
	exit(2);
}

static void parse(int argc, char **argv, int first, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
	    {"--dir", offsetof(struct opts, dir)},
	    {"--serial", offsetof(struct opts, serial)},
	    {"--product", offsetof(struct opts, product)},
	    {"--pass-file", offsetof(struct opts, pass_file)},
	    {"--server", offsetof(struct opts, server)},
	    {"--ca", offsetof(struct opts, ca)},
	    {"--key", offsetof(struct opts, key)},
	    {"--evidence", offsetof(struct opts, evidence)},
	    {"--evidence-out", offsetof(struct opts, evidence_out)},
	};
	int i;
	size_t f;

	memset(o, 0, sizeof(*o));
	for (i = first; i < argc; i += 2) {
		if (strcmp(argv[i], "--rekey") == 0) {
			o->rekey = 1;
			i--; /* no value */
			continue;
		}
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (strcmp(argv[i], flags[f].name) == 0)
				break;
		if (f == sizeof(flags) / sizeof(flags[0]) || i + 1 >= argc) {
			fprintf(stderr, "ztm-device: unknown option or missing value: %s\n",
			        argv[i]);
			usage();
		}
		*(const char **)((char *)o + flags[f].off) = argv[i + 1];
	}
	if (o->dir == NULL) {
		fprintf(stderr, "ztm-device: --dir is required\n");
		usage();
	}
}

/* The passphrase file: owner-only (0600), first line, at least 8 bytes. */
static int read_pass(const char *path, char *out, size_t cap, size_t *len)
{
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ztm-device: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
		fprintf(stderr, "ztm-device: %s: must not be readable by group or others\n", path);
		close(fd);
		return -1;
	}
	while (n < cap && (r = read(fd, out + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (n == cap) {
		fprintf(stderr, "ztm-device: %s: passphrase longer than %zu bytes\n", path,
		        cap - 1);
		return -1;
	}
	for (*len = 0; *len < n && out[*len] != '\n' && out[*len] != '\r'; (*len)++)
		;
	return 0;
}

static int slurp(const char *path, uint8_t *out, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "ztm-device: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, cap, f);
	fclose(f);
	if (n == cap) {
		fprintf(stderr, "ztm-device: %s: larger than %zu bytes\n", path, cap - 1);
		return -1;
	}
	*len = n;
	return 0;
}

static int fail(struct ztmdev *dev, const char *what)
{
	fprintf(stderr, "ztm-device: %s: %s\n", what, ztmdev_error(dev));
	return 1;
}

struct ztmdev *agent_open(const struct agent_setup *setup)
{
	struct ztmdev *dev = ztmdev_new(setup->dir);

	if (dev == NULL) {
		fprintf(stderr, "ztm-device: out of memory\n");
		return NULL;
	}
	if ((setup->pass_len > 0 &&
	     ztmdev_set_passphrase(dev, setup->pass, setup->pass_len) != 0) ||
	    ztmdev_set_anchor(dev, setup->anchor, setup->anchor_len) != 0) {
		fail(dev, "setup");
		ztmdev_free(dev);
		return NULL;
	}
	setup->tls->dev = dev;
	ztmdev_set_transport(dev, ztmdev_tls_transport, setup->tls);
	return dev;
}

static int print_status(struct ztmdev *dev)
{
	struct ztmdev_status st;
	char when[32];
	time_t t;
	struct tm tm;

	if (ztmdev_status(dev, &st) != 0)
		return fail(dev, "status");
	t = (time_t)st.not_after;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", (long long)st.not_after);
	printf("serial: %s\nproduct: %s\nstate: %s\nkey: %s\ncertificate: %s\n"
	       "subject: %s\ncert_serial: %s\nnot_after: %s\nowner: %s\n",
	       st.serial, st.product, ztmdev_state_name(st.state),
	       st.key_storage == ZTMDEV_KEY_TPM ? "tpm"
	       : st.key_encrypted               ? "encrypted"
	                                        : "plain",
	       st.state >= ZTMDEV_STATE_PROVISIONED ? "operational" : "bootstrap", st.subject,
	       st.cert_serial, when, st.owner_subject[0] != '\0' ? st.owner_subject : "-");
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t anchor[65536], voucher[65536 + 1];
	char pass[PASS_MAX + 1] = "";
	size_t pass_len = 0, anchor_len = 0, voucher_len = 0;
	struct ztmdev_tls tls;
	struct ztmdev_status st;
	struct agent_setup setup;
	char key_name[64];
	struct ztmdev *dev;
	struct opts o;
	const char *cmd;
	int rc = 1;

	/* A server that refuses the client certificate may close while the
	 * request is being written: that is an error to report, not a signal
	 * to die of. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "fw-verify") == 0)
		return fw_verify_main(argc, argv);
	if (strcmp(cmd, "init") != 0 && strcmp(cmd, "enroll") != 0 && strcmp(cmd, "attest") != 0 &&
	    strcmp(cmd, "activate") != 0 && strcmp(cmd, "renew") != 0 &&
	    strcmp(cmd, "status") != 0 && strcmp(cmd, "voucher") != 0)
		usage();
	if (strcmp(cmd, "voucher") == 0) {
		if (argc < 3 || argv[2][0] == '-')
			usage();
		parse(argc, argv, 3, &o);
		if (o.ca == NULL) {
			fprintf(stderr, "ztm-device voucher: --ca is required\n");
			usage();
		}
	} else {
		parse(argc, argv, 2, &o);
	}
	if (o.key != NULL && strcmp(cmd, "init") != 0) {
		fprintf(stderr, "ztm-device %s: --key is an option of init\n", cmd);
		usage();
	}
	if (o.key != NULL && strcmp(o.key, "software") != 0 && strcmp(o.key, "tpm") != 0) {
		fprintf(stderr, "ztm-device init: --key %s: software or tpm\n", o.key);
		usage();
	}
	if (o.rekey && strcmp(cmd, "renew") != 0) {
		fprintf(stderr, "ztm-device %s: --rekey is an option of renew\n", cmd);
		usage();
	}
	if (strcmp(cmd, "init") == 0 && (o.serial == NULL || o.product == NULL)) {
		fprintf(stderr, "ztm-device init: --serial and --product are required\n");
		usage();
	}
	if ((o.evidence != NULL || o.evidence_out != NULL) && strcmp(cmd, "enroll") != 0 &&
	    strcmp(cmd, "attest") != 0 && !(strcmp(cmd, "renew") == 0 && o.rekey)) {
		fprintf(stderr,
		        "ztm-device %s: --evidence and --evidence-out are for enroll and "
		        "renew --rekey\n",
		        cmd);
		usage();
	}
	if ((o.evidence != NULL && o.evidence_out != NULL) ||
	    (strcmp(cmd, "attest") == 0 && (o.evidence_out == NULL || o.evidence != NULL))) {
		fprintf(stderr,
		        "ztm-device %s: --evidence-out F (attest), or one of --evidence "
		        "and --evidence-out (enroll)\n",
		        cmd);
		usage();
	}
	if ((strcmp(cmd, "enroll") == 0 || strcmp(cmd, "activate") == 0 ||
	     strcmp(cmd, "renew") == 0 || strcmp(cmd, "attest") == 0) &&
	    (o.server == NULL || o.ca == NULL)) {
		fprintf(stderr, "ztm-device %s: --server and --ca are required\n", cmd);
		usage();
	}
	if (o.pass_file != NULL && read_pass(o.pass_file, pass, sizeof(pass), &pass_len) != 0)
		return 1;
	dev = ztmdev_new(o.dir);
	if (dev == NULL) {
		fprintf(stderr, "ztm-device: out of memory\n");
		goto out;
	}
	if (pass_len > 0 && ztmdev_set_passphrase(dev, pass, pass_len) != 0) {
		rc = fail(dev, o.pass_file);
		goto out;
	}
	if (strcmp(cmd, "init") == 0) {
		if (o.key != NULL && strcmp(o.key, "tpm") == 0 &&
		    ztmdev_set_key_storage(dev, ZTMDEV_KEY_TPM) != 0) {
			rc = fail(dev, "init");
			goto out;
		}
		if (ztmdev_init(dev, o.serial, o.product) != 0) {
			rc = fail(dev, "init");
			goto out;
		}
		rc = print_status(dev);
	} else if (strcmp(cmd, "status") == 0) {
		rc = print_status(dev);
	} else if (strcmp(cmd, "voucher") == 0) {
		/* The pinned anchor: what the device got at manufacturing. */
		if (slurp(o.ca, anchor, sizeof(anchor), &anchor_len) != 0 ||
		    slurp(argv[2], voucher, sizeof(voucher), &voucher_len) != 0)
			goto out;
		if (ztmdev_set_anchor(dev, anchor, anchor_len) != 0) {
			rc = fail(dev, o.ca);
			goto out;
		}
		if (ztmdev_voucher_install(dev, voucher, voucher_len) != 0) {
			rc = fail(dev, argv[2]);
			goto out;
		}
		rc = print_status(dev);
	} else {
		memset(&tls, 0, sizeof(tls));
		tls.url = o.server;
		tls.ca_file = o.ca;
		tls.dir = o.dir;
		tls.dev = dev;
		tls.pass = pass_len > 0 ? pass : NULL;
		tls.pass_len = pass_len;
		tls.timeout = 30;
		ztmdev_set_transport(dev, ztmdev_tls_transport, &tls);
		if (slurp(o.ca, anchor, sizeof(anchor), &anchor_len) != 0)
			goto out;
		if (ztmdev_set_anchor(dev, anchor, anchor_len) != 0) {
			rc = fail(dev, o.ca);
			goto out;
		}
		/* A TPM key proves where it lives first (docs/attestation.md). */
		if (o.evidence != NULL) {
			if (slurp(o.evidence, voucher, sizeof(voucher), &voucher_len) != 0)
				goto out;
			if (ztmdev_set_tpm_evidence(dev, voucher, voucher_len) != 0) {
				rc = fail(dev, o.evidence);
				goto out;
			}
		} else if (strcmp(cmd, "enroll") == 0 || strcmp(cmd, "attest") == 0 ||
		           (strcmp(cmd, "renew") == 0 && o.rekey)) {
			if (ztmdev_status(dev, &st) != 0) {
				rc = fail(dev, cmd);
				goto out;
			}
			setup.dir = o.dir;
			setup.pass = pass_len > 0 ? pass : NULL;
			setup.pass_len = pass_len;
			setup.anchor = anchor;
			setup.anchor_len = anchor_len;
			setup.tls = &tls;
			if (st.key_storage == ZTMDEV_KEY_TPM && strcmp(cmd, "renew") == 0 &&
			    st.state >= ZTMDEV_STATE_PROVISIONED) {
				/* The new key is made in the TPM first, then attested
				 * (docs/attestation.md "Re-key"); the provider lets the
				 * TPM go only with its context. */
				if (ztmdev_rekey_prepare(dev, key_name, sizeof(key_name)) != 0) {
					rc = fail(dev, cmd);
					goto out;
				}
				ztmdev_free(dev);
				dev = agent_open(&setup);
				if (dev == NULL ||
				    agent_tpm_attest(&dev, &setup, key_name, o.evidence_out) != 0)
					goto out;
			} else if (st.key_storage == ZTMDEV_KEY_TPM &&
			           st.state == ZTMDEV_STATE_MANUFACTURED &&
			           strcmp(cmd, "renew") != 0) {
				if (agent_tpm_attest(&dev, &setup, "key.tpm", o.evidence_out) != 0)
					goto out;
			} else if (strcmp(cmd, "attest") == 0) {
				fprintf(stderr,
				        "ztm-device attest: only a manufactured device with a "
				        "TPM key attests\n");
				goto out;
			}
		}
		if (strcmp(cmd, "attest") == 0) {
			rc = 0;
			goto out;
		}
		if (strcmp(cmd, "enroll") == 0  ? ztmdev_enroll(dev)
		    : strcmp(cmd, "renew") == 0 ? ztmdev_renew(dev, o.rekey)
		                                : ztmdev_activate(dev)) {
			rc = fail(dev, cmd);
			goto out;
		}
		rc = print_status(dev);
	}
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	ztmdev_free(dev);
	return rc;
}
