//! Cross-site request forgery: every state-changing request must come from Thor's own pages,
//! whatever its Content-Type, while scripts and tests (no Origin, no browser) keep working.

use crate::common;

use reqwest::StatusCode;
use serde_json::{Value, json};

const EVIL: &str = "http://evil.example";

async fn me(app: &common::TestApp, cookie: &str) -> StatusCode {
    common::status_at(app.addr, "/api/auth/me", cookie).await
}

#[tokio::test]
async fn another_site_cannot_sign_a_browser_in_with_a_text_plain_json_body() {
    let app = common::spawn_app().await;
    // What an HTML form with enctype="text/plain" (or fetch without preflight) can send.
    let response = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("content-type", "text/plain")
        .header("origin", EVIL)
        .body(r#"{"username":"demo","password":"demo"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("set-cookie").is_none());
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");

    // Also as JSON, and when only Sec-Fetch-Site tells (no Origin).
    for (name, value, content_type) in [
        ("origin", EVIL, "application/json"),
        ("sec-fetch-site", "cross-site", "text/plain"),
        ("sec-fetch-site", "same-site", "application/json"),
        ("referer", "http://evil.example/attack.html", "text/plain"),
    ] {
        let response = reqwest::Client::new()
            .post(app.url("/api/auth/login"))
            .header("content-type", content_type)
            .header(name, value)
            .body(json!({"username": "demo", "password": "demo"}).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(response.headers().get("set-cookie").is_none(), "{name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn another_site_cannot_sign_a_browser_out() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "demo").await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json",
    ] {
        let response = reqwest::Client::new()
            .post(app.url("/api/auth/logout"))
            .header("cookie", &cookie)
            .header("content-type", content_type)
            .header("origin", EVIL)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{content_type}");
        assert_eq!(me(&app, &cookie).await, StatusCode::OK, "still signed in");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_state_changing_route_gets_the_check_even_ones_that_do_not_exist_yet() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "ops").await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/cutover/account_balance"),
        (reqwest::Method::PUT, "/api/flags/positions"),
        (reqwest::Method::DELETE, "/api/sessions"),
        (reqwest::Method::PATCH, "/"),
    ] {
        let response = reqwest::Client::new()
            .request(method.clone(), app.url(path))
            .header("cookie", &cookie)
            .header("origin", EVIL)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn our_own_pages_and_scripts_are_served() {
    let app = common::spawn_app().await;
    let own = format!("http://{}", app.addr);
    // The page's own fetch: same origin, told both ways.
    let response = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("origin", &own)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"username": "demo", "password": "demo"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    // The sign-in form, as a browser posts it.
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(app.url("/api/auth/login"))
        .header("origin", &own)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=demo2&password=demo2")
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert!(form.headers().get("set-cookie").is_some());
    // A script (curl, the tests, the benchmark): no Origin, no Sec-Fetch-Site.
    let cookie = common::sign_in(&app, "demo").await;
    let out = reqwest::Client::new()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    // Reading is never refused for its origin (a GET changes nothing).
    let read = reqwest::Client::new()
        .get(app.url("/api/health"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("request");
    assert_eq!(read.status(), StatusCode::OK);
    app.stop().await;
}
