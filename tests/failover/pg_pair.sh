#!/usr/bin/env bash
# pg_pair.sh - a throwaway PostgreSQL primary with a SYNCHRONOUS streaming
# standby, for the failover test (tests/failover/failover.sh) and by hand
# (docs/deployment.md, "Synchronous standby and failover").
#
#   pg_pair.sh start DIR         initdb DIR/a (primary, 127.0.0.1:PORT_A), pg_basebackup -R
#                                into DIR/b (standby, 127.0.0.1:PORT_B, application_name
#                                standby1), synchronous_standby_names = 'standby1';
#                                waits until pg_stat_replication says "sync"; writes
#                                DIR/ports ("PORT_A PORT_B") and DIR/primary ("a")
#   pg_pair.sh url DIR [DB]      the libpq multi-host URL for ztmd (target_session_attrs=read-write)
#   pg_pair.sh kill-primary DIR  kill -9 of the primary's postmaster and every backend
#                                (a machine that dies: nothing is flushed or said goodbye)
#   pg_pair.sh stall DIR         SIGSTOP of the primary's walsender: replication stops, the
#                                primary's synchronous commits wait, and what it has not
#                                sent yet dies with it; pg_pair.sh unstall DIR: SIGCONT
#   pg_pair.sh promote DIR       pg_ctl promote of the standby; waits until it accepts writes
#   pg_pair.sh rejoin DIR        the old primary becomes a standby of the new one (pg_rewind,
#                                standby.signal, primary_conninfo) and the new primary waits
#                                for it synchronously
#   pg_pair.sh psql DIR a|b ...  psql on one node (as postgres)
#   pg_pair.sh stop DIR          stops both (immediate) and removes DIR
#
# Servers run as the postgres user when run as root (like tests/pg/pg_start.sh);
# TCP on 127.0.0.1 only; each node also has a Unix socket in its own directory.
# ZTM_PG_BIN: the directory of initdb and pg_ctl (default: the newest Debian one).
# ZTM_PG_FSYNC=on keeps fsync on (default off: a test server; a failover here
# kills processes, not the machine, so the OS keeps what was written).
# Exits 77 (skip) when PostgreSQL is not installed.
set -euo pipefail

cmd=${1:?usage: pg_pair.sh start|url|kill-primary|promote|rejoin|psql|stop DIR}
dir=${2:?usage: pg_pair.sh $cmd DIR}
bin=${ZTM_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_basebackup" ]; then
  echo "pg_pair: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 77
fi
as=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "pg_pair: no postgres user" >&2; exit 77; }
  as=(runuser -u postgres --)
fi

die() { echo "pg_pair: $*" >&2; exit 1; }
port_of() { # node (a|b) -> its port
  local p
  read -r -a p <"$dir/ports"
  [ "$1" = a ] && echo "${p[0]}" || echo "${p[1]}"
}
other() { [ "$1" = a ] && echo b || echo a; }
q() { # node SQL: one value, via the node's socket
  "${as[@]}" "$bin/psql" -h "$dir/$1.sock" -p "$(port_of "$1")" -U postgres -d postgres -qAtX \
    -c "$2"
}
free_port() {
  local p
  for _ in $(seq 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! grep -q "$p" "$dir/ports.tmp" 2>/dev/null; then
      echo "$p" >>"$dir/ports.tmp"
      echo "$p"
      return 0
    fi
  done
  die "no free port"
}
# start_node node: starts DIR/node/data on its port, waits until it answers.
start_node() {
  local n=$1
  "${as[@]}" "$bin/pg_ctl" -D "$dir/$n/data" -l "$dir/$n.log" -w -t 60 start >/dev/null ||
    { tail -20 "$dir/$n.log" >&2; die "starting node $n"; }
}
conf() { # node: the settings both nodes share (a standby takes over its primary's)
  local n=$1
  cat >>"$dir/$n/data/postgresql.conf" <<EOF
# pg_pair.sh
listen_addresses = '127.0.0.1'
port = $(port_of "$n")
unix_socket_directories = '$dir/$n.sock'
max_connections = 200
fsync = ${ZTM_PG_FSYNC:-off}
wal_level = replica
wal_log_hints = on
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
cluster_name = 'node_$n'
EOF
}
# standby_of node primary: node's primary_conninfo points at primary; its
# application_name is what synchronous_standby_names on the primary names.
standby_of() {
  local n=$1 p=$2
  cat >>"$dir/$n/data/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$(port_of "$p") user=postgres application_name=standby1'
EOF
  "${as[@]}" touch "$dir/$n/data/standby.signal"
}
# wait_sync primary: until the standby is streaming and synchronous.
wait_sync() {
  local p=$1 s
  for _ in $(seq 300); do
    s=$(q "$p" "SELECT state || ':' || sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" 2>/dev/null || true)
    [ "$s" = streaming:sync ] && return 0
    sleep 0.1
  done
  die "the standby did not become synchronous (state '${s:-none}')"
}
postmaster_pid() { head -1 "$dir/$1/data/postmaster.pid" 2>/dev/null || true; }

case "$cmd" in
start)
  bash "$0" stop "$dir" || true
  mkdir -p "$dir/a.sock" "$dir/b.sock"
  : >"$dir/ports.tmp"
  echo "$(free_port) $(free_port)" >"$dir/ports"
  rm -f "$dir/ports.tmp"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  "${as[@]}" "$bin/initdb" -D "$dir/a/data" -U postgres -A trust --no-sync -E UTF8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb"; }
  conf a
  start_node a
  "${as[@]}" "$bin/pg_basebackup" -h 127.0.0.1 -p "$(port_of a)" -U postgres -D "$dir/b/data" \
    -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 ||
    { cat "$dir/basebackup.log" >&2; die "pg_basebackup"; }
  # The copy carries a's settings; b differs in port, socket and name.
  conf b
  standby_of b a
  start_node b
  # Only now: set before the standby exists, the base backup itself would
  # not wait, but every later commit would hang until b connects.
  q a "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" >/dev/null
  q a "SELECT pg_reload_conf()" >/dev/null
  wait_sync a
  echo a >"$dir/primary"
  echo "pg_pair: primary a on 127.0.0.1:$(port_of a), synchronous standby b on 127.0.0.1:$(port_of b)"
  ;;
