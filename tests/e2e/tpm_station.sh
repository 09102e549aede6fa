#!/usr/bin/env bash
# A station whose key is in a TPM 2.0 (swtpm; docs/tpm.md): `ztm station
# enroll --key tpm2:FILE` generates the key inside the TPM and keeps its
# blob (fixedTPM|fixedParent|sensitiveDataOrigin, per tpm2_print); the
# enrollment CSR and TLS client authentication are signed in the TPM; the
# station records a device and syncs the batch, signed by the TPM key, and
# ztmd accepts it: the device then registers. The blob is useless without
# the TPM: plain OpenSSL cannot read it, and with the TPM stopped a sync
# fails with a clear error and sends nothing.
. "$(dirname "$0")/lib.sh"
command -v tpm2_print >/dev/null || skip "SKIPPED LOUDLY: tpm2-tools missing (scripts/deps.sh)"
ls /usr/lib/*/ossl-modules/tpm2.so >/dev/null 2>&1 ||
  skip "SKIPPED LOUDLY: the tpm2 OpenSSL provider is missing: apt-get install tpm2-openssl (scripts/deps.sh)"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077
start_swtpm tpm
ceremony_and_server
start_ztmd

attrs() {
  local off
  off=$(openssl asn1parse -in "$1" | awk '/OCTET STRING/ { sub(/:.*/, "", $1); print $1; exit }')
  openssl asn1parse -in "$1" -strparse "$off" -noout -out "$1.pub" >/dev/null || return 1
  tpm2_print -t TPM2B_PUBLIC "$1.pub" | sed -n '/^attributes:/,/raw:/s/^ *value: //p'
}

# --- enroll with a key born in the TPM ---------------------------------------------
"$ZTM" factory add --name plant-1 >/dev/null 2>&1 || fail "factory add"
"$ZTM" station add --factory plant-1 --name line-1 >line-1.code 2>/dev/null || fail "station add"
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "tpm2:$T/line-1.tpm" \
  --out line-1.crt 2>err || fail "station enroll with a TPM key: $(cat err)"
head -1 line-1.tpm | matches -- '-----BEGIN TSS2 PRIVATE KEY-----' || fail "line-1.tpm is not a TSS2 blob"
[ "$(stat -c %a line-1.tpm)" = 600 ] || fail "blob mode"
a=$(attrs line-1.tpm) || fail "cannot read the blob's public area"
for want in fixedtpm fixedparent sensitivedataorigin sign; do
  grep -qw "$want" <<<"${a//|/ }" || fail "attribute $want missing: $a"
done
openssl pkey -in line-1.tpm -noout 2>/dev/null && fail "plain OpenSSL read the TPM blob"
openssl verify -CAfile "$ZTM_CA" line-1.crt >/dev/null 2>&1 || fail "station certificate does not verify"
[ "$(tpm2_getcap handles-transient | grep -c 0x || true)" = 0 ] || fail "TPM objects left loaded"
ok "station enroll: key generated in the TPM (fixedTPM|fixedParent|sensitiveDataOrigin), certificate issued"

# A retried enrollment reuses the blob (the same key, DESIGN I3), never a new one over it.
blob=$(sha256sum <line-1.tpm)
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "tpm2:$T/line-1.tpm" \
  --out x.crt 2>err || fail "retried enroll: $(cat err)"
[ "$(sha256sum <line-1.tpm)" = "$blob" ] || fail "the blob was replaced"
cmp -s <(openssl x509 -in x.crt -noout -pubkey) <(openssl x509 -in line-1.crt -noout -pubkey) ||
  fail "the retried enrollment certified another key"
rc=0; "$ZTM" station sync --queue q --cert line-1.crt --key "tpm2:$T/line-1.tpm?pass=file:/x" 2>err || rc=$?
[ $rc != 0 ] && grep -q 'no query or fragment' err || fail "tpm2: URI with a query: $rc $(cat err)"
ok "a retried enroll reuses the TPM key; a tpm2: URI with a query is refused"

# --- record and sync a batch signed in the TPM -------------------------------------
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)
record() {
  "$ZTM" station record --queue q --bootstrap-cert "$1/bootstrap.pem" --serial "$2" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $1: $(cat err)"
}
"$DEV" init --dir d1 --serial SN-S1 --product widget >/dev/null || fail "init d1"
record d1 SN-S1
"$ZTM" station sync --queue q --cert line-1.crt --key "tpm2:$T/line-1.tpm" >sync.out 2>err ||
  fail "sync with the TPM key: $(cat err)"
[ "$(db "SELECT count(*) FROM records r JOIN stations s ON s.id = r.station_id
         WHERE s.name = 'line-1' AND r.serial = 'SN-S1'")" = 1 ] ||
  fail "ztmd did not store the record: $(db "SELECT serial, station_id FROM records")"
"$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err ||
  fail "the device recorded by the TPM station does not register: $(cat err)"
ok "record + sync: ztmd accepts the batch signed in the TPM; the device registers"

# --- without the TPM --------------------------------------------------------------------
"$DEV" init --dir d2 --serial SN-S2 --product widget >/dev/null || fail "init d2"
record d2 SN-S2
stop_swtpm tpm
rc=0; "$ZTM" station sync --queue q --cert line-1.crt --key "tpm2:$T/line-1.tpm" >/dev/null 2>err || rc=$?
[ $rc != 0 ] && grep -q 'cannot open the TPM' err || fail "sync without the TPM: exit $rc: $(cat err)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-S2'")" = 0 ] || fail "a record arrived without the TPM"
start_swtpm tpm
"$ZTM" station sync --queue q --cert line-1.crt --key "tpm2:$T/line-1.tpm" >/dev/null 2>err ||
  fail "sync after the TPM came back: $(cat err)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-S2'")" = 1 ] || fail "the queued record was not synced"
ok "TPM stopped: sync fails clearly, nothing sent; TPM back: the queued record syncs"
