use crate::cutover::Source;
use crate::dashboard::Freshness;
use crate::dashboard::format;
use crate::feature::Feature;
use leptos::prelude::*;

/// A feature panel's heading: its title, where its data comes from and how old it is, and a
/// line for loading, stale, failed or fallen-back states.
#[component]
pub fn PanelHead(
    feature: Feature,
    source: Memo<Source>,
    age_ms: Signal<Option<f64>>,
    freshness: Signal<Freshness>,
    /// The shown value's place in its stream (`data-seq`, for tests and the curious).
    seq: Signal<Option<u64>>,
) -> impl IntoView {
    let name = feature.name();
    let label = move || source.get().label();
    let source_class = move || match source.get() {
        Source::WebSocket => "source source-ws",
        Source::RestFallback => "source source-fallback",
        Source::Rest | Source::RestShadow => "source source-rest",
    };
    let age = move || age_ms.get().map(format::age).unwrap_or_else(|| "—".into());
    let live = crate::live::use_live_store();
    let note = move || {
        let fallback = source.get() == Source::RestFallback;
        // Before the page's first socket has opened, a live feature waits for it: that is not
        // an outage.
        let down = if live.connects.get() == 0 {
            "Connecting to the live stream…"
        } else {
            "The live stream is down: fell back to REST."
        };
        let state = match freshness.get() {
            Freshness::Loading => Some("Loading…".to_string()),
            Freshness::Failed(error) => {
                Some(format!("Update failed: {error}. Showing the last data."))
            }
            Freshness::Stale if !fallback => {
                Some("No recent update: this may be out of date.".to_string())
            }
            Freshness::Closed => Some("Market closed: no trades until it opens.".to_string()),
            Freshness::Stale | Freshness::Fresh => None,
        };
        // A fallback is always said, whatever else is.
        match (fallback.then_some(down), state) {
            (Some(down), Some(state)) => Some(format!("{down} {state}")),
            (Some(down), None) => Some(down.to_string()),
            (None, state) => state,
        }
    };
    view! {
        <header class="panel-head" data-testid=format!("head-{name}") data-seq=move || seq.get()>
            <h2 id=format!("{name}-title")>{feature.display_name()}</h2>
            <span class=source_class data-testid=format!("source-{name}") title="Where this panel's data comes from">
                {label}
            </span>
            <span class="age" data-testid=format!("age-{name}") title="Since the last update">{age}</span>
        </header>
        // Always in the page, so screen readers announce what comes into it.
        <p class="feed-note" role="status" data-testid=format!("note-{name}")>{note}</p>
    }
}
