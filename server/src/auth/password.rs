//! Argon2id password hashing (RustCrypto's `argon2`, default parameters), PHC strings in storage,
//! and [`PasswordChecks`], which bounds how many checks run at once.
//!
//! Each check holds about 19 MiB (Argon2id's default memory cost) for its tens of milliseconds.
//! Unbounded, 64 concurrent wrong logins took the server to 1.7 GB, and glibc kept 1.2 GB of it
//! afterwards: its dynamic mmap threshold rises to the size of the first freed block, so later
//! blocks came from per-thread arenas that are never trimmed. Here at most `password-checks`
//! run at once (the rest wait for a turn), and blocks that large are always mapped and unmapped.

use crate::metrics::MetricsRegistry;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use prometheus_client::metrics::gauge::Gauge;
use rand_core::OsRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    return_large_blocks_to_the_system();
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
}

/// `false` for a wrong password and for a stored hash that does not parse.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Allocations this large or larger are mapped on their own and unmapped when freed.
const MMAP_THRESHOLD_BYTES: i32 = 1024 * 1024;

/// Fixes glibc's mmap threshold (which also stops it rising), once per process.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets an allocator parameter; it is thread-safe in glibc.
            let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
            if done != 1 {
                tracing::warn!(
                    "cannot fix malloc's mmap threshold; memory may stay high after sign-in bursts"
                );
            }
        });
    }
}

/// Password checks, at most a fixed number at once; the others wait their turn (without
/// holding memory). Cheap to clone.
#[derive(Clone)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
    running: Gauge,
    /// The most that ever ran at once (for tests and the stress run).
    peak: Arc<AtomicUsize>,
}

impl PasswordChecks {
    pub fn new(at_once: usize) -> Self {
        return_large_blocks_to_the_system();
        Self {
            permits: Arc::new(Semaphore::new(at_once.max(1))),
            running: Gauge::default(),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether `password` matches the `stored` PHC string; `false` also when it does not parse
    /// or the check could not run.
    pub async fn verify(&self, password: String, stored: String) -> bool {
        self.run(move || verify_password(&password, &stored))
            .await
            .unwrap_or(false)
    }

    /// Runs `check` on the blocking pool once a turn is free; `None` if it could not run.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let running = self.running.clone();
        let now = running.inc() + 1;
        self.peak
            .fetch_max(usize::try_from(now).unwrap_or(0), Ordering::SeqCst);
        // The permit goes with the work: a caller that gives up (timeout, disconnect) does not
        // free a turn while its hash is still running.
        tokio::task::spawn_blocking(move || {
            let result = check();
            running.dec();
            drop(permit);
            result
        })
        .await
        .ok()
    }

    /// Checks running now.
    pub fn running(&self) -> usize {
        usize::try_from(self.running.get()).unwrap_or(0)
    }

    pub fn register_metrics(&self, registry: &MetricsRegistry) {
        registry.register(
            "thor_password_checks_running",
            "Password checks (Argon2id, ~19 MiB each) running now; at most security.password-checks.",
            self.running.clone(),
        );
    }

    /// The most checks that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse ", &hash));
        assert!(!verify_password("", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(
            hash,
            hash_password("correct horse").expect("hashes"),
            "salted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_limit_run_at_once_however_many_ask() {
        let checks = PasswordChecks::new(2);
        let stored = hash_password("right").expect("hashes");
        let asked: Vec<_> = (0..16)
            .map(|i| {
                let checks = checks.clone();
                let stored = stored.clone();
                tokio::spawn(async move { checks.verify(format!("wrong {i}"), stored).await })
            })
            .collect();
        for check in asked {
            assert!(!check.await.expect("joins"), "wrong passwords fail");
        }
        assert_eq!(checks.peak(), 2, "16 at once were run two at a time");
        assert_eq!(checks.running(), 0);
        assert!(checks.verify("right".into(), stored).await);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_keeps_its_turn_until_its_hash_is_done() {
        let checks = PasswordChecks::new(1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = {
            let checks = checks.clone();
            tokio::spawn(async move { checks.run(move || wait.recv().is_ok()).await })
        };
        // The first check is running (blocked until released) when its caller is dropped.
        while checks.running() == 0 {
            tokio::task::yield_now().await;
        }
        first.abort();
        let second = checks.run(|| true);
        tokio::pin!(second);
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "no second turn while the first hash still runs"
        );
        release.send(()).expect("released");
        assert_eq!(second.await, Some(true));
    }
}
