//! Role resolution: flattens roles that include roles into plain user and group sets.
//!
//! Owns the meaning of role membership: a user has a role if named in its `users`, member of
//! one of its `groups`, or holder of a role listed in its `roles`, transitively. Resolution
//! happens once at compile time so that a decision needs set lookups only. Guarantees that
//! a role cycle or an unknown included role is an error, never a silently empty role.

use std::collections::{BTreeMap, BTreeSet};

use super::config::RoleConfig;
use super::error::PolicyError;

/// The users and groups that hold a role once included roles are expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    pub(crate) users: BTreeSet<String>,
    pub(crate) groups: BTreeSet<String>,
}

/// Where a role stands in the depth-first walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    InProgress,
    Done,
}

/// The walk over the role graph, with its results and errors so far.
struct Resolver<'a> {
    roles: &'a BTreeMap<String, RoleConfig>,
    marks: BTreeMap<&'a str, Mark>,
    stack: Vec<&'a str>,
    resolved: BTreeMap<String, Members>,
    errors: Vec<PolicyError>,
}

/// Expands every role to its users and groups.
///
/// Every defined role appears in the result; the errors list cycles, unknown included roles
/// and empty names, and when it is not empty the caller must not build a policy.
pub(crate) fn resolve(
    roles: &BTreeMap<String, RoleConfig>,
) -> (BTreeMap<String, Members>, Vec<PolicyError>) {
    let mut resolver = Resolver {
        roles,
        marks: BTreeMap::new(),
        stack: Vec::new(),
        resolved: BTreeMap::new(),
        errors: Vec::new(),
    };
    for (name, role) in roles {
        resolver.check_names(name, role);
        resolver.visit(name);
    }
    (resolver.resolved, resolver.errors)
}

impl<'a> Resolver<'a> {
    /// Records an error for each empty member name of `role`.
    fn check_names(&mut self, name: &str, role: &RoleConfig) {
        let fields = [
            ("users", &role.users),
            ("groups", &role.groups),
            ("roles", &role.roles),
        ];
        for (field, names) in fields {
            if names.iter().any(String::is_empty) {
                self.errors.push(PolicyError::EmptyRoleMember {
                    role: name.to_owned(),
                    field,
                });
            }
        }
    }

    /// Resolves `name` after the roles it includes; reports a cycle when it meets itself.
    fn visit(&mut self, name: &'a str) {
        match self.marks.get(name) {
            Some(Mark::Done) => return,
            Some(Mark::InProgress) => return self.report_cycle(name),
            None => {}
        }
        let Some(role) = self.roles.get(name) else {
            return;
        };

        self.marks.insert(name, Mark::InProgress);
        self.stack.push(name);
        let mut members = Members {
            users: role.users.iter().cloned().collect(),
            groups: role.groups.iter().cloned().collect(),
        };
        for included in &role.roles {
            self.include(name, included, &mut members);
        }
        self.stack.pop();

        self.marks.insert(name, Mark::Done);
        self.resolved.insert(name.to_owned(), members);
    }

    /// Adds the members of `included` to those of `name`.
    fn include(&mut self, name: &str, included: &'a str, members: &mut Members) {
        if !self.roles.contains_key(included) {
            self.errors.push(PolicyError::UnknownIncludedRole {
                role: name.to_owned(),
                included: included.to_owned(),
            });
            return;
        }
        self.visit(included);
        if let Some(inner) = self.resolved.get(included) {
            members.users.extend(inner.users.iter().cloned());
            members.groups.extend(inner.groups.iter().cloned());
        }
    }

    /// Records the cycle that ends at `name`, which is already on the stack.
    fn report_cycle(&mut self, name: &str) {
        let start = self
            .stack
            .iter()
            .position(|&entry| entry == name)
            .unwrap_or(0);
        let mut chain: Vec<String> = self.stack[start..].iter().map(|&s| s.to_owned()).collect();
        chain.push(name.to_owned());
        self.errors.push(PolicyError::RoleCycle { chain });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(users: &[&str], groups: &[&str], roles: &[&str]) -> RoleConfig {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        RoleConfig {
            users: owned(users),
            groups: owned(groups),
            roles: owned(roles),
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_include_roles_transitively() {
        let roles = BTreeMap::from([
            (
                "admin".to_owned(),
                role(&["alice"], &["it-admins"], &["auditor"]),
            ),
            ("auditor".to_owned(), role(&["bob"], &[], &["viewer"])),
            ("viewer".to_owned(), role(&[], &["staff"], &[])),
        ]);
        let (resolved, errors) = resolve(&roles);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(resolved["admin"].users, set(&["alice", "bob"]));
        assert_eq!(resolved["admin"].groups, set(&["it-admins", "staff"]));
        assert_eq!(resolved["auditor"].groups, set(&["staff"]));
        assert_eq!(resolved["viewer"].users, set(&[]));
    }

    #[test]
    fn role_cycle_is_rejected_with_its_chain() {
        let roles = BTreeMap::from([
            ("a".to_owned(), role(&[], &[], &["b"])),
            ("b".to_owned(), role(&[], &[], &["c"])),
            ("c".to_owned(), role(&[], &[], &["a"])),
        ]);
        let (_, errors) = resolve(&roles);
        assert_eq!(
            errors,
            [PolicyError::RoleCycle {
                chain: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }]
        );
        assert_eq!(errors[0].to_string(), "role cycle: a -> b -> c -> a");
    }

    #[test]
    fn role_including_itself_is_a_cycle() {
        let roles = BTreeMap::from([("a".to_owned(), role(&["x"], &[], &["a"]))]);
        let (_, errors) = resolve(&roles);
        assert!(matches!(&errors[..], [PolicyError::RoleCycle { chain }] if chain == &["a", "a"]));
    }

    #[test]
    fn unknown_included_role_is_rejected() {
        let roles = BTreeMap::from([("a".to_owned(), role(&[], &[], &["ghost"]))]);
        let (_, errors) = resolve(&roles);
        assert_eq!(
            errors,
            [PolicyError::UnknownIncludedRole {
                role: "a".into(),
                included: "ghost".into()
            }]
        );
    }

    #[test]
    fn diamond_inclusion_is_not_a_cycle() {
        let roles = BTreeMap::from([
            ("top".to_owned(), role(&[], &[], &["left", "right"])),
            ("left".to_owned(), role(&[], &[], &["base"])),
            ("right".to_owned(), role(&[], &[], &["base"])),
            ("base".to_owned(), role(&["carol"], &[], &[])),
        ]);
        let (resolved, errors) = resolve(&roles);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(resolved["top"].users, set(&["carol"]));
    }
}
