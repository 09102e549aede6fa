/* serial.c - 17-octet positive random serials (DESIGN.md I2).
 *
 * The 16 random octets of a serial come from a per-thread buffer filled by
 * one RAND_bytes call per 64 serials. OpenSSL 3.0's RAND_bytes costs ~3 us
 * whatever the length (a DRBG generate and reseed check, the AES key set up
 * again for the CTR_DRBG update), which was ~2.6 % of an issuance with the
 * key in SoftHSM2 (docs/benchmarks.md, "Issuance with the key in an HSM");
 * 1 KiB costs about the same. The bytes are the same CSPRNG output, used
 * once each, so a serial is as unpredictable as before to anyone who cannot
 * read the process's memory (who could then read its keys too).
 *
 * A fork copies the buffer: parent and child would hand out the same
 * serials. A pthread_atfork child handler bumps a generation number, and a
 * buffer filled under another generation is thrown away before use
 * (tests/unit/test_issue.c, test_serials_fork).
 */
#include "ztm/serial.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "ztm/str.h"

#define SERIAL_RAND    (ZTM_SERIAL_LEN - 1)
#define SERIALS_BUFFER 64

struct serial_pool {
	uint8_t bytes[SERIALS_BUFFER * SERIAL_RAND];
	size_t used; /* octets handed out; sizeof(bytes) when empty */
	unsigned gen;
};

static _Thread_local struct serial_pool pool = {.used = sizeof(pool.bytes)};
static unsigned fork_gen;
static int atfork_ok;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
	fork_gen++;
}

static void register_atfork(void)
{
	atfork_ok = pthread_atfork(NULL, NULL, after_fork_child) == 0;
}

static int pool_take(uint8_t out[SERIAL_RAND])
{
	pthread_once(&atfork_once, register_atfork);
	/* Without the fork handler a buffer is not safe: no buffer then. */
	if (!atfork_ok)
		return RAND_bytes(out, SERIAL_RAND) == 1 ? 0 : -1;
	if (pool.gen != fork_gen || pool.used + SERIAL_RAND > sizeof(pool.bytes)) {
		pool.used = sizeof(pool.bytes);
		if (RAND_bytes(pool.bytes, (int)sizeof(pool.bytes)) != 1)
			return -1;
		pool.used = 0;
		pool.gen = fork_gen;
	}
	memcpy(out, pool.bytes + pool.used, SERIAL_RAND);
	pool.used += SERIAL_RAND;
	return 0;
}

int ztm_serial_new(uint8_t out[ZTM_SERIAL_LEN], struct ztm_error *err)
{
	uint8_t tmp[ZTM_SERIAL_LEN];

	tmp[0] = ZTM_SERIAL_PREFIX;
	if (pool_take(tmp + 1) != 0)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "serial: CSPRNG failed");
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

void ztm_serial_hex(const uint8_t serial[ZTM_SERIAL_LEN], char out[ZTM_SERIAL_HEXLEN])
{
	ztm_hex(serial, ZTM_SERIAL_LEN, out);
}
