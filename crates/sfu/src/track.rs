//! A published track and its subscribers: everything the forwarding hot path needs, in one place.
//!
//! Forwarding state lives with the track rather than with each subscriber so an incoming packet costs one track
//! lookup and then a walk over a short vector; the subscriber's `Rtc` is looked up only to write.

use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{Mid, Pt, Rid};
use str0m::rtp::ExtensionValues;

use crate::alloc::{Class, RateMeter};
use crate::rewrite::SeqRewriter;
use crate::{Kind, PeerId, Source};

pub(crate) struct Track {
    pub(crate) source: Source,
    pub(crate) kind: Kind,
    /// The msid track id in the SFU's offers (`<publisher>-<source>`, made unique per publisher).
    pub(crate) label: String,
    /// Whether a packet has arrived yet (for `TrackFlowing`).
    pub(crate) flowing: bool,
    /// The encodings the publisher sends: one per simulcast rid in the order its offer declared them, or a single
    /// one (rid `None`) without simulcast.
    pub(crate) layers: Vec<Layer>,
    /// The publisher's codec for the last payload type seen: publishers rarely change codecs mid-call.
    pub(crate) params: Option<(Pt, PayloadParams)>,
    /// Subscribers whose answer has been accepted, in the order they were added.
    pub(crate) subscribers: Vec<Subscription>,
}

/// How long a simulcast layer nobody receives keeps flowing before its publisher is asked to pause it, so an
/// allocation that moves back and forth does not start and stop the publisher's encoder.
const LAYER_LINGER: Duration = Duration::from_secs(3);

/// How long a resumed layer counts at its last measured bitrate while its first packets are on their way.
const LAYER_RESUME: Duration = Duration::from_secs(2);

/// One encoding of a track.
pub(crate) struct Layer {
    pub(crate) rid: Option<Rid>,
    pub(crate) meter: RateMeter,
    /// When a keyframe was last requested from the publisher for this layer, for throttling.
    pub(crate) last_keyframe_request: Option<Instant>,
    /// The publisher was asked not to send this layer (see `Sfu::update_layers`).
    pub(crate) paused: bool,
    /// Its bitrate when it last flowed.
    pub(crate) last_rate: Option<u64>,
    /// When a subscriber last received or waited for it (or it was otherwise kept on).
    pub(crate) needed_at: Instant,
    /// When the publisher was last asked to send it again.
    pub(crate) resumed_at: Option<Instant>,
}

impl Layer {
    /// The bitrate the allocation counts for this layer: the measured one; and for a layer the SFU paused (or
    /// just resumed, whose packets are not back yet) the last measured one, so a subscriber can still be given
    /// it. A layer that stopped for any other reason does not count: its subscribers move to one that flows.
    pub(crate) fn rate_for_allocation(&mut self, now: Instant) -> Option<u64> {
        if let Some(rate) = self.meter.rate(now) {
            self.last_rate = Some(rate);
            return Some(rate);
        }
        let held = self.paused || self.resumed_at.is_some_and(|t| now < t + LAYER_RESUME);
        self.last_rate.filter(|_| held)
    }
}

pub(crate) struct Subscription {
    pub(crate) peer: PeerId,
    /// The subscriber-side mid.
    pub(crate) mid: Mid,
    pub(crate) rewrite: SeqRewriter,
    /// Publisher payload type → the subscriber's payload type for the same codec (`None`: it has none).
    /// Cleared whenever the subscriber's session is renegotiated.
    pub(crate) pts: Vec<(Pt, Option<Pt>)>,
    /// The layer being forwarded, by index into `Track::layers`. `None` before the first packet and while
    /// paused: then a video subscription (re)starts only at the start of a keyframe (see `keyframe`).
    pub(crate) current: Option<usize>,
    /// The layer the allocation chose (`None`: paused). While it differs from `current`, `current` goes on
    /// being forwarded until a keyframe of `target` arrives, so the picture never breaks at a switch.
    pub(crate) target: Option<usize>,
}

impl Track {
    pub(crate) fn new(source: Source, kind: Kind, label: String, rids: Vec<Option<Rid>>, now: Instant) -> Self {
        let layers = rids
            .into_iter()
            .map(|rid| Layer {
                rid,
                meter: RateMeter::new(now),
                last_keyframe_request: None,
                paused: false,
                last_rate: None,
                needed_at: now,
                resumed_at: None,
            })
            .collect();
        Track { source, kind, label, flowing: false, layers, params: None, subscribers: Vec::new() }
    }

    /// How the track counts when a subscriber's downlink is shared out; `priority`: its publisher's cameras are
    /// priority video (see `Sfu::set_priority`).
    pub(crate) fn class(&self, priority: bool) -> Class {
        crate::alloc::classify(self.kind, self.source, priority)
    }

    /// Decides which simulcast layers the publisher should send: it pauses those none of the subscribers receives
    /// or is being switched to (once unused for [`LAYER_LINGER`]), and resumes one as soon as a subscriber needs
    /// it. Returns the rids to send when that set changed.
    ///
    /// Kept on besides: every layer while the track has no subscriber (the next one starts at once), the
    /// cheapest layer while a subscriber waits for one (the allocation paused its camera, and the cheapest layer
    /// is where it resumes), and any layer whose bitrate has never been measured (the allocation cannot rank it).
    /// A subscriber that must step down or up to a paused layer stays on its current one until the resumed layer's
    /// first keyframe: the allocation counts a paused layer at its last measured bitrate.
    pub(crate) fn update_pauses(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.kind != Kind::Video || self.layers.len() < 2 {
            return None;
        }
        let rates: Vec<Option<u64>> = self.layers.iter().map(|l| l.meter.rate(now).or(l.last_rate)).collect();
        let cheapest = rates.iter().enumerate().filter_map(|(i, r)| r.map(|r| (r, i))).min().map(|(_, i)| i);
        let mut in_use = vec![self.subscribers.is_empty(); self.layers.len()];
        for s in &self.subscribers {
            match (s.current, s.target) {
                (None, None) => {
                    if let Some(i) = cheapest {
                        in_use[i] = true;
                    }
                }
                (current, target) => {
                    for i in [current, target].into_iter().flatten() {
                        in_use[i] = true;
                    }
                }
            }
        }
        let mut changed = false;
        for ((layer, rate), used) in self.layers.iter_mut().zip(rates).zip(in_use) {
            let needed = used || rate.is_none();
            if needed {
                layer.needed_at = now;
            }
            let pause = !needed && now >= layer.needed_at + LAYER_LINGER;
            if pause != layer.paused {
                layer.paused = pause;
                if !pause {
                    layer.resumed_at = Some(now);
                }
                changed = true;
            }
        }
        changed.then(|| self.layers.iter().filter(|l| !l.paused).filter_map(|l| l.rid.map(|r| r.to_string())).collect())
    }

    /// The index of the layer a packet with this rid belongs to. A track without simulcast has one layer, whatever
    /// the packet says.
    pub(crate) fn layer_of(&self, rid: Option<Rid>) -> Option<usize> {
        if self.layers.len() == 1 && self.layers[0].rid.is_none() {
            return Some(0);
        }
        self.layers.iter().position(|l| l.rid == rid)
    }
}

impl Subscription {
    pub(crate) fn new(peer: PeerId, mid: Mid, target: Option<usize>) -> Self {
        Subscription { peer, mid, rewrite: SeqRewriter::default(), pts: Vec::new(), current: None, target }
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
