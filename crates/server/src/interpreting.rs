//! Interpreter bookings over REST: a scheduler requests an interpreter for a booked appointment, the
//! request is offered to qualified, available interpreters in order, they accept or decline, an unanswered offer
//! expires at its deadline and the request moves on, an assigned interpreter may withdraw (the request goes back
//! into the cascade), and cancelling the appointment ends its requests.
//!
//! The parts and who owns what:
//! - **Matching and the cascade** are `vayla-domain`'s `interpreting` (pure): which interpreters qualify (language,
//!   competence, modality, availability from the calendar model, busy time from reservations), in which order,
//!   and each offer's response deadline.
//! - **The guarantees** are the store's (`vayla-store`'s `interpreting`): one accepted interpreter per request
//!   even when accepts race, the interpreter's time reserved in the accept's own transaction (never
//!   double-booked), one offer per interpreter per round.
//! - **Moving a request on** (recording the next offers, or marking it exhausted) is done by one owner task, the
//!   [`Cascade`] actor: handlers make their own change in the store (accept, decline, withdraw) and then ask the
//!   actor to move the request on; a new request is created by the actor itself (so "no live request yet" and
//!   creating one are one step); and the actor sleeps until the next offer deadline, expires what is due and
//!   moves those requests on. One task doing every "move on" means two of them never race to offer
//!   the same request; the store's guards (state `open`, the unique offer key) refuse it anyway.
//!
//! The registry is mirrored from the rooms-config's interpreters ([`seed_registry`]) with defaults: every language
//! at professional level, remote video only, provider `rooms-config`; edits through the registry API
//! (`crate::interpreter_registry`) win over the seed until reverted.
//!
//! **Live notices** go through the events hub (`crate::events`) after each change has committed ([`tell`]): the
//! schedulers hear of every state change of a request (`interpreter_requests`, key the request), every
//! interpreter whose offer was sent, closed, accepted, released or withdrawn hears of it (`interpreter_offers`,
//! key the interpreter), and a change of who is assigned is an `appointments` change too. The cascade task tells
//! of the changes it makes itself (a new request's first offers, expiries and what follows them); a handler tells
//! of its own change together with the moving on it asked the task for. Clients then read the REST endpoints.

use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::events::{Audience, Change, Events};
use crate::now_ms;
use crate::rooms_config::RoomsConfig;
use crate::scheduling::model::{closed, Model};
use crate::scheduling::{busy_time, caller_person, iso, unprocessable};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use vayla_domain::calendar::{local_date, LocalDays, ResourceCalendar, ResourceKey, DAY};
use vayla_domain::interpreting::{
    match_interpreters, Candidate, Command, Competence, Effect, Interpreter, InterpreterNeed, LanguageSkill,
    LanguageTag, Modality, NeededTime, OfferMode, Request, MIN_RESPONSE,
};
use vayla_domain::{Millis, Role, SubjectId};
use vayla_protocol::Topic;
use vayla_store::{
    AppointmentRecord, AppointmentStatus, CalendarSource, InterpreterRecord, InterpreterRequestRecord,
    InterpreterRequestState, LanguageLevel, NewInterpreterRequest, NewOffer, OfferOutcome, RequestCancelReason, Store,
    StoreError, SEED_AUTHOR,
};

/// The author (`by` of the audit entries) of the changes the cascade makes by itself: offers sent, offers
/// expired, a request exhausted.
pub const CASCADE_AUTHOR: &str = "interpreter-cascade";
/// The provider of interpreters mirrored from the rooms-config (which has no provider field).
pub const SEED_PROVIDER: &str = "rooms-config";
/// Offers and assignments over this window count as an interpreter's recent load (fairness among equals).
const FAIRNESS_WINDOW: Millis = 30 * DAY;
/// The longest note for the interpreter (the database checks the same).
const MAX_NOTES: usize = 500;
/// The deadline task looks again at least this often, so that deadlines set by another server node on the
/// same database are not missed for long.
const MAX_SLEEP: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------------------
// Registry seeding

/// Mirrors the rooms-config's interpreters into the store's registry: each configured interpreter with their
/// languages at professional level and remote video; an interpreter removed from the config becomes inactive.
/// Entries edited through the registry API (`source = api`) are left alone until reverted, and unchanged
/// entries are not rewritten (no audit entry per start-up). Called at start-up and after every accepted reload.
pub async fn seed_registry(store: &Store, config: &RoomsConfig, at: Millis) -> Result<(), StoreError> {
    let existing: HashMap<String, InterpreterRecord> =
        store.list_interpreters().await?.into_iter().map(|i| (i.id.clone(), i)).collect();
    let mut configured = BTreeSet::new();
    for p in config.people.values().filter(|p| p.role == Role::Interpreter) {
        configured.insert(p.id.to_string());
        let seeded = seed_entry(p, SEED_AUTHOR, at);
        if let Some(e) = existing.get(p.id.as_str()) {
            let mut stored = e.languages.clone();
            stored.sort_by(|a, b| a.language.cmp(&b.language));
            if e.source == CalendarSource::Api || (stored == seeded.languages && e.active) {
                continue;
            }
        }
        store.put_interpreter(&seeded).await?;
    }
    for e in existing.into_values() {
        if e.source == CalendarSource::Seed && e.active && !configured.contains(&e.id) {
            store.put_interpreter(&InterpreterRecord { active: false, updated_at: at as i64, ..e }).await?;
        }
    }
    Ok(())
}

