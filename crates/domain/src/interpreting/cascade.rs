//! The offer cascade of one interpreter request: offer to the matched interpreters in order until one accepts,
//! with a response deadline per offer.
//!
//! States: `Open → Offered(to, deadline) → Accepted(by)`, or `→ Exhausted` when nobody is left to ask (or it is
//! too late to ask anyone), and `→ Cancelled` from anywhere. [`Request::apply`] takes the moment and a
//! [`Command`] and returns what should happen as [`Effect`]s; the owner (the server) persists them and sends the
//! messages. The rules:
//! - **One offer per interpreter per round.** Whoever was offered the request in this round (and declined, let it
//!   expire, saw it taken by someone else, or accepted and then cancelled) is never offered it again in the same
//!   round. A new round starts only by [`Command::Restart`] after the cascade was exhausted (the scheduler's
//!   rebooking), with a freshly matched candidate list. The store holds the same rule as a unique index.
//! - **Offer mode**: one interpreter at a time, or a small group at once ([`OfferMode::Group`], at most
//!   [`MAX_GROUP`]) where the first to accept wins and the others' offers are withdrawn. A group is not topped up
//!   when one of it declines: the next group goes out once everyone in this one has declined, or at its deadline.
//! - **Deadline** of an offer: [`response_deadline`], from how soon the appointment is.
//! - **At most one interpreter is assigned at a time** (an appointment that needs two interpreters has two
//!   requests). An accept is taken only from someone with a pending offer, before its deadline.
//! - An assigned interpreter who cancels is released and skipped; the scheduler is told, and the cascade goes on
//!   with the next candidates. Cancelling the request (the appointment was cancelled) releases and tells the
//!   assigned interpreter, or withdraws the pending offers.
//! - A failed command changes nothing. A [`Command::Tick`] before the deadline is not a failure: it does nothing.
//!
//! An accept the store refuses because the interpreter's time was taken meanwhile is applied as a
//! [`Command::Decline`] of that interpreter.

use super::InterpretingError;
use crate::calendar::{DurationMs, DAY, HOUR, MINUTE};
use crate::ids::{Millis, SubjectId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// The largest group a request is offered to at once.
pub const MAX_GROUP: u8 = 5;

/// No offer's deadline is later than this before the appointment starts (when there is still that much time):
/// whoever accepts has time to prepare and connect, and the scheduler hears in time if nobody does.
pub const DECISION_MARGIN: DurationMs = 15 * MINUTE;

/// The shortest time anyone is given to answer. An appointment closer than this cannot be offered any more.
pub const MIN_RESPONSE: DurationMs = 2 * MINUTE;

/// How long an interpreter has to answer an offer, from the appointment's lead time (start − now):
///
/// | lead time            | window     |
/// |----------------------|------------|
/// | more than 7 days     | 24 hours   |
/// | more than 1 day      | 4 hours    |
/// | 2 hours to 1 day     | 30 minutes |
/// | less than 2 hours    | 10 minutes |
pub fn response_window(lead: DurationMs) -> DurationMs {
    if lead > 7 * DAY {
        DAY
    } else if lead > DAY {
        4 * HOUR
    } else if lead >= 2 * HOUR {
        30 * MINUTE
    } else {
        10 * MINUTE
    }
}

/// The deadline of an offer sent at `now` for an appointment starting at `start`: `now` + [`response_window`],
/// but no later than `start −` [`DECISION_MARGIN`], and never shorter than [`MIN_RESPONSE`] (so when the
/// appointment is less than margin + minimum away, the deadline is `now + MIN_RESPONSE`, still before the start).
/// `None` when the appointment starts in less than [`MIN_RESPONSE`] (or has started): too late to offer.
pub fn response_deadline(now: Millis, start: Millis) -> Option<Millis> {
    let lead = start.checked_sub(now)?;
    if lead < MIN_RESPONSE {
        return None;
    }
    let latest = start.saturating_sub(DECISION_MARGIN).max(now + MIN_RESPONSE);
    Some((now + response_window(lead)).min(latest))
}

/// Whom an offer goes to at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "size")]
pub enum OfferMode {
    /// One interpreter at a time.
    OneAtATime,
    /// Up to this many at once (2 to [`MAX_GROUP`]); the first to accept wins.
    Group(u8),
}

impl OfferMode {
    /// A mode offering to `size` at once: 1 is one at a time. Refuses 0 and more than [`MAX_GROUP`].
    pub fn with_size(size: u8) -> Result<OfferMode, InterpretingError> {
        match size {
            1 => Ok(OfferMode::OneAtATime),
            2..=MAX_GROUP => Ok(OfferMode::Group(size)),
            _ => Err(InterpretingError::BadGroupSize(size)),
        }
    }

    /// How many get the offer at once.
    pub fn size(self) -> usize {
        match self {
            OfferMode::OneAtATime => 1,
            OfferMode::Group(n) => usize::from(n.clamp(1, MAX_GROUP)),
        }
    }
}

/// Where a request is in its cascade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RequestState {
    /// Created, not offered yet.
    Open,
    /// Waiting for an answer from `to` (one interpreter, or a group) until `deadline`.
    Offered { to: BTreeSet<SubjectId>, deadline: Millis },
    /// `by` accepted: the appointment is interpreted.
    Accepted { by: SubjectId },
    /// Nobody accepted and nobody is left to ask in this round, or it became too late to ask.
    Exhausted,
    /// Cancelled (the appointment was cancelled, or the interpreter is no longer needed). Final.
    Cancelled,
}

