//! The gateway's configuration: the YAML file, its checked form and its errors.
//!
//! Owns: reading a config file (or the embedded defaults) into a [`Config`] that cannot be
//! invalid. Trusts nothing in the file: every value is checked while it is read, and every
//! problem is reported with the file, line and column where it stands and what was expected.
//! Files named by the config (certificates, keys, CA bundles) are resolved relative to the
//! config file's folder but only read by the modules that use them.

mod raw;
pub mod value;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use self::raw::{RawApp, RawConfig, RawHeaderEdits};
pub use self::value::{HostPattern, UpstreamUrl};
use crate::assertion;
use crate::policy::{
    AppPolicyInput, AuthLevel, DefaultAction, KnownSubjects, LintSite, Policy, PolicyConfig,
    PolicyError, RuleConfig,
};

/// The default body size limit per request when neither the app nor `limits` sets one.
const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;

/// A checked configuration, ready to build the gateway from.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the configuration came from, for messages.
    pub source: String,
    /// Socket addresses to listen on.
    pub listen: Listen,
    /// Certificate and key files, resolved to absolute or config-relative paths.
    pub certificates: Vec<CertificateFiles>,
    /// Peers whose X-Forwarded-For, Forwarded and X-Request-Id are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Request size limits.
    pub limits: Limits,
    /// Timeouts for clients and upstreams.
    pub timeouts: Timeouts,
    /// How long an upstream that failed is left out of rotation.
    pub upstream_fail_timeout: Duration,
    /// Log format and level.
    pub log: LogSettings,
    /// How often the config and certificate files are checked for changes.
    pub watch_interval: Duration,
    /// Database URL: `sqlite://path` (relative paths are relative to the config file) or
    /// `postgres://...`.
    pub store: String,
    /// The sign-in portal, if configured.
    pub portal: Option<Portal>,
    /// Session lifetimes and cookie scope.
    pub session: SessionSettings,
    /// A declarative users file that the store follows.
    pub users_file: Option<PathBuf>,
    /// The signed identity assertion sent upstream.
    pub assertion: AssertionSettings,
    /// The compiled route policy of every app (app `i` of `apps` is `AppId` `i`).
    pub policy: Arc<Policy>,
    /// Warnings about the policy (shadowed rules, public rules before protected ones),
    /// each as `file:line:column: message`.
    pub warnings: Vec<String>,
    /// The applications behind the gateway, in file order.
    pub apps: Vec<App>,
}

/// The sign-in portal.
#[derive(Clone, Debug)]
pub struct Portal {
    /// Public https origin of the portal.
    pub url: value::PortalUrl,
    /// Title shown on portal pages.
    pub title: String,
    /// URL of a logo image shown on portal pages.
    pub logo: Option<String>,
}

/// Session lifetimes and cookie scope.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in.
    pub lifetime: Duration,
    /// Lifetime of a "remember me" session.
    pub remember_me: Duration,
    /// Parent domain for one shared cookie (`example.test`); host-only cookies when unset.
    pub domain: Option<String>,
    /// Longest time a cached session is used without checking the store.
    pub cache_staleness: Duration,
}

/// The signed identity assertion: where it goes and how long tokens and keys live.
#[derive(Clone, Debug)]
pub struct AssertionSettings {
    /// The request header that carries the token upstream (`x-portcullis-assertion`).
    pub header: http::HeaderName,
    /// How long one token is valid; at most [`assertion::MAX_LIFETIME`].
    pub lifetime: Duration,
    /// How often a new signing key replaces the current one.
    pub rotate_every: Duration,
}

impl Default for AssertionSettings {
    fn default() -> Self {
        AssertionSettings {
            header: http::HeaderName::from_static(assertion::DEFAULT_HEADER),
            lifetime: assertion::DEFAULT_LIFETIME,
            rotate_every: assertion::DEFAULT_ROTATE_EVERY,
        }
    }
}

/// Listening addresses.
#[derive(Clone, Debug)]
pub struct Listen {
    /// The HTTPS listener.
    pub https: SocketAddr,
    /// The optional plain-HTTP listener, which only redirects to HTTPS.
    pub http: Option<SocketAddr>,
}

