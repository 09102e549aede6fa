/* demo_device.c - the devices of `ztm demo`: each one a libztmdev context
 * on its own directory (D/devices/<serial>), driven in-process over the
 * TLS 1.3 transport ztm-device uses (src/device/tls). A thin wrapper around
 * that transport keeps the server's answer (status, "error", "message") so
 * the demo reports what the server said, not what it expected. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "demo.h"
#include "ztm/file.h"
#include "ztm/str.h"
#include "ztmdev/ztmdev.h"
#include "ztmdev_tls.h"

#define ANCHOR_MAX ((size_t)64 * 1024)
#define CSR_MAX    4096
#define REPLY_MAX  ((size_t)96 * 1024)

struct capture {
	struct ztmdev_tls tls;
	struct demo_answer *ans;
};

static void answer_from(const struct ztmdev_response *resp, struct demo_answer *ans)
{
	json_t *j;

	memset(ans, 0, sizeof(*ans));
	ans->status = resp->status;
	if (strncasecmp(resp->content_type, "application/json", 16) != 0)
		return;
	j = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
	if (json_is_string(json_object_get(j, "error")))
		ztm_strlcpy(ans->error, json_string_value(json_object_get(j, "error")),
		            sizeof(ans->error));
	if (json_is_string(json_object_get(j, "message")))
		ztm_strlcpy(ans->message, json_string_value(json_object_get(j, "message")),
		            sizeof(ans->message));
	json_decref(j);
}

/* The TLS transport, keeping the last answer. */
static int capture_transport(void *arg, const struct ztmdev_request *req,
                             struct ztmdev_response *resp, char *err, size_t errsize)
{
	struct capture *c = arg;
	int rc = ztmdev_tls_transport(&c->tls, req, resp, err, errsize);

	if (rc == 0)
		answer_from(resp, c->ans);
	else
		snprintf(c->ans->message, sizeof(c->ans->message), "%s", err);
	return rc;
}

/* A device context on dir with the capturing transport and the anchors. */
static struct ztmdev *open_dev(struct demo *d, const char *dir, struct capture *c,
                               struct demo_answer *ans, struct ztm_error *err)
{
	struct ztmdev *dev = ztmdev_new(dir);
	struct ztm_buf anchor;

	if (dev == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "device context");
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	memset(ans, 0, sizeof(*ans));
	c->tls.url = d->url;
	c->tls.ca_file = d->chain;
	c->tls.dir = dir;
	c->tls.timeout = 30;
	c->ans = ans;
	ztmdev_set_transport(dev, capture_transport, c);
	ztm_buf_init(&anchor, ANCHOR_MAX);
	if (ztm_file_read(d->chain, ANCHOR_MAX, &anchor, err) != 0)
		goto bad;
	if (ztmdev_set_anchor(dev, anchor.data, anchor.len) != 0) {
		ztm_error_set(err, ZTM_E_CONFIG, "%s: %s", d->chain, ztmdev_error(dev));
		goto bad;
	}
	ztm_buf_free(&anchor);
	return dev;
bad:
	ztm_buf_free(&anchor);
	ztmdev_free(dev);
	return NULL;
}

int demo_device_build(struct demo *d, const char *dir, const char *serial, struct ztm_error *err)
{
	char parent[DEMO_PATH];
	struct ztmdev *dev;
	int rc = -1;

	ztm_strlcpy(parent, dir, sizeof(parent));
	if (strrchr(parent, '/') != NULL)
		*strrchr(parent, '/') = '\0';
	if (ztm_mkdirs(parent, 0700, err) != 0)
		return -1;
	dev = ztmdev_new(dir);
	if (dev == NULL)
		return ztm_error_set(err, ZTM_E_NOMEM, "device context");
	/* The key is born on the device and stays in its directory (plain
	 * PKCS#8, mode 0600: a passphrase would cost a KDF per TLS handshake
	 * here; ztm-device --pass-file shows the encrypted form). */
	if (ztmdev_init(dev, serial, DEMO_PRODUCT) != 0)
		ztm_error_set(err, ZTM_E_INTERNAL, "device %s: %s", serial, ztmdev_error(dev));
	else
		rc = 0;
	ztmdev_free(dev);
	return rc;
}

/* One libztmdev step on the device in dir, the server's answer in ans. */
static int dev_step(struct demo *d, const char *dir, int (*step)(struct ztmdev *),
                    struct demo_answer *ans, struct ztm_error *err)
{
	struct capture c;
	struct ztmdev *dev = open_dev(d, dir, &c, ans, err);
	int rc;

