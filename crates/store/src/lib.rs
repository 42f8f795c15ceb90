//! Väylä's persistence layer: one [`Store`] over SQLite (a single node, the default) or PostgreSQL
//! (several server nodes sharing one database), holding
//! - a mirror of the rooms-config directory (agencies, service points, devices, people) — see `directory`,
//! - sessions in rooms with their seats, participations and lock changes — see `sessions`,
//! - the append-only audit log of admissions, refusals, locks and session events — see `audit`,
//! - the rotated JWT signing keys shared by all nodes — see `keys`,
//! - appointments and the device / expert / interpreter time they reserve, never double-booked — see
//!   `appointments`,
//! - the calendar model (booking rules, services, availability, opening hours), seeded from the
//!   rooms-config and editable through the API — see `calendar`,
//! - secret calendar feeds per expert and device, and experts' external busy time — see `feeds`,
//! - the interpreter registry, interpreter requests and their offers, one accepted interpreter per
//!   request — see `interpreting`,
//! - the walk-in queue: tickets (one open per device, one expert per ticket) and who is on duty — see `walkin`,
//! - customers' anonymous feedback, one answer per session — see `feedback`,
//! - the raw rows of the reports (sessions, walk-in tickets, appointments of a time range) — see `reports`.
//!
//! Everything goes through sqlx's `Any` driver with runtime-bound queries, so one set of SQL statements
//! serves both backends. That is why the schema sticks to TEXT, 64-bit integers and BLOB/BYTEA, times
//! are [`Millis`], booleans are stored as 0/1, and placeholders are always `$1, $2, …`. Only the DDL
//! differs per backend (`migrations/sqlite`, `migrations/postgres` at the workspace root).
//!
//! Ids are plain strings at this boundary: the server validates them with `vayla-domain` before they
//! get here, and the store must be able to read back whatever an older version wrote.

mod appointments;
mod audit;
mod calendar;
mod dburl;
mod directory;
mod error;
mod feedback;
mod feeds;
mod interpreting;
mod keys;
mod reports;
mod sessions;
mod testing;
mod walkin;

pub use appointments::{
    AppointmentRecord, AppointmentStatus, BusyInterval, InterpreterNeed, NewAppointment, NewReservation, Reschedule,
    ReservationRecord, ResourceKind, SpecialNeeds,
};
pub use audit::{AuditEntry, AuditQuery};
pub use calendar::{CalendarEntry, CalendarKind, CalendarSeed, CalendarSource, SEED_AUTHOR};
pub use dburl::redact as redact_url;
pub use directory::{AgencyRecord, DeviceRecord, DirectorySnapshot, PersonRecord, ServicePointRecord};
pub use error::StoreError;
pub use feedback::FeedbackRecord;
pub use feeds::{CalendarFeedRecord, ExternalCalendarKind, ExternalCalendarRecord};
pub use interpreting::{
    InterpreterContactRecord, InterpreterProviderRecord, InterpreterRecord, InterpreterRequestRecord,
    InterpreterRequestState, LanguageLevel, NewInterpreterRequest, NewOffer, OfferOutcome, OfferRecord,
    RequestCancelReason,
};
pub use keys::SigningKeyRecord;
pub use reports::{AppointmentReportRow, InterpreterStayRow, SessionReportRow, TicketReportRow};
pub use sessions::{LockRecord, NewSession, ParticipationRecord, SeatRecord, SessionRecord};
pub use testing::{drop_postgres_database, fresh_postgres_database, postgres_test_admin_url};
pub use walkin::{NewWalkinTicket, WalkinDutyRecord, WalkinSide, WalkinStatus, WalkinTicketRecord};

use dburl::Target;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

/// Milliseconds since the Unix epoch, UTC. Signed because that is what both databases store natively.
pub type Millis = i64;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up with "database is locked".
/// Writes are short, so a few seconds covers any realistic queue of writers.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite serialises writers anyway; a few connections let reads run beside a write under WAL.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;

/// The `Any` driver needs its backends registered once per process before the first connection.
pub(crate) fn install_drivers() {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
}

/// A handle to the database. Cheap to clone (the pool is shared); every method may be called from many
/// tasks at once.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and runs the migrations for the backend. Accepted URLs:
    /// - `sqlite://path/to/file.db` (relative) or `sqlite:///abs/path.db`: the file and its parent
    ///   directory are created if missing; WAL journal, foreign keys on, busy timeout of a few seconds;
    /// - `sqlite::memory:`: a private in-memory database on a single connection (tests only; it vanishes
    ///   when the store is closed);
    /// - `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_drivers();
        let target = Target::parse(url)?;
        let connect_err = |source| StoreError::Connect { url: dburl::redact(url), source };

        if let Target::SqliteFile { path, .. } = &target {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
            }
        }

        let options = AnyConnectOptions::from_str(target.url()).map_err(connect_err)?;
        let pool_options = match &target {
            // Each connection parses the URL anew, and every parse of `:memory:` is a new, empty
            // database; so exactly one connection, kept forever.
            Target::SqliteMemory { .. } => {
                AnyPoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
            }
            Target::SqliteFile { .. } => AnyPoolOptions::new()
                .max_connections(SQLITE_MAX_CONNECTIONS)
                // sqlx already defaults to foreign_keys=ON and a 5 s busy timeout; setting both here
                // keeps them true even if those defaults change, and lengthens the timeout.
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(&*format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")).await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                }),
            Target::Postgres { .. } => AnyPoolOptions::new().max_connections(POSTGRES_MAX_CONNECTIONS),
        };
        let pool = pool_options.connect_with(options).await.map_err(connect_err)?;

        if matches!(target, Target::SqliteFile { .. }) {
            // WAL lets readers proceed while one writer commits, and it is a property of the file, so
            // setting it once here covers every later connection. Switching needs a moment of
            // exclusive access that busy_timeout does not wait for, hence the retry (another process
            // may be opening the same file right now).
            let mut tries = 0;
            loop {
                match pool.execute("PRAGMA journal_mode = WAL").await {
                    Ok(_) => break,
                    Err(e) if tries < 50 && is_sqlite_busy(&e) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(connect_err(e)),
                }
            }
        }

        let store = Store { pool, backend: target.backend() };
        store.migrator().run(&store.pool).await?;
        Ok(store)
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for ad-hoc SQL in tests and tools. Prefer the typed methods.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; waits for the ones in use to be returned. Further calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with or without an extended code in the upper bits.
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}
