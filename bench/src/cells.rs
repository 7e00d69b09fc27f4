//! One cell of the hub benchmark: N idle sockets (memory), or N sockets under a probe rate
//! (deliveries, latency, CPU).

use crate::*;

pub(crate) async fn idle_cell(args: &Args, kind: Kind, n: usize) -> Result<IdleResult> {
    let mut server = Server::start(kind, bin_of(args, kind), 0).await?;
    let result = async {
        // Let start-up allocations settle before the baseline.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_before_kb = server.rss_kb()?;
        let clients = Clients::connect(&server, n, args.connect_batch, args.probe_only).await;
        // The snapshot and the first live messages arrive and are read.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after_kb = server.rss_kb()?;
        let connected = clients.connected();
        let connect_errors = clients.connect_errors;
        let first_error = clients.first_connect_error.clone();
        clients.stop().await;
        if connected == 0 {
            bail!(
                "no client connected ({connect_errors} errors; first: {})",
                first_error.unwrap_or_default()
            );
        }
        Ok(IdleResult {
            server: kind,
            clients: n,
            connected,
            connect_errors,
            rss_before_kb,
            rss_after_kb,
            kb_per_connection: (rss_after_kb as f64 - rss_before_kb as f64) / connected as f64,
        })
    }
    .await;
    server.stop().await?;
    result
}

pub(crate) async fn load_cell(args: &Args, kind: Kind, n: usize, rate: u32) -> Result<LoadResult> {
    let mut server = Server::start(kind, bin_of(args, kind), rate).await?;
    let result = measure(args, &mut server, n, rate).await;
    server.stop().await?;
    result
}

pub(crate) async fn measure(
    args: &Args,
    server: &mut Server,
    n: usize,
    rate: u32,
) -> Result<LoadResult> {
    let clients = Clients::connect(server, n, args.connect_batch, args.probe_only).await;
    if clients.connected() == 0 {
        let e = clients.first_connect_error.clone().unwrap_or_default();
        clients.stop().await;
        bail!("no client connected; first error: {e}");
    }
    // The snapshot, then the warm-up.
    tokio::time::sleep(Duration::from_secs(1 + args.warmup)).await;

    // Recording starts before S0 is read, so every probe after S0 is recorded.
    clients.shared.recording.store(true, Ordering::SeqCst);
    let recording_from = Instant::now();
    let s0 = server.last_probe_seq().await?;
    let opened = Instant::now();
    let cpu_at_open = server.cpu_seconds()?;
    let window = Duration::from_secs(args.seconds);
    let mut peak_rss_kb = server.rss_kb()?;
    while opened.elapsed() < window {
        let left = window.saturating_sub(opened.elapsed());
        tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        peak_rss_kb = peak_rss_kb.max(server.rss_kb()?);
    }
    let s1 = server.last_probe_seq().await?;
    let window_s = opened.elapsed().as_secs_f64();
    let window_cpu_s = server.cpu_seconds()? - cpu_at_open;
    if s1 <= s0 {
        clients.stop().await;
        bail!(
            "the server published no probe in the window (last seq {s0} → {s1}); \
             does it support the probe rate setting?"
        );
    }

    // The drain: until every live client has a probe at or past S1, or the time is up.
    clients.shared.drain_target.store(s1, Ordering::SeqCst);
    let drain_until = Instant::now() + Duration::from_secs(args.drain_seconds);
    while Instant::now() < drain_until {
        let done = clients.shared.caught_up.load(Ordering::SeqCst)
            + clients.shared.ended.load(Ordering::SeqCst);
        if done >= clients.connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        peak_rss_kb = peak_rss_kb.max(server.rss_kb()?);
    }
    clients.shared.recording.store(false, Ordering::SeqCst);
    let recorded_s = recording_from.elapsed().as_secs_f64();

    let connected = clients.connected();
    let connect_errors = clients.connect_errors;
    let reports = clients.stop().await;

    let mut latencies: Vec<u32> = Vec::new();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut ended_early = 0usize;
    let mut first_end_reason = None;
    let mut out_of_order = 0u64;
    let mut messages = 0u64;
    let mut bytes = 0u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for report in &reports {
        for (kind, count) in &report.by_type {
            *by_type.entry(kind.to_string()).or_default() += count;
        }
        let in_window = report
            .samples
            .iter()
            .map(|s| stats::unpack(*s))
            .filter(|(seq, _)| *seq > s0 && *seq <= s1);
        let count = stats::window_count(
            s0,
            s1,
            report.first_probe,
            in_window.clone().map(|(seq, _)| seq),
        );
        expected += count.expected;
        delivered += count.received;
        lost += count.lost();
        latencies.extend(in_window.map(|(_, latency)| latency));
        if let Some(reason) = &report.ended {
            ended_early += 1;
            first_end_reason.get_or_insert_with(|| reason.clone());
        }
        out_of_order += report.out_of_order;
        messages += report.messages;
        bytes += report.bytes;
    }
    latencies.sort_unstable();
    Ok(LoadResult {
        server: server.kind,
        clients: n,
        rate,
        connected,
        connect_errors,
        ended_early,
        first_end_reason,
        window_s,
        published: s1 - s0,
        expected,
        delivered,
        delivered_per_s: delivered as f64 / window_s,
        lost,
        loss_pct: if expected == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / expected as f64
        },
        out_of_order,
        p50_us: stats::percentile(&latencies, 50.0),
        p99_us: stats::percentile(&latencies, 99.0),
        max_us: latencies.last().copied(),
        peak_rss_kb,
        // Every frame the window's probes made (a socket receives them alone with
        // `--probe-only`), against the server's CPU over the same window.
        cpu_us_per_frame: (delivered > 0).then(|| window_cpu_s * 1e6 / delivered as f64),
        messages,
        bytes,
        frames_per_socket_s: by_type
            .into_iter()
            .map(|(kind, count)| (kind, count as f64 / connected as f64 / recorded_s))
            .collect(),
    })
}
