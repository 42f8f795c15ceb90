//! Slot search: the times at which a device, an expert and (when needed) an interpreter are all free for a service,
//! and a direct check of one proposed booking.
//!
//! A start `s` is a slot for a device `d`, expert `e` and interpreter `i` when:
//! - the appointment `[s, s + duration)` lies inside each one's `available` time, inside the search's days, off
//!   public holidays (unless the query allows them), and inside a fixed window if the agency rule has them;
//! - the buffered span `[s - buffer_before, s + duration + buffer_after)` overlaps none of their `busy` time
//!   (existing bookings are busy including their own buffers, so back-to-back bookings keep both buffers);
//! - `now + min_notice <= s <= now + horizon`;
//! - `s` is on the step grid: a whole multiple of `step` after local midnight by the wall clock (09:00, 09:15, …),
//!   skipping starts that fall in the spring DST gap (see [`super::zone`]).
//!
//! How it stays fast: nothing is scanned minute by minute. "The appointment lies inside X" becomes a set of allowed
//! starts ([`IntervalSet::starts_fitting`]), and "the buffered span misses busy time `[p, q)`" becomes "the
//! appointment misses `[p - buffer_after, q + buffer_before)`" ([`IntervalSet::expand`]). Both are per resource,
//! and nothing couples two resources, so each resource reduces to one set of allowed starts `F_r`. A start is a
//! slot when some device, some expert and some interpreter have it in their `F_r`; the union per kind, intersected
//! across kinds, gives the candidate starts, and only those grid points are visited, with one forward cursor per
//! resource answering "free at `s`?" in amortised constant time.

use super::interval::{Cursor, DurationMs, Interval, IntervalSet, MINUTE};
use super::model::{AgencyRule, ResourceCalendar, ResourceKey, Service};
use super::zone::{LocalDays, LocalTime};
use super::CalendarError;
use crate::ids::Millis;
use serde::{Deserialize, Serialize};

/// Which resources a slot reports as free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Every free candidate of each kind: the scheduler chooses, or the store tries them in turn.
    AllFree,
    /// The first free candidate of each kind, in the order given: candidates listed by preference (a named expert
    /// first, then stand-ins) make this "the best free one".
    FirstFree,
}

/// The rules of one search. The date range is the [`LocalDays`] passed alongside, shared with the calendars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotQuery {
    pub service: Service,
    pub rule: AgencyRule,
    /// The moment of the search, for notice and horizon. The caller owns the clock.
    pub now: Millis,
    /// The grid of offered starts; a whole number of minutes.
    pub step: DurationMs,
    pub pick: Pick,
    /// Whether appointments may touch a Finnish public holiday. False for every public service; a
    /// resource's own schedule is closed on holidays too unless it says otherwise.
    #[serde(default)]
    pub allow_holidays: bool,
    /// Stop after this many slots ("the next free time" is `Some(1)`).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl SlotQuery {
    /// A query with all free candidates reported, holidays closed and no limit.
    pub fn new(service: Service, rule: AgencyRule, now: Millis, step: DurationMs) -> SlotQuery {
        SlotQuery { service, rule, now, step, pick: Pick::AllFree, allow_holidays: false, limit: None }
    }

    fn validate(&self) -> Result<(), CalendarError> {
        if self.step < MINUTE || !self.step.is_multiple_of(MINUTE) || self.step > 24 * 60 * MINUTE {
            return Err(CalendarError::BadStep(self.step));
        }
        if self.service.duration == 0 {
            return Err(CalendarError::ZeroDuration(self.service.id.clone()));
        }
        Ok(())
    }

    /// Earliest and latest allowed start by notice and horizon, both inclusive.
    fn start_bounds(&self) -> (Millis, Millis) {
        (self.now.saturating_add(self.service.min_notice), self.now.saturating_add(self.service.horizon))
    }
}

/// The resources to search among. Each list is in preference order; a slot names them by index into it.
#[derive(Debug, Clone, Copy)]
pub struct Candidates<'a> {
    /// Devices, possibly of several service points.
    pub devices: &'a [ResourceCalendar],
    /// Experts: one named expert, or every expert of the agency who handles the service.
    pub experts: &'a [ResourceCalendar],
    /// `None` when no interpreter is needed; `Some` (possibly empty, then there are no slots) when one is.
    pub interpreters: Option<&'a [ResourceCalendar]>,
}

