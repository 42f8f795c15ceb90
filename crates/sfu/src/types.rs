//! The SFU's vocabulary towards its caller: configuration, identities, outputs, events, errors and counters.
//!
//! Kept apart from the engine so the server can read the whole contract in one place, and so that nothing here
//! depends on how forwarding is done. The only str0m types that leak are the network ones (`Protocol`), because
//! the caller's sockets must speak them anyway.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::Protocol;

/// The caller's identity of a participant's media connection. The SFU never invents one.
pub type PeerId = u64;

/// What a published track carries, as the room knows it (the client says it when joining).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Speech: the device's, the expert's or the interpreter's microphone.
    Microphone,
    /// The face camera.
    Camera,
    /// The service point device's document camera.
    Document,
}

impl Source {
    /// A stable lowercase name, used in the track ids of the SFU's offers.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Microphone => "microphone",
            Source::Camera => "camera",
            Source::Document => "document",
        }
    }
}

/// Audio or video: decides keyframe handling and NACK support of a forwarded track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An audio track.
    Audio,
    /// A video track.
    Video,
}

impl From<str0m::media::MediaKind> for Kind {
    fn from(k: str0m::media::MediaKind) -> Self {
        match k {
            str0m::media::MediaKind::Audio => Kind::Audio,
            str0m::media::MediaKind::Video => Kind::Video,
        }
    }
}

impl From<Kind> for str0m::media::MediaKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Audio => str0m::media::MediaKind::Audio,
            Kind::Video => str0m::media::MediaKind::Video,
        }
    }
}

/// How the SFU is reached and how it treats keyframe requests.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// The server's host candidates, shared by every peer (one socket serves everyone). `Protocol::Udp` entries
    /// are announced as UDP host candidates, `Protocol::Tcp` as passive TCP candidates (ICE-TCP, RFC 6544: the
    /// caller accepts connections and does the RFC 4571 framing). Addresses str0m refuses (unspecified,
    /// link-local, multicast) are skipped with a warning.
    pub candidates: Vec<(Protocol, SocketAddr)>,
    /// At most one relayed keyframe request per published track (and simulcast layer) within this window.
    /// Requests made for a new subscriber are never held back by it.
    pub keyframe_throttle: Duration,
    /// Downlink bandwidth estimation: the estimate each subscriber starts with, in bits per second, or `None` to
    /// estimate nothing and send every subscriber every track at its best layer. With an estimate, simulcast
    /// camera layers are chosen to fit, and cameras are paused before anything else when even their lowest layer
    /// does not (see the crate docs).
    pub initial_estimate: Option<u64>,
}

/// The default starting estimate: a room's full downlink for an expert (document ~1.5 Mbit/s, two cameras at
/// ~1 Mbit/s each, audio) on an office link, so that nobody starts with a paused camera; the estimator lowers it
/// within a second or two where the link is narrower, and the cameras step down then.
pub const DEFAULT_INITIAL_ESTIMATE: u64 = 4_000_000;

impl SfuConfig {
    /// A config with the default throttle (500 ms) and bandwidth estimation on, starting at
    /// [`DEFAULT_INITIAL_ESTIMATE`].
    pub fn new(candidates: Vec<(Protocol, SocketAddr)>) -> Self {
        SfuConfig {
            candidates,
            keyframe_throttle: Duration::from_millis(500),
            initial_estimate: Some(DEFAULT_INITIAL_ESTIMATE),
        }
    }
}

/// One track a peer receives, as announced with each [`SfuEvent::Offer`]. The authoritative mapping from the
/// offer's m-lines to publishers: clients should not parse msid strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInfo {
    /// The m-line's mid in the SFU's offer to *this* peer (not the publisher's mid).
    pub mid: String,
    /// Who publishes it.
    pub publisher: PeerId,
    /// What it carries.
    pub source: Source,
    /// Audio or video.
    pub kind: Kind,
}

