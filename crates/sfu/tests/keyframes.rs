//! A subscriber must see a picture fast: the SFU asks the publisher for a keyframe as soon as a new subscriber can
//! receive a video track, and relays subscribers' own requests without letting them flood the publisher.

mod common;

use std::time::Duration;

use common::{assert_contiguous, World, DEVICE, MS, PERSON};
use vayla_sfu::{SfuConfig, Source};

#[test]
fn a_new_subscriber_gets_a_keyframe_at_once() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    // Keyframes only on request from here on (the first frame of each track was one).
    w.run_for(Duration::from_millis(500));
    let requests_before = w.client("device").keyframe_requests.len();

    // The interpreter joins: its answer to the SFU's offer (the device's and the expert's tracks) is accepted at
    // once, and it connects a few milliseconds later.
    w.join("interpreter", 3, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "interpreter connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(200));

    let interpreter = w.client("interpreter");
    let answered = interpreter.answered_at[0];
    let connected = interpreter.connected_at.unwrap();
    let can_receive = answered.max(connected);
    let device = w.client("device");
    let requests: Vec<_> = device.keyframe_requests[requests_before..].to_vec();
    for source in [Source::Camera, Source::Document] {
        let first = requests
            .iter()
            .find(|(_, s)| *s == source)
            .unwrap_or_else(|| panic!("no keyframe request for the device's {source:?}"));
        let delay = first.0 - can_receive;
        assert!(delay <= 5 * MS, "{source:?}: requested {delay:?} after the subscriber could receive");
        // And the keyframe reaches the interpreter right after: its first packet of the track is one, long before
        // the publisher's next periodic keyframe (which this client never sends).
        let rx = interpreter.from("device", source);
        assert!(rx[0].keyframe, "{source:?}: first packet is not a keyframe");
        let keyframe = rx.iter().find(|r| r.keyframe && r.at >= first.0).expect("a requested keyframe");
        assert!(keyframe.at - can_receive <= Duration::from_millis(60), "{source:?}: keyframe too late");
    }
    // Audio needs none.
    assert!(requests.iter().all(|(_, s)| *s != Source::Microphone));
}

#[test]
fn an_existing_subscriber_gets_a_keyframe_when_it_accepts_a_new_track() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(300));

    // The expert holds the offer adding the interpreter's tracks for a while.
    w.client_mut("expert").hold_offers = true;
    w.join("interpreter", 3, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "interpreter connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(500));
    let before = w.client("interpreter").keyframe_requests.len();
    let expert = w.id("expert");
    w.client_mut("expert").hold_offers = false;
    w.answer_offers(expert);
    let answered = w.now;
    w.settle();
    w.run_for(Duration::from_millis(100));

    let requests = &w.client("interpreter").keyframe_requests[before..];
    let camera = requests.iter().find(|(_, s)| *s == Source::Camera).expect("a keyframe request");
    assert!(camera.0 - answered <= 5 * MS, "requested {:?} after the answer", camera.0 - answered);
    let rx = w.client("expert").from("interpreter", Source::Camera);
    assert!(rx[0].keyframe, "the expert's first picture of the interpreter is a keyframe");
}

#[test]
fn relayed_keyframe_requests_are_throttled() {
    let mut config = SfuConfig::new(vec![(str0m::net::Protocol::Udp, common::sfu_addr())]);
    config.keyframe_throttle = Duration::from_millis(500);
    let mut w = World::with_config(config);
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(600));

    let expert = w.client("expert");
    let camera_mid = expert.from("device", Source::Camera)[0].mid;
    let before = w.client("device").keyframe_requests.len();
    let sent_before = w.sfu.stats().keyframe_requests_sent;
    let start = w.now;
    // A decoder in trouble: a PLI every 10 ms for 1.2 s.
    for _ in 0..120 {
        w.client_mut("expert").request_keyframe(camera_mid);
        w.run_for(Duration::from_millis(10));
    }

    let got: Vec<_> = w.client("device").keyframe_requests[before..]
        .iter()
        .filter(|(_, s)| *s == Source::Camera)
        .map(|(t, _)| *t)
        .collect();
    assert!(!got.is_empty(), "the first request is relayed");
    assert!(got[0] - start <= Duration::from_millis(20), "relayed at once: {:?}", got[0] - start);
    assert!((2..=3).contains(&got.len()), "{} requests relayed in 1.2 s", got.len());
    for pair in got.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(500), "throttle broken: {:?}", pair[1] - pair[0]);
    }
    assert_eq!(w.sfu.stats().keyframe_requests_sent - sent_before, got.len() as u64);
}

#[test]
fn a_new_subscriber_gets_nothing_of_a_video_track_before_a_keyframe() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    // An encoder that does not answer keyframe requests: keyframes only every 50 frames (2 s).
    w.client_mut("device").keyframe_every = 50;
    w.client_mut("device").ignore_keyframe_requests = true;
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(300));
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "expert connected", |w| w.all_connected());
    let connected = w.client("expert").connected_at.unwrap();
    let requests_before = w.client("device").keyframe_requests.len();
    w.run_for(Duration::from_millis(2500));

    let expert = w.client("expert");
    for source in [Source::Camera, Source::Document] {
        let rx = expert.from("device", source);
        // The delta frames between the subscription and the next keyframe were held back: the stream starts at
        // the keyframe, numbered from the start, and goes on contiguously.
        assert!(rx[0].keyframe, "{source:?}: starts at a keyframe");
        assert_eq!(rx[0].n % 50, 0, "{source:?}: the device's periodic keyframe");
        assert!(rx[0].at - connected > Duration::from_millis(500), "{source:?}: it came late, as the test wants");
        assert_contiguous(&rx, &format!("{source:?}"));
    }
    // Audio is not held back.
    let audio = expert.from("device", Source::Microphone);
    assert!(audio[0].at - connected < Duration::from_millis(50));
    // While the expert waited, the SFU asked the publisher again, no more than the throttle allows.
    let again =
        w.client("device").keyframe_requests[requests_before..].iter().filter(|(_, s)| *s == Source::Camera).count();
    assert!((1..=5).contains(&again), "{again} repeated requests in 1.7 s");
}
