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

/// Renders `page` with `status`, never cached, framed by no one.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
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
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}
