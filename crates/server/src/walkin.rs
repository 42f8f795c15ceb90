//! The walk-in queue over REST: a service point asks an agency for the next free expert (a **ticket**), the
//! agency's on-duty experts see their queue live and the first to accept gets the customer in the device's room;
//! an interpreter, when asked, accepts from the interpreters' queue. The reference for client writers is
//! `docs/walkin.md`.
//!
//! Who owns what:
//! - **The rules** are `vayla_domain::walkin` (pure): routing by the agency's rule, who can take a ticket, queue
//!   order, positions, the estimated wait.
//! - **The guarantees** are the store's (`vayla_store`'s `walkin`): one open ticket per device, one expert and one
//!   interpreter per ticket however accepts race, every change conditional on the state it starts from.
//! - **The room** is the device's room actor: once everyone the ticket needs has accepted, the accept that
//!   completed it opens a session there through the actor's open-session path (as `POST /api/rooms/{room}/session`
//!   does), with seats for the expert (and the interpreter); the room locks when they and the device are in. A room
//!   that already holds a session (an appointment running) is never taken over: the accept is refused with
//!   `409 room_busy` and the ticket stays in the queue.
//! - **Time** is one background task's ([`start`]): it expires tickets nobody accepted within
//!   `walkin_ticket_timeout_min`, abandons accepted tickets whose session nobody came into within
//!   `walkin_join_timeout_min` (ending that session), and marks a ticket served once its session has ended after
//!   everyone was in. It works from the database alone, so after a restart it simply carries on: no ticket is lost.
//!
//! Every change is announced on the events hub after it commits: `walkin_ticket` (key: ticket id) to the device and
//! its service point, `walkin_queue` (key: agency) to the agency's experts, and to interpreters when the ticket asks
//! for one. A change in one ticket moves the others' positions, so every open ticket of the agency is announced.

use crate::api::{ApiJson, Caller};
use crate::app::{AppState, RoomMap};
use crate::config::Config;
use crate::error::ApiError;
use crate::events::{Audience, Change, Events};
use crate::now_ms;
use crate::rooms::OpenError;
use crate::rooms_config::RoomsConfig;
use crate::scheduling::model::Model;
use crate::scheduling::search::{self, InterpreterRequest, SlotSearch};
use crate::scheduling::{busy_time, caller_person, check_language, iso};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use vayla_domain::calendar::{local_date, AgencyRule, ResourceKey, ResourceKind, DAY, HOUR, MINUTE};
use vayla_domain::walkin::{
    estimate_wait, position, queue_for, route, ExpertTimes, QueuedTicket, Taker, Ticket, TicketStatus,
};
use vayla_domain::{Millis, Role, RoomError, RoomId, SeatSpec, SubjectId};
use vayla_protocol::Topic;
use vayla_store::{
    NewWalkinTicket, SessionRecord, Store, StoreError, WalkinDutyRecord, WalkinSide, WalkinStatus, WalkinTicketRecord,
};

/// The author of the changes the timeout task makes by itself (`closed_by`, audit subject).
pub const TIMEKEEPER: &str = "walkin-timekeeper";
/// An expert in a session that has run past its typical length is expected free this soon (not "now": they are
/// still talking).
const OVERRUN_GRACE: Millis = MINUTE;
/// How far ahead experts' appointments are read for the estimate.
const ESTIMATE_HORIZON: Millis = 12 * HOUR;
/// How many bookable slots an appointment-only agency's refusal offers.
const OFFERED_SLOTS: usize = 3;
/// How many days ahead those slots are searched.
const OFFERED_DAYS: u64 = 14;

/// The walk-in settings from the server's [`Config`].
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub ticket_timeout_ms: Millis,
    pub join_timeout_ms: Millis,
    pub default_session_ms: Millis,
    pub check_every: Duration,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            ticket_timeout_ms: c.walkin_ticket_timeout_min.saturating_mul(MINUTE),
            join_timeout_ms: c.walkin_join_timeout_min.saturating_mul(MINUTE),
            default_session_ms: c.walkin_default_session_min.max(1).saturating_mul(MINUTE),
            check_every: Duration::from_millis(c.walkin_check_interval_ms.max(50)),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Views

/// A ticket as its device, its service point, the agency's experts and asked interpreters see it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: String,
    pub device: String,
    /// The room the session opens in: the device's permanent room (its address is the device id).
    pub room: String,
    pub service_point: String,
    pub agency: String,
    pub service: Option<String>,
    pub language: String,
    pub interpreter_language: Option<String>,
    /// `waiting`, `accepted`, `served`, `cancelled`, `abandoned` or `expired`.
    pub status: WalkinStatus,
    pub created_at: String,
    /// When everyone needed had accepted.
    pub accepted_at: Option<String>,
    /// The expert who accepted.
    pub expert: Option<String>,
    pub interpreter: Option<String>,
    /// The session opened in the room for this ticket.
    pub session_id: Option<String>,
    pub closed_at: Option<String>,
    pub close_reason: Option<String>,
    /// Place in the agency's queue, from 1, while the ticket waits for an expert.
    pub position: Option<u32>,
    /// Estimated seconds until an expert takes the ticket, while it waits for one and someone qualified is on
    /// duty.
    pub estimated_wait_s: Option<u64>,
    /// Qualified experts on duty now (while the ticket waits for an expert).
    pub experts_on_duty: Option<u32>,
    /// Seconds waited so far (until everyone accepted, or until it closed).
    pub waited_s: u64,
    pub version: i64,
}

