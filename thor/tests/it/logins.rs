//! Guessing passwords is throttled (per username and per client address, 429 with
//! Retry-After) without locking out anyone else, and the cookie can be marked Secure.

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

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds")
}

#[tokio::test]
async fn wrong_passwords_for_one_username_are_throttled_with_retry_after() {
    let app = common::spawn_app_with(|s| {
        s.security.login_failures_per_user = 5;
        s.security.login_failures_per_address = 1000;
    })
    .await;
    for attempt in 1..=5 {
        let response = login(&app, "demo", "guess").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let throttled = login(&app, "demo", "guess").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&throttled);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = throttled.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Even the right password waits: otherwise the throttle would say which guess was right.
    assert_eq!(
        login(&app, "demo", "demo").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another user from the same address is not affected.
    assert_eq!(login(&app, "demo2", "demo2").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_from_one_address_are_throttled_across_usernames() {
    let app = common::spawn_app_with(|s| {
        s.security.login_failures_per_user = 1000;
        s.security.login_failures_per_address = 8;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..12 {
        statuses.push(login(&app, &format!("user{n}"), "guess").await.status());
    }
    assert!(
        statuses[..8].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[8..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn signing_in_right_is_never_throttled() {
    let app = common::spawn_app_with(|s| {
        s.security.login_failures_per_user = 2;
        s.security.login_failures_per_address = 2;
    })
    .await;
    for _ in 0..20 {
        assert_eq!(login(&app, "demo", "demo").await.status(), StatusCode::OK);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_hundred_quick_wrong_passwords_meet_the_throttle() {
    // The defaults, as an attacker meets them.
    let app = common::spawn_app().await;
    let mut throttled = 0;
    for _ in 0..100 {
        if login(&app, "demo", "guess").await.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(throttled >= 90, "only {throttled} of 100 were throttled");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_slip_past_the_throttle_together() {
    let app = common::spawn_app_with(|s| {
        s.security.login_failures_per_user = 5;
        s.security.login_failures_per_address = 1000;
    })
    .await;
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let url = app.url("/api/auth/login");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&json!({ "username": "demo", "password": format!("guess {i}") }))
                    .send()
                    .await
                    .expect("request")
                    .status()
            })
        })
        .collect();
    let mut checked = 0;
    for attempt in attempts {
        match attempt.await.expect("joins") {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        checked <= 5,
        "{checked} of 20 concurrent guesses were checked; the limit is 5"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured_and_not_by_default() {
    let plain = common::spawn_app().await;
    let cookie = login(&plain, "demo", "demo").await.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(!cookie.contains("Secure"), "{cookie}");
    plain.stop().await;

    let tls = common::spawn_app_with(|s| s.security.secure_cookie = true).await;
    let signed_in = login(&tls, "demo", "demo").await;
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let session = cookie.split(';').next().expect("pair").to_string();
    let out = reqwest::Client::new()
        .post(tls.url("/api/auth/logout"))
        .header("cookie", session)
        .send()
        .await
        .expect("request");
    let cleared = out.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        cleared.contains("; Secure") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    tls.stop().await;
}
