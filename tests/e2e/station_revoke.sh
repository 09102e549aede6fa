#!/usr/bin/env bash
# Revoking a station (issue 3 point 7): `ztm station revoke` takes effect at
# once for the station's own requests - uploads and re-enrollment get 401 on
# every worker and on a keep-alive connection opened before the revocation -
# and marks the records it made at or after `since` as void for vetting
# (stations.revoked_at; vet.c refuses a record with recorded_at >= revoked_at).
# A second revocation can only move the time earlier. Refusals (a planner 403,
# unknown station 404, bad or future since 400) change nothing and are audited.
# Another station of the same factory is not affected.
. "$(dirname "$0")/lib.sh"

ceremony_and_server --workers 4
# The keep-alive connection below stays idle while the refusals run, which
# under the sanitizer build takes longer than the default 30 s timeout.
sed -i 's/^\[server\]$/[server]\ntimeout = 600s/' "$T/srv/ztmd.conf"
grep -q '^timeout = 600s$' "$T/srv/ztmd.conf" || fail "could not set the idle timeout"
start_ztmd
cd "$T"
umask 077
ROOT=$T/ceremony/root/root.crt

"$ZTM" factory add --name acme >/dev/null 2>&1 || fail "factory add"
enroll_station() { # NAME
  "$ZTM" station add --factory acme --name "$1" >"$1.code" 2>/dev/null || fail "station add $1"
  printf 'station-key-passphrase\n' >"$1.pass"
  "$ZTM" station enroll --name "$1" --code-file "$1.code" --key "file:$T/$1.key" \
    --key-pass-file "$1.pass" --out "$1.crt" 2>err || fail "station enroll $1: $(cat err)"
  openssl pkey -in "$1.key" -passin "file:$1.pass" -out "$1.plain.key" 2>/dev/null || fail "decrypting $1.key"
}
enroll_station line-1
enroll_station line-2
"$ZTM" product add --name sensor --class sensor --hw-type 1.3.6.1.4.1.99999.2 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product sensor --factory acme --quota 100 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"

FW=$(printf 'firmware 1.0' | sha256sum | cut -c1-64)
record() { # STATION QUEUE SERIAL
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -addext basicConstraints=critical,CA:FALSE -keyout "dev-$3.key" \
    -subj "/CN=device/serialNumber=$3" -days 3650 -out "dev-$3.crt" 2>/dev/null || fail "openssl req $3"
  "$ZTM" station record --queue "$2" --bootstrap-cert "dev-$3.crt" --serial "$3" --product sensor \
    --order WO-1 --hw-rev A --mac 02:00:5e:10:00:01 --fw-version 1.0 --fw-sha256 "$FW" --test pass \
    2>err || fail "record $3: $(cat err)"
}
sync_as() { # CERT KEY QUEUE
  "$ZTM" station sync --queue "$3" --cert "$1" --key "file:$T/$2" --key-pass-file line-1.pass
}
post_batch() { # CERT KEY FILE: prints the status
  curl -s --cacert "$ZTM_CA" --cert "$1" --key "$2" -H 'Content-Type: application/cms' \
    --data-binary @"$3" -o reply.json -w '%{http_code}' "$ZTM_SERVER/api/v1/records" || true
}
reenroll() { # CERT KEY: prints the status
  openssl req -new -key "$2" -subj "/CN=line-1" -outform DER | base64 >reenroll.b64
  curl -s --cacert "$ZTM_CA" --cert "$1" --key "$2" -H 'Content-Type: application/pkcs10' \
    --data-binary @reenroll.b64 -o reenrolled.b64 -w '%{http_code}' \
    "$ZTM_SERVER/.well-known/est/simplereenroll" || true
}
station() { db "SELECT state || ' ' || revoked_at FROM stations WHERE name = '$1'"; }

# --- before: line-1 re-enrolls (same key) and uploads ---------------------------------
[ "$(reenroll line-1.crt line-1.plain.key)" = 200 ] || fail "re-enrollment before the revocation: $(cat reenrolled.b64)"
base64 -d reenrolled.b64 | openssl pkcs7 -inform DER -print_certs -out line-1b.crt 2>/dev/null ||
  fail "re-enrollment reply"
