//! The PostgreSQL path against the real PostgreSQL on this machine (`THOR_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432`). Each test makes its own database and drops it.

use crate::common;

use common::TempDatabase;
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

#[tokio::test]
async fn thor_runs_on_postgres_and_its_runs_persist() {
    if !common::postgres_may_run("thor_runs_on_postgres_and_its_runs_persist").await {
        return;
    }
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

#[tokio::test]
async fn the_trading_back_end_runs_on_postgres() {
    if !common::postgres_may_run("the_trading_back_end_runs_on_postgres").await {
        return;
    }
    use std::sync::Arc;
    use thor_server::clock::ManualClock;

    let database = TempDatabase::create().await;
    let start = common::at("2026-03-09T14:30:10Z");
    let clock = Arc::new(ManualClock::new(start));
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = common::test_settings(data.path());
    settings.storage.database_url = Some(database.url());
    let app = common::start_with_clock(settings, data, clock.clone()).await;

    // Ticks at 14:30:10 and 14:30:50; the one at 14:31:00 closes and stores the 14:30 bars.
    clock.set(start + chrono::Duration::seconds(40));
    app.jobs.run_all_once().await;
    clock.set(start + chrono::Duration::seconds(50));
    app.jobs.run_all_once().await;
    let bars: Value =
        reqwest::get(app.url("/api/intraday/bars?symbol=QQQ&since=2026-03-09T14:00:00Z"))
            .await
            .expect("bars")
            .json()
            .await
            .expect("json");
    assert_eq!(
        bars["data"]["bars"][0]["timestamp_minute"], "2026-03-09T14:30:00Z",
        "{bars}"
    );
    assert_eq!(bars["data"]["bars"][0]["trades"], 2);

    let client = reqwest::Client::new();
    let cookie = common::sign_in(&app, "demo2").await;
    let balance: Value = client
        .get(app.url("/api/account/balance"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("balance")
        .json()
        .await
        .expect("json");
    assert_eq!(balance["data"]["account_number"], "THOR-10002");
    assert_eq!(balance["data"]["cash"], 125_000.0);
    app.stop().await;
    database.drop_it().await;
}

#[tokio::test]
async fn the_desk_carries_on_across_a_restart_on_postgres() {
    if !common::postgres_may_run("the_desk_carries_on_across_a_restart_on_postgres").await {
        return;
    }
    let database = TempDatabase::create().await;
    crate::trading::desk_carries_on_across_a_restart(Some(database.url())).await;
    database.drop_it().await;
}

/// The order scenarios of `orders.rs`, each on a fresh PostgreSQL database (row locks and
/// `RETURNING` behave differently there than on SQLite's single writer).
macro_rules! on_postgres {
    ($($name:ident => $scenario:path),+ $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            if !common::postgres_may_run(stringify!($name)).await {
                return;
            }
            let database = TempDatabase::create().await;
            $scenario(Some(database.url())).await;
            database.drop_it().await;
        }
    )+};
}

on_postgres! {
    every_order_rule_refuses_with_its_reason_on_postgres => crate::orders::order_rules,
    a_retried_order_is_one_order_on_postgres => crate::orders::retried_orders,
    fifty_concurrent_orders_fill_exactly_up_to_the_buying_power_on_postgres =>
        crate::orders::concurrent_orders,
    fills_and_open_orders_survive_a_restart_on_postgres => crate::orders::fills_survive_a_restart,
    a_cancel_racing_a_fill_has_exactly_one_winner_on_postgres => crate::orders::cancel_races_fill,
}
