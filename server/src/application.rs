//! Builds the whole server from [`Settings`]: database, hub, jobs, routes, listener. `main` and
//! the integration tests use the same builder, so tests run the real wiring.

use crate::config::Settings;
use crate::db::Database;
use crate::hub::{Hub, now_ms};
use crate::state::AppState;
use crate::{api, auth, jobs, ws};
use anyhow::Context;
use app::{App, shell};
use axum::Router;
use axum::routing::get;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    jobs: JoinSet<()>,
}

impl Application {
    /// Opens the database (applying migrations), binds the listener and starts the jobs.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url();
        let db = Database::open(&url).await?;
        let seeded = auth::seed_default_users(&db).await?;
        if seeded > 0 {
            tracing::info!(users = seeded, "seeded the demo users (demo, demo2, ops)");
        }
        refuse_default_passwords_off_loopback(&db, &settings).await?;
        let listener = TcpListener::bind(settings.site.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.site.addr))?;
        let local = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let epoch = db.record_run(now_ms(), &local.to_string()).await?;
        let hub = Hub::new(epoch, settings.hub.max_connections);

        let mut leptos_options = settings.leptos_options();
        leptos_options.site_addr = local;
        let state = AppState {
            leptos_options,
            settings: Arc::new(settings),
            db,
            hub,
            started: Instant::now(),
            stop: CancellationToken::new(),
        };

        let mut jobs = JoinSet::new();
        jobs.spawn(jobs::heartbeat::run(
            state.hub.clone(),
            state.settings.hub.heartbeat_interval,
            state.settings.hub.heartbeat_report_every,
            state.stop.clone(),
        ));

        let router = router(state.clone());
        tracing::info!(
            addr = %local,
            database = %url.redacted(),
            epoch,
            "thor is serving"
        );
        Ok(Self {
            listener,
            router,
            state,
            jobs,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// The server's database handle (shared with the running server).
    pub fn database(&self) -> Database {
        self.state.db.clone()
    }

    /// The server's hub (shared with the running server).
    pub fn hub(&self) -> Hub {
        self.state.hub.clone()
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
        } = self;
        let stop = state.stop.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("the HTTP server failed")?;
        state.stop.cancel();
        while jobs.join_next().await.is_some() {}
        state.db.close().await;
        tracing::info!("thor stopped");
        Ok(())
    }
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
         `thor users set-password NAME`, or set THOR_ALLOW_DEFAULT_PASSWORDS=true",
        settings.site.addr,
        defaults.join(", ")
    );
    Ok(())
}

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(api::router())
        .route("/ws", get(ws::upgrade))
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}
