//! The foundation's contract, told as stories against the real server: rooms lock when the last expected
//! participant joins, outsiders stay out, seat holders get back in, and bad input never hurts anyone else.
//! Every story runs on SQLite and on PostgreSQL.

use crate::common;

use crate::common::{eventually, spawn_app, spawn_app_with, Backend, WAIT};
use serde_json::Value;
use std::time::Duration;
use vayla_client::{ClientError, Signal};
use vayla_protocol::{ClientMessage, ErrorCode, LeaveReason, RoomState, ServerMessage};

fn refused(r: Result<ServerMessage, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn expect_locked(s: &mut Signal) {
    s.wait_for(WAIT, |m| matches!(m, ServerMessage::RoomLocked { .. }).then_some(()))
        .await
        .expect("room_locked arrives");
}

async fn room_state(app: &common::TestApp, room: &str) -> Value {
    app.api.room(room, None).await.unwrap()
}

async fn the_room_locks_exactly_when_the_last_expected_participant_joins(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna"), ("interpreter", "tulkki-aino")]).await;
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "gathering");

    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;
    let mut expert = app.joined("kela-anna", "mikkeli-2").await;
    // Two of three seats: still gathering, nobody was told of a lock.
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "gathering");
    let joined = device
        .wait_for(WAIT, |m| match m {
            ServerMessage::ParticipantJoined { participant } => Some(participant.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(joined.role, "expert");
    assert_eq!(joined.seat.as_deref(), Some("expert-1"));
    let early = device
        .wait_for(Duration::from_millis(300), |m| matches!(m, ServerMessage::RoomLocked { .. }).then_some(()))
        .await;
    assert!(early.is_err(), "no lock while a seat is empty");

    let (mut interpreter, r) = app.join("tulkki-aino", "mikkeli-2").await;
    match r.unwrap() {
        ServerMessage::Joined { participants, seats, .. } => {
            assert_eq!(participants.len(), 3);
            assert_eq!(seats.len(), 3);
        }
        m => panic!("expected joined, got {m:?}"),
    }
    for s in [&mut device, &mut expert, &mut interpreter] {
        expect_locked(s).await;
    }
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "locked");
}

async fn outsiders_are_refused_and_tokens_are_bound_to_their_room(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let _device = app.joined("mikkeli-2", "mikkeli-2").await;
    let mut expert = app.joined("kela-anna", "mikkeli-2").await;
    expert.wait_for(WAIT, |m| matches!(m, ServerMessage::RoomLocked { .. }).then_some(())).await.unwrap();

    // Another expert, with a perfectly valid room token for this room, is refused while it is locked.
    let (_, r) = app.join("vero-liisa", "mikkeli-2").await;
    assert_eq!(refused(r), ErrorCode::RoomLocked);

    // A token for one device's room cannot open another room.
    let anna = app.login("kela-anna").await;
    let other_room_token = app.api.join_token(&anna, "mikkeli-1").await.unwrap().token;
    let mut s = app.signal().await;
    assert_eq!(refused(s.join("mikkeli-2", &other_room_token).await), ErrorCode::WrongRoom);
    // A device cannot even get a token for another device's room.
    let device = app.device("mikkeli-1").await;
    let e = app.api.join_token(&device, "mikkeli-2").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 403, ref code, .. } if code == "wrong_room"), "{e}");
    // The refusals are in the audit log.
    let admin = app.login("admin").await;
    let audit: Value =
        app.api.call(reqwest::Method::GET, "/api/audit?room=mikkeli-2&kind=refused", Some(&admin), None).await.unwrap();
    let details: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert!(details.contains(&"room_locked"), "{details:?}");
    assert!(details.contains(&"wrong_room"), "a token used in another room is audited too: {details:?}");
}