/// One ticket in a queue, as an expert or interpreter sees it: what they need to decide, nothing about the
/// customer but the language.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub id: String,
    pub room: String,
    pub device_name: String,
    pub service_point: String,
    pub service_point_name: String,
    pub agency: String,
    pub service: Option<String>,
    pub language: String,
    pub interpreter_language: Option<String>,
    pub created_at: String,
    pub waited_s: u64,
    /// Place in the agency's queue for an expert (an interpreter may see a ticket an expert already took).
    pub position: Option<u32>,
    /// An expert has accepted (the ticket waits for its interpreter).
    pub expert_accepted: bool,
    /// An interpreter has accepted (the ticket waits for its expert).
    pub interpreter_accepted: bool,
}

/// `GET /api/walkin/queue`.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    /// `expert` or `interpreter`.
    pub role: Role,
    /// The expert's agency.
    pub agency: Option<String>,
    pub on_duty: bool,
    /// The tickets the caller can accept now, first come first served.
    pub tickets: Vec<QueueEntry>,
    /// The open tickets the caller has accepted (to join their room).
    pub mine: Vec<TicketView>,
}

/// `GET` / `PUT /api/walkin/duty`.
#[derive(Debug, Clone, Serialize)]
pub struct DutyView {
    pub on_duty: bool,
    pub since: Option<String>,
}

// ---------------------------------------------------------------------------------------------------------
// Rules over records

fn ms(t: i64) -> Millis {
    t.max(0) as Millis
}

fn state_of(r: &WalkinTicketRecord) -> Ticket {
    let status = TicketStatus::parse(r.status.as_str()).unwrap_or(TicketStatus::Abandoned);
    Ticket {
        status,
        needs_interpreter: r.interpreter_language.is_some(),
        expert: r.accepted_by.as_deref().and_then(|s| SubjectId::new(s).ok()),
        interpreter: r.interpreter.as_deref().and_then(|s| SubjectId::new(s).ok()),
        session: r.session_id.clone(),
        close_reason: None,
    }
}

fn queued(r: &WalkinTicketRecord) -> QueuedTicket {
    QueuedTicket {
        id: r.id.clone(),
        agency: r.agency.clone(),
        service: r.service.clone(),
        language: r.language.clone(),
        interpreter_language: r.interpreter_language.clone(),
        created_at: ms(r.created_at),
        state: state_of(r),
    }
}

/// The caller (or a configured person) as someone who takes tickets, with their services from the calendar model.
fn taker_of(config: &RoomsConfig, model: &Model, subject: &SubjectId) -> Option<Taker> {
    let p = config.person(subject)?;
    match p.role {
        Role::Expert => Some(Taker::Expert {
            agency: p.agency.clone()?,
            services: model.experts.get(p.id.as_str()).and_then(|(profile, _)| profile.services.clone()),
            languages: p.languages.clone(),
        }),
        Role::Interpreter => Some(Taker::Interpreter { languages: p.languages.clone() }),
        _ => None,
    }
}

/// The typical session of a ticket: its service's duration, else the configured default.
fn typical_ms(model: &Model, service: Option<&str>, settings: &Settings) -> Millis {
    service
        .and_then(|s| model.service(s))
        .map(|(_, _, spec)| u64::from(spec.duration_minutes) * MINUTE)
        .unwrap_or(settings.default_session_ms)
}

/// What views of tickets are computed from, read once per request.
struct Snapshot {
    config: Arc<RoomsConfig>,
    model: Model,
    open: Vec<WalkinTicketRecord>,
    queued: Vec<QueuedTicket>,
    on_duty: Vec<SubjectId>,
    /// On-duty experts in a session now: when it opened.
    in_session: HashMap<String, Millis>,
    /// On-duty experts' upcoming busy time (appointments, own calendars).
    busy: HashMap<String, Vec<vayla_domain::calendar::Interval>>,
    settings: Settings,
    now: Millis,
}

impl Snapshot {
    async fn load(app: &AppState, now: Millis) -> Result<Snapshot, ApiError> {
        let config = crate::scheduling::config(app);
        let model = Model::load(&app.store, &config).await?;
        let open = app.store.open_walkin_tickets(None).await?;
        let duty = app.store.walkin_duty().await?;
        let on_duty: Vec<SubjectId> = duty
            .iter()
            .filter(|d| d.on_duty && d.role == "expert")
            .filter_map(|d| SubjectId::new(d.subject.as_str()).ok())
            .filter(|s| config.person(s).is_some_and(|p| p.role == Role::Expert))
            .collect();
        let mut in_session = HashMap::new();
        for s in app.store.open_sessions().await? {
            for seat in s.seats.iter().filter(|x| x.role == "expert") {
                if on_duty.iter().any(|e| e.as_str() == seat.subject) {
                    in_session.insert(seat.subject.clone(), ms(s.opened_at));
                }
            }
        }
        let keys: Vec<ResourceKey> =
            on_duty.iter().map(|e| ResourceKey::new(ResourceKind::Expert, e.clone())).collect();
        let busy = busy_time(&app.store, &keys, now, now + ESTIMATE_HORIZON)
            .await?
            .into_iter()
            .map(|(k, set)| (k.id.to_string(), set.iter().collect()))
            .collect();
        let queued = open.iter().map(queued).collect();
        Ok(Snapshot { config, model, open, queued, on_duty, in_session, busy, settings: app_settings(app), now })
    }

