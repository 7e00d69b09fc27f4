//! The HTTP front door against the real server: requests no route expects still get a JSON
//! answer (never a dropped connection), bodies and slow clients are bounded, health answers
//! quickly while the database hangs, and every answer names its request id.

use crate::common;

use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `raw` on a fresh connection and reads until the server closes it or `wait` passes;
/// returns what was read (empty: no answer at all).
async fn raw_exchange(app: &common::TestApp, raw: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(app.addr).await.expect("connects");
    stream.write_all(raw).await.expect("writes");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // One whole answer (headers and a JSON body) is enough.
                    let text = String::from_utf8_lossy(&answer);
                    if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                        break;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn json_body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body.trim()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_connect_request_gets_a_json_answer_and_the_server_carries_on() {
    let app = common::spawn_app().await;
    let answer = raw_exchange(
        &app,
        b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let status = status_of(&answer);
    assert!(
        matches!(status, Some(400 | 405)),
        "a CONNECT is answered 400 or 405, got: {answer:?}"
    );
    assert!(
        json_body_of(&answer)["error"]["code"].is_string(),
        "with a JSON error: {answer:?}"
    );
    let health = reqwest::get(app.url("/api/health")).await.expect("health");
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = common::spawn_app().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/auth/login"),
        (reqwest::Method::DELETE, "/api/account/balance"),
        (reqwest::Method::PUT, "/api/health"),
    ] {
        let response = reqwest::Client::new()
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{method} {path}");
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(
            body["error"]["code"], "method_not_allowed",
            "{method} {path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_json_413() {
    let app = common::spawn_app().await;
    let ten_mb = "a".repeat(10 * 1024 * 1024);
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let response = reqwest::Client::new()
            .post(app.url("/api/auth/login"))
            .header("content-type", content_type)
            .body(format!("username=demo&password={ten_mb}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 413, "{content_type}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], "payload_too_large", "{content_type}");
    }
    app.stop().await;
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let app =
        common::spawn_app_with(|s| s.http.header_read_timeout = Duration::from_millis(300)).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(app.addr).await.expect("connects");
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("writes");
        slow.push(stream);
    }
    for (i, stream) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 1024];
        // The server closes (after an optional 408): the read ends instead of waiting forever.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection {i} is still held after 5 s");
    }
    // Well-behaved clients are served as before.
    let health = reqwest::get(app.url("/api/health")).await.expect("health");
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn health_answers_within_a_second_while_the_database_hangs() {
    let app = common::spawn_app().await;
    // Every pooled connection taken and held: a query waits for the pool's acquire timeout.
    let thor_server::db::Database::Sqlite(pool) = &app.db else {
        panic!("the test server uses SQLite");
    };
    let mut held = Vec::new();
    while let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_millis(500), pool.acquire()).await
    {
        held.push(conn);
    }
    assert!(!held.is_empty(), "took the pool's connections");
    let answered = tokio::time::timeout(
        Duration::from_millis(1500),
        reqwest::get(app.url("/api/health")),
    )
    .await
    .expect("health answers within the bound, not after the pool's 5 s acquire timeout")
    .expect("request");
    assert_eq!(answered.status(), 503);
    let body: Value = answered.json().await.expect("json");
    assert_eq!(body["database"]["ok"], false);
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_json_is_compressed_on_request() {
    let app = common::spawn_app().await;
    let client = reqwest::Client::new();
    let first = client
        .get(app.url("/api/global-markets/status"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 200);
    assert_eq!(
        first
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let second = client
        .get(app.url("/api/no-such-thing"))
        .send()
        .await
        .expect("request");
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .expect("an x-request-id header")
    };
    assert_ne!(id(&first), id(&second), "each request has its own id");
    // A caller's own id is kept, so logs on both sides can be joined.
    let given = client
        .get(app.url("/api/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request");
    assert_eq!(id(&given), "trace-me-42");
    app.stop().await;
}

async fn boom() -> &'static str {
    panic!("boom")
}

#[tokio::test]
async fn a_handler_that_panics_is_answered_500_json_and_the_server_carries_on() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let settings = thor_server::Settings::default();
    let router = thor_server::http::layers(
        axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "fine" })),
        &settings.http,
        &thor_server::metrics::MetricsRegistry::default(),
    );
    let response = router
        .clone()
        .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
        .await
        .expect("an answer");
    assert_eq!(response.status(), 500);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], "internal");
    let fine = router
        .oneshot(Request::get("/fine").body(Body::empty()).expect("request"))
        .await
        .expect("an answer");
    assert_eq!(fine.status(), 200);
}
