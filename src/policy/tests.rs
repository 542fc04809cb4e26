//! Tests of the policy semantics through the public API, from YAML config to decision.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::*;

/// The common setup of shared/CASES.md: public area, admins with two factors, rest one factor.
pub(super) const CASES_RULES: &str = r#"
- name: app
  rules:
    - { paths: ["/public/**", "/healthz"], auth: public }
    - { paths: ["/admin/**"], allow: { groups: [admins] }, auth: two_factor }
    - { auth: one_factor }
- name: legacy
  case_insensitive_paths: true
  rules:
    - { paths: ["/public/**"], auth: public }
    - { paths: ["/Admin/**"], allow: { groups: [admins] }, auth: two_factor }
    - { auth: one_factor }
"#;

pub(super) const STAFF: &[&str] = &["staff"];
pub(super) const ADMINS: &[&str] = &["admins"];

pub(super) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub(super) fn compile(global: &str, apps: &str) -> Result<Policy, Vec<PolicyError>> {
    let config: PolicyConfig = serde_saphyr::from_str(global).unwrap();
    let apps: Vec<AppPolicyConfig> = serde_saphyr::from_str(apps).unwrap();
    let inputs: Vec<AppPolicyInput<'_>> = apps.iter().map(AppPolicyInput::from).collect();
    Policy::compile(&config, &inputs)
}

pub(super) fn policy(global: &str, apps: &str) -> Policy {
    compile(global, apps).unwrap()
}

pub(super) fn errors(global: &str, apps: &str) -> Vec<PolicyError> {
    compile(global, apps).unwrap_err()
}

/// A signed-in user for the duration of one call.
pub(super) struct User {
    pub(super) name: &'static str,
    pub(super) groups: Vec<String>,
    pub(super) factors: u8,
    pub(super) age: Duration,
}

pub(super) fn user(name: &'static str, groups: &[&str], factors: u8) -> User {
    let groups = groups.iter().map(|group| group.to_string()).collect();
    User {
        name,
        groups,
        factors,
        age: Duration::from_secs(60),
    }
}

impl User {
    pub(super) fn subject(&self) -> Subject<'_> {
        Subject {
            user: self.name,
            groups: &self.groups,
            factors: self.factors,
            auth_time: now() - self.age,
        }
    }
}

pub(super) fn ask(
    policy: &Policy,
    app: &str,
    method: &str,
    path: &str,
    ip: &str,
    who: Option<&User>,
) -> Decision {
    let request = RequestFacts {
        method,
        path,
        client_ip: ip.parse::<IpAddr>().unwrap(),
    };
    let subject = who.map(User::subject);
    let app = policy.app_id(app).unwrap();
    let decision = policy.decide(app, &request, subject.as_ref(), now());
    let explanation = policy.explain(app, &request, subject.as_ref(), now());
    assert_eq!(explanation.decision, decision, "explain and decide agree");
    decision
}

pub(super) fn get(policy: &Policy, path: &str, who: Option<&User>) -> Decision {
    ask(policy, "app", "GET", path, "192.0.2.7", who)
}

pub(super) fn kind_and_rule(decision: &Decision) -> (DecisionKind, Option<usize>) {
    (decision.kind(), decision.rule().and_then(RuleRef::index))
}

#[test]
fn anonymous_user_on_group_rule_gets_login_and_non_member_gets_deny() {
    let policy = policy("{}", CASES_RULES);
    let alice = user("alice", STAFF, 2);
    assert_eq!(
        kind_and_rule(&get(&policy, "/admin/users", None)),
        (DecisionKind::Login, Some(1))
    );
    let denied = get(&policy, "/admin/users", Some(&alice));
    assert!(matches!(
        denied,
        Decision::Deny {
            reason: DenyReason::NotAllowed,
            ..
        }
    ));
    let root = user("root", ADMINS, 2);
    let allowed = get(&policy, "/admin/users", Some(&root));
    assert!(matches!(allowed, Decision::Allow { public: false, .. }));
}

#[test]
fn first_matching_rule_decides_even_if_a_later_rule_is_narrower() {
    let apps = r#"
- name: app
  rules:
    - { paths: ["/docs/**"], auth: public }
    - { paths: ["/docs/secret"], deny: true }
"#;
    let policy = policy("{}", apps);
    let decision = get(&policy, "/docs/secret", None);
    assert_eq!(kind_and_rule(&decision), (DecisionKind::Allow, Some(0)));
}

