//! The canonical request: one host and one path, computed once per request.
//!
//! Owns the rules that turn what a client sent into the single form used for routing, for
//! the policy decision and for what is forwarded upstream. Trusts nothing from the client.
//! Guarantees: the host is lower case without port or trailing dot; the path starts with `/`,
//! has no empty, `.` or `..` segments, has unreserved characters decoded and every other
//! percent-escape in upper case; nothing is decoded again later. Forms that different
//! servers read differently (encoded `/` or `\`, NUL and other controls, `#`, `;` path
//! parameters, `..` above the root, duplicate or conflicting hosts) are refused, not guessed
//! at (RFC 3986 sections 2.3, 5.2.4 and 6.2.2; RFC 9112 section 3.2).

use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderMap, Uri, header};

use crate::config::value::is_dns_name;

/// Why a request could not be put in canonical form. Every variant is answered with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// No Host header and no authority in the request target.
    #[error("request has no host")]
    MissingHost,
    /// More than one Host header.
    #[error("request has more than one Host header")]
    DuplicateHost,
    /// The host is not a DNS name or IP literal, or has a bad port or user information.
    #[error("request host is malformed")]
    BadHost,
    /// The request target's authority and the Host header name different hosts.
    #[error("request target authority differs from the Host header")]
    AuthorityMismatch,
    /// The request target is not a path (asterisk or authority form).
    #[error("request target is not a path")]
    NotAPath,
    /// A `%` not followed by two hex digits.
    #[error("path has an invalid percent-escape")]
    BadEscape,
    /// An encoded slash, where the app does not keep it as data.
    #[error("path has an encoded slash")]
    EncodedSlash,
    /// A backslash, literal or encoded.
    #[error("path has a backslash")]
    Backslash,
    /// A control character, space or non-ASCII byte, literal or encoded.
    #[error("path has a control character")]
    ControlCharacter,
    /// An encoded `?` or `#`, or a literal `#`.
    #[error("path has an encoded delimiter or fragment")]
    Delimiter,
    /// A `;` path parameter, which some servers strip and others keep.
    #[error("path has a path parameter")]
    PathParameter,
    /// A `..` segment that climbs above the root.
    #[error("path climbs above the root")]
    AboveRoot,
    /// On a Windows-style app, a segment Windows reads as another name: a trailing dot or
    /// space, an alternate data stream (`:`), or an 8.3 short name (`~1`).
    #[error("path segment has a form Windows reads as another name")]
    WindowsAlias,
    /// A control character in the query string.
    #[error("query has a control character")]
    BadQuery,
}

/// How an app wants its paths read; all apps on one host share these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathOptions {
    /// Keep `%2F` as data (forwarded still encoded) instead of refusing it.
    pub allow_encoded_slash: bool,
    /// Refuse segments that Windows servers read as another name (apps marked
    /// case-insensitive, which is the mark of a Windows server): `admin.`, `admin%20`,
    /// `admin::$DATA`, `ADMINI~1`.
    pub windows_aliases: bool,
}

/// The canonical host of a request, with the port the client named, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalHost {
    /// Lower case, no trailing dot; IPv6 literals without brackets.
    pub name: String,
    /// The port from the Host header or authority.
    pub port: Option<u16>,
}

/// Finds the one host a request is for: the Host header (HTTP/1) or `:authority` (HTTP/2),
/// which must agree with each other and with an absolute-form request target.
///
/// # Errors
/// Missing, duplicate, conflicting or malformed hosts.
pub fn canonical_host(uri: &Uri, headers: &HeaderMap) -> Result<CanonicalHost, CanonicalError> {
    let mut host_headers = headers.get_all(header::HOST).iter();
    let from_header = host_headers.next();
    if host_headers.next().is_some() {
        return Err(CanonicalError::DuplicateHost);
    }
    let from_header = match from_header {
        Some(value) => Some(parse_authority(
            value.to_str().map_err(|_| CanonicalError::BadHost)?,
        )?),
        None => None,
    };
    let from_target = match uri.authority() {
        Some(authority) => Some(parse_authority(authority.as_str())?),
        None => None,
    };
    match (from_target, from_header) {
        (Some(target), Some(header)) if !same_authority(&target, &header) => {
            Err(CanonicalError::AuthorityMismatch)
        }
        (Some(target), _) => Ok(target),
        (None, Some(header)) => Ok(header),
        (None, None) => Err(CanonicalError::MissingHost),
    }
}