impl RequestState {
    /// The word the store keeps: `open`, `offered`, `accepted`, `exhausted`, `cancelled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestState::Open => "open",
            RequestState::Offered { .. } => "offered",
            RequestState::Accepted { .. } => "accepted",
            RequestState::Exhausted => "exhausted",
            RequestState::Cancelled => "cancelled",
        }
    }
}

/// Why a request is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    AppointmentCancelled,
    /// The scheduler withdrew the request (the customer no longer needs an interpreter).
    NoLongerNeeded,
}

/// What happens to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Send the first offers.
    Start,
    /// The interpreter accepts their pending offer.
    Accept { interpreter: SubjectId },
    /// The interpreter declines their pending offer.
    Decline { interpreter: SubjectId },
    /// Time passes: expire the pending offers if their deadline is reached and move on.
    Tick,
    /// The assigned interpreter cancels.
    InterpreterCancels { interpreter: SubjectId },
    /// The request is cancelled.
    Cancel { reason: CancelReason },
    /// After exhaustion, a new round with a new candidate list (in offer order): the scheduler rebooks.
    Restart { candidates: Vec<SubjectId> },
}

/// Why an interpreter's pending offer is taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The deadline passed without an answer.
    Expired,
    /// Someone else in the group accepted first.
    TakenByAnother,
    /// The request was cancelled.
    RequestCancelled,
}

/// What the scheduler must hear about (they act on it: rebook, find someone else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "notice")]
pub enum SchedulerNotice {
    /// Everyone in this round declined or let the offer expire, or nobody matched at all.
    NobodyAccepted,
    /// The appointment is too close to offer it to anyone else.
    TooLate,
    /// The assigned interpreter cancelled; the cascade goes on.
    InterpreterCancelled { interpreter: SubjectId },
}

/// What the interpreter must hear about besides offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterpreterNotice {
    /// They were assigned, and the request was cancelled for this reason: they are released.
    Released(CancelReason),
}

/// What the owner must do after a command, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Effect {
    /// Record and send an offer, answerable until `deadline`.
    OfferSent { to: SubjectId, deadline: Millis },
    /// Take back `to`'s pending offer and tell them.
    OfferWithdrawn { to: SubjectId, reason: WithdrawReason },
    /// Reserve the interpreter's time for the appointment: they are assigned.
    Assigned { interpreter: SubjectId },
    /// Release the interpreter's reservation.
    Released { interpreter: SubjectId },
    /// Tell the interpreter.
    InterpreterNotified { interpreter: SubjectId, notice: InterpreterNotice },
    /// Tell the scheduler.
    SchedulerNotified(SchedulerNotice),
}

