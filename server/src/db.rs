//! Storage through sqlx: an SQLite file by default, PostgreSQL when the URL says so. Migrations
//! for each live beside the crate (`migrations/sqlite`, `migrations/postgres`) and run at start-up.

use crate::config::DatabaseUrl;
use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Runs the same code against whichever pool is open. SQL written for both backends uses `$1`
/// placeholders, which SQLite also understands.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Database::Sqlite($pool) => $body,
            $crate::db::Database::Postgres($pool) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    /// Opens the database, creating an SQLite file (and its directory) if needed, and applies
    /// the migrations. Every failure says which database and why.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Self::open_with(url, None).await
    }

    /// [`Database::open`], PostgreSQL's certificate checked against `ca_file` (PEM) when given
    /// (the URL's `sslmode` says whether TLS is used and what is verified).
    pub async fn open_with(url: &DatabaseUrl, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let raw = url.expose();
        let shown = url.redacted();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let options = postgres_options(url, ca_file)?;
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(|e| match tls_failure(&e) {
                    Some(why) => {
                        let trusted = ca_file.map_or_else(
                            || "the system's CAs".to_string(),
                            |path| format!("the CA in {}", path.display()),
                        );
                        anyhow::anyhow!(
                            "cannot open the PostgreSQL database {shown}: the TLS handshake \
                             failed: {why} (its certificate was checked against {trusted})"
                        )
                    }
                    None => anyhow::Error::new(e)
                        .context(format!("cannot open the PostgreSQL database {shown}")),
                })?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .with_context(|| format!("cannot apply migrations to {shown}"))?;
            Ok(Database::Postgres(pool))
        } else if raw.starts_with("sqlite:") {
            if let Some(path) = ca_file {
                bail!(
                    "storage.database-ca-file (THOR_DATABASE_CA_FILE) is {} but the database is \
                     SQLite ({shown}); the CA file is for a postgres:// URL over TLS",
                    path.display()
                );
            }
            let options = SqliteConnectOptions::from_str(raw)
                .with_context(|| format!("{shown} is not a valid SQLite URL"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let file = options.get_filename();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the SQLite database {shown}"))?;
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .with_context(|| format!("cannot apply migrations to {shown}"))?;
            Ok(Database::Sqlite(pool))
        } else {
            bail!("unsupported database URL {shown}: use sqlite://PATH or postgres://…")
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// A round trip to the database, timed.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let started = Instant::now();
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(started.elapsed())
    }

    /// Records this server run and returns its id, which becomes the hub's epoch.
    pub async fn record_run(&self, started_at_ms: i64, site_addr: &str) -> anyhow::Result<u64> {
        let version = env!("CARGO_PKG_VERSION");
        let id: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "INSERT INTO server_runs (started_at, version, site_addr) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(started_at_ms)
        .bind(version)
        .bind(site_addr)
        .fetch_one(pool)
        .await)
        .context("cannot record this server run")?;
        u64::try_from(id).context("server run id is negative")
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// PostgreSQL's connection options: the URL's (`sslmode`, `sslrootcert`, …), with `ca_file` as
/// the root certificate. A CA file is given to verify with, so it makes an unset `sslmode`
/// `verify-full`, and `require` `verify-ca` (as libpq does when a root certificate exists).
fn postgres_options(url: &DatabaseUrl, ca_file: Option<&Path>) -> anyhow::Result<PgConnectOptions> {
    let shown = url.redacted();
    let mut options = PgConnectOptions::from_str(url.expose())
        .with_context(|| format!("{shown} is not a valid PostgreSQL URL"))?;
    let Some(path) = ca_file else {
        return Ok(options);
    };
    read_ca_file(path, "storage.database-ca-file (THOR_DATABASE_CA_FILE)")?;
    options = options.ssl_root_cert(path);
    let says_mode = url_sets(url.expose(), &["sslmode", "ssl-mode"])
        || std::env::var_os("PGSSLMODE").is_some_and(|v| !v.is_empty());
    let mode = match options.get_ssl_mode() {
        _ if !says_mode => PgSslMode::VerifyFull,
        PgSslMode::Require => PgSslMode::VerifyCa,
        mode => mode,
    };
    Ok(options.ssl_mode(mode))
}

/// Why TLS failed, if that is what `error` is: rustls' refusals (a certificate it does not
/// trust, a name that does not match) come as I/O errors of kind `InvalidData`.
fn tls_failure(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Tls(why) => Some(why.to_string()),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => Some(io.to_string()),
        _ => None,
    }
}

/// Whether the URL's query sets one of `keys`.
fn url_sets(url: &str, keys: &[&str]) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|key| keys.contains(&key))
    })
}

/// The PEM certificates in the CA file `setting` names (PostgreSQL's, Redis's, or the CLI's
/// `--ca-file`), read now so a wrong path is refused at start with the setting's name.
pub fn read_ca_file(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the CA file {} ({setting})", path.display()))?;
    let marker: &[u8] = b"-----BEGIN CERTIFICATE-----";
    anyhow::ensure!(
        pem.windows(marker.len()).any(|w| w == marker),
        "the CA file {} ({setting}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        path.display()
    );
    Ok(pem)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_makes_postgres_verify_unless_the_url_says_otherwise() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n…\n").expect("written");
        let mode = |url: &str, ca_file: Option<&Path>| {
            postgres_options(&DatabaseUrl::new(url), ca_file)
                .expect("options")
                .get_ssl_mode()
        };
        let base = "postgres://thor@db.internal/thor";
        assert!(matches!(mode(base, Some(&ca)), PgSslMode::VerifyFull));
        let require = format!("{base}?sslmode=require");
        assert!(matches!(mode(&require, Some(&ca)), PgSslMode::VerifyCa));
        let disable = format!("{base}?application_name=x&sslmode=disable");
        assert!(matches!(mode(&disable, Some(&ca)), PgSslMode::Disable));
        assert!(matches!(mode(base, None), PgSslMode::Prefer));

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello").expect("written");
        let refused = postgres_options(&DatabaseUrl::new(base), Some(&not_pem));
        let why = format!("{:#}", refused.expect_err("not a certificate"));
        assert!(why.contains("holds no PEM certificate"), "{why}");
    }
}
