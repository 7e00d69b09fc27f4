use super::*;
use std::collections::VecDeque;
use thor_core::intraday::IntradayBar;
use thor_core::map::Map;
use thor_core::protocol::{Envelope, Heartbeat, ServerMessage, SnapshotReason};

fn beat(tick: u64) -> ServerMessage {
    ServerMessage::Heartbeat(Heartbeat {
        tick,
        uptime_s: 0,
        connections: 0,
        active_jobs: None,
        topics: None,
        closed: Vec::new(),
    })
}

fn bar(symbol: &str, minute: i64) -> ServerMessage {
    ServerMessage::IntradayBar(IntradayBar {
        symbol: symbol.to_string(),
        country: "USA".to_string(),
        timestamp_minute: chrono::DateTime::from_timestamp(minute * 60, 0).unwrap_or_default(),
        open: 1.0,
        high: 1.0,
        low: 1.0,
        close: 1.0,
        volume: 1,
        vwap: 1.0,
        trades: 1,
    })
}

fn hub(epoch: u64) -> Hub {
    Hub::new(
        epoch,
        HubLimits {
            max_connections: 10,
            queue_capacity: 4,
            replay_capacity: 3,
        },
        &MetricsRegistry::default(),
    )
}

fn connect(hub: &Hub, account: Option<i64>) -> Connection {
    let slot = hub.admit().expect("a free slot");
    hub.connect(slot, account, None, None).0
}

async fn seqs_of(conn: &Connection) -> Vec<(Topic, u64)> {
    let (frames, overflowed) = batch(conn).await;
    assert!(!overflowed);
    frames.iter().map(|f| (f.topic, f.seq)).collect()
}

/// The connection's next batch, or a failure (not a hang) when none is queued within 5 s.
async fn batch(conn: &Connection) -> (std::collections::VecDeque<Frame>, bool) {
    tokio::time::timeout(std::time::Duration::from_secs(5), conn.next_batch())
        .await
        .expect("a batch was queued within 5 s")
}

#[tokio::test]
async fn connections_get_the_snapshot_then_each_message_once_in_sequence_with_the_epoch() {
    let hub = hub(9);
    hub.publish(Topic::Heartbeat, beat(1));
    hub.publish(Topic::IntradayBar, bar("AAPL", 1));
    hub.publish(Topic::IntradayBar, bar("MSFT", 1));
    hub.publish(Topic::IntradayBar, bar("AAPL", 2));
    let conn = connect(&hub, None);
    assert_eq!(
        seqs_of(&conn).await,
        vec![
            (Topic::Heartbeat, 1),
            (Topic::IntradayBar, 2),
            (Topic::IntradayBar, 3)
        ],
        "the latest bar of each symbol, in seq order"
    );
    for tick in 2..=3 {
        assert_eq!(hub.publish(Topic::Heartbeat, beat(tick)), tick);
        let (frames, _) = batch(&conn).await;
        let envelope: Envelope =
            serde_json::from_str(frames[0].text.as_str()).expect("frame is an envelope");
        assert_eq!((envelope.seq, envelope.epoch), (tick, 9));
    }
    assert_eq!(hub.latest_seqs().get(&Topic::Heartbeat), Some(&3));
}

#[tokio::test]
async fn account_messages_reach_only_their_account_and_number_separately() {
    let hub = hub(1);
    let seven = connect(&hub, Some(7));
    let eight = connect(&hub, Some(8));
    let nobody = connect(&hub, None);
    hub.publish(Topic::Heartbeat, beat(1));
    assert_eq!(
        hub.publish_to(Audience::Account(7), Topic::Heartbeat, beat(1)),
        1
    );
    assert_eq!(
        hub.publish_to(Audience::Account(8), Topic::Heartbeat, beat(1)),
        1
    );
    assert_eq!(
        hub.publish_to(Audience::Account(7), Topic::Heartbeat, beat(2)),
        2
    );
    let audiences = |frames: VecDeque<Frame>| {
        frames
            .iter()
            .map(|f| (f.audience, f.seq))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        audiences(batch(&seven).await.0),
        vec![(Audience::Everyone, 1), (Audience::Account(7), 2)],
        "the heartbeat for account 7 coalesced to its newest"
    );
    assert_eq!(
        audiences(batch(&eight).await.0),
        vec![(Audience::Everyone, 1), (Audience::Account(8), 1)]
    );
    assert_eq!(
        audiences(batch(&nobody).await.0),
        vec![(Audience::Everyone, 1)]
    );
    assert_eq!(
        hub.latest(Topic::Heartbeat, Audience::Account(7))
            .map(|f| f.seq),
        Some(2)
    );
    assert_eq!(hub.latest_seqs().get(&Topic::Heartbeat), Some(&1));
}

