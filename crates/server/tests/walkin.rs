//! The walk-in queue over REST, told as stories against the real server with the demo rooms-config: Kela takes
//! walk-ins (`kela-anna`: every Kela service, fi/sv; `kela-mikko`: only `kela-benefits`, fi/en), Vero, Poliisi and
//! TE serve by appointment only, DVV in fixed windows; `tulkki-sami` interprets Finnish Sign Language (`fse`).
//! Queue order and routing, racing accepts (one wins), a restart that loses nothing, the estimated wait, who may
//! do what, the accepted expert (and interpreter) joining the device's room until it locks, cancellation and the
//! timeouts. Every story runs on SQLite and on PostgreSQL.

use crate::common::http::{call, expect, get, post};
use crate::common::{eventually, spawn_app, spawn_app_with, Backend, TestApp, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
use vayla_protocol::{ServerMessage, Topic};

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// A timekeeper backstop longer than any test: a ticket that moves on in time was moved by its deadline, its
/// announcement or its session's end, not by a periodic look.
const NEVER_MS: u64 = 600_000;

async fn on_duty(app: &TestApp, who: &str) -> String {
    let token = app.login(who).await;
    let r = call(app, "PUT", "/api/walkin/duty", Some(&token), Some(json!({ "on_duty": true }))).await;
    assert_eq!(expect(r, 200, "")["on_duty"], true);
    token
}

/// The device asks for itself.
async fn ask(app: &TestApp, device: &str, body: Value) -> Value {
    let token = app.device(device).await;
    expect(post(app, "/api/walkin/tickets", &token, body).await, 201, "")
}

async fn ticket(app: &TestApp, id: &str) -> Value {
    let admin = app.login("admin").await;
    expect(get(app, &format!("/api/walkin/tickets/{id}"), &admin).await, 200, "")
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

async fn queue_of(app: &TestApp, token: &str) -> Value {
    expect(get(app, "/api/walkin/queue", token).await, 200, "")
}

async fn room_state(app: &TestApp, room: &str) -> Value {
    app.api.room(room, None).await.unwrap()
}

async fn locked(signal: &mut vayla_client::Signal) -> bool {
    signal.wait_for(WAIT, |m| matches!(m, ServerMessage::RoomLocked { .. }).then_some(())).await.is_ok()
}

// ---------------------------------------------------------------------------------------------------------
// Stories

/// Each expert sees, first come first served, the tickets of their agency they can take (service, language or an
/// interpreter); interpreters see those asking for their language; appointment-only agencies offer a booking.
async fn queue_order_and_routing(backend: Backend) {
    let app = spawn_app(backend).await;
    let anna = on_duty(&app, "kela-anna").await;
    let mikko = on_duty(&app, "kela-mikko").await;
    let sami = on_duty(&app, "tulkki-sami").await;
    let aino = on_duty(&app, "tulkki-aino").await;

    let a = ask(&app, "mikkeli-1", json!({ "agency": "kela", "service": "kela-pension", "language": "fi" })).await;
    // An advisor asks for a device of their service point.
    let advisor = app.login("advisor-mikkeli").await;
    let b = expect(
        post(
            &app,
            "/api/walkin/tickets",
            &advisor,
            json!({ "device": "mikkeli-2", "agency": "kela", "service": "kela-benefits", "language": "en" }),
        )
        .await,
        201,
        "",
    );
    let c = ask(&app, "kiiminki-1", json!({ "agency": "kela", "language": "sv" })).await;
    let d =
        ask(&app, "parainen-1", json!({ "agency": "kela", "language": "fse", "interpreter_language": "fse" })).await;
    for (t, pos) in [(&a, 1), (&b, 2), (&c, 3), (&d, 4)] {
        assert_eq!(t["status"], "waiting");
        assert_eq!(t["position"], pos, "{t}");
        assert_eq!(t["room"], t["device"]);
    }
    assert!(b["created_at"].as_str() <= c["created_at"].as_str());

    // Anna: every service, fi/sv; Mikko: benefits only, fi/en. An interpreter covers any customer language.
    let qa = queue_of(&app, &anna).await;
    assert_eq!(ids(&qa["tickets"]), [&a["id"], &c["id"], &d["id"]].map(|v| v.as_str().unwrap().to_string()));
    assert_eq!(qa["agency"], "kela");
    assert_eq!(qa["on_duty"], true);
    let qm = queue_of(&app, &mikko).await;
    assert_eq!(ids(&qm["tickets"]), [&b["id"], &d["id"]].map(|v| v.as_str().unwrap().to_string()));
    assert!(qm["tickets"][0]["waited_s"].is_u64());
    assert_eq!(qm["tickets"][0]["service_point_name"], "Mikkelin yhteispalvelupiste");
    assert_eq!(ids(&queue_of(&app, &sami).await["tickets"]), [d["id"].as_str().unwrap()]);
    assert!(ids(&queue_of(&app, &aino).await["tickets"]).is_empty());
    let liisa = on_duty(&app, "vero-liisa").await;
    assert!(ids(&queue_of(&app, &liisa).await["tickets"]).is_empty());

    // Only qualified people accept.
    let path = |t: &Value| format!("/api/walkin/tickets/{}/accept", t["id"].as_str().unwrap());
    expect(post(&app, &path(&b), &anna, json!({})).await, 403, "not_qualified");
    expect(post(&app, &path(&a), &liisa, json!({})).await, 403, "not_qualified");
    expect(post(&app, &path(&a), &aino, json!({})).await, 403, "not_qualified");
    let advisor_accepts = post(&app, &path(&a), &advisor, json!({})).await;
    expect(advisor_accepts, 403, "forbidden");
    // Off duty: no accepting.
    let off = call(&app, "PUT", "/api/walkin/duty", Some(&mikko), Some(json!({ "on_duty": false }))).await;
    assert_eq!(expect(off, 200, "")["on_duty"], false);
    expect(post(&app, &path(&b), &mikko, json!({})).await, 409, "off_duty");

    // Taking a ticket moves everyone behind it up.
    let taken = expect(post(&app, &path(&a), &anna, json!({})).await, 200, "");
    assert_eq!(taken["status"], "accepted");
    assert_eq!(ticket(&app, b["id"].as_str().unwrap()).await["position"], 1);
    assert_eq!(ticket(&app, d["id"].as_str().unwrap()).await["position"], 3);
    assert_eq!(ids(&queue_of(&app, &anna).await["mine"]), [a["id"].as_str().unwrap()]);

    // Routing: appointment-only agencies (and fixed windows) refuse walk-ins and offer bookable slots instead.
    let device = app.device("mikkeli-3").await;
    let agencies = expect(get(&app, "/api/walkin/agencies", &device).await, 200, "");
    let walk_in: Vec<&str> = agencies
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["walk_in"] == true)
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(walk_in, ["kela"]);
    assert_eq!(agencies[0]["services"][0]["id"], "kela-benefits");
    for agency in ["vero", "poliisi", "te", "dvv"] {
        let r = post(&app, "/api/walkin/tickets", &device, json!({ "agency": agency, "language": "fi" })).await;
        let body = expect(r, 409, "appointment_only");
        assert!(body["slots"].is_array(), "{body}");
        assert_eq!(body["book_at"], "/scheduler.html");
        assert_eq!(body["agency"], agency);
    }
    let r = post(
        &app,
        "/api/walkin/tickets",
        &device,
        json!({ "agency": "vero", "service": "vero-taxation", "language": "fi" }),
    )
    .await;
    let body = expect(r, 409, "appointment_only");
    assert_eq!(body["service"], "vero-taxation");
    let slots = body["slots"].as_array().unwrap();
    assert!(!slots.is_empty() && slots.len() <= 3, "the next few slots for this device: {body}");
    assert!(slots.iter().all(|s| s["devices"] == json!(["mikkeli-3"])), "{body}");

    // Bad requests.
    let bad = |body: Value| post(&app, "/api/walkin/tickets", &device, body);
    expect(bad(json!({ "agency": "migri", "language": "fi" })).await, 404, "unknown_agency");
    expect(
        bad(json!({ "agency": "kela", "service": "vero-taxation", "language": "fi" })).await,
        422,
        "unknown_service",
    );
    expect(bad(json!({ "agency": "kela", "language": "Suomi!" })).await, 400, "invalid_language");
    expect(bad(json!({ "agency": "kela", "language": "de" })).await, 422, "no_qualified_expert");
    expect(
        bad(json!({ "agency": "kela", "language": "de", "interpreter_language": "de" })).await,
        422,
        "no_qualified_interpreter",
    );
    expect(bad(json!({ "agency": "kela" })).await, 400, "bad_request");
    // One open ticket per device.
    let m1 = app.device("mikkeli-1").await;
    expect(
        post(&app, "/api/walkin/tickets", &m1, json!({ "agency": "kela", "language": "fi" })).await,
        409,
        "ticket_open",
    );
}

/// Racing accepts of one ticket over HTTP: one 200, every other 409; the winner's session is the room's.
async fn racing_accepts(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = [on_duty(&app, "kela-anna").await, on_duty(&app, "kela-mikko").await];
    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "service": "kela-benefits", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/walkin/tickets/{id}/accept", app.server().url());
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (url, token) = (url.clone(), tokens[i % 2].clone());
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new().post(url).bearer_auth(token).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }));
    }
    let mut wins = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => wins.push(body),
            409 => assert!(["ticket_taken", "room_busy"].contains(&body["code"].as_str().unwrap()), "{body}"),
            s => panic!("unexpected {s} {body}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one accept wins");
    let won = &wins[0];
    let stored = ticket(&app, &id).await;
    assert_eq!(stored["expert"], won["expert"]);
    assert_eq!(stored["status"], "accepted");
    let room = room_state(&app, "mikkeli-1").await;
    assert_eq!(room["session_id"], stored["session_id"]);
    assert_eq!(room["state"], "gathering");
    assert_eq!(room["seats"].as_array().unwrap().len(), 2, "the device and the winner: {room}");
}

