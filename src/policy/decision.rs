//! The decision API's values: what the caller tells the engine and what it gets back.
//!
//! Owns the request facts, the subject, the decision and the reference to the deciding rule.
//! Trusts the caller for the canonical path, the client address (already taken from a
//! trusted proxy's header or the socket) and the session facts. Guarantees that every
//! decision names the rule that made it, except when there was no app to ask.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;

/// The facts about one request that rules can look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request method as sent (`GET`); rules compare it ignoring ASCII case.
    pub method: &'a str,
    /// The canonical path: decoded, normalised, without query or fragment.
    ///
    /// For a case-insensitive app the engine lowercases it before matching.
    pub path: &'a str,
    /// The client address; an IPv4-mapped IPv6 address counts as the IPv4 address.
    pub client_ip: IpAddr,
}

/// The signed-in person behind a request.
///
/// Pass `None` instead of a subject for anonymous requests and for sessions that have not
/// finished signing in (password done, second factor pending).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user name, as the directory spells it; compared exactly.
    pub user: &'a str,
    /// The user's groups, as the directory spells them; compared exactly.
    pub groups: &'a [String],
    /// How many factors the session completed: 1 or 2 (0 counts as not signed in).
    pub factors: u8,
    /// When the user last proved a factor; used by `max_auth_age`.
    pub auth_time: SystemTime,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward the request; `public` is true when no sign-in was needed.
    Allow {
        /// The deciding rule.
        rule: RuleRef,
        /// Whether the rule is public (no identity needs to be sent upstream).
        public: bool,
    },
    /// Nobody is signed in and the rule needs someone: send to the portal.
    Login {
        /// The deciding rule.
        rule: RuleRef,
    },
    /// Signed in with one factor but the rule needs two.
    StepUp {
        /// The deciding rule.
        rule: RuleRef,
    },
    /// Signed in, but longer ago than the rule's `max_auth_age`.
    Reauthenticate {
        /// The deciding rule.
        rule: RuleRef,
    },
    /// Refuse with 403.
    Deny {
        /// The deciding rule, or `None` when the app or path could not be looked up.
        rule: Option<RuleRef>,
        /// Why.
        reason: DenyReason,
    },
}

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// A rule with `deny: true` matched.
    DenyRule,
    /// The subject is signed in but not in the rule's `allow` list.
    NotAllowed,
    /// No rule matched and the default action is `deny`.
    NoMatchingRule,
    /// The app id does not belong to this policy (fail closed).
    UnknownApp,
    /// The path is not a canonical path (does not start with `/`).
    InvalidPath,
}

/// The kind of a decision, without its details; what policy test files expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// [`Decision::Allow`].
    Allow,
    /// [`Decision::Login`].
    Login,
    /// [`Decision::StepUp`].
    StepUp,
    /// [`Decision::Reauthenticate`].
    Reauthenticate,
    /// [`Decision::Deny`].
    Deny,
}

/// A cheap handle naming a rule (or an app's default) for decisions and logs.
///
/// Cloning it copies a pointer; two references are equal when they name the same app and
/// position.
#[derive(Clone)]
pub struct RuleRef(Arc<RuleInfo>);

/// What a [`RuleRef`] points at.
#[derive(Debug)]
struct RuleInfo {
    app: Box<str>,
    index: Option<usize>,
    description: Box<str>,
}

impl Decision {
    /// The kind of this decision.
    pub fn kind(&self) -> DecisionKind {
        match self {
            Decision::Allow { .. } => DecisionKind::Allow,
            Decision::Login { .. } => DecisionKind::Login,
            Decision::StepUp { .. } => DecisionKind::StepUp,
            Decision::Reauthenticate { .. } => DecisionKind::Reauthenticate,
            Decision::Deny { .. } => DecisionKind::Deny,
        }
    }

    /// The deciding rule, if there was one.
    pub fn rule(&self) -> Option<&RuleRef> {
        match self {
            Decision::Allow { rule, .. }
            | Decision::Login { rule }
            | Decision::StepUp { rule }
            | Decision::Reauthenticate { rule } => Some(rule),
            Decision::Deny { rule, .. } => rule.as_ref(),
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecisionKind::Allow => "allow",
            DecisionKind::Login => "login",
            DecisionKind::StepUp => "step_up",
            DecisionKind::Reauthenticate => "reauthenticate",
            DecisionKind::Deny => "deny",
        })
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::DenyRule => "rule denies everyone",
            DenyReason::NotAllowed => "subject not in allow list",
            DenyReason::NoMatchingRule => "no rule matched and the default is deny",
            DenyReason::UnknownApp => "unknown app",
            DenyReason::InvalidPath => "path is not canonical",
        })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow { public: true, .. } => f.write_str("allow (public)")?,
            Decision::Deny { reason, .. } => write!(f, "deny ({reason})")?,
            _ => write!(f, "{}", self.kind())?,
        }
        match self.rule() {
            Some(rule) => write!(f, " by {rule}"),
            None => Ok(()),
        }
    }
}

impl RuleRef {
    /// A reference to rule `index` of `app`, or to the app's default when `index` is `None`.
    pub(crate) fn new(app: &str, index: Option<usize>, description: String) -> Self {
        RuleRef(Arc::new(RuleInfo {
            app: app.into(),
            index,
            description: description.into(),
        }))
    }

    /// The app's name.
    pub fn app(&self) -> &str {
        &self.0.app
    }

    /// The rule's position in the app's `rules:` list, or `None` for the global default.
    pub fn index(&self) -> Option<usize> {
        self.0.index
    }

    /// A short summary of the rule, such as `/admin/** -> two_factor`.
    pub fn description(&self) -> &str {
        &self.0.description
    }
}

impl PartialEq for RuleRef {
    fn eq(&self, other: &Self) -> bool {
        self.app() == other.app() && self.index() == other.index()
    }
}

impl Eq for RuleRef {}

impl fmt::Debug for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuleRef({self})")
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index() {
            Some(index) => write!(f, "{} rules[{index}] ({})", self.app(), self.description()),
            None => write!(f, "{} default ({})", self.app(), self.description()),
        }
    }
}
