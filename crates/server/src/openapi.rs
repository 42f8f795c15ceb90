//! The OpenAPI 3.1 description of every `/api` route, served at `GET /api/openapi.json`.
//!
//! Written by hand as data (one `operation` per method and path) rather than generated from the handlers: the
//! handlers' types are the truth for the wire, and `docs/appointments.md` / `docs/protocol.md` explain them; this
//! document is the machine-readable index that clients and tools read. A test (`tests/scheduling.rs`) reads the
//! router's `.route(…)` lines in `app.rs` and fails when a route is missing here, so a new endpoint cannot go
//! undocumented; it also calls every documented operation to check that the router knows it.

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// `GET /api/openapi.json`. No authentication: the document holds no data, only the shape of the API.
pub async fn document() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| serde_json::to_string_pretty(&spec()).expect("the document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn s_(t: &str) -> Value {
    json!({ "type": t })
}

fn array(of: Value) -> Value {
    json!({ "type": "array", "items": of })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn query_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
}

/// One operation. `auth`: whether an access token is required; `body`: the request body's schema; `ok`: the
/// success status, description and schema; `errors`: the error statuses it can answer, each with the codes.
struct Op<'a> {
    id: &'a str,
    tag: &'a str,
    summary: &'a str,
    auth: bool,
    params: Vec<Value>,
    body: Option<Value>,
    ok: (&'a str, &'a str, Option<Value>),
    errors: &'a [(&'a str, &'a str)],
}

impl Op<'_> {
    fn build(self) -> Value {
        let mut responses = Map::new();
        let mut ok = json!({ "description": self.ok.1 });
        if let Some(s) = self.ok.2 {
            ok["content"] = json!({ "application/json": { "schema": s } });
        }
        responses.insert(self.ok.0.to_string(), ok);
        let mut errors: Vec<(&str, &str)> = self.errors.to_vec();
        if self.auth {
            errors.push(("401", "missing_token, invalid_token, token_expired, wrong_audience"));
        }
        if self.body.is_some() {
            errors.push(("400", "bad_request: the body is not JSON of the expected shape"));
        }
        for (status, codes) in errors {
            let entry = responses.entry(status.to_string()).or_insert_with(
                || json!({ "description": "", "content": { "application/json": { "schema": schema("Error") } } }),
            );
            let d = entry["description"].as_str().unwrap_or("").to_string();
            entry["description"] = json!(if d.is_empty() { codes.to_string() } else { format!("{d}; {codes}") });
        }
        let mut op = json!({
            "operationId": self.id,
            "tags": [self.tag],
            "summary": self.summary,
            "responses": responses,
        });
        if !self.params.is_empty() {
            op["parameters"] = Value::Array(self.params);
        }
        if let Some(b) = self.body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": b } } });
        }
        op["security"] = if self.auth { json!([{ "bearer": [] }]) } else { json!([]) };
        op
    }
}

/// An already built operation, for the ones whose success is not JSON.
fn add_raw(paths: &mut Map<String, Value>, path: &str, method: &str, op: Value) {
    let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
    entry[method] = op;
}

const FORBIDDEN: (&str, &str) = ("403", "forbidden: the caller's role may not do this");

