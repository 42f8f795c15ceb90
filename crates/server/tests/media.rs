//! Real media through the SFU: Rust client peers (str0m over UDP on loopback) join a device's room and
//! exchange audio, camera and document video. Admission is the room's: a refused or removed participant gets
//! no media.

mod common;

use common::{spawn_app, Backend, TestApp};
use std::time::Duration;
use vayla_client::{run_all, ClientError, Participant};
use vayla_protocol::{ClientMessage, ErrorCode, MediaSource, ServerMessage};

const DEVICE: [MediaSource; 3] = [MediaSource::Microphone, MediaSource::Camera, MediaSource::Document];
const PERSON: [MediaSource; 2] = [MediaSource::Microphone, MediaSource::Camera];

/// `who` joins `room` and starts media publishing `publish`.
async fn enter(app: &TestApp, who: &str, room: &str, publish: &[MediaSource]) -> Participant {
    let (signal, joined) = app.join(who, room).await;
    let id = match joined.unwrap_or_else(|e| panic!("{who} joins: {e}")) {
        ServerMessage::Joined { you, .. } => you.participant_id,
        m => panic!("{m:?}"),
    };
    Participant::start(signal, id, publish).await.unwrap_or_else(|e| panic!("{who} starts media: {e}"))
}

fn frames(p: &Participant, from: &Participant, source: MediaSource) -> u64 {
    p.media.received_from(&from.id, source).map(|r| r.frames).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_expert_exchange_audio_camera_and_document() {
    let app = spawn_app(Backend::Sqlite).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = enter(&app, "mikkeli-2", "mikkeli-2", &DEVICE).await;
    let mut expert = enter(&app, "kela-anna", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(3)).await.unwrap();

    assert!(device.media.connected && expert.media.connected);
    // The expert receives all three of the device's tracks, the document among them, labelled as such.
    let sources: Vec<MediaSource> =
        expert.media.tracks.values().filter(|t| t.participant_id == device.id).map(|t| t.source).collect();
    for s in DEVICE {
        assert!(sources.contains(&s), "the expert is told of the device's {s:?}: {sources:?}");
        assert!(frames(&expert, &device, s) > 3, "the expert receives the device's {s:?}");
    }
    for s in PERSON {
        assert!(frames(&device, &expert, s) > 3, "the device receives the expert's {s:?}");
    }
    // Video arrives whole and in order.
    let camera = expert.media.received_from(&device.id, MediaSource::Camera).unwrap();
    assert_eq!(camera.gaps, 0, "{camera:?}");
    // A keyframe follows the join: the publisher was asked for one, and the first video frame the expert saw
    // was a keyframe (the device's own periodic keyframes are 3 s apart).
    assert!(device.media.keyframe_requests >= 1);
    for s in [MediaSource::Camera, MediaSource::Document] {
        let r = expert.media.received_from(&device.id, s).unwrap();
        assert_eq!(r.first_keyframe, r.first_frame, "the first {s:?} frame is a keyframe: {r:?}");
    }
    let metrics = reqwest::get(format!("{}/metrics", app.api.base())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("vayla_media_connections_total 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_renegotiates_and_a_leaver_gets_nothing_more() {
    let app = spawn_app(Backend::Sqlite).await;
    app.open("mikkeli-2", &[("expert", "kela-anna"), ("interpreter", "tulkki-aino")]).await;
    let mut device = enter(&app, "mikkeli-2", "mikkeli-2", &DEVICE).await;
    let mut expert = enter(&app, "kela-anna", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_millis(1500)).await.unwrap();
    let offers_before = (device.offers_answered, expert.offers_answered);

    // The interpreter joins: the others are offered its tracks, and it is offered theirs.
    let mut interpreter = enter(&app, "tulkki-aino", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut expert, &mut interpreter], Duration::from_secs(2)).await.unwrap();
    assert!(device.offers_answered > offers_before.0 && expert.offers_answered > offers_before.1);
    assert!(frames(&expert, &interpreter, MediaSource::Camera) > 3);
    assert!(frames(&device, &interpreter, MediaSource::Microphone) > 3);
    assert!(frames(&interpreter, &device, MediaSource::Document) > 0);
    assert!(frames(&interpreter, &expert, MediaSource::Camera) > 3);

    // The interpreter leaves: the others are offered the removal; nothing more flows to or from it.
    interpreter.signal.request(ClientMessage::Leave { id: None }).await.unwrap();
    let offers_before = (device.offers_answered, expert.offers_answered);
    run_all(&mut [&mut device, &mut expert, &mut interpreter], Duration::from_millis(700)).await.unwrap();
    assert!(device.offers_answered > offers_before.0 && expert.offers_answered > offers_before.1);
    assert!(!expert.media.tracks.values().any(|t| t.participant_id == interpreter.id), "the interpreter's tracks are gone");
    let heard = frames(&interpreter, &device, MediaSource::Microphone);
    let seen = interpreter.media.received.values().map(|r| r.frames).sum::<u64>();
    run_all(&mut [&mut device, &mut expert, &mut interpreter], Duration::from_secs(1)).await.unwrap();
    assert_eq!(interpreter.media.received.values().map(|r| r.frames).sum::<u64>(), seen, "a leaver receives nothing");
    assert_eq!(frames(&interpreter, &device, MediaSource::Microphone), heard);
    // Device and expert go on as before.
    let before = frames(&expert, &device, MediaSource::Camera);
    run_all(&mut [&mut device, &mut expert], Duration::from_millis(700)).await.unwrap();
    assert!(frames(&expert, &device, MediaSource::Camera) > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_replaced_participant_receives_no_media() {
    let app = spawn_app(Backend::Sqlite).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = enter(&app, "mikkeli-2", "mikkeli-2", &DEVICE).await;
    let mut expert = enter(&app, "kela-anna", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(1)).await.unwrap();

    // An outsider is refused at the door; its offer is refused too: it never gets a media connection.
    let (mut outsider, r) = app.join("vero-liisa", "mikkeli-2").await;
    assert!(matches!(r, Err(ClientError::Refused { code: ErrorCode::RoomLocked, .. })), "{r:?}");
    let (_peer, sdp, tracks) = vayla_client::media::MediaPeer::new(&PERSON).await.unwrap();
    let e = outsider.request(ClientMessage::Offer { id: None, sdp, tracks }).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { code: ErrorCode::NotJoined, .. }), "{e}");

    // The expert's seat is taken over by a new connection: the old one's media stops at once.
    let mut again = enter(&app, "kela-anna", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut again], Duration::from_millis(1500)).await.unwrap();
    let old_total: u64 = expert.media.received.values().map(|r| r.frames).sum();
    let _ = expert.run_for(Duration::from_secs(1)).await;
    run_all(&mut [&mut device, &mut again], Duration::from_secs(1)).await.unwrap();
    let old_after: u64 = expert.media.received.values().map(|r| r.frames).sum();
    assert_eq!(old_after, old_total, "the replaced connection receives nothing more");
    assert!(frames(&again, &device, MediaSource::Document) > 0, "the new connection receives the document");
    assert!(frames(&device, &again, MediaSource::Camera) > 3, "the device sees the expert's new connection");
}
