//! Which source a panel renders a feature from, right now: the decision at the heart of the
//! websocket-aware hook, as a pure function of what the page knows, so it is tested here and
//! the hook only feeds it signals.
//!
//! - The flag (and this session's ramp bucket) gives the stage: REST, Shadow, or Live.
//! - A Live feature renders from the socket only while the socket is open, its heartbeat is
//!   fresh (a quiet heartbeat also means the flag stream may have missed a change), and the
//!   feature itself has updated within its staleness limit (or its markets are closed, which the
//!   heartbeat says); otherwise it falls back to REST polling, and returns on its own once all
//!   three hold again.
//! - Before any flag has arrived the page polls REST: it cannot know better yet.

use super::store::HEARTBEAT_STALE_AFTER_MS;
use crate::cutover::{Flags, Source, Stage};
use crate::feature::Feature;

/// How many of its update intervals a live feature may go without an update before the page falls back
/// (the server's automatic rollback uses its own, configurable multiple).
pub const STALE_AFTER_CADENCES: f64 = 3.0;

/// What the page knows when it decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions<'a> {
    /// The latest flags from the socket, if any arrived yet.
    pub flags: Option<&'a Flags>,
    /// This session's ramp bucket (0 to 99), once the page knows it.
    pub bucket: Option<u8>,
    pub socket_open: bool,
    /// Milliseconds since the last heartbeat, if one arrived.
    pub heartbeat_age_ms: Option<f64>,
    /// Milliseconds since the feature's last socket message, if one arrived.
    pub update_age_ms: Option<f64>,
    /// The server's heartbeat says every market the feature follows is closed: its silence is
    /// the market's, not the socket's.
    pub markets_closed: bool,
}

/// The stage this session is on for `feature` (a session whose bucket is unknown is outside any
/// partial ramp).
pub fn stage(feature: Feature, flags: Option<&Flags>, bucket: Option<u8>) -> Stage {
    match flags {
        None => Stage::Rest,
        Some(flags) => flags.flag(feature).stage_for(bucket.unwrap_or(u8::MAX)),
    }
}

/// The source `feature` renders from under `c`.
pub fn source(feature: Feature, c: &Conditions<'_>) -> Source {
    match stage(feature, c.flags, c.bucket) {
        Stage::Rest => Source::Rest,
        Stage::Shadow => Source::RestShadow,
        Stage::Live => {
            let heartbeat_fresh = c
                .heartbeat_age_ms
                .is_some_and(|age| age <= HEARTBEAT_STALE_AFTER_MS);
            let limit = feature.stale_after(STALE_AFTER_CADENCES).as_millis() as f64;
            let feature_fresh = c.markets_closed || c.update_age_ms.is_some_and(|age| age <= limit);
            if c.socket_open && heartbeat_fresh && feature_fresh {
                Source::WebSocket
            } else {
                Source::RestFallback
            }
        }
    }
}

/// Whether a panel on `source` polls REST (everything but the socket does).
pub fn polls_rest(source: Source) -> bool {
    source != Source::WebSocket
}

