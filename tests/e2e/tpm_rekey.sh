#!/usr/bin/env bash
# TPM key attestation on re-key (docs/attestation.md "Re-key"), against
# swtpm: a device of a key_storage = tpm product that re-enrolls with a new
# key (simplereenroll) must prove the new key is in the TPM that attested
# its registration, as registration does.
#   - registration records the attesting EK certificate's hash with the device;
#   - a same-key renewal needs no attestation (no challenge made);
#   - `ztm-device renew --rekey` of a TPM device makes the new key in the TPM,
#     asks the challenge with its operational certificate, and re-keys;
#     the challenge is used once and is bound to the current key;
#   - the re-key's evidence sent again for another new key:
#     attest_wrong_qualifying_data, nothing issued;
#   - a re-key with a software key under key_storage = tpm: 403
#     attest_missing (ztm-device, and curl: the EST error body), audited,
#     nothing issued, the device's key unchanged; its same-key renewal still
#     works;
#   - a re-key whose evidence comes from another EK (the TPM's RSA EK
#     certificate removed, so the device attests with its P-256 EK: for the
#     server another TPM): 403 attest_other_ek, alert, nothing issued;
#   - key_storage = any: a software device re-keys without evidence as before.
. "$(dirname "$0")/lib.sh"
command -v tpm2_print >/dev/null || skip "SKIPPED LOUDLY: tpm2-tools missing (scripts/deps.sh)"
ls /usr/lib/*/ossl-modules/tpm2.so >/dev/null 2>&1 ||
  skip "SKIPPED LOUDLY: the tpm2 OpenSSL provider is missing: apt-get install tpm2-openssl (scripts/deps.sh)"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077
start_swtpm tpm

ceremony_and_server
cat tpm/manufacturer-ca.pem tpm/manufacturer-ek-ca.pem >ek-roots.pem
printf '\n[attestation]\nek_roots = %s\n' "$T/ek-roots.pem" >>srv/ztmd.conf
start_ztmd
enrolled_station plant-1 line-1
# Lifetime 1 day, window 7: a certificate may renew at once.
"$ZTM" product add --name sensor-tpm --class sensor --hw-type 1.3.6.1.4.1.99999.8 --key-storage tpm \
  --lifetime-days 1 --renew-window-days 7 >/dev/null 2>err || fail "product add sensor-tpm: $(cat err)"
for p in sensor-any sensor-move; do
  "$ZTM" product add --name $p --class sensor --hw-type 1.3.6.1.4.1.99999.9 --lifetime-days 1 \
    --renew-window-days 7 >/dev/null 2>err || fail "product add $p: $(cat err)"
done
for p in sensor-tpm sensor-any sensor-move; do
  "$ZTM" order add --name "WO-$p" --product "$p" --factory plant-1 --quota 10 \
    --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
done

record() { record_and_sync "$@"; } # lib.sh
dev() { "$DEV" "$1" --dir "$2" --server "$ZTM_SERVER" --ca "$ZTM_CA" "${@:3}"; }
alerts() { db "SELECT count(*) FROM alerts WHERE kind = '$1'"; }
certs() { db "SELECT count(*) FROM certificates WHERE ca = 'device'"; }
challenges() { db "SELECT count(*) FROM attest_challenges"; }
spki_cert() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
dbkey() { db "SELECT key_spki_sha256 FROM devices WHERE serial = '$1'"; }
ek_hash() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64; }

# --- registration records the EK -----------------------------------------------------------
"$DEV" init --dir t1 --serial SN-T1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record t1 sensor-tpm SN-T1
dev enroll t1 >/dev/null 2>err || fail "attested enroll: $(cat err)"
dev activate t1 >/dev/null 2>err || fail "activate: $(cat err)"
EK_RSA=$(ek_hash tpm/ek-rsa.pem)
[ "$(db "SELECT ek_cert_sha256 FROM devices WHERE serial = 'SN-T1'")" = "$EK_RSA" ] ||
  fail "the attesting EK was not recorded: $(db "SELECT ek_cert_sha256 FROM devices WHERE serial = 'SN-T1'")"
ok "an attested registration records the EK certificate's hash with the device"

# --- same-key renewal: no attestation ------------------------------------------------------
key0=$(spki_cert t1/device.pem)
serial0=$(openssl x509 -in t1/device.pem -noout -serial)
ch=$(challenges)
dev renew t1 >/dev/null 2>err || fail "renew: $(cat err)"
[ "$(openssl x509 -in t1/device.pem -noout -serial)" != "$serial0" ] || fail "renew: same certificate"
[ "$(spki_cert t1/device.pem)" = "$key0" ] || fail "renew changed the key"
[ "$(challenges)" = "$ch" ] || fail "a same-key renewal asked a challenge"
ok "a same-key renewal of a key_storage = tpm device needs no attestation"

# --- re-key inside the TPM, attested ------------------------------------------------------
blob0=$(sha256sum <t1/key.tpm)
before=$(certs)
dev renew t1 --rekey --evidence-out t1-rekey.ev >/dev/null 2>err || fail "attested re-key: $(cat err)"
key1=$(spki_cert t1/device.pem)
[ "$key1" != "$key0" ] || fail "re-key: the certificate is for the old key"
[ "$(sha256sum <t1/key.tpm)" != "$blob0" ] || fail "re-key kept the old blob"
[ ! -e t1/key.new.tpm ] || fail "re-key left key.new.tpm"
[ "$(dbkey SN-T1)" = "$key1" ] || fail "the device row has not the new key"
[ "$(certs)" = $((before + 1)) ] || fail "re-key: $(($(certs) - before)) certificates"
[ -s t1-rekey.ev ] && [ "$(stat -c %a t1-rekey.ev)" = 600 ] || fail "re-key evidence file"
# The challenge: made for the current (old) key, by the device itself, used
# once. (The registration's was for the same key: a TPM device's bootstrap
# key is its first operational key.)
[ "$(challenges)" = $((ch + 1)) ] || fail "re-key: $(($(challenges) - ch)) challenges"
[ "$(db "SELECT count(*) FROM attest_challenges WHERE key_spki = '$key0' AND used_at > 0
  AND ek_cert_sha256 = '$EK_RSA'")" = 2 ] || fail "the challenge is not the old key's, used, for the RSA EK"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.tpm-challenge' AND actor = 'SN-T1'
  AND outcome = 'ok' AND detail LIKE 'current key%'")" = 1 ] || fail "the device's challenge not audited"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.reenroll-device' AND object = 'SN-T1'
  AND outcome = 'ok' AND detail LIKE '%rekey=1%ek=${EK_RSA:0:16}%'")" = 1 ] || fail "re-key not audited"
[ "$(db "SELECT ek_cert_sha256 FROM devices WHERE serial = 'SN-T1'")" = "$EK_RSA" ] || fail "the EK changed"
dev activate t1 >/dev/null 2>err || fail "whoami after the re-key: $(cat err)"
ok "renew --rekey of a TPM device: new key made in the TPM, attested (challenge of the current key, used once), issued"

# --- the re-key's evidence again, for another new key ---------------------------------------
before=$(certs)
rc=0; dev renew t1 --rekey --evidence t1-rekey.ev 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_wrong_qualifying_data' err || fail "evidence again: $rc $(cat err)"
[ "$(certs)" = "$before" ] || fail "evidence again: a certificate was reserved"
[ "$(dbkey SN-T1)" = "$key1" ] || fail "evidence again: the device's key changed"
rm -f t1/key.new.tpm # the refused attempt's key (the next re-key would retry with it)
ok "a re-key sending earlier evidence (another key's): 403 attest_wrong_qualifying_data, nothing issued"

# --- a software key under key_storage = tpm -----------------------------------------------
# A device registered with a software key while its product took any key,
# then the product is moved to tpm: a re-key now needs a TPM's word.
"$DEV" init --dir m1 --serial SN-M1 --product sensor-move >/dev/null 2>err || fail "init: $(cat err)"
record m1 sensor-move SN-M1
dev enroll m1 >/dev/null 2>err || fail "enroll m1: $(cat err)"
"$ZTM" product set --name sensor-move --key-storage tpm >/dev/null 2>err || fail "product set tpm: $(cat err)"
mkey=$(dbkey SN-M1)
before=$(certs)
rc=0; dev renew m1 --rekey 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_missing' err || fail "software re-key: $rc $(cat err)"
[ "$(certs)" = "$before" ] || fail "software re-key: a certificate was reserved"
[ "$(dbkey SN-M1)" = "$mkey" ] || fail "software re-key: the device's key changed"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.reenroll-device' AND object = 'SN-M1'
  AND outcome = 'attest_missing'")" = 1 ] || fail "attest_missing not audited"
# The same over plain EST (curl + openssl): the EST error body's code.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out m1-new.key 2>/dev/null
openssl req -new -key m1-new.key -subj "/serialNumber=SN-M1/CN=sensor-move-SN-M1" -outform DER 2>/dev/null |
  base64 -w0 >m1.b64
code=$(curl -s -o m1.json -w '%{http_code}' --cacert "$ZTM_CA" --cert m1/device.pem --key m1/key.pem \
  -H 'Content-Type: application/pkcs10' --data-binary @m1.b64 \
  "$ZTM_SERVER/.well-known/est/device/simplereenroll") || true
[ "$code" = 403 ] && grep -q '"error": *"attest_missing"' m1.json || fail "curl software re-key: $code $(cat m1.json)"
[ "$(certs)" = "$before" ] || fail "curl software re-key: a certificate was reserved"
# Its same-key renewal is no re-key: it still works.
rm -f m1/key.new.pem
dev renew m1 >/dev/null 2>err || fail "same-key renewal of m1: $(cat err)"
[ "$(dbkey SN-M1)" = "$mkey" ] || fail "m1 renewal changed the key"
ok "a software re-key under key_storage = tpm: 403 attest_missing (EST error body), audited, nothing issued; same-key renewal OK"

# --- evidence from another EK --------------------------------------------------------------
# The TPM's RSA EK certificate is removed from NV: the device now attests
# with its ECC P-256 EK, whose certificate (trusted, same manufacturer) is
# not the one recorded at registration; for the server, another TPM.
tpm2_nvundefine -C p 0x01c00002 >/dev/null 2>&1 || fail "undefine the RSA EK certificate"
EK_P256=$(ek_hash tpm/ek-p256.pem)
before=$(certs)
a=$(alerts attest_other_ek)
rc=0; dev renew t1 --rekey 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_other_ek' err || fail "another EK: $rc $(cat err)"
[ "$(certs)" = "$before" ] || fail "another EK: a certificate was reserved"
[ "$(dbkey SN-T1)" = "$key1" ] || fail "another EK: the device's key changed"
[ "$(alerts attest_other_ek)" = $((a + 1)) ] || fail "no attest_other_ek alert"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.reenroll-device' AND object = 'SN-T1'
  AND outcome = 'attest_other_ek' AND detail LIKE '%${EK_P256:0:16}%${EK_RSA:0:16}%'")" = 1 ] ||
  fail "attest_other_ek not audited with both EKs"
# The challenge was made (the P-256 EK is trusted) and is not used.
[ "$(db "SELECT count(*) FROM attest_challenges WHERE ek_cert_sha256 = '$EK_P256' AND used_at = 0")" = 1 ] ||
  fail "the P-256 EK's challenge"
[ "$(db "SELECT ek_cert_sha256 FROM devices WHERE serial = 'SN-T1'")" = "$EK_RSA" ] || fail "the EK record changed"
rm -f t1/key.new.tpm
ok "a re-key attested by another EK than the registration's: 403 attest_other_ek, alert, audited, nothing issued"

# --- key_storage = any: re-key without evidence as before ----------------------------------
"$DEV" init --dir p1 --serial SN-P1 --product sensor-any >/dev/null 2>err || fail "init: $(cat err)"
record p1 sensor-any SN-P1
dev enroll p1 >/dev/null 2>err || fail "enroll p1: $(cat err)"
pkey=$(dbkey SN-P1)
ch=$(challenges)
dev renew p1 --rekey >/dev/null 2>err || fail "re-key under any: $(cat err)"
[ "$(dbkey SN-P1)" != "$pkey" ] && [ "$(dbkey SN-P1)" = "$(spki_cert p1/device.pem)" ] || fail "p1 not re-keyed"
[ "$(challenges)" = "$ch" ] || fail "a software re-key under any asked a challenge"
ok "key_storage = any: a software device re-keys without evidence"
