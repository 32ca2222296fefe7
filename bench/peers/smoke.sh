#!/usr/bin/env bash
# Smoke test of the benchmark peers against bench/CONTRACT.md.
# Builds the three peers, starts each on a free 127.0.0.1 port, waits for its `ready` line,
# runs the contract checks (node/smoke-client.mjs), kills the servers.
# Prints PASS/FAIL per check and a final "N passed, N failed" line; exits non-zero on any failure.
#   bench/peers/smoke.sh            build + test
#   SKIP_BUILD=1 bench/peers/smoke.sh   test the existing builds
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_DIR="$HERE/node"
RUST_DIR="$HERE/rust"
RUST_BIN="$RUST_DIR/target/release"
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/roomwire-peers-smoke.XXXXXX")"
READY_TIMEOUT_S=15

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
record() { # record PASS|FAIL "text"
  echo "$1 $2"
  if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# ---------------------------------------------------------------- build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  t0=$SECONDS
  if (cd "$NODE_DIR" && npm ci --no-audit --no-fund >"$LOG_DIR/npm-ci.log" 2>&1); then
    record PASS "[build] npm ci in bench/peers/node ($((SECONDS - t0)) s)"
  else
    record FAIL "[build] npm ci in bench/peers/node (see $LOG_DIR/npm-ci.log)"
    tail -20 "$LOG_DIR/npm-ci.log"
  fi
  t0=$SECONDS
  if cargo build --release --manifest-path "$RUST_DIR/Cargo.toml" >"$LOG_DIR/cargo.log" 2>&1; then
    record PASS "[build] cargo build --release bench/peers/rust ($((SECONDS - t0)) s)"
  else
    record FAIL "[build] cargo build --release bench/peers/rust (see $LOG_DIR/cargo.log)"
    tail -30 "$LOG_DIR/cargo.log"
  fi
fi

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_peer LABEL CMD... ; sets PORT, appends the pid to PIDS; returns 1 if no `ready` line
start_peer() {
  local label=$1; shift
  PORT=$(free_port)
  local out="$LOG_DIR/$label.out"
  "$@" --port "$PORT" >"$out" 2>"$LOG_DIR/$label.err" &
  local pid=$!
  PIDS+=("$pid")
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  while [ $SECONDS -lt $deadline ]; do
    if grep -qx ready "$out" 2>/dev/null; then
      record PASS "[$label] prints ready (port $PORT)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  record FAIL "[$label] prints ready (port $PORT): stdout=$(head -c 200 "$out") stderr=$(head -c 500 "$LOG_DIR/$label.err")"
  return 1
}

run_client() { # run_client KIND LABEL
  local line before=$failed
  while IFS= read -r line; do
    case "$line" in
      PASS\ *) record PASS "${line#PASS }" ;;
      FAIL\ *) record FAIL "${line#FAIL }" ;;
      *) echo "$line" ;;
    esac
  done < <(cd "$NODE_DIR" && node smoke-client.mjs "$1" "$PORT" "$2" 2>&1; echo "exit=$?" >"$LOG_DIR/$2.client-exit")
  if ! grep -qx 'exit=0' "$LOG_DIR/$2.client-exit" 2>/dev/null && [ "$failed" -eq "$before" ]; then
    record FAIL "[$2] client exited with $(cat "$LOG_DIR/$2.client-exit" 2>/dev/null)"
  fi
}

stop_last() { # stop the most recently started peer
  local pid=${PIDS[-1]}
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  unset 'PIDS[-1]'
}

# ---------------------------------------------------------------- peers
if start_peer node node "$NODE_DIR/server.js"; then run_client socketio node; fi
stop_last
if start_peer socketioxide "$RUST_BIN/socketioxide-peer"; then run_client socketio socketioxide; fi
stop_last
if start_peer tungstenite-floor "$RUST_BIN/tungstenite-floor"; then run_client signal tungstenite-floor; fi
stop_last

echo "logs: $LOG_DIR"
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
