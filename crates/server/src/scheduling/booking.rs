//! Booking and an appointment's life over REST: book, list, show, reschedule, cancel, mark no-show.
//!
//! A booking is checked twice: here, against every rule (`check_slot`: notice, horizon, holidays, fixed windows,
//! opening hours, availability, busy time) so that a refusal can say why; and then by the database, which refuses
//! a resource reserved twice even when two bookings race past the first check at the same moment. The first
//! refusal is `422 slot_unavailable` (or `409 slot_taken` when the time is simply taken); the second is always
//! `409 slot_taken`. The store writes the audit entry of every change in the change's own transaction.
//!
//! The customer reference is opaque (a case number, never a name) and shown only to those who need it: schedulers,
//! admins, advisors of the appointment's service point and the booked expert.

use super::model::Model;
use super::search::{busy_time, expert_refusal, resolve_service, store_kind, InterpreterRequest};
use super::{caller_person, check_language, iso, parse_date, parse_instant, unprocessable};
use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::now_ms;
use crate::rooms_config::RoomsConfig;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use vayla_domain::calendar::{
    check_slot, local_date, local_to_utc, Interval, LocalDays, LocalTime, ResourceCalendar, ResourceKey, ResourceKind,
    SlotQuery, SlotRefusal, DAY, MAX_DAYS, MINUTE,
};
use vayla_domain::{Millis, Role, RoomId, SubjectId};
use vayla_store::{
    AppointmentRecord, InterpreterNeed, NewAppointment, NewReservation, Reschedule, SpecialNeeds, Store, StoreError,
};

/// Longest customer reference and accessibility note (the database checks the same).
const MAX_CUSTOMER_REF: usize = 200;
const MAX_ACCESSIBILITY: usize = 500;
const MAX_REASON: usize = 500;

/// The customer's special needs as a booking states them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NeedsRequest {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub interpreter: Option<InterpreterRequest>,
    #[serde(default)]
    pub accessibility: Option<String>,
}

/// The body of `POST /api/appointments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub service: String,
    pub device: String,
    pub expert: String,
    /// ISO 8601 with an offset; normally a slot's `start` from a search.
    pub start: String,
    #[serde(default)]
    pub customer_ref: Option<String>,
    #[serde(default)]
    pub special_needs: NeedsRequest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub start: String,
    /// Must be the appointment's own device if given: the device (its room) is part of the booking.
    #[serde(default)]
    pub device: Option<String>,
    /// Another expert of the same agency who handles the service (a stand-in).
    #[serde(default)]
    pub expert: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReservationView {
    pub kind: vayla_store::ResourceKind,
    pub resource: String,
    pub start: String,
    pub end: String,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeedsView {
    pub language: Option<String>,
    pub interpreter: Option<InterpreterRequest>,
    pub accessibility: Option<String>,
}

/// An appointment as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentView {
    pub id: String,
    /// The iCalendar UID.
    pub uid: String,
    pub agency: String,
    pub service: String,
    pub service_point: String,
    pub device: String,
    /// The booked expert (the last one, for a closed appointment).
    pub expert: Option<String>,
    /// Interpreters holding a reservation now.
    pub interpreters: Vec<String>,
    pub start: String,
    pub end: String,
    /// `booked`, `cancelled`, `no_show` or `completed`.
    pub status: vayla_store::AppointmentStatus,
    /// Only for schedulers, admins, advisors of the service point and the booked expert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    pub special_needs: NeedsView,
    pub cancel_reason: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_by: String,
    pub updated_at: String,
    /// 0 at booking, +1 on every change (the iCalendar SEQUENCE).
    pub sequence: i64,
    pub reservations: Vec<ReservationView>,
}

fn ms(t: i64) -> Millis {
    t.max(0) as Millis
}

fn booked_expert(a: &AppointmentRecord) -> Option<String> {
    let mut experts = a.reservations.iter().filter(|r| r.kind == vayla_store::ResourceKind::Expert);
    experts.clone().find(|r| r.active).or_else(|| experts.next_back()).map(|r| r.resource_id.clone())
}

