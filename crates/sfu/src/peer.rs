//! One participant's media connection: its `Rtc`, what it publishes and receives, its offer/answer state, and the
//! drain that turns its output into the SFU's output.
//!
//! The SFU never holds two peers' `Rtc`s in a call chain that could re-enter: draining a peer only *queues* its
//! events in [`Io`]; the SFU handles them afterwards with every peer reachable. That keeps str0m's rule — every
//! mutation of an `Rtc` is followed by a full drain before the next one — without recursion or `Rc<RefCell>`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use str0m::change::SdpPendingOffer;
use str0m::media::{Mid, Rid};
use str0m::net::Protocol;
use str0m::rtp::Ssrc;
use str0m::{Event, IceConnectionState, Input, Output, PacerReason, Reason, Rtc};

use crate::timers::Timers;
use crate::{Kind, PeerId, SfuOutput, Source};

/// A published track: its publisher and the publisher's mid.
pub(crate) type TrackKey = (PeerId, Mid);

/// Where a peer's datagrams come from: the transport and the remote address. The transport is part of the key
/// because UDP and TCP ports are separate spaces: one client's UDP socket and another's TCP connection may have
/// the same address.
pub(crate) type Route = (Protocol, SocketAddr);

/// How many remote addresses a peer may be reached from at once (ICE may try a few before nominating one).
const MAX_ADDRS: usize = 8;

/// How many near timeouts one drain hands the `Rtc` (see [`Peer::drain`]). Bounded so a misbehaving pacer cannot
/// spin the caller's thread; what is left goes out at the caller's next wake-up.
const MAX_ROUNDS: usize = 256;

/// How far ahead of the caller's time a drain may move a peer's clock to let its pacer release the next packet.
const PACE_SLACK: Duration = Duration::from_millis(1);

/// The earliest next wake-up after a timeout that produced nothing.
const MIN_WAKE: Duration = Duration::from_millis(1);

/// The latest a peer's next timeout pass comes after a drain that left its pacer's gate closed with nothing
/// queued (see [`Peer::drain`]): how late its other timers (feedback, NACKs, estimates) may then run.
const GATE_WAKE: Duration = Duration::from_millis(20);

/// How long after a sign of bandwidth probing the pacer's gate is always answered at once: probe packets are
/// timed by the pacer, and the probe's own queue is not visible from outside str0m.
const PROBE_GRACE: Duration = Duration::from_millis(500);

/// Work the SFU still has to do after touching peers, shared by all of them.
pub(crate) struct Io {
    /// The latest time the caller gave the SFU; never goes back.
    pub(crate) now: Instant,
    /// Outputs for the caller, tagged with the peer they concern so they can be purged when it goes.
    pub(crate) out: VecDeque<(Option<PeerId>, SfuOutput)>,
    /// Peer events not handled yet, in the order they were produced.
    pub(crate) events: VecDeque<(PeerId, Event)>,
    /// Peers mutated since their last drain.
    pub(crate) dirty: Vec<PeerId>,
    /// Peers that failed, with why; removed before anything else happens.
    pub(crate) failed: Vec<(PeerId, String)>,
    /// Peers whose received tracks changed and may need an offer.
    pub(crate) renegotiate: Vec<PeerId>,
    /// While a batch of datagrams is handled: peers that only had media or feedback written to them. Their
    /// drain waits for the end of the batch, so a subscriber sent several packets drains once, not once per
    /// packet (see [`Sfu::handle_receive_batch`](crate::Sfu::handle_receive_batch)).
    pub(crate) held: Vec<PeerId>,
    pub(crate) batching: bool,
    pub(crate) timers: Timers,
    /// Timeout passes handed to any `Rtc` (see `SfuStats::timeout_passes`).
    pub(crate) passes: u64,
    /// Datagrams the `Rtc`s produced, and how many of them were bandwidth probes (see `SfuStats`).
    pub(crate) sent: u64,
    pub(crate) probes: u64,
}

impl Io {
    pub(crate) fn new(now: Instant) -> Self {
        Io {
            now,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dirty: Vec::new(),
            failed: Vec::new(),
            renegotiate: Vec::new(),
            held: Vec::new(),
            batching: false,
            timers: Timers::default(),
            passes: 0,
            sent: 0,
            probes: 0,
        }
    }
}

