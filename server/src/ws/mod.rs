//! `/ws`: one WebSocket per page, for signed-in users only. Sends the current state (or, with
//! `?epoch=E&since=topic:seq,…`, what the page missed) at once, then every message it may see
//! and subscribes to (`&symbols=SPY`: the per-symbol topics of those symbols only), through the connection's bounded queue; answers `ping`, `subscribe`,
//! `unsubscribe` and `resume`; refuses bad frames with an `error` message and carries on.
//! Every frame the client sends counts against its rate limit, every write has a deadline, and
//! the socket closes (4001) when its session ends.

use crate::hub::{Connection, Frame, Refused, Slot};
use crate::state::AppState;
use axum::extract::{Query, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thor_core::map::Map;
use thor_core::protocol::{
    ClientMessage, ErrorCode, Pong, ProtocolError, Resumed, ServerMessage, Topic, close_code,
    parse_client_message, parse_since,
};
use thor_core::symbol::Symbol;

use crate::error::ApiError;

mod answer;
mod fault_switch;
mod rate;
mod upgrade;

use answer::{answer, protocol_error};
use fault_switch::FaultSwitch;
use rate::{Admit, RateLimiter};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes};
use upgrade::{Socket, Upgrade};

/// Per-connection read buffer: axum's default (128 KiB) costs ~680 MB at 5,000 clients, and
/// clients send only small control messages (it grows for a larger frame, up to the limit).
const READ_BUFFER_BYTES: usize = 512;

/// Outgoing frames are collected up to this many bytes per write. The buffer keeps its largest
/// size for the connection's life, so the default (128 KiB, reached by the connect-time
/// snapshot) would cost far more per idle connection than the few system calls it saves.
const WRITE_BUFFER_BYTES: usize = 512;

/// How long one batch (or a close frame) may take to be written. A client that stops reading
/// without closing fills its socket buffers; after this long it is dropped, so it cannot hold
/// its connection slot (or the task) forever.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection the server closed may take to answer the close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
pub struct ResumeParams {
    epoch: Option<u64>,
    since: Option<String>,
    /// The symbols whose bars, forming bar and VWAP the page shows (`SPY,AAPL`); all without.
    symbols: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ResumeParams>, axum::extract::rejection::QueryRejection>,
    mut request: Request,
) -> Response {
    let ws = match Upgrade::of(&mut request) {
        Ok(ws) => ws,
        Err(reason) => return ApiError::BadRequest(reason.into()).into_response(),
    };
    let metrics = state.hub.metrics();
    if let Err(reason) = crate::auth::same_origin(&headers) {
        tracing::warn!(%reason, "refused a cross-origin WebSocket upgrade");
        metrics.refused.origin.inc();
        return ApiError::Forbidden(reason).into_response();
    }
    let signed_in = match state.sessions.signed_in(&headers).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => {
            metrics.refused.unauthenticated.inc();
            return ApiError::Unauthorized.into_response();
        }
        Err(error) => return error.into_response(),
    };
    let (user, account) = (signed_in.user.id, signed_in.account);
    let (resume, symbols) = match resume_from(params).and_then(|(resume, symbols)| {
        let symbols = answer::connect_symbols(&answer::all_symbols(&state), symbols.as_deref())?;
        Ok((resume, symbols))
    }) {
        Ok(asked) => asked,
        Err(message) => return ApiError::BadRequest(message).into_response(),
    };
    let max_frame = state.settings.hub.max_frame_bytes;
    let slot = match state
        .hub
        .admit_user(user, state.settings.hub.max_connections_per_user)
    {
        Ok(slot) => Some(slot.in_session(signed_in.session.clone())),
        // Said after the upgrade, as a close code a page knows to retry later.
        Err(Refused::Full) => None,
        Err(Refused::UserLimit) => {
            return ApiError::TooManyRequests(format!(
                "you already have {} live connections; close a tab first",
                state.settings.hub.max_connections_per_user
            ))
            .into_response();
        }
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame));
    // Shared, not copied: the state is 688 bytes, and a copy in each of the task's nested
    // futures cost about 2 KB a socket.
    let state = Arc::new(state);
    ws.accept(config, move |socket| async move {
        match slot {
            Some(slot) => serve(socket, state, slot, account, symbols, resume).await,
            None => {
                close(
                    socket,
                    close_code::TRY_AGAIN_LATER,
                    "server is at its connection limit",
                )
                .await
            }
        }
    })
}

/// A client's resume request: the epoch and the last seq it has of each topic.
type Resume = (u64, Map<Topic, u64>);

/// The resume request and the `symbols` parameter of a `/ws` query.
fn resume_from(
    params: Result<Query<ResumeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<(Option<Resume>, Option<String>), String> {
    let Query(params) = params.map_err(|e| format!("bad /ws query: {e}"))?;
    let resume = match (params.epoch, params.since) {
        (None, None) => None,
        (Some(epoch), since) => {
            let seqs = parse_since(since.as_deref().unwrap_or(""))
                .map_err(|e| format!("bad since parameter: {e}"))?;
            Some((epoch, seqs))
        }
        (None, Some(_)) => return Err("since needs the epoch its seqs belong to".into()),
    };
    Ok((resume, params.symbols))
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    }))
}

