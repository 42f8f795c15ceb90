//! Watching for changes over the signalling WebSocket (`watch` → `watching`, then `changed`), against the real
//! server: who is told of what, that a bad token is refused without closing the connection, that a watch works
//! with or without a room, and that `unwatch` stops the messages. Booking changes are the publisher here; the
//! walk-in queue and interpreter offers have their own stories in their own files.

use crate::common::http::post;
use crate::common::{spawn_app, Backend, TestApp};
use serde_json::json;
use std::time::Duration;
use vayla_client::{ClientError, Signal};
use vayla_protocol::{ClientMessage, ErrorCode, ServerMessage, Topic};

const QUIET: Duration = Duration::from_millis(400);
const WAIT: Duration = Duration::from_secs(10);

/// A connection that said hello and watches with `who`'s access token; the topics it was given.
async fn watching(app: &TestApp, token: &str) -> (Signal, Vec<Topic>) {
    let mut s = app.signal().await;
    match s.watch(token).await.expect("watch answered") {
        ServerMessage::Watching { topics, .. } => (s, topics),
        other => panic!("expected watching, got {other:?}"),
    }
}

/// The next `changed` message within `WAIT`, skipping nothing else (a watcher outside a room gets nothing else).
async fn next_change(s: &mut Signal) -> (Topic, String) {
    match s.recv(WAIT).await.expect("a change arrives") {
        ServerMessage::Changed { topic, key } => (topic, key),
        other => panic!("expected changed, got {other:?}"),
    }
}

/// Nothing arrives for a while (used only after a change that the watcher must not see has been published and
/// a change it must see, published later, has been received — so this is not a race but a check of order).
async fn nothing_more(s: &mut Signal) {
    if let Ok(m) = s.recv(QUIET).await {
        panic!("expected nothing more, got {m:?}");
    }
}

/// The first bookable slot of Kela's benefits service on `device` with `expert`, two to four weeks ahead.
async fn a_slot(app: &TestApp, scheduler: &str, device: &str, expert: &str) -> String {
    let today = vayla_domain::calendar::local_date(vayla_server::now_ms());
    let q = json!({ "service": "kela-benefits", "devices": [device], "expert": expert,
                    "from": (today + chrono::Duration::days(14)).to_string(),
                    "to": (today + chrono::Duration::days(28)).to_string() });
    let (status, r) = post(app, "/api/slots/search", scheduler, q).await;
    assert_eq!(status, 200, "{r}");
    r["slots"][0]["start"].as_str().expect("a free slot").to_string()
}

async fn watchers_are_told_of_changes_meant_for_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let anna = app.login("kela-anna").await;
    let liisa = app.login("vero-liisa").await;
    let advisor = app.login("advisor-mikkeli").await;
    let elsewhere = app.login("advisor-kiiminki").await;

    let (mut sched_ws, topics) = watching(&app, &scheduler).await;
    assert_eq!(topics, [Topic::InterpreterRequests, Topic::Appointments]);
    let (mut anna_ws, topics) = watching(&app, &anna).await;
    assert!(topics.contains(&Topic::WalkinQueue) && topics.contains(&Topic::Appointments), "{topics:?}");
    let (mut liisa_ws, _) = watching(&app, &liisa).await;
    let (mut advisor_ws, _) = watching(&app, &advisor).await;
    let (mut elsewhere_ws, _) = watching(&app, &elsewhere).await;

    // Booking Anna at Mikkeli tells the schedulers, Anna and Mikkeli's advisor — and nobody else.
    let start = a_slot(&app, &scheduler, "mikkeli-2", "kela-anna").await;
    let body = json!({ "service": "kela-benefits", "device": "mikkeli-2", "expert": "kela-anna", "start": start });
    let (status, booked) = post(&app, "/api/appointments", &scheduler, body).await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().unwrap().to_string();
    for ws in [&mut sched_ws, &mut anna_ws, &mut advisor_ws] {
        assert_eq!(next_change(ws).await, (Topic::Appointments, id.clone()));
    }

    // Cancelling it tells the same people again; Vero's expert and Kiiminki's advisor heard of neither change.
    let cancel = json!({ "reason": "customer called" });
    let (status, r) = post(&app, &format!("/api/appointments/{id}/cancel"), &scheduler, cancel).await;
    assert_eq!(status, 200, "{r}");
    for ws in [&mut sched_ws, &mut anna_ws, &mut advisor_ws] {
        assert_eq!(next_change(ws).await, (Topic::Appointments, id.clone()));
    }
    nothing_more(&mut liisa_ws).await;
    nothing_more(&mut elsewhere_ws).await;

    // After unwatch, nothing more comes.
    assert!(matches!(anna_ws.request(ClientMessage::Unwatch { id: None }).await.unwrap(), ServerMessage::Ok { .. }));
    let start = a_slot(&app, &scheduler, "mikkeli-2", "kela-anna").await;
    let body = json!({ "service": "kela-benefits", "device": "mikkeli-2", "expert": "kela-anna", "start": start });
    assert_eq!(post(&app, "/api/appointments", &scheduler, body).await.0, 201);
    assert_eq!(next_change(&mut sched_ws).await.0, Topic::Appointments);
    nothing_more(&mut anna_ws).await;
}

async fn watch_refuses_bad_tokens_and_works_inside_a_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut s = app.signal().await;
    match s.watch("garbage").await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::InvalidToken),
        other => panic!("expected invalid_token, got {other:?}"),
    }
    // A room token is not an access token.
    let anna = app.login("kela-anna").await;
    let client = vayla_client::Api::new(app.server().url());
    let room_token = client.join_token(&anna, "mikkeli-2").await.unwrap().token;
    match s.watch(&room_token).await {
        Err(ClientError::Refused { code, .. }) => assert_eq!(code, ErrorCode::WrongAudience),
        other => panic!("expected wrong_audience, got {other:?}"),
    }
    // The connection is still open and usable.
    assert!(matches!(s.request(ClientMessage::Ping { id: None }).await.unwrap(), ServerMessage::Pong { .. }));

    // A device in its room watches on the same connection and is told of its appointments.
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;
    let device_token = app.device("mikkeli-2").await;
    assert!(matches!(device.watch(&device_token).await.unwrap(), ServerMessage::Watching { .. }));
    let scheduler = app.login("scheduler").await;
    let start = a_slot(&app, &scheduler, "mikkeli-2", "kela-anna").await;
    let body = json!({ "service": "kela-benefits", "device": "mikkeli-2", "expert": "kela-anna", "start": start });
    let (status, booked) = post(&app, "/api/appointments", &scheduler, body).await;
    assert_eq!(status, 201, "{booked}");
    let key = booked["id"].as_str().unwrap().to_string();
    let got = device
        .wait_for(WAIT, |m| match m {
            ServerMessage::Changed { topic, key } => Some((*topic, key.clone())),
            _ => None,
        })
        .await
        .expect("the device hears of its appointment");
    assert_eq!(got, (Topic::Appointments, key));
}

on_both_backends!(watchers_are_told_of_changes_meant_for_them, watch_refuses_bad_tokens_and_works_inside_a_room);
