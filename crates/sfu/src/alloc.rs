//! Downlink allocation: which layer of each track a subscriber gets, given what its link can carry.
//!
//! The subscriber's bandwidth estimate comes from str0m's send-side estimator (transport-wide congestion control
//! feedback from the subscriber). The rules, in order:
//!
//! 1. Audio always goes: it is small and without it there is no meeting.
//! 2. Everything that is not a face camera — the document camera above all — always goes at the best layer it
//!    has. The expert reads small print from it; it is never scaled down to make room for faces. A priority
//!    camera (a sign-language interpreter's, marked by `Sfu::set_priority`) is protected the same way: signing
//!    is the conversation itself, and a paused or stepped-down signer is a broken sentence.
//! 3. The other face cameras share what is left: first every camera gets its lowest layer, in the order the subscriber
//!    receives them, as long as it fits; then they are raised one layer at a time, in turns, while the next layer
//!    fits. A camera whose lowest layer does not fit is paused. So under pressure camera video yields first.
//!    Going above the layer a camera has now, or resuming it, needs a tenth of the estimate spare besides, so an
//!    estimate that overshoots a narrow link does not bring back a camera the next drop pauses again.
//!
//! Without an estimate (no estimator, or none yet) every track gets its best layer. The functions here are pure;
//! the SFU measures the layers' bitrates ([`RateMeter`]) and applies the choice.

use std::time::{Duration, Instant};

use crate::{Kind, Source};

/// Share of the estimate the allocation may use: the rest is headroom for RTCP, retransmissions and the
/// estimate's own error.
const USABLE_SHARE: f64 = 0.9;

/// Share of the estimate a camera must leave spare to go above the layer it has now (or to resume, when paused):
/// an estimate that has just crept up past a link's capacity would otherwise resume a camera that the next drop
/// pauses again, and each round costs the document frames.
const UPGRADE_MARGIN: f64 = 0.1;

/// How a track counts in the allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Audio: always forwarded.
    Audio,
    /// Video that is never traded away (the document camera).
    Protected,
    /// A face camera: yields first.
    Camera,
}

/// How a track counts: audio, the protected video (anything but a face camera, and a priority publisher's
/// camera), or an ordinary face camera.
pub(crate) fn classify(kind: Kind, source: Source, priority: bool) -> Class {
    match (kind, source) {
        (Kind::Audio, _) => Class::Audio,
        (Kind::Video, Source::Camera) if priority => Class::Protected,
        (Kind::Video, Source::Camera) => Class::Camera,
        (Kind::Video, _) => Class::Protected,
    }
}

/// One track a subscriber receives.
#[derive(Clone, Debug)]
pub(crate) struct Demand {
    pub(crate) class: Class,
    /// The measured bitrate of each layer in bits per second, by layer index; `None` for a layer not flowing
    /// (nothing arrived recently). A track without simulcast has one layer.
    pub(crate) layers: Vec<Option<u64>>,
    /// The layer the subscriber has now (the previous allocation's choice); `None` while paused.
    pub(crate) current: Option<usize>,
}

impl Demand {
    /// Flowing layers from the cheapest to the dearest. Layers never measured count as flowing when no layer is
    /// measured yet (just published): then the index order stands in for the bitrate order.
    fn ladder(&self) -> Vec<(usize, u64)> {
        let mut measured: Vec<(usize, u64)> =
            self.layers.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).collect();
        measured.sort_by_key(|&(i, r)| (r, i));
        measured
    }

    /// The best layer to send without a budget: the dearest flowing one, or the last declared one when none is
    /// measured yet.
    fn best(&self) -> Option<usize> {
        match self.ladder().last() {
            Some(&(i, _)) => Some(i),
            None => self.layers.len().checked_sub(1),
        }
    }
}

