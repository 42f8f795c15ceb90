//! The calendar model as the server holds it: agencies' booking rules and services, experts' services and
//! stand-ins, availability and opening hours. These are the JSON shapes of the API and of the store's
//! `calendar_entries` bodies (one shape for both, so what an admin PUTs is what is stored).
//!
//! [`Model::load`] builds the model in force for one request from the rooms-config snapshot (who exists) and the
//! store's entries (their calendars, edited or seeded). It is read per request rather than cached so that several
//! server nodes on one PostgreSQL see each other's edits at once; the whole model is one query.

use crate::error::ApiError;
use crate::rooms_config::RoomsConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vayla_domain::calendar::{AgencyRule, LocalRange, LocalTime, Schedule, Service, WeeklyRange, DAY, MINUTE};
use vayla_domain::Role;
use vayla_store::{CalendarEntry, CalendarKind, CalendarSeed, CalendarSource, Store};

/// Longest booking horizon a service may have (two years): horizon and notice bound the search range too.
pub const MAX_HORIZON_DAYS: u32 = 730;
/// Longest appointment (a whole working day).
pub const MAX_DURATION_MINUTES: u32 = 8 * 60;
/// Longest buffer on either side.
pub const MAX_BUFFER_MINUTES: u32 = 4 * 60;
/// Bounds on a schedule's size, so that one PUT cannot make every search slow.
pub const MAX_WEEKLY_RANGES: usize = 100;
pub const MAX_EXCEPTIONS: usize = 1000;

/// One service of an agency, as configured and as shown by the API. Lengths in whole minutes (days for the
/// horizon); the domain's [`Service`] is the same in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Unique across all agencies: a search or booking names the service alone.
    pub id: String,
    pub name: String,
    pub duration_minutes: u32,
    #[serde(default)]
    pub buffer_before_minutes: u32,
    #[serde(default)]
    pub buffer_after_minutes: u32,
    /// How long before its start an appointment must be booked at the latest.
    #[serde(default)]
    pub min_notice_minutes: u32,
    /// How far ahead appointments may be booked.
    pub horizon_days: u32,
}

impl ServiceSpec {
    /// The domain's service for this spec of `agency`.
    pub fn to_domain(&self, agency: &str) -> Service {
        Service {
            id: self.id.clone(),
            agency: agency.to_string(),
            duration: u64::from(self.duration_minutes) * MINUTE,
            buffer_before: u64::from(self.buffer_before_minutes) * MINUTE,
            buffer_after: u64::from(self.buffer_after_minutes) * MINUTE,
            min_notice: u64::from(self.min_notice_minutes) * MINUTE,
            horizon: u64::from(self.horizon_days) * DAY,
        }
    }

    /// What is wrong with it, if anything (for the config loader and the API alike).
    pub fn problem(&self) -> Option<String> {
        if vayla_domain::SubjectId::new(self.id.as_str()).is_err() {
            return Some(format!(
                "invalid service id {:?}: use 1 to 64 characters of a-z, 0-9 and '-', not starting with '-'",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            return Some(format!("service {:?} has an empty name", self.id));
        }
        if self.duration_minutes == 0 || self.duration_minutes > MAX_DURATION_MINUTES {
            return Some(format!("duration_minutes must be 1 to {MAX_DURATION_MINUTES}"));
        }
        if self.buffer_before_minutes > MAX_BUFFER_MINUTES || self.buffer_after_minutes > MAX_BUFFER_MINUTES {
            return Some(format!("buffers must be at most {MAX_BUFFER_MINUTES} minutes"));
        }
        if self.horizon_days == 0 || self.horizon_days > MAX_HORIZON_DAYS {
            return Some(format!("horizon_days must be 1 to {MAX_HORIZON_DAYS}"));
        }
        if u64::from(self.min_notice_minutes) * MINUTE >= u64::from(self.horizon_days) * DAY {
            return Some("min_notice_minutes must be shorter than the horizon".to_string());
        }
        None
    }
}

/// An agency's booking rule and its services: the body of an `agency` entry and of
/// `PUT /api/calendar/agencies/{id}`. The rule is flattened: `{"rule": "fixed_windows", "windows": [...],
/// "services": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyCalendar {
    #[serde(flatten)]
    pub rule: AgencyRule,
    pub services: Vec<ServiceSpec>,
}

/// An expert's services and stand-ins: the body of an `expert` entry and of `PUT /api/calendar/experts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertProfile {
    /// The services (ids) the expert handles; `None` means every service of their agency.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Other experts of the same agency who take over when this one is away, in order of preference.
    #[serde(default)]
    pub stand_ins: Vec<String>,
}

