//! Recurring local-time rules — an expert's weekly availability, a service point's opening hours, an agency's
//! fixed service windows — and their dated exceptions, turned into UTC [`IntervalSet`]s for a run of days.
//!
//! People write these in Helsinki wall time ("Mon 09:00–16:00", "closed on 24 Dec"); the conversion to UTC happens
//! here once per search, per the DST policy of [`super::zone`].
//!
//! Per day, the rules apply in this order: the weekly ranges for the weekday; then, if the schedule closes on
//! public holidays and the day is one, nothing; then the day's dated exceptions, in the order listed. Exceptions
//! come last on purpose: a dated entry is the most specific thing anyone wrote, so an office that really opens on
//! a holiday can say so.

use super::interval::{Interval, IntervalSet};
use super::zone::{LocalDay, LocalDays, LocalTime};
use super::CalendarError;
use chrono::{NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// A wall-clock range within one day, `[start, end)`, `start < end`. Ranges cannot cross midnight: a night shift
/// is two ranges on two days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange")]
pub struct LocalRange {
    start: LocalTime,
    end: LocalTime,
}

#[derive(Deserialize)]
struct RawRange {
    start: LocalTime,
    end: LocalTime,
}

impl TryFrom<RawRange> for LocalRange {
    type Error = CalendarError;
    fn try_from(r: RawRange) -> Result<LocalRange, CalendarError> {
        LocalRange::new(r.start, r.end)
    }
}

impl LocalRange {
    pub fn new(start: LocalTime, end: LocalTime) -> Result<LocalRange, CalendarError> {
        if start < end {
            Ok(LocalRange { start, end })
        } else {
            Err(CalendarError::EmptyRange { start, end })
        }
    }

    /// `h1:m1–h2:m2`. Panics when invalid: for constants and tests.
    pub fn hm(h1: u32, m1: u32, h2: u32, m2: u32) -> LocalRange {
        LocalRange::new(LocalTime::hm(h1, m1), LocalTime::hm(h2, m2)).expect("valid local range")
    }

    pub fn start(&self) -> LocalTime {
        self.start
    }

    pub fn end(&self) -> LocalTime {
        self.end
    }

    /// The UTC interval of this range on a day (possibly empty, when it lies wholly in the spring gap).
    pub fn on(&self, day: &LocalDay) -> Interval {
        Interval::new(day.at(self.start), day.at(self.end))
    }
}

/// A weekly recurring range: "every Tuesday 09:00–11:00".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WeeklyRange {
    pub weekday: Weekday,
    #[serde(flatten)]
    pub range: LocalRange,
}

impl WeeklyRange {
    pub fn new(weekday: Weekday, range: LocalRange) -> WeeklyRange {
        WeeklyRange { weekday, range }
    }
}

/// What a dated exception does to that day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change", content = "ranges")]
pub enum ExceptionChange {
    /// Available in these ranges too (an extra shift).
    Extra(Vec<LocalRange>),
    /// Not available in these ranges (a dentist's appointment, a training).
    Unavailable(Vec<LocalRange>),
    /// Not available at all (leave, sick day).
    DayOff,
    /// These ranges instead of the weekly ones (shortened hours on the eve of a holiday).
    Replace(Vec<LocalRange>),
}

/// A change to one date's availability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateException {
    pub date: NaiveDate,
    #[serde(flatten)]
    pub change: ExceptionChange,
}

/// A weekly pattern with dated exceptions, in Helsinki wall time. Used for an expert's or interpreter's
/// availability, a device's bookable hours, and a service point's opening hours ([`OpeningHours`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    pub weekly: Vec<WeeklyRange>,
    #[serde(default)]
    pub exceptions: Vec<DateException>,
    /// Whether Finnish public holidays ([`super::holidays`]) are closed. True for everything in the public sector;
    /// a dated exception can still open a holiday on purpose.
    #[serde(default = "yes")]
    pub closed_on_holidays: bool,
}