/// One certificate chain and its private key, as files.
#[derive(Clone, Debug)]
pub struct CertificateFiles {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Request size limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request head (request line and headers) accepted; larger gets 431.
    pub max_header_bytes: usize,
    /// Longest request target accepted; longer gets 414.
    pub max_uri_bytes: usize,
}

/// Timeouts applied by the gateway.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting to an upstream.
    pub connect: Duration,
    /// Waiting for an upstream's response head.
    pub response: Duration,
    /// Keeping an idle connection (client or upstream) open.
    pub idle: Duration,
    /// Receiving a request head from a client.
    pub header_read: Duration,
    /// Completing a TLS handshake with a client.
    pub tls_handshake: Duration,
    /// Letting requests in flight finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Log output settings.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// Level filter in `tracing_subscriber::EnvFilter` syntax, such as `info`.
    pub level: String,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable when standard error is a terminal, JSON lines otherwise.
    Auto,
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line.
    Json,
}

/// One application behind the gateway.
#[derive(Clone, Debug)]
pub struct App {
    /// Unique name, used in logs and rules.
    pub name: String,
    /// The host name (or wildcard) clients use for this app.
    pub host: HostPattern,
    /// Only requests under this path prefix belong to the app (`/` for all).
    pub path_prefix: String,
    /// Upstream servers, used round robin.
    pub upstreams: Vec<UpstreamUrl>,
    /// How to verify upstreams reached over https.
    pub upstream_tls: UpstreamTls,
    /// Host header to send upstream instead of the client's.
    pub host_rewrite: Option<http::HeaderValue>,
    /// Headers to remove from and add to requests sent upstream.
    pub request_headers: HeaderEdits,
    /// Headers to remove from and add to responses sent to clients.
    pub response_headers: HeaderEdits,
    /// Whether WebSocket upgrades are passed through.
    pub websocket: bool,
    /// Largest request body accepted, in bytes; larger gets 413.
    pub max_body_bytes: u64,
    /// Whether paths are matched without regard to case (legacy Windows servers).
    pub case_insensitive_paths: bool,
    /// Whether an encoded slash (`%2F`) in a path is kept as data instead of refused.
    pub allow_encoded_slash: bool,
    /// Time allowed to connect to an upstream of this app.
    pub connect_timeout: Duration,
    /// Time allowed for an upstream of this app to send its response head.
    pub response_timeout: Duration,
    /// Names of the identity headers sent to this app.
    pub identity_headers: IdentityHeaders,
    /// A fixed password sent with the username as HTTP Basic credentials, for legacy apps
    /// that only understand those; `None` (the default) sends no `Authorization`.
    pub basic_auth_password: Option<String>,
}

/// The header names that carry a person's identity to an app.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    /// The username (`Remote-User`).
    pub user: http::HeaderName,
    /// The display name (`Remote-Name`).
    pub name: http::HeaderName,
    /// The email address (`Remote-Email`).
    pub email: http::HeaderName,
    /// Group names, comma-separated (`Remote-Groups`).
    pub groups: http::HeaderName,
    /// Role names, comma-separated (`Remote-Roles`).
    pub roles: http::HeaderName,
}

impl IdentityHeaders {
    /// Every name, for stripping client copies.
    pub fn all(&self) -> [&http::HeaderName; 5] {
        [
            &self.user,
            &self.name,
            &self.email,
            &self.groups,
            &self.roles,
        ]
    }
}

/// How upstream TLS certificates are verified.
#[derive(Clone, Debug, Default)]
pub struct UpstreamTls {
    /// A PEM bundle of CA certificates to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Accept any upstream certificate. Only for testing; logged as a warning at load.
    pub dangerous_skip_verify: bool,
}

/// Header changes applied on the way through.
#[derive(Clone, Debug, Default)]
pub struct HeaderEdits {
    /// Names removed first.
    pub remove: Vec<http::HeaderName>,
    /// Headers set afterwards, replacing any value of the same name.
    pub add: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// A configuration that could not be loaded, with every problem found.
#[derive(Debug)]
pub struct ConfigError {
    /// One entry per problem, each a `file:line:column: message` line (or `file: message`).
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and checks the configuration file at `path`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file, line and column of each problem.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            problems: vec![format!("{source}: cannot read the file: {error}")],
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Config::parse(&text, &source, &base)
    }

