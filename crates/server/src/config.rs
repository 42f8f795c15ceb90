//! The server's one typed configuration: an optional TOML file, then environment variables on top.
//!
//! Nothing else in the server reads the environment: `main` hands the variables to [`Config::load`] and the
//! resulting value is passed down explicitly. The rooms-config (service points, devices, people) is a
//! separate, live-reloaded directory; see `rooms_config`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vayla_domain::reports::{Cents, Prices};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP and WebSocket server listens. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Where the embedded SQLite database lives when no `database_url` is given.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL, `sqlite://…` for a given SQLite file. Default: SQLite under `data_dir`.
    pub database_url: Option<String>,
    /// The rooms-config directory.
    pub rooms_config: PathBuf,
    /// The web UI's static files.
    pub web_dir: PathBuf,
    /// The UDP socket every media connection shares. Port 0 picks a free port.
    pub media_bind: SocketAddr,
    /// The address announced to clients for media, when `media_bind` is a wildcard or behind a 1:1 NAT.
    pub media_public_ip: Option<std::net::IpAddr>,
    /// Media over TCP (ICE-TCP, RFC 6544) for networks that block UDP: the server also announces a passive TCP
    /// host candidate. On by default.
    pub media_tcp: bool,
    /// The TCP listener of ICE-TCP. Default: the IP of `media_bind` with port 0 (a free port). Announced with
    /// `media_public_ip` when that is set.
    pub media_tcp_bind: Option<SocketAddr>,
    /// Simultaneous ICE-TCP connections; more are closed as soon as they are accepted.
    pub media_tcp_max_connections: usize,
    /// Downlink bandwidth estimation: the estimate each subscriber starts with, in kbit/s; 0 turns estimation
    /// off (every subscriber then gets every track at its best simulcast layer).
    pub media_initial_estimate_kbps: u64,
    /// How often the rooms-config directory is checked for changes.
    pub reload_interval_ms: u64,
    /// How long an empty session waits for someone to come back before it ends.
    pub grace_ms: u64,
    /// How many minutes before an appointment's start its booked participants may join the device's room
    /// (and so open the appointment's session).
    pub appointment_join_early_min: u64,
    pub access_token_ttl_s: u64,
    pub room_token_ttl_s: u64,
    /// A new signing key is made this often; older keys keep verifying until every token they signed expired.
    pub key_rotation_s: u64,
    /// Interval of the server's WebSocket pings; a connection silent for three intervals is dropped.
    pub heartbeat_ms: u64,
    /// A connection must say `hello` within this time.
    pub handshake_timeout_ms: u64,
    /// Simultaneous WebSocket connections; more are refused with 503.
    pub max_connections: usize,
    /// Sustained messages per second a connection may send, and the burst above it.
    pub rate_per_s: u32,
    pub rate_burst: u32,
    /// Failed logins one client address may make at once, and then one more per `login_failure_refill_s`
    /// seconds; beyond that its logins get `429 too_many_attempts` (see `throttle.rs`).
    pub login_failure_burst: u32,
    pub login_failure_refill_s: u64,
    /// Send runs of equal-sized datagrams to one peer as one UDP GSO message (Linux `UDP_SEGMENT`); turned off
    /// by itself if the kernel refuses it.
    pub media_gso: bool,
    /// Read runs of datagrams from one peer as one message (Linux `UDP_GRO`), cut apart in the media loop.
    pub media_gro: bool,
    /// The media UDP socket's receive and send buffers, in KiB. Every peer's media arrives on this one socket, so
    /// a burst (keyframes of many rooms at once, a short stall) must fit. Without `CAP_NET_ADMIN` the kernel
    /// caps it at `net.core.rmem_max` / `wmem_max`, and the server warns at start when it got less.
    pub media_socket_buffer_kib: usize,
    /// Messages queued towards one client before it counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// How long shutdown waits for connections to close.
    pub shutdown_grace_ms: u64,
    /// TURN servers handed to clients by `GET /api/ice-servers`, e.g. `turn:turn.example.fi:3478?transport=udp`
    /// and `turn:turn.example.fi:3478?transport=tcp`, for offices that block UDP and direct TCP. Empty: no TURN.
    pub turn_urls: Vec<String>,
    /// The secret shared with coturn (`use-auth-secret`, `static-auth-secret`): credentials are derived from
    /// it (TURN REST scheme). Never logged. Without it no TURN server is handed out.
    pub turn_secret: Option<Secret>,
    /// How long handed-out TURN credentials stay valid.
    pub turn_ttl_s: u64,
    /// How often experts' external calendars (ICS URLs, CalDAV) are read for busy time.
    pub calendar_sync_period_s: u64,
    /// Whether external calendar URLs may point at loopback, private or link-local addresses. Off by default:
    /// the server must not be usable to probe its own network; on for tests and same-host CalDAV servers.
    pub calendar_allow_private_hosts: bool,
    /// When set, every interpreter offer may be answered for this long instead of the lead-time rule of
    /// `vayla_domain::interpreting::response_deadline` (minutes to a day). For tests and drills: a short window
    /// lets an offer expire and the request move on without waiting. Not set in production.
    pub interpreter_offer_window_ms: Option<u64>,
    // --- Reports: unit prices of the tasks service points invoice agencies for (docs/reports.md) -----------
    /// Remote-session booking, euros (`"2.95"` or `2.95` in the file). Default: the pilot's 2.95.
    pub price_session_booking: Cents,
    /// Opening the remote connection, euros. Default: the pilot's 1.77.
    pub price_connection_opening: Cents,
    /// Preparing interpretation, euros. Default: the pilot's 2.95.
    pub price_interpretation_preparation: Cents,
    // --- Walk-in queue (see `walkin.rs`, `docs/walkin.md`)
    /// A walk-in ticket nobody accepted within this many minutes expires. 0 expires tickets at once (tests).
    pub walkin_ticket_timeout_min: u64,
    /// An accepted walk-in ticket whose session nobody (or not everyone) came into within this many minutes is
    /// abandoned and its session ended.
    pub walkin_join_timeout_min: u64,
    /// The typical walk-in session in minutes, for the estimated wait when the ticket names no service.
    pub walkin_default_session_min: u64,
    /// The longest the walk-in timekeeper waits between looks at the open tickets. It also looks at each ticket's
    /// deadline, when a ticket changes and when a session ends here, so this bounds only what it is not told of.
    pub walkin_check_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            database_url: None,
            rooms_config: PathBuf::from("rooms-config"),
            web_dir: PathBuf::from("web"),
            media_bind: "127.0.0.1:0".parse().expect("valid address"),
            media_public_ip: None,
            media_tcp: true,
            media_tcp_bind: None,
            media_tcp_max_connections: 1_024,
            media_initial_estimate_kbps: vayla_sfu::DEFAULT_INITIAL_ESTIMATE / 1000,
            reload_interval_ms: 1_000,
            grace_ms: 60_000,
            appointment_join_early_min: 10,
            access_token_ttl_s: 15 * 60,
            room_token_ttl_s: 300,
            key_rotation_s: 24 * 3600,
            heartbeat_ms: 10_000,
            handshake_timeout_ms: 10_000,
            max_connections: 4_096,
            rate_per_s: 20,
            rate_burst: 60,
            media_gso: true,
            media_gro: true,
            media_socket_buffer_kib: 4096,
            login_failure_burst: 10,
            login_failure_refill_s: 30,
            outbound_queue: 256,
            shutdown_grace_ms: 5_000,
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_s: 3600,
            calendar_sync_period_s: 15 * 60,
            calendar_allow_private_hosts: false,
            interpreter_offer_window_ms: None,
            price_session_booking: Prices::PILOT.session_booking,
            price_connection_opening: Prices::PILOT.connection_opening,
            price_interpretation_preparation: Prices::PILOT.interpretation_preparation,
            walkin_ticket_timeout_min: 60,
            walkin_join_timeout_min: 10,
            walkin_default_session_min: 20,
            walkin_check_interval_ms: 10_000,
        }
    }
}

