//! `GET /api/health` and the JSON error of unknown API paths, against the real server.

use crate::common;

use serde_json::Value;

#[tokio::test]
async fn health_reports_the_database_and_the_hub() {
    let app = common::spawn_app().await;
    let response = reqwest::get(app.url("/api/health")).await.expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["backend"], "sqlite");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["hub"]["backend"], "in-process");
    assert!(body["hub"]["epoch"].as_u64().is_some_and(|e| e >= 1));
    assert_eq!(body["hub"]["connections"], 0);
    app.stop().await;
}

#[tokio::test]
async fn health_says_503_when_the_database_stops_answering() {
    let app = common::spawn_app().await;
    // The database going away under a running server: its pool stops handing out connections.
    app.db.close().await;
    let response = reqwest::get(app.url("/api/health")).await.expect("request");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["database"]["ok"], false);
    assert_eq!(
        body["database"]["error"], "the database is not answering",
        "says that it is down, not the driver's text (which can name hosts and paths)"
    );
    // The rest of the server carries on: the page still renders.
    let page = reqwest::get(app.url("/")).await.expect("request");
    assert_eq!(page.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let app = common::spawn_app().await;
    let response = reqwest::get(app.url("/api/no-such-thing"))
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await;
}