    /// Checks configuration text; relative file names are resolved against `base`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `source`, line and column of each problem.
    pub fn parse(text: &str, source: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|error| ConfigError {
            problems: vec![describe_yaml_error(&error, source)],
        })?;
        let mut problems = Vec::new();
        check_apps(&raw.apps, source, &mut problems);
        check_session(&raw, source, &mut problems);
        check_assertion(&raw.assertion, source, &mut problems);
        if raw.tls.certificates.value.is_empty() {
            problems.push(at(
                source,
                &raw.tls.certificates,
                "expected at least one certificate",
            ));
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let (policy, warnings) = compile_policy(&raw, source)?;
        Ok(build(raw, source, base, policy, warnings))
    }
}

/// Turns a YAML reader error into `file:line:column: message` plus the snippet it shows.
fn describe_yaml_error(error: &serde_saphyr::Error, source: &str) -> String {
    let rendered = error.to_string();
    let snippet: Vec<&str> = rendered
        .lines()
        .skip(1)
        .filter(|line| !line.trim_start().starts_with("-->"))
        .collect();
    format!(
        "{}\n{}",
        yaml_error_headline(error, source),
        snippet.join("\n")
    )
}

/// `file:line:column: message` for a YAML reader error, without the snippet of the file
/// that its Display adds (for files whose lines may hold secrets).
pub(crate) fn yaml_error_headline(error: &serde_saphyr::Error, source: &str) -> String {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first
        .strip_prefix("error: ")
        .map(|rest| match rest.split_once(": ") {
            Some((place, message)) if place.starts_with("line ") => message,
            _ => rest,
        })
        .unwrap_or(first);
    match error.location() {
        Some(location) => format!(
            "{source}:{}:{}: {message}",
            location.line(),
            location.column()
        ),
        None => format!("{source}: {message}"),
    }
}

/// Formats a problem at the place where `spanned` was written.
fn at<T>(source: &str, spanned: &Spanned<T>, message: &str) -> String {
    let location: Location = spanned.referenced;
    format!(
        "{source}:{}:{}: {message}",
        location.line(),
        location.column()
    )
}

/// Checks what spans several apps: unique names, unique host and prefix pairs, and path
/// options that agree between apps on one host (they shape the canonical path).
fn check_apps(apps: &[RawApp], source: &str, problems: &mut Vec<String>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut places: HashMap<(String, String), usize> = HashMap::new();
    let mut host_options: HashMap<String, (bool, bool, usize)> = HashMap::new();
    for (index, app) in apps.iter().enumerate() {
        if app.name.value.trim().is_empty() {
            problems.push(at(source, &app.name, "expected a non-empty app name"));
        }
        if let Some(first) = names.insert(&app.name.value, index) {
            let message = format!(
                "app name `{}` is already used by app #{}",
                app.name.value,
                first + 1
            );
            problems.push(at(source, &app.name, &message));
        }
        if app.upstream.value.is_empty() {
            problems.push(at(
                source,
                &app.upstream,
                "expected at least one upstream URL",
            ));
        }
        let host = app.host.value.to_string();
        let prefix = app
            .path_prefix
            .as_ref()
            .map_or("/".to_owned(), |prefix| prefix.0.clone());
        if let Some(first) = places.insert((host.clone(), prefix.clone()), index) {
            let message = format!(
                "host `{host}` with path prefix `{prefix}` is already served by app `{}`",
                apps[first].name.value
            );
            problems.push(at(source, &app.host, &message));
        }
        let options = (app.case_insensitive_paths, app.allow_encoded_slash, index);
        if let Some(&(case, slash, first)) = host_options.get(&host) {
            if (case, slash) != (options.0, options.1) {
                let message = format!(
                    "apps on host `{host}` must agree on case_insensitive_paths and \
                     allow_encoded_slash (app `{}` differs)",
                    apps[first].name.value
                );
                problems.push(at(source, &app.host, &message));
            }
        } else {
            host_options.insert(host, options);
        }
    }
}

