//! Väylä's server: the HTTP API, WebSocket signalling, one actor per device room, authentication, the
//! live-reloaded rooms-config and the wiring between them. `main.rs` is a thin command line over [`app::start`].

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod external_busy;
pub mod feedback;
pub mod feeds;
pub mod ics;
pub mod interpreter_registry;
pub mod interpreting;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod reports;
pub mod rooms;
pub mod rooms_config;
pub mod scheduling;
pub mod throttle;
pub mod walkin;
pub mod ws;

pub use app::{start, Server};
pub use config::Config;

/// Wall-clock milliseconds since the Unix epoch. The server's only clock; the domain gets time from here.
pub fn now_ms() -> vayla_domain::Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
