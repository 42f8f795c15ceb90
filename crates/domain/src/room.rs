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
}

pub enum Command {
    Open {
        session: SessionId,
        by: SubjectId,
        seats: Vec<SeatSpec>,
    },
    Join {
        conn: ConnId,
        subject: SubjectId,
        role: Role,
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
        Room { id, device, session: None, grace_ms }
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
    /// among them) and its lock state, with nobody connected. The grace period starts now: seat holders
    /// reconnect as after any drop, and if nobody comes back in time the session ends as `everyone_left`.
    pub fn restore(
        &mut self,
        now: Millis,
        id: SessionId,
        opened_at: Millis,
        opened_by: SubjectId,
        seats: Vec<(SeatId, Role, SubjectId)>,
        lock: LockState,
    ) -> Result<(), RoomError> {
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
            guests_seated: 0,
        });
        Ok(vec![Effect::SessionOpened { session: id }])
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
