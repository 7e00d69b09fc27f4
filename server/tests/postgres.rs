//! The PostgreSQL path against the real PostgreSQL on this machine (`THOR_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432`). Each test makes its own database and drops it.

mod common;

use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use thor_server::config::DatabaseUrl;

fn server_url() -> String {
    std::env::var("THOR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A fresh, empty database; dropped (with its connections) when the guard goes.
struct TempDatabase {
    name: String,
}

impl TempDatabase {
    async fn create() -> Self {
        let name = format!(
            "thor_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL must be running for this test (THOR_TEST_POSTGRES_URL={}): {e}",
                    server_url()
                )
            });
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        Self { name }
    }

    fn url(&self) -> DatabaseUrl {
        DatabaseUrl::new(format!("{}/{}", server_url(), self.name))
    }

    async fn drop_it(self) {
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url()))
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

#[tokio::test]
async fn thor_runs_on_postgres_and_its_runs_persist() {
    let database = TempDatabase::create().await;

    let first = common::spawn_app_with(|s| s.storage.database_url = Some(database.url())).await;
    let health: Value = reqwest::get(first.url("/api/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"]["backend"], "postgres");
    let first_epoch = first.hub.epoch();
    first.stop().await;

    let second = common::spawn_app_with(|s| s.storage.database_url = Some(database.url())).await;
    assert!(
        second.hub.epoch() > first_epoch,
        "the restart sees the first run"
    );
    second.stop().await;

    let mut check = PgConnection::connect(database.url().expose())
        .await
        .expect("connect");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM server_runs")
        .fetch_one(&mut check)
        .await
        .expect("count runs");
    assert_eq!(runs, 2);
    check.close().await.expect("close");
    database.drop_it().await;
}
