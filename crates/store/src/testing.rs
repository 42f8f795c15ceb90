//! Helpers for tests that need a real PostgreSQL: a fresh, empty database per test (so tests can run in
//! parallel and never see each other's rows), and the one policy for when no server is configured.
//! Public because the server's integration tests need exactly the same thing.

use crate::{dburl, StoreError};
use sqlx::{Connection, Executor};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable holding an admin URL for tests, e.g.
/// `postgres://postgres@127.0.0.1:5433/postgres` (see `scripts/pg-test-server.sh url`).
pub const TEST_PG_URL_VAR: &str = "VAYLA_TEST_PG_URL";
/// Set to `1` to skip PostgreSQL tests on purpose.
pub const SKIP_PG_VAR: &str = "VAYLA_SKIP_PG";

/// The admin URL for PostgreSQL tests, from `VAYLA_TEST_PG_URL`.
///
/// Returns `None` (after printing a notice) only if `VAYLA_SKIP_PG=1`. Otherwise a missing URL
/// **panics**: a PostgreSQL test that silently passes without a server would hide a broken backend.
pub fn postgres_test_admin_url() -> Option<String> {
    match std::env::var(TEST_PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var(SKIP_PG_VAR).as_deref() == Ok("1") => {
            eprintln!("notice: {SKIP_PG_VAR}=1, skipping a PostgreSQL test");
            None
        }
        _ => panic!(
            "{TEST_PG_URL_VAR} is not set, so the PostgreSQL variant of this test cannot run. \
             Start a throwaway server with `scripts/pg-test-server.sh start` and run with \
             `{TEST_PG_URL_VAR}=$(scripts/pg-test-server.sh url)`, or set {SKIP_PG_VAR}=1 to skip \
             PostgreSQL tests deliberately."
        ),
    }
}

/// Creates an empty database `vayla_test_<random>` on the server of `admin_url` and returns a URL for
/// it (same user, host and parameters). Migrations are not run; `Store::connect` does that.
pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, StoreError> {
    crate::install_drivers();
    let name = format!("vayla_test_{:016x}", random_u64());
    let url = dburl::pg_with_database(admin_url, &name)
        .ok_or_else(|| StoreError::UnsupportedUrl(dburl::redact(admin_url)))?;
    let mut admin = admin_connection(admin_url).await?;
    // The name is generated here from hex digits only, so formatting it into the SQL is safe.
    admin.execute(&*format!("CREATE DATABASE \"{name}\"")).await?;
    admin.close().await?;
    Ok(url)
}

/// Drops the database `database_url` points at, disconnecting anyone still using it (a server that is
/// still running, say). Missing databases are fine. For cleaning up after [`fresh_postgres_database`].
pub async fn drop_postgres_database(admin_url: &str, database_url: &str) -> Result<(), StoreError> {
    crate::install_drivers();
    let name =
        dburl::pg_database_name(database_url).ok_or_else(|| StoreError::UnsupportedUrl(dburl::redact(database_url)))?;
    let mut admin = admin_connection(admin_url).await?;
    let quoted = name.replace('"', "\"\"");
    // FORCE (PostgreSQL 13+) ends other sessions and drops in one step, so a pool reconnecting in between
    // cannot make the drop fail.
    admin.execute(&*format!("DROP DATABASE IF EXISTS \"{quoted}\" WITH (FORCE)")).await?;
    admin.close().await?;
    Ok(())
}

async fn admin_connection(admin_url: &str) -> Result<sqlx::AnyConnection, StoreError> {
    if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
        return Err(StoreError::UnsupportedUrl(dburl::redact(admin_url)));
    }
    sqlx::AnyConnection::connect(admin_url)
        .await
        .map_err(|source| StoreError::Connect { url: dburl::redact(admin_url), source })
}

/// Random enough for unique test database names without a `rand` dependency: std's per-process random
/// hash keys, mixed with the time, the process id and a counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    h.write_u128(nanos);
    h.finish()
}