async fn a_seat_holder_gets_back_into_the_locked_room_and_the_old_connection_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;
    let expert = app.joined("kela-anna", "mikkeli-2").await;
    expect_locked(&mut device).await;

    // The expert's network drops: the device is told, the room stays locked.
    expert.drop_connection().await;
    let reason = device
        .wait_for(WAIT, |m| match m {
            ServerMessage::ParticipantLeft { reason, seat, .. } if seat.as_deref() == Some("expert-1") => Some(*reason),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reason, LeaveReason::Dropped);
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "locked");

    // The expert comes back into the locked room, into the same seat.
    let (mut back, r) = app.join("kela-anna", "mikkeli-2").await;
    match r.unwrap() {
        ServerMessage::Joined { you, state, .. } => {
            assert_eq!(you.seat.as_deref(), Some("expert-1"));
            assert_eq!(state, RoomState::Locked);
        }
        m => panic!("{m:?}"),
    }

    // A half-open connection (the server has not noticed it is dead) is replaced, never duplicated.
    let (mut again, r) = app.join("kela-anna", "mikkeli-2").await;
    r.unwrap();
    let code = back
        .wait_for(WAIT, |m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(code, ErrorCode::Replaced);
    assert!(back.closed_within(WAIT).await, "the replaced connection is closed");
    let state = room_state(&app, "mikkeli-2").await;
    let experts: Vec<&Value> =
        state["participants"].as_array().unwrap().iter().filter(|p| p["role"] == "expert").collect();
    assert_eq!(experts.len(), 1, "{state}");
    // The new connection still works.
    assert!(matches!(again.request(ClientMessage::Ping { id: None }).await.unwrap(), ServerMessage::Pong { .. }));
}

async fn two_connections_racing_for_one_seat_end_with_exactly_one_participant(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let access = app.login("kela-anna").await;
    let token = app.api.join_token(&access, "mikkeli-2").await.unwrap().token;
    for _round in 0..5 {
        let mut a = app.signal().await;
        let mut b = app.signal().await;
        let (ra, rb) = tokio::join!(a.join("mikkeli-2", &token), b.join("mikkeli-2", &token));
        // Both joins are admitted in some order; the later one replaced the earlier.
        assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
        let a_closed = a.closed_within(Duration::from_millis(700)).await;
        let b_closed = b.closed_within(Duration::from_millis(700)).await;
        assert!(a_closed ^ b_closed, "exactly one connection survives (a closed {a_closed}, b closed {b_closed})");
        assert!(
            eventually(WAIT, || async {
                let s = room_state(&app, "mikkeli-2").await;
                s["participants"].as_array().unwrap().len() == 1
            })
            .await
        );
        let survivor = if a_closed { b } else { a };
        survivor.drop_connection().await;
    }
}

async fn only_an_expert_can_unlock_and_relock(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna"), ("interpreter", "tulkki-aino")]).await;
    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;
    let mut expert = app.joined("kela-anna", "mikkeli-2").await;
    let mut interpreter = app.joined("tulkki-aino", "mikkeli-2").await;
    expect_locked(&mut interpreter).await;

    for s in [&mut device, &mut interpreter] {
        let e = s.request(ClientMessage::Unlock { id: None }).await.unwrap_err();
        assert!(matches!(e, ClientError::Refused { code: ErrorCode::Forbidden, .. }), "{e}");
    }
    assert_eq!(room_state(&app, "mikkeli-2").await["state"], "locked");

    expert.request(ClientMessage::Unlock { id: None }).await.unwrap();
    device.wait_for(WAIT, |m| matches!(m, ServerMessage::RoomUnlocked { .. }).then_some(())).await.unwrap();
    // While unlocked, a second agency's expert is admitted ...
    let mut second = app.joined("vero-liisa", "mikkeli-2").await;
    // ... who cannot lock, not holding a seat yet.
    let e = second.request(ClientMessage::Lock { id: None }).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::Forbidden, .. }), "{e}");
    expert.request(ClientMessage::Lock { id: None }).await.unwrap();
    let seats = second
        .wait_for(WAIT, |m| match m {
            ServerMessage::RoomLocked { by, seats } => {
                assert!(by.is_some());
                Some(seats.clone())
            }
            _ => None,
        })
        .await
        .unwrap();
    assert!(seats.iter().any(|s| s.seat == "guest-1" && s.role == "expert"), "{seats:?}");
    // Now seated, the second expert gets back in after a drop; an outsider still does not.
    second.drop_connection().await;
    app.joined("vero-liisa", "mikkeli-2").await;
    let (_, r) = app.join("vero-juha", "mikkeli-2").await;
    assert_eq!(refused(r), ErrorCode::RoomLocked);
    // The lock history is in the database.
    let admin = app.login("admin").await;
    let sessions: Value =
        app.api.call(reqwest::Method::GET, "/api/rooms/mikkeli-2/sessions", Some(&admin), None).await.unwrap();
    let locks = sessions[0]["locks"].as_array().unwrap();
    let flags: Vec<bool> = locks.iter().map(|l| l["locked"].as_bool().unwrap()).collect();
    assert_eq!(flags, [true, false, true]);
}

