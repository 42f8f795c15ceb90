//! Experts' own calendars: secret iCalendar feeds per expert and per device, and busy time read from
//! an expert's external calendar (an ICS URL served by a tiny HTTP server inside the test) that blocks their
//! slots and bookings. Every test runs on SQLite and on PostgreSQL. The CalDAV side, against a real Radicale, is
//! tested by `tests/calendar/` (Python).

use crate::common::{spawn_app, spawn_app_with, Backend, TestApp};
use axum::http::StatusCode as AxStatus;
use chrono::{Datelike, Duration as Days, NaiveDate, Weekday};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;
use vayla_domain::calendar::{finnish_holiday, local_to_utc, LocalTime};
use vayla_store::{NewAppointment, NewReservation, ResourceKind, SpecialNeeds};

const HOUR: i64 = 3600 * 1000;

/// A request with an optional bearer token and JSON body: the status and the JSON answer (or Null).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{}", app.api.base(), path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `GET` a feed without any login: the status, the content type and the body.
async fn fetch_feed(app: &TestApp, url: &str) -> (StatusCode, String, String) {
    let resp = reqwest::get(format!("{}{}", app.api.base(), url)).await.expect("feed fetched");
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, ctype, resp.text().await.unwrap())
}

async fn issue_feed(app: &TestApp, token: &str, kind: &str, id: &str) -> String {
    let (status, body) = call(app, Method::POST, &format!("/api/calendar/feeds/{kind}/{id}"), Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["url"].as_str().expect("url in the answer").to_owned()
}

/// The content lines of a feed, unfolded (RFC 5545 §3.1).
fn unfolded(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for l in text.split("\r\n") {
        if let Some(rest) = l.strip_prefix(' ') {
            lines.last_mut().expect("a continuation follows a line").push_str(rest);
        } else if !l.is_empty() {
            lines.push(l.to_owned());
        }
    }
    lines
}

/// The VEVENTs of a feed, each as its content lines.
fn events(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in unfolded(text) {
        match line.as_str() {
            "BEGIN:VEVENT" => current = Some(Vec::new()),
            "END:VEVENT" => out.push(current.take().expect("an event was open")),
            _ => {
                if let Some(c) = current.as_mut() {
                    c.push(line);
                }
            }
        }
    }
    out
}

fn prop<'a>(event: &'a [String], name: &str) -> Option<&'a str> {
    event.iter().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
}

fn event_with_uid<'a>(events: &'a [Vec<String>], uid: &str) -> &'a [String] {
    events.iter().find(|e| prop(e, "UID") == Some(uid)).unwrap_or_else(|| panic!("no event {uid}"))
}

/// A weekday at least three days ahead that is not a Finnish holiday: bookable for the demo's Kela services.
fn working_day() -> NaiveDate {
    let today = vayla_domain::calendar::local_date(vayla_server::now_ms());
    let mut d = today + Days::days(3);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) || finnish_holiday(d).is_some() {
        d += Days::days(1);
    }
    d
}

fn at(date: NaiveDate, h: u32, m: u32) -> i64 {
    local_to_utc(date, LocalTime::hm(h, m)) as i64
}

/// Books straight in the store (the feed must show whatever was booked, however).
async fn book(app: &TestApp, id: &str, expert: &str, start: i64, end: i64) {
    let store = &app.server().store;
    let reservation = |kind, resource_id: &str| NewReservation {
        kind,
        resource_id: resource_id.into(),
        start_ms: start,
        end_ms: end,
    };
    store
        .book_appointment(&NewAppointment {
            id: id.into(),
            uid: format!("{id}@vayla"),
            agency: "kela".into(),
            service: "kela-benefits".into(),
            service_point: "mikkeli".into(),
            device: "mikkeli-1".into(),
            start_ms: start,
            end_ms: end,
            customer_ref: Some("CASE-4711-SECRET".into()),
            needs: SpecialNeeds { accessibility: Some("wheelchair access".into()), ..SpecialNeeds::default() },
            created_by: "scheduler".into(),
            created_at: start - 24 * HOUR,
            reservations: vec![
                reservation(ResourceKind::Device, "mikkeli-1"),
                reservation(ResourceKind::Expert, expert),
            ],
        })
        .await
        .expect("booked");
}

fn ics_utc(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap().format("%Y%m%dT%H%M%SZ").to_string()
}

// ---------------------------------------------------------------------------------------------------------

