//! Network prefixes: how clients are grouped for rate limits without keeping
//! their addresses. IPv4 by /24, IPv6 by /64 (one household or one
//! provider's customer, typically).

use std::net::IpAddr;

pub fn network_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_prefix(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_group_neighbours() {
        let p = |s: &str| network_prefix(s.parse().unwrap());
        assert_eq!(p("203.0.113.7"), "203.0.113.0/24");
        assert_eq!(p("203.0.113.250"), p("203.0.113.7"));
        assert_ne!(p("203.0.114.7"), p("203.0.113.7"));
        assert_eq!(p("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(p("2001:db8:1:2:ffff::9"), p("2001:db8:1:2:aaaa::1"));
        assert_eq!(p("::ffff:203.0.113.7"), "203.0.113.0/24");
    }
}
