//! Calendar feeds and external busy time: the persistence half of "the booking reaches the experts' own
//! calendars".
//!
//! - **Feeds** (`calendar_feeds`): one secret feed URL per expert or device. The store keeps only the hash
//!   of the URL's token (the server makes the token and hashes it); rotating replaces the row, so the old
//!   URL stops working in the same commit.
//! - **External calendars** (`external_calendars`, `external_busy`): where an expert's own calendar lives
//!   and the busy intervals the last good sync read from it. A sync replaces an expert's intervals whole,
//!   and only if the registration it fetched is still the one in force (see
//!   [`Store::replace_external_busy`]); a failed sync records why and keeps the last good intervals.
//!
//! Registrations, removals and feed rotations go into the audit log in the same transaction. The URL of an
//! external calendar may be a secret (a private ICS link, credentials in a CalDAV URL): it never goes into
//! the audit log or an error.

use crate::appointments::{BusyInterval, ResourceKind};
use crate::{Millis, Store, StoreError};
use sqlx::{AnyConnection, Row};

/// Lists of ids are bound as `IN ($1, …)`; chunking keeps far below any backend's bind limit.
const IN_CHUNK: usize = 500;

/// A resource's feed as stored: who it is for and the SHA-256 (hex) of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFeedRecord {
    /// `Device` or `Expert`.
    pub kind: ResourceKind,
    pub resource_id: String,
    pub token_sha256: String,
    pub created_by: String,
    pub created_at: Millis,
}

/// How an external calendar is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalCalendarKind {
    /// A plain `GET` of an iCalendar file (VEVENTs, or VFREEBUSY).
    Ics,
    /// A CalDAV calendar collection, asked with a `calendar-query` REPORT over a time range.
    Caldav,
}

impl ExternalCalendarKind {
    /// The word stored in `external_calendars.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalCalendarKind::Ics => "ics",
            ExternalCalendarKind::Caldav => "caldav",
        }
    }

    /// The inverse of [`ExternalCalendarKind::as_str`].
    pub fn parse(s: &str) -> Option<ExternalCalendarKind> {
        match s {
            "ics" => Some(ExternalCalendarKind::Ics),
            "caldav" => Some(ExternalCalendarKind::Caldav),
            _ => None,
        }
    }
}

/// An expert's external calendar and the outcome of its last sync. `url` is a secret: hand-written
/// `Debug` keeps it out of log lines.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalCalendarRecord {
    pub expert: String,
    pub url: String,
    pub kind: ExternalCalendarKind,
    pub created_by: String,
    pub created_at: Millis,
    /// When the last sync ended, whether it worked or not.
    pub last_sync_at: Option<Millis>,
    /// When a sync last succeeded (its intervals are the ones stored).
    pub last_ok_at: Option<Millis>,
    /// Why the last sync failed; `None` after a good one.
    pub last_error: Option<String>,
    /// How many busy intervals are stored now.
    pub intervals: i64,
}

impl std::fmt::Debug for ExternalCalendarRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCalendarRecord")
            .field("expert", &self.expert)
            .field("url", &format_args!("<redacted>"))
            .field("kind", &self.kind)
            .field("last_sync_at", &self.last_sync_at)
            .field("last_ok_at", &self.last_ok_at)
            .field("last_error", &self.last_error)
            .field("intervals", &self.intervals)
            .finish()
    }
}

fn feed_kind(kind: ResourceKind) -> Result<&'static str, StoreError> {
    match kind {
        ResourceKind::Device | ResourceKind::Expert => Ok(kind.as_str()),
        ResourceKind::Interpreter => {
            Err(StoreError::NotFound { what: "calendar feed kind", id: kind.as_str().to_owned() })
        }
    }
}

const EXTERNAL_COLUMNS: &str = "c.expert, c.url, c.kind, c.created_by, c.created_at, c.last_sync_at, c.last_ok_at, \
     c.last_error, (SELECT COUNT(*) FROM external_busy b WHERE b.expert = c.expert) AS intervals";

