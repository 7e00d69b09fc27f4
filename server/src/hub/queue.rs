//! One connection's outbound queue: bounded, with the delivery policy of each topic.
//!
//! - `Latest` and `Droppable` topics keep at most one queued message per topic, audience and
//!   symbol: a newer one replaces it (moved to the back, so each topic's seqs still rise).
//! - `Replay` topics (bars) are queued in order and never replaced.
//! - When the queue is full, a `Droppable` message is dropped; anything else marks the
//!   connection as overflowed: its queue is emptied (memory back at once) and the socket is
//!   closed with [`thor_core::protocol::close_code::TOO_SLOW`]; the client reconnects and resumes
//!   from the replay buffer, so a slow client loses nothing that is still buffered and never
//!   holds more than `capacity` messages.

use super::Frame;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use thor_core::protocol::{Delivery, Topic};

/// What happened to one pushed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Not subscribed (or already overflowed): nothing queued.
    Skipped,
    Queued,
    /// Replaced an older queued message of the same topic, audience and symbol.
    Coalesced,
    /// A droppable message, dropped because the queue was full.
    Dropped,
    /// The queue was full of messages that may not be dropped: the connection must close.
    Overflowed,
}

pub struct ConnQueue {
    frames: VecDeque<Frame>,
    capacity: usize,
    topics: u16,
    /// `None`: every symbol.
    symbols: Option<BTreeSet<Arc<str>>>,
    overflowed: bool,
    /// Snapshot and replay messages queued since the last take: they do not count against
    /// the live capacity (a long replay must not make the next live message overflow).
    initial: usize,
}

fn bit(topic: Topic) -> u16 {
    1 << topic.index()
}

