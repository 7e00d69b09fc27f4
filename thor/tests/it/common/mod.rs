//! Starts the real server (the same `Application` as `thor`) on 127.0.0.1:0 with a fresh data
//! directory, and gives tests its address and a way to stop it.

#![allow(dead_code)]

pub mod page;

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use std::net::SocketAddr;
use std::time::Duration;
use thor_server::config::DatabaseUrl;
use thor_server::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The pages, as the `thor` binary routes them.
pub const SITE: thor_server::Site = thor_server::Site {
    pages: app::site::pages::<thor_server::state::AppState>,
    fallback: app::site::fallback::<thor_server::state::AppState>,
};

pub struct TestApp {
    pub addr: SocketAddr,
    pub stop: CancellationToken,
    pub db: thor_server::db::Database,
    pub hub: thor_server::hub::Hub,
    pub state: thor_server::state::AppState,
    pub jobs: thor_server::application::JobRunner,
    pub server: JoinHandle<anyhow::Result<()>>,
    pub data_dir: tempfile::TempDir,
}

/// A test's instant, written in RFC 3339 (`"2026-03-09T14:30:10Z"`), for a `ManualClock`.
pub fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .with_timezone(&chrono::Utc)
}

/// Settings for a test server: port 0, a fresh SQLite file, a quick heartbeat.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.site.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.storage.data_dir = data_dir.to_path_buf();
    settings.hub.heartbeat_interval = Duration::from_millis(100);
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(data_dir.path());
    tweak(&mut settings);
    start(settings, data_dir).await
}

pub async fn start(settings: Settings, data_dir: tempfile::TempDir) -> TestApp {
    start_with_clock(
        settings,
        data_dir,
        std::sync::Arc::new(thor_server::clock::SystemClock),
    )
    .await
}

pub async fn start_with_clock(
    settings: Settings,
    data_dir: tempfile::TempDir,
    clock: std::sync::Arc<dyn thor_server::clock::Clock>,
) -> TestApp {
    let app = Application::build_with_clock(settings, clock, SITE)
        .await
        .expect("server builds");
    let addr = app.local_addr();
    let stop = app.stop_token();
    let db = app.database();
    let hub = app.hub();
    let state = app.state();
    let jobs = app.job_runner();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        stop,
        db,
        hub,
        state,
        jobs,
        server,
        data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Stops the server and waits for it to finish; returns the data directory for reuse.
    pub async fn stop(self) -> tempfile::TempDir {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("server stops within 10 s")
            .expect("server task joins")
            .expect("server stops cleanly");
        self.data_dir
    }
}

pub fn sqlite_url(dir: &std::path::Path) -> DatabaseUrl {
    DatabaseUrl::new(format!("sqlite://{}", dir.join("thor.db").display()))
}

/// Signs `username` in (password = username, as the demo users are seeded) and returns the
/// `thor_session=…` cookie pair.
pub async fn sign_in(app: &TestApp, username: &str) -> String {
    sign_in_at(app.addr, username).await
}

