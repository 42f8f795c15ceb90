//! Reports for agencies, service points and invoicing: pure aggregation over facts the server has read from
//! the store. No IO, no clock: the period is an argument and every instant is a UTC [`Millis`].
//!
//! - [`period`]: the reporting period (year, quarter, month) in Helsinki time, months, quarters and the two-hour
//!   time-of-day slots, through the calendar's one time zone ([`crate::calendar::HELSINKI`]).
//! - [`stats`]: count, mean, median and p90 (their exact definitions are there and in docs/reports.md).
//! - [`summary`]: the figures of one period: sessions per service point × agency × month and year to date,
//!   session kinds, time of day, durations, waiting times, appointments and no-shows, interpreting, feedback.
//! - [`billing`]: the service points' tasks invoiced per agency and quarter, and the interpreters' records for
//!   invoicing (stays in rooms, preparation tasks, totals).
//! - [`csv`]: the CSV form of every report (RFC 4180, UTF-8, decimal point).
//!
//! What counts as what (a session's agencies, its service point, its duration, …) is defined once, here, and
//! written out for readers in docs/reports.md.

pub mod billing;
pub mod csv;
pub mod period;
pub mod stats;
pub mod summary;

#[cfg(test)]
mod tests;

pub use billing::{
    billing, billing_csv, invoicing, BillingRow, Cents, InterpreterStayFact, InterpreterTotal, InvoicingReport,
    PreparationRow, Prices, StayRow, Task,
};
pub use period::{iso_utc, month_of, slot_of, MonthKey, Period, Span, TimeSlot};
pub use stats::{DurationStats, Summary};
pub use summary::{
    summarize, AppointmentFact, FeedbackFact, Filter, Outcome, Report, SessionFact, SessionKind, TicketFact,
    REPORT_CSV_HEADER,
};

/// Why report parameters were refused. Each names the bad value, so an API error can say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("year must be between 2000 and 2100: {0}")]
    BadYear(i32),
    #[error("month must be between 1 and 12: {0}")]
    BadMonth(u32),
    #[error("quarter must be between 1 and 4: {0}")]
    BadQuarter(u32),
    #[error("give a month or a quarter, not both")]
    MonthAndQuarter,
    #[error("not a price in euros with at most two decimals (e.g. 2.95): {0:?}")]
    BadPrice(String),
}