/// Checks the portal and cookie domain against each other and against the apps.
fn check_session(raw: &RawConfig, source: &str, problems: &mut Vec<String>) {
    let portal_host = raw.portal.as_ref().map(|portal| portal.url.host.as_str());
    if let Some(portal_host) = portal_host {
        for app in &raw.apps {
            if app.host.value.matches(portal_host) {
                let message =
                    format!("host `{portal_host}` is the portal's; apps need another host");
                problems.push(at(source, &app.host, &message));
            }
        }
    }
    let Some(domain) = &raw.session.domain else {
        return;
    };
    let HostPattern::Exact(name) = &domain.value else {
        problems.push(at(
            source,
            domain,
            "expected a parent domain such as `example.test`",
        ));
        return;
    };
    let under = |host: &str| {
        host.strip_suffix(name.as_str())
            .is_some_and(|rest| rest.ends_with('.'))
    };
    if portal_host.is_some_and(|host| !under(host)) {
        let message = format!("the portal's host is not under the session domain `{name}`");
        problems.push(at(source, domain, &message));
    }
}

/// Checks the assertion settings: a lifetime within [`assertion::MAX_LIFETIME`], a
/// rotation period of at least [`assertion::MIN_ROTATE_EVERY`], and a header name that no
/// other part of HTTP gives a meaning.
fn check_assertion(raw: &raw::RawAssertion, source: &str, problems: &mut Vec<String>) {
    if let Some(lifetime) = &raw.lifetime
        && (lifetime.value.0 > assertion::MAX_LIFETIME || lifetime.value.0.is_zero())
    {
        let message = "expected an assertion lifetime above zero and at most 5m";
        problems.push(at(source, lifetime, message));
    }
    if let Some(every) = &raw.rotate_every
        && every.value.0 < assertion::MIN_ROTATE_EVERY
    {
        problems.push(at(
            source,
            every,
            "expected a rotation period of at least 1m",
        ));
    }
    if let Some(header) = &raw.header {
        let name = header.value.0.as_str();
        let reserved = RESERVED_HEADERS.contains(&name) || name.starts_with("sec-");
        if reserved || name.starts_with("x-forwarded-") || name.starts_with("remote-") {
            let message = format!("header `{name}` has another meaning; choose another name");
            problems.push(at(source, header, &message));
        }
    }
}

/// Header names an assertion may not take: they carry framing, routing or credentials.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "cookie",
    "authorization",
    "proxy-authorization",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "forwarded",
    "x-request-id",
    "content-type",
];

/// Compiles the route policy; errors and lint warnings point at the rule they are about.
fn compile_policy(
    raw: &RawConfig,
    source: &str,
) -> Result<(Arc<Policy>, Vec<String>), ConfigError> {
    let rules: Vec<Vec<RuleConfig>> = raw
        .apps
        .iter()
        .map(|app| app.rules.iter().map(|rule| rule.value.clone()).collect())
        .collect();
    let inputs: Vec<AppPolicyInput<'_>> = raw
        .apps
        .iter()
        .zip(&rules)
        .map(|(app, rules)| AppPolicyInput::new(&app.name.value, app.case_insensitive_paths, rules))
        .collect();
    let policy_config = PolicyConfig {
        networks: raw.networks.clone(),
        roles: raw.roles.clone(),
        default: raw.default,
    };
    let locate = |app: &str, rule: usize, message: &str| {
        let spanned = raw
            .apps
            .iter()
            .find(|candidate| candidate.name.value == app);
        match spanned.and_then(|app| app.rules.get(rule)) {
            Some(rule) => at(source, rule, message),
            None => format!("{source}: {message}"),
        }
    };
    let policy = Policy::compile(&policy_config, &inputs).map_err(|errors| ConfigError {
        problems: errors
            .iter()
            .map(|error| match error {
                PolicyError::Rule { app, rule, .. } => locate(app, *rule, &error.to_string()),
                other => format!("{source}: {other}"),
            })
            .collect(),
    })?;
    let mut warnings = setup_warnings(raw, source);
    let lints = policy
        .lint(&KnownSubjects::default())
        .iter()
        .map(|lint| {
            let message = format!("warning: {}: {}", lint.site, lint.kind);
            match &lint.site {
                LintSite::Rule { app, rule } => locate(app, *rule, &message),
                LintSite::Role { .. } => format!("{source}: {message}"),
            }
        })
        .collect();
    warnings.extend::<Vec<String>>(lints);
    Ok((Arc::new(policy), warnings))
}

