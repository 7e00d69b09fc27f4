//! Live sessions: the one lookup every signed-in request and socket goes through, served from a
//! bounded, expiring cache, and the end of a session reaching everything that holds it.
//!
//! - **The cache** keeps who a session's token belongs to (the user and their paper account) for
//!   [`CACHE_TTL`], so a signed-in REST call or upgrade costs no query; at most [`CACHE_CAPACITY`]
//!   sessions are kept. A hit whose session has expired is a miss.
//! - **Ending.** Signing out ([`Sessions::sign_out`]) forgets the session here at once and closes
//!   its sockets (4001); with Redis, a notice on `P:sessions` (read on the shared hub's
//!   subscription) does the same on every other instance, and `thor users set-password` sends
//!   one for the user.
//! - **The sweep.** Every [`SWEEP_EVERY`] each instance asks the database which of its sockets'
//!   sessions are still live, and ends the others: an expired session, and any end whose notice
//!   was lost (no Redis, or Redis away), close their sockets within a second all the same.

use super::session::{delete_session, live_among, live_session, token_from_headers, token_hash};
use super::users::{Role, User};
use crate::config::DatabaseUrl;
use crate::db::Database;
use crate::error::ApiError;
use crate::hub::redis::SideChannel;
use crate::hub::redis::link::Link;
use crate::hub::{Hub, SessionsEnding};
use anyhow::Context;
use axum::http::HeaderMap;
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a looked-up session is trusted without asking the database again; it bounds how
/// long a session ended behind Thor's back (an edit in the database) still works for REST.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// Sessions cached at most (about 200 bytes each).
pub const CACHE_CAPACITY: u64 = 10_000;
/// How often the open sockets' sessions are checked against the database.
pub const SWEEP_EVERY: Duration = Duration::from_millis(400);
/// How long publishing a notice may take before it is given up (the sweep still comes).
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);
/// Notices received but not yet applied, at most (more are dropped; the sweep still comes).
const NOTICE_BACKLOG: usize = 1024;

/// A signed-in session, as the cache keeps it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// The user's paper account (`None` for an operator).
    pub account: Option<i64>,
    /// The session's token hash: what the database, the hub and the notices know it by.
    pub session: Arc<str>,
    /// When the session expires (ms since the epoch).
    pub expires_at: i64,
}

/// A session, or every session of a user, that has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// One session, by its token hash.
    Session(String),
    /// Every session of this user (their password or role changed, or they were disabled).
    User(i64),
}

/// The live sessions of this instance. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    hub: Hub,
    cache: Cache<Arc<str>, Arc<SignedIn>>,
    /// Bumped by every end: a lookup that raced one does not cache what it read.
    ends: AtomicU64,
    notices: Option<Notices>,
    /// Notices from the other instances, until [`Sessions::spawn`] starts applying them.
    incoming: std::sync::Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    /// The local operator credential (`crate::local_operator`), once the server has one.
    local_operator: std::sync::OnceLock<Arc<str>>,
}

impl Sessions {
    /// Sessions of an instance alone.
    pub fn new(db: Database, hub: Hub) -> Self {
        Self::with_notices(db, hub, None, None)
    }

    /// Sessions whose ends every instance sharing Redis (`client`, under `prefix`) hears of; the
    /// returned side channel goes to the shared hub's subscription, which reads the notices.
    pub fn shared(
        db: Database,
        hub: Hub,
        client: redis::Client,
        prefix: &str,
    ) -> (Self, SideChannel) {
        let (payloads, incoming) = mpsc::channel(NOTICE_BACKLOG);
        let side = SideChannel {
            channel: notice_channel(prefix),
            payloads,
        };
        let sessions =
            Self::with_notices(db, hub, Some(Notices::new(client, prefix)), Some(incoming));
        (sessions, side)
    }

