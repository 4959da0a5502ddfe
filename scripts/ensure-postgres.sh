#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for user postgres.
# Starts the machine's cluster if it is stopped; installs Debian's postgresql if there is none.
# Never skips: the PostgreSQL half of the test suite must run.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if up; then exit 0; fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "[postgres] installing Debian's postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  ver=$(ls /etc/postgresql | head -1)
  # The tests connect as postgres over TCP without a password, as on the CI machines.
  $SUDO sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(host\s+all\s+all\s+::1\/128\s+)\S+/\1trust/' \
    "/etc/postgresql/$ver/main/pg_hba.conf"
fi
ver=$(ls /etc/postgresql | head -1)
echo "[postgres] starting cluster $ver/main"
$SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
for _ in $(seq 1 30); do up && exit 0; sleep 1; done
echo "[postgres] no server on 127.0.0.1:5432 after 30 s" >&2
exit 1
