//! Signing in and out, and the single sign-on entry point.
//!
//! A failed sign-in gets the same page, status and cookies whether the user does not exist,
//! is disabled, is locked out or typed the wrong password (CASES K21); the directory does
//! the same hashing work in every case. A successful sign-in always starts a new session.

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::pages::{self, LoginPage, LogoutPage};
use super::{PortalState, RequestContext, client_info, csrf, redirect, with_cookie};
use crate::authn::{PasswordVerdict, Secret};
use crate::session::cookie;
use crate::session::{AuthMethod, NewSession};

const FAILED: &str = "The username or password is incorrect, or sign-in is paused after too \
                      many attempts. Please try again.";

/// Query parameters carrying a return URL.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReturnQuery {
    #[serde(default)]
    rd: String,
    #[serde(default)]
    state: String,
}

impl ReturnQuery {
    /// The raw `rd` value.
    pub(super) fn rd(&self) -> &str {
        &self.rd
    }

    /// The app's hand-off state, when well formed.
    fn handoff(&self) -> Option<&str> {
        handoff(&self.state)
    }
}

/// A hand-off state token as carried through the portal, when well formed.
fn handoff(raw: &str) -> Option<&str> {
    cookie::well_formed_token(raw).then_some(raw)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rd: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
    #[serde(default)]
    state: String,
}

/// The CSRF-only form of sign-out.
#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// GET /login: the form, or straight on when already signed in.
pub(super) async fn login_page(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    if let Some(active) = state.session(&headers).await {
        let target = state.return_to(&query.rd);
        let must_change = active.user.must_change_password;
        let key = &active.session.key;
        return state
            .resume(key, must_change, target, query.handoff())
            .await;
    }
    let rd = state
        .return_to(&query.rd)
        .map(|target| parameter(&state, &target))
        .unwrap_or_default();
    let carry = Carry {
        rd: &rd,
        handoff: query.handoff().unwrap_or_default(),
    };
    form(&state, &context, &headers, &carry, "", None)
}

/// POST /login.
pub(super) async fn login(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Form(input): Form<LoginForm>,
) -> Response {
    if let Some(refusal) = state.refuse_post(&context, &headers, &input.csrf) {
        return refusal;
    }
    let target = state.return_to(&input.rd);
    let rd = target
        .as_ref()
        .map(|target| parameter(&state, target))
        .unwrap_or_default();
    let password = Secret::new(input.password);
    let handoff = handoff(&input.state);
    let carry = Carry {
        rd: &rd,
        handoff: handoff.unwrap_or_default(),
    };
    let failed = || {
        form(
            &state,
            &context,
            &headers,
            &carry,
            &input.username,
            Some(FAILED),
        )
    };
    let attempt = match state
        .services
        .login
        .attempt(&input.username, &password)
        .await
    {
        Ok(attempt) => attempt,
        Err(error) => {
            tracing::warn!("sign-in could not be checked; refusing it: {error}");
            return failed();
        }
    };
    let PasswordVerdict::Accepted { user, .. } = attempt.verdict else {
        tracing::info!(target: "portcullis::audit", event = "sign_in_failed", "sign-in refused");
        return failed();
    };
    let remember_me = input.remember.is_some();
    let new = NewSession {
        username: user.username.clone(),
        amr: vec![AuthMethod::Password],
        remember_me,
        client: client_info(&context, &headers),
    };
    let (id, session) = match state.services.sessions.create(new).await {
        Ok(created) => created,
        Err(error) => {
            tracing::warn!("starting a session failed; refusing the sign-in: {error}");
            return failed();
        }
    };
    if let Err(error) = state.services.login.complete_sign_in(&user.username).await {
        tracing::warn!("recording the sign-in failed: {error}");
    }
    if let Some(previous) = state.session(&headers).await {
        // A new sign-in replaces the browser's old session (new id at every sign-in).
        let _ = state
            .services
            .sessions
            .revoke_tree(&previous.session.key)
            .await;
    }
    tracing::info!(target: "portcullis::audit", event = "sign_in", user = %user.username,
        method = "pwd", "signed in");
    let max_age = remember_me.then_some(state.config.session.remember_me);
    let set_cookie = cookie::session(&id.cookie_value(), max_age, state.cookie_domain());
    let must_change = user.must_change_password;
    let next = state
        .resume(&session.key, must_change, target, handoff)
        .await;
    with_cookie(next, Some(set_cookie))
}