/// A secret from the configuration: usable, but never printed (its `Debug` is redacted).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

/// Environment variables read by [`Config::load`], with the field each sets.
pub const ENV_VARS: [(&str, &str); 24] = [
    ("VAYLA_MEDIA_BIND", "media_bind"),
    ("VAYLA_MEDIA_PUBLIC_IP", "media_public_ip"),
    ("VAYLA_MEDIA_TCP", "media_tcp"),
    ("VAYLA_MEDIA_TCP_BIND", "media_tcp_bind"),
    ("VAYLA_MEDIA_INITIAL_ESTIMATE_KBPS", "media_initial_estimate_kbps"),
    ("VAYLA_LISTEN", "listen"),
    ("VAYLA_DATA_DIR", "data_dir"),
    ("DATABASE_URL", "database_url"),
    ("VAYLA_ROOMS_CONFIG", "rooms_config"),
    ("VAYLA_WEB_DIR", "web_dir"),
    ("VAYLA_GRACE_MS", "grace_ms"),
    ("VAYLA_APPOINTMENT_JOIN_EARLY_MIN", "appointment_join_early_min"),
    ("VAYLA_RELOAD_INTERVAL_MS", "reload_interval_ms"),
    ("VAYLA_TURN_URLS", "turn_urls"),
    ("VAYLA_TURN_SECRET", "turn_secret"),
    ("VAYLA_TURN_TTL_S", "turn_ttl_s"),
    ("VAYLA_CALENDAR_SYNC_PERIOD_S", "calendar_sync_period_s"),
    ("VAYLA_CALENDAR_ALLOW_PRIVATE_HOSTS", "calendar_allow_private_hosts"),
    ("VAYLA_PRICE_SESSION_BOOKING", "price_session_booking"),
    ("VAYLA_PRICE_CONNECTION_OPENING", "price_connection_opening"),
    ("VAYLA_PRICE_INTERPRETATION_PREPARATION", "price_interpretation_preparation"),
    ("VAYLA_MEDIA_GSO", "media_gso"),
    ("VAYLA_MEDIA_GRO", "media_gro"),
    ("VAYLA_MEDIA_SOCKET_BUFFER_KIB", "media_socket_buffer_kib"),
];

