//! The global market feature's REST resource ([`Feature::GlobalMarket`]'s `rest_path`): every
//! exchange's session state, as last pushed on the socket.
//!
//! [`Feature::GlobalMarket`]: thor_core::feature::Feature::GlobalMarket

use super::{ApiError, latest};
use crate::hub::Audience;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use thor_core::feature::Feature;
use thor_core::protocol::Topic;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::GlobalMarket);
    latest::latest_message(state.hub.latest(Topic::MarketStatus, Audience::Everyone))
}
