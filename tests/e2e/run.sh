#!/usr/bin/env bash
# Run the end-to-end suite against a freshly started `roomwire conformance` server.
#
#   tests/e2e/run.sh                      # all tests
#   tests/e2e/run.sh test/ws-lab.test.js  # only some files (paths relative to tests/e2e)
#
# Env:
#   ROOMWIRE_BIN  roomwire binary (default: ../../target/release/roomwire relative to tests/e2e;
#                 a relative path given here is taken relative to the current directory)
#   E2E_PORT      first port to try (default 3210; the next free one is used if it is taken)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -n "${ROOMWIRE_BIN:-}" ]]; then
  case "$ROOMWIRE_BIN" in
    /*) ;;
    *) ROOMWIRE_BIN="$PWD/$ROOMWIRE_BIN" ;;
  esac
else
  ROOMWIRE_BIN="$E2E_DIR/../../target/release/roomwire"
fi
if [[ ! -x "$ROOMWIRE_BIN" ]]; then
  echo "e2e: roomwire binary not found or not executable: $ROOMWIRE_BIN" >&2
  echo "e2e: build it (cargo build --release) or set ROOMWIRE_BIN" >&2
  exit 2
fi
export ROOMWIRE_BIN

cd "$E2E_DIR"
if [[ ! -d node_modules/socket.io-client || ! -d node_modules/ws ]]; then
  echo "e2e: installing test dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

port_in_use() {
  # a successful TCP connect means something is listening there
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

PORT="${E2E_PORT:-3210}"
for _ in $(seq 1 100); do
  if ! port_in_use "$PORT"; then break; fi
  PORT=$((PORT + 1))
done
if port_in_use "$PORT"; then
  echo "e2e: no free port found from ${E2E_PORT:-3210} to $PORT" >&2
  exit 2
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/roomwire-e2e.XXXXXX.log")"
SERVER_PID=""

show_log() {
  echo "----- roomwire server log ($LOG), last 200 lines -----" >&2
  tail -n 200 "$LOG" >&2 || true
  echo "----- end of server log -----" >&2
}

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  # the server runs in its own process group (set -m below): signal the whole group
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  local rc=$?
  stop_server
  if ((rc == 0)); then rm -f "$LOG"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "e2e: starting $ROOMWIRE_BIN conformance --listen 127.0.0.1:$PORT (log: $LOG)" >&2
set -m # background jobs get their own process group
ROOMWIRE_JWT_SECRET=e2e-secret "$ROOMWIRE_BIN" conformance --listen "127.0.0.1:$PORT" --ping-interval-ms "${E2E_PING_INTERVAL_MS:-1000}" --ping-timeout-ms "${E2E_PING_TIMEOUT_MS:-5000}" >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!
set +m

export ROOMWIRE_URL="http://127.0.0.1:$PORT"

healthy() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(1000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$ROOMWIRE_URL/healthz"
}

deadline=$((SECONDS + 20))
until healthy; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "e2e: the server exited before becoming healthy" >&2
    show_log
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "e2e: $ROOMWIRE_URL/healthz did not answer 200 within 20 s" >&2
    show_log
    exit 1
  fi
  sleep 0.2
done
echo "e2e: server is up at $ROOMWIRE_URL" >&2

status=0
if (($# > 0)); then
  node --test --test-concurrency=1 "$@" || status=$?
else
  npm test || status=$?
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "e2e: the server was no longer running at the end of the tests" >&2
  ((status != 0)) || status=1
fi
if ((status != 0)); then
  echo "e2e: tests failed (exit $status)" >&2
  show_log
fi
exit "$status"
