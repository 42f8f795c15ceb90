//! What must never leak or spread: media between rooms, and one peer's trouble to the others.

mod common;

use std::time::Duration;

use common::{assert_contiguous, World, DEVICE, PERSON};
use vayla_sfu::{SfuError, SfuEvent, Source};

#[test]
fn rooms_never_receive_each_others_media() {
    let mut w = World::new();
    w.join("device-a", 1, "room-a", DEVICE);
    w.join("expert-a", 2, "room-a", PERSON);
    w.join("device-b", 3, "room-b", DEVICE);
    w.join("expert-b", 4, "room-b", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(1));

    for (name, room) in [("device-a", 'a'), ("expert-a", 'a'), ("device-b", 'b'), ("expert-b", 'b')] {
        let c = w.client(name);
        assert!(!c.received.is_empty(), "{name} receives");
        assert!(c.received.iter().all(|r| r.from.ends_with(room)), "{name} got media from another room");
        let own_room = if room == 'a' { [1, 2] } else { [3, 4] };
        assert!(c.tracks.iter().all(|t| own_room.contains(&t.publisher)), "{name} offered a foreign track");
    }
    assert_eq!(w.client("expert-b").tracks.len(), 3);
    assert_eq!(w.sfu.stats().rooms, 2);
}

#[test]
fn garbage_and_strangers_are_dropped_and_counted() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(200));
    let before = w.sfu.stats();
    let stranger = "127.0.0.1:6666".parse().unwrap();
    let device = w.client("device").addr;

    // Not demultiplexable at all, from anyone.
    w.inject(stranger, &[0xff, 0x00, 0x01]);
    w.inject(device, &[0xff; 40]);
    w.inject(device, &[]);
    // STUN with broken framing.
    let mut stun = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[0; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x40, b'a', b':', b'b', 0]);
    w.inject(stranger, &stun);
    let stats = w.sfu.stats();
    assert_eq!(stats.dropped_malformed - before.dropped_malformed, 4);

    // Well-formed but nobody's: RTP from a stranger, a binding request for an unknown ufrag.
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42];
    rtp.extend_from_slice(&[0; 20]);
    w.inject(stranger, &rtp);
    let mut request = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(&[1; 12]);
    request.extend_from_slice(&[0x00, 0x06, 0x00, 0x07, b'n', b'o', b'b', b'o', b'd', b'y', b':', 0]);
    w.inject(stranger, &request);
    assert_eq!(w.sfu.stats().dropped_unroutable - before.dropped_unroutable, 2);

    // Garbage from a peer's own address (anyone can forge a UDP source): RTP fails SRTP authentication, DTLS
    // records fail decryption or are out of place — str0m discards them and the peer lives on.
    w.inject(device, &rtp);
    for content_type in [21, 22, 23] {
        let mut record = vec![content_type, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40];
        record.extend_from_slice(&[0xab; 40]);
        w.inject(device, &record);
    }
    w.run_for(Duration::from_millis(500));
    assert!(w.failed().is_empty(), "{:?}", w.failed());
    for (name, other) in [("device", "expert"), ("expert", "device")] {
        let rx = w.client(name).from(other, Source::Camera);
        assert_contiguous(&rx, name);
        assert!(rx.last().unwrap().at + Duration::from_millis(50) >= w.now, "{name} still receives");
    }
}

