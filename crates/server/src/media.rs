//! The media loop: one task owns the SFU (`vayla_sfu::Sfu`, sans-IO) and the one UDP socket every peer shares,
//! and moves datagrams, timers and commands between them.
//!
//! Admission is the rooms' call, not the connections': a room actor tells the loop when a participant is
//! admitted ([`MediaHandle::admit`]) and when it is gone ([`MediaHandle::remove`]). A connection may only offer
//! media while admitted, so a refused or removed participant never receives a packet, and whatever it sends is
//! dropped as unroutable. Both kinds of message travel on the same channel, in order, so an offer that comes
//! after a removal is refused even if the connection had not heard of the removal yet.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use vayla_domain::{ConnId, RoomId};
use vayla_protocol::{ErrorCode, MediaSource, RemoteTrack, ServerMessage, TrackSource};
use vayla_sfu::{Kind, PeerId, Sfu, SfuConfig, SfuEvent, SfuOutput, Source};

/// Datagrams read in one go before the loop looks at commands and timers again.
const RECV_BATCH: usize = 64;
/// How often the SFU's counters are copied to the metrics.
const STATS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// A media request refused, with the wire code to tell the client.
pub type Refusal = (ErrorCode, String);

enum MediaCmd {
    Admit { conn: ConnId, room: RoomId, out: mpsc::Sender<ServerMessage> },
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
    /// The room admitted `conn`: it may now offer media in `room`. Never waits: the room actor calls it.
    pub fn admit(&self, conn: ConnId, room: RoomId, out: mpsc::Sender<ServerMessage>) {
        if self.tx.try_send(MediaCmd::Admit { conn, room, out }).is_err() {
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

/// Bind the media socket and start the loop. `public_ip` is the address announced to clients when the socket
/// is bound to a wildcard address or sits behind a 1:1 NAT.
pub async fn start(
    bind: SocketAddr,
    public_ip: Option<IpAddr>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<(MediaHandle, tokio::task::JoinHandle<()>), MediaStartError> {
    let socket = UdpSocket::bind(bind).await.map_err(|e| MediaStartError::Bind(bind, e))?;
    let local = socket.local_addr().map_err(|e| MediaStartError::Bind(bind, e))?;
    let address = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
    if address.ip().is_unspecified() {
        return Err(MediaStartError::Unannounceable(address));
    }
    let (tx, rx) = mpsc::channel(4096);
    let config = SfuConfig::new(vec![(vayla_sfu::Protocol::Udp, address)]);
    let media = MediaLoop {
        sfu: Sfu::new(config, Instant::now()),
        socket,
        address,
        admitted: HashMap::new(),
        metrics,
    };
    let task = tokio::spawn(media.run(rx, shutdown));
    tracing::info!(%address, "media engine listening");
    Ok((MediaHandle { tx, address }, task))
}

struct Admitted {
    room: RoomId,
    out: mpsc::Sender<ServerMessage>,
}

struct MediaLoop {
    sfu: Sfu,
    socket: UdpSocket,
    address: SocketAddr,
    admitted: HashMap<ConnId, Admitted>,
    metrics: Arc<Metrics>,
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
        let mut buf = vec![0u8; 2048];
        let mut published = Instant::now();
        loop {
            let deadline = self.drain();
            if published.elapsed() >= STATS_EVERY {
                self.publish_stats();
                published = Instant::now();
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = r {
                        self.sfu.handle_receive(Instant::now(), vayla_sfu::Protocol::Udp, source, self.address, &buf[..n]);
                        // Whatever else is already waiting, without going round the loop for each datagram.
                        for _ in 0..RECV_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.sfu.handle_receive(
                                    Instant::now(), vayla_sfu::Protocol::Udp, source, self.address, &buf[..n],
                                ),
                                Err(_) => break,
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => self.sfu.handle_timeout(Instant::now()),
            }
        }
        tracing::info!("media engine stopped");
    }

    fn publish_stats(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.sfu.stats();
        let m = &self.metrics;
        m.sfu_peers.store(s.peers as i64, Relaxed);
        m.sfu_forwarded_packets.store(s.forwarded_packets, Relaxed);
        m.sfu_forwarded_bytes.store(s.forwarded_bytes, Relaxed);
        m.sfu_dropped_unroutable.store(s.dropped_unroutable, Relaxed);
        m.sfu_dropped_malformed.store(s.dropped_malformed, Relaxed);
        m.sfu_keyframe_requests.store(s.keyframe_requests_sent, Relaxed);
    }

    /// Send everything the SFU has to send and act on its events; returns when it next needs a timeout.
    fn drain(&mut self) -> Instant {
        loop {
            match self.sfu.poll_output() {
                SfuOutput::Timeout(t) => return t,
                SfuOutput::Transmit { destination, contents, .. } => {
                    // UDP: a full socket buffer drops the datagram, as the network would.
                    let _ = self.socket.try_send_to(&contents, destination);
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
                self.tell(peer, ServerMessage::Error { id: None, code: ErrorCode::MediaFailed, message });
            }
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
            MediaCmd::Admit { conn, room, out } => {
                self.admitted.insert(conn, Admitted { room, out });
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
                let r = self.sfu.add_peer(now, &room, conn.0, &sdp, &sources).map_err(refusal);
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
