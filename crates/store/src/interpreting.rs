//! Interpreter bookings, the persistence half: the interpreter registry (with contact details kept
//! apart), the requests an appointment makes for an interpreter, and the offers each request's cascade sends.
//! *Which* interpreter is offered next, and with which deadline, is `vayla-domain`'s `interpreting` (pure); this
//! module records what the cascade decided and guarantees what must hold whatever the caller does:
//!
//! - **One interpreter per request.** Racing accepts of the same request end with exactly one accepted offer.
//!   [`Store::accept_offer`] locks the request row (a guarded `UPDATE`, which on PostgreSQL makes a racing accept
//!   wait for the first to commit and then see the request taken) and changes it only `WHERE state = 'offered'
//!   AND version = $n`; and a partial unique index allows one `accepted` offer per request, so even SQL written
//!   past this module cannot make two.
//! - **An interpreter's time is never double-booked.** The accepted interpreter's time is reserved in the same
//!   transaction as the accept, through the reservations of `appointments` (the exclusion constraint / trigger
//!   of experts and devices): if their time was taken meanwhile, the accept fails with
//!   [`StoreError::ResourceBusy`] and nothing changes (the caller then records a decline).
//! - **One offer per interpreter per round**: a unique key, the domain's rule.
//! - **Every change is one transaction with its audit entry.** Audit entries carry ids, languages and states,
//!   never contact details or the request's notes.
//!
//! The request's state follows the domain's cascade with one store rule: `offered` exactly while an offer of the
//! current round is pending. A decline or expiry that leaves none pending puts it back to `open`, and the caller
//! then records the next offers ([`Store::record_offers`]) or marks it exhausted.
//!
//! Lock order (PostgreSQL), the same in every change so that two of them queue instead of deadlocking: the
//! appointment row, then the request rows by id, then the interpreter's advisory lock (`lock_resources`), then
//! reservations. SQLite's `BEGIN IMMEDIATE` serialises all writers anyway.

use crate::appointments::{audit, decode_error, placeholders, release, reserve, touch, IN_CHUNK};
use crate::{CalendarSource, Millis, NewReservation, ResourceKind, Store, StoreError};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};
use std::collections::HashMap;

/// Declares a closed set of words stored in a TEXT column, with `as_str` and `parse`.
macro_rules! stored_words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The word stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// The inverse of `as_str`.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($word => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

stored_words!(
    /// Where a request is (see the module docs for `open` vs `offered`).
    InterpreterRequestState {
        Open = "open",
        Offered = "offered",
        Accepted = "accepted",
        Exhausted = "exhausted",
        Cancelled = "cancelled",
    }
);

stored_words!(
    /// What became of one offer.
    OfferOutcome {
        /// Sent, not answered, deadline not yet handled.
        Pending = "pending",
        Accepted = "accepted",
        Declined = "declined",
        /// The deadline passed without an answer.
        Expired = "expired",
        /// Someone else accepted first, or the request was cancelled before an answer.
        Withdrawn = "withdrawn",
        /// Accepted, then the interpreter cancelled.
        Cancelled = "cancelled",
        /// Accepted, then the request (or its appointment) was cancelled.
        Released = "released",
    }
);

stored_words!(
    /// Why a request was cancelled.
    RequestCancelReason {
        AppointmentCancelled = "appointment_cancelled",
        /// The scheduler withdrew it: no interpreter is needed any more.
        NoLongerNeeded = "no_longer_needed",
    }
);

/// One language of an interpreter: a BCP 47 tag in canonical case and the competence level (1 basic,
/// 2 professional, 3 certified; `vayla_domain::interpreting::Competence::level`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LanguageLevel {
    pub language: String,
    pub level: i64,
}

/// An interpreter's registry entry as every role may see it: no contact details (see
/// [`InterpreterContactRecord`]). Also the input of [`Store::put_interpreter`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterpreterRecord {
    pub id: String,
    /// The organisation that dispatches them, for invoicing.
    pub provider: String,
    pub languages: Vec<LanguageLevel>,
    pub remote_video: bool,
    pub phone: bool,
    pub on_site: bool,
    /// Inactive interpreters are kept (their history refers to them) but should not be matched.
    pub active: bool,
    /// `Seed` follows the rooms-config at every load; `Api` was edited through the registry API and wins over
    /// the rooms-config until reverted (the calendar model's rule).
    pub source: CalendarSource,
    pub updated_by: String,
    pub updated_at: Millis,
}

/// An organisation that employs or dispatches interpreters, for invoicing. Its phone and e-mail are the
/// organisation's dispatch contact, not a person's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterpreterProviderRecord {
    pub id: String,
    pub name: String,
    /// The Finnish business id (Y-tunnus, `1234567-8`), for invoicing.
    pub business_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub updated_by: String,
    pub updated_at: Millis,
}

/// How to reach an interpreter. Only for the roles that dispatch them (and the interpreter themself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterpreterContactRecord {
    pub interpreter_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub updated_by: String,
    pub updated_at: Millis,
}

/// A scheduler's request for an interpreter for a booked appointment. `id` comes from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInterpreterRequest {
    pub id: String,
    pub appointment_id: String,
    /// BCP 47, canonical case (`vayla_domain::interpreting::LanguageTag`).
    pub language: String,
    /// `remote_video`, `phone` or `on_site`.
    pub modality: String,
    /// 1 to 3.
    pub min_level: i64,
    /// A short note for the interpreter (at most 500 characters); never audited.
    pub notes: Option<String>,
    /// How many interpreters an offer goes to at once, 1 to 5.
    pub group_size: i64,
    /// The interpreter's reservation is the appointment's slot widened by these.
    pub buffer_before_ms: Millis,
    pub buffer_after_ms: Millis,
    pub created_by: String,
    pub created_at: Millis,
}