	if (dev == NULL)
		return -1;
	rc = step(dev);
	if (rc != 0)
		ztm_error_set(err, ZTM_E_DENIED, "%s", ztmdev_error(dev));
	ztmdev_free(dev);
	return rc;
}

int demo_device_enroll(struct demo *d, const char *dir, struct demo_answer *ans,
                       struct ztm_error *err)
{
	return dev_step(d, dir, ztmdev_enroll, ans, err);
}

int demo_device_activate(struct demo *d, const char *dir, struct demo_answer *ans,
                         struct ztm_error *err)
{
	return dev_step(d, dir, ztmdev_activate, ans, err);
}

int demo_device_replay(struct demo *d, const char *dir, struct demo_answer *ans,
                       struct ztm_error *err)
{
	struct capture c;
	struct ztmdev *dev = open_dev(d, dir, &c, ans, err);
	struct ztmdev_request req;
	struct ztmdev_response resp;
	struct ztm_buf b64;
	uint8_t csr[CSR_MAX], *body = NULL;
	size_t csr_len = 0;
	char terr[256] = "";
	int rc = -1;

	if (dev == NULL)
		return -1;
	ztm_buf_init(&b64, 2 * CSR_MAX);
	if (ztmdev_csr(dev, csr, sizeof(csr), &csr_len) != 0) {
		ztm_error_set(err, ZTM_E_INTERNAL, "CSR: %s", ztmdev_error(dev));
		goto out;
	}
	if (ztm_b64_encode(csr, csr_len, 64, &b64) != 0 || (body = malloc(REPLY_MAX)) == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "replay request");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/.well-known/est/device/simpleenroll";
	req.content_type = "application/pkcs10";
	req.body = b64.data;
	req.body_len = b64.len;
	req.cred = ZTMDEV_CRED_BOOTSTRAP;
	memset(&resp, 0, sizeof(resp));
	resp.body = body;
	resp.body_cap = REPLY_MAX;
	if (capture_transport(&c, &req, &resp, terr, sizeof(terr)) != 0) {
		ztm_error_set(err, ZTM_E_IO, "replay: %s", terr);
		goto out;
	}
	rc = 0;
out:
	free(body);
	ztm_buf_free(&b64);
	ztmdev_free(dev);
	return rc;
}

int demo_production(struct demo *d, struct ztm_error *err)
{
	char dir[DEMO_PATH], serial[32];
	struct demo_answer ans;
	struct ztm_error why;
	double t0 = demo_now(), t1, t2;
	unsigned i;
	int st;

	for (i = 1; i <= d->devices; i++) {
		snprintf(serial, sizeof(serial), "SN-%05u", i);
		snprintf(dir, sizeof(dir), "%s/%s", d->devdir, serial);
		if (demo_device_build(d, dir, serial, err) != 0)
			return -1;
		d->built++;
		if (demo_record(d, DEMO_STATION1, DEMO_ORDER1, dir, serial, i, err) != 0)
			return -1;
		d->recorded++;
	}
	if (demo_sync(d, DEMO_STATION1, &st, NULL, err) != 0)
		return -1;
	if (st != 0)
		return ztm_error_set(err, ZTM_E_INTERNAL,
		                     "%s could not upload its records (exit %d); see %s",
		                     DEMO_STATION1, st, d->log_path);
	t1 = demo_now();
	demo_say(d,
	         "%u devices built (key generated on the device, self-signed bootstrap "
	         "certificate), recorded by %s and uploaded in signed batches (%.1f s)",
	         d->devices, DEMO_STATION1, t1 - t0);
	for (i = 1; i <= d->devices; i++) {
		snprintf(serial, sizeof(serial), "SN-%05u", i);
		snprintf(dir, sizeof(dir), "%s/%s", d->devdir, serial);
		if (demo_device_enroll(d, dir, &ans, &why) != 0)
			return ztm_error_set(err, why.code, "%s: %s", serial, why.msg);
		d->registered++;
		if (demo_device_activate(d, dir, &ans, &why) != 0)
			return ztm_error_set(err, why.code, "%s: %s", serial, why.msg);
		d->activated++;
	}
	t2 = demo_now();
	d->t_devices = t2 - t0;
	demo_say(d,
	         "%u devices registered over EST with their bootstrap certificates (vetted "
	         "against the records) and activated with their new certificates (%.1f s, "
	         "%.0f devices/s)",
	         d->devices, t2 - t1, t2 > t1 ? d->devices / (t2 - t1) : 0.0);
	return 0;
}
