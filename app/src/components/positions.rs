use super::PanelHead;
use super::change;
use crate::account::{Position, Positions};
use crate::dashboard::format;
use crate::dashboard::use_websocket_aware;
use leptos::prelude::*;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Symbol,
    Quantity,
    Entry,
    Last,
    Value,
    Pnl,
    PnlPct,
}

impl Column {
    const ALL: [Column; 7] = [
        Column::Symbol,
        Column::Quantity,
        Column::Entry,
        Column::Last,
        Column::Value,
        Column::Pnl,
        Column::PnlPct,
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Symbol => "Symbol",
            Column::Quantity => "Qty",
            Column::Entry => "Entry",
            Column::Last => "Last",
            Column::Value => "Mkt value",
            Column::Pnl => "P&L",
            Column::PnlPct => "P&L %",
        }
    }

    /// The header button's test id (written out: `{:?}` and `to_lowercase` would bring Unicode's
    /// case tables into the browser's bundle for seven fixed words).
    fn test_id(self) -> &'static str {
        match self {
            Column::Symbol => "sort-symbol",
            Column::Quantity => "sort-quantity",
            Column::Entry => "sort-entry",
            Column::Last => "sort-last",
            Column::Value => "sort-value",
            Column::Pnl => "sort-pnl",
            Column::PnlPct => "sort-pnlpct",
        }
    }

    /// What the column holds, in full (the header's tooltip and accessible description).
    fn description(self) -> &'static str {
        match self {
            Column::Symbol => "Symbol",
            Column::Quantity => "Quantity (shares)",
            Column::Entry => "Entry price",
            Column::Last => "Last price",
            Column::Value => "Market value",
            Column::Pnl => "Unrealised profit and loss, dollars",
            Column::PnlPct => "Unrealised profit and loss, percent of cost",
        }
    }

    fn compare(self, a: &Position, b: &Position) -> Ordering {
        let by = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
        match self {
            Column::Symbol => a.symbol.cmp(&b.symbol),
            Column::Quantity => a.quantity.cmp(&b.quantity),
            Column::Entry => by(a.entry_price, b.entry_price),
            Column::Last => by(a.current_price, b.current_price),
            Column::Value => by(a.market_value, b.market_value),
            Column::Pnl => by(a.pnl, b.pnl),
            Column::PnlPct => by(a.pnl_pct, b.pnl_pct),
        }
    }
}

/// The positions in `order`, by `column`.
fn sorted(positions: &[Position], column: Column, ascending: bool) -> Vec<Position> {
    let mut rows = positions.to_vec();
    rows.sort_by(|a, b| {
        let order = column.compare(a, b).then_with(|| a.symbol.cmp(&b.symbol));
        if ascending { order } else { order.reverse() }
    });
    rows
}

/// Market value, P&L and P&L against the cost of every position.
fn totals(positions: &[Position]) -> (f64, f64, f64) {
    let value: f64 = positions.iter().map(|p| p.market_value).sum();
    let pnl: f64 = positions.iter().map(|p| p.pnl).sum();
    let cost: f64 = positions
        .iter()
        .map(|p| p.entry_price * p.quantity as f64)
        .sum();
    let pct = if cost.abs() > f64::EPSILON {
        pnl / cost.abs() * 100.0
    } else {
        0.0
    };
    (value, pnl, pct)
}