/// One offer to send: to whom, answerable until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOffer {
    pub interpreter_id: String,
    pub deadline: Millis,
}

/// One offer as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfferRecord {
    pub interpreter_id: String,
    pub round: i64,
    pub sent_at: Millis,
    pub deadline: Millis,
    pub outcome: OfferOutcome,
    /// When the outcome was set; `None` while pending.
    pub responded_at: Option<Millis>,
}

/// A request with every offer it ever sent, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InterpreterRequestRecord {
    pub id: String,
    pub appointment_id: String,
    pub language: String,
    pub modality: String,
    pub min_level: i64,
    pub notes: Option<String>,
    pub group_size: i64,
    pub buffer_before_ms: Millis,
    pub buffer_after_ms: Millis,
    pub state: InterpreterRequestState,
    /// 1, +1 at every [`Store::reopen_interpreter_request`].
    pub round: i64,
    /// Set exactly while accepted.
    pub assigned_interpreter: Option<String>,
    /// Set exactly when cancelled.
    pub cancel_reason: Option<RequestCancelReason>,
    pub created_by: String,
    pub created_at: Millis,
    pub updated_by: String,
    pub updated_at: Millis,
    /// 0 at creation, +1 on every change.
    pub version: i64,
    pub offers: Vec<OfferRecord>,
}

impl InterpreterRequestRecord {
    /// The offers of the current round.
    pub fn current_offers(&self) -> impl Iterator<Item = &OfferRecord> {
        self.offers.iter().filter(move |o| o.round == self.round)
    }

    /// Who has a pending offer now.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.offers.iter().filter(|o| o.outcome == OfferOutcome::Pending).map(|o| o.interpreter_id.as_str())
    }
}

const REQUEST_COLUMNS: &str = "id, appointment_id, language, modality, min_level, notes, group_size, \
     buffer_before_ms, buffer_after_ms, state, round, assigned_interpreter, cancel_reason, created_by, created_at, \
     updated_by, updated_at, version";

/// The request row as a change sees it after locking it.
struct Head {
    appointment_id: String,
    state: InterpreterRequestState,
    version: i64,
    round: i64,
    assigned: Option<String>,
    buffer_before_ms: Millis,
    buffer_after_ms: Millis,
}

/// The appointment row as a change sees it after locking it.
struct Appointment {
    device: String,
    booked: bool,
    status: String,
}

impl Store {
    // -----------------------------------------------------------------------------------------------------
    // Registry

    /// Adds or replaces an interpreter's registry entry (languages replaced as a whole), audited as
    /// `interpreter_registered` with the languages and modalities.
    pub async fn put_interpreter(&self, i: &InterpreterRecord) -> Result<(), StoreError> {
        self.retrying(|| self.put_interpreter_once(i)).await
    }