/// Tickets live in the database: a new server process on the same database sees the queue unchanged and goes on.
async fn restart_keeps_the_queue(backend: Backend) {
    let mut app = spawn_app(backend).await;
    on_duty(&app, "kela-anna").await;
    let first = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let second = ask(&app, "mikkeli-2", json!({ "agency": "kela", "language": "sv", "service": "kela-pension" })).await;
    let third =
        ask(&app, "kiiminki-1", json!({ "agency": "kela", "language": "fse", "interpreter_language": "fse" })).await;
    let anna = app.login("kela-anna").await;
    let accepted = expect(
        post(&app, &format!("/api/walkin/tickets/{}/accept", first["id"].as_str().unwrap()), &anna, json!({})).await,
        200,
        "",
    );
    let admin = app.login("admin").await;
    let before = expect(get(&app, "/api/walkin/tickets", &admin).await, 200, "");
    assert_eq!(ids(&before).len(), 3);

    app.restart().await;

    let admin = app.login("admin").await;
    let after = expect(get(&app, "/api/walkin/tickets", &admin).await, 200, "");
    assert_eq!(ids(&after), ids(&before), "the same open tickets in the same order");
    for (b, a) in before.as_array().unwrap().iter().zip(after.as_array().unwrap()) {
        for field in ["status", "position", "expert", "session_id", "created_at", "version", "agency", "language"] {
            assert_eq!(a[field], b[field], "{field} of {}", a["id"]);
        }
    }
    // The accepted ticket's session was taken up by the room; the expert is still on duty and the queue goes on.
    assert_eq!(room_state(&app, "mikkeli-1").await["session_id"], accepted["session_id"]);
    let anna = app.login("kela-anna").await;
    let q = queue_of(&app, &anna).await;
    assert_eq!(q["on_duty"], true);
    assert_eq!(ids(&q["tickets"]), [second["id"].as_str().unwrap(), third["id"].as_str().unwrap()]);
    expect(
        post(&app, &format!("/api/walkin/tickets/{}/accept", second["id"].as_str().unwrap()), &anna, json!({})).await,
        200,
        "",
    );
}