/// The whole document.
pub fn spec() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut add = |path: &str, method: &str, op: Op<'_>| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op.build();
    };
    let room = || path_param("room", "The room's address: its device's id, e.g. mikkeli-2");
    let appointment = || path_param("id", "The appointment's id");

    // --- Authentication -------------------------------------------------------------------------------------
    add(
        "/api/login",
        "post",
        Op {
            id: "login",
            tag: "auth",
            summary: "A person signs in with id and password and gets an access token.",
            auth: false,
            params: vec![],
            body: Some(schema("Login")),
            ok: ("200", "The access token", Some(schema("TokenReply"))),
            errors: &[("401", "invalid_credentials"), ("429", "too_many_attempts")],
        },
    );
    add(
        "/api/device-login",
        "post",
        Op {
            id: "deviceLogin",
            tag: "auth",
            summary: "A remote-service device signs in with its credential.",
            auth: false,
            params: vec![],
            body: Some(schema("DeviceLogin")),
            ok: ("200", "The access token", Some(schema("TokenReply"))),
            errors: &[("401", "invalid_credentials"), ("429", "too_many_attempts")],
        },
    );
    add(
        "/api/refresh",
        "post",
        Op {
            id: "refresh",
            tag: "auth",
            summary: "A fresh access token for a caller still in the rooms-config.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "The new access token", Some(schema("TokenReply"))),
            errors: &[("401", "invalid_credentials: no longer configured")],
        },
    );
    add(
        "/api/ice-servers",
        "get",
        Op {
            id: "iceServers",
            tag: "media",
            summary: "TURN servers with short-lived credentials (empty when none).",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "TURN servers",
                Some(json!({ "type": "object", "properties": {
            "ice_servers": array(json!({ "type": "object", "properties": {
                "urls": array(json!({ "type": "string" })), "username": { "type": "string" },
                "credential": { "type": "string" } } })),
            "expires_in": { "type": "integer" } } })),
            ),
            errors: &[FORBIDDEN],
        },
    );

    // --- Rooms ----------------------------------------------------------------------------------------------
    add(
        "/api/rooms",
        "get",
        Op {
            id: "listRooms",
            tag: "rooms",
            summary: "Every room with its live state; names only for signed-in callers.",
            auth: false,
            params: vec![],
            body: None,
            ok: ("200", "The rooms", Some(array(schema("RoomView")))),
            errors: &[],
        },
    );
    add(
        "/api/rooms/{room}",
        "get",
        Op {
            id: "getRoom",
            tag: "rooms",
            summary: "One room's live state.",
            auth: false,
            params: vec![room()],
            body: None,
            ok: ("200", "The room", Some(schema("RoomView"))),
            errors: &[("404", "unknown_room")],
        },
    );
    add(
        "/api/rooms/{room}/session",
        "post",
        Op {
            id: "openSession",
            tag: "rooms",
            summary: "Open a session with the expected seats (walk-in).",
            auth: true,
            params: vec![room()],
            body: Some(json!({ "type": "object", "required": ["seats"], "properties": {
            "seats": array(json!({ "type": "object", "required": ["role", "subject"], "properties": {
                "role": { "type": "string" }, "subject": { "type": "string" } } })) } })),
            ok: ("201", "The room with its new session", Some(schema("RoomView"))),
            errors: &[FORBIDDEN, ("404", "unknown_room"), ("409", "session_open"), ("503", "store_unavailable")],
        },
    );
    add(
        "/api/rooms/{room}/session",
        "delete",
        Op {
            id: "endSession",
            tag: "rooms",
            summary: "End the room's open session.",
            auth: true,
            params: vec![room()],
            body: None,
            ok: ("204", "Ended", None),
            errors: &[FORBIDDEN, ("404", "unknown_room"), ("409", "no_session")],
        },
    );
    add(
        "/api/rooms/{room}/join-token",
        "post",
        Op {
            id: "joinToken",
            tag: "rooms",
            summary: "A room token for the caller, to join over the WebSocket.",
            auth: true,
            params: vec![room()],
            body: None,
            ok: (
                "200",
                "The room token",
                Some(json!({ "type": "object", "properties": {
            "token": { "type": "string" }, "room": { "type": "string" }, "seat": { "type": "string" },
            "session_id": { "type": "string" }, "expires_in": { "type": "integer" } } })),
            ),
            errors: &[("403", "forbidden, wrong_room"), ("404", "unknown_room")],
        },
    );
    add(
        "/api/rooms/{room}/sessions",
        "get",
        Op {
            id: "roomSessions",
            tag: "rooms",
            summary: "Recent sessions of a room with seats, joins and locks. Staff.",
            auth: true,
            params: vec![room(), query_param("limit", "How many (1–500, default 20)")],
            body: None,
            ok: ("200", "Sessions, newest first", Some(array(json!({ "type": "object" })))),
            errors: &[FORBIDDEN, ("404", "unknown_room")],
        },
    );

    // --- Operations -----------------------------------------------------------------------------------------
    add(
        "/api/audit",
        "get",
        Op {
            id: "audit",
            tag: "operations",
            summary: "The audit log, oldest first, paged by after_id. Admins.",
            auth: true,
            params: vec![
                query_param("room", "Only this room"),
                query_param("session", "Only this session"),
                query_param("kind", "Only this kind (admitted, refused, appointment_booked, calendar_changed, …)"),
                query_param("after_id", "Page after this id"),
                query_param("limit", "1–1000, default 200"),
            ],
            body: None,
            ok: ("200", "Entries", Some(array(schema("AuditRow")))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/admin/config",
        "get",
        Op {
            id: "configStatus",
            tag: "operations",
            summary: "The rooms-config in force and the last refused change.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "Status", Some(json!({ "type": "object" }))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/admin/rotate-keys",
        "post",
        Op {
            id: "rotateKeys",
            tag: "operations",
            summary: "Make a new token signing key now. Admins.",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "The new key's id",
                Some(json!({ "type": "object", "properties": { "kid": { "type": "string" } } })),
            ),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/openapi.json",
        "get",
        Op {
            id: "openapi",
            tag: "operations",
            summary: "This document.",
            auth: false,
            params: vec![],
            body: None,
            ok: ("200", "OpenAPI 3.1", Some(json!({ "type": "object" }))),
            errors: &[],
        },
    );

    // --- Calendar model -------------------------------------------------------------------------------------
    add(
        "/api/calendar/agencies",
        "get",
        Op {
            id: "listAgencies",
            tag: "calendar",
            summary: "Every agency with its booking rule and services.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "Agencies by id", Some(array(schema("AgencyView")))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/calendar/agencies/{agency}",
        "put",
        Op {
            id: "putAgency",
            tag: "calendar",
            summary: "Replace an agency's rule and services (wins over the rooms-config). Admins.",
            auth: true,
            params: vec![path_param("agency", "Agency id")],
            body: Some(schema("AgencyCalendar")),
            ok: ("200", "The agency as now in force", Some(schema("AgencyView"))),
            errors: &[FORBIDDEN, ("404", "unknown_agency"), ("422", "invalid_calendar")],
        },
    );
    add(
        "/api/calendar/experts",
        "get",
        Op {
            id: "listExperts",
            tag: "calendar",
            summary: "Every expert with agency, languages, services and stand-ins.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "Experts by id", Some(array(schema("ExpertView")))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/calendar/experts/{expert}",
        "put",
        Op {
            id: "putExpert",
            tag: "calendar",
            summary: "Set the services an expert handles and their stand-ins. Schedulers, admins.",
            auth: true,
            params: vec![path_param("expert", "Expert id")],
            body: Some(schema("ExpertProfile")),
            ok: ("200", "The expert as now in force", Some(schema("ExpertView"))),
            errors: &[FORBIDDEN, ("404", "unknown_expert"), ("422", "unknown_service, unknown_expert")],
        },
    );
    let availability_params = || {
        vec![
            json!({ "name": "kind", "in": "path", "required": true, "schema": { "type": "string", "enum": ["expert", "interpreter"] } }),
            path_param("id", "The expert's or interpreter's id"),
        ]
    };
    add(
        "/api/calendar/availability/{kind}/{id}",
        "get",
        Op {
            id: "getAvailability",
            tag: "calendar",
            summary: "An expert's or interpreter's weekly availability with exceptions.",
            auth: true,
            params: availability_params(),
            body: None,
            ok: ("200", "The schedule in force", Some(schema("ScheduleView"))),
            errors: &[FORBIDDEN, ("404", "unknown_kind, unknown_expert, unknown_interpreter")],
        },
    );
    add(
        "/api/calendar/availability/{kind}/{id}",
        "put",
        Op {
            id: "putAvailability",
            tag: "calendar",
            summary: "Replace an availability. The person themselves, schedulers, admins.",
            auth: true,
            params: availability_params(),
            body: Some(schema("Schedule")),
            ok: ("200", "The schedule now in force", Some(schema("ScheduleView"))),
            errors: &[
                FORBIDDEN,
                ("404", "unknown_kind, unknown_expert, unknown_interpreter"),
                ("422", "invalid_calendar"),
            ],
        },
    );
    add(
        "/api/calendar/availability/{kind}/{id}",
        "delete",
        Op {
            id: "revertAvailability",
            tag: "calendar",
            summary: "Undo API edits: the rooms-config's availability is in force again.",
            auth: true,
            params: availability_params(),
            body: None,
            ok: ("200", "The schedule now in force", Some(schema("ScheduleView"))),
            errors: &[FORBIDDEN, ("404", "unknown_kind, unknown_expert, unknown_interpreter"), ("409", "no_seed")],
        },
    );
    let sp = || vec![path_param("service_point", "Service point id")];
    add(
        "/api/calendar/opening-hours/{service_point}",
        "get",
        Op {
            id: "getOpeningHours",
            tag: "calendar",
            summary: "A service point's opening hours (its devices are bookable only then).",
            auth: true,
            params: sp(),
            body: None,
            ok: ("200", "The schedule in force", Some(schema("ScheduleView"))),
            errors: &[FORBIDDEN, ("404", "unknown_service_point")],
        },
    );
    add(
        "/api/calendar/opening-hours/{service_point}",
        "put",
        Op {
            id: "putOpeningHours",
            tag: "calendar",
            summary: "Replace a service point's opening hours. Schedulers, admins.",
            auth: true,
            params: sp(),
            body: Some(schema("Schedule")),
            ok: ("200", "The schedule now in force", Some(schema("ScheduleView"))),
            errors: &[FORBIDDEN, ("404", "unknown_service_point"), ("422", "invalid_calendar")],
        },
    );
    add(
        "/api/calendar/opening-hours/{service_point}",
        "delete",
        Op {
            id: "revertOpeningHours",
            tag: "calendar",
            summary: "Back to the rooms-config's opening hours. Schedulers, admins.",
            auth: true,
            params: sp(),
            body: None,
            ok: ("200", "The schedule now in force", Some(schema("ScheduleView"))),
            errors: &[FORBIDDEN, ("404", "unknown_service_point"), ("409", "no_seed")],
        },
    );

    // --- Slots and appointments -----------------------------------------------------------------------------
    add(
        "/api/slots/search",
        "post",
        Op {
            id: "searchSlots",
            tag: "appointments",
            summary: "Free slots where a device, an expert and (when needed) an interpreter are all free.",
            auth: true,
            params: vec![],
            body: Some(schema("SlotSearch")),
            ok: ("200", "Slots in time order", Some(schema("SlotsReply"))),
            errors: &[
                FORBIDDEN,
                ("400", "invalid_time, invalid_range"),
                ("422", "unknown_service, unknown_service_point, unknown_device, unknown_expert, expert_not_eligible"),
            ],
        },
    );
    let booking_errors: &[(&str, &str)] = &[
        FORBIDDEN,
        ("400", "invalid_time"),
        ("409", "slot_taken: the time was taken (message starts with the resource, or \"busy:\")"),
        (
            "422",
            "slot_unavailable (message starts with the reason: too_soon, beyond_horizon, outside_days, holiday, \
                outside_windows, unavailable), unknown_service, unknown_device, unknown_expert, expert_not_eligible",
        ),
    ];
    add("/api/appointments", "post", Op {
        id: "book", tag: "appointments",
        summary: "Book: reserves the device and the expert (with buffers) in one transaction. Schedulers, admins, advisors of the device's service point.",
        auth: true, params: vec![], body: Some(schema("BookRequest")),
        ok: ("201", "The appointment", Some(schema("Appointment"))), errors: booking_errors,
    });
    add("/api/appointments", "get", Op {
        id: "listAppointments", tag: "appointments",
        summary: "Appointments overlapping a range, by start. Schedulers and admins all; advisors their service point's; experts their own.",
        auth: true,
        params: vec![query_param("device", "Only this device"), query_param("expert", "Only this expert"),
            query_param("service_point", "Only this service point"),
            query_param("from", "YYYY-MM-DD (local) or ISO 8601; default today"),
            query_param("to", "YYYY-MM-DD (local, inclusive) or ISO 8601; default from + 7 days"),
            query_param("status", "booked, cancelled, no_show or completed")],
        body: None,
        ok: ("200", "Appointments", Some(array(schema("Appointment")))),
        errors: &[FORBIDDEN, ("400", "invalid_time, invalid_range, bad_request")],
    });
    add(
        "/api/appointments/{id}",
        "get",
        Op {
            id: "getAppointment",
            tag: "appointments",
            summary: "One appointment.",
            auth: true,
            params: vec![appointment()],
            body: None,
            ok: ("200", "The appointment", Some(schema("Appointment"))),
            errors: &[FORBIDDEN, ("404", "unknown_appointment")],
        },
    );
    add(
        "/api/appointments/{id}/reschedule",
        "post",
        Op {
            id: "reschedule",
            tag: "appointments",
            summary: "Move to a new start (and optionally another expert) atomically; the old time stays if refused.",
            auth: true,
            params: vec![appointment()],
            body: Some(schema("RescheduleRequest")),
            ok: ("200", "The appointment", Some(schema("Appointment"))),
            errors: &[
                FORBIDDEN,
                ("400", "invalid_time"),
                ("404", "unknown_appointment"),
                ("409", "slot_taken, appointment_closed"),
                ("422", "slot_unavailable, device_change_unsupported, unknown_expert, expert_not_eligible"),
            ],
        },
    );
    add(
        "/api/appointments/{id}/cancel",
        "post",
        Op {
            id: "cancel",
            tag: "appointments",
            summary: "Cancel with a reason; its time is free again at once.",
            auth: true,
            params: vec![appointment()],
            body: Some(schema("CancelRequest")),
            ok: ("200", "The appointment", Some(schema("Appointment"))),
            errors: &[FORBIDDEN, ("404", "unknown_appointment"), ("409", "appointment_closed")],
        },
    );
    add(
        "/api/appointments/{id}/no-show",
        "post",
        Op {
            id: "noShow",
            tag: "appointments",
            summary: "Mark that the customer did not come (after the start).",
            auth: true,
            params: vec![appointment()],
            body: None,
            ok: ("200", "The appointment", Some(schema("Appointment"))),
            errors: &[FORBIDDEN, ("404", "unknown_appointment"), ("409", "appointment_closed, not_started")],
        },
    );
    add("/api/me/appointments", "get", Op {
        id: "myAppointments", tag: "appointments",
        summary: "The caller's own appointments of one local day (an expert's, interpreter's, device's, advisor's service point's, or those a scheduler booked).",
        auth: true, params: vec![query_param("date", "YYYY-MM-DD (local); default today")], body: None,
        ok: ("200", "Appointments by start", Some(array(schema("Appointment")))),
        errors: &[("400", "invalid_time")],
    });

    // --- Experts' own calendars (iCalendar feeds, external busy time; see docs/appointments.md) -----------------
    let feed_params = || {
        vec![
            json!({ "name": "kind", "in": "path", "required": true, "schema": { "type": "string", "enum": ["expert", "device"] } }),
            path_param("id", "The expert's or device's id"),
        ]
    };
    add(
        "/api/calendar/feeds/{kind}/{id}",
        "post",
        Op {
            id: "createFeed",
            tag: "calendar",
            summary:
                "A new secret iCalendar feed URL (/ics/{token}.ics) for an expert or device; earlier URLs stop working.",
            auth: true,
            params: feed_params(),
            body: None,
            ok: (
                "200",
                "The feed URL, shown once",
                Some(json!({ "type": "object", "properties": {
            "kind": s_("string"), "id": s_("string"), "url": s_("string") } })),
            ),
            errors: &[FORBIDDEN, ("404", "not_found (kind), unknown_expert, unknown_device")],
        },
    );
    add(
        "/api/calendar/feeds/{kind}/{id}",
        "delete",
        Op {
            id: "deleteFeed",
            tag: "calendar",
            summary: "Revoke the feed URL.",
            auth: true,
            params: feed_params(),
            body: None,
            ok: ("204", "Revoked", None),
            errors: &[FORBIDDEN, ("404", "not_found (kind), unknown_expert, unknown_device, no_feed")],
        },
    );
    let expert = || vec![path_param("expert", "Expert id")];
    let external_view = || {
        json!({ "type": "object", "properties": {
        "expert": s_("string"), "kind": { "type": "string", "enum": ["ics", "caldav"] }, "host": s_("string"),
        "last_sync_at": { "type": ["string", "null"], "format": "date-time" },
        "last_ok_at": { "type": ["string", "null"], "format": "date-time" },
        "last_error": { "type": ["string", "null"] }, "intervals": s_("integer") } })
    };
    add(
        "/api/calendar/external/{expert}",
        "put",
        Op {
            id: "putExternalCalendar",
            tag: "calendar",
            summary: "Register the expert's own calendar (ICS URL or CalDAV collection); its busy time blocks slots.",
            auth: true,
            params: expert(),
            body: Some(
                json!({ "type": "object", "required": ["url", "kind"], "additionalProperties": false, "properties": {
            "url": s_("string"), "kind": { "type": "string", "enum": ["ics", "caldav"] } } }),
            ),
            ok: ("200", "The registration (host only, never the URL)", Some(external_view())),
            errors: &[FORBIDDEN, ("400", "invalid_url"), ("404", "unknown_expert"), ("422", "url_not_allowed")],
        },
    );
    add(
        "/api/calendar/external/{expert}",
        "get",
        Op {
            id: "getExternalCalendar",
            tag: "calendar",
            summary: "The registration and its last sync.",
            auth: true,
            params: expert(),
            body: None,
            ok: ("200", "The registration", Some(external_view())),
            errors: &[FORBIDDEN, ("404", "unknown_expert, no_external_calendar")],
        },
    );
    add(
        "/api/calendar/external/{expert}",
        "delete",
        Op {
            id: "deleteExternalCalendar",
            tag: "calendar",
            summary: "Forget the calendar and its busy time.",
            auth: true,
            params: expert(),
            body: None,
            ok: ("204", "Forgotten", None),
            errors: &[FORBIDDEN, ("404", "unknown_expert, no_external_calendar")],
        },
    );
    add(
        "/api/calendar/external/{expert}/sync",
        "post",
        Op {
            id: "syncExternalCalendar",
            tag: "calendar",
            summary: "Read the external calendar now.",
            auth: true,
            params: expert(),
            body: None,
            ok: (
                "200",
                "Busy intervals stored",
                Some(json!({ "type": "object", "properties": {
            "expert": s_("string"), "intervals": s_("integer"),
            "synced_at": { "type": ["string", "null"], "format": "date-time" } } })),
            ),
            errors: &[
                FORBIDDEN,
                ("404", "unknown_expert, no_external_calendar"),
                ("409", "calendar_replaced"),
                ("502", "calendar_sync_failed"),
            ],
        },
    );

    // --- Interpreters (see docs/appointments.md, "Interpreters") --------------------------------------
    let request_param = || vec![path_param("request", "The interpreter request's id")];
    let t = || json!({ "type": "string", "format": "date-time" });
    let level = || json!({ "type": ["string", "null"], "enum": ["basic", "professional", "certified", null] });
    let request_view = || {
        json!({ "type": "object", "properties": {
            "id": s_("string"), "appointment": s_("string"), "language": s_("string"), "modality": s_("string"),
            "min_level": level(), "notes": { "type": ["string", "null"] }, "group_size": s_("integer"),
            "state": { "type": "string", "enum": ["open", "offered", "accepted", "exhausted", "cancelled"] },
            "round": s_("integer"), "assigned_interpreter": { "type": ["string", "null"] },
            "cancel_reason": { "type": ["string", "null"], "enum": ["appointment_cancelled", "no_longer_needed", null] },
            "unfilled": { "type": ["string", "null"], "enum": ["nobody_qualified", "nobody_accepted", "too_late", null],
                          "description": "Why nobody interprets; set exactly when exhausted" },
            "offers": array(json!({ "type": "object", "properties": {
                "interpreter": s_("string"), "sent_at": t(), "deadline": t(),
                "outcome": { "type": "string", "enum": ["pending", "accepted", "declined", "expired", "withdrawn",
                                                        "cancelled", "released"] },
                "responded_at": { "type": ["string", "null"], "format": "date-time" } } })),
            "created_by": s_("string"), "created_at": t(), "updated_at": t(), "version": s_("integer") } })
    };
    let answer_view = || {
        json!({ "type": "object", "properties": {
            "request": s_("string"),
            "state": { "type": "string", "enum": ["open", "offered", "accepted", "exhausted", "cancelled"] },
            "assigned": s_("boolean") } })
    };
    add(
        "/api/appointments/{id}/interpreter-request",
        "post",
        Op {
            id: "requestInterpreter",
            tag: "interpreters",
            summary: "Request an interpreter for a booked appointment and start the offer cascade (an exhausted \
                      earlier request is replaced).",
            auth: true,
            params: vec![appointment()],
            body: Some(json!({ "type": "object", "required": ["language", "modality"], "additionalProperties": false,
                "properties": {
                "language": { "type": "string", "description": "BCP 47, e.g. sv, ar-SY, fse" },
                "modality": { "type": "string", "enum": ["remote_video", "phone", "on_site"] },
                "min_level": { "type": "string", "enum": ["basic", "professional", "certified"] },
                "notes": { "type": "string", "maxLength": 500 },
                "group_size": { "type": "integer", "minimum": 1, "maximum": 5 } } })),
            ok: ("201", "The request, offered to the first interpreter(s) or exhausted", Some(request_view())),
            errors: &[
                FORBIDDEN,
                ("400", "invalid_language"),
                ("404", "unknown_appointment"),
                ("409", "appointment_closed, interpreter_already_requested"),
                ("422", "sign_language_needs_video"),
            ],
        },
    );
    add(
        "/api/appointments/{id}/interpreter-request",
        "get",
        Op {
            id: "interpreterRequestStatus",
            tag: "interpreters",
            summary: "The appointment's interpreter request: state, offers of this round with deadlines, assignee.",
            auth: true,
            params: vec![appointment()],
            body: None,
            ok: ("200", "The request", Some(request_view())),
            errors: &[FORBIDDEN, ("404", "unknown_appointment, no_interpreter_request")],
        },
    );
    add(
        "/api/me/interpreter-offers",
        "get",
        Op {
            id: "myInterpreterOffers",
            tag: "interpreters",
            summary: "The calling interpreter's pending offers, soonest deadline first (no customer data).",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "Pending offers",
                Some(array(json!({ "type": "object", "properties": {
                "request": s_("string"), "appointment": s_("string"), "start": t(), "end": t(),
                "service_point": s_("string"), "service": s_("string"), "language": s_("string"),
                "modality": s_("string"), "min_level": level(), "notes": { "type": ["string", "null"] },
                "deadline": t() } }))),
            ),
            errors: &[FORBIDDEN],
        },
    );
    // The interpreter page's assignments.
    add(
        "/api/me/interpreter-assignments",
        "get",
        Op {
            id: "myInterpreterAssignments",
            tag: "interpreters",
            summary: "The calling interpreter's accepted assignments not yet ended, by start; cancelled ones marked.",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "Assignments",
                Some(array(json!({ "type": "object", "properties": {
                "request": s_("string"), "appointment": s_("string"), "start": t(), "end": t(),
                "service_point": s_("string"), "service": s_("string"), "device": s_("string"),
                "language": s_("string"), "sign_language": s_("boolean"), "modality": s_("string"),
                "notes": { "type": ["string", "null"] },
                "state": { "type": "string", "enum": ["assigned", "cancelled"] },
                "cancel_reason": { "type": ["string", "null"], "enum": ["appointment_cancelled", "no_longer_needed", null] },
                "appointment_status": { "type": "string", "enum": ["booked", "cancelled", "no_show", "completed"] } } }))),
            ),
            errors: &[FORBIDDEN],
        },
    );
    for (what, id, summary, errors) in [
        (
            "accept",
            "acceptInterpreterOffer",
            "Accept the pending offer: assigned, time reserved. Of racing accepts exactly one wins.",
            &[
                FORBIDDEN,
                ("404", "unknown_interpreter_request"),
                ("409", "offer_closed, interpreter_busy, appointment_closed"),
            ][..],
        ),
        (
            "decline",
            "declineInterpreterOffer",
            "Decline the pending offer; the request moves on to the next interpreter(s).",
            &[FORBIDDEN, ("404", "unknown_interpreter_request"), ("409", "offer_closed")][..],
        ),
    ] {
        add(
            &format!("/api/interpreter-offers/{{request}}/{what}"),
            "post",
            Op {
                id,
                tag: "interpreters",
                summary,
                auth: true,
                params: request_param(),
                body: None,
                ok: ("200", "What the answer led to", Some(answer_view())),
                errors,
            },
        );
    }
    add(
        "/api/interpreter-requests/{request}/withdraw",
        "post",
        Op {
            id: "withdrawInterpreter",
            tag: "interpreters",
            summary:
                "The assigned interpreter cancels: their time is freed and the request goes back into the cascade.",
            auth: true,
            params: request_param(),
            body: None,
            ok: ("200", "What the withdrawal led to", Some(answer_view())),
            errors: &[FORBIDDEN, ("404", "unknown_interpreter_request"), ("409", "not_assigned")],
        },
    );
    add(
        "/api/appointments/{id}/interpreter-requests",
        "get",
        Op {
            id: "interpreterRequestHistory",
            tag: "interpreters",
            summary: "Every interpreter request of the appointment, newest first (empty when none).",
            auth: true,
            params: vec![appointment()],
            body: None,
            ok: ("200", "The requests", Some(array(request_view()))),
            errors: &[FORBIDDEN, ("404", "unknown_appointment")],
        },
    );
    add(
        "/api/interpreter-requests/{request}/cancel",
        "post",
        Op {
            id: "cancelInterpreterRequest",
            tag: "interpreters",
            summary: "The scheduler cancels the request (no interpreter needed): offers withdrawn, an assigned \
                      interpreter released and told.",
            auth: true,
            params: request_param(),
            body: None,
            ok: ("200", "The cancelled request", Some(request_view())),
            errors: &[FORBIDDEN, ("404", "unknown_interpreter_request"), ("409", "request_wrong_state")],
        },
    );

    interpreter_registry_paths(&mut add);
    walkin_paths(&mut add);
    // --- Feedback and reports (see docs/reports.md) ---------------------------------------------------
    add(
        "/api/sessions/{session}/feedback",
        "post",
        Op {
            id: "giveFeedback",
            tag: "reports",
            summary: "The customer's anonymous answer to the survey after a session: by the device of the session's \
                      room only, once the session has ended, once per session.",
            auth: true,
            params: vec![path_param("session", "The session's id")],
            body: Some(json!({ "type": "object", "required": ["rating", "outcome", "language"],
                "additionalProperties": false, "properties": {
                "rating": { "type": "integer", "minimum": 1, "maximum": 5 },
                "outcome": { "type": "string", "enum": ["done", "initiated", "neither"] },
                "comment": { "type": "string", "maxLength": 500 },
                "language": { "type": "string", "enum": ["fi", "sv", "en"] } } })),
            ok: (
                "201",
                "Recorded",
                Some(json!({ "type": "object", "properties": {
                    "session": s_("string"), "rating": s_("integer"), "outcome": s_("string"),
                    "language": s_("string"), "has_comment": s_("boolean") } })),
            ),
            errors: &[
                ("400", "invalid_feedback"),
                ("403", "forbidden (not a device), wrong_room (another room's session)"),
                ("404", "unknown_session"),
                ("409", "session_not_ended, feedback_exists"),
            ],
        },
    );
    let period = || {
        vec![
            json!({ "name": "year", "in": "query", "required": true, "schema": { "type": "integer" } }),
            json!({ "name": "month", "in": "query", "required": false, "description": "1-12; or quarter; neither: the year",
                    "schema": { "type": "integer", "minimum": 1, "maximum": 12 } }),
            json!({ "name": "quarter", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 4 } }),
            query_param("service_point", "Only this service point (an advisor's own is forced)"),
            query_param("agency", "Only this agency"),
        ]
    };
    let csv_ok =
        |what: &str| json!({ "description": what, "content": { "text/csv": { "schema": { "type": "string" } } } });
    for (path, id, summary, admin_only, csv) in [
        (
            "/api/reports/summary",
            "reportSummary",
            "Every figure of the period: sessions per service point x agency x month and year to date, kinds, time of \
          day, durations, waiting times, appointments and no-shows, interpreting, feedback. Admins; advisors for \
          their own service point.",
            false,
            false,
        ),
        ("/api/reports/summary.csv", "reportSummaryCsv", "The summary as CSV, one figure per row.", false, true),
        (
            "/api/reports/billing",
            "reportBilling",
            "Tasks per agency x task of a quarter (year and quarter required): count, unit price, total. Admins only.",
            true,
            false,
        ),
        ("/api/reports/billing.csv", "reportBillingCsv", "The billing export as CSV. Admins only.", true, true),
        (
            "/api/reports/interpreters",
            "reportInterpreters",
            "Interpreters' records for invoicing: stays in rooms, preparation tasks, totals per interpreter and \
          provider. Admins only.",
            true,
            false,
        ),
        (
            "/api/reports/interpreters.csv",
            "reportInterpretersCsv",
            "The interpreters' records as CSV. Admins only.",
            true,
            true,
        ),
    ] {
        let mut op = Op {
            id,
            tag: "reports",
            summary,
            auth: true,
            params: period(),
            body: None,
            ok: (
                "200",
                "The report",
                Some(json!({ "type": if path.ends_with("summary") { "object" } else { "array" } })),
            ),
            errors: &[
                ("400", "invalid_period"),
                if admin_only {
                    ("403", "forbidden: admins only")
                } else {
                    ("403", "forbidden: admins, or an advisor for their own service point")
                },
            ],
        }
        .build();
        if csv {
            op["responses"]["200"] = csv_ok("CSV, UTF-8, a fixed header line (see docs/reports.md)");
        }
        if path == "/api/reports/interpreters" {
            op["responses"]["200"]["content"]["application/json"]["schema"] = json!({ "type": "object" });
        }
        add_raw(&mut paths, path, "get", op);
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Väylä API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Remote-service video broker for Finnish public service points. Errors are always \
                {\"code\", \"message\"} with a stable code. Instants are ISO 8601 UTC strings with Z; local dates \
                (Europe/Helsinki) are YYYY-MM-DD; lengths are whole minutes. See docs/appointments.md and \
                docs/protocol.md."
        },
        "servers": [{ "url": "/" }],
        "tags": [
            { "name": "auth" }, { "name": "rooms" }, { "name": "media" }, { "name": "operations" },
            { "name": "calendar", "description": "The calendar model: seeded from rooms-config, edits win." },
            { "name": "appointments", "description": "Slot search and booking." },
            { "name": "interpreters", "description": "Interpreter requests and the offer cascade." },
            { "name": "interpreter-registry", "description": "Interpreters, their languages, providers and contacts." },
            { "name": "reports", "description": "Customer feedback, reports, billing and interpreters' records." },
            { "name": "walk-in", "description": "The walk-in queue: tickets, on-duty experts and interpreters, accepts." }
        ],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas(),
        }
    })
}

fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let opt = |t: &str| json!({ "type": [t, "null"] });
    let time =
        json!({ "type": "string", "format": "date-time", "description": "ISO 8601 UTC, e.g. 2026-06-02T07:00:00Z" });
    let date = json!({ "type": "string", "format": "date", "description": "Local (Helsinki) date YYYY-MM-DD" });
    let hhmm = json!({ "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$", "description": "Helsinki wall time" });
    let weekday = json!({ "type": "string", "enum": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] });
    let mut m = Map::new();
    m.insert(
        "Error".into(),
        json!({ "type": "object", "required": ["code", "message"], "properties": {
            "code": { "type": "string", "description": "Stable, machine-readable" }, "message": s("string") } }),
    );
    m.insert(
        "Login".into(),
        json!({ "type": "object", "required": ["username", "password"], "additionalProperties": false,
            "properties": { "username": s("string"), "password": s("string") } }),
    );
    m.insert(
        "DeviceLogin".into(),
        json!({ "type": "object", "required": ["device", "credential"], "additionalProperties": false,
            "properties": { "device": s("string"), "credential": s("string") } }),
    );
    m.insert(
        "TokenReply".into(),
        json!({ "type": "object", "properties": {
            "access_token": s("string"), "token_type": s("string"), "expires_in": s("integer"), "subject": s("string"),
            "role": { "type": "string", "enum": ["device", "advisor", "expert", "interpreter", "scheduler", "admin"] },
            "display_name": s("string"), "agency": s("string"), "service_point": s("string") } }),
    );
    m.insert(
        "RoomView".into(),
        json!({ "type": "object", "description": "A room's live state; see docs/protocol.md.", "properties": {
            "room": s("string"), "name": s("string"), "service_point": s("string"), "service_point_name": s("string"),
            "state": s("string"), "session_id": s("string"), "opened_at": s("integer"),
            "seats": array(json!({ "type": "object" })), "participants": array(json!({ "type": "object" })) } }),
    );
    m.insert("AuditRow".into(), json!({ "type": "object", "properties": {
            "id": s("integer"), "at": s("integer"), "kind": s("string"), "room": opt("string"), "session": opt("string"),
            "subject": opt("string"), "role": opt("string"), "seat": opt("string"), "detail": s("string") } }));
    m.insert(
        "WeeklyRange".into(),
        json!({ "type": "object", "required": ["weekday", "start", "end"], "properties": {
            "weekday": weekday, "start": hhmm.clone(), "end": hhmm.clone() } }),
    );
    m.insert(
        "LocalRange".into(),
        json!({ "type": "object", "required": ["start", "end"], "properties": { "start": hhmm.clone(), "end": hhmm } }),
    );
    m.insert(
        "DateException".into(),
        json!({ "type": "object", "required": ["date", "change"], "properties": {
            "date": date.clone(),
            "change": { "type": "string", "enum": ["extra", "unavailable", "day_off", "replace"] },
            "ranges": array(schema("LocalRange")) } }),
    );
    m.insert(
        "Schedule".into(),
        json!({ "type": "object", "required": ["weekly"], "description":
            "Weekly ranges, then (on Finnish public holidays, when closed_on_holidays) nothing, then dated exceptions.",
            "properties": {
                "weekly": array(schema("WeeklyRange")), "exceptions": array(schema("DateException")),
                "closed_on_holidays": { "type": "boolean", "default": true } } }),
    );
    m.insert(
        "ScheduleView".into(),
        json!({ "type": "object", "properties": {
            "kind": { "type": "string", "enum": ["expert", "interpreter", "service_point"] }, "id": s("string"),
            "schedule": schema("Schedule"), "source": { "type": "string", "enum": ["seed", "api"] },
            "updated_by": s("string"), "updated_at": { "type": ["string", "null"], "format": "date-time" } } }),
    );
    m.insert(
        "ServiceSpec".into(),
        json!({ "type": "object", "required": ["id", "name", "duration_minutes", "horizon_days"],
            "additionalProperties": false, "properties": {
                "id": s("string"), "name": s("string"), "duration_minutes": s("integer"),
                "buffer_before_minutes": s("integer"), "buffer_after_minutes": s("integer"),
                "min_notice_minutes": s("integer"), "horizon_days": s("integer") } }),
    );
    m.insert(
        "AgencyCalendar".into(),
        json!({ "type": "object", "required": ["rule", "services"], "properties": {
            "rule": { "type": "string", "enum": ["walk_in_and_appointment", "appointment_only", "fixed_windows"] },
            "windows": { "description": "Only with fixed_windows", "type": "array", "items": schema("WeeklyRange") },
            "services": array(schema("ServiceSpec")) } }),
    );
    m.insert(
        "AgencyView".into(),
        json!({ "allOf": [schema("AgencyCalendar"), { "type": "object", "properties": {
            "id": s("string"), "name": s("string"), "source": { "type": "string", "enum": ["seed", "api"] } } }] }),
    );
    m.insert("ExpertProfile".into(), json!({ "type": "object", "additionalProperties": false, "properties": {
            "services": { "type": ["array", "null"], "items": s("string"), "description": "null: every service of the agency" },
            "stand_ins": array(s("string")) } }));
    m.insert(
        "ExpertView".into(),
        json!({ "type": "object", "properties": {
            "id": s("string"), "name": s("string"), "agency": s("string"), "languages": array(s("string")),
            "services": array(s("string")), "all_services": s("boolean"), "stand_ins": array(s("string")),
            "source": { "type": "string", "enum": ["seed", "api"] } } }),
    );
    m.insert("InterpreterRequest".into(), json!({ "type": "object", "required": ["language", "modality"], "additionalProperties": false,
            "properties": { "language": s("string"), "modality": { "type": "string", "examples": ["remote", "on_site"] } } }));
    m.insert(
        "SlotSearch".into(),
        json!({ "type": "object", "required": ["service", "from", "to"], "additionalProperties": false, "properties": {
            "service": s("string"), "service_points": array(s("string")), "devices": array(s("string")),
            "expert": s("string"), "with_stand_ins": s("boolean"), "language": s("string"),
            "interpreter": schema("InterpreterRequest"), "from": date.clone(), "to": date,
            "step_minutes": s("integer"), "limit": s("integer") } }),
    );
    m.insert(
        "Slot".into(),
        json!({ "type": "object", "properties": {
            "start": time.clone(), "end": time.clone(), "devices": array(s("string")), "experts": array(s("string")),
            "interpreters": array(s("string")) } }),
    );
    m.insert("SlotsReply".into(), json!({ "type": "object", "properties": {
            "service": { "allOf": [schema("ServiceSpec"), { "type": "object", "properties": { "agency": s("string") } }] },
            "rule": s("string"), "windows": array(schema("WeeklyRange")),
            "from": s("string"), "to": s("string"), "time_zone": s("string"), "tzdata": s("string"),
            "slots": array(schema("Slot")), "truncated": s("boolean") } }));
    m.insert(
        "SpecialNeeds".into(),
        json!({ "type": "object", "additionalProperties": false, "properties": {
            "language": s("string"), "interpreter": schema("InterpreterRequest"),
            "accessibility": { "type": "string", "maxLength": 500 } } }),
    );
    m.insert(
        "BookRequest".into(),
        json!({ "type": "object", "required": ["service", "device", "expert", "start"],
            "additionalProperties": false, "properties": {
                "service": s("string"), "device": s("string"), "expert": s("string"), "start": time.clone(),
                "customer_ref": { "type": "string", "maxLength": 200, "description": "Opaque, never a name" },
                "special_needs": schema("SpecialNeeds") } }),
    );
    m.insert(
        "RescheduleRequest".into(),
        json!({ "type": "object", "required": ["start"], "additionalProperties": false, "properties": {
            "start": time.clone(), "device": s("string"), "expert": s("string") } }),
    );
    m.insert(
        "CancelRequest".into(),
        json!({ "type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
            "reason": { "type": "string", "maxLength": 500 } } }),
    );
    m.insert(
        "Reservation".into(),
        json!({ "type": "object", "properties": {
            "kind": { "type": "string", "enum": ["device", "expert", "interpreter"] }, "resource": s("string"),
            "start": time.clone(), "end": time.clone(), "active": s("boolean") } }),
    );
    m.insert("Appointment".into(), json!({ "type": "object", "properties": {
            "id": s("string"), "uid": s("string"), "agency": s("string"), "service": s("string"),
            "service_point": s("string"), "device": s("string"), "expert": opt("string"),
            "interpreters": array(s("string")), "start": time.clone(), "end": time.clone(),
            "status": { "type": "string", "enum": ["booked", "cancelled", "no_show", "completed"] },
            "customer_ref": { "type": "string", "description": "Only for schedulers, admins, advisors of the service point and the booked expert" },
            "special_needs": schema("SpecialNeeds"), "cancel_reason": opt("string"), "closed_by": opt("string"),
            "closed_at": { "type": ["string", "null"], "format": "date-time" }, "created_by": s("string"),
            "created_at": time.clone(), "updated_by": s("string"), "updated_at": time, "sequence": s("integer"),
            "reservations": array(schema("Reservation")) } }));
    Value::Object(m)
}

