# Sourced by the CLI tests: strict-ish shell options, a scratch folder $work removed on exit,
# ok/bad counters and abs_path (the tests cd into $work, so binary paths must be absolute).
set -uo pipefail
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
passed=0; failed=0
ok()  { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; }
abs_path() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
