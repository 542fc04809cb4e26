//! One compiled rule: its conditions, its action, and how the action becomes a decision.
//!
//! Owns the per-rule semantics: the order of checks inside a rule (anonymous -> Login,
//! not allowed -> Deny, one factor on a two-factor rule -> StepUp, stale sign-in ->
//! Reauthenticate). Trusts the path it is handed to be canonical and already case-folded
//! for case-insensitive apps, and the client address to be in canonical form. Guarantees
//! that a rule that compiled has no contradictory or dangling setting.

mod compile;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use super::config::{AllowConfig, AuthLevel};
use super::decision::{Decision, DenyReason, RuleRef, Subject};
use super::method::MethodSet;
use super::names::NameTable;
use super::pattern::Pattern;
pub(crate) use compile::RuleContext;

/// How far in the future a session's sign-in time may lie before it counts as stale.
///
/// Sign-in times come from the session store, possibly written by another gateway whose
/// clock runs slightly ahead; beyond this the time is not plausible and the rule fails closed.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A rule ready to match and decide.
///
/// What a decision reads sits in the struct itself, conditions first, starting on a cache
/// line; what only explanations and lints read sits behind `detail`. With many apps little
/// of any one app is in cache, so the lines a decision touches are most of its cost.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct CompiledRule {
    /// `None` matches every method.
    pub(crate) methods: Option<MethodSet>,
    /// Canonical networks; `None` matches every address.
    pub(crate) networks: Option<Box<[IpNet]>>,
    pub(crate) excludes: Box<[Pattern]>,
    pub(crate) action: Action,
    pub(crate) reference: RuleRef,
    pub(crate) detail: Box<RuleDetail>,
}

/// The parts of a rule that only explanations, lints and compilation read.
#[derive(Debug)]
pub(crate) struct RuleDetail {
    /// Never empty: a rule without `paths` has the single pattern `/**`.
    pub(crate) paths: Vec<Pattern>,
    /// The `allow` list as written.
    pub(crate) allow_names: Option<AllowConfig>,
}

/// What a matching rule does.
#[derive(Debug)]
pub(crate) enum Action {
    Deny(DenyReason),
    Auth(AuthAction),
}

/// The requirements of a rule that lets someone through.
#[derive(Debug)]
pub(crate) struct AuthAction {
    pub(crate) level: AuthLevel,
    pub(crate) allow: Option<AllowSet>,
    pub(crate) max_auth_age: Option<Duration>,
}

/// The users and groups a rule admits, with roles already expanded, as sorted numbers
/// from the policy's [`NameTable`].
#[derive(Debug, Default)]
pub(crate) struct AllowSet {
    users: Box<[usize]>,
    groups: Box<[usize]>,
}

/// Why a rule did not match a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    Path,
    /// Matched the exclude pattern at this position.
    Excluded(usize),
    Method,
    Network,
}

impl CompiledRule {
    /// The rule's path patterns (`/**` when it has none).
    pub(crate) fn paths(&self) -> &[Pattern] {
        &self.detail.paths
    }

    /// Checks every condition, the path first; used by explain and tests.
    pub(crate) fn check(&self, path: &str, method: &str, ip: IpAddr) -> Result<(), Miss> {
        if !self.paths().iter().any(|pattern| pattern.matches(path)) {
            return Err(Miss::Path);
        }
        self.check_conditions(path, method, ip)
    }

    /// Checks method, network and exclusions, for a path that matched `paths`.
    pub(crate) fn check_conditions(
        &self,
        path: &str,
        method: &str,
        ip: IpAddr,
    ) -> Result<(), Miss> {
        if let Some(methods) = &self.methods
            && !methods.contains(method)
        {
            return Err(Miss::Method);
        }
        if let Some(networks) = &self.networks
            && !networks.iter().any(|network| network.contains(&ip))
        {
            return Err(Miss::Network);
        }
        match self
            .excludes
            .iter()
            .position(|pattern| pattern.matches(path))
        {
            Some(position) => Err(Miss::Excluded(position)),
            None => Ok(()),
        }
    }

    /// The decision of this rule for `subject`.
    pub(crate) fn decide(
        &self,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
        names: &NameTable,
    ) -> Decision {
        self.action.decide(&self.reference, subject, now, names)
    }

    /// Whether the rule is an `auth:` rule that needs someone signed in.
    pub(crate) fn is_protected(&self) -> bool {
        matches!(&self.action, Action::Auth(auth) if auth.level != AuthLevel::Public)
    }

    /// Whether the rule lets everyone through.
    pub(crate) fn is_public(&self) -> bool {
        matches!(&self.action, Action::Auth(auth) if auth.level == AuthLevel::Public)
    }
}

impl Action {
    /// The decision of this action, made on behalf of `rule`.
    pub(crate) fn decide(
        &self,
        rule: &RuleRef,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
        names: &NameTable,
    ) -> Decision {
        match self {
            Action::Deny(reason) => Decision::Deny {
                rule: Some(rule.clone()),
                reason: *reason,
            },
            Action::Auth(auth) => auth.decide(rule, subject, now, names),
        }
    }
}

impl AuthAction {
    /// Applies the checks in order: public, signed in, allowed, factors, freshness.
    ///
    /// Membership comes before factors so nobody is asked for a second factor only to be
    /// refused afterwards.
    fn decide(
        &self,
        rule: &RuleRef,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
        names: &NameTable,
    ) -> Decision {
        let rule = rule.clone();
        if self.level == AuthLevel::Public {
            return Decision::Allow { rule, public: true };
        }
        let Some(subject) = subject.filter(|subject| subject.factors >= 1) else {
            return Decision::Login { rule };
        };
        if let Some(allow) = &self.allow
            && !allow.admits(subject, names)
        {
            let (rule, reason) = (Some(rule), DenyReason::NotAllowed);
            return Decision::Deny { rule, reason };
        }
        if self.level == AuthLevel::TwoFactor && subject.factors < 2 {
            return Decision::StepUp { rule };
        }
        if let Some(max_age) = self.max_auth_age
            && !is_fresh(subject.auth_time, now, max_age)
        {
            return Decision::Reauthenticate { rule };
        }
        Decision::Allow {
            rule,
            public: false,
        }
    }
}

impl AllowSet {
    /// Whether the subject is named, or in one of the groups.
    fn admits(&self, subject: &Subject<'_>, names: &NameTable) -> bool {
        let listed =
            |id: Option<usize>, ids: &[usize]| id.is_some_and(|id| ids.binary_search(&id).is_ok());
        listed(names.user(subject.user), &self.users)
            || (subject.groups.iter()).any(|group| listed(names.group(group), &self.groups))
    }
}

/// Whether a sign-in at `auth_time` is at most `max_age` old at `now`.
fn is_fresh(auth_time: SystemTime, now: SystemTime, max_age: Duration) -> bool {
    match now.duration_since(auth_time) {
        Ok(age) => age <= max_age,
        Err(ahead) => ahead.duration() <= MAX_CLOCK_SKEW,
    }
}
