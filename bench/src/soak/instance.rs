//! One instance of the soak's fleet: started, stopped and started again on the same port and
//! data directory, and its RSS.

use crate::server::status_line_kb;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One instance of the fleet: its port and data directory survive its restarts.
pub(super) struct Instance {
    pub(super) name: &'static str,
    pub(super) addr: SocketAddr,
    pub(super) data_dir: PathBuf,
    pub(super) log: PathBuf,
    pub(super) env: Vec<(String, String)>,
    pub(super) child: Option<Child>,
}

impl Instance {
    pub(super) fn start(&mut self, bin: &Path) -> Result<()> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let err = out.try_clone().context("cannot share the log")?;
        let child = Command::new(bin)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .env("THOR_DATA_DIR", &self.data_dir)
            .env("LEPTOS_SITE_ADDR", self.addr.to_string())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub(super) async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().context("cannot poll the server")?
            {
                bail!("instance {} exited during start-up ({status})", self.name);
            }
            let url = format!("http://{}/api/health", self.addr);
            if http
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("instance {} was not ready within 60 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then up to 15 s for a clean exit, then SIGKILL.
    pub(super) async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child
            .try_wait()
            .context("cannot poll the server")?
            .is_none()
        {
            let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
            // SAFETY: kill(2) on our own child's pid; it has not been reaped (try_wait said so).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child
                .try_wait()
                .context("cannot poll the server")?
                .is_some()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "warning: instance {} did not stop within 15 s; killing it",
            self.name
        );
        child.kill().context("cannot kill the server")?;
        child.wait().context("cannot reap the server")?;
        Ok(())
    }

    pub(super) fn rss_mb(&self) -> f64 {
        let Some(child) = self.child.as_ref() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|s| status_line_kb(&s, "VmRSS:"))
            .map_or(0.0, |kb| kb as f64 / 1024.0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(None) = child.try_wait()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
