#!/usr/bin/env bash
# bench/hsm.sh [N] - bench_hsm_issue against a fresh SoftHSM2 token in a
# temporary directory (docs/benchmarks.md, "Issuance with the key in an HSM").
#
#   bench/hsm.sh [N]                 SoftHSM2 loaded into the benchmark's
#                                    process (the issue-6 figure)
#   HSM_REMOTE=1 bench/hsm.sh [N]    the same token behind `p11-kit server`,
#                                    reached through p11-kit-client.so: the
#                                    token in its own process over a socket,
#                                    as a network HSM is (both the raw rate
#                                    and issuance go through it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ZTM_BIN:-$root/build}/bench/bench_hsm_issue
module=/usr/lib/softhsm/libsofthsm2.so
client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
[ -r "$module" ] || { echo "bench/hsm.sh: SoftHSM2 missing (apt-get install softhsm2)" >&2; exit 1; }
t=$(mktemp -d /tmp/ztm-bench-hsm.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
mkdir "$t/tokens"
printf 'directories.tokendir = %s/tokens\n' "$t" >"$t/softhsm2.conf"
export SOFTHSM2_CONF=$t/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
(umask 077; printf '1234\n' >"$t/pin")
if [ "${HSM_REMOTE:-0}" = 1 ]; then
  command -v p11-kit >/dev/null && [ -r "$client" ] ||
    { echo "bench/hsm.sh: p11-kit server or p11-kit-client.so missing (apt-get install p11-kit p11-kit-modules)" >&2; exit 1; }
  # Prints P11_KIT_SERVER_ADDRESS=...; P11_KIT_SERVER_PID=...; for sh.
  eval "$(p11-kit server --sh --provider "$module" --name "$t/p11kit.sock" "pkcs11:token=bench")"
  server_pid=$P11_KIT_SERVER_PID
  export P11_KIT_SERVER_ADDRESS
  echo "token: SoftHSM2 behind p11-kit server (pid $server_pid, $P11_KIT_SERVER_ADDRESS)"
  module=$client
fi
"$bin" "pkcs11:token=bench;object=ca?pin-source=file:$t/pin&module-path=$module" "${1:-5000}"
