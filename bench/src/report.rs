//! The report: the machine, the command, and the tables in Markdown.

use crate::*;

pub(crate) fn machine_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("Machine: {cpus} CPUs ({model}), Linux {kernel}; clients and server share them.")
}

pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn ms(us: Option<u32>) -> String {
    us.map_or_else(|| "—".into(), |us| format!("{:.2}", f64::from(us) / 1000.0))
}

pub(crate) fn markdown(args: &Args, report: &Report) -> String {
    let load = |kind: Kind, n: usize, rate: u32| {
        report
            .load
            .iter()
            .find(|r| r.server == kind && r.clients == n && r.rate == rate)
    };
    let idle = |kind: Kind, n: usize| {
        report
            .idle
            .iter()
            .find(|r| r.server == kind && r.clients == n)
            .map_or_else(|| "—".into(), |r| format!("{:.1}", r.kb_per_connection))
    };
    let rate_of = |r: Option<&LoadResult>| {
        r.map_or_else(|| "—".into(), |r| format!("{:.0}", r.delivered_per_s))
    };
    let lat = |r: Option<&LoadResult>| {
        r.map_or_else(
            || "—".into(),
            |r| format!("{} / {}", ms(r.p50_us), ms(r.p99_us)),
        )
    };
    let loss = |r: Option<&LoadResult>| {
        r.map_or_else(
            || "—".into(),
            |r| format!("{} ({:.3}%)", r.lost, r.loss_pct),
        )
    };
    let mut out = String::new();
    out.push_str(&format!("{}\n\n", report.machine));
    out.push_str(&format!("Command: `{}`\n\n", report.command));
    out.push_str(&format!(
        "Window {} s after {} s warm-up; latency = client receive time − the probe's `sent_us`; \
         loss = probe `seq`s a client never received in the window. Each cell's latencies are \
         N × R × {} samples, but only R × {} distinct probes: at a low R, p99 is the slowest \
         probe or two.\n\n",
        args.seconds, args.warmup, args.seconds, args.seconds
    ));
    out.push_str(
        "| N | R/s | thor msgs/s | bare msgs/s | thor p50 / p99 ms | bare p50 / p99 ms \
         | p99 thor/bare | thor loss | bare loss | thor peak RSS MB | thor KB/idle conn \
         | bare KB/idle conn |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &n in &args.clients {
        for &rate in &args.rates {
            let thor = load(Kind::Thor, n, rate);
            let bare = load(Kind::Bare, n, rate);
            let ratio = match (thor.and_then(|t| t.p99_us), bare.and_then(|b| b.p99_us)) {
                (Some(t), Some(b)) if b > 0 => format!("{:.2}", f64::from(t) / f64::from(b)),
                _ => "—".into(),
            };
            let rss = thor.map_or_else(
                || "—".into(),
                |t| format!("{:.1}", t.peak_rss_kb as f64 / 1024.0),
            );
            out.push_str(&format!(
                "| {n} | {rate} | {} | {} | {} | {} | {ratio} | {} | {} | {rss} | {} | {} |\n",
                rate_of(thor),
                rate_of(bare),
                lat(thor),
                lat(bare),
                loss(thor),
                loss(bare),
                idle(Kind::Thor, n),
                idle(Kind::Bare, n),
            ));
        }
    }
    out.push_str(
        "\nServer CPU per delivered probe (the window's CPU time over its deliveries):\n\n",
    );
    for &n in &args.clients {
        for &rate in &args.rates {
            let cpu = |kind| load(kind, n, rate).and_then(|r| r.cpu_us_per_frame);
            let ratio = match (cpu(Kind::Thor), cpu(Kind::Bare)) {
                (Some(t), Some(b)) if b > 0.0 => format!(", thor/bare {:.2}", t / b),
                _ => String::new(),
            };
            let us = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2} µs"));
            out.push_str(&format!(
                "- N={n} R={rate}: thor {}, bare {}{ratio}\n",
                us(cpu(Kind::Thor)),
                us(cpu(Kind::Bare))
            ));
        }
    }
    out.push_str("\nFrames per socket per second while recording, by type:\n\n");
    for r in &report.load {
        let kinds: Vec<String> = r
            .frames_per_socket_s
            .iter()
            .map(|(kind, per_s)| format!("{kind} {per_s:.2}"))
            .collect();
        out.push_str(&format!(
            "- {} N={} R={}: {}\n",
            r.server.name(),
            r.clients,
            r.rate,
            kinds.join(", ")
        ));
    }
    let troubles: Vec<String> = report
        .load
        .iter()
        .filter(|r| r.connect_errors > 0 || r.ended_early > 0 || r.out_of_order > 0)
        .map(|r| {
            format!(
                "- {} N={} R={}: {} connect errors, {} connections ended early{}, {} out-of-order probes",
                r.server.name(),
                r.clients,
                r.rate,
                r.connect_errors,
                r.ended_early,
                r.first_end_reason
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default(),
                r.out_of_order
            )
        })
        .chain(report.failures.iter().map(|f| format!("- failed: {f}")))
        .collect();
    if !troubles.is_empty() {
        out.push_str("\nClient-side trouble:\n");
        for t in troubles {
            out.push_str(&t);
            out.push('\n');
        }
    }
    out
}
