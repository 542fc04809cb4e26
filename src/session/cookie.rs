//! The gateway's cookies: their names and flags, reading them from requests and removing
//! them before a request goes upstream (DESIGN invariant 6).
//!
//! Session cookies are `Secure; HttpOnly; SameSite=Lax; Path=/`, with the `__Host-` prefix
//! (host-only, no Domain) unless a parent domain is configured, in which case they carry
//! `Domain` and the `__Secure-` prefix (RFC 6265bis section 4.1.3).

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::header::{self, HeaderMap, HeaderValue};

/// The session cookie name without a parent domain.
pub const HOST_SESSION: &str = "__Host-portcullis";
/// The session cookie name with a parent domain.
pub const DOMAIN_SESSION: &str = "__Secure-portcullis";
/// The CSRF cookie of portal forms (always host-only).
pub const CSRF: &str = "__Host-portcullis-csrf";
/// The sign-in state cookie on an app host: binds a hand-off code to the browser that
/// started the sign-in (like OAuth's `state`, RFC 6749 section 10.12).
pub const STATE: &str = "__Host-portcullis-state";

/// How long a sign-in started on an app host may take.
const STATE_SECONDS: i64 = 600;

/// What the request's cookies say about one cookie name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// Not sent.
    Missing,
    /// Sent exactly once.
    One(String),
    /// Sent more than once: ambiguous, so treated as no session (CASES K10).
    Ambiguous,
}

/// Looks for cookie `name` in every Cookie header of the request. Values are taken as
/// sent, without percent-decoding: the gateway's values are base64url, and a malformed one
/// must still count as sent so the answer can clear it.
pub fn find(headers: &HeaderMap, name: &str) -> Found {
    let mut found = Found::Missing;
    for (pair_name, value) in cookie_pairs(headers) {
        if pair_name == name {
            found = match found {
                Found::Missing => Found::One(value.to_owned()),
                _ => Found::Ambiguous,
            };
        }
    }
    found
}

/// Removes every gateway cookie, in any letter case, from the Cookie headers, keeping the
/// others in order in a single header (RFC 9113 section 8.2.3 allows either form).
pub fn strip_gateway_cookies(headers: &mut HeaderMap) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_gateway_cookie(pair.split('=').next().unwrap_or_default()))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::try_from(kept.join("; "))
        && !kept.is_empty()
    {
        headers.insert(header::COOKIE, value);
    }
}

/// Removes `Set-Cookie` headers that would set a gateway cookie, so an upstream can neither
/// plant nor clear the gateway's session on the browser.
pub fn strip_gateway_set_cookies(headers: &mut HeaderMap) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|value| !is_gateway_cookie(&set_cookie_name(value)))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
}

/// The cookie name a browser reads from a `Set-Cookie` value. A nameless cookie
/// (`=__Host-x=v`) and a quoted name are read the way the most lenient parser would, so
/// no spelling of the gateway's names slips through.
fn set_cookie_name(value: &HeaderValue) -> String {
    let text = String::from_utf8_lossy(value.as_bytes());
    let pair = text.split(';').next().unwrap_or_default().trim();
    let pair = pair.trim_start_matches(|c: char| c == '=' || c.is_whitespace());
    let name = pair.split('=').next().unwrap_or_default();
    name.trim().trim_matches('"').to_owned()
}

/// Whether a cookie name is one of the gateway's, compared without case and around
/// whitespace, so no spelling of it reaches an upstream.
fn is_gateway_cookie(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    [HOST_SESSION, DOMAIN_SESSION, CSRF, STATE]
        .iter()
        .any(|ours| name == ours.to_ascii_lowercase())
}