/// The estimate through the API: unknown with nobody on duty, nothing for the first ticket with a free expert, a
/// session's length per place with one expert, and shorter with more experts.
async fn estimate_sanity(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({ "agency": "kela", "service": "kela-benefits", "language": "fi" });
    let first = ask(&app, "mikkeli-1", body.clone()).await;
    assert_eq!(first["position"], 1);
    assert_eq!(first["estimated_wait_s"], Value::Null, "nobody on duty: no estimate");
    assert_eq!(first["experts_on_duty"], 0);
    on_duty(&app, "kela-anna").await;
    let second = ask(&app, "mikkeli-2", body.clone()).await;
    let third = ask(&app, "mikkeli-3", body.clone()).await;
    let (f, s, t) = (
        ticket(&app, first["id"].as_str().unwrap()).await,
        ticket(&app, second["id"].as_str().unwrap()).await,
        ticket(&app, third["id"].as_str().unwrap()).await,
    );
    assert_eq!(f["experts_on_duty"], 1);
    assert_eq!(f["estimated_wait_s"], 0, "a free expert takes the first at once");
    // kela-benefits lasts 30 minutes: one expert takes one customer per 30 minutes.
    assert_eq!(s["estimated_wait_s"], 30 * 60);
    assert_eq!(t["estimated_wait_s"], 60 * 60);
    // A second expert halves the line.
    on_duty(&app, "kela-mikko").await;
    let (s2, t2) =
        (ticket(&app, second["id"].as_str().unwrap()).await, ticket(&app, third["id"].as_str().unwrap()).await);
    assert_eq!(s2["experts_on_duty"], 2);
    assert_eq!(s2["estimated_wait_s"], 0);
    assert_eq!(t2["estimated_wait_s"], 30 * 60);
    assert!(t2["estimated_wait_s"].as_u64() >= s2["estimated_wait_s"].as_u64());
    // Anna takes the first: she is in a session now, Mikko free; the second is next and waits nothing.
    let anna = app.login("kela-anna").await;
    expect(
        post(&app, &format!("/api/walkin/tickets/{}/accept", first["id"].as_str().unwrap()), &anna, json!({})).await,
        200,
        "",
    );
    let (s3, t3) =
        (ticket(&app, second["id"].as_str().unwrap()).await, ticket(&app, third["id"].as_str().unwrap()).await);
    assert_eq!((s3["position"].clone(), t3["position"].clone()), (json!(1), json!(2)));
    assert_eq!(s3["estimated_wait_s"], 0);
    let t3_wait = t3["estimated_wait_s"].as_u64().unwrap();
    assert!(t3_wait > 0 && t3_wait <= 30 * 60, "after Anna's session at the latest: {t3}");
    // The accepted ticket has no position or estimate any more, and its waiting time is fixed.
    let f2 = ticket(&app, first["id"].as_str().unwrap()).await;
    assert_eq!((f2["position"].clone(), f2["estimated_wait_s"].clone()), (Value::Null, Value::Null));
}

