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
use app::cutover::{
    AuditEntry, ChangeRequest, CutoverStatus, FeatureStatus, Flags, Mark, RollbackRequest, Stage,
};
use app::feature::Feature;
use clap::Subcommand;
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Tables wrap to this many columns (the output often goes to a file or a CI log, not a tty).
const TABLE_WIDTH: u16 = 110;

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
        #[arg(long, value_parser = ramp_arg)]
        ramp: Option<u8>,
        #[arg(long)]
        reason: String,
        /// Go live without the gate's proof (audited as forced).
        #[arg(long)]
        force: bool,
    },
    /// Moves a feature to shadow: REST renders, the socket is compared with it.
    Shadow {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: String,
    },
    /// Moves a feature back to REST polling.
    Disable {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: String,
    },
    /// Drops a feature's run-time change: back to its WS_FEATURE_* stage.
    Clear {
        #[arg(value_parser = feature_parser(), ignore_case = true)]
        feature: Feature,
        #[arg(long)]
        reason: String,
    },
    /// Sends every feature back to REST at once.
    Rollback {
        /// Every feature (the only kind of rollback there is; say it to mean it).
        #[arg(long, required = true)]
        all: bool,
        #[arg(long)]
        reason: String,
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

enum Credential {
    Token(String),
    Cookie(String),
}

struct Server {
    base: String,
    credential: Credential,
    http: reqwest::Client,
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
            let request = ChangeRequest {
                stage: Stage::Live,
                ramp,
                reason,
                force,
            };
            change(&server, feature, &request).await
        }
        CutoverCommand::Shadow { feature, reason } => {
            let request = ChangeRequest {
                stage: Stage::Shadow,
                ramp: None,
                reason,
                force: false,
            };
            change(&server, feature, &request).await
        }
        CutoverCommand::Disable { feature, reason } => {
            let request = ChangeRequest {
                stage: Stage::Rest,
                ramp: None,
                reason,
                force: false,
            };
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

/// `--ramp`, read before anything connects (a bad one is clap's usage error).
fn ramp_arg(text: &str) -> Result<u8, String> {
    parse_ramp(text).map_err(|_| "not a share from 1% to 100%, like 10%".to_string())
}

/// `10%`, `10` or `10 %`: a share of sessions from 1 to 100.
fn parse_ramp(text: &str) -> Result<u8, Failure> {
    text.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| failure(2, format!("--ramp {text:?} is not a share from 1% to 100%")))
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

async fn connect(args: &CutoverArgs, data_dir: &std::path::Path) -> Result<Server, Failure> {
    // Usage first: nothing is read, asked for or sent before the arguments make sense.
    if let Some(url) = &args.server {
        check_server_url(url, args.user.as_deref(), args.allow_insecure_http)?;
    }
    let http = http_client(args.ca_file.as_deref())?;
    let base = match &args.server {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let path = local_operator::addr_path(data_dir);
            let addr = std::fs::read_to_string(&path).map_err(|_| {
                failure(
                    EXIT_UNREACHABLE,
                    format!(
                        "no server to reach: none has left its address in {} (start `thor`, \
                         or say --server URL)",
                        path.display()
                    ),
                )
            })?;
            format!("http://{}", addr.trim())
        }
    };
    let credential = match &args.user {
        Some(user) => Credential::Cookie(sign_in(&http, &base, user).await?),
        None => {
            let path = local_operator::token_path(data_dir);
            let token = std::fs::read_to_string(&path).map_err(|_| {
                failure(
                    EXIT_REFUSED,
                    format!(
                        "no local operator credential at {} (is this the server's machine and \
                         user?); sign in with --user NAME instead",
                        path.display()
                    ),
                )
            })?;
            Credential::Token(token.trim().to_string())
        }
    };
    Ok(Server {
        base,
        credential,
        http,
    })
}

/// `--server` must be an http(s) URL; `--user`'s password goes over plain http only to
/// loopback, unless `allow_insecure` (`--allow-insecure-http`).
fn check_server_url(url: &str, user: Option<&str>, allow_insecure: bool) -> Result<(), Failure> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| failure(EXIT_USAGE, format!("--server {url:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let Some(user) = user else {
                return Ok(());
            };
            let ip = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || ip
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || allow_insecure {
                Ok(())
            } else {
                Err(failure(
                    EXIT_USAGE,
                    format!(
                        "refusing to send {user}'s password in clear text to {url}: use \
                         https:// (with --ca-file for a private CA), or pass \
                         --allow-insecure-http if the network to {host} is trusted"
                    ),
                ))
            }
        }
        other => Err(failure(
            EXIT_USAGE,
            format!("--server {url:?} must start with https:// or http://, not {other}://"),
        )),
    }
}

