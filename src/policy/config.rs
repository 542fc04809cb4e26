//! Configuration types of the policy engine, as written in YAML.
//!
//! Owns the serde shape of `networks:`, `roles:`, `default:` and an app's `rules:` list.
//! Trusts nothing: every type rejects unknown keys, and these types are only the input of
//! [`Policy::compile`](super::Policy::compile), which checks everything else (names,
//! patterns, combinations) and is the only way to get something that can decide.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::de;

/// The global part of the policy: named networks, roles and the default action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Named CIDR lists that rules refer to by name (`office: [10.20.0.0/16]`).
    ///
    /// A bare address stands for a single host (`/32` or `/128`).
    #[serde(default, deserialize_with = "de::networks")]
    pub networks: BTreeMap<String, Vec<IpNet>>,
    /// Named roles; a role may include other roles, cycles are rejected at compile time.
    #[serde(default)]
    pub roles: BTreeMap<String, RoleConfig>,
    /// What happens to a request that no rule of its app matches (default `deny`).
    #[serde(default)]
    pub default: DefaultAction,
}

/// Who has a role: named users, members of groups, and holders of included roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// User names that have the role.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups whose members have the role.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Other roles whose holders also have this role (transitively).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The action for requests that match no rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// Refuse with 403 (the default: fail closed).
    #[default]
    Deny,
    /// Let everyone through, signed in or not.
    Public,
    /// Any signed-in user.
    OneFactor,
    /// Any user signed in with two factors.
    TwoFactor,
}

/// The authentication a rule requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthLevel {
    /// No sign-in needed.
    Public,
    /// A signed-in session (password, passkey or any one factor).
    OneFactor,
    /// A session that completed two factors.
    TwoFactor,
}

/// One entry of an app's ordered `rules:` list; the first rule that matches decides.
///
/// A rule matches a request when its path matches one of `paths` (all paths when absent)
/// and none of `exclude_paths`, its method is in `methods` (all when absent) and the client
/// address is in one of `networks` (all when absent). Its action is either `deny: true` or
/// `auth:` with optional `allow:` and `max_auth_age:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Path patterns: exact `/healthz`, prefix `/x/**`, single segment `/files/*/thumb.png`.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Path patterns that this rule does not match even when `paths` does.
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// HTTP methods (compared ignoring ASCII case).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Names from the global `networks:` or literal CIDRs / addresses.
    #[serde(default)]
    pub networks: Option<Vec<String>>,
    /// Refuse every matching request, signed in or not.
    #[serde(default)]
    pub deny: bool,
    /// The authentication required.
    #[serde(default)]
    pub auth: Option<AuthLevel>,
    /// Only these subjects may pass (others who are signed in get 403).
    #[serde(default)]
    pub allow: Option<AllowConfig>,
    /// The last sign-in must be at most this old (`30m`, `12h`).
    #[serde(default, deserialize_with = "de::optional_duration")]
    pub max_auth_age: Option<Duration>,
}

/// Subjects admitted by a rule: a user passes if named, in a group, or holding a role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowConfig {
    /// User names.
    #[serde(default)]
    pub users: Vec<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Role names (must be defined in `roles:`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The policy part of one app, owned; handy for tests and stand-alone policy files.
///
/// The main configuration usually owns its app struct and lends the parts through
/// [`AppPolicyInput::new`] instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPolicyConfig {
    /// The app's unique name, used in errors, logs and decisions.
    pub name: String,
    /// Match paths ignoring case (legacy servers that treat `/ADMIN` as `/admin`).
    #[serde(default)]
    pub case_insensitive_paths: bool,
    /// Ordered rules; the first match decides.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// What [`Policy::compile`](super::Policy::compile) needs of one app, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct AppPolicyInput<'a> {
    /// The app's unique name.
    pub name: &'a str,
    /// Match paths ignoring case.
    pub case_insensitive_paths: bool,
    /// Ordered rules; the first match decides.
    pub rules: &'a [RuleConfig],
}

impl<'a> AppPolicyInput<'a> {
    /// Borrows the policy parts of an app whose config struct lives elsewhere.
    pub fn new(name: &'a str, case_insensitive_paths: bool, rules: &'a [RuleConfig]) -> Self {
        Self {
            name,
            case_insensitive_paths,
            rules,
        }
    }
}

impl<'a> From<&'a AppPolicyConfig> for AppPolicyInput<'a> {
    fn from(app: &'a AppPolicyConfig) -> Self {
        Self::new(&app.name, app.case_insensitive_paths, &app.rules)
    }
}

impl AuthLevel {
    /// The level as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthLevel::Public => "public",
            AuthLevel::OneFactor => "one_factor",
            AuthLevel::TwoFactor => "two_factor",
        }
    }
}

impl DefaultAction {
    /// The action as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultAction::Deny => "deny",
            DefaultAction::Public => "public",
            DefaultAction::OneFactor => "one_factor",
            DefaultAction::TwoFactor => "two_factor",
        }
    }

    /// The authentication level this default stands for, or `None` for `deny`.
    pub fn auth_level(self) -> Option<AuthLevel> {
        match self {
            DefaultAction::Deny => None,
            DefaultAction::Public => Some(AuthLevel::Public),
            DefaultAction::OneFactor => Some(AuthLevel::OneFactor),
            DefaultAction::TwoFactor => Some(AuthLevel::TwoFactor),
        }
    }
}