/// The walk-in queue's environment variables, with the field each sets (read by [`Config::load`] too).
pub const WALKIN_ENV_VARS: [(&str, &str); 3] = [
    ("VAYLA_WALKIN_TICKET_TIMEOUT_MIN", "walkin_ticket_timeout_min"),
    ("VAYLA_WALKIN_JOIN_TIMEOUT_MIN", "walkin_join_timeout_min"),
    ("VAYLA_WALKIN_SESSION_MIN", "walkin_default_session_min"),
];

impl Config {
    /// Read `file` (if given), then apply the variables of [`ENV_VARS`] found in `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?
            }
            None => Config::default(),
        };
        for (name, value) in env {
            let bad = |message: String| ConfigError::Env { name: name.clone(), message };
            match name.as_str() {
                "VAYLA_LISTEN" => config.listen = value.parse().map_err(|e| bad(format!("{e}")))?,
                "VAYLA_DATA_DIR" => config.data_dir = value.into(),
                "DATABASE_URL" if !value.is_empty() => config.database_url = Some(value),
                "VAYLA_ROOMS_CONFIG" => config.rooms_config = value.into(),
                "VAYLA_WEB_DIR" => config.web_dir = value.into(),
                "VAYLA_MEDIA_BIND" => config.media_bind = value.parse().map_err(|e| bad(format!("{e}")))?,
                "VAYLA_MEDIA_PUBLIC_IP" => {
                    config.media_public_ip = Some(value.parse().map_err(|e| bad(format!("{e}")))?)
                }
                "VAYLA_MEDIA_TCP" => {
                    config.media_tcp = parse_bool(&value).ok_or_else(|| bad("expected true or false".into()))?
                }
                "VAYLA_MEDIA_GSO" => {
                    config.media_gso = parse_bool(&value).ok_or_else(|| bad("expected true or false".into()))?
                }
                "VAYLA_MEDIA_GRO" => {
                    config.media_gro = parse_bool(&value).ok_or_else(|| bad("expected true or false".into()))?
                }
                "VAYLA_MEDIA_SOCKET_BUFFER_KIB" => {
                    config.media_socket_buffer_kib = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_MEDIA_TCP_BIND" => config.media_tcp_bind = Some(value.parse().map_err(|e| bad(format!("{e}")))?),
                "VAYLA_MEDIA_INITIAL_ESTIMATE_KBPS" => {
                    config.media_initial_estimate_kbps = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_GRACE_MS" => config.grace_ms = value.parse().map_err(|e| bad(format!("{e}")))?,
                "VAYLA_APPOINTMENT_JOIN_EARLY_MIN" => {
                    config.appointment_join_early_min = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_RELOAD_INTERVAL_MS" => {
                    config.reload_interval_ms = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_TURN_URLS" => {
                    config.turn_urls =
                        value.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect()
                }
                "VAYLA_TURN_SECRET" => config.turn_secret = Some(value).filter(|v| !v.is_empty()).map(Secret),
                "VAYLA_TURN_TTL_S" => config.turn_ttl_s = value.parse().map_err(|e| bad(format!("{e}")))?,
                "VAYLA_CALENDAR_SYNC_PERIOD_S" => {
                    config.calendar_sync_period_s = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_CALENDAR_ALLOW_PRIVATE_HOSTS" => {
                    config.calendar_allow_private_hosts =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false".into()))?
                }
                "VAYLA_PRICE_SESSION_BOOKING" => {
                    config.price_session_booking = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_PRICE_CONNECTION_OPENING" => {
                    config.price_connection_opening = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_PRICE_INTERPRETATION_PREPARATION" => {
                    config.price_interpretation_preparation = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                // Walk-in queue
                "VAYLA_WALKIN_TICKET_TIMEOUT_MIN" => {
                    config.walkin_ticket_timeout_min = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_WALKIN_JOIN_TIMEOUT_MIN" => {
                    config.walkin_join_timeout_min = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                "VAYLA_WALKIN_SESSION_MIN" => {
                    config.walkin_default_session_min = value.parse().map_err(|e| bad(format!("{e}")))?
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// The database to use: the configured URL, or an SQLite file under the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("vayla.db").display()),
        }
    }

    /// TURN is handed out only when both servers and the shared secret are configured.
    pub fn turn_enabled(&self) -> bool {
        !self.turn_urls.is_empty() && self.turn_secret.is_some()
    }

    /// [`Config::appointment_join_early_min`] in milliseconds.
    pub fn appointment_join_early_ms(&self) -> u64 {
        self.appointment_join_early_min.saturating_mul(60_000)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// The unit prices of the billing export.
    pub fn prices(&self) -> Prices {
        Prices {
            session_booking: self.price_session_booking,
            connection_opening: self.price_connection_opening,
            interpretation_preparation: self.price_interpretation_preparation,
        }
    }

    /// Where the ICE-TCP listener binds, or `None` when media over TCP is off.
    pub fn media_tcp_bind(&self) -> Option<SocketAddr> {
        self.media_tcp.then(|| self.media_tcp_bind.unwrap_or(SocketAddr::new(self.media_bind.ip(), 0)))
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("vayla-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vayla.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\ngrace_ms = 5\n").unwrap();
        let env = [("VAYLA_GRACE_MS".to_string(), "7".to_string()), ("HOME".into(), "/x".into())];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.grace_ms, 7);
        assert_eq!(c.appointment_join_early_ms(), 10 * 60_000, "ten minutes by default");
        let env = [("VAYLA_APPOINTMENT_JOIN_EARLY_MIN".to_string(), "15".to_string())];
        assert_eq!(Config::load(None, env).unwrap().appointment_join_early_min, 15);
        assert!(c.database_url().starts_with("sqlite://"));
        std::fs::write(&file, "listn = 1\n").unwrap();
        assert!(matches!(Config::load(Some(&file), []), Err(ConfigError::Parse { .. })));
        let env = [("VAYLA_LISTEN".to_string(), "nope".to_string())];
        assert!(matches!(Config::load(None, env), Err(ConfigError::Env { .. })));
    }

    #[test]
    fn media_over_tcp_is_on_by_default_next_to_the_udp_socket() {
        let env = [("VAYLA_MEDIA_BIND".to_string(), "10.0.0.5:3478".to_string())];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.media_tcp_bind(), Some("10.0.0.5:0".parse().unwrap()));
        let env = [("VAYLA_MEDIA_TCP_BIND".to_string(), "0.0.0.0:443".to_string())];
        assert_eq!(Config::load(None, env).unwrap().media_tcp_bind(), Some("0.0.0.0:443".parse().unwrap()));
        let env = [("VAYLA_MEDIA_TCP".to_string(), "false".to_string())];
        assert_eq!(Config::load(None, env).unwrap().media_tcp_bind(), None);
        for (name, value) in [("VAYLA_MEDIA_TCP", "maybe"), ("VAYLA_MEDIA_TCP_BIND", "443")] {
            let env = [(name.to_string(), value.to_string())];
            assert!(matches!(Config::load(None, env), Err(ConfigError::Env { .. })), "{name}={value}");
        }
    }

    #[test]
    fn turn_servers_come_from_a_comma_separated_list() {
        assert!(!Config::default().turn_enabled());
        let env = [
            ("VAYLA_TURN_URLS".to_string(), "turn:a:3478?transport=udp, turn:a:3478?transport=tcp,".to_string()),
            ("VAYLA_TURN_SECRET".to_string(), "s3cret".to_string()),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.turn_urls, ["turn:a:3478?transport=udp", "turn:a:3478?transport=tcp"]);
        assert_eq!(c.turn_secret.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"), "the secret never shows in debug output");
        assert_eq!(c.turn_ttl_s, 3600);
        assert!(c.turn_enabled());
        let env = [("VAYLA_TURN_TTL_S".to_string(), "soon".to_string())];
        assert!(matches!(Config::load(None, env), Err(ConfigError::Env { .. })));
    }

    #[test]
    fn billing_prices_default_to_the_pilot_and_come_from_file_or_environment() {
        assert_eq!(Config::default().prices(), Prices::PILOT);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vayla.toml");
        std::fs::write(&file, "price_session_booking = \"3.10\"\nprice_connection_opening = 2.5\n").unwrap();
        let env = [("VAYLA_PRICE_INTERPRETATION_PREPARATION".to_string(), "4".to_string())];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(
            (c.price_session_booking, c.price_connection_opening, c.price_interpretation_preparation),
            (Cents(310), Cents(250), Cents(400))
        );
        let env = [("VAYLA_PRICE_SESSION_BOOKING".to_string(), "2,95".to_string())];
        assert!(matches!(Config::load(None, env), Err(ConfigError::Env { .. })), "decimal point only");
    }

    #[test]
    fn walkin_timeouts_default_and_come_from_the_environment() {
        let c = Config::default();
        assert_eq!(
            (c.walkin_ticket_timeout_min, c.walkin_join_timeout_min, c.walkin_default_session_min),
            (60, 10, 20)
        );
        let env = WALKIN_ENV_VARS.map(|(name, _)| (name.to_string(), "7".to_string()));
        let c = Config::load(None, env).unwrap();
        assert_eq!((c.walkin_ticket_timeout_min, c.walkin_join_timeout_min, c.walkin_default_session_min), (7, 7, 7));
        let env = [("VAYLA_WALKIN_TICKET_TIMEOUT_MIN".to_string(), "an hour".to_string())];
        assert!(matches!(Config::load(None, env), Err(ConfigError::Env { .. })));
    }
}
