//! `/ws` with real sockets: heartbeats arrive, in order, at once on connect; pings are answered;
//! bad frames are refused and survived; upgrades without a session, cross-origin upgrades and
//! connections over the limit are refused; shutdown tells pages to reconnect.

use crate::common;

use app::protocol::{Envelope, ErrorCode, ServerMessage, Topic, close_code};
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use common::Socket;

const WAIT: Duration = Duration::from_secs(5);

async fn connect(app: &common::TestApp) -> Socket {
    let cookie = common::sign_in(app, "demo").await;
    common::ws_connect(app, &cookie, "").await
}

/// The next text message as an envelope (skipping control frames), or a panic after `WAIT`.
async fn next_envelope(socket: &mut Socket) -> Envelope {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within 5 s")
            .expect("socket still open")
            .expect("a readable frame");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).expect("an envelope");
            }
            Message::Close(frame) => panic!("closed by server: {frame:?}"),
            _ => continue,
        }
    }
}

/// The next reply to this connection (`pong`, `error`), skipping broadcast messages.
async fn next_reply(socket: &mut Socket) -> Envelope {
    loop {
        let envelope = next_envelope(socket).await;
        if envelope.message.topic().is_none() {
            return envelope;
        }
    }
}

/// The next heartbeat, skipping the other topics.
async fn next_heartbeat(socket: &mut Socket) -> Envelope {
    loop {
        let envelope = next_envelope(socket).await;
        if matches!(envelope.message, ServerMessage::Heartbeat(_)) {
            return envelope;
        }
    }
}

