#!/usr/bin/env bash
# Run the study-groups app's end-to-end tests (test/study-groups-*.test.js) once against each
# of two freshly started `roomwire serve` servers:
#
#   sqlite    its own temporary data directory (sqlite://<data_dir>/roomwire.db)
#   postgres  a fresh database roomwire_sg_e2e_<random> on ROOMWIRE_TEST_POSTGRES_URL's server,
#             created with psql before and dropped after
#
# Both get ROOMWIRE_JWT_SECRET=e2e-secret. Each run sees ROOMWIRE_SG_URL (the server) and
# ROOMWIRE_SG_BACKEND (sqlite|postgres, shown in the test names). The script fails if either
# run fails.
#
#   tests/e2e/study-groups-servers.sh                                  # every study-groups test
#   tests/e2e/study-groups-servers.sh test/study-groups-chat.test.js   # only some files
#
# Env:
#   ROOMWIRE_BIN                 roomwire binary (default: ../../target/release/roomwire relative
#                                to tests/e2e; a relative path is taken relative to the current
#                                directory)
#   ROOMWIRE_TEST_POSTGRES_URL   PostgreSQL server the script may create databases on
#                                (default postgres://postgres@127.0.0.1:5432/postgres)
#   E2E_SG_PORT                  first port to try (default 3240; the next free ones are used)
#   E2E_SG_BACKENDS              backends to run, default "sqlite postgres"
#   E2E_KEEP_LOGS                set to 1 to keep the server logs and data dirs even on success
#
# Server start, health check and clean-up: tests/lib/roomwire-server.sh.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/roomwire-server.sh source-path=SCRIPTDIR
source "$E2E_DIR/../lib/roomwire-server.sh"
RW_TAG=study-groups-e2e
RW_KEEP_WORK="${E2E_KEEP_LOGS:-}"

read -r -a BACKENDS <<<"${E2E_SG_BACKENDS:-sqlite postgres}"
for b in "${BACKENDS[@]}"; do
  case "$b" in
    sqlite | postgres) ;;
    *)
      echo "$RW_TAG: unknown backend in E2E_SG_BACKENDS: $b (sqlite or postgres)" >&2
      exit 2
      ;;
  esac
done
want() { [[ " ${BACKENDS[*]} " == *" $1 "* ]]; }

rw_resolve_bin
cd "$E2E_DIR"
rw_ensure_node_modules socket.io-client ws

# --- PostgreSQL: a fresh database for this run -------------------------------------------------
PG_URL="${ROOMWIRE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB=""
PG_DB_URL=""

pg_hint() {
  echo "$RW_TAG: start one on 127.0.0.1:5432 with trust auth for user postgres (scripts/test.sh" >&2
  echo "$RW_TAG: does it: pg_ctlcluster <version> main start), or set ROOMWIRE_TEST_POSTGRES_URL" >&2
  echo "$RW_TAG: to a server this script may create databases on, or run only SQLite with" >&2
  echo "$RW_TAG: E2E_SG_BACKENDS=sqlite." >&2
}

