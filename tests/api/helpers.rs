//! `spawn_app`, typed GraphQL calls, fixtures and log capture.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use courier::auth::TokenService;
use courier::config::{Config, LogFormat};
use courier::http::{self, AppState};
use courier::seed;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{Value, json};

/// Runs each named `async fn name(backend: Backend)` of the calling module
/// once per backend, as `name::postgres` and `name::sqlite`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The server under test, with a connection of its own for fixtures.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// A separate pool on the same database, for fixtures and assertions.
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub config: Config,
    pub tokens: TokenService,
    /// The server's own pool (to hold its connections in pool tests).
    pub server_db: DatabaseConnection,
    /// Ends the server gracefully (see `shutdown`).
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server task.
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The viewers the server keeps (`None` for an attached instance).
    pub viewers: Option<std::sync::Arc<courier::domain::viewers::Viewers>>,
    target: Target,
}

enum Target {
    Postgres {
        name: String,
    },
    Sqlite {
        path: std::path::PathBuf,
    },
    /// Another instance on a database some other `TestApp` owns.
    Borrowed,
}

/// PostgreSQL server URL (any database on it); each test creates its own database there.
fn pg_admin_url() -> String {
    std::env::var("COURIER_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn pg_url_for(name: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// Log lines of the whole test binary, as JSON, for assertions on events.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = courier::telemetry::init(LogFormat::Json, "info,sea_orm_migration=warn", None, || CaptureWriter);
    });
}

/// Every captured log line that mentions `needle`, parsed.
pub fn logs_containing(needle: &str) -> Vec<Value> {
    let logs = LOGS.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&logs)
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Test settings: defaults, a fixed secret, small pool.
pub fn test_config(database_url: String) -> Config {
    let mut config = Config::from_env().expect("default config");
    config.database_url = database_url;
    config.jwt_secret = "test-secret-of-sufficient-length".into();
    config.db_pool_max = 5;
    // The simulated processor's timeout card keeps a test waiting this long.
    config.processor_timeout_ms = 300;
    config.db_pool_min = 0;
    config.db_acquire_timeout_ms = 2_000;
    // The webhook tests turn the worker on; elsewhere it would only add
    // statements (and slow-SQL lines) to what the tests count.
    config.webhook_worker = false;
    config
}

/// A fresh, migrated database and a server on port 0.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with settings changed by `configure`.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    let app = spawn_unmigrated(backend, configure).await;
    Migrator::up(&app.db, None).await.expect("migrations apply");
    app
}

