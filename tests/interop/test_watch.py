"""Interop tests of `watch`, `unwatch`, `watching` and `changed` (docs/protocol.md, "watch",
"unwatch", "watching", "changed"), written from the documents alone.

The `appointments` topic is driven through the booking API of docs/appointments.md: a scheduler
books an appointment, reschedules or cancels it, and the test checks which watching connections
are told (`changed` with topic `appointments` and the appointment's `id` as `key`) and which are not.

These tests start their own server (same binary, same demo rooms-config, own data dir), so that the
appointments they book never touch the rooms of test_protocol.py. Bookings are made at least two days
ahead, so no appointment is ever due while the suite runs.

Where the document leaves a question open, the test either checks only what is certain or says
in a comment which reading it takes ("GUESS: ..."). Where the server disagrees with the document, the
check is marked with ``disagrees`` (strict xfail), as in test_protocol.py.

Questions the documents left open at first, now answered in protocol.md (`watch`, `watching`,
`changed`, `ok`) and checked here: an interpreter's topics include `appointments`; `unwatch` is
answered `ok`; a failed second `watch` keeps the first; one change gives one message per connection
(admins included); the changes that publish to `appointments` are listed; who made a change is told
too; `changed` may come before or after the HTTP reply; keys are the API's ids.

Still open (a client writer has to guess):

- `watching`: no order for `topics` (compared as sets here).
- appointments.md gives no success status or body for `cancel` and `reschedule`.
"""

from __future__ import annotations

import datetime as dt

import pytest

from test_protocol import Server, disagrees, expect_error, expect_fatal, still_open
from vayla_client import Api, Person, Signal

# docs/protocol.md, `changed`: the topics the document names. Admins "all of them".
ALL_TOPICS = {"walkin_queue", "walkin_ticket", "interpreter_offers", "interpreter_requests", "appointments"}
# docs/protocol.md, `watching`: topics by role.
TOPICS_BY_ROLE = {
    "scheduler": {"interpreter_requests", "appointments"},
    "expert": {"walkin_queue", "walkin_ticket", "appointments"},
    "interpreter": {"walkin_queue", "walkin_ticket", "interpreter_offers", "appointments"},
    "device": {"walkin_ticket", "appointments"},
    "advisor": {"walkin_ticket", "appointments"},
}
CHANGED_FIELDS = {"type", "topic", "key"}
WATCHING_FIELDS = {"type", "id", "topics"}

DEVICE = "mikkeli-1"          # the booked device (service point mikkeli)
SERVICE = "kela-benefits"     # 30 min, 5/5 buffers, 120 min notice, 60 days horizon
TOLD_WITHIN = 5.0             # how long a `changed` may take to arrive (the document gives no bound)
QUIET = 1.0                   # how long a connection that must not be told is listened to


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("vayla-watch")).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, f"server did not stop cleanly on SIGINT (exit {rc})"


@pytest.fixture(scope="module")
def api(server) -> Api:
    return Api(server.base)


@pytest.fixture(scope="module")
def who(api):
    return {
        "admin": Person.person(api, "admin"),
        "scheduler": Person.person(api, "scheduler"),
        "anna": Person.person(api, "kela-anna"),          # expert, kela: the booked expert
        "mikko": Person.person(api, "kela-mikko"),        # expert, kela: same agency, not booked
        "liisa": Person.person(api, "vero-liisa"),        # expert of another agency
        "aino": Person.person(api, "tulkki-aino"),        # interpreter (the only one speaking `en`)
        "adv": Person.person(api, "advisor-mikkeli"),     # advisor of the device's service point
        "adv_other": Person.person(api, "advisor-parainen"),  # advisor of another service point
        "dev": Person.device(api, DEVICE),                # the booked device
        "dev_other": Person.device(api, "mikkeli-3"),     # another device of the same service point
    }


@pytest.fixture
def conns():
    opened: list[Signal] = []
    yield opened
    for c in opened:
        c.close()


# --------------------------------------------------------------------------- helpers


def watcher(person: Person, conns: list, name: str | None = None) -> Signal:
    """A connection that said `hello` and `watch` with the person's access token."""
    s = person.connect(name or f"w-{person.subject}")
    conns.append(s)
    w = s.watch(person.access)
    assert "appointments" in w["topics"] or person.role == "interpreter", w
    return s


