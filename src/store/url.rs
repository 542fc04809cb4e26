//! Store urls: `sqlite://path` (relative or absolute) and `postgres://...`.
//!
//! The SQLite path is made absolute and percent-encoded into the url the driver gets, so
//! a relative path is never read as a url host and odd characters survive. Display forms
//! drop the password and the query string, which may also hold credentials.

use std::path::{Path, PathBuf};

use super::{Backend, StoreError};

/// A checked store url.
#[derive(Debug)]
pub(super) struct StoreUrl {
    kind: Kind,
    redacted: String,
}

#[derive(Debug)]
enum Kind {
    Sqlite { path: PathBuf, driver_url: String },
    Postgres { url: String },
}

const SQLITE_PREFIX: &str = "sqlite://";
const POSTGRES_PREFIXES: [&str; 2] = ["postgres://", "postgresql://"];

impl StoreUrl {
    /// Parses `url`; errors name the url without its password.
    pub(super) fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let redacted = redact(url);
        let invalid = |reason| StoreError::InvalidUrl {
            url: redacted.clone(),
            reason,
        };

        if let Some(path) = url.strip_prefix(SQLITE_PREFIX) {
            let path = sqlite_path(path).map_err(invalid)?;
            let driver_url = sqlite_driver_url(&path).map_err(invalid)?;
            let kind = Kind::Sqlite { path, driver_url };
            return Ok(StoreUrl { kind, redacted });
        }
        if POSTGRES_PREFIXES
            .iter()
            .any(|prefix| url.starts_with(prefix))
        {
            let kind = Kind::Postgres {
                url: url.to_owned(),
            };
            return Ok(StoreUrl { kind, redacted });
        }
        Err(invalid("expected sqlite://path or postgres://..."))
    }

    /// Creates the directory that will hold a SQLite file.
    pub(super) fn prepare(&self) -> Result<(), StoreError> {
        let Kind::Sqlite { path, .. } = &self.kind else {
            return Ok(());
        };
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        std::fs::create_dir_all(parent).map_err(|cause| StoreError::CreateDir {
            path: parent.to_path_buf(),
            cause,
        })
    }

    /// The database this url points at.
    pub(super) fn backend(&self) -> Backend {
        match self.kind {
            Kind::Sqlite { .. } => Backend::Sqlite,
            Kind::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The url handed to the driver; may hold a password, never display it.
    pub(super) fn driver_url(&self) -> &str {
        match &self.kind {
            Kind::Sqlite { driver_url, .. } => driver_url,
            Kind::Postgres { url } => url,
        }
    }

    /// The url without password or query, for messages and logs.
    pub(super) fn redacted(&self) -> String {
        self.redacted.clone()
    }
}

fn sqlite_path(raw: &str) -> Result<PathBuf, &'static str> {
    if raw.is_empty() {
        return Err("no file path after sqlite://");
    }
    if raw.contains(['?', '#']) {
        return Err("sqlite urls take no parameters");
    }
    if raw.starts_with(':') || raw.contains(":memory:") {
        return Err("in-memory databases are not supported; name a file");
    }
    if raw.ends_with('/') {
        return Err("the path names a directory, not a file");
    }
    std::path::absolute(Path::new(raw)).map_err(|_| "the path cannot be made absolute")
}

/// `sqlite:///absolute/path?mode=rwc` with every byte outside the url-safe set encoded;
/// the driver percent-decodes the path, and `mode=rwc` creates a missing file.
fn sqlite_driver_url(path: &Path) -> Result<String, &'static str> {
    let text = path.to_str().ok_or("the path is not valid UTF-8")?;
    let mut url = String::from(SQLITE_PREFIX);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

/// Removes the password from `scheme://user:password@host/...` and drops any query string.
///
/// Everything before the last `@` counts as user information, so a password holding an
/// unencoded `/` or `@` is still removed whole.
fn redact(url: &str) -> String {
    let without_query = match url.split_once('?') {
        Some((head, _)) => format!("{head}?[redacted]"),
        None => url.to_owned(),
    };
    let Some((scheme, rest)) = without_query.split_once("://") else {
        return without_query;
    };
    let Some((userinfo, host_and_path)) = rest.rsplit_once('@') else {
        return without_query;
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let password_mark = if userinfo.contains(':') {
        ":[redacted]"
    } else {
        ""
    };
    format!("{scheme}://{user}{password_mark}@{host_and_path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_password_and_query_are_redacted() {
        let url = "postgres://portcullis:hunter2@db.internal:5432/gate?password=other";
        let parsed = StoreUrl::parse(url).unwrap();
        let shown = parsed.redacted();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("other"), "{shown}");
        assert_eq!(
            shown,
            "postgres://portcullis:[redacted]@db.internal:5432/gate?[redacted]"
        );
        assert_eq!(parsed.backend(), Backend::Postgres);
    }

    #[test]
    fn password_with_reserved_characters_is_redacted_whole() {
        assert_eq!(
            redact("postgres://u:p@ss@host/db"),
            "postgres://u:[redacted]@host/db"
        );
        assert_eq!(
            redact("postgres://u:pa/ss@host/db"),
            "postgres://u:[redacted]@host/db"
        );
    }

    #[test]
    fn relative_sqlite_path_becomes_absolute_and_encoded() {
        let parsed = StoreUrl::parse("sqlite://data/my db#1.db").unwrap_err();
        assert!(parsed.to_string().contains("no parameters"), "{parsed}");

        let parsed = StoreUrl::parse("sqlite://data/my db.db").unwrap();
        let driver = parsed.driver_url();
        assert!(driver.starts_with("sqlite:///"), "{driver}");
        assert!(driver.ends_with("/data/my%20db.db?mode=rwc"), "{driver}");
    }

    #[test]
    fn unusable_urls_are_rejected_with_a_reason() {
        for url in [
            "sqlite://",
            "sqlite://:memory:",
            "mysql://x/y",
            "sqlite://dir/",
            "data.db",
        ] {
            let error = StoreUrl::parse(url).unwrap_err();
            assert!(
                matches!(error, StoreError::InvalidUrl { .. }),
                "{url}: {error}"
            );
        }
    }
}
