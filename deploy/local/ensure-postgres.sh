#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/vaxhub). When it does not and the URL
# points at this machine, it starts the local Debian cluster, installing the
# postgresql package first when it is missing, and allows trust auth for
# postgres on 127.0.0.1 (local runs and CI only).
set -euo pipefail
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vaxhub}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=5432

answers() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if command -v pg_isready >/dev/null && answers; then
  exit 0
fi
case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "ensure-postgres: $host:$port does not answer and is not this machine; start it yourself" >&2; exit 1 ;;
esac
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v pg_ctlcluster >/dev/null; then
  echo "ensure-postgres: installing PostgreSQL (Debian package postgresql)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
fi
ver=$(ls /etc/postgresql | sort -V | tail -1)
if [ -z "$ver" ]; then
  $SUDO pg_createcluster --start "$(ls /usr/lib/postgresql | sort -V | tail -1)" main
  ver=$(ls /etc/postgresql | sort -V | tail -1)
fi
hba="/etc/postgresql/$ver/main/pg_hba.conf"
if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
  echo "ensure-postgres: allowing trust auth on 127.0.0.1 for local runs ($hba)" >&2
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
fi
$SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
for _ in $(seq 1 30); do answers && exit 0; sleep 1; done
echo "ensure-postgres: PostgreSQL did not come up on $host:$port" >&2
exit 1
