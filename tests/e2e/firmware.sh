#!/usr/bin/env bash
# Firmware signing end to end (docs/firmware.md), with curl as the operators'
# client and openssl as the independent verifier: signers per product and
# channel from the codesign CA; a test release signed at once; a production
# release only after a second person approves; `openssl cms -verify` accepts
# the CMS form and refuses one flipped byte in the image or the signature;
# each refusal asserted (no approval = no files, the submitter approving,
# a test key on production, a revoked release, a lower security version, a
# role that may not sign); a revoked release stops vetting for its hash.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077
ROOT=$T/ceremony/root/root.crt

enroll_operator() {
  "$ZTM" operator add --name "$1" --role "$2" >"$1.code" 2>/dev/null || fail "operator add $1"
  printf '%s-key-passphrase\n' "$1" >"$1.pass"
  "$ZTM" operator enroll --name "$1" --code-file "$1.code" --key "file:$T/$1.key" \
    --key-pass-file "$1.pass" --out "$1.crt" 2>err || fail "operator enroll $1: $(cat err)"
  openssl pkey -in "$1.key" -passin "file:$1.pass" -out "$1.plain.key" 2>/dev/null ||
    fail "decrypting $1's key for curl"
}
enroll_operator sam security-officer
enroll_operator fay firmware-signer
enroll_operator fred firmware-signer
enroll_operator ann release-approver
enroll_operator pat planner
cp "$T/ceremony/operators/admin.crt" admin.crt
openssl pkey -in "$T/ceremony/operators/admin.key" -passin "file:$T/ceremony/online.pass" \
  -out admin.plain.key 2>/dev/null || fail "admin key"

# api WHO METHOD PATH [JSON]: prints the HTTP status; the body in out.
api() {
  local who=$1 m=$2 p=$3
  curl -s -o out -w '%{http_code}' --cacert "$ZTM_CA" --cert "$who.crt" --key "$who.plain.key" \
    -X "$m" -H 'Content-Type: application/json' ${4:+--data "$4"} "$ZTM_SERVER$p"
}
jget() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" out | head -1; }

"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 --key-types p256 \
  --require-fw-hash >/dev/null 2>err || fail "product add: $(cat err)"

# --- signers ----------------------------------------------------------------------------
[ "$(api fay POST /api/v1/firmware/signers '{"product":"widget","channel":"test"}')" = 403 ] ||
  fail "a firmware signer created a signing key: $(cat out)"
[ "$(api sam POST /api/v1/firmware/signers '{"product":"widget","channel":"test"}')" = 201 ] ||
  fail "test signer: $(cat out)"
TEST_SIGNER=$(jget id)
[ "$(api admin POST /api/v1/firmware/signers '{"product":"widget","channel":"production"}')" = 201 ] ||
  fail "production signer: $(cat out)"
[ "$(api sam POST /api/v1/firmware/signers '{"product":"widget","channel":"test"}')" = 409 ] ||
  fail "second active test signer: $(cat out)"
ls "$T"/srv/firmware/fw-widget-test-*.key >/dev/null || fail "no signer key file"
[ "$(ls "$T"/srv/firmware/ | wc -l)" = 2 ] || fail "a refused signer request left a key file: $(ls "$T"/srv/firmware)"
grep -q "ENCRYPTED PRIVATE KEY" "$T"/srv/firmware/fw-widget-production-*.key ||
  fail "signer key not encrypted"
[ "$(db "SELECT count(*) FROM certificates WHERE ca = 'codesign' AND owner_kind = 'fw-signer'
         AND state = 'issued'")" = 2 ] || fail "signer certificates not recorded"
db "SELECT hex(cert_der) FROM fw_signers WHERE channel = 'test'" | xxd -r -p >test-signer.der
openssl x509 -inform DER -in test-signer.der -noout -text >test-signer.txt
grep -q "Code Signing" test-signer.txt || fail "no codeSigning EKU"
grep -q "Policy: 2.25.89904570167144526415718935782041833074.2" test-signer.txt ||
  fail "no test-channel policy"
