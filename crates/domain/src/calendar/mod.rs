//! The calendar engine for appointment booking: when can a service point's device, an agency expert and,
//! when needed, an interpreter all meet for a service?
//!
//! Pure like the rest of the domain: no clock (the moment of the search is an argument), no database (calendars
//! come in as data), no IO. The store and server feed it; a benchmark can call [`find_slots`] directly.
//!
//! - [`zone`]: Europe/Helsinki ↔ UTC, the DST policy, and the one time-zone database (chrono-tz 0.10.4, IANA
//!   tzdata 2025b).
//! - [`holidays`]: Finnish public holidays for any year.
//! - [`interval`]: [`IntervalSet`], the UTC interval arithmetic everything reduces to.
//! - [`schedule`]: weekly local-time rules with dated exceptions (availability, opening hours, fixed windows).
//! - [`model`]: services, agency rules, resource keys and a resource's calendar.
//! - [`search`]: slot search and the check of one proposed booking.
//!
//! Every instant is UTC [`Millis`](crate::Millis); local wall time appears only inside schedules.

pub mod holidays;
pub mod interval;
pub mod model;
pub mod schedule;
pub mod search;
pub mod zone;

#[cfg(test)]
mod tests;

pub use holidays::{easter_sunday, finnish_holiday, finnish_holidays, FinnishHoliday};
pub use interval::{Cursor, DurationMs, Interval, IntervalSet, DAY, HOUR, MINUTE};
pub use model::{AgencyRule, ResourceCalendar, ResourceKey, ResourceKind, Service};
pub use schedule::{DateException, ExceptionChange, LocalRange, OpeningHours, Schedule, WeeklyRange};
pub use search::{check_slot, find_slots, Candidates, Pick, Slot, SlotQuery, SlotRefusal};
pub use zone::{
    classify_local, local_date, local_to_utc, utc_offset_minutes, LocalDay, LocalDays, LocalInstant, LocalTime,
    HELSINKI, MAX_DAYS, TZDATA_VERSION,
};

use chrono::NaiveDate;

/// Why calendar input was refused. Each names the bad value, so an API error can say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("not a wall-clock time (HH:MM between 00:00 and 24:00): {0:?}")]
    InvalidLocalTime(String),
    #[error("a time range must end after it starts: {start}–{end}")]
    EmptyRange { start: LocalTime, end: LocalTime },
    #[error("the date range ends ({to}) before it starts ({from})")]
    BadDateRange { from: NaiveDate, to: NaiveDate },
    #[error("a date range of {days} days is longer than the {max} allowed")]
    RangeTooLong { days: usize, max: usize },
    #[error("the slot step must be a whole number of minutes from 1 minute to 1 day: {0} ms")]
    BadStep(DurationMs),
    #[error("service {0:?} has no duration")]
    ZeroDuration(String),
    #[error("not a resource key (device:ID, expert:ID or interpreter:ID): {0:?}")]
    InvalidResourceKey(String),
}