async fn bad_input_gets_error_codes_and_everyone_else_is_served(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = app.joined("mikkeli-2", "mikkeli-2").await;

    // Before hello: a handshake error, and the connection is closed.
    let mut rude = Signal::connect(&app.api.ws_url()).await.unwrap();
    rude.send_raw(r#"{"type":"ping","id":"x"}"#).await.unwrap();
    assert!(matches!(rude.recv(WAIT).await.unwrap(), ServerMessage::Error { code: ErrorCode::HandshakeRequired, .. }));
    assert!(rude.closed_within(WAIT).await);

    let mut s = app.signal().await;
    let cases: [(&str, ErrorCode, Option<&str>); 6] = [
        ("{not json", ErrorCode::BadMessage, None),
        (r#"{"type":"teleport","id":"t1"}"#, ErrorCode::UnknownType, Some("t1")),
        (r#"{"type":"join","id":"t2","room":"mikkeli-2"}"#, ErrorCode::BadMessage, Some("t2")),
        (r#"{"type":"join","id":"t3","room":"mikkeli-2","token":"not.a.jwt"}"#, ErrorCode::InvalidToken, Some("t3")),
        (r#"{"type":"lock","id":"t4"}"#, ErrorCode::NotJoined, Some("t4")),
        (r#"{"type":"hello","id":"t5","versions":[1]}"#, ErrorCode::AlreadyGreeted, Some("t5")),
    ];
    for (frame, want, id) in cases {
        s.send_raw(frame).await.unwrap();
        match s.recv(WAIT).await.unwrap() {
            ServerMessage::Error { code, id: got, .. } => {
                assert_eq!(code, want, "{frame}");
                assert_eq!(got.as_deref(), id, "{frame}");
            }
            m => panic!("{frame}: {m:?}"),
        }
    }
    // Tokens: an access token is not a room token; an expired room token is refused as expired; a forged
    // one as invalid.
    let access = app.login("kela-anna").await;
    let e = s.join("mikkeli-2", &access).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::WrongAudience, .. }), "{e}");
    let auth = &app.server().auth;
    let now = vayla_server::now_ms() / 1000;
    let (expired, _) = auth.issue_room_until(
        vayla_server::auth::RoomTokenFor {
            subject: vayla_domain::SubjectId::new("kela-anna").unwrap(),
            role: vayla_domain::Role::Expert,
            room: vayla_domain::RoomId::new("mikkeli-2").unwrap(),
            seat: None,
            session: None,
        },
        now - 600,
        now - 300,
    );
    let e = s.join("mikkeli-2", &expired).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::TokenExpired, .. }), "{e}");
    let good = app.api.join_token(&access, "mikkeli-2").await.unwrap().token;
    let mut forged = good.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let e = s.join("mikkeli-2", &forged).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::InvalidToken, .. }), "{e}");
    // HTTP says the same with the same codes.
    let e = app.api.join_token("garbage", "mikkeli-2").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 401, ref code, .. } if code == "invalid_token"), "{e}");
    let e = app.api.login("kela-anna", "wrong").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 401, ref code, .. } if code == "invalid_credentials"), "{e}");
    let e = app
        .api
        .call::<Value>(reqwest::Method::POST, "/api/login", None, Some(serde_json::json!({"user": 1})))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 422 | 400, ref code, .. } if code == "bad_request"), "{e}");
    let sched = app.login("scheduler").await;
    let e = app.api.join_token(&sched, "mikkeli-2").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 403, ref code, .. } if code == "forbidden"), "{e}");
    let e = app
        .api
        .open_session(&app.login("advisor-kiiminki").await, "mikkeli-3", &[("expert", "kela-anna")])
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 403, .. }), "{e}");

    // Oversized: an error, then the connection is closed.
    let mut big = app.signal().await;
    let huge = format!(r#"{{"type":"ping","id":"big","pad":"{}"}}"#, "x".repeat(70 * 1024));
    big.send_raw(huge).await.unwrap();
    assert!(matches!(big.recv(WAIT).await.unwrap(), ServerMessage::Error { code: ErrorCode::MessageTooLarge, .. }));
    assert!(big.closed_within(WAIT).await);

    // A flood is rate limited.
    let mut flood = app.signal().await;
    for _ in 0..200 {
        if flood.send_raw(r#"{"type":"ping"}"#).await.is_err() {
            break;
        }
    }
    let limited = flood
        .wait_for(WAIT, |m| matches!(m, ServerMessage::Error { code: ErrorCode::RateLimited, .. }).then_some(()))
        .await;
    assert!(limited.is_ok());

    // Through all of it, the device in the room was served and the expert can still join and lock the room.
    assert!(matches!(device.request(ClientMessage::Ping { id: None }).await.unwrap(), ServerMessage::Pong { .. }));
    let _expert = app.joined("kela-anna", "mikkeli-2").await;
    expect_locked(&mut device).await;
    let metrics = reqwest::get(format!("{}/metrics", app.api.base())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("vayla_rooms{state=\"locked\"} 1"), "{metrics}");
    assert!(metrics.contains("vayla_protocol_errors_total"), "{metrics}");
}