/// A track this peer receives, by its own (subscriber-side) mid.
#[derive(Debug)]
pub(crate) struct OutTrack {
    pub(crate) mid: Mid,
    pub(crate) track: TrackKey,
    pub(crate) source: Source,
    pub(crate) kind: Kind,
    pub(crate) state: OutState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutState {
    /// In the offer in flight.
    Offered,
    /// Answered: media flows.
    Active,
    /// The publisher left while the offer was in flight; stop the m-line once answered.
    Orphaned,
    /// To be stopped in the next offer.
    Stopping,
}

/// The SFU's side of the offer/answer exchange with this peer. The SFU is always the offerer after the first
/// exchange, and only one offer is in flight (str0m keeps one `SdpPendingOffer`); later changes queue here.
#[derive(Default)]
pub(crate) struct Negotiation {
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) queued_adds: Vec<TrackKey>,
    pub(crate) queued_stops: Vec<Mid>,
    /// Whether the peer is already in `Io::renegotiate`.
    pub(crate) wanted: bool,
}

pub(crate) struct InFlight {
    pub(crate) pending: SdpPendingOffer,
    pub(crate) added: Vec<Mid>,
}

pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) room: String,
    pub(crate) rtc: Rtc,
    pub(crate) ufrag: String,
    /// Remote addresses (with their transport) learnt from authenticated STUN, oldest first; mirrored in the
    /// SFU's address map.
    pub(crate) addrs: Vec<Route>,
    pub(crate) connected: bool,
    /// Until connected: when to give up.
    pub(crate) connect_deadline: Option<Instant>,
    /// The `Rtc`'s own next timeout.
    pub(crate) rtc_timeout: Option<Instant>,
    /// The latest time handed to the `Rtc`; may run a little ahead of the caller's (see [`Peer::drain`]).
    pub(crate) rtc_now: Instant,
    /// Until when the pacer may be probing the downlink (see [`Peer::gate_only`]).
    probing_until: Instant,
    /// The deadline under which the peer sits in `Io::timers`.
    pub(crate) scheduled: Option<Instant>,
    pub(crate) dirty: bool,
    /// RTP or RTCP was queued in the `Rtc` since its last drain: str0m sends it only once time is handed in.
    pub(crate) unsent: bool,
    pub(crate) failed: bool,
    /// What the client said its offer's mids carry.
    pub(crate) sources: Vec<(Mid, Source)>,
    /// Mids of the tracks this peer publishes, in the order they appeared.
    pub(crate) published: Vec<Mid>,
    /// Which published mid and simulcast rid an incoming SSRC belongs to (RTP packets carry them only until
    /// acknowledged).
    pub(crate) ssrc_mids: Vec<(Ssrc, Mid, Option<Rid>)>,
    /// The latest estimate of this peer's downlink, in bits per second (none without an estimator).
    pub(crate) estimate: Option<u64>,
    /// The estimate the current allocation was made with.
    pub(crate) allocated_for: Option<u64>,
    /// When the downlink allocation is due again: layer bitrates drift, and layers start and stop.
    pub(crate) next_allocation: Instant,
    /// What this peer receives, in the order it was offered.
    pub(crate) outgoing: Vec<OutTrack>,
    pub(crate) negotiation: Negotiation,
}

/// Runs `f`, turning a panic inside str0m into an error for this peer only. str0m panics on broken internal
/// invariants ("panic means bug"); one peer's bug must not take the media of every room down with it.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("str0m panicked: {what}")
    })
}

impl Peer {
    pub(crate) fn new(
        id: PeerId,
        room: String,
        rtc: Rtc,
        ufrag: String,
        now: Instant,
        connect_deadline: Instant,
    ) -> Self {
        Peer {
            id,
            room,
            rtc,
            ufrag,
            addrs: Vec::new(),
            connected: false,
            connect_deadline: Some(connect_deadline),
            rtc_timeout: None,
            rtc_now: now,
            probing_until: now,
            scheduled: None,
            dirty: false,
            unsent: false,
            failed: false,
            sources: Vec::new(),
            published: Vec::new(),
            ssrc_mids: Vec::new(),
            estimate: None,
            allocated_for: None,
            next_allocation: connect_deadline,
            outgoing: Vec::new(),
            negotiation: Negotiation::default(),
        }
    }

