//! The declarative users file: a YAML list of users that the store is made to follow.
//!
//! Owns: reading and checking the file ([`load`], [`parse`]) into a [`UsersFile`] that
//! cannot be invalid, and making the store follow it ([`sync`]). Trusts nothing in the
//! file: every name, address and hash is checked, and every problem is reported as
//! `file:line:column: what was expected`, with no snippet of the file and no value in the
//! message, because the lines hold password hashes.
//!
//! ```yaml
//! users:
//!   alice: { name: Alice Example, email: alice@example.test, groups: [staff],
//!            password_hash: "$argon2id$..." }
//!   bob:   { groups: [staff, admins], disabled: true }
//! ```
//!
//! Plain passwords have no place in the file; `portcullis user hash-password` makes the
//! hashes. Guarantees: a file that fails to load changes nothing; the sync touches only
//! users the file itself created, so accounts made by the command line, the portal or the
//! first-administrator step are never changed by it.

mod sync;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_saphyr::Spanned;

pub use self::sync::{SyncReport, managed_users, sync};
use super::users::{checked_display_name, checked_email};
use super::{GroupName, IdentityError, Username};
use crate::authn::password::PasswordHash;
use crate::config::yaml_error_headline;

/// The `users.source` value of users that the users file created and manages.
pub(super) const USERS_FILE_SOURCE: &str = "users_file";

/// A checked users file; only [`load`] and [`parse`] make one, so it cannot be invalid.
#[derive(Clone, Debug)]
pub struct UsersFile {
    source: String,
    users: Vec<FileUser>,
}

/// One user as the file describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileUser {
    /// Canonical username.
    pub username: Username,
    /// Display name; the username when the file gives none.
    pub display_name: String,
    /// Email address; `None` removes one the store holds.
    pub email: Option<String>,
    /// Exactly the groups the user is in.
    pub groups: BTreeSet<GroupName>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// The Argon2 hash to set; `None` leaves the stored password alone (new users then get
    /// a hash no password matches until an administrator sets one).
    pub password_hash: Option<PasswordHash>,
}

/// A users file that could not be loaded, with every problem found.
#[derive(Debug)]
pub struct UsersFileError {
    /// One `file:line:column: message` (or `file: message`) line per problem.
    pub problems: Vec<String>,
}

impl UsersFile {
    /// Where the file came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The users, ordered by username; no name appears twice.
    pub fn users(&self) -> &[FileUser] {
        &self.users
    }
}

impl fmt::Display for UsersFileError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for UsersFileError {}

/// Reads and checks the users file at `path`.
///
/// # Errors
/// A [`UsersFileError`] naming the file, line and column of each problem.
pub fn load(path: &Path) -> Result<UsersFile, UsersFileError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| UsersFileError {
        problems: vec![format!("{source}: cannot read the file: {error}")],
    })?;
    parse(&text, &source)
}

/// Checks users file text; `source` names it in messages.
///
/// # Errors
/// A [`UsersFileError`] naming `source`, line and column of each problem.
pub fn parse(text: &str, source: &str) -> Result<UsersFile, UsersFileError> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|error| UsersFileError {
        problems: vec![yaml_error_headline(&error, source)],
    })?;
    let mut problems = Problems {
        source,
        found: Vec::new(),
    };
    let mut users: BTreeMap<Username, (FileUser, u64)> = BTreeMap::new();
    for (name, raw_user) in raw.users.0 {
        let Some(user) = check_user(&name, raw_user.unwrap_or_default(), &mut problems) else {
            continue;
        };
        if let Some((_, first_line)) = users.get(&user.username) {
            let message = format!(
                "user `{}` is already listed at line {first_line}",
                user.username
            );
            problems.record(&name, &message);
            continue;
        }
        users.insert(user.username.clone(), (user, name.referenced.line()));
    }
    if !problems.found.is_empty() {
        return Err(UsersFileError {
            problems: problems.found,
        });
    }
    let users = users.into_values().map(|(user, _)| user).collect();
    Ok(UsersFile {
        source: source.to_owned(),
        users,
    })
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    users: RawUsers,
}

/// The `users` mapping in file order, each name with its place.
#[derive(Debug)]
struct RawUsers(Vec<(Spanned<String>, Option<RawUser>)>);

/// One entry as written; `carol:` with nothing after it is a user with defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    disabled: bool,
    password_hash: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawUsers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawUsersVisitor)
    }
}

struct RawUsersVisitor;

impl<'de> Visitor<'de> for RawUsersVisitor {
    type Value = RawUsers;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a mapping from usernames to user entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUsers, A::Error> {
        let mut entries = Vec::new();
        while let Some(name) = map.next_key::<Spanned<String>>()? {
            entries.push((name, map.next_value::<Option<RawUser>>()?));
        }
        Ok(RawUsers(entries))
    }
}

/// Problems found so far, each at its place in the file.
struct Problems<'a> {
    source: &'a str,
    found: Vec<String>,
}

