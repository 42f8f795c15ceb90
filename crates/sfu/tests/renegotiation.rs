//! Joining and leaving change what everyone receives: the SFU re-offers to the others, one offer at a time, and
//! a removed peer is cut off at once in both directions.

mod common;

use std::time::Duration;

use common::{assert_contiguous, World, DEVICE, PERSON};
use vayla_sfu::{SfuError, SfuEvent, Source};

#[test]
fn a_joining_peer_is_offered_to_the_others_and_its_tracks_reach_them() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(300));
    let device_offers = w.client("device").offers;
    let expert_offers = w.client("expert").offers;

    w.join("interpreter", 3, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "interpreter connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(1));

    // One more offer each, adding exactly the interpreter's two tracks.
    for (name, before, total) in [("device", device_offers, 2 + 2), ("expert", expert_offers, 3 + 2)] {
        let c = w.client(name);
        assert_eq!(c.offers, before + 1, "{name}: offers");
        assert_eq!(c.tracks.len(), total, "{name}: tracks");
        let interpreter: Vec<_> = c.tracks.iter().filter(|t| t.publisher == 3).collect();
        assert_eq!(interpreter.len(), 2, "{name}");
        for source in [Source::Microphone, Source::Camera] {
            let rx = c.from("interpreter", source);
            assert_contiguous(&rx, &format!("{name} <- interpreter {source:?}"));
            assert_eq!(c.info(rx[0].mid).unwrap().publisher, 3);
        }
    }
    // The newcomer gets everything already published in one offer.
    let interpreter = w.client("interpreter");
    assert_eq!(interpreter.offers, 1);
    assert_eq!(interpreter.tracks.len(), 3 + 2);
}

#[test]
fn a_removed_peer_is_cut_off_and_offered_away() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.join("expert", 2, "room-1", PERSON);
    w.join("interpreter", 3, "room-1", PERSON);
    w.run_until(Duration::from_secs(2), "connected", |w| w.all_connected());
    w.run_for(Duration::from_millis(500));
    let offers: Vec<usize> = ["device", "interpreter"].iter().map(|n| w.client(n).offers).collect();

    w.remove("expert");
    let from_expert = |w: &World, name: &str| w.client(name).received.iter().filter(|r| r.from == "expert").count();
    let got = [from_expert(&w, "device"), from_expert(&w, "interpreter")];
    let dropped_before = w.sfu.stats().dropped_unroutable;
    let to_expert = w.client("expert").received.len();
    // The expert's client keeps sending for a while (it does not know yet): all of it is dropped.
    w.run_for(Duration::from_secs(1));

    for (i, name) in ["device", "interpreter"].into_iter().enumerate() {
        let c = w.client(name);
        assert_eq!(c.offers, offers[i] + 1, "{name}: one offer removing the expert's tracks");
        assert!(c.tracks.iter().all(|t| t.publisher != 2), "{name}: expert's tracks still offered");
        assert_eq!(from_expert(&w, name), got[i], "{name}: media from the expert after removal");
        // The m-lines that carried the expert's media are stopped in the client's session.
        let mids: Vec<_> = c.received.iter().filter(|r| r.from == "expert").map(|r| r.mid).collect();
        assert!(!mids.is_empty());
        for mid in mids {
            assert!(c.rtc.media(mid).unwrap().disabled(), "{name}: the expert's m-line {mid} is still active");
        }
    }
    assert_eq!(w.client("expert").received.len(), to_expert, "media to the removed expert");
    assert_eq!(w.sent_to_gone, 0, "datagrams to the removed expert");
    assert!(w.sfu.stats().dropped_unroutable > dropped_before, "the expert's packets are dropped");
    assert_eq!(w.sfu.stats().peers, 2);
    // No failure was reported for a removal the caller asked for.
    assert!(w.failed().is_empty());

    // The others still exchange media.
    let before = w.client("device").from("interpreter", Source::Camera).len();
    w.run_for(Duration::from_millis(400));
    assert!(w.client("device").from("interpreter", Source::Camera).len() >= before + 9);
}

#[test]
fn changes_wait_for_the_answer_in_flight() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.run_until(Duration::from_secs(1), "connected", |w| w.all_connected());
    w.client_mut("device").hold_offers = true;

    // Two people join while the device holds the first offer: the second change must wait for its answer.
    w.join("expert", 2, "room-1", PERSON);
    w.join("interpreter", 3, "room-1", PERSON);
    w.run_for(Duration::from_millis(100));
    let offers_to_device =
        |w: &World| w.events.iter().filter(|(_, e)| matches!(e, SfuEvent::Offer { peer: 1, .. })).count();
    assert_eq!(offers_to_device(&w), 1);
    assert_eq!(w.client("device").tracks.len(), 2, "the first offer has the expert's tracks only");

    w.client_mut("device").hold_offers = false;
    w.answer_offers(1);
    w.settle();
    assert_eq!(offers_to_device(&w), 2, "the queued change goes out after the answer");
    assert_eq!(w.client("device").tracks.len(), 4);
    w.run_for(Duration::from_millis(500));
    for name in ["expert", "interpreter"] {
        assert_contiguous(&w.client("device").from(name, Source::Camera), name);
    }
    // An answer without an offer in flight, or one that is not SDP, is refused and changes nothing.
    let stale = w.client("device").last_answer.clone().unwrap();
    let err = w.sfu.accept_answer(w.now, 1, &stale).unwrap_err();
    assert!(matches!(err, SfuError::Negotiation(_)), "{err:?}");
    let err = w.sfu.accept_answer(w.now, 1, "v=0\r\n").unwrap_err();
    assert!(matches!(err, SfuError::BadSdp(_)), "{err:?}");
    assert_eq!(w.sfu.accept_answer(w.now, 99, &stale), Err(SfuError::UnknownPeer(99)));
    w.run_for(Duration::from_millis(100));
    assert!(w.failed().is_empty());
    assert_contiguous(&w.client("device").from("expert", Source::Camera), "after refused answers");
}

#[test]
fn a_track_removed_while_its_offer_is_in_flight_is_stopped_after_the_answer() {
    let mut w = World::new();
    w.join("device", 1, "room-1", DEVICE);
    w.run_until(Duration::from_secs(1), "connected", |w| w.all_connected());
    w.client_mut("device").hold_offers = true;
    w.join("expert", 2, "room-1", PERSON);
    w.run_until(Duration::from_secs(1), "connected", |w| w.all_connected());
    assert_eq!(w.client("device").tracks.len(), 2, "offered the expert's tracks");

    // The expert leaves before the device answered that offer.
    w.remove("expert");
    w.run_for(Duration::from_millis(100));
    assert_eq!(w.client("device").offers, 1, "nothing more while the offer is in flight");
    w.client_mut("device").hold_offers = false;
    w.answer_offers(1);
    w.settle();

    let device = w.client("device");
    assert_eq!(device.offers, 2, "a second offer stops the orphaned m-lines");
    assert!(device.tracks.is_empty(), "{:?}", device.tracks);
    w.run_for(Duration::from_millis(300));
    assert!(w.client("device").received.is_empty());
    assert!(w.failed().is_empty());
}
