#!/usr/bin/env bash
# Stops the swtpm that swtpm_start.sh started in DIR and removes DIR.
# Usage: swtpm_stop.sh DIR [--keep]
#   --keep  stop only: the TPM's state (its keys, EK, NV) stays in DIR and
#           swtpm_start.sh DIR brings the same TPM back.
set -uo pipefail
dir=${1:?usage: swtpm_stop.sh DIR [--keep]}
if [ -s "$dir/swtpm.pid" ]; then
  pid=$(cat "$dir/swtpm.pid")
  # Only our swtpm: the pid must still be a swtpm process on this DIR's state.
  if grep -qa "$dir/state" "/proc/$pid/cmdline" 2>/dev/null; then
    if [ -s "$dir/port" ]; then
      swtpm_ioctl --tcp "127.0.0.1:$(( $(cat "$dir/port") + 1 ))" -s >/dev/null 2>&1 || true
    fi
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/swtpm.pid"
fi
[ "${2:-}" = --keep ] || rm -rf "$dir"
exit 0
