#!/usr/bin/env bash
# The swtpm fixture itself (tests/tpm/swtpm_start.sh): a TPM 2.0 whose EK
# certificates (RSA, ECC P-256, P-384) chain to the test manufacturer CA,
# also from NV; ZTM_SWTPM_EK=ecc has the P-256 EK only; a restart
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
# The ECC P-256 EK (TCG template L-2) at 0x81010002, its certificate at 0x01c0000a.
openssl verify -CAfile tpm/manufacturer-ca.pem -untrusted tpm/manufacturer-ek-ca.pem tpm/ek-p256.pem >/dev/null ||
  fail "EK p256 does not chain to the manufacturer CA"
openssl x509 -in tpm/ek-p256.pem -noout -text | matches 'NIST CURVE: P-256' || fail "ek-p256.pem is not P-256"
tpm2_nvread 0x01c0000a 2>/dev/null | cmp -s - <(openssl x509 -in tpm/ek-p256.pem -outform DER) ||
  fail "NV 0x01c0000a differs from ek-p256.pem"
tpm2_readpublic -c 0x81010002 -f pem -o ek256-pub.pem >/dev/null 2>&1 || fail "no persistent EK at 0x81010002"
cmp -s <(openssl pkey -pubin -in ek256-pub.pem -outform DER) <(openssl x509 -in tpm/ek-p256.pem -pubkey -noout | openssl pkey -pubin -outform DER) ||
  fail "the P-256 EK certificate does not certify the TPM's P-256 EK"
tpm2_readpublic -c 0x81010002 | matches 'fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt' ||
  fail "the P-256 EK's attributes are not template L-2's"
ok "swtpm with EK certificates (RSA, ECC P-256 and P-384) from the test manufacturer CA, in NV too"

# ZTM_SWTPM_EK=ecc: the P-256 EK only.
ZTM_SWTPM_EK=ecc start_swtpm ecconly
[ "$(tpm2_getcap handles-persistent | tr -d ' -')" = 0x81010002 ] || fail "ECC-only TPM: $(tpm2_getcap handles-persistent)"
tpm2_nvreadpublic 0x01c00002 >/dev/null 2>&1 && fail "ECC-only TPM has an RSA EK certificate"
tpm2_nvreadpublic 0x01c0000a >/dev/null 2>&1 || fail "ECC-only TPM has no P-256 EK certificate"
[ -s ecconly/ek-p256.pem ] && [ ! -e ecconly/ek-rsa.pem ] || fail "ECC-only TPM files"
eval "$(cat tpm/env)"
ok "ZTM_SWTPM_EK=ecc: a TPM with the ECC P-256 EK only"

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
