//! Property tests: the compiled matcher agrees with a naive linear reading of the rules.

use std::net::IpAddr;
use std::time::SystemTime;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;

/// Segments drawn from a tiny alphabet so that patterns and paths often collide.
const WORDS: &[&str] = &["a", "b", "c", "A", "x.y"];
const METHODS: &[&str] = &["GET", "POST", "get", "PUT"];
const NETWORKS: &[&str] = &["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"];
const ADDRESSES: &[&str] = &[
    "10.1.1.1",
    "192.168.3.3",
    "::ffff:10.2.2.2",
    "8.8.8.8",
    "2001:db8::9",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

/// A valid pattern: literal or `*` segments, then `/**`, a trailing slash or nothing.
fn pattern() -> impl Strategy<Value = String> {
    let segment = prop_oneof![3 => word(), 1 => Just("*".to_owned())];
    (prop::collection::vec(segment, 0..4), 0..3u8).prop_map(|(segments, ending)| {
        let body = segments.join("/");
        match ending {
            0 => format!("/{body}/**").replace("//", "/"),
            1 if !segments.is_empty() => format!("/{body}/"),
            _ => format!("/{body}"),
        }
    })
}

fn subset(items: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
    let chosen = prop::sample::subsequence(items, 1..=items.len())
        .prop_map(|chosen| chosen.into_iter().map(str::to_owned).collect());
    prop::option::weighted(0.4, chosen)
}

fn rule() -> impl Strategy<Value = RuleConfig> {
    let paths = prop::option::weighted(0.8, prop::collection::vec(pattern(), 1..3));
    let excludes = prop::collection::vec(pattern(), 0..2);
    let action = prop::sample::select(&[None, Some(AuthLevel::Public), Some(AuthLevel::OneFactor)]);
    let methods = subset(&METHODS[..2]);
    (paths, excludes, methods, subset(NETWORKS), action).prop_map(
        |(paths, exclude_paths, methods, networks, auth)| RuleConfig {
            paths,
            exclude_paths,
            methods,
            networks,
            deny: auth.is_none(),
            auth,
            ..RuleConfig::default()
        },
    )
}

/// A path, possibly with empty segments that canonical paths would not have.
fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![5 => word(), 1 => Just(String::new())];
    prop::collection::vec(segment, 0..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

/// Plain segment-by-segment comparison of a pattern with a path, written independently.
fn naive_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern[1..].split('/').collect();
    let path: Vec<&str> = path[1..].split('/').collect();
    let same = |(expected, actual): (&&str, &&str)| {
        if *expected == "*" {
            !actual.is_empty()
        } else {
            expected == actual
        }
    };
    if pattern.last() == Some(&"**") {
        let fixed = &pattern[..pattern.len() - 1];
        path.len() >= fixed.len() && fixed.iter().zip(&path).all(same)
    } else {
        pattern.len() == path.len() && pattern.iter().zip(&path).all(same)
    }
}

/// The first rule that matches, trying every rule in order.
fn naive_first(
    rules: &[RuleConfig],
    fold: bool,
    method: &str,
    path: &str,
    ip: IpAddr,
) -> Option<usize> {
    let fold = |text: &str| {
        if fold {
            text.to_lowercase()
        } else {
            text.to_owned()
        }
    };
    let path = fold(path);
    let ip = ip.to_canonical();
    rules.iter().position(|rule| {
        let paths_match = match &rule.paths {
            None => true,
            Some(paths) => paths
                .iter()
                .any(|pattern| naive_matches(&fold(pattern), &path)),
        };
        let excluded = rule
            .exclude_paths
            .iter()
            .any(|pattern| naive_matches(&fold(pattern), &path));
        let method_ok = rule.methods.as_ref().is_none_or(|methods| {
            methods
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(method))
        });
        let network_ok = rule.networks.as_ref().is_none_or(|networks| {
            networks
                .iter()
                .any(|network| network.parse::<IpNet>().unwrap().contains(&ip))
        });
        paths_match && !excluded && method_ok && network_ok
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_matcher_agrees_with_linear_reference(
        rules in prop::collection::vec(rule(), 0..12),
        fold in any::<bool>(),
        requests in prop::collection::vec(
            (path(), prop::sample::select(METHODS), prop::sample::select(ADDRESSES)),
            1..8,
        ),
    ) {
        let app = AppPolicyInput::new("app", fold, &rules);
        let policy = Policy::compile(&PolicyConfig::default(), &[app]).unwrap();
        let id = policy.app_id("app").unwrap();
        for (path, method, address) in &requests {
            let client_ip: IpAddr = address.parse().unwrap();
            let request = RequestFacts { method, path, client_ip };
            let now = SystemTime::UNIX_EPOCH;
            let decision = policy.decide(id, &request, None, now);
            let expected = naive_first(&rules, fold, method, path, client_ip);
            let actual = decision.rule().and_then(RuleRef::index);
            prop_assert_eq!(actual, expected, "{} {} from {}", method, path, address);

            let explanation = policy.explain(id, &request, None, now);
            let traced = explanation.steps.last()
                .filter(|step| step.outcome == StepOutcome::Matched)
                .and_then(|step| step.rule.index());
            prop_assert_eq!(traced, expected);
        }
    }

    #[test]
    fn every_generated_pattern_matches_like_the_reference(pattern in pattern(), path in path()) {
        let compiled = super::pattern::Pattern::parse(&pattern, false).unwrap();
        prop_assert_eq!(compiled.matches(&path), naive_matches(&pattern, &path));
    }

    #[test]
    fn covers_and_intersects_agree_with_sampled_paths(
        wide in pattern(),
        narrow in pattern(),
        paths in prop::collection::vec(path(), 1..30),
    ) {
        let wide_pattern = super::pattern::Pattern::parse(&wide, false).unwrap();
        let narrow_pattern = super::pattern::Pattern::parse(&narrow, false).unwrap();
        for path in &paths {
            let (in_wide, in_narrow) = (naive_matches(&wide, path), naive_matches(&narrow, path));
            if wide_pattern.covers(&narrow_pattern) {
                prop_assert!(!in_narrow || in_wide, "{} covers {} but not {}", wide, narrow, path);
            }
            if in_wide && in_narrow {
                let meets = wide_pattern.intersects(&narrow_pattern);
                prop_assert!(meets, "{} meets {} at {}", wide, narrow, path);
            }
        }
    }
}
