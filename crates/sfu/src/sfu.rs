//! The engine: admits peers into rooms, routes datagrams to them, forwards RTP between them, keeps their offers
//! in step with what they should receive, and isolates their failures.
//!
//! Every public entry point ends in [`Sfu::run`], which drains the peers it touched and handles what they
//! produced until nothing is left; the caller then empties [`Sfu::poll_output`]. The cost of one call therefore
//! depends on the peers involved — the receiving peer and the subscribers it forwards to — and never on how many
//! peers exist: datagrams are routed through maps, and only peers whose timers are due are woken.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsCert;
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaAdded, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::{Candidate, Event, IceCreds, Input, Rtc};
use tracing::{debug, info, warn};

use crate::alloc::{self, Demand};
use crate::keyframe;
use crate::peer::{guarded, InFlight, Io, OutState, OutTrack, Peer, Route, TrackKey};
use crate::stun;
use crate::track::{forwarded_extensions, Subscription, Track};
use crate::{Kind, PeerId, SfuConfig, SfuError, SfuEvent, SfuOutput, SfuStats, Source, TrackInfo};

/// A peer that has not completed ICE and DTLS by then is removed: its client is gone or cannot reach us.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many SSRC → mid bindings to remember per publisher (a few per track: main, after encoder restarts).
const MAX_SSRCS: usize = 32;

/// How long the caller may sleep when no peer needs time.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// How often a subscriber's downlink is shared out again without a new estimate: the layers' bitrates drift,
/// and publishers start and stop layers.
const ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);

/// A change of the estimate by more than this share re-allocates at once.
const ESTIMATE_CHANGE: f64 = 0.15;

/// The selective forwarding unit. See the crate docs for how to drive it.
pub struct Sfu {
    config: SfuConfig,
    candidates: Vec<Candidate>,
    peers: HashMap<PeerId, Peer>,
    tracks: HashMap<TrackKey, Track>,
    /// Members of each room, in joining order (which orders the tracks in offers).
    rooms: HashMap<String, Vec<PeerId>>,
    /// Binding requests name our ufrag: the one lookup that finds a peer before we know its address.
    by_ufrag: HashMap<String, PeerId>,
    /// Everything else is routed by the remote address (and transport) learnt from authenticated binding requests.
    by_addr: HashMap<Route, PeerId>,
    io: Io,
    stats: SfuStats,
    /// Scratch for `handle_timeout`, kept to avoid an allocation per timeout.
    due: Vec<PeerId>,
    /// Peers whose cameras are priority video (see [`Sfu::set_priority`]). Kept beside `peers` so that a
    /// subscriber's allocation can look a publisher up while it holds the subscriber mutably.
    priority: HashSet<PeerId>,
    /// The DTLS certificate every peer's connection presents, made once: making one per connection took about
    /// 1.6 ms of the media loop per join (a connection is ~0.9 ms to set up with it, ~2.5 ms without). Each
    /// connection still has its own DTLS session and SRTP keys; `None` (the crypto backend cannot make one) leaves
    /// str0m to make one per connection.
    dtls_cert: Option<DtlsCert>,
}

impl Sfu {
    /// A new SFU with no peers. `now` is the current time: the SFU has no clock of its own, and it needs a time to
    /// report as its first timeout.
    pub fn new(config: SfuConfig, now: Instant) -> Self {
        let candidates = config
            .candidates
            .iter()
            .filter_map(|&(proto, addr)| {
                let candidate = match proto {
                    Protocol::Udp => Candidate::host(addr, "udp"),
                    Protocol::Tcp => Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build(),
                    other => {
                        warn!(?other, %addr, "candidate protocol not supported, skipped");
                        return None;
                    }
                };
                candidate.inspect_err(|e| warn!(%addr, error = %e, "candidate refused, skipped")).ok()
            })
            .collect();
        let dtls_cert =
            guarded(|| str0m::crypto::from_feature_flags().dtls_provider.generate_certificate()).ok().flatten();
        Sfu {
            config,
            candidates,
            dtls_cert,
            peers: HashMap::new(),
            tracks: HashMap::new(),
            rooms: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            io: Io::new(now),
            stats: SfuStats::default(),
            due: Vec::new(),
            priority: HashSet::new(),
        }
    }

