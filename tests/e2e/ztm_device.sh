#!/usr/bin/env bash
# ztm-device against a real ztmd: init and status on disk, misuse; an
# unrecorded device is refused and stays unchanged; once a station has
# recorded it, the agent registers (operational certificate installed,
# provisioned), activates (active), and its bootstrap credential is refused
# from then on.
. "$(dirname "$0")/lib.sh"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077

# --- on disk ----------------------------------------------------------------
"$DEV" init --dir d1 --serial SN-0001 --product widget >init.out || fail "init"
grep -q '^state: manufactured$' init.out || fail "init state"
[ "$(stat -c %a d1/key.pem)" = 600 ] || fail "key.pem mode"
openssl x509 -in d1/bootstrap.pem -noout -subject | matches 'CN = widget-SN-0001, serialNumber = SN-0001' ||
  fail "bootstrap subject"
openssl verify -x509_strict -purpose sslclient -CAfile d1/bootstrap.pem d1/bootstrap.pem >/dev/null ||
  fail "bootstrap certificate does not verify as a self-signed client certificate"
ok "init: key 0600, self-signed bootstrap certificate with serialNumber"

printf 'a device passphrase\n' >dev.pass
"$DEV" init --dir d2 --serial SN-0002 --product widget --pass-file dev.pass >/dev/null || fail "init with passphrase"
head -1 d2/key.pem | matches 'ENCRYPTED PRIVATE KEY' || fail "key not encrypted"
openssl pkey -in d2/key.pem -passin file:dev.pass -noout || fail "openssl cannot read the key with the passphrase"
"$DEV" status --dir d2 | matches '^key: encrypted$' || fail "status without passphrase"
ok "init with a passphrase: encrypted PKCS#8, status still works without it"

rc=0; "$DEV" init --dir d1 --serial SN-9 --product widget 2>err || rc=$?
[ $rc = 1 ] && grep -q 'already holds a device' err || fail "re-init not refused ($rc)"
rc=0; "$DEV" init --dir d3 --serial 'SN 9' --product widget 2>err || rc=$?
[ $rc = 1 ] && grep -q 'serial must be' err || fail "bad serial not refused ($rc)"
rc=0; "$DEV" frobnicate --dir d1 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "misuse exit status $rc"
rc=0; "$DEV" enroll --dir d1 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "enroll without --server exit status $rc"
chmod 644 dev.pass
rc=0; "$DEV" status --dir d2 --pass-file dev.pass 2>err || rc=$?
[ $rc = 1 ] && grep -q 'readable by group or others' err || fail "open passphrase file accepted"
chmod 600 dev.pass
ok "refusals: re-init, bad serial, misuse (2), readable passphrase file"

# --- against ztmd ---------------------------------------------------------------
ceremony_and_server
start_ztmd
cp d1/state state.before
rc=0; "$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" 2>err || rc=$?
[ $rc = 1 ] || fail "enroll of an unrecorded device: exit $rc"
# No station recorded it: the server's vetting refuses it by name.
grep -q 'server refused enrollment: HTTP 403: unrecorded' err || fail "unexpected enroll error: $(cat err)"
cmp -s state.before d1/state && [ ! -e d1/device.pem ] || fail "a refused enrollment changed the device"
rc=0; "$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca d1/bootstrap.pem 2>err || rc=$?
[ $rc = 1 ] && grep -q "TLS connection to 127.0.0.1:$PORT: .*certificate verify failed" err || fail "server not verified against --ca ($rc)"
ok "enroll reaches ztmd over TLS 1.3; unrecorded: refused cleanly, device unchanged"

# --- recorded by a station: enroll, activate ----------------------------------------
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
FW=$(printf 'fw' | sha256sum | cut -c1-64)
for d in d1 d2; do
  sn=$(sed -n 's/^serial=//p' $d/state)
  "$ZTM" station record --queue q --bootstrap-cert $d/bootstrap.pem --serial "$sn" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $d: $(cat err)"
done
"$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
  >/dev/null 2>err || fail "sync: $(cat err)"
"$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >enroll.out 2>err || fail "enroll d1: $(cat err)"
"$DEV" status --dir d1 >st.out || fail "status"
grep -q '^state: provisioned$' st.out || fail "after enroll: $(cat st.out)"
openssl verify -CAfile "$T/ceremony/root/root.crt" -untrusted "$T/ceremony/ca/device.crt" d1/device.pem \
  >/dev/null 2>&1 || fail "the installed certificate does not verify"
openssl x509 -in d1/device.pem -noout -subject -nameopt RFC2253 | matches 'serialNumber=SN-0001' ||
  fail "installed certificate subject"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-0001'")" = provisioned ] || fail "store: not provisioned"
"$DEV" activate --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" 2>err || fail "activate: $(cat err)"
"$DEV" status --dir d1 | matches '^state: active$' || fail "not active on the device"
[ "$(db "SELECT state FROM devices WHERE serial = 'SN-0001'")" = active ] || fail "store: not active"
ok "recorded device: enroll installs a certificate that verifies to the root; activate makes it active (device and store)"

# The encrypted-key device too (the agent asks the passphrase for enroll).
"$DEV" enroll --dir d2 --server "$ZTM_SERVER" --ca "$ZTM_CA" --pass-file dev.pass >/dev/null 2>err ||
  fail "enroll d2 (encrypted key): $(cat err)"
"$DEV" status --dir d2 | matches '^state: provisioned$' || fail "d2 not provisioned"
ok "a device with an encrypted key enrolls"

# After activation the bootstrap certificate is refused by the server (the
# agent would not even ask: a device enrolls once; curl asks on its behalf).
openssl req -new -key d1/key.pem -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >replay.csr
code=$(curl -s -o replay.body -w '%{http_code}' --cacert "$ZTM_CA" --cert d1/bootstrap.pem --key d1/key.pem \
  -H 'Content-Type: application/pkcs10' --data-binary @replay.csr "$ZTM_SERVER/.well-known/est/device/simpleenroll")
[ "$code" = 403 ] && grep -q '"error":"bootstrap_replay"' replay.body || fail "replay: $code $(cat replay.body)"
ok "replayed bootstrap after activation: 403 bootstrap_replay"
