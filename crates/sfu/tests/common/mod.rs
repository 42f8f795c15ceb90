//! A deterministic little world for the SFU's tests: real str0m clients, an in-memory network, a virtual clock.
//!
//! Every client is a full (non-lite, controlling) str0m `Rtc` in RTP mode, so the tests write and read RTP
//! packets directly and can check payloads, order and sequence numbers end to end. The network delivers every
//! datagram within the millisecond it was sent; the clock advances in 1 ms steps and nothing ever sleeps.
//! Offers from the SFU are answered by the client at once unless a test holds them.
//!
//! Media payloads say who sent what: `<name>|<source>|<n>`. Video payloads start with a real two-byte VP8 payload
//! descriptor and frame header byte (S bit set; P bit clear on keyframes) so keyframes are recognisable the way
//! an SFU or a decoder would recognise them.

// Each test file uses a part of the harness.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};
use vayla_sfu::{PeerId, Sfu, SfuConfig, SfuEvent, SfuOutput, Source, TrackInfo};

pub const SFU_ADDR: &str = "127.0.0.1:4000";
pub const MS: Duration = Duration::from_millis(1);
pub const AUDIO_EVERY: Duration = Duration::from_millis(20);
pub const VIDEO_EVERY: Duration = Duration::from_millis(40);

pub fn sfu_addr() -> SocketAddr {
    SFU_ADDR.parse().unwrap()
}

pub fn init_log() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// What a test client publishes, as it declares it when joining.
pub const DEVICE: &[(MediaKind, Source)] =
    &[(MediaKind::Audio, Source::Microphone), (MediaKind::Video, Source::Camera), (MediaKind::Video, Source::Document)];
pub const PERSON: &[(MediaKind, Source)] =
    &[(MediaKind::Audio, Source::Microphone), (MediaKind::Video, Source::Camera)];

/// One encoding a test client sends for a track: a simulcast rid (or none), and how big its frames are.
#[derive(Clone, Copy, Debug)]
pub struct LayerSpec {
    pub rid: Option<&'static str>,
    /// RTP packets per frame.
    pub packets: usize,
    /// Bytes per packet (the payload is padded to it; 0: as short as the text).
    pub size: usize,
}

/// One packet per frame, no padding, no simulcast: the default for every track.
pub const PLAIN: LayerSpec = LayerSpec { rid: None, packets: 1, size: 0 };

pub struct Published {
    pub mid: Mid,
    pub kind: MediaKind,
    pub source: Source,
    pub pt: Pt,
    /// The encodings, each with its next sequence number and whether its next frame must be a keyframe.
    pub layers: Vec<(LayerSpec, u64, bool)>,
    pub n: u32,
    pub next_at: Instant,
    /// When each packet was written, by payload counter.
    pub sent_at: Vec<Instant>,
    /// Per layer: whether the SFU asked for it to be paused (`SfuEvent::Layers`); a paused layer sends nothing.
    pub paused: Vec<bool>,
}

/// One RTP packet a client received.
#[derive(Clone, Debug)]
pub struct Rx {
    pub at: Instant,
    pub mid: Mid,
    /// The extended sequence number str0m derived.
    pub seq: u64,
    pub from: String,
    pub source: String,
    pub n: u32,
    pub keyframe: bool,
    /// The simulcast rid the packet was sent on (`-` without simulcast), and its index within its frame.
    pub layer: String,
    pub part: u32,
}