/// The rooms-config's version of an interpreter's registry entry: their languages (sorted) at professional
/// level, remote video, the placeholder provider, active.
pub fn seed_entry(p: &crate::rooms_config::Person, by: &str, at: Millis) -> InterpreterRecord {
    let mut languages: Vec<LanguageLevel> = p
        .languages
        .iter()
        .filter_map(|l| LanguageTag::new(l).ok())
        .map(|t| LanguageLevel { language: t.to_string(), level: i64::from(Competence::Professional.level()) })
        .collect();
    languages.sort_by(|a, b| a.language.cmp(&b.language));
    InterpreterRecord {
        id: p.id.to_string(),
        provider: SEED_PROVIDER.to_string(),
        languages,
        remote_video: true,
        phone: false,
        on_site: false,
        active: true,
        source: CalendarSource::Seed,
        updated_by: by.to_string(),
        updated_at: at as i64,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The cascade actor

enum Msg {
    /// Move the request on if it is `open`: offer to the next candidates, or mark it exhausted.
    Advance { request: String, reply: oneshot::Sender<Result<InterpreterRequestRecord, ApiError>> },
    /// Record a new request (replacing an exhausted one; refusing if one is live) and start its cascade.
    Create { new: Box<NewInterpreterRequest>, reply: oneshot::Sender<Result<InterpreterRequestRecord, ApiError>> },
}

/// The handle of the cascade actor (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Cascade {
    tx: mpsc::Sender<Msg>,
}

impl Cascade {
    /// Moves the request on (if it is `open`) and returns it as it is then.
    pub async fn advance(&self, request: &str) -> Result<InterpreterRequestRecord, ApiError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ApiError::unavailable("shutting_down", "the server is shutting down");
        self.tx.send(Msg::Advance { request: request.to_string(), reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Records a new request for its appointment and starts the cascade. Going through the actor makes "no live
    /// request yet, so create one" one step: two racing requests for one appointment end with one.
    pub async fn create(&self, new: NewInterpreterRequest) -> Result<InterpreterRequestRecord, ApiError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ApiError::unavailable("shutting_down", "the server is shutting down");
        self.tx.send(Msg::Create { new: Box::new(new), reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Starts the cascade actor. `offer_window_ms`, when set, replaces every offer's response window (see
/// `Config::interpreter_offer_window_ms`).
pub fn start(
    store: Store,
    config: watch::Receiver<Arc<RoomsConfig>>,
    offer_window_ms: Option<u64>,
    events: Events,
    shutdown: watch::Receiver<bool>,
) -> (Cascade, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let actor = Actor { store, config, offer_window_ms, events };
    (Cascade { tx }, tokio::spawn(actor.run(rx, shutdown)))
}

struct Actor {
    store: Store,
    config: watch::Receiver<Arc<RoomsConfig>>,
    offer_window_ms: Option<u64>,
    events: Events,
}

impl Actor {
    async fn run(self, mut rx: mpsc::Receiver<Msg>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.expire_due().await;
            let wait = match self.store.next_offer_deadline().await {
                Ok(Some(deadline)) => {
                    // One millisecond past the deadline, so that the offer is due (`deadline <= now`) on waking.
                    let ms = (deadline + 1 - now_ms() as i64).max(0) as u64;
                    Duration::from_millis(ms).min(MAX_SLEEP)
                }
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!(error = %e, "interpreter offers: cannot read the next deadline");
                    Duration::from_secs(5)
                }
            };
            // The select yields plain values: a `watch::Ref` held across the handling below would not be `Send`.
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                _ = tokio::time::sleep(wait) => continue,
                _ = shutdown.wait_for(|s| *s) => None,
            };
            match msg {
                Some(Msg::Advance { request, reply }) => {
                    let _ = reply.send(self.advance(&request).await);
                }
                Some(Msg::Create { new, reply }) => {
                    let _ = reply.send(self.create(&new).await);
                }
                None => break,
            }
        }
    }

    /// Expires every offer whose deadline has passed and moves those requests on.
    async fn expire_due(&self) {
        let now = now_ms();
        let due = match self.store.requests_with_due_offers(now as i64).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "interpreter offers: cannot read the due offers");
                return;
            }
        };
        for id in due {
            let before = self.store.get_interpreter_request(&id).await.ok().flatten();
            let after = match self.store.expire_offers(&id, CASCADE_AUTHOR, now as i64).await {
                Ok(r) if r.state == InterpreterRequestState::Open => match self.advance(&id).await {
                    Ok(moved) => moved,
                    Err(e) => {
                        tracing::error!(request = %id, error = %e.message, "interpreter request: cannot move on");
                        r
                    }
                },
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(request = %id, error = %e, "interpreter offers: cannot expire");
                    continue;
                }
            };
            tell(&self.events, &self.store, before.as_ref(), &after, true).await;
        }
    }

    /// See [`Cascade::create`].
    async fn create(&self, new: &NewInterpreterRequest) -> Result<InterpreterRequestRecord, ApiError> {
        for earlier in self.store.interpreter_requests_for_appointment(&new.appointment_id).await? {
            match earlier.state {
                InterpreterRequestState::Cancelled => {}
                InterpreterRequestState::Exhausted => {
                    let reason = RequestCancelReason::NoLongerNeeded;
                    let replaced = self
                        .store
                        .cancel_interpreter_request(&earlier.id, reason, &new.created_by, new.created_at)
                        .await
                        .map_err(store_error)?;
                    tell(&self.events, &self.store, Some(&earlier), &replaced, false).await;
                }
                state => {
                    return Err(ApiError::conflict(
                        "interpreter_already_requested",
                        format!("this appointment's interpreter request {} is {}", earlier.id, state.as_str()),
                    ))
                }
            }
        }
        let created = self.store.create_interpreter_request(new).await.map_err(store_error)?;
        let moved = self.advance(&created.id).await;
        // Tell of the new request even if moving it on failed: it exists, and the scheduler should see it.
        let after = match &moved {
            Ok(r) => r.clone(),
            Err(_) => load_request(&self.store, &created.id).await.unwrap_or(created),
        };
        tell(&self.events, &self.store, None, &after, true).await;
        moved
    }

    /// Offers an `open` request to the next qualified, available interpreters not yet asked in this round, or
    /// marks it exhausted when there is nobody (left) or it is too late to ask.
    async fn advance(&self, id: &str) -> Result<InterpreterRequestRecord, ApiError> {
        let r = load_request(&self.store, id).await?;
        if r.state != InterpreterRequestState::Open {
            return Ok(r);
        }
        let now = now_ms();
        let a = self.store.get_appointment(&r.appointment_id).await?.ok_or_else(|| unknown_appointment(id))?;
        if a.status != AppointmentStatus::Booked {
            let reason = RequestCancelReason::AppointmentCancelled;
            return Ok(self.store.cancel_interpreter_request(id, reason, CASCADE_AUTHOR, now as i64).await?);
        }
        let need = stored_need(&r)?;
        let config = self.config.borrow().clone();
        let ranked = candidates(&self.store, &config, &need, &a, &r, now).await?;
        let offered: BTreeSet<&str> = r.current_offers().map(|o| o.interpreter_id.as_str()).collect();
        let remaining: Vec<SubjectId> = ranked.into_iter().filter(|c| !offered.contains(c.as_str())).collect();
        let mode = OfferMode::with_size(u8::try_from(r.group_size).unwrap_or(1)).unwrap_or(OfferMode::OneAtATime);
        let mut cascade = Request::new(a.start_ms.max(0) as Millis, mode, remaining);
        let effects = cascade.apply(now, Command::Start).map_err(|e| ApiError::internal("interpreter cascade", e))?;
        let offers: Vec<NewOffer> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::OfferSent { to, deadline } => Some(NewOffer {
                    interpreter_id: to.to_string(),
                    deadline: self.offer_window_ms.map_or(*deadline, |w| now + w) as i64,
                }),
                _ => None,
            })
            .collect();
        let record = if offers.is_empty() {
            self.store.mark_interpreter_request_exhausted(id, CASCADE_AUTHOR, now as i64).await?
        } else {
            self.store.record_offers(id, &offers, CASCADE_AUTHOR, now as i64).await?
        };
        tracing::info!(request = %id, state = record.state.as_str(), offers = offers.len(), "interpreter request moved on");
        Ok(record)
    }
}

