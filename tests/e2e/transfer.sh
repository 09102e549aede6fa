#!/usr/bin/env bash
# Transfer of ownership against a real ztmd (docs/vouchers.md): owners with
# trust anchors; devices registered with ztm-device are transferred with
# `ztm device transfer` (arguments and --file); the vouchers verify with
# `openssl cms`; a device installs its voucher and from then on names its
# owner; a tampered, a foreign-signed, a non-voucher-signer, another
# device's voucher and one for the wrong pinned root are refused and change
# nothing; only
# provisioned or active devices are transferred; an owner's operator lists
# only its own devices and gets 404 for another owner's, 403 for transfers.
. "$(dirname "$0")/lib.sh"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077

ceremony_and_server
start_ztmd
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)

# record DIR SERIAL: the station records the device in DIR.
record() {
  "$ZTM" station record --queue q --bootstrap-cert "$1/bootstrap.pem" --serial "$2" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $1: $(cat err)"
}
for i in 1 2 3; do
  "$DEV" init --dir d$i --serial SN-$i --product widget >/dev/null || fail "init d$i"
  record d$i SN-$i
done
"$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync: $(cat err)"
for i in 1 2 3; do
  "$DEV" enroll --dir d$i --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "enroll d$i: $(cat err)"
done
"$DEV" activate --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "activate: $(cat err)"
ok "three devices registered (SN-1 active, SN-2 and SN-3 provisioned)"

# --- owners -----------------------------------------------------------------------
# owner_ca NAME: a customer's own root CA, NAME.crt and NAME.key.
owner_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.crt" -days 365 -subj "/O=$1/CN=$1 Root" >/dev/null 2>&1 || fail "owner CA $1"
}
owner_ca acme
owner_ca globex
"$ZTM" owner add --name acme --anchor acme.crt >owner.json 2>err || fail "owner add: $(cat err)"
grep -q "\"anchor_sha256\": \"$(openssl x509 -in acme.crt -outform DER | sha256sum | cut -c1-64)\"" owner.json ||
  fail "owner anchor hash: $(cat owner.json)"
"$ZTM" owner add --name globex --anchor globex.crt >/dev/null 2>err || fail "owner add globex: $(cat err)"
"$ZTM" owner add --name acme --anchor acme.crt >/dev/null 2>err && fail "duplicate owner accepted"
grep -q 409 err || fail "duplicate owner: $(cat err)"
cat acme.crt globex.crt >bundle.pem
"$ZTM" owner add --name bundle --anchor bundle.pem >/dev/null 2>err && fail "a bundle accepted as anchor"
grep -q 'one certificate' err || fail "bundle: $(cat err)"
"$ZTM" owner list | matches '"name": "globex"' || fail "owner list"
"$ZTM" owner show --name acme | matches 'BEGIN CERTIFICATE' || fail "owner show"
ok "owners with anchors: add (hash of the DER), duplicate 409, bundle refused, list, show"

# --- transfer -------------------------------------------------------------------------
mkdir -m 700 v v2 v3
"$ZTM" transfer 2>/dev/null && fail "unknown command accepted"
rc=0; "$ZTM" device transfer SN-1 --out v 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "transfer without --owner: exit $rc"
before=$(db "SELECT count(*) FROM vouchers")
"$ZTM" device transfer SN-1 SN-404 --owner acme --out v 2>err && fail "unknown device transferred"
grep -q '404' err || fail "unknown device: $(cat err)"
[ "$(db "SELECT count(*) FROM vouchers")" = "$before" ] && [ ! -e v/SN-1.voucher ] ||
  fail "a refused batch left a voucher"
[ -z "$(db "SELECT owner_id FROM devices WHERE serial = 'SN-1'")" ] || fail "a refused batch set an owner"
ok "a batch with an unknown device is refused whole (404): no voucher, no owner"

"$ZTM" device transfer SN-1 SN-2 --owner acme --out v --days 10 2>err || fail "transfer: $(cat err)"
[ -s v/SN-1.voucher ] && [ -s v/SN-2.voucher ] || fail "voucher files"
printf '# globex\nSN-3\n' >list
"$ZTM" device transfer --file list --owner globex --out v2 2>err || fail "transfer --file: $(cat err)"
[ -s v2/SN-3.voucher ] || fail "voucher from --file"
[ "$(db "SELECT o.name FROM devices d JOIN owners o ON o.id = d.owner_id WHERE d.serial = 'SN-2'")" = acme ] ||
  fail "store: SN-2 not acme's"
[ "$(db "SELECT count(*) FROM vouchers")" = 3 ] || fail "store: voucher rows"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.transfer' AND outcome = 'ok'
        AND actor = 'operator:admin' AND detail LIKE 'owner=acme %'")" = 2 ] || fail "audit: transfers"
