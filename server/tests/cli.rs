//! `thor cutover` as an operator runs it, against the real server: the status text the seeds'
//! script printed, its JSON, every command, and the exit codes a deploy script branches on.

mod common;

use app::cutover::{AuditEntry, CutoverStatus, Mode, Stage};
use app::feature::Feature;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn thor(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thor"))
        .arg("cutover")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("THOR_SERVER")
        .env_remove("THOR_CONFIG")
        .output()
        .expect("thor runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_prints_the_seeds_lines_and_commands_change_flags_with_exit_codes() {
    let app = common::spawn_app().await;
    let data = app.data_dir.path().to_path_buf();
    // Blocking child processes: off the async workers.
    let run = |args: &'static [&'static str]| {
        let data = data.clone();
        tokio::task::spawn_blocking(move || thor(&data, args))
    };

    let status = run(&["status"]).await.expect("joins");
    let (out, err) = text(&status);
    assert_eq!(status.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("🔌 WebSocket Cutover Status"), "{out}");
    assert!(
        out.contains("⚪ SHADOW MODE - All features using REST"),
        "{out}"
    );
    for feature in Feature::ALL {
        let line = out
            .lines()
            .find(|l| l.contains(feature.name()) && l.contains("⚪ REST"))
            .unwrap_or_else(|| panic!("no line for {feature}: {out}"));
        assert!(
            line.contains(&format!("(set {}=true to enable)", feature.flag_variable())),
            "{line}"
        );
    }
    assert!(out.contains("REST 5 min"), "the evidence table: {out}");

    let json = run(&["status", "--json"]).await.expect("joins");
    assert_eq!(json.status.code(), Some(0));
    let parsed: CutoverStatus = serde_json::from_slice(&json.stdout).expect("status JSON");
    assert_eq!(parsed.mode, Mode::Shadow);

    let refused = run(&["enable", "positions", "--reason", "looks fine"])
        .await
        .expect("joins");
    let (_, err) = text(&refused);
    assert_eq!(refused.status.code(), Some(4), "refused by the gate: {err}");
    assert!(
        err.contains("more samples") && err.contains("--force"),
        "{err}"
    );

    let forced = run(&[
        "enable",
        "positions",
        "--ramp",
        "100%",
        "--reason",
        "drill",
        "--force",
    ])
    .await
    .expect("joins");
    let (out, err) = text(&forced);
    assert_eq!(forced.status.code(), Some(0), "{err}");
    assert!(out.contains("positions: live"), "{out}");

    let partial = run(&["status"]).await.expect("joins");
    let (out, _) = text(&partial);
    assert!(out.contains("✅ PARTIAL CUTOVER"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("✅ WS")
            && l.contains("positions")
            && l.contains("local-operator")),
        "{out}"
    );

    let unknown = run(&["shadow", "markets", "--reason", "x"])
        .await
        .expect("joins");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).1.contains("unknown feature"));

    let rollback = run(&["rollback", "--all", "--reason", "drill over"])
        .await
        .expect("joins");
    assert_eq!(rollback.status.code(), Some(0), "{}", text(&rollback).1);
    let audit = run(&["audit", "--json"]).await.expect("joins");
    let entries: Vec<AuditEntry> = serde_json::from_slice(&audit.stdout).expect("audit JSON");
    assert_eq!(
        entries.len(),
        5,
        "the forced change, then one per feature sent back"
    );
    for entry in &entries[..4] {
        assert_eq!(entry.to.stage, Stage::Rest);
        assert_eq!(entry.reason, "drill over");
    }
    assert!(entries[4].forced);
    assert_eq!(entries[4].actor, "local-operator");
    let table = run(&["audit"]).await.expect("joins");
    assert!(
        text(&table).0.contains("local-operator (forced)"),
        "{}",
        text(&table).0
    );
    app.stop().await;
}

#[tokio::test]
async fn status_exits_1_after_an_automatic_rollback() {
    let app = common::spawn_app_with(|s| s.cutover.stale_after_cadences = 0.1).await;
    let data = app.data_dir.path().to_path_buf();
    let forced = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            thor(
                &data,
                &["enable", "positions", "--reason", "drill", "--force"],
            )
        })
        .await
        .expect("joins")
    };
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced).1);
    // Positions publish every 10 s; a tenth of that without one rolls them back.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = data.clone();
        let status = tokio::task::spawn_blocking(move || thor(&data, &["status"]))
            .await
            .expect("joins");
        if status.status.code() == Some(1) {
            let (out, _) = text(&status);
            assert!(out.contains("Needs attention"), "{out}");
            assert!(out.contains("rolled back automatically"), "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", text(&status).0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[test]
fn with_no_server_to_reach_it_says_so_in_one_line_and_exits_3() {
    let empty = tempfile::tempdir().expect("temp dir");
    let none = thor(empty.path(), &["status"]);
    let (_, err) = text(&none);
    assert_eq!(none.status.code(), Some(3), "{err}");
    assert!(err.contains("no server to reach"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let closed = Command::new(env!("CARGO_BIN_EXE_thor"))
        .args([
            "cutover",
            "--server",
            "http://127.0.0.1:9",
            "--user",
            "ops",
            "status",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("thor runs");
    let (_, err) = text(&closed);
    assert_eq!(closed.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot reach the server"), "{err}");
}

#[tokio::test]
async fn elsewhere_it_signs_in_as_an_operator_and_a_trader_is_refused() {
    let app = common::spawn_app().await;
    let server = app.url("");
    let as_user = |user: &'static str, password: &'static str| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || {
            let mut child = Command::new(env!("CARGO_BIN_EXE_thor"))
                .args([
                    "cutover", "--server", &server, "--user", user, "shadow", "intraday",
                ])
                .args(["--reason", "remote drill"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("thor runs");
            if let Some(mut stdin) = child.stdin.take() {
                writeln!(stdin, "{password}").expect("password sent");
            }
            child.wait_with_output().expect("thor ends")
        })
    };
    let ops = as_user("ops", "ops").await.expect("joins");
    assert_eq!(ops.status.code(), Some(0), "{}", text(&ops).1);
    let trader = as_user("demo", "demo").await.expect("joins");
    assert_eq!(trader.status.code(), Some(4));
    assert!(text(&trader).1.contains("operator"), "{}", text(&trader).1);
    let wrong = as_user("ops", "nope").await.expect("joins");
    assert_eq!(wrong.status.code(), Some(4));
    app.stop().await;
}
