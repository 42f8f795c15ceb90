//! The walk-in queue, the persistence half: tickets (a service point's request for the next free expert of an
//! agency) and who is on duty for walk-in customers. *Which* ticket an expert sees and how long a customer waits
//! is `vayla-domain`'s `walkin` (pure); this module records tickets and guarantees what must hold whatever the
//! caller does:
//!
//! - **One open ticket per device** (`waiting` or `accepted`): a partial unique index; a second one is
//!   [`StoreError::Conflict`].
//! - **Racing accepts end with one expert** (and, when one was asked, one interpreter). An accept is one guarded
//!   `UPDATE … WHERE status = 'waiting' AND accepted_by IS NULL`, bumping `version`: on PostgreSQL a racing accept
//!   waits for the first to commit, re-checks the condition on the new row and changes nothing; SQLite serialises
//!   writers (`BEGIN IMMEDIATE`). The loser gets [`StoreError::TicketTaken`].
//! - **Every change is one transaction with its audit entry** (kind `walkin_*`, room = the device, subject = who
//!   did it, detail `ticket=<id> …`). Nothing about the customer is stored beyond the language asked for.
//! - Every change is conditional on the state it starts from, so the server's handlers and its timeout task may
//!   race freely: the second one to touch a ticket finds it changed and gets [`StoreError::TicketWrongState`].

use crate::{Millis, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// Where a ticket is (vayla-domain's `walkin::TicketStatus`; the words of the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalkinStatus {
    Waiting,
    Accepted,
    Served,
    Cancelled,
    Abandoned,
    Expired,
}

impl WalkinStatus {
    pub const ALL: [WalkinStatus; 6] = [
        WalkinStatus::Waiting,
        WalkinStatus::Accepted,
        WalkinStatus::Served,
        WalkinStatus::Cancelled,
        WalkinStatus::Abandoned,
        WalkinStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WalkinStatus::Waiting => "waiting",
            WalkinStatus::Accepted => "accepted",
            WalkinStatus::Served => "served",
            WalkinStatus::Cancelled => "cancelled",
            WalkinStatus::Abandoned => "abandoned",
            WalkinStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<WalkinStatus> {
        WalkinStatus::ALL.into_iter().find(|w| w.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        matches!(self, WalkinStatus::Waiting | WalkinStatus::Accepted)
    }
}

/// Which side of a ticket someone accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalkinSide {
    Expert,
    Interpreter,
}

impl WalkinSide {
    pub fn as_str(self) -> &'static str {
        match self {
            WalkinSide::Expert => "expert",
            WalkinSide::Interpreter => "interpreter",
        }
    }
}

/// A ticket as a service point asks for it. `id` comes from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWalkinTicket {
    pub id: String,
    pub device: String,
    pub service_point: String,
    pub agency: String,
    pub service: Option<String>,
    /// The customer's language, BCP 47.
    pub language: String,
    /// The language to interpret; `None` when no interpreter is needed.
    pub interpreter_language: Option<String>,
    /// The device or advisor who asked.
    pub created_by: String,
    pub created_at: Millis,
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalkinTicketRecord {
    pub id: String,
    pub device: String,
    pub service_point: String,
    pub agency: String,
    pub service: Option<String>,
    pub language: String,
    pub interpreter_language: Option<String>,
    pub status: WalkinStatus,
    pub created_at: Millis,
    pub created_by: String,
    /// When everyone the ticket needs had accepted.
    pub accepted_at: Option<Millis>,
    /// The expert who accepted.
    pub accepted_by: Option<String>,
    pub expert_accepted_at: Option<Millis>,
    pub interpreter: Option<String>,
    pub interpreter_accepted_at: Option<Millis>,
    pub session_id: Option<String>,
    pub closed_at: Option<Millis>,
    pub close_reason: Option<String>,
    pub closed_by: Option<String>,
    /// 0 at creation, +1 on every change.
    pub version: i64,
}

const COLUMNS: &str = "id, device, service_point, agency, service, language, interpreter_language, status, \
    created_at, created_by, accepted_at, accepted_by, expert_accepted_at, interpreter, interpreter_accepted_at, \
    session_id, closed_at, close_reason, closed_by, version";

