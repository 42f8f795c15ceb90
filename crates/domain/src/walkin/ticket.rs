//! A walk-in ticket's life: `waiting → accepted → served`, or it ends early as `cancelled`, `expired` or
//! `abandoned`.
//!
//! - **waiting**: in the agency's queue. An expert accepts it (the first one wins); when an interpreter was asked,
//!   an interpreter accepts it too, in either order. The ticket stays `waiting` until everyone it needs has
//!   accepted, so a half-taken ticket still shows in the queue of the side that has not.
//! - **accepted**: everyone it needs has accepted; the device's room opens a session for them
//!   ([`TicketEvent::SessionOpened`]). If the session cannot be opened, the accepter who completed the ticket
//!   releases it and it waits again ([`TicketEvent::Release`]).
//! - **served**: the session ran (everyone was in at some point) and ended.
//! - **cancelled**: the service point withdrew the ticket before anyone accepted it.
//! - **expired**: nobody accepted in time.
//! - **abandoned**: accepted, but the customer never got their meeting: the device gave up (cancelled after the
//!   accept), nobody came into the opened session in time, or the session ended before everyone was in.

use crate::ids::SubjectId;
use serde::{Deserialize, Serialize};

/// Where a ticket is. The words are the store's `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Waiting,
    Accepted,
    Served,
    Cancelled,
    Abandoned,
    Expired,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 6] = [
        TicketStatus::Waiting,
        TicketStatus::Accepted,
        TicketStatus::Served,
        TicketStatus::Cancelled,
        TicketStatus::Abandoned,
        TicketStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Waiting => "waiting",
            TicketStatus::Accepted => "accepted",
            TicketStatus::Served => "served",
            TicketStatus::Cancelled => "cancelled",
            TicketStatus::Abandoned => "abandoned",
            TicketStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        TicketStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Waiting or accepted: the device has this ticket open and may not open another.
    pub fn is_open(self) -> bool {
        matches!(self, TicketStatus::Waiting | TicketStatus::Accepted)
    }
}

/// Why a ticket closed other than by being served. The words are the store's `close_reason` column; a served
/// ticket's close reason is its session's end reason (`ended`, `everyone_left`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The service point withdrew the ticket while it waited.
    Cancelled,
    /// Nobody (or not everyone needed) accepted within the ticket timeout.
    NotAcceptedInTime,
    /// The service point withdrew the ticket after it was accepted.
    DeviceGaveUp,
    /// The session opened for the ticket was not joined by everyone in time, or ended before they were all in.
    SessionNeverStarted,
    /// The device's room went away (removed from the rooms-config) before the ticket was served.
    RoomRemoved,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Cancelled => "cancelled",
            CloseReason::NotAcceptedInTime => "not_accepted_in_time",
            CloseReason::DeviceGaveUp => "device_gave_up",
            CloseReason::SessionNeverStarted => "session_never_started",
            CloseReason::RoomRemoved => "room_removed",
        }
    }
}

/// What happens to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketEvent {
    ExpertAccepts(SubjectId),
    InterpreterAccepts(SubjectId),
    /// The accepter could not get the room (it holds another session): they let go, the ticket waits again.
    Release(SubjectId),
    /// The device's room opened this session for the ticket.
    SessionOpened(String),
    /// The ticket's session ended; `started` when everyone it expected was in at some point (the room locked).
    SessionEnded {
        started: bool,
    },
    /// The service point withdraws the ticket.
    Cancel,
    /// The ticket timeout passed without everyone needed accepting.
    Expire,
    Abandon(CloseReason),
}

/// Why an event does not apply. A refused event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is {}; it is closed", .0.as_str())]
    Closed(TicketStatus),
    #[error("another expert has already accepted this ticket")]
    ExpertTaken,
    #[error("another interpreter has already accepted this ticket")]
    InterpreterTaken,
    #[error("no interpreter was asked for this ticket")]
    NoInterpreterAsked,
    #[error("the ticket is {}; this needs it {wanted}", .status.as_str())]
    WrongStatus { status: TicketStatus, wanted: &'static str },
    #[error("{0} has not accepted this ticket")]
    NotAccepter(SubjectId),
}

