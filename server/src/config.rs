//! Runtime settings, in layers: each setting's declared default, then the settings file, then
//! the environment. A later layer wins.
//!
//! Every setting is declared once, in the `declare_settings!` table below: its type, its default,
//! its key in the file, its environment variable and, as its doc comment, its description. The
//! public structs, their `Default`, the environment layer, the unknown-key check and the README's
//! configuration table ([`configuration_table`], which a test compares with README.md) all come
//! from that table, so adding a setting is one entry there (and a rule in `validate` if it needs
//! one).
//!
//! [`Settings::load`] reads `Leptos.toml` from the working directory when it exists, or the file
//! `--config`/`THOR_CONFIG` names, which must exist. figment merges the file under the environment
//! and remembers which layer gave each value; a key that neither layer sets keeps its default.
//! Each value is then read as its setting's type, and [`Settings::validate`] applies the rules.
//! Every problem is reported at once, each naming the key, the file or variable the value came
//! from, and the value (passwords hidden). Unknown keys and sections in the file are refused.
//!
//! Every variable is read; blank ones count as unset. Booleans take true/false, 1/0, yes/no and
//! on/off; lists are comma-separated; durations are whole milliseconds (keys ending `-ms`).
//!
//! `Leptos.toml` is the server's settings file. cargo-leptos does not read it (its build settings
//! live in the workspace `Cargo.toml`); `thor` does, at start-up. The `LEPTOS_*` variables that
//! cargo-leptos sets when it runs the server win over the file, so `cargo leptos watch` and a
//! plain `thor` serve the same site.

mod declare;
mod kinds;
mod layers;
mod readme;
#[cfg(test)]
mod tests;

pub use declare::Declared;
pub use readme::configuration_table;

use declare::{Entry, declare_settings};
use figment::Figment;
use kinds::Kind;
use layers::Origin;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thor_core::cutover::Stage;
use thor_core::symbol::Symbol;

/// The file `thor` reads when `--config`/`THOR_CONFIG` names none and it exists here.
pub const DEFAULT_CONFIG_FILE: &str = "Leptos.toml";

