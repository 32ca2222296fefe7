#!/usr/bin/env bash
# Fuzzes Roomwire's wire decoders with cargo-fuzz (libFuzzer): Engine.IO packets and polling
# payloads, Socket.IO packets (with an encode/decode round trip), plain WebSocket JSON
# envelopes. The fuzz crate is fuzz/ (its own workspace, target dir fuzz/target).
#
#   scripts/fuzz.sh                      # every target, FUZZ_SECONDS (default 60) each
#   scripts/fuzz.sh socketio_packet      # only the named targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # longer runs
#   FUZZ_ARGS='-dict=x.dict' scripts/fuzz.sh   # extra libFuzzer flags
#   FUZZ_KEEP_GOING=1 scripts/fuzz.sh    # don't stop a target at its first crash: libFuzzer
#                                        # fork mode, every crash saved, the run goes on
#
# Each target starts from fuzz/seeds/<target> (committed) copied into fuzz/corpus/<target>
# (git-ignored, grows across runs). Crash inputs land in fuzz/artifacts/<target>/. Exits
# non-zero if any target found a crash; the targets after it still run.
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer); on a stable toolchain RUSTC_BOOTSTRAP=1
# enables them. Set CARGO_BUILD_JOBS to limit build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZ_DIR=$ROOT/fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
MAX_LEN=${FUZZ_MAX_LEN:-4096}
ALL_TARGETS=(engineio_packet socketio_packet json_envelope)

say() { printf '\n==> %s\n' "$*"; }

if [ $# -gt 0 ]; then targets=("$@"); else targets=("${ALL_TARGETS[@]}"); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

# Prints a file in hex (and, when short, as text with `cat -v`).
show_input() {
  local f=$1
  echo "--- $f ($(wc -c <"$f") bytes), hex:"
  if command -v xxd >/dev/null; then xxd "$f"; else od -An -tx1 -v "$f"; fi
  if [ "$(wc -c <"$f")" -le 512 ]; then
    echo "--- as text (cat -v):"
    cat -v "$f"
    echo
  fi
}

export RUSTC_BOOTSTRAP=1
cd "$FUZZ_DIR"

for t in "${targets[@]}"; do
  if [ ! -f "fuzz_targets/$t.rs" ]; then
    echo "unknown fuzz target: $t (have: ${ALL_TARGETS[*]})" >&2
    exit 2
  fi
done

say "building fuzz targets"
cargo fuzz build --target-dir "$FUZZ_DIR/target"

failed=()
for t in "${targets[@]}"; do
  corpus=$FUZZ_DIR/corpus/$t
  artifacts=$FUZZ_DIR/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$FUZZ_DIR/seeds/$t" ]; then cp -n "$FUZZ_DIR/seeds/$t"/* "$corpus"/ 2>/dev/null || true; fi
  marker=$(mktemp)
  say "fuzzing $t for ${FUZZ_SECONDS}s (corpus $corpus)"
  mode=()
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then mode=(-fork=1 -ignore_crashes=1); fi
  rc=0
  # shellcheck disable=SC2086
  cargo fuzz run --target-dir "$FUZZ_DIR/target" "$t" "$corpus" -- \
    -max_total_time="$FUZZ_SECONDS" -max_len="$MAX_LEN" -print_final_stats=1 \
    "${mode[@]}" ${FUZZ_ARGS:-} || rc=$?
  mapfile -t found < <(find "$artifacts" -type f -newer "$marker" \
    \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort)
  rm -f "$marker"
  if [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
    failed+=("$t")
    say "$t FAILED (exit $rc)"
    for f in "${found[@]:0:10}"; do show_input "$f"; done
    if [ ${#found[@]} -gt 10 ]; then
      echo "... and $((${#found[@]} - 10)) more artifacts in $artifacts"
    fi
    [ ${#found[@]} -gt 0 ] || echo "(no artifact written; see the output above)"
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --target-dir fuzz/target $t <artifact>  (in fuzz/)"
  else
    say "$t: no crash in ${FUZZ_SECONDS}s"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  say "crashes found in: ${failed[*]}"
  exit 1
fi
say "all fuzz targets ran clean: ${targets[*]}"
