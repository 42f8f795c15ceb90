//! Slot search: `POST /api/slots/search`. Resolves the request's names to calendars (devices from opening hours,
//! experts and interpreters from their availability, everyone's busy time from [`busy_time`]) and lets
//! `vayla_domain::calendar::find_slots` do the arithmetic.
//!
//! [`search`] is the whole search without HTTP, so the benchmark measures exactly what the endpoint does.

use super::model::{Model, ServiceSpec};
use super::{check_language, iso, parse_date, unprocessable, ServiceView};
use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::now_ms;
use crate::rooms_config::RoomsConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vayla_domain::calendar::{
    find_slots, AgencyRule, Candidates, IntervalSet, LocalDays, ResourceCalendar, ResourceKey, ResourceKind, SlotQuery,
    DAY, HELSINKI, MINUTE, TZDATA_VERSION,
};
use vayla_domain::{Millis, Role, SubjectId};
use vayla_store::Store;

/// Slots returned at most by one search (`limit` may ask for fewer).
pub const MAX_SLOTS: usize = 2000;
/// The default grid of offered starts.
pub const DEFAULT_STEP_MINUTES: u32 = 15;

/// An interpreter request: the language interpreted (the customer's, e.g. `fse`) and how (`remote`,
/// `on_site`, …; carried with the booking, matched by the interpreter offer cascade, `crate::interpreting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterpreterRequest {
    pub language: String,
    pub modality: String,
}

impl InterpreterRequest {
    pub fn validate(&self, field: &str) -> Result<(), ApiError> {
        check_language(&format!("{field}.language"), &self.language)?;
        let m = &self.modality;
        if m.is_empty() || m.len() > 35 || !m.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(ApiError::bad_request(format!(
                "{field}.modality: {m:?} is not a modality word such as \"remote\" or \"on_site\""
            )));
        }
        Ok(())
    }
}

/// The body of `POST /api/slots/search`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSearch {
    /// The service id (unique across agencies).
    pub service: String,
    /// Search every device of these service points …
    #[serde(default)]
    pub service_points: Vec<String>,
    /// … and/or these devices.
    #[serde(default)]
    pub devices: Vec<String>,
    /// A named expert; by default any expert of the agency who handles the service (and speaks `language`).
    #[serde(default)]
    pub expert: Option<String>,
    /// With a named expert: also offer their stand-ins (after them, in their order).
    #[serde(default)]
    pub with_stand_ins: bool,
    /// The language the expert must speak (BCP 47).
    #[serde(default)]
    pub language: Option<String>,
    /// An interpreter is needed: candidates are interpreters speaking this language.
    #[serde(default)]
    pub interpreter: Option<InterpreterRequest>,
    /// First and last local (Helsinki) date searched, inclusive, `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    /// The grid of offered starts in minutes from local midnight (default 15).
    #[serde(default)]
    pub step_minutes: Option<u32>,
    /// At most this many slots (default and maximum 2000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One free slot: any listed device with any listed expert (and interpreter, when one is needed) may be booked.
#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub start: String,
    pub end: String,
    pub devices: Vec<String>,
    pub experts: Vec<String>,
    pub interpreters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotsReply {
    pub service: ServiceView,
    /// The agency's rule, flattened: `"rule"` and, for fixed windows, `"windows"`.
    #[serde(flatten)]
    pub rule: AgencyRule,
    pub from: String,
    pub to: String,
    pub time_zone: &'static str,
    pub tzdata: &'static str,
    pub slots: Vec<SlotView>,
    /// True when `limit` cut the list.
    pub truncated: bool,
}

/// `POST /api/slots/search`: free slots. Anyone signed in but a device.
pub async fn search_slots(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SlotSearch>,
) -> Result<Json<SlotsReply>, ApiError> {
    super::require_staff(&caller)?;
    let config = super::config(&app);
    let model = Model::load(&app.store, &config).await?;
    Ok(Json(search(&app.store, &config, &model, &body, now_ms()).await?))
}

/// Everything that makes these resources busy over `[from, to)`, per resource: their active reservations
/// (buffers included, as the store records them). The one place that gathers busy time, so that busy time from
/// other sources (an expert's external calendar) joins every search and every booking check at once.
pub async fn busy_time(
    store: &Store,
    resources: &[ResourceKey],
    from: Millis,
    to: Millis,
) -> Result<HashMap<ResourceKey, IntervalSet>, ApiError> {
    let mut out: HashMap<ResourceKey, IntervalSet> = HashMap::new();
    for kind in ResourceKind::ALL {
        let ids: Vec<String> = resources.iter().filter(|k| k.kind == kind).map(|k| k.id.to_string()).collect();
        if ids.is_empty() {
            continue;
        }
        let mut rows = store.busy_for_resources(store_kind(kind), &ids, from as i64, to as i64).await?;
        // External busy time: an expert's own calendar, as last read by `external_busy`, blocks them
        // like a reservation does, in searches and in the booking check alike.
        if kind == ResourceKind::Expert {
            rows.extend(store.external_busy_for_experts(&ids, from as i64, to as i64).await?);
        }
        let mut spans: HashMap<String, Vec<vayla_domain::calendar::Interval>> = HashMap::new();
        for (id, start, end) in rows {
            spans
                .entry(id)
                .or_default()
                .push(vayla_domain::calendar::Interval::new(start.max(0) as u64, end.max(0) as u64));
        }
        for (id, list) in spans {
            if let Ok(subject) = SubjectId::new(id) {
                out.insert(ResourceKey::new(kind, subject), IntervalSet::from_intervals(list));
            }
        }
    }
    Ok(out)
}