declare_settings! {
    /// Where and how the dashboard is served; cargo-leptos sets the `LEPTOS_*` variables.
    site: SiteSettings {
        /// Listen address
        addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 3000)),
            key "addr", env "LEPTOS_SITE_ADDR";
        /// Built site (wasm, js, css, assets)
        root: String = "target/site".into(), key "root", env "LEPTOS_SITE_ROOT";
        /// Site package directory
        pkg_dir: String = "pkg".into(), key "pkg-dir", env "LEPTOS_SITE_PKG_DIR";
        /// Bundle name
        output_name: String = option_env!("LEPTOS_OUTPUT_NAME").unwrap_or("thor").into(),
            key "output-name", env "LEPTOS_OUTPUT_NAME";
        /// Live-reload port of `cargo leptos watch`
        reload_port: u32 = 3001, key "reload-port", env "LEPTOS_RELOAD_PORT";
        /// Leptos mode, `DEV` or `PROD`
        env: String = "DEV".into(), key "env", env "LEPTOS_ENV";
        /// The bundle's hashed names, as cargo-leptos writes them (a relative path is beside the `thor` executable; without the file, plain names)
        hash_file: PathBuf = "hash.txt".into(), key "hash-file", env "LEPTOS_HASH_FILE_NAME";
    }

    /// Where the data lives.
    storage: StorageSettings {
        /// Data directory (SQLite file `thor.db`)
        data_dir: PathBuf = "data".into(), key "data-dir", env "THOR_DATA_DIR";
        /// Database (a `sqlite://` or `postgres://` URL)
        database_url: Option<DatabaseUrl> = None, key "database-url", env "DATABASE_URL",
            shown "`sqlite://<data dir>/thor.db`";
        /// CA certificate (PEM) that signed PostgreSQL's certificate, for `sslmode=verify-full` with a private CA (the system's CAs otherwise)
        database_ca_file: Option<PathBuf> = None,
            key "database-ca-file", env "THOR_DATABASE_CA_FILE",
            shown "none: the system's CAs";
    }

    /// The WebSocket hub: heartbeat, limits, and sharing it over Redis.
    hub: HubSettings {
        /// Heartbeat tick (one `heartbeat` message per tick)
        heartbeat_interval: Duration = Duration::from_secs(1),
            key "heartbeat-interval-ms", env "THOR_HEARTBEAT_INTERVAL_MS";
        /// Heartbeats between job reports (active jobs and every topic's latest sequence)
        heartbeat_report_every: u32 = 30,
            key "heartbeat-report-every", env "THOR_HEARTBEAT_REPORT_EVERY";
        /// WebSocket connection limit (more are closed with code 1013)
        max_connections: usize = 10_000, key "max-connections", env "THOR_MAX_CONNECTIONS";
        /// WebSocket connections per user (more get HTTP 429)
        max_connections_per_user: usize = 16,
            key "max-connections-per-user", env "THOR_MAX_CONNECTIONS_PER_USER";
        /// Largest client frame in bytes (larger ones close the socket with code 1009)
        max_frame_bytes: usize = 64 * 1024, key "max-frame-bytes", env "THOR_MAX_FRAME_BYTES";
        /// Queued live messages per connection before it is closed as too slow (4008)
        queue_capacity: usize = 256, key "queue-capacity", env "THOR_QUEUE_CAPACITY";
        /// Messages kept per replayed stream (bars, probes) for resuming clients
        replay_capacity: usize = 1024, key "replay-capacity", env "THOR_REPLAY_CAPACITY";
        /// Client messages per second, on average
        client_messages_per_second: u32 = 20,
            key "client-messages-per-second", env "THOR_CLIENT_MESSAGES_PER_SECOND";
        /// Client messages in a burst
        client_burst: u32 = 40, key "client-burst", env "THOR_CLIENT_BURST";
        /// Synthetic `probe` messages per second (for measuring; 0 = off)
        probe_rate_hz: u32 = 0, key "probe-rate-hz", env "THOR_PROBE_RATE";
        /// Shared hub over Redis (several instances; jobs under a lease)
        redis_url: Option<DatabaseUrl> = None, key "redis-url", env "REDIS_URL",
            shown "none: in-process hub";
        /// Redis key and channel prefix (lets deployments share one Redis)
        redis_prefix: String = "thor".into(), key "redis-prefix", env "THOR_REDIS_PREFIX";
        /// CA certificate (PEM) that signed Redis's certificate, for `rediss://` with a private CA (the system's CAs otherwise)
        redis_ca_file: Option<PathBuf> = None, key "redis-ca-file", env "THOR_REDIS_CA_FILE",
            shown "none: the system's CAs";
        /// Jobs lease time-to-live (the jobs move this long after their instance dies)
        lease_ttl: Duration = Duration::from_secs(3), key "lease-ttl-ms", env "THOR_LEASE_TTL_MS";
    }

    /// How long an HTTP client may take and how much it may send.
    http: HttpSettings {
        /// Time a client has to send a request's headers (then the connection is closed)
        header_read_timeout: Duration = Duration::from_secs(10),
            key "header-read-timeout-ms", env "THOR_HEADER_READ_TIMEOUT_MS";
        /// Time a request may take to be answered (then 503)
        request_timeout: Duration = Duration::from_secs(30),
            key "request-timeout-ms", env "THOR_REQUEST_TIMEOUT_MS";
        /// Largest request body in bytes (larger ones get 413)
        max_body_bytes: usize = 64 * 1024, key "max-body-bytes", env "THOR_MAX_BODY_BYTES";
    }

    /// What `thor` refuses to do unless told, and how it guards sign-in.
    security: SecuritySettings {
        /// Seed the demo users (`demo`, `demo2`, `ops`) and their paper accounts into an empty database (`false` in production)
        seed_demo_users: bool = true, key "seed-demo-users", env "THOR_SEED_DEMO_USERS";
        /// Serve off loopback with demo passwords
        allow_default_passwords: bool = false,
            key "allow-default-passwords", env "THOR_ALLOW_DEFAULT_PASSWORDS";
        /// Mark the session cookie `Secure` (set it when browsers reach Thor over HTTPS)
        secure_cookie: bool = false, key "secure-cookie", env "THOR_SECURE_COOKIE";
        /// Password checks run at once (each holds about 19 MiB while it runs; more wait)
        password_checks: usize = 2, key "password-checks", env "THOR_PASSWORD_CHECKS";
        /// Wrong passwords per username per minute, in a burst or spread (more get 429)
        login_failures_per_user: u32 = 5,
            key "login-failures-per-user", env "THOR_LOGIN_FAILURES_PER_USER";
        /// Wrong passwords per client address per minute, in a burst or spread (more get 429)
        login_failures_per_address: u32 = 20,
            key "login-failures-per-address", env "THOR_LOGIN_FAILURES_PER_ADDRESS";
    }

    /// The cutover control plane: starting stages, the gate, automatic rollback.
    cutover: CutoverSettings {
        /// Start `account_balance` Live (`true`) or in Shadow (`false`, unset)
        account_balance: Stage = Stage::Shadow,
            key "account-balance-live", env "WS_FEATURE_ACCOUNT_BALANCE";
        /// Start `positions` Live (`true`) or in Shadow (`false`, unset)
        positions: Stage = Stage::Shadow,
            key "positions-live", env "WS_FEATURE_POSITIONS";
        /// Start `intraday` Live (`true`) or in Shadow (`false`, unset)
        intraday: Stage = Stage::Shadow,
            key "intraday-live", env "WS_FEATURE_INTRADAY";
        /// Start `global_market` Live (`true`) or in Shadow (`false`, unset)
        global_market: Stage = Stage::Shadow,
            key "global-market-live", env "WS_FEATURE_GLOBAL_MARKET";
        /// Start `orders` Live (`true`) or in Shadow (`false`, unset)
        orders: Stage = Stage::Shadow,
            key "orders-live", env "WS_FEATURE_ORDERS";
        /// Gate: lowest match rate (the 95 % Wilson lower bound, in percent) to go live
        gate_min_match_percent: f64 = 99.5,
            key "gate-min-match-percent", env "THOR_GATE_MIN_MATCH_PERCENT";
        /// Gate: fewest compared samples to go live
        gate_min_samples: u64 = 200, key "gate-min-samples", env "THOR_GATE_MIN_SAMPLES";
        /// Gate: fewest distinct pages reporting (from two users or more) to go live
        gate_min_pages: u64 = 2, key "gate-min-pages", env "THOR_GATE_MIN_PAGES";
        /// A live feature not updated for this many of its update intervals (its cadence, counted as at least 5 s; intraday's forming bar comes every second) is rolled back
        stale_after_cadences: f64 = 3.0,
            key "stale-after-cadences", env "THOR_STALE_AFTER_CADENCES";
        /// After an automatic rollback, going live again needs `--force` for this long
        rollback_cooldown: Duration = Duration::from_secs(300),
            key "rollback-cooldown-ms", env "THOR_ROLLBACK_COOLDOWN_MS";
        /// A page that has not reported for this long no longer counts as open
        page_timeout: Duration = Duration::from_secs(30),
            key "page-timeout-ms", env "THOR_PAGE_TIMEOUT_MS";
        /// The test switch that corrupts a feature's socket messages (never in production)
        allow_faults: bool = false, key "allow-faults", env "THOR_ALLOW_FAULTS";
    }

    /// The market simulator.
    market: MarketSettings {
        /// Simulator seed (same seed, same prices)
        seed: u64 = 42, key "seed", env "THOR_MARKET_SEED";
        /// Simulated symbols (empty: the simulator's own list)
        symbols: Vec<String> = Vec::new(), key "symbols", env "THOR_SYMBOLS",
            shown simulator_symbols();
        /// Trade only in exchange hours
        exchange_hours: bool = false, key "exchange-hours", env "THOR_EXCHANGE_HOURS",
            shown "`false` (around the clock)";
    }
}

