//! What the service points invoice the agencies for, per quarter and task, and what the interpreters'
//! providers invoice: their stays in rooms and their preparation tasks.
//!
//! Tasks (docs/reports.md says the same for readers):
//! - **remote-session booking** (`session_booking`): every appointment of the agency created in the period,
//!   whatever became of it later (the booking work was done);
//! - **opening the remote connection** (`connection_opening`): every ended session opened in the period, once
//!   for each agency among its expert seats;
//! - **preparing interpretation** (`interpretation_preparation`): every interpreted appointment (an interpreter
//!   assigned, the appointment not cancelled, starting in the period) and every interpreted session that is not
//!   an appointment's (an interpreter joined it), once for the appointment's agency or each of the session's.
//!
//! Money is whole cents ([`Cents`]), never floating point; it is written with a decimal point and two decimals.

use super::csv;
use super::period::{iso_utc, Period};
use super::summary::{AppointmentFact, SessionFact, SessionKind};
use super::ReportError;
use crate::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// An amount of euros in whole cents; written `2.95`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cents(pub u64);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl FromStr for Cents {
    type Err = ReportError;
    /// `2.95`, `3`, `3.5`; no sign, no thousands separator, at most two decimals.
    fn from_str(s: &str) -> Result<Cents, ReportError> {
        let bad = || ReportError::BadPrice(s.to_string());
        let (euros, cents) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if euros.is_empty() || euros.len() > 9 || cents.len() > 2 || !digits(euros) || !digits(cents) {
            return Err(bad());
        }
        let euros: u64 = euros.parse().map_err(|_| bad())?;
        let cents: u64 = if cents.is_empty() { 0 } else { format!("{cents:0<2}").parse().map_err(|_| bad())? };
        Ok(Cents(euros * 100 + cents))
    }
}

impl Serialize for Cents {
    /// As a decimal string (`"2.95"`), so that no client reads money through a binary float.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cents {
    /// From `"2.95"` or `2.95` (a TOML float is read through its shortest decimal form).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(x) => x.to_string(),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A task a service point invoices an agency for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    SessionBooking,
    ConnectionOpening,
    InterpretationPreparation,
}

impl Task {
    pub const ALL: [Task; 3] = [Task::SessionBooking, Task::ConnectionOpening, Task::InterpretationPreparation];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::SessionBooking => "session_booking",
            Task::ConnectionOpening => "connection_opening",
            Task::InterpretationPreparation => "interpretation_preparation",
        }
    }
}

/// The unit price of each task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Prices {
    pub session_booking: Cents,
    pub connection_opening: Cents,
    pub interpretation_preparation: Cents,
}

impl Prices {
    /// The pilot's prices: 2.95 €, 1.77 €, 2.95 €.
    pub const PILOT: Prices =
        Prices { session_booking: Cents(295), connection_opening: Cents(177), interpretation_preparation: Cents(295) };

    pub fn of(&self, task: Task) -> Cents {
        match task {
            Task::SessionBooking => self.session_booking,
            Task::ConnectionOpening => self.connection_opening,
            Task::InterpretationPreparation => self.interpretation_preparation,
        }
    }
}

/// One agency × task of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingRow {
    pub agency: String,
    pub period: String,
    pub task: Task,
    pub count: u64,
    pub unit_price: Cents,
    pub total: Cents,
}

/// The CSV header of the billing export.
pub const BILLING_CSV_HEADER: [&str; 6] = ["agency", "period", "task", "count", "unit_price_eur", "total_eur"];

