#!/usr/bin/env bash
# Starts a throwaway TPM 2.0 (swtpm) for the TPM tests, manufactured like a
# real one: endorsement keys with EK certificates in NV, issued by a test
# "TPM manufacturer" CA that this script creates (swtpm_localca: a root CA
# and an intermediate that signs the EK certificates):
#   RSA 2048 (TCG template L-1)  persistent 0x81010001, certificate NV 0x01c00002
#   ECC P-256 (TCG template L-2) persistent 0x81010002, certificate NV 0x01c0000a
#   ECC P-384 (swtpm's own)      persistent 0x81010016, certificate NV 0x01c00016
# swtpm_setup makes the RSA and P-384 ones; the P-256 one is added here
# (tpm2_createek, swtpm_localca, tpm2_nvdefine with platform auth), as many
# TPMs ship it. ZTM_SWTPM_EK=ecc makes a TPM with the P-256 EK only (the
# others evicted and their certificates undefined), like a TPM that ships
# no RSA EK.
#
# Usage: [ZTM_SWTPM_EK=all|ecc] swtpm_start.sh DIR [CA_DIR]
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
#   DIR/ek-rsa.pem, DIR/ek-ecc.pem  the RSA and P-384 EK certificates (also in
#                           the TPM's NV; absent with ZTM_SWTPM_EK=ecc)
#   DIR/ek-p256.pem         the P-256 EK certificate (also in NV 0x01c0000a)
# Exits 77 (skip) when swtpm, swtpm_setup or tpm2-tools are not installed.
set -euo pipefail
dir=${1:?usage: swtpm_start.sh DIR [CA_DIR]}
ek_mode=${ZTM_SWTPM_EK:-all}
case $ek_mode in all|ecc) ;; *) echo "swtpm_start: ZTM_SWTPM_EK=all|ecc, not '$ek_mode'" >&2; exit 2;; esac
for tool in swtpm swtpm_setup swtpm_localca swtpm_ioctl certtool tpm2_getrandom tpm2_createek \
  tpm2_nvdefine openssl; do
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

fresh=0
if [ ! -s "$dir/state/tpm2-00.permall" ]; then
  fresh=1
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
in_use() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
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
up=0
for _ in $(seq 50); do
  if TPM2TOOLS_TCTI=$tcti tpm2_getrandom 8 --hex >/dev/null 2>&1; then
    up=1
    break
  fi
  sleep 0.1
done
[ "$up" = 1 ] || { echo "swtpm_start: the TPM at $tcti does not answer" >&2; exit 1; }
export TPM2TOOLS_TCTI=$tcti

# The ECC P-256 EK of the TCG template L-2 and its certificate, on the first
# start only (a restart keeps the TPM as it was).
if [ "$fresh" = 1 ]; then
  step() { "$@" >>"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; echo "swtpm_start: $* failed" >&2; exit 1; }; }
  step tpm2_createek -c 0x81010002 -G ecc -u "$dir/ekcerts/ek-p256.pub" -f pem
  xy=$(openssl pkey -pubin -in "$dir/ekcerts/ek-p256.pub" -outform DER | tail -c 64 | od -An -tx1 -v | tr -d ' \n')
  mkdir -p "$dir/ekcerts/p256"
  step swtpm_localca --type ek --ek "x=${xy:0:64},y=${xy:64:64}" --dir "$dir/ekcerts/p256" --vmid ztm-test \
    --optsfile "$dir/localca.options" --configfile "$dir/localca.conf" --tpm-spec-family 2.0 \
    --tpm-spec-revision 164 --tpm-spec-level 0 --tpm-manufacturer id:00001014 --tpm-model swtpm \
    --tpm-version id:20191023 --tpm2 --logfile "$dir/setup.log"
  cert=$dir/ekcerts/p256/ek.cert
  # The attributes swtpm_setup gives its EK certificate indices.
  step tpm2_nvdefine 0x01c0000a -C p -s "$(stat -c %s "$cert")" \
    -a "ppwrite|writedefine|ppread|ownerread|authread|no_da|platformcreate"
  step tpm2_nvwrite 0x01c0000a -C p -i "$cert"
  step tpm2_nvwritelock 0x01c0000a -C p
  openssl x509 -inform DER -in "$cert" -out "$dir/ek-p256.pem"
  openssl verify -CAfile "$dir/manufacturer-ca.pem" -untrusted "$dir/manufacturer-ek-ca.pem" \
    "$dir/ek-p256.pem" >/dev/null || { echo "swtpm_start: EK p256 certificate does not verify" >&2; exit 1; }
  if [ "$ek_mode" = ecc ]; then
    for h in 0x81010001 0x81010016; do step tpm2_evictcontrol -C o -c $h; done
    for i in 0x01c00002 0x01c00016; do step tpm2_nvundefine -C p $i; done
    rm -f "$dir/ek-rsa.pem" "$dir/ek-ecc.pem"
  fi
  echo "$ek_mode" >"$dir/ek-mode"
fi
echo "swtpm_start: TPM 2.0 at $tcti (pid $(cat "$dir/swtpm.pid"), EKs: $(cat "$dir/ek-mode" 2>/dev/null || echo all))"
exit 0