    /// Position, estimated wait and qualified on-duty experts of a ticket that waits for an expert.
    fn estimate(&self, r: &WalkinTicketRecord) -> (Option<u32>, Option<u64>, Option<u32>) {
        let Some(pos) = position(&self.queued, &r.id) else { return (None, None, None) };
        let me = queued(r);
        let typical = typical_ms(&self.model, r.service.as_deref(), &self.settings);
        let experts: Vec<ExpertTimes> = self
            .on_duty
            .iter()
            .filter(|e| taker_of(&self.config, &self.model, e).is_some_and(|t| t.qualifies(&me)))
            .map(|e| ExpertTimes {
                free_at: match self.in_session.get(e.as_str()) {
                    Some(opened) => opened.saturating_add(typical).max(self.now + OVERRUN_GRACE),
                    None => self.now,
                },
                blocked: self.busy.get(e.as_str()).cloned().unwrap_or_default(),
            })
            .collect();
        let wait = estimate_wait(self.now, pos, &experts, typical).map(|w| w.div_ceil(1000));
        (Some(pos), wait, Some(experts.len() as u32))
    }

    fn view(&self, r: &WalkinTicketRecord) -> TicketView {
        let (position, estimated_wait_s, experts_on_duty) =
            if r.status.is_open() { self.estimate(r) } else { (None, None, None) };
        view_with(r, self.now, position, estimated_wait_s, experts_on_duty)
    }

    fn entry(&self, r: &WalkinTicketRecord) -> QueueEntry {
        let device = RoomId::new(r.device.as_str()).ok().and_then(|d| self.config.device(&d));
        QueueEntry {
            id: r.id.clone(),
            room: r.device.clone(),
            device_name: device.map(|d| d.name.clone()).unwrap_or_default(),
            service_point: r.service_point.clone(),
            service_point_name: self.config.service_point(&r.service_point).map(|s| s.name.clone()).unwrap_or_default(),
            agency: r.agency.clone(),
            service: r.service.clone(),
            language: r.language.clone(),
            interpreter_language: r.interpreter_language.clone(),
            created_at: iso(ms(r.created_at)),
            waited_s: self.now.saturating_sub(ms(r.created_at)) / 1000,
            position: position(&self.queued, &r.id),
            expert_accepted: r.accepted_by.is_some(),
            interpreter_accepted: r.interpreter.is_some(),
        }
    }
}

fn view_with(
    r: &WalkinTicketRecord,
    now: Millis,
    position: Option<u32>,
    estimated_wait_s: Option<u64>,
    experts_on_duty: Option<u32>,
) -> TicketView {
    let until = r.accepted_at.or(r.closed_at).map(ms).unwrap_or(now);
    TicketView {
        id: r.id.clone(),
        device: r.device.clone(),
        room: r.device.clone(),
        service_point: r.service_point.clone(),
        agency: r.agency.clone(),
        service: r.service.clone(),
        language: r.language.clone(),
        interpreter_language: r.interpreter_language.clone(),
        status: r.status,
        created_at: iso(ms(r.created_at)),
        accepted_at: r.accepted_at.map(|t| iso(ms(t))),
        expert: r.accepted_by.clone(),
        interpreter: r.interpreter.clone(),
        session_id: r.session_id.clone(),
        closed_at: r.closed_at.map(|t| iso(ms(t))),
        close_reason: r.close_reason.clone(),
        position,
        estimated_wait_s,
        experts_on_duty,
        waited_s: until.saturating_sub(ms(r.created_at)) / 1000,
        version: r.version,
    }
}

fn app_settings(app: &AppState) -> Settings {
    Settings::from_config(&app.config)
}

// ---------------------------------------------------------------------------------------------------------
// Announcements

/// Tell the watchers that `agency`'s queue changed, and every open ticket of it (positions and estimates move
/// together). `interpreters`: the change concerns a ticket that asks for an interpreter.
async fn announce_agency(store: &Store, events: &Events, agency: &str, interpreters: bool) {
    let mut audiences = vec![Audience::Agency(agency.to_string())];
    if interpreters {
        audiences.push(Audience::Interpreters);
    }
    events.publish(Change { topic: Topic::WalkinQueue, key: agency.to_string(), audience: Audience::AnyOf(audiences) });
    match store.open_walkin_tickets(Some(agency)).await {
        Ok(open) => {
            for t in &open {
                announce_ticket(events, t);
            }
        }
        Err(e) => tracing::warn!(%agency, error = %e, "walk-in: could not read the queue to announce it"),
    }
}

fn announce_ticket(events: &Events, t: &WalkinTicketRecord) {
    if let Ok(room) = RoomId::new(t.device.as_str()) {
        events.publish(Change { topic: Topic::WalkinTicket, key: t.id.clone(), audience: Audience::Device(room) });
    }
}

/// A ticket changed: its own watchers, and its agency's queue.
async fn announce(store: &Store, events: &Events, t: &WalkinTicketRecord) {
    announce_ticket(events, t);
    announce_agency(store, events, &t.agency, t.interpreter_language.is_some()).await;
}

// ---------------------------------------------------------------------------------------------------------
// Errors and access

fn unknown_ticket(id: &str) -> ApiError {
    ApiError::not_found("unknown_ticket", format!("no walk-in ticket {id:?}"))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::TicketTaken { side, .. } => {
            ApiError::conflict("ticket_taken", format!("another {side} has already accepted this ticket"))
        }
        StoreError::TicketWrongState { status, .. } => {
            ApiError::conflict("ticket_closed", format!("the ticket is {status}; it can no longer change this way"))
        }
        StoreError::NotFound { id, .. } => unknown_ticket(&id),
        StoreError::Conflict { id, .. } => {
            ApiError::conflict("ticket_open", format!("device {id} already has an open walk-in ticket"))
        }
        other => other.into(),
    }
}

async fn load(store: &Store, id: &str) -> Result<WalkinTicketRecord, ApiError> {
    store.walkin_ticket(id).await?.ok_or_else(|| unknown_ticket(id))
}

