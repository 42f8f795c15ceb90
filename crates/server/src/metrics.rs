//! Prometheus metrics, kept as plain atomics that room actors and connections bump, rendered as text on
//! `GET /metrics`. No registry, no locks: every series is known up front.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use vayla_domain::RoomPhase;
use vayla_protocol::ErrorCode;

const PHASES: [(RoomPhase, &str); 4] = [
    (RoomPhase::Idle, "idle"),
    (RoomPhase::Gathering, "gathering"),
    (RoomPhase::Locked, "locked"),
    (RoomPhase::Unlocked, "unlocked"),
];

/// Refusal codes counted per code; anything else counts as `other`.
const REFUSALS: [ErrorCode; 6] = [
    ErrorCode::RoomLocked,
    ErrorCode::NoSession,
    ErrorCode::WrongRoom,
    ErrorCode::Forbidden,
    ErrorCode::InvalidToken,
    ErrorCode::TokenExpired,
];

#[derive(Default)]
pub struct Metrics {
    rooms: [AtomicI64; 4],
    pub participants: AtomicI64,
    pub connections: AtomicI64,
    refusals: [AtomicU64; REFUSALS.len() + 1],
    pub messages_in: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub sessions_opened: AtomicU64,
    pub sessions_ended: AtomicU64,
    /// Room actors started again after a panic (see `crate::rooms`).
    pub room_restarts: AtomicU64,
    pub config_reloads: AtomicU64,
    pub config_errors: AtomicU64,
    pub media_peers: AtomicU64,
    /// Open ICE-TCP connections to the media port.
    pub media_tcp_connections: AtomicI64,
    /// ICE-TCP connections closed for bad framing (zero or oversized length, not ICE), or refused at the limit.
    pub media_tcp_rejected: AtomicU64,
    /// Copies of the SFU's counters, refreshed by the media loop a few times a second.
    pub sfu_peers: AtomicI64,
    pub sfu_forwarded_packets: AtomicU64,
    pub sfu_forwarded_bytes: AtomicU64,
    pub sfu_dropped_unroutable: AtomicU64,
    pub sfu_dropped_malformed: AtomicU64,
    pub sfu_keyframe_requests: AtomicU64,
    pub sfu_layer_switches: AtomicU64,
    pub sfu_layer_changes: AtomicU64,
    pub sfu_timeout_passes: AtomicU64,
    pub sfu_sent_datagrams: AtomicU64,
    pub sfu_probe_datagrams: AtomicU64,
    /// UDP datagrams the media socket's send buffer would not take.
    pub udp_send_dropped: AtomicU64,
    pub udp_gso_segments: AtomicU64,
}

fn phase_index(p: RoomPhase) -> usize {
    PHASES.iter().position(|(q, _)| *q == p).expect("every phase is listed")
}

impl Metrics {
    /// A room moved from one phase to another (`None`: the room appeared or went away).
    pub fn room_phase(&self, from: Option<RoomPhase>, to: Option<RoomPhase>) {
        if from == to {
            return;
        }
        if let Some(p) = from {
            self.rooms[phase_index(p)].fetch_sub(1, Relaxed);
        }
        if let Some(p) = to {
            self.rooms[phase_index(p)].fetch_add(1, Relaxed);
        }
    }

    pub fn refused(&self, code: ErrorCode) {
        let i = REFUSALS.iter().position(|c| *c == code).unwrap_or(REFUSALS.len());
        self.refusals[i].fetch_add(1, Relaxed);
    }

