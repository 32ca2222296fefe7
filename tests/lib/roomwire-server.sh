# shellcheck shell=bash
# Bash functions shared by the test runners (tests/e2e/run.sh,
# tests/e2e/conference-servers.sh, tests/browser/run.sh): resolve the roomwire
# binary, pick free ports, start roomwire servers in their own process groups
# with their logs (and data) in a temporary work folder, wait for GET /healthz,
# run the tests, stop the servers on exit and print their logs on failure.
#
# Source it from a bash script running with `set -euo pipefail`:
#
#   source "$DIR/../lib/roomwire-server.sh"
#   RW_TAG=e2e                                # prefix of every message
#   rw_resolve_bin                            # ROOMWIRE_BIN (exported) or exit 2
#   cd "$DIR" && rw_ensure_node_modules ws    # npm ci unless node_modules/ws is there
#   PORT="$(rw_free_port 3210 101)" || exit 2 # first free port of 3210..3310
#   rw_workdir roomwire-e2e                   # RW_WORK: removed on success
#   rw_install_traps                          # on exit: stop servers, clean up
#   rw_start_server NAME "$RW_WORK/server.log" env VAR=value "$ROOMWIRE_BIN" serve ...
#   rw_wait_healthy 0 "http://127.0.0.1:$PORT"
#   rw_test_and_exit node --test ...          # exit with the tests' status
#
# Servers are numbered in the order rw_start_server started them (from 0).
# NAME only labels a server in messages ("" for a runner's only server).

RW_LIB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

RW_TAG="${RW_TAG:-roomwire}" # prefix of every message
RW_WORK=""                   # temporary work folder (rw_workdir)
RW_KEEP_WORK=""              # 1: keep RW_WORK even when everything passed
RW_PIDS=()
RW_NAMES=()
RW_LOGS=()

# ROOMWIRE_BIN: as given (a relative path is taken relative to the current
# directory) or target/release/roomwire of this checkout; exported. Exits 2
# when it is not an executable.
rw_resolve_bin() {
  if [[ -n "${ROOMWIRE_BIN:-}" ]]; then
    case "$ROOMWIRE_BIN" in
      /*) ;;
      *) ROOMWIRE_BIN="$PWD/$ROOMWIRE_BIN" ;;
    esac
  else
    ROOMWIRE_BIN="$RW_LIB_ROOT/target/release/roomwire"
  fi
  if [[ ! -x "$ROOMWIRE_BIN" ]]; then
    echo "$RW_TAG: roomwire binary not found or not executable: $ROOMWIRE_BIN" >&2
    echo "$RW_TAG: build it (cargo build --release -p roomwire) or set ROOMWIRE_BIN" >&2
    exit 2
  fi
  export ROOMWIRE_BIN
}

# rw_ensure_node_modules MODULE...: `npm ci` in the current directory unless
# every node_modules/MODULE is there.
rw_ensure_node_modules() {
  local module
  for module in "$@"; do
    if [[ ! -d "node_modules/$module" ]]; then
      echo "$RW_TAG: installing test dependencies (npm ci)" >&2
      npm ci --no-audit --no-fund >&2
      return 0
    fi
  done
}

# rw_port_in_use PORT: true when something listens on 127.0.0.1:PORT
rw_port_in_use() {
  # a successful TCP connect means something is listening there
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# rw_free_port FIRST COUNT: print the first free port of FIRST .. FIRST+COUNT-1;
# return 1 (with a message) when every one of them is taken.
rw_free_port() {
  local first="$1" count="$2" port
  for ((port = first; port < first + count; port++)); do
    if ! rw_port_in_use "$port"; then
      echo "$port"
      return 0
    fi
  done
  echo "$RW_TAG: no free port found from $first to $((first + count - 1))" >&2
  return 1
}

# rw_workdir PREFIX: create RW_WORK, a fresh temporary folder for logs and data.
rw_workdir() {
  RW_WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
}

# "server" or "NAME server" for server number $1
rw_server_label() {
  local name="${RW_NAMES[$1]}"
  echo "${name:+$name }server"
}

# Print the last 200 lines of every server's log to stderr.
rw_show_logs() {
  local i
  for i in "${!RW_LOGS[@]}"; do
    echo "----- roomwire $(rw_server_label "$i") log (${RW_LOGS[$i]}), last 200 lines -----" >&2
    tail -n 200 "${RW_LOGS[$i]}" >&2 || true
    echo "----- end of $(rw_server_label "$i") log -----" >&2
  done
}

# Stop every server (TERM to its process group, KILL after 5 s).
rw_stop_servers() {
  local pid
  ((${#RW_PIDS[@]} > 0)) || return 0
  for pid in "${RW_PIDS[@]}"; do
    # each server runs in its own process group (set -m in rw_start_server)
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${RW_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  RW_PIDS=()
}

# EXIT trap: stop the servers; remove RW_WORK if the script succeeded (and
# RW_KEEP_WORK is not 1), else say where it is.
rw_cleanup() {
  local rc=$?
  rw_stop_servers
  [[ -n "$RW_WORK" ]] || return 0
  if ((rc == 0)) && [[ "$RW_KEEP_WORK" != 1 ]]; then
    rm -rf "$RW_WORK"
  else
    echo "$RW_TAG: server logs and data kept in $RW_WORK" >&2
  fi
}

rw_install_traps() {
  trap rw_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# rw_start_server NAME LOG COMMAND...: run COMMAND in the background, in its
# own process group, stdout and stderr to LOG, stdin from /dev/null.
rw_start_server() {
  local name="$1" log="$2"
  shift 2
  set -m # background jobs get their own process group
  "$@" >"$log" 2>&1 </dev/null &
  RW_PIDS+=("$!")
  set +m
  RW_NAMES+=("$name")
  RW_LOGS+=("$log")
}

# rw_healthy URL: true when GET URL/healthz answers 200 within 1 s
rw_healthy() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(1000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$1/healthz"
}

# rw_wait_healthy INDEX URL: wait (20 s at most) until server number INDEX
# answers GET URL/healthz with 200; exit 1 with the logs if it does not or if
# it exits first.
rw_wait_healthy() {
  local i="$1" url="$2"
  local deadline=$((SECONDS + 20))
  until rw_healthy "$url"; do
    if ! kill -0 "${RW_PIDS[$i]}" 2>/dev/null; then
      echo "$RW_TAG: the $(rw_server_label "$i") exited before becoming healthy" >&2
      rw_show_logs
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$RW_TAG: $url/healthz did not answer 200 within 20 s" >&2
      rw_show_logs
      exit 1
    fi
    sleep 0.2
  done
}

# rw_test_and_exit COMMAND...: run the tests and exit with their status, or 1
# if they passed but a server is no longer running; print the logs on failure.
rw_test_and_exit() {
  local status=0 i
  "$@" || status=$?
  for i in "${!RW_PIDS[@]}"; do
    if ! kill -0 "${RW_PIDS[$i]}" 2>/dev/null; then
      echo "$RW_TAG: the $(rw_server_label "$i") was no longer running at the end of the tests" >&2
      ((status != 0)) || status=1
    fi
  done
  if ((status != 0)); then
    echo "$RW_TAG: tests failed (exit $status)" >&2
    rw_show_logs
  fi
  exit "$status"
}
