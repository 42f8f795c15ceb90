//! The media loop: one task owns the SFU (`vayla_sfu::Sfu`, sans-IO) and the one UDP socket every peer shares,
//! and moves datagrams, timers and commands between them.
//!
//! ICE-TCP (RFC 6544), for networks that block UDP: a TCP listener is announced as a passive host candidate.
//! An accept task admits connections up to a limit and gives each a small task that unframes RFC 4571 (a 2-byte
//! big-endian length before each packet) and hands every frame to the loop over one channel; the loop feeds it to
//! the SFU as `Protocol::Tcp` from the connection's remote address, and sends the SFU's TCP output to the
//! connection with that address through the connection's bounded write queue (dropped when full, as UDP would).
//! The loop alone holds the map of connections; it learns of each one on the same channel, before its first
//! frame. A connection that sends a bad frame, is silent for [`TCP_IDLE`], or errs is closed; nothing it does
//! reaches any other connection.
//!
//! Admission is the rooms' call, not the connections': a room actor tells the loop when a participant is
//! admitted ([`MediaHandle::admit`]) and when it is gone ([`MediaHandle::remove`]). A connection may only offer
//! media while admitted, so a refused or removed participant never receives a packet, and whatever it sends is
//! dropped as unroutable. Both kinds of message travel on the same channel, in order, so an offer that comes
//! after a removal is refused even if the connection had not heard of the removal yet.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use vayla_domain::{ConnId, RoomId};
use vayla_protocol::{ErrorCode, MediaSource, RemoteTrack, ServerMessage, TrackSource};
use vayla_sfu::{Kind, PeerId, Protocol, Sfu, SfuConfig, SfuEvent, SfuOutput, Source};

use vayla_udp::{send_batch, Gso, RecvBatch, SEND_BATCH};

/// Receive batches taken in one go before the loop looks at commands and timers again.
const RECV_ROUNDS: usize = 4;
/// TCP frames taken in one go, likewise.
const TCP_BATCH: usize = 64;
/// How often the SFU's counters are copied to the metrics.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// The largest ICE-TCP frame accepted: str0m and browsers send at most an MTU's worth (≤ 1500 bytes) per packet.
pub const TCP_MAX_FRAME: usize = 1600;
/// An ICE-TCP connection that sends nothing for this long is closed (ICE consent checks come every few seconds).
pub const TCP_IDLE: Duration = Duration::from_secs(30);
/// A write to an ICE-TCP connection that cannot finish in this time closes it: the client stopped reading.
const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Packets queued towards one ICE-TCP connection; more are dropped.
const TCP_WRITE_QUEUE: usize = 512;
/// Frames from all ICE-TCP connections waiting for the loop. A full queue holds the readers back (fairly: the
/// queue serves waiting senders in order), which TCP turns into backpressure on the clients.
const TCP_IN_QUEUE: usize = 4096;

/// A media request refused, with the wire code to tell the client.
pub type Refusal = (ErrorCode, String);

pub(crate) enum MediaCmd {
    Admit { conn: ConnId, room: RoomId, out: mpsc::Sender<ServerMessage>, priority: bool },
    Remove { conn: ConnId },
    Offer { conn: ConnId, sdp: String, tracks: Vec<TrackSource>, reply: oneshot::Sender<Result<String, Refusal>> },
    Answer { conn: ConnId, sdp: String, reply: oneshot::Sender<Result<(), Refusal>> },
    Candidate { conn: ConnId, candidate: String, reply: oneshot::Sender<Result<(), Refusal>> },
}

/// A cheap handle to the media loop.
#[derive(Clone, Debug)]
pub struct MediaHandle {
    tx: mpsc::Sender<MediaCmd>,
    /// The address peers send media to (the host candidate).
    pub address: SocketAddr,
    /// The passive ICE-TCP candidate, unless media over TCP is off.
    pub tcp_address: Option<SocketAddr>,
}

impl std::fmt::Debug for MediaCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaCmd")
    }
}

fn gone() -> Refusal {
    (ErrorCode::MediaUnavailable, "the media engine has stopped".into())
}

