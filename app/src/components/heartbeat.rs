use crate::live::{HEARTBEAT_STALE_AFTER_MS, use_live_store};
use leptos::prelude::*;

/// The server's pulse as this page sees it: connection state, the last heartbeat and its age.
#[component]
pub fn HeartbeatPanel() -> impl IntoView {
    let live = use_live_store();
    let seq = move || {
        live.heartbeat
            .with(|h| h.as_ref().map(|h| h.seq.to_string()))
            .unwrap_or_else(|| "—".to_string())
    };
    let tick = move || {
        live.heartbeat
            .with(|h| h.as_ref().map(|h| h.heartbeat.tick.to_string()))
            .unwrap_or_else(|| "—".to_string())
    };
    let uptime = move || {
        live.heartbeat
            .with(|h| h.as_ref().map(|h| format_duration(h.heartbeat.uptime_s)))
            .unwrap_or_else(|| "—".to_string())
    };
    let viewers = move || {
        live.heartbeat
            .with(|h| h.as_ref().map(|h| h.heartbeat.connections.to_string()))
            .unwrap_or_else(|| "—".to_string())
    };
    let age = move || match live.heartbeat_age_ms() {
        Some(ms) => format!("{:.1} s ago", ms / 1000.0),
        None => "—".to_string(),
    };
    let stale = move || {
        live.heartbeat_age_ms()
            .is_some_and(|ms| ms > HEARTBEAT_STALE_AFTER_MS)
    };

    view! {
        <section class="panel heartbeat" aria-labelledby="heartbeat-title">
            <header class="panel-head">
                <h2 id="heartbeat-title">"Server heartbeat"</h2>
                <span class="source">"WebSocket"</span>
            </header>
            <dl class="facts">
                <dt>"Connection"</dt>
                <dd data-testid="connection-state" class=move || live.state.get().css_class()>
                    {move || live.state.get().label()}
                </dd>
                <dt>"Heartbeat seq"</dt>
                <dd data-testid="heartbeat-seq">{seq}</dd>
                <dt>"Tick"</dt>
                <dd data-testid="heartbeat-tick">{tick}</dd>
                <dt>"Received"</dt>
                <dd data-testid="heartbeat-age" class:stale=stale>{age}</dd>
                <dt>"Server uptime"</dt>
                <dd data-testid="server-uptime">{uptime}</dd>
                <dt>"Open pages"</dt>
                <dd data-testid="server-connections">{viewers}</dd>
            </dl>
        </section>
    }
}

fn format_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(format_duration(5), "5s");
        assert_eq!(format_duration(65), "1m 05s");
        assert_eq!(format_duration(3 * 3600 + 7), "3h 00m 07s");
    }
}
