//! Reaching the server: its address checked (https, or plain http only to this machine), a
//! client that trusts the configured CA, a credential (the local operator token or a password
//! read without echo), and the requests with their errors in an operator's words.

use super::*;

pub(super) enum Credential {
    Token(String),
    Cookie(String),
}

pub(super) struct Server {
    base: String,
    credential: Credential,
    http: reqwest::Client,
}

pub(super) async fn connect(
    args: &CutoverArgs,
    data_dir: &std::path::Path,
) -> Result<Server, Failure> {
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
pub(super) fn check_server_url(
    url: &str,
    user: Option<&str>,
    allow_insecure: bool,
) -> Result<(), Failure> {
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
pub(super) fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, Failure> {
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
pub(super) struct EchoOff(Option<libc::termios>);

impl EchoOff {
    pub(super) fn new() -> Self {
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

pub(super) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    user: &str,
) -> Result<String, Failure> {
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

pub(super) fn unreachable(base: &str, error: &reqwest::Error) -> Failure {
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

pub(super) async fn error_text(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match thor_core::protocol::ErrorBody::message_of(&body) {
        Some(message) => format!("{message} ({status})"),
        None => status.to_string(),
    }
}

impl Server {
    pub(super) fn with_credential(
        &self,
        request: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        match &self.credential {
            Credential::Token(token) => request.bearer_auth(token),
            Credential::Cookie(cookie) => request.header(reqwest::header::COOKIE, cookie),
        }
    }

    pub(super) async fn answer<T: serde::de::DeserializeOwned>(
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

    pub(super) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, Failure> {
        self.answer(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(super) async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        self.answer(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}