/// May this caller see the customer reference of `a`?
fn sees_customer_ref(config: &RoomsConfig, caller: &Caller, a: &AppointmentRecord) -> bool {
    match caller.role() {
        Role::Scheduler | Role::Admin => true,
        Role::Advisor => own_service_point(config, caller).as_deref() == Some(a.service_point.as_str()),
        Role::Expert => booked_expert(a).as_deref() == Some(caller.0.sub.as_str()),
        _ => false,
    }
}

pub fn view(config: &RoomsConfig, caller: Option<&Caller>, a: AppointmentRecord) -> AppointmentView {
    let show_ref = caller.is_none_or(|c| sees_customer_ref(config, c, &a));
    AppointmentView {
        expert: booked_expert(&a),
        interpreters: a
            .active()
            .filter(|r| r.kind == vayla_store::ResourceKind::Interpreter)
            .map(|r| r.resource_id.clone())
            .collect(),
        start: iso(ms(a.start_ms)),
        end: iso(ms(a.end_ms)),
        customer_ref: if show_ref { a.customer_ref.clone() } else { None },
        special_needs: NeedsView {
            language: a.needs.language.clone(),
            interpreter: a
                .needs
                .interpreter
                .as_ref()
                .map(|i| InterpreterRequest { language: i.language.clone(), modality: i.modality.clone() }),
            accessibility: a.needs.accessibility.clone(),
        },
        cancel_reason: a.cancel_reason.clone(),
        closed_by: a.closed_by.clone(),
        closed_at: a.closed_at.map(|t| iso(ms(t))),
        created_at: iso(ms(a.created_at)),
        updated_at: iso(ms(a.updated_at)),
        reservations: a
            .reservations
            .iter()
            .map(|r| ReservationView {
                kind: r.kind,
                resource: r.resource_id.clone(),
                start: iso(ms(r.start_ms)),
                end: iso(ms(r.end_ms)),
                active: r.active,
            })
            .collect(),
        status: a.status,
        id: a.id,
        uid: a.uid,
        agency: a.agency,
        service: a.service,
        service_point: a.service_point,
        device: a.device,
        created_by: a.created_by,
        updated_by: a.updated_by,
        sequence: a.sequence,
    }
}

fn own_service_point(config: &RoomsConfig, caller: &Caller) -> Option<String> {
    caller_person(config, caller).and_then(|p| p.service_point.clone())
}

/// Who may book, reschedule at, or manage appointments of a service point: schedulers and admins anywhere,
/// advisors at their own point.
fn may_book_at(config: &RoomsConfig, caller: &Caller, service_point: &str) -> Result<(), ApiError> {
    match caller.role() {
        Role::Scheduler | Role::Admin => Ok(()),
        Role::Advisor if own_service_point(config, caller).as_deref() == Some(service_point) => Ok(()),
        Role::Advisor => Err(ApiError::forbidden("advisors book at their own service point only")),
        r => Err(ApiError::forbidden(format!("role {r} does not book appointments"))),
    }
}

/// Cancel or mark no-show: as booking, and the booked expert too.
fn may_close(config: &RoomsConfig, caller: &Caller, a: &AppointmentRecord) -> Result<(), ApiError> {
    if caller.role() == Role::Expert && booked_expert(a).as_deref() == Some(caller.0.sub.as_str()) {
        return Ok(());
    }
    may_book_at(config, caller, &a.service_point)
}

/// May the caller see this appointment at all?
fn may_see(config: &RoomsConfig, caller: &Caller, a: &AppointmentRecord) -> bool {
    let holds = |kind: vayla_store::ResourceKind| {
        a.reservations.iter().any(|r| r.kind == kind && r.resource_id == caller.0.sub)
    };
    match caller.role() {
        Role::Scheduler | Role::Admin => true,
        Role::Advisor => own_service_point(config, caller).as_deref() == Some(a.service_point.as_str()),
        Role::Expert => holds(vayla_store::ResourceKind::Expert),
        Role::Interpreter => holds(vayla_store::ResourceKind::Interpreter),
        Role::Device => a.device == caller.0.sub,
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::ResourceBusy { kind, resource } => ApiError::conflict(
            "slot_taken",
            format!("{kind} {resource} was booked for an overlapping time a moment ago; search again"),
        ),
        StoreError::AppointmentClosed { id, status } => {
            ApiError::conflict("appointment_closed", format!("appointment {id} is {status}, no longer booked"))
        }
        StoreError::NotFound { id, .. } => ApiError::not_found("unknown_appointment", format!("no appointment {id:?}")),
        StoreError::Conflict { what, id } => ApiError::conflict("conflict", format!("{what} {id} already exists")),
        other => other.into(),
    }
}

