//! Into the room at the appointment's time, told as stories against the real server: the booked device and
//! expert open the appointment's session and the room locks with exactly the booked seats; an expert who is not
//! booked is refused; joining too early is refused with the start time; a cancelled appointment opens nothing;
//! a reserved interpreter is a seat; a walk-in session keeps the room until it ends. Appointments are booked
//! through the store directly. Every story runs on SQLite and on PostgreSQL.

use crate::common::{spawn_app, spawn_app_with, Backend, TestApp, WAIT};
use serde_json::Value;
use vayla_client::{ClientError, Signal};
use vayla_domain::room::iso_utc;
use vayla_protocol::{ClientMessage, ErrorCode, RoomState, ServerMessage};
use vayla_store::{NewAppointment, NewReservation, ResourceKind, SpecialNeeds};

const MIN: i64 = 60_000;
const ROOM: &str = "mikkeli-2";
/// The customer reference booked with every appointment here: it must never show in the audit log.
const CUSTOMER_REF: &str = "case-4711-private";

/// Now, to the minute (appointments start on whole minutes, so their times print exactly).
fn this_minute() -> i64 {
    vayla_server::now_ms() as i64 / MIN * MIN
}

/// Book `expert` and the room's device for `[start, end)` through the store.
async fn book(app: &TestApp, id: &str, expert: &str, start: i64, end: i64) {
    let reservation = |kind, resource_id: &str| NewReservation {
        kind,
        resource_id: resource_id.into(),
        start_ms: start,
        end_ms: end,
    };
    let appointment = NewAppointment {
        id: id.into(),
        uid: format!("{id}@vayla.test"),
        agency: "kela".into(),
        service: "kela-general".into(),
        service_point: "mikkeli".into(),
        device: ROOM.into(),
        start_ms: start,
        end_ms: end,
        customer_ref: Some(CUSTOMER_REF.into()),
        needs: SpecialNeeds::default(),
        created_by: "advisor-mikkeli".into(),
        created_at: this_minute(),
        reservations: vec![reservation(ResourceKind::Device, ROOM), reservation(ResourceKind::Expert, expert)],
    };
    app.server().store.book_appointment(&appointment).await.expect("the appointment is booked");
}

fn refused(r: Result<ServerMessage, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn room_state(app: &TestApp) -> Value {
    app.api.room(ROOM, None).await.unwrap()
}

async fn expect_locked(s: &mut Signal) {
    s.wait_for(WAIT, |m| matches!(m, ServerMessage::RoomLocked { .. }).then_some(())).await.expect("room_locked");
}

/// The room's seats as `seat` ids, from its live state.
async fn seat_ids(app: &TestApp) -> Vec<String> {
    let state = room_state(app).await;
    state["seats"].as_array().unwrap().iter().map(|s| s["seat"].as_str().unwrap().to_owned()).collect()
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let admin = app.login("admin").await;
    let path = format!("/api/audit?room={ROOM}{query}");
    let v: Value = app.api.call(reqwest::Method::GET, &path, Some(&admin), None).await.unwrap();
    v.as_array().unwrap().clone()
}

async fn the_booked_device_and_expert_open_the_room_at_the_appointments_time_and_it_locks(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = this_minute();
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;
    assert_eq!(room_state(&app).await["state"], "idle");

    // The device opens the appointment's session by joining: nobody called the session API.
    let (mut device, r) = app.join(ROOM, ROOM).await;
    let session_id = match r.unwrap() {
        ServerMessage::Joined { state, seats, session_id, .. } => {
            assert_eq!(state, RoomState::Gathering);
            let seats: Vec<(&str, &str)> = seats.iter().map(|s| (s.seat.as_str(), s.role.as_str())).collect();
            assert_eq!(seats, [("device", "device"), ("expert-1", "expert")]);
            session_id
        }
        m => panic!("expected joined, got {m:?}"),
    };
    let mut expert = app.joined("kela-anna", ROOM).await;
    expect_locked(&mut device).await;
    expect_locked(&mut expert).await;
    let state = room_state(&app).await;
    assert_eq!(state["state"], "locked");
    assert_eq!(seat_ids(&app).await, ["device", "expert-1"], "exactly the booked seats");

    // The store knows which appointment the session is for.
    let record = app.server().store.session(&session_id).await.unwrap().expect("the session is recorded");
    assert_eq!(record.appointment_id.as_deref(), Some("appt-1"));
    // The audit log says so, and never names the customer.
    let opened = audit(&app, "&kind=session_opened").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["detail"], "appointment:appt-1");
    assert_eq!(opened[0]["subject"], ROOM);
    let everything = serde_json::to_string(&audit(&app, "").await).unwrap();
    assert!(!everything.contains(CUSTOMER_REF), "the customer reference leaked into the audit log");

    // A seat holder's drop and reconnect work as in any session.
    expert.drop_connection().await;
    let (_back, r) = app.join("kela-anna", ROOM).await;
    assert!(matches!(r.unwrap(), ServerMessage::Joined { state: RoomState::Locked, .. }));
}

