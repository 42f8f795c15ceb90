//! Europe/Helsinki wall-clock time and its mapping to UTC instants.
//!
//! **One time-zone database for the whole program:** `chrono-tz` 0.10.4 (pinned with `=` in the workspace
//! `Cargo.toml`), which compiles in IANA **tzdata 2025b** ([`TZDATA_VERSION`], checked by a test so that an
//! upgrade is a deliberate act). Every instant the calendar returns or stores is UTC [`Millis`]; local time exists
//! only in rules people write ("Tue 09:00–11:00") and is converted here, nowhere else.
//!
//! Finland changes clocks at 03:00 local time on the last Sunday of March (03:00 EET → 04:00 EEST, UTC+2 → UTC+3)
//! and at 04:00 local on the last Sunday of October (04:00 EEST → 03:00 EET). Two kinds of wall time are therefore
//! not one instant, and are handled on purpose:
//! - **Nonexistent** (spring gap, 03:00–03:59 on the March Sunday): mapped to the instant the gap ends (01:00 UTC,
//!   shown as 04:00). A range `03:30–05:00` that day so becomes `04:00–05:00`; a range inside the gap becomes
//!   empty. Slot starts in the gap are **skipped**, not shifted, so no two grid starts coincide.
//! - **Ambiguous** (autumn fold, 03:00–03:59 on the October Sunday happens twice): the **earlier** instant (still
//!   EEST, UTC+3) is taken, for range ends and slot starts alike. The second pass through that hour offers no slot
//!   starts.
//!
//! Both rules keep the mapping monotonic (a later wall time never maps to an earlier instant), which is what lets a
//! day's sorted local ranges become sorted UTC intervals without re-sorting.

use super::holidays::{finnish_holiday, FinnishHoliday};
use super::interval::{DurationMs, DAY, MINUTE};
use super::CalendarError;
use crate::ids::Millis;
use chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The one time zone of Väylä's rules.
pub const HELSINKI: Tz = chrono_tz::Europe::Helsinki;

/// The IANA tzdata release compiled into the pinned `chrono-tz`.
pub const TZDATA_VERSION: &str = chrono_tz::IANA_TZDB_VERSION;

/// The longest date range one [`LocalDays`] may span: a booking horizon beyond a year is a mistake, and the bound
/// keeps one request from asking for unbounded work.
pub const MAX_DAYS: usize = 400;

/// A wall-clock time of day in Helsinki at minute resolution, `00:00` to `24:00` inclusive. `24:00` exists so that a
/// range can run to the end of the day ("20:00–24:00"); written and read as `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime(u16);

impl LocalTime {
    pub const MIDNIGHT: LocalTime = LocalTime(0);
    pub const END_OF_DAY: LocalTime = LocalTime(24 * 60);

    pub fn new(hour: u32, minute: u32) -> Result<LocalTime, CalendarError> {
        if minute < 60 && (hour < 24 || (hour == 24 && minute == 0)) {
            Ok(LocalTime((hour * 60 + minute) as u16))
        } else {
            Err(CalendarError::InvalidLocalTime(format!("{hour:02}:{minute:02}")))
        }
    }

    /// `hh:mm`. Panics when invalid: for constants and tests.
    pub fn hm(hour: u32, minute: u32) -> LocalTime {
        LocalTime::new(hour, minute).expect("valid local time")
    }

    pub fn from_minutes(minutes: u32) -> Result<LocalTime, CalendarError> {
        LocalTime::new(minutes / 60, minutes % 60)
    }

