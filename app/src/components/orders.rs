use super::PanelHead;
use crate::dashboard::{format, use_board, use_websocket_aware};
use crate::order::{
    MAX_QUANTITY, Order, OrderRequest, OrderStatus, OrderType, Orders, Side, TimeInForce,
    market_buy_hold_cents,
};
use leptos::prelude::*;

/// The ticket's fields as typed.
#[derive(Debug, Clone, PartialEq)]
struct Ticket {
    symbol: String,
    side: Side,
    quantity: String,
    order_type: OrderType,
    limit_price: String,
    time_in_force: TimeInForce,
}

impl Ticket {
    /// The checked request (the same checks as the server's), under the idempotency `key`.
    fn request(&self, key: &str) -> Result<OrderRequest, String> {
        let quantity = typed_number(&self.quantity)
            .ok_or_else(|| format!("quantity: a whole number of shares, 1 to {MAX_QUANTITY}"))?;
        let limit = match self.order_type {
            OrderType::Market => None,
            OrderType::Limit => Some(
                typed_number(
                    &self
                        .limit_price
                        .trim()
                        .trim_start_matches('$')
                        .replace(',', ""),
                )
                .ok_or_else(|| "limit price: dollars and cents, e.g. 226.19".to_string())?,
            ),
        };
        OrderRequest::new(
            &self.symbol,
            self.side,
            quantity,
            self.order_type,
            limit,
            self.time_in_force,
            key,
        )
        .map_err(|e| e.to_string())
    }
}

/// A number as a trader types it (`10`, `+10`, `010`, `226.19`, `.5`, `5.`), read by
/// `serde_json`'s number reader, which the page carries anyway, instead of `str::parse::<f64>`:
/// that one brings the standard library's decimal-to-float tables, 19 KB of the bundle (11 KB of
/// them a table that does not compress). The forms JSON does not allow are made JSON first.
fn typed_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let mut digits = text;
    while digits.len() > 1
        && digits.starts_with('0')
        && digits[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        digits = &digits[1..];
    }
    if digits == "." {
        return None;
    }
    let mut json = String::with_capacity(digits.len() + 2);
    if digits.starts_with('.') {
        json.push('0');
    }
    json.push_str(digits);
    if digits.ends_with('.') {
        json.push('0');
    }
    serde_json::from_str(&json).ok()
}

/// What the confirmation says the order will do and cost, at `last` (the symbol's last known
/// price, if the page has one).
fn confirmation(request: &OrderRequest, last: Option<f64>) -> String {
    let side = match request.side() {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    };
    let quantity = request.quantity();
    let symbol = request.symbol().as_str();
    let lasts = match request.time_in_force() {
        TimeInForce::Day => "for the session",
        TimeInForce::Gtc => "until cancelled",
    };
    let (price, at) = match request.limit_price_cents() {
        Some(cents) => {
            let limit = cents as f64 / 100.0;
            (
                Some(limit),
                format!("at {} or better", format::money(limit)),
            )
        }
        None => (last, "at market".to_string()),
    };
    let amount = |p: f64| format::money(p * quantity as f64);
    let cost = match (request.side(), request.order_type(), price) {
        (Side::Buy, OrderType::Market, Some(p)) => format!(
            ": about {}, holding {} of buying power until it fills",
            amount(p),
            format::money(
                market_buy_hold_cents((p * 100.0).round() as i64) as f64 / 100.0 * quantity as f64
            )
        ),
        (Side::Buy, OrderType::Limit, Some(p)) => {
            format!(
                ": at most {}, held from buying power until it fills",
                amount(p)
            )
        }
        (Side::Sell, _, Some(p)) => format!(": about {} in", amount(p)),
        (_, _, None) => ": at the next trade's price".to_string(),
    };
    format!("{side} {quantity} {symbol} {at}, {lasts}{cost}.")
}

