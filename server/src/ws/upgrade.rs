//! The WebSocket handshake on hyper's upgrade, handing the connection to tokio-tungstenite
//! itself rather than through axum's `WebSocket`, which cannot send a message in fragments.
//! Fragments are what keep a socket small: tungstenite's write buffer keeps, for the
//! connection's life, the size of the largest frame it ever held, and the market status is a
//! 3 KB message every page receives every 10 s. Sent in frames of at most [`FRAGMENT_BYTES`],
//! no frame makes the buffer grow past a few KB (RFC 6455 §5.4: a browser reassembles them).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{Frame, Utf8Bytes};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Bytes, Message};

/// One accepted WebSocket.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// The largest frame a message is sent in; a longer text goes as a first frame and
/// continuations. (1 KiB: the write buffer's flush size, so one frame never holds much more.)
pub(super) const FRAGMENT_BYTES: usize = 512;

/// A request to upgrade to a WebSocket, checked: `GET`, `Connection: upgrade`,
/// `Upgrade: websocket`, version 13 and a key.
pub(super) struct Upgrade {
    accept: String,
    on_upgrade: OnUpgrade,
}

impl Upgrade {
    /// The upgrade `request` asks for, or why it is not one.
    pub(super) fn of(request: &mut Request) -> Result<Upgrade, &'static str> {
        if request.method() != Method::GET {
            return Err("a WebSocket upgrade is a GET");
        }
        let headers = request.headers();
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(
                "this is the WebSocket endpoint: send Connection: upgrade and Upgrade: websocket",
            );
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
            return Err("only WebSocket version 13 is spoken here");
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Err("the upgrade has no Sec-WebSocket-Key");
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
            return Err("this connection cannot be upgraded");
        };
        Ok(Upgrade { accept, on_upgrade })
    }

    /// Answers 101 and, once hyper hands the connection over, runs `serve` on the socket.
    pub(super) fn accept<F, Fut>(self, config: WebSocketConfig, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { accept, on_upgrade } = self;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    serve(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
                        .await;
                }
                Err(e) => tracing::debug!(error = %e, "a WebSocket upgrade did not complete"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Whether a comma-separated header has `token` (case-insensitive), in any of its lines.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `text` as the messages to write: itself when it fits in one frame, or its fragments.
pub(super) fn fragments(text: Utf8Bytes) -> Vec<Message> {
    if text.len() <= FRAGMENT_BYTES {
        return vec![Message::Text(text)];
    }
    let bytes = Bytes::from(text);
    let count = bytes.len().div_ceil(FRAGMENT_BYTES);
    (0..count)
        .map(|i| {
            let start = i * FRAGMENT_BYTES;
            let end = (start + FRAGMENT_BYTES).min(bytes.len());
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            // A fragment may end inside a character: only the whole message must be UTF-8.
            let frame = Frame::message(
                bytes.slice(start..end),
                OpCode::Data(opcode),
                i + 1 == count,
            );
            Message::Frame(frame)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_goes_as_fragments_that_join_back_into_it() {
        assert!(matches!(fragments("short".into())[..], [Message::Text(_)]));
        // Multi-byte characters across the fragments' edges.
        let text: String = "é€🦀x".repeat(300);
        let messages = fragments(text.clone().into());
        assert_eq!(messages.len(), text.len().div_ceil(FRAGMENT_BYTES));
        let mut joined = Vec::new();
        for (i, message) in messages.into_iter().enumerate() {
            let Message::Frame(frame) = message else {
                panic!("fragment {i} is not a frame");
            };
            let header = frame.header();
            let first = matches!(header.opcode, OpCode::Data(Data::Text));
            assert_eq!(first, i == 0, "only the first fragment is text");
            assert_eq!(
                header.is_final,
                joined.len() + frame.payload().len() == text.len()
            );
            assert!(frame.payload().len() <= FRAGMENT_BYTES);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, text.as_bytes());
    }
}