/// [`sign_in`] on the server at `addr`.
pub async fn sign_in_at(addr: SocketAddr, username: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/login"))
        .json(&serde_json::json!({ "username": username, "password": username }))
        .send()
        .await
        .expect("login request");
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "{username} signs in"
    );
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii cookie")
        .to_string();
    cookie.split(';').next().expect("a cookie pair").to_string()
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/ws` (plus `query`, e.g. `?epoch=…`) with the session `cookie`.
pub async fn ws_connect(app: &TestApp, cookie: &str, query: &str) -> Socket {
    ws_connect_at(app.addr, cookie, query).await
}

/// [`ws_connect`] to the server at `addr`, past its `hello` (checked: the first message).
pub async fn ws_connect_at(addr: SocketAddr, cookie: &str, query: &str) -> Socket {
    let mut socket = ws_connect_raw(addr, cookie, query).await;
    hello(&mut socket).await;
    socket
}

/// Opens `/ws` at `addr`; nothing read yet (the server's `hello` comes first).
pub async fn ws_connect_raw(addr: SocketAddr, cookie: &str, query: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws{query}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade accepted")
        .0
}

/// Reads the socket's first message, which is always the server's `hello` (at most 5 s).
pub async fn hello(socket: &mut Socket) -> app::protocol::Hello {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a first message within 5 s");
    let Some(Ok(Message::Text(text))) = first else {
        panic!("the first message is not text: {first:?}");
    };
    let envelope: app::protocol::Envelope = serde_json::from_str(&text).expect("an envelope");
    match envelope.message {
        app::protocol::ServerMessage::Hello(hello) => hello,
        other => panic!("the first message is not hello: {other:?}"),
    }
}

/// Whether a test that needs PostgreSQL or Redis fails when the service is missing
/// (`THOR_REQUIRE_SERVICES=1`, as `scripts/test` and CI run) instead of skipping.
pub fn services_required() -> bool {
    std::env::var("THOR_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// `Ok` when `service` answers; else the test is skipped (`false`), saying so on the terminal,
/// unless services are required (then it fails with the reason).
pub fn may_run(test: &str, service: &str, answered: Result<(), String>) -> bool {
    use std::io::Write;
    let Err(why) = answered else {
        return true;
    };
    assert!(
        !services_required(),
        "{test} needs {service}, which is not available: {why}"
    );
    // Written to the terminal itself: the test harness captures only the print macros.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: {service} is not available ({why}); `scripts/test` runs it, \
         with THOR_REQUIRE_SERVICES=1"
    );
    false
}

/// `Ok` when `program` is on the `PATH`.
pub fn program_found(program: &str) -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .any(|dir| dir.join(program).is_file())
        .then_some(())
        .ok_or_else(|| format!("no {program} on the PATH"))
}

/// Whether the test PostgreSQL server answers (else [`may_run`] skips `test`).
pub async fn postgres_may_run(test: &str) -> bool {
    let url = format!("{}/postgres", postgres_server_url());
    let answered =
        match tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&url)).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(format!("{url}: {e}")),
            Err(_) => Err(format!("{url}: no answer within 3 s")),
        };
    may_run(test, "PostgreSQL", answered)
}

/// The test Redis server (`THOR_TEST_REDIS_URL`).
pub fn redis_server_url() -> String {
    std::env::var("THOR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// Whether the test Redis server answers a PING (else [`may_run`] skips `test`).
pub async fn redis_may_run(test: &str) -> bool {
    let url = redis_server_url();
    let ping = async {
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let answered = match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(result) => result.map_err(|e| format!("{url}: {e}")),
        Err(_) => Err(format!("{url}: no answer within 3 s")),
    };
    may_run(test, "Redis", answered)
}

/// The test PostgreSQL server (`THOR_TEST_POSTGRES_URL`).
pub fn postgres_server_url() -> String {
    std::env::var("THOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A fresh, empty PostgreSQL database on the test server; [`TempDatabase::drop_it`] drops it
/// with its connections.
pub struct TempDatabase {
    pub name: String,
}

impl TempDatabase {
    pub async fn create() -> Self {
        let name = format!(
            "thor_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server_url()))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL must be running for this test (THOR_TEST_POSTGRES_URL={}): {e}",
                    postgres_server_url()
                )
            });
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        Self { name }
    }

    pub fn url(&self) -> DatabaseUrl {
        DatabaseUrl::new(format!("{}/{}", postgres_server_url(), self.name))
    }

    pub async fn drop_it(self) {
        let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server_url()))
            .await
            .expect("connect to drop");
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    }
}

/// Reads until the server closes the socket; its close code (`None` if it just ends), or a
/// panic after `limit`.
pub async fn close_code_within(socket: &mut Socket, limit: Duration) -> Option<u16> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the socket is still open after {limit:?}"))
}

/// Waits (at most 5 s) for the socket's first message: it is registered and serving.
pub async fn serving(socket: &mut Socket) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a first message");
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
}

/// The status of a `GET path` from the server at `addr` with the session `cookie`.
pub async fn status_at(addr: SocketAddr, path: &str, cookie: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
        .status()
}

/// Runs `command` (a `thor` subcommand) with `input` on its standard input and waits for it, as
/// an operator typing a password would. A command refused before it reads its input (a bad
/// argument, a reserved name) exits first and closes the pipe: that is not the test's failure,
/// the command's output is.
pub fn run_with_input(command: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("thor runs");
    if let Some(mut stdin) = child.stdin.take()
        && let Err(error) = stdin.write_all(input)
    {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "stdin written: {error}"
        );
    }
    child.wait_with_output().expect("thor ends")
}

/// `thor users set-password USERNAME` on the SQLite file in `data_dir`, as an operator on the
/// server's machine would type it (`input`: the password and its newline).
pub fn set_password_cli(
    data_dir: &std::path::Path,
    username: &str,
    input: &[u8],
) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_thor"));
    command
        .args(["users", "set-password", username])
        .env("THOR_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "error")
        .current_dir(data_dir);
    run_with_input(&mut command, input)
}