/// A `check_slot` refusal as an API error: `409 slot_taken` when a resource is busy then, `422
/// slot_unavailable` otherwise. The message starts with a stable reason word (`too_soon`, `beyond_horizon`,
/// `outside_days`, `holiday`, `outside_windows`, `unavailable`, `busy`), then a colon and the explanation.
fn refusal(r: SlotRefusal) -> ApiError {
    let (reason, text) = match &r {
        SlotRefusal::TooSoon { earliest } => ("too_soon", format!("the earliest start is {}", iso(*earliest))),
        SlotRefusal::BeyondHorizon { latest } => ("beyond_horizon", format!("the latest start is {}", iso(*latest))),
        SlotRefusal::OutsideDays => ("outside_days", r.to_string()),
        SlotRefusal::Holiday => ("holiday", "the appointment falls on a Finnish public holiday".to_string()),
        SlotRefusal::OutsideWindows => ("outside_windows", r.to_string()),
        SlotRefusal::Unavailable(k) => ("unavailable", format!("{k} is not available (hours or availability) then")),
        SlotRefusal::Busy(k) => return ApiError::conflict("slot_taken", format!("busy: {k} is already booked then")),
    };
    unprocessable("slot_unavailable", format!("{reason}: {text}"))
}

/// What a checked booking resolved to.
struct Checked {
    agency: String,
    service_point: String,
    span: (Millis, Millis),
    device_busy: Interval,
    expert_busy: Interval,
}

/// Checks a booking of `service` at `device` with `expert` at `start` against every rule. `own` is the
/// appointment being rescheduled: its own reservations do not count as busy.
#[allow(clippy::too_many_arguments)]
async fn check(
    store: &Store,
    config: &RoomsConfig,
    model: &Model,
    service: &str,
    device: &str,
    expert: &str,
    language: Option<&str>,
    start: Millis,
    own: Option<&AppointmentRecord>,
    now: Millis,
) -> Result<Checked, ApiError> {
    let (agency, rule, spec) = resolve_service(model, service)?;
    let device_cfg = RoomId::new(device).ok().and_then(|r| config.device(&r));
    let Some(device_cfg) = device_cfg else {
        return Err(unprocessable("unknown_device", format!("no device {device:?}")));
    };
    if let Some(refused) = expert_refusal(config, model, expert, agency, &spec.id, language) {
        return Err(refused);
    }
    let service_def = spec.to_domain(agency);
    let date = local_date(start);
    let days = LocalDays::new(date.pred_opt().unwrap_or(date), date.succ_opt().unwrap_or(date))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let device_key = ResourceKey::device(SubjectId::new(device).expect("configured device id"));
    let expert_key = ResourceKey::expert(SubjectId::new(expert).expect("configured expert id"));
    let (from, to) = days.span();
    let mut busy =
        busy_time(store, &[device_key.clone(), expert_key.clone()], from.saturating_sub(DAY), to + DAY).await?;
    if let Some(own) = own {
        // The appointment's own reservations are the only ones with exactly these bounds on these resources
        // (a resource's reservations never overlap), so subtracting them frees exactly its own time.
        for r in own.active() {
            let k = match r.kind {
                vayla_store::ResourceKind::Device => {
                    ResourceKey::device(SubjectId::new(r.resource_id.as_str()).expect("stored id"))
                }
                vayla_store::ResourceKind::Expert => {
                    ResourceKey::expert(SubjectId::new(r.resource_id.as_str()).expect("stored id"))
                }
                vayla_store::ResourceKind::Interpreter => continue,
            };
            if let Some(set) = busy.get_mut(&k) {
                *set = set.subtract(&vayla_domain::calendar::IntervalSet::single(ms(r.start_ms), ms(r.end_ms)));
            }
        }
    }
    let closed = super::model::closed();
    let opening = model.opening_hours.get(&device_cfg.service_point).map(|(s, _)| s).unwrap_or(&closed);
    let availability = model.expert_availability.get(expert).map(|(s, _)| s).unwrap_or(&closed);
    let device_cal = ResourceCalendar::device(
        device_key.clone(),
        opening,
        None,
        &days,
        busy.remove(&device_key).unwrap_or_default(),
    );
    let expert_cal = ResourceCalendar::from_schedule(
        expert_key.clone(),
        availability,
        &days,
        busy.remove(&expert_key).unwrap_or_default(),
    );
    let query = SlotQuery::new(service_def.clone(), rule.clone(), now, MINUTE);
    check_slot(&query, &days, start, &device_cal, &expert_cal, None).map_err(refusal)?;
    let appointment = service_def.appointment(start);
    let buffered = service_def.busy_span(start);
    Ok(Checked {
        agency: agency.to_string(),
        service_point: device_cfg.service_point.clone(),
        span: (appointment.start, appointment.end),
        device_busy: buffered,
        expert_busy: buffered,
    })
}

