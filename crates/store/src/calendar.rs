//! The calendar model's rows: agencies' booking rules and services, experts' services and stand-ins,
//! experts' and interpreters' weekly availability, service points' opening hours. Each is one JSON
//! document per `(kind, id)`; the server owns the JSON's shape (it is `vayla-domain`'s calendar types),
//! the store only keeps it and decides which version is in force.
//!
//! Two writers, one rule (see `migrations/*/0003_calendar.sql`): the rooms-config **seeds** every entry
//! at each load, and an **edit** through the API wins over the seed from then on. So
//! - [`Store::seed_calendar`] always records the seed, but replaces the body in force only where the
//!   entry has never been edited (or was reverted);
//! - [`Store::put_calendar_entry`] stores an edit and marks the entry `api`;
//! - [`Store::revert_calendar_entry`] puts the seed back in force.
//!
//! Edits and reverts are audited in the same transaction (`calendar_changed`, `calendar_reverted`);
//! seeding is not (it is the config, whose changes the config's own history records).

use crate::{Millis, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

/// What a calendar entry describes. The word is the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarKind {
    /// An agency's booking rule and its services.
    Agency,
    /// An expert's services and stand-ins.
    Expert,
    /// An expert's weekly availability with exceptions.
    ExpertAvailability,
    /// An interpreter's weekly availability with exceptions.
    InterpreterAvailability,
    /// A service point's opening hours (its devices are bookable only then).
    OpeningHours,
}

impl CalendarKind {
    pub const ALL: [CalendarKind; 5] = [
        CalendarKind::Agency,
        CalendarKind::Expert,
        CalendarKind::ExpertAvailability,
        CalendarKind::InterpreterAvailability,
        CalendarKind::OpeningHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CalendarKind::Agency => "agency",
            CalendarKind::Expert => "expert",
            CalendarKind::ExpertAvailability => "expert_availability",
            CalendarKind::InterpreterAvailability => "interpreter_availability",
            CalendarKind::OpeningHours => "opening_hours",
        }
    }

    pub fn parse(s: &str) -> Option<CalendarKind> {
        CalendarKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where the body in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarSource {
    /// The rooms-config; follows it at every load.
    Seed,
    /// An edit through the API; wins over the rooms-config until reverted.
    Api,
}

impl CalendarSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarSource::Seed => "seed",
            CalendarSource::Api => "api",
        }
    }
}

/// One stored entry. `body` is the JSON in force; `seed_body` the rooms-config's version, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    pub kind: CalendarKind,
    pub id: String,
    pub body: String,
    pub seed_body: Option<String>,
    pub source: CalendarSource,
    pub updated_by: String,
    pub updated_at: Millis,
}

/// One entry of a seed: what the rooms-config says about `(kind, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSeed {
    pub kind: CalendarKind,
    pub id: String,
    pub body: String,
}

/// Who is recorded as the author of seeded bodies.
pub const SEED_AUTHOR: &str = "rooms-config";

const COLUMNS: &str = "kind, id, body, seed_body, source, updated_by, updated_at";

