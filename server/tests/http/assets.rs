//! Static assets (issue 11, item 6): the page names the content-hashed bundle, which
//! is sent precompressed to browsers that accept it and may be kept for a year;
//! pages and API answers are never stored.

use std::path::Path;

use crate::helpers::{TestApp, spawn_app_with_site};

/// Hashes in cargo-leptos's form: 22 characters of unpadded base64url.
const JS_HASH: &str = "XNsnRi7qnFYoQtPWNR_4ew";
const WASM_HASH: &str = "voKpcbFZo7VyrHqqvA-rTQ";
const CSS_HASH: &str = "QCKavWTQKFoOuETY-OiWIA";

/// The raw bundle and its two precompressed copies: different bytes, so an answer
/// shows which one was sent.
const WASM: &[u8] = b"\0asm\x01\0\0\0 the raw bundle";
const WASM_BR: &[u8] = b"\x1b\x17 the brotli copy";
const WASM_GZ: &[u8] = b"\x1f\x8b the gzip copy";

const YEAR: &str = "public, max-age=31536000, immutable";

fn wasm_path() -> String {
    format!("/pkg/homelab-cmd.{WASM_HASH}.wasm")
}

/// A site as `build_site` leaves it: hashed files, their gzip and brotli copies,
/// and the hash file in the site root.
fn hashed_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    let wasm = pkg.join(format!("homelab-cmd.{WASM_HASH}.wasm"));
    std::fs::write(&wasm, WASM).unwrap();
    std::fs::write(wasm.with_extension("wasm.br"), WASM_BR).unwrap();
    std::fs::write(wasm.with_extension("wasm.gz"), WASM_GZ).unwrap();
    std::fs::write(pkg.join(format!("homelab-cmd.{JS_HASH}.js")), "export {};").unwrap();
    std::fs::write(pkg.join(format!("homelab-cmd.{CSS_HASH}.css")), "body {}").unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(
        root.join("hash.txt"),
        format!("js: {JS_HASH}\nwasm: {WASM_HASH}\ncss: {CSS_HASH}\n"),
    )
    .unwrap();
}

/// GETs `path` with `Accept-Encoding: accept` (none when empty).
async fn get(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if !accept.is_empty() {
        request = request.header("accept-encoding", accept);
    }
    request.send().await.expect("request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_page_names_the_content_hashed_stylesheet_and_bundle() {
    let app = spawn_app_with_site(hashed_site).await;
    let (status, html) = app.get("/").await;
    assert_eq!(status, 200);
    for name in [
        format!("/pkg/homelab-cmd.{CSS_HASH}.css"),
        format!("/pkg/homelab-cmd.{JS_HASH}.js"),
        wasm_path(),
    ] {
        assert!(html.contains(&format!("\"{name}\"")), "{name} in {html}");
    }
    assert!(!html.contains("/pkg/homelab-cmd.js"), "{html}");
    assert!(!html.contains("/pkg/homelab-cmd.css"), "{html}");
}

#[tokio::test]
async fn a_browser_that_accepts_brotli_gets_the_brotli_copy_kept_for_a_year() {
    let app = spawn_app_with_site(hashed_site).await;
    // What Chromium sends.
    let response = get(&app, &wasm_path(), "gzip, deflate, br, zstd").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "content-encoding"), "br");
    // The type of the file, not of its copy: browsers compile wasm while it streams
    // only when it is application/wasm.
    assert_eq!(header(&response, "content-type"), "application/wasm");
    assert_eq!(header(&response, "cache-control"), YEAR);
    assert_eq!(header(&response, "vary"), "accept-encoding");
    assert_eq!(&response.bytes().await.unwrap()[..], WASM_BR);
}

#[tokio::test]
async fn gzip_goes_to_browsers_without_brotli_and_the_raw_file_to_the_rest() {
    let app = spawn_app_with_site(hashed_site).await;
    let gzip = get(&app, &wasm_path(), "gzip").await;
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    assert_eq!(header(&gzip, "cache-control"), YEAR);
    assert_eq!(&gzip.bytes().await.unwrap()[..], WASM_GZ);

    let raw = get(&app, &wasm_path(), "").await;
    assert_eq!(header(&raw, "content-encoding"), "");
    assert_eq!(header(&raw, "cache-control"), YEAR);
    assert_eq!(header(&raw, "vary"), "accept-encoding");
    assert_eq!(&raw.bytes().await.unwrap()[..], WASM);

    // Brotli refused outright (q=0): never sent.
    let refused = get(&app, &wasm_path(), "br;q=0, gzip").await;
    assert_eq!(header(&refused, "content-encoding"), "gzip");
}

#[tokio::test]
async fn files_without_a_hash_in_their_name_are_revalidated_and_missing_ones_not_kept() {
    let app = spawn_app_with_site(hashed_site).await;
    let favicon = get(&app, "/favicon.svg", "br").await;
    assert_eq!(favicon.status().as_u16(), 200);
    assert_eq!(header(&favicon, "cache-control"), "no-cache");

    // A name in the hashed form that the site does not have: a 404 nobody keeps,
    // so the file can appear later.
    let missing = get(&app, &format!("/pkg/homelab-cmd.{JS_HASH}.wasm"), "br").await;
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(header(&missing, "cache-control"), "no-store");
}

#[tokio::test]
async fn pages_and_api_answers_are_never_stored() {
    let app = spawn_app_with_site(hashed_site).await;
    for path in ["/", "/login", "/actions", "/nowhere"] {
        let response = get(&app, path, "br").await;
        assert!(
            header(&response, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&response, "cache-control"), "no-store", "{path}");
    }
    let api = app
        .client
        .get(app.url("/api/v1/servers"))
        .bearer_auth(&app.api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 200);
    assert_eq!(header(&api, "cache-control"), "no-store");
}
