//! Where the gateway may send requests to URLs its tenants chose (webhook endpoints, a
//! channel's `gateway_url`): never to the networks on the deny-list (`--webhook-deny-networks`,
//! e.g. the cloud metadata service at 169.254.169.254 or the deployment's private ranges).
//!
//! The list is checked when a URL is registered (a clear 400) and again at every connection,
//! on every address a name resolves to and on literal addresses, including IPv6 forms that
//! carry an IPv4 address inside (mapped, compatible, NAT64, 6to4).

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The networks `private` stands for in `--webhook-deny-networks`: where a multi-tenant
/// deployment's own services live.
pub const PRIVATE_NETWORKS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "::ffff:0:0/96",
];

/// Parses a deny-list: CIDR networks or single addresses, and `private` for
/// [`PRIVATE_NETWORKS`].
pub fn parse_networks(items: &[String]) -> Result<Vec<IpNet>, String> {
    let mut networks = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if item == "private" {
            networks.extend(
                PRIVATE_NETWORKS
                    .iter()
                    .filter_map(|n| n.parse::<IpNet>().ok()),
            );
        } else if let Ok(network) = item.parse::<IpNet>() {
            networks.push(network);
        } else if let Ok(address) = item.parse::<IpAddr>() {
            networks.push(IpNet::from(address));
        } else {
            return Err(format!(
                "`{item}` is not a network (CIDR like 10.0.0.0/8), an address, or `private`"
            ));
        }
    }
    Ok(networks)
}

/// The IPv4 address an IPv6 address carries, in the forms that route to it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002:AABB:CCDD::/48`).
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        // IPv4-compatible; `::` and `::1` themselves are IPv6 addresses.
        [0, 0, 0, 0, 0, 0, _, _] if s[6] != 0 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, high, low16, ..] => Some(Ipv4Addr::new(
            (high >> 8) as u8,
            high as u8,
            (low16 >> 8) as u8,
            low16 as u8,
        )),
        _ => None,
    }
}

/// Whether `ip` (or the IPv4 address inside it) lies in a denied network.
pub fn denied(deny: &[IpNet], ip: IpAddr) -> bool {
    let inside = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    deny.iter()
        .any(|network| network.contains(&ip) || inside.is_some_and(|v4| network.contains(&v4)))
}

/// The literal address a URL's host is, if it is one.
pub fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

/// Refuses a URL a tenant registers (webhook `url`, channel `gateway_url`) that points into a
/// network the gateway does not call; `param` names the field. A URL that does not parse is
/// let through: the field's own check says what is wrong with it.
pub async fn refuse_denied(
    url: &str,
    param: &str,
    deny: &[IpNet],
) -> crate::error::GatewayResult<()> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(());
    };
    check_registered(&parsed, deny).await.map_err(|reason| {
        crate::error::GatewayError::invalid_param(
            param,
            format!("Parameter {param} is not allowed: {reason}."),
        )
    })
}

/// Checks a URL being registered: a literal address in a denied network, or a name that
/// resolves only to such addresses, is refused with the reason. A name that does not resolve
/// now is let through: every connection is checked again.
pub async fn check_registered(url: &reqwest::Url, deny: &[IpNet]) -> Result<(), String> {
    if deny.is_empty() {
        return Ok(());
    }
    if let Some(ip) = literal_address(url) {
        return match denied(deny, ip) {
            true => Err(format!(
                "address {ip} is in a network this gateway does not call"
            )),
            false => Ok(()),
        };
    }
    let Some(host) = url.host_str() else {
        return Ok(());
    };
    let Ok(found) = tokio::net::lookup_host((host, 0)).await else {
        return Ok(());
    };
    let found: Vec<SocketAddr> = found.collect();
    if !found.is_empty() && found.iter().all(|addr| denied(deny, addr.ip())) {
        return Err(format!(
            "{host} resolves only to networks this gateway does not call"
        ));
    }
    Ok(())
}

/// A client builder that resolves names through the deny-list. Literal addresses never reach
/// a resolver: check them with [`literal_address`] and [`denied`] before each request.
pub fn guarded(builder: reqwest::ClientBuilder, deny: Arc<Vec<IpNet>>) -> reqwest::ClientBuilder {
    builder.dns_resolver(GuardedResolver { deny })
}

/// Resolves names with the system resolver and drops denied addresses; a name with nothing
/// left fails to resolve.
struct GuardedResolver {
    deny: Arc<Vec<IpNet>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let deny = self.deny.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !denied(&deny, addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to denied networks").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn deny_list_covers_private_and_mapped_addresses() {
        let deny = parse_networks(&["private".into(), "203.0.113.7".into()]).expect("parse");
        assert!(denied(&deny, ip("127.0.0.1")));
        assert!(denied(&deny, ip("10.1.2.3")));
        assert!(denied(&deny, ip("::ffff:192.168.1.1")));
        assert!(denied(&deny, ip("203.0.113.7")));
        assert!(!denied(&deny, ip("203.0.113.8")));
        assert!(!denied(&deny, ip("8.8.8.8")));
        assert!(parse_networks(&["10.0.0.0/33".into()]).is_err());
        assert!(parse_networks(&[]).expect("empty").is_empty());
    }

    #[test]
    fn ipv6_forms_that_carry_a_denied_ipv4_are_denied() {
        let deny = parse_networks(&["169.254.0.0/16".into()]).expect("parse");
        for carried in [
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(denied(&deny, ip(carried)), "{carried}");
        }
        for other in [
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:db8::1",
        ] {
            assert!(!denied(&deny, ip(other)), "{other}");
        }
    }

    #[tokio::test]
    async fn registration_refuses_denied_literals_and_names() {
        let deny = parse_networks(&["private".into()]).expect("parse");
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(
            check_registered(&url("http://169.254.169.254/"), &deny)
                .await
                .is_err()
        );
        assert!(
            check_registered(&url("http://[64:ff9b::7f00:1]/"), &deny)
                .await
                .is_err()
        );
        assert!(
            check_registered(&url("http://localhost:9/"), &deny)
                .await
                .is_err()
        );
        assert!(
            check_registered(&url("http://203.0.113.9/"), &deny)
                .await
                .is_ok()
        );
        assert!(
            check_registered(&url("http://127.0.0.1/"), &[])
                .await
                .is_ok()
        );
    }
}
