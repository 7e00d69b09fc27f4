//! The operator's part of the Cutover Status panel: every open page's report, the audit trail and
//! the controls. Traders never see it, so it is not in their download: built with `cargo leptos
//! build --split`, its code is a WebAssembly chunk of its own that an operator's page loads once
//! it has hydrated ([`OperatorTools`]).

use crate::cutover::{Ramp, Reason};
use crate::feature::Feature;
use leptos::prelude::*;

/// The server renders the tools into the page as usual, inside a disabled `fieldset` (readable,
/// not yet usable: nothing in the page's main bundle could run them). Once the page has hydrated,
/// the browser loads the tools' chunk and mounts the live tools in their place; until then, and
/// if the chunk cannot be loaded, the rest of the dashboard works as ever.
#[component]
pub fn OperatorTools() -> impl IntoView {
    // The page hydrates this `div` without looking inside it (`inner_html` from the server is left
    // as it is), so the main bundle holds none of the tools' views.
    #[cfg(feature = "ssr")]
    let html = {
        use leptos::tachys::view::RenderHtml;
        // The page's head preloads the chunk and its loader (from cargo-leptos' split manifest),
        // so they arrive alongside the main bundle rather than after it.
        leptos::prefetch_lazy_fn_on_server("thor_operator_tools");
        view! { <fieldset class="tools-waiting" disabled=true><Tools/></fieldset> }.to_html()
    };
    #[cfg(not(feature = "ssr"))]
    let html = String::new();
    let node = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(div) = node.get() {
            let div: web_sys::HtmlElement = div.into();
            leptos::task::spawn_local(async move {
                if let Err(e) = mount_tools(div.clone()).await {
                    leptos::logging::warn!("[dashboard] the operator tools did not load: {e:?}");
                    // Said where the disabled tools are, rather than left to look merely slow.
                    let said = div.insert_adjacent_html(
                        "afterbegin",
                        "<p class=\"outcome refused\" role=\"alert\" data-testid=\"operator-tools-failed\">\
                         The operator tools could not be loaded: reload the page to try again.</p>",
                    );
                    if let Err(e) = said {
                        leptos::logging::warn!("[dashboard] cannot say so: {e:?}");
                    }
                }
            });
        }
    });
    view! { <div class="operator-tools" data-testid="operator-tools" node_ref=node inner_html=html></div> }
}

/// Replaces what the server rendered into `div` with the live tools: the split point, the only
/// way into the chunk (`fallible`: a chunk that cannot be fetched is an error, not a panic).
#[cfg(feature = "hydrate")]
#[leptos::wasm_split::wasm_split(
    thor_operator_tools,
    wasm_split_path = ::leptos::wasm_split,
    fallible
)]
fn mount_tools(div: web_sys::HtmlElement) -> Result<(), leptos::wasm_split::SplitLoaderError> {
    div.set_inner_html("");
    leptos::mount::mount_to(div, Tools).forget();
    Ok(())
}

/// The tools themselves.
#[component]
fn Tools() -> impl IntoView {
    view! { <Fleet/> <AuditTrail/> <OperatorControls/> }
}

/// Keeps `into` filled with the JSON `url` answers, asked now and every 5 s (browser only; an
/// answer that fails or does not parse leaves the last one shown).
fn follow<T>(url: String, into: RwSignal<Option<T>>)
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let asked = url.clone();
        let fetch = move || {
            let url = asked.clone();
            leptos::task::spawn_local(async move {
                let Ok(response) = gloo_net::http::Request::get(&url).send().await else {
                    return;
                };
                if !response.ok() {
                    return;
                }
                if let Ok(text) = response.text().await
                    && let Ok(read) = serde_json::from_str(&text)
                {
                    into.set(Some(read));
                }
            })
        };
        fetch();
        if let Err(e) = set_interval_with_handle(fetch, std::time::Duration::from_secs(5)) {
            leptos::logging::warn!("[dashboard] cannot follow {url}: {e:?}");
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, into);
}

/// The part of `GET /api/cutover` ([`crate::cutover::CutoverStatus`]) this view reads: a
/// smaller deserialiser in every trader's download than the whole status's.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct FleetStatus {
    features: Vec<FleetFeature>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct FleetFeature {
    feature: Feature,
    parity: crate::cutover::ParityCounts,
    pages_reporting: u64,
    users_reporting: u64,
    pages: crate::cutover::PageCounts,
    gate: crate::cutover::GateVerdict,
}

