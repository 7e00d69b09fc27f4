//! One Redis command connection, opened on first use and reopened after any failure, every
//! request with a deadline; and the jittered backoff every Redis loop waits with.

use anyhow::Context;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, Script};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// One command connection, opened on first use and reopened after any failure; every request
/// has a deadline.
pub(crate) struct Link {
    client: Client,
    conn: Option<MultiplexedConnection>,
    timeout: Duration,
}

impl Link {
    pub(crate) fn new(client: Client, timeout: Duration) -> Self {
        Self {
            client,
            conn: None,
            timeout,
        }
    }

    async fn connection(&mut self) -> anyhow::Result<&mut MultiplexedConnection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout));
                let connecting = self
                    .client
                    .get_multiplexed_async_connection_with_config(&config);
                tokio::time::timeout(self.timeout, connecting)
                    .await
                    .context("timed out connecting")?
                    .map_err(plain)?
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Sends `request`. After any failure the connection is dropped (the next use reconnects);
    /// a kept connection that turns out broken (Redis restarted since its last use) is
    /// replaced and the request sent once more at once. Every request here is safe to repeat.
    async fn send<T: FromRedisValue>(&mut self, request: Request<'_>) -> anyhow::Result<T> {
        let timeout = self.timeout;
        let mut retried = false;
        loop {
            let reused = self.conn.is_some();
            let conn = match self.connection().await {
                Ok(conn) => conn,
                Err(e) => {
                    self.conn = None;
                    return Err(e);
                }
            };
            let answer = match request {
                Request::Command(cmd) => tokio::time::timeout(timeout, cmd.query_async(conn)).await,
                Request::Pipeline(pipe) => {
                    tokio::time::timeout(timeout, pipe.query_async(conn)).await
                }
                Request::Script(invocation) => {
                    tokio::time::timeout(timeout, invocation.invoke_async(conn)).await
                }
            };
            match answer {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => {
                    self.conn = None;
                    let broken =
                        e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error();
                    if !(broken && reused && !retried) {
                        return Err(plain(e));
                    }
                    retried = true;
                }
                Err(_) => {
                    self.conn = None;
                    anyhow::bail!("no answer within {timeout:?}");
                }
            }
        }
    }

    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        self.send(Request::Command(cmd)).await
    }

    pub(crate) async fn pipeline<T: FromRedisValue>(
        &mut self,
        pipe: &redis::Pipeline,
    ) -> anyhow::Result<T> {
        self.send(Request::Pipeline(pipe)).await
    }

    pub(crate) async fn script<T: FromRedisValue>(
        &mut self,
        script: &Script,
        key: &str,
        args: &[&str],
    ) -> anyhow::Result<T> {
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        self.send(Request::Script(&invocation)).await
    }
}

#[derive(Clone, Copy)]
enum Request<'a> {
    Command(&'a redis::Cmd),
    Pipeline(&'a redis::Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
}

/// A Redis error as one line (its `source` repeats what its message already says).
pub(crate) fn plain(e: redis::RedisError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Exponential backoff between attempts, with jitter so instances do not retry in step.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { next: BACKOFF_MIN }
    }

    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    pub(crate) fn next(&mut self) -> Duration {
        let base = self.next;
        self.next = (base * 2).min(BACKOFF_MAX);
        // 75 % to 125 % of the base, from the clock's low bits.
        let jitter = (crate::clock::now_us().unsigned_abs() % 501) as u32;
        base * (750 + jitter) / 1000
    }
}

/// Sleeps `wait`, or less if `stop` is cancelled first (then `false`).
pub(crate) async fn pause(wait: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}
