//! The virtual room: a permanent room per device, its session lifecycle and its lock.
//!
//! Lifecycle: `idle → gathering → locked ⇄ unlocked → (ended) → idle`. Ending is an event
//! ([`Effect::SessionEnded`]); the room is idle again in the same step, ready for the next session.
//!
//! The rules, all enforced by [`Room::apply`]:
//! - A session names its **seats**: the device always, plus experts and interpreters. A seat belongs to one
//!   subject; a subject holds at most one seat.
//! - The room **locks** the moment every seat is taken. At every lock, everyone present holds a seat (guests
//!   admitted before the lock get a `guest-N` seat): whoever was in the meeting can get back into it.
//! - While locked, only seat holders are admitted; anyone else is refused with [`RoomError::Locked`].
//! - A seat holder who joins again (a reconnect, or a second tab) **replaces** the old connection: there is
//!   never more than one connection per seat.
//! - Only an expert holding a seat may unlock (to admit someone extra) and lock again. While unlocked the room
//!   does not lock by itself.
//! - The session ends when an expert ends it, or when everyone has left and the grace period has passed.
//! - A failed command changes nothing.
//!
//! Appointments (the owner looks the device's bookings up and passes them in as [`Booking`]s with
//! [`Command::JoinBooked`]; the rules below are the room's own):
//! - An appointment is **due** from `start − join_early` until its `end`. A booked participant (the device,
//!   the booked experts, the interpreters holding a reservation) joining an idle room while their
//!   appointment is due opens the appointment's session with exactly its seats, and is admitted into it.
//! - A session holds one customer's matter. While any session is open, a booked participant of a *different*
//!   due appointment is refused with [`RoomError::SessionOpen`]: their appointment waits until the room is
//!   free, and is never merged into someone else's meeting.
//! - In an appointment's session, an expert or interpreter without a seat is refused: [`RoomError::TooEarly`]
//!   if they are booked for a later appointment of this room, [`RoomError::NotBooked`] otherwise, unless a
//!   seated expert has unlocked the room to admit someone extra. Advisors keep the walk-in rules (they help
//!   the customer at the device). A participant booked for the session's appointment after it opened (an
//!   interpreter reserved late) gets a seat when they join.
//! - In an idle room, an expert or interpreter booked only for a later appointment is refused with
//!   [`RoomError::TooEarly`]; one who is not booked while an appointment is due with [`RoomError::NotBooked`].
//!   The device, booked for every appointment of its room, gets [`RoomError::NoSession`] until one is due.
//! - A walk-in session (opened with [`Command::Open`]) otherwise keeps the walk-in rules.

use crate::ids::{ConnId, Millis, Role, RoomId, SeatId, SessionId, SubjectId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A seat to create when a session opens: who is expected, in which role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatSpec {
    pub role: Role,
    pub subject: SubjectId,
}

/// An expected participant of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub id: SeatId,
    pub role: Role,
    pub subject: SubjectId,
    /// The connection sitting in this seat now, if any.
    pub occupant: Option<ConnId>,
}

/// Someone connected to the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub conn: ConnId,
    pub subject: SubjectId,
    pub role: Role,
    /// `None` for a guest admitted while the room was open; guests get a seat at the next lock.
    pub seat: Option<SeatId>,
    pub joined_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    /// Waiting for the expected participants; locks by itself when every seat is taken.
    Gathering,
    /// Only seat holders get in.
    Locked,
    /// An expert opened the room to admit someone extra; it stays open until an expert locks it.
    Unlocked,
}

/// What a room is doing, as shown to operators and clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomPhase {
    Idle,
    Gathering,
    Locked,
    Unlocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub opened_at: Millis,
    pub opened_by: SubjectId,
    pub seats: Vec<Seat>,
    pub lock: LockState,
    pub participants: BTreeMap<ConnId, Participant>,
    /// When the last participant left; the session ends once the grace period has passed since.
    pub empty_since: Option<Millis>,
    /// The appointment this session was opened for; `None` for a walk-in session.
    pub appointment: Option<String>,
    guests_seated: u32,
}

impl Session {
    pub fn seat_of(&self, subject: &SubjectId) -> Option<&Seat> {
        self.seats.iter().find(|s| &s.subject == subject)
    }

