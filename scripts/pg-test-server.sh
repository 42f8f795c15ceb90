#!/usr/bin/env bash
# A throwaway PostgreSQL server for Väylä's tests (crates/store and the server's integration tests).
#
#   scripts/pg-test-server.sh start   # init (first time) and start; does nothing if already running
#   scripts/pg-test-server.sh stop    # stop it (the data directory is kept)
#   scripts/pg-test-server.sh url     # print the admin URL for VAYLA_TEST_PG_URL
#
# Usage in a test run:
#   scripts/pg-test-server.sh start && VAYLA_TEST_PG_URL=$(scripts/pg-test-server.sh url) cargo test -p vayla-store
#
# Environment: VAYLA_PG_DIR (default /tmp/vayla-pg) holds the data directory, socket and log;
# VAYLA_PG_PORT (default 5433) is the TCP port on 127.0.0.1. Trust authentication, fsync off:
# for tests only, never for real data. PostgreSQL refuses to run as root, so the server runs as the
# OS user `postgres`, created if missing; if no PostgreSQL binaries are installed, the Debian package
# `postgresql` is installed with apt-get.
set -euo pipefail

PG_DIR="${VAYLA_PG_DIR:-/tmp/vayla-pg}"
PG_PORT="${VAYLA_PG_PORT:-5433}"
DATA="$PG_DIR/data"
LOG="$PG_DIR/log"
PG_USER=postgres

log() { echo "pg-test-server: $*" >&2; }

# The newest installed version's bin directory, e.g. /usr/lib/postgresql/15/bin.
find_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; fi
}

ensure_binaries() {
    BIN=$(find_bin)
    if [ -z "$BIN" ]; then
        log "no PostgreSQL binaries under /usr/lib/postgresql; installing the Debian package 'postgresql'"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        BIN=$(find_bin)
        [ -n "$BIN" ] || { log "initdb still not found after installing postgresql"; exit 1; }
    fi
}

# Runs a command as the postgres OS user (directly if we already are that user).
as_pg() {
    if [ "$(id -un)" = "$PG_USER" ]; then
        "$@"
    else
        su "$PG_USER" -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
}

ensure_user() {
    if [ "$(id -un)" = "$PG_USER" ]; then return; fi
    if [ "$(id -u)" -ne 0 ]; then
        log "run as root (to create/switch to the '$PG_USER' user) or as '$PG_USER' itself"
        exit 1
    fi
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        log "creating the OS user '$PG_USER'"
        useradd --system --home-dir "$PG_DIR" --shell /bin/sh "$PG_USER"
    fi
}

is_running() {
    [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

url() {
    echo "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

start() {
    ensure_binaries
    ensure_user
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then chown "$PG_USER" "$PG_DIR"; fi
    if is_running; then
        return 0
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "initialising $DATA"
        as_pg "$BIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    fi
    # Enough connections for parallel test binaries, each with its own pool per test.
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || { log "start failed; log follows"; tail -n 30 "$LOG" >&2; exit 1; }
    clear_leftovers
    log "running on 127.0.0.1:$PG_PORT (data in $DATA); admin URL: $(url)"
}

# Test databases that an interrupted or failed run left behind (each holds several MB). Only on a fresh start,
# when no test can be using one.
clear_leftovers() {
    local psql=("$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt)
    local name count=0
    for name in $(as_pg "${psql[@]}" -c "SELECT datname FROM pg_database WHERE datname LIKE 'vayla\_test\_%'"); do
        as_pg "${psql[@]}" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null
        count=$((count + 1))
    done
    if [ "$count" -gt 0 ]; then log "dropped $count test databases left from earlier runs"; fi
}

stop() {
    BIN=$(find_bin)
    [ -n "$BIN" ] || return 0
    if [ -f "$DATA/PG_VERSION" ] && is_running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
