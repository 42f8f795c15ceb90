//! The one error type of the store. Database errors are wrapped, not flattened to strings, so callers
//! can still inspect them; the variants that carry meaning for the server (`NotFound`, `Conflict`,
//! `SessionEnded`, `ResourceBusy`, `AppointmentClosed`, `InterpreterRequestWrongState`, `OfferClosed`,
//! `TicketWrongState`, `TicketTaken`) are separated out so it never has to parse database messages.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support. The URL in the message has its password removed.
    #[error("unsupported database URL {0:?}: expected sqlite:…, postgres://… or postgresql://…")]
    UnsupportedUrl(String),

    /// The directory for a SQLite database file could not be created.
    #[error("cannot create the directory {path:?} for the SQLite database")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Opening the pool (or its first connection) failed. `url` has its password removed.
    #[error("cannot connect to the database at {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// Running the embedded migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Any other database error.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),

    /// The named row does not exist (`what` is e.g. "session", "participation", "signing key").
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },

    /// A row with this identity already exists (duplicate session id, seat, open participation, kid).
    #[error("{what} already exists: {id}")]
    Conflict { what: &'static str, id: String },

    /// The session exists but has ended, so nothing more can be recorded in it (joins, seats, locks).
    #[error("session {0} has already ended")]
    SessionEnded(String),

    /// The resource (`kind` "device", "expert" or "interpreter") already has an active reservation overlapping
    /// the requested time. Nothing of the refused booking, reschedule or reservation was written.
    #[error("{kind} {resource} is already reserved for an overlapping time")]
    ResourceBusy { kind: &'static str, resource: String },

    /// The appointment exists but is no longer booked (`status` is "cancelled", "no_show" or "completed"), so
    /// it cannot be rescheduled, cancelled, marked or given resources any more.
    #[error("appointment {id} is {status}, no longer booked")]
    AppointmentClosed { id: String, status: String },

    /// The interpreter request is in a state the change does not apply to (`state` is "open", "offered",
    /// "accepted", "exhausted" or "cancelled"; `wanted` says what the change needed). Nothing was written.
    #[error("interpreter request {id} is {state}, the change needs it {wanted}")]
    InterpreterRequestWrongState { id: String, state: &'static str, wanted: &'static str },

    /// The interpreter has no pending offer of the request to answer: `outcome` is what became of it
    /// ("accepted", "declined", "expired", "withdrawn", "cancelled", "released") or "not offered". A losing
    /// racing accept gets "withdrawn". Nothing was written.
    #[error("the offer of interpreter request {request} to {interpreter} is {outcome}")]
    OfferClosed { request: String, interpreter: String, outcome: &'static str },

    /// The walk-in ticket is in a state the change does not apply to (`status` is its status word; `wanted`
    /// says what the change needed). Nothing was written.
    #[error("walk-in ticket {id} is {status}, the change needs it {wanted}")]
    TicketWrongState { id: String, status: &'static str, wanted: &'static str },

    /// Someone else already accepted this side (`side` "expert" or "interpreter") of the walk-in ticket: a losing
    /// racing accept. Nothing was written.
    #[error("walk-in ticket {id} already has its {side}")]
    TicketTaken { id: String, side: &'static str },
}

impl StoreError {
    /// Turns a unique-constraint violation into `Conflict`, anything else into `Query`.
    pub(crate) fn unique_as_conflict(e: sqlx::Error, what: &'static str, id: impl Into<String>) -> Self {
        let unique = e.as_database_error().is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation);
        if unique {
            StoreError::Conflict { what, id: id.into() }
        } else {
            StoreError::Query(e)
        }
    }
}