/// Who may do what, and the errors for what does not exist.
async fn roles_devices_and_unknowns(backend: Backend) {
    let app = spawn_app(backend).await;
    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap();
    let other_device = app.device("mikkeli-2").await;
    let body = json!({ "device": "mikkeli-1", "agency": "kela", "language": "fi" });
    expect(post(&app, "/api/walkin/tickets", &other_device, body.clone()).await, 403, "wrong_device");
    let far_advisor = app.login("advisor-kiiminki").await;
    expect(
        post(
            &app,
            "/api/walkin/tickets",
            &far_advisor,
            json!({ "device": "mikkeli-2", "agency": "kela", "language": "fi" }),
        )
        .await,
        403,
        "wrong_device",
    );
    expect(
        post(&app, "/api/walkin/tickets", &far_advisor, json!({ "agency": "kela", "language": "fi" })).await,
        400,
        "bad_request",
    );
    expect(
        post(
            &app,
            "/api/walkin/tickets",
            &far_advisor,
            json!({ "device": "nowhere-9", "agency": "kela", "language": "fi" }),
        )
        .await,
        404,
        "unknown_device",
    );
    for who in ["kela-anna", "scheduler", "tulkki-aino", "admin"] {
        let token = app.login(who).await;
        expect(post(&app, "/api/walkin/tickets", &token, body.clone()).await, 403, "forbidden");
    }
    // Seeing a ticket: the device, its advisors, the agency's experts; not other devices, agencies or schedulers.
    let path = format!("/api/walkin/tickets/{id}");
    expect(get(&app, &path, &other_device).await, 403, "forbidden");
    expect(get(&app, &path, &far_advisor).await, 403, "forbidden");
    expect(get(&app, &path, &app.login("vero-liisa").await).await, 403, "forbidden");
    expect(get(&app, &path, &app.login("scheduler").await).await, 403, "forbidden");
    expect(get(&app, &path, &app.login("advisor-mikkeli").await).await, 200, "");
    expect(get(&app, &path, &app.device("mikkeli-1").await).await, 200, "");
    expect(get(&app, &path, &app.login("kela-mikko").await).await, 200, "");
    expect(get(&app, "/api/walkin/tickets/no-such-ticket", &app.login("admin").await).await, 404, "unknown_ticket");
    expect(get(&app, "/api/walkin/tickets", &app.login("scheduler").await).await, 403, "forbidden");
    assert!(ids(&expect(get(&app, "/api/walkin/tickets", &other_device).await, 200, "")).is_empty());
    assert_eq!(ids(&expect(get(&app, "/api/walkin/tickets", &app.device("mikkeli-1").await).await, 200, "")), [id]);
    // Cancelling: only the device and its advisors.
    let cancel = format!("/api/walkin/tickets/{id}/cancel");
    expect(post(&app, &cancel, &other_device, json!({})).await, 403, "wrong_device");
    expect(post(&app, &cancel, &app.login("kela-anna").await, json!({})).await, 403, "forbidden");
    expect(
        post(&app, "/api/walkin/tickets/nope/cancel", &app.login("advisor-mikkeli").await, json!({})).await,
        404,
        "unknown_ticket",
    );
    expect(
        post(&app, "/api/walkin/tickets/nope/accept", &on_duty(&app, "kela-anna").await, json!({})).await,
        404,
        "unknown_ticket",
    );
    // The queue and duty are for experts and interpreters.
    for who in ["advisor-mikkeli", "scheduler", "admin"] {
        let token = app.login(who).await;
        expect(get(&app, "/api/walkin/queue", &token).await, 403, "forbidden");
        expect(
            call(&app, "PUT", "/api/walkin/duty", Some(&token), Some(json!({ "on_duty": true }))).await,
            403,
            "forbidden",
        );
    }
    expect(get(&app, "/api/walkin/queue", &other_device).await, 403, "forbidden");
    expect(call(&app, "GET", "/api/walkin/queue", None, None).await, 401, "missing_token");
    let cancelled = expect(post(&app, &cancel, &app.login("advisor-mikkeli").await, json!({})).await, 200, "");
    assert_eq!(
        (cancelled["status"].clone(), cancelled["close_reason"].clone()),
        (json!("cancelled"), json!("cancelled"))
    );
    expect(post(&app, &cancel, &app.device("mikkeli-1").await, json!({})).await, 409, "ticket_closed");
}

