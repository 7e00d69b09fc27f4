//! Orders on the signed-in trader's paper account: `GET /api/orders` (their open orders and
//! today's finished ones, as last pushed on the socket), `POST /api/orders` (place one; a retry
//! with the same `client_order_id` returns the same order) and `DELETE /api/orders/{id}`
//! (cancel an open one). Nobody reaches another account's orders: every query is by the
//! session's own account, and another's order id is "not found".

use super::{ApiError, latest, parse_json};
use crate::auth::OwnAccount;
use crate::jobs::orders::push_accounts;
use crate::state::AppState;
use crate::trading::orders::{self, Refusal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeSet;
use thor_core::feature::Feature;
use thor_core::order::{Order, OrderRequest};
use thor_core::protocol::Topic;

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(why) => ApiError::BadRequest(why),
            Refusal::Conflict(why) => ApiError::Conflict(why),
            Refusal::NotFound(why) => ApiError::NotFound(why),
            Refusal::Database(e) => ApiError::database(e),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::Orders);
    latest::latest_for_account(&state, account, Topic::Orders)
}

/// Pushes the account's orders, positions and balance (what it may spend changed) at once when
/// this instance publishes (holds the jobs lease); otherwise the lease holder does within a
/// second.
async fn push(state: &AppState, account: i64) {
    if !state.lease.holds() {
        return;
    }
    if let Err(e) = push_accounts(&state.desk, &BTreeSet::from([account])).await {
        tracing::warn!(error = %format!("{e:#}"), account, "cannot push the orders now; the jobs will");
    }
}

/// 201 with the new order; 200 with the order a retried key placed before.
pub async fn place(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
    body: Bytes,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let request: OrderRequest = parse_json(&body)?;
    let placed = orders::place(
        &state.db,
        account,
        &request,
        &state.symbols,
        state.clock.now(),
    )
    .await?;
    if placed.new {
        push(&state, account).await;
        Ok((StatusCode::CREATED, Json(placed.order)))
    } else {
        Ok((StatusCode::OK, Json(placed.order)))
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("you have no order {id:?}")))?;
    let order = orders::cancel(&state.db, account, id, state.clock.now()).await?;
    push(&state, account).await;
    Ok(Json(order))
}
