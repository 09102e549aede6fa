#!/usr/bin/env bash
# Every CA-side key in a PKCS#11 token (SoftHSM2), end to end (issue 6,
# docs/hsm.md): the ceremony generates the root and the issuing-CA keys
# inside the token; pkcs11-tool (not ztm) shows them sensitive and never
# extractable, and nothing comes out of an export attempt; `ztm server init`
# puts the OCSP responder keys in the token too; ztmd reaches the token
# through p11-kit's RPC (`p11-kit server`, a token daemon in its own process,
# as a network HSM's client daemon would be) and enrolls a station, registers
# a device and answers OCSP with those keys; firmware signer keys are generated
# in the token ([firmware] key_token) and sign releases that openssl and
# ztm-device verify; a station whose key is in its own token enrolls and
# uploads a batch ztmd accepts. Then the token daemon dies: a
# registration gets 503 at once (no hang), its record stays, nothing is
# issued; the daemon comes back and the same device registers without a
# restart of ztmd.
. "$(dirname "$0")/lib.sh"

SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
for need in "$SOFTHSM" "$CLIENT"; do
  [ -r "$need" ] || skip "SKIPPED LOUDLY: $need missing: apt-get install softhsm2 p11-kit-modules (scripts/deps.sh)"
done
for tool in softhsm2-util pkcs11-tool p11-kit; do
  command -v $tool >/dev/null || skip "SKIPPED LOUDLY: $tool missing: apt-get install softhsm2 opensc p11-kit (scripts/deps.sh)"
done
DEV=$ZTM_BIN/src/device/ztm-device
C=$T/ceremony
cd "$T"
umask 077

# --- a fresh token ---------------------------------------------------------------
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$T" >softhsm2.conf
export SOFTHSM2_CONF=$T/softhsm2.conf
# PINs no certificate, hash or serial can contain by chance: the tests grep for them.
softhsm2-util --init-token --free --label ztm-ca --pin Pin-4711-hsm --so-pin 8642 >/dev/null || fail "token init"
printf 'Pin-4711-hsm\n' >pin
P11=(pkcs11-tool --module "$SOFTHSM" --token-label ztm-ca --login --pin Pin-4711-hsm)
# The ceremony machine talks to the token directly.
export ZTM_PKCS11_MODULE=$SOFTHSM

# --- the ceremony: root and issuing CAs in the token -----------------------------
"$ZTM" ceremony init --dir "$C" --org "ZTM HSM OEM" \
  --root-key "pkcs11:token=ztm-ca;object=root?pin-source=file:$T/pin" \
  --ca-key-uri "pkcs11:token=ztm-ca?pin-source=file:$T/pin" >ceremony.log 2>&1 ||
  fail "ceremony init: $(cat ceremony.log)"