pub struct Client {
    pub name: String,
    pub id: PeerId,
    /// UDP, or ICE-TCP (then `addr` is its end of the TCP connection to the SFU).
    pub proto: Protocol,
    pub addr: SocketAddr,
    pub rtc: Rtc,
    pub timeout: Instant,
    pub published: Vec<Published>,
    pub connected_at: Option<Instant>,
    pub received: Vec<Rx>,
    /// Keyframe requests the client got for its own tracks: (when, which source).
    pub keyframe_requests: Vec<(Instant, Source)>,
    /// The track list of the SFU's latest offer.
    pub tracks: Vec<TrackInfo>,
    pub offers: usize,
    /// When the SFU accepted this client's answers.
    pub answered_at: Vec<Instant>,
    /// The client's latest answer to the SFU.
    pub last_answer: Option<String>,
    /// Offers not answered yet (when the test holds them).
    pub held_offers: Vec<String>,
    pub hold_offers: bool,
    /// Removed from the SFU or failed: no longer driven.
    pub gone: bool,
    /// Keyframe every this many video frames (frame 0 is always one).
    pub keyframe_every: u32,
    /// Note keyframe requests but send no keyframe for them (a slow encoder, or a lost request).
    pub ignore_keyframe_requests: bool,
    /// Whether it ignores the SFU's requests to pause and resume simulcast layers (as a client of an older
    /// protocol version would).
    pub ignore_layers: bool,
    /// What the network does to the SFU's packets towards this client (`None`: delivers them at once).
    pub downlink: Option<Link>,
    /// Share of this client's RTP packets towards the SFU that the network loses.
    pub uplink_loss: f64,
    /// The state of this client's loss generator.
    pub rng: u64,
}

/// A bottleneck between the SFU and a client: a rate, a drop-tail queue, and random loss.
#[derive(Clone, Debug)]
pub struct Link {
    pub rate_bps: u64,
    /// Packets that would wait longer than this in the queue are dropped.
    pub max_queue: Duration,
    pub loss: f64,
    busy_until: Option<Instant>,
    pub dropped: usize,
    pub lost: usize,
}

impl Link {
    pub fn new(rate_bps: u64) -> Self {
        Link { rate_bps, max_queue: Duration::from_millis(200), loss: 0.0, busy_until: None, dropped: 0, lost: 0 }
    }

    pub fn lossy(loss: f64) -> Self {
        Link { loss, ..Link::new(1_000_000_000) }
    }
}

/// A small deterministic generator (xorshift), so lossy runs are the same every time.
fn chance(state: &mut u64, p: f64) -> bool {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % 1_000_000) as f64 / 1_000_000.0 < p
}

impl Client {
    /// The received packets of one (publisher, source), in arrival order.
    pub fn from(&self, publisher: &str, source: Source) -> Vec<&Rx> {
        self.received.iter().filter(|r| r.from == publisher && r.source == source.as_str()).collect()
    }

    /// When this client wrote packet `n` of its `source` track.
    pub fn sent_at(&self, source: Source, n: u32) -> Instant {
        self.published.iter().find(|p| p.source == source).unwrap().sent_at[n as usize]
    }

    pub fn info(&self, mid: Mid) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.mid == mid.to_string())
    }
}

struct Datagram {
    proto: Protocol,
    source: SocketAddr,
    destination: SocketAddr,
    contents: Vec<u8>,
}