fn reservation(kind: ResourceKind, id: &str, span: Interval) -> NewReservation {
    NewReservation {
        kind: store_kind(kind),
        resource_id: id.to_string(),
        start_ms: span.start as i64,
        end_ms: span.end as i64,
    }
}

fn check_needs(needs: &NeedsRequest, customer_ref: Option<&str>) -> Result<(), ApiError> {
    if let Some(l) = &needs.language {
        check_language("special_needs.language", l)?;
    }
    if let Some(i) = &needs.interpreter {
        i.validate("special_needs.interpreter")?;
    }
    if needs.accessibility.as_ref().is_some_and(|a| a.chars().count() > MAX_ACCESSIBILITY) {
        return Err(ApiError::bad_request(format!(
            "special_needs.accessibility: at most {MAX_ACCESSIBILITY} characters"
        )));
    }
    if let Some(r) = customer_ref {
        if r.trim().is_empty() || r.chars().count() > MAX_CUSTOMER_REF {
            return Err(ApiError::bad_request(format!(
                "customer_ref: 1 to {MAX_CUSTOMER_REF} characters (an opaque reference such as a case number, never a name)"
            )));
        }
    }
    Ok(())
}

/// The whole booking, without HTTP or role checks: check, then one transaction in the store.
pub async fn book(
    store: &Store,
    config: &RoomsConfig,
    model: &Model,
    by: &str,
    req: &BookRequest,
    now: Millis,
) -> Result<AppointmentRecord, ApiError> {
    check_needs(&req.special_needs, req.customer_ref.as_deref())?;
    let start = parse_instant("start", &req.start)?;
    let needs = &req.special_needs;
    let c = check(
        store,
        config,
        model,
        &req.service,
        &req.device,
        &req.expert,
        needs.language.as_deref(),
        start,
        None,
        now,
    )
    .await?;
    let id = uuid::Uuid::new_v4().to_string();
    let new = NewAppointment {
        uid: format!("{id}@vayla"),
        id,
        agency: c.agency,
        service: req.service.clone(),
        service_point: c.service_point,
        device: req.device.clone(),
        start_ms: c.span.0 as i64,
        end_ms: c.span.1 as i64,
        customer_ref: req.customer_ref.as_ref().map(|r| r.trim().to_string()),
        needs: SpecialNeeds {
            language: needs.language.clone(),
            interpreter: needs
                .interpreter
                .as_ref()
                .map(|i| InterpreterNeed { language: i.language.clone(), modality: i.modality.clone() }),
            accessibility: needs.accessibility.clone().filter(|a| !a.trim().is_empty()),
        },
        created_by: by.to_string(),
        created_at: now as i64,
        reservations: vec![
            reservation(ResourceKind::Device, &req.device, c.device_busy),
            reservation(ResourceKind::Expert, &req.expert, c.expert_busy),
        ],
    };
    store.book_appointment(&new).await.map_err(store_error)
}

