#!/usr/bin/env bash
# Stops the server pg_start.sh started in DIR and removes DIR.
set -uo pipefail
dir=${1:?usage: pg_stop.sh DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bin" ]; then
  as=()
  [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
fi
rm -rf "$dir"
exit 0