impl ExpertProfile {
    pub fn handles(&self, service: &str) -> bool {
        self.services.as_ref().is_none_or(|s| s.iter().any(|x| x == service))
    }
}

/// A schedule that is empty: never available. What an expert, interpreter or service point without a
/// configured schedule has.
pub fn closed() -> Schedule {
    Schedule::weekly(Vec::new())
}

/// What is wrong with a schedule's size, if anything.
pub fn schedule_problem(s: &Schedule) -> Option<String> {
    if s.weekly.len() > MAX_WEEKLY_RANGES {
        return Some(format!("at most {MAX_WEEKLY_RANGES} weekly ranges"));
    }
    if s.exceptions.len() > MAX_EXCEPTIONS {
        return Some(format!("at most {MAX_EXCEPTIONS} dated exceptions"));
    }
    None
}

/// Parses the rooms-config's compact weekly form: `"mon-fri 08:00-16:00"`, `"tue,thu 09:00-11:30"`, `"sat
/// 10:00-14:00"`. Days are `mon`…`sun` (English three-letter names), a range `a-b` within one week (Monday first),
/// or a comma list; the time range is `HH:MM-HH:MM` in Helsinki wall time, end after start, `24:00` allowed.
pub fn parse_weekly(text: &str) -> Result<Vec<WeeklyRange>, String> {
    let bad = |why: &str| format!("{text:?}: {why} (expected e.g. \"mon-fri 08:00-16:00\")");
    let mut parts = text.split_whitespace();
    let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("write the days, a space, then the time range"));
    };
    let range = parse_range(times).map_err(|e| bad(&e))?;
    let mut weekdays = Vec::new();
    for item in days.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) =
                    (weekday(a).ok_or_else(|| bad("unknown day"))?, weekday(b).ok_or_else(|| bad("unknown day"))?);
                let (a, b) = (a.num_days_from_monday(), b.num_days_from_monday());
                if a > b {
                    return Err(bad("a day range runs from an earlier to a later day of one week"));
                }
                for d in a..=b {
                    weekdays.push(WEEK[d as usize]);
                }
            }
            None => weekdays.push(weekday(item).ok_or_else(|| bad("unknown day"))?),
        }
    }
    Ok(weekdays.into_iter().map(|w| WeeklyRange::new(w, range)).collect())
}

/// `HH:MM-HH:MM`.
pub fn parse_range(text: &str) -> Result<LocalRange, String> {
    let (a, b) = text.split_once('-').ok_or_else(|| format!("{text:?} is not a time range HH:MM-HH:MM"))?;
    let a: LocalTime = a.parse().map_err(|e| format!("{e}"))?;
    let b: LocalTime = b.parse().map_err(|e| format!("{e}"))?;
    LocalRange::new(a, b).map_err(|e| e.to_string())
}

const WEEK: [chrono::Weekday; 7] = [
    chrono::Weekday::Mon,
    chrono::Weekday::Tue,
    chrono::Weekday::Wed,
    chrono::Weekday::Thu,
    chrono::Weekday::Fri,
    chrono::Weekday::Sat,
    chrono::Weekday::Sun,
];

fn weekday(s: &str) -> Option<chrono::Weekday> {
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    names.iter().position(|n| n.eq_ignore_ascii_case(s)).map(|i| WEEK[i])
}

/// The calendar model in force: every configured agency, expert, interpreter and service point with its
/// calendar. Entities without an entry (never seeded, or their stored body unreadable) get the rooms-config's
/// version.
#[derive(Debug, Clone)]
pub struct Model {
    pub agencies: HashMap<String, (AgencyCalendar, CalendarSource)>,
    pub experts: HashMap<String, (ExpertProfile, CalendarSource)>,
    pub expert_availability: HashMap<String, (Schedule, CalendarSource)>,
    pub interpreter_availability: HashMap<String, (Schedule, CalendarSource)>,
    pub opening_hours: HashMap<String, (Schedule, CalendarSource)>,
}

