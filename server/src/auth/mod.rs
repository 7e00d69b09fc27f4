//! Who is signed in: users with Argon2id password hashes, sessions behind an HttpOnly cookie,
//! the one session lookup ([`session_user`]), and the [`CurrentUser`] and [`Operator`]
//! extractors REST handlers use.

mod origin;
mod password;
mod session;
mod users;

pub use origin::same_origin;
pub use password::{hash_password, verify_password};
pub use session::{
    COOKIE_NAME, SESSION_TTL, clear_cookie, create_session, delete_session, ramp_bucket,
    session_cookie, token_from_headers, user_for_token,
};
pub use users::{
    DEFAULT_USERS, Role, User, authenticate, default_passwords_in_use, seed_default_users,
    set_password,
};

use crate::db::Database;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The user behind the request's session cookie, if it names a live session: the one session
/// lookup that REST ([`CurrentUser`], [`Operator`]), the pages and `/ws` all go through.
pub async fn session_user(db: &Database, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let Some(token) = token_from_headers(headers) else {
        return Ok(None);
    };
    user_for_token(db, &token).await.map_err(ApiError::database)
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The signed-in user of a request, or a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if let Some(presented) = bearer_token(&parts.headers) {
            // The local operator credential `thor cutover` uses on the server's machine.
            return if crate::local_operator::matches(&state.operator_token, presented) {
                Ok(CurrentUser(User {
                    id: 0,
                    username: crate::local_operator::NAME.to_string(),
                    role: Role::Operator,
                    default_password: false,
                }))
            } else {
                Err(ApiError::Unauthorized)
            };
        }
        session_user(&state.db, &parts.headers)
            .await?
            .map(CurrentUser)
            .ok_or(ApiError::Unauthorized)
    }
}

/// A signed-in operator: 401 for nobody, 403 for a signed-in trader. A handler that takes one
/// cannot run for anyone else.
#[derive(Debug, Clone)]
pub struct Operator(pub User);

impl<S> FromRequestParts<S> for Operator
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        match user.role {
            Role::Operator => Ok(Operator(user)),
            Role::Trader => Err(ApiError::Forbidden(
                "only an operator may do this".to_string(),
            )),
        }
    }
}