/// Who may see a ticket: its device, its service point's advisors, its agency's experts, interpreters when it
/// asks for one, admins.
fn may_see(config: &RoomsConfig, caller: &Caller, t: &WalkinTicketRecord) -> bool {
    match caller.role() {
        Role::Admin => true,
        Role::Device => caller.0.sub == t.device,
        Role::Advisor => {
            caller_person(config, caller).and_then(|p| p.service_point.as_deref()) == Some(&t.service_point)
        }
        Role::Expert => caller_person(config, caller).and_then(|p| p.agency.as_deref()) == Some(&t.agency),
        Role::Interpreter => t.interpreter_language.is_some(),
        Role::Scheduler => false,
    }
}

/// Who may act for a ticket's device (create, cancel): the device itself and its service point's advisors.
fn may_act_for(config: &RoomsConfig, caller: &Caller, device: &str) -> Result<(), ApiError> {
    let wrong = || ApiError::new(StatusCode::FORBIDDEN, "wrong_device", "you may act for your own device only");
    match caller.role() {
        Role::Device if caller.0.sub == device => Ok(()),
        Role::Device => Err(wrong()),
        Role::Advisor => {
            let own = caller_person(config, caller).and_then(|p| p.service_point.clone());
            let point = RoomId::new(device).ok().and_then(|d| config.device(&d)).map(|d| d.service_point.clone());
            if own.is_some() && own == point {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "wrong_device",
                    "advisors act for the devices of their own service point only",
                ))
            }
        }
        r => Err(ApiError::forbidden(format!("role {r} does not ask for walk-in experts"))),
    }
}

fn invalid_language(field: &str, tag: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_language",
        format!("{field}: {tag:?} is not a BCP 47 language tag such as \"fi\" or \"fse\""),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

/// The body of `POST /api/walkin/tickets`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// The device the customer sits at. A device may leave it out (itself); an advisor names one of their point's.
    #[serde(default)]
    pub device: Option<String>,
    pub agency: String,
    /// One of the agency's services, when the matter is known.
    #[serde(default)]
    pub service: Option<String>,
    /// The customer's language (BCP 47).
    pub language: String,
    /// The language to interpret, when an interpreter is needed.
    #[serde(default)]
    pub interpreter_language: Option<String>,
}

/// `POST /api/walkin/tickets`: ask the agency for the next free expert. `201` with the ticket; an agency that
/// serves by appointment only answers `409 appointment_only` with bookable slots (see `docs/walkin.md`).
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTicket>,
) -> Result<Response, ApiError> {
    let config = crate::scheduling::config(&app);
    let device = match (caller.role(), &body.device) {
        (Role::Device, None) => caller.0.sub.clone(),
        (Role::Device | Role::Advisor, Some(d)) => d.trim().to_string(),
        (Role::Advisor, None) => return Err(ApiError::bad_request("device: name the device the customer sits at")),
        (r, _) => return Err(ApiError::forbidden(format!("role {r} does not ask for walk-in experts"))),
    };
    let device_record = RoomId::new(device.as_str()).ok().and_then(|d| config.device(&d).cloned());
    let Some(device_record) = device_record else {
        return Err(ApiError::not_found("unknown_device", format!("no device {device:?}")));
    };
    may_act_for(&config, &caller, &device)?;
    if !config.agencies.contains_key(&body.agency) {
        return Err(ApiError::not_found("unknown_agency", format!("no agency {:?}", body.agency)));
    }
    let language = body.language.trim().to_string();
    check_language("language", &language).map_err(|_| invalid_language("language", &language))?;
    let interpreter_language = body.interpreter_language.as_deref().map(str::trim).filter(|l| !l.is_empty());
    if let Some(l) = interpreter_language {
        check_language("interpreter_language", l).map_err(|_| invalid_language("interpreter_language", l))?;
    }
    let model = Model::load(&app.store, &config).await?;
    let service = body.service.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    if let Some(s) = &service {
        if model.service(s).map(|(agency, _, _)| agency) != Some(body.agency.as_str()) {
            return Err(crate::scheduling::unprocessable(
                "unknown_service",
                format!("{s:?} is not a service of {}", body.agency),
            ));
        }
    }
    let rule =
        model.agencies.get(&body.agency).map(|(cal, _)| cal.rule.clone()).unwrap_or(AgencyRule::WalkInAndAppointment);
    if let Err(refusal) = route(&rule) {
        let offer = booking_offer(&app, &config, &model, &body, &device, service.as_deref(), &language).await;
        tracing::info!(agency = %body.agency, %device, "walk-in refused: appointment only");
        let reply = serde_json::json!({
            "code": "appointment_only",
            "message": refusal.to_string(),
            "agency": body.agency,
            "service": offer.0,
            "slots": offer.1,
            "book_at": "/scheduler.html",
        });
        return Ok((StatusCode::CONFLICT, Json(reply)).into_response());
    }
    let now = now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let draft = QueuedTicket {
        id: id.clone(),
        agency: body.agency.clone(),
        service: service.clone(),
        language: language.clone(),
        interpreter_language: interpreter_language.map(String::from),
        created_at: now,
        state: Ticket::new(interpreter_language.is_some()),
    };
    let anyone = |role: Role| {
        config
            .people
            .values()
            .filter(|p| p.role == role)
            .any(|p| taker_of(&config, &model, &p.id).is_some_and(|t| t.qualifies(&draft)))
    };
    if !anyone(Role::Expert) {
        return Err(crate::scheduling::unprocessable(
            "no_qualified_expert",
            format!("no expert of {} handles this service in this language; ask for an interpreter", body.agency),
        ));
    }
    if interpreter_language.is_some() && !anyone(Role::Interpreter) {
        return Err(crate::scheduling::unprocessable(
            "no_qualified_interpreter",
            "no interpreter serves this language".to_string(),
        ));
    }
    let new = NewWalkinTicket {
        id,
        device: device.clone(),
        service_point: device_record.service_point.clone(),
        agency: body.agency.clone(),
        service,
        language,
        interpreter_language: interpreter_language.map(String::from),
        created_by: caller.0.sub.clone(),
        created_at: now as i64,
    };
    let record = app.store.create_walkin_ticket(&new).await.map_err(store_error)?;
    tracing::info!(ticket = %record.id, %device, agency = %record.agency, "walk-in ticket created");
    announce(&app.store, &app.events, &record).await;
    let snapshot = Snapshot::load(&app, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(snapshot.view(&record))).into_response())
}

