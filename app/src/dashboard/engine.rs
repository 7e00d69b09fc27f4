//! The browser half of `use_websocket_aware`: one engine per tab drives every feature.
//!
//! - **Socket.** Every message of a feature goes to parity; in Shadow (and on a fallback) it is
//!   logged as `[WS] <type>: <payload>`; while the feature renders from the socket it is shown.
//! - **REST.** A 250 ms tick polls each feature whose source is not the socket, once per
//!   cadence (three times slower in a hidden tab; the socket is never slowed), and at once when a
//!   live feature falls back. An answer joins the stream by `seq`: it is shown only if newer.
//! - **Reports.** Every 5 s, and as soon as a new flags version is applied, the page tells the
//!   server its sources, parity and the version it runs (`POST /api/cutover/report`).

use super::board::{Board, Chart, Shown};
use crate::cutover::{FeatureReport, PageReport, Source};
use crate::feature::Feature;
use crate::intraday::IntradayBar;
use crate::live::{self, choose};
use crate::parity::{BarsAnswer, ParityTracker, compared};
use crate::protocol::{Envelope, ServerMessage};
use gloo_net::http::Request;
use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use thor_core::map::Map;

const TICK: Duration = Duration::from_millis(250);
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// A hidden tab polls REST this many times less often.
const HIDDEN_SLOWDOWN: f64 = 3.0;
/// Socket bars kept per page for a switch to the socket (the minutes REST has not shown yet).
const KEEP_SOCKET_BARS: usize = 64;

#[derive(Default)]
struct Poll {
    last_ms: f64,
    in_flight: bool,
    last_source: Option<Source>,
}

struct Engine {
    board: Board,
    page_id: String,
    parity: ParityTracker,
    polls: Map<Feature, Poll>,
    /// The latest closed bars the socket brought, oldest first.
    socket_bars: VecDeque<IntradayBar>,
    /// The flags version last confirmed to the server.
    reported_version: Option<u64>,
}

type Shared = Rc<RefCell<Engine>>;