[ ! -e "$C/root/root.key" ] && [ ! -e "$C/ca/device.key" ] || fail "a CA key file was written"
[ "$(cat "$C/root/root.uri")" = "pkcs11:token=ztm-ca;object=root" ] || fail "root.uri: $(cat "$C/root/root.uri")"
grep -q 'pin' "$C"/root/root.uri "$C"/ca/*.uri && fail "a .uri file names the PIN source"
grep -q 'Pin-4711-hsm' -r "$C" ceremony.log && fail "the PIN reached the ceremony directory or its output"
"$ZTM" ceremony verify --dir "$C" >/dev/null 2>err || fail "ceremony verify: $(cat err)"
[ "$(grep -o '"key_protection": *"pkcs11"' "$C/transcript.json" | wc -l)" = 7 ] ||
  fail "transcript does not say pkcs11 for the root and the six CAs"
# The root signs inside the token: its certificate verifies with its own key.
openssl verify -CAfile "$C/root/root.crt" "$C/root/root.crt" >/dev/null 2>&1 || fail "root self-signature"
openssl verify -CAfile "$C/root/root.crt" "$C/ca/device.crt" >/dev/null 2>&1 || fail "device CA chain"
ok "ceremony: root and six issuing-CA keys generated in the token; .uri files, no key files, no PIN written"

# pkcs11-tool, independent of ztm.
"${P11[@]}" --list-objects --type privkey >objs 2>/dev/null || fail "pkcs11-tool --list-objects"
[ "$(grep -c 'label:' objs)" = 7 ] || fail "expected 7 private keys: $(cat objs)"
grep -A6 'label: *root$' objs | matches 'Access: *sensitive, always sensitive, never extractable, local' ||
  fail "root key attributes: $(grep -A6 'label: *root$' objs)"
[ "$(grep -c 'Access: *sensitive, always sensitive, never extractable, local' objs)" = 7 ] ||
  fail "every CA key sensitive, never extractable, generated in the token: $(cat objs)"
"${P11[@]}" --read-object --type privkey --label root -o export.bin >export.log 2>&1 || true
[ ! -s export.bin ] || fail "pkcs11-tool exported the root key"
ok "pkcs11-tool: 7 private keys, all sensitive + never extractable + local; the export attempt yields nothing"

# A second ceremony cannot reuse the label: nothing overwritten.
"$ZTM" ceremony init --dir "$T/c2" --root-key "pkcs11:token=ztm-ca;object=root?pin-source=file:$T/pin" \
  >c2.log 2>&1 && fail "a second root under the same label was accepted"
grep -q 'exists already' c2.log || fail "second root: $(cat c2.log)"
[ ! -e "$T/c2" ] || fail "the failed ceremony left a directory"
"$ZTM" ceremony init --dir "$T/c3" --root-key "pkcs11:token=ztm-ca;object=r?pin-value=Pin-4711-hsm" >c3.log 2>&1 &&
  fail "pin-value accepted"
grep -q 'pin-value refused' c3.log && ! grep -q Pin-4711-hsm c3.log || fail "pin-value: $(cat c3.log)"
ok "refused: a second key under an existing label; a PIN in the URI (and the PIN is not echoed)"

# --- ztmd: CA and OCSP responder keys in the token, reached over p11-kit RPC --------
# Refused before anything is written: a firmware key token naming a key, or
# without a PIN file for ztmd.
"$ZTM" server init --ceremony "$C" --out "$T/bad1" --pin-file "$T/pin" \
  --fw-key-token "pkcs11:token=ztm-ca;object=fw" >bad1.log 2>&1 && fail "--fw-key-token with object= accepted"
grep -q 'names a token, not a key' bad1.log || fail "--fw-key-token object=: $(cat bad1.log)"
"$ZTM" server init --ceremony "$C" --out "$T/bad2" --fw-key-token "pkcs11:token=ztm-ca" >bad2.log 2>&1 &&
  fail "--fw-key-token without --pin-file accepted"
grep -q 'needs --pin-file' bad2.log && [ ! -e "$T/bad1" ] && [ ! -e "$T/bad2" ] ||
  fail "--fw-key-token without a PIN file: $(cat bad2.log)"
"$ZTM" server init --ceremony "$C" --out "$T/srv" --listen 127.0.0.1:0 --pin-file "$T/pin" \
  --responder-key-uri "pkcs11:token=ztm-ca?pin-source=file:$T/pin" \
  --fw-key-token "pkcs11:token=ztm-ca?pin-source=file:$T/pin" >server-init.log 2>&1 ||
  fail "server init: $(cat server-init.log)"
grep -q '^key_token = pkcs11:token=ztm-ca$' "$T/srv/ztmd.conf" && ! grep -q '^key_dir' "$T/srv/ztmd.conf" ||
  fail "[firmware] in ztmd.conf: $(cat "$T/srv/ztmd.conf")"
# ztmd refuses a [firmware] with both a key directory and a key token, and a
# key_token that names a key.
sed 's|^key_token = .*|&\nkey_dir = /tmp|' "$T/srv/ztmd.conf" >both.conf
"$ZTMD" --config both.conf --check >both.log 2>&1 && fail "ztmd accepted key_dir with key_token"
grep -q 'key_dir and key_token' both.log || fail "key_dir + key_token: $(cat both.log)"
sed 's|^key_token = .*|&;object=fw|' "$T/srv/ztmd.conf" >obj.conf
"$ZTMD" --config obj.conf --check >obj.log 2>&1 && fail "ztmd accepted a key_token naming a key"
grep -q 'names a token, not a key' obj.log || fail "key_token object=: $(cat obj.log)"
grep -q '^key = pkcs11:token=ztm-ca;object=ca-device$' "$T/srv/ztmd.conf" &&
  grep -q '^responder_key = pkcs11:token=ztm-ca;object=ocsp-device$' "$T/srv/ztmd.conf" ||
  fail "ztmd.conf: $(cat "$T/srv/ztmd.conf")"
[ "$("${P11[@]}" --list-objects --type privkey 2>/dev/null | grep -c 'label: *ocsp-')" = 3 ] ||
  fail "responder keys not in the token"

SOCK=$T/p11.sock
start_token_daemon() {
  p11-kit server -n "$SOCK" --provider "$SOFTHSM" "pkcs11:token=ztm-ca" >p11kit.env 2>p11kit.err ||
    fail "p11-kit server: $(cat p11kit.err)"
  P11PID=$(sed -n 's/^P11_KIT_SERVER_PID=\([0-9]*\);.*/\1/p' p11kit.env)
  [ -n "$P11PID" ] || fail "p11-kit server pid: $(cat p11kit.env)"
}
# The daemon forks one server per connection, all in its session's process
# group (it daemonizes with setsid): the whole group is the token backend.
stop_token_daemon() {
  [ -n "${P11PID:-}" ] || return 0
  kill -TERM -- "-$P11PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 -- "-$P11PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$P11PID" 2>/dev/null || true
  P11PID=
  rm -f "$SOCK"
}
start_token_daemon
trap 'rc=$?; stop_token_daemon; (exit $rc); cleanup' EXIT
export P11_KIT_SERVER_ADDRESS=unix:path=$SOCK ZTM_PKCS11_MODULE=$CLIENT
export ZTM_CA=$C/chain.pem ZTM_CERT=$C/operators/admin.crt ZTM_KEY=file:$C/operators/admin.key
export ZTM_KEY_PASS_FILE=$C/online.pass
start_ztmd
ZTMD_FIRST=$ZTMD_PID
ok "ztmd started with every CA key and the OCSP responder keys in the token (via p11-kit server)"