/// What an empty `market.symbols` means, for the README.
fn simulator_symbols() -> String {
    let symbols: Vec<String> = crate::feed::SymbolSpec::defaults()
        .into_iter()
        .map(|spec| spec.symbol)
        .collect();
    format!("`{}`", symbols.join(", "))
}

/// The settings break rules: one line per problem, each naming the key, the file or variable
/// the value came from, and the value.
#[derive(Debug)]
pub struct Invalid {
    pub problems: Vec<String>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.as_slice() {
            [one] => f.write_str(one),
            many => {
                write!(f, "{} problems with the settings:", many.len())?;
                for problem in many {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Invalid {}

impl Invalid {
    fn check(problems: Vec<String>) -> Result<(), Invalid> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Invalid { problems })
        }
    }
}

/// A rule a value breaks, before it is told where the value came from.
struct Broken {
    setting: &'static Declared,
    value: String,
    reason: String,
}

/// The rules' findings, in the order the rules are written.
#[derive(Default)]
struct Rules(Vec<Broken>);

impl Rules {
    fn check<T: Kind>(
        &mut self,
        setting: &'static Declared,
        value: &T,
        holds: bool,
        reason: impl Into<String>,
    ) {
        if !holds {
            self.0.push(Broken {
                setting,
                value: value.show(),
                reason: reason.into(),
            });
        }
    }

