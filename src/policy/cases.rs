//! Policy tests: a YAML list of requests with the decision each must get, run against a
//! compiled policy (`portcullis policy test`).
//!
//! Owns the case file format and the pass/fail verdicts. Trusts a [`TargetResolver`] to
//! turn a case's `url` (or `app` + `path`) into an app and a canonical path; the engine
//! alone knows no hosts, so [`AppPathResolver`] handles `app` + `path` only and the gateway
//! supplies one that also routes URLs. A case file is checked whole before any case runs:
//! bad YAML is an error with line and column, a bad case is reported as invalid.
//!
//! ```yaml
//! - { user: alice, groups: [staff], factors: 2, auth_age: 5m,
//!     app: wiki, path: /admin/x, method: GET, ip: 10.1.2.3, expect: deny }
//! - { user: null, url: "https://wiki.example.test/admin/x", expect: login }
//! ```
//!
//! Defaults: `method: GET`; `ip: 192.0.2.1` (RFC 5737 documentation range, outside every
//! private network); `factors: 1` and `auth_age: 0s` when a user is given.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::de;
use super::decision::{DecisionKind, RequestFacts, Subject};
use super::explain::Explanation;
use super::{AppId, Policy};

/// The address used when a case gives none: TEST-NET-1, in no private network.
const DEFAULT_CASE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// One case as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// An optional label for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// The signed-in user, or `null`/absent for nobody.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Factors completed: 1 or 2 (default 1).
    #[serde(default)]
    pub factors: Option<u8>,
    /// Time since the last sign-in (default `0s`).
    #[serde(default, deserialize_with = "de::optional_duration")]
    pub auth_age: Option<Duration>,
    /// The full URL; needs a resolver that knows hosts.
    #[serde(default)]
    pub url: Option<String>,
    /// The app's name, with `path`.
    #[serde(default)]
    pub app: Option<String>,
    /// The canonical path, with `app`.
    #[serde(default)]
    pub path: Option<String>,
    /// The method (default `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// The client address (default 192.0.2.1).
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// The decision the case must get.
    pub expect: DecisionKind,
}

/// A case with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedCase {
    /// 1-based line of the case in the file.
    pub line: u64,
    /// 1-based column of the case in the file.
    pub column: u64,
    /// The case.
    pub case: TestCase,
}

/// Where a case's request goes, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseTarget<'a> {
    /// A full URL such as `https://wiki.example.test/admin?x=1`.
    Url(&'a str),
    /// An app name and a path.
    AppPath {
        /// The app's name.
        app: &'a str,
        /// The path as written.
        path: &'a str,
    },
}

/// A case's target once routed: the app and the canonical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTarget {
    /// The app.
    pub app: AppId,
    /// The canonical path, as the proxy would hand it to the policy.
    pub path: String,
}

/// Turns a case's target into an app and a canonical path.
pub trait TargetResolver {
    /// Routes `target` within `policy`.
    ///
    /// # Errors
    /// A message saying why the target cannot be routed (unknown host, bad URL, ...).
    fn resolve(&self, policy: &Policy, target: CaseTarget<'_>) -> Result<ResolvedTarget, String>;
}

/// The engine's own resolver: `app` + `path` only, the path used as written.
///
/// URLs are refused because mapping hosts to apps and canonicalising paths belong to the
/// gateway; a path must already be canonical (start with `/`, no query or fragment).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPathResolver;

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's position in the file, from 0.
    pub index: usize,
    /// The case's line in the file.
    pub line: u64,
    /// The case's label, if any.
    pub name: Option<String>,
    /// What the case expected.
    pub expected: DecisionKind,
    /// What happened.
    pub outcome: CaseOutcome,
}

/// Whether a case passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// The decision had the expected kind.
    Passed,
    /// The decision differed; the explanation says why.
    Failed {
        /// The full explanation of the decision made.
        explanation: Box<Explanation>,
    },
    /// The case itself is wrong (unknown app, groups without a user, ...).
    Invalid {
        /// What is wrong.
        message: String,
    },
}

/// A case file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaseFileError {
    /// The YAML is malformed or does not have the case shape.
    #[error("policy test file: line {line}, column {column}: {message}")]
    Yaml {
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// The parser's message.
        message: String,
    },
}

impl TargetResolver for AppPathResolver {
    fn resolve(&self, policy: &Policy, target: CaseTarget<'_>) -> Result<ResolvedTarget, String> {
        let CaseTarget::AppPath { app, path } = target else {
            return Err("url cases need the gateway's routes; use app and path".to_owned());
        };
        let app = policy
            .app_id(app)
            .ok_or_else(|| format!("unknown app {app:?}"))?;
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(format!(
                "path {path:?} is not canonical (starts with /, no ? or #)"
            ));
        }
        Ok(ResolvedTarget {
            app,
            path: path.to_owned(),
        })
    }
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.outcome == CaseOutcome::Passed
    }
}