    /// An admitted participant joins `room` with its first SDP offer; `sources` maps the offer's mids to what they
    /// carry (a track whose mid is not listed is forwarded as `Camera` for video, `Microphone` for audio).
    /// Returns the SDP answer. Afterwards the SFU emits an `Offer` for this peer adding every existing track of the
    /// room's other peers, and an `Offer` to each other peer of the room adding this peer's tracks.
    pub fn add_peer(
        &mut self,
        now: Instant,
        room: &str,
        peer: PeerId,
        offer_sdp: &str,
        sources: &[(String, Source)],
    ) -> Result<String, SfuError> {
        self.advance(now);
        let now = self.io.now;
        if self.peers.contains_key(&peer) {
            return Err(SfuError::DuplicatePeer(peer));
        }
        let offer = SdpOffer::from_sdp_string(offer_sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;

        let creds = self.unique_ice_credentials();
        let ufrag = creds.ufrag.clone();
        let mut builder = Rtc::builder().set_rtp_mode(true).set_ice_lite(true).set_local_ice_credentials(creds);
        if let Some(cert) = &self.dtls_cert {
            builder = builder.set_dtls_cert(cert.clone());
        }
        if let Some(initial) = self.config.initial_estimate {
            builder = builder.enable_bwe(Some(Bitrate::bps(initial)));
        }
        let mut rtc = builder.build(now);
        for candidate in &self.candidates {
            rtc.add_local_candidate(candidate.clone());
        }
        let answer = match guarded(|| rtc.sdp_api().accept_offer(offer)) {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(SfuError::BadSdp(e.to_string())),
            Err(panic) => return Err(SfuError::BadSdp(panic)),
        };
        let mut mapped = Vec::with_capacity(sources.len());
        for (mid, source) in sources {
            let m = Mid::from(mid.as_str());
            if rtc.media(m).is_none() {
                return Err(SfuError::UnknownMid(mid.clone()));
            }
            mapped.push((m, *source));
        }

        info!(peer, room, "peer joins");
        let mut p = Peer::new(peer, room.to_string(), rtc, ufrag.clone(), now, now + CONNECT_TIMEOUT);
        p.sources = mapped;
        // Everything the room already publishes, in joining and publishing order.
        let members = self.rooms.entry(room.to_string()).or_default();
        for other in members.iter() {
            if let Some(o) = self.peers.get(other) {
                p.negotiation.queued_adds.extend(o.published.iter().map(|mid| (*other, *mid)));
            }
        }
        members.push(peer);
        p.want_negotiation(&mut self.io);
        p.mark_dirty(&mut self.io);
        self.by_ufrag.insert(ufrag, peer);
        self.peers.insert(peer, p);
        self.run();
        Ok(answer.to_sdp_string())
    }

    /// The peer's client answered the SFU's latest offer. A refused answer fails the peer (it is removed and a
    /// `Failed` event follows) besides returning the error; an unparsable one changes nothing.
    pub fn accept_answer(&mut self, now: Instant, peer: PeerId, answer_sdp: &str) -> Result<(), SfuError> {
        self.advance(now);
        let p = live_peer(&mut self.peers, peer)?;
        let answer = SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| SfuError::BadSdp(e.to_string()))?;
        let Some(in_flight) = p.negotiation.in_flight.take() else {
            return Err(SfuError::Negotiation("no offer in flight".into()));
        };
        p.flush(&mut self.io);
        let accepted = guarded(|| p.rtc.sdp_api().accept_answer(in_flight.pending, answer));
        p.mark_dirty(&mut self.io);
        let refusal = match accepted {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(panic),
        };
        if let Some(reason) = refusal {
            p.fail(&mut self.io, format!("answer refused: {reason}"));
            self.run();
            return Err(SfuError::Negotiation(reason));
        }

        let mut fresh = Vec::new();
        for mid in in_flight.added {
            let Some(o) = p.outgoing.iter_mut().find(|o| o.mid == mid) else {
                continue;
            };
            match o.state {
                OutState::Offered => {
                    o.state = OutState::Active;
                    if let Some(track) = self.tracks.get_mut(&o.track) {
                        let best = track.layers.len().checked_sub(1);
                        track.subscribers.push(Subscription::new(peer, mid, best));
                        fresh.push(o.track);
                    }
                }
                OutState::Orphaned => {
                    o.state = OutState::Stopping;
                    p.negotiation.queued_stops.push(mid);
                }
                OutState::Active | OutState::Stopping => {}
            }
        }
        // The subscriber's payload types may have moved with this exchange.
        for o in p.outgoing.iter().filter(|o| o.state == OutState::Active) {
            if let Some(sub) =
                self.tracks.get_mut(&o.track).and_then(|t| t.subscribers.iter_mut().find(|s| s.peer == peer))
            {
                sub.pts.clear();
            }
        }
        p.want_negotiation(&mut self.io);
        // The new tracks get their share of the downlink, and a subscriber that can already receive must see a
        // picture at once, not at the next periodic keyframe.
        self.allocate_downlink(peer, &fresh);
        self.run();
        Ok(())
    }