async fn a_config_change_is_picked_up_live_and_a_broken_one_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(app.api.room("mikkeli-4", None).await.is_err());
    // Add a fourth device to Mikkeli.
    let mikkeli = app.read_config("service-points/mikkeli.toml");
    let hash = mikkeli
        .lines()
        .find(|l| l.trim_start().starts_with("credential_hash"))
        .expect("a device credential hash")
        .to_owned();
    let added = format!("{mikkeli}\n[[device]]\nid = \"mikkeli-4\"\nname = \"Mikkeli, huone 4\"\n{hash}\n");
    app.write_config("service-points/mikkeli.toml", &added);
    assert!(eventually(WAIT, || async { app.api.room("mikkeli-4", None).await.is_ok() }).await, "new room appears");
    // The new device logs in with the demo credential and can be used at once.
    app.open("mikkeli-4", &[("expert", "kela-anna")]).await;
    app.joined("mikkeli-4", "mikkeli-4").await;

    // Break a file: the change is refused with file, line and field; the old config stays in force.
    let people = app.read_config("people.toml");
    let broken = people.replacen("role = \"expert\"", "role = \"wizard\"", 1);
    app.write_config("people.toml", &broken);
    let admin = app.login("admin").await;
    let mut status = Value::Null;
    assert!(
        eventually(WAIT, || {
            let api = app.api.clone();
            let admin = admin.clone();
            async move {
                let s: Value = api.call(reqwest::Method::GET, "/api/admin/config", Some(&admin), None).await.unwrap();
                !s["last_error"].is_null()
            }
        })
        .await,
        "the broken change is reported"
    );
    status = app.api.call(reqwest::Method::GET, "/api/admin/config", Some(&admin), None).await.unwrap_or(status);
    let err = &status["last_error"];
    assert_eq!(err["file"], "people.toml", "{status}");
    assert!(err["line"].as_u64().unwrap() > 0, "{status}");
    assert!(err["field"].as_str().unwrap().contains("role"), "{status}");
    assert_eq!(status["rooms"], 9);
    // Old config in force: experts still log in, mikkeli-4 is still there.
    app.login("kela-anna").await;
    assert!(app.api.room("mikkeli-4", None).await.is_ok());

    // Fixing the file clears the error.
    app.write_config("people.toml", &people);
    assert!(
        eventually(WAIT, || {
            let api = app.api.clone();
            let admin = admin.clone();
            async move {
                let s: Value = api.call(reqwest::Method::GET, "/api/admin/config", Some(&admin), None).await.unwrap();
                s["last_error"].is_null()
            }
        })
        .await
    );
}