fn from_row(row: &AnyRow) -> Result<WalkinTicketRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(WalkinTicketRecord {
        id: row.try_get("id")?,
        device: row.try_get("device")?,
        service_point: row.try_get("service_point")?,
        agency: row.try_get("agency")?,
        service: row.try_get("service")?,
        language: row.try_get("language")?,
        interpreter_language: row.try_get("interpreter_language")?,
        status: WalkinStatus::parse(&status)
            .ok_or_else(|| crate::appointments::decode_error("walkin_tickets.status", &status))?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        accepted_at: row.try_get("accepted_at")?,
        accepted_by: row.try_get("accepted_by")?,
        expert_accepted_at: row.try_get("expert_accepted_at")?,
        interpreter: row.try_get("interpreter")?,
        interpreter_accepted_at: row.try_get("interpreter_accepted_at")?,
        session_id: row.try_get("session_id")?,
        closed_at: row.try_get("closed_at")?,
        close_reason: row.try_get("close_reason")?,
        closed_by: row.try_get("closed_by")?,
        version: row.try_get("version")?,
    })
}

/// One on-duty switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WalkinDutyRecord {
    pub subject: String,
    /// `expert` or `interpreter`.
    pub role: String,
    pub on_duty: bool,
    pub since: Millis,
}

async fn audit(
    conn: &mut AnyConnection,
    kind: &str,
    t: &WalkinTicketRecord,
    session: Option<&str>,
    by: &str,
    detail: &str,
    at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, kind, room, session, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(at)
        .bind(kind)
        .bind(&t.device)
        .bind(session)
        .bind(by)
        .bind(format!("ticket={} agency={} {detail}", t.id, t.agency).trim_end().to_string())
        .execute(conn)
        .await?;
    Ok(())
}

async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<WalkinTicketRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM walkin_tickets WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound { what: "walk-in ticket", id: id.to_owned() }
}

fn wrong_state(t: &WalkinTicketRecord, wanted: &'static str) -> StoreError {
    StoreError::TicketWrongState { id: t.id.clone(), status: t.status.as_str(), wanted }
}

