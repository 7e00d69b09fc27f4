//! `thor cutover` as an operator runs it, against the real server: the status text the seeds'
//! script printed, its JSON, every command, and the exit codes a deploy script branches on.

use crate::common;

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
    let (_, err) = text(&unknown);
    assert!(err.contains("invalid value 'markets'"), "{err}");
    for feature in Feature::ALL {
        assert!(err.contains(feature.name()), "{feature} not listed: {err}");
    }

    let rollback = run(&["rollback", "--all", "--reason", "drill over"])
        .await
        .expect("joins");
    assert_eq!(rollback.status.code(), Some(0), "{}", text(&rollback).1);
    let audit = run(&["audit", "--json"]).await.expect("joins");
    let entries: Vec<AuditEntry> = serde_json::from_slice(&audit.stdout).expect("audit JSON");
    let features = Feature::ALL.len();
    assert_eq!(
        entries.len(),
        features + 1,
        "the forced change, then one per feature sent back"
    );
    for entry in &entries[..features] {
        assert_eq!(entry.to.stage, Stage::Rest);
        assert_eq!(entry.reason, "drill over");
    }
    assert!(entries[features].forced);
    assert_eq!(entries[features].actor, "local-operator");
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

/// `thor cutover ARGS…` with nothing on standard input, and no local server or credential.
fn thor_elsewhere(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_thor"))
        .arg("cutover")
        .args(args)
        .env_remove("THOR_SERVER")
        .env_remove("THOR_CONFIG")
        .env_remove("THOR_CA_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("thor runs");
    (output.status.code(), text(&output).1, started.elapsed())
}

/// A server "off loopback" by its address (0.0.0.0 is not a loopback address), though a client
/// that went ahead by mistake would only reach this machine (tests send nothing off it): it
/// would ask for the password and try to sign in (exit 3 or 4), never exit 2 at once.
const FAR_SERVER: &str = "http://0.0.0.0:9";

#[test]
fn a_password_goes_over_plain_http_only_to_loopback_unless_allowed() {
    let (code, err, took) = thor_elsewhere(&["--server", FAR_SERVER, "--user", "ops", "status"]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(
        err.contains("refusing to send ops's password in clear text to http://0.0.0.0:9")
            && err.contains("https://")
            && err.contains("--allow-insecure-http"),
        "{err}"
    );
    assert!(!err.contains("password for"), "asked for it anyway: {err}");
    assert!(took < Duration::from_secs(5), "it tried to connect first");

    // Allowed: it goes ahead (0.0.0.0 is not loopback; nothing listens on its port 9).
    let (code, err, _) = thor_elsewhere(&[
        "--server",
        "http://0.0.0.0:9",
        "--user",
        "ops",
        "--allow-insecure-http",
        "status",
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot reach the server"), "{err}");

    // Without a password to send, plain http is the operator's business.
    let (code, err, _) = thor_elsewhere(&["--server", "http://0.0.0.0:9", "status"]);
    assert_ne!(code, Some(2), "{err}");
    assert!(!err.contains("clear text"), "{err}");
}

#[test]
fn an_unknown_feature_is_a_usage_error_before_anything_connects_or_asks() {
    let empty = tempfile::tempdir().expect("temp dir");
    let data_dir = empty.path().to_str().expect("a UTF-8 path");
    for args in [
        &[
            "--server",
            FAR_SERVER,
            "--user",
            "ops",
            "--allow-insecure-http",
        ][..],
        &["--data-dir", data_dir][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["enable", "nonsense", "--reason", "typo"]);
        let (code, err, took) = thor_elsewhere(&all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value 'nonsense'"), "{err}");
        for feature in Feature::ALL {
            assert!(err.contains(feature.name()), "{feature} not listed: {err}");
        }
        assert!(!err.contains("password for"), "asked for a password: {err}");
        assert!(
            !err.contains("no server to reach"),
            "looked for a server: {err}"
        );
        assert!(took < Duration::from_secs(5), "it tried to connect first");
    }
    let (code, err, _) = thor_elsewhere(&[
        "--server",
        FAR_SERVER,
        "--user",
        "ops",
        "--allow-insecure-http",
        "enable",
        "positions",
        "--ramp",
        "300%",
        "--reason",
        "typo",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--ramp") && err.contains("1% to 100%"),
        "{err}"
    );
    assert!(!err.contains("password for"), "asked for a password: {err}");
    // A blank reason is refused the same way: the CLI reads it with the server's own rule.
    let (code, err, _) = thor_elsewhere(&[
        "--server",
        FAR_SERVER,
        "--user",
        "ops",
        "--allow-insecure-http",
        "rollback",
        "--all",
        "--reason",
        "   ",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--reason") && err.contains("say why"), "{err}");
    assert!(!err.contains("password for"), "asked for a password: {err}");
}

/// A password typed at a terminal is not echoed: `thor users add` runs on a pseudo-terminal
/// (util-linux `script`), the password is typed once the prompt shows, and what the terminal
/// displayed must not hold it. Piped passwords (the other tests) keep working.
#[test]
fn a_password_typed_at_a_terminal_is_not_echoed() {
    use std::io::Read;
    use std::sync::mpsc;
    const PASSWORD: &str = "correct-horse-battery-staple";
    let dir = tempfile::tempdir().expect("temp dir");
    let command = format!(
        "{} users add alice --role trader",
        env!("CARGO_BIN_EXE_thor")
    );
    let mut child = Command::new("script")
        .args([
            "--quiet",
            "--return",
            "--echo",
            "always",
            "--command",
            &command,
        ])
        .arg("/dev/null")
        .current_dir(dir.path())
        .env("THOR_DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "error")
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("THOR_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdout = child.stdout.take().expect("script's output");
    let (chunks, seen) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            if chunks.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&shown).contains("password for alice: ") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(chunk) => shown.extend(chunk),
            Err(_) => {
                let _ = child.kill();
                panic!("no prompt: {}", String::from_utf8_lossy(&shown));
            }
        }
    }
    let mut stdin = child.stdin.take().expect("script's input");
    writeln!(stdin, "{PASSWORD}").expect("password typed");
    let status = child.wait().expect("script ends");
    drop(stdin);
    reader.join().expect("reader ends");
    shown.extend(seen.try_iter().flatten());
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(status.code(), Some(0), "{shown}");
    assert!(shown.contains("thor: added alice (trader)"), "{shown}");
    assert!(
        !shown.contains(PASSWORD),
        "the password was echoed: {shown}"
    );
}
