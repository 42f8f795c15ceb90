//! The harness every store test file shares: a database per test on SQLite (a file in a temporary directory)
//! and on PostgreSQL (a fresh database on the server named by `VAYLA_TEST_PG_URL`, dropped afterwards), and
//! `both_backends!`, which runs each scenario on both.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::future::Future;
use vayla_store::*;

/// One test's database: how to connect to it, and how to clean it up afterwards.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// PostgreSQL: the admin URL, to drop the database at the end.
    admin_url: Option<String>,
    /// SQLite: keeps the temporary directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        // A not-yet-existing subdirectory, to check that connect creates it.
        let path = dir.path().join("nested").join("vayla.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            backend: Backend::Sqlite,
            admin_url: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let admin = postgres_test_admin_url()?;
        let url = fresh_postgres_database(&admin).await.expect("create a fresh PostgreSQL database");
        Some(TestDb { url, backend: Backend::Postgres, admin_url: Some(admin), _dir: None })
    }

    pub async fn connect(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect");
        assert_eq!(store.backend(), self.backend);
        store
    }

    pub async fn finish(self) {
        if let Some(admin) = &self.admin_url {
            drop_postgres_database(admin, &self.url).await.expect("drop the test database");
        }
    }
}

pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = TestDb>,
{
    test(TestDb::sqlite()).await.finish().await;
}

pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = TestDb>,
{
    if let Some(db) = TestDb::postgres().await {
        test(db).await.finish().await;
    }
}

/// Declares `mod name { sqlite(), postgres() }` running the scenario `name(db) -> db` on each backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::on_sqlite(super::scenarios::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            pub async fn postgres() {
                super::on_postgres(super::scenarios::$name).await;
            }
        }
    )*};
}
