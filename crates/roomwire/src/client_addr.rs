//! Who is on the other end of a connection: the client's IP address, taken from the TCP peer,
//! or from `X-Forwarded-For` when (and only when) the peer is a proxy this server trusts.
//!
//! Rules that act on an address (a kick that bans an address, a refusal remembered for an
//! address) must not be fooled by a header any client can write, so the header is read only
//! from the proxies listed in `http.trusted_proxies`.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// One trusted network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or CIDR network"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0..={max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address reached over an IPv6 socket (`::ffff:1.2.3.4`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` header is believed (`http.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

impl TrustedProxies {
    /// Parses addresses and CIDR networks (`10.0.0.0/8`, `::1`, `192.168.1.5`).
    pub fn parse(list: &[String]) -> Result<TrustedProxies, String> {
        let networks = list
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(Network::parse)
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// The client's address. From a trusted proxy, the `X-Forwarded-For` chain is read from
    /// the right (the hop nearest to us) and the first address that is not itself a trusted
    /// proxy is the client; everything left of it could have been written by the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        hops.iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("198.51.100.9"), &headers(&["203.0.113.7"])),
            ip("198.51.100.9")
        );
        let some = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        assert_eq!(
            some.client_ip(ip("198.51.100.9"), &headers(&["203.0.113.7"])),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_nearest_untrusted_hop_wins() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        // The client forged the leftmost entry; the proxy appended the real address.
        let h = headers(&["1.1.1.1, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        assert_eq!(t.client_ip(ip("::1"), &h), ip("203.0.113.7"));
        // Only proxies in the chain: the leftmost is the best we know.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &headers(&["10.9.9.9, 10.1.1.1"])),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Garbage hops are skipped.
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &headers(&["203.0.113.7, junk"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        let t = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.1"), &headers(&["203.0.113.7"])),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        for bad in ["10.0.0.0/33", "nope", "::1/129", "1.2.3.4/x"] {
            let e = TrustedProxies::parse(&[bad.into()]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(TrustedProxies::parse(&["0.0.0.0/0".into()])
            .unwrap()
            .trusts(ip("8.8.8.8")));
    }
}