/// The next few bookable slots for this device with the agency (the named service, else its first), for an
/// agency that takes no walk-ins. Best effort: an empty list when the search finds nothing or fails.
async fn booking_offer(
    app: &AppState,
    config: &RoomsConfig,
    model: &Model,
    body: &CreateTicket,
    device: &str,
    service: Option<&str>,
    language: &str,
) -> (Option<String>, Vec<search::SlotView>) {
    let service = service
        .map(String::from)
        .or_else(|| model.agencies.get(&body.agency).and_then(|(cal, _)| cal.services.first().map(|s| s.id.clone())));
    let Some(service) = service else { return (None, Vec::new()) };
    let now = now_ms();
    let interpreter = body
        .interpreter_language
        .as_deref()
        .map(|l| InterpreterRequest { language: l.trim().to_string(), modality: "remote_video".into() });
    let req = SlotSearch {
        service: service.clone(),
        service_points: Vec::new(),
        devices: vec![device.to_string()],
        expert: None,
        with_stand_ins: false,
        language: interpreter.is_none().then(|| language.to_string()),
        interpreter,
        from: local_date(now).to_string(),
        to: local_date(now + OFFERED_DAYS * DAY).to_string(),
        step_minutes: None,
        limit: Some(OFFERED_SLOTS),
    };
    match search::search(&app.store, config, model, &req, now).await {
        Ok(reply) => (Some(service), reply.slots),
        Err(e) => {
            tracing::info!(code = e.code, "walk-in: no slots to offer instead");
            (Some(service), Vec::new())
        }
    }
}

