/* p11.c - the pkcs11: key backend (RFC 7512 URIs, ztm/key.h): loads a
 * Cryptoki module, finds the token and the key, logs in, generates keys
 * inside the token, and signs through C_Sign (p11_key_sign), recovering from
 * a lost token or module without a restart of the caller.
 *
 * Why direct Cryptoki and not the libp11 engine: docs/hsm.md. In short: key
 * generation with exactly the attributes we want (sensitive, never
 * extractable), our own recovery when the token or its daemon goes away,
 * fork safety for ztmd's workers, and no dependency on the ENGINE API.
 *
 * Concurrency: a PKCS#11 session runs one operation at a time, so every call
 * into a module happens under that module's mutex. Signing is therefore
 * serialised per module; the token is the bottleneck anyway (benchmarks.md).
 *
 * Fork: a Cryptoki library must be initialised again in a child process
 * (PKCS#11 v2.40 §6.6.1). ztmd loads its keys in the master and forks
 * workers; each module remembers the pid that initialised it and the first
 * call in another process initialises it again, opens new sessions and
 * finds the keys again. */
#include <dlfcn.h>
#include <openssl/rand.h>
#include <openssl/ui.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11_int.h"
#include "ztm/buf.h"
#include "ztm/file.h"
#include "ztm/log.h"

/* Where the module comes from when the URI names none: ZTM_PKCS11_MODULE,
 * else p11-kit's proxy, which exposes every module registered with p11-kit
 * (Debian's softhsm2 registers itself). */
#define P11_DEFAULT_MODULE "p11-kit-proxy.so"
#define P11_PIN_MAX        256
/* Attribute values we read: EC parameters and points, RSA moduli. */
#define P11_ATTR_MAX 2048

struct p11_module {
	char path[ZTM_P11_PATH_MAX];
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	pthread_mutex_t mu; /* every call into f */
	pid_t pid;          /* the process that initialised it, if live */
	int live;
	unsigned gen; /* bumped at each (re-)initialisation */
	struct p11_module *next;
};

struct p11_key {
	int refs;
	struct p11_module *m;
	struct ztm_p11_uri u;
	char desc[320];
	char *pin; /* secure heap, NUL-terminated; NULL: no login */
	size_t pin_len;
	CK_SESSION_HANDLE sess;
	CK_OBJECT_HANDLE obj;
	unsigned gen; /* m->gen when sess/obj were found */
	int open;
};

static pthread_mutex_t modules_mu = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;

/* ---- return values ---------------------------------------------------- */

#define P11_RV_TABLE(X)                                                                            \
	X(CKR_OK)                                                                                  \
	X(CKR_HOST_MEMORY)                                                                         \
	X(CKR_GENERAL_ERROR)                                                                       \
	X(CKR_FUNCTION_FAILED)                                                                     \
	X(CKR_ARGUMENTS_BAD)                                                                       \
	X(CKR_ATTRIBUTE_VALUE_INVALID)                                                             \
	X(CKR_TEMPLATE_INCOMPLETE)                                                                 \
	X(CKR_TEMPLATE_INCONSISTENT)                                                               \
	X(CKR_DATA_LEN_RANGE)                                                                      \
	X(CKR_DEVICE_ERROR)                                                                        \
	X(CKR_DEVICE_MEMORY)                                                                       \
	X(CKR_DEVICE_REMOVED)                                                                      \
	X(CKR_KEY_HANDLE_INVALID)                                                                  \
	X(CKR_KEY_TYPE_INCONSISTENT)                                                               \
	X(CKR_KEY_FUNCTION_NOT_PERMITTED)                                                          \
	X(CKR_MECHANISM_INVALID)                                                                   \
	X(CKR_MECHANISM_PARAM_INVALID)                                                             \
	X(CKR_OBJECT_HANDLE_INVALID)                                                               \
	X(CKR_OPERATION_ACTIVE)                                                                    \
	X(CKR_PIN_INCORRECT)                                                                       \
	X(CKR_PIN_LOCKED)                                                                          \
	X(CKR_SESSION_CLOSED)                                                                      \
	X(CKR_SESSION_HANDLE_INVALID)                                                              \
	X(CKR_TOKEN_NOT_PRESENT)                                                                   \
	X(CKR_TOKEN_NOT_RECOGNIZED)                                                                \
	X(CKR_USER_NOT_LOGGED_IN)                                                                  \
	X(CKR_USER_PIN_NOT_INITIALIZED)                                                            \
	X(CKR_BUFFER_TOO_SMALL)                                                                    \
	X(CKR_CRYPTOKI_NOT_INITIALIZED)                                                            \
	X(CKR_CRYPTOKI_ALREADY_INITIALIZED)

