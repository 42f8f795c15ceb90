//! A Rust client of Väylä: [`Api`] for the HTTP API (login, sessions, join tokens) and [`Signal`] for one
//! signalling connection, and [`media::MediaPeer`] for a WebRTC media connection to the SFU. It speaks only
//! the documented protocol; it knows nothing of the server's insides.

pub mod media;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use vayla_protocol::{ClientMessage, ErrorCode, ServerMessage, PROTOCOL_VERSION};

/// How long a `recv` waits by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the API answered {status}: {code}: {message}")]
    Api { status: u16, code: String, message: String },
    #[error("WebSocket: {0}")]
    Ws(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("the server sent something that is not a protocol message: {0}")]
    Decode(String),
    #[error("nothing arrived within {0:?}")]
    Timeout(Duration),
    #[error("the connection closed")]
    Closed,
    #[error("the server refused: {code}: {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("media: {0}")]
    Media(#[from] media::MediaError),
}

/// A logged-in caller.
#[derive(Debug, Clone, Deserialize)]
pub struct Login {
    pub access_token: String,
    pub subject: String,
    pub role: String,
    pub display_name: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JoinToken {
    pub token: String,
    pub room: String,
    pub seat: Option<String>,
    pub session_id: Option<String>,
    pub expires_in: u64,
}

/// The HTTP API of one server.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// `base` is like `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        Api { base: base.into().trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The signalling endpoint, `ws://…/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replacen("http", "ws", 1))
    }

    async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.json().await?);
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Err(ClientError::Api {
            status: status.as_u16(),
            code: body["code"].as_str().unwrap_or("").to_owned(),
            message: body["message"].as_str().unwrap_or("").to_owned(),
        })
    }

    /// Any request; the body is JSON and the reply is decoded, errors as [`ClientError::Api`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::decode(req.send().await?).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Login, ClientError> {
        let body = json!({ "username": username, "password": password });
        self.call(reqwest::Method::POST, "/api/login", None, Some(body)).await
    }

    pub async fn device_login(&self, device: &str, credential: &str) -> Result<Login, ClientError> {
        let body = json!({ "device": device, "credential": credential });
        self.call(reqwest::Method::POST, "/api/device-login", None, Some(body)).await
    }

    /// Open a session naming the seats besides the device: `(role, subject)` pairs.
    pub async fn open_session(&self, token: &str, room: &str, seats: &[(&str, &str)]) -> Result<Value, ClientError> {
        let seats: Vec<Value> = seats.iter().map(|(r, s)| json!({ "role": r, "subject": s })).collect();
        let path = format!("/api/rooms/{room}/session");
        self.call(reqwest::Method::POST, &path, Some(token), Some(json!({ "seats": seats }))).await
    }

    pub async fn end_session(&self, token: &str, room: &str) -> Result<(), ClientError> {
        let resp =
            self.http.delete(format!("{}/api/rooms/{room}/session", self.base)).bearer_auth(token).send().await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Self::decode::<()>(resp).await
    }

    pub async fn join_token(&self, token: &str, room: &str) -> Result<JoinToken, ClientError> {
        self.call(reqwest::Method::POST, &format!("/api/rooms/{room}/join-token"), Some(token), None).await
    }

    pub async fn room(&self, room: &str, token: Option<&str>) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, &format!("/api/rooms/{room}"), token, None).await
    }

    pub async fn rooms(&self, token: Option<&str>) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, "/api/rooms", token, None).await
    }
}

/// One signalling connection.
pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages received while waiting for something else, in arrival order.
    backlog: VecDeque<ServerMessage>,
    next_id: u64,
}

/// The WebSocket's read buffer (see [`Signal::connect`]).
const READ_BUFFER: usize = 8 * 1024;

impl Signal {
    /// Open the WebSocket; say nothing yet.
    pub async fn connect(ws_url: &str) -> Result<Signal, ClientError> {
        // The library zeroes its whole read buffer before every read, even one that finds nothing; its default
        // of 128 KiB made that a tenth of the load generator's CPU. Signalling frames are a few KiB at most, and
        // a larger one still arrives whole (the buffer grows for it).
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(ws_url, Some(config), false).await.map_err(Box::new)?;
        Ok(Signal { ws, backlog: VecDeque::new(), next_id: 1 })
    }

