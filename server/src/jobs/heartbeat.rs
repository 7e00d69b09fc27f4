//! The heartbeat loop: one `heartbeat` message per tick, so every page can tell a live server
//! from a silent one. Every `report_every` ticks (and on the first) it also reports the active
//! jobs and the latest sequence number of every topic.

use crate::hub::Hub;
use app::protocol::{Heartbeat, ServerMessage, Topic};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

pub const NAME: &str = "heartbeat";

pub async fn run(hub: Hub, interval: Duration, report_every: u32, stop: CancellationToken) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(started + interval, interval);
    // A stalled process should not burst out missed beats when it wakes.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut tick: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        tick += 1;
        let report = tick == 1 || tick.is_multiple_of(u64::from(report_every));
        let heartbeat = Heartbeat {
            tick,
            uptime_s: started.elapsed().as_secs(),
            connections: hub.connections() as u64,
            active_jobs: report.then(|| vec![NAME.to_string()]),
            topics: report.then(|| hub.latest_seqs()),
        };
        hub.publish(Topic::Heartbeat, ServerMessage::Heartbeat(heartbeat));
    }
    tracing::debug!(ticks = tick, "heartbeat loop stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::Envelope;

    fn heartbeat_of(frame: &crate::hub::Frame) -> Heartbeat {
        let envelope: Envelope = serde_json::from_str(frame.text.as_str()).expect("envelope");
        match envelope.message {
            ServerMessage::Heartbeat(h) => h,
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn beats_once_per_interval_and_reports_jobs_every_nth_tick() {
        let hub = Hub::new(1, 10);
        let (mut rx, _) = hub.subscribe();
        let stop = CancellationToken::new();
        let job = tokio::spawn(run(hub.clone(), Duration::from_secs(1), 30, stop.clone()));

        let t0 = Instant::now();
        let mut beats = Vec::new();
        for _ in 0..60 {
            let frame = rx.recv().await.expect("a beat");
            beats.push((Instant::now() - t0, heartbeat_of(&frame)));
        }
        stop.cancel();
        job.await.expect("job ends cleanly");

        for (i, (at, beat)) in beats.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(beat.tick, n);
            assert_eq!(*at, Duration::from_secs(n), "beat {n} on time");
            let reports = n == 1 || n.is_multiple_of(30);
            assert_eq!(beat.active_jobs.is_some(), reports, "beat {n}");
            assert_eq!(beat.topics.is_some(), reports, "beat {n}");
        }
        let thirtieth = &beats[29].1;
        assert_eq!(
            thirtieth.active_jobs.as_deref(),
            Some(&["heartbeat".to_string()][..])
        );
        assert_eq!(
            thirtieth
                .topics
                .as_ref()
                .and_then(|t| t.get(&Topic::Heartbeat)),
            Some(&29),
            "the report names the latest heartbeat seq before it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_told() {
        let hub = Hub::new(1, 10);
        let stop = CancellationToken::new();
        let job = tokio::spawn(run(hub.clone(), Duration::from_secs(1), 30, stop.clone()));
        tokio::time::sleep(Duration::from_millis(3500)).await;
        stop.cancel();
        job.await.expect("job ends cleanly");
        assert_eq!(hub.latest_seqs().get(&Topic::Heartbeat), Some(&3));
    }
}