static const char *rv_name(CK_RV rv)
{
	static const struct {
		CK_RV rv;
		const char *name;
	} names[] = {
#define P11_X(r) {r, #r},
	    P11_RV_TABLE(P11_X)
#undef P11_X
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	return "CKR_(other)";
}

/* A failure that says nothing about the request, only that the token, its
 * daemon or our session with it is gone: worth a fresh start, and a 503. */
static int rv_is_loss(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
	case CKR_HOST_MEMORY:
	case CKR_ARGUMENTS_BAD:
	case CKR_DATA_LEN_RANGE:
	case CKR_KEY_TYPE_INCONSISTENT:
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_BUFFER_TOO_SMALL:
		return 0;
	default:
		return 1;
	}
}

/* ---- modules ---------------------------------------------------------- */

static struct p11_module *module_get(const char *path, struct ztm_error *err)
{
	struct p11_module *m;
	CK_C_GetFunctionList getfl;
	CK_RV rv;

	pthread_mutex_lock(&modules_mu);
	for (m = modules; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0)
			goto out;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "PKCS#11 module");
		goto out;
	}
	snprintf(m->path, sizeof(m->path), "%s", path);
	/* RTLD_NODELETE: the module stays mapped for the life of the process,
	 * as its function pointers do. */
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (m->dl == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "PKCS#11 module %s: cannot load (%s)", path,
		              dlerror());
		goto fail;
	}
	*(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
	if (getfl == NULL || (rv = getfl(&m->f)) != CKR_OK || m->f == NULL) {
		ztm_error_set(err, ZTM_E_CONFIG, "PKCS#11 module %s: no C_GetFunctionList", path);
		goto fail;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->next = modules;
	modules = m;
	goto out;
fail:
	if (m->dl != NULL)
		dlclose(m->dl);
	free(m);
	m = NULL;
out:
	pthread_mutex_unlock(&modules_mu);
	return m;
}

/* Initialised in this process (m->mu held). */
static CK_RV module_ready(struct p11_module *m)
{
	CK_C_INITIALIZE_ARGS a;
	CK_RV rv;

	if (m->live && m->pid == getpid())
		return CKR_OK;
	memset(&a, 0, sizeof(a));
	a.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&a);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* A child that inherited the parent's initialised module (one that
		 * does not notice forks itself): start it over in this process. */
		m->f->C_Finalize(NULL);
		rv = m->f->C_Initialize(&a);
	}
	if (rv != CKR_OK)
		return rv;
	m->live = 1;
	m->pid = getpid();
	m->gen++;
	return CKR_OK;
}

/* Drops everything: sessions, login, the module's connection to its token or
 * daemon (m->mu held). The next call initialises it again. */
static void module_reset(struct p11_module *m)
{
	if (m->live && m->pid == getpid())
		m->f->C_Finalize(NULL);
	m->live = 0;
	m->gen++;
}

/* ---- tokens and objects ----------------------------------------------- */

/* Token info fields are blank-padded, not NUL-terminated. */
static int field_eq(const unsigned char *field, size_t n, const char *want)
{
	size_t w = strlen(want), i;

	if (want[0] == '\0')
		return 1;
	if (w > n || memcmp(field, want, w) != 0)
		return 0;
	for (i = w; i < n; i++)
		if (field[i] != ' ')
			return 0;
	return 1;
}

