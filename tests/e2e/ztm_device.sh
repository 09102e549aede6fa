#!/usr/bin/env bash
# ztm-device against a real ztmd: init and status on disk, misuse, and the
# agent's TLS 1.3 transport reaching the server with the bootstrap
# certificate. The server's device enrollment arrives with the vetting work,
# so today the server must refuse it, and the device must stay unchanged.
. "$(dirname "$0")/lib.sh"

DEV=$ZTM_BIN/src/device/ztm-device
cd "$T"
umask 077

# --- on disk ----------------------------------------------------------------
"$DEV" init --dir d1 --serial SN-0001 --product widget >init.out || fail "init"
grep -q '^state: manufactured$' init.out || fail "init state"
[ "$(stat -c %a d1/key.pem)" = 600 ] || fail "key.pem mode"
openssl x509 -in d1/bootstrap.pem -noout -subject | grep -q 'CN = widget-SN-0001, serialNumber = SN-0001' ||
  fail "bootstrap subject"
openssl verify -x509_strict -purpose sslclient -CAfile d1/bootstrap.pem d1/bootstrap.pem >/dev/null ||
  fail "bootstrap certificate does not verify as a self-signed client certificate"
ok "init: key 0600, self-signed bootstrap certificate with serialNumber"

printf 'a device passphrase\n' >dev.pass
"$DEV" init --dir d2 --serial SN-0002 --product widget --pass-file dev.pass >/dev/null || fail "init with passphrase"
head -1 d2/key.pem | grep -q 'ENCRYPTED PRIVATE KEY' || fail "key not encrypted"
openssl pkey -in d2/key.pem -passin file:dev.pass -noout || fail "openssl cannot read the key with the passphrase"
"$DEV" status --dir d2 | grep -q '^key: encrypted$' || fail "status without passphrase"
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
[ $rc = 1 ] || fail "enroll against a server without device enrollment: exit $rc"
cat err
# Reaching the server proves TLS 1.3 and the server check; the refusal is
# the server's TLS alert (the bootstrap certificate chains to no CA it
# knows) or, once device enrollment exists there, an HTTP error.
grep -qE 'enroll: (POST /.well-known/est/device/simpleenroll: no response \(TLS\): .*alert|server refused enrollment: HTTP [0-9]{3})' err ||
  fail "unexpected enroll error"
cmp -s state.before d1/state && [ ! -e d1/device.pem ] || fail "a refused enrollment changed the device"
rc=0; "$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca d1/bootstrap.pem 2>err || rc=$?
[ $rc = 1 ] && grep -q "TLS connection to 127.0.0.1:$PORT: .*certificate verify failed" err || fail "server not verified against --ca ($rc)"
ok "enroll reaches ztmd over TLS 1.3, is refused cleanly, device unchanged"
