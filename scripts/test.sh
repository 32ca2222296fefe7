#!/usr/bin/env bash
# Runs every test of Roomwire on a fresh machine: installs what is missing (Node.js/npm,
# PostgreSQL), builds the server, runs the Rust tests (storage on SQLite and PostgreSQL) and
# the end-to-end suite with real clients (socket.io-client from npm, ws) against a running
# roomwire. Exits non-zero on the first failing stage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

say() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || { echo "apt-get not found; install $* yourself" >&2; return 1; }
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL: the storage tests run against a real server --------------------------------
PG_URL=${ROOMWIRE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export ROOMWIRE_TEST_POSTGRES_URL=$PG_URL
pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ -z "${ROOMWIRE_TEST_POSTGRES_URL_EXTERNAL:-}" ] && ! pg_up; then
  say "PostgreSQL is not listening on 127.0.0.1:5432: starting one"
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  if ! pg_up; then
    echo "PostgreSQL could not be started. Start one on 127.0.0.1:5432 (trust auth for user postgres)" >&2
    echo "or set ROOMWIRE_TEST_POSTGRES_URL to a server the tests may create databases on." >&2
    exit 1
  fi
  # Local connections from the tests use the postgres user without a password.
  hba=$(ls /etc/postgresql/"$ver"/main/pg_hba.conf)
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  fi
fi

# --- Node.js for the end-to-end clients ------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing Node.js and npm"
  apt_install nodejs npm
fi

say "building roomwire (release)"
cargo build --release --locked -p roomwire

say "Rust tests (unit, storage on SQLite and PostgreSQL, integration)"
cargo test --release --locked --workspace

say "end-to-end tests with socket.io-client and ws"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
ROOMWIRE_BIN="$ROOT/target/release/roomwire" bash tests/e2e/run.sh

say "conference app: integration tests against roomwire serve (open and auth-required servers)"
ROOMWIRE_BIN="$ROOT/target/release/roomwire" bash tests/e2e/conference-servers.sh

say "study-groups app: integration tests against roomwire serve (on SQLite, then on PostgreSQL)"
ROOMWIRE_BIN="$ROOT/target/release/roomwire" bash tests/e2e/study-groups-servers.sh

say "browser test: two headless Chromium pages connect WebRTC through the conference app"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
ROOMWIRE_BIN="$ROOT/target/release/roomwire" bash tests/browser/run.sh
