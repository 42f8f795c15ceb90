//! A media peer for tests and load: a str0m `Rtc` on its own UDP socket that publishes synthetic audio and
//! VP8-shaped video, answers the SFU's renegotiation offers, and counts what it receives per track.
//!
//! With [`Transport::Tcp`] it has no UDP socket at all, as a client behind a firewall that blocks UDP: it reads
//! the server's passive TCP candidate from the SDP answer, opens a TCP connection to it, announces the
//! connection's end as an active TCP candidate (RFC 6544) and sends every packet framed as RFC 4571 prescribes
//! (a 2-byte big-endian length before each). The connection can only be opened once the answer is in, so it is
//! opened by the next [`MediaPeer::pump`] after [`MediaPeer::accept_answer`], in its own task; ICE starts when it
//! is up.
//!
//! It behaves like a browser where it matters to the server: it offers its send tracks first, then answers
//! the SFU's offers; it sends a keyframe at once when asked (PLI/FIR) and otherwise every few seconds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use vayla_protocol::{MediaSource, RemoteTrack, TrackSource};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("ICE-TCP: {0}")]
    Tcp(String),
}

/// How a [`MediaPeer`] reaches the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// A UDP host candidate on loopback.
    #[default]
    Udp,
    /// ICE-TCP only: an active TCP candidate to the server's passive one, no UDP socket at all.
    Tcp,
}

/// Timeout passes one drain hands the `Rtc` at most before it sends what they produced and yields.
const MAX_ROUNDS: usize = 64;

/// The largest packet framed onto the TCP connection or accepted from it (str0m sends at most an MTU's worth).
const TCP_MAX_FRAME: usize = 1600;
/// Packets queued towards the TCP connection; more are dropped, as a full UDP socket buffer would.
const TCP_QUEUE: usize = 1024;

/// What the TCP connection's task tells the peer.
enum TcpIn {
    Connected { local: SocketAddr },
    Frame(Vec<u8>),
    Closed(String),
}

/// The peer's ICE-TCP side.
struct TcpLink {
    /// The server's passive candidate, once the answer named it.
    server: Option<SocketAddr>,
    /// From the connection task, once it is started.
    incoming: Option<mpsc::Receiver<TcpIn>>,
    /// To the connection task: packets to frame and write.
    outgoing: Option<mpsc::Sender<Vec<u8>>>,
    local: Option<SocketAddr>,
}

impl TcpLink {
    /// Connects to `server` in a task of its own; the task ends when the peer drops its ends of the channels.
    fn start(&mut self, server: SocketAddr) {
        let (in_tx, in_rx) = mpsc::channel(TCP_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(TCP_QUEUE);
        self.incoming = Some(in_rx);
        self.outgoing = Some(out_tx);
        tokio::spawn(async move {
            let reason = match tcp_connection(server, &in_tx, out_rx).await {
                Ok(()) => "closed".to_string(),
                Err(e) => e.to_string(),
            };
            let _ = in_tx.send(TcpIn::Closed(reason)).await;
        });
    }
}

async fn tcp_connection(
    server: SocketAddr,
    incoming: &mpsc::Sender<TcpIn>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    if incoming.send(TcpIn::Connected { local }).await.is_err() {
        return Ok(());
    }
    let (read, mut write) = stream.into_split();
    let reader = async {
        let mut read = tokio::io::BufReader::new(read);
        loop {
            let mut len = [0u8; 2];
            read.read_exact(&mut len).await?;
            let n = u16::from_be_bytes(len) as usize;
            if n == 0 || n > TCP_MAX_FRAME {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame of {n} bytes")));
            }
            let mut frame = vec![0u8; n];
            read.read_exact(&mut frame).await?;
            if incoming.send(TcpIn::Frame(frame)).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async {
        let mut out = Vec::with_capacity(16 * 1024);
        while let Some(packet) = outgoing.recv().await {
            out.clear();
            frame_into(&mut out, &packet);
            while let Ok(packet) = outgoing.try_recv() {
                frame_into(&mut out, &packet);
            }
            write.write_all(&out).await?;
        }
        Ok(())
    };
    tokio::select! {
        r = reader => r,
        r = writer => r,
    }
}

/// RFC 4571: the packet's length as two big-endian bytes, then the packet.
fn frame_into(out: &mut Vec<u8>, packet: &[u8]) {
    if let Ok(len) = u16::try_from(packet.len()) {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(packet);
    }
}

/// The passive TCP host candidate in an SDP (`a=candidate:… tcp … typ host tcptype passive`).
pub fn passive_tcp_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .filter_map(|l| Candidate::from_sdp_string(l).ok())
        .find(|c| c.proto() == Protocol::Tcp && c.tcptype() == Some(TcpType::Passive))
        .map(|c| c.addr())
}

/// The process-wide reference instant for the send-time stamps in payloads: sender and receiver are in the
/// same process (tests, load generator), so a frame's delay is `now - stamp`.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Where the send-time stamp sits in a frame: after the VP8 keyframe header for video, at the start for audio.
fn stamp_at(kind: MediaKind) -> usize {
    if kind == MediaKind::Audio {
        0
    } else {
        10
    }
}

/// What arrived on one received track.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub frames: u64,
    pub keyframes: u64,
    pub bytes: u64,
    pub first_frame: Option<Instant>,
    pub first_keyframe: Option<Instant>,
    /// The first frame's send-to-receive delay, in microseconds.
    pub first_transit_us: Option<u64>,
    /// Frames whose RTP sequence was not contiguous with the previous one.
    pub gaps: u64,
    /// Of those, the ones that were not keyframes: a frame the decoder cannot decode (what came before it is
    /// missing). A gap followed by a keyframe costs a frame but nothing after it.
    pub undecodable: u64,
    /// RTP packets the frames were carried in.
    pub packets: u64,
}

/// What one sent track has sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    pub frames: u64,
    pub bytes: u64,
}

