//! ICE-TCP: a client whose only candidate is an active TCP one reaches the SFU's passive TCP candidate, and its
//! media flows exactly as over UDP. The SFU routes by transport and address: a UDP client and a TCP connection
//! with the same address are two different routes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{assert_contiguous, World, DEVICE, PERSON};
use str0m::net::Protocol;
use vayla_sfu::Source;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `receiver` got every track of `publisher`, whole and in order.
fn receives_all(w: &World, receiver: &str, publisher: &str, sources: &[Source]) {
    let c = w.client(receiver);
    for source in sources {
        let what = format!("{receiver} <- {publisher} {source:?}");
        let rx = c.from(publisher, *source);
        assert_contiguous(&rx, &what);
        assert!(rx.len() >= 20, "{what}: only {} packets", rx.len());
        if *source != Source::Microphone {
            assert!(rx[0].keyframe, "{what}: the first video packet is a keyframe");
        }
    }
}

#[test]
fn a_tcp_only_client_and_a_udp_client_exchange_media() {
    let mut w = World::with_tcp();
    w.join_on("device", 1, "room-1", DEVICE, Protocol::Tcp, addr("127.0.0.1:5001"));
    w.join_on("expert", 2, "room-1", PERSON, Protocol::Udp, addr("127.0.0.1:5002"));
    w.run_until(Duration::from_secs(2), "everyone connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(2));

    receives_all(&w, "expert", "device", &[Source::Microphone, Source::Camera, Source::Document]);
    receives_all(&w, "device", "expert", &[Source::Microphone, Source::Camera]);
    assert!(w.failed().is_empty(), "{:?}", w.failed());
    assert_eq!(w.sfu.stats().dropped_unroutable, 0);
}

#[test]
fn two_tcp_only_clients_exchange_media() {
    let mut w = World::with_tcp();
    w.join_on("device", 1, "room-1", DEVICE, Protocol::Tcp, addr("127.0.0.1:5001"));
    w.join_on("expert", 2, "room-1", PERSON, Protocol::Tcp, addr("127.0.0.1:5002"));
    w.run_until(Duration::from_secs(2), "everyone connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(2));

    receives_all(&w, "expert", "device", &[Source::Microphone, Source::Camera, Source::Document]);
    receives_all(&w, "device", "expert", &[Source::Microphone, Source::Camera]);
    assert!(w.failed().is_empty(), "{:?}", w.failed());
}

#[test]
fn the_same_address_on_udp_and_tcp_is_two_routes() {
    // One client's UDP socket and another's TCP connection with the same address and port: TCP and UDP ports
    // are separate spaces, so this happens. Routing by address alone would hand one peer's DTLS and SRTP to the
    // other and break both.
    let mut w = World::with_tcp();
    let shared = addr("127.0.0.1:6000");
    w.join_on("device", 1, "room-1", DEVICE, Protocol::Udp, shared);
    w.join_on("expert", 2, "room-1", PERSON, Protocol::Tcp, shared);
    w.join_on("interpreter", 3, "room-2", PERSON, Protocol::Tcp, addr("127.0.0.1:6001"));
    w.join_on("citizen", 4, "room-2", PERSON, Protocol::Udp, addr("127.0.0.1:6001"));
    w.run_until(Duration::from_secs(2), "everyone connected", |w| w.all_connected());
    w.run_for(Duration::from_secs(2));

    receives_all(&w, "expert", "device", &[Source::Microphone, Source::Camera, Source::Document]);
    receives_all(&w, "device", "expert", &[Source::Microphone, Source::Camera]);
    receives_all(&w, "citizen", "interpreter", &[Source::Microphone, Source::Camera]);
    receives_all(&w, "interpreter", "citizen", &[Source::Microphone, Source::Camera]);
    assert!(w.failed().is_empty(), "{:?}", w.failed());
    assert_eq!(w.sfu.stats().dropped_unroutable, 0);
    // Each room's media stays in it.
    assert!(w.client("device").received.iter().all(|r| r.from == "expert"));
    assert!(w.client("citizen").received.iter().all(|r| r.from == "interpreter"));
}
