//! Which URLs webhooks may call. Only `http` and `https`, and by default
//! never a private, loopback, link-local or otherwise internal address:
//! an admin's URL must not become a way into the platform's own network
//! (SSRF). The rule is checked when a subscription is saved and again at
//! delivery time on the addresses DNS gives then (a name that resolved to a
//! public address yesterday may resolve to 127.0.0.1 today), by the HTTP
//! client's own resolver, so the address checked is the address called.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::AppError;

/// Longest URL accepted.
const MAX_URL: usize = 2048;

/// Whether `ip` is internal: loopback, private, link-local, unspecified,
/// shared (CGNAT), multicast, broadcast or reserved, in IPv4 or IPv6
/// (including IPv4-mapped IPv6).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (often a proxy)
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let first = segments[0];
    // Forms that carry an IPv4 address: IPv4-compatible (::a.b.c.d) and
    // 6to4 (2002:aabb:ccdd::) are judged by that address.
    if segments[..6].iter().all(|s| *s == 0) {
        let [.., a, b, c, d] = ip.octets();
        let v4 = Ipv4Addr::new(a, b, c, d);
        if !v4.is_unspecified() && internal_v4(v4) {
            return true;
        }
    }
    if first == 0x2002 {
        let v4 =
            Ipv4Addr::new((segments[1] >> 8) as u8, segments[1] as u8, (segments[2] >> 8) as u8, segments[2] as u8);
        return internal_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside)
        || (first == 0x0100 && segments[1..4].iter().all(|s| *s == 0)) // discard-only
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 (reaches IPv4)
}

/// Checks a subscription's URL: well-formed, `http` or `https`, no
/// credentials in it, and (unless `allow_internal`) a host that resolves
/// only to public addresses. Refusals are `BAD_USER_INPUT` on `field`.
pub async fn check_url(field: &str, url: &str, allow_internal: bool) -> Result<Url, AppError> {
    let bad = |why: String| AppError::validation(field, why);
    if url.len() > MAX_URL {
        return Err(bad(format!("A webhook URL has at most {MAX_URL} characters")));
    }
    let parsed = Url::parse(url.trim()).map_err(|e| bad(format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!("A webhook URL is http:// or https://, not {}://", parsed.scheme())));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("A webhook URL carries no credentials: receivers check the signature instead".into()));
    }
    let Some(host) = parsed.host_str() else { return Err(bad("A webhook URL names a host".into())) };
    if allow_internal {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = resolve_public(host, port).await.map_err(|e| bad(e.to_string()))?;
    if addrs.is_empty() {
        return Err(bad(format!("`{host}` does not resolve to any address")));
    }
    Ok(parsed)
}

/// Why a target was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The name resolved (or is) to an internal address.
    #[error("`{host}` resolves to {ip}, an internal address: webhooks only call public addresses")]
    Internal {
        /// The host.
        host: String,
        /// The internal address.
        ip: IpAddr,
    },
    /// DNS failed.
    #[error("cannot resolve `{host}`: {why}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's words.
        why: String,
    },
}

/// The addresses of `host`, refused if any of them is internal (a name
/// that mixes public and internal addresses is refused whole).
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| TargetError::Dns { host: host.to_owned(), why: e.to_string() })?
            .collect(),
    };
    if let Some(internal) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(TargetError::Internal { host: host.to_owned(), ip: internal.ip() });
    }
    Ok(addrs)
}

/// The HTTP client's resolver when internal targets are refused: it answers
/// only with public addresses, so the check and the connection see the
/// same DNS answer.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver to give the HTTP client, if any.
pub fn resolver(allow_internal: bool) -> Option<Arc<PublicOnly>> {
    (!allow_internal).then_some(Arc::new(PublicOnly))
}

/// Refuses a URL whose host is an internal IP literal: the client's
/// resolver is not asked about literals.
pub fn check_literal(url: &Url, allow_internal: bool) -> Result<(), TargetError> {
    if allow_internal {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if is_internal(ip) {
        return Err(TargetError::Internal { host: url.host_str().unwrap_or_default().to_owned(), ip });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "198.18.0.1",
            "::7f00:1",
            "2002:7f00:1::",
            "fec0::1",
            "100::1",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in
            ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]
        {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_are_http_and_public_unless_allowed() {
        let refused = |url: &'static str| async move { check_url("url", url, false).await.expect_err(url) };
        assert!(refused("ftp://example.com/x").await.to_string().contains("http:// or https://"));
        assert!(refused("not a url").await.to_string().contains("is not a URL"));
        assert!(refused("http://user:pw@example.com/").await.to_string().contains("no credentials"));
        assert!(refused("http://127.0.0.1:9/hook").await.to_string().contains("internal address"));
        assert!(refused("http://[::1]/hook").await.to_string().contains("internal address"));
        assert!(refused("http://localhost/hook").await.to_string().contains("internal address"));
        assert!(refused("http://169.254.169.254/latest/meta-data").await.to_string().contains("internal"));
        assert!(check_url("url", "http://127.0.0.1:9/hook", true).await.is_ok());
        let literal = Url::parse("http://10.0.0.1/x").expect("url");
        assert!(check_literal(&literal, false).is_err());
        assert!(check_literal(&literal, true).is_ok());
    }
}
