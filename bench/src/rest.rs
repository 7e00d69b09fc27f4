//! `--suite rest`: signed-in `GET /api/account/balance` under `wrk`, thor against `bare-rest`
//! (an axum + sqlx handler with nothing else), on the same machine in the same run. Each server
//! is started once, warmed up, then measured `--repeat` times, the two alternating so that a
//! busy moment of the machine falls on both; the median run of each is compared.
//!
//! Every thor request carries the session cookie, so it goes through everything a browser's
//! does: the layers, the session lookup, the account check and the hub's latest message. A run
//! with any non-2xx answer or socket error counts as failed: 401s or 429s are not throughput.

use crate::{Args, Kind, Server, bin_of};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::process::Command;

const PATH: &str = "/api/account/balance";

#[derive(Debug, Clone, Serialize)]
struct Run {
    server: &'static str,
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub(crate) async fn run(args: &Args) -> Result<()> {
    let kinds = [Kind::Thor, Kind::BareRest];
    for kind in kinds {
        let bin = bin_of(args, kind);
        if !bin.is_file() {
            bail!(
                "{} not found: build it with `cargo build --release -p thor-server -p thor-bench`",
                bin.display()
            );
        }
    }
    eprintln!("{}", crate::machine_line());
    let mut servers = Vec::new();
    for kind in kinds {
        let server = Server::start(kind, bin_of(args, kind), 0).await?;
        // The answer must be there (and right) before it is measured.
        let cookie = cookie_of(&server);
        let probe = server
            .http
            .get(format!("http://{}{PATH}", server.addr))
            .header("cookie", cookie.clone().unwrap_or_default())
            .send()
            .await
            .context("the first request")?;
        if !probe.status().is_success() {
            bail!("{} answered {} to {PATH}", kind.name(), probe.status());
        }
        wrk(args, &server, cookie.as_deref(), args.warmup.max(1))?;
        servers.push((kind, server, cookie));
    }
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=args.repeat.max(1) {
        for (kind, server, cookie) in &servers {
            let run = wrk(args, server, cookie.as_deref(), args.seconds)?;
            eprintln!(
                "round {round}: {} {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                kind.name(),
                run.requests_per_s,
                run.p50_ms,
                run.p99_ms
            );
            runs.push(run);
        }
    }
    for (_, mut server, _) in servers {
        server.stop().await?;
    }

    let median = |name: &str| {
        let mut of: Vec<Run> = runs.iter().filter(|r| r.server == name).cloned().collect();
        of.sort_by(|a, b| a.requests_per_s.total_cmp(&b.requests_per_s));
        of.get(of.len() / 2).cloned()
    };
    let (Some(thor), Some(bare)) = (median("thor"), median("bare-rest")) else {
        bail!("no runs");
    };
    println!(
        "| server | req/s (median of {}) | p50 ms | p99 ms | every run, req/s |",
        args.repeat.max(1)
    );
    println!("|---|---:|---:|---:|---|");
    for best in [&thor, &bare] {
        let all: Vec<String> = runs
            .iter()
            .filter(|r| r.server == best.server)
            .map(|r| format!("{:.0}", r.requests_per_s))
            .collect();
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} |",
            best.server,
            best.requests_per_s,
            best.p50_ms,
            best.p99_ms,
            all.join(", ")
        );
    }
    println!(
        "\nthor / bare-rest: {:.2} (wrk -t2 -c{} -d{}s, {PATH})",
        thor.requests_per_s / bare.requests_per_s,
        args.connections,
        args.seconds
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&runs).context("cannot serialise the runs")?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn cookie_of(server: &Server) -> Option<String> {
    server
        .session
        .as_ref()
        .map(|token| format!("thor_session={token}"))
}

/// One wrk run against `server`; fails on any non-2xx answer or socket error.
fn wrk(args: &Args, server: &Server, cookie: Option<&str>, seconds: u64) -> Result<Run> {
    let mut command = Command::new("wrk");
    command
        .arg("-t2")
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency");
    if let Some(cookie) = cookie {
        command.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    command.arg(format!("http://{}{PATH}", server.addr));
    let output = command
        .output()
        .context("cannot run wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(server.kind.name(), &text)
}

fn parse(server: &'static str, text: &str) -> Result<Run> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("{server}: {}\n{text}", line.trim());
    }
    let requests_per_s = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let percentile = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .and_then(|v| duration_ms(v.trim()))
            .with_context(|| format!("no {p} latency in wrk's output:\n{text}"))
    };
    Ok(Run {
        server,
        requests_per_s,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
    })
}

/// wrk's durations: `812.00us`, `2.40ms`, `1.02s`.
fn duration_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 10s test @ http://127.0.0.1:1/api/account/balance
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.61ms    1.23ms  20.67ms   80.12%
    Req/Sec    12.41k     1.03k   14.59k    71.00%
  Latency Distribution
     50%  812.00us
     75%    3.06ms
     90%    3.89ms
     99%    1.02s
  246876 requests in 10.00s, 106.18MB read
Requests/sec:  24686.26
Transfer/sec:     10.62MB
";

    #[test]
    fn reads_wrk_and_refuses_runs_with_errors() {
        let run = parse("thor", OUTPUT).expect("parses");
        assert_eq!(run.requests_per_s, 24686.26);
        assert!((run.p50_ms - 0.812).abs() < 1e-9);
        assert!((run.p99_ms - 1020.0).abs() < 1e-9);
        let failing = OUTPUT.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(parse("thor", &failing).is_err());
    }
}
