#!/usr/bin/env bash
# Run the Autobahn|Testsuite fuzzing client against a WebSocket echo endpoint
# and summarise the result.
#
# Usage: scripts/autobahn.sh [WS_URL]        (default ws://127.0.0.1:3000/ws/echo)
#
# The server must already be running (e.g. `target/release/roomwire conformance
# --listen 127.0.0.1:3000`); this script does not start it.
#
# Environment:
#   AUTOBAHN_VENV        virtualenv to use/create (default $HOME/.cache/roomwire/autobahn-venv)
#   AUTOBAHN_PYTHON2     Python 2.7 interpreter used to create the venv
#                        (default: pyenv's 2.7.18, else python2.7 on PATH)
#   AUTOBAHN_CASES       JSON list of case patterns (default ["*"])
#   AUTOBAHN_EXCLUDE     JSON list of excluded patterns (default ["12.*", "13.*"]:
#                        permessage-deflate, which Roomwire does not implement)
#   AUTOBAHN_REPORT_DIR  where the spec and reports go (default: a new mktemp -d dir,
#                        kept after the run so the HTML report can be inspected)
#   AUTOBAHN_AGENT       agent name in the report (default roomwire)
#   AUTOBAHN_TIMEOUT     seconds before wstest is killed (default 900; a full run takes ~1 min)
#
# Exit status: 0 if no case has behavior FAILED, 1 if any did, 2 on setup errors
# (venv, unreachable server, missing/incomplete report).
set -euo pipefail

URL="${1:-ws://127.0.0.1:3000/ws/echo}"
VENV="${AUTOBAHN_VENV:-$HOME/.cache/roomwire/autobahn-venv}"
CASES="${AUTOBAHN_CASES:-[\"*\"]}"
EXCLUDE="${AUTOBAHN_EXCLUDE:-[\"12.*\", \"13.*\"]}"
AGENT="${AUTOBAHN_AGENT:-roomwire}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-900}"

# autobahntestsuite 25.10.1 is Python 2.7 code; these pins are known to work.
PINS=(
  "Twisted==19.10.0"
  "autobahn[twisted]==0.10.9"
  "txaio==2.1.0"
  "pyOpenSSL==19.1.0"
  "cryptography==3.3.2"
  "zope.interface==4.6.0"
  "six==1.16.0"
  "klein==17.10.0"
  "Werkzeug==1.0.1"
  "jinja2==2.11.3"
  "markupsafe==1.1.1"
  "service_identity==18.1.0"
  "unittest2==1.1.0"
  "incremental==16.10.1"
)
SUITE_PIN="autobahntestsuite==25.10.1"
VIRTUALENV_PIN="virtualenv==20.15.1" # last virtualenv that runs on Python 2.7
MARKER="$VENV/.roomwire-autobahn"
MARKER_TEXT="${PINS[*]} $SUITE_PIN"

log() { printf 'autobahn: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

find_python2() {
  if [[ -n "${AUTOBAHN_PYTHON2:-}" ]]; then
    printf '%s\n' "$AUTOBAHN_PYTHON2"; return
  fi
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
  if [[ -x "$root/versions/2.7.18/bin/python" ]]; then
    printf '%s\n' "$root/versions/2.7.18/bin/python"; return
  fi
  if command -v python2.7 >/dev/null 2>&1; then
    command -v python2.7; return
  fi
  return 1
}

create_venv() {
  local py tmp
  py="$(find_python2)" || die "no Python 2.7 found (set AUTOBAHN_PYTHON2, or install pyenv 2.7.18)"
  "$py" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null \
    || die "$py is not Python 2.7"
  if [[ -e "$VENV" ]]; then
    # Only ever remove something that is clearly a virtualenv.
    [[ -f "$VENV/pyvenv.cfg" || -x "$VENV/bin/python" ]] \
      || die "$VENV exists and is not a virtualenv; remove it or set AUTOBAHN_VENV"
    log "removing incomplete or outdated venv $VENV"
    rm -rf -- "$VENV"
  fi
  mkdir -p "$(dirname "$VENV")"
  log "creating venv $VENV with $py"
  if "$py" -m virtualenv --version >/dev/null 2>&1; then
    "$py" -m virtualenv -q "$VENV"
  else
    # Bootstrap virtualenv into a throwaway directory instead of the interpreter.
    tmp="$(mktemp -d)"
    "$py" -m pip install -q --disable-pip-version-check --target "$tmp" "$VIRTUALENV_PIN"
    PYTHONPATH="$tmp" "$py" -m virtualenv -q "$VENV"
    rm -rf -- "$tmp"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-python-version-warning "${PINS[@]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-python-version-warning --no-deps "$SUITE_PIN"
  "$VENV/bin/wstest" --help >/dev/null || die "wstest does not run in $VENV"
  printf '%s\n' "$MARKER_TEXT" >"$MARKER"
}

case "$URL" in
  ws://*|wss://*) ;;
  *) die "URL must start with ws:// or wss:// (got $URL)" ;;