impl MediaHandle {
    /// A handle whose commands land in the returned queue instead of a media loop: for tests of its callers.
    #[cfg(test)]
    pub(crate) fn detached() -> (MediaHandle, mpsc::Receiver<MediaCmd>) {
        let (tx, rx) = mpsc::channel(64);
        let address = SocketAddr::from(([127, 0, 0, 1], 9));
        (MediaHandle { tx, address, tcp_address: None }, rx)
    }

    /// The room admitted `conn`: it may now offer media in `room`. `priority`: its cameras are priority video
    /// (a sign-language interpreter's; see `Sfu::set_priority`). Never waits: the room actor calls it.
    pub fn admit(&self, conn: ConnId, room: RoomId, out: mpsc::Sender<ServerMessage>, priority: bool) {
        if self.tx.try_send(MediaCmd::Admit { conn, room, out, priority }).is_err() {
            tracing::error!(%conn, "media loop overloaded or stopped; admission not passed on");
        }
    }

    /// `conn` is out of its room: stop all its media now. Never waits.
    pub fn remove(&self, conn: ConnId) {
        if self.tx.try_send(MediaCmd::Remove { conn }).is_err() {
            tracing::error!(%conn, "media loop overloaded or stopped; removal not passed on");
        }
    }

    pub async fn offer(&self, conn: ConnId, sdp: String, tracks: Vec<TrackSource>) -> Result<String, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(MediaCmd::Offer { conn, sdp, tracks, reply }).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub async fn answer(&self, conn: ConnId, sdp: String) -> Result<(), Refusal> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(MediaCmd::Answer { conn, sdp, reply }).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    pub async fn candidate(&self, conn: ConnId, candidate: String) -> Result<(), Refusal> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(MediaCmd::Candidate { conn, candidate, reply }).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaStartError {
    #[error("cannot bind the media socket {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("the media socket is bound to {0}, an address no client can send to; set media_public_ip")]
    Unannounceable(SocketAddr),
}

/// Where the media engine listens, from the server's [`Config`](crate::Config).
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// The UDP socket.
    pub bind: SocketAddr,
    /// The address announced to clients when the sockets are bound to a wildcard address or sit behind a 1:1 NAT.
    pub public_ip: Option<IpAddr>,
    /// The ICE-TCP listener; `None`: no media over TCP.
    pub tcp_bind: Option<SocketAddr>,
    /// Simultaneous ICE-TCP connections.
    pub tcp_max_connections: usize,
    /// Each subscriber's starting downlink estimate in bit/s; `None`: no bandwidth estimation.
    pub initial_estimate: Option<u64>,
    /// Send runs of datagrams to one peer as one UDP GSO message (see `vayla_udp::send_batch`).
    pub gso: bool,
    /// Read runs of datagrams from one peer as one message (see `vayla_udp::RecvBatch::coalescing`).
    pub gro: bool,
    /// The UDP socket's receive and send buffer sizes in bytes; `0` leaves the kernel's defaults.
    pub socket_buffer: usize,
}

impl MediaSettings {
    pub fn from_config(config: &crate::Config) -> Self {
        MediaSettings {
            bind: config.media_bind,
            public_ip: config.media_public_ip,
            tcp_bind: config.media_tcp_bind(),
            tcp_max_connections: config.media_tcp_max_connections,
            initial_estimate: Some(config.media_initial_estimate_kbps * 1000).filter(|&b| b > 0),
            gso: config.media_gso,
            gro: config.media_gro,
            socket_buffer: config.media_socket_buffer_kib * 1024,
        }
    }
}

/// The address to announce for a socket bound to `local`.
fn announced(local: SocketAddr, public_ip: Option<IpAddr>) -> Result<SocketAddr, MediaStartError> {
    let address = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
    if address.ip().is_unspecified() {
        return Err(MediaStartError::Unannounceable(address));
    }
    Ok(address)
}