    /// Connect and complete the handshake.
    pub async fn open(ws_url: &str) -> Result<Signal, ClientError> {
        let mut s = Signal::connect(ws_url).await?;
        s.hello().await?;
        Ok(s)
    }

    fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), ClientError> {
        let text = serde_json::to_string(msg).expect("client messages serialise");
        self.send_raw(text).await
    }

    /// Send any text frame, valid or not.
    pub async fn send_raw(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        self.ws.send(Message::Text(text.into().into())).await.map_err(|e| ClientError::Ws(Box::new(e)))
    }

    /// The next message from the server (backlog first).
    pub async fn recv(&mut self, wait: Duration) -> Result<ServerMessage, ClientError> {
        if let Some(m) = self.backlog.pop_front() {
            return Ok(m);
        }
        self.read(wait).await
    }

    async fn read(&mut self, wait: Duration) -> Result<ServerMessage, ClientError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame =
                tokio::time::timeout_at(deadline, self.ws.next()).await.map_err(|_| ClientError::Timeout(wait))?;
            match frame {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(ClientError::Ws(Box::new(e))),
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str()).map_err(|e| ClientError::Decode(format!("{e}: {t}")))
                }
                Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
                Some(Ok(_)) => continue, // pings are answered by the library
            }
        }
    }

    /// Wait for the first message that `pick` accepts, keeping the others for later `recv`s.
    pub async fn wait_for<T>(
        &mut self,
        wait: Duration,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
    ) -> Result<T, ClientError> {
        if let Some(i) = self.backlog.iter().position(|m| pick(m).is_some()) {
            let m = self.backlog.remove(i).expect("index found above");
            return Ok(pick(&m).expect("matched above"));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.read(left).await.map_err(|e| match e {
                ClientError::Timeout(_) => ClientError::Timeout(wait),
                e => e,
            })?;
            if let Some(t) = pick(&m) {
                return Ok(t);
            }
            self.backlog.push_back(m);
        }
    }

    /// The reply to request `id`: its non-error reply, or its error as [`ClientError::Refused`].
    pub async fn reply(&mut self, id: &str) -> Result<ServerMessage, ClientError> {
        let m = self
            .wait_for(DEFAULT_WAIT, |m| {
                let mid = match m {
                    ServerMessage::Welcome { id, .. }
                    | ServerMessage::Joined { id, .. }
                    | ServerMessage::Ok { id }
                    | ServerMessage::Pong { id }
                    | ServerMessage::Answer { id, .. }
                    | ServerMessage::Watching { id, .. }
                    | ServerMessage::Error { id, .. } => id.as_deref(),
                    _ => None,
                };
                (mid == Some(id)).then(|| m.clone())
            })
            .await?;
        match m {
            ServerMessage::Error { code, message, .. } => Err(ClientError::Refused { code, message }),
            m => Ok(m),
        }
    }

    pub async fn hello(&mut self) -> Result<ServerMessage, ClientError> {
        let id = self.request_id();
        let msg = ClientMessage::Hello {
            id: Some(id.clone()),
            versions: vec![PROTOCOL_VERSION],
            client: Some("vayla-client".into()),
        };
        self.send(&msg).await?;
        self.reply(&id).await
    }

    /// Join `room` with a room token; the `joined` message on success.
    pub async fn join(&mut self, room: &str, token: &str) -> Result<ServerMessage, ClientError> {
        let id = self.request_id();
        self.send(&ClientMessage::Join { id: Some(id.clone()), room: room.into(), token: token.into() }).await?;
        self.reply(&id).await
    }

    /// Watch for changes meant for the holder of this access token; the `watching` reply (or the error).
    pub async fn watch(&mut self, access_token: &str) -> Result<ServerMessage, ClientError> {
        self.request(ClientMessage::Watch { id: None, token: access_token.into() }).await
    }

    /// Send a request that answers `ok` (`leave`, `lock`, `unlock`, `end_session`): pass the message
    /// without an id; one is added.
    pub async fn request(&mut self, mut msg: ClientMessage) -> Result<ServerMessage, ClientError> {
        let id = self.request_id();
        match &mut msg {
            ClientMessage::Hello { id: i, .. }
            | ClientMessage::Join { id: i, .. }
            | ClientMessage::Leave { id: i }
            | ClientMessage::Lock { id: i }
            | ClientMessage::Unlock { id: i }
            | ClientMessage::EndSession { id: i }
            | ClientMessage::Offer { id: i, .. }
            | ClientMessage::Answer { id: i, .. }
            | ClientMessage::Candidate { id: i, .. }
            | ClientMessage::Ping { id: i }
            | ClientMessage::Watch { id: i, .. }
            | ClientMessage::Unwatch { id: i } => *i = Some(id.clone()),
        }
        self.send(&msg).await?;
        self.reply(&id).await
    }

    /// Close the socket abruptly, as a dropped network would (no `leave`).
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Whether the server has closed this connection (reads until close or `wait` passes).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Err(ClientError::Timeout(_)) => return false,
                Err(_) => return true,
                Ok(m) => self.backlog.push_back(m),
            }
        }
    }
}