/// The `rd` value to carry in forms and links for a checked target.
pub(super) fn parameter(state: &PortalState, target: &super::ReturnTo) -> String {
    state
        .config
        .portal
        .as_ref()
        .map(|portal| target.parameter(&portal.url))
        .unwrap_or_default()
}

/// What the sign-in form carries through: the checked return URL and the app's state.
struct Carry<'a> {
    rd: &'a str,
    handoff: &'a str,
}

fn form(
    state: &PortalState,
    context: &RequestContext,
    headers: &HeaderMap,
    carry: &Carry<'_>,
    username: &str,
    error: Option<&str>,
) -> Response {
    let (token, set_cookie) = csrf::token(headers);
    let site = state.site(context);
    let page = LoginPage {
        site: &site,
        csrf: &token,
        rd: carry.rd,
        handoff: carry.handoff,
        username,
        error,
    };
    with_cookie(state.render(StatusCode::OK, &page), set_cookie)
}

/// GET /sso: hand a signed-in browser on, or ask it to sign in first.
pub(super) async fn single_sign_on(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let target = state.return_to(&query.rd);
    if let Some(active) = state.session(&headers).await {
        let must_change = active.user.must_change_password;
        let key = &active.session.key;
        return state
            .resume(key, must_change, target, query.handoff())
            .await;
    }
    let rd = target
        .map(|target| parameter(&state, &target))
        .unwrap_or_default();
    let encoded = percent_encoding::utf8_percent_encode(&rd, percent_encoding::NON_ALPHANUMERIC);
    match query.handoff() {
        Some(handoff) => redirect(&format!("/login?rd={encoded}&state={handoff}")),
        None => redirect(&format!("/login?rd={encoded}")),
    }
}

/// GET /logout: a confirmation page; a cross-site GET signs nobody out (CASES K18).
pub(super) async fn logout_page(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
) -> Response {
    let (token, set_cookie) = csrf::token(&headers);
    let site = state.site(&context);
    with_cookie(
        state.render(
            StatusCode::OK,
            &LogoutPage {
                site: &site,
                csrf: &token,
            },
        ),
        set_cookie,
    )
}

/// POST /logout: ends the portal session and every app session handed off from it.
pub(super) async fn logout(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Form(input): Form<TokenForm>,
) -> Response {
    if let Some(refusal) = state.refuse_post(&context, &headers, &input.csrf) {
        return refusal;
    }
    if let Some(active) = state.session(&headers).await {
        match state
            .services
            .sessions
            .revoke_tree(&active.session.key)
            .await
        {
            Ok(count) => {
                state.services.cache.invalidate(&active.session.key);
                tracing::info!(target: "portcullis::audit", event = "sign_out",
                    user = %active.user.username, sessions = count, "signed out");
            }
            Err(error) => {
                tracing::error!("signing out failed: {error}");
                let text = "Signing out failed. Please try again.";
                return state.message(
                    &context,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not signed out",
                    text,
                );
            }
        }
    }
    let site = state.site(&context);
    let page = pages::MessagePage {
        site: &site,
        heading: "Signed out",
        text: "You are signed out of every application you opened with that sign-in.",
        link: Some(("/login", "Sign in again")),
    };
    let response = state.render(StatusCode::OK, &page);
    with_cookie(response, Some(cookie::clear_session(state.cookie_domain())))
}
