#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the pg/ tests: initdb in DIR, a
# Unix socket in DIR/sock (no TCP listener; the port number only names the socket),
# and writes DIR/port. Run as root, the server runs as the postgres user.
# Usage: pg_start.sh DIR. Exits 77 (skip) when PostgreSQL is not installed.
set -euo pipefail
dir=${1:?usage: pg_start.sh DIR}
# ZTM_PG_BIN: the directory of initdb and pg_ctl (default: the newest Debian one).
bin=${ZTM_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_start: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 77
fi
"$(dirname "$0")/pg_stop.sh" "$dir" || true
mkdir -p "$dir/sock"
as=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg_start: no postgres user" >&2; exit 77; }
  chown -R postgres: "$dir"
  as=(runuser -u postgres --)
fi
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# Only the socket file name carries the port: servers in other DIRs never clash.
port=$(( 20000 + ($$ % 20000) ))
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-k $dir/sock -p $port -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
echo "$port" >"$dir/port"
echo "pg_start: PostgreSQL on $dir/sock port $port"
