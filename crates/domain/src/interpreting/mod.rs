//! Interpreter bookings, the pure half: the registry's types, matching a request to qualified and
//! available interpreters, and the offer cascade that finds one who accepts.
//!
//! Pure like the rest of the domain: time comes in as [`Millis`](crate::Millis) arguments, calendars come in as
//! data ([`crate::calendar::ResourceCalendar`]), and the cascade returns what should happen as effects. The store
//! (`vayla-store`'s `interpreting`) persists requests and offers and holds the database guarantees (one accepted
//! offer per request, an interpreter's time never double-booked); the server drives both.
//!
//! - [`registry`]: [`Interpreter`], [`LanguageSkill`] with a BCP 47 [`LanguageTag`] (sign languages `fse`, `fss`
//!   included) and a [`Competence`] level, [`Modality`]; [`InterpreterContact`] kept apart.
//! - [`matching`]: [`InterpreterNeed`], [`assess`] one candidate, [`match_interpreters`] in offer order.
//! - [`cascade`]: the [`Request`] state machine, [`response_deadline`].

pub mod cascade;
pub mod matching;
pub mod registry;

#[cfg(test)]
mod tests;

pub use cascade::{
    response_deadline, response_window, CancelReason, Command, Effect, InterpreterNotice, OfferMode, Request,
    RequestState, SchedulerNotice, WithdrawReason, DECISION_MARGIN, MAX_GROUP, MIN_RESPONSE,
};
pub use matching::{assess, match_interpreters, Candidate, InterpreterNeed, Match, Mismatch, NeededTime};
pub use registry::{Competence, Interpreter, InterpreterContact, LanguageSkill, LanguageTag, Modality};

use crate::ids::{Millis, SubjectId};

/// Why interpreting input or a cascade command was refused. Each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpretingError {
    #[error("not a BCP 47 language tag: {0:?}")]
    InvalidLanguageTag(String),
    #[error("{language} is a sign language and cannot be interpreted by {}", modality.as_str())]
    SignLanguageNeedsVideo { language: LanguageTag, modality: Modality },
    #[error("an offer goes to 1 to {MAX_GROUP} interpreters at once, not {0}")]
    BadGroupSize(u8),
    #[error("cannot {command} a request that is {state}")]
    WrongState { command: &'static str, state: &'static str },
    #[error("{0} has no pending offer for this request")]
    NoPendingOffer(SubjectId),
    #[error("the offer to {interpreter} expired at {deadline}")]
    OfferExpired { interpreter: SubjectId, deadline: Millis },
    #[error("{0} is not the interpreter assigned to this request")]
    NotAssigned(SubjectId),
    #[error("the stored request contradicts itself (a pending offer or assignment to someone never offered)")]
    InconsistentRequest,
}
