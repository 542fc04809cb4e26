//! The YAML schema as written by people: every struct rejects unknown keys, every field has
//! the default that the README documents.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::policy::{DefaultAction, RoleConfig, RuleConfig};

use super::value::{
    ByteCount, HeaderName, HeaderValue, HostPattern, HumanDuration, PathPrefix, PortalUrl,
    UpstreamUrl,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) listen: RawListen,
    pub(super) tls: RawTls,
    #[serde(default)]
    pub(super) trusted_proxies: Vec<IpNet>,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) timeouts: RawTimeouts,
    #[serde(default)]
    pub(super) upstream_health: RawHealth,
    #[serde(default)]
    pub(super) log: RawLog,
    pub(super) watch_interval: Option<HumanDuration>,
    pub(super) store: Option<String>,
    pub(super) portal: Option<RawPortal>,
    #[serde(default)]
    pub(super) session: RawSession,
    pub(super) users_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) assertion: RawAssertion,
    #[serde(default, deserialize_with = "crate::policy::deserialize_networks")]
    pub(super) networks: BTreeMap<String, Vec<IpNet>>,
    #[serde(default)]
    pub(super) roles: BTreeMap<String, RoleConfig>,
    #[serde(default)]
    pub(super) default: DefaultAction,
    pub(super) apps: Vec<RawApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPortal {
    pub(super) url: PortalUrl,
    pub(super) title: Option<String>,
    pub(super) logo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    pub(super) idle_timeout: Option<HumanDuration>,
    pub(super) lifetime: Option<HumanDuration>,
    pub(super) remember_me: Option<HumanDuration>,
    pub(super) domain: Option<Spanned<HostPattern>>,
    pub(super) cache_staleness: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssertion {
    pub(super) header: Option<Spanned<HeaderName>>,
    pub(super) lifetime: Option<Spanned<HumanDuration>>,
    pub(super) rotate_every: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    pub(super) https: SocketAddr,
    pub(super) http: Option<SocketAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) certificates: Spanned<Vec<RawCertificate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertificate {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_header_bytes: Option<ByteCount>,
    pub(super) max_uri_bytes: Option<ByteCount>,
    pub(super) max_body: Option<ByteCount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub(super) connect: Option<HumanDuration>,
    pub(super) response: Option<HumanDuration>,
    pub(super) idle: Option<HumanDuration>,
    pub(super) header_read: Option<HumanDuration>,
    pub(super) tls_handshake: Option<HumanDuration>,
    pub(super) shutdown_grace: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub(super) fail_timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: Option<super::LogFormat>,
    pub(super) level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub(super) name: Spanned<String>,
    pub(super) host: Spanned<HostPattern>,
    pub(super) path_prefix: Option<PathPrefix>,
    pub(super) upstream: Spanned<Vec<UpstreamUrl>>,
    #[serde(default)]
    pub(super) upstream_tls: RawUpstreamTls,
    pub(super) host_rewrite: Option<HeaderValue>,
    #[serde(default)]
    pub(super) request_headers: RawHeaderEdits,
    #[serde(default)]
    pub(super) response_headers: RawHeaderEdits,
    #[serde(default)]
    pub(super) websocket: bool,
    pub(super) max_body: Option<ByteCount>,
    #[serde(default)]
    pub(super) case_insensitive_paths: bool,
    #[serde(default)]
    pub(super) allow_encoded_slash: bool,
    #[serde(default)]
    pub(super) timeouts: RawAppTimeouts,
    #[serde(default)]
    pub(super) identity_headers: RawIdentityHeaders,
    pub(super) basic_auth: Option<RawBasicAuth>,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<RuleConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentityHeaders {
    pub(super) user: Option<HeaderName>,
    pub(super) name: Option<HeaderName>,
    pub(super) email: Option<HeaderName>,
    pub(super) groups: Option<HeaderName>,
    pub(super) roles: Option<HeaderName>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBasicAuth {
    pub(super) password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstreamTls {
    pub(super) ca: Option<PathBuf>,
    #[serde(default)]
    pub(super) dangerous_skip_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderEdits {
    #[serde(default)]
    pub(super) add: Vec<RawHeader>,
    #[serde(default)]
    pub(super) remove: Vec<HeaderName>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub(super) name: HeaderName,
    pub(super) value: HeaderValue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppTimeouts {
    pub(super) connect: Option<HumanDuration>,
    pub(super) response: Option<HumanDuration>,
}
