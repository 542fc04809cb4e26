//! `portcullis session ...`: list active sessions and revoke them.
//!
//! A session is named by the first digits of the SHA-256 the store keeps, never by its
//! cookie value, which the store does not have. Revoking one session ends its whole
//! sign-in (the portal session and every app session handed off from it), as logging out
//! does.

use std::io::Write;
use std::path::Path;

use clap::{ArgGroup, Subcommand};
use serde::Serialize;

use super::table::{NONE, Table};
use super::{Admin, CliError, Format, emit, emit_json, parse_username, timestamp};
use crate::identity::Username;
use crate::session::Session;

/// How many hex digits of a session key are shown.
const SHOWN_DIGITS: usize = 12;
/// Fewest hex digits accepted to name a session.
const MIN_PREFIX_DIGITS: usize = 6;

/// The `session` subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List active sessions, oldest first.
    List {
        /// Only this user's sessions.
        #[arg(long, value_name = "NAME", value_parser = parse_username)]
        user: Option<Username>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke one sign-in by the start of its session id, or every session of a user.
    #[command(group(ArgGroup::new("target").required(true).args(["id_prefix", "all_for"])))]
    Revoke {
        /// The start of a session id as `session list` shows it (at least 6 hex digits).
        #[arg(value_name = "ID_PREFIX", value_parser = parse_prefix)]
        id_prefix: Option<String>,
        /// Revoke every session of this user.
        #[arg(
            long = "all-for",
            visible_alias = "user",
            value_name = "NAME",
            value_parser = parse_username
        )]
        all_for: Option<Username>,
    },
}

/// A session as `list` prints it; never the cookie value.
#[derive(Serialize)]
struct SessionView {
    /// The first digits of the stored key.
    id: String,
    user: String,
    /// The app host of an app session; `None` for a portal session.
    app_host: Option<String>,
    factors: Vec<&'static str>,
    remember_me: bool,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    idle_expires_at: String,
    client_ip: Option<String>,
    user_agent: Option<String>,
}

/// Runs a `session` subcommand against the store named in the configuration file `config`,
/// printing to `out`.
///
/// # Errors
/// A [`CliError`]; [`CliError::exit_code`] says how the process should end.
pub async fn run_session(
    config: Option<&Path>,
    command: SessionCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let admin = Admin::open(config).await?;
    match command {
        SessionCommand::List { user, format } => list(&admin, user.as_ref(), format, out).await,
        SessionCommand::Revoke {
            all_for: Some(name),
            ..
        } => revoke_all(&admin, &name, out).await,
        SessionCommand::Revoke {
            id_prefix: Some(prefix),
            ..
        } => revoke_one(&admin, &prefix, out).await,
        SessionCommand::Revoke { .. } => Err(CliError::Usage(
            "name a session by its id prefix, or a user with --all-for NAME",
        )),
    }
}

async fn list(
    admin: &Admin,
    user: Option<&Username>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let sessions = match user {
        Some(name) => {
            admin.user(name).await?;
            admin.sessions.list_for_user(name).await?
        }
        None => admin.sessions.list_all().await?,
    };
    let views: Vec<SessionView> = sessions.iter().map(view).collect();
    if format == Format::Json {
        return emit_json(out, &views);
    }
    if views.is_empty() {
        return emit(out, "no active sessions\n");
    }

    let headers = [
        "ID",
        "USER",
        "APP",
        "CREATED",
        "LAST SEEN",
        "EXPIRES",
        "CLIENT IP",
        "USER AGENT",
    ];
    let mut table = Table::new(&headers);
    for session in views {
        table.push(vec![
            session.id,
            session.user,
            session.app_host.unwrap_or_else(|| "portal".into()),
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.client_ip.unwrap_or_else(|| NONE.into()),
            session.user_agent.unwrap_or_else(|| NONE.into()),
        ]);
    }
    emit(out, &table.render())
}

fn view(session: &Session) -> SessionView {
    SessionView {
        id: short_id(session),
        user: session.username.to_string(),
        app_host: session.app_host.clone(),
        factors: session.amr.iter().map(|method| method.as_str()).collect(),
        remember_me: session.remember_me,
        created_at: timestamp(session.created_at),
        last_seen_at: timestamp(session.last_seen_at),
        expires_at: timestamp(session.expires_at),
        idle_expires_at: timestamp(session.idle_deadline()),
        client_ip: session.client.ip.map(|ip| ip.to_string()),
        user_agent: session.client.user_agent.clone(),
    }
}

fn short_id(session: &Session) -> String {
    session.key.as_str().chars().take(SHOWN_DIGITS).collect()
}

async fn revoke_one(admin: &Admin, prefix: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let sessions = admin.sessions.list_all().await?;
    let matching: Vec<&Session> = sessions
        .iter()
        .filter(|session| session.key.as_str().starts_with(prefix))
        .collect();
    let session = match matching.as_slice() {
        [session] => *session,
        [] => return Err(CliError::NoSuchSession(prefix.to_owned())),
        many => {
            return Err(CliError::AmbiguousSession {
                prefix: prefix.to_owned(),
                count: many.len(),
            });
        }
    };

    let revoked = admin.sessions.revoke_tree(&session.key).await?;
    if revoked == 0 {
        return Err(CliError::NoSuchSession(prefix.to_owned()));
    }
    let text = format!(
        "revoked session {} of `{}` ({revoked} session(s) of that sign-in ended)\n",
        short_id(session),
        session.username
    );
    emit(out, &text)
}

async fn revoke_all(admin: &Admin, name: &Username, out: &mut dyn Write) -> Result<(), CliError> {
    admin.user(name).await?;
    let revoked = admin.sessions.revoke_all_for_user(name).await?;
    emit(out, &format!("revoked {revoked} session(s) of `{name}`\n"))
}

/// A clap value parser for session id prefixes: lower-case hex, 6 to 64 digits.
fn parse_prefix(text: &str) -> Result<String, String> {
    let prefix = text.to_ascii_lowercase();
    if !prefix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err("expected hex digits as `session list` shows them".into());
    }
    if !(MIN_PREFIX_DIGITS..=64).contains(&prefix.len()) {
        return Err(format!("expected {MIN_PREFIX_DIGITS} to 64 hex digits"));
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_lower_case_hex_of_sensible_length() {
        assert_eq!(parse_prefix("ABCdef12").unwrap(), "abcdef12");
        assert!(parse_prefix("abc").is_err());
        assert!(parse_prefix("abcdefg").is_err());
        assert!(parse_prefix(&"a".repeat(65)).is_err());
    }
}
