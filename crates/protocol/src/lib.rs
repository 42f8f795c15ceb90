//! Väylä's signalling protocol: the JSON messages exchanged over the WebSocket at `/ws`.
//!
//! Every message is one JSON object in one WebSocket text frame, with a `"type"` field naming it. Requests a
//! client sends may carry an `"id"` (any string up to 64 characters); the reply to that request, or the error
//! it caused, echoes it. `docs/protocol.md` is the normative description; these types are its Rust form.
//!
//! This crate is serde only: no IO, no runtime, no knowledge of the server.

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks. A client names the versions it speaks in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest text frame the server accepts, in bytes. Larger frames get `message_too_large`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The longest request id, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message on every connection: the versions the client speaks.
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        versions: Vec<u32>,
        /// Free text naming the client, for logs (at most 64 characters are kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    /// Enter a room with a room token from `POST /api/rooms/{room}/join-token`.
    Join {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        room: String,
        token: String,
    },
    /// Leave the room for good (a closed socket counts as a drop, not a leave).
    Leave {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Lock the room (an expert holding a seat only).
    Lock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Unlock the room to admit someone extra (an expert holding a seat only).
    Unlock {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// End the session for everyone (an expert holding a seat only).
    EndSession {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The client's first SDP offer for its media connection to the SFU, naming what each sending mid carries.
    Offer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
        #[serde(default)]
        tracks: Vec<TrackSource>,
    },
    /// An SDP answer to an offer the server sent.
    Answer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
    },
    /// A trickled ICE candidate, as the browser's `RTCIceCandidate` gives it.
    Candidate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    /// Keepalive; the server answers `pong`.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Be told of changes (queues, offers, requests) meant for the holder of this access token, whether or not
    /// the connection is in a room. The server answers `watching`, then sends `changed` messages.
    Watch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// An access token (from `/api/login` or `/api/device-login`), not a room token.
        token: String,
    },
    /// Stop the `changed` messages; the server answers `ok`.
    Unwatch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

impl ClientMessage {
    /// The request id, if the client gave one.
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientMessage::Hello { id, .. }
            | ClientMessage::Join { id, .. }
            | ClientMessage::Leave { id }
            | ClientMessage::Lock { id }
            | ClientMessage::Unlock { id }
            | ClientMessage::EndSession { id }
            | ClientMessage::Offer { id, .. }
            | ClientMessage::Answer { id, .. }
            | ClientMessage::Candidate { id, .. }
            | ClientMessage::Ping { id }
            | ClientMessage::Watch { id, .. }
            | ClientMessage::Unwatch { id } => id.as_deref(),
        }
    }

    /// The wire name of a message type, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Join { .. } => "join",
            ClientMessage::Leave { .. } => "leave",
            ClientMessage::Lock { .. } => "lock",
            ClientMessage::Unlock { .. } => "unlock",
            ClientMessage::EndSession { .. } => "end_session",
            ClientMessage::Offer { .. } => "offer",
            ClientMessage::Answer { .. } => "answer",
            ClientMessage::Candidate { .. } => "candidate",
            ClientMessage::Ping { .. } => "ping",
            ClientMessage::Watch { .. } => "watch",
            ClientMessage::Unwatch { .. } => "unwatch",
        }
    }

    /// Every client message type, as named on the wire.
    pub const TYPES: [&'static str; 12] = [
        "hello",
        "join",
        "leave",
        "lock",
        "unlock",
        "end_session",
        "offer",
        "answer",
        "candidate",
        "ping",
        "watch",
        "unwatch",
    ];
}

/// What a published track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    Microphone,
    Camera,
    /// The service point's document camera: high resolution, low frame rate, for reading small print.
    Document,
}

/// What one of the client's sending mids carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackSource {
    pub mid: String,
    pub source: MediaSource,
}

/// A track the client receives from the SFU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTrack {
    /// The mid of the receiving m-line in the SFU's offer.
    pub mid: String,
    /// Whose track it is.
    pub participant_id: String,
    pub source: MediaSource,
    /// `audio` or `video`.
    pub kind: String,
}

/// What a room is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    Idle,
    Gathering,
    Locked,
    Unlocked,
}