async fn close(mut socket: Socket, code: u16, reason: &'static str) {
    let close = socket.send(close_frame(code, reason));
    let _best_effort = tokio::time::timeout(SEND_TIMEOUT, close).await;
}

type Sink = SplitSink<Socket, Message>;

async fn close_sink(sink: &mut Sink, code: u16, reason: &'static str) {
    let close = sink.send(close_frame(code, reason));
    let _best_effort = tokio::time::timeout(SEND_TIMEOUT, close).await;
}

/// Sends one message within [`SEND_TIMEOUT`]; `false` if it failed or timed out (the socket is
/// then dropped).
async fn send_timed(sink: &mut Sink, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// The close code and reason for a frame the WebSocket layer refused, or `None` when the
/// connection itself is gone (nothing can be sent).
fn refusal(error: tungstenite::Error) -> Option<(u16, &'static str)> {
    use tungstenite::Error;
    match error {
        Error::Capacity(_) => Some((close_code::MESSAGE_TOO_BIG, "frame too big")),
        Error::Utf8(_) => Some((close_code::INVALID_DATA, "text frame is not UTF-8")),
        Error::Protocol(_) | Error::AttackAttempt => {
            Some((close_code::PROTOCOL_ERROR, "WebSocket protocol violation"))
        }
        _ => None,
    }
}

async fn serve(
    socket: Socket,
    state: Arc<AppState>,
    slot: Slot,
    account: Option<i64>,
    symbols: Option<BTreeSet<Arc<str>>>,
    resume: Option<Resume>,
) {
    let hub = state.hub.clone();
    let resume_from = resume.as_ref().map(|(e, s)| (*e, s));
    let (conn, resumed) = hub.connect(slot, account, symbols, resume_from);
    let (mut sink, mut stream) = socket.split();
    let mut limiter = RateLimiter::new(
        state.settings.hub.client_messages_per_second,
        state.settings.hub.client_burst,
    );
    // Only where the test switch is allowed does a frame pass through it.
    let mut faults = state
        .cutover
        .faults_allowed()
        .then(|| FaultSwitch::new(state.cutover.faults()));
    let hello = ServerMessage::Hello(thor_core::protocol::Hello {
        build: state.build.0.clone(),
    });
    let first = std::iter::once(hello).chain(resumed.map(ServerMessage::Resumed));
    for message in first {
        if !Box::pin(send_timed(&mut sink, Message::Text(direct(&hub, message)))).await {
            return;
        }
    }

    let closed_by_us = loop {
        // Waits for something to do; what is sent is sent below, where only a shutdown may
        // interrupt it (frames taken from the queue are never dropped for a client's frame).
        let step = tokio::select! {
            _ = state.stop.cancelled() => Step::Close(close_code::SERVICE_RESTART, "server is restarting; reconnect"),
            _ = conn.session_ended() => {
                tracing::info!(account, "closing a socket whose session ended");
                Step::Close(close_code::SESSION_ENDED, "session ended; sign in again")
            }
            due = FaultSwitch::due(faults.as_mut()) => Step::Send { frames: due, overflowed: false, through_faults: false },
            (frames, overflowed) = conn.next_batch() => Step::Send { frames, overflowed, through_faults: true },
            incoming = stream.next() => on_frame(&state, &conn, &mut limiter, incoming),
        };
        match step {
            Step::Send {
                frames,
                overflowed,
                through_faults,
            } => {
                let switch = if through_faults {
                    faults.as_mut()
                } else {
                    None
                };
                // Boxed, as every write below: the task's future holds only what an idle socket
                // waits on, and a write's state (its timer, the sink's futures) lives on the heap
                // while it runs (2.9 KB a socket before).
                let sent = Box::pin(async {
                    tokio::select! {
                        _ = state.stop.cancelled() => None,
                        sent = tokio::time::timeout(SEND_TIMEOUT, send_all(&mut sink, &conn, &frames, switch)) => Some(sent),
                    }
                })
                .await;
                let Some(sent) = sent else {
                    Box::pin(close_sink(
                        &mut sink,
                        close_code::SERVICE_RESTART,
                        "server is restarting; reconnect",
                    ))
                    .await;
                    break true;
                };
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(())) => break false,
                    Err(_elapsed) => {
                        tracing::info!(account, "dropping a connection that stopped reading");
                        hub.metrics().slow_closes.inc();
                        break false;
                    }
                }
                if overflowed {
                    tracing::info!(account, "closing a connection that fell too far behind");
                    Box::pin(close_sink(
                        &mut sink,
                        close_code::TOO_SLOW,
                        "too far behind; reconnect and resume",
                    ))
                    .await;
                    break true;
                }
            }
            Step::Reply(reply) => {
                if !Box::pin(send_timed(&mut sink, Message::Text(direct(&hub, reply)))).await {
                    break false;
                }
            }
            Step::Nothing => {}
            Step::Close(code, reason) => {
                Box::pin(close_sink(&mut sink, code, reason)).await;
                break true;
            }
            Step::Refused(refusal) => {
                if let Some((code, reason)) = refusal {
                    Box::pin(close_sink(&mut sink, code, reason)).await;
                }
                break false;
            }
            Step::Gone => break false,
        }
    };
    drop(conn);
    if closed_by_us {
        // Read (and ignore) what the client still sends until it answers the close: dropping
        // a socket with unread input resets the connection, and the client would lose the
        // replies and the close code it has not read yet.
        let _ = Box::pin(tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }))
        .await;
    }
}