async fn an_expert_not_booked_for_the_slot_cannot_join_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = this_minute();
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;

    // Another Kela expert, with a valid room token for this room: refused in the idle room ...
    let (_, r) = app.join("kela-mikko", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NotBooked);
    assert_eq!(room_state(&app).await["state"], "idle", "a refused join opens nothing");
    // ... while the session gathers (not admitted as a guest, as in a walk-in) ...
    let mut device = app.joined(ROOM, ROOM).await;
    let (_, r) = app.join("kela-mikko", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NotBooked);
    // ... and once it is locked.
    let _expert = app.joined("kela-anna", ROOM).await;
    expect_locked(&mut device).await;
    let (mut mikko, r) = app.join("kela-mikko", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NotBooked);
    // The refusal is not fatal: the connection stays usable.
    assert!(matches!(mikko.request(ClientMessage::Ping { id: None }).await.unwrap(), ServerMessage::Pong { .. }));

    let refusals = audit(&app, "&kind=refused").await;
    let by_mikko: Vec<&Value> = refusals.iter().filter(|e| e["subject"] == "kela-mikko").collect();
    assert_eq!(by_mikko.len(), 3, "{refusals:?}");
    assert!(by_mikko.iter().all(|e| e["detail"] == "not_booked" && e["role"] == "expert"));
    assert_eq!(seat_ids(&app).await, ["device", "expert-1"]);
}

async fn joining_two_hours_early_is_refused_with_the_start_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let start = this_minute() + 120 * MIN;
    book(&app, "appt-1", "kela-anna", start, start + 30 * MIN).await;

    let access = app.login("kela-anna").await;
    let token = app.api.join_token(&access, ROOM).await.unwrap().token;
    let mut s = app.signal().await;
    s.send(&ClientMessage::Join { id: Some("j1".into()), room: ROOM.into(), token }).await.unwrap();
    let error = s
        .wait_for(WAIT, |m| {
            matches!(m, ServerMessage::Error { id, .. } if id.as_deref() == Some("j1")).then(|| m.clone())
        })
        .await
        .unwrap();
    let ServerMessage::Error { code, message, starts_at, opens_at, .. } = error else { unreachable!() };
    assert_eq!(code, ErrorCode::TooEarly);
    let (starts, opens) = (iso_utc(start as u64), iso_utc((start - 10 * MIN) as u64));
    assert_eq!(starts_at.as_deref(), Some(starts.as_str()), "the start, machine-readable");
    assert_eq!(opens_at.as_deref(), Some(opens.as_str()), "ten minutes early by default");
    assert!(message.contains(&starts), "the start is in the message too: {message}");
    assert_eq!(room_state(&app).await["state"], "idle");

    // The device simply has no session yet and keeps waiting, as it always has.
    let (_, r) = app.join(ROOM, ROOM).await;
    assert_eq!(refused(r), ErrorCode::NoSession);
    let refusals = audit(&app, "&kind=refused").await;
    assert!(refusals.iter().any(|e| e["subject"] == "kela-anna" && e["detail"] == "too_early"), "{refusals:?}");
}

async fn joining_within_the_early_window_opens_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let start = this_minute() + 5 * MIN;
    book(&app, "appt-1", "kela-anna", start, start + 30 * MIN).await;
    let (_expert, r) = app.join("kela-anna", ROOM).await;
    match r.unwrap() {
        ServerMessage::Joined { state, you, .. } => {
            assert_eq!(state, RoomState::Gathering);
            assert_eq!(you.seat.as_deref(), Some("expert-1"));
        }
        m => panic!("expected joined, got {m:?}"),
    }
    assert_eq!(seat_ids(&app).await, ["device", "expert-1"]);
}

