/* enroll.c - EST enrollment (RFC 7030 §4.2) and activation over the
 * caller's transport: the request, the bounded wait on 202, the reply
 * parser, the checks on the certificate, and its atomic installation. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "zd_crypto.h"
#include "zd_int.h"

#define ENROLL_PATH   "/.well-known/est/device/simpleenroll"
#define WHOAMI_PATH   "/api/v1/device/whoami"
#define REPLY_MAX     ((size_t)96 * 1024) /* base64 of the 64 KiB PKCS#7 cap */
#define TRIES_MAX     6                   /* requests per enroll, 202s included */
#define RETRY_DEFAULT 5                   /* seconds, when 202 has no Retry-After */
#define RETRY_MAX     300                 /* a longer Retry-After is clamped */

/* RFC 7030 §4.2.3: "a successful response MUST be a certs-only
 * application/pkcs7-mime" (parameters such as smime-type may follow). */
static int is_pkcs7(const char *ct)
{
	static const char want[] = "application/pkcs7-mime";
	size_t n = sizeof(want) - 1;

	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The string value of "key" in a flat JSON object, printable ASCII only
 * (escapes other than \" and \\ become '?'), so a server's message can be
 * shown without a JSON library and without control characters. */
static void json_str(const uint8_t *p, size_t n, const char *key, char *out, size_t outsize)
{
	size_t kl = strlen(key), i, o = 0;

	out[0] = '\0';
	for (i = 0; i + kl + 2 < n; i++) {
		if (p[i] != '"' || memcmp(p + i + 1, key, kl) != 0 || p[i + kl + 1] != '"')
			continue;
		i += kl + 2;
		while (i < n && (p[i] == ' ' || p[i] == ':'))
			i++;
		if (i >= n || p[i] != '"')
			return;
		for (i++; i < n && p[i] != '"' && o + 1 < outsize; i++) {
			uint8_t c = p[i];
			if (c == '\\' && i + 1 < n) {
				c = p[++i];
				if (c != '"' && c != '\\')
					c = '?';
			}
			out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		out[o] = '\0';
		return;
	}
}

void zd_reply_reason(const struct ztmdev_response *resp, char *out, size_t outsize)
{
	char name[64], msg[256];

	json_str(resp->body, resp->body_len, "error", name, sizeof(name));
	json_str(resp->body, resp->body_len, "message", msg, sizeof(msg));
	if (name[0] != '\0' || msg[0] != '\0')
		snprintf(out, outsize, "%s: %s", name[0] != '\0' ? name : "error",
		         msg[0] != '\0' ? msg : "(no message)");
	else
		snprintf(out, outsize, "no error details");
}

int zd_reply_certs(struct ztmdev *dev, const struct ztmdev_response *resp, struct zd_certs *certs)
{
	struct zd_buf der;
	char reason[340];
	int rc = -1;

	if (resp->status != 200) {
		zd_reply_reason(resp, reason, sizeof(reason));
		return zd_err(dev, "server refused enrollment: HTTP %d: %s", resp->status, reason);
	}
	if (!is_pkcs7(resp->content_type))
		return zd_err(dev, "reply: Content-Type '%.60s', not application/pkcs7-mime",
		              resp->content_type);
	if (resp->body_len > REPLY_MAX)
		return zd_err(dev, "reply: larger than %zu bytes", REPLY_MAX);
	zd_buf_init(&der, REPLY_MAX);
	if (zd_b64_decode(resp->body, resp->body_len, &der) != 0 || der.len == 0) {
		zd_err(dev, "reply: body is not base64 (RFC 7030 §4.2.3)");
		goto out;
	}
	rc = zd_p7_certs(dev, der.p, der.len, certs);
out:
	zd_buf_free(&der);
	return rc;
}

/* One request; the response body lands in body (reserved: REPLY_MAX). */
static int call(struct ztmdev *dev, const struct ztmdev_request *req, struct ztmdev_response *resp,
                struct zd_buf *body)
{
	char terr[256] = "";

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	resp->body = body->p;
	resp->body_cap = REPLY_MAX;
	if (dev->transport == NULL)
		return zd_err(dev, "no transport set (ztmdev_set_transport)");
	if (dev->transport(dev->transport_arg, req, resp, terr, sizeof(terr)) != 0)
		return zd_err(dev, "%s %s: %s", req->method, req->path,
		              terr[0] != '\0' ? terr : "transport failed");
	if (resp->body_len > resp->body_cap)
		return zd_err(dev, "%s %s: transport overran the body buffer", req->method,
		              req->path);
	resp->content_type[sizeof(resp->content_type) - 1] = '\0';
	return 0;
}

int zd_call(struct ztmdev *dev, const struct ztmdev_request *req, struct ztmdev_response *resp,
            struct zd_buf *body)
{
	if (zd_buf_reserve(body, REPLY_MAX) != 0)
		return zd_err(dev, "%s: out of memory", req->path);
	return call(dev, req, resp, body);
}

static void wait_seconds(struct ztmdev *dev, unsigned s)
{
	struct timespec ts = {(time_t)s, 0};

	if (dev->sleep != NULL)
		dev->sleep(dev->clock_arg, s);
	else
		while (nanosleep(&ts, &ts) != 0)
			;
}

/* Writes device.pem (leaf first, then the chain the server sent), then the
 * state file with state. */
int zd_install(struct ztmdev *dev, const struct zd_certs *certs, size_t leaf,
               enum ztmdev_state state)
{
	struct zd_buf pem;
	size_t i;
	int rc = -1;

	zd_buf_init(&pem, 0);
	if (zd_pem_cert_write(certs->der[leaf].p, certs->der[leaf].len, &pem) != 0)
		goto oom;
	for (i = 0; i < certs->n; i++)
		if (i != leaf && zd_pem_cert_write(certs->der[i].p, certs->der[i].len, &pem) != 0)
			goto oom;
	/* Certificate first, state second: a cut between them leaves a
	 * manufactured device whose retry gets the same certificate (I3). */
	if (zd_file_write(dev, ZD_FILE_DEVICE, pem.p, pem.len, 0644) != 0 ||
	    zd_state_write(dev, state) != 0)
		goto out;
	zd_certs_free(&dev->oper);
	zd_certs_init(&dev->oper);
	zd_certs_add(&dev->oper, certs->der[leaf].p, certs->der[leaf].len);
	for (i = 0; i < certs->n; i++)
		if (i != leaf)
			zd_certs_add(&dev->oper, certs->der[i].p, certs->der[i].len);
	rc = 0;
	goto out;
oom:
	zd_err(dev, "install: out of memory");
out:
	zd_buf_free(&pem);
	return rc;
}

/* Finds the certificate for key among those of the reply and checks its
 * chain to the pinned anchor with the others as intermediates. */
int zd_pick_leaf(struct ztmdev *dev, const struct zd_key *key, struct zd_certs *certs,
                 size_t *leaf_out)
{
	struct zd_buf ours, spki;
	struct zd_certs rest;
	size_t i, leaf = certs->n;
	int rc = -1;

	zd_buf_init(&ours, 0);
	zd_buf_init(&spki, 0);
	zd_certs_init(&rest);
	if (zd_key_spki(dev, key, &ours) != 0)
		goto out;
	for (i = 0; i < certs->n; i++) {
		spki.len = 0;
		if (zd_cert_spki(dev, certs->der[i].p, certs->der[i].len, &spki) != 0)
			goto out;
		if (spki.len == ours.len && memcmp(spki.p, ours.p, ours.len) == 0 &&
		    leaf == certs->n)
			leaf = i;
		else
			zd_certs_add(&rest, certs->der[i].p, certs->der[i].len);
	}
	if (leaf == certs->n) {
		zd_err(dev, "reply: no certificate for the device key (wrong key)");
		goto out;
	}
	if (zd_chain_verify(dev, &certs->der[leaf], &rest, &dev->anchors, zd_now(dev)) != 0)
		goto out;
	*leaf_out = leaf;
	rc = 0;
out:
	zd_buf_free(&ours);
	zd_buf_free(&spki);
	zd_certs_free(&rest);
	return rc;
}

int zd_est_request(struct ztmdev *dev, const char *path, enum ztmdev_cred cred,
                   const struct zd_buf *csr, struct zd_certs *certs)
{
	struct ztmdev_request req;
	struct ztmdev_response resp;
	struct zd_buf b64, body;
	int tries, rc = -1;

	zd_buf_init(&b64, 0);
	zd_buf_init(&body, REPLY_MAX);
	if (zd_b64_encode(csr->p, csr->len, &b64) != 0 || zd_buf_reserve(&body, REPLY_MAX) != 0) {
		zd_err(dev, "%s: out of memory", path);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = path;
	req.content_type = "application/pkcs10";
	req.body = b64.p;
	req.body_len = b64.len;
	req.cred = cred;
	for (tries = 1;; tries++) {
		if (call(dev, &req, &resp, &body) != 0)
			goto out;
		if (resp.status != 202)
			break;
		/* RFC 7030 §4.2.3: 202 + Retry-After means the request is being
		 * processed; ask again after that long, but only so often. */
		if (tries == TRIES_MAX) {
			zd_err(dev, "%s: still pending (HTTP 202) after %d requests", path, tries);
			goto out;
		}
		wait_seconds(dev, resp.retry_after < 0           ? RETRY_DEFAULT
		                  : resp.retry_after == 0        ? 1
		                  : resp.retry_after > RETRY_MAX ? RETRY_MAX
		                                                 : (unsigned)resp.retry_after);
	}
	rc = zd_reply_certs(dev, &resp, certs);
out:
	zd_buf_free(&b64);
	zd_buf_free(&body);
	return rc;
}

int ztmdev_enroll(struct ztmdev *dev)
{
	struct zd_buf csr;
	struct zd_certs certs;
	size_t leaf;
	int rc = -1;

	if (zd_ensure_open(dev) != 0)
		return -1;
	if (dev->state != ZTMDEV_STATE_MANUFACTURED)
		return zd_err(dev, "device is %s: only a manufactured device enrolls",
		              ztmdev_state_name(dev->state));
	if (dev->anchors.n == 0)
		return zd_err(dev, "no trust anchor set (ztmdev_set_anchor)");
	zd_buf_init(&csr, ZD_CERT_MAX);
	zd_certs_init(&certs);
	if (zd_make_csr(dev, &csr) != 0 ||
	    zd_est_request(dev, ENROLL_PATH, ZTMDEV_CRED_BOOTSTRAP, &csr, &certs) != 0 ||
	    zd_pick_leaf(dev, dev->key, &certs, &leaf) != 0)
		goto out;
	rc = zd_install(dev, &certs, leaf, ZTMDEV_STATE_PROVISIONED);
out:
	zd_buf_free(&csr);
	zd_certs_free(&certs);
	return rc;
}

int ztmdev_activate(struct ztmdev *dev)
{
	struct ztmdev_request req;
	struct ztmdev_response resp;
	struct zd_buf body;
	char reason[340];
	int rc = -1;

	if (zd_ensure_open(dev) != 0)
		return -1;
	if (dev->state < ZTMDEV_STATE_PROVISIONED)
		return zd_err(dev, "device is %s: enroll before activating",
		              ztmdev_state_name(dev->state));
	zd_buf_init(&body, REPLY_MAX);
	if (zd_buf_reserve(&body, REPLY_MAX) != 0) {
		zd_err(dev, "activate: out of memory");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = WHOAMI_PATH;
	req.cred = ZTMDEV_CRED_OPERATIONAL;
	if (call(dev, &req, &resp, &body) != 0)
		goto out;
	if (resp.status != 200) {
		zd_reply_reason(&resp, reason, sizeof(reason));
		zd_err(dev, "server refused activation: HTTP %d: %s", resp.status, reason);
		goto out;
	}
	rc = dev->state == ZTMDEV_STATE_ACTIVE ? 0 : zd_state_write(dev, ZTMDEV_STATE_ACTIVE);
out:
	zd_buf_free(&body);
	return rc;
}