/// The client for the server: a 10 s deadline; with `ca_file`, only its CAs are trusted for
/// https (else the system's).
fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, Failure> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(path) = ca_file {
        let pem = crate::db::read_ca_file(path, "--ca-file")
            .map_err(|e| failure(EXIT_USAGE, format!("{e:#}")))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            failure(
                EXIT_USAGE,
                format!("--ca-file {}: not a PEM certificate: {e}", path.display()),
            )
        })?;
        builder = builder.tls_built_in_root_certs(false);
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| failure(EXIT_UNREACHABLE, format!("cannot make an HTTP client: {e}")))
}

/// A password from standard input: typed at a terminal after `prompt`, without echo; one line
/// from a pipe or file (scripts), without its line ending.
pub fn read_password(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        // rpassword turns echo off only after its prompt: keys typed the moment the prompt
        // shows would be echoed. Off first, then the prompt.
        let _quiet = EchoOff::new();
        return rpassword::prompt_password(format!("{prompt}: "));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Standard input's terminal with echo off until dropped (then as it was).
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        let mut term = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills `term` when it returns 0, and only then is it read.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, term.as_mut_ptr()) } != 0 {
            return Self(None);
        }
        // SAFETY: initialised by the successful tcgetattr above.
        let original = unsafe { term.assume_init() };
        let mut quiet = original;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for standard input's own terminal.
        let set = unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
        Self((set == 0).then_some(original))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            // SAFETY: restores the settings read from the same terminal.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, original) };
        }
    }
}

async fn sign_in(http: &reqwest::Client, base: &str, user: &str) -> Result<String, Failure> {
    let password = read_password(&format!("password for {user}"))
        .map_err(|e| failure(EXIT_USAGE, format!("cannot read the password: {e}")))?;
    let response = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .map_err(|e| unreachable(base, &e))?;
    if !response.status().is_success() {
        return Err(failure(
            EXIT_REFUSED,
            format!("cannot sign in as {user}: {}", error_text(response).await),
        ));
    }
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|cookie| cookie.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| {
            failure(
                EXIT_REFUSED,
                "the server signed in without a session cookie",
            )
        })
}

fn unreachable(base: &str, error: &reqwest::Error) -> Failure {
    // reqwest's own text names only the URL; the why (refused, a certificate) is underneath.
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        causes.push(inner);
        cause = inner.source();
    }
    let refused = causes.iter().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    let deepest = causes.last().map(|c| c.to_string());
    let why = if error.is_timeout() {
        "no answer within 10 s".to_string()
    } else if refused {
        "nothing is listening there".to_string()
    } else if let Some(why) = deepest.filter(|why| why.contains("certificate")) {
        format!(
            "TLS refused the server: {why} (--ca-file names the CA that signed the server's certificate; without it the system's CAs are used)"
        )
    } else if let Some(why) = causes.last() {
        why.to_string()
    } else {
        error.to_string()
    };
    failure(
        EXIT_UNREACHABLE,
        format!("cannot reach the server at {base}: {why}"),
    )
}

async fn error_text(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match app::protocol::ErrorBody::message_of(&body) {
        Some(message) => format!("{message} ({status})"),
        None => status.to_string(),
    }
}