/// Warnings about setups that load but cannot work as meant: an app without rules under
/// the default `deny` (every request gets 403), or rules that need sign-in without a portal
/// (those requests get 401 with nowhere to sign in).
fn setup_warnings(raw: &RawConfig, source: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if raw.default == DefaultAction::Deny {
        for app in raw.apps.iter().filter(|app| app.rules.is_empty()) {
            let message = format!(
                "warning: app `{}` has no rules, so every request gets the default `deny` (403)",
                app.name.value
            );
            warnings.push(at(source, &app.name, &message));
        }
    }
    let rule_signs_in = raw.apps.iter().flat_map(|app| &app.rules).any(|rule| {
        !rule.value.deny
            && rule
                .value
                .auth
                .is_some_and(|auth| auth != AuthLevel::Public)
    });
    let default_signs_in = matches!(
        raw.default,
        DefaultAction::OneFactor | DefaultAction::TwoFactor
    );
    if raw.portal.is_none() && (rule_signs_in || default_signs_in) {
        warnings.push(format!(
            "{source}: warning: rules need sign-in but no `portal` is configured; those \
             requests get 401 with nowhere to sign in"
        ));
    }
    warnings
}

/// Builds the checked config from a raw one that passed [`check_apps`].
fn build(
    raw: RawConfig,
    source: &str,
    base: &Path,
    policy: Arc<Policy>,
    warnings: Vec<String>,
) -> Config {
    let timeouts = Timeouts {
        connect: duration(raw.timeouts.connect, 5),
        response: duration(raw.timeouts.response, 60),
        idle: duration(raw.timeouts.idle, 90),
        header_read: duration(raw.timeouts.header_read, 30),
        tls_handshake: duration(raw.timeouts.tls_handshake, 10),
        shutdown_grace: duration(raw.timeouts.shutdown_grace, 30),
    };
    let default_body = raw.limits.max_body.map_or(DEFAULT_MAX_BODY, |size| size.0);
    let certificates = raw
        .tls
        .certificates
        .value
        .into_iter()
        .map(|files| CertificateFiles {
            cert: base.join(files.cert),
            key: base.join(files.key),
        })
        .collect();
    let apps = raw
        .apps
        .into_iter()
        .map(|app| build_app(app, base, &timeouts, default_body))
        .collect();
    Config {
        source: source.to_owned(),
        listen: Listen {
            https: raw.listen.https,
            http: raw.listen.http,
        },
        certificates,
        trusted_proxies: raw.trusted_proxies,
        limits: Limits {
            max_header_bytes: size(raw.limits.max_header_bytes, 16 * 1024),
            max_uri_bytes: size(raw.limits.max_uri_bytes, 8 * 1024),
        },
        timeouts,
        upstream_fail_timeout: duration(raw.upstream_health.fail_timeout, 10),
        log: LogSettings {
            format: raw.log.format.unwrap_or(LogFormat::Auto),
            level: raw.log.level.unwrap_or_else(|| "info".into()),
        },
        watch_interval: duration(raw.watch_interval, 2),
        store: store_url(raw.store, base),
        portal: raw.portal.map(|portal| Portal {
            url: portal.url,
            title: portal.title.unwrap_or_else(|| "Sign in".into()),
            logo: portal.logo,
        }),
        session: SessionSettings {
            idle_timeout: duration(raw.session.idle_timeout, 30 * 60),
            lifetime: duration(raw.session.lifetime, 12 * 3600),
            remember_me: duration(raw.session.remember_me, 30 * 24 * 3600),
            domain: raw.session.domain.map(|domain| domain.value.to_string()),
            cache_staleness: raw
                .session
                .cache_staleness
                .map_or(Duration::from_millis(500), |value| value.0),
        },
        users_file: raw.users_file.map(|path| base.join(path)),
        assertion: assertion_settings(raw.assertion),
        policy,
        warnings,
        apps,
    }
}

