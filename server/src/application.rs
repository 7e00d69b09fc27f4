//! Builds the whole server from [`Settings`]: database, hub, jobs, routes, listener. `main` and
//! the integration tests use the same builder, so tests run the real wiring.

use crate::clock::now_ms;
use crate::clock::{Clock, SystemClock};
use crate::config::{MarketSettings, Settings};
use crate::cutover::ControlPlane;
use crate::cutover::job::CutoverJob;
use crate::db::Database;
use crate::feed::hours::{DuringExchangeHours, MarketHours};
use crate::feed::{BarBuilder, MarketFeed, Simulator, SymbolSpec};
use crate::hub::redis::{self as redis_hub, Keys, SharedSettings};
use crate::hub::{Hub, HubLimits};
use crate::jobs::lease::{self, LeaseSettings};
use crate::jobs::{JobBoard, JobContext, Lease, MarketData, Registry};
use crate::metrics::MetricsRegistry;
use crate::state::AppState;
use crate::{api, assets, auth, http, local_operator, ws};
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The pages, given by whoever links the views (the `thor` binary, the end-to-end tests:
/// `app::site`): the server's library never depends on them, so a change to a view does not
/// rebuild it.
#[derive(Clone, Copy)]
pub struct Site {
    /// Adds the pages' routes (the session check is layered on them after).
    pub pages: fn(Router<AppState>, &AppState) -> Router<AppState>,
    /// Makes the site's other files and the 404 page the router's fallback.
    pub fallback: fn(Router<AppState>) -> Router<AppState>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    jobs: JoinSet<()>,
    registry: Arc<Registry>,
    job_context: JobContext,
}

impl Application {
    /// Opens the database (applying migrations), binds the listener and starts the jobs.
    pub async fn build(settings: Settings, site: Site) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock), site).await
    }

    /// [`Application::build`] with the jobs reading time from `clock`.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
        site: Site,
    ) -> anyhow::Result<Self> {
        // Settings made in code (tests, embedders) keep the same rules as loaded ones.
        settings.validate()?;
        let url = settings.database_url();
        let db = open_database(&settings).await?;
        refuse_default_passwords_off_loopback(&db, &settings).await?;
        let feed = simulator_for(&settings.market)?;
        let listener = TcpListener::bind(settings.site.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.site.addr))?;
        let local = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let epoch = db.record_run(now_ms(), &local.to_string()).await?;
        let metrics = MetricsRegistry::with_process_metrics();
        let hub = Hub::new(epoch, HubLimits::from(&settings.hub), &metrics);

        let symbols = Arc::new(feed.symbols().to_vec());
        let countries: Vec<(String, String)> = feed
            .specs()
            .map(|spec| (spec.symbol.clone(), spec.country.clone()))
            .collect();
        let feed: Box<dyn MarketFeed> = if settings.market.exchange_hours {
            Box::new(DuringExchangeHours::new(feed))
        } else {
            Box::new(feed)
        };
        // With exchange hours, what tells a closed market from a silent feed (the heartbeat says
        // so to pages; the automatic rollback forgives it).
        let market_hours = settings
            .market
            .exchange_hours
            .then(|| MarketHours::new(countries, clock.clone()));
        let ctx = JobContext {
            db: db.clone(),
            hub: hub.clone(),
            clock,
            market: Arc::new(Mutex::new(MarketData {
                feed,
                bars: BarBuilder::new(),
                session_day: None,
                last_tick_at: None,
            })),
            status: JobBoard::default(),
            // Alone, this instance runs the jobs; sharing a hub, only while it holds the lease.
            lease: Lease::new(settings.hub.redis_url.is_none()),
            market_hours,
            orders_pushed: Default::default(),
            pushes: Default::default(),
        };
        ctx.lease.register_metrics(&metrics);
        ctx.status.register_metrics(&metrics);
        let cutover = ControlPlane::new(
            db.clone(),
            hub.clone(),
            ctx.lease.clone(),
            &settings.cutover,
            symbols.len(),
            &metrics,
        );
        if let Some(hours) = &ctx.market_hours {
            cutover.follow_market_hours(hours.clone());
        }
        let registry = Arc::new(
            Registry::standard(
                settings.hub.heartbeat_interval,
                settings.hub.heartbeat_report_every,
                settings.hub.probe_rate_hz,
            )
            .with(Arc::new(CutoverJob::new(cutover.clone()))),
        );
        let stop = CancellationToken::new();
        let mut jobs = JoinSet::new();
        let mut sessions = auth::Sessions::new(db.clone(), hub.clone());
        if let Some(url) = &settings.hub.redis_url {
            let client = redis_hub::client(url, settings.hub.redis_ca_file.as_deref())?;
            let (shared_sessions, side_channel) =
                auth::Sessions::shared(db.clone(), hub.clone(), client, &settings.hub.redis_prefix);
            sessions = shared_sessions;
            let shared = SharedSettings {
                url: url.clone(),
                prefix: settings.hub.redis_prefix.clone(),
                ca_file: settings.hub.redis_ca_file.clone(),
                replay_capacity: settings.hub.replay_capacity,
                side_channel: Some(side_channel),
            };
            let client = redis_hub::start(&shared, &hub, &stop, &mut jobs).await?;
            let lease = LeaseSettings {
                key: Keys::new(&settings.hub.redis_prefix).lease,
                ttl: settings.hub.lease_ttl,
                instance: lease::instance_id(local),
            };
            lease::start(client, lease, &ctx, registry.clone(), &stop, &mut jobs)
                .await
                .with_context(|| {
                    format!("cannot take the jobs lease in Redis at {}", url.redacted())
                })?;
        }
        // One round before serving (by the instance that runs the jobs): the first page and
        // REST call already have data.
        if ctx.lease.holds() {
            ctx.carry_over()
                .await
                .context("cannot read where the last run left the desk")?;
            registry.run_once(&ctx).await;
        }

        let mut leptos_options = settings.leptos_options();
        leptos_options.site_addr = local;
        assets::find_hashes(&mut leptos_options, &settings.site.hash_file);
        // Under `cargo leptos watch` the bundle changes beneath the server: compressed on the fly.
        if std::env::var_os("LEPTOS_WATCH").is_none() {
            assets::precompress_at_start(&leptos_options).await;
        }
        sessions.accept_local_operator(local_operator::write(&settings.storage.data_dir, local));
        sessions.spawn(&stop, &mut jobs);
        let password_checks = auth::PasswordChecks::new(settings.security.password_checks);
        password_checks.register_metrics(&metrics);
        let login_throttle = auth::LoginThrottle::new(
            settings.security.login_failures_per_user,
            settings.security.login_failures_per_address,
        );
        login_throttle.register_metrics(&metrics);
        let build = assets::build_id(&leptos_options);
        tracing::info!(build = %build.0, "serving the bundle of this build");
        let state = AppState {
            build,
            leptos_options,
            settings: Arc::new(settings),
            db,
            hub,
            cutover,
            sessions,
            password_checks,
            login_throttle,
            metrics,
            jobs: ctx.status.clone(),
            lease: ctx.lease.clone(),
            desk: ctx.clone(),
            symbols,
            clock: ctx.clock.clone(),
            started: Instant::now(),
            stop,
        };

        registry.spawn(&ctx, &state.stop, true, &mut jobs);
        state.cutover.announce(local, &state.stop, &mut jobs);

        let router = router(state.clone(), site);
        tracing::info!(
            addr = %local,
            database = %url.redacted(),
            hub = state.hub.backend(),
            epoch = state.hub.epoch(),
            "thor is serving"
        );
        Ok(Self {
            listener,
            router,
            state,
            jobs,
            registry,
            job_context: ctx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// The server's database handle (shared with the running server).
    pub fn database(&self) -> Database {
        self.state.db.clone()
    }

    /// What every handler of the running server reaches (for tests that mount their own routes
    /// on the real wiring).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The server's hub (shared with the running server).
    pub fn hub(&self) -> Hub {
        self.state.hub.clone()
    }

    /// Something that runs every job once, in order, now (beside their timers): for tests that
    /// move a [`crate::clock::ManualClock`] and want the jobs' results at once.
    pub fn job_runner(&self) -> JobRunner {
        JobRunner {
            registry: self.registry.clone(),
            ctx: self.job_context.clone(),
        }
    }

    /// Cancel it to shut the server down gracefully.
    pub fn stop_token(&self) -> CancellationToken {
        self.state.stop.clone()
    }

    /// Serves until the stop token is cancelled, then closes sockets (telling pages to
    /// reconnect), stops the jobs and closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            state,
            mut jobs,
            ..
        } = self;
        let serving = http::Serving::from(&state.settings.http);
        http::serve(listener, router, serving, state.stop.clone()).await?;
        state.stop.cancel();
        while jobs.join_next().await.is_some() {}
        state.db.close().await;
        tracing::info!("thor stopped");
        Ok(())
    }
}

