//! Room actors: one task per device room owns that room's state machine and its participants' links.
//!
//! Everyone else (HTTP handlers, WebSocket connections) holds a cheap [`RoomHandle`] and sends commands over
//! a channel; the actor applies them to the pure [`vayla_domain::Room`] one at a time, so two racing joins
//! for one seat are simply two commands in a queue. Effects are then carried out here: the store is written,
//! the audit log appended, clients told. Sending to clients never waits: a client whose queue is full is
//! disconnected as too slow, so one slow reader never holds up a room.
//!
//! Appointments: when someone without a seat in the open session joins (or the room is idle), the actor reads
//! the device's booked appointments around now from the store and hands them to the room as plain
//! [`Booking`]s; the room decides (see `vayla_domain::room`). Seat holders never wait for that lookup: a
//! reconnect into one's own seat works whatever the database is doing.

use crate::media::MediaHandle;
use crate::metrics::Metrics;
use crate::now_ms;
use crate::rooms_config::RoomsConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use vayla_domain::room::iso_utc;
use vayla_domain::room::Command;
use vayla_domain::{
    Admission, Booking, ConnId, Effect, LeaveReason, LockState, Millis, RecordedSession, Role, Room, RoomError, RoomId,
    RoomPhase, SeatId, SeatSpec, SessionId, SubjectId,
};
use vayla_protocol::{self as wire, ErrorCode, ServerMessage};
use vayla_store::{
    AppointmentRecord, AppointmentStatus, AuditEntry, NewSession, ResourceKind, SeatRecord, SessionRecord, Store,
    StoreError,
};

/// How far ahead a join looks for the joiner's appointments in this room: far enough to tell an expert who
/// comes hours early when their appointment starts (`too_early`), not so far that the lookup grows.
const BOOKING_LOOKAHEAD_MS: Millis = 24 * 3600 * 1000;

/// Who is joining, as the connection established it from a verified room token and the rooms-config.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: SubjectId,
    pub role: Role,
    pub display_name: String,
    pub agency: Option<String>,
    /// An interpreter who interprets a sign language in this session (decided by the room when they are
    /// admitted, see `crate::interpreting::interprets_sign_language`); false for everyone else.
    pub sign_language: bool,
}

/// How the room reaches one connection: its outbound queue and its kill switch.
#[derive(Debug, Clone)]
pub struct ConnLink {
    pub conn: ConnId,
    pub out: mpsc::Sender<ServerMessage>,
    /// Tells the connection to send this (fatal) error and close.
    pub kill: mpsc::Sender<ErrorCode>,
}

/// A room as operators and clients see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomView {
    pub room: String,
    pub name: String,
    pub service_point: String,
    pub service_point_name: String,
    pub state: wire::RoomState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Millis>,
    pub seats: Vec<SeatView>,
    pub participants: Vec<wire::Participant>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeatView {
    pub seat: String,
    pub role: Role,
    pub subject: String,
    pub display_name: String,
    pub taken: bool,
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Rules(#[from] RoomError),
    /// The device's appointments could not be read, so the room cannot tell who is booked.
    #[error("the room's appointments could not be read; try again")]
    Bookings,
    /// The join would have opened an appointment's session, and the session could not be recorded.
    #[error("the session could not be recorded; try again")]
    Store,
}

impl JoinError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JoinError::Rules(e) => room_error_code(e),
            JoinError::Bookings | JoinError::Store => ErrorCode::Internal,
        }
    }

    /// The `error` message telling the client, with the appointment's times for `too_early`.
    pub fn to_message(&self, id: Option<String>) -> ServerMessage {
        match self {
            JoinError::Rules(e) => refusal(id, e),
            e => ServerMessage::error(id, e.code(), e.to_string()),
        }
    }
}

/// The `error` message for a refusal by the room's rules.
pub fn refusal(id: Option<String>, e: &RoomError) -> ServerMessage {
    match e {
        RoomError::TooEarly { starts_at, opens_at } => ServerMessage::Error {
            id,
            code: ErrorCode::TooEarly,
            message: e.to_string(),
            starts_at: Some(iso_utc(*starts_at)),
            opens_at: Some(iso_utc(*opens_at)),
        },
        e => ServerMessage::error(id, room_error_code(e), e.to_string()),
    }
}

/// Why a session could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Rules(#[from] RoomError),
    /// The session could not be recorded, so it was not opened.
    #[error("the session could not be recorded")]
    Store,
}

