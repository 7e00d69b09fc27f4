//! The global market feature's REST resource ([`Feature::GlobalMarket`]'s `rest_path`): every
//! exchange's session state, as last pushed on the socket.
//!
//! [`Feature::GlobalMarket`]: app::feature::Feature::GlobalMarket

use super::{ApiError, latest};
use crate::hub::Audience;
use crate::state::AppState;
use app::feature::Feature;
use app::protocol::Topic;
use axum::extract::State;
use axum::response::Response;

pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::GlobalMarket);
    latest::latest_message(state.hub.latest(Topic::MarketStatus, Audience::Everyone))
}