#[derive(Clone)]
pub struct JobRunner {
    registry: Arc<Registry>,
    ctx: JobContext,
}

impl JobRunner {
    pub async fn run_all_once(&self) {
        self.registry.run_once(&self.ctx).await;
    }
}

/// Opens the configured database (applying migrations) and, unless `security.seed-demo-users`
/// is off, seeds the demo users into it if it has no users, and their paper accounts. The server
/// and the `thor users` / `thor accounts` commands open it alike, so which of them comes first
/// to an empty database does not decide whether it gets the demo users.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let ca_file = settings.storage.database_ca_file.as_deref();
    let db = Database::open_with(&settings.database_url(), ca_file).await?;
    if settings.security.seed_demo_users {
        let seeded = auth::seed_default_users(&db).await?;
        if seeded > 0 {
            tracing::info!(users = seeded, "seeded the demo users (demo, demo2, ops)");
        }
        crate::trading::accounts::seed_demo_accounts(&db).await?;
    }
    Ok(db)
}

/// The simulator for the configured symbols: known ones keep their usual price and volatility;
/// others get a price derived from the symbol (stable across runs) and a middling volatility.
fn simulator_for(market: &MarketSettings) -> anyhow::Result<Simulator> {
    if market.symbols.is_empty() {
        return Ok(Simulator::new(market.seed));
    }
    let known = SymbolSpec::defaults();
    let specs = market
        .symbols
        .iter()
        .map(|symbol| {
            known
                .iter()
                .find(|spec| &spec.symbol == symbol)
                .cloned()
                .unwrap_or_else(|| {
                    let price = 20.0
                        + (crate::feed::rng::fnv1a64(symbol.as_bytes()) % 48_000) as f64 / 100.0;
                    SymbolSpec::new(symbol.as_str(), "USA", price, 0.25, 1_000)
                })
        })
        .collect();
    Simulator::with_symbols(market.seed, specs).context("the market.symbols setting")
}

