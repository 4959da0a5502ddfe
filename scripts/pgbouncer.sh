#!/usr/bin/env bash
# A throwaway PgBouncer in transaction pooling mode, in front of a PostgreSQL server on this machine, for the
# tests that prove the app works through one (Debian's pgbouncer package, as a deployment would run it).
#   scripts/pgbouncer.sh start <port> <dir> <upstream port> [pool size]
#       writes <dir>/pgbouncer.ini (every database of 127.0.0.1:<upstream port>, trust auth for postgres,
#       <pool size> server connections per database and user, default 2: few, so that clients really share
#       them), starts PgBouncer on 127.0.0.1:<port> and waits until 'select 1' answers through it.
#       No-op if the PgBouncer of <dir> already answers on that port.
#   scripts/pgbouncer.sh stop <dir>     - stops the PgBouncer of <dir> (no-op if it is not running)
# The settings are the ones README's deployment section recommends: pool_mode = transaction, and
# server_reset_query = DEALLOCATE ALL with server_reset_query_always = 1, so that a statement the app named
# inside one transaction is gone before another client gets that server connection.
# PgBouncer refuses to run as root; as root it runs as PGBOUNCER_RUN_AS (default postgres).
# start and stop hold an flock on <dir>/.pgbouncer.lock, so concurrent callers wait for each other.
set -euo pipefail

log() { printf '\033[1;34m[pgbouncer]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[pgbouncer]\033[0m %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start <port> <dir> <upstream port> [pool size] | stop <dir>"; }

WAIT=${PGBOUNCER_WAIT:-60}

check_number() { # name value
  case "$2" in '' | *[!0-9]*) die "$1 must be a number, got '$2'" ;; esac
  [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be between 1 and 65535, got $2"
}

find_pgbouncer() {
  PGBOUNCER=$(command -v pgbouncer || true)
  [ -n "$PGBOUNCER" ] || { [ -x /usr/sbin/pgbouncer ] && PGBOUNCER=/usr/sbin/pgbouncer; } \
    || die "pgbouncer not found (apt-get install pgbouncer; make test installs it)"
  command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"
}

RUN_AS=""
pick_user() {
  if [ "$(id -u)" = 0 ]; then
    RUN_AS=${PGBOUNCER_RUN_AS:-postgres}
    id "$RUN_AS" >/dev/null 2>&1 || die "running as root, PgBouncer needs another account; '$RUN_AS' does not exist"
  fi
}

lock() {
  exec 9>>"$1/.pgbouncer.lock" || die "cannot open the lock file $1/.pgbouncer.lock"
  flock -w "$WAIT" 9 || die "still locked after ${WAIT} s: $1/.pgbouncer.lock"
}

answers() { # port
  PGCONNECT_TIMEOUT=3 timeout 5 psql -X -q -w -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'select 1' 2>/dev/null \
    | grep -qx 1
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_of() { # dir: the running PgBouncer's pid, or nothing
  local pid
  pid=$(cat "$1/pgbouncer.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q pgbouncer "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
  return 0
}

start() {
  local port=$1 dir=$2 upstream=$3 pool=${4:-2}
  check_number "the port" "$port"
  check_number "the upstream port" "$upstream"
  check_number "the pool size" "$pool"
  find_pgbouncer
  pick_user
  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd)
  lock "$dir"
  if [ -n "$(pid_of "$dir")" ]; then
    if grep -q "^listen_port = $port$" "$dir/pgbouncer.ini" 2>/dev/null && answers "$port"; then
      log "already running in $dir on 127.0.0.1:$port"
      return 0
    fi
    die "the PgBouncer of $dir runs with other settings; stop it first ($0 stop $dir)"
  fi
  port_in_use "$port" && die "something else already listens on 127.0.0.1:$port; pick another port"
  printf '"postgres" ""\n' >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
; written by scripts/pgbouncer.sh; a throwaway test pooler
[databases]
* = host=127.0.0.1 port=$upstream

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 2000
server_reset_query = DEALLOCATE ALL
server_reset_query_always = 1
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  [ -z "$RUN_AS" ] || chown -R "$RUN_AS:" "$dir"
  rm -f "$dir/pgbouncer.pid"
  log "starting PgBouncer on 127.0.0.1:$port in front of 127.0.0.1:$upstream (transaction mode, pool $pool)"
  if [ -n "$RUN_AS" ]; then
    (cd / && exec "$PGBOUNCER" -q -d -u "$RUN_AS" "$dir/pgbouncer.ini") 9>&-
  else
    (cd / && exec "$PGBOUNCER" -q -d "$dir/pgbouncer.ini") 9>&-
  fi
  local deadline=$((SECONDS + WAIT))
  until answers "$port"; do
    [ "$SECONDS" -lt "$deadline" ] || die "PgBouncer did not answer on 127.0.0.1:$port. Log:
$(tail -n 15 "$dir/pgbouncer.log" 2>/dev/null)"
    sleep 0.1
  done
  log "PgBouncer answers on postgres://postgres@127.0.0.1:$port"
}

stop() {
  local dir=$1 pid
  [ -d "$dir" ] || { log "no directory $dir: nothing to stop"; return 0; }
  dir=$(cd "$dir" && pwd)
  lock "$dir"
  pid=$(pid_of "$dir")
  [ -n "$pid" ] || { log "PgBouncer of $dir is not running"; return 0; }
  kill -TERM "$pid"
  local deadline=$((SECONDS + WAIT))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "PgBouncer $pid did not stop within ${WAIT} s"
    sleep 0.1
  done
  log "stopped PgBouncer of $dir"
}

case "${1:-}" in
  start) [ $# = 4 ] || [ $# = 5 ] || usage; start "$2" "$3" "$4" "${5:-2}" ;;
  stop) [ $# = 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
