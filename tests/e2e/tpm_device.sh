#!/usr/bin/env bash
# A device whose key lives in a TPM 2.0 (swtpm; docs/tpm.md): `ztm-device
# init --key tpm` generates the key inside the TPM and keeps only its blob
# (key.tpm, TSS2 PRIVATE KEY), whose public area (tpm2_print, not ztm) says
# fixedTPM|fixedParent|sensitiveDataOrigin: the private key never leaves the
# TPM. The bootstrap certificate, the CSRs and the TLS client authentication
# are signed by the TPM: the device is recorded by a station, registers
# through ztmd's normal vetting, activates, renews and re-keys (the new key
# born in the TPM too). The blob is useless elsewhere: OpenSSL without the
# tpm2 provider cannot read it, another TPM cannot load it, and with the TPM
# stopped the agent fails with a clear error (no crash) and works again once
# it is back. No TPM object is left loaded behind the agent.
. "$(dirname "$0")/lib.sh"
command -v tpm2_print >/dev/null || skip "SKIPPED LOUDLY: tpm2-tools missing (scripts/deps.sh)"
[ -e /usr/lib/x86_64-linux-gnu/ossl-modules/tpm2.so ] || ls /usr/lib/*/ossl-modules/tpm2.so >/dev/null 2>&1 ||
  skip "SKIPPED LOUDLY: the tpm2 OpenSSL provider is missing: apt-get install tpm2-openssl (scripts/deps.sh)"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077
start_swtpm tpm

# attrs BLOB: the TPM object attributes of a TSS2 blob's public area.
attrs() {
  local off
  off=$(openssl asn1parse -in "$1" | awk '/OCTET STRING/ { sub(/:.*/, "", $1); print $1; exit }')
  openssl asn1parse -in "$1" -strparse "$off" -noout -out "$1.pub" >/dev/null || return 1
  tpm2_print -t TPM2B_PUBLIC "$1.pub" | sed -n '/^attributes:/,/raw:/s/^ *value: //p'
}
spki_cert() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
transient() { tpm2_getcap handles-transient | grep -c '0x' || true; }

# --- manufacture: the key is born in the TPM -------------------------------------
"$DEV" init --dir d1 --serial SN-T1 --product widget --key tpm >init.out 2>err || fail "init --key tpm: $(cat err)"
grep -q '^key: tpm$' init.out || fail "init status: $(cat init.out)"
[ ! -e d1/key.pem ] || fail "a software key.pem was written"
head -1 d1/key.tpm | matches -- '-----BEGIN TSS2 PRIVATE KEY-----' || fail "key.tpm is not a TSS2 blob"
[ "$(stat -c %a d1/key.tpm)" = 600 ] || fail "key.tpm mode"
grep -qx 'key=tpm2:key.tpm' d1/state && grep -qx 'key_protection=tpm' d1/state || fail "state: $(cat d1/state)"
a=$(attrs d1/key.tpm) || fail "cannot read the blob's public area"
for want in fixedtpm fixedparent sensitivedataorigin sign; do
  grep -qw "$want" <<<"${a//|/ }" || fail "attribute $want missing: $a"
done
openssl verify -x509_strict -purpose sslclient -CAfile d1/bootstrap.pem d1/bootstrap.pem >/dev/null ||
  fail "the bootstrap certificate (signed in the TPM) does not verify"
"$DEV" status --dir d1 | matches '^key: tpm$' || fail "status does not say tpm"
[ "$(transient)" = 0 ] || fail "TPM objects left loaded after init: $(tpm2_getcap handles-transient)"
ok "init --key tpm: TSS2 blob only, fixedTPM|fixedParent|sensitiveDataOrigin; bootstrap certificate signed in the TPM"

# Not exportable, not usable without this TPM.
openssl pkey -in d1/key.tpm -noout 2>/dev/null && fail "plain OpenSSL read the TPM blob"
rc=0; "$DEV" init --dir d9 --serial SN-T9 --product widget --key tpm --pass-file /dev/null 2>err || rc=$?
[ $rc != 0 ] || fail "init --key tpm with a passphrase file accepted"
printf 'a device passphrase\n' >dev.pass
rc=0; "$DEV" init --dir d9 --serial SN-T9 --product widget --key tpm --pass-file dev.pass 2>err || rc=$?
[ $rc = 1 ] && grep -q 'a TPM key takes no passphrase' err || fail "TPM key with a passphrase: $rc $(cat err)"
[ ! -e d9/state ] && [ ! -e d9/key.tpm ] || fail "a refused init left files"
rc=0; "$DEV" init --dir d9 --serial SN-T9 --product widget --key hsm 2>err || rc=$?
[ $rc = 2 ] || fail "--key hsm: exit $rc"
ok "plain OpenSSL cannot read the blob; a passphrase or an unknown --key is refused"