def check_changed(m: dict) -> None:
    assert m["type"] == "changed"
    assert set(m) == CHANGED_FIELDS, f"undocumented `changed` fields: {set(m) - CHANGED_FIELDS}"
    assert isinstance(m["topic"], str) and isinstance(m["key"], str)


def expect_told(conn: Signal, key: str, topic: str = "appointments") -> dict:
    m = conn.wait_for(lambda m: m["type"] == "changed" and m.get("topic") == topic and m.get("key") == key,
                      timeout=TOLD_WITHIN)
    check_changed(m)
    return m


def settle(*conns: Signal, quiet: float = 0.3) -> None:
    """Forget `changed` notices already delivered (repeats of one change are not ruled out by the
    document), keeping the other messages."""
    for c in conns:
        for m in c.changes(quiet):
            check_changed(m)


def assert_not_told(conns: dict, key: str, quiet: float = QUIET) -> None:
    """None of ``conns`` (name -> connection) gets a `changed` naming ``key``, on any topic."""
    wrong = {}
    for name, c in conns.items():
        got = [m for m in c.changes(quiet) if m.get("key") == key]
        if got:
            wrong[name] = got
    assert not wrong, f"told, though not in the audience: {wrong}"


def search(api: Api, who: dict, *, expert: str | None = None, devices=(DEVICE,), days_ahead: int = 2,
           **extra) -> list[dict]:
    today = dt.datetime.now(dt.timezone.utc).date()
    query = {"service": SERVICE, "devices": list(devices),
             "from": (today + dt.timedelta(days=days_ahead)).isoformat(),
             "to": (today + dt.timedelta(days=days_ahead + 20)).isoformat(), **extra}
    if expert:
        query["expert"] = expert
    return api.search_slots(who["scheduler"].access, **query)["slots"]


def book(api: Api, who: dict, expert: str = "kela-anna", also_free: tuple = ()) -> dict:
    """Book the first free slot of ``expert`` on DEVICE (as the scheduler), where every expert of
    ``also_free`` is free too; the Appointment."""
    for slot in search(api, who):
        if DEVICE in slot["devices"] and expert in slot["experts"] and all(e in slot["experts"] for e in also_free):
            appt = api.book(who["scheduler"].access, service=SERVICE, device=DEVICE, expert=expert,
                            start=slot["start"])
            assert appt["status"] == "booked" and appt["device"] == DEVICE and appt["expert"] == expert, appt
            assert isinstance(appt["id"], str) and appt["id"]
            return appt
    pytest.fail("no free slot found for the booking")


# =========================================================================== watching


@pytest.mark.parametrize("person", ["scheduler", "anna", "aino", "dev", "adv"])
def test_watching_topics_per_role(api, who, conns, person):
    p = who[person]
    s = p.connect(f"topics-{person}")
    conns.append(s)
    s.send({"type": "watch", "id": "w1", "token": p.access})
    w = s.next()
    assert w["type"] == "watching", w
    assert w["id"] == "w1"
    assert set(w) == WATCHING_FIELDS, f"undocumented `watching` fields: {set(w) - WATCHING_FIELDS}"
    assert isinstance(w["topics"], list) and all(isinstance(t, str) for t in w["topics"])
    assert len(w["topics"]) == len(set(w["topics"])), f"a topic listed twice: {w}"
    # GUESS: the document gives no order for `topics`; compared as a set.
    assert set(w["topics"]) == TOPICS_BY_ROLE[p.role], (p.role, w)


def test_watching_topics_admin(api, who, conns):
    s = who["admin"].connect("topics-admin")
    conns.append(s)
    w = s.watch(who["admin"].access)
    assert set(w) == WATCHING_FIELDS
    # "all of them": at least every topic the `changed` table names ("more topics may be added").
    assert set(w["topics"]) >= ALL_TOPICS, w


def test_watch_without_id(api, who, conns):
    """Requests without `id` get replies without `id` (Framing), `watching` included."""
    s = who["anna"].connect("noid")
    conns.append(s)
    s.send({"type": "watch", "token": who["anna"].access})
    w = s.next()
    assert w["type"] == "watching" and "id" not in w, w
    s.send({"type": "unwatch"})
    assert s.next() == {"type": "ok"}


# =========================================================================== errors