async fn sessions_end_when_everyone_has_left_and_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let opened = app.open("saarijarvi-1", &[("expert", "te-jari")]).await;
    let session_id = opened["session_id"].as_str().unwrap().to_owned();
    let device = app.joined("saarijarvi-1", "saarijarvi-1").await;
    let mut expert = app.joined("te-jari", "saarijarvi-1").await;
    expect_locked(&mut expert).await;
    expert.request(ClientMessage::Leave { id: None }).await.unwrap();
    device.drop_connection().await;
    // Grace is 1.5 s in tests: the room resets by itself.
    assert!(
        eventually(Duration::from_secs(8), || async { room_state(&app, "saarijarvi-1").await["state"] == "idle" })
            .await
    );
    let admin = app.login("admin").await;
    let sessions: Value =
        app.api.call(reqwest::Method::GET, "/api/rooms/saarijarvi-1/sessions", Some(&admin), None).await.unwrap();
    let s = &sessions[0];
    assert_eq!(s["id"], session_id.as_str());
    assert_eq!(s["end_reason"], "everyone_left");
    let parts = s["participations"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| !p["left_at"].is_null()));
    let reasons: Vec<&str> = parts.iter().map(|p| p["leave_reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"left") && reasons.contains(&"dropped"), "{reasons:?}");
    let audit: Value = app
        .api
        .call(reqwest::Method::GET, &format!("/api/audit?session={session_id}"), Some(&admin), None)
        .await
        .unwrap();
    let kinds: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session_opened", "admitted", "admitted", "locked", "left", "left", "session_ended"]);
    // The room takes the next session.
    app.open("saarijarvi-1", &[("expert", "te-jari")]).await;
}

async fn an_expert_ends_the_session_for_everyone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("parainen-1", &[("expert", "dvv-sanna")]).await;
    let mut device = app.joined("parainen-1", "parainen-1").await;
    let mut expert = app.joined("dvv-sanna", "parainen-1").await;
    let e = device.request(ClientMessage::EndSession { id: None }).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::Forbidden, .. }));
    expert.request(ClientMessage::EndSession { id: None }).await.unwrap();
    for s in [&mut device, &mut expert] {
        let reason = s
            .wait_for(WAIT, |m| match m {
                ServerMessage::SessionEnded { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(reason, "ended");
    }
    assert_eq!(room_state(&app, "parainen-1").await["state"], "idle");
    // Still connected, no longer in a room.
    let e = expert.request(ClientMessage::Lock { id: None }).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::NotJoined, .. }));
    let (_, r) = app.join("dvv-sanna", "parainen-1").await;
    assert_eq!(refused(r), ErrorCode::NoSession);
}

async fn signing_keys_rotate_and_old_tokens_stay_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("kiiminki-1", &[("expert", "kela-mikko")]).await;
    let old_access = app.login("kela-mikko").await;
    let old_kid = app.server().auth.current_kid();
    let admin = app.login("admin").await;
    let r: Value = app.api.call(reqwest::Method::POST, "/api/admin/rotate-keys", Some(&admin), None).await.unwrap();
    assert_ne!(r["kid"].as_str().unwrap(), old_kid);
    // A token signed before the rotation still works ...
    let token = app.api.join_token(&old_access, "kiiminki-1").await.unwrap().token;
    // ... and new tokens name the new key.
    let header = token.split('.').next().unwrap();
    use base64::Engine;
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["kid"], r["kid"]);
    let mut s = app.signal().await;
    s.join("kiiminki-1", &token).await.unwrap();
    // Access tokens are renewed while their subject is configured; removing the person revokes renewal.
    let renewed = app.api.call::<Value>(reqwest::Method::POST, "/api/refresh", Some(&old_access), None).await.unwrap();
    assert_eq!(renewed["subject"], "kela-mikko");
    assert_eq!(renewed["expires_in"], 900);
    let people = app.read_config("people.toml");
    let start = people.find("id = \"kela-mikko\"").unwrap();
    let block_start = people[..start].rfind("[[person]]").unwrap();
    let block_end = people[start..].find("[[person]]").map(|i| start + i).unwrap_or(people.len());
    app.write_config("people.toml", &format!("{}{}", &people[..block_start], &people[block_end..]));
    assert!(
        eventually(WAIT, || async {
            app.api.call::<Value>(reqwest::Method::POST, "/api/refresh", Some(&old_access), None).await.is_err()
        })
        .await,
        "a removed person cannot renew their token"
    );
    // Non-admins may not rotate.
    let e = app
        .api
        .call::<Value>(reqwest::Method::POST, "/api/admin/rotate-keys", Some(&old_access), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 403, .. }));
}

async fn shutdown_tells_connected_clients(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.open("pelkosenniemi-1", &[("expert", "poliisi-pekka")]).await;
    let mut device = app.joined("pelkosenniemi-1", "pelkosenniemi-1").await;
    let ready = reqwest::get(format!("{}/readyz", app.api.base())).await.unwrap();
    assert_eq!(ready.status(), 200);
    let health = reqwest::get(format!("{}/healthz", app.api.base())).await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
    let m = device
        .wait_for(WAIT, |m| match m {
            ServerMessage::Shutdown { reconnect_after_ms } => Some(*reconnect_after_ms),
            _ => None,
        })
        .await
        .unwrap();
    assert!(m > 0);
    assert!(device.closed_within(WAIT).await);
}