/// What every open page has reported, and each gate's verdict (`GET /api/cutover`, every 5 s):
/// the proof an operator looks for before going live. Filled in by the browser.
#[component]
fn Fleet() -> impl IntoView {
    let status = RwSignal::new(None::<FleetStatus>);
    follow("/api/cutover".to_string(), status);
    let row = move |feature: Feature| {
        let name = feature.name();
        let of = move || {
            status.with(|s| {
                s.as_ref()
                    .and_then(|s| s.features.iter().find(|f| f.feature == feature).cloned())
            })
        };
        let parity = move || {
            of().map(|f| {
                let samples = f.parity.samples();
                if samples == 0 {
                    "no samples".to_string()
                } else {
                    format!(
                        "{}/{} ({:.2} %)",
                        f.parity.matched,
                        samples,
                        f.parity.matched as f64 / samples as f64 * 100.0
                    )
                }
            })
        };
        let pages = move || {
            of().map(|f| {
                format!(
                    "{} pages, {} users · {} on WS, {} fell back, {} unconfirmed",
                    f.pages_reporting,
                    f.users_reporting,
                    f.pages.websocket,
                    f.pages.fallen_back,
                    f.pages.unconfirmed
                )
            })
        };
        let gate = move || {
            of().map(|f| {
                if f.gate.open {
                    "open".to_string()
                } else {
                    format!("closed: {}", f.gate.missing.join("; "))
                }
            })
        };
        view! {
            <tr data-testid=format!("fleet-{name}")>
                <th scope="row">{feature.display_name()}</th>
                <td class="num">{move || parity().unwrap_or_else(|| "…".into())}</td>
                <td>{move || pages().unwrap_or_default()}</td>
                <td class="diff" data-testid=format!("fleet-gate-{name}")>{move || gate().unwrap_or_default()}</td>
            </tr>
        }
    };
    view! {
        <h3 class="fleet-title">"Every open page"</h3>
        <div class="table-wrap">
            <table class="fleet-table">
                <thead>
                    <tr>
                        <th scope="col">"Feature"</th>
                        <th scope="col" class="num">"Parity (matched/samples)"</th>
                        <th scope="col">"Pages"</th>
                        <th scope="col">"Gate to go live"</th>
                    </tr>
                </thead>
                <tbody>{Feature::ALL.map(row).into_iter().collect_view()}</tbody>
            </table>
        </div>
    }
}

/// How many changes the audit trail shows (the CLI's `thor cutover history` shows more).
const AUDIT_SHOWN: u32 = 8;