/// Parses a case file.
///
/// # Errors
/// [`CaseFileError::Yaml`] with the line and column of the first problem.
pub fn parse_cases(yaml: &str) -> Result<Vec<LocatedCase>, CaseFileError> {
    let cases: Vec<Spanned<TestCase>> = serde_saphyr::from_str(yaml).map_err(|error| {
        let location = error.location();
        let line = location.map_or(0, |location| location.line());
        let column = location.map_or(0, |location| location.column());
        // The parser appends the position to its message; we report it as fields instead.
        let message = error.without_snippet().to_string();
        let suffix = format!(" at line {line}, column {column}");
        let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        CaseFileError::Yaml {
            line,
            column,
            message,
        }
    })?;
    Ok(cases
        .into_iter()
        .map(|spanned| LocatedCase {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            case: spanned.value,
        })
        .collect())
}

/// Parses a case file and runs every case; see [`run_cases`].
///
/// # Errors
/// [`CaseFileError`] when the file cannot be parsed; no case runs then.
pub fn run_case_file(
    policy: &Policy,
    yaml: &str,
    resolver: &dyn TargetResolver,
    now: SystemTime,
) -> Result<Vec<CaseResult>, CaseFileError> {
    Ok(run_cases(policy, &parse_cases(yaml)?, resolver, now))
}

/// Runs each case against `policy` at time `now`.
pub fn run_cases(
    policy: &Policy,
    cases: &[LocatedCase],
    resolver: &dyn TargetResolver,
    now: SystemTime,
) -> Vec<CaseResult> {
    let results = cases.iter().enumerate().map(|(index, located)| CaseResult {
        index,
        line: located.line,
        name: located.case.name.clone(),
        expected: located.case.expect,
        outcome: run_case(policy, &located.case, resolver, now),
    });
    results.collect()
}

/// Runs one case.
fn run_case(
    policy: &Policy,
    case: &TestCase,
    resolver: &dyn TargetResolver,
    now: SystemTime,
) -> CaseOutcome {
    let checked = target(case)
        .and_then(|target| resolver.resolve(policy, target))
        .and_then(|resolved| subject_facts(case).map(|facts| (resolved, facts)));
    let (resolved, facts) = match checked {
        Ok(checked) => checked,
        Err(message) => return CaseOutcome::Invalid { message },
    };

    let request = RequestFacts {
        method: case.method.as_deref().unwrap_or("GET"),
        path: &resolved.path,
        client_ip: case.ip.unwrap_or(DEFAULT_CASE_IP),
    };
    let subject = facts.map(|(user, factors, age)| Subject {
        user,
        groups: &case.groups,
        factors,
        auth_time: now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH),
    });

    let explanation = policy.explain(resolved.app, &request, subject.as_ref(), now);
    if explanation.decision.kind() == case.expect {
        CaseOutcome::Passed
    } else {
        let explanation = Box::new(explanation);
        CaseOutcome::Failed { explanation }
    }
}

/// The case's target: `url`, or `app` with `path`, never both.
fn target(case: &TestCase) -> Result<CaseTarget<'_>, String> {
    match (&case.url, &case.app, &case.path) {
        (Some(url), None, None) => Ok(CaseTarget::Url(url)),
        (None, Some(app), Some(path)) => Ok(CaseTarget::AppPath { app, path }),
        (Some(_), _, _) => Err("give either url or app and path, not both".to_owned()),
        _ => Err("give url, or app and path".to_owned()),
    }
}