# --- the demo flow's CA-side signatures: station, device, OCSP ----------------------
enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"
record() {
  "$DEV" init --dir "$1" --serial "$2" --product widget >/dev/null || fail "device init $2"
  "$ZTM" station record --queue q --bootstrap-cert "$1/bootstrap.pem" --serial "$2" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1 \
    --fw-sha256 "$(printf fw | sha256sum | cut -c1-64)" --test pass 2>err || fail "record $2: $(cat err)"
  "$ZTM" station sync --queue q --cert line-1.crt --key "file:$T/line-1.key" --key-pass-file line-1.pass \
    >/dev/null 2>err || fail "sync: $(cat err)"
}
record d1 SN-0001
"$DEV" enroll --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "enroll: $(cat err)"
"$DEV" activate --dir d1 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "activate: $(cat err)"
openssl verify -CAfile "$C/root/root.crt" -untrusted "$C/ca/device.crt" d1/device.pem >/dev/null 2>&1 ||
  fail "device certificate does not verify"
openssl verify -CAfile "$C/root/root.crt" -untrusted "$C/ca/station.crt" line-1.crt >/dev/null 2>&1 ||
  fail "station certificate does not verify"
ok "station enrolled and device registered: certificates signed in the token verify to the root"

ocsp_good() {
  openssl ocsp -issuer "$C/ca/device.crt" -cert d1/device.pem -url "$ZTM_SERVER/ocsp" -CAfile "$ZTM_CA" \
    >ocsp.out 2>ocsp.err && grep -q 'Response verify OK' ocsp.err && grep -q ': good$' ocsp.out
}
for _ in $(seq 50); do ocsp_good && break; sleep 0.2; done
ocsp_good || fail "OCSP: $(cat ocsp.out ocsp.err)"
ok "OCSP: good, signed by a responder key in the token, responder certificate issued by the CA in the token"

# --- code signing: firmware signer keys generated in the token ----------------------
"$ZTM" firmware signer create --product widget --channel test >signer.out 2>err ||
  fail "firmware signer create: $(cat err)"
[ -z "$(ls -A "$T/srv/firmware" 2>/dev/null)" ] || fail "a signer key file was written: $(ls "$T/srv/firmware")"
SIGNER_URI=$(db "SELECT key_uri FROM fw_signers WHERE channel = 'test'")
case $SIGNER_URI in pkcs11:token=ztm-ca\;object=fw-widget-test-*) ;; *) fail "signer key URI: $SIGNER_URI" ;; esac
"$ZTM" operator add --name fay --role firmware-signer >fay.code 2>/dev/null || fail "operator add fay"
printf 'fay-key-passphrase\n' >fay.pass
"$ZTM" operator enroll --name fay --code-file fay.code --key "file:$T/fay.key" --key-pass-file fay.pass \
  --out fay.crt 2>err || fail "operator enroll fay: $(cat err)"
head -c 100000 /dev/urandom >fw.bin
ZTM_CERT=$T/fay.crt ZTM_KEY=file:$T/fay.key ZTM_KEY_PASS_FILE=$T/fay.pass "$ZTM" firmware sign \
  --product widget --version 1.0.0 --svn 1 --channel test --image fw.bin --out-dir fwout >sign.out 2>err ||
  fail "firmware sign: $(cat err)"
openssl cms -verify -binary -inform DER -in fwout/fw.bin.cms -content fw.bin -CAfile "$C/root/root.crt" \
  -purpose any -out /dev/null 2>err || fail "openssl cms -verify of a token-signed release: $(cat err)"
