//! Server-side sessions: the session model, its table, one-time hand-off codes between
//! hosts and the in-memory cache the request path reads.
//!
//! Owns: the `sessions` and `handoff_codes` tables. Trusts: the operating system random
//! generator for identifiers and the store to commit atomically.
//!
//! Guarantees:
//! - A cookie carries 256 random bits; the store keeps only their SHA-256, so a copy of the
//!   database opens no session. Malformed cookie values are simply "no session" (CASES K13).
//! - A session is usable only while it is not revoked, its user exists and is enabled, its
//!   portal session (for app sessions) is not revoked, and neither its idle timeout nor its
//!   absolute expiry has passed.
//! - Every revocation bumps the revocation generation in the same transaction, and
//!   [`SessionCache`] re-reads it at least every 250 ms and drops every entry after 500 ms,
//!   so a revocation reaches every process sharing the store within a second (CASES K17).
//! - A hand-off code works once, for one host, for 60 seconds; of two parallel redemptions
//!   exactly one wins.

mod cache;
pub mod cookie;
mod handoff;
mod rows;
mod store;
mod token;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

pub use self::cache::{ActiveSession, CacheConfig, SessionCache};
pub use self::store::SessionStore;
pub use self::token::{HandoffCode, SessionId, SessionKey};
use crate::authn::RandomError;
use crate::identity::{IdentityError, Username};
use crate::store::{StoreError, Tx, duration_serde, saturating_add};

/// Longest lifetime or idle timeout a session gets, whatever the configuration says; keeps
/// stored millisecond sums far from overflow.
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 60 * 60);

/// Session lifetimes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused for this long ends.
    #[serde(with = "duration_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    #[serde(with = "duration_serde")]
    pub lifetime: Duration,
    /// Lifetime of a "remember me" session; it has no shorter idle timeout.
    #[serde(with = "duration_serde")]
    pub remember_me: Duration,
    /// How long a hand-off code can be redeemed.
    #[serde(with = "duration_serde")]
    pub handoff_code_ttl: Duration,
    /// `last_seen` is written at most this often per session; the idle timeout may end a
    /// session up to this much early.
    #[serde(with = "duration_serde")]
    pub touch_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 60 * 60),
            remember_me: Duration::from_secs(30 * 24 * 60 * 60),
            handoff_code_ttl: Duration::from_secs(60),
            touch_interval: Duration::from_secs(60),
        }
    }
}

/// An authentication method, named as in RFC 8176 section 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `pwd`: a password.
    Password,
    /// `otp`: a one-time password (TOTP).
    Otp,
    /// `hwk`: a hardware-bound key (security key).
    HardwareKey,
    /// `swk`: a software-bound key (synced passkey).
    SoftwareKey,
}

impl AuthMethod {
    /// The RFC 8176 value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "pwd",
            AuthMethod::Otp => "otp",
            AuthMethod::HardwareKey => "hwk",
            AuthMethod::SoftwareKey => "swk",
        }
    }

    /// The method named `value`, if it is one of ours.
    pub fn parse(value: &str) -> Option<AuthMethod> {
        match value {
            "pwd" => Some(AuthMethod::Password),
            "otp" => Some(AuthMethod::Otp),
            "hwk" => Some(AuthMethod::HardwareKey),
            "swk" => Some(AuthMethod::SoftwareKey),
            _ => None,
        }
    }
}

/// Where a session was started from; shown to the user and administrators.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The User-Agent header, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The client address (the real one, CASES K8).
    pub ip: Option<IpAddr>,
}

/// What the portal supplies to start a session after a sign-in step.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Who signed in.
    pub username: Username,
    /// The factors done so far, in order.
    pub amr: Vec<AuthMethod>,
    /// Whether the person asked to stay signed in.
    pub remember_me: bool,
    /// Where from.
    pub client: ClientInfo,
}

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The public identifier: the hash of the cookie value.
    pub key: SessionKey,
    /// Whose session it is.
    pub username: Username,
    /// When it started.
    pub created_at: SystemTime,
    /// When it was last used, to within [`SessionConfig::touch_interval`].
    pub last_seen_at: SystemTime,
    /// When it ends regardless of use.
    pub expires_at: SystemTime,
    /// How long it may stay unused.
    pub idle_timeout: Duration,
    /// Whether it is a "remember me" session.
    pub remember_me: bool,
    /// Factors done, in order (RFC 8176 values).
    pub amr: Vec<AuthMethod>,
    /// When the last factor was done.
    pub auth_time: SystemTime,
    /// For an app session, the portal session it was handed off from.
    pub parent: Option<SessionKey>,
    /// For an app session, the app host it is valid on; `None` for a portal session.
    pub app_host: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Where it was started from.
    pub client: ClientInfo,
}

