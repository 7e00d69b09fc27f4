use crate::dashboard::format::{self, Direction};
use leptos::prelude::*;

/// A gain or loss as a trader reads it: signed, with ▲/▼ as well as its colour.
pub fn change(value: f64, percent: bool) -> impl IntoView {
    let direction = Direction::of(value);
    let text = if percent {
        format::signed_percent(value)
    } else {
        format::signed_money(value)
    };
    view! {
        <span class=direction.class()>
            <span class="arrow" aria-hidden="true">{direction.arrow()}</span>
            {text}
        </span>
    }
}
