//! Route policy: compiles the `rules:` of every app into matchers and decides per request
//! whether it may pass.
//!
//! Owns the policy semantics below, rule compilation, the decision, explanations, lints and
//! policy tests. Trusts the caller for the facts: the app (chosen from the Host), the
//! canonical path (decoded and normalised once by the proxy, without query or fragment),
//! the client address (from the socket, or from a trusted proxy's header) and the session.
//! Guarantees that every error path ends in a deny and that a compiled policy holds no
//! dangling name or contradictory rule.
//!
//! # Semantics
//!
//! - **First match decides.** An app's rules are tried in the order written; the first rule
//!   whose conditions all hold decides, and later rules are not looked at.
//! - **Conditions.** A rule matches when the path matches one of its `paths` (all paths when
//!   absent) and none of its `exclude_paths`, the method is one of its `methods` (ignoring
//!   ASCII case, so a `deny` for `DELETE` also catches `delete`) and the client address is
//!   in one of its `networks`. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) counts as
//!   the IPv4 address.
//! - **Patterns.** `/healthz` matches exactly that path (not `/healthz/`). `/x/**` matches
//!   `/x`, `/x/` and everything under it, but not `/xy`. `*` is one whole, non-empty
//!   segment: `/files/*/thumb.png`. The query string is never part of the path, so
//!   `/admin?x=/public/a` cannot match `/public/**`.
//! - **Case.** Paths are case-sensitive (`/ADMIN/users` is not `/admin/users`) unless the
//!   app sets `case_insensitive_paths`, in which case patterns and paths are lowercased.
//! - **No match** applies the global `default`: `deny` (the default), `public`,
//!   `one_factor` or `two_factor`.
//! - **Actions.** `deny: true` refuses everyone, signed in or not (403). `auth: public`
//!   lets everyone through. Otherwise, in this order: nobody signed in -> `Login` (never
//!   403, so an anonymous user is sent to sign in rather than refused); signed in but in
//!   none of `allow`'s users, groups or roles -> `Deny` (403); one factor on a `two_factor`
//!   rule -> `StepUp`; last sign-in older than `max_auth_age` -> `Reauthenticate`;
//!   otherwise `Allow`.
//! - **Roles.** A user has a role if named in its `users`, member of one of its `groups`,
//!   or holder of a role in its `roles`, transitively. Roles are flattened to user and
//!   group sets at compile time; cycles and unknown roles are compile errors.
//! - **Fail closed.** An unknown app id or a path that does not start with `/` is denied;
//!   a session with 0 factors counts as nobody; a sign-in time more than five minutes in
//!   the future fails `max_auth_age`. A config with any error compiles to nothing.
//!
//! # Cost
//!
//! [`Policy::decide`] indexes the app by [`AppId`] (no search over apps), walks the app's
//! segment trie along the path and checks method, network and exclusions only for rules
//! whose pattern matched, lowest index first; see the `trie` module for the bound. It does
//! not allocate, except to lowercase the path of a case-insensitive app that has upper case
//! or non-ASCII letters. Membership costs one hash lookup for the user and one per group of
//! the subject, in a policy-wide name table, then a binary search in the rule's sorted list.
//! The per-request cost does not depend on the number of apps, nor on the number of rules
//! whose patterns do not match the path; `benches/policy.rs` measures it from 10 to 10,000
//! rules.

mod app;
mod cases;
mod config;
mod de;
mod decision;
mod error;
mod explain;
mod lint;
mod method;
mod names;
mod pattern;
mod roles;
mod rule;
mod trie;

use std::collections::BTreeMap;
use std::time::SystemTime;

use ipnet::IpNet;

