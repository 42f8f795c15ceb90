//! The interpreter's own list of assignments (`GET /api/me/interpreter-assignments`, what the interpreter page
//! shows under "my assignments"), told as a story against the real server: an accepted offer is listed with the
//! room to join and what to interpret, a withdrawn one disappears, one whose appointment is cancelled stays
//! listed as cancelled, and only interpreters may ask. Runs on SQLite and on PostgreSQL.

use crate::common::{spawn_app, Backend, TestApp};
use chrono::{Datelike, Duration as Days, NaiveDate, Weekday};
use serde_json::{json, Value};
use vayla_domain::calendar::{finnish_holiday, local_date, local_to_utc, LocalTime};

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{}{path}", app.server().url())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[track_caller]
fn ok(r: (u16, Value), status: u16) -> Value {
    assert_eq!(r.0, status, "expected {status}, got {} {}", r.0, r.1);
    r.1
}

/// A Monday at least two weeks away with no public holiday that week: every demo interpreter works then.
fn plain_monday() -> NaiveDate {
    let mut d = local_date(vayla_server::now_ms()) + Days::days(14);
    while d.weekday() != Weekday::Mon || (0..5).any(|i| finnish_holiday(d + Days::days(i)).is_some()) {
        d += Days::days(1);
    }
    d
}

fn at(date: NaiveDate, h: u32) -> String {
    let ms = local_to_utc(date, LocalTime::hm(h, 0));
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Books `kela-benefits` on `device` with `expert` at `hour`:00 of the plain Monday and requests an interpreter
/// for `language`; returns (appointment, request).
async fn booked_with_request(
    app: &TestApp,
    scheduler: &str,
    device: &str,
    expert: &str,
    hour: u32,
    language: &str,
) -> (String, String) {
    let body = json!({ "service": "kela-benefits", "device": device, "expert": expert,
                       "start": at(plain_monday(), hour), "customer_ref": "case-4711-private" });
    let a = ok(call(app, "POST", "/api/appointments", scheduler, Some(body)).await, 201);
    let id = a["id"].as_str().unwrap().to_string();
    let need = json!({ "language": language, "modality": "remote_video", "notes": "Lomake mukana" });
    let path = format!("/api/appointments/{id}/interpreter-request");
    let r = ok(call(app, "POST", &path, scheduler, Some(need)).await, 201);
    (id, r["id"].as_str().unwrap().to_string())
}

async fn assignments(app: &TestApp, token: &str) -> Vec<Value> {
    ok(call(app, "GET", "/api/me/interpreter-assignments", token, None).await, 200).as_array().unwrap().clone()
}

async fn an_interpreter_sees_their_assignments_and_a_cancelled_one_stays_marked(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let sami = app.login("tulkki-sami").await;
    assert!(assignments(&app, &sami).await.is_empty(), "nothing accepted yet");

    // Two sign-language appointments (Sami is the demo's Finnish Sign Language interpreter); he accepts both.
    let (first, r1) = booked_with_request(&app, &scheduler, "mikkeli-1", "kela-anna", 10, "fse").await;
    let (second, r2) = booked_with_request(&app, &scheduler, "mikkeli-2", "kela-mikko", 13, "fse").await;
    for r in [&r1, &r2] {
        ok(call(&app, "POST", &format!("/api/interpreter-offers/{r}/accept"), &sami, None).await, 200);
    }
    let list = assignments(&app, &sami).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let a = &list[0];
    assert_eq!(a["request"], r1.as_str(), "by start: the 10:00 one first");
    assert_eq!(a["appointment"], first.as_str());
    assert_eq!(a["device"], "mikkeli-1", "the room to join");
    assert_eq!((a["language"].as_str(), a["sign_language"].as_bool()), (Some("fse"), Some(true)));
    assert_eq!((a["modality"].as_str(), a["notes"].as_str()), (Some("remote_video"), Some("Lomake mukana")));
    assert_eq!((a["state"].as_str(), a["appointment_status"].as_str()), (Some("assigned"), Some("booked")));
    assert_eq!(a["start"], at(plain_monday(), 10));
    assert!(!serde_json::to_string(&list).unwrap().contains("case-4711"), "nothing about the customer");

    // The appointment is cancelled: the interpreter is released and told — it stays listed, as cancelled.
    let cancel = json!({ "reason": "the customer cancelled" });
    ok(call(&app, "POST", &format!("/api/appointments/{first}/cancel"), &scheduler, Some(cancel)).await, 200);
    let list = assignments(&app, &sami).await;
    let states: Vec<(&str, &str, &str)> = list
        .iter()
        .map(|a| {
            (
                a["appointment"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
                a["appointment_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(states, [(first.as_str(), "cancelled", "cancelled"), (second.as_str(), "assigned", "booked")]);

    // Withdrawing takes the other off the list (the request goes back into the cascade).
    ok(call(&app, "POST", &format!("/api/interpreter-requests/{r2}/withdraw"), &sami, None).await, 200);
    let list = assignments(&app, &sami).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["state"], "cancelled");

    // Someone else's assignments are not shown to another interpreter, and other roles are refused.
    let aino = app.login("tulkki-aino").await;
    assert!(assignments(&app, &aino).await.is_empty());
    let r = call(&app, "GET", "/api/me/interpreter-assignments", &scheduler, None).await;
    assert_eq!((r.0, r.1["code"].as_str()), (403, Some("forbidden")), "{}", r.1);
}

on_both_backends!(an_interpreter_sees_their_assignments_and_a_cancelled_one_stays_marked);
