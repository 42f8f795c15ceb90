//! The JSON HTTP API: login, rooms and their sessions, join tokens, operations endpoints.
//!
//! Every handler answers errors as [`ApiError`] (`{code, message}`); request bodies are limited in size and
//! parsed by [`ApiJson`], so a malformed body gets a `bad_request` with the parser's reason.

use crate::app::AppState;
use crate::auth::{verify_secret, AccessClaims, RoomTokenFor};
use crate::error::ApiError;
use crate::now_ms;
use crate::rooms::{room_error_code, OpenError, RoomHandle, RoomView};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use vayla_domain::{Role, RoomError, RoomId, SeatSpec, SubjectId};
use vayla_store::AuditQuery;

/// A JSON body whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            // One status for every malformed body (not JSON, wrong content type, missing or extra fields), so
            // that clients handle one case.
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// The caller of an API request, from a valid access token in `Authorization: Bearer …`.
pub struct Caller(pub AccessClaims);

impl Caller {
    pub fn subject(&self) -> SubjectId {
        SubjectId::new(self.0.sub.as_str()).expect("tokens are issued for valid subject ids")
    }
    pub fn role(&self) -> Role {
        self.0.role
    }
    fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("role {} may not do this", self.0.role)))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing_token", "send Authorization: Bearer <access token>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("missing_token", "the Authorization header must be Bearer"))?;
        let claims = app.auth.verify_access(token.trim()).inspect_err(|e| app.metrics.refused(e.code()))?;
        Ok(Caller(claims))
    }
}

/// The caller if a token was sent, or nobody. A token that is sent must be valid.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Ok(MaybeCaller(Some(Caller::from_request_parts(parts, app).await?)))
        } else {
            Ok(MaybeCaller(None))
        }
    }
}

/// Any `/api/…` path that names no endpoint: a JSON 404 like every other API error.
pub async fn no_such_endpoint(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no API endpoint {}", uri.path()))
}

/// A known path with a method it does not take: a JSON 405 like every other API error.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let db = app.store.ping().await;
    let status = app.config_status.borrow().clone();
    let ready = db.is_ok() && !*app.shutdown.borrow();
    let body = serde_json::json!({
        "ready": ready,
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "rooms_config": &*status,
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceLogin {
    pub device: String,
    pub credential: String,
}

#[derive(Serialize)]
pub struct TokenReply {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub subject: String,
    pub role: Role,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_point: Option<String>,
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "unknown user or wrong password")
}

/// `429 too_many_attempts` with `Retry-After`: this address used up its failed logins (see `throttle.rs`).
fn throttled(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed logins from this address; try again in {secs} s"),
    );
    let mut response = error.into_response();
    response.headers_mut().insert(header::RETRY_AFTER, secs.into());
    response
}