    pub fn all_seats_taken(&self) -> bool {
        self.seats.iter().all(|s| s.occupant.is_some())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The participant said goodbye.
    Left,
    /// The connection dropped (network, closed tab, keepalive timeout).
    Dropped,
    /// Disconnected by the server for misbehaving (rate, size, slow reader).
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// An expert or an operator ended the session.
    Ended,
    /// Everyone left and the grace period passed.
    EveryoneLeft,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Ended => "ended",
            EndReason::EveryoneLeft => "everyone_left",
        }
    }
}

/// How someone got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// Into their own seat.
    Seat,
    /// Into their own seat, replacing their previous connection.
    Reconnect,
    /// Without a seat, while the room was open.
    Guest,
}

/// What the room's owner must do after a successful command: tell clients, write the audit log, close
/// connections. Effects come in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    SessionOpened {
        session: SessionId,
    },
    Admitted {
        participant: Participant,
        how: Admission,
    },
    /// The old connection of a seat was replaced by a new one; the owner closes `old`.
    Replaced {
        old: ConnId,
        by: ConnId,
        seat: SeatId,
    },
    ParticipantLeft {
        participant: Participant,
        reason: LeaveReason,
    },
    /// A seat was added to the open session for someone booked for its appointment after it opened; the
    /// owner records it. Their admission follows.
    SeatAdded {
        seat: SeatId,
        role: Role,
        subject: SubjectId,
    },
    /// A guest got a seat at lock time.
    Seated {
        conn: ConnId,
        seat: SeatId,
    },
    /// `by` is `None` when the room locked by itself because every seat was taken.
    Locked {
        by: Option<ConnId>,
    },
    Unlocked {
        by: ConnId,
    },
    SessionEnded {
        session: SessionId,
        reason: EndReason,
        removed: Vec<ConnId>,
    },
}

/// A session as the store recorded it, to be taken up by [`Room::restore`] after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSession {
    pub id: SessionId,
    pub opened_at: Millis,
    pub opened_by: SubjectId,
    pub seats: Vec<(SeatId, Role, SubjectId)>,
    pub lock: LockState,
    /// The appointment it was opened for; `None` for a walk-in.
    pub appointment: Option<String>,
}

/// One appointment of this room's device, as the room needs to know it: when, and who is booked. The device
/// is booked for every appointment of its room and is not listed in `seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The appointment's id; the room records it with the session the appointment opens.
    pub appointment: String,
    /// The customer's slot, `[start, end)`.
    pub start: Millis,
    pub end: Millis,
    /// The booked people besides the device: experts, then interpreters holding a reservation.
    pub seats: Vec<SeatSpec>,
}

impl Booking {
    /// From when its participants may join: `join_early_ms` before the start.
    pub fn opens_at(&self, join_early_ms: Millis) -> Millis {
        self.start.saturating_sub(join_early_ms)
    }

    /// Whether its participants may join at `now`.
    pub fn is_due(&self, now: Millis, join_early_ms: Millis) -> bool {
        self.opens_at(join_early_ms) <= now && now < self.end
    }

    fn books(&self, device: &SubjectId, subject: &SubjectId, role: Role) -> bool {
        if role == Role::Device {
            return subject == device;
        }
        self.seats.iter().any(|s| &s.subject == subject)
    }
}

/// `t` as ISO 8601 in UTC, to the second (`2026-03-02T08:00:00Z`): how times appear in messages for people.
pub fn iso_utc(t: Millis) -> String {
    i64::try_from(t)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the room has no open session")]
    NoSession,
    #[error("a session is already open in this room")]
    SessionOpen,
    #[error("the room is locked: only its expected participants may join")]
    Locked,
    #[error("this room belongs to another device")]
    WrongRoom,
    #[error("role {0} does not join rooms")]
    RoleCannotJoin(Role),
    #[error("only an expert holding a seat may do this")]
    NotExpert,
    #[error("the connection is not in the room")]
    NotJoined,
    #[error("the connection is already in the room")]
    AlreadyJoined,
    #[error("the seats are invalid: {0}")]
    BadSeats(String),
    /// The joiner's appointment in this room is not due yet.
    #[error("your appointment starts at {}; joining opens at {}", iso_utc(*starts_at), iso_utc(*opens_at))]
    TooEarly { starts_at: Millis, opens_at: Millis },
    /// An appointment holds the room (or is due in it) and the joiner is not booked for it.
    #[error("you are not booked for the appointment in this room now")]
    NotBooked,
}

