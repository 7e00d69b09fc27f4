//! `thor`: serve the dashboard (the default), move features between REST and WebSocket
//! (`thor cutover`), and manage users and their paper accounts (`thor users`, `thor accounts`).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use thor_server::state::AppState;
use thor_server::{Application, Settings, Site};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "thor", version, about = "Thor: live trading dashboard server")]
struct Cli {
    /// Settings file (default: ./Leptos.toml when present).
    #[arg(long, env = "THOR_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard, the API and the WebSocket (the default).
    Serve,
    /// Move features between REST and WebSocket on the running server, and see the evidence.
    Cutover(thor_server::cli::CutoverArgs),
    /// Manage the people who sign in: add, list, disable, enable, set-role, set-password, audit.
    Users {
        #[command(subcommand)]
        command: thor_server::admin::UsersCommand,
    },
    /// Traders' paper accounts: import them from a TOML or CSV file.
    Accounts {
        #[command(subcommand)]
        command: thor_server::admin::AccountsCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt().with_env_filter(
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn")),
    );
    // The commands print what was asked for on standard output; their log goes beside errors.
    if matches!(cli.command, None | Some(Command::Serve)) {
        logs.init();
    } else {
        logs.with_writer(std::io::stderr).init();
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("thor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Cutover(args) => {
                let data_dir = match thor_server::cli::data_dir(cli.config.as_deref()) {
                    Ok(dir) => dir,
                    Err(e) => return Err(e),
                };
                let code = match thor_server::cli::run(args, data_dir).await {
                    Ok(code) => code,
                    Err(failure) => thor_server::cli::report(&failure),
                };
                std::process::exit(i32::from(code));
            }
            Command::Serve => serve(cli.config).await,
            Command::Users { command } => {
                let settings = Settings::load(cli.config.as_deref())?;
                thor_server::admin::users(&settings, command).await
            }
            Command::Accounts { command } => {
                let settings = Settings::load(cli.config.as_deref())?;
                thor_server::admin::accounts(&settings, command).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("thor: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The pages are the views' (`app`), routed by the server.
const SITE: Site = Site {
    pages: app::site::pages::<AppState>,
    fallback: app::site::fallback::<AppState>,
};

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let app = Application::build(settings, SITE).await?;
    let stop = app.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    app.run_until_stopped().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
