//! Interpreter bookings over REST, told as stories against the real server: an appointment is booked
//! through the API, a scheduler requests an interpreter, and the request is offered to the demo rooms-config's
//! interpreters in order (Swedish: `tulkki-aino`, then `tulkki-sofia`; Finnish Sign Language: `tulkki-sami`).
//! Decline and timeout move it on, accept reserves the interpreter's time, racing accepts end with one, the
//! assigned interpreter's withdrawal puts it back into the cascade, cancelling the appointment releases them,
//! roles decide who may do what, offers still expire after a restart, and the registry follows the rooms-config.
//! Every story runs on SQLite and on PostgreSQL.

use crate::common::http::{call, expect, get, post, put};
use crate::common::{eventually, spawn_app, spawn_app_with, Backend, TestApp};
use chrono::{Datelike, Duration as Days, NaiveDate, Weekday};
use serde_json::{json, Value};
use std::time::Duration;
use vayla_client::Signal;
use vayla_domain::calendar::{finnish_holiday, local_date, local_to_utc, LocalTime};
use vayla_protocol::{self as wire, ServerMessage, Topic};

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// The first Monday at least two weeks away whose Monday–Friday has no public holiday: every demo interpreter
/// works then (Aino Mon–Fri 8–17, Sofia Mon–Fri 9–16, Sami Mon–Thu 9–15).
fn plain_monday() -> NaiveDate {
    let mut d = local_date(vayla_server::now_ms()) + Days::days(14);
    loop {
        if d.weekday() == Weekday::Mon && (0..5).all(|i| finnish_holiday(d + Days::days(i)).is_none()) {
            return d;
        }
        d += Days::days(1);
    }
}

