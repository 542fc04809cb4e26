//! Decision time of the policy engine as the number of rules and apps grows.
//!
//! Each app gets the same ten realistic rules (static files, health check, public API
//! reads, admin area with a role, API writes by group, office-only API, reports with an
//! exclusion, an internal deny, and a catch-all). Every iteration decides one request from
//! a fixed rotation of app and request pairs, so cache effects of many apps are included.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::policy::{
    AllowConfig, AppId, AppPolicyInput, AuthLevel, Policy, PolicyConfig, RequestFacts, RoleConfig,
    RuleConfig, Subject,
};

/// Requests tried against each app: (method, path below the app's prefix, client address).
const REQUESTS: &[(&str, &str, &str)] = &[
    ("GET", "/static/css/site.css", "203.0.113.9"),
    ("GET", "/api/v1/users/42/avatar", "203.0.113.9"),
    ("POST", "/api/v1/items/9", "203.0.113.9"),
    ("GET", "/api/v1/items", "10.20.4.4"),
    ("GET", "/admin/users/7/edit", "203.0.113.9"),
    ("GET", "/reports/2024/q1.pdf", "203.0.113.9"),
    ("GET", "/internal/metrics", "10.20.4.4"),
    ("GET", "/dashboard/overview", "203.0.113.9"),
];

/// How many (app, request) pairs the rotation holds.
const ROTATION: usize = 1024;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn rule(paths: &[&str], auth: Option<AuthLevel>) -> RuleConfig {
    RuleConfig {
        paths: (!paths.is_empty()).then(|| strings(paths)),
        deny: auth.is_none(),
        auth,
        ..RuleConfig::default()
    }
}

fn groups(names: &[&str]) -> Option<AllowConfig> {
    Some(AllowConfig {
        groups: strings(names),
        ..AllowConfig::default()
    })
}

fn roles(names: &[&str]) -> Option<AllowConfig> {
    Some(AllowConfig {
        roles: strings(names),
        ..AllowConfig::default()
    })
}

/// The ten rules of one app, all below `prefix` (empty for a whole-host app).
fn ten_rules(prefix: &str, team: usize) -> Vec<RuleConfig> {
    let path = |suffix: &str| format!("{prefix}{suffix}");
    let paths = |list: &[&str]| list.iter().map(|suffix| path(suffix)).collect::<Vec<_>>();
    let team = format!("team-{team}");
    let with = |mut rule: RuleConfig, edit: &dyn Fn(&mut RuleConfig)| {
        edit(&mut rule);
        rule
    };
    let public = Some(AuthLevel::Public);
    let one = Some(AuthLevel::OneFactor);
    let two = Some(AuthLevel::TwoFactor);
    vec![
        rule(&[&path("/static/**"), &path("/favicon.ico")], public),
        rule(&[&path("/healthz")], public),
        with(rule(&[&path("/api/v1/public/**")], public), &|r| {
            r.methods = Some(strings(&["GET"]))
        }),
        with(rule(&[&path("/admin/**")], two), &|r| {
            r.allow = roles(&["admin"]);
            r.max_auth_age = Some(Duration::from_secs(3600));
        }),
        rule(&[&path("/api/v1/users/*/avatar")], public),
        with(rule(&[&path("/api/v1/**")], one), &|r| {
            r.methods = Some(strings(&["POST", "PUT", "DELETE"]));
            r.allow = groups(&[&team, "staff"]);
        }),
        with(rule(&[&path("/api/v1/**")], one), &|r| {
            r.allow = groups(&["staff"]);
            r.networks = Some(strings(&["office"]));
        }),
        with(rule(&[&path("/reports/**")], two), &|r| {
            r.exclude_paths = paths(&["/reports/public/**"]);
            r.allow = roles(&["finance"]);
        }),
        rule(&[&path("/internal/**")], None),
        with(rule(&[&path("/**")], one), &|r| {
            r.allow = groups(&["staff"]);
        }),
    ]
}