    /// Counts and durations whose zero would stall or refuse everything.
    fn above_zero<T: Kind + Default + PartialEq>(&mut self, setting: &'static Declared, value: &T) {
        self.check(setting, value, *value != T::default(), "must be above zero");
    }
}

impl Settings {
    /// Loads the settings the process will run with: `explicit` (from `--config`/`THOR_CONFIG`)
    /// must exist; otherwise `Leptos.toml` in the working directory is read if present.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        use anyhow::Context;
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

    /// Defaults, then the file's text (if any), then `env`, then [`Settings::validate`]'s rules.
    /// `source` names the file in messages; `env` stands for the process environment.
    pub fn from_layers(
        file: Option<&str>,
        source: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        let mut layers = Figment::new();
        if let Some(text) = file {
            layers = layers.merge(layers::file(text, source, &mut problems)?);
        }
        layers = layers.merge(layers::environment(env, &mut problems));

        let mut settings = Settings::default();
        for entry in ENTRIES {
            let key = entry.declared.key;
            // Neither layer sets it: the default stands.
            let Ok(value) = layers.find_value(key) else {
                continue;
            };
            if let Err(reason) = (entry.apply)(&mut settings, &value) {
                let origin = layers::origin(&layers, key);
                let written = layers::written(entry, &value);
                problems.push(layers::problem(entry.declared, origin, &written, &reason));
            }
        }
        settings.normalize();
        for broken in settings.broken_rules() {
            let origin = layers::origin(&layers, broken.setting.key);
            problems.push(layers::problem(
                broken.setting,
                origin,
                &broken.value,
                &broken.reason,
            ));
        }
        Invalid::check(problems)?;
        Ok(settings)
    }

    /// Every rule the settings must keep, beyond their types (an address that does not parse,
    /// a negative count, a word for a boolean are refused as values are read).
    pub fn validate(&self) -> Result<(), Invalid> {
        let problems = self
            .broken_rules()
            .iter()
            .map(|b| layers::problem(b.setting, Origin::Code, &b.value, &b.reason))
            .collect();
        Invalid::check(problems)
    }