pub async fn login(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<TokenReply>, Response> {
    app.login_throttle.check(peer.ip()).await.map_err(throttled)?;
    let config = app.rooms_config.borrow().clone();
    let person = SubjectId::new(body.username.trim()).ok().and_then(|id| config.person(&id).cloned());
    let ok = verify_secret(&app.hashing, body.password, person.as_ref().map(|p| p.password_hash.clone())).await;
    let Some(person) = person.filter(|_| ok) else {
        tracing::info!("login refused");
        app.login_throttle.failed(peer.ip()).await;
        return Err(bad_credentials().into_response());
    };
    let (token, claims) = app.auth.issue_access(&person.id, person.role, now_ms());
    tracing::info!(subject = %person.id, role = %person.role, "logged in");
    Ok(Json(TokenReply {
        access_token: token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        subject: person.id.to_string(),
        role: person.role,
        display_name: person.name.clone(),
        agency: person.agency.clone(),
        service_point: person.service_point.clone(),
    }))
}

pub async fn device_login(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<DeviceLogin>,
) -> Result<Json<TokenReply>, Response> {
    app.login_throttle.check(peer.ip()).await.map_err(throttled)?;
    let config = app.rooms_config.borrow().clone();
    let device = RoomId::new(body.device.trim()).ok().and_then(|id| config.device(&id).cloned());
    let ok = verify_secret(&app.hashing, body.credential, device.as_ref().map(|d| d.credential_hash.clone())).await;
    let Some(device) = device.filter(|_| ok) else {
        tracing::info!("device login refused");
        app.login_throttle.failed(peer.ip()).await;
        let error = ApiError::unauthorized("invalid_credentials", "unknown device or wrong credential");
        return Err(error.into_response());
    };
    let (token, claims) = app.auth.issue_access(&device.subject, Role::Device, now_ms());
    tracing::info!(device = %device.id, "device logged in");
    Ok(Json(TokenReply {
        access_token: token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        subject: device.id.to_string(),
        role: Role::Device,
        display_name: device.name.clone(),
        agency: None,
        service_point: Some(device.service_point.clone()),
    }))
}

/// `POST /api/refresh`: a fresh access token for a caller whose token is still valid, as long as they are still
/// in the rooms-config. Removing someone from the config therefore revokes them within one token lifetime.
pub async fn refresh(State(app): State<AppState>, caller: Caller) -> Result<Json<TokenReply>, ApiError> {
    let config = app.rooms_config.borrow().clone();
    let subject = caller.subject();
    let gone = || ApiError::unauthorized("invalid_credentials", "this account is no longer configured");
    let (display_name, agency, service_point) = if caller.role() == Role::Device {
        let device = RoomId::new(subject.as_str()).ok().and_then(|id| config.device(&id).cloned()).ok_or_else(gone)?;
        (device.name, None, Some(device.service_point))
    } else {
        let person = config.person(&subject).filter(|p| p.role == caller.role()).cloned().ok_or_else(gone)?;
        (person.name, person.agency, person.service_point)
    };
    let (token, claims) = app.auth.issue_access(&subject, caller.role(), now_ms());
    Ok(Json(TokenReply {
        access_token: token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        subject: subject.to_string(),
        role: caller.role(),
        display_name,
        agency,
        service_point,
    }))
}

fn room_handle(app: &AppState, room: &str) -> Result<(RoomId, RoomHandle), ApiError> {
    let id = RoomId::new(room).map_err(|_| ApiError::not_found("unknown_room", format!("no room {room:?}")))?;
    let handle = app.rooms.borrow().get(&id).cloned();
    handle.map(|h| (id, h)).ok_or_else(|| ApiError::not_found("unknown_room", format!("no room {room:?}")))
}

async fn view(handle: &RoomHandle) -> Result<RoomView, ApiError> {
    handle.view().await.map_err(|e| ApiError::not_found("unknown_room", e.to_string()))
}

/// What anyone may see of a room: its state and who is in by role and agency, never by name.
fn public(mut v: RoomView) -> RoomView {
    for s in &mut v.seats {
        s.subject.clear();
        s.display_name = s.role.to_string();
    }
    for p in &mut v.participants {
        p.display_name = p.role.clone();
    }
    v
}

/// `GET /api/rooms`: every room with its live state. Staff with a token see names; others see roles.
pub async fn list_rooms(
    State(app): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
) -> Result<Json<Vec<RoomView>>, ApiError> {
    let handles: Vec<RoomHandle> = app.rooms.borrow().values().cloned().collect();
    let mut views = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.view().await {
            views.push(if caller.is_some() { v } else { public(v) });
        }
    }
    views.sort_by(|a, b| a.room.cmp(&b.room));
    Ok(Json(views))
}