/// One request's cascade (see the module docs). Built with [`Request::new`] from the matched candidates in offer
/// order ([`super::match_interpreters`]), or rebuilt from what the store holds with [`Request::restore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    appointment_start: Millis,
    mode: OfferMode,
    round: u32,
    /// Candidates not offered yet in this round, in offer order.
    queue: VecDeque<SubjectId>,
    /// Everyone offered the request in this round, whatever became of it.
    offered: BTreeSet<SubjectId>,
    state: RequestState,
}

impl Request {
    /// A new, open request in round 1 for an appointment starting at `appointment_start`. Duplicate candidates
    /// count once (the first place).
    pub fn new(appointment_start: Millis, mode: OfferMode, candidates: Vec<SubjectId>) -> Request {
        Request {
            appointment_start,
            mode,
            round: 1,
            queue: dedup(candidates, &BTreeSet::new()),
            offered: BTreeSet::new(),
            state: RequestState::Open,
        }
    }

    /// A request as the store holds it: its round, whom it was offered to in this round (any outcome), its
    /// state, and the remaining candidates (anyone already offered is dropped from them). Refuses a state that
    /// contradicts `offered` (a pending offer or an assignment to someone never offered, an empty group).
    pub fn restore(
        appointment_start: Millis,
        mode: OfferMode,
        round: u32,
        offered: BTreeSet<SubjectId>,
        state: RequestState,
        candidates: Vec<SubjectId>,
    ) -> Result<Request, InterpretingError> {
        let consistent = match &state {
            RequestState::Offered { to, .. } => {
                !to.is_empty() && to.len() <= mode.size() && to.iter().all(|i| offered.contains(i))
            }
            RequestState::Accepted { by } => offered.contains(by),
            RequestState::Open => offered.is_empty(),
            RequestState::Exhausted | RequestState::Cancelled => true,
        };
        if !consistent || round == 0 {
            return Err(InterpretingError::InconsistentRequest);
        }
        let queue = dedup(candidates, &offered);
        Ok(Request { appointment_start, mode, round, queue, offered, state })
    }