thread_local! {
    static STARTED: RefCell<bool> = const { RefCell::new(false) };
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// Starts the engine once per tab.
pub fn start(board: Board) {
    if STARTED.with(|s| s.replace(true)) {
        return;
    }
    let started_at = now();
    let engine: Shared = Rc::new(RefCell::new(Engine {
        board,
        page_id: format!("p{:012x}", (js_sys::Math::random() * 2f64.powi(48)) as u64),
        parity: ParityTracker::new(),
        // What the server rendered is fresh: the first poll comes a cadence later.
        polls: Feature::ALL
            .into_iter()
            .map(|f| {
                let poll = Poll {
                    last_ms: started_at,
                    ..Poll::default()
                };
                (f, poll)
            })
            .collect(),
        socket_bars: VecDeque::new(),
        reported_version: None,
    }));

    let on_message = engine.clone();
    live::listen(move |envelope, text| socket_message(&on_message, envelope, text));

    // A reconnect replaces skipped state seqs with a snapshot: not a parity miss.
    let reconnects = engine.clone();
    Effect::new(move |previous: Option<u32>| {
        let connects = board.live.connects.get();
        if previous.is_some_and(|p| p > 0 && connects > p) {
            reconnects.borrow_mut().parity.on_socket_reconnect();
        }
        connects
    });

    for feature in Feature::ALL {
        let switched = engine.clone();
        Effect::new(move |previous: Option<Source>| {
            let source = board.source(feature).get();
            if previous.is_some_and(|p| p != source) {
                source_changed(&switched, feature, source);
            }
            source
        });
    }

    // A new flags version is confirmed at once.
    let confirm = engine.clone();
    Effect::new(move |_| {
        let version = board.flags.with(|f| f.as_ref().map(|f| f.version));
        let stale = confirm.borrow().reported_version != version;
        if version.is_some() && stale {
            send_report(&confirm);
        }
    });

    // Another symbol: the socket follows it instead, its parity starts afresh, and its bars
    // come from REST at once, whatever the source (the socket has no history).
    let symbol_changed = engine.clone();
    Effect::new(move |previous: Option<String>| {
        let symbol = board.symbol.get();
        if let Some(previous) = previous.filter(|p| *p != symbol) {
            board.intraday.set(None);
            let mut engine = symbol_changed.borrow_mut();
            engine.parity.forget_symbol(&previous);
            engine.parity.forget_symbol(&symbol);
            if let Some(poll) = engine.polls.get_mut(&Feature::Intraday) {
                poll.last_ms = 0.0;
            }
        }
        live::show_symbols(vec![symbol.clone()]);
        symbol
    });

    let ticking = engine.clone();
    if let Err(e) = set_interval_with_handle(move || tick(&ticking), TICK) {
        leptos::logging::warn!("[dashboard] cannot start polling: {e:?}");
    }
    let reporting = engine.clone();
    if let Err(e) = set_interval_with_handle(move || send_report(&reporting), REPORT_EVERY) {
        leptos::logging::warn!("[dashboard] cannot start reporting: {e:?}");
    }
}

/// Every socket message of a feature: parity, the shadow log, and the panel when it is live.
fn socket_message(engine: &Shared, envelope: &Envelope, text: &str) {
    let Some(topic) = envelope.message.topic() else {
        return;
    };
    let Some(feature) = Feature::of_topic(topic) else {
        return;
    };
    let at = now();
    let mut engine = engine.borrow_mut();
    let board = engine.board;
    if compared(topic) {
        engine.parity.on_socket(envelope, at);
    }
    if let ServerMessage::IntradayBar(bar) = &envelope.message {
        engine.socket_bars.push_back(bar.clone());
        while engine.socket_bars.len() > KEEP_SOCKET_BARS {
            engine.socket_bars.pop_front();
        }
    }
    drop(engine);
    let source = board.source(feature).get_untracked();
    if choose::compares(source) {
        leptos::logging::log!("[WS] {}: {}", topic.as_str(), text);
    }
    if source == Source::WebSocket {
        show_from_socket(board, envelope, at);
    }
}

fn show_from_socket(board: Board, envelope: &Envelope, at: f64) {
    match &envelope.message {
        ServerMessage::IntradayBar(bar) => board.intraday.update(|chart| {
            if let Some(chart) = chart
                && chart.value.symbol == bar.symbol
            {
                chart.value.close(bar.clone());
                chart.seq = if chart.epoch == envelope.epoch {
                    chart.seq.max(envelope.seq)
                } else {
                    envelope.seq
                };
                chart.epoch = envelope.epoch;
                chart.received_at_ms = at;
            }
        }),
        ServerMessage::FormingBar(bar) => board.intraday.update(|chart| {
            if let Some(chart) = chart
                && chart.value.symbol == bar.symbol
            {
                chart.value.form(bar.clone());
                chart.received_at_ms = at;
            }
        }),
        _ => board.apply_state(envelope, at),
    }
}

fn source_changed(engine: &Shared, feature: Feature, source: Source) {
    let board = engine.borrow().board;
    let at = now();
    match source {
        // Live: show what the socket holds now (if newer), and the bars it closed meanwhile.
        Source::WebSocket => {
            for topic in feature.topics() {
                let latest = board
                    .live
                    .latest(*topic)
                    .with_untracked(|r| r.as_ref().map(|r| r.envelope.clone()));
                if let Some(envelope) = latest {
                    show_from_socket(board, &envelope, at);
                }
            }
            if feature == Feature::Intraday {
                let bars: Vec<IntradayBar> = engine.borrow().socket_bars.iter().cloned().collect();
                board.intraday.update(|chart| {
                    if let Some(chart) = chart {
                        for bar in bars {
                            chart.value.close(bar);
                        }
                    }
                });
            }
            board.health(feature).update(|h| h.fell_back_at = None);
        }
        Source::RestFallback => {
            board.health(feature).update(|h| h.fell_back_at = Some(at));
        }
        Source::Rest | Source::RestShadow => {
            board.health(feature).update(|h| h.fell_back_at = None);
        }
    }
}

/// Polls each feature that is due.
fn tick(engine: &Shared) {
    let hidden = document().hidden();
    let at = now();
    let mut due = Vec::new();
    {
        let mut engine = engine.borrow_mut();
        let board = engine.board;
        for feature in Feature::ALL {
            let source = board.source(feature).get_untracked();
            if !board.shows(feature) {
                continue;
            }
            let Some(poll) = engine.polls.get_mut(&feature) else {
                continue;
            };
            let was = poll.last_source.replace(source);
            let history = feature == Feature::Intraday && needs_history(board);
            if poll.in_flight || !(choose::polls_rest(source) || history) {
                continue;
            }
            let mut every = feature.cadence().as_millis() as f64;
            if hidden {
                every *= HIDDEN_SLOWDOWN;
            }
            // Back from the socket: poll at once.
            let resumed = was == Some(Source::WebSocket) && choose::polls_rest(source);
            // Nothing to show yet (the server had nothing to render): ask now, and each second
            // until there is.
            let empty = received_at_untracked(board, feature).is_none();
            let retry = (history || empty) && at - poll.last_ms >= 1_000.0;
            if retry || resumed || at - poll.last_ms >= every {
                poll.in_flight = true;
                poll.last_ms = at;
                due.push((feature, source));
            }
        }
    }
    for (feature, source) in due {
        let engine = engine.clone();
        leptos::task::spawn_local(async move {
            let outcome = fetch(&engine, feature).await;
            let mut e = engine.borrow_mut();
            if let Some(poll) = e.polls.get_mut(&feature) {
                poll.in_flight = false;
            }
            let board = e.board;
            match outcome {
                Ok(answer) => {
                    let at = now();
                    if choose::compares(source) {
                        match &answer {
                            Answer::State(envelope) => e.parity.on_rest(envelope, at),
                            Answer::Bars(bars) => e.parity.on_rest_bars(bars, at),
                        }
                    }
                    let socket_bars: Vec<IntradayBar> = e.socket_bars.iter().cloned().collect();
                    drop(e);
                    show_from_rest(board, &answer, at, &socket_bars);
                    board.health(feature).update(|h| h.error = None);
                }
                Err(error) => {
                    drop(e);
                    board.health(feature).update(|h| h.error = Some(error));
                }
            }
        });
    }
}

/// The first minute of the chart's window now (its view's interval times its bars).
fn window_start_ms(board: Board) -> i64 {
    let minutes = board.chart_view.with_untracked(|v| v.window_minutes());
    ((now() as i64) / 60_000 - minutes) * 60_000
}

/// Whether the chart lacks its symbol's bars over its window: a new symbol, or a longer interval
/// than its history covers. REST brings them whatever the source (the socket has only what
/// comes next).
fn needs_history(board: Board) -> bool {
    let symbol = board.symbol.get_untracked();
    // Two minutes' slack: a page clock a little behind the server's that rendered the window
    // does not fetch it again.
    let from = window_start_ms(board) + 2 * 60_000;
    board.intraday.with_untracked(|chart| {
        chart
            .as_ref()
            .is_none_or(|c| !c.value.covers(&symbol, from))
    })
}

enum Answer {
    State(Envelope),
    Bars(BarsAnswer),
}

async fn fetch(engine: &Shared, feature: Feature) -> Result<Answer, String> {
    let url = match feature {
        Feature::Intraday => {
            let board = engine.borrow().board;
            let symbol = board.symbol.get_untracked();
            // From a little before the last bar held (it may have been corrected), or the
            // chart's whole window (a chart that has its bars draws the VWAP line on from them:
            // no session sum again).
            let last = if needs_history(board) {
                None
            } else {
                board
                    .intraday
                    .with_untracked(|c| c.as_ref().and_then(|c| c.value.last_closed_ms()))
            };
            let (since_ms, session) = match last {
                Some(last) => (last - 2 * 60_000, "false"),
                None => (window_start_ms(board), "true"),
            };
            let since = chrono::DateTime::from_timestamp_millis(since_ms)
                .map(|t| crate::timefmt::iso_utc(&t))
                .unwrap_or_default();
            format!(
                "{}?symbol={symbol}&since={since}&session={session}",
                feature.rest_path()
            )
        }
        _ => feature.rest_path().to_string(),
    };
    let request = Request::get(&url)
        .build()
        .map_err(|e| format!("cannot ask the server: {e}"))?;
    let text = super::send(request).await?;
    match feature {
        Feature::Intraday => serde_json::from_str::<BarsAnswer>(&text).map(Answer::Bars),
        _ => serde_json::from_str::<Envelope>(&text).map(Answer::State),
    }
    .map_err(|e| format!("the server's answer makes no sense: {e}"))
}

/// Shows a REST answer if it is newer; a chart built from one also takes the bars the socket
/// closed meanwhile (`socket_bars`: while its history was in flight, nothing else had them).
fn show_from_rest(board: Board, answer: &Answer, at: f64, socket_bars: &[IntradayBar]) {
    match answer {
        Answer::State(envelope) => board.apply_state(envelope, at),
        Answer::Bars(bars) => {
            if bars.data.symbol != board.symbol.get_untracked() {
                return;
            }
            board.intraday.update(|chart| match chart {
                Some(chart) if chart.value.symbol == bars.data.symbol => {
                    chart.value.merge(bars);
                    chart.seq = if chart.epoch == bars.epoch {
                        chart.seq.max(bars.seq)
                    } else {
                        bars.seq
                    };
                    chart.epoch = bars.epoch;
                    chart.received_at_ms = at;
                }
                _ => {
                    let mut value = Chart::from_answer(bars);
                    for bar in socket_bars {
                        value.close(bar.clone());
                    }
                    *chart = Some(Shown {
                        value,
                        epoch: bars.epoch,
                        seq: bars.seq,
                        received_at_ms: at,
                    })
                }
            });
        }
    }
}

/// Tells the server this page's sources, parity and applied flags version.
fn send_report(engine: &Shared) {
    let at = now();
    let report = {
        let mut engine = engine.borrow_mut();
        let board = engine.board;
        let Some(version) = board
            .flags
            .with_untracked(|f| f.as_ref().map(|f| f.version))
        else {
            return;
        };
        engine.parity.expire(at);
        let features: Vec<FeatureReport> = Feature::ALL
            .into_iter()
            .map(|feature| {
                let source = board.source(feature).get_untracked();
                let age = board
                    .live
                    .now_ms
                    .get_untracked()
                    .zip(received_at_untracked(board, feature))
                    .map(|(now, at)| (now - at).max(0.0) as u64);
                let mut report = engine.parity.report(feature, source, age);
                report.fell_back_at = board
                    .health(feature)
                    .with_untracked(|h| h.fell_back_at.map(|t| t as i64));
                board.parity(feature).update(|seen| {
                    seen.counts.add(&report.parity);
                    if let Some(diff) = report.diffs.last() {
                        seen.last_diff = Some(diff.clone());
                    }
                });
                report
            })
            .collect();
        engine.reported_version = Some(version);
        PageReport {
            page_id: engine.page_id.clone(),
            applied_version: version,
            features,
        }
    };
    leptos::task::spawn_local(async move {
        let Ok(body) = serde_json::to_string(&report) else {
            return;
        };
        let request = Request::post("/api/cutover/report")
            .header("content-type", "application/json")
            .body(body);
        match request {
            Ok(request) => {
                if let Err(e) = request.send().await {
                    leptos::logging::log!("[dashboard] report not sent: {e}");
                }
            }
            Err(e) => leptos::logging::warn!("[dashboard] cannot build the report: {e}"),
        }
    });
}

fn received_at_untracked(board: Board, feature: Feature) -> Option<f64> {
    untrack(|| board.received_at(feature))
}