impl Store {
    /// Records the rooms-config's calendar in one transaction. Every seed becomes the entry's
    /// `seed_body`; it also becomes the body in force unless the entry was edited through the API.
    /// Entries the seed does not mention are left alone (the server ignores entries of entities that
    /// are no longer configured). Returns how many entries kept an API edit over a different seed.
    pub async fn seed_calendar(&self, seeds: &[CalendarSeed], at: Millis) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut overridden = 0;
        for s in seeds {
            // One statement for both cases; the WHERE of DO UPDATE keeps edited bodies. RETURNING tells
            // whether the edited body differs from the new seed (for the log line of the caller).
            let row = sqlx::query(
                "INSERT INTO calendar_entries (kind, id, body, seed_body, source, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $3, 'seed', $4, $5) \
                 ON CONFLICT (kind, id) DO UPDATE SET seed_body = excluded.seed_body, \
                     body = CASE WHEN calendar_entries.source = 'seed' THEN excluded.body \
                                 ELSE calendar_entries.body END, \
                     updated_by = CASE WHEN calendar_entries.source = 'seed' \
                                            AND calendar_entries.body <> excluded.body \
                                       THEN excluded.updated_by ELSE calendar_entries.updated_by END, \
                     updated_at = CASE WHEN calendar_entries.source = 'seed' \
                                            AND calendar_entries.body <> excluded.body \
                                       THEN excluded.updated_at ELSE calendar_entries.updated_at END \
                 RETURNING source, body",
            )
            .bind(s.kind.as_str())
            .bind(&s.id)
            .bind(&s.body)
            .bind(SEED_AUTHOR)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let source: String = row.try_get("source")?;
            let body: String = row.try_get("body")?;
            if source == "api" && body != s.body {
                overridden += 1;
            }
        }
        tx.commit().await?;
        Ok(overridden)
    }

    /// Every entry of one kind, by id.
    pub async fn calendar_entries(&self, kind: CalendarKind) -> Result<Vec<CalendarEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM calendar_entries WHERE kind = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(kind.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(entry_from_row).collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// Every entry of every kind, by kind and id: the whole model in one round trip.
    pub async fn all_calendar_entries(&self) -> Result<Vec<CalendarEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM calendar_entries ORDER BY kind, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(entry_from_row).collect::<Result<_, _>>().map_err(StoreError::from)
    }

    /// One entry, or `None`.
    pub async fn calendar_entry(&self, kind: CalendarKind, id: &str) -> Result<Option<CalendarEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM calendar_entries WHERE kind = $1 AND id = $2");
        let row = sqlx::query(&sql).bind(kind.as_str()).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(entry_from_row).transpose().map_err(StoreError::from)
    }

    /// Stores an edit made through the API: `body` is in force from now on, over any seed, and the
    /// change is audited (`calendar_changed`, subject = `by`) in the same transaction.
    pub async fn put_calendar_entry(
        &self,
        kind: CalendarKind,
        id: &str,
        body: &str,
        by: &str,
        at: Millis,
    ) -> Result<CalendarEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO calendar_entries (kind, id, body, seed_body, source, updated_by, updated_at) \
             VALUES ($1, $2, $3, NULL, 'api', $4, $5) \
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, source = 'api', \
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        let row =
            sqlx::query(&sql).bind(kind.as_str()).bind(id).bind(body).bind(by).bind(at).fetch_one(&mut *tx).await?;
        let entry = entry_from_row(&row)?;
        audit(&mut tx, "calendar_changed", kind, id, by, at).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Puts the rooms-config's version back in force. An entry the config does not describe has nothing
    /// to go back to and is `NotFound`, as is an entry that does not exist.
    pub async fn revert_calendar_entry(
        &self,
        kind: CalendarKind,
        id: &str,
        by: &str,
        at: Millis,
    ) -> Result<CalendarEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE calendar_entries SET body = seed_body, source = 'seed', updated_by = $3, updated_at = $4 \
             WHERE kind = $1 AND id = $2 AND seed_body IS NOT NULL RETURNING {COLUMNS}"
        );
        let row = sqlx::query(&sql).bind(kind.as_str()).bind(id).bind(by).bind(at).fetch_optional(&mut *tx).await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "seeded calendar entry", id: format!("{}/{id}", kind.as_str()) });
        };
        let entry = entry_from_row(&row)?;
        audit(&mut tx, "calendar_reverted", kind, id, by, at).await?;
        tx.commit().await?;
        Ok(entry)
    }
}

async fn audit(
    conn: &mut sqlx::AnyConnection,
    what: &str,
    kind: CalendarKind,
    id: &str,
    by: &str,
    at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (at, kind, subject, detail) VALUES ($1, $2, $3, $4)")
        .bind(at)
        .bind(what)
        .bind(by)
        .bind(format!("calendar={} id={id}", kind.as_str()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn entry_from_row(row: &AnyRow) -> Result<CalendarEntry, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let source: String = row.try_get("source")?;
    let decode = |column: &str, value: &str| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unknown value {value:?}").into(),
    };
    Ok(CalendarEntry {
        kind: CalendarKind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
        id: row.try_get("id")?,
        body: row.try_get("body")?,
        seed_body: row.try_get("seed_body")?,
        source: match source.as_str() {
            "seed" => CalendarSource::Seed,
            "api" => CalendarSource::Api,
            other => return Err(decode("source", other)),
        },
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}