/// One device's permanent virtual room. Owned by exactly one task; nothing else mutates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    /// The device whose room this is; it always holds the `device` seat.
    pub device: SubjectId,
    pub session: Option<Session>,
    /// How long an empty session waits for someone to come back before it ends.
    pub grace_ms: Millis,
    /// How long before an appointment's start its participants may join (and so open its session).
    pub join_early_ms: Millis,
}

pub enum Command {
    Open {
        session: SessionId,
        by: SubjectId,
        seats: Vec<SeatSpec>,
    },
    /// A join by the walk-in rules, and by the rules of the open appointment's session if there is one.
    Join {
        conn: ConnId,
        subject: SubjectId,
        role: Role,
    },
    /// A join that also knows the device's booked appointments around `now` (the owner looks them up when
    /// the joiner holds no seat in the open session). If it opens an appointment's session, the session is
    /// called `session`.
    JoinBooked {
        conn: ConnId,
        subject: SubjectId,
        role: Role,
        bookings: Vec<Booking>,
        session: SessionId,
    },
    Leave {
        conn: ConnId,
        reason: LeaveReason,
    },
    Lock {
        conn: ConnId,
    },
    Unlock {
        conn: ConnId,
    },
    /// End the session now (an expert over signalling, or an operator through the API).
    End,
    /// Time passed: end a session that has been empty for longer than the grace period.
    Tick,
}

impl Room {
    pub fn new(id: RoomId, device: SubjectId, grace_ms: Millis) -> Self {
        Room { id, device, session: None, grace_ms, join_early_ms: 0 }
    }

    /// The same room, letting appointments' participants join `join_early_ms` before the start.
    pub fn with_join_early(mut self, join_early_ms: Millis) -> Self {
        self.join_early_ms = join_early_ms;
        self
    }

    pub fn phase(&self) -> RoomPhase {
        match &self.session {
            None => RoomPhase::Idle,
            Some(s) => match s.lock {
                LockState::Gathering => RoomPhase::Gathering,
                LockState::Locked => RoomPhase::Locked,
                LockState::Unlocked => RoomPhase::Unlocked,
            },
        }
    }

    /// Take up a session that outlived the server process, as the store recorded it: its seats (the device's
    /// among them), its lock state and its appointment, with nobody connected. The grace period starts now: seat
    /// holders reconnect as after any drop, and if nobody comes back in time the session ends as
    /// `everyone_left`.
    pub fn restore(&mut self, now: Millis, recorded: RecordedSession) -> Result<(), RoomError> {
        let RecordedSession { id, opened_at, opened_by, seats, lock, appointment } = recorded;
        if self.session.is_some() {
            return Err(RoomError::SessionOpen);
        }
        let mut restored: Vec<Seat> = Vec::with_capacity(seats.len());
        for (seat, role, subject) in seats {
            if restored.iter().any(|s| s.subject == subject || s.id == seat) {
                return Err(RoomError::BadSeats(format!("{subject} or {seat} recorded twice")));
            }
            restored.push(Seat { id: seat, role, subject, occupant: None });
        }
        let device_seat = restored.iter().find(|s| s.role == Role::Device);
        if device_seat.map(|s| &s.subject) != Some(&self.device) {
            return Err(RoomError::BadSeats("the recorded seats lack this room's device".into()));
        }
        let guests_seated = restored
            .iter()
            .filter_map(|s| s.id.as_str().strip_prefix("guest-").and_then(|n| n.parse::<u32>().ok()))
            .max()
            .unwrap_or(0);
        self.session = Some(Session {
            id,
            opened_at,
            opened_by,
            seats: restored,
            lock,
            participants: BTreeMap::new(),
            empty_since: Some(now),
            appointment,
            guests_seated,
        });
        Ok(())
    }