/// An order as a line of the panel: "buy 10 AAPL limit 226.19".
fn describe(order: &Order) -> String {
    let price = order
        .limit_price
        .map(|p| format!(" limit {}", format::money(p)))
        .unwrap_or_else(|| " market".into());
    format!(
        "{} {} {}{price}",
        order.side.as_str(),
        order.quantity,
        order.symbol
    )
}

fn status_text(order: &Order) -> String {
    match (order.status, order.fill_price) {
        (OrderStatus::Filled, Some(price)) => format!("filled at {}", format::money(price)),
        (status, _) => match &order.reason {
            Some(reason) => format!("{}: {reason}", status.as_str()),
            None => status.as_str().to_string(),
        },
    }
}

/// A fresh idempotency key for one ticket (kept across retries of the same confirmation).
fn new_key() -> String {
    #[cfg(feature = "hydrate")]
    {
        format!(
            "t{:x}-{:08x}",
            js_sys::Date::now() as u64,
            (js_sys::Math::random() * 4_294_967_296.0) as u64
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        "server".to_string()
    }
}

/// The trader's orders: a keyboard-first ticket (symbol, side, quantity, type, price, time in
/// force; Enter reviews, Enter again places, Escape steps back), the open orders with a cancel
/// each, and today's finished ones.
#[component]
pub fn OrdersPanel() -> impl IntoView {
    let feed = use_websocket_aware::<Orders>();
    let board = use_board();
    let symbols = board.symbols.get_value();
    let ticket = RwSignal::new(Ticket {
        symbol: board.symbol.get_untracked(),
        side: Side::Buy,
        quantity: String::new(),
        order_type: OrderType::Market,
        limit_price: String::new(),
        time_in_force: TimeInForce::Day,
    });
    // The request under review, its idempotency key in it: placing it twice places it once.
    let review = RwSignal::new(None::<OrderRequest>);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let last_price = move |symbol: &str| -> Option<f64> {
        let held = board.positions.with(|p| {
            p.as_ref().and_then(|p| {
                p.value
                    .positions
                    .iter()
                    .find(|p| p.symbol == symbol)
                    .map(|p| p.current_price)
            })
        });
        held.or_else(|| {
            board.intraday.with(|c| {
                c.as_ref()
                    .filter(|c| c.value.symbol == symbol)
                    .and_then(|c| c.value.forming.as_ref().or(c.value.bars.last()))
                    .map(|b| b.close)
            })
        })
    };
    let edit = move |change: Box<dyn Fn(&mut Ticket)>| {
        ticket.update(|t| change(t));
        review.set(None);
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        match review.get_untracked() {
            None => match ticket.with_untracked(|t| t.request(&new_key())) {
                Ok(request) => {
                    outcome.set(None);
                    review.set(Some(request));
                }
                Err(why) => outcome.set(Some(Err(why))),
            },
            Some(request) => place(request, review, outcome, busy),
        }
    };
    let confirm_text = move || {
        review.with(|r| {
            r.as_ref()
                .map(|request| confirmation(request, last_price(request.symbol().as_str())))
        })
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            review.set(None);
        }
    };
    let open_rows = move || {
        feed.data
            .with(|d| d.as_ref().map(|d| d.value.open.clone()))
            .unwrap_or_default()
    };
    let finished_rows = move || {
        feed.data
            .with(|d| d.as_ref().map(|d| d.value.finished.clone()))
            .unwrap_or_default()
    };
    view! {
        <section class="panel orders" aria-labelledby="orders-title" data-testid="panel-orders">
            <PanelHead feature=feed.feature source=feed.source age_ms=feed.age_ms freshness=feed.freshness seq=feed.seq/>
            <form class="ticket" data-testid="order-ticket" on:submit=submit on:keydown=on_key>
                <label>"Symbol"
                    <select data-testid="ticket-symbol" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        edit(Box::new(move |t| t.symbol = v.clone()));
                    }>
                        {symbols.into_iter().map(|s| {
                            let selected = s == ticket.with_untracked(|t| t.symbol.clone());
                            view! { <option value=s.clone() selected=selected>{s.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Side"
                    <select data-testid="ticket-side" on:change=move |ev| {
                        let side = if event_target_value(&ev) == "sell" { Side::Sell } else { Side::Buy };
                        edit(Box::new(move |t| t.side = side));
                    }>
                        <option value="buy">"Buy"</option>
                        <option value="sell">"Sell"</option>
                    </select>
                </label>
                <label>"Quantity"
                    <input type="text" inputmode="numeric" autocomplete="off" data-testid="ticket-quantity"
                        prop:value=move || ticket.with(|t| t.quantity.clone())
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            edit(Box::new(move |t| t.quantity = v.clone()));
                        }/>
                </label>
                <label>"Type"
                    <select data-testid="ticket-type" on:change=move |ev| {
                        let kind = if event_target_value(&ev) == "limit" { OrderType::Limit } else { OrderType::Market };
                        edit(Box::new(move |t| t.order_type = kind));
                    }>
                        <option value="market">"Market"</option>
                        <option value="limit">"Limit"</option>
                    </select>
                </label>
                <label>"Limit price"
                    <input type="text" inputmode="decimal" autocomplete="off" data-testid="ticket-price"
                        disabled=move || ticket.with(|t| t.order_type == OrderType::Market)
                        prop:value=move || ticket.with(|t| t.limit_price.clone())
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            edit(Box::new(move |t| t.limit_price = v.clone()));
                        }/>
                </label>
                <label>"Good for"
                    <select data-testid="ticket-tif" on:change=move |ev| {
                        let tif = if event_target_value(&ev) == "gtc" { TimeInForce::Gtc } else { TimeInForce::Day };
                        edit(Box::new(move |t| t.time_in_force = tif));
                    }>
                        <option value="day">"The session"</option>
                        <option value="gtc">"Until cancelled"</option>
                    </select>
                </label>
                <div class="ticket-actions">
                    {move || match review.with(|r| r.is_some()) {
                        false => view! {
                            <button type="submit" data-testid="ticket-review">"Review order"</button>
                        }.into_any(),
                        true => view! {
                            <p class="confirm" role="status" data-testid="ticket-confirm">{confirm_text}</p>
                            <button type="submit" data-testid="ticket-place" disabled=move || busy.get()>"Place order"</button>
                            <button type="button" data-testid="ticket-back" on:click=move |_| review.set(None)>"Change"</button>
                        }.into_any(),
                    }}
                </div>
                <p class="ticket-outcome" role="status" data-testid="ticket-outcome">
                    {move || outcome.get().map(|o| match o {
                        Ok(text) => view! { <span class="ok">{text}</span> }.into_any(),
                        Err(text) => view! { <span class="error">{text}</span> }.into_any(),
                    })}
                </p>
            </form>
            <h3>"Open orders"</h3>
            {move || {
                let rows = open_rows();
                if rows.is_empty() {
                    return view! { <p class="empty" data-testid="orders-open-empty">"No open orders."</p> }.into_any();
                }
                view! {
                    <ul class="order-list" data-testid="orders-open">
                        {rows.into_iter().map(|o| {
                            let id = o.id;
                            view! {
                                <li data-testid="open-order" data-order=id data-key=o.client_order_id.clone()>
                                    <span>{describe(&o)}</span>
                                    <button type="button" data-testid="order-cancel"
                                        aria-label=format!("Cancel order {id}: {}", describe(&o))
                                        on:click=move |_| cancel(id, outcome)>"Cancel"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <h3>"Today"</h3>
            {move || {
                let rows = finished_rows();
                if rows.is_empty() {
                    return view! { <p class="empty" data-testid="orders-finished-empty">"Nothing filled or ended today."</p> }.into_any();
                }
                view! {
                    <ul class="order-list" data-testid="orders-finished">
                        {rows.into_iter().map(|o| view! {
                            <li data-testid="finished-order" data-order=o.id data-status=o.status.as_str() data-key=o.client_order_id.clone()>
                                <span>{describe(&o)}</span>
                                <span class="order-status">{status_text(&o)}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Sends the reviewed order (browser only); the panel shows it when the feed brings it.
fn place(
    request: OrderRequest,
    review: RwSignal<Option<OrderRequest>>,
    outcome: RwSignal<Option<Result<String, String>>>,
    busy: RwSignal<bool>,
) {
    #[cfg(feature = "hydrate")]
    {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = send(gloo_net::http::Request::post("/api/orders").json(&request)).await;
            busy.set(false);
            match answer {
                Ok(text) => {
                    let placed = serde_json::from_str::<Order>(&text)
                        .map(|o| format!("Order {} placed: {}.", o.id, describe(&o)))
                        .unwrap_or_else(|_| "Order placed.".into());
                    review.set(None);
                    outcome.set(Some(Ok(placed)));
                }
                Err(why) => outcome.set(Some(Err(why))),
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (request, review, outcome, busy);
}

/// Cancels an open order (browser only).
fn cancel(id: i64, outcome: RwSignal<Option<Result<String, String>>>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        let answer =
            send(gloo_net::http::Request::delete(&format!("/api/orders/{id}")).build()).await;
        outcome.set(Some(answer.map(|_| format!("Order {id} cancelled."))));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, outcome);
}

#[cfg(feature = "hydrate")]
async fn send(request: Result<gloo_net::http::Request, gloo_net::Error>) -> Result<String, String> {
    let request = request.map_err(|e| format!("cannot send the order: {e}"))?;
    crate::dashboard::send(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            symbol: "AAPL".into(),
            side: Side::Buy,
            quantity: "10".into(),
            order_type: OrderType::Market,
            limit_price: String::new(),
            time_in_force: TimeInForce::Day,
        }
    }

    #[test]
    fn the_confirmation_says_what_the_order_does_and_costs() {
        let request = ticket().request("k").expect("valid");
        assert_eq!(
            confirmation(&request, Some(226.19)),
            "Buy 10 AAPL at market, for the session: about $2,261.90, holding $2,307.20 of \
             buying power until it fills."
        );
        assert_eq!(
            confirmation(&request, None),
            "Buy 10 AAPL at market, for the session: at the next trade's price."
        );
        let mut limit = ticket();
        limit.order_type = OrderType::Limit;
        limit.limit_price = "$1,200.50".into();
        limit.time_in_force = TimeInForce::Gtc;
        limit.side = Side::Sell;
        let request = limit.request("k").expect("valid");
        assert_eq!(
            confirmation(&request, Some(226.19)),
            "Sell 10 AAPL at $1,200.50 or better, until cancelled: about $12,005.00 in."
        );
    }

    #[test]
    fn numbers_are_read_as_a_trader_types_them() {
        for (typed, value) in [
            ("10", 10.0),
            (" 10 ", 10.0),
            ("+10", 10.0),
            ("010", 10.0),
            ("0", 0.0),
            ("226.19", 226.19),
            ("0.5", 0.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("-2", -2.0),
        ] {
            assert_eq!(typed_number(typed), Some(value), "{typed:?}");
        }
        for typed in [
            "", "ten", "1,5", "1.2.3", "0x10", "inf", "NaN", "--1", ".", "1 0", "10]",
        ] {
            assert_eq!(typed_number(typed), None, "{typed:?}");
        }
    }

    #[test]
    fn a_ticket_that_is_not_an_order_says_why_before_anything_is_sent() {
        let mut bad = ticket();
        bad.quantity = "ten".into();
        assert!(bad.request("k").expect_err("words").contains("quantity"));
        bad.quantity = "1.5".into();
        assert!(
            bad.request("k")
                .expect_err("fraction")
                .contains("whole number")
        );
        let mut no_price = ticket();
        no_price.order_type = OrderType::Limit;
        assert!(
            no_price
                .request("k")
                .expect_err("no price")
                .contains("limit price")
        );
    }
}