/// The trader's positions, sortable by any column, with totals.
#[component]
pub fn PositionsPanel() -> impl IntoView {
    let feed = use_websocket_aware::<Positions>();
    let sort = RwSignal::new((Column::Value, false));
    let rows = move || {
        let (column, ascending) = sort.get();
        feed.data.with(|d| {
            d.as_ref()
                .map(|d| sorted(&d.value.positions, column, ascending))
        })
    };
    // Loading (`None`), no positions, or some: the table is rebuilt only when this changes.
    let shape = Memo::new(move |_| {
        feed.data
            .with(|d| d.as_ref().map(|d| !d.value.positions.is_empty()))
    });
    let header = move |column: Column| {
        let aria = move || match sort.get() {
            (c, true) if c == column => "ascending",
            (c, false) if c == column => "descending",
            _ => "none",
        };
        let mark = move || match sort.get() {
            (c, true) if c == column => "↑",
            (c, false) if c == column => "↓",
            _ => "",
        };
        let numeric = column != Column::Symbol;
        view! {
            <th scope="col" aria-sort=aria class:num=numeric>
                <button
                    type="button"
                    class="sort"
                    title=column.description()
                    aria-label=format!("{}: sort", column.description())
                    data-testid=column.test_id()
                    on:click=move |_| sort.update(|(c, asc)| {
                        if *c == column {
                            *asc = !*asc;
                        } else {
                            *c = column;
                            *asc = column == Column::Symbol;
                        }
                    })
                >
                    {column.title()}
                    <span class="sort-mark" aria-hidden="true">{mark}</span>
                </button>
            </th>
        }
    };
    view! {
        <section class="panel positions" aria-labelledby="positions-title" data-testid="panel-positions">
            <PanelHead feature=feed.feature source=feed.source age_ms=feed.age_ms freshness=feed.freshness seq=feed.seq/>
            {move || match shape.get() {
                None => None,
                Some(false) => Some(view! {
                    <p class="empty" data-testid="positions-empty">"No open positions."</p>
                }.into_any()),
                // The table and its sort buttons stay put (and keep the keyboard focus); only the
                // rows and totals follow the data and the order.
                Some(true) => Some(view! {
                    <div class="table-wrap">
                        <table class="positions-table" data-testid="positions-table">
                            <thead>
                                <tr>{Column::ALL.map(header).into_iter().collect_view()}</tr>
                            </thead>
                            <tbody>
                                {move || rows().unwrap_or_default().into_iter().map(|p| view! {
                                    <tr data-testid="position-row" data-symbol=p.symbol.clone()>
                                        <th scope="row">{p.symbol.clone()}</th>
                                        <td class="num">{format::number(p.quantity as f64, 0)}</td>
                                        <td class="num">{format::money(p.entry_price)}</td>
                                        <td class="num">{format::money(p.current_price)}</td>
                                        <td class="num">{format::money(p.market_value)}</td>
                                        <td class="num">{change(p.pnl, false)}</td>
                                        <td class="num">{change(p.pnl_pct, true)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                            <tfoot>
                                {move || {
                                    let (value, pnl, pct) = totals(&rows().unwrap_or_default());
                                    view! {
                                        <tr data-testid="positions-totals">
                                            <th scope="row" colspan="4">"Total"</th>
                                            <td class="num" data-testid="positions-total-value">{format::money(value)}</td>
                                            <td class="num" data-testid="positions-total-pnl">{change(pnl, false)}</td>
                                            <td class="num">{change(pct, true)}</td>
                                        </tr>
                                    }
                                }}
                            </tfoot>
                        </table>
                    </div>
                }.into_any()),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(symbol: &str, quantity: i64, entry: f64, last: f64) -> Position {
        Position {
            symbol: symbol.into(),
            quantity,
            entry_price: entry,
            current_price: last,
            market_value: quantity as f64 * last,
            pnl: quantity as f64 * (last - entry),
            pnl_pct: (last - entry) / entry * 100.0,
        }
    }

    #[test]
    fn rows_sort_by_any_column_either_way() {
        let rows = [
            position("MSFT", 5, 400.0, 410.0),
            position("AAPL", 10, 200.0, 190.0),
            position("SPY", 1, 500.0, 505.0),
        ];
        let symbols = |rows: Vec<Position>| rows.into_iter().map(|p| p.symbol).collect::<Vec<_>>();
        assert_eq!(
            symbols(sorted(&rows, Column::Symbol, true)),
            ["AAPL", "MSFT", "SPY"]
        );
        assert_eq!(
            symbols(sorted(&rows, Column::Value, false)),
            ["MSFT", "AAPL", "SPY"]
        );
        assert_eq!(
            symbols(sorted(&rows, Column::Pnl, true)),
            ["AAPL", "SPY", "MSFT"]
        );
        assert_eq!(
            symbols(sorted(&rows, Column::Quantity, false)),
            ["AAPL", "MSFT", "SPY"]
        );
    }

    #[test]
    fn totals_add_up_and_the_percent_is_against_the_cost() {
        let rows = [
            position("AAPL", 10, 200.0, 190.0),
            position("SPY", 2, 500.0, 525.0),
        ];
        let (value, pnl, pct) = totals(&rows);
        assert!((value - 2_950.0).abs() < 1e-9);
        assert!((pnl - -50.0).abs() < 1e-9);
        assert!((pct - -50.0 / 3_000.0 * 100.0).abs() < 1e-9);
        assert_eq!(totals(&[]), (0.0, 0.0, 0.0));
    }
}
