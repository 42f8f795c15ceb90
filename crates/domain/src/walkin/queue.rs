//! Routing and queue order.
//!
//! - **Routing** ([`route`]): an agency that takes customers by appointment only (`appointment_only`, and
//!   `fixed_windows`, which is appointments inside fixed windows) refuses walk-in tickets; the caller offers a
//!   booking instead.
//! - **Who can take a ticket** ([`Taker::can_take`]): an expert of the ticket's agency who handles the named
//!   service (any service when none is named), and who speaks the customer's language unless an interpreter was
//!   asked; an interpreter who serves the asked interpreting language. Languages compare as BCP 47 tags, without
//!   regard to case.
//! - **Order**: first come, first served per agency, by creation time, ties by ticket id (so two server nodes
//!   agree). A taker sees, in that order, the tickets they can take that still want their side.
//! - **Position**: 1 + the number of tickets of the same agency, created earlier, that still want an expert.

use super::ticket::Ticket;
use crate::calendar::AgencyRule;
use crate::ids::Millis;
use serde::{Deserialize, Serialize};

/// Why an agency refuses a walk-in ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteRefusal {
    #[error("this agency serves by appointment only; book a time instead")]
    AppointmentOnly,
}

/// Whether an agency with this rule takes walk-in tickets.
pub fn route(rule: &AgencyRule) -> Result<(), RouteRefusal> {
    match rule {
        AgencyRule::WalkInAndAppointment => Ok(()),
        AgencyRule::AppointmentOnly | AgencyRule::FixedWindows(_) => Err(RouteRefusal::AppointmentOnly),
    }
}

/// A ticket as the queue needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedTicket {
    pub id: String,
    pub agency: String,
    pub service: Option<String>,
    /// The customer's language (BCP 47).
    pub language: String,
    /// The language to interpret, when an interpreter was asked.
    pub interpreter_language: Option<String>,
    pub created_at: Millis,
    pub state: Ticket,
}

/// Someone who takes tickets from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taker {
    Expert {
        agency: String,
        /// The services they handle; `None` means every service of their agency.
        services: Option<Vec<String>>,
        languages: Vec<String>,
    },
    Interpreter {
        languages: Vec<String>,
    },
}

fn speaks(languages: &[String], tag: &str) -> bool {
    languages.iter().any(|l| l.eq_ignore_ascii_case(tag))
}

impl Taker {
    /// Whether they qualify for the ticket at all (whatever its state).
    pub fn qualifies(&self, t: &QueuedTicket) -> bool {
        match self {
            Taker::Expert { agency, services, languages } => {
                let service_ok = match (&t.service, services) {
                    (None, _) | (Some(_), None) => true,
                    (Some(s), Some(handled)) => handled.iter().any(|h| h == s),
                };
                *agency == t.agency
                    && service_ok
                    && (t.interpreter_language.is_some() || speaks(languages, &t.language))
            }
            Taker::Interpreter { languages } => t.interpreter_language.as_deref().is_some_and(|l| speaks(languages, l)),
        }
    }

    /// Whether they may accept the ticket now: they qualify and it still wants their side.
    pub fn can_take(&self, t: &QueuedTicket) -> bool {
        let wanted = match self {
            Taker::Expert { .. } => t.state.wants_expert(),
            Taker::Interpreter { .. } => t.state.wants_interpreter(),
        };
        wanted && self.qualifies(t)
    }
}

fn order_key(t: &QueuedTicket) -> (Millis, &str) {
    (t.created_at, t.id.as_str())
}

/// The tickets `taker` can take now, first come first served.
pub fn queue_for<'t>(tickets: &'t [QueuedTicket], taker: &Taker) -> Vec<&'t QueuedTicket> {
    let mut out: Vec<&QueuedTicket> = tickets.iter().filter(|t| taker.can_take(t)).collect();
    out.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    out
}

/// The ticket's place in its agency's queue for an expert, from 1; `None` once it no longer wants an expert
/// (or is not among `tickets`).
pub fn position(tickets: &[QueuedTicket], id: &str) -> Option<u32> {
    let me = tickets.iter().find(|t| t.id == id)?;
    if !me.state.wants_expert() {
        return None;
    }
    let ahead = tickets
        .iter()
        .filter(|t| t.agency == me.agency && t.state.wants_expert() && order_key(t) < order_key(me))
        .count();
    Some(u32::try_from(ahead).unwrap_or(u32::MAX - 1) + 1)
}
