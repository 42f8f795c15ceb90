//! The raw rows the reports are computed from: ended sessions of a time range with their service point, their
//! expert seats' agencies, their interpreters' stays, whether a walk-in ticket names them, and their feedback;
//! walk-in tickets; appointments with their assigned interpreters. No aggregation here: the figures are
//! `vayla-domain`'s `reports` (pure), so that their definitions live in one place.
//!
//! Every query selects by a half-open range `[from, to)` of UTC milliseconds on an indexed time column and
//! joins the directory mirror (devices → service point, people → agency, interpreters → provider), which keeps
//! entities that left the rooms-config, so that old sessions still report under their service point.

use crate::{Millis, Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// An ended session opened in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReportRow {
    pub id: String,
    pub room: String,
    /// The room's device's service point; `None` when the device is unknown to the directory mirror.
    pub service_point: Option<String>,
    pub opened_at: Millis,
    pub ended_at: Millis,
    pub appointment_id: Option<String>,
    /// A walk-in ticket names the session.
    pub from_ticket: bool,
    /// The agencies of the expert seats, in seat order (repeats possible); an expert unknown to the mirror has
    /// none.
    pub agencies: Vec<String>,
    pub interpreter_stays: Vec<InterpreterStayRow>,
    /// `(rating, outcome)` of its feedback.
    pub feedback: Option<(i64, String)>,
}

/// One interpreter's participation in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterStayRow {
    pub interpreter: String,
    pub provider: Option<String>,
    pub joined_at: Millis,
    /// `None` only while still in a session that has not ended (never for a reported session).
    pub left_at: Option<Millis>,
}

/// A walk-in ticket created in the range (the walk-in queue's `walkin_tickets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketReportRow {
    pub id: String,
    pub service_point: String,
    pub agency: String,
    pub status: String,
    pub created_at: Millis,
    pub accepted_at: Option<Millis>,
    pub interpreter_language: Option<String>,
    pub session_id: Option<String>,
}

/// An appointment that starts, or was created, in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentReportRow {
    pub id: String,
    pub agency: String,
    pub service_point: String,
    pub status: String,
    pub start_ms: Millis,
    pub created_at: Millis,
    /// The interpreters of its accepted requests, with their providers.
    pub interpreters: Vec<(String, Option<String>)>,
}

