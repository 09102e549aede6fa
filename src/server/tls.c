/* tls.c - ztmd's TLS server context: TLS 1.3 only unless [tls] min_version
 * = 1.2, the server chain and key, and client certificates requested and
 * verified against [tls] client_ca. */
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "server.h"
#include "ztm/bootstrap.h"
#include "ztm/file.h"
#include "ztm/key.h"

/* The one place the server key is loaded, through the key-by-URI seam
 * (ztm/key.h): `[tls] key` is a bare path or a key URI, so a key held in a
 * provider needs no change here. [tls] key_pass_file, when set, supplies the
 * passphrase unless the URI names its own (?pass=file:...). */
EVP_PKEY *ztmd_tls_load_key(const char *uri, const char *pass_file, struct ztm_error *err)
{
	struct ztm_key_opts ko = {NULL, 0}; /* a daemon never prompts */
	struct ztm_buf pass;
	struct ztm_error kerr;
	EVP_PKEY *key = NULL;

	ztm_buf_init(&pass, 4096);
	if (pass_file != NULL) {
		if (ztm_secret_read(pass_file, &pass, &kerr) != 0) {
			ztm_error_set(err, ZTM_E_CONFIG, "[tls] key_pass_file: %s", kerr.msg);
			goto out;
		}
		ko.pass = ztm_buf_cstr(&pass);
	}
	key = ztm_key_load(uri, &ko, &kerr);
	if (key == NULL)
		ztm_error_set(err, kerr.code, "[tls] key: %s%s", kerr.msg,
		              kerr.code == ZTM_E_AUTH && pass_file == NULL
		                  ? " (set [tls] key_pass_file)"
		                  : "");
out:
	ztm_buf_free(&pass); /* wipes */
	return key;
}

/* Counts handshakes that end in a fatal alert, sent or received, for
 * ztmd_tls_handshake_failures_total. */
/* Where the verify callback marks a connection whose client presented a
 * self-signed bootstrap certificate. Created once, before workers fork. */
static int bootstrap_idx = -1;
/* Where it marks a connection whose client certificate's only fault is
 * that it has expired. */
static int expired_idx = -1;

/* An expired end-entity certificate at depth 0, its chain otherwise good:
 * an offline device renewing late (docs/lifecycle.md). It passes the
 * handshake marked, never as verified; the access module admits it for
 * device re-enrollment alone and the product's grace period decides
 * there. OpenSSL checks validity last, leaf last (x509_vfy.c
 * internal_verify), so every other fault of the chain has been reported
 * to verify_cb before, and refused. */
static int expired_leaf(X509_STORE_CTX *x)
{
	SSL *ssl;
	X509 *cert;
	int e = X509_STORE_CTX_get_error(x);

	if ((e != X509_V_ERR_CERT_HAS_EXPIRED && e != X509_V_ERR_CERT_NOT_YET_VALID) ||
	    X509_STORE_CTX_get_error_depth(x) != 0 || expired_idx < 0)
		return 0;
	cert = X509_STORE_CTX_get_current_cert(x);
	ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (cert == NULL || ssl == NULL || X509_check_ca(cert) != 0)
		return 0;
	/* A bootstrap certificate's dates say nothing: its holder can sign
	 * itself new ones at will (docs/records.md). It stays a bootstrap
	 * certificate, however old, or however far ahead the device's clock
	 * ran when it made it. OpenSSL reports "self-signed" before any date
	 * (chain building comes before internal_verify), so the mark is set. */
	if (bootstrap_idx >= 0 && SSL_get_ex_data(ssl, bootstrap_idx) != NULL)
		return 1;
	if (e != X509_V_ERR_CERT_HAS_EXPIRED)
		return 0;
	return SSL_set_ex_data(ssl, expired_idx, (void *)1) == 1;
}

/* Device bootstrap certificates (DESIGN.md 3, step 2) are self-signed and
 * chain to nothing. They are let through the handshake -- marked, never
 * counted as verified -- so that the application can vet them against a
 * station's record; authz.c lets them do nothing else. Only that exact
 * situation passes: a leaf (not a CA) at depth 0 that OpenSSL found
 * self-signed by its names and key identifiers, and whose DER passes
 * ztm_bootstrap_shape (self-issued byte for byte, the key policy: what a
 * station could have recorded). Every other verification error (bad
 * chain, a CA certificate, expired but for expired_leaf) still fails the
 * handshake, and every CA-issued chain is verified in full, signatures
 * included.
 *
 * The bootstrap certificate's own signature is not verified (X509_self_
 * signed(cert, 1) was ~85 us of a ~1,400 us registration): it authenticates
 * nothing, since anyone holding the key can make it. What the handshake
 * needs is proof that the peer holds the certificate's key, and TLS gives
 * that itself (CertificateVerify, RFC 8446 §4.4.3); vetting then binds the
 * key, by its SPKI hash, to a station's record. docs/vetting.md "Proof of
 * possession". */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
	struct ztm_bootstrap_shape shape;
	struct ztm_error err;
	unsigned char *der = NULL;
	SSL *ssl;
	X509 *cert;
	int n, pass = 0;

	if (ok)
		return 1;
	if (expired_leaf(x))
		return 1;
	if (X509_STORE_CTX_get_error(x) != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    X509_STORE_CTX_get_error_depth(x) != 0)
		return 0;
	cert = X509_STORE_CTX_get_current_cert(x);
	ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (cert == NULL || ssl == NULL || bootstrap_idx < 0 || X509_check_ca(cert) != 0)
		return 0;
	/* The received certificate's encoding: OpenSSL keeps the TBS bytes
	 * as received and re-frames them with the signature. */
	n = i2d_X509(cert, &der);
	pass = n > 0 && ztm_bootstrap_shape(der, (size_t)n, &shape, &err) == 0 &&
	       SSL_set_ex_data(ssl, bootstrap_idx, (void *)1) == 1;
	OPENSSL_free(der);
	return pass;
}