static CK_RV find_slot(struct p11_module *m, const struct ztm_p11_uri *u, CK_SLOT_ID *slot,
                       char *why, size_t whylen)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i, found = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = m->f->C_GetSlotList(CK_TRUE, ids, &n);
	if (rv != CKR_OK) {
		snprintf(why, whylen, "C_GetSlotList: %s", rv_name(rv));
		return rv;
	}
	for (i = 0; i < n; i++) {
		if (u->has_slot_id && ids[i] != u->slot_id)
			continue;
		if (m->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (!field_eq(ti.label, sizeof(ti.label), u->token) ||
		    !field_eq(ti.manufacturerID, sizeof(ti.manufacturerID), u->manufacturer) ||
		    !field_eq(ti.model, sizeof(ti.model), u->model) ||
		    !field_eq(ti.serialNumber, sizeof(ti.serialNumber), u->serial))
			continue;
		if (found++ == 0)
			*slot = ids[i];
	}
	if (found == 0) {
		snprintf(why, whylen, "no such token present");
		return CKR_TOKEN_NOT_PRESENT;
	}
	if (found > 1) {
		snprintf(why, whylen,
		         "%lu tokens match: name one with token= or serial=", (unsigned long)found);
		return CKR_ARGUMENTS_BAD;
	}
	return CKR_OK;
}

/* Objects of class cls with the URI's label and id (either may be absent). */
static CK_RV find_objects(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                          const char *label, const uint8_t *id, size_t idlen, CK_OBJECT_HANDLE *out,
                          CK_ULONG *count)
{
	CK_ATTRIBUTE t[3];
	CK_ULONG nt = 0;
	CK_OBJECT_HANDLE h[2];
	CK_RV rv;

	t[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	if (label != NULL && label[0] != '\0')
		t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	if (id != NULL)
		t[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, idlen};
	*count = 0;
	rv = m->f->C_FindObjectsInit(s, t, nt);
	if (rv != CKR_OK)
		return rv;
	rv = m->f->C_FindObjects(s, h, 2, count);
	m->f->C_FindObjectsFinal(s);
	if (rv == CKR_OK && *count > 0)
		*out = h[0];
	return rv;
}

static CK_RV login(struct p11_key *k, CK_SESSION_HANDLE s, char *why, size_t whylen)
{
	CK_RV rv;

	if (k->pin == NULL)
		return CKR_OK;
	rv = k->m->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)k->pin, k->pin_len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		return CKR_OK;
	if (rv != CKR_OK)
		snprintf(why, whylen, "C_Login: %s", rv_name(rv));
	return rv;
}

/* A session on the key's token, logged in (m->mu held). rw: for generation. */
static CK_RV open_session(struct p11_key *k, int rw, CK_SESSION_HANDLE *s, char *why, size_t whylen)
{
	struct p11_module *m = k->m;
	CK_SLOT_ID slot = 0;
	CK_RV rv;

	rv = module_ready(m);
	if (rv != CKR_OK) {
		snprintf(why, whylen, "C_Initialize: %s", rv_name(rv));
		return rv;
	}
	rv = find_slot(m, &k->u, &slot, why, whylen);
	if (rv != CKR_OK)
		return rv;
	rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL, NULL,
	                         s);
	if (rv != CKR_OK) {
		snprintf(why, whylen, "C_OpenSession: %s", rv_name(rv));
		return rv;
	}
	rv = login(k, *s, why, whylen);
	if (rv != CKR_OK)
		m->f->C_CloseSession(*s);
	return rv;
}

/* The key's session and private key object, found again after any reset
 * (m->mu held). */
