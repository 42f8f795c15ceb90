//! Appointments and the reservations they hold: the persistence half of booking. An appointment is the
//! customer's slot at a device with an agency's service; each reservation blocks one resource (the
//! device, an expert, later an interpreter) for a time that includes that resource's buffers. The rules
//! about *which* slots may be offered (opening hours, notice, horizon, buffers) live in `vayla-domain`;
//! this module only guarantees what must hold whatever the caller computed:
//!
//! **No resource is ever reserved twice for overlapping time.** The database enforces it, so a bug in
//! the caller, a second server node or hand-typed SQL cannot break it:
//! - PostgreSQL: an exclusion constraint over `(resource_kind, resource_id, int8range(start, end))` of the
//!   active rows, which holds across concurrent transactions: a conflicting insert waits for the other
//!   transaction and fails (23P01) if it commits.
//! - SQLite: every write transaction here starts with `BEGIN IMMEDIATE`, which takes the database's one
//!   write lock before the first read, so "check the time is free, then insert" cannot interleave with
//!   another booking; and triggers on `reservations` refuse an overlapping active row anyway.
//!
//! Both backends also check each reservation before inserting it, so the usual refusal is a plain query
//! result naming the resource rather than a constraint error; the constraint catches what the check
//! cannot see (a transaction that commits in between, on PostgreSQL). Either way the caller gets
//! [`StoreError::ResourceBusy`] and nothing of the refused change is written: every change is one
//! transaction, the audit entry included.
//!
//! Changes start by updating the appointment row with `WHERE status = 'booked'`, which both checks the
//! state and (on PostgreSQL) locks the row, so two changes to one appointment queue instead of racing.
//! On PostgreSQL they then take an advisory lock per resource they will touch, in one fixed order, so
//! that racing bookings queue per resource instead of deadlocking inside the exclusion constraint (see
//! `lock_resources`). A deadlock or "database is locked" that happens anyway is retried.

use crate::{Backend, Millis, Store, StoreError};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row, Transaction};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What a reservation blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A service point's remote-service device (and so its room).
    Device,
    /// An agency expert.
    Expert,
    /// An interpreter.
    Interpreter,
}

impl ResourceKind {
    /// The word stored in `reservations.resource_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Device => "device",
            ResourceKind::Expert => "expert",
            ResourceKind::Interpreter => "interpreter",
        }
    }

    /// The inverse of [`ResourceKind::as_str`].
    pub fn parse(s: &str) -> Option<ResourceKind> {
        match s {
            "device" => Some(ResourceKind::Device),
            "expert" => Some(ResourceKind::Expert),
            "interpreter" => Some(ResourceKind::Interpreter),
            _ => None,
        }
    }
}

/// Where an appointment is in its life. Only `Booked` can change; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
    NoShow,
    Completed,
}

impl AppointmentStatus {
    /// The word stored in `appointments.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
            AppointmentStatus::Completed => "completed",
        }
    }

    /// The inverse of [`AppointmentStatus::as_str`].
    pub fn parse(s: &str) -> Option<AppointmentStatus> {
        match s {
            "booked" => Some(AppointmentStatus::Booked),
            "cancelled" => Some(AppointmentStatus::Cancelled),
            "no_show" => Some(AppointmentStatus::NoShow),
            "completed" => Some(AppointmentStatus::Completed),
            _ => None,
        }
    }
}

/// The customer's need for an interpreter: the language (BCP 47, e.g. `fse` for Finnish Sign Language)
/// and how the interpreting is done (a word the domain defines, e.g. "remote" or "on_site").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterpreterNeed {
    pub language: String,
    pub modality: String,
}

/// What the customer stated at booking; it follows the case. Deliberately little: a language tag, an
/// interpreter request and a short accessibility note (at most 500 characters), nothing identifying.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SpecialNeeds {
    /// The customer's language, BCP 47 (`fi`, `sv`, `se`, …).
    pub language: Option<String>,
    pub interpreter: Option<InterpreterNeed>,
    pub accessibility: Option<String>,
}

/// One resource to block for `[start_ms, end_ms)`: the appointment's slot widened by the resource's
/// buffers. Half-open, so a reservation ending at 10:00 and one starting at 10:00 do not overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReservation {
    pub kind: ResourceKind,
    pub resource_id: String,
    pub start_ms: Millis,
    pub end_ms: Millis,
}