#[tokio::test]
async fn a_stalled_connection_overflows_alone_and_frees_its_slot() {
    let hub = hub(1);
    let stalled = connect(&hub, None);
    let fast = connect(&hub, None);
    for minute in 1..=6 {
        hub.publish(Topic::IntradayBar, bar("AAPL", minute));
        let got = seqs_of(&fast).await;
        assert_eq!(got, vec![(Topic::IntradayBar, minute as u64)]);
    }
    let (frames, overflowed) = batch(&stalled).await;
    assert!(
        overflowed && frames.is_empty(),
        "4 bars fit, the 5th overflows"
    );
    assert_eq!(hub.status().slow_closes, 1);
    assert_eq!(hub.connections(), 2);
    drop(stalled);
    assert_eq!(hub.connections(), 1);
    hub.publish(Topic::IntradayBar, bar("AAPL", 7));
    assert_eq!(seqs_of(&fast).await, vec![(Topic::IntradayBar, 7)]);
}

#[tokio::test]
async fn resume_replays_what_the_buffer_holds_and_falls_back_to_a_snapshot_beyond_it() {
    let hub = hub(5);
    for minute in 1..=5 {
        hub.publish(Topic::IntradayBar, bar("AAPL", minute));
    }
    hub.publish(Topic::Heartbeat, beat(1));
    // The ring keeps seqs 3..=5.
    let seqs = Map::from([(Topic::IntradayBar, 2)]);
    let (conn, resumed) = hub.connect(hub.admit().expect("slot"), None, None, Some((5, &seqs)));
    let resumed = resumed.expect("a resumed reply");
    assert_eq!(resumed.replayed.get(&Topic::IntradayBar), Some(&3));
    assert!(resumed.snapshot.is_empty());
    assert_eq!(
        seqs_of(&conn).await,
        vec![
            (Topic::Heartbeat, 1),
            (Topic::IntradayBar, 3),
            (Topic::IntradayBar, 4),
            (Topic::IntradayBar, 5)
        ]
    );

    let too_old = Map::from([(Topic::IntradayBar, 1)]);
    let reply = conn.resume(5, &too_old);
    assert_eq!(
        reply.snapshot.get(&Topic::IntradayBar),
        Some(&SnapshotReason::BeyondBuffer)
    );
    assert_eq!(seqs_of(&conn).await, vec![(Topic::IntradayBar, 5)]);

    let other_epoch = conn.resume(4, &seqs);
    assert_eq!(
        other_epoch.snapshot.get(&Topic::IntradayBar),
        Some(&SnapshotReason::NewEpoch)
    );
    let ahead = conn.resume(5, &Map::from([(Topic::IntradayBar, 99)]));
    assert_eq!(
        ahead.snapshot.get(&Topic::IntradayBar),
        Some(&SnapshotReason::AheadOfServer)
    );
}

#[tokio::test]
async fn symbol_subscriptions_narrow_bars_and_adding_one_sends_its_state() {
    let hub = hub(1);
    let conn = connect(&hub, None);
    let all: Vec<Arc<str>> = vec![Arc::from("AAPL"), Arc::from("MSFT")];
    conn.unsubscribe(&[Topic::Heartbeat], &[Arc::from("AAPL")], &all);
    hub.publish(Topic::Heartbeat, beat(1));
    hub.publish(Topic::IntradayBar, bar("AAPL", 1));
    hub.publish(Topic::IntradayBar, bar("MSFT", 1));
    assert_eq!(seqs_of(&conn).await, vec![(Topic::IntradayBar, 2)]);
    assert_eq!(conn.subscription(&all).symbols, vec!["MSFT".to_string()]);
    conn.subscribe(&[], &[Arc::from("AAPL")]);
    assert_eq!(seqs_of(&conn).await, vec![(Topic::IntradayBar, 1)]);
    hub.publish(Topic::IntradayBar, bar("AAPL", 2));
    assert_eq!(seqs_of(&conn).await, vec![(Topic::IntradayBar, 3)]);
}