/// Parses `host[:port]` or `[v6]:port` into its canonical form.
///
/// # Errors
/// [`CanonicalError::BadHost`] for user information, a bad port or a bad name.
pub fn parse_authority(authority: &str) -> Result<CanonicalHost, CanonicalError> {
    if authority.contains('@') {
        return Err(CanonicalError::BadHost);
    }
    let (host, port) = split_port(authority)?;
    if let Some(literal) = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        let address: Ipv6Addr = literal.parse().map_err(|_| CanonicalError::BadHost)?;
        return Ok(CanonicalHost {
            name: address.to_string(),
            port,
        });
    }
    let lowered = host.to_ascii_lowercase();
    let name = lowered.strip_suffix('.').unwrap_or(&lowered);
    if name.parse::<IpAddr>().is_err() && !is_dns_name(name) {
        return Err(CanonicalError::BadHost);
    }
    Ok(CanonicalHost {
        name: name.to_owned(),
        port,
    })
}

/// Whether two hosts name the same authority; a missing port is the https default.
fn same_authority(left: &CanonicalHost, right: &CanonicalHost) -> bool {
    left.name == right.name && left.port.unwrap_or(443) == right.port.unwrap_or(443)
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), CanonicalError> {
    let port_start = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => colon,
        _ => return Ok((authority, None)),
    };
    let digits = &authority[port_start + 1..];
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CanonicalError::BadHost);
    }
    let port = digits.parse::<u16>().map_err(|_| CanonicalError::BadHost)?;
    if port == 0 {
        return Err(CanonicalError::BadHost);
    }
    Ok((&authority[..port_start], Some(port)))
}

/// Puts a request path in canonical form (see the module documentation).
///
/// # Errors
/// The first ambiguous or malformed part found.
pub fn canonical_path(raw: &str, options: PathOptions) -> Result<String, CanonicalError> {
    if !raw.starts_with('/') {
        return Err(CanonicalError::NotAPath);
    }
    let decoded = decode_path(raw.as_bytes(), options)?;
    let mut segments: Vec<&str> = Vec::with_capacity(8);
    let mut trailing_slash = false;
    for segment in decoded.split('/') {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(CanonicalError::AboveRoot)?;
                trailing_slash = true;
            }
            other if options.windows_aliases && is_windows_alias(other) => {
                return Err(CanonicalError::WindowsAlias);
            }
            other => segments.push(other),
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if trailing_slash || segments.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// Whether a (decoded, canonical) segment is one Windows reads as a different name.
fn is_windows_alias(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    let short_name = bytes
        .windows(2)
        .any(|pair| pair[0] == b'~' && pair[1].is_ascii_digit());
    segment.ends_with('.') || segment.ends_with("%20") || segment.contains(':') || short_name
}

/// Checks the query string: it is forwarded as sent, so it must hold no control character.
///
/// # Errors
/// [`CanonicalError::BadQuery`].
pub fn check_query(query: &str) -> Result<(), CanonicalError> {
    if query
        .bytes()
        .any(|byte| byte.is_ascii_control() || byte == b' ' || byte >= 0x80)
    {
        return Err(CanonicalError::BadQuery);
    }
    Ok(())
}

/// Decodes the escapes of unreserved characters and checks every byte of the path.
fn decode_path(raw: &[u8], options: PathOptions) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        let byte = raw[index];
        if byte == b'%' {
            let decoded = raw
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or(CanonicalError::BadEscape)?;
            push_decoded(&mut out, decoded, options)?;
            index += 3;
            continue;
        }
        check_literal(byte)?;
        out.push(char::from(byte));
        index += 1;
    }
    Ok(out)
}

fn check_literal(byte: u8) -> Result<(), CanonicalError> {
    match byte {
        b'\\' => Err(CanonicalError::Backslash),
        b'#' => Err(CanonicalError::Delimiter),
        b';' => Err(CanonicalError::PathParameter),
        0x21..=0x7e => Ok(()),
        _ => Err(CanonicalError::ControlCharacter),
    }
}

