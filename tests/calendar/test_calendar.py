"""Experts' own calendars, end to end against real servers ("the pilot's pain point"):

1. busy time in the expert's CalDAV calendar (a real Radicale) removes the slot it covers from Väylä's slot
   search, once Väylä has synced the calendar;
2. Väylä's secret iCalendar feed of the expert, read by an independent parser (the `icalendar` package), shows
   a booking with its UID, SEQUENCE and start, and after a cancellation STATUS:CANCELLED with SEQUENCE + 1.

Run:  cargo build -p vayla-server
      cd tests/calendar && pip install -r requirements.txt && pytest -q
(scripts/test-all.sh does both.) See conftest.py for how the two servers are started.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.request
import uuid
from zoneinfo import ZoneInfo

import icalendar
import pytest

PASSWORD = "vayla-demo"  # every demo person's password (README)
EXPERT = "kela-anna"
SERVICE = "kela-benefits"  # 30 minutes, 2 hours' notice, Kela (rooms-config/agencies.toml)
DEVICE = "mikkeli-1"
HELSINKI = ZoneInfo("Europe/Helsinki")
# Radicale runs without authentication: any user name is accepted, and a user owns the collections under
# their name. Väylä gets the credentials in the URL, as an expert would paste them.
DAV_USER = "anna"


# --------------------------------------------------------------------------- HTTP helpers (standard library)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def api(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    status, data, _ = http(method, base + path, json.dumps(body).encode() if body is not None else None, headers)
    return status, (json.loads(data) if data else {})


def login(base: str, who: str) -> str:
    status, reply = api(base, "POST", "/api/login", body={"username": who, "password": PASSWORD})
    assert status == 200, reply
    return reply["access_token"]


def dav(method: str, url: str, body: str | None = None, **headers) -> tuple[int, bytes]:
    auth = base64.b64encode(f"{DAV_USER}:x".encode()).decode()
    hdrs = {"authorization": f"Basic {auth}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    status, data, _ = http(method, url, body.encode() if body is not None else None, hdrs)
    return status, data


# --------------------------------------------------------------------------- scenario helpers


def slot_starts(base: str, token: str, day: dt.date) -> list[str]:
    status, reply = api(base, "POST", "/api/slots/search", token, {
        "service": SERVICE, "devices": [DEVICE], "expert": EXPERT, "from": day.isoformat(), "to": day.isoformat(),
    })
    assert status == 200, reply
    return [s["start"] for s in reply["slots"]]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), HELSINKI)


def bookable_day(base: str, token: str) -> dt.date:
    """The first day from three days ahead (past the service's notice) on which 10:00 and 13:00 are offered: a
    working day for the expert (mon-fri 08-16) and the Mikkeli point (09-16), not a holiday. Asked from the
    server, so that movable holidays need no second implementation here."""
    day = dt.datetime.now(HELSINKI).date() + dt.timedelta(days=3)
    for _ in range(21):
        starts = slot_starts(base, token, day)
        if z(at(day, 10)) in starts and z(at(day, 13)) in starts:
            return day
        day += dt.timedelta(days=1)
    pytest.fail("no day in three weeks offers both 10:00 and 13:00")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed_events(base: str, feed_path: str) -> dict[str, icalendar.Event]:
    status, data, headers = http("GET", base + feed_path)  # no login: the URL is the secret
    assert status == 200, data
    assert headers.get("Content-Type", headers.get("content-type", "")).startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "PUBLISH" and "PRODID" in cal
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def people(vayla):
    return {who: login(vayla, who) for who in (EXPERT, "scheduler")}


@pytest.fixture(scope="module")
def day(vayla, people):
    return bookable_day(vayla, people["scheduler"])


def test_a_busy_event_put_into_radicale_removes_the_slot(vayla, radicale, people, day):
    expert, scheduler = people[EXPERT], people["scheduler"]
    # A 30-minute slot at 10:00 Helsinki time is offered to begin with (bookable_day checked).
    ten = at(day, 10)

    # The expert's own calendar: a new collection in Radicale, registered in Väylä as a CalDAV calendar.
    collection = f"{radicale}/{DAV_USER}/work-{uuid.uuid4().hex[:8]}/"
    status, body = dav("MKCALENDAR", collection)
    assert status == 201, body
    url = collection.replace("http://", f"http://{DAV_USER}:x@", 1)
    status, reply = api(vayla, "PUT", f"/api/calendar/external/{EXPERT}", expert, {"url": url, "kind": "caldav"})
    assert status == 200, reply
    assert reply["kind"] == "caldav" and reply["host"] == "127.0.0.1" and reply["intervals"] == 0, reply
    assert reply["last_error"] is None, reply
    assert "work-" not in json.dumps(reply), "the calendar URL is never shown again"

    # A meeting 09:50–10:40 in the expert's calendar, written in Helsinki time.
    event = icalendar.Calendar()
    event.add("prodid", "-//Vayla calendar test//EN")
    event.add("version", "2.0")
    meeting = icalendar.Event()
    meeting.add("uid", f"meeting-{uuid.uuid4()}@example.fi")
    meeting.add("dtstamp", dt.datetime.now(dt.timezone.utc))
    meeting.add("dtstart", ten - dt.timedelta(minutes=10))
    meeting.add("dtend", ten + dt.timedelta(minutes=40))
    meeting.add("summary", "Team meeting")
    event.add_component(meeting)
    status, body = dav("PUT", collection + "meeting.ics", event.to_ical().decode(), content_type="text/calendar")
    assert status == 201, body

    status, reply = api(vayla, "POST", f"/api/calendar/external/{EXPERT}/sync", expert)
    assert status == 200, reply
    assert reply["intervals"] == 1, reply

    starts = slot_starts(vayla, scheduler, day)
    for blocked in (ten, ten + dt.timedelta(minutes=15), ten - dt.timedelta(minutes=30)):
        assert z(blocked) not in starts, (z(blocked), starts)
    # 11:00 (after the meeting and the service's buffers) is still offered.
    assert z(ten + dt.timedelta(hours=1)) in starts, starts

    # Booking the busy slot directly is refused too.
    status, reply = api(vayla, "POST", "/api/appointments", scheduler,
                        {"service": SERVICE, "device": DEVICE, "expert": EXPERT, "start": z(ten)})
    assert (status, reply.get("code")) == (409, "slot_taken"), reply

    # The meeting is deleted in Radicale: after the next sync, the slot is back.
    status, _ = dav("DELETE", collection + "meeting.ics")
    assert status in (200, 204)
    status, reply = api(vayla, "POST", f"/api/calendar/external/{EXPERT}/sync", expert)
    assert (status, reply["intervals"]) == (200, 0), reply
    assert z(ten) in slot_starts(vayla, scheduler, day)

    # Clean up for the next test: the expert's calendar is unregistered.
    status, _ = api(vayla, "DELETE", f"/api/calendar/external/{EXPERT}", expert)
    assert status == 204


def test_the_feed_parses_and_shows_a_booking_and_its_cancellation(vayla, people, day):
    expert, scheduler = people[EXPERT], people["scheduler"]
    start = z(at(day, 13))
    assert start in slot_starts(vayla, scheduler, day)
    status, booked = api(vayla, "POST", "/api/appointments", scheduler, {
        "service": SERVICE, "device": DEVICE, "expert": EXPERT, "start": start, "customer_ref": "CASE-2026-0042",
    })
    assert status == 201, booked

    status, feed = api(vayla, "POST", f"/api/calendar/feeds/expert/{EXPERT}", expert)
    assert status == 200, feed
    assert feed["url"].startswith("/ics/") and feed["url"].endswith(".ics")

    events = feed_events(vayla, feed["url"])
    ev = events[booked["uid"]]
    assert int(ev["SEQUENCE"]) == booked["sequence"] == 0
    assert ev.decoded("DTSTART") == utc(booked["start"])
    assert ev.decoded("DTEND") == utc(booked["end"])
    assert str(ev["STATUS"]) == "CONFIRMED"
    assert "Kela" in str(ev["SUMMARY"])
    assert "Mikkeli" in str(ev["LOCATION"])
    _, raw, _ = http("GET", vayla + feed["url"])
    assert b"CASE-2026-0042" not in raw, "no customer reference in a feed"

    status, cancelled = api(vayla, "POST", f"/api/appointments/{booked['id']}/cancel", scheduler,
                            {"reason": "the customer cancelled"})
    assert status == 200, cancelled
    ev = feed_events(vayla, feed["url"])[booked["uid"]]
    assert str(ev["STATUS"]) == "CANCELLED"
    assert int(ev["SEQUENCE"]) == cancelled["sequence"] == 1
    assert ev.decoded("DTSTART") == utc(booked["start"])

    # The device's feed (a scheduler publishes it) has the same event under the same UID.
    status, device_feed = api(vayla, "POST", f"/api/calendar/feeds/device/{DEVICE}", scheduler)
    assert status == 200, device_feed
    ev = feed_events(vayla, device_feed["url"])[booked["uid"]]
    assert (str(ev["STATUS"]), int(ev["SEQUENCE"])) == ("CANCELLED", 1)