enum RoomCmd {
    Open {
        by: SubjectId,
        seats: Vec<SeatSpec>,
        reply: oneshot::Sender<Result<RoomView, OpenError>>,
    },
    End {
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    Join {
        link: ConnLink,
        who: Identity,
        request: Option<String>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    Leave {
        conn: ConnId,
        reason: LeaveReason,
        reply: Option<oneshot::Sender<Result<(), RoomError>>>,
    },
    Lock {
        conn: ConnId,
        lock: bool,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    EndBy {
        conn: ConnId,
        reply: oneshot::Sender<Result<(), RoomError>>,
    },
    View {
        reply: oneshot::Sender<RoomView>,
    },
    /// Makes the actor panic, as a bug in it would: for the supervisor's test.
    #[cfg(test)]
    Panic,
}

/// A cheap, cloneable address of one room actor.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub id: RoomId,
    tx: mpsc::Sender<RoomCmd>,
}

/// The actor has stopped (the room was removed from the config, or the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the room is no longer available")]
pub struct RoomGone;

impl RoomHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> RoomCmd) -> Result<T, RoomGone> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| RoomGone)?;
        rx.await.map_err(|_| RoomGone)
    }

    pub async fn open(&self, by: SubjectId, seats: Vec<SeatSpec>) -> Result<Result<RoomView, OpenError>, RoomGone> {
        self.ask(|reply| RoomCmd::Open { by, seats, reply }).await
    }
    pub async fn end(&self) -> Result<Result<(), RoomError>, RoomGone> {
        self.ask(|reply| RoomCmd::End { reply }).await
    }
    pub async fn join(
        &self,
        link: ConnLink,
        who: Identity,
        request: Option<String>,
    ) -> Result<Result<(), JoinError>, RoomGone> {
        self.ask(|reply| RoomCmd::Join { link, who, request, reply }).await
    }
    pub async fn leave(&self, conn: ConnId) -> Result<Result<(), RoomError>, RoomGone> {
        self.ask(|reply| RoomCmd::Leave { conn, reason: LeaveReason::Left, reply: Some(reply) }).await
    }
    /// The connection is gone — dropped, or `removed` by the server for misbehaving; no answer is needed.
    pub async fn gone(&self, conn: ConnId, removed: bool) {
        let reason = if removed { LeaveReason::Removed } else { LeaveReason::Dropped };
        let _ = self.tx.send(RoomCmd::Leave { conn, reason, reply: None }).await;
    }
    pub async fn set_lock(&self, conn: ConnId, lock: bool) -> Result<Result<(), RoomError>, RoomGone> {
        self.ask(|reply| RoomCmd::Lock { conn, lock, reply }).await
    }
    pub async fn end_by(&self, conn: ConnId) -> Result<Result<(), RoomError>, RoomGone> {
        self.ask(|reply| RoomCmd::EndBy { conn, reply }).await
    }
    pub async fn view(&self) -> Result<RoomView, RoomGone> {
        self.ask(|reply| RoomCmd::View { reply }).await
    }
}

/// The wire code for a refusal by the room's rules.
pub fn room_error_code(e: &RoomError) -> ErrorCode {
    match e {
        RoomError::NoSession => ErrorCode::NoSession,
        RoomError::Locked => ErrorCode::RoomLocked,
        RoomError::WrongRoom => ErrorCode::WrongRoom,
        RoomError::TooEarly { .. } => ErrorCode::TooEarly,
        RoomError::NotBooked => ErrorCode::NotBooked,
        RoomError::SessionOpen => ErrorCode::SessionOpen,
        RoomError::RoleCannotJoin(_) | RoomError::NotExpert | RoomError::BadSeats(_) => ErrorCode::Forbidden,
        RoomError::NotJoined => ErrorCode::NotJoined,
        RoomError::AlreadyJoined => ErrorCode::AlreadyJoined,
    }
}

/// What a room actor needs from its surroundings.
#[derive(Clone)]
pub struct RoomDeps {
    pub config: watch::Receiver<Arc<RoomsConfig>>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub grace_ms: Millis,
    /// How long before an appointment's start its participants may join its room.
    pub join_early_ms: Millis,
    /// Held by every room actor, so that shutdown can wait for the last room to finish its writes.
    pub alive: mpsc::Sender<()>,
    /// Told who is admitted and who is gone: media flows only between admitted participants.
    pub media: MediaHandle,
    /// Woken when a session ends, for the walk-in timekeeper (a ticket whose session ended is served).
    pub session_ended: Arc<Notify>,
}

/// Start the actor of one room, taking up `restore` (a session that outlived the previous server process)
/// if given. It runs until every handle is dropped.
pub fn spawn_room(id: RoomId, deps: RoomDeps, restore: Option<SessionRecord>) -> RoomHandle {
    let (tx, rx) = mpsc::channel(256);
    let restore = restore.map(|record| TakeUp { record, reason: "server_restart" });
    tokio::spawn(supervise(id.clone(), deps, restore, rx));
    RoomHandle { id, tx }
}