#[tokio::test]
async fn heartbeats_arrive_in_sequence_with_the_run_epoch() {
    let app = common::spawn_app().await;
    let health: serde_json::Value = reqwest::get(app.url("/api/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    let epoch = health["hub"]["epoch"].as_u64().expect("epoch");

    let mut socket = connect(&app).await;
    let mut last = None;
    for _ in 0..5 {
        let envelope = next_heartbeat(&mut socket).await;
        let ServerMessage::Heartbeat(beat) = &envelope.message else {
            panic!("expected heartbeats, got {:?}", envelope.message);
        };
        assert_eq!(envelope.epoch, epoch);
        assert_eq!(beat.tick, envelope.seq, "one heartbeat per tick");
        if let Some(previous) = last {
            assert_eq!(envelope.seq, previous + 1, "no gaps, no repeats");
        }
        last = Some(envelope.seq);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_new_connection_gets_the_latest_heartbeat_at_once() {
    // A heartbeat loop that will not tick during the test: what arrives is the snapshot.
    let app = common::spawn_app_with(|s| s.hub.heartbeat_interval = Duration::from_secs(600)).await;
    let beat = |tick| {
        ServerMessage::Heartbeat(app::protocol::Heartbeat {
            tick,
            uptime_s: 0,
            connections: 0,
            active_jobs: None,
            topics: None,
            closed: Vec::new(),
        })
    };
    let before = app
        .hub
        .latest_seqs()
        .get(&Topic::Heartbeat)
        .copied()
        .unwrap_or(0);
    app.hub.publish(Topic::Heartbeat, beat(101));
    app.hub.publish(Topic::Heartbeat, beat(102));
    let mut socket = connect(&app).await;
    let first = next_heartbeat(&mut socket).await;
    assert_eq!(
        first.seq,
        before + 2,
        "only the latest state, not the history"
    );
    assert!(matches!(first.message, ServerMessage::Heartbeat(ref h) if h.tick == 102));
    // Then live messages follow without repeating the snapshot.
    app.hub.publish(Topic::Heartbeat, beat(103));
    assert_eq!(next_heartbeat(&mut socket).await.seq, before + 3);
    app.stop().await;
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let app = common::spawn_app().await;
    let mut socket = connect(&app).await;
    socket
        .send(Message::text(r#"{"type":"ping","nonce":42}"#))
        .await
        .expect("send");
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply.seq, 0, "replies are not sequenced");
    match reply.message {
        ServerMessage::Pong(pong) => assert_eq!(pong.nonce, Some(42)),
        other => panic!("expected pong, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_connection_carries_on() {
    let app = common::spawn_app().await;
    let mut socket = connect(&app).await;
    let mut bystander = connect(&app).await;

    let cases: [(Message, ErrorCode); 4] = [
        (Message::text("{not json"), ErrorCode::BadFrame),
        (
            Message::text(r#"{"type":"launch"}"#),
            ErrorCode::UnknownType,
        ),
        (
            Message::text(r#"{"type":"ping","nonce":"x"}"#),
            ErrorCode::BadFrame,
        ),
        (
            Message::binary(vec![0u8, 159, 146, 150]),
            ErrorCode::BinaryFrame,
        ),
    ];
    for (frame, expected) in cases {
        socket.send(frame).await.expect("send");
        match next_reply(&mut socket).await.message {
            ServerMessage::Error(error) => {
                assert_eq!(error.code, expected);
                assert!(!error.message.is_empty());
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    // Still served: heartbeats keep coming and a ping still works.
    assert!(matches!(
        next_heartbeat(&mut socket).await.message,
        ServerMessage::Heartbeat(_)
    ));
    socket
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .expect("send");
    assert!(matches!(
        next_reply(&mut socket).await.message,
        ServerMessage::Pong(_)
    ));
    // And nobody else noticed.
    assert!(matches!(
        next_heartbeat(&mut bystander).await.message,
        ServerMessage::Heartbeat(_)
    ));
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let app = common::spawn_app_with(|s| s.hub.max_frame_bytes = 1024).await;
    let mut offender = connect(&app).await;
    let mut bystander = connect(&app).await;
    let huge = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(4096));
    // The server may close before the whole frame is written: either way is fine.
    let _ = offender.send(Message::text(huge)).await;
    let closed = tokio::time::timeout(WAIT, async {
        while let Some(message) = offender.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the offender is closed within 5 s");
    if let Some(code) = closed {
        assert_eq!(code, close_code::MESSAGE_TOO_BIG);
    }
    assert!(matches!(
        next_heartbeat(&mut bystander).await.message,
        ServerMessage::Heartbeat(_)
    ));
    let health: serde_json::Value = reqwest::get(app.url("/api/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn upgrades_without_a_session_are_refused() {
    let app = common::spawn_app().await;
    for cookie in [None, Some("thor_session=forged")] {
        let mut request = app.ws_url().into_client_request().expect("request");
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("header"));
        }
        match connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            Err(other) => panic!("expected HTTP 401, got {other}"),
            Ok(_) => panic!("an upgrade without a session was accepted"),
        }
    }
    assert_eq!(app.hub.connections(), 0);
    app.stop().await;
}

/// `/ws` asked for as a page, or with a broken upgrade: a 400 that says what is missing, and no
/// socket.
#[tokio::test]
async fn a_request_that_is_not_a_websocket_upgrade_is_told_what_is_missing() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "demo").await;
    let client = reqwest::Client::new();
    let url = app.url("/ws");
    let plain = client.get(&url).header("cookie", &cookie);
    let old_version = client
        .get(&url)
        .header("cookie", &cookie)
        .header("connection", "keep-alive, Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (request, says) in [(plain, "Upgrade: websocket"), (old_version, "version 13")] {
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), 400);
        let body = response.text().await.expect("body");
        assert!(body.contains(says), "{body}");
    }
    assert_eq!(app.hub.connections(), 0);
    app.stop().await;
}

#[tokio::test]
async fn cross_origin_upgrades_are_refused() {
    let app = common::spawn_app().await;
    let cookie = common::sign_in(&app, "demo").await;
    let mut request = app.ws_url().into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().expect("header"));
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("header"));
    match connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a cross-origin upgrade was accepted"),
    }

    let mut same = app.ws_url().into_client_request().expect("request");
    let origin = format!("http://{}", app.addr);
    same.headers_mut()
        .insert("Origin", origin.parse().expect("header"));
    same.headers_mut()
        .insert("cookie", cookie.parse().expect("header"));
    let (mut socket, _) = connect_async(same)
        .await
        .expect("same-origin upgrade accepted");
    next_envelope(&mut socket).await;
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_told_to_try_later() {
    let app = common::spawn_app_with(|s| s.hub.max_connections = 2).await;
    let mut first = connect(&app).await;
    let _second = connect(&app).await;
    next_envelope(&mut first).await;
    // Refused at once: no `hello`, only the close.
    let cookie = common::sign_in(&app, "demo").await;
    let mut third = common::ws_connect_raw(app.addr, &cookie, "").await;
    let code = tokio::time::timeout(WAIT, async {
        loop {
            match third.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return Some(u16::from(frame.code)),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the third is closed within 5 s");
    assert_eq!(code, Some(close_code::TRY_AGAIN_LATER));
    // The two admitted connections are untouched.
    assert!(matches!(
        next_heartbeat(&mut first).await.message,
        ServerMessage::Heartbeat(_)
    ));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_tells_open_pages_to_reconnect() {
    let app = common::spawn_app().await;
    let mut socket = connect(&app).await;
    next_envelope(&mut socket).await;
    let stopping = tokio::spawn(app.stop());
    let code = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return Some(u16::from(frame.code)),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("closed within 5 s");
    assert_eq!(code, Some(close_code::SERVICE_RESTART));
    stopping.await.expect("server stops");
}

#[tokio::test]
async fn one_user_cannot_take_every_connection() {
    let app = common::spawn_app_with(|s| s.hub.max_connections_per_user = 2).await;
    let demo = common::sign_in(&app, "demo").await;
    let mut first = common::ws_connect(&app, &demo, "").await;
    let _second = common::ws_connect(&app, &demo, "").await;
    let mut request = app.ws_url().into_client_request().expect("request");
    request
        .headers_mut()
        .insert("cookie", demo.parse().expect("header"));
    match connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        Err(other) => panic!("expected HTTP 429, got {other}"),
        Ok(_) => panic!("a third connection for one user was accepted"),
    }
    // Another trader still gets in, and the first user's sockets are untouched.
    let demo2 = common::sign_in(&app, "demo2").await;
    let mut other = common::ws_connect(&app, &demo2, "").await;
    next_envelope(&mut other).await;
    next_envelope(&mut first).await;
    app.stop().await;
}

/// Writes `bytes` on the socket's TCP stream as they are: frames no well-behaved client sends.
async fn send_raw(socket: &mut Socket, bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    match socket.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => {
            tcp.write_all(bytes).await.expect("raw write");
        }
        _ => panic!("the test server speaks plain ws://"),
    }
}

/// The close code the server sends next (skipping other messages), within `WAIT`.
async fn close_code_of(socket: &mut Socket) -> Option<u16> {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await
    .expect("closed within 5 s")
}

#[tokio::test]
async fn protocol_violations_close_with_the_code_that_names_them() {
    let app = common::spawn_app().await;
    // Client frames: FIN + opcode, then MASK + length, a zero masking key, the payload.
    let cases: [(&str, Vec<u8>, u16); 3] = [
        (
            "a text frame that is not UTF-8",
            vec![0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe],
            close_code::INVALID_DATA,
        ),
        (
            "a reserved bit set",
            vec![0xC1, 0x82, 0, 0, 0, 0, b'h', b'i'],
            close_code::PROTOCOL_ERROR,
        ),
        (
            "an unmasked frame",
            vec![0x81, 0x02, b'h', b'i'],
            close_code::PROTOCOL_ERROR,
        ),
    ];
    for (what, frame, expected) in cases {
        let mut socket = connect(&app).await;
        next_envelope(&mut socket).await;
        send_raw(&mut socket, &frame).await;
        assert_eq!(close_code_of(&mut socket).await, Some(expected), "{what}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_binary_flood_from_a_client_that_never_reads_is_closed_and_frees_its_slot() {
    let app = common::spawn_app_with(|s| s.hub.max_connections_per_user = 1).await;
    let cookie = common::sign_in(&app, "demo").await;
    let socket = common::ws_connect(&app, &cookie, "").await;
    // Only the sending half is used: nothing the server writes is ever read.
    let (mut sink, _unread) = socket.split();
    let flood = tokio::spawn(async move {
        for _ in 0..200_000 {
            if sink.send(Message::binary(vec![7u8; 16])).await.is_err() {
                break;
            }
        }
        sink
    });
    // The user's one slot comes back: a new socket for them is accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut request = app.ws_url().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("header"));
        match connect_async(request).await {
            Ok(_) => break,
            Err(tungstenite::Error::Http(response)) if response.status() == 429 => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the flooding socket still holds the user's slot after 10 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    flood.abort();
    app.stop().await;
}