/// The latest flag changes, newest first (`GET /api/cutover/audit`, every 5 s): who changed what,
/// why, and the evidence it was judged on; an automatic rollback says what its judge saw.
#[component]
fn AuditTrail() -> impl IntoView {
    let entries = RwSignal::new(None::<Vec<crate::cutover::AuditEntry>>);
    follow(format!("/api/cutover/audit?limit={AUDIT_SHOWN}"), entries);
    let rows = move || {
        entries.with(|list| match list {
            None => view! { <tr><td colspan="5">"…"</td></tr> }.into_any(),
            Some(list) if list.is_empty() => {
                view! { <tr><td colspan="5">"No changes yet."</td></tr> }.into_any()
            }
            Some(list) => list
                .iter()
                .map(|e| {
                    let when = chrono::DateTime::from_timestamp_millis(e.at)
                        .map(|t| crate::timefmt::hh_mm_ss(&t))
                        .unwrap_or_default();
                    let who = e.who();
                    view! {
                        <tr data-testid=format!("audit-{}", e.version)>
                            <td class="num">{when}</td>
                            <td data-testid="audit-who">{who}</td>
                            <td>{format!("{}: {} → {}", e.feature.name(), e.from.stage, e.to.stage)}</td>
                            <td data-testid="audit-reason">{e.reason.clone()}</td>
                            <td class="diff" data-testid="audit-evidence">{e.evidence_summary()}</td>
                        </tr>
                    }
                })
                .collect_view()
                .into_any(),
        })
    };
    view! {
        <h3 class="fleet-title">"Latest changes (UTC)"</h3>
        <div class="table-wrap">
            <table class="fleet-table" data-testid="audit-trail">
                <thead>
                    <tr>
                        <th scope="col" class="num">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Change"</th>
                        <th scope="col">"Why"</th>
                        <th scope="col">"Evidence"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// Enable, shadow, disable or ramp a feature, or roll everything back; each with a reason.
#[component]
fn OperatorControls() -> impl IntoView {
    let feature = RwSignal::new(Feature::AccountBalance.name().to_string());
    let ramp = RwSignal::new("100".to_string());
    let force = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);

    let act = move |action: Action| {
        let reason = match reason.get_untracked().parse::<Reason>() {
            Ok(reason) => reason,
            Err(e) => {
                outcome.set(Some((false, capitalized(&e))));
                return;
            }
        };
        let Ok(feature) = Feature::parse(&feature.get_untracked()) else {
            outcome.set(Some((false, "Choose a feature.".into())));
            return;
        };
        let ramp = match ramp.get_untracked().parse::<Ramp>() {
            Ok(ramp) => ramp,
            Err(e) => {
                outcome.set(Some((false, capitalized(&e))));
                return;
            }
        };
        busy.set(true);
        send(
            action,
            feature,
            ramp,
            force.get_untracked(),
            reason,
            outcome,
            busy,
        );
    };

    view! {
        <form class="controls" data-testid="operator-controls" on:submit=|ev| ev.prevent_default()>
            <h3>"Operator controls"</h3>
            <div class="control-row">
                <label for="control-feature">"Feature"</label>
                <select id="control-feature" data-testid="control-feature"
                    prop:value=move || feature.get()
                    on:change=move |ev| feature.set(event_target_value(&ev))>
                    {Feature::ALL.map(|f| view! { <option value=f.name()>{f.display_name()}</option> }).into_iter().collect_view()}
                </select>
                <label for="control-ramp">"Ramp %"</label>
                <input id="control-ramp" data-testid="control-ramp" type="number" min="1" max="100" size="4"
                    prop:value=move || ramp.get()
                    on:input=move |ev| ramp.set(event_target_value(&ev))/>
                <label class="check">
                    <input type="checkbox" data-testid="control-force"
                        prop:checked=move || force.get()
                        on:change=move |ev| force.set(event_target_checked(&ev))/>
                    "Skip the gate (forced)"
                </label>
            </div>
            <div class="control-row">
                <label for="control-reason">"Reason"</label>
                <input id="control-reason" data-testid="control-reason" type="text" maxlength="500" required
                    placeholder="why, for the audit trail"
                    prop:value=move || reason.get()
                    on:input=move |ev| reason.set(event_target_value(&ev))/>
            </div>
            <div class="control-row buttons">
                <button type="button" data-testid="control-live" disabled=move || busy.get() on:click=move |_| act(Action::Live)>"Enable (WebSocket)"</button>
                <button type="button" data-testid="control-shadow" disabled=move || busy.get() on:click=move |_| act(Action::Shadow)>"Shadow"</button>
                <button type="button" data-testid="control-rest" disabled=move || busy.get() on:click=move |_| act(Action::Rest)>"Disable (REST)"</button>
                <button type="button" class="danger" data-testid="control-rollback" disabled=move || busy.get() on:click=move |_| act(Action::RollbackAll)>"Roll back everything"</button>
            </div>
            <p
                class=move || match outcome.get() {
                    Some((true, _)) => "outcome ok",
                    _ => "outcome refused",
                }
                role="status"
                data-testid="control-outcome"
            >
                {move || outcome.get().map(|(_, text)| text)}
            </p>
        </form>
    }
}

/// A refusal from a shared rule, as the page says it: a sentence. The rules are written in
/// English, so an ASCII first letter is all there is to capitalise (Unicode's case tables stay
/// out of the bundle).
fn capitalized(message: &str) -> String {
    if message.is_empty() {
        return String::new();
    }
    let mut sentence = message.to_string();
    if let Some(first) = sentence.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    sentence.push('.');
    sentence
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Live,
    Shadow,
    Rest,
    RollbackAll,
}

#[cfg(feature = "hydrate")]
fn send(
    action: Action,
    feature: Feature,
    ramp: Ramp,
    force: bool,
    reason: Reason,
    outcome: RwSignal<Option<(bool, String)>>,
    busy: RwSignal<bool>,
) {
    use crate::cutover::{ChangeRequest, RollbackRequest, Stage};
    use gloo_net::http::Request;
    leptos::task::spawn_local(async move {
        let (url, body) = match action {
            Action::RollbackAll => (
                "/api/cutover/rollback".to_string(),
                serde_json::to_string(&RollbackRequest { reason }).map_err(|e| e.to_string()),
            ),
            _ => {
                let stage = match action {
                    Action::Live => Stage::Live,
                    Action::Shadow => Stage::Shadow,
                    _ => Stage::Rest,
                };
                let body = ChangeRequest::new(
                    stage,
                    (stage == Stage::Live).then_some(ramp),
                    reason,
                    force && stage == Stage::Live,
                )
                .and_then(|request| serde_json::to_string(&request).map_err(|e| e.to_string()));
                (format!("/api/cutover/{}", feature.name()), body)
            }
        };
        let result = match body {
            Ok(body) => match Request::post(&url)
                .header("content-type", "application/json")
                .body(body)
            {
                Ok(request) => request.send().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let said = match result {
            Ok(response) => {
                let ok = response.ok();
                let text = response.text().await.unwrap_or_default();
                let message = crate::dashboard::api_error_message(&text);
                match (ok, message) {
                    (true, _) => (
                        true,
                        "Done: the flags are on their way to every page.".to_string(),
                    ),
                    (false, Some(message)) => (false, message),
                    (false, None) => (false, format!("Refused (HTTP {})", response.status())),
                }
            }
            Err(e) => (false, format!("Cannot reach the server: {e}")),
        };
        outcome.set(Some(said));
        busy.set(false);
    });
}

#[cfg(not(feature = "hydrate"))]
fn send(
    _action: Action,
    _feature: Feature,
    _ramp: Ramp,
    _force: bool,
    _reason: Reason,
    _outcome: RwSignal<Option<(bool, String)>>,
    busy: RwSignal<bool>,
) {
    busy.set(false);
}