    /// Records that the `Rtc` was mutated and must be drained before its next mutation.
    pub(crate) fn mark_dirty(&mut self, io: &mut Io) {
        if !self.dirty {
            self.dirty = true;
            io.dirty.push(self.id);
        }
    }

    /// Records that media or feedback was queued in the `Rtc` (and that it must be drained, as any mutation).
    pub(crate) fn mark_unsent(&mut self, io: &mut Io) {
        self.unsent = true;
        if io.batching && !self.dirty {
            // Drained at the end of the batch, or before this peer's next other mutation, whichever is first.
            self.dirty = true;
            io.held.push(self.id);
        } else {
            self.mark_dirty(io);
        }
    }

    /// Drains the `Rtc` if it was mutated since its last drain. Called before every mutation: str0m requires a
    /// full drain between two (in RTP mode it holds a single received packet until polled, for example).
    pub(crate) fn flush(&mut self, io: &mut Io) {
        if self.dirty {
            self.drain(io);
        }
    }

    /// Takes the peer out of service; the SFU removes it before doing anything else.
    pub(crate) fn fail(&mut self, io: &mut Io, reason: String) {
        if !self.failed {
            self.failed = true;
            io.failed.push((self.id, reason));
        }
    }

    pub(crate) fn want_negotiation(&mut self, io: &mut Io) {
        if !self.negotiation.wanted {
            self.negotiation.wanted = true;
            io.renegotiate.push(self.id);
        }
    }

    /// Remembers `addr` as a route to this peer. Returns an address it forgot to make room, if any.
    pub(crate) fn learn_addr(&mut self, addr: Route) -> Option<Route> {
        if self.addrs.contains(&addr) {
            return None;
        }
        self.addrs.push(addr);
        (self.addrs.len() > MAX_ADDRS).then(|| self.addrs.remove(0))
    }

    pub(crate) fn out_track(&self, mid: Mid) -> Option<&OutTrack> {
        self.outgoing.iter().find(|o| o.mid == mid)
    }

    /// The time to hand this peer's `Rtc`: the caller's time, or the time the drain already advanced it to (see
    /// [`Peer::drain`]) — its clock must never go back.
    pub(crate) fn clock(&mut self, now: Instant) -> Instant {
        self.rtc_now = self.rtc_now.max(now);
        self.rtc_now
    }