fn push_decoded(out: &mut String, byte: u8, options: PathOptions) -> Result<(), CanonicalError> {
    match byte {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
            out.push(char::from(byte));
            Ok(())
        }
        b'/' if options.allow_encoded_slash => {
            out.push_str("%2F");
            Ok(())
        }
        b'/' => Err(CanonicalError::EncodedSlash),
        b'\\' => Err(CanonicalError::Backslash),
        b'?' | b'#' => Err(CanonicalError::Delimiter),
        0x00..=0x1f | 0x7f => Err(CanonicalError::ControlCharacter),
        _ => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    fn path(raw: &str) -> Result<String, CanonicalError> {
        canonical_path(raw, PathOptions::default())
    }

    #[test]
    fn dot_segments_and_doubled_slashes_resolve_to_one_path() {
        for raw in [
            "/public/../admin/users",
            "/public/%2e%2e/admin/users",
            "/public/%2E%2E/admin/users",
            "/./admin/users",
            "//admin/users",
            "/admin//users",
            "/admin/./users",
            "/%61dmin/users",
        ] {
            assert_eq!(path(raw).as_deref(), Ok("/admin/users"), "{raw}");
        }
        assert_eq!(path("/a/b/.."), Ok("/a/".into()));
        assert_eq!(path("/a/"), Ok("/a/".into()));
        assert_eq!(path("/"), Ok("/".into()));
        assert_eq!(path("/.."), Err(CanonicalError::AboveRoot));
        assert_eq!(path("/../../etc"), Err(CanonicalError::AboveRoot));
        assert_eq!(path("/a/../../etc"), Err(CanonicalError::AboveRoot));
    }

    #[test]
    fn ambiguous_encodings_are_refused() {
        assert_eq!(
            path("/public/..%2fadmin/users"),
            Err(CanonicalError::EncodedSlash)
        );
        assert_eq!(path("/admin%2Fusers"), Err(CanonicalError::EncodedSlash));
        assert_eq!(path("/admin%5Cusers"), Err(CanonicalError::Backslash));
        assert_eq!(path("/admin\\users"), Err(CanonicalError::Backslash));
        assert_eq!(
            path("/admin%00/users"),
            Err(CanonicalError::ControlCharacter)
        );
        assert_eq!(
            path("/admin%0a/users"),
            Err(CanonicalError::ControlCharacter)
        );
        assert_eq!(path("/admin;x=1/users"), Err(CanonicalError::PathParameter));
        assert_eq!(path("/admin%3F/x"), Err(CanonicalError::Delimiter));
        assert_eq!(path("/admin%23/x"), Err(CanonicalError::Delimiter));
        assert_eq!(path("/admin#x"), Err(CanonicalError::Delimiter));
        assert_eq!(path("/admin/%ZZ"), Err(CanonicalError::BadEscape));
        assert_eq!(path("/admin/%4"), Err(CanonicalError::BadEscape));
        assert_eq!(path("/admin/\u{e9}"), Err(CanonicalError::ControlCharacter));
        assert_eq!(path("*"), Err(CanonicalError::NotAPath));
    }

    #[test]
    fn windows_apps_refuse_names_windows_reads_as_others() {
        let windows = PathOptions {
            windows_aliases: true,
            ..PathOptions::default()
        };
        for raw in [
            "/admin./users",
            "/admin%2e/users",
            "/admin%20/users",
            "/admin::$DATA/x",
            "/ADMINI~1/x",
            "/a/b.",
        ] {
            assert_eq!(
                canonical_path(raw, windows),
                Err(CanonicalError::WindowsAlias),
                "{raw}"
            );
            assert!(path(raw).is_ok(), "{raw} is fine elsewhere");
        }
        assert_eq!(
            canonical_path("/admin/./users/", windows),
            Ok("/admin/users/".into())
        );
        assert_eq!(
            canonical_path("/file.aspx", windows),
            Ok("/file.aspx".into())
        );
    }

    #[test]
    fn other_escapes_stay_encoded_in_upper_case() {
        assert_eq!(path("/caf%c3%a9/a%20b"), Ok("/caf%C3%A9/a%20b".into()));
        assert_eq!(path("/100%25"), Ok("/100%25".into()));
        let keep = PathOptions {
            allow_encoded_slash: true,
            ..PathOptions::default()
        };
        assert_eq!(canonical_path("/a%2fb/../c", keep), Ok("/c".into()));
        assert_eq!(canonical_path("/a%2fb", keep), Ok("/a%2Fb".into()));
    }

    /// Raw paths built from the pieces that make canonicalisation hard.
    fn raw_paths() -> impl proptest::strategy::Strategy<Value = String> {
        let piece = proptest::prop_oneof![
            proptest::string::string_regex("[a-zA-Z0-9._~-]{1,6}").unwrap(),
            proptest::sample::select(vec![
                ".", "..", "", "%2e", "%2E%2e", "%2f", "%5c", "%41", "%7e", "%25", "%c3%a9", ";",
                "%00", "%3f", "#", "\\", "%zz", "%", "a b",
            ])
            .prop_map(str::to_owned),
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|pieces| format!("/{}", pieces.join("/")))
    }

    proptest::proptest! {
        #[test]
        fn canonical_paths_are_fixed_points_and_unambiguous(raw in raw_paths()) {
            let Ok(canonical) = path(&raw) else {
                return Ok(());
            };
            proptest::prop_assert_eq!(path(&canonical), Ok(canonical.clone()));
            proptest::prop_assert!(canonical.starts_with('/'));
            for bad in ["//", "/./", "/../", "\\", ";", "#", "%2F", "%2E", "%41"] {
                proptest::prop_assert!(!canonical.contains(bad), "{} in {}", bad, canonical);
            }
            proptest::prop_assert!(!canonical.ends_with("/.") && !canonical.ends_with("/.."));
            proptest::prop_assert!(canonical.bytes().all(|b| b.is_ascii_graphic()));
        }

        #[test]
        fn encoding_an_unreserved_character_changes_nothing(raw in raw_paths(), at in 0usize..64) {
            let position = raw
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphanumeric())
                .map(|(index, _)| index)
                .nth(at);
            let Some(position) = position else {
                return Ok(());
            };
            let byte = raw.as_bytes()[position];
            // Skip letters that are part of an escape such as `%2e`.
            if raw[..position].ends_with('%') || raw[..position.saturating_sub(1)].ends_with('%') {
                return Ok(());
            }
            let encoded = format!("{}%{byte:02X}{}", &raw[..position], &raw[position + 1..]);
            proptest::prop_assert_eq!(path(&encoded), path(&raw));
        }
    }

    #[test]
    fn hosts_are_lower_case_without_port_or_trailing_dot() {
        let parse = |text: &str| parse_authority(text).map(|host| (host.name, host.port));
        assert_eq!(
            parse("APP.Example.Test"),
            Ok(("app.example.test".into(), None))
        );
        assert_eq!(
            parse("app.example.test."),
            Ok(("app.example.test".into(), None))
        );
        assert_eq!(
            parse("app.example.test:443"),
            Ok(("app.example.test".into(), Some(443)))
        );
        assert_eq!(parse("[::1]:8443"), Ok(("::1".into(), Some(8443))));
        assert_eq!(parse("127.0.0.1"), Ok(("127.0.0.1".into(), None)));
        for bad in [
            "user@app.test",
            "app.test:",
            "app.test:99999",
            "app.test:0",
            "a_b.test",
            "",
            "[zz]",
            "a..b",
        ] {
            assert_eq!(parse(bad), Err(CanonicalError::BadHost), "{bad}");
        }
    }

    #[test]
    fn host_header_and_target_must_agree() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "app.example.test".parse().unwrap());
        let absolute: Uri = "https://other.example.test/x".parse().unwrap();
        let origin: Uri = "/x".parse().unwrap();
        let result = canonical_host(&absolute, &headers);
        assert_eq!(result, Err(CanonicalError::AuthorityMismatch));
        let other_port: Uri = "https://app.example.test:8443/x".parse().unwrap();
        let result = canonical_host(&other_port, &headers);
        assert_eq!(result, Err(CanonicalError::AuthorityMismatch));
        let default_port: Uri = "https://app.example.test:443/x".parse().unwrap();
        assert!(canonical_host(&default_port, &headers).is_ok());
        let host = canonical_host(&origin, &headers).unwrap();
        assert_eq!(host.name, "app.example.test");
        headers.append(header::HOST, "app.example.test".parse().unwrap());
        let result = canonical_host(&origin, &headers);
        assert_eq!(result, Err(CanonicalError::DuplicateHost));
        let result = canonical_host(&origin, &HeaderMap::new());
        assert_eq!(result, Err(CanonicalError::MissingHost));
    }
}
