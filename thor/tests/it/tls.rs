//! TLS on every hop, against real servers holding certificates from a private CA made here: a
//! PostgreSQL of this test's own with `ssl = on` that refuses plain connections, a Redis with only
//! a TLS port, two `thor` instances sharing both (sign-in, a job round, a flag change reaching a
//! page on the other instance), a wrong CA refused at start naming the hop, and
//! `thor cutover --server https://…` through a TLS front with `--ca-file`.
//!
//! PostgreSQL's binaries come from `THOR_TEST_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`;
//! as root they run as the `postgres` user. `redis-server` must be built with TLS (Debian's is).

use crate::common;

use app::cutover::{Flags, Stage};
use app::feature::Feature;
use app::protocol::{Envelope, Topic};
use common::TestApp;
use common::page::Page;
use futures::StreamExt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thor_server::config::DatabaseUrl;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_tungstenite::tungstenite::Message;

/// How long any condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// A private CA and a server certificate it signed (for `localhost` and `127.0.0.1`), and a
/// second CA that signed nothing here, as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key"))
                .expect("a CA certificate")
        };
        let (ca, wrong) = (ca("Thor test CA"), ca("Some other CA"));
        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &ca).expect("the server certificate");

        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("a PEM file written");
        };
        write("ca.pem", &ca.pem());
        write("wrong-ca.pem", &wrong.pem());
        write("server.crt", &cert.pem());
        write("server.key", &key.serialize_pem());
        Self {
            server_cert: cert.der().clone(),
            server_key: key.serialize_der(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn wrong_ca(&self) -> PathBuf {
        self.path("wrong-ca.pem")
    }
}

/// A free port on loopback (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run it: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of this test's own: TLS with the PKI's server certificate, and only
/// `hostssl` lines in `pg_hba.conf`, so a plain connection is refused.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    fn bin() -> PathBuf {
        Self::find_bin()
            .expect("PostgreSQL's initdb in /usr/lib/postgresql/*/bin (or set THOR_TEST_PG_BIN)")
    }

    fn find_bin() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("THOR_TEST_PG_BIN") {
            return Some(dir.into());
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|bin| bin.join("initdb").exists())
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|bin| {
            bin.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
        });
        found.pop()
    }

    /// `program` from PostgreSQL's binaries, as the `postgres` user when we are root (they
    /// refuse to run as root).
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts a cluster serving `pki`'s `server.crt` and `server.key`.
    fn start(pki: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = Self {
            dir,
            bin: Self::bin(),
            port: free_port(),
        };
        let root = cluster.dir.path();
        cluster.give_to_postgres(root);
        run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
                .arg("--no-sync"),
            "initdb",
        );
        let data = cluster.data();
        for name in ["server.crt", "server.key"] {
            std::fs::copy(pki.join(name), data.join(name)).expect("certificate copied");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            let key = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(data.join("server.key"), key).expect("key mode 0600");
        }
        let settings = format!(
            "\nport = {}\nlisten_addresses = 'localhost'\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
            cluster.port,
            root.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .expect("postgresql.conf written");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("pg_hba.conf written");
        cluster.give_to_postgres(root);
        run(
            cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.join("log"))
                .args(["-w", "-t", "30", "start"]),
            "pg_ctl start",
        );
        cluster
    }

    fn give_to_postgres(&self, path: &Path) {
        if running_as_root() {
            run(
                Command::new("chown").args(["-R", "postgres:"]).arg(path),
                "chown to postgres",
            );
        }
    }

    /// The cluster's `postgres` database over TLS, the server's name and certificate checked.
    fn url(&self) -> DatabaseUrl {
        DatabaseUrl::new(format!(
            "postgres://postgres@localhost:{}/postgres?sslmode=verify-full",
            self.port
        ))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What the two-instance test runs of its own: PostgreSQL's server programs (as the
/// `postgres` user when we are root) and a Redis server.
fn tls_servers_available() -> Result<(), String> {
    Postgres::find_bin()
        .ok_or("no PostgreSQL initdb in /usr/lib/postgresql/*/bin (or THOR_TEST_PG_BIN)")?;
    common::program_found("redis-server")?;
    if running_as_root() {
        common::program_found("runuser")?;
    }
    Ok(())
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A Redis of this test's own that speaks only TLS (no plain port), with the PKI's certificate.
struct TlsRedis {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(pki: &Pki) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "-::1"])
            .arg("--tls-cert-file")
            .arg(pki.path("server.crt"))
            .arg("--tls-key-file")
            .arg(pki.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(pki.ca())
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (built with TLS) must be installed for this test");
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    fn url(&self) -> DatabaseUrl {
        DatabaseUrl::new(format!("rediss://localhost:{}", self.port))
    }

    async fn wait_until_up(&self, ca: &Path) {
        let url = self.url();
        eventually("the TLS Redis answers", async || {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(ca).ok()?),
            };
            let client = redis::Client::build_with_tls(url.expose(), certificates).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .ok()
        })
        .await;
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it answers, or fails the test after `DEADLINE`.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `thor` (serving) started with `env` in an empty directory, expected to stop at start; what
/// it printed. One still running after `DEADLINE` started after all: it is killed, and the test
/// fails.
async fn thor_serve(env: Vec<(&'static str, String)>) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_thor"))
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("THOR_CONFIG")
        .env("THOR_DATA_DIR", dir.path().join("data"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("thor runs");
    let started = Instant::now();
    while child.try_wait().expect("thor's status").is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let output = child.wait_with_output().expect("thor ends");
            panic!(
                "thor started instead of refusing: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.wait_with_output().expect("thor's output")
}

/// Asserts `thor` refused to start, in one line that says `says` (every one of them).
fn refused_saying(output: &Output, says: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    for words in says {
        assert!(stderr.contains(words), "{words:?} not in: {stderr}");
    }
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// Two instances on the TLS PostgreSQL and the TLS Redis: sign-in, a job round delivered across
/// instances, a flag change made on either reaching a page on the other; a wrong CA for either
/// hop stops `thor` at start saying which hop and why.
#[tokio::test]
async fn two_instances_run_over_tls_to_postgresql_and_redis_and_a_wrong_ca_is_refused() {
    let servers = tls_servers_available();
    if !common::may_run(
        "two_instances_run_over_tls_to_postgresql_and_redis_and_a_wrong_ca_is_refused",
        "PostgreSQL's and Redis's server programs",
        servers,
    ) {
        return;
    }
    let pki = Pki::new();
    let postgres = tokio::task::spawn_blocking({
        let pki = pki.dir.path().to_path_buf();
        move || Postgres::start(&pki)
    })
    .await
    .expect("PostgreSQL starts");
    let redis = TlsRedis::start(&pki);
    redis.wait_until_up(&pki.ca()).await;

    // Nothing gets in without TLS: thor can only be working encrypted.
    let plain = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=disable",
        postgres.port
    );
    let refused = thor_server::db::Database::open(&DatabaseUrl::new(plain)).await;
    let why = format!("{:#}", refused.expect_err("a plain connection is refused"));
    assert!(why.contains("no encryption"), "{why}");

    // A wrong CA: the server stops at start, naming the hop and the certificate problem; with a
    // CA file, a URL without `sslmode` verifies too.
    let db_url = postgres.url().expose().to_string();
    let unset = db_url.replace("?sslmode=verify-full", "");
    for url in [db_url.clone(), unset] {
        let wrong_db = thor_serve(vec![
            ("DATABASE_URL", url),
            (
                "THOR_DATABASE_CA_FILE",
                pki.wrong_ca().display().to_string(),
            ),
        ])
        .await;
        refused_saying(
            &wrong_db,
            &["PostgreSQL", "TLS", "certificate", "wrong-ca.pem"],
        );
    }
    let redis_url = redis.url().expose().to_string();
    let wrong_redis = thor_serve(vec![
        ("DATABASE_URL", db_url.clone()),
        ("THOR_DATABASE_CA_FILE", pki.ca().display().to_string()),
        ("REDIS_URL", redis_url.clone()),
        ("THOR_REDIS_CA_FILE", pki.wrong_ca().display().to_string()),
    ])
    .await;
    refused_saying(
        &wrong_redis,
        &["Redis", "TLS", "certificate", "wrong-ca.pem"],
    );

    let start = |prefix: &'static str| {
        let (db, redis, ca) = (postgres.url(), redis.url(), pki.ca());
        async move {
            let data_dir = tempfile::tempdir().expect("temp dir");
            let mut settings = common::test_settings(data_dir.path());
            settings.storage.database_url = Some(db);
            settings.storage.database_ca_file = Some(ca.clone());
            settings.hub.redis_url = Some(redis);
            settings.hub.redis_ca_file = Some(ca);
            settings.hub.redis_prefix = prefix.to_string();
            settings.hub.lease_ttl = Duration::from_millis(1000);
            common::start(settings, data_dir).await
        }
    };
    let holder = start("thor-tls").await;
    let follower = start("thor-tls").await;
    assert!(holder.state.lease.holds() && !follower.state.lease.holds());
    assert_eq!(follower.db.backend(), "postgres");
    let encrypted: bool = thor_server::on_pool!(&follower.db, pool => {
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(pool)
            .await
    })
    .expect("pg_stat_ssl");
    assert!(encrypted, "the pool's connections are TLS");

    // Signed in on the lease holder (users in PostgreSQL); the follower's socket gets the lease
    // holder's job round (the demo account valued from PostgreSQL) and its live heartbeats over
    // Redis.
    let demo = common::sign_in_at(holder.addr, "demo").await;
    let mut socket = common::ws_connect_at(follower.addr, &demo, "").await;
    let epoch = holder.hub.epoch();
    let (mut balance, mut heartbeats) = (false, 0);
    tokio::time::timeout(DEADLINE, async {
        while !(balance && heartbeats >= 2) {
            let text = match socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                other => panic!("the follower's socket ended: {other:?}"),
            };
            let envelope: Envelope = serde_json::from_str(text.as_str()).expect("an envelope");
            if envelope.epoch != epoch {
                continue;
            }
            match envelope.message.topic() {
                Some(Topic::AccountBalance) => balance = true,
                Some(Topic::Heartbeat) => heartbeats += 1,
                _ => {}
            }
        }
    })
    .await
    .expect("the lease holder's job messages reach the follower's page over TLS Redis");

    flag_changes_cross_instances(&holder, &follower).await;

    follower.stop().await;
    holder.stop().await;
}

/// A CA file says the operator meant TLS: with a plain Redis URL or an SQLite database it is a
/// mistake, and `thor` says so at start instead of connecting unencrypted.
#[tokio::test]
async fn a_ca_file_for_a_hop_without_tls_stops_thor_at_start() {
    let pki = Pki::new();
    let ca = pki.ca().display().to_string();
    let plain_redis = thor_serve(vec![
        ("REDIS_URL", "redis://127.0.0.1:1".to_string()),
        ("THOR_REDIS_CA_FILE", ca.clone()),
    ])
    .await;
    refused_saying(&plain_redis, &["THOR_REDIS_CA_FILE", "not a rediss:// URL"]);
    let sqlite = thor_serve(vec![("THOR_DATABASE_CA_FILE", ca)]).await;
    refused_saying(&sqlite, &["THOR_DATABASE_CA_FILE", "SQLite"]);
    let missing = thor_serve(vec![
        (
            "DATABASE_URL",
            "postgres://thor@127.0.0.1:1/thor".to_string(),
        ),
        (
            "THOR_DATABASE_CA_FILE",
            pki.path("nowhere.pem").display().to_string(),
        ),
    ])
    .await;
    refused_saying(&missing, &["cannot read the CA file", "nowhere.pem"]);
}

/// A flag change made on one instance reaches a page on the other, both ways.
async fn flag_changes_cross_instances(holder: &TestApp, follower: &TestApp) {
    let demo = common::sign_in_at(holder.addr, "demo").await;
    let on_holder = Page::open(holder.addr, &demo, "on-holder", 1000.0).await;
    let on_follower = Page::open(follower.addr, &demo, "on-follower", 1000.0).await;
    let change = |addr: SocketAddr, feature: &'static str, stage: &'static str| async move {
        let ops = common::sign_in_at(addr, "ops").await;
        let response = reqwest::Client::new()
            .post(format!("http://{addr}/api/cutover/{feature}"))
            .header("cookie", ops)
            .json(&serde_json::json!({"stage": stage, "reason": "over TLS", "force": true}))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200);
        let flags: Flags = response.json().await.expect("flags");
        flags.version
    };
    let version = change(follower.addr, "positions", "live").await;
    let (flags, _) = on_holder.wait_for_version(version, DEADLINE).await;
    assert_eq!(flags.flag(Feature::Positions).stage, Stage::Live);
    let version = change(holder.addr, "intraday", "rest").await;
    let (flags, _) = on_follower.wait_for_version(version, DEADLINE).await;
    assert_eq!(flags.flag(Feature::Intraday).stage, Stage::Rest);
}

/// A TLS front for the server at `backend` (as a reverse proxy would be), with the PKI's
/// server certificate; stops when dropped.
struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    async fn start(pki: &Pki, backend: SocketAddr) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![pki.server_cert.clone()], key)
            .expect("the server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here: nothing to pass on.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut upstream) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `thor cutover --server URL --user ops ARGS…` with the password on standard input.
async fn cutover_as_ops(server: &str, args: &[&str]) -> Output {
    let server = server.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_thor"))
            .args(["cutover", "--server", &server, "--user", "ops"])
            .args(args)
            .env_remove("THOR_CA_FILE")
            .env_remove("THOR_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("thor runs");
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "ops").expect("password sent");
        }
        child.wait_with_output().expect("thor ends")
    })
    .await
    .expect("joins")
}

#[tokio::test]
async fn thor_cutover_reaches_an_https_server_with_its_ca_and_refuses_others() {
    let pki = Pki::new();
    let app = common::spawn_app().await;
    let front = TlsFront::start(&pki, app.addr).await;
    let server = format!("https://localhost:{}", front.addr.port());
    let ca = pki.ca().display().to_string();
    let wrong = pki.wrong_ca().display().to_string();

    let changed = cutover_as_ops(
        &server,
        &[
            "--ca-file",
            &ca,
            "shadow",
            "intraday",
            "--reason",
            "over https",
        ],
    )
    .await;
    let (out, err) = (
        String::from_utf8_lossy(&changed.stdout),
        String::from_utf8_lossy(&changed.stderr),
    );
    assert_eq!(changed.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("intraday: shadow"), "{out}");

    // The wrong CA, and the system's CAs (which do not know the private one).
    for args in [&["--ca-file", &wrong, "status"][..], &["status"][..]] {
        let refused = cutover_as_ops(&server, args).await;
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("cannot reach the server") && err.contains("certificate"),
            "{args:?}: {err}"
        );
    }
    drop(front);
    app.stop().await;
}
