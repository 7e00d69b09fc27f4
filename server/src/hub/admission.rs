//! Admission: a connection slot per socket, at most `max-connections` in all and
//! `max-connections-per-user` per user, taken before the upgrade so a full server can say so.

use super::Hub;
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use tokio::sync::OwnedSemaphorePermit;

/// A connection slot, taken before the upgrade so a full server can say so.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    user: Option<UserSlot>,
    /// The session the socket was opened in (its token's hash): its end closes the socket.
    pub(super) session: Option<Arc<str>>,
}

impl Slot {
    /// Ties the connection to the session it was opened in, so [`Hub::end_sessions`] finds it.
    pub fn in_session(mut self, session: Arc<str>) -> Self {
        self.session = Some(session);
        self
    }

    pub(super) fn user(&self) -> Option<i64> {
        self.user.as_ref().map(|slot| slot.user)
    }
}

/// One of a user's connections; dropping it gives the place back.
struct UserSlot {
    hub: Hub,
    user: i64,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut per_user = self.hub.per_user();
        if let Some(count) = per_user.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

/// Why [`Hub::admit_user`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server is at its connection limit.
    Full,
    /// This user already holds their limit of connections.
    UserLimit,
}

impl Hub {
    fn per_user(&self) -> MutexGuard<'_, HashMap<i64, usize>> {
        self.inner
            .per_user
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a connection slot, or `None` when the hub is full.
    pub fn admit(&self) -> Option<Slot> {
        let permit = self.inner.admission.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.inner.metrics.refused.full.inc();
        }
        Some(Slot {
            _permit: permit?,
            user: None,
            session: None,
        })
    }

    /// Takes a connection slot for `user`, who may hold at most `per_user` at once.
    pub fn admit_user(&self, user: i64, per_user: usize) -> Result<Slot, Refused> {
        {
            let mut counts = self.per_user();
            let count = counts.entry(user).or_default();
            if *count >= per_user {
                self.inner.metrics.refused.user_limit.inc();
                return Err(Refused::UserLimit);
            }
            *count += 1;
        }
        // From here the user's place is held by the guard, and given back if the hub is full.
        let guard = UserSlot {
            hub: self.clone(),
            user,
        };
        let mut slot = self.admit().ok_or(Refused::Full)?;
        slot.user = Some(guard);
        Ok(slot)
    }
}
