//! Real media through the SFU: Rust client peers (str0m over UDP on loopback, or over ICE-TCP only) join a
//! device's room and exchange audio, camera and document video. Admission is the room's: a refused or removed
//! participant gets no media. Garbage on the ICE-TCP port costs only the connection that sent it.

use crate::common::{eventually, spawn_app, spawn_app_with, Backend, TestApp};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vayla_client::media::Transport;
use vayla_client::{run_all, ClientError, Participant};
use vayla_protocol::{ClientMessage, ErrorCode, MediaSource, ServerMessage};

const DEVICE: [MediaSource; 3] = [MediaSource::Microphone, MediaSource::Camera, MediaSource::Document];
const PERSON: [MediaSource; 2] = [MediaSource::Microphone, MediaSource::Camera];

/// `who` joins `room` and starts media publishing `publish`.
async fn enter(app: &TestApp, who: &str, room: &str, publish: &[MediaSource]) -> Participant {
    enter_over(app, who, room, publish, Transport::Udp).await
}

/// Like `enter`, with media over `transport`.
async fn enter_over(
    app: &TestApp,
    who: &str,
    room: &str,
    publish: &[MediaSource],
    transport: Transport,
) -> Participant {
    let (signal, joined) = app.join(who, room).await;
    let id = match joined.unwrap_or_else(|e| panic!("{who} joins: {e}")) {
        ServerMessage::Joined { you, .. } => you.participant_id,
        m => panic!("{m:?}"),
    };
    Participant::start_with(signal, id, publish, transport).await.unwrap_or_else(|e| panic!("{who} starts media: {e}"))
}

async fn metrics(app: &TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.api.base())).await.unwrap().text().await.unwrap()
}

/// Device and expert receive each other's every track; video whole, in order, starting with a keyframe.
fn assert_exchange(device: &Participant, expert: &Participant) {
    assert!(device.media.connected && expert.media.connected);
    for s in DEVICE {
        assert!(frames(expert, device, s) > 3, "the expert receives the device's {s:?}");
    }
    for s in PERSON {
        assert!(frames(device, expert, s) > 3, "the device receives the expert's {s:?}");
    }
    for (to, from, s) in [
        (expert, device, MediaSource::Camera),
        (expert, device, MediaSource::Document),
        (device, expert, MediaSource::Camera),
    ] {
        let r = to.media.received_from(&from.id, s).unwrap();
        assert_eq!(r.gaps, 0, "{s:?} arrives whole: {r:?}");
        assert_eq!(r.first_keyframe, r.first_frame, "the first {s:?} frame is a keyframe: {r:?}");
    }
}

