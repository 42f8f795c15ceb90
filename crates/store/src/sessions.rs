//! Sessions in rooms: when a session opened and ended, the seats it expected, who actually joined and
//! left (one row per signalling connection), and each lock / unlock. This is the factual history the
//! audit log's events can be checked against, and what the server reloads after a restart (any
//! session still open then was cut off by the restart and should be ended by the caller).
//!
//! Writes that belong to a session check, in the same statement, that the session exists and is still
//! open: an `INSERT … SELECT … FROM sessions WHERE id = $1 AND ended_at IS NULL`. Doing it in one
//! statement avoids a read-then-write transaction, which under SQLite could fail with "database is
//! locked" when another connection writes in between.

use crate::{Millis, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

/// A session as the server opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: String,
    pub room: String,
    pub opened_by: String,
    pub opened_at: Millis,
    pub seats: Vec<SeatRecord>,
    /// The appointment the session was opened for; `None` for a walk-in session.
    pub appointment_id: Option<String>,
}

/// One expected participant's place: `seat` like `device` or `expert-1`, the `role` it is for and the
/// `subject` (person or device id) it is reserved for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeatRecord {
    pub seat: String,
    pub role: String,
    pub subject: String,
}

/// One connection's stay in a session. `left_at`/`leave_reason` are `None` while it is still there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParticipationRecord {
    pub participant: String,
    pub subject: String,
    pub role: String,
    pub seat: Option<String>,
    pub joined_at: Millis,
    pub left_at: Option<Millis>,
    pub leave_reason: Option<String>,
}

/// One lock (`locked = true`) or unlock, and who did it (`None` when the server did it by itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockRecord {
    pub at: Millis,
    pub locked: bool,
    pub by: Option<String>,
}

/// A session with everything recorded about it; children in the order they were recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionRecord {
    pub id: String,
    pub room: String,
    pub opened_by: String,
    pub opened_at: Millis,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<String>,
    /// The appointment the session was opened for; `None` for a walk-in session.
    pub appointment_id: Option<String>,
    pub seats: Vec<SeatRecord>,
    pub participations: Vec<ParticipationRecord>,
    pub locks: Vec<LockRecord>,
}

/// Children are fetched with `session IN ($1, …)`; chunking keeps far below any backend's bind limit.
const IN_CHUNK: usize = 500;

