//! Signing in and out over the real HTTP API, the demo users, and the demo-password guard.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login(app: &common::TestApp, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("request")
}

/// The `thor_session=...` pair from a login response's Set-Cookie.
fn session_pair(response: &reqwest::Response) -> String {
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a Set-Cookie header");
    cookie.split(';').next().expect("a pair").to_string()
}

async fn me(app: &common::TestApp, cookie: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url("/api/auth/me"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_trader_signs_in_is_recognised_and_signs_out() {
    let app = common::spawn_app().await;
    let response = login(&app, "demo", "demo").await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = session_pair(&response);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["username"], "demo");
    assert_eq!(user["role"], "trader");
    assert!(user.get("password_hash").is_none());

    let who: Value = me(&app, Some(&cookie)).await.json().await.expect("json");
    assert_eq!(who["username"], "demo");

    let out = reqwest::Client::new()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    assert_eq!(
        me(&app, Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn the_operator_is_an_operator() {
    let app = common::spawn_app().await;
    let response = login(&app, "ops", "ops").await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["role"], "operator");
    app.stop().await;
}

#[tokio::test]
async fn wrong_credentials_are_401_and_say_nothing_about_which_part_was_wrong() {
    let app = common::spawn_app().await;
    let wrong_password = login(&app, "demo", "demo2").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let a: Value = wrong_password.json().await.expect("json");
    let unknown_user = login(&app, "nobody", "demo").await;
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    let b: Value = unknown_user.json().await.expect("json");
    assert_eq!(
        a, b,
        "the same answer for a wrong password and an unknown user"
    );
    assert_eq!(a["error"]["code"], "bad_credentials");
    app.stop().await;
}

#[tokio::test]
async fn malformed_login_bodies_are_400_with_a_reason() {
    let app = common::spawn_app().await;
    let client = reqwest::Client::new();
    let long = "x".repeat(10_000);
    let bodies = [
        "{not json".to_string(),
        r#"{"username":"demo"}"#.to_string(),
        r#"{"username":"demo","password":""}"#.to_string(),
        r#"{"username":"demo","password":"demo","admin":true}"#.to_string(),
        format!(r#"{{"username":"demo","password":"{long}"}}"#),
    ];
    for body in bodies {
        let response = client
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:.60}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "bad_request");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // None of that signed anyone in or broke anything.
    assert_eq!(login(&app, "demo", "demo").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn forged_or_missing_cookies_are_401() {
    let app = common::spawn_app().await;
    assert_eq!(me(&app, None).await.status(), StatusCode::UNAUTHORIZED);
    let forged = format!("thor_session={}", "ab".repeat(32));
    let response = me(&app, Some(&forged)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["code"], "unauthorized");
    app.stop().await;
}

#[tokio::test]
async fn off_loopback_the_demo_passwords_stop_the_start_until_changed_or_allowed() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = common::test_settings(data.path());
    settings.site.addr = "0.0.0.0:0".parse().expect("addr");
    let refused = thor_server::Application::build(settings.clone(), common::SITE).await;
    let message = format!(
        "{:#}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );
    assert!(message.contains("demo passwords"), "{message}");
    assert!(message.contains("demo, demo2, ops"), "{message}");

    let mut allowed = settings.clone();
    allowed.security.allow_default_passwords = true;
    let app = thor_server::Application::build(allowed, common::SITE)
        .await
        .expect("allowed explicitly");
    let db = app.database();
    drop(app);
    for (name, _, _) in thor_server::auth::DEFAULT_USERS {
        thor_server::auth::set_password(&db, name, &format!("{name}-real-password"), "test")
            .await
            .expect("password set");
    }
    db.close().await;
    let app = thor_server::Application::build(settings, common::SITE)
        .await
        .expect("real passwords: starts");
    drop(app);
}

#[tokio::test]
async fn thor_users_set_password_changes_it_and_ends_sessions() {
    let app = common::spawn_app().await;
    let old_session = session_pair(&login(&app, "demo", "demo").await);
    let data_dir = app.data_dir.path().to_path_buf();

    let output = common::set_password_cli(&data_dir, "demo", b"correct horse battery\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(
        login(&app, "demo", "demo").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "demo", "correct horse battery").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        me(&app, Some(&old_session)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let unknown = common::set_password_cli(&data_dir, "mallory", b"whatever\n");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user named"));
    let empty = common::set_password_cli(&data_dir, "demo", b"\n");
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(
        login(&app, "demo", "correct horse battery").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_session_survives_a_server_restart() {
    let app = common::spawn_app().await;
    let cookie = session_pair(&login(&app, "demo2", "demo2").await);
    let data_dir = app.stop().await;

    let settings = common::test_settings(data_dir.path());
    let app = common::start(settings, data_dir).await;
    let response = me(&app, Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let who: Value = response.json().await.expect("json");
    assert_eq!(who["username"], "demo2");
    app.stop().await;
}

/// The extractor every operator-only route (the cutover control plane) takes, on the real
/// wiring: nobody gets 401, a trader 403, an operator through.
#[tokio::test]
async fn operator_only_routes_refuse_nobody_with_401_and_traders_with_403() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use thor_server::auth::Operator;
    use tower::ServiceExt;

    let app = common::spawn_app().await;
    let route = axum::Router::new()
        .route(
            "/ops-only",
            axum::routing::post(|Operator(user): Operator| async move { user.username }),
        )
        .with_state(app.state.clone());
    let trader = common::sign_in(&app, "demo").await;
    let operator = common::sign_in(&app, "ops").await;
    for (who, cookie, expected) in [
        ("nobody", None, StatusCode::UNAUTHORIZED),
        ("a trader", Some(trader), StatusCode::FORBIDDEN),
        ("an operator", Some(operator), StatusCode::OK),
    ] {
        let mut request = Request::post("/ops-only");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = route
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        assert_eq!(response.status(), expected, "{who}");
    }
    app.stop().await;
}
