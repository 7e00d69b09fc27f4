//! Storage through sqlx: an SQLite file by default, PostgreSQL when the URL says so. Migrations
//! for each live beside the crate (`migrations/sqlite`, `migrations/postgres`) and run at start-up.

use crate::config::DatabaseUrl;
use anyhow::{Context, bail};
use sqlx::postgres::{PgPool, PgPoolOptions};
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
        let raw = url.expose();
        let shown = url.redacted();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(5))
                .connect(raw)
                .await
                .with_context(|| format!("cannot open the PostgreSQL database {shown}"))?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .with_context(|| format!("cannot apply migrations to {shown}"))?;
            Ok(Database::Postgres(pool))
        } else if raw.starts_with("sqlite:") {
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

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}