/// The billing rows of `period`: every agency of `agencies` and every agency with a task, × the three tasks,
/// sorted by agency and then in the order of [`Task::ALL`]; zero counts included, so the shape is stable.
pub fn billing(
    period: &Period,
    agencies: &[String],
    sessions: &[SessionFact],
    appointments: &[AppointmentFact],
    preparations: &[PreparationRow],
    prices: &Prices,
) -> Vec<BillingRow> {
    let mut counts: BTreeMap<(String, Task), u64> = BTreeMap::new();
    let mut names: BTreeSet<String> = agencies.iter().cloned().collect();
    let mut add = |agency: &str, task: Task, names: &mut BTreeSet<String>| {
        names.insert(agency.to_string());
        *counts.entry((agency.to_string(), task)).or_default() += 1;
    };
    for a in appointments.iter().filter(|a| period.contains(a.created_at)) {
        add(&a.agency, Task::SessionBooking, &mut names);
    }
    for s in sessions.iter().filter(|s| period.contains(s.opened_at)) {
        for agency in &s.agencies {
            add(agency, Task::ConnectionOpening, &mut names);
        }
    }
    // One preparation per interpreted appointment or session, however many interpreters it had.
    let mut prepared: BTreeSet<(String, &Option<String>, &Option<String>)> = BTreeSet::new();
    for p in preparations {
        for agency in &p.agencies {
            if prepared.insert((agency.clone(), &p.appointment, &p.session)) {
                add(agency, Task::InterpretationPreparation, &mut names);
            }
        }
    }
    let label = period.label();
    let mut rows = Vec::new();
    for agency in names {
        for task in Task::ALL {
            let count = counts.get(&(agency.clone(), task)).copied().unwrap_or(0);
            let unit_price = prices.of(task);
            rows.push(BillingRow {
                agency: agency.clone(),
                period: label.clone(),
                task,
                count,
                unit_price,
                total: Cents(unit_price.0 * count),
            });
        }
    }
    rows
}

/// The billing rows as CSV.
pub fn billing_csv(rows: &[BillingRow]) -> String {
    let rows: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.agency.clone(),
                r.period.clone(),
                r.task.as_str().to_string(),
                r.count.to_string(),
                r.unit_price.to_string(),
                r.total.to_string(),
            ]
        })
        .collect();
    csv::write(&BILLING_CSV_HEADER, &rows)
}

/// One interpreter's stay in a session's room (one participation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterStayFact {
    pub interpreter: String,
    pub provider: Option<String>,
    pub session: String,
    pub appointment: Option<String>,
    pub service_point: Option<String>,
    pub joined_at: Millis,
    pub left_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StayRow {
    pub interpreter: String,
    pub provider: Option<String>,
    pub session: String,
    pub appointment: Option<String>,
    pub service_point: Option<String>,
    pub joined_at: String,
    pub left_at: String,
    /// Whole seconds, rounded.
    pub duration_s: u64,
}