/// One agency as the "ask for an expert" form needs it.
#[derive(Debug, Clone, Serialize)]
pub struct AgencyChoice {
    pub id: String,
    pub name: String,
    /// Whether it takes walk-in tickets (its rule is `walk_in_and_appointment`).
    pub walk_in: bool,
    pub services: Vec<ServiceChoice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceChoice {
    pub id: String,
    pub name: String,
    pub duration_minutes: u32,
}

/// `GET /api/walkin/agencies`: the agencies, whether each takes walk-ins, and their services, for anyone signed in
/// (devices included: the calendar API is for staff).
pub async fn agencies(State(app): State<AppState>, _caller: Caller) -> Result<Json<Vec<AgencyChoice>>, ApiError> {
    let config = crate::scheduling::config(&app);
    let model = Model::load(&app.store, &config).await?;
    let mut out: Vec<AgencyChoice> = config
        .agencies
        .values()
        .map(|a| {
            let cal = model.agencies.get(&a.id).map(|(c, _)| c);
            AgencyChoice {
                id: a.id.clone(),
                name: a.name.clone(),
                walk_in: cal.is_none_or(|c| route(&c.rule).is_ok()),
                services: cal
                    .map(|c| {
                        c.services
                            .iter()
                            .map(|s| ServiceChoice {
                                id: s.id.clone(),
                                name: s.name.clone(),
                                duration_minutes: s.duration_minutes,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| (!a.walk_in, &a.name).cmp(&(!b.walk_in, &b.name)));
    Ok(Json(out))
}

/// `GET /api/walkin/tickets`: the open tickets the caller may see (a device its own; an advisor their point's;
/// an expert their agency's; an interpreter those asking for an interpreter; an admin all), oldest first.
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<TicketView>>, ApiError> {
    if caller.role() == Role::Scheduler {
        return Err(ApiError::forbidden("schedulers do not follow the walk-in queue"));
    }
    let snapshot = Snapshot::load(&app, now_ms()).await?;
    let views =
        snapshot.open.iter().filter(|t| may_see(&snapshot.config, &caller, t)).map(|t| snapshot.view(t)).collect();
    Ok(Json(views))
}

/// `GET /api/walkin/tickets/{id}`: one ticket with its position and estimated wait.
pub async fn get_one(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let record = load(&app.store, &id).await?;
    let config = crate::scheduling::config(&app);
    if !may_see(&config, &caller, &record) {
        return Err(ApiError::forbidden("this ticket is not yours to see"));
    }
    let snapshot = Snapshot::load(&app, now_ms()).await?;
    Ok(Json(snapshot.view(&record)))
}

/// `POST /api/walkin/tickets/{id}/cancel`: the device or its advisor withdraws the ticket. Waiting: `cancelled`;
/// already accepted: `abandoned` (`device_gave_up`), and the session opened for it ends.
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let config = crate::scheduling::config(&app);
    let record = load(&app.store, &id).await?;
    may_act_for(&config, &caller, &record.device)?;
    let by = caller.0.sub.clone();
    let mut current = record;
    // A ticket may move from waiting to accepted between the read and the change: then try again as accepted.
    for _ in 0..3 {
        let (from, to, reason) = match current.status {
            WalkinStatus::Waiting => (WalkinStatus::Waiting, WalkinStatus::Cancelled, "cancelled"),
            WalkinStatus::Accepted => (WalkinStatus::Accepted, WalkinStatus::Abandoned, "device_gave_up"),
            s => return Err(ApiError::conflict("ticket_closed", format!("the ticket is already {}", s.as_str()))),
        };
        match app.store.close_walkin_ticket(&id, &[from], to, reason, &by, now_ms() as i64).await {
            Ok(closed) => {
                tracing::info!(ticket = %id, status = closed.status.as_str(), "walk-in ticket withdrawn");
                if let Some(session) = &closed.session_id {
                    end_ticket_session(&app.rooms, &closed.device, session).await;
                }
                announce(&app.store, &app.events, &closed).await;
                let snapshot = Snapshot::load(&app, now_ms()).await?;
                return Ok(Json(snapshot.view(&closed)));
            }
            Err(StoreError::TicketWrongState { .. }) => current = load(&app.store, &id).await?,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::conflict("ticket_changed", "the ticket kept changing; try again"))
}

/// Ends the room's session if it is still the ticket's.
async fn end_ticket_session(rooms: &watch::Receiver<Arc<RoomMap>>, device: &str, session: &str) {
    let Ok(room) = RoomId::new(device) else { return };
    let handle = rooms.borrow().get(&room).cloned();
    let Some(handle) = handle else { return };
    if let Ok(v) = handle.view().await {
        if v.session_id.as_deref() == Some(session) {
            let _ = handle.end().await;
        }
    }
}

/// `POST /api/walkin/tickets/{id}/accept`: an on-duty expert (or interpreter, when the ticket asks for one)
/// takes the ticket. Of racing accepts one wins, the others get `409 ticket_taken`. When everyone needed has
/// accepted, the device's room opens a session for them; a room holding another session refuses (`409 room_busy`)
/// and the ticket waits again.
pub async fn accept(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    let side = match caller.role() {
        Role::Expert => WalkinSide::Expert,
        Role::Interpreter => WalkinSide::Interpreter,
        r => return Err(ApiError::forbidden(format!("role {r} does not accept walk-in tickets"))),
    };
    let config = crate::scheduling::config(&app);
    let model = Model::load(&app.store, &config).await?;
    let record = load(&app.store, &id).await?;
    let me = caller.subject();
    let taker = taker_of(&config, &model, &me);
    if !taker.as_ref().is_some_and(|t| t.qualifies(&queued(&record))) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_qualified",
            "this ticket is for another agency, service or language",
        ));
    }
    let on_duty = app.store.walkin_duty().await?.into_iter().any(|d| d.subject == me.as_str() && d.on_duty);
    if !on_duty {
        return Err(ApiError::conflict("off_duty", "go on duty (PUT /api/walkin/duty) before accepting tickets"));
    }
    if !record.status.is_open() {
        return Err(ApiError::conflict("ticket_closed", format!("the ticket is {}", record.status.as_str())));
    }
    let state = state_of(&record);
    let wanted = match side {
        WalkinSide::Expert => state.wants_expert(),
        WalkinSide::Interpreter => state.wants_interpreter(),
    };
    if !wanted {
        return Err(ApiError::conflict("ticket_taken", format!("another {} has already accepted", side.as_str())));
    }
    let room = RoomId::new(record.device.as_str()).map_err(|_| unknown_ticket(&id))?;
    let handle = app.rooms.borrow().get(&room).cloned();
    let Some(handle) = handle else {
        return Err(ApiError::unavailable("room_unavailable", "the device's room is not available"));
    };
    let busy = || {
        ApiError::conflict(
            "room_busy",
            "the device's room holds another session (an appointment); the ticket stays in the queue",
        )
    };
    if handle
        .view()
        .await
        .map_err(|_| ApiError::unavailable("room_unavailable", "the room is gone"))?
        .session_id
        .is_some()
    {
        return Err(busy());
    }
    let accepted =
        app.store.accept_walkin_ticket(&id, side, me.as_str(), now_ms() as i64).await.map_err(store_error)?;
    tracing::info!(ticket = %id, who = %me, side = side.as_str(), status = accepted.status.as_str(), "walk-in ticket accepted");
    let mut current = accepted;
    if current.status == WalkinStatus::Accepted {
        let mut seats = Vec::new();
        for (role, subject) in [(Role::Expert, &current.accepted_by), (Role::Interpreter, &current.interpreter)] {
            if let Some(s) = subject.as_deref().and_then(|s| SubjectId::new(s).ok()) {
                seats.push(SeatSpec { role, subject: s });
            }
        }
        let refusal = match handle.open(me.clone(), seats).await {
            Ok(Ok(v)) => {
                let session = v.session_id.unwrap_or_default();
                match app.store.link_walkin_session(&id, &session, me.as_str(), now_ms() as i64).await {
                    Ok(linked) => {
                        current = linked;
                        None
                    }
                    Err(e) => {
                        // Cancelled meanwhile: the session is not wanted.
                        tracing::warn!(ticket = %id, error = %e, "walk-in: session opened for a ticket that changed");
                        let _ = handle.end().await;
                        Some(store_error(e))
                    }
                }
            }
            Ok(Err(OpenError::Rules(RoomError::SessionOpen))) => Some(busy()),
            Ok(Err(e)) => Some(ApiError::unavailable("room_unavailable", e.to_string())),
            Err(gone) => Some(ApiError::unavailable("room_unavailable", gone.to_string())),
        };
        if let Some(err) = refusal {
            if err.code != "ticket_closed" {
                match app.store.release_walkin_ticket(&id, me.as_str(), now_ms() as i64).await {
                    Ok(released) => current = released,
                    Err(e) => tracing::warn!(ticket = %id, error = %e, "walk-in: could not release the ticket"),
                }
            }
            announce(&app.store, &app.events, &current).await;
            return Err(err);
        }
    }
    announce(&app.store, &app.events, &current).await;
    let snapshot = Snapshot::load(&app, now_ms()).await?;
    Ok(Json(snapshot.view(&current)))
}

/// `GET /api/walkin/queue`: the tickets the calling expert or interpreter can accept now, first come first
/// served, and the open tickets they accepted.
pub async fn queue(State(app): State<AppState>, caller: Caller) -> Result<Json<QueueView>, ApiError> {
    if !matches!(caller.role(), Role::Expert | Role::Interpreter) {
        return Err(ApiError::forbidden("only experts and interpreters have a walk-in queue"));
    }
    let snapshot = Snapshot::load(&app, now_ms()).await?;
    let me = caller.subject();
    let taker = taker_of(&snapshot.config, &snapshot.model, &me)
        .ok_or_else(|| ApiError::forbidden("you are not configured as an expert or interpreter"))?;
    let on_duty = app.store.walkin_duty().await?.into_iter().any(|d| d.subject == me.as_str() && d.on_duty);
    let agency = match &taker {
        Taker::Expert { agency, .. } => Some(agency.clone()),
        Taker::Interpreter { .. } => None,
    };
    let takeable: Vec<&str> = queue_for(&snapshot.queued, &taker).into_iter().map(|t| t.id.as_str()).collect();
    let tickets = takeable
        .iter()
        .filter_map(|id| snapshot.open.iter().find(|t| t.id == *id))
        .map(|t| snapshot.entry(t))
        .collect();
    let mine = snapshot
        .open
        .iter()
        .filter(|t| t.accepted_by.as_deref() == Some(me.as_str()) || t.interpreter.as_deref() == Some(me.as_str()))
        .map(|t| snapshot.view(t))
        .collect();
    Ok(Json(QueueView { role: caller.role(), agency, on_duty, tickets, mine }))
}

/// The body of `PUT /api/walkin/duty`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDuty {
    pub on_duty: bool,
}

fn duty_view(records: &[WalkinDutyRecord], me: &str) -> DutyView {
    match records.iter().find(|d| d.subject == me) {
        Some(d) => DutyView { on_duty: d.on_duty, since: Some(iso(ms(d.since))) },
        None => DutyView { on_duty: false, since: None },
    }
}

fn require_taker(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.role(), Role::Expert | Role::Interpreter) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only experts and interpreters go on duty"))
    }
}

/// `GET /api/walkin/duty`: whether the caller takes walk-in customers now.
pub async fn get_duty(State(app): State<AppState>, caller: Caller) -> Result<Json<DutyView>, ApiError> {
    require_taker(&caller)?;
    Ok(Json(duty_view(&app.store.walkin_duty().await?, &caller.0.sub)))
}

/// `PUT /api/walkin/duty`: go on or off duty for walk-in customers.
pub async fn put_duty(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SetDuty>,
) -> Result<Json<DutyView>, ApiError> {
    require_taker(&caller)?;
    app.store.set_walkin_duty(&caller.0.sub, caller.role().as_str(), body.on_duty, now_ms() as i64).await?;
    tracing::info!(who = %caller.0.sub, on_duty = body.on_duty, "walk-in duty changed");
    let config = crate::scheduling::config(&app);
    // Estimates of the agency's tickets change with who is on duty.
    if let Some(agency) = caller_person(&config, &caller).and_then(|p| p.agency.clone()) {
        announce_agency(&app.store, &app.events, &agency, false).await;
    }
    Ok(Json(duty_view(&app.store.walkin_duty().await?, &caller.0.sub)))
}

// ---------------------------------------------------------------------------------------------------------
// The timekeeper

/// What the timeout task needs.
pub struct TaskDeps {
    pub store: Store,
    pub rooms: watch::Receiver<Arc<RoomMap>>,
    pub config: watch::Receiver<Arc<RoomsConfig>>,
    pub events: Events,
    /// Woken by the room actors when a session ends.
    pub session_ended: Arc<Notify>,
    pub settings: Settings,
}

/// Starts the task that expires, abandons and serves tickets as time passes (see the module docs). It reads
/// everything from the database at every round, so it picks up after a restart where the last process stopped.
///
/// A round runs when something may have moved a ticket on: the earliest deadline of the open tickets comes (read
/// at the last round), a ticket changes (its announcement on the events hub), a session ends, or the
/// rooms-config changes. `check_every` is only the longest wait between rounds, for what this process is not told
/// of (another server process ending a session on the same database).
pub fn start(mut deps: TaskDeps, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = deps.events.subscribe();
        loop {
            let next = sweep(&deps).await;
            let wait = next.map_or(deps.settings.check_every, |at| {
                Duration::from_millis(at.saturating_sub(now_ms())).min(deps.settings.check_every)
            });
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = deps.session_ended.notified() => break,
                    changed = deps.config.changed() => {
                        if changed.is_err() { return; }
                        break;
                    }
                    change = changes.recv() => match change {
                        Ok(c) if c.topic != Topic::WalkinTicket => continue,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            // One round covers every change that came meanwhile.
            while changes.try_recv().is_ok() {}
        }
    })
}

