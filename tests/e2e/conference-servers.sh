#!/usr/bin/env bash
# Run the conference app's end-to-end tests (test/conference-*.test.js) against two
# freshly started `roomwire serve` servers:
#
#   ROOMWIRE_SERVE_URL       [conference] require_auth = false, [http] trusted_proxies = 127.0.0.3
#   ROOMWIRE_SERVE_AUTH_URL  [conference] require_auth = true, chat_echo_to_sender = true
#
# Both get ROOMWIRE_JWT_SECRET=e2e-secret, ROOMWIRE_HTTP_API_KEY=e2e-api-key, the
# conference limits the tests assume (see CONF in test/conference-helpers.js) and
# their own temporary data directory (SQLite).
#
#   tests/e2e/conference-servers.sh                                   # every conference test
#   tests/e2e/conference-servers.sh test/conference-chat.test.js     # only some files
#
# Env:
#   ROOMWIRE_BIN    roomwire binary (default: ../../target/release/roomwire relative to
#                   tests/e2e; a relative path is taken relative to the current directory)
#   E2E_CONF_PORT   first port to try (default 3220; the next free ones are used)
#   E2E_KEEP_LOGS   set to 1 to keep the server logs and data dirs even on success
#
# Server start, health check and clean-up: tests/lib/roomwire-server.sh.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/roomwire-server.sh source-path=SCRIPTDIR
source "$E2E_DIR/../lib/roomwire-server.sh"
RW_TAG=conference-e2e
RW_KEEP_WORK="${E2E_KEEP_LOGS:-}"

rw_resolve_bin
cd "$E2E_DIR"
rw_ensure_node_modules ws

rw_workdir roomwire-conf-e2e
rw_install_traps

# start_server NAME PORT REQUIRE_AUTH [VAR=VALUE ...]
start_server() {
  local name="$1" port="$2" require_auth="$3"
  shift 3
  local data="$RW_WORK/$name-data" log="$RW_WORK/$name.log"
  mkdir -p "$data"
  echo "conference-e2e: starting $name server: $ROOMWIRE_BIN serve --listen 127.0.0.1:$port (require_auth=$require_auth, log: $log)" >&2
  rw_start_server "$name" "$log" env \
    ROOMWIRE_JWT_SECRET=e2e-secret \
    ROOMWIRE_HTTP_API_KEY=e2e-api-key \
    ROOMWIRE_CONFERENCE_MAX_PARTICIPANTS=5 \
    ROOMWIRE_CONFERENCE_KICK_BAN_SECONDS=600 \
    ROOMWIRE_CONFERENCE_RECONNECT_GRACE_SECONDS=2 \
    ROOMWIRE_CONFERENCE_EMPTY_ROOM_TTL_SECONDS=1 \
    ROOMWIRE_CONFERENCE_IDLE_TIMEOUT_SECONDS=3 \
    ROOMWIRE_CONFERENCE_MAX_MESSAGES_PER_SECOND=20 \
    ROOMWIRE_CONFERENCE_MAX_CHAT_LENGTH=200 \
    ROOMWIRE_CONFERENCE_MAX_MESSAGE_BYTES=8192 \
    ROOMWIRE_CONFERENCE_REQUIRE_AUTH="$require_auth" \
    "$@" \
    "$ROOMWIRE_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data"
}

PORT="$(rw_free_port "${E2E_CONF_PORT:-3220}" 200)" || exit 1
# The open server believes X-Forwarded-For from 127.0.0.3 only (conference-xsami tests); the
# auth server echoes chat to its sender.
start_server open "$PORT" false ROOMWIRE_HTTP_TRUSTED_PROXIES=127.0.0.3
# from PORT + 1: the open server may not be listening yet
AUTH_PORT="$(rw_free_port $((PORT + 1)) 200)" || exit 1
start_server auth "$AUTH_PORT" true ROOMWIRE_CONFERENCE_CHAT_ECHO_TO_SENDER=true

export ROOMWIRE_SERVE_URL="http://127.0.0.1:$PORT"
export ROOMWIRE_SERVE_AUTH_URL="http://127.0.0.1:$AUTH_PORT"
rw_wait_healthy 0 "$ROOMWIRE_SERVE_URL"
rw_wait_healthy 1 "$ROOMWIRE_SERVE_AUTH_URL"
echo "conference-e2e: servers up at $ROOMWIRE_SERVE_URL (open) and $ROOMWIRE_SERVE_AUTH_URL (auth)" >&2

if (($# > 0)); then
  rw_test_and_exit node --test --test-concurrency=1 "$@"
fi
rw_test_and_exit node --test --test-concurrency=1 test/conference-*.test.js
