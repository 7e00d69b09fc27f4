//! Sessions: a random 256-bit token in an HttpOnly, SameSite=Lax cookie; the database keeps only
//! its SHA-256, so a leaked database cannot be replayed as cookies.

use super::users::{User, UserRow};
use crate::clock::now_ms;
use crate::db::Database;
use crate::on_pool;
use axum::http::{HeaderMap, HeaderValue, header};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::time::Duration;

pub const COOKIE_NAME: &str = "thor_session";
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _infallible = write!(out, "{b:02x}");
            out
        })
}

/// What the database (and the session cache) know a session by.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Starts a session for `user_id`; returns the token for the cookie.
pub async fn create_session(db: &Database, user_id: i64) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);
    let now = now_ms();
    let expires = now + SESSION_TTL.as_millis() as i64;
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(now)
    .bind(expires)
    .execute(pool)
    .await
    .map(drop))?;
    Ok(token)
}

pub async fn delete_session(db: &Database, token: &str) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(pool)
        .await
        .map(drop))
}

/// The user behind a live session token, if any.
pub async fn user_for_token(db: &Database, token: &str) -> Result<Option<User>, sqlx::Error> {
    Ok(live_session(db, &token_hash(token))
        .await?
        .map(|(user, _)| user))
}

/// The user of the live session whose token hashes to `hash`, and when it expires (ms). A
/// disabled user's session is not live, even if one was made while they were being disabled.
pub async fn live_session(db: &Database, hash: &str) -> Result<Option<(User, i64)>, sqlx::Error> {
    let row: Option<SessionRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT u.id, u.username, u.password_hash, u.role, u.default_password, s.expires_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = $3",
    )
    .bind(hash)
    .bind(now_ms())
    .bind(false)
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|row| {
        let expires_at = row.expires_at;
        row.user.into_user().map(|user| (user, expires_at))
    }))
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserRow,
    expires_at: i64,
}

/// Of the sessions named by their hashes, those still live (not deleted, not expired, not a
/// disabled user's).
pub async fn live_among(db: &Database, hashes: &[&str]) -> Result<Vec<String>, sqlx::Error> {
    // Bounded statements: SQLite allows 32,766 parameters, PostgreSQL 65,535.
    const CHUNK: usize = 500;
    let now = now_ms();
    let mut live = Vec::with_capacity(hashes.len());
    for chunk in hashes.chunks(CHUNK) {
        let found: Vec<String> = on_pool!(db, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT s.token_hash FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.expires_at > ",
            );
            query.push_bind(now).push(" AND u.disabled = ");
            query.push_bind(false).push(" AND s.token_hash IN (");
            let mut list = query.separated(", ");
            for hash in chunk {
                list.push_bind(*hash);
            }
            query.push(")");
            query.build_query_scalar().fetch_all(pool).await
        })?;
        live.extend(found);
    }
    Ok(live)
}

/// The session's ramp bucket, 0 to 99: stable for the session, spread evenly across sessions,
/// so a feature live for N % of sessions is live for the same sessions every time.
pub fn ramp_bucket(token: &str) -> u8 {
    let digest = Sha256::digest(format!("ramp:{token}").as_bytes());
    (u16::from_be_bytes([digest[0], digest[1]]) % 100) as u8
}

/// The value of the cookie `name` in the request's `Cookie` header(s), the first if repeated.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

/// The session token from the request's `Cookie` header(s).
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME)
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// The session cookie: HttpOnly and SameSite=Lax always, `Secure` when Thor is reached over
/// HTTPS (`security.secure-cookie`), so it never travels in clear text.
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_cookie(secure))
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("thor_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("thor_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_among_other_cookies_and_junk_is_ignored() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        let cookie = format!("theme=dark; {COOKIE_NAME}={token}; lang=en");
        headers.insert(header::COOKIE, cookie.parse().expect("header"));
        assert_eq!(token_from_headers(&headers), Some(token));

        let mut junk = HeaderMap::new();
        junk.insert(
            header::COOKIE,
            "thor_session=../../etc/passwd".parse().expect("header"),
        );
        assert_eq!(token_from_headers(&junk), None);
        assert_eq!(token_from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site() {
        let cookie = session_cookie(&"cd".repeat(32), false);
        let text = cookie.to_str().expect("ascii");
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.contains("Path=/")
        );
        assert!(!text.contains("Secure"));
        let secure = session_cookie(&"cd".repeat(32), true);
        assert!(secure.to_str().expect("ascii").ends_with("; Secure"));
        assert_eq!(token_hash("x").len(), 64);
    }
}
