//! What crosses the gateway in headers, both ways.
//!
//! Owns the header rules of the forwarding path: hop-by-hop headers are removed, with every
//! header the client's `Connection` names (RFC 9110 section 7.6.1); headers that carry
//! identity or routing claims are removed in every spelling (case, `_` or `.` for `-`) before
//! the gateway adds its own; `X-Forwarded-*` and `Forwarded` are rebuilt by the gateway and
//! believe the client's values only from configured trusted proxies (DESIGN invariants 3, 4).

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

use crate::config::HeaderEdits;

/// Headers that describe one connection, never forwarded (RFC 9110 7.6.1, RFC 9112 9.6).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers that claim where a request came from, which URL or host it was for, or which
/// method it "really" is. The gateway sets the forwarding ones itself; the others are never
/// passed on, so an upstream cannot be told something other than what the policy decided
/// (CASES K10). A `_method` query or form parameter cannot be stripped this way; apps that
/// honour one should not rely on method rules (see the README).
const CLAIM_HEADERS: [&str; 19] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-original-url",
    "x-original-host",
    "x-rewrite-url",
    "x-host",
    "x-real-ip",
    "x-request-id",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// What the gateway knows about a request that it tells the upstream.
#[derive(Debug)]
pub struct ForwardContext<'a> {
    /// The client address the gateway believes.
    pub client_ip: IpAddr,
    /// The address of the peer on the TCP connection.
    pub peer_ip: IpAddr,
    /// Whether the peer is a trusted proxy, so its X-Forwarded-For chain is kept.
    pub peer_trusted: bool,
    /// The value for the upstream's Host header.
    pub host: &'a HeaderValue,
    /// The canonical host with the client's port, for X-Forwarded-Host and Forwarded.
    pub public_host: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// Header names (lower case, `-` separated) that only the gateway may set.
    pub protected: &'a [String],
    /// Whether this request is a WebSocket upgrade the app accepts.
    pub websocket: bool,
    /// The app's request header edits.
    pub edits: &'a HeaderEdits,
}

/// Folds a header name to the form used to compare spellings: lower case, `_` and `.` as
/// `-`. Servers that map headers to variables (CGI, PHP, Django, Rails) read all of
/// `Remote-User`, `remote_user` and `Remote.User` as the same name.
pub fn fold_name(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'_' | b'.' => '-',
            other => char::from(other.to_ascii_lowercase()),
        })
        .collect()
}

