//! The portal's pages: askama templates (HTML-escaped by default) and the one function that
//! turns a page into a response with the portal's security headers.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderValue};

/// What every page shows around its content.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    /// The portal title from the config.
    pub(crate) title: String,
    /// The logo URL from the config.
    pub(crate) logo: Option<String>,
    /// The request id, shown in the footer for support.
    pub(crate) request_id: String,
}

/// The sign-in form.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub(crate) site: &'a Site,
    pub(crate) csrf: &'a str,
    pub(crate) rd: &'a str,
    pub(crate) handoff: &'a str,
    pub(crate) username: &'a str,
    pub(crate) error: Option<&'a str>,
}

/// A page with a heading, a sentence and an optional link.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub(crate) site: &'a Site,
    pub(crate) heading: &'a str,
    pub(crate) text: &'a str,
    pub(crate) link: Option<(&'a str, &'a str)>,
}

/// The sign-out confirmation.
#[derive(Template)]
#[template(path = "logout.html")]
pub(crate) struct LogoutPage<'a> {
    pub(crate) site: &'a Site,
    pub(crate) csrf: &'a str,
}

/// One row of the account page's session list.
#[derive(Debug)]
pub(crate) struct SessionRow {
    pub(crate) key: String,
    pub(crate) started: String,
    pub(crate) last_seen: String,
    pub(crate) from: String,
    pub(crate) agent: String,
    pub(crate) current: bool,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage<'a> {
    pub(crate) site: &'a Site,
    pub(crate) csrf: &'a str,
    pub(crate) notice: Option<&'a str>,
    pub(crate) username: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) groups: Vec<String>,
    pub(crate) sessions: Vec<SessionRow>,
}

/// The change-password form.
#[derive(Template)]
#[template(path = "password.html")]
pub(crate) struct PasswordPage<'a> {
    pub(crate) site: &'a Site,
    pub(crate) csrf: &'a str,
    pub(crate) rd: &'a str,
    pub(crate) required: bool,
    pub(crate) error: Option<&'a str>,
}

/// The policy of a portal without app hosts, and the fallback if a policy cannot be built.
const STRICT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                             form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Content-Security-Policy of every portal page: no scripts, no framing, and forms that
/// post only to the portal.
///
/// `form_targets` are the origins a form post may end at through redirects: Chromium checks
/// `form-action` (CSP Level 3, 6.4.1) against every redirect of a form submission, and
/// signing in ends with a redirect to the app host the person came from. Each is an origin
/// the portal itself redirects to (`https://host:port`, `*.` for a wildcard app host).
pub(crate) fn content_security_policy(form_targets: &[String]) -> HeaderValue {
    if form_targets.is_empty() {
        return HeaderValue::from_static(STRICT_POLICY);
    }
    let policy = STRICT_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", form_targets.join(" ")),
    );
    HeaderValue::try_from(policy).unwrap_or_else(|error| {
        tracing::error!("building the portal's content security policy: {error}");
        HeaderValue::from_static(STRICT_POLICY)
    })
}

/// Renders `page` with `status` and the content security `policy`, never cached, framed by
/// no one.
pub(crate) fn render(status: StatusCode, page: &impl Template, policy: &HeaderValue) -> Response {
    let mut response = match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!("rendering a portal page: {error}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_posts_may_end_at_app_origins_and_nowhere_else() {
        let none = content_security_policy(&[]);
        assert_eq!(none, STRICT_POLICY);
        let targets = [
            "https://app.example.test:8443".to_owned(),
            "https://*.apps.example.test:8443".to_owned(),
        ];
        let policy = content_security_policy(&targets);
        let policy = policy.to_str().unwrap();
        assert!(policy.contains(
            "; form-action 'self' https://app.example.test:8443 https://*.apps.example.test:8443;"
        ));
        assert!(policy.starts_with("default-src 'none'; style-src 'unsafe-inline';"));
        assert!(policy.ends_with("frame-ancestors 'none'; base-uri 'none'"));
    }
}
