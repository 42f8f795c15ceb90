//! The walk-in queue, the pure half: a service point asks an agency for the next free expert (a queue
//! **ticket**, *vuoronumero*), the agency's on-duty experts see the tickets they can take, the first to accept
//! gets the customer, and the service point sees its position and an estimated wait.
//!
//! - [`ticket`]: the ticket's states and the transitions between them ([`Ticket::apply`]): who may accept, when
//!   the session opens (once an expert and, when asked, an interpreter have accepted), how a ticket ends.
//! - [`queue`]: routing by the agency's rule ([`route`]), who can take a ticket ([`Taker::can_take`]), queue order
//!   (first come, first served per agency) and a ticket's position.
//! - [`estimate`]: the estimated wait, a pure function of the position, the qualified on-duty experts' free
//!   times and upcoming appointments, and a typical session length.
//!
//! The store (`vayla-store`'s `walkin`) persists tickets and holds the database guarantees (one open ticket per
//! device; racing accepts end with one expert); the server drives both and owns the timeouts.

pub mod estimate;
pub mod queue;
pub mod ticket;

#[cfg(test)]
mod tests;

pub use estimate::{estimate_wait, ExpertTimes, MAX_POSITION};
pub use queue::{position, queue_for, route, QueuedTicket, RouteRefusal, Taker};
pub use ticket::{CloseReason, Ticket, TicketError, TicketEvent, TicketStatus};
