//! A media peer for tests and load: a str0m `Rtc` on its own UDP socket that publishes synthetic audio and
//! VP8-shaped video, answers the SFU's renegotiation offers, and counts what it receives per track.
//!
//! It behaves like a browser where it matters to the server: it offers its send tracks first, then answers
//! the SFU's offers; it sends a keyframe at once when asked (PLI/FIR) and otherwise every few seconds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use vayla_protocol::{MediaSource, RemoteTrack, TrackSource};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("SDP: {0}")]
    Sdp(String),
}

/// The process-wide reference instant for the send-time stamps in payloads: sender and receiver are in the
/// same process (tests, load generator), so a frame's delay is `now - stamp`.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Where the send-time stamp sits in a frame: after the VP8 keyframe header for video, at the start for audio.
fn stamp_at(kind: MediaKind) -> usize {
    if kind == MediaKind::Audio { 0 } else { 10 }
}

/// What arrived on one received track.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub frames: u64,
    pub keyframes: u64,
    pub bytes: u64,
    pub first_frame: Option<Instant>,
    pub first_keyframe: Option<Instant>,
    /// Frames whose RTP sequence was not contiguous with the previous one.
    pub gaps: u64,
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
    /// A keyframe goes out with the next frame.
    keyframe_due: bool,
    last_keyframe: Option<Instant>,
    frame_bytes: usize,
    sent: Sent,
}

