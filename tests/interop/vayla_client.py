"""A small Väylä client written from docs/protocol.md alone (protocol version 1).

HTTP: ``Api`` (login, device login, rooms, open/end session, join token; and, from
docs/appointments.md, slot search, booking, rescheduling, cancelling, interpreter requests).
WebSocket: ``Signal`` (hello/join/leave/lock/unlock/end_session/ping/watch/unwatch, request ids,
waiting for specific server messages while buffering the others).

Only the standard library and ``websockets`` (its synchronous client) are used.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, Optional

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT = 5.0


# --------------------------------------------------------------------------- HTTP


class HttpError(Exception):
    """A non-2xx reply. protocol.md: every error body is {"code", "message"}."""

    def __init__(self, status: int, body: Any, raw: bytes):
        self.status = status
        self.body = body
        self.raw = raw
        self.code = body.get("code") if isinstance(body, dict) else None
        self.message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {raw[:300]!r}")


class Api:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    # -- plumbing

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: Optional[str] = None,
        raw_body: Optional[bytes] = None,
        headers: Optional[dict] = None,
    ) -> tuple[int, Any, dict]:
        """Make one call; return (status, decoded JSON or text or None, headers).

        Never raises for HTTP status codes; see ``expect``.
        """
        data = raw_body
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, raw, rh = e.code, e.read(), dict(e.headers)
        decoded: Any
        if not raw:
            decoded = None
        else:
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw.decode("utf-8", "replace")
        return status, decoded, rh

    def expect(self, status_ok: int, method: str, path: str, **kw) -> Any:
        status, body, _ = self.call(method, path, **kw)
        if status != status_ok:
            raise HttpError(status, body, json.dumps(body).encode() if body is not None else b"")
        return body

    # -- the calls of protocol.md "HTTP"

    def login(self, username: str, password: str) -> dict:
        return self.expect(200, "POST", "/api/login", body={"username": username, "password": password})

    def device_login(self, device: str, credential: str) -> dict:
        return self.expect(200, "POST", "/api/device-login", body={"device": device, "credential": credential})

    def rooms(self, token: Optional[str] = None) -> list:
        return self.expect(200, "GET", "/api/rooms", token=token)

    def room(self, room: str, token: Optional[str] = None) -> dict:
        return self.expect(200, "GET", f"/api/rooms/{room}", token=token)

    def open_session(self, room: str, token: str, seats: Iterable[dict]) -> dict:
        return self.expect(201, "POST", f"/api/rooms/{room}/session", body={"seats": list(seats)}, token=token)

    def end_session(self, room: str, token: str) -> None:
        self.expect(204, "DELETE", f"/api/rooms/{room}/session", token=token)

    def refresh(self, token: str) -> dict:
        # "send it as Authorization: Bearer ... with an empty body"
        return self.expect(200, "POST", "/api/refresh", token=token)

    def join_token(self, room: str, token: str) -> dict:
        # "Any request body is ignored": none is sent.
        return self.expect(200, "POST", f"/api/rooms/{room}/join-token", token=token)

    # -- booking (docs/appointments.md), used to make `changed` notices happen

    def search_slots(self, token: str, **query) -> dict:
        return self.expect(200, "POST", "/api/slots/search", body=query, token=token)

    def book(self, token: str, **booking) -> dict:
        return self.expect(201, "POST", "/api/appointments", body=booking, token=token)

    def appointment(self, appointment_id: str, token: str) -> dict:
        return self.expect(200, "GET", f"/api/appointments/{appointment_id}", token=token)

    def expect_2xx(self, method: str, path: str, **kw) -> Any:
        """docs/appointments.md gives no success status (nor body) for some calls: any 2xx will do."""
        status, body, _ = self.call(method, path, **kw)
        if not 200 <= status < 300:
            raise HttpError(status, body, json.dumps(body).encode() if body is not None else b"")
        return body

    def reschedule(self, appointment_id: str, token: str, **change) -> Any:
        return self.expect_2xx("POST", f"/api/appointments/{appointment_id}/reschedule", body=change, token=token)

    def cancel(self, appointment_id: str, token: str, reason: str = "interop test") -> Any:
        return self.expect_2xx("POST", f"/api/appointments/{appointment_id}/cancel", body={"reason": reason},
                               token=token)

    def request_interpreter(self, appointment_id: str, token: str, **request) -> dict:
        return self.expect(201, "POST", f"/api/appointments/{appointment_id}/interpreter-request", body=request,
                           token=token)

    def my_offers(self, token: str) -> list:
        return self.expect(200, "GET", "/api/me/interpreter-offers", token=token)

    def accept_offer(self, request_id: str, token: str) -> dict:
        return self.expect(200, "POST", f"/api/interpreter-offers/{request_id}/accept", token=token)

    @property
    def ws_url(self) -> str:
        if self.base.startswith("https://"):
            return "wss://" + self.base[len("https://"):] + "/ws"
        return "ws://" + self.base[len("http://"):] + "/ws"


# --------------------------------------------------------------------------- WebSocket


class ServerError(Exception):
    """An ``error`` message from the server, received as the reply to a request."""

    def __init__(self, msg: dict):
        self.msg = msg
        self.code = msg.get("code")
        super().__init__(f"{msg.get('code')}: {msg.get('message')}")


class Closed(Exception):
    """The server closed the connection while we were waiting."""

    def __init__(self, code: Optional[int], reason: str, pending: list):
        self.code = code
        self.reason = reason
        self.pending = pending
        super().__init__(f"connection closed (code={code}, reason={reason!r})")


_ids = itertools.count(1)


class Signal:
    """One signalling connection.

    Every message received is appended to ``log``; messages not yet consumed by a
    ``wait_for``/``reply_to`` stay in ``inbox`` in arrival order.
    """

    def __init__(self, url: str, name: str = "client", timeout: float = DEFAULT_TIMEOUT):
        self.url = url
        self.name = name
        self.timeout = timeout
        self.ws = ws_connect(url, open_timeout=timeout, max_size=2**21, close_timeout=1, legacy=True)
        self.inbox: list[dict] = []
        self.log: list[dict] = []
        self.closed: Optional[Closed] = None
        self.welcome: Optional[dict] = None
        self.joined: Optional[dict] = None

    # -- sending

    def send(self, msg: dict | str | bytes) -> None:
        if isinstance(msg, dict):
            msg = json.dumps(msg)
        self.ws.send(msg)

    def new_id(self) -> str:
        return f"{self.name}-{next(_ids)}"

    def request(self, type_: str, *, with_id: bool = True, **fields) -> Optional[str]:
        msg: dict[str, Any] = {"type": type_}
        rid = None
        if with_id:
            rid = self.new_id()
            msg["id"] = rid
        msg.update(fields)
        self.send(msg)
        return rid

    # -- receiving

    def _recv_one(self, deadline: float) -> Optional[dict]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            raw = self.ws.recv(timeout=remaining)
        except TimeoutError:
            return None
        except ConnectionClosed as e:
            rcvd = e.rcvd
            self.closed = Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "", list(self.inbox))
            raise self.closed
        if isinstance(raw, bytes):
            raise AssertionError(f"{self.name}: server sent a binary frame: {raw[:100]!r}")
        msg = json.loads(raw)
        assert isinstance(msg, dict) and isinstance(msg.get("type"), str), f"not a message: {raw!r}"
        self.log.append(msg)
        return msg

    def wait_for(
        self,
        match: str | Callable[[dict], bool],
        timeout: Optional[float] = None,
        **fields,
    ) -> dict:
        """Return (and consume) the first message, buffered or new, matching ``match``
        (a ``type`` string or a predicate) and all ``fields``."""
        if isinstance(match, str):
            t = match
            pred = lambda m: m.get("type") == t  # noqa: E731
        else:
            pred = match

        def ok(m):
            return pred(m) and all(m.get(k) == v for k, v in fields.items())

        for i, m in enumerate(self.inbox):
            if ok(m):
                return self.inbox.pop(i)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            m = self._recv_one(deadline)
            if m is None:
                raise TimeoutError(f"{self.name}: no {match!r} {fields} within timeout; inbox={self.inbox}")
            if ok(m):
                return m
            self.inbox.append(m)

    def reply_to(self, rid: Optional[str], timeout: Optional[float] = None) -> dict:
        """The reply (or error) with this request id."""
        return self.wait_for(lambda m: m.get("id") == rid, timeout=timeout)

    def next(self, timeout: Optional[float] = None) -> dict:
        """The next message in arrival order (buffered first)."""
        if self.inbox:
            return self.inbox.pop(0)
        m = self._recv_one(time.monotonic() + (self.timeout if timeout is None else timeout))
        if m is None:
            raise TimeoutError(f"{self.name}: no message within timeout")
        return m

    def drain(self, quiet: float = 0.3) -> list[dict]:
        """Everything buffered plus whatever arrives until ``quiet`` seconds pass in silence."""
        out = list(self.inbox)
        self.inbox.clear()
        while True:
            m = self._recv_one(time.monotonic() + quiet)
            if m is None:
                return out
            out.append(m)

    def wait_closed(self, timeout: Optional[float] = None) -> Closed:
        """Read until the server closes; return the close info (messages seen are in ``log``)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                m = self._recv_one(deadline)
                if m is None:
                    raise TimeoutError(f"{self.name}: connection not closed within timeout")
                self.inbox.append(m)
        except Closed as c:
            return c

    # -- protocol requests

    def _call(self, type_: str, expect: str, with_id: bool = True, **fields) -> dict:
        rid = self.request(type_, with_id=with_id, **fields)
        if with_id:
            reply = self.reply_to(rid)
        else:
            reply = self.wait_for(lambda m: m.get("type") in (expect, "error") and "id" not in m)
        if reply["type"] == "error":
            raise ServerError(reply)
        assert reply["type"] == expect, f"{self.name}: expected {expect}, got {reply}"
        return reply

    def hello(self, versions=(PROTOCOL_VERSION,), client: str = "vayla-interop/0.1") -> dict:
        self.welcome = self._call("hello", "welcome", versions=list(versions), client=client)
        return self.welcome

    def join(self, room: str, token: str) -> dict:
        self.joined = self._call("join", "joined", room=room, token=token)
        return self.joined

    def leave(self) -> dict:
        return self._call("leave", "ok")

    def lock(self) -> dict:
        return self._call("lock", "ok")

    def unlock(self) -> dict:
        return self._call("unlock", "ok")

    def end_session(self) -> dict:
        return self._call("end_session", "ok")

    def ping(self, with_id: bool = True) -> dict:
        return self._call("ping", "pong", with_id=with_id)

    def watch(self, token: str, with_id: bool = True) -> dict:
        """`watch` with an access token; the `watching` reply (its `topics`)."""
        return self._call("watch", "watching", with_id=with_id, token=token)

    def unwatch(self, with_id: bool = True) -> dict:
        return self._call("unwatch", "ok", with_id=with_id)

    def changes(self, quiet: float = 0.5) -> list[dict]:
        """Every `changed` message buffered or arriving until ``quiet`` seconds of silence; other
        messages stay in ``inbox``."""
        got = self.drain(quiet)
        self.inbox.extend(m for m in got if m["type"] != "changed")
        return [m for m in got if m["type"] == "changed"]

    # -- closing

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass

    def drop(self) -> None:
        """Lose the connection abruptly: no leave, no WebSocket close frame."""
        sock = self.ws.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


# --------------------------------------------------------------------------- convenience


class Person:
    """Someone (or a device) logged in over HTTP, who can get room tokens and connect."""

    def __init__(self, api: Api, login: dict):
        self.api = api
        self.login = login
        self.access = login["access_token"]
        self.subject = login["subject"]
        self.role = login["role"]

    @classmethod
    def person(cls, api: Api, username: str, password: str = "vayla-demo") -> "Person":
        return cls(api, api.login(username, password))

    @classmethod
    def device(cls, api: Api, device: str, credential: str = "device-demo") -> "Person":
        return cls(api, api.device_login(device, credential))

    def room_token(self, room: str) -> dict:
        return self.api.join_token(room, self.access)

    def connect(self, name: Optional[str] = None) -> Signal:
        s = Signal(self.api.ws_url, name=name or self.subject)
        s.hello()
        return s

    def enter(self, room: str, name: Optional[str] = None) -> Signal:
        s = self.connect(name)
        s.join(room, self.room_token(room)["token"])
        return s
