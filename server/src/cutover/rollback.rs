//! When a live feature goes back to REST on its own. Pure rules over what the pages reported
//! since the feature went live and what the server itself saw; the lease holder's job applies them.

use super::reports::PageState;
use std::collections::BTreeSet;
use thor_core::cutover::Source;
use thor_core::feature::Feature;

/// What is known of one live feature's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveHealth {
    /// Users with an open page that reported unhealed socket gaps since the feature went live.
    pub users_with_gaps: BTreeSet<i64>,
    /// Users with an open page on the socket (or fallen back from it) whose last update is this
    /// old, with the oldest age each.
    pub users_stale: Vec<(i64, u64)>,
    /// How long ago the server last published the feature.
    pub server_silent_ms: Option<u64>,
    /// Messages of the feature the shared hub lost since it went live (`None`: not measured).
    pub hub_gaps: Option<u64>,
    /// Every market the feature follows is closed (or opened moments ago): its silence, and its
    /// pages' lack of updates, are the market's and say nothing of the socket.
    pub markets_closed: bool,
}

impl LiveHealth {
    pub fn gather(
        feature: Feature,
        since_version: u64,
        pages: &[PageState],
        now: i64,
        page_timeout_ms: i64,
        server_silent_ms: Option<u64>,
        hub_gaps: Option<u64>,
    ) -> LiveHealth {
        let _ = feature;
        let since = i64::try_from(since_version).unwrap_or(i64::MAX);
        let open = pages
            .iter()
            .filter(|p| p.since_version == since && now - p.last_seen <= page_timeout_ms);
        let mut users_with_gaps = BTreeSet::new();
        let mut users_stale = Vec::new();
        for page in open {
            if page.gaps > 0 {
                users_with_gaps.insert(page.user_id);
            }
            let on_socket = matches!(
                page.source(),
                Some(Source::WebSocket | Source::RestFallback)
            );
            if on_socket && let Some(age) = page.last_update_age_ms {
                users_stale.push((page.user_id, age.max(0) as u64));
            }
        }
        LiveHealth {
            users_with_gaps,
            users_stale,
            server_silent_ms,
            hub_gaps,
            markets_closed: false,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "users_with_gaps": self.users_with_gaps.len(),
            "stale_pages": self.users_stale.len(),
            "server_silent_ms": self.server_silent_ms,
            "hub_gaps": self.hub_gaps,
            "markets_closed": self.markets_closed,
        })
    }
}

/// How long `feature` may go without an update: `multiple` of how often its socket messages
/// arrive (its cadence; every second for intraday, whose forming bar moves each second), an
/// interval counting as at least 5 s.
pub fn stale_after_ms(feature: Feature, multiple: f64) -> u64 {
    u64::try_from(feature.stale_after(multiple).as_millis()).unwrap_or(u64::MAX)
}

/// The thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The configured multiple of the feature's cadence.
    pub stale_after_ms: u64,
    /// Distinct users whose pages must agree before their reports roll a feature back.
    pub min_users: u64,
}