/// Someone in the room, as other participants see them. Customers are never named: the device stands for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Unique per connection; a reconnect gets a new one (and the same `seat`).
    pub participant_id: String,
    /// `device`, `advisor`, `expert` or `interpreter`.
    pub role: String,
    /// The name shown in the call: a person's name or the device's name.
    pub display_name: String,
    /// The agency of an expert (e.g. `kela`); absent for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The seat held (`device`, `expert-1`, `interpreter-1`, `guest-1`); absent for a guest not yet seated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// An interpreter interpreting a sign language in this session: clients show their video large, and the
    /// server never pauses their camera or lowers its frame rate to save bandwidth. Serialised only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sign_language: bool,
}

/// An expected participant of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatInfo {
    pub seat: String,
    pub role: String,
    pub display_name: String,
    /// Whether someone is connected in this seat now.
    pub taken: bool,
}

/// Why someone left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// Sent `leave`.
    Left,
    /// The connection dropped; a seat holder may come back.
    Dropped,
    /// Replaced by a newer connection of the same seat.
    Replaced,
    /// Disconnected by the server (rate, size, slow reader, idle).
    Removed,
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Reply to `hello`: the version chosen for this connection.
    Welcome {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        version: u32,
        /// The server sends `ping`s at this interval and drops a connection silent for three intervals.
        heartbeat_ms: u64,
        max_message_bytes: usize,
    },
    /// Reply to `join`: you are in.
    Joined {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        room: String,
        session_id: String,
        /// You, as others see you.
        you: Participant,
        state: RoomState,
        /// Everyone in the room, you included.
        participants: Vec<Participant>,
        seats: Vec<SeatInfo>,
    },
    ParticipantJoined {
        participant: Participant,
    },
    ParticipantLeft {
        participant_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seat: Option<String>,
        reason: LeaveReason,
    },
    /// Every seat is taken (`by` absent) or an expert locked the room (`by` their participant id).
    RoomLocked {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        seats: Vec<SeatInfo>,
    },
    RoomUnlocked {
        by: String,
    },
    /// The session is over; the server closes the room part of the connection (the socket stays open).
    SessionEnded {
        session_id: String,
        reason: String,
    },
    /// Reply to a request that succeeded and has no other reply (`leave`, `lock`, `unlock`, `end_session`).
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// An SDP offer from the SFU (tracks added or removed); answer it with `answer`.
    Offer {
        sdp: String,
        /// Every track the client now receives.
        tracks: Vec<RemoteTrack>,
    },
    /// Send only these simulcast layers of the track on `mid` (the client's own sending mid); pause the others.
    /// Comes whenever the set changes; a new media connection starts with every layer on.
    Layers {
        mid: String,
        /// The rids to send.
        rids: Vec<String>,
    },
    /// The SFU's answer to the client's offer.
    Answer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        sdp: String,
    },
    /// Reply to `ping`, or the server's own keepalive (`ping` without `id`).
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The server's keepalive; answer with `pong`.
    Ping {},
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
        /// With `too_early`: when the caller's appointment starts, ISO 8601 UTC (`2026-03-02T08:00:00Z`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<String>,
        /// With `too_early`: from when the caller may join, ISO 8601 UTC.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opens_at: Option<String>,
    },
    /// The server is shutting down; reconnect after `reconnect_after_ms`.
    Shutdown {
        reconnect_after_ms: u64,
    },
    /// Reply to `watch`: the topics this caller will be told about (see [`Topic`]).
    Watching {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        topics: Vec<Topic>,
    },
    /// Something the caller watches changed: fetch it again over HTTP. An empty `key` means "anything on this
    /// topic" (the server sends that when it cannot say exactly what changed, e.g. after the client fell behind).
    Changed {
        topic: Topic,
        key: String,
    },
}

/// What a `changed` message is about. The key names the thing that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// An agency's walk-in queue; key: the agency id.
    WalkinQueue,
    /// One walk-in ticket; key: the ticket id.
    WalkinTicket,
    /// An interpreter's offers and assignments; key: the interpreter's id.
    InterpreterOffers,
    /// An interpreter request's status; key: the request id.
    InterpreterRequests,
    /// A booked appointment; key: the appointment id.
    Appointments,
}

impl Topic {
    /// Every topic, in a stable order.
    pub const ALL: [Topic; 5] = [
        Topic::WalkinQueue,
        Topic::WalkinTicket,
        Topic::InterpreterOffers,
        Topic::InterpreterRequests,
        Topic::Appointments,
    ];
}

impl ServerMessage {
    /// An `error` with no extra fields.
    pub fn error(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error { id, code, message: message.into(), starts_at: None, opens_at: None }
    }
}

