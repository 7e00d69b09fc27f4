//! What a page keeps of the bars it has seen and judged, within [`KEEP_BARS`] each.

use super::{BarParity, KEEP_BARS, Projection};

impl BarParity {
    /// Keeps the socket's `projection` of the bar at `key` (symbol, minute). Past the cap, the
    /// oldest minute is forgotten first, whichever symbol it is of: by key, the first symbol's
    /// newest bars went, and a REST answer then showed them as missing from the socket.
    pub(super) fn remember(&mut self, key: (String, i64), projection: Projection) {
        self.seen.insert(key, projection);
        while self.seen.len() > KEEP_BARS {
            let oldest = self
                .seen
                .keys()
                .min_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)))
                .cloned();
            match oldest {
                Some(key) => self.seen.remove(&key),
                None => break,
            };
        }
    }

    /// `key` is judged: later answers showing it again are not counted twice.
    pub(super) fn mark_judged(&mut self, key: (String, i64)) {
        if self.judged.insert(key.clone()) {
            self.judged_order.push_back(key);
        }
        while self.judged_order.len() > KEEP_BARS {
            if let Some(old) = self.judged_order.pop_front() {
                self.judged.remove(&old);
            }
        }
    }
}
