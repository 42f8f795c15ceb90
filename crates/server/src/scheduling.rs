//! Appointments over REST: the calendar model's endpoints (agencies' rules and services, experts'
//! services and stand-ins, availability, opening hours), slot search and booking.
//!
//! - [`model`]: the model's types (one JSON shape for the API and the store), the rooms-config seed, and the
//!   model in force for a request.
//! - [`search`]: `POST /api/slots/search`, and [`busy_time`], the one place that says what makes a resource busy.
//! - [`booking`]: `POST /api/appointments` and the appointment's life (reschedule, cancel, no-show, listings).
//!
//! The calendar engine is `vayla_domain::calendar` (pure); the store enforces "never double-booked" in the
//! database. This layer resolves names to calendars, checks who may do what, and maps refusals to stable error
//! codes. On the wire every instant is an ISO 8601 UTC string with `Z` (`2026-06-02T07:00:00Z`, as RFC 3339
//! accepts any offset on input), every local date `YYYY-MM-DD` in Helsinki, every length in whole minutes; the
//! reference for client writers is `docs/appointments.md`.

pub mod booking;
pub mod model;
pub mod search;

pub use search::busy_time;

use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::now_ms;
use crate::rooms_config::{Person, RoomsConfig};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use model::{schedule_problem, AgencyCalendar, ExpertProfile, Json as _, Model, ServiceSpec};
use serde::Serialize;
use std::sync::Arc;
use vayla_domain::calendar::{AgencyRule, Schedule};
use vayla_domain::{Millis, Role, SubjectId};
use vayla_store::{CalendarEntry, CalendarKind, CalendarSource, Store, StoreError, SEED_AUTHOR};

// ---------------------------------------------------------------------------------------------------------
// Wire helpers shared by the submodules

/// An instant as the API writes it: ISO 8601 UTC with `Z`, to the second (the calendar has minute resolution).
pub fn iso(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// An instant as the API reads it: RFC 3339 (ISO 8601 with an offset, `Z` or `+02:00`).
pub fn parse_instant(field: &str, text: &str) -> Result<Millis, ApiError> {
    let t = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_time",
            format!("{field}: {text:?} is not an ISO 8601 time with an offset, e.g. \"2026-06-02T07:00:00Z\""),
        )
    })?;
    u64::try_from(t.timestamp_millis())
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_time", format!("{field}: before 1970")))
}

/// A local (Helsinki) date, `YYYY-MM-DD`.
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_time",
            format!("{field}: {text:?} is not a date YYYY-MM-DD (Helsinki local date)"),
        )
    })
}

/// A refusal about something the body names (422): `unknown_service`, `expert_not_eligible`, ….
pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The caller's role must be one of `roles`.
pub fn require(caller: &Caller, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&caller.role()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("role {} may not do this", caller.role())))
    }
}

/// Staff: anyone signed in but a device.
pub fn require_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.role() == Role::Device {
        Err(ApiError::forbidden("devices do not use the calendar API"))
    } else {
        Ok(())
    }
}

pub fn config(app: &AppState) -> Arc<RoomsConfig> {
    app.rooms_config.borrow().clone()
}

/// The configured person behind the caller, if the caller is a person.
pub fn caller_person<'c>(config: &'c RoomsConfig, caller: &Caller) -> Option<&'c Person> {
    config.person(&caller.subject()).filter(|p| p.role == caller.role())
}

/// A BCP 47 tag in the form the rooms-config accepts.
pub fn check_language(field: &str, tag: &str) -> Result<(), ApiError> {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    let ok = (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("{field}: {tag:?} is not a BCP 47 language tag such as \"fi\" or \"fse\"")))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Seeding