impl Problems<'_> {
    /// The value of `result`, or `None` with its error recorded at `place`.
    fn check<T, P, E: fmt::Display>(
        &mut self,
        place: &Spanned<P>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.record(place, &error.to_string());
                None
            }
        }
    }

    fn record<P>(&mut self, place: &Spanned<P>, message: &str) {
        let location = place.referenced;
        let (line, column) = (location.line(), location.column());
        self.found
            .push(format!("{}:{line}:{column}: {message}", self.source));
    }
}

/// Checks one entry; `None` when it has a problem (recorded in `problems`).
fn check_user(
    name: &Spanned<String>,
    raw: RawUser,
    problems: &mut Problems<'_>,
) -> Option<FileUser> {
    let before = problems.found.len();
    let username = problems.check(
        name,
        Username::parse(&name.value).map_err(IdentityError::InvalidUsername),
    );
    let display_name = raw
        .name
        .as_ref()
        .and_then(|name| problems.check(name, checked_display_name(&name.value)));
    let email = raw
        .email
        .as_ref()
        .and_then(|email| problems.check(email, checked_email(&email.value)));
    let mut groups = BTreeSet::new();
    for group in &raw.groups {
        let parsed = GroupName::parse(&group.value).map_err(IdentityError::InvalidGroupName);
        groups.extend(problems.check(group, parsed));
    }
    let password_hash = raw.password_hash.as_ref().and_then(|hash| {
        let parsed = PasswordHash::from_phc(hash.value.as_str()).map_err(|_| BAD_HASH);
        problems.check(hash, parsed)
    });

    let username = username.filter(|_| problems.found.len() == before)?;
    Some(FileUser {
        display_name: display_name.unwrap_or_else(|| username.to_string()),
        username,
        email,
        groups,
        disabled: raw.disabled,
        password_hash,
    })
}

/// The message for a hash that does not parse; never the value, which may be secret.
const BAD_HASH: &str =
    "expected an argon2 PHC string (`$argon2id$...`, as `portcullis user hash-password` prints)";

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$\
                        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn problems(text: &str) -> Vec<String> {
        parse(text, "users.yaml").unwrap_err().problems
    }

    #[test]
    fn the_documented_shape_parses_into_canonical_users() {
        let text = format!(
            "users:\n  Alice: {{ name: ' Alice Example ', email: alice@example.test, \
             groups: [Staff, staff], password_hash: \"{HASH}\" }}\n  \
             bob: {{ groups: [staff, admins], disabled: true }}\n  carol:\n"
        );
        let file = parse(&text, "users.yaml").unwrap();
        let names: Vec<&str> = file.users().iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);

        let alice = &file.users()[0];
        assert_eq!(alice.display_name, "Alice Example");
        assert_eq!(alice.email.as_deref(), Some("alice@example.test"));
        assert_eq!(alice.groups.len(), 1);
        assert_eq!(alice.password_hash.as_ref().unwrap().as_phc(), HASH);
        assert!(file.users()[1].disabled);
        assert_eq!(file.users()[2].display_name, "carol");
        assert!(file.users()[2].groups.is_empty());
    }

    #[test]
    fn unknown_keys_are_reported_with_line_and_column() {
        let found = problems("users:\n  alice:\n    password: hunter2\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("users.yaml:3:5: unknown field `password`"),
            "{found:?}"
        );
        assert!(!found[0].contains("hunter2"), "{found:?}");

        let found = problems("users: {}\ngroups: {}\n");
        assert!(found[0].starts_with("users.yaml:2:1:"), "{found:?}");
    }

    #[test]
    fn every_bad_value_is_reported_at_its_place() {
        let text = "users:\n  alice:\n    email: not-an-address\n    groups: [ok, 'a b']\n  \
                    'x/y': {}\n  bob:\n    password_hash: \"$2b$12$secretbcrypt\"\n";
        let found = problems(text);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(
            found[0].starts_with("users.yaml:3:12: invalid email"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("users.yaml:4:18: invalid group"),
            "{found:?}"
        );
        assert!(
            found[2].starts_with("users.yaml:5:3: invalid username"),
            "{found:?}"
        );
        assert!(
            found[3].starts_with("users.yaml:7:20: expected an argon2"),
            "{found:?}"
        );
        assert!(!found.join("\n").contains("secretbcrypt"), "{found:?}");
    }

    #[test]
    fn names_that_canonicalise_alike_are_one_user_listed_twice() {
        let found = problems("users:\n  alice: {}\n  ALICE: {}\n");
        assert_eq!(
            found,
            ["users.yaml:3:3: user `alice` is already listed at line 2"]
        );
        let found = problems("users:\n  alice: {}\n  alice: {}\n");
        assert!(found[0].starts_with("users.yaml:3:3:"), "{found:?}");
    }

    #[test]
    fn syntax_errors_show_no_part_of_the_file() {
        let text = format!("users:\n  alice: {{ password_hash: \"{HASH}\"\n  bob: [\n");
        let found = problems(&text);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("users.yaml:"), "{found:?}");
        assert!(!found[0].contains("argon2"), "{found:?}");
        assert!(!found[0].contains('\n'), "{found:?}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = load(Path::new("/nonexistent/users.yaml")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/users.yaml: cannot read the file"),
            "{error}"
        );
    }
}