/// The store URL with a relative SQLite path made relative to the config file.
fn store_url(raw: Option<String>, base: &Path) -> String {
    let url = raw.unwrap_or_else(|| "sqlite://data/portcullis.db".into());
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') && base != Path::new(".") => {
            format!("sqlite://{}", base.join(path).display())
        }
        _ => url,
    }
}

fn assertion_settings(raw: raw::RawAssertion) -> AssertionSettings {
    let defaults = AssertionSettings::default();
    AssertionSettings {
        header: raw.header.map_or(defaults.header, |name| name.value.0),
        lifetime: raw
            .lifetime
            .map_or(defaults.lifetime, |value| value.value.0),
        rotate_every: raw
            .rotate_every
            .map_or(defaults.rotate_every, |value| value.value.0),
    }
}

fn build_app(app: RawApp, base: &Path, timeouts: &Timeouts, default_body: u64) -> App {
    App {
        name: app.name.value,
        host: app.host.value,
        path_prefix: app
            .path_prefix
            .map_or_else(|| "/".into(), |prefix| prefix.0),
        upstreams: app.upstream.value,
        upstream_tls: UpstreamTls {
            ca: app.upstream_tls.ca.map(|ca| base.join(ca)),
            dangerous_skip_verify: app.upstream_tls.dangerous_skip_verify,
        },
        host_rewrite: app.host_rewrite.map(|value| value.0),
        request_headers: header_edits(app.request_headers),
        response_headers: header_edits(app.response_headers),
        websocket: app.websocket,
        max_body_bytes: app.max_body.map_or(default_body, |size| size.0),
        case_insensitive_paths: app.case_insensitive_paths,
        allow_encoded_slash: app.allow_encoded_slash,
        identity_headers: identity_headers(app.identity_headers),
        basic_auth_password: app.basic_auth.map(|basic| basic.password),
        connect_timeout: app
            .timeouts
            .connect
            .map_or(timeouts.connect, |value| value.0),
        response_timeout: app
            .timeouts
            .response
            .map_or(timeouts.response, |value| value.0),
    }
}

fn identity_headers(raw: raw::RawIdentityHeaders) -> IdentityHeaders {
    let name = |value: Option<value::HeaderName>, default: &'static str| {
        value.map_or_else(|| http::HeaderName::from_static(default), |name| name.0)
    };
    IdentityHeaders {
        user: name(raw.user, "remote-user"),
        name: name(raw.name, "remote-name"),
        email: name(raw.email, "remote-email"),
        groups: name(raw.groups, "remote-groups"),
        roles: name(raw.roles, "remote-roles"),
    }
}

fn header_edits(raw: RawHeaderEdits) -> HeaderEdits {
    HeaderEdits {
        remove: raw.remove.into_iter().map(|name| name.0).collect(),
        add: raw
            .add
            .into_iter()
            .map(|header| (header.name.0, header.value.0))
            .collect(),
    }
}

fn duration(value: Option<value::HumanDuration>, default_seconds: u64) -> Duration {
    value.map_or(Duration::from_secs(default_seconds), |value| value.0)
}

