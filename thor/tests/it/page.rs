//! The dashboard page as the server renders it, before any JavaScript runs. (Signing in to see
//! it, and being sent to sign in without a session: `pages.rs`.)

use crate::common;

#[tokio::test]
async fn the_dashboard_is_server_rendered_with_its_hydration_scripts() {
    let app = common::spawn_app().await;
    let client = reqwest::Client::new();
    let cookie = common::sign_in(&app, "demo").await;
    let response = client
        .get(app.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("body");
    assert!(html.contains("<title>Thor</title>"), "{html}");
    assert!(html.contains("Server heartbeat"), "{html}");
    assert!(
        html.contains("Connecting…"),
        "the server renders the pre-connection state"
    );
    assert!(
        html.contains("/pkg/thor.js"),
        "the page loads the hydration bundle"
    );
    assert!(
        html.contains("/pkg/thor.css"),
        "the page links its stylesheet"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404_with_a_way_back() {
    let app = common::spawn_app().await;
    let response = reqwest::get(app.url("/no/such/page"))
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let html = response.text().await.expect("body");
    assert!(html.contains("Back to the dashboard"), "{html}");
    app.stop().await;
}
