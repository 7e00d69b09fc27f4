//! The positions feature's REST resource ([`Feature::Positions`]'s `rest_path`): the signed-in
//! trader's positions, as last pushed on the socket.
//!
//! [`Feature::Positions`]: thor_core::feature::Feature::Positions

use super::{ApiError, latest};
use crate::auth::OwnAccount;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use thor_core::feature::Feature;
use thor_core::protocol::Topic;

pub async fn list(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::Positions);
    latest::latest_for_account(&state, account, Topic::Positions)
}