static CK_RV key_open(struct p11_key *k, char *why, size_t whylen)
{
	struct p11_module *m = k->m;
	CK_ULONG count = 0;
	CK_RV rv;

	if (k->open && k->gen == m->gen && m->live && m->pid == getpid())
		return CKR_OK;
	if (k->open && k->gen == m->gen && m->live)
		m->f->C_CloseSession(k->sess);
	k->open = 0;
	rv = open_session(k, 0, &k->sess, why, whylen);
	if (rv != CKR_OK)
		return rv;
	rv = find_objects(m, k->sess, CKO_PRIVATE_KEY, k->u.object, k->u.has_id ? k->u.id : NULL,
	                  k->u.id_len, &k->obj, &count);
	if (rv == CKR_OK && count != 1) {
		snprintf(why, whylen,
		         count == 0 ? "no such private key (or the PIN is missing)"
		                    : "more than one private key matches: add id= or object=");
		rv = count == 0 ? CKR_KEY_HANDLE_INVALID : CKR_ARGUMENTS_BAD;
	} else if (rv != CKR_OK) {
		snprintf(why, whylen, "C_FindObjects: %s", rv_name(rv));
	}
	if (rv != CKR_OK) {
		m->f->C_CloseSession(k->sess);
		return rv;
	}
	k->gen = m->gen;
	k->open = 1;
	return CKR_OK;
}

int p11_key_sign(struct p11_key *k, CK_MECHANISM_TYPE mech, const uint8_t *in, size_t inlen,
                 uint8_t *out, size_t *outlen, char *why, size_t whylen, int *unavailable)
{
	struct p11_module *m = k->m;
	CK_MECHANISM mc = {mech, NULL, 0};
	CK_ULONG n = 0;
	CK_RV rv = CKR_GENERAL_ERROR;
	int attempt;

	*unavailable = 0;
	why[0] = '\0';
	pthread_mutex_lock(&m->mu);
	/* Two tries: the second after a full reset of the module, which is what
	 * brings back a token whose daemon restarted (p11-kit server, a
	 * network HSM's client) or whose session the token dropped. */
	for (attempt = 0; attempt < 2; attempt++) {
		rv = key_open(k, why, whylen);
		if (rv == CKR_OK) {
			rv = m->f->C_SignInit(k->sess, &mc, k->obj);
			if (rv == CKR_OK) {
				n = (CK_ULONG)*outlen;
				rv = m->f->C_Sign(k->sess, (CK_BYTE_PTR)in, inlen, out, &n);
			}
			if (rv != CKR_OK)
				snprintf(why, whylen, "C_Sign: %s", rv_name(rv));
		}
		if (rv == CKR_OK || !rv_is_loss(rv))
			break;
		k->open = 0;
		module_reset(m);
	}
	pthread_mutex_unlock(&m->mu);
	if (rv != CKR_OK) {
		*unavailable = rv_is_loss(rv);
		ztm_log(ZTM_LOG_WARN, "pkcs11.sign_failed", "key=\"%s\" why=\"%s\"", k->desc, why);
		return -1;
	}
	*outlen = n;
	return 0;
}

/* ---- keys ------------------------------------------------------------- */

void p11_key_ref(struct p11_key *k)
{
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_SEQ_CST);
}

void p11_key_unref(struct p11_key *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_SEQ_CST) != 0)
		return;
	pthread_mutex_lock(&k->m->mu);
	if (k->open && k->gen == k->m->gen && k->m->live && k->m->pid == getpid())
		k->m->f->C_CloseSession(k->sess);
	pthread_mutex_unlock(&k->m->mu);
	OPENSSL_secure_clear_free(k->pin, k->pin_len + 1);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* The PIN: the URI's pin-source, else the caller's (key_pass_file), else
 * ZTM_PKCS11_PIN, else a prompt when allowed, else none (no login). */
