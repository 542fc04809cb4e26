//! One compiled app: its rules, its path trie and its default, and the decision for it.
//!
//! Owns the order of evaluation inside an app: case folding, the trie lookup, the first
//! candidate whose conditions hold, or the default. Trusts [`Policy`](super::Policy) to have
//! picked the app and resolved roles and networks.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use ipnet::IpNet;

use super::config::{AppPolicyInput, DefaultAction};
use super::decision::{Decision, DenyReason, RequestFacts, RuleRef, Subject};
use super::error::PolicyError;
use super::names::NameTable;
use super::pattern::fold_case;
use super::roles::Members;
use super::rule::{Action, AuthAction, CompiledRule, Miss, RuleContext};
use super::trie::{PathTrie, TrieBuilder, TrieTooLarge};

/// An app's rules, ready to decide.
///
/// The fields a decision reads come first and the struct starts on a cache line, so that
/// with many apps a decision finds them in one line.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct CompiledApp {
    trie: PathTrie,
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) fold_case: bool,
    pub(crate) name: Box<str>,
    default_action: Action,
    pub(crate) default_rule: RuleRef,
}

/// The global parts every app's rules refer to.
pub(crate) struct Globals<'a> {
    pub(crate) networks: &'a BTreeMap<String, Vec<IpNet>>,
    pub(crate) roles: &'a BTreeMap<String, Members>,
    pub(crate) default: DefaultAction,
}

impl CompiledApp {
    /// Compiles every rule of `input` and indexes their paths.
    ///
    /// # Errors
    /// Every problem of every rule, each naming the app and the rule's position.
    pub(crate) fn compile(
        input: &AppPolicyInput<'_>,
        globals: &Globals<'_>,
        names: &mut NameTable,
    ) -> Result<CompiledApp, Vec<PolicyError>> {
        let context = RuleContext {
            app: input.name,
            fold_case: input.case_insensitive_paths,
            networks: globals.networks,
            roles: globals.roles,
        };
        let mut rules = Vec::with_capacity(input.rules.len());
        let mut errors = Vec::new();
        for (index, config) in input.rules.iter().enumerate() {
            match CompiledRule::compile(&context, names, index, config) {
                Ok(rule) => rules.push(rule),
                Err(problems) => {
                    errors.extend(problems.into_iter().map(|problem| PolicyError::Rule {
                        app: input.name.to_owned(),
                        rule: index,
                        problem,
                    }))
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let Ok(trie) = index_paths(&rules, names) else {
            let app = input.name.to_owned();
            return Err(vec![PolicyError::AppTooLarge { app }]);
        };
        Ok(CompiledApp {
            name: input.name.into(),
            fold_case: input.case_insensitive_paths,
            rules: rules.into_boxed_slice(),
            trie,
            default_action: default_action(globals.default),
            default_rule: RuleRef::new(input.name, None, globals.default.as_str().to_owned()),
        })
    }

    /// The path as rules see it: lowercased for a case-insensitive app.
    pub(crate) fn matching_path<'p>(&self, path: &'p str) -> Cow<'p, str> {
        if self.fold_case {
            fold_case(path)
        } else {
            Cow::Borrowed(path)
        }
    }

    /// The decision for a request to this app.
    pub(crate) fn decide(
        &self,
        request: &RequestFacts<'_>,
        subject: Option<&Subject<'_>>,
        now: SystemTime,
        names: &NameTable,
    ) -> Decision {
        if !request.path.starts_with('/') {
            let reason = DenyReason::InvalidPath;
            return Decision::Deny { rule: None, reason };
        }
        let path = self.matching_path(request.path);
        let ip = request.client_ip.to_canonical();
        let Some(index) = self.first_match(names, &path, request.method, ip) else {
            return self
                .default_action
                .decide(&self.default_rule, subject, now, names);
        };
        match self.rules.get(index) {
            Some(rule) => rule.decide(subject, now, names),
            // Unreachable: the trie holds only indices of `rules`. Fail closed regardless.
            None => Decision::Deny {
                rule: None,
                reason: DenyReason::NoMatchingRule,
            },
        }
    }

    /// The first rule matching a case-folded path, method and canonical address.
    pub(crate) fn first_match(
        &self,
        names: &NameTable,
        path: &str,
        method: &str,
        ip: IpAddr,
    ) -> Option<usize> {
        self.trie.first_match(&names.segments, path, |index| {
            let rule = self.rules.get(index);
            rule.is_some_and(|rule| rule.check_conditions(path, method, ip).is_ok())
        })
    }

    /// Every rule in order up to the first match, with why each did or did not match.
    ///
    /// This walks the rules linearly, independently of the trie; it is for explanations.
    pub(crate) fn trace(&self, path: &str, method: &str, ip: IpAddr) -> Vec<(usize, Option<Miss>)> {
        let mut steps = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let miss = rule.check(path, method, ip).err();
            steps.push((index, miss));
            if miss.is_none() {
                break;
            }
        }
        steps
    }
}

/// Builds the path trie over the patterns of `rules`.
fn index_paths(rules: &[CompiledRule], names: &mut NameTable) -> Result<PathTrie, TrieTooLarge> {
    let mut builder = TrieBuilder::new();
    for (index, rule) in rules.iter().enumerate() {
        for pattern in rule.paths() {
            builder.insert(pattern, index);
        }
    }
    builder.build(&mut names.segments)
}

/// The action of the global default.
fn default_action(default: DefaultAction) -> Action {
    match default.auth_level() {
        None => Action::Deny(DenyReason::NoMatchingRule),
        Some(level) => Action::Auth(AuthAction {
            level,
            allow: None,
            max_auth_age: None,
        }),
    }
}
