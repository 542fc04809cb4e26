//! Costs on the request path that do not need a network: canonicalisation, route lookup and
//! upstream header building. Run with `cargo bench --bench request_path`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use portcullis::config::{Config, HeaderEdits};
use portcullis::proxy::canonical::{self, PathOptions};
use portcullis::proxy::forward::{self, ForwardContext};
use portcullis::proxy::route::RouteTable;

fn config_with_apps(count: usize) -> Config {
    let mut text = String::from(
        "listen: { https: \"127.0.0.1:0\" }\ntls: { certificates: [{ cert: a, key: b }] }\napps:\n",
    );
    for index in 0..count {
        text.push_str(&format!(
            "  - {{ name: app{index}, host: app{index}.example.test, upstream: [\"http://10.0.0.1:80\"] }}\n"
        ));
    }
    match Config::parse(&text, "bench", std::path::Path::new(".")) {
        Ok(config) => config,
        Err(error) => panic!("bench config: {error}"),
    }
}

fn canonicalisation(criterion: &mut Criterion) {
    let options = PathOptions::default();
    criterion.bench_function("canonical_path/plain", |bench| {
        bench.iter(|| canonical::canonical_path(black_box("/api/v1/users/42/profile"), options))
    });
    criterion.bench_function("canonical_path/escapes_and_dots", |bench| {
        bench.iter(|| canonical::canonical_path(black_box("/a/./b/../%7Euser//%c3%a9/x"), options))
    });
    criterion.bench_function("canonical_host", |bench| {
        bench.iter(|| canonical::parse_authority(black_box("App.Example.Test:443")))
    });
}

fn routing(criterion: &mut Criterion) {
    for count in [10, 1_000] {
        let config = config_with_apps(count);
        let table = RouteTable::new(&config.apps);
        let host = format!("app{}.example.test", count / 2);
        criterion.bench_function(&format!("route/{count}_apps"), |bench| {
            bench.iter(|| {
                table
                    .host(black_box(&host))
                    .and_then(|routes| routes.app_for("/x/y"))
            })
        });
    }
}

fn headers(criterion: &mut Criterion) {
    let mut client = HeaderMap::new();
    for (name, value) in [
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        ("cookie", "theme=dark; lang=en"),
        ("connection", "keep-alive"),
    ] {
        client.insert(name, HeaderValue::from_static(value));
    }
    let host = HeaderValue::from_static("app.example.test");
    let protected: Vec<String> = portcullis::proxy::DEFAULT_PROTECTED_HEADERS
        .map(String::from)
        .into();
    let edits = HeaderEdits::default();
    let context = ForwardContext {
        client_ip: [192, 0, 2, 7].into(),
        peer_ip: [192, 0, 2, 7].into(),
        peer_trusted: false,
        host: &host,
        public_host: "app.example.test",
        request_id: "0190b7c4-8f7e-7000-8000-000000000000",
        protected: &protected,
        websocket: false,
        edits: &edits,
    };
    criterion.bench_function("upstream_request_headers", |bench| {
        bench.iter(|| forward::upstream_request_headers(black_box(&client), &context))
    });
}

criterion_group!(benches, canonicalisation, routing, headers);
criterion_main!(benches);