/// Something the caller must act on or may want to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SfuEvent {
    /// Send this SDP offer to the peer's client (renegotiation: tracks added or removed). The client answers;
    /// pass the answer to [`Sfu::accept_answer`](crate::Sfu::accept_answer). Only one offer per peer is in
    /// flight; later changes wait for its answer.
    Offer {
        /// To whom.
        peer: PeerId,
        /// The SDP offer.
        sdp: String,
        /// Every track the peer receives once it accepts this offer.
        tracks: Vec<TrackInfo>,
    },
    /// ICE and DTLS are up: media can flow to and from the peer.
    Connected {
        /// Who.
        peer: PeerId,
    },
    /// The peer failed (ICE timeout, DTLS error, library error, refused answer) and has been removed. Other
    /// peers get offers removing its tracks.
    Failed {
        /// Who.
        peer: PeerId,
        /// Why, for logs; not for clients.
        reason: String,
    },
    /// A publisher's track started flowing (its first packet reached the SFU).
    TrackFlowing {
        /// Who publishes.
        publisher: PeerId,
        /// Which of its tracks.
        source: Source,
    },
    /// Tell a publisher which simulcast layers of one of its tracks to send: the others nobody receives, and
    /// pausing them spares the publisher's uplink and encoder and the SFU's receiving. Comes again whenever the
    /// set changes; a new media connection starts with every layer on.
    Layers {
        /// Who publishes.
        publisher: PeerId,
        /// The track, by the publisher's own mid.
        mid: String,
        /// The rids to send, in the order the publisher's offer declared them; every other rid is paused.
        rids: Vec<String>,
    },
}

/// The next thing the caller must do, from [`Sfu::poll_output`](crate::Sfu::poll_output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SfuOutput {
    /// Send a datagram.
    Transmit {
        /// Over which protocol. For `Protocol::Tcp`, frame it (RFC 4571) onto the connection from `destination`.
        proto: Protocol,
        /// From which local address (one of the configured candidates).
        source: SocketAddr,
        /// To whom: a UDP address, or the remote address of a TCP connection.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Tell the caller something.
    Event(SfuEvent),
    /// Nothing more now: call [`Sfu::handle_timeout`](crate::Sfu::handle_timeout) at this instant at the latest,
    /// or earlier when a datagram or a command arrives.
    Timeout(Instant),
}

/// Why a command was refused. A refused command changes nothing, except where noted on the command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SfuError {
    /// The SDP could not be parsed, or str0m refused it.
    #[error("bad SDP: {0}")]
    BadSdp(String),
    /// A trickled candidate could not be parsed.
    #[error("bad ICE candidate: {0}")]
    BadCandidate(String),
    /// No such peer (never added, removed, or failed).
    #[error("unknown peer {0}")]
    UnknownPeer(PeerId),
    /// The peer id is already in use.
    #[error("peer {0} already exists")]
    DuplicatePeer(PeerId),
    /// A `sources` entry names a mid that the offer does not have.
    #[error("unknown mid {0}")]
    UnknownMid(String),
    /// The offer/answer exchange is out of order (an answer without an offer) or the answer was refused.
    #[error("negotiation failed: {0}")]
    Negotiation(String),
}

/// Counters for dashboards and load generators. All monotonic except `peers` and `rooms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Peers currently present (connected or not).
    pub peers: usize,
    /// Rooms with at least one peer.
    pub rooms: usize,
    /// RTP packets written to subscribers: one per packet per subscriber.
    pub forwarded_packets: u64,
    /// RTP payload bytes written to subscribers (headers and SRTP overhead not counted).
    pub forwarded_bytes: u64,
    /// Datagrams no peer claimed: unknown address, unknown ICE ufrag, failed STUN integrity, removed peer.
    pub dropped_unroutable: u64,
    /// Datagrams that are neither STUN, DTLS, RTP nor RTCP, or whose STUN framing is broken.
    pub dropped_malformed: u64,
    /// Keyframe requests (PLI) the SFU sent to publishers: for new subscribers and relayed ones.
    pub keyframe_requests_sent: u64,
    /// Times a subscriber was switched from one simulcast layer to another (at a keyframe of the new one).
    pub layer_switches: u64,
    /// Times a publisher was told to send a different set of simulcast layers (`SfuEvent::Layers`).
    pub layer_changes: u64,
    /// Timeout passes handed to the peers' `Rtc`s: str0m's per-connection housekeeping, and with bandwidth
    /// estimation the pacer's release of each packet. About one per packet sent is the least it can be.
    pub timeout_passes: u64,
    /// Datagrams the peers' connections sent over UDP or TCP: forwarded media, retransmissions, RTCP, STUN,
    /// DTLS, padding and probes.
    pub sent_datagrams: u64,
    /// Of those, bandwidth probes: padding-only RTP packets the estimator sends to test a higher rate.
    pub probe_datagrams: u64,
}
