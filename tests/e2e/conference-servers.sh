#!/usr/bin/env bash
# Run the conference app's end-to-end tests (test/conference-*.test.js) against two
# freshly started `roomwire serve` servers:
#
#   ROOMWIRE_SERVE_URL       [conference] require_auth = false
#   ROOMWIRE_SERVE_AUTH_URL  [conference] require_auth = true
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
  echo "conference-e2e: roomwire binary not found or not executable: $ROOMWIRE_BIN" >&2
  echo "conference-e2e: build it (cargo build --release) or set ROOMWIRE_BIN" >&2
  exit 2
fi
export ROOMWIRE_BIN

cd "$E2E_DIR"
if [[ ! -d node_modules/ws ]]; then
  echo "conference-e2e: installing test dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# next free port at or above $1
free_port() {
  local p="$1"
  for _ in $(seq 1 200); do
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
    p=$((p + 1))
  done
  echo "conference-e2e: no free port found from $1 to $p" >&2
  return 1
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/roomwire-conf-e2e.XXXXXX")"
PIDS=()
NAMES=()
LOGS=()

show_logs() {
  local i
  for i in "${!LOGS[@]}"; do
    echo "----- roomwire ${NAMES[$i]} server log (${LOGS[$i]}), last 200 lines -----" >&2
    tail -n 200 "${LOGS[$i]}" >&2 || true
    echo "----- end of ${NAMES[$i]} server log -----" >&2
  done
}

stop_servers() {
  local pid
  for pid in "${PIDS[@]}"; do
    # each server runs in its own process group (set -m below)
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  stop_servers
  if ((rc == 0)) && [[ "${E2E_KEEP_LOGS:-}" != 1 ]]; then
    rm -rf "$WORK"
  else
    echo "conference-e2e: logs and data kept in $WORK" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME PORT REQUIRE_AUTH
start_server() {
  local name="$1" port="$2" require_auth="$3"
  local data="$WORK/$name-data" log="$WORK/$name.log"
  mkdir -p "$data"
  echo "conference-e2e: starting $name server: $ROOMWIRE_BIN serve --listen 127.0.0.1:$port (require_auth=$require_auth, log: $log)" >&2
  set -m # background jobs get their own process group
  env \
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
    "$ROOMWIRE_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$log" 2>&1 </dev/null &
  PIDS+=("$!")
  set +m
  NAMES+=("$name")
  LOGS+=("$log")
}

healthy() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(1000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$1/healthz"
}

# wait_healthy INDEX URL
wait_healthy() {
  local i="$1" url="$2"
  local deadline=$((SECONDS + 20))
  until healthy "$url"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "conference-e2e: the ${NAMES[$i]} server exited before becoming healthy" >&2
      show_logs
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "conference-e2e: $url/healthz did not answer 200 within 20 s" >&2
      show_logs
      exit 1
    fi
    sleep 0.2
  done
}

PORT="$(free_port "${E2E_CONF_PORT:-3220}")"
start_server open "$PORT" false
AUTH_PORT="$(free_port $((PORT + 1)))"
start_server auth "$AUTH_PORT" true

export ROOMWIRE_SERVE_URL="http://127.0.0.1:$PORT"
export ROOMWIRE_SERVE_AUTH_URL="http://127.0.0.1:$AUTH_PORT"
wait_healthy 0 "$ROOMWIRE_SERVE_URL"
wait_healthy 1 "$ROOMWIRE_SERVE_AUTH_URL"
echo "conference-e2e: servers up at $ROOMWIRE_SERVE_URL (open) and $ROOMWIRE_SERVE_AUTH_URL (auth)" >&2

status=0
if (($# > 0)); then
  node --test --test-concurrency=1 "$@" || status=$?
else
  node --test --test-concurrency=1 test/conference-*.test.js || status=$?
fi

for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    echo "conference-e2e: the ${NAMES[$i]} server was no longer running at the end of the tests" >&2
    ((status != 0)) || status=1
  fi
done
if ((status != 0)); then
  echo "conference-e2e: tests failed (exit $status)" >&2
  show_logs
fi
exit "$status"