/// `POST /api/appointments`: book. Schedulers and admins anywhere, advisors at their own service point.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BookRequest>,
) -> Result<(StatusCode, Json<AppointmentView>), ApiError> {
    let config = super::config(&app);
    if matches!(caller.role(), Role::Scheduler | Role::Admin | Role::Advisor) {
        // The device's service point decides an advisor's right; an unknown device is the body's fault.
        let sp =
            RoomId::new(body.device.as_str()).ok().and_then(|r| config.device(&r)).map(|d| d.service_point.clone());
        if let Some(sp) = sp {
            may_book_at(&config, &caller, &sp)?;
        } else if caller.role() == Role::Advisor {
            return Err(unprocessable("unknown_device", format!("no device {:?}", body.device)));
        }
    } else {
        return Err(ApiError::forbidden(format!("role {} does not book appointments", caller.role())));
    }
    let model = Model::load(&app.store, &config).await?;
    let record = book(&app.store, &config, &model, &caller.0.sub, &body, now_ms()).await?;
    tracing::info!(appointment = %record.id, device = %record.device, "appointment booked");
    announce(&app, &record);
    Ok((StatusCode::CREATED, Json(view(&config, Some(&caller), record))))
}

/// Tell the watchers of this appointment that it changed: schedulers, the device and its service point's
/// advisors, and every expert and interpreter it holds or ever held (one taken off by a reschedule must hear
/// of it too). Call after the change has committed.
fn announce(app: &AppState, record: &AppointmentRecord) {
    announce_to(&app.events, record);
}

/// [`announce`] with the events hub alone (for the interpreter cascade task, which has no `AppState`).
pub(crate) fn announce_to(events: &crate::events::Events, record: &AppointmentRecord) {
    use crate::events::{Audience, Change};
    let mut audiences = vec![Audience::Schedulers];
    if let Ok(room) = RoomId::new(record.device.as_str()) {
        audiences.push(Audience::Device(room));
    }
    for r in record.reservations.iter().filter(|r| r.kind != vayla_store::ResourceKind::Device) {
        if let Ok(subject) = vayla_domain::SubjectId::new(r.resource_id.as_str()) {
            audiences.push(Audience::Person(subject));
        }
    }
    events.publish(Change {
        topic: vayla_protocol::Topic::Appointments,
        key: record.id.clone(),
        audience: Audience::AnyOf(audiences),
    });
}

async fn load(store: &Store, id: &str) -> Result<AppointmentRecord, ApiError> {
    store
        .get_appointment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_appointment", format!("no appointment {id:?}")))
}

/// `GET /api/appointments/{id}`.
pub async fn get_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AppointmentView>, ApiError> {
    let config = super::config(&app);
    let a = load(&app.store, &id).await?;
    if !may_see(&config, &caller, &a) {
        return Err(ApiError::forbidden("this appointment is not yours to see"));
    }
    Ok(Json(view(&config, Some(&caller), a)))
}