/// Records the rooms-config's calendar in the store (see `rooms-config/README.md`, "Calendar: seed and edits"):
/// seeded entries follow the config, entries edited through the API keep their edit. Called at start-up and
/// after every accepted reload of the rooms-config.
pub async fn seed(store: &Store, config: &RoomsConfig, at: Millis) -> Result<(), StoreError> {
    let overridden = store.seed_calendar(&model::seeds(config), at as i64).await?;
    if overridden > 0 {
        tracing::info!(overridden, "calendar entries edited through the API keep their edits over the rooms-config");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// GET/PUT /api/calendar/agencies

#[derive(Serialize)]
pub struct AgencyView {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub calendar: AgencyCalendar,
    pub source: CalendarSource,
}

/// `GET /api/calendar/agencies`: every agency with its booking rule and services. Anyone signed in.
pub async fn list_agencies(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<AgencyView>>, ApiError> {
    require_staff(&caller)?;
    let config = config(&app);
    let model = Model::load(&app.store, &config).await?;
    let mut out: Vec<AgencyView> = config
        .agencies
        .values()
        .map(|a| {
            let (calendar, source) = model.agencies[&a.id].clone();
            AgencyView { id: a.id.clone(), name: a.name.clone(), calendar, source }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(out))
}

/// `PUT /api/calendar/agencies/{agency}`: replace an agency's rule and services. Admins only.
pub async fn put_agency(
    State(app): State<AppState>,
    caller: Caller,
    Path(agency): Path<String>,
    ApiJson(body): ApiJson<AgencyCalendar>,
) -> Result<Json<AgencyView>, ApiError> {
    require(&caller, &[Role::Admin])?;
    let config = config(&app);
    let Some(a) = config.agency(&agency) else {
        return Err(ApiError::not_found("unknown_agency", format!("no agency {agency:?}")));
    };
    if let AgencyRule::FixedWindows(w) = &body.rule {
        if w.is_empty() {
            return Err(unprocessable("invalid_calendar", "fixed_windows needs at least one window"));
        }
    }
    let model = Model::load(&app.store, &config).await?;
    for (i, s) in body.services.iter().enumerate() {
        if let Some(problem) = s.problem() {
            return Err(unprocessable("invalid_calendar", format!("services[{i}]: {problem}")));
        }
        let twice = body.services.iter().filter(|o| o.id == s.id).count() > 1;
        let elsewhere = model.service(&s.id).is_some_and(|(owner, _, _)| owner != agency);
        if twice || elsewhere {
            return Err(unprocessable(
                "invalid_calendar",
                format!("services[{i}]: service id {:?} is already used; ids are unique across agencies", s.id),
            ));
        }
    }
    let entry = app
        .store
        .put_calendar_entry(CalendarKind::Agency, &agency, &body.to_json(), &caller.0.sub, now_ms() as i64)
        .await?;
    Ok(Json(AgencyView { id: a.id.clone(), name: a.name.clone(), calendar: body, source: entry.source }))
}

// ---------------------------------------------------------------------------------------------------------
// GET/PUT /api/calendar/experts

#[derive(Serialize)]
pub struct ExpertView {
    pub id: String,
    pub name: String,
    pub agency: String,
    pub languages: Vec<String>,
    /// The services handled, resolved (every service of the agency when the profile says "all").
    pub services: Vec<String>,
    /// Whether `services` is the agency's whole list because the profile names none.
    pub all_services: bool,
    pub stand_ins: Vec<String>,
    pub source: CalendarSource,
}

fn expert_view(model: &Model, p: &Person) -> ExpertView {
    let agency = p.agency.clone().unwrap_or_default();
    let (profile, source) =
        model.experts.get(p.id.as_str()).cloned().unwrap_or((ExpertProfile::default(), CalendarSource::Seed));
    let offered: Vec<String> =
        model.agencies.get(&agency).map(|(c, _)| c.services.iter().map(|s| s.id.clone()).collect()).unwrap_or_default();
    let services = match &profile.services {
        Some(list) => list.iter().filter(|s| offered.contains(s)).cloned().collect(),
        None => offered,
    };
    ExpertView {
        id: p.id.to_string(),
        name: p.name.clone(),
        agency,
        languages: p.languages.clone(),
        all_services: profile.services.is_none(),
        services,
        stand_ins: profile.stand_ins,
        source,
    }
}

/// `GET /api/calendar/experts`: every expert with agency, languages, services and stand-ins. Staff.
pub async fn list_experts(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<ExpertView>>, ApiError> {
    require_staff(&caller)?;
    let config = config(&app);
    let model = Model::load(&app.store, &config).await?;
    let out = config.people.values().filter(|p| p.role == Role::Expert).map(|p| expert_view(&model, p)).collect();
    Ok(Json(out))
}

/// `PUT /api/calendar/experts/{expert}`: the services an expert handles and their stand-ins. Schedulers and admins.
pub async fn put_expert(
    State(app): State<AppState>,
    caller: Caller,
    Path(expert): Path<String>,
    ApiJson(body): ApiJson<ExpertProfile>,
) -> Result<Json<ExpertView>, ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    let config = config(&app);
    let person = expert_person(&config, &expert)?;
    let agency = person.agency.clone().unwrap_or_default();
    let model = Model::load(&app.store, &config).await?;
    let offered = &model.agencies[&agency].0.services;
    for (i, s) in body.services.iter().flatten().enumerate() {
        if !offered.iter().any(|o| &o.id == s) {
            return Err(unprocessable(
                "unknown_service",
                format!("services[{i}]: agency {agency} has no service {s:?}"),
            ));
        }
    }
    for (i, s) in body.stand_ins.iter().enumerate() {
        let other = SubjectId::new(s.as_str()).ok().and_then(|id| config.person(&id).cloned());
        let same_agency = other.as_ref().is_some_and(|o| o.role == Role::Expert && o.agency == person.agency);
        if !same_agency || s == &expert {
            return Err(unprocessable(
                "unknown_expert",
                format!("stand_ins[{i}]: {s:?} is not another expert of the same agency ({agency})"),
            ));
        }
    }
    app.store
        .put_calendar_entry(CalendarKind::Expert, &expert, &body.to_json(), &caller.0.sub, now_ms() as i64)
        .await?;
    let model = Model::load(&app.store, &config).await?;
    Ok(Json(expert_view(&model, person)))
}

fn expert_person<'c>(config: &'c RoomsConfig, id: &str) -> Result<&'c Person, ApiError> {
    SubjectId::new(id)
        .ok()
        .and_then(|s| config.person(&s))
        .filter(|p| p.role == Role::Expert)
        .ok_or_else(|| ApiError::not_found("unknown_expert", format!("no expert {id:?}")))
}

// ---------------------------------------------------------------------------------------------------------
// Availability and opening hours

/// A schedule as the API shows it, with where it came from.
#[derive(Serialize)]
pub struct ScheduleView {
    /// `expert`, `interpreter` or `service_point`.
    pub kind: &'static str,
    pub id: String,
    pub schedule: Schedule,
    pub source: CalendarSource,
    pub updated_by: String,
    /// `None` when the entry was never stored (the rooms-config's version, not yet seeded).
    pub updated_at: Option<String>,
}

fn schedule_view(kind: &'static str, id: &str, fallback: Schedule, entry: Option<CalendarEntry>) -> ScheduleView {
    match entry.and_then(|e| serde_json::from_str::<Schedule>(&e.body).ok().map(|s| (s, e))) {
        Some((schedule, e)) => ScheduleView {
            kind,
            id: id.to_string(),
            schedule,
            source: e.source,
            updated_by: e.updated_by,
            updated_at: Some(iso(e.updated_at.max(0) as u64)),
        },
        None => ScheduleView {
            kind,
            id: id.to_string(),
            schedule: fallback,
            source: CalendarSource::Seed,
            updated_by: SEED_AUTHOR.to_string(),
            updated_at: None,
        },
    }
}

/// Which person's availability a path names: `expert/{id}` or `interpreter/{id}`.
fn availability_target<'c>(
    config: &'c RoomsConfig,
    kind: &str,
    id: &str,
) -> Result<(&'static str, CalendarKind, &'c Person), ApiError> {
    let (word, store_kind, role) = match kind {
        "expert" => ("expert", CalendarKind::ExpertAvailability, Role::Expert),
        "interpreter" => ("interpreter", CalendarKind::InterpreterAvailability, Role::Interpreter),
        other => {
            return Err(ApiError::not_found(
                "unknown_kind",
                format!("availability is kept for \"expert\" and \"interpreter\", not {other:?}"),
            ))
        }
    };
    let person =
        SubjectId::new(id).ok().and_then(|s| config.person(&s)).filter(|p| p.role == role).ok_or_else(|| {
            ApiError::not_found(
                if role == Role::Expert { "unknown_expert" } else { "unknown_interpreter" },
                format!("no {word} {id:?}"),
            )
        })?;
    Ok((word, store_kind, person))
}

/// May the caller change this person's availability? Schedulers and admins anyone's, people their own.
fn may_edit_availability(caller: &Caller, person: &Person) -> Result<(), ApiError> {
    match caller.role() {
        Role::Scheduler | Role::Admin => Ok(()),
        _ if caller.0.sub == person.id.as_str() && caller.role() == person.role => Ok(()),
        r => Err(ApiError::forbidden(format!("role {r} may change only their own availability"))),
    }
}

/// `GET /api/calendar/availability/{kind}/{id}`: an expert's or interpreter's weekly availability. Staff.
pub async fn get_availability(
    State(app): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    require_staff(&caller)?;
    let config = config(&app);
    let (word, store_kind, person) = availability_target(&config, &kind, &id)?;
    let entry = app.store.calendar_entry(store_kind, &id).await?;
    let fallback = person.availability.clone().unwrap_or_else(model::closed);
    Ok(Json(schedule_view(word, &id, fallback, entry)))
}

/// `PUT /api/calendar/availability/{kind}/{id}`: replace it (the body is a schedule). The person themselves, a
/// scheduler or an admin.
pub async fn put_availability(
    State(app): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    ApiJson(schedule): ApiJson<Schedule>,
) -> Result<Json<ScheduleView>, ApiError> {
    let config = config(&app);
    let (word, store_kind, person) = availability_target(&config, &kind, &id)?;
    may_edit_availability(&caller, person)?;
    if let Some(problem) = schedule_problem(&schedule) {
        return Err(unprocessable("invalid_calendar", problem));
    }
    let entry =
        app.store.put_calendar_entry(store_kind, &id, &schedule.to_json(), &caller.0.sub, now_ms() as i64).await?;
    Ok(Json(schedule_view(word, &id, schedule, Some(entry))))
}

/// `DELETE /api/calendar/availability/{kind}/{id}`: undo API edits; the rooms-config's version is in force again.
pub async fn revert_availability(
    State(app): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    let config = config(&app);
    let (word, store_kind, person) = availability_target(&config, &kind, &id)?;
    may_edit_availability(&caller, person)?;
    let entry = revert(&app.store, store_kind, &id, &caller).await?;
    let fallback = person.availability.clone().unwrap_or_else(model::closed);
    Ok(Json(schedule_view(word, &id, fallback, Some(entry))))
}

async fn revert(store: &Store, kind: CalendarKind, id: &str, caller: &Caller) -> Result<CalendarEntry, ApiError> {
    match store.revert_calendar_entry(kind, id, &caller.0.sub, now_ms() as i64).await {
        Ok(e) => Ok(e),
        Err(StoreError::NotFound { .. }) => {
            Err(ApiError::conflict("no_seed", "the rooms-config has no version of this entry to go back to"))
        }
        Err(e) => Err(e.into()),
    }
}

fn service_point_hours(config: &RoomsConfig, id: &str) -> Result<Schedule, ApiError> {
    config
        .service_point(id)
        .map(|sp| sp.opening_hours.clone())
        .ok_or_else(|| ApiError::not_found("unknown_service_point", format!("no service point {id:?}")))
}

/// `GET /api/calendar/opening-hours/{service_point}`: a service point's opening hours. Staff.
pub async fn get_opening_hours(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    require_staff(&caller)?;
    let fallback = service_point_hours(&config(&app), &id)?;
    let entry = app.store.calendar_entry(CalendarKind::OpeningHours, &id).await?;
    Ok(Json(schedule_view("service_point", &id, fallback, entry)))
}

/// `PUT /api/calendar/opening-hours/{service_point}`: replace them. Schedulers and admins.
pub async fn put_opening_hours(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(schedule): ApiJson<Schedule>,
) -> Result<Json<ScheduleView>, ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    service_point_hours(&config(&app), &id)?;
    if let Some(problem) = schedule_problem(&schedule) {
        return Err(unprocessable("invalid_calendar", problem));
    }
    let entry = app
        .store
        .put_calendar_entry(CalendarKind::OpeningHours, &id, &schedule.to_json(), &caller.0.sub, now_ms() as i64)
        .await?;
    Ok(Json(schedule_view("service_point", &id, schedule, Some(entry))))
}

/// `DELETE /api/calendar/opening-hours/{service_point}`: back to the rooms-config's opening hours.
pub async fn revert_opening_hours(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    require(&caller, &[Role::Scheduler, Role::Admin])?;
    let fallback = service_point_hours(&config(&app), &id)?;
    let entry = revert(&app.store, CalendarKind::OpeningHours, &id, &caller).await?;
    Ok(Json(schedule_view("service_point", &id, fallback, Some(entry))))
}

/// A service as the API shows it in search replies and appointment views.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub agency: String,
    #[serde(flatten)]
    pub spec: ServiceSpec,
}