int ztmd_tls_peer_is_bootstrap(const SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);

	/* The last error verify_cb let through: "self-signed", or a date of
	 * the same bootstrap certificate (expired_leaf). */
	return bootstrap_idx >= 0 && SSL_get_ex_data(ssl, bootstrap_idx) != NULL &&
	       (v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || v == X509_V_ERR_CERT_HAS_EXPIRED ||
	        v == X509_V_ERR_CERT_NOT_YET_VALID);
}

int ztmd_tls_peer_is_expired(const SSL *ssl)
{
	return expired_idx >= 0 && SSL_get_ex_data(ssl, expired_idx) != NULL &&
	       SSL_get_verify_result(ssl) == X509_V_ERR_CERT_HAS_EXPIRED;
}

/* ec_decode.c's window: libssl calls this with each received handshake
 * message before it processes it. Open for the client's Certificate (its
 * key decoded) and CertificateVerify (that key's signature checked by the
 * same legacy method instead of a copy exported to the provider); closed
 * for any other message, which may make keys by name (TLS 1.2's
 * ClientKeyExchange). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
	unsigned char type;

	(void)version;
	(void)arg;
	if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0 || !SSL_is_server(ssl))
		return;
	type = ((const unsigned char *)buf)[0];
	if (type == SSL3_MT_CERTIFICATE || type == SSL3_MT_CERTIFICATE_VERIFY)
		ztmd_ec_decode_arm();
	else
		ztmd_ec_decode_disarm();
}

/* libssl calls this in place of X509_verify_cert once the certificate list
 * is decoded: the chain is verified with ec_decode.c's window closed (the
 * CAs' keys are provider keys and stay on the provider path). */
static int cert_verify_cb(X509_STORE_CTX *x, void *arg)
{
	(void)arg;
	ztmd_ec_decode_disarm();
	return X509_verify_cert(x);
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	struct ztmd_metrics *m;

	/* Every step and every exit of the handshake closes the window
	 * (ec_decode.c): it never outlives the SSL call that opened it. */
	ztmd_ec_decode_disarm();
	if ((where & SSL_CB_HANDSHAKE_START) && SSL_is_server(ssl))
		ztmd_conn_handshake_started(ssl);
	if (!(where & SSL_CB_ALERT) || (ret >> 8) != SSL3_AL_FATAL || !SSL_in_init(ssl))
		return;
	m = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	ztmd_metrics_tls_failure(m);
}

SSL_CTX *ztmd_tls_ctx_new(const struct ztmd_settings *s, struct ztmd_metrics *m,
                          struct ztm_error *err)
{
	static const unsigned char sid_ctx[] = "ztmd";
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *names = NULL;
	EVP_PKEY *key = NULL;

	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "SSL_CTX_new");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, s->tls_min_12 ? TLS1_2_VERSION : TLS1_3_VERSION) !=
	    1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "TLS minimum version");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, s->tls_cert) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[tls] cert %s: cannot load chain", s->tls_cert);
		goto fail;
	}
	key = ztmd_tls_load_key(s->tls_key, s->tls_key_pass_file, err);
	if (key == NULL)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[tls] key %s does not match cert %s", s->tls_key,
		               s->tls_cert);
		goto fail;
	}
	/* client_ca may hold several CAs (operators, stations, devices). */
	if (SSL_CTX_load_verify_locations(ctx, s->tls_client_ca, NULL) != 1) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[tls] client_ca %s: cannot load",
		               s->tls_client_ca);
		goto fail;
	}
	names = SSL_load_client_CA_file(s->tls_client_ca);
	if (names == NULL) {
		ztm_error_ossl(err, ZTM_E_CONFIG, "[tls] client_ca %s: no CA certificate in it",
		               s->tls_client_ca);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
	/* Request a client certificate but do not require one: each handler
	 * decides (healthz needs none, EST enrollment needs one). A certificate
	 * that is sent and fails verification fails the handshake, except a
	 * self-signed bootstrap certificate (verify_cb). */
	if (bootstrap_idx < 0)
		bootstrap_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (expired_idx < 0)
		expired_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (bootstrap_idx < 0 || expired_idx < 0) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "TLS ex_data index");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 4);
	/* Resumed sessions must stay tied to this server's client verification. */
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "session id context");
		goto fail;
	}
	/* No session resumption: no TLS 1.3 session tickets, no TLS 1.2
	 * tickets, no session cache. Each client (a device registering, a
	 * station, an operator's CLI) makes one connection per request, so
	 * tickets are never used, and on OpenSSL 3.0 the two tickets a server
	 * sends by default cost ~500 us of a ~1,300 us handshake (the session,
	 * peer certificate included, is serialized and parsed back to be
	 * duplicated; bench_tls_handshake, docs/benchmarks.md). Every
	 * connection also has its client certificate verified afresh. */
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1) {
		ztm_error_ossl(err, ZTM_E_CRYPTO, "session tickets");
		goto fail;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_TICKET);
	SSL_CTX_set_app_data(ctx, m);
	SSL_CTX_set_info_callback(ctx, info_cb);
	/* The client certificate's key decoded the cheaper way (ec_decode.c):
	 * armed for the Certificate message, disarmed before verification. */
	if (ztmd_ec_decode_init()) {
		SSL_CTX_set_msg_callback(ctx, msg_cb);
		SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, NULL);
	}
	EVP_PKEY_free(key);
	return ctx;
fail:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}
