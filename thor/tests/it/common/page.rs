//! A Rust client that acts as a page of the dashboard: one socket (read in the background), REST
//! polls on demand, the shared crate's parity tracker fed by both, and reports to the server.
//! Until the dashboard exists in the browser, the cutover tests drive the server with these.

use app::cutover::{FeatureReport, Flags, PageReport, Source};
use app::feature::Feature;
use app::parity::{BarsAnswer, ParityTracker};
use app::protocol::{Envelope, ServerMessage};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Seen {
    tracker: ParityTracker,
    flags: Vec<(Flags, Instant)>,
    last_update: BTreeMap<Feature, Instant>,
}

pub struct Page {
    pub addr: SocketAddr,
    pub cookie: String,
    pub page_id: String,
    started: Instant,
    seen: Arc<Mutex<Seen>>,
    reader: JoinHandle<()>,
    http: reqwest::Client,
}

impl Page {
    /// Opens a page for the session `cookie`; a socket message later than REST's answer of the
    /// same seq by more than `late_after_ms` counts as late.
    pub async fn open(addr: SocketAddr, cookie: &str, page_id: &str, late_after_ms: f64) -> Page {
        let socket = super::ws_connect_at(addr, cookie, "").await;
        let started = Instant::now();
        let seen = Arc::new(Mutex::new(Seen {
            tracker: ParityTracker::with_late_after(late_after_ms),
            ..Seen::default()
        }));
        let reader = {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut socket = socket;
                while let Some(Ok(message)) = socket.next().await {
                    let Ok(text) = message.into_text() else {
                        continue;
                    };
                    let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                        continue;
                    };
                    let now = started.elapsed().as_secs_f64() * 1000.0;
                    let mut seen = seen.lock().expect("page state");
                    if let ServerMessage::Cutover(flags) = &envelope.message {
                        seen.flags.push((flags.clone(), Instant::now()));
                        continue;
                    }
                    if let Some(topic) = envelope.message.topic()
                        && let Some(feature) = Feature::of_topic(topic)
                    {
                        seen.last_update.insert(feature, Instant::now());
                    }
                    seen.tracker.on_socket(&envelope, now);
                }
            })
        };
        let page = Page {
            addr,
            cookie: cookie.to_string(),
            page_id: page_id.to_string(),
            started,
            seen,
            reader,
            http: reqwest::Client::new(),
        };
        // Parity knows the socket is open from a feature's message: polls before it are ignored.
        let deadline = Instant::now() + Duration::from_secs(5);
        while page.seen.lock().expect("page state").last_update.is_empty() {
            assert!(
                Instant::now() < deadline,
                "{page_id}: no feature message on the socket within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        page
    }

    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Polls `feature`'s REST endpoint (bars of SPY for intraday) and feeds the answer to parity.
    pub async fn poll(&self, feature: Feature) {
        let path = match feature {
            Feature::Intraday => format!("{}?symbol=SPY", feature.rest_path()),
            _ => feature.rest_path().to_string(),
        };
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("REST answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let text = response.text().await.expect("body");
        let now = self.now_ms();
        let mut seen = self.seen.lock().expect("page state");
        match feature {
            Feature::Intraday => {
                let answer: BarsAnswer = serde_json::from_str(&text).expect("bars");
                seen.tracker.on_rest_bars(&answer, now);
            }
            _ => {
                let envelope: Envelope = serde_json::from_str(&text).expect("an envelope");
                seen.tracker.on_rest(&envelope, now);
            }
        }
    }

    /// Waits (at most `limit`) until no REST answer waits for the socket any more.
    pub async fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let waiting = {
                let mut seen = self.seen.lock().expect("page state");
                seen.tracker.expire(self.now_ms());
                seen.tracker.waiting()
            };
            if waiting == 0 || Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most `limit`) until the socket has brought everything REST showed, without
    /// giving up on any of it (a delayed socket's messages are judged late, not missing).
    pub async fn wait_for_socket(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let waiting = self.seen.lock().expect("page state").tracker.waiting();
            if waiting == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {waiting} REST answers still wait for the socket after {limit:?}",
                self.page_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The latest flags the socket brought.
    pub fn flags(&self) -> Option<Flags> {
        let seen = self.seen.lock().expect("page state");
        seen.flags.last().map(|(flags, _)| flags.clone())
    }

    /// Waits (at most `limit`) for a `cutover` message of at least `version`; returns it and
    /// when it arrived.
    pub async fn wait_for_version(&self, version: u64, limit: Duration) -> (Flags, Instant) {
        let deadline = Instant::now() + limit;
        loop {
            {
                let seen = self.seen.lock().expect("page state");
                if let Some((flags, at)) = seen.flags.iter().find(|(f, _)| f.version >= version) {
                    return (flags.clone(), *at);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no cutover message of version {version} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reports what was compared since the last report for `features`, each on `source`;
    /// `adjust` may add what a test wants the report to say (gaps, a fallback).
    pub async fn report(
        &self,
        features: &[(Feature, Source)],
        adjust: impl Fn(&mut FeatureReport),
    ) -> reqwest::StatusCode {
        let report = {
            let mut seen = self.seen.lock().expect("page state");
            seen.tracker.expire(self.now_ms());
            let applied_version = seen.flags.last().map_or(0, |(f, _)| f.version);
            let features = features
                .iter()
                .map(|(feature, source)| {
                    let age = seen
                        .last_update
                        .get(feature)
                        .map(|at| at.elapsed().as_millis() as u64);
                    let mut report = seen.tracker.report(*feature, *source, age);
                    adjust(&mut report);
                    report
                })
                .collect();
            PageReport {
                page_id: self.page_id.clone(),
                applied_version,
                features,
            }
        };
        self.http
            .post(format!("http://{}/api/cutover/report", self.addr))
            .header("cookie", &self.cookie)
            .json(&report)
            .send()
            .await
            .expect("report answered")
            .status()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