/// The accepted expert joins the device's room, which locks with the device and the expert; when the expert ends
/// the session the ticket is served, at once. With an interpreter asked, the room opens once both accepted and
/// locks only when the interpreter is in too. The device hears of every change to its ticket.
async fn accepted_expert_joins_and_the_room_locks(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.walkin_check_interval_ms = NEVER_MS).await;
    let anna = on_duty(&app, "kela-anna").await;
    let device_token = app.device("mikkeli-1").await;
    let mut watcher = app.signal().await;
    assert!(matches!(watcher.watch(&device_token).await.unwrap(), ServerMessage::Watching { .. }));
    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    let accepted = expect(post(&app, &format!("/api/walkin/tickets/{id}/accept"), &anna, json!({})).await, 200, "");
    assert_eq!(accepted["room"], "mikkeli-1");
    assert!(accepted["session_id"].is_string());
    let heard = watcher
        .wait_for(WAIT, |m| match m {
            ServerMessage::Changed { topic: Topic::WalkinTicket, key } if *key == id => Some(()),
            _ => None,
        })
        .await;
    assert!(heard.is_ok(), "the device is told its ticket changed");

    let mut device = app.joined("mikkeli-1", "mikkeli-1").await;
    assert_eq!(room_state(&app, "mikkeli-1").await["state"], "gathering");
    let mut expert = app.joined("kela-anna", "mikkeli-1").await;
    assert!(locked(&mut device).await && locked(&mut expert).await);
    assert_eq!(room_state(&app, "mikkeli-1").await["state"], "locked");
    // An outsider is refused.
    let (_, outsider) = app.join("kela-mikko", "mikkeli-1").await;
    assert!(outsider.is_err());
    // The expert ends the session: the ticket is served, with the session's end reason.
    expect(call(&app, "DELETE", "/api/rooms/mikkeli-1/session", Some(&anna), None).await, 204, "");
    assert!(eventually(WAIT, || async { ticket(&app, &id).await["status"] == "served" }).await);
    assert_eq!(ticket(&app, &id).await["close_reason"], "ended");
    drop((device, expert));

    // With an interpreter: the expert first, then the interpreter; the room opens only then.
    let sami = on_duty(&app, "tulkki-sami").await;
    let t = ask(&app, "mikkeli-2", json!({ "agency": "kela", "language": "fse", "interpreter_language": "fse" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    let half = expect(post(&app, &format!("/api/walkin/tickets/{id}/accept"), &anna, json!({})).await, 200, "");
    assert_eq!((half["status"].clone(), half["session_id"].clone()), (json!("waiting"), Value::Null));
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "idle");
    assert!(
        ids(&queue_of(&app, &anna).await["tickets"]).is_empty(),
        "taken by an expert: gone from the experts' queue"
    );
    assert_eq!(ids(&queue_of(&app, &sami).await["tickets"]), [id.as_str()], "still in the interpreters' queue");
    let full = expect(post(&app, &format!("/api/walkin/tickets/{id}/accept"), &sami, json!({})).await, 200, "");
    assert_eq!(full["status"], "accepted");
    assert_eq!(full["interpreter"], "tulkki-sami");
    assert_eq!(room_state(&app, "mikkeli-2").await["seats"].as_array().unwrap().len(), 3);
    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;
    let _expert = app.joined("kela-anna", "mikkeli-2").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "gathering", "not locked without the interpreter");
    let _interpreter = app.joined("tulkki-sami", "mikkeli-2").await;
    assert!(locked(&mut device).await);
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "locked");
}

