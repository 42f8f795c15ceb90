//! A room's media end to end: three participants connect through the SFU and each receives everyone else's
//! tracks, in order, contiguous, and labelled with the right publisher and source.

mod common;

use std::time::Duration;

use common::{assert_contiguous, World, DEVICE, PERSON};
use vayla_sfu::{Kind, Source};

#[test]
fn three_peers_receive_each_others_tracks() {
    // Without bandwidth estimation there is no pacer, so the timing checks below see the SFU's own forwarding
    // path alone; `bandwidth.rs` covers the estimator and its pacing.
    let mut w = World::without_estimation();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.join("interpreter", 3, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "everyone connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(2));

    let names = ["device", "expert", "interpreter"];
    for receiver in names {
        let c = w.client(receiver);
        for publisher in names.iter().filter(|p| **p != receiver) {
            let sources: &[Source] = if *publisher == "device" {
                &[Source::Microphone, Source::Camera, Source::Document]
            } else {
                &[Source::Microphone, Source::Camera]
            };
            for source in sources {
                let what = format!("{receiver} <- {publisher} {source:?}");
                let rx = c.from(publisher, *source);
                assert_contiguous(&rx, &what);
                assert!(rx.len() >= 40, "{what}: only {} packets", rx.len());
                // The SFU's track list names the publisher and the source of the m-line the packets came on.
                let info = c.info(rx[0].mid).unwrap_or_else(|| panic!("{what}: no TrackInfo"));
                assert_eq!(info.publisher, w.id(publisher), "{what}");
                assert_eq!(info.source, *source, "{what}");
                let kind = if *source == Source::Microphone { Kind::Audio } else { Kind::Video };
                assert_eq!(info.kind, kind, "{what}");
                // Forwarding adds no delay: each packet leaves the SFU in the call that brought it in.
                let publisher_client = w.client(publisher);
                for r in &rx {
                    assert_eq!(r.at, publisher_client.sent_at(*source, r.n), "{what}: packet {} delayed", r.n);
                }
                // Each outgoing stream starts small (fresh SRTP rollover counter for the subscriber).
                assert!(rx[0].seq < 1000, "{what}: starts at {}", rx[0].seq);
            }
        }
        // Nobody receives their own media.
        assert!(c.received.iter().all(|r| r.from != receiver));
    }

    let expert = w.client("expert");
    let documents: Vec<_> = expert.tracks.iter().filter(|t| t.source == Source::Document).collect();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].publisher, w.id("device"));
    assert_eq!(expert.tracks.len(), 3 + 2);

    let stats = w.sfu.stats();
    assert_eq!(stats.peers, 3);
    assert_eq!(stats.rooms, 1);
    let received: usize = w.clients.iter().map(|c| c.received.len()).sum();
    assert_eq!(stats.forwarded_packets, received as u64, "every forwarded packet arrived");
    assert!(stats.forwarded_bytes > 0);
    assert_eq!(stats.dropped_malformed, 0);
    assert!(w.failed().is_empty());
    // The SFU never asks to be woken again at once after a call (a busy loop in a real server).
    assert!(w.sfu_immediate_wakes < 10, "{} immediate wakes", w.sfu_immediate_wakes);
}

#[test]
fn the_answer_announces_the_configured_candidates() {
    use vayla_sfu::{Protocol, SfuConfig};
    let config = SfuConfig::new(vec![
        (Protocol::Udp, "127.0.0.1:4000".parse().unwrap()),
        (Protocol::Tcp, "127.0.0.1:4443".parse().unwrap()),
        // Refused by ICE (unspecified address): skipped, not fatal.
        (Protocol::Udp, "0.0.0.0:4000".parse().unwrap()),
    ]);
    let mut w = World::with_config(config);
    let (_, offer, _, sources) = w.new_client("device", 1, DEVICE);
    let answer = w.sfu.add_peer(w.now, "room-1", 1, &offer, &sources).unwrap();
    let candidates: Vec<_> = answer.lines().filter(|l| l.starts_with("a=candidate")).collect();
    assert_eq!(candidates.len(), 2, "{candidates:?}");
    assert!(candidates.iter().any(|c| c.contains(" udp ") && c.contains("127.0.0.1 4000 typ host")));
    assert!(candidates.iter().any(|c| c.contains(" tcp ") && c.contains("127.0.0.1 4443 typ host tcptype passive")));
    assert!(answer.contains("a=ice-lite"));
}

/// Every connection presents the SFU's one DTLS certificate (made once, not per join), and each still completes
/// its own handshake.
#[test]
fn every_peer_is_answered_with_the_same_certificate() {
    let mut w = World::new();
    let fingerprint = |answer: &str| answer.lines().find(|l| l.starts_with("a=fingerprint:")).map(str::to_owned);
    let mut prints = Vec::new();
    for (name, id) in [("device", 1), ("expert", 2)] {
        let (mut client, offer, pending, sources) = w.new_client(name, id, if id == 1 { DEVICE } else { PERSON });
        let answer = w.sfu.add_peer(w.now, "room-1", id, &offer, &sources).unwrap();
        prints.push(fingerprint(&answer).expect("a fingerprint"));
        let answer = str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap();
        client.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        w.clients.push(client);
    }
    assert_eq!(prints[0], prints[1]);
    w.run_until(Duration::from_secs(2), "both connected", |w| w.all_connected());
}
