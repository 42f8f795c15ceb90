//! JWT signing keys. They live in the database, not in each node's memory or config, so that every
//! server node on the same database signs and verifies with the same set, and a rotation done by one
//! node is seen by all. A retired key is no longer used to sign but still verifies tokens issued before
//! the rotation, until it is purged with `delete_signing_keys_retired_before`.

use crate::{Millis, Store, StoreError};
use sqlx::Row;
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: Millis,
    pub retired_at: Option<Millis>,
}

/// Hand-written so that the secret can never end up in a log line through `{:?}`.
impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("secret", &format_args!("<{} bytes redacted>", self.secret.len()))
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl Store {
    /// All keys, newest first (by creation time, then kid), retired ones included.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, secret, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRecord {
                    kid: r.try_get("kid")?,
                    secret: r.try_get("secret")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores a new key. A kid already present is `Conflict` (two nodes rotating at once: the loser
    /// should reload the keys rather than overwrite the winner's secret).
    pub async fn insert_signing_key(&self, k: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES ($1, $2, $3, $4)")
            .bind(&k.kid)
            .bind(&k.secret)
            .bind(k.created_at)
            .bind(k.retired_at)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::unique_as_conflict(e, "signing key", &k.kid))?;
        Ok(())
    }

    /// Marks a key retired at `at`. Retiring an already retired key keeps the earlier time, so the
    /// purge deadline cannot be pushed back. Unknown kid is `NotFound`.
    pub async fn retire_signing_key(&self, kid: &str, at: Millis) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE signing_keys SET retired_at = COALESCE(retired_at, $2) WHERE kid = $1")
            .bind(kid)
            .bind(at)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "signing key", id: kid.to_owned() });
        }
        Ok(())
    }

    /// Deletes the keys retired strictly before `at` and returns how many went. Active keys are
    /// never deleted.
    pub async fn delete_signing_keys_retired_before(&self, at: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
