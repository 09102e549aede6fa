#!/usr/bin/env bash
# bench/hsm.sh [N] - bench_hsm_issue against a fresh SoftHSM2 token in a
# temporary directory (docs/benchmarks.md, "Issuance with the key in an HSM").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ZTM_BIN:-$root/build}/bench/bench_hsm_issue
module=/usr/lib/softhsm/libsofthsm2.so
[ -r "$module" ] || { echo "bench/hsm.sh: SoftHSM2 missing (apt-get install softhsm2)" >&2; exit 1; }
t=$(mktemp -d /tmp/ztm-bench-hsm.XXXXXX)
trap 'rm -rf "$t"' EXIT
mkdir "$t/tokens"
printf 'directories.tokendir = %s/tokens\n' "$t" >"$t/softhsm2.conf"
export SOFTHSM2_CONF=$t/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
(umask 077; printf '1234\n' >"$t/pin")
"$bin" "pkcs11:token=bench;object=ca?pin-source=file:$t/pin&module-path=$module" "${1:-5000}"