# --- register through the normal vetting --------------------------------------------
ceremony_and_server
start_ztmd
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --lifetime-days 1 \
  --renew-window-days 7 >/dev/null 2>err || fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)
dev() { "$DEV" "$1" --dir "$2" --server "$ZTM_SERVER" --ca "$ZTM_CA" "${@:3}"; }

rc=0; dev enroll d1 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: unrecorded' err || fail "unrecorded TPM device: $rc $(cat err)"
"$ZTM" station record --queue q --bootstrap-cert d1/bootstrap.pem --serial SN-T1 --product widget \
  --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
  2>err || fail "record: $(cat err)"
"$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync: $(cat err)"
dev enroll d1 >/dev/null 2>err || fail "enroll: $(cat err)"
dev activate d1 >/dev/null 2>err || fail "activate (TLS with the TPM key and the operational certificate): $(cat err)"
"$DEV" status --dir d1 >st.out
grep -q '^state: active$' st.out && grep -q '^key: tpm$' st.out || fail "status: $(cat st.out)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-T1'")" = active ] || fail "store: not active"
[ "$(spki_cert d1/device.pem)" = "$(spki_cert d1/bootstrap.pem)" ] || fail "the certificate is not for the TPM key"
openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$T/ceremony/ca/device.crt" d1/device.pem \
  >/dev/null 2>&1 || fail "the operational certificate does not verify"
[ "$(transient)" = 0 ] || fail "TPM objects left loaded: $(tpm2_getcap handles-transient)"
ok "unrecorded: refused; recorded: enrolls (CSR and mTLS signed in the TPM), activates; store active"

# --- renew, then re-key inside the TPM ---------------------------------------------------
blob=$(sha256sum <d1/key.tpm)
old=$(openssl x509 -in d1/device.pem -noout -serial)
dev renew d1 >/dev/null 2>err || fail "renew: $(cat err)"
[ "$(openssl x509 -in d1/device.pem -noout -serial)" != "$old" ] || fail "renew: same certificate"
[ "$(sha256sum <d1/key.tpm)" = "$blob" ] || fail "renew changed the key"
key_before=$(spki_cert d1/device.pem)
dev renew d1 --rekey >/dev/null 2>err || fail "renew --rekey: $(cat err)"
[ "$(sha256sum <d1/key.tpm)" != "$blob" ] || fail "rekey kept the old blob"
[ ! -e d1/key.new.tpm ] && [ ! -e d1/key.pem ] && [ ! -e d1/key.new.pem ] || fail "rekey left files: $(ls d1)"
head -1 d1/key.tpm | matches 'TSS2 PRIVATE KEY' || fail "the new key is not a TPM key"
a=$(attrs d1/key.tpm) && grep -q fixedtpm <<<"$a" || fail "new key attributes: $a"
[ "$(spki_cert d1/device.pem)" != "$key_before" ] || fail "rekey: the certificate is for the old key"
dev activate d1 >/dev/null 2>err || fail "whoami after rekey: $(cat err)"
grep -qx 'key=tpm2:key.tpm' d1/state || fail "state after rekey: $(cat d1/state)"
[ "$(transient)" = 0 ] || fail "TPM objects left loaded: $(tpm2_getcap handles-transient)"
ok "renew (same TPM key) and re-key (a new key generated in the TPM) install certificates that work"

# --- the blob without its TPM ----------------------------------------------------------
# Another TPM (another manufacturer, another owner seed) cannot load it.
cp -r d1 d1-elsewhere
tpm_env=$(cat tpm/env)
start_swtpm other
rc=0; dev activate d1-elsewhere >/dev/null 2>err || rc=$?
[ $rc = 1 ] && grep -q 'the TPM cannot load the blob' err || fail "another TPM: $rc $(cat err)"
stop_swtpm other
eval "$tpm_env"
# This TPM stopped: a clear error, no crash, the device unchanged.
cp d1/state state.before
stop_swtpm tpm
rc=0; dev renew d1 >/dev/null 2>err || rc=$?
[ $rc = 1 ] && grep -q 'TPM: cannot open it' err || fail "TPM stopped: exit $rc: $(cat err)"
cmp -s state.before d1/state || fail "a failed renew changed the state"
rc=0; "$DEV" init --dir d8 --serial SN-T8 --product widget --key tpm 2>err || rc=$?
[ $rc = 1 ] && grep -q 'TPM: cannot open it' err || fail "init without TPM: exit $rc: $(cat err)"
[ ! -e d8/state ] || fail "init without TPM left a state file"
"$DEV" status --dir d1 | matches '^key: tpm$' || fail "status needs no TPM"
start_swtpm tpm
dev activate d1 >/dev/null 2>err || fail "after the TPM came back: $(cat err)"
ok "another TPM cannot load the blob; with the TPM stopped: clear errors, nothing changed; back: works"