/// The request's need as the domain sees it (the store holds only valid values).
fn stored_need(r: &InterpreterRequestRecord) -> Result<InterpreterNeed, ApiError> {
    let bad = |what: &str| ApiError::internal("interpreter request", format!("stored {what} unreadable"));
    let language = LanguageTag::new(&r.language).map_err(|_| bad("language"))?;
    let modality = Modality::parse(&r.modality).ok_or_else(|| bad("modality"))?;
    let level = Competence::from_level(u8::try_from(r.min_level).unwrap_or(0)).ok_or_else(|| bad("level"))?;
    InterpreterNeed::new(language, modality, level).map_err(|_| bad("need"))
}

/// The active registry's interpreters who qualify for `need` at the appointment's time, in offer order.
async fn candidates(
    store: &Store,
    config: &RoomsConfig,
    need: &InterpreterNeed,
    a: &AppointmentRecord,
    r: &InterpreterRequestRecord,
    now: Millis,
) -> Result<Vec<SubjectId>, ApiError> {
    let interpreters: Vec<Interpreter> = store.list_interpreters().await?.iter().filter_map(to_domain).collect();
    if interpreters.is_empty() {
        return Ok(Vec::new());
    }
    let (start, end) = (a.start_ms.max(0) as Millis, a.end_ms.max(0) as Millis);
    let time = NeededTime::with_buffers(start, end, r.buffer_before_ms.max(0) as u64, r.buffer_after_ms.max(0) as u64);
    let date = local_date(start);
    let days = LocalDays::new(date.pred_opt().unwrap_or(date), date.succ_opt().unwrap_or(date))
        .map_err(|e| ApiError::internal("interpreter matching", e))?;
    let keys: Vec<ResourceKey> = interpreters.iter().map(|i| ResourceKey::interpreter(i.id.clone())).collect();
    let (from, to) = days.span();
    let mut busy = busy_time(store, &keys, from.saturating_sub(DAY), to + DAY).await?;
    let model = Model::load(store, config).await?;
    let closed = closed();
    let calendars: Vec<ResourceCalendar> = keys
        .iter()
        .map(|k| {
            let schedule = model.interpreter_availability.get(k.id.as_str()).map(|(s, _)| s).unwrap_or(&closed);
            ResourceCalendar::from_schedule(k.clone(), schedule, &days, busy.remove(k).unwrap_or_default())
        })
        .collect();
    let ids: Vec<String> = interpreters.iter().map(|i| i.id.to_string()).collect();
    let load: HashMap<String, i64> =
        store.interpreter_load(&ids, now.saturating_sub(FAIRNESS_WINDOW) as i64).await?.into_iter().collect();
    let list: Vec<Candidate<'_>> = interpreters
        .iter()
        .zip(&calendars)
        .map(|(i, calendar)| Candidate {
            interpreter: i,
            calendar,
            recent_load: load.get(i.id.as_str()).copied().unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32,
        })
        .collect();
    Ok(match_interpreters(need, &time, &list).into_iter().map(|m| m.interpreter).collect())
}