    fn with_notices(
        db: Database,
        hub: Hub,
        notices: Option<Notices>,
        incoming: Option<mpsc::Receiver<Vec<u8>>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                hub,
                cache: Cache::builder()
                    .max_capacity(CACHE_CAPACITY)
                    .time_to_live(CACHE_TTL)
                    .support_invalidation_closures()
                    .build(),
                ends: AtomicU64::new(0),
                notices,
                incoming: std::sync::Mutex::new(incoming),
                local_operator: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Accepts `token` as `Authorization: Bearer` for an operator named `local-operator`: what
    /// `thor cutover` on the server's machine presents.
    pub fn accept_local_operator(&self, token: Arc<str>) {
        let _once = self.inner.local_operator.set(token);
    }

    /// The local operator, if the request presents the local operator credential.
    fn local_operator(&self, headers: &HeaderMap) -> Option<Arc<SignedIn>> {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim();
        let token = self.inner.local_operator.get()?;
        crate::local_operator::matches(token, presented).then(|| {
            Arc::new(SignedIn {
                user: User {
                    id: 0,
                    username: crate::local_operator::NAME.to_string(),
                    role: Role::Operator,
                    default_password: false,
                },
                account: None,
                session: Arc::from(crate::local_operator::NAME),
                expires_at: i64::MAX,
            })
        })
    }

    /// The signed-in session named by the request's cookie (or the local operator's bearer
    /// token), if it is live.
    pub async fn signed_in(&self, headers: &HeaderMap) -> Result<Option<Arc<SignedIn>>, ApiError> {
        if headers.contains_key(axum::http::header::AUTHORIZATION) {
            return Ok(self.local_operator(headers));
        }
        let Some(token) = token_from_headers(headers) else {
            return Ok(None);
        };
        let hash = token_hash(&token);
        let now = crate::clock::now_ms();
        if let Some(hit) = self.inner.cache.get(hash.as_str()) {
            if hit.expires_at > now {
                return Ok(Some(hit));
            }
            self.inner.cache.invalidate(hash.as_str());
            return Ok(None);
        }
        let ends_before = self.inner.ends.load(Ordering::SeqCst);
        let db = &self.inner.db;
        let Some((user, expires_at)) = live_session(db, &hash).await.map_err(ApiError::database)?
        else {
            return Ok(None);
        };
        // A trader made an operator keeps their account's rows, but an operator has none.
        let account = match user.role {
            Role::Trader => crate::trading::accounts::account_id_of(db, user.id)
                .await
                .map_err(ApiError::database)?,
            Role::Operator => None,
        };
        let session: Arc<str> = Arc::from(hash);
        let signed_in = Arc::new(SignedIn {
            user,
            account,
            session: session.clone(),
            expires_at,
        });
        // An end that came while the database was read may be about this very session.
        if self.inner.ends.load(Ordering::SeqCst) == ends_before {
            self.inner.cache.insert(session, signed_in.clone());
        }
        Ok(Some(signed_in))
    }

    /// Ends the session named by `token`: it is deleted, forgotten here, its sockets closed, and
    /// every other instance told.
    pub async fn sign_out(&self, token: &str) -> Result<(), ApiError> {
        delete_session(&self.inner.db, token)
            .await
            .map_err(ApiError::database)?;
        self.ended(Ended::Session(token_hash(token))).await;
        Ok(())
    }

    /// Tells this instance and (with Redis) the others that `ended` has ended.
    pub async fn ended(&self, ended: Ended) {
        self.forget(&ended);
        if let Some(notices) = &self.inner.notices {
            notices.publish(&ended).await;
        }
    }

    /// Forgets `ended` here: out of the cache, and its sockets closed.
    fn forget(&self, ended: &Ended) {
        self.inner.ends.fetch_add(1, Ordering::SeqCst);
        let (which, closed) = match ended {
            Ended::Session(hash) => {
                self.inner.cache.invalidate(hash.as_str());
                let closed = self.inner.hub.end_sessions(SessionsEnding::Session(hash));
                ("session", closed)
            }
            Ended::User(user) => {
                let user = *user;
                // Only fails if the cache was built without invalidation closures.
                if let Err(e) = self
                    .inner
                    .cache
                    .invalidate_entries_if(move |_, signed_in| signed_in.user.id == user)
                {
                    tracing::error!(error = %e, "cannot forget a user's sessions; clearing the cache");
                    self.inner.cache.invalidate_all();
                }
                let closed = self.inner.hub.end_sessions(SessionsEnding::User(user));
                ("user", closed)
            }
        };
        if closed > 0 {
            tracing::info!(
                ended = which,
                sockets = closed,
                "a session ended; closed its sockets"
            );
        }
    }

    /// Checks the open sockets' sessions against the database; ends the ones that are gone.
    pub async fn sweep(&self) -> Result<usize, sqlx::Error> {
        let open = self.inner.hub.open_sessions();
        if open.is_empty() {
            return Ok(0);
        }
        let hashes: Vec<&str> = open.iter().map(|s| s.as_ref()).collect();
        let live = live_among(&self.inner.db, &hashes).await?;
        let mut ended = 0;
        for hash in hashes {
            if !live.iter().any(|l| l == hash) {
                self.forget(&Ended::Session(hash.to_string()));
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Spawns the sweep (and, with Redis, the applying of notices) into `tasks` until `stop`.
    pub fn spawn(&self, stop: &CancellationToken, tasks: &mut JoinSet<()>) {
        let sessions = self.clone();
        let stop_sweep = stop.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop_sweep.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match sessions.sweep().await {
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot check the open sockets' sessions; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
        let incoming = self
            .inner
            .incoming
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(incoming) = incoming {
            tasks.spawn(apply_notices(incoming, self.clone(), stop.clone()));
        }
    }
}

/// Applies the other instances' notices as the shared hub's subscription hands them over.
async fn apply_notices(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    sessions: Sessions,
    stop: CancellationToken,
) {
    loop {
        let payload = tokio::select! {
            _ = stop.cancelled() => return,
            payload = incoming.recv() => match payload {
                Some(payload) => payload,
                None => return,
            },
        };
        match serde_json::from_slice::<Ended>(&payload) {
            Ok(ended) => sessions.forget(&ended),
            Err(e) => tracing::warn!(error = %e, "ignored a malformed session notice"),
        }
    }
}

/// The Redis channel of session ends, `P:sessions`.
pub fn notice_channel(prefix: &str) -> String {
    format!("{prefix}:sessions")
}

/// Publishes ends on `P:sessions`.
struct Notices {
    channel: String,
    link: tokio::sync::Mutex<Link>,
}

impl Notices {
    fn new(client: redis::Client, prefix: &str) -> Self {
        Self {
            link: tokio::sync::Mutex::new(Link::new(client, NOTICE_TIMEOUT)),
            channel: notice_channel(prefix),
        }
    }

    /// Best effort: a lost notice is made up for by the other instances' sweeps.
    async fn publish(&self, ended: &Ended) {
        if let Err(e) = publish_on(&mut *self.link.lock().await, &self.channel, ended).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot tell the other instances a session ended; their sweep will");
        }
    }
}

async fn publish_on(link: &mut Link, channel: &str, ended: &Ended) -> anyhow::Result<()> {
    let text = serde_json::to_string(ended).context("cannot encode the notice")?;
    let _receivers: i64 = link
        .query(redis::cmd("PUBLISH").arg(channel).arg(text))
        .await?;
    Ok(())
}

/// Tells every instance sharing Redis at `url` under `prefix` that `ended` has ended (for the
/// CLI, which runs beside the servers); `ca_file` as for the servers' connection.
pub async fn announce(
    url: &DatabaseUrl,
    ca_file: Option<&Path>,
    prefix: &str,
    ended: &Ended,
) -> anyhow::Result<()> {
    let client = crate::hub::redis::client(url, ca_file)?;
    let mut link = Link::new(client, NOTICE_TIMEOUT);
    publish_on(&mut link, &notice_channel(prefix), ended).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_as_they_were_written() {
        for ended in [Ended::Session("ab".repeat(32)), Ended::User(7)] {
            let text = serde_json::to_string(&ended).expect("encodes");
            assert_eq!(
                serde_json::from_str::<Ended>(&text).expect("decodes"),
                ended
            );
        }
        assert_eq!(
            serde_json::to_string(&Ended::User(7)).expect("encodes"),
            r#"{"user":7}"#
        );
    }
}