impl Store {
    /// Records a newly opened session and its seats, atomically. A duplicate id is `Conflict`.
    pub async fn insert_session(&self, s: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, room, opened_by, opened_at, appointment_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id)
        .bind(&s.room)
        .bind(&s.opened_by)
        .bind(s.opened_at)
        .bind(&s.appointment_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "session", &s.id))?;
        for seat in &s.seats {
            sqlx::query("INSERT INTO session_seats (session, seat, role, subject) VALUES ($1, $2, $3, $4)")
                .bind(&s.id)
                .bind(&seat.seat)
                .bind(&seat.role)
                .bind(&seat.subject)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique_as_conflict(e, "seat", format!("{}/{}", s.id, seat.seat)))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds a seat to an open session (a guest seated when the room is locked). A seat name already in
    /// the session is `Conflict`; an unknown session `NotFound`; an ended one `SessionEnded`.
    pub async fn add_seat(&self, session: &str, seat: &SeatRecord) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO session_seats (session, seat, role, subject) \
             SELECT id, $2, $3, $4 FROM sessions WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(session)
        .bind(&seat.seat)
        .bind(&seat.role)
        .bind(&seat.subject)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "seat", format!("{session}/{}", seat.seat)))?;
        self.require_open_if_nothing_done(session, done.rows_affected()).await
    }

    /// Records that `participant` (one signalling connection) joined as `subject` in `role`, on `seat`
    /// if it took one. The same participant may not be in the same session twice at once (`Conflict`).
    pub async fn record_join(
        &self,
        session: &str,
        participant: &str,
        subject: &str,
        role: &str,
        seat: Option<&str>,
        at: Millis,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO participations (session, participant, subject, role, seat, joined_at) \
             SELECT id, $2, $3, $4, $5, $6 FROM sessions WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(session)
        .bind(participant)
        .bind(subject)
        .bind(role)
        .bind(seat)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "open participation", format!("{session}/{participant}")))?;
        self.require_open_if_nothing_done(session, done.rows_affected()).await
    }

    /// Closes the participant's open participation row. Leaving twice is harmless: the first leave (or
    /// the session's end) is kept. A participant that never joined, or an unknown session, is `NotFound`.
    pub async fn record_leave(
        &self,
        session: &str,
        participant: &str,
        reason: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE participations SET left_at = $3, leave_reason = $4 \
             WHERE session = $1 AND participant = $2 AND left_at IS NULL",
        )
        .bind(session)
        .bind(participant)
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let joined = sqlx::query("SELECT 1 FROM participations WHERE session = $1 AND participant = $2 LIMIT 1")
            .bind(session)
            .bind(participant)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        if joined {
            return Ok(());
        }
        if session_ended(&self.pool, session).await?.is_none() {
            return Err(StoreError::NotFound { what: "session", id: session.to_owned() });
        }
        Err(StoreError::NotFound { what: "participation", id: format!("{session}/{participant}") })
    }

    /// Appends a lock (`locked = true`) or unlock to the session's lock history.
    pub async fn record_lock(
        &self,
        session: &str,
        locked: bool,
        by: Option<&str>,
        at: Millis,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO session_locks (session, at, locked, locked_by) \
             SELECT id, $2, $3, $4 FROM sessions WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(session)
        .bind(at)
        .bind(i64::from(locked))
        .bind(by)
        .execute(&self.pool)
        .await?;
        self.require_open_if_nothing_done(session, done.rows_affected()).await
    }

    /// Ends the session and closes every participation still open in it (`left_at = at`, reason
    /// "session_ended"), atomically. Ending an ended session changes nothing (the first end is kept);
    /// an unknown session is `NotFound`.
    pub async fn end_session(&self, session: &str, reason: &str, at: Millis) -> Result<(), StoreError> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        // Write first (see the module docs on SQLite locking), then look only if nothing matched.
        let done = sqlx::query("UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL")
            .bind(session)
            .bind(at)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM sessions WHERE id = $1")
                .bind(session)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            tx.rollback().await?;
            return if exists { Ok(()) } else { Err(StoreError::NotFound { what: "session", id: session.to_owned() }) };
        }
        sqlx::query(
            "UPDATE participations SET left_at = $2, leave_reason = 'session_ended' \
             WHERE session = $1 AND left_at IS NULL",
        )
        .bind(session)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes every participation still open in the session, keeping the session itself open: used when the
    /// server stops or restarts, whose connections are gone but whose sessions go on. Returns how many closed.
    pub async fn close_participations(&self, session: &str, reason: &str, at: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE participations SET left_at = $2, leave_reason = $3 WHERE session = $1 AND left_at IS NULL",
        )
        .bind(session)
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every session not yet ended, oldest first.
    pub async fn open_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        self.load_sessions(sqlx::query(
            "SELECT id, room, opened_by, opened_at, ended_at, end_reason, appointment_id FROM sessions \
                 WHERE ended_at IS NULL ORDER BY opened_at, id",
        ))
        .await
    }

    /// One session with its seats, participations and locks.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut found = self
            .load_sessions(
                sqlx::query("SELECT id, room, opened_by, opened_at, ended_at, end_reason, appointment_id FROM sessions WHERE id = $1")
                    .bind(id),
            )
            .await?;
        Ok(found.pop())
    }

    /// The room's latest `limit` sessions, newest first. A `limit` of 0 or less gives none.
    pub async fn sessions_for_room(&self, room: &str, limit: i64) -> Result<Vec<SessionRecord>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.load_sessions(
            sqlx::query(
                "SELECT id, room, opened_by, opened_at, ended_at, end_reason, appointment_id FROM sessions \
                 WHERE room = $1 ORDER BY opened_at DESC, id DESC LIMIT $2",
            )
            .bind(room)
            .bind(limit),
        )
        .await
    }

    /// After a session-scoped write that matched no row: says why, as an error, or Ok if rows changed.
    async fn require_open_if_nothing_done(&self, session: &str, rows: u64) -> Result<(), StoreError> {
        if rows > 0 {
            return Ok(());
        }
        match session_ended(&self.pool, session).await? {
            None => Err(StoreError::NotFound { what: "session", id: session.to_owned() }),
            Some(true) => Err(StoreError::SessionEnded(session.to_owned())),
            // Open but nothing inserted cannot happen with INSERT … SELECT; report it, don't hide it.
            Some(false) => Err(StoreError::NotFound { what: "session", id: session.to_owned() }),
        }
    }

    /// Runs a query selecting session rows, then fetches their children on the same connection.
    async fn load_sessions<'q>(
        &self,
        query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut sessions: Vec<SessionRecord> =
            query.fetch_all(&mut *conn).await?.iter().map(session_from_row).collect::<Result<_, _>>()?;
        if sessions.is_empty() {
            return Ok(sessions);
        }
        let index: HashMap<String, usize> = sessions.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();

        for chunk in ids.chunks(IN_CHUNK) {
            let list = placeholders(chunk.len());

            let sql =
                format!("SELECT session, seat, role, subject FROM session_seats WHERE session IN ({list}) ORDER BY id");
            for row in bind_all(sqlx::query(&sql), chunk).fetch_all(&mut *conn).await? {
                let owner: String = row.try_get("session")?;
                sessions[index[&owner]].seats.push(SeatRecord {
                    seat: row.try_get("seat")?,
                    role: row.try_get("role")?,
                    subject: row.try_get("subject")?,
                });
            }

            let sql = format!(
                "SELECT session, participant, subject, role, seat, joined_at, left_at, leave_reason \
                 FROM participations WHERE session IN ({list}) ORDER BY id"
            );
            for row in bind_all(sqlx::query(&sql), chunk).fetch_all(&mut *conn).await? {
                let owner: String = row.try_get("session")?;
                sessions[index[&owner]].participations.push(ParticipationRecord {
                    participant: row.try_get("participant")?,
                    subject: row.try_get("subject")?,
                    role: row.try_get("role")?,
                    seat: row.try_get("seat")?,
                    joined_at: row.try_get("joined_at")?,
                    left_at: row.try_get("left_at")?,
                    leave_reason: row.try_get("leave_reason")?,
                });
            }

            let sql = format!(
                "SELECT session, at, locked, locked_by FROM session_locks WHERE session IN ({list}) ORDER BY id"
            );
            for row in bind_all(sqlx::query(&sql), chunk).fetch_all(&mut *conn).await? {
                let owner: String = row.try_get("session")?;
                sessions[index[&owner]].locks.push(LockRecord {
                    at: row.try_get("at")?,
                    locked: row.try_get::<i64, _>("locked")? != 0,
                    by: row.try_get("locked_by")?,
                });
            }
        }
        Ok(sessions)
    }
}

/// `Some(ended)` for a known session, `None` for an unknown one.
async fn session_ended(pool: &sqlx::AnyPool, session: &str) -> Result<Option<bool>, StoreError> {
    let ended_at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT ended_at FROM sessions WHERE id = $1").bind(session).fetch_optional(pool).await?;
    Ok(ended_at.map(|e| e.is_some()))
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        room: row.try_get("room")?,
        opened_by: row.try_get("opened_by")?,
        opened_at: row.try_get("opened_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
        appointment_id: row.try_get("appointment_id")?,
        seats: Vec::new(),
        participations: Vec::new(),
        locks: Vec::new(),
    })
}

/// `$1, $2, …, $n`
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    values: &'q [String],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for v in values {
        q = q.bind(v);
    }
    q
}