/// A room already holding a session is not taken over; cancelling an accepted ticket abandons it and ends its
/// session.
async fn busy_rooms_and_cancelling(backend: Backend) {
    let app = spawn_app(backend).await;
    let anna = on_duty(&app, "kela-anna").await;
    app.open("mikkeli-3", &[("expert", "kela-mikko")]).await;
    let t = ask(&app, "mikkeli-3", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    expect(post(&app, &format!("/api/walkin/tickets/{id}/accept"), &anna, json!({})).await, 409, "room_busy");
    let still = ticket(&app, &id).await;
    assert_eq!(
        (still["status"].clone(), still["expert"].clone(), still["position"].clone()),
        (json!("waiting"), Value::Null, json!(1))
    );

    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    expect(post(&app, &format!("/api/walkin/tickets/{id}/accept"), &anna, json!({})).await, 200, "");
    assert_eq!(room_state(&app, "mikkeli-1").await["state"], "gathering");
    let device = app.device("mikkeli-1").await;
    let gave_up = expect(post(&app, &format!("/api/walkin/tickets/{id}/cancel"), &device, json!({})).await, 200, "");
    assert_eq!(
        (gave_up["status"].clone(), gave_up["close_reason"].clone()),
        (json!("abandoned"), json!("device_gave_up"))
    );
    assert_eq!(room_state(&app, "mikkeli-1").await["state"], "idle", "its session ended");
    // The device may ask again.
    ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
}

/// Nobody accepts in time: the ticket expires. An accepted ticket whose session nobody joins in time is abandoned
/// and its session ended. Both recorded in the audit log, and both at once, without waiting for a periodic look.
async fn timeouts(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.walkin_ticket_timeout_min = 0;
        c.walkin_check_interval_ms = NEVER_MS;
    })
    .await;
    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    assert!(eventually(WAIT, || async { ticket(&app, &id).await["status"] == "expired" }).await);
    assert_eq!(ticket(&app, &id).await["close_reason"], "not_accepted_in_time");
    let admin = app.login("admin").await;
    let audit = expect(get(&app, "/api/audit?kind=walkin_expired", &admin).await, 200, "");
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert!(audit[0]["detail"].as_str().unwrap().contains(&format!("ticket={id}")));

    let app = spawn_app_with(backend, |c| {
        c.walkin_join_timeout_min = 0;
        c.walkin_check_interval_ms = NEVER_MS;
    })
    .await;
    let anna = on_duty(&app, "kela-anna").await;
    let t = ask(&app, "mikkeli-1", json!({ "agency": "kela", "language": "fi" })).await;
    let id = t["id"].as_str().unwrap().to_string();
    let r = post(&app, &format!("/api/walkin/tickets/{id}/accept"), &anna, json!({})).await;
    assert!(r.0 == 200 || (r.0 == 409 && r.1["code"] == "ticket_closed"), "{r:?}");
    assert!(eventually(WAIT, || async { ticket(&app, &id).await["status"] == "abandoned" }).await);
    assert_eq!(ticket(&app, &id).await["close_reason"], "session_never_started");
    assert!(eventually(WAIT, || async { room_state(&app, "mikkeli-1").await["state"] == "idle" }).await);
}

on_both_backends!(
    queue_order_and_routing,
    racing_accepts,
    restart_keeps_the_queue,
    estimate_sanity,
    roles_devices_and_unknowns,
    accepted_expert_joins_and_the_room_locks,
    busy_rooms_and_cancelling,
    timeouts,
);