    pub fn rooms_in(&self, phase: RoomPhase) -> i64 {
        self.rooms[phase_index(phase)].load(Relaxed)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP vayla_rooms Rooms by state.\n# TYPE vayla_rooms gauge");
        for (i, (_, name)) in PHASES.iter().enumerate() {
            let _ = writeln!(s, "vayla_rooms{{state=\"{name}\"}} {}", self.rooms[i].load(Relaxed));
        }
        let gauges = [
            ("vayla_participants", "Participants connected to rooms.", &self.participants),
            ("vayla_connections", "Open signalling connections.", &self.connections),
            ("vayla_media_tcp_connections", "Open ICE-TCP media connections.", &self.media_tcp_connections),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(
            s,
            "# HELP vayla_refusals_total Joins and requests refused, by code.\n# TYPE vayla_refusals_total counter"
        );
        for (i, code) in REFUSALS.iter().enumerate() {
            let _ =
                writeln!(s, "vayla_refusals_total{{code=\"{}\"}} {}", code.as_str(), self.refusals[i].load(Relaxed));
        }
        let _ = writeln!(s, "vayla_refusals_total{{code=\"other\"}} {}", self.refusals[REFUSALS.len()].load(Relaxed));
        let counters = [
            ("vayla_messages_in_total", "Signalling messages received.", &self.messages_in),
            (
                "vayla_protocol_errors_total",
                "Malformed, unknown, oversized or rate-limited messages.",
                &self.protocol_errors,
            ),
            ("vayla_sessions_opened_total", "Sessions opened.", &self.sessions_opened),
            ("vayla_sessions_ended_total", "Sessions ended.", &self.sessions_ended),
            ("vayla_room_restarts_total", "Room actors started again after a panic.", &self.room_restarts),
            ("vayla_config_reloads_total", "Rooms-config changes taken into use.", &self.config_reloads),
            ("vayla_config_errors_total", "Rooms-config changes refused as invalid.", &self.config_errors),
            ("vayla_media_connections_total", "Media connections offered to the SFU.", &self.media_peers),
            (
                "vayla_media_tcp_rejected_total",
                "ICE-TCP connections closed for bad framing or refused at the limit.",
                &self.media_tcp_rejected,
            ),
            (
                "vayla_sfu_forwarded_packets_total",
                "RTP packets forwarded, one per packet per subscriber.",
                &self.sfu_forwarded_packets,
            ),
            ("vayla_sfu_forwarded_bytes_total", "RTP payload bytes forwarded.", &self.sfu_forwarded_bytes),
            ("vayla_sfu_dropped_unroutable_total", "Datagrams no admitted peer claimed.", &self.sfu_dropped_unroutable),
            (
                "vayla_sfu_dropped_malformed_total",
                "Datagrams that were not STUN, DTLS, RTP or RTCP.",
                &self.sfu_dropped_malformed,
            ),
            ("vayla_sfu_keyframe_requests_total", "Keyframe requests sent to publishers.", &self.sfu_keyframe_requests),
            (
                "vayla_sfu_layer_switches_total",
                "Subscribers switched between simulcast layers.",
                &self.sfu_layer_switches,
            ),
            (
                "vayla_sfu_layer_changes_total",
                "Times a publisher was asked to send a different set of simulcast layers.",
                &self.sfu_layer_changes,
            ),
            (
                "vayla_sfu_timeout_passes_total",
                "Timeout passes handed to the peers' WebRTC connections (with bandwidth estimation, about one per packet sent).",
                &self.sfu_timeout_passes,
            ),
            (
                "vayla_sfu_sent_datagrams_total",
                "Datagrams the peers' WebRTC connections sent (media, retransmissions, RTCP, STUN, DTLS, padding, probes).",
                &self.sfu_sent_datagrams,
            ),
            (
                "vayla_sfu_probe_datagrams_total",
                "Bandwidth-probe datagrams among them.",
                &self.sfu_probe_datagrams,
            ),
            (
                "vayla_media_udp_send_dropped_total",
                "UDP datagrams the send buffer would not take.",
                &self.udp_send_dropped,
            ),
            (
                "vayla_media_udp_gso_segments_total",
                "UDP datagrams sent as segments of a GSO message (runs of equal-sized datagrams to one peer).",
                &self.udp_gso_segments,
            ),
        ];
        let _ = writeln!(s, "# HELP vayla_sfu_peers Media connections in the SFU.\n# TYPE vayla_sfu_peers gauge");
        let _ = writeln!(s, "vayla_sfu_peers {}", self.sfu_peers.load(Relaxed));
        for (name, help, v) in counters {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        }
        s
    }
}