impl<'a> Candidates<'a> {
    /// The key of the resource at `index` in a slot's list for `kind`.
    pub fn device(&self, index: u32) -> &'a ResourceKey {
        &self.devices[index as usize].key
    }

    pub fn expert(&self, index: u32) -> &'a ResourceKey {
        &self.experts[index as usize].key
    }

    pub fn interpreter(&self, index: u32) -> Option<&'a ResourceKey> {
        self.interpreters.map(|i| &i[index as usize].key)
    }
}

/// A free time: the appointment `[start, end)` in UTC, and the candidates free for it, as indices into
/// [`Candidates`] (indices, not keys, so that a 200-expert search does not clone 200 ids per slot). Any device
/// with any expert and any interpreter listed is a valid booking. `interpreters` is empty when none is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub start: Millis,
    pub end: Millis,
    pub devices: Vec<u32>,
    pub experts: Vec<u32>,
    pub interpreters: Vec<u32>,
}

/// Why a proposed booking is not possible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefusal {
    #[error("too soon: the earliest start is {earliest}")]
    TooSoon { earliest: Millis },
    #[error("too far ahead: the latest start is {latest}")]
    BeyondHorizon { latest: Millis },
    #[error("outside the searched days")]
    OutsideDays,
    #[error("on a public holiday")]
    Holiday,
    #[error("outside the agency's service windows")]
    OutsideWindows,
    #[error("{0} is not available then")]
    Unavailable(ResourceKey),
    #[error("{0} is already busy then")]
    Busy(ResourceKey),
}

/// The starts allowed by the rules that do not depend on any resource: notice, horizon, searched days, holidays
/// and fixed windows.
fn common_starts(query: &SlotQuery, days: &LocalDays) -> IntervalSet {
    let (span_start, span_end) = days.span();
    let mut container = if query.allow_holidays {
        IntervalSet::single(span_start, span_end)
    } else {
        days.days().iter().filter(|d| d.holiday.is_none()).map(|d| Interval::new(d.start, d.end)).collect()
    };
    if let Some(windows) = query.rule.windows(days) {
        container = container.intersect(&windows);
    }
    let (earliest, latest) = query.start_bounds();
    container.starts_fitting(query.service.duration).clip(earliest, latest.saturating_add(1))
}

/// One resource's allowed starts `F_r` (see the module doc), within the common ones.
fn resource_starts(r: &ResourceCalendar, service: &Service, common: &IntervalSet) -> IntervalSet {
    // The buffered span misses busy [p, q) exactly when the appointment misses [p - after, q + before).
    let blocked = r.busy.expand(service.buffer_after, service.buffer_before);
    r.available.subtract(&blocked).starts_fitting(service.duration).intersect(common)
}

/// The step-grid starts that lie in `set`, in time order.
fn grid_starts<'s>(set: &'s IntervalSet, days: &'s LocalDays, step: DurationMs) -> impl Iterator<Item = Millis> + 's {
    let step_min = (step / MINUTE) as u32;
    days.days().iter().flat_map(move |day| {
        let in_day = set.clip(day.start, day.end);
        let mut starts = Vec::new();
        if in_day.is_empty() {
            return starts.into_iter();
        }
        if day.has_clock_change() {
            // Twice a year: walk the wall clock and let the zone policy skip the gap and the fold's second pass.
            starts.extend(
                (0..24 * 60)
                    .step_by(step_min as usize)
                    .filter_map(|m| day.slot_start(LocalTime::from_minutes(m).expect("minute of day")))
                    .filter(|&s| in_day.contains(s)),
            );
        } else {
            for i in in_day.iter() {
                // First grid point at or after i.start, counted from local midnight.
                let k = (i.start - day.start).div_ceil(step);
                let mut s = day.start + k * step;
                while s < i.end {
                    starts.push(s);
                    s += step;
                }
            }
        }
        starts.into_iter()
    })
}

