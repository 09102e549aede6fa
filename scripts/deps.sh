#!/usr/bin/env bash
# Installs the Debian 12 packages ztm needs to build and test, only those missing.
# Used by scripts/demo and scripts/test; safe to run again.
set -euo pipefail

# clang + libclang-rt-14-dev: the sanitizer and libFuzzer builds (the runtime
# is only a Recommends of clang, and we install without recommends);
# curl, openssl, sqlite3, xxd: the end-to-end tests use them as independent tools;
# mosquitto + mosquitto-clients: the real MQTT broker of tests/e2e/mqtt.sh;
# libp11-kit-dev: pkcs11.h for the pkcs11: key backend (modules are dlopen()ed);
# softhsm2, opensc (pkcs11-tool), p11-kit + p11-kit-modules (`p11-kit server`
# and its client module): the HSM tests (tests/e2e/hsm.sh, docs/hsm.md);
# libpq-dev: the PostgreSQL store backend; postgresql (server and psql): the
# throwaway servers of the pg/ tests and tests/e2e/pg_*.sh (tests/pg/pg_start.sh
# runs initdb itself; the Debian cluster the package creates is not used);
# libtss2-dev, tpm2-openssl (the "tpm2" OpenSSL 3 provider): TPM 2.0 keys of
# devices and stations (docs/tpm.md); swtpm + swtpm-tools (swtpm_setup,
# swtpm_localca; gnutls-bin's certtool is a dependency) and tpm2-tools: the
# throwaway TPMs of the TPM tests (tests/tpm/swtpm_start.sh).
need=(build-essential cmake pkg-config clang libclang-rt-14-dev llvm libssl-dev openssl
      libevent-dev libsqlite3-dev sqlite3 libjansson-dev libcbor-dev libcmocka-dev libgfshare-dev
      curl ca-certificates xxd mosquitto mosquitto-clients
      libp11-kit-dev softhsm2 opensc p11-kit p11-kit-modules libpq-dev postgresql
      libtss2-dev tpm2-openssl swtpm swtpm-tools tpm2-tools)

missing=()
for p in "${need[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ztm: installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