/// Runs the room's actor and, if it panics, starts it again from what the database holds, as a new server
/// process would: a bug met by one room's command must not leave that device's permanent room dead until the
/// server restarts. The panicked actor's connections are closed with `room_restarted` (clients reconnect by
/// themselves, and seat holders get back into the locked room) and their media is stopped; the command that
/// panicked gets no answer (its caller sees the room as gone). Commands sent meanwhile wait in the channel.
/// A second panic within [`RESTART_QUIET`] of the first waits that long before starting again, so that a panic
/// on every start cannot spin. `deps` holds the `alive` sender until every handle is gone.
async fn supervise(id: RoomId, deps: RoomDeps, mut restore: Option<TakeUp>, mut rx: mpsc::Receiver<RoomCmd>) {
    let mut last_panic: Option<tokio::time::Instant> = None;
    loop {
        let mut actor = RoomActor::new(id.clone(), &deps);
        let run = std::panic::AssertUnwindSafe(actor.run(&mut rx, restore.take()));
        let Err(panic) = futures_util::FutureExt::catch_unwind(run).await else { return };
        let what = panic
            .downcast::<String>()
            .map(|s| *s)
            .or_else(|p| p.downcast::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        deps.metrics.room_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(room = %id, panic = %what, "the room's actor panicked; starting it again from the database");
        actor.abandon();
        if last_panic.is_some_and(|t| t.elapsed() < RESTART_QUIET) {
            tokio::time::sleep(RESTART_QUIET).await;
        }
        last_panic = Some(tokio::time::Instant::now());
        restore = match deps.store.open_sessions().await {
            Ok(open) => {
                open.into_iter().find(|s| s.room == id.as_str()).map(|record| TakeUp { record, reason: "room_restart" })
            }
            Err(e) => {
                // The session stays open in the database; the next server process takes it up.
                tracing::error!(room = %id, error = %e, "could not read the room's session after a panic; starting idle");
                None
            }
        };
    }
}

/// A session in the database for a new actor to take up, and why its participants' connections ended: the
/// recorded reason of their leaving (`server_restart`, or `room_restart` after a panic).
struct TakeUp {
    record: SessionRecord,
    reason: &'static str,
}

/// How soon after a panic a second one makes the room's supervisor wait before starting the actor again.
const RESTART_QUIET: Duration = Duration::from_secs(5);

struct RoomActor {
    room: Room,
    links: HashMap<ConnId, ConnLink>,
    idents: HashMap<ConnId, Identity>,
    config: watch::Receiver<Arc<RoomsConfig>>,
    store: Store,
    metrics: Arc<Metrics>,
    media: MediaHandle,
    session_ended: Arc<Notify>,
}

impl RoomActor {
    fn new(id: RoomId, deps: &RoomDeps) -> RoomActor {
        let device = SubjectId::new(id.as_str()).expect("a room id is a valid subject id");
        RoomActor {
            room: Room::new(id, device, deps.grace_ms).with_join_early(deps.join_early_ms),
            links: HashMap::new(),
            idents: HashMap::new(),
            config: deps.config.clone(),
            store: deps.store.clone(),
            metrics: deps.metrics.clone(),
            media: deps.media.clone(),
            session_ended: deps.session_ended.clone(),
        }
    }

    async fn run(&mut self, rx: &mut mpsc::Receiver<RoomCmd>, restore: Option<TakeUp>) {
        self.metrics.room_phase(None, Some(RoomPhase::Idle));
        if let Some(TakeUp { record, reason }) = restore {
            self.restore(record, reason).await;
        }
        loop {
            let wait = self.room.next_deadline().map(|d| Duration::from_millis(d.saturating_sub(now_ms())));
            let cmd = tokio::select! {
                cmd = rx.recv() => match cmd { Some(c) => c, None => break },
                _ = sleep_or_forever(wait) => { self.apply(Command::Tick).await.ok(); continue; }
            };
            self.handle(cmd).await;
        }
        // Every handle is gone: the server is stopping (a room removed from the config was ended first). The
        // session goes on in the database; the next process takes it up and its people reconnect.
        if let Some(session) = &self.room.session {
            let now = now_ms() as i64;
            if let Err(e) = self.store.close_participations(session.id.as_str(), "server_shutdown", now).await {
                tracing::error!(room = %self.room.id, error = %e, "could not record the participants' leaving");
            }
            self.metrics
                .participants
                .fetch_sub(session.participants.len() as i64, std::sync::atomic::Ordering::Relaxed);
        }
        self.metrics.room_phase(Some(self.room.phase()), None);
    }

    /// After a panic: close every connection the actor held (with `room_restarted`, so that clients reconnect),
    /// stop their media, and take the room out of the gauges. The database is left as it is; the next actor reads
    /// the session back and records these participants as gone.
    fn abandon(&mut self) {
        let mut conns: Vec<ConnId> = self.links.keys().copied().collect();
        if let Some(session) = &self.room.session {
            conns.extend(session.participants.keys().filter(|c| !self.links.contains_key(c)));
            self.metrics
                .participants
                .fetch_sub(session.participants.len() as i64, std::sync::atomic::Ordering::Relaxed);
        }
        for (_, link) in self.links.drain() {
            let _ = link.kill.try_send(ErrorCode::RoomRestarted);
        }
        for conn in conns {
            self.media.remove(conn);
        }
        self.metrics.room_phase(Some(self.room.phase()), None);
    }

    /// Take up a session recorded by an earlier actor (of this process or an earlier one); a record the rules
    /// refuse is ended instead. `reason` is recorded for the participants it had, and for a refused record.
    async fn restore(&mut self, record: SessionRecord, reason: &str) {
        let now = now_ms();
        let lock = match record.locks.last() {
            Some(l) if l.locked => LockState::Locked,
            Some(_) => LockState::Unlocked,
            None => LockState::Gathering,
        };
        let seats: Option<Vec<_>> = record
            .seats
            .iter()
            .map(|s| {
                Some((
                    SeatId::new(s.seat.as_str()).ok()?,
                    Role::parse(&s.role)?,
                    SubjectId::new(s.subject.as_str()).ok()?,
                ))
            })
            .collect();
        let restored = match (SessionId::new(record.id.as_str()), SubjectId::new(record.opened_by.as_str()), seats) {
            (Ok(id), Ok(opened_by), Some(seats)) => {
                let recorded = RecordedSession {
                    id,
                    opened_at: record.opened_at as Millis,
                    opened_by,
                    seats,
                    lock,
                    appointment: record.appointment_id.clone(),
                };
                self.room.restore(now, recorded).map_err(|e| e.to_string())
            }
            _ => Err("the record has invalid ids".to_string()),
        };
        let closed = self.store.close_participations(&record.id, reason, now as i64).await;
        if let Err(e) = closed {
            tracing::error!(room = %self.room.id, error = %e, "could not close the participations of a restored session");
        }
        match restored {
            Ok(()) => {
                self.metrics.room_phase(Some(RoomPhase::Idle), Some(self.room.phase()));
                tracing::info!(room = %self.room.id, session = %record.id, state = ?self.room.phase(), "session taken up after a restart");
            }
            Err(why) => {
                tracing::warn!(room = %self.room.id, session = %record.id, %why, "a recorded session could not be taken up; ending it");
                if let Err(e) = self.store.end_session(&record.id, reason, now as i64).await {
                    tracing::error!(room = %self.room.id, error = %e, "could not end a recorded session");
                }
                self.session_ended.notify_one();
            }
        }
    }

    async fn handle(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Open { by, seats, reply } => {
                let r = self.open(by, seats).await;
                let _ = reply.send(r);
            }
            RoomCmd::End { reply } => {
                let _ = reply.send(self.apply(Command::End).await);
            }
            RoomCmd::Join { link, who, request, reply } => {
                let r = self.join(link, who, request).await;
                let _ = reply.send(r);
            }
            RoomCmd::Leave { conn, reason, reply } => {
                let r = self.apply(Command::Leave { conn, reason }).await;
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            RoomCmd::Lock { conn, lock, reply } => {
                let cmd = if lock { Command::Lock { conn } } else { Command::Unlock { conn } };
                let _ = reply.send(self.apply(cmd).await);
            }
            RoomCmd::EndBy { conn, reply } => {
                let r = self.ended_by(conn).await;
                let _ = reply.send(r);
            }
            RoomCmd::View { reply } => {
                let _ = reply.send(self.view());
            }
            #[cfg(test)]
            RoomCmd::Panic => panic!("a test asked the room's actor to panic"),
        }
    }

    async fn open(&mut self, by: SubjectId, seats: Vec<SeatSpec>) -> Result<RoomView, OpenError> {
        let session = SessionId::new(uuid::Uuid::new_v4().to_string()).expect("a uuid is a valid session id");
        let before = self.room.clone();
        let now = now_ms();
        self.room.apply(now, Command::Open { session: session.clone(), by: by.clone(), seats })?;
        // A session the database does not know about must not exist: undo the open if the write fails.
        if let Err(e) = self.record_session().await {
            tracing::error!(room = %self.room.id, error = %e, "could not record a new session; not opened");
            self.room = before;
            return Err(OpenError::Store);
        }
        self.metrics.sessions_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.metrics.room_phase(Some(RoomPhase::Idle), Some(self.room.phase()));
        self.audit("session_opened", None, None, by.as_str()).await;
        tracing::info!(room = %self.room.id, session = %session, "session opened");
        Ok(self.view())
    }

    /// Record the session just opened in the room, with its seats.
    async fn record_session(&self) -> Result<(), StoreError> {
        let s = self.room.session.as_ref().expect("called right after a session opened");
        let record = NewSession {
            id: s.id.to_string(),
            room: self.room.id.to_string(),
            opened_by: s.opened_by.to_string(),
            opened_at: s.opened_at as i64,
            seats: s
                .seats
                .iter()
                .map(|x| SeatRecord {
                    seat: x.id.to_string(),
                    role: x.role.to_string(),
                    subject: x.subject.to_string(),
                })
                .collect(),
            appointment_id: s.appointment.clone(),
        };
        self.store.insert_session(&record).await
    }

    /// The device's booked appointments that are due now or start within the lookahead, as the room needs
    /// them. Nothing about the customer leaves this function: only ids, times and the booked people.
    async fn bookings(&self, now: Millis) -> Result<Vec<Booking>, StoreError> {
        let to = now.saturating_add(BOOKING_LOOKAHEAD_MS).saturating_add(self.room.join_early_ms);
        let records = self
            .store
            .appointments_for_resource(ResourceKind::Device, self.room.id.as_str(), now as i64, to as i64)
            .await?;
        Ok(records
            .iter()
            .filter(|a| a.status == AppointmentStatus::Booked && a.device == self.room.id.as_str())
            .filter_map(booking_of)
            .collect())
    }

    async fn join(&mut self, link: ConnLink, who: Identity, request: Option<String>) -> Result<(), JoinError> {
        let conn = link.conn;
        self.links.insert(conn, link);
        self.idents.insert(conn, who.clone());
        let result = self.admit(conn, &who, request).await;
        if let Err(e) = &result {
            self.links.remove(&conn);
            self.idents.remove(&conn);
            let code = e.code();
            self.metrics.refused(code);
            self.audit_who("refused", &who, None, code.as_str()).await;
            tracing::info!(room = %self.room.id, subject = %who.subject, role = %who.role, code = code.as_str(), "join refused");
        }
        result
    }

    /// Let `who` in by the room's rules. Someone without a seat in the open session is judged with the
    /// device's appointments at hand; if their join opens an appointment's session, that session is recorded
    /// before anything else happens, and the join is undone if it cannot be.
    async fn admit(&mut self, conn: ConnId, who: &Identity, request: Option<String>) -> Result<(), JoinError> {
        let (subject, role) = (who.subject.clone(), who.role);
        let seated = self.room.session.as_ref().is_some_and(|s| s.seat_of(&subject).is_some());
        let cmd = if seated || !role.joins_rooms() {
            Command::Join { conn, subject, role }
        } else {
            let bookings = self.bookings(now_ms()).await.map_err(|e| {
                tracing::error!(room = %self.room.id, error = %e, "could not read the device's appointments");
                JoinError::Bookings
            })?;
            let session = SessionId::new(uuid::Uuid::new_v4().to_string()).expect("a uuid is a valid session id");
            Command::JoinBooked { conn, subject, role, bookings, session }
        };
        // Only an idle room can have a session opened by a join; the copy is what to go back to.
        let idle = self.room.session.is_none().then(|| self.room.clone());
        let phase = self.room.phase();
        let now = now_ms();
        let effects = self.room.apply(now, cmd)?;
        if let (Some(idle), Some(Effect::SessionOpened { .. })) = (idle, effects.first()) {
            if let Err(e) = self.record_session().await {
                tracing::error!(room = %self.room.id, error = %e, "could not record an appointment's session; not opened");
                self.room = idle;
                return Err(JoinError::Store);
            }
        }
        self.carry_out_all(phase, now, effects, request).await;
        Ok(())
    }

    async fn ended_by(&mut self, conn: ConnId) -> Result<(), RoomError> {
        let session = self.room.session.as_ref().ok_or(RoomError::NoSession)?;
        let p = session.participants.get(&conn).ok_or(RoomError::NotJoined)?;
        if p.role != Role::Expert || p.seat.is_none() {
            return Err(RoomError::NotExpert);
        }
        self.apply(Command::End).await
    }

    /// Apply a command to the room and carry out its effects.
    async fn apply(&mut self, cmd: Command) -> Result<(), RoomError> {
        let before = self.room.phase();
        let now = now_ms();
        let effects = self.room.apply(now, cmd)?;
        self.carry_out_all(before, now, effects, None).await;
        Ok(())
    }

    /// Carry out the effects of one command, applied at `now` in phase `before`. `request` is the id of the
    /// client request that caused a join, echoed in `joined`.
    async fn carry_out_all(&mut self, before: RoomPhase, now: Millis, effects: Vec<Effect>, request: Option<String>) {
        let mut too_slow = Vec::new();
        for effect in effects {
            self.carry_out(effect, now, &request, &mut too_slow).await;
        }
        self.metrics.room_phase(Some(before), Some(self.room.phase()));
        // Clients that could not keep up are out; their leaving is itself an event for the others.
        while let Some(conn) = too_slow.pop() {
            if let Some(link) = self.links.get(&conn) {
                let _ = link.kill.try_send(ErrorCode::SlowConsumer);
            }
            let before = self.room.phase();
            if let Ok(effects) = self.room.apply(now, Command::Leave { conn, reason: LeaveReason::Removed }) {
                for effect in effects {
                    self.carry_out(effect, now, &None, &mut too_slow).await;
                }
            }
            self.metrics.room_phase(Some(before), Some(self.room.phase()));
        }
    }

    async fn carry_out(&mut self, effect: Effect, now: Millis, request: &Option<String>, too_slow: &mut Vec<ConnId>) {
        let session_id = self.room.session.as_ref().map(|s| s.id.to_string());
        match effect {
            // Only a join opens a session this way (an appointment's); `open` handles its own.
            Effect::SessionOpened { session } => {
                self.metrics.sessions_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let s = self.room.session.as_ref();
                let appointment = s.and_then(|s| s.appointment.clone()).unwrap_or_default();
                let entry = AuditEntry {
                    at: now as i64,
                    kind: "session_opened".into(),
                    room: Some(self.room.id.to_string()),
                    session: Some(session.to_string()),
                    subject: s.map(|s| s.opened_by.to_string()),
                    role: None,
                    seat: None,
                    detail: format!("appointment:{appointment}"),
                };
                self.append(entry).await;
                tracing::info!(room = %self.room.id, session = %session, %appointment, "appointment's session opened");
            }
            Effect::SeatAdded { seat, role, subject } => {
                let record =
                    SeatRecord { seat: seat.to_string(), role: role.to_string(), subject: subject.to_string() };
                if let Some(session) = &session_id {
                    if let Err(e) = self.store.add_seat(session, &record).await {
                        tracing::error!(room = %self.room.id, error = %e, "could not record a seat");
                    }
                }
                let entry = AuditEntry {
                    at: now as i64,
                    kind: "seat_added".into(),
                    room: Some(self.room.id.to_string()),
                    session: session_id.clone(),
                    subject: Some(subject.to_string()),
                    role: Some(role.to_string()),
                    seat: Some(seat.to_string()),
                    detail: "booked".into(),
                };
                self.append(entry).await;
            }
            Effect::Admitted { participant, how } => {
                let conn = participant.conn;
                let session = session_id.clone().unwrap_or_default();
                let seat = participant.seat.as_ref().map(|s| s.to_string());
                if let Err(e) = self
                    .store
                    .record_join(
                        &session,
                        &conn.to_string(),
                        participant.subject.as_str(),
                        participant.role.as_str(),
                        seat.as_deref(),
                        now as i64,
                    )
                    .await
                {
                    tracing::error!(room = %self.room.id, error = %e, "could not record a join");
                }
                self.metrics.participants.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let detail = match how {
                    Admission::Seat => "seat",
                    Admission::Reconnect => "reconnect",
                    Admission::Guest => "guest",
                };
                if let Some(who) = self.idents.get(&conn).cloned() {
                    self.audit_who("admitted", &who, seat.as_deref(), detail).await;
                }
                // A sign-language interpreter: shown large by the clients, and their camera protected by the SFU.
                if participant.role == Role::Interpreter {
                    let appointment = self.room.session.as_ref().and_then(|s| s.appointment.clone());
                    let signs = crate::interpreting::interprets_sign_language(
                        &self.store,
                        appointment.as_deref(),
                        session_id.as_deref(),
                        participant.subject.as_str(),
                    )
                    .await;
                    if let Some(who) = self.idents.get_mut(&conn) {
                        who.sign_language = signs;
                    }
                }
                let priority = self.idents.get(&conn).is_some_and(|w| w.sign_language);
                if let Some(link) = self.links.get(&conn) {
                    self.media.admit(conn, self.room.id.clone(), link.out.clone(), priority);
                }
                let you = self.wire_participant(conn);
                let joined = ServerMessage::Joined {
                    id: request.clone(),
                    room: self.room.id.to_string(),
                    session_id: session,
                    you: you.clone(),
                    state: wire_state(self.room.phase()),
                    participants: self.wire_participants(),
                    seats: self.wire_seats(),
                };
                self.send(conn, joined, too_slow);
                self.broadcast_except(conn, ServerMessage::ParticipantJoined { participant: you }, too_slow);
            }
            Effect::Replaced { old, by, seat } => {
                if let Some(link) = self.links.remove(&old) {
                    let _ = link.kill.try_send(ErrorCode::Replaced);
                }
                self.media.remove(old);
                let who = self.idents.remove(&old);
                self.metrics.participants.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(session) = &session_id {
                    if let Err(e) = self.store.record_leave(session, &old.to_string(), "replaced", now as i64).await {
                        tracing::error!(room = %self.room.id, error = %e, "could not record a replaced connection");
                    }
                }
                if let Some(who) = who {
                    self.audit_who("replaced", &who, Some(seat.as_str()), &old.to_string()).await;
                }
                // The new connection hears of the old one's leaving through `joined`, which must come first.
                let seat = (seat.as_str() != "guest").then(|| seat.to_string());
                self.broadcast_except(
                    by,
                    ServerMessage::ParticipantLeft {
                        participant_id: old.to_string(),
                        seat,
                        reason: wire::LeaveReason::Replaced,
                    },
                    too_slow,
                );
            }
            Effect::ParticipantLeft { participant, reason } => {
                let conn = participant.conn;
                self.links.remove(&conn);
                self.media.remove(conn);
                let who = self.idents.remove(&conn);
                self.metrics.participants.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let reason_text = match reason {
                    LeaveReason::Left => "left",
                    LeaveReason::Dropped => "dropped",
                    LeaveReason::Removed => "removed",
                };
                if let Some(session) = &session_id {
                    if let Err(e) = self.store.record_leave(session, &conn.to_string(), reason_text, now as i64).await {
                        tracing::error!(room = %self.room.id, error = %e, "could not record a leave");
                    }
                }
                if let Some(who) = who {
                    self.audit_who("left", &who, participant.seat.as_ref().map(|s| s.as_str()), reason_text).await;
                }
                let reason = match reason {
                    LeaveReason::Left => wire::LeaveReason::Left,
                    LeaveReason::Dropped => wire::LeaveReason::Dropped,
                    LeaveReason::Removed => wire::LeaveReason::Removed,
                };
                self.broadcast(
                    ServerMessage::ParticipantLeft {
                        participant_id: conn.to_string(),
                        seat: participant.seat.map(|s| s.to_string()),
                        reason,
                    },
                    too_slow,
                );
            }
            Effect::Seated { conn, seat } => {
                if let (Some(session), Some(who)) = (&session_id, self.idents.get(&conn).cloned()) {
                    let record = SeatRecord {
                        seat: seat.to_string(),
                        role: who.role.to_string(),
                        subject: who.subject.to_string(),
                    };
                    if let Err(e) = self.store.add_seat(session, &record).await {
                        tracing::error!(room = %self.room.id, error = %e, "could not record a seat");
                    }
                }
            }
            Effect::Locked { by } => {
                self.record_lock(true, by, now, &session_id).await;
                let msg = ServerMessage::RoomLocked { by: by.map(|c| c.to_string()), seats: self.wire_seats() };
                self.broadcast(msg, too_slow);
                tracing::info!(room = %self.room.id, by = ?by.map(|c| c.to_string()), "room locked");
            }
            Effect::Unlocked { by } => {
                self.record_lock(false, Some(by), now, &session_id).await;
                self.broadcast(ServerMessage::RoomUnlocked { by: by.to_string() }, too_slow);
                tracing::info!(room = %self.room.id, by = %by, "room unlocked");
            }
            Effect::SessionEnded { session, reason, removed } => {
                if let Err(e) = self.store.end_session(session.as_str(), reason.as_str(), now as i64).await {
                    tracing::error!(room = %self.room.id, error = %e, "could not record a session's end");
                }
                self.session_ended.notify_one();
                self.metrics.sessions_ended.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.metrics.participants.fetch_sub(removed.len() as i64, std::sync::atomic::Ordering::Relaxed);
                let entry = AuditEntry {
                    at: now as i64,
                    kind: "session_ended".into(),
                    room: Some(self.room.id.to_string()),
                    session: Some(session.to_string()),
                    subject: None,
                    role: None,
                    seat: None,
                    detail: reason.as_str().into(),
                };
                self.append(entry).await;
                let msg =
                    ServerMessage::SessionEnded { session_id: session.to_string(), reason: reason.as_str().into() };
                self.broadcast(msg, too_slow);
                for conn in &removed {
                    self.media.remove(*conn);
                }
                self.links.clear();
                self.idents.clear();
                tracing::info!(room = %self.room.id, session = %session, reason = reason.as_str(), "session ended");
            }
        }
    }

    async fn record_lock(&mut self, locked: bool, by: Option<ConnId>, now: Millis, session: &Option<String>) {
        let by_subject = by.and_then(|c| self.idents.get(&c)).map(|w| w.subject.to_string());
        if let Some(session) = session {
            if let Err(e) = self.store.record_lock(session, locked, by_subject.as_deref(), now as i64).await {
                tracing::error!(room = %self.room.id, error = %e, "could not record a lock change");
            }
        }
        let kind = if locked { "locked" } else { "unlocked" };
        let detail = if by.is_some() { "by_expert" } else { "all_seats_taken" };
        let entry = AuditEntry {
            at: now as i64,
            kind: kind.into(),
            room: Some(self.room.id.to_string()),
            session: session.clone(),
            subject: by_subject,
            role: by.map(|_| Role::Expert.to_string()),
            seat: None,
            detail: detail.into(),
        };
        self.append(entry).await;
    }

    async fn audit(&mut self, kind: &str, subject: Option<&Identity>, seat: Option<&str>, detail: &str) {
        let entry = AuditEntry {
            at: now_ms() as i64,
            kind: kind.into(),
            room: Some(self.room.id.to_string()),
            session: self.room.session.as_ref().map(|s| s.id.to_string()),
            subject: subject.map(|w| w.subject.to_string()),
            role: subject.map(|w| w.role.to_string()),
            seat: seat.map(str::to_owned),
            detail: detail.into(),
        };
        self.append(entry).await;
    }

    async fn audit_who(&mut self, kind: &str, who: &Identity, seat: Option<&str>, detail: &str) {
        self.audit(kind, Some(who), seat, detail).await;
    }

    async fn append(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(room = %self.room.id, kind = %entry.kind, error = %e, "could not append to the audit log");
        }
    }

    fn send(&self, conn: ConnId, msg: ServerMessage, too_slow: &mut Vec<ConnId>) {
        if let Some(link) = self.links.get(&conn) {
            if let Err(mpsc::error::TrySendError::Full(_)) = link.out.try_send(msg) {
                too_slow.push(conn);
            }
        }
    }

    fn broadcast(&self, msg: ServerMessage, too_slow: &mut Vec<ConnId>) {
        for conn in self.links.keys() {
            self.send(*conn, msg.clone(), too_slow);
        }
    }

    fn broadcast_except(&self, except: ConnId, msg: ServerMessage, too_slow: &mut Vec<ConnId>) {
        for conn in self.links.keys().filter(|c| **c != except) {
            self.send(*conn, msg.clone(), too_slow);
        }
    }

    fn wire_participant(&self, conn: ConnId) -> wire::Participant {
        let seat = self.room.session.as_ref().and_then(|s| s.participants.get(&conn)).and_then(|p| p.seat.as_ref());
        let who = self.idents.get(&conn);
        wire::Participant {
            participant_id: conn.to_string(),
            role: who.map(|w| w.role.to_string()).unwrap_or_default(),
            display_name: who.map(|w| w.display_name.clone()).unwrap_or_default(),
            agency: who.and_then(|w| w.agency.clone()),
            seat: seat.map(|s| s.to_string()),
            sign_language: who.is_some_and(|w| w.sign_language),
        }
    }

    fn wire_participants(&self) -> Vec<wire::Participant> {
        match &self.room.session {
            Some(s) => s.participants.keys().map(|c| self.wire_participant(*c)).collect(),
            None => Vec::new(),
        }
    }

    fn seat_views(&self) -> Vec<SeatView> {
        let config = self.config.borrow().clone();
        match &self.room.session {
            Some(s) => s
                .seats
                .iter()
                .map(|seat| SeatView {
                    seat: seat.id.to_string(),
                    role: seat.role,
                    subject: seat.subject.to_string(),
                    display_name: config.display_name(&seat.subject).unwrap_or(seat.subject.as_str()).to_owned(),
                    taken: seat.occupant.is_some(),
                })
                .collect(),
            None => Vec::new(),
        }
    }

    fn wire_seats(&self) -> Vec<wire::SeatInfo> {
        self.seat_views()
            .into_iter()
            .map(|s| wire::SeatInfo {
                seat: s.seat,
                role: s.role.to_string(),
                display_name: s.display_name,
                taken: s.taken,
            })
            .collect()
    }

    fn view(&self) -> RoomView {
        let config = self.config.borrow().clone();
        let device = config.device(&self.room.id);
        RoomView {
            room: self.room.id.to_string(),
            name: device.map(|d| d.name.clone()).unwrap_or_default(),
            service_point: device.map(|d| d.service_point.clone()).unwrap_or_default(),
            service_point_name: device
                .and_then(|d| config.service_point(&d.service_point))
                .map(|sp| sp.name.clone())
                .unwrap_or_default(),
            state: wire_state(self.room.phase()),
            session_id: self.room.session.as_ref().map(|s| s.id.to_string()),
            opened_at: self.room.session.as_ref().map(|s| s.opened_at),
            seats: self.seat_views(),
            participants: self.wire_participants(),
        }
    }
}