async fn feed_urls_are_issued_rotated_revoked_and_guarded(backend: Backend) {
    let app = spawn_app(backend).await;
    let anna = app.login("kela-anna").await;
    let mikko = app.login("kela-mikko").await;
    let scheduler = app.login("scheduler").await;
    let advisor = app.login("advisor-mikkeli").await;

    let first = issue_feed(&app, &anna, "expert", "kela-anna").await;
    let token = first.strip_prefix("/ics/").and_then(|t| t.strip_suffix(".ics")).expect("/ics/{token}.ics");
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    let (status, ctype, body) = fetch_feed(&app, &first).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/calendar"), "{ctype}");
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"), "{body}");
    assert!(unfolded(&body).iter().any(|l| l == "X-WR-CALNAME:Väylä: Anna Virtanen"), "{body}");

    // Rotation: the old URL dies at once, the new one works; a scheduler may do it for any expert.
    let second = issue_feed(&app, &scheduler, "expert", "kela-anna").await;
    assert_ne!(first, second);
    assert_eq!(fetch_feed(&app, &first).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch_feed(&app, &second).await.0, StatusCode::OK);

    // Who may: not another expert, not an advisor for an expert or another point's device, nobody unnamed.
    let refuse = |who: String, path: &'static str, want: StatusCode| {
        let app = &app;
        async move {
            let (status, body) = call(app, Method::POST, path, Some(&who), None).await;
            assert_eq!(status, want, "{path}: {body}");
            body["code"].as_str().unwrap_or("").to_owned()
        }
    };
    assert_eq!(refuse(mikko.clone(), "/api/calendar/feeds/expert/kela-anna", StatusCode::FORBIDDEN).await, "forbidden");
    refuse(advisor.clone(), "/api/calendar/feeds/expert/kela-anna", StatusCode::FORBIDDEN).await;
    refuse(advisor.clone(), "/api/calendar/feeds/device/kiiminki-1", StatusCode::FORBIDDEN).await;
    refuse(anna.clone(), "/api/calendar/feeds/device/mikkeli-1", StatusCode::FORBIDDEN).await;
    assert_eq!(
        refuse(scheduler.clone(), "/api/calendar/feeds/expert/nobody", StatusCode::NOT_FOUND).await,
        "unknown_expert"
    );
    assert_eq!(
        refuse(scheduler.clone(), "/api/calendar/feeds/expert/advisor-mikkeli", StatusCode::NOT_FOUND).await,
        "unknown_expert",
        "only experts have expert feeds"
    );
    assert_eq!(
        refuse(scheduler.clone(), "/api/calendar/feeds/device/nowhere-9", StatusCode::NOT_FOUND).await,
        "unknown_device"
    );
    refuse(scheduler.clone(), "/api/calendar/feeds/interpreter/tulkki-aino", StatusCode::NOT_FOUND).await;
    let (status, _) = call(&app, Method::POST, "/api/calendar/feeds/expert/kela-anna", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The service point's advisor may publish its device's calendar.
    let device_feed = issue_feed(&app, &advisor, "device", "mikkeli-1").await;
    let (status, _, body) = fetch_feed(&app, &device_feed).await;
    assert_eq!(status, StatusCode::OK);
    assert!(unfolded(&body).iter().any(|l| l == "X-WR-CALNAME:Väylä: Mikkeli\\, etäpalveluhuone 1"), "{body}");

    // Unknown and malformed tokens are 404 alike.
    for bad in [
        "/ics/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics",
        "/ics/short.ics",
        "/ics/x",
        &second.replace(".ics", ""),
    ] {
        assert_eq!(fetch_feed(&app, bad).await.0, StatusCode::NOT_FOUND, "{bad}");
    }

    // Revoked: gone, and a second revoke says there is nothing.
    let (status, _) = call(&app, Method::DELETE, "/api/calendar/feeds/expert/kela-anna", Some(&anna), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch_feed(&app, &second).await.0, StatusCode::NOT_FOUND);
    let (status, body) = call(&app, Method::DELETE, "/api/calendar/feeds/expert/kela-anna", Some(&anna), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_feed")));

    // Issuing and revoking are audited, without the token.
    let admin = app.login("admin").await;
    let (_, audit) = call(&app, Method::GET, "/api/audit?limit=1000", Some(&admin), None).await;
    let kinds: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["calendar_feed_created", "calendar_feed_rotated", "calendar_feed_revoked"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(!audit.to_string().contains(token));
}

async fn the_feed_publishes_bookings_changes_and_cancellations(backend: Backend) {
    let app = spawn_app(backend).await;
    let anna = app.login("kela-anna").await;
    let scheduler = app.login("scheduler").await;
    let store = &app.server().store;
    let day = working_day();
    let (a_start, a_end) = (at(day, 10, 0), at(day, 10, 30));
    let (b_start, b_end) = (at(day, 11, 0), at(day, 11, 30));
    let (c_start, c_end) = (at(day, 13, 0), at(day, 13, 30));
    book(&app, "appt-a", "kela-anna", a_start, a_end).await;
    book(&app, "appt-b", "kela-anna", b_start, b_end).await;
    book(&app, "appt-c", "kela-anna", c_start, c_end).await;
    // b is cancelled (sequence 1); c moves to another expert (sequence 1): gone from Anna's calendar too.
    store.cancel_appointment("appt-b", "customer ill", "scheduler", b_start - 2 * HOUR).await.unwrap();
    let moved = vayla_store::Reschedule {
        start_ms: c_start,
        end_ms: c_end,
        reservations: vec![
            NewReservation {
                kind: ResourceKind::Device,
                resource_id: "mikkeli-1".into(),
                start_ms: c_start,
                end_ms: c_end,
            },
            NewReservation {
                kind: ResourceKind::Expert,
                resource_id: "kela-mikko".into(),
                start_ms: c_start,
                end_ms: c_end,
            },
        ],
    };
    store.reschedule_appointment("appt-c", &moved, "scheduler", c_start - 3 * HOUR).await.unwrap();

    let url = issue_feed(&app, &anna, "expert", "kela-anna").await;
    let (_, _, text) = fetch_feed(&app, &url).await;

    // RFC 5545 form: CRLF only, no physical line longer than 75 octets, the calendar's headers.
    assert!(!text.replace("\r\n", "").contains('\n'), "bare LF in {text:?}");
    for l in text.split("\r\n") {
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
    }
    let lines = unfolded(&text);
    for header in ["VERSION:2.0", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"] {
        assert!(lines.iter().any(|l| l == header), "{header}");
    }
    assert!(lines.iter().any(|l| l.starts_with("PRODID:")));

    let evs = events(&text);
    assert_eq!(evs.len(), 3, "{text}");
    let a = event_with_uid(&evs, "appt-a@vayla");
    assert_eq!(prop(a, "DTSTART"), Some(ics_utc(a_start).as_str()));
    assert_eq!(prop(a, "DTEND"), Some(ics_utc(a_end).as_str()));
    assert_eq!(prop(a, "SEQUENCE"), Some("0"));
    assert_eq!(prop(a, "STATUS"), Some("CONFIRMED"));
    assert_eq!(prop(a, "SUMMARY"), Some("Kela: Etuusasia (Kela)"));
    // A comma in a TEXT value is escaped.
    assert_eq!(prop(a, "LOCATION"), Some("Mikkelin yhteispalvelupiste\\, Mikkeli\\, etäpalveluhuone 1"));
    assert!(prop(a, "DTSTAMP").is_some_and(|s| s.ends_with('Z')));
    assert!(prop(a, "LAST-MODIFIED").is_some());

    let b = event_with_uid(&evs, "appt-b@vayla");
    assert_eq!((prop(b, "STATUS"), prop(b, "SEQUENCE")), (Some("CANCELLED"), Some("1")));
    let c = event_with_uid(&evs, "appt-c@vayla");
    assert_eq!((prop(c, "STATUS"), prop(c, "SEQUENCE")), (Some("CANCELLED"), Some("1")), "moved to another expert");

    // The feed is behind a secret URL only: no customer reference, no special needs.
    assert!(!text.contains("CASE-4711") && !text.contains("wheelchair"), "{text}");

    // Mikko's feed has c, confirmed, with the same UID and sequence.
    let url = issue_feed(&app, &scheduler, "expert", "kela-mikko").await;
    let (_, _, text) = fetch_feed(&app, &url).await;
    let evs = events(&text);
    let c = event_with_uid(&evs, "appt-c@vayla");
    assert_eq!((prop(c, "STATUS"), prop(c, "SEQUENCE")), (Some("CONFIRMED"), Some("1")));

    // The device's feed has all three, and names the booked expert.
    let url = issue_feed(&app, &scheduler, "device", "mikkeli-1").await;
    let (_, _, text) = fetch_feed(&app, &url).await;
    let evs = events(&text);
    assert_eq!(evs.len(), 3);
    assert_eq!(prop(event_with_uid(&evs, "appt-c@vayla"), "STATUS"), Some("CONFIRMED"));
    assert!(prop(event_with_uid(&evs, "appt-a@vayla"), "DESCRIPTION").is_some_and(|d| d.contains("Anna Virtanen")));
}

/// A calendar server for the test: serves whatever text is in the channel as `text/calendar`, or fails with 500
/// when the text is empty.
async fn ics_server(initial: String) -> (String, watch::Sender<String>) {
    let (tx, rx) = watch::channel(initial);
    let router = axum::Router::new().route(
        "/private-secret-path/basic.ics",
        axum::routing::get(move || {
            let rx = rx.clone();
            async move {
                let body = rx.borrow().clone();
                if body.is_empty() {
                    (AxStatus::INTERNAL_SERVER_ERROR, [("content-type", "text/plain")], "boom".to_string())
                } else {
                    (AxStatus::OK, [("content-type", "text/calendar")], body)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/private-secret-path/basic.ics"), tx)
}

fn vcalendar(events: &[String]) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
    for e in events {
        s.push_str(e);
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn vevent(uid: &str, props: &str) -> String {
    format!("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{props}END:VEVENT\r\n")
}

async fn slots(app: &TestApp, token: &str, day: NaiveDate) -> Vec<String> {
    let body = json!({
        "service": "kela-benefits", "devices": ["mikkeli-1"], "expert": "kela-anna",
        "from": day.to_string(), "to": day.to_string(),
    });
    let (status, reply) = call(app, Method::POST, "/api/slots/search", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap().to_owned()).collect()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

async fn external_ics_busy_time_blocks_slots_and_bookings(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.calendar_allow_private_hosts = true).await;
    let anna = app.login("kela-anna").await;
    let scheduler = app.login("scheduler").await;
    let day = working_day();
    let (busy_start, busy_end) = (at(day, 10, 0), at(day, 11, 0));
    // Busy: 10–11 Helsinki time (given in UTC) and 14:00–14:30 (given with TZID). Not busy: a free (transparent)
    // event, a cancelled one, and one of Väylä's own appointments copied into the expert's calendar.
    let helsinki = format!("{}T140000", day.format("%Y%m%d"));
    let calendar = vcalendar(&[
        vevent(
            "meeting-1",
            &format!("DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Team meeting\r\n", ics_utc(busy_start), ics_utc(busy_end)),
        ),
        vevent("dentist", &format!("DTSTART;TZID=Europe/Helsinki:{helsinki}\r\nDURATION:PT30M\r\n")),
        vevent(
            "lunch",
            &format!(
                "DTSTART:{}\r\nDTEND:{}\r\nTRANSP:TRANSPARENT\r\n",
                ics_utc(at(day, 12, 0)),
                ics_utc(at(day, 13, 0))
            ),
        ),
        vevent(
            "off",
            &format!(
                "DTSTART:{}\r\nDTEND:{}\r\nSTATUS:CANCELLED\r\n",
                ics_utc(at(day, 15, 0)),
                ics_utc(at(day, 16, 0))
            ),
        ),
        vevent("x@vayla", &format!("DTSTART:{}\r\nDTEND:{}\r\n", ics_utc(at(day, 9, 0)), ics_utc(at(day, 9, 30)))),
    ]);
    let (url, served) = ics_server(String::new()).await;

    let before = slots(&app, &scheduler, day).await;
    assert!(before.contains(&iso(busy_start)), "10:00 is offered before: {before:?}");

    // Registering reads the calendar at once; this first read fails (the server answers 500) and says so.
    let path = "/api/calendar/external/kela-anna";
    let (status, view) = call(&app, Method::PUT, path, Some(&anna), Some(json!({"url": url, "kind": "ics"}))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["host"], "127.0.0.1");
    assert!(view["last_error"].as_str().is_some_and(|e| e.contains("500")), "{view}");
    assert!(!view.to_string().contains("private-secret-path"), "the URL is never shown: {view}");

    served.send_replace(calendar.clone());
    let (status, reply) = call(&app, Method::POST, &format!("{path}/sync"), Some(&anna), None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["intervals"], 2, "{reply}");
    let stored = app.server().store.external_busy_for_experts(&["kela-anna".into()], 0, i64::MAX).await.unwrap();
    assert_eq!(
        stored,
        vec![
            ("kela-anna".to_string(), busy_start, busy_end),
            ("kela-anna".to_string(), at(day, 14, 0), at(day, 14, 30)),
        ]
    );

    // The busy time is gone from the search, and a booking of it is refused.
    let after = slots(&app, &scheduler, day).await;
    assert!(!after.contains(&iso(busy_start)) && !after.contains(&iso(at(day, 10, 30))), "{after:?}");
    assert!(!after.contains(&iso(at(day, 14, 0))), "{after:?}");
    assert!(after.contains(&iso(at(day, 12, 0))), "transparent time stays bookable: {after:?}");
    let booking =
        json!({"service": "kela-benefits", "device": "mikkeli-1", "expert": "kela-anna", "start": iso(busy_start)});
    let (status, reply) = call(&app, Method::POST, "/api/appointments", Some(&scheduler), Some(booking)).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::CONFLICT, Some("slot_taken")), "{reply}");

    // A failed sync keeps the last good busy time and records why.
    served.send_replace(String::new());
    let (status, reply) = call(&app, Method::POST, &format!("{path}/sync"), Some(&scheduler), None).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("calendar_sync_failed")), "{reply}");
    assert!(!reply.to_string().contains("private-secret-path"));
    let (_, view) = call(&app, Method::GET, path, Some(&anna), None).await;
    assert_eq!(view["intervals"], 2);
    assert!(view["last_error"].as_str().is_some_and(|e| e.contains("500")), "{view}");
    assert!(!slots(&app, &scheduler, day).await.contains(&iso(busy_start)));

    // The calendar changes: the sync replaces what was stored.
    served.send_replace(vcalendar(&[vevent(
        "all-day",
        &format!("DTSTART;VALUE=DATE:{}\r\n", (day + Days::days(1)).format("%Y%m%d")),
    )]));
    let (_, reply) = call(&app, Method::POST, &format!("{path}/sync"), Some(&anna), None).await;
    assert_eq!(reply["intervals"], 1, "{reply}");
    assert!(slots(&app, &scheduler, day).await.contains(&iso(busy_start)), "10:00 is free again");

    // Removing the registration removes its busy time.
    let (status, _) = call(&app, Method::DELETE, path, Some(&anna), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.server().store.external_busy_for_experts(&["kela-anna".into()], 0, i64::MAX).await.unwrap().is_empty());
    let (status, reply) = call(&app, Method::POST, &format!("{path}/sync"), Some(&anna), None).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_external_calendar")));
}

async fn external_calendar_urls_and_callers_are_checked(backend: Backend) {
    let app = spawn_app(backend).await; // private hosts not allowed: the default
    let anna = app.login("kela-anna").await;
    let mikko = app.login("kela-mikko").await;
    let advisor = app.login("advisor-mikkeli").await;
    let path = "/api/calendar/external/kela-anna";
    let put = |token: String, body: Value| {
        let app = &app;
        async move { call(app, Method::PUT, path, Some(&token), Some(body)).await }
    };
    let (status, reply) = put(anna.clone(), json!({"url": "http://127.0.0.1:5232/anna/cal/", "kind": "caldav"})).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("url_not_allowed")));
    let (status, reply) = put(anna.clone(), json!({"url": "http://169.254.169.254/latest/", "kind": "ics"})).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("url_not_allowed")));
    let (status, reply) = put(anna.clone(), json!({"url": "file:///etc/passwd", "kind": "ics"})).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_url")));
    let (status, _) = put(anna.clone(), json!({"url": "https://cal.example.fi/a.ics", "kind": "outlook"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = put(mikko, json!({"url": "https://cal.example.fi/a.ics", "kind": "ics"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = put(advisor, json!({"url": "https://cal.example.fi/a.ics", "kind": "ics"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reply) = call(&app, Method::GET, path, Some(&anna), None).await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_external_calendar")));
    let scheduler = app.login("scheduler").await;
    let (status, reply) = call(
        &app,
        Method::PUT,
        "/api/calendar/external/tulkki-aino",
        Some(&scheduler),
        Some(json!({"url": "https://cal.example.fi/a.ics", "kind": "ics"})),
    )
    .await;
    assert_eq!((status, reply["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_expert")));
}

on_both_backends!(
    feed_urls_are_issued_rotated_revoked_and_guarded,
    the_feed_publishes_bookings_changes_and_cancellations,
    external_ics_busy_time_blocks_slots_and_bookings,
    external_calendar_urls_and_callers_are_checked,
);
