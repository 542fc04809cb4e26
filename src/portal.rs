//! The sign-in portal, served on the configured portal host.
//!
//! Owns the pages people sign in, sign out and manage their account with, and the single
//! sign-on entry point (`/sso`) that hands a signed-in browser on to an app host with a
//! one-time code, and the assertion key set (`/.well-known/jwks.json`) that apps verify
//! identity tokens with. Trusts the session cache for who is signed in and the directory for
//! passwords. Every POST passes the CSRF and Origin check and a per-address rate limit
//! before anything else; every redirect target passes [`redirect::parse_return`].

mod account;
mod csrf;
mod pages;
pub mod redirect;
mod signin;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use self::pages::{MessagePage, Site};
use self::redirect::ReturnTo;
use crate::assertion;
use crate::config::Config;
use crate::config::HostPattern;
use crate::proxy::route::RouteTable;
use crate::services::Services;
use crate::session::cookie::{self, Found};
use crate::session::{ActiveSession, ClientInfo, SessionKey};

/// Where a page goes when no return URL was given or it was refused.
const DEFAULT_PATH: &str = "/account";

/// What the portal's handlers share; built by [`PortalState::new`].
#[derive(Clone, Debug)]
pub struct PortalState {
    /// The configuration generation the router was built for.
    pub config: Arc<Config>,
    /// The hosts the gateway serves, to check return URLs against.
    pub routes: Arc<RouteTable>,
    /// Store, directory, sign-in and sessions.
    pub services: Arc<Services>,
    /// The Content-Security-Policy of every page, built once per configuration.
    content_security_policy: HeaderValue,
}

/// Facts the gateway established about the request before handing it to the portal.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The request id, shown on pages.
    pub request_id: String,
    /// The client address the gateway believes (trusted proxies only).
    pub client_ip: IpAddr,
}

/// The portal's routes.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route("/", get(|| async { redirect(DEFAULT_PATH) }))
        .route("/login", get(signin::login_page).post(signin::login))
        .route("/sso", get(signin::single_sign_on))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/logout", get(signin::logout_page).post(signin::logout))
        .route("/account", get(account::account_page))
        .route("/account/sessions/revoke", post(account::revoke_session))
        .route(
            "/account/password",
            get(account::password_page).post(account::change_password),
        )
        .fallback(not_found)
        .with_state(state)
}

impl PortalState {
    /// The state for one configuration generation.
    pub fn new(config: Arc<Config>, routes: Arc<RouteTable>, services: Arc<Services>) -> Self {
        let content_security_policy = pages::content_security_policy(&form_targets(&config));
        PortalState {
            config,
            routes,
            services,
            content_security_policy,
        }
    }

    /// Renders `page` with the portal's security headers.
    fn render(&self, status: StatusCode, page: &impl askama::Template) -> Response {
        pages::render(status, page, &self.content_security_policy)
    }

    fn site(&self, context: &RequestContext) -> Site {
        let portal = self.config.portal.as_ref();
        Site {
            title: portal.map_or_else(|| "Sign in".to_owned(), |portal| portal.title.clone()),
            logo: portal.and_then(|portal| portal.logo.clone()),
            request_id: context.request_id.clone(),
        }
    }

    fn origin(&self) -> String {
        self.config
            .portal
            .as_ref()
            .map(|portal| portal.url.origin())
            .unwrap_or_default()
    }

    fn cookie_domain(&self) -> Option<&str> {
        self.config.session.domain.as_deref()
    }

