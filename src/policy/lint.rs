//! Lints: rules that compile but are probably not what the author meant.
//!
//! Owns the warnings printed at config load and by `portcullis check`. Every lint is
//! conservative: it is reported only when the relation between rules is certain from the
//! patterns alone (one pattern covering another, two patterns meeting), so a warning
//! always points at a real problem; some subtler overlaps (a rule covered only by several
//! earlier rules together) go unreported.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;

use ipnet::IpNet;

use super::app::CompiledApp;
use super::config::{DefaultAction, RoleConfig};
use super::method::MethodSet;
use super::pattern::Pattern;
use super::rule::CompiledRule;

/// The users and groups the directory knows, for the unknown-name lints.
///
/// `None` means "not known here": the corresponding lint is skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct KnownSubjects<'a> {
    /// Every user name.
    pub users: Option<&'a BTreeSet<String>>,
    /// Every group name.
    pub groups: Option<&'a BTreeSet<String>>,
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// Where the problem is.
    pub site: LintSite,
    /// What it is.
    pub kind: LintKind,
}

/// The object a lint is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LintSite {
    /// Rule `rule` (from 0) of app `app`.
    Rule {
        /// The app's name.
        app: String,
        /// The rule's position.
        rule: usize,
    },
    /// A role definition.
    Role {
        /// The role's name.
        role: String,
    },
}

/// What a lint reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// Every request the rule could match is matched first by rule `by`: it never decides.
    Shadowed {
        /// The earlier rule that takes all its requests.
        by: usize,
    },
    /// A protected rule limited by `methods` or `networks` lets the other requests to its
    /// paths fall through to a public rule (`None`: the public global default).
    ConditionFallsToPublic {
        /// The public rule that receives them.
        public: Option<usize>,
    },
    /// A protected rule with an exact path leaves the paths below it (`/admin/`,
    /// `/admin/x`) to a public rule, usually meant as `/admin/**`.
    ExactPathFallsToPublic {
        /// The exact pattern.
        pattern: String,
        /// The public rule that receives the paths below it (`None`: the default).
        public: Option<usize>,
    },
    /// An `allow` list or role names a group the directory does not have.
    UnknownGroup {
        /// The group as written.
        group: String,
    },
    /// An `allow` list or role names a user the directory does not have.
    UnknownUser {
        /// The user as written.
        user: String,
    },
}

/// All lints of a compiled policy.
pub(crate) fn lint(
    apps: &[CompiledApp],
    default: DefaultAction,
    roles: &BTreeMap<String, RoleConfig>,
    known: &KnownSubjects<'_>,
) -> Vec<Lint> {
    let mut lints = Vec::new();
    for app in apps {
        let mut push = |rule: usize, kind: LintKind| {
            let app = app.name.to_string();
            lints.push(Lint {
                site: LintSite::Rule { app, rule },
                kind,
            });
        };
        shadowed(app, &mut push);
        falls_to_public(app, default, &mut push);
        unknown_names_in_rules(app, known, &mut push);
    }
    for (name, role) in roles {
        let mut push = |kind| {
            let site = LintSite::Role { role: name.clone() };
            lints.push(Lint { site, kind });
        };
        unknown_names(&role.users, &role.groups, known, &mut push);
    }
    lints
}

/// Reports each rule that an earlier rule covers entirely.
fn shadowed(app: &CompiledApp, push: &mut impl FnMut(usize, LintKind)) {
    for (index, later) in app.rules.iter().enumerate() {
        let earlier = app.rules[..index]
            .iter()
            .position(|earlier| covers(earlier, later));
        if let Some(by) = earlier {
            push(index, LintKind::Shadowed { by });
        }
    }
}

/// Whether every request `later` matches is matched by `earlier`.
fn covers(earlier: &CompiledRule, later: &CompiledRule) -> bool {
    let paths = later
        .paths()
        .iter()
        .all(|path| covered_by(path, earlier.paths()));
    // Paths that `earlier` excludes must be either outside `later` or excluded by it too.
    let exclusions = earlier.excludes.iter().all(|excluded| {
        covered_by(excluded, &later.excludes)
            || !later.paths().iter().any(|path| path.intersects(excluded))
    });
    paths
        && exclusions
        && methods_cover(earlier.methods.as_ref(), later.methods.as_ref())
        && networks_cover(earlier.networks.as_deref(), later.networks.as_deref())
}

