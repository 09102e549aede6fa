/* serial.c - 17-octet positive random serials (DESIGN.md I2). */
#include "ztm/serial.h"

#include <openssl/rand.h>
#include <string.h>

#include "ztm/str.h"

int ztm_serial_new(uint8_t out[ZTM_SERIAL_LEN], struct ztm_error *err)
{
	uint8_t tmp[ZTM_SERIAL_LEN];

	tmp[0] = ZTM_SERIAL_PREFIX;
	if (RAND_bytes(tmp + 1, ZTM_SERIAL_LEN - 1) != 1)
		return ztm_error_ossl(err, ZTM_E_CRYPTO, "serial: CSPRNG failed");
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

void ztm_serial_hex(const uint8_t serial[ZTM_SERIAL_LEN], char out[ZTM_SERIAL_HEXLEN])
{
	ztm_hex(serial, ZTM_SERIAL_LEN, out);
}
