#!/usr/bin/env bash
# Starts a throwaway TPM 2.0 (swtpm) for the TPM tests, manufactured like a
# real one: an RSA 2048 and an ECC P-384 endorsement key (persistent at
# 0x81010001 and 0x81010016) with EK certificates in NV (0x01c00002,
# 0x01c00016), issued by a test "TPM manufacturer" CA that this script
# creates (swtpm_localca: a root CA and an intermediate that signs the EK
# certificates).
#
# Usage: swtpm_start.sh DIR [CA_DIR]
#   DIR     the TPM's directory; created. A second start on a DIR that holds
#           a manufactured TPM only restarts swtpm on it (same state, a new
#           port): tests stop and restart "the same chip" this way.
#   CA_DIR  the manufacturer CA's directory (default DIR/ca); created when it
#           holds no CA yet. Two TPMs given the same CA_DIR have EK
#           certificates from the same manufacturer; two different ones are
#           foreign to each other.
#
# Files the tests read (the interface; kept stable):
#   DIR/env                 `. DIR/env` exports TPM2TOOLS_TCTI and TPM2OPENSSL_TCTI
#   DIR/tcti                the TCTI string alone: swtpm:host=127.0.0.1,port=N
#   DIR/port                the TPM command port N (control channel: N+1)
#   DIR/swtpm.pid           the swtpm process
#   DIR/manufacturer-ca.pem the manufacturer's root CA certificate (the trust anchor)
#   DIR/manufacturer-ek-ca.pem  the intermediate that issued the EK certificates
#   DIR/ek-rsa.pem, DIR/ek-ecc.pem  the EK certificates (also in the TPM's NV)
# Exits 77 (skip) when swtpm, swtpm_setup or tpm2-tools are not installed.
set -euo pipefail
dir=${1:?usage: swtpm_start.sh DIR [CA_DIR]}
for tool in swtpm swtpm_setup swtpm_localca swtpm_ioctl certtool tpm2_getrandom openssl; do
  command -v "$tool" >/dev/null || {
    echo "swtpm_start: SKIPPED LOUDLY: $tool missing (apt-get install swtpm swtpm-tools tpm2-tools; scripts/deps.sh)" >&2
    exit 77
  }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
ca=${2:-$dir/ca}
mkdir -p "$ca"
ca=$(cd "$ca" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

# Stop a swtpm still running on DIR (a restart), keeping its state.
"$here/swtpm_stop.sh" "$dir" --keep || true

if [ ! -s "$dir/state/tpm2-00.permall" ]; then
  mkdir -p "$dir/state"
  cat >"$dir/localca.conf" <<CONF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
CONF
  cat >"$dir/localca.options" <<CONF
--platform-manufacturer ztm-test
--platform-version 2.1
--platform-model swtpm
CONF
  cat >"$dir/swtpm_setup.conf" <<CONF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $dir/localca.conf
create_certs_tool_options = $dir/localca.options
active_pcr_banks = sha256
CONF
  mkdir -p "$dir/ekcerts"
  # swtpm_localca creates the root and intermediate CA on first use (under
  # a lock in CA_DIR, so TPMs sharing a CA can be set up in parallel).
  swtpm_setup --tpm2 --tpmstate "$dir/state" --config "$dir/swtpm_setup.conf" \
    --create-ek-cert --create-platform-cert --write-ek-cert-files "$dir/ekcerts" \
    --overwrite --logfile "$dir/setup.log" >/dev/null 2>&1 ||
    { cat "$dir/setup.log" >&2; echo "swtpm_start: swtpm_setup failed" >&2; exit 1; }
  openssl x509 -inform DER -in "$dir/ekcerts/ek-rsa2048.crt" -out "$dir/ek-rsa.pem"
  openssl x509 -inform DER -in "$dir/ekcerts/ek-secp384r1.crt" -out "$dir/ek-ecc.pem"
  cp "$ca/swtpm-localca-rootca-cert.pem" "$dir/manufacturer-ca.pem"
  cp "$ca/issuercert.pem" "$dir/manufacturer-ek-ca.pem"
  for ek in rsa ecc; do
    openssl verify -CAfile "$dir/manufacturer-ca.pem" -untrusted "$dir/manufacturer-ek-ca.pem" \
      "$dir/ek-$ek.pem" >/dev/null || { echo "swtpm_start: EK $ek certificate does not verify" >&2; exit 1; }
  done
fi

# A free port pair (command N, control N+1) on 127.0.0.1. The TSS swtpm TCTI
# speaks TCP only, so no Unix socket. Another test may take a port between
# the check and the bind: then swtpm fails to start and the next pair is tried.
in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
started=0
for _ in $(seq 20); do
  port=$(( 20000 + (RANDOM % 20000) * 2 ))
  in_use "$port" || in_use $((port + 1)) && continue
  rm -f "$dir/swtpm.pid"
  if swtpm socket --tpm2 --tpmstate dir="$dir/state" \
      --server type=tcp,port="$port",bindaddr=127.0.0.1 \
      --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
      --flags not-need-init,startup-clear --daemon --pid file="$dir/swtpm.pid" \
      --log file="$dir/swtpm.log" 2>>"$dir/swtpm.log"; then
    started=1
    break
  fi
done
[ "$started" = 1 ] || { cat "$dir/swtpm.log" >&2; echo "swtpm_start: swtpm did not start" >&2; exit 1; }
tcti="swtpm:host=127.0.0.1,port=$port"
echo "$port" >"$dir/port"
echo "$tcti" >"$dir/tcti"
printf 'export TPM2TOOLS_TCTI=%s\nexport TPM2OPENSSL_TCTI=%s\n' "$tcti" "$tcti" >"$dir/env"
for _ in $(seq 50); do
  if TPM2TOOLS_TCTI=$tcti tpm2_getrandom 8 --hex >/dev/null 2>&1; then
    echo "swtpm_start: TPM 2.0 at $tcti (pid $(cat "$dir/swtpm.pid"))"
    exit 0
  fi
  sleep 0.1
done
echo "swtpm_start: the TPM at $tcti does not answer" >&2
exit 1
