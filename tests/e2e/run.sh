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
#   E2E_PING_INTERVAL_MS, E2E_PING_TIMEOUT_MS  the server's Engine.IO heartbeat (default 1000, 5000)
#
# Server start, health check and clean-up: tests/lib/roomwire-server.sh.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/roomwire-server.sh source-path=SCRIPTDIR
source "$E2E_DIR/../lib/roomwire-server.sh"
RW_TAG=e2e

rw_resolve_bin
cd "$E2E_DIR"
rw_ensure_node_modules socket.io-client ws

PORT="$(rw_free_port "${E2E_PORT:-3210}" 101)" || exit 2
rw_workdir roomwire-e2e
rw_install_traps

LOG="$RW_WORK/server.log"
echo "e2e: starting $ROOMWIRE_BIN conformance --listen 127.0.0.1:$PORT (log: $LOG)" >&2
rw_start_server "" "$LOG" env ROOMWIRE_JWT_SECRET=e2e-secret \
  "$ROOMWIRE_BIN" conformance --listen "127.0.0.1:$PORT" \
  --ping-interval-ms "${E2E_PING_INTERVAL_MS:-1000}" --ping-timeout-ms "${E2E_PING_TIMEOUT_MS:-5000}"

export ROOMWIRE_URL="http://127.0.0.1:$PORT"
rw_wait_healthy 0 "$ROOMWIRE_URL"
echo "e2e: server is up at $ROOMWIRE_URL" >&2

if (($# > 0)); then
  rw_test_and_exit node --test --test-concurrency=1 "$@"
fi
rw_test_and_exit npm test