url)
  db=${3:-ztm}
  echo "postgresql://postgres@127.0.0.1:$(port_of a),127.0.0.1:$(port_of b)/$db?target_session_attrs=read-write&connect_timeout=2"
  ;;
kill-primary)
  p=$(cat "$dir/primary")
  pm=$(postmaster_pid "$p")
  [ -n "$pm" ] || die "node $p is not running"
  # The postmaster and its children (backends, walsender, checkpointer...),
  # by pid: all at once, as when the machine dies.
  pids="$pm $(ps -o pid= --ppid "$pm" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 100); do
    alive=0
    for x in $pids; do kill -0 "$x" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.05
  done
  echo "pg_pair: killed node $p (pids $pids)"
  ;;
stall | unstall)
  # The primary's walsender: WAL it has not sent is lost with the primary
  # (what it sent is in the standby's socket buffer and still arrives).
  p=$(cat "$dir/primary")
  pm=$(postmaster_pid "$p")
  [ -n "$pm" ] || die "node $p is not running"
  ws=$(ps -o pid=,args= --ppid "$pm" | awk '/walsender/ { print $1 }')
  [ -n "$ws" ] || die "node $p has no walsender"
  # shellcheck disable=SC2086
  kill "-$([ "$cmd" = stall ] && echo STOP || echo CONT)" $ws
  ;;
promote)
  p=$(cat "$dir/primary")
  s=$(other "$p")
  "${as[@]}" "$bin/pg_ctl" -D "$dir/$s/data" -w -t 60 promote >/dev/null || die "promote of $s"
  for _ in $(seq 300); do
    [ "$(q "$s" "SELECT pg_is_in_recovery()" 2>/dev/null || true)" = f ] && break
    sleep 0.1
  done
  [ "$(q "$s" "SELECT pg_is_in_recovery()")" = f ] || die "node $s still in recovery"
  echo "$s" >"$dir/primary"
  echo "pg_pair: node $s promoted"
  ;;
rejoin)
  p=$(cat "$dir/primary")
  old=$(other "$p")
  # pg_rewind wants a cleanly stopped target: a crashed one is run once
  # through crash recovery in single-user mode by pg_rewind itself.
  if [ -n "$(postmaster_pid "$old")" ] && kill -0 "$(postmaster_pid "$old")" 2>/dev/null; then
    "${as[@]}" "$bin/pg_ctl" -D "$dir/$old/data" -m fast -w stop >/dev/null || true
  fi
  rm -f "$dir/$old/data/postmaster.pid"
  # Right after a promotion the new timeline is not yet in the new primary's
  # control file, and pg_rewind would see "the same timeline": a checkpoint
  # writes it (pg_rewind documentation).
  q "$p" "CHECKPOINT" >/dev/null
  "${as[@]}" "$bin/pg_rewind" -D "$dir/$old/data" \
    --source-server="host=127.0.0.1 port=$(port_of "$p") user=postgres dbname=postgres" \
    >"$dir/rewind.log" 2>&1 || { cat "$dir/rewind.log" >&2; die "pg_rewind of $old"; }
  # pg_rewind copied the new primary's configuration: put back old's own.
  sed -i '/^# pg_pair.sh$/,$d' "$dir/$old/data/postgresql.conf"
  conf "$old"
  sed -i '/^primary_conninfo/d;/^synchronous_standby_names/d' "$dir/$old/data/postgresql.auto.conf"
  standby_of "$old" "$p"
  start_node "$old"
  q "$p" "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" >/dev/null
  q "$p" "SELECT pg_reload_conf()" >/dev/null
  wait_sync "$p"
  echo "pg_pair: node $old is the synchronous standby of $p"
  ;;
psql)
  n=${3:?usage: pg_pair.sh psql DIR a|b [psql args]}
  shift 3
  exec "${as[@]}" "$bin/psql" -h "$dir/$n.sock" -p "$(port_of "$n")" -U postgres "$@"
  ;;
stop)
  for n in a b; do
    if [ -f "$dir/$n/data/postmaster.pid" ]; then
      "${as[@]}" "$bin/pg_ctl" -D "$dir/$n/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$dir"
  ;;
*)
  die "unknown command '$cmd'"
  ;;
esac