    pub fn state(&self) -> &RequestState {
        &self.state
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    pub fn mode(&self) -> OfferMode {
        self.mode
    }

    pub fn appointment_start(&self) -> Millis {
        self.appointment_start
    }

    /// Who has been offered the request in this round.
    pub fn offered(&self) -> &BTreeSet<SubjectId> {
        &self.offered
    }

    /// The candidates still to be asked in this round, in order.
    pub fn remaining(&self) -> impl Iterator<Item = &SubjectId> {
        self.queue.iter()
    }

    /// The assigned interpreter, if any.
    pub fn assigned(&self) -> Option<&SubjectId> {
        match &self.state {
            RequestState::Accepted { by } => Some(by),
            _ => None,
        }
    }

    /// When the owner should send the next [`Command::Tick`]: the pending offers' deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        match &self.state {
            RequestState::Offered { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// Applies one command at `now`. On `Err` nothing changed.
    pub fn apply(&mut self, now: Millis, command: Command) -> Result<Vec<Effect>, InterpretingError> {
        let mut effects = Vec::new();
        match command {
            Command::Start => {
                if self.state != RequestState::Open {
                    return Err(self.wrong_state("start"));
                }
                self.offer_next(now, &mut effects);
            }
            Command::Accept { interpreter } => {
                let RequestState::Offered { to, deadline } = &self.state else {
                    return Err(InterpretingError::NoPendingOffer(interpreter));
                };
                if !to.contains(&interpreter) {
                    return Err(InterpretingError::NoPendingOffer(interpreter));
                }
                if now >= *deadline {
                    return Err(InterpretingError::OfferExpired { interpreter, deadline: *deadline });
                }
                for other in to.iter().filter(|o| **o != interpreter) {
                    effects.push(Effect::OfferWithdrawn { to: other.clone(), reason: WithdrawReason::TakenByAnother });
                }
                effects.push(Effect::Assigned { interpreter: interpreter.clone() });
                self.state = RequestState::Accepted { by: interpreter };
            }
            Command::Decline { interpreter } => {
                let RequestState::Offered { to, .. } = &mut self.state else {
                    return Err(InterpretingError::NoPendingOffer(interpreter));
                };
                if !to.remove(&interpreter) {
                    return Err(InterpretingError::NoPendingOffer(interpreter));
                }
                if to.is_empty() {
                    self.offer_next(now, &mut effects);
                }
            }
            Command::Tick => {
                if let RequestState::Offered { to, deadline } = &self.state {
                    if now >= *deadline {
                        for i in to {
                            effects.push(Effect::OfferWithdrawn { to: i.clone(), reason: WithdrawReason::Expired });
                        }
                        self.offer_next(now, &mut effects);
                    }
                }
            }
            Command::InterpreterCancels { interpreter } => {
                if self.assigned() != Some(&interpreter) {
                    return Err(InterpretingError::NotAssigned(interpreter));
                }
                effects.push(Effect::Released { interpreter: interpreter.clone() });
                effects.push(Effect::SchedulerNotified(SchedulerNotice::InterpreterCancelled { interpreter }));
                self.offer_next(now, &mut effects);
            }
            Command::Cancel { reason } => {
                match &self.state {
                    RequestState::Cancelled => return Err(self.wrong_state("cancel")),
                    RequestState::Offered { to, .. } => {
                        for i in to {
                            effects.push(Effect::OfferWithdrawn {
                                to: i.clone(),
                                reason: WithdrawReason::RequestCancelled,
                            });
                        }
                    }
                    RequestState::Accepted { by } => {
                        effects.push(Effect::Released { interpreter: by.clone() });
                        effects.push(Effect::InterpreterNotified {
                            interpreter: by.clone(),
                            notice: InterpreterNotice::Released(reason),
                        });
                    }
                    RequestState::Open | RequestState::Exhausted => {}
                }
                self.state = RequestState::Cancelled;
            }
            Command::Restart { candidates } => {
                if self.state != RequestState::Exhausted {
                    return Err(self.wrong_state("restart"));
                }
                self.round += 1;
                self.offered.clear();
                self.queue = dedup(candidates, &BTreeSet::new());
                self.offer_next(now, &mut effects);
            }
        }
        Ok(effects)
    }

    /// Offers to the next group of candidates, or ends the round: `Offered`, or `Exhausted` with the scheduler
    /// told why.
    fn offer_next(&mut self, now: Millis, effects: &mut Vec<Effect>) {
        let Some(deadline) = response_deadline(now, self.appointment_start) else {
            self.state = RequestState::Exhausted;
            effects.push(Effect::SchedulerNotified(SchedulerNotice::TooLate));
            return;
        };
        let mut to = BTreeSet::new();
        while to.len() < self.mode.size() {
            let Some(next) = self.queue.pop_front() else { break };
            // The queue never holds someone offered in this round, but a restored request is checked anyway.
            if self.offered.insert(next.clone()) {
                effects.push(Effect::OfferSent { to: next.clone(), deadline });
                to.insert(next);
            }
        }
        if to.is_empty() {
            self.state = RequestState::Exhausted;
            effects.push(Effect::SchedulerNotified(SchedulerNotice::NobodyAccepted));
        } else {
            self.state = RequestState::Offered { to, deadline };
        }
    }

    fn wrong_state(&self, command: &'static str) -> InterpretingError {
        InterpretingError::WrongState { command, state: self.state.as_str() }
    }
}

/// The candidates in order, each once, without those in `skip`.
fn dedup(candidates: Vec<SubjectId>, skip: &BTreeSet<SubjectId>) -> VecDeque<SubjectId> {
    let mut seen = BTreeSet::new();
    candidates.into_iter().filter(|c| !skip.contains(c) && seen.insert(c.clone())).collect()
}
