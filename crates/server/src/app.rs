//! Wiring: start the store, the rooms-config, the room actors and the HTTP server; reload the rooms-config
//! when it changes; rotate signing keys; shut everything down gracefully.
//!
//! Shutdown follows one pattern: a `watch` flag tells every task to stop (connections tell their clients
//! `shutdown` first), and each connection holds a clone of an `alive` sender, so that when the receiver sees
//! the channel close, the last connection is gone.

use crate::api;
use crate::auth::Auth;
use crate::config::Config;
use crate::feeds;
use crate::media::MediaHandle;
use crate::metrics::Metrics;
use crate::now_ms;
use crate::rooms::{spawn_room, RoomDeps, RoomHandle};
use crate::rooms_config::{fingerprint_dir, load_dir, RoomsConfig};
use crate::scheduling::{self, booking, search};
use crate::ws;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{any, get, post, put};
use axum::Router;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;
use vayla_domain::{Millis, RoomId};
use vayla_store::{AgencyRecord, DeviceRecord, DirectorySnapshot, PersonRecord, ServicePointRecord, Store};

/// Largest HTTP request body the API reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The rooms by address. Replaced whole on a config change; only the reload task writes it.
pub type RoomMap = HashMap<RoomId, RoomHandle>;

/// Everything a request handler or connection needs. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: Auth,
    pub rooms_config: watch::Receiver<Arc<RoomsConfig>>,
    pub rooms: watch::Receiver<Arc<RoomMap>>,
    pub config_status: watch::Receiver<Arc<ConfigStatus>>,
    pub metrics: Arc<Metrics>,
    pub connections: Arc<Semaphore>,
    /// Password and credential checks running at once (Argon2: CPU and ~19 MiB each).
    pub hashing: Arc<Semaphore>,
    pub next_conn: Arc<AtomicU64>,
    pub shutdown: watch::Receiver<bool>,
    pub media: MediaHandle,
    /// Held by every connection; see the module doc.
    pub alive: mpsc::Sender<()>,
    /// Reads experts' external calendars (on demand; the periodic task has its own clone).
    pub calendar_sync: crate::external_busy::Syncer,
    /// Moves interpreter requests on and expires their offers (the one owner of the offer cascade).
    pub interpreting: crate::interpreting::Cascade,
    /// Tells watching clients what changed (see `events.rs`); publish after the database change commits.
    pub events: crate::events::Events,
    /// Slows password guessing per client address.
    pub login_throttle: crate::throttle::LoginThrottle,
}

