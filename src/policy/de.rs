//! Serde helpers for the policy config: CIDR lists and humantime durations.
//!
//! Owns the text forms of networks (`10.0.0.0/8`, a bare address for one host) and of
//! durations (`30m`, `12h`). Guarantees that every network it returns is truncated to its
//! prefix and that IPv4-mapped IPv6 networks (`::ffff:10.0.0.0/104`) come back as IPv4, so
//! they compare with client addresses that were put in canonical form the same way.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Deserializer, de::Error as _};

/// Length of the `::ffff:0:0/96` prefix that embeds IPv4 addresses in IPv6.
const MAPPED_PREFIX_LEN: u8 = 96;

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address, in canonical form.
///
/// Returns `None` when the text is neither a network nor an address.
pub(crate) fn parse_network(text: &str) -> Option<IpNet> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    Some(canonical_network(net))
}

/// Truncates host bits and turns an IPv4-mapped IPv6 network into the IPv4 one.
fn canonical_network(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net.trunc() else {
        return net.trunc();
    };
    match v6.addr().to_ipv4_mapped() {
        Some(v4) if v6.prefix_len() >= MAPPED_PREFIX_LEN => {
            let prefix = v6.prefix_len() - MAPPED_PREFIX_LEN;
            Ipv4Net::new(v4, prefix).map_or(IpNet::V6(v6), IpNet::V4)
        }
        _ => IpNet::V6(v6),
    }
}

/// Deserializes the global `networks:` map (name -> list of CIDRs or addresses).
///
/// # Errors
/// Fails with the entry's text when it is not a network or an address.
pub fn networks<'de, D>(deserializer: D) -> Result<BTreeMap<String, Vec<IpNet>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = BTreeMap::<String, Vec<String>>::deserialize(deserializer)?;
    let mut out = BTreeMap::new();
    for (name, entries) in raw {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let net = parse_network(&entry).ok_or_else(|| {
                D::Error::custom(format!(
                    "network {name:?}: {entry:?} is not a CIDR or an address"
                ))
            })?;
            nets.push(net);
        }
        out.insert(name, nets);
    }
    Ok(out)
}

/// Deserializes an optional humantime duration such as `30m` or `12h`.
///
/// # Errors
/// Fails when the text is not a duration.
pub fn optional_duration<'de, D>(deserializer: D) -> Result<Option<Duration>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|error| D::Error::custom(format!("duration {text:?}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addresses_become_host_networks() {
        assert_eq!(parse_network("10.1.2.3"), "10.1.2.3/32".parse().ok());
        assert_eq!(parse_network("2001:db8::1"), "2001:db8::1/128".parse().ok());
    }

    #[test]
    fn host_bits_are_truncated() {
        assert_eq!(parse_network("10.1.2.3/8"), "10.0.0.0/8".parse().ok());
    }

    #[test]
    fn mapped_ipv6_networks_become_ipv4() {
        assert_eq!(
            parse_network("::ffff:10.0.0.0/104"),
            "10.0.0.0/8".parse().ok()
        );
        assert_eq!(parse_network("::ffff:10.1.2.3"), "10.1.2.3/32".parse().ok());
        assert_eq!(parse_network("::/0"), "::/0".parse().ok());
    }

    #[test]
    fn garbage_is_not_a_network() {
        for text in ["office", "999.1.1.1", "10.0.0.0/33", "", "10.0.0.0/"] {
            assert_eq!(parse_network(text), None, "{text}");
        }
    }
}