/// A booking as the server makes it. `id` and `uid` come from the caller (the store has no id
/// generator); `uid` is the iCalendar UID and must be unique too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    pub id: String,
    pub uid: String,
    pub agency: String,
    pub service: String,
    pub service_point: String,
    pub device: String,
    /// The customer's slot, `[start_ms, end_ms)`.
    pub start_ms: Millis,
    pub end_ms: Millis,
    /// An opaque reference to the customer (a case number, a token), never a name.
    pub customer_ref: Option<String>,
    pub needs: SpecialNeeds,
    pub created_by: String,
    pub created_at: Millis,
    /// Everything the booking blocks, all reserved or none.
    pub reservations: Vec<NewReservation>,
}

/// A new time for an appointment. `reservations` replaces every active reservation of the appointment,
/// interpreters included: the caller decides what to carry over (the interpreter may not be free then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reschedule {
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub reservations: Vec<NewReservation>,
}

/// One reservation as stored. `active` is false once released (by a cancellation, a reschedule or an
/// interpreter release), and `released_at` says when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReservationRecord {
    pub kind: ResourceKind,
    pub resource_id: String,
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub active: bool,
    pub created_at: Millis,
    pub released_at: Option<Millis>,
}

/// An appointment with every reservation it ever held, oldest first (see [`AppointmentRecord::active`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppointmentRecord {
    pub id: String,
    pub uid: String,
    pub agency: String,
    pub service: String,
    pub service_point: String,
    pub device: String,
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub status: AppointmentStatus,
    /// Who cancelled it or marked it no-show / completed, and when; `None` while booked.
    pub closed_by: Option<String>,
    pub closed_at: Option<Millis>,
    /// Set exactly when cancelled.
    pub cancel_reason: Option<String>,
    pub customer_ref: Option<String>,
    pub needs: SpecialNeeds,
    pub created_by: String,
    pub created_at: Millis,
    pub updated_by: String,
    pub updated_at: Millis,
    /// 0 at booking, +1 on every change: the iCalendar SEQUENCE.
    pub sequence: i64,
    pub reservations: Vec<ReservationRecord>,
}

impl AppointmentRecord {
    /// The reservations it holds now.
    pub fn active(&self) -> impl Iterator<Item = &ReservationRecord> {
        self.reservations.iter().filter(|r| r.active)
    }
}

/// A busy interval of one resource: `(resource_id, start_ms, end_ms)`, buffers included.
pub type BusyInterval = (String, Millis, Millis);

/// How often a change is retried after a deadlock / serialization failure (PostgreSQL) or a lock wait
/// that outlasted the busy timeout (SQLite). Conflicts of time are never retried: they are answers.
const TRANSIENT_RETRIES: u32 = 5;

/// Lists of ids are bound as `IN ($1, …)`; chunking keeps far below any backend's bind limit.
pub(crate) const IN_CHUNK: usize = 500;

const APPOINTMENT_COLUMNS: &str = "id, uid, agency, service, service_point, device, start_ms, end_ms, status, \
     closed_by, closed_at, cancel_reason, customer_ref, language, interpreter_needed, interpreter_language, \
     interpreter_modality, accessibility, created_by, created_at, updated_by, updated_at, sequence";

/// What a state-changing statement found: the appointment row's device (its room) and new sequence.
pub(crate) struct Touched {
    pub(crate) device: String,
    pub(crate) sequence: i64,
    pub(crate) start_ms: Millis,
    pub(crate) end_ms: Millis,
}