async fn a_silent_connection_is_dropped_and_the_room_is_told(backend: Backend) {
    let app = spawn_app(backend).await;
    app.open("mikkeli-3", &[("expert", "vero-juha")]).await;
    let mut expert = app.joined("vero-juha", "mikkeli-3").await;
    // The device joins and then goes silent: it stops reading, so it never answers the server's pings
    // (heartbeat is 1 s in tests; three missed heartbeats drop it).
    let mut device = app.joined("mikkeli-3", "mikkeli-3").await;
    let reason = expert
        .wait_for(Duration::from_secs(8), |m| match m {
            ServerMessage::ParticipantLeft { seat, reason, .. } if seat.as_deref() == Some("device") => Some(*reason),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reason, LeaveReason::Dropped);
    // The server closed the silent connection: its last word is `idle_timeout`, unless the client's library
    // fails first trying to send its overdue pongs into the closed socket.
    match device.wait_for(WAIT, |m| matches!(m, ServerMessage::Error { .. }).then(|| m.clone())).await {
        Ok(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::IdleTimeout),
        Err(ClientError::Ws(_) | ClientError::Closed) => {}
        other => panic!("expected the device's connection closed, got {other:?}"),
    }
    // The expert, who kept reading (and so answering pings), is still served.
    assert!(matches!(expert.request(ClientMessage::Ping { id: None }).await.unwrap(), ServerMessage::Pong { .. }));
}

async fn a_session_survives_a_server_restart_and_its_people_get_back_in(backend: Backend) {
    let mut app = spawn_app_with(backend, |c| c.grace_ms = 20_000).await;
    let opened = app.open("mikkeli-1", &[("expert", "kela-anna")]).await;
    let mut device = app.joined("mikkeli-1", "mikkeli-1").await;
    let _expert = app.joined("kela-anna", "mikkeli-1").await;
    expect_locked(&mut device).await;

    app.restart().await;
    // The session is still there, locked, with nobody connected yet.
    let state = room_state(&app, "mikkeli-1").await;
    assert_eq!(state["state"], "locked", "{state}");
    assert_eq!(state["session_id"], opened["session_id"]);
    assert!(state["participants"].as_array().unwrap().is_empty());
    // Its people get back in; an outsider still does not.
    let (_, r) = app.join("vero-liisa", "mikkeli-1").await;
    assert_eq!(refused(r), ErrorCode::RoomLocked);
    let _device = app.joined("mikkeli-1", "mikkeli-1").await;
    let (_expert, r) = app.join("kela-anna", "mikkeli-1").await;
    match r.unwrap() {
        ServerMessage::Joined { you, state, session_id, .. } => {
            assert_eq!(you.seat.as_deref(), Some("expert-1"));
            assert_eq!(state, RoomState::Locked);
            assert_eq!(session_id, opened["session_id"].as_str().unwrap());
        }
        m => panic!("{m:?}"),
    }
    // The history says who left when the server stopped, and that they came back.
    let admin = app.login("admin").await;
    let sessions: Value =
        app.api.call(reqwest::Method::GET, "/api/rooms/mikkeli-1/sessions", Some(&admin), None).await.unwrap();
    let reasons: Vec<Option<&str>> =
        sessions[0]["participations"].as_array().unwrap().iter().map(|p| p["leave_reason"].as_str()).collect();
    assert_eq!(reasons, [Some("server_shutdown"), Some("server_shutdown"), None, None]);
}

on_both_backends!(
    a_session_survives_a_server_restart_and_its_people_get_back_in,
    a_silent_connection_is_dropped_and_the_room_is_told,
    the_room_locks_exactly_when_the_last_expected_participant_joins,
    outsiders_are_refused_and_tokens_are_bound_to_their_room,
    a_seat_holder_gets_back_into_the_locked_room_and_the_old_connection_is_gone,
    two_connections_racing_for_one_seat_end_with_exactly_one_participant,
    only_an_expert_can_unlock_and_relock,
    bad_input_gets_error_codes_and_everyone_else_is_served,
    a_config_change_is_picked_up_live_and_a_broken_one_is_refused,
    sessions_end_when_everyone_has_left_and_are_recorded,
    an_expert_ends_the_session_for_everyone,
    signing_keys_rotate_and_old_tokens_stay_valid,
    shutdown_tells_connected_clients,
);
