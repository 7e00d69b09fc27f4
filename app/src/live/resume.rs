//! Where a reconnecting page resumes from.

use crate::protocol::{Envelope, Topic, format_since};
use thor_core::map::Map;

/// Where a reconnecting page resumes from: the epoch and the last `seq` of every topic received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumePoint {
    epoch: Option<u64>,
    seqs: Map<Topic, u64>,
}

impl ResumePoint {
    /// Notes a received message. Per-connection replies (`pong`, `error`, …) have no topic and
    /// no seq worth keeping.
    pub fn note(&mut self, envelope: &Envelope) {
        let Some(topic) = envelope.message.topic() else {
            return;
        };
        self.note_epoch(envelope.epoch);
        let last = self.seqs.entry(topic).or_insert(envelope.seq);
        *last = (*last).max(envelope.seq);
    }

    /// The server's epoch, from any message or a `resumed` reply: a new one makes the old seqs
    /// meaningless.
    pub fn note_epoch(&mut self, epoch: u64) {
        if self.epoch != Some(epoch) {
            self.epoch = Some(epoch);
            self.seqs.clear();
        }
    }

    /// The query string for `/ws`: empty until there is something to resume.
    pub fn query(&self) -> String {
        self.query_for(None)
    }

    /// The query string for `/ws`, asking for `symbols` only (`None`: every symbol).
    pub fn query_for(&self, symbols: Option<&[String]>) -> String {
        let mut params = Vec::new();
        if let Some(symbols) = symbols {
            params.push(format!("symbols={}", symbols.join(",")));
        }
        if let Some(epoch) = self.epoch
            && !self.seqs.is_empty()
        {
            params.push(format!("epoch={epoch}&since={}", format_since(&self.seqs)));
        }
        if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ResumePoint;
    use crate::protocol::{Envelope, Heartbeat, Pong, ServerMessage};

    fn heartbeat(epoch: u64, seq: u64) -> Envelope {
        Envelope {
            message: ServerMessage::Heartbeat(Heartbeat {
                tick: seq,
                uptime_s: 1,
                connections: 1,
                active_jobs: None,
                topics: None,
                closed: Vec::new(),
            }),
            seq,
            epoch,
            ts: 0,
            prev: None,
        }
    }

    #[test]
    fn a_first_connection_has_nothing_to_resume() {
        let mut resume = ResumePoint::default();
        assert_eq!(resume.query(), "");
        resume.note_epoch(3);
        assert_eq!(resume.query(), "", "an epoch alone resumes nothing");
    }

    #[test]
    fn a_page_asks_for_the_symbols_it_shows_and_resumes_with_them() {
        let mut resume = ResumePoint::default();
        let spy = ["SPY".to_string()];
        assert_eq!(resume.query_for(Some(&spy)), "?symbols=SPY");
        assert_eq!(resume.query_for(Some(&[])), "?symbols=", "none at all");
        resume.note(&heartbeat(3, 12));
        assert_eq!(
            resume.query_for(Some(&["SPY".to_string(), "AAPL".to_string()])),
            "?symbols=SPY,AAPL&epoch=3&since=heartbeat:12"
        );
    }

    #[test]
    fn the_last_seq_of_each_topic_is_kept_and_a_new_epoch_forgets_them() {
        let mut resume = ResumePoint::default();
        resume.note(&heartbeat(3, 12));
        resume.note(&heartbeat(3, 11));
        assert_eq!(resume.query(), "?epoch=3&since=heartbeat:12");

        let pong = Envelope {
            message: ServerMessage::Pong(Pong { nonce: None }),
            seq: 0,
            epoch: 3,
            ts: 0,
            prev: None,
        };
        resume.note(&pong);
        assert_eq!(
            resume.query(),
            "?epoch=3&since=heartbeat:12",
            "replies carry no seq"
        );

        resume.note(&heartbeat(4, 2));
        assert_eq!(resume.query(), "?epoch=4&since=heartbeat:2");
        resume.note_epoch(5);
        assert_eq!(resume.query(), "");
    }
}
