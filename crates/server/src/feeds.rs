//! The HTTP side of experts' own calendars (the pilot's pain point: experts booked their time twice,
//! in two systems):
//!
//! - `POST /api/calendar/feeds/{expert|device}/{id}` makes (or rotates) the secret feed URL of an expert or a
//!   device, `DELETE` revokes it; `GET /ics/{token}.ics` serves the feed, without login (the token is the
//!   secret), as RFC 5545 text written by `ics`;
//! - `PUT|GET|DELETE /api/calendar/external/{expert}` registers an expert's own calendar (an ICS URL or a CalDAV
//!   collection), and `POST /api/calendar/external/{expert}/sync` reads it now (the periodic task is
//!   `external_busy`). The busy time read there blocks the expert's slots through `scheduling::busy_time`.
//!
//! Who may: an expert for themself; a scheduler or an admin for anyone; for a device's feed also the advisors
//! of its service point. Tokens: 256 random bits, base64url; the store keeps only their SHA-256, so a database
//! copy holds no working feed URL; a fast hash suffices for a random secret of that size (nothing to guess).
//! A feed carries no customer data: agency, service, place, room, and in a device's feed the booked expert.

use crate::api::{ApiJson, Caller};
use crate::app::AppState;
use crate::error::ApiError;
use crate::external_busy::{check_url, host_of, SyncError, UrlProblem};
use crate::ics::{write_feed, FeedEvent};
use crate::now_ms;
use crate::rooms_config::RoomsConfig;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use vayla_domain::{Role, RoomId, SubjectId};
use vayla_store::{AppointmentStatus, ExternalCalendarKind, ExternalCalendarRecord, ResourceKind};

/// The feed shows appointments from this long ago (so a cancellation of last week still reaches clients)…
const FEED_PAST_MS: i64 = 30 * 24 * 3600 * 1000;
/// …to this far ahead (the longest booking horizon in practice).
const FEED_FUTURE_MS: i64 = 180 * 24 * 3600 * 1000;
/// Random bytes in a feed token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// Its base64url length without padding.
const TOKEN_CHARS: usize = 43;

// ---------------------------------------------------------------------------------------------------------
// Feeds

#[derive(Debug, Serialize)]
pub struct FeedReply {
    pub kind: &'static str,
    pub id: String,
    /// The feed's path on this server, `/ics/{token}.ics`: shown once, kept nowhere in clear text.
    pub url: String,
}

/// SHA-256 of a token, hex: what the store keeps and looks up.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn feed_kind(kind: &str) -> Result<ResourceKind, ApiError> {
    match kind {
        "expert" => Ok(ResourceKind::Expert),
        "device" => Ok(ResourceKind::Device),
        other => Err(ApiError::not_found("not_found", format!("no calendar feeds for {other:?}: expert or device"))),
    }
}

fn config(app: &AppState) -> Arc<RoomsConfig> {
    app.rooms_config.borrow().clone()
}

/// May the caller manage this expert's calendar (feed, external calendar)? Then: is it a configured expert?
fn expert_allowed(config: &RoomsConfig, caller: &Caller, expert: &str) -> Result<(), ApiError> {
    match caller.role() {
        Role::Admin | Role::Scheduler => {}
        Role::Expert if caller.0.sub == expert => {}
        Role::Expert => return Err(ApiError::forbidden("an expert manages their own calendar only")),
        r => return Err(ApiError::forbidden(format!("role {r} does not manage experts' calendars"))),
    }
    let known = SubjectId::new(expert).ok().and_then(|id| config.person(&id)).is_some_and(|p| p.role == Role::Expert);
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found("unknown_expert", format!("no expert {expert:?}")))
    }
}

/// May the caller manage this device's feed? Schedulers and admins, and the advisors of its service point.
fn device_allowed(config: &RoomsConfig, caller: &Caller, device: &str) -> Result<(), ApiError> {
    let found = RoomId::new(device).ok().and_then(|id| config.device(&id));
    match caller.role() {
        Role::Admin | Role::Scheduler => {}
        Role::Advisor => {
            let own = config.person(&caller.subject()).and_then(|p| p.service_point.clone());
            if own.is_none() || own.as_deref() != found.map(|d| d.service_point.as_str()) {
                return Err(ApiError::forbidden("advisors manage the devices of their own service point only"));
            }
        }
        r => return Err(ApiError::forbidden(format!("role {r} does not manage devices' calendars"))),
    }
    found.map(|_| ()).ok_or_else(|| ApiError::not_found("unknown_device", format!("no device {device:?}")))
}