/// One interpreter's preparation of one interpreted appointment or session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreparationRow {
    pub interpreter: String,
    pub provider: Option<String>,
    pub appointment: Option<String>,
    pub session: Option<String>,
    pub service_point: Option<String>,
    pub agencies: Vec<String>,
    /// The appointment's start, or the session's.
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterpreterTotal {
    pub interpreter: String,
    pub provider: Option<String>,
    pub stays: u64,
    /// Distinct sessions they were in.
    pub sessions: u64,
    /// Their time in rooms, whole seconds (the sum of the stays' milliseconds, rounded once).
    pub duration_s: u64,
    pub preparations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoicingReport {
    pub period: String,
    pub stays: Vec<StayRow>,
    pub preparations: Vec<PreparationRow>,
    pub totals: Vec<InterpreterTotal>,
}

/// Per interpreter and provider: stays, the sessions they were in, milliseconds in rooms, preparations.
type Tally = (u64, BTreeSet<String>, u64, u64);

fn round_s(ms: u64) -> u64 {
    (ms + 500) / 1000
}

/// The interpreters' records of `period`: stays that began in it, preparations of appointments starting in it
/// and of non-appointment sessions opened in it, and the totals per interpreter and provider.
pub fn invoicing(
    period: &Period,
    stays: &[InterpreterStayFact],
    sessions: &[SessionFact],
    appointments: &[AppointmentFact],
) -> InvoicingReport {
    let mut stay_rows = Vec::new();
    let mut totals: BTreeMap<(String, Option<String>), Tally> = BTreeMap::new();
    for s in stays.iter().filter(|s| period.contains(s.joined_at)) {
        let ms = s.left_at.saturating_sub(s.joined_at);
        stay_rows.push(StayRow {
            interpreter: s.interpreter.clone(),
            provider: s.provider.clone(),
            session: s.session.clone(),
            appointment: s.appointment.clone(),
            service_point: s.service_point.clone(),
            joined_at: iso_utc(s.joined_at),
            left_at: iso_utc(s.left_at),
            duration_s: round_s(ms),
        });
        let t = totals.entry((s.interpreter.clone(), s.provider.clone())).or_default();
        t.0 += 1;
        t.1.insert(s.session.clone());
        t.2 += ms;
    }
    let mut preparations = Vec::new();
    for a in appointments.iter().filter(|a| period.contains(a.start) && a.status != "cancelled") {
        for (interpreter, provider) in &a.interpreters {
            preparations.push(PreparationRow {
                interpreter: interpreter.clone(),
                provider: provider.clone(),
                appointment: Some(a.id.clone()),
                session: None,
                service_point: Some(a.service_point.clone()),
                agencies: vec![a.agency.clone()],
                at: iso_utc(a.start),
            });
        }
    }
    for s in sessions.iter().filter(|s| period.contains(s.opened_at) && s.kind != SessionKind::Appointment) {
        let mut seen = BTreeSet::new();
        for st in stays.iter().filter(|st| st.session == s.id) {
            if seen.insert((&st.interpreter, &st.provider)) {
                preparations.push(PreparationRow {
                    interpreter: st.interpreter.clone(),
                    provider: st.provider.clone(),
                    appointment: None,
                    session: Some(s.id.clone()),
                    service_point: s.service_point.clone(),
                    agencies: s.agencies.clone(),
                    at: iso_utc(s.opened_at),
                });
            }
        }
    }
    for p in &preparations {
        totals.entry((p.interpreter.clone(), p.provider.clone())).or_default().3 += 1;
    }
    InvoicingReport {
        period: period.label(),
        stays: stay_rows,
        preparations,
        totals: totals
            .into_iter()
            .map(|((interpreter, provider), (stays, sessions, ms, preparations))| InterpreterTotal {
                interpreter,
                provider,
                stays,
                sessions: sessions.len() as u64,
                duration_s: round_s(ms),
                preparations,
            })
            .collect(),
    }
}

/// The CSV header of the interpreters' records: one `stay`, `preparation` or `total` per row.
pub const INVOICING_CSV_HEADER: [&str; 13] = [
    "record",
    "period",
    "interpreter",
    "provider",
    "session",
    "appointment",
    "service_point",
    "agencies",
    "start",
    "end",
    "duration_s",
    "stays",
    "preparations",
];

impl InvoicingReport {
    pub fn csv(&self) -> String {
        let o = |x: &Option<String>| x.clone().unwrap_or_default();
        let p = &self.period;
        let mut rows: Vec<[String; 13]> = Vec::new();
        for s in &self.stays {
            rows.push([
                "stay".into(),
                p.clone(),
                s.interpreter.clone(),
                o(&s.provider),
                s.session.clone(),
                o(&s.appointment),
                o(&s.service_point),
                String::new(),
                s.joined_at.clone(),
                s.left_at.clone(),
                s.duration_s.to_string(),
                String::new(),
                String::new(),
            ]);
        }
        for r in &self.preparations {
            rows.push([
                "preparation".into(),
                p.clone(),
                r.interpreter.clone(),
                o(&r.provider),
                o(&r.session),
                o(&r.appointment),
                o(&r.service_point),
                r.agencies.join(";"),
                r.at.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for t in &self.totals {
            rows.push([
                "total".into(),
                p.clone(),
                t.interpreter.clone(),
                o(&t.provider),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                t.duration_s.to_string(),
                t.stays.to_string(),
                t.preparations.to_string(),
            ]);
        }
        csv::write(&INVOICING_CSV_HEADER, &rows)
    }
}