ok "transfer by arguments and by --file: voucher files, owners recorded, audited per device"

# Any CMS implementation reads it: the root verifies the signer, the content
# type is id-ct-animaJSONVoucher, the content names the device and its key.
openssl cms -verify -inform DER -in v/SN-1.voucher -CAfile "$T/ceremony/root/root.crt" \
  -certfile "$ZTM_CA" -purpose any -binary -out sn1.json 2>err || fail "openssl cms -verify: $(cat err)"
openssl cms -cmsout -inform DER -in v/SN-1.voucher -print 2>/dev/null | matches 'eContentType: .*1.2.840.113549.1.9.16.1.40' ||
  fail "content type"
grep -q '"serial-number":"SN-1"' sn1.json && grep -q '"assertion":"verified"' sn1.json || fail "voucher JSON: $(cat sn1.json)"
spki=$(openssl x509 -in d1/device.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
grep -q "\"ztm-voucher:device-spki-sha256\":\"$spki\"" sn1.json || fail "voucher key hash"
grep -q "\"pinned-domain-cert\":\"$(openssl x509 -in acme.crt -outform DER | base64 -w0)\"" sn1.json ||
  fail "pinned-domain-cert is not acme's anchor"
ok "openssl cms verifies the voucher to the root; JSON names serial, operational key hash and owner anchor"

# --- on the device -------------------------------------------------------------------------
"$DEV" voucher v/SN-1.voucher --dir d1 --ca "$ZTM_CA" >st.out 2>err || fail "install: $(cat err)"
grep -q '^owner: .*CN=acme Root' st.out || fail "status after install: $(cat st.out)"
cmp -s <(openssl x509 -in d1/owner.pem -outform DER) <(openssl x509 -in acme.crt -outform DER) ||
  fail "owner.pem is not acme's anchor"
cmp -s d1/voucher.cms v/SN-1.voucher || fail "voucher.cms not kept"
ok "d1 installs its voucher: owner.pem is acme's anchor, the voucher is kept"

# refused VOUCHER DIR WHY: the install fails naming WHY, and DIR is unchanged.
refused() {
  ls -l "$2" >before.ls
  rc=0; "$DEV" voucher "$1" --dir "$2" --ca "$ZTM_CA" >/dev/null 2>err || rc=$?
  [ $rc = 1 ] || fail "$1 on $2: exit $rc"
  grep -q "$3" err || fail "$1 on $2: $(cat err)"
  ls -l "$2" | cmp -s - before.ls && [ ! -e "$2/owner.pem" ] || fail "$1 changed $2"
}
refused v/SN-1.voucher d2 'for serial SN-1, this device is SN-2'
# Tampered: one byte of the signed JSON changed (SN-2 -> SN-3).
cp v/SN-2.voucher tampered
off=$(grep -obUa '"serial-number":"SN-2"' tampered | head -1 | cut -d: -f1)
[ -n "$off" ] || fail "serial not found in the voucher"
printf '3' | dd of=tampered bs=1 seek=$((off + 20)) conv=notrunc 2>/dev/null
refused tampered d2 'signature does not verify'
# Foreign-signed: the same JSON signed by a CA the device does not pin,
# with the voucher EKU and all.
openssl cms -verify -noverify -inform DER -in v/SN-2.voucher -binary -out sn2.json 2>/dev/null ||
  fail "extracting SN-2's JSON"
owner_ca foreign
EKU=2.25.224028085098781984838351753433500958948
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fsign.key -subj /CN=fake \
  -out fsign.csr 2>/dev/null || fail "foreign csr"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' \
  "$EKU" >fsign.ext
openssl x509 -req -in fsign.csr -CA foreign.crt -CAkey foreign.key -CAcreateserial -days 30 \
  -extfile fsign.ext -out fsign.crt 2>/dev/null || fail "foreign signer"
openssl cms -sign -binary -nodetach -econtent_type 1.2.840.113549.1.9.16.1.40 -in sn2.json \
  -signer fsign.crt -inkey fsign.key -certfile foreign.crt -outform DER -out foreign.voucher 2>/dev/null ||
  fail "foreign voucher"
refused foreign.voucher d2 'signer: the certificate does not chain to the pinned root'
# Signed by a ztm certificate that chains to the pinned root but is no
# voucher signer (ztmd's TLS server certificate).
openssl cms -sign -binary -nodetach -econtent_type 1.2.840.113549.1.9.16.1.40 -in sn2.json \
  -signer srv/server.crt -inkey srv/server.key -passin file:ceremony/online.pass \
  -certfile ceremony/ca/tls.crt -outform DER -out tls.voucher 2>/dev/null || fail "tls-signed voucher"
refused tls.voucher d2 'not a voucher signer'
"$DEV" voucher v/SN-2.voucher --dir d2 --ca d1/bootstrap.pem >/dev/null 2>err && fail "wrong pinned root accepted"
grep -q 'does not chain' err || fail "wrong pinned root: $(cat err)"
"$DEV" voucher v/SN-2.voucher --dir d2 --ca "$ZTM_CA" >/dev/null 2>err || fail "the good one after all: $(cat err)"
ok "refused: another device's, tampered, foreign-signed, signed by a non-voucher signer, wrong pinned root; then the real one installs"

# --- only provisioned or active devices ---------------------------------------------------
# A clone of SN-3 (same serial, another key) registers: SN-3 is quarantined.
"$DEV" init --dir clone --serial SN-3 --product widget >/dev/null || fail "init clone"
record clone SN-3
"$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync clone: $(cat err)"
"$DEV" enroll --dir clone --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>&1 && fail "clone enrolled"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-3'")" = quarantined ] || fail "SN-3 not quarantined"
"$ZTM" device transfer SN-3 --owner acme --out v3 2>err && fail "a quarantined device was transferred"
grep -q 'quarantined: only provisioned or active devices are transferred' err || fail "quarantined: $(cat err)"
[ ! -e v3/SN-3.voucher ] && [ "$(db "SELECT count(*) FROM vouchers")" = 3 ] || fail "voucher for a quarantined device"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'device.transfer' AND outcome = 'conflict'")" -ge 1 ] ||
  fail "refusal not audited"
