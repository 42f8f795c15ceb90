//! The figures of one reporting period, from facts (one per session, walk-in ticket and appointment).
//!
//! Definitions (docs/reports.md says the same for readers):
//! - a **session** counts in the period its local start (`opened_at`) falls in, once it has ended; its
//!   **duration** is `ended_at − opened_at`;
//! - its **service point** is that of its room's device; its **agencies** are the agencies of its expert seats
//!   (a session with experts of two agencies counts once for each agency in the per-agency rows, and once in
//!   every total); a session without an expert seat has no agency (`null`);
//! - its **kind**: an appointment's session (opened by a booked participant), a queued walk-in (a walk-in ticket
//!   names it) or a direct walk-in (opened by hand);
//! - **interpreted**: an interpreter joined it; the interpreter minutes are the sum of their stays;
//! - **waiting time** of a walk-in ticket: `accepted_at − created_at`, for the tickets created in the period
//!   that an expert accepted;
//! - **appointments** and **no-shows** count by the appointment's start, whatever its status;
//! - **feedback** is counted with the session it is about (so in the session's period).
//!
//! A filter by service point or agency applies to each of these by its own service point and agency (the
//! session's, the ticket's, the appointment's).

use super::period::{month_of, slot_of, MonthKey, Period, Span, TimeSlot};
use super::stats::{decimal, tenths, DurationStats};
use crate::Millis;
use serde::Serialize;
use std::collections::BTreeMap;

/// How a session came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Appointment,
    QueuedWalkIn,
    DirectWalkIn,
}

/// The customer's answer to "did you get your matter done?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Initiated,
    Neither,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "done" => Some(Outcome::Done),
            "initiated" => Some(Outcome::Initiated),
            "neither" => Some(Outcome::Neither),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Initiated => "initiated",
            Outcome::Neither => "neither",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackFact {
    /// 1 to 5.
    pub rating: u8,
    pub outcome: Outcome,
}

/// One ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFact {
    pub id: String,
    pub service_point: Option<String>,
    /// The agencies of its expert seats, sorted and without repeats; empty when it had no expert seat.
    pub agencies: Vec<String>,
    pub opened_at: Millis,
    pub ended_at: Millis,
    pub kind: SessionKind,
    /// The interpreters' time in the room, summed over their stays; `None` when no interpreter joined.
    pub interpreter_ms: Option<u64>,
    pub feedback: Option<FeedbackFact>,
}

/// One walk-in ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFact {
    pub service_point: String,
    pub agency: String,
    pub created_at: Millis,
    pub accepted_at: Option<Millis>,
}

/// One appointment, with the interpreters assigned to it (accepted requests): `(interpreter, provider)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentFact {
    pub id: String,
    pub agency: String,
    pub service_point: String,
    pub start: Millis,
    pub created_at: Millis,
    /// `booked`, `completed`, `no_show` or `cancelled`.
    pub status: String,
    pub interpreters: Vec<(String, Option<String>)>,
}

/// Which part of the data a report covers; `None` is everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub service_point: Option<String>,
    pub agency: Option<String>,
}

impl Filter {
    fn sp(&self, sp: Option<&str>) -> bool {
        self.service_point.as_deref().is_none_or(|want| sp == Some(want))
    }

    fn agency(&self, agency: &str) -> bool {
        self.agency.as_deref().is_none_or(|want| agency == want)
    }

    fn session(&self, s: &SessionFact) -> bool {
        self.sp(s.service_point.as_deref())
            && self.agency.as_deref().is_none_or(|want| s.agencies.iter().any(|a| a == want))
    }

    /// The agencies a session is counted under in per-agency rows: its own (or none), narrowed by the filter.
    fn session_agencies<'a>(&self, s: &'a SessionFact) -> Vec<Option<&'a str>> {
        if s.agencies.is_empty() {
            return vec![None];
        }
        s.agencies.iter().filter(|a| self.agency(a)).map(|a| Some(a.as_str())).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    pub label: String,
    pub year: i32,
    pub span: Span,
    /// The first and last local dates (inclusive), YYYY-MM-DD.
    pub from: String,
    pub to: String,
    /// The year to date's label, `2026-01..2026-03`.
    pub year_to_date: String,
}