struct Sending {
    mid: Mid,
    source: MediaSource,
    kind: MediaKind,
    next_at: Instant,
    interval: Duration,
    rtp_time: u64,
    last_keyframe: Option<Instant>,
    layers: Vec<Encoding>,
    sent: Sent,
}

/// One encoding of a sent track: a simulcast layer, or the track itself without simulcast.
struct Encoding {
    /// The simulcast rid (none without simulcast).
    rid: Option<Rid>,
    frame_bytes: usize,
    /// A keyframe goes out with its next frame.
    keyframe_due: bool,
    /// The server asked for it not to be sent (`layers`).
    paused: bool,
}

impl Encoding {
    fn new(rid: Option<Rid>, frame_bytes: usize) -> Self {
        Encoding { rid, frame_bytes, keyframe_due: true, paused: false }
    }
}

/// How a [`MediaPeer`] connects and what it sends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub transport: Transport,
    /// Send the camera in three simulcast layers (`q`, `h`, `f`: about ⅛, ⅖ and all of the camera's bitrate), as
    /// the web client does; the SFU forwards each receiver one of them.
    pub simulcast_camera: bool,
    /// Keep sending every simulcast layer whatever the server's `layers` messages ask, as a client that does not
    /// know them would (the load generator compares the two).
    pub ignore_layers: bool,
}

/// The camera's simulcast layers: rid and share of the full frame size.
const CAMERA_LAYERS: [(&str, f64); 3] = [("q", 0.125), ("h", 0.4), ("f", 1.0)];

/// One client's media connection.
pub struct MediaPeer {
    rtc: Rtc,
    transport: Transport,
    /// With [`Transport::Udp`]: the socket and its address.
    socket: Option<UdpSocket>,
    local: Option<SocketAddr>,
    /// With [`Transport::Tcp`].
    tcp: Option<TcpLink>,
    sending: Vec<Sending>,
    ignore_layers: bool,
    pending: Option<SdpPendingOffer>,
    /// The tracks the SFU says this peer receives, by mid.
    pub tracks: HashMap<String, RemoteTrack>,
    pub received: HashMap<String, Received>,
    pub keyframe_requests: u64,
    /// Send-to-receive delay of every received frame, in microseconds (bounded; oldest kept).
    pub delays_us: Vec<u32>,
    pub connected: bool,
    /// When ICE and DTLS first completed.
    pub connected_at: Option<Instant>,
    /// When each received track (by mid) was first offered.
    offered_at: HashMap<String, Instant>,
    pub failed: Option<String>,
    started: Instant,
    /// The time of the latest input handed to `rtc`.
    last_input: Instant,
    buf: Vec<u8>,
    /// UDP datagrams of the current drain, sent together at its end.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    gso: vayla_udp::Gso,
}