/// The chosen layer per demand (same order); `None` pauses the track. `estimate` is the subscriber's estimated
/// downlink in bits per second.
pub(crate) fn allocate(estimate: Option<u64>, demands: &[Demand]) -> Vec<Option<usize>> {
    let mut choice: Vec<Option<usize>> = demands.iter().map(Demand::best).collect();
    let Some(estimate) = estimate else {
        return choice;
    };
    let mut budget = (estimate as f64 * USABLE_SHARE) as i64;
    let margin = (estimate as f64 * UPGRADE_MARGIN) as i64;
    // Audio and protected video first, at their best.
    for (d, c) in demands.iter().zip(&choice) {
        if d.class != Class::Camera {
            let rate = c.and_then(|i| d.layers.get(i).copied().flatten()).unwrap_or(0);
            budget -= rate as i64;
        }
    }
    // Cameras: the lowest layer each, in order, while it fits; then one step up each, in turns.
    let ladders: Vec<Vec<(usize, u64)>> = demands.iter().map(Demand::ladder).collect();
    // Where each camera is now on its ladder; a step above it must leave `margin` spare.
    let now_at: Vec<Option<usize>> = demands
        .iter()
        .zip(&ladders)
        .map(|(d, l)| d.current.and_then(|c| l.iter().position(|&(i, _)| i == c)))
        .collect();
    let spare = |i: usize, to: usize| if now_at[i].is_some_and(|at| to <= at) { 0 } else { margin };
    let mut step: Vec<Option<usize>> = vec![None; demands.len()];
    for (i, d) in demands.iter().enumerate() {
        if d.class != Class::Camera {
            continue;
        }
        if ladders[i].is_empty() {
            // Nothing measured yet: keep the default, it costs nothing we know of.
            continue;
        }
        let lowest = ladders[i][0].1 as i64;
        if lowest + spare(i, 0) <= budget {
            budget -= lowest;
            step[i] = Some(0);
        }
        choice[i] = step[i].map(|s| ladders[i][s].0);
    }
    loop {
        let mut raised = false;
        for i in 0..demands.len() {
            let Some(s) = step[i] else {
                continue;
            };
            let Some(&(layer, rate)) = ladders[i].get(s + 1) else {
                continue;
            };
            let extra = rate as i64 - ladders[i][s].1 as i64;
            if extra + spare(i, s + 1) <= budget {
                budget -= extra;
                step[i] = Some(s + 1);
                choice[i] = Some(layer);
                raised = true;
            }
        }
        if !raised {
            return choice;
        }
    }
}

/// The bitrate to ask the estimator to probe for: what the current choice uses with each camera one layer higher
/// (the lowest for a paused one), plus the headroom the allocation keeps. Asking for exactly what is used would
/// let the estimate settle where the allocation, which uses only [`USABLE_SHARE`] of it, cannot keep it; asking for
/// everything at once would make the estimator probe far above a narrow link, and its probes would crowd out the
/// document.
///
/// Zero, which str0m takes as "do not probe", whenever a probe could not raise the estimate: str0m caps its probes
/// at twice the desired rate and takes their results as the estimate, even when lower. Unchecked, probes at a few
/// kbit/s, asked for while the new tracks' rates were unknown, or by a receiver that wanted only that much for
/// now, pulled a fresh 4 Mbit/s estimate down to ~100 kbit/s and paused every camera for seconds. So there is no
/// probing
/// - while a track has no measured layer yet (just after the subscriber connects, or a track is added): even a
///   probe at the estimate costs then, as the pacer sends everything at the probe's rate while it runs, and such
///   probes made as the new tracks' first keyframes went out held a document's first frame back by up to half a
///   second;
/// - while twice the rate wanted is no more than `estimate`: the probe would be capped at or below it.
pub(crate) fn desired(estimate: u64, demands: &[Demand], choice: &[Option<usize>]) -> u64 {
    if demands.iter().any(|d| d.layers.iter().all(Option::is_none)) {
        return 0;
    }
    let wanted: u64 = demands
        .iter()
        .zip(choice)
        .map(|(d, c)| {
            let ladder = d.ladder();
            let rate_of = |layer: Option<usize>| layer.and_then(|i| d.layers.get(i).copied().flatten()).unwrap_or(0);
            if d.class != Class::Camera {
                return rate_of(*c);
            }
            let step = c.and_then(|layer| ladder.iter().position(|&(i, _)| i == layer));
            let next = match step {
                Some(s) => ladder.get(s + 1).or(ladder.get(s)),
                None => ladder.first(),
            };
            next.map_or(rate_of(*c), |&(_, r)| r)
        })
        .sum();
    let asked = (wanted as f64 / USABLE_SHARE * 1.05) as u64;
    if asked.saturating_mul(2) <= estimate {
        0
    } else {
        asked
    }
}

