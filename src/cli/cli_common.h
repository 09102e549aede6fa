/* cli_common.h - what the command groups share: the connection options,
 * JSON calls to the admin API, and error reporting. */
#ifndef ZTM_CLI_COMMON_H
#define ZTM_CLI_COMMON_H

#include <getopt.h>
#include <jansson.h>

#include "client.h"
#include "commands.h"

/* getopt_long entries for --server --ca --cert --key --key-pass-file;
 * values 1000..1004. */
#define CLI_CONN_OPTIONS                                                                           \
	{"server", required_argument, NULL, 1000}, {"ca", required_argument, NULL, 1001},          \
	    {"cert", required_argument, NULL, 1002}, {"key", required_argument, NULL, 1003},       \
	{                                                                                          \
		"key-pass-file", required_argument, NULL, 1004                                     \
	}

#define CLI_CONN_USAGE                                                                             \
	"connection (or env ZTM_SERVER, ZTM_CA, ZTM_CERT, ZTM_KEY, ZTM_KEY_PASS_FILE):\n"          \
	"  --server https://HOST:PORT  --ca CHAIN.pem  --cert OPERATOR.crt\n"                      \
	"  --key KEY-URI  --key-pass-file FILE\n"

/* Takes a connection option; 1 if c was one, 0 if not. */
int cli_conn_option(int c, struct ztm_client_opts *o);
/* Prints "ztm <cmd>: <message>" and returns ZTM_EXIT_FAIL. */
int cli_fail(const char *cmd, const struct ztm_error *err);
/* POSTs a JSON object to the admin API (taking the reference to body); on
 * 2xx returns the parsed reply (caller json_decref's), else NULL with err
 * from the server's JSON error. */
/* POSTs len bytes of content_type; the JSON reply as cli_post_json. */
json_t *cli_post_body(const struct ztm_client_opts *o, const char *path, const char *content_type,
                      const void *body, size_t len, struct ztm_error *err);
json_t *cli_post_json(const struct ztm_client_opts *o, const char *path, json_t *body,
                      struct ztm_error *err);
json_t *cli_get_json(const struct ztm_client_opts *o, const char *path, struct ztm_error *err);
/* A time option for the admin API: digits become a JSON integer (Unix
 * seconds; the server checks the range), anything else a string (the
 * server parses RFC 3339). */
json_t *cli_json_time(const char *s);

int cmd_factory(int argc, char **argv);
int cmd_station(int argc, char **argv);
int cmd_operator(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_product(int argc, char **argv);
int cmd_order(int argc, char **argv);
int cmd_owner(int argc, char **argv);
/* `ztm device list|show|transfer` (owner_cmd.c) and `ztm device
 * revoke|suspend|resume` (revoke_cmd.c), called by cmd_device. */
int cli_device_owned(int argc, char **argv);
int cli_device_revocation(int argc, char **argv);
/* `ztm device ...` (device_cmd.c). */
int cmd_device(int argc, char **argv);
/* revoke_cmd.c */
int cmd_cert(int argc, char **argv);
int cmd_revocation(int argc, char **argv);
/* `ztm firmware ...` (firmware_cmd.c). */
int cmd_firmware(int argc, char **argv);
/* `ztm demo` (demo.c). */
int cmd_demo(int argc, char **argv);

#endif
