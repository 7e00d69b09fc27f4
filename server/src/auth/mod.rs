//! Who is signed in, and who may try: users with Argon2id password hashes (checked a few at a
//! time), the sign-in throttle, sessions behind an HttpOnly cookie looked up through one cache
//! ([`Sessions`]) whose ends close their sockets, the same-origin rule for everything that
//! changes state, and the [`CurrentUser`], [`OwnAccount`] and [`Operator`] extractors REST
//! handlers use.

mod origin;
mod password;
mod rules;
mod session;
mod sessions;
mod throttle;
mod users;

pub use origin::{refuse_cross_site, same_origin};
pub use password::{PasswordChecks, hash_password, verify_password};
pub use session::{
    COOKIE_NAME, SESSION_TTL, clear_cookie, cookie, create_session, delete_session, ramp_bucket,
    session_cookie, token_from_headers, token_hash, user_for_token,
};
pub use sessions::{CACHE_TTL, Ended, SWEEP_EVERY, Sessions, SignedIn, announce};
pub use throttle::LoginThrottle;
pub use users::{
    DEFAULT_USERS, Listed, Outcome, PASSWORD_RULE, Role, SignIn, USERNAME_RULE, User, add_user,
    authenticate, check_password_rule, check_username, default_passwords_in_use, list_users,
    record_sign_in, seed_default_users, set_disabled, set_password, set_role, user_exists,
};

use crate::error::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::sync::Arc;

/// The request's live session, looked up once per request (later extractors reuse it).
async fn signed_in<S>(parts: &mut Parts, state: &S) -> Result<Option<Arc<SignedIn>>, ApiError>
where
    Sessions: FromRef<S>,
{
    if let Some(known) = parts.extensions.get::<Arc<SignedIn>>() {
        return Ok(Some(known.clone()));
    }
    let found = Sessions::from_ref(state).signed_in(&parts.headers).await?;
    if let Some(found) = &found {
        parts.extensions.insert(found.clone());
    }
    Ok(found)
}

/// The signed-in user of a request, or a 401.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S> FromRequestParts<S> for CurrentUser
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts, state)
            .await?
            .map(|signed_in| CurrentUser(signed_in.user.clone()))
            .ok_or(ApiError::Unauthorized)
    }
}

/// The signed-in trader's own paper account: 401 for nobody, 404 for a user without one (an
/// operator).
#[derive(Debug, Clone, Copy)]
pub struct OwnAccount(pub i64);

impl<S> FromRequestParts<S> for OwnAccount
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let signed_in = signed_in(parts, state)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        signed_in
            .account
            .map(OwnAccount)
            .ok_or_else(|| ApiError::NotFound("you have no paper account".into()))
    }
}

/// A signed-in operator: 401 for nobody, 403 for a signed-in trader. A handler that takes one
/// cannot run for anyone else.
#[derive(Debug, Clone)]
pub struct Operator(pub User);

impl<S> FromRequestParts<S> for Operator
where
    Sessions: FromRef<S>,
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
