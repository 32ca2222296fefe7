#!/usr/bin/env bash
# Browser test of the conference app: starts `roomwire serve`, then two headless Chromium
# pages open /conference/demo, join one room and talk over a WebRTC data channel.
#
#   tests/browser/run.sh                                 # all tests
#   tests/browser/run.sh test/conference-webrtc.test.js  # some files (relative to tests/browser)
#
# Env:
#   ROOMWIRE_BIN   roomwire binary (default: ../../target/release/roomwire relative to this
#                  folder; a relative path given here is taken relative to the current directory)
#   CHROMIUM_PATH  Chromium binary (default /usr/bin/chromium, installed with apt-get if missing)
#   BROWSER_PORT   first port to try (default 3310; the next free one is used if it is taken)
#   ROOMWIRE_SCREENSHOTS  folder for screenshots of the pages even when the test passes
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -n "${ROOMWIRE_BIN:-}" ]]; then
  case "$ROOMWIRE_BIN" in
    /*) ;;
    *) ROOMWIRE_BIN="$PWD/$ROOMWIRE_BIN" ;;
  esac
else
  ROOMWIRE_BIN="$DIR/../../target/release/roomwire"
fi
if [[ ! -x "$ROOMWIRE_BIN" ]]; then
  echo "browser: roomwire binary not found or not executable: $ROOMWIRE_BIN" >&2
  echo "browser: build it (cargo build --release -p roomwire) or set ROOMWIRE_BIN" >&2
  exit 2
fi

# Chromium comes from Debian's packages only (never a browser download of Playwright's own).
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_PATH" ]]; then
  if [[ "$CHROMIUM_PATH" == /usr/bin/chromium && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "browser: $CHROMIUM_PATH is missing; installing Debian's chromium package" >&2
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
  fi
  if [[ ! -x "$CHROMIUM_PATH" ]]; then
    echo "browser: Chromium not found at $CHROMIUM_PATH." >&2
    echo "browser: install it as root (apt-get update && apt-get install -y chromium) or set CHROMIUM_PATH" >&2
    exit 2
  fi
fi
export CHROMIUM_PATH

cd "$DIR"
if [[ ! -d node_modules/playwright-core ]]; then
  echo "browser: installing test dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

port_in_use() {
  # a successful TCP connect means something is listening there
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

PORT="${BROWSER_PORT:-3310}"
for _ in $(seq 1 100); do
  if ! port_in_use "$PORT"; then break; fi
  PORT=$((PORT + 1))
done
if port_in_use "$PORT"; then
  echo "browser: no free port found from ${BROWSER_PORT:-3310} to $PORT" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/roomwire-browser.XXXXXX")"
LOG="$WORK/server.log"
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
  if ((rc == 0)); then rm -rf "$WORK"; else echo "browser: server data and log kept in $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "browser: starting $ROOMWIRE_BIN serve on 127.0.0.1:$PORT (log: $LOG)" >&2
set -m # background jobs get their own process group
ROOMWIRE_DATA_DIR="$WORK/data" ROOMWIRE_JWT_SECRET=browser-test ROOMWIRE_LISTEN="127.0.0.1:$PORT" \
  "$ROOMWIRE_BIN" serve >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!
set +m

export ROOMWIRE_SERVE_URL="http://127.0.0.1:$PORT"

healthy() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(1000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$ROOMWIRE_SERVE_URL/healthz"
}

deadline=$((SECONDS + 20))
until healthy; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "browser: the server exited before becoming healthy" >&2
    show_log
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "browser: $ROOMWIRE_SERVE_URL/healthz did not answer 200 within 20 s" >&2
    show_log
    exit 1
  fi
  sleep 0.2
done
echo "browser: server is up at $ROOMWIRE_SERVE_URL" >&2

status=0
if (($# > 0)); then
  node --test --test-concurrency=1 "$@" || status=$?
else
  node --test --test-concurrency=1 test/*.test.js || status=$?
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "browser: the server was no longer running at the end of the tests" >&2
  ((status != 0)) || status=1
fi
if ((status != 0)); then
  echo "browser: tests failed (exit $status)" >&2
  show_log
fi
exit "$status"