impl ConnQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            capacity: capacity.max(1),
            topics: Topic::ALL.iter().fold(0, |bits, t| bits | bit(*t)),
            symbols: None,
            overflowed: false,
            initial: 0,
        }
    }

    /// Whether this connection is subscribed to `frame` (its topic, and its symbol if any).
    pub fn wants(&self, frame: &Frame) -> bool {
        self.wants_topic(frame.topic)
            && match (&frame.key, &self.symbols) {
                (Some(symbol), Some(symbols)) => symbols.contains(symbol),
                _ => true,
            }
    }

    pub fn wants_topic(&self, topic: Topic) -> bool {
        self.topics & bit(topic) != 0
    }

    pub fn wants_symbol(&self, symbol: &str) -> bool {
        self.symbols.as_ref().is_none_or(|s| s.contains(symbol))
    }

    pub fn topics(&self) -> Vec<Topic> {
        Topic::ALL
            .into_iter()
            .filter(|t| self.wants_topic(*t))
            .collect()
    }

    /// The subscribed symbols, or `None` for all of them.
    pub fn symbols(&self) -> Option<&BTreeSet<Arc<str>>> {
        self.symbols.as_ref()
    }

    pub fn set_topic(&mut self, topic: Topic, on: bool) {
        if on {
            self.topics |= bit(topic);
        } else {
            self.topics &= !bit(topic);
        }
    }

    /// Replaces the symbol filter (`None`: all symbols).
    pub fn set_symbols(&mut self, symbols: Option<BTreeSet<Arc<str>>>) {
        self.symbols = symbols;
    }

    /// Queues a live message under the topic's delivery policy.
    pub fn push(&mut self, frame: &Frame) -> Pushed {
        if self.overflowed || !self.wants(frame) {
            return Pushed::Skipped;
        }
        let delivery = frame.topic.delivery();
        if delivery != Delivery::Replay
            && let Some(i) = self.frames.iter().position(|queued| {
                queued.topic == frame.topic
                    && queued.audience == frame.audience
                    && queued.key == frame.key
            })
        {
            self.frames.remove(i);
            self.frames.push_back(frame.clone());
            return Pushed::Coalesced;
        }
        if self.frames.len() >= self.capacity + self.initial {
            if delivery == Delivery::Droppable {
                return Pushed::Dropped;
            }
            self.overflowed = true;
            self.frames = VecDeque::new();
            return Pushed::Overflowed;
        }
        self.frames.push_back(frame.clone());
        Pushed::Queued
    }

    /// Queues a message of the connect-time snapshot or a replay: these are bounded by the
    /// replay buffers, not by the live capacity, and are never replaced.
    pub fn push_initial(&mut self, frame: &Frame) -> bool {
        let wanted = !self.overflowed && self.wants(frame);
        if wanted {
            self.frames.push_back(frame.clone());
            self.initial += 1;
        }
        wanted
    }

    /// Forgets queued messages the connection no longer subscribes to.
    pub fn retain_wanted(&mut self) {
        let frames = std::mem::take(&mut self.frames);
        self.frames = frames.into_iter().filter(|f| self.wants(f)).collect();
        self.initial = self.initial.min(self.frames.len());
    }

    /// Forgets the queued messages of one stream (a `resume` is about to send it again, in
    /// order, from the client's seq).
    pub fn forget_stream(&mut self, topic: Topic, audience: super::Audience) {
        let before = self.frames.len();
        self.frames
            .retain(|f| !(f.topic == topic && f.audience == audience));
        let removed = before - self.frames.len();
        self.initial = self.initial.saturating_sub(removed);
    }

    /// Everything queued, in order, and whether the connection overflowed.
    pub fn take(&mut self) -> (VecDeque<Frame>, bool) {
        self.initial = 0;
        (std::mem::take(&mut self.frames), self.overflowed)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Audience;

    fn frame(topic: Topic, key: Option<&str>, seq: u64) -> Frame {
        Frame {
            topic,
            audience: Audience::Everyone,
            key: key.map(Arc::from),
            seq,
            epoch: 1,
            sent_us: 0,
            text: format!("{}:{seq}", topic.as_str()).into(),
        }
    }

    fn seqs(queue: &mut ConnQueue) -> Vec<(Topic, u64)> {
        let (frames, _) = queue.take();
        frames.iter().map(|f| (f.topic, f.seq)).collect()
    }

    #[test]
    fn state_topics_keep_only_the_newest_per_symbol_and_stay_in_seq_order() {
        let mut queue = ConnQueue::new(8);
        assert_eq!(
            queue.push(&frame(Topic::Vwap, Some("AAPL"), 1)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::Vwap, Some("MSFT"), 2)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::Vwap, Some("AAPL"), 3)),
            Pushed::Coalesced
        );
        assert_eq!(
            queue.push(&frame(Topic::AccountBalance, None, 1)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::AccountBalance, None, 2)),
            Pushed::Coalesced
        );
        assert_eq!(
            seqs(&mut queue),
            vec![
                (Topic::Vwap, 2),
                (Topic::Vwap, 3),
                (Topic::AccountBalance, 2)
            ]
        );
    }

    #[test]
    fn bars_are_never_replaced_and_a_full_queue_of_bars_overflows_and_frees_itself() {
        let mut queue = ConnQueue::new(3);
        for seq in 1..=3 {
            assert_eq!(
                queue.push(&frame(Topic::IntradayBar, Some("AAPL"), seq)),
                Pushed::Queued
            );
        }
        // Full of bars: a heartbeat is dropped, another bar overflows the connection.
        assert_eq!(queue.len(), 3);
        assert_eq!(
            queue.push(&frame(Topic::Heartbeat, None, 1)),
            Pushed::Dropped
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 4)),
            Pushed::Overflowed
        );
        assert!(
            queue.is_empty(),
            "an overflowed queue lets go of its messages"
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 5)),
            Pushed::Skipped
        );
        let (_, overflowed) = queue.take();
        assert!(overflowed);
    }

    #[test]
    fn a_replay_does_not_use_up_the_live_capacity() {
        let mut queue = ConnQueue::new(2);
        for seq in 1..=10 {
            assert!(queue.push_initial(&frame(Topic::IntradayBar, Some("AAPL"), seq)));
        }
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 11)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 12)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 13)),
            Pushed::Overflowed,
            "live messages still have their own limit"
        );
    }

    #[test]
    fn heartbeats_coalesce_and_drop_but_never_overflow() {
        let mut queue = ConnQueue::new(1);
        assert_eq!(
            queue.push(&frame(Topic::Heartbeat, None, 1)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::Heartbeat, None, 2)),
            Pushed::Coalesced
        );
        assert_eq!(
            queue.push(&frame(Topic::MarketStatus, None, 1)),
            Pushed::Overflowed,
            "a state message that cannot replace anything does not fit either"
        );
    }

    #[test]
    fn subscriptions_filter_topics_and_symbols() {
        let mut queue = ConnQueue::new(8);
        queue.set_topic(Topic::Heartbeat, false);
        queue.set_symbols(Some(BTreeSet::from([Arc::from("MSFT")])));
        assert_eq!(
            queue.push(&frame(Topic::Heartbeat, None, 1)),
            Pushed::Skipped
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 1)),
            Pushed::Skipped
        );
        assert_eq!(
            queue.push(&frame(Topic::IntradayBar, Some("MSFT"), 2)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::MarketStatus, None, 1)),
            Pushed::Queued,
            "topics without symbols ignore the symbol filter"
        );
        assert!(!queue.topics().contains(&Topic::Heartbeat));
        assert_eq!(
            seqs(&mut queue),
            vec![(Topic::IntradayBar, 2), (Topic::MarketStatus, 1)]
        );
    }

    fn to(audience: Audience, mut frame: Frame) -> Frame {
        frame.audience = audience;
        frame
    }

    #[test]
    fn the_subscription_reads_back_and_a_topic_turned_off_can_be_turned_on_again() {
        let mut queue = ConnQueue::new(8);
        assert_eq!(queue.topics(), Topic::ALL.to_vec());
        assert_eq!(queue.symbols(), None);
        assert!(queue.wants_symbol("AAPL"), "every symbol at first");
        queue.set_topic(Topic::Heartbeat, false);
        queue.set_topic(Topic::Heartbeat, true);
        queue.set_topic(Topic::Vwap, false);
        let without_vwap: Vec<Topic> = Topic::ALL
            .into_iter()
            .filter(|t| *t != Topic::Vwap)
            .collect();
        assert_eq!(queue.topics(), without_vwap);
        let msft = BTreeSet::from([Arc::from("MSFT")]);
        queue.set_symbols(Some(msft.clone()));
        assert_eq!(queue.symbols(), Some(&msft));
        assert!(queue.wants_symbol("MSFT"));
        assert!(!queue.wants_symbol("AAPL"));
    }

    #[test]
    fn a_snapshot_or_replay_queues_only_what_the_connection_wants() {
        let mut queue = ConnQueue::new(2);
        queue.set_symbols(Some(BTreeSet::from([Arc::from("MSFT")])));
        assert!(!queue.push_initial(&frame(Topic::IntradayBar, Some("AAPL"), 1)));
        assert!(queue.push_initial(&frame(Topic::IntradayBar, Some("MSFT"), 2)));
        assert_eq!(seqs(&mut queue), vec![(Topic::IntradayBar, 2)]);
    }

    #[test]
    fn narrowing_the_subscription_forgets_what_was_queued_for_the_rest() {
        let mut queue = ConnQueue::new(8);
        queue.push(&frame(Topic::Heartbeat, None, 1));
        queue.push(&frame(Topic::IntradayBar, Some("AAPL"), 1));
        queue.push(&frame(Topic::IntradayBar, Some("MSFT"), 2));
        queue.set_topic(Topic::Heartbeat, false);
        queue.set_symbols(Some(BTreeSet::from([Arc::from("MSFT")])));
        queue.retain_wanted();
        assert_eq!(seqs(&mut queue), vec![(Topic::IntradayBar, 2)]);
    }

    /// Three bars for everyone, one for account 7 and a heartbeat, queued at connect time.
    fn connected(capacity: usize) -> ConnQueue {
        let mut queue = ConnQueue::new(capacity);
        for seq in 1..=3 {
            queue.push_initial(&frame(Topic::IntradayBar, Some("AAPL"), seq));
        }
        queue.push_initial(&to(
            Audience::Account(7),
            frame(Topic::IntradayBar, Some("AAPL"), 1),
        ));
        queue.push_initial(&frame(Topic::Heartbeat, None, 1));
        queue
    }

    #[test]
    fn forgetting_a_stream_keeps_the_others_and_frees_its_initial_room() {
        let mut queue = connected(1);
        queue.forget_stream(Topic::IntradayBar, Audience::Everyone);
        let (frames, _) = queue.take();
        let left: Vec<(Topic, Audience)> = frames.iter().map(|f| (f.topic, f.audience)).collect();
        assert_eq!(
            left,
            vec![
                (Topic::IntradayBar, Audience::Account(7)),
                (Topic::Heartbeat, Audience::Everyone)
            ]
        );

        // Two initial messages are left: they still do not count against the live capacity of
        // one, but the three forgotten ones no longer make room.
        let mut queue = connected(1);
        queue.forget_stream(Topic::IntradayBar, Audience::Everyone);
        assert_eq!(
            queue.push(&frame(Topic::MarketStatus, None, 1)),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&frame(Topic::Positions, None, 1)),
            Pushed::Overflowed
        );
    }

    #[test]
    fn state_messages_coalesce_only_within_their_own_topic_and_audience() {
        let mut queue = ConnQueue::new(8);
        let pushes = [
            (Topic::AccountBalance, Audience::Everyone, 1, Pushed::Queued),
            (Topic::MarketStatus, Audience::Everyone, 1, Pushed::Queued),
            (
                Topic::AccountBalance,
                Audience::Account(7),
                1,
                Pushed::Queued,
            ),
            (
                Topic::AccountBalance,
                Audience::Account(8),
                1,
                Pushed::Queued,
            ),
            (
                Topic::AccountBalance,
                Audience::Account(7),
                2,
                Pushed::Coalesced,
            ),
        ];
        for (topic, audience, seq, pushed) in pushes {
            assert_eq!(
                queue.push(&to(audience, frame(topic, None, seq))),
                pushed,
                "{topic:?} for {audience:?}"
            );
        }
        assert!(!queue.is_empty());
        assert_eq!(queue.len(), 4);
    }
}