/// An active registry entry as the domain's [`Interpreter`]; inactive or unreadable entries are not matched.
fn to_domain(i: &InterpreterRecord) -> Option<Interpreter> {
    if !i.active {
        return None;
    }
    let languages = i
        .languages
        .iter()
        .filter_map(|l| {
            let level = Competence::from_level(u8::try_from(l.level).ok()?)?;
            Some(LanguageSkill { language: LanguageTag::new(&l.language).ok()?, level })
        })
        .collect();
    let mut modalities = BTreeSet::new();
    for (on, m) in [(i.remote_video, Modality::RemoteVideo), (i.phone, Modality::Phone), (i.on_site, Modality::OnSite)]
    {
        if on {
            modalities.insert(m);
        }
    }
    Some(Interpreter {
        id: SubjectId::new(i.id.as_str()).ok()?,
        provider: SubjectId::new(i.provider.as_str()).ok()?,
        languages,
        modalities,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Views

/// One offer as the scheduler sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OfferView {
    pub interpreter: String,
    pub sent_at: String,
    pub deadline: String,
    /// `pending`, `accepted`, `declined`, `expired`, `withdrawn`, `cancelled` or `released`.
    pub outcome: OfferOutcome,
    pub responded_at: Option<String>,
}

/// An interpreter request as the scheduler sees it: its state, the offers of the current round (oldest first;
/// those `pending` are the current offers, answerable until their deadline) and the assigned interpreter.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: String,
    pub appointment: String,
    pub language: String,
    pub modality: String,
    pub min_level: Option<Competence>,
    pub notes: Option<String>,
    pub group_size: i64,
    /// `open`, `offered`, `accepted`, `exhausted` (nobody accepted: rebook by requesting again) or `cancelled`.
    pub state: InterpreterRequestState,
    pub round: i64,
    pub assigned_interpreter: Option<String>,
    pub cancel_reason: Option<RequestCancelReason>,
    /// Why nobody interprets, set exactly when `exhausted`: `nobody_qualified` (no qualified, available
    /// interpreter was left to ask), `nobody_accepted` (everyone asked declined or let the offer expire) or
    /// `too_late` (the appointment is too close to ask anyone). The scheduler rebooks: requests again, or
    /// reschedules the appointment and then requests again.
    pub unfilled: Option<&'static str>,
    pub offers: Vec<OfferView>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

fn ms(t: i64) -> Millis {
    t.max(0) as Millis
}

/// Why an exhausted request ended unfilled (see [`RequestView::unfilled`]); `start` is its appointment's.
fn unfilled(r: &InterpreterRequestRecord, start: i64) -> Option<&'static str> {
    if r.state != InterpreterRequestState::Exhausted {
        None
    } else if start.saturating_sub(r.updated_at) < MIN_RESPONSE as i64 {
        Some("too_late")
    } else if r.current_offers().next().is_none() {
        Some("nobody_qualified")
    } else {
        Some("nobody_accepted")
    }
}

fn view(r: &InterpreterRequestRecord, appointment_start: i64) -> RequestView {
    RequestView {
        unfilled: unfilled(r, appointment_start),
        id: r.id.clone(),
        appointment: r.appointment_id.clone(),
        language: r.language.clone(),
        modality: r.modality.clone(),
        min_level: u8::try_from(r.min_level).ok().and_then(Competence::from_level),
        notes: r.notes.clone(),
        group_size: r.group_size,
        state: r.state,
        round: r.round,
        assigned_interpreter: r.assigned_interpreter.clone(),
        cancel_reason: r.cancel_reason,
        offers: r
            .current_offers()
            .map(|o| OfferView {
                interpreter: o.interpreter_id.clone(),
                sent_at: iso(ms(o.sent_at)),
                deadline: iso(ms(o.deadline)),
                outcome: o.outcome,
                responded_at: o.responded_at.map(|t| iso(ms(t))),
            })
            .collect(),
        created_by: r.created_by.clone(),
        created_at: iso(ms(r.created_at)),
        updated_at: iso(ms(r.updated_at)),
        version: r.version,
    }
}

/// A pending offer as the interpreter sees it: what they need to decide, nothing about the customer (no
/// reference, no other interpreters).
#[derive(Debug, Clone, Serialize)]
pub struct MyOfferView {
    pub request: String,
    pub appointment: String,
    pub start: String,
    pub end: String,
    pub service_point: String,
    pub service: String,
    pub language: String,
    pub modality: String,
    pub min_level: Option<Competence>,
    pub notes: Option<String>,
    /// Answer before this.
    pub deadline: String,
}

/// One of the interpreter's assignments as they see it: when and where (the device is the room they join),
/// what to interpret, and whether it still holds. Nothing about the customer.
#[derive(Debug, Clone, Serialize)]
pub struct MyAssignmentView {
    pub request: String,
    pub appointment: String,
    pub start: String,
    pub end: String,
    pub service_point: String,
    pub service: String,
    /// The device whose room the interpreter joins.
    pub device: String,
    pub language: String,
    /// Whether `language` is a sign language (the room shows the interpreter large, the camera keeps its rate).
    pub sign_language: bool,
    pub modality: String,
    pub notes: Option<String>,
    /// `assigned` (the interpreter is booked), or `cancelled` (the appointment or the request was cancelled and
    /// released them).
    pub state: &'static str,
    /// Why it was cancelled, set exactly when `cancelled`: `appointment_cancelled`, or `no_longer_needed` (the
    /// scheduler cancelled the interpreter request).
    pub cancel_reason: Option<RequestCancelReason>,
    /// The appointment's own status: `booked`, `cancelled`, `no_show`, `completed`.
    pub appointment_status: AppointmentStatus,
}

/// What an interpreter's answer led to.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    pub request: String,
    /// The request's state after the answer (and after it moved on).
    pub state: InterpreterRequestState,
    /// Whether the caller is now the assigned interpreter.
    pub assigned: bool,
}