# the URL of database $1 on the server of PG_URL (same user, host, port and query string)
pg_url_for() {
  local url="$PG_URL" query="" rest
  if [[ "$url" == *\?* ]]; then
    query="?${url#*\?}"
    url="${url%%\?*}"
  fi
  rest="${url#*://}"
  if [[ "$rest" == */* ]]; then
    url="${url%/*}"
  fi
  echo "$url/$1$query"
}

pg_drop() {
  [[ -n "$PG_DB" ]] || return 0
  PGCONNECT_TIMEOUT=5 psql "$PG_URL" -v ON_ERROR_STOP=1 -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
    PGCONNECT_TIMEOUT=5 psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 ||
    echo "$RW_TAG: could not drop database $PG_DB (drop it yourself)" >&2
  PG_DB=""
}

if want postgres; then
  if ! command -v psql >/dev/null; then
    echo "$RW_TAG: psql not found: install the PostgreSQL client (apt-get install postgresql-client)" >&2
    exit 1
  fi
  if ! PGCONNECT_TIMEOUT=5 psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null 2>"${TMPDIR:-/tmp}/sg-e2e-psql.$$"; then
    echo "$RW_TAG: PostgreSQL is not reachable at $PG_URL:" >&2
    sed "s/^/$RW_TAG:   /" "${TMPDIR:-/tmp}/sg-e2e-psql.$$" >&2 || true
    rm -f "${TMPDIR:-/tmp}/sg-e2e-psql.$$"
    pg_hint
    exit 1
  fi
  rm -f "${TMPDIR:-/tmp}/sg-e2e-psql.$$"
fi

rw_workdir roomwire-sg-e2e
rw_install_traps
sg_cleanup() {
  local rc=$?
  rw_stop_servers # before the drop: the server holds connections to the database
  pg_drop
  (exit "$rc")
  rw_cleanup
}
trap sg_cleanup EXIT

if want postgres; then
  PG_DB="roomwire_sg_e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  if ! PGCONNECT_TIMEOUT=5 psql "$PG_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $PG_DB" >/dev/null; then
    PG_DB=""
    echo "$RW_TAG: could not create a database on $PG_URL" >&2
    pg_hint
    exit 1
  fi
  PG_DB_URL="$(pg_url_for "$PG_DB")"
  echo "$RW_TAG: created database $PG_DB ($PG_DB_URL)" >&2
fi

# --- servers -----------------------------------------------------------------------------------
# start_server NAME PORT [VAR=value...]: roomwire serve with its own data dir
start_server() {
  local name="$1" port="$2"
  shift 2
  local data="$RW_WORK/$name-data" log="$RW_WORK/$name.log"
  mkdir -p "$data"
  echo "$RW_TAG: starting $name server: $ROOMWIRE_BIN serve --listen 127.0.0.1:$port (log: $log)" >&2
  rw_start_server "$name" "$log" env -u ROOMWIRE_DATABASE_URL \
    ROOMWIRE_JWT_SECRET=e2e-secret \
    "$@" \
    "$ROOMWIRE_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data"
}

declare -A URLS=()
declare -A INDEX=()
next_port="${E2E_SG_PORT:-3240}"
n=0
for b in "${BACKENDS[@]}"; do
  port="$(rw_free_port "$next_port" 200)" || exit 1
  next_port=$((port + 1)) # the server just started may not be listening yet
  if [[ "$b" == postgres ]]; then
    start_server postgres "$port" ROOMWIRE_DATABASE_URL="$PG_DB_URL"
  else
    start_server sqlite "$port"
  fi
  URLS[$b]="http://127.0.0.1:$port"
  INDEX[$b]=$n
  n=$((n + 1))
done
for b in "${BACKENDS[@]}"; do
  rw_wait_healthy "${INDEX[$b]}" "${URLS[$b]}"
  echo "$RW_TAG: $b server up at ${URLS[$b]}" >&2
done

# --- tests -------------------------------------------------------------------------------------
if (($# > 0)); then
  FILES=("$@")
else
  FILES=(test/study-groups-*.test.js)
fi

status=0
declare -A RESULT=()
for b in "${BACKENDS[@]}"; do
  echo "$RW_TAG: ===== study-groups tests on $b (${URLS[$b]}) =====" >&2
  rc=0
  ROOMWIRE_SG_URL="${URLS[$b]}" ROOMWIRE_SG_BACKEND="$b" \
    node --test --test-concurrency=1 "${FILES[@]}" || rc=$?
  if ((rc == 0)); then RESULT[$b]=passed; else RESULT[$b]="FAILED (exit $rc)"; status=1; fi
  if ! kill -0 "${RW_PIDS[${INDEX[$b]}]}" 2>/dev/null; then
    echo "$RW_TAG: the $b server was no longer running at the end of its tests" >&2
    RESULT[$b]="${RESULT[$b]}, server died"
    status=1
  fi
done

for b in "${BACKENDS[@]}"; do
  echo "$RW_TAG: $b: ${RESULT[$b]}" >&2
done
if ((status != 0)); then
  echo "$RW_TAG: tests failed" >&2
  rw_show_logs
fi
exit "$status"
