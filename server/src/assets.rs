//! The browser bundle under `/pkg` (the WebAssembly, its JavaScript glue, the stylesheet): its
//! hashed names in the pages, served precompressed, cached for a year.
//!
//! - **Names.** cargo-leptos (`hash-files = true`) renames each bundle file to
//!   `name.<hash>.ext` and writes the hashes to `hash.txt` beside the server's executable, where
//!   Leptos reads them when it renders a page ([`find_hashes`] points it there, or at the file
//!   `site.hash-file` names). A new build is new names, so a page never mixes two builds.
//! - **Compression.** [`precompress`] writes a Brotli (quality 11) and a gzip (Zopfli) sibling
//!   beside each file, once, at start; [`router`] serves the one the client prefers by
//!   `Accept-Encoding`, with `Vary: Accept-Encoding`.
//! - **Caching.** Hashed names are `public, max-age=31536000, immutable`; anything else under
//!   `/pkg` (a `cargo leptos watch` rebuild's plain names) is `no-cache`, revalidated by its
//!   `Last-Modified`.

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use tower_http::services::ServeDir;

/// The cache policy of a hashed (content-addressed) file: its name changes with its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The cache policy of everything else static: kept, but asked after (a 304 when unchanged).
pub use thor_core::REVALIDATE;

/// The bundle's extensions worth compressing (images and fonts are compressed already).
const COMPRESSIBLE: [&str; 4] = ["js", "mjs", "wasm", "css"];
/// Smaller files gain nothing from a sibling.
const COMPRESS_FROM_BYTES: u64 = 1024;

/// Points Leptos at cargo-leptos' hash file and turns hashed names on when it exists. A relative
/// `hash_file` is beside the running executable, as cargo-leptos writes it.
pub fn find_hashes(options: &mut LeptosOptions, hash_file: &Path) {
    let path = match std::env::current_exe() {
        Ok(exe) => exe.parent().unwrap_or(Path::new("")).join(hash_file),
        Err(_) => hash_file.to_path_buf(),
    };
    options.hash_files = path.is_file();
    // Leptos joins this to the executable's directory; an absolute path replaces it.
    options.hash_file = path.to_string_lossy().as_ref().into();
    if !options.hash_files {
        tracing::debug!(hash_file = %path.display(), "no hash file: the bundle keeps its plain names");
        return;
    }
    let pkg = pkg_dir(options);
    match missing_hashed_files(&path, &pkg, &options.output_name) {
        Ok(missing) if missing.is_empty() => {
            tracing::info!(hash_file = %path.display(), "the pages load the bundle by its hashed names")
        }
        Ok(missing) => tracing::error!(
            hash_file = %path.display(),
            site = %pkg.display(),
            missing = %missing.join(", "),
            "the hash file names bundle files the site does not have: deploy the site and the \
             hash file of the same build"
        ),
        Err(e) => tracing::error!(error = format!("{e:#}"), "cannot check the hash file"),
    }
}

/// The build the pages load: the hashes of the WebAssembly, the script and the stylesheet, from
/// the hash file [`find_hashes`] found (`wasm.js.css`, then `.split` for the split chunks' loader
/// when built with `--split`); empty without one (a development build,
/// whose pages never reload for a build).
pub fn build_id(options: &LeptosOptions) -> thor_core::Build {
    // `cargo leptos watch` rebuilds under plain names and leaves the hash file behind: the pages
    // load those, a development build.
    let pkg = pkg_dir(options);
    let rebuilt = ["js", "wasm", "css"]
        .iter()
        .any(|kind| pkg.join(format!("{}.{kind}", options.output_name)).exists());
    if !options.hash_files || rebuilt {
        return thor_core::Build::default();
    }
    let text = match std::fs::read_to_string(options.hash_file.as_ref()) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the hash file for the build id");
            return thor_core::Build::default();
        }
    };
    let hash = |kind: &str| {
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim() == kind)
            .map(|(_, hash)| hash.trim().to_string())
            .unwrap_or_default()
    };
    let mut id = format!("{}.{}.{}", hash("wasm"), hash("js"), hash("css"));
    // `--split`: the loader of the lazily loaded chunks, whose hash follows theirs. A deploy that
    // changed only the operator tools is a new build too.
    let split = hash("split");
    if !split.is_empty() {
        id = format!("{id}.{split}");
    }
    thor_core::Build(id)
}