#[test]
fn no_matching_rule_applies_the_global_default() {
    let apps = r#"[{ name: app, rules: [{ paths: ["/a"], auth: public }] }]"#;
    let denied = get(&policy("{}", apps), "/b", None);
    assert_eq!(denied.kind(), DecisionKind::Deny);
    assert!(matches!(
        &denied,
        Decision::Deny {
            reason: DenyReason::NoMatchingRule,
            ..
        }
    ));
    assert_eq!(denied.rule().map(RuleRef::index), Some(None));

    let one_factor = policy("default: one_factor", apps);
    assert_eq!(get(&one_factor, "/b", None).kind(), DecisionKind::Login);
    let alice = user("alice", STAFF, 1);
    assert_eq!(
        get(&one_factor, "/b", Some(&alice)).kind(),
        DecisionKind::Allow
    );
    let two_factor = policy("default: two_factor", apps);
    assert_eq!(
        get(&two_factor, "/b", Some(&alice)).kind(),
        DecisionKind::StepUp
    );
    let public = policy("default: public", apps);
    assert!(matches!(
        get(&public, "/b", None),
        Decision::Allow { public: true, .. }
    ));
}

#[test]
fn empty_rule_list_uses_the_default() {
    let policy = policy("{}", "[{ name: app }]");
    assert_eq!(get(&policy, "/", None).kind(), DecisionKind::Deny);
}

#[test]
fn deny_rule_refuses_everyone_including_anonymous() {
    let apps = r#"[{ name: app, rules: [{ paths: ["/x/**"], deny: true }, { auth: public }] }]"#;
    let policy = policy("{}", apps);
    let root = user("root", ADMINS, 2);
    for who in [None, Some(&root)] {
        let decision = get(&policy, "/x/y", who);
        assert!(matches!(
            decision,
            Decision::Deny {
                reason: DenyReason::DenyRule,
                ..
            }
        ));
    }
}

#[test]
fn one_factor_session_on_two_factor_rule_must_step_up() {
    let policy = policy("{}", CASES_RULES);
    let root = user("root", ADMINS, 1);
    assert_eq!(
        kind_and_rule(&get(&policy, "/admin/x", Some(&root))),
        (DecisionKind::StepUp, Some(1))
    );
}

#[test]
fn non_member_is_denied_before_being_asked_to_step_up() {
    let policy = policy("{}", CASES_RULES);
    let alice = user("alice", STAFF, 1);
    assert_eq!(
        get(&policy, "/admin/x", Some(&alice)).kind(),
        DecisionKind::Deny
    );
}

#[test]
fn subject_with_zero_factors_counts_as_nobody() {
    let policy = policy("{}", CASES_RULES);
    let half = user("alice", STAFF, 0);
    assert_eq!(
        get(&policy, "/anything", Some(&half)).kind(),
        DecisionKind::Login
    );
}

#[test]
fn public_rule_admits_anonymous_and_signed_in_users() {
    let policy = policy("{}", CASES_RULES);
    let alice = user("alice", STAFF, 1);
    for who in [None, Some(&alice)] {
        let decision = get(&policy, "/public/logo.png", who);
        assert!(
            matches!(decision, Decision::Allow { public: true, .. }),
            "{decision}"
        );
    }
}

#[test]
fn sign_in_older_than_max_auth_age_needs_reauthentication() {
    let apps = r#"[{ name: app, rules: [{ auth: one_factor, max_auth_age: 30m }] }]"#;
    let policy = policy("{}", apps);
    let mut alice = user("alice", STAFF, 1);
    let cases = [
        (31 * 60, DecisionKind::Reauthenticate),
        (29 * 60, DecisionKind::Allow),
    ];
    for (seconds, expected) in cases {
        alice.age = Duration::from_secs(seconds);
        assert_eq!(
            get(&policy, "/", Some(&alice)).kind(),
            expected,
            "{seconds}s"
        );
    }
}