fn allowed(config: &RoomsConfig, caller: &Caller, kind: ResourceKind, id: &str) -> Result<(), ApiError> {
    match kind {
        ResourceKind::Expert => expert_allowed(config, caller, id),
        _ => device_allowed(config, caller, id),
    }
}

/// `POST /api/calendar/feeds/{kind}/{id}`: a new secret feed URL for the expert or device; any earlier URL of
/// theirs stops working.
pub async fn create_feed(
    State(app): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<FeedReply>, ApiError> {
    let resource = feed_kind(&kind)?;
    allowed(&config(&app), &caller, resource, &id)?;
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    app.store.set_calendar_feed(resource, &id, &token_hash(&token), caller.0.sub.as_str(), now_ms() as i64).await?;
    tracing::info!(kind = resource.as_str(), id = %id, by = %caller.0.sub, "calendar feed URL issued");
    Ok(Json(FeedReply { kind: resource.as_str(), id, url: format!("/ics/{token}.ics") }))
}

/// `DELETE /api/calendar/feeds/{kind}/{id}`: revokes the feed URL.
pub async fn delete_feed(
    State(app): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let resource = feed_kind(&kind)?;
    allowed(&config(&app), &caller, resource, &id)?;
    if app.store.delete_calendar_feed(resource, &id, caller.0.sub.as_str(), now_ms() as i64).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no_feed", format!("{kind} {id:?} has no calendar feed")))
    }
}

fn unknown_feed() -> ApiError {
    ApiError::not_found("unknown_feed", "no calendar feed at this address")
}

