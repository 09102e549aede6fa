#!/usr/bin/env bash
# TPM key attestation at registration (docs/attestation.md), against swtpm:
# a product with key_storage = tpm registers a device only when its key is
# proven TPM-resident (EK certificate chain to [attestation] ek_roots,
# credential activation of the AK, TPM2_Certify of the device key bound to
# the request). `ztm-device enroll` of a TPM key does the whole exchange.
#   - a TPM key registers; the challenge is used once, audited;
#   - a software key under key_storage = tpm: 403 attest_missing (EST error
#     body code), nothing issued;
#   - a TPM whose EK certificate comes from another manufacturer CA: 403
#     ek_untrusted at the challenge, with an alert;
#   - a TPM with an ECC P-256 EK only registers (MakeCredential by ECDH +
#     KDFe), and again with its EK evicted (made from the TCG template); so
#     does the RSA TPM with its RSA EK evicted (at the end);
#   - replays: the evidence of one key sent by another key is refused
#     (attest_wrong_qualifying_data); evidence whose challenge was already
#     used is refused (attest_replay, alert); the device's own retry gets the
#     same certificate back and issues nothing;
#   - a product with key_storage = any still takes a plain curl + openssl EST
#     enrollment without any evidence;
#   - `ztm product set --key-storage` moves a product to tpm (a software key
#     is then refused) and back (it registers); bad values and a role without
#     product.write are refused, the product unchanged; audited.
. "$(dirname "$0")/lib.sh"
command -v tpm2_print >/dev/null || skip "SKIPPED LOUDLY: tpm2-tools missing (scripts/deps.sh)"
ls /usr/lib/*/ossl-modules/tpm2.so >/dev/null 2>&1 ||
  skip "SKIPPED LOUDLY: the tpm2 OpenSSL provider is missing: apt-get install tpm2-openssl (scripts/deps.sh)"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077
start_swtpm tpm
tpm_env=$(cat tpm/env)
# The foreign TPM: its own manufacturer CA, never configured on ztmd.
start_swtpm other
other_env=$(cat other/env)
eval "$tpm_env"

ceremony_and_server
cat tpm/manufacturer-ca.pem tpm/manufacturer-ek-ca.pem >ek-roots.pem
printf '\n[attestation]\nek_roots = %s\n' "$T/ek-roots.pem" >>srv/ztmd.conf
start_ztmd
enrolled_station plant-1 line-1
"$ZTM" product create --name sensor-tpm --class sensor --hw-type 1.3.6.1.4.1.99999.8 \
  --key-storage tpm >prod.json 2>err || fail "product create --key-storage tpm: $(cat err)"
grep -q '"key_storage": "tpm"' prod.json || fail "product reply: $(cat prod.json)"
"$ZTM" product show --name sensor-tpm | matches '"key_storage": "tpm"' || fail "product show"
"$ZTM" product add --name sensor-any --class sensor --hw-type 1.3.6.1.4.1.99999.9 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" product show --name sensor-any | matches '"key_storage": "any"' || fail "default key_storage"
rc=0; "$ZTM" product create --name bad --class sensor --hw-type 1.3.6.1.4.1.99999.9 \
  --key-storage hsm >/dev/null 2>err || rc=$?
[ $rc = 2 ] && grep -q "'any' or 'tpm'" err || fail "--key-storage hsm: $rc $(cat err)"
code=$(curl -s -o bad.json -w '%{http_code}' --cacert "$ZTM_CA" --cert "$T/ceremony/operators/admin.crt" \
  --key "$T/ceremony/operators/admin.key" --pass "$(cat "$T/ceremony/online.pass")" \
  -H 'Content-Type: application/json' "$ZTM_SERVER/api/v1/products" \
  -d '{"name":"bad","device_class":"x","hw_type_oid":"1.3.6.1.4.1.9","key_storage":"TPM"}') || true
[ "$code" = 400 ] && grep -q key_storage bad.json || fail "REST key_storage TPM: $code $(cat bad.json)"
[ "$(db "SELECT count(*) FROM products WHERE name = 'bad'")" = 0 ] || fail "a refused product was stored"
for p in sensor-tpm sensor-any; do
  "$ZTM" order add --name "WO-$p" --product "$p" --factory plant-1 --quota 10 \
    --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
done
ok "products: key_storage tpm (create/show, REST), default any; 'hsm'/'TPM' refused, nothing stored"

record() { record_and_sync "$@"; } # lib.sh
dev() { "$DEV" "$1" --dir "$2" --server "$ZTM_SERVER" --ca "$ZTM_CA" "${@:3}"; }
alerts() { db "SELECT count(*) FROM alerts WHERE kind = '$1'"; }
certs() { db "SELECT count(*) FROM certificates WHERE ca = 'device'"; }

# --- a TPM key registers ---------------------------------------------------------------
"$DEV" init --dir a1 --serial SN-A1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
cp -r a1 a1-copy # the same device before it enrolled
record a1 sensor-tpm SN-A1
dev enroll a1 --evidence-out a1.ev >/dev/null 2>err || fail "attested enroll: $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-A1'")" = provisioned ] || fail "SN-A1 not provisioned"
[ -s a1.ev ] && [ "$(stat -c %a a1.ev)" = 600 ] || fail "evidence file"
[ "$(db "SELECT count(*) FROM attest_challenges WHERE used_at > 0")" = 1 ] || fail "challenge not used once"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'est.tpm-challenge' AND outcome = 'ok'")" = 1 ] ||
  fail "challenge not audited"
[ "$(db "SELECT length(cred_hash) FROM attest_challenges")" = 32 ] || fail "credential hash"
grep -q 'ek_cert\|BEGIN' <(db "SELECT * FROM attest_challenges") && fail "challenge row holds more than hashes"
ok "a TPM key registers under key_storage = tpm (challenge, activation, certify); the challenge is used once"

# --- a software key under key_storage = tpm ----------------------------------------------
"$DEV" init --dir s1 --serial SN-S1 --product sensor-tpm >/dev/null 2>err || fail "init: $(cat err)"
record s1 sensor-tpm SN-S1
before=$(certs)
rc=0; dev enroll s1 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_missing' err || fail "software key: $rc $(cat err)"
[ "$(certs)" = "$before" ] || fail "a certificate was reserved for the software key"
[ "$(db "SELECT count(*) FROM devices WHERE serial = 'SN-S1'")" = 0 ] || fail "software key: device row"
[ "$(db "SELECT count(*) FROM audit WHERE object = 'SN-S1' AND outcome = 'attest_missing'")" = 1 ] ||
  fail "attest_missing not audited"
# The same refusal over plain EST: the error body's code.
openssl req -new -key "$T/s1/key.pem" -subj "/serialNumber=SN-S1/CN=sensor-tpm-SN-S1" -outform DER 2>/dev/null |
  base64 -w0 >s1.b64
code=$(curl -s -o s1.json -w '%{http_code}' --cacert "$ZTM_CA" --cert s1/bootstrap.pem --key s1/key.pem \
  -H 'Content-Type: application/pkcs10' --data-binary @s1.b64 \
  "$ZTM_SERVER/.well-known/est/device/simpleenroll") || true
[ "$code" = 403 ] && grep -q '"error": *"attest_missing"' s1.json || fail "curl software key: $code $(cat s1.json)"
ok "a software key under key_storage = tpm: 403 attest_missing (EST error body), audited, nothing issued"

# --- an EK certificate of another manufacturer -------------------------------------------------
eval "$other_env"
"$DEV" init --dir f1 --serial SN-F1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record f1 sensor-tpm SN-F1
before=$(alerts ek_untrusted)
rc=0; dev enroll f1 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: ek_untrusted' err || fail "foreign EK: $rc $(cat err)"
[ "$(alerts ek_untrusted)" = $((before + 1)) ] || fail "no ek_untrusted alert"
[ "$(db "SELECT count(*) FROM attest_challenges")" = 1 ] || fail "a challenge was made for a foreign EK"
[ "$(db "SELECT count(*) FROM devices WHERE serial = 'SN-F1'")" = 0 ] || fail "foreign EK: device row"
eval "$tpm_env"
ok "a TPM whose EK certificate chains to another manufacturer CA: 403 ek_untrusted, alert, no challenge"

# --- a TPM with an ECC P-256 EK only (TCG template L-2), from the same manufacturer -------------
ZTM_SWTPM_EK=ecc start_swtpm ecc "$T/tpm/ca"
"$DEV" init --dir e1 --serial SN-E1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record e1 sensor-tpm SN-E1
dev enroll e1 --evidence-out e1.ev >/dev/null 2>err || fail "ECC EK enroll: $(cat err)"
# No RSA EK certificate is normal here: the TSS logs no error for it.
grep -q 'ERROR' err && fail "ECC EK enroll logged errors: $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-E1'")" = provisioned ] || fail "SN-E1 not provisioned"
# The challenge was made for the ECC EK's certificate.
ek_hash=$(openssl x509 -in ecc/ek-p256.pem -outform DER | sha256sum | cut -c1-64)
[ "$(db "SELECT count(*) FROM attest_challenges WHERE used_at > 0 AND ek_cert_sha256 = '$ek_hash'")" = 1 ] ||
  fail "no used challenge for the ECC EK certificate"
# The same TPM with its EK evicted from 0x81010002 (not persistent): the
# device makes it from the template, and still registers.
tpm2_evictcontrol -C o -c 0x81010002 >/dev/null 2>&1 || fail "evict the ECC EK"
[ -z "$(tpm2_getcap handles-persistent)" ] || fail "the EK is still persistent"
"$DEV" init --dir e2 --serial SN-E2 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record e2 sensor-tpm SN-E2
dev enroll e2 >/dev/null 2>err || fail "enroll with the EK not persistent: $(cat err)"
grep -q 'ERROR' err && fail "enroll with the EK not persistent logged errors: $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-E2'")" = provisioned ] || fail "SN-E2 not provisioned"
[ -z "$(tpm2_getcap handles-persistent)" ] && [ -z "$(tpm2_getcap handles-transient)" ] ||
  fail "the device left an EK behind"
eval "$tpm_env"
ok "an ECC P-256 EK only (L-2): registers; with the EK evicted, made from its template: registers"

# --- replays -------------------------------------------------------------------------------------
# The device's own retry with the evidence already used: the registration it
# already has (DESIGN I3), nothing new issued, no second use.
before=$(certs)
serial=$(openssl x509 -in a1/device.pem -noout -serial)
dev enroll a1-copy --evidence a1.ev >/dev/null 2>err || fail "retry with used evidence: $(cat err)"
[ "$(openssl x509 -in a1-copy/device.pem -noout -serial)" = "$serial" ] || fail "retry: another certificate"
[ "$(certs)" = "$before" ] || fail "retry issued a certificate"
dev activate a1 >/dev/null 2>err || fail "activate: $(cat err)"
# Another TPM key sending a1's evidence: bound to a1's key, refused.
"$DEV" init --dir b1 --serial SN-B1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record b1 sensor-tpm SN-B1
rc=0; dev enroll b1 --evidence a1.ev 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_wrong_qualifying_data' err || fail "evidence of another key: $rc $(cat err)"
# Evidence whose challenge another registration used meanwhile (the row
# marked used by hand, as that registration's commit would): attest_replay.
dev attest b1 --evidence-out b1.ev >/dev/null 2>err || fail "attest: $(cat err)"
key_b1=$(openssl x509 -in b1/bootstrap.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
db "UPDATE attest_challenges SET used_at = 1 WHERE key_spki = '$key_b1' AND used_at = 0" >/dev/null
before=$(alerts attest_replay)
rc=0; dev enroll b1 --evidence b1.ev 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_replay' err || fail "used challenge: $rc $(cat err)"
[ "$(alerts attest_replay)" = $((before + 1)) ] || fail "no attest_replay alert"
[ "$(db "SELECT count(*) FROM devices WHERE serial = 'SN-B1'")" = 0 ] || fail "replay: device row"
# A fresh attestation of the same key still registers.
dev enroll b1 >/dev/null 2>err || fail "b1 fresh attestation: $(cat err)"
ok "replays: own retry gets the same certificate; another key's evidence and a used challenge are refused (alert)"

# --- key_storage = any: a plain EST client, no evidence -----------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout p1.key -days 3650 \
  -subj "/CN=sensor-any-SN-P1/serialNumber=SN-P1" -addext basicConstraints=critical,CA:FALSE \
  -addext extendedKeyUsage=clientAuth -out p1.pem 2>/dev/null || fail "plain bootstrap certificate"
mkdir -p p1 && cp p1.pem p1/bootstrap.pem
record p1 sensor-any SN-P1
openssl req -new -key p1.key -subj "/serialNumber=SN-P1/CN=sensor-any-SN-P1" -outform DER 2>/dev/null |
  base64 -w0 >p1.b64
code=$(curl -s -o p1.p7 -w '%{http_code}' --cacert "$ZTM_CA" --cert p1.pem --key p1.key \
  -H 'Content-Type: application/pkcs10' --data-binary @p1.b64 \
  "$ZTM_SERVER/.well-known/est/device/simpleenroll") || true
[ "$code" = 200 ] || fail "plain EST under key_storage = any: $code $(cat p1.p7)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-P1'")" = provisioned ] || fail "SN-P1 not provisioned"
ok "key_storage = any: a plain curl + openssl EST enrollment without evidence registers"

# --- ztm product set --key-storage: a product moved to tpm and back --------------------------
"$ZTM" product add --name sensor-move --class sensor --hw-type 1.3.6.1.4.1.99999.10 >/dev/null 2>err ||
  fail "product add sensor-move: $(cat err)"
"$ZTM" order add --name WO-sensor-move --product sensor-move --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
"$ZTM" product set --name sensor-move --key-storage tpm >set.json 2>err || fail "product set tpm: $(cat err)"
grep -q '"key_storage": "tpm"' set.json && grep -q '"renew_window_days": 30' set.json ||
  fail "product set reply: $(cat set.json)"
[ "$(db "SELECT key_storage FROM products WHERE name = 'sensor-move'")" = tpm ] || fail "key_storage not stored"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'product.policy' AND object = 'sensor-move'
  AND outcome = 'ok' AND detail LIKE '%key_storage=tpm%'")" = 1 ] || fail "product.policy key_storage not audited"
"$DEV" init --dir m1 --serial SN-M1 --product sensor-move >/dev/null 2>err || fail "init: $(cat err)"
record m1 sensor-move SN-M1
rc=0; dev enroll m1 2>err || rc=$?
[ $rc = 1 ] && grep -q 'HTTP 403: attest_missing' err || fail "software key after set tpm: $rc $(cat err)"
# Bad values: the CLI refuses before connecting, the REST API with a 400;
# nothing changes.
row=$(db "SELECT * FROM products WHERE name = 'sensor-move'")
rc=0; "$ZTM" product set --name sensor-move --key-storage hsm >/dev/null 2>err || rc=$?
[ $rc = 2 ] && grep -q "'any' or 'tpm'" err || fail "product set --key-storage hsm: $rc $(cat err)"
for body in '{"key_storage":"TPM"}' '{"key_storage":1}' '{"key_storage":"any","colour":"red"}'; do
  code=$(curl -s -o bad.json -w '%{http_code}' --cacert "$ZTM_CA" --cert "$T/ceremony/operators/admin.crt" \
    --key "$T/ceremony/operators/admin.key" --pass "$(cat "$T/ceremony/online.pass")" \
    -H 'Content-Type: application/json' "$ZTM_SERVER/api/v1/products/sensor-move/policy" -d "$body") || true
  [ "$code" = 400 ] || fail "REST policy $body: $code $(cat bad.json)"
done
grep -q colour bad.json || fail "unknown field not named: $(cat bad.json)"
[ "$(db "SELECT * FROM products WHERE name = 'sensor-move'")" = "$row" ] || fail "a bad value changed the product"
# A role without product.write (a security officer): 403, audited, nothing changed.
"$ZTM" operator add --name sofia --role security-officer >sofia.code 2>/dev/null || fail "operator add"
printf 'operator-key-passphrase\n' >sofia.pass
"$ZTM" operator enroll --name sofia --code-file sofia.code --key "file:$T/sofia.key" \
  --key-pass-file sofia.pass --out sofia.crt 2>err || fail "operator enroll: $(cat err)"
refused=$(db "SELECT count(*) FROM audit WHERE action = 'product.write' AND outcome = 'forbidden'")
rc=0; ZTM_CERT=$T/sofia.crt ZTM_KEY=file:$T/sofia.key ZTM_KEY_PASS_FILE=$T/sofia.pass \
  "$ZTM" product set --name sensor-move --key-storage any >/dev/null 2>err || rc=$?
[ $rc != 0 ] && grep -q 403 err || fail "security officer set key_storage: $rc $(cat err)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'product.write' AND outcome = 'forbidden'")" = $((refused + 1)) ] ||
  fail "refusal not audited"
[ "$(db "SELECT * FROM products WHERE name = 'sensor-move'")" = "$row" ] || fail "a refused set changed the product"
# Back to any (with a policy field beside it): the same software key registers.
"$ZTM" product set --name sensor-move --key-storage any --renew-grace-days 3 >set.json 2>err ||
  fail "product set any: $(cat err)"
grep -q '"key_storage": "any"' set.json && grep -q '"renew_grace_days": 3' set.json ||
  fail "product set reply: $(cat set.json)"
dev enroll m1 >/dev/null 2>err || fail "software key after set any: $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-M1'")" = provisioned ] || fail "SN-M1 not provisioned"
ok "product set --key-storage: tpm refuses a software key, any takes it; bad values and a security officer refused, nothing changed; audited"

# --- the RSA EK (template L-1) not persistent ---------------------------------------------------
eval "$tpm_env"
tpm2_evictcontrol -C o -c 0x81010001 >/dev/null 2>&1 || fail "evict the RSA EK"
"$DEV" init --dir r1 --serial SN-R1 --product sensor-tpm --key tpm >/dev/null 2>err || fail "init: $(cat err)"
record r1 sensor-tpm SN-R1
dev enroll r1 >/dev/null 2>err || fail "enroll with the RSA EK not persistent: $(cat err)"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-R1'")" = provisioned ] || fail "SN-R1 not provisioned"
ek_hash=$(openssl x509 -in tpm/ek-rsa.pem -outform DER | sha256sum | cut -c1-64)
[ "$(db "SELECT count(*) FROM attest_challenges c JOIN devices d ON d.key_spki_sha256 = c.key_spki
  WHERE d.serial = 'SN-R1' AND c.ek_cert_sha256 = '$ek_hash' AND c.used_at > 0")" = 1 ] ||
  fail "SN-R1's challenge was not for the RSA EK certificate"
tpm2_getcap handles-persistent | matches 0x81010001 && fail "the device made the RSA EK persistent"
[ -z "$(tpm2_getcap handles-transient)" ] || fail "the device left an object loaded"
ok "the RSA EK evicted (not persistent): made from template L-1, the device registers, nothing left behind"