/// The headers for the upstream request, built from the client's.
pub fn upstream_request_headers(client: &HeaderMap, context: &ForwardContext<'_>) -> HeaderMap {
    let named = connection_named(client);
    let mut headers = HeaderMap::with_capacity(client.len() + 8);
    for (name, value) in client {
        if is_hop_by_hop(name) || named.iter().any(|named| named == name.as_str()) {
            continue;
        }
        let folded = fold_name(name.as_str());
        let claim = CLAIM_HEADERS.contains(&folded.as_str());
        if claim || context.protected.contains(&folded) || name == header::HOST {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers.insert(header::HOST, context.host.clone());
    add_forwarding(&mut headers, client, context);
    if context.websocket {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    apply_edits(&mut headers, context.edits);
    crate::session::cookie::strip_gateway_cookies(&mut headers);
    headers
}

/// Removes hop-by-hop headers from an upstream response and applies the app's edits.
pub fn client_response_headers(headers: &mut HeaderMap, edits: &HeaderEdits, upgrade: bool) {
    // A 101 answer keeps the two headers that complete the upgrade (RFC 9110 7.8).
    let keep = |name: &str| upgrade && (name == "connection" || name == "upgrade");
    for name in connection_named(headers) {
        if !keep(&name) {
            headers.remove(name.as_str());
        }
    }
    for name in HOP_BY_HOP {
        if !keep(name) {
            headers.remove(name);
        }
    }
    apply_edits(headers, edits);
}

/// Finds the client address: the peer itself, or, when the peer is a trusted proxy, the
/// rightmost X-Forwarded-For entry that is not itself a trusted proxy. A malformed entry
/// ends the walk at the last address known good, so garbage never wins.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let values = headers
        .get_all("x-forwarded-for")
        .iter()
        .collect::<Vec<_>>();
    for value in values.iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for entry in text.rsplit(',') {
            let Ok(address) = entry.trim().parse::<IpAddr>() else {
                return client;
            };
            client = address.to_canonical();
            if !is_trusted(client, trusted) {
                return client;
            }
        }
    }
    client
}

/// Whether `address` lies in one of the trusted proxy networks.
pub fn is_trusted(address: IpAddr, trusted: &[IpNet]) -> bool {
    let address = address.to_canonical();
    trusted.iter().any(|network| network.contains(&address))
}

fn add_forwarding(headers: &mut HeaderMap, client: &HeaderMap, context: &ForwardContext<'_>) {
    let peer = context.peer_ip.to_canonical();
    let chain = if context.peer_trusted {
        let earlier: Vec<&str> = client
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        if earlier.is_empty() {
            peer.to_string()
        } else {
            format!("{}, {peer}", earlier.join(", "))
        }
    } else {
        peer.to_string()
    };
    let for_value = match context.client_ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let forwarded = format!(
        "for={for_value};host=\"{}\";proto=https",
        context.public_host
    );
    let pairs = [
        ("x-forwarded-for", chain),
        ("x-forwarded-proto", "https".to_owned()),
        ("x-forwarded-host", context.public_host.to_owned()),
        ("forwarded", forwarded),
        ("x-request-id", context.request_id.to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

fn apply_edits(headers: &mut HeaderMap, edits: &HeaderEdits) {
    for name in &edits.remove {
        headers.remove(name);
    }
    for (name, value) in &edits.add {
        headers.insert(name.clone(), value.clone());
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The header names listed in `Connection`, lower case.
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn context<'a>(
        host: &'a HeaderValue,
        protected: &'a [String],
        edits: &'a HeaderEdits,
    ) -> ForwardContext<'a> {
        ForwardContext {
            client_ip: "127.0.0.1".parse().unwrap(),
            peer_ip: "127.0.0.1".parse().unwrap(),
            peer_trusted: false,
            host,
            public_host: "app.example.test",
            request_id: "rid",
            protected,
            websocket: false,
            edits,
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let client = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("accept", "*/*"),
        ]);
        let host = HeaderValue::from_static("app.example.test");
        let edits = HeaderEdits::default();
        let out = upstream_request_headers(&client, &context(&host, &[], &edits));
        assert!(out.get("x-secret").is_none());
        assert!(out.get("te").is_none());
        assert!(out.get("upgrade").is_none());
        assert!(out.get("connection").is_none());
        assert_eq!(out.get("accept").unwrap(), "*/*");
        assert_eq!(out.get("host").unwrap(), "app.example.test");
    }

    #[test]
    fn protected_and_claim_headers_are_dropped_in_every_spelling() {
        let client = headers(&[
            ("remote-user", "root"),
            ("Remote_User", "root"),
            ("remote.user", "root"),
            ("x-original-url", "/admin"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("x_original_host", "evil.example"),
            ("x_forwarded_for", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2"),
        ]);
        let host = HeaderValue::from_static("app.example.test");
        let protected = vec!["remote-user".to_owned()];
        let edits = HeaderEdits::default();
        let out = upstream_request_headers(&client, &context(&host, &protected, &edits));
        let names: Vec<&str> = out.keys().map(|name| name.as_str()).collect();
        assert!(
            !names.iter().any(|name| fold_name(name) == "remote-user"),
            "{names:?}"
        );
        assert!(out.get("x-original-url").is_none());
        assert!(out.get("x-http-method-override").is_none());
        assert!(
            out.keys()
                .all(|name| fold_name(name.as_str()) != "x-original-host")
        );
        assert_eq!(out.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(out.get("x-forwarded-for").unwrap(), "127.0.0.1");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.9.0.0/16".parse().unwrap()];
        let spoof = headers(&[("x-forwarded-for", "10.1.2.3")]);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_ip(local, &spoof, &[]), local);
        let proxy: IpAddr = "10.9.0.1".parse().unwrap();
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, ::ffff:10.1.2.3, 10.9.0.7")]);
        assert_eq!(
            client_ip(proxy, &chain, &trusted),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        for garbage in ["a", "999.1.1.1", "", "10.1.2.3, a"] {
            let value = headers(&[("x-forwarded-for", garbage)]);
            let ip = client_ip(proxy, &value, &trusted);
            assert!(
                ip == proxy || ip == "10.1.2.3".parse::<IpAddr>().unwrap(),
                "{garbage}"
            );
            assert_ne!(ip.to_string(), "999.1.1.1");
        }
        let mapped: IpAddr = "::ffff:10.9.0.1".parse().unwrap();
        assert!(is_trusted(mapped, &trusted));
    }
}
