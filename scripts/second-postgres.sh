#!/usr/bin/env bash
# A throwaway second PostgreSQL cluster next to the machine's main one (127.0.0.1:5432), for tests that need
# another server (e.g. two servers at once). Test settings: trust auth for everyone, user postgres, no fsync.
#   scripts/second-postgres.sh start <port> <dir>  - initdb <dir>/data if it is not a cluster yet, then start it
#                                                    on 127.0.0.1:<port> (unix socket in <dir>, log in
#                                                    <dir>/postgres.log) and wait until it answers 'select 1'.
#                                                    No-op if the cluster in <dir> already runs on that port.
#   scripts/second-postgres.sh stop <dir>          - fast shutdown of the cluster in <dir> (no-op if it is down)
#   scripts/second-postgres.sh url <port>          - print postgres://postgres@127.0.0.1:<port>/postgres
# start and stop hold an flock on <dir>/.second-postgres.lock, so two processes may call them at once on the
# same <dir>: the second one waits for the first and then finds the cluster running (or stopped).
# The settings live in <dir>/data/second-postgres.conf (included by postgresql.conf), rewritten on every start.
# initdb, pg_ctl and postgres refuse to run as root; as root they run as SECOND_PG_RUN_AS (default postgres),
# which gets <dir> chowned to it. Environment overrides: SECOND_PG_BIN (the directory of initdb and pg_ctl;
# default /usr/lib/postgresql/15/bin, else the newest /usr/lib/postgresql/*/bin, else pg_config --bindir,
# else PATH), SECOND_PG_RUN_AS, SECOND_PG_WAIT (seconds to wait for the lock and for startup: 120).
set -euo pipefail

log() { printf '\033[1;34m[second-postgres]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[second-postgres]\033[0m %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start <port> <dir> | stop <dir> | url <port>"; }

WAIT=${SECOND_PG_WAIT:-120}

check_port() {
  case "$1" in '' | *[!0-9]*) die "the port must be a number, got '$1'" ;; esac
  [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "the port must be between 1 and 65535, got $1"
}

# Where initdb and pg_ctl are.
PG_BIN=""
find_bin() {
  local d
  if [ -n "${SECOND_PG_BIN:-}" ]; then
    PG_BIN=$SECOND_PG_BIN
  elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    PG_BIN=/usr/lib/postgresql/15/bin
  else
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
      PG_BIN=$d
    elif command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
      PG_BIN=$(pg_config --bindir)
    elif command -v initdb >/dev/null; then
      PG_BIN=$(dirname "$(command -v initdb)")
    fi
  fi
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] \
    || die "no PostgreSQL server binaries (initdb, pg_ctl) found${PG_BIN:+ in $PG_BIN}; install postgresql or set SECOND_PG_BIN"
}

PSQL=""
find_psql() {
  PSQL=$(command -v psql || true)
  [ -n "$PSQL" ] || { [ -x "$PG_BIN/psql" ] && PSQL=$PG_BIN/psql; } || die "psql not found (apt-get install postgresql-client)"
}

# Runs the PostgreSQL programs as RUN_AS when we are root, from / (the postgres user may not be allowed into the
# caller's working directory), with the lock's descriptor closed so that the server does not inherit the lock.
RUN_AS=""
as_pg() {
  if [ -n "$RUN_AS" ]; then
    (cd / && exec runuser -u "$RUN_AS" -- "$@") 9>&-
  else
    (cd / && exec "$@") 9>&-
  fi
}
pick_user() {
  if [ "$(id -u)" = 0 ]; then
    RUN_AS=${SECOND_PG_RUN_AS:-postgres}
    id "$RUN_AS" >/dev/null 2>&1 \
      || die "running as root, PostgreSQL needs another account to run as; '$RUN_AS' does not exist (set SECOND_PG_RUN_AS)"
  fi
}

# Takes the lock on $1 (an existing directory) for the rest of the script, on descriptor 9.
lock() {
  local file=$1/.second-postgres.lock
  exec 9>>"$file" || die "cannot open the lock file $file"
  if ! flock -n 9; then
    log "another start/stop is running on $1; waiting for it (up to ${WAIT} s)"
    flock -w "$WAIT" 9 || die "still locked after ${WAIT} s: $file (held by another second-postgres.sh?)"
  fi
}