static int resolve_pin(struct p11_key *k, const struct ztm_key_opts *opts, struct ztm_error *err)
{
	struct ztm_buf b;
	char typed[P11_PIN_MAX];
	const char *pin = NULL;
	int rc = -1;

	ztm_buf_init(&b, 0);
	typed[0] = '\0';
	if (k->u.pin_source[0] != '\0') {
		if (ztm_secret_read(k->u.pin_source, &b, err) != 0)
			goto out;
		pin = ztm_buf_cstr(&b);
	} else if (opts != NULL && opts->pass != NULL) {
		pin = opts->pass;
	} else if (getenv("ZTM_PKCS11_PIN") != NULL) {
		pin = getenv("ZTM_PKCS11_PIN");
	} else if (opts != NULL && opts->prompt) {
		char prompt[400];
		snprintf(prompt, sizeof(prompt), "PIN for %s: ", k->desc);
		if (EVP_read_pw_string(typed, sizeof(typed), prompt, 0) != 0) {
			ztm_error_set(err, ZTM_E_AUTH, "%s: no PIN entered", k->desc);
			goto out;
		}
		pin = typed;
	}
	if (pin != NULL) {
		k->pin_len = strlen(pin);
		k->pin = OPENSSL_secure_malloc(k->pin_len + 1);
		if (k->pin == NULL) {
			ztm_error_set(err, ZTM_E_NOMEM, "PIN");
			goto out;
		}
		memcpy(k->pin, pin, k->pin_len + 1);
	}
	rc = 0;
out:
	OPENSSL_cleanse(typed, sizeof(typed));
	ztm_buf_free(&b);
	return rc;
}

static struct p11_key *key_new(const char *uri, const struct ztm_key_opts *opts,
                               struct ztm_error *err)
{
	struct p11_key *k = calloc(1, sizeof(*k));
	const char *mod;

	if (k == NULL) {
		ztm_error_set(err, ZTM_E_NOMEM, "PKCS#11 key");
		return NULL;
	}
	k->refs = 1;
	if (ztm_p11_uri_parse(uri, &k->u, err) != 0)
		goto fail;
	ztm_p11_uri_describe(&k->u, k->desc, sizeof(k->desc));
	if (k->u.object[0] == '\0' && !k->u.has_id) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: a key URI needs object= or id=", k->desc);
		goto fail;
	}
	if (k->u.type != ZTM_P11_TYPE_ANY && k->u.type != ZTM_P11_TYPE_PRIVATE) {
		ztm_error_set(err, ZTM_E_USAGE, "%s: a key URI names a private key (type=private)",
		              k->desc);
		goto fail;
	}
	mod = k->u.module_path[0] != '\0' ? k->u.module_path : getenv("ZTM_PKCS11_MODULE");
	if (mod == NULL || mod[0] == '\0')
		mod = P11_DEFAULT_MODULE;
	k->m = module_get(mod, err);
	if (k->m == NULL || resolve_pin(k, opts, err) != 0)
		goto fail;
	return k;
fail:
	free(k);
	return NULL;
}

/* An attribute's value into a fresh buffer (m->mu held). */
static CK_RV get_attr(struct p11_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t cap, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv = m->f->C_GetAttributeValue(s, o, &a, 1);

	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > cap)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = buf;
	rv = m->f->C_GetAttributeValue(s, o, &a, 1);
	*len = a.ulValueLen;
	return rv;
}