#[test]
fn a_peer_whose_dtls_fails_is_removed_alone() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(200));

    // The interpreter's offer names another certificate's fingerprint: the handshake fails the SFU's check.
    let other = str0m::Rtc::new(w.now).direct_api().local_dtls_fingerprint().to_string();
    w.join_with("interpreter", 3, "room-1", PERSON, |sdp| {
        sdp.lines()
            .map(|l| if l.starts_with("a=fingerprint:") { format!("a=fingerprint:{other}") } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\r\n")
            + "\r\n"
    });
    w.run_until(Duration::from_secs(2), "the interpreter fails", |w| !w.failed().is_empty());
    let failed = w.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 3);
    assert!(failed[0].1.contains("fingerprint"), "{}", failed[0].1);
    w.client_mut("interpreter").gone = true;
    w.run_for(Duration::from_millis(500));

    // The others were offered its tracks and then offered them away; media between them never stopped.
    for (name, other) in [("device", "expert"), ("expert", "device")] {
        let c = w.client(name);
        assert!(c.tracks.iter().all(|t| t.publisher != 3), "{name}: interpreter's tracks still offered");
        let rx = c.from(other, Source::Camera);
        assert_contiguous(&rx, name);
        assert!(rx.last().unwrap().at + Duration::from_millis(50) >= w.now, "{name} still receives");
    }
    assert_eq!(w.sfu.stats().peers, 2);
    assert_eq!(
        w.sfu.add_remote_candidate(3, "candidate:1 1 udp 1 127.0.0.1 9 typ host"),
        Err(SfuError::UnknownPeer(3))
    );
}

#[test]
fn peers_that_never_connect_time_out_alone() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    // Clients that vanish right after signalling. One announced its address in the offer: str0m's ICE agent gives
    // up on it after 15 s without a binding request. The other trickles candidates (and then never does): the
    // SFU's own connect deadline removes it after 30 s.
    let start = w.now;
    w.add_ghost("interpreter", 3, "room-1", PERSON, |sdp| sdp);
    w.add_ghost("second expert", 4, "room-1", PERSON, |sdp| {
        sdp.lines().filter(|l| !l.starts_with("a=candidate")).map(|l| format!("{l}\r\n")).collect()
    });
    w.run_until(Duration::from_secs(31), "both time out", |w| w.failed().len() == 2);
    let failed = w.failed();
    assert_eq!(failed[0].0, 3, "{failed:?}");
    assert_eq!(failed[1].0, 4, "{failed:?}");
    let failed_at: Vec<_> =
        w.events.iter().filter(|(_, e)| matches!(e, SfuEvent::Failed { .. })).map(|(t, _)| *t - start).collect();
    assert!(failed_at[0] >= Duration::from_secs(15) && failed_at[0] < Duration::from_secs(16), "{failed_at:?}");
    assert!(failed_at[1] >= Duration::from_secs(30) && failed_at[1] < Duration::from_secs(31), "{failed_at:?}");
    assert!(w.events.iter().all(|(_, e)| !matches!(e, SfuEvent::Connected { peer: 3 | 4 })), "never connected");

    w.run_for(Duration::from_millis(200));
    let rx = w.client("expert").from("device", Source::Camera);
    assert_contiguous(&rx, "expert");
    assert!(rx.last().unwrap().at + Duration::from_millis(50) >= w.now, "the expert still receives");
    assert_eq!(w.client("expert").tracks.len(), 3, "the ghosts' tracks were offered away");
    assert_eq!(w.sfu.stats().peers, 2);
}

#[test]
fn commands_for_unknown_or_duplicate_peers_are_refused() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    let (_, offer, _, sources) = w.new_client("again", 1, PERSON);
    let now = w.now;
    assert_eq!(w.sfu.add_peer(now, "room-1", 1, &offer, &sources), Err(SfuError::DuplicatePeer(1)));
    assert!(matches!(w.sfu.add_peer(now, "room-1", 5, "nonsense", &[]), Err(SfuError::BadSdp(_))));
    let bad = vec![("nope".to_string(), Source::Document)];
    assert_eq!(w.sfu.add_peer(now, "room-1", 5, &offer, &bad), Err(SfuError::UnknownMid("nope".into())));
    assert!(matches!(w.sfu.add_remote_candidate(1, "candidate:garbage"), Err(SfuError::BadCandidate(_))));
    assert_eq!(w.sfu.add_remote_candidate(1, ""), Ok(()));
    // A refused add_peer leaves nothing behind.
    assert_eq!(w.sfu.stats().peers, 1);
    w.sfu.remove_peer(now, 42);
    w.run_until(Duration::from_secs(1), "connected", |w| w.all_connected());
}
