//! `/ws`: one WebSocket per page. Sends the current state at once, then every hub message;
//! answers `ping`; refuses bad frames with an `error` message and carries on.

use crate::hub::{ConnectionSlot, Frame};
use crate::state::AppState;
use app::protocol::{
    ClientMessage, ErrorCode, Pong, ProtocolError, ServerMessage, Topic, close_code,
    parse_client_message,
};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::RecvError;

/// Per-connection read buffer: axum's default (128 KiB) costs ~680 MB at 5,000 clients.
const READ_BUFFER_BYTES: usize = 4096;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(reason) = same_origin(&headers) {
        tracing::warn!(%reason, "refused a cross-origin WebSocket upgrade");
        return crate::api::ApiError::Forbidden(reason).into_response();
    }
    let account = match signed_in_account(&state, &headers).await {
        Ok(account) => account,
        Err(error) => return error.into_response(),
    };
    let max_frame = state.settings.hub.max_frame_bytes;
    let slot = state.hub.admit();
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_upgrade(move |socket| async move {
            match slot {
                Some(slot) => serve(socket, state, slot, account).await,
                None => refuse_full(socket).await,
            }
        })
}

/// Browsers always send `Origin` on a WebSocket upgrade; it must name this very host.
/// Clients that send none (tools, tests) are not browsers and cannot be used for CSRF.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header is not text".to_string())?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| "the upgrade has an Origin but no Host".to_string())?;
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(format!("origin {origin} does not match host {host}"))
    }
}

/// The paper account of the signed-in trader, if the upgrade carries a live session.
/// Anonymous connections see only what is published to everyone.
async fn signed_in_account(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<i64>, crate::api::ApiError> {
    let Some(token) = crate::auth::token_from_headers(headers) else {
        return Ok(None);
    };
    let Some(user) = crate::auth::user_for_token(&state.db, &token)
        .await
        .map_err(crate::api::ApiError::database)?
    else {
        return Ok(None);
    };
    crate::trading::accounts::account_id_of(&state.db, user.id)
        .await
        .map_err(crate::api::ApiError::database)
}

async fn refuse_full(mut socket: WebSocket) {
    let _best_effort = socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::TRY_AGAIN_LATER,
            reason: Utf8Bytes::from_static("server is at its connection limit"),
        })))
        .await;
}

async fn serve(socket: WebSocket, state: AppState, _slot: ConnectionSlot, account: Option<i64>) {
    let hub = state.hub.clone();
    let (mut sink, mut stream) = socket.split();
    let (mut fanout, snapshot) = hub.subscribe(account);
    // The last seq sent per topic: frames already covered by the snapshot are not sent twice.
    let mut sent: BTreeMap<Topic, u64> = BTreeMap::new();

    for frame in snapshot {
        if send_frame(&mut sink, &mut sent, &frame, &state)
            .await
            .is_err()
        {
            return;
        }
    }

    loop {
        tokio::select! {
            _ = state.stop.cancelled() => {
                let _best_effort = sink.send(Message::Close(Some(CloseFrame {
                    code: close_code::SERVICE_RESTART,
                    reason: Utf8Bytes::from_static("server is restarting; reconnect"),
                }))).await;
                break;
            }
            received = fanout.recv() => match received {
                Ok(frame) if !frame.audience.admits(account) => {}
                Ok(frame) => {
                    if send_frame(&mut sink, &mut sent, &frame, &state).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(skipped)) => hub.count_skipped(skipped),
                Err(RecvError::Closed) => break,
            },
            incoming = stream.next() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => Some(answer(text.as_str())),
                    Some(Ok(Message::Binary(_))) => Some(ServerMessage::Error(ProtocolError {
                        code: ErrorCode::BinaryFrame,
                        message: "binary frames are not part of this protocol; send JSON text".into(),
                    })),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "WebSocket read failed; closing");
                        let _best_effort = sink.send(Message::Close(Some(CloseFrame {
                            code: close_code::MESSAGE_TOO_BIG,
                            reason: Utf8Bytes::from_static("frame refused"),
                        }))).await;
                        break;
                    }
                };
                if let Some(reply) = reply
                    && sink.send(Message::Text(hub.direct(reply))).await.is_err()
                {
                    break;
                }
            }
        }
    }
}

async fn send_frame(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    sent: &mut BTreeMap<Topic, u64>,
    frame: &Frame,
    state: &AppState,
) -> Result<(), axum::Error> {
    let last = sent.entry(frame.topic).or_insert(0);
    if frame.seq <= *last {
        return Ok(());
    }
    *last = frame.seq;
    sink.send(Message::Text(frame.text.clone())).await?;
    state.hub.count_sent();
    Ok(())
}

fn answer(text: &str) -> ServerMessage {
    match parse_client_message(text) {
        Ok(ClientMessage::Ping { nonce }) => ServerMessage::Pong(Pong { nonce }),
        Err(error) => ServerMessage::Error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        map
    }

    #[test]
    fn only_same_origin_browsers_may_upgrade() {
        assert!(same_origin(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")).is_ok());
        assert!(same_origin(&headers(Some("https://Thor.example"), "thor.example")).is_ok());
        assert!(same_origin(&headers(None, "127.0.0.1:3000")).is_ok());
        assert!(same_origin(&headers(Some("http://evil.example"), "127.0.0.1:3000")).is_err());
        assert!(same_origin(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")).is_err());
        assert!(same_origin(&headers(Some("null"), "127.0.0.1:3000")).is_err());
    }
}