impl Store {
    /// Books an appointment and all its reservations in one transaction: either everything is stored
    /// (with sequence 0 and an `appointment_booked` audit entry) or nothing is. A resource already
    /// reserved for an overlapping time is `ResourceBusy` naming it; a duplicate id or uid is `Conflict`.
    pub async fn book_appointment(&self, a: &NewAppointment) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.book_once(a)).await
    }

    /// Moves a booked appointment to a new slot with new reservations, atomically: the old reservations
    /// are released and the new ones taken (they may overlap the old ones), sequence + 1. If any new
    /// reservation is refused (`ResourceBusy`) the old booking stays exactly as it was. Not booked any
    /// more is `AppointmentClosed`, unknown `NotFound`.
    pub async fn reschedule_appointment(
        &self,
        id: &str,
        change: &Reschedule,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.reschedule_once(id, change, by, at)).await
    }

    /// Cancels a booked appointment with a reason and who did it, releasing all its reservations so the
    /// time can be booked again; sequence + 1.
    pub async fn cancel_appointment(
        &self,
        id: &str,
        reason: &str,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.close_once(id, AppointmentStatus::Cancelled, Some(reason), by, at)).await
    }

    /// Marks a booked appointment as a no-show; sequence + 1. The reservations stay: the time was
    /// spent waiting, and the record of who was booked matters for reports.
    pub async fn mark_no_show(&self, id: &str, by: &str, at: Millis) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.close_once(id, AppointmentStatus::NoShow, None, by, at)).await
    }

    /// Marks a booked appointment as completed; sequence + 1. The reservations stay, as for no-shows.
    pub async fn mark_completed(&self, id: &str, by: &str, at: Millis) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.close_once(id, AppointmentStatus::Completed, None, by, at)).await
    }

    /// Reserves an interpreter for a booked appointment, under the same no-overlap rule as the booking;
    /// sequence + 1. `window` is the interpreter's blocked time (buffers included); `None` means the
    /// appointment's slot. An appointment may hold several interpreters (long sign-language sessions
    /// often need two); to swap one, release it with [`Store::release_interpreter`].
    pub async fn reserve_interpreter(
        &self,
        appointment_id: &str,
        interpreter_id: &str,
        window: Option<(Millis, Millis)>,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.reserve_interpreter_once(appointment_id, interpreter_id, window, by, at)).await
    }

    /// Releases an interpreter's active reservation on a booked appointment; sequence + 1. An
    /// interpreter not reserved for it is `NotFound` (and nothing changes).
    pub async fn release_interpreter(
        &self,
        appointment_id: &str,
        interpreter_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        self.retrying(|| self.release_interpreter_once(appointment_id, interpreter_id, by, at)).await
    }

    /// One appointment with all its reservations, or `None` if there is no such id.
    pub async fn get_appointment(&self, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_one(&mut conn, id).await
    }

    /// Every appointment, in any status, that holds or held a reservation of the resource overlapping
    /// `[from_ms, to_ms)`, by start. Cancelled ones are included so that calendar feeds can publish the
    /// cancellation; whether it still holds the resource is in its (active) reservations.
    pub async fn appointments_for_resource(
        &self,
        kind: ResourceKind,
        resource_id: &str,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<AppointmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id IN (\
                 SELECT appointment_id FROM reservations \
                 WHERE resource_kind = $1 AND resource_id = $2 AND end_ms > $3 AND start_ms < $4) \
             ORDER BY start_ms, id"
        );
        let query = sqlx::query(&sql).bind(kind.as_str()).bind(resource_id).bind(from_ms).bind(to_ms);
        let mut conn = self.pool.acquire().await?;
        load_many(&mut conn, query).await
    }

    /// Every appointment, in any status, whose slot overlaps `[from_ms, to_ms)`, by start.
    pub async fn appointments_in_range(
        &self,
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<AppointmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE end_ms > $1 AND start_ms < $2 ORDER BY start_ms, id"
        );
        let mut conn = self.pool.acquire().await?;
        load_many(&mut conn, sqlx::query(&sql).bind(from_ms).bind(to_ms)).await
    }

    /// The active reservations of the given resources overlapping `[from_ms, to_ms)`, as
    /// `(resource_id, start_ms, end_ms)` sorted by resource and start: what a slot search must avoid.
    pub async fn busy_for_resources(
        &self,
        kind: ResourceKind,
        resource_ids: &[String],
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<BusyInterval>, StoreError> {
        let mut busy = Vec::new();
        let mut conn = self.pool.acquire().await?;
        for chunk in resource_ids.chunks(IN_CHUNK) {
            let list = placeholders(4, chunk.len());
            let sql = format!(
                "SELECT resource_id, start_ms, end_ms FROM reservations \
                 WHERE resource_kind = $1 AND active = 1 AND end_ms > $2 AND start_ms < $3 \
                   AND resource_id IN ({list})"
            );
            let mut query = sqlx::query(&sql).bind(kind.as_str()).bind(from_ms).bind(to_ms);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                busy.push((row.try_get("resource_id")?, row.try_get("start_ms")?, row.try_get("end_ms")?));
            }
        }
        busy.sort();
        Ok(busy)
    }

    /// Runs one attempt of a change, again if it failed for a reason that says nothing about the change
    /// itself (see [`TRANSIENT_RETRIES`]). Each attempt is its own transaction, rolled back on failure.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 0;
        loop {
            match attempt().await {
                Err(StoreError::Query(e)) if tries < TRANSIENT_RETRIES && is_transient(&e) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(5 << tries)).await;
                }
                other => return other,
            }
        }
    }

    /// A write transaction. On SQLite it takes the write lock at once (see the module docs): a deferred
    /// transaction would read under a shared lock and could then fail to upgrade, or check a snapshot
    /// that another writer has already made stale.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// On PostgreSQL, takes a transaction-scoped advisory lock per resource, in one fixed order, before
    /// the transaction checks, takes or releases any of their time. The exclusion constraint alone would
    /// be correct, but two transactions inserting conflicting rows at the same moment each wait for the
    /// other there, and the deadlock detector needs a second to break that; under a rush of bookings for
    /// the same expert that is most of them. With the locks, a booking only checks a resource after the
    /// previous holder has committed, and finds the answer at once. (Writers that skip the locks are
    /// still held to the rule by the constraint.) SQLite needs nothing: `BEGIN IMMEDIATE` already
    /// serialises all writers.
    pub(crate) async fn lock_resources<'r>(
        &self,
        conn: &mut AnyConnection,
        resources: impl IntoIterator<Item = (ResourceKind, &'r str)>,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut keys: Vec<(ResourceKind, &str)> = resources.into_iter().collect();
        keys.sort();
        keys.dedup();
        for (kind, id) in keys {
            // A void result cannot be decoded by the Any driver, hence the function in FROM.
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("vayla.reservation:{}:{id}", kind.as_str()))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn book_once(&self, a: &NewAppointment) -> Result<AppointmentRecord, StoreError> {
        let reservations = in_lock_order(&a.reservations);
        let mut tx = self.begin_write().await?;
        let interpreter = a.needs.interpreter.as_ref();
        sqlx::query(
            "INSERT INTO appointments (id, uid, agency, service, service_point, device, start_ms, end_ms, \
                 customer_ref, language, interpreter_needed, interpreter_language, interpreter_modality, \
                 accessibility, created_by, created_at, updated_by, updated_at, sequence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15, $16, 0)",
        )
        .bind(&a.id)
        .bind(&a.uid)
        .bind(&a.agency)
        .bind(&a.service)
        .bind(&a.service_point)
        .bind(&a.device)
        .bind(a.start_ms)
        .bind(a.end_ms)
        .bind(a.customer_ref.as_deref())
        .bind(a.needs.language.as_deref())
        .bind(i64::from(interpreter.is_some()))
        .bind(interpreter.map(|i| i.language.as_str()))
        .bind(interpreter.map(|i| i.modality.as_str()))
        .bind(a.needs.accessibility.as_deref())
        .bind(&a.created_by)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "appointment", &a.id))?;
        self.lock_resources(&mut tx, reservations.iter().map(|r| (r.kind, r.resource_id.as_str()))).await?;
        reserve(&mut tx, &a.id, &reservations, a.created_at).await?;
        let detail =
            format!("{} slot={}..{} reserved={}", ident(&a.id, 0), a.start_ms, a.end_ms, describe(&reservations));
        audit(&mut tx, "appointment_booked", &a.device, &a.created_by, &detail, a.created_at).await?;
        let record = load_one(&mut tx, &a.id).await?.ok_or_else(|| not_found(&a.id))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn reschedule_once(
        &self,
        id: &str,
        change: &Reschedule,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        let reservations = in_lock_order(&change.reservations);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE appointments SET start_ms = $2, end_ms = $3, updated_by = $4, updated_at = $5, \
                 sequence = sequence + 1 \
             WHERE id = $1 AND status = 'booked' RETURNING device, sequence, start_ms, end_ms",
        )
        .bind(id)
        .bind(change.start_ms)
        .bind(change.end_ms)
        .bind(by)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let touched = require_booked(&mut tx, id, row).await?;
        let held = held_resources(&mut tx, id).await?;
        let wanted = reservations.iter().map(|r| (r.kind, r.resource_id.as_str()));
        self.lock_resources(&mut tx, held.iter().map(|(k, r)| (*k, r.as_str())).chain(wanted)).await?;
        release(&mut tx, id, None, at).await?;
        reserve(&mut tx, id, &reservations, at).await?;
        let detail = format!(
            "{} slot={}..{} reserved={}",
            ident(id, touched.sequence),
            touched.start_ms,
            touched.end_ms,
            describe(&reservations)
        );
        audit(&mut tx, "appointment_rescheduled", &touched.device, by, &detail, at).await?;
        let record = load_one(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(record)
    }

    /// Cancel, no-show or completed: the appointment's final status.
    async fn close_once(
        &self,
        id: &str,
        status: AppointmentStatus,
        reason: Option<&str>,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE appointments SET status = $2, cancel_reason = $3, closed_by = $4, closed_at = $5, \
                 updated_by = $4, updated_at = $5, sequence = sequence + 1 \
             WHERE id = $1 AND status = 'booked' RETURNING device, sequence, start_ms, end_ms",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(reason)
        .bind(by)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let touched = require_booked(&mut tx, id, row).await?;
        let mut detail = ident(id, touched.sequence);
        if status == AppointmentStatus::Cancelled {
            let held = held_resources(&mut tx, id).await?;
            self.lock_resources(&mut tx, held.iter().map(|(k, r)| (*k, r.as_str()))).await?;
            let released = release(&mut tx, id, None, at).await?;
            let _ = write!(detail, " released={released}");
        }
        if let Some(reason) = reason {
            let _ = write!(detail, " reason={reason}");
        }
        let kind = match status {
            AppointmentStatus::Cancelled => "appointment_cancelled",
            AppointmentStatus::NoShow => "appointment_no_show",
            AppointmentStatus::Completed => "appointment_completed",
            AppointmentStatus::Booked => unreachable!("closing to booked is not a close"),
        };
        audit(&mut tx, kind, &touched.device, by, &detail, at).await?;
        let record = load_one(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn reserve_interpreter_once(
        &self,
        id: &str,
        interpreter: &str,
        window: Option<(Millis, Millis)>,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let touched = touch(&mut tx, id, by, at).await?;
        let (start_ms, end_ms) = window.unwrap_or((touched.start_ms, touched.end_ms));
        let wanted =
            [NewReservation { kind: ResourceKind::Interpreter, resource_id: interpreter.to_owned(), start_ms, end_ms }];
        self.lock_resources(&mut tx, [(ResourceKind::Interpreter, interpreter)]).await?;
        reserve(&mut tx, id, &wanted, at).await?;
        let detail = format!("{} reserved={}", ident(id, touched.sequence), describe(&wanted));
        audit(&mut tx, "interpreter_reserved", &touched.device, by, &detail, at).await?;
        let record = load_one(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn release_interpreter_once(
        &self,
        id: &str,
        interpreter: &str,
        by: &str,
        at: Millis,
    ) -> Result<AppointmentRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let touched = touch(&mut tx, id, by, at).await?;
        self.lock_resources(&mut tx, [(ResourceKind::Interpreter, interpreter)]).await?;
        if release(&mut tx, id, Some((ResourceKind::Interpreter, interpreter)), at).await? == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound { what: "interpreter reservation", id: format!("{id}/{interpreter}") });
        }
        let detail = format!("{} released=interpreter:{interpreter}", ident(id, touched.sequence));
        audit(&mut tx, "interpreter_released", &touched.device, by, &detail, at).await?;
        let record = load_one(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(record)
    }
}

/// Bumps the sequence of a booked appointment (a change that is not to the appointment row itself).
pub(crate) async fn touch(conn: &mut AnyConnection, id: &str, by: &str, at: Millis) -> Result<Touched, StoreError> {
    let row = sqlx::query(
        "UPDATE appointments SET updated_by = $2, updated_at = $3, sequence = sequence + 1 \
         WHERE id = $1 AND status = 'booked' RETURNING device, sequence, start_ms, end_ms",
    )
    .bind(id)
    .bind(by)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    require_booked(conn, id, row).await
}

/// Reads what a guarded `UPDATE … WHERE status = 'booked' RETURNING …` returned; if it matched nothing,
/// finds out why: `NotFound` or `AppointmentClosed`.
async fn require_booked(conn: &mut AnyConnection, id: &str, row: Option<AnyRow>) -> Result<Touched, StoreError> {
    if let Some(row) = row {
        return Ok(Touched {
            device: row.try_get("device")?,
            sequence: row.try_get("sequence")?,
            start_ms: row.try_get("start_ms")?,
            end_ms: row.try_get("end_ms")?,
        });
    }
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM appointments WHERE id = $1").bind(id).fetch_optional(conn).await?;
    match status {
        None => Err(not_found(id)),
        Some(status) => Err(StoreError::AppointmentClosed { id: id.to_owned(), status }),
    }
}

/// The resources the appointment holds now.
async fn held_resources(conn: &mut AnyConnection, id: &str) -> Result<Vec<(ResourceKind, String)>, StoreError> {
    let rows =
        sqlx::query("SELECT resource_kind, resource_id FROM reservations WHERE appointment_id = $1 AND active = 1")
            .bind(id)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("resource_kind")?;
            let kind = ResourceKind::parse(&kind).ok_or_else(|| decode_error("resource_kind", &kind))?;
            Ok((kind, row.try_get("resource_id")?))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Takes the reservations (already in lock order) for the appointment, or fails with `ResourceBusy` for
/// the first one that is not free. Callers roll back on error, so nothing partial stays.
pub(crate) async fn reserve(
    conn: &mut AnyConnection,
    appointment: &str,
    reservations: &[NewReservation],
    at: Millis,
) -> Result<(), StoreError> {
    // Two of the request's own reservations may collide (the same expert listed twice); sorted, such a
    // pair is adjacent.
    for pair in reservations.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.kind == b.kind && a.resource_id == b.resource_id && b.start_ms < a.end_ms {
            return Err(busy(b));
        }
    }
    for r in reservations {
        let taken = sqlx::query(
            "SELECT 1 FROM reservations WHERE resource_kind = $1 AND resource_id = $2 AND active = 1 \
               AND end_ms > $3 AND start_ms < $4 LIMIT 1",
        )
        .bind(r.kind.as_str())
        .bind(&r.resource_id)
        .bind(r.start_ms)
        .bind(r.end_ms)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
        if taken {
            return Err(busy(r));
        }
        sqlx::query(
            "INSERT INTO reservations (appointment_id, resource_kind, resource_id, start_ms, end_ms, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6)",
        )
        .bind(appointment)
        .bind(r.kind.as_str())
        .bind(&r.resource_id)
        .bind(r.start_ms)
        .bind(r.end_ms)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(|e| if is_overlap_violation(&e) { busy(r) } else { StoreError::Query(e) })?;
    }
    Ok(())
}

/// Releases the appointment's active reservations (only the one resource's, if given); returns how many.
pub(crate) async fn release(
    conn: &mut AnyConnection,
    appointment: &str,
    only: Option<(ResourceKind, &str)>,
    at: Millis,
) -> Result<u64, StoreError> {
    let done = match only {
        None => {
            sqlx::query("UPDATE reservations SET active = 0, released_at = $2 WHERE appointment_id = $1 AND active = 1")
                .bind(appointment)
                .bind(at)
                .execute(conn)
                .await?
        }
        Some((kind, resource)) => {
            sqlx::query(
                "UPDATE reservations SET active = 0, released_at = $2 \
                 WHERE appointment_id = $1 AND active = 1 AND resource_kind = $3 AND resource_id = $4",
            )
            .bind(appointment)
            .bind(at)
            .bind(kind.as_str())
            .bind(resource)
            .execute(conn)
            .await?
        }
    };
    Ok(done.rows_affected())
}

/// Appends an audit entry in the caller's transaction, so the change and its record commit together.
/// The room is the device's (each device has its own permanent room, named like the device); the
/// subject is who made the change; the customer reference is never logged.
pub(crate) async fn audit(
    conn: &mut AnyConnection,
    kind: &str,
    device: &str,
    by: &str,
    detail: &str,
    at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, kind, room, subject, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(at)
        .bind(kind)
        .bind(device)
        .bind(by)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

async fn load_one(conn: &mut AnyConnection, id: &str) -> Result<Option<AppointmentRecord>, StoreError> {
    let sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1");
    Ok(load_many(conn, sqlx::query(&sql).bind(id)).await?.pop())
}

/// Runs a query selecting appointment rows, then fetches their reservations on the same connection.
async fn load_many<'q>(
    conn: &mut AnyConnection,
    query: Query<'q, Any, AnyArguments<'q>>,
) -> Result<Vec<AppointmentRecord>, StoreError> {
    let mut appointments: Vec<AppointmentRecord> =
        query.fetch_all(&mut *conn).await?.iter().map(appointment_from_row).collect::<Result<_, _>>()?;
    let index: HashMap<String, usize> = appointments.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
    let ids: Vec<String> = appointments.iter().map(|a| a.id.clone()).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT appointment_id, resource_kind, resource_id, start_ms, end_ms, active, created_at, released_at \
             FROM reservations WHERE appointment_id IN ({}) ORDER BY id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let owner: String = row.try_get("appointment_id")?;
            let kind: String = row.try_get("resource_kind")?;
            appointments[index[&owner]].reservations.push(ReservationRecord {
                kind: ResourceKind::parse(&kind).ok_or_else(|| decode_error("resource_kind", &kind))?,
                resource_id: row.try_get("resource_id")?,
                start_ms: row.try_get("start_ms")?,
                end_ms: row.try_get("end_ms")?,
                active: row.try_get::<i64, _>("active")? != 0,
                created_at: row.try_get("created_at")?,
                released_at: row.try_get("released_at")?,
            });
        }
    }
    Ok(appointments)
}