    /// A trickled client candidate (`candidate:…`, with or without `a=`). An empty one (end of candidates) is
    /// accepted and ignored.
    pub fn add_remote_candidate(&mut self, peer: PeerId, candidate: &str) -> Result<(), SfuError> {
        let p = live_peer(&mut self.peers, peer)?;
        let line = candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        let c = Candidate::from_sdp_string(line).map_err(|e| SfuError::BadCandidate(e.to_string()))?;
        p.flush(&mut self.io);
        if let Err(panic) = guarded(|| p.rtc.add_remote_candidate(c)) {
            p.fail(&mut self.io, panic);
        }
        p.mark_dirty(&mut self.io);
        self.run();
        Ok(())
    }

    /// Marks (or unmarks) `peer`'s cameras as priority video: a sign-language interpreter's, whose signing must
    /// stay readable. In every subscriber's downlink allocation they are then protected as the document camera is
    /// — always at their best layer, never paused — and the subscriber's other cameras step down and pause first.
    /// The room's other peers are re-allocated at once. The mark lasts while the peer does (a peer removed and
    /// added again, after a new offer, must be marked again); unknown peers are ignored.
    pub fn set_priority(&mut self, now: Instant, peer: PeerId, priority: bool) {
        self.advance(now);
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let changed = if priority { self.priority.insert(peer) } else { self.priority.remove(&peer) };
        if !changed {
            return;
        }
        info!(peer, priority, "camera priority set");
        let others: Vec<PeerId> =
            self.rooms.get(&p.room).map(|m| m.iter().copied().filter(|&o| o != peer).collect()).unwrap_or_default();
        for other in others {
            self.allocate_downlink(other, &[]);
        }
        self.run();
    }