/// Stable error codes. New codes may be added; a client treats an unknown code as a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A message other than `hello` came before `hello`. Fatal.
    HandshakeRequired,
    /// None of the client's versions is spoken. Fatal.
    UnsupportedVersion,
    /// A second `hello`.
    AlreadyGreeted,
    /// The frame is not a JSON object, a field has the wrong type, or a binary frame was sent.
    BadMessage,
    /// `type` names no message type.
    UnknownType,
    /// The frame exceeds `max_message_bytes`. Fatal.
    MessageTooLarge,
    /// Too many messages; this one was dropped. Fatal when it goes on.
    RateLimited,
    /// The token is malformed, forged or signed by an unknown key.
    InvalidToken,
    /// The token has expired; get a new one.
    TokenExpired,
    /// The token is for another purpose (an access token where a room token is needed).
    WrongAudience,
    /// The token is for another room than the one named.
    WrongRoom,
    /// The role may not do this.
    Forbidden,
    /// No such room.
    UnknownRoom,
    /// The room has no open session.
    NoSession,
    /// The room is locked and the caller holds no seat.
    RoomLocked,
    /// The caller's appointment in this room is not open for joining yet; `starts_at` and `opens_at` say when.
    TooEarly,
    /// An appointment holds the room, or is due in it, and the caller is not booked for it.
    NotBooked,
    /// The caller's appointment is due, but the room is still in another session (a walk-in, or the previous
    /// appointment running over); join again when it has ended.
    SessionOpen,
    /// The request needs a joined room.
    NotJoined,
    /// `join` on a connection already in a room.
    AlreadyJoined,
    /// A newer connection took this seat; this connection is out of the room. Fatal.
    Replaced,
    /// The SDP could not be parsed.
    BadSdp,
    /// Media is not available on this server.
    MediaUnavailable,
    /// The media connection failed (ICE, DTLS or an answer the SFU refused); offer again to reconnect.
    MediaFailed,
    /// The client read too slowly and fell behind. Fatal.
    SlowConsumer,
    /// Nothing heard from the client for three heartbeats. Fatal.
    IdleTimeout,
    /// The server is shutting down. Fatal.
    ShuttingDown,
    /// The room failed inside the server and was started again from its stored session; this connection is out
    /// of it. Fatal: reconnect and join as after a drop (seat holders get back into a locked room).
    RoomRestarted,
    /// Something failed inside the server; the request may be retried.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        // Kept explicit so that a rename shows up in review; a test checks it matches serde's name.
        match self {
            ErrorCode::HandshakeRequired => "handshake_required",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::AlreadyGreeted => "already_greeted",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::WrongAudience => "wrong_audience",
            ErrorCode::WrongRoom => "wrong_room",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::NoSession => "no_session",
            ErrorCode::RoomLocked => "room_locked",
            ErrorCode::TooEarly => "too_early",
            ErrorCode::NotBooked => "not_booked",
            ErrorCode::SessionOpen => "session_open",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::Replaced => "replaced",
            ErrorCode::BadSdp => "bad_sdp",
            ErrorCode::MediaUnavailable => "media_unavailable",
            ErrorCode::MediaFailed => "media_failed",
            ErrorCode::SlowConsumer => "slow_consumer",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::RoomRestarted => "room_restarted",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorCode::HandshakeRequired
                | ErrorCode::UnsupportedVersion
                | ErrorCode::MessageTooLarge
                | ErrorCode::Replaced
                | ErrorCode::SlowConsumer
                | ErrorCode::IdleTimeout
                | ErrorCode::ShuttingDown
                | ErrorCode::RoomRestarted
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be read as a [`ClientMessage`].
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// The request id, when the frame was JSON enough to have one.
    pub id: Option<String>,
}