/// `POST /api/appointments/{id}/reschedule`: a new start (and possibly another expert), atomically.
pub async fn reschedule(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> Result<Json<AppointmentView>, ApiError> {
    let config = super::config(&app);
    let a = load(&app.store, &id).await?;
    may_book_at(&config, &caller, &a.service_point)?;
    if a.status != vayla_store::AppointmentStatus::Booked {
        return Err(store_error(StoreError::AppointmentClosed { id, status: a.status.as_str().to_string() }));
    }
    if body.device.as_ref().is_some_and(|d| d != &a.device) {
        return Err(unprocessable(
            "device_change_unsupported",
            "the device (its room) is part of the booking: cancel and book again to move it to another device",
        ));
    }
    let start = parse_instant("start", &body.start)?;
    let expert = body.expert.clone().or_else(|| booked_expert(&a)).unwrap_or_default();
    let model = Model::load(&app.store, &config).await?;
    let now = now_ms();
    let c = check(
        &app.store,
        &config,
        &model,
        &a.service,
        &a.device,
        &expert,
        a.needs.language.as_deref(),
        start,
        Some(&a),
        now,
    )
    .await?;
    let mut reservations = vec![
        reservation(ResourceKind::Device, &a.device, c.device_busy),
        reservation(ResourceKind::Expert, &expert, c.expert_busy),
    ];
    // Interpreters already reserved move with the appointment, keeping their window relative to its start; if one
    // is not free at the new time the database refuses the whole change and the old booking stays.
    let shift = c.span.0 as i64 - a.start_ms;
    for r in a.active().filter(|r| r.kind == vayla_store::ResourceKind::Interpreter) {
        reservations.push(NewReservation {
            kind: r.kind,
            resource_id: r.resource_id.clone(),
            start_ms: r.start_ms + shift,
            end_ms: r.end_ms + shift,
        });
    }
    let change = Reschedule { start_ms: c.span.0 as i64, end_ms: c.span.1 as i64, reservations };
    let record =
        app.store.reschedule_appointment(&id, &change, &caller.0.sub, now as i64).await.map_err(store_error)?;
    announce(&app, &record);
    Ok(Json(view(&config, Some(&caller), record)))
}

/// `POST /api/appointments/{id}/cancel`: cancel with a reason; the time is free again at once.
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> Result<Json<AppointmentView>, ApiError> {
    let config = super::config(&app);
    let a = load(&app.store, &id).await?;
    may_close(&config, &caller, &a)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::bad_request(format!("reason: 1 to {MAX_REASON} characters")));
    }
    let record =
        app.store.cancel_appointment(&id, reason, &caller.0.sub, now_ms() as i64).await.map_err(store_error)?;
    crate::interpreting::appointment_cancelled(&app, &id, &caller.0.sub).await?; // Release the interpreters.
    announce(&app, &record);
    Ok(Json(view(&config, Some(&caller), record)))
}

/// `POST /api/appointments/{id}/no-show`: the customer did not come. Only once the appointment has started.
pub async fn no_show(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AppointmentView>, ApiError> {
    let config = super::config(&app);
    let a = load(&app.store, &id).await?;
    may_close(&config, &caller, &a)?;
    let now = now_ms();
    if a.status == vayla_store::AppointmentStatus::Booked && (now as i64) < a.start_ms {
        return Err(ApiError::conflict(
            "not_started",
            format!("the appointment starts at {}; a no-show is marked after that", iso(ms(a.start_ms))),
        ));
    }
    let record = app.store.mark_no_show(&id, &caller.0.sub, now as i64).await.map_err(store_error)?;
    announce(&app, &record);
    Ok(Json(view(&config, Some(&caller), record)))
}

/// Query of `GET /api/appointments`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub device: Option<String>,
    pub expert: Option<String>,
    pub service_point: Option<String>,
    /// `YYYY-MM-DD` (local midnight) or an ISO 8601 time; default today's local midnight.
    pub from: Option<String>,
    /// `YYYY-MM-DD` (inclusive: to the end of that local day) or an ISO 8601 time; default `from` + 7 days.
    pub to: Option<String>,
    /// Only appointments in this status (`booked`, `cancelled`, `no_show`, `completed`).
    pub status: Option<String>,
}

/// A bound of a listing: a local date or an instant.
fn bound(field: &str, text: &str, end: bool) -> Result<Millis, ApiError> {
    if text.len() == 10 && !text.contains('T') {
        let date = parse_date(field, text)?;
        let date = if end { date.succ_opt().unwrap_or(date) } else { date };
        Ok(local_to_utc(date, LocalTime::MIDNIGHT))
    } else {
        parse_instant(field, text)
    }
}

fn range(from: Option<&str>, to: Option<&str>, now: Millis) -> Result<(Millis, Millis), ApiError> {
    let from = match from {
        Some(f) => bound("from", f, false)?,
        None => local_to_utc(local_date(now), LocalTime::MIDNIGHT),
    };
    let to = match to {
        Some(t) => bound("to", t, true)?,
        None => from + 7 * DAY,
    };
    if to <= from || to - from > MAX_DAYS as u64 * DAY {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_range",
            format!("to must be after from, at most {MAX_DAYS} days later"),
        ));
    }
    Ok((from, to))
}

