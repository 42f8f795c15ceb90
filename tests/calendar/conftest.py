"""Servers for the calendar suite: a real CalDAV server (Radicale, from PyPI) and the Väylä server, each on a
free loopback port with its own temporary storage, started once per test session and stopped at the end.

The Väylä binary comes from $VAYLA_BIN (default: target/debug/vayla of this repository, or of
$CARGO_TARGET_DIR); it runs with the repository's demo rooms-config (copied) and an SQLite database in a
temporary data dir, and may fetch calendars from loopback addresses (VAYLA_CALENDAR_ALLOW_PRIVATE_HOSTS),
which a production server refuses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = (HERE / ".." / "..").resolve()
_TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
VAYLA_BIN = os.environ.get("VAYLA_BIN") or str(_TARGET / "debug" / "vayla")
URL_RE = re.compile(r"Väylä is running: open (http://[^\s/]+)/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int | None:
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(scope="session")
def radicale(tmp_path_factory):
    """The base URL of a Radicale CalDAV server with no authentication (any user name is accepted)."""
    work = tmp_path_factory.mktemp("radicale")
    port = free_port()
    log = open(work / "radicale.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "radicale",
            "--config", "",  # no system or user config files
            "--storage-filesystem-folder", str(work / "collections"),
            "--server-hosts", f"127.0.0.1:{port}",
            "--auth-type", "none",
            "--logging-level", "warning",
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/.web/", timeout=1).read()
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                log.close()
                pytest.fail("Radicale did not start:\n" + (work / "radicale.log").read_text("utf-8", "replace")[-3000:])
            time.sleep(0.1)
    yield base
    stop(proc)
    log.close()


@pytest.fixture(scope="session")
def vayla(tmp_path_factory):
    """The base URL of a running Väylä server."""
    if not Path(VAYLA_BIN).exists():
        pytest.fail(f"no server binary at {VAYLA_BIN}: run `cargo build -p vayla-server` or set VAYLA_BIN")
    work = tmp_path_factory.mktemp("vayla")
    shutil.copytree(REPO / "rooms-config", work / "rooms-config")
    env = dict(os.environ)
    env.update(
        VAYLA_LISTEN="127.0.0.1:0",
        VAYLA_DATA_DIR=str(work / "data"),
        VAYLA_ROOMS_CONFIG=str(work / "rooms-config"),
        VAYLA_WEB_DIR=str(REPO / "web"),
        VAYLA_CALENDAR_ALLOW_PRIVATE_HOSTS="true",
    )
    env.pop("DATABASE_URL", None)
    log_path = work / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([VAYLA_BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    base = None
    while base is None:
        m = URL_RE.search(log_path.read_text("utf-8", "replace"))
        if m:
            base = m.group(1)
        elif proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            log.close()
            pytest.fail("Väylä did not start:\n" + log_path.read_text("utf-8", "replace")[-3000:])
        else:
            time.sleep(0.05)
    yield base
    rc = stop(proc)
    log.close()
    assert rc == 0, f"Väylä did not stop cleanly on SIGINT (exit {rc})"
