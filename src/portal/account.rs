//! The account pages: who am I, my sessions (with sign-out of each), change password.
//!
//! Every page needs a signed-in portal session; without one the browser is sent to sign in
//! and brought back. Changing the password ends every session of the user (the directory
//! does that) and starts a new one for this browser.

use std::time::SystemTime;

use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::pages::{AccountPage, PasswordPage, SessionRow};
use super::signin::ReturnQuery;
use super::{PortalState, RequestContext, client_info, csrf, redirect, with_cookie};
use crate::authn::Secret;
use crate::session::cookie;
use crate::session::{AuthMethod, NewSession, Session};

/// Shortest password accepted on change (NIST SP 800-63B 5.1.1.2 asks for at least 8).
const MIN_PASSWORD_CHARS: usize = 12;

/// The session sign-out form.
#[derive(Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    session: String,
}

/// The change-password form.
#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rd: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// GET /account.
pub(super) async fn account_page(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
) -> Response {
    let Some(active) = state.session(&headers).await else {
        return redirect("/login?rd=%2Faccount");
    };
    if active.user.must_change_password {
        return redirect("/account/password");
    }
    let sessions = match state
        .services
        .sessions
        .list_for_user(&active.user.username)
        .await
    {
        Ok(sessions) => sessions,
        Err(error) => {
            tracing::warn!("listing sessions failed: {error}");
            Vec::new()
        }
    };
    let rows = sessions
        .iter()
        .filter(|session| session.is_portal() && session.is_active_at(state.services.store.now()))
        .map(|session| row(session, session.key == active.session.key))
        .collect();
    let (token, set_cookie) = csrf::token(&headers);
    let site = state.site(&context);
    let user = &active.user;
    let page = AccountPage {
        site: &site,
        csrf: &token,
        notice: None,
        username: user.username.as_str(),
        display_name: &user.display_name,
        email: user.email.as_deref(),
        groups: active.groups.clone(),
        sessions: rows,
    };
    with_cookie(state.render(StatusCode::OK, &page), set_cookie)
}

fn row(session: &Session, current: bool) -> SessionRow {
    SessionRow {
        key: session.key.as_str().to_owned(),
        started: timestamp(session.created_at),
        last_seen: timestamp(session.last_seen_at),
        from: session
            .client
            .ip
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        agent: session.client.user_agent.clone().unwrap_or_default(),
        current,
    }
}

fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// POST /account/sessions/revoke: signs out one of the user's own sessions.
pub(super) async fn revoke_session(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Form(input): Form<RevokeForm>,
) -> Response {
    if let Some(refusal) = state.refuse_post(&context, &headers, &input.csrf) {
        return refusal;
    }
    let Some(active) = state.session(&headers).await else {
        return redirect("/login?rd=%2Faccount");
    };
    let sessions = state
        .services
        .sessions
        .list_for_user(&active.user.username)
        .await;
    let owned = sessions.ok().and_then(|sessions| {
        sessions
            .into_iter()
            .find(|session| session.key.as_str() == input.session)
    });
    if let Some(session) = owned {
        if let Err(error) = state.services.sessions.revoke_tree(&session.key).await {
            tracing::error!("revoking a session failed: {error}");
        }
        state.services.cache.invalidate(&session.key);
        tracing::info!(target: "portcullis::audit", event = "session_revoked",
            user = %active.user.username, by = "self", "session revoked");
    }
    redirect("/account")
}

/// GET /account/password.
pub(super) async fn password_page(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let Some(active) = state.session(&headers).await else {
        return redirect("/login?rd=%2Faccount%2Fpassword");
    };
    let rd = query.rd();
    let rd = state
        .return_to(rd)
        .map(|target| super::signin::parameter(&state, &target));
    let required = active.user.must_change_password;
    password_form(
        &state,
        &context,
        &headers,
        &rd.unwrap_or_default(),
        required,
        None,
    )
}

fn password_form(
    state: &PortalState,
    context: &RequestContext,
    headers: &HeaderMap,
    rd: &str,
    required: bool,
    error: Option<&str>,
) -> Response {
    let (token, set_cookie) = csrf::token(headers);
    let site = state.site(context);
    let page = PasswordPage {
        site: &site,
        csrf: &token,
        rd,
        required,
        error,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    with_cookie(state.render(status, &page), set_cookie)
}

/// POST /account/password.
pub(super) async fn change_password(
    State(state): State<PortalState>,
    Extension(context): Extension<RequestContext>,
    headers: HeaderMap,
    Form(input): Form<PasswordForm>,
) -> Response {
    if let Some(refusal) = state.refuse_post(&context, &headers, &input.csrf) {
        return refusal;
    }
    let Some(active) = state.session(&headers).await else {
        return redirect("/login?rd=%2Faccount%2Fpassword");
    };
    let target = state.return_to(&input.rd);
    let rd = target
        .as_ref()
        .map(|target| super::signin::parameter(&state, target))
        .unwrap_or_default();
    let required = active.user.must_change_password;
    let fail = |text: &str| password_form(&state, &context, &headers, &rd, required, Some(text));
    let current = Secret::new(input.current);
    let verified = state
        .services
        .hasher
        .verify(&active.user.password_hash, &current)
        .await;
    if !matches!(verified, Ok(true)) {
        return fail("The current password is not correct.");
    }
    if input.new.chars().count() < MIN_PASSWORD_CHARS {
        return fail("The new password must have at least 12 characters.");
    }
    if input.new != input.confirm {
        return fail("The two new passwords are not the same.");
    }
    if input.new == current.expose() {
        return fail("The new password must differ from the current one.");
    }
    let username = &active.user.username;
    let new = Secret::new(input.new);
    if let Err(error) = state
        .services
        .directory
        .set_password(username, &new, false)
        .await
    {
        tracing::error!("changing a password failed: {error}");
        return fail("The password could not be changed. Please try again.");
    }
    tracing::info!(target: "portcullis::audit", event = "password_changed", user = %username,
        "password changed; all sessions ended");
    let fresh = NewSession {
        username: username.clone(),
        amr: vec![AuthMethod::Password],
        remember_me: active.session.remember_me,
        client: client_info(&context, &headers),
    };
    let Ok((id, session)) = state.services.sessions.create(fresh).await else {
        return redirect("/login");
    };
    let max_age = session
        .remember_me
        .then_some(state.config.session.remember_me);
    let set_cookie = cookie::session(&id.cookie_value(), max_age, state.cookie_domain());
    let next = state.continue_to(&session.key, target, None).await;
    with_cookie(next, Some(set_cookie))
}
