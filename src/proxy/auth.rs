//! Who is asking, and what the gateway answers when the policy says no.
//!
//! Owns reading the session cookie on app hosts, turning a session into the policy's
//! subject, the sign-in redirect (browser navigations) or 401 (everything else), the 403
//! page, and the identity headers and signed assertion sent upstream on allowed requests.
//! Trusts the session cache. Every failure to read a session counts as no session (DESIGN invariant 1).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use http::Request;
use hyper::body::Incoming;

use crate::assertion::Audience;
use crate::config::{Config, IdentityHeaders};
use crate::policy::{AppId, Decision, DenyReason, RequestFacts as PolicyFacts, Subject};
use crate::portal::redirect;
use crate::proxy::body::{self, Body};
use crate::proxy::canonical::CanonicalHost;
use crate::proxy::handler::{RequestFacts, Routed};
use crate::proxy::reject::{self, Rejection};
use crate::proxy::{Runtime, Shared};
use crate::services::Services;
use crate::session::ActiveSession;
use crate::session::cookie::{self, Found};

/// Characters percent-encoded in a query parameter value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters percent-encoded in identity header values that are not plain ASCII.
const IDENTITY_VALUE: &AsciiSet = &percent_encoding::CONTROLS.add(b' ').add(b'%');

/// Largest identity header value sent; a larger one is left out and logged.
const MAX_IDENTITY_VALUE: usize = 4096;

/// What the request's session cookie amounts to on an app host.
pub struct SessionLookup {
    /// The usable session, if any.
    pub active: Option<Arc<ActiveSession>>,
    /// A session cookie was sent but opens nothing here; the answer clears it.
    pub stale_cookie: bool,
}

/// The session behind the request's cookie on `host`, if it is usable there.
///
/// With a parent cookie domain, a host under it accepts the portal session itself; any
/// other host accepts only an app session issued for it, so a cookie carried from one app
/// to another opens nothing.
pub async fn session_for(
    services: &Services,
    config: &Config,
    host: &str,
    headers: &HeaderMap,
) -> SessionLookup {
    let domain = config
        .session
        .domain
        .as_deref()
        .filter(|domain| under_domain(host, domain));
    let value = match cookie::find(headers, cookie::session_name(domain)) {
        Found::One(value) => value,
        Found::Missing => {
            return SessionLookup {
                active: None,
                stale_cookie: false,
            };
        }
        Found::Ambiguous => {
            return SessionLookup {
                active: None,
                stale_cookie: true,
            };
        }
    };
    let active = match services.cache.get(&value).await {
        Ok(active) => active,
        Err(error) => {
            tracing::warn!("reading a session failed; treating the request as signed out: {error}");
            None
        }
    };
    let usable = active.filter(|active| {
        if domain.is_some() {
            active.session.is_portal()
        } else {
            active.session.serves_app_host(host)
        }
    });
    SessionLookup {
        stale_cookie: usable.is_none(),
        active: usable,
    }
}

/// Whether `host` is `domain` or under it.
pub fn under_domain(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The policy's view of a session.
pub fn subject(active: &ActiveSession) -> Subject<'_> {
    Subject {
        user: active.user.username.as_str(),
        groups: &active.groups,
        factors: u8::try_from(active.session.amr.len()).unwrap_or(u8::MAX),
        auth_time: active.session.auth_time,
    }
}

/// Whether the request is a browser navigating to a page, which gets a redirect to sign in;
/// API calls, XHR and form posts get 401 instead.
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let navigating = text("sec-fetch-mode").is_none_or(|mode| mode == "navigate");
    let xhr =
        text("x-requested-with").is_some_and(|value| value.eq_ignore_ascii_case("xmlhttprequest"));
    (method == Method::GET || method == Method::HEAD)
        && navigating
        && !xhr
        && reject::wants_html(headers)
}