    /// One interpreter's registry entry, without contact details.
    pub async fn get_interpreter(&self, id: &str) -> Result<Option<InterpreterRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(load_interpreters(&mut conn, Some(id)).await?.pop())
    }

    /// The whole registry (active or not), by id, without contact details: the input of matching.
    pub async fn list_interpreters(&self) -> Result<Vec<InterpreterRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_interpreters(&mut conn, None).await
    }

    /// Sets an interpreter's contact details. The audit entry (`interpreter_contact_updated`) names only the
    /// interpreter.
    pub async fn put_interpreter_contact(&self, c: &InterpreterContactRecord) -> Result<(), StoreError> {
        self.retrying(|| self.put_contact_once(c)).await
    }

    /// Every interpreter's contact details, by id: only for the roles that dispatch interpreters.
    pub async fn interpreter_contacts(&self) -> Result<Vec<InterpreterContactRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT interpreter_id, name, phone, email, updated_by, updated_at FROM interpreter_contacts \
             ORDER BY interpreter_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contact_from_row).collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// Adds or replaces an interpreter provider, audited as `interpreter_provider_updated` (id and name only).
    pub async fn put_interpreter_provider(&self, p: &InterpreterProviderRecord) -> Result<(), StoreError> {
        self.retrying(|| self.put_provider_once(p)).await
    }

    /// Every interpreter provider, by id.
    pub async fn interpreter_providers(&self) -> Result<Vec<InterpreterProviderRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, business_id, phone, email, updated_by, updated_at FROM interpreter_providers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(provider_from_row).collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// One interpreter provider.
    pub async fn interpreter_provider(&self, id: &str) -> Result<Option<InterpreterProviderRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, business_id, phone, email, updated_by, updated_at FROM interpreter_providers \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(provider_from_row).transpose().map_err(StoreError::from)
    }

    /// An interpreter's contact details: only for the roles that dispatch interpreters (and themself).
    pub async fn interpreter_contact(
        &self,
        interpreter_id: &str,
    ) -> Result<Option<InterpreterContactRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT interpreter_id, name, phone, email, updated_by, updated_at FROM interpreter_contacts \
             WHERE interpreter_id = $1",
        )
        .bind(interpreter_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(contact_from_row).transpose().map_err(StoreError::from)
    }

    /// How many offers each of the interpreters received since `since`, for the fairness term of the offer
    /// order. Interpreters without offers are left out (their load is 0). Sorted by id.
    pub async fn interpreter_load(&self, ids: &[String], since: Millis) -> Result<Vec<(String, i64)>, StoreError> {
        let mut load = Vec::new();
        let mut conn = self.pool.acquire().await?;
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT interpreter_id, COUNT(*) AS n FROM interpreter_offers \
                 WHERE sent_at >= $1 AND interpreter_id IN ({}) GROUP BY interpreter_id",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(since);
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&mut *conn).await? {
                load.push((row.try_get("interpreter_id")?, row.try_get("n")?));
            }
        }
        load.sort();
        Ok(load)
    }

    // -----------------------------------------------------------------------------------------------------
    // Requests and offers

    /// Records a request for an interpreter for a booked appointment (state `open`, round 1, version 0),
    /// audited as `interpreter_requested`. Not booked any more is `AppointmentClosed`, unknown `NotFound`, a
    /// duplicate id `Conflict`.
    pub async fn create_interpreter_request(
        &self,
        r: &NewInterpreterRequest,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.create_request_once(r)).await
    }

    /// Records the offers the cascade sent, in the request's current round, and moves it from `open` to
    /// `offered`. An interpreter already offered this request in this round is `Conflict` (nothing is
    /// written); a request not `open` is `InterpreterRequestWrongState`. How many go out at once (at most the
    /// request's `group_size`) and their deadlines are the domain cascade's decision, not checked here.
    pub async fn record_offers(
        &self,
        request_id: &str,
        offers: &[NewOffer],
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.record_offers_once(request_id, offers, by, at)).await
    }

    /// The interpreter accepts their pending offer at `at`: the request becomes `accepted` by them, the other
    /// pending offers are withdrawn, and their time is reserved for the appointment (slot plus the request's
    /// buffers) — all in one transaction, or nothing. Of racing accepts of one request exactly one succeeds; the
    /// others get `OfferClosed` (their offer was withdrawn). An offer past its deadline is `OfferClosed`
    /// ("expired"); their time taken meanwhile is `ResourceBusy`; the appointment no longer booked is
    /// `AppointmentClosed`.
    pub async fn accept_offer(
        &self,
        request_id: &str,
        interpreter_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.accept_once(request_id, interpreter_id, by, at)).await
    }

    /// The interpreter declines their pending offer (also after its deadline, as long as it is pending). If no
    /// offer is pending any more the request goes back to `open`.
    pub async fn decline_offer(
        &self,
        request_id: &str,
        interpreter_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.decline_once(request_id, interpreter_id, by, at)).await
    }

    /// Expires the request's pending offers whose deadline is at or before `at`; if none is left pending the
    /// request goes back to `open`. Nothing due is no change (and no version bump).
    pub async fn expire_offers(
        &self,
        request_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.expire_once(request_id, by, at)).await
    }

    /// Marks an `open` request exhausted: nobody (left) accepted, the scheduler has been told.
    pub async fn mark_interpreter_request_exhausted(
        &self,
        request_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| {
            self.set_state_once(
                request_id,
                InterpreterRequestState::Open,
                InterpreterRequestState::Exhausted,
                false,
                by,
                at,
            )
        })
        .await
    }

    /// Starts a new round of an exhausted request (the scheduler rebooks): `open` again, round + 1, so the
    /// interpreters of earlier rounds may be offered it again.
    pub async fn reopen_interpreter_request(
        &self,
        request_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| {
            self.set_state_once(
                request_id,
                InterpreterRequestState::Exhausted,
                InterpreterRequestState::Open,
                true,
                by,
                at,
            )
        })
        .await
    }

    /// The assigned interpreter cancels: their reservation is released, their offer becomes `cancelled` (so
    /// they are not offered this request again in this round), and the request goes back to `open` for the
    /// cascade to go on. Someone else than the assigned interpreter is `InterpreterRequestWrongState`.
    pub async fn cancel_by_interpreter(
        &self,
        request_id: &str,
        interpreter_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.cancel_by_interpreter_once(request_id, interpreter_id, by, at)).await
    }

    /// Cancels one request (any state but cancelled): pending offers are withdrawn, an accepted one is
    /// `released` and the interpreter's reservation released. The caller tells the released interpreter.
    pub async fn cancel_interpreter_request(
        &self,
        request_id: &str,
        reason: RequestCancelReason,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        self.retrying(|| self.cancel_requests_once(Target::Request(request_id), reason, by, at))
            .await?
            .pop()
            .ok_or_else(|| request_not_found(request_id))
    }

    /// Cancels every request of the appointment that is not cancelled yet, as [`Store::cancel_interpreter_request`]
    /// does; returns them as they are now. Call it when the appointment is cancelled, before or after
    /// [`Store::cancel_appointment`] (which releases the reservations itself). Idempotent.
    pub async fn cancel_interpreter_requests_for_appointment(
        &self,
        appointment_id: &str,
        reason: RequestCancelReason,
        by: &str,
        at: Millis,
    ) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
        self.retrying(|| self.cancel_requests_once(Target::Appointment(appointment_id), reason, by, at)).await
    }

    /// One request with all its offers.
    pub async fn get_interpreter_request(&self, id: &str) -> Result<Option<InterpreterRequestRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_request(&mut conn, id).await
    }

    /// The requests of an appointment, oldest id first.
    pub async fn interpreter_requests_for_appointment(
        &self,
        appointment_id: &str,
    ) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM interpreter_requests WHERE appointment_id = $1 ORDER BY id");
        let mut conn = self.pool.acquire().await?;
        load_requests(&mut conn, sqlx::query(&sql).bind(appointment_id)).await
    }

    /// The requests the interpreter has a pending offer for (their page), by id.
    pub async fn pending_offers_for(&self, interpreter_id: &str) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM interpreter_requests WHERE id IN (\
                 SELECT request_id FROM interpreter_offers WHERE interpreter_id = $1 AND outcome = 'pending') \
             ORDER BY id"
        );
        let mut conn = self.pool.acquire().await?;
        load_requests(&mut conn, sqlx::query(&sql).bind(interpreter_id)).await
    }

    /// The requests the interpreter accepted (still assigned, or released when the appointment was cancelled)
    /// whose appointment ends after `since`, by id: their page's "my assignments". An assignment the interpreter
    /// withdrew themself is not among them.
    pub async fn interpreter_assignments(
        &self,
        interpreter_id: &str,
        since: Millis,
    ) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM interpreter_requests WHERE id IN (\
                 SELECT request_id FROM interpreter_offers \
                 WHERE interpreter_id = $1 AND outcome IN ('accepted', 'released')) \
             AND appointment_id IN (SELECT id FROM appointments WHERE end_ms > $2) \
             ORDER BY id"
        );
        let mut conn = self.pool.acquire().await?;
        load_requests(&mut conn, sqlx::query(&sql).bind(interpreter_id).bind(since)).await
    }

    /// The requests with a pending offer whose deadline is at or before `at`: what the deadline timer expires.
    pub async fn requests_with_due_offers(&self, at: Millis) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT request_id FROM interpreter_offers WHERE outcome = 'pending' AND deadline <= $1 \
             ORDER BY request_id",
        )
        .bind(at)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The earliest deadline of any pending offer: when the deadline timer should wake next.
    pub async fn next_offer_deadline(&self) -> Result<Option<Millis>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MIN(deadline) FROM interpreter_offers WHERE outcome = 'pending'")
            .fetch_one(&self.pool)
            .await?)
    }

    // -----------------------------------------------------------------------------------------------------
    // One attempt of each change

    async fn put_interpreter_once(&self, i: &InterpreterRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO interpreters (id, provider, remote_video, phone, on_site, active, updated_by, updated_at, \
                 source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET provider = $2, remote_video = $3, phone = $4, on_site = $5, \
                 active = $6, updated_by = $7, updated_at = $8, source = $9",
        )
        .bind(&i.id)
        .bind(&i.provider)
        .bind(i64::from(i.remote_video))
        .bind(i64::from(i.phone))
        .bind(i64::from(i.on_site))
        .bind(i64::from(i.active))
        .bind(&i.updated_by)
        .bind(i.updated_at)
        .bind(i.source.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM interpreter_languages WHERE interpreter_id = $1")
            .bind(&i.id)
            .execute(&mut *tx)
            .await?;
        for l in &i.languages {
            sqlx::query("INSERT INTO interpreter_languages (interpreter_id, language, level) VALUES ($1, $2, $3)")
                .bind(&i.id)
                .bind(&l.language)
                .bind(l.level)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::unique_as_conflict(e, "interpreter language", format!("{}/{}", i.id, l.language))
                })?;
        }
        let languages: Vec<String> = i.languages.iter().map(|l| format!("{}:{}", l.language, l.level)).collect();
        let modalities: Vec<&str> = [(i.remote_video, "remote_video"), (i.phone, "phone"), (i.on_site, "on_site")]
            .into_iter()
            .filter_map(|(on, word)| on.then_some(word))
            .collect();
        let detail = format!(
            "interpreter={} provider={} languages={} modalities={} active={} source={}",
            i.id,
            i.provider,
            languages.join(","),
            modalities.join(","),
            i.active,
            i.source.as_str()
        );
        audit_registry(&mut tx, "interpreter_registered", &i.updated_by, &detail, i.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_contact_once(&self, c: &InterpreterContactRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO interpreter_contacts (interpreter_id, name, phone, email, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (interpreter_id) DO UPDATE SET name = $2, phone = $3, email = $4, updated_by = $5, \
                 updated_at = $6",
        )
        .bind(&c.interpreter_id)
        .bind(&c.name)
        .bind(c.phone.as_deref())
        .bind(c.email.as_deref())
        .bind(&c.updated_by)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await?;
        let detail = format!("interpreter={}", c.interpreter_id);
        audit_registry(&mut tx, "interpreter_contact_updated", &c.updated_by, &detail, c.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_provider_once(&self, p: &InterpreterProviderRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO interpreter_providers (id, name, business_id, phone, email, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET name = $2, business_id = $3, phone = $4, email = $5, updated_by = $6, \
                 updated_at = $7",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.business_id.as_deref())
        .bind(p.phone.as_deref())
        .bind(p.email.as_deref())
        .bind(&p.updated_by)
        .bind(p.updated_at)
        .execute(&mut *tx)
        .await?;
        let detail = format!("provider={} name={}", p.id, p.name);
        audit_registry(&mut tx, "interpreter_provider_updated", &p.updated_by, &detail, p.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_request_once(&self, r: &NewInterpreterRequest) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let appointment = lock_appointment(&mut tx, &r.appointment_id).await?;
        if !appointment.booked {
            return Err(StoreError::AppointmentClosed { id: r.appointment_id.clone(), status: appointment.status });
        }
        sqlx::query(
            "INSERT INTO interpreter_requests (id, appointment_id, language, modality, min_level, notes, group_size, \
                 buffer_before_ms, buffer_after_ms, state, round, created_by, created_at, updated_by, updated_at, \
                 version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', 1, $10, $11, $10, $11, 0)",
        )
        .bind(&r.id)
        .bind(&r.appointment_id)
        .bind(&r.language)
        .bind(&r.modality)
        .bind(r.min_level)
        .bind(r.notes.as_deref())
        .bind(r.group_size)
        .bind(r.buffer_before_ms)
        .bind(r.buffer_after_ms)
        .bind(&r.created_by)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "interpreter request", &r.id))?;
        let detail = format!(
            "request={} appointment={} language={} modality={} min_level={} group={}",
            r.id, r.appointment_id, r.language, r.modality, r.min_level, r.group_size
        );
        audit(&mut tx, "interpreter_requested", &appointment.device, &r.created_by, &detail, r.created_at).await?;
        let record = load_request(&mut tx, &r.id).await?.ok_or_else(|| request_not_found(&r.id))?;
        tx.commit().await?;
        Ok(record)
    }

    async fn record_offers_once(
        &self,
        id: &str,
        offers: &[NewOffer],
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let head = lock_request(&mut tx, id).await?;
        require_state(id, &head, InterpreterRequestState::Open)?;
        if offers.is_empty() {
            return Err(StoreError::InterpreterRequestWrongState {
                id: id.to_owned(),
                state: head.state.as_str(),
                wanted: "given at least one offer",
            });
        }
        for o in offers {
            sqlx::query(
                "INSERT INTO interpreter_offers (request_id, interpreter_id, round, sent_at, deadline, outcome) \
                 VALUES ($1, $2, $3, $4, $5, 'pending')",
            )
            .bind(id)
            .bind(&o.interpreter_id)
            .bind(head.round)
            .bind(at)
            .bind(o.deadline)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::unique_as_conflict(
                    e,
                    "interpreter offer in this round",
                    format!("{id}/{}/{}", o.interpreter_id, head.round),
                )
            })?;
        }
        set_state(&mut tx, id, &head, InterpreterRequestState::Offered, None, by, at).await?;
        let to: Vec<&str> = offers.iter().map(|o| o.interpreter_id.as_str()).collect();
        let deadlines: Vec<String> = offers.iter().map(|o| o.deadline.to_string()).collect();
        let detail = format!("{} to={} deadline={}", ident(id, &head), to.join(","), deadlines.join(","));
        self.audit_request(&mut tx, "interpreter_offered", &head, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn accept_once(
        &self,
        id: &str,
        interpreter: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        // Lock order: the appointment first (see the module docs), then the request.
        let appointment_id = appointment_of(&mut tx, id).await?;
        let appointment = lock_appointment(&mut tx, &appointment_id).await?;
        let head = lock_request(&mut tx, id).await?;
        let (outcome, deadline) = offer_in_round(&mut tx, id, interpreter, head.round).await?;
        if outcome != Some(OfferOutcome::Pending) {
            return Err(offer_closed(id, interpreter, outcome.map_or("not offered", OfferOutcome::as_str)));
        }
        if at >= deadline {
            return Err(offer_closed(id, interpreter, "expired"));
        }
        if !appointment.booked {
            return Err(StoreError::AppointmentClosed { id: appointment_id, status: appointment.status });
        }
        require_state(id, &head, InterpreterRequestState::Offered)?;
        set_state(&mut tx, id, &head, InterpreterRequestState::Accepted, Some(interpreter), by, at).await?;
        let accepted = sqlx::query(
            "UPDATE interpreter_offers SET outcome = 'accepted', responded_at = $4 \
             WHERE request_id = $1 AND interpreter_id = $2 AND round = $3 AND outcome = 'pending'",
        )
        .bind(id)
        .bind(interpreter)
        .bind(head.round)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "accepted offer of request", id))?;
        if accepted.rows_affected() != 1 {
            return Err(offer_closed(id, interpreter, "not pending"));
        }
        let withdrawn = close_pending(&mut tx, id, OfferOutcome::Withdrawn, at).await?;
        // Reserve their time under the appointments' rule, in this transaction: refused means nothing happened.
        let touched = touch(&mut tx, &appointment_id, by, at).await?;
        let wanted = [NewReservation {
            kind: ResourceKind::Interpreter,
            resource_id: interpreter.to_owned(),
            start_ms: touched.start_ms - head.buffer_before_ms,
            end_ms: touched.end_ms + head.buffer_after_ms,
        }];
        self.lock_resources(&mut tx, [(ResourceKind::Interpreter, interpreter)]).await?;
        reserve(&mut tx, &appointment_id, &wanted, at).await?;
        let detail = format!(
            "{} interpreter={interpreter} withdrawn={} reserved={}..{} sequence={}",
            ident(id, &head),
            withdrawn.join(","),
            wanted[0].start_ms,
            wanted[0].end_ms,
            touched.sequence
        );
        audit(&mut tx, "interpreter_offer_accepted", &appointment.device, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn decline_once(
        &self,
        id: &str,
        interpreter: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let head = lock_request(&mut tx, id).await?;
        let (outcome, _) = offer_in_round(&mut tx, id, interpreter, head.round).await?;
        if outcome != Some(OfferOutcome::Pending) {
            return Err(offer_closed(id, interpreter, outcome.map_or("not offered", OfferOutcome::as_str)));
        }
        sqlx::query(
            "UPDATE interpreter_offers SET outcome = 'declined', responded_at = $4 \
             WHERE request_id = $1 AND interpreter_id = $2 AND round = $3 AND outcome = 'pending'",
        )
        .bind(id)
        .bind(interpreter)
        .bind(head.round)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let next = if pending_count(&mut tx, id).await? == 0 {
            InterpreterRequestState::Open
        } else {
            InterpreterRequestState::Offered
        };
        set_state(&mut tx, id, &head, next, None, by, at).await?;
        let detail = format!("{} interpreter={interpreter} state={}", ident(id, &head), next.as_str());
        self.audit_request(&mut tx, "interpreter_offer_declined", &head, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn expire_once(&self, id: &str, by: &str, at: Millis) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let head = lock_request(&mut tx, id).await?;
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT interpreter_id FROM interpreter_offers \
             WHERE request_id = $1 AND outcome = 'pending' AND deadline <= $2 ORDER BY interpreter_id",
        )
        .bind(id)
        .bind(at)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return finish(tx, id).await;
        }
        sqlx::query(
            "UPDATE interpreter_offers SET outcome = 'expired', responded_at = $2 \
             WHERE request_id = $1 AND outcome = 'pending' AND deadline <= $2",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let next = if pending_count(&mut tx, id).await? == 0 {
            InterpreterRequestState::Open
        } else {
            InterpreterRequestState::Offered
        };
        set_state(&mut tx, id, &head, next, None, by, at).await?;
        let detail = format!("{} expired={} state={}", ident(id, &head), due.join(","), next.as_str());
        self.audit_request(&mut tx, "interpreter_offers_expired", &head, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn set_state_once(
        &self,
        id: &str,
        from: InterpreterRequestState,
        to: InterpreterRequestState,
        new_round: bool,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut head = lock_request(&mut tx, id).await?;
        require_state(id, &head, from)?;
        if new_round {
            sqlx::query("UPDATE interpreter_requests SET round = round + 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            head.round += 1;
        }
        set_state(&mut tx, id, &head, to, None, by, at).await?;
        let kind = if new_round { "interpreter_request_reopened" } else { "interpreter_request_exhausted" };
        let detail = ident(id, &head);
        self.audit_request(&mut tx, kind, &head, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn cancel_by_interpreter_once(
        &self,
        id: &str,
        interpreter: &str,
        by: &str,
        at: Millis,
    ) -> Result<InterpreterRequestRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let appointment_id = appointment_of(&mut tx, id).await?;
        let appointment = lock_appointment(&mut tx, &appointment_id).await?;
        let head = lock_request(&mut tx, id).await?;
        if head.state != InterpreterRequestState::Accepted || head.assigned.as_deref() != Some(interpreter) {
            return Err(StoreError::InterpreterRequestWrongState {
                id: id.to_owned(),
                state: head.state.as_str(),
                wanted: "accepted by this interpreter",
            });
        }
        if !appointment.booked {
            return Err(StoreError::AppointmentClosed { id: appointment_id, status: appointment.status });
        }
        let released = self.release_assigned(&mut tx, &appointment_id, interpreter, by, at).await?;
        sqlx::query(
            "UPDATE interpreter_offers SET outcome = 'cancelled', responded_at = $3 \
             WHERE request_id = $1 AND interpreter_id = $2 AND outcome = 'accepted'",
        )
        .bind(id)
        .bind(interpreter)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        set_state(&mut tx, id, &head, InterpreterRequestState::Open, None, by, at).await?;
        let detail = format!("{} interpreter={interpreter} released={released}", ident(id, &head));
        audit(&mut tx, "interpreter_cancelled", &appointment.device, by, &detail, at).await?;
        finish(tx, id).await
    }

    async fn cancel_requests_once(
        &self,
        target: Target<'_>,
        reason: RequestCancelReason,
        by: &str,
        at: Millis,
    ) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        let appointment_id = match target {
            Target::Request(id) => appointment_of(&mut tx, id).await?,
            Target::Appointment(a) => a.to_owned(),
        };
        // Locked before listing its requests: creating one locks the appointment too, so none can slip in.
        let appointment = lock_appointment(&mut tx, &appointment_id).await?;
        let ids: Vec<String> = match target {
            Target::Request(id) => vec![id.to_owned()],
            Target::Appointment(a) => sqlx::query_scalar(
                "SELECT id FROM interpreter_requests WHERE appointment_id = $1 AND state <> 'cancelled' ORDER BY id",
            )
            .bind(a)
            .fetch_all(&mut *tx)
            .await?,
        };
        // A cancelled appointment has released everything already; a completed or no-show one keeps its
        // reservations as the record of who was booked, so its requests are history too.
        if !appointment.booked && appointment.status != "cancelled" {
            return Err(StoreError::AppointmentClosed { id: appointment_id, status: appointment.status });
        }
        let mut done = Vec::new();
        for id in &ids {
            let head = lock_request(&mut tx, id).await?;
            if head.state == InterpreterRequestState::Cancelled {
                if matches!(target, Target::Request(_)) {
                    return Err(StoreError::InterpreterRequestWrongState {
                        id: id.clone(),
                        state: head.state.as_str(),
                        wanted: "not cancelled",
                    });
                }
                continue;
            }
            let withdrawn = close_pending(&mut tx, id, OfferOutcome::Withdrawn, at).await?;
            let mut released = String::new();
            if let Some(interpreter) = head.assigned.as_deref() {
                sqlx::query(
                    "UPDATE interpreter_offers SET outcome = 'released', responded_at = $2 \
                     WHERE request_id = $1 AND outcome = 'accepted'",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if appointment.booked {
                    self.release_assigned(&mut tx, &appointment_id, interpreter, by, at).await?;
                }
                released = interpreter.to_owned();
            }
            sqlx::query(
                "UPDATE interpreter_requests SET state = 'cancelled', cancel_reason = $2, assigned_interpreter = NULL, \
                     updated_by = $3, updated_at = $4, version = version + 1 \
                 WHERE id = $1 AND version = $5",
            )
            .bind(id)
            .bind(reason.as_str())
            .bind(by)
            .bind(at)
            .bind(head.version)
            .execute(&mut *tx)
            .await?;
            let detail = format!(
                "{} reason={} withdrawn={} released={released}",
                ident(id, &head),
                reason.as_str(),
                withdrawn.join(",")
            );
            audit(&mut tx, "interpreter_request_cancelled", &appointment.device, by, &detail, at).await?;
            done.push(id.clone());
        }
        let mut records = Vec::new();
        for id in &done {
            records.push(load_request(&mut tx, id).await?.ok_or_else(|| request_not_found(id))?);
        }
        tx.commit().await?;
        Ok(records)
    }

    /// Releases the interpreter's active reservation of the (booked, locked) appointment; returns how many were
    /// released (0 if a reschedule already dropped it).
    async fn release_assigned(
        &self,
        conn: &mut AnyConnection,
        appointment_id: &str,
        interpreter: &str,
        by: &str,
        at: Millis,
    ) -> Result<u64, StoreError> {
        touch(conn, appointment_id, by, at).await?;
        self.lock_resources(conn, [(ResourceKind::Interpreter, interpreter)]).await?;
        release(conn, appointment_id, Some((ResourceKind::Interpreter, interpreter)), at).await
    }

    /// An audit entry in the room of the request's appointment's device.
    async fn audit_request(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        head: &Head,
        by: &str,
        detail: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let device: String = sqlx::query_scalar("SELECT device FROM appointments WHERE id = $1")
            .bind(&head.appointment_id)
            .fetch_one(&mut *conn)
            .await?;
        audit(conn, kind, &device, by, detail, at).await
    }
}

/// An audit entry about the registry: no room.
async fn audit_registry(
    conn: &mut AnyConnection,
    kind: &str,
    by: &str,
    detail: &str,
    at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, kind, subject, detail) VALUES ($1, $2, $3, $4)")
        .bind(at)
        .bind(kind)
        .bind(by)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Which requests a cancellation covers.
#[derive(Clone, Copy)]
enum Target<'a> {
    Request(&'a str),
    Appointment(&'a str),
}

/// The request's appointment (never changes, so it needs no lock).
async fn appointment_of(conn: &mut AnyConnection, id: &str) -> Result<String, StoreError> {
    sqlx::query_scalar("SELECT appointment_id FROM interpreter_requests WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| request_not_found(id))
}

/// Locks the appointment row (on PostgreSQL; SQLite's writer lock is already held) with an update that changes
/// nothing, and reads what a change needs.
async fn lock_appointment(conn: &mut AnyConnection, id: &str) -> Result<Appointment, StoreError> {
    let row = sqlx::query("UPDATE appointments SET sequence = sequence WHERE id = $1 RETURNING device, status")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "appointment", id: id.to_owned() })?;
    let status: String = row.try_get("status")?;
    Ok(Appointment { device: row.try_get("device")?, booked: status == "booked", status })
}

/// Locks the request row the same way and reads its head: a racing change of the same request waits here
/// until this transaction ends, then reads what it left.
async fn lock_request(conn: &mut AnyConnection, id: &str) -> Result<Head, StoreError> {
    let row = sqlx::query(
        "UPDATE interpreter_requests SET version = version WHERE id = $1 \
         RETURNING appointment_id, state, version, round, assigned_interpreter, buffer_before_ms, buffer_after_ms",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| request_not_found(id))?;
    let state: String = row.try_get("state")?;
    Ok(Head {
        appointment_id: row.try_get("appointment_id")?,
        state: InterpreterRequestState::parse(&state).ok_or_else(|| decode_error("state", &state))?,
        version: row.try_get("version")?,
        round: row.try_get("round")?,
        assigned: row.try_get("assigned_interpreter")?,
        buffer_before_ms: row.try_get("buffer_before_ms")?,
        buffer_after_ms: row.try_get("buffer_after_ms")?,
    })
}

fn require_state(id: &str, head: &Head, wanted: InterpreterRequestState) -> Result<(), StoreError> {
    if head.state == wanted {
        Ok(())
    } else {
        Err(StoreError::InterpreterRequestWrongState {
            id: id.to_owned(),
            state: head.state.as_str(),
            wanted: wanted.as_str(),
        })
    }
}

/// Moves the request to `state` (with the assigned interpreter, set exactly when accepted), version + 1, guarded
/// by the version read under the lock: a mismatch means a writer skipped the lock, and is refused.
async fn set_state(
    conn: &mut AnyConnection,
    id: &str,
    head: &Head,
    state: InterpreterRequestState,
    assigned: Option<&str>,
    by: &str,
    at: Millis,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE interpreter_requests SET state = $2, assigned_interpreter = $3, updated_by = $4, updated_at = $5, \
             version = version + 1 \
         WHERE id = $1 AND state = $6 AND version = $7",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(assigned)
    .bind(by)
    .bind(at)
    .bind(head.state.as_str())
    .bind(head.version)
    .execute(conn)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict { what: "interpreter request version", id: format!("{id}@{}", head.version) })
    }
}

/// The outcome and deadline of the interpreter's offer of the request in `round`, if there is one.
async fn offer_in_round(
    conn: &mut AnyConnection,
    id: &str,
    interpreter: &str,
    round: i64,
) -> Result<(Option<OfferOutcome>, Millis), StoreError> {
    let row = sqlx::query(
        "SELECT outcome, deadline FROM interpreter_offers WHERE request_id = $1 AND interpreter_id = $2 AND round = $3",
    )
    .bind(id)
    .bind(interpreter)
    .bind(round)
    .fetch_optional(conn)
    .await?;
    match row {
        None => Ok((None, 0)),
        Some(row) => {
            let outcome: String = row.try_get("outcome")?;
            let outcome = OfferOutcome::parse(&outcome).ok_or_else(|| decode_error("outcome", &outcome))?;
            Ok((Some(outcome), row.try_get("deadline")?))
        }
    }
}

async fn pending_count(conn: &mut AnyConnection, id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM interpreter_offers WHERE request_id = $1 AND outcome = 'pending'")
        .bind(id)
        .fetch_one(conn)
        .await?)
}

/// Closes every pending offer of the request with `outcome`; returns whose, by id.
async fn close_pending(
    conn: &mut AnyConnection,
    id: &str,
    outcome: OfferOutcome,
    at: Millis,
) -> Result<Vec<String>, StoreError> {
    let whose: Vec<String> = sqlx::query_scalar(
        "SELECT interpreter_id FROM interpreter_offers WHERE request_id = $1 AND outcome = 'pending' \
         ORDER BY interpreter_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE interpreter_offers SET outcome = $2, responded_at = $3 WHERE request_id = $1 AND outcome = 'pending'",
    )
    .bind(id)
    .bind(outcome.as_str())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(whose)
}

/// Reads the request back and commits.
async fn finish(mut tx: sqlx::Transaction<'static, Any>, id: &str) -> Result<InterpreterRequestRecord, StoreError> {
    let record = load_request(&mut tx, id).await?.ok_or_else(|| request_not_found(id))?;
    tx.commit().await?;
    Ok(record)
}

async fn load_request(conn: &mut AnyConnection, id: &str) -> Result<Option<InterpreterRequestRecord>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM interpreter_requests WHERE id = $1");
    Ok(load_requests(conn, sqlx::query(&sql).bind(id)).await?.pop())
}

/// Runs a query selecting request rows, then fetches their offers on the same connection.
async fn load_requests<'q>(
    conn: &mut AnyConnection,
    query: Query<'q, Any, AnyArguments<'q>>,
) -> Result<Vec<InterpreterRequestRecord>, StoreError> {
    let mut requests: Vec<InterpreterRequestRecord> =
        query.fetch_all(&mut *conn).await?.iter().map(request_from_row).collect::<Result<_, _>>()?;
    let index: HashMap<String, usize> = requests.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    let ids: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT request_id, interpreter_id, round, sent_at, deadline, outcome, responded_at \
             FROM interpreter_offers WHERE request_id IN ({}) ORDER BY id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let owner: String = row.try_get("request_id")?;
            let outcome: String = row.try_get("outcome")?;
            requests[index[&owner]].offers.push(OfferRecord {
                interpreter_id: row.try_get("interpreter_id")?,
                round: row.try_get("round")?,
                sent_at: row.try_get("sent_at")?,
                deadline: row.try_get("deadline")?,
                outcome: OfferOutcome::parse(&outcome).ok_or_else(|| decode_error("outcome", &outcome))?,
                responded_at: row.try_get("responded_at")?,
            });
        }
    }
    Ok(requests)
}

