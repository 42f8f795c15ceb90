//! One task per WebSocket connection: the signalling protocol of `docs/protocol.md`.
//!
//! The task owns its socket and does four things in one `select!`: read client frames (bounded in size and
//! rate), forward what the room sends (`out`), obey the room's kill switch (replaced, too slow), and keep the
//! connection alive (pings, an idle timeout). It never holds a lock, and nothing it does can block another
//! connection: writes to the socket have a deadline, and the room only ever `try_send`s to it.

use crate::app::AppState;
use crate::events::{Change, Watcher};
use crate::rooms::{refusal, ConnLink, Identity, RoomHandle};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use vayla_domain::{ConnId, RoomId, SubjectId};
use vayla_protocol::{decode_client, ClientMessage, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

/// Frames up to this size are read and answered with `message_too_large`; larger ones close the socket at
/// the WebSocket layer before they are buffered.
const HARD_FRAME_LIMIT: usize = 1 << 20;
/// A socket write slower than this means the client is not reading; the connection is dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

pub async fn upgrade(State(app): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if *app.shutdown.borrow() {
        return crate::error::ApiError::unavailable("shutting_down", "the server is shutting down").into_response();
    }
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        return crate::error::ApiError::unavailable("too_many_connections", "the server is at its connection limit")
            .into_response();
    };
    ws.max_message_size(HARD_FRAME_LIMIT).max_frame_size(HARD_FRAME_LIMIT).on_upgrade(move |socket| async move {
        let conn = ConnId(app.next_conn.fetch_add(1, Relaxed));
        let (connection, out_rx, kill_rx) = Connection::new(app, socket, conn, permit);
        connection.run(out_rx, kill_rx).await
    })
}

/// A token bucket: `rate` per second sustained, `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Bucket { tokens: burst as f64, rate: rate as f64, burst: burst as f64, at: Instant::now() }
    }
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A watching connection's filter and its receiver of every change.
struct Watching {
    watcher: Watcher,
    changes: broadcast::Receiver<Arc<Change>>,
}

/// The next change for a watching connection; never ready when it is not watching (the `select!` guards it).
async fn next_change(watching: &mut Option<Watching>) -> Result<Arc<Change>, RecvError> {
    match watching {
        Some(w) => w.changes.recv().await,
        None => std::future::pending().await,
    }
}

/// What the loop should do after a step.
enum Flow {
    Continue,
    Close,
}