/// The interpreter registry (see docs/interpreters.md).
fn interpreter_registry_paths(add: &mut dyn FnMut(&str, &str, Op<'_>)) {
    let t = || json!({ "type": "string", "format": "date-time" });
    let id = || vec![path_param("id", "The interpreter's id (their sign-in id)")];
    let provider_id = || vec![path_param("id", "The provider's id (a-z, 0-9, '-')")];
    let level = || json!({ "type": "string", "enum": ["basic", "professional", "certified"] });
    let modality = || json!({ "type": "string", "enum": ["remote_video", "phone", "on_site"] });
    let contact = || {
        json!({ "type": "object", "properties": {
            "name": s_("string"), "phone": { "type": ["string", "null"] }, "email": { "type": ["string", "null"] },
            "updated_at": t() } })
    };
    let interpreter = || {
        json!({ "type": "object", "properties": {
            "id": s_("string"), "name": { "type": ["string", "null"] },
            "provider": { "type": "object", "properties": { "id": s_("string"), "name": { "type": ["string", "null"] } } },
            "languages": array(json!({ "type": "object", "properties": {
                "language": s_("string"), "level": level(), "sign_language": s_("boolean") } })),
            "modalities": array(modality()), "active": s_("boolean"),
            "source": { "type": "string", "enum": ["seed", "api"] },
            "availability": { "type": "string", "description": "Path of the interpreter's availability (calendar model)" },
            "contact": { "description": "Only for admins, schedulers and the interpreter themself; absent otherwise",
                         "oneOf": [contact(), { "type": "null" }] },
            "updated_by": s_("string"), "updated_at": t() } })
    };
    let provider = || {
        json!({ "type": "object", "properties": {
            "id": s_("string"), "name": s_("string"), "business_id": { "type": ["string", "null"] },
            "phone": { "type": ["string", "null"] }, "email": { "type": ["string", "null"] },
            "interpreters": array(s_("string")), "updated_by": s_("string"), "updated_at": t() } })
    };
    add(
        "/api/interpreters",
        "get",
        Op {
            id: "listInterpreters",
            tag: "interpreter-registry",
            summary:
                "The interpreter registry (contact details only for admins, schedulers and the interpreter themself).",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "Every registry entry, by id", Some(array(interpreter()))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/interpreters/{id}",
        "get",
        Op {
            id: "getInterpreter",
            tag: "interpreter-registry",
            summary: "One registry entry.",
            auth: true,
            params: id(),
            body: None,
            ok: ("200", "The entry", Some(interpreter())),
            errors: &[FORBIDDEN, ("404", "unknown_interpreter")],
        },
    );
    add(
        "/api/interpreters/{id}",
        "put",
        Op {
            id: "putInterpreter",
            tag: "interpreter-registry",
            summary: "Replace a configured interpreter's languages, levels, modalities, provider and active flag; \
                      the edit wins over the rooms-config until reverted.",
            auth: true,
            params: id(),
            body: Some(json!({ "type": "object", "required": ["provider", "languages", "modalities"],
                "additionalProperties": false, "properties": {
                "provider": s_("string"),
                "languages": array(json!({ "type": "object", "required": ["language", "level"], "properties": {
                    "language": { "type": "string", "description": "BCP 47, e.g. sv, fse" }, "level": level() } })),
                "modalities": array(modality()), "active": s_("boolean") } })),
            ok: ("200", "The entry as it is now", Some(interpreter())),
            errors: &[
                FORBIDDEN,
                ("400", "invalid_language"),
                ("404", "unknown_interpreter"),
                ("422", "unknown_provider, invalid_registry, sign_language_needs_video"),
            ],
        },
    );
    add(
        "/api/interpreters/{id}",
        "delete",
        Op {
            id: "revertInterpreter",
            tag: "interpreter-registry",
            summary: "Undo API edits: the rooms-config's version of the entry is in force again (nobody is removed).",
            auth: true,
            params: id(),
            body: None,
            ok: ("200", "The entry as it is now", Some(interpreter())),
            errors: &[FORBIDDEN, ("404", "unknown_interpreter")],
        },
    );
    add(
        "/api/interpreters/{id}/contact",
        "put",
        Op {
            id: "putInterpreterContact",
            tag: "interpreter-registry",
            summary: "Replace an interpreter's contact details (admins, schedulers, the interpreter themself).",
            auth: true,
            params: id(),
            body: Some(json!({ "type": "object", "additionalProperties": false, "properties": {
                "name": s_("string"), "phone": s_("string"), "email": s_("string") } })),
            ok: ("200", "The contact details", Some(contact())),
            errors: &[FORBIDDEN, ("404", "unknown_interpreter"), ("422", "invalid_contact")],
        },
    );
    add(
        "/api/interpreter-providers",
        "get",
        Op {
            id: "listInterpreterProviders",
            tag: "interpreter-registry",
            summary: "Every interpreter provider with the interpreters it dispatches.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "The providers, by id", Some(array(provider()))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/interpreter-providers/{id}",
        "get",
        Op {
            id: "getInterpreterProvider",
            tag: "interpreter-registry",
            summary: "One interpreter provider.",
            auth: true,
            params: provider_id(),
            body: None,
            ok: ("200", "The provider", Some(provider())),
            errors: &[FORBIDDEN, ("404", "unknown_provider")],
        },
    );
    add(
        "/api/interpreter-providers/{id}",
        "put",
        Op {
            id: "putInterpreterProvider",
            tag: "interpreter-registry",
            summary: "Add (201) or replace (200) an interpreter provider.",
            auth: true,
            params: provider_id(),
            body: Some(json!({ "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                "name": s_("string"), "business_id": { "type": "string", "description": "Y-tunnus, 1234567-8" },
                "phone": s_("string"), "email": s_("string") } })),
            ok: ("200", "The provider as it is now (201 when added)", Some(provider())),
            errors: &[FORBIDDEN, ("422", "invalid_registry")],
        },
    );
}

/// The walk-in queue (`walkin.rs`, `docs/walkin.md`).
fn walkin_paths(add: &mut dyn FnMut(&str, &str, Op<'_>)) {
    let t = || json!({ "type": "string", "format": "date-time" });
    let opt = |ty: &str| json!({ "type": [ty, "null"] });
    let status =
        || json!({ "type": "string", "enum": ["waiting", "accepted", "served", "cancelled", "abandoned", "expired"] });
    let ticket = || {
        json!({ "type": "object", "properties": {
            "id": s_("string"), "device": s_("string"), "room": s_("string"), "service_point": s_("string"),
            "agency": s_("string"), "service": opt("string"), "language": s_("string"),
            "interpreter_language": opt("string"), "status": status(), "created_at": t(),
            "accepted_at": { "type": ["string", "null"], "format": "date-time" }, "expert": opt("string"),
            "interpreter": opt("string"), "session_id": opt("string"),
            "closed_at": { "type": ["string", "null"], "format": "date-time" }, "close_reason": opt("string"),
            "position": opt("integer"), "estimated_wait_s": opt("integer"), "experts_on_duty": opt("integer"),
            "waited_s": s_("integer"), "version": s_("integer") } })
    };
    let entry = || {
        json!({ "type": "object", "properties": {
            "id": s_("string"), "room": s_("string"), "device_name": s_("string"), "service_point": s_("string"),
            "service_point_name": s_("string"), "agency": s_("string"), "service": opt("string"),
            "language": s_("string"), "interpreter_language": opt("string"), "created_at": t(),
            "waited_s": s_("integer"), "position": opt("integer"), "expert_accepted": s_("boolean"),
            "interpreter_accepted": s_("boolean") } })
    };
    let duty = || json!({ "type": "object", "properties": { "on_duty": s_("boolean"), "since": opt("string") } });
    let id = || vec![path_param("id", "The ticket's id")];
    add(
        "/api/walkin/tickets",
        "post",
        Op {
            id: "createWalkinTicket",
            tag: "walk-in",
            summary: "A device (or an advisor of its service point) asks an agency for the next free expert. An \
                      appointment-only agency answers 409 appointment_only with `slots` to book instead.",
            auth: true,
            params: vec![],
            body: Some(json!({ "type": "object", "required": ["agency", "language"], "additionalProperties": false,
                "properties": {
                "device": { "type": "string", "description": "The device; a device may leave it out, an advisor must name one" },
                "agency": s_("string"), "service": s_("string"),
                "language": { "type": "string", "description": "The customer's language, BCP 47" },
                "interpreter_language": { "type": "string", "description": "Ask for an interpreter of this language" } } })),
            ok: ("201", "The ticket, waiting, with its position and estimated wait", Some(ticket())),
            errors: &[
                ("400", "invalid_language"),
                ("403", "forbidden, wrong_device"),
                ("404", "unknown_device, unknown_agency"),
                ("409", "appointment_only (with agency, service, slots, book_at), ticket_open"),
                ("422", "unknown_service, no_qualified_expert, no_qualified_interpreter"),
            ],
        },
    );
    add(
        "/api/walkin/tickets",
        "get",
        Op {
            id: "listWalkinTickets",
            tag: "walk-in",
            summary: "The open tickets the caller may see, oldest first, with positions and estimated waits.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "Open tickets", Some(array(ticket()))),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/walkin/tickets/{id}",
        "get",
        Op {
            id: "getWalkinTicket",
            tag: "walk-in",
            summary: "One ticket: status, position, estimated wait, and its room and session once accepted.",
            auth: true,
            params: id(),
            body: None,
            ok: ("200", "The ticket", Some(ticket())),
            errors: &[FORBIDDEN, ("404", "unknown_ticket")],
        },
    );
    add(
        "/api/walkin/tickets/{id}/accept",
        "post",
        Op {
            id: "acceptWalkinTicket",
            tag: "walk-in",
            summary: "An on-duty expert (or interpreter, when asked) takes the ticket; of racing accepts one wins. \
                      Once everyone needed accepted, the device's room opens a session for them.",
            auth: true,
            params: id(),
            body: None,
            ok: ("200", "The ticket, with `room` and (once complete) `session_id`", Some(ticket())),
            errors: &[
                ("403", "forbidden, not_qualified"),
                ("404", "unknown_ticket"),
                ("409", "off_duty, ticket_taken, ticket_closed, room_busy"),
                ("503", "room_unavailable"),
            ],
        },
    );
    add(
        "/api/walkin/tickets/{id}/cancel",
        "post",
        Op {
            id: "cancelWalkinTicket",
            tag: "walk-in",
            summary: "The device or its advisor withdraws the ticket (cancelled; abandoned once accepted, and its \
                      session ends).",
            auth: true,
            params: id(),
            body: None,
            ok: ("200", "The closed ticket", Some(ticket())),
            errors: &[("403", "forbidden, wrong_device"), ("404", "unknown_ticket"), ("409", "ticket_closed")],
        },
    );
    add(
        "/api/walkin/queue",
        "get",
        Op {
            id: "walkinQueue",
            tag: "walk-in",
            summary: "The tickets the calling expert or interpreter can accept now (first come, first served), \
                      and the open tickets they accepted.",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "The queue",
                Some(json!({ "type": "object", "properties": {
                    "role": s_("string"), "agency": opt("string"), "on_duty": s_("boolean"),
                    "tickets": array(entry()), "mine": array(ticket()) } })),
            ),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/walkin/agencies",
        "get",
        Op {
            id: "walkinAgencies",
            tag: "walk-in",
            summary: "The agencies (walk-in ones first), whether each takes walk-in tickets, and their services.",
            auth: true,
            params: vec![],
            body: None,
            ok: (
                "200",
                "Agencies",
                Some(array(json!({ "type": "object", "properties": {
                    "id": s_("string"), "name": s_("string"), "walk_in": s_("boolean"),
                    "services": array(json!({ "type": "object", "properties": {
                        "id": s_("string"), "name": s_("string"), "duration_minutes": s_("integer") } })) } }))),
            ),
            errors: &[],
        },
    );
    add(
        "/api/walkin/duty",
        "get",
        Op {
            id: "getWalkinDuty",
            tag: "walk-in",
            summary: "Whether the calling expert or interpreter is on duty for walk-in customers.",
            auth: true,
            params: vec![],
            body: None,
            ok: ("200", "The duty switch", Some(duty())),
            errors: &[FORBIDDEN],
        },
    );
    add(
        "/api/walkin/duty",
        "put",
        Op {
            id: "putWalkinDuty",
            tag: "walk-in",
            summary: "Go on or off duty for walk-in customers.",
            auth: true,
            params: vec![],
            body: Some(json!({ "type": "object", "required": ["on_duty"], "additionalProperties": false,
                "properties": { "on_duty": s_("boolean") } })),
            ok: ("200", "The duty switch", Some(duty())),
            errors: &[FORBIDDEN],
        },
    );
}
