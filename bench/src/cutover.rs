//! How fast a flag change reaches open pages: N signed-in sockets on a release `thor`, then K
//! flag changes made through the API (as the local operator `thor cutover` uses), each timed
//! from just before the request to every socket's `cutover` message of the new version.
//! Reported per N: p50, p99 and max of the time to the *last* page of each change, and of every
//! delivery.

use super::{Kind, Server, open};
use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub struct CutoverResult {
    pub clients: usize,
    pub changes: usize,
    pub last_page_ms: [f64; 3],
    pub every_page_ms: [f64; 3],
}

/// (p50, p99, max) of `values`, in ms.
fn spread(mut values: Vec<Duration>) -> [f64; 3] {
    values.sort_unstable();
    let at = |q: f64| {
        let i = ((values.len() as f64 - 1.0) * q).round() as usize;
        values.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    [at(0.5), at(0.99), at(1.0)]
}

pub async fn measure(
    bin: &Path,
    n: usize,
    changes: usize,
    connect_batch: usize,
) -> Result<CutoverResult> {
    let mut server = Server::start(Kind::Thor, bin, 0).await?;
    let token = std::fs::read_to_string(server.data_dir().join("operator-token"))
        .context("the server left no operator token")?;
    let session = server
        .session
        .clone()
        .ok_or_else(|| anyhow!("not signed in"))?;
    let (events, mut seen) = mpsc::unbounded_channel::<(usize, u64, Instant)>();
    let mut tasks = Vec::with_capacity(n);
    for start in (0..n).step_by(connect_batch.max(1)) {
        let batch =
            (start..n.min(start + connect_batch)).map(|_| open(server.addr, Some(&session)));
        for (offset, socket) in futures::future::join_all(batch)
            .await
            .into_iter()
            .enumerate()
        {
            let mut socket = socket?;
            let events = events.clone();
            let client = start + offset;
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(frame)) = socket.next().await {
                    let Message::Text(text) = frame else { continue };
                    if !text.as_str().starts_with("{\"type\":\"cutover\"") {
                        continue;
                    }
                    let value: serde_json::Value = match serde_json::from_str(text.as_str()) {
                        Ok(value) => value,
                        Err(_) => continue,
                    };
                    if let Some(version) = value.pointer("/data/version").and_then(|v| v.as_u64()) {
                        let _ = events.send((client, version, Instant::now()));
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    while seen.try_recv().is_ok() {}

    let mut last_page = Vec::new();
    let mut every_page = Vec::new();
    for k in 0..changes {
        let stage = if k % 2 == 0 { "live" } else { "shadow" };
        let started = Instant::now();
        let response = server
            .http
            .post(format!("http://{}/api/cutover/positions", server.addr))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({"stage": stage, "reason": "benchmark", "force": true}))
            .send()
            .await
            .context("POST /api/cutover/positions")?;
        if !response.status().is_success() {
            bail!("the change was refused: {}", response.status());
        }
        let flags: serde_json::Value = response.json().await.context("flags")?;
        let version = flags["version"]
            .as_u64()
            .ok_or_else(|| anyhow!("no version in {flags}"))?;
        let mut arrived = vec![None; n];
        let mut count = 0;
        let deadline = started + Duration::from_secs(30);
        while count < n {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, seen.recv()).await {
                Ok(Some((client, v, at))) if v == version && arrived[client].is_none() => {
                    arrived[client] = Some(at - started);
                    count += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => bail!("only {count} of {n} pages saw version {version}"),
            }
        }
        let times: Vec<Duration> = arrived.into_iter().flatten().collect();
        last_page.push(times.iter().copied().max().unwrap_or_default());
        every_page.extend(times);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for task in tasks {
        task.abort();
    }
    server.stop().await?;
    Ok(CutoverResult {
        clients: n,
        changes,
        last_page_ms: spread(last_page),
        every_page_ms: spread(every_page),
    })
}
