//! The jobs lease: with instances sharing a hub over Redis, exactly one of them runs the jobs
//! (and so numbers and publishes every message) at a time.
//!
//! `SET P:lease ID NX PX ttl`, renewed every ttl/3 by a compare-and-expire script. The holder steps
//! down at once when a renewal finds another holder, or when no renewal succeeded for a whole ttl
//! (it may have expired in Redis); whoever acquires it starts a new, larger epoch and runs every
//! job once, so the new lease holder's state is out within a second. On shutdown the holder deletes
//! the lease (if still its own) so another instance takes over at its next attempt instead of after
//! the TTL.

use super::{JobContext, Registry};
use crate::hub::redis::link::Link;
use redis::{Client, Script};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What [`start`] needs from the settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The lease's key (`<prefix>:lease`).
    pub key: String,
    pub ttl: Duration,
    /// This instance's name in the lease (unique per process).
    pub instance: String,
}

/// Takes the first turn at the lease (so a lone instance holds it before it serves: check
/// `ctx.lease` afterwards) and spawns into `tasks` the keeper, which renews or keeps trying, and
/// hands the lease back when `stop` is cancelled. Fails when Redis cannot be reached.
pub async fn start(
    client: Client,
    settings: LeaseSettings,
    ctx: &JobContext,
    registry: Arc<Registry>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<()> {
    let lease_timeout = (settings.ttl / 2).max(Duration::from_millis(100));
    let mut lease = RedisLease {
        link: Link::new(client, lease_timeout),
        key: settings.key,
        me: settings.instance.clone(),
        ttl: settings.ttl,
    };
    let sent = Instant::now();
    let acquired = lease.acquire().await?;
    let (valid_until, epoch) = if acquired {
        let epoch = ctx.hub.begin_epoch();
        ctx.lease.set(true);
        tracing::info!(instance = %settings.instance, epoch, "this instance holds the jobs lease");
        (Some(sent + settings.ttl), epoch)
    } else {
        tracing::info!(instance = %settings.instance, "another instance runs the jobs; following it");
        (None, 0)
    };
    let keeper = Keeper {
        lease,
        ctx: ctx.clone(),
        registry,
        valid_until,
        epoch,
        failing: false,
    };
    tasks.spawn(keeper.run(stop.clone()));
    Ok(())
}

/// A name for this process in the lease: its address, process id and a random part.
pub fn instance_id(addr: std::net::SocketAddr) -> String {
    use rand_core::RngCore;
    let mut random = [0u8; 4];
    let random = match rand_core::OsRng.try_fill_bytes(&mut random) {
        Ok(()) => u32::from_le_bytes(random),
        Err(_) => crate::clock::now_us() as u32,
    };
    format!("{addr}/{}/{random:08x}", std::process::id())
}

/// Takes the lease if it is free, or extends it if it is ours: 1 extended, 2 it was free and
/// is ours now (at start, or after Redis lost it), 0 another instance holds it.
const RENEW: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
";

/// Deletes the lease if it is ours: 1 deleted, 0 not ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

struct RedisLease {
    link: Link,
    key: String,
    me: String,
    ttl: Duration,
}

impl RedisLease {
    fn ttl_ms(&self) -> String {
        self.ttl.as_millis().max(1).to_string()
    }

    async fn acquire(&mut self) -> anyhow::Result<bool> {
        Ok(self.renew().await? != 0)
    }

    async fn renew(&mut self) -> anyhow::Result<i64> {
        let ttl = self.ttl_ms();
        self.link
            .script(&Script::new(RENEW), &self.key, &[&self.me, &ttl])
            .await
    }

    async fn release(&mut self) -> anyhow::Result<bool> {
        let deleted: i64 = self
            .link
            .script(&Script::new(RELEASE), &self.key, &[&self.me])
            .await?;
        Ok(deleted == 1)
    }
}

struct Keeper {
    lease: RedisLease,
    ctx: JobContext,
    registry: Arc<Registry>,
    /// While held: the lease cannot have expired in Redis before this (the send time of the
    /// last successful renewal plus the TTL).
    valid_until: Option<Instant>,
    /// The epoch this instance started when it took the lease.
    epoch: u64,
    /// Whether the last request failed (so an outage is logged once).
    failing: bool,
}

impl Keeper {
    async fn run(mut self, stop: CancellationToken) {
        let ttl = self.lease.ttl;
        let every = (ttl / 3).max(Duration::from_millis(50));
        let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match self.valid_until {
                Some(valid_until) => self.renew(valid_until).await,
                None => self.try_acquire().await,
            }
        }
        if self.valid_until.take().is_some() {
            self.ctx.lease.set(false);
            match self.lease.release().await {
                Ok(true) => tracing::info!("handed the jobs lease back"),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "cannot hand the jobs lease back; it expires by itself"
                ),
            }
        }
    }

    async fn renew(&mut self, valid_until: Instant) {
        let sent = Instant::now();
        // An answer after the lease may have run out is worth nothing: stop waiting then.
        let renewal = tokio::time::timeout_at(valid_until, self.lease.renew())
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer before the lease ran out")));
        match renewal {
            Ok(renewal @ (1 | 2)) => {
                if renewal == 2 {
                    // Redis lost the key (a restart) while the lease was still valid: nobody
                    // else can have held it meanwhile, so the jobs carry on in the same epoch.
                    tracing::info!("the jobs lease was gone from Redis; it is ours again");
                }
                self.renewed(sent);
                if self.ctx.hub.epoch() != self.epoch {
                    // Another lease holder's messages reached the hub after all: never publish in
                    // its epoch, start a newer one.
                    tracing::warn!("another instance published while this one held the lease");
                    self.take_over();
                }
            }
            Ok(_) => self.step_down("another instance holds the jobs lease"),
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(error = %format!("{e:#}"), "cannot renew the jobs lease");
                }
                if Instant::now() >= valid_until {
                    self.step_down("no renewal of the jobs lease succeeded for a whole TTL");
                }
            }
        }
    }

    fn renewed(&mut self, sent: Instant) {
        if self.failing {
            self.failing = false;
            tracing::info!("Redis answers again; this instance still holds the jobs lease");
        }
        self.valid_until = Some(sent + self.lease.ttl);
    }

    /// Starts this lease holder's epoch and runs every job once, at once, so the new lease holder's
    /// state is out within a second (beside this loop, so the renewals keep their beat).
    fn take_over(&mut self) {
        self.epoch = self.ctx.hub.begin_epoch();
        self.ctx.lease.set(true);
        tracing::info!(instance = %self.lease.me, epoch = self.epoch, "took over the jobs lease");
        let registry = self.registry.clone();
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            // The prices carry on from the last lease holder's, not from this instance's start.
            if let Err(e) = ctx.carry_over().await {
                tracing::warn!(error = %format!("{e:#}"), "cannot read where the last lease holder left the desk");
            }
            registry.run_once(&ctx).await
        });
    }

    fn step_down(&mut self, reason: &str) {
        self.ctx.lease.set(false);
        self.valid_until = None;
        tracing::warn!(reason, "this instance no longer runs the jobs");
    }

    async fn try_acquire(&mut self) {
        let sent = Instant::now();
        match self.lease.acquire().await {
            Ok(true) => {
                self.failing = false;
                self.valid_until = Some(sent + self.lease.ttl);
                self.take_over();
            }
            Ok(false) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(error = %format!("{e:#}"), "cannot reach Redis for the jobs lease");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::redis::IO_TIMEOUT;
    use crate::hub::redis::Keys;
    use crate::hub::redis::test_support::{client, forget, prefix, redis_may_run};

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_lost_key_is_taken_back_by_its_holder() {
        if !redis_may_run("one_holder_at_a_time_and_a_lost_key_is_taken_back_by_its_holder").await {
            return;
        }
        let prefix = prefix("lease");
        let keys = Keys::new(&prefix);
        let lease = |me: &str| RedisLease {
            link: Link::new(client(), IO_TIMEOUT),
            key: keys.lease.clone(),
            me: me.to_string(),
            ttl: Duration::from_secs(30),
        };
        let (mut a, mut b) = (lease("a"), lease("b"));
        assert!(a.acquire().await.expect("a asks"));
        assert!(!b.acquire().await.expect("b asks"));
        assert!(a.acquire().await.expect("a asks again"), "a keeps its own");
        assert_eq!(a.renew().await.expect("a renews"), 1);
        assert_eq!(b.renew().await.expect("b renews"), 0, "b does not hold it");
        assert!(
            !b.release().await.expect("b releases"),
            "b cannot delete a's lease"
        );

        let mut admin = Link::new(client(), IO_TIMEOUT);
        let _: i64 = admin
            .query(redis::cmd("DEL").arg(&keys.lease))
            .await
            .expect("DEL");
        assert_eq!(a.renew().await.expect("a renews"), 2, "gone, and a's again");
        assert!(!b.acquire().await.expect("b asks"));

        assert!(a.release().await.expect("a releases"));
        assert!(b.acquire().await.expect("b asks"));
        forget(&prefix).await;
    }
}