fn answer(r: &InterpreterRequestRecord, me: &str) -> AnswerView {
    AnswerView { request: r.id.clone(), state: r.state, assigned: r.assigned_interpreter.as_deref() == Some(me) }
}

// ---------------------------------------------------------------------------------------------------------
// Errors and access

fn unknown_appointment(id: &str) -> ApiError {
    ApiError::not_found("unknown_appointment", format!("no appointment {id:?}"))
}

fn unknown_request(id: &str) -> ApiError {
    ApiError::not_found("unknown_interpreter_request", format!("no interpreter request {id:?}"))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { what, id } if what.contains("appointment") => unknown_appointment(&id),
        StoreError::NotFound { id, .. } => unknown_request(&id),
        StoreError::AppointmentClosed { id, status } => {
            ApiError::conflict("appointment_closed", format!("appointment {id} is {status}, no longer booked"))
        }
        StoreError::OfferClosed { outcome, .. } => {
            ApiError::conflict("offer_closed", format!("you have no pending offer for this request: it is {outcome}"))
        }
        StoreError::InterpreterRequestWrongState { state, wanted, .. } => {
            ApiError::conflict("request_wrong_state", format!("the request is {state}; this needs it {wanted}"))
        }
        StoreError::ResourceBusy { .. } => {
            ApiError::conflict("interpreter_busy", "your time was booked for an overlapping appointment meanwhile")
        }
        StoreError::Conflict { what, id } => ApiError::conflict("conflict", format!("{what} {id} already exists")),
        other => other.into(),
    }
}

async fn load_request(store: &Store, id: &str) -> Result<InterpreterRequestRecord, ApiError> {
    store.get_interpreter_request(id).await?.ok_or_else(|| unknown_request(id))
}

async fn load_appointment(store: &Store, id: &str) -> Result<AppointmentRecord, ApiError> {
    store.get_appointment(id).await?.ok_or_else(|| unknown_appointment(id))
}

/// Who requests interpreters for an appointment and follows the request: schedulers and admins anywhere,
/// advisors at their own service point (the same as who books there).
fn may_manage(config: &RoomsConfig, caller: &Caller, service_point: &str) -> Result<(), ApiError> {
    match caller.role() {
        Role::Scheduler | Role::Admin => Ok(()),
        Role::Advisor
            if caller_person(config, caller).and_then(|p| p.service_point.as_deref()) == Some(service_point) =>
        {
            Ok(())
        }
        Role::Advisor => Err(ApiError::forbidden("advisors manage their own service point's appointments only")),
        r => Err(ApiError::forbidden(format!("role {r} does not request interpreters"))),
    }
}

