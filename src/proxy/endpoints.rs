//! The gateway's own paths on every app host, under `/.portcullis/`; never forwarded.
//!
//! `/.portcullis/callback?code=...&rd=/path` exchanges a one-time code from the portal for
//! a session cookie scoped to this app host, then sends the browser on to `rd` on the same
//! host. `/.portcullis/logout` sends the browser to the portal's sign-out page.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::portal::redirect;
use crate::proxy::auth::redirect_to;
use crate::proxy::body::Body;
use crate::proxy::handler::{RequestFacts, Routed};
use crate::proxy::reject::{self, Rejection};
use crate::proxy::{Runtime, Shared};
use crate::session::{ClientInfo, cookie};

/// The path prefix reserved for the gateway on app hosts.
pub(crate) const PREFIX: &str = "/.portcullis/";

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    rd: String,
    #[serde(default)]
    state: String,
}

/// Answers a request under [`PREFIX`].
///
/// # Errors
/// [`Rejection::NoRoute`] for paths the gateway does not serve.
pub(crate) async fn serve(
    shared: &Shared,
    runtime: &Runtime,
    facts: &RequestFacts,
    routed: &Routed<'_>,
    request: &Request<Incoming>,
) -> Result<Response<Body>, Rejection> {
    match routed.path.as_str() {
        "/.portcullis/callback" => Ok(callback(shared, facts, routed, request).await),
        "/.portcullis/logout" => {
            let portal = runtime.config.portal.as_ref().ok_or(Rejection::NoRoute)?;
            Ok(redirect_to(&format!("{}/logout", portal.url.origin())))
        }
        _ => Err(Rejection::NoRoute),
    }
}

async fn callback(
    shared: &Shared,
    facts: &RequestFacts,
    routed: &Routed<'_>,
    request: &Request<Incoming>,
) -> Response<Body> {
    let query = request.uri().query().unwrap_or_default();
    let Ok(CallbackQuery { code, rd, state }) = serde_urlencoded::from_str::<CallbackQuery>(query)
    else {
        return expired(facts);
    };
    if !state_matches(request, &state) {
        // A link started by another browser (or an old one): never sign this browser in
        // with it; the code stays unused and expires.
        tracing::info!(target: "portcullis::audit", event = "handoff_refused",
            reason = "state", "sign-in link from another browser refused");
        return expired(facts);
    }
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    let client = ClientInfo {
        user_agent: agent.map(|agent| agent.chars().take(256).collect()),
        ip: Some(facts.client_ip),
    };
    let host = &routed.host.name;
    let (id, session) = match shared
        .services
        .sessions
        .exchange_code(&code, host, client)
        .await
    {
        Ok(Some(created)) => created,
        Ok(None) => return expired(facts),
        Err(error) => {
            tracing::warn!("exchanging a hand-off code failed: {error}");
            return reject::page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is not possible right now. Please try again shortly.",
                &facts.request_id,
                facts.wants_html,
            );
        }
    };
    let path = if redirect::safe_path(&rd) {
        rd.as_str()
    } else {
        "/"
    };
    let origin = redirect::origin(host, routed.host.port.filter(|&port| port != 443));
    let max_age = session.remember_me.then(|| {
        session
            .expires_at
            .duration_since(shared.services.store.now())
            .unwrap_or_default()
    });
    let mut response = redirect_to(&format!("{origin}{path}"));
    let headers = response.headers_mut();
    headers.insert(
        header::SET_COOKIE,
        cookie::session(&id.cookie_value(), max_age, None),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.append(header::SET_COOKIE, cookie::clear_state());
    response
}

/// Whether the callback's state is the one this browser's state cookie holds.
fn state_matches(request: &Request<Incoming>, state: &str) -> bool {
    cookie::token_matches(request.headers(), cookie::STATE, state)
}

fn expired(facts: &RequestFacts) -> Response<Body> {
    reject::page(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired or was already used. Please open the application again.",
        &facts.request_id,
        facts.wants_html,
    )
}
