//! Starting `thor` itself: a database that cannot be opened is a clear error and a non-zero
//! exit; the data directory and migrations appear on first run and survive a restart.

use crate::common;

use std::process::Command;
use std::time::Duration;

fn thor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_thor"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("THOR_DATA_DIR")
        .env_remove("THOR_CONFIG")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "error");
    command
}

#[test]
fn an_unusable_data_directory_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where the data directory should go").expect("write");
    let output = thor()
        .current_dir(dir.path())
        .env("THOR_DATA_DIR", blocker.join("data"))
        .output()
        .expect("thor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot create the data directory"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

#[test]
fn an_unreachable_postgres_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = thor()
        .current_dir(dir.path())
        // Port 1 on loopback: nothing listens there, so the refusal is immediate.
        .env("DATABASE_URL", "postgres://thor:hunter2@127.0.0.1:1/thor")
        .output()
        .expect("thor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot open the PostgreSQL database"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[test]
fn an_unknown_database_scheme_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = thor()
        .current_dir(dir.path())
        .env("DATABASE_URL", "mysql://127.0.0.1/thor")
        .output()
        .expect("thor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("unsupported database URL"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_broken_settings_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("Leptos.toml"),
        "[site]\nadress = \"typo\"\n",
    )
    .expect("write");
    let output = thor().current_dir(dir.path()).output().expect("thor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("Leptos.toml") && stderr.contains("adress"),
        "stderr: {stderr}"
    );
}

#[tokio::test]
async fn the_first_run_creates_the_database_and_a_restart_keeps_it() {
    let parent = tempfile::tempdir().expect("temp dir");
    let data = parent.path().join("fresh").join("data");
    let first = {
        let mut settings = common::test_settings(&data);
        settings.hub.heartbeat_interval = Duration::from_secs(600);
        let app = common::start(settings, tempfile::tempdir().expect("dir")).await;
        let epoch = app.hub.epoch();
        app.stop().await;
        epoch
    };
    assert!(data.join("thor.db").is_file(), "the SQLite file is created");
    let second = {
        let settings = common::test_settings(&data);
        let app = common::start(settings, tempfile::tempdir().expect("dir")).await;
        let epoch = app.hub.epoch();
        app.stop().await;
        epoch
    };
    assert!(
        second > first,
        "each run gets a new epoch from the same database"
    );
}