fn require_interpreter(caller: &Caller) -> Result<String, ApiError> {
    if caller.role() == Role::Interpreter {
        Ok(caller.0.sub.clone())
    } else {
        Err(ApiError::forbidden(format!("only interpreters answer interpreter offers, not role {}", caller.role())))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

/// The body of `POST /api/appointments/{id}/interpreter-request`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// BCP 47 (`sv`, `ar-SY`, `fse`).
    pub language: String,
    /// `remote_video`, `phone` or `on_site`.
    pub modality: String,
    /// `basic`, `professional` (default) or `certified`.
    #[serde(default)]
    pub min_level: Option<Competence>,
    #[serde(default)]
    pub notes: Option<String>,
    /// How many interpreters an offer goes to at once, 1 (default) to 5; the first to accept wins.
    #[serde(default)]
    pub group_size: Option<u8>,
}

/// `POST /api/appointments/{id}/interpreter-request`: request an interpreter for a booked appointment and
/// start the offer cascade. An exhausted earlier request is replaced (the scheduler rebooks); a live one
/// (open, offered, accepted) is `409 interpreter_already_requested`.
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let config = crate::scheduling::config(&app);
    let a = load_appointment(&app.store, &id).await?;
    may_manage(&config, &caller, &a.service_point)?;
    if a.status != AppointmentStatus::Booked {
        return Err(ApiError::conflict(
            "appointment_closed",
            format!("appointment {id} is {}, no longer booked", a.status.as_str()),
        ));
    }
    let language = LanguageTag::new(body.language.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_language",
            format!("language: {:?} is not a BCP 47 language tag such as \"sv\" or \"fse\"", body.language),
        )
    })?;
    let modality = Modality::parse(&body.modality).ok_or_else(|| {
        ApiError::bad_request(format!("modality: {:?} is not remote_video, phone or on_site", body.modality))
    })?;
    let min_level = body.min_level.unwrap_or(Competence::Professional);
    InterpreterNeed::new(language.clone(), modality, min_level)
        .map_err(|e| unprocessable("sign_language_needs_video", e.to_string()))?;
    let group_size = body.group_size.unwrap_or(1);
    OfferMode::with_size(group_size).map_err(|e| ApiError::bad_request(format!("group_size: {e}")))?;
    let notes = body.notes.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(String::from);
    if notes.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTES) {
        return Err(ApiError::bad_request(format!("notes: at most {MAX_NOTES} characters")));
    }
    let now = now_ms();
    // The interpreter's reservation is the appointment widened by the service's buffers, like the expert's.
    let model = Model::load(&app.store, &config).await?;
    let (before, after) = model
        .service(&a.service)
        .map(|(_, _, s)| (u64::from(s.buffer_before_minutes), u64::from(s.buffer_after_minutes)))
        .unwrap_or((0, 0));
    let minute = vayla_domain::calendar::MINUTE as i64;
    let new = NewInterpreterRequest {
        id: uuid::Uuid::new_v4().to_string(),
        appointment_id: id.clone(),
        language: language.to_string(),
        modality: modality.as_str().to_string(),
        min_level: i64::from(min_level.level()),
        notes,
        group_size: i64::from(group_size),
        buffer_before_ms: before as i64 * minute,
        buffer_after_ms: after as i64 * minute,
        created_by: caller.0.sub.clone(),
        created_at: now as i64,
    };
    let record = app.interpreting.create(new).await?;
    Ok((StatusCode::CREATED, Json(view(&record, a.start_ms))))
}

/// `GET /api/appointments/{id}/interpreter-request`: the appointment's current interpreter request (the live
/// one, else the latest), for the scheduler.
pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let config = crate::scheduling::config(&app);
    let a = load_appointment(&app.store, &id).await?;
    may_manage(&config, &caller, &a.service_point)?;
    let requests = app.store.interpreter_requests_for_appointment(&id).await?;
    let current = requests
        .iter()
        .filter(|r| r.state != InterpreterRequestState::Cancelled)
        .max_by_key(|r| r.created_at)
        .or_else(|| requests.iter().max_by_key(|r| (r.created_at, r.updated_at)))
        .ok_or_else(|| {
            ApiError::not_found("no_interpreter_request", format!("appointment {id} has no interpreter request"))
        })?;
    Ok(Json(view(current, a.start_ms)))
}

/// `GET /api/appointments/{id}/interpreter-requests`: every interpreter request the appointment has had, newest
/// first (an empty list when none), for the scheduler's page: the current one is the first that is not
/// cancelled, else the first.
pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    let config = crate::scheduling::config(&app);
    let a = load_appointment(&app.store, &id).await?;
    may_manage(&config, &caller, &a.service_point)?;
    let mut requests = app.store.interpreter_requests_for_appointment(&id).await?;
    requests.sort_by(|x, y| (y.created_at, y.updated_at, &y.id).cmp(&(x.created_at, x.updated_at, &x.id)));
    Ok(Json(requests.iter().map(|r| view(r, a.start_ms)).collect()))
}

/// `GET /api/me/interpreter-offers`: the calling interpreter's pending offers, soonest deadline first.
pub async fn my_offers(State(app): State<AppState>, caller: Caller) -> Result<Json<Vec<MyOfferView>>, ApiError> {
    let me = require_interpreter(&caller)?;
    let mut out = Vec::new();
    for r in app.store.pending_offers_for(&me).await? {
        let Some(offer) = r.offers.iter().find(|o| o.interpreter_id == me && o.outcome == OfferOutcome::Pending) else {
            continue;
        };
        let Some(a) = app.store.get_appointment(&r.appointment_id).await? else { continue };
        out.push((
            offer.deadline,
            MyOfferView {
                request: r.id.clone(),
                appointment: a.id.clone(),
                start: iso(ms(a.start_ms)),
                end: iso(ms(a.end_ms)),
                service_point: a.service_point.clone(),
                service: a.service.clone(),
                language: r.language.clone(),
                modality: r.modality.clone(),
                min_level: u8::try_from(r.min_level).ok().and_then(Competence::from_level),
                notes: r.notes.clone(),
                deadline: iso(ms(offer.deadline)),
            },
        ));
    }
    out.sort_by(|a, b| (a.0, &a.1.request).cmp(&(b.0, &b.1.request)));
    Ok(Json(out.into_iter().map(|(_, v)| v).collect()))
}