pub struct World {
    pub start: Instant,
    pub now: Instant,
    pub sfu: Sfu,
    sfu_timeout: Instant,
    pub clients: Vec<Client>,
    net: VecDeque<Datagram>,
    /// Datagrams held by a client's downlink, with when they arrive.
    delayed: Vec<(Instant, Datagram)>,
    /// Everything the SFU told its caller, with when.
    pub events: Vec<(Instant, SfuEvent)>,
    /// Datagrams the SFU sent to addresses of clients that are gone.
    pub sent_to_gone: usize,
    /// How often the SFU asked to be woken at once after being drained (a busy loop in a real server).
    pub sfu_immediate_wakes: usize,
    next_port: u16,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(SfuConfig::new(vec![(Protocol::Udp, sfu_addr())]))
    }

    /// An SFU that estimates no bandwidth: no pacer, every subscriber gets every track at its best layer.
    pub fn without_estimation() -> Self {
        let mut config = SfuConfig::new(vec![(Protocol::Udp, sfu_addr())]);
        config.initial_estimate = None;
        Self::with_config(config)
    }

    /// An SFU announcing a UDP and a passive TCP candidate on the same address (port numbers of the two
    /// transports are separate spaces).
    pub fn with_tcp() -> Self {
        Self::with_config(SfuConfig::new(vec![(Protocol::Udp, sfu_addr()), (Protocol::Tcp, sfu_addr())]))
    }

    pub fn with_config(config: SfuConfig) -> Self {
        init_log();
        let start = Instant::now();
        World {
            start,
            now: start,
            sfu: Sfu::new(config, start),
            sfu_timeout: start,
            clients: Vec::new(),
            net: VecDeque::new(),
            delayed: Vec::new(),
            events: Vec::new(),
            sent_to_gone: 0,
            sfu_immediate_wakes: 0,
            next_port: 5000,
        }
    }

    pub fn client(&self, name: &str) -> &Client {
        self.clients.iter().find(|c| c.name == name).unwrap()
    }

    pub fn client_mut(&mut self, name: &str) -> &mut Client {
        self.clients.iter_mut().find(|c| c.name == name).unwrap()
    }

    pub fn id(&self, name: &str) -> PeerId {
        self.client(name).id
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A client offers its tracks and joins `room`; returns its index.
    pub fn join(&mut self, name: &str, id: PeerId, room: &str, tracks: &[(MediaKind, Source)]) -> usize {
        self.join_with(name, id, room, tracks, |sdp| sdp)
    }

    /// Like `join`, with the client's only candidate on `proto` at `addr` (a TCP client's is active: it opens the
    /// connection to the SFU's passive candidate; the network here carries its frames as datagrams).
    pub fn join_on(
        &mut self,
        name: &str,
        id: PeerId,
        room: &str,
        tracks: &[(MediaKind, Source)],
        proto: Protocol,
        addr: SocketAddr,
    ) -> usize {
        let (client, offer, pending, sources) = self.new_client_on(name, id, tracks, proto, addr);
        self.admit(client, room, &offer, pending, &sources)
    }

    /// Like `join`, with a hook to tamper with the offer before the SFU sees it.
    pub fn join_with(
        &mut self,
        name: &str,
        id: PeerId,
        room: &str,
        tracks: &[(MediaKind, Source)],
        tamper: impl FnOnce(String) -> String,
    ) -> usize {
        let (client, offer, pending, sources) = self.new_client(name, id, tracks);
        let sdp = tamper(offer);
        self.admit(client, room, &sdp, pending, &sources)
    }

    /// The SFU takes the client's offer; the client takes the answer and joins the network.
    fn admit(
        &mut self,
        mut client: Client,
        room: &str,
        offer: &str,
        pending: SdpPendingOffer,
        sources: &[(String, Source)],
    ) -> usize {
        let answer = self.sfu.add_peer(self.now, room, client.id, offer, sources).expect("the SFU accepts the offer");
        let answer = SdpAnswer::from_sdp_string(&answer).unwrap();
        client.rtc.sdp_api().accept_answer(pending, answer).unwrap();
        client.learn_payload_types();
        self.clients.push(client);
        self.settle();
        self.clients.len() - 1
    }

    /// A client whose offer is prepared but not yet given to the SFU.
    pub fn new_client(
        &mut self,
        name: &str,
        id: PeerId,
        tracks: &[(MediaKind, Source)],
    ) -> (Client, String, SdpPendingOffer, Vec<(String, Source)>) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.next_port).parse().unwrap();
        self.next_port += 1;
        self.new_client_on(name, id, tracks, Protocol::Udp, addr)
    }

    /// Like `join`, with the encodings of each track given (simulcast when a track has several layers).
    pub fn join_layered(&mut self, name: &str, id: PeerId, room: &str, tracks: &[(MediaKind, Source, &[LayerSpec])]) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.next_port).parse().unwrap();
        self.next_port += 1;
        let (client, offer, pending, sources) = self.new_layered_client(name, id, tracks, Protocol::Udp, addr);
        self.admit(client, room, &offer, pending, &sources);
    }

    fn new_client_on(
        &mut self,
        name: &str,
        id: PeerId,
        tracks: &[(MediaKind, Source)],
        proto: Protocol,
        addr: SocketAddr,
    ) -> (Client, String, SdpPendingOffer, Vec<(String, Source)>) {
        let tracks: Vec<(MediaKind, Source, &[LayerSpec])> =
            tracks.iter().map(|(k, s)| (*k, *s, &[PLAIN][..])).collect();
        self.new_layered_client(name, id, &tracks, proto, addr)
    }

    fn new_layered_client(
        &mut self,
        name: &str,
        id: PeerId,
        tracks: &[(MediaKind, Source, &[LayerSpec])],
        proto: Protocol,
        addr: SocketAddr,
    ) -> (Client, String, SdpPendingOffer, Vec<(String, Source)>) {
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(self.now);
        let candidate = match proto {
            Protocol::Tcp => Candidate::builder().tcp().host(addr).tcptype(TcpType::Active).build(),
            _ => Candidate::host(addr, "udp"),
        };
        rtc.add_local_candidate(candidate.unwrap());
        let mut api = rtc.sdp_api();
        let mut sources = Vec::new();
        let mut mids = Vec::new();
        for (kind, source, layers) in tracks {
            let simulcast = (layers.len() > 1).then(|| Simulcast {
                send: layers.iter().map(|l| SimulcastLayer::new(l.rid.expect("simulcast layers have rids"))).collect(),
                recv: Vec::new(),
            });
            let mid = api.add_media(
                *kind,
                Direction::SendOnly,
                Some(name.to_string()),
                Some(format!("{name}-{}", source.as_str())),
                simulcast,
            );
            sources.push((mid.to_string(), *source));
            mids.push(mid);
        }
        let (offer, pending) = api.apply().unwrap();
        let published = tracks
            .iter()
            .zip(mids)
            .map(|((kind, source, layers), mid)| Published {
                mid,
                kind: *kind,
                source: *source,
                pt: 0.into(),
                layers: layers.iter().map(|l| (*l, 1000, false)).collect(),
                n: 0,
                next_at: self.now,
                sent_at: Vec::new(),
                paused: vec![false; layers.len()],
            })
            .collect();
        let client = Client {
            name: name.to_string(),
            id,
            proto,
            addr,
            rtc,
            timeout: self.now,
            published,
            connected_at: None,
            received: Vec::new(),
            keyframe_requests: Vec::new(),
            tracks: Vec::new(),
            offers: 0,
            answered_at: Vec::new(),
            last_answer: None,
            held_offers: Vec::new(),
            hold_offers: false,
            gone: false,
            keyframe_every: 1000,
            ignore_keyframe_requests: false,
            ignore_layers: false,
            downlink: None,
            uplink_loss: 0.0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ id,
        };
        (client, offer.to_sdp_string(), pending, sources)
    }

    /// Adds a peer whose client vanished right after signalling: the SFU has its offer, nothing else ever comes.
    /// `tamper` may edit its offer first.
    pub fn add_ghost(
        &mut self,
        name: &str,
        id: PeerId,
        room: &str,
        tracks: &[(MediaKind, Source)],
        tamper: impl FnOnce(String) -> String,
    ) {
        let (_, offer, _, sources) = self.new_client(name, id, tracks);
        self.sfu.add_peer(self.now, room, id, &tamper(offer), &sources).unwrap();
        self.settle();
    }

    /// Removes a peer from the SFU; its client keeps running (and sending) but is no longer answered.
    pub fn remove(&mut self, name: &str) {
        let id = self.id(name);
        self.sfu.remove_peer(self.now, id);
        self.client_mut(name).gone = true;
        self.settle();
    }

    /// Advances the virtual clock by `d`, in 1 ms steps.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Steps until `done` holds, failing after `limit`.
    pub fn run_until(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&World) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "timed out after {limit:?} waiting for: {what}");
            self.step();
        }
    }

    pub fn all_connected(&self) -> bool {
        self.clients.iter().filter(|c| !c.gone).all(|c| c.connected_at.is_some())
    }

    /// One millisecond: clients produce media, due timers fire, and the network settles.
    pub fn step(&mut self) {
        self.now += MS;
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.delayed).into_iter().partition(|(at, _)| *at <= now);
        self.delayed = later;
        // Already through their link: delivered as they are.
        for (_, d) in due {
            self.deliver(d);
        }
        for c in self.clients.iter_mut() {
            c.produce(now, &mut self.net);
            if c.timeout <= now {
                let handled = c.rtc.handle_input(Input::Timeout(now));
                c.check(handled);
                c.drain(now, &mut self.net);
            }
        }
        if self.sfu_timeout <= now {
            self.sfu.handle_timeout(now);
        }
        self.settle();
    }

    /// Delivers datagrams and signalling until nothing moves.
    pub fn settle(&mut self) {
        loop {
            for c in self.clients.iter_mut() {
                c.drain(self.now, &mut self.net);
            }
            self.drain_sfu();
            if self.net.is_empty() {
                break;
            }
            // What reaches the SFU in one settling round arrives as one batch, as from one `recvmmsg`.
            let mut to_sfu = Vec::new();
            while let Some(d) = self.net.pop_front() {
                let Some(d) = self.shape(d) else {
                    continue;
                };
                if d.destination == sfu_addr() && d.proto == Protocol::Udp {
                    to_sfu.push(d);
                } else {
                    self.deliver(d);
                }
            }
            if !to_sfu.is_empty() {
                let batch = to_sfu.iter().map(|d| (d.source, &d.contents[..]));
                self.sfu.handle_receive_batch(self.now, Protocol::Udp, sfu_addr(), batch);
            }
        }
    }

    fn drain_sfu(&mut self) {
        loop {
            match self.sfu.poll_output() {
                SfuOutput::Transmit { proto, source, destination, contents } => {
                    assert_eq!(source, sfu_addr());
                    self.net.push_back(Datagram { proto, source, destination, contents });
                }
                SfuOutput::Event(e) => {
                    self.events.push((self.now, e.clone()));
                    if let SfuEvent::Layers { publisher, mid, rids } = &e {
                        let c = self.clients.iter_mut().find(|c| c.id == *publisher && !c.ignore_layers);
                        if let Some(p) = c.and_then(|c| c.published.iter_mut().find(|p| p.mid.to_string() == *mid)) {
                            for (l, (spec, _, want_keyframe)) in p.layers.iter_mut().enumerate() {
                                let paused = !spec.rid.is_some_and(|r| rids.iter().any(|x| x == r));
                                // A layer that starts again starts with a keyframe, as an encoder's does.
                                if p.paused[l] && !paused {
                                    *want_keyframe = true;
                                }
                                p.paused[l] = paused;
                            }
                        }
                    }
                    if let SfuEvent::Offer { peer, sdp, tracks } = e {
                        // A peer added without a client (see `add_ghost`) gets offers nobody reads.
                        let Some(c) = self.clients.iter_mut().find(|c| c.id == peer) else {
                            continue;
                        };
                        c.tracks = tracks;
                        c.offers += 1;
                        c.held_offers.push(sdp);
                        if !c.hold_offers {
                            self.answer_offers(peer);
                        }
                    }
                }
                SfuOutput::Timeout(t) => {
                    if t <= self.now {
                        self.sfu_immediate_wakes += 1;
                    }
                    self.sfu_timeout = t;
                    return;
                }
            }
        }
    }

    /// The client answers the offers it holds, and the SFU accepts each answer.
    pub fn answer_offers(&mut self, peer: PeerId) {
        let now = self.now;
        let c = self.clients.iter_mut().find(|c| c.id == peer).unwrap();
        for sdp in std::mem::take(&mut c.held_offers) {
            let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
            let answer = c.rtc.sdp_api().accept_offer(offer).unwrap().to_sdp_string();
            c.drain(now, &mut self.net);
            self.sfu.accept_answer(now, peer, &answer).expect("the SFU accepts the answer");
            c.answered_at.push(now);
            c.last_answer = Some(answer);
        }
    }

    /// Passes a datagram through the links of its client: random loss, and the downlink's queue. Returns it when
    /// it arrives now; holds it when it arrives later; drops it when it is lost. Only RTP/RTCP of connected
    /// clients is touched, so connection set-up stays the same in every run.
    fn shape(&mut self, d: Datagram) -> Option<Datagram> {
        // RTP and RTCP only (RFC 7983: first byte 128–191).
        if !matches!(d.contents.first(), Some(128..=191)) {
            return Some(d);
        }
        let now = self.now;
        if d.destination == sfu_addr() {
            let c = self.clients.iter_mut().find(|c| c.addr == d.source && c.proto == d.proto)?;
            if c.connected_at.is_some() && c.uplink_loss > 0.0 && chance(&mut c.rng, c.uplink_loss) {
                return None;
            }
            return Some(d);
        }
        let Some(c) = self.clients.iter_mut().find(|c| c.addr == d.destination && c.proto == d.proto) else {
            return Some(d);
        };
        let Some(link) = c.downlink.as_mut().filter(|_| c.connected_at.is_some()) else {
            return Some(d);
        };
        if link.loss > 0.0 && chance(&mut c.rng, link.loss) {
            link.lost += 1;
            return None;
        }
        let start = link.busy_until.map_or(now, |b| b.max(now));
        if start - now > link.max_queue {
            link.dropped += 1;
            return None;
        }
        let wire = Duration::from_nanos((d.contents.len() as u64 + 28) * 8 * 1_000_000_000 / link.rate_bps);
        let arrival = start + wire;
        link.busy_until = Some(arrival);
        if arrival <= now {
            return Some(d);
        }
        self.delayed.push((arrival, d));
        None
    }

    fn deliver(&mut self, d: Datagram) {
        if d.destination == sfu_addr() {
            self.sfu.handle_receive(self.now, d.proto, d.source, d.destination, &d.contents);
            return;
        }
        let Some(c) = self.clients.iter_mut().find(|c| c.addr == d.destination && c.proto == d.proto) else {
            panic!("datagram to nobody: {:?} {}", d.proto, d.destination);
        };
        if c.gone {
            self.sent_to_gone += 1;
            return;
        }
        let receive = Receive::new(d.proto, d.source, d.destination, &d.contents).unwrap();
        let handled = c.rtc.handle_input(Input::Receive(self.now, receive));
        c.check(handled);
        // str0m's contract: drain after every mutation (in RTP mode it holds one received packet at a time).
        c.drain(self.now, &mut self.net);
    }

    /// Sends a raw datagram to the SFU as if from `source`.
    pub fn inject(&mut self, source: SocketAddr, contents: &[u8]) {
        self.sfu.handle_receive(self.now, Protocol::Udp, source, sfu_addr(), contents);
        self.settle();
    }

    pub fn failed(&self) -> Vec<(PeerId, String)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                SfuEvent::Failed { peer, reason } => Some((*peer, reason.clone())),
                _ => None,
            })
            .collect()
    }
}

