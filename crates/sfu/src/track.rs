//! A published track and its subscribers: everything the forwarding hot path needs, in one place.
//!
//! Forwarding state lives with the track rather than with each subscriber so an incoming packet costs one track
//! lookup and then a walk over a short vector; the subscriber's `Rtc` is looked up only to write.

use std::time::Instant;

use str0m::format::PayloadParams;
use str0m::media::{Mid, Pt};
use str0m::rtp::ExtensionValues;

use crate::rewrite::SeqRewriter;
use crate::{Kind, PeerId, Source};

pub(crate) struct Track {
    pub(crate) source: Source,
    pub(crate) kind: Kind,
    /// The msid track id in the SFU's offers (`<publisher>-<source>`, made unique per publisher).
    pub(crate) label: String,
    /// Whether a packet has arrived yet (for `TrackFlowing`).
    pub(crate) flowing: bool,
    /// When a keyframe was last requested from the publisher for this track, for throttling.
    pub(crate) last_keyframe_request: Option<Instant>,
    /// The publisher's codec for the last payload type seen: publishers rarely change codecs mid-call.
    pub(crate) params: Option<(Pt, PayloadParams)>,
    /// Subscribers whose answer has been accepted, in the order they were added.
    pub(crate) subscribers: Vec<Subscription>,
}

pub(crate) struct Subscription {
    pub(crate) peer: PeerId,
    /// The subscriber-side mid.
    pub(crate) mid: Mid,
    pub(crate) rewrite: SeqRewriter,
    /// Publisher payload type → the subscriber's payload type for the same codec (`None`: it has none).
    /// Cleared whenever the subscriber's session is renegotiated.
    pub(crate) pts: Vec<(Pt, Option<Pt>)>,
    /// Nothing forwarded yet: a video subscription starts at the start of a keyframe (see `keyframe`).
    pub(crate) waiting_keyframe: bool,
}

impl Track {
    pub(crate) fn new(source: Source, kind: Kind, label: String) -> Self {
        Track {
            source,
            kind,
            label,
            flowing: false,
            last_keyframe_request: None,
            params: None,
            subscribers: Vec::new(),
        }
    }
}

impl Subscription {
    pub(crate) fn new(peer: PeerId, mid: Mid) -> Self {
        Subscription { peer, mid, rewrite: SeqRewriter::default(), pts: Vec::new(), waiting_keyframe: true }
    }
}

/// The header extensions worth carrying from publisher to subscriber. Transport-wide sequence numbers, abs-send-
/// time and the mid/rid are hop-by-hop: str0m writes its own for the subscriber's session.
pub(crate) fn forwarded_extensions(from: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: from.audio_level,
        voice_activity: from.voice_activity,
        video_orientation: from.video_orientation,
        ..Default::default()
    }
}
