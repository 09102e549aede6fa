/* est_ops.h - one EST enrollment in flight (see est.c for the sequence). */
#ifndef ZTMD_EST_OPS_H
#define ZTMD_EST_OPS_H

#include "app_int.h"
#include "ztm/csr.h"
#include "ztm/serial.h"

enum est_kind { EST_BY_CODE, EST_BY_CERT };

struct est_op {
	struct ztmd_app *app;
	enum est_kind kind;
	struct ztm_csr csr;
	uint8_t code_hash[32];               /* EST_BY_CODE */
	struct ztmd_peer peer;               /* EST_BY_CERT */
	char old_serial[ZTM_SERIAL_HEX_MAX]; /* EST_BY_CERT */
	/* Filled by the claim job. */
	enum app_ca_id ca;
	char owner_kind[16];
	int64_t owner_id;
	char cn[65], ou[65];
	int existing; /* a retry: cert holds the earlier certificate */
	uint8_t serial[ZTM_SERIAL_LEN];
	struct ztm_cert_row row;
	struct ztm_buf cert;       /* DER */
	struct ztm_error sign_err; /* why signing failed */
};

/* Parses and verifies the CSR; NULL with err (400-class) on bad input. */
struct est_op *est_op_new(struct ztmd_app *app, const struct ztm_buf *der, struct ztm_error *err);
void est_op_free(struct est_op *op);
/* Runs the claim/reserve -> sign -> issue sequence and replies. Takes op. */
void est_op_start(struct ztmd_req *r, struct est_op *op);

#endif
