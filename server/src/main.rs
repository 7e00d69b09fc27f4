//! `thor`: serve the dashboard (the default), move features between REST and WebSocket
//! (`thor cutover`), and manage users.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use thor_server::{Application, Settings};
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
    /// Manage the people who sign in.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Set a user's password, read from standard input (one line); ends their sessions.
    SetPassword {
        /// The username, e.g. demo, demo2 or ops.
        username: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn")),
        )
        .init();

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
            Command::Users {
                command: UsersCommand::SetPassword { username },
            } => set_password(cli.config, &username).await,
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

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
    let app = Application::build(settings).await?;
    let stop = app.stop_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    app.run_until_stopped().await
}

async fn set_password(config: Option<PathBuf>, username: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal};
    let settings = Settings::load(config.as_deref())?;
    let db = thor_server::application::open_database(&settings).await?;
    if std::io::stdin().is_terminal() {
        eprint!("new password for {username}: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    // The audit trail names the OS user who ran the command.
    let actor = whoami::username().unwrap_or_else(|_| "unknown OS user".to_string());
    let user = thor_server::auth::set_password(&db, username, password, &actor).await?;
    db.close().await;
    // Running servers close the user's sockets within a second by themselves (they check the
    // database); with Redis they hear of it at once, and forget the cached sessions too.
    if let Some(url) = &settings.hub.redis_url {
        let ended = thor_server::auth::Ended::User(user);
        if let Err(e) =
            thor_server::auth::announce(url.expose(), &settings.hub.redis_prefix, &ended).await
        {
            eprintln!(
                "thor: could not tell the running servers over Redis ({e:#}); they will notice within a second"
            );
        }
    }
    eprintln!("thor: password of {username} changed; their sessions have ended");
    Ok(())
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
