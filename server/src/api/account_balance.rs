//! The account balance feature's REST resource ([`Feature::AccountBalance`]'s `rest_path`): the
//! signed-in trader's balance, as last pushed on the socket.
//!
//! [`Feature::AccountBalance`]: thor_core::feature::Feature::AccountBalance

use super::{ApiError, latest};
use crate::auth::OwnAccount;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use thor_core::feature::Feature;
use thor_core::protocol::Topic;

pub async fn balance(
    State(state): State<AppState>,
    OwnAccount(account): OwnAccount,
) -> Result<Response, ApiError> {
    state.cutover.count_rest(Feature::AccountBalance);
    latest::latest_for_account(&state, account, Topic::AccountBalance)
}
