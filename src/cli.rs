//! The administrative command line: `portcullis user ...` and `portcullis session ...`, and
//! the first-administrator announcement that `serve` and `dev` print.
//!
//! Owns: the clap definitions of those commands, what they print, and how their failures
//! map to exit codes ([`CliError::exit_code`]). Trusts: the configuration file for the store
//! url, and the directory and session store for every rule about users and sessions; the
//! commands only call them, so they act on a running gateway's store exactly as the portal
//! does, and a revocation reaches every gateway within a second through the store's
//! revocation generation.
//!
//! Guarantees: a password is read only from standard input, never from an argument; a
//! generated password is printed once, by the command that made it; no output shows a
//! password hash (except `user hash-password`, whose purpose it is) or a session cookie
//! value: sessions are named by a prefix of the hash the store keeps.

mod first_admin;
mod session;
mod table;
mod user;

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::SystemTime;

use clap::ValueEnum;

pub use self::first_admin::announce_first_admin;
pub use self::session::{SessionCommand, run_session};
pub use self::user::{GroupsCommand, UserCommand, run_user};
use crate::authn::RandomError;
use crate::authn::Secret;
use crate::authn::password::{HashParams, Hasher, PasswordError};
use crate::config::{Config, ConfigError, SessionSettings};
use crate::identity::{GroupName, IdentityError, StoreDirectory, Username};
use crate::session::{SessionConfig, SessionError, SessionStore};
use crate::store::{Store, StoreError};

/// How a listing is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// A failure of an administrative command. Messages name the object and never carry a
/// password, a hash or a cookie value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The arguments do not say what to do (clap checks most of this before).
    #[error("{0}")]
    Usage(&'static str),
    /// The command needs the store and no configuration file was named.
    #[error(
        "this command needs the configuration file: pass --config FILE or set PORTCULLIS_CONFIG"
    )]
    NoConfig,
    /// The configuration file does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No user has this name.
    #[error("user `{0}` does not exist")]
    NoSuchUser(Username),
    /// The username is taken.
    #[error("user `{0}` already exists")]
    UserExists(Username),
    /// `user delete` without `--yes`.
    #[error(
        "deleting user `{0}` removes the account, its memberships and sessions for good; \
         add --yes to do it"
    )]
    DeleteNeedsYes(Username),
    /// `--password-stdin` found nothing to read.
    #[error("no password on standard input (expected one line)")]
    NoPassword,
    /// Standard input could not be read.
    #[error("reading the password from standard input: {0}")]
    ReadPassword(std::io::Error),
    /// No active session's id starts with the prefix.
    #[error("no active session id starts with `{0}`")]
    NoSuchSession(String),
    /// More than one active session's id starts with the prefix.
    #[error("session id prefix `{prefix}` matches {count} sessions; give more digits")]
    AmbiguousSession {
        /// The prefix given.
        prefix: String,
        /// How many sessions it matches.
        count: usize,
    },
    /// Standard output could not be written.
    #[error("writing output: {0}")]
    Output(std::io::Error),
    /// The directory refused or failed.
    #[error(transparent)]
    Identity(IdentityError),
    /// The session store failed.
    #[error(transparent)]
    Session(SessionError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed or the password was refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// No random password could be made.
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl CliError {
    /// 2 for bad usage or an invalid configuration (as clap and `check` use it), 1 for
    /// everything else.
    pub fn exit_code(&self) -> u8 {
        let bad_password =
            |error: &PasswordError| matches!(error, PasswordError::Empty | PasswordError::TooLong);
        let usage = match self {
            CliError::Usage(_)
            | CliError::NoConfig
            | CliError::Config(_)
            | CliError::DeleteNeedsYes(_)
            | CliError::NoPassword => true,
            CliError::Password(error) => bad_password(error),
            CliError::Identity(error) => match error {
                IdentityError::InvalidUsername(_)
                | IdentityError::InvalidGroupName(_)
                | IdentityError::InvalidDisplayName(_)
                | IdentityError::InvalidEmail(_) => true,
                IdentityError::Password(error) => bad_password(error),
                _ => false,
            },
            _ => false,
        };
        if usage { 2 } else { 1 }
    }
}

impl From<IdentityError> for CliError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::NoSuchUser(name) => CliError::NoSuchUser(name),
            IdentityError::UserExists(name) => CliError::UserExists(name),
            other => CliError::Identity(other),
        }
    }
}

