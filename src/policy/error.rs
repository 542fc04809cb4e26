//! Errors found while compiling a policy.
//!
//! Owns the wording of compile errors. Every error names the object at fault (app and
//! `rules[i]`, role or network) so an operator can find it; the config loader adds the file
//! position. A policy with any error is not built at all: there is no partial policy.

use super::pattern::PatternError;

/// A reason why [`Policy::compile`](super::Policy::compile) rejected the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A problem with one rule of one app.
    #[error("app {app:?}: rules[{rule}]: {problem}")]
    Rule {
        /// The app's name.
        app: String,
        /// The rule's position in the app's `rules:` list, from 0.
        rule: usize,
        /// What is wrong with it.
        problem: RuleProblem,
    },
    /// Roles include each other in a loop; the chain is listed from the first role back to it.
    #[error("role cycle: {}", chain.join(" -> "))]
    RoleCycle {
        /// The roles in the loop, the first repeated at the end.
        chain: Vec<String>,
    },
    /// A role includes a role that is not defined.
    #[error("role {role:?}: includes unknown role {included:?}")]
    UnknownIncludedRole {
        /// The role being defined.
        role: String,
        /// The missing role it names.
        included: String,
    },
    /// A role names an empty user or group.
    #[error("role {role:?}: empty {field} name")]
    EmptyRoleMember {
        /// The role being defined.
        role: String,
        /// `users`, `groups` or `roles`.
        field: &'static str,
    },
    /// A named network has no entries, so a rule using it could never match.
    #[error("network {name:?}: lists no addresses")]
    EmptyNetwork {
        /// The network's name.
        name: String,
    },
    /// A network name that reads as an address would make rule entries ambiguous.
    #[error("network {name:?}: a network name must not be an address or CIDR")]
    NetworkNamedLikeAddress {
        /// The network's name.
        name: String,
    },
    /// Two apps share a name, so decisions and logs could not tell them apart.
    #[error("app {app:?}: defined more than once")]
    DuplicateApp {
        /// The repeated name.
        app: String,
    },
    /// An app whose rules exceed the 32-bit numbering of the compiled path matcher.
    #[error("app {app:?}: too many rules or path segments")]
    AppTooLarge {
        /// The app's name.
        app: String,
    },
    /// An app without a name.
    #[error("app #{position}: empty name")]
    EmptyAppName {
        /// The app's position in the list given to compile, from 0.
        position: usize,
    },
}

/// What is wrong with one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleProblem {
    /// A `networks:` entry that is neither a defined network nor a CIDR or address.
    #[error("unknown network {name:?}")]
    UnknownNetwork {
        /// The entry as written.
        name: String,
    },
    /// `allow.roles` names a role that is not defined.
    #[error("unknown role {role:?}")]
    UnknownRole {
        /// The role as written.
        role: String,
    },
    /// A path pattern that could never match a canonical path.
    #[error("{field} pattern {pattern:?}: {reason}")]
    BadPattern {
        /// `paths` or `exclude_paths`.
        field: &'static str,
        /// The pattern as written.
        pattern: String,
        /// Why it was rejected.
        reason: PatternError,
    },
    /// A method that is not an HTTP token.
    #[error("method {method:?} is not a valid HTTP method")]
    BadMethod {
        /// The method as written.
        method: String,
    },
    /// `deny: true` together with `auth`, `allow` or `max_auth_age`.
    #[error("`deny: true` cannot be combined with `auth`, `allow` or `max_auth_age`")]
    DenyWithAuth,
    /// Neither `deny: true` nor `auth`.
    #[error("rule needs `auth:` or `deny: true`")]
    MissingAction,
    /// `auth: public` with `allow`: public admits anonymous users, so the list would be moot.
    #[error("`auth: public` cannot have `allow` (public admits anonymous users)")]
    PublicWithAllow,
    /// `auth: public` with `max_auth_age`.
    #[error("`auth: public` cannot have `max_auth_age`")]
    PublicWithMaxAuthAge,
    /// `max_auth_age: 0s` would send every request back to sign in.
    #[error("`max_auth_age` must be longer than zero")]
    ZeroMaxAuthAge,
    /// A condition list that is present but empty; absent means "all".
    #[error("`{field}` is empty; leave it out to match all")]
    EmptyList {
        /// `paths`, `methods` or `networks`.
        field: &'static str,
    },
    /// `allow` that names nobody.
    #[error("`allow` names no users, groups or roles")]
    EmptyAllow,
    /// An empty name in `allow`.
    #[error("`allow.{field}` has an empty name")]
    EmptyAllowName {
        /// `users`, `groups` or `roles`.
        field: &'static str,
    },
}