/// One round over the open tickets. Returns the earliest deadline of the tickets it left open, if any has one.
async fn sweep(deps: &TaskDeps) -> Option<Millis> {
    let open = match deps.store.open_walkin_tickets(None).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "walk-in: cannot read the open tickets");
            return None;
        }
    };
    let now = now_ms();
    let mut next: Option<Millis> = None;
    for t in open {
        match tend(deps, &t, now).await {
            Ok(deadline) => next = next.into_iter().chain(deadline).min(),
            Err(e) => tracing::error!(ticket = %t.id, error = %e, "walk-in: cannot move the ticket on"),
        }
    }
    next
}

/// What time does to one open ticket. Returns when it is next due, if it stays open with a deadline: a waiting
/// ticket's expiry, an accepted ticket's join timeout until everyone is in. A ticket whose session is locked has
/// none (its session's end wakes the timekeeper).
async fn tend(deps: &TaskDeps, t: &WalkinTicketRecord, now: Millis) -> Result<Option<Millis>, StoreError> {
    let s = &deps.settings;
    let configured = RoomId::new(t.device.as_str()).ok().is_some_and(|d| deps.config.borrow().device(&d).is_some());
    let close = |status: WalkinStatus, reason: &str| {
        let reason = reason.to_string();
        let from = t.status;
        async move { deps.store.close_walkin_ticket(&t.id, &[from], status, &reason, TIMEKEEPER, now as i64).await }
    };
    let expires = ms(t.created_at).saturating_add(s.ticket_timeout_ms);
    let join_by = accepted_at(t).saturating_add(s.join_timeout_ms);
    let result = if !configured {
        close(WalkinStatus::Abandoned, "room_removed").await
    } else {
        match (t.status, &t.session_id) {
            (WalkinStatus::Waiting, _) if now >= expires => close(WalkinStatus::Expired, "not_accepted_in_time").await,
            (WalkinStatus::Waiting, _) => return Ok(Some(expires)),
            (WalkinStatus::Accepted, None) if now >= join_by => {
                close(WalkinStatus::Abandoned, "session_never_started").await
            }
            (WalkinStatus::Accepted, None) => return Ok(Some(join_by)),
            (WalkinStatus::Accepted, Some(session)) => match deps.store.session(session).await? {
                Some(SessionRecord { ended_at: Some(_), end_reason, locks, .. }) => {
                    if locks.is_empty() {
                        close(WalkinStatus::Abandoned, "session_never_started").await
                    } else {
                        close(WalkinStatus::Served, end_reason.as_deref().unwrap_or("ended")).await
                    }
                }
                Some(rec) if rec.locks.is_empty() && now >= join_by => {
                    close(WalkinStatus::Abandoned, "session_never_started").await
                }
                Some(rec) if rec.locks.is_empty() => return Ok(Some(join_by)),
                Some(_) => return Ok(None),
                // The session row is gone (never happens: sessions are kept); nothing to wait for.
                None => close(WalkinStatus::Abandoned, "session_never_started").await,
            },
            _ => return Ok(None),
        }
    };
    match result {
        Ok(closed) => {
            tracing::info!(ticket = %closed.id, status = closed.status.as_str(), reason = ?closed.close_reason, "walk-in ticket closed");
            // An abandoned ticket's session is not wanted any more. The record read before the change may not have
            // shown the session yet (the accept linked it meanwhile): the closed record does.
            if let (WalkinStatus::Abandoned, Some(session)) = (closed.status, &closed.session_id) {
                end_ticket_session(&deps.rooms, &closed.device, session).await;
            }
            announce(&deps.store, &deps.events, &closed).await;
            Ok(None)
        }
        // Someone else changed it first (a cancel, an accept): its announcement brings the next round.
        Err(StoreError::TicketWrongState { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn accepted_at(t: &WalkinTicketRecord) -> Millis {
    ms(t.accepted_at.unwrap_or(t.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timekeeper sleeps until the earliest deadline it read, not until its next periodic look: a ticket
    /// that nobody announced (written straight to the database) still expires on time.
    #[tokio::test]
    async fn the_timekeeper_wakes_at_the_earliest_deadline() {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rooms-config");
        let config = crate::rooms_config::load_dir(&demo).expect("the demo rooms-config loads");
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let created_at = now_ms();
        let ticket = NewWalkinTicket {
            id: "t-1".into(),
            device: "mikkeli-1".into(),
            service_point: "mikkeli".into(),
            agency: "kela".into(),
            service: None,
            language: "fi".into(),
            interpreter_language: None,
            created_by: "mikkeli-1".into(),
            created_at: created_at as i64,
        };
        store.create_walkin_ticket(&ticket).await.unwrap();
        let (config_tx, config_rx) = watch::channel(Arc::new(config));
        let (rooms_tx, rooms_rx) = watch::channel(Arc::new(RoomMap::new()));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let settings = Settings {
            ticket_timeout_ms: 400,
            join_timeout_ms: 400,
            default_session_ms: MINUTE,
            check_every: Duration::from_secs(600),
        };
        let deps = TaskDeps {
            store: store.clone(),
            rooms: rooms_rx,
            config: config_rx,
            events: Events::new(),
            session_ended: Arc::default(),
            settings,
        };
        let task = start(deps, shutdown_rx);

        let expired = async {
            loop {
                let t = store.walkin_ticket("t-1").await.unwrap().unwrap();
                if t.status != WalkinStatus::Waiting {
                    return t;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let t = tokio::time::timeout(Duration::from_secs(5), expired).await.expect("expired long before the backstop");
        assert_eq!((t.status, t.close_reason.as_deref()), (WalkinStatus::Expired, Some("not_accepted_in_time")));
        assert!(t.closed_at.is_some_and(|at| at as u64 >= created_at + 400), "not before its deadline: {t:?}");

        shutdown_tx.send_replace(true);
        task.await.unwrap();
        drop((config_tx, rooms_tx));
    }
}