fn at(date: NaiveDate, h: u32, m: u32) -> String {
    let ms = local_to_utc(date, LocalTime::hm(h, m));
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Books `kela-benefits` at Mikkeli on `device` with `expert` on the plain Monday at 10:00; returns its id.
async fn book(app: &TestApp, scheduler: &str, device: &str, expert: &str) -> String {
    book_at(app, scheduler, device, expert, 10).await
}

/// As [`book`], at `hour`:00.
async fn book_at(app: &TestApp, scheduler: &str, device: &str, expert: &str, hour: u32) -> String {
    let body = json!({ "service": "kela-benefits", "device": device, "expert": expert,
                       "start": at(plain_monday(), hour, 0), "customer_ref": "case-4711-private" });
    let r = expect(post(app, "/api/appointments", scheduler, body).await, 201, "");
    r["id"].as_str().unwrap().to_string()
}

async fn request(app: &TestApp, scheduler: &str, appointment: &str, body: Value) -> Value {
    let path = format!("/api/appointments/{appointment}/interpreter-request");
    expect(post(app, &path, scheduler, body).await, 201, "")
}

async fn status(app: &TestApp, scheduler: &str, appointment: &str) -> Value {
    expect(get(app, &format!("/api/appointments/{appointment}/interpreter-request"), scheduler).await, 200, "")
}

/// The requests the interpreter has a pending offer for.
async fn offers(app: &TestApp, interpreter: &str) -> Vec<String> {
    let token = app.login(interpreter).await;
    let r = expect(get(app, "/api/me/interpreter-offers", &token).await, 200, "");
    r.as_array().unwrap().iter().map(|o| o["request"].as_str().unwrap().to_string()).collect()
}

async fn answer(app: &TestApp, interpreter: &str, request: &str, what: &str) -> (u16, Value) {
    let token = app.login(interpreter).await;
    post(app, &format!("/api/interpreter-offers/{request}/{what}"), &token, json!({})).await
}

/// Who has a pending offer of the request now, by the scheduler's status.
fn pending(status: &Value) -> Vec<String> {
    status["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == "pending")
        .map(|o| o["interpreter"].as_str().unwrap().to_string())
        .collect()
}

/// The offers of the current round as (interpreter, outcome), oldest first.
fn history(status: &Value) -> Vec<(String, String)> {
    status["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["interpreter"].as_str().unwrap().to_string(), o["outcome"].as_str().unwrap().to_string()))
        .collect()
}

async fn appointment(app: &TestApp, scheduler: &str, id: &str) -> Value {
    expect(get(app, &format!("/api/appointments/{id}"), scheduler).await, 200, "")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------------------
// The stories

async fn decline_moves_the_offer_on_and_accept_reserves_the_interpreter(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;

    // Swedish: Aino and Sofia qualify (Sami signs only); equal level and load, so Aino is asked first.
    let r = request(
        &app,
        &scheduler,
        &first,
        json!({ "language": "sv", "modality": "remote_video",
                                                        "notes": "Benefit application, bring the form" }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["state"], "offered", "{r}");
    assert_eq!(pending(&r), ["tulkki-aino"]);
    assert!(r["offers"][0]["deadline"].is_string());
    assert_eq!(offers(&app, "tulkki-aino").await, [id.as_str()]);
    assert!(offers(&app, "tulkki-sofia").await.is_empty(), "one at a time");
    assert!(offers(&app, "tulkki-sami").await.is_empty(), "Sami does not interpret Swedish");

    // What the interpreter sees: enough to decide, nothing of the customer.
    let aino = app.login("tulkki-aino").await;
    let mine = expect(get(&app, "/api/me/interpreter-offers", &aino).await, 200, "");
    let offer = &mine[0];
    assert_eq!(offer["appointment"], first.as_str());
    assert_eq!(offer["start"], at(plain_monday(), 10, 0));
    assert_eq!(offer["service_point"], "mikkeli");
    assert_eq!((offer["language"].as_str(), offer["modality"].as_str()), (Some("sv"), Some("remote_video")));
    assert_eq!(offer["notes"], "Benefit application, bring the form");
    assert!(!mine.to_string().contains("case-4711"), "no customer reference for the interpreter: {mine}");

    // Aino declines: Sofia gets it.
    let a = expect(answer(&app, "tulkki-aino", &id, "decline").await, 200, "");
    assert_eq!(a["state"], "offered");
    assert!(offers(&app, "tulkki-aino").await.is_empty());
    assert_eq!(offers(&app, "tulkki-sofia").await, [id.as_str()]);
    expect(answer(&app, "tulkki-aino", &id, "accept").await, 409, "offer_closed");

    // Sofia declines too: nobody is left, the scheduler sees it exhausted and requests again (a new round).
    expect(answer(&app, "tulkki-sofia", &id, "decline").await, 200, "");
    let s = status(&app, &scheduler, &first).await;
    assert_eq!(s["state"], "exhausted", "{s}");
    assert_eq!(
        history(&s),
        [("tulkki-aino".to_string(), "declined".to_string()), ("tulkki-sofia".to_string(), "declined".to_string())]
    );
    let again = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id = again["id"].as_str().unwrap().to_string();
    assert_eq!(again["state"], "offered");
    let asked = pending(&again);
    assert_eq!(asked.len(), 1);
    let winner = asked[0].clone();
    let other = if winner == "tulkki-aino" { "tulkki-sofia" } else { "tulkki-aino" };
    // A live request is not duplicated.
    let path = format!("/api/appointments/{first}/interpreter-request");
    let dup = post(&app, &path, &scheduler, json!({ "language": "sv", "modality": "remote_video" })).await;
    expect(dup, 409, "interpreter_already_requested");
    // Nor by two schedulers racing for another appointment: one request is made, the other refused.
    let third = book_at(&app, &scheduler, "mikkeli-3", "kela-mikko", 13).await;
    let path3 = format!("/api/appointments/{third}/interpreter-request");
    let body = json!({ "language": "fse", "modality": "remote_video" });
    let (a, b) = tokio::join!(post(&app, &path3, &scheduler, body.clone()), post(&app, &path3, &scheduler, body));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");

    // Accept: the appointment is interpreted, the interpreter's time reserved (with the service's buffers).
    let a = expect(answer(&app, &winner, &id, "accept").await, 200, "");
    assert_eq!((a["state"].as_str(), a["assigned"].as_bool()), (Some("accepted"), Some(true)));
    let s = status(&app, &scheduler, &first).await;
    assert_eq!(s["assigned_interpreter"], winner.as_str());
    let booked = appointment(&app, &scheduler, &first).await;
    assert_eq!(strings(&booked["interpreters"]), [winner.as_str()]);
    let reservation =
        booked["reservations"].as_array().unwrap().iter().find(|r| r["kind"] == "interpreter").unwrap().clone();
    assert_eq!(
        (reservation["start"].clone(), reservation["active"].clone()),
        (json!(at(plain_monday(), 9, 55)), json!(true))
    );
    let token = app.login(&winner).await;
    let theirs = expect(get(&app, &format!("/api/me/appointments?date={}", plain_monday()), &token).await, 200, "");
    assert_eq!(theirs.as_array().unwrap().len(), 1, "the appointment is in the interpreter's own list");

    // Their time is taken: a second appointment at the same time is offered only to the other interpreter.
    let second = book(&app, &scheduler, "mikkeli-2", "kela-mikko").await;
    let r = request(&app, &scheduler, &second, json!({ "language": "sv", "modality": "remote_video" })).await;
    assert_eq!(pending(&r), [other.to_string()]);
    expect(answer(&app, other, r["id"].as_str().unwrap(), "decline").await, 200, "");
    assert_eq!(status(&app, &scheduler, &second).await["state"], "exhausted", "the busy interpreter is never asked");
    assert!(offers(&app, &winner).await.is_empty());
}

async fn an_unanswered_offer_expires_and_the_next_interpreter_is_asked(backend: Backend) {
    // Offers may be answered for 1.5 s here instead of the lead-time rule (a day for an appointment weeks away).
    let app = spawn_app_with(backend, |c| c.interpreter_offer_window_ms = Some(1_500)).await;
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    assert_eq!(pending(&r), ["tulkki-aino"]);

    // Nobody answers: Aino's offer expires, Sofia is asked, hers expires, and the request is exhausted.
    let done = eventually(Duration::from_secs(20), || async {
        status(&app, &scheduler, &first).await["state"] == "exhausted"
    })
    .await;
    let s = status(&app, &scheduler, &first).await;
    assert!(done, "the cascade ran out by its deadlines: {s}");
    assert_eq!(
        history(&s),
        [("tulkki-aino".to_string(), "expired".to_string()), ("tulkki-sofia".to_string(), "expired".to_string())]
    );
    let sent = |i: usize| s["offers"][i]["sent_at"].as_str().unwrap().to_string();
    let deadline = |i: usize| s["offers"][i]["deadline"].as_str().unwrap().to_string();
    assert!(sent(1) >= deadline(0), "Sofia was asked once Aino's time was up: {s}");
    // An expired offer cannot be accepted.
    expect(answer(&app, "tulkki-sofia", s["id"].as_str().unwrap(), "accept").await, 409, "offer_closed");
    assert!(appointment(&app, &scheduler, &first).await["interpreters"].as_array().unwrap().is_empty());
}

async fn racing_accepts_of_a_group_offer_end_with_exactly_one_interpreter(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(
        &app,
        &scheduler,
        &first,
        json!({ "language": "sv", "modality": "remote_video",
                                                        "group_size": 2 }),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    let mut both = pending(&r);
    both.sort();
    assert_eq!(both, ["tulkki-aino", "tulkki-sofia"], "a group of two is asked at once");

    let (a, b) = tokio::join!(answer(&app, "tulkki-aino", &id, "accept"), answer(&app, "tulkki-sofia", &id, "accept"));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "exactly one accept wins: {a:?} {b:?}");
    let loser = if a.0 == 409 { &a } else { &b };
    assert_eq!(loser.1["code"], "offer_closed");
    let winner = if a.0 == 200 { "tulkki-aino" } else { "tulkki-sofia" };
    let s = status(&app, &scheduler, &first).await;
    assert_eq!(s["assigned_interpreter"], winner);
    assert_eq!(s["offers"].as_array().unwrap().iter().filter(|o| o["outcome"] == "accepted").count(), 1);
    assert_eq!(strings(&appointment(&app, &scheduler, &first).await["interpreters"]), [winner]);
}

async fn withdrawal_puts_the_request_back_and_cancelling_the_appointment_releases_the_interpreter(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id = r["id"].as_str().unwrap().to_string();
    expect(answer(&app, "tulkki-aino", &id, "accept").await, 200, "");

    // Only the assigned interpreter withdraws.
    let sofia = app.login("tulkki-sofia").await;
    let path = format!("/api/interpreter-requests/{id}/withdraw");
    expect(post(&app, &path, &sofia, json!({})).await, 409, "not_assigned");
    let aino = app.login("tulkki-aino").await;
    let w = expect(post(&app, &path, &aino, json!({})).await, 200, "");
    assert_eq!((w["state"].as_str(), w["assigned"].as_bool()), (Some("offered"), Some(false)));
    let s = status(&app, &scheduler, &first).await;
    assert_eq!(s["assigned_interpreter"], Value::Null);
    assert_eq!(
        history(&s),
        [("tulkki-aino".to_string(), "cancelled".to_string()), ("tulkki-sofia".to_string(), "pending".to_string())],
        "back in the cascade, and Aino is not asked again"
    );
    assert!(appointment(&app, &scheduler, &first).await["interpreters"].as_array().unwrap().is_empty());

    // Sofia accepts; then the appointment is cancelled: the request ends and Sofia's time is free.
    expect(answer(&app, "tulkki-sofia", &id, "accept").await, 200, "");
    assert_eq!(strings(&appointment(&app, &scheduler, &first).await["interpreters"]), ["tulkki-sofia"]);
    let cancel = json!({ "reason": "the customer cancelled" });
    expect(post(&app, &format!("/api/appointments/{first}/cancel"), &scheduler, cancel).await, 200, "");
    let s = status(&app, &scheduler, &first).await;
    assert_eq!((s["state"].as_str(), s["cancel_reason"].as_str()), (Some("cancelled"), Some("appointment_cancelled")));
    assert_eq!(history(&s).last().unwrap().1, "released");
    let booked = appointment(&app, &scheduler, &first).await;
    assert!(booked["interpreters"].as_array().unwrap().is_empty(), "{booked}");
    // Released for real: a new appointment at the same time gets Sofia (Aino is offered first, and declines).
    let second = book(&app, &scheduler, "mikkeli-2", "kela-mikko").await;
    let r = request(&app, &scheduler, &second, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id2 = r["id"].as_str().unwrap().to_string();
    if pending(&r) == ["tulkki-aino"] {
        expect(answer(&app, "tulkki-aino", &id2, "decline").await, 200, "");
    }
    expect(answer(&app, "tulkki-sofia", &id2, "accept").await, 200, "");
    assert_eq!(strings(&appointment(&app, &scheduler, &second).await["interpreters"]), ["tulkki-sofia"]);
    // A cancelled appointment takes no new request.
    let path = format!("/api/appointments/{first}/interpreter-request");
    expect(
        post(&app, &path, &scheduler, json!({ "language": "sv", "modality": "remote_video" })).await,
        409,
        "appointment_closed",
    );
}

async fn sign_language_is_offered_to_signers_and_roles_decide_who_does_what(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let path = format!("/api/appointments/{first}/interpreter-request");

    // Bad input.
    expect(
        post(&app, &path, &scheduler, json!({ "language": "fse", "modality": "phone" })).await,
        422,
        "sign_language_needs_video",
    );
    expect(
        post(&app, &path, &scheduler, json!({ "language": "not a tag", "modality": "remote_video" })).await,
        400,
        "invalid_language",
    );
    expect(
        post(&app, &path, &scheduler, json!({ "language": "sv", "modality": "carrier_pigeon" })).await,
        400,
        "bad_request",
    );
    expect(
        post(&app, &path, &scheduler, json!({ "language": "sv", "modality": "phone", "group_size": 9 })).await,
        400,
        "bad_request",
    );
    let unknown = "/api/appointments/no-such/interpreter-request";
    expect(
        post(&app, unknown, &scheduler, json!({ "language": "sv", "modality": "remote_video" })).await,
        404,
        "unknown_appointment",
    );
    expect(get(&app, &path, &scheduler).await, 404, "no_interpreter_request");

    // Who may request: not an expert, not an interpreter, not another point's advisor; this point's advisor may.
    for who in ["kela-anna", "tulkki-sami"] {
        let token = app.login(who).await;
        expect(
            post(&app, &path, &token, json!({ "language": "fse", "modality": "remote_video" })).await,
            403,
            "forbidden",
        );
        expect(get(&app, &path, &token).await, 403, "forbidden");
    }
    let advisor = app.login("advisor-mikkeli").await;
    let r =
        expect(post(&app, &path, &advisor, json!({ "language": "fse", "modality": "remote_video" })).await, 201, "");
    let id = r["id"].as_str().unwrap().to_string();
    // Finnish Sign Language: only Sami signs it.
    assert_eq!(pending(&r), ["tulkki-sami"]);

    // Only interpreters answer offers, and only their own.
    let expert = app.login("kela-anna").await;
    expect(post(&app, &format!("/api/interpreter-offers/{id}/accept"), &expert, json!({})).await, 403, "forbidden");
    expect(get(&app, "/api/me/interpreter-offers", &expert).await, 403, "forbidden");
    expect(answer(&app, "tulkki-aino", &id, "accept").await, 409, "offer_closed");
    assert!(offers(&app, "tulkki-aino").await.is_empty(), "an interpreter sees only their own offers");
    expect(answer(&app, "tulkki-sami", "no-such", "accept").await, 404, "unknown_interpreter_request");
    expect(answer(&app, "tulkki-sami", &id, "accept").await, 200, "");
    assert_eq!(strings(&appointment(&app, &scheduler, &first).await["interpreters"]), ["tulkki-sami"]);
    let (status, _) = call(&app, "GET", "/api/me/interpreter-offers", None, None).await;
    assert_eq!(status, 401);
}

async fn offers_expire_across_a_restart_and_the_registry_follows_the_rooms_config(backend: Backend) {
    let mut app = spawn_app_with(backend, |c| c.interpreter_offer_window_ms = Some(2_000)).await;
    // The registry mirrors the rooms-config's interpreters with the documented defaults.
    let aino = app.server().store.get_interpreter("tulkki-aino").await.unwrap().expect("mirrored");
    let languages: Vec<(&str, i64)> = aino.languages.iter().map(|l| (l.language.as_str(), l.level)).collect();
    assert_eq!(languages, [("en", 2), ("fi", 2), ("sv", 2)]);
    assert_eq!(
        (aino.provider.as_str(), aino.remote_video, aino.phone, aino.active),
        ("rooms-config", true, false, true)
    );

    // An offer pending when the server stops still expires after the restart, and the request moves on.
    let scheduler = app.login("scheduler").await;
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    assert_eq!(pending(&r), ["tulkki-aino"]);
    app.restart().await;
    let scheduler = app.login("scheduler").await;
    let done = eventually(Duration::from_secs(20), || async {
        status(&app, &scheduler, &first).await["state"] == "exhausted"
    })
    .await;
    let s = status(&app, &scheduler, &first).await;
    assert!(done, "{s}");
    assert_eq!(
        history(&s),
        [("tulkki-aino".to_string(), "expired".to_string()), ("tulkki-sofia".to_string(), "expired".to_string())]
    );

    // Sofia no longer lists Swedish: after the reload she is not asked for it.
    let people = app.read_config("people.toml");
    assert!(people.contains(r#"languages = ["fss", "sv"]"#));
    app.write_config("people.toml", &people.replace(r#"languages = ["fss", "sv"]"#, r#"languages = ["fss"]"#));
    let store = app.server().store.clone();
    let reloaded = eventually(Duration::from_secs(10), || async {
        let sofia = store.get_interpreter("tulkki-sofia").await.unwrap().unwrap();
        sofia.languages.iter().map(|l| l.language.as_str()).collect::<Vec<_>>() == ["fss"]
    })
    .await;
    assert!(reloaded, "the registry follows the rooms-config");
    let second = book(&app, &scheduler, "mikkeli-2", "kela-mikko").await;
    let r = request(&app, &scheduler, &second, json!({ "language": "sv", "modality": "remote_video" })).await;
    assert_eq!(pending(&r), ["tulkki-aino"]);
    let done = eventually(Duration::from_secs(20), || async {
        status(&app, &scheduler, &second).await["state"] == "exhausted"
    })
    .await;
    let s = status(&app, &scheduler, &second).await;
    assert!(done, "{s}");
    assert_eq!(history(&s), [("tulkki-aino".to_string(), "expired".to_string())], "Sofia is not asked");
}

/// The registry entry of `id` in a listing.
fn entry<'v>(list: &'v Value, id: &str) -> &'v Value {
    list.as_array().unwrap().iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id} in {list}"))
}

async fn the_registry_is_edited_through_the_api_and_contacts_stay_private(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let admin = app.login("admin").await;

    // Seeded from the rooms-config, availability linked to the calendar model, no contact recorded yet.
    let list = expect(get(&app, "/api/interpreters", &scheduler).await, 200, "");
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["tulkki-aino", "tulkki-sami", "tulkki-sofia"]);
    let sami = entry(&list, "tulkki-sami");
    assert_eq!(sami["languages"], json!([{ "language": "fse", "level": "professional", "sign_language": true }]));
    assert_eq!((sami["source"].as_str(), sami["provider"]["id"].as_str()), (Some("seed"), Some("rooms-config")));
    assert_eq!(sami["modalities"], json!(["remote_video"]));
    assert_eq!(sami["availability"], "/api/calendar/availability/interpreter/tulkki-sami");
    assert_eq!(sami["contact"], Value::Null);
    assert!(sami.get("contact").is_some(), "a scheduler is told there is no contact yet: {sami}");

    // Providers: added (201), replaced (200), checked.
    let body = json!({ "name": "Tulkkikeskus Oy", "business_id": "1234567-8", "phone": "+358 9 123 4567" });
    expect(put(&app, "/api/interpreter-providers/tulkkikeskus", &scheduler, body.clone()).await, 201, "");
    let p = expect(put(&app, "/api/interpreter-providers/tulkkikeskus", &admin, body).await, 200, "");
    assert_eq!(p["business_id"], "1234567-8");
    let bad = json!({ "name": "X", "business_id": "12345" });
    expect(put(&app, "/api/interpreter-providers/x", &scheduler, bad).await, 422, "invalid_registry");
    let expert = app.login("kela-anna").await;
    expect(put(&app, "/api/interpreter-providers/x", &expert, json!({ "name": "X" })).await, 403, "forbidden");
    expect(get(&app, "/api/interpreter-providers/nope", &scheduler).await, 404, "unknown_provider");

    // Sofia: certified in Swedish, phone too, dispatched by the new provider. The edit is the entry's source.
    let path = "/api/interpreters/tulkki-sofia";
    let edit = json!({ "provider": "tulkkikeskus", "modalities": ["remote_video", "phone"],
                       "languages": [{ "language": "SV", "level": "certified" }, { "language": "fss", "level": "professional" }] });
    let e = expect(put(&app, path, &scheduler, edit.clone()).await, 200, "");
    assert_eq!(e["source"], "api");
    assert_eq!(e["provider"], json!({ "id": "tulkkikeskus", "name": "Tulkkikeskus Oy" }));
    assert_eq!(e["languages"][1], json!({ "language": "sv", "level": "certified", "sign_language": false }));
    assert_eq!(e["modalities"], json!(["remote_video", "phone"]));
    let mut wrong = edit.clone();
    wrong["provider"] = json!("nobody");
    expect(put(&app, path, &scheduler, wrong).await, 422, "unknown_provider");
    let mut wrong = edit.clone();
    wrong["languages"] = json!([{ "language": "not a tag", "level": "basic" }]);
    expect(put(&app, path, &scheduler, wrong).await, 400, "invalid_language");
    let mut wrong = edit.clone();
    wrong["modalities"] = json!(["phone"]);
    expect(put(&app, path, &scheduler, wrong).await, 422, "sign_language_needs_video");
    expect(put(&app, "/api/interpreters/kela-anna", &scheduler, edit.clone()).await, 404, "unknown_interpreter");
    for who in ["kela-anna", "advisor-mikkeli", "tulkki-sofia"] {
        let token = app.login(who).await;
        expect(put(&app, path, &token, edit.clone()).await, 403, "forbidden");
    }
    let providers = expect(get(&app, "/api/interpreter-providers", &expert).await, 200, "");
    assert_eq!(entry(&providers, "tulkkikeskus")["interpreters"], json!(["tulkki-sofia"]));

    // Matching uses the registry: Sofia, now certified, is asked before Aino.
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "phone" })).await;
    assert_eq!(pending(&r), ["tulkki-sofia"], "only Sofia works by phone");

    // Contact details: set by an admin, or by the interpreter themself; nobody else.
    let phone = "+358 40 765 4321";
    let email = "sami@tulkit.example";
    let c = expect(
        put(&app, "/api/interpreters/tulkki-sami/contact", &admin, json!({ "phone": phone, "email": email })).await,
        200,
        "",
    );
    assert_eq!((c["phone"].as_str(), c["email"].as_str()), (Some(phone), Some(email)));
    assert!(c["name"].is_string(), "the name defaults to the rooms-config's");
    let sofia = app.login("tulkki-sofia").await;
    let own = json!({ "phone": "+358 50 111 2222" });
    expect(put(&app, "/api/interpreters/tulkki-sofia/contact", &sofia, own).await, 200, "");
    let theirs = json!({ "phone": "+358 50 999" });
    expect(put(&app, "/api/interpreters/tulkki-sami/contact", &sofia, theirs.clone()).await, 403, "forbidden");
    expect(put(&app, "/api/interpreters/tulkki-sami/contact", &expert, theirs).await, 403, "forbidden");
    let bad = json!({ "email": "not an address" });
    expect(put(&app, "/api/interpreters/tulkki-sami/contact", &admin, bad).await, 422, "invalid_contact");

    // Who sees them: admins, schedulers, the interpreter themself.
    for token in [&admin, &scheduler] {
        let list = expect(get(&app, "/api/interpreters", token).await, 200, "");
        assert_eq!(entry(&list, "tulkki-sami")["contact"]["phone"], phone);
        let one = expect(get(&app, "/api/interpreters/tulkki-sami", token).await, 200, "");
        assert_eq!(one["contact"]["email"], email);
    }
    let sami = app.login("tulkki-sami").await;
    let own = expect(get(&app, "/api/interpreters/tulkki-sami", &sami).await, 200, "");
    assert_eq!(own["contact"]["phone"], phone);
    // Never experts, advisors or other interpreters: the field is absent, and the numbers appear nowhere.
    for who in ["kela-anna", "advisor-mikkeli", "tulkki-aino", "tulkki-sofia"] {
        let token = app.login(who).await;
        let list = expect(get(&app, "/api/interpreters", &token).await, 200, "");
        let one = expect(get(&app, "/api/interpreters/tulkki-sami", &token).await, 200, "");
        for v in [entry(&list, "tulkki-sami"), &one] {
            assert!(v.get("contact").is_none(), "{who} must not get Sami's contact: {v}");
        }
        let text = format!("{list}{one}");
        assert!(!text.contains(phone) && !text.contains(email), "{who} got a contact detail: {text}");
        if who == "tulkki-sofia" {
            assert_eq!(entry(&list, "tulkki-sofia")["contact"]["phone"], "+358 50 111 2222", "her own");
        } else {
            assert!(!text.contains("+358 50 111 2222"), "{who} got Sofia's number: {text}");
        }
    }
    // Devices do not read the registry at all.
    let device = app.device("mikkeli-1").await;
    expect(get(&app, "/api/interpreters", &device).await, 403, "forbidden");
    expect(get(&app, "/api/interpreters/tulkki-sami", &device).await, 403, "forbidden");
    expect(get(&app, "/api/interpreter-providers", &device).await, 403, "forbidden");
    // Nor does the audit log keep them.
    let audit = expect(get(&app, "/api/audit?limit=1000", &admin).await, 200, "");
    assert!(!audit.to_string().contains(phone) && !audit.to_string().contains(email), "{audit}");

    // The edit wins over the rooms-config: a reload that drops Sofia's Swedish changes nothing for her, while
    // Aino (never edited) follows the file. Reverting puts the rooms-config's version back.
    let people = app.read_config("people.toml");
    let people = people.replace(r#"languages = ["fss", "sv"]"#, r#"languages = ["fss"]"#);
    let (head, aino) = people.split_once(r#"id = "tulkki-aino""#).unwrap();
    let aino = aino.replacen(r#"languages = ["fi", "sv", "en"]"#, r#"languages = ["fi"]"#, 1);
    app.write_config("people.toml", &format!(r#"{head}id = "tulkki-aino"{aino}"#));
    let store = app.server().store.clone();
    let reloaded = eventually(Duration::from_secs(10), || async {
        let aino = store.get_interpreter("tulkki-aino").await.unwrap().unwrap();
        aino.languages.iter().map(|l| l.language.as_str()).collect::<Vec<_>>() == ["fi"]
    })
    .await;
    assert!(reloaded, "the never-edited entry follows the rooms-config");
    let e = expect(get(&app, path, &scheduler).await, 200, "");
    assert_eq!((e["source"].as_str(), e["languages"].as_array().unwrap().len()), (Some("api"), 2), "{e}");
    let e = expect(call(&app, "DELETE", path, Some(&scheduler), None).await, 200, "");
    assert_eq!(e["source"], "seed");
    assert_eq!(e["provider"]["id"], "rooms-config");
    assert_eq!(e["languages"], json!([{ "language": "fss", "level": "professional", "sign_language": true }]));
    assert_eq!(e["modalities"], json!(["remote_video"]));
}

// ---------------------------------------------------------------------------------------------------------
// Live notices over the signalling WebSocket

/// A connection watching with `who`'s access token.
async fn watcher(app: &TestApp, who: &str) -> Signal {
    let token = app.login(who).await;
    let mut s = app.signal().await;
    match s.watch(&token).await.expect("watch answered") {
        ServerMessage::Watching { .. } => s,
        other => panic!("expected watching, got {other:?}"),
    }
}

/// The next `changed` message, whatever it is.
async fn next_change(s: &mut Signal) -> (Topic, String) {
    loop {
        match s.recv(Duration::from_secs(10)).await.expect("a change arrives") {
            ServerMessage::Changed { topic, key } => return (topic, key),
            ServerMessage::Pong { .. } => continue,
            other => panic!("expected changed, got {other:?}"),
        }
    }
}

/// Reads changes until `topic` / `key` arrives (other changes may come first: each step of a request can push
/// more than one). Fails if it does not come among the next 50 or within 10 s of the last.
async fn told(s: &mut Signal, topic: Topic, key: &str) {
    let mut seen = Vec::new();
    for _ in 0..50 {
        let change = next_change(s).await;
        if change.0 == topic && change.1 == key {
            return;
        }
        seen.push(change);
    }
    panic!("never told of {topic:?} {key}; got {seen:?}");
}

async fn both_sides_are_told_of_every_answer_withdrawal_and_cancellation(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let mut sched_ws = watcher(&app, "scheduler").await;
    let mut aino_ws = watcher(&app, "tulkki-aino").await;
    let mut sofia_ws = watcher(&app, "tulkki-sofia").await;
    let mut sami_ws = watcher(&app, "tulkki-sami").await;

    // Requested: the scheduler sees the request, Aino her offer.
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id = r["id"].as_str().unwrap().to_string();
    told(&mut sched_ws, Topic::InterpreterRequests, &id).await;
    told(&mut aino_ws, Topic::InterpreterOffers, "tulkki-aino").await;

    // Aino declines: her offer is closed, Sofia is offered it, the scheduler sees the move.
    expect(answer(&app, "tulkki-aino", &id, "decline").await, 200, "");
    told(&mut aino_ws, Topic::InterpreterOffers, "tulkki-aino").await;
    told(&mut sofia_ws, Topic::InterpreterOffers, "tulkki-sofia").await;
    told(&mut sched_ws, Topic::InterpreterRequests, &id).await;

    // Sofia accepts: the request and the appointment (now interpreted) change for the scheduler.
    expect(answer(&app, "tulkki-sofia", &id, "accept").await, 200, "");
    told(&mut sofia_ws, Topic::InterpreterOffers, "tulkki-sofia").await;
    told(&mut sched_ws, Topic::InterpreterRequests, &id).await;
    told(&mut sched_ws, Topic::Appointments, &first).await;

    // Sofia withdraws: the scheduler is told, and sees who withdrew; Aino declined already, so nobody is left.
    let sofia = app.login("tulkki-sofia").await;
    expect(post(&app, &format!("/api/interpreter-requests/{id}/withdraw"), &sofia, json!({})).await, 200, "");
    told(&mut sched_ws, Topic::InterpreterRequests, &id).await;
    told(&mut sched_ws, Topic::Appointments, &first).await;
    told(&mut sofia_ws, Topic::InterpreterOffers, "tulkki-sofia").await;
    let s = status(&app, &scheduler, &first).await;
    assert_eq!((s["state"].as_str(), s["unfilled"].as_str()), (Some("exhausted"), Some("nobody_accepted")), "{s}");
    assert_eq!(history(&s)[1], ("tulkki-sofia".to_string(), "cancelled".to_string()), "the withdrawal shows: {s}");

    // The scheduler rebooks (requests again); Aino accepts this time.
    let again = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id2 = again["id"].as_str().unwrap().to_string();
    assert_eq!(again["unfilled"], Value::Null);
    told(&mut sched_ws, Topic::InterpreterRequests, &id2).await;
    let asked = pending(&again)[0].clone();
    expect(answer(&app, &asked, &id2, "accept").await, 200, "");
    let asked_ws = if asked == "tulkki-aino" { &mut aino_ws } else { &mut sofia_ws };
    told(asked_ws, Topic::InterpreterOffers, &asked).await;

    // The appointment is cancelled: the assigned interpreter is told and released.
    let cancel = json!({ "reason": "the customer cancelled" });
    expect(post(&app, &format!("/api/appointments/{first}/cancel"), &scheduler, cancel).await, 200, "");
    told(asked_ws, Topic::InterpreterOffers, &asked).await;
    told(&mut sched_ws, Topic::InterpreterRequests, &id2).await;
    let s = status(&app, &scheduler, &first).await;
    assert_eq!(s["cancel_reason"], "appointment_cancelled");
    let all = expect(get(&app, &format!("/api/appointments/{first}/interpreter-requests"), &scheduler).await, 200, "");
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id2.as_str(), id.as_str()], "every request, newest first");
    assert!(offers(&app, &asked).await.is_empty());
    let token = app.login(&asked).await;
    let mine = expect(get(&app, "/api/me/interpreter-assignments", &token).await, 200, "");
    let listed = mine.as_array().unwrap().iter().find(|a| a["request"] == id2.as_str()).expect("still listed");
    assert_eq!(
        (listed["state"].as_str(), listed["cancel_reason"].as_str()),
        (Some("cancelled"), Some("appointment_cancelled")),
        "{listed}"
    );

    // The scheduler cancels a request itself: Sami, assigned, is told; his time is free again. Sami heard
    // nothing of the Swedish request before: the first change he gets is this one.
    let second = book(&app, &scheduler, "mikkeli-2", "kela-mikko").await;
    let none =
        expect(get(&app, &format!("/api/appointments/{second}/interpreter-requests"), &scheduler).await, 200, "");
    assert_eq!(none, json!([]));
    let r = request(&app, &scheduler, &second, json!({ "language": "fse", "modality": "remote_video" })).await;
    let id3 = r["id"].as_str().unwrap().to_string();
    assert_eq!(next_change(&mut sami_ws).await, (Topic::InterpreterOffers, "tulkki-sami".to_string()));
    expect(answer(&app, "tulkki-sami", &id3, "accept").await, 200, "");
    told(&mut sami_ws, Topic::InterpreterOffers, "tulkki-sami").await;
    let cancel_path = format!("/api/interpreter-requests/{id3}/cancel");
    for who in ["kela-mikko", "tulkki-sami", "advisor-kiiminki"] {
        let token = app.login(who).await;
        expect(post(&app, &cancel_path, &token, json!({})).await, 403, "forbidden");
    }
    let c = expect(post(&app, &cancel_path, &scheduler, json!({})).await, 200, "");
    assert_eq!((c["state"].as_str(), c["cancel_reason"].as_str()), (Some("cancelled"), Some("no_longer_needed")));
    told(&mut sami_ws, Topic::InterpreterOffers, "tulkki-sami").await;
    told(&mut sched_ws, Topic::Appointments, &second).await;
    let token = app.login("tulkki-sami").await;
    let mine = expect(get(&app, "/api/me/interpreter-assignments", &token).await, 200, "");
    assert_eq!(
        (mine[0]["state"].as_str(), mine[0]["cancel_reason"].as_str()),
        (Some("cancelled"), Some("no_longer_needed")),
        "{mine}"
    );
    assert!(appointment(&app, &scheduler, &second).await["interpreters"].as_array().unwrap().is_empty());
    expect(post(&app, &cancel_path, &scheduler, json!({})).await, 409, "request_wrong_state");
    expect(
        post(&app, "/api/interpreter-requests/nope/cancel", &scheduler, json!({})).await,
        404,
        "unknown_interpreter_request",
    );
}

async fn the_scheduler_is_told_when_nobody_accepts_in_time(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.interpreter_offer_window_ms = Some(1_500)).await;
    let scheduler = app.login("scheduler").await;
    let mut sched_ws = watcher(&app, "scheduler").await;
    let mut aino_ws = watcher(&app, "tulkki-aino").await;
    let mut sofia_ws = watcher(&app, "tulkki-sofia").await;

    // Nobody qualifies at all (no Arabic interpreter): exhausted at once, and said why.
    let first = book(&app, &scheduler, "mikkeli-1", "kela-anna").await;
    let r = request(&app, &scheduler, &first, json!({ "language": "ar", "modality": "remote_video" })).await;
    assert_eq!((r["state"].as_str(), r["unfilled"].as_str()), (Some("exhausted"), Some("nobody_qualified")), "{r}");
    told(&mut sched_ws, Topic::InterpreterRequests, r["id"].as_str().unwrap()).await;

    // Swedish, nobody answers: each expiry is pushed to the interpreter whose offer expired and to the next one
    // asked, and the scheduler is pushed the end: exhausted, nobody accepted.
    let r = request(&app, &scheduler, &first, json!({ "language": "sv", "modality": "remote_video" })).await;
    let id = r["id"].as_str().unwrap().to_string();
    told(&mut aino_ws, Topic::InterpreterOffers, "tulkki-aino").await; // offered
    told(&mut aino_ws, Topic::InterpreterOffers, "tulkki-aino").await; // expired
    told(&mut sofia_ws, Topic::InterpreterOffers, "tulkki-sofia").await; // offered
    told(&mut sofia_ws, Topic::InterpreterOffers, "tulkki-sofia").await; // expired
    let mut last = Value::Null;
    for _ in 0..10 {
        told(&mut sched_ws, Topic::InterpreterRequests, &id).await;
        last = status(&app, &scheduler, &first).await;
        if last["state"] == "exhausted" {
            break;
        }
    }
    assert_eq!(
        (last["state"].as_str(), last["unfilled"].as_str()),
        (Some("exhausted"), Some("nobody_accepted")),
        "{last}"
    );
    assert_eq!(
        history(&last),
        [("tulkki-aino".to_string(), "expired".to_string()), ("tulkki-sofia".to_string(), "expired".to_string())]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Sign language in the room

/// `who` joins `room`; the `you` of their `joined`.
async fn joined_as(app: &TestApp, who: &str, room: &str) -> (Signal, wire::Participant) {
    let (s, r) = app.join(who, room).await;
    match r {
        Ok(ServerMessage::Joined { you, .. }) => (s, you),
        other => panic!("{who} joins {room}: {other:?}"),
    }
}

/// The `participant_joined` of `role` that `s` is told of next.
async fn next_joined(s: &mut Signal, role: &str) -> wire::Participant {
    s.wait_for(Duration::from_secs(10), |m| match m {
        ServerMessage::ParticipantJoined { participant } if participant.role == role => Some(participant.clone()),
        _ => None,
    })
    .await
    .unwrap_or_else(|e| panic!("no {role} joined: {e}"))
}

async fn a_sign_language_interpreter_is_flagged_in_the_room(backend: Backend) {
    let app = spawn_app(backend).await;

    // No appointment names them: the registry decides. Sami signs only (fse): flagged. Aino (fi, sv, en): not.
    app.open("mikkeli-1", &[("expert", "kela-anna"), ("interpreter", "tulkki-sami")]).await;
    let (mut device, _) = joined_as(&app, "mikkeli-1", "mikkeli-1").await;
    let (_sami, you) = joined_as(&app, "tulkki-sami", "mikkeli-1").await;
    assert!(you.sign_language, "{you:?}");
    assert!(next_joined(&mut device, "interpreter").await.sign_language, "the device sees the signer flagged");
    let json = serde_json::to_value(&you).unwrap();
    assert_eq!(json["sign_language"], true);
    app.open("mikkeli-2", &[("expert", "kela-mikko"), ("interpreter", "tulkki-aino")]).await;
    let (_aino, you) = joined_as(&app, "tulkki-aino", "mikkeli-2").await;
    assert!(!you.sign_language, "{you:?}");
    assert!(serde_json::to_value(&you).unwrap().get("sign_language").is_none(), "absent when false");

    // An appointment's request decides: Sofia (fss and sv in the registry, so not flagged by it) is assigned a
    // Finland-Swedish Sign Language request for an appointment that is on now.
    let store = app.server().store.clone();
    let minute = 60_000;
    let now = vayla_server::now_ms() as i64 / minute * minute;
    let (start, end) = (now - minute, now + 30 * minute);
    let reservation =
        |kind, id: &str| vayla_store::NewReservation { kind, resource_id: id.into(), start_ms: start, end_ms: end };
    store
        .book_appointment(&vayla_store::NewAppointment {
            id: "signed-now".into(),
            uid: "signed-now@vayla.test".into(),
            agency: "kela".into(),
            service: "kela-benefits".into(),
            service_point: "mikkeli".into(),
            device: "mikkeli-3".into(),
            start_ms: start,
            end_ms: end,
            customer_ref: None,
            needs: vayla_store::SpecialNeeds::default(),
            created_by: "scheduler".into(),
            created_at: now - 60 * minute,
            reservations: vec![
                reservation(vayla_store::ResourceKind::Device, "mikkeli-3"),
                reservation(vayla_store::ResourceKind::Expert, "kela-mikko"),
            ],
        })
        .await
        .unwrap();
    let request = vayla_store::NewInterpreterRequest {
        id: "signed-now-fss".into(),
        appointment_id: "signed-now".into(),
        language: "fss".into(),
        modality: "remote_video".into(),
        min_level: 2,
        notes: None,
        group_size: 1,
        buffer_before_ms: 0,
        buffer_after_ms: 0,
        created_by: "scheduler".into(),
        created_at: now - 60 * minute,
    };
    store.create_interpreter_request(&request).await.unwrap();
    let offer = vayla_store::NewOffer { interpreter_id: "tulkki-sofia".into(), deadline: now + 60 * minute };
    store.record_offers("signed-now-fss", &[offer], "test", now - 60 * minute).await.unwrap();
    store.accept_offer("signed-now-fss", "tulkki-sofia", "tulkki-sofia", now - 59 * minute).await.unwrap();
    let (mut device, _) = joined_as(&app, "mikkeli-3", "mikkeli-3").await;
    let (_sofia, you) = joined_as(&app, "tulkki-sofia", "mikkeli-3").await;
    assert!(you.sign_language, "the request's language decides: {you:?}");
    assert!(next_joined(&mut device, "interpreter").await.sign_language);
}

on_both_backends!(
    a_sign_language_interpreter_is_flagged_in_the_room,
    both_sides_are_told_of_every_answer_withdrawal_and_cancellation,
    the_scheduler_is_told_when_nobody_accepts_in_time,
    the_registry_is_edited_through_the_api_and_contacts_stay_private,
    decline_moves_the_offer_on_and_accept_reserves_the_interpreter,
    an_unanswered_offer_expires_and_the_next_interpreter_is_asked,
    racing_accepts_of_a_group_offer_end_with_exactly_one_interpreter,
    withdrawal_puts_the_request_back_and_cancelling_the_appointment_releases_the_interpreter,
    sign_language_is_offered_to_signers_and_roles_decide_who_does_what,
    offers_expire_across_a_restart_and_the_registry_follows_the_rooms_config,
);