def test_watch_bad_tokens_keep_connection_open(api, who, conns):
    s = who["anna"].connect("badtok")
    conns.append(s)
    expect_error(s, "watch", "invalid_token", token="garbage")
    still_open(s)
    expect_error(s, "watch", "invalid_token", token="")
    still_open(s)
    # a room token where an access token is needed
    room_token = who["anna"].room_token("mikkeli-2")["token"]
    expect_error(s, "watch", "wrong_audience", token=room_token)
    still_open(s)
    # and the same connection can still watch with a good token
    w = s.watch(who["anna"].access)
    assert set(w["topics"]) == TOPICS_BY_ROLE["expert"]
    # a device's room token is refused as well
    dev_room_token = who["dev"].room_token(DEVICE)["token"]
    s2 = who["dev"].connect("badtok-dev")
    conns.append(s2)
    expect_error(s2, "watch", "wrong_audience", token=dev_room_token)
    still_open(s2)


def test_watch_malformed(api, who, conns):
    """Framing: missing, extra and mistyped fields are `bad_message` (not fatal)."""
    s = who["anna"].connect("badmsg")
    conns.append(s)
    expect_error(s, "watch", "bad_message")                                   # no token
    expect_error(s, "watch", "bad_message", token=5)                          # not a string
    expect_error(s, "watch", "bad_message", token=who["anna"].access, room="x")  # extra field
    expect_error(s, "unwatch", "bad_message", token=who["anna"].access)       # unwatch takes only `id`
    still_open(s)


def test_watch_before_hello_is_handshake_required(api, who, conns):
    s = Signal(api.ws_url, "nohello")
    conns.append(s)
    s.send({"type": "watch", "id": "w0", "token": who["anna"].access})
    # "The first message must be `hello`": anything else first gets the fatal `handshake_required`,
    # with the frame's `id` ('error').
    expect_fatal(s, "handshake_required", rid="w0")


def test_unwatch_when_not_watching_is_ok(api, who, conns):
    s = who["anna"].connect("unw")
    conns.append(s)
    assert s.unwatch()["type"] == "ok"
    assert s.unwatch()["type"] == "ok"


# =========================================================================== audiences


def test_book_and_cancel_tell_exactly_the_audience(api, who, conns):
    """`changed` (topic `appointments`, key the appointment id) reaches schedulers, admins, the
    booked expert, the device and its service point's advisors; nobody else."""
    told = {
        "scheduler": watcher(who["scheduler"], conns),
        "scheduler-2": watcher(who["scheduler"], conns, "w-scheduler-2"),  # every watching connection
        "admin": watcher(who["admin"], conns),
        "anna": watcher(who["anna"], conns),
        "device": watcher(who["dev"], conns),
        "advisor": watcher(who["adv"], conns),
    }
    not_told = {
        "expert same agency, not booked": watcher(who["mikko"], conns),
        "expert other agency": watcher(who["liisa"], conns),
        "advisor other service point": watcher(who["adv_other"], conns),
        "other device, same service point": watcher(who["dev_other"], conns),
        "interpreter, not booked": watcher(who["aino"], conns),
    }
    lobby = who["anna"].connect("not-watching")   # said hello, never watched
    conns.append(lobby)
    not_told["booked expert, not watching"] = lobby

    appt = book(api, who)
    for name, c in told.items():
        expect_told(c, appt["id"])
    assert_not_told(not_told, appt["id"])
    # protocol.md `changed`: "one change, one message", even for the admin, who is in every audience.
    for name, c in told.items():
        repeats = [m for m in c.changes(0.3) if m.get("key") == appt["id"]]
        assert repeats == [], (name, repeats)

    api.cancel(appt["id"], who["scheduler"].access, "customer asked")
    assert api.appointment(appt["id"], who["scheduler"].access)["status"] == "cancelled"
    for name, c in told.items():
        expect_told(c, appt["id"])
    assert_not_told(not_told, appt["id"])


def test_changed_key_is_the_appointment_id(api, who, conns):
    """The key is the Appointment's `id` (not its `uid`), and nothing else is said."""
    s = watcher(who["scheduler"], conns)
    appt = book(api, who)
    m = expect_told(s, appt["id"])
    assert m == {"type": "changed", "topic": "appointments", "key": appt["id"]}
    assert m["key"] != appt["uid"]
    settle(s)
    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(s, appt["id"])


