//! Compilation of one rule from its config: every check of a rule's own settings.
//!
//! Owns the rule-level compile errors (see [`RuleProblem`]). Reports every problem of a
//! rule, not only the first, so one run of `portcullis check` shows them all.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use ipnet::IpNet;

use super::{Action, AllowSet, AuthAction, CompiledRule, RuleDetail};
use crate::policy::config::{AllowConfig, AuthLevel, RuleConfig};
use crate::policy::de::parse_network;
use crate::policy::decision::{DenyReason, RuleRef};
use crate::policy::error::RuleProblem;
use crate::policy::method::MethodSet;
use crate::policy::names::NameTable;
use crate::policy::pattern::Pattern;
use crate::policy::roles::Members;

/// What compiling a rule needs from the rest of the policy.
pub(crate) struct RuleContext<'a> {
    pub(crate) app: &'a str,
    pub(crate) fold_case: bool,
    pub(crate) networks: &'a BTreeMap<String, Vec<IpNet>>,
    pub(crate) roles: &'a BTreeMap<String, Members>,
}

impl CompiledRule {
    /// Compiles rule `index` of the app in `context`, numbering names in `names`.
    ///
    /// # Errors
    /// Every problem found in the rule, not just the first.
    pub(crate) fn compile(
        context: &RuleContext<'_>,
        names: &mut NameTable,
        index: usize,
        config: &RuleConfig,
    ) -> Result<CompiledRule, Vec<RuleProblem>> {
        let mut problems = Vec::new();
        let fold_case = context.fold_case;
        let paths = match &config.paths {
            None => vec![Pattern::everything()],
            Some(list) => parse_patterns("paths", list, fold_case, &mut problems),
        };
        let excludes = parse_patterns(
            "exclude_paths",
            &config.exclude_paths,
            fold_case,
            &mut problems,
        );
        let methods = compile_methods(config.methods.as_deref(), &mut problems);
        let networks = compile_networks(context, config.networks.as_deref(), &mut problems);
        let action = compile_action(context, names, config, &mut problems);

        let Some(action) = action.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        Ok(CompiledRule {
            methods,
            networks: networks.map(Vec::into_boxed_slice),
            excludes: excludes.into_boxed_slice(),
            action,
            reference: RuleRef::new(context.app, Some(index), describe(config)),
            detail: Box::new(RuleDetail {
                paths,
                allow_names: config.allow.clone(),
            }),
        })
    }
}

/// Parses a list of patterns, recording the bad ones.
fn parse_patterns(
    field: &'static str,
    list: &[String],
    fold_case: bool,
    problems: &mut Vec<RuleProblem>,
) -> Vec<Pattern> {
    if list.is_empty() && field == "paths" {
        problems.push(RuleProblem::EmptyList { field });
    }
    let mut patterns = Vec::with_capacity(list.len());
    for source in list {
        match Pattern::parse(source, fold_case) {
            Ok(pattern) => patterns.push(pattern),
            Err(reason) => problems.push(RuleProblem::BadPattern {
                field,
                pattern: source.clone(),
                reason,
            }),
        }
    }
    patterns
}

/// Validates methods into a set.
fn compile_methods(list: Option<&[String]>, problems: &mut Vec<RuleProblem>) -> Option<MethodSet> {
    let list = list?;
    if list.is_empty() {
        problems.push(RuleProblem::EmptyList { field: "methods" });
        return None;
    }
    match MethodSet::parse(list) {
        Ok(methods) => Some(methods),
        Err(invalid) => {
            problems.extend(
                invalid
                    .into_iter()
                    .map(|method| RuleProblem::BadMethod { method }),
            );
            None
        }
    }
}

/// Resolves network names and literal CIDRs into one list.
fn compile_networks(
    context: &RuleContext<'_>,
    list: Option<&[String]>,
    problems: &mut Vec<RuleProblem>,
) -> Option<Vec<IpNet>> {
    let list = list?;
    if list.is_empty() {
        problems.push(RuleProblem::EmptyList { field: "networks" });
    }
    let mut networks = Vec::new();
    for entry in list {
        if let Some(named) = context.networks.get(entry) {
            networks.extend(named.iter().copied());
        } else if let Some(network) = parse_network(entry) {
            networks.push(network);
        } else {
            let name = entry.clone();
            problems.push(RuleProblem::UnknownNetwork { name });
        }
    }
    Some(networks)
}