impl Server {
    fn with_credential(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Credential::Token(token) => request.bearer_auth(token),
            Credential::Cookie(cookie) => request.header(reqwest::header::COOKIE, cookie),
        }
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let response = self
            .with_credential(request)
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        if !response.status().is_success() {
            return Err(failure(EXIT_REFUSED, error_text(response).await));
        }
        response.json().await.map_err(|e| {
            failure(
                EXIT_REFUSED,
                format!("the server's answer is unreadable: {e}"),
            )
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.answer(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.answer(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

fn age(ms: Option<u64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min", ms / 60_000),
    }
}

fn stage_note(f: &FeatureStatus) -> String {
    if f.overridden {
        format!(
            "(set at run time by {}: {})",
            f.changed_by.as_deref().unwrap_or("?"),
            f.reason.as_deref().unwrap_or("")
        )
    } else if f.flag.stage == Stage::Live {
        format!("({}=true)", f.variable)
    } else {
        format!("(set {}=true to enable)", f.variable)
    }
}

/// What `thor cutover status` prints: the seeds' header and lines, then the evidence.
pub fn render_status(status: &CutoverStatus) -> String {
    let mut out = String::new();
    out.push_str("🔌 WebSocket Cutover Status\n");
    out.push_str("==========================================================\n");
    out.push_str(status.mode.headline());
    out.push('\n');
    let rule = &status.gate_rule;
    out.push_str(&format!(
        "Flags version {} · gate: match rate ≥ {:.1} % (95 % lower bound) over {} samples from {} pages\n\n",
        status.flags.version,
        rule.min_match_rate * 100.0,
        rule.min_samples,
        rule.min_pages
    ));
    out.push_str("Per-Feature Status:\n");
    for f in &status.features {
        let mark = match f.mark {
            Mark::Ws => "✅ WS",
            Mark::Rest => "⚪ REST",
            Mark::Transitioning => "⚡ Transitioning",
        };
        let ramp = if f.flag.is_partial() {
            format!(" {} %", f.flag.ramp)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {mark:<17} {:<16} {}{ramp} {}\n",
            f.feature.name(),
            f.flag.stage,
            stage_note(f)
        ));
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header([
            "feature",
            "parity (matched/samples)",
            "gate",
            "pages ws/rest/fallback/unconfirmed",
            "last update",
            "REST 5 min",
        ]);
    for f in &status.features {
        let samples = f.parity.samples();
        let parity = if samples == 0 {
            "no samples".to_string()
        } else {
            format!(
                "{}/{} ({:.2} %, ≥{:.2} %), {} missing",
                f.parity.matched,
                samples,
                f.parity.matched as f64 * 100.0 / samples as f64,
                f.gate.lower_bound * 100.0,
                f.parity.missing_on_ws
            )
        };
        let gate = match f.gate.missing.as_slice() {
            [] => "open".to_string(),
            [only] => format!("closed: {only}"),
            [first, rest @ ..] => format!("closed: {first} (+{} more)", rest.len()),
        };
        table.add_row([
            f.feature.name().to_string(),
            parity,
            gate,
            format!(
                "{}/{}/{}/{}",
                f.pages.websocket, f.pages.rest, f.pages.fallen_back, f.pages.unconfirmed
            ),
            age(f.last_update_age_ms),
            f.rest_requests_5m.to_string(),
        ]);
    }
    out.push('\n');
    out.push_str(&table.to_string());
    out.push('\n');
    if let (Some(p50), Some(max)) = (status.propagation_p50_ms, status.propagation_max_ms) {
        out.push_str(&format!(
            "Flag changes reached pages in {p50} ms (median), {max} ms (worst) lately.\n"
        ));
    }
    out.push_str(&render_instances(status));
    for f in &status.features {
        if f.flag.stage == Stage::Shadow && f.gate.missing.len() > 1 {
            out.push_str(&format!(
                "{} may go live after: {}\n",
                f.feature.name(),
                f.gate.missing.join("; ")
            ));
        }
    }
    let attention = status.needs_attention();
    if attention.is_empty() {
        out.push_str("Nothing needs attention.\n");
    } else {
        out.push_str("Needs attention:\n");
        for note in attention {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out
}

/// The instances serving now (the figures above are their sums), lease holder first.
fn render_instances(status: &CutoverStatus) -> String {
    if status.instances.is_empty() {
        return String::new();
    }
    let now = crate::clock::now_ms();
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header(["instance", "role", "flags version", "sockets", "last seen"]);
    for i in &status.instances {
        let role = match (i.lease_holder, i.answering) {
            (true, true) => "★ lease holder (answered)",
            (true, false) => "★ lease holder",
            (false, true) => "follower (answered)",
            (false, false) => "follower",
        };
        table.add_row([
            i.addr.clone(),
            role.to_string(),
            i.flags_version.map_or("—".into(), |v| v.to_string()),
            i.sockets.to_string(),
            format!(
                "{} ago",
                age(Some(u64::try_from(now - i.last_seen).unwrap_or(0)))
            ),
        ]);
    }
    format!(
        "Instances ({} serving; REST requests and propagation above are summed over them):\n{table}\n",
        status.instances.len()
    )
}

/// What `thor cutover audit` prints.
pub fn render_audit(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "No changes yet: every feature is at its WS_FEATURE_* stage.\n".into();
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header([
            "version",
            "when (UTC)",
            "who",
            "feature",
            "change",
            "why",
            "evidence",
        ]);
    // Names and stages never wrap; the reason and the evidence take what is left.
    for (index, column) in table.column_iter_mut().enumerate() {
        if matches!(index, 0 | 2 | 3 | 4) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    for e in entries {
        let when = chrono::DateTime::from_timestamp_millis(e.at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let who = if e.automatic {
            "automatic".to_string()
        } else if e.forced {
            format!("{} (forced)", e.actor)
        } else {
            e.actor.clone()
        };
        table.add_row([
            e.version.to_string(),
            when,
            who,
            e.feature.name().to_string(),
            format!("{} → {}", e.from.stage, e.to.stage),
            e.reason.clone(),
            e.evidence_summary(),
        ]);
    }
    format!("{table}\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_read_like_percentages() {
        assert_eq!(parse_ramp("10%").ok(), Some(10));
        assert_eq!(parse_ramp(" 50 % ").ok(), Some(50));
        assert_eq!(parse_ramp("100").ok(), Some(100));
        for bad in ["0", "101", "half", "-5%"] {
            assert_eq!(parse_ramp(bad).map_err(|f| f.code).err(), Some(2), "{bad}");
        }
    }
}
