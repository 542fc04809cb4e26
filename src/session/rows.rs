//! Reading and writing session rows: amr lists as space-separated RFC 8176 values, client
//! addresses as text. A stored value that does not parse fails the lookup (fail closed).

use std::net::IpAddr;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AuthMethod, ClientInfo, Session, SessionKey};
use crate::identity::stored_username;
use crate::store::{StoreError, duration_from_millis, from_millis};

/// Longest user agent kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// `SELECT <the columns session_from_row reads> FROM sessions s JOIN users u ...`, followed by
/// the rest of the statement. A macro because sqlx takes only `&'static str` SQL, which
/// `concat!` can build and `format!` cannot.
macro_rules! select_sessions {
    ($($rest:literal),*) => {
        concat!(
            "SELECT s.id_hash, s.username, s.created_at, s.last_seen_at, s.expires_at, \
             s.idle_timeout_ms, s.remember_me, s.amr, s.auth_time, s.parent_hash, \
             s.app_host, s.revoked, s.user_agent, s.client_ip \
             FROM sessions s JOIN users u ON u.username = s.username ",
            $($rest),*
        )
    };
}
pub(super) use select_sessions;

/// A session from a row selected with [`select_sessions`].
pub(super) fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    let read = StoreError::query("reading session");
    let key: String = row.try_get("id_hash").map_err(read)?;
    let username: String = row.try_get("username").map_err(read)?;
    let amr: String = row.try_get("amr").map_err(read)?;
    let parent: Option<String> = row.try_get("parent_hash").map_err(read)?;
    let user_agent: Option<String> = row.try_get("user_agent").map_err(read)?;
    let client_ip: Option<String> = row.try_get("client_ip").map_err(read)?;
    let millis = |column: &str| row.try_get::<i64, _>(column).map_err(read);

    Ok(Session {
        key: stored_key(key)?,
        username: stored_username(username)?,
        created_at: from_millis(millis("created_at")?),
        last_seen_at: from_millis(millis("last_seen_at")?),
        expires_at: from_millis(millis("expires_at")?),
        idle_timeout: duration_from_millis(millis("idle_timeout_ms")?),
        remember_me: millis("remember_me")? != 0,
        amr: parse_amr(&amr)?,
        auth_time: from_millis(millis("auth_time")?),
        parent: parent.map(stored_key).transpose()?,
        app_host: row.try_get("app_host").map_err(read)?,
        revoked: millis("revoked")? != 0,
        client: ClientInfo {
            user_agent,
            ip: client_ip.map(parse_ip).transpose()?,
        },
    })
}

/// A session key read from the store.
pub(super) fn stored_key(text: String) -> Result<SessionKey, StoreError> {
    SessionKey::from_stored(text)
        .ok_or_else(|| StoreError::corrupt("session key", "not 64 hex digits"))
}

/// `pwd otp`: the methods in the order they were done.
pub(super) fn format_amr(amr: &[AuthMethod]) -> String {
    amr.iter()
        .map(|method| method.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_amr(text: &str) -> Result<Vec<AuthMethod>, StoreError> {
    text.split_whitespace()
        .map(|value| {
            AuthMethod::parse(value)
                .ok_or_else(|| StoreError::corrupt("session amr", "unknown authentication method"))
        })
        .collect()
}

fn parse_ip(text: String) -> Result<IpAddr, StoreError> {
    text.parse()
        .map_err(|_| StoreError::corrupt("session client address", "not an IP address"))
}

/// The user agent as stored: control characters replaced, cut to a bounded length.
pub(super) fn stored_user_agent(user_agent: Option<&str>) -> Option<String> {
    let cleaned = user_agent?
        .chars()
        .map(|c| {
            if c.is_control() {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    Some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_lists_round_trip_in_order() {
        let amr = [AuthMethod::Password, AuthMethod::HardwareKey];
        let text = format_amr(&amr);
        assert_eq!(text, "pwd hwk");
        assert_eq!(parse_amr(&text).unwrap(), amr);
        assert!(parse_amr("pwd sms").is_err());
    }

    #[test]
    fn user_agents_are_cleaned_and_bounded() {
        let long = "x".repeat(1000);
        assert_eq!(
            stored_user_agent(Some(&long)).unwrap().len(),
            MAX_USER_AGENT_CHARS
        );
        assert_eq!(
            stored_user_agent(Some("a\r\nb")).unwrap(),
            "a\u{fffd}\u{fffd}b"
        );
        assert_eq!(stored_user_agent(None), None);
    }
}