/// `GET /ics/{token}.ics`: the feed, for any calendar client. No login: the token is the secret. An unknown or
/// revoked token, or a resource no longer configured, is 404.
pub async fn serve_feed(State(app): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").ok_or_else(unknown_feed)?;
    // Anything that cannot be a token is refused without a database round trip.
    let well_formed =
        token.len() == TOKEN_CHARS && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(unknown_feed());
    }
    let feed = app.store.calendar_feed_by_hash(&token_hash(token)).await?.ok_or_else(unknown_feed)?;
    let config = config(&app);
    let name = match feed.kind {
        ResourceKind::Expert => SubjectId::new(feed.resource_id.as_str())
            .ok()
            .and_then(|id| config.person(&id))
            .filter(|p| p.role == Role::Expert)
            .map(|p| p.name.clone()),
        _ => RoomId::new(feed.resource_id.as_str()).ok().and_then(|id| config.device(&id)).map(|d| d.name.clone()),
    }
    .ok_or_else(unknown_feed)?;
    let now = now_ms() as i64;
    let appointments = app
        .store
        .appointments_for_resource(feed.kind, &feed.resource_id, now - FEED_PAST_MS, now + FEED_FUTURE_MS)
        .await?;
    let model = crate::scheduling::model::Model::load(&app.store, &config).await?;
    let events: Vec<FeedEvent> = appointments
        .iter()
        .map(|a| {
            let agency = config.agencies.get(&a.agency).map(|x| x.name.clone()).unwrap_or_else(|| a.agency.clone());
            let service =
                model.service(&a.service).map(|(_, _, s)| s.name.clone()).unwrap_or_else(|| a.service.clone());
            let place = config.service_points.get(&a.service_point).map(|s| s.name.clone());
            let device = RoomId::new(a.device.as_str()).ok().and_then(|id| config.device(&id)).map(|d| d.name.clone());
            let location = [place, device].into_iter().flatten().collect::<Vec<_>>().join(", ");
            let mut description = format!("Väylä appointment in the room {}.", a.device);
            if feed.kind == ResourceKind::Device {
                let experts: Vec<String> = a
                    .active()
                    .filter(|r| r.kind == ResourceKind::Expert)
                    .map(|r| {
                        SubjectId::new(r.resource_id.as_str())
                            .ok()
                            .and_then(|id| config.person(&id))
                            .map(|p| p.name.clone())
                            .unwrap_or_else(|| r.resource_id.clone())
                    })
                    .collect();
                if !experts.is_empty() {
                    description.push_str(&format!("\nExpert: {}", experts.join(", ")));
                }
            }
            // Cancelled, or moved away from this resource (another expert took it over): either way it is no
            // longer in this calendar, and clients remove it when they see CANCELLED.
            let holds = a.active().any(|r| r.kind == feed.kind && r.resource_id == feed.resource_id);
            FeedEvent {
                uid: a.uid.clone(),
                sequence: a.sequence,
                start_ms: a.start_ms,
                end_ms: a.end_ms,
                created_ms: a.created_at,
                modified_ms: a.updated_at,
                summary: format!("{agency}: {service}"),
                location,
                description,
                cancelled: a.status == AppointmentStatus::Cancelled || !holds,
            }
        })
        .collect();
    let body = write_feed(&format!("Väylä: {name}"), &events);
    let disposition = format!("inline; filename=\"vayla-{}.ics\"", feed.resource_id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-cache".to_string()),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------------------
// External calendars

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalRequest {
    /// An ICS URL, or a CalDAV calendar collection's URL. May carry credentials; never shown again.
    pub url: String,
    pub kind: ExternalCalendarKind,
}

/// An external calendar as the API shows it: the host only, never the URL (it may be a secret).
#[derive(Debug, Serialize)]
pub struct ExternalView {
    pub expert: String,
    pub kind: ExternalCalendarKind,
    pub host: String,
    pub last_sync_at: Option<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    /// Busy intervals stored from the last good sync.
    pub intervals: i64,
}

fn iso(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn external_view(c: &ExternalCalendarRecord) -> ExternalView {
    ExternalView {
        expert: c.expert.clone(),
        kind: c.kind,
        host: host_of(&c.url),
        last_sync_at: iso(c.last_sync_at),
        last_ok_at: iso(c.last_ok_at),
        last_error: c.last_error.clone(),
        intervals: c.intervals,
    }
}

async fn registered(app: &AppState, expert: &str) -> Result<ExternalCalendarRecord, ApiError> {
    app.store.external_calendar(expert).await?.ok_or_else(|| {
        ApiError::not_found("no_external_calendar", format!("expert {expert:?} has no external calendar"))
    })
}

/// `PUT /api/calendar/external/{expert}`: registers (or replaces) the expert's own calendar and reads it once
/// right away; the answer says how that went (a failed first read keeps the registration, with `last_error`).
pub async fn put_external(
    State(app): State<AppState>,
    caller: Caller,
    Path(expert): Path<String>,
    ApiJson(body): ApiJson<ExternalRequest>,
) -> Result<Json<ExternalView>, ApiError> {
    expert_allowed(&config(&app), &caller, &expert)?;
    let url = body.url.trim();
    check_url(url, app.calendar_sync.allows_private()).map_err(|e| match e {
        UrlProblem::PrivateHost => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", e.to_string()),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_url", e.to_string()),
    })?;
    app.store.set_external_calendar(&expert, url, body.kind, caller.0.sub.as_str(), now_ms() as i64).await?;
    tracing::info!(expert = %expert, kind = body.kind.as_str(), host = %host_of(url), by = %caller.0.sub,
        "external calendar registered");
    let cal = registered(&app, &expert).await?;
    let _ = app.calendar_sync.sync(&cal).await;
    Ok(Json(external_view(&registered(&app, &expert).await?)))
}

/// `GET /api/calendar/external/{expert}`: the registration and its last sync.
pub async fn get_external(
    State(app): State<AppState>,
    caller: Caller,
    Path(expert): Path<String>,
) -> Result<Json<ExternalView>, ApiError> {
    expert_allowed(&config(&app), &caller, &expert)?;
    Ok(Json(external_view(&registered(&app, &expert).await?)))
}

/// `DELETE /api/calendar/external/{expert}`: forgets the calendar and its busy time.
pub async fn delete_external(
    State(app): State<AppState>,
    caller: Caller,
    Path(expert): Path<String>,
) -> Result<StatusCode, ApiError> {
    expert_allowed(&config(&app), &caller, &expert)?;
    if app.store.delete_external_calendar(&expert, caller.0.sub.as_str(), now_ms() as i64).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no_external_calendar", format!("expert {expert:?} has no external calendar")))
    }
}

#[derive(Debug, Serialize)]
pub struct SyncReply {
    pub expert: String,
    /// Busy intervals now stored (merged, within the sync window).
    pub intervals: usize,
    pub synced_at: Option<String>,
}

/// `POST /api/calendar/external/{expert}/sync`: reads the calendar now. A failure is `502 calendar_sync_failed`
/// (the reason, never the URL), and the last good busy time stays.
pub async fn sync_external(
    State(app): State<AppState>,
    caller: Caller,
    Path(expert): Path<String>,
) -> Result<Json<SyncReply>, ApiError> {
    expert_allowed(&config(&app), &caller, &expert)?;
    let cal = registered(&app, &expert).await?;
    match app.calendar_sync.sync(&cal).await {
        Ok(intervals) => Ok(Json(SyncReply { expert, intervals, synced_at: iso(Some(now_ms() as i64)) })),
        Err(SyncError::Store(e)) => Err(e.into()),
        Err(SyncError::Replaced) => {
            Err(ApiError::conflict("calendar_replaced", "the external calendar was replaced meanwhile; sync again"))
        }
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "calendar_sync_failed", e.to_string())),
    }
}
