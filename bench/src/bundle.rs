//! `--suite bundle`: what a first load of the dashboard costs on the wire, for a trader and for an
//! operator. Starts the release `thor` on the release site (`cargo leptos build --release
//! --split`), signs in, fetches the dashboard's HTML and every bundle file it names (an
//! operator's page also names the operator tools' chunk and its loader) with
//! `Accept-Encoding: br`, then `gzip`, then none, and prints the body bytes each answer carried
//! (no decompression on this side). The operator's page also asks, once hydrated, for the fleet's
//! status and the audit trail: those answers are counted too.

use crate::{Args, Kind, Server, bin_of};
use anyhow::{Context, Result, bail};
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, COOKIE};

const ENCODINGS: [Option<&str>; 3] = [Some("br"), Some("gzip"), None];

pub(crate) async fn run(args: &Args) -> Result<()> {
    let bin = bin_of(args, Kind::Thor);
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo leptos build --release --split`",
            bin.display()
        );
    }
    let site = args.site_root.canonicalize().with_context(|| {
        format!(
            "no site at {}: run `cargo leptos build --release --split`",
            args.site_root.display()
        )
    })?;
    eprintln!("{}", crate::machine_line());
    let site = site.to_string_lossy().into_owned();
    let env = [("LEPTOS_SITE_ROOT", site.as_str()), ("LEPTOS_ENV", "PROD")];
    let server = Server::start_with(Kind::Thor, bin, 0, &env).await?;
    // thor compresses the bundle in the background after it starts (on the fly meanwhile):
    // measured once every sibling is written, as every later visitor gets it.
    siblings_written(std::path::Path::new(&site).join("pkg").as_path()).await?;
    let trader = measure(&server, None).await;
    let operator = match server.sign_in_as("ops").await {
        Ok(token) => measure(&server, Some(&token)).await,
        Err(e) => Err(e),
    };
    let mut server = server;
    server.stop().await?;
    println!("A trader's first load (demo):\n");
    print_rows(&trader?);
    println!("\nAn operator's first load (ops), the operator's own requests included:\n");
    print_rows(&operator?);
    Ok(())
}

fn print_rows(rows: &[Row]) {
    println!("| file | plain bytes | br on the wire | gzip on the wire | Cache-Control |");
    println!("|---|---:|---:|---:|---|");
    let mut totals = [0usize; 3];
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.path, row.sizes[2], row.sizes[0], row.sizes[1], row.cache_control
        );
        for (total, size) in totals.iter_mut().zip(row.sizes) {
            *total += size;
        }
    }
    println!(
        "| **total** | {} | {} | {} | |",
        totals[2], totals[0], totals[1]
    );
}

struct Row {
    path: String,
    /// Body bytes with br, gzip, none asked.
    sizes: [usize; 3],
    cache_control: String,
}

/// The first load of the user `token` signs in (the demo trader's session without one).
async fn measure(server: &Server, token: Option<&str>) -> Result<Vec<Row>> {
    let token = match token {
        Some(token) => token,
        None => server.session.as_deref().context("thor gave no session")?,
    };
    let cookie = format!("thor_session={token}");
    let cookie = cookie.as_str();
    let mut rows = vec![fetch_all(server, cookie, "/").await?];
    let html = get(server, cookie, "/", None).await?.1;
    let html = String::from_utf8_lossy(&html);
    // Every bundle file the page names: the main bundle for everyone, and on an operator's page
    // also the operator tools' chunk and its loader (preloaded in the head, `--split`).
    let mut assets: Vec<String> = Vec::new();
    for name in html
        .split("\"/pkg/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        let path = format!("/pkg/{name}");
        if !assets.contains(&path) {
            assets.push(path);
        }
    }
    for extension in [".js", ".wasm", ".css"] {
        if !assets.iter().any(|p| p.ends_with(extension)) {
            bail!("the dashboard names no {extension} file under /pkg");
        }
    }
    for path in &assets {
        rows.push(fetch_all(server, cookie, path).await?);
    }
    // An operator's page asks for the fleet and the audit trail once it has hydrated.
    if html.contains("data-testid=\"operator-controls\"") {
        for path in ["/api/cutover", "/api/cutover/audit?limit=8"] {
            rows.push(fetch_all(server, cookie, path).await?);
        }
    }
    Ok(rows)
}

async fn fetch_all(server: &Server, cookie: &str, path: &str) -> Result<Row> {
    let mut sizes = [0; 3];
    let mut cache_control = String::new();
    for (size, encoding) in sizes.iter_mut().zip(ENCODINGS) {
        let (headers, body) = get(server, cookie, path, encoding).await?;
        let used = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok());
        if encoding.is_some() && used != encoding {
            eprintln!("warning: {path} asked for {encoding:?} came as {used:?}");
        }
        cache_control = headers
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        *size = body.len();
    }
    Ok(Row {
        path: path.to_string(),
        sizes,
        cache_control,
    })
}

async fn get(
    server: &Server,
    cookie: &str,
    path: &str,
    encoding: Option<&str>,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>)> {
    let mut request = server
        .http
        .get(format!("http://{}{path}", server.addr))
        .header(COOKIE, cookie);
    if let Some(encoding) = encoding {
        request = request.header(ACCEPT_ENCODING, encoding);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    if !response.status().is_success() {
        bail!("GET {path} answered {}", response.status());
    }
    let headers = response.headers().clone();
    // reqwest is built without its decompression features: these are the bytes that travelled.
    let body = response
        .bytes()
        .await
        .with_context(|| format!("GET {path}: the body"))?;
    Ok((headers, body.to_vec()))
}

/// Waits (at most 60 s) until every bundle file in `pkg` has its Brotli and gzip siblings.
async fn siblings_written(pkg: &std::path::Path) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(pkg).with_context(|| format!("read {}", pkg.display()))? {
            let path = entry?.path();
            let bundle = path
                .extension()
                .is_some_and(|e| e == "js" || e == "wasm" || e == "css");
            if !bundle {
                continue;
            }
            for sibling in ["br", "gz"] {
                let mut name = path.clone().into_os_string();
                name.push(format!(".{sibling}"));
                if !std::path::Path::new(&name).is_file() {
                    missing.push(path.display().to_string());
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "no compressed siblings after 60 s for {}",
                missing.join(", ")
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
