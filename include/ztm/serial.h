/* ztm/serial.h - certificate serial numbers (DESIGN.md I2).
 *
 * A serial is 17 octets: one fixed prefix octet, then 16 bytes from the
 * CSPRNG. The prefix has its high bit clear (the INTEGER stays positive, so
 * DER adds no 0x00) and is non-zero (DER never strips it), so every serial
 * encodes as exactly 17 content octets.
 */
#ifndef ZTM_SERIAL_H
#define ZTM_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "ztm/err.h"

#define ZTM_SERIAL_LEN    17
#define ZTM_SERIAL_PREFIX 0x5a
#define ZTM_SERIAL_HEXLEN (2 * ZTM_SERIAL_LEN + 1)

/* 0, or -1 with ZTM_E_CRYPTO if the CSPRNG fails (out untouched then). */
int ztm_serial_new(uint8_t out[ZTM_SERIAL_LEN], struct ztm_error *err);
/* Lower-case hex, 34 chars + NUL. */
void ztm_serial_hex(const uint8_t serial[ZTM_SERIAL_LEN], char out[ZTM_SERIAL_HEXLEN]);

#endif