impl From<SessionError> for CliError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Directory(error) => CliError::from(error),
            SessionError::Store(error) => CliError::Store(error),
            other => CliError::Session(other),
        }
    }
}

/// The store as the configuration names it, opened for one command.
struct Admin {
    directory: StoreDirectory,
    sessions: SessionStore,
}

impl Admin {
    /// Loads the configuration at `config` and opens its store (applying migrations).
    async fn open(config: Option<&Path>) -> Result<Admin, CliError> {
        let path = config.ok_or(CliError::NoConfig)?;
        let config = Config::load(path)?;
        let store = Store::open(&config.store).await?;
        let directory = StoreDirectory::new(store.clone(), new_hasher()?);
        let sessions = SessionStore::new(store, session_config(&config.session));
        Ok(Admin {
            directory,
            sessions,
        })
    }

    /// The user named `name`, or [`CliError::NoSuchUser`].
    async fn user(&self, name: &Username) -> Result<crate::identity::UserRecord, CliError> {
        self.directory
            .get_user(name)
            .await?
            .ok_or_else(|| CliError::NoSuchUser(name.clone()))
    }
}

/// The hasher new passwords get: Argon2id at the OWASP parameters, as the gateway uses.
fn new_hasher() -> Result<Hasher, PasswordError> {
    Hasher::new(HashParams::OWASP)
}

fn session_config(settings: &SessionSettings) -> SessionConfig {
    SessionConfig {
        idle_timeout: settings.idle_timeout,
        lifetime: settings.lifetime,
        remember_me: settings.remember_me,
        ..SessionConfig::default()
    }
}

/// One line of the password from `input`, without its line ending.
fn read_password(input: &mut dyn BufRead) -> Result<Secret, CliError> {
    let mut line = String::new();
    input.read_line(&mut line).map_err(CliError::ReadPassword)?;
    let password = line.strip_suffix('\n').map_or(line.as_str(), |rest| {
        rest.strip_suffix('\r').unwrap_or(rest)
    });
    if password.is_empty() {
        return Err(CliError::NoPassword);
    }
    Ok(Secret::new(password))
}

/// Writes `text` to `out`.
fn emit(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes()).map_err(CliError::Output)
}

/// `value` as pretty JSON followed by a newline.
fn emit_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)
        .map_err(|error| CliError::Output(error.into()))?;
    emit(out, "\n")
}

/// RFC 3339 in UTC, to the second: `2026-01-01T00:00:00Z`.
fn timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A clap value parser for usernames.
fn parse_username(text: &str) -> Result<Username, String> {
    Username::parse(text).map_err(|error| format!("invalid username: {error}"))
}

/// A clap value parser for group names.
fn parse_group(text: &str) -> Result<GroupName, String> {
    GroupName::parse(text).map_err(|error| format!("invalid group name: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_one_line_without_its_ending() {
        let mut input: &[u8] = b"pa ss\r\nsecond line\n";
        assert_eq!(read_password(&mut input).unwrap(), Secret::new("pa ss"));
        let mut input: &[u8] = b"no newline";
        assert_eq!(
            read_password(&mut input).unwrap(),
            Secret::new("no newline")
        );
        for empty in [&b""[..], b"\n", b"\r\n"] {
            let mut input = empty;
            assert!(matches!(
                read_password(&mut input),
                Err(CliError::NoPassword)
            ));
        }
    }

    #[test]
    fn unknown_users_exit_1_and_bad_input_exits_2() {
        let bob = Username::parse("bob").unwrap();
        let missing = CliError::from(IdentityError::NoSuchUser(bob.clone()));
        assert_eq!(missing.to_string(), "user `bob` does not exist");
        assert_eq!(missing.exit_code(), 1);
        assert_eq!(CliError::DeleteNeedsYes(bob).exit_code(), 2);
        let email = CliError::from(IdentityError::InvalidEmail("expected local@domain"));
        assert_eq!(email.exit_code(), 2);
        assert_eq!(CliError::NoConfig.exit_code(), 2);
    }

    #[test]
    fn times_are_rfc_3339_utc_seconds() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_767_225_600_250);
        assert_eq!(timestamp(time), "2026-01-01T00:00:00Z");
    }
}