def test_reschedule_tells_the_expert_once_booked(api, who, conns):
    """'every expert and interpreter booked (or once booked) for it': moving the appointment from
    one expert to another tells both, and the one moved away is still told of later changes."""
    anna = watcher(who["anna"], conns)
    mikko = watcher(who["mikko"], conns)
    liisa = watcher(who["liisa"], conns)
    appt = book(api, who, "kela-anna", also_free=("kela-mikko",))
    expect_told(anna, appt["id"])
    assert_not_told({"mikko": mikko, "liisa": liisa}, appt["id"])

    api.reschedule(appt["id"], who["scheduler"].access, start=appt["start"], expert="kela-mikko")
    assert api.appointment(appt["id"], who["scheduler"].access)["expert"] == "kela-mikko"
    expect_told(mikko, appt["id"])
    expect_told(anna, appt["id"])
    assert_not_told({"liisa": liisa}, appt["id"])
    settle(anna, mikko)

    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(mikko, appt["id"])
    expect_told(anna, appt["id"])   # once booked


def _interpreter_requested(api, who, conns):
    """An appointment whose interpreter request (language `en`, which only tulkki-aino speaks in the
    demo config) has been offered to tulkki-aino. Returns (appointment, request, aino's watcher,
    the scheduler's watcher), both watchers with the booking's notices read."""
    aino_w = watcher(who["aino"], conns)
    sched_w = watcher(who["scheduler"], conns)
    appt = book(api, who)
    expect_told(sched_w, appt["id"])
    settle(aino_w, sched_w)
    req = api.request_interpreter(appt["id"], who["scheduler"].access, language="en", modality="remote_video")
    assert req["state"] == "offered", req
    assert [o["interpreter"] for o in req["offers"]] == ["tulkki-aino"], req
    offers = api.my_offers(who["aino"].access)
    assert [o["request"] for o in offers if o["appointment"] == appt["id"]] == [req["id"]], offers
    return appt, req, aino_w, sched_w


def _interpreter_booked(api, who, conns):
    """As ``_interpreter_requested``, and tulkki-aino has accepted: she is booked for the appointment."""
    appt, req, aino_w, sched_w = _interpreter_requested(api, who, conns)
    acc = api.accept_offer(req["id"], who["aino"].access)
    assert acc["assigned"] is True, acc
    assert api.appointment(appt["id"], who["scheduler"].access)["interpreters"] == ["tulkki-aino"]
    return appt, req, aino_w, sched_w


def test_booked_interpreter_told_on_appointments(api, who, conns):
    """`changed` table: 'every expert and interpreter booked (or once booked) for it'."""
    appt, req, aino_w, sched_w = _interpreter_booked(api, who, conns)
    settle(aino_w, sched_w)
    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(sched_w, appt["id"])
    expect_told(aino_w, appt["id"])


def test_told_only_of_topics_listed_in_watching(api, who, conns):
    appt, req, aino_w, sched_w = _interpreter_booked(api, who, conns)
    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(sched_w, appt["id"])
    topics = set(aino_w.watch(who["aino"].access)["topics"])
    heard = {m["topic"] for m in aino_w.changes(QUIET)} | {m["topic"] for m in aino_w.log if m["type"] == "changed"}
    assert heard <= topics, (heard, topics)


def test_offer_made_tells_the_interpreter(api, who, conns):
    """`interpreter_offers`, key the interpreter's id: 'that interpreter: offers made, ...'."""
    appt, req, aino_w, sched_w = _interpreter_requested(api, who, conns)
    try:
        expect_told(aino_w, "tulkki-aino", topic="interpreter_offers")
    finally:
        api.cancel(appt["id"], who["scheduler"].access)


def test_interpreter_request_tells_schedulers(api, who, conns):
    """`interpreter_requests`, key the request id: schedulers."""
    appt, req, aino_w, sched_w = _interpreter_requested(api, who, conns)
    try:
        expect_told(sched_w, req["id"], topic="interpreter_requests")
    finally:
        api.cancel(appt["id"], who["scheduler"].access)


def test_interpreter_accepting_tells_appointment_watchers(api, who, conns):
    """GUESS: an interpreter accepting changes the appointment (its `interpreters`, its reservations), so
    whoever watches it is told ('Something you watch changed')."""
    anna_w = watcher(who["anna"], conns)
    appt, req, aino_w, sched_w = _interpreter_requested(api, who, conns)
    try:
        expect_told(anna_w, appt["id"])       # the booking
        settle(anna_w, sched_w)
        assert api.accept_offer(req["id"], who["aino"].access)["assigned"] is True
        expect_told(sched_w, appt["id"])
        expect_told(anna_w, appt["id"])
    finally:
        api.cancel(appt["id"], who["scheduler"].access)


