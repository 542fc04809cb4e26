//! Value types that check themselves while the YAML is read.
//!
//! Each type here parses its scalar inside `Deserialize`, so a bad value is reported by the
//! YAML reader with the line and column where it stands ("parse, don't validate").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, Error as _};

/// A duration written the human way: `500ms`, `30s`, `5m`, `12h`, `30d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|error| {
                D::Error::custom(format!(
                    "expected a duration such as `30s` or `5m`: {error}"
                ))
            })
    }
}

/// A size in bytes: a plain number or `64KiB`, `10MB`, `1GiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteCount(pub u64);

impl<'de> Deserialize<'de> for ByteCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let size = bytesize::ByteSize::deserialize(deserializer).map_err(|error| {
            D::Error::custom(format!("expected a size such as `10MiB`: {error}"))
        })?;
        Ok(ByteCount(size.as_u64()))
    }
}

/// A host name pattern for an app: an exact name or `*.` followed by a name.
///
/// Stored in canonical form: lower case, no trailing dot. A wildcard matches exactly one
/// label, as a TLS wildcard certificate does (`*.example.test` matches `a.example.test`,
/// not `example.test` nor `a.b.example.test`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// One exact host name.
    Exact(String),
    /// Any single label followed by this suffix (stored without the leading `*.`).
    Wildcard(String),
}

impl HostPattern {
    /// Whether `host` (already canonical) is covered by this pattern.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => name == host,
            HostPattern::Wildcard(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => formatter.write_str(name),
            HostPattern::Wildcard(suffix) => write!(formatter, "*.{suffix}"),
        }
    }
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lowered = text.trim().to_ascii_lowercase();
        let lowered = lowered.strip_suffix('.').unwrap_or(&lowered);
        let (wildcard, name) = match lowered.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lowered),
        };
        if !is_dns_name(name) {
            return Err(format!(
                "expected a host name such as `app.example.test` or `*.example.test`, found `{text}`"
            ));
        }
        Ok(if wildcard {
            HostPattern::Wildcard(name.to_owned())
        } else {
            HostPattern::Exact(name.to_owned())
        })
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// Whether `name` is a syntactically valid DNS name made of letters, digits and hyphens.
pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
}

/// The address of one upstream server: `http://host:port` or `https://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// Host and port, exactly as they will be dialled.
    pub authority: http::uri::Authority,
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}://{}", self.scheme, self.authority)
    }
}

impl FromStr for UpstreamUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected an upstream URL such as `http://10.0.0.5:8080`";
        let uri: http::Uri = text
            .parse()
            .map_err(|_| format!("{expected}, found `{text}`"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(format!("{expected}, found `{text}`"));
        };
        if scheme != &http::uri::Scheme::HTTP && scheme != &http::uri::Scheme::HTTPS {
            return Err(format!(
                "{expected}: only http and https are supported, found `{text}`"
            ));
        }
        if authority.as_str().contains('@') {
            return Err(format!(
                "{expected}: user information is not allowed, found `{text}`"
            ));
        }
        if uri
            .path_and_query()
            .is_some_and(|path| path.as_str() != "/")
        {
            return Err(format!(
                "{expected}: a path is not allowed here, found `{text}`"
            ));
        }
        Ok(UpstreamUrl {
            scheme: scheme.clone(),
            authority: authority.clone(),
        })
    }
}

impl<'de> Deserialize<'de> for UpstreamUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// The portal's public origin: `https://host` or `https://host:port`, no path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalUrl {
    /// Canonical host name (lower case, no trailing dot).
    pub host: String,
    /// The port, when it is not 443.
    pub port: Option<u16>,
}

impl PortalUrl {
    /// `https://host[:port]`, as browsers write an origin.
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("https://{}:{port}", self.host),
            None => format!("https://{}", self.host),
        }
    }
}

impl FromStr for PortalUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = "expected the portal's https URL such as `https://auth.example.test`";
        let upstream: UpstreamUrl = text
            .parse()
            .map_err(|_| format!("{expected}, found `{text}`"))?;
        if upstream.scheme != http::uri::Scheme::HTTPS {
            return Err(format!("{expected}: the portal is only served over https"));
        }
        let host: HostPattern = upstream.authority.host().parse()?;
        let HostPattern::Exact(host) = host else {
            return Err(format!("{expected}: a wildcard is not allowed here"));
        };
        let port = upstream.authority.port_u16().filter(|&port| port != 443);
        Ok(PortalUrl { host, port })
    }
}

impl<'de> Deserialize<'de> for PortalUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// An HTTP header name, checked and stored in lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HeaderName(pub http::HeaderName);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        http::HeaderName::from_bytes(text.trim().as_bytes())
            .map(HeaderName)
            .map_err(|_| D::Error::custom(format!("expected an HTTP header name, found `{text}`")))
    }
}

/// An HTTP header value without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderValue(pub http::HeaderValue);

impl<'de> Deserialize<'de> for HeaderValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        http::HeaderValue::from_str(&text)
            .map(HeaderValue)
            .map_err(|_| {
                D::Error::custom("expected a header value of visible ASCII characters and spaces")
            })
    }
}

/// A URL path prefix such as `/api`: starts with `/`, no trailing `/`, no dot segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPrefix(pub String);

impl<'de> Deserialize<'de> for PathPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let trimmed = text.trim_end_matches('/');
        let valid = text.starts_with('/')
            && trimmed.split('/').skip(1).all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|byte| byte.is_ascii_graphic() && byte != b'%')
            });
        if !valid {
            return Err(D::Error::custom(format!(
                "expected a path prefix such as `/api` (no `.`/`..` segments, no `%`), \
                 found `{text}`"
            )));
        }
        Ok(PathPrefix(if trimmed.is_empty() {
            "/".into()
        } else {
            trimmed.into()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_pattern_is_canonical_and_wildcard_covers_one_label() {
        let exact: HostPattern = "App.Example.Test.".parse().unwrap();
        assert_eq!(exact, HostPattern::Exact("app.example.test".into()));
        let wildcard: HostPattern = "*.Example.test".parse().unwrap();
        assert!(wildcard.matches("a.example.test"));
        assert!(!wildcard.matches("example.test"));
        assert!(!wildcard.matches("a.b.example.test"));
        assert!("a_b.test".parse::<HostPattern>().is_err());
        assert!("*.".parse::<HostPattern>().is_err());
        assert!("a..b".parse::<HostPattern>().is_err());
    }

    #[test]
    fn upstream_url_refuses_paths_userinfo_and_other_schemes() {
        assert!("http://127.0.0.1:8080".parse::<UpstreamUrl>().is_ok());
        assert!("https://backend.internal".parse::<UpstreamUrl>().is_ok());
        assert!("http://127.0.0.1:8080/app".parse::<UpstreamUrl>().is_err());
        assert!("ftp://127.0.0.1".parse::<UpstreamUrl>().is_err());
        assert!("http://user:pw@127.0.0.1".parse::<UpstreamUrl>().is_err());
        assert!("127.0.0.1:8080".parse::<UpstreamUrl>().is_err());
    }
}
