//! Route lookup: canonical host to the apps on it, then the longest path prefix.
//!
//! Owns the host map built at config load. A lookup costs one or two hash probes and a scan
//! of the prefixes configured on that one host, so it does not grow with the number of apps.

use std::collections::HashMap;

use crate::config::{App, HostPattern};
use crate::policy::{AppId, CaseTarget, Policy, ResolvedTarget, TargetResolver};
use crate::proxy::canonical::{self, PathOptions};

/// Index of an app in the config's app list.
pub type AppIndex = usize;

/// Everything served on one host name or wildcard.
#[derive(Debug)]
pub struct HostRoutes {
    /// How paths on this host are put in canonical form.
    pub options: PathOptions,
    /// Whether paths on this host are compared without regard to case.
    pub case_insensitive: bool,
    /// Path prefixes and their apps, longest prefix first.
    prefixes: Vec<(String, AppIndex)>,
}

impl HostRoutes {
    /// The app whose prefix is the longest one that contains `path`.
    pub fn app_for(&self, path: &str) -> Option<AppIndex> {
        self.prefixes
            .iter()
            .find(|(prefix, _)| prefix_contains(prefix, path, self.case_insensitive))
            .map(|&(_, app)| app)
    }
}

/// The host map for all apps.
#[derive(Debug, Default)]
pub struct RouteTable {
    exact: HashMap<String, HostRoutes>,
    wildcard: HashMap<String, HostRoutes>,
}

impl RouteTable {
    /// Builds the map; the config guarantees that apps on one host agree on path options.
    pub fn new(apps: &[App]) -> RouteTable {
        let mut table = RouteTable::default();
        for (index, app) in apps.iter().enumerate() {
            let (map, key) = match &app.host {
                HostPattern::Exact(name) => (&mut table.exact, name),
                HostPattern::Wildcard(suffix) => (&mut table.wildcard, suffix),
            };
            let routes = map.entry(key.clone()).or_insert_with(|| HostRoutes {
                options: PathOptions {
                    allow_encoded_slash: app.allow_encoded_slash,
                    windows_aliases: app.case_insensitive_paths,
                },
                case_insensitive: app.case_insensitive_paths,
                prefixes: Vec::new(),
            });
            let prefix = if app.case_insensitive_paths {
                app.path_prefix.to_ascii_lowercase()
            } else {
                app.path_prefix.clone()
            };
            routes.prefixes.push((prefix, index));
            routes
                .prefixes
                .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        }
        table
    }

    /// The routes for a canonical host name: an exact entry first, then a wildcard one.
    pub fn host(&self, name: &str) -> Option<&HostRoutes> {
        self.exact.get(name).or_else(|| {
            let (label, parent) = name.split_once('.')?;
            if label.is_empty() {
                return None;
            }
            self.wildcard.get(parent)
        })
    }

    /// Whether any app is served on `name`.
    pub fn serves(&self, name: &str) -> bool {
        self.host(name).is_some()
    }
}

/// Whether `path` equals `prefix` or lies under it (`/api` contains `/api/x`, not `/apix`).
fn prefix_contains(prefix: &str, path: &str, case_insensitive: bool) -> bool {
    if prefix == "/" {
        return true;
    }
    let Some(head) = path.get(..prefix.len()) else {
        return false;
    };
    let same = if case_insensitive {
        head.eq_ignore_ascii_case(prefix)
    } else {
        head == prefix
    };
    same && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn table() -> RouteTable {
        let text = "\
listen: { https: \"127.0.0.1:0\" }
tls: { certificates: [{ cert: a, key: b }] }
apps:
  - { name: main, host: app.example.test, upstream: [\"http://a\"] }
  - { name: api, host: app.example.test, path_prefix: /api, upstream: [\"http://b\"] }
  - { name: any, host: \"*.example.test\", upstream: [\"http://c\"] }
  - { name: win, host: win.example.test, path_prefix: /Legacy, upstream: [\"http://d\"],
      case_insensitive_paths: true }
";
        let config = Config::parse(text, "t", std::path::Path::new(".")).unwrap();
        RouteTable::new(&config.apps)
    }

    #[test]
    fn longest_prefix_on_the_exact_host_wins() {
        let table = table();
        let host = table.host("app.example.test").unwrap();
        assert_eq!(host.app_for("/api/users"), Some(1));
        assert_eq!(host.app_for("/api"), Some(1));
        assert_eq!(host.app_for("/apix"), Some(0));
        assert_eq!(host.app_for("/"), Some(0));
    }

    #[test]
    fn wildcard_covers_one_label_and_exact_names_come_first() {
        let table = table();
        assert_eq!(
            table.host("other.example.test").unwrap().app_for("/"),
            Some(2)
        );
        assert!(table.host("a.b.example.test").is_none());
        assert!(table.host("example.test").is_none());
        assert!(
            table
                .host("app.example.test")
                .unwrap()
                .app_for("/api")
                .is_some()
        );
    }

    #[test]
    fn case_insensitive_hosts_match_prefixes_in_any_case() {
        let table = table();
        let host = table.host("win.example.test").unwrap();
        assert_eq!(host.app_for("/LEGACY/x"), Some(3));
        assert_eq!(host.app_for("/other"), None);
    }
}

/// Routes policy-test cases and `explain` URLs exactly as the proxy routes requests: host
/// map, canonical path with the host's options, longest prefix.
#[derive(Debug)]
pub struct UrlResolver<'a> {
    /// The route table of the configuration under test.
    pub routes: &'a RouteTable,
}

impl UrlResolver<'_> {
    /// The app and canonical path for `url`.
    ///
    /// # Errors
    /// Why the URL does not reach an app: malformed, unknown host, ambiguous path, no prefix.
    pub fn resolve_url(&self, url: &str) -> Result<ResolvedTarget, String> {
        let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let host = canonical::parse_authority(authority.as_str())
            .map_err(|error| format!("`{url}`: {error}"))?;
        let routes = self
            .routes
            .host(&host.name)
            .ok_or_else(|| format!("no app is served on host `{}`", host.name))?;
        let path = canonical::canonical_path(uri.path(), routes.options)
            .map_err(|error| format!("`{url}` would be refused with 400: {error}"))?;
        let app = routes
            .app_for(&path)
            .ok_or_else(|| format!("no app serves `{path}`"))?;
        Ok(ResolvedTarget {
            app: AppId::from_position(app),
            path,
        })
    }
}

impl TargetResolver for UrlResolver<'_> {
    fn resolve(&self, policy: &Policy, target: CaseTarget<'_>) -> Result<ResolvedTarget, String> {
        match target {
            CaseTarget::Url(url) => self.resolve_url(url),
            CaseTarget::AppPath { app, path } => {
                let app = policy
                    .app_id(app)
                    .ok_or_else(|| format!("no app is named `{app}`"))?;
                let path = canonical::canonical_path(path, PathOptions::default())
                    .map_err(|error| format!("`{path}` would be refused with 400: {error}"))?;
                Ok(ResolvedTarget { app, path })
            }
        }
    }
}