impl Model {
    /// The model from the store's entries over the config's entities.
    pub async fn load(store: &Store, config: &RoomsConfig) -> Result<Model, ApiError> {
        let entries = store.all_calendar_entries().await?;
        Ok(Model::from_entries(config, &entries))
    }

    pub fn from_entries(config: &RoomsConfig, entries: &[CalendarEntry]) -> Model {
        let stored: HashMap<(CalendarKind, &str), &CalendarEntry> =
            entries.iter().map(|e| ((e.kind, e.id.as_str()), e)).collect();
        fn pick<T: serde::de::DeserializeOwned>(
            stored: &HashMap<(CalendarKind, &str), &CalendarEntry>,
            kind: CalendarKind,
            id: &str,
            seed: impl FnOnce() -> T,
        ) -> (T, CalendarSource) {
            match stored.get(&(kind, id)) {
                Some(e) => match serde_json::from_str(&e.body) {
                    Ok(v) => (v, e.source),
                    Err(err) => {
                        // Written by another version, or by hand: the config's version is safer than nothing.
                        tracing::error!(kind = kind.as_str(), id, error = %err, "unreadable calendar entry; using the rooms-config's");
                        (seed(), CalendarSource::Seed)
                    }
                },
                None => (seed(), CalendarSource::Seed),
            }
        }
        let mut m = Model {
            agencies: HashMap::new(),
            experts: HashMap::new(),
            expert_availability: HashMap::new(),
            interpreter_availability: HashMap::new(),
            opening_hours: HashMap::new(),
        };
        for a in config.agencies.values() {
            m.agencies.insert(a.id.clone(), pick(&stored, CalendarKind::Agency, &a.id, || a.calendar.clone()));
        }
        for sp in config.service_points.values() {
            m.opening_hours
                .insert(sp.id.clone(), pick(&stored, CalendarKind::OpeningHours, &sp.id, || sp.opening_hours.clone()));
        }
        for p in config.people.values() {
            let id = p.id.as_str();
            let availability = || p.availability.clone().unwrap_or_else(closed);
            match p.role {
                Role::Expert => {
                    m.experts.insert(id.to_string(), pick(&stored, CalendarKind::Expert, id, || p.expert.clone()));
                    m.expert_availability
                        .insert(id.to_string(), pick(&stored, CalendarKind::ExpertAvailability, id, availability));
                }
                Role::Interpreter => {
                    m.interpreter_availability
                        .insert(id.to_string(), pick(&stored, CalendarKind::InterpreterAvailability, id, availability));
                }
                _ => {}
            }
        }
        m
    }

    /// The service with this id and its agency's id.
    pub fn service(&self, id: &str) -> Option<(&str, &AgencyCalendar, &ServiceSpec)> {
        self.agencies
            .iter()
            .find_map(|(agency, (cal, _))| cal.services.iter().find(|s| s.id == id).map(|s| (agency.as_str(), cal, s)))
    }
}

/// The rooms-config's calendar as seeds for the store: what every entity's calendar is until edited.
pub fn seeds(config: &RoomsConfig) -> Vec<CalendarSeed> {
    let json = |v: &dyn erased::Json| v.to_json();
    let mut out = Vec::new();
    for a in config.agencies.values() {
        out.push(CalendarSeed { kind: CalendarKind::Agency, id: a.id.clone(), body: json(&a.calendar) });
    }
    for sp in config.service_points.values() {
        out.push(CalendarSeed { kind: CalendarKind::OpeningHours, id: sp.id.clone(), body: json(&sp.opening_hours) });
    }
    for p in config.people.values() {
        let availability = p.availability.clone().unwrap_or_else(closed);
        match p.role {
            Role::Expert => {
                out.push(CalendarSeed { kind: CalendarKind::Expert, id: p.id.to_string(), body: json(&p.expert) });
                out.push(CalendarSeed {
                    kind: CalendarKind::ExpertAvailability,
                    id: p.id.to_string(),
                    body: json(&availability),
                });
            }
            Role::Interpreter => out.push(CalendarSeed {
                kind: CalendarKind::InterpreterAvailability,
                id: p.id.to_string(),
                body: json(&availability),
            }),
            _ => {}
        }
    }
    out
}

/// Serialising the model's types cannot fail (plain structs, string keys); one place says so.
mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("calendar model types serialise")
        }
    }
}

pub use erased::Json;