/// The answer to a request that needs sign-in: 302 to the portal's single sign-on entry for
/// navigations, 401 JSON naming the sign-in URL otherwise.
pub fn sign_in_required(
    config: &Config,
    return_url: &str,
    navigation: bool,
    state: Option<&str>,
    request_id: &str,
) -> Response<Body> {
    let Some(portal) = &config.portal else {
        return reject::page(
            StatusCode::UNAUTHORIZED,
            SIGN_IN_TEXT,
            request_id,
            navigation,
        );
    };
    let login_url = format!(
        "{}/sso?rd={}",
        portal.url.origin(),
        utf8_percent_encode(return_url, QUERY_VALUE)
    );
    if navigation {
        return match state {
            Some(state) => redirect_to(&format!("{login_url}&state={state}")),
            None => redirect_to(&login_url),
        };
    }
    let json = serde_json::json!({
        "error": "Unauthorized", "status": 401, "message": SIGN_IN_TEXT,
        "login_url": login_url, "request_id": request_id,
    });
    let mut response = Response::new(body::full(Bytes::from(json.to_string())));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const SIGN_IN_TEXT: &str = "Please sign in to continue.";

/// A 302 to `location`, which the caller built from configured origins and checked paths.
pub fn redirect_to<B: Default>(location: &str) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The 403 answer: what is missing, in words that reveal no rule.
pub fn forbidden(
    reason: DenyReason,
    user: Option<&str>,
    request_id: &str,
    html: bool,
) -> Response<Body> {
    let text = match reason {
        DenyReason::NotAllowed => "Your account does not have access to this page.",
        _ => "Access to this page is not allowed.",
    };
    let text = match user {
        Some(user) => format!("{text} You are signed in as {}.", reject::escape_html(user)),
        None => text.to_owned(),
    };
    reject::page(StatusCode::FORBIDDEN, &text, request_id, html)
}

/// The URL the browser asked for, rebuilt from the canonical host and path.
pub fn original_url(host: &str, port: Option<u16>, path: &str, query: Option<&str>) -> String {
    let origin = redirect::origin(host, port.filter(|&port| port != 443));
    match query {
        Some(query) => format!("{origin}{path}?{query}"),
        None => format!("{origin}{path}"),
    }
}

/// Adds the identity headers for an allowed request of a signed-in person, under the app's
/// names. Values that are not visible ASCII are sent percent-encoded (UTF-8, RFC 3986
/// section 2.1), so no value can hold CR, LF or bytes a parser might read differently. With
/// `basic_password`, the username and that password also go as HTTP Basic credentials,
/// replacing whatever `Authorization` the client sent.
pub fn add_identity_headers(
    headers: &mut HeaderMap,
    active: &ActiveSession,
    names: &IdentityHeaders,
    roles: &[String],
    basic_password: Option<&str>,
) {
    let user = &active.user;
    let groups = active.groups.join(",");
    let roles = roles.join(",");
    let pairs = [
        (&names.user, Some(user.username.as_str())),
        (&names.name, Some(user.display_name.as_str())),
        (&names.email, user.email.as_deref()),
        (&names.groups, Some(groups.as_str())),
        (&names.roles, Some(roles.as_str())),
    ];
    for (name, value) in pairs {
        let Some(value) = value else {
            continue;
        };
        let encoded = header_safe(value);
        if encoded.len() > MAX_IDENTITY_VALUE {
            tracing::warn!(header = %name, "identity header too large; left out");
            continue;
        }
        if let Ok(value) = HeaderValue::try_from(encoded) {
            headers.insert(name.clone(), value);
        }
    }
    if let Some(password) = basic_password {
        use base64::Engine as _;
        let pair = format!("{}:{password}", user.username.as_str());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        if let Ok(value) = HeaderValue::try_from(format!("Basic {encoded}")) {
            headers.insert(header::AUTHORIZATION, value);
        }
    }
}

/// Adds the signed identity assertion for an allowed request of a signed-in person, under
/// the configured header name, for the app origin the browser used. Without a portal there
/// is no issuer and nothing is added. A token cached for the session and origin is reused;
/// signing happens only when it is missing or near its expiry.
///
/// # Errors
/// [`Rejection::Unavailable`] when no token can be made; the request must not go upstream
/// without the assertion the app may rely on (DESIGN invariant 1).
pub async fn add_assertion(
    services: &Services,
    config: &Config,
    host: &CanonicalHost,
    active: &ActiveSession,
    roles: &[String],
    headers: &mut HeaderMap,
) -> Result<(), Rejection> {
    let Some(portal) = &config.portal else {
        return Ok(());
    };
    let audience = Audience {
        host: &host.name,
        port: host.port.filter(|&port| port != 443),
    };
    let settings = &config.assertion;
    let token = services
        .assertions
        .token_for(settings, &portal.url, audience, active, roles)
        .await
        .map_err(|error| {
            tracing::warn!("no identity assertion; refusing the request: {error}");
            Rejection::Unavailable
        })?;
    headers.insert(settings.header.clone(), token);
    Ok(())
}

fn header_safe(value: &str) -> String {
    if value
        .bytes()
        .all(|byte| byte.is_ascii_graphic() || byte == b' ')
        && !value.contains('%')
    {
        return value.to_owned();
    }
    utf8_percent_encode(value, IDENTITY_VALUE).to_string()
}

/// What the gateway does with a request after the policy decision.
pub(crate) enum Verdict {
    /// Forward it; with `identity`, the person's identity goes along.
    Pass {
        /// Whether identity headers are sent (not on public routes).
        identity: bool,
    },
    /// Answer it here.
    Answer(Response<Body>),
}

/// Decides the request with the app's compiled policy and turns the decision into a
/// verdict. A person who must change their password reaches nothing but the portal.
pub(crate) fn authorize(
    shared: &Shared,
    runtime: &Runtime,
    facts: &RequestFacts,
    routed: &Routed<'_>,
    request: &Request<Incoming>,
    lookup: &SessionLookup,
) -> Verdict {
    let active = lookup.active.as_deref();
    let subject = active.map(subject);
    let request_facts = PolicyFacts {
        method: request.method().as_str(),
        path: &routed.path,
        client_ip: facts.client_ip,
    };
    let app = AppId::from_position(routed.app_index);
    let now = shared.services.store.now();
    let decision = runtime
        .config
        .policy
        .decide(app, &request_facts, subject.as_ref(), now);
    let rule = decision.rule().map_or("-", |rule| rule.description());
    tracing::debug!(request_id = %facts.request_id, decision = ?decision.kind(), rule, "policy");
    let config = &runtime.config;
    let user = active.map(|active| active.user.username.as_str());
    match decision {
        Decision::Allow { public: true, .. } => Verdict::Pass { identity: false },
        Decision::Allow { .. } if active.is_some_and(|active| active.user.must_change_password) => {
            Verdict::Answer(sign_in_answer(config, routed, request, facts, lookup))
        }
        Decision::Allow { .. } => Verdict::Pass { identity: true },
        Decision::Login { .. } | Decision::Reauthenticate { .. } => {
            Verdict::Answer(sign_in_answer(config, routed, request, facts, lookup))
        }
        Decision::StepUp { .. } => Verdict::Answer(reject::page(
            StatusCode::FORBIDDEN,
            "This page needs two-factor sign-in, which is not set up for your account.",
            &facts.request_id,
            facts.wants_html,
        )),
        Decision::Deny { reason, .. } => {
            tracing::info!(target: "portcullis::audit", event = "access_denied",
                user = user.unwrap_or("-"), app = %routed.app.name, path = %routed.path, rule,
                "access denied");
            Verdict::Answer(forbidden(reason, user, &facts.request_id, facts.wants_html))
        }
    }
}

/// The answer to a request that needs (a new) sign-in. A browser navigation on a host that
/// gets its session by hand-off carries a state token to the portal and keeps it in a
/// cookie, so the code that comes back can only be redeemed by this browser. A session
/// cookie that opened nothing is cleared.
fn sign_in_answer(
    config: &Config,
    routed: &Routed<'_>,
    request: &Request<Incoming>,
    facts: &RequestFacts,
    lookup: &SessionLookup,
) -> Response<Body> {
    let host = &routed.host.name;
    let navigation = is_navigation(request.method(), request.headers());
    let url = original_url(host, routed.host.port, &routed.path, request.uri().query());
    let domain = config
        .session
        .domain
        .as_deref()
        .filter(|domain| under_domain(host, domain));
    let state = (navigation && domain.is_none())
        .then(|| sign_in_state(request.headers()))
        .flatten();
    let token = state.as_ref().map(|(token, _)| token.as_str());
    let mut response = sign_in_required(config, &url, navigation, token, &facts.request_id);
    if let Some((_, Some(set_cookie))) = state {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie);
    }
    if lookup.stale_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie::clear_session(domain));
    }
    response
}

/// The browser's sign-in state token, reused when it has one (several tabs signing in at
/// once), else a new one with the header that sets it.
fn sign_in_state(headers: &HeaderMap) -> Option<(String, Option<HeaderValue>)> {
    cookie::token_or_new(headers, cookie::STATE, cookie::state)
}