use self::app::{CompiledApp, Globals};
pub use self::cases::{
    AppPathResolver, CaseFileError, CaseOutcome, CaseResult, CaseTarget, LocatedCase,
    ResolvedTarget, TargetResolver, TestCase, parse_cases, run_case_file, run_cases,
};
pub use self::config::{
    AllowConfig, AppPolicyConfig, AppPolicyInput, AuthLevel, DefaultAction, PolicyConfig,
    RoleConfig, RuleConfig,
};
pub use self::de::{networks as deserialize_networks, optional_duration as deserialize_duration};
pub use self::decision::{Decision, DecisionKind, DenyReason, RequestFacts, RuleRef, Subject};
pub use self::error::{PolicyError, RuleProblem};
pub use self::explain::{Explanation, RuleStep, StepOutcome};
pub use self::lint::{KnownSubjects, Lint, LintKind, LintSite};
use self::names::{FastMap, NameTable};
pub use self::pattern::PatternError;
use self::rule::Miss;

/// A compiled policy for a set of apps; immutable, cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Policy {
    apps: Vec<CompiledApp>,
    names: NameTable,
    by_name: FastMap<Box<str>, AppId>,
    default: DefaultAction,
    roles: BTreeMap<String, RoleConfig>,
}

/// An app of one compiled [`Policy`]: the position of the app in the list given to
/// [`Policy::compile`].
///
/// An id is only meaningful for the policy it came from; after a reload, look ids up again.
/// An id that the policy does not know is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(usize);

impl AppId {
    /// The id of the app at `position` in the list given to [`Policy::compile`].
    pub fn from_position(position: usize) -> Self {
        AppId(position)
    }

    /// The app's position in the list given to [`Policy::compile`].
    pub fn position(self) -> usize {
        self.0
    }
}

impl Policy {
    /// The roles a user holds: named in a role's `users`, member of one of its `groups`, or
    /// holder of a role it includes, transitively. For identity headers and tokens, not for
    /// decisions (those use the compiled sets); the cost grows with the number of roles.
    pub fn roles_of(&self, user: &str, groups: &[String]) -> Vec<String> {
        if self.roles.is_empty() {
            // The common case costs nothing on the request path: no walk, no allocation.
            return Vec::new();
        }
        let direct = |role: &RoleConfig| {
            role.users.iter().any(|name| name == user)
                || role.groups.iter().any(|group| groups.contains(group))
        };
        let mut held: std::collections::BTreeSet<&str> = self
            .roles
            .iter()
            .filter(|(_, role)| direct(role))
            .map(|(name, _)| name.as_str())
            .collect();
        loop {
            let before = held.len();
            for (name, role) in &self.roles {
                if role
                    .roles
                    .iter()
                    .any(|included| held.contains(included.as_str()))
                {
                    held.insert(name);
                }
            }
            if held.len() == before {
                return held.into_iter().map(str::to_owned).collect();
            }
        }
    }