#[test]
fn sign_in_time_in_the_future_is_tolerated_only_within_clock_skew() {
    let apps = r#"[{ name: app, rules: [{ auth: one_factor, max_auth_age: 30m }] }]"#;
    let policy = policy("{}", apps);
    let alice = user("alice", STAFF, 1);
    let app = policy.app_id("app").unwrap();
    let request = RequestFacts {
        method: "GET",
        path: "/",
        client_ip: "192.0.2.7".parse().unwrap(),
    };
    for (ahead, expected) in [
        (60, DecisionKind::Allow),
        (3600, DecisionKind::Reauthenticate),
    ] {
        let mut subject = alice.subject();
        subject.auth_time = now() + Duration::from_secs(ahead);
        let decision = policy.decide(app, &request, Some(&subject), now());
        assert_eq!(decision.kind(), expected, "{ahead}s ahead");
    }
}

#[test]
fn allow_admits_by_user_group_or_role_and_roles_include_roles() {
    let global = r#"
roles:
  ops: { users: [olga] }
  admin: { groups: [it-admins], roles: [ops] }
  auditor: { roles: [admin] }
"#;
    let apps = r#"[{ name: app, rules: [
        { allow: { users: [ursula], groups: [finance], roles: [auditor] },
          auth: one_factor } ] }]"#;
    let policy = policy(global, apps);
    let admitted = [
        user("ursula", &[], 1),
        user("fred", &["finance"], 1),
        user("ian", &["it-admins"], 1),
        user("olga", &[], 1),
    ];
    for who in &admitted {
        assert_eq!(
            get(&policy, "/", Some(who)).kind(),
            DecisionKind::Allow,
            "{}",
            who.name
        );
    }
    let stranger = user("mallory", &["staff", "ops"], 2);
    assert_eq!(
        get(&policy, "/", Some(&stranger)).kind(),
        DecisionKind::Deny
    );
}

#[test]
fn query_string_is_not_part_of_the_path() {
    // K4: the proxy hands over the path without its query, so these are the paths seen.
    let policy = policy("{}", CASES_RULES);
    assert!(matches!(
        get(&policy, "/healthz", None),
        Decision::Allow { public: true, .. }
    ));
    assert_eq!(
        get(&policy, "/admin/export", None).kind(),
        DecisionKind::Login
    );
    // Even a raw path with its query left on never reaches a public rule through it.
    for path in ["/admin/export?x=/public/a", "/admin/export?/healthz"] {
        assert_eq!(
            kind_and_rule(&get(&policy, path, None)),
            (DecisionKind::Login, Some(1))
        );
    }
    // `/healthz` is exact: neither sub-paths nor a raw query match it.
    for path in ["/healthz/x", "/healthz?verbose=1", "/healthz/"] {
        assert_eq!(
            kind_and_rule(&get(&policy, path, None)),
            (DecisionKind::Login, Some(2))
        );
    }
}

#[test]
fn paths_are_case_sensitive_by_default() {
    // K5: `/ADMIN/users` is not `/admin/users` and falls to the catch-all.
    let policy = policy("{}", CASES_RULES);
    assert_eq!(
        kind_and_rule(&get(&policy, "/ADMIN/users", None)),
        (DecisionKind::Login, Some(2))
    );
    let alice = user("alice", STAFF, 1);
    let decision = get(&policy, "/ADMIN/users", Some(&alice));
    assert_eq!(kind_and_rule(&decision), (DecisionKind::Allow, Some(2)));
}

#[test]
fn case_insensitive_app_matches_admin_rule_whatever_the_case() {
    let policy = policy("{}", CASES_RULES);
    let alice = user("alice", STAFF, 2);
    for path in ["/ADMIN/users", "/admin/users", "/aDmIn/Users"] {
        let decision = ask(&policy, "legacy", "GET", path, "192.0.2.7", Some(&alice));
        assert!(matches!(
            decision,
            Decision::Deny {
                reason: DenyReason::NotAllowed,
                ..
            }
        ));
        let anonymous = ask(&policy, "legacy", "GET", path, "192.0.2.7", None);
        assert_eq!(kind_and_rule(&anonymous), (DecisionKind::Login, Some(1)));
    }
    let public = ask(&policy, "legacy", "GET", "/PUBLIC/A.CSS", "192.0.2.7", None);
    assert_eq!(kind_and_rule(&public), (DecisionKind::Allow, Some(0)));
}

