//! The client's address: the TCP peer, or, when the peer is a trusted reverse proxy, the
//! address that proxy recorded in `X-Forwarded-For`.
//!
//! Only addresses a trusted proxy appended are believed. The header is read from the right
//! (the hop nearest to us) leftwards, skipping trusted proxies; the first address that is not
//! one is the client. Anything a client wrote into the header itself sits further left and
//! is never reached, unless every hop to its right is a trusted proxy.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Hops read from the right of `X-Forwarded-For` at most; a longer chain is not believed
/// beyond this.
const MAX_HOPS: usize = 16;

/// Networks whose `X-Forwarded-For` is believed (`--trusted-proxies`). Empty: the header is
/// ignored and the client is always the TCP peer.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given every `X-Forwarded-For` header value in order.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let values: Vec<&str> = forwarded_for.into_iter().collect();
        let hops = values.iter().rev().flat_map(|v| v.rsplit(','));
        let mut client = peer;
        for hop in hops.take(MAX_HOPS) {
            // A hop that is not an address: the chain cannot be followed past it, so the last
            // trusted proxy stands for the client.
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// Parses a CLI value: a network (`10.0.0.0/8`, `fd00::/8`) or a single address.
pub fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an IP address or network (e.g. 10.0.0.0/8)"))
}

/// One `X-Forwarded-For` entry: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]`, or any of
/// them with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| parse_network(s).unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("127.0.0.1"), ["203.0.113.7"]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_address(ip("198.51.100.1"), ["203.0.113.7"]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // The client forged the leftmost entry; the proxies appended the rest.
        let chain = "1.1.1.1, 203.0.113.7, 10.1.2.3";
        assert_eq!(
            p.client_address(ip("127.0.0.1"), [chain]),
            ip("203.0.113.7")
        );
        // The same chain split over several headers, in order.
        assert_eq!(
            p.client_address(ip("127.0.0.1"), ["1.1.1.1", "203.0.113.7,10.1.2.3"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn odd_hops_are_handled_conservatively() {
        let p = proxies(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        // No header, or an empty one: the proxy itself.
        assert_eq!(p.client_address(peer, []), peer);
        assert_eq!(p.client_address(peer, [""]), peer);
        // Garbage at the right: not followed.
        assert_eq!(p.client_address(peer, ["203.0.113.7, unknown"]), peer);
        // Garbage further left is never reached.
        assert_eq!(
            p.client_address(peer, ["<script>, 203.0.113.7"]),
            ip("203.0.113.7")
        );
        // Ports, brackets and IPv6.
        assert_eq!(
            p.client_address(peer, ["203.0.113.7:4711"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            p.client_address(peer, ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(p.client_address(peer, ["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(p.client_address(peer, [" 2001:db8::1 "]), ip("2001:db8::1"));
        // Every hop trusted: the leftmost one is as far as the chain goes.
        assert_eq!(p.client_address(peer, ["127.0.0.1, 127.0.0.1"]), peer);
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_count_as_ipv4() {
        let p = proxies(&["127.0.0.1"]);
        assert_eq!(
            p.client_address(ip("::ffff:127.0.0.1"), ["::ffff:203.0.113.7"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_long_chain_of_trusted_hops_is_followed_only_so_far() {
        let p = proxies(&["10.0.0.0/8"]);
        let mut chain = vec!["203.0.113.7".to_string()];
        chain.extend((0..MAX_HOPS).map(|i| format!("10.0.0.{i}")));
        let header = chain.join(",");
        // The client is one hop beyond the limit: the last trusted hop read stands for it.
        assert_eq!(
            p.client_address(ip("10.9.9.9"), [header.as_str()]),
            ip("10.0.0.0")
        );
    }

    #[test]
    fn networks_and_single_addresses_parse() {
        assert!(parse_network("10.0.0.0/8").is_ok());
        assert!(parse_network("127.0.0.1").is_ok());
        assert!(parse_network("fd00::/8").is_ok());
        assert!(parse_network(" ::1 ").is_ok());
        let err = parse_network("localhost").unwrap_err();
        assert!(err.contains("'localhost'"), "{err}");
    }
}
