//! The reporting period and the calendar words of the reports, all in Europe/Helsinki time: a month, quarter
//! or year is bounded by local midnights (so a month that contains a clock change is 743 or 745 hours long),
//! and a session's month and time-of-day slot are those of its local start.

use super::ReportError;
use crate::calendar::{local_to_utc, LocalTime, HELSINKI};
use crate::Millis;
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use serde::Serialize;
use std::fmt;

/// Which part of the year a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "number")]
pub enum Span {
    Year,
    Quarter(u32),
    Month(u32),
}

/// A reporting period: a year, one of its quarters or one of its months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub span: Span,
}

/// A calendar month, shown as `2026-03`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthKey {
    pub year: i32,
    pub month: u32,
}

impl fmt::Display for MonthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for MonthKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Period {
    /// A year (neither given), a quarter or a month of it.
    pub fn new(year: i32, month: Option<u32>, quarter: Option<u32>) -> Result<Period, ReportError> {
        if !(2000..=2100).contains(&year) {
            return Err(ReportError::BadYear(year));
        }
        let span = match (month, quarter) {
            (Some(_), Some(_)) => return Err(ReportError::MonthAndQuarter),
            (Some(m), None) if (1..=12).contains(&m) => Span::Month(m),
            (Some(m), None) => return Err(ReportError::BadMonth(m)),
            (None, Some(q)) if (1..=4).contains(&q) => Span::Quarter(q),
            (None, Some(q)) => return Err(ReportError::BadQuarter(q)),
            (None, None) => Span::Year,
        };
        Ok(Period { year, span })
    }

    /// The months covered, first and last (inclusive).
    pub fn month_range(&self) -> (u32, u32) {
        match self.span {
            Span::Year => (1, 12),
            Span::Quarter(q) => (q * 3 - 2, q * 3),
            Span::Month(m) => (m, m),
        }
    }

    /// The months covered, in order.
    pub fn months(&self) -> Vec<MonthKey> {
        let (a, b) = self.month_range();
        (a..=b).map(|month| MonthKey { year: self.year, month }).collect()
    }

    /// The first local date of the period.
    pub fn first_date(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month_range().0, 1).expect("valid month")
    }

    /// The last local date of the period (inclusive).
    pub fn last_date(&self) -> NaiveDate {
        self.end_date().pred_opt().expect("a date before the next month")
    }

    /// The local date after the period.
    fn end_date(&self) -> NaiveDate {
        let last = self.month_range().1;
        if last == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, last + 1, 1)
        }
        .expect("valid month")
    }

    /// `[from, to)` in UTC: local midnight of the first day to local midnight after the last.
    pub fn bounds(&self) -> (Millis, Millis) {
        (local_to_utc(self.first_date(), LocalTime::MIDNIGHT), local_to_utc(self.end_date(), LocalTime::MIDNIGHT))
    }

    /// `[from, to)` in UTC from local midnight of 1 January to the end of the period: the year to date.
    pub fn year_to_date(&self) -> (Millis, Millis) {
        let jan1 = NaiveDate::from_ymd_opt(self.year, 1, 1).expect("valid year");
        (local_to_utc(jan1, LocalTime::MIDNIGHT), self.bounds().1)
    }

    /// `2026`, `2026-Q1` or `2026-03`.
    pub fn label(&self) -> String {
        match self.span {
            Span::Year => format!("{:04}", self.year),
            Span::Quarter(q) => format!("{:04}-Q{q}", self.year),
            Span::Month(m) => MonthKey { year: self.year, month: m }.to_string(),
        }
    }

    /// The year-to-date label: `2026-01..2026-03`.
    pub fn year_to_date_label(&self) -> String {
        format!(
            "{}..{}",
            MonthKey { year: self.year, month: 1 },
            MonthKey { year: self.year, month: self.month_range().1 }
        )
    }

    pub fn contains(&self, t: Millis) -> bool {
        let (a, b) = self.bounds();
        (a..b).contains(&t)
    }
}

fn local(t: Millis) -> chrono::DateTime<chrono_tz::Tz> {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    HELSINKI.timestamp_millis_opt(t).single().expect("a UTC instant is one local time")
}

/// The Helsinki month an instant falls in.
pub fn month_of(t: Millis) -> MonthKey {
    let d = local(t);
    MonthKey { year: d.year(), month: d.month() }
}

/// The two-hour slots of the day the reports count sessions in, by Helsinki wall time; `Other` is before
/// 08:00 and from 16:00 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TimeSlot {
    #[serde(rename = "08-10")]
    H08,
    #[serde(rename = "10-12")]
    H10,
    #[serde(rename = "12-14")]
    H12,
    #[serde(rename = "14-16")]
    H14,
    #[serde(rename = "other")]
    Other,
}

impl TimeSlot {
    pub const ALL: [TimeSlot; 5] = [TimeSlot::H08, TimeSlot::H10, TimeSlot::H12, TimeSlot::H14, TimeSlot::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            TimeSlot::H08 => "08-10",
            TimeSlot::H10 => "10-12",
            TimeSlot::H12 => "12-14",
            TimeSlot::H14 => "14-16",
            TimeSlot::Other => "other",
        }
    }
}

/// The slot of an instant's Helsinki wall time: 08:00–09:59 is `08-10`, and so on; 16:00 is `other`.
pub fn slot_of(t: Millis) -> TimeSlot {
    match local(t).hour() {
        8 | 9 => TimeSlot::H08,
        10 | 11 => TimeSlot::H10,
        12 | 13 => TimeSlot::H12,
        14 | 15 => TimeSlot::H14,
        _ => TimeSlot::Other,
    }
}

/// An instant as ISO 8601 UTC with `Z`, to the second (the API's form of instants).
pub fn iso_utc(t: Millis) -> String {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    chrono::Utc.timestamp_millis_opt(t).single().map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}