/// A `Set-Cookie` value for a session: persistent for `max_age` when given (remember me),
/// otherwise a browser-session cookie.
pub fn session(value: &str, max_age: Option<Duration>, domain: Option<&str>) -> HeaderValue {
    let name = if domain.is_some() {
        DOMAIN_SESSION
    } else {
        HOST_SESSION
    };
    let mut cookie = base(name, value);
    if let Some(domain) = domain {
        cookie.set_domain(domain.to_owned());
    }
    if let Some(max_age) = max_age {
        let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        cookie.set_max_age(cookie::time::Duration::seconds(seconds));
    }
    to_header(&cookie)
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_session(domain: Option<&str>) -> HeaderValue {
    let name = if domain.is_some() {
        DOMAIN_SESSION
    } else {
        HOST_SESSION
    };
    let mut cookie = base(name, "");
    if let Some(domain) = domain {
        cookie.set_domain(domain.to_owned());
    }
    cookie.make_removal();
    to_header(&cookie)
}

/// A `Set-Cookie` value for the sign-in state cookie of an app host.
pub fn state(value: &str) -> HeaderValue {
    let mut cookie = base(STATE, value);
    cookie.set_max_age(cookie::time::Duration::seconds(STATE_SECONDS));
    to_header(&cookie)
}

/// A `Set-Cookie` value that removes the sign-in state cookie.
pub fn clear_state() -> HeaderValue {
    let mut cookie = base(STATE, "");
    cookie.make_removal();
    to_header(&cookie)
}

/// A new random token for a CSRF or state cookie: 256 bits, base64url; `None` when the
/// operating system generator fails.
pub fn random_token() -> Option<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `token` has the form [`random_token`] produces.
pub fn well_formed_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The browser's token in cookie `name` when it is well formed, else a new token with the
/// `Set-Cookie` header (made by `set_cookie`) that stores it; `None` when the operating
/// system generator fails.
pub fn token_or_new(
    headers: &HeaderMap,
    name: &str,
    set_cookie: fn(&str) -> HeaderValue,
) -> Option<(String, Option<HeaderValue>)> {
    if let Found::One(existing) = find(headers, name)
        && well_formed_token(&existing)
    {
        return Some((existing, None));
    }
    let fresh = random_token()?;
    let header = set_cookie(&fresh);
    Some((fresh, Some(header)))
}

/// Whether `presented` equals the well-formed token the browser holds in cookie `name`,
/// compared in constant time.
pub fn token_matches(headers: &HeaderMap, name: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Found::One(expected) = find(headers, name) else {
        return false;
    };
    well_formed_token(&expected) && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A `Set-Cookie` value for the CSRF cookie of portal forms.
pub fn csrf(value: &str) -> HeaderValue {
    to_header(&base(CSRF, value))
}

/// The name of the session cookie for the configured cookie scope.
pub fn session_name(domain: Option<&str>) -> &'static str {
    if domain.is_some() {
        DOMAIN_SESSION
    } else {
        HOST_SESSION
    }
}

fn base(name: &'static str, value: &str) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value.to_owned());
    cookie.set_secure(true);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie
}

fn to_header(cookie: &Cookie<'_>) -> HeaderValue {
    // Names and values are ours (base64url ids, fixed names), so this cannot fail.
    HeaderValue::try_from(cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Every `name=value` pair of every Cookie header (RFC 6265 section 5.4), trimmed.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::COOKIE, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn one_session_cookie_is_found_and_two_are_ambiguous() {
        let one = headers(&["theme=dark; __Host-portcullis=abc"]);
        assert_eq!(find(&one, HOST_SESSION), Found::One("abc".into()));
        let two = headers(&["__Host-portcullis=abc", "__Host-portcullis=def"]);
        assert_eq!(find(&two, HOST_SESSION), Found::Ambiguous);
        assert_eq!(
            find(&headers(&["theme=dark"]), HOST_SESSION),
            Found::Missing
        );
    }

    #[test]
    fn gateway_cookies_are_stripped_in_any_case_and_others_kept() {
        let mut map = headers(&[
            "__Host-portcullis=abc; theme=dark",
            "__HOST-PORTCULLIS=x; __Host-portcullis-csrf=t; lang=en; __Secure-portcullis=d; __Host-portcullis-state=s",
        ]);
        strip_gateway_cookies(&mut map);
        assert_eq!(map.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(map[header::COOKIE], "theme=dark; lang=en");
        let mut set = HeaderMap::new();
        for value in [
            "=__Host-portcullis=w; Secure",
            "\"__Host-portcullis\"=q",
            "a=b",
            "__host-portcullis-STATE=s",
        ] {
            set.append(header::SET_COOKIE, value.parse().unwrap());
        }
        strip_gateway_set_cookies(&mut set);
        let kept: Vec<_> = set.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(kept, ["a=b"]);
        let mut only_ours = headers(&["__Host-portcullis=abc"]);
        strip_gateway_cookies(&mut only_ours);
        assert!(only_ours.get(header::COOKIE).is_none());
    }

    #[test]
    fn session_cookie_has_the_secure_flags_and_prefix() {
        let host_only = session("v", None, None).to_str().unwrap().to_owned();
        for part in [
            "__Host-portcullis=v",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
        ] {
            assert!(host_only.contains(part), "{host_only}");
        }
        assert!(!host_only.contains("Domain"), "{host_only}");
        let scoped = session("v", Some(Duration::from_secs(60)), Some("example.test"));
        let scoped = scoped.to_str().unwrap();
        assert!(scoped.starts_with("__Secure-portcullis=v"), "{scoped}");
        assert!(
            scoped.contains("Domain=example.test") && scoped.contains("Max-Age=60"),
            "{scoped}"
        );
    }
}