fn yes() -> bool {
    true
}

/// A service point's opening hours: a [`Schedule`], normally closed on public holidays. The device of a service
/// point can only be booked while the point is open.
pub type OpeningHours = Schedule;

/// Local minutes of one day, as an interval set over minute numbers (the same arithmetic, a different unit).
fn minute_set(ranges: &[LocalRange]) -> IntervalSet {
    ranges.iter().map(|r| Interval::new(u64::from(r.start.minutes()), u64::from(r.end.minutes()))).collect()
}

impl Schedule {
    /// The same ranges every week, closed on holidays, no exceptions.
    pub fn weekly(weekly: Vec<WeeklyRange>) -> Schedule {
        Schedule { weekly, exceptions: Vec::new(), closed_on_holidays: true }
    }

    /// `ranges` on each of `weekdays`, closed on holidays: the common "Mon–Fri 8–16" case.
    pub fn on_days(weekdays: &[Weekday], ranges: &[LocalRange]) -> Schedule {
        Schedule::weekly(weekdays.iter().flat_map(|&w| ranges.iter().map(move |&r| WeeklyRange::new(w, r))).collect())
    }

    pub fn with_exception(mut self, date: NaiveDate, change: ExceptionChange) -> Schedule {
        self.exceptions.push(DateException { date, change });
        self
    }

    /// The wall-clock minutes of one date, after weekly ranges, holidays and exceptions.
    fn local_minutes(&self, day: &LocalDay, weekly: &[IntervalSet; 7], exceptions: &[&DateException]) -> IntervalSet {
        let mut minutes = if self.closed_on_holidays && day.holiday.is_some() {
            IntervalSet::new()
        } else {
            weekly[day.weekday.num_days_from_monday() as usize].clone()
        };
        for e in exceptions.iter().filter(|e| e.date == day.date) {
            minutes = match &e.change {
                ExceptionChange::Extra(r) => minutes.union(&minute_set(r)),
                ExceptionChange::Unavailable(r) => minutes.subtract(&minute_set(r)),
                ExceptionChange::DayOff => IntervalSet::new(),
                ExceptionChange::Replace(r) => minute_set(r),
            };
        }
        minutes
    }

    /// The schedule as UTC instants over `days`.
    pub fn to_utc(&self, days: &LocalDays) -> IntervalSet {
        // Normalise each weekday's ranges once (overlaps merged, sorted), not once per date.
        let mut per_weekday: [Vec<LocalRange>; 7] = Default::default();
        for w in &self.weekly {
            per_weekday[w.weekday.num_days_from_monday() as usize].push(w.range);
        }
        let weekly: [IntervalSet; 7] = per_weekday.map(|r| minute_set(&r));
        let (from, to) = (days.first_date(), days.last_date());
        let exceptions: Vec<&DateException> =
            self.exceptions.iter().filter(|e| e.date >= from && e.date <= to).collect();

        let mut out = Vec::new();
        for day in days.days() {
            let plain =
                exceptions.iter().all(|e| e.date != day.date) && !(self.closed_on_holidays && day.holiday.is_some());
            let owned;
            let minutes = if plain {
                &weekly[day.weekday.num_days_from_monday() as usize]
            } else {
                owned = self.local_minutes(day, &weekly, &exceptions);
                &owned
            };
            for m in minutes.iter() {
                // Minute values are at most 24·60, so these conversions cannot fail.
                let start = LocalTime::from_minutes(m.start as u32).expect("minute of day");
                let end = LocalTime::from_minutes(m.end as u32).expect("minute of day");
                out.push(Interval::new(day.at(start), day.at(end)));
            }
        }
        // Days come in order and the wall-time mapping is monotonic, so this is already sorted; from_intervals
        // only merges a range ending at 24:00 with one starting at 00:00 the next day.
        IntervalSet::from_intervals(out)
    }
}
