//! A frame as Redis carries it: the hub's numbering and the serialised envelope, in short
//! JSON field names.

use crate::hub::{Audience, Frame};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;
use thor_core::protocol::Topic;

/// A frame as Redis carries it: the hub's numbering and the serialised envelope.
#[derive(Debug, Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(rename = "t")]
    topic: Topic,
    #[serde(rename = "a")]
    audience: Audience,
    #[serde(rename = "k", borrow, default, skip_serializing_if = "Option::is_none")]
    key: Option<Cow<'a, str>>,
    #[serde(rename = "s")]
    seq: u64,
    #[serde(rename = "e")]
    epoch: u64,
    #[serde(rename = "u")]
    sent_us: i64,
    #[serde(rename = "m", borrow)]
    text: Cow<'a, str>,
}

pub fn encode(frame: &Frame) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Wire {
        topic: frame.topic,
        audience: frame.audience,
        key: frame.key.as_deref().map(Cow::Borrowed),
        seq: frame.seq,
        epoch: frame.epoch,
        sent_us: frame.sent_us,
        text: Cow::Borrowed(frame.text.as_str()),
    })
}

pub fn decode(bytes: &[u8]) -> serde_json::Result<Frame> {
    let wire: Wire<'_> = serde_json::from_slice(bytes)?;
    Ok(Frame {
        topic: wire.topic,
        audience: wire.audience,
        key: wire.key.map(|k| Arc::from(k.as_ref())),
        seq: wire.seq,
        epoch: wire.epoch,
        sent_us: wire.sent_us,
        text: wire.text.into_owned().into(),
    })
}

/// [`decode`], logging (and skipping) what does not decode.
pub(crate) fn decode_logged(bytes: &[u8]) -> Option<Frame> {
    match decode(bytes) {
        Ok(frame) => Some(frame),
        Err(e) => {
            tracing::warn!(error = %e, bytes = bytes.len(), "skipped a message from Redis that does not decode");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::redis::test_support::{holder_hub, probe};

    #[test]
    fn frames_survive_the_wire_and_garbage_is_an_error() {
        let (hub, mut rx) = holder_hub();
        probe(&hub, 7);
        let frame = rx.try_recv().expect("a frame");
        let back = decode(&encode(&frame).expect("encodes")).expect("decodes");
        assert_eq!(
            (
                back.topic,
                back.audience,
                back.seq,
                back.epoch,
                back.sent_us
            ),
            (
                frame.topic,
                frame.audience,
                frame.seq,
                frame.epoch,
                frame.sent_us
            )
        );
        assert_eq!(back.text.as_str(), frame.text.as_str());
        let keyed = Frame {
            audience: Audience::Account(7),
            key: Some(Arc::from("BRK.B")),
            ..frame
        };
        let back = decode(&encode(&keyed).expect("encodes")).expect("decodes");
        assert_eq!(back.key.as_deref(), Some("BRK.B"));
        assert_eq!(back.audience, Audience::Account(7));
        assert!(decode(b"{not json").is_err());
        assert!(decode(br#"{"t":"nope","a":"Everyone","s":1,"e":1,"u":0,"m":""}"#).is_err());
    }
}