struct Connection {
    app: AppState,
    socket: WebSocket,
    conn: ConnId,
    out_tx: mpsc::Sender<ServerMessage>,
    kill_tx: mpsc::Sender<ErrorCode>,
    greeted: bool,
    room: Option<RoomHandle>,
    /// Set by `watch`: whose changes this connection is told of.
    watching: Option<Watching>,
    bucket: Bucket,
    /// Messages dropped for rate in a row; the connection is closed when this reaches the burst size.
    strikes: u32,
    /// The WebSocket close code and reason sent when the connection ends.
    close: (u16, &'static str),
    /// The server is putting this client out for breaking the protocol's limits.
    misbehaved: bool,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// The connection and the receiving ends of its outbound queue and kill switch, for `run`; the sending ends
    /// stay in the connection and are cloned into the room's link on join.
    fn new(
        app: AppState,
        socket: WebSocket,
        conn: ConnId,
        permit: OwnedSemaphorePermit,
    ) -> (Self, mpsc::Receiver<ServerMessage>, mpsc::Receiver<ErrorCode>) {
        let (out_tx, out_rx) = mpsc::channel(app.config.outbound_queue);
        let (kill_tx, kill_rx) = mpsc::channel(1);
        let bucket = Bucket::new(app.config.rate_per_s, app.config.rate_burst);
        let connection = Connection {
            app,
            socket,
            conn,
            out_tx,
            kill_tx,
            greeted: false,
            room: None,
            watching: None,
            bucket,
            strikes: 0,
            close: (1000, ""),
            misbehaved: false,
            _permit: permit,
        };
        (connection, out_rx, kill_rx)
    }

    async fn run(mut self, mut out_rx: mpsc::Receiver<ServerMessage>, mut kill_rx: mpsc::Receiver<ErrorCode>) {
        let _alive = self.app.alive.clone();
        let mut shutdown = self.app.shutdown.clone();
        self.app.metrics.connections.fetch_add(1, Relaxed);
        tracing::debug!(conn = %self.conn, "connection opened");

        let heartbeat = self.app.config.heartbeat();
        let mut ticker = tokio::time::interval(heartbeat);
        ticker.tick().await;
        let mut last_heard = Instant::now();
        let handshake = tokio::time::sleep(Duration::from_millis(self.app.config.handshake_timeout_ms));
        tokio::pin!(handshake);

        loop {
            let flow = tokio::select! {
                frame = self.socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => { last_heard = Instant::now(); self.on_text(text.as_str()).await }
                    Some(Ok(Message::Binary(_))) => {
                        last_heard = Instant::now();
                        self.app.metrics.protocol_errors.fetch_add(1, Relaxed);
                        let why = "binary frames are not part of the protocol; send JSON text";
                        let code = if self.greeted { ErrorCode::BadMessage } else { ErrorCode::HandshakeRequired };
                        self.error(None, code, why).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => { last_heard = Instant::now(); Flow::Continue }
                    Some(Ok(Message::Close(_))) | None => Flow::Close,
                    Some(Err(e)) => {
                        tracing::info!(conn = %self.conn, error = %e, "connection failed");
                        // The WebSocket layer refuses frames over HARD_FRAME_LIMIT with a capacity error; its type
                        // is private to axum, so it is recognised by its message.
                        if e.to_string().contains("too long") {
                            self.close = (1009, "message too big");
                            self.misbehaved = true;
                        }
                        Flow::Close
                    }
                },
                change = next_change(&mut self.watching), if self.watching.is_some() => self.on_change(change).await,
                Some(msg) = out_rx.recv() => {
                    if matches!(msg, ServerMessage::SessionEnded { .. }) {
                        self.room = None;
                    }
                    self.write(&msg).await
                }
                Some(code) = kill_rx.recv() => {
                    // The room has already let this connection go. What it queued before the kill (a `joined`,
                    // say) still goes out first, so that the client sees events in the order they happened.
                    self.room = None;
                    while let Ok(msg) = out_rx.try_recv() {
                        if let Flow::Close = self.write(&msg).await {
                            break;
                        }
                    }
                    let message = match code {
                        ErrorCode::Replaced => "a newer connection took your seat",
                        ErrorCode::SlowConsumer => "you fell too far behind reading messages",
                        ErrorCode::RoomRestarted => "the room failed inside the server and was started again; join again",
                        _ => "disconnected by the server",
                    };
                    self.error(None, code, message).await;
                    Flow::Close
                }
                _ = ticker.tick() => {
                    if last_heard.elapsed() > heartbeat * 3 {
                        self.error(None, ErrorCode::IdleTimeout, "nothing heard for three heartbeats").await;
                        Flow::Close
                    } else if !matches!(
                        tokio::time::timeout(WRITE_DEADLINE, self.socket.send(Message::Ping(Default::default()))).await,
                        Ok(Ok(()))
                    ) {
                        Flow::Close
                    } else {
                        Flow::Continue
                    }
                }
                _ = &mut handshake, if !self.greeted => {
                    self.error(None, ErrorCode::HandshakeRequired, "send hello first").await;
                    Flow::Close
                }
                _ = shutdown.changed() => {
                    // Not a drop: the room records the whole session's people as leaving with the server.
                    self.room = None;
                    self.close = (1001, "shutdown");
                    let after = self.app.config.shutdown_grace_ms;
                    let _ = self.write(&ServerMessage::Shutdown { reconnect_after_ms: after }).await;
                    Flow::Close
                }
            };
            if let Flow::Close = flow {
                break;
            }
        }
        // Any other way out than `leave` or a shutdown is a drop, and the seat holder may come back; a client
        // the server put out for misbehaving is `removed`.
        if let Some(room) = self.room.take() {
            room.gone(self.conn, self.misbehaved).await;
        }
        let (code, reason) = self.close;
        let frame = CloseFrame { code, reason: reason.into() };
        if let Ok(Ok(())) =
            tokio::time::timeout(Duration::from_secs(1), self.socket.send(Message::Close(Some(frame)))).await
        {
            // The closing handshake: wait briefly for the client's close, reading what it still sends, so that
            // the socket is not dropped with unread data (a TCP reset would lose our last messages on the way).
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(Ok(m)) = self.socket.recv().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        self.app.metrics.connections.fetch_sub(1, Relaxed);
        tracing::debug!(conn = %self.conn, "connection closed");
    }

    async fn write(&mut self, msg: &ServerMessage) -> Flow {
        let text = serde_json::to_string(msg).expect("server messages serialise");
        match tokio::time::timeout(WRITE_DEADLINE, self.socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => Flow::Continue,
            _ => Flow::Close,
        }
    }

    /// Send an error; fatal codes close the connection.
    async fn error(&mut self, id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Flow {
        self.send_error(ServerMessage::error(id, code, message)).await
    }

    /// Send an `error` message (one with extra fields, such as `too_early`'s times); fatal codes close the
    /// connection.
    async fn send_error(&mut self, error: ServerMessage) -> Flow {
        let ServerMessage::Error { code, message, .. } = &error else {
            unreachable!("send_error is given error messages only")
        };
        let code = *code;
        tracing::info!(conn = %self.conn, code = code.as_str(), %message, "signalling error");
        let flow = self.write(&error).await;
        if code.is_fatal() {
            // 1009 "message too big" where it fits; 1008 "policy violation" with the code as the reason otherwise.
            self.close = (if code == ErrorCode::MessageTooLarge { 1009 } else { 1008 }, code.as_str());
            self.misbehaved = matches!(code, ErrorCode::MessageTooLarge | ErrorCode::HandshakeRequired);
            Flow::Close
        } else {
            flow
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        self.app.metrics.messages_in.fetch_add(1, Relaxed);
        if text.len() > MAX_MESSAGE_BYTES {
            self.app.metrics.protocol_errors.fetch_add(1, Relaxed);
            let msg = format!("a message may be at most {MAX_MESSAGE_BYTES} bytes; this one was {}", text.len());
            return self.error(None, ErrorCode::MessageTooLarge, msg).await;
        }
        if !self.bucket.take() {
            self.app.metrics.protocol_errors.fetch_add(1, Relaxed);
            self.strikes += 1;
            let flow = self.error(None, ErrorCode::RateLimited, "too many messages; this one was dropped").await;
            if self.strikes >= self.app.config.rate_burst {
                tracing::warn!(conn = %self.conn, "closing a connection that kept exceeding the message rate");
                self.close = (1008, ErrorCode::RateLimited.as_str());
                self.misbehaved = true;
                return Flow::Close;
            }
            return flow;
        }
        self.strikes = 0;
        let msg = match decode_client(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.app.metrics.protocol_errors.fetch_add(1, Relaxed);
                return if self.greeted {
                    self.error(e.id, e.code, e.message).await
                } else {
                    self.error(e.id, ErrorCode::HandshakeRequired, format!("send hello first ({})", e.message)).await
                };
            }
        };
        let id = msg.id().map(str::to_owned);
        if !self.greeted {
            return match msg {
                ClientMessage::Hello { versions, .. } if versions.contains(&PROTOCOL_VERSION) => {
                    self.greeted = true;
                    self.write(&ServerMessage::Welcome {
                        id,
                        version: PROTOCOL_VERSION,
                        heartbeat_ms: self.app.config.heartbeat_ms,
                        max_message_bytes: MAX_MESSAGE_BYTES,
                    })
                    .await
                }
                ClientMessage::Hello { versions, .. } => {
                    let m = format!("this server speaks version {PROTOCOL_VERSION}; you offered {versions:?}");
                    self.error(id, ErrorCode::UnsupportedVersion, m).await
                }
                _ => self.error(id, ErrorCode::HandshakeRequired, "send hello first").await,
            };
        }
        match msg {
            ClientMessage::Hello { .. } => self.error(id, ErrorCode::AlreadyGreeted, "hello was already said").await,
            ClientMessage::Ping { .. } => self.write(&ServerMessage::Pong { id }).await,
            ClientMessage::Join { room, token, .. } => self.join(id, room, token).await,
            ClientMessage::Leave { .. } => match self.room.take() {
                None => self.error(id, ErrorCode::NotJoined, "not in a room").await,
                Some(room) => {
                    let _ = room.leave(self.conn).await;
                    self.write(&ServerMessage::Ok { id }).await
                }
            },
            ClientMessage::Lock { .. } | ClientMessage::Unlock { .. } | ClientMessage::EndSession { .. } => {
                let Some(room) = self.room.clone() else {
                    return self.error(id, ErrorCode::NotJoined, "not in a room").await;
                };
                let result = match msg {
                    ClientMessage::Lock { .. } => room.set_lock(self.conn, true).await,
                    ClientMessage::Unlock { .. } => room.set_lock(self.conn, false).await,
                    _ => room.end_by(self.conn).await,
                };
                match result {
                    Ok(Ok(())) => self.write(&ServerMessage::Ok { id }).await,
                    Ok(Err(e)) => self.send_error(refusal(id, &e)).await,
                    Err(gone) => {
                        self.room = None;
                        self.error(id, ErrorCode::NotJoined, gone.to_string()).await
                    }
                }
            }
            ClientMessage::Offer { .. } | ClientMessage::Answer { .. } | ClientMessage::Candidate { .. } => {
                if self.room.is_none() {
                    return self.error(id, ErrorCode::NotJoined, "join a room before negotiating media").await;
                }
                let media = self.app.media.clone();
                let result = match msg {
                    ClientMessage::Offer { sdp, tracks, .. } => media
                        .offer(self.conn, sdp, tracks)
                        .await
                        .map(|sdp| Some(ServerMessage::Answer { id: id.clone(), sdp })),
                    ClientMessage::Answer { sdp, .. } => media.answer(self.conn, sdp).await.map(|()| None),
                    ClientMessage::Candidate { candidate, .. } => {
                        media.candidate(self.conn, candidate).await.map(|()| None)
                    }
                    _ => unreachable!("matched above"),
                };
                match result {
                    Ok(Some(reply)) => self.write(&reply).await,
                    Ok(None) if id.is_some() => self.write(&ServerMessage::Ok { id }).await,
                    Ok(None) => Flow::Continue,
                    Err((code, message)) => self.error(id, code, message).await,
                }
            }
            ClientMessage::Watch { token, .. } => self.watch(id, &token).await,
            ClientMessage::Unwatch { .. } => {
                self.watching = None;
                self.write(&ServerMessage::Ok { id }).await
            }
        }
    }

    /// Start (or restart, with another token) telling this connection of changes meant for the token's holder.
    /// Checked once, here: like a room token at `join`, the access token need not stay valid while watching.
    async fn watch(&mut self, id: Option<String>, token: &str) -> Flow {
        let claims = match self.app.auth.verify_access(token) {
            Ok(claims) => claims,
            Err(e) => {
                self.app.metrics.refused(e.code());
                return self.error(id, e.code(), format!("watch needs a valid access token: {e}")).await;
            }
        };
        let Some(watcher) = Watcher::new(&claims) else {
            return self.error(id, ErrorCode::InvalidToken, "the token names no valid subject").await;
        };
        let topics = watcher.topics();
        self.watching = Some(Watching { watcher, changes: self.app.events.subscribe() });
        self.write(&ServerMessage::Watching { id, topics }).await
    }

    /// Pass on a change if it is for this watcher; after falling behind, say that anything may have changed.
    async fn on_change(&mut self, change: Result<Arc<Change>, RecvError>) -> Flow {
        let Some(watching) = &self.watching else { return Flow::Continue };
        let messages: Vec<ServerMessage> = match change {
            Ok(change) => {
                if !watching.watcher.wants(&change, &self.app.rooms_config.borrow()) {
                    return Flow::Continue;
                }
                vec![ServerMessage::Changed { topic: change.topic, key: change.key.clone() }]
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(conn = %self.conn, missed, "watcher fell behind; telling it to refetch");
                watching
                    .watcher
                    .topics()
                    .into_iter()
                    .map(|topic| ServerMessage::Changed { topic, key: String::new() })
                    .collect()
            }
            Err(RecvError::Closed) => {
                self.watching = None;
                return Flow::Continue;
            }
        };
        for message in &messages {
            if let Flow::Close = self.write(message).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn join(&mut self, id: Option<String>, room: String, token: String) -> Flow {
        if self.room.is_some() {
            return self.error(id, ErrorCode::AlreadyJoined, "already in a room; leave first").await;
        }
        let claims = match self.app.auth.verify_room(&token) {
            Ok(c) => c,
            Err(e) => return self.refuse(id, &room, None, e.code(), e.to_string()).await,
        };
        let Ok(room_id) = RoomId::new(room.as_str()) else {
            return self.refuse(id, &room, Some(&claims), ErrorCode::UnknownRoom, "no such room".into()).await;
        };
        if claims.room != room_id.as_str() {
            let why = "the token is for another room".to_string();
            return self.refuse(id, &room, Some(&claims), ErrorCode::WrongRoom, why).await;
        }
        let Some(handle) = self.app.rooms.borrow().get(&room_id).cloned() else {
            return self.refuse(id, &room, Some(&claims), ErrorCode::UnknownRoom, "no such room".into()).await;
        };
        let Some(who) = self.identity(&claims.sub, claims.role) else {
            let why = "the token's subject is no longer in the rooms-config".to_string();
            return self.refuse(id, &room, Some(&claims), ErrorCode::Forbidden, why).await;
        };
        let link = ConnLink { conn: self.conn, out: self.out_tx.clone(), kill: self.kill_tx.clone() };
        match handle.join(link, who, id.clone()).await {
            Ok(Ok(())) => {
                self.room = Some(handle);
                Flow::Continue // the room sends `joined` through the outbound queue, in order with what follows
            }
            Ok(Err(e)) => self.send_error(e.to_message(id)).await,
            Err(gone) => self.error(id, ErrorCode::UnknownRoom, gone.to_string()).await,
        }
    }

    /// Refuse a join before it reaches the room (the room audits its own refusals): count it, write it to the
    /// audit log — with the token's subject when the token could be read — and answer the client.
    async fn refuse(
        &mut self,
        id: Option<String>,
        room: &str,
        claims: Option<&crate::auth::RoomClaims>,
        code: ErrorCode,
        message: String,
    ) -> Flow {
        self.app.metrics.refused(code);
        let entry = vayla_store::AuditEntry {
            at: crate::now_ms() as i64,
            kind: "refused".into(),
            // Only a valid room address is recorded: the field is the client's free text otherwise.
            room: RoomId::new(room).ok().map(|r| r.to_string()),
            session: None,
            subject: claims.map(|c| c.sub.clone()),
            role: claims.map(|c| c.role.to_string()),
            seat: None,
            detail: code.as_str().into(),
        };
        if let Err(e) = self.app.store.append_audit(&entry).await {
            tracing::error!(conn = %self.conn, error = %e, "could not append a refusal to the audit log");
        }
        self.error(id, code, message).await
    }

    /// The joining subject as the current rooms-config knows them.
    fn identity(&self, subject: &str, role: vayla_domain::Role) -> Option<Identity> {
        let subject = SubjectId::new(subject).ok()?;
        let config = self.app.rooms_config.borrow().clone();
        if let Some(person) = config.person(&subject) {
            if person.role != role {
                return None;
            }
            return Some(Identity {
                subject,
                role,
                display_name: person.name.clone(),
                agency: person.agency.clone(),
                sign_language: false,
            });
        }
        let room = RoomId::new(subject.as_str()).ok()?;
        let device = config.device(&room)?;
        (role == vayla_domain::Role::Device).then(|| Identity {
            subject,
            role,
            display_name: device.name.clone(),
            agency: None,
            sign_language: false,
        })
    }
}