/// Sessions of one service point and agency, in one month (`month` set) or the year to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountRow {
    pub service_point: Option<String>,
    pub agency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<MonthKey>,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionCounts {
    pub by_month: Vec<CountRow>,
    pub year_to_date: Vec<CountRow>,
    /// Distinct sessions in the period (a two-agency session once).
    pub total: u64,
    pub year_to_date_total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kinds {
    pub appointment: u64,
    pub queued_walk_in: u64,
    pub direct_walk_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotCount {
    pub slot: TimeSlot,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waiting {
    /// Walk-in tickets created in the period.
    pub tickets: u64,
    /// Of which an expert accepted (the waiting times are theirs).
    pub accepted: u64,
    pub time: DurationStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppointmentCounts {
    pub total: u64,
    pub booked: u64,
    pub completed: u64,
    pub no_show: u64,
    pub cancelled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interpreting {
    /// Sessions an interpreter joined.
    pub sessions: u64,
    /// Their time in those rooms, in minutes rounded to a tenth.
    pub minutes: f64,
    /// Appointments starting in the period with an interpreter assigned.
    pub appointments: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    pub answers: u64,
    /// The mean rating, rounded to two decimals; `None` with no answers.
    pub mean_rating: Option<f64>,
    /// How many answered 1, 2, 3, 4 and 5.
    pub ratings: [u64; 5],
    pub done: u64,
    pub initiated: u64,
    pub neither: u64,
}

/// Every figure of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: PeriodView,
    pub filter: Filter,
    pub sessions: SessionCounts,
    pub kinds: Kinds,
    pub time_of_day: Vec<SlotCount>,
    pub duration: DurationStats,
    pub waiting: Waiting,
    pub appointments: AppointmentCounts,
    pub interpreting: Interpreting,
    pub feedback: Feedback,
}

/// The report of `period`. `sessions` may reach back to 1 January (for the year to date); `tickets` and
/// `appointments` outside the period are ignored.
pub fn summarize(
    period: &Period,
    filter: &Filter,
    sessions: &[SessionFact],
    tickets: &[TicketFact],
    appointments: &[AppointmentFact],
) -> Report {
    let (ytd_from, to) = period.year_to_date();
    let ytd: Vec<&SessionFact> =
        sessions.iter().filter(|s| (ytd_from..to).contains(&s.opened_at) && filter.session(s)).collect();
    let in_period: Vec<&SessionFact> = ytd.iter().copied().filter(|s| period.contains(s.opened_at)).collect();

    let mut by_month: BTreeMap<(Option<&str>, Option<&str>, MonthKey), u64> = BTreeMap::new();
    for s in &in_period {
        for a in filter.session_agencies(s) {
            *by_month.entry((s.service_point.as_deref(), a, month_of(s.opened_at))).or_default() += 1;
        }
    }
    let mut by_year: BTreeMap<(Option<&str>, Option<&str>), u64> = BTreeMap::new();
    for s in &ytd {
        for a in filter.session_agencies(s) {
            *by_year.entry((s.service_point.as_deref(), a)).or_default() += 1;
        }
    }
    let owned = |x: Option<&str>| x.map(str::to_owned);
    let sessions_view = SessionCounts {
        by_month: by_month
            .into_iter()
            .map(|((sp, a, m), n)| CountRow { service_point: owned(sp), agency: owned(a), month: Some(m), sessions: n })
            .collect(),
        year_to_date: by_year
            .into_iter()
            .map(|((sp, a), n)| CountRow { service_point: owned(sp), agency: owned(a), month: None, sessions: n })
            .collect(),
        total: in_period.len() as u64,
        year_to_date_total: ytd.len() as u64,
    };

    let mut kinds = Kinds::default();
    let mut slots: BTreeMap<TimeSlot, u64> = TimeSlot::ALL.iter().map(|&s| (s, 0)).collect();
    let mut durations = Vec::new();
    let mut interpreted = 0;
    let mut interpreter_ms = 0u64;
    let mut feedback = Feedback { answers: 0, mean_rating: None, ratings: [0; 5], done: 0, initiated: 0, neither: 0 };
    let mut rating_sum = 0u64;
    for s in &in_period {
        match s.kind {
            SessionKind::Appointment => kinds.appointment += 1,
            SessionKind::QueuedWalkIn => kinds.queued_walk_in += 1,
            SessionKind::DirectWalkIn => kinds.direct_walk_in += 1,
        }
        *slots.entry(slot_of(s.opened_at)).or_default() += 1;
        durations.push(s.ended_at.saturating_sub(s.opened_at) as i64);
        if let Some(ms) = s.interpreter_ms {
            interpreted += 1;
            interpreter_ms += ms;
        }
        if let Some(f) = s.feedback {
            feedback.answers += 1;
            rating_sum += u64::from(f.rating);
            if let Some(n) = feedback.ratings.get_mut(usize::from(f.rating.clamp(1, 5)) - 1) {
                *n += 1;
            }
            match f.outcome {
                Outcome::Done => feedback.done += 1,
                Outcome::Initiated => feedback.initiated += 1,
                Outcome::Neither => feedback.neither += 1,
            }
        }
    }
    if feedback.answers > 0 {
        feedback.mean_rating = Some((rating_sum as f64 / feedback.answers as f64 * 100.0).round() / 100.0);
    }

    let tickets: Vec<&TicketFact> = tickets
        .iter()
        .filter(|t| period.contains(t.created_at) && filter.sp(Some(&t.service_point)) && filter.agency(&t.agency))
        .collect();
    let waits: Vec<i64> =
        tickets.iter().filter_map(|t| t.accepted_at.map(|a| a.saturating_sub(t.created_at) as i64)).collect();

    let mut appts = AppointmentCounts::default();
    let mut interpreted_appointments = 0;
    for a in appointments
        .iter()
        .filter(|a| period.contains(a.start) && filter.sp(Some(&a.service_point)) && filter.agency(&a.agency))
    {
        appts.total += 1;
        match a.status.as_str() {
            "booked" => appts.booked += 1,
            "completed" => appts.completed += 1,
            "no_show" => appts.no_show += 1,
            "cancelled" => appts.cancelled += 1,
            _ => {}
        }
        if !a.interpreters.is_empty() && a.status != "cancelled" {
            interpreted_appointments += 1;
        }
    }

    Report {
        period: PeriodView {
            label: period.label(),
            year: period.year,
            span: period.span,
            from: period.first_date().to_string(),
            to: period.last_date().to_string(),
            year_to_date: period.year_to_date_label(),
        },
        filter: filter.clone(),
        sessions: sessions_view,
        kinds,
        time_of_day: slots.into_iter().map(|(slot, sessions)| SlotCount { slot, sessions }).collect(),
        duration: DurationStats::of_millis(&durations),
        waiting: Waiting {
            tickets: tickets.len() as u64,
            accepted: waits.len() as u64,
            time: DurationStats::of_millis(&waits),
        },
        appointments: appts,
        interpreting: Interpreting {
            sessions: interpreted,
            minutes: tenths(interpreter_ms as f64 / 60_000.0),
            appointments: interpreted_appointments,
        },
        feedback,
    }
}

/// The CSV header of [`Report::csv`]: one figure per row.
pub const REPORT_CSV_HEADER: [&str; 6] = ["section", "service_point", "agency", "period", "measure", "value"];

impl Report {
    /// Every figure of the report as one row `section, service_point, agency, period, measure, value`, in the
    /// order of the JSON. Decimals have one decimal (the mean rating two), a missing figure is empty.
    pub fn csv_rows(&self) -> Vec<[String; 6]> {
        let p = self.period.label.clone();
        let sp = self.filter.service_point.clone().unwrap_or_default();
        let ag = self.filter.agency.clone().unwrap_or_default();
        let mut rows = Vec::new();
        let mut row = |section: &str, sp: &str, ag: &str, period: &str, measure: &str, value: String| {
            rows.push([section.into(), sp.into(), ag.into(), period.into(), measure.into(), value]);
        };
        for r in &self.sessions.by_month {
            let month = r.month.map(|m| m.to_string()).unwrap_or_default();
            let (rsp, rag) = (r.service_point.as_deref().unwrap_or(""), r.agency.as_deref().unwrap_or(""));
            row("sessions", rsp, rag, &month, "sessions", r.sessions.to_string());
        }
        let ytd = self.period.year_to_date.clone();
        for r in &self.sessions.year_to_date {
            let (rsp, rag) = (r.service_point.as_deref().unwrap_or(""), r.agency.as_deref().unwrap_or(""));
            row("sessions_year_to_date", rsp, rag, &ytd, "sessions", r.sessions.to_string());
        }
        row("totals", &sp, &ag, &p, "sessions", self.sessions.total.to_string());
        row("totals", &sp, &ag, &ytd, "sessions", self.sessions.year_to_date_total.to_string());
        row("kinds", &sp, &ag, &p, "appointment", self.kinds.appointment.to_string());
        row("kinds", &sp, &ag, &p, "queued_walk_in", self.kinds.queued_walk_in.to_string());
        row("kinds", &sp, &ag, &p, "direct_walk_in", self.kinds.direct_walk_in.to_string());
        for s in &self.time_of_day {
            row("time_of_day", &sp, &ag, &p, s.slot.as_str(), s.sessions.to_string());
        }
        for (section, d) in [("duration", &self.duration), ("waiting", &self.waiting.time)] {
            row(section, &sp, &ag, &p, "count", d.count.to_string());
            row(section, &sp, &ag, &p, "mean_s", decimal(d.mean_s));
            row(section, &sp, &ag, &p, "median_s", decimal(d.median_s));
            row(section, &sp, &ag, &p, "p90_s", decimal(d.p90_s));
        }
        row("waiting", &sp, &ag, &p, "tickets", self.waiting.tickets.to_string());
        let a = &self.appointments;
        for (m, n) in [
            ("total", a.total),
            ("booked", a.booked),
            ("completed", a.completed),
            ("no_show", a.no_show),
            ("cancelled", a.cancelled),
        ] {
            row("appointments", &sp, &ag, &p, m, n.to_string());
        }
        row("interpreting", &sp, &ag, &p, "sessions", self.interpreting.sessions.to_string());
        row("interpreting", &sp, &ag, &p, "minutes", decimal(Some(self.interpreting.minutes)));
        row("interpreting", &sp, &ag, &p, "appointments", self.interpreting.appointments.to_string());
        let f = &self.feedback;
        row("feedback", &sp, &ag, &p, "answers", f.answers.to_string());
        row("feedback", &sp, &ag, &p, "mean_rating", f.mean_rating.map(|x| format!("{x:.2}")).unwrap_or_default());
        for (i, n) in f.ratings.iter().enumerate() {
            row("feedback", &sp, &ag, &p, &format!("rating_{}", i + 1), n.to_string());
        }
        row("feedback", &sp, &ag, &p, "done", f.done.to_string());
        row("feedback", &sp, &ag, &p, "initiated", f.initiated.to_string());
        row("feedback", &sp, &ag, &p, "neither", f.neither.to_string());
        rows
    }

    /// The whole report as CSV text (header first).
    pub fn csv(&self) -> String {
        super::csv::write(&REPORT_CSV_HEADER, &self.csv_rows())
    }
}