fn request_from_row(row: &AnyRow) -> Result<InterpreterRequestRecord, sqlx::Error> {
    let state: String = row.try_get("state")?;
    let reason: Option<String> = row.try_get("cancel_reason")?;
    Ok(InterpreterRequestRecord {
        id: row.try_get("id")?,
        appointment_id: row.try_get("appointment_id")?,
        language: row.try_get("language")?,
        modality: row.try_get("modality")?,
        min_level: row.try_get("min_level")?,
        notes: row.try_get("notes")?,
        group_size: row.try_get("group_size")?,
        buffer_before_ms: row.try_get("buffer_before_ms")?,
        buffer_after_ms: row.try_get("buffer_after_ms")?,
        state: InterpreterRequestState::parse(&state).ok_or_else(|| decode_error("state", &state))?,
        round: row.try_get("round")?,
        assigned_interpreter: row.try_get("assigned_interpreter")?,
        cancel_reason: reason
            .map(|r| RequestCancelReason::parse(&r).ok_or_else(|| decode_error("cancel_reason", &r)))
            .transpose()?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
        offers: Vec::new(),
    })
}

/// The registry: one interpreter (`only`) or all, with their languages.
async fn load_interpreters(conn: &mut AnyConnection, only: Option<&str>) -> Result<Vec<InterpreterRecord>, StoreError> {
    let filter = if only.is_some() { "WHERE id = $1" } else { "" };
    let sql = format!(
        "SELECT id, provider, remote_video, phone, on_site, active, source, updated_by, updated_at \
         FROM interpreters {filter} ORDER BY id"
    );
    let mut q = sqlx::query(&sql);
    if let Some(id) = only {
        q = q.bind(id);
    }
    let mut interpreters = Vec::new();
    for row in q.fetch_all(&mut *conn).await? {
        let source: String = row.try_get("source")?;
        interpreters.push(InterpreterRecord {
            id: row.try_get("id")?,
            provider: row.try_get("provider")?,
            languages: Vec::new(),
            remote_video: row.try_get::<i64, _>("remote_video")? != 0,
            phone: row.try_get::<i64, _>("phone")? != 0,
            on_site: row.try_get::<i64, _>("on_site")? != 0,
            active: row.try_get::<i64, _>("active")? != 0,
            source: match source.as_str() {
                "seed" => CalendarSource::Seed,
                "api" => CalendarSource::Api,
                other => return Err(decode_error("source", other).into()),
            },
            updated_by: row.try_get("updated_by")?,
            updated_at: row.try_get("updated_at")?,
        });
    }
    let index: HashMap<String, usize> = interpreters.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    let sql = format!(
        "SELECT interpreter_id, language, level FROM interpreter_languages {} ORDER BY interpreter_id, language",
        if only.is_some() { "WHERE interpreter_id = $1" } else { "" }
    );
    let mut q = sqlx::query(&sql);
    if let Some(id) = only {
        q = q.bind(id);
    }
    for row in q.fetch_all(&mut *conn).await? {
        let owner: String = row.try_get("interpreter_id")?;
        if let Some(&i) = index.get(&owner) {
            interpreters[i]
                .languages
                .push(LanguageLevel { language: row.try_get("language")?, level: row.try_get("level")? });
        }
    }
    Ok(interpreters)
}

fn contact_from_row(row: &AnyRow) -> Result<InterpreterContactRecord, sqlx::Error> {
    Ok(InterpreterContactRecord {
        interpreter_id: row.try_get("interpreter_id")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn provider_from_row(row: &AnyRow) -> Result<InterpreterProviderRecord, sqlx::Error> {
    Ok(InterpreterProviderRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        business_id: row.try_get("business_id")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn request_not_found(id: &str) -> StoreError {
    StoreError::NotFound { what: "interpreter request", id: id.to_owned() }
}

fn offer_closed(request: &str, interpreter: &str, outcome: &'static str) -> StoreError {
    StoreError::OfferClosed { request: request.to_owned(), interpreter: interpreter.to_owned(), outcome }
}

/// The start of every request audit detail: `request=<id> appointment=<id> round=<n> version=<n>` (the version
/// before the change).
fn ident(id: &str, head: &Head) -> String {
    format!("request={id} appointment={} round={} version={}", head.appointment_id, head.round, head.version)
}
