//! The answers to what a page sends: `ping`, `subscribe`, `unsubscribe`, `resume`, and errors.

use super::*;

pub(super) fn protocol_error(code: ErrorCode, message: &str) -> ServerMessage {
    ServerMessage::Error(ProtocolError {
        code,
        message: message.to_string(),
    })
}

pub(super) fn answer(state: &AppState, conn: &Connection, text: &str) -> Option<ServerMessage> {
    let message = match parse_client_message(text) {
        Ok(message) => message,
        Err(error) => {
            state.hub.metrics().bad_frames.inc();
            return Some(ServerMessage::Error(error));
        }
    };
    Some(match message {
        ClientMessage::Ping { nonce } => ServerMessage::Pong(Pong { nonce }),
        ClientMessage::Subscribe { topics, symbols } => {
            let all = all_symbols(state);
            match known_symbols(&all, &symbols) {
                Ok(symbols) => {
                    conn.subscribe(&topics, &symbols);
                    ServerMessage::Subscribed(conn.subscription(&all))
                }
                Err(error) => ServerMessage::Error(error),
            }
        }
        ClientMessage::Unsubscribe { topics, symbols } => {
            let all = all_symbols(state);
            match known_symbols(&all, &symbols) {
                Ok(symbols) => {
                    conn.unsubscribe(&topics, &symbols, &all);
                    ServerMessage::Subscribed(conn.subscription(&all))
                }
                Err(error) => ServerMessage::Error(error),
            }
        }
        ClientMessage::Resume { epoch, seqs } => {
            let resumed: Resumed = conn.resume(epoch, &seqs);
            ServerMessage::Resumed(resumed)
        }
    })
}

pub(super) fn all_symbols(state: &AppState) -> Vec<Arc<str>> {
    state
        .symbols
        .iter()
        .map(|s| Arc::from(s.as_str()))
        .collect()
}

/// The requested symbols (well-formed by their type), or an error naming the first one the
/// feed does not trade (and then nothing changes).
pub(super) fn known_symbols(
    all: &[Arc<str>],
    asked: &[Symbol],
) -> Result<Vec<Arc<str>>, ProtocolError> {
    asked
        .iter()
        .map(|symbol| {
            all.iter()
                .find(|known| known.as_ref() == symbol.as_str())
                .cloned()
                .ok_or_else(|| ProtocolError {
                    code: ErrorCode::UnknownSymbol,
                    message: format!("unknown symbol \"{symbol}\"; nothing changed"),
                })
        })
        .collect()
}

/// The symbols a page asks for at connect time (`/ws?symbols=SPY,AAPL`; empty: none): `None`
/// without the parameter (every symbol), or why the list is refused.
pub(super) fn connect_symbols(
    all: &[Arc<str>],
    param: Option<&str>,
) -> Result<Option<BTreeSet<Arc<str>>>, String> {
    let Some(param) = param else {
        return Ok(None);
    };
    let asked = param
        .split(',')
        .filter(|s| !s.is_empty())
        .map(Symbol::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad symbols parameter: {e}"))?;
    let known = known_symbols(all, &asked).map_err(|e| e.message)?;
    Ok(Some(known.into_iter().collect()))
}