/// A ticket as the rules see it: its status, what it needs and who took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub status: TicketStatus,
    pub needs_interpreter: bool,
    pub expert: Option<SubjectId>,
    pub interpreter: Option<SubjectId>,
    pub session: Option<String>,
    /// Set when the ticket closed other than by being served.
    pub close_reason: Option<CloseReason>,
}

impl Ticket {
    pub fn new(needs_interpreter: bool) -> Ticket {
        Ticket {
            status: TicketStatus::Waiting,
            needs_interpreter,
            expert: None,
            interpreter: None,
            session: None,
            close_reason: None,
        }
    }

    /// Everyone the ticket needs has accepted.
    pub fn complete(&self) -> bool {
        self.expert.is_some() && (!self.needs_interpreter || self.interpreter.is_some())
    }

    /// Whether an expert may still accept: waiting and no expert yet.
    pub fn wants_expert(&self) -> bool {
        self.status == TicketStatus::Waiting && self.expert.is_none()
    }

    /// Whether an interpreter may still accept: waiting, one asked and none yet.
    pub fn wants_interpreter(&self) -> bool {
        self.status == TicketStatus::Waiting && self.needs_interpreter && self.interpreter.is_none()
    }

    /// Apply one event. On error nothing changes; on success the ticket is in its new state.
    pub fn apply(&mut self, event: TicketEvent) -> Result<(), TicketError> {
        let mut next = self.clone();
        next.step(event)?;
        *self = next;
        Ok(())
    }

    fn step(&mut self, event: TicketEvent) -> Result<(), TicketError> {
        if !self.status.is_open() {
            return Err(TicketError::Closed(self.status));
        }
        let waiting = |s: TicketStatus| {
            if s == TicketStatus::Waiting {
                Ok(())
            } else {
                Err(TicketError::WrongStatus { status: s, wanted: "waiting" })
            }
        };
        match event {
            TicketEvent::ExpertAccepts(who) => {
                waiting(self.status)?;
                if self.expert.is_some() {
                    return Err(TicketError::ExpertTaken);
                }
                self.expert = Some(who);
                self.settle();
            }
            TicketEvent::InterpreterAccepts(who) => {
                waiting(self.status)?;
                if !self.needs_interpreter {
                    return Err(TicketError::NoInterpreterAsked);
                }
                if self.interpreter.is_some() {
                    return Err(TicketError::InterpreterTaken);
                }
                self.interpreter = Some(who);
                self.settle();
            }
            TicketEvent::Release(who) => {
                if self.session.is_some() {
                    return Err(TicketError::WrongStatus { status: self.status, wanted: "without a session" });
                }
                if self.expert.as_ref() == Some(&who) {
                    self.expert = None;
                } else if self.interpreter.as_ref() == Some(&who) {
                    self.interpreter = None;
                } else {
                    return Err(TicketError::NotAccepter(who));
                }
                self.status = TicketStatus::Waiting;
            }
            TicketEvent::SessionOpened(session) => {
                if self.status != TicketStatus::Accepted || self.session.is_some() {
                    return Err(TicketError::WrongStatus { status: self.status, wanted: "accepted without a session" });
                }
                self.session = Some(session);
            }
            TicketEvent::SessionEnded { started } => {
                if self.session.is_none() {
                    return Err(TicketError::WrongStatus { status: self.status, wanted: "in a session" });
                }
                if started {
                    self.status = TicketStatus::Served;
                } else {
                    self.close(TicketStatus::Abandoned, CloseReason::SessionNeverStarted);
                }
            }
            TicketEvent::Cancel => match self.status {
                TicketStatus::Waiting => self.close(TicketStatus::Cancelled, CloseReason::Cancelled),
                _ => self.close(TicketStatus::Abandoned, CloseReason::DeviceGaveUp),
            },
            TicketEvent::Expire => {
                waiting(self.status)?;
                self.close(TicketStatus::Expired, CloseReason::NotAcceptedInTime);
            }
            TicketEvent::Abandon(reason) => self.close(TicketStatus::Abandoned, reason),
        }
        Ok(())
    }

    fn settle(&mut self) {
        if self.complete() {
            self.status = TicketStatus::Accepted;
        }
    }

    fn close(&mut self, status: TicketStatus, reason: CloseReason) {
        self.status = status;
        self.close_reason = Some(reason);
    }
}