/// One client's media connection.
pub struct MediaPeer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    sending: Vec<Sending>,
    pending: Option<SdpPendingOffer>,
    /// The tracks the SFU says this peer receives, by mid.
    pub tracks: HashMap<String, RemoteTrack>,
    pub received: HashMap<String, Received>,
    pub keyframe_requests: u64,
    /// Send-to-receive delay of every received frame, in microseconds (bounded; oldest kept).
    pub delays_us: Vec<u32>,
    pub connected: bool,
    pub failed: Option<String>,
    started: Instant,
    buf: Vec<u8>,
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
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let local = socket.local_addr()?;
        let now = Instant::now();
        let mut rtc = Rtc::builder().enable_bwe(None).build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| MediaError::Rtc(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        let mut sending = Vec::new();
        let mut tracks = Vec::new();
        for source in publish {
            let kind = match source {
                MediaSource::Microphone => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            let mid = change.add_media(kind, Direction::SendOnly, Some("local".into()), None, None);
            // Realistic rates: Opus ≈ 32 kbit/s, camera ≈ 1 Mbit/s at 15 fps, document ≈ 1.5 Mbit/s at 5 fps.
            let (interval, frame_bytes) = match source {
                MediaSource::Microphone => (Duration::from_millis(20), 80),
                MediaSource::Camera => (Duration::from_micros(66_667), 8_300),
                MediaSource::Document => (Duration::from_millis(200), 37_500),
            };
            sending.push(Sending {
                mid,
                source: *source,

                kind,
                next_at: now,
                interval,
                rtp_time: 0,
                keyframe_due: true,
                last_keyframe: None,
                frame_bytes,
                sent: Sent::default(),
            });
            tracks.push(TrackSource { mid: mid.to_string(), source: *source });
        }
        let (offer, pending) = change.apply().ok_or_else(|| MediaError::Sdp("nothing to offer".into()))?;
        let peer = MediaPeer {
            rtc,
            socket,
            local,
            sending,
            pending: Some(pending),
            tracks: HashMap::new(),
            received: HashMap::new(),
            keyframe_requests: 0,
            delays_us: Vec::new(),
            connected: false,
            failed: None,
            started: now,
            buf: vec![0; 2000],
        };
        Ok((peer, offer.to_sdp_string(), tracks))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The SFU's answer to our first offer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), MediaError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let pending = self.pending.take().ok_or_else(|| MediaError::Sdp("no offer pending".into()))?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| MediaError::Rtc(e.to_string()))
    }

    /// An offer from the SFU (tracks added or removed): accept it and return our answer.
    pub fn accept_offer(&mut self, sdp: &str, tracks: &[RemoteTrack]) -> Result<String, MediaError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let answer = self.rtc.sdp_api().accept_offer(offer).map_err(|e| MediaError::Rtc(e.to_string()))?;
        self.tracks = tracks.iter().map(|t| (t.mid.clone(), t.clone())).collect();
        Ok(answer.to_sdp_string())
    }

    /// What arrived from `participant`'s `source` track.
    pub fn received_from(&self, participant: &str, source: MediaSource) -> Option<&Received> {
        let mid = self.tracks.values().find(|t| t.participant_id == participant && t.source == source)?.mid.clone();
        self.received.get(&mid)
    }

    /// Drive the peer until `until`: read the socket, run timers, send media.
    pub async fn pump(&mut self, until: Instant) -> Result<(), MediaError> {
        loop {
            let timeout = self.drain()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let next_send = self.sending.iter().map(|s| s.next_at).min().unwrap_or(until);
            let wake = timeout.min(next_send).min(until).max(now);
            tokio::select! {
                r = self.socket.recv_from(&mut self.buf) => {
                    let (n, source) = r?;
                    let now = Instant::now();
                    if let Ok(contents) = self.buf[..n].try_into() {
                        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                        if let Err(e) = self.rtc.handle_input(input) {
                            self.failed = Some(e.to_string());
                            return Err(MediaError::Rtc(e.to_string()));
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    self.rtc.handle_input(Input::Timeout(now)).map_err(|e| MediaError::Rtc(e.to_string()))?;
                    self.send_media(now)?;
                }
            }
        }
    }

    fn send_media(&mut self, now: Instant) -> Result<(), MediaError> {
        if !self.connected {
            return Ok(());
        }
        for s in &mut self.sending {
            while s.next_at <= now {
                let Some(writer) = self.rtc.writer(s.mid) else { break };
                let wanted = if s.kind == MediaKind::Audio { Codec::Opus } else { Codec::Vp8 };
                let Some(pt) = writer.payload_params().find(|p| p.spec().codec == wanted).map(|p| p.pt()) else {
                    break;
                };
                let (clock, mut data) = if s.kind == MediaKind::Audio {
                    (48_000u64, vec![0xf8; s.frame_bytes])
                } else {
                    // A keyframe when asked, and every 3 s regardless, as an encoder would.
                    let periodic = s.last_keyframe.map(|t| now.duration_since(t) > Duration::from_secs(3)).unwrap_or(true);
                    let key = s.keyframe_due || periodic;
                    if key {
                        s.keyframe_due = false;
                        s.last_keyframe = Some(now);
                    }
                    // Keyframes twice the size of the others; the average stays near the target rate.
                    let len = if key { s.frame_bytes * 2 } else { s.frame_bytes };
                    (90_000u64, vp8_frame(key, len, s.rtp_time))
                };
                let at = stamp_at(s.kind);
                let stamp = now.duration_since(epoch()).as_micros() as u64;
                data[at..at + 8].copy_from_slice(&stamp.to_be_bytes());
                s.sent.frames += 1;
                s.sent.bytes += data.len() as u64;
                let time = MediaTime::new(s.rtp_time, str0m::media::Frequency::new(clock as u32).expect("non-zero"));
                writer.write(pt, s.next_at, time, data).map_err(|e| MediaError::Rtc(e.to_string()))?;
                s.rtp_time += clock * s.interval.as_micros() as u64 / 1_000_000;
                s.next_at += s.interval;
            }
        }
        Ok(())
    }

    /// Handle every pending output; returns when the peer next needs a timeout.
    fn drain(&mut self) -> Result<Instant, MediaError> {
        loop {
            match self.rtc.poll_output().map_err(|e| MediaError::Rtc(e.to_string()))? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => self.on_event(e),
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.connected = false,
            Event::MediaData(d) => {
                let now = Instant::now();
                let r = self.received.entry(d.mid.to_string()).or_default();
                r.frames += 1;
                r.bytes += d.data.len() as u64;
                if !d.contiguous {
                    r.gaps += 1;
                }
                r.first_frame.get_or_insert(now);
                r.packets += (**d.seq_range.end() - **d.seq_range.start()) + 1;
                let at = if d.params.spec().codec == Codec::Opus { 0 } else { 10 };
                if let Some(bytes) = d.data.get(at..at + 8) {
                    let sent = u64::from_be_bytes(bytes.try_into().expect("eight bytes"));
                    let delay = (now.duration_since(epoch()).as_micros() as u64).saturating_sub(sent);
                    if self.delays_us.len() < 200_000 {
                        self.delays_us.push(delay.min(u32::MAX as u64) as u32);
                    }
                }
                let key = d.params.spec().codec == Codec::Vp8 && d.data.first().map(|b| b & 1 == 0).unwrap_or(false);
                if key {
                    r.keyframes += 1;
                    r.first_keyframe.get_or_insert(now);
                }
            }
            Event::KeyframeRequest(req) => {
                self.keyframe_requests += 1;
                if let Some(s) = self.sending.iter_mut().find(|s| s.mid == req.mid) {
                    s.keyframe_due = true;
                }
            }
            _ => {}
        }
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