impl Session {
    /// Whether the session may be used at `now`: not revoked, not past its absolute expiry
    /// and not idle for longer than its idle timeout.
    pub fn is_active_at(&self, now: SystemTime) -> bool {
        !self.revoked && now < self.expires_at && now < self.idle_deadline()
    }

    /// When the session ends if it is not used before.
    pub fn idle_deadline(&self) -> SystemTime {
        saturating_add(self.last_seen_at, self.idle_timeout)
    }

    /// Whether `method` has been done in this session.
    pub fn has_factor(&self, method: AuthMethod) -> bool {
        self.amr.contains(&method)
    }

    /// Whether this is a portal session (not an app session).
    pub fn is_portal(&self) -> bool {
        self.parent.is_none()
    }

    /// Whether this app session was issued for `host` (case and a trailing dot ignored).
    /// Always `false` for a portal session, which is valid only on the portal host; the
    /// gateway checks this so a cookie carried to another app opens nothing there.
    pub fn serves_app_host(&self, host: &str) -> bool {
        match (&self.app_host, canonical_host(host)) {
            (Some(issued), Ok(requested)) => *issued == requested,
            _ => false,
        }
    }
}

/// A failure of a session operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Sessions can be started only for existing, enabled users.
    #[error("user {0} does not exist or is disabled")]
    UserUnavailable(Username),
    /// The session does not exist, has ended, or is not a portal session.
    #[error("session does not exist or has ended")]
    NoSuchSession,
    /// The app host is empty, too long or holds characters a host cannot.
    #[error("invalid app host: {0}")]
    InvalidAppHost(&'static str),
    /// No identifier could be generated.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The directory failed while a cached session was loaded.
    #[error(transparent)]
    Directory(#[from] IdentityError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revokes every session of `username` inside `tx`; the caller bumps the revocation
/// generation in the same transaction. Returns how many were revoked.
pub(crate) async fn revoke_user_sessions(
    tx: &mut Tx,
    username: &Username,
) -> Result<u64, StoreError> {
    let revoked =
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE username = $1 AND revoked = 0")
            .bind(username.as_str())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::query("revoking sessions of user"))?;
    Ok(revoked.rows_affected())
}

/// Lower-cased, without a trailing dot; letters, digits, `.`, `-`, `:`, `[`, `]` only.
/// Non-ASCII names must arrive in their ASCII (punycode) form.
pub(crate) fn canonical_host(host: &str) -> Result<String, SessionError> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return Err(SessionError::InvalidAppHost("is empty"));
    }
    if host.len() > 261 {
        return Err(SessionError::InvalidAppHost(
            "is longer than a host and port can be",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if !host.chars().all(allowed) {
        return Err(SessionError::InvalidAppHost(
            "holds characters a host cannot",
        ));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_without_case_or_trailing_dot() {
        assert_eq!(
            canonical_host("APP.Example.Test.").unwrap(),
            "app.example.test"
        );
        assert_eq!(
            canonical_host("app.example.test:8443").unwrap(),
            "app.example.test:8443"
        );
        for bad in ["", ".", "app/x", "app example", "app\u{0}", "äpp.test"] {
            assert!(canonical_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn auth_methods_round_trip_their_rfc_8176_names() {
        for method in [
            AuthMethod::Password,
            AuthMethod::Otp,
            AuthMethod::HardwareKey,
            AuthMethod::SoftwareKey,
        ] {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(AuthMethod::parse("mfa"), None);
    }

    #[test]
    fn session_config_reads_the_design_shape() {
        let text = r#"{"idle_timeout": "30m", "lifetime": "12h", "remember_me": "30d"}"#;
        let config: SessionConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config, SessionConfig::default());
    }
}
