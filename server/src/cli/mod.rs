//! `thor cutover`: the operator's side of the control plane, talking to the running server so
//! every open page switches at once.
//!
//! On the server's own machine it needs no setup: it reads the server's address (`thor.addr`)
//! and the local operator credential (`operator-token`) from the data directory. Elsewhere,
//! `--server URL --user NAME` signs in as that operator (the password on standard input, not
//! echoed at a terminal). `https://` servers are checked against the system's CAs, or only
//! against `--ca-file`'s; a password is not sent over plain `http://` off loopback unless
//! `--allow-insecure-http` says the network between is trusted.
//!
//! Exit codes, for deploy scripts: [`EXIT_OK`] healthy (or the change was made),
//! [`EXIT_ATTENTION`] something needs an operator (a rollback, a gate not met, pages fallen back
//! or not confirming), 2 a usage error, [`EXIT_UNREACHABLE`] no server answered,
//! [`EXIT_REFUSED`] the server refused (the gate, a bad request, not an operator).

use crate::local_operator;
use anyhow::Context;
use clap::Subcommand;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use thor_core::cutover::{
    AuditEntry, ChangeRequest, CutoverStatus, FeatureStatus, Flags, Mark, Ramp, Reason,
    RollbackRequest, Stage,
};
use thor_core::feature::Feature;

mod connect;
mod render;

pub use connect::read_password;
use connect::{Server, connect};
pub use render::{render_audit, render_status};

pub const EXIT_OK: u8 = 0;
pub const EXIT_ATTENTION: u8 = 1;
/// A usage error (clap's code too).
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;

#[derive(Debug, clap::Args)]
pub struct CutoverArgs {
    /// The server, e.g. https://thor.internal (default: the address the local server left in
    /// its data directory).
    #[arg(long, env = "THOR_SERVER", global = true)]
    pub server: Option<String>,
    /// Sign in as this operator (password on standard input, not echoed at a terminal) instead
    /// of using the local operator credential.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Trust only this CA certificate (PEM) for an https:// server (default: the system's CAs).
    #[arg(long, env = "THOR_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Send --user's password over plain http:// to a server off loopback (clear text: only on
    /// a network you trust).
    #[arg(long, global = true)]
    pub allow_insecure_http: bool,
    /// The server's data directory (default: the configured one).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CutoverCommand,
}

#[derive(Debug, Subcommand)]
pub enum CutoverCommand {
    /// The mode, each feature's stage, parity, pages and REST traffic (exit 1 if anything needs
    /// attention).
    Status {
        /// As JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Moves a feature to WebSocket (live), if its shadow parity clears the gate.
    Enable {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        /// Live for this share of sessions, e.g. 10% (default 100%).
        #[arg(long)]
        ramp: Option<Ramp>,
        #[arg(long)]
        reason: Reason,
        /// Go live without the gate's proof (audited as forced).
        #[arg(long)]
        force: bool,
    },
    /// Moves a feature to shadow: REST renders, the socket is compared with it.
    Shadow {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: Reason,
    },
    /// Moves a feature back to REST polling.
    Disable {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: Reason,
    },
    /// Drops a feature's run-time change: back to its WS_FEATURE_* stage.
    Clear {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: Reason,
    },
    /// Sends every feature back to REST at once.
    Rollback {
        /// Every feature (the only kind of rollback there is; say it to mean it).
        #[arg(long, required = true)]
        all: bool,
        #[arg(long)]
        reason: Reason,
    },
    /// The latest changes, manual and automatic, newest first.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

/// The features by name, from [`Feature::ALL`]: a wrong name is a usage error (exit 2, the
/// names listed) before anything connects or asks for a password.
fn feature_parser() -> impl clap::builder::TypedValueParser<Value = Feature> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(Feature::ALL.map(Feature::name)).try_map(|name| Feature::parse(&name))
}

/// A failure, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

fn failure(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Runs a `thor cutover` command; `data_dir` is the configured one. Prints what it has to say
/// and returns the exit code.
pub async fn run(args: CutoverArgs, configured_data_dir: PathBuf) -> Result<u8, Failure> {
    let data_dir = args.data_dir.clone().unwrap_or(configured_data_dir);
    let server = connect(&args, &data_dir).await?;
    match args.command {
        CutoverCommand::Status { json } => {
            let status: CutoverStatus = server.get("/api/cutover").await?;
            if json {
                print_json(&status)?;
            } else {
                print!("{}", render_status(&status));
            }
            Ok(if status.needs_attention().is_empty() {
                EXIT_OK
            } else {
                EXIT_ATTENTION
            })
        }
        CutoverCommand::Enable {
            feature,
            ramp,
            reason,
            force,
        } => {
            let request =
                ChangeRequest::new(Stage::Live, ramp, reason, force).map_err(|e| failure(2, e))?;
            change(&server, feature, &request).await
        }
        CutoverCommand::Shadow { feature, reason } => {
            let request = ChangeRequest::new(Stage::Shadow, None, reason, false)
                .map_err(|e| failure(2, e))?;
            change(&server, feature, &request).await
        }
        CutoverCommand::Disable { feature, reason } => {
            let request =
                ChangeRequest::new(Stage::Rest, None, reason, false).map_err(|e| failure(2, e))?;
            change(&server, feature, &request).await
        }
        CutoverCommand::Clear { feature, reason } => {
            let flags: Flags = server
                .post(
                    &format!("/api/cutover/{}/clear", feature.name()),
                    &RollbackRequest { reason },
                )
                .await?;
            println!(
                "{feature}: back to its starting stage, {} (flags version {})",
                flags.flag(feature).stage,
                flags.version
            );
            Ok(EXIT_OK)
        }
        CutoverCommand::Rollback { all: _, reason } => {
            let flags: Flags = server
                .post("/api/cutover/rollback", &RollbackRequest { reason })
                .await?;
            println!(
                "every feature is back on REST (flags version {})",
                flags.version
            );
            Ok(EXIT_OK)
        }
        CutoverCommand::Audit { limit, json } => {
            let entries: Vec<AuditEntry> = server
                .get(&format!("/api/cutover/audit?limit={limit}"))
                .await?;
            if json {
                print_json(&entries)?;
            } else {
                print!("{}", render_audit(&entries));
            }
            Ok(EXIT_OK)
        }
    }
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| failure(EXIT_REFUSED, format!("cannot print JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

async fn change(server: &Server, feature: Feature, request: &ChangeRequest) -> Result<u8, Failure> {
    let flags: Flags = server
        .post(&format!("/api/cutover/{}", feature.name()), request)
        .await?;
    let flag = flags.flag(feature);
    let ramp = if flag.is_partial() {
        format!(" for {} % of sessions", flag.ramp)
    } else {
        String::new()
    };
    println!(
        "{feature}: {}{ramp} (flags version {}); open pages switch now",
        flag.stage, flags.version
    );
    Ok(EXIT_OK)
}

/// Prints `failure` and gives its exit code (`main` uses it).
pub fn report(failure: &Failure) -> u8 {
    eprintln!("thor cutover: {}", failure.message);
    failure.code
}

/// The configured data directory, for `main`.
pub fn data_dir(config: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    let settings = crate::Settings::load(config).context("cannot read the settings")?;
    Ok(settings.storage.data_dir)
}
