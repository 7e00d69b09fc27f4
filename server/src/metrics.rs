//! The server's one Prometheus registry, on `prometheus-client`. Each part of the server (the
//! hub, the jobs, the cutover control plane, the front door) registers its own series on it at
//! start-up and updates them lock-free; `GET /metrics` renders it in the OpenMetrics text format.
//! The process's own series (`process_*`: CPU, memory, file descriptors) are read at each scrape
//! ([`ProcessCollector`]).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Metric, Registry};
use std::sync::{Arc, Mutex, OnceLock};

/// Shared by every part of one server; cloning shares it.
#[derive(Clone, Default)]
pub struct MetricsRegistry {
    registry: Arc<Mutex<Registry>>,
}

/// The labels of a series with one label, e.g. `type="probe"`.
pub type OneLabel = [(&'static str, &'static str); 1];

impl MetricsRegistry {
    /// A registry that already holds the process's series (`process_*`), as the server's does.
    pub fn with_process_metrics() -> Self {
        let registry = Self::default();
        registry
            .lock()
            .register_collector(Box::new(ProcessCollector));
        registry
    }

    /// Adds a series. A counter's name is given without `_total`: the exposition adds it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.lock().register(name, help, metric);
    }

    /// Registers and returns a plain counter.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.register(name, help, counter.clone());
        counter
    }

    /// Registers and returns a gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let gauge: Gauge = Gauge::default();
        self.register(name, help, gauge.clone());
        gauge
    }

    /// Registers `name` with one counter per value of `label`, created now (so every value
    /// shows, at 0, from the first scrape), and returns them in the order of `values`: the hot
    /// path then adds to a counter without looking its labels up.
    pub fn counters_by(
        &self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[&'static str],
    ) -> Vec<Counter> {
        let family = Family::<OneLabel, Counter>::default();
        let counters = values
            .iter()
            .map(|value| family.get_or_create_owned(&[(label, *value)]))
            .collect();
        self.register(name, help, family);
        counters
    }

    /// The OpenMetrics text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.lock()) {
            tracing::error!(error = %e, "cannot render the metrics");
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Registration and rendering leave the registry whole at every step.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The conventional `process_*` series of this process (CPU seconds, resident and virtual
/// memory, open and allowed file descriptors, start time), read from `/proc/self` at each scrape;
/// none on systems without `/proc`. Read here rather than through a crate: `prometheus-client`
/// has no process collector, the one in the `prometheus` crate serves that crate's own registry,
/// and this is a few numbers from three files.
#[derive(Debug)]
pub struct ProcessCollector;

/// One reading of the process's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessFigures {
    pub cpu_seconds: f64,
    pub resident_bytes: i64,
    pub virtual_bytes: i64,
    pub start_time_seconds: f64,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
}

impl ProcessFigures {
    /// This process, now (`None` without a readable `/proc/self/stat`).
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| boot_time(&text));
        let ticks = clock_ticks_per_second();
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as i64);
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|text| max_open_files(&text));
        Self::parse(&stat, ticks, page_size(), boot_time.unwrap_or(0)).map(|figures| Self {
            open_fds,
            max_fds,
            ..figures
        })
    }

    /// The figures in `/proc/self/stat`'s text (see proc(5)): CPU ticks, sizes in pages, the
    /// start in ticks after boot.
    fn parse(stat: &str, ticks_per_second: f64, page_size: i64, boot_time: i64) -> Option<Self> {
        // The command name (field 2) may hold spaces and parentheses: count from its end.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // Field n of proc(5) is fields[n - 3] here (field 3, the state, comes first).
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<i64>().ok());
        let (utime, stime) = (field(14)?, field(15)?);
        let start_ticks = field(22)?;
        Some(Self {
            cpu_seconds: (utime + stime) as f64 / ticks_per_second,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)?.saturating_mul(page_size),
            start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks_per_second,
            open_fds: None,
            max_fds: None,
        })
    }
}

/// `btime` in `/proc/stat`: when the machine booted, in seconds since the Unix epoch.
fn boot_time(proc_stat: &str) -> Option<i64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of open files in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks > 0 { ticks as f64 } else { 100.0 }
    })
}

fn page_size() -> i64 {
    static PAGE: OnceLock<i64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 { page as i64 } else { 4096 }
    })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(figures) = ProcessFigures::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(figures.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauge = |name: &str, help: &str, value: f64| {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            figures.resident_bytes as f64,
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            figures.virtual_bytes as f64,
        )?;
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            figures.start_time_seconds,
        )?;
        if let Some(open) = figures.open_fds {
            gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                open as f64,
            )?;
        }
        if let Some(max) = figures.max_fds {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_figures_come_from_procs_fields_even_with_a_strange_command_name() {
        let stat = "4242 (thor (test) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    12 0 1000 1073741824 2048 18446744073709551615";
        let figures = ProcessFigures::parse(stat, 100.0, 4096, 1_700_000_000).expect("parses");
        assert_eq!(figures.cpu_seconds, 3.0);
        assert_eq!(figures.resident_bytes, 2048 * 4096);
        assert_eq!(figures.virtual_bytes, 1_073_741_824);
        assert_eq!(figures.start_time_seconds, 1_700_000_010.0);
        assert_eq!(
            max_open_files(
                "Limit Soft Hard Units\nMax open files            1024                 524288               files\n"
            ),
            Some(1024)
        );
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn the_process_series_show_with_their_conventional_names() {
        let text = MetricsRegistry::with_process_metrics().render();
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            let value: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name}is missing: {text}"));
            // A test binary may not have used a whole clock tick of CPU yet.
            let least = if name.starts_with("process_cpu") {
                0.0
            } else {
                1.0
            };
            assert!(value >= least, "{name}is {value}");
        }
        assert!(
            text.contains("# TYPE process_cpu_seconds counter\n"),
            "{text}"
        );
    }

    #[test]
    fn labelled_counters_show_from_the_start_and_count_apart() {
        let registry = MetricsRegistry::default();
        let counters = registry.counters_by(
            "thor_test_things",
            "Things, by colour.",
            "colour",
            &["red", "blue"],
        );
        let gauge: Gauge = Gauge::default();
        registry.register("thor_test_level", "A level.", gauge.clone());
        counters[1].inc_by(3);
        gauge.set(7);
        let text = registry.render();
        assert!(
            text.contains("thor_test_things_total{colour=\"red\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("thor_test_things_total{colour=\"blue\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE thor_test_things counter\n"), "{text}");
        assert!(text.contains("thor_test_level 7\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
