use crate::cutover::{Flag, Stage};
use crate::dashboard::format;
use crate::dashboard::use_board;
use crate::feature::Feature;
use leptos::prelude::*;

/// The seeds' marks for a flag: ✅ WS when live for everyone, ⚡ while ramping, ⚪ REST otherwise.
fn mark(flag: Flag) -> &'static str {
    match flag.stage {
        Stage::Live if flag.ramp < 100 => "⚡ Transitioning",
        Stage::Live => "✅ WS",
        Stage::Rest | Stage::Shadow => "⚪ REST",
    }
}

fn stage_text(flag: Flag) -> String {
    match flag.stage {
        Stage::Live if flag.ramp < 100 => format!("live for {} %", flag.ramp),
        stage => stage.as_str().to_string(),
    }
}

/// The shadow monitor: per feature its stage, this page's source, the socket, the age of the
/// last update and the parity this page has seen. Operators also get the controls.
#[component]
pub fn CutoverPanel() -> impl IntoView {
    let board = use_board();
    let live = board.live;
    let rows = Feature::ALL.map(|feature| {
        let name = feature.name();
        let flag = move || board.flags.with(|f| f.as_ref().map(|f| f.flag(feature)));
        let age = move || {
            let now = board.now_ms();
            board
                .received_at(feature)
                .map(|at| format::age(now - at))
                .unwrap_or_else(|| "—".into())
        };
        let parity = board.parity(feature);
        let samples = move || parity.with(|p| p.counts.samples());
        let rate = move || {
            parity.with(|p| {
                let samples = p.counts.samples();
                if samples == 0 {
                    "—".to_string()
                } else {
                    format!("{:.1} %", p.counts.matched as f64 / samples as f64 * 100.0)
                }
            })
        };
        let mismatches = move || parity.with(|p| p.counts.mismatched + p.counts.missing_on_ws);
        let diff = move || {
            parity.with(|p| p.last_diff.as_ref().map(|d| d.to_string()))
                .unwrap_or_else(|| "—".into())
        };
        view! {
            <tr data-testid=format!("cutover-{name}")>
                <th scope="row">{feature.display_name()}</th>
                <td data-testid=format!("cutover-mark-{name}")>{move || flag().map(mark).unwrap_or("…")}</td>
                <td data-testid=format!("cutover-stage-{name}")>{move || flag().map(stage_text).unwrap_or_default()}</td>
                <td data-testid=format!("cutover-source-{name}")>{move || board.source(feature).get().label()}</td>
                <td>{move || live.state.get().label()}</td>
                <td class="num">{age}</td>
                <td class="num" data-testid=format!("parity-samples-{name}")>{samples}</td>
                <td class="num" data-testid=format!("parity-rate-{name}")>{rate}</td>
                <td class="num" data-testid=format!("parity-mismatches-{name}")>{mismatches}</td>
                <td class="diff" data-testid=format!("parity-diff-{name}")>{diff}</td>
            </tr>
        }
    });
    let mode = move || {
        board
            .flags
            .with(|f| f.as_ref().map(|f| crate::cutover::Mode::of(f).headline()))
            .unwrap_or("Waiting for the flags…")
    };
    view! {
        <section class="panel cutover" aria-labelledby="cutover-title" data-testid="panel-cutover">
            <header class="panel-head">
                <h2 id="cutover-title">"Cutover Status"</h2>
                <span class="mode" data-testid="cutover-mode">{mode}</span>
            </header>
            <div class="table-wrap">
                <table class="cutover-table">
                    <thead>
                        <tr>
                            <th scope="col">"Feature"</th>
                            <th scope="col">"Flag"</th>
                            <th scope="col">"Stage"</th>
                            <th scope="col">"This page"</th>
                            <th scope="col">"Socket"</th>
                            <th scope="col" class="num">"Last update"</th>
                            <th scope="col" class="num">"Samples"</th>
                            <th scope="col" class="num">"Match"</th>
                            <th scope="col" class="num">"Mismatches"</th>
                            <th scope="col">"Last diff"</th>
                        </tr>
                    </thead>
                    <tbody>{Vec::from(rows)}</tbody>
                </table>
            </div>
            <p class="hint">"Parity counts what this page compared since it loaded."</p>
            {board.operator.then(|| view! { <super::operator::OperatorTools/> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_follow_the_seeds() {
        assert_eq!(mark(Flag::new(Stage::Live)), "✅ WS");
        assert_eq!(
            mark(Flag {
                stage: Stage::Live,
                ramp: 25
            }),
            "⚡ Transitioning"
        );
        assert_eq!(mark(Flag::new(Stage::Shadow)), "⚪ REST");
        assert_eq!(
            stage_text(Flag {
                stage: Stage::Live,
                ramp: 25
            }),
            "live for 25 %"
        );
        assert_eq!(stage_text(Flag::new(Stage::Shadow)), "shadow");
    }
}