impl Store {
    /// Records a new `waiting` ticket. A device with an open ticket already gets `Conflict` (what "open walk-in
    /// ticket", id the device).
    pub async fn create_walkin_ticket(&self, t: &NewWalkinTicket) -> Result<WalkinTicketRecord, StoreError> {
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO walkin_tickets (id, device, service_point, agency, service, language, \
                 interpreter_language, status, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8, $9)",
            )
            .bind(&t.id)
            .bind(&t.device)
            .bind(&t.service_point)
            .bind(&t.agency)
            .bind(&t.service)
            .bind(&t.language)
            .bind(&t.interpreter_language)
            .bind(t.created_at)
            .bind(&t.created_by)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique_as_conflict(e, "open walk-in ticket", &t.device))?;
            let record = load(&mut tx, &t.id).await?.ok_or_else(|| not_found(&t.id))?;
            let detail = format!(
                "service={} language={} interpreter={}",
                t.service.as_deref().unwrap_or("-"),
                t.language,
                t.interpreter_language.as_deref().unwrap_or("-")
            );
            audit(&mut tx, "walkin_created", &record, None, &t.created_by, &detail, t.created_at).await?;
            tx.commit().await?;
            Ok(record)
        })
        .await
    }

    pub async fn walkin_ticket(&self, id: &str) -> Result<Option<WalkinTicketRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, id).await
    }

    /// Every open ticket (`waiting` or `accepted`), of one agency or of all, oldest first (ties by id).
    pub async fn open_walkin_tickets(&self, agency: Option<&str>) -> Result<Vec<WalkinTicketRecord>, StoreError> {
        let rows = match agency {
            Some(a) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM walkin_tickets WHERE status IN ('waiting', 'accepted') AND agency = $1 \
                     ORDER BY created_at, id"
                );
                sqlx::query(&sql).bind(a).fetch_all(&self.pool).await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM walkin_tickets WHERE status IN ('waiting', 'accepted') ORDER BY created_at, id"
                );
                sqlx::query(&sql).fetch_all(&self.pool).await?
            }
        };
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The device's open ticket, if it has one.
    pub async fn open_walkin_ticket_for_device(&self, device: &str) -> Result<Option<WalkinTicketRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM walkin_tickets WHERE device = $1 AND status IN ('waiting', 'accepted')");
        let row = sqlx::query(&sql).bind(device).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The ticket a session was opened for, if any.
    pub async fn walkin_ticket_for_session(&self, session: &str) -> Result<Option<WalkinTicketRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM walkin_tickets WHERE session_id = $1");
        let row = sqlx::query(&sql).bind(session).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// `who` accepts the ticket as its expert or interpreter. Only a `waiting` ticket whose side is still free
    /// (and, for an interpreter, that asked for one) can be accepted; the ticket becomes `accepted` (with
    /// `accepted_at`) once everyone it needs has. Of racing accepts of one side exactly one succeeds; the others
    /// get [`StoreError::TicketTaken`]. A closed ticket is [`StoreError::TicketWrongState`].
    pub async fn accept_walkin_ticket(
        &self,
        id: &str,
        side: WalkinSide,
        who: &str,
        at: Millis,
    ) -> Result<WalkinTicketRecord, StoreError> {
        let sql = match side {
            WalkinSide::Expert => {
                "UPDATE walkin_tickets SET accepted_by = $2, expert_accepted_at = $3, version = version + 1, \
                 status = CASE WHEN interpreter_language IS NULL OR interpreter IS NOT NULL THEN 'accepted' ELSE status END, \
                 accepted_at = CASE WHEN interpreter_language IS NULL OR interpreter IS NOT NULL THEN $3 ELSE accepted_at END \
                 WHERE id = $1 AND status = 'waiting' AND accepted_by IS NULL"
            }
            WalkinSide::Interpreter => {
                "UPDATE walkin_tickets SET interpreter = $2, interpreter_accepted_at = $3, version = version + 1, \
                 status = CASE WHEN accepted_by IS NOT NULL THEN 'accepted' ELSE status END, \
                 accepted_at = CASE WHEN accepted_by IS NOT NULL THEN $3 ELSE accepted_at END \
                 WHERE id = $1 AND status = 'waiting' AND interpreter_language IS NOT NULL AND interpreter IS NULL"
            }
        };
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(sql).bind(id).bind(who).bind(at).execute(&mut *tx).await?;
            let record = load(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
            if done.rows_affected() == 0 {
                return Err(match (record.status, side) {
                    (WalkinStatus::Waiting, WalkinSide::Interpreter) if record.interpreter_language.is_none() => {
                        wrong_state(&record, "asking for an interpreter")
                    }
                    (WalkinStatus::Waiting | WalkinStatus::Accepted, _) => {
                        StoreError::TicketTaken { id: id.to_owned(), side: side.as_str() }
                    }
                    _ => wrong_state(&record, "waiting"),
                });
            }
            let kind = match side {
                WalkinSide::Expert => "walkin_accepted",
                WalkinSide::Interpreter => "walkin_interpreter_accepted",
            };
            let detail = format!("status={}", record.status.as_str());
            audit(&mut tx, kind, &record, None, who, &detail, at).await?;
            tx.commit().await?;
            Ok(record)
        })
        .await
    }

    /// `who` lets go of a ticket they accepted whose session has not opened (the device's room was busy): their
    /// side is free again and the ticket `waiting`. Anything else is [`StoreError::TicketWrongState`].
    pub async fn release_walkin_ticket(
        &self,
        id: &str,
        who: &str,
        at: Millis,
    ) -> Result<WalkinTicketRecord, StoreError> {
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE walkin_tickets SET version = version + 1, status = 'waiting', accepted_at = NULL, \
                 expert_accepted_at = CASE WHEN accepted_by = $2 THEN NULL ELSE expert_accepted_at END, \
                 accepted_by = CASE WHEN accepted_by = $2 THEN NULL ELSE accepted_by END, \
                 interpreter_accepted_at = CASE WHEN interpreter = $2 THEN NULL ELSE interpreter_accepted_at END, \
                 interpreter = CASE WHEN interpreter = $2 THEN NULL ELSE interpreter END \
                 WHERE id = $1 AND status IN ('waiting', 'accepted') AND session_id IS NULL \
                 AND (accepted_by = $2 OR interpreter = $2)",
            )
            .bind(id)
            .bind(who)
            .execute(&mut *tx)
            .await?;
            let record = load(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
            if done.rows_affected() == 0 {
                return Err(wrong_state(&record, "accepted by the caller, without a session"));
            }
            audit(&mut tx, "walkin_released", &record, None, who, "", at).await?;
            tx.commit().await?;
            Ok(record)
        })
        .await
    }

    /// Records the session the device's room opened for an `accepted` ticket that has none yet.
    pub async fn link_walkin_session(
        &self,
        id: &str,
        session: &str,
        by: &str,
        at: Millis,
    ) -> Result<WalkinTicketRecord, StoreError> {
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE walkin_tickets SET session_id = $2, version = version + 1 \
                 WHERE id = $1 AND status = 'accepted' AND session_id IS NULL",
            )
            .bind(id)
            .bind(session)
            .execute(&mut *tx)
            .await?;
            let record = load(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
            if done.rows_affected() == 0 {
                return Err(wrong_state(&record, "accepted without a session"));
            }
            audit(&mut tx, "walkin_session_opened", &record, Some(session), by, "", at).await?;
            tx.commit().await?;
            Ok(record)
        })
        .await
    }

    /// Closes an open ticket as `status` (served, cancelled, abandoned or expired) with `reason`, if it is in one
    /// of the statuses `from`; otherwise [`StoreError::TicketWrongState`] and nothing changes.
    pub async fn close_walkin_ticket(
        &self,
        id: &str,
        from: &[WalkinStatus],
        status: WalkinStatus,
        reason: &str,
        by: &str,
        at: Millis,
    ) -> Result<WalkinTicketRecord, StoreError> {
        assert!(!status.is_open(), "close_walkin_ticket closes tickets");
        let from: Vec<WalkinStatus> = from.iter().copied().filter(|s| s.is_open()).collect();
        let list = from.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
        let list = if list.is_empty() { "''".to_string() } else { list };
        // The served rule (a session) is the table's own check; the statuses are fixed words, not input.
        let sql = format!(
            "UPDATE walkin_tickets SET status = $2, close_reason = $3, closed_by = $4, closed_at = $5, \
             version = version + 1 WHERE id = $1 AND status IN ({list})"
        );
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(&sql)
                .bind(id)
                .bind(status.as_str())
                .bind(reason)
                .bind(by)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            let record = load(&mut tx, id).await?.ok_or_else(|| not_found(id))?;
            if done.rows_affected() == 0 {
                return Err(wrong_state(&record, "open"));
            }
            let kind = format!("walkin_{}", status.as_str());
            let detail = format!("reason={reason}");
            audit(&mut tx, &kind, &record, record.session_id.as_deref(), by, &detail, at).await?;
            tx.commit().await?;
            Ok(record)
        })
        .await
    }

    /// Switches `subject` (an expert or interpreter) on or off duty for walk-in customers.
    pub async fn set_walkin_duty(
        &self,
        subject: &str,
        role: &str,
        on_duty: bool,
        at: Millis,
    ) -> Result<(), StoreError> {
        self.retrying(|| async {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO walkin_duty (subject, role, on_duty, since) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (subject) DO UPDATE SET role = excluded.role, on_duty = excluded.on_duty, \
                 since = excluded.since",
            )
            .bind(subject)
            .bind(role)
            .bind(i64::from(on_duty))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO audit_log (at, kind, subject, role, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(at)
                .bind(if on_duty { "walkin_on_duty" } else { "walkin_off_duty" })
                .bind(subject)
                .bind(role)
                .bind("")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Everyone's duty switch (on and off).
    pub async fn walkin_duty(&self) -> Result<Vec<WalkinDutyRecord>, StoreError> {
        let rows = sqlx::query("SELECT subject, role, on_duty, since FROM walkin_duty ORDER BY subject")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WalkinDutyRecord {
                    subject: r.try_get("subject")?,
                    role: r.try_get("role")?,
                    on_duty: r.try_get::<i64, _>("on_duty")? != 0,
                    since: r.try_get("since")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