/// What a connection does next.
enum Step {
    /// Send these frames: from the connection's queue (through the fault switch, where it is
    /// allowed), or ones the switch held back that are now due.
    Send {
        frames: VecDeque<Frame>,
        overflowed: bool,
        through_faults: bool,
    },
    /// Answer the client.
    Reply(ServerMessage),
    Nothing,
    /// The server closes the connection, with this code and reason.
    Close(u16, &'static str),
    /// The WebSocket layer refused a frame: closed with this code and reason (if it still can).
    Refused(Option<(u16, &'static str)>),
    /// The client closed or went away.
    Gone,
}

/// What the client sent, and what to do about it. Every kind of frame counts against the rate
/// limit (pings and binary ones too): none is free to flood.
fn on_frame(
    state: &AppState,
    conn: &Connection,
    limiter: &mut RateLimiter,
    incoming: Option<Result<Message, tungstenite::Error>>,
) -> Step {
    let message = match incoming {
        Some(Ok(Message::Close(_))) | None => return Step::Gone,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "refused a WebSocket frame; closing");
            return Step::Refused(refusal(e));
        }
        Some(Ok(message)) => message,
    };
    let metrics = state.hub.metrics();
    match limiter.admit(Instant::now()) {
        Admit::Yes => match message {
            Message::Text(text) => {
                answer(state, conn, text.as_str()).map_or(Step::Nothing, Step::Reply)
            }
            Message::Binary(_) => {
                metrics.bad_frames.inc();
                Step::Reply(protocol_error(
                    ErrorCode::BinaryFrame,
                    "binary frames are not part of this protocol; send JSON text",
                ))
            }
            // Pongs are answered by the WebSocket layer itself; raw frames are never read.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {
                Step::Nothing
            }
        },
        Admit::No { warn } => {
            metrics.rate_limited.inc();
            if warn {
                Step::Reply(protocol_error(
                    ErrorCode::RateLimited,
                    "too many messages; this one was ignored",
                ))
            } else {
                Step::Nothing
            }
        }
        Admit::Flooding => {
            metrics.rate_closes.inc();
            Step::Close(close_code::POLICY_VIOLATION, "too many messages")
        }
    }
}

/// Writes a batch with one flush at the end, through the fault switch when given.
async fn send_all(
    sink: &mut Sink,
    conn: &Connection,
    frames: &VecDeque<Frame>,
    mut switch: Option<&mut FaultSwitch<'_>>,
) -> Result<(), ()> {
    for frame in frames {
        let text = match switch.as_mut() {
            Some(switch) => match switch.pass(frame) {
                Some(text) => text,
                None => continue,
            },
            None => frame.text.clone(),
        };
        if text.len() <= upgrade::FRAGMENT_BYTES {
            sink.feed(Message::Text(text)).await.map_err(|_| ())?;
        } else {
            for message in upgrade::fragments(text) {
                sink.feed(message).await.map_err(|_| ())?;
            }
        }
        conn.sent(frame);
    }
    sink.flush().await.map_err(|_| ())
}

/// A per-connection message (`pong`, `error`, `resumed`, `subscribed`), with `seq` 0.
fn direct(hub: &crate::hub::Hub, message: ServerMessage) -> Utf8Bytes {
    let envelope = thor_core::protocol::Envelope {
        message,
        seq: 0,
        epoch: hub.epoch(),
        ts: crate::clock::now_ms(),
        prev: None,
    };
    serde_json::to_string(&envelope)
        .unwrap_or_else(|_| r#"{"type":"error","seq":0,"epoch":0,"ts":0,"data":{"code":"bad_frame","message":"unserialisable reply"}}"#.to_string())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a socket's task that do not depend on what it is sent.
    fn future_size<F: Future>(
        _: impl FnOnce(
            Socket,
            Arc<AppState>,
            Slot,
            Option<i64>,
            Option<BTreeSet<Arc<str>>>,
            Option<Resume>,
        ) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every socket's task holds this future: it was 2.9 KB with the state copied into it and
    /// the writes' timers inline, 1.4 KB shared and boxed (`scripts/bench` measures the whole
    /// socket; this keeps the part that is ours from creeping back).
    #[test]
    fn a_sockets_task_stays_small() {
        let size = future_size(serve);
        assert!(size <= 1_536, "serve's future is {size} bytes");
    }
}