OLD=$(openssl x509 -in line-1.crt -noout -serial | cut -d= -f2 | tr A-F a-f)
CUR=$(openssl x509 -in line-1b.crt -noout -serial | cut -d= -f2 | tr A-F a-f)
[ "$(db "SELECT cert_serial FROM stations WHERE name = 'line-1'")" = "$CUR" ] || fail "station not on its new certificate"
record line-1 q1 SN-0001
sync_as line-1b.crt line-1.key q1 2>err || fail "sync before the revocation: $(cat err)"
SENT=$(ls -d q1/sent/*)/batch.cms
A=$(db "SELECT recorded_at FROM records WHERE serial = 'SN-0001'")
[ -n "$A" ] || fail "SN-0001 not stored"
[ "$(post_batch line-1b.crt line-1.plain.key "$SENT")" = 200 ] || fail "re-upload: $(cat reply.json)"
ok "before: line-1 re-enrolls (200), uploads (201, then 200 for the same bytes)"

# A keep-alive connection opened now, used again after the revocation.
mkfifo ka.in
openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$ZTM_CA" -cert line-1b.crt -key line-1.plain.key \
  -quiet <ka.in >ka.out 2>ka.err &
KA_PID=$!
exec 7>ka.in
ka_post() { # FILE
  printf 'POST /api/v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/cms\r\nContent-Length: %d\r\n\r\n' \
    "$(stat -c %s "$1")" >&7
  cat "$1" >&7
}
# A JSON body has no final newline: the next status line follows it on the
# same line of ka.out.
ka_status() { grep -ao 'HTTP/1\.1 [0-9][0-9][0-9]' ka.out | cut -d' ' -f2 || true; }
ka_wait() { # N STATUS: the Nth response on the connection has STATUS
  for _ in $(seq 100); do
    [ "$(ka_status | wc -l)" -ge "$1" ] && break
    kill -0 "$KA_PID" 2>/dev/null || fail "the keep-alive connection closed: $(cat ka.err)"
    sleep 0.1
  done
  [ "$(ka_status | sed -n "${1}p")" = "$2" ] || fail "keep-alive response $1: want $2: $(ka_status | tr '\n' ' ')"
}
ka_post "$SENT"
ka_wait 1 200
ok "keep-alive connection open, first upload on it answered 200"

# --- refusals: nothing changes --------------------------------------------------------
"$ZTM" operator add --name plan --role planner >plan.code 2>/dev/null || fail "operator add"
"$ZTM" operator enroll --name plan --code-file plan.code --key "file:$T/plan.key" \
  --key-pass-file line-1.pass --out plan.crt 2>err || fail "operator enroll: $(cat err)"
AUDIT0=$(db "SELECT count(*) FROM audit WHERE action = 'station.revoke'")
refused() { # WHAT STATUS command...
  local what=$1 status=$2; shift 2
  "$@" >out 2>err && fail "$what: accepted"
  grep -q "($status)" err || fail "$what: want $status: $(cat err)"
  [ "$(station line-1)" = "enrolled 0" ] || fail "$what: line-1 is now $(station line-1)"
  ok "refused ($status): $what"
}
refused "a planner" 403 env ZTM_CERT=plan.crt ZTM_KEY="file:$T/plan.key" ZTM_KEY_PASS_FILE=line-1.pass \
  "$ZTM" station revoke --factory acme --name line-1
refused "unknown station" 404 "$ZTM" station revoke --factory acme --name line-9
refused "unknown factory" 404 "$ZTM" station revoke --factory acme-9 --name line-1
refused "since not a time" 400 "$ZTM" station revoke --factory acme --name line-1 --since yesterday
refused "since February 30" 400 "$ZTM" station revoke --factory acme --name line-1 --since 2025-02-30T00:00:00Z
FUTURE=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
refused "since in the future" 400 "$ZTM" station revoke --factory acme --name line-1 --since "$FUTURE"
grep -q 'in the future' err || fail "future since: $(cat err)"
refused "since in the future (Unix seconds)" 400 "$ZTM" station revoke --factory acme --name line-1 \
  --since $(( $(date +%s) + 600 ))
openssl pkey -in "$T/ceremony/operators/admin.key" -passin "file:$ZTM_KEY_PASS_FILE" -out admin.plain.key 2>/dev/null ||
  fail "decrypting the admin key"
admin_post() { # PATH BODY: prints the status
  curl -s --cacert "$ZTM_CA" --cert "$ZTM_CERT" --key admin.plain.key -H 'Content-Type: application/json' \
    --data-binary "$2" -o reply.json -w '%{http_code}' "$ZTM_SERVER$1" || true
}
for c in '404 /api/v1/stations/acme/line-1/revok {}' '404 /api/v1/stations/acme/line-1 {}' \
  '404 /api/v1/stations/acme/line-1/x/revoke {}' '400 /api/v1/stations/acme/line-1/revoke {"when":1}' \
  '400 /api/v1/stations/acme/line-1/revoke {"since":1,"x":2}' '400 /api/v1/stations/acme/line-1/revoke [1]' \
  '400 /api/v1/stations/acme/line-1/revoke {"since":-1}' '400 /api/v1/stations/acme/line-1/revoke not-json' \
  '400 /api/v1/stations/acme/line-1/revoke {"since":"2025-01-31T00:00:00+01:00"}' \
  '400 /api/v1/stations/acme/line-1/revoke {"reason":"certificateHold"}' \
  '400 /api/v1/stations/acme/line-1/revoke {"reason":"stolen"}' \
  '400 /api/v1/stations/acme/line-1/revoke {"since":1,"reason":1}'; do
  set -- $c
  [ "$(admin_post "$2" "$3")" = "$1" ] || fail "POST $2 $3: want $1: $(cat reply.json)"
done
[ "$(station line-1)" = "enrolled 0" ] || fail "a refused call changed line-1: $(station line-1)"
[ "$(db "SELECT state FROM certificates WHERE serial = '$CUR'")" = issued ] || fail "a refused call revoked the certificate"
N=$(db "SELECT count(*) FROM audit WHERE action = 'station.revoke' AND outcome <> 'ok'")
[ "$((N - AUDIT0))" = 19 ] || fail "refusals audited: $((N - AUDIT0)) of 19"
ok "refused (400, 404) over curl: bad paths, bodies and reasons; all 19 refusals audited, nothing changed"

# --- the revocation ---------------------------------------------------------------------
SINCE=$((A + 1))
while [ "$(date +%s)" -lt "$SINCE" ]; do sleep 0.2; done # not in the future
"$ZTM" station revoke --factory acme --name line-1 --since "$SINCE" --reason keyCompromise >revoked.json 2>err ||
  fail "station revoke: $(cat err)"
grep -q "no longer vet" err || fail "revoke message: $(cat err)"
grep -q '"state": "revoked"' revoked.json && grep -q "\"revoked_at\": $SINCE" revoked.json ||
  fail "revoke reply: $(cat revoked.json)"
[ "$(station line-1)" = "revoked $SINCE" ] || fail "store: $(station line-1)"
[ "$(db "SELECT state FROM certificates WHERE serial = '$CUR'")" = revoked ] || fail "current certificate not revoked"
[ "$(db "SELECT reason FROM revocations WHERE serial = '$CUR'")" = 1 ] ||
  fail "current certificate's reason: $(db "SELECT reason FROM revocations WHERE serial = '$CUR'") (want 1, keyCompromise)"
[ "$(db "SELECT actor FROM revocation_log WHERE serial = '$CUR'")" = operator:admin ] ||
  fail "revocation log actor: $(db "SELECT * FROM revocation_log WHERE serial = '$CUR'")"
[ "$(station line-2)" = "enrolled 0" ] || fail "line-2 changed: $(station line-2)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'station.revoke' AND outcome = 'ok'
  AND actor = 'operator:admin' AND object = 'acme/line-1' AND detail LIKE 'since=$SINCE revoked_at=$SINCE reason=keyCompromise cert=$CUR'")" = 1 ] ||
  fail "revocation audit: $(db "SELECT * FROM audit WHERE action = 'station.revoke' AND outcome = 'ok'")"
ok "revoked with --since $SINCE --reason keyCompromise: reply and store say revoked_at $SINCE, current certificate revoked with keyCompromise by the operator, audited"

# --- at once: the station's requests are refused --------------------------------------------
ka_post "$SENT"
ka_wait 2 401
ok "the keep-alive connection opened before the revocation: next upload 401"
# A batch the station signed with its current certificate: only the
# revocation can be the reason for a refusal.
record line-1 q2 SN-0002
sync_as line-1b.crt line-1.key q2 2>err && fail "sync after the revocation succeeded"
grep -q '(401)' err || fail "sync after the revocation: want 401: $(cat err)"
B2=$(ls q2/batches/*.cms)
for i in 1 2 3 4 5 6 7 8; do # new connections, spread over the 4 workers
  [ "$(post_batch line-1b.crt line-1.plain.key "$B2")" = 401 ] || fail "upload $i with the current certificate: $(cat reply.json)"
done
[ "$(post_batch line-1.crt line-1.plain.key "$B2")" = 401 ] || fail "upload with the superseded certificate: $(cat reply.json)"
[ "$(post_batch line-1b.crt line-1.plain.key "$SENT")" = 401 ] || fail "re-upload of stored bytes: $(cat reply.json)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-0002'")" = 0 ] || fail "SN-0002 stored"
W=$(grep 'event=refused status=401 path="/api/v1/records"' "$T/ztmd.log" | grep -o 'pid=[0-9]*' | sort -u | wc -l)
[ "$W" -ge 2 ] || fail "the 401s came from $W worker(s); expected several"
ok "uploads refused (401) by $W workers: ztm station sync, 8 new connections, the superseded certificate, a duplicate"
[ "$(reenroll line-1b.crt line-1.plain.key)" = 401 ] || fail "re-enrollment after the revocation: $(cat reenrolled.b64)"
[ "$(reenroll line-1.crt line-1.plain.key)" = 401 ] || fail "re-enrollment with the superseded certificate"
[ "$(db "SELECT count(*) FROM certificates WHERE owner_kind = 'station' AND state = 'issued' AND
  owner_id = (SELECT id FROM stations WHERE name = 'line-1') AND serial NOT IN ('$OLD')")" = 0 ] ||
  fail "a certificate was issued to the revoked station"
ok "re-enrollment refused (401) with the current and the superseded certificate, nothing issued"
"$ZTM" station enroll --name line-1 --code-file line-1.code --key "file:$T/line-1c.key" \
  --key-pass-file line-1.pass --out line-1c.crt 2>err && fail "enrollment with the used code after the revocation"
ok "the station's enrollment code cannot bring it back"

# Records: SN-0001 (recorded_at A < since) still vets; a later since voids it.
voided() { db "SELECT count(*) FROM records r JOIN stations s ON s.id = r.station_id
  WHERE s.name = 'line-1' AND s.revoked_at <> 0 AND r.recorded_at >= s.revoked_at"; }
[ "$(voided)" = 0 ] || fail "SN-0001 was voided by since $SINCE"
"$ZTM" station revoke --factory acme --name line-1 >again.json 2>err || fail "revoke again: $(cat err)"
grep -q "\"revoked_at\": $SINCE" again.json || fail "a later revocation moved the time: $(cat again.json)"
[ "$(station line-1)" = "revoked $SINCE" ] || fail "store after revoking again: $(station line-1)"
"$ZTM" station revoke --factory acme --name line-1 --since "$A" >wider.json 2>err || fail "revoke wider: $(cat err)"
grep -q "\"revoked_at\": $A" wider.json || fail "an earlier since did not widen: $(cat wider.json)"
[ "$(voided)" = 1 ] || fail "SN-0001 (recorded at $A) not voided by since $A"
"$ZTM" station show --factory acme --name line-1 >show.json 2>err || fail "station show: $(cat err)"
grep -q '"state": "revoked"' show.json && grep -q "\"revoked_at\": $A" show.json || fail "show: $(cat show.json)"
[ "$(db "SELECT count(*) FROM audit WHERE action = 'station.revoke' AND outcome = 'ok'")" = 3 ] ||
  fail "each revocation audited"
ok "revoking again: a later time keeps $SINCE, an earlier one widens to $A (SN-0001 now void); show and audit agree"

# --- another station is not affected ----------------------------------------------------------
record line-2 q3 SN-0003
sync_as line-2.crt line-2.key q3 2>err || fail "line-2 sync: $(cat err)"
[ "$(db "SELECT count(*) FROM records WHERE serial = 'SN-0003'")" = 1 ] || fail "SN-0003 not stored"
ok "line-2 of the same factory still uploads"

# since 0: every record (stored as 1, since 0 in the store means "not revoked").
"$ZTM" station revoke --factory acme --name line-1 --since 0 >all.json 2>err || fail "revoke --since 0: $(cat err)"
grep -q '"revoked_at": 1$' all.json && [ "$(station line-1)" = "revoked 1" ] || fail "since 0: $(cat all.json)"
ok "--since 0 voids every record (revoked_at 1)"

exec 7>&-
kill "$KA_PID" 2>/dev/null || true
echo "all station revocation checks passed"
