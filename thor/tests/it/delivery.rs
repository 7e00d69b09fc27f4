//! Delivery guarantees with real sockets: snapshot on connect, resume without loss after a
//! dropped connection, the snapshot fallback beyond the replay buffer, coalescing and the
//! slow-client close while a fast client keeps every message, per-symbol subscriptions, the
//! message rate limit, and the Prometheus metrics.
//!
//! Messages are published straight onto the server's hub (`app.hub`), on a clock that does not
//! move, so the jobs add no bars or probes of their own and every seq is known.

use crate::common;

use app::intraday::IntradayBar;
use app::protocol::{Envelope, ErrorCode, Probe, ServerMessage, SnapshotReason, Topic, close_code};
use chrono::{DateTime, Utc};
use common::Socket;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use thor_server::clock::ManualClock;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

async fn app_with(tweak: impl FnOnce(&mut thor_server::Settings)) -> common::TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = common::test_settings(data.path());
    settings.hub.heartbeat_interval = Duration::from_secs(600);
    tweak(&mut settings);
    let start: DateTime<Utc> = "2026-03-09T14:30:10Z".parse().expect("instant");
    common::start_with_clock(settings, data, Arc::new(ManualClock::new(start))).await
}

fn probe(app: &common::TestApp, n: u64) -> u64 {
    app.hub
        .publish(Topic::Probe, ServerMessage::Probe(Probe { n, sent_us: 0 }))
}

fn bar(symbol: &str, minute: i64) -> ServerMessage {
    ServerMessage::IntradayBar(IntradayBar {
        symbol: symbol.to_string(),
        country: "USA".into(),
        timestamp_minute: DateTime::from_timestamp(minute * 60, 0).expect("minute"),
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1,
        vwap: 1.0,
        trades: 1,
    })
}

/// The next text message as an envelope, or `Err(close code)` when the server closes.
async fn next(socket: &mut Socket) -> Result<Envelope, Option<u16>> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within the deadline");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("an envelope"));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(None),
        }
    }
}

async fn next_ok(socket: &mut Socket) -> Envelope {
    match next(socket).await {
        Ok(envelope) => envelope,
        Err(code) => panic!("closed by the server: {code:?}"),
    }
}

/// The seqs of the next `count` messages of `topic`, skipping other topics.
async fn seqs_of(socket: &mut Socket, topic: Topic, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let envelope = next_ok(socket).await;
        if envelope.message.topic() == Some(topic) {
            seqs.push(envelope.seq);
        }
    }
    seqs
}