/* The EVP_PKEY for an open key: the public half read from the token. */
static EVP_PKEY *key_build(struct p11_key *k, struct ztm_error *err)
{
	struct p11_module *m = k->m;
	uint8_t a[P11_ATTR_MAX], b[P11_ATTR_MAX], id[ZTM_P11_ID_MAX];
	size_t alen = 0, blen = 0, idlen = 0;
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE t = {CKA_KEY_TYPE, &kt, sizeof(kt)};
	CK_OBJECT_HANDLE pub = 0;
	CK_ULONG count = 0;
	char why[200];
	CK_RV rv;
	EVP_PKEY *pk = NULL;
	int nid = NID_undef;

	pthread_mutex_lock(&m->mu);
	rv = key_open(k, why, sizeof(why));
	if (rv != CKR_OK) {
		pthread_mutex_unlock(&m->mu);
		ztm_error_set(err, rv == CKR_PIN_INCORRECT ? ZTM_E_AUTH : ZTM_E_NOTFOUND, "%s: %s",
		              k->desc, why);
		return NULL;
	}
	rv = m->f->C_GetAttributeValue(k->sess, k->obj, &t, 1);
	if (rv == CKR_OK && kt == CKK_EC) {
		/* CKA_EC_POINT lives on the public key object: the one with the
		 * private key's CKA_ID (or, without one, its label). */
		rv = get_attr(m, k->sess, k->obj, CKA_EC_PARAMS, a, sizeof(a), &alen);
		if (rv == CKR_OK &&
		    get_attr(m, k->sess, k->obj, CKA_ID, id, sizeof(id), &idlen) != CKR_OK)
			idlen = 0;
		if (rv == CKR_OK)
			rv =
			    find_objects(m, k->sess, CKO_PUBLIC_KEY, idlen > 0 ? NULL : k->u.object,
			                 idlen > 0 ? id : NULL, idlen, &pub, &count);
		if (rv == CKR_OK && count != 1)
			rv = CKR_KEY_HANDLE_INVALID;
		if (rv == CKR_OK)
			rv = get_attr(m, k->sess, pub, CKA_EC_POINT, b, sizeof(b), &blen);
	} else if (rv == CKR_OK && kt == CKK_RSA) {
		rv = get_attr(m, k->sess, k->obj, CKA_MODULUS, a, sizeof(a), &alen);
		if (rv == CKR_OK)
			rv = get_attr(m, k->sess, k->obj, CKA_PUBLIC_EXPONENT, b, sizeof(b), &blen);
	}
	pthread_mutex_unlock(&m->mu);
	if (rv != CKR_OK) {
		ztm_error_set(err, ZTM_E_NOTFOUND,
		              "%s: cannot read the public key (%s; an EC key needs its public "
		              "key object with the same CKA_ID)",
		              k->desc, rv_name(rv));
		return NULL;
	}
	if (kt == CKK_EC) {
		const unsigned char *p = a;
		ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)alen);
		/* Named curves only: explicit parameters are refused (CurveBall). */
		if (oid != NULL && p == a + alen)
			nid = OBJ_obj2nid(oid);
		ASN1_OBJECT_free(oid);
		if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
			ztm_error_set(err, ZTM_E_WEAKKEY, "%s: EC key not on P-256 or P-384",
			              k->desc);
			return NULL;
		}
		pk = p11_pkey_ec(k, nid, b, blen, err);
	} else if (kt == CKK_RSA) {
		pk = p11_pkey_rsa(k, a, alen, b, blen, err);
	} else {
		ztm_error_set(err, ZTM_E_WEAKKEY, "%s: key type %lu not supported (EC, RSA)",
		              k->desc, (unsigned long)kt);
	}
	return pk;
}

EVP_PKEY *p11_load(const char *uri, const struct ztm_key_opts *opts, struct ztm_error *err)
{
	struct p11_key *k = key_new(uri, opts, err);
	EVP_PKEY *pk;

	if (k == NULL)
		return NULL;
	pk = key_build(k, err);
	p11_key_unref(k); /* the EVP_PKEY holds its own reference */
	return pk;
}

/* DER OIDs for CKA_EC_PARAMS (RFC 5480 §2.1.1.1 namedCurve). */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

