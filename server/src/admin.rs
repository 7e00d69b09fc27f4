//! `thor users` and `thor accounts`: the operator's commands on the server's machine. They work
//! on the configured database directly (a server need not be running), record who ran them (the
//! OS user) in the audit trail (`crate::audit`) and the log, and end sessions the way the server
//! does: the sessions are deleted in the database, so every running server's sweep closes their
//! sockets (4001) within 400 ms, and with Redis every instance is told at once
//! (`auth::announce`) and forgets them from its cache.
//!
//! What was done, and errors, go to standard error; what was asked for (`list`, `audit`) to
//! standard output.

use crate::application::open_database;
use crate::auth::{self, Ended, Outcome, Role};
use crate::config::Settings;
use crate::db::Database;
use crate::trading::import;
use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is read from standard input (one line).
    Add {
        /// Lower-case letters, digits, '.', '_' and '-'.
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Every user: role, paper account, last sign-in, disabled.
    List {
        /// As JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Stop a user signing in; ends their sessions and closes their sockets at once.
    Disable { username: String },
    /// Let a disabled user sign in again.
    Enable { username: String },
    /// Make a user a trader or an operator; ends their sessions.
    SetRole {
        username: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Set a user's password, read from standard input (one line); ends their sessions.
    SetPassword {
        /// The username, e.g. demo, demo2 or ops.
        username: String,
    },
    /// The latest changes to users and paper accounts, newest first: when, who, what.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// As JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Give traders their paper accounts from a TOML or CSV file (see docs/accounts.md); the
    /// whole file or nothing.
    Import { file: PathBuf },
}

/// A role as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Trader,
    Operator,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Trader => Role::Trader,
            RoleArg::Operator => Role::Operator,
        }
    }
}

/// Who is making the change: the OS user running `thor` on the server's machine.
pub fn actor() -> String {
    whoami::username().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot tell which OS user this is");
        "unknown OS user".to_string()
    })
}

/// Runs a `thor users` command against the configured database.
pub async fn users(settings: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    let db = open_database(settings).await?;
    let result = run_users(&db, settings, &actor(), command).await;
    db.close().await;
    result
}

/// Runs a `thor accounts` command against the configured database.
pub async fn accounts(settings: &Settings, command: AccountsCommand) -> anyhow::Result<()> {
    let AccountsCommand::Import { file } = command;
    // The file is checked before the database is opened: a bad file touches nothing.
    let specs = import::read_file(&file)?;
    let db = open_database(settings).await?;
    let shown = file.display().to_string();
    let result = import::import(&db, &shown, &specs, &actor()).await;
    db.close().await;
    let imported = result?;
    eprintln!(
        "thor: imported {} paper account{} from {shown}:",
        imported.len(),
        if imported.len() == 1 { "" } else { "s" }
    );
    let width = |text: fn(&import::Imported) -> String| {
        imported.iter().map(|a| text(a).len()).max().unwrap_or(0)
    };
    let (names, numbers) = (width(|a| a.trader.clone()), width(|a| a.number.clone()));
    let cash = width(|a| import::dollars(a.cash_cents));
    for account in &imported {
        eprintln!(
            "  {:<names$}  {:<numbers$}  {:<8}  cash {:>cash$}  {} holding{}",
            account.trader,
            account.number,
            if account.replaced { "replaced" } else { "new" },
            import::dollars(account.cash_cents),
            account.holdings,
            if account.holdings == 1 { "" } else { "s" }
        );
    }
    let traded = traded_symbols(settings);
    let mut untraded: Vec<&str> = specs
        .iter()
        .flat_map(|spec| &spec.holdings)
        .map(|h| h.symbol.as_str())
        .filter(|symbol| !traded.iter().any(|t| t == symbol))
        .collect();
    untraded.sort_unstable();
    untraded.dedup();
    if !untraded.is_empty() {
        eprintln!(
            "thor: note: {} not among the simulated symbols (market.symbols: {}); valued at the \
             entry price",
            untraded.join(", "),
            traded.join(", ")
        );
    }
    eprintln!("thor: running servers value them from their next 10 s round");
    Ok(())
}

/// The symbols the simulator trades with these settings.
fn traded_symbols(settings: &Settings) -> Vec<String> {
    if settings.market.symbols.is_empty() {
        crate::feed::SymbolSpec::defaults()
            .into_iter()
            .map(|spec| spec.symbol)
            .collect()
    } else {
        settings.market.symbols.clone()
    }
}