async fn the_early_window_is_configurable(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.appointment_join_early_min = 2).await;
    let start = this_minute() + 5 * MIN;
    book(&app, "appt-1", "kela-anna", start, start + 30 * MIN).await;
    let (_, r) = app.join("kela-anna", ROOM).await;
    match r {
        Err(ClientError::Refused { code: ErrorCode::TooEarly, message }) => {
            assert!(message.contains(&iso_utc((start - 2 * MIN) as u64)), "{message}")
        }
        other => panic!("expected too_early, got {other:?}"),
    }
}

async fn a_cancelled_appointment_does_not_open_the_room(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = this_minute();
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;
    app.server().store.cancel_appointment("appt-1", "customer called", "advisor-mikkeli", now).await.unwrap();

    let (_, r) = app.join("kela-anna", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NoSession);
    let (_, r) = app.join(ROOM, ROOM).await;
    assert_eq!(refused(r), ErrorCode::NoSession);
    assert_eq!(room_state(&app).await["state"], "idle");
    // The time is free again for a walk-in.
    app.open(ROOM, &[("expert", "kela-mikko")]).await;
    app.joined("kela-mikko", ROOM).await;
}

async fn a_reserved_interpreter_is_a_seat_and_the_room_locks_only_after_they_join(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = this_minute();
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;
    app.server().store.reserve_interpreter("appt-1", "tulkki-aino", None, "advisor-mikkeli", now).await.unwrap();

    let mut device = app.joined(ROOM, ROOM).await;
    let _expert = app.joined("kela-anna", ROOM).await;
    // Both joins were answered, so the room has judged them: the interpreter's seat is still empty.
    let state = room_state(&app).await;
    assert_eq!(state["state"], "gathering", "{state}");
    assert_eq!(seat_ids(&app).await, ["device", "expert-1", "interpreter-1"]);

    let (mut interpreter, r) = app.join("tulkki-aino", ROOM).await;
    assert!(matches!(r.unwrap(), ServerMessage::Joined { .. }));
    expect_locked(&mut interpreter).await;
    expect_locked(&mut device).await;
    assert_eq!(room_state(&app).await["state"], "locked");
    // Another interpreter is not booked.
    let (_, r) = app.join("tulkki-sami", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NotBooked);
}

async fn a_walk_in_session_keeps_the_room_until_it_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = this_minute();
    app.open(ROOM, &[("expert", "vero-liisa")]).await;
    let _device = app.joined(ROOM, ROOM).await;
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;

    // The appointment's expert is not let into another customer's meeting.
    let (_, r) = app.join("kela-anna", ROOM).await;
    assert_eq!(refused(r), ErrorCode::SessionOpen);
    // The walk-in goes on by its own rules.
    let _walk_in_expert = app.joined("vero-liisa", ROOM).await;
    assert_eq!(room_state(&app).await["state"], "locked");

    // When it ends, the appointment's expert opens the appointment's session.
    let advisor = app.login("advisor-mikkeli").await;
    app.api.end_session(&advisor, ROOM).await.unwrap();
    let (_, r) = app.join("kela-anna", ROOM).await;
    assert!(matches!(r.unwrap(), ServerMessage::Joined { state: RoomState::Gathering, .. }));
    assert_eq!(seat_ids(&app).await, ["device", "expert-1"]);
}

async fn an_appointments_session_survives_a_restart_and_still_refuses_the_unbooked(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let now = this_minute();
    book(&app, "appt-1", "kela-anna", now - 5 * MIN, now + 25 * MIN).await;
    app.joined(ROOM, ROOM).await;
    app.restart().await;

    let (_, r) = app.join("kela-mikko", ROOM).await;
    assert_eq!(refused(r), ErrorCode::NotBooked);
    let _device = app.joined(ROOM, ROOM).await;
    let mut expert = app.joined("kela-anna", ROOM).await;
    expect_locked(&mut expert).await;
}

on_both_backends!(
    the_booked_device_and_expert_open_the_room_at_the_appointments_time_and_it_locks,
    an_expert_not_booked_for_the_slot_cannot_join_it,
    joining_two_hours_early_is_refused_with_the_start_time,
    joining_within_the_early_window_opens_the_room,
    the_early_window_is_configurable,
    a_cancelled_appointment_does_not_open_the_room,
    a_reserved_interpreter_is_a_seat_and_the_room_locks_only_after_they_join,
    a_walk_in_session_keeps_the_room_until_it_ends,
    an_appointments_session_survives_a_restart_and_still_refuses_the_unbooked,
);