/// The user, factors and sign-in age of the case, or `None` for nobody.
fn subject_facts(case: &TestCase) -> Result<Option<(&str, u8, Duration)>, String> {
    if case.user.as_deref() == Some("") {
        return Err("user must not be empty; use null for nobody".to_owned());
    }
    let Some(user) = &case.user else {
        let has_session_facts =
            !case.groups.is_empty() || case.factors.is_some() || case.auth_age.is_some();
        if has_session_facts {
            return Err("groups, factors and auth_age need a user".to_owned());
        }
        return Ok(None);
    };
    let factors = case.factors.unwrap_or(1);
    if !(1..=2).contains(&factors) {
        return Err(format!("factors must be 1 or 2, not {factors}"));
    }
    Ok(Some((
        user,
        factors,
        case.auth_age.unwrap_or(Duration::ZERO),
    )))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{CASES_RULES, now, policy};
    use super::*;

    /// Routes `https://app.example.test/...` to `app`, dropping the query like the proxy.
    struct HostResolver;

    impl TargetResolver for HostResolver {
        fn resolve(
            &self,
            policy: &Policy,
            target: CaseTarget<'_>,
        ) -> Result<ResolvedTarget, String> {
            let CaseTarget::Url(url) = target else {
                return AppPathResolver.resolve(policy, target);
            };
            let rest = url
                .strip_prefix("https://app.example.test")
                .ok_or("unknown host")?;
            let path = rest.split(['?', '#']).next().unwrap_or("/");
            let app = policy.app_id("app").ok_or("no app")?;
            Ok(ResolvedTarget {
                app,
                path: path.to_owned(),
            })
        }
    }

    const FILE: &str = r#"
- { name: anonymous admin, app: app, path: /admin/users, expect: login }
- { user: alice, groups: [staff], factors: 2, app: app, path: /admin/users, expect: deny }
- { user: root, groups: [admins], factors: 1, app: app, path: /admin/x, expect: step_up }
- { user: root, groups: [admins], factors: 2, auth_age: 5m, app: app, path: /admin/x,
    method: POST, ip: "::ffff:10.1.2.3", expect: allow }
- { name: wrong on purpose, app: app, path: /public/a, expect: deny }
- { app: ghost, path: /x, expect: deny }
- { groups: [staff], app: app, path: /x, expect: login }
- { url: "https://app.example.test/healthz", expect: allow }
"#;

    #[test]
    fn case_file_reports_passes_failures_and_invalid_cases() {
        let policy = policy("{}", CASES_RULES);
        let results = run_case_file(&policy, FILE, &AppPathResolver, now()).unwrap();
        let passed: Vec<bool> = results.iter().map(CaseResult::passed).collect();
        assert_eq!(passed, [true, true, true, true, false, false, false, false]);
        assert_eq!(results[0].name.as_deref(), Some("anonymous admin"));
        assert_eq!(results[4].line, 7);

        let CaseOutcome::Failed { explanation } = &results[4].outcome else {
            panic!("expected a failure, got {:?}", results[4].outcome);
        };
        assert_eq!(explanation.decision.kind(), DecisionKind::Allow);
        assert!(
            explanation
                .to_string()
                .contains("rules[0] /public/**,/healthz -> public: matches")
        );

        let messages: Vec<&str> = results[5..]
            .iter()
            .map(|result| match &result.outcome {
                CaseOutcome::Invalid { message } => message.as_str(),
                other => panic!("expected invalid, got {other:?}"),
            })
            .collect();
        let expected = [
            r#"unknown app "ghost""#,
            "groups, factors and auth_age need a user",
            "url cases need the gateway's routes; use app and path",
        ];
        assert_eq!(messages, expected);
    }

    #[test]
    fn url_cases_go_through_the_callers_resolver() {
        // K4 through the command: the query never reaches the rules.
        let file = r#"
- { url: "https://app.example.test/healthz?verbose=1", expect: allow }
- { url: "https://app.example.test/admin/export?x=/public/a", expect: login }
- { url: "https://app.example.test/admin/export?/healthz", expect: login }
- { url: "https://other.example.test/", expect: deny }
"#;
        let policy = policy("{}", CASES_RULES);
        let results = run_case_file(&policy, file, &HostResolver, now()).unwrap();
        let passed: Vec<bool> = results.iter().map(CaseResult::passed).collect();
        assert_eq!(passed, [true, true, true, false]);
        let invalid = CaseOutcome::Invalid {
            message: "unknown host".into(),
        };
        assert_eq!(results[3].outcome, invalid);
    }

    #[test]
    fn stale_sign_in_in_a_case_needs_reauthentication() {
        let apps = r#"[{ name: app, rules: [{ auth: one_factor, max_auth_age: 1h }] }]"#;
        let file = r#"
- { user: alice, auth_age: 2h, app: app, path: /, expect: reauthenticate }
- { user: alice, auth_age: 30m, app: app, path: /, expect: allow }
"#;
        let results = run_case_file(&policy("{}", apps), file, &AppPathResolver, now()).unwrap();
        assert!(results.iter().all(CaseResult::passed), "{results:?}");
    }

    #[test]
    fn bad_yaml_is_reported_with_line_and_column() {
        let file =
            "- { app: app, path: /, expect: allow }\n- { app: app, path: /, expect: maybe }\n";
        let error = parse_cases(file).unwrap_err();
        let CaseFileError::Yaml { line, column, .. } = &error;
        assert_eq!(*line, 2);
        assert!(*column > 1, "{error}");
        assert!(!error.to_string().contains(" at line"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("policy test file: line 2, column"),
            "{error}"
        );

        let unknown_key = "- { app: app, path: /, expect: allow, usr: alice }\n";
        assert!(matches!(
            parse_cases(unknown_key),
            Err(CaseFileError::Yaml { line: 1, .. })
        ));
        let not_a_list = "app: app\n";
        assert!(parse_cases(not_a_list).is_err());
    }

    #[test]
    fn case_locations_point_at_each_case() {
        let file = "# cases\n- { app: a, path: /, expect: allow }\n\n- app: a\n  path: /\n  \
                    expect: deny\n";
        let lines: Vec<u64> = parse_cases(file)
            .unwrap()
            .iter()
            .map(|case| case.line)
            .collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn factors_outside_one_or_two_make_a_case_invalid() {
        let policy = policy("{}", CASES_RULES);
        let file = "- { user: alice, factors: 3, app: app, path: /, expect: allow }\n";
        let results = run_case_file(&policy, file, &AppPathResolver, now()).unwrap();
        let invalid = CaseOutcome::Invalid {
            message: "factors must be 1 or 2, not 3".into(),
        };
        assert_eq!(results[0].outcome, invalid);
    }
}
