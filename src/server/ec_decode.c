/* ec_decode.c - the EC public key of a client's certificate decoded
 * without OpenSSL 3.0's per-key decoder set-up (docs/benchmarks.md,
 * "Registration").
 *
 * libssl decodes a client's certificate with d2i_X509. In OpenSSL 3.0 the
 * SubjectPublicKeyInfo inside is turned into a key by building a fresh
 * OSSL_DECODER context for it (x509_pubkey_ex_d2i_ex), which walks every
 * decoder and key manager of the library context under its locks: ~150 -
 * 200 us of the ~1.1 - 1.7 ms of server CPU a registration costs (OpenSSL
 * issues #19119 and #20051; 3.2 caches those contexts). 3.0 keeps its
 * older decoder, the key type's EVP_PKEY_ASN1_METHOD, and uses it while an
 * ENGINE supplies the key type's EVP_PKEY_METHOD: then the key is decoded
 * by the EC ASN.1 method (the point checked to be on the curve, as before)
 * in a fifth of the time (bench_tls_handshake: d2i_X509 ~190 -> ~35 us).
 *
 * The engine supplies OpenSSL's own EC methods, copied unchanged, and is in
 * OpenSSL's method table only while libssl processes a client's
 * Certificate and CertificateVerify messages (tls.c: armed from the
 * message callback, which libssl calls with a handshake message before it
 * processes it; disarmed before the chain is verified, for any other
 * message, and whenever libssl reports progress, an alert or its return in
 * the info callback, so it never outlives one SSL call). In the table it
 * would also send every EC key context made by name
 * (EVP_PKEY_CTX_new_from_name, key generation, EVP_PKEY_fromdata) down the
 * legacy path, where provider operations are refused. A ztmd worker runs
 * its TLS in one thread, so no other code runs inside the window. The
 * client's CertificateVerify is checked by the same legacy EC method
 * (the same ECDSA code; without the window OpenSSL would export the key
 * to the provider first, decoding the curve again). ztm's key policy reads
 * the SubjectPublicKeyInfo bytes (keypolicy.c), not the decoded key, so
 * nothing it decides changes.
 *
 * On by default with OpenSSL before 3.2; ZTM_EC_LEGACY_DECODE=off in the
 * environment turns it off (for a comparison, or should an OpenSSL update
 * change the legacy path).
 *
 * ENGINE and EVP_PKEY_METHOD are 3.0-deprecated APIs (supported for the 3.x
 * series); the build hides them (OPENSSL_NO_DEPRECATED) and this file opts
 * back in, as p11_pkey.c does.
 */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static EVP_PKEY_METHOD *ec_meths;
static ENGINE *engine;
static const int ec_nids[] = {EVP_PKEY_EC};
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int armed;
static unsigned long opened;

static int pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pmeth, const int **nids, int nid)
{
	(void)e;
	if (pmeth == NULL) {
		*nids = ec_nids;
		return 1;
	}
	*pmeth = nid == EVP_PKEY_EC ? ec_meths : NULL;
	return *pmeth != NULL;
}

static int wanted(void)
{
	const char *v = getenv("ZTM_EC_LEGACY_DECODE");

	if (v != NULL && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0))
		return 0;
	return OpenSSL_version_num() < 0x30200000UL;
}

static void init_once(void)
{
	const EVP_PKEY_METHOD *builtin = EVP_PKEY_meth_find(EVP_PKEY_EC);
	ENGINE *e;

	if (!wanted() || builtin == NULL)
		return;
	ec_meths = EVP_PKEY_meth_new(EVP_PKEY_EC, 0);
	if (ec_meths == NULL)
		return;
	EVP_PKEY_meth_copy(ec_meths, builtin);
	e = ENGINE_new();
	if (e == NULL || ENGINE_set_id(e, "ztm-ec-decode") != 1 ||
	    ENGINE_set_name(e, "ztmd: OpenSSL's EC methods, for the legacy key decoder") != 1 ||
	    ENGINE_set_pkey_meths(e, pkey_meths) != 1) {
		ENGINE_free(e);
		EVP_PKEY_meth_free(ec_meths);
		ec_meths = NULL;
		ERR_clear_error();
		return;
	}
	engine = e; /* kept for the process's life, as the method table would */
}

int ztmd_ec_decode_init(void)
{
	pthread_once(&once, init_once);
	return engine != NULL;
}

void ztmd_ec_decode_arm(void)
{
	if (engine == NULL || armed)
		return;
	if (ENGINE_register_pkey_meths(engine) == 1) {
		armed = 1;
		opened++;
	} else
		ERR_clear_error();
}

void ztmd_ec_decode_disarm(void)
{
	if (!armed)
		return;
	ENGINE_unregister_pkey_meths(engine);
	armed = 0;
}

void ztmd_ec_decode_state(int *is_armed, unsigned long *windows)
{
	*is_armed = armed;
	*windows = opened;
}