/// `GET /metrics`, as text.
async fn metrics_text(app: &common::TestApp) -> String {
    let response = reqwest::get(app.url("/metrics")).await.expect("metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

/// The next per-connection reply (`resumed`, `subscribed`, `pong`, `error`).
async fn next_reply(socket: &mut Socket) -> ServerMessage {
    loop {
        let envelope = next_ok(socket).await;
        if envelope.message.topic().is_none() {
            return envelope.message;
        }
    }
}

#[tokio::test]
async fn a_new_connection_gets_the_current_state_of_everything_at_once() {
    let app = app_with(|_| {}).await;
    app.hub.publish(Topic::IntradayBar, bar("AAPL", 1));
    app.hub.publish(Topic::IntradayBar, bar("MSFT", 1));
    app.hub.publish(Topic::IntradayBar, bar("AAPL", 2));
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    let mut types = Vec::new();
    let mut bars = Vec::new();
    // The jobs ran once before serving: every topic with a state has it by now (the clock
    // stands still, so the feed has no VWAP yet).
    let wanted = [
        Topic::Heartbeat,
        Topic::AccountBalance,
        Topic::Positions,
        Topic::MarketStatus,
        Topic::IntradayBar,
        Topic::FormingBar,
    ];
    while !wanted.iter().all(|t| types.contains(t)) && types.len() < Topic::ALL.len() {
        let envelope = next_ok(&mut socket).await;
        let topic = envelope
            .message
            .topic()
            .expect("snapshot messages have topics");
        if let ServerMessage::IntradayBar(b) = &envelope.message
            && b.country == "USA"
            && b.volume == 1
        {
            bars.push((b.symbol.clone(), envelope.seq));
        }
        if !types.contains(&topic) {
            types.push(topic);
        }
    }
    for topic in wanted {
        assert!(
            types.contains(&topic),
            "{topic:?} in the snapshot: {types:?}"
        );
    }
    let last = app
        .hub
        .stream_seq(Topic::IntradayBar, thor_server::hub::Audience::Everyone);
    assert!(
        bars.contains(&("AAPL".into(), last)) && !bars.contains(&("AAPL".into(), last - 2)),
        "only the latest bar of AAPL: {bars:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_resumes_without_loss_in_order() {
    let app = app_with(|_| {}).await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    for n in 1..=5 {
        probe(&app, n);
    }
    assert_eq!(
        seqs_of(&mut socket, Topic::Probe, 5).await,
        vec![1, 2, 3, 4, 5]
    );
    drop(socket);
    for n in 6..=40 {
        probe(&app, n);
    }
    let epoch = app.hub.epoch();
    let query = format!("?epoch={epoch}&since=probe:5");
    let mut socket = common::ws_connect(&app, &cookie, &query).await;
    match next_ok(&mut socket).await.message {
        ServerMessage::Resumed(resumed) => {
            assert_eq!(resumed.epoch, epoch);
            assert_eq!(resumed.replayed.get(&Topic::Probe), Some(&35));
            assert!(resumed.snapshot.is_empty(), "{resumed:?}");
        }
        other => panic!("expected the resumed reply first, got {other:?}"),
    }
    let replayed = seqs_of(&mut socket, Topic::Probe, 35).await;
    assert_eq!(replayed, (6..=40).collect::<Vec<_>>());
    probe(&app, 41);
    assert_eq!(seqs_of(&mut socket, Topic::Probe, 1).await, vec![41]);
    app.stop().await;
}

#[tokio::test]
async fn beyond_the_replay_buffer_the_client_gets_a_snapshot_and_is_told_so() {
    let app = app_with(|s| s.hub.replay_capacity = 8).await;
    let cookie = common::sign_in(&app, "demo").await;
    for n in 1..=30 {
        probe(&app, n);
    }
    let epoch = app.hub.epoch();
    let mut socket =
        common::ws_connect(&app, &cookie, &format!("?epoch={epoch}&since=probe:3")).await;
    match next_ok(&mut socket).await.message {
        ServerMessage::Resumed(resumed) => assert_eq!(
            resumed.snapshot.get(&Topic::Probe),
            Some(&SnapshotReason::BeyondBuffer)
        ),
        other => panic!("expected resumed, got {other:?}"),
    }
    assert_eq!(seqs_of(&mut socket, Topic::Probe, 1).await, vec![30]);

    // An epoch from another run: every named topic falls back, with that reason.
    let mut socket = common::ws_connect(
        &app,
        &cookie,
        &format!("?epoch={}&since=probe:29", epoch + 1),
    )
    .await;
    match next_ok(&mut socket).await.message {
        ServerMessage::Resumed(resumed) => assert_eq!(
            resumed.snapshot.get(&Topic::Probe),
            Some(&SnapshotReason::NewEpoch)
        ),
        other => panic!("expected resumed, got {other:?}"),
    }
    let metrics = metrics_text(&app).await;
    assert!(metrics.contains("thor_ws_snapshot_fallbacks_total{reason=\"beyond_buffer\"} 1\n"));
    assert!(metrics.contains("thor_ws_snapshot_fallbacks_total{reason=\"new_epoch\"} 1\n"));
    assert!(metrics.contains("thor_ws_resumes_total 2\n"));
    app.stop().await;
}

#[tokio::test]
async fn a_bad_resume_query_is_refused_before_the_upgrade() {
    let app = app_with(|_| {}).await;
    let cookie = common::sign_in(&app, "demo").await;
    let queries = [
        "?since=probe:1",
        "?epoch=1&since=nonsense:1",
        "?epoch=x",
        "?symbols=NOPE",
        "?symbols=SPY,bad%20one",
    ];
    for query in queries {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("{}{query}", app.ws_url()),
            )
            .expect("request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("header"));
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{query}")
            }
            other => panic!("{query}: expected HTTP 400, got {:?}", other.map(|_| ())),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_client_is_coalesced_then_closed_while_a_fast_client_gets_everything() {
    let app = app_with(|s| s.hub.queue_capacity = 64).await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut stalled = common::ws_connect(&app, &cookie, "").await;
    let fast = common::ws_connect(&app, &cookie, "").await;

    // The fast client reads everything until it has seen `last` bars.
    let (last_tx, last_rx) = tokio::sync::oneshot::channel::<u64>();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader_seen = seen.clone();
    let reader = tokio::spawn(async move {
        let mut fast = fast;
        let mut seqs = Vec::new();
        let mut last_rx = last_rx;
        let mut last = None;
        loop {
            if let Ok(value) = last_rx.try_recv() {
                last = Some(value);
            }
            if last.is_some_and(|l| seqs.last() == Some(&l)) {
                return (seqs, fast);
            }
            let Ok(Some(Ok(message))) =
                tokio::time::timeout(Duration::from_millis(200), fast.next()).await
            else {
                continue;
            };
            if let Message::Text(text) = message {
                let envelope: Envelope = serde_json::from_str(text.as_str()).expect("envelope");
                if envelope.message.topic() == Some(Topic::IntradayBar) && envelope.seq > 1 {
                    seqs.push(envelope.seq);
                    reader_seen.store(envelope.seq, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });

    // Publish bars (never dropped) with state messages in between, until the stalled
    // client's socket buffers and then its queue are full and the hub closes it.
    let first = app.hub.publish(Topic::IntradayBar, bar("AAPL", 0));
    let mut minute = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.hub.status().slow_closes == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled client was never closed"
        );
        for _ in 0..500 {
            let seq = app.hub.publish(Topic::IntradayBar, bar("AAPL", minute));
            minute += 1;
            if minute % 10 == 0 {
                app.jobs.run_all_once().await;
                // A fast client reads as fast as we publish: pace the publisher to the fast
                // reader (never to the stalled one), however loaded the machine is.
                while seen.load(std::sync::atomic::Ordering::Relaxed) + 32 < seq {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the fast client stalled"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        tokio::task::yield_now().await;
    }
    let last = app.hub.publish(Topic::IntradayBar, bar("AAPL", minute));
    let _ = last_tx.send(last);
    let (seqs, _fast) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the fast client keeps up")
        .expect("reader");
    assert_eq!(
        seqs,
        ((first + 1)..=last).collect::<Vec<_>>(),
        "the fast client got every bar, in order"
    );

    // The stalled client, read at last: what its socket buffered, then 4008.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match next(&mut stalled).await {
                Ok(_) => continue,
                Err(code) => return code,
            }
        }
    })
    .await
    .expect("the stalled client sees its close");
    assert_eq!(closed, Some(close_code::TOO_SLOW));
    let metrics = metrics_text(&app).await;
    let coalesced: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("thor_ws_coalesced_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        coalesced > 0,
        "state messages were coalesced for the stalled client"
    );
    assert!(metrics.contains("thor_ws_slow_closes_total 1\n"));
    assert_eq!(app.hub.connections(), 1, "only the fast client is left");
    app.stop().await;
}

#[tokio::test]
async fn symbol_subscriptions_narrow_what_arrives() {
    let app = app_with(|_| {}).await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    socket
        .send(Message::text(
            r#"{"type":"unsubscribe","topics":["heartbeat","vwap"],"symbols":["AAPL"]}"#,
        ))
        .await
        .expect("send");
    match next_reply(&mut socket).await {
        ServerMessage::Subscribed(sub) => {
            assert!(!sub.topics.contains(&Topic::Heartbeat));
            assert!(!sub.symbols.contains(&"AAPL".to_string()));
            assert!(sub.symbols.contains(&"MSFT".to_string()));
        }
        other => panic!("expected subscribed, got {other:?}"),
    }
    socket
        .send(Message::text(r#"{"type":"subscribe","symbols":["NOPE"]}"#))
        .await
        .expect("send");
    match next_reply(&mut socket).await {
        ServerMessage::Error(error) => assert_eq!(error.code, ErrorCode::UnknownSymbol),
        other => panic!("expected an error, got {other:?}"),
    }
    let aapl = app.hub.publish(Topic::IntradayBar, bar("AAPL", 1));
    let msft = app.hub.publish(Topic::IntradayBar, bar("MSFT", 1));
    assert!(msft > aapl);
    let seqs = seqs_of(&mut socket, Topic::IntradayBar, 1).await;
    // Snapshot bars from before may come first; AAPL's new bar must never.
    assert!(!seqs.contains(&aapl));
    let mut got = seqs;
    while !got.contains(&msft) {
        got.extend(seqs_of(&mut socket, Topic::IntradayBar, 1).await);
    }
    assert!(!got.contains(&aapl), "{got:?}");
    socket
        .send(Message::text(r#"{"type":"subscribe","symbols":["AAPL"]}"#))
        .await
        .expect("send");
    // Adding a symbol sends its current state: AAPL's latest bar.
    let mut seen_aapl = false;
    while !seen_aapl {
        let envelope = next_ok(&mut socket).await;
        seen_aapl = envelope.seq == aapl && envelope.message.topic() == Some(Topic::IntradayBar);
    }
    app.stop().await;
}

/// The per-symbol messages (bar, forming bar) on `socket` up to the probe `marker`, as
/// (topic, symbol, seq, prev).
async fn symbol_messages_until(
    socket: &mut Socket,
    marker: u64,
) -> Vec<(Topic, String, u64, Option<u64>)> {
    let mut seen = Vec::new();
    loop {
        let envelope = next_ok(socket).await;
        match &envelope.message {
            ServerMessage::Probe(probe) if probe.n == marker => return seen,
            ServerMessage::IntradayBar(bar) | ServerMessage::FormingBar(bar) => seen.push((
                envelope.message.topic().expect("a topic"),
                bar.symbol.clone(),
                envelope.seq,
                envelope.prev,
            )),
            _ => {}
        }
    }
}

/// A page charting SPY asks for SPY at connect time: it gets SPY's bars and forming bar alone,
/// from the snapshot on, each closed bar naming SPY's previous one, and a resume replays SPY's.
#[tokio::test]
async fn a_page_asking_for_one_symbol_gets_its_bars_alone_and_resumes_with_them() {
    let app = app_with(|_| {}).await;
    let cookie = common::sign_in(&app, "demo").await;
    let spy_1 = app.hub.publish(Topic::IntradayBar, bar("SPY", 1));
    app.hub.publish(Topic::IntradayBar, bar("AAPL", 1));
    let mut socket = common::ws_connect(&app, &cookie, "?symbols=SPY").await;
    probe(&app, 1);
    // The jobs' forming bars come too (the clock stands still, but the intraday job runs).
    let snapshot = symbol_messages_until(&mut socket, 1).await;
    assert!(snapshot.iter().all(|(_, s, ..)| s == "SPY"), "{snapshot:?}");
    assert!(
        snapshot.contains(&(Topic::IntradayBar, "SPY".to_string(), spy_1, None)),
        "{snapshot:?}"
    );

    app.hub.publish(Topic::IntradayBar, bar("AAPL", 2));
    let spy_2 = app.hub.publish(Topic::IntradayBar, bar("SPY", 2));
    for symbol in ["AAPL", "SPY", "MSFT"] {
        let ServerMessage::IntradayBar(forming) = bar(symbol, 3) else {
            unreachable!("a bar")
        };
        app.hub
            .publish(Topic::FormingBar, ServerMessage::FormingBar(forming));
    }
    probe(&app, 2);
    let live = symbol_messages_until(&mut socket, 2).await;
    assert!(live.iter().all(|(_, s, ..)| s == "SPY"), "{live:?}");
    let bars: Vec<_> = live
        .iter()
        .filter(|(topic, ..)| *topic == Topic::IntradayBar)
        .collect();
    assert_eq!(
        bars,
        [&(Topic::IntradayBar, "SPY".to_string(), spy_2, Some(spy_1))],
        "SPY's bar names SPY's previous one, not AAPL's"
    );
    assert!(live.iter().any(|(topic, ..)| *topic == Topic::FormingBar));

    drop(socket);
    app.hub.publish(Topic::IntradayBar, bar("AAPL", 3));
    let spy_3 = app.hub.publish(Topic::IntradayBar, bar("SPY", 3));
    let epoch = app.hub.epoch();
    let query = format!("?symbols=SPY&epoch={epoch}&since=intraday_bar:{spy_2}");
    let mut socket = common::ws_connect(&app, &cookie, &query).await;
    match next_ok(&mut socket).await.message {
        ServerMessage::Resumed(resumed) => {
            assert_eq!(resumed.replayed.get(&Topic::IntradayBar), Some(&1));
        }
        other => panic!("expected the resumed reply first, got {other:?}"),
    }
    probe(&app, 3);
    let replayed = symbol_messages_until(&mut socket, 3).await;
    let bars: Vec<_> = replayed
        .iter()
        .filter(|(topic, ..)| *topic == Topic::IntradayBar)
        .collect();
    assert_eq!(
        bars,
        [&(Topic::IntradayBar, "SPY".to_string(), spy_3, Some(spy_2))]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_flooding_client_is_limited_then_closed_and_nobody_else_notices() {
    let app = app_with(|s| {
        s.hub.client_messages_per_second = 5;
        s.hub.client_burst = 5;
    })
    .await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut flooder = common::ws_connect(&app, &cookie, "").await;
    let mut bystander = common::ws_connect(&app, &cookie, "").await;
    for nonce in 0..200_u64 {
        if flooder
            .send(Message::text(format!(
                r#"{{"type":"ping","nonce":{nonce}}}"#
            )))
            .await
            .is_err()
        {
            break;
        }
    }
    let (mut pongs, mut limited) = (0, 0);
    let code = loop {
        match next(&mut flooder).await {
            Ok(envelope) => match envelope.message {
                ServerMessage::Pong(_) => pongs += 1,
                ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => limited += 1,
                _ => {}
            },
            Err(code) => break code,
        }
    };
    assert!((5..=7).contains(&pongs), "about a burst of pongs: {pongs}");
    assert_eq!(limited, 1, "one warning, not one per refused message");
    assert_eq!(code, Some(close_code::POLICY_VIOLATION));
    // The bystander is still served.
    probe(&app, 1);
    assert_eq!(seqs_of(&mut bystander, Topic::Probe, 1).await, vec![1]);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_connections_and_messages_by_type() {
    let app = app_with(|_| {}).await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect(&app, &cookie, "").await;
    probe(&app, 1);
    seqs_of(&mut socket, Topic::Probe, 1).await;
    let text = metrics_text(&app).await;
    assert!(text.contains("thor_ws_connections 1\n"), "{text}");
    assert!(text.contains("thor_ws_messages_out_total{type=\"probe\"} 1\n"));
    assert!(text.contains("thor_hub_published_total{type=\"probe\"} 1\n"));
    assert!(text.contains("thor_jobs_lease_held 1\n"));
    assert!(text.contains("# TYPE thor_ws_send_lag_seconds histogram"));
    app.stop().await;
}