/* Generates the pair inside the token (m->mu held, s read-write). */
static CK_RV generate(struct p11_key *k, CK_SESSION_HANDLE s, enum ztm_key_alg alg)
{
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ULONG bits = 3072;
	static const uint8_t e65537[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	const char *label = k->u.object;
	CK_ATTRIBUTE pub[6], priv[9];
	CK_ULONG np = 0, nv = 0;
	CK_OBJECT_HANDLE hpub, hpriv;

	pub[np++] = (CK_ATTRIBUTE){CKA_TOKEN, &t, sizeof(t)};
	pub[np++] = (CK_ATTRIBUTE){CKA_VERIFY, &t, sizeof(t)};
	pub[np++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	pub[np++] = (CK_ATTRIBUTE){CKA_ID, k->u.id, k->u.id_len};
	if (alg == ZTM_KEY_RSA3072) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[np++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pub[np++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof(e65537)};
	} else if (alg == ZTM_KEY_P384) {
		pub[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)};
	} else {
		pub[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
	}
	/* The private half never leaves the token: sensitive (its value is
	 * never revealed) and not extractable (it cannot even be wrapped). */
	priv[nv++] = (CK_ATTRIBUTE){CKA_TOKEN, &t, sizeof(t)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_PRIVATE, &t, sizeof(t)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &t, sizeof(t)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &f, sizeof(f)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_SIGN, &t, sizeof(t)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_DECRYPT, &f, sizeof(f)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_DERIVE, &f, sizeof(f)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
	priv[nv++] = (CK_ATTRIBUTE){CKA_ID, k->u.id, k->u.id_len};
	return k->m->f->C_GenerateKeyPair(s, &mech, pub, np, priv, nv, &hpub, &hpriv);
}

EVP_PKEY *p11_generate(const char *uri, enum ztm_key_alg alg, const struct ztm_key_opts *opts,
                       struct ztm_error *err)
{
	struct p11_key *k;
	struct p11_module *m;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_ULONG count = 0, c2 = 0;
	char why[200];
	CK_RV rv;
	EVP_PKEY *pk = NULL;

	if (alg != ZTM_KEY_P256 && alg != ZTM_KEY_P384 && alg != ZTM_KEY_RSA3072) {
		ztm_error_set(err, ZTM_E_USAGE,
		              "pkcs11: generates p256, p384 or rsa3072 keys, not %s",
		              ztm_key_alg_name(alg));
		return NULL;
	}
	k = key_new(uri, opts, err);
	if (k == NULL)
		return NULL;
	if (k->u.object[0] == '\0') {
		ztm_error_set(err, ZTM_E_USAGE, "%s: a new key needs a label (object=)", k->desc);
		goto out;
	}
	if (!k->u.has_id) {
		/* CKA_ID pairs the public and private objects; random when the
		 * URI gives none, so two keys never share one. */
		k->u.id_len = 16;
		k->u.has_id = 1;
		if (RAND_bytes(k->u.id, (int)k->u.id_len) != 1) {
			ztm_error_ossl(err, ZTM_E_CRYPTO, "CKA_ID");
			goto out;
		}
	}
	m = k->m;
	pthread_mutex_lock(&m->mu);
	rv = open_session(k, 1, &s, why, sizeof(why));
	if (rv == CKR_OK) {
		/* Like file:, never overwrite: no key with this label or id yet. */
		rv = find_objects(m, s, CKO_PRIVATE_KEY, k->u.object, NULL, 0, &h, &count);
		if (rv == CKR_OK)
			rv = find_objects(m, s, CKO_PRIVATE_KEY, NULL, k->u.id, k->u.id_len, &h,
			                  &c2);
		if (rv == CKR_OK && count + c2 == 0) {
			rv = generate(k, s, alg);
			if (rv != CKR_OK)
				snprintf(why, sizeof(why), "C_GenerateKeyPair: %s", rv_name(rv));
		} else if (rv != CKR_OK) {
			snprintf(why, sizeof(why), "C_FindObjects: %s", rv_name(rv));
		}
		m->f->C_CloseSession(s);
	}
	pthread_mutex_unlock(&m->mu);
	if (rv == CKR_OK && count + c2 > 0) {
		ztm_error_set(err, ZTM_E_EXISTS, "%s: a key with this label or id exists already",
		              k->desc);
		goto out;
	}
	if (rv != CKR_OK) {
		ztm_error_set(err, rv == CKR_PIN_INCORRECT ? ZTM_E_AUTH : ZTM_E_CRYPTO, "%s: %s",
		              k->desc, why);
		goto out;
	}
	ztm_p11_uri_describe(&k->u, k->desc, sizeof(k->desc));
	pk = key_build(k, err);
out:
	p11_key_unref(k);
	return pk;
}