/// Whether a panel logs the feature's socket messages (`[WS] <type>: <payload>`) and compares
/// them with REST: in shadow, and on a live feature's fallback.
pub fn compares(source: Source) -> bool {
    matches!(source, Source::RestShadow | Source::RestFallback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cutover::Flag;

    fn flags(stage: Stage, ramp: u8) -> Flags {
        Flags {
            version: 3,
            features: Feature::ALL
                .into_iter()
                .map(|f| (f, Flag { stage, ramp }))
                .collect(),
        }
    }

    fn healthy(flags: &Flags) -> Conditions<'_> {
        Conditions {
            flags: Some(flags),
            bucket: Some(10),
            socket_open: true,
            heartbeat_age_ms: Some(800.0),
            update_age_ms: Some(2_000.0),
            markets_closed: false,
        }
    }

    #[test]
    fn the_stage_decides_until_the_feature_is_live() {
        let rest = flags(Stage::Rest, 100);
        let shadow = flags(Stage::Shadow, 100);
        assert_eq!(source(Feature::Positions, &healthy(&rest)), Source::Rest);
        assert_eq!(
            source(Feature::Positions, &healthy(&shadow)),
            Source::RestShadow
        );
        let none = Conditions {
            flags: None,
            ..healthy(&rest)
        };
        assert_eq!(
            source(Feature::Positions, &none),
            Source::Rest,
            "no flags yet"
        );
        assert!(polls_rest(Source::RestShadow) && compares(Source::RestShadow));
        assert!(!polls_rest(Source::WebSocket) && !compares(Source::WebSocket));
    }

    #[test]
    fn a_live_feature_renders_from_a_healthy_socket_and_stops_polling() {
        let live = flags(Stage::Live, 100);
        let c = healthy(&live);
        assert_eq!(source(Feature::AccountBalance, &c), Source::WebSocket);
        assert!(!polls_rest(source(Feature::AccountBalance, &c)));
    }

    #[test]
    fn a_live_feature_falls_back_while_the_socket_is_down_or_stale_and_comes_back() {
        let live = flags(Stage::Live, 100);
        let down = Conditions {
            socket_open: false,
            ..healthy(&live)
        };
        let quiet_heartbeat = Conditions {
            heartbeat_age_ms: Some(HEARTBEAT_STALE_AFTER_MS + 1.0),
            ..healthy(&live)
        };
        // Balance is published every 10 s: 30 s without one is stale.
        let stale_feature = Conditions {
            update_age_ms: Some(31_000.0),
            ..healthy(&live)
        };
        let never = Conditions {
            update_age_ms: None,
            ..healthy(&live)
        };
        for c in [down, quiet_heartbeat, stale_feature, never] {
            assert_eq!(
                source(Feature::AccountBalance, &c),
                Source::RestFallback,
                "{c:?}"
            );
            assert!(polls_rest(Source::RestFallback));
        }
        // The forming bar moves every second, but a pause of a few seconds is not an outage:
        // staleness counts its interval as 5 s (15 s at three intervals).
        let between_ticks = Conditions {
            update_age_ms: Some(5_000.0),
            ..healthy(&live)
        };
        assert_eq!(source(Feature::Intraday, &between_ticks), Source::WebSocket);
        let no_bars = Conditions {
            update_age_ms: Some(16_000.0),
            ..healthy(&live)
        };
        assert_eq!(source(Feature::Intraday, &no_bars), Source::RestFallback);
        // After the close there are no bars for hours: quiet, not broken, so no fallback.
        let closed = Conditions {
            update_age_ms: Some(3_600_000.0),
            markets_closed: true,
            ..healthy(&live)
        };
        assert_eq!(source(Feature::Intraday, &closed), Source::WebSocket);
        // A closed market excuses only the silence: a socket that is down still falls back.
        let closed_and_down = Conditions {
            socket_open: false,
            ..closed
        };
        assert_eq!(
            source(Feature::Intraday, &closed_and_down),
            Source::RestFallback
        );
        assert_eq!(
            source(Feature::AccountBalance, &healthy(&live)),
            Source::WebSocket
        );
    }

    #[test]
    fn a_ramp_is_live_only_for_the_sessions_inside_it() {
        let half = flags(Stage::Live, 50);
        let inside = Conditions {
            bucket: Some(49),
            ..healthy(&half)
        };
        let outside = Conditions {
            bucket: Some(50),
            ..healthy(&half)
        };
        let unknown = Conditions {
            bucket: None,
            ..healthy(&half)
        };
        assert_eq!(source(Feature::Positions, &inside), Source::WebSocket);
        assert_eq!(source(Feature::Positions, &outside), Source::RestShadow);
        assert_eq!(source(Feature::Positions, &unknown), Source::RestShadow);
    }
}