"$DEV" fw-verify --root "$C/root/root.crt" --product widget --svn-file svn --test-device --image fw.bin \
  --sig fwout/widget-1.0.0.ztmfw >fwv.out 2>&1 || fail "ztm-device fw-verify: $(cat fwv.out)"
"${P11[@]}" --list-objects --type privkey >objs 2>/dev/null || fail "pkcs11-tool --list-objects"
grep -A6 'label: *fw-widget-test-' objs | matches 'Access: *sensitive, always sensitive, never extractable, local' ||
  fail "firmware signer key attributes: $(cat objs)"
ok "firmware signer key generated in the token (sensitive, never extractable); its CMS and manifest verify"

# --- a station whose key is in its own token ----------------------------------------
softhsm2-util --init-token --free --label line-2 --pin Pin-2468-line --so-pin 1357 >/dev/null || fail "station token init"
printf 'Pin-2468-line\n' >pin2
SKEY="pkcs11:token=line-2;object=station?pin-source=file:$T/pin2&module-path=$SOFTHSM"
"$ZTM" station add --factory plant-1 --name line-2 >line-2.code 2>/dev/null || fail "station add line-2"
"$ZTM" station enroll --name line-2 --code-file line-2.code --key "$SKEY" --out line-2.crt >/dev/null 2>err ||
  fail "station enroll with a token key: $(cat err)"
pkcs11-tool --module "$SOFTHSM" --token-label line-2 --login --pin Pin-2468-line --list-objects --type privkey \
  >sobjs 2>/dev/null || fail "pkcs11-tool line-2"
grep -A6 'label: *station$' sobjs | matches 'Access: *sensitive, always sensitive, never extractable, local' ||
  fail "station key attributes: $(cat sobjs)"
"$DEV" init --dir d3 --serial SN-0003 --product widget >/dev/null || fail "device init SN-0003"
"$ZTM" station record --queue q2 --bootstrap-cert d3/bootstrap.pem --serial SN-0003 --product widget \
  --order WO-1 --hw-rev A --mac 02:00:5e:00:00:03 --fw-version 1 \
  --fw-sha256 "$(printf fw | sha256sum | cut -c1-64)" --test pass 2>err || fail "record SN-0003: $(cat err)"
"$ZTM" station sync --queue q2 --cert line-2.crt --key "$SKEY" >/dev/null 2>err ||
  fail "sync signed in the station's token: $(cat err)"
[ "$(db "SELECT count(*) FROM records r JOIN stations s ON s.id = r.station_id
         WHERE r.serial = 'SN-0003' AND s.name = 'line-2'")" = 1 ] || fail "the token-signed batch was not stored"
"$DEV" enroll --dir d3 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "enroll SN-0003: $(cat err)"
grep -q -e Pin-2468-line -e Pin-4711-hsm "$T/ztmd.log" && fail "a PIN reached the log"
ok "station key in its own token: enrolled, batch signed in the token accepted, its device registered"

# --- the token daemon dies mid-run -------------------------------------------------
record d2 SN-0002
before=$(issued)
stop_token_daemon
start=$(date +%s)
"$DEV" enroll --dir d2 --server "$ZTM_SERVER" --ca "$ZTM_CA" >enroll2.out 2>&1 && fail "enrolled without a token"
took=$(( $(date +%s) - start ))
[ "$took" -le 20 ] || fail "the refusal took ${took}s"
grep -q '503' enroll2.out || fail "not a 503: $(cat enroll2.out)"
kill -0 "$ZTMD_FIRST" 2>/dev/null || fail "ztmd died with the token daemon"
[ "$(issued)" = "$before" ] || fail "something was issued without the token"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-0002'")" = 1 ] || fail "the record of SN-0002 was lost"
grep -q 'pkcs11.sign_failed' "$T/ztmd.log" || fail "no pkcs11.sign_failed in the log"
grep -q Pin-4711-hsm "$T/ztmd.log" && fail "the PIN reached the log"
ok "token daemon gone: 503 in ${took}s, ztmd alive, nothing issued, the record kept, the failure logged (no PIN)"

start_token_daemon
"$DEV" enroll --dir d2 --server "$ZTM_SERVER" --ca "$ZTM_CA" >/dev/null 2>err || fail "enroll after the token came back: $(cat err)"
openssl verify -CAfile "$C/root/root.crt" -untrusted "$C/ca/device.crt" d2/device.pem >/dev/null 2>&1 ||
  fail "SN-0002 certificate does not verify"
[ "$ZTMD_PID" = "$ZTMD_FIRST" ] && kill -0 "$ZTMD_FIRST" || fail "ztmd was restarted"
ocsp_good || fail "OCSP after the token came back: $(cat ocsp.out ocsp.err)"
ok "token daemon back: the same device registers and OCSP answers, with no restart of ztmd"