ok "signers: one per product and channel, codeSigning + channel policy, keys encrypted"

# --- a test release, signed at once ------------------------------------------------------
head -c 300000 /dev/urandom >img-test.bin
SHA=$(sha256sum img-test.bin | cut -c1-64)
SIZE=$(stat -c %s img-test.bin)
[ "$(api fay POST /api/v1/firmware/releases "{\"product\":\"widget\",\"version\":\"1.0.0-rc1\",
  \"security_version\":1,\"size\":$SIZE,\"sha256\":\"$SHA\",\"channel\":\"test\"}")" = 201 ] ||
  fail "test release: $(cat out)"
grep -q '"state":"signed"' out || fail "test release not signed: $(cat out)"
TID=$(jget id)
[ "$(api fay GET /api/v1/firmware/releases/$TID/cms)" = 200 ] || fail "GET cms"
mv out img-test.bin.cms
[ "$(api fay GET /api/v1/firmware/releases/$TID/manifest)" = 200 ] || fail "GET manifest"
mv out widget-1.0.0-rc1.ztmfw
[ "$(head -c1 widget-1.0.0-rc1.ztmfw | xxd -p)" = d2 ] || fail "manifest is not a tagged COSE_Sign1"
openssl cms -verify -binary -inform DER -in img-test.bin.cms -content img-test.bin \
  -CAfile "$ROOT" -purpose any -out /dev/null 2>err || fail "openssl cms -verify: $(cat err)"
ok "test release signed at once; openssl cms -verify accepts the CMS form"

# One flipped byte in the image, in the signature: refused.
cp img-test.bin bad.bin
b=$(dd if=bad.bin bs=1 skip=1000 count=1 2>/dev/null | xxd -p) # XOR: a set byte may already hold it
printf "\\x$(printf %02x $(( 0x$b ^ 0x5a )))" | dd of=bad.bin bs=1 seek=1000 conv=notrunc 2>/dev/null
! cmp -s img-test.bin bad.bin || fail "the flip changed nothing"
openssl cms -verify -binary -inform DER -in img-test.bin.cms -content bad.bin \
  -CAfile "$ROOT" -purpose any -out /dev/null 2>/dev/null && fail "flipped image byte accepted"
cp img-test.bin.cms bad.cms
n=$(stat -c %s bad.cms)
last=$(tail -c1 bad.cms | xxd -p)
printf "\\x$(printf %02x $(( 0x$last ^ 1 )))" | dd of=bad.cms bs=1 seek=$((n - 1)) conv=notrunc 2>/dev/null
openssl cms -verify -binary -inform DER -in bad.cms -content img-test.bin \
  -CAfile "$ROOT" -purpose any -out /dev/null 2>/dev/null && fail "flipped signature byte accepted"
ok "one flipped byte in the image or the signature: refused"

# --- a production release: two people ----------------------------------------------------
head -c 200000 /dev/urandom >img.bin
SHA=$(sha256sum img.bin | cut -c1-64)
SIZE=$(stat -c %s img.bin)
body() { echo "{\"product\":\"widget\",\"version\":\"$1\",\"security_version\":$2,\"size\":$SIZE,\"sha256\":\"$SHA\",\"channel\":\"production\"}"; }
[ "$(api pat POST /api/v1/firmware/releases "$(body 1.0.0 3)")" = 403 ] ||
  fail "a planner submitted a release: $(cat out)"
[ "$(api ann POST /api/v1/firmware/releases "$(body 1.0.0 3)")" = 403 ] ||
  fail "an approver submitted a release: $(cat out)"
[ "$(api fay POST /api/v1/firmware/releases "$(body 1.0.0 3)")" = 201 ] ||
  fail "production release: $(cat out)"
grep -q '"state":"pending"' out || fail "production release not pending: $(cat out)"
PID=$(jget id)
[ "$(api fay GET /api/v1/firmware/releases/$PID/cms)" = 409 ] || fail "CMS of a pending release: $(cat out)"
[ "$(api fay GET /api/v1/firmware/releases/$PID/manifest)" = 409 ] || fail "manifest of a pending release"
[ "$(db "SELECT length(cms) + length(manifest) FROM fw_releases WHERE id = $PID")" = 0 ] ||
  fail "signatures exist before approval"
ok "production release pending: no signature, no files, before approval"
[ "$(api fay POST /api/v1/firmware/releases/$PID/approve)" = 403 ] ||
  fail "the submitter (a signer) approved: $(cat out)"
[ "$(api fred POST /api/v1/firmware/releases/$PID/approve)" = 403 ] || fail "another signer approved"
db "SELECT state FROM fw_releases WHERE id = $PID" | matches -x pending || fail "state changed"
# The same person through the store's rule: a row whose approver is its
# submitter is refused by the schema too.
db "UPDATE fw_releases SET approved_by = submitted_by WHERE id = $PID" 2>/dev/null &&
  fail "schema let the submitter approve"
[ "$(api ann POST /api/v1/firmware/releases/$PID/approve)" = 200 ] || fail "approve: $(cat out)"
grep -q '"state":"signed"' out && grep -q '"approved_by":"operator:ann"' out || fail "approved: $(cat out)"
api ann GET /api/v1/firmware/releases/$PID/cms >/dev/null && mv out img.bin.cms
openssl cms -verify -binary -inform DER -in img.bin.cms -content img.bin \
  -CAfile "$ROOT" -purpose any -out /dev/null 2>err || fail "production cms -verify: $(cat err)"
openssl cms -cmsout -print -inform DER -in img.bin.cms >cms.txt
grep -q "2.25.89904570167144526415718935782041833074.3" cms.txt || fail "no claims attribute"
db "SELECT hex(c.cert_der) FROM fw_releases r JOIN fw_signers c ON c.id = r.signer_id WHERE r.id = $PID" |
  xxd -r -p | openssl x509 -inform DER -noout -text | matches "74.1$" || fail "not signed by the production signer"
ok "second person approves: signed by the production signer, openssl verifies"

# --- refusals ------------------------------------------------------------------------------
[ "$(api fay POST /api/v1/firmware/releases "$(body 0.9.0 2)")" = 403 ] ||
  fail "lower security version: $(cat out)"
grep -q "below 3" out || fail "svn refusal unclear: $(cat out)"
[ "$(api fay POST /api/v1/firmware/releases "$(body 1.0.0 3)")" = 409 ] || fail "duplicate version: $(cat out)"
# A test key never signs production: the trigger refuses the row even by hand.
db "UPDATE fw_releases SET signer_id = $TEST_SIGNER WHERE id = $PID" 2>/dev/null &&
  fail "schema let the test signer sign production"
[ "$(db "SELECT count(*) FROM audit WHERE action LIKE 'firmware.%' AND outcome <> 'ok'")" -ge 4 ] ||
  fail "refusals not audited"
ok "refused: lower security version, duplicate version, test key on production; audited"

# --- revocation and vetting ----------------------------------------------------------------
[ "$(api fay POST /api/v1/firmware/releases/$PID/revoke '{"reason":"CVE-2026-1"}')" = 403 ] ||
  fail "a signer revoked"
[ "$(api sam POST /api/v1/firmware/releases/$PID/revoke '{"reason":"CVE-2026-1"}')" = 200 ] ||
  fail "revoke: $(cat out)"
[ "$(api ann GET /api/v1/firmware/releases/$PID)" = 200 ] && grep -q '"state":"revoked"' out ||
  fail "GET after revoke: $(cat out)"
[ "$(api sam POST /api/v1/firmware/releases/$PID/revoke '{"reason":"again"}')" = 409 ] || fail "revoked twice"
[ "$(api fay GET '/api/v1/firmware/releases?product=widget&state=revoked')" = 200 ] &&
  grep -q "\"id\":$PID" out || fail "list by state: $(cat out)"
ok "revoked release: GET shows revoked, listed as such"

# --- the CLI: sign, approve, show, verify, list, revoke, signers ----------------------------
as() { local who=$1; shift; ZTM_CERT=$T/$who.crt ZTM_KEY=file:$T/$who.key ZTM_KEY_PASS_FILE=$T/$who.pass "$ZTM" "$@"; }
mkdir -p outdir
head -c 123457 /dev/urandom >app.bin
as fay firmware sign --product widget --version 1.1.0-dev --svn 3 --channel test --image app.bin \
  --out-dir outdir >cli.json 2>err || fail "firmware sign (test): $(cat err)"
[ -s outdir/app.bin.cms ] && [ -s outdir/widget-1.1.0-dev.ztmfw ] || fail "sign wrote no files: $(ls outdir)"
"$ZTM" firmware verify --image app.bin --cms outdir/app.bin.cms --root "$ROOT" --product widget \
  2>err || fail "firmware verify: $(cat err)"
openssl cms -verify -binary -inform DER -in outdir/app.bin.cms -content app.bin -CAfile "$ROOT" \
  -purpose any -out /dev/null 2>/dev/null || fail "openssl refuses the CLI's CMS"
"$ZTM" firmware verify --image app.bin --cms outdir/app.bin.cms --root "$ROOT" --channel production \
  2>/dev/null && fail "verify accepted a test-channel image as production"
"$ZTM" firmware verify --image app.bin --cms outdir/app.bin.cms --root "$ROOT" --product gadget \
  2>/dev/null && fail "verify accepted another product's image"
head -c 1000 app.bin >short.bin
"$ZTM" firmware verify --image short.bin --cms outdir/app.bin.cms --root "$ROOT" 2>/dev/null &&
  fail "verify accepted a truncated image"
"$ZTM" firmware verify --image app.bin --cms outdir/app.bin.cms --root "$T/ceremony/ca/device.crt" \
  2>/dev/null && fail "verify accepted a foreign root"
ok "CLI: test release signed, files written, ztm firmware verify accepts; wrong channel/product/size/root refused"

# --- the image itself, uploaded for ztmd to hash ------------------------------------------
up() { # QUERY FILE: POST the file as application/octet-stream; prints the status
  curl -s -o out -w '%{http_code}' --cacert "$ZTM_CA" --cert fay.crt --key fay.plain.key \
    -H 'Content-Type: application/octet-stream' --data-binary "@$2" \
    "$ZTM_SERVER/api/v1/firmware/releases?$1"
}
head -c 2345678 /dev/urandom >up.bin
as fay firmware sign --product widget --version 1.1.1+up --svn 3 --channel test --image up.bin \
  --upload --out-dir outdir >cli.json 2>err || fail "firmware sign --upload: $(cat err)"
grep -q "\"sha256\": \"$(sha256sum up.bin | cut -c1-64)\"" cli.json &&
  grep -q '"size": 2345678' cli.json && grep -q '"version": "1.1.1+up"' cli.json ||
  fail "upload: ztmd's size/digest/version: $(cat cli.json)"
openssl cms -verify -binary -inform DER -in outdir/up.bin.cms -content up.bin -CAfile "$ROOT" \
  -purpose any -out /dev/null 2>/dev/null || fail "openssl refuses the uploaded release's CMS"
N0=$(db "SELECT count(*) FROM fw_releases")
: >empty.bin
head -c $((16 * 1024 * 1024 + 1)) /dev/zero >big.bin
for c in "400 product=widget&version=9.0&security_version=x1&channel=test up.bin" \
  "400 product=widget&version=9.0&security_version=-1&channel=test up.bin" \
  "400 version=9.0&security_version=3&channel=test up.bin" \
  "400 product=widget&version=9.0&security_version=3&channel=beta up.bin" \
  "400 product=widget&version=9.0&security_version=3&channel=test empty.bin" \
  "413 product=widget&version=9.0&security_version=3&channel=test big.bin"; do
  set -- $c
  [ "$(up "$2" "$3")" = "$1" ] || fail "upload ?$2 $3: want $1: $(cat out)"
done
[ "$(db "SELECT count(*) FROM fw_releases")" = "$N0" ] || fail "a refused upload stored a release"
ok "upload: ztmd hashes the image (2.3 MB), signs the same release; bad query, empty and over-cap (413) uploads refused, nothing stored"

head -c 54321 /dev/urandom >prod.bin
as fay firmware sign --product widget --version 1.2.0 --svn 4 --channel production --image prod.bin \
  --out-dir outdir >cli.json 2>err || fail "firmware sign (production): $(cat err)"
[ -e outdir/prod.bin.cms ] && fail "production release wrote files before approval"
CID=$(sed -n 's/^  "id": \([0-9]*\),*$/\1/p' cli.json | head -1)
as fay firmware approve "$CID" 2>err >/dev/null && fail "the submitter approved through the CLI"
as ann firmware approve "$CID" --image prod.bin --out-dir outdir >/dev/null 2>err ||
  fail "firmware approve: $(cat err)"
"$ZTM" firmware verify --image prod.bin --cms outdir/prod.bin.cms --root "$ROOT" --product widget \
  --channel production 2>err || fail "verify production: $(cat err)"
[ -s outdir/widget-1.2.0.ztmfw ] || fail "no manifest after approval"
# The device side (libztmdev through ztm-device) on what ztmd signed: both
# forms of the production release pass on a production device; the test
# release, another product, a raised counter and a truncated image do not.
DEVB=$ZTM_BIN/src/device/ztm-device
echo 0 >svn0
fwv() { "$DEVB" fw-verify --root "$ROOT" --product widget --svn-file "${SVNF:-svn0}" "$@"; }
for sig in outdir/widget-1.2.0.ztmfw outdir/prod.bin.cms; do
  fwv --image prod.bin --sig "$sig" >fwv.out 2>&1 || fail "ztm-device fw-verify $sig: $(cat fwv.out)"
done
fwv --image app.bin --sig outdir/widget-1.1.0-dev.ztmfw >fwv.out 2>&1 &&
  fail "a production device accepted the test-channel manifest"
fwv --test-device --image app.bin --sig outdir/widget-1.1.0-dev.ztmfw >fwv.out 2>&1 ||
  fail "a test device refused the test-channel manifest: $(cat fwv.out)"
"$DEVB" fw-verify --root "$ROOT" --product gadget --svn-file svn0 --image prod.bin \
  --sig outdir/widget-1.2.0.ztmfw >fwv.out 2>&1 && fail "fw-verify accepted another product's manifest"
echo 5 >svn
SVNF=svn fwv --image prod.bin --sig outdir/widget-1.2.0.ztmfw >fwv.out 2>&1 &&
  fail "fw-verify accepted security version 4 over counter 5"
echo 3 >svn
SVNF=svn fwv --commit --image prod.bin --sig outdir/widget-1.2.0.ztmfw >fwv.out 2>&1 ||
  fail "fw-verify at counter 3: $(cat fwv.out)"
[ "$(cat svn)" = 4 ] || fail "--commit did not raise the counter to 4: $(cat svn)"
head -c 5000 prod.bin >prod-short.bin
fwv --image prod-short.bin --sig outdir/widget-1.2.0.ztmfw >fwv.out 2>&1 &&
  fail "fw-verify accepted a truncated image"
ok "ztm-device fw-verify on ztmd's signatures: manifest and CMS accepted; test channel, product, rollback, truncation refused; --commit raised the counter"
as ann firmware show "$CID" >show.json 2>err && grep -q '"state": "signed"' show.json ||
  fail "firmware show: $(cat err show.json)"
[ "$(curl -s -o out -w '%{http_code}' --cacert "$ZTM_CA" "$ZTM_SERVER/api/v1/firmware/releases")" = 401 ] ||
  fail "anonymous list: $(cat out)"
as sam firmware list --product widget --state signed >list.json 2>err || fail "firmware list: $(cat err)"
grep -q '"version": "1.2.0"' list.json || fail "list: $(cat list.json)"
as sam firmware revoke "$CID" --reason "bad build" >/dev/null 2>err || fail "firmware revoke: $(cat err)"
as sam firmware signer list --product widget >signers.json 2>err || fail "signer list: $(cat err)"
[ "$(grep -c '"channel"' signers.json)" = 2 ] || fail "signer list: $(cat signers.json)"
TS=$(db "SELECT id FROM fw_signers WHERE channel = 'test' AND retired_at = 0")
as sam firmware signer retire "$TS" >/dev/null 2>err || fail "signer retire: $(cat err)"
as fay firmware sign --product widget --version 1.3.0-dev --svn 4 --channel test --image app.bin \
  >/dev/null 2>err && fail "signed with a retired test signer"
grep -q "no active test firmware signer" err || fail "retired signer refusal unclear: $(cat err)"
as sam firmware signer create --product widget --channel test >/dev/null 2>err || fail "new test signer: $(cat err)"
ok "CLI: production needs approve by another operator; show, list, revoke; signers listed, retired, replaced"

# --- vetting: a registration needs a signed, unrevoked release ------------------------------
enrolled_station plant-1 line-1
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)
Q=$T/queue
vet_device() { # SERIAL FW-SHA256: a bootstrap certificate, recorded with that firmware hash
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=widget-$1/serialNumber=$1" -days 7300 "${EE[@]}" -out "$1.boot" 2>/dev/null
  "$ZTM" station record --queue "$Q" --bootstrap-cert "$1.boot" --serial "$1" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version x --fw-sha256 "$2" \
    --test pass 2>err || fail "record $1: $(cat err)"
}
register() { # SERIAL: EST simpleenroll with the bootstrap certificate; prints the status
  openssl req -new -key "$1.key" -subj "/CN=x" -outform DER 2>/dev/null | base64 -w 64 >"$1.csr"
  curl -s -o "$1.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$1.boot" --key "$1.key" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$1.csr" \
    "$ZTM_SERVER/.well-known/est/device/simpleenroll"
}
SIGNED=$(sha256sum img-test.bin | cut -c1-64)  # release $TID, signed (test channel)
REVOKED=$(sha256sum img.bin | cut -c1-64)      # release $PID, revoked above
UNKNOWN=$(printf 'never released' | sha256sum | cut -c1-64)
vet_device SN-1 "$SIGNED"
vet_device SN-2 "$REVOKED"
vet_device SN-3 "$UNKNOWN"
vet_device SN-4 "$SIGNED"
"$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key" \
  --key-pass-file line-1.pass >/dev/null 2>err || fail "sync: $(cat err)"
[ "$(register SN-1)" = 200 ] || fail "signed release refused at registration: $(cat SN-1.body)"
[ "$(register SN-2)" = 403 ] && grep -q firmware_not_approved SN-2.body ||
  fail "revoked release registered: $(cat SN-2.body)"
[ "$(register SN-3)" = 403 ] && grep -q firmware_not_approved SN-3.body ||
  fail "unknown firmware registered: $(cat SN-3.body)"
# Revoking a release stops new registrations with its hash at once.
[ "$(api sam POST /api/v1/firmware/releases/$TID/revoke '{"reason":"recalled"}')" = 200 ] ||
  fail "revoke test release: $(cat out)"
[ "$(register SN-4)" = 403 ] && grep -q firmware_not_approved SN-4.body ||
  fail "registered after its release was revoked: $(cat SN-4.body)"
ok "vetting: signed release registers; revoked, unknown, and newly revoked releases refused"
