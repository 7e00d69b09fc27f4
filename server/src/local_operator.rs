//! What `thor cutover` finds on the server's own machine, with no setup: the server's address
//! (`thor.addr`) and an operator credential (`operator-token`, readable only by the server's
//! user) in the data directory, both written afresh at every start. The API takes the token as
//! `Authorization: Bearer …` and treats its bearer as an operator named `local-operator`.

use rand_core::{OsRng, RngCore};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TOKEN_FILE: &str = "operator-token";
pub const ADDR_FILE: &str = "thor.addr";
/// The name the token's bearer acts under, in the audit trail.
pub const NAME: &str = "local-operator";

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

pub fn addr_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADDR_FILE)
}

/// Makes a fresh token, writes it and the address into `data_dir`, and returns the token. If
/// they cannot be written, the server still serves (the CLI then signs in as a user instead).
pub fn write(data_dir: &Path, addr: SocketAddr) -> Arc<str> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _infallible = write!(out, "{b:02x}");
        out
    });
    if let Err(e) = write_files(data_dir, &token, addr) {
        tracing::warn!(
            error = %format!("{e:#}"),
            dir = %data_dir.display(),
            "cannot leave the local operator credential; `thor cutover` will need --user"
        );
    }
    Arc::from(token)
}

fn write_files(data_dir: &Path, token: &str, addr: SocketAddr) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(data_dir).context("cannot create the data directory")?;
    let path = token_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, token.as_bytes()).context("cannot write the token")?;
    // A wildcard address is reached on loopback from this machine.
    let reachable = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    std::fs::write(addr_path(data_dir), reachable.to_string()).context("cannot write the address")
}

/// Whether `presented` is the token, compared in constant time.
pub fn matches(token: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    // The length is no secret (every token has 64 hex digits); the bytes are.
    bool::from(token.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_private_to_the_servers_user_and_the_address_reachable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = write(dir.path(), "0.0.0.0:3000".parse().expect("addr"));
        let on_disk = std::fs::read_to_string(token_path(dir.path())).expect("token file");
        assert_eq!(on_disk, &*token);
        assert_eq!(token.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(token_path(dir.path()))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let addr = std::fs::read_to_string(addr_path(dir.path())).expect("addr file");
        assert_eq!(addr, "127.0.0.1:3000");
        assert!(matches(&token, &on_disk));
        assert!(!matches(&token, &"0".repeat(64)));
        assert!(!matches(&token, ""));
    }
}