esac

if [[ ! -f "$MARKER" || "$(cat "$MARKER")" != "$MARKER_TEXT" || ! -x "$VENV/bin/wstest" ]]; then
  create_venv
fi

WORK="${AUTOBAHN_REPORT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/roomwire-autobahn.XXXXXX")}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
REPORTS="$WORK/reports"
SPEC="$WORK/spec.json"
rm -rf -- "$REPORTS"

# Build the spec with Python so that URL/agent are JSON-escaped properly.
"$VENV/bin/python" - "$SPEC" "$URL" "$AGENT" "$REPORTS" "$CASES" "$EXCLUDE" <<'PY'
import json, sys
spec_path, url, agent, outdir, cases, exclude = sys.argv[1:7]
spec = {
    "options": {"failByDrop": False},
    "outdir": outdir,
    "servers": [{"agent": agent, "url": url}],
    "cases": json.loads(cases),
    "exclude-cases": json.loads(exclude),
    "exclude-agent-cases": {},
}
with open(spec_path, "w") as f:
    json.dump(spec, f, indent=2)
PY

log "target $URL, spec $SPEC"
START=$(date +%s)
# wstest exits 0 even when the server is unreachable; its log tells how many
# cases it meant to run, which is checked against the report below.
set +e
( cd "$WORK" && timeout "$TIMEOUT" "$VENV/bin/wstest" -m fuzzingclient -s "$SPEC" ) >"$WORK/wstest.log" 2>&1
WSTEST_RC=$?
set -e
ELAPSED=$(( $(date +%s) - START ))
log "wstest finished in ${ELAPSED}s (exit $WSTEST_RC), log $WORK/wstest.log"

if grep -q "failed (" "$WORK/wstest.log"; then
  grep "failed (" "$WORK/wstest.log" | head -3 >&2
fi
[[ -f "$REPORTS/index.json" ]] || { tail -20 "$WORK/wstest.log" >&2; die "no report written ($REPORTS/index.json)"; }

EXPECTED="$(sed -n 's/^Ok, will run \([0-9][0-9]*\) test cases.*/\1/p' "$WORK/wstest.log" | head -1)"

RC=0
"$VENV/bin/python" - "$REPORTS/index.json" "${EXPECTED:-0}" "$WSTEST_RC" <<'PY' || RC=$?
from __future__ import print_function
import json, sys

index_path, expected, wstest_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(index_path) as f:
    index = json.load(f)

def case_key(case_id):
    return [int(p) if p.isdigit() else p for p in case_id.split(".")]

results = {}
for agent in index.values():
    results.update(agent)

order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
counts = dict((b, 0) for b in order)
by_behavior = {}
close_counts = {}
for case_id, r in results.items():
    b = r.get("behavior", "?")
    counts[b] = counts.get(b, 0) + 1
    by_behavior.setdefault(b, []).append(case_id)
    cb = r.get("behaviorClose", "?")
    close_counts[cb] = close_counts.get(cb, 0) + 1

print("Autobahn fuzzingclient summary (%d cases reported, %d planned)" % (len(results), expected))
for b in order + sorted(set(counts) - set(order)):
    print("  %-14s %d" % (b, counts[b]))
print("  close behaviors: " + ", ".join("%s=%d" % kv for kv in sorted(close_counts.items())))

failed = sorted(by_behavior.get("FAILED", []), key=case_key)
for b in ["NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"] + sorted(set(by_behavior) - set(order)):
    if by_behavior.get(b):
        print("%s cases: %s" % (b, " ".join(sorted(by_behavior[b], key=case_key))))
if failed:
    print("FAILED cases (%d):" % len(failed))
    for case_id in failed:
        r = results[case_id]
        print("  %-10s close=%s remoteCloseCode=%s report=%s" % (
            case_id, r.get("behaviorClose"), r.get("remoteCloseCode"), r.get("reportfile")))
    sys.exit(1)
if len(results) == 0:
    print("error: no case was run (server unreachable?)")
    sys.exit(2)
if expected and len(results) < expected:
    print("error: only %d of %d planned cases were reported (server died or refused connections?)"
          % (len(results), expected))
    sys.exit(2)
if wstest_rc != 0:
    print("error: wstest exited with %d" % wstest_rc)
    sys.exit(2)
print("no FAILED cases")
PY
log "reports: $REPORTS/index.html"
exit "$RC"