/// Read one text frame. Tells a frame that is not JSON (`bad_message`) from an unknown `type`
/// (`unknown_type`) and from a known type with bad fields (`bad_message`), and recovers the request id
/// whenever there is one so that the error can echo it.
pub fn decode_client(frame: &str) -> Result<ClientMessage, DecodeError> {
    let value: serde_json::Value = serde_json::from_str(frame).map_err(|e| DecodeError {
        code: ErrorCode::BadMessage,
        message: format!("not JSON: {e}"),
        id: None,
    })?;
    let obj = value.as_object().ok_or_else(|| DecodeError {
        code: ErrorCode::BadMessage,
        message: "a message is a JSON object".into(),
        id: None,
    })?;
    let id =
        obj.get("id").and_then(|v| v.as_str()).filter(|s| s.chars().count() <= MAX_REQUEST_ID_CHARS).map(str::to_owned);
    let fail = |code, message: String| DecodeError { code, message, id: id.clone() };
    if let Some(v) = obj.get("id") {
        match v.as_str() {
            Some(s) if s.chars().count() <= MAX_REQUEST_ID_CHARS => {}
            _ => {
                return Err(fail(
                    ErrorCode::BadMessage,
                    format!("\"id\" must be a string of at most {MAX_REQUEST_ID_CHARS} characters"),
                ))
            }
        }
    }
    let kind = match obj.get("type") {
        Some(serde_json::Value::String(s)) => s.as_str(),
        _ => return Err(fail(ErrorCode::BadMessage, "a message needs a string \"type\"".into())),
    };
    if !ClientMessage::TYPES.contains(&kind) {
        return Err(fail(ErrorCode::UnknownType, format!("unknown message type {:?}", truncate(kind, 40))));
    }
    serde_json::from_value(value.clone()).map_err(|e| fail(ErrorCode::BadMessage, format!("bad {kind} message: {e}")))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_type_and_echoes_ids() {
        let m = decode_client(r#"{"type":"join","id":"r1","room":"mikkeli-2","token":"t"}"#).unwrap();
        assert_eq!(m.id(), Some("r1"));
        assert_eq!(m.kind(), "join");
        let m = decode_client(
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0"}"#,
        )
        .unwrap();
        assert_eq!(m.kind(), "candidate");
    }

    #[test]
    fn tells_bad_json_from_unknown_types_from_bad_fields() {
        assert_eq!(decode_client("{nope").unwrap_err().code, ErrorCode::BadMessage);
        assert_eq!(decode_client("[1]").unwrap_err().code, ErrorCode::BadMessage);
        let e = decode_client(r#"{"type":"teleport","id":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), (ErrorCode::UnknownType, Some("x")));
        let e = decode_client(r#"{"type":"join","id":"y","room":5}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), (ErrorCode::BadMessage, Some("y")));
        assert_eq!(decode_client(r#"{"type":"ping","id":7}"#).unwrap_err().code, ErrorCode::BadMessage);
    }

    #[test]
    fn server_messages_have_the_documented_shape() {
        let e = ServerMessage::error(Some("r1".into()), ErrorCode::RoomLocked, "m");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type":"error","id":"r1","code":"room_locked","message":"m"})
        );
        let e = ServerMessage::Error {
            id: Some("r2".into()),
            code: ErrorCode::TooEarly,
            message: "m".into(),
            starts_at: Some("2026-03-02T08:00:00Z".into()),
            opens_at: Some("2026-03-02T07:50:00Z".into()),
        };
        let json = serde_json::json!({"type":"error","id":"r2","code":"too_early","message":"m",
            "starts_at":"2026-03-02T08:00:00Z","opens_at":"2026-03-02T07:50:00Z"});
        assert_eq!(serde_json::to_value(&e).unwrap(), json);
        assert_eq!(serde_json::from_value::<ServerMessage>(json).unwrap(), e);
        for code in [
            ErrorCode::RoomLocked,
            ErrorCode::TokenExpired,
            ErrorCode::BadSdp,
            ErrorCode::TooEarly,
            ErrorCode::NotBooked,
            ErrorCode::SessionOpen,
            ErrorCode::RoomRestarted,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(code.as_str().into()));
        }
    }

    #[test]
    fn participant_carries_sign_language_only_when_true() {
        let mut p = Participant {
            participant_id: "p3".into(),
            role: "interpreter".into(),
            display_name: "Tulkki".into(),
            agency: None,
            seat: Some("interpreter-1".into()),
            sign_language: false,
        };
        let plain = serde_json::to_value(&p).unwrap();
        assert!(plain.get("sign_language").is_none(), "{plain}");
        assert_eq!(serde_json::from_value::<Participant>(plain).unwrap(), p);
        p.sign_language = true;
        let signed = serde_json::to_value(&p).unwrap();
        assert_eq!(signed["sign_language"], serde_json::Value::Bool(true));
        assert_eq!(serde_json::from_value::<Participant>(signed).unwrap(), p);
    }
}
