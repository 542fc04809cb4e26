//! Return URLs: where a browser may be sent after signing in (DESIGN invariant 5).
//!
//! Owns the one check every redirect target passes. A target is either a path on the portal
//! or an https URL on a host the gateway serves, at the gateway's own port, without user
//! information. Anything else (scheme-relative `//host`, backslashes, control characters,
//! other schemes, unknown hosts) is refused and the caller falls back to its default. The
//! accepted target is rebuilt as an absolute URL from the configured origin and a checked
//! path, so what a browser receives can never be read as another origin.

use crate::config::value::PortalUrl;
use crate::proxy::canonical;

/// A checked place to send a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnTo {
    /// A path (with query) on the portal.
    Portal(String),
    /// A URL on an app host.
    App {
        /// The app's canonical host.
        host: String,
        /// Path and query on that host.
        path: String,
    },
}

impl ReturnTo {
    /// The absolute URL, built from the configured portal origin and port.
    pub fn url(&self, portal: &PortalUrl) -> String {
        match self {
            ReturnTo::Portal(path) => format!("{}{path}", portal.origin()),
            ReturnTo::App { host, path } => format!("{}{path}", origin(host, portal.port)),
        }
    }

    /// The return target as sent in a `rd` parameter: a portal path or an app URL.
    pub fn parameter(&self, portal: &PortalUrl) -> String {
        match self {
            ReturnTo::Portal(path) => path.clone(),
            ReturnTo::App { .. } => self.url(portal),
        }
    }
}

/// `https://host[:port]` for a host served on the gateway's port.
pub fn origin(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("https://{host}:{port}"),
        None => format!("https://{host}"),
    }
}

/// Checks `raw` (already decoded once, as a query parameter is). `serves` says whether the
/// gateway serves an app on a canonical host name.
pub fn parse_return(
    raw: &str,
    portal: &PortalUrl,
    serves: &dyn Fn(&str) -> bool,
) -> Option<ReturnTo> {
    if raw.is_empty()
        || raw
            .bytes()
            .any(|byte| !byte.is_ascii_graphic() || byte == b'\\')
    {
        return None;
    }
    if raw.starts_with('/') {
        return safe_path(raw).then(|| ReturnTo::Portal(raw.to_owned()));
    }
    let uri: http::Uri = raw.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let authority = uri.authority()?;
    let host = canonical::parse_authority(authority.as_str()).ok()?;
    if host.port.filter(|&port| port != 443) != portal.port || host.name.contains(':') {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let path = if path.is_empty() { "/" } else { path };
    if !safe_path(path) {
        return None;
    }
    if host.name == portal.host {
        return Some(ReturnTo::Portal(path.to_owned()));
    }
    serves(&host.name).then(|| ReturnTo::App {
        host: host.name,
        path: path.to_owned(),
    })
}

/// A path that stays on the origin it is appended to: starts with one `/`, visible ASCII,
/// no backslash.
pub fn safe_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portal() -> PortalUrl {
        "https://auth.example.test:8443".parse().unwrap()
    }

    fn check(raw: &str) -> Option<ReturnTo> {
        parse_return(raw, &portal(), &|host| host == "app.example.test")
    }

    #[test]
    fn k14_every_listed_escape_is_refused() {
        for raw in [
            "//evil.example/",
            "/\\evil.example",
            "/\\/evil.example",
            "//evil.example/%2F..",
            "\\\\evil.example",
            " //evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie:x=y",
            "https:evil.example",
            "https:/evil.example",
            "https://evil.example/",
            "https://app.example.test.evil.example:8443/",
            "https://user@app.example.test:8443/",
            "https://app.example.test/",
            "https://app.example.test:9999/",
            "http://app.example.test:8443/",
            "javascript:alert(1)",
            "data:text/html,x",
            "",
        ] {
            assert_eq!(check(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn portal_paths_and_served_app_urls_are_kept() {
        assert_eq!(
            check("/account?x=1"),
            Some(ReturnTo::Portal("/account?x=1".into()))
        );
        let app = check("https://APP.example.test:8443/a/b?c=d").unwrap();
        assert_eq!(app.url(&portal()), "https://app.example.test:8443/a/b?c=d");
        let on_portal = check("https://auth.example.test:8443/account").unwrap();
        assert_eq!(on_portal, ReturnTo::Portal("/account".into()));
        assert_eq!(
            check("https://app.example.test:8443")
                .unwrap()
                .url(&portal()),
            "https://app.example.test:8443/"
        );
    }

    proptest::proptest! {
        #[test]
        fn accepted_targets_never_leave_the_served_origins(raw in "[ -~\t\r\n]{0,40}") {
            if let Some(target) = check(&raw) {
                let url = target.url(&portal());
                let allowed = url.starts_with("https://auth.example.test:8443/")
                    || url.starts_with("https://app.example.test:8443/");
                proptest::prop_assert!(allowed, "{}", url);
                proptest::prop_assert!(!url.contains(['\r', '\n', '\t', '\\']));
            }
        }
    }
}
