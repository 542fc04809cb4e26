//! What the identity assertion costs per request: identity headers alone, identity headers
//! plus the cached assertion (the hot path), and signing a fresh token (once per session
//! and app per ~45 s). Run with `cargo bench --bench assertion`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use http::HeaderMap;
use portcullis::authn::Secret;
use portcullis::authn::password::HashParams;
use portcullis::config::Config;
use portcullis::identity::{GroupName, NewUser, Username};
use portcullis::proxy::auth;
use portcullis::proxy::canonical::CanonicalHost;
use portcullis::services::Services;
use portcullis::session::{ActiveSession, AuthMethod, ClientInfo, NewSession};
use portcullis::store::SystemClock;

const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// Services on a temporary store with one signed-in user, and that user's session.
fn setup(dir: &std::path::Path) -> (Config, Services, Arc<ActiveSession>) {
    let text = format!(
        "listen: {{ https: \"127.0.0.1:0\" }}\ntls: {{ certificates: [{{ cert: a, key: b }}] }}\n\
         store: \"sqlite://{}/bench.db\"\nportal: {{ url: \"https://auth.example.test\" }}\n\
         apps:\n  - {{ name: app, host: app.example.test, upstream: [\"http://10.0.0.1\"] }}\n",
        dir.display()
    );
    let config = Config::parse(&text, "bench", dir).unwrap_or_else(|error| panic!("{error}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    runtime.block_on(async {
        let services = Services::open_with(&config, Arc::new(SystemClock), CHEAP)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let username = Username::parse("alice").unwrap_or_else(|error| panic!("{error}"));
        let new = NewUser {
            username: username.clone(),
            display_name: Some("Alice Example".into()),
            email: Some("alice@example.test".into()),
            groups: ["staff", "wiki-editors"]
                .iter()
                .filter_map(|group| GroupName::parse(group).ok())
                .collect(),
            password: Secret::new("correct horse battery"),
            must_change_password: false,
        };
        let user = services.directory.add_user(new).await;
        user.unwrap_or_else(|error| panic!("{error}"));
        let session = NewSession {
            username,
            amr: vec![AuthMethod::Password],
            remember_me: false,
            client: ClientInfo::default(),
        };
        let created = services.sessions.create(session).await;
        let (id, _) = created.unwrap_or_else(|error| panic!("{error}"));
        let active = services.cache.get(&id.cookie_value()).await;
        let active = active
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no session"));
        (config, services, active)
    })
}

fn bench_assertion(criterion: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let (config, services, active) = setup(dir.path());
    let host = CanonicalHost {
        name: "app.example.test".into(),
        port: None,
    };
    // A cache hit completes on its first poll; `now_or_never` measures it without a runtime.
    let names = &config.apps[0].identity_headers;
    let roles = config
        .policy
        .roles_of(active.user.username.as_str(), &active.groups);
    let with_assertion = |headers: &mut HeaderMap, active: &ActiveSession| {
        auth::add_identity_headers(headers, active, names, &roles, None);
        let added = auth::add_assertion(&services, &config, &host, active, &roles, headers);
        added.now_or_never().map(|result| result.is_ok())
    };

    criterion.bench_function("identity_headers", |bench| {
        bench.iter(|| {
            let mut headers = HeaderMap::with_capacity(16);
            auth::add_identity_headers(&mut headers, black_box(&active), names, &roles, None);
            headers
        })
    });
    let mut warm = HeaderMap::new();
    let first = with_assertion(&mut warm, &active);
    assert_eq!(first, Some(true), "the first token signs without waiting");
    criterion.bench_function("identity_headers_and_cached_assertion", |bench| {
        bench.iter(|| {
            let mut headers = HeaderMap::with_capacity(16);
            assert_eq!(with_assertion(&mut headers, black_box(&active)), Some(true));
            headers
        })
    });

    // Alternating the display name changes the identity the cache is keyed on, so every
    // iteration signs a fresh token.
    let mut variants = [(*active).clone(), (*active).clone()];
    variants[1].user.display_name.push_str(" (renamed)");
    // A runtime, because a due key reload (once a minute) reads the store.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let mut turn = 0usize;
    criterion.bench_function("sign_fresh_token", |bench| {
        bench.iter(|| {
            turn += 1;
            let mut headers = HeaderMap::with_capacity(16);
            let active = &variants[turn % 2];
            let added =
                auth::add_assertion(&services, &config, &host, active, &roles, &mut headers);
            assert!(runtime.block_on(added).is_ok());
            headers
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_assertion
}
criterion_main!(benches);
