//! The integration-test harness: [`spawn_app`] starts the real server on port 0 with a fresh database (an
//! SQLite file, or a new PostgreSQL database) and its own copy of the demo rooms-config, and returns a handle
//! with the address and helpers that read like a user's story.

#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::time::Duration;
use vayla_client::{Api, Signal};
use vayla_protocol::ServerMessage;
use vayla_server::{start, Config, Server};

/// Every demo person's password and every demo device's credential (README names them).
pub const PASSWORD: &str = "vayla-demo";
pub const DEVICE_CREDENTIAL: &str = "device-demo";
pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub server: Option<Server>,
    pub config: Config,
    pub api: Api,
    pub rooms_config: PathBuf,
    pub backend: Backend,
    /// PostgreSQL: the admin URL and the URL of the database made for the test, to drop it at the end.
    pg_database: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A database URL for a fresh, empty database of `backend`, and for PostgreSQL the admin URL it was made with.
async fn fresh_database(backend: Backend, dir: &Path) -> (String, Option<String>) {
    match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.join("vayla.db").display()), None),
        Backend::Postgres => {
            let admin = std::env::var("VAYLA_TEST_PG_URL").unwrap_or_else(|_| {
                panic!(
                    "PostgreSQL tests need VAYLA_TEST_PG_URL (an admin URL such as \
                     postgres://postgres@127.0.0.1:5433/postgres); scripts/test-all.sh starts a server and sets it"
                )
            });
            let url = vayla_store::fresh_postgres_database(&admin).await.expect("create a fresh PostgreSQL database");
            (url, Some(admin))
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    tracing_subscriber_init();
    let dir = tempfile::tempdir().unwrap();
    let rooms_config = dir.path().join("rooms-config");
    copy_dir(&repo_root().join("rooms-config"), &rooms_config);
    let (database_url, pg_admin) = fresh_database(backend, dir.path()).await;
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        database_url: Some(database_url.clone()),
        rooms_config: rooms_config.clone(),
        web_dir: repo_root().join("web"),
        reload_interval_ms: 100,
        grace_ms: 1_500,
        heartbeat_ms: 1_000,
        ..Config::default()
    };
    tweak(&mut config);
    let server = start(config.clone()).await.expect("server starts");
    let api = Api::new(server.url());
    let pg_database = pg_admin.map(|admin| (admin, database_url));
    TestApp { server: Some(server), config, api, rooms_config, backend, pg_database, _dir: dir }
}

fn tracing_subscriber_init() {
    // Logs go to the test's captured output; RUST_LOG=info shows them.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

impl TestApp {
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("server running")
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Stop the server and start a new process's worth of it on the same database and rooms-config.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = start(self.config.clone()).await.expect("server restarts");
        self.api = Api::new(server.url());
        self.server = Some(server);
    }

    /// A person's access token.
    pub async fn login(&self, who: &str) -> String {
        self.api.login(who, PASSWORD).await.unwrap_or_else(|e| panic!("{who} logs in: {e}")).access_token
    }

    /// A device's access token.
    pub async fn device(&self, room: &str) -> String {
        self.api.device_login(room, DEVICE_CREDENTIAL).await.expect("device logs in").access_token
    }

    /// An advisor of the room's service point opens a session with these seats.
    pub async fn open(&self, room: &str, seats: &[(&str, &str)]) -> serde_json::Value {
        let advisor = format!("advisor-{}", room.rsplit_once('-').map(|(sp, _)| sp).unwrap_or(room));
        let token = self.login(&advisor).await;
        self.api.open_session(&token, room, seats).await.expect("session opens")
    }

    /// A signalling connection that has said hello.
    pub async fn signal(&self) -> Signal {
        Signal::open(&self.api.ws_url()).await.expect("websocket opens")
    }

    /// Log `who` in (a person, or a device when `who` is a room), get a room token and join.
    pub async fn join(&self, who: &str, room: &str) -> (Signal, Result<ServerMessage, vayla_client::ClientError>) {
        let access = if who == room { self.device(room).await } else { self.login(who).await };
        let token = self.api.join_token(&access, room).await.expect("room token").token;
        let mut s = self.signal().await;
        let r = s.join(room, &token).await;
        (s, r)
    }

    /// Like [`TestApp::join`], but the join must succeed.
    pub async fn joined(&self, who: &str, room: &str) -> Signal {
        let (s, r) = self.join(who, room).await;
        r.unwrap_or_else(|e| panic!("{who} joins {room}: {e}"));
        s
    }

    pub fn write_config(&self, relative: &str, text: &str) {
        std::fs::write(self.rooms_config.join(relative), text).unwrap();
    }

    pub fn read_config(&self, relative: &str) -> String {
        std::fs::read_to_string(self.rooms_config.join(relative)).unwrap()
    }
}

impl Drop for TestApp {
    /// A PostgreSQL test database is dropped when its test passes; a failed test's is kept to look at
    /// (`scripts/pg-test-server.sh start` clears leftovers). Each database costs several MB of disk, and a
    /// full test run opens a few hundred.
    fn drop(&mut self) {
        let Some((admin, url)) = self.pg_database.take() else { return };
        if std::thread::panicking() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot block on a future: use a small runtime on a thread.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(vayla_store::drop_postgres_database(&admin, &url))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

/// Poll `check` until it is true, for at most `wait`.
pub async fn eventually<F, Fut>(wait: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Generate one test per backend from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Postgres).await } )*
        }
    };
}