impl Client {
    /// After the first exchange: the payload types the client sends with (Opus, VP8).
    fn learn_payload_types(&mut self) {
        for p in self.published.iter_mut() {
            let codec = match p.kind {
                MediaKind::Audio => Codec::Opus,
                MediaKind::Video => Codec::Vp8,
            };
            p.pt = self.rtc.codec_config().find(|c| c.spec().codec == codec).unwrap().pt();
        }
    }

    /// Writes the media due at `now`: audio every 20 ms, video every 40 ms; each video frame on every layer, as
    /// many packets as the layer says.
    fn produce(&mut self, now: Instant, net: &mut VecDeque<Datagram>) {
        if self.gone || self.connected_at.is_none() {
            return;
        }
        let mut writes = Vec::new();
        for i in 0..self.published.len() {
            let p = &mut self.published[i];
            if p.next_at > now {
                continue;
            }
            let (every, clock) = match p.kind {
                MediaKind::Audio => (AUDIO_EVERY, 48),
                MediaKind::Video => (VIDEO_EVERY, 90),
            };
            p.next_at = now + every;
            let media_time = p.n.wrapping_mul(every.as_millis() as u32 * clock);
            let periodic = p.n.is_multiple_of(self.keyframe_every);
            for (l, (spec, seq, want_keyframe)) in p.layers.iter_mut().enumerate() {
                if p.paused[l] {
                    continue;
                }
                let key = periodic || *want_keyframe;
                *want_keyframe = false;
                for part in 0..spec.packets {
                    let text = match spec.rid {
                        None if spec.packets == 1 => format!("{}|{}|{}", self.name, p.source.as_str(), p.n),
                        rid => format!("{}|{}|{}|{}|{part}", self.name, p.source.as_str(), p.n, rid.unwrap_or("-")),
                    };
                    let mut payload = match p.kind {
                        MediaKind::Audio => text.into_bytes(),
                        MediaKind::Video => {
                            // VP8 payload descriptor: S bit on the frame's first packet only. Frame header: P bit 0 =
                            // keyframe.
                            let first = part == 0;
                            let mut v = vec![if first { 0x10 } else { 0x00 }, if key { 0x00 } else { 0x01 }];
                            v.extend_from_slice(text.as_bytes());
                            v
                        }
                    };
                    if payload.len() < spec.size {
                        payload.resize(spec.size, b'.');
                    }
                    let write = RtpWrite::new(p.pt, (*seq).into(), media_time, now, payload)
                        .marker(p.kind == MediaKind::Video && part + 1 == spec.packets)
                        .nackable(p.kind == MediaKind::Video);
                    writes.push((p.mid, spec.rid.map(Rid::from), write));
                    *seq += 1;
                }
            }
            for (mid, rid, write) in writes.drain(..) {
                let mut api = self.rtc.direct_api();
                let tx = api.stream_tx_by_mid(mid, rid).expect("a send stream for a published mid and rid");
                tx.write_rtp(write);
                self.drain(now, net);
            }
            let p = &mut self.published[i];
            p.n += 1;
            p.sent_at.push(now);
        }
    }