impl Store {
    /// Creates the resource's feed, or replaces its token if it has one (the old URL stops working).
    /// Only devices and experts have feeds.
    pub async fn set_calendar_feed(
        &self,
        kind: ResourceKind,
        resource_id: &str,
        token_sha256: &str,
        by: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let kind_str = feed_kind(kind)?;
        let mut tx = self.pool.begin().await?;
        let replaced = sqlx::query("DELETE FROM calendar_feeds WHERE resource_kind = $1 AND resource_id = $2")
            .bind(kind_str)
            .bind(resource_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query(
            "INSERT INTO calendar_feeds (resource_kind, resource_id, token_sha256, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kind_str)
        .bind(resource_id)
        .bind(token_sha256)
        .bind(by)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique_as_conflict(e, "calendar feed token", "<hash>"))?;
        let what = if replaced { "calendar_feed_rotated" } else { "calendar_feed_created" };
        audit(&mut tx, what, by, &format!("{kind_str}={resource_id}"), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the resource's feed; whether there was one.
    pub async fn delete_calendar_feed(
        &self,
        kind: ResourceKind,
        resource_id: &str,
        by: &str,
        at: Millis,
    ) -> Result<bool, StoreError> {
        let kind_str = feed_kind(kind)?;
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM calendar_feeds WHERE resource_kind = $1 AND resource_id = $2")
            .bind(kind_str)
            .bind(resource_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if gone {
            audit(&mut tx, "calendar_feed_revoked", by, &format!("{kind_str}={resource_id}"), at).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// The feed whose token hashes to `token_sha256`, if any.
    pub async fn calendar_feed_by_hash(&self, token_sha256: &str) -> Result<Option<CalendarFeedRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT resource_kind, resource_id, token_sha256, created_by, created_at FROM calendar_feeds \
             WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("resource_kind")?;
        Ok(Some(CalendarFeedRecord {
            kind: ResourceKind::parse(&kind).ok_or_else(|| decode_error("resource_kind", &kind))?,
            resource_id: row.try_get("resource_id")?,
            token_sha256: row.try_get("token_sha256")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Registers the expert's external calendar, replacing any earlier one. A new registration starts
    /// with no busy time: intervals read from another calendar do not belong to this one.
    pub async fn set_external_calendar(
        &self,
        expert: &str,
        url: &str,
        kind: ExternalCalendarKind,
        by: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM external_busy WHERE expert = $1").bind(expert).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM external_calendars WHERE expert = $1").bind(expert).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO external_calendars (expert, url, kind, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(expert)
        .bind(url)
        .bind(kind.as_str())
        .bind(by)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, "external_calendar_set", by, &format!("expert={expert} kind={}", kind.as_str()), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the expert's external calendar and its busy time; whether there was one.
    pub async fn delete_external_calendar(&self, expert: &str, by: &str, at: Millis) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM external_busy WHERE expert = $1").bind(expert).execute(&mut *tx).await?;
        let gone = sqlx::query("DELETE FROM external_calendars WHERE expert = $1")
            .bind(expert)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if gone {
            audit(&mut tx, "external_calendar_removed", by, &format!("expert={expert}"), at).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// The expert's external calendar, if registered.
    pub async fn external_calendar(&self, expert: &str) -> Result<Option<ExternalCalendarRecord>, StoreError> {
        let sql = format!("SELECT {EXTERNAL_COLUMNS} FROM external_calendars c WHERE c.expert = $1");
        let row = sqlx::query(&sql).bind(expert).fetch_optional(&self.pool).await?;
        row.as_ref().map(external_from_row).transpose()
    }

    /// Every registered external calendar, by expert.
    pub async fn external_calendars(&self) -> Result<Vec<ExternalCalendarRecord>, StoreError> {
        let sql = format!("SELECT {EXTERNAL_COLUMNS} FROM external_calendars c ORDER BY c.expert");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(external_from_row).collect()
    }

    /// Replaces the expert's busy intervals with `busy` (each `[start_ms, end_ms)`, empty ones skipped)
    /// after a good sync of `url`. Returns `false` and changes nothing if the registration is no longer
    /// `url` (removed or replaced while the sync was fetching), so a slow fetch of an old calendar never
    /// overwrites the new one's time.
    pub async fn replace_external_busy(
        &self,
        expert: &str,
        url: &str,
        busy: &[(Millis, Millis)],
        at: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query(
            "UPDATE external_calendars SET last_sync_at = $3, last_ok_at = $3, last_error = NULL \
             WHERE expert = $1 AND url = $2",
        )
        .bind(expert)
        .bind(url)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if !current {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM external_busy WHERE expert = $1").bind(expert).execute(&mut *tx).await?;
        for &(start_ms, end_ms) in busy.iter().filter(|(s, e)| e > s) {
            sqlx::query("INSERT INTO external_busy (expert, start_ms, end_ms) VALUES ($1, $2, $3)")
                .bind(expert)
                .bind(start_ms)
                .bind(end_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed sync of `url` (if it is still the expert's registration). The busy intervals of
    /// the last good sync stay. `error` must not contain the URL.
    pub async fn record_external_sync_failure(
        &self,
        expert: &str,
        url: &str,
        error: &str,
        at: Millis,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        sqlx::query("UPDATE external_calendars SET last_sync_at = $3, last_error = $4 WHERE expert = $1 AND url = $2")
            .bind(expert)
            .bind(url)
            .bind(at)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The external busy intervals of the given experts overlapping `[from_ms, to_ms)`, as
    /// `(expert, start_ms, end_ms)` sorted by expert and start: what slot search and booking must avoid,
    /// besides the experts' reservations.
    pub async fn external_busy_for_experts(
        &self,
        experts: &[String],
        from_ms: Millis,
        to_ms: Millis,
    ) -> Result<Vec<BusyInterval>, StoreError> {
        let mut busy = Vec::new();
        let mut conn = self.pool.acquire().await?;
        for chunk in experts.chunks(IN_CHUNK) {
            let list = (3..3 + chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT expert, start_ms, end_ms FROM external_busy \
                 WHERE end_ms > $1 AND start_ms < $2 AND expert IN ({list})"
            );
            let mut query = sqlx::query(&sql).bind(from_ms).bind(to_ms);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                busy.push((row.try_get("expert")?, row.try_get("start_ms")?, row.try_get("end_ms")?));
            }
        }
        busy.sort();
        Ok(busy)
    }
}

fn external_from_row(row: &sqlx::any::AnyRow) -> Result<ExternalCalendarRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(ExternalCalendarRecord {
        expert: row.try_get("expert")?,
        url: row.try_get("url")?,
        kind: ExternalCalendarKind::parse(&kind).ok_or_else(|| decode_error("kind", &kind))?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_sync_at: row.try_get("last_sync_at")?,
        last_ok_at: row.try_get("last_ok_at")?,
        last_error: row.try_get("last_error")?,
        intervals: row.try_get("intervals")?,
    })
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: format!("unknown value {value:?}").into() }
}

/// Appends an audit entry in the caller's transaction. No room: these changes are about a person's or a
/// device's calendar, not a session; `detail` names the resource.
async fn audit(conn: &mut AnyConnection, kind: &str, by: &str, detail: &str, at: Millis) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, kind, subject, detail) VALUES ($1, $2, $3, $4)")
        .bind(at)
        .bind(kind)
        .bind(by)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}
