#!/usr/bin/env bash
# A real MQTT broker as the relying party: mosquitto on 127.0.0.1 with
# require_certificate, the device CA chain as cafile and ztmd's CRL bundle
# (/crl/device.pem, fetched anonymously) as crlfile. An active device
# publishes with its operational certificate; a revoked device, a retired
# device and a bootstrap-only (never vetted) device are refused at the TLS
# handshake.
. "$(dirname "$0")/lib.sh"

command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] ||
  skip "mosquitto is not installed (scripts/deps.sh installs it)"
command -v mosquitto_pub >/dev/null || skip "mosquitto_pub is not installed (mosquitto-clients)"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

PUB=http://ztm.test
ceremony_and_server --public-url "$PUB"
start_ztmd
cd "$T"
umask 077
FW=$(printf 'widget firmware 1.0' | sha256sum | cut -c1-64)
Q=$T/queue

enrolled_station plant-1 line-1
"$ZTM" product add --name widget --class sensor --hw-type 1.3.6.1.4.1.99999.7 >/dev/null 2>err ||
  fail "product add: $(cat err)"
"$ZTM" order add --name WO-1 --product widget --factory plant-1 --quota 10 \
  --not-after 2099-12-31T00:00:00Z >/dev/null 2>err || fail "order add: $(cat err)"

EE=(-addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth)
device() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -subj "/CN=widget-$1/serialNumber=$1" -days 7300 "${EE[@]}" -out "$1.boot" 2>/dev/null || fail "openssl req $1"
}
register() {
  "$ZTM" station record --queue "$Q" --bootstrap-cert "$1.boot" --serial "$1" --product widget \
    --order WO-1 --hw-rev A --mac 02:00:5e:00:00:01 --fw-version 1.0 --fw-sha256 "$FW" --test pass 2>err ||
    fail "record $1: $(cat err)"
  "$ZTM" station sync --queue "$Q" --cert line-1.crt --key "file:$T/line-1.key" \
    --key-pass-file line-1.pass >/dev/null 2>err || fail "sync: $(cat err)"
  openssl req -new -key "$1.key" -subj /CN=x -outform DER 2>/dev/null | base64 -w 64 >"$1.csr"
  code=$(curl -s -o "$1.body" -w '%{http_code}' --cacert "$ZTM_CA" --cert "$1.boot" --key "$1.key" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$1.csr" \
    "$ZTM_SERVER/.well-known/est/device/simpleenroll")
  [ "$code" = 200 ] || fail "register $1: HTTP $code $(cat "$1.body")"
  base64 -d "$1.body" | openssl pkcs7 -inform DER -print_certs -out "$1.crt" 2>/dev/null || fail "reply of $1"
  curl -sf --cacert "$ZTM_CA" --cert "$1.crt" --key "$1.key" "$ZTM_SERVER/api/v1/device/whoami" \
    -o /dev/null || fail "activate $1"
}

device DEV-A; register DEV-A
device DEV-R; register DEV-R
device DEV-T; register DEV-T
device DEV-B # bootstrap-only: recorded nowhere, never vetted
"$ZTM" device revoke DEV-R --reason keyCompromise >/dev/null 2>err || fail "revoke DEV-R: $(cat err)"
"$ZTM" device retire DEV-T >/dev/null 2>err || fail "retire DEV-T: $(cat err)"
ok "DEV-A active, DEV-R registered then revoked, DEV-T retired, DEV-B bootstrap-only"

# The CRL bundle, fetched as any relying party would (no client certificate),
# once it lists DEV-R and DEV-T.
cat "$T/ceremony/root/root.crt" "$T/ceremony/ca/device.crt" >cafile.pem
for _ in $(seq 100); do
  curl -sf --cacert "$ZTM_CA" -o crl.pem "$ZTM_SERVER/crl/device.pem" &&
    ! openssl verify -crl_check -CAfile cafile.pem -CRLfile crl.pem DEV-R.crt >/dev/null 2>&1 &&
    ! openssl verify -crl_check -CAfile cafile.pem -CRLfile crl.pem DEV-T.crt >/dev/null 2>&1 && break
  sleep 0.1
done
openssl verify -crl_check -CAfile cafile.pem -CRLfile crl.pem DEV-R.crt >/dev/null 2>&1 &&
  fail "the CRL bundle does not list DEV-R"
openssl verify -crl_check -CAfile cafile.pem -CRLfile crl.pem DEV-T.crt >/dev/null 2>&1 &&
  fail "the CRL bundle does not list retired DEV-T"
openssl verify -crl_check -CAfile cafile.pem -CRLfile crl.pem DEV-A.crt >/dev/null 2>&1 ||
  fail "the CRL bundle refuses DEV-A"

# mosquitto started as root drops to user "mosquitto", which cannot read
# $T (0700): `user` keeps it as whoever runs the test.
# The broker's own TLS identity: a self-signed certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout broker.key \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 -out broker.crt 2>/dev/null ||
  fail "broker certificate"
chmod 644 broker.key broker.crt cafile.pem crl.pem
for _ in $(seq 20); do
  MPORT=$((20000 + RANDOM % 30000))
  cat >mosquitto.conf <<EOF
per_listener_settings true
user $(id -un)
listener $MPORT 127.0.0.1
allow_anonymous true
cafile $T/cafile.pem
certfile $T/broker.crt
keyfile $T/broker.key
require_certificate true
use_identity_as_username true
crlfile $T/crl.pem
EOF
  "$MOSQUITTO" -c mosquitto.conf >mosquitto.log 2>&1 &
  MQ_PID=$!
  for _ in $(seq 50); do
    grep -q "running" mosquitto.log && break
    kill -0 "$MQ_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$MQ_PID" 2>/dev/null && break
done
kill -0 "$MQ_PID" 2>/dev/null || fail "mosquitto did not start: $(cat mosquitto.log)"
trap 'rc=$?; kill "$MQ_PID" 2>/dev/null || true; (exit $rc); cleanup' EXIT

pub() { # pub NAME CERT: publish one message as that device
  timeout 20 mosquitto_pub -h 127.0.0.1 -p "$MPORT" --cafile broker.crt --cert "$2" --key "$1.key" \
    -i "$1" -t "devices/$1" -m hello >"$1.pub" 2>&1
}
pub DEV-A DEV-A.crt || fail "active DEV-A could not publish: $(cat DEV-A.pub) $(tail -5 mosquitto.log)"
ok "mosquitto (require_certificate, ztmd's CRL): active DEV-A publishes"
pub DEV-R DEV-R.crt && fail "revoked DEV-R published"
ok "revoked DEV-R refused by the broker"
pub DEV-B DEV-B.boot && fail "bootstrap-only DEV-B published"
ok "bootstrap-only DEV-B refused by the broker"
pub DEV-T DEV-T.crt && fail "retired DEV-T published"
ok "retired DEV-T refused by the broker"