    fn drain(&mut self, now: Instant, net: &mut VecDeque<Datagram>) {
        // A removed client keeps talking: the SFU must ignore it.
        loop {
            let output = self.rtc.poll_output();
            let Some(output) = self.check(output) else {
                return;
            };
            match output {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => net.push_back(Datagram {
                    proto: t.proto,
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.into(),
                }),
                Output::Event(e) => self.on_event(now, e),
            }
        }
    }

    fn on_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::Connected => self.connected_at = Some(now),
            Event::KeyframeRequest(req) => {
                let p = self.published.iter_mut().find(|p| p.mid == req.mid).unwrap();
                for (spec, _, want) in p.layers.iter_mut() {
                    if req.rid.is_none() || spec.rid.map(Rid::from) == req.rid {
                        *want |= !self.ignore_keyframe_requests;
                    }
                }
                self.keyframe_requests.push((now, p.source));
            }
            Event::RtpPacket(pkt) => {
                let mid = self
                    .rtc
                    .direct_api()
                    .stream_rx(&pkt.header.ssrc)
                    .map(|s| s.mid())
                    .expect("the SFU's offer declared the SSRC");
                let (keyframe, text) = match pkt.payload.first() {
                    Some(0x10) => (pkt.payload[1] & 0x01 == 0, &pkt.payload[2..]),
                    Some(0x00) => (false, &pkt.payload[2..]),
                    _ => (false, &pkt.payload[..]),
                };
                let text = text.split(|b| *b == b'.').next().unwrap();
                let text = std::str::from_utf8(text).unwrap();
                let mut parts = text.split('|');
                let from = parts.next().unwrap().to_string();
                let source = parts.next().unwrap().to_string();
                let n = parts.next().unwrap().parse().unwrap();
                let layer = parts.next().unwrap_or("-").to_string();
                let part = parts.next().map_or(0, |p| p.parse().unwrap());
                self.received.push(Rx { at: now, mid, seq: *pkt.seq_no, from, source, n, keyframe, layer, part });
            }
            _ => {}
        }
    }

    /// A client the SFU still serves must never err; one it dropped may (its DTLS times out, say), and then it is
    /// simply no longer driven.
    fn check<T>(&mut self, result: Result<T, str0m::RtcError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(_) if self.gone => {
                self.rtc.disconnect();
                None
            }
            Err(e) => panic!("{}: {e}", self.name),
        }
    }

    /// Asks the SFU for a keyframe of the track it receives on `mid` (as a decoder would after a loss).
    pub fn request_keyframe(&mut self, mid: Mid) {
        self.rtc
            .direct_api()
            .stream_rx_by_mid(mid, None)
            .expect("a receive stream")
            .request_keyframe(KeyframeRequestKind::Pli);
    }
}

/// Checks that a client got a track in order with contiguous sequence numbers and payload counters.
pub fn assert_contiguous(rx: &[&Rx], what: &str) {
    assert!(!rx.is_empty(), "{what}: nothing received");
    for w in rx.windows(2) {
        assert_eq!(w[1].n, w[0].n + 1, "{what}: payload counter jumps {} -> {}", w[0].n, w[1].n);
        assert_eq!(w[1].seq, w[0].seq + 1, "{what}: sequence number jumps {} -> {}", w[0].seq, w[1].seq);
        assert_eq!(w[1].mid, w[0].mid, "{what}: arrives on one m-line");
    }
}