    /// When the owner should send the next [`Command::Tick`], if ever.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.session.as_ref()?.empty_since.map(|t| t.saturating_add(self.grace_ms))
    }

    /// Apply one command at time `now`. On error nothing has changed.
    pub fn apply(&mut self, now: Millis, cmd: Command) -> Result<Vec<Effect>, RoomError> {
        match cmd {
            Command::Open { session, by, seats } => self.open(now, session, by, seats),
            Command::Join { conn, subject, role } => self.join(now, conn, subject, role),
            Command::JoinBooked { conn, subject, role, bookings, session } => {
                self.join_booked(now, conn, subject, role, &bookings, session)
            }
            Command::Leave { conn, reason } => self.leave(now, conn, reason),
            Command::Lock { conn } => self.lock(conn),
            Command::Unlock { conn } => self.unlock(conn),
            Command::End => self.end(EndReason::Ended),
            Command::Tick => match self.next_deadline() {
                Some(deadline) if now >= deadline => self.end(EndReason::EveryoneLeft),
                _ => Ok(Vec::new()),
            },
        }
    }

    fn open(
        &mut self,
        now: Millis,
        id: SessionId,
        by: SubjectId,
        specs: Vec<SeatSpec>,
    ) -> Result<Vec<Effect>, RoomError> {
        self.open_for(now, id, by, specs, None)
    }

    fn open_for(
        &mut self,
        now: Millis,
        id: SessionId,
        by: SubjectId,
        specs: Vec<SeatSpec>,
        appointment: Option<String>,
    ) -> Result<Vec<Effect>, RoomError> {
        if self.session.is_some() {
            return Err(RoomError::SessionOpen);
        }
        let seats = self.seats_for(specs)?;
        self.session = Some(Session {
            id: id.clone(),
            opened_at: now,
            opened_by: by,
            seats,
            lock: LockState::Gathering,
            participants: BTreeMap::new(),
            empty_since: None,
            appointment,
            guests_seated: 0,
        });
        Ok(vec![Effect::SessionOpened { session: id }])
    }

    /// A join with the device's bookings at hand: see the module docs for the appointment rules. Seat holders
    /// of the open session are admitted exactly as by [`Command::Join`], whatever the bookings say.
    fn join_booked(
        &mut self,
        now: Millis,
        conn: ConnId,
        subject: SubjectId,
        role: Role,
        bookings: &[Booking],
        session_id: SessionId,
    ) -> Result<Vec<Effect>, RoomError> {
        if !role.joins_rooms() {
            return Err(RoomError::RoleCannotJoin(role));
        }
        if role == Role::Device && subject != self.device {
            return Err(RoomError::WrongRoom);
        }
        if self.session.as_ref().is_some_and(|s| s.seat_of(&subject).is_some()) {
            return self.join(now, conn, subject, role);
        }
        let early = self.join_early_ms;
        let mine = || bookings.iter().filter(|b| b.books(&self.device, &subject, role));
        // Of two due appointments (the next one's early window reaching into the previous one), the later:
        // the earlier is nearly over.
        let due = mine().filter(|b| b.is_due(now, early)).max_by_key(|b| (b.start, b.appointment.clone()));
        if let Some(booking) = due {
            let booking = booking.clone();
            return match &self.session {
                None => {
                    let mut effects =
                        self.open_for(now, session_id, subject.clone(), booking.seats, Some(booking.appointment))?;
                    match self.join(now, conn, subject, role) {
                        Ok(more) => {
                            effects.extend(more);
                            Ok(effects)
                        }
                        Err(e) => {
                            self.session = None; // a failed command changes nothing
                            Err(e)
                        }
                    }
                }
                Some(s) if s.appointment.as_deref() == Some(booking.appointment.as_str()) => {
                    self.join_late_booked(now, conn, subject, role)
                }
                Some(_) => Err(RoomError::SessionOpen),
            };
        }
        let later = mine().filter(|b| b.opens_at(early) > now).min_by_key(|b| (b.start, b.appointment.clone()));
        let too_early = later.map(|b| RoomError::TooEarly { starts_at: b.start, opens_at: b.opens_at(early) });
        let booked_role = matches!(role, Role::Expert | Role::Interpreter);
        match &self.session {
            None if booked_role => {
                if let Some(e) = too_early {
                    return Err(e);
                }
                if bookings.iter().any(|b| b.is_due(now, early)) {
                    return Err(RoomError::NotBooked);
                }
                Err(RoomError::NoSession)
            }
            Some(s) if booked_role && s.appointment.is_some() && s.lock != LockState::Unlocked => {
                Err(too_early.unwrap_or(RoomError::NotBooked))
            }
            _ => self.join(now, conn, subject, role),
        }
    }

    /// Someone booked for the open session's appointment after it opened (an interpreter reserved late): they
    /// get a seat of their role and are admitted into it.
    fn join_late_booked(
        &mut self,
        now: Millis,
        conn: ConnId,
        subject: SubjectId,
        role: Role,
    ) -> Result<Vec<Effect>, RoomError> {
        let session = self.session.as_mut().ok_or(RoomError::NoSession)?;
        if session.participants.contains_key(&conn) {
            return Err(RoomError::AlreadyJoined);
        }
        // Guests are numbered apart; named seats of a role are numbered after the highest so far.
        let prefix = format!("{role}-");
        let n = session
            .seats
            .iter()
            .filter_map(|s| s.id.as_str().strip_prefix(&prefix).and_then(|n| n.parse::<u32>().ok()))
            .max()
            .unwrap_or(0);
        let id = seat_id(&format!("{role}-{}", n + 1));
        session.seats.push(Seat { id: id.clone(), role, subject: subject.clone(), occupant: None });
        let mut effects = vec![Effect::SeatAdded { seat: id, role, subject: subject.clone() }];
        effects.extend(self.join(now, conn, subject, role).inspect_err(|_| {
            // Not reachable (the seat was just added for them), but a failed command must change nothing.
            if let Some(s) = self.session.as_mut() {
                s.seats.pop();
            }
        })?);
        Ok(effects)
    }

    /// The device seat first, then the named seats numbered per role. Rejects a second device, devices of
    /// other rooms, roles that do not join rooms, and a subject named twice.
    fn seats_for(&self, specs: Vec<SeatSpec>) -> Result<Vec<Seat>, RoomError> {
        let mut seats =
            vec![Seat { id: seat_id("device"), role: Role::Device, subject: self.device.clone(), occupant: None }];
        let mut counts: BTreeMap<Role, u32> = BTreeMap::new();
        for spec in specs {
            if spec.role == Role::Device {
                if spec.subject == self.device {
                    continue; // naming the room's own device is harmless
                }
                return Err(RoomError::BadSeats(format!("{} is not this room's device", spec.subject)));
            }
            if !spec.role.joins_rooms() {
                return Err(RoomError::BadSeats(format!("role {} does not join rooms", spec.role)));
            }
            if seats.iter().any(|s| s.subject == spec.subject) {
                return Err(RoomError::BadSeats(format!("{} is named twice", spec.subject)));
            }
            let n = counts.entry(spec.role).or_insert(0);
            *n += 1;
            seats.push(Seat {
                id: seat_id(&format!("{}-{}", spec.role, n)),
                role: spec.role,
                subject: spec.subject,
                occupant: None,
            });
        }
        if seats.len() < 2 {
            return Err(RoomError::BadSeats("a session needs at least one seat besides the device".into()));
        }
        Ok(seats)
    }

    fn join(&mut self, now: Millis, conn: ConnId, subject: SubjectId, role: Role) -> Result<Vec<Effect>, RoomError> {
        if !role.joins_rooms() {
            return Err(RoomError::RoleCannotJoin(role));
        }
        if role == Role::Device && subject != self.device {
            return Err(RoomError::WrongRoom);
        }
        let session = self.session.as_mut().ok_or(RoomError::NoSession)?;
        if session.participants.contains_key(&conn) {
            return Err(RoomError::AlreadyJoined);
        }
        let mut effects = Vec::new();
        let seat_index = session.seats.iter().position(|s| s.subject == subject);
        let (seat, how) = match seat_index {
            Some(i) => {
                let seat = &mut session.seats[i];
                let how = match seat.occupant.replace(conn) {
                    Some(old) => {
                        session.participants.remove(&old);
                        effects.push(Effect::Replaced { old, by: conn, seat: seat.id.clone() });
                        Admission::Reconnect
                    }
                    None => Admission::Seat,
                };
                (Some(seat.id.clone()), how)
            }
            None if session.appointment.is_some()
                && matches!(role, Role::Expert | Role::Interpreter)
                && session.lock != LockState::Unlocked =>
            {
                return Err(RoomError::NotBooked)
            }
            None if session.lock == LockState::Locked => return Err(RoomError::Locked),
            None => {
                // The same guest joining again replaces their earlier connection, as a seat holder's would.
                let earlier = session.participants.values().find(|p| p.subject == subject).map(|p| p.conn);
                if let Some(old) = earlier {
                    session.participants.remove(&old);
                    effects.push(Effect::Replaced { old, by: conn, seat: seat_id("guest") });
                }
                (None, Admission::Guest)
            }
        };
        let participant = Participant { conn, subject, role, seat, joined_at: now };
        session.participants.insert(conn, participant.clone());
        session.empty_since = None;
        effects.push(Effect::Admitted { participant, how });
        if session.lock == LockState::Gathering && session.all_seats_taken() {
            lock_session(session, None, &mut effects);
        }
        Ok(effects)
    }

    fn leave(&mut self, now: Millis, conn: ConnId, reason: LeaveReason) -> Result<Vec<Effect>, RoomError> {
        let session = self.session.as_mut().ok_or(RoomError::NotJoined)?;
        let participant = session.participants.remove(&conn).ok_or(RoomError::NotJoined)?;
        // The seat stays reserved for its holder: only the occupant link goes.
        for seat in session.seats.iter_mut().filter(|s| s.occupant == Some(conn)) {
            seat.occupant = None;
        }
        if session.participants.is_empty() {
            session.empty_since = Some(now);
        }
        Ok(vec![Effect::ParticipantLeft { participant, reason }])
    }

    fn seated_expert(&self, conn: ConnId) -> Result<&Session, RoomError> {
        let session = self.session.as_ref().ok_or(RoomError::NoSession)?;
        let p = session.participants.get(&conn).ok_or(RoomError::NotJoined)?;
        if p.role == Role::Expert && p.seat.is_some() {
            Ok(session)
        } else {
            Err(RoomError::NotExpert)
        }
    }

    fn lock(&mut self, conn: ConnId) -> Result<Vec<Effect>, RoomError> {
        self.seated_expert(conn)?;
        let session = self.session.as_mut().expect("checked by seated_expert");
        let mut effects = Vec::new();
        if session.lock != LockState::Locked {
            lock_session(session, Some(conn), &mut effects);
        }
        Ok(effects)
    }

    fn unlock(&mut self, conn: ConnId) -> Result<Vec<Effect>, RoomError> {
        self.seated_expert(conn)?;
        let session = self.session.as_mut().expect("checked by seated_expert");
        if session.lock == LockState::Unlocked {
            return Ok(Vec::new());
        }
        session.lock = LockState::Unlocked;
        Ok(vec![Effect::Unlocked { by: conn }])
    }

    fn end(&mut self, reason: EndReason) -> Result<Vec<Effect>, RoomError> {
        let session = self.session.take().ok_or(RoomError::NoSession)?;
        let removed = session.participants.keys().copied().collect();
        Ok(vec![Effect::SessionEnded { session: session.id, reason, removed }])
    }
}

/// Lock the session, first giving every present guest a seat so that everyone in the meeting can get back in.
fn lock_session(session: &mut Session, by: Option<ConnId>, effects: &mut Vec<Effect>) {
    let guests: Vec<ConnId> = session.participants.values().filter(|p| p.seat.is_none()).map(|p| p.conn).collect();
    for conn in guests {
        session.guests_seated += 1;
        let id = seat_id(&format!("guest-{}", session.guests_seated));
        let p = session.participants.get_mut(&conn).expect("listed above");
        p.seat = Some(id.clone());
        session.seats.push(Seat { id: id.clone(), role: p.role, subject: p.subject.clone(), occupant: Some(conn) });
        effects.push(Effect::Seated { conn, seat: id });
    }
    session.lock = LockState::Locked;
    effects.push(Effect::Locked { by });
}

fn seat_id(s: &str) -> SeatId {
    SeatId::new(s).expect("seat ids built here are valid slugs")
}

#[cfg(test)]
mod tests;
