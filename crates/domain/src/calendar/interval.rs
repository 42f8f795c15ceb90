//! UTC time as sets of half-open intervals: the arithmetic every calendar rule reduces to.
//!
//! Slot search never scans minute by minute. Availability, opening hours, busy time and fixed windows all become
//! an [`IntervalSet`] (sorted, disjoint, non-touching, half-open `[start, end)` in [`Millis`]), and the rules
//! become unions, intersections and differences of those sets, each a linear merge.

use crate::ids::Millis;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A length of time in milliseconds. Kept apart from [`Millis`] (an instant) by name only, so signatures say which
/// one they mean.
pub type DurationMs = u64;

/// One minute in milliseconds.
pub const MINUTE: DurationMs = 60_000;
/// One hour in milliseconds.
pub const HOUR: DurationMs = 60 * MINUTE;
/// One (24-hour) day in milliseconds. Local days around a DST change are 23 or 25 hours; see `zone`.
pub const DAY: DurationMs = 24 * HOUR;

/// A half-open span of UTC time, `[start, end)`. Empty when `end <= start`; an [`IntervalSet`] never holds an empty
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    pub start: Millis,
    pub end: Millis,
}

impl Interval {
    pub const fn new(start: Millis, end: Millis) -> Interval {
        Interval { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub fn len(&self) -> DurationMs {
        self.end.saturating_sub(self.start)
    }

    pub fn contains(&self, t: Millis) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether the two share at least one instant. Touching intervals (`a.end == b.start`) do not overlap: a
    /// booking may start the millisecond the previous one ends.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end && !self.is_empty() && !other.is_empty()
    }

    /// Whether `other` lies entirely inside `self`. An empty `other` is inside anything.
    pub fn covers(&self, other: &Interval) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// A set of instants stored as sorted, disjoint, non-touching, non-empty half-open intervals.
///
/// Touching intervals are merged (`[9,12) ∪ [12,16) = [9,16)`), so that an appointment may run across the seam
/// of two adjacent availability ranges. Every operation returns a normalised set, and every operation is a single
/// linear pass over both inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<Interval>", into = "Vec<Interval>")]
pub struct IntervalSet {
    spans: Vec<Interval>,
}

impl From<Vec<Interval>> for IntervalSet {
    fn from(spans: Vec<Interval>) -> Self {
        IntervalSet::from_intervals(spans)
    }
}

impl From<IntervalSet> for Vec<Interval> {
    fn from(set: IntervalSet) -> Self {
        set.spans
    }
}

impl FromIterator<Interval> for IntervalSet {
    fn from_iter<I: IntoIterator<Item = Interval>>(iter: I) -> Self {
        IntervalSet::from_intervals(iter.into_iter().collect())
    }
}

impl IntervalSet {
    pub const fn new() -> IntervalSet {
        IntervalSet { spans: Vec::new() }
    }

    /// A set from intervals in any order, overlapping or not; empty intervals are dropped.
    pub fn from_intervals(mut spans: Vec<Interval>) -> IntervalSet {
        spans.retain(|i| !i.is_empty());
        // The standard sort finds already-sorted runs in linear time, and materialised schedules arrive sorted.
        spans.sort_unstable();
        let mut out = IntervalSet { spans: Vec::with_capacity(spans.len()) };
        for i in spans {
            out.push_sorted(i);
        }
        out
    }

    /// A set holding one interval (or nothing, if it is empty).
    pub fn single(start: Millis, end: Millis) -> IntervalSet {
        IntervalSet::from_intervals(vec![Interval::new(start, end)])
    }

    /// Appends an interval that starts no earlier than every interval already in the set, merging it with the
    /// last one if they overlap or touch. The builder behind every operation here.
    fn push_sorted(&mut self, i: Interval) {
        if i.is_empty() {
            return;
        }
        match self.spans.last_mut() {
            Some(last) if i.start <= last.end => {
                debug_assert!(i.start >= last.start, "push_sorted out of order");
                last.end = last.end.max(i.end);
            }
            _ => self.spans.push(i),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The intervals, sorted and disjoint.
    pub fn intervals(&self) -> &[Interval] {
        &self.spans
    }

    pub fn iter(&self) -> impl Iterator<Item = Interval> + '_ {
        self.spans.iter().copied()
    }

    /// The total length of time in the set.
    pub fn total(&self) -> DurationMs {
        self.spans.iter().map(Interval::len).sum()
    }

    /// Index of the first interval whose end is after `t`: the only one that can contain `t` or lie after it.
    fn first_ending_after(&self, t: Millis) -> usize {
        self.spans.partition_point(|i| i.end <= t)
    }

    pub fn contains(&self, t: Millis) -> bool {
        self.spans.get(self.first_ending_after(t)).is_some_and(|i| i.start <= t)
    }

    /// Whether the whole interval lies inside the set. Since touching intervals are merged, this means inside one
    /// stored interval.
    pub fn covers(&self, i: &Interval) -> bool {
        if i.is_empty() {
            return true;
        }
        self.spans.get(self.first_ending_after(i.start)).is_some_and(|s| s.covers(i))
    }

    /// Whether any instant of the interval is in the set.
    pub fn overlaps(&self, i: &Interval) -> bool {
        !i.is_empty() && self.spans.get(self.first_ending_after(i.start)).is_some_and(|s| s.start < i.end)
    }

    pub fn union(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = IntervalSet { spans: Vec::with_capacity(self.spans.len() + other.spans.len()) };
        let (mut a, mut b) = (self.spans.iter().peekable(), other.spans.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.start <= y.start => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(i) = next {
                out.push_sorted(*i);
            }
        }
        out
    }

    /// The union of many sets at once: one sort instead of a chain of pairwise merges.
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a IntervalSet>) -> IntervalSet {
        IntervalSet::from_intervals(sets.into_iter().flat_map(|s| s.spans.iter().copied()).collect())
    }

    pub fn intersect(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = IntervalSet::new();
        let (mut i, mut j) = (0, 0);
        while i < self.spans.len() && j < other.spans.len() {
            let (x, y) = (self.spans[i], other.spans[j]);
            out.push_sorted(Interval::new(x.start.max(y.start), x.end.min(y.end)));
            // Whichever ends first can meet nothing further in the other list.
            if x.end <= y.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    /// The instants of `self` that are not in `other`.
    pub fn subtract(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = IntervalSet::new();
        let mut j = 0;
        for x in &self.spans {
            let mut cur = x.start;
            // Skip the holes that end before this interval starts; they can't touch later intervals either.
            while j < other.spans.len() && other.spans[j].end <= cur {
                j += 1;
            }
            let mut k = j;
            while k < other.spans.len() && other.spans[k].start < x.end {
                let hole = other.spans[k];
                out.push_sorted(Interval::new(cur, hole.start.min(x.end)));
                cur = cur.max(hole.end);
                k += 1;
            }
            out.push_sorted(Interval::new(cur, x.end));
            // The last hole may reach into the next interval, so resume from it rather than past it.
            j = k.saturating_sub(1).max(j);
        }
        out
    }

    /// Every interval widened: `[start - before, end + after)`, merged where they now meet. Saturates at the ends
    /// of time rather than wrapping.
    pub fn expand(&self, before: DurationMs, after: DurationMs) -> IntervalSet {
        let mut out = IntervalSet { spans: Vec::with_capacity(self.spans.len()) };
        for i in &self.spans {
            out.push_sorted(Interval::new(i.start.saturating_sub(before), i.end.saturating_add(after)));
        }
        out
    }

    /// The start instants `s` at which `[s, s + len)` fits inside the set: for each interval `[a, b)` at least
    /// `len` long, the starts `a ..= b - len`, stored half-open as `[a, b - len + 1)`.
    ///
    /// This turns "the appointment must lie inside X" into a set of starts, and since `[s, s+len) ⊆ X ∩ Y` exactly
    /// when it lies in both, `starts_fitting` of an intersection is the intersection of `starts_fitting`s: each
    /// resource's constraints can be reduced on its own.
    pub fn starts_fitting(&self, len: DurationMs) -> IntervalSet {
        let mut out = IntervalSet { spans: Vec::with_capacity(self.spans.len()) };
        for i in &self.spans {
            if i.len() >= len {
                out.push_sorted(Interval::new(i.start, i.end - len + 1));
            }
        }
        out
    }

    /// The set cut to `[start, end)`.
    pub fn clip(&self, start: Millis, end: Millis) -> IntervalSet {
        self.intersect(&IntervalSet::single(start, end))
    }
}

/// A forward-only membership test over an [`IntervalSet`] for ascending queries: amortised O(1) per query, used to
/// ask "is this resource free at `s`?" for every candidate start in time order.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    spans: &'a [Interval],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(set: &'a IntervalSet) -> Cursor<'a> {
        Cursor { spans: &set.spans, at: 0 }
    }

    /// Whether `t` is in the set. Queries must not go backwards in time.
    pub fn contains(&mut self, t: Millis) -> bool {
        while self.at < self.spans.len() && self.spans[self.at].end <= t {
            self.at += 1;
        }
        self.spans.get(self.at).is_some_and(|i| i.start <= t)
    }
}
