#!/usr/bin/env bash
# The swtpm fixture itself (tests/tpm/swtpm_start.sh): a TPM 2.0 whose EK
# certificates chain to the test manufacturer CA, also from NV; a restart
# keeps the TPM's state; a second TPM from another CA is foreign; a second
# TPM from the same CA_DIR chains to the same root.
. "$(dirname "$0")/lib.sh"
command -v tpm2_nvread >/dev/null || skip "SKIPPED LOUDLY: tpm2-tools missing (scripts/deps.sh)"
cd "$T"

start_swtpm tpm
for f in env tcti port swtpm.pid manufacturer-ca.pem manufacturer-ek-ca.pem ek-rsa.pem ek-ecc.pem; do
  [ -s "tpm/$f" ] || fail "fixture file $f missing"
done
[ "$TPM2TOOLS_TCTI" = "$(cat tpm/tcti)" ] && [ "$TPM2OPENSSL_TCTI" = "$TPM2TOOLS_TCTI" ] || fail "env not sourced"
for ek in rsa ecc; do
  openssl verify -CAfile tpm/manufacturer-ca.pem -untrusted tpm/manufacturer-ek-ca.pem tpm/ek-$ek.pem >/dev/null ||
    fail "EK $ek does not chain to the manufacturer CA"
done
tpm2_nvread 0x01c00002 2>/dev/null | openssl x509 -inform DER -out nv-ek.pem || fail "EK certificate not in NV"
cmp -s <(openssl x509 -in nv-ek.pem -outform DER) <(openssl x509 -in tpm/ek-rsa.pem -outform DER) ||
  fail "NV EK certificate differs from ek-rsa.pem"
# The persistent EK is the key the certificate names.
tpm2_readpublic -c 0x81010001 -f pem -o ek-pub.pem >/dev/null 2>&1 || fail "no persistent EK at 0x81010001"
cmp -s <(openssl pkey -pubin -in ek-pub.pem -outform DER) <(openssl x509 -in tpm/ek-rsa.pem -pubkey -noout | openssl pkey -pubin -outform DER) ||
  fail "EK certificate does not certify the TPM's EK"
ok "swtpm with EK certificates (RSA, ECC) from the test manufacturer CA, in NV too"

tpm2_createprimary -C o -c primary.ctx >/dev/null 2>&1 || fail "createprimary"
tpm2_evictcontrol -C o -c primary.ctx 0x81000010 >/dev/null 2>&1 || fail "evictcontrol"
port=$(cat tpm/port)
stop_swtpm tpm
[ ! -e tpm/swtpm.pid ] || fail "pid file left"
tpm2_getrandom 4 >/dev/null 2>&1 && fail "the stopped TPM answers"
start_swtpm tpm
tpm2_readpublic -c 0x81000010 >/dev/null 2>&1 || fail "persistent key lost over a restart"
ok "stop and start keep the TPM's state (port $port -> $(cat tpm/port))"

start_swtpm other
openssl verify -CAfile tpm/manufacturer-ca.pem -untrusted tpm/manufacturer-ek-ca.pem other/ek-rsa.pem >/dev/null 2>&1 &&
  fail "a TPM from another CA chains to the first manufacturer"
start_swtpm sibling "$T/tpm/ca"
openssl verify -CAfile tpm/manufacturer-ca.pem -untrusted tpm/manufacturer-ek-ca.pem sibling/ek-rsa.pem >/dev/null ||
  fail "a TPM from the same CA_DIR does not chain"
ok "another manufacturer is foreign; the same CA_DIR is the same manufacturer"
