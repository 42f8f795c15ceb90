//! Väylä's media core: a sans-IO selective forwarding unit on [str0m].
//!
//! A service point's device, an agency expert and sometimes an interpreter meet in the device's permanent room;
//! each of them publishes audio and video (the device also its document camera) and receives everyone else's.
//! This crate forwards those RTP packets between the peers of a room. It decides nothing about who may join:
//! the room actor admits a participant and then calls [`Sfu::add_peer`]; whoever it never added does not exist
//! here, and [`Sfu::remove_peer`] cuts a peer off at once.
//!
//! # Driving it
//!
//! Like str0m, the SFU owns no socket, thread or clock. The caller
//!
//! 1. feeds it one thing — a datagram ([`Sfu::handle_receive`]), the passing of time ([`Sfu::handle_timeout`]),
//!    or a command ([`Sfu::add_peer`], [`Sfu::accept_answer`], …), always with the current time;
//! 2. drains [`Sfu::poll_output`] until it returns [`SfuOutput::Timeout`]: sending each
//!    [`SfuOutput::Transmit`] from the named local address and passing each [`SfuEvent`] on (offers go to the
//!    peer's client, whose answers come back through [`Sfu::accept_answer`]);
//! 3. waits for the next datagram, command, or that timeout, and goes to 1.
//!
//! Tests drive it the same way with a virtual clock (see `tests/`).
//!
//! # Design
//!
//! * One UDP socket serves all peers (ICE-lite, every peer gets the same host candidates). A binding request is
//!   routed by the local ICE ufrag in its USERNAME (each peer has its own credentials), everything else by the
//!   transport and remote address learnt from an authenticated binding request — one map lookup each, never a
//!   scan of peers.
//! * ICE-TCP (RFC 6544) is the same to the SFU: `Protocol::Tcp` candidates are announced as passive; the caller
//!   accepts the TCP connections, unframes RFC 4571 and passes each frame to [`Sfu::handle_receive`] with the
//!   connection's remote address, and frames each TCP [`SfuOutput::Transmit`] onto the connection with that
//!   remote address. Routes are keyed by (protocol, address): UDP and TCP ports are separate spaces.
//! * Each peer's next deadline sits in an ordered set; a timeout wakes only the peers due, and after any input
//!   only the touched peers are polled.
//! * Forwarding is at RTP level (str0m's RTP mode): the publisher's payload is shared (`Arc`), not copied; the
//!   payload type is mapped by codec; sequence numbers are rewritten per subscriber so each outgoing stream starts
//!   small and stays contiguous.
//! * A new subscriber of a video track is asked a keyframe for and gets nothing of the track before one starts
//!   (VP8 and H.264 are read; other codecs are not held back); while it waits, the request is repeated, throttled.
//! * The SFU is the offerer after a peer's first offer; one offer per peer is in flight, later changes queue.
//! * A peer whose `Rtc` errs (or panics) is removed alone, with [`SfuEvent::Failed`]; the others go on.
//! * Simulcast: a publisher may send a video track in several encodings (`a=simulcast`, one rid each). The SFU
//!   measures each layer's bitrate and forwards one layer per subscriber, switching only at a keyframe of the new
//!   layer (asked for when the switch is decided), so the picture never breaks.
//! * Downlink bandwidth: each subscriber's `Rtc` estimates its downlink from transport-wide congestion control
//!   feedback ([`SfuConfig::initial_estimate`]). Every second, and whenever the estimate moves, the downlink is
//!   shared out (`alloc`): audio and the document camera always go at their best; face cameras take what is left,
//!   stepping down a layer, and pausing when even the lowest does not fit. Camera video yields first.
//! * Loss: video is sent NACK-able; str0m keeps each subscriber's send history and answers NACKs with RTX, and
//!   asks publishers for what the SFU missed itself. Recovered packets are forwarded in their place in sequence.
//!
//! # Not yet
//!
//! No TURN here (ICE-TCP to the server's passive candidate is the fallback where UDP is blocked; the server hands
//! out credentials for an external relay). A relayed FIR is sent to the publisher as a PLI. Temporal layers (SVC)
//! are forwarded as they come.
//!
//! [str0m]: https://docs.rs/str0m

mod alloc;
mod keyframe;
mod peer;
mod rewrite;
mod sfu;
mod stun;
mod timers;
mod track;
mod types;

pub use sfu::Sfu;
pub use str0m::net::Protocol;
pub use types::{
    Kind, PeerId, SfuConfig, SfuError, SfuEvent, SfuOutput, SfuStats, Source, TrackInfo, DEFAULT_INITIAL_ESTIMATE,
};