#[test]
fn glob_patterns_match_by_segment() {
    let apps = r#"[{ name: app, rules: [
        { paths: ["/files/*/thumb.png"], auth: public },
        { paths: ["/static/**"], auth: public },
        { auth: one_factor } ] }]"#;
    let policy = policy("{}", apps);
    let rule_of = |path| kind_and_rule(&get(&policy, path, None)).1;
    assert_eq!(rule_of("/files/a/thumb.png"), Some(0));
    assert_eq!(rule_of("/files/a/b/thumb.png"), Some(2));
    assert_eq!(rule_of("/files/private.pdf"), Some(2));
    assert_eq!(rule_of("/static"), Some(1));
    assert_eq!(rule_of("/static/css/site.css"), Some(1));
    assert_eq!(rule_of("/staticx"), Some(2));
}

#[test]
fn excluded_paths_fall_through_to_later_rules() {
    let apps = r#"[{ name: app, rules: [
        { paths: ["/files/**"], exclude_paths: ["/files/private/**"], auth: public },
        { auth: one_factor } ] }]"#;
    let policy = policy("{}", apps);
    assert_eq!(
        kind_and_rule(&get(&policy, "/files/a", None)),
        (DecisionKind::Allow, Some(0))
    );
    let excluded = get(&policy, "/files/private/x", None);
    assert_eq!(kind_and_rule(&excluded), (DecisionKind::Login, Some(1)));
}

#[test]
fn methods_restrict_a_rule_ignoring_ascii_case() {
    let apps = r#"[{ name: app, rules: [
        { methods: [DELETE], deny: true },
        { methods: [GET, head], auth: public },
        { auth: one_factor } ] }]"#;
    let policy = policy("{}", apps);
    let rule_of = |method| kind_and_rule(&ask(&policy, "app", method, "/x", "192.0.2.7", None));
    assert_eq!(rule_of("delete"), (DecisionKind::Deny, Some(0)));
    assert_eq!(rule_of("GET"), (DecisionKind::Allow, Some(1)));
    assert_eq!(rule_of("get"), (DecisionKind::Allow, Some(1)));
    assert_eq!(rule_of("HEAD"), (DecisionKind::Allow, Some(1)));
    assert_eq!(rule_of("POST"), (DecisionKind::Login, Some(2)));
}

#[test]
fn networks_match_named_lists_literal_cidrs_and_mapped_addresses() {
    let global =
        r#"networks: { office: ["10.0.0.0/8", "2001:db8::/32"], vpn: ["::ffff:172.16.0.0/108"] }"#;
    let apps = r#"[{ name: app, rules: [
        { networks: [office, "192.168.1.5"], auth: public },
        { networks: [vpn], auth: one_factor },
        { deny: true } ] }]"#;
    let policy = policy(global, apps);
    let rule_of = |ip| kind_and_rule(&ask(&policy, "app", "GET", "/", ip, None)).1;
    for ip in ["10.1.2.3", "::ffff:10.1.2.3", "2001:db8::5", "192.168.1.5"] {
        assert_eq!(rule_of(ip), Some(0), "{ip}");
    }
    for ip in ["172.16.4.4", "::ffff:172.16.4.4"] {
        assert_eq!(rule_of(ip), Some(1), "{ip}");
    }
    for ip in ["11.0.0.1", "127.0.0.1", "::1", "2001:db9::1", "192.168.1.6"] {
        assert_eq!(rule_of(ip), Some(2), "{ip}");
    }
}

#[test]
fn unknown_app_id_and_non_canonical_path_are_denied() {
    let policy = policy("default: public", CASES_RULES);
    let request = RequestFacts {
        method: "GET",
        path: "/public/a",
        client_ip: "192.0.2.7".parse().unwrap(),
    };
    let unknown = policy.decide(AppId::from_position(99), &request, None, now());
    assert_eq!(
        unknown,
        Decision::Deny {
            rule: None,
            reason: DenyReason::UnknownApp
        }
    );

    let app = policy.app_id("app").unwrap();
    for path in ["*", "", "public/a"] {
        let request = RequestFacts { path, ..request };
        let decision = policy.decide(app, &request, None, now());
        assert_eq!(
            decision,
            Decision::Deny {
                rule: None,
                reason: DenyReason::InvalidPath
            }
        );
    }
}

