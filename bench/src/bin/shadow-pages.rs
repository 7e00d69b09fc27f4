//! `shadow-pages`: stand-in dashboard pages for rehearsing a cutover before the dashboard
//! exists. Each page signs in, opens the socket, polls each feature's REST endpoint at its
//! cadence (or `--poll-ms`), runs the shared crate's parity code on both, and reports to the
//! server every two seconds, as the real page does. Used for the README's walkthrough.
//!
//! ```sh
//! shadow-pages --server http://127.0.0.1:3000 --users demo,demo2 --pages-per-user 2 --seconds 60
//! ```
//! The demo users' passwords are their names; others are read from `SHADOW_PAGES_PASSWORD`.

use anyhow::{Context, Result, bail};
use app::cutover::{PageReport, Source, Stage};
use app::feature::Feature;
use app::parity::{BarsAnswer, ParityTracker};
use app::protocol::{Envelope, ServerMessage};
use clap::Parser;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    server: String,
    #[arg(long, value_delimiter = ',', default_value = "demo,demo2")]
    users: Vec<String>,
    #[arg(long, default_value_t = 1)]
    pages_per_user: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Poll every feature this often instead of at its cadence.
    #[arg(long)]
    poll_ms: Option<u64>,
}

#[derive(Default)]
struct Seen {
    tracker: ParityTracker,
    version: u64,
    stages: BTreeMap<Feature, Stage>,
    last_update: BTreeMap<Feature, Instant>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let base = args.server.trim_end_matches('/').to_string();
    let mut pages = Vec::new();
    for user in &args.users {
        for n in 0..args.pages_per_user {
            let page_id = format!("rehearsal-{user}-{n}-{}", std::process::id());
            pages.push(tokio::spawn(page(
                base.clone(),
                user.clone(),
                page_id,
                args.poll_ms,
                Duration::from_secs(args.seconds),
            )));
        }
    }
    let mut failed = 0;
    for page in pages {
        match page.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("a page failed: {e:#}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("a page panicked: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} page(s) failed");
    }
    Ok(())
}

async fn sign_in(http: &reqwest::Client, base: &str, user: &str) -> Result<String> {
    let password = if user.starts_with("demo") || user == "ops" {
        user.to_string()
    } else {
        std::env::var("SHADOW_PAGES_PASSWORD").context("SHADOW_PAGES_PASSWORD")?
    };
    let response = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .context("sign-in")?;
    if !response.status().is_success() {
        bail!("{user} cannot sign in: {}", response.status());
    }
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .context("no session cookie")
}

async fn page(
    base: String,
    user: String,
    page_id: String,
    poll_ms: Option<u64>,
    run_for: Duration,
) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let cookie = sign_in(&http, &base, &user).await?;
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut request = ws_url.into_client_request()?;
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie)?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("socket")?;
    let started = Instant::now();
    let now_ms = move || started.elapsed().as_secs_f64() * 1000.0;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Ok(text) = message.into_text() else {
                    continue;
                };
                let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                    continue;
                };
                let Ok(mut seen) = seen.lock() else { return };
                if let ServerMessage::Cutover(flags) = &envelope.message {
                    seen.version = flags.version;
                    seen.stages = flags
                        .features
                        .iter()
                        .map(|(f, flag)| (*f, flag.stage))
                        .collect();
                    continue;
                }
                if let Some(feature) = envelope.message.topic().and_then(Feature::of_topic) {
                    seen.last_update.insert(feature, Instant::now());
                }
                seen.tracker.on_socket(&envelope, now_ms());
            }
        })
    };
    let mut next_poll: BTreeMap<Feature, Instant> =
        Feature::ALL.iter().map(|f| (*f, Instant::now())).collect();
    let mut next_report = Instant::now() + Duration::from_secs(2);
    let mut reported_version = 0;
    while started.elapsed() < run_for {
        let (version, live): (u64, Vec<Feature>) = {
            let Ok(seen) = seen.lock() else {
                bail!("page state poisoned")
            };
            let live = seen
                .stages
                .iter()
                .filter(|(_, stage)| **stage == Stage::Live)
                .map(|(f, _)| *f)
                .collect();
            (seen.version, live)
        };
        for feature in Feature::ALL {
            // A live feature renders from the socket: no REST request for it.
            if next_poll[&feature] > Instant::now() || live.contains(&feature) {
                continue;
            }
            let every = poll_ms.map_or(feature.cadence(), Duration::from_millis);
            next_poll.insert(feature, Instant::now() + every);
            let path = match feature {
                Feature::Intraday => format!("{}?symbol=SPY", feature.rest_path()),
                _ => feature.rest_path().to_string(),
            };
            let response = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            if !response.status().is_success() {
                continue;
            }
            let text = response.text().await?;
            let Ok(mut seen) = seen.lock() else {
                bail!("page state poisoned")
            };
            match feature {
                Feature::Intraday => {
                    if let Ok(answer) = serde_json::from_str::<BarsAnswer>(&text) {
                        seen.tracker.on_rest_bars(&answer, now_ms());
                    }
                }
                _ => {
                    if let Ok(envelope) = serde_json::from_str::<Envelope>(&text) {
                        seen.tracker.on_rest(&envelope, now_ms());
                    }
                }
            }
        }
        // A page confirms a flag change at once; otherwise it reports every two seconds.
        if Instant::now() >= next_report || version > reported_version {
            reported_version = version;
            next_report = Instant::now() + Duration::from_secs(2);
            let report = {
                let Ok(mut seen) = seen.lock() else {
                    bail!("page state poisoned")
                };
                seen.tracker.expire(now_ms());
                let features = Feature::ALL
                    .iter()
                    .map(|feature| {
                        let source = match seen.stages.get(feature) {
                            Some(Stage::Live) => Source::WebSocket,
                            Some(Stage::Shadow) => Source::RestShadow,
                            _ => Source::Rest,
                        };
                        let age = seen
                            .last_update
                            .get(feature)
                            .map(|at| at.elapsed().as_millis() as u64);
                        seen.tracker.report(*feature, source, age)
                    })
                    .collect();
                PageReport {
                    page_id: page_id.clone(),
                    applied_version: seen.version,
                    features,
                }
            };
            let answer = http
                .post(format!("{base}/api/cutover/report"))
                .header("cookie", &cookie)
                .json(&report)
                .send()
                .await?;
            if !answer.status().is_success() {
                eprintln!("{page_id}: report refused: {}", answer.status());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    Ok(())
}