fn global() -> PolicyConfig {
    let mut config = PolicyConfig::default();
    let office = vec![
        "10.20.0.0/16"
            .parse()
            .unwrap_or_else(|error| panic!("{error}")),
    ];
    config.networks.insert("office".to_owned(), office);
    let admin = RoleConfig {
        users: strings(&["root"]),
        groups: strings(&["it-admins"]),
        roles: Vec::new(),
    };
    config.roles.insert("admin".to_owned(), admin);
    let finance = RoleConfig {
        groups: strings(&["accounting"]),
        roles: strings(&["admin"]),
        ..RoleConfig::default()
    };
    config.roles.insert("finance".to_owned(), finance);
    config
}

/// A compiled policy plus the rotation of requests to decide.
struct Scenario {
    policy: Policy,
    rotation: Vec<(AppId, String, &'static str, IpAddr)>,
}

/// `apps` apps, each with `groups_per_app` blocks of ten rules under `/svcN`.
fn scenario(apps: usize, groups_per_app: usize, rules_per_group: usize) -> Scenario {
    let names: Vec<String> = (0..apps).map(|index| format!("app-{index}")).collect();
    let rules: Vec<Vec<RuleConfig>> = (0..apps)
        .map(|app| block_rules(app, groups_per_app, rules_per_group))
        .collect();
    let inputs: Vec<AppPolicyInput<'_>> = names
        .iter()
        .zip(&rules)
        .map(|(name, rules)| AppPolicyInput::new(name, false, rules))
        .collect();
    let policy = match Policy::compile(&global(), &inputs) {
        Ok(policy) => policy,
        Err(errors) => panic!("bench policy does not compile: {errors:?}"),
    };

    let mut rotation = Vec::with_capacity(ROTATION);
    for step in 0..ROTATION {
        let app = (step * 7919) % apps;
        let (method, suffix, ip) = REQUESTS[step % REQUESTS.len()];
        let prefix = prefix(groups_per_app, (step * 31) % groups_per_app);
        let ip = ip.parse().unwrap_or_else(|error| panic!("{error}"));
        rotation.push((
            AppId::from_position(app),
            format!("{prefix}{suffix}"),
            method,
            ip,
        ));
    }
    Scenario { policy, rotation }
}

fn prefix(groups_per_app: usize, group: usize) -> String {
    if groups_per_app == 1 {
        String::new()
    } else {
        format!("/svc{group}")
    }
}

/// The rules of one app: `groups` blocks of ten, each cut to its last `rules_per_group`.
fn block_rules(app: usize, groups: usize, rules_per_group: usize) -> Vec<RuleConfig> {
    (0..groups)
        .flat_map(|group| {
            let mut block = ten_rules(&prefix(groups, group), app);
            block.drain(..block.len().saturating_sub(rules_per_group));
            block
        })
        .collect()
}

fn bench_decide(criterion: &mut Criterion) {
    let user_groups = strings(&["staff", "team-3"]);
    let now = SystemTime::now();
    let subject = Subject {
        user: "alice",
        groups: &user_groups,
        factors: 2,
        auth_time: now - Duration::from_secs(600),
    };

    let cases = [
        ("10 rules, 1 app", scenario(1, 1, 10)),
        ("1,000 rules, 1,000 apps", scenario(1000, 1, 1)),
        ("10,000 rules, 1,000 apps", scenario(1000, 1, 10)),
        ("10,000 rules, 1 app", scenario(1, 1000, 10)),
    ];
    let mut group = criterion.benchmark_group("decide");
    for (name, case) in &cases {
        let mut step = 0;
        group.bench_function(*name, |bencher| {
            bencher.iter(|| {
                let (app, path, method, client_ip) = &case.rotation[step % ROTATION];
                step += 1;
                let request = RequestFacts {
                    method,
                    path,
                    client_ip: *client_ip,
                };
                black_box(
                    case.policy
                        .decide(*app, black_box(&request), Some(&subject), now),
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_decide
}
criterion_main!(benches);