/// Which rooms-config is in force, and the last change that was refused.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigStatus {
    pub fingerprint: String,
    pub loaded_at: Millis,
    pub rooms: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ConfigErrorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigErrorReport {
    pub at: Millis,
    pub file: String,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
    /// The whole error as one line: `file:line: field: message`.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] vayla_store::StoreError),
    #[error("rooms-config: {0}")]
    RoomsConfig(#[from] crate::rooms_config::ConfigError),
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("media: {0}")]
    Media(#[from] crate::media::MediaStartError),
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    /// Where clients send media.
    pub media_address: SocketAddr,
    /// The passive ICE-TCP candidate, unless media over TCP is off.
    pub media_tcp_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    alive: mpsc::Receiver<()>,
    rooms_alive: mpsc::Receiver<()>,
    http: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    grace: Duration,
}

fn snapshot(config: &RoomsConfig) -> DirectorySnapshot {
    DirectorySnapshot {
        agencies: config.agencies.values().map(|a| AgencyRecord { id: a.id.clone(), name: a.name.clone() }).collect(),
        service_points: config
            .service_points
            .values()
            .map(|s| ServicePointRecord {
                id: s.id.clone(),
                name: s.name.clone(),
                municipality: s.municipality.clone(),
            })
            .collect(),
        devices: config
            .devices
            .values()
            .map(|d| DeviceRecord {
                id: d.id.to_string(),
                service_point: d.service_point.clone(),
                name: d.name.clone(),
            })
            .collect(),
        people: config
            .people
            .values()
            .map(|p| PersonRecord {
                id: p.id.to_string(),
                name: p.name.clone(),
                role: p.role.to_string(),
                agency: p.agency.clone(),
                service_point: p.service_point.clone(),
            })
            .collect(),
    }
}

fn status_for(config: &RoomsConfig, last_error: Option<ConfigErrorReport>) -> ConfigStatus {
    ConfigStatus {
        fingerprint: format!("{:016x}", config.fingerprint),
        loaded_at: now_ms(),
        rooms: config.devices.len(),
        last_error,
    }
}

/// Start a server with `config`: connect the store, load the rooms-config, start the rooms, listen.
pub async fn start(config: Config) -> Result<Server, StartError> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    }
    let store = Store::connect(&config.database_url()).await?;
    let rooms_config = Arc::new(load_dir(&config.rooms_config)?);
    store.sync_directory(&snapshot(&rooms_config), now_ms() as i64).await?;
    scheduling::seed(&store, &rooms_config, now_ms()).await?;
    crate::interpreting::seed_registry(&store, &rooms_config, now_ms()).await?;
    let auth =
        Auth::load(store.clone(), config.access_token_ttl_s, config.room_token_ttl_s, config.key_rotation_s, now_ms())
            .await?;
    // Sessions left open by the previous process go on: each room takes its session up and its people
    // reconnect. A session whose room is no longer configured ends.
    let mut open: HashMap<String, vayla_store::SessionRecord> = HashMap::new();
    for s in store.open_sessions().await? {
        match RoomId::new(s.room.as_str()) {
            Ok(room) if rooms_config.devices.contains_key(&room) && !open.contains_key(&s.room) => {
                open.insert(s.room.clone(), s);
            }
            _ => store.end_session(&s.id, "room_removed", now_ms() as i64).await?,
        }
    }
    let metrics = Arc::new(Metrics::default());
    let events = crate::events::Events::new();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let media_settings = crate::media::MediaSettings::from_config(&config);
    let (media, media_task) = crate::media::start(media_settings, metrics.clone(), shutdown_rx.clone()).await?;
    let (config_tx, config_rx) = watch::channel(rooms_config.clone());
    let (rooms_alive_tx, rooms_alive) = mpsc::channel(1);
    let session_ended = Arc::new(tokio::sync::Notify::new());
    let deps = RoomDeps {
        config: config_rx.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        grace_ms: config.grace_ms,
        join_early_ms: config.appointment_join_early_ms(),
        alive: rooms_alive_tx,
        media: media.clone(),
        session_ended: session_ended.clone(),
    };
    let mut map = RoomMap::new();
    for id in rooms_config.devices.keys() {
        map.insert(id.clone(), spawn_room(id.clone(), deps.clone(), open.remove(id.as_str())));
    }
    let (rooms_tx, rooms_rx) = watch::channel(Arc::new(map));
    let (status_tx, status_rx) = watch::channel(Arc::new(status_for(&rooms_config, None)));
    let (alive_tx, alive_rx) = mpsc::channel(1);
    let config = Arc::new(config);
    let calendar_sync = crate::external_busy::Syncer::new(store.clone(), config.calendar_allow_private_hosts);
    let (interpreting, interpreting_task) = crate::interpreting::start(
        store.clone(),
        config_rx.clone(),
        config.interpreter_offer_window_ms,
        events.clone(),
        shutdown_rx.clone(),
    );

    let state = AppState {
        config: config.clone(),
        store: store.clone(),
        auth: auth.clone(),
        rooms_config: config_rx.clone(),
        rooms: rooms_rx,
        config_status: status_rx,
        metrics: metrics.clone(),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        hashing: Arc::new(Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))),
        next_conn: Arc::new(AtomicU64::new(1)),
        shutdown: shutdown_rx.clone(),
        media: media.clone(),
        alive: alive_tx,
        calendar_sync: calendar_sync.clone(),
        interpreting,
        events: events.clone(),
        login_throttle: crate::throttle::LoginThrottle::start(
            config.login_failure_burst,
            Duration::from_secs(config.login_failure_refill_s),
        ),
    };
    // Walk-in queue: the timekeeper expires, abandons and serves tickets from the database.
    let walkin_task = crate::walkin::start(
        crate::walkin::TaskDeps {
            store: store.clone(),
            rooms: state.rooms.clone(),
            config: config_rx.clone(),
            events: events.clone(),
            session_ended,
            settings: crate::walkin::Settings::from_config(&config),
        },
        shutdown_rx.clone(),
    );
    let reloader = Reloader {
        dir: config.rooms_config.clone(),
        interval: Duration::from_millis(config.reload_interval_ms),
        deps,
        store: store.clone(),
        metrics: metrics.clone(),
        config_tx,
        config_rx,
        rooms_tx,
        status_tx,
        fingerprint: rooms_config.fingerprint,
    };
    let background = vec![
        tokio::spawn(reloader.run(shutdown_rx.clone())),
        tokio::spawn(rotate_keys(auth.clone(), config.key_rotation_s, shutdown_rx.clone())),
        media_task,
        tokio::spawn(calendar_sync.run(Duration::from_secs(config.calendar_sync_period_s), shutdown_rx.clone())),
        interpreting_task,
        walkin_task,
    ];

    let router = router(state, &config);
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.map_err(|e| StartError::Bind(config.listen, e))?;
    let addr = listener.local_addr().map_err(|e| StartError::Bind(config.listen, e))?;
    let mut stop = shutdown_rx;
    let http = tokio::spawn(async move {
        let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stopped(&mut stop).await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    tracing::info!(%addr, rooms = rooms_config.devices.len(), backend = ?store.backend(), "Väylä is listening");
    Ok(Server {
        addr,
        store,
        auth,
        metrics,
        media_address: media.address,
        media_tcp_address: media.tcp_address,
        shutdown: shutdown_tx,
        alive: alive_rx,
        rooms_alive,
        http,
        background,
        grace: Duration::from_millis(config.shutdown_grace_ms),
    })
}

fn router(state: AppState, config: &Config) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/ws", get(ws::upgrade))
        .route("/api/login", post(api::login))
        .route("/api/device-login", post(api::device_login))
        .route("/api/refresh", post(api::refresh))
        .route("/api/ice-servers", get(api::ice_servers))
        .route("/api/rooms", get(api::list_rooms))
        .route("/api/rooms/{room}", get(api::get_room))
        .route("/api/rooms/{room}/session", post(api::open_session).delete(api::end_session))
        .route("/api/rooms/{room}/join-token", post(api::join_token))
        .route("/api/rooms/{room}/sessions", get(api::room_sessions))
        .route("/api/audit", get(api::audit))
        .route("/api/admin/config", get(api::config_status))
        .route("/api/admin/rotate-keys", post(api::rotate_keys))
        .route("/api/openapi.json", get(crate::openapi::document))
        .route("/api/calendar/agencies", get(scheduling::list_agencies))
        .route("/api/calendar/agencies/{agency}", put(scheduling::put_agency))
        .route("/api/calendar/experts", get(scheduling::list_experts))
        .route("/api/calendar/experts/{expert}", put(scheduling::put_expert))
        .route(
            "/api/calendar/availability/{kind}/{id}",
            get(scheduling::get_availability).put(scheduling::put_availability).delete(scheduling::revert_availability),
        )
        .route(
            "/api/calendar/opening-hours/{service_point}",
            get(scheduling::get_opening_hours)
                .put(scheduling::put_opening_hours)
                .delete(scheduling::revert_opening_hours),
        )
        .route("/api/slots/search", post(search::search_slots))
        .route("/api/appointments", get(booking::list).post(booking::create))
        .route("/api/appointments/{id}", get(booking::get_one))
        .route("/api/appointments/{id}/reschedule", post(booking::reschedule))
        .route("/api/appointments/{id}/cancel", post(booking::cancel))
        .route("/api/appointments/{id}/no-show", post(booking::no_show))
        .route("/api/me/appointments", get(booking::mine))
        .route(
            "/api/appointments/{id}/interpreter-request",
            get(crate::interpreting::status).post(crate::interpreting::create),
        )
        .route("/api/me/interpreter-offers", get(crate::interpreting::my_offers))
        .route("/api/me/interpreter-assignments", get(crate::interpreting::my_assignments))
        .route("/api/interpreter-offers/{request}/accept", post(crate::interpreting::accept))
        .route("/api/interpreter-offers/{request}/decline", post(crate::interpreting::decline))
        .route("/api/interpreter-requests/{request}/withdraw", post(crate::interpreting::withdraw))
        .route("/api/interpreter-requests/{request}/cancel", post(crate::interpreting::cancel))
        .route("/api/appointments/{id}/interpreter-requests", get(crate::interpreting::history))
        // The interpreter registry (crate::interpreter_registry).
        .route("/api/interpreters", get(crate::interpreter_registry::list))
        .route(
            "/api/interpreters/{id}",
            get(crate::interpreter_registry::get_one)
                .put(crate::interpreter_registry::put)
                .delete(crate::interpreter_registry::revert),
        )
        .route("/api/interpreters/{id}/contact", put(crate::interpreter_registry::put_contact))
        .route("/api/interpreter-providers", get(crate::interpreter_registry::list_providers))
        .route(
            "/api/interpreter-providers/{id}",
            get(crate::interpreter_registry::get_provider).put(crate::interpreter_registry::put_provider),
        )
        .route("/api/calendar/feeds/{kind}/{id}", post(feeds::create_feed).delete(feeds::delete_feed))
        .route(
            "/api/calendar/external/{expert}",
            put(feeds::put_external).get(feeds::get_external).delete(feeds::delete_external),
        )
        .route("/api/calendar/external/{expert}/sync", post(feeds::sync_external))
        .route("/ics/{file}", get(feeds::serve_feed))
        // Feedback and reports (docs/reports.md).
        .route("/api/sessions/{session}/feedback", post(crate::feedback::submit))
        .route("/api/reports/summary", get(crate::reports::summary))
        .route("/api/reports/summary.csv", get(crate::reports::summary_csv))
        .route("/api/reports/billing", get(crate::reports::billing_json))
        .route("/api/reports/billing.csv", get(crate::reports::billing_csv_file))
        .route("/api/reports/interpreters", get(crate::reports::interpreters))
        .route("/api/reports/interpreters.csv", get(crate::reports::interpreters_csv))
        // Walk-in queue
        .route("/api/walkin/tickets", get(crate::walkin::list).post(crate::walkin::create))
        .route("/api/walkin/tickets/{id}", get(crate::walkin::get_one))
        .route("/api/walkin/tickets/{id}/accept", post(crate::walkin::accept))
        .route("/api/walkin/tickets/{id}/cancel", post(crate::walkin::cancel))
        .route("/api/walkin/queue", get(crate::walkin::queue))
        .route("/api/walkin/agencies", get(crate::walkin::agencies))
        .route("/api/walkin/duty", get(crate::walkin::get_duty).put(crate::walkin::put_duty))
        .route("/api", any(api::no_such_endpoint))
        .route("/api/", any(api::no_such_endpoint))
        .route("/api/{*rest}", any(api::no_such_endpoint))
        .method_not_allowed_fallback(api::method_not_allowed)
        .fallback_service(ServeDir::new(&config.web_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every response carries: the pages load nothing from elsewhere and run no inline code, so a strict
/// content security policy holds; files are revalidated so that an update is never half old, half new.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
             style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
    response
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, tell every client, wait (up to the shutdown grace) for connections to close.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down");
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(self.grace, self.alive.recv()).await;
        let _ = tokio::time::timeout(self.grace, &mut self.http).await;
        for task in self.background.drain(..) {
            let _ = task.await;
        }
        // The rooms stop once their last handles are gone; they record their participants' leaving first.
        let _ = tokio::time::timeout(self.grace, self.rooms_alive.recv()).await;
        self.store.close().await;
        tracing::info!("stopped");
    }
}

/// Watches the rooms-config directory and takes a valid change into use: new rooms start, removed rooms stop
/// (ending their session), and the store mirrors the entities. An invalid change is refused whole and the
/// config in force stays.
struct Reloader {
    dir: std::path::PathBuf,
    interval: Duration,
    deps: RoomDeps,
    store: Store,
    metrics: Arc<Metrics>,
    config_tx: watch::Sender<Arc<RoomsConfig>>,
    config_rx: watch::Receiver<Arc<RoomsConfig>>,
    rooms_tx: watch::Sender<Arc<RoomMap>>,
    status_tx: watch::Sender<Arc<ConfigStatus>>,
    fingerprint: u64,
}

impl Reloader {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.check().await,
                _ = stopped(&mut shutdown) => break,
            }
        }
        // Dropping the map's last handles stops the room actors, which end open sessions.
        self.rooms_tx.send_replace(Arc::new(RoomMap::new()));
    }

    async fn check(&mut self) {
        let dir = self.dir.clone();
        let Ok(Ok(fingerprint)) = tokio::task::spawn_blocking(move || fingerprint_dir(&dir)).await else {
            return;
        };
        if fingerprint == self.fingerprint {
            return;
        }
        self.fingerprint = fingerprint;
        let dir = self.dir.clone();
        let loaded = match tokio::task::spawn_blocking(move || load_dir(&dir)).await {
            Ok(r) => r,
            Err(_) => return,
        };
        match loaded {
            Ok(new) => self.apply(Arc::new(new)).await,
            Err(e) => {
                self.metrics.config_errors.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "rooms-config change refused; the config in force stays");
                let report = ConfigErrorReport {
                    at: now_ms(),
                    file: e.file.display().to_string(),
                    line: e.line,
                    field: e.field.clone(),
                    message: e.message.clone(),
                    error: e.to_string(),
                };
                let current = self.config_rx.borrow().clone();
                let mut status = status_for(&current, Some(report));
                status.loaded_at = self.status_tx.borrow().loaded_at;
                self.status_tx.send_replace(Arc::new(status));
            }
        }
    }

    async fn apply(&mut self, new: Arc<RoomsConfig>) {
        if let Err(e) = self.store.sync_directory(&snapshot(&new), now_ms() as i64).await {
            // The entities will be mirrored at the next change; the config itself is valid and goes live.
            tracing::error!(error = %e, "could not mirror the rooms-config into the database");
        }
        if let Err(e) = scheduling::seed(&self.store, &new, now_ms()).await {
            // Searches fall back to the config's calendar for entries that are missing; edits are untouched.
            tracing::error!(error = %e, "could not seed the calendar from the rooms-config");
        }
        if let Err(e) = crate::interpreting::seed_registry(&self.store, &new, now_ms()).await {
            // Matching uses the registry as it was; the next accepted change tries again.
            tracing::error!(error = %e, "could not mirror the rooms-config's interpreters into the registry");
        }
        self.config_tx.send_replace(new.clone());
        let old = self.rooms_tx.borrow().clone();
        let mut map = RoomMap::new();
        for id in new.devices.keys() {
            let handle = match old.get(id) {
                Some(h) => h.clone(),
                None => {
                    tracing::info!(room = %id, "room added");
                    spawn_room(id.clone(), self.deps.clone(), None)
                }
            };
            map.insert(id.clone(), handle);
        }
        for (id, handle) in old.iter().filter(|(id, _)| !new.devices.contains_key(*id)) {
            tracing::info!(room = %id, "room removed");
            let _ = handle.end().await;
        }
        self.rooms_tx.send_replace(Arc::new(map));
        self.status_tx.send_replace(Arc::new(status_for(&new, None)));
        self.metrics.config_reloads.fetch_add(1, Relaxed);
        tracing::info!(rooms = new.devices.len(), "rooms-config reloaded");
    }
}

async fn rotate_keys(auth: Auth, every_s: u64, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(every_s.max(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {
                if let Err(e) = auth.rotate(now_ms()).await {
                    tracing::error!(error = %e, "signing key rotation failed; the current key stays");
                }
            }
            _ = stopped(&mut shutdown) => break,
        }
    }
}

/// Resolves once the shutdown flag is set (or its sender is gone).
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|s| *s).await;
}
