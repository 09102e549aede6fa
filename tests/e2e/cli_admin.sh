#!/usr/bin/env bash
# The `ztm` command line against a real ztmd: operators with roles, what
# each role may do, station enrollment through `ztm station enroll` (with a
# retry), and the errors a user sees.
. "$(dirname "$0")/lib.sh"

ceremony_and_server
start_ztmd
cd "$T"
umask 077

"$ZTM" factory add --name f1 >/dev/null 2>&1 || fail "factory add"
"$ZTM" factory add --name f1 >/dev/null 2>err && fail "duplicate factory accepted"
grep -q '409' err || fail "duplicate factory: $(cat err)"
ok "duplicate factory refused (409)"

"$ZTM" station add --factory nowhere --name s1 >/dev/null 2>err && fail "station in unknown factory accepted"
grep -q '404' err || fail "unknown factory: $(cat err)"
"$ZTM" station add --factory f1 --name 'bad name' >/dev/null 2>err && fail "bad station name accepted"
grep -q '400' err || fail "bad name: $(cat err)"
ok "unknown factory (404) and bad names (400) refused"

# A planner: enrolled with its own one-time code, then limited by its role.
"$ZTM" operator add --name pat --role planner >pat.code 2>/dev/null || fail "operator add"
"$ZTM" operator add --name eve --role station >/dev/null 2>err && fail "role station accepted for an operator"
printf 'planner-key-passphrase\n' >pat.pass
"$ZTM" operator enroll --name pat --code-file pat.code --key "file:$T/pat.key" \
  --key-pass-file pat.pass --out pat.crt 2>err || fail "operator enroll: $(cat err)"
openssl x509 -in pat.crt -noout -subject | matches 'OU *= *planner' || fail "planner subject"
grep -q 'ENCRYPTED PRIVATE KEY' pat.key || fail "operator key not encrypted on disk"
[ "$(stat -c %a pat.key)" = 600 ] || fail "operator key mode"
ok "planner enrolled with its code; key encrypted, mode 0600"

as_pat() { ZTM_CERT=$T/pat.crt ZTM_KEY=file:$T/pat.key ZTM_KEY_PASS_FILE=$T/pat.pass "$ZTM" "$@"; }
as_pat station add --factory f1 --name s1 >s1.code 2>err || fail "planner may add a station: $(cat err)"
as_pat operator add --name mallory --role admin >/dev/null 2>err && fail "planner created an admin"
grep -q '403' err || fail "planner creating operators: $(cat err)"
[ "$(db "SELECT count(*) FROM operators WHERE name='mallory'")" = 0 ] || fail "mallory exists"
ok "planner adds stations, may not create operators (403)"

as_pat station show --factory f1 --name s1 >show.json || fail "station show"
grep -q '"state": "pending"' show.json || fail "station show: $(cat show.json)"

# A station enrolls through ztm (EST simpleenroll), and again (a retry).
printf 'station-key-passphrase\n' >s1.pass
"$ZTM" station enroll --name s1 --code-file s1.code --key "file:$T/s1.key" --key-pass-file s1.pass \
  --out s1.crt 2>err || fail "station enroll: $(cat err)"
cp s1.crt s1.first
"$ZTM" station enroll --name s1 --code-file s1.code --key "file:$T/s1.key" --key-pass-file s1.pass \
  --out s1.crt 2>err || fail "station enroll retry: $(cat err)"
cmp -s s1.crt s1.first || fail "retry gave a different certificate"
as_pat station show --factory f1 --name s1 | matches '"state": "enrolled"' || fail "station not enrolled"
ok "station enrolled through ztm; a retry returns the same certificate"

# Someone else with the used code: refused, and no certificate file written.
"$ZTM" station enroll --name s1 --code-file s1.code --key "file:$T/thief.key" --key-pass-file s1.pass \
  --out thief.crt 2>err && fail "used code accepted"
[ ! -e thief.crt ] || fail "a certificate file was written on refusal"
grep -q '401' err || fail "used code: $(cat err)"
ok "used code refused; nothing written"

# Wrong trust anchor: the client refuses the server.
ZTM_CA=$T/s1.crt "$ZTM" factory add --name f2 >/dev/null 2>err && fail "untrusted server accepted"
grep -qi 'not trusted\|handshake\|CA bundle' err || fail "untrusted server: $(cat err)"
ok "client refuses a server that does not chain to its CA bundle"

rc=0; "$ZTM" station 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "usage exit status $rc"
rc=0; "$ZTM" nonsense 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command exit status $rc"
ok "misuse exits 2"
echo "cli admin checks passed"
