#!/usr/bin/env bash
# Makes sure PostgreSQL answers on this machine and that vaxhub can log in,
# without opening the server to every local user.
#
#   ensure-postgres.sh run    make run: the application role. Unless
#                             DATABASE_URL is set (then it only checks that
#                             its server answers), it creates the login role
#                             vaxhub with a generated password (stored as
#                             SCRAM-SHA-256) and the database vaxhub it owns,
#                             and writes postgres://vaxhub:PASSWORD@127.0.0.1/
#                             vaxhub to $VAXHUB_DATA_DIR/database.url (0600),
#                             which `vaxhub run` reads when DATABASE_URL is
#                             not set. Running it again keeps the password.
#   ensure-postgres.sh [test] make test, .ci/run: prints the URL the tests
#                             create their databases on (superuser postgres):
#                             VAXHUB_TEST_DATABASE_URL when set, else
#                             127.0.0.1 when the server lets postgres in there
#                             without a password (a machine set up that way),
#                             else the Unix socket with peer authentication,
#                             allowing the OS users root, postgres and the
#                             caller to log in as postgres (pg_ident map
#                             "vaxhub"); nobody else gets in without a
#                             password.
#
# When nothing answers on the port, it starts the local Debian cluster
# (installing the postgresql package first when it is missing); the
# cluster's own rules stay: Debian's pg_hba.conf asks for a SCRAM password
# on 127.0.0.1 and ::1. Lines "host all all 127.0.0.1/32 trust" and
# "host all all ::1/128 trust" that earlier versions of this script put at
# the top of pg_hba.conf are removed then. A running server's rules are
# left alone, except for the peer map the tests need.
#
# Environment: VAXHUB_DATA_DIR (.vaxhub), VAXHUB_PG_PORT (5432),
# VAXHUB_PG_CLUSTER (VERSION/NAME, default the newest version's main),
# VAXHUB_PG_SOCKET_DIR (/var/run/postgresql).
set -euo pipefail
mode="${1:-test}"
case "$mode" in run|test) ;; *) echo "usage: $0 [run|test]" >&2; exit 2 ;; esac
port="${VAXHUB_PG_PORT:-5432}"
sockdir="${VAXHUB_PG_SOCKET_DIR:-/var/run/postgresql}"
datadir="${VAXHUB_DATA_DIR:-.vaxhub}"
urlfile="$datadir/database.url"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
say() { echo "ensure-postgres: $*" >&2; }

# as_postgres runs a command as the OS user postgres (Debian's cluster admin).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres -- "$@"; fi
}
# admin_sql runs SQL from stdin as the superuser, over the socket with peer
# authentication: stdin, not arguments, so no password shows in ps.
admin_sql() { (cd / && as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" "$@"); }
# logs_in reports whether URL lets us in without asking for a password.
logs_in() { psql -X -w -q -d "$1" -c 'select 1' >/dev/null 2>&1; }

# host_port prints "HOST PORT" of a postgres URL (a socket directory for
# postgres:///db?host=/dir URLs).
host_port() {
  local u="$1" hp q h p
  u="${u#*://}"; hp="${u%%[/?]*}"; hp="${hp##*@}"
  h="${hp%:*}"; p="${hp##*:}"; [ "$p" = "$hp" ] && p=5432
  case "$u" in *\?*) q="${u#*\?}";; *) q="";; esac
  for kv in ${q//&/ }; do
    case "$kv" in host=*) h="${kv#host=}";; port=*) p="${kv#port=}";; esac
  done
  [ -n "$h" ] || h="$sockdir"
  echo "$h $p"
}

answers() { command -v pg_isready >/dev/null && pg_isready -q -h "$1" -p "$2" 2>/dev/null; }

# cluster prints VERSION NAME of the Debian cluster to start.
cluster() {
  if [ -n "${VAXHUB_PG_CLUSTER:-}" ]; then echo "${VAXHUB_PG_CLUSTER%/*} ${VAXHUB_PG_CLUSTER#*/}"; return; fi
  local ver; ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$ver" ] || ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  echo "$ver main"
}

# start_local makes the local cluster answer on $port.
start_local() {
  answers 127.0.0.1 "$port" && return 0
  if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    say "installing PostgreSQL (Debian package postgresql)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  fi
  local ver name conf hba
  read -r ver name < <(cluster)
  conf="/etc/postgresql/$ver/$name"
  if [ ! -d "$conf" ]; then
    say "creating the cluster $ver/$name on port $port"
    $SUDO pg_createcluster --port "$port" "$ver" "$name" >/dev/null
  fi
  local cport; cport=$($SUDO pg_conftool -s "$ver" "$name" show port 2>/dev/null || echo 5432)
  if [ "$cport" != "$port" ]; then
    say "the cluster $ver/$name listens on port $cport, not $port; set VAXHUB_PG_CLUSTER or VAXHUB_PG_PORT"; exit 1
  fi
  hba="$conf/pg_hba.conf"
  # The two lines earlier versions of this script inserted at the top.
  if [ "$($SUDO head -2 "$hba")" = $'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' ]; then
    say "removing the trust-for-everyone lines an earlier version of this script added to $hba"
    $SUDO sed -i '1,2d' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start 2>/dev/null ||
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
  for _ in $(seq 1 30); do answers 127.0.0.1 "$port" && return 0; sleep 1; done
  say "PostgreSQL did not come up on 127.0.0.1:$port"; exit 1
}

