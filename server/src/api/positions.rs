//! The positions feature's REST resource ([`Feature::Positions`]'s `rest_path`): the signed-in
//! trader's positions, as last pushed on the socket.
//!
//! [`Feature::Positions`]: app::feature::Feature::Positions

use super::{ApiError, latest};
use crate::auth::OwnAccount;
use crate::state::AppState;
use app::feature::Feature;
use app::protocol::Topic;
use axum::extract::State;
use axum::response::Response;

pub async fn list(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::Positions);
    latest::latest_for_account(&state, account, Topic::Positions)
}