pub async fn get_room(
    State(app): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(room): Path<String>,
) -> Result<Json<RoomView>, ApiError> {
    let (_, handle) = room_handle(&app, &room)?;
    let v = view(&handle).await?;
    Ok(Json(if caller.is_some() { v } else { public(v) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    pub role: Role,
    pub subject: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSession {
    /// The expected participants besides the device, which always has a seat.
    pub seats: Vec<SeatRequest>,
}

/// May the caller manage sessions in this room? Admins anywhere, advisors at their own service point,
/// experts anywhere (they are the ones called to rooms).
fn may_manage(app: &AppState, caller: &Caller, room: &RoomId) -> Result<(), ApiError> {
    let config = app.rooms_config.borrow().clone();
    match caller.role() {
        Role::Admin | Role::Expert => Ok(()),
        Role::Advisor => {
            let own = config.person(&caller.subject()).and_then(|p| p.service_point.clone());
            let room_sp = config.device(room).map(|d| d.service_point.clone());
            if own.is_some() && own == room_sp {
                Ok(())
            } else {
                Err(ApiError::forbidden("advisors manage the rooms of their own service point only"))
            }
        }
        r => Err(ApiError::forbidden(format!("role {r} does not manage sessions"))),
    }
}

pub async fn open_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
    ApiJson(body): ApiJson<OpenSession>,
) -> Result<(StatusCode, Json<RoomView>), ApiError> {
    let (room_id, handle) = room_handle(&app, &room)?;
    may_manage(&app, &caller, &room_id)?;
    let config = app.rooms_config.borrow().clone();
    let mut seats = Vec::new();
    for s in body.seats {
        let subject =
            SubjectId::new(s.subject.as_str()).map_err(|e| ApiError::bad_request(format!("seat subject: {e}")))?;
        if s.role == Role::Device && subject.as_str() == room_id.as_str() {
            continue; // the room's own device always has its seat
        }
        let known_role = config.person(&subject).map(|p| p.role);
        if known_role != Some(s.role) {
            return Err(ApiError::bad_request(format!("{subject} is not a {} in the rooms-config", s.role)));
        }
        seats.push(SeatSpec { role: s.role, subject });
    }
    match handle.open(caller.subject(), seats).await {
        Ok(Ok(v)) => Ok((StatusCode::CREATED, Json(v))),
        Ok(Err(OpenError::Rules(RoomError::SessionOpen))) => {
            Err(ApiError::conflict("session_open", "a session is already open in this room"))
        }
        Ok(Err(OpenError::Rules(RoomError::BadSeats(m)))) => Err(ApiError::bad_request(m)),
        Ok(Err(OpenError::Rules(e))) => Err(ApiError::bad_request(e.to_string())),
        Ok(Err(OpenError::Store)) => {
            Err(ApiError::unavailable("store_unavailable", "the session could not be recorded"))
        }
        Err(gone) => Err(ApiError::not_found("unknown_room", gone.to_string())),
    }
}

pub async fn end_session(
    State(app): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (room_id, handle) = room_handle(&app, &room)?;
    may_manage(&app, &caller, &room_id)?;
    if caller.role() == Role::Expert {
        let v = view(&handle).await?;
        if !v.seats.iter().any(|s| s.subject == caller.0.sub && s.role == Role::Expert) {
            return Err(ApiError::forbidden("only an expert of this session may end it"));
        }
    }
    match handle.end().await {
        Ok(Ok(())) => Ok(StatusCode::NO_CONTENT),
        Ok(Err(e)) => Err(ApiError::conflict(room_error_code(&e).as_str(), e.to_string())),
        Err(gone) => Err(ApiError::not_found("unknown_room", gone.to_string())),
    }
}

#[derive(Serialize)]
pub struct JoinTokenReply {
    pub token: String,
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub expires_in: u64,
}

/// `POST /api/rooms/{room}/join-token`: a room token for the caller. Devices get tokens for their own room
/// only, advisors for their service point's rooms; experts and interpreters for any room (the room itself
/// refuses them when it is locked and they hold no seat).
pub async fn join_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
) -> Result<Json<JoinTokenReply>, ApiError> {
    let (room_id, handle) = room_handle(&app, &room)?;
    match caller.role() {
        Role::Device if caller.0.sub != room_id.as_str() => {
            app.metrics.refused(vayla_protocol::ErrorCode::WrongRoom);
            return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_room", "a device joins its own room only"));
        }
        Role::Advisor => may_manage(&app, &caller, &room_id)?,
        Role::Scheduler | Role::Admin => {
            return Err(ApiError::forbidden(format!("role {} does not join rooms", caller.role())));
        }
        _ => {}
    }
    let v = view(&handle).await?;
    let seat = v.seats.iter().find(|s| s.subject == caller.0.sub).map(|s| s.seat.clone());
    let what = RoomTokenFor {
        subject: caller.subject(),
        role: caller.role(),
        room: room_id.clone(),
        seat: seat.clone(),
        session: v.session_id.clone(),
    };
    let (token, claims) = app.auth.issue_room(what, now_ms());
    Ok(Json(JoinTokenReply {
        token,
        room: room_id.to_string(),
        seat,
        session_id: v.session_id,
        expires_in: claims.exp - claims.iat,
    }))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    pub limit: Option<i64>,
}

/// `GET /api/rooms/{room}/sessions`: recent sessions with seats, joins and leaves, lock times. Staff only.
pub async fn room_sessions(
    State(app): State<AppState>,
    caller: Caller,
    Path(room): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<vayla_store::SessionRecord>>, ApiError> {
    let (room_id, _) = room_handle(&app, &room)?;
    may_manage(&app, &caller, &room_id)?;
    let limit = q.limit.unwrap_or(20).clamp(1, 500);
    Ok(Json(app.store.sessions_for_room(room_id.as_str(), limit).await?))
}

#[derive(Deserialize)]
pub struct AuditParams {
    pub room: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    pub after_id: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize)]
pub struct AuditRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: vayla_store::AuditEntry,
}

/// `GET /api/audit`: the audit log, oldest first, paged by `after_id`. Admins only.
pub async fn audit(
    State(app): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditRow>>, ApiError> {
    caller.require(&[Role::Admin])?;
    let q = AuditQuery {
        room: p.room,
        session: p.session,
        kind: p.kind,
        after_id: p.after_id,
        limit: p.limit.unwrap_or(200).clamp(1, 1000),
    };
    let rows = app.store.audit(&q).await?;
    Ok(Json(rows.into_iter().map(|(id, entry)| AuditRow { id, entry }).collect()))
}

/// `GET /api/admin/config`: which rooms-config is in force and the last refused change. Admins only.
pub async fn config_status(State(app): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let status = app.config_status.borrow().clone();
    Ok(Json((*status).clone()))
}

/// `POST /api/admin/rotate-keys`: make a new signing key now. Admins only.
pub async fn rotate_keys(State(app): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let kid = app.auth.rotate(now_ms()).await?;
    Ok(Json(serde_json::json!({ "kid": kid })))
}

#[derive(Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

#[derive(Serialize)]
pub struct IceServersReply {
    pub ice_servers: Vec<IceServer>,
    /// Seconds the credentials stay valid (0 when there are none).
    pub expires_in: u64,
}

/// A TURN credential of coturn's `use-auth-secret` (TURN REST API) scheme: the username is
/// `<expiry unix seconds>:<subject>`, the credential base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &str, subject: &str, expires_at_s: u64) -> (String, String) {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let username = format!("{expires_at_s}:{subject}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

/// `GET /api/ice-servers`: the TURN servers and fresh, short-lived credentials for a caller who joins rooms, for
/// networks where neither UDP nor direct TCP reaches the media server. An empty list when TURN is not configured.
pub async fn ice_servers(State(app): State<AppState>, caller: Caller) -> Result<Json<IceServersReply>, ApiError> {
    caller.require(&[Role::Device, Role::Advisor, Role::Expert, Role::Interpreter])?;
    let config = &app.config;
    let Some(secret) = config.turn_secret.as_ref().map(|s| s.expose()).filter(|_| !config.turn_urls.is_empty()) else {
        return Ok(Json(IceServersReply { ice_servers: Vec::new(), expires_in: 0 }));
    };
    let expires_at_s = now_ms() / 1000 + config.turn_ttl_s;
    let (username, credential) = turn_credential(secret, caller.0.sub.as_str(), expires_at_s);
    // Neither the secret nor the credential is logged.
    tracing::debug!(subject = %caller.0.sub, "TURN credentials issued");
    Ok(Json(IceServersReply {
        ice_servers: vec![IceServer { urls: config.turn_urls.clone(), username, credential }],
        expires_in: config.turn_ttl_s,
    }))
}