/// `GET /api/me/interpreter-assignments`: the calling interpreter's accepted assignments whose appointment has
/// not ended yet, by start — still assigned, or cancelled together with their appointment (so the interpreter
/// sees that it was cancelled). Assignments they withdrew themselves are not listed.
pub async fn my_assignments(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MyAssignmentView>>, ApiError> {
    let me = require_interpreter(&caller)?;
    let mut out = Vec::new();
    for r in app.store.interpreter_assignments(&me, now_ms() as i64).await? {
        let Some(offer) =
            r.offers.iter().rev().find(|o| {
                o.interpreter_id == me && matches!(o.outcome, OfferOutcome::Accepted | OfferOutcome::Released)
            })
        else {
            continue;
        };
        let Some(a) = app.store.get_appointment(&r.appointment_id).await? else { continue };
        let assigned = offer.outcome == OfferOutcome::Accepted && r.assigned_interpreter.as_deref() == Some(&me);
        let sign_language = LanguageTag::new(&r.language).is_ok_and(|t| t.is_sign_language());
        out.push((
            a.start_ms,
            MyAssignmentView {
                request: r.id.clone(),
                appointment: a.id.clone(),
                start: iso(ms(a.start_ms)),
                end: iso(ms(a.end_ms)),
                service_point: a.service_point.clone(),
                service: a.service.clone(),
                device: a.device.clone(),
                language: r.language.clone(),
                sign_language,
                modality: r.modality.clone(),
                notes: r.notes.clone(),
                state: if assigned && a.status != AppointmentStatus::Cancelled { "assigned" } else { "cancelled" },
                cancel_reason: if assigned && a.status != AppointmentStatus::Cancelled {
                    None
                } else if a.status == AppointmentStatus::Cancelled {
                    Some(RequestCancelReason::AppointmentCancelled)
                } else {
                    Some(r.cancel_reason.unwrap_or(RequestCancelReason::NoLongerNeeded))
                },
                appointment_status: a.status,
            },
        ));
    }
    out.sort_by(|a, b| (a.0, &a.1.request).cmp(&(b.0, &b.1.request)));
    Ok(Json(out.into_iter().map(|(_, v)| v).collect()))
}

/// `POST /api/interpreter-offers/{request}/accept`: the calling interpreter accepts their pending offer and is
/// assigned, their time reserved. Of racing accepts exactly one wins; the others get `409 offer_closed`. If
/// their time was booked meanwhile, the accept counts as a decline (`409 interpreter_busy`) and the request
/// moves on.
pub async fn accept(
    State(app): State<AppState>,
    caller: Caller,
    Path(request): Path<String>,
) -> Result<Json<AnswerView>, ApiError> {
    let me = require_interpreter(&caller)?;
    let now = now_ms() as i64;
    let before = load_request(&app.store, &request).await?;
    match app.store.accept_offer(&request, &me, &me, now).await {
        Ok(r) => {
            tell(&app.events, &app.store, Some(&before), &r, true).await;
            Ok(Json(answer(&r, &me)))
        }
        Err(busy @ StoreError::ResourceBusy { .. }) => {
            let mut r = app.store.decline_offer(&request, &me, &me, now).await.map_err(store_error)?;
            if r.state == InterpreterRequestState::Open {
                r = app.interpreting.advance(&request).await?;
            }
            tell(&app.events, &app.store, Some(&before), &r, true).await;
            Err(store_error(busy))
        }
        Err(e) => Err(store_error(e)),
    }
}

/// `POST /api/interpreter-offers/{request}/decline`: the calling interpreter declines; the request moves on
/// once nobody of the current group is left to answer.
pub async fn decline(
    State(app): State<AppState>,
    caller: Caller,
    Path(request): Path<String>,
) -> Result<Json<AnswerView>, ApiError> {
    let me = require_interpreter(&caller)?;
    let before = load_request(&app.store, &request).await?;
    let mut r = app.store.decline_offer(&request, &me, &me, now_ms() as i64).await.map_err(store_error)?;
    if r.state == InterpreterRequestState::Open {
        r = app.interpreting.advance(&request).await?;
    }
    tell(&app.events, &app.store, Some(&before), &r, true).await;
    Ok(Json(answer(&r, &me)))
}

/// `POST /api/interpreter-requests/{request}/withdraw`: the assigned interpreter cancels; their time is free,
/// they are not asked again in this round, and the request goes back into the cascade.
pub async fn withdraw(
    State(app): State<AppState>,
    caller: Caller,
    Path(request): Path<String>,
) -> Result<Json<AnswerView>, ApiError> {
    let me = require_interpreter(&caller)?;
    let before = load_request(&app.store, &request).await?;
    let r = app.store.cancel_by_interpreter(&request, &me, &me, now_ms() as i64).await.map_err(|e| match e {
        StoreError::InterpreterRequestWrongState { .. } => {
            ApiError::conflict("not_assigned", "you are not the interpreter assigned to this request")
        }
        other => store_error(other),
    })?;
    let r = if r.state == InterpreterRequestState::Open { app.interpreting.advance(&request).await? } else { r };
    tell(&app.events, &app.store, Some(&before), &r, true).await;
    Ok(Json(answer(&r, &me)))
}

/// The appointment was cancelled: its interpreter requests end too (pending offers withdrawn, an assigned
/// interpreter released), and the schedulers and every interpreter concerned are told. Called by
/// `POST /api/appointments/{id}/cancel`, which tells the appointment's own watchers.
pub async fn appointment_cancelled(app: &AppState, appointment: &str, by: &str) -> Result<(), ApiError> {
    let reason = RequestCancelReason::AppointmentCancelled;
    let before: HashMap<String, InterpreterRequestRecord> = app
        .store
        .interpreter_requests_for_appointment(appointment)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let after = app
        .store
        .cancel_interpreter_requests_for_appointment(appointment, reason, by, now_ms() as i64)
        .await
        .map_err(store_error)?;
    for r in &after {
        tell(&app.events, &app.store, before.get(&r.id), r, false).await;
    }
    Ok(())
}

/// `POST /api/interpreter-requests/{request}/cancel`: the scheduler withdraws the request (no interpreter is
/// needed any more): pending offers are withdrawn, an assigned interpreter is released and told. Same roles as
/// requesting. A request already cancelled is `409 request_wrong_state`.
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(request): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    let config = crate::scheduling::config(&app);
    let before = load_request(&app.store, &request).await?;
    let a = load_appointment(&app.store, &before.appointment_id).await?;
    may_manage(&config, &caller, &a.service_point)?;
    let reason = RequestCancelReason::NoLongerNeeded;
    let after = app
        .store
        .cancel_interpreter_request(&request, reason, &caller.0.sub, now_ms() as i64)
        .await
        .map_err(store_error)?;
    tell(&app.events, &app.store, Some(&before), &after, true).await;
    Ok(Json(view(&after, a.start_ms)))
}

