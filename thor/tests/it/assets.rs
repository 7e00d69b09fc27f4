//! The browser bundle as a browser gets it from the real server: the page names the hashed
//! files, each comes Brotli- or gzip-compressed (precompressed at start) or plain as asked, and
//! decodes to exactly the file on disk; hashed names are cached for a year, the rest revalidated.
//!
//! `cargo test` runs before the release build, so the site is a small one made here, laid out as
//! `cargo leptos build --release --split` lays it out (`hash-files = true`):
//! `pkg/thor.<hash>.{js,wasm,css}`, the operator tools' chunk and its loader
//! (`split_thor_operator_tools.<hash>.wasm`, `__wasm_split.<hash>.js`), and a `hash.txt` naming
//! the hashes.

use crate::common;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, VARY};
use std::io::Read;
use std::path::PathBuf;

const JS_HASH: &str = "Jx2w_Qm8d1Rk4Tz0Ua7Vb-";
const WASM_HASH: &str = "Wq9e-Rt5y7Ui1Op3As6Df_";
const CSS_HASH: &str = "Cz1x_Cv3b5Nm7Lk9Jh2Gf-";
/// The chunk an operator's page loads once hydrated, and the script that loads it: named by no
/// trader's page, fetched like the rest.
const CHUNK: &str = "split_thor_operator_tools.Sp1t_Ch4nkOp5Tools9-x_.wasm";
const LOADER_HASH: &str = "Lo4d_Er7Spl1tJsHash3x_";
const LOADER: &str = "__wasm_split.Lo4d_Er7Spl1tJsHash3x_.js";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A site as the release build leaves it, in a temporary directory.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pkg = dir.path().join("site/pkg");
        std::fs::create_dir_all(&pkg).expect("pkg dir");
        let js: String = (0..400)
            .map(|i| format!("export function f{i}(x) {{ return x * {i} + 1; }}\n"))
            .collect();
        // Compressible like a real module: repeated structure with varying numbers.
        let wasm: Vec<u8> = b"\0asm\x01\0\0\0"
            .iter()
            .copied()
            .chain((0..60_000u32).flat_map(|i| [0x20, (i % 7) as u8, 0x41, (i % 251) as u8]))
            .collect();
        let css: String = (0..200)
            .map(|i| format!(".panel-{i} {{ margin: {i}px; color: #333; }}\n"))
            .collect();
        std::fs::write(pkg.join(format!("thor.{JS_HASH}.js")), &js).expect("js");
        std::fs::write(pkg.join(format!("thor.{WASM_HASH}.wasm")), &wasm).expect("wasm");
        std::fs::write(pkg.join(format!("thor.{CSS_HASH}.css")), css).expect("css");
        std::fs::write(pkg.join(CHUNK), &wasm[..wasm.len() / 4]).expect("chunk");
        std::fs::write(pkg.join(LOADER), &js[..js.len() / 4]).expect("loader");
        std::fs::write(dir.path().join("site/favicon.ico"), [0u8; 148]).expect("favicon");
        std::fs::write(
            dir.path().join("hash.txt"),
            format!("js: {JS_HASH}\nwasm: {WASM_HASH}\ncss: {CSS_HASH}\nsplit: {LOADER_HASH}\n"),
        )
        .expect("hash file");
        Self { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    fn pkg(&self, name: &str) -> PathBuf {
        self.root().join("pkg").join(name)
    }

    async fn serve(&self) -> common::TestApp {
        let root = self.root();
        let hash_file = self.dir.path().join("hash.txt");
        common::spawn_app_with(move |settings| {
            settings.site.root = root.to_string_lossy().into_owned();
            settings.site.hash_file = hash_file;
        })
        .await
    }
}

