//! Users: the seeded demo users, sign-in, and what an operator does to users (`thor users`):
//! add, list, disable and enable, change a role or a password. Every change is written to the
//! audit trail (`crate::audit`) in the same transaction as the change, with who made it.

use super::password::{PasswordChecks, hash_password, verify_password};
use crate::audit::{self, Entry};
use crate::clock::now_ms;
use crate::db::Database;
use crate::on_pool;
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use super::rules::{PASSWORD_RULE, USERNAME_RULE, check_password_rule, check_username};

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

    pub fn parse(text: &str) -> Option<Self> {
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

/// The outcome of a sign-in's password check.
#[derive(Debug)]
pub enum SignIn {
    /// The password is the user's and the user may sign in.
    Accepted(User),
    /// An unknown username or a wrong password (which of the two is not told).
    Refused,
    /// The password is right, but the user is disabled.
    Disabled(User),
}

#[derive(sqlx::FromRow)]
struct Candidate {
    #[sqlx(flatten)]
    user: UserRow,
    disabled: bool,
}

/// Checks `password` for `username`. The check waits for a turn among `checks`, so a burst of
/// sign-ins cannot take the machine's memory. A disabled user is told so only after their right
/// password, so the answer says nothing to someone guessing.
pub async fn authenticate(
    db: &Database,
    checks: &PasswordChecks,
    username: &str,
    password: &str,
) -> Result<SignIn, sqlx::Error> {
    let row: Option<Candidate> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, username, password_hash, role, default_password, disabled \
         FROM users WHERE username = $1",
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
        return Ok(SignIn::Refused);
    };
    let ok = checks
        .verify(password, row.user.password_hash.clone())
        .await;
    let disabled = row.disabled;
    Ok(match row.user.into_user() {
        Some(user) if ok && disabled => SignIn::Disabled(user),
        Some(user) if ok => SignIn::Accepted(user),
        _ => SignIn::Refused,
    })
}

/// Notes that the user has just signed in (`thor users list` shows it).
pub async fn record_sign_in(db: &Database, user_id: i64) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(user_id)
        .execute(pool)
        .await
        .map(drop))
}

/// Whether there is a user of this name (disabled or not).
pub async fn user_exists(db: &Database, username: &str) -> anyhow::Result<bool> {
    let found: Option<i64> =
        on_pool!(db, pool => sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await)
        .context("cannot look the user up")?;
    Ok(found.is_some())
}

/// An audit entry for a change `actor` makes now.
fn entry(actor: &str, action: &str, username: &str, detail: String) -> Entry {
    Entry {
        at: now_ms(),
        actor: actor.to_string(),
        action: action.to_string(),
        username: username.to_string(),
        detail,
    }
}

/// Adds a user with a password (which must keep [`PASSWORD_RULE`]); refuses a bad or taken
/// username. Traders get their paper account from `thor accounts import`.
pub async fn add_user(
    db: &Database,
    username: &str,
    role: Role,
    password: &str,
    actor: &str,
) -> anyhow::Result<User> {
    check_username(username)?;
    check_password_rule(username, password)?;
    let hash = hash_password(password)?;
    let audit = entry(actor, "add", username, format!("role {}", role.as_str()));
    let id: i64 = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await
            .context("cannot look the username up")?;
        if taken.is_some() {
            bail!("there is already a user named {username:?}");
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, default_password, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(false)
        .bind(audit.at)
        .fetch_one(&mut *tx)
        .await
        .with_context(|| format!("cannot add {username:?}"))?;
        audit::record!(tx, &audit)
            .await
            .context("cannot write the audit entry")?;
        tx.commit().await.context("cannot commit the new user")?;
        id
    });
    tracing::info!(user = username, role = role.as_str(), actor, "added a user");
    Ok(User {
        id,
        username: username.to_string(),
        role,
        default_password: false,
    })
}

/// A user as `thor users list` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub username: String,
    pub role: Role,
    /// Their paper account's number, if they have one.
    pub account: Option<String>,
    pub last_sign_in: Option<DateTime<Utc>>,
    pub disabled: bool,
    /// Still on the seeded demo password.
    pub demo_password: bool,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    username: String,
    role: String,
    account_number: Option<String>,
    last_sign_in_at: Option<i64>,
    disabled: bool,
    default_password: bool,
}

/// Every user, by name.
pub async fn list_users(db: &Database) -> anyhow::Result<Vec<Listed>> {
    let rows: Vec<ListedRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT u.username, u.role, a.account_number, u.last_sign_in_at, u.disabled, \
         u.default_password FROM users u LEFT JOIN accounts a ON a.user_id = u.id \
         ORDER BY u.username",
    )
    .fetch_all(pool)
    .await)
    .context("cannot list the users")?;
    rows.into_iter()
        .map(|row| {
            let role = Role::parse(&row.role)
                .with_context(|| format!("{} has an unknown role {:?}", row.username, row.role))?;
            Ok(Listed {
                role,
                account: row.account_number,
                last_sign_in: row
                    .last_sign_in_at
                    .and_then(DateTime::from_timestamp_millis),
                disabled: row.disabled,
                demo_password: row.default_password,
                username: row.username,
            })
        })
        .collect()
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Changed the user with this id (and ended their sessions, where the change says so).
    Changed(i64),
    /// The user already was so; nothing changed and nothing was written.
    Unchanged,
}

#[derive(sqlx::FromRow)]
struct Current {
    id: i64,
    role: String,
    disabled: bool,
}