fn appointment_from_row(row: &AnyRow) -> Result<AppointmentRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let interpreter = if row.try_get::<i64, _>("interpreter_needed")? != 0 {
        Some(InterpreterNeed {
            language: row.try_get("interpreter_language")?,
            modality: row.try_get("interpreter_modality")?,
        })
    } else {
        None
    };
    Ok(AppointmentRecord {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        agency: row.try_get("agency")?,
        service: row.try_get("service")?,
        service_point: row.try_get("service_point")?,
        device: row.try_get("device")?,
        start_ms: row.try_get("start_ms")?,
        end_ms: row.try_get("end_ms")?,
        status: AppointmentStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        closed_by: row.try_get("closed_by")?,
        closed_at: row.try_get("closed_at")?,
        cancel_reason: row.try_get("cancel_reason")?,
        customer_ref: row.try_get("customer_ref")?,
        needs: SpecialNeeds {
            language: row.try_get("language")?,
            interpreter,
            accessibility: row.try_get("accessibility")?,
        },
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
        sequence: row.try_get("sequence")?,
        reservations: Vec::new(),
    })
}

pub(crate) fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: format!("unknown value {value:?}").into() }
}

/// Reservations sorted by (kind, id, start): the order they are checked and inserted in, the same order
/// `lock_resources` takes its locks in, so a refusal names the same resource whichever way the caller
/// listed them.
fn in_lock_order(reservations: &[NewReservation]) -> Vec<NewReservation> {
    let mut sorted = reservations.to_vec();
    sorted.sort_by(|a, b| (a.kind, &a.resource_id, a.start_ms).cmp(&(b.kind, &b.resource_id, b.start_ms)));
    sorted
}

