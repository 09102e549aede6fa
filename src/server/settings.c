/* settings.c - ztmd's own configuration keys ([server], [tls], [store]),
 * read and checked before anything is started. */
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "ztm/batch.h"
#include "ztm/str.h"

/* "host:port"; the host may be [v6]. Port 0 asks the kernel for one (tests).
 * host has room for hostsize bytes. */
static int parse_hostport(const char *section, const char *v, char *hostbuf, size_t hostsize,
                          unsigned short *port_out, struct ztm_error *err)
{
	const char *colon = strrchr(v, ':');
	const char *host = v;
	size_t hlen;
	int port;

	if (colon == NULL || ztm_parse_int(colon + 1, 0, 65535, &port) != 0)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "[%s] listen = '%.64s': want host:port (port 0..65535)",
		                     section, v);
	hlen = (size_t)(colon - v);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= hostsize)
		return ztm_error_set(err, ZTM_E_CONFIG, "[%s] listen = '%.64s': missing host",
		                     section, v);
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	*port_out = (unsigned short)port;
	return 0;
}

static int parse_listen(const char *v, struct ztmd_settings *s, struct ztm_error *err)
{
	return parse_hostport("server", v, s->listen_host, sizeof(s->listen_host), &s->listen_port,
	                      err);
}

/* [public] listen: plain HTTP for OCSP and CRLs only (phttp.c). Absent: off. */
static int read_public(struct ztm_config *cfg, struct ztmd_settings *s, struct ztm_error *err)
{
	const char *listen;

	if (ztm_config_str(cfg, "public", "listen", NULL, &listen, err) != 0 ||
	    ztm_config_str(cfg, "public", "port_file", NULL, &s->public_port_file, err) != 0)
		return -1;
	if (listen == NULL) {
		if (s->public_port_file != NULL)
			return ztm_error_set(err, ZTM_E_CONFIG,
			                     "[public] port_file without [public] listen");
		return 0;
	}
	s->public_set = 1;
	return parse_hostport("public", listen, s->public_host, sizeof(s->public_host),
	                      &s->public_port, err);
}

int64_t ztmd_reservation_lifetime(unsigned timeout)
{
	int64_t live = 2 * (int64_t)timeout;

	if (live < ZTMD_RECONCILE_SECONDS)
		live = ZTMD_RECONCILE_SECONDS;
	return live + 60;
}

int ztmd_settings_read(struct ztm_config *cfg, struct ztmd_settings *s, struct ztm_error *err)
{
	const char *listen, *minv;
	uint64_t v;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(s, 0, sizeof(*s));
	if (cpus < 1)
		cpus = 1;
	if (ztm_config_str(cfg, "server", "listen", "127.0.0.1:8443", &listen, err) != 0 ||
	    parse_listen(listen, s, err) != 0)
		return -1;
	if (ztm_config_str(cfg, "server", "port_file", NULL, &s->port_file, err) != 0)
		return -1;
	if (ztm_config_u64(cfg, "server", "workers", (uint64_t)(cpus > 64 ? 64 : cpus), 1,
	                   ZTMD_METRICS_WORKERS, &v, err) != 0)
		return -1;
	s->workers = (unsigned)v;
	if (ztm_config_u64(cfg, "server", "max_header_bytes", 8192, 1024, 1024 * 1024, &v, err) !=
	    0)
		return -1;
	s->max_header_bytes = (size_t)v;
	if (ztm_config_u64(cfg, "server", "max_body_bytes", 65536, 0, 64 * 1024 * 1024, &v, err) !=
	    0)
		return -1;
	s->max_body_bytes = (size_t)v;
	/* A station's signed record batch (POST /api/v1/records) is capped on
	 * its own: 8 MiB holds ~7,000 typical records; ZTM_BATCH_MAX_DER (the
	 * format's own cap, 16 MiB) is the most it can be. */
	if (ztm_config_u64(cfg, "server", "max_batch_bytes", ZTM_BATCH_DEFAULT_BYTES, 1024,
	                   ZTM_BATCH_MAX_DER, &v, err) != 0)
		return -1;
	s->max_batch_bytes = (size_t)v;
	/* A firmware image uploaded for ztmd to hash (POST /api/v1/firmware/
	 * releases, application/octet-stream). libevent 2.1 reads a body whole
	 * before any handler runs, and evhttp's cap is the largest of all
	 * routes', so this bounds what any connection may make a worker hold;
	 * larger images are signed by digest (ztm firmware sign). */
	if (ztm_config_u64(cfg, "server", "max_upload_bytes", 16 * 1024 * 1024, 1024,
	                   256 * 1024 * 1024, &v, err) != 0)
		return -1;
	s->max_upload_bytes = (size_t)v;
	if (ztm_config_duration(cfg, "server", "timeout", 30, 1, 3600, &v, err) != 0)
		return -1;
	s->timeout = (unsigned)v;
	if (ztm_config_u64(cfg, "server", "max_connections", 1024, 1, 100000, &v, err) != 0)
		return -1;
	s->max_connections = (unsigned)v;
	if (ztm_config_duration(cfg, "server", "grace", 10, 0, 3600, &v, err) != 0)
		return -1;
	s->grace = (unsigned)v;
	if (read_public(cfg, s, err) != 0)
		return -1;

	if (ztm_config_str(cfg, "store", "url", NULL, &s->store_url, err) != 0)
		return -1;
	if (s->store_url == NULL)
		return ztm_error_set(err, ZTM_E_CONFIG, "[store] url is required (sqlite:/path)");

	if (ztm_config_str(cfg, "tls", "cert", NULL, &s->tls_cert, err) != 0 ||
	    ztm_config_str(cfg, "tls", "key", NULL, &s->tls_key, err) != 0 ||
	    ztm_config_str(cfg, "tls", "key_pass_file", NULL, &s->tls_key_pass_file, err) != 0 ||
	    ztm_config_str(cfg, "tls", "client_ca", NULL, &s->tls_client_ca, err) != 0 ||
	    ztm_config_str(cfg, "tls", "min_version", "1.3", &minv, err) != 0)
		return -1;
	if (s->tls_cert == NULL || s->tls_key == NULL || s->tls_client_ca == NULL)
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "[tls] cert, key and client_ca are required");
	if (strcmp(minv, "1.3") == 0)
		s->tls_min_12 = 0;
	else if (strcmp(minv, "1.2") == 0)
		s->tls_min_12 = 1;
	else
		return ztm_error_set(err, ZTM_E_CONFIG,
		                     "[tls] min_version = '%.16s': want 1.2 or 1.3", minv);
	return 0;
}