/// Every free slot over `days` for the query and candidates, in time order.
pub fn find_slots(
    query: &SlotQuery,
    days: &LocalDays,
    candidates: &Candidates<'_>,
) -> Result<Vec<Slot>, CalendarError> {
    query.validate()?;
    let common = common_starts(query, days);
    let reduce = |list: &[ResourceCalendar]| -> Vec<IntervalSet> {
        list.iter().map(|r| resource_starts(r, &query.service, &common)).collect()
    };
    let devices = reduce(candidates.devices);
    let experts = reduce(candidates.experts);
    let interpreters = candidates.interpreters.map(reduce);

    // Candidate starts: some device, some expert and (when needed) some interpreter can take them.
    let mut possible = IntervalSet::union_all(&devices).intersect(&IntervalSet::union_all(&experts));
    if let Some(interpreters) = &interpreters {
        possible = possible.intersect(&IntervalSet::union_all(interpreters));
    }

    fn cursors(sets: &[IntervalSet]) -> Vec<Cursor<'_>> {
        sets.iter().map(Cursor::new).collect()
    }
    let mut device_cur = cursors(&devices);
    let mut expert_cur = cursors(&experts);
    let mut interp_cur = interpreters.as_deref().map(cursors).unwrap_or_default();
    let free_at = |cur: &mut [Cursor<'_>], s: Millis| -> Vec<u32> {
        match query.pick {
            Pick::AllFree => (0..cur.len() as u32).filter(|&i| cur[i as usize].contains(s)).collect(),
            Pick::FirstFree => (0..cur.len() as u32).find(|&i| cur[i as usize].contains(s)).into_iter().collect(),
        }
    };

    let limit = query.limit.unwrap_or(usize::MAX);
    let mut slots = Vec::new();
    for s in grid_starts(&possible, days, query.step) {
        if slots.len() >= limit {
            break;
        }
        let slot = Slot {
            start: s,
            end: s + query.service.duration,
            devices: free_at(&mut device_cur, s),
            experts: free_at(&mut expert_cur, s),
            interpreters: free_at(&mut interp_cur, s),
        };
        // `possible` guarantees one of each; the check keeps a slot without, say, a device impossible by
        // construction rather than by argument.
        let interpreter_ok = interpreters.is_none() || !slot.interpreters.is_empty();
        if !slot.devices.is_empty() && !slot.experts.is_empty() && interpreter_ok {
            slots.push(slot);
        }
    }
    Ok(slots)
}

/// Whether a booking at `start` with these resources is possible, checked directly against every rule rather
/// than through the search's start sets. The store calls this inside the booking transaction (a slot found a
/// moment ago may be gone), and the tests use it as the search's independent oracle. The step grid is not
/// checked: it shapes what the search offers, not what may be booked.
pub fn check_slot(
    query: &SlotQuery,
    days: &LocalDays,
    start: Millis,
    device: &ResourceCalendar,
    expert: &ResourceCalendar,
    interpreter: Option<&ResourceCalendar>,
) -> Result<(), SlotRefusal> {
    let (earliest, latest) = query.start_bounds();
    if start < earliest {
        return Err(SlotRefusal::TooSoon { earliest });
    }
    if start > latest {
        return Err(SlotRefusal::BeyondHorizon { latest });
    }
    let appointment = query.service.appointment(start);
    let (span_start, span_end) = days.span();
    if !Interval::new(span_start, span_end).covers(&appointment) {
        return Err(SlotRefusal::OutsideDays);
    }
    if !query.allow_holidays
        && days.days().iter().any(|d| d.holiday.is_some() && Interval::new(d.start, d.end).overlaps(&appointment))
    {
        return Err(SlotRefusal::Holiday);
    }
    if let Some(windows) = query.rule.windows(days) {
        if !windows.covers(&appointment) {
            return Err(SlotRefusal::OutsideWindows);
        }
    }
    let buffered = query.service.busy_span(start);
    for r in [Some(device), Some(expert), interpreter].into_iter().flatten() {
        if !r.available.covers(&appointment) {
            return Err(SlotRefusal::Unavailable(r.key.clone()));
        }
        if r.busy.overlaps(&buffered) {
            return Err(SlotRefusal::Busy(r.key.clone()));
        }
    }
    Ok(())
}