/// Whether the database refused a reservation for overlapping another: PostgreSQL's exclusion
/// constraint (SQLSTATE 23P01) or the SQLite trigger (whose message starts with a fixed word).
fn is_overlap_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.code().as_deref() == Some("23P01") || d.message().starts_with("reservation_overlap"))
}

/// Failures worth another attempt: PostgreSQL deadlock (40P01) or serialization failure (40001), and
/// SQLite's busy / locked after the busy timeout.
fn is_transient(e: &sqlx::Error) -> bool {
    let pg = e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "40P01" || c == "40001");
    pg || crate::is_sqlite_busy(e)
}

fn busy(r: &NewReservation) -> StoreError {
    StoreError::ResourceBusy { kind: r.kind.as_str(), resource: r.resource_id.clone() }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound { what: "appointment", id: id.to_owned() }
}

/// The start of every appointment audit detail: `appointment=<id> sequence=<n>`.
fn ident(id: &str, sequence: i64) -> String {
    format!("appointment={id} sequence={sequence}")
}

/// `device:mikkeli-2@1000..2000,expert:kela-anna@900..2100`
fn describe(reservations: &[NewReservation]) -> String {
    let parts: Vec<String> = reservations
        .iter()
        .map(|r| format!("{}:{}@{}..{}", r.kind.as_str(), r.resource_id, r.start_ms, r.end_ms))
        .collect();
    parts.join(",")
}

/// `$first, $first+1, …` (n of them)
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