/// A participant with both connections: signalling and media, driven together. The SFU's renegotiation offers
/// are answered as they come; every other server message is kept in `events`.
pub struct Participant {
    pub signal: Signal,
    pub media: media::MediaPeer,
    /// Our participant id in the room.
    pub id: String,
    /// Server messages other than the SFU's offers, in arrival order.
    pub events: Vec<ServerMessage>,
    /// How many renegotiation offers were answered.
    pub offers_answered: u32,
}

impl Participant {
    /// Start media on a joined signalling connection: offer `publish`, accept the SFU's answer.
    pub async fn start(
        signal: Signal,
        id: String,
        publish: &[vayla_protocol::MediaSource],
    ) -> Result<Participant, ClientError> {
        Self::start_with(signal, id, publish, media::Transport::Udp).await
    }

    /// Like [`Participant::start`], with media over `transport` ([`media::Transport::Tcp`]: ICE-TCP only).
    pub async fn start_with(
        signal: Signal,
        id: String,
        publish: &[vayla_protocol::MediaSource],
        transport: media::Transport,
    ) -> Result<Participant, ClientError> {
        Self::start_opts(signal, id, publish, media::Options { transport, ..Default::default() }).await
    }

    /// Like [`Participant::start`], with every media option (simulcast camera, transport).
    pub async fn start_opts(
        mut signal: Signal,
        id: String,
        publish: &[vayla_protocol::MediaSource],
        options: media::Options,
    ) -> Result<Participant, ClientError> {
        let (mut media, sdp, tracks) = media::MediaPeer::new_opts(publish, options).await?;
        let reply = signal.request(ClientMessage::Offer { id: None, sdp, tracks }).await?;
        match reply {
            ServerMessage::Answer { sdp, .. } => media.accept_answer(&sdp)?,
            other => return Err(ClientError::Decode(format!("expected an answer, got {other:?}"))),
        }
        Ok(Participant { signal, media, id, events: Vec::new(), offers_answered: 0 })
    }

    /// Drive signalling and media for `d`.
    pub async fn run_for(&mut self, d: Duration) -> Result<(), ClientError> {
        let until = std::time::Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::select! {
                m = self.signal.recv(left) => match m {
                    Ok(ServerMessage::Offer { sdp, tracks }) => {
                        let answer = self.media.accept_offer(&sdp, &tracks)?;
                        self.signal.send(&ClientMessage::Answer { id: None, sdp: answer }).await?;
                        self.offers_answered += 1;
                    }
                    Ok(ServerMessage::Layers { mid, rids }) => {
                        self.media.set_layers(&mid, &rids);
                        self.events.push(ServerMessage::Layers { mid, rids });
                    }
                    Ok(other) => self.events.push(other),
                    Err(ClientError::Timeout(_)) => return Ok(()),
                    Err(e) => return Err(e),
                },
                r = self.media.pump(until) => r?,
            }
        }
    }
}

/// Drive several participants at once for `d`.
pub async fn run_all(parties: &mut [&mut Participant], d: Duration) -> Result<(), ClientError> {
    let runs = parties.iter_mut().map(|p| p.run_for(d));
    for r in futures_util::future::join_all(runs).await {
        r?;
    }
    Ok(())
}