# =========================================================================== unwatch, re-watch


def test_unwatch_stops_changed(api, who, conns):
    stops = watcher(who["anna"], conns, "w-anna-unwatch")
    control = watcher(who["anna"], conns, "w-anna-control")
    rid = stops.request("unwatch")
    assert stops.reply_to(rid) == {"type": "ok", "id": rid}

    appt = book(api, who)
    expect_told(control, appt["id"])       # the change happened and was published
    assert_not_told({"unwatched": stops}, appt["id"])

    # watching again resumes the notices
    stops.watch(who["anna"].access)
    settle(control)
    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(control, appt["id"])
    expect_told(stops, appt["id"])


def test_second_watch_replaces_the_first(api, who, conns):
    """'A second `watch` replaces the first (with the new token's person).'"""
    to_anna = watcher(who["liisa"], conns, "liisa-then-anna")
    w = to_anna.watch(who["anna"].access)
    assert set(w["topics"]) == TOPICS_BY_ROLE["expert"]
    to_liisa = watcher(who["anna"], conns, "anna-then-liisa")
    to_liisa.watch(who["liisa"].access)
    to_sched = watcher(who["anna"], conns, "anna-then-scheduler")
    w = to_sched.watch(who["scheduler"].access)
    assert set(w["topics"]) == TOPICS_BY_ROLE["scheduler"]
    control = watcher(who["anna"], conns, "control")

    appt = book(api, who)
    expect_told(control, appt["id"])
    expect_told(to_anna, appt["id"])
    expect_told(to_sched, appt["id"])
    assert_not_told({"anna, then liisa": to_liisa}, appt["id"])
    api.cancel(appt["id"], who["scheduler"].access)


# =========================================================================== watch and rooms


def test_watch_on_a_connection_in_a_room(api, who, conns):
    """`watch` works on a connection that is in a room; room messages and `changed` both arrive."""
    room = "mikkeli-3"
    st, body, _ = api.call("DELETE", f"/api/rooms/{room}/session", token=who["admin"].access)
    assert st in (204, 409), (st, body)
    api.open_session(room, who["anna"].access, [{"role": "expert", "subject": "kela-anna"}])
    try:
        a = who["anna"].enter(room, "in-room")
        conns.append(a)
        w = a.watch(who["anna"].access)
        assert set(w["topics"]) == TOPICS_BY_ROLE["expert"]

        # the other way round: watch first, then join
        d = who["dev_other"].connect("dev-watch-then-join")
        conns.append(d)
        d.watch(who["dev_other"].access)
        d.join(room, who["dev_other"].room_token(room)["token"])
        joined = a.wait_for("participant_joined")
        assert joined["participant"]["seat"] == "device"
        a.wait_for("room_locked")
        d.wait_for("room_locked")

        appt = book(api, who)
        expect_told(a, appt["id"])
        assert_not_told({"other device in the room": d}, appt["id"])
        still_open(a)

        # leaving the room keeps the watch (GUESS: the document ties the watch to the connection,
        # "until the connection closes or you `unwatch`", not to the room)
        a.leave()
        settle(a)
        api.cancel(appt["id"], who["scheduler"].access)
        expect_told(a, appt["id"])
        # and an unwatch in a room does not take the connection out of the room
        a.join(room, who["anna"].room_token(room)["token"])
        a.unwatch()
        assert a.end_session()["type"] == "ok"
        ended = a.wait_for("session_ended")
        assert ended["reason"] == "ended"
    finally:
        st, body, _ = api.call("DELETE", f"/api/rooms/{room}/session", token=who["admin"].access)
        assert st in (204, 409), (st, body)


def test_session_end_keeps_the_watch(api, who, conns):
    """GUESS: `session_ended` leaves the connection open and out of a room; its watch goes on."""
    room = "mikkeli-3"
    api.open_session(room, who["anna"].access, [{"role": "expert", "subject": "kela-anna"}])
    a = who["anna"].enter(room, "ends")
    conns.append(a)
    a.watch(who["anna"].access)
    api.end_session(room, who["admin"].access)
    a.wait_for("session_ended")
    appt = book(api, who)
    expect_told(a, appt["id"])
    settle(a)
    api.cancel(appt["id"], who["scheduler"].access)
    expect_told(a, appt["id"])