pub fn store_kind(kind: ResourceKind) -> vayla_store::ResourceKind {
    match kind {
        ResourceKind::Device => vayla_store::ResourceKind::Device,
        ResourceKind::Expert => vayla_store::ResourceKind::Expert,
        ResourceKind::Interpreter => vayla_store::ResourceKind::Interpreter,
    }
}

fn key(kind: ResourceKind, id: &str) -> ResourceKey {
    ResourceKey::new(kind, SubjectId::new(id).expect("configured ids are valid subject ids"))
}

/// The service a request names, with its agency and rule.
pub fn resolve_service<'m>(model: &'m Model, id: &str) -> Result<(&'m str, &'m AgencyRule, &'m ServiceSpec), ApiError> {
    model.service(id).map(|(agency, cal, spec)| (agency, &cal.rule, spec)).ok_or_else(|| {
        unprocessable("unknown_service", format!("no service {id:?}; GET /api/calendar/agencies lists them"))
    })
}

/// Why an expert cannot take this service, if they cannot: not an expert, another agency, does not handle it,
/// does not speak the language.
pub fn expert_refusal(
    config: &RoomsConfig,
    model: &Model,
    expert: &str,
    agency: &str,
    service: &str,
    language: Option<&str>,
) -> Option<ApiError> {
    let person = SubjectId::new(expert).ok().and_then(|id| config.person(&id)).filter(|p| p.role == Role::Expert);
    let Some(person) = person else {
        return Some(unprocessable("unknown_expert", format!("no expert {expert:?}")));
    };
    if person.agency.as_deref() != Some(agency) {
        return Some(unprocessable("expert_not_eligible", format!("{expert} is not an expert of {agency}")));
    }
    if !model.experts.get(expert).is_some_and(|(p, _)| p.handles(service)) {
        return Some(unprocessable("expert_not_eligible", format!("{expert} does not handle {service}")));
    }
    if let Some(lang) = language {
        if !person.languages.iter().any(|l| l.eq_ignore_ascii_case(lang)) {
            return Some(unprocessable("expert_not_eligible", format!("{expert} does not speak {lang}")));
        }
    }
    None
}

/// The devices a request names, in order, without repeats.
fn resolve_devices(config: &RoomsConfig, req: &SlotSearch) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for sp in &req.service_points {
        if config.service_point(sp).is_none() {
            return Err(unprocessable("unknown_service_point", format!("no service point {sp:?}")));
        }
        for d in config.devices_of(sp) {
            if !out.iter().any(|(id, _)| id == d.id.as_str()) {
                out.push((d.id.to_string(), d.service_point.clone()));
            }
        }
    }
    for id in &req.devices {
        let device = vayla_domain::RoomId::new(id.as_str()).ok().and_then(|r| config.device(&r));
        let Some(device) = device else {
            return Err(unprocessable("unknown_device", format!("no device {id:?}")));
        };
        if !out.iter().any(|(d, _)| d == id) {
            out.push((id.clone(), device.service_point.clone()));
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("name the service_points or devices to search"));
    }
    Ok(out)
}

/// The local days `from ..= to` of a request.
pub fn local_days(from: &str, to: &str) -> Result<LocalDays, ApiError> {
    let (from, to) = (parse_date("from", from)?, parse_date("to", to)?);
    LocalDays::new(from, to).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_range", e.to_string()))
}

