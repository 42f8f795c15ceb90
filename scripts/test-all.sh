#!/usr/bin/env bash
# Runs every test suite of Väylä, installing what it needs when it is missing:
#   1. Rust: unit, property and integration tests of every crate, on SQLite and on a real PostgreSQL server
#      that this script starts (scripts/pg-test-server.sh) unless VAYLA_TEST_PG_URL names one;
#   1b. the README's run command (`cargo run -p vayla-server`) starts the server and serves the web UI;
#   2. the protocol interop client (Python, written from docs/protocol.md alone) against the real server;
#   2b. the calendar suite (Python): experts' CalDAV calendars in a real Radicale block slots, and the iCalendar
#      feeds parse with an independent parser (icalendar);
#   3. browser end-to-end tests in headless Chromium (Debian's chromium, driven by playwright-core, pages
#      checked with axe-core).
# Exits non-zero if any suite fails. Works on a fresh Debian machine with the Rust toolchain, as root or with
# passwordless sudo for the package installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TERM_COLOR=never
# A one-off build (CI's clean clone) gains nothing from incremental compilation's caches, which take over a GB.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

say() { printf '\n=== %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${apt_updated:-}" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root apt-get install -y -qq --no-install-recommends "$@"
}

started_pg=""
cleanup() { if [ -n "$started_pg" ]; then scripts/pg-test-server.sh stop >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

say "PostgreSQL"
if [ -z "${VAYLA_TEST_PG_URL:-}" ]; then
    scripts/pg-test-server.sh start
    started_pg=1
    VAYLA_TEST_PG_URL=$(scripts/pg-test-server.sh url)
    export VAYLA_TEST_PG_URL
fi
echo "using $VAYLA_TEST_PG_URL"

say "Rust: build"
cargo build --workspace --all-targets --locked

say "Rust: tests (SQLite and PostgreSQL)"
cargo test --workspace --locked

say "The README's run command"
# `cargo run -p vayla-server` as the README has it, on a free port and a throwaway data directory: it must start
# the server, print its URL and serve the web UI there.
command -v curl >/dev/null || apt_install curl
run_dir=$(mktemp -d)
VAYLA_LISTEN=127.0.0.1:0 VAYLA_DATA_DIR="$run_dir/data" cargo run -q --locked -p vayla-server >"$run_dir/out" 2>&1 &
run_pid=$!
url=""
for _ in $(seq 1 120); do
    url=$(grep -o 'open http://[^ ]*/' "$run_dir/out" | head -n 1 | cut -c6- || true)
    if [ -n "$url" ] || ! kill -0 "$run_pid" 2>/dev/null; then break; fi
    sleep 0.5
done
page=$(curl -fsS "$url" 2>/dev/null || true)
kill "$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
if [ -z "$url" ] || [[ "$page" != *"<html"* ]]; then
    cat "$run_dir/out" >&2
    echo "the README's run command did not start the server and serve the web UI (url: '${url}')" >&2
    exit 1
fi
echo "started, printed $url and served the web UI there"
rm -rf "$run_dir"

export VAYLA_BIN="$root/target/debug/vayla"

say "Protocol interop client (Python)"
command -v python3 >/dev/null || apt_install python3
venv="$root/target/interop-venv"
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/interop/requirements.txt
(cd tests/interop && "$venv/bin/pytest" -q)

say "Calendar suite: Radicale CalDAV and iCalendar feeds (Python)"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/calendar/requirements.txt
(cd tests/calendar && "$venv/bin/pytest" -q)

say "Browser end-to-end tests (headless Chromium)"
[ -x /usr/bin/chromium ] || apt_install chromium
[ -x /usr/bin/turnserver ] || apt_install coturn
command -v npm >/dev/null || apt_install nodejs npm
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error && npm test)

say "All suites passed"
echo "suites: 5 passed, 0 failed"
