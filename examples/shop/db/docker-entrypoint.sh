#!/bin/bash
# Start PostgreSQL: initialise the data directory on first start, (re)apply the application user's
# password from the secret file on every start, then run postgres in the foreground.
#
# Env: PGDATA (default /var/lib/postgresql/data/pgdata, a sub-directory so a mount point's lost+found
#      does not bother initdb), POSTGRES_USER (shop), POSTGRES_DB (shop),
#      POSTGRES_PASSWORD_FILE (/run/secrets/db_password). Arguments are passed on to postgres.
set -euo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data/pgdata}"
POSTGRES_USER="${POSTGRES_USER:-shop}"
POSTGRES_DB="${POSTGRES_DB:-shop}"
POSTGRES_PASSWORD_FILE="${POSTGRES_PASSWORD_FILE:-/run/secrets/db_password}"
export PGDATA

log() { echo "db-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

# As root: make the data and socket directories ours (volumes may arrive root-owned), then drop to postgres.
if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi

for name in POSTGRES_USER POSTGRES_DB; do
  [[ "${!name}" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "$name must be a plain lower-case identifier"
done
[[ -r "$POSTGRES_PASSWORD_FILE" ]] || die "cannot read the password secret $POSTGRES_PASSWORD_FILE"
password="$(<"$POSTGRES_PASSWORD_FILE")"
while [[ "$password" == *$'\r' || "$password" == *$'\n' ]]; do password="${password%?}"; done
[[ -n "$password" ]] || die "the password secret $POSTGRES_PASSWORD_FILE is empty"
[[ "$password" != *$'\n'* ]] || die "the password secret must be a single line"
password_sql="'${password//\'/\'\'}'"

# Single-user mode runs SQL without starting a server (nothing listens yet, so the healthcheck stays red):
# one statement per line. Its output is hidden because an error message would echo the password.
single_user() {
  local out
  if ! out="$(postgres --single -D "$PGDATA" -c listen_addresses='' postgres 2>&1)"; then
    log "single-user mode failed:"
    printf '%s\n' "${out//"$password"/********}" >&2
    exit 1
  fi
  if grep -q 'ERROR:' <<<"$out"; then
    printf '%s\n' "${out//"$password"/********}" | grep -A1 'ERROR:' >&2
    die "initialisation SQL failed"
  fi
}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  log "initialising a new cluster in $PGDATA"
  initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
         --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  # Peer auth for the postgres OS user on the socket; passwords (SCRAM) for everything else,
  # including any address on the container networks.
  cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       postgres                peer
local   all       all                     scram-sha-256
host    all       all       0.0.0.0/0     scram-sha-256
host    all       all       ::/0          scram-sha-256
HBA
  single_user <<SQL
CREATE ROLE $POSTGRES_USER LOGIN PASSWORD $password_sql;
CREATE DATABASE $POSTGRES_DB OWNER $POSTGRES_USER;
SQL
  log "created role $POSTGRES_USER and database $POSTGRES_DB"
else
  # Every start: the secret file is the source of truth, so a rotated secret takes effect on restart.
  single_user <<SQL
ALTER ROLE $POSTGRES_USER WITH LOGIN PASSWORD $password_sql;
SQL
  log "existing cluster in $PGDATA; password of $POSTGRES_USER synced from the secret"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