/// A fresh empty database (no migrations run) and a server on port 0.
pub async fn spawn_unmigrated(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let (url, target) = match backend {
        Backend::Postgres => {
            let name = format!("courier_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(pg_admin_url()).await.expect("PostgreSQL answers (is it running?)");
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            (pg_url_for(&name), Target::Postgres { name })
        }
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("courier_test_{}.db", uuid::Uuid::new_v4().simple()));
            (format!("sqlite://{}?mode=rwc", path.display()), Target::Sqlite { path })
        }
    };
    let mut config = test_config(url);
    configure(&mut config);
    let server_db = courier::db::connect(&config).await.expect("server pool");
    let db = courier::db::connect(&config).await.expect("fixture pool");
    let listeners = http::Listeners::bind("127.0.0.1:0".parse().expect("addr"), &config).await.expect("bind");
    let addr = listeners.api.local_addr().expect("addr");
    let state = AppState::new(server_db.clone(), config.clone()).expect("server state");
    let viewers = state.viewers.clone();
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listeners, state, async move {
        let _ = signal.await;
    }));
    if backend == Backend::Postgres {
        // The server keeps viewers once it listens for user changes; wait for
        // that, so whether a request reads its viewer does not depend on timing.
        for _ in 0..500 {
            if viewers.is_armed() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
    TestApp {
        addr,
        client: reqwest::Client::new(),
        db,
        backend,
        config,
        tokens,
        server_db,
        shutdown: Some(shutdown),
        server: Some(server),
        viewers: Some(viewers),
        target,
    }
}

impl TestApp {
    /// A handle on a server (another instance) already serving at `addr`
    /// on a database another `TestApp` owns.
    pub fn attach(addr: SocketAddr, db: DatabaseConnection, backend: Backend, config: Config) -> Self {
        let tokens = TokenService::new(&config.jwt_secret, config.jwt_ttl_hours);
        TestApp {
            addr,
            client: reqwest::Client::new(),
            db: db.clone(),
            backend,
            config,
            tokens,
            server_db: db,
            shutdown: None,
            server: None,
            viewers: None,
            target: Target::Borrowed,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.target {
            Target::Postgres { name } => {
                let name = name.clone();
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(pg_admin_url()).await {
                            let _ = admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
            Target::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Target::Borrowed => {}
        }
    }
}

/// A GraphQL answer with its HTTP status and headers.
pub struct GqlResponse {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl GqlResponse {
    /// `data`, asserting there are no errors.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    /// The first error, asserting there is one.
    pub fn error(&self) -> &Value {
        self.body["errors"].get(0).unwrap_or_else(|| panic!("expected an error: {}", self.body))
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> &str {
        self.error()["extensions"]["code"].as_str().unwrap_or_else(|| panic!("error without code: {}", self.body))
    }

    /// The response's `X-Request-ID`.
    pub fn request_id(&self) -> String {
        self.headers["x-request-id"].to_str().expect("ascii").to_owned()
    }
}

impl TestApp {
    /// Sends the server its shutdown signal (as SIGTERM would).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request, with a bearer token when given.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> GqlResponse {
        self.graphql_with(query, variables, token, &[]).await
    }

    /// POSTs a GraphQL request with extra headers.
    pub async fn graphql_with(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> GqlResponse {
        let mut req = self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.json().await.expect("JSON body");
        GqlResponse { status, headers, body }
    }

    /// GETs a path and returns status and JSON body.
    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let res = self.client.get(self.url(path)).send().await.expect("request sent");
        let status = res.status();
        (status, res.json().await.expect("JSON body"))
    }

    /// Seeds the demo data with `orders` orders.
    /// A second server on the same database (another instance), keeping
    /// viewers once it listens (waited for, up to 5 s).
    pub async fn second_instance(&self) -> TestApp {
        let config = self.config.clone();
        let db = courier::db::connect(&config).await.expect("pool");
        let listeners = http::Listeners::bind("127.0.0.1:0".parse().expect("addr"), &config).await.expect("bind");
        let addr = listeners.api.local_addr().expect("addr");
        let state = AppState::new(db.clone(), config.clone()).expect("state");
        let viewers = state.viewers.clone();
        tokio::spawn(http::serve(listeners, state, std::future::pending()));
        let mut other = TestApp::attach(addr, db, self.backend, config);
        other.viewers = Some(viewers);
        if self.backend == Backend::Postgres {
            let started = std::time::Instant::now();
            while !other.keeps_viewers() && started.elapsed() < std::time::Duration::from_secs(5) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        other
    }

    /// Whether the server keeps viewers (PostgreSQL, listening).
    pub fn keeps_viewers(&self) -> bool {
        self.viewers.as_ref().is_some_and(|v| v.is_armed())
    }

    /// Makes `token`'s viewer known to the server, so counted requests after
    /// it cost [`TestApp::auth_statements`] for the viewer.
    pub async fn warm(&self, token: &str) {
        let res = self.graphql("{ viewer { id } }", Value::Null, Some(token)).await;
        assert!(res.body["errors"].is_null(), "{}", res.body);
    }

    /// Statements a request after [`TestApp::warm`] spends on its viewer:
    /// none when the server keeps viewers, else one.
    pub fn auth_statements(&self) -> u64 {
        if self.keeps_viewers() { 0 } else { 1 }
    }

    pub async fn seed(&self, orders: u64) {
        seed::seed(&self.db, orders, self.config.platform_fee_rate).await.expect("seed");
    }

    /// A token for the user with this email.
    pub async fn token_for(&self, email: &str) -> String {
        let user = courier::domain::users::find_by_email(&self.db, email).await.expect("user exists");
        self.tokens.mint(user.id).expect("mint")
    }

    /// The delivery agent of the user with this email.
    pub async fn agent_of(&self, email: &str) -> entity::delivery_agent::Model {
        use entity::delivery_agent;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let user = courier::domain::users::find_by_email(&self.db, email).await.expect("user exists");
        delivery_agent::Entity::find()
            .filter(delivery_agent::Column::UserId.eq(user.id))
            .one(&self.db)
            .await
            .expect("q")
            .expect("the user is an agent")
    }

    /// Inserts a user directly (a fixture for roles the demo data lacks).
    pub async fn create_user(&self, email: &str, role: entity::UserRole) -> entity::user::Model {
        use sea_orm::{ActiveModelTrait, Set};
        let now = chrono::Utc::now();
        entity::user::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            email: Set(email.to_owned()),
            display_name: Set(email.split('@').next().unwrap_or(email).to_owned()),
            role: Set(role),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            deleted_by: Set(None),
        }
        .insert(&self.db)
        .await
        .expect("insert user")
    }

    /// Runs raw SQL on the fixture pool.
    pub async fn exec(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// First column of each row of a raw query, as strings.
    pub async fn query_strings(&self, sql: &str) -> Vec<String> {
        let backend: DatabaseBackend = self.db.get_database_backend();
        self.db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).expect("string column"))
            .collect()
    }

    /// The PostgreSQL database name of this test (panics on SQLite).
    pub fn pg_database(&self) -> &str {
        match &self.target {
            Target::Postgres { name } => name,
            Target::Sqlite { .. } | Target::Borrowed => panic!("not the PostgreSQL database's owner"),
        }
    }
}

/// Runs SQL on the PostgreSQL server's maintenance database.
pub async fn pg_admin(sql: &str) {
    let admin = Database::connect(pg_admin_url()).await.expect("admin connection");
    admin.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    admin.close().await.ok();
}