fn frames(p: &Participant, from: &Participant, source: MediaSource) -> u64 {
    p.media.received_from(&from.id, source).map(|r| r.frames).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_expert_exchange_audio_camera_and_document() {
    // These checks count every frame: bandwidth estimation stays off so that a dip of the estimate on a loaded
    // test machine cannot pause the camera (`crates/sfu/tests/bandwidth.rs` covers estimation and pausing).
    let app = spawn_app_with(Backend::Sqlite, |c| c.media_initial_estimate_kbps = 0).await;
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
    // Single-layer cameras here: with estimation on, a dip of the estimate on a loaded test machine may pause one
    // (correctly), and these counts would not hold. `crates/sfu/tests/bandwidth.rs` covers estimation.
    let app = spawn_app_with(Backend::Sqlite, |c| c.media_initial_estimate_kbps = 0).await;
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
    assert!(
        !expert.media.tracks.values().any(|t| t.participant_id == interpreter.id),
        "the interpreter's tracks are gone"
    );
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
    // Packets already on their way before the replacement may still arrive: read the old peer's socket
    // directly (its signalling is closed) until they have, then count.
    let soon = |ms| std::time::Instant::now() + Duration::from_millis(ms);
    let _ = expert.media.pump(soon(300)).await;
    let old_total: u64 = expert.media.received.values().map(|r| r.frames).sum();
    run_all(&mut [&mut device, &mut again], Duration::from_millis(1500)).await.unwrap();
    // Whatever the SFU had sent the old peer meanwhile is now in its socket buffer.
    let _ = expert.media.pump(soon(500)).await;
    let old_after: u64 = expert.media.received.values().map(|r| r.frames).sum();
    assert_eq!(old_after, old_total, "the replaced connection receives nothing more");
    assert!(frames(&again, &device, MediaSource::Document) > 0, "the new connection receives the document");
    assert!(frames(&device, &again, MediaSource::Camera) > 3, "the device sees the expert's new connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_expert_exchange_media_over_tcp_only() {
    let app = spawn_app(Backend::Sqlite).await;
    let tcp = app.server().media_tcp_address.expect("media over TCP is on by default");
    assert_eq!(tcp.ip(), app.server().media_address.ip(), "next to the UDP socket");
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = enter_over(&app, "mikkeli-2", "mikkeli-2", &DEVICE, Transport::Tcp).await;
    let mut expert = enter_over(&app, "kela-anna", "mikkeli-2", &PERSON, Transport::Tcp).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(3)).await.unwrap();

    // Neither peer has a UDP socket: whatever arrived came over its TCP connection to the server's candidate.
    for p in [&device, &expert] {
        assert_eq!(p.media.transport(), Transport::Tcp);
        assert!(p.media.local_addr().is_some(), "the TCP connection is up");
    }
    assert_exchange(&device, &expert);
    assert!(device.media.keyframe_requests >= 1);
    let m = metrics(&app).await;
    assert!(m.contains("vayla_media_tcp_connections 2"), "{m}");
    assert!(m.contains("vayla_media_tcp_rejected_total 0"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_mixes_udp_and_tcp_participants() {
    let app = spawn_app(Backend::Sqlite).await;
    app.open("mikkeli-2", &[("expert", "kela-anna"), ("interpreter", "tulkki-aino")]).await;
    let mut device = enter_over(&app, "mikkeli-2", "mikkeli-2", &DEVICE, Transport::Udp).await;
    let mut expert = enter_over(&app, "kela-anna", "mikkeli-2", &PERSON, Transport::Tcp).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(2)).await.unwrap();
    assert_exchange(&device, &expert);

    // A third participant on TCP joins later: the SFU renegotiates with both, and media flows all ways.
    let mut interpreter = enter_over(&app, "tulkki-aino", "mikkeli-2", &PERSON, Transport::Tcp).await;
    run_all(&mut [&mut device, &mut expert, &mut interpreter], Duration::from_secs(2)).await.unwrap();
    assert!(frames(&interpreter, &device, MediaSource::Document) > 0);
    assert!(frames(&interpreter, &expert, MediaSource::Camera) > 3);
    assert!(frames(&expert, &interpreter, MediaSource::Microphone) > 3);
    assert!(frames(&device, &interpreter, MediaSource::Camera) > 3);
    let m = metrics(&app).await;
    assert!(m.contains("vayla_media_tcp_connections 2"), "{m}");
}

/// A deterministic stream of bytes that is nobody's protocol.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Whether the server closes the connection (end of stream or reset) within `wait`.
async fn closed_by_server(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_tcp_port_closes_only_that_connection() {
    // These checks count every frame: bandwidth estimation stays off so that a dip of the estimate on a loaded
    // test machine cannot pause the camera (`crates/sfu/tests/bandwidth.rs` covers estimation and pausing).
    let app = spawn_app_with(Backend::Sqlite, |c| c.media_initial_estimate_kbps = 0).await;
    let tcp = app.server().media_tcp_address.unwrap();
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let mut device = enter_over(&app, "mikkeli-2", "mikkeli-2", &DEVICE, Transport::Tcp).await;
    let mut expert = enter_over(&app, "kela-anna", "mikkeli-2", &PERSON, Transport::Udp).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_millis(1500)).await.unwrap();
    assert_exchange(&device, &expert);

    // A STUN binding request without attributes: well framed, claimed by no peer.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    let mut unknown = vec![0x00, 20];
    unknown.extend_from_slice(&stun);
    unknown.extend_from_slice(&[0x00, 100]);
    unknown.extend_from_slice(&[0x80; 100]);
    let garbage: [(&str, Vec<u8>); 4] = [
        ("a zero length", [unknown[..22].to_vec(), vec![0, 0]].concat()),
        ("an oversized frame", [vec![0xff, 0xff], vec![0x80; 2000]].concat()),
        ("random bytes", noise(4096)),
        ("HTTP", b"GET / HTTP/1.1\r\nHost: vayla\r\n\r\n".to_vec()),
    ];
    let before = (frames(&expert, &device, MediaSource::Camera), frames(&device, &expert, MediaSource::Camera));
    // Well-framed ICE nobody owns stays open (the SFU drops what it cannot route); it must not disturb anyone.
    let mut stranger = tokio::net::TcpStream::connect(tcp).await.unwrap();
    stranger.write_all(&unknown).await.unwrap();
    for (what, bytes) in &garbage {
        let mut s = tokio::net::TcpStream::connect(tcp).await.unwrap();
        s.write_all(bytes).await.unwrap();
        assert!(closed_by_server(&mut s, Duration::from_secs(3)).await, "{what} closes the connection");
    }
    run_all(&mut [&mut device, &mut expert], Duration::from_millis(1500)).await.unwrap();

    // Media went on both ways, and over the device's TCP connection.
    let after = (frames(&expert, &device, MediaSource::Camera), frames(&device, &expert, MediaSource::Camera));
    assert!(after.0 > before.0 + 10 && after.1 > before.1 + 10, "media goes on: {before:?} -> {after:?}");
    assert!(
        !closed_by_server(&mut stranger, Duration::from_millis(100)).await,
        "the well-framed stranger is not closed"
    );
    let m = metrics(&app).await;
    assert!(m.contains("vayla_media_tcp_rejected_total 4"), "{m}");
    let unroutable: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("vayla_sfu_dropped_unroutable_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(unroutable >= 2, "the stranger's frames reached the SFU and were dropped there: {unroutable}");
    drop(stranger);
    assert!(
        eventually(Duration::from_secs(3), || async { metrics(&app).await.contains("vayla_media_tcp_connections 1") })
            .await,
        "only the device's connection is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_limit_are_closed_at_once() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.media_tcp_max_connections = 1).await;
    let tcp = app.server().media_tcp_address.unwrap();
    let mut first = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(tcp).await.unwrap();
    assert!(closed_by_server(&mut second, Duration::from_secs(3)).await, "over the limit");
    assert!(!closed_by_server(&mut first, Duration::from_millis(200)).await, "within the limit");
    let m = metrics(&app).await;
    assert!(m.contains("vayla_media_tcp_connections 1") && m.contains("vayla_media_tcp_rejected_total 1"), "{m}");
    // The place frees up when the first goes.
    drop(first);
    assert!(
        eventually(Duration::from_secs(3), || async { metrics(&app).await.contains("vayla_media_tcp_connections 0") })
            .await
    );
    let mut third = tokio::net::TcpStream::connect(tcp).await.unwrap();
    assert!(!closed_by_server(&mut third, Duration::from_millis(200)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_over_tcp_can_be_turned_off() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.media_tcp = false).await;
    assert_eq!(app.server().media_tcp_address, None);
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let (signal, joined) = app.join("kela-anna", "mikkeli-2").await;
    let id = match joined.unwrap() {
        ServerMessage::Joined { you, .. } => you.participant_id,
        m => panic!("{m:?}"),
    };
    // The answer names no TCP candidate: a TCP-only client cannot connect, and says so.
    let r = Participant::start_with(signal, id, &PERSON, Transport::Tcp).await;
    assert!(matches!(r, Err(ClientError::Media(vayla_client::media::MediaError::Tcp(_)))), "{:?}", r.err());
}

/// The device sends its camera in three simulcast layers, as the web client does; the expert receives one stream
/// of it — whole, in sequence, starting at a keyframe — and only about one layer's worth of bytes. The layers
/// nobody receives are then paused at the device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_camera_reaches_the_expert_as_one_stream() {
    let app = spawn_app(Backend::Sqlite).await;
    app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let (signal, joined) = app.join("mikkeli-2", "mikkeli-2").await;
    let id = match joined.unwrap() {
        ServerMessage::Joined { you, .. } => you.participant_id,
        m => panic!("{m:?}"),
    };
    let options = vayla_client::media::Options { simulcast_camera: true, ..Default::default() };
    let mut device = Participant::start_opts(signal, id, &DEVICE, options).await.unwrap();
    let mut expert = enter(&app, "kela-anna", "mikkeli-2", &PERSON).await;
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(4)).await.unwrap();

    let camera = expert.media.received_from(&device.id, MediaSource::Camera).expect("the camera arrives");
    assert!(camera.frames > 20, "{camera:?}");
    assert_eq!(camera.first_keyframe, camera.first_frame, "starts at a keyframe: {camera:?}");
    // One stream whatever layer it comes from: every frame decodable. At a layer switch the old layer's frame in
    // flight may be cut short (the new layer's keyframe follows at once), so a gap is allowed only right before a
    // keyframe, at most once per switch.
    assert_eq!(camera.undecodable, 0, "no frame after a gap that is not a keyframe: {camera:?}");
    assert!(camera.gaps < camera.keyframes, "gaps only at layer switches: {camera:?}");
    // The device sent all three layers (⅛ + ⅖ + 1 of the full rate); the expert got at most about the top one.
    let sent = device.media.sent().into_iter().find(|(s, _)| *s == MediaSource::Camera).unwrap().1;
    assert!(
        (camera.bytes as f64) < sent.bytes as f64 / 1.525 * 1.1,
        "received {} bytes of {} sent in three layers",
        camera.bytes,
        sent.bytes
    );

    // Nobody receives the lower layers: a few seconds on, the server asks the device to pause every layer the
    // expert does not get (on loopback its estimate gives it the top one), the device stops sending them, and the
    // expert's picture goes on unbroken.
    let frames_before = camera.frames;
    for _ in 0..12 {
        run_all(&mut [&mut device, &mut expert], Duration::from_secs(1)).await.unwrap();
        if device.media.sending_layers(MediaSource::Camera).len() < 3 {
            break;
        }
    }
    let asked: Vec<&Vec<String>> = device
        .events
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Layers { rids, .. } => Some(rids),
            _ => None,
        })
        .collect();
    let last = asked.last().expect("the server asked for fewer layers");
    assert!(!last.contains(&"q".to_string()) && last.contains(&"f".to_string()), "{asked:?}");
    assert_eq!(&device.media.sending_layers(MediaSource::Camera), *last);
    run_all(&mut [&mut device, &mut expert], Duration::from_secs(2)).await.unwrap();
    let camera = expert.media.received_from(&device.id, MediaSource::Camera).unwrap();
    assert!(camera.frames > frames_before + 30, "{frames_before} frames, then {camera:?}");
    assert_eq!(camera.undecodable, 0, "{camera:?}");
}