#[tokio::test]
async fn ingest_drops_duplicates_and_stale_epochs_and_reports_gaps() {
    let hub = hub(0);
    let publisher = Hub::new(10, HubLimits::default(), &MetricsRegistry::default());
    let frames: Vec<Frame> = (1..=4)
        .map(|minute| {
            publisher.publish(Topic::IntradayBar, bar("AAPL", minute));
            publisher
                .latest(Topic::IntradayBar, Audience::Everyone)
                .expect("published")
        })
        .collect();
    assert_eq!(hub.ingest(frames[0].clone()), Ingested::Delivered);
    assert_eq!(hub.epoch(), 10, "a newer epoch is adopted");
    assert_eq!(hub.ingest(frames[0].clone()), Ingested::Duplicate);
    assert_eq!(
        hub.ingest(frames[3].clone()),
        Ingested::AfterGap { missing_from: 2 }
    );
    assert_eq!(hub.stream_seq(Topic::IntradayBar, Audience::Everyone), 4);
    let mut stale = frames[3].clone();
    stale.epoch = 9;
    stale.seq = 5;
    assert_eq!(hub.ingest(stale), Ingested::Stale);
    let epoch = hub.begin_epoch();
    assert!(epoch > 10);
    assert_eq!(
        hub.publish(Topic::IntradayBar, bar("AAPL", 9)),
        1,
        "seqs restart"
    );
}

#[test]
fn the_connection_limit_holds_and_slots_come_back() {
    let hub = Hub::new(
        1,
        HubLimits {
            max_connections: 2,
            ..HubLimits::default()
        },
        &MetricsRegistry::default(),
    );
    let first = hub
        .admit()
        .map(|slot| hub.connect(slot, None, None, None).0);
    let second = hub.admit();
    assert!(first.is_some() && second.is_some());
    assert!(
        hub.admit().is_none(),
        "a third connection is over the limit"
    );
    assert_eq!(
        hub.connections(),
        1,
        "a slot is not a connection until it connects"
    );
    drop(first);
    assert_eq!(hub.connections(), 0);
    assert!(hub.admit().is_some());
}

#[tokio::test]
async fn a_deposed_publisher_does_not_number_messages_in_the_new_epoch() {
    let hub = hub(1);
    let (outlet, mut published) = mpsc::channel(16);
    hub.attach_outlet(outlet, "test");
    let mine = hub.begin_epoch();
    assert_eq!(hub.publish(Topic::IntradayBar, bar("AAPL", 1)), 1);
    assert_eq!(
        published.recv().await.map(|f| (f.epoch, f.seq)),
        Some((mine, 1))
    );

    // Another instance took over: its first message arrives in a newer epoch.
    let other = Hub::new(mine + 1, HubLimits::default(), &MetricsRegistry::default());
    other.publish(Topic::IntradayBar, bar("AAPL", 2));
    let theirs = other
        .latest(Topic::IntradayBar, Audience::Everyone)
        .expect("published");
    assert_eq!(hub.ingest(theirs), Ingested::Delivered);
    assert_eq!(hub.epoch(), mine + 1);

    // A job still running here must not issue seq 2 of their epoch.
    hub.publish(Topic::IntradayBar, bar("AAPL", 3));
    assert!(published.try_recv().is_err(), "nothing went out");
    assert_eq!(hub.stream_seq(Topic::IntradayBar, Audience::Everyone), 1);
}

#[tokio::test]
async fn a_resume_on_an_open_connection_resends_in_order_without_duplicates() {
    let hub = hub(1);
    let conn = connect(&hub, None);
    for minute in 1..=3 {
        hub.publish(Topic::IntradayBar, bar("AAPL", minute));
    }
    // Seqs 1..=3 are queued, unsent; the client says it has only seq 1.
    conn.resume(1, &Map::from([(Topic::IntradayBar, 1)]));
    assert_eq!(
        seqs_of(&conn).await,
        vec![(Topic::IntradayBar, 2), (Topic::IntradayBar, 3)]
    );
}

#[test]
fn each_user_has_a_connection_limit_of_their_own() {
    let hub = hub(1);
    let first = hub
        .admit_user(7, 2)
        .map(|slot| hub.connect(slot, Some(70), None, None).0);
    let second = hub.admit_user(7, 2);
    assert!(first.is_ok() && second.is_ok());
    assert_eq!(hub.admit_user(7, 2).err(), Some(Refused::UserLimit));
    assert!(hub.admit_user(8, 2).is_ok(), "another user is not affected");
    drop(first);
    assert!(
        hub.admit_user(7, 2).is_ok(),
        "a closed connection gives its place back"
    );
}

