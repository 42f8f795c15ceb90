//! Väylä's domain core: the words of `shared/domain.md` as types, and the rules that must always hold.
//!
//! Nothing here does IO, reads a clock or spawns a task: time comes in as [`Millis`] arguments, and every
//! rule is a plain function or a state machine that returns what should happen as data ([`room::Effect`]).

pub mod calendar;
pub mod ids;
pub mod interpreting;
pub mod reports;
pub mod room;
pub mod walkin;

pub use ids::{ConnId, IdError, Millis, Role, RoomId, SeatId, SessionId, SubjectId};
pub use room::{
    Admission, Booking, Effect, EndReason, LeaveReason, LockState, Participant, RecordedSession, Room, RoomError,
    RoomPhase, Seat, SeatSpec, Session,
};