/// The hashed files `hash_file` names that `pkg` has neither under that name nor (rebuilt by
/// `cargo leptos watch`) under its plain one.
fn missing_hashed_files(
    hash_file: &Path,
    pkg: &Path,
    output_name: &str,
) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(hash_file)
        .with_context(|| format!("cannot read {}", hash_file.display()))?;
    let missing = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(kind, hash)| (kind.trim(), hash.trim()))
        .filter(|(kind, _)| ["js", "wasm", "css"].contains(kind))
        .filter(|(kind, hash)| {
            !pkg.join(format!("{output_name}.{hash}.{kind}")).is_file()
                && !pkg.join(format!("{output_name}.{kind}")).is_file()
        })
        .map(|(kind, hash)| format!("{output_name}.{hash}.{kind}"))
        .collect();
    Ok(missing)
}

fn pkg_dir(options: &LeptosOptions) -> PathBuf {
    Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref())
}

/// `/pkg`: the bundle's files, precompressed when a sibling exists, with their cache policy.
pub fn router<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let files = ServeDir::new(pkg_dir(options))
        .precompressed_br()
        .precompressed_gzip();
    Router::new().nest_service(
        &format!("/{}", options.site_pkg_dir),
        Router::new()
            .fallback_service(files)
            .layer(from_fn(cache_policy)),
    )
}

/// Hashed names are cached for good, the rest revalidated; every answer varies by encoding.
async fn cache_policy(request: Request, next: Next) -> Response {
    let hashed = carries_hash(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_success() || status == axum::http::StatusCode::NOT_MODIFIED) {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if hashed { IMMUTABLE } else { REVALIDATE }),
    );
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// Whether the path's file name is `stem.<hash>.ext` as cargo-leptos writes it (an MD5 in 22
/// characters of URL-safe base64).
pub fn carries_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes `file.br` (Brotli, quality 11) and `file.gz` (gzip, by Zopfli) beside every bundle file
/// under `dir` that lacks them or is newer than them; returns how many files it compressed.
///
/// Done by the server at start rather than by a build step: a plain `cargo leptos build
/// --release` deploy (cargo-leptos 0.3.10 compresses only with `--precompress`, per command)
/// still gets them, and only missing or stale ones cost time. Each is written to a temporary
/// name and renamed, so no client (nor a second instance on the same site) sees half of one.
pub fn precompress(dir: &Path) -> anyhow::Result<usize> {
    let mut compressed = 0;
    for (path, len, modified) in bundle_files(dir)? {
        if len < COMPRESS_FROM_BYTES {
            continue;
        }
        let mut data = None;
        for (suffix, encode) in [("br", brotli as Encoder), ("gz", gzip)] {
            let sibling = with_suffix(&path, suffix);
            if is_fresh(&sibling, modified) {
                continue;
            }
            if data.is_none() {
                data = Some(
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                );
            }
            let bytes = encode(data.as_deref().unwrap_or_default())
                .with_context(|| format!("cannot compress {}", path.display()))?;
            write_atomically(&sibling, &bytes)?;
        }
        if data.is_some() {
            compressed += 1;
        }
    }
    Ok(compressed)
}

/// Deletes every sibling under `dir` older than its file (a previous build's), so none is ever
/// served for the new file; returns how many. Quick: it only reads the files' times.
pub fn remove_stale(dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    // Every bundle file, small ones included: a file that shrank keeps no old sibling.
    for (path, _, modified) in bundle_files(dir)? {
        for suffix in ["br", "gz"] {
            let sibling = with_suffix(&path, suffix);
            if sibling.exists() && !is_fresh(&sibling, modified) {
                std::fs::remove_file(&sibling)
                    .with_context(|| format!("cannot delete {}", sibling.display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The bundle's files under `dir` (the types worth a compressed sibling), with each one's
/// size and when it was last written.
fn bundle_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64, Option<SystemTime>)>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            // Gone since the listing (a sibling just deleted or renamed into place).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.is_dir() {
            files.extend(bundle_files(&path)?);
            continue;
        }
        let compressible = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e));
        if compressible {
            files.push((path, meta.len(), meta.modified().ok()));
        }
    }
    Ok(files)
}

