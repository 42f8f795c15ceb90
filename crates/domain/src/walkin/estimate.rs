//! The estimated wait of a walk-in ticket.
//!
//! Model: every qualified on-duty expert serves the queue one customer after another, each session lasting the
//! typical session length. An expert starts with their own free time (now, or when the session they are in is
//! expected to end) and cannot start a session that would run into one of their upcoming appointments: they take
//! the next customer after that appointment instead. The tickets ahead are served first come, first served by
//! whoever is free first. The ticket at position `k` then starts at the `k`-th earliest start among all the
//! experts' possible starts, and the estimate is that start minus now.
//!
//! Because every session has the same length, each expert's sequence of possible starts does not depend on who
//! takes which ticket, so that `k`-th earliest start is exactly what first-free-takes-next gives. It follows that
//! the estimate never decreases with the position, never increases when an expert is added (more starts to choose
//! from), never decreases when an expert gets an appointment (their starts only move later), and is zero for the
//! first ticket when an expert is free now.

use crate::calendar::{DurationMs, Interval};
use crate::ids::Millis;

/// Positions beyond this are estimated as this one: the estimate stays cheap however long the queue.
pub const MAX_POSITION: u32 = 1_000;

/// One qualified on-duty expert's time as the estimate needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpertTimes {
    /// When they can take the next customer: now or earlier when free, else the expected end of their session.
    pub free_at: Millis,
    /// Their upcoming appointments (with buffers): no walk-in session of theirs may overlap one.
    pub blocked: Vec<Interval>,
}

impl ExpertTimes {
    /// The earliest `t >= from` such that `[t, t + length)` overlaps none of their appointments, if any.
    fn next_start(&self, from: Millis, length: DurationMs) -> Option<Millis> {
        let mut t = from;
        // Each pass either finds a free start or moves past one appointment, so the loop ends within
        // `blocked.len() + 1` passes.
        for _ in 0..=self.blocked.len() {
            let end = t.checked_add(length)?;
            match self.blocked.iter().filter(|b| !b.is_empty() && b.start < end && t < b.end).map(|b| b.end).max() {
                None => return Some(t),
                Some(after) => t = after,
            }
        }
        let end = t.checked_add(length)?;
        (!self.blocked.iter().any(|b| !b.is_empty() && b.start < end && t < b.end)).then_some(t)
    }
}

/// The estimated wait in milliseconds of the ticket at `position` (1 = next) with these qualified on-duty experts
/// and a typical session of `typical` (at least one millisecond is used). `None` when nobody can take it: no
/// expert on duty, or none free before the end of time. See the module docs for the model.
pub fn estimate_wait(now: Millis, position: u32, experts: &[ExpertTimes], typical: DurationMs) -> Option<DurationMs> {
    let typical = typical.max(1);
    let position = position.clamp(1, MAX_POSITION);
    let mut next: Vec<Option<Millis>> = experts.iter().map(|e| e.next_start(e.free_at.max(now), typical)).collect();
    for served in 1..=position {
        let (i, start) = next.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i, s))).min_by_key(|&(i, s)| (s, i))?;
        if served == position {
            return Some(start.saturating_sub(now));
        }
        next[i] = start.checked_add(typical).and_then(|t| experts[i].next_start(t, typical));
    }
    None
}