/// `GET /api/appointments?device=&expert=&service_point=&from=&to=&status=`: appointments overlapping the range, by
/// start. Schedulers and admins see all; advisors their service point's; experts and interpreters their own.
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<AppointmentView>>, ApiError> {
    let config = super::config(&app);
    let mut q = q;
    match caller.role() {
        Role::Scheduler | Role::Admin => {}
        Role::Advisor => {
            let own = own_service_point(&config, &caller);
            if q.service_point.is_some() && q.service_point != own {
                return Err(ApiError::forbidden("advisors see their own service point's appointments only"));
            }
            q.service_point = own;
        }
        Role::Expert => {
            if q.expert.as_ref().is_some_and(|e| e != &caller.0.sub) {
                return Err(ApiError::forbidden("experts see their own appointments only"));
            }
            q.expert = Some(caller.0.sub.clone());
        }
        r => return Err(ApiError::forbidden(format!("role {r} lists its appointments at /api/me/appointments"))),
    }
    let status = match q.status.as_deref() {
        Some(s) => Some(vayla_store::AppointmentStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("status: {s:?} is not booked, cancelled, no_show or completed"))
        })?),
        None => None,
    };
    let (from, to) = range(q.from.as_deref(), q.to.as_deref(), now_ms())?;
    let (from, to) = (from as i64, to as i64);
    let found = if let Some(expert) = &q.expert {
        app.store.appointments_for_resource(vayla_store::ResourceKind::Expert, expert, from, to).await?
    } else if let Some(device) = &q.device {
        app.store.appointments_for_resource(vayla_store::ResourceKind::Device, device, from, to).await?
    } else {
        app.store.appointments_in_range(from, to).await?
    };
    let out = found
        .into_iter()
        // A resource's listing includes appointments that only once held it (a rescheduled expert); the slot
        // itself must overlap the range too.
        .filter(|a| a.end_ms > from && a.start_ms < to)
        .filter(|a| q.device.as_ref().is_none_or(|d| &a.device == d))
        .filter(|a| q.service_point.as_ref().is_none_or(|sp| &a.service_point == sp))
        .filter(|a| q.expert.as_ref().is_none_or(|e| booked_expert(a).as_ref() == Some(e)))
        .filter(|a| status.is_none_or(|s| a.status == s))
        .map(|a| view(&config, Some(&caller), a))
        .collect();
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeQuery {
    /// The local date, `YYYY-MM-DD`; default today.
    pub date: Option<String>,
}

/// `GET /api/me/appointments?date=`: the caller's own appointments of one local day, by start: an expert's or
/// interpreter's bookings, a device's, an advisor's service point's, or those a scheduler or admin booked.
pub async fn mine(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<MeQuery>,
) -> Result<Json<Vec<AppointmentView>>, ApiError> {
    let config = super::config(&app);
    let date = match &q.date {
        Some(d) => parse_date("date", d)?,
        None => local_date(now_ms()),
    };
    let from = local_to_utc(date, LocalTime::MIDNIGHT) as i64;
    let to = local_to_utc(date.succ_opt().unwrap_or(date), LocalTime::MIDNIGHT) as i64;
    let me = caller.0.sub.clone();
    let found = match caller.role() {
        Role::Expert => app.store.appointments_for_resource(vayla_store::ResourceKind::Expert, &me, from, to).await?,
        Role::Interpreter => {
            app.store.appointments_for_resource(vayla_store::ResourceKind::Interpreter, &me, from, to).await?
        }
        Role::Device => app.store.appointments_for_resource(vayla_store::ResourceKind::Device, &me, from, to).await?,
        Role::Advisor | Role::Scheduler | Role::Admin => app.store.appointments_in_range(from, to).await?,
    };
    let own_sp = own_service_point(&config, &caller);
    let out = found
        .into_iter()
        .filter(|a| a.end_ms > from && a.start_ms < to)
        .filter(|a| match caller.role() {
            Role::Expert => booked_expert(a).as_deref() == Some(me.as_str()),
            Role::Advisor => own_sp.as_deref() == Some(a.service_point.as_str()),
            Role::Scheduler | Role::Admin => a.created_by == me,
            _ => true,
        })
        .map(|a| view(&config, Some(&caller), a))
        .collect();
    Ok(Json(out))
}
