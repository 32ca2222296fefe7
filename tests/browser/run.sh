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
#
# Server start, health check and clean-up: tests/lib/roomwire-server.sh.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/roomwire-server.sh source-path=SCRIPTDIR
source "$DIR/../lib/roomwire-server.sh"
RW_TAG=browser

rw_resolve_bin

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
rw_ensure_node_modules playwright-core

PORT="$(rw_free_port "${BROWSER_PORT:-3310}" 101)" || exit 2
rw_workdir roomwire-browser
rw_install_traps

LOG="$RW_WORK/server.log"
echo "browser: starting $ROOMWIRE_BIN serve on 127.0.0.1:$PORT (log: $LOG)" >&2
rw_start_server "" "$LOG" env \
  ROOMWIRE_DATA_DIR="$RW_WORK/data" ROOMWIRE_JWT_SECRET=browser-test ROOMWIRE_LISTEN="127.0.0.1:$PORT" \
  "$ROOMWIRE_BIN" serve

export ROOMWIRE_SERVE_URL="http://127.0.0.1:$PORT"
rw_wait_healthy 0 "$ROOMWIRE_SERVE_URL"
echo "browser: server is up at $ROOMWIRE_SERVE_URL" >&2

if (($# > 0)); then
  rw_test_and_exit node --test --test-concurrency=1 "$@"
fi
rw_test_and_exit node --test --test-concurrency=1 test/*.test.js
