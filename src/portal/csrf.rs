//! Cross-site request forgery defence for portal forms (CASES K18).
//!
//! Every POST must carry an `Origin` equal to the portal's origin and a form token equal to
//! the `__Host-` CSRF cookie, which is set before sign-in and so binds the form to the
//! browser that loaded it. The `__Host-` prefix keeps sibling hosts from planting the
//! cookie. Tokens compare in constant time.

use http::HeaderMap;
use http::header::{self, HeaderValue};

use crate::session::cookie;

/// The token for this browser: the existing cookie's, or a new one with the header that
/// sets it.
pub(super) fn token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    // Without randomness no form can be trusted; an empty token never verifies.
    cookie::token_or_new(headers, cookie::CSRF, cookie::csrf).unwrap_or_default()
}

/// Whether a POST carries the right origin and a token matching its CSRF cookie.
pub(super) fn verify(headers: &HeaderMap, form_token: &str, portal_origin: &str) -> bool {
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| origin.eq_ignore_ascii_case(portal_origin));
    let token_ok = cookie::token_matches(headers, cookie::CSRF, form_token);
    origin_ok && token_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookie: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = cookie {
            headers.insert(
                header::COOKIE,
                format!("__Host-portcullis-csrf={cookie}").parse().unwrap(),
            );
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn token_is_reused_from_the_cookie_or_created() {
        let (fresh, set) = token(&HeaderMap::new());
        assert_eq!(fresh.len(), 43);
        assert!(
            set.unwrap()
                .to_str()
                .unwrap()
                .starts_with("__Host-portcullis-csrf=")
        );
        let (reused, set) = token(&request(Some(&fresh), None));
        assert_eq!(reused, fresh);
        assert!(set.is_none());
    }

    #[test]
    fn posts_need_matching_token_and_origin() {
        let (token, _) = token(&HeaderMap::new());
        let origin = "https://auth.example.test";
        assert!(verify(&request(Some(&token), Some(origin)), &token, origin));
        assert!(!verify(
            &request(Some(&token), Some("https://evil.example")),
            &token,
            origin
        ));
        assert!(!verify(&request(Some(&token), None), &token, origin));
        assert!(!verify(&request(None, Some(origin)), &token, origin));
        assert!(!verify(
            &request(Some(&token), Some(origin)),
            "forged",
            origin
        ));
        assert!(!verify(
            &request(Some("short"), Some(origin)),
            "short",
            origin
        ));
    }
}