# need_answer checks that the server of URL answers, starting the local
# cluster when the URL points at this machine.
need_answer() {
  local h p; read -r h p < <(host_port "$1")
  answers "$h" "$p" && return 0
  case "$h" in
    127.0.0.1|localhost|::1|/*) port="$p"; start_local ;;
    *) say "$h:$p does not answer and is not this machine; start it yourself"; exit 1 ;;
  esac
}

# peer_map lets the OS users root, postgres and the caller log in as the
# superuser postgres over the socket (peer authentication, map "vaxhub").
peer_map() {
  local hba ident users line
  hba=$(admin_sql -Atc 'show hba_file')
  ident=$(admin_sql -Atc 'show ident_file')
  users=$(printf '%s\n' postgres root "${SUDO_USER:-$(id -un)}" | sort -u)
  for u in $users; do
    line="vaxhub $u postgres"
    $SUDO grep -qxF "$line" "$ident" || echo "$line" | $SUDO tee -a "$ident" >/dev/null
  done
  line="local all postgres peer map=vaxhub"
  if ! $SUDO grep -qxF "$line" "$hba"; then
    say "letting the OS users $(echo $users) log in as postgres over the socket (peer, map vaxhub in $ident; $hba)"
    $SUDO sed -i "1i # vaxhub tests (deploy/local/ensure-postgres.sh): the superuser only over the socket, for the OS users of map vaxhub\n$line" "$hba"
  fi
  admin_sql -Atc 'select pg_reload_conf()' >/dev/null
}

test_url() {
  if [ -n "${VAXHUB_TEST_DATABASE_URL:-}" ]; then
    need_answer "$VAXHUB_TEST_DATABASE_URL"; echo "$VAXHUB_TEST_DATABASE_URL"; return
  fi
  start_local
  local tcp="postgres://postgres@127.0.0.1:$port/postgres"
  local sock="postgres:///postgres?host=$sockdir&port=$port&user=postgres"
  if logs_in "$tcp"; then echo "$tcp"; return; fi
  logs_in "$sock" || peer_map
  if logs_in "$sock"; then echo "$sock"; return; fi
  say "cannot log in as postgres over 127.0.0.1:$port or $sockdir; set VAXHUB_TEST_DATABASE_URL"; exit 1
}

app_role() {
  if [ -n "${DATABASE_URL:-}" ]; then need_answer "$DATABASE_URL"; return; fi
  start_local
  local url="" pw=""
  if [ -f "$urlfile" ]; then
    url=$(head -1 "$urlfile")
    logs_in "$url" && { warn_trust; return; }
    pw="${url#postgres://vaxhub:}"; pw="${pw%%@*}"
    [[ "$pw" =~ ^[A-Za-z0-9_-]{20,}$ ]] || pw=""
  fi
  if [ -z "$pw" ]; then
    pw=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  fi
  say "setting up the role vaxhub (SCRAM-SHA-256 password in $urlfile) and its database vaxhub"
  admin_sql -d postgres <<SQL
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE vaxhub' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vaxhub') \gexec
ALTER ROLE vaxhub LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '$pw';
SELECT 'CREATE DATABASE vaxhub OWNER vaxhub' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'vaxhub') \gexec
ALTER DATABASE vaxhub OWNER TO vaxhub;
\c vaxhub
-- A database an earlier make run created as the superuser: hand it over.
ALTER SCHEMA public OWNER TO vaxhub;
DO \$\$
DECLARE s text;
BEGIN
  FOR s IN
    SELECT format('ALTER TABLE %s OWNER TO vaxhub', c.oid::regclass) FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> 'vaxhub'::regrole
    UNION ALL
    SELECT format('ALTER SEQUENCE %s OWNER TO vaxhub', c.oid::regclass) FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relowner <> 'vaxhub'::regrole
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO vaxhub', p.oid::regprocedure) FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'vaxhub'::regrole
  LOOP
    EXECUTE s;
  END LOOP;
END
\$\$;
SQL
  url="postgres://vaxhub:$pw@127.0.0.1:$port/vaxhub"
  mkdir -p "$datadir"; chmod 700 "$datadir"
  (umask 077; echo "$url" >"$urlfile.tmp") && mv "$urlfile.tmp" "$urlfile"
  if ! logs_in "$url"; then
    say "the role vaxhub cannot log in over 127.0.0.1:$port with its password; check pg_hba.conf (a host line with scram-sha-256)"; exit 1
  fi
  warn_trust
}

# warn_trust says so when the server does not ask the vaxhub role for its
# password on 127.0.0.1 (a machine set up with trust); it changes nothing.
warn_trust() {
  local rules
  rules=$(admin_sql -d postgres -Atc "select line_number from pg_hba_file_rules where auth_method = 'trust' and type like 'host%'
    and ('all' = any(user_name) or 'vaxhub' = any(user_name)) and (address is null or address in ('127.0.0.1', '::1', 'localhost', '0.0.0.0', '::'))" 2>/dev/null | paste -sd, -)
  if [ -n "$rules" ]; then
    local hba; hba=$(admin_sql -Atc 'show hba_file' 2>/dev/null)
    say "note: $hba trusts TCP connections (line $rules), so the vaxhub password is not checked; that server was set up so, this script leaves it"
  fi
}

case "$mode" in
  run) app_role ;;
  test) test_url ;;
esac