/// The room's view of a booked appointment: its time and its booked people (active expert reservations, then
/// interpreter reservations). `None` when nobody but the device is booked: that is no meeting to open.
fn booking_of(a: &AppointmentRecord) -> Option<Booking> {
    let mut seats: Vec<SeatSpec> = Vec::new();
    for (kind, role) in [(ResourceKind::Expert, Role::Expert), (ResourceKind::Interpreter, Role::Interpreter)] {
        for r in a.active().filter(|r| r.kind == kind) {
            let Ok(subject) = SubjectId::new(r.resource_id.as_str()) else { continue };
            if !seats.iter().any(|s| s.subject == subject) {
                seats.push(SeatSpec { role, subject });
            }
        }
    }
    if seats.is_empty() || a.start_ms < 0 || a.end_ms <= a.start_ms {
        return None;
    }
    Some(Booking { appointment: a.id.clone(), start: a.start_ms as Millis, end: a.end_ms as Millis, seats })
}

pub fn wire_state(p: RoomPhase) -> wire::RoomState {
    match p {
        RoomPhase::Idle => wire::RoomState::Idle,
        RoomPhase::Gathering => wire::RoomState::Gathering,
        RoomPhase::Locked => wire::RoomState::Locked,
        RoomPhase::Unlocked => wire::RoomState::Unlocked,
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaCmd;

    struct Conn {
        link: ConnLink,
        out: mpsc::Receiver<ServerMessage>,
        kill: mpsc::Receiver<ErrorCode>,
    }

    fn conn(n: u64) -> Conn {
        let (out_tx, out) = mpsc::channel(64);
        let (kill_tx, kill) = mpsc::channel(1);
        Conn { link: ConnLink { conn: ConnId(n), out: out_tx, kill: kill_tx }, out, kill }
    }

    fn who(subject: &str, role: Role) -> Identity {
        let subject = SubjectId::new(subject).unwrap();
        Identity { display_name: subject.to_string(), subject, role, agency: None, sign_language: false }
    }

    async fn join(room: &RoomHandle, c: &Conn, who: Identity) -> Result<(), JoinError> {
        room.join(c.link.clone(), who, None).await.expect("the room answers")
    }

    /// The media commands queued so far: (admitted, removed).
    fn media_seen(rx: &mut mpsc::Receiver<MediaCmd>) -> (Vec<ConnId>, Vec<ConnId>) {
        let (mut admitted, mut removed) = (Vec::new(), Vec::new());
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                MediaCmd::Admit { conn, .. } => admitted.push(conn),
                MediaCmd::Remove { conn } => removed.push(conn),
                _ => {}
            }
        }
        (admitted, removed)
    }

    #[tokio::test]
    async fn a_panicked_room_starts_again_from_the_database_and_its_seat_holders_get_back_into_the_locked_room() {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rooms-config");
        let config = crate::rooms_config::load_dir(&demo).expect("the demo rooms-config loads");
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let (media, mut media_rx) = MediaHandle::detached();
        let (alive, _alive_rx) = mpsc::channel(1);
        let deps = RoomDeps {
            config: watch::channel(Arc::new(config)).1,
            store: store.clone(),
            metrics: metrics.clone(),
            grace_ms: 60_000,
            join_early_ms: 0,
            alive,
            media,
            session_ended: Arc::default(),
        };
        let room = spawn_room(RoomId::new("mikkeli-2").unwrap(), deps, None);
        let expert = SeatSpec { role: Role::Expert, subject: SubjectId::new("kela-anna").unwrap() };
        let opened = room.open(SubjectId::new("mikkeli-2").unwrap(), vec![expert]).await.unwrap().unwrap();
        let (mut device, mut anna) = (conn(1), conn(2));
        join(&room, &device, who("mikkeli-2", Role::Device)).await.unwrap();
        join(&room, &anna, who("kela-anna", Role::Expert)).await.unwrap();
        assert_eq!(room.view().await.unwrap().state, wire::RoomState::Locked, "every seat is taken");
        assert_eq!(media_seen(&mut media_rx).0, [ConnId(1), ConnId(2)]);

        room.tx.send(RoomCmd::Panic).await.unwrap();

        // Both connections are told to close (their clients reconnect by themselves), and their media stops.
        for c in [&mut device, &mut anna] {
            let code = tokio::time::timeout(Duration::from_secs(5), c.kill.recv()).await.expect("a kill in time");
            assert_eq!(code, Some(ErrorCode::RoomRestarted));
            while c.out.try_recv().is_ok() {}
        }
        // The same session, still locked, read back from the database.
        let view = room.view().await.expect("the room answers again");
        assert_eq!(view.session_id, opened.session_id);
        assert_eq!(view.state, wire::RoomState::Locked);
        let (_, mut removed) = media_seen(&mut media_rx);
        removed.sort();
        assert_eq!(removed, [ConnId(1), ConnId(2)]);
        assert_eq!(metrics.room_restarts.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(metrics.participants.load(std::sync::atomic::Ordering::Relaxed), 0);
        let record = store.open_sessions().await.unwrap().into_iter().find(|s| s.room == "mikkeli-2").unwrap();
        assert_eq!(record.id, opened.session_id.unwrap());

        // Outsiders stay out; the seat holders get back in on new connections.
        let outsider = conn(3);
        let refused = join(&room, &outsider, who("kela-mikko", Role::Expert)).await;
        assert!(matches!(refused, Err(JoinError::Rules(RoomError::Locked))), "{refused:?}");
        let (device2, anna2) = (conn(4), conn(5));
        join(&room, &device2, who("mikkeli-2", Role::Device)).await.unwrap();
        join(&room, &anna2, who("kela-anna", Role::Expert)).await.unwrap();
        let view = room.view().await.unwrap();
        assert_eq!(view.state, wire::RoomState::Locked);
        assert_eq!(view.participants.len(), 2);
        assert_eq!(media_seen(&mut media_rx).0, [ConnId(4), ConnId(5)]);
        assert_eq!(metrics.participants.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
