//! Runtime settings, in layers: built-in defaults, then `Leptos.toml`, then the environment.
//!
//! `Leptos.toml` is the server's settings file. cargo-leptos does not read it (its build
//! settings live in the workspace `Cargo.toml`); `thor` does, at start-up. The `LEPTOS_*`
//! variables that cargo-leptos sets when it runs the server win over the file, so
//! `cargo leptos watch` and a plain `thor` serve the same site.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file `thor` reads when `--config`/`THOR_CONFIG` names none and it exists here.
pub const DEFAULT_CONFIG_FILE: &str = "Leptos.toml";

#[derive(Clone)]
pub struct Settings {
    pub site: SiteSettings,
    pub storage: StorageSettings,
    pub hub: HubSettings,
    pub security: SecuritySettings,
    pub market: MarketSettings,
}

#[derive(Debug, Clone)]
pub struct MarketSettings {
    /// The simulator's seed: the same seed gives the same prices.
    pub seed: u64,
    /// The symbols to simulate; empty means the simulator's default list.
    pub symbols: Vec<String>,
    /// Trade each symbol only during its exchange's regular session (default: around the clock,
    /// so the dashboard is alive at any hour).
    pub exchange_hours: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SecuritySettings {
    /// Serve on a non-loopback address even while demo users keep their demo passwords.
    pub allow_default_passwords: bool,
}

#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub addr: SocketAddr,
    pub root: String,
    pub pkg_dir: String,
    pub output_name: String,
    pub reload_port: u32,
    /// `DEV` or `PROD`, as Leptos names them.
    pub env: String,
}

#[derive(Clone)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    /// `None`: an SQLite file `thor.db` in `data_dir`.
    pub database_url: Option<DatabaseUrl>,
}

#[derive(Debug, Clone)]
pub struct HubSettings {
    pub heartbeat_interval: Duration,
    /// Every this many heartbeats, the heartbeat also reports active jobs and topic sequences.
    pub heartbeat_report_every: u32,
    pub max_connections: usize,
    /// Open sockets one user may hold at once (tabs, devices).
    pub max_connections_per_user: usize,
    pub max_frame_bytes: usize,
    /// Live messages one connection may have queued before it is closed as too slow (4008).
    pub queue_capacity: usize,
    /// Messages each replayed stream (bars, probes) keeps for clients that resume.
    pub replay_capacity: usize,
    /// Messages a client may send per second on average, and in a burst.
    pub client_messages_per_second: u32,
    pub client_burst: u32,
    /// Synthetic `probe` messages per second, for measuring delivery; 0 = off.
    pub probe_rate_hz: u32,
    /// With a Redis URL, instances share the hub over Redis pub/sub and take turns running
    /// the jobs under a lease.
    pub redis_url: Option<DatabaseUrl>,
    /// What every Redis key and channel of this deployment starts with (`<prefix>:hub`, …), so
    /// several deployments can share one Redis.
    pub redis_prefix: String,
    /// How long the jobs lease lasts without renewal: the jobs move to another instance within
    /// about this long after the holder dies.
    pub lease_ttl: Duration,
}

/// A database URL, which may hold a password: it prints with the password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest = &url[scheme_end + 3..];
        let Some(at) = rest.find('@') else {
            return url.clone();
        };
        match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.clone(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageSettings")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url)
            .finish()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("site", &self.site)
            .field("storage", &self.storage)
            .field("hub", &self.hub)
            .field("security", &self.security)
            .field("market", &self.market)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            site: SiteSettings {
                addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
                root: "target/site".into(),
                pkg_dir: "pkg".into(),
                output_name: option_env!("LEPTOS_OUTPUT_NAME")
                    .unwrap_or("thor")
                    .to_string(),
                reload_port: 3001,
                env: "DEV".into(),
            },
            storage: StorageSettings {
                data_dir: PathBuf::from("data"),
                database_url: None,
            },
            hub: HubSettings {
                heartbeat_interval: Duration::from_secs(1),
                heartbeat_report_every: 30,
                max_connections: 10_000,
                max_connections_per_user: 16,
                max_frame_bytes: 64 * 1024,
                queue_capacity: 256,
                replay_capacity: 1024,
                client_messages_per_second: 20,
                client_burst: 40,
                probe_rate_hz: 0,
                redis_url: None,
                redis_prefix: "thor".into(),
                lease_ttl: Duration::from_secs(3),
            },
            security: SecuritySettings::default(),
            market: MarketSettings {
                seed: 42,
                symbols: Vec::new(),
                exchange_hours: false,
            },
        }
    }
}