fn size(value: Option<value::ByteCount>, default: usize) -> usize {
    value.map_or(default, |value| {
        usize::try_from(value.0).unwrap_or(usize::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "\
listen: { https: \"127.0.0.1:0\" }
tls:
  certificates: [{ cert: a.crt, key: a.key }]
apps:
  - name: wiki
    host: wiki.example.test
    upstream: [\"http://127.0.0.1:9000\"]
";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.yaml", Path::new("/etc/portcullis"))
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.apps[0].path_prefix, "/");
        assert_eq!(config.apps[0].max_body_bytes, DEFAULT_MAX_BODY);
        assert_eq!(config.timeouts.connect, Duration::from_secs(5));
        assert_eq!(
            config.certificates[0].cert,
            Path::new("/etc/portcullis/a.crt")
        );
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn portal_session_and_store_settings_are_checked() {
        let text = format!(
            "{MINIMAL}portal: {{ url: \"https://Auth.Example.Test:8443\" }}\n\
             session: {{ domain: example.test, idle_timeout: 5m }}\nstore: \"sqlite://db/p.db\"\n"
        );
        let config = parse(&text).unwrap();
        let portal = config.portal.unwrap();
        assert_eq!(portal.url.origin(), "https://auth.example.test:8443");
        assert_eq!(config.session.domain.as_deref(), Some("example.test"));
        assert_eq!(config.session.idle_timeout, Duration::from_secs(300));
        assert_eq!(config.store, "sqlite:///etc/portcullis/db/p.db");

        let text = format!("{MINIMAL}portal: {{ url: \"http://auth.example.test\" }}\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("test.yaml:8:"), "{error}");
        assert!(error.contains("only served over https"), "{error}");
        let text = format!(
            "{MINIMAL}portal: {{ url: \"https://auth.other.test\" }}\nsession: {{ domain: example.test }}\n"
        );
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("not under the session domain"), "{error}");
        let text = format!("{MINIMAL}portal: {{ url: \"https://wiki.example.test\" }}\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("is the portal's"), "{error}");
    }

    #[test]
    fn assertion_settings_have_defaults_and_limits() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.assertion.header, "x-portcullis-assertion");
        assert_eq!(config.assertion.lifetime, Duration::from_secs(60));
        assert_eq!(
            config.assertion.rotate_every,
            Duration::from_secs(24 * 3600)
        );

        let text = format!(
            "{MINIMAL}assertion: {{ header: X-Identity, lifetime: 5m, rotate_every: 1h }}\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.assertion.header, "x-identity");
        assert_eq!(config.assertion.lifetime, Duration::from_secs(300));
        assert_eq!(config.assertion.rotate_every, Duration::from_secs(3600));

        let text = format!("{MINIMAL}assertion: {{ lifetime: 6m }}\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("test.yaml:8:24: "), "{error}");
        assert!(error.contains("at most 5m"), "{error}");
        let text = format!("{MINIMAL}assertion: {{ header: Cookie, rotate_every: 10s }}\n");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(error.problems[0].contains("at least 1m"), "{error}");
        assert!(
            error.problems[1].contains("`cookie` has another meaning"),
            "{error}"
        );
    }

    #[test]
    fn setups_that_cannot_work_as_meant_are_warned_about() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(config.warnings[0].starts_with("test.yaml:5:11: warning: app `wiki` has no rules"));
        let text = format!("{MINIMAL}    rules: [{{ auth: one_factor }}]\n");
        let config = parse(&text).unwrap();
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(
            config.warnings[0].contains("no `portal` is configured"),
            "{:?}",
            config.warnings
        );
        let text = format!("{MINIMAL}    rules: [{{ auth: public }}]\n");
        assert!(parse(&text).unwrap().warnings.is_empty());
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_column() {
        let text = MINIMAL.replace("    host: wiki", "    hots: x\n    host: wiki");
        let error = parse(&text).unwrap_err().to_string();
        assert!(
            error.starts_with("test.yaml:6:5: unknown field `hots`"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_name_what_was_expected() {
        let text = MINIMAL.replace("http://127.0.0.1:9000", "ftp://x");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("test.yaml:7:"), "{error}");
        assert!(error.contains("only http and https"), "{error}");
        let text = format!("{MINIMAL}timeouts: {{ connect: soon }}\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.starts_with("test.yaml:8:"), "{error}");
        assert!(error.contains("expected a duration"), "{error}");
    }

    #[test]
    fn duplicate_apps_and_disagreeing_host_options_are_errors() {
        let text = format!(
            "{MINIMAL}  - name: wiki\n    host: wiki.example.test\n    upstream: [\"http://a\"]\n    \
             case_insensitive_paths: true\n"
        );
        let error = parse(&text).unwrap_err();
        assert_eq!(error.problems.len(), 3, "{error}");
        assert!(error.problems[0].starts_with("test.yaml:8:"), "{error}");
        assert!(error.problems[0].contains("already used"), "{error}");
        assert!(
            error.problems[1].contains("already served by app `wiki`"),
            "{error}"
        );
        assert!(error.problems[2].contains("must agree"), "{error}");
    }
}
