//! The site cargo-leptos built (`target/site`): the stylesheet, the WebAssembly
//! bundle and its JavaScript glue under `pkg/`, and the favicon.
//!
//! `cargo leptos build --release --precompress` (see `build_site` in
//! `scripts/lib.sh`) names the pkg files after a hash of their content
//! (`hash-files = true` in `Cargo.toml`) and writes a gzip and a brotli copy beside
//! every file. The server sends the smallest copy the browser accepts, lets
//! browsers keep a file whose name carries its hash for a year (a new build has new
//! names, so nothing stale is ever used), and makes them revalidate the rest.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::{ServeDir, ServeFile};

/// The name cargo-leptos gives the file that lists the hashes of the css, js and
/// wasm files.
pub const HASH_FILE: &str = "hash.txt";

/// For a file whose name carries a hash of its content: it never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// For a file under a fixed name: keep it, but ask whether it changed before use.
const REVALIDATE: &str = "no-cache";

/// The files under `site_root` that browsers load: `/pkg/...` and `/favicon.svg`.
pub fn router<S>(site_root: &Path) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let pkg = ServeDir::new(site_root.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    let favicon = ServeFile::new(site_root.join("favicon.svg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", pkg)
        .route_service("/favicon.svg", favicon)
        .layer(middleware::from_fn(cache_headers))
}

/// Sets how long a static file may be kept, and that its bytes depend on the
/// request's `Accept-Encoding` (so a cache never hands brotli to a client that
/// did not ask for it). Errors keep the server-wide default (not stored).
async fn cache_headers(request: Request, next: Next) -> Response {
    let hashed = is_content_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        let policy = if hashed { IMMUTABLE } else { REVALIDATE };
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether the last segment of `path` is named the way cargo-leptos names a hashed
/// file: `STEM.HASH.EXT`, where HASH is the unpadded base64url of an MD5 digest
/// (22 characters).
fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut parts = name.rsplit('.');
    let (Some(ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !ext.is_empty()
        && !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The hash file of the site under `site_root`, if there is one: in the site root
/// itself (`build_site` copies it there, so the folder is complete on its own and an
/// installation can put it anywhere), else beside the running executable, where
/// cargo-leptos writes it and where Leptos looks by default. Absolute, since
/// Leptos joins it onto the executable's folder and an absolute path replaces that.
///
/// A hash file that names a wasm file the site does not have is refused with a
/// warning: pages would load a bundle that is not there.
pub fn find_hash_file(site_root: &Path, output_name: &str) -> Option<PathBuf> {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(HASH_FILE)));
    let candidates = std::iter::once(site_root.join(HASH_FILE)).chain(beside_exe);
    for candidate in candidates {
        let Ok(text) = std::fs::read_to_string(&candidate) else {
            continue;
        };
        let candidate = std::path::absolute(&candidate).unwrap_or(candidate);
        let wasm = hash_of(&text, "wasm").map(|hash| {
            site_root
                .join("pkg")
                .join(format!("{output_name}.{hash}.wasm"))
        });
        match wasm {
            Some(wasm) if wasm.is_file() => return Some(candidate),
            _ => tracing::warn!(
                hash_file = %candidate.display(),
                site_root = %site_root.display(),
                "the hash file names a WebAssembly bundle the site does not have; ignored"
            ),
        }
    }
    None
}

/// The hash of the `kind` file (`js`, `wasm`, `css`) in a hash file's text, whose
/// lines read `KIND: HASH`.
fn hash_of<'a>(hash_file: &'a str, kind: &str) -> Option<&'a str> {
    hash_file.lines().find_map(|line| {
        let (k, hash) = line.split_once(':')?;
        (k.trim() == kind)
            .then(|| hash.trim())
            .filter(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_content_hash_are_cached_for_good() {
        for (path, hashed) in [
            ("/homelab-cmd.fA8l0zqkQ1-Y9Jc3Yh3m_w.wasm", true),
            ("/__wasm_split.fA8l0zqkQ1-Y9Jc3Yh3m_w.js", true),
            ("/homelab-cmd.wasm", false),
            ("/homelab-cmd_bg.wasm", false),
            ("/favicon.svg", false),
            // The precompressed copy asked for by name: not the scheme.
            ("/homelab-cmd.fA8l0zqkQ1-Y9Jc3Yh3m_w.wasm.br", false),
            // 21 and 23 characters, a character outside base64url, no stem.
            ("/homelab-cmd.fA8l0zqkQ1-Y9Jc3Yh3m_.wasm", false),
            ("/homelab-cmd.fA8l0zqkQ1-Y9Jc3Yh3m_wx.wasm", false),
            ("/homelab-cmd.fA8l0zqkQ1+Y9Jc3Yh3m_w.wasm", false),
            ("/.fA8l0zqkQ1-Y9Jc3Yh3m_w.wasm", false),
            ("/homelab-cmd.fA8l0zqkQ1-Y9Jc3Yh3m_w.", false),
            ("/", false),
        ] {
            assert_eq!(is_content_hashed(path), hashed, "{path}");
        }
    }

    #[test]
    fn hashes_are_read_by_kind() {
        let text = "js: AAA\nwasm: BBB\ncss: CCC\n";
        assert_eq!(hash_of(text, "wasm"), Some("BBB"));
        assert_eq!(hash_of(text, "css"), Some("CCC"));
        assert_eq!(hash_of(text, "manifest"), None);
        assert_eq!(hash_of("wasm:\n", "wasm"), None);
    }

    #[test]
    fn a_hash_file_is_used_only_when_the_site_has_its_bundle() {
        let site = tempfile::tempdir().unwrap();
        let pkg = site.path().join("pkg");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(site.path().join(HASH_FILE), "js: J\nwasm: W\ncss: C\n").unwrap();
        assert_eq!(
            find_hash_file(site.path(), "homelab-cmd"),
            None,
            "no bundle"
        );
        std::fs::write(pkg.join("homelab-cmd.W.wasm"), b"\0asm").unwrap();
        let found = find_hash_file(site.path(), "homelab-cmd").expect("found");
        assert!(found.is_absolute(), "{}", found.display());
        assert_eq!(
            found,
            std::path::absolute(site.path().join(HASH_FILE)).unwrap()
        );
    }
}