/// Waits (at most 30 s) until the server's background compression has written `name`'s Brotli
/// and gzip siblings.
async fn siblings_written(site: &Site, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(site.pkg(&format!("{name}.br")).is_file() && site.pkg(&format!("{name}.gz")).is_file())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: no compressed siblings within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn fetch(app: &common::TestApp, path: &str, encoding: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(path));
    if let Some(encoding) = encoding {
        request = request.header(ACCEPT_ENCODING, encoding);
    }
    request.send().await.expect("request")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "br" => {
            brotli::BrotliDecompress(&mut &body[..], &mut out).expect("valid Brotli");
        }
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        "" => out.extend_from_slice(body),
        other => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

async fn dashboard_html(app: &common::TestApp) -> String {
    let cookie = common::sign_in(app, "demo").await;
    let page = reqwest::Client::new()
        .get(app.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        header(&page, CACHE_CONTROL),
        "no-store",
        "the page itself is never reused: each load learns the current bundle names"
    );
    page.text().await.expect("html")
}

#[tokio::test]
async fn the_page_loads_the_bundle_by_hashed_names_compressed_and_cached_for_a_year() {
    let site = Site::new();
    let app = site.serve().await;

    let html = dashboard_html(&app).await;
    let files = [
        format!("thor.{JS_HASH}.js"),
        format!("thor.{WASM_HASH}.wasm"),
        format!("thor.{CSS_HASH}.css"),
    ];
    for name in &files {
        assert!(
            html.contains(&format!("/pkg/{name}")),
            "the page names {name}: {html}"
        );
    }
    for plain in ["/pkg/thor.js", "/pkg/thor.wasm", "/pkg/thor.css"] {
        assert!(!html.contains(plain), "no plain name {plain} in the page");
    }
    assert!(
        !html.contains(CHUNK),
        "a trader's page names no operator chunk"
    );

    for name in files.iter().map(String::as_str).chain([CHUNK, LOADER]) {
        siblings_written(&site, name).await;
        let on_disk = std::fs::read(site.pkg(name)).expect("the built file");
        for (asked, expected) in [
            (Some("br"), "br"),
            (Some("gzip"), "gzip"),
            (Some("gzip, deflate, br, zstd"), "br"),
            (None, ""),
        ] {
            let response = fetch(&app, &format!("/pkg/{name}"), asked).await;
            assert_eq!(response.status(), StatusCode::OK, "{name} with {asked:?}");
            assert_eq!(
                header(&response, CONTENT_ENCODING),
                expected,
                "{name} with {asked:?}"
            );
            assert_eq!(header(&response, CACHE_CONTROL), IMMUTABLE, "{name}");
            assert!(
                header(&response, VARY)
                    .to_ascii_lowercase()
                    .contains("accept-encoding"),
                "{name}: a cache keeps one copy per encoding"
            );
            let wire = response.bytes().await.expect("body");
            if !expected.is_empty() {
                assert!(
                    wire.len() * 2 < on_disk.len(),
                    "{name} in {expected}: {} bytes on the wire for {}",
                    wire.len(),
                    on_disk.len()
                );
            }
            assert!(
                decode(expected, &wire) == on_disk,
                "{name} in {expected:?} decodes to the file on disk"
            );
        }
        // Compressed once, after start, at the highest quality: what travels is the sibling.
        let br = std::fs::read(site.pkg(&format!("{name}.br"))).expect("a .br sibling");
        let wire = fetch(&app, &format!("/pkg/{name}"), Some("br"))
            .await
            .bytes()
            .await
            .expect("body");
        assert_eq!(
            wire.as_ref(),
            br.as_slice(),
            "{name}: the precompressed sibling is sent"
        );
        assert!(
            site.pkg(&format!("{name}.gz")).is_file(),
            "{name}: a .gz sibling"
        );
    }

    let favicon = fetch(&app, "/favicon.ico", None).await;
    assert_eq!(favicon.status(), StatusCode::OK);
    assert_eq!(
        header(&favicon, CACHE_CONTROL),
        "no-cache",
        "an unhashed file is asked after on each use"
    );
    let missing = fetch(&app, &format!("/pkg/thor.{JS_HASH}x.js"), Some("br")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_ne!(
        header(&missing, CACHE_CONTROL),
        IMMUTABLE,
        "a missing file is never cached for a year"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_sibling_older_than_its_file_is_made_again_at_start() {
    let site = Site::new();
    let name = format!("thor.{WASM_HASH}.wasm");
    let stale = site.pkg(&format!("{name}.br"));
    let mut old_bytes = Vec::new();
    brotli::enc::BrotliCompress(
        &mut &b"an older build"[..],
        &mut old_bytes,
        &Default::default(),
    )
    .expect("compress");
    std::fs::write(&stale, &old_bytes).expect("stale sibling");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(an_hour_ago))
        .expect("backdate");

    let app = site.serve().await;
    let wire = fetch(&app, &format!("/pkg/{name}"), Some("br"))
        .await
        .bytes()
        .await
        .expect("body");
    let on_disk = std::fs::read(site.pkg(&name)).expect("the built file");
    assert!(
        decode("br", &wire) == on_disk,
        "the Brotli answer is the current file, not the stale sibling, even at once"
    );
    siblings_written(&site, &name).await;
    let sibling = std::fs::read(&stale).expect("the new sibling");
    assert!(
        decode("br", &sibling) == on_disk,
        "the sibling is made again from the current file"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_page_and_the_socket_name_the_same_build_and_a_development_build_names_none() {
    let site = Site::new();
    let app = site.serve().await;
    let build = format!("{WASM_HASH}.{JS_HASH}.{CSS_HASH}.{LOADER_HASH}");
    let html = dashboard_html(&app).await;
    assert!(
        html.contains(&format!(r#"<meta name="thor-build" content="{build}">"#)),
        "{html}"
    );
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect_raw(app.addr, &cookie, "").await;
    assert_eq!(
        common::hello(&mut socket).await.build,
        build,
        "the socket's first message"
    );
    app.stop().await;

    // Rebuilt under a plain name by `cargo leptos watch`: the pages load a development build.
    std::fs::write(site.pkg("thor.wasm"), b"\0asm\x01\0\0\0").expect("rebuilt wasm");
    let app = site.serve().await;
    let html = dashboard_html(&app).await;
    assert!(
        html.contains(r#"<meta name="thor-build" content="">"#),
        "{html}"
    );
    let cookie = common::sign_in(&app, "demo").await;
    let mut socket = common::ws_connect_raw(app.addr, &cookie, "").await;
    assert_eq!(common::hello(&mut socket).await.build, "");
    app.stop().await;
}

#[tokio::test]
async fn a_file_rebuilt_by_cargo_leptos_watch_under_its_plain_name_is_loaded_and_revalidated() {
    let site = Site::new();
    let app = site.serve().await;
    // `cargo leptos watch` rebuilds the stylesheet unhashed and leaves the hash file as it was.
    let css = ".panel { margin: 0; }\n".repeat(100);
    std::fs::write(site.pkg("thor.css"), &css).expect("rebuilt css");

    let html = dashboard_html(&app).await;
    assert!(
        html.contains("/pkg/thor.css"),
        "the rebuilt stylesheet: {html}"
    );
    assert!(
        !html.contains(&format!("thor.{CSS_HASH}.css")),
        "not the stale hashed one"
    );

    assert!(
        html.contains(&format!("/pkg/thor.{WASM_HASH}.wasm")),
        "the scripts keep their hashed names"
    );

    let response = fetch(&app, "/pkg/thor.css", Some("br")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
    let encoding = header(&response, CONTENT_ENCODING).to_string();
    let wire = response.bytes().await.expect("body");
    assert_eq!(decode(&encoding, &wire), css.as_bytes());
    app.stop().await;
}

#[tokio::test]
async fn without_a_hash_file_the_page_loads_the_plain_names() {
    let site = Site::new();
    std::fs::remove_file(site.dir.path().join("hash.txt")).expect("remove");
    let app = site.serve().await;
    let html = dashboard_html(&app).await;
    assert!(html.contains("/pkg/thor.css"), "{html}");
    assert!(!html.contains(JS_HASH), "{html}");
    app.stop().await;
}