async fn run_users(
    db: &Database,
    settings: &Settings,
    actor: &str,
    command: UsersCommand,
) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add { username, role } => {
            let role = Role::from(role);
            // Refused before the password is asked for.
            auth::check_username(&username)?;
            if auth::user_exists(db, &username).await? {
                bail!("there is already a user named {username:?}");
            }
            let password = read_password(&format!("password for {username}"))?;
            auth::add_user(db, &username, role, &password, actor).await?;
            match role {
                Role::Trader => eprintln!(
                    "thor: added {username} (trader); give them a paper account with \
                     `thor accounts import FILE`"
                ),
                Role::Operator => eprintln!("thor: added {username} (operator)"),
            }
        }
        UsersCommand::List { json } => {
            let users = auth::list_users(db).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&users).context("cannot write JSON")?
                );
            } else {
                print!("{}", users_table(&users));
            }
        }
        UsersCommand::Disable { username } => {
            match auth::set_disabled(db, &username, true, actor).await? {
                Outcome::Changed(id) => {
                    tell_running_servers(settings, id).await;
                    eprintln!(
                        "thor: disabled {username}; their sessions have ended and their open \
                         pages are signed out"
                    );
                }
                Outcome::Unchanged => {
                    eprintln!("thor: {username} is already disabled; nothing changed")
                }
            }
        }
        UsersCommand::Enable { username } => {
            match auth::set_disabled(db, &username, false, actor).await? {
                Outcome::Changed(_) => eprintln!("thor: enabled {username}; they can sign in"),
                Outcome::Unchanged => {
                    eprintln!("thor: {username} is not disabled; nothing changed")
                }
            }
        }
        UsersCommand::SetRole { username, role } => {
            let role = Role::from(role);
            match auth::set_role(db, &username, role, actor).await? {
                Outcome::Changed(id) => {
                    tell_running_servers(settings, id).await;
                    eprintln!(
                        "thor: {username} is now {} {}; their sessions have ended",
                        article(role),
                        role.as_str()
                    );
                }
                Outcome::Unchanged => eprintln!(
                    "thor: {username} is already {} {}; nothing changed",
                    article(role),
                    role.as_str()
                ),
            }
        }
        UsersCommand::SetPassword { username } => {
            if !auth::user_exists(db, &username).await? {
                bail!("there is no user named {username:?}");
            }
            let password = read_password(&format!("new password for {username}"))?;
            let id = auth::set_password(db, &username, &password, actor).await?;
            tell_running_servers(settings, id).await;
            eprintln!("thor: password of {username} changed; their sessions have ended");
        }
        UsersCommand::Audit { limit, json } => {
            let entries = crate::audit::recent(db, limit)
                .await
                .context("cannot read the audit trail")?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&entries).context("cannot write JSON")?
                );
            } else {
                print!("{}", audit_table(&entries));
            }
        }
    }
    Ok(())
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Trader => "a",
        Role::Operator => "an",
    }
}

/// The password, typed at a terminal without echo or one line from a pipe.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    crate::cli::read_password(prompt).context("cannot read the password from standard input")
}

/// Tells running servers that the user's sessions have ended. They would notice within 400 ms
/// by their sweep (the sessions are gone from the database); with Redis they hear it at once.
async fn tell_running_servers(settings: &Settings, user_id: i64) {
    let Some(url) = &settings.hub.redis_url else {
        return;
    };
    let ended = Ended::User(user_id);
    let (ca_file, prefix) = (
        settings.hub.redis_ca_file.as_deref(),
        &settings.hub.redis_prefix,
    );
    if let Err(e) = auth::announce(url, ca_file, prefix, &ended).await {
        eprintln!(
            "thor: could not tell the running servers over Redis ({e:#}); they will notice \
             within a second"
        );
    }
}

fn table(header: [&str; 5]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(110)
        .set_header(header);
    table
}

fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `thor users list`: one row per user.
pub fn users_table(users: &[auth::Listed]) -> String {
    if users.is_empty() {
        return "no users yet: add one with `thor users add NAME --role operator`\n".to_string();
    }
    let mut table = table(["user", "role", "account", "last sign-in (UTC)", "disabled"]);
    for user in users {
        let name = if user.demo_password {
            format!("{} (demo password)", user.username)
        } else {
            user.username.clone()
        };
        table.add_row([
            name,
            user.role.as_str().to_string(),
            user.account.clone().unwrap_or_else(|| "—".into()),
            user.last_sign_in.map_or_else(|| "never".into(), when),
            if user.disabled { "yes" } else { "no" }.to_string(),
        ]);
    }
    format!("{table}\n")
}

/// `thor users audit`: one row per change.
fn audit_table(entries: &[crate::audit::Entry]) -> String {
    if entries.is_empty() {
        return "no changes yet\n".to_string();
    }
    let mut table = table(["when (UTC)", "who (OS user)", "did", "to", "detail"]);
    for entry in entries {
        table.add_row([
            chrono::DateTime::from_timestamp_millis(entry.at).map_or_else(String::new, when),
            entry.actor.clone(),
            entry.action.clone(),
            entry.username.clone(),
            entry.detail.clone(),
        ]);
    }
    format!("{table}\n")
}