/// Bind the media sockets and start the loop.
pub async fn start(
    settings: MediaSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<(MediaHandle, tokio::task::JoinHandle<()>), MediaStartError> {
    let bind = settings.bind;
    let socket = UdpSocket::bind(bind).await.map_err(|e| MediaStartError::Bind(bind, e))?;
    let udp_in = if settings.gro { RecvBatch::coalescing(&socket) } else { RecvBatch::new() };
    let local = socket.local_addr().map_err(|e| MediaStartError::Bind(bind, e))?;
    if settings.socket_buffer > 0 {
        vayla_udp::size_buffers(&socket, settings.socket_buffer);
    }
    let address = announced(local, settings.public_ip)?;
    let mut candidates = vec![(Protocol::Udp, address)];
    let tcp = match settings.tcp_bind {
        Some(bind) => {
            let listener = TcpListener::bind(bind).await.map_err(|e| MediaStartError::Bind(bind, e))?;
            let local = listener.local_addr().map_err(|e| MediaStartError::Bind(bind, e))?;
            let address = announced(local, settings.public_ip)?;
            candidates.push((Protocol::Tcp, address));
            let (frames_tx, frames) = mpsc::channel(TCP_IN_QUEUE);
            let limit = Arc::new(Semaphore::new(settings.tcp_max_connections));
            tokio::spawn(accept_tcp(listener, frames_tx, limit, metrics.clone(), shutdown.clone()));
            Some((Tcp { address, conns: HashMap::new() }, frames))
        }
        None => None,
    };
    let tcp_address = tcp.as_ref().map(|t| t.0.address);
    let (tcp, tcp_frames) = tcp.unzip();
    let (tx, rx) = mpsc::channel(4096);
    let mut config = SfuConfig::new(candidates);
    config.initial_estimate = settings.initial_estimate;
    let media = MediaLoop {
        sfu: Sfu::new(config, Instant::now()),
        socket,
        address,
        tcp,
        tcp_frames,
        admitted: HashMap::new(),
        udp_out: Vec::with_capacity(SEND_BATCH),
        udp_dropped: 0,
        udp_segmented: 0,
        gso: Gso(settings.gso),
        udp_in,
        metrics,
    };
    let task = tokio::spawn(media.run(rx, shutdown));
    tracing::info!(%address, tcp = ?tcp_address, "media engine listening");
    Ok((MediaHandle { tx, address, tcp_address }, task))
}

struct Admitted {
    room: RoomId,
    out: mpsc::Sender<ServerMessage>,
    /// Mark its cameras as priority video in the SFU each time it (re)offers.
    priority: bool,
}

struct MediaLoop {
    sfu: Sfu,
    socket: UdpSocket,
    address: SocketAddr,
    tcp: Option<Tcp>,
    /// What the ICE-TCP tasks say, in order. Apart from `tcp` so the loop can wait on it while it holds `tcp`.
    tcp_frames: Option<mpsc::Receiver<TcpIn>>,
    admitted: HashMap<ConnId, Admitted>,
    metrics: Arc<Metrics>,
    /// UDP datagrams waiting for the next batched send.
    udp_out: Vec<(SocketAddr, Vec<u8>)>,
    /// Datagrams the socket buffer would not take.
    udp_dropped: u64,
    /// Datagrams sent as segments of a GSO message.
    udp_segmented: u64,
    gso: Gso,
    /// Buffers for batched receives.
    udp_in: RecvBatch,
}

/// The media loop's ICE-TCP side.
struct Tcp {
    /// The announced passive candidate: the SFU's local address of every TCP frame.
    address: SocketAddr,
    /// Open connections by remote address, with their write queues. Only the loop touches it.
    conns: HashMap<SocketAddr, TcpConn>,
}

struct TcpConn {
    id: u64,
    writer: mpsc::Sender<Vec<u8>>,
}

/// What the accept task and the connections' tasks tell the loop.
#[derive(Debug)]
enum TcpIn {
    /// A connection was accepted; what the SFU sends to `remote` goes to `writer`. Comes before its frames.
    Open { id: u64, remote: SocketAddr, writer: mpsc::Sender<Vec<u8>> },
    /// One RFC 4571 frame's payload.
    Frame { remote: SocketAddr, bytes: Vec<u8> },
    /// The connection is closed: forget it (unless a newer connection has its address by now).
    Closed { id: u64, remote: SocketAddr },
}

fn to_source(s: MediaSource) -> Source {
    match s {
        MediaSource::Microphone => Source::Microphone,
        MediaSource::Camera => Source::Camera,
        MediaSource::Document => Source::Document,
    }
}

fn from_source(s: Source) -> MediaSource {
    match s {
        Source::Microphone => MediaSource::Microphone,
        Source::Camera => MediaSource::Camera,
        Source::Document => MediaSource::Document,
    }
}

fn refusal(e: vayla_sfu::SfuError) -> Refusal {
    let code = match e {
        vayla_sfu::SfuError::BadSdp(_) | vayla_sfu::SfuError::UnknownMid(_) => ErrorCode::BadSdp,
        vayla_sfu::SfuError::BadCandidate(_) => ErrorCode::BadMessage,
        vayla_sfu::SfuError::UnknownPeer(_) => ErrorCode::NotJoined,
        _ => ErrorCode::MediaFailed,
    };
    (code, e.to_string())
}

impl MediaLoop {
    async fn run(mut self, mut rx: mpsc::Receiver<MediaCmd>, mut shutdown: watch::Receiver<bool>) {
        let mut published = Instant::now();
        // One timer for the loop's life, moved only when the deadline moves: a new one per iteration cost a
        // registration in the timer wheel and its removal, tens of thousands of times a second.
        let timer = tokio::time::sleep_until(Instant::now().into());
        tokio::pin!(timer);
        loop {
            let deadline = self.drain();
            if published.elapsed() >= STATS_EVERY {
                self.publish_stats();
                published = Instant::now();
            }
            if timer.deadline() != deadline.into() {
                timer.as_mut().reset(deadline.into());
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                // Readiness only: the datagrams themselves are taken in batches, whatever is already waiting.
                _ = self.socket.readable() => self.receive_ready(),
                input = tcp_frame(&mut self.tcp_frames) => {
                    self.tcp_input(input);
                    self.receive_ready();
                }
                _ = &mut timer => self.sfu.handle_timeout(Instant::now()),
            }
        }
        // Dropping the loop drops every connection's write queue, which closes the connections.
        tracing::info!("media engine stopped");
    }

    /// Up to a batch each of the UDP datagrams and the TCP frames already waiting, so that neither transport
    /// waits behind the other.
    fn receive_ready(&mut self) {
        for _ in 0..RECV_ROUNDS {
            if self.udp_in.receive(&self.socket) == 0 {
                break;
            }
            // One clock read and one drain of each subscriber per batch: the datagrams arrived together.
            self.sfu.handle_receive_batch(Instant::now(), Protocol::Udp, self.address, self.udp_in.datagrams());
        }
        for _ in 0..TCP_BATCH {
            let Some(input) = self.tcp_frames.as_mut().and_then(|f| f.try_recv().ok()) else {
                break;
            };
            self.tcp_input(input);
        }
    }

    fn tcp_input(&mut self, input: TcpIn) {
        let Some(tcp) = self.tcp.as_mut() else {
            return;
        };
        match input {
            TcpIn::Frame { remote, bytes } => {
                self.sfu.handle_receive(Instant::now(), Protocol::Tcp, remote, tcp.address, &bytes);
            }
            TcpIn::Open { id, remote, writer } => {
                tcp.conns.insert(remote, TcpConn { id, writer });
            }
            TcpIn::Closed { id, remote } => {
                if tcp.conns.get(&remote).is_some_and(|c| c.id == id) {
                    tcp.conns.remove(&remote);
                }
            }
        }
    }

    fn publish_stats(&self) {
        let s = self.sfu.stats();
        let m = &self.metrics;
        m.sfu_peers.store(s.peers as i64, Relaxed);
        m.sfu_forwarded_packets.store(s.forwarded_packets, Relaxed);
        m.sfu_forwarded_bytes.store(s.forwarded_bytes, Relaxed);
        m.sfu_dropped_unroutable.store(s.dropped_unroutable, Relaxed);
        m.sfu_dropped_malformed.store(s.dropped_malformed, Relaxed);
        m.sfu_keyframe_requests.store(s.keyframe_requests_sent, Relaxed);
        m.sfu_layer_switches.store(s.layer_switches, Relaxed);
        m.sfu_layer_changes.store(s.layer_changes, Relaxed);
        m.sfu_timeout_passes.store(s.timeout_passes, Relaxed);
        m.sfu_sent_datagrams.store(s.sent_datagrams, Relaxed);
        m.sfu_probe_datagrams.store(s.probe_datagrams, Relaxed);
        m.udp_send_dropped.store(self.udp_dropped, Relaxed);
        m.udp_gso_segments.store(self.udp_segmented, Relaxed);
    }

    /// Send the queued UDP datagrams, as many per system call as the kernel takes. UDP: whatever the socket
    /// buffer cannot take is dropped, as the network would drop it.
    fn flush_udp(&mut self) {
        if self.udp_out.is_empty() {
            return;
        }
        let sent = send_batch(&self.socket, &self.udp_out, &mut self.gso);
        self.udp_dropped += (self.udp_out.len() - sent.datagrams) as u64;
        self.udp_segmented += sent.segmented as u64;
        self.udp_out.clear();
    }

    /// Send everything the SFU has to send and act on its events; returns when it next needs a timeout.
    fn drain(&mut self) -> Instant {
        loop {
            match self.sfu.poll_output() {
                SfuOutput::Timeout(t) => {
                    self.flush_udp();
                    return t;
                }
                SfuOutput::Transmit { proto: Protocol::Tcp, destination, contents, .. } => {
                    // A full write queue drops the packet, as a full UDP socket buffer would; a closed one is
                    // forgotten when its task says so.
                    if let Some(conn) = self.tcp.as_ref().and_then(|t| t.conns.get(&destination)) {
                        let _ = conn.writer.try_send(contents);
                    }
                }
                SfuOutput::Transmit { destination, contents, .. } => {
                    self.udp_out.push((destination, contents));
                    if self.udp_out.len() >= SEND_BATCH {
                        self.flush_udp();
                    }
                }
                SfuOutput::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, e: SfuEvent) {
        match e {
            SfuEvent::Offer { peer, sdp, tracks } => {
                let tracks = tracks
                    .into_iter()
                    .map(|t| RemoteTrack {
                        mid: t.mid,
                        participant_id: ConnId(t.publisher).to_string(),
                        source: from_source(t.source),
                        kind: match t.kind {
                            Kind::Audio => "audio".into(),
                            Kind::Video => "video".into(),
                        },
                    })
                    .collect();
                self.tell(peer, ServerMessage::Offer { sdp, tracks });
            }
            SfuEvent::Failed { peer, reason } => {
                tracing::info!(conn = %ConnId(peer), %reason, "media connection failed");
                let message = "the media connection failed; offer again to reconnect".to_string();
                self.tell(peer, ServerMessage::error(None, ErrorCode::MediaFailed, message));
            }
            SfuEvent::Layers { publisher, mid, rids } => self.tell(publisher, ServerMessage::Layers { mid, rids }),
            SfuEvent::Connected { peer } => tracing::debug!(conn = %ConnId(peer), "media connected"),
            SfuEvent::TrackFlowing { .. } => {}
        }
    }

    fn tell(&self, peer: PeerId, msg: ServerMessage) {
        if let Some(a) = self.admitted.get(&ConnId(peer)) {
            // The room disconnects a client that cannot keep up; here a full queue only loses this message.
            let _ = a.out.try_send(msg);
        }
    }

    fn command(&mut self, cmd: MediaCmd) {
        let now = Instant::now();
        match cmd {
            MediaCmd::Admit { conn, room, out, priority } => {
                self.admitted.insert(conn, Admitted { room, out, priority });
            }
            MediaCmd::Remove { conn } => {
                if self.admitted.remove(&conn).is_some() {
                    self.sfu.remove_peer(now, conn.0);
                }
            }
            MediaCmd::Offer { conn, sdp, tracks, reply } => {
                let Some(a) = self.admitted.get(&conn) else {
                    let _ = reply.send(Err((ErrorCode::NotJoined, "join a room before negotiating media".into())));
                    return;
                };
                // A second offer replaces the media connection (the client made a new one, after a network change).
                self.sfu.remove_peer(now, conn.0);
                let sources: Vec<(String, Source)> = tracks.into_iter().map(|t| (t.mid, to_source(t.source))).collect();
                let room = a.room.to_string();
                let priority = a.priority;
                let r = self.sfu.add_peer(now, &room, conn.0, &sdp, &sources).map_err(refusal);
                if r.is_ok() && priority {
                    self.sfu.set_priority(now, conn.0, true);
                }
                if r.is_ok() {
                    self.metrics.media_peers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let _ = reply.send(r);
            }
            MediaCmd::Answer { conn, sdp, reply } => {
                let r = if self.admitted.contains_key(&conn) {
                    self.sfu.accept_answer(now, conn.0, &sdp).map_err(refusal)
                } else {
                    Err((ErrorCode::NotJoined, "not in a room".into()))
                };
                let _ = reply.send(r);
            }
            MediaCmd::Candidate { conn, candidate, reply } => {
                let r = if self.admitted.contains_key(&conn) {
                    self.sfu.add_remote_candidate(conn.0, &candidate).map_err(refusal)
                } else {
                    Err((ErrorCode::NotJoined, "not in a room".into()))
                };
                let _ = reply.send(r);
            }
        }
    }
}

/// Accepts ICE-TCP connections until shutdown: within the limit each gets its task, announced to the loop before
/// it starts; over the limit a connection is closed at once.
async fn accept_tcp(
    listener: TcpListener,
    frames: mpsc::Sender<TcpIn>,
    limit: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_id = 0u64;
    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin; UDP media goes on regardless.
                    tracing::warn!(error = %e, "ICE-TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            // Per connection, so debug (a flood must not flood the log too); the metric counts them.
            tracing::debug!(%remote, "too many ICE-TCP connections; closed");
            metrics.media_tcp_rejected.fetch_add(1, Relaxed);
            continue;
        };
        next_id += 1;
        let id = next_id;
        let (writer, queue) = mpsc::channel(TCP_WRITE_QUEUE);
        if frames.send(TcpIn::Open { id, remote, writer }).await.is_err() {
            return; // the loop is gone
        }
        metrics.media_tcp_connections.fetch_add(1, Relaxed);
        let frames = frames.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            let end = serve_tcp(read, write, remote, &frames, queue, TcpLimits::DEFAULT).await;
            match &end {
                TcpEnd::Bad(why) => {
                    metrics.media_tcp_rejected.fetch_add(1, Relaxed);
                    tracing::debug!(%remote, why, "ICE-TCP connection closed: bad frame");
                }
                end => tracing::debug!(%remote, ?end, "ICE-TCP connection closed"),
            }
            metrics.media_tcp_connections.fetch_sub(1, Relaxed);
            drop(permit);
            let _ = frames.send(TcpIn::Closed { id, remote }).await;
        });
    }
}

/// The next message from the ICE-TCP tasks; never, when TCP is off or every task has ended.
async fn tcp_frame(frames: &mut Option<mpsc::Receiver<TcpIn>>) -> TcpIn {
    match frames {
        Some(f) => match f.recv().await {
            Some(input) => input,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Why an ICE-TCP connection ended.
#[derive(Debug, PartialEq, Eq)]
enum TcpEnd {
    /// The client closed it.
    Closed,
    /// Nothing arrived for [`TcpLimits::idle`].
    Idle,
    /// A frame of length zero or over the limit, or a first frame that is not a STUN message.
    Bad(&'static str),
    /// A read or write failed, or a write did not finish in time.
    Failed(String),
    /// The media loop is gone (shutdown).
    Stopped,
}

#[derive(Debug, Clone, Copy)]
struct TcpLimits {
    max_frame: usize,
    idle: Duration,
    write_timeout: Duration,
}

impl TcpLimits {
    const DEFAULT: TcpLimits = TcpLimits { max_frame: TCP_MAX_FRAME, idle: TCP_IDLE, write_timeout: TCP_WRITE_TIMEOUT };
}

/// One ICE-TCP connection until it ends: frames read go to the loop, packets from `queue` are framed and written.
async fn serve_tcp(
    read: impl AsyncRead + Unpin,
    write: impl AsyncWrite + Unpin,
    remote: SocketAddr,
    frames: &mpsc::Sender<TcpIn>,
    queue: mpsc::Receiver<Vec<u8>>,
    limits: TcpLimits,
) -> TcpEnd {
    tokio::select! {
        end = read_frames(read, remote, frames, limits) => end,
        end = write_frames(write, queue, limits) => end,
    }
}

/// Reads RFC 4571 frames and passes them on, until the connection ends or breaks the rules.
async fn read_frames(
    read: impl AsyncRead + Unpin,
    remote: SocketAddr,
    frames: &mpsc::Sender<TcpIn>,
    limits: TcpLimits,
) -> TcpEnd {
    let mut read = BufReader::with_capacity(8 * 1024, read);
    let mut first = true;
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(limits.idle, read.read_exact(&mut len)).await {
            Err(_) => return TcpEnd::Idle,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return TcpEnd::Closed,
            Ok(Err(e)) => return TcpEnd::Failed(e.to_string()),
            Ok(Ok(_)) => {}
        }
        let n = u16::from_be_bytes(len) as usize;
        if n == 0 {
            return TcpEnd::Bad("empty frame");
        }
        if n > limits.max_frame {
            return TcpEnd::Bad("oversized frame");
        }
        let mut bytes = vec![0u8; n];
        match tokio::time::timeout(limits.idle, read.read_exact(&mut bytes)).await {
            Err(_) => return TcpEnd::Idle,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return TcpEnd::Closed,
            Ok(Err(e)) => return TcpEnd::Failed(e.to_string()),
            Ok(Ok(_)) => {}
        }
        // RFC 6544: an ICE-TCP connection starts with the client's connectivity check. Anything else is not ICE,
        // and is not let near the SFU.
        if first && !looks_like_stun(&bytes) {
            return TcpEnd::Bad("not ICE");
        }
        first = false;
        if frames.send(TcpIn::Frame { remote, bytes }).await.is_err() {
            return TcpEnd::Stopped;
        }
    }
}

/// STUN framing (RFC 8489 §5): two zero bits, the magic cookie, a length that fits. Integrity is the SFU's check.
fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= 20
        && bytes[0] & 0b1100_0000 == 0
        && bytes[4..8] == [0x21, 0x12, 0xa4, 0x42]
        && u16::from_be_bytes([bytes[2], bytes[3]]) as usize + 20 == bytes.len()
}

/// Frames and writes what the loop queued, several packets per write when they are waiting, until the loop drops
/// the queue.
async fn write_frames(
    mut write: impl AsyncWrite + Unpin,
    mut queue: mpsc::Receiver<Vec<u8>>,
    limits: TcpLimits,
) -> TcpEnd {
    let mut out = Vec::with_capacity(16 * 1024);
    while let Some(packet) = queue.recv().await {
        out.clear();
        push_frame(&mut out, &packet);
        while out.len() < 64 * 1024 {
            match queue.try_recv() {
                Ok(packet) => push_frame(&mut out, &packet),
                Err(_) => break,
            }
        }
        match tokio::time::timeout(limits.write_timeout, write.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return TcpEnd::Failed(e.to_string()),
            Err(_) => return TcpEnd::Failed("write timed out".into()),
        }
    }
    TcpEnd::Stopped
}

fn push_frame(out: &mut Vec<u8>, packet: &[u8]) {
    // The SFU never makes a packet near 64 KiB; one that could not be framed is dropped rather than corrupting the
    // stream.
    let Ok(len) = u16::try_from(packet.len()) else {
        return;
    };
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
}

/// Send `batch` on `socket` with as few system calls as the platform allows; returns how many were sent.
/// Linux has `sendmmsg`, which sends many datagrams to many destinations at once: forwarding writes each packet
/// to every subscriber, so this is where most of the media loop's system calls go.
#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, split, AsyncReadExt, AsyncWriteExt};

    const LIMITS: TcpLimits =
        TcpLimits { max_frame: TCP_MAX_FRAME, idle: Duration::from_millis(200), write_timeout: Duration::from_secs(1) };

    /// A STUN binding request of `len` bytes (header plus zero attributes' worth of body).
    fn stun(body: usize) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend(std::iter::repeat_n(0, body));
        m
    }

    fn framed(packets: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            push_frame(&mut out, p);
        }
        out
    }

    /// Runs a connection over an in-memory stream: the client writes `sent`, then waits; returns how the
    /// connection ended and the frames the loop got.
    async fn serve(sent: Vec<u8>, close_after: bool) -> (TcpEnd, Vec<Vec<u8>>) {
        let (client, server) = duplex(64 * 1024);
        let (read, write) = split(server);
        let (frames_tx, mut frames) = mpsc::channel(64);
        let (_queue_tx, queue) = mpsc::channel(8);
        let remote: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        let task = tokio::spawn(async move { serve_tcp(read, write, remote, &frames_tx, queue, LIMITS).await });
        let (_client_read, mut client_write) = split(client);
        client_write.write_all(&sent).await.unwrap();
        if close_after {
            client_write.shutdown().await.unwrap();
            drop(client_write);
        }
        let end = tokio::time::timeout(Duration::from_secs(5), task).await.expect("the connection ends").unwrap();
        let mut got = Vec::new();
        while let Ok(TcpIn::Frame { bytes, .. }) = frames.try_recv() {
            got.push(bytes);
        }
        (end, got)
    }

    #[tokio::test]
    async fn frames_pass_whole_and_in_order() {
        let a = stun(8);
        let b = vec![0x80; 1200];
        let c = vec![0x16; TCP_MAX_FRAME];
        let (end, got) = serve(framed(&[&a, &b, &c]), true).await;
        assert_eq!(end, TcpEnd::Closed);
        assert_eq!(got, vec![a, b, c]);
    }

    #[tokio::test]
    async fn bad_frames_close_the_connection() {
        let ok = framed(&[&stun(0)]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty frame", [ok.clone(), vec![0, 0]].concat()),
            ("oversized frame", [ok.clone(), vec![0xff, 0xff], vec![1; 100]].concat()),
            ("oversized frame", [ok.clone(), ((TCP_MAX_FRAME + 1) as u16).to_be_bytes().to_vec()].concat()),
            ("not ICE", framed(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])),
            ("not ICE", framed(&[&[0x80; 100]])),
        ];
        for (why, bytes) in cases {
            let (end, got) = serve(bytes, false).await;
            assert_eq!(end, TcpEnd::Bad(why));
            // What came before the bad frame went through; nothing after.
            assert!(got.len() <= 1, "{why}: {got:?}");
        }
    }

    #[tokio::test]
    async fn a_silent_or_half_sent_connection_is_closed_when_idle() {
        let (end, _) = serve(Vec::new(), false).await;
        assert_eq!(end, TcpEnd::Idle);
        // A length, then nothing.
        let (end, got) = serve(vec![0, 20], false).await;
        assert_eq!(end, TcpEnd::Idle);
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn queued_packets_are_framed_on_the_wire_and_closing_the_queue_closes_the_connection() {
        let (client, server) = duplex(64 * 1024);
        let (read, write) = split(server);
        let (frames_tx, _frames) = mpsc::channel(8);
        let (queue_tx, queue) = mpsc::channel(8);
        let remote: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        let task = tokio::spawn(async move { serve_tcp(read, write, remote, &frames_tx, queue, LIMITS).await });
        queue_tx.send(vec![1, 2, 3]).await.unwrap();
        queue_tx.send(vec![9; 300]).await.unwrap();
        drop(queue_tx);
        assert_eq!(task.await.unwrap(), TcpEnd::Stopped);
        let (mut client_read, _w) = split(client);
        let mut wire = Vec::new();
        client_read.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire, framed(&[&[1, 2, 3], &[9; 300]]));
    }
}
