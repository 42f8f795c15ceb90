"""Interop tests: a client written from docs/protocol.md alone, run against the real server.

Run:  cargo build -p vayla-server
      cd tests/interop && pip install -r requirements.txt && pytest -q

The server binary comes from $VAYLA_BIN (default: target/debug/vayla of this repository, or of
$CARGO_TARGET_DIR). Every server the suite starts listens on 127.0.0.1:0 with its own
temporary data dir; this file takes about 40 s (one test waits out the 10 s hello timeout), the
whole suite with test_watch.py about 90 s. The rooms-config is the
repository's demo config (../../rooms-config from this file), copied into a temporary directory
for every server the tests start.

Every assertion checks something docs/protocol.md promises. Where the server does not do
what the document says, the check lives in its own test marked
``xfail(strict=True, reason="DISAGREES: ...")``: the suite stays green, the disagreement
stays visible, and the test turns red (XPASS strict) once server and document agree.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from vayla_client import Api, Closed, Person, Signal

try:
    import tomllib  # Python 3.11+; only used to double-check an edited rooms-config copy
except ImportError:  # pragma: no cover
    tomllib = None

HERE = Path(__file__).resolve().parent
REPO = (HERE / ".." / "..").resolve()
ROOMS_CONFIG = REPO / "rooms-config"
_TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
VAYLA_BIN = os.environ.get("VAYLA_BIN") or str(_TARGET / "debug" / "vayla")
GRACE_MS = 3000
URL_RE = re.compile(r"Väylä is running: open (http://[^\s/]+)/")

ROOM = "mikkeli-2"
SEATS = [{"role": "expert", "subject": "kela-anna"}, {"role": "interpreter", "subject": "tulkki-aino"}]

PARTICIPANT_FIELDS = {"participant_id", "role", "display_name", "agency", "seat"}
SEAT_FIELDS = {"seat", "role", "display_name", "taken"}
ROOM_FIELDS = {"room", "name", "service_point", "service_point_name", "state", "session_id", "opened_at",
               "seats", "participants"}
ROOM_SEAT_FIELDS = SEAT_FIELDS | {"subject"}


def disagrees(reason: str):
    return pytest.mark.xfail(strict=True, reason="DISAGREES with docs/protocol.md: " + reason)


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self, workdir: Path, data_dir: Path | None = None, grace_ms: int = GRACE_MS):
        self.workdir = workdir
        self.data_dir = data_dir or workdir / "data"
        self.config = workdir / "rooms-config"
        self.grace_ms = grace_ms
        if not self.config.exists():
            shutil.copytree(ROOMS_CONFIG, self.config)
        self.log_path = workdir / f"server-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None
        self.base: str | None = None

    def start(self, timeout: float = 60.0) -> "Server":
        if not Path(VAYLA_BIN).exists():
            pytest.fail(f"no server binary at {VAYLA_BIN}: run `cargo build -p vayla-server` or set VAYLA_BIN")
        env = dict(os.environ)
        env.update(
            VAYLA_LISTEN="127.0.0.1:0",
            VAYLA_DATA_DIR=str(self.data_dir),
            VAYLA_ROOMS_CONFIG=str(self.config),
            VAYLA_GRACE_MS=str(self.grace_ms),
        )
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [VAYLA_BIN, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text("utf-8", "replace")
            m = URL_RE.search(text)
            if m:
                self.base = m.group(1)
                return self
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        self.stop()
        pytest.fail("server did not print its URL in time")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT and wait; the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("vayla")).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, f"server did not stop cleanly on SIGINT (exit {rc})"


@pytest.fixture(scope="session")
def api(server) -> Api:
    return Api(server.base)


@pytest.fixture(scope="session")
def who(api):
    """Everyone the scenarios need, logged in once."""
    return {
        "advisor": Person.person(api, "advisor-mikkeli"),
        "anna": Person.person(api, "kela-anna"),
        "liisa": Person.person(api, "vero-liisa"),
        "aino": Person.person(api, "tulkki-aino"),
        "admin": Person.person(api, "admin"),
        "dev2": Person.device(api, "mikkeli-2"),
    }


@pytest.fixture
def conns():
    """Connections opened by a test; closed afterwards."""
    opened: list[Signal] = []
    yield opened
    for c in opened:
        c.close()


def end_if_open(api: Api, admin: Person, room: str = ROOM) -> None:
    status, body, _ = api.call("DELETE", f"/api/rooms/{room}/session", token=admin.access)
    assert status in (204, 409), (status, body)


@pytest.fixture
def full_room(api, who, conns):
    """Scenario 2's end state: a session on mikkeli-2 with the device, the expert and the
    interpreter in it (locked). Yields the three connections, everything read so far drained."""
    end_if_open(api, who["admin"])
    api.open_session(ROOM, who["advisor"].access, SEATS)
    d = who["dev2"].enter(ROOM, "device")
    a = who["anna"].enter(ROOM, "expert")
    i = who["aino"].enter(ROOM, "interp")
    conns += [d, a, i]
    i.wait_for("room_locked")
    a.wait_for("room_locked")
    d.wait_for("room_locked")
    for c in (d, a, i):
        c.drain(0.2)
    yield {"device": d, "expert": a, "interp": i}
    end_if_open(api, who["admin"])


# --------------------------------------------------------------------------- checks


def check_participant(p: dict) -> None:
    assert set(p) <= PARTICIPANT_FIELDS, f"undocumented participant fields: {set(p) - PARTICIPANT_FIELDS}"
    assert isinstance(p["participant_id"], str) and p["participant_id"]
    assert p["role"] in ("device", "advisor", "expert", "interpreter")
    assert isinstance(p["display_name"], str)
    if "agency" in p:
        assert isinstance(p["agency"], str)
    if "seat" in p:
        assert isinstance(p["seat"], str)


def check_seat(s: dict) -> None:
    assert set(s) <= SEAT_FIELDS, f"undocumented seat fields: {set(s) - SEAT_FIELDS}"
    assert isinstance(s["seat"], str) and isinstance(s["role"], str)
    assert isinstance(s["display_name"], str) and isinstance(s["taken"], bool)


def check_room(r: dict) -> None:
    assert set(r) <= ROOM_FIELDS, f"undocumented room fields: {set(r) - ROOM_FIELDS}"
    for k in ("room", "name", "service_point", "service_point_name", "state"):
        assert isinstance(r[k], str) and r[k], (k, r)
    assert r["state"] in ("idle", "gathering", "locked", "unlocked")
    for s in r["seats"]:
        assert set(s) <= ROOM_SEAT_FIELDS, s
        assert isinstance(s["subject"], str)
    for p in r["participants"]:
        check_participant(p)


def seats_by_id(seats: list) -> dict:
    return {s["seat"]: s for s in seats}


def assert_error(msg: dict, code: str, rid: str | None = None) -> None:
    assert msg["type"] == "error", msg
    assert msg["code"] == code, msg
    assert isinstance(msg["message"], str)
    if rid is None:
        assert "id" not in msg, msg
    else:
        assert msg.get("id") == rid, msg


def expect_error(sig: Signal, type_: str, code: str, **fields) -> dict:
    rid = sig.request(type_, **fields)
    err = sig.reply_to(rid)
    assert_error(err, code, rid)
    return err


def expect_fatal(sig: Signal, code: str, rid: str | None = None, close_code: int = 1008) -> Closed:
    """The fatal error ``code`` (the last error before the close), then a close with
    ``close_code`` and, for 1008, the error code as the reason ('Framing', close codes)."""
    closed = sig.wait_closed()
    errors = [m for m in sig.log if m["type"] == "error"]
    assert errors, f"closed without an error message: {sig.log}"
    assert_error(errors[-1], code, rid)
    assert closed.code == close_code, (closed.code, closed.reason)
    if close_code == 1008:
        assert closed.reason == code, (closed.code, closed.reason)
    return closed


def still_open(sig: Signal) -> None:
    """A non-fatal error leaves the connection usable."""
    assert sig.ping()["type"] == "pong"


def http_error(api: Api, method: str, path: str, status: int, code: str, **kw) -> dict:
    st, body, _ = api.call(method, path, **kw)
    assert (st, body.get("code") if isinstance(body, dict) else body) == (status, code), (method, path, kw, st, body)
    assert isinstance(body["message"], str)
    return body


# =========================================================================== 0. HTTP


def test_0_login_replies(api, who):
    anna = who["anna"].login
    assert anna["token_type"] == "Bearer" and anna["expires_in"] == 900
    assert (anna["subject"], anna["role"], anna["agency"]) == ("kela-anna", "expert", "kela")
    assert isinstance(anna["display_name"], str) and anna["display_name"] and "service_point" not in anna
    adv = who["advisor"].login
    assert (adv["role"], adv["service_point"]) == ("advisor", "mikkeli") and "agency" not in adv
    aino = who["aino"].login
    assert aino["role"] == "interpreter" and "agency" not in aino and "service_point" not in aino
    assert who["admin"].login["role"] == "admin"
    dev = who["dev2"].login
    assert (dev["role"], dev["subject"], dev["service_point"]) == ("device", ROOM, "mikkeli")
    assert dev["token_type"] == "Bearer" and dev["expires_in"] == 900

    # refresh: empty body, reply as for login, and the new token works
    for person in (who["anna"], who["dev2"]):
        fresh = api.refresh(person.access)
        assert {k: v for k, v in fresh.items() if k != "access_token"} == \
               {k: v for k, v in person.login.items() if k != "access_token"}
        assert api.join_token(ROOM, fresh["access_token"])["room"] == ROOM
    http_error(api, "POST", "/api/refresh", 401, "missing_token")
    http_error(api, "POST", "/api/refresh", 401, "wrong_audience", token=who["anna"].room_token(ROOM)["token"])


def test_0_health_ready_metrics(api):
    st, body, _ = api.call("GET", "/healthz")
    assert st == 200
    st, body, _ = api.call("GET", "/readyz")
    assert st == 200 and body["ready"] is True and body["database"] == "ok"
    assert isinstance(body["rooms_config"], dict)
    st, body, hdrs = api.call("GET", "/metrics")
    assert st == 200 and isinstance(body, str)


def test_0_admin_calls(tmp_path):
    """'Other calls': audit log and config for the admin; rotate-keys makes a new signing key and
    tokens signed by older keys stay valid until they expire. (Own server: keys are rotated.)"""
    srv = Server(tmp_path).start()
    try:
        api = Api(srv.base)
        admin = Person.person(api, "admin")
        anna = Person.person(api, "kela-anna")
        room_token = anna.room_token(ROOM)["token"]
        for path in ("/api/audit?limit=5", "/api/admin/config"):
            st, body, _ = api.call("GET", path, token=admin.access)
            assert st == 200 and body is not None, (path, st, body)
        st, body, _ = api.call("POST", "/api/admin/rotate-keys", token=admin.access)
        assert 200 <= st < 300, (st, body)
        # old tokens still work: access token for HTTP and refresh, room token for join
        assert api.join_token(ROOM, anna.access)["room"] == ROOM
        assert api.refresh(anna.access)["subject"] == "kela-anna"
        api.open_session(ROOM, admin.access, [SEATS[0]])
        s = Signal(api.ws_url, "after-rotate")
        try:
            s.hello()
            assert s.join(ROOM, room_token)["you"]["seat"] == "expert-1"
        finally:
            s.close()
    finally:
        assert srv.stop() == 0


def test_0_malformed_bodies_are_bad_request(api, who):
    """'POST /api/login': a malformed body (not JSON, another Content-Type, a missing, extra
    or mistyped field) is always 400 bad_request, in every call that takes a body."""
    end_if_open(api, who["admin"])
    adv = who["advisor"].access
    good_login = {"username": "kela-anna", "password": "vayla-demo"}
    good_device = {"device": ROOM, "credential": "device-demo"}
    good_session = {"seats": SEATS}
    cases = {
        "/api/login": (None, good_login, [
            {"username": "kela-anna"},
            {**good_login, "extra": 1},
            {"username": "kela-anna", "password": 5},
            {"username": ["kela-anna"], "password": "vayla-demo"},
            [good_login],
        ]),
        "/api/device-login": (None, good_device, [
            {"device": ROOM},
            {**good_device, "extra": True},
            {"device": ROOM, "credential": None},
        ]),
        f"/api/rooms/{ROOM}/session": (adv, good_session, [
            {},
            {"seats": SEATS, "extra": 1},
            {"seats": "kela-anna"},
            {"seats": [{"role": "expert"}]},
            {"seats": [{"role": "expert", "subject": "kela-anna", "extra": 1}]},
            {"seats": [{"role": "expert", "subject": 7}]},
        ]),
    }
    try:
        for path, (token, good, bad_bodies) in cases.items():
            for body in bad_bodies:
                http_error(api, "POST", path, 400, "bad_request", body=body, token=token)
            raw = json.dumps(good).encode()
            http_error(api, "POST", path, 400, "bad_request", raw_body=b"{not json", token=token)
            http_error(api, "POST", path, 400, "bad_request", raw_body=b"", token=token)
            for ctype in ("text/plain", "application/x-www-form-urlencoded"):
                http_error(api, "POST", path, 400, "bad_request", raw_body=raw, token=token,
                           headers={"Content-Type": ctype})
            # no Content-Type at all: urllib would add a form type, so send an explicit empty one
            http_error(api, "POST", path, 400, "bad_request", raw_body=raw, token=token,
                       headers={"Content-Type": ""})
    finally:
        end_if_open(api, who["admin"])
    assert api.room(ROOM)["state"] == "idle", "a malformed body opened a session"

    # join-token: "Any request body is ignored"
    for raw, ctype in ((b"garbage", "text/plain"), (b'{"seat": "device"}', "application/json")):
        st, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token", raw_body=raw, token=who["anna"].access,
                               headers={"Content-Type": ctype})
        assert st == 200 and body["room"] == ROOM, (st, body)


def test_0_body_over_64k_is_refused(api):
    """'HTTP': bodies are at most 64 KiB. The document names no code for a larger one; the
    reply must still be an error with the documented body."""
    st, body, _ = api.call("POST", "/api/login",
                           body={"username": "x" * 70000, "password": "vayla-demo"})
    assert 400 <= st < 500 and isinstance(body, dict) and isinstance(body.get("code"), str), (st, body)


def test_0_unknown_api_path_is_not_found(api, who):
    for method, path in (("GET", "/api/nope"), ("POST", "/api/nope"), ("POST", f"/api/rooms/{ROOM}/nope"),
                         ("GET", f"/api/rooms/{ROOM}/session/extra"), ("DELETE", "/api/admin/nope")):
        http_error(api, method, path, 404, "not_found", token=who["admin"].access)
        http_error(api, method, path, 404, "not_found")


def test_0_wrong_method_has_error_body(api):
    bad = []
    for method, path in (("GET", "/api/login"), ("DELETE", f"/api/rooms/{ROOM}/join-token")):
        st, body, _ = api.call(method, path)
        assert 400 <= st < 500
        if not (isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("message"), str)):
            bad.append((method, path, st, body))
    assert bad == []


# =========================================================================== 1. handshake and framing


def test_1_welcome_and_ping(api, conns):
    s = Signal(api.ws_url, "hs")
    conns.append(s)
    s.send({"type": "hello", "id": "h-1", "versions": [1], "client": "interop/0.1"})
    w = s.next()
    assert w["type"] == "welcome"
    assert w["id"] == "h-1"
    assert w["version"] == 1
    assert isinstance(w["heartbeat_ms"], int) and w["heartbeat_ms"] > 0
    assert w["max_message_bytes"] == 65536
    assert set(w) <= {"type", "id", "version", "heartbeat_ms", "max_message_bytes"}

    # ping/pong echo the id; no id in, no id out
    s.send({"type": "ping", "id": "ping-42"})
    assert s.next() == {"type": "pong", "id": "ping-42"}
    s.send({"type": "ping"})
    assert s.next() == {"type": "pong"}

    # welcome without id when hello had none; `client` is optional
    s2 = Signal(api.ws_url, "hs2")
    conns.append(s2)
    s2.send({"type": "hello", "versions": [2, 1]})
    w2 = s2.next()
    assert w2["type"] == "welcome" and "id" not in w2 and w2["version"] == 1


def test_1_second_hello(api, conns):
    s = Signal(api.ws_url, "hs")
    conns.append(s)
    s.hello()
    expect_error(s, "hello", "already_greeted", versions=[1])
    still_open(s)


def test_1_unknown_type(api, conns):
    s = Signal(api.ws_url, "unk")
    conns.append(s)
    s.hello()
    expect_error(s, "frobnicate", "unknown_type")
    # "checked before the other fields"
    expect_error(s, "frobnicate", "unknown_type", extra=1, room=5)
    still_open(s)


def test_1_malformed_frames(api, conns):
    s = Signal(api.ws_url, "bad")
    conns.append(s)
    s.hello()
    # not JSON: the id cannot be read, so the error has none
    s.send("{this is not json")
    assert_error(s.next(), "bad_message")
    # JSON but not an object
    s.send("[1, 2, 3]")
    assert_error(s.next(), "bad_message")
    s.send('"ping"')
    assert_error(s.next(), "bad_message")
    # binary frame
    s.send(b"\x00\x01\x02")
    assert_error(s.next(), "bad_message")
    # id not a string / too long: no id in the error
    s.send({"type": "ping", "id": 7})
    assert_error(s.next(), "bad_message")
    s.send({"type": "ping", "id": "x" * 65})
    assert_error(s.next(), "bad_message")
    s.send({"type": "ping", "id": "x" * 64})
    assert s.next() == {"type": "pong", "id": "x" * 64}
    # a JSON object with a readable id: the error carries it even when `type` is missing or not a string
    s.send({"id": "no-type"})
    assert_error(s.next(), "bad_message", "no-type")
    s.send({"id": "int-type", "type": 5})
    assert_error(s.next(), "bad_message", "int-type")
    # extra field, missing field, wrong type
    expect_error(s, "ping", "bad_message", extra=1)
    expect_error(s, "join", "bad_message", room=ROOM)
    expect_error(s, "join", "bad_message", room=ROOM, token=5)
    expect_error(s, "leave", "bad_message", room=ROOM)
    expect_error(s, "candidate", "bad_message", candidate="candidate:1", sdp_mline_index="0")
    still_open(s)


def test_1_message_before_hello(api, conns):
    s = Signal(api.ws_url, "early")
    conns.append(s)
    s.send({"type": "ping", "id": "too-early"})
    expect_fatal(s, "handshake_required", "too-early")


FIRST_FRAMES = {
    "binary": (b"\x01", None),
    "not-json": ("{this is not json", None),
    "json-array": ('["hello"]', None),
    "join": ({"type": "join", "id": "j", "room": ROOM, "token": "x"}, "j"),
    "unknown-type": ({"type": "frobnicate", "id": "f"}, "f"),
    "hello-unknown-field": ({"type": "hello", "id": "h", "versions": [1], "bogus": True}, "h"),
    "hello-no-versions": ({"type": "hello", "id": "h"}, "h"),
    "hello-versions-string": ({"type": "hello", "id": "h", "versions": "1"}, "h"),
    "hello-versions-of-strings": ({"type": "hello", "id": "h", "versions": ["1"]}, "h"),
    "hello-client-int": ({"type": "hello", "id": "h", "versions": [1], "client": 1}, "h"),
    "hello-id-int": ({"type": "hello", "id": 5, "versions": [1]}, None),
}


@pytest.mark.parametrize("name", list(FIRST_FRAMES))
def test_1_bad_first_frame_is_handshake_required(api, conns, name):
    """'Connection sequence': anything but a well-formed hello first (another type, a frame that
    is not valid JSON, a malformed hello, a binary frame) gets the fatal handshake_required;
    'error': the id is echoed whenever the frame was a JSON object with a readable string id."""
    frame, rid = FIRST_FRAMES[name]
    s = Signal(api.ws_url, f"first-{name}")
    conns.append(s)
    s.send(frame)
    expect_fatal(s, "handshake_required", rid)
    assert [m["type"] for m in s.log] == ["error"]


@pytest.fixture(scope="module")
def silent_connections(api):
    """Four connections that never say hello, all opened at once: (seconds to close, Closed, messages)."""
    results: list = []

    def one():
        s = Signal(api.ws_url, "silent")
        t0 = time.monotonic()
        try:
            closed = s.wait_closed(14)
            results.append((time.monotonic() - t0, closed, list(s.log)))
        finally:
            s.close()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4, "a silent connection was not closed in time"
    return results


def test_1_silence_is_handshake_required(silent_connections):
    """'Connection sequence': no hello within 10 seconds gets the fatal handshake_required. Checked
    here: the connection is closed after 10 s, any close frame is 1008 with the reason
    handshake_required, any message sent is that error, without id. (That both always arrive is
    test_1_silence_error_message_is_sent.)"""
    for took, closed, msgs in silent_connections:
        assert 9.5 <= took <= 13, took
        assert (closed.code, closed.reason) in ((1008, "handshake_required"), (None, "")), (closed.code, closed.reason)
        for m in msgs:
            assert_error(m, "handshake_required")


def test_1_silence_error_message_is_sent(silent_connections):
    got = [([m.get("code") for m in msgs], closed.code, closed.reason) for _, closed, msgs in silent_connections]
    assert got == [(["handshake_required"], 1008, "handshake_required")] * len(got)


def test_1_unsupported_version(api, conns):
    for versions in ([2], []):
        s = Signal(api.ws_url, "v2")
        conns.append(s)
        s.send({"type": "hello", "id": "v", "versions": versions})
        expect_fatal(s, "unsupported_version", "v")


def test_1_requests_needing_a_room(api, conns):
    s = Signal(api.ws_url, "nr")
    conns.append(s)
    s.hello()
    for t in ("leave", "lock", "unlock", "end_session"):
        expect_error(s, t, "not_joined")
    expect_error(s, "offer", "not_joined", sdp="v=0\r\n")
    expect_error(s, "answer", "not_joined", sdp="v=0\r\n")
    expect_error(s, "candidate", "not_joined", candidate="candidate:1 1 udp 1 127.0.0.1 9 typ host")
    still_open(s)


def test_1_message_too_large(api, conns):
    """Fatal message_too_large, close code 1009."""
    s = Signal(api.ws_url, "big")
    conns.append(s)
    s.hello()
    s.send('{"type":"ping","pad":"' + "x" * 70000 + '"}')
    expect_fatal(s, "message_too_large", close_code=1009)


def test_1_frame_over_1mib_closes_1009(api, conns):
    s = Signal(api.ws_url, "huge")
    conns.append(s)
    s.hello()
    # incompressible-ish padding, in case permessage-deflate were ever negotiated
    pad = "".join(format(i * 2654435761 % 2**32, "08x") for i in range(1_100_000 // 8))
    try:
        s.send('{"type":"ping","pad":"' + pad + '"}')
    except ConnectionClosed:
        pass
    closed = s.wait_closed()
    assert [m for m in s.log if m["type"] == "error"] == []
    assert closed.code == 1009, (closed.code, closed.reason)


def _recv_n(s: Signal, n: int, timeout: float = 5.0) -> list[dict]:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        m = s._recv_one(deadline)
        assert m is not None, f"only {len(out)} of {n} replies: {out[-3:]}"
        out.append(m)
    return out


def test_1_rate_limit(api, conns):
    """'Rate': 20/s with bursts of 60, every text frame counts (hello included); over the rate a
    message is dropped and answered with rate_limited without id; not fatal."""
    s = Signal(api.ws_url, "rate")
    conns.append(s)
    t0 = time.monotonic()
    s.send({"type": "hello", "id": "h", "versions": [1]})
    for n in range(60):
        s.send({"type": "ping", "id": f"r{n}"})
    replies = _recv_n(s, 61)
    elapsed = time.monotonic() - t0
    assert replies[0]["type"] == "welcome"
    pongs = [m for m in replies[1:] if m["type"] == "pong"]
    limited = [m for m in replies[1:] if m["type"] == "error"]
    assert len(pongs) + len(limited) == 60, replies
    for m in limited:
        assert_error(m, "rate_limited")
    # The server saw the 61 frames within `elapsed` seconds: at most 60 + 20*elapsed were allowed
    # through, and the hello took one of them.
    assert len(pongs) <= math.floor(59 + 20 * elapsed), (len(pongs), elapsed)
    time.sleep(0.3)
    still_open(s)


def test_1_rate_limit_60_drops_close(api, conns):
    s = Signal(api.ws_url, "flood")
    conns.append(s)
    s.hello()
    closed = None
    try:
        for n in range(59 + 60):
            s.send({"type": "ping", "id": f"f{n}"})
        for _ in range(20):  # a token refilled mid-flood breaks the run of drops; top up
            try:
                closed = s.wait_closed(0.5)
                break
            except TimeoutError:
                for n in range(10):
                    s.send({"type": "ping"})
    except ConnectionClosed:
        pass
    if closed is None:
        closed = s.wait_closed()
    limited = [m for m in s.log if m["type"] == "error"]
    assert len(limited) >= 60 and all(m["code"] == "rate_limited" and "id" not in m for m in limited)
    assert (closed.code, closed.reason) == (1008, "rate_limited")


# =========================================================================== 2. gathering and locking


def test_2_open_session_and_lock(api, who, conns):
    end_if_open(api, who["admin"])
    idle = api.room(ROOM)
    check_room(idle)
    assert idle["state"] == "idle"
    assert "session_id" not in idle and "opened_at" not in idle
    assert idle["seats"] == [] and idle["participants"] == []

    opened = api.open_session(ROOM, who["advisor"].access, SEATS)
    check_room(opened)
    assert opened["room"] == ROOM and opened["state"] == "gathering"
    assert isinstance(opened["session_id"], str) and isinstance(opened["opened_at"], int)
    assert abs(opened["opened_at"] - time.time() * 1000) < 60_000, "opened_at is not ms since the epoch"
    assert [(s["seat"], s["role"], s["subject"], s["taken"]) for s in opened["seats"]] == [
        ("device", "device", ROOM, False),
        ("expert-1", "expert", "kela-anna", False),
        ("interpreter-1", "interpreter", "tulkki-aino", False),
    ]
    assert opened["participants"] == []
    sid = opened["session_id"]

    # a second open is refused
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/session", body={"seats": SEATS}, token=who["advisor"].access)
    assert (status, body["code"]) == (409, "session_open")

    # room tokens name the caller's seat; the opener, not listed, has none
    tok_dev = who["dev2"].room_token(ROOM)
    assert tok_dev["room"] == ROOM and tok_dev["seat"] == "device" and tok_dev["session_id"] == sid
    assert isinstance(tok_dev["expires_in"], int)
    tok_anna = who["anna"].room_token(ROOM)
    assert tok_anna["seat"] == "expert-1"
    tok_aino = who["aino"].room_token(ROOM)
    assert tok_aino["seat"] == "interpreter-1"
    tok_adv = who["advisor"].room_token(ROOM)
    assert "seat" not in tok_adv and tok_adv["session_id"] == sid

    # the device joins
    d = Signal(api.ws_url, "device")
    conns.append(d)
    d.hello()
    jd = d.join(ROOM, tok_dev["token"])
    assert jd["room"] == ROOM and jd["session_id"] == sid and jd["state"] == "gathering"
    check_participant(jd["you"])
    assert jd["you"]["role"] == "device" and jd["you"]["seat"] == "device"
    assert jd["you"]["display_name"] == who["dev2"].login["display_name"]
    assert jd["participants"] == [jd["you"]]
    for s in jd["seats"]:
        check_seat(s)
    assert [s["seat"] for s in jd["seats"]] == ["device", "expert-1", "interpreter-1"]
    assert seats_by_id(jd["seats"])["device"]["taken"] is True
    assert seats_by_id(jd["seats"])["expert-1"]["taken"] is False
    assert seats_by_id(jd["seats"])["expert-1"]["display_name"] == who["anna"].login["display_name"]

    # the expert joins: the device is told
    a = Signal(api.ws_url, "expert")
    conns.append(a)
    a.hello()
    ja = a.join(ROOM, tok_anna["token"])
    assert ja["state"] == "gathering"
    assert ja["you"]["seat"] == "expert-1" and ja["you"]["role"] == "expert" and ja["you"]["agency"] == "kela"
    assert {p["participant_id"] for p in ja["participants"]} == {jd["you"]["participant_id"], ja["you"]["participant_id"]}
    pj = d.next()
    assert pj == {"type": "participant_joined", "participant": ja["you"]}
    assert d.drain(0.3) == [], "no room_locked before the last seat is taken"

    # the interpreter takes the last seat: joined (state already locked), then room_locked;
    # the others get participant_joined, then room_locked
    i = Signal(api.ws_url, "interp")
    conns.append(i)
    i.hello()
    rid = i.request("join", room=ROOM, token=tok_aino["token"])
    ji = i.next()
    assert ji["type"] == "joined" and ji["id"] == rid
    assert ji["state"] == "locked"
    assert ji["you"]["seat"] == "interpreter-1" and ji["you"]["role"] == "interpreter"
    assert "agency" not in ji["you"]
    assert len(ji["participants"]) == 3
    assert all(s["taken"] for s in ji["seats"])
    lock_i = i.next()
    assert lock_i["type"] == "room_locked" and "by" not in lock_i
    for s in lock_i["seats"]:
        check_seat(s)
    assert all(s["taken"] for s in lock_i["seats"])
    for other in (d, a):
        assert other.next() == {"type": "participant_joined", "participant": ji["you"]}
        lk = other.next()
        assert lk["type"] == "room_locked" and "by" not in lk and lk["seats"] == lock_i["seats"]
    for c in (d, a, i):
        assert c.drain(0.3) == [], "exactly one room_locked"

    # HTTP shows it locked; a token shows names and subjects
    anon = api.room(ROOM)
    assert anon["state"] == "locked" and anon["session_id"] == sid
    named = api.room(ROOM, token=who["advisor"].access)
    check_room(named)
    assert named["state"] == "locked"
    assert seats_by_id(named["seats"])["expert-1"]["subject"] == "kela-anna"
    assert seats_by_id(named["seats"])["expert-1"]["display_name"] == who["anna"].login["display_name"]
    assert {p["participant_id"] for p in named["participants"]} == {p["participant_id"] for p in ji["participants"]}
    by_pid = {p["participant_id"]: p for p in named["participants"]}
    for p in ji["participants"]:
        assert by_pid[p["participant_id"]] == p, "the HTTP participant object is the WebSocket one"
    listed = {r["room"]: r for r in api.rooms()}
    assert listed[ROOM]["state"] == "locked"
    assert list(listed) == sorted(listed)

    end_if_open(api, who["admin"])


def test_2_joined_state_when_join_locks(api, who, conns):
    """'joined': if your join locked the room, `state` is already `locked`, and room_locked
    still follows as its own message."""
    end_if_open(api, who["admin"])
    try:
        api.open_session(ROOM, who["advisor"].access, SEATS)
        conns.append(who["dev2"].enter(ROOM, "device"))
        conns.append(who["anna"].enter(ROOM, "expert"))
        i = who["aino"].enter(ROOM, "interp")
        conns.append(i)
        assert i.joined["state"] == "locked"
        assert i.next()["type"] == "room_locked"
    finally:
        end_if_open(api, who["admin"])


def test_2_listing_own_device_is_accepted(api, who):
    end_if_open(api, who["admin"])
    try:
        body = api.open_session(ROOM, who["advisor"].access, [{"role": "device", "subject": ROOM}] + SEATS)
        assert body["state"] == "gathering"
        assert [(s["seat"], s["subject"]) for s in body["seats"]] == \
               [("device", ROOM), ("expert-1", "kela-anna"), ("interpreter-1", "tulkki-aino")]
        end_if_open(api, who["admin"])
        # listed last: still one device seat, first
        body = api.open_session(ROOM, who["advisor"].access, SEATS + [{"role": "device", "subject": ROOM}])
        assert [s["seat"] for s in body["seats"]] == ["device", "expert-1", "interpreter-1"]
        end_if_open(api, who["admin"])
        # any other device is 400; the device alone is no seat besides the device
        for seats in ([{"role": "device", "subject": "mikkeli-1"}] + SEATS, [{"role": "device", "subject": ROOM}]):
            http_error(api, "POST", f"/api/rooms/{ROOM}/session", 400, "bad_request",
                       body={"seats": seats}, token=who["advisor"].access)
    finally:
        end_if_open(api, who["admin"])


def test_2_seat_numbering_and_openers(api, who):
    """Seats are numbered per role in list order; the opener gets no seat unless listed; an
    expert may open a session; an advisor only for their own service point."""
    end_if_open(api, who["admin"])
    seats = [{"role": "expert", "subject": "vero-liisa"}, {"role": "interpreter", "subject": "tulkki-aino"},
             {"role": "expert", "subject": "kela-anna"}, {"role": "advisor", "subject": "advisor-mikkeli"}]
    try:
        body = api.open_session(ROOM, who["anna"].access, seats)
        got = {s["subject"]: s["seat"] for s in body["seats"]}
        assert got == {ROOM: "device", "vero-liisa": "expert-1", "tulkki-aino": "interpreter-1",
                       "kela-anna": "expert-2", "advisor-mikkeli": "advisor-1"}, body["seats"]
        assert body["seats"][0]["seat"] == "device"
        assert who["advisor"].room_token(ROOM)["seat"] == "advisor-1"
        assert who["anna"].room_token(ROOM)["seat"] == "expert-2"
        end_if_open(api, who["admin"])

        api.open_session(ROOM, who["anna"].access, [SEATS[1]])
        assert "seat" not in who["anna"].room_token(ROOM), "the opener got a seat without being listed"
        end_if_open(api, who["admin"])

        parainen = Person.person(api, "advisor-parainen")
        http_error(api, "POST", f"/api/rooms/{ROOM}/session", 403, "forbidden", body={"seats": SEATS},
                   token=parainen.access)
        http_error(api, "POST", f"/api/rooms/{ROOM}/session", 403, "forbidden", body={"seats": SEATS},
                   token=who["dev2"].access)
        http_error(api, "POST", "/api/rooms/no-such-room/session", 404, "unknown_room", body={"seats": SEATS},
                   token=who["admin"].access)
    finally:
        end_if_open(api, who["admin"])


def test_2_room_token_admits_to_the_room_across_sessions(api, who, conns):
    """'join-token': the token admits its subject to the room, not to a seat or a session; any
    number of joins until it expires, across sessions."""
    end_if_open(api, who["admin"])
    try:
        tok = who["anna"].room_token(ROOM)
        assert "session_id" not in tok and "seat" not in tok  # idle
        a = who["anna"].connect("anna")
        conns.append(a)
        expect_error(a, "join", "no_session", room=ROOM, token=tok["token"])

        sid1 = api.open_session(ROOM, who["advisor"].access, SEATS)["session_id"]
        j1 = a.join(ROOM, tok["token"])
        assert (j1["session_id"], j1["you"]["seat"]) == (sid1, "expert-1")
        end_if_open(api, who["admin"])
        assert a.wait_for("session_ended")["session_id"] == sid1

        sid2 = api.open_session(ROOM, who["advisor"].access, [{"role": "interpreter", "subject": "tulkki-aino"},
                                                              {"role": "expert", "subject": "kela-anna"}])["session_id"]
        assert sid2 != sid1
        j2 = a.join(ROOM, tok["token"])  # same connection, same token, new session
        assert (j2["session_id"], j2["you"]["seat"]) == (sid2, "expert-1")
        assert j2["you"]["participant_id"] == j1["you"]["participant_id"]
    finally:
        end_if_open(api, who["admin"])


# =========================================================================== 3. refusals


def test_3_outsider_refused_and_wrong_room(full_room, api, who, conns):
    # an expert who holds no seat, in a locked room
    tok = who["liisa"].room_token(ROOM)
    assert "seat" not in tok
    o = who["liisa"].connect("outsider")
    conns.append(o)
    expect_error(o, "join", "room_locked", room=ROOM, token=tok["token"])
    still_open(o)

    # a token for mikkeli-1 used to join mikkeli-2
    t1 = who["liisa"].room_token("mikkeli-1")
    assert t1["room"] == "mikkeli-1" and "session_id" not in t1  # mikkeli-1 is idle
    expect_error(o, "join", "wrong_room", room=ROOM, token=t1["token"])
    # ... and in its own, idle room
    expect_error(o, "join", "no_session", room="mikkeli-1", token=t1["token"])
    # an access token instead of a room token; a forged one
    expect_error(o, "join", "wrong_audience", room=ROOM, token=who["liisa"].access)
    expect_error(o, "join", "invalid_token", room=ROOM, token="not.a.token")
    still_open(o)

    # nobody in the room heard any of it
    for c in full_room.values():
        assert c.drain(0.2) == []

    # already in a room
    a = full_room["expert"]
    expect_error(a, "join", "already_joined", room=ROOM, token=who["anna"].room_token(ROOM)["token"])


def test_3_join_error_order(full_room, api, who, conns):
    """'join': already_joined, then the token, then `room` as an address, then the token's room
    against `room`, then the room's existence, ..., then the room's rules."""
    a = full_room["expert"]
    # in a room: already_joined wins over a bad token and a bad address
    expect_error(a, "join", "already_joined", room="Not A Room!", token="garbage")

    o = who["liisa"].connect("order")
    conns.append(o)
    liisa_m1 = who["liisa"].room_token("mikkeli-1")["token"]
    # the token before the address
    expect_error(o, "join", "invalid_token", room="Not A Room!", token="garbage")
    expect_error(o, "join", "wrong_audience", room="Not A Room!", token=who["liisa"].access)
    # the address before the token's room
    expect_error(o, "join", "unknown_room", room="Not A Room!", token=liisa_m1)
    expect_error(o, "join", "unknown_room", room="", token=liisa_m1)
    # the token's room before the room's existence
    expect_error(o, "join", "wrong_room", room="no-such-room", token=liisa_m1)
    # the token's room before the room's rules (mikkeli-2 is locked)
    expect_error(o, "join", "wrong_room", room=ROOM, token=liisa_m1)
    # the device's token: another room is wrong_room, even an idle one
    dev_tok = who["dev2"].room_token(ROOM)["token"]
    expect_error(o, "join", "wrong_room", room="mikkeli-1", token=dev_tok)
    still_open(o)


def test_3_http_refusals(api, who):
    adv = who["advisor"]
    # join-token
    status, body, _ = api.call("POST", "/api/rooms/mikkeli-1/join-token", token=who["dev2"].access)
    assert (status, body["code"]) == (403, "wrong_room")
    status, body, _ = api.call("POST", "/api/rooms/parainen-1/join-token", token=adv.access)
    assert (status, body["code"]) == (403, "forbidden")
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token", token=who["admin"].access)
    assert (status, body["code"]) == (403, "forbidden")
    status, body, _ = api.call("POST", "/api/rooms/no-such-room/join-token", token=adv.access)
    assert (status, body["code"]) == (404, "unknown_room")
    # experts and interpreters for any room; advisors for their service point's rooms
    for person, room in (("aino", "parainen-1"), ("liisa", "saarijarvi-2"), ("advisor", "mikkeli-1")):
        assert who[person].room_token(room)["room"] == room
    # tokens
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token")
    assert (status, body["code"]) == (401, "missing_token")
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token", headers={"Authorization": "Basic eA=="})
    assert (status, body["code"]) == (401, "missing_token")
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token", token="garbage")
    assert (status, body["code"]) == (401, "invalid_token")
    room_token = who["anna"].room_token(ROOM)["token"]
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/join-token", token=room_token)
    assert (status, body["code"]) == (401, "wrong_audience")
    # login
    status, body, _ = api.call("POST", "/api/login", body={"username": "kela-anna", "password": "nope"})
    assert (status, body["code"]) == (401, "invalid_credentials")
    status, body, _ = api.call("POST", "/api/login", body={"username": "nobody", "password": "vayla-demo"})
    assert (status, body["code"]) == (401, "invalid_credentials")
    status, body, _ = api.call("POST", "/api/login", raw_body=b"not json")
    assert (status, body["code"]) == (400, "bad_request")
    status, body, _ = api.call("POST", "/api/device-login", body={"device": ROOM, "credential": "nope"})
    assert (status, body["code"]) == (401, "invalid_credentials")
    # session: bad seats, wrong people
    end_if_open(api, who["admin"])
    for seats in ([], [{"role": "interpreter", "subject": "kela-anna"}], [SEATS[0], SEATS[0]],
                  [{"role": "expert", "subject": "nobody"}]):
        status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/session", body={"seats": seats}, token=adv.access)
        assert (status, body["code"]) == (400, "bad_request"), seats
    status, body, _ = api.call("POST", f"/api/rooms/{ROOM}/session", body={"seats": SEATS}, token=who["aino"].access)
    assert (status, body["code"]) == (403, "forbidden")
    status, body, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=adv.access)
    assert (status, body["code"]) == (409, "no_session")
    status, body, _ = api.call("DELETE", "/api/rooms/no-such-room/session", token=adv.access)
    assert (status, body["code"]) == (404, "unknown_room")
    status, body, _ = api.call("GET", "/api/rooms/no-such-room")
    assert (status, body["code"]) == (404, "unknown_room")


def test_3_anonymous_view_names_nobody(full_room, api, who):
    """'GET /api/rooms': without a token every display_name is the role, seat subjects are
    empty and experts show only their agency; with a token names and subjects are shown."""
    people = [who[k].login for k in ("anna", "aino")]
    secrets = [p["display_name"] for p in people] + [p["subject"] for p in people]
    for anon in (api.room(ROOM), {r["room"]: r for r in api.rooms()}[ROOM]):
        check_room(anon)
        assert anon["service_point"] == "mikkeli"
        assert anon["service_point_name"] == "Mikkelin yhteispalvelupiste"
        assert anon["state"] == "locked" and len(anon["participants"]) == 3
        for s in anon["seats"]:
            assert s["display_name"] == s["role"] and s["subject"] == "", s
        for p in anon["participants"]:
            assert p["display_name"] == p["role"], p
            if p["role"] == "expert":
                assert p["agency"] == "kela", p
            else:
                assert "agency" not in p, p
        text = json.dumps(anon, ensure_ascii=False)
        for secret in secrets:
            assert secret not in text, f"{secret!r} shown without a token"

    named = api.room(ROOM, token=who["liisa"].access)
    assert named["service_point_name"] == "Mikkelin yhteispalvelupiste"
    subjects = {s["seat"]: (s["subject"], s["display_name"]) for s in named["seats"]}
    assert subjects == {
        "device": (ROOM, who["dev2"].login["display_name"]),
        "expert-1": ("kela-anna", who["anna"].login["display_name"]),
        "interpreter-1": ("tulkki-aino", who["aino"].login["display_name"]),
    }
    names = {p["seat"]: p["display_name"] for p in named["participants"]}
    assert names == {seat: name for seat, (_, name) in subjects.items()}
    # the other rooms in the listing carry service_point_name too
    for r in api.rooms():
        check_room(r)


# =========================================================================== 4. drop, reconnect, replace


def test_4_drop_reconnect_replace(full_room, api, who, conns):
    d, a, i = full_room["device"], full_room["expert"], full_room["interp"]
    old_pid = a.joined["you"]["participant_id"]
    token = who["anna"].room_token(ROOM)["token"]

    a.drop()
    for c in (d, i):
        left = c.wait_for("participant_left")
        assert left == {"type": "participant_left", "participant_id": old_pid, "seat": "expert-1", "reason": "dropped"}
    room = api.room(ROOM)
    assert room["state"] == "locked"
    assert seats_by_id(room["seats"])["expert-1"]["taken"] is False

    # back in, same seat, new participant id, although the room is locked
    a2 = who["anna"].connect("expert-again")
    conns.append(a2)
    j = a2.join(ROOM, token)
    assert j["you"]["seat"] == "expert-1"
    assert j["you"]["participant_id"] != old_pid
    assert j["state"] == "locked"
    assert seats_by_id(j["seats"])["expert-1"]["taken"] is True
    for c in (d, i):
        assert c.next() == {"type": "participant_joined", "participant": j["you"]}
    # a seat filling in a locked room sends nothing about locking
    for c in (d, i, a2):
        assert c.drain(0.3) == []

    # a second concurrent connection of the same seat replaces the first
    a3 = who["anna"].connect("expert-third")
    conns.append(a3)
    j3 = a3.join(ROOM, token)
    assert j3["you"]["seat"] == "expert-1"
    ids = [p["participant_id"] for p in j3["participants"]]
    assert j3["you"]["participant_id"] in ids and j["you"]["participant_id"] not in ids
    assert len([p for p in j3["participants"] if p.get("seat") == "expert-1"]) == 1
    expect_fatal(a2, "replaced")  # without id, close 1008 "replaced"
    for c in (d, i):  # first participant_left (replaced), then participant_joined
        assert c.next() == {"type": "participant_left", "participant_id": j["you"]["participant_id"],
                            "seat": "expert-1", "reason": "replaced"}
        assert c.next() == {"type": "participant_joined", "participant": j3["you"]}
    # no (second) room_locked: the room never unlocked
    for c in (d, i, a3):
        assert [m for m in c.drain(0.3) if m["type"] in ("room_locked", "room_unlocked")] == []


def test_4_leave_and_rejoin(full_room, who, conns):
    d, i = full_room["device"], full_room["interp"]
    pid = i.joined["you"]["participant_id"]
    assert i.leave() == {"type": "ok", "id": i.log[-1]["id"]}
    assert d.wait_for("participant_left") == {"type": "participant_left", "participant_id": pid,
                                              "seat": "interpreter-1", "reason": "left"}
    expect_error(i, "leave", "not_joined")
    # "A seat holder keeps the seat and may join again"; "the same connection may join again",
    # and "leave and join again on the same connection keep the id"
    j = i.join(ROOM, who["aino"].room_token(ROOM)["token"])
    assert j["you"]["seat"] == "interpreter-1" and j["state"] == "locked"
    assert j["you"]["participant_id"] == pid
    assert d.wait_for("participant_joined")["participant"] == j["you"]


# A complete, well-formed audio offer as a browser would send it.
OFFER_SDP = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "a=msid-semantic: WMS", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2", "",
])
CANDIDATE = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"


def test_4_media_bad_sdp(full_room):
    """'Media': bad_sdp for an SDP not starting with v=0 (not fatal)."""
    a = full_room["expert"]
    expect_error(a, "offer", "bad_sdp", sdp="hello")
    expect_error(a, "offer", "bad_sdp", sdp="")
    still_open(a)


def test_4_media_negotiation(full_room):
    """'Media': before its offer a client has no media connection (`answer`, `candidate`: not_joined); an offer
    gets the server's `answer` with the same id; then candidates get `ok` (the empty end-of-candidates one too)
    and an unreadable answer gets bad_sdp without harm."""
    a = full_room["expert"]
    expect_error(a, "answer", "not_joined", sdp=OFFER_SDP)
    expect_error(a, "candidate", "not_joined", candidate=CANDIDATE)
    rid = a.request("offer", sdp=OFFER_SDP, tracks=[{"mid": "0", "source": "microphone"}])
    reply = a.reply_to(rid)
    assert reply["type"] == "answer", reply
    assert reply["sdp"].startswith("v=0"), reply
    assert "a=ice-lite" in reply["sdp"] and "a=candidate:" in reply["sdp"], reply["sdp"]
    for cand in (CANDIDATE, ""):
        rid = a.request("candidate", candidate=cand, sdp_mid="0", sdp_mline_index=0)
        assert a.reply_to(rid)["type"] == "ok"
    expect_error(a, "answer", "bad_sdp", sdp="hello")
    still_open(a)


# =========================================================================== 5. unlock, guest, lock


def test_5_unlock_guest_lock(full_room, api, who, conns):
    d, a, i = full_room["device"], full_room["expert"], full_room["interp"]
    expert_pid = a.joined["you"]["participant_id"]

    # only an expert holding a seat
    expect_error(i, "unlock", "forbidden")
    expect_error(d, "unlock", "forbidden")
    expect_error(d, "lock", "forbidden")
    expect_error(i, "end_session", "forbidden")

    # locking a locked room: ok, nothing sent
    assert a.lock()["type"] == "ok"
    for c in (d, a, i):
        assert c.drain(0.3) == []

    # unlock
    assert a.unlock()["type"] == "ok"
    for c in (d, a, i):
        assert c.next() == {"type": "room_unlocked", "by": expert_pid}
    assert api.room(ROOM)["state"] == "unlocked"
    assert a.unlock()["type"] == "ok"  # already unlocked: nothing sent
    for c in (d, a, i):
        assert c.drain(0.3) == []

    # an extra expert joins with no seat
    tok = who["liisa"].room_token(ROOM)
    assert "seat" not in tok
    g = who["liisa"].connect("guest")
    conns.append(g)
    jg = g.join(ROOM, tok["token"])
    assert jg["state"] == "unlocked"
    assert "seat" not in jg["you"] and jg["you"]["role"] == "expert" and jg["you"]["agency"] == "vero"
    check_participant(jg["you"])
    for c in (d, a, i):
        assert c.next() == {"type": "participant_joined", "participant": jg["you"]}
    # a seatless expert does not control the room
    expect_error(g, "lock", "forbidden")
    expect_error(g, "end_session", "forbidden")

    # the expert locks: everyone (the guest too) gets room_locked with a guest seat
    assert a.lock()["type"] == "ok"
    locks = [c.next() for c in (d, a, i, g)]
    for lk in locks:
        assert lk["type"] == "room_locked" and lk["by"] == expert_pid
        assert lk == locks[0]
        for s in lk["seats"]:
            check_seat(s)
    guests = [s for s in locks[0]["seats"] if s["seat"].startswith("guest-")]
    assert len(guests) == 1
    assert guests[0]["seat"] == "guest-1"
    assert guests[0]["taken"] is True and guests[0]["display_name"] == jg["you"]["display_name"]
    assert guests[0]["role"] == "expert"
    guest_seat = guests[0]["seat"]
    assert api.room(ROOM)["state"] == "locked"
    assert who["liisa"].room_token(ROOM)["seat"] == guest_seat

    # "so they too can come back": drop, then back in the locked room with the same (seatless) token
    g.drop()
    left = d.wait_for("participant_left")
    assert left["seat"] == guest_seat and left["reason"] == "dropped"
    g2 = who["liisa"].connect("guest-again")
    conns.append(g2)
    jg2 = g2.join(ROOM, tok["token"])
    assert jg2["you"]["seat"] == guest_seat and jg2["state"] == "locked"
    for c in (d, a, i):
        assert c.wait_for("participant_joined")["participant"] == jg2["you"]

    # and an outsider still cannot
    o = who["advisor"].connect("advisor")
    conns.append(o)
    expect_error(o, "join", "room_locked", room=ROOM, token=who["advisor"].room_token(ROOM)["token"])

    # an expert in a guest seat shares the room's control
    guest_pid = jg2["you"]["participant_id"]
    assert g2.unlock()["type"] == "ok"
    for c in (d, a, i, g2):
        assert c.wait_for("room_unlocked") == {"type": "room_unlocked", "by": guest_pid}
    assert g2.lock()["type"] == "ok"
    for c in (d, a, i, g2):
        lk = c.wait_for("room_locked")
        assert lk["by"] == guest_pid and [s["seat"] for s in lk["seats"]] == [s["seat"] for s in locks[0]["seats"]]


def test_5_no_lock_message_when_not_gathering(api, who, conns):
    """'join': nothing about locking is sent when a seat fills in a room that is already locked
    (an expert locked it early) or unlocked; an unlocked room does not lock by itself."""
    end_if_open(api, who["admin"])
    try:
        for action, state in (("lock", "locked"), ("unlock", "unlocked")):
            api.open_session(ROOM, who["advisor"].access, SEATS)
            d = who["dev2"].enter(ROOM, "device")
            a = who["anna"].enter(ROOM, "expert")
            conns += [d, a]
            getattr(a, action)()
            lk = a.wait_for("room_" + state)
            assert lk["by"] == a.joined["you"]["participant_id"]
            d.drain(0.2)
            a.drain(0.2)
            i = who["aino"].enter(ROOM, "interp")  # the last empty seat
            conns.append(i)
            assert i.joined["state"] == state
            assert all(s["taken"] for s in i.joined["seats"])
            for c in (d, a, i):
                assert [m for m in c.drain(0.3) if m["type"] in ("room_locked", "room_unlocked")] == []
            assert api.room(ROOM)["state"] == state
            end_if_open(api, who["admin"])
    finally:
        end_if_open(api, who["admin"])


# =========================================================================== 6. end of session


def test_6_end_session(full_room, api, who, conns):
    d, a, i = full_room["device"], full_room["expert"], full_room["interp"]
    sid = a.joined["session_id"]
    rid = a.request("end_session")
    assert a.next() == {"type": "ok", "id": rid}
    for c in (a, d, i):  # the sender too, after ok
        assert c.next() == {"type": "session_ended", "session_id": sid, "reason": "ended"}
    room = api.room(ROOM)
    assert room["state"] == "idle"
    assert "session_id" not in room and "opened_at" not in room
    assert room["seats"] == [] and room["participants"] == []
    # the connections stay open, out of the room
    for c in (a, d, i):
        still_open(c)
        expect_error(c, "leave", "not_joined")
    expect_error(d, "join", "no_session", room=ROOM, token=who["dev2"].room_token(ROOM)["token"])
    status, body, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=who["advisor"].access)
    assert (status, body["code"]) == (409, "no_session")


def test_6_end_session_over_http(full_room, api, who):
    sid = full_room["device"].joined["session_id"]
    # an expert without a seat may not; the advisor of the service point may
    status, body, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=who["liisa"].access)
    assert (status, body["code"]) == (403, "forbidden")
    status, body, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=who["aino"].access)
    assert (status, body["code"]) == (403, "forbidden")
    status, _, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=who["advisor"].access)
    assert status == 204
    for c in full_room.values():
        assert c.next() == {"type": "session_ended", "session_id": sid, "reason": "ended"}
    assert api.room(ROOM)["state"] == "idle"


def test_6_seated_expert_ends_over_http(api, who):
    end_if_open(api, who["admin"])
    api.open_session(ROOM, who["advisor"].access, SEATS)
    status, _, _ = api.call("DELETE", f"/api/rooms/{ROOM}/session", token=who["anna"].access)
    assert status == 204
    assert api.room(ROOM)["state"] == "idle"


def test_6_session_ends_after_grace(api, who, conns):
    end_if_open(api, who["admin"], "mikkeli-3")
    sid = api.open_session("mikkeli-3", who["advisor"].access, [SEATS[0]])["session_id"]
    a = who["anna"].enter("mikkeli-3", "expert-m3")
    conns.append(a)
    a.drop()
    time.sleep(GRACE_MS / 1000 / 2)
    assert api.room("mikkeli-3")["state"] != "idle"
    deadline = time.monotonic() + GRACE_MS / 1000 + 3
    while api.room("mikkeli-3")["state"] != "idle":
        assert time.monotonic() < deadline, "session did not end after the grace period"
        time.sleep(0.1)
    # "the end shows in the room's state and its session history" (the history's format is not documented)
    for person in ("admin", "anna", "advisor"):
        st, body, _ = api.call("GET", "/api/rooms/mikkeli-3/sessions?limit=5", token=who[person].access)
        assert st == 200 and sid in json.dumps(body), (person, st, body)
    http_error(api, "GET", "/api/rooms/mikkeli-3/sessions?limit=5", 401, "missing_token")


# =========================================================================== shutdown and restart


def test_shutdown_message(tmp_path, conns):
    """`shutdown` reaches every connection before the server closes it with 1001."""
    srv = Server(tmp_path).start()
    try:
        api = Api(srv.base)
        adv = Person.person(api, "advisor-mikkeli")
        anna = Person.person(api, "kela-anna")
        api.open_session(ROOM, adv.access, [SEATS[0]])
        a = anna.enter(ROOM, "in-room")
        b = anna.connect("lobby")
        conns += [a, b]
        srv.proc.send_signal(signal.SIGINT)
        for c in (a, b):
            closed = c.wait_closed(10)
            sd = [m for m in c.log if m["type"] == "shutdown"]
            assert len(sd) == 1 and isinstance(sd[0]["reconnect_after_ms"], int), c.log
            assert set(sd[0]) == {"type", "reconnect_after_ms"}
            assert closed.code == 1001, (closed.code, closed.reason)
        assert srv.proc.wait(15) == 0
    finally:
        srv.stop()


def test_restart_keeps_sessions(tmp_path, conns):
    """'Sessions outlive the server process' and 'Reconnecting': after SIGINT and a new start on the
    same data dir and rooms-config, each room has its session with the same seats and lock state
    and nobody connected; seat holders rejoin with old or new room tokens, outsiders are refused,
    and a session nobody returns to ends after the grace period."""
    grace = 4000
    srv = Server(tmp_path, grace_ms=grace).start()
    try:
        api = Api(srv.base)
        adv = Person.person(api, "advisor-mikkeli")
        anna = Person.person(api, "kela-anna")
        liisa = Person.person(api, "vero-liisa")
        mikko = Person.person(api, "kela-mikko")
        dev2 = Person.device(api, ROOM)
        dev1 = Person.device(api, "mikkeli-1")

        # mikkeli-2: locked, with a guest seat
        api.open_session(ROOM, adv.access, [SEATS[0]])
        d = dev2.enter(ROOM, "d2")
        a = anna.enter(ROOM, "anna")
        conns += [d, a]
        a.wait_for("room_locked")
        a.unlock()
        g = liisa.enter(ROOM, "liisa")
        conns.append(g)
        a.lock()
        assert "guest-1" in [s["seat"] for s in g.wait_for("room_locked")["seats"]]
        # mikkeli-1: unlocked by its expert
        api.open_session("mikkeli-1", adv.access, [{"role": "expert", "subject": "kela-mikko"}])
        d1 = dev1.enter("mikkeli-1", "d1")
        m = mikko.enter("mikkeli-1", "mikko")
        conns += [d1, m]
        m.wait_for("room_locked")
        m.unlock()
        # mikkeli-3: gathering; anna in, then nobody comes back after the restart
        api.open_session("mikkeli-3", adv.access, [SEATS[0]])
        conns.append(anna.enter("mikkeli-3", "anna-m3"))

        before = {r: api.room(r, token=adv.access) for r in (ROOM, "mikkeli-1", "mikkeli-3")}
        assert [before[r]["state"] for r in (ROOM, "mikkeli-1", "mikkeli-3")] == ["locked", "unlocked", "gathering"]
        old_dev_token = dev2.room_token(ROOM)["token"]

        assert srv.stop() == 0, "server did not stop cleanly on SIGINT"
        srv = Server(tmp_path, data_dir=srv.data_dir, grace_ms=grace).start()
        restarted = time.monotonic()
        api = Api(srv.base)

        for r, b in before.items():
            now = api.room(r, token=adv.access)
            assert now["state"] == b["state"], (r, now)
            assert (now["session_id"], now["opened_at"]) == (b["session_id"], b["opened_at"]), r
            assert [(s["seat"], s["role"], s["subject"]) for s in now["seats"]] == \
                   [(s["seat"], s["role"], s["subject"]) for s in b["seats"]], r
            assert now["participants"] == [] and not any(s["taken"] for s in now["seats"]), (r, now)

        # back in: the device with its old room token, the expert with a fresh login and token,
        # the guest with a fresh room token from the old access token
        d = Signal(api.ws_url, "d2-back")
        conns.append(d)
        d.hello()
        jd = d.join(ROOM, old_dev_token)
        assert (jd["you"]["seat"], jd["state"], jd["session_id"]) == ("device", "locked", before[ROOM]["session_id"])
        anna2 = Person.person(api, "kela-anna")
        a = anna2.enter(ROOM, "anna-back")
        conns.append(a)
        assert (a.joined["you"]["seat"], a.joined["state"]) == ("expert-1", "locked")
        g = Signal(api.ws_url, "liisa-back")
        conns.append(g)
        g.hello()
        jg = g.join(ROOM, api.join_token(ROOM, liisa.access)["token"])
        assert (jg["you"]["seat"], jg["state"]) == ("guest-1", "locked")
        assert all(s["taken"] for s in jg["seats"])
        assert d.wait_for("participant_joined")["participant"] == a.joined["you"]
        assert d.wait_for("participant_joined")["participant"] == jg["you"]
        for c in (d, a, g):  # seats filled in a locked room: nothing about locking
            assert [m for m in c.drain(0.3) if m["type"] in ("room_locked", "room_unlocked")] == []

        # an outsider is refused
        o = Person.person(api, "advisor-mikkeli").connect("outsider")
        conns.append(o)
        expect_error(o, "join", "room_locked", room=ROOM, token=api.join_token(ROOM, adv.access)["token"])

        # mikkeli-1 is still unlocked: its device rejoins, and anyone may join
        d1 = Person(api, dev1.login).enter("mikkeli-1", "d1-back")  # the old access token, the new server
        conns.append(d1)
        assert (d1.joined["you"]["seat"], d1.joined["state"]) == ("device", "unlocked")
        assert d1.joined["session_id"] == before["mikkeli-1"]["session_id"]

        # mikkeli-3: nobody came back, so the session ends within the grace period
        assert api.room("mikkeli-3")["state"] == "gathering"
        deadline = restarted + grace / 1000 + 3
        while api.room("mikkeli-3")["state"] != "idle":
            assert time.monotonic() < deadline, "the restored session did not end after the grace period"
            time.sleep(0.1)
        assert api.room(ROOM)["state"] == "locked", "a session with people back in ended"
    finally:
        assert srv.stop() in (0, None)


# =========================================================================== rooms-config changes


def _remove_person(config: Path, person_id: str) -> None:
    """Drop one [[person]] table from people.toml, writing the new file atomically."""
    path = config / "people.toml"
    blocks = re.split(r"(?m)^(?=\[\[person\]\])", path.read_text("utf-8"))
    kept = [b for b in blocks if not re.search(rf'(?m)^\s*id\s*=\s*"{re.escape(person_id)}"', b)]
    assert len(kept) == len(blocks) - 1, "person not found exactly once"
    text = "".join(kept)
    if tomllib is not None:
        ids = [p["id"] for p in tomllib.loads(text)["person"]]
        assert person_id not in ids and ids
    tmp = config / ".people.toml.tmp"  # names starting with '.' are skipped by the server
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def test_removed_subject(tmp_path, conns):
    """'POST /api/refresh': renewal fails with invalid_credentials once the person is removed from
    the rooms-config; 'join': a token whose subject is no longer configured gets forbidden, checked
    after the token's room and before the room's rules (here: no_session)."""
    srv = Server(tmp_path).start()
    try:
        api = Api(srv.base)
        liisa = Person.person(api, "vero-liisa")
        tok = liisa.room_token("mikkeli-1")["token"]  # mikkeli-1 is idle
        s = liisa.connect("liisa")
        conns.append(s)
        expect_error(s, "join", "no_session", room="mikkeli-1", token=tok)

        _remove_person(srv.config, "vero-liisa")
        deadline = time.monotonic() + 15
        while True:
            st, body, _ = api.call("POST", "/api/refresh", token=liisa.access)
            if st != 200:
                break
            assert time.monotonic() < deadline, "the server did not pick up the rooms-config change"
            time.sleep(0.2)
        assert (st, body["code"]) == (401, "invalid_credentials")
        http_error(api, "POST", "/api/login", 401, "invalid_credentials",
                   body={"username": "vero-liisa", "password": "vayla-demo"})

        expect_error(s, "join", "forbidden", room="mikkeli-1", token=tok)
        expect_error(s, "join", "wrong_room", room="mikkeli-3", token=tok)
        expect_error(s, "join", "unknown_room", room="Not A Room!", token=tok)
        still_open(s)
        # others are unaffected
        assert Person.person(api, "kela-anna").subject == "kela-anna"
    finally:
        assert srv.stop() in (0, None)
