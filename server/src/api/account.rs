//! `GET /api/account/balance`: the signed-in trader's balance, as last pushed on the socket.

use super::{ApiError, live};
use crate::auth::CurrentUser;
use crate::hub::Audience;
use crate::state::AppState;
use crate::trading::accounts;
use app::protocol::Topic;
use axum::extract::State;
use axum::response::Response;

pub async fn balance(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let account = own_account(&state, user.id).await?;
    live::latest_message(
        state
            .hub
            .latest(Topic::AccountBalance, Audience::Account(account)),
    )
}

/// The signed-in user's paper account, or 404 for a user without one (an operator).
pub async fn own_account(state: &AppState, user_id: i64) -> Result<i64, ApiError> {
    accounts::account_id_of(&state.db, user_id)
        .await
        .map_err(ApiError::database)?
        .ok_or_else(|| ApiError::NotFound("you have no paper account".into()))
}