    /// The signed-in portal session of this browser, if any.
    async fn session(&self, headers: &HeaderMap) -> Option<Arc<ActiveSession>> {
        let Found::One(value) = cookie::find(headers, cookie::session_name(self.cookie_domain()))
        else {
            return None;
        };
        match self.services.cache.get(&value).await {
            Ok(Some(active)) if active.session.is_portal() => Some(active),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!("reading a portal session failed; treating as signed out: {error}");
                None
            }
        }
    }

    /// Checks a `rd` parameter; `None` for anything not allowed.
    fn return_to(&self, raw: &str) -> Option<ReturnTo> {
        let portal = &self.config.portal.as_ref()?.url;
        redirect::parse_return(raw, portal, &|host| self.routes.serves(host))
    }

    /// Where a browser with a portal session goes next. Someone who must change their
    /// password goes to that page first (the target rides along), so no redirect loops
    /// between an app that refuses them and the portal.
    async fn resume(
        &self,
        key: &SessionKey,
        must_change: bool,
        target: Option<ReturnTo>,
        handoff: Option<&str>,
    ) -> Response {
        if !must_change {
            return self.continue_to(key, target, handoff).await;
        }
        let portal = self.config.portal.as_ref().map(|portal| &portal.url);
        let rd = target
            .zip(portal)
            .map(|(target, portal)| target.parameter(portal))
            .unwrap_or_default();
        let encoded =
            percent_encoding::utf8_percent_encode(&rd, percent_encoding::NON_ALPHANUMERIC);
        redirect(&format!("/account/password?rd={encoded}"))
    }

    /// Where a signed-in browser goes next: the portal path; the app URL directly (shared
    /// cookie domain, or no hand-off state from the app, which then starts a sign-in bound
    /// to this browser); or the app's callback with a one-time code and the app's state.
    async fn continue_to(
        &self,
        portal_session: &SessionKey,
        target: Option<ReturnTo>,
        handoff: Option<&str>,
    ) -> Response {
        let Some(portal) = self.config.portal.as_ref().map(|portal| &portal.url) else {
            return redirect(DEFAULT_PATH);
        };
        let target = target.unwrap_or_else(|| ReturnTo::Portal(DEFAULT_PATH.to_owned()));
        let ReturnTo::App { host, path } = &target else {
            return redirect(&target.url(portal));
        };
        let shared = self
            .cookie_domain()
            .is_some_and(|domain| crate::proxy::auth::under_domain(host, domain));
        let Some(handoff) = handoff.filter(|_| !shared) else {
            return redirect(&target.url(portal));
        };
        let sessions = &self.services.sessions;
        match sessions.create_code(portal_session, host).await {
            Ok(code) => {
                let origin = redirect::origin(host, portal.port);
                let rd =
                    percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC);
                redirect(&format!(
                    "{origin}/.portcullis/callback?code={}&rd={rd}&state={handoff}",
                    code.expose()
                ))
            }
            Err(error) => {
                tracing::warn!("creating a hand-off code failed: {error}");
                redirect(DEFAULT_PATH)
            }
        }
    }

    fn message(
        &self,
        context: &RequestContext,
        status: StatusCode,
        heading: &str,
        text: &str,
    ) -> Response {
        let site = self.site(context);
        let page = MessagePage {
            site: &site,
            heading,
            text,
            link: Some(("/account", "Continue")),
        };
        self.render(status, &page)
    }

    /// Refuses a POST that fails the CSRF/Origin check or the per-address limit.
    fn refuse_post(
        &self,
        context: &RequestContext,
        headers: &HeaderMap,
        token: &str,
    ) -> Option<Response> {
        if self
            .services
            .posts_per_address
            .check_key(&context.client_ip)
            .is_err()
        {
            let text = "Too many attempts from your network. Please wait a minute and try again.";
            return Some(self.message(context, StatusCode::TOO_MANY_REQUESTS, "Slow down", text));
        }
        if !csrf::verify(headers, token, &self.origin()) {
            let text = "This form expired or came from another site. Please go back, reload the \
                        page and try again.";
            return Some(self.message(context, StatusCode::FORBIDDEN, "Form expired", text));
        }
        None
    }
}

/// The origins the portal redirects a browser to after a form post: every app host, at the
/// portal's port, as [`redirect::ReturnTo::url`] builds them.
fn form_targets(config: &Config) -> Vec<String> {
    let Some(portal) = config.portal.as_ref() else {
        return Vec::new();
    };
    let hosts: std::collections::BTreeSet<String> = config
        .apps
        .iter()
        .map(|app| match &app.host {
            HostPattern::Exact(name) => name.clone(),
            HostPattern::Wildcard(suffix) => format!("*.{suffix}"),
        })
        .collect();
    hosts
        .iter()
        .map(|host| redirect::origin(host, portal.url.port))
        .collect()
}

/// Client facts for a new session.
fn client_info(context: &RequestContext, headers: &HeaderMap) -> ClientInfo {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    ClientInfo {
        user_agent: agent.map(|agent| agent.chars().take(256).collect()),
        ip: Some(context.client_ip),
    }
}

/// A 302 to a location the portal built itself.
fn redirect(location: &str) -> Response {
    crate::proxy::auth::redirect_to(location)
}

/// Adds a `Set-Cookie` header when there is one.
fn with_cookie(mut response: Response, set_cookie: Option<HeaderValue>) -> Response {
    if let Some(value) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The public keys that verify identity assertions; cacheable for
/// [`assertion::JWKS_MAX_AGE_SECONDS`], which [`assertion::KEY_OVERLAP`] allows for.
async fn jwks(
    axum::extract::State(state): axum::extract::State<PortalState>,
    axum::Extension(context): axum::Extension<RequestContext>,
) -> Response {
    let keys = match state
        .services
        .assertions
        .jwks(&state.config.assertion)
        .await
    {
        Ok(keys) => keys,
        Err(error) => {
            tracing::warn!("serving the key set failed: {error}");
            let text = "The key set is not available right now.";
            return state.message(
                &context,
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                text,
            );
        }
    };
    let body = serde_json::to_string(&keys).unwrap_or_default();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let cache = format!("public, max-age={}", assertion::JWKS_MAX_AGE_SECONDS);
    if let Ok(value) = HeaderValue::try_from(cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<PortalState>,
    axum::Extension(context): axum::Extension<RequestContext>,
) -> Response {
    let text = "There is no page at this address.";
    state.message(&context, StatusCode::NOT_FOUND, "Not found", text)
}
