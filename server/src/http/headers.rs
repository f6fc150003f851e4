//! Security headers on every response the server sends: pages, APIs, static files
//! and errors alike; and the default `Cache-Control` (not stored).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::behind_tls;

/// The per-response random value that marks the page's own inline scripts (the
/// hydration bootstrap and Leptos' resource chunks) as allowed by the CSP. The
/// dashboard's render hands it to Leptos (`leptos::nonce::Nonce`), so the scripts and
/// the header carry the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspNonce(pub Arc<str>);

impl CspNonce {
    /// 128 random bits, hex-encoded (hex is valid in a CSP nonce).
    pub fn generate() -> Self {
        CspNonce(hex::encode(rand::random::<[u8; 16]>()).into())
    }

    /// The Content-Security-Policy for a response carrying this nonce.
    ///
    /// - `script-src`: our own files plus the nonce; no other inline script, so an
    ///   injected `<script>` never runs. `'wasm-unsafe-eval'` lets the page compile
    ///   its WebAssembly bundle (browsers treat that as eval), nothing more.
    /// - `style-src 'self'`: the stylesheet is a file and neither we nor Leptos
    ///   write inline styles, so no nonce and no `'unsafe-inline'` is needed.
    /// - `img-src data:` for inline SVG data URLs; `connect-src 'self'` for server
    ///   functions and the event stream; no plugins, no `<base>` rewriting, no framing,
    ///   forms post only to us.
    pub fn policy(&self) -> String {
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            self.0
        )
    }
}

/// How long browsers should insist on HTTPS once they have seen it: one year.
const HSTS: &str = "max-age=31536000";

/// Generates the request's CSP nonce (for the renderer, through the request's
/// extensions) and sets the security headers on whatever answer comes back.
pub async fn security_headers(mut request: Request, next: Next) -> Response {
    let nonce = CspNonce::generate();
    let tls = behind_tls(request.headers());
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    set_security_headers(response.headers_mut(), &nonce, tls);
    response
}

fn set_security_headers(headers: &mut HeaderMap, nonce: &CspNonce, tls: bool) {
    if let Ok(policy) = HeaderValue::from_str(&nonce.policy()) {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if tls {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    // Nothing is stored unless its handler says so (only the static files do, see
    // `crate::assets`): pages and API answers hold command output and tokens shown
    // once, and a page fetched anew after a deploy names the new bundle.
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_nonce_is_new_and_fits_a_header() {
        let (a, b) = (CspNonce::generate(), CspNonce::generate());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 32);
        assert!(HeaderValue::from_str(&a.policy()).is_ok());
        assert!(a.policy().contains(&format!("'nonce-{}'", a.0)));
    }

    #[test]
    fn hsts_only_behind_tls() {
        let nonce = CspNonce::generate();
        let mut plain = HeaderMap::new();
        set_security_headers(&mut plain, &nonce, false);
        assert!(plain.get(STRICT_TRANSPORT_SECURITY).is_none());
        assert_eq!(plain[X_FRAME_OPTIONS], "DENY");
        let mut tls = HeaderMap::new();
        set_security_headers(&mut tls, &nonce, true);
        assert_eq!(tls[STRICT_TRANSPORT_SECURITY], HSTS);
    }

    #[test]
    fn answers_are_not_stored_unless_they_say_otherwise() {
        let nonce = CspNonce::generate();
        let mut page = HeaderMap::new();
        set_security_headers(&mut page, &nonce, false);
        assert_eq!(page[CACHE_CONTROL], "no-store");
        let mut asset = HeaderMap::new();
        asset.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        set_security_headers(&mut asset, &nonce, false);
        assert_eq!(asset[CACHE_CONTROL], "no-cache");
    }
}