/// Deletes every session of a user on a transaction: `end_sessions!(tx, user_id)`.
macro_rules! end_sessions {
    ($tx:expr, $user:expr) => {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind($user)
            .execute(&mut *$tx)
            .await
            .map(drop)
            .context("cannot end the user's sessions")
    };
}

/// The user named `$username` as the transaction `$tx` sees them, or "there is no user named …"
/// (a macro, as `end_sessions!` is: inside `on_pool!` each backend's transaction is its own type).
macro_rules! current_user {
    ($tx:expr, $username:expr) => {
        async {
            let current: Option<Current> =
                sqlx::query_as("SELECT id, role, disabled FROM users WHERE username = $1")
                    .bind($username)
                    .fetch_optional(&mut *$tx)
                    .await
                    .context("cannot look the user up")?;
            current.ok_or_else(|| anyhow::anyhow!("there is no user named {:?}", $username))
        }
        .await
    };
}

/// Disables (`disabled`) or enables a user. Disabling deletes their sessions in the same
/// transaction, so the sweep of every running server and every sign-in see it at once.
pub async fn set_disabled(
    db: &Database,
    username: &str,
    disabled: bool,
    actor: &str,
) -> anyhow::Result<Outcome> {
    let action = if disabled { "disable" } else { "enable" };
    let audit = entry(actor, action, username, String::new());
    let outcome = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let current = current_user!(tx, username)?;
        if current.disabled == disabled {
            Outcome::Unchanged
        } else {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(disabled)
                .bind(current.id)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("cannot {action} {username:?}"))?;
            if disabled {
                end_sessions!(tx, current.id)?;
            }
            audit::record!(tx, &audit)
                .await
                .context("cannot write the audit entry")?;
            tx.commit().await.with_context(|| format!("cannot {action} {username:?}"))?;
            Outcome::Changed(current.id)
        }
    });
    if outcome != Outcome::Unchanged {
        tracing::info!(user = username, actor, "{action}d a user");
    }
    Ok(outcome)
}

/// Changes a user's role and ends their sessions (a session carries its user's role and paper
/// account, so the user signs in again as what they now are).
pub async fn set_role(
    db: &Database,
    username: &str,
    role: Role,
    actor: &str,
) -> anyhow::Result<Outcome> {
    let outcome = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let current = current_user!(tx, username)?;
        if current.role == role.as_str() {
            Outcome::Unchanged
        } else {
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(current.id)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("cannot change the role of {username:?}"))?;
            end_sessions!(tx, current.id)?;
            let detail = format!("{} → {}", current.role, role.as_str());
            audit::record!(tx, &entry(actor, "set-role", username, detail))
                .await
                .context("cannot write the audit entry")?;
            tx.commit().await.context("cannot commit the new role")?;
            Outcome::Changed(current.id)
        }
    });
    if outcome != Outcome::Unchanged {
        tracing::info!(
            user = username,
            role = role.as_str(),
            actor,
            "changed a user's role"
        );
    }
    Ok(outcome)
}

/// Sets a user's password (which must keep [`PASSWORD_RULE`]), clears the demo-password mark
/// and ends their sessions; returns the user's id. Refuses an unknown user.
pub async fn set_password(
    db: &Database,
    username: &str,
    password: &str,
    actor: &str,
) -> anyhow::Result<i64> {
    check_password_rule(username, password)?;
    let hash = hash_password(password)?;
    let audit = entry(actor, "set-password", username, String::new());
    let id = on_pool!(db, pool => {
        let mut tx = pool.begin().await.context("cannot start a transaction")?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, default_password = $2 WHERE username = $3 \
             RETURNING id",
        )
        .bind(&hash)
        .bind(false)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot update the password")?;
        let Some(id) = id else {
            bail!("there is no user named {username:?}");
        };
        // Whoever held the old password is signed out everywhere.
        end_sessions!(tx, id)?;
        audit::record!(tx, &audit)
            .await
            .context("cannot write the audit entry")?;
        tx.commit().await.context("cannot commit the new password")?;
        id
    });
    tracing::info!(user = username, actor, "changed a user's password");
    Ok(id)
}

/// The users still on their seeded demo password who may sign in (not disabled).
pub async fn default_passwords_in_use(db: &Database) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = on_pool!(db, pool => sqlx::query_scalar(
        "SELECT username FROM users WHERE default_password = $1 AND disabled = $2 \
         ORDER BY username",
    )
    .bind(true)
    .bind(false)
    .fetch_all(pool)
    .await)
    .context("cannot check for default passwords")?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_keep_the_rule_and_say_it() {
        for good in ["alice", "j.doe", "desk-2", "0trader", "a_b"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", "al ice", "élise", &"a".repeat(33)] {
            let error = check_username(bad).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(USERNAME_RULE)),
                "{bad:?}: {error:?}"
            );
        }
        assert!(check_username("local-operator").is_err());
    }

    #[test]
    fn weak_passwords_are_refused_with_the_rule() {
        assert!(check_password_rule("alice", "correct horse battery").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("short-pass1", "only 11 characters"),
            ("aaaaaaaaaaaaaaaa", "one character repeated"),
            ("alice.johnson", "the username"),
        ] {
            let user = if why == "the username" {
                "alice.johnson"
            } else {
                "alice"
            };
            let error = check_password_rule(user, bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(error.contains(PASSWORD_RULE), "{bad:?}: {error}");
        }
        assert!(check_password_rule("alice", &"ab".repeat(129)).is_err());
    }
}
