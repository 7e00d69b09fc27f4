//! Users: the seeded demo accounts, sign-in, and password changes.

use super::password::{PasswordChecks, hash_password, verify_password};
use crate::clock::now_ms;
use crate::db::Database;
use crate::on_pool;
use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Trader,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Trader => "trader",
            Role::Operator => "operator",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "trader" => Some(Role::Trader),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// Still the seeded demo password.
    pub default_password: bool,
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    default_password: bool,
}

impl UserRow {
    pub(super) fn into_user(self) -> Option<User> {
        Some(User {
            id: self.id,
            username: self.username,
            role: Role::parse(&self.role)?,
            default_password: self.default_password,
        })
    }
}

/// The demo users seeded into an empty database: (username, password, role).
pub const DEFAULT_USERS: [(&str, &str, Role); 3] = [
    ("demo", "demo", Role::Trader),
    ("demo2", "demo2", Role::Trader),
    ("ops", "ops", Role::Operator),
];

/// Seeds the demo users if there are no users at all; returns how many were added.
pub async fn seed_default_users(db: &Database) -> anyhow::Result<usize> {
    let existing: i64 = on_pool!(db, pool => sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await)
    .context("cannot count users")?;
    if existing > 0 {
        return Ok(0);
    }
    for (username, password, role) in DEFAULT_USERS {
        let hash = hash_password(password)?;
        on_pool!(db, pool => sqlx::query(
            "INSERT INTO users (username, password_hash, role, default_password, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(true)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(drop))
        .with_context(|| format!("cannot seed user {username}"))?;
    }
    Ok(DEFAULT_USERS.len())
}

/// A hash of no one's password: unknown usernames are checked against it, so a wrong username
/// takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// The user with this username and password, or `None`. The check waits for a turn among
/// `checks`, so a burst of sign-ins cannot take the machine's memory.
pub async fn authenticate(
    db: &Database,
    checks: &PasswordChecks,
    username: &str,
    password: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, username, password_hash, role, default_password FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(pool)
    .await)?;
    let password = password.to_string();
    let Some(row) = row else {
        // In the blocking task: the first call computes the dummy hash itself.
        let _same_cost = checks
            .run(move || verify_password(&password, dummy_hash()))
            .await;
        return Ok(None);
    };
    let ok = checks.verify(password, row.password_hash.clone()).await;
    Ok(if ok { row.into_user() } else { None })
}

/// Sets a user's password (and clears the default-password mark) and ends their sessions;
/// returns the user's id. Refuses an unknown user and an empty password.
pub async fn set_password(db: &Database, username: &str, password: &str) -> anyhow::Result<i64> {
    anyhow::ensure!(!password.is_empty(), "the new password is empty");
    let hash = hash_password(password)?;
    let changed = on_pool!(db, pool => sqlx::query(
        "UPDATE users SET password_hash = $1, default_password = $2 WHERE username = $3",
    )
    .bind(&hash)
    .bind(false)
    .bind(username)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
    .context("cannot update the password")?;
    anyhow::ensure!(changed == 1, "there is no user named {username:?}");
    let id: i64 =
        on_pool!(db, pool => sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(pool)
        .await)
        .context("cannot read the user back")?;
    // Whoever held the old password is signed out everywhere.
    on_pool!(db, pool => sqlx::query("DELETE FROM sessions WHERE user_id = $1")
    .bind(id)
    .execute(pool)
    .await
    .map(drop))
    .context("cannot end the user's sessions")?;
    Ok(id)
}

/// The users still on their seeded demo password.
pub async fn default_passwords_in_use(db: &Database) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT username FROM users WHERE default_password = $1 ORDER BY username",
    )
    .bind(true)
    .fetch_all(pool)
    .await)
    .context("cannot check for default passwords")?;
    Ok(names)
}
