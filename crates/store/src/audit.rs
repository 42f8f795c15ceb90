//! The audit log: one row per admission, refusal, lock, unlock, replacement, leave and session
//! open/end, for answering "who was let into which room, when, and who was turned away and why".
//! It is append-only, and that is enforced by triggers in the database (see the migrations), not just
//! by this API offering no update or delete: history must survive a buggy or malicious caller.

use crate::{Millis, Store, StoreError};
use sqlx::Row;

/// One audit event. `kind` is a short stable word ("admitted", "refused", "locked", "unlocked",
/// "session_opened", "session_ended", "replaced", "left"); `detail` holds e.g. the refusal code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: Millis,
    pub kind: String,
    pub room: Option<String>,
    pub session: Option<String>,
    pub subject: Option<String>,
    pub role: Option<String>,
    pub seat: Option<String>,
    pub detail: String,
}

/// A filter over the audit log. `None` fields match everything; `after_id` pages forward (pass the
/// last id you got); `limit` caps the number of rows (0 or less gives none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub room: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

impl Store {
    /// Appends one entry and returns its id. Ids only grow, so they can be used to page.
    pub async fn append_audit(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, kind, room, session, subject, role, seat, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(e.at)
        .bind(&e.kind)
        .bind(e.room.as_deref())
        .bind(e.session.as_deref())
        .bind(e.subject.as_deref())
        .bind(e.role.as_deref())
        .bind(e.seat.as_deref())
        .bind(&e.detail)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// The entries matching `q`, by id ascending, with their ids.
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        if q.limit <= 0 {
            return Ok(Vec::new());
        }
        // Only the conditions actually asked for go into the SQL, so each variant can use its index;
        // placeholders are numbered as they are added.
        let mut sql =
            String::from("SELECT id, at, kind, room, session, subject, role, seat, detail FROM audit_log WHERE 1 = 1");
        let mut binds: Vec<Bind<'_>> = Vec::new();
        for (column, value) in [("room", &q.room), ("session", &q.session), ("kind", &q.kind)] {
            if let Some(v) = value {
                binds.push(Bind::Text(v));
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if let Some(after) = q.after_id {
            binds.push(Bind::Int(after));
            sql.push_str(&format!(" AND id > ${}", binds.len()));
        }
        binds.push(Bind::Int(q.limit));
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len()));

        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    AuditEntry {
                        at: r.try_get("at")?,
                        kind: r.try_get("kind")?,
                        room: r.try_get("room")?,
                        session: r.try_get("session")?,
                        subject: r.try_get("subject")?,
                        role: r.try_get("role")?,
                        seat: r.try_get("seat")?,
                        detail: r.try_get("detail")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
