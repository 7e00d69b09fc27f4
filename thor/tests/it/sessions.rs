//! A socket lives no longer than its session: signing out, a password change
//! (`thor users set-password`) and the session's expiry each close the session's sockets within
//! a second (close code 4001), and the old cookie stops working for REST at once.

use crate::common;

use app::protocol::close_code;
use reqwest::StatusCode;
use std::time::Duration;

/// The time a session's end may take to reach its sockets.
const WITHIN: Duration = Duration::from_secs(1);
/// Slack for a loaded machine on top of [`WITHIN`] (the close itself is a round trip).
const SLACK: Duration = Duration::from_millis(500);

async fn me(app: &common::TestApp, cookie: &str) -> StatusCode {
    common::status_at(app.addr, "/api/auth/me", cookie).await
}

async fn balance(app: &common::TestApp, cookie: &str) -> StatusCode {
    common::status_at(app.addr, "/api/account/balance", cookie).await
}

#[tokio::test]
async fn signing_out_closes_that_sessions_sockets_and_no_others() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "demo").await;
    let other_session = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    let mut second = common::ws_connect(&app, &cookie, "").await;
    let mut other = common::ws_connect(&app, &other_session, "").await;
    for s in [&mut socket, &mut second, &mut other] {
        common::serving(s).await;
    }
    // Cached by now: REST works with the session.
    assert_eq!(balance(&app, &cookie).await, StatusCode::OK);

    let out = reqwest::Client::new()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    // At once for REST (the session cache forgot it) …
    assert_eq!(balance(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    // … and within a second for its sockets.
    for s in [&mut socket, &mut second] {
        assert_eq!(
            common::close_code_within(s, WITHIN + SLACK).await,
            Some(close_code::SESSION_ENDED)
        );
    }
    // The user's other session (another browser) is untouched.
    assert_eq!(me(&app, &other_session).await, StatusCode::OK);
    common::serving(&mut other).await;
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_closes_every_socket_of_that_user() {
    let app = common::spawn_app().await;
    let first = common::sign_in(&app, "demo").await;
    let second = common::sign_in(&app, "demo").await;
    let bystander = common::sign_in(&app, "demo2").await;
    let mut a = common::ws_connect(&app, &first, "").await;
    let mut b = common::ws_connect(&app, &second, "").await;
    let mut c = common::ws_connect(&app, &bystander, "").await;
    for s in [&mut a, &mut b, &mut c] {
        common::serving(s).await;
    }
    assert_eq!(balance(&app, &first).await, StatusCode::OK);

    // Another process (the CLI) changes the password: the server learns it from the database.
    let output = common::set_password_cli(app.data_dir.path(), "demo", b"n3w-passw0rd\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for s in [&mut a, &mut b] {
        assert_eq!(
            common::close_code_within(s, WITHIN + SLACK).await,
            Some(close_code::SESSION_ENDED)
        );
    }
    assert_eq!(balance(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &second).await, StatusCode::UNAUTHORIZED);
    common::serving(&mut c).await;
    assert_eq!(me(&app, &bystander).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_session_closes_its_sockets() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    common::serving(&mut socket).await;
    // The session runs out a moment from now.
    let soon = thor_server::clock::now_ms() + 300;
    let thor_server::db::Database::Sqlite(pool) = &app.db else {
        panic!("the test server uses SQLite");
    };
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(soon)
        .execute(pool)
        .await
        .expect("update");
    assert_eq!(
        common::close_code_within(&mut socket, WITHIN + SLACK + Duration::from_millis(300)).await,
        Some(close_code::SESSION_ENDED)
    );
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