/// Checks the combination of `deny`, `auth`, `allow` and `max_auth_age`.
fn compile_action(
    context: &RuleContext<'_>,
    names: &mut NameTable,
    config: &RuleConfig,
    problems: &mut Vec<RuleProblem>,
) -> Option<Action> {
    if config.deny {
        if config.auth.is_some() || config.allow.is_some() || config.max_auth_age.is_some() {
            problems.push(RuleProblem::DenyWithAuth);
            return None;
        }
        return Some(Action::Deny(DenyReason::DenyRule));
    }
    let Some(level) = config.auth else {
        problems.push(RuleProblem::MissingAction);
        return None;
    };

    if level == AuthLevel::Public && config.allow.is_some() {
        problems.push(RuleProblem::PublicWithAllow);
    }
    if level == AuthLevel::Public && config.max_auth_age.is_some() {
        problems.push(RuleProblem::PublicWithMaxAuthAge);
    }
    if config.max_auth_age == Some(Duration::ZERO) {
        problems.push(RuleProblem::ZeroMaxAuthAge);
    }

    let allow = config.allow.as_ref();
    let allow = allow.map(|allow| compile_allow(context, names, allow, problems));
    let max_auth_age = config.max_auth_age;
    Some(Action::Auth(AuthAction {
        level,
        allow,
        max_auth_age,
    }))
}

/// Expands an `allow` list into sets of user and group numbers.
fn compile_allow(
    context: &RuleContext<'_>,
    names: &mut NameTable,
    allow: &AllowConfig,
    problems: &mut Vec<RuleProblem>,
) -> AllowSet {
    if allow.users.is_empty() && allow.groups.is_empty() && allow.roles.is_empty() {
        problems.push(RuleProblem::EmptyAllow);
    }
    let fields = [
        ("users", &allow.users),
        ("groups", &allow.groups),
        ("roles", &allow.roles),
    ];
    for (field, list) in fields {
        if list.iter().any(String::is_empty) {
            problems.push(RuleProblem::EmptyAllowName { field });
        }
    }

    let mut users: Vec<usize> = allow
        .users
        .iter()
        .map(|user| names.intern_user(user))
        .collect();
    let mut groups: Vec<usize> = allow
        .groups
        .iter()
        .map(|group| names.intern_group(group))
        .collect();
    for role in &allow.roles {
        let Some(members) = context.roles.get(role) else {
            problems.push(RuleProblem::UnknownRole { role: role.clone() });
            continue;
        };
        users.extend(members.users.iter().map(|user| names.intern_user(user)));
        groups.extend(members.groups.iter().map(|group| names.intern_group(group)));
    }
    AllowSet {
        users: sorted(users),
        groups: sorted(groups),
    }
}

/// Sorts and deduplicates numbers.
fn sorted(mut ids: Vec<usize>) -> Box<[usize]> {
    ids.sort_unstable();
    ids.dedup();
    ids.into_boxed_slice()
}

/// A one-line summary of a rule for logs: `/admin/** GET from office -> two_factor`.
fn describe(config: &RuleConfig) -> String {
    let mut text = match &config.paths {
        Some(paths) if !paths.is_empty() => paths.join(","),
        _ => "/**".to_owned(),
    };
    if !config.exclude_paths.is_empty() {
        let _ = write!(text, " except {}", config.exclude_paths.join(","));
    }
    if let Some(methods) = &config.methods {
        let _ = write!(text, " {}", methods.join(","));
    }
    if let Some(networks) = &config.networks {
        let _ = write!(text, " from {}", networks.join(","));
    }

    let action = match (config.deny, config.auth) {
        (true, _) => "deny",
        (false, Some(level)) => level.as_str(),
        (false, None) => "no action",
    };
    let _ = write!(text, " -> {action}");
    let Some(allow) = &config.allow else {
        return text;
    };
    let lists = [
        ("users", &allow.users),
        ("groups", &allow.groups),
        ("roles", &allow.roles),
    ];
    for (field, names) in lists.iter().filter(|(_, names)| !names.is_empty()) {
        let _ = write!(text, " {field}={}", names.join(","));
    }
    text
}
