//! `--suite logins`: thor's memory through bursts of concurrent wrong sign-ins. Each password
//! check (Argon2id) takes about 19 MiB while it runs; unbounded, 64 at once took the server to
//! 1.7 GB and it kept 1.2 GB afterwards.
//!
//! Thor is started with the sign-in throttle opened wide, so every attempt reaches a password
//! check (the worst case: many addresses, many usernames); then `--logins` wrong sign-ins are
//! sent at once, three bursts in a row. RSS is sampled every 5 ms during each burst (its peak)
//! and read again a second after it (what the burst left behind). A last burst with the
//! default throttle shows what a single attacker meets.

use crate::{Args, Kind, Server};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BURSTS: usize = 3;

pub(crate) async fn run(args: &Args) -> Result<()> {
    let bin = crate::built_thor(args)?;
    eprintln!("{}", crate::machine_line());
    let wide_open = [
        ("THOR_LOGIN_FAILURES_PER_USER", "1000000"),
        ("THOR_LOGIN_FAILURES_PER_ADDRESS", "1000000"),
    ];
    let mut server = Server::start_with(Kind::Thor, bin, 0, &wide_open).await?;
    let result = bursts(args, &server).await;
    server.stop().await?;
    let rows = result?;

    let mut throttled_server = Server::start(Kind::Thor, bin, 0).await?;
    let throttled = burst(args, &throttled_server).await;
    throttled_server.stop().await?;
    let (_, _, statuses, elapsed) = throttled?;

    println!(
        "| burst | concurrent wrong sign-ins | answers | took s | RSS before MB | peak RSS MB | RSS 1 s after MB | VmHWM MB |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} |",
            row.n,
            args.logins,
            row.statuses,
            row.elapsed.as_secs_f64(),
            mb(row.before_kb),
            mb(row.peak_kb),
            mb(row.after_kb),
            mb(row.hwm_kb)
        );
    }
    println!(
        "\nWith the default throttle, one address: {statuses} in {:.2} s.",
        elapsed.as_secs_f64()
    );
    Ok(())
}

struct Row {
    n: usize,
    statuses: String,
    elapsed: Duration,
    before_kb: u64,
    peak_kb: u64,
    after_kb: u64,
    /// The process's peak RSS since it started (the kernel's high-water mark).
    hwm_kb: u64,
}

async fn bursts(args: &Args, server: &Server) -> Result<Vec<Row>> {
    // Start-up allocations settle before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rows = Vec::new();
    for n in 1..=BURSTS {
        let before_kb = server.rss_kb()?;
        let (peak_kb, hwm_kb, statuses, elapsed) = burst(args, server).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after_kb = server.rss_kb()?;
        eprintln!(
            "burst {n}: {statuses} in {:.2} s; RSS {} → peak {} → {} MB",
            elapsed.as_secs_f64(),
            mb(before_kb),
            mb(peak_kb),
            mb(after_kb)
        );
        rows.push(Row {
            n,
            statuses,
            elapsed,
            before_kb,
            peak_kb,
            after_kb,
            hwm_kb,
        });
    }
    Ok(rows)
}

/// `--logins` wrong sign-ins at once; the peak RSS sampled meanwhile, the answers by status.
async fn burst(args: &Args, server: &Server) -> Result<(u64, u64, String, Duration)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.logins)
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build an HTTP client")?;
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        let pid = server.child.id();
        tokio::spawn(async move {
            let path = format!("/proc/{pid}/status");
            while !done.load(Ordering::SeqCst) {
                if let Some(kb) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| crate::status_line_kb(&s, "VmRSS:"))
                {
                    peak.fetch_max(kb, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let url = format!("http://{}/api/auth/login", server.addr);
    let attempts: Vec<_> = (0..args.logins)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(
                        &serde_json::json!({"username": "demo", "password": format!("guess {i}")}),
                    )
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for attempt in attempts {
        let status = match attempt.await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("error ({e})"),
            Err(e) => format!("task failed ({e})"),
        };
        *by_status.entry(status).or_default() += 1;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.await.context("the RSS sampler failed")?;
    let statuses = by_status
        .iter()
        .map(|(status, n)| format!("{n}× {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    let peak_kb = peak.load(Ordering::SeqCst).max(server.rss_kb()?);
    let hwm_kb = server.status_kb("VmHWM:")?;
    Ok((peak_kb, hwm_kb, statuses, elapsed))
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