    fn broken_rules(&self) -> Vec<Broken> {
        use declared::{cutover, hub, market, site};
        let (s, h) = (&self.site, &self.hub);
        let mut rules = Rules::default();

        let port = (1..=65_535).contains(&s.reload_port);
        rules.check(
            &site::reload_port,
            &s.reload_port,
            port,
            "must be a port, 1 to 65535",
        );
        let mode = matches!(s.env.as_str(), "DEV" | "PROD");
        rules.check(&site::env, &s.env, mode, "must be DEV or PROD");

        rules.above_zero(&hub::heartbeat_interval, &h.heartbeat_interval);
        rules.above_zero(&hub::heartbeat_report_every, &h.heartbeat_report_every);
        rules.above_zero(&hub::max_connections, &h.max_connections);
        rules.above_zero(&hub::max_connections_per_user, &h.max_connections_per_user);
        rules.above_zero(&hub::max_frame_bytes, &h.max_frame_bytes);
        rules.above_zero(&hub::queue_capacity, &h.queue_capacity);
        rules.above_zero(&hub::replay_capacity, &h.replay_capacity);
        rules.above_zero(
            &hub::client_messages_per_second,
            &h.client_messages_per_second,
        );
        rules.above_zero(&hub::client_burst, &h.client_burst);
        let few = h.probe_rate_hz <= 1000;
        rules.check(
            &hub::probe_rate_hz,
            &h.probe_rate_hz,
            few,
            "must be at most 1000 per second",
        );
        let named = !h.redis_prefix.trim().is_empty();
        rules.check(
            &hub::redis_prefix,
            &h.redis_prefix,
            named,
            "must not be empty",
        );
        // Under 300 ms renewals race the network; over 10 minutes a dead holder stalls the jobs.
        let sane = (Duration::from_millis(300)..=Duration::from_secs(600)).contains(&h.lease_ttl);
        rules.check(
            &hub::lease_ttl,
            &h.lease_ttl,
            sane,
            "must be from 300 to 600000 ms",
        );

        let c = &self.cutover;
        let percent = (0.0..=100.0).contains(&c.gate_min_match_percent);
        rules.check(
            &cutover::gate_min_match_percent,
            &c.gate_min_match_percent,
            percent,
            "must be a percentage, 0 to 100",
        );
        let positive = c.stale_after_cadences > 0.0;
        rules.check(
            &cutover::stale_after_cadences,
            &c.stale_after_cadences,
            positive,
            "must be above zero",
        );
        rules.above_zero(&cutover::page_timeout, &c.page_timeout);
        let (http, security) = (&self.http, &self.security);
        rules.above_zero(
            &declared::http::header_read_timeout,
            &http.header_read_timeout,
        );
        rules.above_zero(&declared::http::request_timeout, &http.request_timeout);
        rules.above_zero(&declared::http::max_body_bytes, &http.max_body_bytes);
        // Each check holds ~19 MiB: more than a few at once buys memory, not speed.
        let few = (1..=16).contains(&security.password_checks);
        rules.check(
            &declared::security::password_checks,
            &security.password_checks,
            few,
            "must be from 1 to 16",
        );
        rules.above_zero(
            &declared::security::login_failures_per_user,
            &security.login_failures_per_user,
        );
        rules.above_zero(
            &declared::security::login_failures_per_address,
            &security.login_failures_per_address,
        );

        let symbols = &self.market.symbols;
        if let Some(bad) = symbols.iter().find_map(|s| Symbol::parse(s).err()) {
            rules.check(&market::symbols, symbols, false, bad.to_string());
        }
        rules.0
    }

    /// Spellings the rules accept, made canonical: `production` is `PROD`, tickers upper case.
    fn normalize(&mut self) {
        let mode = self.site.env.to_ascii_uppercase();
        self.site.env = match mode.as_str() {
            "DEV" | "DEVELOPMENT" => "DEV".into(),
            "PROD" | "PRODUCTION" => "PROD".into(),
            _ => std::mem::take(&mut self.site.env),
        };
        for symbol in &mut self.market.symbols {
            if let Ok(ticker) = Symbol::parse(symbol) {
                *symbol = ticker.to_string();
            }
        }
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