/// VP8 bitstream: a keyframe starts with frame tag bit 0 clear and the start code 9d 01 2a.
fn vp8_frame(keyframe: bool, len: usize, n: u64) -> Vec<u8> {
    let mut f = vec![0u8; len.max(16)];
    if keyframe {
        f[..10].copy_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    } else {
        f[..3].copy_from_slice(&[0x11, 0x02, 0x00]);
    }
    for (i, b) in f.iter_mut().enumerate().skip(10) {
        *b = (n as usize + i) as u8;
    }
    f
}

impl MediaPeer {
    /// A peer on a fresh loopback UDP socket, with send tracks for `publish`. Returns the peer and the first
    /// offer with the mid of each track, ready for the signalling `offer` message.
    pub async fn new(publish: &[MediaSource]) -> Result<(MediaPeer, String, Vec<TrackSource>), MediaError> {
        Self::new_with(publish, Transport::Udp).await
    }

    /// Like [`MediaPeer::new`], over `transport`. With [`Transport::Tcp`] the offer has no candidate: the
    /// peer's only one is its end of the TCP connection, known once the answer named the server's.
    pub async fn new_with(
        publish: &[MediaSource],
        transport: Transport,
    ) -> Result<(MediaPeer, String, Vec<TrackSource>), MediaError> {
        Self::new_opts(publish, Options { transport, ..Options::default() }).await
    }