#[tokio::test]
async fn ending_a_session_ends_its_connections_and_ending_a_user_ends_all_of_theirs() {
    let hub = hub(1);
    let open = |user: i64, session: &str| {
        let slot = hub
            .admit_user(user, 10)
            .expect("a slot")
            .in_session(Arc::from(session));
        hub.connect(slot, Some(user * 10), None, None).0
    };
    let a1 = open(7, "aaa");
    let a2 = open(7, "aaa");
    let b = open(7, "bbb");
    let other = open(8, "ccc");
    let sessions: Vec<String> = hub.open_sessions().iter().map(|s| s.to_string()).collect();
    assert_eq!(sessions, ["aaa", "bbb", "ccc"]);

    assert_eq!(hub.end_sessions(SessionsEnding::Session("aaa")), 2);
    for conn in [&a1, &a2] {
        tokio::time::timeout(std::time::Duration::from_secs(1), conn.session_ended())
            .await
            .expect("its session ended");
    }
    let still_open = |conn: &Connection| {
        let ended = conn.session_ended();
        tokio::pin!(ended);
        futures::FutureExt::now_or_never(ended).is_none()
    };
    assert!(still_open(&b) && still_open(&other));
    assert_eq!(hub.end_sessions(SessionsEnding::User(7)), 1, "b, once");
    assert!(!still_open(&b) && still_open(&other));
}

#[tokio::test]
async fn a_plain_connect_gets_only_the_state_its_account_may_see_and_no_resumed_reply() {
    let hub = hub(1);
    hub.publish_to(Audience::Account(7), Topic::Heartbeat, beat(1));
    hub.publish(Topic::Heartbeat, beat(2));
    let (eight, resumed) = hub.connect(hub.admit().expect("slot"), Some(8), None, None);
    assert_eq!(resumed, None, "a connect without seqs is no resume");
    let (frames, _) = batch(&eight).await;
    let audiences: Vec<Audience> = frames.iter().map(|f| f.audience).collect();
    assert_eq!(audiences, vec![Audience::Everyone], "not account 7's");
}

#[tokio::test]
async fn subscribing_to_a_topic_again_sends_its_current_state() {
    let hub = hub(1);
    let conn = connect(&hub, None);
    conn.unsubscribe(&[Topic::Heartbeat], &[], &[]);
    hub.publish(Topic::Heartbeat, beat(1));
    conn.subscribe(&[Topic::Heartbeat], &[]);
    assert_eq!(seqs_of(&conn).await, vec![(Topic::Heartbeat, 1)]);
}

#[tokio::test]
async fn a_resume_of_a_state_topic_sends_only_what_changed_after_the_clients_seq() {
    let vwap = |symbol: &str, value: f64| {
        ServerMessage::Vwap(thor_core::intraday::Vwap {
            symbol: symbol.to_string(),
            as_of: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            session_vwap: value,
            session_volume: 1,
        })
    };
    let hub = hub(1);
    hub.publish(Topic::Vwap, vwap("AAPL", 1.0));
    hub.publish(Topic::Vwap, vwap("MSFT", 1.0));
    hub.publish(Topic::Vwap, vwap("AAPL", 2.0));
    let conn = connect(&hub, None);
    assert_eq!(
        seqs_of(&conn).await,
        vec![(Topic::Vwap, 2), (Topic::Vwap, 3)]
    );

    // The client had seq 2 (MSFT's latest): only AAPL's newer value follows.
    let reply = conn.resume(1, &Map::from([(Topic::Vwap, 2)]));
    assert_eq!(reply.replayed, Map::from([(Topic::Vwap, 1)]));
    assert!(reply.snapshot.is_empty());
    assert_eq!(seqs_of(&conn).await, vec![(Topic::Vwap, 3)]);

    // Up to date: nothing follows and nothing is said.
    let reply = conn.resume(1, &Map::from([(Topic::Vwap, 3)]));
    assert!(
        reply.replayed.is_empty() && reply.snapshot.is_empty(),
        "{reply:?}"
    );
    let next = conn.next_batch();
    tokio::pin!(next);
    assert!(futures::FutureExt::now_or_never(next).is_none());
}
