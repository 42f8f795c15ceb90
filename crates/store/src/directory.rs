//! The directory mirror: agencies, service points, devices and people as last loaded from the
//! rooms-config. The config file stays the source of truth; the mirror exists so that sessions and the
//! audit log can be joined to names, and so that history keeps its meaning after someone leaves the
//! config. Hence entities are never deleted, only marked inactive, and come back if they reappear.
//! Secrets (password hashes) are deliberately not mirrored.

use crate::{Millis, Store, StoreError};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyRecord {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePointRecord {
    pub id: String,
    pub name: String,
    pub municipality: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub service_point: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    pub agency: Option<String>,
    pub service_point: Option<String>,
}

/// Everything the rooms-config says about who and what exists, at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectorySnapshot {
    pub agencies: Vec<AgencyRecord>,
    pub service_points: Vec<ServicePointRecord>,
    pub devices: Vec<DeviceRecord>,
    pub people: Vec<PersonRecord>,
}

/// The directory tables, in the order that satisfies their foreign keys.
const TABLES: [&str; 4] = ["agencies", "service_points", "devices", "people"];

impl Store {
    /// Makes the mirror equal to `snap`, in one transaction: every entity in the snapshot is inserted or
    /// updated and marked active; every entity not in it is kept but marked inactive (sessions and the
    /// audit log still refer to it). `at` is recorded as first-seen / deactivation time.
    ///
    /// References between entities (a device's service point, a person's agency) must exist in the
    /// database — normally because they are in the same snapshot; the config loader validates that.
    pub async fn sync_directory(&self, snap: &DirectorySnapshot, at: Millis) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;

        // The first statement writes. Under SQLite that takes the write lock right away, waiting via
        // busy_timeout, instead of starting as a reader and failing with "database is locked" when the
        // transaction later tries to upgrade. The new row's id is this sync's generation number: rows
        // not stamped with it afterwards were not in the snapshot, whatever the clock says.
        let generation: i64 = sqlx::query_scalar(
            "INSERT INTO directory_syncs (at, agencies, service_points, devices, people) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(at)
        .bind(snap.agencies.len() as i64)
        .bind(snap.service_points.len() as i64)
        .bind(snap.devices.len() as i64)
        .bind(snap.people.len() as i64)
        .fetch_one(&mut *tx)
        .await?;

        for a in &snap.agencies {
            sqlx::query(
                "INSERT INTO agencies (id, name, active, first_seen_at, deactivated_at, last_sync) \
                 VALUES ($1, $2, 1, $3, NULL, $4) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, active = 1, \
                 deactivated_at = NULL, last_sync = excluded.last_sync",
            )
            .bind(&a.id)
            .bind(&a.name)
            .bind(at)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        }
        for sp in &snap.service_points {
            sqlx::query(
                "INSERT INTO service_points \
                 (id, name, municipality, active, first_seen_at, deactivated_at, last_sync) \
                 VALUES ($1, $2, $3, 1, $4, NULL, $5) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                 municipality = excluded.municipality, active = 1, deactivated_at = NULL, \
                 last_sync = excluded.last_sync",
            )
            .bind(&sp.id)
            .bind(&sp.name)
            .bind(&sp.municipality)
            .bind(at)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        }
        for d in &snap.devices {
            sqlx::query(
                "INSERT INTO devices \
                 (id, service_point, name, active, first_seen_at, deactivated_at, last_sync) \
                 VALUES ($1, $2, $3, 1, $4, NULL, $5) \
                 ON CONFLICT (id) DO UPDATE SET service_point = excluded.service_point, \
                 name = excluded.name, active = 1, deactivated_at = NULL, \
                 last_sync = excluded.last_sync",
            )
            .bind(&d.id)
            .bind(&d.service_point)
            .bind(&d.name)
            .bind(at)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        }
        for p in &snap.people {
            sqlx::query(
                "INSERT INTO people \
                 (id, name, role, agency, service_point, active, first_seen_at, deactivated_at, last_sync) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, NULL, $7) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 agency = excluded.agency, service_point = excluded.service_point, active = 1, \
                 deactivated_at = NULL, last_sync = excluded.last_sync",
            )
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.role)
            .bind(p.agency.as_deref())
            .bind(p.service_point.as_deref())
            .bind(at)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        }

        for table in TABLES {
            // `table` comes from the constant above, never from input.
            sqlx::query(&format!(
                "UPDATE {table} SET active = 0, deactivated_at = $1 WHERE active = 1 AND last_sync <> $2"
            ))
            .bind(at)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        }

        tx.commit().await?;
        Ok(())
    }

    /// Ids of the devices present in the last synced snapshot, sorted.
    pub async fn active_device_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM devices WHERE active = 1 ORDER BY id").fetch_all(&self.pool).await?)
    }

    /// The active part of the mirror, each list sorted by id: equal to the last synced snapshot up to
    /// ordering and duplicates.
    pub async fn active_directory(&self) -> Result<DirectorySnapshot, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let agencies = sqlx::query("SELECT id, name FROM agencies WHERE active = 1 ORDER BY id")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok(AgencyRecord { id: r.try_get("id")?, name: r.try_get("name")? }))
            .collect::<Result<_, sqlx::Error>>()?;
        let service_points =
            sqlx::query("SELECT id, name, municipality FROM service_points WHERE active = 1 ORDER BY id")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    Ok(ServicePointRecord {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        municipality: r.try_get("municipality")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
        let devices = sqlx::query("SELECT id, service_point, name FROM devices WHERE active = 1 ORDER BY id")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(DeviceRecord {
                    id: r.try_get("id")?,
                    service_point: r.try_get("service_point")?,
                    name: r.try_get("name")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        let people =
            sqlx::query("SELECT id, name, role, agency, service_point FROM people WHERE active = 1 ORDER BY id")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    Ok(PersonRecord {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        role: r.try_get("role")?,
                        agency: r.try_get("agency")?,
                        service_point: r.try_get("service_point")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
        Ok(DirectorySnapshot { agencies, service_points, devices, people })
    }

    /// Whether a directory entity is currently active: `None` if it was never synced at all.
    /// `kind` is one of "agency", "service_point", "device", "person".
    pub async fn directory_entity_active(&self, kind: &str, id: &str) -> Result<Option<bool>, StoreError> {
        let table = match kind {
            "agency" => "agencies",
            "service_point" => "service_points",
            "device" => "devices",
            "person" => "people",
            _ => return Err(StoreError::NotFound { what: "directory kind", id: kind.to_owned() }),
        };
        let active: Option<i64> = sqlx::query_scalar(&format!("SELECT active FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(active.map(|a| a != 0))
    }
}