/// Whether one of `patterns` covers `pattern`.
fn covered_by(pattern: &Pattern, patterns: &[Pattern]) -> bool {
    patterns.iter().any(|wide| wide.covers(pattern))
}

/// Whether every method of `narrow` is in `wide` (`None` = all methods).
fn methods_cover(wide: Option<&MethodSet>, narrow: Option<&MethodSet>) -> bool {
    match (wide, narrow) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(wide), Some(narrow)) => wide.is_superset(narrow),
    }
}

/// Whether every network of `narrow` lies in one of `wide` (`None` = everywhere).
fn networks_cover(wide: Option<&[IpNet]>, narrow: Option<&[IpNet]>) -> bool {
    match (wide, narrow) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(wide), Some(narrow)) => narrow
            .iter()
            .all(|inner| wide.iter().any(|outer| outer.contains(inner))),
    }
}

/// Reports protected rules whose left-over requests land on a public rule.
fn falls_to_public(
    app: &CompiledApp,
    default: DefaultAction,
    push: &mut impl FnMut(usize, LintKind),
) {
    for (index, rule) in app.rules.iter().enumerate() {
        if !rule.is_protected() {
            continue;
        }
        if rule.methods.is_some() || rule.networks.is_some() {
            let escapes = |later: &CompiledRule| escapes_conditions(rule, later);
            if let Some(public) = public_catcher(app, index, rule.paths(), escapes, default) {
                push(index, LintKind::ConditionFallsToPublic { public });
            }
        }
        for pattern in rule.paths() {
            let probes: Vec<Pattern> = pattern
                .below()
                .into_iter()
                .filter(|probe| !covered_before(app, index, probe))
                .collect();
            if probes.is_empty() {
                continue;
            }
            if let Some(public) = public_catcher(app, index, &probes, |_| true, default) {
                let pattern = pattern.source().to_owned();
                push(index, LintKind::ExactPathFallsToPublic { pattern, public });
            }
        }
    }
}

/// Whether `later` matches requests that `rule` rejects for their method or address.
fn escapes_conditions(rule: &CompiledRule, later: &CompiledRule) -> bool {
    let by_method =
        rule.methods.is_some() && !methods_cover(rule.methods.as_ref(), later.methods.as_ref());
    let by_network = rule.networks.is_some()
        && !networks_cover(rule.networks.as_deref(), later.networks.as_deref());
    by_method || by_network
}

/// Whether a rule up to `index` takes every request to `probe` unconditionally.
fn covered_before(app: &CompiledApp, index: usize, probe: &Pattern) -> bool {
    app.rules[..=index]
        .iter()
        .any(|rule| is_unconditional(rule) && covered_by(probe, rule.paths()))
}

/// Whether a rule matches on its paths alone.
fn is_unconditional(rule: &CompiledRule) -> bool {
    rule.methods.is_none() && rule.networks.is_none() && rule.excludes.is_empty()
}

/// The public rule (or public default, `Some(None)`) that first receives requests to
/// `region` that escape rule `start`; `None` when a non-public rule takes them all first.
fn public_catcher(
    app: &CompiledApp,
    start: usize,
    region: &[Pattern],
    escapes: impl Fn(&CompiledRule) -> bool,
    default: DefaultAction,
) -> Option<Option<usize>> {
    for (index, later) in app.rules.iter().enumerate().skip(start + 1) {
        let meets = later
            .paths()
            .iter()
            .any(|path| region.iter().any(|r| path.intersects(r)));
        if !meets || !escapes(later) {
            continue;
        }
        if later.is_public() {
            return Some(Some(index));
        }
        if is_unconditional(later) && region.iter().all(|r| covered_by(r, later.paths())) {
            return None;
        }
    }
    (default == DefaultAction::Public).then_some(None)
}

/// Reports allow-list names the directory does not know.
fn unknown_names_in_rules(
    app: &CompiledApp,
    known: &KnownSubjects<'_>,
    push: &mut impl FnMut(usize, LintKind),
) {
    for (index, rule) in app.rules.iter().enumerate() {
        if let Some(allow) = &rule.detail.allow_names {
            unknown_names(&allow.users, &allow.groups, known, &mut |kind| {
                push(index, kind)
            });
        }
    }
}