/// At start: a previous build's siblings are deleted at once, then [`precompress`] runs in the
/// background, so the first requests are served without waiting (compressed on the fly until
/// the siblings exist). A failure (a read-only site) is logged; files are compressed on the fly.
pub async fn precompress_at_start(options: &LeptosOptions) {
    let pkg = pkg_dir(options);
    if !pkg.is_dir() {
        tracing::debug!(site = %pkg.display(), "no bundle to compress");
        return;
    }
    let dir = pkg.clone();
    match tokio::task::spawn_blocking(move || remove_stale(&dir)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot delete the bundle's stale compressed copies; it is compressed on the fly"
            );
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the check of the bundle's compressed copies stopped");
            return;
        }
    }
    tokio::spawn(compress_in_background(pkg));
}

async fn compress_in_background(pkg: PathBuf) {
    let started = Instant::now();
    let dir = pkg.clone();
    match tokio::task::spawn_blocking(move || precompress(&dir)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(files)) => tracing::info!(
            files,
            site = %pkg.display(),
            ms = started.elapsed().as_millis() as u64,
            "compressed the bundle (Brotli and gzip)"
        ),
        Ok(Err(e)) => tracing::warn!(
            error = format!("{e:#}"),
            "cannot precompress the bundle; it is compressed on the fly instead"
        ),
        Err(e) => tracing::warn!(error = %e, "the bundle's compression stopped"),
    }
}

type Encoder = fn(&[u8]) -> std::io::Result<Vec<u8>>;

fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 3);
    brotli::enc::BrotliCompress(&mut &data[..], &mut out, &params)?;
    Ok(out)
}

/// gzip written by Zopfli: a plain DEFLATE stream every gzip reader reads, about 4 % smaller
/// than zlib's best on the WebAssembly (312.3 KB → 298.5 KB). That is what a browser gets over
/// plain HTTP, where it offers no Brotli. Zopfli is slow (seconds for the bundle), but it runs
/// once per build, in the background, and the bundle is served compressed on the fly meanwhile.
/// Its default options: "unlimited" block splits (0) came out 6 KB larger here.
fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3);
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        data,
        &mut out,
    )?;
    Ok(out)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A sibling at least as new as its file (an unknown time counts as stale).
fn is_fresh(sibling: &Path, file_modified: Option<SystemTime>) -> bool {
    let sibling_modified = std::fs::metadata(sibling).and_then(|m| m.modified()).ok();
    matches!((sibling_modified, file_modified), (Some(s), Some(f)) if s >= f)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = with_suffix(path, &format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    if let Err(e) = std::fs::rename(&temporary, path) {
        let _ = std::fs::remove_file(&temporary);
        return Err(e).with_context(|| {
            format!(
                "cannot rename {} to {}",
                temporary.display(),
                path.display()
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::carries_hash;

    #[test]
    fn only_cargo_leptos_hashed_names_count_as_hashed() {
        assert!(carries_hash("/thor.3sDqJ7Hg1kZ_xw-9aB2cQe.wasm"));
        assert!(carries_hash("thor.3sDqJ7Hg1kZ_xw-9aB2cQe.js"));
        assert!(!carries_hash("/thor.wasm"));
        assert!(!carries_hash("/thor.css"));
        assert!(!carries_hash("/.3sDqJ7Hg1kZ_xw-9aB2cQe.js"));
        assert!(!carries_hash("/thor.3sDqJ7Hg1kZ_xw-9aB2c.js"));
        assert!(!carries_hash("/thor.3sDqJ7Hg1kZ_xw+9aB2cQe.js"));
    }
}
