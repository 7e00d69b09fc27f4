//! The server under test (thor or the bare broadcast server), started, signed in to and
//! measured (its RSS and CPU from /proc), then stopped.

use crate::*;

pub(crate) struct Server {
    pub(crate) kind: Kind,
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) http: reqwest::Client,
    /// The `thor_session` token every client presents (thor only).
    pub(crate) session: Option<String>,
    pub(crate) log: PathBuf,
    pub(crate) dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start(kind: Kind, bin: &Path, rate: u32) -> Result<Server> {
        Self::start_with(kind, bin, rate, &[]).await
    }

    /// [`Server::start`] with extra environment variables (thor only).
    pub(crate) async fn start_with(
        kind: Kind,
        bin: &Path,
        rate: u32,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("thor-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("server.log");
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the server log")?;
        let mut command = Command::new(bin);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        match kind {
            Kind::Thor => {
                command
                    .env("THOR_DATA_DIR", dir.path().join("data"))
                    .env("LEPTOS_SITE_ADDR", addr.to_string())
                    .env("THOR_MAX_CONNECTIONS", "20000")
                    // Every client signs in as the same user.
                    .env("THOR_MAX_CONNECTIONS_PER_USER", "20000")
                    .env("THOR_PROBE_RATE", rate.to_string())
                    .env("RUST_LOG", "warn")
                    .envs(env.iter().copied());
            }
            Kind::BareRest => {
                command
                    .arg("--addr")
                    .arg(addr.to_string())
                    .arg("--data-dir")
                    .arg(dir.path().join("data"));
            }
            Kind::Bare => {
                command
                    .arg("--addr")
                    .arg(addr.to_string())
                    .arg("--rate")
                    .arg(rate.to_string());
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build an HTTP client")?;
        let mut server = Server {
            kind,
            child,
            addr,
            http,
            session: None,
            log,
            dir,
        };
        if let Err(e) = server.wait_ready().await {
            let tail = server.log_tail();
            server.stop().await?;
            return Err(e.context(format!("server log:\n{tail}")));
        }
        Ok(server)
    }

    pub(crate) async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().context("cannot poll the server")? {
                bail!("the server exited during start-up ({status})");
            }
            let ready = match self.kind {
                Kind::Thor => self
                    .http
                    .get(format!("http://{}/api/health", self.addr))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                Kind::Bare | Kind::BareRest => TcpStream::connect(self.addr).await.is_ok(),
            };
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.kind == Kind::Thor {
            self.session = Some(self.sign_in().await?);
        }
        Ok(())
    }

    pub(crate) async fn sign_in(&self) -> Result<String> {
        self.sign_in_as("demo").await
    }

    /// Signs in as the seeded demo user `user` (whose password is its name).
    pub(crate) async fn sign_in_as(&self, user: &str) -> Result<String> {
        sign_in_at(&self.http, self.addr, user).await
    }

    /// The last probe `seq` the server has published (0 before the first).
    pub(crate) async fn last_probe_seq(&self) -> Result<u64> {
        match self.kind {
            Kind::Thor => {
                let health: serde_json::Value = self
                    .http
                    .get(format!("http://{}/api/health", self.addr))
                    .send()
                    .await
                    .context("GET /api/health")?
                    .json()
                    .await
                    .context("GET /api/health: not JSON")?;
                let topics = health
                    .pointer("/hub/topics")
                    .ok_or_else(|| anyhow!("GET /api/health has no hub.topics"))?;
                Ok(topics.get("probe").and_then(|v| v.as_u64()).unwrap_or(0))
            }
            Kind::Bare => {
                let text = self
                    .http
                    .get(format!("http://{}/seq", self.addr))
                    .send()
                    .await
                    .context("GET /seq")?
                    .text()
                    .await
                    .context("GET /seq: no body")?;
                text.trim()
                    .parse()
                    .with_context(|| format!("GET /seq answered {text:?}"))
            }
            Kind::BareRest => bail!("bare-rest publishes no probes"),
        }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn rss_kb(&self) -> Result<u64> {
        self.status_kb("VmRSS:")
    }

    /// A `kB` line of /proc/<pid>/status (`VmRSS:`, `VmHWM:`).
    pub(crate) fn status_kb(&self, field: &str) -> Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        status_line_kb(&status, field).ok_or_else(|| anyhow!("no {field} in {path}"))
    }

    /// The CPU time (user + system) the server has used so far, seconds.
    pub(crate) fn cpu_seconds(&self) -> Result<f64> {
        let path = format!("/proc/{}/stat", self.child.id());
        let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        cpu_seconds_of(&stat).ok_or_else(|| anyhow!("no CPU times in {path}"))
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 15 s for a clean exit, then SIGKILL.
    pub(crate) async fn stop(&mut self) -> Result<()> {
        if self
            .child
            .try_wait()
            .context("cannot poll the server")?
            .is_some()
        {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (try_wait said so).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self
                .child
                .try_wait()
                .context("cannot poll the server")?
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "warning: {} did not stop within 15 s of SIGTERM; killing it",
            self.kind.name()
        );
        self.child.kill().context("cannot kill the server")?;
        self.child.wait().context("cannot reap the server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A cell that failed half-way must not leave its server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener
        .local_addr()
        .context("cannot read a local address")?
        .port())
}

/// The token of a `Set-Cookie: thor_session=<token>; ...` header.
pub(crate) fn session_from_set_cookie(header: &str) -> Option<&str> {
    let pair = header.split(';').next()?.trim();
    let token = pair.strip_prefix("thor_session=")?;
    (!token.is_empty()).then_some(token)
}

/// `VmRSS:   12345 kB` from /proc/<pid>/status.
#[cfg(test)]
pub(crate) fn vm_rss_kb(status: &str) -> Option<u64> {
    status_line_kb(status, "VmRSS:")
}

/// `FIELD   12345 kB` from /proc/<pid>/status.
pub(crate) fn status_line_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// utime + stime of a /proc/<pid>/stat line, in seconds. The fields after the command name
/// (which may hold spaces, so it is skipped by its closing parenthesis): state is the first,
/// utime the 12th, stime the 13th.
pub(crate) fn cpu_seconds_of(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system; no pointers.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// Signs in at `addr` as the seeded demo user `user` (whose password is its name); the
/// session token.
pub(crate) async fn sign_in_at(
    http: &reqwest::Client,
    addr: SocketAddr,
    user: &str,
) -> Result<String> {
    let response = http
        .post(format!("http://{addr}/api/auth/login"))
        .json(&serde_json::json!({"username": user, "password": user}))
        .send()
        .await
        .context("POST /api/auth/login")?;
    if !response.status().is_success() {
        bail!("POST /api/auth/login answered {}", response.status());
    }
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session_from_set_cookie(v).map(str::to_string))
        .ok_or_else(|| anyhow!("POST /api/auth/login set no thor_session cookie"))
}

#[cfg(test)]
mod cpu_tests {
    #[test]
    fn cpu_times_are_read_past_a_command_name_with_spaces() {
        let stat = "42 (thor (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        // SAFETY: as in cpu_seconds_of.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        assert_eq!(super::cpu_seconds_of(stat), Some(300.0 / hz));
    }
}