ok "a quarantined device is not transferred (409, audited, no voucher)"

# --- an owner's operator --------------------------------------------------------------------
"$ZTM" operator add --name ann --role owner --owner acme >ann.code 2>err || fail "owner operator add: $(cat err)"
"$ZTM" operator add --name bob --role owner >/dev/null 2>err && fail "owner operator without owner"
"$ZTM" operator add --name bob --role planner --owner acme >/dev/null 2>err && fail "planner with an owner"
printf 'owner-key-passphrase\n' >ann.pass
"$ZTM" operator enroll --name ann --code-file ann.code --key "file:$T/ann.key" --key-pass-file ann.pass \
  --out ann.crt 2>err || fail "owner operator enroll: $(cat err)"
as_ann() { ZTM_CERT=$T/ann.crt ZTM_KEY=file:$T/ann.key ZTM_KEY_PASS_FILE=$T/ann.pass "$ZTM" "$@"; }
as_ann device list >ann.list 2>err || fail "owner list: $(cat err)"
[ "$(grep -c '"serial":' ann.list)" = 2 ] && grep -q '"serial": "SN-1"' ann.list &&
  grep -q '"serial": "SN-2"' ann.list || fail "owner sees: $(cat ann.list)"
as_ann device list --owner globex >/dev/null 2>err && fail "owner listed another owner's devices"
grep -q 404 err || fail "list --owner globex: $(cat err)"
as_ann device show --serial SN-1 | matches '"owner": "acme"' || fail "owner show own device"
as_ann device show --serial SN-3 >/dev/null 2>err && fail "owner saw another owner's device"
grep -q 404 err || fail "another owner's device: $(cat err)"
as_ann device show --serial SN-404 >/dev/null 2>err2 && fail "unknown device"
[ "$(sed 's/SN-404/X/' err2)" = "$(sed 's/SN-3/X/' err)" ] || fail "another owner's device is distinguishable from none"
as_ann device transfer SN-1 --owner globex --out v3 2>err && fail "an owner transferred a device"
grep -q 403 err || fail "owner transfer: $(cat err)"
as_ann owner add --name evil --anchor acme.crt >/dev/null 2>err && fail "an owner added an owner"
grep -q 403 err || fail "owner add by owner: $(cat err)"
"$ZTM" device list >all.list || fail "admin list"
[ "$(grep -c '"serial":' all.list)" = 3 ] || fail "admin sees: $(cat all.list)"
ok "owner operator: lists its 2 devices, 404 for another owner's (same as none), 403 for transfer and owner add; admin sees all"

# --- a later transfer moves the device (expiry is in the library's table) ------------------
"$ZTM" device transfer SN-2 --owner globex --out v3 2>err || fail "re-transfer: $(cat err)"
"$DEV" voucher v3/SN-2.voucher --dir d2 --ca "$ZTM_CA" | matches '^owner: .*CN=globex Root' || fail "re-transfer install"
ok "a later voucher moves SN-2 to globex"