    /// Like [`MediaPeer::new`], with every option.
    pub async fn new_opts(
        publish: &[MediaSource],
        options: Options,
    ) -> Result<(MediaPeer, String, Vec<TrackSource>), MediaError> {
        let transport = options.transport;
        let now = Instant::now();
        let mut rtc = Rtc::builder().enable_bwe(None).build(now);
        let (socket, local, tcp) = match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind("127.0.0.1:0").await?;
                tune_socket(&socket);
                let local = socket.local_addr()?;
                let candidate = Candidate::host(local, "udp").map_err(|e| MediaError::Rtc(e.to_string()))?;
                rtc.add_local_candidate(candidate);
                (Some(socket), Some(local), None)
            }
            Transport::Tcp => {
                let link = TcpLink { server: None, incoming: None, outgoing: None, local: None };
                (None, None, Some(link))
            }
        };
        let mut change = rtc.sdp_api();
        let mut sending = Vec::new();
        let mut tracks = Vec::new();
        for source in publish {
            let kind = match source {
                MediaSource::Microphone => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            // Realistic rates: Opus ≈ 32 kbit/s, camera ≈ 1 Mbit/s at 15 fps, document ≈ 1.5 Mbit/s at 5 fps.
            let (interval, frame_bytes) = match source {
                MediaSource::Microphone => (Duration::from_millis(20), 80),
                MediaSource::Camera => (Duration::from_micros(66_667), 8_300),
                MediaSource::Document => (Duration::from_millis(200), 37_500),
            };
            let simulcast = options.simulcast_camera && *source == MediaSource::Camera;
            let layers = if simulcast {
                CAMERA_LAYERS
                    .iter()
                    .map(|(rid, share)| Encoding::new(Some(Rid::from(*rid)), (frame_bytes as f64 * share) as usize))
                    .collect()
            } else {
                vec![Encoding::new(None, frame_bytes)]
            };
            let declared = simulcast.then(|| Simulcast {
                send: CAMERA_LAYERS.iter().map(|(rid, _)| SimulcastLayer::new(rid)).collect(),
                recv: Vec::new(),
            });
            let mid = change.add_media(kind, Direction::SendOnly, Some("local".into()), None, declared);
            sending.push(Sending {
                mid,
                source: *source,
                kind,
                next_at: now,
                interval,
                rtp_time: 0,
                last_keyframe: None,
                layers,
                sent: Sent::default(),
            });
            tracks.push(TrackSource { mid: mid.to_string(), source: *source });
        }
        let (offer, pending) = change.apply().ok_or_else(|| MediaError::Sdp("nothing to offer".into()))?;
        let peer = MediaPeer {
            rtc,
            transport,
            socket,
            local,
            tcp,
            sending,
            ignore_layers: options.ignore_layers,
            pending: Some(pending),
            tracks: HashMap::new(),
            received: HashMap::new(),
            keyframe_requests: 0,
            delays_us: Vec::new(),
            connected: false,
            connected_at: None,
            offered_at: HashMap::new(),
            failed: None,
            started: now,
            last_input: now,
            buf: vec![0; 65536],
            outbox: Vec::new(),
            gso: vayla_udp::Gso(true),
        };
        Ok((peer, offer.to_sdp_string(), tracks))
    }

    /// The peer's media address: its UDP socket's, or its end of the TCP connection once that is open.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The SFU's answer to our first offer. Over TCP it must name a passive TCP candidate, which the next
    /// [`MediaPeer::pump`] connects to.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), MediaError> {
        if let Some(tcp) = &mut self.tcp {
            let server = passive_tcp_candidate(sdp)
                .ok_or_else(|| MediaError::Tcp("the answer has no passive TCP candidate".into()))?;
            tcp.server = Some(server);
        }
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or_else(|| MediaError::Sdp("no offer pending".into()))?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| MediaError::Rtc(e.to_string()))
    }

    /// An offer from the SFU (tracks added or removed): accept it and return our answer.
    pub fn accept_offer(&mut self, sdp: &str, tracks: &[RemoteTrack]) -> Result<String, MediaError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let answer = self.rtc.sdp_api().accept_offer(offer).map_err(|e| MediaError::Rtc(e.to_string()))?;
        let now = Instant::now();
        for t in tracks {
            self.offered_at.entry(t.mid.clone()).or_insert(now);
        }
        self.tracks = tracks.iter().map(|t| (t.mid.clone(), t.clone())).collect();
        Ok(answer.to_sdp_string())
    }

    /// What arrived from `participant`'s `source` track.
    pub fn received_from(&self, participant: &str, source: MediaSource) -> Option<&Received> {
        self.received.get(self.track_mid(participant, source)?)
    }

    /// When the SFU's offer first named `participant`'s `source` track for this peer to receive.
    pub fn offered_at(&self, participant: &str, source: MediaSource) -> Option<Instant> {
        self.offered_at.get(self.track_mid(participant, source)?).copied()
    }

    fn track_mid(&self, participant: &str, source: MediaSource) -> Option<&String> {
        Some(&self.tracks.values().find(|t| t.participant_id == participant && t.source == source)?.mid)
    }

    /// Drive the peer until `until`: read the socket, run timers, send media. Cancel-safe: nothing is lost when
    /// the future is dropped between two wakes.
    pub async fn pump(&mut self, until: Instant) -> Result<(), MediaError> {
        loop {
            let timeout = self.drain()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            // Over TCP, the connection is opened as soon as the answer has named the server's candidate.
            if let Some(tcp) = self.tcp.as_mut().filter(|t| t.incoming.is_none()) {
                if let Some(server) = tcp.server {
                    tcp.start(server);
                }
            }
            let next_send = self.sending.iter().map(|s| s.next_at).min().unwrap_or(until);
            let wake = timeout.min(next_send).min(until).max(now);
            tokio::select! {
                r = recv_udp(&self.socket, &mut self.buf) => {
                    let read = r?;
                    let now = input_time(&mut self.last_input, read.arrived(Instant::now()));
                    let (n, source) = (read.len, read.source);
                    // A coalesced read holds datagrams of `segment` bytes each (the last may be shorter).
                    let segment = read.segment.unwrap_or(n).max(1);
                    let mut at = 0;
                    while at < n {
                        if at > 0 {
                            // str0m takes one datagram between two drains.
                            self.drain()?;
                        }
                        let end = (at + segment).min(n);
                        if let (Ok(contents), Some(destination)) = (self.buf[at..end].try_into(), self.local) {
                            let input =
                                Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
                            if let Err(e) = self.rtc.handle_input(input) {
                                self.failed = Some(e.to_string());
                                return Err(MediaError::Rtc(e.to_string()));
                            }
                        }
                        at = end;
                    }
                }
                input = recv_tcp(&mut self.tcp) => self.tcp_input(input)?,
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = input_time(&mut self.last_input, Instant::now());
                    self.rtc.handle_input(Input::Timeout(now)).map_err(|e| MediaError::Rtc(e.to_string()))?;
                    self.send_media(now)?;
                }
            }
        }
    }

    fn tcp_input(&mut self, input: TcpIn) -> Result<(), MediaError> {
        let Some(tcp) = self.tcp.as_mut() else {
            return Ok(());
        };
        match input {
            TcpIn::Connected { local } => {
                // Our end of the connection is our one candidate; str0m pairs it with the server's passive one.
                tcp.local = Some(local);
                self.local = Some(local);
                let candidate = Candidate::builder()
                    .tcp()
                    .host(local)
                    .tcptype(TcpType::Active)
                    .build()
                    .map_err(|e| MediaError::Rtc(e.to_string()))?;
                self.rtc.add_local_candidate(candidate);
            }
            TcpIn::Frame(frame) => {
                let (Some(source), Some(destination)) = (tcp.server, tcp.local) else {
                    return Ok(());
                };
                if let Ok(contents) = frame.as_slice().try_into() {
                    let now = input_time(&mut self.last_input, Instant::now());
                    let input = Input::Receive(now, Receive { proto: Protocol::Tcp, source, destination, contents });
                    if let Err(e) = self.rtc.handle_input(input) {
                        self.failed = Some(e.to_string());
                        return Err(MediaError::Rtc(e.to_string()));
                    }
                }
            }
            TcpIn::Closed(reason) => {
                self.connected = false;
                self.failed = Some(format!("TCP connection: {reason}"));
                return Err(MediaError::Tcp(reason));
            }
        }
        Ok(())
    }

    fn send_media(&mut self, now: Instant) -> Result<(), MediaError> {
        if !self.connected {
            return Ok(());
        }
        for s in &mut self.sending {
            while s.next_at <= now {
                // A keyframe on every layer every 3 s regardless, as an encoder would; on one layer when asked.
                let periodic = s.kind == MediaKind::Video
                    && s.last_keyframe.map(|t| now.duration_since(t) > Duration::from_secs(3)).unwrap_or(true);
                if periodic {
                    s.last_keyframe = Some(now);
                }
                let clock = if s.kind == MediaKind::Audio { 48_000u64 } else { 90_000u64 };
                let time = MediaTime::new(s.rtp_time, str0m::media::Frequency::new(clock as u32).expect("non-zero"));
                for e in s.layers.iter_mut().filter(|e| !e.paused) {
                    let Some(writer) = self.rtc.writer(s.mid) else { break };
                    let wanted = if s.kind == MediaKind::Audio { Codec::Opus } else { Codec::Vp8 };
                    let Some(pt) = writer.payload_params().find(|p| p.spec().codec == wanted).map(|p| p.pt()) else {
                        break;
                    };
                    let mut data = if s.kind == MediaKind::Audio {
                        vec![0xf8; e.frame_bytes]
                    } else {
                        let key = e.keyframe_due || periodic;
                        e.keyframe_due = false;
                        // Keyframes twice the size of the others; the average stays near the target rate.
                        let len = if key { e.frame_bytes * 2 } else { e.frame_bytes };
                        vp8_frame(key, len, s.rtp_time)
                    };
                    let at = stamp_at(s.kind);
                    let stamp = now.duration_since(epoch()).as_micros() as u64;
                    data[at..at + 8].copy_from_slice(&stamp.to_be_bytes());
                    s.sent.bytes += data.len() as u64;
                    let writer = match e.rid {
                        Some(rid) => writer.rid(rid),
                        None => writer,
                    };
                    writer.write(pt, s.next_at, time, data).map_err(|e| MediaError::Rtc(e.to_string()))?;
                }
                // One frame, whatever the number of layers: each receiver gets one of them.
                s.sent.frames += 1;
                s.rtp_time += clock * s.interval.as_micros() as u64 / 1_000_000;
                s.next_at += s.interval;
            }
        }
        Ok(())
    }

    /// Handle every pending output; returns when the peer next needs a timeout.
    ///
    /// A frame written to the `Rtc` leaves only after a timeout pass, which str0m then asks for at once. The
    /// drain gives it such due timeouts itself, as long as they keep producing output (at most [`MAX_ROUNDS`]),
    /// rather than going round the caller's loop and tokio's timer (whose millisecond ticks delayed every frame
    /// by up to one). It sends the UDP datagrams they produced in one batch at the end: a frame's packets, all of
    /// one size but the last, go out as one GSO send instead of one system call each.
    fn drain(&mut self) -> Result<Instant, MediaError> {
        let result = self.drain_into_outbox();
        if let (Some(socket), false) = (&self.socket, self.outbox.is_empty()) {
            // UDP: what the socket buffer cannot take is dropped, as a congested network would drop it.
            vayla_udp::send_batch(socket, &self.outbox, &mut self.gso);
            self.outbox.clear();
        }
        result
    }

    fn drain_into_outbox(&mut self) -> Result<Instant, MediaError> {
        let mut rounds = 0;
        let mut produced = true;
        loop {
            match self.rtc.poll_output().map_err(|e| MediaError::Rtc(e.to_string()))? {
                Output::Timeout(t) => {
                    let now = Instant::now();
                    if !(produced && t <= now && rounds < MAX_ROUNDS) {
                        return Ok(t);
                    }
                    rounds += 1;
                    produced = false;
                    let now = input_time(&mut self.last_input, now);
                    self.rtc.handle_input(Input::Timeout(now)).map_err(|e| MediaError::Rtc(e.to_string()))?;
                }
                Output::Transmit(t) => {
                    produced = true;
                    match (t.proto, &self.socket, &self.tcp) {
                        (Protocol::Udp, Some(_), _) => self.outbox.push((t.destination, t.contents.into())),
                        // One connection, to the server's one passive candidate. A full queue drops the packet.
                        (Protocol::Tcp, _, Some(TcpLink { outgoing: Some(out), server: Some(server), .. }))
                            if t.destination == *server && t.contents.len() <= TCP_MAX_FRAME =>
                        {
                            let _ = out.try_send(t.contents.to_vec());
                        }
                        _ => {}
                    }
                }
                Output::Event(e) => {
                    produced = true;
                    self.on_event(e)
                }
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.connected_at.get_or_insert_with(Instant::now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.connected = false,
            Event::MediaData(d) => {
                let now = Instant::now();
                let r = self.received.entry(d.mid.to_string()).or_default();
                r.frames += 1;
                r.bytes += d.data.len() as u64;
                let key = d.params.spec().codec == Codec::Vp8 && d.data.first().map(|b| b & 1 == 0).unwrap_or(false);
                if !d.contiguous {
                    r.gaps += 1;
                    if !key && d.params.spec().codec == Codec::Vp8 {
                        r.undecodable += 1;
                    }
                }
                r.first_frame.get_or_insert(now);
                r.packets += (**d.seq_range.end() - **d.seq_range.start()) + 1;
                let at = if d.params.spec().codec == Codec::Opus { 0 } else { 10 };
                if let Some(bytes) = d.data.get(at..at + 8) {
                    let sent = u64::from_be_bytes(bytes.try_into().expect("eight bytes"));
                    let delay = (now.duration_since(epoch()).as_micros() as u64).saturating_sub(sent);
                    r.first_transit_us.get_or_insert(delay);
                    if self.delays_us.len() < 200_000 {
                        self.delays_us.push(delay.min(u32::MAX as u64) as u32);
                    }
                }
                if key {
                    r.keyframes += 1;
                    r.first_keyframe.get_or_insert(now);
                }
            }
            Event::KeyframeRequest(req) => {
                self.keyframe_requests += 1;
                if let Some(s) = self.sending.iter_mut().find(|s| s.mid == req.mid) {
                    for e in s.layers.iter_mut() {
                        if req.rid.is_none() || e.rid == req.rid {
                            e.keyframe_due = true;
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends only the simulcast layers `rids` of the track on `mid` and pauses its others, as the server's
    /// `layers` message asks. A layer that starts again starts with a keyframe, as an encoder's does. An unknown
    /// mid, or a track without simulcast, is left as it is.
    pub fn set_layers(&mut self, mid: &str, rids: &[String]) {
        if self.ignore_layers {
            return;
        }
        let Some(s) = self.sending.iter_mut().find(|s| s.mid.to_string() == mid) else {
            return;
        };
        for e in s.layers.iter_mut() {
            let Some(rid) = e.rid else {
                continue;
            };
            let paused = !rids.iter().any(|r| *r == rid.to_string());
            if e.paused && !paused {
                e.keyframe_due = true;
            }
            e.paused = paused;
        }
    }

    /// The simulcast layers of the track from `source` being sent now (empty without simulcast).
    pub fn sending_layers(&self, source: MediaSource) -> Vec<String> {
        self.sending
            .iter()
            .filter(|s| s.source == source)
            .flat_map(|s| s.layers.iter().filter(|e| !e.paused).filter_map(|e| e.rid.map(|r| r.to_string())))
            .collect()
    }

    /// What each of our tracks has sent so far, by source.
    pub fn sent(&self) -> Vec<(MediaSource, Sent)> {
        self.sending.iter().map(|s| (s.source, s.sent)).collect()
    }

    /// Time since this peer was made.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Sets up the peer's UDP socket, best effort:
/// - a 1 MiB receive buffer, room for a burst (a keyframe of every track at once) while many peers of the load
///   generator share the cores;
/// - reading a run of datagrams from one sender at once (`UDP_GRO`), as it arrived when the server sent it as one
///   UDP GSO message. On loopback the sender's system call otherwise also pays for cutting the run into
///   datagrams and queueing each one here, work a network card and the receiving host would do. Without it every
///   datagram is read on its own;
/// - the kernel's receive time with each read (`SO_TIMESTAMPNS`, see [`Read::arrived`]).
fn tune_socket(socket: &UdpSocket) {
    let _ = vayla_udp::set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20);
    let _ = vayla_udp::set_int_option(socket, libc::SOL_UDP, libc::UDP_GRO, 1);
    let _ = vayla_udp::set_int_option(socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
}

/// The time to hand the `Rtc` with its next input: `at`, but never before the last input's (`last`, updated),
/// since a connection's clock must not go back.
fn input_time(last: &mut Instant, at: Instant) -> Instant {
    *last = at.max(*last);
    *last
}

/// One read from the UDP socket.
#[derive(Debug)]
struct Read {
    len: usize,
    source: SocketAddr,
    /// For a coalesced run of datagrams: the size of each (the last may be shorter).
    segment: Option<usize>,
    /// When the kernel received it (`SO_TIMESTAMPNS`), as the wall clock said.
    received: Option<SystemTime>,
}

impl Read {
    /// When it arrived, on the monotonic clock: the kernel's time, so that a peer whose task waited for a core
    /// does not report the wait as network delay to the server's bandwidth estimator (a browser takes its
    /// timestamps on a network thread of its own). `now` when the kernel gave none.
    fn arrived(&self, now: Instant) -> Instant {
        let waited = self.received.and_then(|t| SystemTime::now().duration_since(t).ok()).unwrap_or_default();
        // A wall clock stepped meanwhile could claim anything: trust it for at most a second.
        now.checked_sub(waited.min(Duration::from_secs(1))).unwrap_or(now)
    }
}

/// The next read on the UDP socket; never, without a socket.
async fn recv_udp(socket: &Option<UdpSocket>, buf: &mut [u8]) -> std::io::Result<Read> {
    match socket {
        Some(s) => s.async_io(tokio::io::Interest::READABLE, || recv_segments(s, buf)).await,
        None => std::future::pending().await,
    }
}

/// One `recvmsg`, with the `UDP_GRO` and `SO_TIMESTAMPNS` control messages if the kernel sends them.
fn recv_segments(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Read> {
    use std::os::fd::AsRawFd;
    // Room for an int and a timespec control message, aligned as the kernel expects.
    #[repr(C, align(8))]
    struct Control([u8; 128]);
    let mut control = Control([0; 128]);
    // SAFETY: every pointer below points into a live local or `buf`, with its true length; the kernel writes at
    // most that much, and the control messages are read only within `msg_controllen`.
    unsafe {
        let mut name: libc::sockaddr_storage = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len() as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut segment = None;
        let mut received = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                segment = usize::try_from(size).ok().filter(|&s| s > 0);
            }
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                if let (Ok(secs), Ok(nanos)) = (u64::try_from(t.tv_sec), u32::try_from(t.tv_nsec)) {
                    received = Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let source = match name.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                SocketAddr::from((u32::from_be(a.sin_addr.s_addr).to_be_bytes(), u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                let a = &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                SocketAddr::from((a.sin6_addr.s6_addr, u16::from_be(a.sin6_port)))
            }
            _ => return Err(std::io::Error::other("a datagram from an address that is not IP")),
        };
        Ok(Read { len: n as usize, source, segment, received })
    }
}

/// The next message of the TCP connection's task; never, before it is started.
async fn recv_tcp(tcp: &mut Option<TcpLink>) -> TcpIn {
    match tcp.as_mut().and_then(|t| t.incoming.as_mut()) {
        Some(rx) => rx.recv().await.unwrap_or_else(|| TcpIn::Closed("the connection task ended".into())),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `len` bytes from a socket that cuts every send into datagrams of `segment` bytes (UDP GSO).
    fn send_segmented(to: SocketAddr, segment: libc::c_int, len: usize) {
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        vayla_udp::set_int_option(&sender, libc::SOL_UDP, libc::UDP_SEGMENT, segment).expect("UDP_SEGMENT");
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        assert_eq!(sender.send_to(&bytes, to).unwrap(), len);
    }

    #[tokio::test]
    async fn a_run_of_datagrams_is_read_at_once_with_its_segment_size() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tune_socket(&socket);
        let to = socket.local_addr().unwrap();
        send_segmented(to, 100, 250);
        let socket = Some(socket);
        let mut buf = vec![0; 65536];
        let read = recv_udp(&socket, &mut buf).await.unwrap();
        assert_eq!((read.len, read.segment), (250, Some(100)));
        assert!(buf[..read.len].iter().enumerate().all(|(i, b)| *b == i as u8));
    }

    #[tokio::test]
    async fn without_coalescing_each_datagram_is_read_on_its_own() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = socket.local_addr().unwrap();
        send_segmented(to, 100, 250);
        let socket = Some(socket);
        let mut buf = vec![0; 65536];
        let mut reads = Vec::new();
        for _ in 0..3 {
            let read = recv_udp(&socket, &mut buf).await.unwrap();
            reads.push((read.len, read.segment));
        }
        assert_eq!(reads, [(100, None), (100, None), (50, None)]);
    }

    /// A datagram read late is dated when the kernel received it, not when it was read.
    #[tokio::test]
    async fn a_datagram_read_late_keeps_its_arrival_time() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tune_socket(&socket);
        // The kernel turns receive timestamps on for everyone a moment after the first socket asks.
        std::thread::sleep(Duration::from_millis(50));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&[1, 2, 3], socket.local_addr().unwrap()).unwrap();
        let sent = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        let socket = Some(socket);
        let mut buf = vec![0; 2048];
        let read = recv_udp(&socket, &mut buf).await.unwrap();
        let now = Instant::now();
        assert!(read.received.is_some(), "no kernel timestamp: {read:?}");
        let arrived = read.arrived(now);
        assert!(arrived <= sent + Duration::from_millis(50), "dated {:?} after the send", arrived - sent);
        assert!(now - arrived >= Duration::from_millis(150), "{:?}", now - arrived);
    }

    #[test]
    fn finds_the_passive_tcp_candidate_of_an_answer() {
        let sdp = "v=0\r\n\
                   a=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n\
                   a=candidate:2 1 tcp 1671430143 127.0.0.1 40001 typ host tcptype active\r\n\
                   a=candidate:3 1 tcp 1671430143 127.0.0.1 40002 typ host tcptype passive\r\n";
        assert_eq!(passive_tcp_candidate(sdp), Some("127.0.0.1:40002".parse().unwrap()));
        assert_eq!(passive_tcp_candidate("a=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n"), None);
    }

    #[test]
    fn frames_carry_a_two_byte_big_endian_length() {
        let mut out = Vec::new();
        frame_into(&mut out, &[7; 300]);
        frame_into(&mut out, &[1]);
        assert_eq!(&out[..2], &[0x01, 0x2c]);
        assert_eq!(&out[302..], &[0, 1, 1]);
    }
}
