//! The cutover's test switch on one connection (only where `cutover.allow-faults` is set).

use crate::cutover::faults::{Action, Faults};
use crate::hub::Frame;
use std::collections::VecDeque;
use tungstenite::Utf8Bytes;

/// Frames the fault switch's `delay` may hold back per connection.
pub(super) const MAX_DELAYED: usize = 4096;

/// The cutover's test switch on one connection, where `cutover.allow-faults` lets it exist:
/// what it does to each frame on its way out, and the frames its `delay` holds back until due.
pub(super) struct FaultSwitch<'a> {
    faults: &'a Faults,
    /// In order, each with when it is due.
    delayed: VecDeque<(tokio::time::Instant, Frame)>,
}

impl<'a> FaultSwitch<'a> {
    pub(super) fn new(faults: &'a Faults) -> Self {
        Self {
            faults,
            delayed: VecDeque::new(),
        }
    }

    /// The held-back frames once the first is due; never without a switch or a held frame.
    pub(super) async fn due(switch: Option<&mut Self>) -> VecDeque<Frame> {
        let Some(switch) = switch else {
            return std::future::pending().await;
        };
        let Some(&(first, _)) = switch.delayed.front() else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(first).await;
        let now = tokio::time::Instant::now();
        let mut due = VecDeque::new();
        while switch.delayed.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, frame)) = switch.delayed.pop_front() {
                due.push_back(frame);
            }
        }
        due
    }

    /// The text to send for `frame` now, if any: as it is, changed, or nothing (dropped, or
    /// held back; bounded like every other queue here, so beyond it a delay drops).
    pub(super) fn pass(&mut self, frame: &Frame) -> Option<Utf8Bytes> {
        match self.faults.apply(frame) {
            Action::Send => Some(frame.text.clone()),
            Action::Replace(text) => Some(text),
            Action::Drop => None,
            Action::Delay(by) => {
                if self.delayed.len() < MAX_DELAYED {
                    self.delayed
                        .push_back((tokio::time::Instant::now() + by, frame.clone()));
                }
                None
            }
        }
    }
}