    /// Removes a peer at once: nothing more is forwarded from or to it, queued datagrams to it are discarded, and
    /// every subscriber of its tracks gets an offer removing them. Unknown peers are ignored.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerId) {
        self.advance(now);
        self.drop_peer(peer, None);
        self.run();
    }

    /// A datagram arrived on one of the SFU's sockets. For ICE-TCP (`Protocol::Tcp`) it is the payload of one
    /// RFC 4571 frame, `source` is the TCP connection's remote address and `destination` the announced passive
    /// candidate: each connection is its own route, as a UDP remote address is.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.advance(now);
        self.receive(proto, source, destination, datagram);
        self.run();
    }

    /// Datagrams that arrived together (one `recvmmsg`, say), all at `now`: as [`Sfu::handle_receive`] for each,
    /// except that subscribers are drained once after the batch instead of once per forwarded packet. A
    /// subscriber in a busy room gets several packets per batch, and each drain costs a pass over its `Rtc`.
    pub fn handle_receive_batch<'a>(
        &mut self,
        now: Instant,
        proto: Protocol,
        destination: SocketAddr,
        datagrams: impl IntoIterator<Item = (SocketAddr, &'a [u8])>,
    ) {
        self.advance(now);
        self.io.batching = true;
        for (source, datagram) in datagrams {
            self.receive(proto, source, destination, datagram);
            self.run();
        }
        self.io.batching = false;
        let mut held = std::mem::take(&mut self.io.held);
        for id in held.drain(..) {
            if let Some(p) = self.peers.get_mut(&id) {
                p.flush(&mut self.io);
            }
        }
        self.io.held = held;
        self.run();
    }

    fn receive(&mut self, proto: Protocol, source: SocketAddr, destination: SocketAddr, datagram: &[u8]) {
        let now = self.io.now;
        // RFC 7983 demultiplexing by the first byte: STUN, DTLS, RTP/RTCP — anything else is nobody's protocol.
        if !matches!(datagram.first(), Some(0..=3 | 20..=63 | 128..=191)) {
            self.stats.dropped_malformed += 1;
            return;
        }
        let route = (proto, source);
        let (routed, by_ufrag) = if stun::is_stun(datagram) {
            match stun::local_ufrag(datagram) {
                Ok(Some(ufrag)) => (self.by_ufrag.get(ufrag).copied(), true),
                Ok(None) => (self.by_addr.get(&route).copied(), false),
                Err(_) => {
                    self.stats.dropped_malformed += 1;
                    return;
                }
            }
        } else {
            (self.by_addr.get(&route).copied(), false)
        };
        let Some(p) = routed.and_then(|id| self.peers.get_mut(&id)).filter(|p| !p.failed) else {
            self.stats.dropped_unroutable += 1;
            return;
        };
        let Ok(receive) = Receive::new(proto, source, destination, datagram) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let input = Input::Receive(p.clock(now), receive);
        // For STUN this checks the message integrity with the peer's password: only then is the address trusted.
        if !p.rtc.accepts(&input) {
            self.stats.dropped_unroutable += 1;
            return;
        }
        if by_ufrag && !p.addrs.contains(&route) {
            let id = p.id;
            let forgotten = p.learn_addr(route);
            self.learn_route(id, route, forgotten);
        }
        let Some(p) = routed.and_then(|id| self.peers.get_mut(&id)) else {
            return;
        };
        p.flush(&mut self.io);
        match guarded(|| p.rtc.handle_input(input)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => p.fail(&mut self.io, format!("rtc error: {e}")),
            Err(panic) => p.fail(&mut self.io, panic),
        }
        p.mark_dirty(&mut self.io);
    }

    /// Time passed: wakes the peers whose timers are due (and only those).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let now = self.io.now;
        let mut due = std::mem::take(&mut self.due);
        self.io.timers.take_due(now, &mut due);
        let mut reallocate = Vec::new();
        for id in due.drain(..) {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            p.scheduled = None;
            if p.failed {
                continue;
            }
            if p.connect_deadline.is_some_and(|d| d <= now) {
                p.fail(&mut self.io, "not connected in time".into());
                continue;
            }
            p.flush(&mut self.io);
            let at = p.clock(now);
            self.io.passes += 1;
            match guarded(|| p.rtc.handle_input(Input::Timeout(at))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => p.fail(&mut self.io, format!("rtc error: {e}")),
                Err(panic) => p.fail(&mut self.io, panic),
            }
            p.mark_dirty(&mut self.io);
            if p.connected && p.next_allocation <= now && !p.outgoing.is_empty() {
                reallocate.push(id);
            }
        }
        self.due = due;
        self.run();
        for id in reallocate {
            self.allocate_downlink(id, &[]);
        }
        self.run();
    }

    /// The next output: datagrams and events first, then the earliest timeout over all peers.
    pub fn poll_output(&mut self) -> SfuOutput {
        if let Some((_, output)) = self.io.out.pop_front() {
            return output;
        }
        SfuOutput::Timeout(self.io.timers.earliest().unwrap_or(self.io.now + IDLE_WAKE))
    }

    /// A peer's current downlink estimate in bits per second (`None`: unknown peer, estimation off, or no estimate
    /// yet).
    pub fn downlink_estimate(&self, peer: PeerId) -> Option<u64> {
        self.peers.get(&peer).and_then(|p| p.estimate)
    }

    /// Counters for dashboards and load generators.
    pub fn stats(&self) -> SfuStats {
        SfuStats {
            peers: self.peers.len(),
            rooms: self.rooms.len(),
            timeout_passes: self.io.passes,
            sent_datagrams: self.io.sent,
            probe_datagrams: self.io.probes,
            ..self.stats
        }
    }

    // ---- internals ----

    fn advance(&mut self, now: Instant) {
        self.io.now = self.io.now.max(now);
    }

    fn unique_ice_credentials(&self) -> IceCreds {
        loop {
            let creds = IceCreds::new();
            if !self.by_ufrag.contains_key(&creds.ufrag) {
                return creds;
            }
        }
    }

    /// Points `addr` at `peer`, taking it away from any peer that had it (a client that rejoined from the same
    /// address), and forgets the address `peer` dropped to make room.
    fn learn_route(&mut self, peer: PeerId, addr: Route, forgotten: Option<Route>) {
        if let Some(old) = forgotten {
            if self.by_addr.get(&old) == Some(&peer) {
                self.by_addr.remove(&old);
            }
        }
        if let Some(previous) = self.by_addr.insert(addr, peer) {
            if previous != peer {
                if let Some(p) = self.peers.get_mut(&previous) {
                    p.addrs.retain(|a| *a != addr);
                }
            }
        }
    }

    /// Handles everything the last mutation set off, until nothing is left.
    fn run(&mut self) {
        loop {
            if let Some((id, reason)) = self.io.failed.pop() {
                self.drop_peer(id, Some(reason));
            } else if let Some((id, event)) = self.io.events.pop_front() {
                self.on_event(id, event);
            } else if let Some(id) = self.io.dirty.pop() {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.flush(&mut self.io);
                }
            } else if let Some(id) = self.io.renegotiate.pop() {
                self.negotiate(id);
            } else {
                break;
            }
        }
    }

    fn on_event(&mut self, id: PeerId, event: Event) {
        let Some(p) = self.peers.get_mut(&id).filter(|p| !p.failed) else {
            return;
        };
        match event {
            Event::RtpPacket(packet) => self.forward(id, packet),
            Event::KeyframeRequest(req) => self.relay_keyframe_request(id, req),
            Event::MediaAdded(added) => self.publish(id, added),
            Event::Connected => {
                info!(peer = id, "peer connected");
                p.connected = true;
                p.connect_deadline = None;
                p.schedule(&mut self.io.timers);
                self.io.out.push_back((Some(id), SfuOutput::Event(SfuEvent::Connected { peer: id })));
                let active: Vec<TrackKey> =
                    p.outgoing.iter().filter(|o| o.state == OutState::Active).map(|o| o.track).collect();
                self.allocate_downlink(id, &active);
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                let estimate = estimate.as_u64();
                p.estimate = Some(estimate);
                let moved =
                    p.allocated_for.is_none_or(|a| (estimate as f64 - a as f64).abs() > a as f64 * ESTIMATE_CHANGE);
                if moved && p.connected {
                    self.allocate_downlink(id, &[]);
                }
            }
            Event::IceConnectionStateChange(_) => p.fail(&mut self.io, "ICE disconnected".into()),
            Event::Closed => p.fail(&mut self.io, "closed by the client".into()),
            _ => {}
        }
    }

    /// The publisher's offer declared a track (str0m tells us once per m-line after accepting the offer).
    fn publish(&mut self, publisher: PeerId, added: MediaAdded) {
        if !added.direction.is_receiving() {
            return;
        }
        let Some(p) = self.peers.get_mut(&publisher) else {
            return;
        };
        let kind = Kind::from(added.kind);
        let source = p.sources.iter().find(|(m, _)| *m == added.mid).map(|(_, s)| *s).unwrap_or(match kind {
            Kind::Audio => Source::Microphone,
            Kind::Video => Source::Camera,
        });
        let duplicate =
            p.published.iter().any(|m| self.tracks.get(&(publisher, *m)).is_some_and(|t| t.source == source));
        let label = if duplicate {
            format!("{publisher}-{}-{}", source.as_str(), added.mid)
        } else {
            format!("{publisher}-{}", source.as_str())
        };
        // Simulcast: the layers as the publisher's offer lists them (`a=simulcast:send`, our `recv` side).
        let rids: Vec<_> = match &added.simulcast {
            Some(s) if !s.recv.is_empty() && kind == Kind::Video => s.recv.iter().map(|l| Some(l.rid)).collect(),
            _ => vec![None],
        };
        debug!(publisher, mid = %added.mid, ?source, layers = rids.len(), "track published");
        p.published.push(added.mid);
        let key = (publisher, added.mid);
        self.tracks.insert(key, Track::new(source, kind, label, rids, self.io.now));
        let room = p.room.clone();
        for member in self.rooms.get(&room).into_iter().flatten() {
            if *member == publisher {
                continue;
            }
            if let Some(s) = self.peers.get_mut(member).filter(|s| !s.failed) {
                s.negotiation.queued_adds.push(key);
                s.want_negotiation(&mut self.io);
            }
        }
    }

    /// The hot path: one incoming RTP packet to every active subscriber of its track.
    fn forward(&mut self, publisher: PeerId, mut packet: RtpPacket) {
        let Some(p) = self.peers.get_mut(&publisher) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let (mid, rid) = match p.ssrc_mids.iter().find(|(s, _, _)| *s == ssrc) {
            Some(&(_, mid, rid)) => (mid, rid),
            None => {
                // Early packets carry the mid (and rid); later ones only the SSRC, which str0m has bound to them.
                p.flush(&mut self.io);
                let bound = p.rtc.direct_api().stream_rx(&ssrc).map(|s| (s.mid(), s.rid()));
                p.mark_dirty(&mut self.io);
                let ext = &packet.header.ext_vals;
                let Some((mid, rid)) = bound.or(ext.mid.map(|m| (m, ext.rid))) else {
                    return;
                };
                // Bounded: a publisher that keeps restarting its encoder must not grow this forever.
                if p.ssrc_mids.len() >= MAX_SSRCS {
                    p.ssrc_mids.remove(0);
                }
                p.ssrc_mids.push((ssrc, mid, rid));
                (mid, rid)
            }
        };

        let Some(track) = self.tracks.get_mut(&(publisher, mid)) else {
            return;
        };
        let Some(layer) = track.layer_of(rid) else {
            return;
        };
        track.layers[layer].meter.add(self.io.now, packet.payload.len());
        if !track.flowing {
            track.flowing = true;
            self.io.out.push_back((
                Some(publisher),
                SfuOutput::Event(SfuEvent::TrackFlowing { publisher, source: track.source }),
            ));
        }
        let pt = packet.header.payload_type;
        let params = match track.params {
            Some((cached, params)) if cached == pt => params,
            _ => {
                let Some(params) = p.rtc.codec_config().find(|c| c.pt() == pt).copied() else {
                    return;
                };
                track.params = Some((pt, params));
                params
            }
        };
        if track.subscribers.is_empty() {
            return;
        }

        let video = track.kind == Kind::Video;
        let exts = forwarded_extensions(&packet.header.ext_vals);
        // Whether this packet starts a keyframe, read once and only if a subscriber waits for one.
        let mut starts_keyframe: Option<Option<bool>> = None;
        let mut held_back = false;
        let size = packet.payload.len();
        let last = track.subscribers.len().saturating_sub(1);
        for (i, sub) in track.subscribers.iter_mut().enumerate() {
            // Only the chosen layer goes to a subscriber (see `Subscription::target`).
            if sub.current != Some(layer) && sub.target != Some(layer) {
                continue;
            }
            if sub.current == Some(layer) && sub.target.is_none() {
                // Paused: whatever comes next must start at a keyframe again.
                sub.current = None;
                continue;
            }
            let Some(s) = self.peers.get_mut(&sub.peer).filter(|s| s.connected && !s.failed) else {
                continue;
            };
            // Writes may pile up in the subscriber's send queue: one drain after them sends them all (str0m stamps
            // and paces queued packets at its next timeout).
            if s.failed {
                continue;
            }
            let out_pt = match sub.pts.iter().find(|(from, _)| *from == pt) {
                Some((_, to)) => *to,
                None => {
                    let to = s
                        .rtc
                        .codec_config()
                        .match_params(params)
                        .map(|c| c.pt())
                        .filter(|to| s.rtc.media(sub.mid).is_some_and(|m| m.remote_pts().contains(to)));
                    sub.pts.push((pt, to));
                    to
                }
            };
            let Some(out_pt) = out_pt else {
                continue;
            };
            if sub.current != Some(layer) {
                let starts = *starts_keyframe.get_or_insert_with(|| {
                    if video {
                        keyframe::starts_keyframe(params.spec().codec, &packet.payload)
                    } else {
                        None
                    }
                });
                // A new video subscriber, or one switching layers, starts at a keyframe: what comes before it cannot be
                // decoded. A codec the SFU cannot read (`None`) is not held back.
                if starts == Some(false) {
                    held_back = true;
                    continue;
                }
                if sub.current.is_some() {
                    self.stats.layer_switches += 1;
                }
                sub.current = Some(layer);
            }
            let written = guarded(|| {
                let mut api = s.rtc.direct_api();
                let tx = api.stream_tx_by_mid(sub.mid, None)?;
                let (seq, ts) = sub.rewrite.rewrite(ssrc, packet.seq_no, packet.header.timestamp)?;
                // The last subscriber takes the payload itself; the others a copy.
                let payload = if i == last { std::mem::take(&mut packet.payload) } else { packet.payload.clone() };
                let write = RtpWrite::new(out_pt, seq, ts, packet.timestamp, payload)
                    .marker(packet.header.marker)
                    .ext_vals(exts.clone())
                    .nackable(video);
                tx.write_rtp(write);
                Some(())
            });
            match written {
                Ok(Some(())) => {
                    self.stats.forwarded_packets += 1;
                    self.stats.forwarded_bytes += size as u64;
                    s.mark_unsent(&mut self.io);
                }
                Ok(None) => s.mark_dirty(&mut self.io),
                Err(panic) => s.fail(&mut self.io, panic),
            }
        }
        // The keyframe asked for when the subscription began may have been lost on the way in: ask again, throttled.
        if held_back {
            self.request_keyframe((publisher, mid), layer, true);
        }
    }

    /// A subscriber lost a picture: ask the track's publisher, unless someone asked very recently.
    fn relay_keyframe_request(&mut self, subscriber: PeerId, req: KeyframeRequest) {
        let Some(key) = self
            .peers
            .get(&subscriber)
            .and_then(|s| s.out_track(req.mid))
            .filter(|o| o.state == OutState::Active)
            .map(|o| o.track)
        else {
            return;
        };
        // The layer the subscriber decodes, or the one it is waiting for.
        let layer = self
            .tracks
            .get(&key)
            .and_then(|t| t.subscribers.iter().find(|s| s.peer == subscriber))
            .and_then(|s| s.current.or(s.target));
        if let Some(layer) = layer {
            self.request_keyframe(key, layer, true);
        }
    }

    /// Shares a subscriber's downlink out over the tracks it receives (the rules are in `alloc`), points its
    /// subscriptions at the chosen layers, asks the estimator to probe for what would improve them, and asks
    /// publishers for keyframes of the layers it switches to. `fresh` are tracks whose subscription just began:
    /// their keyframe requests are never throttled.
    fn allocate_downlink(&mut self, id: PeerId, fresh: &[TrackKey]) {
        let now = self.io.now;
        let Some(p) = self.peers.get_mut(&id).filter(|p| !p.failed) else {
            return;
        };
        p.next_allocation = now + ALLOCATION_INTERVAL;
        p.allocated_for = p.estimate;
        let estimate = p.estimate;
        let connected = p.connected;
        let mut keys = Vec::with_capacity(p.outgoing.len());
        let mut demands = Vec::with_capacity(p.outgoing.len());
        for o in p.outgoing.iter().filter(|o| o.state == OutState::Active) {
            if let Some(t) = self.tracks.get_mut(&o.track) {
                keys.push(o.track);
                let priority = self.priority.contains(&o.track.0);
                let layers = t.layers.iter_mut().map(|l| l.rate_for_allocation(now)).collect();
                let current = t.subscribers.iter().find(|s| s.peer == id).and_then(|s| s.target);
                demands.push(Demand { class: t.class(priority), layers, current });
            }
        }
        let choice = alloc::allocate(estimate, &demands);
        // The rate to probe for (zero: no probing), and what the layers measured, for reading in the logs.
        let desired = estimate.map(|e| alloc::desired(e, &demands, &choice));
        debug!(peer = id, ?estimate, ?choice, ?desired, ?demands, "downlink allocated");
        if let Some(desired) = desired {
            p.flush(&mut self.io);
            // No sustained minimum: padding up to it would cost a packet's work for nothing whenever the media is
            // quieter than its allocation (a 5 fps document is). `desired` makes the estimator probe upwards.
            if let Err(panic) = guarded(|| p.rtc.bwe().set_bitrate(Bitrate::ZERO, Bitrate::bps(desired))) {
                p.fail(&mut self.io, panic);
            }
            // The pacer takes new rates at its next timeout: give it one in the drain rather than a wake-up.
            p.mark_unsent(&mut self.io);
        }

        let mut keyframes = Vec::new();
        for (&key, chosen) in keys.iter().zip(choice) {
            let Some(t) = self.tracks.get_mut(&key) else {
                continue;
            };
            let video = t.kind == Kind::Video;
            let Some(sub) = t.subscribers.iter_mut().find(|s| s.peer == id) else {
                continue;
            };
            let new = fresh.contains(&key);
            if sub.target != chosen {
                debug!(peer = id, publisher = key.0, from = ?sub.target, to = ?chosen, "layer chosen");
                sub.target = chosen;
            }
            if let Some(layer) = chosen {
                if connected && video && (new || sub.current != Some(layer)) {
                    keyframes.push((key, layer, !new));
                }
            }
        }
        for (key, layer, throttled) in keyframes {
            self.request_keyframe(key, layer, throttled);
        }
        for key in keys {
            self.update_layers(key);
        }
    }

    /// Asks the publisher of `key` for the set of simulcast layers to send when it changed (see
    /// [`Track::update_pauses`]).
    fn update_layers(&mut self, key: TrackKey) {
        let Some(rids) = self.tracks.get_mut(&key).and_then(|t| t.update_pauses(self.io.now)) else {
            return;
        };
        debug!(publisher = key.0, mid = %key.1, ?rids, "simulcast layers to send");
        self.stats.layer_changes += 1;
        let event = SfuEvent::Layers { publisher: key.0, mid: key.1.to_string(), rids };
        self.io.out.push_back((Some(key.0), SfuOutput::Event(event)));
    }

    /// Sends a PLI to the publisher of `key` for one of its layers. `throttled` requests are dropped within the
    /// configured window of the previous one for that layer; the others (a new subscriber) always go out.
    fn request_keyframe(&mut self, key: TrackKey, layer: usize, throttled: bool) {
        let now = self.io.now;
        let Some(track) = self.tracks.get_mut(&key).filter(|t| t.kind == Kind::Video) else {
            return;
        };
        let Some(layer) = track.layers.get_mut(layer) else {
            return;
        };
        if throttled && layer.last_keyframe_request.is_some_and(|t| now < t + self.config.keyframe_throttle) {
            return;
        }
        let rid = layer.rid;
        let Some(p) = self.peers.get_mut(&key.0).filter(|p| !p.failed) else {
            return;
        };
        p.flush(&mut self.io);
        // Without a receive stream yet (no a=ssrc and no packet so far) there is nothing to ask: the publisher's
        // first frames are a keyframe anyway.
        let asked = guarded(|| {
            let mut api = p.rtc.direct_api();
            let rx = api.stream_rx_by_mid(key.1, rid)?;
            rx.request_keyframe(KeyframeRequestKind::Pli);
            Some(())
        });
        match asked {
            Ok(Some(())) => {
                layer.last_keyframe_request = Some(now);
                self.stats.keyframe_requests_sent += 1;
                p.mark_unsent(&mut self.io);
            }
            Ok(None) => p.mark_dirty(&mut self.io),
            Err(panic) => p.fail(&mut self.io, panic),
        }
    }

    /// Sends the peer one offer with every queued change, unless an offer is already in flight (then the changes
    /// wait for its answer).
    fn negotiate(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.negotiation.wanted = false;
        if p.failed || p.negotiation.in_flight.is_some() {
            return;
        }
        if p.negotiation.queued_adds.is_empty() && p.negotiation.queued_stops.is_empty() {
            return;
        }
        p.flush(&mut self.io);
        let adds = std::mem::take(&mut p.negotiation.queued_adds);
        let stops = std::mem::take(&mut p.negotiation.queued_stops);
        let Peer { rtc, outgoing, .. } = &mut *p;
        let tracks = &self.tracks;
        let applied = guarded(|| {
            let mut api = rtc.sdp_api();
            let mut added = Vec::with_capacity(adds.len());
            for key in &adds {
                let Some(track) = tracks.get(key) else {
                    continue;
                };
                let mid = api.add_media(
                    track.kind.into(),
                    Direction::SendOnly,
                    Some(key.0.to_string()),
                    Some(track.label.clone()),
                    None,
                );
                outgoing.push(OutTrack {
                    mid,
                    track: *key,
                    source: track.source,
                    kind: track.kind,
                    state: OutState::Offered,
                });
                added.push(mid);
            }
            for mid in &stops {
                api.stop_media(*mid);
            }
            api.apply().map(|(offer, pending)| (offer.to_sdp_string(), pending, added))
        });
        p.outgoing.retain(|o| !(o.state == OutState::Stopping && stops.contains(&o.mid)));
        p.mark_dirty(&mut self.io);
        match applied {
            Ok(Some((sdp, pending, added))) => {
                p.negotiation.in_flight = Some(InFlight { pending, added });
                let tracks = p
                    .outgoing
                    .iter()
                    .filter(|o| matches!(o.state, OutState::Offered | OutState::Active))
                    .map(|o| TrackInfo { mid: o.mid.to_string(), publisher: o.track.0, source: o.source, kind: o.kind })
                    .collect();
                debug!(peer = id, "offer");
                self.io.out.push_back((Some(id), SfuOutput::Event(SfuEvent::Offer { peer: id, sdp, tracks })));
            }
            // Only stops of m-lines already stopped: nothing to tell the client.
            Ok(None) => {}
            Err(panic) => p.fail(&mut self.io, panic),
        }
    }

    /// Takes a peer out of everything: routes, timers, its room, its tracks and its subscriptions. `reason` is
    /// `Some` for failures, which the caller is told about.
    fn drop_peer(&mut self, id: PeerId, reason: Option<String>) {
        let Some(p) = self.peers.remove(&id) else {
            return;
        };
        self.priority.remove(&id);
        match &reason {
            Some(reason) => warn!(peer = id, reason, "peer failed"),
            None => info!(peer = id, "peer removed"),
        }
        self.by_ufrag.remove(&p.ufrag);
        for addr in &p.addrs {
            if self.by_addr.get(addr) == Some(&id) {
                self.by_addr.remove(addr);
            }
        }
        self.io.timers.cancel(id, p.scheduled);

        // What it received: stop forwarding to it.
        let received: Vec<TrackKey> = p.outgoing.iter().map(|o| o.track).collect();
        for key in &received {
            if let Some(track) = self.tracks.get_mut(key) {
                track.subscribers.retain(|s| s.peer != id);
            }
        }
        // What it published: gone from every track map, and from the offers of the rest of the room.
        for mid in &p.published {
            self.tracks.remove(&(id, *mid));
        }
        let members = self.rooms.get_mut(&p.room);
        if let Some(members) = members {
            members.retain(|m| *m != id);
            if members.is_empty() {
                self.rooms.remove(&p.room);
            } else {
                for member in members.iter() {
                    let Some(s) = self.peers.get_mut(member) else {
                        continue;
                    };
                    s.negotiation.queued_adds.retain(|k| k.0 != id);
                    let mut changed = false;
                    for o in s.outgoing.iter_mut().filter(|o| o.track.0 == id) {
                        match o.state {
                            OutState::Active => {
                                o.state = OutState::Stopping;
                                s.negotiation.queued_stops.push(o.mid);
                                changed = true;
                            }
                            OutState::Offered => o.state = OutState::Orphaned,
                            OutState::Orphaned | OutState::Stopping => {}
                        }
                    }
                    if changed {
                        s.want_negotiation(&mut self.io);
                    }
                }
            }
        }

        // Nothing more goes to it, even what was already queued.
        self.io.out.retain(|(peer, _)| *peer != Some(id));
        self.io.events.retain(|(peer, _)| *peer != id);
        // The layers only it received may now be paused (or all resumed, if it was the last subscriber).
        for key in received.into_iter().filter(|k| k.0 != id) {
            self.update_layers(key);
        }
        if let Some(reason) = reason {
            self.io.out.push_back((None, SfuOutput::Event(SfuEvent::Failed { peer: id, reason })));
        }
    }
}

/// A peer that commands may address: present and not failed. A free function so the caller keeps the other
/// fields of the SFU borrowable.
fn live_peer(peers: &mut HashMap<PeerId, Peer>, peer: PeerId) -> Result<&mut Peer, SfuError> {
    peers.get_mut(&peer).filter(|p| !p.failed).ok_or(SfuError::UnknownPeer(peer))
}