answers() { # port
  PGCONNECT_TIMEOUT=3 timeout 5 "$PSQL" -X -q -w -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'select 1' 2>/dev/null \
    | grep -qx 1
}
port_in_use() { # port: anything listening on 127.0.0.1:<port>?
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
running() { # data dir: 0 if a postmaster runs on it
  [ -f "$1/PG_VERSION" ] || return 1
  as_pg "$PG_BIN/pg_ctl" status -D "$1" >/dev/null 2>&1
}
running_port() { # data dir: the port in postmaster.pid (4th line)
  sed -n 4p "$1/postmaster.pid" 2>/dev/null || true
}
conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

initdb_cluster() {
  local dir=$1 data=$1/data tmp=$1/data.initdb locale=C out
  if [ -e "$data" ]; then
    [ -d "$data" ] || die "$data exists and is not a directory"
    [ -z "$(ls -A "$data")" ] || die "$data is neither empty nor a PostgreSQL cluster (no PG_VERSION); remove it or pick another <dir>"
    rmdir "$data"
  fi
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
  # initdb into a side directory and rename it at the end, so that an interrupted initdb never leaves a
  # half-made <dir>/data behind (a cluster's files do not record their own path).
  rm -rf "$tmp"
  [ -z "$RUN_AS" ] || chown "$RUN_AS:" "$dir"
  log "initdb $data (locale $locale, $("$PG_BIN/initdb" --version | awk '{print $3}'))"
  # --no-sync: a test cluster, as fsync=off below.
  if ! out=$(as_pg "$PG_BIN/initdb" -D "$tmp" --auth=trust --username=postgres --encoding=UTF8 --locale="$locale" \
    --no-sync 2>&1); then
    rm -rf "$tmp"
    die "initdb failed:
$out"
  fi
  mv "$tmp" "$data"
}

start() {
  local port=$1 dir=$2
  check_port "$port"
  find_bin
  find_psql
  pick_user
  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd)
  local data=$dir/data sock=$dir/.s.PGSQL.$port
  # Unix socket paths are limited to 107 bytes.
  [ "${#sock}" -le 107 ] || die "the socket path $sock is too long (${#sock} > 107 bytes); use a shorter <dir>"
  lock "$dir"

  if [ -n "$RUN_AS" ]; then
    chown -R "$RUN_AS:" "$dir"
    as_pg test -w "$dir" -a -x "$dir" \
      || die "$RUN_AS cannot write $dir (is a parent directory closed to it, e.g. under /root?); use a directory under /tmp"
  fi

  if [ -f "$data/PG_VERSION" ]; then
    local have want
    have=$(cat "$data/PG_VERSION")
    want=$("$PG_BIN/initdb" --version | awk '{print $3}' | cut -d. -f1)
    [ "$have" = "$want" ] || die "$data is a PostgreSQL $have cluster but $PG_BIN is PostgreSQL $want (set SECOND_PG_BIN or use another <dir>)"
  else
    # (no cluster, so nothing of ours can be on the port: fail before spending time on initdb)
    port_in_use "$port" && die "something else already listens on 127.0.0.1:$port; pick another port"
    initdb_cluster "$dir"
  fi

  if running "$data"; then
    local on
    on=$(running_port "$data")
    [ "$on" = "$port" ] || die "the cluster in $dir already runs on port ${on:-?}, not $port; stop it first ($0 stop $dir)"
    local deadline=$((SECONDS + WAIT))
    until answers "$port"; do
      [ "$SECONDS" -lt "$deadline" ] || die "the cluster in $dir runs on port $port but does not answer 'select 1' (see $dir/postgres.log)"
      sleep 0.2
    done
    log "already running in $dir on 127.0.0.1:$port"
    return 0
  fi

  if port_in_use "$port"; then
    die "something else already listens on 127.0.0.1:$port$(command -v ss >/dev/null && ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -1 | sed 's/^/ (/; s/$/)/'); pick another port"
  fi

  # The settings, rewritten on each start (the port may change between starts).
  cat >"$data/second-postgres.conf" <<EOF
# written by scripts/second-postgres.sh on each start; a throwaway test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = $(conf_quote "$dir")
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  grep -q "^include_if_exists = 'second-postgres.conf'" "$data/postgresql.conf" \
    || printf "\n# added by scripts/second-postgres.sh\ninclude_if_exists = 'second-postgres.conf'\n" >>"$data/postgresql.conf"
  [ -z "$RUN_AS" ] || chown -R "$RUN_AS:" "$dir"

  log "starting PostgreSQL on 127.0.0.1:$port (data $data, log $dir/postgres.log)"
  if ! as_pg "$PG_BIN/pg_ctl" start -w -t "$WAIT" -s -D "$data" -l "$dir/postgres.log" >/dev/null 2>&1; then
    die "PostgreSQL in $dir did not start. Last lines of $dir/postgres.log:
$(tail -n 15 "$dir/postgres.log" 2>/dev/null)"
  fi
  local deadline=$((SECONDS + WAIT))
  until answers "$port"; do
    [ "$SECONDS" -lt "$deadline" ] || die "PostgreSQL in $dir started but does not answer 'select 1' on 127.0.0.1:$port. Log:
$(tail -n 15 "$dir/postgres.log" 2>/dev/null)"
    sleep 0.2
  done
  log "PostgreSQL $("$PSQL" -X -w -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc 'show server_version') answers on $(url "$port")"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || { log "no directory $dir: nothing to stop"; return 0; }
  dir=$(cd "$dir" && pwd)
  local data=$dir/data out
  [ -f "$data/PG_VERSION" ] || { log "no cluster in $dir: nothing to stop"; return 0; }
  find_bin
  pick_user
  lock "$dir"
  if ! running "$data"; then
    log "PostgreSQL in $dir is not running"
    return 0
  fi
  if ! out=$(as_pg "$PG_BIN/pg_ctl" stop -w -t "$WAIT" -m fast -D "$data" 2>&1); then
    # it may have stopped on its own meanwhile
    running "$data" || { log "PostgreSQL in $dir is not running"; return 0; }
    die "pg_ctl stop failed for $dir:
$out"
  fi
  log "stopped PostgreSQL in $dir"
}

url() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$1"; }

case "${1:-}" in
  start) [ $# = 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# = 2 ] || usage; stop "$2" ;;
  url) [ $# = 2 ] || usage; check_port "$2"; url "$2" ;;
  *) usage ;;
esac