// ---------------------------------------------------------------------------------------------------------
// Live notices

/// Tells the watchers what one request's change meant (see the module docs), from the request as it was
/// (`None`: it is new) and as it is now. Nothing when nothing changed. `announce_appointment`: also tell the
/// appointment's watchers when who is assigned changed (off when the caller announces the appointment itself).
/// Call after the change has committed; never fails (a notice is a hint, REST is the truth).
pub async fn tell(
    events: &Events,
    store: &Store,
    before: Option<&InterpreterRequestRecord>,
    after: &InterpreterRequestRecord,
    announce_appointment: bool,
) {
    if before.is_some_and(|b| b.version == after.version && b.offers == after.offers) {
        return;
    }
    events.publish(Change { topic: Topic::InterpreterRequests, key: after.id.clone(), audience: Audience::Schedulers });
    let old: HashMap<(&str, i64), OfferOutcome> = before
        .map(|b| b.offers.iter().map(|o| ((o.interpreter_id.as_str(), o.round), o.outcome)).collect())
        .unwrap_or_default();
    let mut people: BTreeSet<&str> = after
        .offers
        .iter()
        .filter(|o| old.get(&(o.interpreter_id.as_str(), o.round)) != Some(&o.outcome))
        .map(|o| o.interpreter_id.as_str())
        .collect();
    let was = before.and_then(|b| b.assigned_interpreter.as_deref());
    let is = after.assigned_interpreter.as_deref();
    if was != is {
        people.extend(was);
        people.extend(is);
    }
    for person in people {
        if let Ok(subject) = SubjectId::new(person) {
            let change = Change {
                topic: Topic::InterpreterOffers,
                key: person.to_string(),
                audience: Audience::Person(subject),
            };
            events.publish(change);
        }
    }
    if announce_appointment && was != is {
        match store.get_appointment(&after.appointment_id).await {
            Ok(Some(a)) => crate::scheduling::booking::announce_to(events, &a),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(appointment = %after.appointment_id, error = %e, "cannot announce the appointment")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sign language in the room

/// Whether `interpreter` interprets a sign language in a session (the rule of `docs/protocol.md`, "Sign-language
/// interpreters"): the language of the appointment's interpreter request assigned to them decides; in a walk-in
/// session, the language of the ticket that named them; otherwise (neither names them) the registry does: every
/// language they are registered with is a sign language, and there is at least one. A store error counts as
/// "no" (the call goes on, only without the protection) and is logged.
pub async fn interprets_sign_language(
    store: &Store,
    appointment: Option<&str>,
    session: Option<&str>,
    interpreter: &str,
) -> bool {
    let signs = |language: &str| LanguageTag::new(language).is_ok_and(|t| t.is_sign_language());
    if let Some(appointment) = appointment {
        match store.interpreter_requests_for_appointment(appointment).await {
            Ok(requests) => {
                if let Some(r) = requests.iter().find(|r| r.assigned_interpreter.as_deref() == Some(interpreter)) {
                    return signs(&r.language);
                }
            }
            Err(e) => tracing::warn!(%appointment, error = %e, "cannot read the interpreter requests"),
        }
    }
    if let Some(session) = session {
        match store.walkin_ticket_for_session(session).await {
            Ok(Some(t)) if t.interpreter.as_deref() == Some(interpreter) => {
                if let Some(language) = &t.interpreter_language {
                    return signs(language);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%session, error = %e, "cannot read the session's walk-in ticket"),
        }
    }
    match store.get_interpreter(interpreter).await {
        Ok(Some(i)) => !i.languages.is_empty() && i.languages.iter().all(|l| signs(&l.language)),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(%interpreter, error = %e, "cannot read the interpreter registry");
            false
        }
    }
}
