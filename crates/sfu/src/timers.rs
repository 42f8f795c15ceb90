//! When each peer next needs time, ordered, so a timeout wakes only the peers that are due.
//!
//! Waking every `Rtc` on every timeout is what makes a naive loop cost grow with the number of peers; here a
//! timeout costs O(due · log n). Each peer has at most one entry: the owner passes the previous deadline when
//! rescheduling, so stale entries are removed eagerly instead of being skipped later.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::PeerId;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    due: BTreeSet<(Instant, PeerId)>,
}

impl Timers {
    /// Moves `peer` from `old` (its previous deadline, if any) to `new`.
    pub(crate) fn reschedule(&mut self, peer: PeerId, old: Option<Instant>, new: Instant) {
        if old == Some(new) {
            return;
        }
        if let Some(old) = old {
            self.due.remove(&(old, peer));
        }
        self.due.insert((new, peer));
    }

    pub(crate) fn cancel(&mut self, peer: PeerId, old: Option<Instant>) {
        if let Some(old) = old {
            self.due.remove(&(old, peer));
        }
    }

    /// The earliest deadline of any peer.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.due.first().map(|(t, _)| *t)
    }

    /// Removes and returns the peers due at `now`, earliest first, into `out`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<PeerId>) {
        while let Some(&(t, peer)) = self.due.first() {
            if t > now {
                break;
            }
            self.due.pop_first();
            out.push(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_due_peers_are_taken_and_rescheduling_replaces() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::default();
        timers.reschedule(1, None, ms(10));
        timers.reschedule(2, None, ms(5));
        timers.reschedule(3, None, ms(30));
        timers.reschedule(1, Some(ms(10)), ms(40));
        assert_eq!(timers.earliest(), Some(ms(5)));

        let mut due = vec![];
        timers.take_due(ms(30), &mut due);
        assert_eq!(due, vec![2, 3]);
        assert_eq!(timers.earliest(), Some(ms(40)));

        timers.cancel(1, Some(ms(40)));
        assert_eq!(timers.earliest(), None);
    }
}