/// `Leptos.toml` as written. Unknown keys are refused so a typo cannot pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSettings {
    #[serde(default)]
    site: FileSite,
    #[serde(default)]
    storage: FileStorage,
    #[serde(default)]
    hub: FileHub,
    #[serde(default)]
    security: FileSecurity,
    #[serde(default)]
    market: FileMarket,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileMarket {
    seed: Option<u64>,
    symbols: Option<Vec<String>>,
    exchange_hours: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSecurity {
    allow_default_passwords: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSite {
    addr: Option<String>,
    root: Option<String>,
    pkg_dir: Option<String>,
    output_name: Option<String>,
    reload_port: Option<u32>,
    env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileStorage {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileHub {
    heartbeat_interval_ms: Option<u64>,
    heartbeat_report_every: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_user: Option<usize>,
    max_frame_bytes: Option<usize>,
    queue_capacity: Option<usize>,
    replay_capacity: Option<usize>,
    client_messages_per_second: Option<u32>,
    client_burst: Option<u32>,
    probe_rate_hz: Option<u32>,
    redis_url: Option<String>,
    redis_prefix: Option<String>,
    lease_ttl_ms: Option<u64>,
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name} {value:?} is neither true nor false"),
    }
}

impl Settings {
    /// Loads the settings the process will run with: `explicit` (from `--config`/`THOR_CONFIG`)
    /// must exist; otherwise `Leptos.toml` in the working directory is read if present.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let text = match explicit {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read settings file {}", path.display()))?,
            ),
            None => match std::fs::read_to_string(DEFAULT_CONFIG_FILE) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(e).context(format!("cannot read {DEFAULT_CONFIG_FILE}"));
                }
            },
        };
        let source =
            explicit.map_or_else(|| DEFAULT_CONFIG_FILE.into(), |p| p.display().to_string());
        Self::from_layers(text.as_deref(), &source, |key| std::env::var(key).ok())
    }

    /// Defaults, then the file's text (if any), then `env`. `source` names the file in errors.
    pub fn from_layers(
        file: Option<&str>,
        source: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut settings = Settings::default();
        let file: FileSettings = match file {
            Some(text) => toml::from_str(text).with_context(|| format!("in {source}"))?,
            None => FileSettings::default(),
        };
        let env = |key: &str| env(key).filter(|v| !v.trim().is_empty());

        let site = &mut settings.site;
        if let Some(addr) = env("LEPTOS_SITE_ADDR").or(file.site.addr) {
            site.addr = addr
                .parse()
                .with_context(|| format!("site address {addr:?} is not host:port"))?;
        }
        if let Some(root) = env("LEPTOS_SITE_ROOT").or(file.site.root) {
            site.root = root;
        }
        if let Some(dir) = env("LEPTOS_SITE_PKG_DIR").or(file.site.pkg_dir) {
            site.pkg_dir = dir;
        }
        if let Some(name) = env("LEPTOS_OUTPUT_NAME").or(file.site.output_name) {
            site.output_name = name;
        }
        if let Some(port) = env("LEPTOS_RELOAD_PORT") {
            site.reload_port = port
                .parse()
                .with_context(|| format!("LEPTOS_RELOAD_PORT {port:?} is not a port"))?;
        } else if let Some(port) = file.site.reload_port {
            site.reload_port = port;
        }
        if let Some(mode) = env("LEPTOS_ENV").or(file.site.env) {
            match mode.to_ascii_uppercase().as_str() {
                "DEV" | "DEVELOPMENT" => site.env = "DEV".into(),
                "PROD" | "PRODUCTION" => site.env = "PROD".into(),
                _ => bail!("site env {mode:?} is neither DEV nor PROD"),
            }
        }

        if let Some(dir) = env("THOR_DATA_DIR") {
            settings.storage.data_dir = dir.into();
        } else if let Some(dir) = file.storage.data_dir {
            settings.storage.data_dir = dir;
        }
        settings.storage.database_url = env("DATABASE_URL")
            .or(file.storage.database_url)
            .map(DatabaseUrl::new);

        let hub = &mut settings.hub;
        if let Some(ms) = file.hub.heartbeat_interval_ms {
            if ms == 0 {
                bail!("hub.heartbeat-interval-ms must be above zero");
            }
            hub.heartbeat_interval = Duration::from_millis(ms);
        }
        if let Some(every) = file.hub.heartbeat_report_every {
            if every == 0 {
                bail!("hub.heartbeat-report-every must be above zero");
            }
            hub.heartbeat_report_every = every;
        }
        if let Some(max) = env("THOR_MAX_CONNECTIONS") {
            hub.max_connections = max
                .parse()
                .with_context(|| format!("THOR_MAX_CONNECTIONS {max:?} is not a number"))?;
        } else if let Some(max) = file.hub.max_connections {
            hub.max_connections = max;
        }
        if let Some(bytes) = file.hub.max_frame_bytes {
            hub.max_frame_bytes = bytes;
        }
        let positive = |name: &str, value: Option<usize>| match value {
            Some(0) => bail!("hub.{name} must be above zero"),
            other => Ok(other),
        };
        let per_user = env("THOR_MAX_CONNECTIONS_PER_USER")
            .map(|n| {
                n.parse::<usize>()
                    .with_context(|| format!("THOR_MAX_CONNECTIONS_PER_USER {n:?} is not a number"))
            })
            .transpose()?
            .or(file.hub.max_connections_per_user);
        if let Some(n) = positive("max-connections-per-user", per_user)? {
            hub.max_connections_per_user = n;
        }
        if let Some(n) = positive("queue-capacity", file.hub.queue_capacity)? {
            hub.queue_capacity = n;
        }
        if let Some(n) = positive("replay-capacity", file.hub.replay_capacity)? {
            hub.replay_capacity = n;
        }
        if let Some(n) = positive(
            "client-messages-per-second",
            file.hub.client_messages_per_second.map(|n| n as usize),
        )? {
            hub.client_messages_per_second = n as u32;
        }
        if let Some(n) = positive("client-burst", file.hub.client_burst.map(|n| n as usize))? {
            hub.client_burst = n as u32;
        }
        if let Some(rate) = env("THOR_PROBE_RATE") {
            hub.probe_rate_hz = rate
                .parse()
                .with_context(|| format!("THOR_PROBE_RATE {rate:?} is not a whole number"))?;
        } else if let Some(rate) = file.hub.probe_rate_hz {
            hub.probe_rate_hz = rate;
        }
        if hub.probe_rate_hz > 1000 {
            bail!("the probe rate is at most 1000 per second");
        }
        hub.redis_url = env("REDIS_URL")
            .or(file.hub.redis_url)
            .map(DatabaseUrl::new);
        if let Some(prefix) = env("THOR_REDIS_PREFIX").or(file.hub.redis_prefix) {
            if prefix.trim().is_empty() {
                bail!("hub.redis-prefix must not be empty");
            }
            hub.redis_prefix = prefix;
        }
        if let Some(ms) = env("THOR_LEASE_TTL_MS")
            .map(|ms| {
                ms.parse::<u64>()
                    .with_context(|| format!("THOR_LEASE_TTL_MS {ms:?} is not a number"))
            })
            .transpose()?
            .or(file.hub.lease_ttl_ms)
        {
            if ms < 300 {
                bail!("the lease TTL must be at least 300 ms");
            }
            hub.lease_ttl = Duration::from_millis(ms);
        }

        if let Some(allow) = env("THOR_ALLOW_DEFAULT_PASSWORDS") {
            settings.security.allow_default_passwords =
                parse_bool("THOR_ALLOW_DEFAULT_PASSWORDS", &allow)?;
        } else if let Some(allow) = file.security.allow_default_passwords {
            settings.security.allow_default_passwords = allow;
        }
        if let Some(hours) = env("THOR_EXCHANGE_HOURS") {
            settings.market.exchange_hours = parse_bool("THOR_EXCHANGE_HOURS", &hours)?;
        } else if let Some(hours) = file.market.exchange_hours {
            settings.market.exchange_hours = hours;
        }

        if let Some(seed) = env("THOR_MARKET_SEED") {
            settings.market.seed = seed
                .parse()
                .with_context(|| format!("THOR_MARKET_SEED {seed:?} is not a whole number"))?;
        } else if let Some(seed) = file.market.seed {
            settings.market.seed = seed;
        }
        let symbols = match env("THOR_SYMBOLS") {
            Some(list) => Some(list.split(',').map(|s| s.trim().to_string()).collect()),
            None => file.market.symbols,
        };
        if let Some(symbols) = symbols {
            let symbols: Vec<String> = symbols
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .collect();
            if let Some(bad) = symbols.iter().find(|s| {
                s.is_empty()
                    || s.len() > 12
                    || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
            }) {
                bail!("symbol {bad:?} is not a ticker (letters, digits and dots, 1 to 12 long)");
            }
            settings.market.symbols = symbols;
        }
        Ok(settings)
    }

    /// The database to open: `DATABASE_URL` or the file's, else `thor.db` in the data directory.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self.storage.database_url {
            Some(url) => url.clone(),
            None => DatabaseUrl::new(format!(
                "sqlite://{}",
                self.storage.data_dir.join("thor.db").display()
            )),
        }
    }

    pub fn leptos_options(&self) -> leptos::config::LeptosOptions {
        let env = if self.site.env == "PROD" {
            leptos::config::Env::PROD
        } else {
            leptos::config::Env::DEV
        };
        leptos::config::LeptosOptions::builder()
            .output_name(self.site.output_name.as_str())
            .site_root(self.site.root.as_str())
            .site_pkg_dir(self.site.pkg_dir.as_str())
            .site_addr(self.site.addr)
            .reload_port(self.site.reload_port)
            .env(env)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_serve_on_loopback_with_an_sqlite_file_in_data() {
        let settings = Settings::from_layers(None, "none", no_env).expect("defaults load");
        assert_eq!(settings.site.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(settings.database_url().expose(), "sqlite://data/thor.db");
        assert_eq!(settings.hub.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(settings.hub.heartbeat_report_every, 30);
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let file = r#"
            [site]
            addr = "127.0.0.1:4000"
            [storage]
            data-dir = "/var/lib/thor"
            [hub]
            heartbeat-interval-ms = 250
        "#;
        let from_file = Settings::from_layers(Some(file), "t", no_env).expect("file loads");
        assert_eq!(from_file.site.addr.to_string(), "127.0.0.1:4000");
        assert_eq!(
            from_file.database_url().expose(),
            "sqlite:///var/lib/thor/thor.db"
        );
        assert_eq!(from_file.hub.heartbeat_interval, Duration::from_millis(250));

        let env = |key: &str| match key {
            "LEPTOS_SITE_ADDR" => Some("0.0.0.0:8080".to_string()),
            "THOR_DATA_DIR" => Some("/tmp/thor".to_string()),
            _ => None,
        };
        let layered = Settings::from_layers(Some(file), "t", env).expect("layers load");
        assert_eq!(layered.site.addr.to_string(), "0.0.0.0:8080");
        assert_eq!(
            layered.database_url().expose(),
            "sqlite:///tmp/thor/thor.db"
        );

        let pg = |key: &str| {
            (key == "DATABASE_URL").then(|| "postgres://thor:secret@db:5432/thor".to_string())
        };
        let with_pg = Settings::from_layers(Some(file), "t", pg).expect("pg loads");
        assert_eq!(
            with_pg.database_url().expose(),
            "postgres://thor:secret@db:5432/thor"
        );
    }

    #[test]
    fn mistakes_in_the_file_are_refused_with_the_reason() {
        let typo = Settings::from_layers(Some("[site]\nadress = \"x\"\n"), "Leptos.toml", no_env);
        let message = format!("{:#}", typo.expect_err("typo refused"));
        assert!(
            message.contains("Leptos.toml") && message.contains("adress"),
            "{message}"
        );

        let bad_addr = Settings::from_layers(Some("[site]\naddr = \"localhost\"\n"), "t", no_env);
        assert!(bad_addr.is_err());

        let zero = Settings::from_layers(Some("[hub]\nheartbeat-interval-ms = 0\n"), "t", no_env);
        assert!(zero.is_err());
    }

    #[test]
    fn database_passwords_never_print() {
        let url = DatabaseUrl::new("postgres://thor:hunter2@db:5432/thor");
        assert_eq!(url.redacted(), "postgres://thor:***@db:5432/thor");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(
            DatabaseUrl::new("sqlite://data/thor.db").redacted(),
            "sqlite://data/thor.db"
        );
    }

    #[test]
    fn the_shipped_leptos_toml_is_valid() {
        let text = include_str!("../../Leptos.toml");
        let settings = Settings::from_layers(Some(text), "Leptos.toml", no_env)
            .expect("the shipped Leptos.toml loads");
        assert_eq!(settings.site.addr.to_string(), "127.0.0.1:3000");
    }
}