/// Reports `users` and `groups` missing from the known sets.
fn unknown_names(
    users: &[String],
    groups: &[String],
    known: &KnownSubjects<'_>,
    push: &mut impl FnMut(LintKind),
) {
    if let Some(known_users) = known.users {
        for user in users.iter().filter(|user| !known_users.contains(*user)) {
            push(LintKind::UnknownUser { user: user.clone() });
        }
    }
    if let Some(known_groups) = known.groups {
        for group in groups.iter().filter(|group| !known_groups.contains(*group)) {
            push(LintKind::UnknownGroup {
                group: group.clone(),
            });
        }
    }
}

impl fmt::Display for LintSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LintSite::Rule { app, rule } => write!(f, "app {app:?}: rules[{rule}]"),
            LintSite::Role { role } => write!(f, "role {role:?}"),
        }
    }
}

/// Names a public rule, or the default when `None`.
struct PublicTarget(Option<usize>);

impl fmt::Display for PublicTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(index) => write!(f, "public rules[{index}]"),
            None => f.write_str("the public default"),
        }
    }
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LintKind::Shadowed { by } => {
                write!(
                    f,
                    "never matches: rules[{by}] matches every request it could"
                )
            }
            LintKind::ConditionFallsToPublic { public } => write!(
                f,
                "requests to its paths with other methods or addresses fall through to {}",
                PublicTarget(*public)
            ),
            LintKind::ExactPathFallsToPublic { pattern, public } => write!(
                f,
                "protects only the exact path {pattern}; paths below it fall through to {} \
                 (did you mean {pattern}/**?)",
                PublicTarget(*public)
            ),
            LintKind::UnknownGroup { group } => write!(f, "names unknown group {group:?}"),
            LintKind::UnknownUser { user } => write!(f, "names unknown user {user:?}"),
        }
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.site, self.kind)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::tests::{CASES_RULES, policy};
    use super::*;

    fn lints(global: &str, rules: &str) -> Vec<(usize, LintKind)> {
        let apps = format!("[{{ name: app, rules: {rules} }}]");
        let policy = policy(global, &apps);
        let lints = policy.lint(&KnownSubjects::default());
        lints
            .into_iter()
            .map(|lint| match lint.site {
                LintSite::Rule { rule, .. } => (rule, lint.kind),
                LintSite::Role { role } => panic!("unexpected role lint for {role}"),
            })
            .collect()
    }

    #[test]
    fn rule_after_a_catch_all_is_shadowed() {
        // K15: loading a config with a rule that can never match warns.
        let rules = r#"[{ auth: one_factor }, { paths: ["/admin/**"], auth: two_factor }]"#;
        assert_eq!(lints("{}", rules), [(1, LintKind::Shadowed { by: 0 })]);
    }

    #[test]
    fn usual_configs_have_no_lints() {
        assert_eq!(
            policy("{}", CASES_RULES).lint(&KnownSubjects::default()),
            []
        );
        let design = r#"[
            { paths: ["/static/**"], auth: public },
            { paths: ["/admin/**"], allow: { roles: [admin] }, auth: two_factor },
            { allow: { groups: [staff] }, networks: [office], auth: one_factor },
            { allow: { groups: [staff] }, auth: two_factor } ]"#;
        let global =
            "{ networks: { office: [10.20.0.0/16] }, roles: { admin: { users: [alice] } } }";
        assert_eq!(lints(global, design), []);
    }

    #[test]
    fn shadowing_follows_patterns_methods_networks_and_exclusions() {
        let x_but_y = r#"paths: ["/x/**"], exclude_paths: ["/x/y"]"#;
        let cases = [
            (r#"paths: ["/a/*"]"#, r#"paths: ["/a/b"]"#, true),
            (r#"paths: ["/a/b"]"#, r#"paths: ["/a/*"]"#, false),
            (
                r#"paths: ["/a/**"], methods: [GET]"#,
                r#"paths: ["/a/x"]"#,
                false,
            ),
            (
                r#"paths: ["/a/**"]"#,
                r#"paths: ["/a/x"], methods: [GET]"#,
                true,
            ),
            (
                r#"networks: ["10.0.0.0/8"]"#,
                r#"networks: ["10.1.0.0/16"]"#,
                true,
            ),
            (
                r#"networks: ["10.1.0.0/16"]"#,
                r#"networks: ["10.0.0.0/8"]"#,
                false,
            ),
            (x_but_y, r#"paths: ["/x/y"]"#, false),
            (x_but_y, r#"paths: ["/x/z/**"]"#, true),
            (
                x_but_y,
                r#"paths: ["/x/**"], exclude_paths: ["/x/y/**"]"#,
                true,
            ),
            (r#"paths: ["/a", "/b"]"#, r#"paths: ["/b"]"#, true),
            (r#"paths: ["/a"]"#, r#"paths: ["/a", "/b"]"#, false),
        ];
        for (earlier, later, shadowed) in cases {
            let rules = format!("[{{ {earlier}, auth: public }}, {{ {later}, deny: true }}]");
            let found = lints("{}", &rules).contains(&(1, LintKind::Shadowed { by: 0 }));
            assert_eq!(found, shadowed, "{rules}");
        }
    }

    #[test]
    fn method_limited_protection_falling_to_public_warns() {
        let rules = r#"[
            { paths: ["/admin/**"], methods: [GET], auth: two_factor },
            { auth: public } ]"#;
        let expected = LintKind::ConditionFallsToPublic { public: Some(1) };
        assert_eq!(lints("{}", rules), [(0, expected)]);
    }

    #[test]
    fn network_limited_protection_falling_to_public_default_warns() {
        let rules = r#"[{ paths: ["/admin/**"], networks: ["10.0.0.0/8"], auth: one_factor }]"#;
        let expected = LintKind::ConditionFallsToPublic { public: None };
        assert_eq!(lints("default: public", rules), [(0, expected)]);
        assert_eq!(lints("{}", rules), []);
    }

    #[test]
    fn protected_catch_all_between_stops_the_fall_through_warning() {
        let rules = r#"[
            { paths: ["/admin/**"], methods: [GET], auth: two_factor },
            { paths: ["/admin/**"], auth: one_factor },
            { auth: public } ]"#;
        assert_eq!(lints("{}", rules), []);
        let partial = r#"[
            { paths: ["/admin/**"], methods: [GET], auth: two_factor },
            { paths: ["/admin/**"], methods: [POST], auth: one_factor },
            { auth: public } ]"#;
        // PUT to /admin escapes both method-limited rules and lands on the public rule.
        let expected = LintKind::ConditionFallsToPublic { public: Some(2) };
        assert_eq!(lints("{}", partial), [(0, expected.clone()), (1, expected)]);
    }

    #[test]
    fn exact_protected_path_with_public_below_warns() {
        let rules = r#"[{ paths: ["/admin"], auth: one_factor }, { auth: public }]"#;
        let expected = LintKind::ExactPathFallsToPublic {
            pattern: "/admin".into(),
            public: Some(1),
        };
        assert_eq!(lints("{}", rules), [(0, expected)]);
        let both = r#"[{ paths: ["/admin", "/admin/**"], auth: one_factor }, { auth: public }]"#;
        assert_eq!(lints("{}", both), []);
        let narrow_public =
            r#"[{ paths: ["/admin"], auth: one_factor }, { paths: ["/css/**"], auth: public }]"#;
        assert_eq!(lints("{}", narrow_public), []);
    }

    #[test]
    fn names_unknown_to_the_directory_are_reported_when_known() {
        let global = "roles: { ops: { users: [olga], groups: [opz] } }";
        let apps = r#"[{ name: app, rules: [
            { allow: { users: [alice, bobb], groups: [staff, staf], roles: [ops] },
              auth: one_factor } ] }]"#;
        let policy = policy(global, apps);
        assert_eq!(policy.lint(&KnownSubjects::default()), []);

        let users = BTreeSet::from(["alice".to_owned(), "olga".to_owned()]);
        let groups = BTreeSet::from(["staff".to_owned()]);
        let known = KnownSubjects {
            users: Some(&users),
            groups: Some(&groups),
        };
        let text: Vec<String> = policy.lint(&known).iter().map(Lint::to_string).collect();
        let expected = [
            r#"app "app": rules[0]: names unknown user "bobb""#,
            r#"app "app": rules[0]: names unknown group "staf""#,
            r#"role "ops": names unknown group "opz""#,
        ];
        assert_eq!(text, expected);
    }

    #[test]
    fn lint_messages_name_the_rules() {
        let shadowed = Lint {
            site: LintSite::Rule {
                app: "wiki".into(),
                rule: 3,
            },
            kind: LintKind::Shadowed { by: 1 },
        };
        let text =
            r#"app "wiki": rules[3]: never matches: rules[1] matches every request it could"#;
        assert_eq!(shadowed.to_string(), text);
    }
}
