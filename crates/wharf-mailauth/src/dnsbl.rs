//! DNS blocklists (RFC 5782): the query name for an address and the reading of answers.
//!
//! The look-up itself is [`crate::Verifier::dnsbl`]; this module is the pure part.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// The name to look up to ask `zone` about `ip` (RFC 5782 §2.1 for IPv4: the octets
/// reversed; §2.4 for IPv6: the 32 nibbles reversed), without a trailing dot. `None` when
/// the zone is not a domain name.
pub fn query_name(ip: IpAddr, zone: &str) -> Option<String> {
    let zone = zone.trim_end_matches('.');
    if !crate::is_domain_name(zone) {
        return None;
    }
    let mut name = String::with_capacity(80 + zone.len());
    match ip {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                let _ = write!(name, "{octet}.");
            }
        }
        IpAddr::V6(v6) => {
            // An IPv4-mapped address is the IPv4 client it stands for.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return query_name(IpAddr::V4(v4), zone);
            }
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
        }
    }
    name.push_str(zone);
    Some(name)
}

/// Whether an A record returned for a DNSBL query means "listed". RFC 5782 §2.1: entries
/// are in 127.0.0.0/8 (127.0.0.2 being the usual code). Anything else is a sign that the
/// zone is broken or wildcarded (e.g. a typo'd zone under a registrar that answers every
/// name), and 127.255.255.0/24 is what Spamhaus answers when it refuses the query (public
/// resolver, over quota): neither may block mail.
pub fn is_listing(answer: Ipv4Addr) -> bool {
    let [a, b, c, _] = answer.octets();
    a == 127 && !(b == 255 && c == 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_query_name() {
        assert_eq!(
            query_name("192.0.2.99".parse().unwrap(), "dnsbl.example.").as_deref(),
            Some("99.2.0.192.dnsbl.example")
        );
        assert_eq!(
            query_name("::ffff:192.0.2.1".parse().unwrap(), "bl.example").as_deref(),
            Some("1.2.0.192.bl.example")
        );
    }

    #[test]
    fn ipv6_query_name_rfc5782_example() {
        // RFC 5782 §2.4's example address.
        assert_eq!(
            query_name(
                "2001:db8:1:2:3:4:567:89ab".parse().unwrap(),
                "ugly.example.com"
            )
            .as_deref(),
            Some(
                "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
            )
        );
    }

    #[test]
    fn bad_zones_give_no_query() {
        assert_eq!(query_name("192.0.2.1".parse().unwrap(), "a b"), None);
        assert_eq!(query_name("192.0.2.1".parse().unwrap(), ""), None);
    }

    #[test]
    fn listing_codes() {
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(is_listing(Ipv4Addr::new(127, 0, 0, 10)));
        assert!(!is_listing(Ipv4Addr::new(127, 255, 255, 254)));
        assert!(!is_listing(Ipv4Addr::new(192, 0, 2, 1)));
    }
}