#[test]
fn app_ids_follow_input_order() {
    let policy = policy("{}", CASES_RULES);
    assert_eq!(policy.app_id("app"), Some(AppId::from_position(0)));
    assert_eq!(policy.app_id("legacy").map(AppId::position), Some(1));
    assert_eq!(policy.app_name(AppId::from_position(1)), Some("legacy"));
    assert_eq!(policy.app_id("ghost"), None);
    assert_eq!(policy.app_count(), 2);
}

#[test]
fn explanation_lists_each_rule_tried_and_why() {
    let apps = r#"[{ name: app, rules: [
        { paths: ["/public/**"], auth: public },
        { paths: ["/admin/**"], methods: [POST], auth: two_factor },
        { paths: ["/admin/**"], exclude_paths: ["/admin/help"], networks: ["10.0.0.0/8"],
          auth: one_factor },
        { paths: ["/admin/**"], allow: { users: [root] }, auth: one_factor },
        { auth: public } ] }]"#;
    let policy = policy("{}", apps);
    let app = policy.app_id("app").unwrap();
    let request = RequestFacts {
        method: "GET",
        path: "/admin/help",
        client_ip: "10.0.0.1".parse().unwrap(),
    };
    let explanation = policy.explain(app, &request, None, now());
    let outcomes: Vec<_> = explanation
        .steps
        .iter()
        .map(|step| step.outcome.clone())
        .collect();
    let excluded = StepOutcome::Excluded {
        pattern: "/admin/help".into(),
    };
    let expected = [
        StepOutcome::PathNotMatched,
        StepOutcome::MethodNotListed,
        excluded,
        StepOutcome::Matched,
    ];
    assert_eq!(outcomes, expected);
    assert_eq!(
        kind_and_rule(&explanation.decision),
        (DecisionKind::Login, Some(3))
    );
    let text = explanation.to_string();
    assert!(
        text.contains("rules[1] /admin/** POST -> two_factor: method not listed"),
        "{text}"
    );
    assert!(text.ends_with("decision: login by app rules[3] (/admin/** -> one_factor users=root)"));
}

#[test]
fn explanation_says_when_the_default_decides() {
    let apps =
        r#"[{ name: app, rules: [{ paths: ["/a"], networks: ["10.0.0.0/8"], auth: public }] }]"#;
    let policy = policy("{}", apps);
    let app = policy.app_id("app").unwrap();
    let request = RequestFacts {
        method: "GET",
        path: "/a",
        client_ip: "192.0.2.1".parse().unwrap(),
    };
    let explanation = policy.explain(app, &request, None, now());
    assert!(explanation.used_default);
    assert_eq!(explanation.steps[0].outcome, StepOutcome::NetworkNotListed);
    assert!(explanation.to_string().contains("no rule matched"));
}

/// The rule problems of app `wiki` with `rules`, as (rule index, problem).
fn rule_problems(rules: &str) -> Vec<(usize, RuleProblem)> {
    let global = r#"{ networks: { office: [10.0.0.0/8] }, roles: { admin: { users: [root] } } }"#;
    let errors = errors(global, &format!("[{{ name: wiki, rules: {rules} }}]"));
    let problem = |error: &PolicyError| match error {
        PolicyError::Rule { app, rule, problem } if app == "wiki" => (*rule, problem.clone()),
        other => panic!("unexpected {other}"),
    };
    errors.iter().map(problem).collect()
}

#[test]
fn bad_conditions_are_compile_errors_naming_app_and_rule() {
    let rules = r#"[
        { networks: [ofice], auth: one_factor },
        { paths: ["/a/**/b"], auth: public },
        { methods: [], auth: public },
        { methods: ["GE T"], auth: public },
        { paths: [], auth: public } ]"#;
    let bad_pattern = RuleProblem::BadPattern {
        field: "paths",
        pattern: "/a/**/b".into(),
        reason: PatternError::MisplacedGlobstar,
    };
    let expected = vec![
        (
            0,
            RuleProblem::UnknownNetwork {
                name: "ofice".into(),
            },
        ),
        (1, bad_pattern),
        (2, RuleProblem::EmptyList { field: "methods" }),
        (
            3,
            RuleProblem::BadMethod {
                method: "GE T".into(),
            },
        ),
        (4, RuleProblem::EmptyList { field: "paths" }),
    ];
    assert_eq!(rule_problems(rules), expected);

    let errors = errors(
        "{}",
        r#"[{ name: wiki, rules: [{ networks: [ofice], deny: true }] }]"#,
    );
    let text = r#"app "wiki": rules[0]: unknown network "ofice""#;
    assert_eq!(errors[0].to_string(), text);
}