/// A layer's incoming bitrate over the last completed window.
#[derive(Debug)]
pub(crate) struct RateMeter {
    window_start: Instant,
    bytes: u64,
    /// The rate of the last completed window, in bits per second, with when it ended.
    last: Option<(u64, Instant)>,
}

/// Long enough to span a few frames of a 5 fps document camera, short enough to follow a layer that stops.
const WINDOW: Duration = Duration::from_millis(1000);

impl RateMeter {
    pub(crate) fn new(now: Instant) -> Self {
        RateMeter { window_start: now, bytes: 0, last: None }
    }

    /// Counts a packet's payload.
    pub(crate) fn add(&mut self, now: Instant, bytes: usize) {
        self.roll(now);
        if self.last.is_none() && self.bytes == 0 {
            // The first window starts with the first packet, not when the layer was declared or resumed: the wait
            // for the connection or the encoder would otherwise read as a low rate.
            self.window_start = now;
        }
        self.bytes += bytes as u64;
    }

    /// Bits per second over the last completed window; `None` when nothing arrived in the last two windows
    /// (the layer stopped, or has not started).
    pub(crate) fn rate(&self, now: Instant) -> Option<u64> {
        match self.last {
            Some((rate, at)) if now.saturating_duration_since(at) < 2 * WINDOW && rate > 0 => Some(rate),
            _ => None,
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        if elapsed >= 2 * WINDOW {
            // The layer stopped for a while (paused, or its sender stalled): what the old window holds says
            // nothing about its rate now. Start afresh; it has a rate again one full window after it resumed.
            self.last = None;
            self.window_start = now;
            self.bytes = 0;
            return;
        }
        // A window that ends in a short silence covers the silence too, so the rate reads low rather than high.
        let rate = (self.bytes as f64 * 8.0 / elapsed.as_secs_f64()) as u64;
        self.last = Some((rate, now));
        self.window_start = now;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(layers: &[u64]) -> Demand {
        // Now on its top layer: stepping down or staying needs no margin.
        Demand {
            class: Class::Camera,
            layers: layers.iter().map(|&r| Some(r)).collect(),
            current: Some(layers.len() - 1),
        }
    }
    fn document(rate: u64) -> Demand {
        Demand { class: Class::Protected, layers: vec![Some(rate)], current: Some(0) }
    }
    fn audio() -> Demand {
        Demand { class: Class::Audio, layers: vec![Some(40_000)], current: Some(0) }
    }

    #[test]
    fn without_an_estimate_everything_goes_at_its_best() {
        let d = [audio(), camera(&[150_000, 500_000, 1_200_000]), document(1_500_000)];
        assert_eq!(allocate(None, &d), vec![Some(0), Some(2), Some(0)]);
    }

    #[test]
    fn a_wide_link_gets_the_top_layers() {
        let d = [audio(), camera(&[150_000, 500_000, 1_200_000]), document(1_500_000)];
        assert_eq!(allocate(Some(10_000_000), &d), vec![Some(0), Some(2), Some(0)]);
    }

    #[test]
    fn under_pressure_the_camera_steps_down_and_the_document_stays() {
        let d = [audio(), camera(&[150_000, 500_000, 1_200_000]), document(1_500_000)];
        // 0.9 × 2.4 M = 2.16 M; audio + document = 1.54 M; 620 k left: the middle layer fits, the top does not.
        assert_eq!(allocate(Some(2_400_000), &d), vec![Some(0), Some(1), Some(0)]);
        // 0.9 × 1.9 M = 1.71 M; 170 k left: only the lowest layer.
        assert_eq!(allocate(Some(1_900_000), &d), vec![Some(0), Some(0), Some(0)]);
        // Not even the lowest: the camera pauses, the document goes on.
        assert_eq!(allocate(Some(1_600_000), &d), vec![Some(0), None, Some(0)]);
        // Even below the document's own rate it is not dropped.
        assert_eq!(allocate(Some(500_000), &d), vec![Some(0), None, Some(0)]);
    }

    #[test]
    fn a_priority_camera_is_protected_and_the_other_cameras_yield() {
        assert_eq!(classify(Kind::Video, Source::Camera, true), Class::Protected);
        assert_eq!(classify(Kind::Video, Source::Camera, false), Class::Camera);
        assert_eq!(classify(Kind::Audio, Source::Microphone, true), Class::Audio);
        assert_eq!(classify(Kind::Video, Source::Document, false), Class::Protected);
        let layers = [150_000, 500_000, 1_200_000];
        let signer = |priority| Demand {
            class: classify(Kind::Video, Source::Camera, priority),
            layers: layers.iter().map(|&r| Some(r)).collect(),
            current: Some(2),
        };
        // The customer's camera first (it was published first), then the interpreter's.
        // 0.9 × 1.8 M = 1.62 M: 1.2 M for the signer at the top, 40 k audio, 150 k for the customer's lowest layer.
        let d = [audio(), camera(&layers), signer(true)];
        assert_eq!(allocate(Some(1_800_000), &d), vec![Some(0), Some(0), Some(2)]);
        // Without the mark the two cameras share in turns and the signer ends in the middle.
        let plain = [audio(), camera(&layers), signer(false)];
        assert_eq!(allocate(Some(1_800_000), &plain), vec![Some(0), Some(1), Some(1)]);
        // Narrower: the customer's camera pauses; the signer stays at the top, never paused.
        assert_eq!(allocate(Some(1_300_000), &d), vec![Some(0), None, Some(2)]);
        assert_eq!(allocate(Some(300_000), &d), vec![Some(0), None, Some(2)]);
        // With the document too, both are protected and the ordinary camera is the one that yields.
        let d = [audio(), camera(&layers), document(900_000), signer(true)];
        assert_eq!(allocate(Some(2_600_000), &d), vec![Some(0), Some(0), Some(0), Some(2)]);
        assert_eq!(allocate(Some(2_000_000), &d), vec![Some(0), None, Some(0), Some(2)]);
    }

    #[test]
    fn a_camera_goes_up_or_resumes_only_with_room_to_spare() {
        let layers = [150_000, 500_000, 1_200_000];
        let at = |current| [audio(), Demand { current, ..camera(&layers) }, document(1_500_000)];
        // 0.9 × 2.4 M = 2.16 M; 620 k left after audio and document. On the middle layer it stays there;
        // from the lowest it may not climb to it: 350 k more would leave 120 k, under the 240 k margin.
        assert_eq!(allocate(Some(2_400_000), &at(Some(1)))[1], Some(1));
        assert_eq!(allocate(Some(2_400_000), &at(Some(0)))[1], Some(0));
        // With 2.7 M (2.43 M usable, 890 k left) it may: 350 k more leaves 390 k, over the 270 k margin.
        assert_eq!(allocate(Some(2_700_000), &at(Some(0)))[1], Some(1));
        // Paused, it resumes only when its lowest layer fits with the margin besides. 1.9 M leaves 170 k: the
        // lowest layer (150 k) stays on, but does not come back from a pause (150 k + 190 k margin). 2.2 M leaves
        // 440 k: it comes back (150 k + 220 k).
        assert_eq!(allocate(Some(1_900_000), &at(Some(0)))[1], Some(0));
        assert_eq!(allocate(Some(1_900_000), &at(None))[1], None);
        assert_eq!(allocate(Some(2_200_000), &at(None))[1], Some(0));
    }

    #[test]
    fn cameras_are_raised_in_turns() {
        let d = [camera(&[100_000, 400_000, 1_000_000]), camera(&[100_000, 400_000, 1_000_000])];
        // 0.9 × 1 M = 900 k: both lowest (200 k), then both middle (800 k), no top.
        assert_eq!(allocate(Some(1_000_000), &d), vec![Some(1), Some(1)]);
        // 0.9 × 2 M = 1.8 M: the first gets the top (1.4 M) and the second stays in the middle.
        assert_eq!(allocate(Some(2_000_000), &d), vec![Some(2), Some(1)]);
    }

    #[test]
    fn layers_are_ordered_by_measured_rate_and_stopped_layers_skipped() {
        // Declared high-to-low, and the middle layer has stopped.
        let d = [Demand { class: Class::Camera, layers: vec![Some(1_200_000), None, Some(150_000)], current: Some(0) }];
        assert_eq!(allocate(None, &d), vec![Some(0)]);
        assert_eq!(allocate(Some(1_000_000), &d), vec![Some(2)]);
    }

    #[test]
    fn a_track_not_measured_yet_keeps_its_last_declared_layer() {
        let d = [Demand { class: Class::Camera, layers: vec![None, None, None], current: Some(2) }];
        assert_eq!(allocate(Some(100_000), &d), vec![Some(2)]);
    }

    #[test]
    fn the_choice_never_exceeds_the_usable_budget_for_cameras() {
        let d = [audio(), camera(&[150_000, 500_000, 1_200_000]), camera(&[120_000, 600_000]), document(1_000_000)];
        for estimate in (0..60).map(|i| i * 100_000) {
            let choice = allocate(Some(estimate), &d);
            let cameras: u64 = d
                .iter()
                .zip(&choice)
                .filter(|(d, _)| d.class == Class::Camera)
                .map(|(d, c)| c.map_or(0, |i| d.layers[i].unwrap()))
                .sum();
            let fixed = 40_000 + 1_000_000;
            let usable = (estimate as f64 * USABLE_SHARE) as i64 - fixed;
            assert!(cameras as i64 <= usable.max(0), "estimate {estimate}: cameras {cameras} > {usable}");
            assert_eq!(choice[0], Some(0));
            assert_eq!(choice[3], Some(0));
        }
        // Each camera one layer up from where it is, the rest as chosen, with headroom.
        let choice = [Some(0), Some(0), Some(0), Some(0)];
        let next = 40_000 + 500_000 + 600_000 + 1_000_000;
        let asked = desired(4_000_000, &d, &choice);
        assert!(asked as f64 * USABLE_SHARE > next as f64 && asked < 2 * next, "{asked}");
        // At the top, nothing more than the top.
        let top = [Some(0), Some(2), Some(1), Some(0)];
        let asked = desired(4_000_000, &d, &top) as f64 * USABLE_SHARE;
        assert!(asked > 2_840_000.0 && asked < 3_000_000.0, "{asked}");
    }

    #[test]
    fn no_probing_while_a_track_is_not_measured_or_a_probe_could_not_raise_the_estimate() {
        let unmeasured = Demand { class: Class::Camera, layers: vec![None, None, None], current: Some(2) };
        // Audio alone would ask for ~47 k, which would cap probes at ~93 k: above this estimate, so the probe would
        // be allowed but for the unmeasured camera.
        assert_eq!(desired(60_000, &[audio(), unmeasured], &[Some(0), Some(2)]), 0);
        // Once measured, what the choice needs, if probing for twice that could find more than the estimate.
        let d = [audio(), camera(&[150_000, 500_000, 1_200_000])];
        let asked = desired(2_000_000, &d, &[Some(0), Some(2)]);
        assert!((1_000_000..1_500_000).contains(&asked), "{asked}");
        assert_eq!(desired(2 * asked, &d, &[Some(0), Some(2)]), 0);
    }

    #[test]
    fn the_meter_reads_a_window_and_forgets_a_stopped_layer() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        assert_eq!(m.rate(t0), None);
        for i in 0..=100 {
            // 1250 bytes every 10 ms = 1 Mbit/s.
            m.add(t0 + Duration::from_millis(i * 10), 1250);
        }
        let r = m.rate(t0 + Duration::from_millis(1000)).unwrap();
        assert!((990_000..=1_010_000).contains(&r), "{r}");
        assert_eq!(m.rate(t0 + Duration::from_millis(3100)), None);
        // It resumes after five silent seconds: the first window's bytes from before the silence are not
        // spread over it (which would read ~2 kbit/s); it reads nothing until a full window after the resumption.
        let resumed = t0 + Duration::from_millis(6000);
        for i in 0..100 {
            m.add(resumed + Duration::from_millis(i * 10), 1250);
        }
        assert_eq!(m.rate(resumed + Duration::from_millis(990)), None);
        m.add(resumed + Duration::from_millis(1000), 1250);
        let r = m.rate(resumed + Duration::from_millis(1000)).unwrap();
        assert!((990_000..=1_010_000).contains(&r), "{r}");
    }

    #[test]
    fn the_meters_first_window_starts_with_the_first_packet() {
        // Declared at t0; its first packet 800 ms later (the connection or the encoder was starting).
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        let first = t0 + Duration::from_millis(800);
        for i in 0..=100 {
            m.add(first + Duration::from_millis(i * 10), 1250);
        }
        // Counted from t0 the first window would have closed at 1 s reading 200 kbit/s.
        let r = m.rate(first + Duration::from_millis(1000)).unwrap();
        assert!((990_000..=1_010_000).contains(&r), "{r}");
    }
}
