//! The browser's way in and out: the sign-in form, the sign-out button and the session check in
//! front of the pages, over real HTTP with redirects left unfollowed so the 303s can be seen.

use crate::common;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};

/// A client that shows redirects instead of following them, and keeps no cookies of its own.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn post_form(
    app: &common::TestApp,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut request = browser()
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request")
}

async fn get(app: &common::TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("request")
}

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Signs in through the form; returns the `thor_session=...` pair.
async fn sign_in(app: &common::TestApp, username: &str, password: &str) -> String {
    let body = format!("username={username}&password={password}");
    let response = post_form(app, "/api/auth/login", &body, None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let cookie = set_cookie(&response).expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    cookie.split(';').next().expect("a pair").to_string()
}

#[tokio::test]
async fn the_sign_in_form_signs_in_and_the_dashboard_names_the_user() {
    let app = common::spawn_app().await;
    let cookie = sign_in(&app, "demo2", "demo2").await;

    let page = get(&app, "/", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Server heartbeat"),
        "the dashboard is rendered"
    );
    assert!(html.contains("demo2"), "the top bar names the user");
    assert!(html.contains("Sign out"));

    // The session works for the API too.
    let me = browser()
        .get(app.url("/api/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn the_first_html_already_has_the_traders_own_figures_and_no_one_elses() {
    let app = common::spawn_app().await;
    let cookie = sign_in(&app, "demo", "demo").await;
    let balance = browser()
        .get(app.url("/api/account/balance"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    let balance: serde_json::Value = balance.json().await.expect("json");
    let equity = balance["data"]["equity"].as_f64().expect("equity");
    let other = sign_in(&app, "demo2", "demo2").await;
    let other_balance: serde_json::Value = browser()
        .get(app.url("/api/account/balance"))
        .header("cookie", &other)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let other_equity = other_balance["data"]["equity"].as_f64().expect("equity");

    let html = get(&app, "/", Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    // What a trader reads, e.g. $100,234.56, rendered by the server.
    let whole = format!("{:.2}", equity);
    let (units, cents) = whole.split_once('.').expect("two decimals");
    let grouped: Vec<String> = units
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let shown = format!("${}.{cents}", grouped.join(","));
    let rendered = html
        .split("data-testid=\"balance-equity\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .map(|(_, text)| text.split('<').next().unwrap_or_default());
    assert_eq!(
        rendered,
        Some(shown.as_str()),
        "the equity is in the first HTML"
    );
    assert!(html.contains("data-testid=\"account-number\">THOR-10001<"));
    assert!(
        !html.contains("THOR-10002"),
        "another trader's account is not"
    );
    // Exactly demo's holdings (demo2 holds QQQ and IWM), and not demo2's equity.
    let mut rows: Vec<&str> = html
        .split("data-testid=\"position-row\" data-symbol=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        ["AAPL", "MSFT", "SPY"],
        "the trader's own positions only"
    );
    let other_shown = format!("{other_equity:.2}");
    let (other_units, _) = other_shown.split_once('.').expect("two decimals");
    let thousands = &other_units[..other_units.len() - 3];
    assert!(
        !html.contains(&format!(
            "${thousands},{}",
            &other_units[other_units.len() - 3..]
        )),
        "another trader's equity is not in the page"
    );
    assert!(html.contains("data-testid=\"market-XNYS\""));
    assert!(
        html.contains("data-testid=\"chart\""),
        "the chart is drawn by the server"
    );
    assert!(
        !html.contains("operator-controls"),
        "a trader gets no controls"
    );
    assert!(
        html.contains("REST (Shadow)"),
        "the features start in shadow"
    );

    // An operator's page has the controls; the palette cookie is honoured on the first paint.
    let ops = sign_in(&app, "ops", "ops").await;
    let html = get(&app, "/", Some(&format!("{ops}; thor_palette=cb")))
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("data-testid=\"operator-controls\""));
    assert!(
        html.contains("Every open page"),
        "the fleet's evidence, for operators"
    );
    assert!(html.contains("class=\"board palette-cb\""));
    app.stop().await;
}

/// The `since` of the chart's bars in a page's serialised initial data (JSON in a string:
/// `\\\"since\\\":\\\"2026-…`).
fn chart_since(html: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = html.find("since\\")?;
    let text = html.get(at..)?;
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let time = text.get(start..start + 20)?;
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[tokio::test]
async fn the_chart_is_drawn_at_the_remembered_interval_and_clock_on_the_first_paint() {
    let app = common::spawn_app().await;
    let demo = sign_in(&app, "demo", "demo").await;
    let now = || app.state.clock.now();

    // By default: 1-minute bars, an hour of them, on the exchange's clock (SPY trades in New
    // York).
    let before = now();
    let html = get(&app, "/", Some(&demo))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("SPY, 1-minute bars"),
        "the title says the interval"
    );
    assert!(
        html.contains("Times in New York (UTC−04:00)")
            || html.contains("Times in New York (UTC−05:00)"),
        "the exchange's clock by default"
    );
    let since = chart_since(&html).expect("the chart's bars are in the page");
    let hour = chrono::Duration::minutes(60);
    assert!(
        since <= before - hour + chrono::Duration::seconds(1)
            && since >= before - hour - chrono::Duration::minutes(1),
        "an hour of bars from {since}"
    );

    // 15-minute bars in UTC, as the cookie remembers: fifteen hours of 1-minute bars are sent
    // to make sixty of them, and the controls say so before the page runs.
    let before = now();
    let cookie = format!("{demo}; thor_chart=15.utc.0");
    let html = get(&app, "/", Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("SPY, 15-minute bars"));
    assert!(html.contains("Times in UTC"));
    assert!(
        html.contains(r#"<option value="15" selected"#),
        "the interval's option is selected"
    );
    assert!(
        html.contains(r#"<option value="utc" selected"#),
        "the zone's option is selected"
    );
    let since = chart_since(&html).expect("the chart's bars are in the page");
    let window = chrono::Duration::minutes(15 * 60);
    assert!(
        since <= before - window + chrono::Duration::seconds(1)
            && since >= before - window - chrono::Duration::minutes(1),
        "fifteen hours of bars from {since}"
    );

    // The browser's clock as the page last told it, and a cookie that makes no sense is the
    // default, not an error.
    let cookie = format!("{demo}; thor_chart=5.browser.330");
    let html = get(&app, "/", Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains("SPY, 5-minute bars"));
    assert!(
        html.contains("Times in your browser&#x27;s zone (UTC+05:30)")
            || html.contains("Times in your browser's zone (UTC+05:30)")
    );
    let cookie = format!("{demo}; thor_chart=%00;%20nonsense");
    let response = get(&app, "/", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("SPY, 1-minute bars")
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_credentials_on_the_form_go_back_to_the_form_with_an_error_and_no_session() {
    let app = common::spawn_app().await;
    for body in [
        "username=demo&password=wrong",
        "username=nobody&password=demo",
        "username=demo&password=",
        &format!("username=demo&password={}", "x".repeat(10_000)),
    ] {
        let response = post_form(&app, "/api/auth/login", body, None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body:.40}");
        assert_eq!(location(&response), "/login?error=1");
        assert_eq!(set_cookie(&response), None, "no session for {body:.40}");
    }
    let page = get(&app, "/login?error=1", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("Wrong username or password"), "{html:.400}");

    let disabled = get(&app, "/login?error=disabled", None).await;
    let html = disabled.text().await.expect("html");
    assert!(html.contains("This account is disabled"), "{html:.400}");
    assert!(!html.contains("Wrong username or password"));

    let plain = get(&app, "/login", None).await.text().await.expect("html");
    assert!(plain.contains(r#"action="/api/auth/login""#));
    assert!(!plain.contains("Wrong username or password"));
    app.stop().await;
}

#[tokio::test]
async fn a_form_body_that_cannot_be_read_is_a_400() {
    let app = common::spawn_app().await;
    for body in [
        "username=demo",
        "password=demo",
        "",
        "username=demo&username=demo2&password=demo",
    ] {
        let response = post_form(&app, "/api/auth/login", body, None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: serde_json::Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "bad_request", "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn forms_posted_from_another_site_are_refused() {
    let app = common::spawn_app().await;
    let response = browser()
        .post(app.url("/api/auth/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example")
        .body("username=demo&password=demo")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(set_cookie(&response), None);

    // The page's own origin is fine.
    let response = browser()
        .post(app.url("/api/auth/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("origin", format!("http://{}", app.addr))
        .body("username=demo&password=demo")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_sends_strangers_to_the_sign_in_form() {
    let app = common::spawn_app().await;
    let anonymous = get(&app, "/", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/login");

    let forged = format!("thor_session={}", "ab".repeat(32));
    let response = get(&app, "/", Some(&forged)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");

    let login = get(&app, "/login", None).await;
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.expect("html");
    assert!(html.contains(r#"method="post""#), "{html:.400}");
    assert!(!html.contains("Sign out"), "nobody to sign out");

    // Not a page: the API and assets are not redirected.
    assert_eq!(
        get(&app, "/api/health", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/api/auth/me", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn a_signed_in_visit_to_the_sign_in_form_goes_to_the_dashboard() {
    let app = common::spawn_app().await;
    let cookie = sign_in(&app, "demo", "demo").await;
    let response = get(&app, "/login", Some(&cookie)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    app.stop().await;
}

#[tokio::test]
async fn the_sign_out_form_ends_the_session_and_goes_to_the_sign_in_form() {
    let app = common::spawn_app().await;
    let cookie = sign_in(&app, "demo", "demo").await;
    assert_eq!(get(&app, "/", Some(&cookie)).await.status(), StatusCode::OK);

    let out = post_form(&app, "/api/auth/logout", "", Some(&cookie)).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    assert!(
        set_cookie(&out).is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is cleared"
    );

    // The old cookie no longer opens anything.
    let again = get(&app, "/", Some(&cookie)).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again), "/login");

    // Signing out without a session still lands on the form.
    let out = post_form(&app, "/api/auth/logout", "", None).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    app.stop().await;
}