/// Demo passwords are fine on a laptop, not on a network: off loopback they stop the start
/// unless the operator says otherwise.
async fn refuse_default_passwords_off_loopback(
    db: &Database,
    settings: &Settings,
) -> anyhow::Result<()> {
    if settings.site.addr.ip().is_loopback() || settings.security.allow_default_passwords {
        return Ok(());
    }
    let defaults = auth::default_passwords_in_use(db).await?;
    anyhow::ensure!(
        defaults.is_empty(),
        "refusing to serve on {} while {} still use the demo passwords; set real ones with \
         `thor users set-password NAME`, disable them with `thor users disable NAME`, or set \
         THOR_ALLOW_DEFAULT_PASSWORDS=true",
        settings.site.addr,
        defaults.join(", ")
    );
    Ok(())
}

/// Every route, behind the layers every request passes ([`http::layers`]).
pub fn router(state: AppState, site: Site) -> Router {
    let settings = state.settings.http.clone();
    let metrics = state.metrics.clone();
    http::layers(routes(state, site), &settings, &metrics)
}

fn routes(state: AppState, site: Site) -> Router {
    let router = (site.pages)(Router::new(), &state)
        // Only the pages above: the sign-in form is open, the rest need a session.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::pages::require_session,
        ))
        .merge(api::router())
        .merge(assets::router(&state.leptos_options))
        .route("/ws", get(ws::upgrade));
    // The site's other files (the favicon) and the 404 page: asked after on each use.
    (site.fallback)(router).with_state(state)
}