    /// Polls the `Rtc` until it has nothing more: datagrams go to the caller's queue, the events the SFU cares
    /// about to the event queue, and the next timeout into the timer set.
    ///
    /// With bandwidth estimation on, str0m's pacer releases one packet per timeout and then asks for the next a
    /// microsecond later. Going round the caller's loop for each would cost a wake-up per packet, so the drain
    /// hands the `Rtc` those near timeouts itself (moving its clock at most [`PACE_SLACK`] ahead of the caller's)
    /// while they keep producing output. When a timeout produced nothing, the next wake-up is at least
    /// [`MIN_WAKE`] away: some of str0m's timers ask for "now" again until real time has passed (the delay-based
    /// estimator on a link with no round-trip time yet), and answering them at once would spin.
    ///
    /// After the last queued packet, str0m's pacer still asks for a pass at once, only to reopen its gate. The
    /// drain leaves that pass out (see [`Peer::gate_only`]): the next packet written to the peer needs a pass
    /// anyway, and if none comes the peer is woken [`GATE_WAKE`] later for its other timers. That takes the
    /// load generator's passes from ~1.4 to ~1.1 per forwarded packet.
    pub(crate) fn drain(&mut self, io: &mut Io) {
        self.dirty = false;
        if self.failed {
            return;
        }
        let unsent = self.unsent;
        if unsent {
            // A written RTP packet is only stamped and released to the pacer by a timeout; giving it one now
            // sends it in this call instead of after a round through the caller's loop.
            self.unsent = false;
            let now = self.clock(io.now);
            io.passes += 1;
            match guarded(|| self.rtc.handle_input(Input::Timeout(now))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return self.fail(io, format!("rtc error: {e}")),
                Err(panic) => return self.fail(io, panic),
            }
        }
        let mut rounds = 0;
        let mut produced = true;
        // Whether a timeout pass ran in this drain, after every input: its queue snapshot is then current.
        let mut passed = unsent;
        loop {
            match guarded(|| self.rtc.poll_output()) {
                Ok(Ok(Output::Transmit(t))) => {
                    produced = true;
                    io.sent += 1;
                    if is_probe(&t.contents) {
                        io.probes += 1;
                        self.probing_until = io.now + PROBE_GRACE;
                    }
                    io.out.push_back((
                        Some(self.id),
                        SfuOutput::Transmit {
                            proto: t.proto,
                            source: t.source,
                            destination: t.destination,
                            contents: t.contents.into(),
                        },
                    ))
                }
                Ok(Ok(Output::Event(e))) => {
                    produced = true;
                    if is_relevant(&e) {
                        io.events.push_back((self.id, e));
                    }
                }
                Ok(Ok(Output::Timeout(_))) if produced && passed && self.gate_only(io.now) => {
                    // The pass would only reopen the pacer's gate after the last queued packet. It is left for
                    // the next write (whose pass reopens it anyway), or GATE_WAKE from now at the latest.
                    self.rtc_timeout = Some(self.rtc_now + GATE_WAKE);
                    self.schedule(&mut io.timers);
                    return;
                }
                Ok(Ok(Output::Timeout(t))) if produced && t <= io.now + PACE_SLACK && rounds < MAX_ROUNDS => {
                    passed = true;
                    rounds += 1;
                    produced = false;
                    let at = self.clock(t);
                    io.passes += 1;
                    match guarded(|| self.rtc.handle_input(Input::Timeout(at))) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return self.fail(io, format!("rtc error: {e}")),
                        Err(panic) => return self.fail(io, panic),
                    }
                }
                Ok(Ok(Output::Timeout(t))) => {
                    let floor = if produced { self.rtc_now } else { self.rtc_now + MIN_WAKE };
                    self.rtc_timeout = Some(t.max(floor));
                    self.schedule(&mut io.timers);
                    return;
                }
                Ok(Err(e)) => return self.fail(io, format!("rtc error: {e}")),
                Err(panic) => return self.fail(io, panic),
            }
        }
    }

    /// Whether the `Rtc` asks for a timeout only because its pacer closes a gate after every packet it releases
    /// (str0m releases one packet per timeout pass), and nothing is left to release: every send queue was empty
    /// but for the one packet released since the last pass. Not while connecting or probing.
    fn gate_only(&mut self, now: Instant) -> bool {
        if !self.connected || now < self.probing_until {
            return false;
        }
        match self.rtc.last_timeout_reason() {
            Reason::Pacer(PacerReason::Immediate) => {}
            Reason::Pacer(PacerReason::Probe1 | PacerReason::Probe2) | Reason::BweProbeControl => {
                self.probing_until = now + PROBE_GRACE;
                return false;
            }
            _ => return false,
        }
        let mut api = self.rtc.direct_api();
        let mut queued = 0;
        for o in &self.outgoing {
            if let Some(q) = api.stream_tx_by_mid(o.mid, None).and_then(|s| s.queue_info()) {
                queued += q.packet_count();
            }
        }
        queued <= 1
    }

    /// Puts the peer in the timer set at the earlier of its `Rtc`'s timeout and its connect deadline.
    pub(crate) fn schedule(&mut self, timers: &mut Timers) {
        let wake = match (self.rtc_timeout, self.connect_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(wake) = wake {
            timers.reschedule(self.id, self.scheduled, wake);
            self.scheduled = Some(wake);
        }
    }
}

/// Whether an outgoing datagram is a bandwidth probe: RTP (not RTCP, RFC 5761) on str0m's probe SSRC, 0.
fn is_probe(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1]) && datagram[8..12] == [0; 4]
}

/// The events the SFU acts on; everything else (stats, pauses, sender reports) is dropped at the source so the
/// event queue stays short.
fn is_relevant(e: &Event) -> bool {
    matches!(
        e,
        Event::Connected
            | Event::IceConnectionStateChange(IceConnectionState::Disconnected)
            | Event::MediaAdded(_)
            | Event::RtpPacket(_)
            | Event::KeyframeRequest(_)
            | Event::EgressBitrateEstimate(_)
            | Event::Closed
    )
}