#[test]
fn contradictory_actions_are_compile_errors() {
    let rules = r#"[
        { allow: { roles: [admn] }, auth: one_factor },
        { deny: true, auth: one_factor },
        { paths: ["/x"] },
        { allow: { users: [bob] }, auth: public },
        { allow: {}, auth: one_factor },
        { auth: one_factor, max_auth_age: 0s },
        { auth: public, max_auth_age: 5m } ]"#;
    let expected = vec![
        (
            0,
            RuleProblem::UnknownRole {
                role: "admn".into(),
            },
        ),
        (1, RuleProblem::DenyWithAuth),
        (2, RuleProblem::MissingAction),
        (3, RuleProblem::PublicWithAllow),
        (4, RuleProblem::EmptyAllow),
        (5, RuleProblem::ZeroMaxAuthAge),
        (6, RuleProblem::PublicWithMaxAuthAge),
    ];
    assert_eq!(rule_problems(rules), expected);
}

#[test]
fn role_cycles_and_global_mistakes_are_compile_errors() {
    let global = r#"
networks: { empty: [], "10.0.0.0/8": [10.0.0.0/8] }
roles:
  a: { roles: [b] }
  b: { roles: [a] }
  c: { roles: [ghost] }
"#;
    let apps = "[{ name: app }, { name: app }, { name: '' }]";
    let errors = errors(global, apps);
    let expected = [
        PolicyError::NetworkNamedLikeAddress {
            name: "10.0.0.0/8".into(),
        },
        PolicyError::EmptyNetwork {
            name: "empty".into(),
        },
        PolicyError::RoleCycle {
            chain: vec!["a".into(), "b".into(), "a".into()],
        },
        PolicyError::UnknownIncludedRole {
            role: "c".into(),
            included: "ghost".into(),
        },
        PolicyError::DuplicateApp { app: "app".into() },
        PolicyError::EmptyAppName { position: 2 },
    ];
    assert_eq!(errors, expected);
}

#[test]
fn unknown_config_keys_are_rejected_with_their_location() {
    let error =
        serde_saphyr::from_str::<Vec<RuleConfig>>("- auth: public\n  path: [/x]\n").unwrap_err();
    let location = error.location().unwrap();
    assert_eq!((location.line(), location.column()), (2, 3));
    assert!(serde_saphyr::from_str::<PolicyConfig>("default: allow").is_err());
    assert!(serde_saphyr::from_str::<PolicyConfig>("networks: { a: [nope] }").is_err());
    assert!(
        serde_saphyr::from_str::<RuleConfig>("{ auth: one_factor, max_auth_age: soon }").is_err()
    );
}

#[test]
fn rule_config_reads_durations_and_networks() {
    let config: PolicyConfig =
        serde_saphyr::from_str("networks: { lab: [10.1.2.3/16, 10.9.9.9] }").unwrap();
    let expected: Vec<ipnet::IpNet> = vec![
        "10.1.0.0/16".parse().unwrap(),
        "10.9.9.9/32".parse().unwrap(),
    ];
    assert_eq!(config.networks["lab"], expected);
    assert_eq!(config.default, DefaultAction::Deny);
    let rule: RuleConfig =
        serde_saphyr::from_str("{ auth: two_factor, max_auth_age: 12h }").unwrap();
    assert_eq!(rule.max_auth_age, Some(Duration::from_secs(12 * 3600)));
}

#[test]
fn compiled_policy_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Policy>();
    shareable::<Decision>();
    shareable::<Explanation>();
}

#[test]
fn hot_records_stay_within_two_cache_lines() {
    // A decision reads one app record and one or two rule records; see their docs.
    assert!(size_of::<app::CompiledApp>() <= 128);
    assert!(size_of::<rule::CompiledRule>() <= 128);
}
