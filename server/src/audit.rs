//! The audit trail of users and paper accounts: every change `thor users` and
//! `thor accounts import` make, when, and who made it (the OS user who ran `thor` on the
//! server's machine). Flag changes keep their own trail (`cutover_audit`).
//!
//! Each change writes its entry with [`record!`], in the same transaction as the change itself,
//! so there is no change without its entry and no entry without its change.

use crate::db::Database;
use crate::on_pool;
use serde::Serialize;

/// One change, as written and as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Entry {
    /// When (ms since the Unix epoch).
    pub at: i64,
    /// Who: the OS user who ran the command.
    pub actor: String,
    /// What: `add`, `disable`, `enable`, `set-role`, `set-password`, `import-account`.
    pub action: String,
    /// To whom.
    pub username: String,
    /// The change in words, e.g. `trader → operator`.
    pub detail: String,
}

/// The statement [`record!`] runs.
pub const INSERT: &str =
    "INSERT INTO user_audit (at, actor, action, username, detail) VALUES ($1, $2, $3, $4, $5)";

/// Writes an [`Entry`] (`&Entry`) on a transaction (`tx`, either backend's):
/// `record!(tx, &entry).await`.
macro_rules! record {
    ($tx:expr, $entry:expr) => {{
        let entry: &$crate::audit::Entry = $entry;
        sqlx::query($crate::audit::INSERT)
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.username)
            .bind(&entry.detail)
            .execute(&mut *$tx)
    }};
}
pub(crate) use record;

/// The latest `limit` entries, newest first.
pub async fn recent(db: &Database, limit: u32) -> Result<Vec<Entry>, sqlx::Error> {
    on_pool!(db, pool => sqlx::query_as(
        "SELECT at, actor, action, username, detail FROM user_audit ORDER BY id DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)
}