    /// Minutes since local midnight, by the wall clock.
    pub fn minutes(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for LocalTime {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<LocalTime, CalendarError> {
        let bad = || CalendarError::InvalidLocalTime(s.to_string());
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        LocalTime::new(h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).map_err(|_| bad())
    }
}

impl TryFrom<String> for LocalTime {
    type Error = CalendarError;
    fn try_from(s: String) -> Result<LocalTime, CalendarError> {
        s.parse()
    }
}

impl From<LocalTime> for String {
    fn from(t: LocalTime) -> String {
        t.to_string()
    }
}

fn naive(date: NaiveDate, time: LocalTime) -> NaiveDateTime {
    let day = if time == LocalTime::END_OF_DAY { date.succ_opt().unwrap_or(date) } else { date };
    let m = time.minutes() % (24 * 60);
    day.and_hms_opt(m / 60, m % 60, 0).expect("minute of day is valid")
}

fn to_millis(t: chrono::DateTime<Tz>) -> Millis {
    // Väylä's calendar lives after 1970; clamp anything earlier rather than wrap.
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

/// How a wall time relates to real instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalInstant {
    /// The usual case.
    Single(Millis),
    /// In the autumn fold: the earlier (summer time) and the later (standard time) instant.
    Ambiguous { earlier: Millis, later: Millis },
    /// In the spring gap; `gap_end` is the instant the clocks jumped at.
    Nonexistent { gap_end: Millis },
}

impl LocalInstant {
    /// The calendar's policy in one place: the earlier of an ambiguous pair, the end of a gap.
    pub fn resolve(self) -> Millis {
        match self {
            LocalInstant::Single(t) => t,
            LocalInstant::Ambiguous { earlier, .. } => earlier,
            LocalInstant::Nonexistent { gap_end } => gap_end,
        }
    }
}

/// What Helsinki's wall time `date time` is in UTC, without applying any policy.
pub fn classify_local(date: NaiveDate, time: LocalTime) -> LocalInstant {
    let local = naive(date, time);
    match HELSINKI.from_local_datetime(&local) {
        LocalResult::Single(t) => LocalInstant::Single(to_millis(t)),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (to_millis(a), to_millis(b));
            LocalInstant::Ambiguous { earlier: a.min(b), later: a.max(b) }
        }
        LocalResult::None => {
            // Walk the wall clock forward a minute at a time to the first time that exists: its instant is where
            // the gap ends. Helsinki's gap is one hour, so this is at most 60 steps, twice a year.
            let mut probe = local;
            for _ in 0..(26 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = HELSINKI.from_local_datetime(&probe).earliest() {
                    return LocalInstant::Nonexistent { gap_end: to_millis(t) };
                }
            }
            unreachable!("no time zone has a gap longer than a day")
        }
    }
}

/// Helsinki's wall time `date time` as a UTC instant, by the policy in the module doc.
pub fn local_to_utc(date: NaiveDate, time: LocalTime) -> Millis {
    classify_local(date, time).resolve()
}

/// The Helsinki calendar date of a UTC instant.
pub fn local_date(t: Millis) -> NaiveDate {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    HELSINKI.timestamp_millis_opt(t).single().map(|d| d.date_naive()).unwrap_or(NaiveDate::MAX)
}

/// Helsinki's offset from UTC at an instant, in minutes (120 in winter, 180 in summer).
pub fn utc_offset_minutes(t: Millis) -> i32 {
    use chrono::Offset;
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    HELSINKI.timestamp_millis_opt(t).single().map(|d| d.offset().fix().local_minus_utc() / 60).unwrap_or(0)
}

/// One local day, precomputed: where it starts and ends in UTC, and whether the clocks change during it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDay {
    pub date: NaiveDate,
    pub weekday: Weekday,
    /// The instant of local 00:00 (always exists in Helsinki: the changes happen at 03:00/04:00).
    pub start: Millis,
    /// The instant of the next local 00:00: 24 hours later, or 23/25 on the days the clocks change.
    pub end: Millis,
    /// `Some` on a Finnish public holiday.
    pub holiday: Option<FinnishHoliday>,
}

impl LocalDay {
    fn new(date: NaiveDate) -> LocalDay {
        LocalDay {
            date,
            weekday: date.weekday(),
            start: local_to_utc(date, LocalTime::MIDNIGHT),
            end: local_to_utc(date, LocalTime::END_OF_DAY),
            holiday: finnish_holiday(date),
        }
    }

    /// Whether the UTC offset changes during this day (its length is not 24 hours).
    pub fn has_clock_change(&self) -> bool {
        self.end - self.start != DAY
    }

    /// The instant of a wall time on this day. On ordinary days this is plain arithmetic from local midnight; only
    /// the two clock-change days a year go to the time-zone database.
    pub fn at(&self, time: LocalTime) -> Millis {
        if self.has_clock_change() {
            local_to_utc(self.date, time)
        } else {
            self.start + DurationMs::from(time.minutes()) * MINUTE
        }
    }

    /// The instant of a wall time on this day, or `None` when that wall time does not exist or is the second pass
    /// through the autumn fold. Slot grids use this: a start either is a real, unique wall-clock time or is skipped.
    pub fn slot_start(&self, time: LocalTime) -> Option<Millis> {
        if !self.has_clock_change() {
            return Some(self.at(time));
        }
        match classify_local(self.date, time) {
            LocalInstant::Single(t) => Some(t),
            LocalInstant::Ambiguous { earlier, .. } => Some(earlier),
            LocalInstant::Nonexistent { .. } => None,
        }
    }
}

/// A run of consecutive local days, `from ..= to`, computed once per search and shared by every resource, so the
/// time-zone database is consulted per day, not per resource and range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDays {
    days: Vec<LocalDay>,
}

impl LocalDays {
    /// The local days `from ..= to`. Fails when `to` is before `from` or the span exceeds [`MAX_DAYS`].
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<LocalDays, CalendarError> {
        if to < from {
            return Err(CalendarError::BadDateRange { from, to });
        }
        let n = (to - from).num_days() as usize + 1;
        if n > MAX_DAYS {
            return Err(CalendarError::RangeTooLong { days: n, max: MAX_DAYS });
        }
        Ok(LocalDays { days: from.iter_days().take(n).map(LocalDay::new).collect() })
    }

    pub fn first_date(&self) -> NaiveDate {
        self.days[0].date
    }

    pub fn last_date(&self) -> NaiveDate {
        self.days[self.days.len() - 1].date
    }

    pub fn days(&self) -> &[LocalDay] {
        &self.days
    }

    pub fn get(&self, date: NaiveDate) -> Option<&LocalDay> {
        let i = (date - self.first_date()).num_days();
        usize::try_from(i).ok().and_then(|i| self.days.get(i))
    }

    /// The UTC span from the first day's local midnight to the end of the last day.
    pub fn span(&self) -> (Millis, Millis) {
        (self.days[0].start, self.days[self.days.len() - 1].end)
    }
}
