#!/usr/bin/env bash
# kill -9 of ztmd (master and workers at once) during 1,000 concurrent EST
# enrollments, then restart (DESIGN I1, I2, I3, I4):
#  - every certificate a client received is in the store, byte for byte;
#  - no serial twice; no reservation left after start-up recovery;
#  - every client that got no answer enrolls on retry, every client that got
#    one gets the same certificate again; in the end one certificate each.
. "$(dirname "$0")/lib.sh"
N=${ZTM_CRASH_N:-1000}

ceremony_and_server --workers 2
start_ztmd
ROOT=$T/ceremony/root/root.crt
cd "$T"
mkdir -p keys out out2

# The admin key, decrypted once for curl (test directory only, removed at exit).
openssl pkey -in "$T/ceremony/operators/admin.key" -passin file:"$ZTM_KEY_PASS_FILE" -out admin.pem
"$ZTM" factory add --name crashtest >/dev/null 2>&1 || fail "factory add"

# N stations, their codes, over one curl process (connections reused).
: >add.cfg
for i in $(seq -w 1 "$N"); do
  # `next` resets per-transfer options: every block carries its own.
  printf 'url = "%s/api/v1/stations"\ncacert = "%s"\ncert = "%s"\nkey = "admin.pem"\nheader = "Content-Type: application/json"\ndata = "{\\"factory\\":\\"crashtest\\",\\"name\\":\\"s%s\\"}"\noutput = "keys/s%s.json"\nnext\n' \
    "$ZTM_SERVER" "$ROOT" "$ZTM_CERT" "$i" "$i" >>add.cfg
done
sed -i '$d' add.cfg # no empty transfer after the last `next`
curl -s --fail-early --parallel --parallel-max 8 -K add.cfg 2>curl0.err || fail "creating stations: $(tail -3 curl0.err)"
[ "$(db "SELECT count(*) FROM stations")" = "$N" ] || fail "expected $N stations"
ok "$N stations with one-time codes"

# N keys and CSRs (one openssl process each, two at a time).
seq -w 1 "$N" | xargs -P 2 -I{} sh -c '
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout keys/s{}.key \
    -subj /CN=s{} -outform DER 2>/dev/null | base64 > keys/s{}.b64' || fail "CSRs"

mkcfg() { # mkcfg OUTDIR > cfg
  for i in $(seq -w 1 "$N"); do
    code=$(sed -n 's/.*"code":"\([^"]*\)".*/\1/p' "keys/s$i.json")
    printf 'url = "%s/.well-known/est/simpleenroll"\ncacert = "%s"\nheader = "Content-Type: application/pkcs10"\nwrite-out = "%%{http_code} %%{filename_effective}\\n"\nuser = "s%s:%s"\ndata-binary = "@keys/s%s.b64"\noutput = "%s/s%s.b64"\nnext\n' \
      "$ZTM_SERVER" "$ROOT" "$i" "$code" "$i" "$1" "$i"
  done
}
mkcfg out | sed '$d' >enroll.cfg
chmod 600 enroll.cfg

# Start the storm; kill -9 the whole ztmd process group once a share has been issued.
curl -s --parallel --parallel-max 64 -K enroll.cfg >statuses 2>curl1.err &
CURL=$!
target=$((N / 4))
for _ in $(seq 600); do
  [ "$(db "SELECT count(*) FROM certificates WHERE owner_kind='station' AND state='issued'")" -ge "$target" ] && break
  sleep 0.05
done
kill -KILL -- "-$ZTMD_PID" 2>/dev/null || fail "kill -9 of the ztmd process group"
wait "$ZTMD_PID" 2>/dev/null || true
ZTMD_PID=
wait "$CURL" || true
got=$(grep -c '^200 ' statuses || true)
reserved=$(db "SELECT count(*) FROM certificates WHERE state='reserved'")
ok "killed ztmd with -9: $got clients had a certificate, $reserved reservations in flight"
[ "$got" -gt 0 ] && [ "$got" -lt "$N" ] || fail "the kill did not land mid-run ($got of $N)"

check_received() { # every 200 body: its certificate, byte for byte, is an issued one in the store
  local dir=$1 bad=0 f der n=0
  local -A stored=()
  # The issued certificates, read once (not one query and three openssl runs
  # per answer: that made this test's time depend on the machine's load).
  while read -r der; do stored[$der]=1; done < <(db "SELECT hex(der) FROM certificates WHERE state='issued'")
  while read -r code f; do
    [ "$code" = 200 ] || continue
    n=$((n + 1))
    der=$(base64 -d "$f" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
      sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/{/-----/d;p}' | base64 -d | xxd -p | tr -d '\n' | tr a-f A-F)
    [ -n "$der" ] && [ -n "${stored[$der]:-}" ] || { echo "not in store or different: $f" >&2; bad=1; }
  done <"$2"
  [ "$n" -gt 0 ] || { echo "no 200 answers in $2" >&2; bad=1; }
  return $bad
}
check_received out statuses || fail "a certificate a client received is missing from the store"
ok "every certificate a client received is in the store with identical bytes"

# Restart: recovery turns leftover reservations into abandoned ones.
start_ztmd
[ "$(db "SELECT count(*) FROM certificates WHERE state='reserved'")" = 0 ] || fail "reservations left after restart"
abandoned=$(db "SELECT count(*) FROM certificates WHERE state='abandoned'")
[ "$abandoned" -ge "$reserved" ] || fail "recovery lost track: $reserved reserved, $abandoned abandoned"
ok "restart recovered $abandoned reservations as abandoned"

# Everyone retries with the same code and key.
mkcfg out2 | sed '$d' >retry.cfg
curl -s --parallel --parallel-max 32 -K retry.cfg >statuses2 2>curl2.err || true
[ "$(grep -c '^200 ' statuses2)" = "$N" ] || fail "retries: $(grep -vc '^200 ' statuses2) of $N did not get a certificate: $(grep -v '^200 ' statuses2 | head -3)"
check_received out2 statuses2 || fail "a retried certificate is missing from the store"
while read -r code f; do
  [ "$code" = 200 ] || continue
  cmp -s "$f" "out2/$(basename "$f")" || fail "a client that had a certificate got a different one on retry: $f"
done <statuses
ok "all $N retried: those answered before got the same certificate, the others one now"

[ "$(db "SELECT count(*) FROM certificates WHERE owner_kind='station' AND state='issued'")" = "$N" ] || fail "issued count is not $N"
[ "$(db "SELECT count(DISTINCT owner_id) FROM certificates WHERE owner_kind='station' AND state='issued'")" = "$N" ] || fail "a station has two certificates"
[ "$(db "SELECT count(*) - count(DISTINCT serial) FROM certificates")" = 0 ] || fail "duplicate serial"
[ "$(db "SELECT count(*) FROM stations s JOIN certificates c ON c.serial = s.cert_serial WHERE c.state='issued'")" = "$N" ] || fail "stations not bound to their certificates"
ok "exactly $N issued, one per station, no duplicate serial"
echo "crash recovery checks passed"