impl Rule {
    /// Why the feature must go back to REST, if it must.
    pub fn judge(&self, health: &LiveHealth) -> Option<String> {
        if let Some(silent) = health.server_silent_ms
            && silent > self.stale_after_ms
            && !health.markets_closed
        {
            return Some(format!(
                "the server has not published it for {} s (limit {} s)",
                silent / 1000,
                self.stale_after_ms / 1000
            ));
        }
        if let Some(lost) = health.hub_gaps
            && lost > 0
        {
            return Some(format!(
                "the shared hub lost {lost} of its messages since it went live"
            ));
        }
        let gaps = health.users_with_gaps.len() as u64;
        if gaps >= self.min_users {
            return Some(format!(
                "pages of {gaps} users report sequence gaps no resume healed"
            ));
        }
        let stale: BTreeSet<i64> = health
            .users_stale
            .iter()
            .filter(|(_, age)| *age > self.stale_after_ms)
            .map(|(user, _)| *user)
            .collect();
        if stale.len() as u64 >= self.min_users && !health.markets_closed {
            return Some(format!(
                "pages of {} users had no update for more than {} ms",
                stale.len(),
                self.stale_after_ms
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> LiveHealth {
        LiveHealth {
            users_with_gaps: BTreeSet::new(),
            users_stale: vec![(1, 500), (2, 800)],
            server_silent_ms: Some(900),
            hub_gaps: Some(0),
            markets_closed: false,
        }
    }

    const RULE: Rule = Rule {
        stale_after_ms: 3_000,
        min_users: 2,
    };

    #[test]
    fn a_healthy_feature_stays_live() {
        assert_eq!(RULE.judge(&healthy()), None);
    }

    #[test]
    fn gaps_from_two_users_roll_back_but_one_user_alone_does_not() {
        let mut health = healthy();
        health.users_with_gaps.insert(1);
        assert_eq!(
            RULE.judge(&health),
            None,
            "one user (or a faker) is not enough"
        );
        health.users_with_gaps.insert(2);
        let reason = RULE.judge(&health).expect("rolled back");
        assert!(reason.contains("gaps"), "{reason}");
    }

    #[test]
    fn silence_rolls_back_whether_pages_or_the_server_notice_it() {
        let mut pages = healthy();
        pages.users_stale = vec![(1, 4_000), (1, 9_000), (2, 100)];
        assert_eq!(RULE.judge(&pages), None, "two tabs of one user");
        pages.users_stale.push((2, 5_000));
        assert!(RULE.judge(&pages).is_some_and(|r| r.contains("no update")));

        let mut server = healthy();
        server.server_silent_ms = Some(4_000);
        assert!(
            RULE.judge(&server)
                .is_some_and(|r| r.contains("not published"))
        );
    }

    #[test]
    fn staleness_follows_how_often_a_feature_updates_not_its_job() {
        assert_eq!(stale_after_ms(Feature::Positions, 3.0), 30_000);
        // Bars close once a minute and the forming bar comes every second, but staleness counts
        // an interval as at least 5 s.
        assert_eq!(stale_after_ms(Feature::Intraday, 3.0), 15_000);
        assert_eq!(stale_after_ms(Feature::Positions, 0.1), 1_000);
    }

    #[test]
    fn messages_the_hub_lost_roll_back() {
        let mut health = healthy();
        health.hub_gaps = Some(3);
        assert!(RULE.judge(&health).is_some_and(|r| r.contains("lost 3")));
    }

    fn page(user: i64, source: &str, since: i64, last_seen: i64, gaps: i64) -> PageState {
        PageState {
            page_id: format!("page-{user}-{source}-{since}-{last_seen}"),
            user_id: user,
            since_version: since,
            source: source.into(),
            applied_version: since,
            fell_back_at: None,
            matched: 0,
            mismatched: 0,
            missing_on_ws: 0,
            ignored: 0,
            gaps,
            lag_ms: None,
            last_update_age_ms: None,
            last_seen,
        }
    }

    fn aged(mut page: PageState, age_ms: i64) -> PageState {
        page.last_update_age_ms = Some(age_ms);
        page
    }

    #[test]
    fn only_open_pages_of_this_live_period_count_and_only_on_the_socket_for_staleness() {
        let (now, timeout) = (100_000, 10_000);
        let pages = [
            aged(page(1, "web_socket", 5, 95_000, 2), 4_000),
            // Seen exactly `timeout` ago: still open.
            aged(page(2, "rest_fallback", 5, 90_000, 0), 7_000),
            // From before the feature went live this time.
            aged(page(3, "web_socket", 4, 99_000, 5), 50_000),
            // Closed: not seen for longer than the timeout.
            aged(page(4, "web_socket", 5, 89_999, 3), 50_000),
            // Polling REST in shadow: its age says nothing of the socket.
            aged(page(5, "rest_shadow", 5, 99_000, 0), 60_000),
            // On the socket, but no update yet.
            page(6, "web_socket", 5, 99_000, 0),
        ];
        let health = LiveHealth::gather(
            Feature::Positions,
            5,
            &pages,
            now,
            timeout,
            Some(1_200),
            Some(0),
        );
        assert_eq!(
            health,
            LiveHealth {
                users_with_gaps: BTreeSet::from([1]),
                users_stale: vec![(1, 4_000), (2, 7_000)],
                server_silent_ms: Some(1_200),
                hub_gaps: Some(0),
                markets_closed: false,
            }
        );
    }

    #[test]
    fn the_audit_evidence_counts_users_and_pages_without_naming_them() {
        let health = LiveHealth {
            users_with_gaps: BTreeSet::from([7, 8]),
            users_stale: vec![(7, 9_000)],
            server_silent_ms: Some(1_500),
            hub_gaps: None,
            markets_closed: false,
        };
        assert_eq!(
            health.json(),
            serde_json::json!({
                "users_with_gaps": 2,
                "stale_pages": 1,
                "server_silent_ms": 1_500,
                "hub_gaps": null,
                "markets_closed": false,
            })
        );
    }

    #[test]
    fn exactly_the_limit_is_not_yet_stale() {
        let mut health = healthy();
        health.server_silent_ms = Some(RULE.stale_after_ms);
        health.users_stale = vec![(1, RULE.stale_after_ms), (2, RULE.stale_after_ms)];
        assert_eq!(RULE.judge(&health), None);
        health.users_stale.push((2, RULE.stale_after_ms + 1));
        health.users_stale.push((1, RULE.stale_after_ms + 1));
        assert!(RULE.judge(&health).is_some_and(|r| r.contains("no update")));
        health.server_silent_ms = Some(RULE.stale_after_ms + 1);
        assert!(
            RULE.judge(&health)
                .is_some_and(|r| r.contains("not published"))
        );
    }

    /// A closed market is quiet, not broken: silence and stale pages are forgiven while every
    /// market the feature follows is closed, gaps are not.
    #[test]
    fn a_closed_market_forgives_silence_and_stale_pages_but_not_gaps() {
        let mut health = healthy();
        health.server_silent_ms = Some(3_600_000);
        health.users_stale = vec![(1, 3_600_000), (2, 3_600_000)];
        assert!(
            RULE.judge(&health).is_some(),
            "open: an hour of silence is an outage"
        );
        health.markets_closed = true;
        assert_eq!(RULE.judge(&health), None);
        health.users_with_gaps = BTreeSet::from([1, 2]);
        assert!(RULE.judge(&health).is_some_and(|r| r.contains("gaps")));
        health.users_with_gaps.clear();
        health.hub_gaps = Some(1);
        assert!(RULE.judge(&health).is_some_and(|r| r.contains("lost")));
    }
}