    /// Checks and compiles the global policy and every app's rules.
    ///
    /// App `i` of `apps` gets `AppId::from_position(i)`.
    ///
    /// # Errors
    /// Every problem found, each naming its app and rule, role or network.
    pub fn compile(
        config: &PolicyConfig,
        apps: &[AppPolicyInput<'_>],
    ) -> Result<Policy, Vec<PolicyError>> {
        let mut errors = check_networks(&config.networks);
        let (roles, role_errors) = roles::resolve(&config.roles);
        errors.extend(role_errors);
        let globals = Globals {
            networks: &config.networks,
            roles: &roles,
            default: config.default,
        };

        let mut compiled = Vec::with_capacity(apps.len());
        let mut names = NameTable::default();
        let mut by_name = FastMap::default();
        for (position, input) in apps.iter().enumerate() {
            if let Err(error) = register(&mut by_name, input.name, position) {
                errors.push(error);
            }
            match CompiledApp::compile(input, &globals, &mut names) {
                Ok(app) => compiled.push(app),
                Err(app_errors) => errors.extend(app_errors),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            apps: compiled,
            names,
            by_name,
            default: config.default,
            roles: config.roles.clone(),
        })
    }

    /// The id of the app called `name`.
    pub fn app_id(&self, name: &str) -> Option<AppId> {
        self.by_name.get(name).copied()
    }

    /// The name of app `app`.
    pub fn app_name(&self, app: AppId) -> Option<&str> {
        self.apps.get(app.0).map(|app| &*app.name)
    }

    /// How many apps the policy holds.
    pub fn app_count(&self) -> usize {
        self.apps.len()
    }

    /// The global default action.
    pub fn default_action(&self) -> DefaultAction {
        self.default
    }

    /// Decides whether a request to `app` by `subject` (`None` = nobody signed in) may pass.
    ///
    /// `now` is the clock used for `max_auth_age`. See the module docs for the semantics.
    pub fn decide(
        &self,
        app: AppId,
        request: &RequestFacts<'_>,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
    ) -> Decision {
        let Some(compiled) = self.apps.get(app.0) else {
            return Decision::Deny {
                rule: None,
                reason: DenyReason::UnknownApp,
            };
        };
        let decision = compiled.decide(request, subject, now, &self.names);
        tracing::debug!(
            app = %compiled.name,
            rule = ?decision.rule().and_then(RuleRef::index),
            decision = %decision.kind(),
            "policy decision"
        );
        decision
    }

    /// Decides like [`decide`](Self::decide) and records every rule tried and why.
    ///
    /// Slower than `decide` (it walks the rules in order and allocates); for the command
    /// line, the admin API and policy tests, not for the request path.
    pub fn explain(
        &self,
        app: AppId,
        request: &RequestFacts<'_>,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
    ) -> Explanation {
        let decision = self.decide(app, request, subject, now);
        let Some(compiled) = self.apps.get(app.0) else {
            return Explanation {
                app: None,
                path: request.path.to_owned(),
                method: request.method.to_owned(),
                steps: Vec::new(),
                used_default: false,
                decision,
            };
        };

        let path = compiled.matching_path(request.path);
        let ip = request.client_ip.to_canonical();
        let trace = compiled.trace(&path, request.method, ip);
        let steps = trace
            .iter()
            .map(|&(index, miss)| step(compiled, index, miss))
            .collect();
        let matched = trace.last().is_some_and(|(_, miss)| miss.is_none());
        Explanation {
            app: Some(compiled.name.to_string()),
            path: path.into_owned(),
            method: request.method.to_owned(),
            steps,
            used_default: !matched && request.path.starts_with('/'),
            decision,
        }
    }

    /// Warnings about rules that are legal but probably not what was meant.
    ///
    /// `known` lists the users and groups the directory has, where known; names outside
    /// them are reported. See [`LintKind`] for what is checked.
    pub fn lint(&self, known: &KnownSubjects<'_>) -> Vec<Lint> {
        lint::lint(&self.apps, self.default, &self.roles, known)
    }
}

/// Records `name` for `position`, refusing empty and repeated names.
fn register(
    by_name: &mut FastMap<Box<str>, AppId>,
    name: &str,
    position: usize,
) -> Result<(), PolicyError> {
    if name.is_empty() {
        return Err(PolicyError::EmptyAppName { position });
    }
    match by_name.insert(name.into(), AppId(position)) {
        Some(_) => Err(PolicyError::DuplicateApp {
            app: name.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Refuses empty networks and network names that read as addresses.
fn check_networks(networks: &BTreeMap<String, Vec<IpNet>>) -> Vec<PolicyError> {
    let mut errors = Vec::new();
    for (name, entries) in networks {
        if de::parse_network(name).is_some() {
            errors.push(PolicyError::NetworkNamedLikeAddress { name: name.clone() });
        }
        if entries.is_empty() {
            errors.push(PolicyError::EmptyNetwork { name: name.clone() });
        }
    }
    errors
}

/// One explanation step for rule `index` of `app`.
fn step(app: &CompiledApp, index: usize, miss: Option<Miss>) -> RuleStep {
    let rule = &app.rules[index];
    let outcome = match miss {
        None => StepOutcome::Matched,
        Some(Miss::Path) => StepOutcome::PathNotMatched,
        Some(Miss::Method) => StepOutcome::MethodNotListed,
        Some(Miss::Network) => StepOutcome::NetworkNotListed,
        Some(Miss::Excluded(position)) => StepOutcome::Excluded {
            pattern: rule.excludes[position].source().to_owned(),
        },
    };
    RuleStep {
        rule: rule.reference.clone(),
        outcome,
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