/// The whole search, without HTTP: see the module doc.
pub async fn search(
    store: &Store,
    config: &RoomsConfig,
    model: &Model,
    req: &SlotSearch,
    now: Millis,
) -> Result<SlotsReply, ApiError> {
    let (agency, rule, spec) = resolve_service(model, &req.service)?;
    if let Some(lang) = &req.language {
        check_language("language", lang)?;
    }
    if let Some(i) = &req.interpreter {
        i.validate("interpreter")?;
    }
    let step = req.step_minutes.unwrap_or(DEFAULT_STEP_MINUTES);
    if step == 0 || step > 24 * 60 {
        return Err(ApiError::bad_request("step_minutes must be 1 to 1440"));
    }
    let days = local_days(&req.from, &req.to)?;
    let devices = resolve_devices(config, req)?;
    let language = req.language.as_deref();

    let experts: Vec<String> = match &req.expert {
        Some(named) => {
            if let Some(refusal) = expert_refusal(config, model, named, agency, &spec.id, language) {
                return Err(refusal);
            }
            let mut list = vec![named.clone()];
            if req.with_stand_ins {
                let stand_ins = model.experts.get(named).map(|(p, _)| p.stand_ins.clone()).unwrap_or_default();
                for s in stand_ins {
                    if !list.contains(&s) && expert_refusal(config, model, &s, agency, &spec.id, language).is_none() {
                        list.push(s);
                    }
                }
            }
            list
        }
        None => config
            .people
            .values()
            .filter(|p| p.role == Role::Expert)
            .filter(|p| expert_refusal(config, model, p.id.as_str(), agency, &spec.id, language).is_none())
            .map(|p| p.id.to_string())
            .collect(),
    };
    let interpreters: Option<Vec<String>> = req.interpreter.as_ref().map(|need| {
        config
            .people
            .values()
            .filter(|p| p.role == Role::Interpreter)
            .filter(|p| p.languages.iter().any(|l| l.eq_ignore_ascii_case(&need.language)))
            .map(|p| p.id.to_string())
            .collect()
    });

    let mut keys: Vec<ResourceKey> = devices.iter().map(|(d, _)| key(ResourceKind::Device, d)).collect();
    keys.extend(experts.iter().map(|e| key(ResourceKind::Expert, e)));
    keys.extend(interpreters.iter().flatten().map(|i| key(ResourceKind::Interpreter, i)));
    let (span_start, span_end) = days.span();
    // A day either side: bookings just outside the searched days still block starts inside them by their buffers.
    let mut busy = busy_time(store, &keys, span_start.saturating_sub(DAY), span_end + DAY).await?;
    let mut take_busy = |k: &ResourceKey| busy.remove(k).unwrap_or_default();

    let device_cals: Vec<ResourceCalendar> = devices
        .iter()
        .map(|(d, sp)| {
            let k = key(ResourceKind::Device, d);
            let closed = super::model::closed();
            let opening = model.opening_hours.get(sp).map(|(s, _)| s).unwrap_or(&closed);
            let b = take_busy(&k);
            ResourceCalendar::device(k, opening, None, &days, b)
        })
        .collect();
    let person_cal = |kind: ResourceKind, id: &str, b: IntervalSet| {
        let schedules =
            if kind == ResourceKind::Expert { &model.expert_availability } else { &model.interpreter_availability };
        let closed = super::model::closed();
        let schedule = schedules.get(id).map(|(s, _)| s).unwrap_or(&closed);
        ResourceCalendar::from_schedule(key(kind, id), schedule, &days, b)
    };
    let expert_cals: Vec<ResourceCalendar> =
        experts.iter().map(|e| person_cal(ResourceKind::Expert, e, take_busy(&key(ResourceKind::Expert, e)))).collect();
    let interpreter_cals: Option<Vec<ResourceCalendar>> = interpreters.as_ref().map(|list| {
        list.iter()
            .map(|i| person_cal(ResourceKind::Interpreter, i, take_busy(&key(ResourceKind::Interpreter, i))))
            .collect()
    });

    let limit = req.limit.unwrap_or(MAX_SLOTS).clamp(1, MAX_SLOTS);
    let mut query = SlotQuery::new(spec.to_domain(agency), rule.clone(), now, u64::from(step) * MINUTE);
    // One more than asked, to know whether the list was cut.
    query.limit = Some(limit + 1);
    let candidates =
        Candidates { devices: &device_cals, experts: &expert_cals, interpreters: interpreter_cals.as_deref() };
    let mut slots =
        find_slots(&query, &days, &candidates).map_err(|e| ApiError::bad_request(format!("search refused: {e}")))?;
    let truncated = slots.len() > limit;
    slots.truncate(limit);

    let name = |list: &[ResourceCalendar], idx: &[u32]| -> Vec<String> {
        idx.iter().map(|&i| list[i as usize].key.id.to_string()).collect()
    };
    let slots = slots
        .iter()
        .map(|s| SlotView {
            start: iso(s.start),
            end: iso(s.end),
            devices: name(&device_cals, &s.devices),
            experts: name(&expert_cals, &s.experts),
            interpreters: interpreter_cals.as_deref().map(|l| name(l, &s.interpreters)).unwrap_or_default(),
        })
        .collect();
    Ok(SlotsReply {
        service: ServiceView { agency: agency.to_string(), spec: spec.clone() },
        rule: rule.clone(),
        from: days.first_date().to_string(),
        to: days.last_date().to_string(),
        time_zone: HELSINKI.name(),
        tzdata: TZDATA_VERSION,
        slots,
        truncated,
    })
}