impl Store {
    /// Ended sessions with `from <= opened_at < to`, oldest first, with everything the reports need.
    pub async fn report_sessions(&self, from: Millis, to: Millis) -> Result<Vec<SessionReportRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(
            "SELECT s.id, s.room, d.service_point, s.opened_at, s.ended_at, s.appointment_id, \
                    f.rating, f.outcome, \
                    (SELECT COUNT(*) FROM walkin_tickets t WHERE t.session_id = s.id) AS tickets \
             FROM sessions s \
             LEFT JOIN devices d ON d.id = s.room \
             LEFT JOIN session_feedback f ON f.session = s.id \
             WHERE s.opened_at >= $1 AND s.opened_at < $2 AND s.ended_at IS NOT NULL \
             ORDER BY s.opened_at, s.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut index = HashMap::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let rating: Option<i64> = r.try_get("rating")?;
            let outcome: Option<String> = r.try_get("outcome")?;
            index.insert(id.clone(), out.len());
            out.push(SessionReportRow {
                id,
                room: r.try_get("room")?,
                service_point: r.try_get("service_point")?,
                opened_at: r.try_get("opened_at")?,
                ended_at: r.try_get::<Option<i64>, _>("ended_at")?.unwrap_or_default(),
                appointment_id: r.try_get("appointment_id")?,
                from_ticket: r.try_get::<i64, _>("tickets")? > 0,
                agencies: Vec::new(),
                interpreter_stays: Vec::new(),
                feedback: rating.zip(outcome),
            });
        }
        let seats = sqlx::query(
            "SELECT ss.session, p.agency FROM session_seats ss \
             JOIN sessions s ON s.id = ss.session \
             LEFT JOIN people p ON p.id = ss.subject \
             WHERE ss.role = 'expert' AND s.opened_at >= $1 AND s.opened_at < $2 AND s.ended_at IS NOT NULL \
             ORDER BY ss.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for r in seats {
            let session: String = r.try_get("session")?;
            if let (Some(&i), Some(agency)) = (index.get(&session), r.try_get::<Option<String>, _>("agency")?) {
                out[i].agencies.push(agency);
            }
        }
        let stays = sqlx::query(
            "SELECT pa.session, pa.subject, pa.joined_at, pa.left_at, i.provider FROM participations pa \
             JOIN sessions s ON s.id = pa.session \
             LEFT JOIN interpreters i ON i.id = pa.subject \
             WHERE pa.role = 'interpreter' AND s.opened_at >= $1 AND s.opened_at < $2 AND s.ended_at IS NOT NULL \
             ORDER BY pa.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for r in stays {
            let session: String = r.try_get("session")?;
            if let Some(&i) = index.get(&session) {
                out[i].interpreter_stays.push(InterpreterStayRow {
                    interpreter: r.try_get("subject")?,
                    provider: r.try_get("provider")?,
                    joined_at: r.try_get("joined_at")?,
                    left_at: r.try_get("left_at")?,
                });
            }
        }
        Ok(out)
    }

    /// Walk-in tickets with `from <= created_at < to`, oldest first.
    pub async fn report_tickets(&self, from: Millis, to: Millis) -> Result<Vec<TicketReportRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service_point, agency, status, created_at, accepted_at, interpreter_language, session_id \
             FROM walkin_tickets WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketReportRow {
                    id: r.try_get("id")?,
                    service_point: r.try_get("service_point")?,
                    agency: r.try_get("agency")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                    accepted_at: r.try_get("accepted_at")?,
                    interpreter_language: r.try_get("interpreter_language")?,
                    session_id: r.try_get("session_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Query)
    }

    /// Appointments that start or were created in `[from, to)`, with the interpreters of their accepted
    /// requests, by start.
    pub async fn report_appointments(&self, from: Millis, to: Millis) -> Result<Vec<AppointmentReportRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(
            "SELECT id, agency, service_point, status, start_ms, created_at FROM appointments \
             WHERE (start_ms >= $1 AND start_ms < $2) OR (created_at >= $1 AND created_at < $2) \
             ORDER BY start_ms, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut index = HashMap::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            index.insert(id.clone(), out.len());
            out.push(AppointmentReportRow {
                id,
                agency: r.try_get("agency")?,
                service_point: r.try_get("service_point")?,
                status: r.try_get("status")?,
                start_ms: r.try_get("start_ms")?,
                created_at: r.try_get("created_at")?,
                interpreters: Vec::new(),
            });
        }
        let assigned = sqlx::query(
            "SELECT r.appointment_id, r.assigned_interpreter, i.provider FROM interpreter_requests r \
             JOIN appointments a ON a.id = r.appointment_id \
             LEFT JOIN interpreters i ON i.id = r.assigned_interpreter \
             WHERE r.state = 'accepted' \
               AND ((a.start_ms >= $1 AND a.start_ms < $2) OR (a.created_at >= $1 AND a.created_at < $2)) \
             ORDER BY r.appointment_id, r.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
        for r in assigned {
            let appointment: String = r.try_get("appointment_id")?;
            let interpreter: Option<String> = r.try_get("assigned_interpreter")?;
            if let (Some(&i), Some(interpreter)) = (index.get(&appointment), interpreter) {
                out[i].interpreters.push((interpreter, r.try_get("provider")?));
            }
        }
        Ok(out)
    }

    /// Every agency of the directory mirror that is still configured, by id: the billing lists each of them.
    pub async fn active_agency_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM agencies WHERE active = 1 ORDER BY id").fetch_all(&self.pool).await?)
    }
}
